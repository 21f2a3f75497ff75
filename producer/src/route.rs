//! Which Kafka topic each event type goes to, decided once when the type is opened so that a retry
//! never sends the same UID to a second topic (the UID includes the topic).

use std::fmt;
use std::sync::Arc;

/// A type's topic, or `None` for a type that has none.
pub type TopicFn = dyn Fn(&str) -> Option<String> + Send + Sync;

/// The topic of each event type, for direct-to-Kafka sending.
#[derive(Clone)]
pub enum Topics {
    /// Every type to one topic.
    Fixed(String),
    /// A function of the type; `None` refuses the type.
    ByType(Arc<TopicFn>),
}

impl Topics {
    /// The topic for `event_type`, if it has one.
    pub fn topic(&self, event_type: &str) -> Option<Arc<str>> {
        match self {
            Self::Fixed(t) => Some(t.as_str().into()),
            Self::ByType(f) => f(event_type).map(Arc::from),
        }
    }
}

impl fmt::Debug for Topics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Fixed(t) => f.debug_tuple("Fixed").field(t).finish(),
            Self::ByType(_) => f.write_str("ByType(..)"),
        }
    }
}
