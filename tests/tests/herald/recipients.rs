//! Preferences, conditions, tenants and trigger-data validation through the engine, on an
//! injected clock: who gets a message, who does not, and what the run says about why.

use std::sync::Arc;

use chrono::Duration;
use herald_core::definition::{from_json, ChannelType, Channels, WorkflowSet};
use herald_core::engine::TriggerRequest;
use herald_core::object::TENANTS;
use herald_core::ports::{MessageQuery, Store};
use herald_core::preference::PreferenceSet;
use herald_core::recipient::RecipientRef;
use herald_core::{Engine, EngineError, ManualClock};
use herald_embedded::SqliteStore;
use herald_tests::fixtures::t0;
use herald_tests::recording_waker::RecordingWaker;
use serde_json::{json, Value};
use uuid::Uuid;

struct World {
    engine: Engine,
    store: Arc<dyn Store>,
    clock: Arc<ManualClock>,
}

fn workflows(environment_default: Option<Value>) -> WorkflowSet {
    let mut channels = Channels::default();
    channels.insert("in-app", ChannelType::InAppFeed);
    let feed = json!({"ref": "feed", "type": "channel", "channel_key": "in-app",
        "template": {"markdown_body": "Hi {{ recipient.id }}"}});
    let defs = [
        (
            "digest",
            json!({"name": "Digest", "categories": ["marketing"], "steps": [
                {"ref": "wait", "type": "delay", "settings": {"delay_for": {"unit": "hours", "value": 1}}},
                feed.clone()]}),
        ),
        (
            "password-reset",
            json!({"name": "Password reset", "categories": ["marketing"],
                "settings": {"override_preferences": true}, "steps": [feed.clone()]}),
        ),
        (
            "pro-only",
            json!({"name": "Pro only", "conditions": {"all": [
                {"variable": "recipient.plan", "operator": "equal_to", "argument": "pro"}]},
                "steps": [feed.clone()]}),
        ),
        (
            "conditional-step",
            json!({"name": "Conditional step", "steps": [{
                "ref": "feed", "type": "channel", "channel_key": "in-app",
                "conditions": {"any": [
                    {"variable": "data.priority", "operator": "greater_than", "argument": "5"},
                    {"variable": "tenant.tier", "operator": "equal_to", "argument": "gold"}]},
                "template": {"markdown_body": "Urgent"}}]}),
        ),
        (
            "validated",
            json!({"name": "Validated", "trigger_data_json_schema": {
                "type": "object", "required": ["project_id"],
                "properties": {"project_id": {"type": "string"}, "count": {"type": "integer", "minimum": 0}}},
                "steps": [feed.clone()]}),
        ),
        (
            "commercial",
            json!({"name": "Newsletter", "settings": {"is_commercial": true}, "steps": [feed]}),
        ),
    ];
    let set = WorkflowSet::new(
        defs.iter()
            .map(|(k, v)| from_json(k, v, &channels).expect("valid workflow")),
    );
    match environment_default {
        Some(body) => set.with_default_preferences(
            PreferenceSet::parse_request("default", &body)
                .expect("valid set")
                .0,
        ),
        None => set,
    }
}

fn world_with(environment_default: Option<Value>) -> World {
    let store: Arc<dyn Store> = Arc::new(SqliteStore::in_memory().expect("store"));
    let clock = Arc::new(ManualClock::new(t0()));
    let engine = Engine::new(
        store.clone(),
        Arc::new(RecordingWaker::default()),
        clock.clone(),
        Arc::new(workflows(environment_default)),
    );
    World {
        engine,
        store,
        clock,
    }
}

fn world() -> World {
    world_with(None)
}

impl World {
    async fn run(&self, workflow: &str, body: Value) -> Uuid {
        let id = self
            .engine
            .trigger(workflow, TriggerRequest::from_json(&body).expect("valid"))
            .await
            .expect("trigger");
        self.engine.resume(id).await.expect("resume");
        self.clock.advance(Duration::hours(2));
        self.engine.resume(id).await.expect("resume");
        id
    }

    async fn messages_of(&self, user: &str) -> u64 {
        let q = MessageQuery {
            recipient: Some(RecipientRef::user(user)),
            ..Default::default()
        };
        self.store.count_messages(&q).await.expect("count")
    }

    async fn events_of(&self, run: Uuid, user: &str) -> Vec<(String, Value)> {
        let id = herald_core::ids::recipient_run_id(run, &RecipientRef::user(user));
        self.store
            .recipient_run_events(id)
            .await
            .expect("events")
            .into_iter()
            .map(|e| (e.event, e.data))
            .collect()
    }

    async fn prefs(&self, user: &str, set: &str, body: Value) {
        self.engine
            .set_preferences(&RecipientRef::user(user), set, &body)
            .await
            .expect("set preferences");
    }
}

#[tokio::test]
async fn an_opted_out_recipient_gets_nothing_and_the_run_says_why() {
    let w = world();
    w.prefs(
        "out",
        "default",
        json!({"categories": {"marketing": false}}),
    )
    .await;
    let run = w.run("digest", json!({"recipients": ["out", "in"]})).await;
    assert_eq!(
        (w.messages_of("out").await, w.messages_of("in").await),
        (0, 1)
    );
    let events = w.events_of(run, "out").await;
    let skipped = events
        .iter()
        .find(|(e, _)| e == "step_skipped")
        .expect("a skip event");
    assert_eq!(skipped.1["reason"], "recipient preferences opt out");
    assert!(
        skipped.1["detail"]
            .as_str()
            .unwrap_or_default()
            .contains("marketing"),
        "{skipped:?}"
    );
}

#[tokio::test]
async fn preferences_are_read_when_the_step_runs_not_at_trigger() {
    let w = world();
    let id = w
        .engine
        .trigger(
            "digest",
            TriggerRequest::from_json(&json!({"recipients": ["late"]})).expect("valid"),
        )
        .await
        .expect("trigger");
    w.engine.resume(id).await.expect("resume"); // paused on the delay
    w.prefs(
        "late",
        "default",
        json!({"channel_types": {"in_app_feed": false}}),
    )
    .await;
    w.clock.advance(Duration::hours(2));
    w.engine.resume(id).await.expect("resume");
    assert_eq!(w.messages_of("late").await, 0);
}

#[tokio::test]
async fn channel_beats_channel_type_and_merge_keeps_other_entries() {
    let w = world();
    w.prefs(
        "u",
        "default",
        json!({"channel_types": {"in_app_feed": false}, "workflows": {"other": false}}),
    )
    .await;
    w.prefs(
        "u",
        "default",
        json!({"__persistence_strategy__": "merge", "channels": {"in-app": true}}),
    )
    .await;
    let stored = w
        .engine
        .preferences(&RecipientRef::user("u"), "default")
        .await
        .expect("read")
        .expect("set exists");
    assert!(stored.workflows.contains_key("other"), "merge kept it");
    w.run("digest", json!({"recipients": ["u"]})).await;
    assert_eq!(w.messages_of("u").await, 1, "channel true beats type false");
    // A replace drops what it does not name.
    w.prefs("u", "default", json!({"categories": {"marketing": false}}))
        .await;
    let replaced = w
        .engine
        .preferences(&RecipientRef::user("u"), "default")
        .await
        .expect("read")
        .expect("set exists");
    assert!(replaced.workflows.is_empty() && replaced.channels.is_empty());
}

#[tokio::test]
async fn tenant_sets_take_precedence_and_fall_back() {
    let w = world();
    // The user opted out globally but in for tenant acme; tenant beta has a default opt-out.
    w.prefs("u", "default", json!({"categories": {"marketing": false}}))
        .await;
    w.prefs("u", "acme", json!({"categories": {"marketing": true}}))
        .await;
    w.engine
        .set_tenant(
            "beta",
            &json!({"name": "Beta", "settings": {"preference_set": {"workflows": {"digest": false}}}}),
        )
        .await
        .expect("tenant");
    w.run(
        "digest",
        json!({"recipients": ["u", "v"], "tenant": "acme"}),
    )
    .await;
    assert_eq!(w.messages_of("u").await, 1, "the tenant set wins");
    w.run("digest", json!({"recipients": ["v"], "tenant": "beta"}))
        .await;
    assert_eq!(w.messages_of("v").await, 1, "only the acme run reached v");
    w.run("digest", json!({"recipients": ["u"]})).await;
    assert_eq!(
        w.messages_of("u").await,
        1,
        "no tenant: the default set blocks"
    );
    // A tenant named only by id gets a stub.
    assert!(w
        .store
        .get_object(TENANTS, "acme")
        .await
        .expect("read")
        .is_some());
}

#[tokio::test]
async fn the_environment_default_is_the_lowest_level() {
    let w = world_with(Some(json!({"workflows": {"digest": false}})));
    w.prefs("fan", "default", json!({"workflows": {"digest": true}}))
        .await;
    w.run("digest", json!({"recipients": ["fan", "anyone"]}))
        .await;
    assert_eq!(
        (w.messages_of("fan").await, w.messages_of("anyone").await),
        (1, 0)
    );
}

#[tokio::test]
async fn override_preferences_and_commercial_subscription() {
    let w = world();
    w.prefs(
        "u",
        "default",
        json!({"categories": {"marketing": false}, "commercial_subscribed": false}),
    )
    .await;
    w.run("password-reset", json!({"recipients": ["u"]})).await;
    assert_eq!(w.messages_of("u").await, 1, "override_preferences sends");
    w.run("commercial", json!({"recipients": ["u", "v"]})).await;
    assert_eq!(
        (w.messages_of("u").await, w.messages_of("v").await),
        (1, 1),
        "unsubscribed from commercial: no newsletter for u"
    );
}

#[tokio::test]
async fn inline_preferences_on_trigger_merge() {
    let w = world();
    w.prefs("u", "default", json!({"workflows": {"other": false}}))
        .await;
    w.run(
        "digest",
        json!({"recipients": [{"id": "u", "preferences": {"default": {"categories": {"marketing": false}}}}]}),
    )
    .await;
    assert_eq!(w.messages_of("u").await, 0);
    let set = w
        .engine
        .preferences(&RecipientRef::user("u"), "default")
        .await
        .expect("read")
        .expect("exists");
    assert!(set.workflows.contains_key("other") && set.categories.contains_key("marketing"));
    let user = w.store.get_user("u").await.expect("read").expect("user");
    assert!(
        !user.properties.contains_key("preferences"),
        "preferences are sets, not a property"
    );
}

#[tokio::test]
async fn trigger_conditions_halt_the_run_and_step_conditions_skip_the_step() {
    let w = world();
    w.engine
        .identify_user("pro", &json!({"plan": "pro"}))
        .await
        .expect("identify");
    let run = w
        .run("pro-only", json!({"recipients": ["pro", "free"]}))
        .await;
    assert_eq!(
        (w.messages_of("pro").await, w.messages_of("free").await),
        (1, 0)
    );
    assert!(w
        .events_of(run, "free")
        .await
        .iter()
        .any(|(e, _)| e == "trigger_conditions_not_met"));

    w.engine
        .set_tenant("gold-co", &json!({"tier": "gold"}))
        .await
        .expect("tenant");
    w.run(
        "conditional-step",
        json!({"recipients": ["a"], "data": {"priority": 9}}),
    )
    .await;
    w.run(
        "conditional-step",
        json!({"recipients": ["b"], "data": {"priority": 1}}),
    )
    .await;
    w.run(
        "conditional-step",
        json!({"recipients": ["c"], "data": {"priority": 1}, "tenant": "gold-co"}),
    )
    .await;
    assert_eq!(
        (
            w.messages_of("a").await,
            w.messages_of("b").await,
            w.messages_of("c").await
        ),
        (1, 0, 1)
    );
}

#[tokio::test]
async fn trigger_data_is_validated_with_one_error_per_violation() {
    let w = world();
    let err = w
        .engine
        .trigger(
            "validated",
            TriggerRequest::from_json(&json!({"recipients": ["u"], "data": {"count": -1}}))
                .expect("valid body"),
        )
        .await
        .expect_err("invalid data");
    match err {
        EngineError::InvalidParams(errors) => {
            let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
            assert_eq!(errors.len(), 2, "{errors:?}");
            assert!(fields.contains(&"data.count"), "{fields:?}");
            assert!(fields.contains(&"data"), "the missing property: {fields:?}");
        }
        other => panic!("expected invalid params, got {other:?}"),
    }
    w.run(
        "validated",
        json!({"recipients": ["u"], "data": {"project_id": "p1", "count": 2}}),
    )
    .await;
    assert_eq!(w.messages_of("u").await, 1);
}

#[tokio::test]
async fn a_tenant_default_set_is_validated() {
    let w = world();
    let err = w
        .engine
        .set_tenant(
            "bad",
            &json!({"settings": {"preference_set": {"channel_types": {"pigeon": true}}}}),
        )
        .await
        .expect_err("invalid set");
    match err {
        EngineError::InvalidParams(errors) => {
            assert!(
                errors[0].field.starts_with("settings.preference_set."),
                "{errors:?}"
            )
        }
        other => panic!("expected invalid params, got {other:?}"),
    }
}
