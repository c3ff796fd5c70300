//! The Scheduler + SQS waker against moto: create, read back, conflict, delete, delay.

use std::sync::Arc;

use chrono::{Duration, Utc};
use herald_aws::{AwsWaker, WakeMessage};
use herald_core::ports::Waker;
use herald_core::{Clock, ManualClock};
use herald_tests::aws::Stack;
use uuid::Uuid;

fn waker(stack: &Stack, clock: Arc<ManualClock>) -> AwsWaker {
    AwsWaker::new(
        stack.scheduler.clone(),
        stack.sqs.clone(),
        clock,
        stack.config.waker.clone(),
    )
}

#[tokio::test]
async fn a_far_wakeup_is_one_idempotent_schedule_that_forget_deletes() {
    let stack = Stack::create().await;
    let clock = Arc::new(ManualClock::new(Utc::now()));
    let run = Uuid::new_v4();
    let at = clock.now() + Duration::hours(2);
    // Two processes registering the same wake-up: the second meets a ConflictException.
    waker(&stack, clock.clone())
        .wake_at(run, at)
        .await
        .expect("create");
    waker(&stack, clock.clone())
        .wake_at(run, at)
        .await
        .expect("conflict means already scheduled");
    assert_eq!(stack.counter.count("Scheduler.CreateSchedule"), 2);
    let group = &stack.config.waker.schedule_group;
    let name = AwsWaker::schedule_name(run, at);
    let got = stack
        .scheduler
        .get_schedule()
        .group_name(group)
        .name(&name)
        .send()
        .await
        .expect("GetSchedule");
    let target = got.target().expect("target");
    assert_eq!(target.role_arn(), stack.config.waker.role_arn);
    assert_eq!(
        target.dead_letter_config().and_then(|d| d.arn()),
        Some(stack.config.waker.dead_letter_arn.as_str())
    );
    assert!(target.retry_policy().is_some());
    let input: WakeMessage =
        serde_json::from_str(target.input().expect("input")).expect("WakeMessage");
    assert_eq!(input, WakeMessage::run(run, at));
    assert_eq!(
        got.flexible_time_window().map(|f| f.mode().as_str()),
        Some("OFF")
    );

    let w = waker(&stack, clock.clone());
    w.forget(run, at).await.expect("delete");
    w.forget(run, at)
        .await
        .expect("deleting a missing schedule is fine");
    let gone = stack
        .scheduler
        .get_schedule()
        .group_name(group)
        .name(&name)
        .send()
        .await;
    assert!(gone.is_err_and(|e| e
        .as_service_error()
        .is_some_and(|s| s.is_resource_not_found_exception())));
    assert_eq!(stack.counter.total("SQS"), 0);
}

#[tokio::test]
async fn a_near_wakeup_is_a_delayed_message_on_the_queue() {
    let stack = Stack::create().await;
    let clock = Arc::new(ManualClock::new(Utc::now()));
    let run = Uuid::new_v4();
    let at = clock.now() + Duration::seconds(2);
    waker(&stack, clock.clone())
        .wake_at(run, at)
        .await
        .expect("send");
    assert_eq!(stack.counter.count("Scheduler.CreateSchedule"), 0);
    let queue = &stack.config.waker.queue_url;
    let early = stack
        .sqs
        .receive_message()
        .queue_url(queue)
        .send()
        .await
        .expect("receive");
    assert!(
        early.messages().is_empty(),
        "the message is held for its delay"
    );
    let later = stack
        .sqs
        .receive_message()
        .queue_url(queue)
        .wait_time_seconds(6)
        .send()
        .await
        .expect("receive");
    let body = later
        .messages()
        .first()
        .and_then(|m| m.body())
        .expect("delivered after the delay");
    assert_eq!(
        serde_json::from_str::<WakeMessage>(body).expect("WakeMessage"),
        WakeMessage::run(run, at)
    );
}
