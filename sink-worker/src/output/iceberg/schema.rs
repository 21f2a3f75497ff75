//! A converted group's Arrow schema against its Iceberg table's schema: the Iceberg type of each
//! Arrow type, the evolution a group needs (new optional columns with fresh field ids, the promotions
//! Iceberg allows), and the group's columns in the types and with the field ids (`PARQUET:field_id`)
//! that the table's Parquet files carry. Readers resolve columns by those ids, never by name.
//! Table maintenance goes the other way: the Arrow schema of a whole table schema
//! ([`arrow_schema`]), and a file written under any earlier schema projected onto it ([`project`]).
//!
//! Every column is optional: a later schema version may stop sending a field, and Iceberg can relax
//! `required` but a missing required column would make old files unreadable.

use std::collections::HashMap;
use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::{Array, ArrayRef, ListArray, MapArray, RecordBatch, StructArray, new_null_array};
use arrow_schema::{ArrowError, DataType, Field, FieldRef, Fields, Schema as ArrowSchema, TimeUnit};
use iceberg::spec::{ListType, MapType, NestedField, NestedFieldRef, PrimitiveType, Schema, StructType, Type};

/// The Arrow field metadata key the Parquet writer turns into a column's field id.
pub const FIELD_ID: &str = "PARQUET:field_id";

/// Why a group's columns cannot go into its table.
#[derive(Debug, thiserror::Error)]
pub enum SchemaError {
    /// A type change Iceberg cannot apply: the pipeline stops rather than drop or dead-letter events.
    #[error(
        "column `{path}`: the table has type {table} and the events have {events}, which Iceberg cannot promote it to"
    )]
    Incompatible {
        path: String,
        table: String,
        events: String,
    },
    #[error("column `{path}`: no Iceberg type for Arrow {arrow}")]
    Unsupported { path: String, arrow: String },
    #[error("column `{path}` is not in the table's schema")]
    Missing { path: String },
    #[error("column `{path}`: {source}")]
    Cast { path: String, source: ArrowError },
    #[error("iceberg: {0}")]
    Iceberg(#[from] iceberg::Error),
}

/// The Iceberg schema of a new table for `arrow`, with field ids from 1 in depth-first order.
pub fn table_schema(arrow: &ArrowSchema) -> Result<Schema, SchemaError> {
    let mut ids = 0;
    let fields = new_fields(arrow.fields(), "", &mut ids)?;
    Ok(Schema::builder().with_fields(fields).build()?)
}

/// The schema `table` must evolve to so that it can hold `arrow`'s columns, or `None` when it already
/// can. New columns get ids above `last_column_id` (the table's, which outlives dropped columns).
pub fn evolve(table: &Schema, last_column_id: i32, arrow: &ArrowSchema) -> Result<Option<Schema>, SchemaError> {
    let mut ids = last_column_id;
    let Some(fields) = merge_fields(table.as_struct().fields(), arrow.fields(), "", &mut ids)? else {
        return Ok(None);
    };
    let schema = Schema::builder()
        .with_schema_id(table.schema_id() + 1)
        .with_fields(fields)
        .build()?;
    Ok(Some(schema))
}

/// The schema of the Parquet file that holds a group of `arrow`'s columns in `table`: the same
/// columns in the same order, typed as the table types them, each with its field id.
pub fn file_schema(table: &Schema, arrow: &ArrowSchema) -> Result<Arc<ArrowSchema>, SchemaError> {
    let fields = file_fields(table.as_struct().fields(), arrow.fields(), "")?;
    Ok(Arc::new(ArrowSchema::new(fields)))
}

/// `batch` in `schema` (from [`file_schema`] for `batch`'s own schema): the columns cast where the
/// table's type differs, and every nested field carrying its id.
pub fn conform(batch: &RecordBatch, schema: Arc<ArrowSchema>) -> Result<RecordBatch, SchemaError> {
    let columns = batch
        .columns()
        .iter()
        .zip(schema.fields())
        .map(|(column, field)| {
            conform_array(column, field.data_type()).map_err(|source| SchemaError::Cast {
                path: field.name().clone(),
                source,
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    RecordBatch::try_new(schema, columns).map_err(|source| SchemaError::Cast {
        path: String::new(),
        source,
    })
}

/// The Arrow schema of a table's Parquet files under `table`: every column of the schema, in order,
/// typed as [`file_schema`] types them and carrying its field id.
pub fn arrow_schema(table: &Schema) -> Arc<ArrowSchema> {
    let fields: Vec<Field> = table
        .as_struct()
        .fields()
        .iter()
        .map(|f| arrow_field(f, &f.name))
        .collect();
    Arc::new(ArrowSchema::new(fields))
}

fn arrow_field(field: &NestedField, name: &str) -> Field {
    let dt = match field.field_type.as_ref() {
        Type::Primitive(p) => file_leaf(p),
        Type::Struct(s) => DataType::Struct(
            s.fields()
                .iter()
                .map(|f| arrow_field(f, &f.name))
                .collect::<Vec<_>>()
                .into(),
        ),
        Type::List(l) => DataType::List(Arc::new(arrow_field(&l.element_field, "element"))),
        Type::Map(m) => {
            let key = arrow_field(&m.key_field, "key").with_nullable(false);
            let value = arrow_field(&m.value_field, "value");
            DataType::Map(
                Arc::new(Field::new(
                    "key_value",
                    DataType::Struct(vec![key, value].into()),
                    false,
                )),
                false,
            )
        }
    };
    Field::new(name, dt, !field.required).with_metadata(HashMap::from([(FIELD_ID.to_owned(), field.id.to_string())]))
}

/// `batch`, read from a table file written under any schema version, as columns of `to` (from
/// [`arrow_schema`]): each column found by its field id, so renamed columns keep their values; a
/// column the file lacks (added since) is all nulls; a promoted type (int to long, float to double,
/// a wider decimal) is cast. Columns dropped since are left out.
pub fn project(batch: &RecordBatch, to: Arc<ArrowSchema>) -> Result<RecordBatch, SchemaError> {
    let from = batch.schema();
    let rows = batch.num_rows();
    let columns = to
        .fields()
        .iter()
        .map(|target| match find_by_id(from.fields(), target)? {
            Some(i) => project_array(batch.column(i), &from.fields()[i], target),
            None => Ok(new_null_array(target.data_type(), rows)),
        })
        .collect::<Result<Vec<_>, _>>()?;
    let options = arrow_array::RecordBatchOptions::new().with_row_count(Some(rows));
    RecordBatch::try_new_with_options(to, columns, &options).map_err(|source| SchemaError::Cast {
        path: String::new(),
        source,
    })
}

fn field_id(field: &Field) -> Option<&str> {
    field.metadata().get(FIELD_ID).map(String::as_str)
}

/// The index of the field of `from` with `target`'s field id. A file field without an id cannot be
/// matched safely, so it is an error rather than a guess by name.
fn find_by_id(from: &Fields, target: &Field) -> Result<Option<usize>, SchemaError> {
    let want = field_id(target).ok_or_else(|| SchemaError::Missing {
        path: format!("{} (no field id in the table schema)", target.name()),
    })?;
    let mut found = None;
    for (i, f) in from.iter().enumerate() {
        match field_id(f) {
            Some(id) if id == want => found = Some(i),
            Some(_) => {}
            None => {
                return Err(SchemaError::Missing {
                    path: format!("{} (the file's column has no field id)", f.name()),
                });
            }
        }
    }
    Ok(found)
}

fn project_array(array: &ArrayRef, from: &Field, to: &Field) -> Result<ArrayRef, SchemaError> {
    let cast = |source| SchemaError::Cast {
        path: to.name().clone(),
        source,
    };
    match (from.data_type(), to.data_type()) {
        (DataType::Struct(from_fields), DataType::Struct(to_fields)) => {
            let s = array.as_struct();
            let columns = to_fields
                .iter()
                .map(|t| match find_by_id(from_fields, t)? {
                    Some(i) => project_array(s.column(i), &from_fields[i], t),
                    None => Ok(new_null_array(t.data_type(), s.len())),
                })
                .collect::<Result<Vec<_>, _>>()?;
            let out = StructArray::try_new(to_fields.clone(), columns, s.nulls().cloned()).map_err(cast)?;
            Ok(Arc::new(out))
        }
        (DataType::List(from_item), DataType::List(to_item)) => {
            let l = array.as_list::<i32>();
            let values = project_array(l.values(), from_item, to_item)?;
            let out =
                ListArray::try_new(to_item.clone(), l.offsets().clone(), values, l.nulls().cloned()).map_err(cast)?;
            Ok(Arc::new(out))
        }
        (DataType::Map(from_entries, _), DataType::Map(to_entries, sorted)) => {
            let m = array.as_map();
            let kv: ArrayRef = Arc::new(m.entries().clone());
            let kv = project_array(&kv, from_entries, to_entries)?;
            let out = MapArray::try_new(
                to_entries.clone(),
                m.offsets().clone(),
                kv.as_struct().clone(),
                m.nulls().cloned(),
                *sorted,
            )
            .map_err(cast)?;
            Ok(Arc::new(out))
        }
        (a, b) if a == b => Ok(array.clone()),
        (_, leaf) if !leaf.is_nested() => arrow_cast::cast(array, leaf).map_err(cast),
        _ => Err(cast(ArrowError::CastError(format!(
            "{} cannot become {}",
            from.data_type(),
            to.data_type()
        )))),
    }
}

fn join(path: &str, name: &str) -> String {
    if path.is_empty() {
        name.to_owned()
    } else {
        format!("{path}.{name}")
    }
}

fn next(ids: &mut i32) -> i32 {
    *ids += 1;
    *ids
}

fn new_fields(fields: &Fields, path: &str, ids: &mut i32) -> Result<Vec<NestedFieldRef>, SchemaError> {
    fields
        .iter()
        .map(|f| {
            let id = next(ids);
            let ty = new_type(f.data_type(), &join(path, f.name()), ids)?;
            Ok(Arc::new(NestedField::optional(id, f.name(), ty)))
        })
        .collect()
}

/// The Iceberg type of a new column of Arrow type `dt`; nested fields take ids from `ids`.
fn new_type(dt: &DataType, path: &str, ids: &mut i32) -> Result<Type, SchemaError> {
    Ok(match dt {
        DataType::Struct(fields) => Type::Struct(StructType::new(new_fields(fields, path, ids)?)),
        DataType::List(item) | DataType::LargeList(item) | DataType::FixedSizeList(item, _) => {
            let id = next(ids);
            let element = new_type(item.data_type(), &join(path, "element"), ids)?;
            Type::List(ListType::new(Arc::new(NestedField::list_element(id, element, false))))
        }
        DataType::Map(entries, _) => {
            let (key, value) = map_fields(entries, path)?;
            let key_id = next(ids);
            let key = new_type(key.data_type(), &join(path, "key"), ids)?;
            let value_id = next(ids);
            let value = new_type(value.data_type(), &join(path, "value"), ids)?;
            Type::Map(MapType::new(
                Arc::new(NestedField::map_key_element(key_id, key)),
                Arc::new(NestedField::map_value_element(value_id, value, false)),
            ))
        }
        leaf => Type::Primitive(primitive(leaf, path)?),
    })
}

fn map_fields<'a>(entries: &'a FieldRef, path: &str) -> Result<(&'a FieldRef, &'a FieldRef), SchemaError> {
    match entries.data_type() {
        DataType::Struct(kv) if kv.len() == 2 => Ok((&kv[0], &kv[1])),
        other => Err(SchemaError::Unsupported {
            path: path.to_owned(),
            arrow: format!("map entries {other}"),
        }),
    }
}

/// The Iceberg type of an Arrow leaf type. Types Iceberg v2 lacks map to their nearest faithful one:
/// unsigned 64-bit integers to decimal(20, 0), durations to long (in their unit), nanosecond
/// timestamps to microseconds, and what has no counterpart (intervals, nulls) to text.
fn primitive(dt: &DataType, path: &str) -> Result<PrimitiveType, SchemaError> {
    use DataType as D;
    Ok(match dt {
        D::Boolean => PrimitiveType::Boolean,
        D::Int8 | D::Int16 | D::Int32 | D::UInt8 | D::UInt16 => PrimitiveType::Int,
        D::Int64 | D::UInt32 | D::Duration(_) => PrimitiveType::Long,
        D::UInt64 => PrimitiveType::Decimal {
            precision: 20,
            scale: 0,
        },
        D::Float16 | D::Float32 => PrimitiveType::Float,
        D::Float64 => PrimitiveType::Double,
        D::Decimal32(p, s) | D::Decimal64(p, s) | D::Decimal128(p, s) if *s >= 0 => PrimitiveType::Decimal {
            precision: u32::from(*p),
            scale: *s as u32,
        },
        D::Date32 | D::Date64 => PrimitiveType::Date,
        D::Time32(_) | D::Time64(_) => PrimitiveType::Time,
        D::Timestamp(_, Some(_)) => PrimitiveType::Timestamptz,
        D::Timestamp(_, None) => PrimitiveType::Timestamp,
        D::Utf8 | D::LargeUtf8 | D::Utf8View | D::Null | D::Interval(_) | D::Decimal256(..) => PrimitiveType::String,
        D::Binary | D::LargeBinary | D::BinaryView => PrimitiveType::Binary,
        D::FixedSizeBinary(n) if *n >= 0 => PrimitiveType::Fixed(*n as u64),
        D::Dictionary(_, value) => primitive(value, path)?,
        other => {
            return Err(SchemaError::Unsupported {
                path: path.to_owned(),
                arrow: other.to_string(),
            });
        }
    })
}

/// The Arrow type a table's Parquet files hold for an Iceberg primitive.
fn file_leaf(p: &PrimitiveType) -> DataType {
    let utc = || Some("+00:00".into());
    match p {
        PrimitiveType::Boolean => DataType::Boolean,
        PrimitiveType::Int => DataType::Int32,
        PrimitiveType::Long => DataType::Int64,
        PrimitiveType::Float => DataType::Float32,
        PrimitiveType::Double => DataType::Float64,
        PrimitiveType::Decimal { precision, scale } => DataType::Decimal128(*precision as u8, *scale as i8),
        PrimitiveType::Date => DataType::Date32,
        PrimitiveType::Time => DataType::Time64(TimeUnit::Microsecond),
        PrimitiveType::Timestamp => DataType::Timestamp(TimeUnit::Microsecond, None),
        PrimitiveType::Timestamptz => DataType::Timestamp(TimeUnit::Microsecond, utc()),
        PrimitiveType::TimestampNs => DataType::Timestamp(TimeUnit::Nanosecond, None),
        PrimitiveType::TimestamptzNs => DataType::Timestamp(TimeUnit::Nanosecond, utc()),
        PrimitiveType::String => DataType::Utf8,
        PrimitiveType::Uuid => DataType::FixedSizeBinary(16),
        PrimitiveType::Fixed(n) => DataType::FixedSizeBinary(*n as i32),
        PrimitiveType::Binary => DataType::Binary,
    }
}

/// Merges a struct's table fields with a group's Arrow fields: `None` when nothing changes.
fn merge_fields(
    table: &[NestedFieldRef],
    arrow: &Fields,
    path: &str,
    ids: &mut i32,
) -> Result<Option<Vec<NestedFieldRef>>, SchemaError> {
    let by_name: HashMap<&str, &FieldRef> = arrow.iter().map(|f| (f.name().as_str(), f)).collect();
    let mut changed = false;
    let mut fields = Vec::with_capacity(table.len());
    for t in table {
        match by_name.get(t.name.as_str()) {
            Some(a) => match merge_type(&t.field_type, a.data_type(), &join(path, &t.name), ids)? {
                Some(ty) => {
                    changed = true;
                    let mut field = t.as_ref().clone();
                    field.field_type = Box::new(ty);
                    fields.push(Arc::new(field));
                }
                None => fields.push(t.clone()),
            },
            None => fields.push(t.clone()),
        }
    }
    for a in arrow.iter().filter(|a| !table.iter().any(|t| &t.name == a.name())) {
        changed = true;
        let id = next(ids);
        let ty = new_type(a.data_type(), &join(path, a.name()), ids)?;
        fields.push(Arc::new(NestedField::optional(id, a.name(), ty)));
    }
    Ok(changed.then_some(fields))
}

/// The type a table column must change to so that it holds `arrow`, or `None` when it already does.
fn merge_type(table: &Type, arrow: &DataType, path: &str, ids: &mut i32) -> Result<Option<Type>, SchemaError> {
    // The events' type as Iceberg would name it, so that both sides of the message use one vocabulary.
    let incompatible = || SchemaError::Incompatible {
        path: path.to_owned(),
        table: table.to_string(),
        events: primitive(arrow, path).map_or_else(|_| arrow.to_string(), |p| p.to_string()),
    };
    match (table, arrow) {
        (Type::Struct(t), DataType::Struct(a)) => {
            Ok(merge_fields(t.fields(), a, path, ids)?.map(|f| Type::Struct(StructType::new(f))))
        }
        (Type::List(t), DataType::List(a) | DataType::LargeList(a) | DataType::FixedSizeList(a, _)) => {
            let element = &t.element_field;
            Ok(
                merge_type(&element.field_type, a.data_type(), &join(path, "element"), ids)?.map(|ty| {
                    Type::List(ListType::new(Arc::new(NestedField::list_element(
                        element.id,
                        ty,
                        element.required,
                    ))))
                }),
            )
        }
        (Type::Map(t), DataType::Map(entries, _)) => {
            let (key, value) = map_fields(entries, path)?;
            let new_key = merge_type(&t.key_field.field_type, key.data_type(), &join(path, "key"), ids)?;
            let new_value = merge_type(&t.value_field.field_type, value.data_type(), &join(path, "value"), ids)?;
            if new_key.is_none() && new_value.is_none() {
                return Ok(None);
            }
            let key_type = new_key.unwrap_or_else(|| t.key_field.field_type.as_ref().clone());
            let value_type = new_value.unwrap_or_else(|| t.value_field.field_type.as_ref().clone());
            Ok(Some(Type::Map(MapType::new(
                Arc::new(NestedField::map_key_element(t.key_field.id, key_type)),
                Arc::new(NestedField::map_value_element(
                    t.value_field.id,
                    value_type,
                    t.value_field.required,
                )),
            ))))
        }
        (Type::Primitive(t), a) if !a.is_nested() => {
            let a = primitive(a, path)?;
            promote(t, &a).ok_or_else(incompatible)
        }
        _ => Err(incompatible()),
    }
}

/// What a table column of type `table` must become to hold values of type `events`: `Some(None)`
/// when it already holds them (the same type, or a wider one the values are cast up to), and `None`
/// when Iceberg has no such promotion.
fn promote(table: &PrimitiveType, events: &PrimitiveType) -> Option<Option<Type>> {
    use PrimitiveType as P;
    match (table, events) {
        (t, e) if t == e => Some(None),
        (P::Long, P::Int) | (P::Double, P::Float) => Some(None),
        (P::Int, P::Long) | (P::Float, P::Double) => Some(Some(Type::Primitive(events.clone()))),
        (
            P::Decimal {
                precision: tp,
                scale: ts,
            },
            P::Decimal {
                precision: ep,
                scale: es,
            },
        ) if ts == es => Some((ep > tp).then(|| Type::Primitive(events.clone()))),
        _ => None,
    }
}

fn file_fields(table: &[NestedFieldRef], arrow: &Fields, path: &str) -> Result<Vec<Field>, SchemaError> {
    arrow
        .iter()
        .map(|a| {
            let field_path = join(path, a.name());
            let t = table
                .iter()
                .find(|t| &t.name == a.name())
                .ok_or_else(|| SchemaError::Missing {
                    path: field_path.clone(),
                })?;
            file_field(a.name(), t, a.data_type(), &field_path, true)
        })
        .collect()
}

/// The file's field for a column of Arrow type `arrow` stored as table field `table`.
fn file_field(
    name: &str,
    table: &NestedField,
    arrow: &DataType,
    path: &str,
    nullable: bool,
) -> Result<Field, SchemaError> {
    let missing = || SchemaError::Incompatible {
        path: path.to_owned(),
        table: table.field_type.to_string(),
        events: arrow.to_string(),
    };
    let dt = match (table.field_type.as_ref(), arrow) {
        (Type::Struct(t), DataType::Struct(a)) => DataType::Struct(file_fields(t.fields(), a, path)?.into()),
        (Type::List(t), DataType::List(a) | DataType::LargeList(a) | DataType::FixedSizeList(a, _)) => {
            let element = file_field(a.name(), &t.element_field, a.data_type(), &join(path, "element"), true)?;
            DataType::List(Arc::new(element))
        }
        (Type::Map(t), DataType::Map(entries, sorted)) => {
            // Parquet's own names for a map's parts (LogicalTypes.md): DuckDB's reader looks for them.
            let (key, value) = map_fields(entries, path)?;
            let key = file_field("key", &t.key_field, key.data_type(), &join(path, "key"), false)?;
            let value = file_field("value", &t.value_field, value.data_type(), &join(path, "value"), true)?;
            let entries = Field::new("key_value", DataType::Struct(vec![key, value].into()), false);
            DataType::Map(Arc::new(entries), *sorted)
        }
        (Type::Primitive(p), a) if !a.is_nested() => file_leaf(p),
        _ => return Err(missing()),
    };
    Ok(Field::new(name, dt, nullable).with_metadata(HashMap::from([(FIELD_ID.to_owned(), table.id.to_string())])))
}

/// `array` as type `to`: nested arrays rebuilt around their conformed children (the types differ
/// only in field metadata and leaf types), leaves cast.
fn conform_array(array: &ArrayRef, to: &DataType) -> Result<ArrayRef, ArrowError> {
    if array.data_type() == to {
        return Ok(array.clone());
    }
    match to {
        DataType::Struct(fields) => {
            let s = array
                .as_struct_opt()
                .ok_or_else(|| ArrowError::CastError(format!("{} is not a struct", array.data_type())))?;
            let columns = s
                .columns()
                .iter()
                .zip(fields.iter())
                .map(|(c, f)| conform_array(c, f.data_type()))
                .collect::<Result<Vec<_>, _>>()?;
            Ok(Arc::new(StructArray::try_new(
                fields.clone(),
                columns,
                s.nulls().cloned(),
            )?))
        }
        DataType::List(item) => {
            let list = match array.data_type() {
                DataType::List(_) => array.clone(),
                DataType::LargeList(a) | DataType::FixedSizeList(a, _) => {
                    arrow_cast::cast(array, &DataType::List(a.clone()))?
                }
                other => return Err(ArrowError::CastError(format!("{other} is not a list"))),
            };
            let l = list.as_list::<i32>();
            let values = conform_array(l.values(), item.data_type())?;
            Ok(Arc::new(ListArray::try_new(
                item.clone(),
                l.offsets().clone(),
                values,
                l.nulls().cloned(),
            )?))
        }
        DataType::Map(entries, sorted) => {
            let m = array
                .as_map_opt()
                .ok_or_else(|| ArrowError::CastError(format!("{} is not a map", array.data_type())))?;
            let kv: ArrayRef = Arc::new(m.entries().clone());
            let kv = conform_array(&kv, entries.data_type())?;
            Ok(Arc::new(MapArray::try_new(
                entries.clone(),
                m.offsets().clone(),
                kv.as_struct().clone(),
                m.nulls().cloned(),
                *sorted,
            )?))
        }
        leaf => arrow_cast::cast(array, leaf),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::{Int32Array, Int64Array, StringArray, UInt64Array};

    fn arrow(fields: Vec<Field>) -> ArrowSchema {
        ArrowSchema::new(fields)
    }

    fn ids(schema: &ArrowSchema) -> Vec<String> {
        fn walk(f: &Field, out: &mut Vec<String>) {
            out.push(format!(
                "{}={}",
                f.name(),
                f.metadata().get(FIELD_ID).map_or("-", |s| s.as_str())
            ));
            match f.data_type() {
                DataType::Struct(c) => c.iter().for_each(|c| walk(c, out)),
                DataType::List(c) | DataType::Map(c, _) => walk(c, out),
                _ => {}
            }
        }
        let mut out = Vec::new();
        schema.fields().iter().for_each(|f| walk(f, &mut out));
        out
    }

    /// The `m` column of [`nested`]: per row, a map `{"k": v}`, or null.
    fn map_column(rows: &[Option<i64>]) -> MapArray {
        let mut m = arrow_array::builder::MapBuilder::new(
            Some(arrow_array::builder::MapFieldNames {
                entry: "entries".into(),
                key: "keys".into(),
                value: "values".into(),
            }),
            arrow_array::builder::StringBuilder::new(),
            arrow_array::builder::Int64Builder::new(),
        );
        for row in rows {
            if let Some(v) = row {
                m.keys().append_value("k");
                m.values().append_value(*v);
            }
            m.append(row.is_some()).unwrap();
        }
        m.finish()
    }

    fn nested() -> ArrowSchema {
        let point = DataType::Struct(vec![Field::new("x", DataType::Int32, false)].into());
        let map = DataType::Map(
            Arc::new(Field::new(
                "entries",
                DataType::Struct(
                    vec![
                        Field::new("keys", DataType::Utf8, false),
                        Field::new("values", DataType::Int64, true),
                    ]
                    .into(),
                ),
                false,
            )),
            false,
        );
        arrow(vec![
            Field::new("id", DataType::Utf8, false),
            Field::new("p", point, true),
            Field::new(
                "l",
                DataType::List(Arc::new(Field::new("item", DataType::Int32, true))),
                true,
            ),
            Field::new("m", map, true),
        ])
    }

    #[test]
    fn a_new_table_numbers_every_field_depth_first_and_the_file_carries_the_ids() {
        let a = nested();
        let t = table_schema(&a).unwrap();
        let f = file_schema(&t, &a).unwrap();
        assert_eq!(
            ids(&f),
            [
                "id=1",
                "p=2",
                "x=3",
                "l=4",
                "item=5",
                "m=6",
                "key_value=-",
                "key=7",
                "value=8"
            ]
        );
        assert!(t.as_struct().fields().iter().all(|f| !f.required));
    }

    #[test]
    fn a_new_field_gets_an_id_above_the_last_column_id_and_an_unchanged_schema_needs_nothing() {
        let a = nested();
        let t = table_schema(&a).unwrap();
        assert!(evolve(&t, 8, &a).unwrap().is_none());
        let mut fields: Vec<Field> = a.fields().iter().map(|f| f.as_ref().clone()).collect();
        fields.insert(1, Field::new("added", DataType::Utf8, true));
        let evolved = evolve(&t, 20, &arrow(fields.clone())).unwrap().unwrap();
        assert_eq!(evolved.field_by_name("added").unwrap().id, 21);
        assert_eq!(evolved.field_by_name("id").unwrap().id, 1);
        assert_eq!(evolved.schema_id(), t.schema_id() + 1);
        // A group of the old version still fits the evolved table.
        assert!(evolve(&evolved, 21, &a).unwrap().is_none());
    }

    #[test]
    fn int_to_long_is_promoted_and_long_values_are_never_narrowed() {
        let narrow = arrow(vec![Field::new("n", DataType::Int32, false)]);
        let wide = arrow(vec![Field::new("n", DataType::Int64, false)]);
        let t = table_schema(&narrow).unwrap();
        let evolved = evolve(&t, 1, &wide).unwrap().unwrap();
        assert_eq!(
            *evolved.field_by_name("n").unwrap().field_type,
            Type::Primitive(PrimitiveType::Long)
        );
        assert!(evolve(&evolved, 1, &narrow).unwrap().is_none());
        let batch = RecordBatch::try_new(Arc::new(narrow.clone()), vec![Arc::new(Int32Array::from(vec![7]))]).unwrap();
        let out = conform(&batch, file_schema(&evolved, &narrow).unwrap()).unwrap();
        assert_eq!(
            out.column(0).as_primitive::<arrow_array::types::Int64Type>().value(0),
            7
        );
    }

    #[test]
    fn an_old_file_is_projected_by_field_id_with_new_columns_null_and_promotions_cast() {
        let old = arrow(vec![
            Field::new("n", DataType::Int32, true),
            Field::new("gone", DataType::Utf8, true),
        ]);
        let table = table_schema(&old).unwrap();
        let file = RecordBatch::try_new(
            file_schema(&table, &old).unwrap(),
            vec![
                Arc::new(Int32Array::from(vec![Some(1), None])),
                Arc::new(StringArray::from(vec!["a", "b"])),
            ],
        )
        .unwrap();
        // Since then: `n` became long and was renamed `count`, `gone` was dropped, `added` appeared.
        let current = Schema::builder()
            .with_schema_id(1)
            .with_fields(vec![
                Arc::new(NestedField::optional(1, "count", Type::Primitive(PrimitiveType::Long))),
                Arc::new(NestedField::optional(
                    3,
                    "added",
                    Type::Primitive(PrimitiveType::String),
                )),
            ])
            .build()
            .unwrap();
        let to = arrow_schema(&current);
        assert_eq!(ids(&to), ["count=1", "added=3"]);
        let out = project(&file, to).unwrap();
        assert_eq!(out.num_rows(), 2);
        let count = out.column(0).as_primitive::<arrow_array::types::Int64Type>();
        assert_eq!((count.value(0), count.is_null(1)), (1, true));
        assert_eq!(out.column(1).null_count(), 2);
    }

    #[test]
    fn nested_columns_project_onto_the_schema_they_were_written_with_unchanged() {
        let a = nested();
        let t = table_schema(&a).unwrap();
        let point = StructArray::from(vec![(
            Arc::new(Field::new("x", DataType::Int32, false)),
            Arc::new(Int32Array::from(vec![4])) as ArrayRef,
        )]);
        let list = ListArray::from_iter_primitive::<arrow_array::types::Int32Type, _, _>(vec![Some(vec![Some(9)])]);
        let batch = RecordBatch::try_new(
            Arc::new(a.clone()),
            vec![
                Arc::new(StringArray::from(vec!["a"])),
                Arc::new(point),
                Arc::new(list),
                Arc::new(map_column(&[Some(5)])),
            ],
        )
        .unwrap();
        let file = conform(&batch, file_schema(&t, &a).unwrap()).unwrap();
        let out = project(&file, arrow_schema(&t)).unwrap();
        let values = out
            .column(3)
            .as_map()
            .values()
            .as_primitive::<arrow_array::types::Int64Type>()
            .clone();
        assert_eq!(values, Int64Array::from(vec![5]));
        let x = out
            .column(1)
            .as_struct()
            .column(0)
            .as_primitive::<arrow_array::types::Int32Type>()
            .value(0);
        assert_eq!(x, 4);
        assert_eq!(ids(&out.schema()), ids(&arrow_schema(&t)));
    }

    #[test]
    fn a_change_iceberg_cannot_promote_is_an_error_naming_the_column() {
        let t = table_schema(&arrow(vec![Field::new("n", DataType::Int64, false)])).unwrap();
        let err = evolve(&t, 1, &arrow(vec![Field::new("n", DataType::Utf8, false)])).unwrap_err();
        assert!(err.to_string().contains("column `n`"), "{err}");
    }

    #[test]
    fn unsigned_64_bit_values_keep_their_range_as_decimal() {
        let a = arrow(vec![Field::new("u", DataType::UInt64, false)]);
        let t = table_schema(&a).unwrap();
        let batch =
            RecordBatch::try_new(Arc::new(a.clone()), vec![Arc::new(UInt64Array::from(vec![u64::MAX]))]).unwrap();
        let out = conform(&batch, file_schema(&t, &a).unwrap()).unwrap();
        let d = out.column(0).as_primitive::<arrow_array::types::Decimal128Type>();
        assert_eq!(d.value(0), i128::from(u64::MAX));
    }

    #[test]
    fn nested_columns_are_rebuilt_with_their_ids_and_values_intact() {
        let a = nested();
        let t = table_schema(&a).unwrap();
        let point = StructArray::from(vec![(
            Arc::new(Field::new("x", DataType::Int32, false)),
            Arc::new(Int32Array::from(vec![1, 2])) as ArrayRef,
        )]);
        let list =
            ListArray::from_iter_primitive::<arrow_array::types::Int32Type, _, _>(vec![Some(vec![Some(1)]), None]);
        let batch = RecordBatch::try_new(
            Arc::new(a.clone()),
            vec![
                Arc::new(StringArray::from(vec!["a", "b"])),
                Arc::new(point),
                Arc::new(list),
                Arc::new(map_column(&[Some(5), None])),
            ],
        )
        .unwrap();
        let out = conform(&batch, file_schema(&t, &a).unwrap()).unwrap();
        assert_eq!(ids(&out.schema()), ids(&file_schema(&t, &a).unwrap()));
        let values = out
            .column(3)
            .as_map()
            .values()
            .as_primitive::<arrow_array::types::Int64Type>()
            .clone();
        assert_eq!(values, Int64Array::from(vec![5]));
        assert!(out.column(2).is_null(1));
        assert_eq!(
            out.column(1)
                .as_struct()
                .column(0)
                .as_primitive::<arrow_array::types::Int32Type>()
                .value(1),
            2
        );
    }
}
