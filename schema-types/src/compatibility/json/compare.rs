//! The comparison of two schema nodes: the dispatch on everit's classes, the `$ref`-following,
//! cycle-breaking and memoizing recursion, and the limits that keep it finite on any input.
//!
//! A pair of nodes is compared once per pass and its differences kept relative to the pair, then
//! rebased onto each path that reaches it. A pair met again while it is being compared is a cycle
//! through `$ref`s and is assumed compatible (the greatest fixed point). Because a cached result may
//! rest on such an assumption about an ancestor that later proves incompatible, the comparison runs
//! again, seeded with the pairs found incompatible, until that set stops growing, as Confluent does.

use std::collections::{HashMap, HashSet};
use std::rc::Rc;

use serde_json::{Map, Value, json};

use super::difference::DifferenceType::{self, *};
use super::model::{Kind, Model, Node, NodeId};
use crate::compatibility::CompatibilityPolicy;

/// Deepest nesting of pairs compared at once (each `$ref` hop counts).
const MAX_DEPTH: usize = 100;
/// Most work one check may do, over all passes: each pair compared costs one unit plus the number of
/// entries (properties, enum values, subschemas...) its two schemas list.
const MAX_WORK: usize = 20_000_000;
/// Most passes of the fixed-point iteration.
const MAX_PASSES: usize = 16;
/// Most differences kept for one pair: a subschema reached along many paths (a DAG of `$ref`s) would
/// otherwise multiply its differences. The incompatible ones are kept first, so verdicts stand.
const MAX_PAIR_DIFFS: usize = 1_000;
/// Most differences remembered for an incompatible pair (its incompatible ones): enough to keep its
/// verdict and explain it where the pair is reached again, small enough for unions compared pairwise.
const MAX_REMEMBERED_INCOMPATIBLE: usize = 8;
/// Most differences remembered over a check.
const MAX_REMEMBERED: usize = 2_000_000;

/// One difference, with its path relative to the pair of nodes it was found under ("" = the pair).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Diff {
    pub kind: DifferenceType,
    pub path: String,
}

/// Differences under construction, with their paths relative to the pair being compared.
#[derive(Debug, Default)]
pub(super) struct Found(pub Vec<Diff>);

impl Found {
    /// Records `kind` at `path`.
    pub fn add(&mut self, path: &str, kind: DifferenceType) {
        self.0.push(Diff {
            kind,
            path: path.to_string(),
        });
    }

    /// Records `diffs`, found relative to `prefix`.
    pub fn extend(&mut self, prefix: &str, diffs: &[Diff]) {
        self.0.extend(diffs.iter().map(|d| Diff {
            kind: d.kind,
            path: join(prefix, &d.path),
        }));
    }
}

/// `prefix/relative`, where an empty side is the pair itself.
pub(super) fn join(prefix: &str, relative: &str) -> String {
    match (prefix.is_empty(), relative.is_empty()) {
        (_, true) => prefix.to_string(),
        (true, false) => relative.to_string(),
        (false, false) => format!("{prefix}/{relative}"),
    }
}

type Pair = (NodeId, NodeId);
type Diffs = Rc<[Diff]>;

/// What lasts across passes: the work done and the compiled `patternProperties` regexes.
#[derive(Debug, Default)]
struct Shared {
    work: usize,
    remembered: usize,
    limited: bool,
    patterns: HashMap<String, Option<jsonschema::Validator>>,
}

/// One pass of the comparison.
#[derive(Debug)]
pub(super) struct Engine<'m, 's> {
    pub model: &'m Model<'s>,
    policy: CompatibilityPolicy,
    memo: HashMap<Pair, Diffs>,
    in_progress: HashSet<Pair>,
    seed: HashMap<Pair, Diffs>,
    optimistic: bool,
    depth: usize,
    shared: &'m mut Shared,
}

/// The differences between `original` and `update`, judged under `policy` where the rules ask
/// whether a nested change is compatible (paths relative to the roots).
pub(super) fn run(model: &Model<'_>, original: NodeId, update: NodeId, policy: CompatibilityPolicy) -> Vec<Diff> {
    let mut shared = Shared::default();
    let mut seed = HashMap::new();
    let mut passes = 0;
    let mut diffs = loop {
        let mut engine = Engine {
            model,
            policy,
            memo: HashMap::new(),
            in_progress: HashSet::new(),
            seed,
            optimistic: false,
            depth: 0,
            shared: &mut shared,
        };
        let diffs = engine.compare(Some(original), Some(update)).to_vec();
        passes += 1;
        if !engine.optimistic || engine.shared.limited {
            break diffs;
        }
        let incompatible: HashMap<Pair, Diffs> = engine
            .memo
            .iter()
            .filter(|(_, d)| !engine.compatible(d))
            .map(|(pair, d)| (*pair, d.clone()))
            .collect();
        let stable =
            incompatible.len() == engine.seed.len() && incompatible.keys().all(|k| engine.seed.contains_key(k));
        if stable {
            break diffs;
        }
        if passes >= MAX_PASSES {
            engine.shared.limited = true;
            break diffs;
        }
        seed = incompatible;
    };
    if shared.limited && !diffs.iter().any(|d| d.kind == ComparisonLimitReached) {
        diffs.push(Diff {
            kind: ComparisonLimitReached,
            path: String::new(),
        });
    }
    diffs
}

impl<'m, 's> Engine<'m, 's> {
    /// Whether every difference is compatible under the policy.
    pub fn compatible(&self, diffs: &[Diff]) -> bool {
        diffs.iter().all(|d| d.kind.is_compatible(self.policy))
    }

    /// Compares two (possibly absent) subschemas; paths are relative to them.
    pub fn compare(&mut self, original: Option<NodeId>, update: Option<NodeId>) -> Diffs {
        let (original, update) = match (original, update) {
            (None, None) => return Rc::from([]),
            (None, Some(_)) => return single(SchemaAdded),
            (Some(_), None) => return single(SchemaRemoved),
            (Some(o), Some(u)) => (o, u),
        };
        let (Ok(original), Ok(update)) = (self.model.normalize(original), self.model.normalize(update)) else {
            return single(UnresolvedReference);
        };
        let pair = (original, update);
        if let Some(known) = self.memo.get(&pair) {
            return known.clone();
        }
        if self.in_progress.contains(&pair) {
            if let Some(seeded) = self.seed.get(&pair) {
                return seeded.clone();
            }
            self.optimistic = true;
            return Rc::from([]);
        }
        if self.depth >= MAX_DEPTH || self.shared.work >= MAX_WORK || self.shared.remembered >= MAX_REMEMBERED {
            self.shared.limited = true;
            return single(ComparisonLimitReached);
        }
        self.shared.work += 1 + self.model.node(original).kind.entries() + self.model.node(update).kind.entries();
        self.depth += 1;
        self.in_progress.insert(pair);
        let diffs = self.compare_nodes(original, update);
        let diffs: Diffs = self.capped(diffs).into();
        self.in_progress.remove(&pair);
        self.depth -= 1;
        let remembered: Diffs = if self.compatible(&diffs) {
            diffs.clone()
        } else {
            let incompatible = diffs.iter().filter(|d| !d.kind.is_compatible(self.policy));
            incompatible.take(MAX_REMEMBERED_INCOMPATIBLE).cloned().collect()
        };
        self.shared.remembered += remembered.len();
        self.memo.insert(pair, remembered);
        diffs
    }

    /// At most [`MAX_PAIR_DIFFS`] of `diffs`, in order, the incompatible ones first to be kept.
    fn capped(&self, diffs: Vec<Diff>) -> Vec<Diff> {
        if diffs.len() <= MAX_PAIR_DIFFS {
            return diffs;
        }
        let incompatible = diffs.iter().filter(|d| !d.kind.is_compatible(self.policy)).count();
        let mut room_for_compatible = MAX_PAIR_DIFFS.saturating_sub(incompatible);
        let mut room_for_incompatible = MAX_PAIR_DIFFS;
        diffs
            .into_iter()
            .filter(|d| {
                let room = if d.kind.is_compatible(self.policy) {
                    &mut room_for_compatible
                } else {
                    &mut room_for_incompatible
                };
                let keep = *room > 0;
                *room = room.saturating_sub(1);
                keep
            })
            .collect()
    }

    /// Compares `original` and `update` and records the differences under `prefix`; returns
    /// whether they were all compatible.
    pub fn compare_into(
        &mut self,
        found: &mut Found,
        prefix: &str,
        original: Option<NodeId>,
        update: Option<NodeId>,
    ) -> bool {
        let diffs = self.compare(original, update);
        found.extend(prefix, &diffs);
        self.compatible(&diffs)
    }

    /// Whether `pattern` (a `patternProperties` regex) matches somewhere in `name`. A pattern that
    /// does not compile matches nothing.
    pub fn pattern_finds(&mut self, pattern: &str, name: &str) -> bool {
        let validator = self
            .shared
            .patterns
            .entry(pattern.to_string())
            .or_insert_with(|| jsonschema::validator_for(&json!({ "pattern": pattern })).ok());
        validator
            .as_ref()
            .is_some_and(|v| v.is_valid(&Value::String(name.to_string())))
    }

    /// Everit's dispatch on the two schemas' classes (Confluent's `compareTypes`).
    fn compare_nodes(&mut self, original: NodeId, update: NodeId) -> Vec<Diff> {
        let model = self.model;
        let (o, u) = (model.node(original), model.node(update));
        let mut found = Found::default();
        if matches!(o.kind, Kind::TooDeep) || matches!(u.kind, Kind::TooDeep) {
            self.shared.limited = true;
            found.add("", ComparisonLimitReached);
            return found.0;
        }
        if let Some(diffs) = self.compare_with_one_combined(original, update) {
            return diffs;
        }
        if !o.kind.same_class(&u.kind) {
            let bytes_both = connect_type(o) == Some("bytes") && connect_type(u) == Some("bytes");
            if !(matches!(o.kind, Kind::False) || u.kind.is_empty_schema() || bytes_both) {
                found.add("", TypeChanged);
            }
            return found.0;
        }
        compare_annotations(&mut found, o, u);
        match (&o.kind, &u.kind) {
            (Kind::String(a), Kind::String(b)) => super::scalar::compare_strings(&mut found, a, b),
            (Kind::Number(a), Kind::Number(b)) => super::scalar::compare_numbers(&mut found, a, b),
            (Kind::Const(a), Kind::Const(b)) => super::scalar::compare_consts(&mut found, a, b),
            (Kind::Enum(a), Kind::Enum(b)) => super::scalar::compare_enums(&mut found, a, b),
            (Kind::Not(a), Kind::Not(b)) => self.compare_nots(&mut found, *a, *b),
            (Kind::Combined(ca, sa), Kind::Combined(cb, sb)) => self.compare_combined(&mut found, (*ca, sa), (*cb, sb)),
            (Kind::Object(a), Kind::Object(b)) => self.compare_objects(&mut found, a, b),
            (Kind::Array(a), Kind::Array(b)) => self.compare_arrays(&mut found, a, b),
            _ => {}
        }
        found.0
    }

    /// `not`: the update's excluded schema must read the original's (the roles swap).
    fn compare_nots(&mut self, found: &mut Found, original: NodeId, update: NodeId) {
        let swapped = self.compare(Some(update), Some(original));
        let kind = if self.compatible(&swapped) {
            NotTypeNarrowed
        } else {
            NotTypeExtended
        };
        found.add("not", kind);
    }
}

fn single(kind: DifferenceType) -> Diffs {
    Rc::from([Diff {
        kind,
        path: String::new(),
    }])
}

fn connect_type<'s>(node: &Node<'s>) -> Option<&'s str> {
    node.meta?.get("connect.type")?.as_str()
}

/// The annotations Confluent compares on two schemas of one class (all compatible changes).
fn compare_annotations(found: &mut Found, original: &Node<'_>, update: &Node<'_>) {
    if original.id != update.id {
        found.add("", IdChanged);
    }
    for (key, kind) in [
        ("title", TitleChanged),
        ("description", DescriptionChanged),
        ("default", DefaultChanged),
    ] {
        if annotation(original.meta, key) != annotation(update.meta, key) {
            found.add("", kind);
        }
    }
}

fn annotation<'s>(meta: Option<&'s Map<String, Value>>, key: &str) -> Option<&'s Value> {
    meta.and_then(|m| m.get(key))
}
