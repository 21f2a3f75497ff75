//! The walk that lists the differences between two compiled files (see the module docs of
//! [`super`] for the rules it applies).

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use prost_reflect::{EnumDescriptor, FieldDescriptor, FileDescriptor, Kind, MessageDescriptor, Syntax};

use super::{Difference, DifferenceType};

/// How many messages of imported files a comparison follows into one another before it gives up
/// and reports the field's type as changed, rather than recursing without bound.
const MAX_IMPORT_DEPTH: usize = 64;

/// Lists the differences from `original` to `update`, each once, in the order found.
pub(super) fn differences(original: &FileDescriptor, update: &FileDescriptor) -> Vec<Difference> {
    let mut walk = Walk {
        original_root: original.clone(),
        update_root: update.clone(),
        path: Vec::new(),
        in_scope: HashSet::new(),
        imported: HashMap::new(),
        in_progress: HashSet::new(),
        out: Vec::new(),
    };
    if original.package_name() != update.package_name() {
        walk.add(DifferenceType::PackageChanged);
    }
    walk.types(
        original.messages().collect(),
        original.enums().collect(),
        update.messages().collect(),
        update.enums().collect(),
    );
    let mut seen = HashSet::new();
    walk.out.retain(|d| seen.insert(d.clone()));
    walk.out
}

/// The result of comparing a message of an imported file with its counterpart: its differences,
/// at paths from the message's name, and whether they are all compatible.
#[derive(Clone)]
struct Imported {
    differences: Vec<Difference>,
    compatible: bool,
}

struct Walk {
    original_root: FileDescriptor,
    update_root: FileDescriptor,
    path: Vec<String>,
    /// The original messages whose fields are being compared: met again (a recursive type), only
    /// their nested types are compared.
    in_scope: HashSet<String>,
    /// Imported messages compared so far, by (original, update) full name: each is compared once.
    imported: HashMap<(String, String), Imported>,
    in_progress: HashSet<(String, String)>,
    out: Vec<Difference>,
}

/// Where a field sits: at the top level of its message or in a (non-synthetic) oneof.
struct Fields {
    by_number: BTreeMap<u32, FieldDescriptor>,
    oneof_of: HashMap<u32, String>,
    /// Oneofs in declaration order, with their members' numbers.
    oneofs: Vec<(String, Vec<u32>)>,
}

impl Fields {
    fn of(message: &MessageDescriptor) -> Self {
        let mut fields = Fields {
            by_number: BTreeMap::new(),
            oneof_of: HashMap::new(),
            oneofs: Vec::new(),
        };
        for field in message.fields() {
            fields.by_number.insert(field.number(), field);
        }
        for oneof in message.oneofs().filter(|o| !o.is_synthetic()) {
            let numbers: Vec<u32> = oneof.fields().map(|f| f.number()).collect();
            for n in &numbers {
                fields.oneof_of.insert(*n, oneof.name().to_string());
            }
            fields.oneofs.push((oneof.name().to_string(), numbers));
        }
        fields
    }

    fn has_oneof(&self, name: &str) -> bool {
        self.oneofs.iter().any(|(n, _)| n == name)
    }
}

/// Confluent's labels: none for a oneof member or a proto3 singular field.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Label {
    Optional,
    Required,
    Repeated,
}

fn label(field: &FieldDescriptor) -> Option<Label> {
    if field.containing_oneof().is_some_and(|o| !o.is_synthetic()) {
        return None;
    }
    if field.field_descriptor_proto().proto3_optional() {
        return Some(Label::Optional);
    }
    match field.cardinality() {
        prost_reflect::Cardinality::Repeated => Some(Label::Repeated),
        prost_reflect::Cardinality::Required => Some(Label::Required),
        prost_reflect::Cardinality::Optional if field.parent_file().syntax() == Syntax::Proto3 => None,
        prost_reflect::Cardinality::Optional => Some(Label::Optional),
    }
}

/// A field's type as the rules see it: a map is its key and value types.
enum FieldType {
    Scalar(Kind),
    Enum,
    Message(MessageDescriptor),
    Map(Box<FieldType>, Box<FieldType>),
}

impl FieldType {
    fn of(field: &FieldDescriptor) -> Self {
        match field.kind() {
            Kind::Message(entry) if field.is_map() => Self::Map(
                Box::new(Self::of(&entry.map_entry_key_field())),
                Box::new(Self::of(&entry.map_entry_value_field())),
            ),
            Kind::Message(message) => Self::Message(message),
            Kind::Enum(_) => Self::Enum,
            scalar => Self::Scalar(scalar),
        }
    }

    /// Scalar (enums included), message or map.
    fn kind(&self) -> u8 {
        match self {
            Self::Scalar(_) | Self::Enum => 0,
            Self::Message(_) => 1,
            Self::Map(..) => 2,
        }
    }
}

/// Scalars that read each other's encoding, grouped as Confluent groups them (after the proto3
/// guide's "updating a message type"): varints, zigzag varints, length-delimited, 32-bit, 64-bit
/// fixed, and float and double apart. An enum is a varint.
#[derive(Clone, Copy, PartialEq, Eq)]
enum ScalarGroup {
    Varint,
    ZigzagVarint,
    StringOrBytes,
    Fixed32,
    Fixed64,
    Float,
    Double,
}

fn scalar_group(t: &FieldType) -> Option<ScalarGroup> {
    Some(match t {
        FieldType::Enum => ScalarGroup::Varint,
        FieldType::Scalar(kind) => match kind {
            Kind::Int32 | Kind::Int64 | Kind::Uint32 | Kind::Uint64 | Kind::Bool => ScalarGroup::Varint,
            Kind::Sint32 | Kind::Sint64 => ScalarGroup::ZigzagVarint,
            Kind::String | Kind::Bytes => ScalarGroup::StringOrBytes,
            Kind::Fixed32 | Kind::Sfixed32 => ScalarGroup::Fixed32,
            Kind::Fixed64 | Kind::Sfixed64 => ScalarGroup::Fixed64,
            Kind::Float => ScalarGroup::Float,
            Kind::Double => ScalarGroup::Double,
            Kind::Message(_) | Kind::Enum(_) => return None,
        },
        FieldType::Message(_) | FieldType::Map(..) => return None,
    })
}

impl Walk {
    fn add(&mut self, kind: DifferenceType) {
        let path = format!("#/{}", self.path.join("/"));
        self.out.push(Difference { kind, path });
    }

    /// Adds a difference at `segments` below the current path.
    fn add_at(&mut self, segments: &[&str], kind: DifferenceType) {
        let depth = self.path.len();
        self.path.extend(segments.iter().map(|s| s.to_string()));
        self.add(kind);
        self.path.truncate(depth);
    }

    /// Compares the messages and enums declared in one scope (a file or a message), by name.
    fn types(
        &mut self,
        original_messages: Vec<MessageDescriptor>,
        original_enums: Vec<EnumDescriptor>,
        update_messages: Vec<MessageDescriptor>,
        update_enums: Vec<EnumDescriptor>,
    ) {
        // Map entries are not declared in `.proto` text; the map fields compare their types.
        let declared = |messages: Vec<MessageDescriptor>| -> Vec<MessageDescriptor> {
            messages.into_iter().filter(|m| !m.is_map_entry()).collect()
        };
        let (original_messages, update_messages) = (declared(original_messages), declared(update_messages));
        let find = |messages: &[MessageDescriptor], name: &str| messages.iter().position(|m| m.name() == name);
        for name in union_of_names(
            original_messages.iter().map(|m| m.name()),
            update_messages.iter().map(|m| m.name()),
        ) {
            self.path.push(name.clone());
            match (find(&original_messages, &name), find(&update_messages, &name)) {
                (Some(_), None) => self.add(DifferenceType::MessageRemoved),
                (None, Some(_)) => self.add(DifferenceType::MessageAdded),
                (Some(o), Some(u)) => {
                    self.message(&original_messages[o], &update_messages[u]);
                    // Moving a message is compatible: message indexes in data refer to the schema
                    // that wrote it.
                    if o != u {
                        self.add(DifferenceType::MessageMoved);
                    }
                }
                (None, None) => {}
            }
            self.path.pop();
        }
        let find = |enums: &[EnumDescriptor], name: &str| enums.iter().find(|e| e.name() == name).cloned();
        for name in union_of_names(
            original_enums.iter().map(|e| e.name()),
            update_enums.iter().map(|e| e.name()),
        ) {
            self.path.push(name.clone());
            match (find(&original_enums, &name), find(&update_enums, &name)) {
                (Some(_), None) => self.add(DifferenceType::EnumRemoved),
                (None, Some(_)) => self.add(DifferenceType::EnumAdded),
                (Some(o), Some(u)) => self.enumeration(&o, &u),
                (None, None) => {}
            }
            self.path.pop();
        }
    }

    fn enumeration(&mut self, original: &EnumDescriptor, update: &EnumDescriptor) {
        // By number; of aliases, the last declared names the number (as in Confluent).
        let by_number = |e: &EnumDescriptor| -> BTreeMap<i32, String> {
            let mut values: Vec<_> = e.values().collect();
            values.sort_by_key(|v| v.path().last().copied());
            values.into_iter().map(|v| (v.number(), v.name().to_string())).collect()
        };
        let (original, update) = (by_number(original), by_number(update));
        let numbers: BTreeSet<i32> = original.keys().chain(update.keys()).copied().collect();
        for n in numbers {
            let kind = match (original.get(&n), update.get(&n)) {
                (Some(_), None) => DifferenceType::EnumConstRemoved,
                (None, Some(_)) => DifferenceType::EnumConstAdded,
                (Some(o), Some(u)) if o != u => DifferenceType::EnumConstChanged,
                _ => continue,
            };
            self.add_at(&[&n.to_string()], kind);
        }
    }

    fn message(&mut self, original: &MessageDescriptor, update: &MessageDescriptor) {
        let key = original.full_name().to_string();
        let entered = self.in_scope.insert(key.clone());
        if entered {
            self.fields(original, update);
        }
        self.types(
            original.child_messages().collect(),
            original.child_enums().collect(),
            update.child_messages().collect(),
            update.child_enums().collect(),
        );
        if entered {
            self.in_scope.remove(&key);
        }
    }

    /// Compares fields by number wherever they sit (top level or oneof), and the oneofs.
    fn fields(&mut self, original: &MessageDescriptor, update: &MessageDescriptor) {
        let (o, u) = (Fields::of(original), Fields::of(update));
        self.oneofs(&o, &u);
        // A oneof gone by name none of whose members survive was deleted whole: its members'
        // removal is not reported one by one.
        let deleted_whole: HashSet<&str> = o
            .oneofs
            .iter()
            .filter(|(name, members)| !u.has_oneof(name) && !members.iter().any(|n| u.by_number.contains_key(n)))
            .map(|(name, _)| name.as_str())
            .collect();
        let numbers: BTreeSet<u32> = o.by_number.keys().chain(u.by_number.keys()).copied().collect();
        for n in numbers {
            let number = n.to_string();
            let (o_oneof, u_oneof) = (o.oneof_of.get(&n), u.oneof_of.get(&n));
            match (o.by_number.get(&n), u.by_number.get(&n)) {
                (Some(field), None) => match o_oneof {
                    Some(oneof) if deleted_whole.contains(oneof.as_str()) => {}
                    Some(oneof) => self.add_at(&[oneof, &number], DifferenceType::OneofFieldRemoved),
                    None if label(field) == Some(Label::Required) => {
                        self.add_at(&[&number], DifferenceType::RequiredFieldRemoved)
                    }
                    None => self.add_at(&[&number], DifferenceType::FieldRemoved),
                },
                (None, Some(field)) => match u_oneof {
                    Some(oneof) => self.add_at(&[oneof, &number], DifferenceType::OneofFieldAdded),
                    None if label(field) == Some(Label::Required) => {
                        self.add_at(&[&number], DifferenceType::RequiredFieldAdded)
                    }
                    None => self.add_at(&[&number], DifferenceType::FieldAdded),
                },
                (Some(o_field), Some(u_field)) => {
                    if o_oneof.is_some() && u_oneof.is_none() {
                        self.add_at(&[&number], DifferenceType::OneofFieldMovedToTopLevel);
                    }
                    // Reported where the field is in the update.
                    let depth = self.path.len();
                    self.path.extend(u_oneof.cloned());
                    self.path.push(number);
                    self.field(o_field, u_field);
                    self.path.truncate(depth);
                }
                (None, None) => {}
            }
        }
    }

    /// Oneofs added and removed by name, and update oneofs that join fields the original kept
    /// apart: members of different original oneofs, or of a oneof and the top level, or several
    /// top-level fields. Fields new in the update do not count: old data never set them.
    fn oneofs(&mut self, o: &Fields, u: &Fields) {
        for (name, members) in &u.oneofs {
            let mut origins = HashSet::new();
            let mut from_top_level = 0;
            for n in members {
                if let Some(oneof) = o.oneof_of.get(n) {
                    origins.insert(format!("oneof {oneof}"));
                } else if o.by_number.contains_key(n) {
                    origins.insert(format!("field {n}"));
                    from_top_level += 1;
                }
            }
            if origins.len() > 1 {
                let kind = if from_top_level > 1 {
                    DifferenceType::MultipleFieldsMovedToOneof
                } else {
                    DifferenceType::FieldMovedToExistingOneof
                };
                self.add_at(&[name], kind);
            }
        }
        let names: BTreeSet<&String> = o.oneofs.iter().chain(&u.oneofs).map(|(n, _)| n).collect();
        for name in names {
            match (o.has_oneof(name), u.has_oneof(name)) {
                (true, false) => self.add_at(&[name], DifferenceType::OneofRemoved),
                (false, true) => self.add_at(&[name], DifferenceType::OneofAdded),
                _ => {}
            }
        }
    }

    fn field(&mut self, original: &FieldDescriptor, update: &FieldDescriptor) {
        if original.name() != update.name() {
            self.add(DifferenceType::FieldNameChanged);
        }
        self.labels_and_types(
            label(original),
            label(update),
            &FieldType::of(original),
            &FieldType::of(update),
        );
    }

    fn labels_and_types(&mut self, o_label: Option<Label>, u_label: Option<Label>, o: &FieldType, u: &FieldType) {
        if o.kind() != u.kind() {
            self.add(DifferenceType::FieldKindChanged);
            return;
        }
        match (o, u) {
            (FieldType::Message(o), FieldType::Message(u)) => self.message_types(o, u),
            (FieldType::Map(ok, ov), FieldType::Map(uk, uv)) => {
                self.labels_and_types(None, None, ok, uk);
                self.labels_and_types(None, None, ov, uv);
            }
            _ => {
                let (og, ug) = (scalar_group(o), scalar_group(u));
                if og != ug {
                    self.add(DifferenceType::FieldScalarKindChanged);
                } else if let (Some(ol), Some(ul)) = (o_label, u_label)
                    && ol != ul
                {
                    // Only labels both sides write are compared, as Confluent does: a proto3
                    // singular field has none.
                    self.add(if og == Some(ScalarGroup::StringOrBytes) {
                        DifferenceType::FieldStringOrBytesLabelChanged
                    } else {
                        DifferenceType::FieldNumericLabelChanged
                    });
                }
            }
        }
    }

    /// Two message types match when their names below their packages match. Messages of the
    /// registered files are compared by the walk of those files; a message of an imported file is
    /// compared here, at paths from its name, and if that finds an incompatible difference the
    /// field's type is reported as changed too.
    fn message_types(&mut self, original: &MessageDescriptor, update: &MessageDescriptor) {
        let (o_name, u_name) = (local_name(original), local_name(update));
        if o_name != u_name {
            self.add(DifferenceType::FieldNamedTypeChanged);
            return;
        }
        if original.parent_file() == self.original_root && update.parent_file() == self.update_root {
            return;
        }
        let key = (original.full_name().to_string(), update.full_name().to_string());
        if self.in_progress.contains(&key) {
            // Met again while being compared: assumed compatible, its differences are being listed.
            return;
        }
        let result = match self.imported.get(&key) {
            Some(found) => found.clone(),
            None if self.in_progress.len() >= MAX_IMPORT_DEPTH => Imported {
                differences: Vec::new(),
                compatible: false,
            },
            None => {
                self.in_progress.insert(key.clone());
                let saved_path = std::mem::replace(&mut self.path, o_name.split('.').map(str::to_string).collect());
                let saved_out = std::mem::take(&mut self.out);
                self.message(original, update);
                let differences = std::mem::replace(&mut self.out, saved_out);
                self.path = saved_path;
                self.in_progress.remove(&key);
                let compatible = differences.iter().all(|d| d.kind.is_compatible());
                let found = Imported {
                    differences,
                    compatible,
                };
                self.imported.insert(key, found.clone());
                found
            }
        };
        self.out.extend(result.differences);
        if !result.compatible {
            self.add(DifferenceType::FieldNamedTypeChanged);
        }
    }
}

/// A message's full name without its file's package.
fn local_name(message: &MessageDescriptor) -> &str {
    let package = message.package_name();
    let full = message.full_name();
    if package.is_empty() {
        return full;
    }
    full.strip_prefix(package)
        .and_then(|s| s.strip_prefix('.'))
        .unwrap_or(full)
}

/// The names of both lists, the original's first, each once.
fn union_of_names<'a>(original: impl Iterator<Item = &'a str>, update: impl Iterator<Item = &'a str>) -> Vec<String> {
    let mut seen = HashSet::new();
    original
        .chain(update)
        .filter(|n| seen.insert(*n))
        .map(str::to_string)
        .collect()
}
