-- How many bytes of archive files a backfill has read, so that operators (and the benchmark) can see
-- it reads only the files that can hold its gaps.
ALTER TABLE backfills ADD COLUMN bytes_read bigint NOT NULL DEFAULT 0;
