//! Compiling a registered file and its references in memory with protox: each text is `.proto`
//! source or the base64 of a serialized `FileDescriptorProto`, told apart by trying the source first.

use std::collections::HashMap;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use prost::Message;
use prost_reflect::FileDescriptor;
use prost_types::field_descriptor_proto::{Label, Type};
use prost_types::{DescriptorProto, FileDescriptorProto};
use protox::file::{File, FileResolver, GoogleFileResolver};

use super::SchemaError;
use crate::schema::Referenced;

/// The name the registered file gets, as in Confluent's registry, unless a reference uses it.
const ROOT_NAME: &str = "default";

/// Deepest nesting of `{`, `[` and `<` accepted in `.proto` text. protox stops messages at 31
/// levels, but option values in text format are parsed recursively without a limit.
const MAX_NESTING: usize = 64;

/// What the registered text was.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Origin {
    /// `.proto` source.
    Source,
    /// The base64 of a serialized `FileDescriptorProto`.
    Descriptor,
}

/// Compiles `text` (the registered file) with `referenced` (its imports, by import path) and
/// returns the registered file, in a pool that holds it and everything it imports, and what the
/// text was.
pub(super) fn compile(text: &str, referenced: &[Referenced]) -> Result<(FileDescriptor, Origin), SchemaError> {
    // Source locations cost about as much as linking; they are only needed to say where an error
    // is, so the file is compiled without them first, and again with them if that fails.
    compile_with(text, referenced, Locations::Dropped).or_else(|_| compile_with(text, referenced, Locations::Kept))
}

/// Whether source locations are kept in the descriptors of `.proto` source.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Locations {
    Kept,
    Dropped,
}

fn compile_with(
    text: &str,
    referenced: &[Referenced],
    locations: Locations,
) -> Result<(FileDescriptor, Origin), SchemaError> {
    let root_name = root_name(referenced);
    let (root, origin) = open(&root_name, text, locations).map_err(invalid)?;
    let resolver = Resolver {
        root_name: root_name.clone(),
        root,
        referenced: referenced.iter().map(|r| (r.name.clone(), r.text.clone())).collect(),
        locations,
        google: GoogleFileResolver::new(),
    };
    let mut compiler = protox::Compiler::with_file_resolver(resolver);
    compiler.open_file(&root_name).map_err(invalid)?;
    let file = compiler
        .descriptor_pool()
        .get_file_by_name(&root_name)
        .ok_or_else(|| SchemaError::InvalidProtobuf(format!("file {root_name:?} is missing after compiling it")))?;
    Ok((file, origin))
}

/// `"default"`, or a variant of it that no reference is named.
fn root_name(referenced: &[Referenced]) -> String {
    let taken = |name: &str| referenced.iter().any(|r| r.name == name);
    let mut name = ROOT_NAME.to_string();
    let mut n = 0u32;
    while taken(&name) {
        n += 1;
        name = format!("{ROOT_NAME}_{n}");
    }
    name
}

/// protox's message with its location (`file:line:column: message`, where it has one).
fn invalid(error: protox::Error) -> SchemaError {
    SchemaError::InvalidProtobuf(format!("{error:?}"))
}

/// Serves the registered file, the referenced files, then Google's well-known files.
struct Resolver {
    root_name: String,
    root: File,
    referenced: HashMap<String, String>,
    locations: Locations,
    google: GoogleFileResolver,
}

impl FileResolver for Resolver {
    fn open_file(&self, name: &str) -> Result<File, protox::Error> {
        if name == self.root_name {
            return Ok(self.root.clone());
        }
        match self.referenced.get(name) {
            Some(text) => open(name, text, self.locations).map(|(file, _)| file),
            None => self.google.open_file(name),
        }
    }
}

/// Reads one file: `.proto` source, else the base64 of a `FileDescriptorProto`. When neither
/// reads, the source's error is the one reported.
fn open(name: &str, text: &str, locations: Locations) -> Result<(File, Origin), protox::Error> {
    check_nesting(name, text)?;
    let (file, origin) = match locations {
        Locations::Kept => match File::from_source(name, text) {
            Ok(file) => (file, Origin::Source),
            Err(source_error) => descriptor_or(name, text, source_error)?,
        },
        Locations::Dropped => match protox_parse::parse(name, text) {
            Ok(mut proto) => {
                proto.source_code_info = None;
                (File::from_file_descriptor_proto(proto), Origin::Source)
            }
            Err(e) => descriptor_or(name, text, protox::Error::from(e))?,
        },
    };
    let proto = file.file_descriptor_proto();
    for message in &proto.message_type {
        check_map_entries(name, message)?;
    }
    check_bytes_defaults(name, proto)?;
    Ok((file, origin))
}

/// The file `text` is as a serialized descriptor, else `source_error`.
fn descriptor_or(name: &str, text: &str, source_error: protox::Error) -> Result<(File, Origin), protox::Error> {
    match decode_descriptor(name, text) {
        Some(file) => Ok((file?, Origin::Descriptor)),
        None => Err(source_error),
    }
}

/// Refuses a bytes field whose default is not a C-escaped ASCII literal, as protoc writes them:
/// prost-reflect 0.16.5 reads `\777` by overflowing a byte and slices `\x` escapes by bytes.
fn check_bytes_defaults(file: &str, proto: &FileDescriptorProto) -> Result<(), protox::Error> {
    fn fields<'a>(message: &'a DescriptorProto, out: &mut Vec<&'a prost_types::FieldDescriptorProto>) {
        out.extend(message.field.iter().chain(&message.extension));
        for nested in &message.nested_type {
            fields(nested, out);
        }
    }
    let mut all: Vec<&prost_types::FieldDescriptorProto> = proto.extension.iter().collect();
    for message in &proto.message_type {
        fields(message, &mut all);
    }
    for field in all {
        if let (Type::Bytes, Some(default)) = (field.r#type(), &field.default_value)
            && (!default.is_ascii() || super::values::unescape(default).is_err())
        {
            return Err(refused(format!(
                "{file}: field {}: default {default:?} is not a valid bytes literal",
                field.name()
            )));
        }
    }
    Ok(())
}

/// Refuses `option map_entry` written by hand (protoc refuses it too) and map entries without a
/// key field 1 and a value field 2: protox and prost-reflect take them as they are, and reading
/// such a map's key or value would panic.
fn check_map_entries(file: &str, message: &DescriptorProto) -> Result<(), protox::Error> {
    let options = message.options.as_ref();
    let written = options.is_some_and(|o| {
        o.uninterpreted_option
            .iter()
            .any(|u| u.name.iter().any(|part| part.name_part == "map_entry"))
    });
    if written {
        return Err(refused(format!(
            "{file}: message {}: map_entry is not set by hand; declare a map<K, V> field",
            message.name()
        )));
    }
    if options.is_some_and(|o| o.map_entry()) {
        let has = |number: i32| {
            message
                .field
                .iter()
                .any(|f| f.number() == number && f.label() == Label::Optional && f.oneof_index.is_none())
        };
        if message.field.len() != 2 || !has(1) || !has(2) {
            return Err(refused(format!(
                "{file}: map entry {} must have a key field 1 and a value field 2, and nothing else",
                message.name()
            )));
        }
    }
    for nested in &message.nested_type {
        check_map_entries(file, nested)?;
    }
    Ok(())
}

/// An error of ours inside a protox error, printed as is.
#[derive(thiserror::Error)]
#[error("{0}")]
struct Refused(String);

impl std::fmt::Debug for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

fn refused(message: String) -> protox::Error {
    protox::Error::new(Refused(message))
}

/// The file a base64 `FileDescriptorProto` describes, renamed to `name`; `None` when `text` is not
/// one (not base64, not a descriptor, or a descriptor with neither a name nor a declaration).
fn decode_descriptor(name: &str, text: &str) -> Option<Result<File, protox::Error>> {
    let bytes = STANDARD.decode(text.trim()).ok()?;
    let proto = FileDescriptorProto::decode(bytes.as_slice()).ok()?;
    let declares_something = proto.name.is_some()
        || proto.package.is_some()
        || proto.syntax.is_some()
        || !proto.dependency.is_empty()
        || !proto.message_type.is_empty()
        || !proto.enum_type.is_empty()
        || !proto.service.is_empty()
        || !proto.extension.is_empty();
    if !declares_something {
        return None;
    }
    if let Some(syntax) = proto.syntax.as_deref()
        && !matches!(syntax, "" | "proto2" | "proto3")
    {
        return Some(Err(refused(format!(
            "{name}: syntax {syntax:?} is not supported (proto2 and proto3 are)"
        ))));
    }
    // The name a client gave the file is its own; the last value of a field wins when decoding,
    // so appending a name renames the file and keeps every other byte (custom options included).
    let mut renamed = bytes;
    prost::encoding::string::encode(1, &name.to_string(), &mut renamed);
    if has_uninterpreted_options(&proto) {
        // protoc resolves options when it compiles; raw ones would be parsed here without a
        // nesting limit.
        return Some(Err(refused(format!(
            "{name}: the descriptor has uninterpreted options; send it as protoc compiles it"
        ))));
    }
    if proto.syntax.as_deref() == Some("") {
        // An empty syntax means proto2, but prost-reflect panics on it (0.16.5).
        prost::encoding::string::encode(12, &"proto2".to_string(), &mut renamed);
    }
    Some(
        File::decode_file_descriptor_proto(renamed.as_slice())
            .map_err(|e| refused(format!("{name}: not a serialized FileDescriptorProto: {e}"))),
    )
}

/// Whether any options in `file` are left uninterpreted.
fn has_uninterpreted_options(file: &FileDescriptorProto) -> bool {
    fn any<T>(options: &Option<T>, uninterpreted: impl Fn(&T) -> usize) -> bool {
        options.as_ref().is_some_and(|o| uninterpreted(o) > 0)
    }
    fn field(f: &prost_types::FieldDescriptorProto) -> bool {
        any(&f.options, |o| o.uninterpreted_option.len())
    }
    fn enumeration(e: &prost_types::EnumDescriptorProto) -> bool {
        any(&e.options, |o| o.uninterpreted_option.len())
            || e.value
                .iter()
                .any(|v| any(&v.options, |o| o.uninterpreted_option.len()))
    }
    fn message(m: &DescriptorProto) -> bool {
        any(&m.options, |o| o.uninterpreted_option.len())
            || m.field.iter().chain(&m.extension).any(field)
            || m.oneof_decl
                .iter()
                .any(|d| any(&d.options, |o| o.uninterpreted_option.len()))
            || m.extension_range
                .iter()
                .any(|r| any(&r.options, |o| o.uninterpreted_option.len()))
            || m.enum_type.iter().any(enumeration)
            || m.nested_type.iter().any(message)
    }
    any(&file.options, |o| o.uninterpreted_option.len())
        || file.message_type.iter().any(message)
        || file.enum_type.iter().any(enumeration)
        || file.extension.iter().any(field)
        || file.service.iter().any(|s| {
            any(&s.options, |o| o.uninterpreted_option.len())
                || s.method
                    .iter()
                    .any(|m| any(&m.options, |o| o.uninterpreted_option.len()))
        })
}

/// Refuses text nested deeper than [`MAX_NESTING`] (outside strings and comments).
fn check_nesting(name: &str, text: &str) -> Result<(), protox::Error> {
    let bytes = text.as_bytes();
    let (mut depth, mut deepest, mut i) = (0usize, 0usize, 0usize);
    while i < bytes.len() {
        match bytes[i] {
            b'"' | b'\'' => i = skip_string(bytes, i),
            b'/' if bytes.get(i + 1) == Some(&b'/') => {
                i = bytes[i..]
                    .iter()
                    .position(|&b| b == b'\n')
                    .map_or(bytes.len(), |p| i + p);
            }
            b'/' if bytes.get(i + 1) == Some(&b'*') => {
                i = bytes[i + 2..]
                    .windows(2)
                    .position(|w| w == b"*/")
                    .map_or(bytes.len(), |p| i + 2 + p + 2);
            }
            b'{' | b'[' | b'<' => {
                depth += 1;
                deepest = deepest.max(depth);
                i += 1;
            }
            b'}' | b']' | b'>' => {
                depth = depth.saturating_sub(1);
                i += 1;
            }
            _ => i += 1,
        }
    }
    if deepest > MAX_NESTING {
        return Err(refused(format!(
            "{name}: nested {deepest} levels deep; at most {MAX_NESTING} are accepted"
        )));
    }
    Ok(())
}

/// The index after the string literal that starts at `start`.
fn skip_string(bytes: &[u8], start: usize) -> usize {
    let quote = bytes[start];
    let mut i = start + 1;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => i += 2,
            b'\n' => return i,
            b if b == quote => return i + 1,
            _ => i += 1,
        }
    }
    bytes.len()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::SchemaType;

    fn reference(name: &str, text: &str) -> Referenced {
        Referenced {
            name: name.to_string(),
            schema_type: SchemaType::Protobuf,
            text: text.to_string(),
        }
    }

    #[test]
    fn the_registered_file_is_named_default_unless_a_reference_is() {
        assert_eq!(root_name(&[]), "default");
        let taken = [reference("default", ""), reference("default_1", "")];
        assert_eq!(root_name(&taken), "default_2");
    }

    #[test]
    fn deep_nesting_is_refused_but_braces_in_strings_and_comments_do_not_count() {
        let deep = format!("{}{}", "{".repeat(65), "}".repeat(65));
        assert!(check_nesting("f", &deep).is_err());
        let quoted = format!(
            "option x = \"{}\"; // {}\n/* {} */",
            "{".repeat(100),
            "[".repeat(100),
            "<".repeat(100)
        );
        assert!(check_nesting("f", &quoted).is_ok());
    }

    #[test]
    fn text_that_is_neither_proto_nor_a_descriptor_reports_the_parser_error() {
        let err = compile("abcd", &[]).unwrap_err().to_string();
        assert!(err.contains("default:1:1"), "{err}");
    }
}
