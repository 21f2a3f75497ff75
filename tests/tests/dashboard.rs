//! The monitor's dashboard in a real headless Chromium, against real Kafka, PostgreSQL and the
//! registry: while the monitor repairs events withheld from Kafka but archived, the page draws the REP
//! chart, shows the gaps or the auto backfill finishing, reaches a REP score of 100, keeps the drop
//! and its repair in the REP history (table and chart), fits a 375 px window with the backfill table
//! readable in place, and shows the API's error for a bad backfill request, with no console error.
//! With tokens configured, the page asks for one, refuses a wrong one and files a backfill with the
//! right one.
//!
//! The browser side is `tests/browser/dashboard.mjs` (playwright-core driving Debian's
//! `/usr/bin/chromium`); `make test` installs both (`make browser`). A missing tool fails the test
//! with a message saying so: it is never skipped.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::SinkRun;
use common::outputs::{eventually, warehouse_uids};
use common::world::{BILLING, KEYS, World, auto_backfills};
use sink_worker::generate::{Fate, LossPlan};
use sqlx::postgres::PgPool;

const CHROMIUM: &str = "/usr/bin/chromium";
/// Seconds the browser script waits for the repair to show.
const BROWSER_TIMEOUT_SECS: u64 = 150;

/// The browser script, after checking that node, its packages and Chromium are installed.
fn browser_script() -> PathBuf {
    let setup = "install them with `make browser` (`make test` does it)";
    let node = Command::new("node").arg("--version").output();
    assert!(
        node.as_ref().is_ok_and(|o| o.status.success()),
        "node is not installed or does not run ({}): {setup}",
        node.map_or_else(|e| e.to_string(), |o| String::from_utf8_lossy(&o.stderr).into_owned())
    );
    let dir = common::workspace_path("tests/browser");
    assert!(
        dir.join("node_modules/playwright-core/package.json").is_file(),
        "tests/browser has no node_modules/playwright-core: {setup}"
    );
    assert!(Path::new(CHROMIUM).is_file(), "{CHROMIUM} is missing: {setup}");
    dir.join("dashboard.mjs")
}

#[tokio::test(flavor = "multi_thread")]
async fn the_dashboard_shows_gaps_repaired_to_a_rep_score_of_100_their_history_and_the_apis_errors() {
    let script = browser_script();
    let world = World::new().await;
    // The monitor files a backfill for gaps missing past 6 s, so the page shows them first.
    world.write_config(true, 6);
    // Random single events, a run and a stream's tail reach only the archive.
    let report = world
        .generate(
            BILLING,
            2_000,
            2,
            "dash",
            100,
            LossPlan {
                random: 10,
                run: 200,
                tail: 20,
                unrecoverable: 0,
            },
        )
        .await;
    let dropped = report.withheld.iter().filter(|w| w.3 == Fate::Dropped).count();
    assert_eq!(dropped, 10 + 200 + 20);

    let sink = SinkRun::start(&world.registry, &KEYS, &world.config_text()).await;
    let pool = PgPool::connect(&world.registry.database_url).await.expect("connect");
    eventually(120, "every event Kafka has in the warehouse", async || {
        warehouse_uids(&pool, BILLING).await.len() >= 2_000 - dropped
    })
    .await;

    let monitor = SinkRun::monitor(&world.registry, &KEYS, &world.config_text()).await;
    let url = format!("{}/", monitor.admin);
    let mut args = vec![
        script.display().to_string(),
        url,
        "--type".into(),
        BILLING.into(),
        "--timeout".into(),
        BROWSER_TIMEOUT_SECS.to_string(),
    ];
    // A picture of the page at the end, to look at by hand.
    if let Ok(path) = std::env::var("MURRON_DASHBOARD_SCREENSHOT") {
        args.extend(["--screenshot".into(), path]);
    }
    let out = tokio::task::spawn_blocking(move || Command::new("node").args(&args).output())
        .await
        .expect("browser task")
        .expect("run node");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "the dashboard checks in Chromium failed ({}):\n{stdout}\n{stderr}",
        out.status
    );
    println!("{stdout}");

    // What the page showed is what the API says.
    let rel = monitor.get_json(&format!("/api/reliability?type={BILLING}")).await;
    assert_eq!(rel["overall"]["rep_score"], 100.0, "{rel}");
    let backfills = monitor.get_json("/api/backfills").await;
    let auto = auto_backfills(&backfills);
    assert!(
        !auto.is_empty() && auto.iter().all(|b| b["state"] == "done"),
        "{backfills}"
    );
    let written: i64 = auto.iter().map(|b| b["written"].as_i64().expect("written")).sum();
    assert_eq!(written as usize, dropped, "{backfills}");
    monitor.kill();
    sink.stop();
}

/// The monitor's tokens for the token prompt test: (name, role and types, token).
const DASHBOARD_TOKENS: [(&str, &str, &str); 2] = [
    ("ops", "role = \"admin\"", "dashboard-admin-token-0123456789"),
    (
        "web-team",
        "role = \"owner\"\ntypes = [\"web.*\"]",
        "dashboard-web-owner-token-0123456789",
    ),
];

#[tokio::test(flavor = "multi_thread")]
async fn the_dashboard_asks_for_a_token_refuses_a_wrong_one_and_files_a_backfill_with_the_right_one() {
    let script = browser_script().with_file_name("dashboard-auth.mjs");
    let world = World::new().await;
    let mut config = world.config_text();
    config.push_str("\n[monitor.auth]\nanonymous_reads = false\n");
    for (name, role, token) in DASHBOARD_TOKENS {
        config.push_str(&format!("[monitor.auth.tokens.{name}]\n{role}\ntoken = \"{token}\"\n"));
    }
    let monitor = SinkRun::monitor(&world.registry, &KEYS, &config).await;
    let (admin, owner) = (DASHBOARD_TOKENS[0].2, DASHBOARD_TOKENS[1].2);
    let args = [
        script.display().to_string(),
        format!("{}/", monitor.admin),
        "--type".into(),
        BILLING.into(),
        "--wrong".into(),
        "dashboard-wrong-token-0123456789".into(),
        "--owner".into(),
        owner.into(),
        "--admin".into(),
        admin.into(),
    ];
    let out = tokio::task::spawn_blocking(move || Command::new("node").args(args).output())
        .await
        .expect("browser task")
        .expect("run node");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "the dashboard's token checks in Chromium failed ({}):\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    println!("{stdout}");

    // The monitor holds exactly the one backfill the page said it filed, for the type asked.
    let id: i64 = stdout
        .split("filed backfill #")
        .nth(1)
        .and_then(|rest| rest.split(':').next())
        .and_then(|id| id.parse().ok())
        .unwrap_or_else(|| panic!("no backfill id in the browser's output:\n{stdout}"));
    let resp = reqwest::Client::new()
        .get(format!("{}/api/backfills", monitor.admin))
        .bearer_auth(admin)
        .send()
        .await
        .expect("GET /api/backfills");
    assert_eq!(resp.status().as_u16(), 200);
    let list: serde_json::Value = resp.json().await.expect("json");
    let filed: Vec<(i64, &str)> = list["backfills"]
        .as_array()
        .expect("backfills")
        .iter()
        .map(|b| (b["id"].as_i64().expect("id"), b["event_type"].as_str().expect("type")))
        .collect();
    assert_eq!(filed, [(id, BILLING)], "{list}");
    monitor.kill();
}
