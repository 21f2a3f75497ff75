//! Ingestion pipelines, the first half of the talk's DAB pipelines: an input, the types it takes, a
//! rate limit and the Kafka topic they go to. [`IngestPipeline`] is the builder, in the sink's style;
//! the `[[pipelines]]` tables of the TOML configuration deserialize into the same structure.
//!
//! ```
//! use murron_server::config::{IngestPipeline, Input, topic};
//! let p = IngestPipeline::new("billing")
//!     .input(Input::Grpc)
//!     .filter_type("billing.member_active")
//!     .filter_type("billing.*")
//!     .with_rate_limit_per_second(50_000)
//!     .output(topic("events.billing"));
//! assert_eq!(p.topic, "events.billing");
//! ```

use serde::{Deserialize, Serialize};

use murron_wire::route::{RouteError, Routes};

/// Where events come in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Input {
    /// `murron.ingest.v1.Ingest` (Publish, PublishStream).
    Grpc,
    /// `POST /v1/publish`.
    Http,
}

impl Input {
    pub const ALL: [Input; 2] = [Input::Grpc, Input::Http];

    /// The metric label and configuration name.
    pub fn name(self) -> &'static str {
        match self {
            Input::Grpc => "grpc",
            Input::Http => "http",
        }
    }
}

/// The output of an ingestion pipeline: a Kafka topic on the server's cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Output {
    pub topic: String,
}

/// The Kafka topic `name`.
pub fn topic(name: impl Into<String>) -> Output {
    Output { topic: name.into() }
}

/// One ingestion pipeline: the types it takes from its inputs and the topic they are stored in.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IngestPipeline {
    /// For metrics and messages.
    pub name: String,
    /// The inputs it takes events from; empty (the default) takes both.
    #[serde(default)]
    pub inputs: Vec<Input>,
    /// Exact type names and `*` patterns (murron_wire::route).
    #[serde(default)]
    pub filter_type: Vec<String>,
    /// Takes every type that no other pipeline of the same input names.
    #[serde(default)]
    pub default: bool,
    /// At most this many events a second are taken; the rest are answered RETRY `rate_limited`. 0 is
    /// no limit.
    #[serde(default)]
    pub rate_limit_per_second: u32,
    /// Only 1 is accepted: sampling belongs to the sink (see [`IngestPipeline::validate`]).
    #[serde(default = "one")]
    pub sample_rate: u32,
    /// The Kafka topic.
    pub topic: String,
}

fn one() -> u32 {
    1
}

impl IngestPipeline {
    /// A pipeline taking no types yet, from both inputs, to no topic yet.
    pub fn new(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            inputs: Vec::new(),
            filter_type: Vec::new(),
            default: false,
            rate_limit_per_second: 0,
            sample_rate: 1,
            topic: String::new(),
        }
    }

    /// Takes events from `input` (call again for more; without a call, from every input).
    pub fn input(mut self, input: Input) -> Self {
        if !self.inputs.contains(&input) {
            self.inputs.push(input);
        }
        self
    }

    /// Takes events of this type or `*` pattern (call again for more).
    pub fn filter_type(mut self, name_or_pattern: impl Into<String>) -> Self {
        self.filter_type.push(name_or_pattern.into());
        self
    }

    /// Makes this the default route: it takes the types no other pipeline names.
    pub fn default_route(mut self) -> Self {
        self.default = true;
        self
    }

    pub fn with_rate_limit_per_second(mut self, n: u32) -> Self {
        self.rate_limit_per_second = n;
        self
    }

    /// Kept for parity with the sink's builder; [`IngestPipeline::validate`] refuses values above 1.
    pub fn with_sample_rate(mut self, n: u32) -> Self {
        self.sample_rate = n;
        self
    }

    pub fn output(mut self, output: Output) -> Self {
        self.topic = output.topic;
        self
    }

    /// Whether the pipeline takes events from `input`.
    pub fn takes(&self, input: Input) -> bool {
        self.inputs.is_empty() || self.inputs.contains(&input)
    }

    /// One line for `murron-server check`.
    pub fn describe(&self) -> String {
        let inputs: Vec<&str> = Input::ALL
            .into_iter()
            .filter(|i| self.takes(*i))
            .map(Input::name)
            .collect();
        let mut types = self.filter_type.join(", ");
        if self.default {
            types = if types.is_empty() {
                "default".into()
            } else {
                format!("{types}, default")
            };
        }
        let limit = match self.rate_limit_per_second {
            0 => "no rate limit".to_owned(),
            n => format!("{n}/s"),
        };
        format!(
            "{}: {} types {} -> topic {}, {limit}",
            self.name,
            inputs.join("+"),
            types,
            self.topic
        )
    }

    /// Checks one pipeline alone; [`validate_all`] checks them together. The error names the key.
    pub fn validate(&self) -> Result<(), (String, String)> {
        let key = |k: &str| format!("pipelines.{}.{k}", self.name);
        if self.name.is_empty()
            || !self
                .name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
        {
            return Err((
                "pipelines.name".into(),
                format!("{:?} must be non-empty [A-Za-z0-9._-]", self.name),
            ));
        }
        if self.topic.trim().is_empty() {
            return Err((key("topic"), "must name a Kafka topic".into()));
        }
        if !valid_topic(&self.topic) {
            return Err((
                key("topic"),
                format!("{:?} is not a Kafka topic name (1-249 of [A-Za-z0-9._-])", self.topic),
            ));
        }
        if self.filter_type.is_empty() && !self.default {
            return Err((
                key("filter_type"),
                "names no type: list types or patterns, or set default = true".into(),
            ));
        }
        if self.filter_type.iter().any(String::is_empty) {
            return Err((key("filter_type"), "an empty type name is not a route".into()));
        }
        if self.sample_rate == 0 {
            return Err((key("sample_rate"), "must be 1".into()));
        }
        if self.sample_rate > 1 {
            // Dropping events before the sink tracks them turns each dropped offset into a gap: the
            // monitor reports loss and the backfill tries to repair it.
            return Err((
                key("sample_rate"),
                format!(
                    "{} is not supported at the edge: sampled events would look lost to the reliability monitor; \
                     sample in the sink instead (its pipeline's sample_rate), after offsets are tracked",
                    self.sample_rate
                ),
            ));
        }
        Ok(())
    }
}

/// Kafka's own rule for topic names.
fn valid_topic(name: &str) -> bool {
    (1..=249).contains(&name.len())
        && name != "."
        && name != ".."
        && name.chars().all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
}

/// The routing table of one input: each type to the index of its pipeline in `pipelines`.
pub fn routes_for(pipelines: &[IngestPipeline], input: Input) -> Result<Routes, (String, String)> {
    let mut routes = Routes::new();
    let name = |i: usize| pipelines.get(i).map_or("?", |p| p.name.as_str());
    for (i, p) in pipelines.iter().enumerate().filter(|(_, p)| p.takes(input)) {
        let conflict = |e: RouteError| {
            let reason = match e {
                RouteError::ExactClaimedTwice { name: t, first, .. } => {
                    format!("type {t:?} is also claimed by pipeline {}", name(first))
                }
                RouteError::PatternClaimedTwice { pattern, first, .. } => {
                    format!("pattern {pattern:?} is also claimed by pipeline {}", name(first))
                }
                RouteError::TwoDefaults { first, .. } => {
                    format!("pipeline {} is the default too", name(first))
                }
                RouteError::Empty => "an empty type name is not a route".into(),
            };
            (
                format!("pipelines.{}", p.name),
                format!("{reason} (input {})", input.name()),
            )
        };
        for t in &p.filter_type {
            routes.add(t, i).map_err(conflict)?;
        }
        if p.default {
            routes.set_default(i).map_err(conflict)?;
        }
    }
    Ok(routes)
}

/// Checks every pipeline, then that no two claim one type, one pattern or the default.
pub fn validate_all(pipelines: &[IngestPipeline]) -> Result<(), (String, String)> {
    let mut names = std::collections::HashSet::new();
    for p in pipelines {
        p.validate()?;
        if !names.insert(p.name.as_str()) {
            return Err(("pipelines.name".into(), format!("{:?} is used twice", p.name)));
        }
    }
    for input in Input::ALL {
        routes_for(pipelines, input)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn billing() -> IngestPipeline {
        IngestPipeline::new("billing")
            .filter_type("billing.member_active")
            .filter_type("billing.*")
            .output(topic("events.billing"))
    }

    fn rest() -> IngestPipeline {
        IngestPipeline::new("rest").default_route().output(topic("events.misc"))
    }

    #[test]
    fn pipelines_that_conflict_or_lack_a_part_are_refused_with_the_key_and_reason() {
        let cases: [(Vec<IngestPipeline>, &str, &str); 9] = [
            (
                vec![
                    billing(),
                    IngestPipeline::new("b2")
                        .filter_type("billing.member_active")
                        .output(topic("t")),
                ],
                "pipelines.b2",
                "type \"billing.member_active\" is also claimed by pipeline billing",
            ),
            (
                vec![
                    billing(),
                    IngestPipeline::new("b2").filter_type("billing.*").output(topic("t")),
                ],
                "pipelines.b2",
                "pattern \"billing.*\" is also claimed",
            ),
            (
                vec![rest(), IngestPipeline::new("r2").default_route().output(topic("t"))],
                "pipelines.r2",
                "pipeline rest is the default too",
            ),
            (
                vec![IngestPipeline::new("e").filter_type("a")],
                "pipelines.e.topic",
                "must name a Kafka topic",
            ),
            (
                vec![IngestPipeline::new("e").filter_type("a").output(topic("a/b"))],
                "pipelines.e.topic",
                "not a Kafka topic name",
            ),
            (
                vec![IngestPipeline::new("e").output(topic("t"))],
                "pipelines.e.filter_type",
                "names no type",
            ),
            (
                vec![billing().with_sample_rate(5)],
                "pipelines.billing.sample_rate",
                "sample in the sink instead (its pipeline's sample_rate)",
            ),
            (vec![billing(), billing()], "pipelines.name", "used twice"),
            (
                vec![IngestPipeline::new("").default_route().output(topic("t"))],
                "pipelines.name",
                "must be non-empty",
            ),
        ];
        for (pipelines, key, reason) in cases {
            let (k, r) = validate_all(&pipelines).unwrap_err();
            assert_eq!(k, key, "{r}");
            assert!(r.contains(reason), "{key}: {r}");
        }
    }

    #[test]
    fn the_same_type_may_go_to_different_pipelines_on_different_inputs() {
        let grpc = billing().input(Input::Grpc);
        let http = IngestPipeline::new("billing-http")
            .input(Input::Http)
            .filter_type("billing.*")
            .output(topic("events.billing"));
        let all = [grpc, http, rest()];
        validate_all(&all).unwrap();
        assert_eq!(routes_for(&all, Input::Grpc).unwrap().route("billing.x"), Some(0));
        assert_eq!(routes_for(&all, Input::Http).unwrap().route("billing.x"), Some(1));
        assert_eq!(routes_for(&all, Input::Http).unwrap().route("client.x"), Some(2));
    }

    #[test]
    fn a_pipeline_without_inputs_takes_both() {
        let p = billing();
        assert!(p.takes(Input::Grpc) && p.takes(Input::Http));
        let p = p.input(Input::Http);
        assert!(!p.takes(Input::Grpc) && p.takes(Input::Http));
    }
}
