//! The validator's last step: a value the schema accepts is walked along the plan, and every leaf
//! read as the conversion will read it ([`super::leaf`]). An integer past 64 bits or a `date-time`
//! that does not parse is refused here, with its own reason, rather than failing the conversion of
//! a whole group of events later.
//!
//! Hot path: runs once per valid event. Allocates nothing unless the value is refused.

use super::error::{ValidateError, bounded};
use super::leaf::{self, Misfit};
use super::plan::Node;
use super::tape::{Kind, Val};

/// Ok when `value` converts along `node`.
pub(super) fn check(node: &Node, value: Val<'_>) -> Result<(), ValidateError> {
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
    fn new(misfit: Misfit, value: Val<'_>) -> Box<Fault> {
        let mut text = String::new();
        // Writing into a string never fails.
        let _ = value.write_json(&mut text);
        Box::new(Fault {
            misfit,
            value: bounded(text),
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

fn walk(node: &Node, value: Val<'_>) -> Result<(), Box<Fault>> {
    match (node, value.kind()) {
        (_, Kind::Null) => Ok(()),
        (Node::Struct(s), Kind::Object(members)) => {
            let mut previous = None;
            for (name, v) in members {
                match s.field_after(previous, name) {
                    Some(i) => {
                        walk(&s.fields[i].1, v).map_err(|f| f.at(name))?;
                        previous = Some(i);
                    }
                    None if s.extra.is_some() => {}
                    None => return Err(Fault::new(Misfit::Kind, v).at(name)),
                }
            }
            Ok(())
        }
        (Node::List(item), Kind::Array(items)) => items
            .enumerate()
            .try_for_each(|(i, v)| walk(item, v).map_err(|f| f.at(i))),
        (Node::Map(values), Kind::Object(members)) => members
            .into_iter()
            .try_for_each(|(k, v)| walk(values, v).map_err(|f| f.at(k))),
        (Node::Struct(_) | Node::List(_) | Node::Map(_), _) => Err(Fault::new(Misfit::Kind, value)),
        (leaf, _) => leaf::read(leaf, value).map(drop).map_err(|m| Fault::new(m, value)),
    }
}
