//! The rules of object schemas: properties against the content model, `required`, dependencies,
//! `additionalProperties`, `unevaluatedProperties` and the property counts.
//!
//! The content model of an object schema says what it accepts for a property it does not declare.
//! It is *open* when that is anything (no `additionalProperties` schema or `false`, no
//! `patternProperties`, and `unevaluatedProperties` absent or accepting anything), *partially open*
//! when a schema decides it (the first matching `patternProperties` pattern, else the
//! `additionalProperties` schema, else an `unevaluatedProperties` schema), and *closed* otherwise.
//! A property declared on one side only is judged against the other side's content model.

use std::collections::{HashMap, HashSet};

use super::compare::{Engine, Found};
use super::difference::DifferenceType::*;
use super::model::{Kind, NodeId, ObjectFacet};
use super::scalar::compare_bound;

/// An object schema with its property names and `required` indexed.
struct Side<'f, 's> {
    facet: &'f ObjectFacet<'s>,
    properties: HashMap<&'s str, NodeId>,
    required: HashSet<&'s str>,
}

impl<'f, 's> Side<'f, 's> {
    fn new(facet: &'f ObjectFacet<'s>) -> Self {
        Self {
            facet,
            properties: facet.properties.iter().copied().collect(),
            required: facet.required.iter().copied().collect(),
        }
    }

    fn property(&self, name: &str) -> Option<NodeId> {
        self.properties.get(name).copied()
    }
}

impl Engine<'_, '_> {
    /// Confluent's `ObjectSchemaDiff`.
    pub(super) fn compare_objects(&mut self, found: &mut Found, original: &ObjectFacet<'_>, update: &ObjectFacet<'_>) {
        let (o, u) = (Side::new(original), Side::new(update));
        compare_required(self, found, &o, &u);
        compare_properties(self, found, &o, &u);
        self.compare_dependencies(found, original, update);
        self.compare_additional_properties(found, original, update);
        self.compare_unevaluated_properties(found, original, update);
        compare_bound(
            found,
            "maxProperties",
            original.max_properties,
            update.max_properties,
            [
                MaxPropertiesAdded,
                MaxPropertiesRemoved,
                MaxPropertiesIncreased,
                MaxPropertiesDecreased,
            ],
        );
        compare_bound(
            found,
            "minProperties",
            original.min_properties,
            update.min_properties,
            [
                MinPropertiesAdded,
                MinPropertiesRemoved,
                MinPropertiesIncreased,
                MinPropertiesDecreased,
            ],
        );
    }

    /// `dependencies` (and 2019-09's `dependentRequired`/`dependentSchemas`), by property name.
    fn compare_dependencies(&mut self, found: &mut Found, original: &ObjectFacet<'_>, update: &ObjectFacet<'_>) {
        let (o, u) = (dependency_sets(original), dependency_sets(update));
        let (o_names, u_names): (Vec<&str>, Vec<&str>) = (
            original.property_dependencies.iter().map(|(n, _)| *n).collect(),
            update.property_dependencies.iter().map(|(n, _)| *n).collect(),
        );
        for name in union(&o_names, &u_names) {
            let kind = match (o.get(name), u.get(name)) {
                (_, None) => DependencyArrayRemoved,
                (None, Some(_)) => DependencyArrayAdded,
                (Some(o), Some(u)) if o == u => continue,
                (Some(o), Some(u)) if u.is_superset(o) => DependencyArrayExtended,
                (Some(o), Some(u)) if o.is_superset(u) => DependencyArrayNarrowed,
                _ => DependencyArrayChanged,
            };
            found.add(&format!("dependencies/{name}"), kind);
        }
        let (o, u) = (dependency_schemas(original), dependency_schemas(update));
        let (o_names, u_names): (Vec<&str>, Vec<&str>) = (
            original.schema_dependencies.iter().map(|(n, _)| *n).collect(),
            update.schema_dependencies.iter().map(|(n, _)| *n).collect(),
        );
        for name in union(&o_names, &u_names) {
            let path = format!("dependencies/{name}");
            match (o.get(name), u.get(name)) {
                (_, None) => found.add(&path, DependencySchemaRemoved),
                (None, Some(_)) => found.add(&path, DependencySchemaAdded),
                (Some(&o), Some(&u)) => {
                    self.compare_into(found, &path, Some(o), Some(u));
                }
            }
        }
    }

    fn compare_additional_properties(
        &mut self,
        found: &mut Found,
        original: &ObjectFacet<'_>,
        update: &ObjectFacet<'_>,
    ) {
        let path = "additionalProperties";
        if original.permits_additional != update.permits_additional {
            let kind = if update.permits_additional {
                AdditionalPropertiesAdded
            } else {
                AdditionalPropertiesRemoved
            };
            found.add(path, kind);
        } else {
            match (original.additional, update.additional) {
                (None, Some(_)) => found.add(path, AdditionalPropertiesNarrowed),
                (Some(_), None) => found.add(path, AdditionalPropertiesExtended),
                (o, u) => {
                    self.compare_into(found, path, o, u);
                }
            }
        }
    }

    fn compare_unevaluated_properties(
        &mut self,
        found: &mut Found,
        original: &ObjectFacet<'_>,
        update: &ObjectFacet<'_>,
    ) {
        let kinds = [
            UnevaluatedPropertiesAdded,
            UnevaluatedPropertiesRemoved,
            UnevaluatedPropertiesExtended,
            UnevaluatedPropertiesNarrowed,
        ];
        self.compare_unevaluated(
            found,
            "unevaluatedProperties",
            original.unevaluated,
            update.unevaluated,
            kinds,
        );
    }

    /// `unevaluatedProperties`/`unevaluatedItems`; `kinds` are added (opened), removed (closed),
    /// extended (to anything) and narrowed (from anything).
    pub(super) fn compare_unevaluated(
        &mut self,
        found: &mut Found,
        path: &str,
        original: Option<NodeId>,
        update: Option<NodeId>,
        [added, removed, extended, narrowed]: [super::difference::DifferenceType; 4],
    ) {
        let is_false = |id: NodeId| matches!(self.model.node(id).kind, Kind::False);
        let is_empty = |id: NodeId| self.model.node(id).kind.is_empty_schema();
        let kind = match (original, update) {
            (None, None) => return,
            (None, Some(u)) if is_false(u) => removed,
            (None, Some(_)) => narrowed,
            (Some(o), None) if is_false(o) => added,
            (Some(_), None) => extended,
            (Some(o), Some(u)) if is_false(o) && !is_false(u) => added,
            (Some(o), Some(u)) if !is_false(o) && is_false(u) => removed,
            (Some(o), Some(u)) if is_empty(o) && !is_empty(u) => narrowed,
            (Some(o), Some(u)) if !is_empty(o) && is_empty(u) => extended,
            (o, u) => {
                self.compare_into(found, path, o, u);
                return;
            }
        };
        found.add(path, kind);
    }

    /// Whether the schema accepts any value for a property it does not declare.
    pub(super) fn is_open(&self, facet: &ObjectFacet<'_>) -> bool {
        facet.permits_additional
            && facet.additional.is_none()
            && facet.pattern_properties.is_empty()
            && facet
                .unevaluated
                .is_none_or(|u| self.model.node(u).kind.is_empty_schema())
    }

    /// The schema a partially open content model applies to an undeclared property `name`.
    fn partial_schema(&mut self, facet: &ObjectFacet<'_>, name: &str) -> Option<NodeId> {
        for &(pattern, schema) in &facet.pattern_properties {
            if self.pattern_finds(pattern, name) {
                return Some(schema);
            }
        }
        if facet.additional.is_some() {
            return facet.additional;
        }
        let unevaluated = facet.unevaluated.filter(|_| facet.permits_additional)?;
        let kind = &self.model.node(unevaluated).kind;
        (!matches!(kind, Kind::False) && !kind.is_empty_schema()).then_some(unevaluated)
    }

    /// Whether the property schema (as written, before following a `$ref`) has a `default`.
    fn has_default(&self, schema: NodeId) -> bool {
        self.model
            .node(schema)
            .meta
            .is_some_and(|meta| meta.contains_key("default"))
    }
}

/// `required` changes of the properties both schemas declare.
fn compare_required(engine: &Engine<'_, '_>, found: &mut Found, original: &Side<'_, '_>, update: &Side<'_, '_>) {
    for &(name, _) in &original.facet.properties {
        let Some(schema) = update.property(name) else {
            continue;
        };
        let kind = match (original.required.contains(name), update.required.contains(name)) {
            (true, false) => RequiredAttributeRemoved,
            (false, true) if engine.has_default(schema) => RequiredAttributeWithDefaultAdded,
            (false, true) => RequiredAttributeAdded,
            _ => continue,
        };
        found.add(&format!("required/{name}"), kind);
    }
}

fn compare_properties(engine: &mut Engine<'_, '_>, found: &mut Found, original: &Side<'_, '_>, update: &Side<'_, '_>) {
    let update_only = update
        .facet
        .properties
        .iter()
        .filter(|(name, _)| original.property(name).is_none());
    let names = original
        .facet
        .properties
        .iter()
        .chain(update_only)
        .map(|(name, _)| *name);
    for name in names {
        let path = format!("properties/{name}");
        match (original.property(name), update.property(name)) {
            (Some(o), Some(u)) => {
                engine.compare_into(found, &path, Some(o), Some(u));
            }
            (Some(o), None) => property_removed(engine, found, &path, name, o, update),
            (None, Some(u)) => property_added(engine, found, &path, name, u, original, update),
            (None, None) => {}
        }
    }
}

/// A property the update no longer declares: the update's content model must accept it.
fn property_removed(
    engine: &mut Engine<'_, '_>,
    found: &mut Found,
    path: &str,
    name: &str,
    schema: NodeId,
    update: &Side<'_, '_>,
) {
    let kind = if engine.is_open(update.facet) {
        PropertyRemovedFromOpenContentModel
    } else if let Some(covering) = engine.partial_schema(update.facet, name) {
        if engine.compare_into(found, path, Some(schema), Some(covering)) {
            PropertyRemovedIsCoveredByPartiallyOpenContentModel
        } else {
            PropertyRemovedNotCoveredByPartiallyOpenContentModel
        }
    } else if matches!(engine.model.node(schema).kind, Kind::False) {
        PropertyWithFalseRemovedFromClosedContentModel
    } else {
        PropertyRemovedFromClosedContentModel
    };
    found.add(path, kind);
}

/// A property only the update declares: it must accept what the original's content model let
/// through under that name.
fn property_added(
    engine: &mut Engine<'_, '_>,
    found: &mut Found,
    path: &str,
    name: &str,
    schema: NodeId,
    original: &Side<'_, '_>,
    update: &Side<'_, '_>,
) {
    let required = update.required.contains(name);
    if engine.is_open(original.facet) {
        let kind = if engine.model.node(schema).kind.is_empty_schema() {
            PropertyWithEmptySchemaAddedToOpenContentModel
        } else if required && engine.has_default(schema) {
            RequiredPropertyWithDefaultAddedToOpenContentModel
        } else if required {
            RequiredPropertyAddedToOpenContentModel
        } else {
            OptionalPropertyAddedToOpenContentModel
        };
        found.add(path, kind);
        return;
    }
    if let Some(covering) = engine.partial_schema(original.facet, name) {
        let kind = if engine.compare_into(found, path, Some(covering), Some(schema)) {
            PropertyAddedIsCoveredByPartiallyOpenContentModel
        } else {
            PropertyAddedNotCoveredByPartiallyOpenContentModel
        };
        found.add(path, kind);
    }
    let kind = match (required, engine.has_default(schema)) {
        (true, true) => RequiredPropertyWithDefaultAddedToUnopenContentModel,
        (true, false) => RequiredPropertyAddedToUnopenContentModel,
        (false, _) => OptionalPropertyAddedToUnopenContentModel,
    };
    found.add(path, kind);
}

fn dependency_sets<'f>(facet: &'f ObjectFacet<'_>) -> HashMap<&'f str, HashSet<&'f str>> {
    let deps = facet.property_dependencies.iter();
    deps.map(|(name, deps)| (*name, deps.iter().copied().collect()))
        .collect()
}

fn dependency_schemas<'f>(facet: &'f ObjectFacet<'_>) -> HashMap<&'f str, NodeId> {
    facet.schema_dependencies.iter().map(|(n, s)| (*n, *s)).collect()
}

/// The names of `a`, then those of `b` not in `a`, each once.
fn union<'s>(a: &[&'s str], b: &[&'s str]) -> Vec<&'s str> {
    let mut seen = HashSet::new();
    a.iter().chain(b).copied().filter(|n| seen.insert(*n)).collect()
}
