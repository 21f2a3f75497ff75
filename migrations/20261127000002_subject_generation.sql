-- A subject's generation changes whenever one of its versions is added, changed or removed, by any
-- statement on any replica (TRUNCATE included). A registration reads it under the subject's lock, so
-- a replica that remembers the live versions it read at some generation can reuse them instead of
-- reading every version again. Values come from one sequence, so a subject deleted and created again
-- never repeats a generation. Loads that bypass triggers (pg_restore --disable-triggers,
-- session_replication_role = replica) and restores of the database need the replicas restarted, as
-- their other caches do.
CREATE SEQUENCE subject_generations;
ALTER TABLE subjects ADD COLUMN generation bigint NOT NULL DEFAULT nextval('subject_generations');

CREATE FUNCTION bump_subject_generation() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP <> 'INSERT' THEN
        UPDATE subjects SET generation = nextval('subject_generations') WHERE name = OLD.subject;
    END IF;
    IF TG_OP <> 'DELETE' THEN
        UPDATE subjects SET generation = nextval('subject_generations') WHERE name = NEW.subject;
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER subject_versions_generation AFTER INSERT OR UPDATE OR DELETE ON subject_versions
    FOR EACH ROW EXECUTE FUNCTION bump_subject_generation();

CREATE FUNCTION bump_all_subject_generations() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE subjects SET generation = nextval('subject_generations');
    RETURN NULL;
END
$$;

CREATE TRIGGER subject_versions_truncated AFTER TRUNCATE ON subject_versions
    FOR EACH STATEMENT EXECUTE FUNCTION bump_all_subject_generations();
