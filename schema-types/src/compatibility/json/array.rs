//! The rules of array schemas: the schema of all items, the list of item schemas against the
//! content model, `additionalItems`, `unevaluatedItems` and the counts.
//!
//! As for objects, the content model says what an array accepts past its list of item schemas: it
//! is *open* when that is anything, *partially open* when a schema decides it (`additionalItems`,
//! 2020-12 `items` after `prefixItems`, else `unevaluatedItems`), *closed* otherwise. Item schemas at
//! the same index are compared; an item schema on one side only is judged against the other side's
//! content model. Paths name list entries `items/<index>`, as Confluent does for both drafts.

use super::compare::{Engine, Found};
use super::difference::DifferenceType::{self, *};
use super::model::{ArrayFacet, Kind, NodeId};
use super::scalar::compare_bound;

impl Engine<'_, '_> {
    /// Confluent's `ArraySchemaDiff`.
    pub(super) fn compare_arrays(&mut self, found: &mut Found, original: &ArrayFacet, update: &ArrayFacet) {
        self.compare_into(found, "items", original.all_items, update.all_items);
        self.compare_item_lists(found, original, update);
        self.compare_additional_items(found, original, update);
        self.compare_unevaluated(
            found,
            "unevaluatedItems",
            original.unevaluated,
            update.unevaluated,
            [
                UnevaluatedItemsAdded,
                UnevaluatedItemsRemoved,
                UnevaluatedItemsExtended,
                UnevaluatedItemsNarrowed,
            ],
        );
        compare_bound(
            found,
            "maxItems",
            original.max_items,
            update.max_items,
            [MaxItemsAdded, MaxItemsRemoved, MaxItemsIncreased, MaxItemsDecreased],
        );
        compare_bound(
            found,
            "minItems",
            original.min_items,
            update.min_items,
            [MinItemsAdded, MinItemsRemoved, MinItemsIncreased, MinItemsDecreased],
        );
        match (original.unique_items, update.unique_items) {
            (true, false) => found.add("uniqueItems", UniqueItemsRemoved),
            (false, true) => found.add("uniqueItems", UniqueItemsAdded),
            _ => {}
        }
        compare_bound(
            found,
            "maxContains",
            original.max_contains,
            update.max_contains,
            [
                MaxContainsAdded,
                MaxContainsRemoved,
                MaxContainsIncreased,
                MaxContainsDecreased,
            ],
        );
        compare_bound(
            found,
            "minContains",
            original.min_contains,
            update.min_contains,
            [
                MinContainsAdded,
                MinContainsRemoved,
                MinContainsIncreased,
                MinContainsDecreased,
            ],
        );
    }

    fn compare_item_lists(&mut self, found: &mut Found, original: &ArrayFacet, update: &ArrayFacet) {
        let o = original.item_list.as_deref().unwrap_or_default();
        let u = update.item_list.as_deref().unwrap_or_default();
        for index in 0..o.len().max(u.len()) {
            let path = format!("items/{index}");
            match (o.get(index), u.get(index)) {
                (Some(&o), Some(&u)) => {
                    self.compare_into(found, &path, Some(o), Some(u));
                }
                (Some(&o), None) => self.item_removed(found, &path, o, update),
                (None, Some(&u)) => self.item_added(found, &path, u, original),
                (None, None) => {}
            }
        }
    }

    /// An item schema the update's list no longer has: its content model must accept the item.
    fn item_removed(&mut self, found: &mut Found, path: &str, schema: NodeId, update: &ArrayFacet) {
        let kind = if self.is_open_array(update) {
            ItemRemovedFromOpenContentModel
        } else if let Some(covering) = self.partial_items(update) {
            if self.compare_into(found, path, Some(schema), Some(covering)) {
                ItemRemovedIsCoveredByPartiallyOpenContentModel
            } else {
                ItemRemovedNotCoveredByPartiallyOpenContentModel
            }
        } else if matches!(self.model.node(schema).kind, Kind::False) {
            ItemWithFalseRemovedFromClosedContentModel
        } else {
            ItemRemovedFromClosedContentModel
        };
        found.add(path, kind);
    }

    /// An item schema only the update's list has: it must accept what the original let through.
    fn item_added(&mut self, found: &mut Found, path: &str, schema: NodeId, original: &ArrayFacet) {
        let kind = if self.is_open_array(original) {
            if self.model.node(schema).kind.is_empty_schema() {
                ItemWithEmptySchemaAddedToOpenContentModel
            } else {
                ItemAddedToOpenContentModel
            }
        } else if let Some(covering) = self.partial_items(original) {
            if self.compare_into(found, path, Some(covering), Some(schema)) {
                ItemAddedIsCoveredByPartiallyOpenContentModel
            } else {
                ItemAddedNotCoveredByPartiallyOpenContentModel
            }
        } else {
            ItemAddedToClosedContentModel
        };
        found.add(path, kind);
    }

    fn compare_additional_items(&mut self, found: &mut Found, original: &ArrayFacet, update: &ArrayFacet) {
        let path = "additionalItems";
        let kind: DifferenceType = if original.permits_additional != update.permits_additional {
            if original.permits_additional {
                AdditionalItemsRemoved
            } else {
                AdditionalItemsAdded
            }
        } else {
            match (original.additional, update.additional) {
                (None, Some(_)) => AdditionalItemsNarrowed,
                (Some(_), None) => AdditionalItemsExtended,
                (o, u) => {
                    self.compare_into(found, path, o, u);
                    return;
                }
            }
        };
        found.add(path, kind);
    }

    /// Whether the array accepts any value past its list of item schemas.
    fn is_open_array(&self, facet: &ArrayFacet) -> bool {
        facet.permits_additional
            && facet.additional.is_none()
            && facet
                .unevaluated
                .is_none_or(|u| self.model.node(u).kind.is_empty_schema())
    }

    /// The schema a partially open array applies past its list of item schemas.
    fn partial_items(&self, facet: &ArrayFacet) -> Option<NodeId> {
        if facet.additional.is_some() {
            return facet.additional;
        }
        let unevaluated = facet.unevaluated.filter(|_| facet.permits_additional)?;
        let kind = &self.model.node(unevaluated).kind;
        (!matches!(kind, Kind::False) && !kind.is_empty_schema()).then_some(unevaluated)
    }
}
