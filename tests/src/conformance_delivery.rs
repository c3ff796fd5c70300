//! Conformance cases of the deliveries role: attempts are claimed once, recorded once per
//! claim, and never after the delivery finished.

use chrono::{DateTime, Duration, Utc};
use herald_core::message::{
    Content, DeliveryLog, DeliveryState, DeliveryStatus, EmailContent, Message, MessageEvent,
};
use herald_core::ports::{AttemptRecord, Recovery, Store, Write};
use herald_core::recipient::RecipientRef;
use herald_core::run::RunStatus;
use serde_json::json;

use crate::fixtures::{message, run, t0, transition, unique};

/// A queued email message of a fresh run, stored by its step's transition.
async fn queued_email(store: &dyn Store) -> Message {
    let (wf, runs) = run(
        &unique("wf"),
        None,
        &[RecipientRef::user(unique("u"))],
        t0(),
    );
    store.insert_run(&wf, &runs, None).await.unwrap();
    let mut m = message(&runs[0], "email", t0());
    m.channel_key = "email".into();
    m.channel_type = herald_core::definition::ChannelType::Email;
    m.status = DeliveryStatus::Queued;
    m.content = Content::Email(EmailContent {
        from: "noreply@acme.test".into(),
        to: "ann@example.com".into(),
        subject: "Hi".into(),
        html_body: Some("<p>Hi</p>".into()),
        text_body: "Hi".into(),
    });
    m.delivery = DeliveryState {
        attempts: 0,
        next_attempt_at: Some(t0()),
    };
    m.events = vec![MessageEvent::new(m.id, 0, "queued", json!(null), t0())];
    m.batch = Some(
        json!({"activities": [{"id": "a1", "data": {"n": 1}}], "total_activities": 3, "total_actors": 2}),
    );
    let mut t = transition(&runs[0], 0, 1, RunStatus::Processing, t0());
    t.message = Some(m.clone());
    assert!(store.transition(&t).await.unwrap().applied());
    m
}

fn record(
    m: &Message,
    attempt: u32,
    lease_until: DateTime<Utc>,
    status: DeliveryStatus,
    next: Option<DateTime<Utc>>,
    at: DateTime<Utc>,
) -> AttemptRecord {
    AttemptRecord {
        attempt,
        lease_until,
        status,
        next_attempt_at: next,
        log: DeliveryLog {
            id: uuid::Uuid::new_v4(),
            attempt,
            service_name: "SMTP".into(),
            request: json!({"to": "ann@example.com"}),
            response: json!({"status": "451"}),
            duration_ms: 12,
            inserted_at: at,
        },
        events: vec![MessageEvent::new(
            m.id,
            attempt,
            status.as_str(),
            json!({"attempt": attempt}),
            at,
        )],
        at,
    }
}

pub async fn delivery_attempts_are_claimed_and_recorded_once(store: &dyn Store) {
    let m = queued_email(store).await;
    let stored = store.get_message(m.id).await.unwrap().unwrap();
    assert_eq!(stored.status, DeliveryStatus::Queued);
    assert_eq!(stored.delivery, m.delivery);
    assert_eq!(stored.batch, m.batch, "a batched message keeps its batch");
    let (now, lease) = (t0() + Duration::seconds(1), t0() + Duration::seconds(61));
    // Not due yet: no claim.
    assert_eq!(
        store
            .claim_attempt(m.id, 1, t0() - Duration::seconds(1), lease)
            .await
            .unwrap(),
        Write::LostRace
    );
    // Two workers racing for the first attempt: one wins.
    let (a, b) = tokio::join!(
        store.claim_attempt(m.id, 1, now, lease),
        store.claim_attempt(m.id, 1, now, lease)
    );
    let won = [a.unwrap(), b.unwrap()]
        .iter()
        .filter(|w| w.applied())
        .count();
    assert_eq!(won, 1, "exactly one of two racing claims applies");
    // A claim that has not lapsed blocks the next attempt.
    assert_eq!(
        store.claim_attempt(m.id, 2, now, lease).await.unwrap(),
        Write::LostRace
    );
    let retry_at = now + Duration::seconds(15);
    let failed = record(
        &m,
        1,
        lease,
        DeliveryStatus::DeliveryAttempted,
        Some(retry_at),
        now,
    );
    assert_eq!(
        store.record_attempt(m.id, &failed).await.unwrap(),
        Write::Applied
    );
    // Recording the same claim twice changes nothing.
    assert_eq!(
        store.record_attempt(m.id, &failed).await.unwrap(),
        Write::LostRace
    );
    let stored = store.get_message(m.id).await.unwrap().unwrap();
    assert_eq!(stored.status, DeliveryStatus::DeliveryAttempted);
    assert_eq!(stored.delivery.attempts, 1);
    assert_eq!(stored.delivery.next_attempt_at, Some(retry_at));

    let lease2 = retry_at + Duration::seconds(60);
    assert!(store
        .claim_attempt(m.id, 2, retry_at, lease2)
        .await
        .unwrap()
        .applied());
    let sent = record(&m, 2, lease2, DeliveryStatus::Sent, None, retry_at);
    assert!(store.record_attempt(m.id, &sent).await.unwrap().applied());
    // Finished: no further claim.
    assert_eq!(
        store
            .claim_attempt(
                m.id,
                3,
                lease2 + Duration::hours(1),
                lease2 + Duration::hours(2)
            )
            .await
            .unwrap(),
        Write::LostRace
    );
    let stored = store.get_message(m.id).await.unwrap().unwrap();
    assert_eq!(stored.status, DeliveryStatus::Sent);
    assert_eq!(stored.delivery.next_attempt_at, None);
    assert_eq!(stored.content, m.content);
    let logs = store.delivery_logs(m.id).await.unwrap();
    assert_eq!(
        logs.iter().map(|l| l.attempt).collect::<Vec<_>>(),
        vec![1, 2]
    );
    assert_eq!(logs[0], failed.log);
    let events: Vec<String> = store
        .message_events(m.id)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.kind)
        .collect();
    assert_eq!(
        events,
        vec![
            "message.queued",
            "message.delivery_attempted",
            "message.sent"
        ]
    );
}

pub async fn claims_lapse_and_a_late_record_loses(store: &dyn Store) {
    let m = queued_email(store).await;
    let (now, lease) = (t0(), t0() + Duration::seconds(30));
    assert!(store
        .claim_attempt(m.id, 1, now, lease)
        .await
        .unwrap()
        .applied());
    // The worker died; after the lease another claims attempt 2 …
    let later = lease + Duration::seconds(1);
    let lease2 = later + Duration::seconds(30);
    assert!(store
        .claim_attempt(m.id, 2, later, lease2)
        .await
        .unwrap()
        .applied());
    // … and the first worker's late record no longer applies.
    let late = record(&m, 1, lease, DeliveryStatus::Sent, None, later);
    assert_eq!(
        store.record_attempt(m.id, &late).await.unwrap(),
        Write::LostRace
    );
    let ok = record(&m, 2, lease2, DeliveryStatus::Sent, None, later);
    assert!(store.record_attempt(m.id, &ok).await.unwrap().applied());
    assert_eq!(store.delivery_logs(m.id).await.unwrap().len(), 1);
}

/// Recovery (embedded store): a pending delivery is listed with when it is due.
pub async fn pending_deliveries_are_listed(store: &dyn Store, recovery: &dyn Recovery) {
    let m = queued_email(store).await;
    let pending = recovery.pending_deliveries().await.unwrap();
    let found = pending
        .iter()
        .find(|p| p.message_id == m.id)
        .expect("listed");
    assert_eq!(found.due_at, t0());
    let lease = t0() + Duration::seconds(30);
    assert!(store
        .claim_attempt(m.id, 1, t0(), lease)
        .await
        .unwrap()
        .applied());
    let done = record(&m, 1, lease, DeliveryStatus::Sent, None, t0());
    assert!(store.record_attempt(m.id, &done).await.unwrap().applied());
    let pending = recovery.pending_deliveries().await.unwrap();
    assert!(pending.iter().all(|p| p.message_id != m.id));
}
