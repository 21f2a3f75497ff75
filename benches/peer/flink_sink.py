"""The peer of benches/sink/run.sh: Apache Flink (PyFlink, Flink SQL) doing the sink's job with stock
connectors: read the preloaded topic, decode each envelope with its schema from the registry (the
`avro-confluent` format), write the envelopes' columns as zstd Parquet to the local S3 server.

It does less than the sink: no signature check, the payload stays Avro bytes (no validation, no
columns), no reliability tracking and no commit to PostgreSQL.

Run by benches/sink/run.sh with the environment benches/peer/install.sh prepares. Reads each
partition up to its bound, then counts the rows of the files it wrote, and prints one JSON line:
{"records": ..., "secs": ..., "rows_written": ...}; "secs" times the job alone, from submission to
its last file committed.

Usage: flink_sink.py TOPIC BOUNDS REGISTRY_URL S3_URL S3_PATH PARALLELISM
BOUNDS: "partition:0,offset:N;partition:1,offset:M;..." (Flink's specific-offsets syntax)
"""

import json
import os
import sys
import time
from urllib.parse import urlparse

import pyarrow.dataset
import pyarrow.fs
from pyflink.table import EnvironmentSettings, TableEnvironment

# The envelope (schemas/murron/Envelope.avsc). Flink's Avro format reads timestamps only to
# millisecond precision, so the microsecond timestamp stays a BIGINT.
ENVELOPE_COLUMNS = """
    `timestamp` BIGINT,
    `host` STRING,
    `type` STRING,
    `offset` BIGINT,
    `pid` INT,
    `message` BYTES,
    `signature` STRING,
    `tags` MAP<STRING NOT NULL, STRING>
"""


def main() -> None:
    topic, bounds, registry, s3_url, path, parallelism = sys.argv[1:]
    records = sum(int(b.split("offset:")[1]) for b in bounds.split(";"))
    env = TableEnvironment.create(EnvironmentSettings.in_streaming_mode())
    config = env.get_config()
    config.set("parallelism.default", parallelism)
    # Streaming mode writes each file as a multipart upload, completed at a checkpoint; the final
    # checkpoint once the bounded input ends commits the last files. (Batch mode commits by renaming
    # a staging folder, which an S3 server without folders does not support.)
    config.set("execution.checkpointing.interval", "1 s")
    env.execute_sql(f"""
        CREATE TABLE envelopes ({ENVELOPE_COLUMNS}) WITH (
          'connector' = 'kafka',
          'topic' = '{topic}',
          'properties.bootstrap.servers' = '{os.environ["MURRON_KAFKA_BROKERS"]}',
          'properties.group.id' = 'flink-peer',
          'scan.startup.mode' = 'earliest-offset',
          'scan.bounded.mode' = 'specific-offsets',
          'scan.bounded.specific-offsets' = '{bounds}',
          'value.format' = 'avro-confluent',
          'value.avro-confluent.url' = '{registry}'
        )""")
    env.execute_sql(f"""
        CREATE TABLE files ({ENVELOPE_COLUMNS}) WITH (
          'connector' = 'filesystem',
          'path' = 's3://{path}',
          'format' = 'parquet',
          'parquet.compression' = 'ZSTD'
        )""")
    started = time.monotonic()
    env.execute_sql("INSERT INTO files SELECT * FROM envelopes").wait()
    secs = time.monotonic() - started

    endpoint = urlparse(s3_url)
    s3 = pyarrow.fs.S3FileSystem(
        endpoint_override=endpoint.netloc,
        scheme=endpoint.scheme,
        access_key=os.environ["MURRON_S3_ACCESS_KEY"],
        secret_key=os.environ["MURRON_S3_SECRET_KEY"],
        region="us-east-1",
    )
    # Listed, not opened as a folder: the local S3 server answers HEAD on a folder with an error.
    listed = s3.get_file_info(pyarrow.fs.FileSelector(path, recursive=True))
    files = [f.path for f in listed if f.type == pyarrow.fs.FileType.File]
    rows = pyarrow.dataset.dataset(files, filesystem=s3, format="parquet").count_rows()
    print(json.dumps({"records": records, "secs": round(secs, 3), "rows_written": rows}))


if __name__ == "__main__":
    main()
