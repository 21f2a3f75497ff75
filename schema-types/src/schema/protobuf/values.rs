//! Literals of the canonical `.proto` text: names checked to be identifiers, quoted strings, field
//! defaults, and option values (scalars, or messages in the text format of aggregate options).

use std::fmt::Write;

use prost_reflect::{DynamicMessage, Kind, MapKey, Value};
use prost_types::field_descriptor_proto::Type;

/// What cannot be printed, and why.
pub(super) type Result<T> = std::result::Result<T, String>;

/// `name` if it is an identifier (a serialized descriptor may name things anything).
pub(super) fn ident(name: &str) -> Result<&str> {
    let mut chars = name.chars();
    let valid = chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_');
    if valid {
        Ok(name)
    } else {
        Err(format!("{name:?} is not an identifier"))
    }
}

/// `name` if it is identifiers joined by dots.
pub(super) fn dotted(name: &str) -> Result<&str> {
    for part in name.split('.') {
        ident(part)?;
    }
    Ok(name)
}

/// A type reference, fully qualified with a leading dot.
pub(super) fn type_ref(full_name: &str) -> Result<String> {
    Ok(format!(".{}", dotted(full_name)?))
}

/// A double-quoted literal of `bytes`: printable ASCII as is, the rest escaped (octal for bytes, so
/// that any byte string reads back the same).
pub(super) fn quote(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() + 2);
    out.push('"');
    for &b in bytes {
        match b {
            b'"' => out.push_str("\\\""),
            b'\\' => out.push_str("\\\\"),
            b'\n' => out.push_str("\\n"),
            b'\r' => out.push_str("\\r"),
            b'\t' => out.push_str("\\t"),
            0x20..=0x7e => out.push(char::from(b)),
            _ => {
                let _ = write!(out, "\\{b:03o}");
            }
        }
    }
    out.push('"');
    out
}

/// Reads a C-escaped literal body, the form of a bytes field's default in a descriptor.
pub(super) fn unescape(text: &str) -> Result<Vec<u8>> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] != b'\\' {
            out.push(bytes[i]);
            i += 1;
            continue;
        }
        let escape = *bytes.get(i + 1).ok_or("a default ends with a backslash")?;
        i += 2;
        let simple = match escape {
            b'n' => Some(b'\n'),
            b'r' => Some(b'\r'),
            b't' => Some(b'\t'),
            b'a' => Some(0x07),
            b'b' => Some(0x08),
            b'f' => Some(0x0c),
            b'v' => Some(0x0b),
            b'\\' | b'\'' | b'"' | b'?' => Some(escape),
            _ => None,
        };
        if let Some(b) = simple {
            out.push(b);
        } else if escape.is_ascii_digit() && escape < b'8' {
            let digits = digits_at(bytes, i - 1, 3, 8);
            out.push(parse_radix(&bytes[i - 1..i - 1 + digits], 8)?);
            i += digits - 1;
        } else if escape == b'x' || escape == b'X' {
            let digits = digits_at(bytes, i, 2, 16);
            if digits == 0 {
                return Err("a \\x escape without hex digits in a default".into());
            }
            out.push(parse_radix(&bytes[i..i + digits], 16)?);
            i += digits;
        } else {
            return Err(format!("unknown escape \\{} in a default", char::from(escape)));
        }
    }
    Ok(out)
}

/// How many digits of `radix` (at most `max`) start at `at`.
fn digits_at(bytes: &[u8], at: usize, max: usize, radix: u32) -> usize {
    bytes[at.min(bytes.len())..]
        .iter()
        .take(max)
        .take_while(|b| char::from(**b).is_digit(radix))
        .count()
}

fn parse_radix(digits: &[u8], radix: u32) -> Result<u8> {
    let text = std::str::from_utf8(digits).map_err(|e| e.to_string())?;
    u32::from_str_radix(text, radix)
        .ok()
        .and_then(|n| u8::try_from(n).ok())
        .ok_or_else(|| format!("escape {text:?} is not a byte"))
}

/// The `default = …` value of a proto2 field, from the descriptor's text of it.
pub(super) fn default_value(field_type: Type, kind: &Kind, text: &str) -> Result<String> {
    let bad = || format!("default {text:?} is not a valid {}", field_type.as_str_name());
    match field_type {
        Type::String => Ok(quote(text.as_bytes())),
        Type::Bytes => Ok(quote(&unescape(text)?)),
        Type::Bool => match text {
            "true" | "false" => Ok(text.to_string()),
            _ => Err(bad()),
        },
        Type::Float | Type::Double => match text {
            "inf" | "-inf" | "nan" => Ok(text.to_string()),
            _ => text
                .parse::<f64>()
                .ok()
                .filter(|v| v.is_finite())
                .map(|v| format!("{v:?}"))
                .ok_or_else(bad),
        },
        Type::Int32 | Type::Sint32 | Type::Sfixed32 => text.parse::<i32>().map(|v| v.to_string()).map_err(|_| bad()),
        Type::Int64 | Type::Sint64 | Type::Sfixed64 => text.parse::<i64>().map(|v| v.to_string()).map_err(|_| bad()),
        Type::Uint32 | Type::Fixed32 => text.parse::<u32>().map(|v| v.to_string()).map_err(|_| bad()),
        Type::Uint64 | Type::Fixed64 => text.parse::<u64>().map(|v| v.to_string()).map_err(|_| bad()),
        Type::Enum => match kind {
            Kind::Enum(e) if e.get_value_by_name(text).is_some() => Ok(ident(text)?.to_string()),
            _ => Err(bad()),
        },
        Type::Message | Type::Group => Err(format!("a message field has a default ({text:?})")),
    }
}

/// The options set in `options` (an `…Options` message), as `(name, value)` pairs in field-number
/// order, then extensions as `(.full.name)`; a repeated option gives one pair per element. Fields
/// the pool has no definition for are left out: `.proto` text cannot name them.
pub(super) fn option_entries(options: &DynamicMessage) -> Result<Vec<(String, String)>> {
    const UNINTERPRETED_OPTION: u32 = 999;
    let mut entries = Vec::new();
    let mut push = |name: String, value: &Value, kind: &Kind| -> Result<()> {
        match value {
            Value::List(items) => {
                for item in items {
                    entries.push((name.clone(), option_value(item, kind)?));
                }
            }
            _ => entries.push((name, option_value(value, kind)?)),
        }
        Ok(())
    };
    for (field, value) in options.fields() {
        if field.number() != UNINTERPRETED_OPTION {
            push(ident(field.name())?.to_string(), value, &field.kind())?;
        }
    }
    for (extension, value) in options.extensions() {
        push(
            format!("({})", type_ref(extension.full_name())?),
            value,
            &extension.kind(),
        )?;
    }
    Ok(entries)
}

/// An option's value as `.proto` text accepts it after `=`.
fn option_value(value: &Value, kind: &Kind) -> Result<String> {
    match value {
        // `.proto` option values have no infinity literal, but an overflowing exponent reads as one.
        Value::F32(v) if v.is_infinite() => Ok(if *v > 0.0 { "1e999" } else { "-1e999" }.to_string()),
        Value::F64(v) if v.is_infinite() => Ok(if *v > 0.0 { "1e999" } else { "-1e999" }.to_string()),
        Value::F32(v) if v.is_nan() => Err("an option is NaN, which .proto text cannot write".into()),
        Value::F64(v) if v.is_nan() => Err("an option is NaN, which .proto text cannot write".into()),
        Value::Message(message) => {
            let mut out = String::new();
            message_text(message, &mut out)?;
            Ok(out)
        }
        _ => scalar_text(value, kind),
    }
}

/// A scalar in the text format (which `.proto` text shares for finite numbers, strings and enums).
fn scalar_text(value: &Value, kind: &Kind) -> Result<String> {
    Ok(match value {
        Value::Bool(v) => v.to_string(),
        Value::I32(v) => v.to_string(),
        Value::I64(v) => v.to_string(),
        Value::U32(v) => v.to_string(),
        Value::U64(v) => v.to_string(),
        Value::F32(v) => float_text(f64::from(*v), || format!("{v:?}")),
        Value::F64(v) => float_text(*v, || format!("{v:?}")),
        Value::String(s) => quote(s.as_bytes()),
        Value::Bytes(b) => quote(b),
        Value::EnumNumber(n) => match kind {
            Kind::Enum(e) => match e.get_value(*n) {
                Some(v) => ident(v.name())?.to_string(),
                None => return Err(format!("enum {} has no value {n}", e.full_name())),
            },
            _ => return Err(format!("enum value {n} of a non-enum field")),
        },
        Value::Message(_) | Value::List(_) | Value::Map(_) => {
            return Err("a message, list or map where a scalar was expected".into());
        }
    })
}

/// Finite numbers in their shortest exact form, the others as the text format's words.
fn float_text(v: f64, finite: impl Fn() -> String) -> String {
    if v.is_nan() {
        "nan".into()
    } else if v.is_infinite() {
        if v > 0.0 { "inf".into() } else { "-inf".into() }
    } else {
        finite()
    }
}

/// A message in the text format, `{ name: value … }`: fields by number, then extensions, map
/// entries by key, so that the text is the same for the same message.
fn message_text(message: &DynamicMessage, out: &mut String) -> Result<()> {
    out.push('{');
    for (field, value) in message.fields() {
        let name = if field.is_group() {
            match field.kind() {
                Kind::Message(m) => ident(m.name())?.to_string(),
                _ => return Err("a group field that is not a message".into()),
            }
        } else {
            ident(field.name())?.to_string()
        };
        field_text(&name, value, &field.kind(), out)?;
    }
    for (extension, value) in message.extensions() {
        let name = format!("[{}]", dotted(extension.full_name())?);
        field_text(&name, value, &extension.kind(), out)?;
    }
    out.push_str(" }");
    Ok(())
}

/// One field of a message in the text format: repeated fields and maps as one entry per element.
fn field_text(name: &str, value: &Value, kind: &Kind, out: &mut String) -> Result<()> {
    match value {
        Value::List(items) => {
            for item in items {
                field_text(name, item, kind, out)?;
            }
        }
        Value::Map(map) => {
            let Kind::Message(entry) = kind else {
                return Err("a map field that is not a message".into());
            };
            let value_kind = entry.map_entry_value_field().kind();
            let mut entries: Vec<(&MapKey, &Value)> = map.iter().collect();
            entries.sort_by(|a, b| a.0.cmp(b.0));
            for (key, value) in entries {
                let _ = write!(out, " {name} {{ key: {}", map_key_text(key));
                field_text("value", value, &value_kind, out)?;
                out.push_str(" }");
            }
        }
        Value::Message(message) => {
            let _ = write!(out, " {name} ");
            message_text(message, out)?;
        }
        _ => {
            let _ = write!(out, " {name}: {}", scalar_text(value, kind)?);
        }
    }
    Ok(())
}

fn map_key_text(key: &MapKey) -> String {
    match key {
        MapKey::Bool(v) => v.to_string(),
        MapKey::I32(v) => v.to_string(),
        MapKey::I64(v) => v.to_string(),
        MapKey::U32(v) => v.to_string(),
        MapKey::U64(v) => v.to_string(),
        MapKey::String(s) => quote(s.as_bytes()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_are_checked() {
        assert!(ident("Foo_1").is_ok());
        assert!(ident("_x").is_ok());
        assert!(ident("1x").is_err());
        assert!(ident("a b").is_err());
        assert!(ident("").is_err());
        assert!(dotted("a.b.C").is_ok());
        assert!(dotted("a..b").is_err());
        assert_eq!(type_ref("a.B").unwrap(), ".a.B");
    }

    #[test]
    fn quoting_escapes_what_is_not_printable_ascii() {
        assert_eq!(quote(b"a\"b\\c\n\x01\xff"), r#""a\"b\\c\n\001\377""#);
    }

    #[test]
    fn c_escapes_read_back_to_bytes() {
        assert_eq!(unescape(r"a\001\377\x41\n\\\'\?").unwrap(), b"a\x01\xffA\n\\'?");
        assert_eq!(unescape(r"\0").unwrap(), b"\0");
        assert!(unescape("\\").is_err());
        assert!(unescape(r"\q").is_err());
        assert!(unescape(r"\777").is_err(), "not a byte");
        assert!(unescape(r"\x").is_err());
    }

    #[test]
    fn defaults_are_checked_for_their_type() {
        assert_eq!(default_value(Type::Int32, &Kind::Int32, "-5").unwrap(), "-5");
        assert!(default_value(Type::Int32, &Kind::Int32, "5]; int32 evil = 6 [default = 1").is_err());
        assert_eq!(
            default_value(Type::Double, &Kind::Double, "1e+10").unwrap(),
            "10000000000.0"
        );
        assert_eq!(default_value(Type::Float, &Kind::Float, "-inf").unwrap(), "-inf");
        assert_eq!(default_value(Type::String, &Kind::String, "a\"b").unwrap(), r#""a\"b""#);
        assert!(default_value(Type::Bool, &Kind::Bool, "yes").is_err());
    }
}
