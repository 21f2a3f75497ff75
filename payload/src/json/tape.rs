//! A JSON datum parsed into a flat tape: one vector of entries, strings borrowed from the datum
//! (copied only when they hold escapes), read by the validator ([`super::repr`]), the check and the
//! conversion through [`Val`], a value's place on the tape. [`super::parse`] writes it.
//!
//! Layout: a scalar is one entry; an array is its header then its items; an object is its header
//! then, per member, the key's entry then the value's entries. A header knows its length and where
//! its entries end, so that a value is skipped in one step.

use std::fmt;

/// A number as serde_json reads it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum Num {
    U64(u64),
    I64(i64),
    F64(f64),
}

impl Num {
    pub fn as_f64(self) -> f64 {
        match self {
            Num::U64(u) => u as f64,
            Num::I64(i) => i as f64,
            Num::F64(f) => f,
        }
    }

    /// As serde_json's number (the float is finite: serde_json parses no other).
    pub fn to_number(self) -> serde_json::Number {
        match self {
            Num::U64(u) => u.into(),
            Num::I64(i) => i.into(),
            Num::F64(f) => serde_json::Number::from_f64(f).unwrap_or_else(|| 0.into()),
        }
    }
}

/// One entry of a tape.
#[derive(Debug, Clone, Copy)]
pub(super) enum Entry<'d> {
    Null,
    Bool(bool),
    Number(Num),
    /// A string (or key) without escapes, in the datum.
    Str(&'d str),
    /// A string (or key) with escapes: its index in [`Tape::unescaped`].
    Unescaped(u32),
    Array {
        len: u32,
        end: u32,
    },
    Object {
        len: u32,
        end: u32,
    },
}

/// A parsed datum.
#[derive(Debug, Default)]
pub(super) struct Tape<'d> {
    entries: Vec<Entry<'d>>,
    unescaped: Vec<String>,
}

impl<'d> Tape<'d> {
    /// An empty tape with room for `entries`.
    pub fn with_capacity(entries: usize) -> Self {
        Tape {
            entries: Vec::with_capacity(entries),
            unescaped: Vec::new(),
        }
    }

    /// A string containing just `text`, for a value that is not in a datum.
    pub fn of_string(text: &str) -> Tape<'static> {
        Tape {
            entries: vec![Entry::Unescaped(0)],
            unescaped: vec![text.to_owned()],
        }
    }

    /// The value the datum holds.
    pub fn root(&self) -> Val<'_> {
        Val { tape: self, at: 0 }
    }

    /// Empties the tape, keeping its room.
    pub fn clear(&mut self) {
        self.entries.clear();
        self.unescaped.clear();
    }

    /// Appends an entry, returning its place.
    #[inline]
    pub fn push(&mut self, entry: Entry<'d>) -> u32 {
        self.entries.push(entry);
        // A datum is at most 8 MiB and every entry takes at least one byte of it.
        (self.entries.len() - 1) as u32
    }

    /// Replaces the entry at `at` (a container's header, once its length and end are known).
    pub fn set(&mut self, at: u32, entry: Entry<'d>) {
        self.entries[at as usize] = entry;
    }

    /// Keeps an unescaped string, returning its entry.
    pub fn unescaped(&mut self, text: String) -> Entry<'d> {
        self.unescaped.push(text);
        Entry::Unescaped((self.unescaped.len() - 1) as u32)
    }

    /// Where the next entry goes.
    pub fn end(&self) -> u32 {
        self.entries.len() as u32
    }

    /// The text of the string entry at `at` (`""` for any other).
    #[inline]
    pub fn text_at(&self, at: u32) -> &str {
        self.text(self.entries[at as usize])
    }

    /// The text of a string entry (`""` for any other).
    #[inline]
    pub fn text(&self, entry: Entry<'d>) -> &str {
        match entry {
            Entry::Str(s) => s,
            Entry::Unescaped(i) => &self.unescaped[i as usize],
            _ => "",
        }
    }
}

/// A value on a tape.
#[derive(Debug, Clone, Copy)]
pub(super) struct Val<'a> {
    tape: &'a Tape<'a>,
    at: u32,
}

/// What a value is, with its contents.
#[derive(Debug, Clone, Copy)]
pub(super) enum Kind<'a> {
    Null,
    Bool(bool),
    Number(Num),
    String(&'a str),
    Array(Items<'a>),
    Object(Members<'a>),
}

impl<'a> Val<'a> {
    #[inline]
    pub fn kind(self) -> Kind<'a> {
        match self.tape.entries[self.at as usize] {
            Entry::Null => Kind::Null,
            Entry::Bool(b) => Kind::Bool(b),
            Entry::Number(n) => Kind::Number(n),
            Entry::Str(s) => Kind::String(s),
            Entry::Unescaped(i) => Kind::String(&self.tape.unescaped[i as usize]),
            Entry::Array { len, .. } => Kind::Array(Items {
                tape: self.tape,
                next: self.at + 1,
                left: len,
            }),
            Entry::Object { len, .. } => Kind::Object(Members {
                tape: self.tape,
                next: self.at + 1,
                left: len,
            }),
        }
    }

    pub fn is_null(self) -> bool {
        matches!(self.tape.entries[self.at as usize], Entry::Null)
    }

    /// Where the value's entries end: the next value's place.
    #[inline]
    fn end(self) -> u32 {
        match self.tape.entries[self.at as usize] {
            Entry::Array { end, .. } | Entry::Object { end, .. } => end,
            _ => self.at + 1,
        }
    }

    /// Tells this value from others of the same tape.
    pub fn address(self) -> (usize, u32) {
        (std::ptr::from_ref(self.tape) as usize, self.at)
    }

    /// Writes the value as compact JSON, as serde_json writes a `Value`.
    pub fn write_json(self, out: &mut impl fmt::Write) -> fmt::Result {
        match self.kind() {
            Kind::Null => out.write_str("null"),
            Kind::Bool(b) => out.write_str(if b { "true" } else { "false" }),
            Kind::Number(n) => write!(out, "{}", n.to_number()),
            Kind::String(s) => write_json_string(s, out),
            Kind::Array(items) => {
                out.write_char('[')?;
                for (i, item) in items.enumerate() {
                    if i > 0 {
                        out.write_char(',')?;
                    }
                    item.write_json(out)?;
                }
                out.write_char(']')
            }
            Kind::Object(members) => {
                out.write_char('{')?;
                for (i, (key, value)) in members.enumerate() {
                    if i > 0 {
                        out.write_char(',')?;
                    }
                    write_json_string(key, out)?;
                    out.write_char(':')?;
                    value.write_json(out)?;
                }
                out.write_char('}')
            }
        }
    }

    /// The value as a `serde_json::Value`: for cold paths (error messages, tests).
    pub fn to_value(self) -> serde_json::Value {
        use serde_json::Value;
        match self.kind() {
            Kind::Null => Value::Null,
            Kind::Bool(b) => Value::Bool(b),
            Kind::Number(n) => Value::Number(n.to_number()),
            Kind::String(s) => Value::String(s.to_owned()),
            Kind::Array(items) => Value::Array(items.map(Val::to_value).collect()),
            Kind::Object(members) => Value::Object(members.map(|(k, v)| (k.to_owned(), v.to_value())).collect()),
        }
    }
}

/// Writes `s` as a JSON string, escaped as serde_json escapes it.
pub(super) fn write_json_string(s: &str, out: &mut impl fmt::Write) -> fmt::Result {
    out.write_char('"')?;
    let mut start = 0;
    for (i, byte) in s.bytes().enumerate() {
        let escape = match byte {
            b'"' => "\\\"",
            b'\\' => "\\\\",
            b'\n' => "\\n",
            b'\r' => "\\r",
            b'\t' => "\\t",
            0x08 => "\\b",
            0x0c => "\\f",
            0x00..=0x1f => "",
            _ => continue,
        };
        out.write_str(&s[start..i])?;
        if escape.is_empty() {
            write!(out, "\\u{byte:04x}")?;
        } else {
            out.write_str(escape)?;
        }
        start = i + 1;
    }
    out.write_str(&s[start..])?;
    out.write_char('"')
}

/// An array's items.
#[derive(Debug, Clone, Copy)]
pub(super) struct Items<'a> {
    tape: &'a Tape<'a>,
    next: u32,
    left: u32,
}

impl<'a> Iterator for Items<'a> {
    type Item = Val<'a>;

    #[inline]
    fn next(&mut self) -> Option<Val<'a>> {
        if self.left == 0 {
            return None;
        }
        self.left -= 1;
        let item = Val {
            tape: self.tape,
            at: self.next,
        };
        self.next = item.end();
        Some(item)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.left as usize, Some(self.left as usize))
    }
}

impl ExactSizeIterator for Items<'_> {}

/// An object's members: key and value.
#[derive(Debug, Clone, Copy)]
pub(super) struct Members<'a> {
    tape: &'a Tape<'a>,
    next: u32,
    left: u32,
}

impl<'a> Iterator for Members<'a> {
    type Item = (&'a str, Val<'a>);

    #[inline]
    fn next(&mut self) -> Option<(&'a str, Val<'a>)> {
        if self.left == 0 {
            return None;
        }
        self.left -= 1;
        // Keys are strings: the parser writes nothing else there.
        let key = self.tape.text(self.tape.entries[self.next as usize]);
        let value = Val {
            tape: self.tape,
            at: self.next + 1,
        };
        self.next = value.end();
        Some((key, value))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.left as usize, Some(self.left as usize))
    }
}

impl ExactSizeIterator for Members<'_> {}
