//! End to end over HTTP against the real `herald` binary (built by `cargo build -p herald-local`).

use std::time::Duration;

use herald_tests::http::{eventually, Client};
use herald_tests::server::{start_with_fixtures, Server};
use serde_json::{json, Value};

fn start() -> (tempfile::TempDir, Server, Client) {
    start_with_fixtures()
}

async fn trigger(c: &Client, key: &str, body: Value) -> String {
    let r = c.post(&format!("/v1/workflows/{key}/trigger"), &body).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    r.body["workflow_run_id"]
        .as_str()
        .expect("workflow_run_id")
        .to_string()
}

async fn cancel(c: &Client, key: &str, body: Value) {
    let r = c.post(&format!("/v1/workflows/{key}/cancel"), &body).await;
    assert_eq!(r.status, 204, "{:?}", r.body);
    assert_eq!(r.body, Value::Null, "204 has no body");
}

#[tokio::test]
async fn three_recipients_two_second_delay_one_cancelled_at_once() {
    let (_dir, _server, c) = start();
    let body = json!({"recipients": ["u1", "u2", {"id": "u3", "name": "Third"}], "cancellation_key": "invite-42", "data": {"what": "accept the invite"}});
    let run = trigger(&c, "reminder-2s", body).await;
    cancel(
        &c,
        "reminder-2s",
        json!({"cancellation_key": "invite-42", "recipients": ["u2"]}),
    )
    .await;

    for user in ["u1", "u3"] {
        let messages = eventually(Duration::from_secs(10), "the reminder", || async {
            let m = c.messages_of(user).await;
            (!m.is_empty()).then_some(m)
        })
        .await;
        assert_eq!(messages.len(), 1);
        assert_eq!(messages[0]["source"]["workflow_run_id"], json!(run));
    }
    assert_eq!(c.messages_of("u3").await[0]["status"], json!("delivered"),);
    // Give the cancelled run every chance to (wrongly) fire, then check all three again.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(c.messages_of("u1").await.len(), 1);
    assert_eq!(c.messages_of("u2").await.len(), 0);
    assert_eq!(c.messages_of("u3").await.len(), 1);
    let runs = c
        .get("/v1/workflow_recipient_runs?workflow=reminder-2s&status[]=cancelled")
        .await;
    let items = runs.body["items"].as_array().expect("items");
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["recipient"], json!("u2"));
    assert_eq!(
        items[0]["trigger_source"]["cancellation_key"],
        json!("invite-42")
    );
}

#[tokio::test]
async fn a_cancel_before_the_trigger_does_not_cancel_it() {
    let (_dir, _server, c) = start();
    cancel(&c, "welcome-now", json!({"cancellation_key": "early"})).await;
    trigger(
        &c,
        "welcome-now",
        json!({"recipients": [{"id": "ann", "name": "Ann"}], "cancellation_key": "early"}),
    )
    .await;
    let feed = eventually(Duration::from_secs(5), "the welcome message", || async {
        let r = c.get("/v1/users/ann/feeds/in-app").await;
        (r.body["entries"].as_array().is_some_and(|e| !e.is_empty())).then_some(r.body)
    })
    .await;
    assert_eq!(
        feed["entries"][0]["blocks"][0]["content"],
        json!("Welcome **Ann**")
    );
    assert_eq!(
        feed["entries"][0]["blocks"][0]["rendered"],
        json!("<p>Welcome <strong>Ann</strong></p>\n")
    );
    assert_eq!(feed["meta"]["unread_count"], json!(1));
}

#[tokio::test]
async fn paused_runs_fire_once_after_a_crash_and_restart() {
    let (_dir, mut server, c) = start();
    trigger(&c, "reminder-2s", json!({"recipients": ["r1", "r2"]})).await;
    let queued_then_killed = trigger(&c, "welcome-now", json!({"recipients": ["w1"]})).await;
    let _ = queued_then_killed;
    tokio::time::sleep(Duration::from_millis(300)).await;
    server.kill(); // SIGKILL while the delay is pending
    tokio::time::sleep(Duration::from_millis(500)).await;
    server.restart();
    for user in ["r1", "r2", "w1"] {
        eventually(
            Duration::from_secs(10),
            "the message after restart",
            || async { (c.messages_of(user).await.len() == 1).then_some(()) },
        )
        .await;
    }
    // Restart again after they fired: nothing is sent twice.
    server.restart();
    tokio::time::sleep(Duration::from_millis(800)).await;
    for user in ["r1", "r2", "w1"] {
        assert_eq!(c.messages_of(user).await.len(), 1, "{user} got a duplicate");
    }
}

async fn error_of(c: &Client, method: &str, path: &str, body: Option<&str>) -> (u16, Value) {
    let r = c.send(method, path, body.map(str::to_string)).await;
    assert!(r.request_id.is_some(), "x-request-id on every response");
    for field in ["code", "message", "status", "type"] {
        assert!(
            r.body.get(field).is_some(),
            "{field} missing from {:?}",
            r.body
        );
    }
    assert_eq!(r.body["status"], json!(r.status));
    (r.status, r.body)
}

#[tokio::test]
async fn bad_inputs_get_knock_errors() {
    let (_dir, server, c) = start();
    let (s, b) = error_of(
        &c,
        "POST",
        "/v1/workflows/nope/trigger",
        Some(r#"{"recipients":["a"]}"#),
    )
    .await;
    assert_eq!((s, b["code"].as_str()), (404, Some("workflow_missing")));
    let many: Vec<String> = (0..1001).map(|i| format!("u{i}")).collect();
    let (s, b) = error_of(
        &c,
        "POST",
        "/v1/workflows/welcome-now/trigger",
        Some(&json!({"recipients": many}).to_string()),
    )
    .await;
    assert_eq!((s, b["code"].as_str()), (422, Some("invalid_params")));
    assert_eq!(b["errors"][0]["field"], json!("recipients"));
    let (s, b) = error_of(
        &c,
        "POST",
        "/v1/workflows/welcome-now/trigger",
        Some(r#"{"recipients":["a"],"data":[1,2]}"#),
    )
    .await;
    assert_eq!((s, b["code"].as_str()), (422, Some("invalid_params")));
    assert_eq!(b["errors"][0]["field"], json!("data"));
    let (s, b) = error_of(
        &c,
        "POST",
        "/v1/workflows/welcome-now/trigger",
        Some(r#"{"recipients": ["a""#),
    )
    .await;
    assert_eq!((s, b["code"].as_str()), (400, Some("invalid_json")));
    // Nested deeper than Herald stores (64 levels): refused before anything is stored.
    let deep = (0..65).fold(json!(1), |v, _| json!([v]));
    let (s, b) = error_of(
        &c,
        "POST",
        "/v1/workflows/welcome-now/trigger",
        Some(&json!({"recipients": ["a"], "data": {"x": deep}}).to_string()),
    )
    .await;
    assert_eq!((s, b["code"].as_str()), (422, Some("invalid_params")));
    assert_eq!(b["errors"][0]["field"], json!("body"));
    let (s, _) = error_of(
        &c,
        "PUT",
        "/v1/users/deep",
        Some(&json!({"x": deep}).to_string()),
    )
    .await;
    assert_eq!(s, 422);
    let (s, b) = error_of(
        &c,
        "POST",
        "/v1/workflows/welcome-now/trigger",
        Some(r#"{"recipients":["a"],"actor":"ghost"}"#),
    )
    .await;
    assert_eq!((s, b["code"].as_str()), (422, Some("actor_missing")));
    let (s, b) = error_of(
        &c,
        "POST",
        "/v1/workflows/welcome-now/cancel",
        Some(r#"{"recipients":["a"]}"#),
    )
    .await;
    assert_eq!(
        (s, b["errors"][0]["field"].as_str()),
        (422, Some("cancellation_key"))
    );
    let (s, _) = error_of(&c, "GET", "/v1/users/nobody", None).await;
    assert_eq!(s, 404);
    let (s, _) = error_of(&c, "GET", "/v1/messages/not-a-uuid", None).await;
    assert_eq!(s, 404);
    let (s, b) = error_of(&c, "GET", "/v1/messages?page_size=500", None).await;
    assert_eq!(
        (s, b["errors"][0]["field"].as_str()),
        (422, Some("page_size"))
    );

    let anonymous = Client::new(&server.base_url, "");
    let (s, b) = error_of(
        &anonymous,
        "POST",
        "/v1/workflows/welcome-now/trigger",
        Some(r#"{"recipients":["a"]}"#),
    )
    .await;
    assert_eq!(
        (s, b["type"].as_str(), b["code"].as_str()),
        (401, Some("authentication_error"), Some("api_key_missing"))
    );
    let wrong = Client::new(&server.base_url, "sk_wrong");
    let (s, _) = error_of(&wrong, "GET", "/v1/users/a", None).await;
    assert_eq!(s, 401);
    let ok = c.get("/v1/messages").await;
    assert!(ok.request_id.is_some());
}

#[tokio::test]
async fn identify_feed_engagement_and_run_detail() {
    let (_dir, _server, c) = start();
    let user = c
        .put(
            "/v1/users/jo",
            &json!({"name": "Jo", "email": "jo@x", "plan": "pro"}),
        )
        .await;
    assert_eq!(user.status, 200);
    let merged = c.put("/v1/users/jo", &json!({"email": "jo@y"})).await;
    assert_eq!(
        (
            merged.body["name"].clone(),
            merged.body["email"].clone(),
            merged.body["plan"].clone()
        ),
        (json!("Jo"), json!("jo@y"), json!("pro"))
    );
    let run = trigger(
        &c,
        "welcome-now",
        json!({"recipients": ["jo"], "actor": "jo", "tenant": "acme"}),
    )
    .await;
    let messages = eventually(Duration::from_secs(5), "the message", || async {
        let m = c.messages_of("jo").await;
        (!m.is_empty()).then_some(m)
    })
    .await;
    let id = messages[0]["id"].as_str().expect("id").to_string();
    assert_eq!(messages[0]["tenant"], json!("acme"));
    let archived = c
        .send("PUT", &format!("/v1/messages/{id}/archived"), None)
        .await;
    assert_eq!(archived.status, 200);
    assert_eq!(archived.body["engagement_statuses"], json!(["archived"]));
    let feed = c.get("/v1/users/jo/feeds/in-app").await.body;
    assert_eq!(
        feed["entries"].as_array().map(Vec::len),
        Some(0),
        "archived items leave the feed"
    );
    let feed = c
        .get("/v1/users/jo/feeds/in-app?archived=include")
        .await
        .body;
    assert_eq!(feed["entries"][0]["actors"][0]["name"], json!("Jo"));
    let filtered = c
        .get(&format!(
            "/v1/messages?workflow_run_id={run}&engagement_status[]=archived"
        ))
        .await
        .body;
    assert_eq!(filtered["items"].as_array().map(Vec::len), Some(1));

    let runs = c
        .get("/v1/workflow_recipient_runs?workflow=welcome-now")
        .await
        .body;
    let run_id = runs["items"][0]["id"].as_str().expect("run id").to_string();
    let detail = c
        .get(&format!("/v1/workflow_recipient_runs/{run_id}"))
        .await
        .body;
    assert_eq!(detail["status"], json!("completed"));
    assert_eq!(detail["workflow_run_id"], json!(run));
    let events: Vec<&str> = detail["events"]
        .as_array()
        .expect("events")
        .iter()
        .filter_map(|e| e["event"].as_str())
        .collect();
    assert_eq!(
        events,
        ["message_created", "workflow_recipient_run_completed"]
    );
}

#[tokio::test]
async fn a_paused_run_resumes_in_the_version_it_was_triggered_with() {
    let data = tempfile::tempdir().expect("data dir");
    let workflows = tempfile::tempdir().expect("workflows dir");
    let folder = workflows.path().join("pinned");
    std::fs::create_dir_all(&folder).expect("folder");
    std::fs::write(
        workflows.path().join("channels.json"),
        r#"{"channels": [{"key": "in-app", "type": "in_app_feed"}]}"#,
    )
    .expect("channels");
    let write = |steps: Value| {
        std::fs::write(
            folder.join("workflow.json"),
            json!({"name": "Pinned", "steps": steps}).to_string(),
        )
        .expect("workflow")
    };
    let feed = |r: &str, text: &str| {
        json!({"ref": r, "type": "channel", "channel_key": "in-app",
               "template": {"markdown_body": text}})
    };
    let delay = json!({"ref": "wait", "type": "delay", "settings": {"delay_for": {"unit": "seconds", "value": 2}}});
    write(json!([delay.clone(), feed("feed", "first version")]));
    let mut server = Server::start(data.path(), workflows.path());
    let c = Client::new(&server.base_url, herald_tests::server::API_KEY);
    trigger(&c, "pinned", json!({"recipients": ["old"]})).await;

    // While the run waits, the workflow gains a step before the delay and a new text.
    write(json!([
        feed("inserted", "inserted step"),
        delay,
        feed("feed", "second version")
    ]));
    server.restart();
    // A fresh client: the old one's pooled connection died with the process.
    let c = Client::new(&server.base_url, herald_tests::server::API_KEY);
    trigger(&c, "pinned", json!({"recipients": ["new"]})).await;

    let old = eventually(
        Duration::from_secs(10),
        "the paused run's message",
        || async {
            let m = c.messages_of("old").await;
            (!m.is_empty()).then_some(m)
        },
    )
    .await;
    let new = eventually(
        Duration::from_secs(10),
        "the new run's messages",
        || async {
            let m = c.messages_of("new").await;
            (m.len() == 2).then_some(m)
        },
    )
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let old_again = c.messages_of("old").await;
    assert_eq!(
        old_again.len(),
        1,
        "the old run ran its own steps only: {old_again:?}"
    );
    assert_eq!(content_text(&c, &old[0]).await, "first version");
    let mut new_texts = vec![
        content_text(&c, &new[0]).await,
        content_text(&c, &new[1]).await,
    ];
    new_texts.sort();
    assert_eq!(new_texts, vec!["inserted step", "second version"]);
    let (v_old, v_new) = (
        &old[0]["source"]["version_id"],
        &new[0]["source"]["version_id"],
    );
    assert!(v_old.as_str().is_some_and(|v| v.len() == 32), "{v_old}");
    assert_ne!(v_old, v_new, "each message names its workflow version");
}

/// The markdown of an in-app message, from `GET /v1/messages/{id}/content`.
async fn content_text(c: &Client, message: &Value) -> String {
    let id = message["id"].as_str().expect("id");
    let r = c.get(&format!("/v1/messages/{id}/content")).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    r.body["data"]["blocks"][0]["content"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}
