//! How one JSON value becomes the Arrow value of a leaf [`Node`]: the single definition that the
//! validator's check ([`super::check`]) and the conversion ([`super::arrow`]) both use, so that what
//! validates always converts.

use super::datetime;
use super::plan::Node;
use super::tape::{Kind, Num, Val};

/// The Arrow value of a JSON value at a leaf node.
#[derive(Debug, Clone, Copy)]
pub(super) enum Leaf<'v> {
    Null,
    Boolean(bool),
    Integer(i64),
    Number(f64),
    String(&'v str),
    /// Microseconds since the epoch, UTC.
    DateTime(i64),
    /// Days since the epoch.
    Date(i32),
    /// The value itself, written as JSON text.
    Json(Val<'v>),
}

/// Why a value does not become its leaf's Arrow value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Misfit {
    IntegerOutOfRange,
    InvalidDateTime,
    InvalidDate,
    /// Another kind of value than the node holds.
    Kind,
}

/// The Arrow value of `value` at the leaf `node` (`Ok(None)` if `node` is not a leaf).
#[inline]
pub(super) fn read<'v>(node: &Node, value: Val<'v>) -> Result<Option<Leaf<'v>>, Misfit> {
    Ok(Some(match (node, value.kind()) {
        (Node::Struct(_) | Node::List(_) | Node::Map(_), _) => return Ok(None),
        (_, Kind::Null) => Leaf::Null,
        (Node::Json, _) => Leaf::Json(value),
        (Node::Boolean, Kind::Bool(b)) => Leaf::Boolean(b),
        (Node::Integer, Kind::Number(n)) => Leaf::Integer(integer(n)?),
        (Node::Number, Kind::Number(n)) => Leaf::Number(n.as_f64()),
        (Node::String, Kind::String(s)) => Leaf::String(s),
        (Node::DateTime, Kind::String(s)) => {
            Leaf::DateTime(datetime::parse_date_time(s).ok_or(Misfit::InvalidDateTime)?)
        }
        (Node::Date, Kind::String(s)) => Leaf::Date(datetime::parse_date(s).ok_or(Misfit::InvalidDate)?),
        _ => return Err(Misfit::Kind),
    }))
}

/// A JSON Schema integer (a number with no fractional part, `1.0` and `1e3` included) as an `i64`.
fn integer(n: Num) -> Result<i64, Misfit> {
    let f = match n {
        Num::I64(i) => return Ok(i),
        Num::U64(u) => return i64::try_from(u).map_err(|_| Misfit::IntegerOutOfRange),
        Num::F64(f) => f,
    };
    if f.fract() != 0.0 {
        return Err(Misfit::Kind);
    }
    // -2^63 is exact as an f64; 2^63 is the first value past i64::MAX.
    const LIMIT: f64 = 9_223_372_036_854_775_808.0;
    if (-LIMIT..LIMIT).contains(&f) {
        Ok(f as i64)
    } else {
        Err(Misfit::IntegerOutOfRange)
    }
}

#[cfg(test)]
mod tests {
    use super::super::tape::Tape;
    use super::*;

    /// The leaf of `text` at `node`, as text (a leaf borrows its tape).
    fn leaf(node: &Node, text: &str) -> Result<Option<String>, Misfit> {
        let mut tape = Tape::default();
        super::super::parse::parse(&mut tape, text.as_bytes()).expect("JSON");
        read(node, tape.root()).map(|leaf| {
            leaf.map(|l| match l {
                Leaf::Json(v) => format!("Json({})", v.to_value()),
                other => format!("{other:?}"),
            })
        })
    }

    #[test]
    fn integers_take_every_integral_number_that_fits_64_bits() {
        let int = |text: &str| leaf(&Node::Integer, text);
        let integer = |i: i64| Ok(Some(format!("{:?}", Leaf::Integer(i))));
        assert_eq!(int("0"), integer(0));
        assert_eq!(int("-9223372036854775808"), integer(i64::MIN));
        assert_eq!(int("9223372036854775807"), integer(i64::MAX));
        assert_eq!(int("1.0"), integer(1));
        assert_eq!(int("-0.0"), integer(0));
        assert_eq!(int("1e3"), integer(1000));
        assert_eq!(int("-9.223372036854775808e18"), integer(i64::MIN));
        assert_eq!(int("9223372036854775808"), Err(Misfit::IntegerOutOfRange));
        assert_eq!(int("9.223372036854775808e18"), Err(Misfit::IntegerOutOfRange));
        assert_eq!(int("1e300"), Err(Misfit::IntegerOutOfRange));
        assert_eq!(int("1.5"), Err(Misfit::Kind));
        assert_eq!(int("\"1\""), Err(Misfit::Kind));
        assert_eq!(int("null"), Ok(Some("Null".to_owned())));
    }

    #[test]
    fn temporal_strings_must_parse() {
        assert_eq!(
            leaf(&Node::DateTime, "\"1970-01-01T00:00:01Z\""),
            Ok(Some("DateTime(1000000)".to_owned()))
        );
        assert_eq!(leaf(&Node::DateTime, "\"yesterday\""), Err(Misfit::InvalidDateTime));
        assert_eq!(leaf(&Node::Date, "\"1970-01-02\""), Ok(Some("Date(1)".to_owned())));
        assert_eq!(leaf(&Node::Date, "\"1970-01-02T00:00:00Z\""), Err(Misfit::InvalidDate));
    }

    #[test]
    fn json_text_takes_any_value_and_containers_are_not_leaves() {
        let v = r#"{"a":[1,"x"]}"#;
        assert_eq!(leaf(&Node::Json, v), Ok(Some(format!("Json({v})"))));
        assert_eq!(leaf(&Node::List(Box::new(Node::Json)), v), Ok(None));
        assert_eq!(leaf(&Node::String, "1"), Err(Misfit::Kind));
        assert_eq!(leaf(&Node::Boolean, "0"), Err(Misfit::Kind));
    }
}
