//! The PostgreSQL warehouse: one typed table per event type.
//!
//! The writer converts a batch of events into an Arrow [`RecordBatch`] (the payload fields decoded by
//! arrow-avro plus the metadata columns) and hands it here with the transaction that also advances its
//! Kafka commit points. Rows therefore appear exactly when the offsets move: that is the warehouse's
//! share of exactly-once (docs/EXACTLY_ONCE.md). Re-inserting an event is harmless: the primary key is
//! the event's UID (`_murron_host`, `_murron_pid`, `_murron_offset`) and duplicates are skipped.
//!
//! # Tables
//!
//! The table of an event type is `"{schema}"."{table_prefix}{type}"`, the name lowercased with every
//! character outside `[a-z0-9_]` replaced by `_` (`billing.member_active` becomes
//! `"warehouse"."billing_member_active"`). A name longer than PostgreSQL's 63 bytes is cut and ends in
//! 8 hex digits of its SHA-256, so it stays unique. Columns are the Arrow field names, quoted.
//!
//! Payload columns are all nullable. The metadata columns are `NOT NULL`: `_murron_timestamp timestamptz`,
//! `_murron_host text`, `_murron_pid integer`, `_murron_offset bigint`, `_murron_tags jsonb`,
//! `_kafka_topic text`, `_kafka_partition integer`, `_kafka_offset bigint`, `_schema_id integer`.
//!
//! Schema evolution only adds columns (always nullable) when a schema version brings new fields; a
//! column is never dropped or retyped. Rows of a version without some column get NULL there. A field
//! whose new type cannot be stored in the existing column is [`WarehouseError::Unsupported`]. The
//! column's type may be wider than the field's (the Avro promotions: `integer` into `bigint`,
//! `integer`/`bigint`/`real` into `real` or `double precision`; a `numeric` that keeps every digit);
//! a `Null` field fits any column.
//!
//! # Type mapping
//!
//! | Arrow                                              | PostgreSQL                      |
//! |----------------------------------------------------|---------------------------------|
//! | Boolean                                            | `boolean`                       |
//! | Int8, Int16, Int32, UInt8, UInt16                  | `integer`                       |
//! | Int64, UInt32                                      | `bigint`                        |
//! | UInt64                                             | `numeric(20,0)`                 |
//! | Float32                                            | `real`                          |
//! | Float64                                            | `double precision`              |
//! | Utf8, LargeUtf8, Utf8View                          | `text`                          |
//! | Dictionary(_, Utf8) (Avro enums)                   | `text`                          |
//! | Binary, LargeBinary, BinaryView, FixedSizeBinary   | `bytea`                         |
//! | Date32                                             | `date`                          |
//! | Time32, Time64                                     | `time` (without time zone)      |
//! | Timestamp(_, Some(tz))                             | `timestamptz`                   |
//! | Timestamp(_, None)                                 | `timestamp` (without time zone) |
//! | Duration(_)                                        | `interval`                      |
//! | Decimal32/64/128/256(p, s)                         | `numeric(p,s)`                  |
//! | Struct, List, LargeList, FixedSizeList, Map, Union | `jsonb`                         |
//! | Null                                               | `text` (always NULL)            |
//!
//! Anything else (Float16, Date64, Interval, ...) is [`WarehouseError::Unsupported`].
//! PostgreSQL keeps microseconds: nanosecond times, timestamps and durations are rounded. Inside `jsonb`
//! values, structs are objects, lists arrays, maps objects (keys of integer or boolean type written as
//! strings, `"7"`, `"true"`, as Protobuf's JSON mapping writes them), a union is `{"branch": value}`
//! (Avro's JSON encoding; branch names come from arrow-avro: `int`, `string`, the full name of a
//! record...) or `null`, binary is a hex string, timestamps are RFC 3339 strings (`Z` when the type has
//! a time zone), durations ISO 8601 strings in seconds (`PT-1.5S`, which an `interval` column reads
//! too), decimals are numbers.
//!
//! Floats: JSON has no NaN or infinities, so they travel as the strings `"NaN"`, `"Infinity"` and
//! `"-Infinity"`. A `real`/`double precision` column stores the real NaN or infinity; inside `jsonb`
//! they stay those strings. Strings containing NUL cannot be stored in PostgreSQL `text`: the insert
//! fails with a (not retryable) data error.
//!
//! # Loading
//!
//! Each batch is encoded to a JSON array of row objects with arrow-json (off the async reactor) and
//! loaded with one `INSERT ... SELECT ... FROM json_to_recordset($1::json) ... ON CONFLICT DO NOTHING`
//! per chunk of at most [`MAX_CHUNK_ROWS`] rows (fewer when rows are large). The record definition
//! types every column, so PostgreSQL parses values with its own input functions; binary columns are
//! read as hex text and converted with `decode(_, 'hex')`.
//!
//! # DDL, races and the column cache
//!
//! [`Warehouse::ensure_table`] remembers which columns each table has, so the hot path runs no DDL and
//! no catalog query. On a miss it reads the catalog and runs `CREATE SCHEMA/TABLE IF NOT EXISTS` and
//! `ALTER TABLE ... ADD COLUMN IF NOT EXISTS` inside a savepoint of the caller's transaction. Two workers
//! creating the same table at once collide in PostgreSQL's catalog (a unique violation once the first
//! commits); the loser rolls back to its savepoint and retries, then finds the table. The DDL commits
//! with the caller's transaction, so until it commits other workers' DDL on that table (and, after
//! `ALTER TABLE`, their inserts into it) wait: a cost paid once per new table or column. If that
//! transaction rolls back, the cache is ahead of the database, so an insert that fails on a missing
//! table or column forgets the table (the error is retryable) and the caller's retry runs the DDL again.

use std::borrow::Cow;
use std::collections::HashMap;
use std::io::Write as _;
use std::sync::{Arc, Mutex, PoisonError};

use arrow_array::cast::AsArray;
use arrow_array::temporal_conversions::{
    timestamp_ms_to_datetime, timestamp_ns_to_datetime, timestamp_s_to_datetime, timestamp_us_to_datetime,
};
use arrow_array::types::{Float32Type, Float64Type};
use arrow_array::{Array, RecordBatch, UnionArray};
use arrow_json::writer::{JsonArray, NullableEncoder, WriterBuilder};
use arrow_json::{Encoder, EncoderFactory, EncoderOptions};
use arrow_schema::{ArrowError, DataType, FieldRef, Schema, TimeUnit};
use sha2::{Digest, Sha256};
use sqlx::{Connection, PgConnection, Row};

use super::StateError;
use crate::config::outputs::WarehouseConfig;

/// Most rows loaded by one statement.
pub const MAX_CHUNK_ROWS: usize = 10_000;

/// Target size of one statement's JSON parameter; large rows make smaller chunks.
const TARGET_CHUNK_BYTES: usize = 16 << 20;

/// Longest identifier PostgreSQL keeps (NAMEDATALEN - 1).
const MAX_IDENTIFIER_BYTES: usize = 63;

/// How often DDL that collided with another worker's is retried.
const DDL_ATTEMPTS: u32 = 3;

/// The metadata columns the sink appends to every batch, with their column types. All are `NOT NULL`.
const METADATA_COLUMNS: [(&str, &str); 9] = [
    ("_murron_timestamp", "timestamp with time zone"),
    ("_murron_host", "text"),
    ("_murron_pid", "integer"),
    ("_murron_offset", "bigint"),
    ("_murron_tags", "jsonb"),
    ("_kafka_topic", "text"),
    ("_kafka_partition", "integer"),
    ("_kafka_offset", "bigint"),
    ("_schema_id", "integer"),
];

/// The event UID within one type's table: the primary key.
const UID_COLUMNS: &str = r#""_murron_host", "_murron_pid", "_murron_offset""#;

/// Why rows could not be written.
#[derive(Debug, thiserror::Error)]
pub enum WarehouseError {
    /// PostgreSQL failed; retryable unless it rejected the data itself (see [`Self::is_retryable`]).
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    /// A field the warehouse cannot store, or whose type no longer fits its column. Not retryable.
    #[error("column {column:?}: cannot store {data_type}")]
    Unsupported { column: String, data_type: String },
    /// A field name PostgreSQL cannot use as a column name. Not retryable.
    #[error("column {column:?}: {reason}")]
    InvalidName { column: String, reason: &'static str },
    /// The batch lacks a metadata column. Not retryable.
    #[error("the batch has no {0} column")]
    MissingMetadata(&'static str),
    /// The batch could not be encoded for loading. Not retryable.
    #[error("encoding rows: {0}")]
    Encode(String),
    /// A savepoint of the caller's transaction failed: the state database's trouble, always retryable.
    #[error(transparent)]
    State(#[from] StateError),
}

impl WarehouseError {
    /// Whether the same call can succeed later. Database errors are, except data exceptions (SQLSTATE
    /// class 22, e.g. a NUL in a string), integrity violations (23) and program limits (54), which the
    /// same rows hit again.
    pub fn is_retryable(&self) -> bool {
        match self {
            WarehouseError::Database(e) => {
                let code = e.as_database_error().and_then(|d| d.code());
                !matches!(code.as_deref().and_then(|c| c.get(..2)), Some("22" | "23" | "54"))
            }
            WarehouseError::State(_) => true,
            WarehouseError::Unsupported { .. }
            | WarehouseError::InvalidName { .. }
            | WarehouseError::MissingMetadata(_)
            | WarehouseError::Encode(_) => false,
        }
    }
}

impl From<ArrowError> for WarehouseError {
    fn from(e: ArrowError) -> Self {
        WarehouseError::Encode(e.to_string())
    }
}

/// Columns of one table: name to type as PostgreSQL's `format_type` prints it.
type Columns = HashMap<String, String>;

/// The warehouse output: creates tables and loads batches into them.
#[derive(Debug)]
pub struct Warehouse {
    config: WarehouseConfig,
    /// Columns known to exist, by quoted table name (see the module doc on how it can go stale).
    known: Mutex<HashMap<String, Columns>>,
}

impl Warehouse {
    /// A warehouse with an empty column cache; it runs no SQL until used.
    pub fn new(config: WarehouseConfig) -> Self {
        Self {
            config,
            known: Mutex::new(HashMap::new()),
        }
    }

    /// The table for an event type: its name sanitized to [a-z0-9_] (dots and other chars -> '_',
    /// lowercased), prefixed, quoted; e.g. billing.member_active -> "warehouse"."billing_member_active".
    pub fn table_for(&self, event_type: &str) -> String {
        format!(
            "{}.{}",
            quote_ident(&self.config.schema),
            quote_ident(&table_name(&self.config.table_prefix, event_type))
        )
    }

    /// Creates the schema and the table if missing, and adds (nullable) columns for fields the table
    /// lacks. Cached: once every field of `schema` is known to exist, no SQL runs.
    pub async fn ensure_table(
        &self,
        conn: &mut PgConnection,
        event_type: &str,
        schema: &Schema,
    ) -> Result<(), WarehouseError> {
        let table = self.table_for(event_type);
        self.ensure(conn, &table, schema).await
    }

    /// Inserts every row of `batch`, skipping rows whose UID the table already has; returns the number
    /// of rows inserted. Runs [`Self::ensure_table`] first (a cache hit when the caller already did).
    pub async fn insert(
        &self,
        conn: &mut PgConnection,
        event_type: &str,
        batch: &RecordBatch,
    ) -> Result<u64, WarehouseError> {
        // Hot path: once per batch. Per-row work happens only in the JSON encoder and in PostgreSQL.
        let schema = batch.schema();
        for (name, _) in METADATA_COLUMNS {
            if schema.column_with_name(name).is_none() {
                return Err(WarehouseError::MissingMetadata(name));
            }
        }
        if batch.num_rows() == 0 {
            return Ok(0);
        }
        let table = self.table_for(event_type);
        self.ensure(conn, &table, &schema).await?;
        let sql = insert_sql(&table, &schema);

        let rows = batch.num_rows();
        let chunk_rows = chunk_rows(batch);
        let mut inserted = 0;
        let mut offset = 0;
        while offset < rows {
            let len = chunk_rows.min(rows - offset);
            let chunk = batch.slice(offset, len);
            let json = tokio::task::spawn_blocking(move || encode_json(&chunk))
                .await
                .map_err(|e| WarehouseError::Encode(format!("encoder task failed: {e}")))??;
            let result = sqlx::query(sqlx::AssertSqlSafe(sql.clone()))
                .bind(json)
                .execute(&mut *conn)
                .await;
            match result {
                Ok(done) => inserted += done.rows_affected(),
                Err(e) => {
                    if is_undefined_relation_or_column(&e) {
                        // The cache is ahead of the database (the DDL was rolled back): forget the table
                        // so that the caller's retry recreates it.
                        self.known_columns().remove(&table);
                    }
                    return Err(e.into());
                }
            }
            offset += len;
        }
        Ok(inserted)
    }

    fn known_columns(&self) -> std::sync::MutexGuard<'_, HashMap<String, Columns>> {
        // The map is only ever replaced entry by entry, so a panic elsewhere cannot leave it torn.
        self.known.lock().unwrap_or_else(PoisonError::into_inner)
    }

    async fn ensure(&self, conn: &mut PgConnection, table: &str, schema: &Schema) -> Result<(), WarehouseError> {
        let wanted = wanted_columns(schema)?;
        {
            // Hot path: every field is a known column of a type that fits.
            let known = self.known_columns();
            if let Some(columns) = known.get(table)
                && check_columns(columns, &wanted)?
            {
                return Ok(());
            }
        }
        let columns = self.run_ddl(conn, table, &wanted).await?;
        self.known_columns().insert(table.to_owned(), columns);
        Ok(())
    }

    /// Brings the table up to `wanted` inside a savepoint, retrying when another worker's DDL collides.
    async fn run_ddl(
        &self,
        conn: &mut PgConnection,
        table: &str,
        wanted: &[Wanted<'_>],
    ) -> Result<Columns, WarehouseError> {
        let mut attempt = 1;
        loop {
            let mut tx = conn.begin().await?;
            match self.ddl(&mut tx, table, wanted).await {
                Ok(columns) => {
                    tx.commit().await?;
                    return Ok(columns);
                }
                Err(WarehouseError::Database(e)) if attempt < DDL_ATTEMPTS && is_ddl_race(&e) => {
                    tracing::debug!(table, error = %e, "warehouse DDL collided with another worker's; retrying");
                    tx.rollback().await?;
                    attempt += 1;
                }
                Err(e) => {
                    // The original error matters more than a failed rollback; the caller's transaction
                    // fails anyway.
                    let _ = tx.rollback().await;
                    return Err(e);
                }
            }
        }
    }

    async fn ddl(
        &self,
        conn: &mut PgConnection,
        table: &str,
        wanted: &[Wanted<'_>],
    ) -> Result<Columns, WarehouseError> {
        let mut columns = read_columns(conn, table).await?;
        if columns.is_empty() {
            // Only when the table is missing: CREATE SCHEMA needs a privilege the worker may not have.
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "CREATE SCHEMA IF NOT EXISTS {}",
                quote_ident(&self.config.schema)
            )))
            .execute(&mut *conn)
            .await?;
            sqlx::query(sqlx::AssertSqlSafe(create_table_sql(table, wanted)))
                .execute(&mut *conn)
                .await?;
            tracing::info!(table, "created warehouse table");
            columns = read_columns(conn, table).await?;
        }
        if !check_columns(&columns, wanted)? {
            let missing: Vec<&Wanted<'_>> = wanted.iter().filter(|w| !columns.contains_key(w.name)).collect();
            sqlx::query(sqlx::AssertSqlSafe(add_columns_sql(table, &missing)))
                .execute(&mut *conn)
                .await?;
            tracing::info!(
                table,
                columns = ?missing.iter().map(|w| w.name).collect::<Vec<_>>(),
                "added warehouse columns"
            );
            columns = read_columns(conn, table).await?;
            // Another worker may have added the same column first, with its own type.
            if !check_columns(&columns, wanted)? {
                return Err(WarehouseError::Encode(format!(
                    "columns of {table} still missing after ALTER TABLE"
                )));
            }
        }
        Ok(columns)
    }
}

/// A field of a batch and the column type it maps to.
#[derive(Debug)]
struct Wanted<'a> {
    name: &'a str,
    pg_type: Cow<'static, str>,
    /// A `Null` field: all values are NULL, so any column type fits.
    null: bool,
    data_type: &'a DataType,
}

/// Maps every field to its column type, rejecting names and types PostgreSQL cannot take.
fn wanted_columns(schema: &Schema) -> Result<Vec<Wanted<'_>>, WarehouseError> {
    schema
        .fields()
        .iter()
        .map(|f| {
            let name = f.name().as_str();
            check_name(name)?;
            let pg_type = pg_type(f.data_type()).ok_or_else(|| WarehouseError::Unsupported {
                column: name.to_owned(),
                data_type: f.data_type().to_string(),
            })?;
            Ok(Wanted {
                name,
                pg_type,
                null: f.data_type() == &DataType::Null,
                data_type: f.data_type(),
            })
        })
        .collect()
}

/// `Ok(true)` when `columns` has every wanted column in a type that fits, `Ok(false)` when some are
/// missing, and `Unsupported` when one exists with a type that does not fit.
fn check_columns(columns: &Columns, wanted: &[Wanted<'_>]) -> Result<bool, WarehouseError> {
    let mut complete = true;
    for w in wanted {
        match columns.get(w.name) {
            None => complete = false,
            Some(have) if w.null || fits(have, &w.pg_type) => {}
            Some(have) => {
                return Err(WarehouseError::Unsupported {
                    column: w.name.to_owned(),
                    data_type: format!("{} ({}) in the existing {have} column", w.data_type, w.pg_type),
                });
            }
        }
    }
    Ok(complete)
}

/// Whether values of column type `want` can be inserted into a column of type `have` without loss
/// (or with the loss Avro's type promotions accept, such as `bigint` into `double precision`).
fn fits(have: &str, want: &str) -> bool {
    if have == want {
        return true;
    }
    match (have, want) {
        ("bigint", "integer") => true,
        ("real", "integer" | "bigint") => true,
        ("double precision", "integer" | "bigint" | "real") => true,
        ("numeric", w) => w.starts_with("numeric"),
        (h, w) => match (numeric_typmod(h), numeric_typmod(w)) {
            // Every digit on both sides of the point fits.
            (Some((hp, hs)), Some((wp, ws))) => ws <= hs && wp - ws <= hp - hs,
            _ => false,
        },
    }
}

/// `(precision, scale)` of `numeric(p,s)`.
fn numeric_typmod(t: &str) -> Option<(i64, i64)> {
    let inner = t.strip_prefix("numeric(")?.strip_suffix(')')?;
    let (p, s) = inner.split_once(',')?;
    Some((p.trim().parse().ok()?, s.trim().parse().ok()?))
}

/// The column type of an Arrow type, as `format_type` prints it; `None` when unsupported.
fn pg_type(data_type: &DataType) -> Option<Cow<'static, str>> {
    use DataType::*;
    let t = match data_type {
        Boolean => "boolean",
        Int8 | Int16 | Int32 | UInt8 | UInt16 => "integer",
        Int64 | UInt32 => "bigint",
        UInt64 => "numeric(20,0)",
        Float32 => "real",
        Float64 => "double precision",
        Utf8 | LargeUtf8 | Utf8View | Null => "text",
        Dictionary(_, values) if matches!(values.as_ref(), Utf8 | LargeUtf8 | Utf8View) => "text",
        Binary | LargeBinary | BinaryView | FixedSizeBinary(_) => "bytea",
        Date32 => "date",
        Time32(_) | Time64(_) => "time without time zone",
        Timestamp(_, Some(_)) => "timestamp with time zone",
        Timestamp(_, None) => "timestamp without time zone",
        Duration(_) => "interval",
        Decimal32(p, s) | Decimal64(p, s) => return Some(numeric(*p, *s)),
        Decimal128(p, s) | Decimal256(p, s) => return Some(numeric(*p, *s)),
        Struct(_) | List(_) | LargeList(_) | FixedSizeList(_, _) | Map(_, _) | Union(_, _)
            if json_encodable(data_type) =>
        {
            "jsonb"
        }
        _ => return None,
    };
    Some(Cow::Borrowed(t))
}

fn numeric(precision: u8, scale: i8) -> Cow<'static, str> {
    if precision == 0 || scale < 0 || i16::from(scale) > i16::from(precision) {
        Cow::Borrowed("numeric")
    } else {
        Cow::Owned(format!("numeric({precision},{scale})"))
    }
}

/// Whether a value nested in a `jsonb` column can be encoded (by arrow-json or [`PgJsonEncoders`]).
fn json_encodable(data_type: &DataType) -> bool {
    use DataType::*;
    match data_type {
        Struct(fields) => fields.iter().all(|f| json_encodable(f.data_type())),
        List(f) | LargeList(f) | FixedSizeList(f, _) => json_encodable(f.data_type()),
        Map(entries, _) => match entries.data_type() {
            Struct(kv) if kv.len() == 2 => map_key_encodable(kv[0].data_type()) && json_encodable(kv[1].data_type()),
            _ => false,
        },
        Union(fields, _) => fields.iter().all(|(_, f)| json_encodable(f.data_type())),
        Dictionary(_, values) => json_encodable(values),
        Null
        | Boolean
        | Int8
        | Int16
        | Int32
        | Int64
        | UInt8
        | UInt16
        | UInt32
        | UInt64
        | Float32
        | Float64
        | Utf8
        | LargeUtf8
        | Utf8View
        | Binary
        | LargeBinary
        | BinaryView
        | FixedSizeBinary(_)
        | Date32
        | Date64
        | Time32(_)
        | Time64(_)
        | Timestamp(_, _)
        | Duration(_)
        | Interval(_)
        | Decimal32(_, _)
        | Decimal64(_, _)
        | Decimal128(_, _)
        | Decimal256(_, _) => true,
        _ => false,
    }
}

/// Whether map keys of this type can be JSON object keys: strings as they are, integers and booleans
/// as their text ([`MapEncoder`]).
fn map_key_encodable(data_type: &DataType) -> bool {
    use DataType::*;
    matches!(
        data_type,
        Utf8 | LargeUtf8 | Utf8View | Boolean | Int8 | Int16 | Int32 | Int64 | UInt8 | UInt16 | UInt32 | UInt64
    )
}

fn check_name(name: &str) -> Result<(), WarehouseError> {
    let reason = if name.is_empty() {
        "an empty name cannot be a column"
    } else if name.len() > MAX_IDENTIFIER_BYTES {
        "PostgreSQL column names are at most 63 bytes"
    } else if name.contains('\0') {
        "a column name cannot contain NUL"
    } else {
        return Ok(());
    };
    Err(WarehouseError::InvalidName {
        column: name.to_owned(),
        reason,
    })
}

/// `prefix + event_type`, lowercased, with everything outside [a-z0-9_] replaced by `_`, at most 63
/// bytes (a longer name is cut and ends in a hash of the event type).
fn table_name(prefix: &str, event_type: &str) -> String {
    let mut name: String = prefix
        .chars()
        .chain(event_type.chars())
        .map(|c| match c.to_ascii_lowercase() {
            c @ ('a'..='z' | '0'..='9' | '_') => c,
            _ => '_',
        })
        .collect();
    if name.is_empty() {
        name.push('_');
    }
    if name.len() > MAX_IDENTIFIER_BYTES {
        let hash = hex::encode(&Sha256::digest(event_type.as_bytes())[..4]);
        name.truncate(MAX_IDENTIFIER_BYTES - hash.len() - 1);
        name.push('_');
        name.push_str(&hash);
    }
    name
}

/// A double-quoted SQL identifier.
fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

fn create_table_sql(table: &str, wanted: &[Wanted<'_>]) -> String {
    let mut sql = format!("CREATE TABLE IF NOT EXISTS {table} (");
    for w in wanted.iter().filter(|w| !is_metadata(w.name)) {
        sql.push_str(&format!("\n  {} {},", quote_ident(w.name), w.pg_type));
    }
    for (name, pg_type) in METADATA_COLUMNS {
        sql.push_str(&format!("\n  {} {pg_type} NOT NULL,", quote_ident(name)));
    }
    sql.push_str(&format!("\n  PRIMARY KEY ({UID_COLUMNS})\n)"));
    sql
}

fn add_columns_sql(table: &str, missing: &[&Wanted<'_>]) -> String {
    let adds: Vec<String> = missing
        .iter()
        .map(|w| format!("ADD COLUMN IF NOT EXISTS {} {}", quote_ident(w.name), w.pg_type))
        .collect();
    format!("ALTER TABLE {table} {}", adds.join(", "))
}

fn is_metadata(name: &str) -> bool {
    METADATA_COLUMNS.iter().any(|(m, _)| *m == name)
}

/// The load statement for batches of `schema`: `$1` is a JSON array of row objects.
fn insert_sql(table: &str, schema: &Schema) -> String {
    let mut columns = Vec::with_capacity(schema.fields().len());
    let mut values = Vec::with_capacity(schema.fields().len());
    let mut record = Vec::with_capacity(schema.fields().len());
    for f in schema.fields() {
        let data_type = f.data_type();
        // A Null field leaves its column at its default, NULL.
        let Some(pg_type) = pg_type(data_type).filter(|_| data_type != &DataType::Null) else {
            continue;
        };
        let name = quote_ident(f.name());
        if pg_type == "bytea" {
            values.push(format!("decode(x.{name}, 'hex')"));
            record.push(format!("{name} text"));
        } else {
            values.push(format!("x.{name}"));
            record.push(format!("{name} {pg_type}"));
        }
        columns.push(name);
    }
    format!(
        "INSERT INTO {table} ({}) SELECT {} FROM json_to_recordset($1::json) AS x({}) \
         ON CONFLICT ({UID_COLUMNS}) DO NOTHING",
        columns.join(", "),
        values.join(", "),
        record.join(", ")
    )
}

/// Rows per statement: [`MAX_CHUNK_ROWS`], fewer when rows are large.
fn chunk_rows(batch: &RecordBatch) -> usize {
    let rows = batch.num_rows().max(1);
    // JSON repeats every column name per row and writes binary as hex: count the Arrow bytes twice.
    let row_bytes = 2 * batch.get_array_memory_size() / rows
        + batch
            .schema()
            .fields()
            .iter()
            .map(|f| f.name().len() + 4)
            .sum::<usize>();
    (TARGET_CHUNK_BYTES / row_bytes.max(1)).clamp(1, MAX_CHUNK_ROWS)
}

/// The rows of `batch` as a JSON array of objects, nulls written out.
fn encode_json(batch: &RecordBatch) -> Result<String, WarehouseError> {
    let mut writer = WriterBuilder::new()
        .with_explicit_nulls(true)
        .with_encoder_factory(Arc::new(PgJsonEncoders))
        .build::<_, JsonArray>(Vec::with_capacity(batch.get_array_memory_size() * 2));
    writer.write(batch)?;
    writer.finish()?;
    String::from_utf8(writer.into_inner()).map_err(|e| WarehouseError::Encode(e.to_string()))
}

fn is_ddl_race(e: &sqlx::Error) -> bool {
    // unique_violation (the catalog's own indexes), duplicate_column/schema/table/object.
    let code = e.as_database_error().and_then(|d| d.code());
    matches!(code.as_deref(), Some("23505" | "42701" | "42P06" | "42P07" | "42710"))
}

fn is_undefined_relation_or_column(e: &sqlx::Error) -> bool {
    let code = e.as_database_error().and_then(|d| d.code());
    matches!(code.as_deref(), Some("42P01" | "42703" | "3F000"))
}

/// The table's columns and their types; empty when the table does not exist.
async fn read_columns(conn: &mut PgConnection, table: &str) -> Result<Columns, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT a.attname::text AS name, format_type(a.atttypid, a.atttypmod) AS type FROM pg_attribute a \
         WHERE a.attrelid = to_regclass($1) AND a.attnum > 0 AND NOT a.attisdropped",
    )
    .bind(table)
    .fetch_all(&mut *conn)
    .await?;
    rows.iter()
        .map(|r| Ok((r.try_get::<String, _>("name")?, r.try_get::<String, _>("type")?)))
        .collect()
}

/// Encoders for what arrow-json's defaults get wrong for PostgreSQL: non-finite floats (JSON `null`
/// by default), timestamps with a named time zone (unsupported without chrono-tz), durations (text
/// PostgreSQL's `interval` does not read), unions and maps with keys other than strings
/// (unsupported).
#[derive(Debug)]
struct PgJsonEncoders;

impl EncoderFactory for PgJsonEncoders {
    fn make_default_encoder<'a>(
        &self,
        _field: &'a FieldRef,
        array: &'a dyn Array,
        options: &'a EncoderOptions,
    ) -> Result<Option<NullableEncoder<'a>>, ArrowError> {
        let nulls = array.nulls().cloned();
        let encoder: Box<dyn Encoder + 'a> = match array.data_type() {
            DataType::Float32 => Box::new(Float32Encoder(array.as_primitive::<Float32Type>().values())),
            DataType::Float64 => Box::new(Float64Encoder(array.as_primitive::<Float64Type>().values())),
            DataType::Timestamp(unit, tz) => Box::new(TimestampEncoder {
                values: timestamp_values(array, *unit),
                unit: *unit,
                suffix: if tz.is_some() { "Z" } else { "" },
            }),
            DataType::Duration(unit) => Box::new(DurationEncoder {
                values: duration_values(array, *unit),
                unit: *unit,
            }),
            DataType::Map(..)
                if !matches!(
                    array.as_map().key_type(),
                    DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View
                ) =>
            {
                let map = array.as_map();
                let values = map.values();
                let value_field = match map.entries().fields().get(1) {
                    Some(f) => f,
                    None => return Err(ArrowError::JsonError("a map's entries have no value field".to_owned())),
                };
                Box::new(MapEncoder {
                    offsets: map.value_offsets(),
                    keys: map_keys(map.keys().as_ref())?,
                    values: arrow_json::writer::make_encoder(value_field, values.as_ref(), options)?,
                })
            }
            DataType::Union(fields, _) => {
                let union = array
                    .as_any()
                    .downcast_ref::<UnionArray>()
                    .ok_or_else(|| ArrowError::JsonError("a Union-typed array is not a UnionArray".to_owned()))?;
                let max_id = fields.iter().map(|(id, _)| id).max().unwrap_or(0).max(0) as usize;
                let mut branches: Vec<Option<Branch<'a>>> = (0..=max_id).map(|_| None).collect();
                for (id, field) in fields.iter() {
                    let Ok(slot) = usize::try_from(id) else { continue };
                    let child = union.child(id);
                    let key = serde_json::to_string(field.name()).map_err(|e| ArrowError::JsonError(e.to_string()))?;
                    branches[slot] = Some(Branch {
                        key,
                        encoder: arrow_json::writer::make_encoder(field, child.as_ref(), options)?,
                    });
                }
                let nulls = union.logical_nulls();
                return Ok(Some(NullableEncoder::new(
                    Box::new(UnionEncoder { union, branches }),
                    nulls,
                )));
            }
            _ => return Ok(None),
        };
        Ok(Some(NullableEncoder::new(encoder, nulls)))
    }
}

/// Writes a finite float as a JSON number and NaN/±infinity as the strings PostgreSQL's float input
/// reads.
fn write_float(v: f64, out: &mut Vec<u8>) {
    if v.is_nan() {
        out.extend_from_slice(b"\"NaN\"");
    } else if v == f64::INFINITY {
        out.extend_from_slice(b"\"Infinity\"");
    } else if v == f64::NEG_INFINITY {
        out.extend_from_slice(b"\"-Infinity\"");
    } else {
        // Debug prints the shortest text that reads back as the same value, with an exponent for
        // very large or small magnitudes: always a valid JSON number.
        let _ = write!(out, "{v:?}");
    }
}

struct Float64Encoder<'a>(&'a [f64]);

impl Encoder for Float64Encoder<'_> {
    fn encode(&mut self, idx: usize, out: &mut Vec<u8>) {
        write_float(self.0[idx], out);
    }
}

struct Float32Encoder<'a>(&'a [f32]);

impl Encoder for Float32Encoder<'_> {
    fn encode(&mut self, idx: usize, out: &mut Vec<u8>) {
        let v = self.0[idx];
        if v.is_finite() {
            // The shortest text of the f32 (0.1, not the 0.10000000149011612 of its f64 widening).
            let _ = write!(out, "{v:?}");
        } else {
            write_float(f64::from(v), out);
        }
    }
}

fn timestamp_values(array: &dyn Array, unit: TimeUnit) -> &[i64] {
    use arrow_array::types::*;
    match unit {
        TimeUnit::Second => array.as_primitive::<TimestampSecondType>().values(),
        TimeUnit::Millisecond => array.as_primitive::<TimestampMillisecondType>().values(),
        TimeUnit::Microsecond => array.as_primitive::<TimestampMicrosecondType>().values(),
        TimeUnit::Nanosecond => array.as_primitive::<TimestampNanosecondType>().values(),
    }
}

/// A timestamp as RFC 3339 text in UTC (`Z` when the type has a time zone: the stored value is UTC
/// whatever the zone); the zone's name is not needed, so any name works.
struct TimestampEncoder<'a> {
    values: &'a [i64],
    unit: TimeUnit,
    suffix: &'static str,
}

impl Encoder for TimestampEncoder<'_> {
    fn encode(&mut self, idx: usize, out: &mut Vec<u8>) {
        let v = self.values[idx];
        let datetime = match self.unit {
            TimeUnit::Second => timestamp_s_to_datetime(v),
            TimeUnit::Millisecond => timestamp_ms_to_datetime(v),
            TimeUnit::Microsecond => timestamp_us_to_datetime(v),
            TimeUnit::Nanosecond => timestamp_ns_to_datetime(v),
        };
        let _ = match datetime {
            Some(dt) => write!(out, "\"{}T{}{}\"", dt.date(), dt.time(), self.suffix),
            // PostgreSQL rejects this text in a timestamp column (a data error, not retried).
            None => write!(out, "\"out of range: {v}\""),
        };
    }
}

fn duration_values(array: &dyn Array, unit: TimeUnit) -> &[i64] {
    use arrow_array::types::*;
    match unit {
        TimeUnit::Second => array.as_primitive::<DurationSecondType>().values(),
        TimeUnit::Millisecond => array.as_primitive::<DurationMillisecondType>().values(),
        TimeUnit::Microsecond => array.as_primitive::<DurationMicrosecondType>().values(),
        TimeUnit::Nanosecond => array.as_primitive::<DurationNanosecondType>().values(),
    }
}

/// A duration as ISO 8601 seconds, `PT-1.500000000S`, which PostgreSQL's `interval` reads (rounding
/// to microseconds).
struct DurationEncoder<'a> {
    values: &'a [i64],
    unit: TimeUnit,
}

impl Encoder for DurationEncoder<'_> {
    fn encode(&mut self, idx: usize, out: &mut Vec<u8>) {
        let v = self.values[idx];
        let (per_second, digits) = match self.unit {
            TimeUnit::Second => (1, 0),
            TimeUnit::Millisecond => (1_000, 3),
            TimeUnit::Microsecond => (1_000_000, 6),
            TimeUnit::Nanosecond => (1_000_000_000, 9),
        };
        let sign = if v < 0 { "-" } else { "" };
        let abs = v.unsigned_abs();
        let _ = if digits == 0 {
            write!(out, "\"PT{sign}{abs}S\"")
        } else {
            write!(
                out,
                "\"PT{sign}{}.{:0digits$}S\"",
                abs / per_second,
                abs % per_second,
                digits = digits
            )
        };
    }
}

/// Writes map key `idx` as a JSON string.
type KeyWriter<'a> = Box<dyn Fn(usize, &mut Vec<u8>) + 'a>;

/// The keys of a map with integer or boolean keys, as JSON strings: `"7"`, `"true"`.
fn map_keys(keys: &dyn Array) -> Result<KeyWriter<'_>, ArrowError> {
    use arrow_array::types::*;
    fn integers<'a, T: arrow_array::ArrowPrimitiveType>(keys: &'a dyn Array) -> KeyWriter<'a>
    where
        T::Native: std::fmt::Display,
    {
        let keys = keys.as_primitive::<T>();
        Box::new(move |i, out| {
            let _ = write!(out, "\"{}\"", keys.value(i));
        })
    }
    Ok(match keys.data_type() {
        DataType::Boolean => {
            let keys = keys.as_boolean();
            Box::new(move |i, out| out.extend_from_slice(if keys.value(i) { b"\"true\"" } else { b"\"false\"" }))
        }
        DataType::Int8 => integers::<Int8Type>(keys),
        DataType::Int16 => integers::<Int16Type>(keys),
        DataType::Int32 => integers::<Int32Type>(keys),
        DataType::Int64 => integers::<Int64Type>(keys),
        DataType::UInt8 => integers::<UInt8Type>(keys),
        DataType::UInt16 => integers::<UInt16Type>(keys),
        DataType::UInt32 => integers::<UInt32Type>(keys),
        DataType::UInt64 => integers::<UInt64Type>(keys),
        t => {
            return Err(ArrowError::JsonError(format!(
                "map keys of type {t} cannot be JSON object keys"
            )));
        }
    })
}

/// A map with integer or boolean keys as a JSON object, entries in order, null values written out.
struct MapEncoder<'a> {
    offsets: &'a [i32],
    keys: KeyWriter<'a>,
    values: NullableEncoder<'a>,
}

impl Encoder for MapEncoder<'_> {
    fn encode(&mut self, idx: usize, out: &mut Vec<u8>) {
        let (start, end) = (self.offsets[idx] as usize, self.offsets[idx + 1] as usize);
        out.push(b'{');
        for i in start..end {
            if i > start {
                out.push(b',');
            }
            (self.keys)(i, out);
            out.push(b':');
            if self.values.is_null(i) {
                out.extend_from_slice(b"null");
            } else {
                self.values.encode(i, out);
            }
        }
        out.push(b'}');
    }
}

struct Branch<'a> {
    /// The branch name as a JSON string.
    key: String,
    encoder: NullableEncoder<'a>,
}

/// A union value as `{"branch": value}`, Avro's JSON encoding; the null branch is `null`.
struct UnionEncoder<'a> {
    union: &'a UnionArray,
    branches: Vec<Option<Branch<'a>>>,
}

impl Encoder for UnionEncoder<'_> {
    fn encode(&mut self, idx: usize, out: &mut Vec<u8>) {
        let offset = self.union.value_offset(idx);
        let branch = usize::try_from(self.union.type_id(idx))
            .ok()
            .and_then(|id| self.branches.get_mut(id))
            .and_then(Option::as_mut);
        match branch {
            Some(b) if !b.encoder.is_null(offset) => {
                out.push(b'{');
                out.extend_from_slice(b.key.as_bytes());
                out.push(b':');
                b.encoder.encode(offset, out);
                out.push(b'}');
            }
            _ => out.extend_from_slice(b"null"),
        }
    }
}

impl Warehouse {
    /// Inserts `rb` into the warehouse; rows PostgreSQL refuses as data (a NUL in a string, say) are
    /// isolated by halving under savepoints and returned with the reason, so one such event becomes a dead
    /// letter of the warehouse instead of stopping the pipeline. Retryable errors are returned as is.
    pub async fn insert_isolating(
        &self,
        conn: &mut PgConnection,
        event_type: &str,
        rb: &RecordBatch,
    ) -> Result<(u64, Vec<(usize, String)>), WarehouseError> {
        let mut inserted = 0;
        let mut refused = Vec::new();
        let mut pending = vec![(0usize, rb.num_rows())];
        while let Some((start, len)) = pending.pop() {
            if len == 0 {
                continue;
            }
            savepoint(conn, "SAVEPOINT murron_rows").await?;
            match self.insert(conn, event_type, &rb.slice(start, len)).await {
                Ok(n) => {
                    inserted += n;
                    savepoint(conn, "RELEASE SAVEPOINT murron_rows").await?;
                }
                Err(e) if !e.is_retryable() => {
                    savepoint(conn, "ROLLBACK TO SAVEPOINT murron_rows").await?;
                    if len == 1 {
                        refused.push((start, format!("warehouse refused the row: {e}")));
                    } else {
                        pending.push((start + len / 2, len - len / 2));
                        pending.push((start, len / 2));
                    }
                }
                Err(e) => return Err(e),
            }
        }
        Ok((inserted, refused))
    }
}

async fn savepoint(conn: &mut PgConnection, statement: &'static str) -> Result<(), StateError> {
    sqlx::query(statement).execute(conn).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::builder::{MapBuilder, StringBuilder};
    use arrow_array::types::Int32Type;
    use arrow_array::{
        ArrayRef, BinaryArray, DictionaryArray, Float32Array, Float64Array, Int32Array, StringArray,
        TimestampMicrosecondArray, TimestampNanosecondArray,
    };
    use arrow_schema::{Field, Fields, IntervalUnit, UnionFields, UnionMode};

    fn warehouse() -> Warehouse {
        Warehouse::new(WarehouseConfig::default())
    }

    /// A map type with entries named as arrow's `MapBuilder` names them.
    fn map_of(key: DataType, value: DataType) -> DataType {
        let entries = Field::new(
            "entries",
            DataType::Struct(Fields::from(vec![
                Field::new("keys", key, false),
                Field::new("values", value, true),
            ])),
            false,
        );
        DataType::Map(Arc::new(entries), false)
    }

    fn batch(columns: Vec<(&str, ArrayRef)>) -> RecordBatch {
        let fields: Vec<Field> = columns
            .iter()
            .map(|(n, a)| Field::new(*n, a.data_type().clone(), true))
            .collect();
        RecordBatch::try_new(
            Arc::new(Schema::new(fields)),
            columns.into_iter().map(|(_, a)| a).collect(),
        )
        .unwrap()
    }

    fn json(columns: Vec<(&str, ArrayRef)>) -> serde_json::Value {
        serde_json::from_str(&encode_json(&batch(columns)).unwrap()).unwrap()
    }

    #[test]
    fn table_names_are_sanitized_prefixed_and_quoted() {
        let wh = warehouse();
        assert_eq!(
            wh.table_for("billing.member_active"),
            r#""warehouse"."billing_member_active""#
        );
        assert_eq!(
            wh.table_for("Shop.Order-Created v2"),
            r#""warehouse"."shop_order_created_v2""#
        );
        assert_eq!(wh.table_for("café"), r#""warehouse"."caf_""#);
        assert_eq!(wh.table_for(""), r#""warehouse"."_""#);
        let wh = Warehouse::new(WarehouseConfig {
            schema: r#"my "wh""#.into(),
            table_prefix: "ev.".into(),
        });
        assert_eq!(wh.table_for("a.b"), r#""my ""wh"""."ev_a_b""#);
    }

    #[test]
    fn long_table_names_are_cut_to_63_bytes_and_stay_distinct() {
        let a = table_name("", &format!("{}.one", "x".repeat(70)));
        let b = table_name("", &format!("{}.two", "x".repeat(70)));
        assert_eq!(a.len(), 63);
        assert_eq!(b.len(), 63);
        assert_ne!(a, b);
        assert!(a.starts_with(&"x".repeat(54)));
        assert_eq!(table_name("", &"y".repeat(63)), "y".repeat(63));
    }

    #[test]
    fn arrow_types_map_to_postgres_types() {
        use DataType::*;
        let utf8_list = List(Arc::new(Field::new("item", Utf8, true)));
        let cases: Vec<(DataType, &str)> = vec![
            (Boolean, "boolean"),
            (Int8, "integer"),
            (Int16, "integer"),
            (Int32, "integer"),
            (UInt16, "integer"),
            (Int64, "bigint"),
            (UInt32, "bigint"),
            (UInt64, "numeric(20,0)"),
            (Float32, "real"),
            (Float64, "double precision"),
            (Utf8, "text"),
            (LargeUtf8, "text"),
            (Utf8View, "text"),
            (Dictionary(Box::new(Int32), Box::new(Utf8)), "text"),
            (Binary, "bytea"),
            (LargeBinary, "bytea"),
            (FixedSizeBinary(16), "bytea"),
            (Date32, "date"),
            (Time32(TimeUnit::Millisecond), "time without time zone"),
            (Time64(TimeUnit::Microsecond), "time without time zone"),
            (
                Timestamp(TimeUnit::Millisecond, Some("+00:00".into())),
                "timestamp with time zone",
            ),
            (
                Timestamp(TimeUnit::Nanosecond, Some("UTC".into())),
                "timestamp with time zone",
            ),
            (Timestamp(TimeUnit::Microsecond, None), "timestamp without time zone"),
            (Duration(TimeUnit::Nanosecond), "interval"),
            (Duration(TimeUnit::Second), "interval"),
            (Decimal128(10, 2), "numeric(10,2)"),
            (Decimal256(50, 0), "numeric(50,0)"),
            (Struct(Fields::from(vec![Field::new("a", Int32, true)])), "jsonb"),
            (utf8_list.clone(), "jsonb"),
            (LargeList(Arc::new(Field::new("item", Int64, true))), "jsonb"),
            (
                Union(
                    UnionFields::try_new(
                        vec![0, 1],
                        vec![Field::new("int", Int32, true), Field::new("string", Utf8, true)],
                    )
                    .unwrap(),
                    UnionMode::Dense,
                ),
                "jsonb",
            ),
            (Null, "text"),
            (map_of(Int32, Utf8), "jsonb"),
            (map_of(UInt64, Int64), "jsonb"),
            (map_of(Boolean, Duration(TimeUnit::Nanosecond)), "jsonb"),
        ];
        for (dt, want) in cases {
            assert_eq!(pg_type(&dt).as_deref(), Some(want), "{dt}");
        }
        let map = MapBuilder::new(None, StringBuilder::new(), StringBuilder::new()).finish();
        assert_eq!(pg_type(map.data_type()).as_deref(), Some("jsonb"));
    }

    #[test]
    fn types_without_a_column_type_are_unsupported() {
        use DataType::*;
        for dt in [
            Date64,
            Float16,
            Interval(IntervalUnit::MonthDayNano),
            Dictionary(Box::new(Int32), Box::new(Int64)),
            List(Arc::new(Field::new("item", Float16, true))),
            map_of(Binary, Utf8),
        ] {
            assert_eq!(pg_type(&dt), None, "{dt}");
        }
        let schema = Schema::new(vec![Field::new("span", Interval(IntervalUnit::MonthDayNano), true)]);
        match wanted_columns(&schema) {
            Err(e @ WarehouseError::Unsupported { .. }) => {
                assert!(!e.is_retryable());
                assert!(e.to_string().contains("\"span\""), "{e}");
            }
            other => panic!("expected Unsupported, got {other:?}"),
        }
    }

    #[test]
    fn column_names_postgres_cannot_hold_are_rejected() {
        for name in ["", "a\0b", &"n".repeat(64)] {
            let schema = Schema::new(vec![Field::new(name, DataType::Int32, true)]);
            assert!(
                matches!(wanted_columns(&schema), Err(WarehouseError::InvalidName { .. })),
                "{name:?}"
            );
        }
        let schema = Schema::new(vec![Field::new("n".repeat(63), DataType::Int32, true)]);
        assert!(wanted_columns(&schema).is_ok());
    }

    #[test]
    fn create_table_has_nullable_payload_not_null_metadata_and_the_uid_key() {
        let schema = Schema::new(vec![
            Field::new("amount", DataType::Decimal128(12, 2), false),
            Field::new("say \"hi\"", DataType::Utf8, true),
            Field::new("_murron_host", DataType::Utf8, false),
        ]);
        let wanted = wanted_columns(&schema).unwrap();
        let sql = create_table_sql(r#""warehouse"."t""#, &wanted);
        assert_eq!(
            sql,
            r#"CREATE TABLE IF NOT EXISTS "warehouse"."t" (
  "amount" numeric(12,2),
  "say ""hi""" text,
  "_murron_timestamp" timestamp with time zone NOT NULL,
  "_murron_host" text NOT NULL,
  "_murron_pid" integer NOT NULL,
  "_murron_offset" bigint NOT NULL,
  "_murron_tags" jsonb NOT NULL,
  "_kafka_topic" text NOT NULL,
  "_kafka_partition" integer NOT NULL,
  "_kafka_offset" bigint NOT NULL,
  "_schema_id" integer NOT NULL,
  PRIMARY KEY ("_murron_host", "_murron_pid", "_murron_offset")
)"#
        );
        let missing: Vec<&Wanted<'_>> = wanted.iter().take(2).collect();
        assert_eq!(
            add_columns_sql(r#""warehouse"."t""#, &missing),
            r#"ALTER TABLE "warehouse"."t" ADD COLUMN IF NOT EXISTS "amount" numeric(12,2), ADD COLUMN IF NOT EXISTS "say ""hi""" text"#
        );
    }

    #[test]
    fn insert_reads_typed_json_records_decodes_hex_and_skips_null_fields() {
        let schema = Schema::new(vec![
            Field::new("n", DataType::Int64, true),
            Field::new("blob", DataType::Binary, true),
            Field::new("nothing", DataType::Null, true),
            Field::new(
                "at",
                DataType::Timestamp(TimeUnit::Microsecond, Some("+00:00".into())),
                true,
            ),
        ]);
        assert_eq!(
            insert_sql(r#""warehouse"."t""#, &schema),
            r#"INSERT INTO "warehouse"."t" ("n", "blob", "at") SELECT x."n", decode(x."blob", 'hex'), x."at" FROM json_to_recordset($1::json) AS x("n" bigint, "blob" text, "at" timestamp with time zone) ON CONFLICT ("_murron_host", "_murron_pid", "_murron_offset") DO NOTHING"#
        );
    }

    #[test]
    fn wider_columns_accept_narrower_fields_and_nothing_else() {
        assert!(fits("integer", "integer"));
        assert!(fits("bigint", "integer"));
        assert!(fits("double precision", "real"));
        assert!(fits("double precision", "bigint"));
        assert!(fits("real", "integer"));
        assert!(fits("numeric(12,2)", "numeric(10,2)"));
        assert!(fits("numeric(12,4)", "numeric(10,2)"));
        assert!(fits("numeric", "numeric(10,2)"));
        assert!(!fits("numeric(12,2)", "numeric(12,4)"));
        assert!(!fits("numeric(10,2)", "numeric(12,2)"));
        assert!(!fits("integer", "bigint"));
        assert!(!fits("real", "double precision"));
        assert!(!fits("text", "integer"));
        assert!(!fits("bytea", "text"));
        assert!(!fits("timestamp with time zone", "timestamp without time zone"));
    }

    #[test]
    fn changed_field_type_is_unsupported_naming_the_column() {
        let columns: Columns = [
            ("count".to_owned(), "integer".to_owned()),
            ("other".to_owned(), "text".to_owned()),
        ]
        .into_iter()
        .collect();
        let v2 = Schema::new(vec![Field::new("count", DataType::Utf8, true)]);
        match check_columns(&columns, &wanted_columns(&v2).unwrap()) {
            Err(WarehouseError::Unsupported { column, data_type }) => {
                assert_eq!(column, "count");
                assert!(data_type.contains("integer"), "{data_type}");
            }
            other => panic!("expected Unsupported, got {other:?}"),
        }
        let null_field = Schema::new(vec![Field::new("count", DataType::Null, true)]);
        assert!(check_columns(&columns, &wanted_columns(&null_field).unwrap()).unwrap());
        let new_field = Schema::new(vec![Field::new("new", DataType::Int32, true)]);
        assert!(!check_columns(&columns, &wanted_columns(&new_field).unwrap()).unwrap());
    }

    #[test]
    fn non_finite_floats_are_written_as_strings_postgres_reads() {
        let v = json(vec![
            (
                "d",
                Arc::new(Float64Array::from(vec![
                    Some(1.5),
                    Some(f64::NAN),
                    Some(f64::INFINITY),
                    Some(f64::NEG_INFINITY),
                    None,
                ])),
            ),
            (
                "f",
                Arc::new(Float32Array::from(vec![
                    Some(0.1),
                    Some(f32::NAN),
                    Some(1e30),
                    Some(-0.0),
                    None,
                ])),
            ),
        ]);
        assert_eq!(
            v,
            serde_json::json!([
                {"d": 1.5, "f": 0.1},
                {"d": "NaN", "f": "NaN"},
                {"d": "Infinity", "f": 1e30},
                {"d": "-Infinity", "f": -0.0},
                {"d": null, "f": null},
            ])
        );
    }

    #[test]
    fn timestamps_are_rfc3339_in_utc_whatever_the_zone_name() {
        let v = json(vec![
            (
                "utc",
                Arc::new(TimestampMicrosecondArray::from(vec![Some(1_700_000_000_123_456), None]).with_timezone("UTC")),
            ),
            (
                "paris",
                Arc::new(
                    TimestampNanosecondArray::from(vec![Some(1_700_000_000_000_000_001), Some(0)])
                        .with_timezone("Europe/Paris"),
                ),
            ),
            (
                "local",
                Arc::new(TimestampMicrosecondArray::from(vec![Some(0), Some(1_500_000)])),
            ),
        ]);
        assert_eq!(
            v,
            serde_json::json!([
                {"utc": "2023-11-14T22:13:20.123456Z", "paris": "2023-11-14T22:13:20.000000001Z", "local": "1970-01-01T00:00:00"},
                {"utc": null, "paris": "1970-01-01T00:00:00Z", "local": "1970-01-01T00:00:01.500"},
            ])
        );
    }

    #[test]
    fn binary_is_hex_and_maps_dictionaries_and_unions_are_json() {
        let mut tags = MapBuilder::new(None, StringBuilder::new(), StringBuilder::new());
        tags.keys().append_value("env");
        tags.values().append_value("prod");
        tags.append(true).unwrap();
        tags.append(true).unwrap();
        let union_fields = UnionFields::try_new(
            vec![0, 1, 2],
            vec![
                Field::new("null", DataType::Null, true),
                Field::new("int", DataType::Int32, false),
                Field::new("string", DataType::Utf8, false),
            ],
        )
        .unwrap();
        let union = UnionArray::try_new(
            union_fields,
            vec![1i8, 2].into(),
            Some(vec![0i32, 0].into()),
            vec![
                Arc::new(arrow_array::NullArray::new(0)) as ArrayRef,
                Arc::new(Int32Array::from(vec![7])),
                Arc::new(StringArray::from(vec!["x"])),
            ],
        )
        .unwrap();
        let null_union = UnionArray::try_new(
            UnionFields::try_new(
                vec![0, 1],
                vec![
                    Field::new("null", DataType::Null, true),
                    Field::new("int", DataType::Int32, false),
                ],
            )
            .unwrap(),
            vec![0i8, 1].into(),
            Some(vec![0i32, 0].into()),
            vec![
                Arc::new(arrow_array::NullArray::new(1)) as ArrayRef,
                Arc::new(Int32Array::from(vec![3])),
            ],
        )
        .unwrap();
        let v = json(vec![
            ("blob", Arc::new(BinaryArray::from(vec![Some(&b"\x00\xffA"[..]), None]))),
            ("tags", Arc::new(tags.finish())),
            (
                "kind",
                Arc::new(
                    DictionaryArray::<Int32Type>::try_new(
                        Int32Array::from(vec![1, 0]),
                        Arc::new(StringArray::from(vec!["A", "B"])),
                    )
                    .unwrap(),
                ),
            ),
            ("choice", Arc::new(union)),
            ("maybe", Arc::new(null_union)),
        ]);
        assert_eq!(
            v,
            serde_json::json!([
                {"blob": "00ff41", "tags": {"env": "prod"}, "kind": "B", "choice": {"int": 7}, "maybe": null},
                {"blob": null, "tags": {}, "kind": "A", "choice": {"string": "x"}, "maybe": {"int": 3}},
            ])
        );
    }

    #[test]
    fn integer_and_boolean_map_keys_are_json_object_keys() {
        use arrow_array::builder::{BooleanBuilder, Int64Builder, ListBuilder, UInt64Builder};
        let mut by_id = MapBuilder::new(None, Int64Builder::new(), StringBuilder::new());
        by_id.keys().append_value(-7);
        by_id.values().append_value("minus seven");
        by_id.keys().append_value(3);
        by_id.values().append_null();
        by_id.append(true).unwrap();
        by_id.append(true).unwrap();
        let flags = || MapBuilder::new(None, BooleanBuilder::new(), UInt64Builder::new());
        let mut by_flag = flags();
        by_flag.keys().append_value(true);
        by_flag.values().append_value(u64::MAX);
        by_flag.append(true).unwrap();
        by_flag.keys().append_value(false);
        by_flag.values().append_value(0);
        by_flag.append(true).unwrap();
        // Nested in a list, the factory is asked again for the inner maps.
        let mut nested = ListBuilder::new(flags());
        nested.values().keys().append_value(false);
        nested.values().values().append_value(1);
        nested.values().append(true).unwrap();
        nested.values().append(true).unwrap();
        nested.append(true);
        nested.append(true);
        let v = encode_json(&batch(vec![
            ("by_id", Arc::new(by_id.finish()) as ArrayRef),
            ("by_flag", Arc::new(by_flag.finish())),
            ("nested", Arc::new(nested.finish())),
        ]))
        .unwrap();
        // Checked as text: a u64 beyond 2^53 must stay exact.
        assert_eq!(
            v,
            r#"[{"by_id":{"-7":"minus seven","3":null},"by_flag":{"true":18446744073709551615},"nested":[{"false":1},{}]},{"by_id":{},"by_flag":{"false":0},"nested":[]}]"#
        );
    }

    #[test]
    fn durations_are_iso_8601_seconds_that_an_interval_column_reads() {
        use arrow_array::{DurationMicrosecondArray, DurationNanosecondArray, DurationSecondArray};
        let v = json(vec![
            (
                "ns",
                Arc::new(DurationNanosecondArray::from(vec![
                    Some(-1_500_000_000),
                    Some(i64::MIN),
                    None,
                ])) as ArrayRef,
            ),
            (
                "us",
                Arc::new(DurationMicrosecondArray::from(vec![Some(1), Some(0), Some(i64::MAX)])),
            ),
            (
                "s",
                Arc::new(DurationSecondArray::from(vec![Some(-3), Some(0), Some(86_400)])),
            ),
        ]);
        assert_eq!(
            v,
            serde_json::json!([
                {"ns": "PT-1.500000000S", "us": "PT0.000001S", "s": "PT-3S"},
                {"ns": "PT-9223372036.854775808S", "us": "PT0.000000S", "s": "PT0S"},
                {"ns": null, "us": "PT9223372036854.775807S", "s": "PT86400S"},
            ])
        );
        let schema = Schema::new(vec![Field::new("d", DataType::Duration(TimeUnit::Nanosecond), true)]);
        assert!(insert_sql("t", &schema).contains(r#""d" interval"#));
    }

    #[test]
    fn only_database_errors_about_the_connection_or_server_state_are_retryable() {
        assert!(WarehouseError::Database(sqlx::Error::PoolTimedOut).is_retryable());
        assert!(!WarehouseError::Encode("x".into()).is_retryable());
        assert!(!WarehouseError::MissingMetadata("_murron_host").is_retryable());
    }

    #[test]
    fn large_rows_make_smaller_chunks() {
        let small = batch(vec![("n", Arc::new(Int32Array::from(vec![1; 100])) as ArrayRef)]);
        assert_eq!(chunk_rows(&small), MAX_CHUNK_ROWS);
        let big_value = "x".repeat(1 << 20);
        let big = batch(vec![(
            "s",
            Arc::new(StringArray::from(vec![big_value.as_str(); 40])) as ArrayRef,
        )]);
        let rows = chunk_rows(&big);
        assert!((1..16).contains(&rows), "{rows}");
    }
}
