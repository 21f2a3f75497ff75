//! Reading a JSON schema for its mapping to Arrow: what every value a subschema accepts is known to
//! be (its possible kinds, declared properties, items, …), with `$ref`s followed offline through the
//! schema's registry of documents.
//!
//! **Soundness.** A fact is only ever taken from keywords that every accepted value satisfies:
//! `type`, `enum`, `const`, `properties`, `additionalProperties`, `items`, `allOf`, `$ref`, and
//! `anyOf`/`oneOf` as the union of their branches. Keywords that cannot be read that way (`not`,
//! `if`/`then`/`else`, `unevaluated*`, `$dynamicRef`, …) are ignored, which only admits more values,
//! never fewer; so a value the validator accepts always fits the mapping built from the facts.
//!
//! **Bounds.** A subschema already being read further up (a `$ref` cycle) is skipped, reading is
//! at most [`MAX_NESTING`] subschemas deep, and one schema takes at most [`MAX_STEPS`] steps in
//! all, so that a schema built to blow up exponentially is refused rather than read for hours.

use std::collections::{BTreeMap, BTreeSet, HashSet};

use referencing::{Draft, Resolver};
use serde_json::{Map, Value};

use super::error::CompileError;

/// How many subschemas deep one reading follows `$ref`, `allOf`, `anyOf` and `oneOf`.
pub(super) const MAX_NESTING: usize = 64;

/// How many subschemas reading one schema may visit in all.
pub(super) const MAX_STEPS: usize = 200_000;

/// A set of JSON value kinds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Kinds(u8);

impl Kinds {
    pub const NONE: Kinds = Kinds(0);
    pub const NULL: Kinds = Kinds(1);
    pub const BOOLEAN: Kinds = Kinds(2);
    /// A number with no fractional part (JSON Schema's `integer`).
    pub const INTEGER: Kinds = Kinds(4);
    /// A number with a fractional part.
    pub const FRACTION: Kinds = Kinds(8);
    pub const NUMBER: Kinds = Kinds(4 | 8);
    pub const STRING: Kinds = Kinds(16);
    pub const ARRAY: Kinds = Kinds(32);
    pub const OBJECT: Kinds = Kinds(64);
    pub const ANY: Kinds = Kinds(127);

    pub fn and(self, other: Kinds) -> Kinds {
        Kinds(self.0 & other.0)
    }

    pub fn or(self, other: Kinds) -> Kinds {
        Kinds(self.0 | other.0)
    }

    pub fn without_null(self) -> Kinds {
        Kinds(self.0 & !Self::NULL.0)
    }

    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// Whether every kind of `self` is in `other`.
    pub fn within(self, other: Kinds) -> bool {
        self.0 & !other.0 == 0
    }

    /// The kinds a `type` keyword allows (a name or a list of names; an unknown name allows all).
    fn of_type(keyword: &Value) -> Kinds {
        match keyword {
            Value::String(name) => Self::named(name),
            Value::Array(names) => names.iter().fold(Kinds::NONE, |kinds, name| {
                kinds.or(name.as_str().map_or(Kinds::ANY, Self::named))
            }),
            _ => Kinds::ANY,
        }
    }

    fn named(name: &str) -> Kinds {
        match name {
            "null" => Self::NULL,
            "boolean" => Self::BOOLEAN,
            "integer" => Self::INTEGER,
            "number" => Self::NUMBER,
            "string" => Self::STRING,
            "array" => Self::ARRAY,
            "object" => Self::OBJECT,
            _ => Self::ANY,
        }
    }

    /// The kind of one value.
    pub fn of_value(value: &Value) -> Kinds {
        match value {
            Value::Null => Self::NULL,
            Value::Bool(_) => Self::BOOLEAN,
            Value::Number(n) if n.is_i64() || n.is_u64() || n.as_f64().is_some_and(|f| f.fract() == 0.0) => {
                Self::INTEGER
            }
            Value::Number(_) => Self::FRACTION,
            Value::String(_) => Self::STRING,
            Value::Array(_) => Self::ARRAY,
            Value::Object(_) => Self::OBJECT,
        }
    }
}

/// The string formats the mapping reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Temporal {
    None,
    DateTime,
    Date,
    /// Both were declared: the value is kept as a string.
    Both,
}

/// A subschema where it is: its contents, the resolver of its `$ref`s and its draft.
#[derive(Debug, Clone)]
pub(super) struct Loc<'r> {
    pub schema: &'r Value,
    pub resolver: Resolver<'r>,
    pub draft: Draft,
}

impl<'r> Loc<'r> {
    /// The subschema `sub` of this one, entering it as a resource of its own if it has an id.
    pub fn child(&self, sub: &'r Value) -> Loc<'r> {
        let draft = match self.draft.detect(sub) {
            Draft::Unknown => self.draft,
            declared => declared,
        };
        let resource = draft.create_resource_ref(sub);
        let resolver = match resource.id() {
            Some(_) => self
                .resolver
                .in_subresource(resource)
                .unwrap_or_else(|_| self.resolver.clone()),
            None => self.resolver.clone(),
        };
        Loc {
            schema: sub,
            resolver,
            draft,
        }
    }

    fn id(&self) -> usize {
        std::ptr::from_ref(self.schema) as usize
    }
}

/// What every value accepted by a set of subschemas (all applying at once) is known to be.
#[derive(Debug)]
pub(super) struct Facts<'r> {
    pub kinds: Kinds,
    pub temporal: Temporal,
    /// Declared properties, each with the subschemas its value satisfies.
    pub properties: BTreeMap<&'r str, Vec<Loc<'r>>>,
    /// No property outside `properties` can be present.
    pub closed: bool,
    /// Subschemas that every property value satisfies (`additionalProperties` with no
    /// `properties` or `patternProperties` beside it).
    pub values: Vec<Loc<'r>>,
    /// Subschemas that every array item satisfies.
    pub items: Vec<Loc<'r>>,
    /// The subschemas that declared this structure, sorted: planning the same structure inside
    /// itself is recursion.
    pub sources: Vec<usize>,
    /// For sample data: the required properties, the values of an `enum` or `const`, a format
    /// name and numeric bounds.
    pub required: BTreeSet<&'r str>,
    pub choices: Option<&'r [Value]>,
    pub format: Option<&'r str>,
    pub minimum: Option<f64>,
    pub maximum: Option<f64>,
    /// Subschemas already applied, to read each once.
    visited: HashSet<usize>,
}

impl<'r> Facts<'r> {
    fn any() -> Self {
        Facts {
            kinds: Kinds::ANY,
            temporal: Temporal::None,
            properties: BTreeMap::new(),
            closed: false,
            values: Vec::new(),
            items: Vec::new(),
            sources: Vec::new(),
            required: BTreeSet::new(),
            choices: None,
            format: None,
            minimum: None,
            maximum: None,
            visited: HashSet::new(),
        }
    }

    fn add_format(&mut self, format: &'r str) {
        let temporal = match format {
            "date-time" => Temporal::DateTime,
            "date" => Temporal::Date,
            _ => Temporal::None,
        };
        self.temporal = match (self.temporal, temporal) {
            (current, Temporal::None) => current,
            (Temporal::None, new) => new,
            (current, new) if current == new => current,
            _ => Temporal::Both,
        };
        self.format.get_or_insert(format);
    }

    /// Takes in the structure of a branch every non-null value satisfies (its kinds were already
    /// taken into account).
    fn absorb(&mut self, branch: Facts<'r>) {
        if branch.temporal != Temporal::None {
            self.add_format(branch.format.unwrap_or_default());
        }
        for (name, locs) in branch.properties {
            self.properties.entry(name).or_default().extend(locs);
        }
        self.closed |= branch.closed;
        self.values.extend(branch.values);
        self.items.extend(branch.items);
        self.sources.extend(branch.sources);
        self.required.extend(branch.required);
        self.choices = self.choices.or(branch.choices);
        self.format = self.format.or(branch.format);
        self.minimum = self.minimum.or(branch.minimum);
        self.maximum = self.maximum.or(branch.maximum);
    }
}

/// Reads subschemas into [`Facts`], counting its steps against [`MAX_STEPS`].
#[derive(Debug, Default)]
pub(super) struct Reader {
    steps: usize,
}

impl Reader {
    /// What every value satisfying all of `locs` is known to be.
    pub fn facts<'r>(&mut self, locs: &[Loc<'r>]) -> Result<Facts<'r>, CompileError> {
        let mut facts = Facts::any();
        let mut reading = Vec::new();
        for loc in locs {
            self.collect(loc, &mut facts, &mut reading)?;
        }
        facts.sources.sort_unstable();
        facts.sources.dedup();
        Ok(facts)
    }

    /// Applies the subschema at `loc` to `facts`. `reading` holds the subschemas being read
    /// further up, to skip cycles.
    fn collect<'r>(
        &mut self,
        loc: &Loc<'r>,
        facts: &mut Facts<'r>,
        reading: &mut Vec<usize>,
    ) -> Result<(), CompileError> {
        self.steps += 1;
        if self.steps > MAX_STEPS {
            return Err(CompileError::TooLarge("reading it takes too many steps"));
        }
        let id = loc.id();
        if reading.len() >= MAX_NESTING || reading.contains(&id) || !facts.visited.insert(id) {
            return Ok(());
        }
        let object = match loc.schema {
            Value::Bool(false) => {
                facts.kinds = Kinds::NONE;
                return Ok(());
            }
            Value::Object(object) => object,
            _ => return Ok(()),
        };
        reading.push(id);
        let read = self.keywords(loc, object, facts, reading);
        reading.pop();
        read
    }

    fn keywords<'r>(
        &mut self,
        loc: &Loc<'r>,
        object: &'r Map<String, Value>,
        facts: &mut Facts<'r>,
        reading: &mut Vec<usize>,
    ) -> Result<(), CompileError> {
        if let Some(Value::String(reference)) = object.get("$ref") {
            // A `$ref` that does not resolve cannot be in a registered schema; ignoring it is sound.
            if let Ok(resolved) = loc.resolver.lookup(reference) {
                let (schema, resolver, draft) = resolved.into_inner();
                self.collect(
                    &Loc {
                        schema,
                        resolver,
                        draft,
                    },
                    facts,
                    reading,
                )?;
            }
            // Up to draft 7, `$ref` makes its siblings ignored.
            if matches!(loc.draft, Draft::Draft4 | Draft::Draft6 | Draft::Draft7) {
                return Ok(());
            }
        }
        assertions(loc.draft, object, facts);
        if structure(loc, object, facts) {
            facts.sources.push(loc.id());
        }
        if let Some(Value::Array(branches)) = object.get("allOf") {
            for branch in branches {
                self.collect(&loc.child(branch), facts, reading)?;
            }
        }
        for keyword in ["anyOf", "oneOf"] {
            if let Some(Value::Array(branches)) = object.get(keyword) {
                self.alternatives(loc, branches, facts, reading)?;
            }
        }
        Ok(())
    }

    /// `anyOf`/`oneOf`: a value is of the kinds of some branch; when only one branch admits
    /// anything but null, every non-null value satisfies it, so its structure is taken in too.
    fn alternatives<'r>(
        &mut self,
        loc: &Loc<'r>,
        branches: &'r [Value],
        facts: &mut Facts<'r>,
        reading: &mut Vec<usize>,
    ) -> Result<(), CompileError> {
        let mut union = Kinds::NONE;
        let mut non_null = Vec::new();
        for branch in branches {
            let mut branch_facts = Facts::any();
            self.collect(&loc.child(branch), &mut branch_facts, reading)?;
            union = union.or(branch_facts.kinds);
            if !branch_facts.kinds.without_null().is_empty() {
                non_null.push(branch_facts);
            }
        }
        facts.kinds = facts.kinds.and(union);
        if let [_] = non_null.as_slice()
            && let Some(only) = non_null.pop()
        {
            facts.absorb(only);
        }
        Ok(())
    }
}

/// `type`, `enum`, `const`, `required`, `format` and numeric bounds.
fn assertions<'r>(draft: Draft, object: &'r Map<String, Value>, facts: &mut Facts<'r>) {
    if let Some(keyword) = object.get("type") {
        facts.kinds = facts.kinds.and(Kinds::of_type(keyword));
    }
    if let Some(Value::Array(values)) = object.get("enum") {
        let kinds = values.iter().fold(Kinds::NONE, |k, v| k.or(Kinds::of_value(v)));
        facts.kinds = facts.kinds.and(kinds);
        facts.choices.get_or_insert(values);
    }
    if draft != Draft::Draft4
        && let Some(value) = object.get("const")
    {
        facts.kinds = facts.kinds.and(Kinds::of_value(value));
        facts.choices.get_or_insert(std::slice::from_ref(value));
    }
    if let Some(Value::Array(names)) = object.get("required") {
        facts.required.extend(names.iter().filter_map(Value::as_str));
    }
    if let Some(Value::String(format)) = object.get("format") {
        facts.add_format(format);
    }
    if let Some(minimum) = object.get("minimum").and_then(Value::as_f64) {
        facts.minimum = Some(facts.minimum.map_or(minimum, |m| m.max(minimum)));
    }
    if let Some(maximum) = object.get("maximum").and_then(Value::as_f64) {
        facts.maximum = Some(facts.maximum.map_or(maximum, |m| m.min(maximum)));
    }
}

/// `properties`, `additionalProperties` and `items`; true if the subschema declared any structure.
fn structure<'r>(loc: &Loc<'r>, object: &'r Map<String, Value>, facts: &mut Facts<'r>) -> bool {
    let mut declared = false;
    let properties = object.get("properties").and_then(Value::as_object);
    let patterned = object
        .get("patternProperties")
        .and_then(Value::as_object)
        .is_some_and(|p| !p.is_empty());
    let named = properties.is_some_and(|p| !p.is_empty());
    for (name, sub) in properties.into_iter().flatten() {
        facts.properties.entry(name.as_str()).or_default().push(loc.child(sub));
        declared = true;
    }
    match object.get("additionalProperties") {
        Some(Value::Bool(false)) if !patterned => facts.closed = true,
        Some(sub @ Value::Object(_)) if !named && !patterned => {
            facts.values.push(loc.child(sub));
            declared = true;
        }
        _ => {}
    }
    // Items as an array, or `items` after `prefixItems` (2020-12), describe tuples: not read.
    let tuple = object.contains_key("prefixItems") && matches!(loc.draft, Draft::Draft202012 | Draft::Unknown);
    match object.get("items") {
        Some(sub @ (Value::Object(_) | Value::Bool(_))) if !tuple => {
            facts.items.push(loc.child(sub));
            declared = true;
        }
        _ => {}
    }
    declared
}
