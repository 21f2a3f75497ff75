//! The Iceberg SQL catalog (migrations/…_iceberg_catalog.sql): which metadata file is each table's
//! current one. The statements are the JDBC catalog's, so engines that commit to the same tables
//! (pyiceberg, Spark, Trino) and the sink fence each other: a swap applies only if the row still names
//! the metadata file the writer built on.

use sqlx::PgConnection;

use super::error::StateError;

/// A table in a named catalog.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TableIdent {
    pub catalog: String,
    pub namespace: String,
    pub table: String,
}

/// Selects a table's row: `$1` catalog, `$2` namespace, `$3` table; views are not tables.
macro_rules! table_row {
    () => {
        "catalog_name = $1 AND table_namespace = $2 AND table_name = $3 \
         AND (iceberg_type = 'TABLE' OR iceberg_type IS NULL)"
    };
}

/// Creates the namespace if it is missing, with its location; what engines list as namespaces.
pub async fn ensure_namespace(
    conn: &mut PgConnection,
    catalog: &str,
    namespace: &str,
    location: &str,
) -> Result<(), StateError> {
    sqlx::query(
        "INSERT INTO iceberg_namespace_properties (catalog_name, namespace, property_key, property_value) \
         VALUES ($1, $2, 'exists', 'true'), ($1, $2, 'location', $3) ON CONFLICT DO NOTHING",
    )
    .bind(catalog)
    .bind(namespace)
    .bind(location)
    .execute(conn)
    .await?;
    Ok(())
}

/// The table's current metadata location, or None when the table does not exist. With `lock`, the
/// row stays locked until the transaction ends, so no other writer can swap it meanwhile.
pub async fn metadata_location(
    conn: &mut PgConnection,
    t: &TableIdent,
    lock: bool,
) -> Result<Option<String>, StateError> {
    let sql = if lock {
        concat!(
            "SELECT metadata_location FROM iceberg_tables WHERE ",
            table_row!(),
            " FOR UPDATE"
        )
    } else {
        concat!("SELECT metadata_location FROM iceberg_tables WHERE ", table_row!())
    };
    let row: Option<Option<String>> = sqlx::query_scalar(sql)
        .bind(&t.catalog)
        .bind(&t.namespace)
        .bind(&t.table)
        .fetch_optional(conn)
        .await?;
    Ok(row.flatten())
}

/// Registers a new table at `location` (its first metadata file, already written). False when the
/// table exists already: another writer created it first.
pub async fn create_table(conn: &mut PgConnection, t: &TableIdent, location: &str) -> Result<bool, StateError> {
    let done = sqlx::query(
        "INSERT INTO iceberg_tables (catalog_name, table_namespace, table_name, metadata_location, \
         previous_metadata_location, iceberg_type) VALUES ($1, $2, $3, $4, NULL, 'TABLE') ON CONFLICT DO NOTHING",
    )
    .bind(&t.catalog)
    .bind(&t.namespace)
    .bind(&t.table)
    .bind(location)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Swaps the table's metadata location from `old` to `new`: false when `old` is no longer current
/// (another writer committed first). In a transaction, the swap commits or rolls back with it.
pub async fn swap(conn: &mut PgConnection, t: &TableIdent, old: &str, new: &str) -> Result<bool, StateError> {
    let done = sqlx::query(concat!(
        "UPDATE iceberg_tables SET metadata_location = $5, previous_metadata_location = $4 WHERE ",
        table_row!(),
        " AND metadata_location = $4"
    ))
    .bind(&t.catalog)
    .bind(&t.namespace)
    .bind(&t.table)
    .bind(old)
    .bind(new)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Every table of a catalog's namespace, with its current metadata location.
pub async fn tables(
    conn: &mut PgConnection,
    catalog: &str,
    namespace: &str,
) -> Result<Vec<(String, String)>, StateError> {
    Ok(sqlx::query_as(
        "SELECT table_name, metadata_location FROM iceberg_tables WHERE catalog_name = $1 \
         AND table_namespace = $2 AND (iceberg_type = 'TABLE' OR iceberg_type IS NULL) \
         AND metadata_location IS NOT NULL ORDER BY table_name",
    )
    .bind(catalog)
    .bind(namespace)
    .fetch_all(conn)
    .await?)
}
