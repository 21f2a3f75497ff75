-- Sink worker state (docs/EXACTLY_ONCE.md). Rows are keyed by pipeline, so several pipelines can read
-- the same topic and each still writes every event exactly once.

-- The commit point: the next Kafka offset each pipeline will read per partition. A batch commits only
-- if the row still holds the offset the batch started from, which fences out a worker that lost the
-- partition in a rebalance.
CREATE TABLE sink_partitions (
    pipeline    text        NOT NULL,
    topic       text        NOT NULL,
    partition   integer     NOT NULL,
    next_offset bigint      NOT NULL,
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (pipeline, topic, partition)
);

-- Per stream (type, host, pid): the envelope offsets received so far, as ranges. An offset already in
-- the set is a duplicate (the UID seen before); holes are the stream's gaps.
CREATE TABLE sink_streams (
    pipeline   text           NOT NULL,
    event_type text           NOT NULL,
    host       text           NOT NULL,
    pid        integer        NOT NULL,
    received   int8multirange NOT NULL DEFAULT '{}',
    duplicates bigint         NOT NULL DEFAULT 0,
    updated_at timestamptz    NOT NULL DEFAULT now(),
    PRIMARY KEY (pipeline, event_type, host, pid)
);

-- The manifest of files written through staging. A row appears in the same transaction that moves the
-- commit point; published_at is set once the file is at its final key.
CREATE TABLE sink_files (
    id           bigserial   PRIMARY KEY,
    pipeline     text        NOT NULL,
    store        text        NOT NULL,
    staging_key  text        NOT NULL,
    final_key    text        NOT NULL,
    events       bigint      NOT NULL,
    bytes        bigint      NOT NULL,
    committed_at timestamptz NOT NULL DEFAULT now(),
    published_at timestamptz
);
CREATE INDEX sink_files_unpublished ON sink_files (pipeline) WHERE published_at IS NULL;
