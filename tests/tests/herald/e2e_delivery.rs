//! Delivery end to end against the real `herald` binary and the loopback delivery servers:
//! `kill -9` while deliveries are under way, the delivery API, and start-up errors.

use std::process::Command;
use std::time::Duration;

use herald_tests::delivery::Receivers;
use herald_tests::http::{eventually, Client};
use herald_tests::server::{binary, start_with_fixtures, Server, API_KEY};
use serde_json::{json, Value};

fn start() -> (tempfile::TempDir, Server, Client) {
    start_with_fixtures()
}

fn key() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

#[tokio::test]
async fn a_kill_9_during_deliveries_loses_none_and_repeats_each_at_most_once() {
    let receivers = Receivers::from_env();
    let (_dir, mut server, c) = start();
    let k = key();
    // Each request takes 1.5 s, so the kill finds many of them in flight.
    let url = format!("{}/hooks/slow/1500/{k}", receivers.http);
    let recipients: Vec<String> = (0..120).map(|i| format!("k9-{k}-{i}")).collect();
    let r = c
        .post(
            "/v1/workflows/deliver-hook/trigger",
            &json!({"recipients": recipients, "data": {"url": url, "event": "crash"}}),
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    eventually(Duration::from_secs(10), "deliveries under way", || async {
        (!receivers.hooks(&k).await.is_empty()).then_some(())
    })
    .await;
    server.kill();
    let before = receivers.hooks(&k).await.len();
    server.restart();
    // Attempts cut off by the kill are retried once their claim lapses (timeout + 10 s).
    let hooks = eventually(
        Duration::from_secs(60),
        "every message delivered",
        || async {
            let hooks = receivers.hooks(&k).await;
            let mut ids: Vec<&str> = hooks
                .iter()
                .filter_map(|h| h["webhook_id"].as_str())
                .collect();
            ids.sort_unstable();
            ids.dedup();
            (ids.len() == recipients.len()).then_some(hooks)
        },
    )
    .await;
    let _ = hooks;
    // Every message ends delivered, through the API (those cut off by the kill after a retry).
    for user in &recipients {
        let m = eventually(Duration::from_secs(30), "delivered", || async {
            let list = c.messages_of(user).await;
            let done = list.first().filter(|m| m["status"] == "delivered").cloned();
            done
        })
        .await;
        assert_eq!(m["channel"]["type"], "http");
    }
    let hooks = receivers.hooks(&k).await;
    let mut per_id = std::collections::HashMap::<String, usize>::new();
    for h in &hooks {
        assert_eq!(h["standard_verified"], json!(true));
        *per_id
            .entry(h["webhook_id"].as_str().unwrap().to_string())
            .or_default() += 1;
    }
    assert_eq!(per_id.len(), recipients.len(), "no message missing");
    let repeated = per_id.values().filter(|n| **n > 1).count();
    assert!(
        per_id.values().all(|n| *n <= 2),
        "a webhook-id arrived more than twice: {per_id:?}"
    );
    eprintln!(
        "kill -9: {before} requests answered before the kill, {} after; {repeated} webhook-ids seen twice",
        hooks.len() - before
    );
    assert!(
        repeated > 0,
        "the kill caught no attempt in flight; the test proves nothing"
    );
}

#[tokio::test]
async fn content_events_and_delivery_logs_of_an_email() {
    let receivers = Receivers::from_env();
    let (_dir, _server, c) = start();
    let to = format!("{}@example.com", key());
    let r = c
        .post(
            "/v1/workflows/welcome-email/trigger",
            &json!({"recipients": [{"id": to.clone(), "name": "Ann", "email": to.clone()}], "data": {"plan": "pro"}}),
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let mail = eventually(Duration::from_secs(10), "the email", || async {
        receivers.mail(&to).await.first().cloned()
    })
    .await;
    assert_eq!(mail["subject"], "Welcome, Ann");
    assert!(mail["html"].as_str().unwrap().contains(
        "<header>Acme</header><p>Hello <strong>Ann</strong>, your pro plan is ready.</p>"
    ));
    assert!(mail["text"].as_str().unwrap().contains("-- Acme"));
    let email = eventually(Duration::from_secs(10), "sent", || async {
        c.messages_of(&to)
            .await
            .into_iter()
            .find(|m| m["channel"]["type"] == "email" && m["status"] == "sent")
    })
    .await;
    let id = email["id"].as_str().unwrap();
    assert_eq!(email["channel"]["key"], "email");
    assert_eq!(email["channel"]["provider"], "smtp");
    let content = c.get(&format!("/v1/messages/{id}/content")).await;
    assert_eq!(content.status, 200);
    assert_eq!(content.body["data"]["__typename"], "MessageEmailContent");
    assert_eq!(content.body["data"]["to"], json!(to));
    assert_eq!(content.body["data"]["subject_line"], "Welcome, Ann");
    let events = c.get(&format!("/v1/messages/{id}/events")).await;
    let kinds: Vec<&Value> = events.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| &e["type"])
        .collect();
    assert_eq!(kinds, vec!["message.queued", "message.sent"]);
    let logs = c.get(&format!("/v1/messages/{id}/delivery_logs")).await;
    let items = logs.body["items"].as_array().unwrap();
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["service_name"], "SMTP");
    assert_eq!(items[0]["__typename"], "MessageDeliveryLog");
    let missing = c
        .get("/v1/messages/00000000-0000-4000-8000-000000000000/delivery_logs")
        .await;
    assert_eq!(missing.status, 404);
}

/// Starts the binary on `channels` and returns its exit status and what it printed.
fn start_with_channels(channels: &str, env: &[(&str, &str)]) -> (bool, String) {
    let dir = tempfile::tempdir().expect("temp dir");
    let workflows = dir.path().join("workflows");
    std::fs::create_dir_all(&workflows).unwrap();
    std::fs::write(workflows.join("channels.json"), channels).unwrap();
    let mut cmd = Command::new(binary());
    cmd.env("HERALD_ADDR", "127.0.0.1:0")
        .env("HERALD_DATA_DIR", dir.path().join("data"))
        .env("HERALD_WORKFLOWS_DIR", &workflows)
        .env("HERALD_API_KEY", API_KEY)
        .env_remove("HERALD_TEST_WEBHOOK_SECRET");
    for (k, v) in env {
        cmd.env(k, v);
    }
    // A valid configuration would serve for ever: give it a moment, then stop it.
    let mut child = cmd
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while child.try_wait().unwrap().is_none() && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let out = child.wait_with_output().expect("output");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn bad_channel_configuration_stops_start_up_naming_the_file_and_channel() {
    for (channels, expected) in [
        (
            r#"{"channels": [{"key": "mail", "type": "email", "provider": "mailchimp", "settings": {}}]}"#,
            "unknown provider `mailchimp`",
        ),
        (
            r#"{"channels": [{"key": "mail", "type": "email", "provider": "smtp", "settings": {"from": "a@b.c"}}]}"#,
            "setting `host` is required",
        ),
        (
            r#"{"channels": [{"key": "mail", "type": "carrier_pigeon"}]}"#,
            "unknown type `carrier_pigeon`",
        ),
        (
            r#"{"channels": [{"key": "mail", "type": "http", "settings": {"signing_secret": {"env": "HERALD_TEST_WEBHOOK_SECRET"}}}]}"#,
            "`HERALD_TEST_WEBHOOK_SECRET`, which is not set",
        ),
    ] {
        let (ok, stderr) = start_with_channels(channels, &[]);
        assert!(!ok, "{channels} started");
        assert!(
            stderr.contains("channels.json")
                && stderr.contains("channel `mail`")
                && stderr.contains(expected),
            "{channels}: {stderr}"
        );
    }
}
