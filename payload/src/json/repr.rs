//! The tape ([`super::tape`]) as one of `jsonschema`'s JSON representations, so that the validator
//! reads a datum in place rather than a `serde_json::Value` built for it. Cold paths (error
//! messages, `uniqueItems`, `enum` of arrays or objects) build a `serde_json::Value` of the part
//! they need.

use std::borrow::Cow;

use jsonschema::JsonType;
use jsonschema::json::{Array, Json, Node, NodeIdentity, Object, cmp};
use serde_json::Value;

use super::tape::{Items, Kind, Members, Tape, Val};

/// The tape representation, for `jsonschema::options_for`.
#[derive(Debug)]
pub(super) struct TapeJson;

impl Json for TapeJson {
    type Node<'a> = Val<'a>;
    type PreparedKey = Box<str>;
    type StringBuffer = Tape<'static>;

    /// A lookup scans the members, so one pass over them costs no more than a few lookups.
    const KEYS_PER_LOOKUP: usize = 4;
    /// A tape is a tree.
    const ACYCLIC: bool = true;

    fn prepare_key(key: &str) -> Box<str> {
        key.into()
    }

    fn with_string_node<T>(buffer: &mut Tape<'static>, string: &str, f: impl FnOnce(Val<'_>) -> T) -> T {
        *buffer = Tape::of_string(string);
        f(buffer.root())
    }
}

impl<'a> Node<'a, TapeJson> for Val<'a> {
    type Object = Members<'a>;
    type Array = Items<'a>;
    type Number = serde_json::Number;

    fn as_object(&self) -> Option<Members<'a>> {
        match self.kind() {
            Kind::Object(members) => Some(members),
            _ => None,
        }
    }

    fn as_array(&self) -> Option<Items<'a>> {
        match self.kind() {
            Kind::Array(items) => Some(items),
            _ => None,
        }
    }

    fn as_string(&self) -> Option<Cow<'a, str>> {
        match self.kind() {
            Kind::String(s) => Some(Cow::Borrowed(s)),
            _ => None,
        }
    }

    fn as_number(&self) -> Option<serde_json::Number> {
        match self.kind() {
            Kind::Number(n) => Some(n.to_number()),
            _ => None,
        }
    }

    fn is_number(&self) -> bool {
        matches!(self.kind(), Kind::Number(_))
    }

    fn as_boolean(&self) -> Option<bool> {
        match self.kind() {
            Kind::Bool(b) => Some(b),
            _ => None,
        }
    }

    fn is_null(&self) -> bool {
        Val::is_null(*self)
    }

    fn json_type(&self) -> JsonType {
        match self.kind() {
            Kind::Null => JsonType::Null,
            Kind::Bool(_) => JsonType::Boolean,
            Kind::Number(_) => JsonType::Number,
            Kind::String(_) => JsonType::String,
            Kind::Array(_) => JsonType::Array,
            Kind::Object(_) => JsonType::Object,
        }
    }

    /// Scalars compare in place (`enum` and `const` of strings run per event); numbers compare
    /// mathematically, as `jsonschema` compares them.
    fn equals_value(&self, expected: &Value) -> bool {
        match (self.kind(), expected) {
            (Kind::Null, Value::Null) => true,
            (Kind::Bool(b), Value::Bool(e)) => b == *e,
            (Kind::String(s), Value::String(e)) => s == e,
            (Kind::Number(n), Value::Number(_)) => cmp::equal(&Value::Number(n.to_number()), expected),
            (Kind::Array(_), Value::Array(_)) | (Kind::Object(_), Value::Object(_)) => {
                cmp::equal(&self.to_value(), expected)
            }
            _ => false,
        }
    }

    fn to_value(&self) -> Cow<'a, Value> {
        Cow::Owned(Val::to_value(*self))
    }

    fn identity(&self) -> Option<NodeIdentity> {
        let (tape, at) = self.address();
        Some(NodeIdentity::tagged(tape, at))
    }
}

impl<'a> Object<'a, TapeJson> for Members<'a> {
    type Node = Val<'a>;
    type MemberName = &'a str;
    type MembersIter = Members<'a>;

    fn len(&self) -> usize {
        ExactSizeIterator::len(self)
    }

    fn get(&self, key: &Box<str>) -> Option<Val<'a>> {
        self.members().find(|(name, _)| *name == &**key).map(|(_, value)| value)
    }

    fn members(&self) -> Members<'a> {
        *self
    }
}

impl<'a> Array<'a, TapeJson> for Items<'a> {
    type Node = Val<'a>;
    type ElementsIter = Items<'a>;

    fn len(&self) -> usize {
        ExactSizeIterator::len(self)
    }

    fn elements(&self) -> Items<'a> {
        *self
    }
}
