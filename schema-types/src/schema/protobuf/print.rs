//! The canonical `.proto` text of a compiled file: what the registry stores and serves, and the
//! identity of a Protobuf schema.
//!
//! The text is printed from the file's descriptor, so notation (comments, spacing, how a type is
//! qualified, whether `syntax` is written) does not change it, and a file registered as text and
//! the same file registered as a serialized descriptor print alike. It is written so that compiling
//! it gives back the same descriptor: every type reference is fully qualified with a leading dot,
//! declarations keep their order (the order is part of the descriptor: message indexes of
//! Confluent's wire format count it), maps print as `map<K, V>` and groups inline, and a nested
//! message that precedes a map or group field in the descriptor is printed before that field.
//!
//! Layout: `syntax`, `package`, imports in their order, file options, then top-level messages,
//! `extend` blocks, enums and services, one blank line apart. In a message: options, reserved
//! ranges and names, fields (oneofs where their first field is), extension ranges, nested
//! messages, `extend` blocks, nested enums. Two spaces indent a level.

use prost_reflect::{
    DynamicMessage, EnumDescriptor, ExtensionDescriptor, FieldDescriptor, FileDescriptor, Kind, MessageDescriptor,
    ReflectMessage, ServiceDescriptor, Syntax,
};
use prost_types::FieldDescriptorProto;
use prost_types::field_descriptor_proto::{Label, Type};

use super::values::{Result, default_value, dotted, ident, option_entries, quote, type_ref};

/// Prints `file` as canonical `.proto` text; fails on what `.proto` text cannot express.
pub(super) fn print(file: &FileDescriptor) -> Result<String> {
    let mut printer = Printer {
        out: String::new(),
        indent: 0,
        proto3: file.syntax() == Syntax::Proto3,
    };
    printer.file(file)?;
    Ok(printer.out)
}

struct Printer {
    out: String,
    indent: usize,
    proto3: bool,
}

/// The nested (or top-level) messages of one scope, printed in order, each once. A map entry or a
/// group's message is *tied* to its field and printed with it; the others are printed before the
/// first tied message that follows them, or at the end of the scope.
struct Scope {
    messages: Vec<MessageDescriptor>,
    tied: Vec<bool>,
    printed: Vec<bool>,
    next: usize,
}

impl Scope {
    fn new(messages: Vec<MessageDescriptor>, tied_names: &[String]) -> Self {
        let tied = messages
            .iter()
            .map(|m| m.is_map_entry() || tied_names.iter().any(|t| t == m.full_name()))
            .collect();
        let printed = vec![false; messages.len()];
        Scope {
            messages,
            tied,
            printed,
            next: 0,
        }
    }

    /// The index of the tied message that `field` prints with, if it is one of this scope's.
    fn tie(&self, field: &FieldDescriptorProto, kind: &Kind) -> Option<usize> {
        let tied_type = field.r#type() == Type::Group || is_map(field, kind);
        let Kind::Message(message) = kind else { return None };
        if !tied_type {
            return None;
        }
        self.messages.iter().position(|m| m == message)
    }
}

fn is_map(field: &FieldDescriptorProto, kind: &Kind) -> bool {
    field.label() == Label::Repeated && matches!(kind, Kind::Message(m) if m.is_map_entry())
}

impl Printer {
    fn line(&mut self, text: &str) {
        for _ in 0..self.indent {
            self.out.push_str("  ");
        }
        self.out.push_str(text);
        self.out.push('\n');
    }

    fn file(&mut self, file: &FileDescriptor) -> Result<()> {
        self.line(if self.proto3 {
            "syntax = \"proto3\";"
        } else {
            "syntax = \"proto2\";"
        });
        let proto = file.file_descriptor_proto();
        if !file.package_name().is_empty() {
            self.line(&format!("package {};", dotted(file.package_name())?));
        }
        if !proto.dependency.is_empty() {
            self.out.push('\n');
        }
        for (i, dependency) in proto.dependency.iter().enumerate() {
            let index = i32::try_from(i).map_err(|e| e.to_string())?;
            let modifier = if proto.public_dependency.contains(&index) {
                "public "
            } else if proto.weak_dependency.contains(&index) {
                "weak "
            } else {
                ""
            };
            self.line(&format!("import {modifier}{};", quote(dependency.as_bytes())));
        }
        let options = option_entries(&file.options())?;
        if !options.is_empty() {
            self.out.push('\n');
        }
        self.option_statements(options);
        let extensions: Vec<ExtensionDescriptor> = file.extensions().collect();
        let mut scope = Scope::new(file.messages().collect(), &group_types(&extensions));
        self.declarations(&mut scope, file.enums().collect(), &extensions, true)?;
        for service in file.services() {
            self.out.push('\n');
            self.service(&service)?;
        }
        Ok(())
    }

    fn option_statements(&mut self, options: Vec<(String, String)>) {
        for (name, value) in options {
            self.line(&format!("option {name} = {value};"));
        }
    }

    /// The declarations after the fields of a scope: `extend` blocks, the messages not printed yet,
    /// enums; at the top level, each after a blank line.
    fn declarations(
        &mut self,
        scope: &mut Scope,
        enums: Vec<EnumDescriptor>,
        extensions: &[ExtensionDescriptor],
        top_level: bool,
    ) -> Result<()> {
        let blocks = extend_blocks(extensions);
        // Messages come first unless an `extend` block defines a group that an earlier message follows.
        let first_tie = blocks
            .iter()
            .flatten()
            .filter_map(|e| scope.tie(e.field_descriptor_proto(), &e.kind()))
            .min()
            .unwrap_or(scope.messages.len());
        self.flush(scope, first_tie, top_level)?;
        for block in blocks {
            if top_level {
                self.out.push('\n');
            }
            self.extend_block(scope, &block)?;
        }
        self.flush(scope, scope.messages.len(), top_level)?;
        for e in enums {
            if top_level {
                self.out.push('\n');
            }
            self.enumeration(&e)?;
        }
        Ok(())
    }

    /// Prints the untied messages of `scope` before index `upto` that are not printed yet.
    fn flush(&mut self, scope: &mut Scope, upto: usize, top_level: bool) -> Result<()> {
        while scope.next < upto.min(scope.messages.len()) {
            let i = scope.next;
            scope.next += 1;
            // A map entry no field uses has no `.proto` spelling; it is left out.
            if !scope.tied[i] && !scope.printed[i] {
                scope.printed[i] = true;
                if top_level {
                    self.out.push('\n');
                }
                let message = scope.messages[i].clone();
                self.message(&message)?;
            }
        }
        Ok(())
    }

    fn message(&mut self, message: &MessageDescriptor) -> Result<()> {
        self.line(&format!("message {} {{", ident(message.name())?));
        self.indent += 1;
        self.message_body(message)?;
        self.indent -= 1;
        self.line("}");
        Ok(())
    }

    fn message_body(&mut self, message: &MessageDescriptor) -> Result<()> {
        self.option_statements(option_entries(&message.options())?);
        let ranges: Vec<String> = message
            .reserved_ranges()
            .map(|r| range_text(i64::from(r.start), i64::from(r.end) - 1))
            .collect();
        if !ranges.is_empty() {
            self.line(&format!("reserved {};", ranges.join(", ")));
        }
        self.reserved_names(message.reserved_names())?;
        let extensions: Vec<ExtensionDescriptor> = message.child_extensions().collect();
        let mut groups = group_types(&extensions);
        groups.extend(
            message
                .fields()
                .filter(|f| f.is_group())
                .filter_map(|f| f.kind().as_message().map(|m| m.full_name().to_string())),
        );
        let mut scope = Scope::new(message.child_messages().collect(), &groups);
        self.fields_in_order(message, &mut scope)?;
        self.extension_ranges(message)?;
        self.declarations(&mut scope, message.child_enums().collect(), &extensions, false)
    }

    /// The fields in declaration order, each oneof as a block where its first field is.
    fn fields_in_order(&mut self, message: &MessageDescriptor, scope: &mut Scope) -> Result<()> {
        let proto = message.descriptor_proto();
        let mut oneofs_printed = vec![false; proto.oneof_decl.len()];
        for field_proto in &proto.field {
            let Some(field) = message.get_field(u32::try_from(field_proto.number()).unwrap_or(0)) else {
                return Err(format!(
                    "field {} of {} is missing",
                    field_proto.name(),
                    message.full_name()
                ));
            };
            let Some(oneof) = field.containing_oneof().filter(|o| !o.is_synthetic()) else {
                self.field(scope, field_proto, &field.kind(), &field.options(), false)?;
                continue;
            };
            let index = usize::try_from(field_proto.oneof_index()).unwrap_or(usize::MAX);
            if oneofs_printed.get(index).copied().unwrap_or(true) {
                continue;
            }
            oneofs_printed[index] = true;
            let fields: Vec<FieldDescriptor> = oneof.fields().collect();
            // A message tied to a member is printed with it, so those before it come first.
            let tie = fields
                .iter()
                .filter_map(|f| scope.tie(f.field_descriptor_proto(), &f.kind()))
                .min();
            self.flush(scope, tie.unwrap_or(0), false)?;
            self.line(&format!("oneof {} {{", ident(oneof.name())?));
            self.indent += 1;
            self.option_statements(option_entries(&oneof.options())?);
            for f in &fields {
                self.field(scope, f.field_descriptor_proto(), &f.kind(), &f.options(), true)?;
            }
            self.indent -= 1;
            self.line("}");
        }
        Ok(())
    }

    fn extension_ranges(&mut self, message: &MessageDescriptor) -> Result<()> {
        for range in &message.descriptor_proto().extension_range {
            // prost's types keep the known options of a range only; custom ones are lost here.
            let options = match &range.options {
                Some(o) => option_entries(&o.transcode_to_dynamic())?,
                None => Vec::new(),
            };
            self.line(&format!(
                "extensions {}{};",
                range_text(i64::from(range.start()), i64::from(range.end()) - 1),
                bracketed(Vec::new(), options)
            ));
        }
        Ok(())
    }

    fn reserved_names<'a>(&mut self, names: impl Iterator<Item = &'a str>) -> Result<()> {
        let names = names
            .map(|n| ident(n).map(|n| quote(n.as_bytes())))
            .collect::<Result<Vec<_>>>()?;
        if !names.is_empty() {
            self.line(&format!("reserved {};", names.join(", ")));
        }
        Ok(())
    }

    /// One field (of a message, a oneof or an `extend` block); a group prints its message inline.
    fn field(
        &mut self,
        scope: &mut Scope,
        field: &FieldDescriptorProto,
        kind: &Kind,
        options: &DynamicMessage,
        in_oneof: bool,
    ) -> Result<()> {
        let tie = scope.tie(field, kind);
        if let Some(i) = tie {
            self.flush(scope, i, false)?;
            scope.printed[i] = true;
        }
        let mut attributes = Vec::new();
        if let Some(default) = &field.default_value {
            attributes.push(("default".to_string(), default_value(field.r#type(), kind, default)?));
        }
        if field.extendee.is_none()
            && let Some(json_name) = &field.json_name
            && *json_name != default_json_name(field.name())
        {
            attributes.push(("json_name".to_string(), quote(json_name.as_bytes())));
        }
        let options = bracketed(attributes, option_entries(options)?);
        let name = ident(field.name())?;
        let number = field.number();
        if is_map(field, kind) {
            let Kind::Message(entry) = kind else {
                return Err("a map field is not a message".into());
            };
            let key = type_text(
                entry.map_entry_key_field().field_descriptor_proto(),
                &entry.map_entry_key_field().kind(),
            )?;
            let value = type_text(
                entry.map_entry_value_field().field_descriptor_proto(),
                &entry.map_entry_value_field().kind(),
            )?;
            self.line(&format!("map<{key}, {value}> {name} = {number}{options};"));
            return Ok(());
        }
        let label = if in_oneof { "" } else { self.label(field) };
        if field.r#type() == Type::Group {
            let (Kind::Message(group), Some(_)) = (kind, tie) else {
                return Err(format!("group {name} is not declared beside its field"));
            };
            self.line(&format!("{label}group {} = {number}{options} {{", ident(group.name())?));
            self.indent += 1;
            self.message_body(group)?;
            self.indent -= 1;
            self.line("}");
            return Ok(());
        }
        self.line(&format!(
            "{label}{} {name} = {number}{options};",
            type_text(field, kind)?
        ));
        Ok(())
    }

    fn label(&self, field: &FieldDescriptorProto) -> &'static str {
        match field.label() {
            Label::Repeated => "repeated ",
            Label::Required => "required ",
            Label::Optional if !self.proto3 || field.proto3_optional() => "optional ",
            Label::Optional => "",
        }
    }

    fn extend_block(&mut self, scope: &mut Scope, block: &[ExtensionDescriptor]) -> Result<()> {
        let Some(first) = block.first() else { return Ok(()) };
        self.line(&format!(
            "extend {} {{",
            type_ref(first.containing_message().full_name())?
        ));
        self.indent += 1;
        for extension in block {
            self.field(
                scope,
                extension.field_descriptor_proto(),
                &extension.kind(),
                &extension.options(),
                false,
            )?;
        }
        self.indent -= 1;
        self.line("}");
        Ok(())
    }

    fn enumeration(&mut self, e: &EnumDescriptor) -> Result<()> {
        self.line(&format!("enum {} {{", ident(e.name())?));
        self.indent += 1;
        self.option_statements(option_entries(&e.options())?);
        let ranges: Vec<String> = e
            .reserved_ranges()
            .map(|r| range_text(i64::from(*r.start()), i64::from(*r.end())))
            .collect();
        if !ranges.is_empty() {
            self.line(&format!("reserved {};", ranges.join(", ")));
        }
        self.reserved_names(e.reserved_names())?;
        // `values()` runs by number; the declaration order is the descriptor's.
        let mut values: Vec<_> = e.values().collect();
        values.sort_by_key(|v| v.path().last().copied());
        for value in values {
            let options = bracketed(Vec::new(), option_entries(&value.options())?);
            self.line(&format!("{} = {}{options};", ident(value.name())?, value.number()));
        }
        self.indent -= 1;
        self.line("}");
        Ok(())
    }

    fn service(&mut self, service: &ServiceDescriptor) -> Result<()> {
        self.line(&format!("service {} {{", ident(service.name())?));
        self.indent += 1;
        self.option_statements(option_entries(&service.options())?);
        for method in service.methods() {
            let stream = |yes: bool| if yes { "stream " } else { "" };
            let signature = format!(
                "rpc {} ({}{}) returns ({}{})",
                ident(method.name())?,
                stream(method.is_client_streaming()),
                type_ref(method.input().full_name())?,
                stream(method.is_server_streaming()),
                type_ref(method.output().full_name())?,
            );
            let options = option_entries(&method.options())?;
            if options.is_empty() {
                self.line(&format!("{signature};"));
            } else {
                self.line(&format!("{signature} {{"));
                self.indent += 1;
                self.option_statements(options);
                self.indent -= 1;
                self.line("}");
            }
        }
        self.indent -= 1;
        self.line("}");
        Ok(())
    }
}

/// ` [a = 1, b = 2]`, or nothing when there is nothing to say.
fn bracketed(mut attributes: Vec<(String, String)>, options: Vec<(String, String)>) -> String {
    attributes.extend(options);
    if attributes.is_empty() {
        return String::new();
    }
    let inner: Vec<String> = attributes.into_iter().map(|(n, v)| format!("{n} = {v}")).collect();
    format!(" [{}]", inner.join(", "))
}

/// `n` or `a to b` (numbers, never `max`, whose meaning depends on the message's options).
fn range_text(start: i64, end_inclusive: i64) -> String {
    if start == end_inclusive {
        start.to_string()
    } else {
        format!("{start} to {end_inclusive}")
    }
}

/// A field's type: a scalar keyword, or a message or enum fully qualified.
fn type_text(field: &FieldDescriptorProto, kind: &Kind) -> Result<String> {
    Ok(match field.r#type() {
        Type::Double => "double".into(),
        Type::Float => "float".into(),
        Type::Int64 => "int64".into(),
        Type::Uint64 => "uint64".into(),
        Type::Int32 => "int32".into(),
        Type::Fixed64 => "fixed64".into(),
        Type::Fixed32 => "fixed32".into(),
        Type::Bool => "bool".into(),
        Type::String => "string".into(),
        Type::Bytes => "bytes".into(),
        Type::Uint32 => "uint32".into(),
        Type::Sfixed32 => "sfixed32".into(),
        Type::Sfixed64 => "sfixed64".into(),
        Type::Sint32 => "sint32".into(),
        Type::Sint64 => "sint64".into(),
        Type::Enum | Type::Message | Type::Group => match kind {
            Kind::Message(m) => type_ref(m.full_name())?,
            Kind::Enum(e) => type_ref(e.full_name())?,
            _ => return Err(format!("field {} has no named type", field.name())),
        },
    })
}

/// protoc's JSON name of a field: underscores dropped, the letter after one capitalized.
pub(super) fn default_json_name(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut upper = false;
    for c in name.chars() {
        if c == '_' {
            upper = true;
        } else if upper {
            out.push(c.to_ascii_uppercase());
            upper = false;
        } else {
            out.push(c);
        }
    }
    out
}

/// Extensions split into runs of the same extendee, in order: one `extend` block each.
fn extend_blocks(extensions: &[ExtensionDescriptor]) -> Vec<Vec<ExtensionDescriptor>> {
    let mut blocks: Vec<Vec<ExtensionDescriptor>> = Vec::new();
    for e in extensions {
        match blocks.last_mut() {
            Some(block) if block.first().map(|f| f.containing_message()) == Some(e.containing_message()) => {
                block.push(e.clone());
            }
            _ => blocks.push(vec![e.clone()]),
        }
    }
    blocks
}

/// The full names of the messages that group extensions define.
fn group_types(extensions: &[ExtensionDescriptor]) -> Vec<String> {
    extensions
        .iter()
        .filter(|e| e.field_descriptor_proto().r#type() == Type::Group)
        .filter_map(|e| e.kind().as_message().map(|m| m.full_name().to_string()))
        .collect()
}
