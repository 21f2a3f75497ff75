-- Reliability tracking, the archive index and backfills (docs/RELIABILITY.md).

-- The received offsets of each stream split by the hour of the events' own timestamps (hours since
-- the Unix epoch, UTC), so the REP score can be reported per hour. Written in the same transaction as
-- sink_streams, which stays the lock that deduplicates.
CREATE TABLE sink_stream_hours (
    pipeline   text           NOT NULL,
    event_type text           NOT NULL,
    host       text           NOT NULL,
    pid        integer        NOT NULL,
    hour       bigint         NOT NULL,
    received   int8multirange NOT NULL DEFAULT '{}',
    duplicates bigint         NOT NULL DEFAULT 0,
    PRIMARY KEY (pipeline, event_type, hour, host, pid)
);

-- Every archive file read so far, whoever wrote it. A file that does not parse is kept with its error
-- and not read again until it changes size.
CREATE TABLE archive_files (
    store      text        NOT NULL,
    key        text        NOT NULL,
    size       bigint      NOT NULL,
    events     bigint      NOT NULL,
    error      text,
    indexed_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (store, key)
);

-- Which offsets of which stream and hour each archive file holds: what tail-loss reconciliation
-- compares with, and how a backfill picks the only files it needs to read.
CREATE TABLE archive_ranges (
    store      text           NOT NULL,
    key        text           NOT NULL,
    event_type text           NOT NULL,
    host       text           NOT NULL,
    pid        integer        NOT NULL,
    hour       bigint         NOT NULL,
    offsets    int8multirange NOT NULL,
    PRIMARY KEY (store, key, event_type, host, pid, hour),
    FOREIGN KEY (store, key) REFERENCES archive_files (store, key) ON DELETE CASCADE
);
CREATE INDEX archive_ranges_stream ON archive_ranges (event_type, host, pid, hour);

-- Repair requests: filed over the API, from the CLI, or by the monitor itself. A worker claims one
-- with FOR UPDATE SKIP LOCKED and holds that lock while it runs, so a crashed run is taken over.
CREATE TABLE backfills (
    id           bigserial   PRIMARY KEY,
    pipeline     text        NOT NULL,
    event_type   text        NOT NULL,
    from_hour    bigint      NOT NULL,
    to_hour      bigint      NOT NULL, -- exclusive
    streams      jsonb,                -- [{"host": .., "pid": ..}] or NULL for every stream
    origin       text        NOT NULL CHECK (origin IN ('api', 'cli', 'auto')),
    state        text        NOT NULL DEFAULT 'queued' CHECK (state IN ('queued', 'running', 'done', 'failed')),
    files_total  bigint      NOT NULL DEFAULT 0,
    files_read   bigint      NOT NULL DEFAULT 0,
    events_read  bigint      NOT NULL DEFAULT 0,
    written      bigint      NOT NULL DEFAULT 0,
    duplicates   bigint      NOT NULL DEFAULT 0,
    invalid      bigint      NOT NULL DEFAULT 0,
    error        text,
    created_at   timestamptz NOT NULL DEFAULT now(),
    started_at   timestamptz,
    finished_at  timestamptz,
    CHECK (from_hour < to_hour)
);
CREATE INDEX backfills_pending ON backfills (pipeline, id) WHERE state IN ('queued', 'running');

-- Open gaps as the monitor last saw them: missing offsets of a stream within one hour. first_seen
-- makes a young gap "pending" (late data may still fill it); state records what is being done.
CREATE TABLE reliability_gaps (
    pipeline    text        NOT NULL,
    event_type  text        NOT NULL,
    host        text        NOT NULL,
    pid         integer     NOT NULL,
    first_offset bigint     NOT NULL,
    last_offset bigint      NOT NULL,
    hour        bigint      NOT NULL,
    first_seen  timestamptz NOT NULL,
    state       text        NOT NULL DEFAULT 'open' CHECK (state IN ('open', 'backfilling', 'unrecoverable')),
    backfill_id bigint      REFERENCES backfills (id) ON DELETE SET NULL,
    reason      text,
    PRIMARY KEY (pipeline, event_type, host, pid, first_offset),
    CHECK (first_offset <= last_offset)
);
