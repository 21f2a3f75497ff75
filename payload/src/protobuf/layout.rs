//! The Arrow layout of a message type: one column per field, decided from the [`Plan`] once per
//! variant, and the Arrow schema it gives. The converter walks it beside the bytes.
//!
//! | Protobuf | Arrow |
//! |---|---|
//! | message | Struct (the datum's own message: the batch's columns) |
//! | message without fields | Boolean, true when present |
//! | recursive message field (its type leads back to the message holding it) | Binary: the sub-message's bytes |
//! | `repeated T` | List of non-null T |
//! | `map<K, V>` | Map of non-null K to non-null V |
//! | enum | Dictionary(Int32, Utf8) of the value names |
//! | `google.protobuf.Timestamp` | Timestamp(ns, UTC) |
//! | `google.protobuf.Duration` | Duration(ns) |
//! | `google.protobuf.*Value` wrappers | the wrapped scalar, nullable |
//! | `google.protobuf.Struct`, `Value`, `ListValue` | Utf8: Protobuf's JSON |
//! | scalars | Int32, Int64, UInt32, UInt64, Float32, Float64, Boolean, Utf8, Binary |

use std::sync::Arc;

use arrow_schema::{DataType, Field as ArrowField, Fields, Schema, SchemaRef, TimeUnit};

use super::plan::{Absent, Card, Field, Kind, Message, MsgId, Plan, Special};

/// What one value of a field becomes.
#[derive(Debug, Clone)]
pub enum Shape {
    /// A scalar or enum, by its [`Kind`].
    Scalar,
    /// A message's fields, one node each in field order.
    Struct(MsgId, Vec<Node>),
    /// A message type without fields: true.
    Marker,
    /// A recursive message: its bytes.
    Raw,
    Timestamp,
    Duration,
    /// A wrapper: the scalar of its field 1, of this kind.
    Wrapper(Kind),
    /// `Struct`, `Value` or `ListValue` as JSON text.
    Json(Special),
}

/// One column: a field of a message (or a map's key or value).
#[derive(Debug, Clone)]
pub struct Node {
    pub number: u32,
    pub kind: Kind,
    pub card: Card,
    pub nullable: bool,
    /// A single field's value when absent and not null.
    pub default: Absent,
    /// One value's shape (for a map, the value's).
    pub shape: Shape,
    /// A map's key and value, as nodes of their own.
    pub entry: Option<Box<(Node, Node)>>,
    /// The column's Arrow type.
    pub data_type: DataType,
}

/// The columns of a message type as a batch's root.
#[derive(Debug)]
pub struct Layout {
    pub columns: Vec<Node>,
    pub schema: SchemaRef,
}

impl Layout {
    /// The layout of message `root`. Its depth was checked against the plan's bounds by the caller.
    pub fn new(plan: &Plan, root: MsgId) -> Self {
        let msg = &plan.messages[root as usize];
        let columns: Vec<Node> = msg.fields.iter().map(|f| node(plan, msg, f)).collect();
        let fields: Vec<ArrowField> = msg
            .fields
            .iter()
            .zip(&columns)
            .map(|(f, n)| ArrowField::new(&f.name, n.data_type.clone(), n.nullable))
            .collect();
        Self {
            columns,
            schema: Arc::new(Schema::new(fields)),
        }
    }
}

fn node(plan: &Plan, msg: &Message, f: &Field) -> Node {
    if f.card == Card::Map
        && let Some(entry_id) = f.kind.message()
    {
        return map_node(plan, f, &plan.messages[entry_id as usize]);
    }
    let shape = shape(plan, msg, f.kind);
    let value_type = value_type(plan, f.kind, &shape);
    let data_type = match f.card {
        Card::Single => value_type,
        _ => DataType::List(Arc::new(ArrowField::new("item", value_type, false))),
    };
    Node {
        number: f.number,
        kind: f.kind,
        card: f.card,
        nullable: f.nullable(),
        default: f.default.clone(),
        shape,
        entry: None,
        data_type,
    }
}

/// A map field: entries of key (field 1) and value (field 2), neither ever null: an entry without
/// one holds its type's default, as Protobuf reads it.
fn map_node(plan: &Plan, f: &Field, entry: &Message) -> Node {
    let part = |number: u32| -> Node {
        let kind = entry.field_index(number).map_or(Kind::Bytes, |i| entry.fields[i].kind);
        let shape = shape(plan, entry, kind);
        let data_type = value_type(plan, kind, &shape);
        Node {
            number,
            kind,
            card: Card::Single,
            nullable: false,
            default: kind_default(kind),
            shape,
            entry: None,
            data_type,
        }
    };
    let (key, value) = (part(1), part(2));
    let entries = ArrowField::new(
        "entries",
        DataType::Struct(Fields::from(vec![
            ArrowField::new("keys", key.data_type.clone(), false),
            ArrowField::new("values", value.data_type.clone(), false),
        ])),
        false,
    );
    Node {
        number: f.number,
        kind: f.kind,
        card: Card::Map,
        nullable: false,
        default: Absent::Null,
        shape: Shape::Scalar,
        entry: Some(Box::new((key, value))),
        data_type: DataType::Map(Arc::new(entries), false),
    }
}

fn shape(plan: &Plan, msg: &Message, kind: Kind) -> Shape {
    let Some(sub_id) = kind.message() else {
        return Shape::Scalar;
    };
    let sub = &plan.messages[sub_id as usize];
    match sub.special {
        Special::Timestamp => Shape::Timestamp,
        Special::Duration => Shape::Duration,
        Special::Wrapper => Shape::Wrapper(sub.field_index(1).map_or(Kind::Bytes, |i| sub.fields[i].kind)),
        s @ (Special::Struct | Special::Value | Special::ListValue) => Shape::Json(s),
        Special::None if msg.is_recursive(sub) => Shape::Raw,
        Special::None if sub.fields.is_empty() => Shape::Marker,
        Special::None => Shape::Struct(sub_id, sub.fields.iter().map(|f| node(plan, sub, f)).collect()),
    }
}

/// The Arrow type of one value.
fn value_type(plan: &Plan, kind: Kind, shape: &Shape) -> DataType {
    match shape {
        Shape::Scalar | Shape::Wrapper(_) => scalar_type(match shape {
            Shape::Wrapper(k) => *k,
            _ => kind,
        }),
        Shape::Struct(id, nodes) => {
            let msg = &plan.messages[*id as usize];
            DataType::Struct(
                msg.fields
                    .iter()
                    .zip(nodes)
                    .map(|(f, n)| ArrowField::new(&f.name, n.data_type.clone(), n.nullable))
                    .collect(),
            )
        }
        Shape::Marker => DataType::Boolean,
        Shape::Raw => DataType::Binary,
        Shape::Timestamp => DataType::Timestamp(TimeUnit::Nanosecond, Some("+00:00".into())),
        Shape::Duration => DataType::Duration(TimeUnit::Nanosecond),
        Shape::Json(_) => DataType::Utf8,
    }
}

fn scalar_type(kind: Kind) -> DataType {
    match kind {
        Kind::Int32 | Kind::SInt32 | Kind::SFixed32 => DataType::Int32,
        Kind::Int64 | Kind::SInt64 | Kind::SFixed64 => DataType::Int64,
        Kind::UInt32 | Kind::Fixed32 => DataType::UInt32,
        Kind::UInt64 | Kind::Fixed64 => DataType::UInt64,
        Kind::Float => DataType::Float32,
        Kind::Double | Kind::FiniteDouble => DataType::Float64,
        Kind::Bool => DataType::Boolean,
        Kind::String => DataType::Utf8,
        Kind::Enum(_) => DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8)),
        Kind::Bytes | Kind::Message(_) | Kind::Group(_) => DataType::Binary,
    }
}

/// The default of a type (not of a field: a map's key and value have no declared default).
pub fn kind_default(kind: Kind) -> Absent {
    match kind {
        Kind::Int32 | Kind::SInt32 | Kind::SFixed32 => Absent::I32(0),
        Kind::Int64 | Kind::SInt64 | Kind::SFixed64 => Absent::I64(0),
        Kind::UInt32 | Kind::Fixed32 => Absent::U32(0),
        Kind::UInt64 | Kind::Fixed64 => Absent::U64(0),
        Kind::Float => Absent::F32(0.0),
        Kind::Double | Kind::FiniteDouble => Absent::F64(0.0),
        Kind::Bool => Absent::Bool(false),
        Kind::String => Absent::Str(String::new()),
        Kind::Bytes => Absent::Bytes(Vec::new()),
        // The first declared value, which proto3 requires to be 0 and proto2 takes as default.
        Kind::Enum(_) => Absent::Enum(0),
        Kind::Message(_) | Kind::Group(_) => Absent::Null,
    }
}
