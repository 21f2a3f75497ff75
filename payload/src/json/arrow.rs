//! Validated JSON datums to Arrow: each datum is parsed again and its value appended along the
//! plan into a tree of column builders, one per [`Node`], finished into one record batch.
//!
//! Runs once per group of valid events, a row per datum. A datum that does not parse or fit is an
//! error for the whole group; validation ([`super::check`]) makes that unreachable.

use std::fmt::Write;
use std::sync::Arc;

use super::leaf::{self, Leaf, Misfit};
use super::parse;
use super::plan::{Node, Plan, Struct, UTC, map_entries};
use super::tape::{Kind, Tape, Val, write_json_string};
use crate::to_arrow::ToArrowError;
use arrow_array::builder::{
    ArrayBuilder, BooleanBuilder, Date32Builder, Float64Builder, Int64Builder, NullBufferBuilder, StringBuilder,
    TimestampMicrosecondBuilder,
};
use arrow_array::{ArrayRef, ListArray, MapArray, RecordBatch, RecordBatchOptions, StructArray};
use arrow_buffer::{OffsetBuffer, ScalarBuffer};
use arrow_schema::{ArrowError, DataType, Field, FieldRef, Fields};

/// Converts `datums`, all valid payloads of the plan's schema, into one record batch.
pub(super) fn convert(plan: &Plan, datums: &[&[u8]]) -> Result<RecordBatch, ToArrowError> {
    let mut root = Column::new(&plan.root, datums.len());
    let mut tape = Tape::default();
    for (index, datum) in datums.iter().enumerate() {
        let fail = |detail: String| ToArrowError::Json { index, detail };
        parse::parse_again(&mut tape, datum).map_err(|e| fail(e.0.into()))?;
        root.append(tape.root())
            .map_err(|m| fail(format!("a value does not fit its column ({m:?})")))?;
    }
    let columns = match root {
        Column::Struct(s) => s.finish_columns()?,
        other => vec![other.finish()?],
    };
    let options = RecordBatchOptions::new().with_row_count(Some(datums.len()));
    Ok(RecordBatch::try_new_with_options(
        plan.schema.clone(),
        columns,
        &options,
    )?)
}

/// The builder of one node's values.
#[derive(Debug)]
enum Column<'p> {
    Leaf(&'p Node, LeafBuilder),
    Struct(StructColumn<'p>),
    List(ListColumn<'p>),
    Map(MapColumn<'p>),
}

#[derive(Debug)]
enum LeafBuilder {
    Boolean(BooleanBuilder),
    Integer(Int64Builder),
    Number(Float64Builder),
    /// Strings, and JSON text.
    String(StringBuilder),
    DateTime(TimestampMicrosecondBuilder),
    Date(Date32Builder),
}

impl<'p> Column<'p> {
    fn new(node: &'p Node, capacity: usize) -> Column<'p> {
        let leaf = |builder| Column::Leaf(node, builder);
        match node {
            Node::Boolean => leaf(LeafBuilder::Boolean(BooleanBuilder::with_capacity(capacity))),
            Node::Integer => leaf(LeafBuilder::Integer(Int64Builder::with_capacity(capacity))),
            Node::Number => leaf(LeafBuilder::Number(Float64Builder::with_capacity(capacity))),
            Node::String | Node::Json => leaf(LeafBuilder::String(StringBuilder::with_capacity(
                capacity,
                capacity * 16,
            ))),
            Node::DateTime => leaf(LeafBuilder::DateTime(
                TimestampMicrosecondBuilder::with_capacity(capacity).with_timezone(UTC),
            )),
            Node::Date => leaf(LeafBuilder::Date(Date32Builder::with_capacity(capacity))),
            Node::Struct(s) => Column::Struct(StructColumn::new(node, s, capacity)),
            Node::List(item) => Column::List(ListColumn {
                field: Arc::new(item.field(Field::LIST_FIELD_DEFAULT_NAME)),
                items: Box::new(Column::new(item, capacity)),
                offsets: offsets(capacity),
                nulls: NullBufferBuilder::new(capacity),
            }),
            Node::Map(value) => Column::Map(MapColumn {
                entries: map_entries(value),
                keys: StringBuilder::with_capacity(capacity, capacity * 8),
                values: Box::new(Column::new(value, capacity)),
                offsets: offsets(capacity),
                nulls: NullBufferBuilder::new(capacity),
            }),
        }
    }

    /// Appends one value (JSON `null` as a null).
    fn append(&mut self, value: Val<'_>) -> Result<(), Misfit> {
        let (node, builder) = match self {
            Column::Leaf(node, builder) => (*node, builder),
            Column::Struct(s) => return s.append(value),
            Column::List(l) => return l.append(value),
            Column::Map(m) => return m.append(value),
        };
        let leaf = leaf::read(node, value)?.ok_or(Misfit::Kind)?;
        match (builder, leaf) {
            (builder, Leaf::Null) => builder.append_null(),
            (LeafBuilder::Boolean(b), Leaf::Boolean(v)) => b.append_value(v),
            (LeafBuilder::Integer(b), Leaf::Integer(v)) => b.append_value(v),
            (LeafBuilder::Number(b), Leaf::Number(v)) => b.append_value(v),
            (LeafBuilder::String(b), Leaf::String(v)) => b.append_value(v),
            (LeafBuilder::String(b), Leaf::Json(v)) => {
                write_json(b, v);
                b.append_value("");
            }
            (LeafBuilder::DateTime(b), Leaf::DateTime(v)) => b.append_value(v),
            (LeafBuilder::Date(b), Leaf::Date(v)) => b.append_value(v),
            _ => return Err(Misfit::Kind),
        }
        Ok(())
    }

    /// Appends a null: a property that is absent, or a row of a null parent.
    fn append_null(&mut self) {
        match self {
            Column::Leaf(_, builder) => builder.append_null(),
            Column::Struct(s) => s.append_null(),
            Column::List(l) => l.append_null(),
            Column::Map(m) => m.append_null(),
        }
    }

    fn finish(self) -> Result<ArrayRef, ArrowError> {
        Ok(match self {
            Column::Leaf(_, builder) => builder.finish(),
            Column::Struct(s) => Arc::new(s.finish()?),
            Column::List(l) => Arc::new(l.finish()?),
            Column::Map(m) => Arc::new(m.finish()?),
        })
    }
}

impl LeafBuilder {
    fn append_null(&mut self) {
        match self {
            LeafBuilder::Boolean(b) => b.append_null(),
            LeafBuilder::Integer(b) => b.append_null(),
            LeafBuilder::Number(b) => b.append_null(),
            LeafBuilder::String(b) => b.append_null(),
            LeafBuilder::DateTime(b) => b.append_null(),
            LeafBuilder::Date(b) => b.append_null(),
        }
    }

    fn finish(self) -> ArrayRef {
        match self {
            LeafBuilder::Boolean(mut b) => Arc::new(b.finish()),
            LeafBuilder::Integer(mut b) => Arc::new(b.finish()),
            LeafBuilder::Number(mut b) => Arc::new(b.finish()),
            LeafBuilder::String(mut b) => Arc::new(b.finish()),
            LeafBuilder::DateTime(mut b) => Arc::new(b.finish()),
            LeafBuilder::Date(mut b) => Arc::new(b.finish()),
        }
    }
}

/// Writes `value` as compact JSON into the current (unfinished) string of `builder`.
fn write_json(builder: &mut StringBuilder, value: Val<'_>) {
    // Writing into a string builder never fails.
    let _ = value.write_json(builder);
}

fn offsets(capacity: usize) -> Vec<i32> {
    let mut offsets = Vec::with_capacity(capacity + 1);
    offsets.push(0);
    offsets
}

/// Ends a list or map row after its children so far (`len` in all).
fn push_offset(offsets: &mut Vec<i32>, len: usize) -> Result<(), Misfit> {
    // Arrow's List and Map count children in i32; a batch that large cannot be converted.
    offsets.push(i32::try_from(len).map_err(|_| Misfit::Kind)?);
    Ok(())
}

fn repeat_offset(offsets: &mut Vec<i32>) {
    let last = offsets.last().copied().unwrap_or_default();
    offsets.push(last);
}

#[derive(Debug)]
struct StructColumn<'p> {
    plan: &'p Struct,
    arrow_fields: Fields,
    fields: Vec<Column<'p>>,
    extra: Option<StringBuilder>,
    nulls: NullBufferBuilder,
    /// The row each field was last given a value in, to give the others a null.
    filled: Vec<usize>,
    rows: usize,
}

impl<'p> StructColumn<'p> {
    fn new(node: &'p Node, plan: &'p Struct, capacity: usize) -> Self {
        let arrow_fields = match node.data_type() {
            DataType::Struct(fields) => fields,
            _ => Fields::empty(),
        };
        StructColumn {
            plan,
            arrow_fields,
            fields: plan
                .fields
                .iter()
                .map(|(_, node)| Column::new(node, capacity))
                .collect(),
            extra: plan.extra.as_ref().map(|_| StringBuilder::with_capacity(capacity, 0)),
            nulls: NullBufferBuilder::new(capacity),
            filled: vec![0; plan.fields.len()],
            rows: 0,
        }
    }

    fn append(&mut self, value: Val<'_>) -> Result<(), Misfit> {
        let properties = match value.kind() {
            Kind::Null => {
                self.append_null();
                return Ok(());
            }
            Kind::Object(properties) => properties,
            _ => return Err(Misfit::Kind),
        };
        self.rows += 1;
        let row = self.rows;
        let mut undeclared = false;
        let mut previous = None;
        for (name, v) in properties {
            if let Some(i) = self.plan.field_after(previous, name) {
                previous = Some(i);
                self.fields[i].append(v)?;
                self.filled[i] = row;
                continue;
            }
            // Undeclared: one more member of the extra column's JSON object.
            let extra = self.extra.as_mut().ok_or(Misfit::Kind)?;
            let _ = extra.write_char(if undeclared { ',' } else { '{' });
            let _ = write_json_string(name, extra);
            let _ = extra.write_char(':');
            write_json(extra, v);
            undeclared = true;
        }
        for (field, filled) in self.fields.iter_mut().zip(&self.filled) {
            if *filled != row {
                field.append_null();
            }
        }
        if let Some(extra) = &mut self.extra {
            if undeclared {
                extra.append_value("}");
            } else {
                extra.append_null();
            }
        }
        self.nulls.append_non_null();
        Ok(())
    }

    fn append_null(&mut self) {
        self.rows += 1;
        self.fields.iter_mut().for_each(Column::append_null);
        if let Some(extra) = &mut self.extra {
            extra.append_null();
        }
        self.nulls.append_null();
    }

    /// The columns: the declared properties', then the extra one.
    fn finish_columns(self) -> Result<Vec<ArrayRef>, ArrowError> {
        let mut columns = self
            .fields
            .into_iter()
            .map(Column::finish)
            .collect::<Result<Vec<_>, _>>()?;
        if let Some(mut extra) = self.extra {
            columns.push(Arc::new(extra.finish()));
        }
        Ok(columns)
    }

    fn finish(mut self) -> Result<StructArray, ArrowError> {
        let (fields, rows, nulls) = (self.arrow_fields.clone(), self.rows, self.nulls.finish());
        let columns = self.finish_columns()?;
        if columns.is_empty() {
            return Ok(StructArray::new_empty_fields(rows, nulls));
        }
        StructArray::try_new(fields, columns, nulls)
    }
}

#[derive(Debug)]
struct ListColumn<'p> {
    field: FieldRef,
    items: Box<Column<'p>>,
    offsets: Vec<i32>,
    nulls: NullBufferBuilder,
}

impl ListColumn<'_> {
    fn append(&mut self, value: Val<'_>) -> Result<(), Misfit> {
        let items = match value.kind() {
            Kind::Null => {
                self.append_null();
                return Ok(());
            }
            Kind::Array(items) => items,
            _ => return Err(Misfit::Kind),
        };
        let count = items.len();
        for item in items {
            self.items.append(item)?;
        }
        let len = self.offsets.last().map_or(0, |&last| last as usize) + count;
        push_offset(&mut self.offsets, len)?;
        self.nulls.append_non_null();
        Ok(())
    }

    fn append_null(&mut self) {
        repeat_offset(&mut self.offsets);
        self.nulls.append_null();
    }

    fn finish(mut self) -> Result<ListArray, ArrowError> {
        let offsets = OffsetBuffer::new(ScalarBuffer::from(self.offsets));
        ListArray::try_new(self.field, offsets, self.items.finish()?, self.nulls.finish())
    }
}

#[derive(Debug)]
struct MapColumn<'p> {
    entries: Field,
    keys: StringBuilder,
    values: Box<Column<'p>>,
    offsets: Vec<i32>,
    nulls: NullBufferBuilder,
}

impl MapColumn<'_> {
    fn append(&mut self, value: Val<'_>) -> Result<(), Misfit> {
        let entries = match value.kind() {
            Kind::Null => {
                self.append_null();
                return Ok(());
            }
            Kind::Object(entries) => entries,
            _ => return Err(Misfit::Kind),
        };
        for (k, v) in entries {
            self.keys.append_value(k);
            self.values.append(v)?;
        }
        push_offset(&mut self.offsets, self.keys.len())?;
        self.nulls.append_non_null();
        Ok(())
    }

    fn append_null(&mut self) {
        repeat_offset(&mut self.offsets);
        self.nulls.append_null();
    }

    fn finish(mut self) -> Result<MapArray, ArrowError> {
        let DataType::Struct(entry_fields) = self.entries.data_type().clone() else {
            return Err(ArrowError::SchemaError("map entries are not a struct".into()));
        };
        let entries = StructArray::try_new(
            entry_fields,
            vec![Arc::new(self.keys.finish()), self.values.finish()?],
            None,
        )?;
        let offsets = OffsetBuffer::new(ScalarBuffer::from(self.offsets));
        MapArray::try_new(Arc::new(self.entries), offsets, entries, self.nulls.finish(), false)
    }
}
