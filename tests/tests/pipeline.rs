//! The pipeline as far as it exists: schemas registered in the registry, signed events produced by
//! `sink-worker gen` into real Kafka, and read back and checked by `sink-worker inspect`.

mod common;

use common::Registry;

fn line_with<'a>(out: &'a str, needle: &str) -> &'a str {
    out.lines()
        .find(|l| l.contains(needle))
        .unwrap_or_else(|| panic!("no line with {needle:?} in:\n{out}"))
}

#[tokio::test]
async fn generated_events_are_read_back_signed_valid_and_gapless() {
    common::require_service("Kafka", &common::kafka_brokers());
    let registry = Registry::start().await;
    registry
        .register_file("billing.member_active", "billing/member_active.avsc")
        .await;
    let topic = common::unique("events.billing");
    let keys = [("default", "s3cret")];

    let out = common::sink_worker(
        &registry,
        &keys,
        &[
            "gen",
            "--topic",
            &topic,
            "--type",
            "billing.member_active",
            "--count",
            "3000",
            "--streams",
            "3",
            "--partitions",
            "4",
        ],
    );
    assert!(out.contains("produced 3000 events of billing.member_active"), "{out}");

    let out = common::sink_worker(&registry, &keys, &["inspect", "--topic", &topic, "--idle-secs", "5"]);
    assert!(
        out.contains(&format!("{topic}: 3000 records, 3000 valid, 0 invalid")),
        "{out}"
    );
    for stream in 0..3 {
        let row: Vec<&str> = line_with(&out, &format!("gen-{stream} ")).split_whitespace().collect();
        // type host pid events max_offset missing dupes
        assert_eq!(row[3..], ["1000", "999", "0", "0"], "{out}");
    }

    // A topic that does not exist is an error, not an empty report after the idle wait.
    let missing = common::unique("events.missing");
    let out = common::sink_worker_output(&registry, &keys, &["inspect", "--topic", &missing]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(
        stderr.contains(&format!("topic \"{missing}\" does not exist")),
        "{stderr}"
    );
}

#[tokio::test]
async fn events_signed_with_an_unknown_or_wrong_key_are_reported_invalid() {
    common::require_service("Kafka", &common::kafka_brokers());
    let registry = Registry::start().await;
    registry.register_file("client.api_call", "client/api_call.avsc").await;
    let topic = common::unique("events.client");
    common::sink_worker(
        &registry,
        &[("default", "attacker")],
        &[
            "gen",
            "--topic",
            &topic,
            "--type",
            "client.api_call",
            "--count",
            "50",
            "--partitions",
            "1",
        ],
    );
    common::sink_worker(
        &registry,
        &[("rotated", "new")],
        &[
            "gen",
            "--topic",
            &topic,
            "--type",
            "client.api_call",
            "--count",
            "20",
            "--key",
            "rotated",
            "--host-prefix",
            "r",
        ],
    );

    let out = common::sink_worker(
        &registry,
        &[("default", "real"), ("rotated", "new")],
        &["inspect", "--topic", &topic, "--idle-secs", "5"],
    );
    assert!(
        out.contains(&format!("{topic}: 70 records, 20 valid, 50 invalid")),
        "{out}"
    );
    assert!(line_with(&out, "bad_signature").trim_end().ends_with(" 50"), "{out}");
    // Inspecting with only the default key: the rotated key's events name a key we do not have.
    let out = common::sink_worker(
        &registry,
        &[("default", "attacker")],
        &["inspect", "--topic", &topic, "--idle-secs", "5"],
    );
    assert!(line_with(&out, "unknown_key").trim_end().ends_with(" 20"), "{out}");
}

#[test]
fn run_without_a_pipeline_says_what_is_missing() {
    let out = std::process::Command::new(common::binary("sink-worker"))
        .args([
            "--config",
            common::workspace_path("config/schema-registry.toml").to_str().unwrap(),
            "run",
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("unknown field") || stderr.contains("[pipeline]"),
        "{stderr}"
    );
    let out = std::process::Command::new(common::binary("sink-worker"))
        .arg("run")
        .env_remove("SINK_WORKER_CONFIG")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("no [pipeline] in the configuration"), "{stderr}");
}

#[test]
fn reliability_commands_without_their_configuration_fail_with_a_clear_error() {
    let run = |args: &[&str]| {
        let out = std::process::Command::new(common::binary("sink-worker"))
            .args(args)
            .env_remove("SINK_WORKER_CONFIG")
            .output()
            .unwrap();
        assert!(!out.status.success(), "{args:?} succeeded");
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    // The monitor and a backfill work on a pipeline; the archiver needs topics.
    let stderr = run(&["monitor"]);
    assert!(stderr.contains("no [pipeline] in the configuration"), "{stderr}");
    let stderr = run(&["backfill", "--type", "t", "--from", "2026-11-26", "--to", "2026-11-27"]);
    assert!(stderr.contains("no [pipeline] in the configuration"), "{stderr}");
    let stderr = run(&["archive"]);
    assert!(stderr.contains("archive.topics"), "{stderr}");
    // Bad arguments are refused before anything is opened.
    let stderr = run(&["backfill", "--type", "t"]);
    assert!(stderr.contains("--from"), "{stderr}");
}
