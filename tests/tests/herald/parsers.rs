//! Property tests: arbitrary input to the trigger body, workflow definition, condition,
//! window-rule and query-string parsers never panics, and a query string never makes the API
//! answer 500.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use herald_core::condition::Conditions;
use herald_core::definition::{from_json, ChannelType, Channels};
use herald_core::engine::TriggerRequest;
use herald_core::window_rule::WindowRule;
use proptest::prelude::*;
use serde_json::{json, Map, Value};
use tower::ServiceExt;

/// Keys Herald's parsers look for, so arbitrary objects often hit real code paths.
const KEYS: &[&str] = &[
    "recipients",
    "actor",
    "data",
    "cancellation_key",
    "tenant",
    "settings",
    "id",
    "collection",
    "name",
    "steps",
    "ref",
    "type",
    "channel_key",
    "template",
    "markdown_body",
    "conditions",
    "all",
    "any",
    "variable",
    "operator",
    "argument",
    "frequency",
    "days",
    "hours",
    "minutes",
    "day_of_month",
    "interval",
    "delay_for",
    "unit",
    "value",
    "branches",
    "batch_window",
    "$trigger_data",
    "skip_delay",
    "sandbox_mode",
    "x",
];

fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => proptest::sample::select(KEYS).prop_map(str::to_string),
        1 => "[a-z_$@.]{0,8}",
    ]
}

fn scalar() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(|f| json!(f)),
        "\\PC{0,12}".prop_map(Value::from),
        proptest::sample::select(
            &[
                "equal_to",
                "greater_than",
                "contains",
                "is_timestamp_before",
                "daily",
                "weekly",
                "monthly",
                "weekdays",
                "mon",
                "seconds",
                "days",
                "delay",
                "channel",
                "branch",
                "batch",
                "in-app",
                "data.x",
                "recipient.id",
                "2026-03-08T02:30:00Z",
                "{{ data.x }}",
            ][..]
        )
        .prop_map(Value::from),
    ]
}

fn value() -> impl Strategy<Value = Value> {
    scalar().prop_recursive(6, 64, 6, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            proptest::collection::vec((key(), inner), 0..6)
                .prop_map(|kv| Value::Object(kv.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

fn channels() -> Channels {
    let mut c = Channels::default();
    c.insert("in-app", ChannelType::InAppFeed);
    c
}

fn now() -> DateTime<Utc> {
    "2026-03-08T06:59:59Z".parse().unwrap_or_default()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn trigger_bodies_never_panic(body in value()) {
        let _ = TriggerRequest::from_json(&body);
        let _ = TriggerRequest::from_json(&json!({"recipients": [body.clone()], "data": body}));
    }

    #[test]
    fn workflow_definitions_never_panic(steps in value(), conditions in value()) {
        let _ = from_json("fuzzed", &json!({"name": "F", "steps": steps}), &channels());
        let _ = from_json(
            "fuzzed",
            &json!({"name": "F", "conditions": conditions, "steps": [steps]}),
            &channels(),
        );
    }

    #[test]
    fn conditions_never_panic(conditions in value(), scope in value()) {
        if let Ok(c) = Conditions::from_json(&conditions, "conditions") {
            let _ = c.evaluate(&scope, now());
        }
    }

    #[test]
    fn window_rules_never_panic(rule in value()) {
        if let Ok(r) = WindowRule::from_value(&rule) {
            for tz in [chrono_tz::UTC, chrono_tz::America::New_York, chrono_tz::Australia::Lord_Howe] {
                let _ = r.next_after(now(), tz);
            }
        }
    }
}

/// An in-memory API, as the local server serves it.
fn api() -> axum::Router {
    let store = Arc::new(herald_embedded::SqliteStore::in_memory().expect("store"));
    let waker = Arc::new(herald_tests::recording_waker::RecordingWaker::default());
    let engine = herald_core::Engine::new(
        store,
        waker,
        Arc::new(herald_core::SystemClock),
        Arc::new(herald_core::definition::WorkflowSet::default().with_channels(channels())),
    );
    herald_http::router(herald_http::App::new(engine, ["sk_test"]))
}

fn query() -> impl Strategy<Value = String> {
    let name = proptest::sample::select(
        &[
            "page_size",
            "after",
            "before",
            "status",
            "status[]",
            "engagement_status[]",
            "channel_id",
            "inserted_at.gte",
            "inserted_at[lt]",
            "message_ids[]",
            "workflow",
            "recipient",
            "tenant",
            "has_errors",
            "workflow_categories[]",
            "archived",
            "source",
            "x",
        ][..],
    );
    let value = prop_oneof!["\\PC{0,16}", "-?[0-9]{1,22}", Just(String::new())];
    proptest::collection::vec((name, value), 0..6).prop_map(|pairs| {
        pairs
            .iter()
            .map(|(k, v)| {
                let v: String = url_encode(v);
                format!("{}={v}", url_encode(k))
            })
            .collect::<Vec<_>>()
            .join("&")
    })
}

fn url_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn query_strings_never_answer_500(q in query(), path in proptest::sample::select(&[
        "/v1/messages", "/v1/users/u1/messages", "/v1/users/u1/feeds/in-app",
        "/v1/workflow_recipient_runs", "/v1/objects/projects", "/v1/tenants", "/v1/batches",
        "/v1/users/u1/subscriptions", "/v1/objects/projects/p1/messages",
    ][..])) {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
        let status = runtime.block_on(async {
            let req = axum::http::Request::get(format!("{path}?{q}"))
                .header("authorization", "Bearer sk_test")
                .body(axum::body::Body::empty())
                .expect("request");
            api().oneshot(req).await.expect("infallible").status()
        });
        prop_assert!(status.as_u16() < 500, "{path}?{q} answered {status}");
    }
}
