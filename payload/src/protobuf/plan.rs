//! The decode plan: a schema's message and enum types compiled from its descriptor into flat tables
//! indexed by `u32`, which the validator and the converter walk instead of the descriptor.
//!
//! Message ids: the file's own messages come first, in Confluent's index order (each message, then
//! its nested messages, depth first), so a message's id is also its [`crate::Variant`]; the types
//! they use from imported files (the well-known types, references) follow.
//!
//! Each message also gets what bounds its conversion: its strongly connected component in the graph
//! of message-typed fields (a field whose type leads back to its own message is *recursive* and kept
//! as bytes), how deep its columns nest, and how many Arrow values one instance of it fills at most.

use std::collections::HashMap;
use std::sync::Arc;

use prost_reflect::{Cardinality, EnumDescriptor, FieldDescriptor, FileDescriptor, MessageDescriptor, Value};

use super::error::CompileError;
use super::limits::{MAX_COLUMNS, MAX_DEPTH};
use super::wire;

pub type MsgId = u32;
pub type EnumId = u32;

/// A field's type as the wire carries it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Int32,
    Int64,
    UInt32,
    UInt64,
    SInt32,
    SInt64,
    Bool,
    Enum(EnumId),
    Fixed32,
    SFixed32,
    Float,
    Fixed64,
    SFixed64,
    Double,
    /// `google.protobuf.Value.number_value`: a double that must be finite, as JSON numbers are.
    FiniteDouble,
    String,
    Bytes,
    Message(MsgId),
    /// A proto2 group: a message delimited by start- and end-group tags.
    Group(MsgId),
}

impl Kind {
    /// The wire type of one value.
    pub fn wire(self) -> u8 {
        match self {
            Self::Int32 | Self::Int64 | Self::UInt32 | Self::UInt64 | Self::SInt32 | Self::SInt64 => wire::VARINT,
            Self::Bool | Self::Enum(_) => wire::VARINT,
            Self::Fixed32 | Self::SFixed32 | Self::Float => wire::I32,
            Self::Fixed64 | Self::SFixed64 | Self::Double | Self::FiniteDouble => wire::I64,
            Self::String | Self::Bytes | Self::Message(_) => wire::LEN,
            Self::Group(_) => wire::START_GROUP,
        }
    }

    /// Whether repeated values may be packed into one length-delimited run.
    pub fn packable(self) -> bool {
        matches!(self.wire(), wire::VARINT | wire::I32 | wire::I64)
    }

    /// The message type of a message or group field.
    pub fn message(self) -> Option<MsgId> {
        match self {
            Self::Message(m) | Self::Group(m) => Some(m),
            _ => None,
        }
    }
}

/// How many values a field holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Card {
    Single,
    List,
    /// A `map<K, V>`: repeated entries of the map-entry message its kind names.
    Map,
}

/// A single field's value when the datum leaves it out.
#[derive(Debug, Clone, PartialEq)]
pub enum Absent {
    /// Null (explicit presence without a declared default, a oneof member, a message).
    Null,
    Bool(bool),
    I32(i32),
    I64(i64),
    U32(u32),
    U64(u64),
    F32(f32),
    F64(f64),
    Str(String),
    Bytes(Vec<u8>),
    /// The index of the enum value in its enum's names.
    Enum(u32),
}

/// One field of a message.
#[derive(Debug, Clone)]
pub struct Field {
    pub number: u32,
    pub name: String,
    pub kind: Kind,
    pub card: Card,
    /// proto2 `required`: the datum must carry it.
    pub required: bool,
    /// What a single field holds when absent: its default (implicit presence, a declared proto2
    /// default, or a required field under an absent parent) or null.
    pub default: Absent,
    /// The real (not synthetic) oneof it belongs to, an index into [`Message::oneofs`].
    pub oneof: Option<u32>,
    /// Its slot in the per-message record of fields seen: required fields, and single message
    /// fields (which may occur only once).
    pub track: Option<u32>,
}

impl Field {
    /// Whether its column may hold nulls: a single field with explicit presence and no default.
    pub fn nullable(&self) -> bool {
        self.card == Card::Single && self.default == Absent::Null
    }
}

/// Well-known types with a mapping of their own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Special {
    None,
    Timestamp,
    Duration,
    /// `google.protobuf.*Value` wrappers: the nullable scalar of field 1.
    Wrapper,
    /// `google.protobuf.Struct`, `Value` and `ListValue`: JSON text.
    Struct,
    Value,
    ListValue,
}

/// Field number to field index.
#[derive(Debug, Clone)]
enum Lookup {
    /// Indexed by number: for messages whose numbers are small.
    Dense(Vec<u32>),
    /// Sorted by number.
    Sparse(Vec<(u32, u32)>),
}

const NO_FIELD: u32 = u32::MAX;

/// One message type.
#[derive(Debug, Clone)]
pub struct Message {
    pub name: Arc<str>,
    /// In declaration order, which is also column order.
    pub fields: Vec<Field>,
    lookup: Lookup,
    /// Nested message types in declaration order, for message indexes.
    pub nested: Vec<MsgId>,
    /// The member field indexes of each real oneof.
    pub oneofs: Vec<Vec<u32>>,
    /// How many slots [`Field::track`] uses.
    pub tracked: u32,
    /// The indexes of its required fields.
    pub required: Vec<u32>,
    pub special: Special,
    /// Its strongly connected component in the graph of message-typed fields.
    pub scc: u32,
    /// How many Arrow values one instance fills at most (absent sub-messages filled included).
    pub width: u64,
    /// How deep its columns nest (1 for a message of scalars).
    pub depth: u32,
    /// How many columns (nested ones included) its layout has.
    pub columns: u64,
}

impl Message {
    /// The index of the field numbered `number`.
    #[inline]
    pub fn field_index(&self, number: u32) -> Option<usize> {
        let i = match &self.lookup {
            Lookup::Dense(table) => *table.get(number as usize)?,
            Lookup::Sparse(sorted) => {
                let at = sorted.binary_search_by_key(&number, |&(n, _)| n).ok()?;
                sorted[at].1
            }
        };
        (i != NO_FIELD).then_some(i as usize)
    }

    /// Whether a field of message type `sub` is recursive (its type leads back here), so kept as bytes.
    pub fn is_recursive(&self, sub: &Message) -> bool {
        sub.scc == self.scc && sub.special == Special::None
    }
}

/// One enum type.
#[derive(Debug, Clone)]
pub struct Enum {
    pub name: Arc<str>,
    /// Value names in declaration order (the Arrow dictionary).
    pub names: Vec<String>,
    /// Their numbers, in the same order.
    pub values: Vec<i32>,
    /// (number, index of the first name with that number), sorted by number.
    numbers: Vec<(i32, u32)>,
}

impl Enum {
    /// The dictionary index of `number`, when the enum declares it.
    #[inline]
    pub fn index_of(&self, number: i32) -> Option<u32> {
        // Most enums number their values 0, 1, 2, ...: try the position first.
        if let Some(&(n, i)) = usize::try_from(number).ok().and_then(|k| self.numbers.get(k))
            && n == number
        {
            return Some(i);
        }
        let at = self.numbers.binary_search_by_key(&number, |&(n, _)| n).ok()?;
        Some(self.numbers[at].1)
    }
}

/// A schema's types, compiled.
#[derive(Debug, Clone)]
pub struct Plan {
    pub messages: Vec<Message>,
    pub enums: Vec<Enum>,
    /// The file's top-level messages, for the first message index.
    pub top: Vec<MsgId>,
    /// How many messages the file itself declares (ids `0..file_messages`, the variants).
    pub file_messages: u32,
}

impl Plan {
    pub fn compile(file: &FileDescriptor) -> Result<Self, CompileError> {
        let mut b = Builder::default();
        fn own(b: &mut Builder, m: MessageDescriptor) -> Result<(), CompileError> {
            b.message_id(&m)?;
            for nested in m.child_messages() {
                own(b, nested)?;
            }
            Ok(())
        }
        // Nesting in a file is bounded (murron-schema-types refuses text nested over 64 levels).
        for m in file.messages() {
            own(&mut b, m)?;
        }
        let file_messages = u32::try_from(b.queue.len()).map_err(|_| CompileError::TooLarge)?;
        if file_messages == 0 {
            return Err(CompileError::NoMessages);
        }
        let top = file
            .messages()
            .map(|m| b.message_id(&m))
            .collect::<Result<Vec<_>, _>>()?;
        let mut messages = Vec::new();
        let mut next = 0;
        while let Some(descriptor) = b.queue.get(next).cloned() {
            messages.push(b.message(&descriptor)?);
            next += 1;
        }
        let mut plan = Plan {
            messages,
            enums: b.enums,
            top,
            file_messages,
        };
        plan.measure();
        for m in &plan.messages[..file_messages as usize] {
            if m.depth > MAX_DEPTH {
                return Err(CompileError::TooDeep(m.name.to_string()));
            }
            if m.columns > MAX_COLUMNS {
                return Err(CompileError::TooWide(m.name.to_string()));
            }
        }
        Ok(plan)
    }

    /// Components, widths and depths, sinks first so each message's sub-messages are measured before it.
    fn measure(&mut self) {
        let successors: Vec<Vec<u32>> = self
            .messages
            .iter()
            .map(|m| match m.special {
                Special::None => m.fields.iter().filter_map(|f| f.kind.message()).collect(),
                _ => Vec::new(),
            })
            .collect();
        let components = strongly_connected(&successors);
        for (c, members) in components.iter().enumerate() {
            for &m in members {
                self.messages[m as usize].scc = c as u32;
            }
        }
        for members in &components {
            for &m in members {
                let (width, depth, columns) = self.measure_one(m);
                let message = &mut self.messages[m as usize];
                message.width = width;
                message.depth = depth;
                message.columns = columns;
            }
        }
    }

    /// Width, depth and columns of message `id`, its sub-messages' being known.
    fn measure_one(&self, id: MsgId) -> (u64, u32, u64) {
        let m = &self.messages[id as usize];
        if m.special != Special::None {
            return (1, 1, 1);
        }
        let mut width = 0u64;
        let mut depth = 1u32;
        let mut columns = 0u64;
        for f in &m.fields {
            let mut cells = 1u64;
            if let Absent::Str(s) = &f.default {
                cells = cells.saturating_add(s.len() as u64 / 8);
            } else if let Absent::Bytes(b) = &f.default {
                cells = cells.saturating_add(b.len() as u64 / 8);
            }
            if let Some(sub) = f.kind.message().map(|s| &self.messages[s as usize])
                && !m.is_recursive(sub)
            {
                depth = depth.max(sub.depth.saturating_add(1));
                columns = columns.saturating_add(sub.columns);
                // An absent single sub-message still fills its columns (with nulls or defaults).
                if f.card == Card::Single {
                    cells = cells.saturating_add(sub.width);
                }
            }
            width = width.saturating_add(cells);
            columns = columns.saturating_add(1);
        }
        (width, depth, columns)
    }
}

/// Assigns ids and collects types while compiling.
#[derive(Debug, Default)]
struct Builder {
    ids: HashMap<String, MsgId>,
    queue: Vec<MessageDescriptor>,
    enum_ids: HashMap<String, EnumId>,
    enums: Vec<Enum>,
}

impl Builder {
    fn message_id(&mut self, m: &MessageDescriptor) -> Result<MsgId, CompileError> {
        if let Some(&id) = self.ids.get(m.full_name()) {
            return Ok(id);
        }
        let id = u32::try_from(self.queue.len()).map_err(|_| CompileError::TooLarge)?;
        self.ids.insert(m.full_name().to_owned(), id);
        self.queue.push(m.clone());
        Ok(id)
    }

    fn enum_id(&mut self, e: &EnumDescriptor) -> Result<EnumId, CompileError> {
        if let Some(&id) = self.enum_ids.get(e.full_name()) {
            return Ok(id);
        }
        let id = u32::try_from(self.enums.len()).map_err(|_| CompileError::TooLarge)?;
        let names: Vec<String> = e.values().map(|v| v.name().to_owned()).collect();
        let mut numbers: Vec<(i32, u32)> = Vec::with_capacity(names.len());
        for (i, v) in e.values().enumerate() {
            let i = u32::try_from(i).map_err(|_| CompileError::TooLarge)?;
            numbers.push((v.number(), i));
        }
        // Aliases share a number: the first declared name stands for it, as in Protobuf's JSON.
        numbers.sort_by_key(|&(n, i)| (n, i));
        numbers.dedup_by_key(|&mut (n, _)| n);
        self.enums.push(Enum {
            name: e.full_name().into(),
            names,
            values: e.values().map(|v| v.number()).collect(),
            numbers,
        });
        self.enum_ids.insert(e.full_name().to_owned(), id);
        Ok(id)
    }

    fn message(&mut self, m: &MessageDescriptor) -> Result<Message, CompileError> {
        let special = special(m.full_name());
        let mut fields = Vec::with_capacity(m.fields().len());
        let mut tracked = 0u32;
        let oneofs: Vec<_> = m.oneofs().filter(|o| !o.is_synthetic()).collect();
        let mut members = vec![Vec::new(); oneofs.len()];
        for (i, f) in m.fields().enumerate() {
            let mut field = self.field(&f, special)?;
            if let Some(o) = f.containing_oneof().filter(|o| !o.is_synthetic()) {
                let at = oneofs.iter().position(|x| x.name() == o.name());
                if let Some(at) = at {
                    field.oneof = Some(at as u32);
                    members[at].push(u32::try_from(i).map_err(|_| CompileError::TooLarge)?);
                }
            }
            if field.required || (field.card == Card::Single && field.kind.message().is_some()) {
                field.track = Some(tracked);
                tracked += 1;
            }
            fields.push(field);
        }
        let nested = m
            .child_messages()
            .map(|n| self.message_id(&n))
            .collect::<Result<Vec<_>, _>>()?;
        let required = fields
            .iter()
            .enumerate()
            .filter(|(_, f)| f.required)
            .map(|(i, _)| i as u32)
            .collect();
        Ok(Message {
            name: m.full_name().into(),
            lookup: lookup(&fields)?,
            fields,
            nested,
            oneofs: members,
            tracked,
            required,
            special,
            scc: 0,
            width: 0,
            depth: 0,
            columns: 0,
        })
    }

    fn field(&mut self, f: &FieldDescriptor, special: Special) -> Result<Field, CompileError> {
        use prost_reflect::Kind as K;
        let kind = match f.kind() {
            K::Double if special == Special::Value && f.number() == 2 => Kind::FiniteDouble,
            K::Double => Kind::Double,
            K::Float => Kind::Float,
            K::Int32 => Kind::Int32,
            K::Int64 => Kind::Int64,
            K::Uint32 => Kind::UInt32,
            K::Uint64 => Kind::UInt64,
            K::Sint32 => Kind::SInt32,
            K::Sint64 => Kind::SInt64,
            K::Fixed32 => Kind::Fixed32,
            K::Fixed64 => Kind::Fixed64,
            K::Sfixed32 => Kind::SFixed32,
            K::Sfixed64 => Kind::SFixed64,
            K::Bool => Kind::Bool,
            K::String => Kind::String,
            K::Bytes => Kind::Bytes,
            K::Enum(e) => Kind::Enum(self.enum_id(&e)?),
            K::Message(m) if f.is_group() => Kind::Group(self.message_id(&m)?),
            K::Message(m) => Kind::Message(self.message_id(&m)?),
        };
        let card = if f.is_map() {
            Card::Map
        } else if f.is_list() {
            Card::List
        } else {
            Card::Single
        };
        let required = f.cardinality() == Cardinality::Required;
        let declared = f.field_descriptor_proto().default_value.is_some();
        let in_oneof = f.containing_oneof().is_some_and(|o| !o.is_synthetic());
        let default = if card != Card::Single || kind.message().is_some() || in_oneof {
            Absent::Null
        } else if required || !f.supports_presence() || declared {
            self.field_default(f, kind)
        } else {
            Absent::Null
        };
        Ok(Field {
            number: f.number(),
            name: f.name().to_owned(),
            kind,
            card,
            required,
            default,
            oneof: None,
            track: None,
        })
    }

    fn field_default(&self, f: &FieldDescriptor, kind: Kind) -> Absent {
        match (f.default_value(), kind) {
            (Value::Bool(v), _) => Absent::Bool(v),
            (Value::I32(v), _) => Absent::I32(v),
            (Value::I64(v), _) => Absent::I64(v),
            (Value::U32(v), _) => Absent::U32(v),
            (Value::U64(v), _) => Absent::U64(v),
            (Value::F32(v), _) => Absent::F32(v),
            (Value::F64(v), _) => Absent::F64(v),
            (Value::String(v), _) => Absent::Str(v),
            (Value::Bytes(v), _) => Absent::Bytes(v.to_vec()),
            (Value::EnumNumber(n), Kind::Enum(e)) => {
                Absent::Enum(self.enums[e as usize].index_of(n).unwrap_or_default())
            }
            _ => Absent::Null,
        }
    }
}

fn lookup(fields: &[Field]) -> Result<Lookup, CompileError> {
    let max = fields.iter().map(|f| f.number).max().unwrap_or(0) as usize;
    if max <= 4 * fields.len() + 64 {
        let mut table = vec![NO_FIELD; max + 1];
        for (i, f) in fields.iter().enumerate() {
            table[f.number as usize] = u32::try_from(i).map_err(|_| CompileError::TooLarge)?;
        }
        return Ok(Lookup::Dense(table));
    }
    let mut sorted = fields
        .iter()
        .enumerate()
        .map(|(i, f)| Ok((f.number, u32::try_from(i).map_err(|_| CompileError::TooLarge)?)))
        .collect::<Result<Vec<_>, CompileError>>()?;
    sorted.sort_unstable();
    Ok(Lookup::Sparse(sorted))
}

fn special(full_name: &str) -> Special {
    match full_name {
        "google.protobuf.Timestamp" => Special::Timestamp,
        "google.protobuf.Duration" => Special::Duration,
        "google.protobuf.DoubleValue"
        | "google.protobuf.FloatValue"
        | "google.protobuf.Int64Value"
        | "google.protobuf.UInt64Value"
        | "google.protobuf.Int32Value"
        | "google.protobuf.UInt32Value"
        | "google.protobuf.BoolValue"
        | "google.protobuf.StringValue"
        | "google.protobuf.BytesValue" => Special::Wrapper,
        "google.protobuf.Struct" => Special::Struct,
        "google.protobuf.Value" => Special::Value,
        "google.protobuf.ListValue" => Special::ListValue,
        _ => Special::None,
    }
}

/// Tarjan's strongly connected components, without recursion (type graphs can be long chains).
/// Components come out sinks first: every component a node reaches comes before the node's own.
fn strongly_connected(successors: &[Vec<u32>]) -> Vec<Vec<u32>> {
    const UNSEEN: u32 = u32::MAX;
    let n = successors.len();
    let mut index = vec![UNSEEN; n];
    let mut low = vec![0u32; n];
    let mut on_stack = vec![false; n];
    let mut stack: Vec<u32> = Vec::new();
    let mut components = Vec::new();
    let mut next_index = 0u32;
    for root in 0..n {
        if index[root] != UNSEEN {
            continue;
        }
        // (node, how many of its successors have been looked at)
        let mut calls: Vec<(usize, usize)> = vec![(root, 0)];
        index[root] = next_index;
        low[root] = next_index;
        next_index += 1;
        stack.push(root as u32);
        on_stack[root] = true;
        while let Some(&mut (v, ref mut i)) = calls.last_mut() {
            if let Some(&w) = successors[v].get(*i) {
                *i += 1;
                let w = w as usize;
                if index[w] == UNSEEN {
                    index[w] = next_index;
                    low[w] = next_index;
                    next_index += 1;
                    stack.push(w as u32);
                    on_stack[w] = true;
                    calls.push((w, 0));
                } else if on_stack[w] {
                    low[v] = low[v].min(index[w]);
                }
                continue;
            }
            calls.pop();
            if let Some(&(parent, _)) = calls.last() {
                low[parent] = low[parent].min(low[v]);
            }
            if low[v] == index[v] {
                let mut component = Vec::new();
                while let Some(w) = stack.pop() {
                    on_stack[w as usize] = false;
                    component.push(w);
                    if w as usize == v {
                        break;
                    }
                }
                components.push(component);
            }
        }
    }
    components
}
