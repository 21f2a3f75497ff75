//! How one JSON value becomes the Arrow value of a leaf [`Node`]: the single definition that the
//! validator's check ([`super::check`]) and the conversion ([`super::arrow`]) both use, so that what
//! validates always converts.

use serde_json::{Number, Value};

use super::datetime;
use super::plan::Node;

/// The Arrow value of a JSON value at a leaf node.
#[derive(Debug, Clone, Copy, PartialEq)]
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
    Json(&'v Value),
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
pub(super) fn read<'v>(node: &Node, value: &'v Value) -> Result<Option<Leaf<'v>>, Misfit> {
    Ok(Some(match (node, value) {
        (Node::Struct(_) | Node::List(_) | Node::Map(_), _) => return Ok(None),
        (_, Value::Null) => Leaf::Null,
        (Node::Json, v) => Leaf::Json(v),
        (Node::Boolean, Value::Bool(b)) => Leaf::Boolean(*b),
        (Node::Integer, Value::Number(n)) => Leaf::Integer(integer(n)?),
        (Node::Number, Value::Number(n)) => Leaf::Number(n.as_f64().ok_or(Misfit::Kind)?),
        (Node::String, Value::String(s)) => Leaf::String(s),
        (Node::DateTime, Value::String(s)) => {
            Leaf::DateTime(datetime::parse_date_time(s).ok_or(Misfit::InvalidDateTime)?)
        }
        (Node::Date, Value::String(s)) => Leaf::Date(datetime::parse_date(s).ok_or(Misfit::InvalidDate)?),
        _ => return Err(Misfit::Kind),
    }))
}

/// A JSON Schema integer (a number with no fractional part, `1.0` and `1e3` included) as an `i64`.
fn integer(n: &Number) -> Result<i64, Misfit> {
    if let Some(i) = n.as_i64() {
        return Ok(i);
    }
    if n.is_u64() {
        return Err(Misfit::IntegerOutOfRange);
    }
    let f = n.as_f64().ok_or(Misfit::Kind)?;
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
    use serde_json::json;

    use super::*;

    #[test]
    fn integers_take_every_integral_number_that_fits_64_bits() {
        let int = |v: Value| read(&Node::Integer, &v).map(|leaf| leaf.map(|l| format!("{l:?}")));
        let integer = |i: i64| Ok(Some(format!("{:?}", Leaf::Integer(i))));
        assert_eq!(int(json!(0)), integer(0));
        assert_eq!(int(json!(i64::MIN)), integer(i64::MIN));
        assert_eq!(int(json!(i64::MAX)), integer(i64::MAX));
        assert_eq!(int(json!(1.0)), integer(1));
        assert_eq!(int(json!(-0.0)), integer(0));
        assert_eq!(int(serde_json::from_str("1e3").unwrap()), integer(1000));
        assert_eq!(int(json!(-(2f64.powi(63)))), integer(i64::MIN));
        assert_eq!(int(json!(i64::MAX as u64 + 1)), Err(Misfit::IntegerOutOfRange));
        assert_eq!(int(json!(2f64.powi(63))), Err(Misfit::IntegerOutOfRange));
        assert_eq!(int(json!(1e300)), Err(Misfit::IntegerOutOfRange));
        assert_eq!(int(json!(1.5)), Err(Misfit::Kind));
        assert_eq!(int(json!("1")), Err(Misfit::Kind));
        assert_eq!(int(json!(null)), Ok(Some("Null".to_owned())));
    }

    #[test]
    fn temporal_strings_must_parse() {
        assert_eq!(
            read(&Node::DateTime, &json!("1970-01-01T00:00:01Z")),
            Ok(Some(Leaf::DateTime(1_000_000)))
        );
        assert_eq!(read(&Node::DateTime, &json!("yesterday")), Err(Misfit::InvalidDateTime));
        assert_eq!(read(&Node::Date, &json!("1970-01-02")), Ok(Some(Leaf::Date(1))));
        assert_eq!(
            read(&Node::Date, &json!("1970-01-02T00:00:00Z")),
            Err(Misfit::InvalidDate)
        );
    }

    #[test]
    fn json_text_takes_any_value_and_containers_are_not_leaves() {
        let v = json!({"a": [1, "x"]});
        assert_eq!(read(&Node::Json, &v), Ok(Some(Leaf::Json(&v))));
        assert_eq!(read(&Node::List(Box::new(Node::Json)), &v), Ok(None));
        assert_eq!(read(&Node::String, &json!(1)), Err(Misfit::Kind));
        assert_eq!(read(&Node::Boolean, &json!(0)), Err(Misfit::Kind));
    }
}
