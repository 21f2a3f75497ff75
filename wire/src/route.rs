//! Routing by event type (docs/INGESTION.md, "Routing"): the table that maps an envelope's `type` to
//! one of several routes (pipelines, topics). The server and the producer's direct-Kafka mode share
//! it, so a type is routed the same way whichever path an event takes: the UID includes the topic,
//! and one event must never land on two topics.
//!
//! Order of precedence: an exact name, then `*` patterns with the longest literal prefix first
//! (ties: the longer literal text, then the order they were added), then the default route.
//!
//! Hot path: [`Routes::route`] runs once per event: one hash lookup, then a scan of the patterns.

use std::collections::HashMap;

/// A type pattern: literal text with `*` standing for any run of characters (dots included).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pattern {
    text: String,
    /// The literal pieces between the stars, in order.
    pieces: Vec<String>,
}

impl Pattern {
    /// Parses `text`; `None` when it holds no `*` (it is then an exact name).
    pub fn parse(text: &str) -> Option<Pattern> {
        if !text.contains('*') {
            return None;
        }
        Some(Pattern {
            text: text.to_owned(),
            pieces: text.split('*').map(str::to_owned).collect(),
        })
    }

    /// The pattern as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The literal text before the first `*`.
    pub fn literal_prefix(&self) -> &str {
        self.pieces.first().map_or("", String::as_str)
    }

    fn literal_len(&self) -> usize {
        self.pieces.iter().map(String::len).sum()
    }

    /// Whether `name` matches: the first piece is a prefix, the last a suffix, and the middle
    /// pieces appear in order between them (leftmost match each, which is exact for `*` globs).
    pub fn matches(&self, name: &str) -> bool {
        let (first, rest) = match self.pieces.split_first() {
            Some(x) => x,
            None => return false,
        };
        let Some(mut tail) = name.strip_prefix(first.as_str()) else {
            return false;
        };
        let Some((last, middle)) = rest.split_last() else {
            // parse() guarantees a star, so there are at least two pieces.
            return tail.is_empty();
        };
        for piece in middle {
            match tail.find(piece.as_str()) {
                Some(at) => tail = &tail[at + piece.len()..],
                None => return false,
            }
        }
        tail.len() >= last.len() && tail.ends_with(last.as_str())
    }
}

/// A type name or pattern, as a configuration lists them: exact unless it holds a `*`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TypeMatch {
    Exact(String),
    Pattern(Pattern),
}

impl TypeMatch {
    pub fn parse(text: &str) -> TypeMatch {
        Pattern::parse(text).map_or_else(|| TypeMatch::Exact(text.to_owned()), TypeMatch::Pattern)
    }

    /// Whether `name` is this type or matches this pattern.
    pub fn matches(&self, name: &str) -> bool {
        match self {
            TypeMatch::Exact(t) => t == name,
            TypeMatch::Pattern(p) => p.matches(name),
        }
    }
}

/// Why a routing table could not be built. Each names what two routes claim.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RouteError {
    #[error("type {name:?} is claimed by routes {first} and {second}")]
    ExactClaimedTwice { name: String, first: usize, second: usize },
    #[error("pattern {pattern:?} is claimed by routes {first} and {second}")]
    PatternClaimedTwice {
        pattern: String,
        first: usize,
        second: usize,
    },
    #[error("routes {first} and {second} are both the default")]
    TwoDefaults { first: usize, second: usize },
    #[error("an empty type name is not a route")]
    Empty,
}

/// The routing table: type -> route index.
#[derive(Debug, Clone, Default)]
pub struct Routes {
    exact: HashMap<Box<str>, usize>,
    /// Sorted by precedence (see the module doc).
    patterns: Vec<(Pattern, usize)>,
    default: Option<usize>,
}

impl Routes {
    /// An empty table: every type is unrouted.
    pub fn new() -> Routes {
        Routes::default()
    }

    /// Adds a name or `*` pattern for `route`. Adding the same name twice to one route is harmless.
    pub fn add(&mut self, name_or_pattern: &str, route: usize) -> Result<(), RouteError> {
        if name_or_pattern.is_empty() {
            return Err(RouteError::Empty);
        }
        match TypeMatch::parse(name_or_pattern) {
            TypeMatch::Exact(name) => match self.exact.get(name.as_str()) {
                Some(&first) if first != route => Err(RouteError::ExactClaimedTwice {
                    name,
                    first,
                    second: route,
                }),
                Some(_) => Ok(()),
                None => {
                    self.exact.insert(name.into_boxed_str(), route);
                    Ok(())
                }
            },
            TypeMatch::Pattern(p) => {
                if let Some(&(_, first)) = self.patterns.iter().find(|(q, _)| q.text == p.text) {
                    return if first == route {
                        Ok(())
                    } else {
                        Err(RouteError::PatternClaimedTwice {
                            pattern: p.text,
                            first,
                            second: route,
                        })
                    };
                }
                self.patterns.push((p, route));
                // Stable: equal keys keep the order they were added in.
                self.patterns.sort_by_key(|(p, _)| {
                    (
                        std::cmp::Reverse(p.literal_prefix().len()),
                        std::cmp::Reverse(p.literal_len()),
                    )
                });
                Ok(())
            }
        }
    }

    /// Makes `route` take every type nothing else claims.
    pub fn set_default(&mut self, route: usize) -> Result<(), RouteError> {
        match self.default {
            Some(first) if first != route => Err(RouteError::TwoDefaults { first, second: route }),
            _ => {
                self.default = Some(route);
                Ok(())
            }
        }
    }

    /// The route of `event_type`, or `None` when nothing claims it and there is no default.
    pub fn route(&self, event_type: &str) -> Option<usize> {
        if let Some(&r) = self.exact.get(event_type) {
            return Some(r);
        }
        self.patterns
            .iter()
            .find(|(p, _)| p.matches(event_type))
            .map(|&(_, r)| r)
            .or(self.default)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(entries: &[(&str, usize)], default: Option<usize>) -> Routes {
        let mut r = Routes::new();
        for (name, route) in entries {
            r.add(name, *route).unwrap();
        }
        if let Some(d) = default {
            r.set_default(d).unwrap();
        }
        r
    }

    #[test]
    fn exact_names_beat_patterns_and_longer_prefixes_beat_shorter() {
        let r = table(
            &[
                ("billing.*", 1),
                ("billing.member_active", 0),
                ("*", 2),
                ("billing.invoice.*", 3),
                ("*.audit", 4),
                ("client.*.v2", 5),
            ],
            Some(9),
        );
        let cases = [
            ("billing.member_active", Some(0)),
            ("billing.refund", Some(1)),
            ("billing.invoice.paid", Some(3)),
            ("billing.invoice", Some(1)),
            ("client.api.v2", Some(5)),
            ("client.api.v3", Some(2)),
            // "*" and "*.audit" share the empty prefix: the longer literal is tried first.
            ("x.audit", Some(4)),
        ];
        for (name, want) in cases {
            assert_eq!(r.route(name), want, "{name}");
        }
    }

    #[test]
    fn the_default_takes_what_nothing_claims_and_without_one_the_type_is_unrouted() {
        let with = table(&[("a.b", 0), ("c.*", 1)], Some(2));
        let without = table(&[("a.b", 0), ("c.*", 1)], None);
        for (name, with_default, without_default) in [
            ("a.b", Some(0), Some(0)),
            ("a.bc", Some(2), None),
            ("c.", Some(1), Some(1)),
            ("c", Some(2), None),
            ("", Some(2), None),
        ] {
            assert_eq!(with.route(name), with_default, "{name:?}");
            assert_eq!(without.route(name), without_default, "{name:?}");
        }
    }

    #[test]
    fn patterns_match_as_globs() {
        for (pattern, name, matches) in [
            ("billing.*", "billing.x", true),
            ("billing.*", "billing.", true),
            ("billing.*", "billing", false),
            ("billing.*", "xbilling.y", false),
            ("*.v2", "api.v2", true),
            ("*.v2", "api.v20", false),
            ("a*b*c", "abc", true),
            ("a*b*c", "axxbyyc", true),
            ("a*b*c", "acb", false),
            ("a*a", "a", false),
            ("a*a", "aa", true),
            ("*", "", true),
            ("**", "anything", true),
        ] {
            let p = Pattern::parse(pattern).unwrap();
            assert_eq!(p.matches(name), matches, "{pattern} ~ {name}");
        }
        assert_eq!(Pattern::parse("no.star"), None);
    }

    #[test]
    fn two_routes_claiming_one_name_pattern_or_default_are_refused() {
        let mut r = Routes::new();
        r.add("a.b", 0).unwrap();
        r.add("a.b", 0).unwrap();
        assert_eq!(
            r.add("a.b", 1),
            Err(RouteError::ExactClaimedTwice {
                name: "a.b".into(),
                first: 0,
                second: 1
            })
        );
        r.add("a.*", 0).unwrap();
        assert!(matches!(r.add("a.*", 1), Err(RouteError::PatternClaimedTwice { .. })));
        r.set_default(1).unwrap();
        assert_eq!(r.set_default(0), Err(RouteError::TwoDefaults { first: 1, second: 0 }));
        assert_eq!(r.add("", 0), Err(RouteError::Empty));
    }
}
