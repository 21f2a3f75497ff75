//! The reliability monitor and backfill end to end, against real Kafka, PostgreSQL and the registry:
//! events withheld from Kafka but archived are reported as gaps with their exact offsets, repaired
//! by the automatic backfill until the REP score is 100, and every output then holds the generated
//! set exactly once. Events in neither Kafka nor the archive end as an unrecoverable gap.

mod common;

use std::collections::BTreeSet;
use std::path::Path;
use std::time::Duration;

use common::SinkRun;
use common::outputs::{Uid, assert_exactly, eventually, files, generated, iceberg_uids, parquet_uids, warehouse_uids};
use murron_wire::ranges::OffsetRanges;
use sink_worker::generate::{self, Fate, GenOptions, LossPlan};
use sqlx::postgres::PgPool;

use common::world::{API, API_JSON, API_PROTO, BILLING, KEYS, World, auto_backfills};

fn uid_set(uids: &[Uid]) -> BTreeSet<Uid> {
    uids.iter().cloned().collect()
}

/// `sink-worker backfill` over every hour of the billing type; its summary.
fn backfill_all_of_billing(world: &World) -> String {
    world.cli(&[
        "backfill",
        "--type",
        BILLING,
        "--from",
        "2020-01-01",
        "--to",
        "2100-01-01",
    ])
}

/// Every offset the monitor lists as a gap, as UIDs, with the gaps' statuses.
fn gap_uids(gaps: &serde_json::Value) -> (BTreeSet<Uid>, BTreeSet<String>) {
    let mut uids = BTreeSet::new();
    let mut statuses = BTreeSet::new();
    for g in gaps["gaps"].as_array().expect("gaps array") {
        let t = g["type"].as_str().expect("type").to_owned();
        let host = g["host"].as_str().expect("host").to_owned();
        let pid = g["pid"].as_i64().expect("pid") as i32;
        for o in g["first_offset"].as_i64().expect("first")..=g["last_offset"].as_i64().expect("last") {
            uids.insert((t.clone(), host.clone(), pid, o));
        }
        statuses.insert(g["status"].as_str().expect("status").to_owned());
    }
    (uids, statuses)
}

#[tokio::test(flavor = "multi_thread")]
async fn lost_events_are_reported_exactly_and_repaired_from_the_archive_to_a_rep_score_of_100() {
    let world = World::new().await;
    // Billing: random single events, a run of 1,000 and the tail of one stream reach only the archive.
    let billing = world
        .generate(
            BILLING,
            20_000,
            4,
            "bill",
            100,
            LossPlan {
                random: 25,
                run: 1_000,
                tail: 40,
                unrecoverable: 0,
            },
        )
        .await;
    // API calls: a run that reaches neither Kafka nor the archive.
    let api = world
        .generate(
            API,
            2_000,
            2,
            "api",
            300,
            LossPlan {
                unrecoverable: 30,
                ..LossPlan::default()
            },
        )
        .await;
    let withheld = |r: &generate::GenReport, t: &str, fate: Fate| -> BTreeSet<Uid> {
        r.withheld
            .iter()
            .filter(|w| w.3 == fate)
            .map(|(h, p, o, _)| (t.to_owned(), h.clone(), *p, *o))
            .collect()
    };
    let dropped = withheld(&billing, BILLING, Fate::Dropped);
    let lost = withheld(&api, API, Fate::Lost);
    assert_eq!(dropped.len(), 25 + 1_000 + 40);
    assert_eq!(lost.len(), 30);

    let sink = SinkRun::start(&world.registry, &KEYS, &world.config_text()).await;
    let pool = PgPool::connect(&world.registry.database_url).await.expect("connect");
    let in_kafka = 20_000 + 2_000 - dropped.len() - lost.len();
    eventually(120, "every event Kafka has in the warehouse", async || {
        warehouse_uids(&pool, BILLING).await.len() + warehouse_uids(&pool, API).await.len() >= in_kafka
    })
    .await;

    // The monitor, repairs off: the gaps are exactly the withheld events.
    let monitor = SinkRun::monitor(&world.registry, &KEYS, &world.config_text()).await;
    let expected_gaps: BTreeSet<Uid> = dropped.union(&lost).cloned().collect();
    let mut last = serde_json::Value::Null;
    eventually(60, "the withheld events reported as missing gaps", async || {
        last = monitor.get_json("/api/gaps").await;
        let (uids, statuses) = gap_uids(&last);
        uids == expected_gaps && statuses == BTreeSet::from(["missing".to_owned()])
    })
    .await;
    let rel = monitor.get_json(&format!("/api/reliability?type={BILLING}")).await;
    let overall = &rel["overall"];
    assert_eq!(overall["total"], 20_000, "{rel}");
    assert_eq!(overall["missing"], dropped.len(), "{rel}");
    assert_eq!(overall["received"], 20_000 - dropped.len(), "{rel}");
    let expected_score = (20_000 - dropped.len()) as f64 / 20_000.0 * 100.0;
    assert!(
        (overall["rep_score"].as_f64().expect("score") - expected_score).abs() < 1e-9,
        "{rel}"
    );
    assert_eq!(rel["streams"].as_array().expect("streams").len(), 4, "{rel}");
    let metrics = reqwest::get(format!("{}/metrics", monitor.admin))
        .await
        .expect("metrics")
        .text()
        .await
        .expect("body");
    // Every series names its pipeline, so one dashboard serves every event type.
    let rep_line = metrics
        .lines()
        .find(|l| l.starts_with("murron_rep_score{") && l.contains(&format!("type=\"{BILLING}\"")));
    let rep_line = rep_line.unwrap_or_else(|| panic!("no REP gauge in:\n{metrics}"));
    assert!(
        rep_line.contains(&format!("pipeline=\"{}\"", world.topic)),
        "{rep_line}"
    );
    monitor.kill();

    // Repairs on: the automatic backfill fills every archived gap; the lost run is unrecoverable.
    world.write_config(true, 2);
    let monitor = SinkRun::monitor(&world.registry, &KEYS, &world.config_text()).await;
    eventually(
        120,
        "REP 100 for billing and an unrecoverable gap for API calls",
        async || {
            let rel = monitor.get_json(&format!("/api/reliability?type={BILLING}")).await;
            let gaps = monitor.get_json(&format!("/api/gaps?type={API}")).await;
            let (uids, statuses) = gap_uids(&gaps);
            rel["overall"]["rep_score"] == 100.0
                && rel["overall"]["missing"] == 0
                && uids == lost
                && statuses == BTreeSet::from(["unrecoverable".to_owned()])
        },
    )
    .await;
    let rel = monitor.get_json(&format!("/api/reliability?type={BILLING}")).await;
    assert_eq!(rel["overall"]["total"], 20_000, "{rel}");
    assert_eq!(
        rel["overall"]["duplicates"], 0,
        "a backfill's re-reads are not duplicates: {rel}"
    );
    let gaps = monitor.get_json(&format!("/api/gaps?type={API}")).await;
    let reason = gaps["gaps"][0]["reason"].as_str().expect("reason");
    assert!(reason.contains("not in the archive"), "{gaps}");
    let backfills = monitor.get_json("/api/backfills").await;
    let auto = auto_backfills(&backfills);
    assert!(!auto.is_empty(), "{backfills}");
    assert!(auto.iter().all(|b| b["state"] == "done"), "{backfills}");
    let written: i64 = auto.iter().map(|b| b["written"].as_i64().expect("written")).sum();
    assert_eq!(written as usize, dropped.len(), "{backfills}");
    // The unrecoverable gap is not retried: no new backfill is filed for it.
    let filed = auto.len();
    tokio::time::sleep(Duration::from_secs(3)).await;
    let again = monitor.get_json("/api/backfills").await;
    let filed_now = auto_backfills(&again).len();
    assert_eq!(filed_now, filed, "{again}");

    // Every output holds exactly the generated set, once each.
    let mut expected = generated(BILLING, 20_000, 4, "bill", 100);
    expected.extend(
        generated(API, 2_000, 2, "api", 300)
            .into_iter()
            .filter(|u| !lost.contains(u)),
    );
    let mut wh = warehouse_uids(&pool, BILLING).await;
    wh.extend(warehouse_uids(&pool, API).await);
    assert_exactly("warehouse", &wh, &expected);
    assert_exactly("parquet", &parquet_uids(&world.out), &expected);

    // The same backfill again, from the CLI, writes nothing new.
    let summary = backfill_all_of_billing(&world);
    assert!(
        summary.contains(": done (") && summary.contains(" 0 written"),
        "{summary}"
    );
    let mut wh = warehouse_uids(&pool, BILLING).await;
    wh.extend(warehouse_uids(&pool, API).await);
    assert_exactly("warehouse after a second backfill", &wh, &expected);
    assert_eq!(uid_set(&parquet_uids(&world.out)).len(), expected.len());
    monitor.kill();
    sink.stop();
}

/// Each hour of `type` in a `GET /api/reliability/history` answer.
fn history_hours<'a>(history: &'a serde_json::Value, event_type: &str) -> Vec<&'a serde_json::Value> {
    history["hours"]
        .as_array()
        .expect("hours")
        .iter()
        .filter(|h| h["type"] == event_type)
        .collect()
}

/// The (missing, pending) counts of an hour's recorded points, oldest first.
fn history_counts(hour: &serde_json::Value) -> Vec<(i64, i64)> {
    hour["points"]
        .as_array()
        .expect("points")
        .iter()
        .map(|p| {
            (
                p["missing"].as_i64().expect("missing"),
                p["pending"].as_i64().expect("pending"),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_rep_history_keeps_an_hours_drop_after_a_backfill_repairs_it() {
    let world = World::new().await;
    let report = world
        .generate(
            BILLING,
            2_000,
            2,
            "hist",
            500,
            LossPlan {
                run: 100,
                ..LossPlan::default()
            },
        )
        .await;
    let dropped = report.withheld.iter().filter(|w| w.3 == Fate::Dropped).count() as i64;
    assert_eq!(dropped, 100);
    let sink = SinkRun::start(&world.registry, &KEYS, &world.config_text()).await;
    let pool = PgPool::connect(&world.registry.database_url).await.expect("connect");
    eventually(120, "every event Kafka has in the warehouse", async || {
        warehouse_uids(&pool, BILLING).await.len() as i64 >= 2_000 - dropped
    })
    .await;
    // A row of an hour past the retention (90 days by default), as a sweep long ago left it.
    let old_hour = murron_wire::hours::now_hour() - 91 * 24;
    sqlx::query(
        "INSERT INTO reliability_history (pipeline, event_type, hour, seen_at, updated_at, total, missing, pending) \
         VALUES ($1, $2, $3, now(), now(), 10, 1, 0)",
    )
    .bind(&world.topic)
    .bind(BILLING)
    .bind(old_hour)
    .execute(&pool)
    .await
    .expect("insert an old history row");

    // Repairs off: the sweeps record the gap first pending, then missing once the grace has passed.
    let monitor = SinkRun::monitor(&world.registry, &KEYS, &world.config_text()).await;
    let path = format!("/api/reliability/history?type={BILLING}");
    eventually(60, "the drop recorded in the history", async || {
        let history = monitor.get_json(&path).await;
        let missing: i64 = history_hours(&history, BILLING)
            .iter()
            .filter_map(|h| history_counts(h).last().map(|c| c.0))
            .sum();
        missing == dropped
    })
    .await;
    let rows = async || -> i64 {
        sqlx::query_scalar("SELECT count(*) FROM reliability_history WHERE pipeline = $1")
            .bind(&world.topic)
            .fetch_one(&pool)
            .await
            .expect("count history rows")
    };
    let recorded = rows().await;
    let old: i64 = sqlx::query_scalar("SELECT count(*) FROM reliability_history WHERE hour = $1")
        .bind(old_hour)
        .fetch_one(&pool)
        .await
        .expect("count old rows");
    assert_eq!(old, 0, "the sweep deletes hours past the retention");
    // Sweeps every 0.5 s over an unchanged state write nothing.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(rows().await, recorded, "unchanged sweeps grew the history");
    monitor.kill();

    // Two replicas with repairs on: the backfill fills the gap and the next sweep records 100.
    world.write_config(true, 2);
    let monitor = SinkRun::monitor(&world.registry, &KEYS, &world.config_text()).await;
    let replica = SinkRun::monitor(&world.registry, &KEYS, &world.config_text()).await;
    let mut history = serde_json::Value::Null;
    eventually(120, "the repair recorded in the history", async || {
        history = monitor.get_json(&path).await;
        let hours = history_hours(&history, BILLING);
        !hours.is_empty() && hours.iter().all(|h| h["rep_score"] == 100.0)
    })
    .await;
    let backfills = monitor.get_json("/api/backfills").await;
    let auto: Vec<i64> = auto_backfills(&backfills)
        .iter()
        .map(|b| b["id"].as_i64().expect("id"))
        .collect();
    assert!(!auto.is_empty(), "{backfills}");
    let mut lowest_missing = 0;
    for h in history_hours(&history, BILLING) {
        let counts = history_counts(h);
        // Each state is recorded once, whichever replica swept.
        assert!(counts.windows(2).all(|w| w[0] != w[1]), "a state recorded twice: {h}");
        lowest_missing += counts.iter().map(|c| c.0).max().unwrap_or_default();
        if counts.iter().any(|c| c.0 > 0) {
            assert_eq!(h["repaired"], true, "{h}");
            assert!(h["lowest_rep_score"].as_f64().expect("lowest") < 100.0, "{h}");
            let last = h["points"].as_array().and_then(|p| p.last()).expect("a point");
            assert_eq!(last["missing"], 0, "{h}");
            let by: Vec<i64> = last["repaired_by"]
                .as_array()
                .expect("repaired_by")
                .iter()
                .map(|v| v.as_i64().expect("id"))
                .collect();
            assert!(
                !by.is_empty() && by.iter().all(|id| auto.contains(id)),
                "{h} / {backfills}"
            );
        }
    }
    assert_eq!(lowest_missing, dropped, "the drop of every hour is kept: {history}");
    replica.kill();
    monitor.kill();
    sink.stop();
}

#[tokio::test(flavor = "multi_thread")]
async fn gaps_in_json_schema_and_protobuf_types_are_repaired_from_the_archive_exactly_once() {
    let world = World::new().await;
    let kinds = [(API_JSON, "json", 400), (API_PROTO, "proto", 500)];
    for (event_type, prefix, pid_base) in kinds {
        let loss = LossPlan {
            random: 10,
            run: 100,
            ..LossPlan::default()
        };
        world.generate(event_type, 1_000, 2, prefix, pid_base, loss).await;
    }
    let sink = SinkRun::start(&world.registry, &KEYS, &world.config_text()).await;
    let pool = PgPool::connect(&world.registry.database_url).await.expect("connect");
    eventually(60, "what Kafka has of both types in the warehouse", async || {
        warehouse_uids(&pool, API_JSON).await.len() >= 890 && warehouse_uids(&pool, API_PROTO).await.len() >= 890
    })
    .await;
    let mut expected = Vec::new();
    for (event_type, prefix, pid_base) in kinds {
        let summary = world.cli(&[
            "backfill",
            "--type",
            event_type,
            "--from",
            "2020-01-01",
            "--to",
            "2100-01-01",
        ]);
        assert!(
            summary.contains(": done (") && summary.contains(" 110 written"),
            "{summary}"
        );
        let of_type = generated(event_type, 1_000, 2, prefix, pid_base);
        assert_exactly(event_type, &warehouse_uids(&pool, event_type).await, &of_type);
        expected.extend(of_type);
    }
    assert_exactly("parquet", &parquet_uids(&world.out), &expected);
    sink.stop();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_restarted_producer_is_a_new_stream_and_its_resent_events_are_counted_as_duplicates() {
    let world = World::new().await;
    let none = LossPlan::default();
    // pid 500 sends 0..999, restarts as pid 501 and sends 0..999 again, and its retry queue resends
    // pid 500's first 300 events.
    world.generate(BILLING, 1_000, 1, "svc", 500, none.clone()).await;
    world.generate(BILLING, 1_000, 1, "svc", 501, none.clone()).await;
    world.generate(BILLING, 300, 1, "svc", 500, none).await;
    let sink = SinkRun::start(&world.registry, &KEYS, &world.config_text()).await;
    let pool = PgPool::connect(&world.registry.database_url).await.expect("connect");
    eventually(60, "both streams in the warehouse", async || {
        warehouse_uids(&pool, BILLING).await.len() >= 2_000
    })
    .await;
    eventually(30, "the resent events counted", async || {
        sink.metric("murron_sink_duplicates_total").await >= 300.0
    })
    .await;
    let monitor = SinkRun::monitor(&world.registry, &KEYS, &world.config_text()).await;
    eventually(30, "a report of two complete streams", async || {
        let rel = monitor.get_json("/api/reliability").await;
        rel["overall"]["received"] == 2_000 && rel["streams"].as_array().is_some_and(|s| s.len() == 2)
    })
    .await;
    let rel = monitor.get_json("/api/reliability").await;
    assert_eq!(rel["overall"]["duplicates"], 300, "{rel}");
    assert_eq!(rel["overall"]["missing"], 0, "{rel}");
    assert_eq!(rel["overall"]["rep_score"], 100.0, "{rel}");
    let gaps = monitor.get_json("/api/gaps").await;
    assert_eq!(gaps["gaps"], serde_json::json!([]), "{gaps}");
    let mut expected = generated(BILLING, 1_000, 1, "svc", 500);
    expected.extend(generated(BILLING, 1_000, 1, "svc", 501));
    assert_exactly("warehouse", &warehouse_uids(&pool, BILLING).await, &expected);
    assert_exactly("parquet", &parquet_uids(&world.out), &expected);
    assert_eq!(sink.metric("murron_sink_duplicates_total").await, 300.0);
    monitor.kill();
    sink.stop();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_backfill_racing_live_consumption_writes_nothing_twice() {
    let world = World::new().await;
    let report = world
        .generate(
            BILLING,
            8_000,
            2,
            "race",
            700,
            LossPlan {
                run: 1_000,
                ..LossPlan::default()
            },
        )
        .await;
    let first = report.withheld.iter().map(|w| w.2).min().expect("a withheld run");
    let sink = SinkRun::start(&world.registry, &KEYS, &world.config_text()).await;
    let pool = PgPool::connect(&world.registry.database_url).await.expect("connect");
    eventually(60, "what Kafka has in the warehouse", async || {
        warehouse_uids(&pool, BILLING).await.len() >= 7_000
    })
    .await;
    // The late events arrive through Kafka while a backfill repairs the same offsets from the archive.
    let late = GenOptions {
        topic: world.topic.clone(),
        event_type: BILLING.into(),
        count: 1_000,
        streams: 1,
        host_prefix: "race".into(),
        pid_base: 700,
        start_offset: first,
        key_id: None,
        rate: Some(2_000),
        seed: 9,
        create_partitions: None,
        archive: false,
        loss: LossPlan::default(),
        spread_hours: 0,
        server: None,
    };
    let config = world.config();
    let live = tokio::spawn(async move { generate::run(&config, &late, |_| {}).await.expect("late events") });
    let summary = backfill_all_of_billing(&world);
    live.await.expect("producer task");
    eventually(60, "every event in the warehouse", async || {
        warehouse_uids(&pool, BILLING).await.len() >= 8_000
    })
    .await;
    // Each late event was written once: what the backfill wrote, the live path dropped as a
    // duplicate, and what the live path wrote first, the backfill found already there.
    let count = |what: &str| -> u64 {
        summary
            .split([',', ':'])
            .find_map(|p| p.trim().strip_suffix(what)?.trim().parse().ok())
            .unwrap_or_else(|| panic!("no {what:?} count in {summary:?}"))
    };
    let (backfilled, already) = (count("written"), count("already there"));
    // The live batch holding the late events commits after the backfill releases their streams.
    eventually(
        30,
        "the live path's duplicates counted and its files published",
        async || {
            sink.metric("murron_sink_duplicates_total").await as u64 >= backfilled
                && parquet_uids(&world.out).len() >= 8_000
        },
    )
    .await;
    let expected = generated(BILLING, 8_000, 2, "race", 700);
    assert_exactly("warehouse", &warehouse_uids(&pool, BILLING).await, &expected);
    assert_exactly("parquet", &parquet_uids(&world.out), &expected);
    let live_dups = sink.metric("murron_sink_duplicates_total").await as u64;
    assert_eq!(live_dups, backfilled, "{summary}");
    assert_eq!(already, 7_000 + (1_000 - backfilled), "{summary}");
    sink.stop();
}

#[tokio::test(flavor = "multi_thread")]
async fn the_monitor_api_answers_bad_requests_precisely_and_runs_what_it_accepts() {
    let world = World::new().await;
    world.generate(BILLING, 200, 2, "api", 900, LossPlan::default()).await;
    let monitor = SinkRun::monitor(&world.registry, &KEYS, &world.config_text()).await;
    let http = reqwest::Client::new();
    let call = async |method: reqwest::Method, path: &str, body: Option<&str>| -> (u16, serde_json::Value) {
        let mut req = http.request(method, format!("{}{path}", monitor.admin));
        if let Some(b) = body {
            req = req.header("content-type", "application/json").body(b.to_owned());
        }
        let resp = req.send().await.expect("request");
        let status = resp.status().as_u16();
        let text = resp.text().await.expect("body");
        (
            status,
            serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text)),
        )
    };
    use reqwest::Method;
    for (path, status, needle) in [
        ("/api/reliability?from=yesterday", 400, "from"),
        ("/api/reliability?from=2026-11-27&to=2026-11-26", 400, "before"),
        ("/api/reliability?from=2020-01-01&to=2026-01-01", 400, "at most"),
        ("/api/reliability?colour=blue", 400, "colour"),
        ("/api/reliability/history?type=", 400, "type"),
        ("/api/reliability/history?to=soon", 400, "to"),
        ("/api/reliability/history?from=2020-01-01&to=2026-01-01", 400, "at most"),
        ("/api/reliability/history?host=a", 400, "host"),
        ("/api/gaps?pid=seven", 400, "pid"),
        ("/api/backfills/seven", 400, "backfill id"),
        ("/api/backfills/999999", 404, "does not exist"),
    ] {
        let (got, body) = call(Method::GET, path, None).await;
        assert_eq!(got, status, "{path}: {body}");
        assert!(
            body["error"].as_str().is_some_and(|e| e.contains(needle)),
            "{path}: {body}"
        );
    }
    for (body, status, needle) in [
        ("{not json", 400, ""),
        (r#"{"type": "t"}"#, 422, "from"),
        (
            r#"{"type": "t", "from": "2026-11-26", "to": "2026-11-25"}"#,
            422,
            "before",
        ),
        (
            r#"{"type": "t", "from": "2026-01-01", "to": "2026-03-01"}"#,
            422,
            "at most",
        ),
        (r#"{"type": "", "from": "2026-11-26", "to": "2026-11-27"}"#, 422, "type"),
        (
            r#"{"type": "t", "from": "2026-11-26", "to": "2026-11-27", "streams": []}"#,
            422,
            "streams",
        ),
        (r#"{"type": "t", "from": "soon", "to": "2026-11-27"}"#, 422, "from"),
        (
            r#"{"type": "t", "from": "2026-11-26", "to": "2026-11-27", "extra": 1}"#,
            422,
            "extra",
        ),
    ] {
        let (got, resp) = call(Method::POST, "/api/backfills", Some(body)).await;
        assert_eq!(got, status, "{body}: {resp}");
        assert!(
            resp["error"].as_str().is_some_and(|e| e.contains(needle)),
            "{body}: {resp}"
        );
    }
    let resp = http
        .post(format!("{}/api/backfills", monitor.admin))
        .header("content-type", "text/plain")
        .body("{}")
        .send()
        .await
        .expect("request");
    assert_eq!(resp.status().as_u16(), 415);

    // A valid request is filed, and the monitor runs it: the events are all received already.
    let body = format!(
        r#"{{"type": "{BILLING}", "from": "2020-01-01", "to": "2020-01-02", "streams": [{{"host": "api-0", "pid": 900}}]}}"#
    );
    let (status, filed) = call(Method::POST, "/api/backfills", Some(&body)).await;
    assert_eq!(status, 201, "{filed}");
    assert_eq!(filed["origin"], "api");
    assert_eq!(filed["streams"], serde_json::json!([{"host": "api-0", "pid": 900}]));
    let id = filed["id"].as_i64().expect("id");
    eventually(30, "the API's backfill done", async || {
        monitor.get_json(&format!("/api/backfills/{id}")).await["state"] == "done"
    })
    .await;

    let openapi = monitor.get_json("/openapi.json").await;
    for path in [
        "/api/reliability",
        "/api/reliability/history",
        "/api/gaps",
        "/api/backfills",
        "/api/backfills/{id}",
    ] {
        assert!(
            openapi["paths"][path].is_object(),
            "{path} missing from the OpenAPI document"
        );
    }
    monitor.kill();
}

/// Monitor tokens for [`every_mutating_monitor_endpoint_refuses_callers_without_the_right_token`]:
/// name, role, types, token. Half are configured by their hash.
const MONITOR_TOKENS: [(&str, &str, &[&str], &str); 4] = [
    ("ops", "admin", &[], "ops-admin-token-0123456789"),
    (
        "billing-team",
        "owner",
        &["billing.*"],
        "billing-owner-token-0123456789",
    ),
    ("web-team", "owner", &["web.*"], "web-owner-token-0123456789"),
    ("dash", "reader", &[], "dash-reader-token-0123456789"),
];

/// A mutating request: method, path, and its body for an event type.
type Mutation = (reqwest::Method, &'static str, fn(&str) -> String);

/// Every mutating endpoint, with a request body for an event type. The test checks this list against
/// the monitor's own OpenAPI document, so an endpoint added there without its case here fails it.
fn mutating_requests() -> Vec<Mutation> {
    vec![(reqwest::Method::POST, "/api/backfills", |t: &str| {
        format!(r#"{{"type": "{t}", "from": "2020-01-01", "to": "2020-01-02"}}"#)
    })]
}

#[tokio::test(flavor = "multi_thread")]
async fn every_mutating_monitor_endpoint_refuses_callers_without_the_right_token() {
    let world = World::new().await;
    let mut config = world.config_text();
    config.push_str("\n[monitor.auth]\nanonymous_reads = false\n");
    for (i, (name, role, types, token)) in MONITOR_TOKENS.iter().enumerate() {
        let types: Vec<String> = types.iter().map(|t| format!("{t:?}")).collect();
        let secret = if i % 2 == 0 {
            format!("token = {token:?}")
        } else {
            let digest = murron_wire::token::hash(token.as_bytes());
            let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
            format!("sha256 = \"{hex}\"")
        };
        let types = if types.is_empty() {
            String::new()
        } else {
            format!("types = [{}]\n", types.join(", "))
        };
        config.push_str(&format!(
            "[monitor.auth.tokens.{name}]\nrole = \"{role}\"\n{types}{secret}\n"
        ));
    }
    let monitor = SinkRun::monitor(&world.registry, &KEYS, &config).await;
    let http = reqwest::Client::new();
    let token = |name: &str| MONITOR_TOKENS.iter().find(|t| t.0 == name).expect("token").3;
    let call = async |method: reqwest::Method, path: &str, auth: Option<String>, body: Option<String>| {
        let mut req = http.request(method, format!("{}{path}", monitor.admin));
        if let Some(a) = auth {
            req = req.header("authorization", a);
        }
        if let Some(b) = body {
            req = req.header("content-type", "application/json").body(b);
        }
        let resp = req.send().await.expect("request");
        let status = resp.status().as_u16();
        let challenge = resp
            .headers()
            .get("www-authenticate")
            .map(|v| v.to_str().expect("ascii").to_owned());
        let text = resp.text().await.expect("body");
        let json = serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text));
        (status, challenge, json)
    };
    let bearer = |name: &str| Some(format!("Bearer {}", token(name)));

    // The list below covers every operation the monitor documents besides reads.
    let openapi = monitor.get_json("/openapi.json").await;
    let mut documented: Vec<(String, String)> = Vec::new();
    for (path, ops) in openapi["paths"].as_object().expect("paths") {
        for method in ops.as_object().expect("operations").keys() {
            if !["get", "head", "parameters"].contains(&method.as_str()) {
                documented.push((method.to_uppercase(), path.clone()));
            }
        }
    }
    let covered: Vec<(String, String)> = mutating_requests()
        .iter()
        .map(|(m, p, _)| (m.to_string(), p.to_string()))
        .collect();
    assert_eq!(
        documented, covered,
        "every mutating endpoint has its negative cases here"
    );

    const WEB: &str = "web.checkout";
    for (method, path, body) in mutating_requests() {
        let what = format!("{method} {path}");
        let web = || Some(body(WEB));
        // No token, another scheme, an unknown token: 401 with a Bearer challenge.
        for (auth, error, challenge) in [
            (None, "missing bearer token", "Bearer realm=\"murron-monitor\""),
            (
                Some(format!("Basic {}", "b3BzOm9wcy1hZG1pbi10b2tlbg==")),
                "missing bearer token",
                "Bearer realm=\"murron-monitor\"",
            ),
            (
                Some("Bearer ops-admin-token-012345678X".to_owned()),
                "unknown bearer token",
                "Bearer realm=\"murron-monitor\", error=\"invalid_token\"",
            ),
        ] {
            let (status, got, resp) = call(method.clone(), path, auth.clone(), web()).await;
            assert_eq!(status, 401, "{what} with {auth:?}: {resp}");
            assert_eq!(got.as_deref(), Some(challenge), "{what} with {auth:?}");
            assert!(
                resp["error"].as_str().is_some_and(|e| e.contains(error)),
                "{what}: {resp}"
            );
        }
        // A reader: 403, whatever the body.
        let (status, got, resp) = call(method.clone(), path, bearer("dash"), Some("{not json".into())).await;
        assert_eq!((status, got), (403, None), "{what} as a reader: {resp}");
        assert_eq!(resp["error"], "token \"dash\" may only read", "{what}");
        // The owner of billing.* filing for web.*: 403, saying precisely why.
        let (status, _, resp) = call(method.clone(), path, bearer("billing-team"), web()).await;
        assert_eq!(status, 403, "{what} out of scope: {resp}");
        assert_eq!(
            resp["error"],
            format!("token \"billing-team\" may file backfills for billing.* only, not for {WEB}"),
            "{what}"
        );
        // Its own type, the owner of web.*, and the admin for anything: accepted.
        for (name, event_type) in [("billing-team", BILLING), ("web-team", WEB), ("ops", "audit.login")] {
            let (status, _, resp) = call(method.clone(), path, bearer(name), Some(body(event_type))).await;
            assert_eq!(status, 201, "{what} by {name} for {event_type}: {resp}");
        }
    }
    // Only the accepted requests were filed.
    let (status, _, list) = call(reqwest::Method::GET, "/api/backfills", bearer("dash"), None).await;
    assert_eq!(status, 200, "{list}");
    let mut filed: Vec<&str> = list["backfills"]
        .as_array()
        .expect("backfills")
        .iter()
        .map(|b| b["event_type"].as_str().expect("type"))
        .collect();
    filed.sort_unstable();
    assert_eq!(filed, ["audit.login", BILLING, WEB]);

    // Reads take a token of any role here (anonymous_reads = false); probes, metrics and the page do not.
    for path in ["/api/reliability", "/api/gaps", "/api/backfills", "/api/backfills/1"] {
        let (status, challenge, resp) = call(reqwest::Method::GET, path, None, None).await;
        assert_eq!((status, challenge.is_some()), (401, true), "GET {path}: {resp}");
        let (status, _, resp) = call(reqwest::Method::GET, path, bearer("web-team"), None).await;
        assert!(
            status == 200 || status == 404,
            "GET {path} as an owner: {status} {resp}"
        );
    }
    for path in ["/", "/healthz", "/readyz", "/metrics", "/openapi.json"] {
        let (status, _, _) = call(reqwest::Method::GET, path, None, None).await;
        assert_eq!(status, 200, "GET {path} stays open");
    }
    monitor.kill();
}

/// The archive under `root` (staging excluded): the number of records in all files, and the union of
/// offsets per stream.
fn archived(root: &Path) -> (u64, std::collections::BTreeMap<(String, String, i32), OffsetRanges>) {
    let mut records = 0;
    let mut streams: std::collections::BTreeMap<(String, String, i32), OffsetRanges> = Default::default();
    for path in files(root, "avro") {
        let body = std::fs::read(&path).expect("read archive file");
        let summary = sink_worker::archive::index::summarize(&body).expect("archive file parses");
        records += summary.events;
        for ((stream, _), r) in summary.ranges {
            let all = streams.entry(stream).or_default();
            for (lo, hi) in r.ranges() {
                all.insert_range(lo, hi);
            }
        }
    }
    (records, streams)
}

#[tokio::test(flavor = "multi_thread")]
async fn the_archiver_writes_every_record_once_across_a_crash() {
    let world = World::new().await;
    let producer = {
        let opts = GenOptions {
            topic: world.topic.clone(),
            event_type: BILLING.into(),
            count: 30_000,
            streams: 3,
            host_prefix: "arc".into(),
            pid_base: 40,
            start_offset: 0,
            key_id: None,
            rate: Some(10_000),
            seed: 3,
            create_partitions: None,
            archive: false,
            loss: LossPlan::default(),
            spread_hours: 0,
            server: None,
        };
        let config = world.config();
        tokio::spawn(async move { generate::run(&config, &opts, |_| {}).await.expect("produce") })
    };
    let archiver = SinkRun::archive(&world.registry, &KEYS, &world.config_text()).await;
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    archiver.kill();
    let archiver = SinkRun::archive(&world.registry, &KEYS, &world.config_text()).await;
    producer.await.expect("producer task");
    let root = world.archive.join("archive").join(BILLING);
    eventually(60, "30,000 archived events", async || archived(&root).0 >= 30_000).await;
    archiver.stop();
    let (records, streams) = archived(&root);
    assert_eq!(streams.len(), 3, "{streams:?}");
    for (stream, offsets) in &streams {
        assert_eq!((offsets.len(), offsets.max()), (10_000, Some(9_999)), "{stream:?}");
    }
    // 30,000 distinct events in 30,000 records: none is archived twice.
    assert_eq!(records, 30_000);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_backfill_filed_from_the_cli_is_never_left_queued_for_another_worker() {
    let world = World::new().await;
    let pool = PgPool::connect(&world.registry.database_url).await.expect("connect");
    // A competing worker that takes every queued request of this pipeline the moment it sees one.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let thief = tokio::spawn({
        let (pool, pipeline, stop) = (pool.clone(), world.topic.clone(), stop.clone());
        async move {
            let mut taken = Vec::new();
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let ids: Vec<i64> = sqlx::query_scalar(
                    "UPDATE backfills SET state = 'failed', error = 'taken by another worker' \
                     WHERE pipeline = $1 AND state = 'queued' RETURNING id",
                )
                .bind(&pipeline)
                .fetch_all(&pool)
                .await
                .expect("take");
                taken.extend(ids);
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
            taken
        }
    });
    for _ in 0..3 {
        let summary = backfill_all_of_billing(&world);
        assert!(summary.contains(": done ("), "{summary}");
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let taken = thief.await.expect("thief");
    assert!(taken.is_empty(), "requests seen queued: {taken:?}");
    let origins: Vec<(String, String)> =
        sqlx::query_as("SELECT origin, state FROM backfills WHERE pipeline = $1 ORDER BY id")
            .bind(&world.topic)
            .fetch_all(&pool)
            .await
            .expect("backfills");
    assert_eq!(origins, vec![("cli".to_owned(), "done".to_owned()); 3]);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_abandoned_backfill_is_resumed_and_reads_only_the_files_with_missing_events() {
    let world = World::new().await;
    world
        .generate(
            BILLING,
            2_000,
            2,
            "one",
            10,
            LossPlan {
                run: 200,
                ..LossPlan::default()
            },
        )
        .await;
    world.generate(BILLING, 2_000, 2, "two", 20, LossPlan::default()).await;
    let sink = SinkRun::start(&world.registry, &KEYS, &world.config_text()).await;
    let pool = PgPool::connect(&world.registry.database_url).await.expect("connect");
    eventually(60, "what Kafka has in the warehouse", async || {
        warehouse_uids(&pool, BILLING).await.len() >= 3_800
    })
    .await;

    // A request whose worker died after claiming it: running, with no session holding its lock.
    let id = sink_worker::backfill::file(
        &pool,
        &world.topic,
        &sink_worker::state::backfills::NewBackfill {
            event_type: BILLING.into(),
            from_hour: 0,
            to_hour: murron_wire::hours::now_hour() + 2,
            streams: None,
            origin: "api",
        },
    )
    .await
    .expect("file a backfill");
    sqlx::query("UPDATE backfills SET state = 'running', started_at = now() WHERE id = $1")
        .bind(id)
        .execute(&pool)
        .await
        .expect("mark running");
    let run = |id: i64| {
        std::process::Command::new(common::binary("sink-worker"))
            .args([
                "--config",
                world.config_path.to_str().expect("path"),
                "backfill",
                "--id",
                &id.to_string(),
            ])
            .env("RUST_LOG", "warn")
            .output()
            .expect("run backfill")
    };
    // While another worker's session holds it, it is not taken.
    let mut holder = pool.acquire().await.expect("connection");
    sqlx::query("SELECT pg_advisory_lock($1, $2)")
        .bind(sink_worker::state::backfills::LOCK_NAMESPACE)
        .bind(id as i32)
        .execute(&mut *holder)
        .await
        .expect("lock");
    let busy = run(id);
    assert!(!busy.status.success());
    let stderr = String::from_utf8_lossy(&busy.stderr);
    assert!(stderr.contains("being run by another worker"), "{stderr}");
    // Its worker is gone: the next one resumes it. The lock goes when the server's backend exits,
    // which a dropped socket only starts.
    drop(holder.detach());
    eventually(10, "the lock holder's session gone", async || {
        sqlx::query_scalar::<_, bool>(
            "SELECT NOT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' \
             AND classid::int8 = $1 AND objid::int8 = $2 AND objsubid = 2)",
        )
        .bind(i64::from(sink_worker::state::backfills::LOCK_NAMESPACE))
        .bind(id)
        .fetch_one(&pool)
        .await
        .expect("pg_locks")
    })
    .await;
    let done = run(id);
    let summary = String::from_utf8_lossy(&done.stdout);
    assert!(
        done.status.success(),
        "{summary}\n{}",
        String::from_utf8_lossy(&done.stderr)
    );
    assert!(summary.contains(": done ("), "{summary}");
    // Two archive files, one of them complete: only the other is read.
    assert!(summary.contains("1 of 1 files read"), "{summary}");
    assert!(summary.contains(" 200 written"), "{summary}");
    // The bytes it reports are exactly that one file's.
    let bytes_read: i64 = sqlx::query_scalar("SELECT bytes_read FROM backfills WHERE id = $1")
        .bind(id)
        .fetch_one(&pool)
        .await
        .expect("bytes read");
    let sizes: Vec<i64> = sqlx::query_scalar("SELECT size FROM archive_files ORDER BY key")
        .fetch_all(&pool)
        .await
        .expect("archive file sizes");
    assert_eq!(sizes.len(), 2, "{sizes:?}");
    assert!(
        sizes.contains(&bytes_read),
        "read {bytes_read} bytes; files are {sizes:?}"
    );
    let mut expected = generated(BILLING, 2_000, 2, "one", 10);
    expected.extend(generated(BILLING, 2_000, 2, "two", 20));
    assert_exactly("warehouse", &warehouse_uids(&pool, BILLING).await, &expected);
    sink.stop();
}

#[tokio::test(flavor = "multi_thread")]
async fn an_archive_in_s3_repairs_gaps_in_every_output_kafka_included() {
    common::require_service("S3 server", &common::s3_endpoint());
    let (access, secret) = common::s3_credentials();
    let bucket = common::unique("archive").replace('.', "-").to_lowercase();
    let store = format!(
        r#"{{ kind = "s3", bucket = "{bucket}", endpoint = "{}", access_key_id = "{access}", secret_access_key = "{secret}", create_bucket = true }}"#,
        common::s3_endpoint()
    );
    let mut world = World::with_archive_store(Some(store)).await;
    let routed = format!("{}.routed", world.topic);
    common::create_topic(&routed, 3).await;
    // An Iceberg table too, in a bucket with a short name (the local S3 server's key length limit).
    let lake = common::unique("ib").replace('.', "-").to_lowercase();
    world.extra_outputs = format!(
        "\n[[pipeline.outputs]]\nkind = \"kafka\"\ntopic = \"{routed}\"\n\n[[pipeline.outputs]]\nkind = \"iceberg\"\n\
         warehouse = \"ib\"\nstore = {{ kind = \"s3\", bucket = \"{lake}\", endpoint = \"{}\", access_key_id = \"{access}\", \
         secret_access_key = \"{secret}\", create_bucket = true }}\n",
        common::s3_endpoint()
    );
    world.write_config(false, 2);
    let report = world
        .generate(
            BILLING,
            3_000,
            3,
            "s3",
            60,
            LossPlan {
                random: 5,
                run: 200,
                tail: 15,
                unrecoverable: 0,
            },
        )
        .await;
    assert_eq!(report.withheld.len(), 220);
    let sink = SinkRun::start(&world.registry, &KEYS, &world.config_text()).await;
    let pool = PgPool::connect(&world.registry.database_url).await.expect("connect");
    eventually(60, "what Kafka has in the warehouse", async || {
        warehouse_uids(&pool, BILLING).await.len() >= 2_780
    })
    .await;
    world.write_config(true, 1);
    let monitor = SinkRun::monitor(&world.registry, &KEYS, &world.config_text()).await;
    eventually(60, "REP 100 after the backfill from S3", async || {
        let rel = monitor.get_json("/api/reliability").await;
        rel["overall"]["rep_score"] == 100.0 && rel["overall"]["received"] == 3_000
    })
    .await;
    let expected = generated(BILLING, 3_000, 3, "s3", 60);
    assert_exactly("warehouse", &warehouse_uids(&pool, BILLING).await, &expected);
    assert_exactly("routed topic", &common::routed_uids(&routed, 3_000, 60), &expected);
    assert_exactly(
        "Iceberg table",
        &iceberg_uids(&pool, "murron", "events", BILLING).await,
        &expected,
    );
    monitor.kill();
    sink.stop();
}
