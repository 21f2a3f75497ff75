-- Schema registry as a service: references, compatibility and mode settings, ownership and tokens,
-- per-subject metadata, and an audit log.

-- The references a schema was registered with are part of its identity (the fingerprint covers them).
ALTER TABLE schemas ADD COLUMN refs jsonb NOT NULL DEFAULT '[]';

-- Which subject versions a schema references, so that a referenced version cannot be hard-deleted.
CREATE TABLE schema_references (
    schema_id integer NOT NULL REFERENCES schemas (id) ON DELETE CASCADE,
    name      text    NOT NULL,
    subject   text    NOT NULL,
    version   integer NOT NULL,
    PRIMARY KEY (schema_id, name)
);
CREATE INDEX schema_references_target ON schema_references (subject, version);

-- Compatibility level and mode, globally (scope '') or per subject. NULL means "not set here".
CREATE TABLE registry_settings (
    scope         text        PRIMARY KEY,
    compatibility text        CHECK (compatibility IN ('BACKWARD', 'BACKWARD_TRANSITIVE', 'FORWARD',
                                     'FORWARD_TRANSITIVE', 'FULL', 'FULL_TRANSITIVE', 'NONE')),
    mode          text        CHECK (mode IN ('READWRITE', 'READONLY', 'IMPORT')),
    updated_at    timestamptz NOT NULL DEFAULT now()
);

-- Who owns a subject and what its data is.
CREATE TABLE subject_metadata (
    subject        text        PRIMARY KEY,
    owner_team     text,
    description    text,
    classification jsonb       NOT NULL DEFAULT '{}',
    updated_at     timestamptz NOT NULL DEFAULT now()
);

-- API tokens. Only a SHA-256 of each token is stored: tokens are 256 random bits, so a fast hash
-- is enough, and a leaked table grants nothing.
CREATE TABLE api_tokens (
    name             text        PRIMARY KEY CHECK (length(name) BETWEEN 1 AND 128),
    token_hash       bytea       NOT NULL UNIQUE,
    role             text        NOT NULL CHECK (role IN ('admin', 'owner', 'reader')),
    subject_patterns text[]      NOT NULL DEFAULT '{}',
    created_by       text        NOT NULL,
    created_at       timestamptz NOT NULL DEFAULT now(),
    revoked_at       timestamptz
);

-- Every change, by whom and when.
CREATE TABLE audit_log (
    id      bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at      timestamptz NOT NULL DEFAULT now(),
    actor   text        NOT NULL,
    action  text        NOT NULL,
    subject text,
    details jsonb       NOT NULL DEFAULT '{}'
);
CREATE INDEX audit_log_by_subject ON audit_log (subject, id);

-- A subject is live while it has a live version; the flag was derivable, so it goes.
ALTER TABLE subjects DROP COLUMN deleted;
