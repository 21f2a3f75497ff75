//! How Murron's components reach the services they share: Kafka client settings ([`kafka`]), the
//! schema registry's HTTP API ([`registry`]), the one retry backoff ([`retry`]), readiness as a
//! set of reasons ([`readiness`]) and the TLS pieces its clients share ([`tls`]). The sink, the
//! producer library and murron-server all build their clients here, so settings cannot drift.

pub mod env;
pub mod kafka;
pub mod readiness;
pub mod registry;
pub mod retry;
pub mod tls;
