"""What an Iceberg table the sink committed holds, as pyiceberg reads it from the SQL catalog.

Usage: table_stats.py DATABASE_URL CATALOG NAMESPACE.TABLE S3_ENDPOINT ACCESS_KEY SECRET_KEY

Prints one line, "snapshots data_files median_file_bytes records": the number of snapshots in the
current metadata, and the data files of the current snapshot with their median size in bytes and the
rows they hold. The benchmark reads these from the table itself, not from what the sink or the
maintenance command say they did.
"""

import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tests" / "interop"))

import iceberg_readers  # noqa: E402  (found through the path above)


def main() -> None:
    database_url, catalog_name, identifier, endpoint, access_key, secret_key = sys.argv[1:]
    catalog = iceberg_readers.pyiceberg_catalog(catalog_name, database_url, endpoint, access_key, secret_key)
    table = catalog.load_table(identifier)
    files = table.inspect.files().to_pylist()
    # Content 0 is data; the sink writes no delete files, and they would not count as data anyway.
    data = [f for f in files if f["content"] == 0]
    sizes = [f["file_size_in_bytes"] for f in data]
    median = statistics.median(sizes) if sizes else 0
    print(len(table.metadata.snapshots), len(sizes), f"{median:.0f}", sum(f["record_count"] for f in data))


if __name__ == "__main__":
    main()
