//! The rules of combined schemas (`allOf` = product type, `anyOf`/`oneOf` = sum type), including a
//! `type` array, which loads as an `anyOf`.
//!
//! Between two combined schemas: the criterion may only loosen (COMBINED_TYPE_EXTENDED, e.g. to
//! `anyOf`), and the distinct subschemas are matched one to one (a maximum matching over the pairs
//! that are compatible); a smaller side left partly unmatched is COMBINED_TYPE_SUBSCHEMAS_CHANGED.
//! Between a combined schema and another: a sum type in the update may read the original through
//! one branch (SUM_TYPE_EXTENDED), a product type in the original may be narrowed to one of its
//! parts (PRODUCT_TYPE_NARROWED), and a single-subschema combination stands for its subschema.

use std::collections::{HashSet, VecDeque};

use super::compare::{Diff, Engine, Found};
use super::difference::DifferenceType::*;
use super::model::{Criterion, Kind, NodeId};

impl Engine<'_, '_> {
    /// Compares a combined schema with a schema that is not one, when a rule applies; None sends the
    /// pair on to the class comparison (where it is a TYPE_CHANGED).
    pub(super) fn compare_with_one_combined(&mut self, original: NodeId, update: NodeId) -> Option<Vec<Diff>> {
        let model = self.model;
        match (&model.node(original).kind, &model.node(update).kind) {
            (Kind::Combined(..), Kind::Combined(..)) => None,
            (_, Kind::Combined(criterion, subschemas)) => {
                if let [single] = subschemas[..] {
                    let diffs = self.compare(Some(original), Some(single));
                    return self.compatible(&diffs).then(|| diffs.to_vec());
                }
                if *criterion == Criterion::AllOf {
                    return None;
                }
                self.first_compatible(subschemas.iter().map(|&s| (original, s)), SumTypeExtended)
            }
            (Kind::Combined(criterion, subschemas), _) => {
                if let [single] = subschemas[..] {
                    let diffs = self.compare(Some(single), Some(update));
                    return self.compatible(&diffs).then(|| diffs.to_vec());
                }
                if *criterion != Criterion::AllOf {
                    return None;
                }
                self.first_compatible(subschemas.iter().map(|&s| (s, update)), ProductTypeNarrowed)
            }
            _ => None,
        }
    }

    /// The differences of the first compatible pair, plus `kind` at the pair.
    fn first_compatible(
        &mut self,
        pairs: impl Iterator<Item = (NodeId, NodeId)>,
        kind: super::difference::DifferenceType,
    ) -> Option<Vec<Diff>> {
        for (original, update) in pairs {
            let diffs = self.compare(Some(original), Some(update));
            if self.compatible(&diffs) {
                let mut found = Found(diffs.to_vec());
                found.add("", kind);
                return Some(found.0);
            }
        }
        None
    }

    /// Confluent's `CombinedSchemaDiff`.
    pub(super) fn compare_combined(
        &mut self,
        found: &mut Found,
        (original_criterion, original): (Criterion, &[NodeId]),
        (update_criterion, update): (Criterion, &[NodeId]),
    ) {
        if original_criterion != update_criterion {
            let loosened = update_criterion == Criterion::AnyOf
                || (original.len() == 1 && update.len() == 1)
                || (original.len() == 1 && update_criterion == Criterion::OneOf)
                || (update.len() == 1 && original_criterion == Criterion::AllOf);
            if !loosened {
                found.add("", CombinedTypeChanged);
                return;
            }
            found.add("", CombinedTypeExtended);
        }
        let (original, update) = (self.distinct(original), self.distinct(update));
        if original.len() < update.len() {
            let kind = if update_criterion == Criterion::AllOf {
                ProductTypeExtended
            } else {
                SumTypeExtended
            };
            found.add("", kind);
        } else if original.len() > update.len() {
            let kind = if original_criterion == Criterion::AllOf {
                ProductTypeNarrowed
            } else {
                SumTypeNarrowed
            };
            found.add("", kind);
        }
        let mut edges: Vec<Vec<(usize, Vec<Diff>)>> = Vec::with_capacity(original.len());
        for (index, &o) in original.iter().enumerate() {
            let prefix = format!("{}/{index}", original_criterion.as_str());
            let mut compatible = Vec::new();
            for (j, &u) in update.iter().enumerate() {
                let diffs = self.compare(Some(o), Some(u));
                if self.compatible(&diffs) {
                    let mut rebased = Found::default();
                    rebased.extend(&prefix, &diffs);
                    compatible.push((j, rebased.0));
                }
            }
            edges.push(compatible);
        }
        let adjacency: Vec<Vec<usize>> = edges.iter().map(|e| e.iter().map(|(j, _)| *j).collect()).collect();
        let matching = maximum_matching(&adjacency, update.len());
        for &(i, j) in &matching {
            if let Some((_, diffs)) = edges[i].iter().find(|(k, _)| *k == j) {
                found.0.extend(diffs.iter().cloned());
            }
        }
        if matching.len() < original.len().min(update.len()) {
            found.add("", CombinedTypeSubschemasChanged);
        }
    }

    /// The subschemas with duplicates (equal as written) dropped, first occurrence kept.
    fn distinct(&self, subschemas: &[NodeId]) -> Vec<NodeId> {
        let mut seen = HashSet::new();
        subschemas
            .iter()
            .copied()
            .filter(|&id| {
                let (value, part) = self.model.node(id).source;
                seen.insert((value.to_string(), format!("{part:?}")))
            })
            .collect()
    }
}

/// A maximum matching of the bipartite graph where left vertex `i` may pair with the right vertices
/// `adjacency[i]` (augmenting paths found breadth first, so no recursion); returns the pairs.
fn maximum_matching(adjacency: &[Vec<usize>], right: usize) -> Vec<(usize, usize)> {
    let mut left_match: Vec<Option<usize>> = vec![None; adjacency.len()];
    let mut right_match: Vec<Option<usize>> = vec![None; right];
    for start in 0..adjacency.len() {
        let mut reached_from: Vec<Option<usize>> = vec![None; right];
        let mut queue = VecDeque::from([start]);
        let mut free = None;
        'search: while let Some(i) = queue.pop_front() {
            for &j in &adjacency[i] {
                if reached_from[j].is_some() {
                    continue;
                }
                reached_from[j] = Some(i);
                match right_match[j] {
                    None => {
                        free = Some(j);
                        break 'search;
                    }
                    Some(next) => queue.push_back(next),
                }
            }
        }
        // Flip the path back from the free right vertex to `start`.
        let mut at = free;
        while let Some(j) = at {
            let Some(i) = reached_from[j] else { break };
            at = left_match[i];
            left_match[i] = Some(j);
            right_match[j] = Some(i);
        }
    }
    left_match
        .iter()
        .enumerate()
        .filter_map(|(i, j)| j.map(|j| (i, j)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::maximum_matching;

    #[test]
    fn matching_reassigns_earlier_pairs_to_cover_more() {
        // 0 may take 0 or 1, 1 only 0: the greedy 0-0 must move to 0-1.
        let matching = maximum_matching(&[vec![0, 1], vec![0]], 2);
        assert_eq!(matching, vec![(0, 1), (1, 0)]);
        assert_eq!(maximum_matching(&[vec![0], vec![0]], 1).len(), 1);
        assert!(maximum_matching(&[vec![], vec![]], 3).is_empty());
    }
}
