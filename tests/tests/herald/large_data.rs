//! Data stored once, against the real binary at Knock's limits: one trigger with 10 MB of
//! `data` for 1,000 recipients. The server's memory stays within a bound, its database grows by
//! about the data once (not once per recipient), every recipient's message shows the whole data,
//! and a listing of such messages ends its pages early with cursors that go on.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use herald_tests::http::{eventually, Client};
use herald_tests::server::start_with_fixtures;
use serde_json::{json, Value};

/// The stated bound on what the trigger adds to the server's peak memory: the 10 MB request,
/// its parsed data and its serialised copy, each once (not once per recipient).
const TRIGGER_GROWTH_BOUND_MIB: u64 = 100;

/// The stated bound on the server's peak memory through the trigger and all 1,000 runs: each of
/// the runs executing at once reads the shared payload into its own scope, and they hold at
/// most 32 MB of data at once.
const PEAK_RSS_BOUND_MIB: u64 = 300;

/// Rows of text until the data is just under Knock's 10 MB (10,000,000 bytes as JSON).
fn ten_megabytes(marker: &str) -> Value {
    let text = "Lorem ipsum dolor sit amet, consectetur adipiscing elit. ".repeat(18);
    let rows: Vec<Value> = (0..9_600)
        .map(|i| json!({"i": i, "name": format!("row {i}"), "text": text}))
        .collect();
    json!({"marker": marker, "rows": rows})
}

async fn completed_runs(c: &Client, workflow_run_id: &str) -> usize {
    let mut count = 0;
    let mut after: Option<String> = None;
    loop {
        let mut path = format!(
            "/v1/workflow_recipient_runs?workflow_run_id={workflow_run_id}&status=completed&page_size=50"
        );
        if let Some(a) = &after {
            path.push_str(&format!("&after={a}"));
        }
        let page = c.get(&path).await;
        assert_eq!(page.status, 200, "{:?}", page.body);
        count += page.body["items"].as_array().map_or(0, Vec::len);
        match page.body["page_info"]["after"].as_str() {
            Some(a) => after = Some(a.to_string()),
            None => return count,
        }
    }
}

fn dir_bytes(dir: &std::path::Path) -> u64 {
    std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| e.metadata().ok())
        .filter(|m| m.is_file())
        .map(|m| m.len())
        .sum()
}

#[tokio::test]
async fn ten_megabytes_for_a_thousand_recipients_is_stored_once() {
    let (dir, server, c) = start_with_fixtures();
    let marker = uuid::Uuid::new_v4().simple().to_string();
    let data = ten_megabytes(&marker);
    let data_bytes = data.to_string().len();
    assert!(
        (10_000_000..10 * 1024 * 1024).contains(&data_bytes),
        "{data_bytes} bytes"
    );
    let users: Vec<String> = (0..1000).map(|i| format!("big-{marker}-{i}")).collect();
    let baseline = server.peak_rss_kib().expect("the server's memory");
    let started = Instant::now();
    let body = json!({"recipients": users, "data": data});
    let answer = c.post("/v1/workflows/welcome-now/trigger", &body).await;
    assert_eq!(answer.status, 200, "{:?}", answer.body);
    let trigger_took = started.elapsed();
    let after_trigger = server.peak_rss_kib().expect("the server's memory");
    drop(body);
    let run = answer.body["workflow_run_id"]
        .as_str()
        .expect("a workflow run id")
        .to_string();

    eventually(
        Duration::from_secs(600),
        "all 1,000 runs completed",
        || async { (completed_runs(&c, &run).await == 1000).then_some(()) },
    )
    .await;
    let all_done = started.elapsed();
    let peak = server.peak_rss_kib().expect("the server's memory");
    let stored = dir_bytes(dir.path());
    println!(
        "10 MB x 1,000: trigger answered in {:.2} s, all runs done in {:.1} s; peak RSS {} MiB before, {} MiB after the trigger, {} MiB overall; data folder {} MiB",
        trigger_took.as_secs_f64(),
        all_done.as_secs_f64(),
        baseline / 1024,
        after_trigger / 1024,
        peak / 1024,
        stored / (1024 * 1024)
    );
    assert!(
        after_trigger.saturating_sub(baseline) / 1024 <= TRIGGER_GROWTH_BOUND_MIB,
        "the trigger took {} MiB more than the {TRIGGER_GROWTH_BOUND_MIB} MiB bound",
        after_trigger.saturating_sub(baseline) / 1024
    );
    assert!(
        peak / 1024 <= PEAK_RSS_BOUND_MIB,
        "peak RSS {} MiB over the {PEAK_RSS_BOUND_MIB} MiB bound",
        peak / 1024
    );
    // Once, not 1,000 times (10 GB): the data, its runs and messages, and the write-ahead log.
    assert!(
        stored < 100 * 1024 * 1024,
        "the data folder holds {stored} bytes"
    );

    // Every recipient's message carries the whole data.
    for user in [&users[0], &users[999]] {
        let messages = c.messages_of(user).await;
        assert_eq!(messages.len(), 1, "one message for {user}");
        assert_eq!(messages[0]["data"]["marker"], marker.as_str());
        assert_eq!(
            messages[0]["data"]["rows"].as_array().map(Vec::len),
            Some(9_600)
        );
    }

    // A listing of 10 MB messages ends each page early; the cursor goes on without skipping.
    let mut seen = HashSet::new();
    let mut after: Option<String> = None;
    for _ in 0..3 {
        let mut path = format!("/v1/messages?workflow_run_id={run}&page_size=50");
        if let Some(a) = &after {
            path.push_str(&format!("&after={a}"));
        }
        let page = c.get(&path).await;
        assert_eq!(page.status, 200, "{:?}", page.body["message"]);
        let items = page.body["items"].as_array().cloned().unwrap_or_default();
        assert_eq!(items.len(), 1, "a page of 10 MB messages holds one");
        assert_eq!(items[0]["data"]["marker"], marker.as_str());
        assert!(seen.insert(items[0]["id"].to_string()), "no message twice");
        after = page.body["page_info"]["after"].as_str().map(str::to_string);
        assert!(after.is_some(), "more pages follow");
    }

    // Past Knock's limit: refused before anything is stored.
    let mut over = ten_megabytes(&marker);
    over["more"] = json!("x".repeat(600_000));
    let refused = c
        .post(
            "/v1/workflows/welcome-now/trigger",
            &json!({"recipients": ["someone"], "data": over}),
        )
        .await;
    assert_eq!(refused.status, 422, "{:?}", refused.body);
    assert_eq!(refused.body["code"], "invalid_params");
    assert_eq!(refused.body["errors"][0]["field"], "data");
}
