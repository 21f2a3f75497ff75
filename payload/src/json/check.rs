//! The validator's last step: a value the schema accepts is walked along the plan, and every leaf
//! read as the conversion will read it ([`super::leaf`]). An integer past 64 bits or a `date-time`
//! that does not parse is refused here, with its own reason, rather than failing the conversion of
//! a whole group of events later.
//!
//! Hot path: runs once per valid event. Allocates nothing unless the value is refused.

use serde_json::Value;

use super::error::{ValidateError, bounded};
use super::leaf::{self, Misfit};
use super::plan::Node;

/// Ok when `value` converts along `node`.
pub(super) fn check(node: &Node, value: &Value) -> Result<(), ValidateError> {
    walk(node, value).map_err(|fault| (*fault).into_error())
}

/// Where a value does not fit, innermost segment first, and why.
#[derive(Debug)]
struct Fault {
    misfit: Misfit,
    value: String,
    path: Vec<String>,
}

impl Fault {
    #[cold]
    fn new(misfit: Misfit, value: &Value) -> Box<Fault> {
        Box::new(Fault {
            misfit,
            value: bounded(value.to_string()),
            path: Vec::new(),
        })
    }

    #[cold]
    fn at(mut self: Box<Self>, segment: impl ToString) -> Box<Self> {
        self.path.push(segment.to_string());
        self
    }

    fn into_error(self) -> ValidateError {
        // A JSON pointer, `~` and `/` escaped in each segment.
        let at = bounded(self.path.iter().rev().fold("#".to_owned(), |mut at, segment| {
            at.push('/');
            at.push_str(&segment.replace('~', "~0").replace('/', "~1"));
            at
        }));
        let value = self.value;
        match self.misfit {
            Misfit::IntegerOutOfRange => ValidateError::IntegerOutOfRange { at, value },
            Misfit::InvalidDateTime => ValidateError::InvalidDateTime { at, value },
            Misfit::InvalidDate => ValidateError::InvalidDate { at, value },
            Misfit::Kind => ValidateError::Unmappable { at, value },
        }
    }
}

fn walk(node: &Node, value: &Value) -> Result<(), Box<Fault>> {
    match (node, value) {
        (_, Value::Null) => Ok(()),
        (Node::Struct(s), Value::Object(properties)) => {
            for (name, v) in properties {
                match s.field(name) {
                    Some(i) => walk(&s.fields[i].1, v).map_err(|f| f.at(name))?,
                    None if s.extra.is_some() => {}
                    None => return Err(Fault::new(Misfit::Kind, v).at(name)),
                }
            }
            Ok(())
        }
        (Node::List(item), Value::Array(items)) => items
            .iter()
            .enumerate()
            .try_for_each(|(i, v)| walk(item, v).map_err(|f| f.at(i))),
        (Node::Map(values), Value::Object(entries)) => entries
            .iter()
            .try_for_each(|(k, v)| walk(values, v).map_err(|f| f.at(k))),
        (Node::Struct(_) | Node::List(_) | Node::Map(_), v) => Err(Fault::new(Misfit::Kind, v)),
        (leaf, v) => leaf::read(leaf, v).map(drop).map_err(|m| Fault::new(m, v)),
    }
}
