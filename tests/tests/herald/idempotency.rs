//! `Idempotency-Key` on trigger, end to end against the real binary: Knock's replay headers, the
//! conflict on another body, the key's length limit, keys freed by a refused request, and one
//! workflow run for concurrent requests with one key.

use std::time::Duration;

use herald_tests::http::{eventually, Client};
use herald_tests::server::start_with_fixtures;
use serde_json::{json, Value};

const TRIGGER: &str = "/v1/workflows/welcome-now/trigger";

fn unique(prefix: &str) -> String {
    format!("{prefix}-{}", uuid::Uuid::new_v4().simple())
}

async fn one_message_for(c: &Client, user: &str) -> Vec<Value> {
    let messages = eventually(Duration::from_secs(10), "the message", || async {
        let m = c.messages_of(user).await;
        (!m.is_empty()).then_some(m)
    })
    .await;
    // Give a second run every chance to (wrongly) deliver too.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let again = c.messages_of(user).await;
    assert_eq!(again.len(), 1, "one message, not {again:?}");
    messages
}

#[tokio::test]
async fn a_retried_trigger_replays_its_first_answer() {
    let (_dir, _server, c) = start_with_fixtures();
    let user = unique("ann");
    let key = unique("order-placed");
    let body = json!({"recipients": [{"id": user, "name": "Ann"}], "data": {"order": 7}});

    let first = c.post_idempotent(TRIGGER, &body, &key).await;
    assert_eq!(first.status, 200, "{:?}", first.body);
    assert_eq!(first.header("idempotent-replayed"), None);
    let run = first.body["workflow_run_id"].clone();

    let replay = c.post_idempotent(TRIGGER, &body, &key).await;
    assert_eq!(replay.status, 200, "{:?}", replay.body);
    assert_eq!(replay.body["workflow_run_id"], run);
    assert_eq!(replay.header("idempotent-replayed"), Some("true"));
    assert_eq!(
        replay.header("original-x-request-id"),
        first.request_id.as_deref()
    );
    assert_ne!(replay.request_id, first.request_id);
    let messages = one_message_for(&c, &user).await;
    assert_eq!(messages[0]["source"]["workflow_run_id"], run);

    // The same key with another body, or for another workflow: refused, not retried.
    let other = json!({"recipients": [{"id": user, "name": "Ann"}], "data": {"order": 8}});
    for (path, body) in [
        (TRIGGER, &other),
        ("/v1/workflows/reminder-2s/trigger", &body),
    ] {
        let conflict = c.post_idempotent(path, body, &key).await;
        assert_eq!(conflict.status, 409, "{:?}", conflict.body);
        assert_eq!(conflict.body["code"], "idempotency_key_reused");
        assert_eq!(conflict.body["status"], 409);
        assert_eq!(conflict.body["type"], "invalid_request_error");
        assert!(conflict.body["message"]
            .as_str()
            .is_some_and(|m| m.contains("different parameters")));
        assert_eq!(conflict.header("x-should-retry"), Some("false"));
    }
    assert_eq!(c.messages_of(&user).await.len(), 1);
}

#[tokio::test]
async fn keys_are_checked_and_only_successes_are_kept() {
    let (_dir, _server, c) = start_with_fixtures();
    let body = json!({"recipients": [unique("bob")]});

    let long = c.post_idempotent(TRIGGER, &body, &"k".repeat(256)).await;
    assert_eq!(long.status, 422, "{:?}", long.body);
    assert_eq!(long.body["code"], "invalid_params");
    assert_eq!(long.body["errors"][0]["field"], "Idempotency-Key");
    let longest = c.post_idempotent(TRIGGER, &body, &"k".repeat(255)).await;
    assert_eq!(longest.status, 200, "{:?}", longest.body);

    // A refused request keeps nothing: the key then works for a good one.
    let key = unique("retry-after-fix");
    let missing = c
        .post_idempotent("/v1/workflows/no-such-flow/trigger", &body, &key)
        .await;
    assert_eq!(missing.status, 404, "{:?}", missing.body);
    let invalid = c
        .post_idempotent(TRIGGER, &json!({"recipients": []}), &key)
        .await;
    assert_eq!(invalid.status, 422, "{:?}", invalid.body);
    let good = c.post_idempotent(TRIGGER, &body, &key).await;
    assert_eq!(good.status, 200, "{:?}", good.body);
    assert_eq!(good.header("idempotent-replayed"), None);

    // Other endpoints accept the header and ignore it: the SDK sends one on every POST.
    let user = unique("carol");
    for name in ["Carol", "Caroline"] {
        let r = c
            .send_with(
                "PUT",
                &format!("/v1/users/{user}"),
                Some(json!({"name": name}).to_string()),
                &[("idempotency-key", "same-key-everywhere")],
            )
            .await;
        assert_eq!(r.status, 200, "{:?}", r.body);
        assert_eq!(r.body["name"], name);
        assert_eq!(r.header("idempotent-replayed"), None);
    }
}

#[tokio::test]
async fn concurrent_triggers_with_one_key_make_one_run() {
    let (_dir, _server, c) = start_with_fixtures();
    let c = std::sync::Arc::new(c);
    let user = unique("dan");
    let key = unique("burst");
    let body = json!({"recipients": [{"id": user, "name": "Dan"}]});
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..20 {
        let (c, body, key) = (c.clone(), body.clone(), key.clone());
        tasks.spawn(async move { c.post_idempotent(TRIGGER, &body, &key).await });
    }
    let mut runs = std::collections::HashSet::new();
    while let Some(reply) = tasks.join_next().await {
        let reply = reply.expect("request task");
        assert_eq!(reply.status, 200, "{:?}", reply.body);
        runs.insert(reply.body["workflow_run_id"].to_string());
    }
    assert_eq!(runs.len(), 1, "one workflow run: {runs:?}");
    one_message_for(&c, &user).await;
    let listed = c
        .get(&format!(
            "/v1/workflow_recipient_runs?workflow=welcome-now&recipient={user}"
        ))
        .await;
    assert_eq!(listed.status, 200, "{:?}", listed.body);
    assert_eq!(listed.body["items"].as_array().map(Vec::len), Some(1));
}
