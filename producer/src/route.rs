//! Which Kafka topic each event type goes to, decided once when the type is opened so that a retry
//! never sends the same UID to a second topic (the UID includes the topic). [`Topics::routed`] uses
//! murron-server's routing table (`murron_wire::route`), so both paths route a type alike.

use std::fmt;
use std::sync::Arc;

use murron_wire::route::{RouteError, Routes};

/// A type's topic, or `None` for a type that has none.
pub type TopicFn = dyn Fn(&str) -> Option<String> + Send + Sync;

/// The topic of each event type, for direct-to-Kafka sending.
#[derive(Clone)]
pub enum Topics {
    /// Every type to one topic.
    Fixed(String),
    /// By the routing table: route `i` goes to `topics[i]`; an unrouted type has no topic.
    Routed {
        routes: Arc<Routes>,
        topics: Arc<[Arc<str>]>,
    },
    /// A function of the type; `None` refuses the type.
    ByType(Arc<TopicFn>),
}

impl Topics {
    /// Routes as murron-server's pipelines do: each `(names and * patterns, topic)` entry, then the
    /// `default` topic for the types no entry names (none: those types are refused).
    pub fn routed<'a>(
        entries: impl IntoIterator<Item = (&'a [&'a str], &'a str)>,
        default: Option<&str>,
    ) -> Result<Topics, RouteError> {
        let mut routes = Routes::new();
        let mut topics: Vec<Arc<str>> = Vec::new();
        for (types, topic) in entries {
            for t in types {
                routes.add(t, topics.len())?;
            }
            topics.push(topic.into());
        }
        if let Some(topic) = default {
            routes.set_default(topics.len())?;
            topics.push(topic.into());
        }
        Ok(Topics::Routed {
            routes: Arc::new(routes),
            topics: topics.into(),
        })
    }

    /// The topic for `event_type`, if it has one.
    pub fn topic(&self, event_type: &str) -> Option<Arc<str>> {
        match self {
            Self::Fixed(t) => Some(t.as_str().into()),
            Self::Routed { routes, topics } => routes.route(event_type).and_then(|i| topics.get(i)).cloned(),
            Self::ByType(f) => f(event_type).map(Arc::from),
        }
    }
}

impl fmt::Debug for Topics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Fixed(t) => f.debug_tuple("Fixed").field(t).finish(),
            Self::Routed { routes, topics } => f
                .debug_struct("Routed")
                .field("routes", routes)
                .field("topics", topics)
                .finish(),
            Self::ByType(_) => f.write_str("ByType(..)"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routed_topics_take_exact_names_then_patterns_then_the_default() {
        let topics = Topics::routed(
            [
                (&["billing.*"][..], "events.billing"),
                (&["billing.refund", "audit.*"][..], "events.audit"),
            ],
            Some("events.misc"),
        )
        .unwrap();
        for (ty, topic) in [
            ("billing.member_active", "events.billing"),
            ("billing.refund", "events.audit"),
            ("audit.login", "events.audit"),
            ("client.api_call", "events.misc"),
        ] {
            assert_eq!(topics.topic(ty).as_deref(), Some(topic), "{ty}");
        }
        let strict = Topics::routed([(&["billing.*"][..], "events.billing")], None).unwrap();
        assert_eq!(strict.topic("client.api_call"), None);
        assert!(Topics::routed([(&["a"][..], "t1"), (&["a"][..], "t2")], None).is_err());
    }
}
