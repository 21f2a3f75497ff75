//! Validated Protobuf datums to Arrow: each message's bytes are walked twice, once to find where each
//! field's last value lies (protobuf writes fields in any order, and the last of a repeated single
//! field counts), then field by field in column order, appending to plain vectors that become the
//! Arrow arrays at the end. The slots of the first walk live on one reused stack, so a message costs
//! no allocation once the columns have grown.
//!
//! What a field holds when the datum leaves it out is decided by the [`Layout`]: null for explicit
//! presence, its default for implicit presence or a declared proto2 default, an empty list or map.
//! A oneof's members are all null but the one the datum set last.

use std::sync::Arc;

use arrow_array::builder::{BooleanBufferBuilder, NullBufferBuilder};
use arrow_array::types::Int32Type;
use arrow_array::{
    ArrayRef, BinaryArray, BooleanArray, DictionaryArray, DurationNanosecondArray, Float32Array, Float64Array,
    Int32Array, Int64Array, ListArray, MapArray, RecordBatch, RecordBatchOptions, StringArray, StructArray,
    TimestampNanosecondArray, UInt32Array, UInt64Array,
};
use arrow_buffer::{OffsetBuffer, ScalarBuffer};
use arrow_schema::DataType;

use super::error::{Fault, FaultKind, invalid};
use super::json;
use super::layout::{Layout, Node, Shape, kind_default};
use super::limits::MAX_DEPTH;
use super::plan::{Absent, Card, Kind, Message, MsgId, Plan};
use super::wellknown;
use super::wire::{self, Raw, Reader, int32, unzigzag32, unzigzag64};

type Result<T> = std::result::Result<T, Fault>;

/// Where a field's values lie in its message's bytes.
#[derive(Debug, Clone, Copy)]
struct Slot {
    count: u32,
    /// Where its first occurrence's tag starts: repeated fields are read again from there.
    first: usize,
    /// Where its last occurrence's tag starts: the oneof member set last wins.
    last_at: usize,
    last: Raw,
}

const EMPTY: Slot = Slot {
    count: 0,
    first: 0,
    last_at: 0,
    last: Raw::Varint(0),
};

/// Values of one primitive column.
#[derive(Debug)]
struct Prim<T> {
    values: Vec<T>,
    nulls: NullBufferBuilder,
}

impl<T: Copy + std::default::Default> Prim<T> {
    fn new(capacity: usize) -> Self {
        Self {
            values: Vec::with_capacity(capacity),
            nulls: NullBufferBuilder::new(capacity),
        }
    }

    #[inline]
    fn push(&mut self, v: T) {
        self.values.push(v);
        self.nulls.append_non_null();
    }

    #[inline]
    fn push_null(&mut self) {
        self.values.push(T::default());
        self.nulls.append_null();
    }
}

/// Variable-length values: strings, bytes, JSON text.
#[derive(Debug)]
struct Var {
    offsets: Vec<i32>,
    data: Vec<u8>,
    nulls: NullBufferBuilder,
}

impl Var {
    fn new(capacity: usize) -> Self {
        let mut offsets = Vec::with_capacity(capacity + 1);
        offsets.push(0);
        Self {
            offsets,
            data: Vec::new(),
            nulls: NullBufferBuilder::new(capacity),
        }
    }

    #[inline]
    fn push(&mut self, bytes: &[u8]) -> Result<()> {
        self.data.extend_from_slice(bytes);
        self.end_value()
    }

    /// Ends the value written to `data` since the last one.
    #[inline]
    fn end_value(&mut self) -> Result<()> {
        self.offsets
            .push(i32::try_from(self.data.len()).map_err(|_| Box::new(FaultKind::Overflow))?);
        self.nulls.append_non_null();
        Ok(())
    }

    fn push_null(&mut self) {
        let end = self.offsets.last().copied().unwrap_or(0);
        self.offsets.push(end);
        self.nulls.append_null();
    }
}

/// A column being built, shaped like its [`Node`].
#[derive(Debug)]
enum Col {
    Bool(BooleanBufferBuilder, NullBufferBuilder),
    I32(Prim<i32>),
    I64(Prim<i64>),
    U32(Prim<u32>),
    U64(Prim<u64>),
    F32(Prim<f32>),
    F64(Prim<f64>),
    Var(Var),
    Struct(Vec<Col>, NullBufferBuilder),
    /// Offsets, then the items.
    List(Vec<i32>, Box<Col>),
    /// Offsets, then the keys and the values.
    Map(Vec<i32>, Box<Col>, Box<Col>),
}

impl Col {
    fn new(node: &Node, capacity: usize) -> Self {
        let offsets = || {
            let mut o = Vec::with_capacity(capacity + 1);
            o.push(0);
            o
        };
        match node.card {
            Card::List => return Self::List(offsets(), Box::new(Self::value(node, capacity))),
            Card::Map => {
                if let Some(entry) = &node.entry {
                    return Self::Map(
                        offsets(),
                        Box::new(Self::value(&entry.0, capacity)),
                        Box::new(Self::value(&entry.1, capacity)),
                    );
                }
            }
            Card::Single => {}
        }
        Self::value(node, capacity)
    }

    /// The column of one value of `node`.
    fn value(node: &Node, capacity: usize) -> Self {
        match &node.shape {
            Shape::Struct(_, children) => Self::Struct(
                children.iter().map(|c| Self::new(c, capacity)).collect(),
                NullBufferBuilder::new(capacity),
            ),
            Shape::Marker => Self::Bool(BooleanBufferBuilder::new(capacity), NullBufferBuilder::new(capacity)),
            Shape::Raw | Shape::Json(_) => Self::Var(Var::new(capacity)),
            Shape::Timestamp | Shape::Duration => Self::I64(Prim::new(capacity)),
            Shape::Wrapper(k) => Self::scalar(*k, capacity),
            Shape::Scalar => Self::scalar(node.kind, capacity),
        }
    }

    fn scalar(kind: Kind, capacity: usize) -> Self {
        match kind {
            Kind::Int32 | Kind::SInt32 | Kind::SFixed32 | Kind::Enum(_) => Self::I32(Prim::new(capacity)),
            Kind::Int64 | Kind::SInt64 | Kind::SFixed64 => Self::I64(Prim::new(capacity)),
            Kind::UInt32 | Kind::Fixed32 => Self::U32(Prim::new(capacity)),
            Kind::UInt64 | Kind::Fixed64 => Self::U64(Prim::new(capacity)),
            Kind::Float => Self::F32(Prim::new(capacity)),
            Kind::Double | Kind::FiniteDouble => Self::F64(Prim::new(capacity)),
            Kind::Bool => Self::Bool(BooleanBufferBuilder::new(capacity), NullBufferBuilder::new(capacity)),
            Kind::String | Kind::Bytes | Kind::Message(_) | Kind::Group(_) => Self::Var(Var::new(capacity)),
        }
    }

    fn push_null(&mut self) {
        match self {
            Self::Bool(v, n) => {
                v.append(false);
                n.append_null();
            }
            Self::I32(p) => p.push_null(),
            Self::I64(p) => p.push_null(),
            Self::U32(p) => p.push_null(),
            Self::U64(p) => p.push_null(),
            Self::F32(p) => p.push_null(),
            Self::F64(p) => p.push_null(),
            Self::Var(v) => v.push_null(),
            // Structs are nulled by `Converter::absent`, which fills their children; lists and maps
            // are never null.
            Self::Struct(_, n) => n.append_null(),
            Self::List(o, _) | Self::Map(o, _, _) => {
                let end = o.last().copied().unwrap_or(0);
                o.push(end);
            }
        }
    }
}

/// Converts datums of one message type.
pub struct Converter<'p> {
    plan: &'p Plan,
    layout: &'p Layout,
    root: MsgId,
    columns: Vec<Col>,
    slots: Vec<Slot>,
    rows: usize,
}

impl<'p> Converter<'p> {
    pub fn new(plan: &'p Plan, layout: &'p Layout, root: MsgId, capacity: usize) -> Self {
        Self {
            plan,
            layout,
            root,
            columns: layout.columns.iter().map(|n| Col::new(n, capacity)).collect(),
            slots: Vec::new(),
            rows: 0,
        }
    }

    /// Appends one message's bytes as a row.
    pub fn append(&mut self, body: &[u8]) -> Result<()> {
        let mut columns = std::mem::take(&mut self.columns);
        let done = self.message(self.root, &self.layout.columns, &mut columns, body, 1);
        self.columns = columns;
        done?;
        self.rows += 1;
        Ok(())
    }

    /// The rows appended, as a batch.
    pub fn finish(self) -> Result<RecordBatch> {
        let schema = self.layout.schema.clone();
        let arrays = self
            .layout
            .columns
            .iter()
            .zip(self.columns)
            .map(|(n, c)| finish(self.plan, n, c))
            .collect::<Result<Vec<_>>>()?;
        let options = RecordBatchOptions::new().with_row_count(Some(self.rows));
        Ok(RecordBatch::try_new_with_options(schema, arrays, &options)?)
    }

    /// Appends message `id` from `body` to the columns of its fields, `nodes`.
    fn message(&mut self, id: MsgId, nodes: &[Node], cols: &mut [Col], body: &[u8], depth: u32) -> Result<()> {
        if depth > MAX_DEPTH {
            return Err(invalid("too_deep"));
        }
        let plan = self.plan;
        let msg = &plan.messages[id as usize];
        let base = self.slots.len();
        self.slots.resize(base + msg.fields.len(), EMPTY);
        let scanned = self.scan(msg, body, base, depth);
        let appended = scanned.and_then(|()| {
            for (i, (node, col)) in nodes.iter().zip(cols.iter_mut()).enumerate() {
                let slot = self.slots[base + i];
                match node.card {
                    Card::Single if slot.count > 0 && self.wins(msg, i, base) => {
                        self.value(node, col, slot.last, body, depth)?
                    }
                    Card::Single => self.absent(node, col)?,
                    Card::List => self.list(node, col, slot, body, depth)?,
                    Card::Map => self.map(node, col, slot, body, depth)?,
                }
            }
            Ok(())
        });
        self.slots.truncate(base);
        appended
    }

    /// Records where each field of `msg` lies in `body`.
    fn scan(&mut self, msg: &Message, body: &[u8], base: usize, depth: u32) -> Result<()> {
        let mut r = Reader::new(body);
        while !r.at_end() {
            let at = r.pos;
            let (number, wire_type) = r.tag()?;
            let raw = r.raw(number, wire_type, depth)?;
            let i = msg.field_index(number).ok_or_else(|| invalid("unknown_field"))?;
            let slot = &mut self.slots[base + i];
            if slot.count == 0 {
                slot.first = at;
            }
            slot.count = slot.count.saturating_add(1);
            slot.last_at = at;
            slot.last = raw;
        }
        Ok(())
    }

    /// Whether field `i` (set) is the oneof member set last, or in no oneof.
    fn wins(&self, msg: &Message, i: usize, base: usize) -> bool {
        let Some(oneof) = msg.fields[i].oneof else {
            return true;
        };
        let mine = self.slots[base + i].last_at;
        msg.oneofs[oneof as usize].iter().all(|&j| {
            let other = self.slots[base + j as usize];
            j as usize == i || other.count == 0 || other.last_at < mine
        })
    }

    /// What a single field holds when the datum leaves it out (also under an absent parent).
    fn absent(&mut self, node: &Node, col: &mut Col) -> Result<()> {
        if node.card != Card::Single {
            col.push_null();
            return Ok(());
        }
        if node.nullable {
            col.push_null();
            if let (Shape::Struct(_, children), Col::Struct(cols, _)) = (&node.shape, col) {
                for (child, c) in children.iter().zip(cols.iter_mut()) {
                    self.absent(child, c)?;
                }
            }
            return Ok(());
        }
        self.default(node, col)
    }

    /// The default of a value that cannot be null.
    fn default(&mut self, node: &Node, col: &mut Col) -> Result<()> {
        match &node.shape {
            Shape::Scalar => push_default(col, &node.default),
            Shape::Wrapper(k) => push_default(col, &kind_default(*k)),
            Shape::Struct(_, children) => {
                let Col::Struct(cols, nulls) = col else {
                    return Err(mismatch());
                };
                nulls.append_non_null();
                for (child, c) in children.iter().zip(cols.iter_mut()) {
                    self.absent(child, c)?;
                }
                Ok(())
            }
            Shape::Marker => push_bool(col, true),
            Shape::Raw => push_bytes(col, &[]),
            Shape::Timestamp | Shape::Duration => push_i64(col, 0),
            Shape::Json(s) => {
                let Col::Var(v) = col else { return Err(mismatch()) };
                json::empty(*s, &mut v.data);
                v.end_value()
            }
        }
    }

    /// One present value of `node`.
    #[inline]
    fn value(&mut self, node: &Node, col: &mut Col, raw: Raw, body: &[u8], depth: u32) -> Result<()> {
        match &node.shape {
            Shape::Scalar => push_scalar(self.plan, col, node.kind, raw, body),
            Shape::Struct(id, children) => {
                let Col::Struct(cols, nulls) = col else {
                    return Err(mismatch());
                };
                nulls.append_non_null();
                self.message(*id, children, cols, len(raw, body)?, depth + 1)
            }
            Shape::Marker => push_bool(col, true),
            Shape::Raw => push_bytes(col, len(raw, body)?),
            Shape::Timestamp => push_i64(col, wellknown::timestamp(len(raw, body)?)?),
            Shape::Duration => push_i64(col, wellknown::duration(len(raw, body)?)?),
            Shape::Wrapper(k) => {
                let inner = len(raw, body)?;
                match last_of(inner, 1, depth)? {
                    Some(v) => push_scalar(self.plan, col, *k, v, inner),
                    None => push_default(col, &kind_default(*k)),
                }
            }
            Shape::Json(s) => {
                let Col::Var(v) = col else { return Err(mismatch()) };
                json::write(*s, len(raw, body)?, &mut v.data, depth + 1)?;
                v.end_value()
            }
        }
    }

    /// Every value of a repeated field, packed or not, in order.
    fn list(&mut self, node: &Node, col: &mut Col, slot: Slot, body: &[u8], depth: u32) -> Result<()> {
        let Col::List(offsets, items) = col else {
            return Err(mismatch());
        };
        let mut count = 0usize;
        if slot.count > 0 {
            let mut r = Reader::new(body);
            r.pos = slot.first;
            while !r.at_end() {
                let (number, wire_type) = r.tag()?;
                let raw = r.raw(number, wire_type, depth)?;
                if number != node.number {
                    continue;
                }
                if wire_type == wire::LEN && node.kind.packable() {
                    let mut packed = Reader::new(len(raw, body)?);
                    let packed_body = packed.buf;
                    while !packed.at_end() {
                        let v = match node.kind.wire() {
                            wire::VARINT => Raw::Varint(packed.varint()?),
                            wire::I32 => Raw::I32(packed.fixed32()?),
                            _ => Raw::I64(packed.fixed64()?),
                        };
                        push_scalar(self.plan, items, node.kind, v, packed_body)?;
                        count += 1;
                    }
                } else {
                    self.value(node, items, raw, body, depth)?;
                    count += 1;
                }
            }
        }
        push_offset(offsets, count)
    }

    /// Every entry of a map field, in order, keys and values defaulted when an entry leaves them out.
    fn map(&mut self, node: &Node, col: &mut Col, slot: Slot, body: &[u8], depth: u32) -> Result<()> {
        let (Col::Map(offsets, keys, values), Some(entry)) = (col, &node.entry) else {
            return Err(mismatch());
        };
        let (key_node, value_node) = (&entry.0, &entry.1);
        let mut count = 0usize;
        if slot.count > 0 {
            let mut r = Reader::new(body);
            r.pos = slot.first;
            while !r.at_end() {
                let (number, wire_type) = r.tag()?;
                let raw = r.raw(number, wire_type, depth)?;
                if number != node.number {
                    continue;
                }
                let entry_body = len(raw, body)?;
                let (key, value) = entry_parts(entry_body, depth)?;
                match key {
                    Some(k) => self.value(key_node, keys, k, entry_body, depth + 1)?,
                    None => self.default(key_node, keys)?,
                }
                match value {
                    Some(v) => self.value(value_node, values, v, entry_body, depth + 1)?,
                    None => self.default(value_node, values)?,
                }
                count += 1;
            }
        }
        push_offset(offsets, count)
    }
}

/// A map entry's key (field 1) and value (field 2), the last of each.
fn entry_parts(body: &[u8], depth: u32) -> Result<(Option<Raw>, Option<Raw>)> {
    let mut r = Reader::new(body);
    let (mut key, mut value) = (None, None);
    while !r.at_end() {
        let (number, wire_type) = r.tag()?;
        let raw = r.raw(number, wire_type, depth)?;
        match number {
            1 => key = Some(raw),
            2 => value = Some(raw),
            _ => return Err(invalid("unknown_field")),
        }
    }
    Ok((key, value))
}

/// The last value of field `number` in a message of that one field (a wrapper).
fn last_of(body: &[u8], number: u32, depth: u32) -> Result<Option<Raw>> {
    let mut r = Reader::new(body);
    let mut last = None;
    while !r.at_end() {
        let (n, wire_type) = r.tag()?;
        let raw = r.raw(n, wire_type, depth)?;
        if n != number {
            return Err(invalid("unknown_field"));
        }
        last = Some(raw);
    }
    Ok(last)
}

fn mismatch() -> Fault {
    invalid("column does not match its layout")
}

#[inline]
fn len(raw: Raw, body: &[u8]) -> Result<&[u8]> {
    match raw {
        Raw::Len(start, end) => body.get(start..end).ok_or_else(|| invalid("truncated")),
        _ => Err(invalid("bad_wire_type")),
    }
}

#[inline]
fn push_offset(offsets: &mut Vec<i32>, count: usize) -> Result<()> {
    let end = offsets.last().copied().unwrap_or(0);
    let count = i32::try_from(count).map_err(|_| Box::new(FaultKind::Overflow))?;
    offsets.push(end.checked_add(count).ok_or_else(|| Box::new(FaultKind::Overflow))?);
    Ok(())
}

#[inline]
fn push_scalar(plan: &Plan, col: &mut Col, kind: Kind, raw: Raw, body: &[u8]) -> Result<()> {
    match (col, kind, raw) {
        (Col::I32(p), Kind::Int32, Raw::Varint(v)) => p.push(int32(v).ok_or_else(|| invalid("int_out_of_range"))?),
        (Col::I32(p), Kind::SInt32, Raw::Varint(v)) => {
            p.push(unzigzag32(u32::try_from(v).map_err(|_| invalid("int_out_of_range"))?))
        }
        (Col::I32(p), Kind::SFixed32, Raw::I32(v)) => p.push(v as i32),
        (Col::I32(p), Kind::Enum(e), Raw::Varint(v)) => {
            let number = int32(v).ok_or_else(|| invalid("int_out_of_range"))?;
            let index = plan.enums[e as usize]
                .index_of(number)
                .ok_or_else(|| invalid("unknown_enum_value"))?;
            p.push(index as i32)
        }
        (Col::I64(p), Kind::Int64, Raw::Varint(v)) => p.push(v as i64),
        (Col::I64(p), Kind::SInt64, Raw::Varint(v)) => p.push(unzigzag64(v)),
        (Col::I64(p), Kind::SFixed64, Raw::I64(v)) => p.push(v as i64),
        (Col::U32(p), Kind::UInt32, Raw::Varint(v)) => {
            p.push(u32::try_from(v).map_err(|_| invalid("int_out_of_range"))?)
        }
        (Col::U32(p), Kind::Fixed32, Raw::I32(v)) => p.push(v),
        (Col::U64(p), Kind::UInt64, Raw::Varint(v)) => p.push(v),
        (Col::U64(p), Kind::Fixed64, Raw::I64(v)) => p.push(v),
        (Col::F32(p), Kind::Float, Raw::I32(v)) => p.push(f32::from_bits(v)),
        (Col::F64(p), Kind::Double | Kind::FiniteDouble, Raw::I64(v)) => p.push(f64::from_bits(v)),
        (col @ Col::Bool(..), Kind::Bool, Raw::Varint(v)) => return push_bool(col, v != 0),
        (col @ Col::Var(_), Kind::String | Kind::Bytes, raw) => return push_bytes(col, len(raw, body)?),
        _ => return Err(invalid("bad_wire_type")),
    }
    Ok(())
}

fn push_default(col: &mut Col, default: &Absent) -> Result<()> {
    match (col, default) {
        (Col::I32(p), Absent::I32(v)) => p.push(*v),
        (Col::I32(p), Absent::Enum(i)) => p.push(*i as i32),
        (Col::I64(p), Absent::I64(v)) => p.push(*v),
        (Col::U32(p), Absent::U32(v)) => p.push(*v),
        (Col::U64(p), Absent::U64(v)) => p.push(*v),
        (Col::F32(p), Absent::F32(v)) => p.push(*v),
        (Col::F64(p), Absent::F64(v)) => p.push(*v),
        (col @ Col::Bool(..), Absent::Bool(v)) => return push_bool(col, *v),
        (col @ Col::Var(_), Absent::Str(s)) => return push_bytes(col, s.as_bytes()),
        (col @ Col::Var(_), Absent::Bytes(b)) => return push_bytes(col, b),
        _ => return Err(mismatch()),
    }
    Ok(())
}

#[inline]
fn push_bool(col: &mut Col, v: bool) -> Result<()> {
    let Col::Bool(values, nulls) = col else {
        return Err(mismatch());
    };
    values.append(v);
    nulls.append_non_null();
    Ok(())
}

#[inline]
fn push_i64(col: &mut Col, v: i64) -> Result<()> {
    let Col::I64(p) = col else { return Err(mismatch()) };
    p.push(v);
    Ok(())
}

#[inline]
fn push_bytes(col: &mut Col, bytes: &[u8]) -> Result<()> {
    let Col::Var(v) = col else { return Err(mismatch()) };
    v.push(bytes)
}

/// The Arrow array of a column built for `node`.
fn finish(plan: &Plan, node: &Node, col: Col) -> Result<ArrayRef> {
    match (node.card, col) {
        (Card::List, Col::List(offsets, items)) => {
            let DataType::List(item) = &node.data_type else {
                return Err(mismatch());
            };
            let values = finish_value(plan, node, *items)?;
            Ok(Arc::new(ListArray::try_new(
                item.clone(),
                OffsetBuffer::new(ScalarBuffer::from(offsets)),
                values,
                None,
            )?))
        }
        (Card::Map, Col::Map(offsets, keys, values)) => {
            let (DataType::Map(entries, sorted), Some(entry)) = (&node.data_type, &node.entry) else {
                return Err(mismatch());
            };
            let DataType::Struct(fields) = entries.data_type() else {
                return Err(mismatch());
            };
            let keys = finish_value(plan, &entry.0, *keys)?;
            let values = finish_value(plan, &entry.1, *values)?;
            let entries_array = StructArray::try_new(fields.clone(), vec![keys, values], None)?;
            Ok(Arc::new(MapArray::try_new(
                entries.clone(),
                OffsetBuffer::new(ScalarBuffer::from(offsets)),
                entries_array,
                None,
                *sorted,
            )?))
        }
        (_, col) => finish_value(plan, node, col),
    }
}

/// The array of one value per row of `node` (a list's items, a map's keys or values, a single field).
fn finish_value(plan: &Plan, node: &Node, col: Col) -> Result<ArrayRef> {
    let array: ArrayRef = match (&node.shape, col) {
        (Shape::Struct(_, children), Col::Struct(cols, mut nulls)) => {
            let fields = match value_type(node) {
                DataType::Struct(fields) => fields.clone(),
                _ => return Err(mismatch()),
            };
            let arrays = children
                .iter()
                .zip(cols)
                .map(|(n, c)| finish(plan, n, c))
                .collect::<Result<Vec<_>>>()?;
            Arc::new(StructArray::try_new(fields, arrays, nulls.finish())?)
        }
        (Shape::Timestamp, Col::I64(mut p)) => {
            Arc::new(TimestampNanosecondArray::new(p.values.into(), p.nulls.finish()).with_timezone("+00:00"))
        }
        (Shape::Duration, Col::I64(mut p)) => Arc::new(DurationNanosecondArray::new(p.values.into(), p.nulls.finish())),
        (Shape::Json(_), Col::Var(mut v)) => Arc::new(StringArray::try_new(
            OffsetBuffer::new(ScalarBuffer::from(v.offsets)),
            v.data.into(),
            v.nulls.finish(),
        )?),
        (Shape::Scalar | Shape::Wrapper(_), col) => {
            let kind = match node.shape {
                Shape::Wrapper(k) => k,
                _ => node.kind,
            };
            scalar_array(plan, kind, col)?
        }
        (Shape::Marker | Shape::Raw, col) => scalar_array(plan, Kind::Bytes, col)?,
        _ => return Err(mismatch()),
    };
    Ok(array)
}

/// The type of one value of `node` (its list's item type for a repeated field).
fn value_type(node: &Node) -> &DataType {
    match &node.data_type {
        DataType::List(item) if node.card == Card::List => item.data_type(),
        t => t,
    }
}

fn scalar_array(plan: &Plan, kind: Kind, col: Col) -> Result<ArrayRef> {
    Ok(match col {
        Col::Bool(mut v, mut n) => Arc::new(BooleanArray::new(v.finish(), n.finish())),
        Col::I32(mut p) => match kind {
            Kind::Enum(e) => {
                let names = StringArray::from_iter_values(&plan.enums[e as usize].names);
                let keys = Int32Array::new(p.values.into(), p.nulls.finish());
                Arc::new(DictionaryArray::<Int32Type>::try_new(keys, Arc::new(names))?)
            }
            _ => Arc::new(Int32Array::new(p.values.into(), p.nulls.finish())),
        },
        Col::I64(mut p) => Arc::new(Int64Array::new(p.values.into(), p.nulls.finish())),
        Col::U32(mut p) => Arc::new(UInt32Array::new(p.values.into(), p.nulls.finish())),
        Col::U64(mut p) => Arc::new(UInt64Array::new(p.values.into(), p.nulls.finish())),
        Col::F32(mut p) => Arc::new(Float32Array::new(p.values.into(), p.nulls.finish())),
        Col::F64(mut p) => Arc::new(Float64Array::new(p.values.into(), p.nulls.finish())),
        Col::Var(mut v) => {
            let offsets = OffsetBuffer::new(ScalarBuffer::from(v.offsets));
            if kind == Kind::String {
                Arc::new(StringArray::try_new(offsets, v.data.into(), v.nulls.finish())?)
            } else {
                Arc::new(BinaryArray::try_new(offsets, v.data.into(), v.nulls.finish())?)
            }
        }
        Col::Struct(..) | Col::List(..) | Col::Map(..) => return Err(mismatch()),
    })
}
