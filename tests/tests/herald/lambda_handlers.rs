//! The Lambda handlers, run in-process on the `events/*.json` fixtures (the files
//! `sam local invoke -e` takes), against DynamoDB, Scheduler and SQS on moto.

use std::sync::Arc;

use tower::ServiceExt;

use chrono::{DateTime, Duration, Utc};
use herald_aws::{AwsWaker, DynamoStore, WakeMessage};
use herald_core::ids;
use herald_core::ports::{MessageQuery, Store, Waker};
use herald_core::recipient::RecipientRef;
use herald_core::run::RunStatus;
use herald_core::{Clock, Engine, ManualClock};
use herald_lambda::{bundled_workflows, handle_resume_event, Deps};
use herald_tests::aws::Stack;
use herald_tests::crash::{CrashingStore, CrashingWaker, Fuse, When};
use serde_json::{json, Value};
use uuid::Uuid;

const PLACEHOLDER: &str = "00000000-0000-4000-8000-000000000000";

fn fixture(name: &str) -> String {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../events")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn http(name: &str, replace: &[(&str, &str)]) -> lambda_http::Request {
    let mut text = fixture(name);
    for (from, to) in replace {
        text = text.replace(from, to);
    }
    lambda_http::request::from_str(&text).expect("an API Gateway HTTP API event")
}

/// The trigger fixture with its body changed by `edit`.
fn trigger_event(edit: impl FnOnce(&mut Value)) -> lambda_http::Request {
    let mut event: Value = serde_json::from_str(&fixture("trigger.json")).expect("JSON fixture");
    let mut body: Value =
        serde_json::from_str(event["body"].as_str().expect("body")).expect("JSON body");
    edit(&mut body);
    event["body"] = json!(body.to_string());
    lambda_http::request::from_str(&event.to_string()).expect("an API Gateway HTTP API event")
}

fn event(name: &str, id: Uuid) -> Value {
    serde_json::from_str(&fixture(name).replace(PLACEHOLDER, &id.to_string()))
        .expect("JSON fixture")
}

struct World {
    stack: Stack,
    deps: Deps,
    clock: Arc<ManualClock>,
}

async fn world() -> World {
    let stack = Stack::create().await;
    let clock = Arc::new(ManualClock::new(Utc::now()));
    let deps = stack.deps(
        bundled_workflows().expect("the repository's workflows load"),
        clock.clone(),
    );
    World { stack, deps, clock }
}

async fn body(resp: axum::response::Response) -> Value {
    let bytes = axum::body::to_bytes(resp.into_body(), usize::MAX)
        .await
        .expect("body");
    if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes).expect("JSON body")
    }
}

impl World {
    /// The active recipient runs of `run`.
    async fn active(&self, run: Uuid) -> herald_core::ports::ActiveRuns {
        self.deps
            .engine
            .store()
            .active_recipient_runs(run)
            .await
            .expect("runs")
    }

    /// Serves one API Gateway request with the router the Lambdas run.
    async fn call(&self, req: lambda_http::Request) -> (u16, Value) {
        let router = herald_http::router(self.deps.app.clone());
        let resp = router.oneshot(req).await.expect("the router is infallible");
        (resp.status().as_u16(), body(resp).await)
    }

    async fn trigger(&self, edit: impl FnOnce(&mut Value)) -> Uuid {
        let (status, body) = self.call(trigger_event(edit)).await;
        assert_eq!(status, 200, "{body}");
        Uuid::parse_str(body["workflow_run_id"].as_str().expect("id")).expect("uuid")
    }

    async fn messages_of(&self, user: &str) -> u64 {
        let q = MessageQuery {
            recipient: Some(RecipientRef::user(user)),
            ..Default::default()
        };
        self.deps
            .engine
            .store()
            .count_messages(&q)
            .await
            .expect("count")
    }

    fn due(&self, run: Uuid, user: &str) -> impl std::future::Future<Output = DateTime<Utc>> + '_ {
        let id = ids::recipient_run_id(run, &RecipientRef::user(user));
        async move {
            let r = self
                .deps
                .engine
                .store()
                .get_recipient_run(id)
                .await
                .expect("read")
                .expect("run");
            assert_eq!(r.status, RunStatus::Paused);
            r.wake_at.expect("wake_at")
        }
    }

    /// The input of the schedule registered for (run, at), read back from Scheduler.
    async fn schedule_input(&self, run: Uuid, at: DateTime<Utc>) -> Option<(String, Value)> {
        let got = self
            .stack
            .scheduler
            .get_schedule()
            .group_name(&self.stack.config.waker.schedule_group)
            .name(AwsWaker::schedule_name(run, at))
            .send()
            .await;
        let schedule = match got {
            Ok(s) => s,
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_resource_not_found_exception()) =>
            {
                return None
            }
            Err(e) => panic!("GetSchedule: {e:?}"),
        };
        let target = schedule.target().expect("target");
        assert_eq!(target.arn(), self.stack.config.waker.target_arn);
        assert_eq!(
            schedule.action_after_completion().map(|a| a.as_str()),
            Some("DELETE")
        );
        let input = serde_json::from_str(target.input().expect("input")).expect("JSON input");
        Some((
            schedule
                .schedule_expression()
                .expect("expression")
                .to_string(),
            input,
        ))
    }

    /// Receives the next wake-up message from the queue (long poll), as an SQS event.
    async fn next_sqs_event(&self) -> Value {
        let out = self
            .stack
            .sqs
            .receive_message()
            .queue_url(&self.stack.config.waker.queue_url)
            .wait_time_seconds(5)
            .send()
            .await
            .expect("ReceiveMessage");
        let m = out
            .messages()
            .first()
            .expect("a wake-up message on the queue");
        let mut event = event("step-resume-sqs.json", Uuid::nil());
        event["Records"][0]["body"] = json!(m.body().expect("body"));
        event["Records"][0]["messageId"] = json!(m.message_id().expect("id"));
        event
    }
}

#[tokio::test]
async fn every_fixture_is_handled() {
    let w = world().await;
    for (name, status) in [
        ("api-identify-user.json", 200),
        ("trigger.json", 200),
        ("api-list-messages.json", 200),
        ("api-feed.json", 200),
        ("cancel.json", 204),
    ] {
        let (got, body) = w.call(http(name, &[])).await;
        assert_eq!(got, status, "{name}: {body}");
        if name == "api-list-messages.json" {
            assert_eq!(
                body["page_info"]["page_size"],
                json!(10),
                "the query string reaches the handler"
            );
        }
    }
    let engine = &w.deps.engine;
    // A message that does not exist is nothing to deliver.
    for name in [
        "step-resume-stream.json",
        "step-resume-schedule.json",
        "step-resume-stream-message.json",
    ] {
        assert_eq!(
            handle_resume_event(engine, event(name, Uuid::new_v4()))
                .await
                .expect(name),
            json!({})
        );
    }
    let sqs = handle_resume_event(engine, event("step-resume-sqs.json", Uuid::new_v4()))
        .await
        .expect("sqs");
    assert_eq!(sqs, json!({"batchItemFailures": []}));
    let retry = handle_resume_event(
        engine,
        event("step-resume-sqs-delivery.json", Uuid::new_v4()),
    )
    .await
    .expect("a delivery retry");
    assert_eq!(retry, json!({"batchItemFailures": []}));
    assert!(
        handle_resume_event(engine, json!({"hello": 1}))
            .await
            .is_err(),
        "unknown events fail loudly"
    );
}

#[tokio::test]
async fn trigger_schedule_queue_resume_then_exactly_one_message() {
    let w = world().await;
    let run = w.trigger(|_| {}).await;
    assert_eq!(w.messages_of("ann").await, 0);
    // The table stream delivers the new workflow run: step-resume starts it; it pauses 3 days.
    handle_resume_event(&w.deps.engine, event("step-resume-stream.json", run))
        .await
        .expect("start");
    let due = w.due(run, "ann").await;
    assert!(due - w.clock.now() > Duration::days(2));
    let (expression, input) = w
        .schedule_input(run, due)
        .await
        .expect("a schedule for the delay");
    assert_eq!(
        expression,
        format!(
            "at({})",
            AwsWaker::schedule_time(due).format("%Y-%m-%dT%H:%M:%S")
        )
    );
    assert_eq!(
        serde_json::from_value::<WakeMessage>(input.clone()).expect("WakeMessage"),
        WakeMessage::run(run, due)
    );

    // Scheduler fires in the minute before: step-resume hands the rest to SQS.
    w.clock.set(due - Duration::seconds(1));
    handle_resume_event(&w.deps.engine, input.clone())
        .await
        .expect("early wake");
    assert_eq!(w.messages_of("ann").await, 0, "not due yet");
    let sqs_event = w.next_sqs_event().await;

    w.clock.set(due);
    let out = handle_resume_event(&w.deps.engine, sqs_event.clone())
        .await
        .expect("wake");
    assert_eq!(out, json!({"batchItemFailures": []}));
    assert_eq!(w.messages_of("ann").await, 1);
    // The same wake-up delivered twice, and the schedule firing late: still one message.
    handle_resume_event(&w.deps.engine, sqs_event)
        .await
        .expect("again");
    handle_resume_event(&w.deps.engine, input)
        .await
        .expect("late schedule");
    assert_eq!(w.messages_of("ann").await, 1);
    let (status, page) = w.call(http("api-list-messages.json", &[])).await;
    assert_eq!(status, 200);
    let text = page["items"][0]["source"]["workflow_run_id"].clone();
    assert_eq!(text, json!(run.to_string()));
    let (_, feed) = w.call(http("api-feed.json", &[])).await;
    let content = feed["entries"][0]["blocks"][0]["content"]
        .as_str()
        .expect("content");
    assert!(
        content.contains("Bob") && content.contains("Apollo"),
        "{content}"
    );
}

#[tokio::test]
async fn cancel_first_then_no_message_and_the_schedule_is_gone() {
    let w = world().await;
    let run = w
        .trigger(|b| b["cancellation_key"] = json!("invite-cx"))
        .await;
    handle_resume_event(&w.deps.engine, event("step-resume-stream.json", run))
        .await
        .expect("start");
    let due = w.due(run, "ann").await;
    let (_, input) = w.schedule_input(run, due).await.expect("scheduled");
    let (status, _) = w
        .call(http("cancel.json", &[("invite-123", "invite-cx")]))
        .await;
    assert_eq!(status, 204);
    assert!(
        w.schedule_input(run, due).await.is_none(),
        "the cancel deleted the schedule"
    );
    w.clock.set(due + Duration::minutes(1));
    handle_resume_event(&w.deps.engine, input)
        .await
        .expect("stale wake-up is a no-op");
    assert_eq!(w.messages_of("ann").await, 0);
}

/// An engine over the stack whose store and waker crash at the fuse's write.
fn crashing_engine(w: &World, fuse: &Fuse) -> Engine {
    let store: Arc<dyn Store> = Arc::new(DynamoStore::new(
        w.stack.dynamodb.clone(),
        w.stack.config.table.clone(),
        Duration::days(30),
    ));
    let waker: Arc<dyn Waker> = Arc::new(AwsWaker::new(
        w.stack.scheduler.clone(),
        w.stack.sqs.clone(),
        w.clock.clone(),
        w.stack.config.waker.clone(),
    ));
    Engine::new(
        Arc::new(CrashingStore {
            inner: store,
            fuse: fuse.clone(),
        }),
        Arc::new(CrashingWaker {
            inner: waker,
            fuse: fuse.clone(),
        }),
        w.clock.clone(),
        w.deps.engine.workflows().clone(),
    )
}

#[tokio::test]
async fn a_crash_between_any_two_writes_of_step_resume_then_the_rerun_completes_once() {
    let w = world().await;
    for when in [When::Before, When::After] {
        for n in 1.. {
            let user = format!("crash-{n}-{when:?}").to_lowercase();
            eprintln!("crash case: write {n}, {when:?}");
            w.clock.set(Utc::now());
            let run = w.trigger(|b| b["recipients"] = json!([user])).await;
            let fuse = Fuse::new(n, when);
            let crashing = crashing_engine(&w, &fuse);
            let start = event("step-resume-stream.json", run);
            if handle_resume_event(&crashing, start.clone()).await.is_err() {
                handle_resume_event(&w.deps.engine, start)
                    .await
                    .expect("rerun of start");
            }
            let due = w.due(run, &user).await;
            w.clock.set(due);
            let wake = json!({"workflow_run_id": run, "at": due});
            if handle_resume_event(&crashing, wake.clone()).await.is_err() {
                handle_resume_event(&w.deps.engine, wake)
                    .await
                    .expect("rerun of wake");
            }
            assert_eq!(
                w.messages_of(&user).await,
                1,
                "crash at write {n} ({when:?})"
            );
            let id = ids::recipient_run_id(run, &RecipientRef::user(&user));
            let stored = w
                .deps
                .engine
                .store()
                .get_recipient_run(id)
                .await
                .expect("read")
                .expect("run");
            assert_eq!(
                stored.status,
                RunStatus::Completed,
                "crash at write {n} ({when:?})"
            );
            if !fuse.blown() {
                assert!(
                    n > 3,
                    "step-resume makes at least a wake-up and three transitions"
                );
                break;
            }
        }
    }
}

#[tokio::test]
async fn aws_request_budgets() {
    let w = world().await;
    let c = &w.stack.counter;
    let writes = |c: &herald_aws::RequestCounter| {
        [
            "PutItem",
            "BatchWriteItem",
            "UpdateItem",
            "TransactWriteItems",
            "DeleteItem",
        ]
        .iter()
        .map(|op| c.count(&format!("DynamoDB.{op}")))
        .sum::<u64>()
    };
    c.reset();
    let single = w
        .trigger(|b| {
            b["recipients"] = json!(["ann"]);
            b["actor"] = Value::Null;
        })
        .await;
    let single_writes = writes(c);
    eprintln!(
        "budget: 1-recipient trigger: {} DynamoDB writes, {} requests {:?}",
        single_writes,
        c.total("DynamoDB"),
        c.snapshot()
    );
    // The first trigger of a workflow version in a process also stores the definition.
    assert!(single_writes <= 3, "{:?}", c.snapshot());
    let _ = single;
    c.reset();
    w.trigger(|b| {
        b["recipients"] = json!(["bea"]);
        b["actor"] = Value::Null;
    })
    .await;
    eprintln!(
        "budget: 1-recipient trigger, version already stored: {} DynamoDB writes {:?}",
        writes(c),
        c.snapshot()
    );
    assert!(writes(c) <= 2, "{:?}", c.snapshot());

    let many: Vec<String> = (0..1000).map(|i| format!("u{i}")).collect();
    c.reset();
    let run = w
        .trigger(|b| {
            b["recipients"] = json!(many);
            b["actor"] = Value::Null;
        })
        .await;
    let trigger_requests = c.total("DynamoDB");
    eprintln!(
        "budget: 1000-recipient trigger: {trigger_requests} DynamoDB requests {:?}",
        c.snapshot()
    );
    assert!(trigger_requests <= 45, "{:?}", c.snapshot());
    c.reset();
    handle_resume_event(&w.deps.engine, event("step-resume-stream.json", run))
        .await
        .expect("start");
    eprintln!(
        "budget: 1000 recipients reaching the delay: {:?}",
        c.snapshot()
    );
    assert_eq!(
        c.count("Scheduler.CreateSchedule"),
        1,
        "one schedule for a thousand recipients"
    );
    assert_eq!(c.count("SQS.SendMessage"), 0);

    let keyed = w
        .trigger(|b| {
            b["recipients"] = json!(["k1", "k2", "k3"]);
            b["cancellation_key"] = json!("budget-key");
        })
        .await;
    handle_resume_event(&w.deps.engine, event("step-resume-stream.json", keyed))
        .await
        .expect("start");
    c.reset();
    let (status, _) = w
        .call(http("cancel.json", &[("invite-123", "budget-key")]))
        .await;
    assert_eq!(status, 204);
    eprintln!("budget: cancel of 3 paused runs: {:?}", c.snapshot());
    assert_eq!(c.count("DynamoDB.Query"), 1);
    assert_eq!(c.count("DynamoDB.UpdateItem"), 3);
    assert_eq!(c.total("DynamoDB"), 4, "{:?}", c.snapshot());
}

/// The trigger event with an `Idempotency-Key` header and its body changed by `edit`.
fn idempotent_trigger(key: &str, edit: impl FnOnce(&mut Value)) -> lambda_http::Request {
    let mut req = trigger_event(edit);
    req.headers_mut()
        .insert("idempotency-key", key.parse().expect("a header value"));
    req
}

#[tokio::test]
async fn idempotent_triggers_on_dynamodb_make_one_run_each_key() {
    let w = world().await;
    let key = format!("invite:{}", Uuid::new_v4());
    let router = herald_http::router(w.deps.app.clone());
    // Eight at once with one key: one workflow run. On DynamoDB a trigger is several writes,
    // so the requests that find the first still under way are told to retry shortly (the
    // SDKs do) rather than run it alongside.
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..8 {
        let (router, req) = (router.clone(), idempotent_trigger(&key, |_| {}));
        tasks.spawn(async move {
            let resp = router.oneshot(req).await.expect("infallible");
            let retry = resp.headers().get("retry-after").cloned();
            (resp.status().as_u16(), retry, body(resp).await)
        });
    }
    let mut runs = std::collections::HashSet::new();
    while let Some(done) = tasks.join_next().await {
        let (status, retry, body) = done.expect("request task");
        if status == 409 {
            assert_eq!(body["code"], "idempotency_key_in_use", "{body}");
            assert_eq!(retry.as_ref().map(|v| v.as_bytes()), Some(&b"1"[..]));
            continue;
        }
        assert_eq!(status, 200, "{body}");
        runs.insert(body["workflow_run_id"].as_str().expect("id").to_string());
    }
    assert_eq!(runs.len(), 1, "{runs:?}");
    let run = Uuid::parse_str(runs.iter().next().expect("one")).expect("uuid");

    let resp = router
        .clone()
        .oneshot(idempotent_trigger(&key, |_| {}))
        .await
        .expect("infallible");
    assert_eq!(resp.headers()["idempotent-replayed"], "true");
    assert!(resp.headers().contains_key("original-x-request-id"));
    assert_eq!(body(resp).await["workflow_run_id"], json!(run.to_string()));

    let (status, conflict) = w
        .call(idempotent_trigger(&key, |b| {
            b["data"]["project_name"] = json!("Other")
        }))
        .await;
    assert_eq!(status, 409, "{conflict}");
    assert_eq!(conflict["code"], "idempotency_key_reused");

    // The stream starts the one run; it pauses in its delay with one recipient run for Ann.
    handle_resume_event(&w.deps.engine, event("step-resume-stream.json", run))
        .await
        .expect("start");
    let active = w.active(run).await.runs;
    assert_eq!(active.len(), 1, "{active:?}");
    assert_eq!(active[0].status, RunStatus::Paused);
}

/// Every message on a queue, read with short polls (moto's long poll blocks its worker).
async fn drain(w: &World, url: &str) -> Vec<String> {
    let mut bodies = Vec::new();
    for _ in 0..5 {
        let out = w
            .stack
            .sqs
            .receive_message()
            .queue_url(url)
            .max_number_of_messages(10)
            .wait_time_seconds(0)
            .send()
            .await
            .expect("ReceiveMessage");
        if out.messages().is_empty() {
            break;
        }
        for m in out.messages() {
            bodies.push(m.body().unwrap_or_default().to_string());
        }
    }
    bodies
}

#[tokio::test]
async fn the_sweep_redrives_dead_letters_and_wakes_overdue_runs() {
    let w = world().await;
    let dlq = w.stack.config.waker.dead_letter_url.clone();
    let queue = w.stack.config.waker.queue_url.clone();
    // A wake-up the queue gave up on, a failed asynchronous invocation from Scheduler (Lambda's
    // record, the wake-up as its payload), and a stream's failure record (not a wake-up).
    let (queued, scheduled) = (Uuid::new_v4(), Uuid::new_v4());
    let past = w.clock.now() - Duration::minutes(30);
    let from_queue = serde_json::to_string(&WakeMessage::run(queued, past)).expect("json");
    let from_scheduler = json!({
        "version": "1.0",
        "requestContext": {"condition": "RetriesExhausted", "approximateInvokeCount": 3},
        "requestPayload": WakeMessage::run(scheduled, past),
    })
    .to_string();
    let stream_record = json!({"DDBStreamBatchInfo": {"shardId": "shard-1"}}).to_string();
    for body in [&from_queue, &from_scheduler, &stream_record] {
        w.stack
            .sqs
            .send_message()
            .queue_url(&dlq)
            .message_body(body.as_str())
            .send()
            .await
            .expect("SendMessage");
    }
    // A wake-up redriven three times already keeps failing: it stays for an operator.
    let hopeless = Uuid::new_v4();
    w.stack
        .sqs
        .send_message()
        .queue_url(&dlq)
        .message_body(serde_json::to_string(&WakeMessage::run(hopeless, past)).expect("json"))
        .message_attributes(
            "herald-redrives",
            aws_sdk_sqs::types::MessageAttributeValue::builder()
                .data_type("Number")
                .string_value("3")
                .build()
                .expect("attribute"),
        )
        .send()
        .await
        .expect("SendMessage");
    // A run the stream never started: queued, and overdue once the clock moves on.
    let run = w.trigger(|_| {}).await;
    w.clock.set(w.clock.now() + Duration::minutes(3));

    let report = handle_resume_event(&w.deps.engine, event("step-resume-sweep.json", run))
        .await
        .expect("sweep");
    assert_eq!(report["redriven"], json!(2), "{report}");
    assert_eq!(report["workflow_runs"], json!(1), "{report}");
    let woken: Vec<WakeMessage> = drain(&w, &queue)
        .await
        .iter()
        .map(|b| serde_json::from_str(b).expect("a WakeMessage"))
        .collect();
    let ids: Vec<Option<Uuid>> = woken.iter().map(|m| m.workflow_run_id).collect();
    for id in [queued, scheduled, run] {
        assert!(ids.contains(&Some(id)), "{id} not woken: {woken:?}");
    }
    assert!(
        !ids.contains(&Some(hopeless)),
        "redriven at most three times"
    );
    // The stream record stays for inspection (hidden for an hour); the wake-ups are gone.
    assert!(drain(&w, &dlq).await.is_empty());

    // Woken, the run starts and pauses in its delay: no longer overdue.
    handle_resume_event(&w.deps.engine, event("step-resume-stream.json", run))
        .await
        .expect("start");
    let again = handle_resume_event(&w.deps.engine, event("step-resume-sweep.json", run))
        .await
        .expect("sweep again");
    assert_eq!(again["workflow_runs"], json!(0), "{again}");
    assert_eq!(again["redriven"], json!(0), "{again}");
}

#[tokio::test]
async fn a_crash_between_any_two_writes_of_trigger_or_cancel_then_the_retry_is_exact() {
    use herald_core::engine::{CancelRequest, Idempotent, TriggerRequest};
    let w = world().await;
    for when in [When::Before, When::After] {
        // A trigger with an Idempotency-Key (claim, definition, runs, completion; inline
        // identification first), retried as the SDKs retry: with the same key.
        for n in 1.. {
            let user = format!("tcrash-{n}-{when:?}").to_lowercase();
            let body = json!({"recipients": [{"id": user, "name": "T"}], "cancellation_key": user});
            let request = || TriggerRequest::from_json(&body).expect("valid");
            let idem = Idempotent {
                key: format!("key-{user}"),
                fingerprint: herald_core::idempotency::fingerprint("invite-reminder", &body),
                request_id: format!("req-{user}"),
            };
            let fuse = Fuse::new(n, when);
            let crashing = crashing_engine(&w, &fuse);
            let first = crashing
                .trigger_idempotent("invite-reminder", request(), idem.clone())
                .await;
            let retry = Idempotent {
                request_id: format!("retry-{user}"),
                ..idem.clone()
            };
            // The SDK retries after the first request died: past the in-flight bound, the
            // trigger runs again under the same run id.
            w.clock
                .set(w.clock.now() + herald_core::engine::IN_FLIGHT + Duration::seconds(1));
            let second = w
                .deps
                .engine
                .trigger_idempotent("invite-reminder", request(), retry)
                .await
                .expect("the retry succeeds");
            if let Ok(first) = &first {
                assert_eq!(first.workflow_run_id, second.workflow_run_id);
            }
            let run = second.workflow_run_id;
            handle_resume_event(&w.deps.engine, event("step-resume-stream.json", run))
                .await
                .expect("start");
            let active = w.active(run).await;
            assert_eq!(
                active.runs.len(),
                1,
                "one run after a crash at trigger write {n} ({when:?})"
            );
            if !fuse.blown() {
                assert!(n > 3, "a trigger makes at least four writes");
                break;
            }
        }
        // A cancel of a paused run, retried: after the retry's 204 the run is cancelled and its
        // wake-up creates nothing.
        for n in 1.. {
            let user = format!("ccrash-{n}-{when:?}").to_lowercase();
            w.clock.set(Utc::now());
            let run = w
                .trigger(|b| {
                    b["recipients"] = json!([user]);
                    b["cancellation_key"] = json!(user);
                })
                .await;
            handle_resume_event(&w.deps.engine, event("step-resume-stream.json", run))
                .await
                .expect("start");
            let due = w.due(run, &user).await;
            let fuse = Fuse::new(n, when);
            let crashing = crashing_engine(&w, &fuse);
            let cancel =
                || CancelRequest::from_json(&json!({"cancellation_key": user})).expect("valid");
            if crashing.cancel("invite-reminder", cancel()).await.is_err() {
                w.deps
                    .engine
                    .cancel("invite-reminder", cancel())
                    .await
                    .expect("the retried cancel");
            }
            w.clock.set(due + Duration::seconds(1));
            handle_resume_event(&w.deps.engine, json!({"workflow_run_id": run, "at": due}))
                .await
                .expect("the wake-up");
            assert_eq!(
                w.messages_of(&user).await,
                0,
                "cancel crash at write {n} ({when:?})"
            );
            if !fuse.blown() {
                break;
            }
        }
    }
}

/// Data larger than a table item is one S3 object in the data bucket, whatever the number of
/// recipients; no run or message item carries it, and the API reads it back into each message.
#[tokio::test]
async fn large_data_is_one_object_in_the_bucket_and_messages_show_it() {
    let w = world().await;
    let marker = Uuid::new_v4().simple().to_string();
    let big = "x".repeat(1_000_000);
    let run = w
        .trigger(|b| {
            b["data"] = json!({"project_name": "Apollo", "marker": marker, "big": big});
            let mut recipients = vec![json!({"id": "ann", "name": "Ann"})];
            recipients.extend((0..9).map(|i| json!(format!("user-{i}"))));
            b["recipients"] = json!(recipients);
            b["settings"] = json!({"skip_delay": true});
        })
        .await;
    handle_resume_event(&w.deps.engine, event("step-resume-stream.json", run))
        .await
        .expect("start");
    assert_eq!(w.messages_of("ann").await, 1);
    assert_eq!(w.messages_of("user-8").await, 1);

    let objects = w
        .stack
        .s3
        .list_objects_v2()
        .bucket(&w.stack.config.data_bucket)
        .prefix("payloads/")
        .send()
        .await
        .expect("ListObjectsV2");
    let sizes: Vec<i64> = objects.contents().iter().filter_map(|o| o.size()).collect();
    assert_eq!(sizes.len(), 1, "one object for ten recipients: {sizes:?}");
    assert!(sizes[0] > 1_000_000, "{sizes:?}");

    // No item of the table holds the data: runs and messages refer to it.
    let mut largest = 0;
    let mut start = None;
    loop {
        let page = w
            .stack
            .dynamodb
            .scan()
            .table_name(&w.stack.config.table)
            .set_exclusive_start_key(start)
            .send()
            .await
            .expect("Scan");
        for item in page.items() {
            let size: usize = item
                .values()
                .map(|v| match v {
                    aws_sdk_dynamodb::types::AttributeValue::S(s) => s.len(),
                    aws_sdk_dynamodb::types::AttributeValue::B(b) => b.as_ref().len(),
                    _ => 0,
                })
                .sum();
            largest = largest.max(size);
        }
        start = page.last_evaluated_key().cloned();
        if start.is_none() {
            break;
        }
    }
    assert!(largest < 64 * 1024, "an item of {largest} bytes");

    let (status, page) = w.call(http("api-list-messages.json", &[])).await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(page["items"][0]["data"]["marker"], json!(marker));
    assert_eq!(
        page["items"][0]["data"]["big"].as_str().map(str::len),
        Some(1_000_000)
    );
}

/// The AWS bill of one delayed in-app notification (the invite reminder: inline identification,
/// a cancellation key, 3 days' delay, one in-app message), priced from the requests counted here
/// and each handler's measured duration. `bash tests/bench.sh` prints it beside Step Functions.
#[tokio::test]
async fn cost_of_a_delayed_in_app_notification() {
    use herald_tests::cost::{bill, item_sizes, step_functions, Flow};
    let w = world().await;
    // The first trigger of a version also stores the definition: once per deploy, not priced.
    w.trigger(|b| {
        b["recipients"] = json!(["warm-up"]);
        b["cancellation_key"] = json!("warm-up");
    })
    .await;
    let c = &w.stack.counter;
    let (api_mb, resume_mb) = (256, 512); // the template's MemorySize for each function
    let mut flow = Flow {
        api_requests: 1,
        ..Default::default()
    };

    let engine = &w.deps.engine;
    let run = flow.invoke(api_mb, c, w.trigger(|_| {})).await;
    flow.invoke(
        resume_mb,
        c,
        handle_resume_event(engine, event("step-resume-stream.json", run)),
    )
    .await
    .expect("start");
    assert_eq!(flow.requests.get("Scheduler.CreateSchedule"), Some(&1));

    let due = w.due(run, "ann").await;
    let (_, input) = w.schedule_input(run, due).await.expect("a schedule");
    w.clock.set(due - Duration::seconds(1));
    flow.invoke(resume_mb, c, handle_resume_event(engine, input))
        .await
        .expect("early wake");
    flow.scheduler_invocations += 1;
    assert_eq!(flow.requests.get("SQS.SendMessage"), Some(&1));

    let sqs_event = w.next_sqs_event().await;
    flow.sqs_polling_requests += 2; // the event source mapping receives, then deletes it
    w.clock.set(due);
    flow.invoke(resume_mb, c, handle_resume_event(engine, sqs_event))
        .await
        .expect("wake");
    assert_eq!(w.messages_of("ann").await, 1);

    let sizes = item_sizes(&w.stack.dynamodb, &w.stack.config.table).await;
    let herald = bill(&flow, &sizes);
    eprintln!("cost: requests {:?}", flow.requests);
    for (op, s) in &flow.sizes {
        let items: Vec<String> = s
            .items
            .iter()
            .map(|(key, carried)| {
                let kind = key.0.split('#').next().unwrap_or_default();
                format!(
                    "{kind}/{} {} B, {} index entries",
                    key.1.split('#').next().unwrap_or_default(),
                    sizes.get(key).map_or(*carried, |i| i.bytes),
                    sizes.get(key).map_or(0, |i| i.index_entries.len())
                )
            })
            .collect();
        eprintln!("cost: items {op}: {}", items.join(", "));
    }
    herald.print("Herald, delayed in-app notification");
    // Step Functions: the Wait state and the task writing the message.
    let sfn = step_functions(2);
    sfn.print("Step Functions standard, same flow");
    println!(
        "cost: Herald ${:.2} per million delayed in-app notifications (target ≤ $8), {:.1}× less than Step Functions standard (${:.2}); prices of {}",
        herald.total() * 1e6,
        sfn.total() / herald.total(),
        sfn.total() * 1e6,
        herald_tests::cost::PRICED_ON
    );
    assert_eq!(flow.invocations.len(), 4);
    assert!(
        herald.lines.iter().all(|(_, dollars, _)| *dollars > 0.0),
        "{herald:?}"
    );
}
