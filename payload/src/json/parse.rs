//! The JSON parser that writes a datum's [`Tape`]: RFC 8259 JSON, read as serde_json reads it into
//! a `Value`, so that the validator sees what any other reader of the text would see.
//!
//! - The datum is UTF-8 as a whole (checked once), a single value with only whitespace around it.
//! - Numbers: an integer is a `u64`, or an `i64` when negative, and otherwise the nearest `f64`,
//!   as serde_json reads it (`-0` is the float `-0.0`); a number beyond the `f64` range is an error.
//! - Strings: the escapes of RFC 8259; a lone surrogate (`"\ud800"`) and an unescaped control
//!   character are errors.
//! - Arrays and objects nest at most [`MAX_NESTING`] deep (serde_json's limit), so that nothing
//!   reading a tape recurses without bound.
//! - One rule more than serde_json: an object may not name a key twice (serde_json keeps the last
//!   value silently, a validator could see either). [`parse_again`] skips that check for a datum
//!   already validated.
//!
//! Hot path: runs once per event in validation and again in conversion. It allocates only the
//! tape's growth and the text of strings that hold escapes.

use std::collections::HashSet;

use super::tape::{Entry, Num, Tape};

/// How deep arrays and objects may nest; one more level is an error.
pub(super) const MAX_NESTING: u32 = 127;

/// Objects up to this many members are checked for a repeated key by comparing keys (when a cheap
/// filter says two may be equal); larger ones through a hash set.
const PAIRWISE_KEYS: usize = 16;

/// Why a datum is not one JSON value. Boxed: the parser's results stay small on the hot path.
#[derive(Debug)]
pub(super) struct ParseError(pub Box<str>);

/// Parses `datum` into `tape`, replacing what it held.
pub(super) fn parse<'d>(tape: &mut Tape<'d>, datum: &'d [u8]) -> Result<(), ParseError> {
    parse_with(tape, datum, true)
}

/// [`parse`] for a datum that [`parse`] accepted before: a repeated key is not looked for.
pub(super) fn parse_again<'d>(tape: &mut Tape<'d>, datum: &'d [u8]) -> Result<(), ParseError> {
    parse_with(tape, datum, false)
}

fn parse_with<'d>(tape: &mut Tape<'d>, datum: &'d [u8], refuse_repeats: bool) -> Result<(), ParseError> {
    tape.clear();
    let text = std::str::from_utf8(datum).map_err(|e| ParseError(format!("not UTF-8: {e}").into()))?;
    let mut parser = Parser {
        text,
        bytes: datum,
        at: 0,
        tape,
        depth: 0,
        refuse_repeats,
    };
    parser.value()?;
    parser.skip_whitespace();
    if parser.at < parser.bytes.len() {
        return Err(parser.error("trailing characters"));
    }
    Ok(())
}

struct Parser<'d, 't> {
    text: &'d str,
    bytes: &'d [u8],
    at: usize,
    tape: &'t mut Tape<'d>,
    depth: u32,
    refuse_repeats: bool,
}

/// Bytes that end the fast scan of a string: the quote, the backslash and control characters.
const STRING_STOP: [bool; 256] = {
    let mut table = [false; 256];
    let mut b = 0;
    while b < 0x20 {
        table[b] = true;
        b += 1;
    }
    table[b'"' as usize] = true;
    table[b'\\' as usize] = true;
    table
};

impl<'d> Parser<'d, '_> {
    #[cold]
    fn error(&self, what: &str) -> ParseError {
        ParseError(format!("{what} at byte {}", self.at).into())
    }

    /// A repeated key, named in a few characters: a key can be as long as the datum.
    #[cold]
    fn repeated(&self, key: u32) -> ParseError {
        let key: String = self.tape.text_at(key).chars().take(40).collect();
        self.error(&format!("repeated key {key:?}"))
    }

    #[inline]
    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.at).copied()
    }

    #[inline]
    fn skip_whitespace(&mut self) {
        let mut at = self.at;
        while let Some(b' ' | b'\n' | b'\r' | b'\t') = self.bytes.get(at) {
            at += 1;
        }
        self.at = at;
    }

    fn value(&mut self) -> Result<(), ParseError> {
        self.skip_whitespace();
        match self.peek() {
            Some(b'{') => self.object(),
            Some(b'[') => self.array(),
            Some(b'"') => self.string(),
            Some(b't') => self.literal("true", Entry::Bool(true)),
            Some(b'f') => self.literal("false", Entry::Bool(false)),
            Some(b'n') => self.literal("null", Entry::Null),
            Some(b'-' | b'0'..=b'9') => self.number(),
            Some(_) => Err(self.error("expected a value")),
            None => Err(self.error("end of data where a value was expected")),
        }
    }

    fn literal(&mut self, word: &str, entry: Entry<'d>) -> Result<(), ParseError> {
        if !self.bytes[self.at..].starts_with(word.as_bytes()) {
            return Err(self.error("expected a value"));
        }
        self.at += word.len();
        self.tape.push(entry);
        Ok(())
    }

    fn enter(&mut self) -> Result<(), ParseError> {
        self.depth += 1;
        if self.depth > MAX_NESTING {
            return Err(self.error("recursion limit exceeded"));
        }
        self.at += 1;
        Ok(())
    }

    #[inline(never)]
    fn array(&mut self) -> Result<(), ParseError> {
        self.enter()?;
        let header = self.tape.push(Entry::Array { len: 0, end: 0 });
        let mut len = 0u32;
        self.skip_whitespace();
        if self.peek() == Some(b']') {
            self.at += 1;
        } else {
            loop {
                self.value()?;
                len += 1;
                self.skip_whitespace();
                match self.peek() {
                    Some(b',') => self.at += 1,
                    Some(b']') => {
                        self.at += 1;
                        break;
                    }
                    _ => return Err(self.error("expected `,` or `]`")),
                }
            }
        }
        let end = self.tape.end();
        self.tape.set(header, Entry::Array { len, end });
        self.depth -= 1;
        Ok(())
    }

    #[inline(never)]
    fn object(&mut self) -> Result<(), ParseError> {
        self.enter()?;
        let header = self.tape.push(Entry::Object { len: 0, end: 0 });
        let mut keys = Keys::default();
        let mut len = 0u32;
        self.skip_whitespace();
        if self.peek() == Some(b'}') {
            self.at += 1;
        } else {
            loop {
                self.skip_whitespace();
                if self.peek() != Some(b'"') {
                    return Err(self.error("expected a key"));
                }
                self.string()?;
                let at = self.tape.end() - 1;
                if self.refuse_repeats && keys.repeats(self.tape, at) {
                    return Err(self.repeated(at));
                }
                self.skip_whitespace();
                if self.peek() != Some(b':') {
                    return Err(self.error("expected `:`"));
                }
                self.at += 1;
                self.value()?;
                len += 1;
                self.skip_whitespace();
                match self.peek() {
                    Some(b',') => self.at += 1,
                    Some(b'}') => {
                        self.at += 1;
                        break;
                    }
                    _ => return Err(self.error("expected `,` or `}`")),
                }
            }
        }
        let end = self.tape.end();
        self.tape.set(header, Entry::Object { len, end });
        self.depth -= 1;
        Ok(())
    }

    /// Appends the string that starts at the quote under the cursor.
    #[inline]
    fn string(&mut self) -> Result<(), ParseError> {
        let start = self.at + 1;
        self.at = scan_string(self.bytes, start);
        match self.peek() {
            Some(b'"') => {
                let text = &self.text[start..self.at];
                self.at += 1;
                self.tape.push(Entry::Str(text));
                Ok(())
            }
            Some(b'\\') => self.escaped_string(start),
            Some(_) => Err(self.error("control character in a string")),
            None => Err(self.error("end of data in a string")),
        }
    }

    /// The rest of a string from the first backslash, unescaped into a copy.
    #[cold]
    fn escaped_string(&mut self, start: usize) -> Result<(), ParseError> {
        let mut text = String::with_capacity(self.at - start + 16);
        let mut from = start;
        loop {
            self.at = scan_string(self.bytes, self.at);
            text.push_str(&self.text[from..self.at]);
            match self.peek() {
                Some(b'"') => {
                    self.at += 1;
                    let entry = self.tape.unescaped(text);
                    self.tape.push(entry);
                    return Ok(());
                }
                Some(b'\\') => {
                    self.at += 1;
                    self.escape(&mut text)?;
                    from = self.at;
                }
                Some(_) => return Err(self.error("control character in a string")),
                None => return Err(self.error("end of data in a string")),
            }
        }
    }

    /// One escape after its backslash.
    fn escape(&mut self, text: &mut String) -> Result<(), ParseError> {
        let c = match self.peek() {
            Some(b'"') => '"',
            Some(b'\\') => '\\',
            Some(b'/') => '/',
            Some(b'b') => '\u{8}',
            Some(b'f') => '\u{c}',
            Some(b'n') => '\n',
            Some(b'r') => '\r',
            Some(b't') => '\t',
            Some(b'u') => {
                self.at += 1;
                let unit = self.hex4()?;
                let c = match unit {
                    0xD800..=0xDBFF => {
                        if !self.bytes[self.at..].starts_with(b"\\u") {
                            return Err(self.error("lone leading surrogate in a string"));
                        }
                        self.at += 2;
                        let low = self.hex4()?;
                        if !(0xDC00..=0xDFFF).contains(&low) {
                            return Err(self.error("lone leading surrogate in a string"));
                        }
                        char::from_u32(0x10000 + ((u32::from(unit) - 0xD800) << 10) + (u32::from(low) - 0xDC00))
                    }
                    0xDC00..=0xDFFF => return Err(self.error("lone trailing surrogate in a string")),
                    _ => char::from_u32(u32::from(unit)),
                };
                text.push(c.ok_or_else(|| self.error("invalid escape"))?);
                return Ok(());
            }
            _ => return Err(self.error("invalid escape")),
        };
        self.at += 1;
        text.push(c);
        Ok(())
    }

    fn hex4(&mut self) -> Result<u16, ParseError> {
        let digits = self
            .bytes
            .get(self.at..self.at + 4)
            .ok_or_else(|| self.error("end of data in an escape"))?;
        let mut unit = 0u16;
        for &d in digits {
            let v = (d as char).to_digit(16).ok_or_else(|| self.error("invalid escape"))?;
            unit = unit * 16 + v as u16;
        }
        self.at += 4;
        Ok(unit)
    }

    /// Appends the number under the cursor, checked against JSON's grammar, read as serde_json
    /// reads it.
    fn number(&mut self) -> Result<(), ParseError> {
        let number = self.number_value()?;
        self.tape.push(Entry::Number(number));
        Ok(())
    }

    fn number_value(&mut self) -> Result<Num, ParseError> {
        let start = self.at;
        let negative = self.peek() == Some(b'-');
        if negative {
            self.at += 1;
        }
        let digits_start = self.at;
        match self.peek() {
            Some(b'0') => self.at += 1,
            Some(b'1'..=b'9') => self.skip_digits(),
            _ => return Err(self.error("invalid number")),
        }
        if let Some(b'0'..=b'9') = self.peek() {
            return Err(self.error("invalid number"));
        }
        let integer_end = self.at;
        let mut fractional = false;
        if self.peek() == Some(b'.') {
            self.at += 1;
            self.require_digits()?;
            fractional = true;
        }
        if let Some(b'e' | b'E') = self.peek() {
            self.at += 1;
            if let Some(b'+' | b'-') = self.peek() {
                self.at += 1;
            }
            self.require_digits()?;
            fractional = true;
        }
        if !fractional && let Some(n) = integer(&self.bytes[digits_start..integer_end], negative) {
            return Ok(n);
        }
        let float: f64 = self.text[start..self.at]
            .parse()
            .map_err(|_| self.error("invalid number"))?;
        if float.is_finite() {
            Ok(Num::F64(float))
        } else {
            Err(self.error("number out of range"))
        }
    }

    fn skip_digits(&mut self) {
        while let Some(b'0'..=b'9') = self.peek() {
            self.at += 1;
        }
    }

    fn require_digits(&mut self) -> Result<(), ParseError> {
        if !matches!(self.peek(), Some(b'0'..=b'9')) {
            return Err(self.error("invalid number"));
        }
        self.skip_digits();
        Ok(())
    }
}

/// Where the first byte from `at` that ends a plain stretch of string is (a quote, a backslash or
/// a control character), or the end: eight bytes at a time, then one by one.
#[inline]
fn scan_string(bytes: &[u8], mut at: usize) -> usize {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    // A high bit set in each byte that is zero; the lowest one is exact.
    let zero = |x: u64| x.wrapping_sub(ONES) & !x & HIGH;
    while let Some(chunk) = bytes.get(at..at + 8) {
        let Ok(chunk) = <[u8; 8]>::try_from(chunk) else { break };
        let word = u64::from_le_bytes(chunk);
        let quote = zero(word ^ (ONES * u64::from(b'"')));
        let backslash = zero(word ^ (ONES * u64::from(b'\\')));
        let control = word.wrapping_sub(ONES * 0x20) & !word & HIGH;
        let stops = quote | backslash | control;
        if stops != 0 {
            return at + (stops.trailing_zeros() / 8) as usize;
        }
        at += 8;
    }
    while at < bytes.len() && !STRING_STOP[bytes[at] as usize] {
        at += 1;
    }
    at
}

/// An integer written without fraction or exponent, as serde_json keeps it: a `u64`, or an `i64`
/// when negative; `None` when it must be a float (past 64 bits, or `-0`).
fn integer(digits: &[u8], negative: bool) -> Option<Num> {
    let mut value = 0u64;
    for &d in digits {
        value = value.checked_mul(10)?.checked_add(u64::from(d - b'0'))?;
    }
    if !negative {
        return Some(Num::U64(value));
    }
    // serde_json: `-0` and values below i64::MIN become floats.
    let negated = (value as i64).wrapping_neg();
    (negated < 0).then_some(Num::I64(negated))
}

/// The keys of one object seen so far, by their places on the tape, to find a repeated one.
#[derive(Default)]
struct Keys {
    first: [u32; PAIRWISE_KEYS],
    count: usize,
    /// One bit per (length, first byte, last byte) class among the first keys.
    filter: u64,
    /// Every key's text once there are more than [`PAIRWISE_KEYS`].
    many: Option<HashSet<String>>,
}

impl Keys {
    /// Whether the key at `at` was seen before in this object; remembers it.
    #[inline]
    fn repeats(&mut self, tape: &Tape<'_>, at: u32) -> bool {
        let text = tape.text_at(at);
        if self.count < PAIRWISE_KEYS {
            let b = text.as_bytes();
            let class = b.len() * 7
                + usize::from(b.first().copied().unwrap_or(0)) * 3
                + usize::from(b.last().copied().unwrap_or(0));
            let bit = 1u64 << (class & 63);
            let seen = self.filter & bit != 0 && self.first[..self.count].iter().any(|&k| tape.text_at(k) == text);
            self.filter |= bit;
            self.first[self.count] = at;
            self.count += 1;
            return seen;
        }
        let many = self
            .many
            .get_or_insert_with(|| self.first.iter().map(|&k| tape.text_at(k).to_owned()).collect());
        self.count += 1;
        !many.insert(text.to_owned())
    }
}

#[cfg(test)]
mod tests {
    use serde_json::Value;

    use super::super::tape::{Kind, Val};
    use super::*;
    use crate::avro::sample::SplitMix64;

    fn parsed(text: &[u8]) -> Result<Value, String> {
        let mut tape = Tape::default();
        parse(&mut tape, text).map_err(|e| String::from(e.0))?;
        Ok(tape.root().to_value())
    }

    /// Exactly serde_json's `Value`: numbers compare by representation (`1` and `1.0` differ).
    fn assert_same_as_serde(text: &[u8]) {
        let ours = parsed(text);
        let theirs: Result<Value, _> = serde_json::from_slice(text);
        match (&ours, &theirs) {
            (Ok(a), Ok(b)) => assert_eq!(a, b, "{}", String::from_utf8_lossy(text)),
            (Err(_), Err(_)) => {}
            _ => panic!(
                "{}: ours {ours:?}, serde_json {theirs:?}",
                String::from_utf8_lossy(text)
            ),
        }
    }

    #[test]
    fn values_read_as_serde_json_reads_them() {
        for text in [
            "null",
            "true",
            "false",
            "0",
            "-0",
            "-0.0",
            "1",
            "-1",
            "1.5",
            "1e2",
            "1E+2",
            "1e-2",
            "-1.5e-300",
            "18446744073709551615",
            "18446744073709551616",
            "-9223372036854775808",
            "-9223372036854775809",
            "123456789012345678901234567890",
            "0.1",
            "2.2250738585072014e-308",
            "4.9e-324",
            "1e-400",
            "1.7976931348623157e308",
            "1e400",
            "-1e400",
            "01",
            "-",
            "1.",
            ".5",
            "+1",
            "1e",
            "1e+",
            "--1",
            r#""a\"b\\c\/\b\f\n\r\t\u00e9\ud83d\ude00""#,
            r#""\ud800""#,
            r#""\udc00""#,
            r#""\ud800\u0041""#,
            r#""\u12""#,
            r#""\x""#,
            "\"a\u{1}b\"",
            "\"tab\tin\"",
            "\"é😀\"",
            r#"{"a": [1, {"b": null, "c": []}, "x"], "d": {}, "e\u0000": "f"}"#,
            " [ [ [] ] , {} ] ",
            "[1,]",
            "[,1]",
            "{\"a\" 1}",
            "{\"a\":1,}",
            "{1:2}",
            "{} {}",
            "{} ",
            "\n{}\t",
            "",
            " ",
            "nul",
            "truex",
            "[1 2]",
            "\u{feff}{}",
        ] {
            assert_same_as_serde(text.as_bytes());
        }
        assert_same_as_serde(b"\"\xff\"");
        assert_same_as_serde(b"\xc3\x28");
    }

    #[test]
    fn random_documents_read_as_serde_json_reads_them() {
        let mut rng = SplitMix64::new(3);
        let pieces = [
            "{",
            "}",
            "[",
            "]",
            ",",
            ":",
            " ",
            "\"k\"",
            "\"a\\n\"",
            "\"\\u00e9\"",
            "0",
            "-1",
            "2.5",
            "1e3",
            "true",
            "null",
            "\"",
            "\\",
            "-0",
            "99999999999999999999",
        ];
        for _ in 0..20_000 {
            let n = rng.below(12) as usize + 1;
            let text: String = (0..n)
                .map(|_| pieces[rng.below(pieces.len() as u64) as usize])
                .collect();
            assert_same_as_serde(text.as_bytes());
        }
        for _ in 0..2_000 {
            let value = random_value(&mut rng, 0);
            assert_same_as_serde(value.to_string().as_bytes());
        }
    }

    fn random_value(rng: &mut SplitMix64, depth: usize) -> Value {
        match rng.below(if depth > 4 { 6 } else { 8 }) {
            0 => Value::Null,
            1 => Value::Bool(rng.below(2) == 0),
            2 => Value::from(rng.next_u64()),
            3 => Value::from(-(rng.below(1 << 62) as i64)),
            4 => Value::from(f64::from_bits(
                rng.next_u64() & !(0x7ff << 52) | (rng.below(0x7fe) << 52),
            )),
            5 => Value::String(
                (0..rng.below(6))
                    .map(|_| char::from_u32(rng.below(0x11_0000) as u32).unwrap_or('x'))
                    .collect(),
            ),
            6 => Value::Array((0..rng.below(4)).map(|_| random_value(rng, depth + 1)).collect()),
            _ => Value::Object(
                (0..rng.below(4))
                    .map(|i| (format!("k{i}"), random_value(rng, depth + 1)))
                    .collect(),
            ),
        }
    }

    #[test]
    fn the_string_scan_stops_at_the_first_quote_backslash_or_control_character() {
        for text in ["", "a", "abcdefgh", "abcdefghijklmnop", "é😀ü", "\u{7f}\u{80}\u{ff}"] {
            for stop in ["\"", "\\", "\u{0}", "\u{1f}"] {
                for pad in 0..10 {
                    let s = format!("{}{text}{stop}xyz\"", "p".repeat(pad));
                    assert_eq!(scan_string(s.as_bytes(), 0), pad + text.len(), "{s:?}");
                }
            }
            assert_eq!(scan_string(text.as_bytes(), 0), text.len());
        }
    }

    #[test]
    fn nesting_is_bounded_as_serde_jsons() {
        for depth in [126, 127, 128, 129] {
            let text = format!("{}{}", "[".repeat(depth), "]".repeat(depth));
            assert_same_as_serde(text.as_bytes());
            let text = format!("{}1{}", "{\"a\":".repeat(depth), "}".repeat(depth));
            assert_same_as_serde(text.as_bytes());
        }
        assert!(parsed("[".repeat(100_000).as_bytes()).is_err());
    }

    #[test]
    fn a_repeated_key_is_refused_unless_parsing_again() {
        assert!(
            parsed(br#"{"a":1,"b":{"a":2},"a":3}"#)
                .unwrap_err()
                .contains("repeated key \"a\"")
        );
        assert!(
            parsed(br#"{"\u0061":1,"a":2}"#).is_err(),
            "escaped and plain spellings are one key"
        );
        let many: Vec<String> = (0..40).map(|i| format!("\"k{}\":{i}", i % 39)).collect();
        let text = format!("{{{}}}", many.join(","));
        assert!(parsed(text.as_bytes()).unwrap_err().contains("repeated key \"k0\""));
        let distinct: Vec<String> = (0..40).map(|i| format!("\"k{i}\":{i}")).collect();
        assert!(parsed(format!("{{{}}}", distinct.join(",")).as_bytes()).is_ok());
        let mut tape = Tape::default();
        parse_again(&mut tape, br#"{"a":1,"a":2}"#).expect("not checked again");
    }

    #[test]
    fn values_are_skipped_whole_and_written_back_as_serde_json_writes_them() {
        let text = br#"{"a": {"x": [1, [2, 3]], "y": {}}, "b": [[], {"z": 1}], "c": 4, "d\n": "\u0001\"\\/\u00e9"}"#;
        let mut tape = Tape::default();
        parse(&mut tape, text).unwrap();
        let Kind::Object(members) = tape.root().kind() else {
            panic!("object")
        };
        let keys: Vec<&str> = members.map(|(k, _)| k).collect();
        assert_eq!(keys, ["a", "b", "c", "d\n"]);
        let c: Val<'_> = members.map(|(_, v)| v).nth(2).unwrap();
        assert!(matches!(c.kind(), Kind::Number(Num::U64(4))));
        let mut written = String::new();
        tape.root().write_json(&mut written).unwrap();
        let value: Value = serde_json::from_slice(text).unwrap();
        assert_eq!(written, value.to_string());
    }
}
