//! The schema model the rules compare: JSON Schema text loaded into typed nodes the way Confluent's
//! loaders (everit for drafts 4 to 7, json-sKema translated back to everit's classes for 2019-09 and
//! 2020-12) shape it, because the difference rules are written against that shape.
//!
//! A schema object becomes one node, or a synthetic `allOf` of several when its keywords belong to
//! several kinds: `enum`, `allOf`/`anyOf`/`oneOf`, `not`, `const`, its `type` (an array of types is an
//! `anyOf` of one node per type), then one node per kind whose keywords appear without that kind
//! being named by `type` (so `{"properties": {}}` is an object schema in draft 7), then
//! `if`/`then`/`else`. `$ref` nodes point at the node loaded for their target location; each target
//! is loaded once, so recursive schemas are finite graphs. Both schemas of a comparison live in one
//! [`Model`] arena, so a pair of node ids names a pair of subschemas.

use std::collections::{BTreeSet, HashMap};

use serde_json::{Map, Number, Value};

use super::resolve::{Documents, id_keyword};
use crate::schema::json::{Draft, JsonSchema};

/// Index of a node in the [`Model`] arena.
pub(super) type NodeId = usize;

/// Deepest nesting of subschemas loaded; deeper ones become [`Kind::TooDeep`].
const MAX_LOAD_DEPTH: usize = 100;
/// Most nodes one comparison loads; beyond, nodes become [`Kind::TooDeep`].
const MAX_NODES: usize = 200_000;
/// Most `$ref` hops followed to reach a schema that is not itself a reference.
const MAX_REF_CHAIN: usize = 64;

/// The arena holding both schemas of a comparison.
#[derive(Debug, Default)]
pub(super) struct Model<'s> {
    nodes: Vec<Node<'s>>,
}

/// One subschema, as one of everit's schema classes.
#[derive(Debug)]
pub(super) struct Node<'s> {
    pub kind: Kind<'s>,
    /// The schema object when this node is the whole of it: its annotations (`title`, `description`,
    /// `default`, `connect.type`) belong to this node. None for a part of a synthetic combination.
    pub meta: Option<&'s Map<String, Value>>,
    /// The `$id` (`id` in draft 4) this node carries; never set for 2019-09 and 2020-12, whose loader
    /// does not keep it.
    pub id: Option<&'s Value>,
    /// What the node was loaded from and which part of it, so equal subschemas collapse.
    pub source: (&'s Value, Part),
}

/// Which part of a schema object a node stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Part {
    Whole,
    Enum,
    Combined(Criterion),
    Not,
    Const,
    Typed(Class),
    Conditional,
    Reference,
}

/// The classes of everit's schemas that the type-specific rules look at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(super) enum Class {
    Boolean,
    Null,
    String,
    Number,
    Integer,
    Array,
    Object,
}

/// allOf, anyOf or oneOf (named as the keywords).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[allow(clippy::enum_variant_names)]
pub(super) enum Criterion {
    AllOf,
    AnyOf,
    OneOf,
}

impl Criterion {
    /// The keyword, which is also the path segment Confluent uses.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::AllOf => "allOf",
            Self::AnyOf => "anyOf",
            Self::OneOf => "oneOf",
        }
    }
}

/// What a node is.
#[derive(Debug)]
pub(super) enum Kind<'s> {
    /// `{}` or a schema with no keyword the rules know.
    Empty,
    /// `true` (everit's TrueSchema, a kind of empty schema).
    True,
    /// `false`.
    False,
    Boolean,
    Null,
    String(StringFacet<'s>),
    Number(NumberFacet<'s>),
    Object(ObjectFacet<'s>),
    Array(ArrayFacet),
    /// The allowed values, as their JSON texts (a set, as Confluent compares them).
    Enum(BTreeSet<String>),
    Const(&'s Value),
    Not(NodeId),
    Conditional,
    Combined(Criterion, Vec<NodeId>),
    /// A `$ref`, with the node of its target once resolved.
    Ref(&'s str, Option<NodeId>),
    /// Beyond the loading limits.
    TooDeep,
}

impl Kind<'_> {
    /// Everit's class identity (`schemaTypesEqual`): integer and number schemas are one class, and
    /// all combined schemas are one class.
    pub fn same_class(&self, other: &Kind<'_>) -> bool {
        std::mem::discriminant(self) == std::mem::discriminant(other)
    }

    /// How many entries the rules walk through when comparing this node (its cost in the work budget).
    pub fn entries(&self) -> usize {
        match self {
            Kind::Enum(values) => values.len(),
            Kind::Combined(_, subschemas) => subschemas.len(),
            Kind::Object(o) => {
                o.properties.len()
                    + o.required.len()
                    + o.pattern_properties.len()
                    + o.property_dependencies.iter().map(|(_, d)| 1 + d.len()).sum::<usize>()
                    + o.schema_dependencies.len()
            }
            Kind::Array(a) => a.item_list.as_ref().map_or(0, Vec::len),
            _ => 0,
        }
    }

    /// Whether this is everit's EmptySchema or its subclass TrueSchema.
    pub fn is_empty_schema(&self) -> bool {
        matches!(self, Kind::Empty | Kind::True)
    }
}

/// The string keywords.
#[derive(Debug, Default)]
pub(super) struct StringFacet<'s> {
    pub min_length: Option<u64>,
    pub max_length: Option<u64>,
    pub pattern: Option<&'s str>,
}

/// The number keywords; `integer` for `"type": "integer"`.
#[derive(Debug, Default)]
pub(super) struct NumberFacet<'s> {
    pub integer: bool,
    pub minimum: Option<f64>,
    pub maximum: Option<f64>,
    pub exclusive_minimum: Option<f64>,
    pub exclusive_maximum: Option<f64>,
    pub multiple_of: Option<&'s Number>,
}

/// The object keywords. `dependentRequired` and `dependentSchemas` load into the dependencies.
#[derive(Debug)]
pub(super) struct ObjectFacet<'s> {
    pub properties: Vec<(&'s str, NodeId)>,
    pub required: Vec<&'s str>,
    /// False for `additionalProperties: false`.
    pub permits_additional: bool,
    /// The schema of `additionalProperties` when it is an object.
    pub additional: Option<NodeId>,
    pub pattern_properties: Vec<(&'s str, NodeId)>,
    pub property_dependencies: Vec<(&'s str, Vec<&'s str>)>,
    pub schema_dependencies: Vec<(&'s str, NodeId)>,
    pub min_properties: Option<u64>,
    pub max_properties: Option<u64>,
    /// `unevaluatedProperties` (2019-09 and later only).
    pub unevaluated: Option<NodeId>,
}

/// The array keywords, in everit's terms: `items` as one schema is `all_items`, a list of item
/// schemas (draft-7 `items` array, 2020-12 `prefixItems`) is `item_list`, and what follows the list
/// (`additionalItems`, 2020-12 `items`) is `additional`.
#[derive(Debug)]
pub(super) struct ArrayFacet {
    pub all_items: Option<NodeId>,
    pub item_list: Option<Vec<NodeId>>,
    pub permits_additional: bool,
    pub additional: Option<NodeId>,
    /// `unevaluatedItems` (2019-09 and later only).
    pub unevaluated: Option<NodeId>,
    pub min_items: Option<u64>,
    pub max_items: Option<u64>,
    pub unique_items: bool,
    pub min_contains: Option<i64>,
    pub max_contains: Option<i64>,
}

/// A `$ref` that resolves to nothing, or a cycle of references to references.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Unresolved;

impl<'s> Model<'s> {
    /// Loads `schema` and every schema its `$ref`s reach; returns the root's node.
    pub fn load(&mut self, schema: &'s JsonSchema) -> NodeId {
        let mut loader = Loader {
            nodes: &mut self.nodes,
            docs: Documents::new(schema),
            dialect: Dialect::of(schema.draft),
            targets: HashMap::new(),
            pending: Vec::new(),
        };
        let root = loader.load(&schema.root, 0, 0);
        loader.targets.insert((0, String::new()), root);
        loader.resolve_pending();
        root
    }

    /// The node `id`.
    pub fn node(&self, id: NodeId) -> &Node<'s> {
        &self.nodes[id]
    }

    /// Follows `$ref`s from `id` to the schema they name (Confluent's normalization).
    pub fn normalize(&self, mut id: NodeId) -> Result<NodeId, Unresolved> {
        for _ in 0..MAX_REF_CHAIN {
            match self.nodes[id].kind {
                Kind::Ref(_, Some(target)) => id = target,
                Kind::Ref(_, None) => return Err(Unresolved),
                _ => return Ok(id),
            }
        }
        Err(Unresolved)
    }
}

/// Which loader Confluent uses for a draft, and the keywords it knows.
#[derive(Debug, Clone, Copy)]
struct Dialect {
    draft: Draft,
    /// 2019-09 and 2020-12, loaded by json-sKema and translated.
    modern: bool,
}

impl Dialect {
    fn of(draft: Draft) -> Self {
        Self {
            draft,
            modern: matches!(draft, Draft::Draft201909 | Draft::Draft202012),
        }
    }

    /// Whether `map` has a keyword that makes it a (partial) schema of `class`.
    fn has_keywords_of(&self, map: &Map<String, Value>, class: Class) -> bool {
        let keywords: &[&str] = match (class, self.modern) {
            (Class::Array, false) if self.draft == Draft::Draft4 => {
                &["items", "additionalItems", "minItems", "maxItems", "uniqueItems"]
            }
            (Class::Array, false) => &[
                "items",
                "additionalItems",
                "minItems",
                "maxItems",
                "uniqueItems",
                "contains",
            ],
            (Class::Array, true) if self.draft == Draft::Draft201909 => &[
                "items",
                "additionalItems",
                "minItems",
                "maxItems",
                "uniqueItems",
                "contains",
                "unevaluatedItems",
            ],
            (Class::Array, true) => &[
                "items",
                "prefixItems",
                "minItems",
                "maxItems",
                "uniqueItems",
                "contains",
                "unevaluatedItems",
            ],
            (Class::Object, false) if self.draft == Draft::Draft4 => &[
                "properties",
                "required",
                "minProperties",
                "maxProperties",
                "dependencies",
                "patternProperties",
                "additionalProperties",
            ],
            (Class::Object, false) => &[
                "properties",
                "required",
                "minProperties",
                "maxProperties",
                "dependencies",
                "patternProperties",
                "additionalProperties",
                "propertyNames",
            ],
            (Class::Object, true) => {
                // json-sKema makes nothing of an empty `properties` or `patternProperties`.
                let non_empty = |k: &str| map.get(k).and_then(Value::as_object).is_some_and(|m| !m.is_empty());
                if non_empty("properties") || non_empty("patternProperties") {
                    return true;
                }
                &[
                    "required",
                    "minProperties",
                    "maxProperties",
                    "additionalProperties",
                    "dependentRequired",
                    "dependentSchemas",
                    "propertyNames",
                    "unevaluatedProperties",
                ]
            }
            (Class::Number | Class::Integer, _) => &[
                "minimum",
                "maximum",
                "exclusiveMinimum",
                "exclusiveMaximum",
                "multipleOf",
            ],
            (Class::String, false) => &["minLength", "maxLength", "pattern", "format"],
            (Class::String, true) => &["minLength", "maxLength", "pattern"],
            (Class::Boolean | Class::Null, _) => &[],
        };
        keywords.iter().any(|k| map.contains_key(*k))
    }
}

/// Loads the schemas of one side of a comparison into the arena.
struct Loader<'m, 's> {
    nodes: &'m mut Vec<Node<'s>>,
    docs: Documents<'s>,
    dialect: Dialect,
    /// The node loaded for each `$ref` target, by (document, JSON pointer).
    targets: HashMap<(usize, String), NodeId>,
    /// `$ref` nodes to resolve, with the document their `$ref` is written in.
    pending: Vec<(NodeId, usize)>,
}

impl<'s> Loader<'_, 's> {
    fn push(&mut self, kind: Kind<'s>, source: (&'s Value, Part)) -> NodeId {
        self.nodes.push(Node {
            kind,
            meta: None,
            id: None,
            source,
        });
        self.nodes.len() - 1
    }

    /// Resolves every pending `$ref`, loading each target location once.
    fn resolve_pending(&mut self) {
        while let Some((node, doc)) = self.pending.pop() {
            let Kind::Ref(reference, _) = self.nodes[node].kind else {
                continue;
            };
            let Some(target) = self.docs.locate(doc, reference) else {
                continue;
            };
            let key = (target.doc, target.pointer);
            let id = match self.targets.get(&key) {
                Some(&id) => id,
                None => {
                    let id = self.load(target.value, key.0, 0);
                    self.targets.insert(key, id);
                    id
                }
            };
            self.nodes[node].kind = Kind::Ref(reference, Some(id));
        }
    }

    /// Loads one schema value written in document `doc`.
    fn load(&mut self, value: &'s Value, doc: usize, depth: usize) -> NodeId {
        if depth > MAX_LOAD_DEPTH || self.nodes.len() >= MAX_NODES {
            return self.push(Kind::TooDeep, (value, Part::Whole));
        }
        let Value::Object(map) = value else {
            let kind = match value {
                Value::Bool(true) => Kind::True,
                Value::Bool(false) => Kind::False,
                // Not a schema; the parser refuses these, so treat them as empty.
                _ => Kind::Empty,
            };
            return self.push(kind, (value, Part::Whole));
        };
        let parts = self.load_parts(value, map, doc, depth);
        let id = match parts.as_slice() {
            [] => self.push(Kind::Empty, (value, Part::Whole)),
            [single] => *single,
            _ => self.push(Kind::Combined(Criterion::AllOf, parts), (value, Part::Whole)),
        };
        let node = &mut self.nodes[id];
        node.meta = Some(map);
        node.source = (value, Part::Whole);
        if !self.dialect.modern {
            node.id = map.get(id_keyword(self.dialect.draft));
        }
        id
    }

    /// The nodes a schema object's keywords make, in everit's order.
    fn load_parts(&mut self, value: &'s Value, map: &'s Map<String, Value>, doc: usize, depth: usize) -> Vec<NodeId> {
        let mut parts = Vec::new();
        let reference = ["$ref", "$dynamicRef", "$recursiveRef"]
            .into_iter()
            .filter(|k| *k == "$ref" || self.dialect.modern)
            .find_map(|k| map.get(k).and_then(Value::as_str));
        if let Some(reference) = reference {
            let id = self.push(Kind::Ref(reference, None), (value, Part::Reference));
            self.pending.push((id, doc));
            parts.push(id);
            // Drafts 4 to 7 ignore every keyword beside `$ref`.
            if !self.dialect.modern {
                return parts;
            }
        }
        if let Some(values) = map.get("enum").and_then(Value::as_array) {
            let values = values.iter().map(Value::to_string).collect();
            parts.push(self.push(Kind::Enum(values), (value, Part::Enum)));
        }
        for criterion in [Criterion::AllOf, Criterion::AnyOf, Criterion::OneOf] {
            if let Some(subschemas) = map.get(criterion.as_str()).and_then(Value::as_array) {
                let subs = subschemas.iter().map(|s| self.load(s, doc, depth + 1)).collect();
                parts.push(self.push(Kind::Combined(criterion, subs), (value, Part::Combined(criterion))));
            }
        }
        if let Some(not) = map.get("not") {
            let inner = self.load(not, doc, depth + 1);
            parts.push(self.push(Kind::Not(inner), (value, Part::Not)));
        }
        if self.dialect.draft != Draft::Draft4
            && let Some(constant) = map.get("const")
        {
            parts.push(self.push(Kind::Const(constant), (value, Part::Const)));
        }
        let typed = self.load_typed(value, map, doc, depth);
        parts.extend(typed);
        let conditional = ["if", "then", "else"].iter().any(|k| map.contains_key(*k));
        if conditional && (self.dialect.modern || self.dialect.draft == Draft::Draft7) {
            parts.push(self.push(Kind::Conditional, (value, Part::Conditional)));
        }
        parts
    }

    /// The node of `type` (an `anyOf` for an array of types), then one node per kind whose
    /// keywords appear without `type` naming it.
    fn load_typed(&mut self, value: &'s Value, map: &'s Map<String, Value>, doc: usize, depth: usize) -> Vec<NodeId> {
        let mut parts = Vec::new();
        let mut named = Vec::new();
        match map.get("type") {
            Some(Value::String(name)) => {
                if let Some(class) = class_of(name) {
                    named.push(class);
                    parts.push(self.load_class(value, map, class, doc, depth));
                }
            }
            Some(Value::Array(names)) => {
                let mut members = Vec::new();
                for class in names.iter().filter_map(Value::as_str).filter_map(class_of) {
                    if !named.contains(&class) {
                        named.push(class);
                        members.push(self.load_class(value, map, class, doc, depth));
                    }
                }
                let source = (value, Part::Combined(Criterion::AnyOf));
                parts.push(self.push(Kind::Combined(Criterion::AnyOf, members), source));
            }
            _ => {}
        }
        let consumed = |class: Class| match class {
            Class::Number | Class::Integer => named.contains(&Class::Number) || named.contains(&Class::Integer),
            _ => named.contains(&class),
        };
        for class in [Class::Array, Class::Object, Class::Number, Class::String] {
            if !consumed(class) && self.dialect.has_keywords_of(map, class) {
                parts.push(self.load_class(value, map, class, doc, depth));
            }
        }
        parts
    }

    fn load_class(
        &mut self,
        value: &'s Value,
        map: &'s Map<String, Value>,
        class: Class,
        doc: usize,
        depth: usize,
    ) -> NodeId {
        let kind = match class {
            Class::Boolean => Kind::Boolean,
            Class::Null => Kind::Null,
            Class::String => Kind::String(StringFacet {
                min_length: map.get("minLength").and_then(as_count),
                max_length: map.get("maxLength").and_then(as_count),
                pattern: map.get("pattern").and_then(Value::as_str),
            }),
            Class::Number | Class::Integer => Kind::Number(NumberFacet {
                integer: class == Class::Integer,
                minimum: map.get("minimum").and_then(Value::as_f64),
                maximum: map.get("maximum").and_then(Value::as_f64),
                // Draft 4's boolean forms modify minimum/maximum; Confluent's rules ignore them.
                exclusive_minimum: map.get("exclusiveMinimum").and_then(Value::as_f64),
                exclusive_maximum: map.get("exclusiveMaximum").and_then(Value::as_f64),
                multiple_of: map.get("multipleOf").and_then(|v| v.as_number()),
            }),
            Class::Object => Kind::Object(self.load_object(map, doc, depth)),
            Class::Array => Kind::Array(self.load_array(map, doc, depth)),
        };
        self.push(kind, (value, Part::Typed(class)))
    }

    fn load_object(&mut self, map: &'s Map<String, Value>, doc: usize, depth: usize) -> ObjectFacet<'s> {
        let modern = self.dialect.modern;
        let id_key = id_keyword(self.dialect.draft);
        let mut facet = ObjectFacet {
            properties: Vec::new(),
            required: strings(map.get("required")),
            permits_additional: map.get("additionalProperties") != Some(&Value::Bool(false)),
            additional: None,
            pattern_properties: Vec::new(),
            property_dependencies: Vec::new(),
            schema_dependencies: Vec::new(),
            min_properties: map.get("minProperties").and_then(as_count),
            max_properties: map.get("maxProperties").and_then(as_count),
            unevaluated: None,
        };
        if let Some(properties) = map.get("properties").and_then(Value::as_object) {
            for (name, schema) in properties {
                // everit skips an `$id` "property" that is a string: it is taken for an id.
                if name != id_key || schema.is_object() {
                    facet.properties.push((name, self.load(schema, doc, depth + 1)));
                }
            }
        }
        if let Some(additional @ Value::Object(_)) = map.get("additionalProperties") {
            facet.additional = Some(self.load(additional, doc, depth + 1));
        }
        if let Some(patterns) = map.get("patternProperties").and_then(Value::as_object) {
            for (pattern, schema) in patterns {
                facet
                    .pattern_properties
                    .push((pattern, self.load(schema, doc, depth + 1)));
            }
        }
        let dependencies = if modern {
            ["dependentRequired", "dependentSchemas"].as_slice()
        } else {
            &["dependencies"]
        };
        for keyword in dependencies {
            for (name, dependency) in map.get(*keyword).and_then(Value::as_object).into_iter().flatten() {
                if let Value::Array(_) = dependency {
                    facet.property_dependencies.push((name, strings(Some(dependency))));
                } else {
                    facet
                        .schema_dependencies
                        .push((name, self.load(dependency, doc, depth + 1)));
                }
            }
        }
        if modern && let Some(unevaluated) = map.get("unevaluatedProperties") {
            facet.unevaluated = Some(self.load(unevaluated, doc, depth + 1));
        }
        facet
    }

    fn load_array(&mut self, map: &'s Map<String, Value>, doc: usize, depth: usize) -> ArrayFacet {
        let mut facet = ArrayFacet {
            all_items: None,
            item_list: None,
            permits_additional: true,
            additional: None,
            unevaluated: None,
            min_items: map.get("minItems").and_then(as_count),
            max_items: map.get("maxItems").and_then(as_count),
            unique_items: map.get("uniqueItems") == Some(&Value::Bool(true)),
            min_contains: map.get("minContains").and_then(as_integer),
            max_contains: map.get("maxContains").and_then(as_integer),
        };
        // 2020-12 splits draft 7's `items` array and `additionalItems` into `prefixItems` and `items`;
        // 2019-09 still has the draft-7 forms.
        let tuple_keyword = if self.dialect.draft == Draft::Draft202012 {
            "prefixItems"
        } else {
            "items"
        };
        let rest_keyword = if self.dialect.draft == Draft::Draft202012 {
            "items"
        } else {
            "additionalItems"
        };
        if let Some(list) = map.get(tuple_keyword).and_then(Value::as_array) {
            facet.item_list = Some(list.iter().map(|s| self.load(s, doc, depth + 1)).collect());
        }
        let mut forbids_rest = false;
        match map.get(rest_keyword) {
            Some(Value::Bool(permits)) => forbids_rest = !permits,
            Some(rest @ Value::Object(_))
                if self.dialect.draft == Draft::Draft202012 && facet.item_list.as_ref().is_none_or(Vec::is_empty) =>
            {
                facet.all_items = Some(self.load(rest, doc, depth + 1));
            }
            Some(rest @ Value::Object(_)) => facet.additional = Some(self.load(rest, doc, depth + 1)),
            _ => {}
        }
        if self.dialect.draft != Draft::Draft202012
            && let Some(items @ (Value::Object(_) | Value::Bool(_))) = map.get("items")
        {
            facet.all_items = Some(self.load(items, doc, depth + 1));
        }
        // everit ignores a forbidden rest when one schema covers every item.
        facet.permits_additional = !forbids_rest || facet.all_items.is_some() || facet.additional.is_some();
        if self.dialect.modern {
            if map.contains_key("contains") && facet.min_contains.is_none() {
                facet.min_contains = Some(1);
            }
            if let Some(unevaluated) = map.get("unevaluatedItems") {
                facet.unevaluated = Some(self.load(unevaluated, doc, depth + 1));
            }
        }
        facet
    }
}

fn class_of(name: &str) -> Option<Class> {
    Some(match name {
        "boolean" => Class::Boolean,
        "null" => Class::Null,
        "string" => Class::String,
        "number" => Class::Number,
        "integer" => Class::Integer,
        "array" => Class::Array,
        "object" => Class::Object,
        _ => return None,
    })
}

fn strings(value: Option<&Value>) -> Vec<&str> {
    value
        .and_then(Value::as_array)
        .map(|items| items.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default()
}

/// A non-negative whole number (`1.0` included, as everit reads it).
fn as_count(value: &Value) -> Option<u64> {
    value.as_u64().or_else(|| {
        value
            .as_f64()
            .filter(|f| f.fract() == 0.0 && *f >= 0.0 && *f < 1.8e19)
            .map(|f| f as u64)
    })
}

/// A number read as Java's `intValue` of it.
fn as_integer(value: &Value) -> Option<i64> {
    value
        .as_i64()
        .or_else(|| value.as_f64().filter(|f| f.is_finite()).map(|f| f as i64))
}
