//! Protobuf schema text: `.proto` source or a serialized descriptor, imports as references, and the
//! identity of a Protobuf schema.
//!
//! A registered schema is one `.proto` file. Clients send it as `.proto` source, or (Confluent's
//! serializers do) as the base64 of its serialized `FileDescriptorProto`; the source is tried
//! first, then the descriptor. The file is compiled in memory with protox: it is named `default`
//! (as Confluent names it), its imports resolve to the referenced schemas by import path
//! ([`Referenced::name`]), whose texts may be either form too, and Google's well-known files
//! (`google/protobuf/timestamp.proto`, ...) resolve without a reference. A file that does not
//! compile is refused with protox's message, `file:line:column: message`.
//!
//! What is stored, served and fingerprinted is the file's *canonical text* (`print.rs`), printed
//! from its descriptor: the same file registered as source or as a descriptor gets the same text,
//! so the same id. The canonical text compiles back to the descriptor it was printed from. A
//! registered descriptor is compiled again from its canonical text to make sure: when it has
//! something `.proto` text cannot say (a NaN option value, a group declared away from its field)
//! the schema is refused rather than stored in a form that would change on reading. Source needs
//! no such second compile (dropping it halved the cost of a registration): it can only say what
//! source says, and the printer's round-trip tests and the `protobuf_schema` fuzz target hold the
//! printer to that.
//!
//! Source is compiled without its source locations, which cost about as much as linking; only a
//! file that fails is compiled again with them, so that the error says where.
//!
//! # Where this differs from Confluent
//! - `edition = "2023"` files are refused: protox 0.10 reads proto2 and proto3 only.
//! - Only Google's `google/protobuf/*.proto` files are built in. Confluent also builds in
//!   `confluent/meta.proto`, `confluent/type/decimal.proto` and `google/type/*.proto`; here those
//!   must be registered and referenced like any other import.
//! - The canonical text is ours (Confluent's printer orders a message's members differently), so
//!   texts served differ in layout from Confluent's while describing the same descriptor.
//! - Options of a serialized descriptor that no imported file defines, and custom options of
//!   extension ranges, cannot be written in `.proto` text and are dropped.
//! - Some descriptors protoc never writes are refused, because protox or prost-reflect would panic
//!   or recurse without bound on them: uninterpreted options, a `map_entry` option set by hand or a
//!   map entry without key 1 and value 2, a bytes default that is not a C-escaped ASCII literal,
//!   names that are not identifiers, and text nested more than 64 levels deep. An empty `syntax`
//!   reads as proto2.
//! - Two files that differ only in the order of their imports get different identities (the
//!   order is part of the descriptor).

mod compile;
mod print;
mod values;

use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use prost::Message;
use prost_reflect::{DynamicMessage, FileDescriptor, MessageDescriptor, ReflectMessage};
use prost_types::{DescriptorProto, EnumDescriptorProto, FileDescriptorProto};

use super::{Parsed, ParsedSchema, Referenced, SchemaError};

/// A compiled `.proto` file, with the files it imports, and its canonical text.
#[derive(Debug, Clone)]
pub struct ProtobufSchema {
    canonical: String,
    file: FileDescriptor,
}

impl PartialEq for ProtobufSchema {
    /// The same canonical text, importing the same files (source locations aside).
    fn eq(&self, other: &Self) -> bool {
        let files = |s: &Self| {
            s.file
                .parent_pool()
                .files()
                .map(|f| FileDescriptorProto {
                    source_code_info: None,
                    ..f.file_descriptor_proto().clone()
                })
                .collect::<Vec<_>>()
        };
        self.canonical == other.canonical && files(self) == files(other)
    }
}

impl ProtobufSchema {
    /// The canonical `.proto` text, as stored and served.
    pub fn canonical(&self) -> &str {
        &self.canonical
    }

    /// The compiled file; its pool holds the files it imports.
    pub fn file(&self) -> &FileDescriptor {
        &self.file
    }

    /// The file's `FileDescriptorProto`, serialized and base64-encoded, as Confluent's
    /// `format=serialized` serves it: named `default`, its `dependency` entries the import paths
    /// (the references' names), without source locations.
    pub fn serialized(&self) -> String {
        const SOURCE_CODE_INFO: u32 = 9;
        let raw = self.file.encode_to_vec();
        // Re-encoding through the dynamic message keeps custom options, which prost's types drop.
        let bytes = match DynamicMessage::decode(FileDescriptorProto::default().descriptor(), raw.as_slice()) {
            Ok(mut message) => {
                message.clear_field_by_number(SOURCE_CODE_INFO);
                message.encode_to_vec()
            }
            Err(_) => FileDescriptorProto {
                source_code_info: None,
                ..self.file.file_descriptor_proto().clone()
            }
            .encode_to_vec(),
        };
        STANDARD.encode(bytes)
    }

    /// The full names of the file's messages in declaration order, each followed by its nested
    /// messages (map entries included: they take a place in Confluent's message indexes).
    pub fn message_names(&self) -> Vec<String> {
        fn walk(message: MessageDescriptor, out: &mut Vec<String>) {
            out.push(message.full_name().to_string());
            for nested in message.child_messages() {
                walk(nested, out);
            }
        }
        let mut out = Vec::new();
        for message in self.file.messages() {
            walk(message, &mut out);
        }
        out
    }

    /// Whether a top-level message has a field named `name` outside a oneof (what Confluent's
    /// reserved-field validation checks).
    pub fn has_top_level_field(&self, name: &str) -> bool {
        self.file.messages().any(|m| {
            m.fields()
                .any(|f| f.name() == name && f.containing_oneof().is_none_or(|o| o.is_synthetic()))
        })
    }
}

pub(super) fn normalize(text: &str, referenced: &[Referenced]) -> Result<Parsed, SchemaError> {
    let schema = parse_stored(text, referenced)?;
    let text = schema.canonical.clone();
    Ok(Parsed {
        schema: ParsedSchema::Protobuf(Arc::new(schema)),
        identity: text.clone(),
        text,
    })
}

/// Parses stored Protobuf text (with its referenced schemas) for compatibility checks. Accepts
/// what [`normalize`](super::normalize) accepts: source or a serialized descriptor.
pub fn parse_stored(text: &str, referenced: &[Referenced]) -> Result<ProtobufSchema, SchemaError> {
    let (file, origin) = compile::compile(text, referenced)?;
    check_names(&file)?;
    let canonical = print::print(&file).map_err(unprintable)?;
    // Source prints back to what it says (the printer's tests and the fuzz target hold it to that),
    // so only a descriptor, which may say what source cannot, is compiled again from its text.
    if canonical == text || origin == compile::Origin::Source {
        return Ok(ProtobufSchema { canonical, file });
    }
    let (file, _) = compile::compile(&canonical, referenced).map_err(|e| unprintable(e.to_string()))?;
    let again = print::print(&file).map_err(unprintable)?;
    if again != canonical {
        return Err(unprintable(format!(
            "its canonical text changes when read again:\n{canonical}\n---\n{again}"
        )));
    }
    Ok(ProtobufSchema { canonical, file })
}

fn unprintable(reason: String) -> SchemaError {
    SchemaError::InvalidProtobuf(format!("the schema cannot be written as .proto text: {reason}"))
}

/// Refuses names that are not identifiers in any file of the pool: a serialized descriptor may
/// hold any string, which `.proto` text (and name lookups) could not take.
fn check_names(file: &FileDescriptor) -> Result<(), SchemaError> {
    for f in file.parent_pool().files() {
        let proto = f.file_descriptor_proto();
        let bad = |e: String| SchemaError::InvalidProtobuf(format!("{}: {e}", f.name()));
        if !proto.package().is_empty() {
            values::dotted(proto.package()).map_err(bad)?;
        }
        let mut names: Vec<&str> = Vec::new();
        for m in &proto.message_type {
            message_names(m, &mut names);
        }
        enum_names(&proto.enum_type, &mut names);
        names.extend(proto.extension.iter().map(|e| e.name()));
        for s in &proto.service {
            names.push(s.name());
            names.extend(s.method.iter().map(|m| m.name()));
        }
        for name in names {
            values::ident(name).map_err(bad)?;
        }
    }
    Ok(())
}

fn message_names<'a>(message: &'a DescriptorProto, out: &mut Vec<&'a str>) {
    out.push(message.name());
    out.extend(message.field.iter().map(|f| f.name()));
    out.extend(message.extension.iter().map(|f| f.name()));
    out.extend(message.oneof_decl.iter().map(|o| o.name()));
    enum_names(&message.enum_type, out);
    for nested in &message.nested_type {
        message_names(nested, out);
    }
}

fn enum_names<'a>(enums: &'a [EnumDescriptorProto], out: &mut Vec<&'a str>) {
    for e in enums {
        out.push(e.name());
        out.extend(e.value.iter().map(|v| v.name()));
    }
}

#[cfg(test)]
mod tests;
