//! The PostgreSQL warehouse (`sink_worker::state::warehouse`) against the local stack's PostgreSQL:
//! typed tables, exact values, idempotent inserts, transactions, schema evolution and racing workers.

mod common;

use std::ops::Range;
use std::sync::Arc;
use std::time::Duration;

use arrow_array::builder::{Int64Builder, ListBuilder, MapBuilder, StringBuilder};
use arrow_array::types::Int32Type;
use arrow_array::{
    ArrayRef, BinaryArray, BooleanArray, Date32Array, Decimal128Array, DictionaryArray, FixedSizeBinaryArray,
    Float32Array, Float64Array, Int32Array, Int64Array, LargeBinaryArray, LargeStringArray, NullArray, RecordBatch,
    StringArray, StringViewArray, StructArray, Time32MillisecondArray, Time64MicrosecondArray,
    TimestampMicrosecondArray, TimestampMillisecondArray, TimestampNanosecondArray, UnionArray,
};
use arrow_schema::{DataType, Field, Schema, UnionFields};
use sink_worker::config::outputs::WarehouseConfig;
use sink_worker::state::warehouse::{Warehouse, WarehouseError};
use sqlx::{PgPool, Row};

async fn pool() -> PgPool {
    let url = common::fresh_database().await;
    PgPool::connect(&url).await.expect("connect to the test database")
}

fn warehouse() -> Warehouse {
    Warehouse::new(WarehouseConfig::default())
}

/// A batch of `payload` columns plus the sink's metadata columns; the rows' UIDs are
/// (`host`, 42, offset) for each offset of `offsets`.
fn with_metadata(payload: Vec<(&str, ArrayRef)>, host: &str, offsets: Range<i64>) -> RecordBatch {
    with_metadata_at(payload, host, &offsets.collect::<Vec<_>>())
}

/// [`with_metadata`] for any list of offsets (repeats make duplicate UIDs).
fn with_metadata_at(payload: Vec<(&str, ArrayRef)>, host: &str, offsets: &[i64]) -> RecordBatch {
    let rows = offsets.len();
    let offsets = || offsets.iter().copied();
    let mut tags = MapBuilder::new(None, StringBuilder::new(), StringBuilder::new());
    for _ in 0..rows {
        tags.keys().append_value("env");
        tags.values().append_value("test");
        tags.append(true).unwrap();
    }
    let metadata: Vec<(&str, ArrayRef)> = vec![
        (
            "_murron_timestamp",
            Arc::new(
                TimestampMicrosecondArray::from_iter_values(offsets().map(|o| 1_700_000_000_000_000 + o))
                    .with_timezone("+00:00"),
            ),
        ),
        (
            "_murron_host",
            Arc::new(StringArray::from_iter_values(offsets().map(|_| host))),
        ),
        (
            "_murron_pid",
            Arc::new(Int32Array::from_iter_values(offsets().map(|_| 42))),
        ),
        ("_murron_offset", Arc::new(Int64Array::from_iter_values(offsets()))),
        ("_murron_tags", Arc::new(tags.finish())),
        (
            "_kafka_topic",
            Arc::new(StringArray::from_iter_values(offsets().map(|_| "events"))),
        ),
        (
            "_kafka_partition",
            Arc::new(Int32Array::from_iter_values(offsets().map(|_| 3))),
        ),
        (
            "_kafka_offset",
            Arc::new(Int64Array::from_iter_values(offsets().map(|o| 1000 + o))),
        ),
        (
            "_schema_id",
            Arc::new(Int32Array::from_iter_values(offsets().map(|_| 7))),
        ),
    ];
    let mut fields = Vec::new();
    let mut columns = Vec::new();
    for (name, array) in payload {
        fields.push(Field::new(name, array.data_type().clone(), true));
        columns.push(array);
    }
    for (name, array) in metadata {
        fields.push(Field::new(name, array.data_type().clone(), false));
        columns.push(array);
    }
    RecordBatch::try_new(Arc::new(Schema::new(fields)), columns).unwrap()
}

/// A small payload: one Int32 column `n` with values `offsets`.
fn simple(host: &str, offsets: Range<i64>) -> RecordBatch {
    simple_offsets(host, &offsets.collect::<Vec<_>>())
}

/// [`simple`] at any list of offsets.
fn simple_offsets(host: &str, offsets: &[i64]) -> RecordBatch {
    let n: ArrayRef = Arc::new(Int32Array::from_iter_values(offsets.iter().map(|o| *o as i32)));
    with_metadata_at(vec![("n", n)], host, offsets)
}

/// `ensure_table` and `insert` in one transaction, committed; returns the rows inserted.
async fn load(pool: &PgPool, wh: &Warehouse, event_type: &str, batch: &RecordBatch) -> Result<u64, WarehouseError> {
    let mut tx = pool.begin().await?;
    wh.ensure_table(&mut tx, event_type, &batch.schema()).await?;
    let n = wh.insert(&mut tx, event_type, batch).await?;
    tx.commit().await?;
    Ok(n)
}

/// [`load`] retried like the writer retries a batch: only on retryable errors, a few times.
async fn load_with_retries(pool: &PgPool, wh: &Warehouse, event_type: &str, batch: &RecordBatch) -> u64 {
    let mut attempt = 0;
    loop {
        attempt += 1;
        match load(pool, wh, event_type, batch).await {
            Ok(n) => return n,
            Err(e) if e.is_retryable() && attempt < 3 => {}
            Err(e) => panic!("attempt {attempt}: {e}"),
        }
    }
}

async fn count(pool: &PgPool, table: &str) -> i64 {
    sqlx::query_scalar(sqlx::AssertSqlSafe(format!("SELECT count(*) FROM {table}")))
        .fetch_one(pool)
        .await
        .unwrap()
}

async fn table_exists(pool: &PgPool, table: &str) -> bool {
    sqlx::query_scalar::<_, bool>("SELECT to_regclass($1) IS NOT NULL")
        .bind(table)
        .fetch_one(pool)
        .await
        .unwrap()
}

/// Column name -> (type, NOT NULL) of `table`.
async fn columns(pool: &PgPool, table: &str) -> Vec<(String, String, bool)> {
    sqlx::query(
        "SELECT attname::text, format_type(atttypid, atttypmod), attnotnull FROM pg_attribute \
         WHERE attrelid = to_regclass($1) AND attnum > 0 AND NOT attisdropped ORDER BY attnum",
    )
    .bind(table)
    .fetch_all(pool)
    .await
    .unwrap()
    .iter()
    .map(|r| (r.get(0), r.get(1), r.get(2)))
    .collect()
}

/// Every listed column of `table` as text, ordered by `_murron_offset`.
async fn texts(pool: &PgPool, table: &str, cols: &[&str]) -> Vec<Vec<Option<String>>> {
    let list: Vec<String> = cols.iter().map(|c| format!("\"{c}\"::text")).collect();
    let sql = format!("SELECT {} FROM {table} ORDER BY _murron_offset", list.join(", "));
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .fetch_all(pool)
        .await
        .unwrap()
        .iter()
        .map(|r| (0..cols.len()).map(|i| r.get::<Option<String>, _>(i)).collect())
        .collect()
}

/// One column of every Arrow type the sink produces; row 0 has values, row 1 nulls, row 2 edge values.
fn every_type() -> RecordBatch {
    let mut items = ListBuilder::new(Int64Builder::new());
    items.values().append_slice(&[1, 2, 3]);
    items.append(true);
    items.append(false);
    items.append(true);
    let mut attrs = MapBuilder::new(None, StringBuilder::new(), StringBuilder::new());
    attrs.keys().append_value("k");
    attrs.values().append_value("v");
    attrs.append(true).unwrap();
    attrs.append(false).unwrap();
    attrs.keys().append_value("a\"b");
    attrs.values().append_null();
    attrs.append(true).unwrap();
    let rec = StructArray::try_new(
        vec![
            Field::new("a", DataType::Int32, true),
            Field::new("b", DataType::Utf8, true),
        ]
        .into(),
        vec![
            Arc::new(Int32Array::from(vec![Some(1), None, Some(2)])) as ArrayRef,
            Arc::new(StringArray::from(vec![Some("x"), None, None])),
        ],
        Some(vec![true, false, true].into()),
    )
    .unwrap();
    // Avro ["null", "int", "string", "double"] decodes to a dense union (not a nullable column).
    let choice = UnionArray::try_new(
        UnionFields::try_new(
            vec![0, 1, 2, 3],
            vec![
                Field::new("null", DataType::Null, true),
                Field::new("int", DataType::Int32, false),
                Field::new("string", DataType::Utf8, false),
                Field::new("double", DataType::Float64, false),
            ],
        )
        .unwrap(),
        vec![1i8, 0, 2].into(),
        Some(vec![0i32, 0, 0].into()),
        vec![
            Arc::new(NullArray::new(1)) as ArrayRef,
            Arc::new(Int32Array::from(vec![7])),
            Arc::new(StringArray::from(vec!["seven"])),
            Arc::new(Float64Array::from(Vec::<f64>::new())),
        ],
    )
    .unwrap();
    let payload: Vec<(&str, ArrayRef)> = vec![
        (
            "flag",
            Arc::new(BooleanArray::from(vec![Some(true), None, Some(false)])),
        ),
        ("small", Arc::new(Int32Array::from(vec![Some(1), None, Some(i32::MIN)]))),
        ("big", Arc::new(Int64Array::from(vec![Some(1), None, Some(i64::MAX)]))),
        (
            "f32",
            Arc::new(Float32Array::from(vec![Some(0.1), None, Some(f32::NAN)])),
        ),
        (
            "f64",
            Arc::new(Float64Array::from(vec![Some(1.5e300), None, Some(f64::NEG_INFINITY)])),
        ),
        (
            "text",
            Arc::new(StringArray::from(vec![
                Some("he said \"hi\" \\ é\nnext\tline"),
                None,
                Some(""),
            ])),
        ),
        (
            "large_text",
            Arc::new(LargeStringArray::from(vec![Some("large"), None, Some("ü")])),
        ),
        (
            "view_text",
            Arc::new(StringViewArray::from(vec![
                Some("a string longer than twelve bytes"),
                None,
                Some("v"),
            ])),
        ),
        (
            "bytes",
            Arc::new(BinaryArray::from(vec![Some(&b"\x00\xffA"[..]), None, Some(&b""[..])])),
        ),
        (
            "large_bytes",
            Arc::new(LargeBinaryArray::from(vec![Some(&b"\x01"[..]), None, Some(&b"z"[..])])),
        ),
        (
            "fixed",
            Arc::new(
                FixedSizeBinaryArray::try_from_sparse_iter_with_size(
                    vec![Some(vec![0xde, 0xad, 0xbe, 0xef]), None, Some(vec![0, 0, 0, 1])].into_iter(),
                    4,
                )
                .unwrap(),
            ),
        ),
        (
            "kind",
            Arc::new(
                DictionaryArray::<Int32Type>::try_new(
                    Int32Array::from(vec![Some(1), None, Some(0)]),
                    Arc::new(StringArray::from(vec!["RED", "GREEN"])),
                )
                .unwrap(),
            ),
        ),
        (
            "day",
            Arc::new(Date32Array::from(vec![Some(19_675), None, Some(-719_162)])),
        ),
        (
            "at_ms",
            Arc::new(Time32MillisecondArray::from(vec![Some(45_296_789), None, Some(0)])),
        ),
        (
            "at_us",
            Arc::new(Time64MicrosecondArray::from(vec![
                Some(45_296_789_012),
                None,
                Some(86_399_999_999),
            ])),
        ),
        (
            "ts_ms",
            Arc::new(
                TimestampMillisecondArray::from(vec![Some(1_700_000_000_123), None, Some(-1)]).with_timezone("+00:00"),
            ),
        ),
        (
            "ts_local",
            Arc::new(TimestampMicrosecondArray::from(vec![
                Some(1_700_000_000_123_456),
                None,
                Some(0),
            ])),
        ),
        (
            "ts_ns",
            Arc::new(
                TimestampNanosecondArray::from(vec![Some(1_700_000_000_123_456_789), None, Some(1)])
                    .with_timezone("UTC"),
            ),
        ),
        (
            "amount",
            Arc::new(
                Decimal128Array::from(vec![Some(12_345_678), None, Some(-5)])
                    .with_precision_and_scale(12, 2)
                    .unwrap(),
            ),
        ),
        ("rec", Arc::new(rec)),
        ("items", Arc::new(items.finish())),
        ("attrs", Arc::new(attrs.finish())),
        ("choice", Arc::new(choice)),
        ("nothing", Arc::new(NullArray::new(3))),
    ];
    with_metadata(payload, "host-a", 0..3)
}

#[tokio::test]
async fn every_arrow_type_lands_in_a_typed_column_with_its_exact_value() {
    let pool = pool().await;
    let wh = warehouse();
    let batch = every_type();
    assert_eq!(load(&pool, &wh, "test.every_type", &batch).await.unwrap(), 3);

    let table = "\"warehouse\".\"test_every_type\"";
    assert_eq!(wh.table_for("test.every_type"), table);
    let expected_types = [
        ("flag", "boolean"),
        ("small", "integer"),
        ("big", "bigint"),
        ("f32", "real"),
        ("f64", "double precision"),
        ("text", "text"),
        ("large_text", "text"),
        ("view_text", "text"),
        ("bytes", "bytea"),
        ("large_bytes", "bytea"),
        ("fixed", "bytea"),
        ("kind", "text"),
        ("day", "date"),
        ("at_ms", "time without time zone"),
        ("at_us", "time without time zone"),
        ("ts_ms", "timestamp with time zone"),
        ("ts_local", "timestamp without time zone"),
        ("ts_ns", "timestamp with time zone"),
        ("amount", "numeric(12,2)"),
        ("rec", "jsonb"),
        ("items", "jsonb"),
        ("attrs", "jsonb"),
        ("choice", "jsonb"),
        ("nothing", "text"),
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
    let actual = columns(&pool, table).await;
    let actual_types: Vec<(&str, &str)> = actual.iter().map(|(n, t, _)| (n.as_str(), t.as_str())).collect();
    assert_eq!(actual_types, expected_types);
    for (name, _, not_null) in &actual {
        assert_eq!(*not_null, name.starts_with('_'), "NOT NULL of {name}");
    }
    let pk: String = sqlx::query_scalar(
        "SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE conrelid = to_regclass($1) AND contype = 'p'",
    )
    .bind(table)
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(pk, "PRIMARY KEY (_murron_host, _murron_pid, _murron_offset)");

    let names: Vec<&str> = expected_types.iter().map(|(n, _)| *n).collect();
    let rows = texts(&pool, table, &names).await;
    let s = |v: &str| Some(v.to_owned());
    let metadata = |offset: i64| {
        vec![
            // PostgreSQL prints no fraction when there is none.
            s(&match offset {
                0 => "2023-11-14 22:13:20+00".to_owned(),
                o => format!("2023-11-14 22:13:20.00000{o}+00"),
            }),
            s("host-a"),
            s("42"),
            s(&offset.to_string()),
            s(r#"{"env": "test"}"#),
            s("events"),
            s("3"),
            s(&(1000 + offset).to_string()),
            s("7"),
        ]
    };
    let mut row0 = vec![
        s("true"),
        s("1"),
        s("1"),
        s("0.1"),
        s("1.5e+300"),
        s("he said \"hi\" \\ é\nnext\tline"),
        s("large"),
        s("a string longer than twelve bytes"),
        s("\\x00ff41"),
        s("\\x01"),
        s("\\xdeadbeef"),
        s("GREEN"),
        s("2023-11-14"),
        s("12:34:56.789"),
        s("12:34:56.789012"),
        s("2023-11-14 22:13:20.123+00"),
        s("2023-11-14 22:13:20.123456"),
        // PostgreSQL keeps microseconds: nanoseconds are rounded.
        s("2023-11-14 22:13:20.123457+00"),
        s("123456.78"),
        s(r#"{"a": 1, "b": "x"}"#),
        s("[1, 2, 3]"),
        s(r#"{"k": "v"}"#),
        s(r#"{"int": 7}"#),
        None,
    ];
    row0.extend(metadata(0));
    let mut row1 = vec![None; 24];
    row1.extend(metadata(1));
    let mut row2 = vec![
        s("false"),
        s("-2147483648"),
        s("9223372036854775807"),
        s("NaN"),
        s("-Infinity"),
        s(""),
        s("ü"),
        s("v"),
        s("\\x"),
        s("\\x7a"),
        s("\\x00000001"),
        s("RED"),
        s("0001-01-01"),
        s("00:00:00"),
        s("23:59:59.999999"),
        s("1969-12-31 23:59:59.999+00"),
        s("1970-01-01 00:00:00"),
        s("1970-01-01 00:00:00+00"),
        s("-0.05"),
        s(r#"{"a": 2, "b": null}"#),
        s("[]"),
        s(r#"{"a\"b": null}"#),
        s(r#"{"string": "seven"}"#),
        None,
    ];
    row2.extend(metadata(2));
    assert_eq!(rows, vec![row0, row1, row2]);

    // Typed reads agree with the text: the floats are the very values, NaN included.
    let (f32s, f64s): (Option<f32>, Option<f64>) = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT f32, f64 FROM {table} WHERE _murron_offset = 0"
    )))
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!((f32s, f64s), (Some(0.1f32), Some(1.5e300)));
    let nan: f32 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "SELECT f32 FROM {table} WHERE _murron_offset = 2"
    )))
    .fetch_one(&pool)
    .await
    .unwrap();
    assert!(nan.is_nan());
}

#[tokio::test]
async fn psql_reads_the_rows() {
    let url = common::fresh_database().await;
    let pool = PgPool::connect(&url).await.unwrap();
    let wh = warehouse();
    assert_eq!(
        load(&pool, &wh, "billing.member_active", &every_type()).await.unwrap(),
        3
    );
    let psql = |sql: &str| {
        let out = std::process::Command::new("psql")
            .arg(&url)
            .args(["-X", "-At", "-c", sql])
            .output()
            .expect("run psql (the PostgreSQL client must be installed)");
        assert!(
            out.status.success(),
            "psql failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    assert_eq!(psql("SELECT count(*) FROM warehouse.billing_member_active"), "3\n");
    assert_eq!(
        psql(
            "SET TIME ZONE 'UTC'; SELECT text, encode(bytes, 'hex'), ts_ms, rec->>'b', choice->>'int' \
             FROM warehouse.billing_member_active WHERE _murron_offset = 0"
        ),
        "SET\nhe said \"hi\" \\ é\nnext\tline|00ff41|2023-11-14 22:13:20.123+00|x|7\n"
    );
}

#[tokio::test]
async fn inserting_the_same_batch_twice_inserts_nothing_the_second_time() {
    let pool = pool().await;
    let wh = warehouse();
    let batch = simple("host-a", 0..100);
    assert_eq!(load(&pool, &wh, "dup", &batch).await.unwrap(), 100);
    assert_eq!(load(&pool, &wh, "dup", &batch).await.unwrap(), 0);
    // A batch overlapping earlier rows inserts only the new ones; another host's offsets are new UIDs.
    assert_eq!(load(&pool, &wh, "dup", &simple("host-a", 50..150)).await.unwrap(), 50);
    assert_eq!(load(&pool, &wh, "dup", &simple("host-b", 0..100)).await.unwrap(), 100);
    // A fresh worker (empty cache) sees the same.
    assert_eq!(load(&pool, &warehouse(), "dup", &batch).await.unwrap(), 0);
    assert_eq!(count(&pool, "warehouse.dup").await, 250);
}

#[tokio::test]
async fn duplicate_uids_within_one_batch_are_inserted_once() {
    let pool = pool().await;
    let wh = warehouse();
    let doubled = simple_offsets("host-a", &[0, 1, 2, 0, 1, 2, 3]);
    assert_eq!(load(&pool, &wh, "dup_in_batch", &doubled).await.unwrap(), 4);
    assert_eq!(count(&pool, "warehouse.dup_in_batch").await, 4);
}

#[tokio::test]
async fn a_rolled_back_transaction_leaves_no_rows() {
    let pool = pool().await;
    let wh = warehouse();
    assert_eq!(
        load(&pool, &wh, "rollback", &simple("host-a", 0..10)).await.unwrap(),
        10
    );

    let mut tx = pool.begin().await.unwrap();
    let batch = simple("host-a", 10..20);
    wh.ensure_table(&mut tx, "rollback", &batch.schema()).await.unwrap();
    assert_eq!(wh.insert(&mut tx, "rollback", &batch).await.unwrap(), 10);
    tx.rollback().await.unwrap();
    assert_eq!(count(&pool, "warehouse.rollback").await, 10);

    // The same batch again (the writer's retry) inserts all of it.
    assert_eq!(load(&pool, &wh, "rollback", &batch).await.unwrap(), 10);
    assert_eq!(count(&pool, "warehouse.rollback").await, 20);
}

#[tokio::test]
async fn a_rolled_back_transaction_that_created_the_table_is_redone_by_the_retry() {
    let pool = pool().await;
    let wh = warehouse();
    let batch = simple("host-a", 0..10);
    let mut tx = pool.begin().await.unwrap();
    wh.ensure_table(&mut tx, "undone", &batch.schema()).await.unwrap();
    assert_eq!(wh.insert(&mut tx, "undone", &batch).await.unwrap(), 10);
    tx.rollback().await.unwrap();
    assert!(!table_exists(&pool, "warehouse.undone").await);

    // The cache still believes in the table; the writer's retries bring it back.
    assert_eq!(load_with_retries(&pool, &wh, "undone", &batch).await, 10);
    assert_eq!(count(&pool, "warehouse.undone").await, 10);
}

#[tokio::test]
async fn a_new_field_adds_a_nullable_column_that_old_rows_read_as_null() {
    let pool = pool().await;
    let wh = warehouse();
    assert_eq!(load(&pool, &wh, "evolve", &simple("host-a", 0..2)).await.unwrap(), 2);

    let v2 = |offsets: Range<i64>| {
        let n: ArrayRef = Arc::new(Int32Array::from_iter_values(offsets.clone().map(|o| o as i32)));
        let note: ArrayRef = Arc::new(StringArray::from_iter_values(
            offsets.clone().map(|o| format!("note {o}")),
        ));
        with_metadata(vec![("n", n), ("note", note)], "host-a", offsets)
    };
    assert_eq!(load(&pool, &wh, "evolve", &v2(2..4)).await.unwrap(), 2);
    // Version 1 still loads after version 2, with NULL in the column it does not have.
    assert_eq!(load(&pool, &wh, "evolve", &simple("host-a", 4..5)).await.unwrap(), 1);

    let table = "\"warehouse\".\"evolve\"";
    let note = columns(&pool, table)
        .await
        .into_iter()
        .find(|(n, _, _)| n == "note")
        .unwrap();
    assert_eq!(note, ("note".to_owned(), "text".to_owned(), false));
    let rows = texts(&pool, table, &["n", "note"]).await;
    let s = |v: &str| Some(v.to_owned());
    assert_eq!(
        rows,
        vec![
            vec![s("0"), None],
            vec![s("1"), None],
            vec![s("2"), s("note 2")],
            vec![s("3"), s("note 3")],
            vec![s("4"), None],
        ]
    );
}

#[tokio::test]
async fn a_field_whose_type_changed_is_unsupported_and_names_the_column() {
    let pool = pool().await;
    let wh = warehouse();
    assert_eq!(load(&pool, &wh, "retyped", &simple("host-a", 0..2)).await.unwrap(), 2);

    let as_text: ArrayRef = Arc::new(StringArray::from(vec!["two"]));
    let batch = with_metadata(vec![("n", as_text)], "host-a", 2..3);
    for wh in [&wh, &warehouse()] {
        match load(&pool, wh, "retyped", &batch).await {
            Err(e @ WarehouseError::Unsupported { .. }) => {
                assert!(!e.is_retryable());
                let WarehouseError::Unsupported { column, .. } = &e else {
                    unreachable!()
                };
                assert_eq!(column, "n", "{e}");
            }
            other => panic!("expected Unsupported, got {other:?}"),
        }
    }

    // A narrower type fits the existing column (Avro's int to long promotion, read the other way).
    let wide: ArrayRef = Arc::new(Int64Array::from(vec![3]));
    assert_eq!(
        load(&pool, &wh, "widen", &with_metadata(vec![("n", wide)], "host-a", 0..1))
            .await
            .unwrap(),
        1
    );
    assert_eq!(load(&pool, &wh, "widen", &simple("host-a", 1..2)).await.unwrap(), 1);
    assert_eq!(count(&pool, "warehouse.widen").await, 2);
}

/// Two workers (each with its own cache and transaction) bring the same table up to date at once:
/// the second one's DDL waits for the first transaction and both succeed.
async fn race(pool: &PgPool, event_type: &str, first: RecordBatch, second: RecordBatch) {
    let (created_tx, created_rx) = tokio::sync::oneshot::channel::<()>();
    let a = async {
        let wh = warehouse();
        let mut tx = pool.begin().await.unwrap();
        wh.ensure_table(&mut tx, event_type, &first.schema()).await.unwrap();
        created_tx.send(()).unwrap();
        // Let the other worker run into the uncommitted DDL before committing.
        tokio::time::sleep(Duration::from_millis(300)).await;
        let n = wh.insert(&mut tx, event_type, &first).await.unwrap();
        tx.commit().await.unwrap();
        n
    };
    let b = async {
        created_rx.await.unwrap();
        let wh = warehouse();
        let mut tx = pool.begin().await.unwrap();
        wh.ensure_table(&mut tx, event_type, &second.schema()).await.unwrap();
        let n = wh.insert(&mut tx, event_type, &second).await.unwrap();
        tx.commit().await.unwrap();
        n
    };
    let (na, nb) = tokio::join!(a, b);
    assert_eq!((na, nb), (first.num_rows() as u64, second.num_rows() as u64));
}

#[tokio::test]
async fn two_workers_creating_the_same_table_at_once_both_succeed() {
    let pool = pool().await;
    race(&pool, "raced", simple("host-a", 0..5), simple("host-b", 0..5)).await;
    assert_eq!(count(&pool, "warehouse.raced").await, 10);

    // Without a transaction around them too.
    let batch = simple("host-c", 0..1);
    let (a, b) = (warehouse(), warehouse());
    let (mut ca, mut cb) = (pool.acquire().await.unwrap(), pool.acquire().await.unwrap());
    let (ra, rb) = tokio::join!(
        a.ensure_table(&mut ca, "raced_autocommit", batch.schema_ref()),
        b.ensure_table(&mut cb, "raced_autocommit", batch.schema_ref())
    );
    ra.unwrap();
    rb.unwrap();
    assert!(table_exists(&pool, "warehouse.raced_autocommit").await);
}

#[tokio::test]
async fn two_workers_adding_the_same_column_at_once_both_succeed() {
    let pool = pool().await;
    assert_eq!(
        load(&pool, &warehouse(), "raced_column", &simple("host-a", 0..1))
            .await
            .unwrap(),
        1
    );
    let v2 = |host: &str| {
        let n: ArrayRef = Arc::new(Int32Array::from(vec![1]));
        let extra: ArrayRef = Arc::new(Float64Array::from(vec![2.5]));
        with_metadata(vec![("n", n), ("extra", extra)], host, 1..2)
    };
    race(&pool, "raced_column", v2("host-a"), v2("host-b")).await;
    assert_eq!(count(&pool, "warehouse.raced_column").await, 3);
}

#[tokio::test]
async fn a_large_batch_is_loaded_in_chunks() {
    let pool = pool().await;
    let wh = warehouse();
    let batch = simple("host-a", 0..25_000);
    assert_eq!(load(&pool, &wh, "large", &batch).await.unwrap(), 25_000);
    assert_eq!(count(&pool, "warehouse.large").await, 25_000);
    let sum: i64 = sqlx::query_scalar("SELECT sum(n)::int8 FROM warehouse.large")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(sum, (0..25_000i64).sum::<i64>());
}

#[tokio::test]
async fn config_sets_the_schema_and_the_table_prefix() {
    let pool = pool().await;
    let wh = Warehouse::new(WarehouseConfig {
        schema: "Analytics".into(),
        table_prefix: "ev_".into(),
    });
    assert_eq!(
        load(&pool, &wh, "Shop.Order", &simple("host-a", 0..3)).await.unwrap(),
        3
    );
    assert_eq!(count(&pool, "\"Analytics\".ev_shop_order").await, 3);
}

#[tokio::test]
async fn bad_batches_fail_without_retry() {
    let pool = pool().await;
    let wh = warehouse();

    // No metadata.
    let n: ArrayRef = Arc::new(Int32Array::from(vec![1]));
    let bare = RecordBatch::try_new(
        Arc::new(Schema::new(vec![Field::new("n", DataType::Int32, true)])),
        vec![n],
    )
    .unwrap();
    let mut conn = pool.acquire().await.unwrap();
    match wh.insert(&mut conn, "bad", &bare).await {
        Err(e @ WarehouseError::MissingMetadata(_)) => assert!(!e.is_retryable()),
        other => panic!("expected MissingMetadata, got {other:?}"),
    }

    // PostgreSQL text cannot hold NUL: a data error, which retrying cannot fix.
    let text: ArrayRef = Arc::new(StringArray::from(vec!["a\0b"]));
    let batch = with_metadata(vec![("s", text)], "host-a", 0..1);
    match load(&pool, &wh, "bad", &batch).await {
        Err(e @ WarehouseError::Database(_)) => assert!(!e.is_retryable(), "{e}"),
        other => panic!("expected a database error, got {other:?}"),
    }

    // A type with no column type.
    let interval: ArrayRef = Arc::new(arrow_array::IntervalMonthDayNanoArray::from(vec![
        arrow_array::types::IntervalMonthDayNano::new(1, 2, 3),
    ]));
    let batch = with_metadata(vec![("span", interval)], "host-a", 0..1);
    match load(&pool, &wh, "bad2", &batch).await {
        Err(WarehouseError::Unsupported { column, .. }) => assert_eq!(column, "span"),
        other => panic!("expected Unsupported, got {other:?}"),
    }
}
