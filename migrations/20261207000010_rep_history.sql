-- The REP history (docs/RELIABILITY.md, "REP history"): what the monitor's sweeps saw of each type and
-- hour, so that an hour a backfill repaired still shows that it dropped. A row is one state of an
-- hour: inserted when a sweep sees the hour's missing or pending count differ from the latest row's;
-- when only the total changed (events still arriving in the current hour), the latest row's total and
-- updated_at are updated in place. Sweeps of an unchanged hour write nothing, so the table grows with
-- the number of changes, not of sweeps. The sweep deletes the rows of hours older than
-- monitor.history_days.
CREATE TABLE reliability_history (
    pipeline   text        NOT NULL,
    event_type text        NOT NULL,
    hour       bigint      NOT NULL, -- hours since the Unix epoch, UTC
    seen_at    timestamptz NOT NULL, -- the first sweep that saw these counts
    updated_at timestamptz NOT NULL, -- the latest sweep that changed total (or seen_at)
    total      bigint      NOT NULL, -- received + missing + pending, as of updated_at
    missing    bigint      NOT NULL,
    pending    bigint      NOT NULL,
    PRIMARY KEY (pipeline, event_type, hour, seen_at),
    CHECK (missing >= 0 AND pending >= 0 AND total >= missing + pending)
);
-- Retention deletes by hour.
CREATE INDEX reliability_history_hour ON reliability_history (pipeline, hour);
