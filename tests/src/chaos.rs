//! The chaos run: delayed triggers and cancels against the real server while it is killed
//! (`SIGKILL`) at random moments and restarted, then a count of what went wrong. Clients behave
//! as the official SDKs do: a request that got no answer is retried, a trigger with the same
//! `Idempotency-Key`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use serde_json::{json, Value};

use crate::server::{Server, API_KEY};

/// How big a run is.
#[derive(Debug, Clone, Copy)]
pub struct ChaosPlan {
    /// Single-recipient triggers of `reminder-2s` (a 2 s delay, then a feed message).
    pub triggers: usize,
    /// Of those, how many are cancelled (each right after its trigger was answered).
    pub cancels: usize,
    /// How many times the server is killed and restarted while requests are in flight.
    pub kills: usize,
    /// Requests in flight at once.
    pub concurrency: usize,
    /// Over how long the triggers are spread (the kills fall within it).
    pub spread: Duration,
}

/// What a run found. Every count but the first four must be 0.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ChaosReport {
    /// Triggers answered 200.
    pub triggered: usize,
    /// Cancels answered 204.
    pub cancelled: usize,
    /// Kills done.
    pub kills: usize,
    /// Requests retried after the server died under them.
    pub retried: usize,
    /// Answered, uncancelled triggers whose recipient got no message.
    pub lost: usize,
    /// Recipients with more than one message.
    pub duplicated: usize,
    /// Messages created after their cancel was answered 204.
    pub after_cancel: usize,
}

struct Shared {
    http: reqwest::Client,
    base: String,
    retried: Mutex<usize>,
}

impl Shared {
    /// Sends until an answer arrives (the server may be down for a while); status and body.
    async fn send(&self, path: &str, body: &Value, idempotency_key: Option<&str>) -> (u16, Value) {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let mut req = self
                .http
                .post(format!("{}{path}", self.base))
                .bearer_auth(API_KEY)
                .json(body);
            if let Some(k) = idempotency_key {
                req = req.header("idempotency-key", k);
            }
            match req.send().await {
                // "Still in progress": retry shortly, as the SDKs do.
                Ok(resp)
                    if resp.status().as_u16() == 409
                        && resp.headers().contains_key("retry-after") =>
                {
                    if let Ok(mut r) = self.retried.lock() {
                        *r += 1;
                    }
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                Ok(resp) if resp.status().as_u16() < 500 => {
                    let status = resp.status().as_u16();
                    let body = resp.json::<Value>().await.unwrap_or(Value::Null);
                    return (status, body);
                }
                _ => {
                    assert!(Instant::now() < deadline, "no answer from {path} in 60 s");
                    if let Ok(mut r) = self.retried.lock() {
                        *r += 1;
                    }
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        }
    }

    async fn get(&self, path: &str) -> Value {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let resp = self
                .http
                .get(format!("{}{path}", self.base))
                .bearer_auth(API_KEY)
                .send()
                .await;
            if let Ok(resp) = resp {
                if resp.status().is_success() {
                    if let Ok(body) = resp.json::<Value>().await {
                        return body;
                    }
                }
            }
            assert!(Instant::now() < deadline, "no answer from {path} in 60 s");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// Runs `plan` against a fresh server on the test workflows and reports what went wrong.
pub async fn run(plan: ChaosPlan) -> ChaosReport {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = Arc::new(Mutex::new(Server::start(
        dir.path(),
        &crate::server::fixture_workflows(),
    )));
    let base = server
        .lock()
        .map(|s| s.base_url.clone())
        .unwrap_or_default();
    let shared = Arc::new(Shared {
        // No pooled connection outlives a kill unnoticed for long.
        http: reqwest::Client::builder()
            .pool_idle_timeout(Duration::from_millis(200))
            .timeout(Duration::from_secs(10))
            .build()
            .expect("client"),
        base,
        retried: Mutex::new(0),
    });
    let tag = uuid::Uuid::new_v4().simple().to_string();
    // Which users are cancelled: an even spread over the triggers.
    let cancelled_every = plan
        .triggers
        .checked_div(plan.cancels.max(1))
        .unwrap_or(1)
        .max(1);
    let outcomes: Arc<Mutex<HashMap<String, Option<DateTime<Utc>>>>> = Arc::default();
    // The killer: SIGKILL and restart at random moments while the triggers flow.
    let killer = {
        let server = server.clone();
        let (kills, spread_ms) = (plan.kills, plan.spread.as_millis().max(1) as u64);
        std::thread::spawn(move || {
            let mut seed = u64::from(std::process::id()) ^ 0x9E37_79B9_7F4A_7C15;
            let mut at: Vec<u64> = (0..kills)
                .map(|_| {
                    // xorshift
                    seed ^= seed << 13;
                    seed ^= seed >> 7;
                    seed ^= seed << 17;
                    200 + seed % spread_ms
                })
                .collect();
            at.sort_unstable();
            let start = Instant::now();
            for ms in &at {
                let due = start + Duration::from_millis(*ms);
                std::thread::sleep(due.saturating_duration_since(Instant::now()));
                if let Ok(mut s) = server.lock() {
                    s.kill();
                    std::thread::sleep(Duration::from_millis(100));
                    s.restart();
                }
            }
            at.len()
        })
    };
    let started = Instant::now();
    let pace = plan
        .spread
        .checked_div(plan.triggers.max(1) as u32)
        .unwrap_or_default();
    let gate = Arc::new(tokio::sync::Semaphore::new(plan.concurrency));
    let mut tasks = tokio::task::JoinSet::new();
    let mut cancels_left = plan.cancels;
    for i in 0..plan.triggers {
        let cancel = cancels_left > 0 && i % cancelled_every == 0;
        if cancel {
            cancels_left -= 1;
        }
        // Spread over the plan's duration, so the kills land among requests.
        tokio::time::sleep_until((started + pace * i as u32).into()).await;
        let permit = gate.clone().acquire_owned().await.expect("gate");
        let (shared, outcomes, tag) = (shared.clone(), outcomes.clone(), tag.clone());
        tasks.spawn(async move {
            let _permit = permit;
            let user = format!("chaos-{tag}-{i}");
            let key = format!("chaos-{tag}-{i}");
            let body = json!({"recipients": [user], "cancellation_key": key});
            let (status, _) = shared
                .send("/v1/workflows/reminder-2s/trigger", &body, Some(&key))
                .await;
            assert_eq!(status, 200, "trigger {i}");
            let mut acked_cancel = None;
            if cancel {
                let (status, _) = shared
                    .send(
                        "/v1/workflows/reminder-2s/cancel",
                        &json!({"cancellation_key": key}),
                        None,
                    )
                    .await;
                assert_eq!(status, 204, "cancel {i}");
                acked_cancel = Some(Utc::now());
            }
            if let Ok(mut o) = outcomes.lock() {
                o.insert(user, acked_cancel);
            }
        });
    }
    while let Some(t) = tasks.join_next().await {
        t.expect("client task");
    }
    let kills = killer.join().unwrap_or(0);

    // Wait until nothing is active (every delay fired), then count.
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let page = shared
            .get("/v1/workflow_recipient_runs?workflow=reminder-2s&status[]=queued&status[]=processing&status[]=paused&page_size=1")
            .await;
        if page["items"].as_array().is_some_and(Vec::is_empty) {
            break;
        }
        assert!(Instant::now() < deadline, "runs still active after 120 s");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let outcomes = outcomes.lock().map(|o| o.clone()).unwrap_or_default();
    let mut report = ChaosReport {
        triggered: outcomes.len(),
        cancelled: outcomes.values().filter(|c| c.is_some()).count(),
        kills,
        retried: shared.retried.lock().map(|r| *r).unwrap_or(0),
        ..Default::default()
    };
    for (user, cancelled_at) in &outcomes {
        let page = shared.get(&format!("/v1/users/{user}/messages")).await;
        let messages = page["items"].as_array().cloned().unwrap_or_default();
        if messages.len() > 1 {
            report.duplicated += 1;
        }
        match cancelled_at {
            None if messages.is_empty() => report.lost += 1,
            None => {}
            Some(at) => {
                for m in &messages {
                    let created = m["inserted_at"]
                        .as_str()
                        .and_then(|t| t.parse::<DateTime<Utc>>().ok());
                    if created.is_some_and(|c| c > *at) {
                        report.after_cancel += 1;
                    }
                }
            }
        }
    }
    report
}
