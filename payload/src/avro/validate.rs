//! Payload validation: checks that bytes are exactly one Avro datum of a writer schema.
//!
//! Runs once per event, before the payload reaches the arrow-avro decoder, which must only ever see
//! well-formed data. A [`Validator`] is compiled once per writer schema into a flat plan (nodes
//! indexed by `u32`, named references resolved, recursion by index), and [`Validator::validate`]
//! walks the bytes along it without allocating or building values.
//!
//! It follows the Avro 1.11 binary encoding, and is strict where decoders differ:
//! - an `int` takes at most 5 bytes and must fit 32 bits; a `long` at most 10 bytes, no bits past 64;
//! - a `boolean` is the byte 0 or 1;
//! - a block written with a negative count must declare its exact byte size, because arrow-avro
//!   skips projected-out arrays and maps by that size;
//! - a `uuid` string is in the hyphenated 8-4-4-4-12 form, `uuid` bytes are 16 long, and
//!   `big-decimal` bytes hold exactly an unscaled value and a scale. Decimals are checked as their
//!   underlying bytes or fixed, dates and times as their int or long.
//!
//! Hostile input is bounded: records, arrays and maps nest at most [`MAX_DEPTH`] deep; items that
//! take at least one byte each cannot outnumber the bytes left, which is checked before the first
//! item; items that take no bytes at all (`null`, a zero-size `fixed`, records of only such fields)
//! are counted but never walked, and one datum holds at most [`MAX_ZERO_WIDTH_ITEMS`] of them.

use std::collections::HashMap;

use apache_avro::Schema;
use apache_avro::schema::{DecimalSchema, FixedSchema, InnerDecimalSchema, Name, NamesRef, ResolvedSchema, UuidSchema};

/// How deep records, arrays and maps may nest in one datum (a recursive linked list counts one
/// level per element).
pub const MAX_DEPTH: u32 = 64;

/// How many zero-byte items (for example the elements of an `array<null>`) one datum may hold.
/// Such items cost nothing to encode, so without a bound a few bytes could claim billions of them.
pub const MAX_ZERO_WIDTH_ITEMS: u64 = 1 << 16;

/// Why a schema cannot be compiled into a [`Validator`].
#[derive(Debug, thiserror::Error)]
pub enum CompileError {
    /// The text is not an Avro schema.
    #[error("not valid Avro: {0}")]
    Parse(String),
    /// The schema's named types do not resolve (a duplicate definition or an unknown reference).
    #[error("schema names do not resolve: {0}")]
    Names(#[source] apache_avro::Error),
    /// A reference names a type the schema does not define.
    #[error("reference to undefined type {0}")]
    UnknownType(String),
    /// A logical type that needs a fixed of one size annotates a fixed of another.
    #[error("{logical} needs a fixed of size {expected}, not {size}")]
    FixedSize {
        logical: &'static str,
        expected: usize,
        size: usize,
    },
    /// The schema has more types or branches than a `u32` can index.
    #[error("schema too large to compile")]
    TooLarge,
}

/// Why bytes are not exactly one datum of the schema. [`ValidateError::reason`] is the stable code
/// for dead-letter records and metric labels. None of these is worth retrying: the bytes are bad.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ValidateError {
    #[error("datum is shorter than its encoding says")]
    Truncated,
    #[error("malformed variable-length integer")]
    BadVarint,
    #[error("negative length")]
    NegativeLength,
    #[error("string is not valid UTF-8")]
    InvalidUtf8,
    #[error("boolean byte {0} is neither 0 nor 1")]
    InvalidBoolean(u8),
    #[error("enum index {index} out of range for {symbols} symbols")]
    EnumOutOfRange { index: i32, symbols: u32 },
    #[error("union index {index} out of range for {branches} branches")]
    UnionOutOfRange { index: i64, branches: u32 },
    #[error("int out of 32-bit range")]
    IntOutOfRange,
    #[error("block declares {declared} bytes but its items take {actual}")]
    BlockSizeMismatch { declared: usize, actual: usize },
    #[error("more than {MAX_ZERO_WIDTH_ITEMS} zero-byte array items")]
    TooManyItems,
    #[error("records, arrays and maps nest deeper than {MAX_DEPTH}")]
    TooDeep,
    #[error("value is not a valid {logical}")]
    InvalidLogicalValue { logical: &'static str },
    #[error("{0} bytes left over after the datum")]
    TrailingBytes(usize),
}

impl ValidateError {
    /// A short, stable code for metrics labels and dead-letter records.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::Truncated => "truncated",
            Self::BadVarint => "bad_varint",
            Self::NegativeLength => "negative_length",
            Self::InvalidUtf8 => "invalid_utf8",
            Self::InvalidBoolean(_) => "invalid_boolean",
            Self::EnumOutOfRange { .. } => "enum_out_of_range",
            Self::UnionOutOfRange { .. } => "union_out_of_range",
            Self::IntOutOfRange => "int_out_of_range",
            Self::BlockSizeMismatch { .. } => "block_size_mismatch",
            Self::TooManyItems => "too_many_items",
            Self::TooDeep => "too_deep",
            Self::InvalidLogicalValue { .. } => "invalid_logical_value",
            Self::TrailingBytes(_) => "trailing_bytes",
        }
    }
}

/// A run of ids in [`Validator::children`]: a record's fields or a union's branches.
#[derive(Debug, Clone, Copy)]
struct Span {
    start: u32,
    len: u32,
}

/// One step of the plan. Logical types are folded into the encoding they check.
#[derive(Debug, Clone, Copy)]
enum Node {
    Null,
    Boolean,
    /// `int`, `date`, `time-millis`.
    Int,
    /// `long`, `time-micros` and the timestamps.
    Long,
    /// `float`, `double`, `fixed` and everything stored as one: this many raw bytes.
    Fixed(usize),
    /// `bytes` and a `decimal` on bytes.
    Bytes,
    String,
    UuidString,
    UuidBytes,
    BigDecimal,
    Enum {
        symbols: u32,
    },
    Union {
        branches: Span,
    },
    Record {
        fields: Span,
    },
    /// `zero_width`: every item takes no bytes, so items are counted, not walked.
    Array {
        items: u32,
        zero_width: bool,
    },
    Map {
        values: u32,
    },
}

/// A schema compiled into a flat plan for validation. Built once per schema id.
#[derive(Debug)]
pub struct Validator {
    nodes: Vec<Node>,
    children: Vec<u32>,
    root: u32,
}

impl Validator {
    /// Compiles `schema`, resolving named references; recursive schemas compile to cycles of ids.
    pub fn new(schema: &Schema) -> Result<Self, CompileError> {
        let resolved = ResolvedSchema::try_from(schema).map_err(CompileError::Names)?;
        let mut compiler = Compiler {
            names: resolved.get_names(),
            nodes: Vec::new(),
            children: Vec::new(),
            named: HashMap::new(),
        };
        let root = compiler.compile(schema, None)?;
        let Compiler {
            mut nodes, children, ..
        } = compiler;
        mark_zero_width_arrays(&mut nodes, &children);
        Ok(Self { nodes, children, root })
    }

    /// Ok when `datum` is exactly one datum; the error says why not.
    ///
    /// Hot path: runs once per event. Allocates nothing.
    pub fn validate(&self, datum: &[u8]) -> Result<(), ValidateError> {
        let mut cursor = Cursor {
            rest: datum,
            zero_width_budget: MAX_ZERO_WIDTH_ITEMS,
        };
        self.walk(self.root, &mut cursor, 0)?;
        match cursor.rest.len() {
            0 => Ok(()),
            n => Err(ValidateError::TrailingBytes(n)),
        }
    }

    fn span(&self, span: Span) -> &[u32] {
        // Spans are built by the compiler from this very vector.
        let start = span.start as usize;
        &self.children[start..start + span.len as usize]
    }

    /// Checks one value of node `id` at the cursor. `depth` counts enclosing records, arrays and maps.
    fn walk(&self, mut id: u32, cur: &mut Cursor<'_>, depth: u32) -> Result<(), ValidateError> {
        loop {
            // Ids come from the compiler, which only hands out ids of pushed nodes.
            let node = self.nodes[id as usize];
            return match node {
                Node::Union { branches } => {
                    let index = cur.long()?;
                    let branch = usize::try_from(index).ok().and_then(|i| self.span(branches).get(i));
                    match branch {
                        // Each pass reads an index, so this loop ends: once per union in Avro, whose
                        // unions never directly contain unions.
                        Some(&branch) => {
                            id = branch;
                            continue;
                        }
                        None => Err(ValidateError::UnionOutOfRange {
                            index,
                            branches: branches.len,
                        }),
                    }
                }
                Node::Record { fields } => {
                    if depth >= MAX_DEPTH {
                        return Err(ValidateError::TooDeep);
                    }
                    for &field in self.span(fields) {
                        // Leaves are checked in line: most fields are, and a call per field costs more.
                        let field_node = self.nodes[field as usize];
                        match leaf(field_node, cur) {
                            Some(checked) => checked?,
                            None => self.walk(field, cur, depth + 1)?,
                        }
                    }
                    Ok(())
                }
                Node::Array { items, zero_width } => {
                    let items = if zero_width {
                        Items::ZeroWidth
                    } else {
                        Items::Values(items)
                    };
                    self.blocks(items, cur, depth)
                }
                Node::Map { values } => self.blocks(Items::Entries(values), cur, depth),
                // Every other node is a leaf, which `leaf` always answers.
                _ => leaf(node, cur).unwrap_or(Ok(())),
            };
        }
    }

    /// Checks the blocks of an array or map up to and including the zero count that ends them.
    fn blocks(&self, items: Items, cur: &mut Cursor<'_>, depth: u32) -> Result<(), ValidateError> {
        if depth >= MAX_DEPTH {
            return Err(ValidateError::TooDeep);
        }
        loop {
            let count = cur.long()?;
            if count == 0 {
                return Ok(());
            }
            // A negative count is followed by the block's size in bytes, which readers may use to skip it.
            let declared = if count < 0 {
                let size = cur.len()?;
                Some((size, cur.rest.len()))
            } else {
                None
            };
            let n = count.unsigned_abs();
            match items {
                Items::ZeroWidth => {
                    cur.zero_width_budget = cur
                        .zero_width_budget
                        .checked_sub(n)
                        .ok_or(ValidateError::TooManyItems)?;
                }
                Items::Values(item) | Items::Entries(item) => {
                    // Each item (or map entry) takes at least one byte: a larger count cannot fit,
                    // and rejecting it here keeps a hostile count from spinning the loop.
                    if n > cur.rest.len() as u64 {
                        return Err(ValidateError::Truncated);
                    }
                    let is_map = matches!(items, Items::Entries(_));
                    for _ in 0..n {
                        if is_map {
                            cur.string()?;
                        }
                        self.walk(item, cur, depth + 1)?;
                    }
                }
            }
            if let Some((size, before)) = declared {
                let actual = before - cur.rest.len();
                if actual != size {
                    return Err(ValidateError::BlockSizeMismatch { declared: size, actual });
                }
            }
        }
    }
}

/// What the blocks of an array or map hold.
#[derive(Debug, Clone, Copy)]
enum Items {
    /// Array items that take no bytes.
    ZeroWidth,
    /// Array items of this node.
    Values(u32),
    /// Map entries: a string key, then a value of this node.
    Entries(u32),
}

/// The unread rest of a datum.
#[derive(Debug)]
struct Cursor<'a> {
    rest: &'a [u8],
    zero_width_budget: u64,
}

impl<'a> Cursor<'a> {
    #[inline]
    fn byte(&mut self) -> Result<u8, ValidateError> {
        let (&b, rest) = self.rest.split_first().ok_or(ValidateError::Truncated)?;
        self.rest = rest;
        Ok(b)
    }

    #[inline]
    fn take(&mut self, n: usize) -> Result<&'a [u8], ValidateError> {
        let (head, rest) = self.rest.split_at_checked(n).ok_or(ValidateError::Truncated)?;
        self.rest = rest;
        Ok(head)
    }

    /// A zig-zag varint `long`: at most 10 bytes, the tenth holding only bit 63.
    #[inline]
    fn long(&mut self) -> Result<i64, ValidateError> {
        let first = self.byte()?;
        if first < 0x80 {
            return Ok(unzigzag(u64::from(first)));
        }
        let mut value = u64::from(first & 0x7f);
        for shift in (7..=63).step_by(7) {
            let b = self.byte()?;
            if shift == 63 && b > 1 {
                return Err(ValidateError::BadVarint);
            }
            value |= u64::from(b & 0x7f) << shift;
            if b < 0x80 {
                return Ok(unzigzag(value));
            }
        }
        Err(ValidateError::BadVarint)
    }

    /// A zig-zag varint `int`: at most 5 bytes, and its value must fit 32 bits.
    #[inline]
    fn int(&mut self) -> Result<i32, ValidateError> {
        let first = self.byte()?;
        if first < 0x80 {
            return Ok(unzigzag(u64::from(first)) as i32);
        }
        let mut value = u64::from(first & 0x7f);
        for shift in [7, 14, 21, 28] {
            let b = self.byte()?;
            value |= u64::from(b & 0x7f) << shift;
            if b < 0x80 {
                let value = u32::try_from(value).map_err(|_| ValidateError::IntOutOfRange)?;
                // A zig-zagged u32 decodes to an i32.
                return Ok(unzigzag(u64::from(value)) as i32);
            }
        }
        Err(ValidateError::BadVarint)
    }

    /// A `long` length that is non-negative and within the bytes left.
    #[inline]
    fn len(&mut self) -> Result<usize, ValidateError> {
        let len = self.long()?;
        if len < 0 {
            return Err(ValidateError::NegativeLength);
        }
        match usize::try_from(len) {
            Ok(len) if len <= self.rest.len() => Ok(len),
            _ => Err(ValidateError::Truncated),
        }
    }

    #[inline]
    fn bytes(&mut self) -> Result<&'a [u8], ValidateError> {
        let len = self.len()?;
        self.take(len)
    }

    #[inline]
    fn string(&mut self) -> Result<(), ValidateError> {
        let s = self.bytes()?;
        // Most strings are short and ASCII: the inlined check is cheaper than the call it saves.
        if s.is_ascii() || std::str::from_utf8(s).is_ok() {
            Ok(())
        } else {
            Err(ValidateError::InvalidUtf8)
        }
    }
}

#[inline]
fn unzigzag(z: u64) -> i64 {
    (z >> 1) as i64 ^ -((z & 1) as i64)
}

/// Checks a value of a node that holds no other nodes; `None` for records, unions, arrays and maps.
#[inline(always)]
fn leaf(node: Node, cur: &mut Cursor<'_>) -> Option<Result<(), ValidateError>> {
    Some(match node {
        Node::Null => Ok(()),
        Node::Boolean => match cur.byte() {
            Ok(0 | 1) => Ok(()),
            Ok(b) => Err(ValidateError::InvalidBoolean(b)),
            Err(e) => Err(e),
        },
        Node::Int => cur.int().map(drop),
        Node::Long => cur.long().map(drop),
        Node::Fixed(size) => cur.take(size).map(drop),
        Node::Bytes => cur.bytes().map(drop),
        Node::String => cur.string(),
        Node::UuidString => cur.bytes().and_then(|s| {
            if is_hyphenated_uuid(s) {
                Ok(())
            } else if std::str::from_utf8(s).is_err() {
                Err(ValidateError::InvalidUtf8)
            } else {
                Err(ValidateError::InvalidLogicalValue { logical: "uuid" })
            }
        }),
        Node::UuidBytes => cur.bytes().and_then(|b| match b.len() {
            16 => Ok(()),
            _ => Err(ValidateError::InvalidLogicalValue { logical: "uuid" }),
        }),
        Node::BigDecimal => cur.bytes().and_then(|b| {
            if is_big_decimal(b) {
                Ok(())
            } else {
                Err(ValidateError::InvalidLogicalValue { logical: "big-decimal" })
            }
        }),
        Node::Enum { symbols } => cur.int().and_then(|index| match u32::try_from(index) {
            Ok(i) if i < symbols => Ok(()),
            _ => Err(ValidateError::EnumOutOfRange { index, symbols }),
        }),
        Node::Union { .. } | Node::Record { .. } | Node::Array { .. } | Node::Map { .. } => return None,
    })
}

/// The canonical 8-4-4-4-12 hex form (either case), which every UUID parser accepts.
fn is_hyphenated_uuid(s: &[u8]) -> bool {
    let Ok(s) = <&[u8; 36]>::try_from(s) else {
        return false;
    };
    // A fold rather than `all`: no early exit, so the compiler can check a group at once.
    let all_hex = |group: &[u8]| group.iter().fold(true, |ok, b| ok & b.is_ascii_hexdigit());
    s[8] == b'-'
        && s[13] == b'-'
        && s[18] == b'-'
        && s[23] == b'-'
        && all_hex(&s[..8])
        && all_hex(&s[9..13])
        && all_hex(&s[14..18])
        && all_hex(&s[19..23])
        && all_hex(&s[24..])
}

/// A `big-decimal` value's bytes: the unscaled value as Avro `bytes`, then the scale as a `long`,
/// and nothing after.
fn is_big_decimal(value: &[u8]) -> bool {
    let mut inner = Cursor {
        rest: value,
        zero_width_budget: 0,
    };
    inner.bytes().is_ok() && inner.long().is_ok() && inner.rest.is_empty()
}

/// Builds the plan. Named types are compiled once, keyed by full name, and registered before
/// their fields so that recursive references find them.
struct Compiler<'r, 's> {
    names: &'r NamesRef<'s>,
    nodes: Vec<Node>,
    children: Vec<u32>,
    named: HashMap<Name, u32>,
}

impl Compiler<'_, '_> {
    fn push(&mut self, node: Node) -> Result<u32, CompileError> {
        let id = u32::try_from(self.nodes.len()).map_err(|_| CompileError::TooLarge)?;
        self.nodes.push(node);
        Ok(id)
    }

    fn span(&mut self, ids: &[u32]) -> Result<Span, CompileError> {
        let start = u32::try_from(self.children.len()).map_err(|_| CompileError::TooLarge)?;
        let len = u32::try_from(ids.len()).map_err(|_| CompileError::TooLarge)?;
        start.checked_add(len).ok_or(CompileError::TooLarge)?;
        self.children.extend_from_slice(ids);
        Ok(Span { start, len })
    }

    /// Compiles `schema` met inside `namespace` (the namespace unqualified names resolve in).
    fn compile(&mut self, schema: &Schema, namespace: Option<&str>) -> Result<u32, CompileError> {
        let node = match schema {
            Schema::Null => Node::Null,
            Schema::Boolean => Node::Boolean,
            Schema::Int | Schema::Date | Schema::TimeMillis => Node::Int,
            Schema::Long
            | Schema::TimeMicros
            | Schema::TimestampMillis
            | Schema::TimestampMicros
            | Schema::TimestampNanos
            | Schema::LocalTimestampMillis
            | Schema::LocalTimestampMicros
            | Schema::LocalTimestampNanos => Node::Long,
            Schema::Float => Node::Fixed(4),
            Schema::Double => Node::Fixed(8),
            Schema::Bytes
            | Schema::Decimal(DecimalSchema {
                inner: InnerDecimalSchema::Bytes,
                ..
            }) => Node::Bytes,
            Schema::String => Node::String,
            Schema::Uuid(UuidSchema::String) => Node::UuidString,
            Schema::Uuid(UuidSchema::Bytes) => Node::UuidBytes,
            Schema::BigDecimal => Node::BigDecimal,
            Schema::Fixed(fixed)
            | Schema::Decimal(DecimalSchema {
                inner: InnerDecimalSchema::Fixed(fixed),
                ..
            }) => return self.fixed(fixed, namespace, None),
            Schema::Uuid(UuidSchema::Fixed(fixed)) => return self.fixed(fixed, namespace, Some(("uuid", 16))),
            Schema::Duration(fixed) => return self.fixed(fixed, namespace, Some(("duration", 12))),
            Schema::Enum(e) => {
                let name = e.name.fully_qualified_name(namespace);
                if let Some(&id) = self.named.get(&*name) {
                    return Ok(id);
                }
                let symbols = u32::try_from(e.symbols.len()).map_err(|_| CompileError::TooLarge)?;
                let id = self.push(Node::Enum { symbols })?;
                self.named.insert(name.into_owned(), id);
                return Ok(id);
            }
            Schema::Array(a) => Node::Array {
                items: self.compile(&a.items, namespace)?,
                zero_width: false, // set once the whole plan is known
            },
            Schema::Map(m) => Node::Map {
                values: self.compile(&m.types, namespace)?,
            },
            Schema::Union(u) => {
                let branches = u
                    .variants()
                    .iter()
                    .map(|v| self.compile(v, namespace))
                    .collect::<Result<Vec<_>, _>>()?;
                Node::Union {
                    branches: self.span(&branches)?,
                }
            }
            Schema::Record(r) => {
                let name = r.name.fully_qualified_name(namespace).into_owned();
                if let Some(&id) = self.named.get(&name) {
                    return Ok(id);
                }
                let id = self.push(Node::Null)?; // a placeholder until the fields are compiled
                self.named.insert(name.clone(), id);
                let fields = r
                    .fields
                    .iter()
                    .map(|f| self.compile(&f.schema, name.namespace()))
                    .collect::<Result<Vec<_>, _>>()?;
                let fields = self.span(&fields)?;
                self.nodes[id as usize] = Node::Record { fields };
                return Ok(id);
            }
            Schema::Ref { name } => {
                let name = name.fully_qualified_name(namespace);
                if let Some(&id) = self.named.get(&*name) {
                    return Ok(id);
                }
                let target = *self
                    .names
                    .get(&*name)
                    .ok_or_else(|| CompileError::UnknownType(name.to_string()))?;
                return self.compile(target, name.namespace());
            }
        };
        self.push(node)
    }

    fn fixed(
        &mut self,
        fixed: &FixedSchema,
        namespace: Option<&str>,
        logical: Option<(&'static str, usize)>,
    ) -> Result<u32, CompileError> {
        if let Some((logical, expected)) = logical
            && fixed.size != expected
        {
            return Err(CompileError::FixedSize {
                logical,
                expected,
                size: fixed.size,
            });
        }
        let name = fixed.name.fully_qualified_name(namespace);
        if let Some(&id) = self.named.get(&*name) {
            return Ok(id);
        }
        let id = self.push(Node::Fixed(fixed.size))?;
        self.named.insert(name.into_owned(), id);
        Ok(id)
    }
}

/// Flags arrays whose items always take zero bytes. Computed as a least fixpoint, so a record that
/// can only contain itself is not zero-width (no finite datum has it; validation stops at
/// [`MAX_DEPTH`]).
fn mark_zero_width_arrays(nodes: &mut [Node], children: &[u32]) {
    let mut zero = vec![false; nodes.len()];
    let mut changed = true;
    while changed {
        changed = false;
        for (i, node) in nodes.iter().enumerate() {
            if zero[i] {
                continue;
            }
            let is_zero = match *node {
                Node::Null | Node::Fixed(0) => true,
                Node::Record { fields } => {
                    let start = fields.start as usize;
                    children[start..start + fields.len as usize]
                        .iter()
                        .all(|&f| zero[f as usize])
                }
                _ => false,
            };
            if is_zero {
                zero[i] = true;
                changed = true;
            }
        }
    }
    for node in nodes.iter_mut() {
        if let Node::Array { items, zero_width } = node {
            *zero_width = zero[*items as usize];
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use apache_avro::reader::datum::GenericDatumReader;
    use apache_avro::types::Value;
    use apache_avro::writer::datum::GenericDatumWriter;
    use apache_avro::{BigDecimal, Days, Decimal, Duration, Millis, Months, Uuid};

    use super::*;
    use crate::avro::sample::{PayloadGenerator, SplitMix64};

    fn parse(json: &str) -> Schema {
        Schema::parse_str(json).unwrap()
    }

    fn example(path: &str) -> Schema {
        let text = std::fs::read_to_string(format!("{}/../schemas/{path}", env!("CARGO_MANIFEST_DIR"))).unwrap();
        Schema::parse_str(&text).unwrap()
    }

    fn encode(schema: &Schema, value: Value) -> Vec<u8> {
        GenericDatumWriter::builder(schema)
            .build()
            .unwrap()
            .write_value_to_vec(value)
            .unwrap()
    }

    /// The reference decoder reads `datum` as one value and consumes all of it.
    fn reference_reads_exactly(reader: &GenericDatumReader<'_>, datum: &[u8]) -> Result<(), String> {
        let mut rest = datum;
        reader.read_value(&mut rest).map_err(|e| e.to_string())?;
        match rest.len() {
            0 => Ok(()),
            n => Err(format!("reference decoder left {n} bytes")),
        }
    }

    /// Runs `f` on a thread with room for the reference decoder, whose debug-build frames overflow
    /// the default test stack on datums nested [`MAX_DEPTH`] deep.
    fn with_big_stack(f: impl FnOnce() + Send + 'static) {
        std::thread::Builder::new()
            .stack_size(64 << 20)
            .spawn(f)
            .unwrap()
            .join()
            .unwrap();
    }

    /// Zig-zag varint, for hand-written encodings.
    fn long(v: i64) -> Vec<u8> {
        let mut z = ((v << 1) ^ (v >> 63)) as u64;
        let mut out = Vec::new();
        while z >= 0x80 {
            out.push((z as u8) | 0x80);
            z >>= 7;
        }
        out.push(z as u8);
        out
    }

    fn cat(parts: &[&[u8]]) -> Vec<u8> {
        parts.concat()
    }

    fn string(s: &str) -> Vec<u8> {
        cat(&[&long(s.len() as i64), s.as_bytes()])
    }

    fn record(fields: &[(&str, Value)]) -> Value {
        Value::Record(fields.iter().map(|(k, v)| (k.to_string(), v.clone())).collect())
    }

    const PRIMITIVES: &str = r#"{"type":"record","name":"Primitives","fields":[
        {"name":"n","type":"null"},{"name":"b","type":"boolean"},{"name":"i","type":"int"},
        {"name":"l","type":"long"},{"name":"f","type":"float"},{"name":"d","type":"double"},
        {"name":"by","type":"bytes"},{"name":"s","type":"string"}]}"#;

    const NESTED: &str = r#"{"type":"record","name":"Outer","namespace":"a.b","fields":[
        {"name":"inner","type":{"type":"record","name":"Inner","fields":[
            {"name":"x","type":"int"},
            {"name":"tag","type":{"type":"enum","name":"Tag","symbols":["A","B","C"]}}]}},
        {"name":"again","type":"Inner"},
        {"name":"other","type":{"type":"record","name":"Other","namespace":"c","fields":[
            {"name":"t","type":"a.b.Tag"},
            {"name":"h","type":{"type":"fixed","name":"Hash","size":4}}]}},
        {"name":"h2","type":"c.Hash"}]}"#;

    const COLLECTIONS: &str = r#"{"type":"record","name":"Collections","fields":[
        {"name":"ints","type":{"type":"array","items":"int"}},
        {"name":"labels","type":{"type":"map","values":"string"}},
        {"name":"deep","type":{"type":"array","items":{"type":"map","values":{"type":"array","items":"long"}}}},
        {"name":"nulls","type":{"type":"array","items":"null"}},
        {"name":"empties","type":{"type":"array","items":{"type":"record","name":"Empty","fields":[]}}}]}"#;

    const UNIONS: &str = r#"{"type":"record","name":"Unions","fields":[
        {"name":"u","type":["null","string","long",{"type":"record","name":"P","fields":[{"name":"x","type":"double"}]}]},
        {"name":"opt","type":["null","int"]}]}"#;

    const ENUM: &str = r#"{"type":"enum","name":"Colour","symbols":["RED","GREEN","BLUE"]}"#;
    const FIXED: &str = r#"{"type":"fixed","name":"Six","size":6}"#;
    const TOP_UNION: &str = r#"["null","string"]"#;

    const LOGICAL: &str = r#"{"type":"record","name":"Logical","fields":[
        {"name":"id","type":{"type":"string","logicalType":"uuid"}},
        {"name":"day","type":{"type":"int","logicalType":"date"}},
        {"name":"tm","type":{"type":"int","logicalType":"time-millis"}},
        {"name":"tu","type":{"type":"long","logicalType":"time-micros"}},
        {"name":"tsm","type":{"type":"long","logicalType":"timestamp-millis"}},
        {"name":"tsu","type":{"type":"long","logicalType":"timestamp-micros"}},
        {"name":"tsn","type":{"type":"long","logicalType":"timestamp-nanos"}},
        {"name":"ltsm","type":{"type":"long","logicalType":"local-timestamp-millis"}},
        {"name":"ltsu","type":{"type":"long","logicalType":"local-timestamp-micros"}},
        {"name":"ltsn","type":{"type":"long","logicalType":"local-timestamp-nanos"}},
        {"name":"price","type":{"type":"bytes","logicalType":"decimal","precision":10,"scale":2}},
        {"name":"amount","type":{"type":"fixed","name":"Amount","size":8,"logicalType":"decimal","precision":18,"scale":4}},
        {"name":"span","type":{"type":"fixed","name":"Span","size":12,"logicalType":"duration"}},
        {"name":"fid","type":{"type":"fixed","name":"Fid","size":16,"logicalType":"uuid"}},
        {"name":"bid","type":{"type":"bytes","logicalType":"uuid"}},
        {"name":"big","type":{"type":"bytes","logicalType":"big-decimal"}}]}"#;

    const LINKED_LIST: &str = r#"{"type":"record","name":"Node","fields":[
        {"name":"next","type":["null","Node"]},{"name":"v","type":"int"}]}"#;

    const ARRAY_OF_INT: &str = r#"{"type":"array","items":"int"}"#;
    const MAP_OF_STRING: &str = r#"{"type":"map","values":"string"}"#;
    const ARRAY_OF_NULL: &str = r#"{"type":"array","items":"null"}"#;

    fn list(values: &[i32]) -> Value {
        let mut next = Value::Union(0, Box::new(Value::Null));
        for &v in values.iter().rev() {
            next = Value::Union(1, Box::new(record(&[("next", next), ("v", Value::Int(v))])));
        }
        match next {
            Value::Union(_, node) => *node,
            other => other,
        }
    }

    /// A linked list `depth` nodes long, encoded by hand: each node is its `next` then its `v`.
    fn list_bytes(depth: usize) -> Vec<u8> {
        let mut out = vec![0x02; depth - 1];
        out.push(0x00);
        out.extend(std::iter::repeat_n(0x00, depth));
        out
    }

    /// Valid datums for a range of schemas, written by apache-avro and, for negative-count blocks, by hand.
    fn corpus() -> Vec<(Schema, Vec<Vec<u8>>)> {
        let mut out = Vec::new();

        let s = parse(PRIMITIVES);
        let prim = |b: bool, i: i32, l: i64, f: f32, d: f64, by: &[u8], st: &str| {
            record(&[
                ("n", Value::Null),
                ("b", Value::Boolean(b)),
                ("i", Value::Int(i)),
                ("l", Value::Long(l)),
                ("f", Value::Float(f)),
                ("d", Value::Double(d)),
                ("by", Value::Bytes(by.to_vec())),
                ("s", Value::String(st.to_string())),
            ])
        };
        let datums = vec![
            encode(&s, prim(false, 0, 0, 0.0, 0.0, b"", "")),
            encode(
                &s,
                prim(true, i32::MAX, i64::MAX, f32::MAX, f64::NAN, &[0, 255], "héllo ✓"),
            ),
            encode(
                &s,
                prim(true, i32::MIN, i64::MIN, -1.5, -0.0, &[7; 300], &"x".repeat(200)),
            ),
            encode(&s, prim(false, -64, 64, 1.0, 1e300, b"\xff\xfe", "🦀")),
        ];
        out.push((s, datums));

        let s = parse(NESTED);
        let inner = |x: i32, tag: u32| {
            let sym = ["A", "B", "C"][tag as usize].to_string();
            record(&[("x", Value::Int(x)), ("tag", Value::Enum(tag, sym))])
        };
        let v = record(&[
            ("inner", inner(1, 0)),
            ("again", inner(-300, 2)),
            (
                "other",
                record(&[
                    ("t", Value::Enum(1, "B".into())),
                    ("h", Value::Fixed(4, vec![1, 2, 3, 4])),
                ]),
            ),
            ("h2", Value::Fixed(4, vec![9, 9, 9, 9])),
        ]);
        let datums = vec![encode(&s, v)];
        out.push((s, datums));

        let s = parse(COLLECTIONS);
        let coll = |ints: &[i32], labels: &[(&str, &str)], nulls: usize, empties: usize| {
            let deep = Value::Array(vec![
                Value::Map(HashMap::from([
                    ("a".to_string(), Value::Array(vec![Value::Long(1), Value::Long(-1)])),
                    ("b".to_string(), Value::Array(vec![])),
                ])),
                Value::Map(HashMap::new()),
            ]);
            record(&[
                ("ints", Value::Array(ints.iter().map(|&i| Value::Int(i)).collect())),
                (
                    "labels",
                    Value::Map(
                        labels
                            .iter()
                            .map(|(k, v)| (k.to_string(), Value::String(v.to_string())))
                            .collect(),
                    ),
                ),
                ("deep", deep),
                ("nulls", Value::Array(vec![Value::Null; nulls])),
                ("empties", Value::Array(vec![record(&[]); empties])),
            ])
        };
        let datums = vec![
            encode(&s, coll(&[], &[], 0, 0)),
            encode(
                &s,
                coll(&[1, 2, 3, i32::MIN], &[("k", "v"), ("ключ", "значение")], 5, 3),
            ),
        ];
        out.push((s, datums));

        // Negative-count blocks carry their byte size; several blocks may make up one array or map.
        let s = parse(ARRAY_OF_INT);
        let datums = vec![
            encode(&s, Value::Array(vec![Value::Int(5)])),
            cat(&[&long(-2), &long(3), &long(1), &long(-100), &long(0)]),
            cat(&[
                &long(-1),
                &long(1),
                &long(7),
                &long(2),
                &long(8),
                &long(9),
                &long(-1),
                &long(1),
                &long(3),
                &long(0),
            ]),
        ];
        out.push((s, datums));
        let s = parse(MAP_OF_STRING);
        let entry = cat(&[&string("k"), &string("value")]);
        let two = cat(&[&string("a"), &string(""), &string("b"), &string("é")]);
        let datums = vec![
            cat(&[&long(-1), &long(entry.len() as i64), &entry, &long(0)]),
            cat(&[&long(-2), &long(two.len() as i64), &two, &long(1), &entry, &long(0)]),
            long(0),
        ];
        out.push((s, datums));
        let s = parse(ARRAY_OF_NULL);
        let datums = vec![
            cat(&[&long(10), &long(0)]),
            cat(&[&long(-3), &long(0), &long(4), &long(0)]),
        ];
        out.push((s, datums));

        let s = parse(UNIONS);
        let datums = vec![
            encode(
                &s,
                record(&[
                    ("u", Value::Union(0, Box::new(Value::Null))),
                    ("opt", Value::Union(0, Box::new(Value::Null))),
                ]),
            ),
            encode(
                &s,
                record(&[
                    ("u", Value::Union(1, Box::new(Value::String("s".into())))),
                    ("opt", Value::Union(1, Box::new(Value::Int(-7)))),
                ]),
            ),
            encode(
                &s,
                record(&[
                    ("u", Value::Union(2, Box::new(Value::Long(1 << 40)))),
                    ("opt", Value::Union(1, Box::new(Value::Int(0)))),
                ]),
            ),
            encode(
                &s,
                record(&[
                    ("u", Value::Union(3, Box::new(record(&[("x", Value::Double(2.5))])))),
                    ("opt", Value::Union(0, Box::new(Value::Null))),
                ]),
            ),
        ];
        out.push((s, datums));

        let s = parse(ENUM);
        let datums = (0..3)
            .map(|i| encode(&s, Value::Enum(i, ["RED", "GREEN", "BLUE"][i as usize].into())))
            .collect();
        out.push((s, datums));
        let s = parse(FIXED);
        let datums = vec![encode(&s, Value::Fixed(6, vec![0, 1, 2, 3, 4, 5]))];
        out.push((s, datums));
        let s = parse(TOP_UNION);
        let datums = vec![
            encode(&s, Value::Union(0, Box::new(Value::Null))),
            encode(&s, Value::Union(1, Box::new(Value::String("x".into())))),
        ];
        out.push((s, datums));

        let s = parse(LOGICAL);
        let logical = |seed: u8| {
            let uuid = Uuid::from_bytes([seed; 16]);
            record(&[
                ("id", Value::Uuid(uuid)),
                ("day", Value::Date(20_000 + i32::from(seed))),
                ("tm", Value::TimeMillis(86_399_999)),
                ("tu", Value::TimeMicros(1)),
                ("tsm", Value::TimestampMillis(1_764_115_200_000)),
                ("tsu", Value::TimestampMicros(-1)),
                ("tsn", Value::TimestampNanos(i64::MAX)),
                ("ltsm", Value::LocalTimestampMillis(0)),
                ("ltsu", Value::LocalTimestampMicros(i64::MIN)),
                ("ltsn", Value::LocalTimestampNanos(42)),
                ("price", Value::Decimal(Decimal::from(vec![0x01, seed]))),
                ("amount", Value::Decimal(Decimal::from(vec![0xff; 8]))),
                (
                    "span",
                    Value::Duration(Duration::new(Months::new(1), Days::new(2), Millis::new(3))),
                ),
                ("fid", Value::Uuid(uuid)),
                ("bid", Value::Uuid(uuid)),
                (
                    "big",
                    Value::BigDecimal(format!("-{seed}.125").parse::<BigDecimal>().unwrap()),
                ),
            ])
        };
        let datums = vec![encode(&s, logical(0)), encode(&s, logical(0xab))];
        out.push((s, datums));

        let s = parse(LINKED_LIST);
        let datums = vec![
            encode(&s, list(&[1])),
            encode(&s, list(&[1, 2, 3, 4, 5])),
            list_bytes(MAX_DEPTH as usize),
        ];
        out.push((s, datums));

        for path in [
            "billing/member_active.avsc",
            "client/api_call.avsc",
            "murron/Envelope.avsc",
        ] {
            let s = example(path);
            let generator = PayloadGenerator::new(&s, 1_764_115_200_000_000);
            let mut rng = SplitMix64::new(3);
            let datums = (0..20)
                .map(|_| encode(&s, generator.sample(&mut rng).unwrap()))
                .collect();
            out.push((s, datums));
        }
        out
    }

    #[test]
    fn datums_written_by_apache_avro_and_by_hand_are_valid() {
        with_big_stack(datums_written_by_apache_avro_and_by_hand_are_valid_on_this_thread);
    }

    fn datums_written_by_apache_avro_and_by_hand_are_valid_on_this_thread() {
        for (schema, datums) in corpus() {
            let validator = Validator::new(&schema).unwrap();
            let reader = GenericDatumReader::builder(&schema).build().unwrap();
            for datum in datums {
                assert_eq!(validator.validate(&datum), Ok(()), "{schema:?}: {datum:02x?}");
                reference_reads_exactly(&reader, &datum).unwrap();
            }
        }
    }

    #[test]
    fn sampled_payloads_are_valid_over_many_seeds() {
        let schemas = [
            example("billing/member_active.avsc"),
            example("client/api_call.avsc"),
            example("murron/Envelope.avsc"),
            parse(PRIMITIVES),
            parse(NESTED),
            parse(COLLECTIONS),
            parse(UNIONS),
            parse(LINKED_LIST),
        ];
        for schema in &schemas {
            let validator = Validator::new(schema).unwrap();
            let writer = GenericDatumWriter::builder(schema).build().unwrap();
            let generator = PayloadGenerator::new(schema, 1_764_115_200_000_000);
            for seed in 0..300 {
                let value = generator.sample(&mut SplitMix64::new(seed)).unwrap();
                let datum = writer.write_value_to_vec(value).unwrap();
                assert_eq!(validator.validate(&datum), Ok(()), "seed {seed}: {datum:02x?}");
            }
        }
    }

    #[test]
    fn every_strict_prefix_is_invalid_and_one_extra_byte_is_trailing() {
        for (schema, datums) in corpus() {
            let validator = Validator::new(&schema).unwrap();
            for datum in datums {
                for end in 0..datum.len() {
                    assert!(
                        validator.validate(&datum[..end]).is_err(),
                        "{schema:?}: prefix {end} of {datum:02x?}"
                    );
                }
                let mut longer = datum.clone();
                longer.push(0);
                assert_eq!(validator.validate(&longer), Err(ValidateError::TrailingBytes(1)));
            }
        }
    }

    #[test]
    fn each_error_has_a_crafted_example_and_a_reason_code() {
        use ValidateError as E;
        let uuid_bytes = r#"{"type":"bytes","logicalType":"uuid"}"#;
        let big = r#"{"type":"bytes","logicalType":"big-decimal"}"#;
        let uuid_str = r#"{"type":"string","logicalType":"uuid"}"#;
        let too_deep = list_bytes(MAX_DEPTH as usize + 1);
        let cases: Vec<(&str, Vec<u8>, ValidateError, &str)> = vec![
            (r#""int""#, vec![], E::Truncated, "truncated"),
            (r#""string""#, cat(&[&long(5), b"abc"]), E::Truncated, "truncated"),
            (
                r#""long""#,
                vec![0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02],
                E::BadVarint,
                "bad_varint",
            ),
            (r#""long""#, vec![0x80; 11], E::BadVarint, "bad_varint"),
            (
                r#""int""#,
                vec![0x80, 0x80, 0x80, 0x80, 0x80, 0x00],
                E::BadVarint,
                "bad_varint",
            ),
            (r#""bytes""#, long(-1), E::NegativeLength, "negative_length"),
            (
                ARRAY_OF_INT,
                cat(&[&long(-1), &long(-1), &long(1), &long(0)]),
                E::NegativeLength,
                "negative_length",
            ),
            (r#""string""#, vec![0x04, 0xc3, 0x28], E::InvalidUtf8, "invalid_utf8"),
            (
                MAP_OF_STRING,
                cat(&[&long(1), &[0x02, 0xff], &string("v"), &long(0)]),
                E::InvalidUtf8,
                "invalid_utf8",
            ),
            (r#""boolean""#, vec![2], E::InvalidBoolean(2), "invalid_boolean"),
            (
                ENUM,
                long(3),
                E::EnumOutOfRange { index: 3, symbols: 3 },
                "enum_out_of_range",
            ),
            (
                ENUM,
                long(-1),
                E::EnumOutOfRange { index: -1, symbols: 3 },
                "enum_out_of_range",
            ),
            (
                TOP_UNION,
                long(2),
                E::UnionOutOfRange { index: 2, branches: 2 },
                "union_out_of_range",
            ),
            (
                TOP_UNION,
                long(-1),
                E::UnionOutOfRange { index: -1, branches: 2 },
                "union_out_of_range",
            ),
            (
                r#""int""#,
                long(i64::from(i32::MAX) + 1),
                E::IntOutOfRange,
                "int_out_of_range",
            ),
            (
                r#""int""#,
                vec![0xff, 0xff, 0xff, 0xff, 0x1f],
                E::IntOutOfRange,
                "int_out_of_range",
            ),
            (
                ARRAY_OF_INT,
                cat(&[&long(-1), &long(2), &long(1), &long(0)]),
                E::BlockSizeMismatch { declared: 2, actual: 1 },
                "block_size_mismatch",
            ),
            (
                ARRAY_OF_NULL,
                cat(&[&long(-5), &long(1), &[0], &long(0)]),
                E::BlockSizeMismatch { declared: 1, actual: 0 },
                "block_size_mismatch",
            ),
            (
                ARRAY_OF_NULL,
                cat(&[&long(i64::MAX), &long(0)]),
                E::TooManyItems,
                "too_many_items",
            ),
            (
                ARRAY_OF_NULL,
                cat(&[&long(i64::MIN), &long(0), &long(0)]),
                E::TooManyItems,
                "too_many_items",
            ),
            (LINKED_LIST, too_deep, E::TooDeep, "too_deep"),
            (
                uuid_str,
                string("not-a-uuid"),
                E::InvalidLogicalValue { logical: "uuid" },
                "invalid_logical_value",
            ),
            (
                uuid_str,
                string("0123456789abcdef0123456789abcdef0123"),
                E::InvalidLogicalValue { logical: "uuid" },
                "invalid_logical_value",
            ),
            (
                uuid_bytes,
                cat(&[&long(15), &[0; 15]]),
                E::InvalidLogicalValue { logical: "uuid" },
                "invalid_logical_value",
            ),
            (
                big,
                cat(&[&long(2), &long(5), &[1]]),
                E::InvalidLogicalValue { logical: "big-decimal" },
                "invalid_logical_value",
            ),
            (
                big,
                cat(&[&long(4), &long(1), &[1], &long(2), &[0]]),
                E::InvalidLogicalValue { logical: "big-decimal" },
                "invalid_logical_value",
            ),
            (r#""null""#, vec![0], E::TrailingBytes(1), "trailing_bytes"),
            (r#""int""#, vec![0, 1, 2], E::TrailingBytes(2), "trailing_bytes"),
        ];
        for (schema, datum, expected, reason) in &cases {
            let validator = Validator::new(&parse(schema)).unwrap();
            let got = validator.validate(datum);
            assert_eq!(got, Err(*expected), "{schema} {datum:02x?}");
            assert_eq!(expected.reason(), *reason);
            assert!(!expected.to_string().is_empty());
        }
        let mut reasons: Vec<_> = cases.iter().map(|c| c.3).collect();
        reasons.dedup();
        assert_eq!(reasons.len(), 13, "one case group per variant: {reasons:?}");
        assert!(reasons.iter().all(|r| {
            r.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        }));
    }

    #[test]
    fn hostile_counts_are_rejected_without_walking_them() {
        // Counts far beyond the bytes left are rejected before the first item.
        let ints = Validator::new(&parse(ARRAY_OF_INT)).unwrap();
        assert_eq!(
            ints.validate(&cat(&[&long(1 << 62), &[0; 8]])),
            Err(ValidateError::Truncated)
        );
        assert_eq!(
            ints.validate(&cat(&[&long(i64::MIN), &long(0)])),
            Err(ValidateError::Truncated)
        );
        let maps = Validator::new(&parse(MAP_OF_STRING)).unwrap();
        assert_eq!(
            maps.validate(&cat(&[&long(i64::MAX), &[0; 8]])),
            Err(ValidateError::Truncated)
        );
        // Zero-byte items are counted, never walked, within a per-datum budget.
        let nulls = Validator::new(&parse(ARRAY_OF_NULL)).unwrap();
        let budget = MAX_ZERO_WIDTH_ITEMS as i64;
        assert_eq!(nulls.validate(&cat(&[&long(budget), &long(0)])), Ok(()));
        assert_eq!(
            nulls.validate(&cat(&[&long(budget), &long(1), &long(0)])),
            Err(ValidateError::TooManyItems)
        );
        let nested = Validator::new(&parse(r#"{"type":"array","items":{"type":"array","items":"null"}}"#)).unwrap();
        let inner = cat(&[&long(budget / 2 + 1), &long(0)]);
        assert_eq!(
            nested.validate(&cat(&[&long(2), &inner, &inner, &long(0)])),
            Err(ValidateError::TooManyItems)
        );
        // A record that can only contain itself has no finite datum: validation stops at the depth bound.
        let endless = Validator::new(&parse(
            r#"{"type":"record","name":"R","fields":[{"name":"r","type":"R"}]}"#,
        ))
        .unwrap();
        assert_eq!(endless.validate(&[]), Err(ValidateError::TooDeep));
    }

    #[test]
    fn recursion_is_bounded_by_depth_not_by_the_schema() {
        let validator = Validator::new(&parse(LINKED_LIST)).unwrap();
        assert_eq!(validator.validate(&list_bytes(MAX_DEPTH as usize)), Ok(()));
        assert_eq!(
            validator.validate(&list_bytes(MAX_DEPTH as usize + 1)),
            Err(ValidateError::TooDeep)
        );
        // Recursion through a named type in another namespace, reached by reference from a union.
        let tree = parse(
            r#"{"type":"record","name":"t.Tree","fields":[
                {"name":"kids","type":{"type":"array","items":"Tree"}},
                {"name":"leaf","type":["null",{"type":"record","name":"Leaf","namespace":"u","fields":[{"name":"up","type":["null","t.Tree"]}]}]}]}"#,
        );
        let validator = Validator::new(&tree).unwrap();
        // One tree with one kid (no kids, no leaf), then a leaf whose `up` is a tree with no kids and no leaf.
        let datum = cat(&[
            &long(1),
            &long(0),
            &long(0),
            &long(0),
            &long(1),
            &long(1),
            &long(0),
            &long(0),
        ]);
        assert_eq!(validator.validate(&datum), Ok(()));
        reference_reads_exactly(&GenericDatumReader::builder(&tree).build().unwrap(), &datum).unwrap();
    }

    #[test]
    fn schemas_that_cannot_be_compiled_say_why() {
        use apache_avro::schema::{FixedSchema, UuidSchema};
        let missing = Schema::Ref {
            name: Name::new("Missing").unwrap(),
        };
        assert!(matches!(Validator::new(&missing), Err(CompileError::Names(_))));
        let fixed = FixedSchema::builder().name(Name::new("F").unwrap()).size(15).build();
        assert!(matches!(
            Validator::new(&Schema::Uuid(UuidSchema::Fixed(fixed.clone()))),
            Err(CompileError::FixedSize {
                logical: "uuid",
                expected: 16,
                size: 15
            })
        ));
        assert!(matches!(
            Validator::new(&Schema::Duration(fixed)),
            Err(CompileError::FixedSize {
                logical: "duration",
                expected: 12,
                size: 15
            })
        ));
    }

    /// xorshift64*: enough to drive a fuzz loop without a new crate.
    struct XorShift(u64);

    impl XorShift {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
        }

        fn below(&mut self, n: usize) -> usize {
            (self.next() % n.max(1) as u64) as usize
        }
    }

    /// Random bytes and mutated valid datums never panic, and whatever the validator accepts the
    /// reference decoder reads completely.
    #[test]
    fn accepted_bytes_are_read_completely_by_the_reference_decoder() {
        with_big_stack(accepted_bytes_are_read_completely_by_the_reference_decoder_on_this_thread);
    }

    fn accepted_bytes_are_read_completely_by_the_reference_decoder_on_this_thread() {
        let mut rng = XorShift(0x9E37_79B9_7F4A_7C15);
        let mut accepted = 0usize;
        let mut mutants_accepted = 0usize;
        for (schema, datums) in corpus() {
            let validator = Validator::new(&schema).unwrap();
            let reader = GenericDatumReader::builder(&schema).build().unwrap();
            let check = |bytes: &[u8]| {
                let ok = validator.validate(bytes).is_ok();
                if ok && let Err(e) = reference_reads_exactly(&reader, bytes) {
                    panic!("validator accepted what the reference rejects ({e}): {schema:?} {bytes:02x?}");
                }
                ok
            };
            for _ in 0..3_000 {
                let len = rng.below(48);
                let bytes: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
                accepted += usize::from(check(&bytes));
            }
            for _ in 0..3_000 {
                let mut bytes = datums[rng.below(datums.len())].clone();
                for _ in 0..=rng.below(3) {
                    match rng.below(4) {
                        0 | 1 if !bytes.is_empty() => {
                            let i = rng.below(bytes.len());
                            bytes[i] = rng.next() as u8;
                        }
                        2 => {
                            let i = rng.below(bytes.len() + 1);
                            bytes.insert(i, rng.next() as u8);
                        }
                        _ if !bytes.is_empty() => {
                            bytes.remove(rng.below(bytes.len()));
                        }
                        _ => {}
                    }
                }
                mutants_accepted += usize::from(check(&bytes));
            }
        }
        assert!(accepted > 20, "only {accepted} random byte strings were valid");
        assert!(mutants_accepted > 1_000, "only {mutants_accepted} mutants were valid");
    }
}
