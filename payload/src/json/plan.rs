//! The mapping of one JSON schema to Arrow, decided once per schema id: a tree of [`Node`]s built
//! from what the schema says about its values ([`super::facts`]), which both the validator's last
//! check ([`super::check`]) and the conversion ([`super::arrow`]) follow.
//!
//! | what every value is known to be (besides `null`) | node |
//! |---|---|
//! | boolean | [`Node::Boolean`] |
//! | integer | [`Node::Integer`] |
//! | number (integers included) | [`Node::Number`] |
//! | string, `format: date-time` / `date` | [`Node::DateTime`] / [`Node::Date`] |
//! | string (any other format, string `enum`/`const`) | [`Node::String`] |
//! | object with declared properties | [`Node::Struct`], undeclared ones in an `_extra` JSON column |
//! | object with no properties, `additionalProperties: <schema>` | [`Node::Map`] |
//! | array with one `items` schema | [`Node::List`] |
//! | anything else (unlike kinds, tuples, `{}`, recursion) | [`Node::Json`]: the value's JSON text |
//!
//! Every column is nullable: `null`, an absent property and a schema evolving with new optional
//! properties then all read the same way.

use std::sync::Arc;
use std::sync::atomic::{AtomicU16, Ordering};

use arrow_schema::{DataType, Field, Fields, Schema, SchemaRef, TimeUnit};

use super::error::CompileError;
use super::facts::{Facts, Kinds, Loc, Reader, Temporal};

/// How deep structs, lists and maps nest in the mapping; deeper values are kept as JSON text.
pub(super) const MAX_PLAN_DEPTH: usize = 32;

/// How many nodes (Arrow fields, nested ones included) one schema may map to.
pub(super) const MAX_PLAN_NODES: usize = 10_000;

/// The column of a struct that holds its undeclared properties, unless a property has that name
/// (then one more `_` is put in front until none has).
pub const EXTRA_COLUMN: &str = "_extra";

/// The one column of a schema whose values are not objects with declared properties.
pub const VALUE_COLUMN: &str = "value";

/// The time zone of timestamps: RFC 3339 date-times are instants, converted to UTC.
pub(super) const UTC: &str = "+00:00";

/// How values of one place in the schema become Arrow.
#[derive(Debug)]
pub(super) enum Node {
    Boolean,
    Integer,
    Number,
    String,
    DateTime,
    Date,
    /// The value's JSON text.
    Json,
    Struct(Struct),
    List(Box<Node>),
    Map(Box<Node>),
}

/// An object's declared properties, and where its other properties go.
#[derive(Debug)]
pub(super) struct Struct {
    /// Sorted by name.
    pub fields: Vec<(String, Node)>,
    /// The column of undeclared properties (a JSON object, null when there are none); `None` when
    /// the schema allows none.
    pub extra: Option<String>,
    index: FieldIndex,
    /// For each field, and last for an object's start, the field that came after it the last time
    /// one was looked up: producers write their keys in the same order every time, so a name is
    /// compared once instead of hashed, and a property left out costs one miss. Shared by every
    /// thread; a race only costs a miss.
    after: Box<[AtomicU16]>,
}

/// No field in [`Struct::after`].
const NO_FIELD: u16 = u16::MAX;

impl Struct {
    pub fn new(fields: Vec<(String, Node)>, extra: Option<String>) -> Self {
        let index = FieldIndex::new(fields.iter().map(|(name, _)| name.as_str()));
        let after = (0..=fields.len()).map(|_| AtomicU16::new(NO_FIELD)).collect();
        Struct {
            fields,
            extra,
            index,
            after,
        }
    }

    /// The declared property `name`, a member that follows the member of the declared property
    /// `previous` (`None`: the object's first member, or one after undeclared ones only).
    ///
    /// Hot path: runs for every member of every object, in validation and in conversion.
    #[inline]
    pub fn field_after(&self, previous: Option<usize>, name: &str) -> Option<usize> {
        let slot = &self.after[previous.map_or(self.fields.len(), |p| p.min(self.fields.len()))];
        let guess = usize::from(slot.load(Ordering::Relaxed));
        if let Some((field, _)) = self.fields.get(guess)
            && field == name
        {
            return Some(guess);
        }
        let found = self.field(name);
        if let Some(i) = found {
            // At most MAX_PLAN_NODES fields: an index fits.
            slot.store(i as u16, Ordering::Relaxed);
        }
        found
    }

    /// The index of the declared property `name`.
    #[inline]
    pub fn field(&self, name: &str) -> Option<usize> {
        self.index.find(name, |i| self.fields[i].0 == name)
    }

    fn arrow_fields(&self) -> Fields {
        let declared = self.fields.iter().map(|(name, node)| node.field(name));
        let extra = self.extra.iter().map(|name| Field::new(name, DataType::Utf8, true));
        declared.chain(extra).collect()
    }
}

impl Node {
    pub fn data_type(&self) -> DataType {
        match self {
            Node::Boolean => DataType::Boolean,
            Node::Integer => DataType::Int64,
            Node::Number => DataType::Float64,
            Node::String | Node::Json => DataType::Utf8,
            Node::DateTime => DataType::Timestamp(TimeUnit::Microsecond, Some(UTC.into())),
            Node::Date => DataType::Date32,
            Node::Struct(s) => DataType::Struct(s.arrow_fields()),
            Node::List(item) => DataType::List(Arc::new(item.field(Field::LIST_FIELD_DEFAULT_NAME))),
            Node::Map(value) => DataType::Map(Arc::new(map_entries(value)), false),
        }
    }

    /// A nullable field of this node's type.
    pub fn field(&self, name: &str) -> Field {
        Field::new(name, self.data_type(), true)
    }
}

/// The entries of a map of `value`s, named as arrow-avro names them.
pub(super) fn map_entries(value: &Node) -> Field {
    let key = Field::new(Field::MAP_KEY_FIELD_DEFAULT_NAME, DataType::Utf8, false);
    let value = value.field(Field::MAP_VALUE_FIELD_DEFAULT_NAME);
    Field::new(
        Field::MAP_ENTRIES_FIELD_DEFAULT_NAME,
        DataType::Struct(Fields::from(vec![key, value])),
        false,
    )
}

/// A schema's mapping to Arrow.
#[derive(Debug)]
pub(super) struct Plan {
    pub root: Node,
    pub schema: SchemaRef,
}

impl Plan {
    /// The mapping of the schema at `root`.
    pub fn build(root: Loc<'_>) -> Result<Plan, CompileError> {
        let mut planner = Planner::default();
        let root = planner.node(&[root])?;
        let fields = match &root {
            Node::Struct(s) => s.arrow_fields(),
            other => Fields::from(vec![other.field(VALUE_COLUMN)]),
        };
        Ok(Plan {
            root,
            schema: Arc::new(Schema::new(fields)),
        })
    }
}

#[derive(Debug, Default)]
struct Planner {
    reader: Reader,
    nodes: usize,
    /// The sources of the structures being planned further up: meeting one again is recursion.
    ancestors: Vec<Vec<usize>>,
}

impl Planner {
    /// The node of values that satisfy every subschema of `locs`.
    fn node(&mut self, locs: &[Loc<'_>]) -> Result<Node, CompileError> {
        self.nodes += 1;
        if self.nodes > MAX_PLAN_NODES {
            return Err(CompileError::TooLarge("it maps to more than 10,000 Arrow fields"));
        }
        let facts = self.reader.facts(locs)?;
        let kinds = facts.kinds.without_null();
        Ok(match kinds {
            _ if kinds.is_empty() => Node::Json,
            Kinds::BOOLEAN => Node::Boolean,
            Kinds::INTEGER => Node::Integer,
            _ if kinds.within(Kinds::NUMBER) => Node::Number,
            Kinds::STRING => match facts.temporal {
                Temporal::DateTime => Node::DateTime,
                Temporal::Date => Node::Date,
                Temporal::None | Temporal::Both => Node::String,
            },
            Kinds::ARRAY | Kinds::OBJECT => self.nested(facts, kinds)?,
            _ => Node::Json,
        })
    }

    /// A list, a struct or a map, unless its structure is unknown or it recurses.
    fn nested(&mut self, facts: Facts<'_>, kinds: Kinds) -> Result<Node, CompileError> {
        let known = if kinds == Kinds::ARRAY {
            !facts.items.is_empty()
        } else {
            !facts.properties.is_empty() || !facts.values.is_empty()
        };
        if !known || self.ancestors.len() >= MAX_PLAN_DEPTH || self.ancestors.contains(&facts.sources) {
            return Ok(Node::Json);
        }
        self.ancestors.push(facts.sources.clone());
        let node = if kinds == Kinds::ARRAY {
            self.node(&facts.items).map(|item| Node::List(Box::new(item)))
        } else if facts.properties.is_empty() {
            self.node(&facts.values).map(|value| Node::Map(Box::new(value)))
        } else {
            self.structure(&facts).map(Node::Struct)
        };
        self.ancestors.pop();
        node
    }

    fn structure(&mut self, facts: &Facts<'_>) -> Result<Struct, CompileError> {
        let mut fields = Vec::with_capacity(facts.properties.len());
        let mut unnamed = false;
        // A BTreeMap: the fields come sorted by name.
        for (name, locs) in &facts.properties {
            if usable_name(name) {
                fields.push((name.to_string(), self.node(locs)?));
            } else {
                unnamed = true;
            }
        }
        let extra = (!facts.closed || unnamed).then(|| extra_name(&fields));
        Ok(Struct::new(fields, extra))
    }
}

/// Whether a property name can name a column: not empty, no control character (a NUL cannot be in
/// a PostgreSQL identifier). Other properties are kept in the extra column.
fn usable_name(name: &str) -> bool {
    !name.is_empty() && !name.chars().any(char::is_control)
}

/// [`EXTRA_COLUMN`], with more `_` in front while a declared property has that name.
fn extra_name(fields: &[(String, Node)]) -> String {
    let mut name = EXTRA_COLUMN.to_owned();
    while fields.iter().any(|(n, _)| *n == name) {
        name.insert(0, '_');
    }
    name
}

/// A hash table from property names to field indexes: a lookup hashes the name and compares it
/// with the one field whose hash matches, where a binary search compared names several times.
#[derive(Debug)]
struct FieldIndex {
    /// Open addressing, linear probing: the name's hash and its field index, or `EMPTY`.
    slots: Vec<(u32, u16)>,
    mask: usize,
}

impl FieldIndex {
    const EMPTY: u16 = u16::MAX;

    fn new<'n>(names: impl ExactSizeIterator<Item = &'n str>) -> Self {
        // At most MAX_PLAN_NODES fields, below u16::MAX; at most half the slots are taken.
        let size = (names.len() * 2).next_power_of_two().max(2);
        let mut slots = vec![(0, Self::EMPTY); size];
        let mask = size - 1;
        for (i, name) in names.enumerate() {
            let hash = name_hash(name);
            let mut slot = hash as usize & mask;
            while slots[slot].1 != Self::EMPTY {
                slot = (slot + 1) & mask;
            }
            slots[slot] = ((hash >> 32) as u32, i as u16);
        }
        FieldIndex { slots, mask }
    }

    /// The field of `name`, `is` telling whether a field index holds that very name.
    #[inline]
    fn find(&self, name: &str, is: impl Fn(usize) -> bool) -> Option<usize> {
        let hash = name_hash(name);
        let mut slot = hash as usize & self.mask;
        loop {
            let (high, field) = self.slots[slot];
            if field == Self::EMPTY {
                return None;
            }
            if high == (hash >> 32) as u32 && is(usize::from(field)) {
                return Some(usize::from(field));
            }
            slot = (slot + 1) & self.mask;
        }
    }
}

/// A quick hash of a property name: its length and its first and last bytes (8 of each at most),
/// mixed. Loads are of fixed sizes, so that no byte copy is called.
#[inline]
fn name_hash(name: &str) -> u64 {
    let b = name.as_bytes();
    let n = b.len();
    let u64_at = |at: usize| <[u8; 8]>::try_from(&b[at..at + 8]).map_or(0, u64::from_le_bytes);
    let u32_at = |at: usize| <[u8; 4]>::try_from(&b[at..at + 4]).map_or(0, |w| u64::from(u32::from_le_bytes(w)));
    let (head, tail) = match n {
        8.. => (u64_at(0), u64_at(n - 8)),
        4..8 => (u32_at(0), u32_at(n - 4)),
        1..4 => (
            u64::from(b[0]) | u64::from(b[n / 2]) << 8 | u64::from(b[n - 1]) << 16,
            0,
        ),
        0 => (0, 0),
    };
    let x = head ^ tail.rotate_left(29) ^ (n as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    let x = (x ^ (x >> 31)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x ^ (x >> 29)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_field_is_found_by_name_and_no_other_name_is() {
        let fields: Vec<(String, Node)> = (0..300).map(|i| (format!("field_{i}"), Node::Json)).collect();
        let s = Struct::new(fields, None);
        for (i, (name, _)) in s.fields.iter().enumerate() {
            assert_eq!(s.field(name), Some(i));
        }
        for other in ["", "field_", "field_300", "field_1 ", "Field_1"] {
            assert_eq!(s.field(other), None, "{other:?}");
        }
        // Looked up in an order, then in another: predictions are only ever guesses.
        for round in 0..3 {
            let mut previous = None;
            for i in (0..300).map(|i| if round == 1 { 299 - i } else { (i * 7) % 300 }) {
                assert_eq!(s.field_after(previous, &format!("field_{i}")), Some(i));
                assert_eq!(s.field_after(Some(i), "not_a_field"), None);
                previous = Some(i);
            }
        }
    }
}
