"""Two Iceberg readers no one here wrote, for the tables the sink's `iceberg` output commits.

- pyiceberg: its `SqlCatalog` over the same PostgreSQL database the sink keeps its catalog in (the
  `iceberg_tables` and `iceberg_namespace_properties` tables of Iceberg's JDBC catalog), reading the
  files through pyarrow's filesystems (`s3://` on the local S3 server, `file://` and plain paths).
- DuckDB: its `iceberg` extension's `iceberg_scan` over a table's metadata JSON, the location taken
  from the catalog table.

DuckDB's extensions come from their PyPI wheels (`duckdb-extension-iceberg`, `-avro`, `-httpfs`,
pinned in requirements.txt to the `duckdb` version) and are loaded from the wheel's file: no extension
is ever installed or downloaded, and auto-install and auto-load are off, so a missing one fails at
once instead of reaching for the network.
"""

import importlib
import importlib.resources
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import duckdb
import psycopg2
import pyarrow as pa
from pyiceberg.catalog.sql import SqlCatalog

# The local S3 server accepts any region; pyarrow would otherwise ask AWS for the bucket's region.
DEFAULT_S3_REGION = "us-east-1"

# In load order: iceberg reads its manifests with the avro extension and `s3://` with httpfs; loaded
# before avro, iceberg's init tries to auto-install avro and fails.
DUCKDB_EXTENSIONS = ("avro", "httpfs", "iceberg")


def sqlalchemy_url(database_url: str) -> str:
    """The SQLAlchemy URL (psycopg2 driver) for a libpq-style `postgres://user:pass@host:port/db` URL."""
    parts = urlsplit(database_url)
    if parts.scheme not in ("postgres", "postgresql", "postgresql+psycopg2"):
        raise ValueError(f"not a PostgreSQL URL: {database_url}")
    return urlunsplit(parts._replace(scheme="postgresql+psycopg2"))


def pyiceberg_catalog(
    catalog_name: str,
    database_url: str,
    s3_endpoint: str | None = None,
    s3_access_key: str | None = None,
    s3_secret_key: str | None = None,
    s3_region: str = DEFAULT_S3_REGION,
    warehouse: str | None = None,
    create_catalog_tables: bool = False,
) -> SqlCatalog:
    """pyiceberg's `SqlCatalog` named `catalog_name` over the PostgreSQL database at `database_url`.

    The FileIO is pyarrow's, for `s3://` (path-style requests to `s3_endpoint`, e.g.
    `http://127.0.0.1:9000`), `file://` and plain local paths alike. `warehouse` is only needed to
    create tables without an explicit location. By default the catalog's own tables are not created,
    so that reading a catalog the sink should have made fails if it did not make it;
    `create_catalog_tables=True` lets pyiceberg create them (with its DDL) in an empty database.
    """
    properties = {
        "uri": sqlalchemy_url(database_url),
        "init_catalog_tables": str(create_catalog_tables).lower(),
        "py-io-impl": "pyiceberg.io.pyarrow.PyArrowFileIO",
        "s3.region": s3_region,
        "s3.force-virtual-addressing": "false",
    }
    if s3_endpoint is not None:
        properties["s3.endpoint"] = s3_endpoint
    if s3_access_key is not None:
        properties["s3.access-key-id"] = s3_access_key
    if s3_secret_key is not None:
        properties["s3.secret-access-key"] = s3_secret_key
    if warehouse is not None:
        properties["warehouse"] = warehouse
    return SqlCatalog(catalog_name, **properties)


def read_pyiceberg(catalog: SqlCatalog, identifier: str) -> pa.Table:
    """Every row of the table `identifier` (`namespace.table`) at its current snapshot, read by pyiceberg."""
    return catalog.load_table(identifier).scan().to_arrow()


def duckdb_extension_file(name: str) -> Path:
    """The `.duckdb_extension` file that the `duckdb-extension-<name>` wheel ships for this duckdb."""
    package = importlib.import_module(f"duckdb_extension_{name}")
    version = f"v{duckdb.__version__}"
    path = Path(str(importlib.resources.files(package))) / "extensions" / version / f"{name}.duckdb_extension"
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing: duckdb-extension-{name} must be the version of duckdb {version}")
    return path


def duckdb_connection(
    s3_endpoint: str | None = None,
    s3_access_key: str | None = None,
    s3_secret_key: str | None = None,
    s3_region: str = DEFAULT_S3_REGION,
) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB connection with the iceberg, avro and httpfs extensions loaded from their wheels.

    Nothing is downloaded: auto-install and auto-load of known extensions are off and each extension
    is `LOAD`ed from the wheel's file (DuckDB checks its signature as for any official extension).
    With `s3_endpoint` (e.g. `http://127.0.0.1:9000`), an S3 secret points `s3://` at that server
    with path-style URLs, TLS only for an `https` endpoint.
    """
    con = duckdb.connect(config={"autoinstall_known_extensions": False, "autoload_known_extensions": False})
    for name in DUCKDB_EXTENSIONS:
        con.execute(f"LOAD {sql_string(str(duckdb_extension_file(name)))}")
    if s3_endpoint is not None:
        endpoint = urlsplit(s3_endpoint)
        if endpoint.scheme not in ("http", "https") or not endpoint.netloc:
            raise ValueError(f"the S3 endpoint must be an http(s) URL: {s3_endpoint}")
        con.execute(
            "CREATE SECRET local_s3 (TYPE s3, PROVIDER config, KEY_ID {}, SECRET {}, REGION {}, ENDPOINT {}, "
            "URL_STYLE 'path', USE_SSL {})".format(
                sql_string(s3_access_key or ""),
                sql_string(s3_secret_key or ""),
                sql_string(s3_region),
                sql_string(endpoint.netloc),
                "true" if endpoint.scheme == "https" else "false",
            )
        )
    return con


def read_duckdb(con: duckdb.DuckDBPyConnection, metadata_location: str) -> pa.Table:
    """Every row of the Iceberg table whose current metadata JSON is `metadata_location`, read by DuckDB.

    The location is the metadata JSON itself (`s3://…`, `file://…` or a plain path), so DuckDB needs
    no `version-hint.text` and never guesses the version by listing the folder.
    """
    return con.execute("SELECT * FROM iceberg_scan($1)", [metadata_location]).to_arrow_table()


def metadata_location(database_url: str, catalog_name: str, namespace: str, table: str) -> str:
    """The table's current metadata location, as its row in the catalog's `iceberg_tables` holds it.

    The row is found as pyiceberg and Iceberg's JDBC catalog find it: a `TABLE` (or untyped) row,
    never a view's.
    """
    conn = psycopg2.connect(database_url)
    try:
        with conn.cursor() as cur:
            cur.execute(
                "SELECT metadata_location FROM iceberg_tables "
                "WHERE catalog_name = %s AND table_namespace = %s AND table_name = %s "
                "AND (iceberg_type = 'TABLE' OR iceberg_type IS NULL)",
                (catalog_name, namespace, table),
            )
            row = cur.fetchone()
    finally:
        conn.close()
    if row is None or row[0] is None:
        raise LookupError(f"no table {namespace}.{table} in catalog {catalog_name}")
    return row[0]


def sql_string(value: str) -> str:
    """`value` as a SQL string literal, for statements that bind no parameters (LOAD, CREATE SECRET)."""
    return "'" + value.replace("'", "''") + "'"
