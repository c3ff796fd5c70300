//! Delivery on the engine, injected clock, embedded store: real SMTP and webhook servers on
//! loopback (`tests/delivery/servers.py`), signatures checked by the `standardwebhooks` package.
//! Retries are driven by moving the clock, never by sleeping.

use std::sync::Arc;

use chrono::Utc;
use herald_core::definition::{load_files, WorkflowFiles, WorkflowSet};
use herald_core::engine::{CancelRequest, DeliveryReport, TriggerRequest, MAX_ATTEMPTS};
use herald_core::message::{Content, DeliveryStatus, Message};
use herald_core::ports::fetcher::Fetcher;
use herald_core::ports::{MessageQuery, Store};
use herald_core::recipient::RecipientRef;
use herald_core::{Engine, ManualClock};
use herald_embedded::SqliteStore;
use herald_fetch::{Outbound, ReqwestFetcher};
use herald_tests::delivery::Receivers;
use herald_tests::recording_waker::RecordingWaker;
use serde_json::{json, Value};
use uuid::Uuid;

struct World {
    engine: Engine,
    store: Arc<dyn Store>,
    clock: Arc<ManualClock>,
    receivers: Receivers,
}

/// The test environment's workflows, loaded from files as the server loads them.
fn workflows(receivers: &Receivers) -> WorkflowSet {
    let mut files = WorkflowFiles::new("workflows");
    files.insert("channels.json", receivers.channels_json());
    files.insert(
        "layouts/default/layout.json",
        r#"{"key": "default", "name": "Default", "html_layout@": "html_layout.html", "text_layout@": "text_layout.txt"}"#,
    );
    files.insert(
        "layouts/default/html_layout.html",
        "<html><body><div class=\"brand\">Acme</div>{{ content }}</body></html>",
    );
    files.insert(
        "layouts/default/text_layout.txt",
        "ACME\n\n{{ content }}\n-- sent by Acme",
    );
    let hook = json!({"ref": "hook", "type": "channel", "channel_key": "hooks", "channel_type": "http",
        "template": {"method": "post", "url": "{{ data.url }}",
            "headers": [{"key": "x-project", "value": "{{ data.project }}"},
                        {"key": "authorization", "value": "Bearer {{ data.token }}"}],
            "query_params": [{"key": "user", "value": "{{ recipient.id }}"}],
            "body": "{\"user\": \"{{ recipient.id }}\", \"project\": \"{{ data.project }}\"}"}});
    let email = json!({"ref": "email", "type": "channel", "channel_key": "email",
        "template": {"subject": "Hi {{ recipient.name }}", "settings": {"layout_key": "default"},
            "html_body": "<p>Hello <b>{{ recipient.name }}</b>, {{ data.project }} is ready.</p><p><a href=\"https://acme.test/p\">Open</a></p>"}});
    let feed = json!({"ref": "feed", "type": "channel", "channel_key": "in-app",
        "template": {"markdown_body": "after the email"}});
    for (key, steps) in [
        ("hook", json!([hook])),
        (
            "fetch-slow",
            json!([{"ref": "fetch", "type": "http_fetch", "settings": {"method": "get", "url": "{{ data.url }}-{{ recipient.id }}"}}]),
        ),
        ("mail", json!([email.clone(), feed])),
        (
            "later",
            json!([{"ref": "wait", "type": "delay", "settings": {"delay_for": {"unit": "seconds", "value": 30}}}, hook, email.clone()]),
        ),
    ] {
        files.insert(
            format!("{key}/workflow.json"),
            json!({"name": key, "steps": steps}).to_string(),
        );
    }
    let mut set = load_files(&files).expect("the test workflows load");
    set.resolve_channels(&|name| std::env::var(name).ok())
        .expect("the channels' settings resolve");
    set
}

fn world() -> World {
    let receivers = Receivers::from_env();
    let store: Arc<dyn Store> = Arc::new(SqliteStore::in_memory().expect("store"));
    // The receiver checks signature timestamps against its own clock: start at the real time.
    let clock = Arc::new(ManualClock::new(Utc::now()));
    let workflows = workflows(&receivers);
    let fetcher: Arc<dyn Fetcher> =
        Arc::new(ReqwestFetcher::new(Outbound::AllowPrivate).expect("client"));
    let senders = herald_delivery::senders(workflows.channels(), fetcher.clone()).expect("senders");
    senders
        .check(workflows.channels())
        .expect("every provider has a sender");
    let engine = Engine::new(
        store.clone(),
        Arc::new(RecordingWaker::default()),
        clock.clone(),
        Arc::new(workflows),
    )
    .with_senders(senders)
    .with_fetcher(fetcher)
    .with_delivery_timeout(std::time::Duration::from_secs(5));
    World {
        engine,
        store,
        clock,
        receivers,
    }
}

impl World {
    /// Triggers `workflow` and resumes it once; returns the workflow run id.
    async fn run(&self, workflow: &str, body: Value) -> Uuid {
        let run = self
            .engine
            .trigger(workflow, TriggerRequest::from_json(&body).expect("trigger"))
            .await
            .expect("triggered");
        self.engine.resume(run).await.expect("resumed");
        run
    }

    async fn messages(&self, run: Uuid) -> Vec<Message> {
        let q = MessageQuery {
            workflow_run_id: Some(run),
            ..Default::default()
        };
        let page = self
            .store
            .list_messages(
                &q,
                &herald_core::ports::PageRequest {
                    page_size: 50,
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        page.items
    }

    async fn message(&self, id: Uuid) -> Message {
        self.store.get_message(id).await.unwrap().expect("message")
    }

    /// Makes attempts until the delivery finishes, moving the clock to each retry; returns
    /// the attempts made.
    async fn deliver_to_the_end(&self, id: Uuid) -> u32 {
        let mut attempts = 0;
        loop {
            match self.engine.deliver(id).await.expect("delivery") {
                DeliveryReport::Attempted(status) => {
                    attempts += 1;
                    if !status.is_pending() {
                        return attempts;
                    }
                    let next = self.message(id).await.delivery.next_attempt_at;
                    self.clock
                        .set(next.expect("a pending delivery has a next attempt"));
                }
                other => panic!("unexpected {other:?} after {attempts} attempts"),
            }
        }
    }
}

fn key() -> String {
    Uuid::new_v4().simple().to_string()
}

#[tokio::test]
async fn a_webhook_failing_three_times_is_delivered_on_the_fourth_attempt_signed_both_ways() {
    let w = world();
    let k = key();
    let url = format!("{}/hooks/flaky/3/{k}", w.receivers.http);
    let run = w
        .run(
            "hook",
            json!({"recipients": ["ann"], "data": {"url": url, "project": "Apollo", "token": "t0ps3cret"}}),
        )
        .await;
    let messages = w.messages(run).await;
    assert_eq!(messages.len(), 1);
    let m = &messages[0];
    assert_eq!(
        m.status,
        DeliveryStatus::Queued,
        "created queued, delivered after"
    );
    assert_eq!(w.deliver_to_the_end(m.id).await, 4);
    assert_eq!(w.message(m.id).await.status, DeliveryStatus::Delivered);

    let hooks = w.receivers.hooks(&k).await;
    assert_eq!(hooks.len(), 4);
    for h in &hooks {
        assert_eq!(
            h["webhook_id"],
            json!(m.id.to_string()),
            "one stable id on every attempt"
        );
        assert_eq!(
            h["standard_verified"],
            json!(true),
            "standardwebhooks verifies {h}"
        );
        assert_eq!(
            h["knock_verified"],
            json!(true),
            "x-webhook-signature verifies {h}"
        );
        assert_eq!(h["method"], "POST");
        assert_eq!(h["query"], "user=ann");
        assert_eq!(h["headers"]["x-project"], "Apollo");
        assert_eq!(h["headers"]["content-type"], "application/json");
        assert_eq!(h["body"], r#"{"user": "ann", "project": "Apollo"}"#);
    }
    let answered: Vec<_> = hooks.iter().map(|h| h["answered"].clone()).collect();
    assert_eq!(
        answered,
        vec![json!(500), json!(500), json!(500), json!(200)]
    );

    let logs = w.store.delivery_logs(m.id).await.unwrap();
    assert_eq!(logs.len(), 4);
    assert_eq!(logs[0].service_name, "Webhook");
    assert_eq!(logs[0].response["status"], 500);
    assert_eq!(logs[3].response["status"], 200);
    assert_eq!(logs[0].request["headers"]["authorization"], "[redacted]");
    assert!(
        !serde_json::to_string(&logs).unwrap().contains("t0ps3cret"),
        "no secret in a delivery log"
    );
    let events: Vec<String> = w
        .store
        .message_events(m.id)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.kind)
        .collect();
    assert_eq!(
        events,
        [
            "message.queued",
            "message.delivery_attempted",
            "message.delivery_attempted",
            "message.delivery_attempted",
            "message.delivered"
        ]
    );
    // A stale wake-up after the end makes no attempt.
    assert_eq!(
        w.engine.deliver(m.id).await.unwrap(),
        DeliveryReport::Finished
    );
    assert_eq!(w.receivers.hooks(&k).await.len(), 4);
}

#[tokio::test]
async fn a_404_is_undelivered_at_once_and_a_400_is_retried_as_knock_does() {
    let w = world();
    for (status, attempts_expected, final_status) in [
        (404, Some(1), DeliveryStatus::Undelivered),
        (400, None, DeliveryStatus::DeliveryAttempted),
    ] {
        let k = key();
        let url = format!("{}/hooks/status/{status}/{k}", w.receivers.http);
        let run = w
            .run("hook", json!({"recipients": ["ann"], "data": {"url": url}}))
            .await;
        let m = &w.messages(run).await[0];
        assert_eq!(
            w.engine.deliver(m.id).await.unwrap(),
            DeliveryReport::Attempted(final_status),
            "status {status}"
        );
        if let Some(n) = attempts_expected {
            assert_eq!(w.receivers.hooks(&k).await.len(), n);
            let events = w.store.message_events(m.id).await.unwrap();
            let last = events.last().unwrap();
            assert_eq!(last.kind, "message.undelivered");
            assert_eq!(last.data["failure_reason"], "fatal_error");
        } else {
            let next = w.message(m.id).await.delivery.next_attempt_at.unwrap();
            assert!(next > w.engine.now(), "a retry is scheduled");
        }
    }
}

#[tokio::test]
async fn retries_end_undelivered_after_eight_attempts() {
    let w = world();
    let k = key();
    let url = format!("{}/hooks/status/503/{k}", w.receivers.http);
    let run = w
        .run("hook", json!({"recipients": ["ann"], "data": {"url": url}}))
        .await;
    let m = &w.messages(run).await[0];
    let started = w.engine.now();
    assert_eq!(w.deliver_to_the_end(m.id).await, MAX_ATTEMPTS);
    let spent = w.engine.now() - started;
    assert!(
        spent >= chrono::Duration::minutes(20) && spent <= chrono::Duration::minutes(40),
        "about 30 minutes of retries, not {spent}"
    );
    assert_eq!(w.message(m.id).await.status, DeliveryStatus::Undelivered);
    let events = w.store.message_events(m.id).await.unwrap();
    assert_eq!(
        events.last().unwrap().data["failure_reason"],
        "retries_exhausted"
    );
    assert_eq!(w.receivers.hooks(&k).await.len(), MAX_ATTEMPTS as usize);
}

#[tokio::test]
async fn a_refused_destination_is_undelivered_without_a_request() {
    let receivers = Receivers::from_env();
    let store: Arc<dyn Store> = Arc::new(SqliteStore::in_memory().expect("store"));
    let workflows = workflows(&receivers);
    // The guard on, as in production.
    let fetcher: Arc<dyn Fetcher> =
        Arc::new(ReqwestFetcher::new(Outbound::PublicOnly).expect("client"));
    let senders = herald_delivery::senders(workflows.channels(), fetcher).expect("senders");
    let engine = Engine::new(
        store.clone(),
        Arc::new(RecordingWaker::default()),
        Arc::new(ManualClock::new(Utc::now())),
        Arc::new(workflows),
    )
    .with_senders(senders);
    let k = key();
    let url = format!("{}/hooks/ok/{k}", receivers.http);
    let run = engine
        .trigger(
            "hook",
            TriggerRequest::from_json(&json!({"recipients": ["ann"], "data": {"url": url}}))
                .unwrap(),
        )
        .await
        .unwrap();
    engine.resume(run).await.unwrap();
    let id = herald_core::ids::message_id(
        herald_core::ids::recipient_run_id(run, &RecipientRef::user("ann")),
        "hook",
    );
    assert_eq!(
        engine.deliver(id).await.unwrap(),
        DeliveryReport::Attempted(DeliveryStatus::Undelivered)
    );
    let logs = store.delivery_logs(id).await.unwrap();
    assert!(
        logs[0].response["error"]
            .as_str()
            .unwrap()
            .contains("refused"),
        "{logs:?}"
    );
    assert!(
        receivers.hooks(&k).await.is_empty(),
        "nothing reached the receiver"
    );
}

#[tokio::test]
async fn an_email_goes_to_the_smtp_server_with_its_layout_and_a_text_part() {
    let w = world();
    let ann = format!("ann-{}@example.com", key());
    w.store
        .upsert_user(
            "ann",
            json!({"name": "Ann", "email": ann}).as_object().unwrap(),
            w.engine.now(),
        )
        .await
        .unwrap();
    let run = w
        .run(
            "mail",
            json!({"recipients": ["ann"], "data": {"project": "Apollo"}}),
        )
        .await;
    let messages = w.messages(run).await;
    let rr = herald_core::ids::recipient_run_id(run, &RecipientRef::user("ann"));
    let events = w.store.recipient_run_events(rr).await.unwrap();
    let email = messages
        .iter()
        .find(|m| m.channel_key == "email")
        .unwrap_or_else(|| panic!("an email message: {events:?}"));
    assert!(
        messages.iter().any(|m| m.channel_key == "in-app"),
        "the run went on"
    );
    let Content::Email(content) = &email.content else {
        panic!("email content")
    };
    assert_eq!(content.to, ann);
    assert_eq!(
        w.engine.deliver(email.id).await.unwrap(),
        DeliveryReport::Attempted(DeliveryStatus::Sent)
    );
    let mail = w.receivers.mail(&ann).await;
    assert_eq!(mail.len(), 1);
    let mail = &mail[0];
    assert_eq!(mail["rcpt_tos"], json!([ann]));
    assert_eq!(mail["subject"], "Hi Ann");
    assert_eq!(mail["from"], "Acme <noreply@acme.test>");
    let html = mail["html"].as_str().unwrap();
    assert!(
        html.contains("<div class=\"brand\">Acme</div><p>Hello <b>Ann</b>, Apollo is ready.</p>"),
        "{html}"
    );
    let text = mail["text"].as_str().unwrap();
    assert!(text.starts_with("ACME"), "the text layout: {text}");
    assert!(
        text.contains("Hello") && text.contains("Ann") && text.contains("https://acme.test/p"),
        "{text}"
    );
    assert!(!text.contains("<b>"), "derived from the HTML: {text}");
    assert!(text.trim_end().ends_with("-- sent by Acme"), "{text}");
    let id = email.id.to_string();
    assert!(mail["message_id"]
        .as_str()
        .unwrap()
        .starts_with(&format!("<{id}@acme.test")));
    assert_eq!(mail["herald_message_id"], json!(id));
    let logs = w.store.delivery_logs(email.id).await.unwrap();
    assert_eq!(logs[0].service_name, "SMTP");
    assert_eq!(logs[0].response["status"], "250");
}

#[tokio::test]
async fn a_recipient_without_email_is_skipped_and_the_run_goes_on() {
    let w = world();
    let run = w
        .run(
            "mail",
            json!({"recipients": [{"id": "noemail", "name": "No Email"}]}),
        )
        .await;
    let messages = w.messages(run).await;
    assert_eq!(messages.len(), 1);
    assert_eq!(messages[0].channel_key, "in-app", "the next step still ran");
    let rr = herald_core::ids::recipient_run_id(run, &RecipientRef::user("noemail"));
    let events = w.store.recipient_run_events(rr).await.unwrap();
    let skipped = events
        .iter()
        .find(|e| e.event == "step_skipped")
        .expect("a skip event");
    assert_eq!(skipped.data["reason"], "recipient has no email address");
}

#[tokio::test]
async fn a_cancel_before_the_channel_step_means_no_message_and_no_request() {
    let w = world();
    let k = key();
    let url = format!("{}/hooks/ok/{k}", w.receivers.http);
    let to = format!("{k}@example.com");
    let run = w
        .run(
            "later",
            json!({"recipients": [{"id": "ann", "email": to}], "cancellation_key": k, "data": {"url": url}}),
        )
        .await;
    w.engine
        .cancel(
            "later",
            CancelRequest::from_json(&json!({"cancellation_key": k})).unwrap(),
        )
        .await
        .unwrap();
    w.clock.advance(chrono::Duration::seconds(31));
    w.engine.resume(run).await.unwrap();
    assert!(w.messages(run).await.is_empty());
    assert!(
        w.receivers.hooks(&k).await.is_empty(),
        "the receiver got nothing"
    );
    assert!(
        w.receivers.mail(&to).await.is_empty(),
        "the SMTP server got nothing"
    );
}

#[tokio::test]
async fn the_fetches_of_one_runs_recipients_go_out_together() {
    let w = world();
    let k = key();
    // Each answer takes two seconds; one after another, no fetch would start before the
    // previous one's answer.
    let url = format!("{}/hooks/slow/2000/{k}", w.receivers.http);
    let recipients: Vec<String> = (0..8).map(|i| format!("f{i}")).collect();
    w.run(
        "fetch-slow",
        json!({"recipients": recipients, "data": {"url": url}}),
    )
    .await;
    let mut hooks = Vec::new();
    for r in &recipients {
        hooks.extend(w.receivers.hooks(&format!("{k}-{r}")).await);
    }
    assert_eq!(hooks.len(), 8);
    let time = |h: &Value, f: &str| h[f].as_f64().expect("a time");
    let first_end = hooks
        .iter()
        .map(|h| time(h, "ended"))
        .fold(f64::MAX, f64::min);
    let overlapping = hooks
        .iter()
        .filter(|h| time(h, "started") < first_end)
        .count();
    assert!(
        overlapping >= 4,
        "only {overlapping} of 8 fetches had started before the first answer came back"
    );
}

#[tokio::test]
async fn a_lapsed_eighth_claim_ends_undelivered_without_a_ninth_request() {
    let w = world();
    let k = key();
    let url = format!("{}/hooks/ok/{k}", w.receivers.http);
    let run = w
        .run("hook", json!({"recipients": ["ann"], "data": {"url": url}}))
        .await;
    let m = &w.messages(run).await[0];
    // Eight claims whose workers all died before recording (each lease lapses at once).
    let now = w.engine.now();
    for attempt in 1..=MAX_ATTEMPTS {
        assert!(w
            .store
            .claim_attempt(m.id, attempt, now, now)
            .await
            .unwrap()
            .applied());
    }
    assert_eq!(
        w.engine.deliver(m.id).await.unwrap(),
        DeliveryReport::Attempted(DeliveryStatus::Undelivered)
    );
    assert!(w.receivers.hooks(&k).await.is_empty(), "no ninth request");
    let events = w.store.message_events(m.id).await.unwrap();
    assert_eq!(
        events.last().unwrap().data["failure_reason"],
        "retries_exhausted"
    );
}
