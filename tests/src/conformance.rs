//! The store conformance suite: every store adapter must pass these same cases.
//!
//! Cases use unique keys and ids, so they can share one store (one table on the AWS side).
//! Use [`store_conformance!`](crate::store_conformance) to generate one `#[tokio::test]` per case.

use chrono::Duration;
use herald_core::message::Engagement;
use herald_core::ports::{
    ArchivedFilter, Bound, CancelFilter, EngagementFilter, MessageQuery, PageRequest, Recovery,
    RunQuery, Store,
};
use herald_core::recipient::RecipientRef;
use herald_core::run::{RunEvent, RunStatus};
use serde_json::{json, Value};

use crate::fixtures::{message, run, t0, transition, unique};

/// Generates one test per case of a store that wakes its own runs (the embedded one): `$make`
/// yields an `Arc` of a type that is both a `Store` and a `Recovery`.
#[macro_export]
macro_rules! recovery_conformance {
    ($make:expr) => {
        $crate::store_conformance!(@recovery $make;
            pending_runs_report_wakeups,
            unfinished_fanouts_are_pending,
        );
        $crate::store_conformance!(@recovery_delivery $make;
            pending_deliveries_are_listed,
        );
    };
}

/// Generates one test per conformance case; `$make` is an async expression yielding an
/// `Arc<dyn Store>` (or anything that derefs to a `Store`).
#[macro_export]
macro_rules! store_conformance {
    ($make:expr) => {
        $crate::store_conformance!(@cases $make;
            users_upsert_merges,
            users_read_many_at_once,
            insert_run_is_idempotent,
            transition_is_conditional,
            message_is_created_once_per_step,
            cancel_matches_key_and_recipients,
            cancel_before_trigger_matches_nothing,
            cancelled_runs_take_no_transition,
            messages_filter_and_page,
            engagement_set_and_clear,
            recipient_runs_filter_and_page,
            an_unreadable_run_is_reported_not_an_error,
            definitions_are_kept_by_version,
            overdue_work_is_found_by_when_it_was_due,
            payloads_are_kept_once_by_content,
            a_page_cut_short_continues_after_its_last_item,
        );
        $crate::store_conformance!(@directory $make;
            objects_upsert_merge_list_and_delete,
            objects_read_many_at_once,
            subscriptions_upsert_page_and_delete,
            preference_sets_write_conditionally,
            fanout_steps_are_conditional,
            separators_inside_ids_keep_records_apart,
        );
        $crate::store_conformance!(@batch $make;
            batches_open_join_and_close_conditionally,
            cancels_reach_open_batch_activities_only,
            throttles_admit_up_to_the_limit_per_window,
            separators_inside_ids_make_distinct_batch_groups_and_throttles,
        );
        $crate::store_conformance!(@delivery $make;
            delivery_attempts_are_claimed_and_recorded_once,
            claims_lapse_and_a_late_record_loses,
        );
        $crate::store_conformance!(@idempotency $make;
            idempotency_keys_are_claimed_once_until_they_expire,
            a_released_idempotency_key_is_free,
        );
        #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
        async fn concurrent_claims_of_one_key_agree() {
            let store: std::sync::Arc<dyn herald_core::ports::Store> = $make;
            $crate::conformance_idempotency::concurrent_claims_of_one_key_agree(store).await;
        }
    };
    (@idempotency $make:expr; $($case:ident),* $(,)?) => {
        $(
            #[tokio::test]
            async fn $case() {
                let store = $make;
                $crate::conformance_idempotency::$case(&*store).await;
            }
        )*
    };
    (@delivery $make:expr; $($case:ident),* $(,)?) => {
        $(
            #[tokio::test]
            async fn $case() {
                let store = $make;
                $crate::conformance_delivery::$case(&*store).await;
            }
        )*
    };
    (@recovery_delivery $make:expr; $($case:ident),* $(,)?) => {
        $(
            #[tokio::test]
            async fn $case() {
                let store = $make;
                $crate::conformance_delivery::$case(&*store, &*store).await;
            }
        )*
    };
    (@recovery $make:expr; $($case:ident),* $(,)?) => {
        $(
            #[tokio::test]
            async fn $case() {
                let store = $make;
                $crate::conformance::$case(&*store, &*store).await;
            }
        )*
    };
    (@batch $make:expr; $($case:ident),* $(,)?) => {
        $(
            #[tokio::test]
            async fn $case() {
                let store = $make;
                $crate::conformance_batch::$case(&*store).await;
            }
        )*
    };
    (@directory $make:expr; $($case:ident),* $(,)?) => {
        $(
            #[tokio::test]
            async fn $case() {
                let store = $make;
                $crate::conformance_directory::$case(&*store).await;
            }
        )*
    };
    (@cases $make:expr; $($case:ident),* $(,)?) => {
        $(
            #[tokio::test]
            async fn $case() {
                let store = $make;
                $crate::conformance::$case(&*store).await;
            }
        )*
    };
}

pub async fn users_upsert_merges(store: &dyn Store) {
    let id = unique("user");
    assert!(store.get_user(&id).await.unwrap().is_none());
    let first = json!({"name": "Ann", "email": "a@x", "plan": "free"});
    store
        .upsert_user(&id, first.as_object().unwrap(), t0())
        .await
        .unwrap();
    let second = json!({"email": "b@x", "plan": "pro", "locale": "fr"});
    let later = t0() + Duration::seconds(5);
    let merged = store
        .upsert_user(&id, second.as_object().unwrap(), later)
        .await
        .unwrap();
    assert_eq!(merged.properties.get("name"), Some(&json!("Ann")));
    assert_eq!(merged.properties.get("email"), Some(&json!("b@x")));
    assert_eq!(merged.properties.get("locale"), Some(&json!("fr")));
    let stored = store.get_user(&id).await.unwrap().unwrap();
    assert_eq!(stored.properties, merged.properties);
    assert_eq!(stored.created_at, t0());
    assert_eq!(stored.updated_at, later);
}

/// A page's users in one call: the existing ones, each once, whatever the order or repeats.
pub async fn users_read_many_at_once(store: &dyn Store) {
    let ids: Vec<String> = (0..120).map(|i| unique(&format!("user{i}"))).collect();
    for (i, id) in ids.iter().enumerate().filter(|(i, _)| i % 2 == 0) {
        let props = json!({"n": i});
        store
            .upsert_user(id, props.as_object().unwrap(), t0())
            .await
            .unwrap();
    }
    // More than one request's worth of keys, with a repeat and an unknown id.
    let mut asked = ids.clone();
    asked.push(ids[0].clone());
    asked.push(unique("nobody"));
    let mut found: Vec<(String, Value)> = store
        .get_users(&asked)
        .await
        .unwrap()
        .into_iter()
        .map(|u| (u.id.clone(), u.properties["n"].clone()))
        .collect();
    found.sort_by(|a, b| a.0.cmp(&b.0));
    let mut expected: Vec<(String, Value)> = ids
        .iter()
        .enumerate()
        .filter(|(i, _)| i % 2 == 0)
        .map(|(i, id)| (id.clone(), json!(i)))
        .collect();
    expected.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(found, expected);
    assert!(store.get_users(&[]).await.unwrap().is_empty());
}

pub async fn insert_run_is_idempotent(store: &dyn Store) {
    let key = unique("wf");
    let recipients = [
        RecipientRef::user("u1"),
        RecipientRef::object("projects", "p1"),
    ];
    let (wf, runs) = run(&key, Some("k"), &recipients, t0());
    store.insert_run(&wf, &runs, None).await.unwrap();
    store.insert_run(&wf, &runs, None).await.unwrap();
    let active = store.active_recipient_runs(wf.id).await.unwrap().runs;
    assert_eq!(active.len(), 2);
    let got = store.get_recipient_run(runs[1].id).await.unwrap().unwrap();
    assert_eq!(got, runs[1]);
}

pub async fn transition_is_conditional(store: &dyn Store) {
    let (wf, runs) = run(&unique("wf"), None, &[RecipientRef::user("u1")], t0());
    store.insert_run(&wf, &runs, None).await.unwrap();
    let r = &runs[0];
    let wake = t0() + Duration::minutes(5);
    let mut pause = transition(r, 0, 1, RunStatus::Paused, t0());
    pause.wake_at = Some(wake);
    pause.events.push(RunEvent::ok(
        "delay_started",
        Some(("d", "delay")),
        Value::Null,
        t0(),
    ));
    assert!(store.transition(&pause).await.unwrap().applied());
    assert!(
        !store.transition(&pause).await.unwrap().applied(),
        "a stale cursor must not apply"
    );
    let got = store.get_recipient_run(r.id).await.unwrap().unwrap();
    assert_eq!(
        (got.status, got.cursor, got.wake_at),
        (RunStatus::Paused, 1, Some(wake))
    );
    let mut fail = transition(r, 1, 2, RunStatus::Completed, t0());
    fail.events.push(RunEvent::error(
        "step_failed",
        Some(("c", "channel")),
        json!({"m": 1}),
        t0(),
    ));
    assert!(store.transition(&fail).await.unwrap().applied());
    assert!(
        !store
            .transition(&transition(r, 2, 3, RunStatus::Processing, t0()))
            .await
            .unwrap()
            .applied(),
        "a completed run takes no transition"
    );
    let got = store.get_recipient_run(r.id).await.unwrap().unwrap();
    assert_eq!((got.status, got.error_count), (RunStatus::Completed, 1));
    let events = store.recipient_run_events(r.id).await.unwrap();
    assert_eq!(
        events.iter().map(|e| e.event.as_str()).collect::<Vec<_>>(),
        ["delay_started", "step_failed"]
    );
    assert!(store
        .active_recipient_runs(wf.id)
        .await
        .unwrap()
        .runs
        .is_empty());
}

pub async fn message_is_created_once_per_step(store: &dyn Store) {
    let (wf, runs) = run(
        &unique("wf"),
        None,
        &[RecipientRef::user(unique("u"))],
        t0(),
    );
    store.insert_run(&wf, &runs, None).await.unwrap();
    let r = &runs[0];
    let mut send = transition(r, 0, 1, RunStatus::Processing, t0());
    send.message = Some(message(r, "feed", t0()));
    // Two workers racing on the same step: exactly one wins, one message exists.
    let (a, b) = tokio::join!(store.transition(&send), store.transition(&send));
    let (a, b) = (a.unwrap(), b.unwrap());
    assert_eq!(
        [a, b].iter().filter(|x| x.applied()).count(),
        1,
        "exactly one of two racing transitions applies"
    );
    let q = MessageQuery {
        recipient_run_id: Some(r.id),
        ..Default::default()
    };
    assert_eq!(store.count_messages(&q).await.unwrap(), 1);
    let stored = store
        .get_message(herald_core::ids::message_id(r.id, "feed"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored, message(r, "feed", t0()));
}

pub async fn cancel_matches_key_and_recipients(store: &dyn Store) {
    let key = unique("wf");
    let (a, b, c) = (
        RecipientRef::user("a"),
        RecipientRef::user("b"),
        RecipientRef::object("teams", "a"),
    );
    let (wf, runs) = run(
        &key,
        Some("invite-1"),
        &[a.clone(), b.clone(), c.clone()],
        t0(),
    );
    let (other_wf, other_runs) = run(&key, Some("invite-2"), std::slice::from_ref(&a), t0());
    store.insert_run(&wf, &runs, None).await.unwrap();
    store
        .insert_run(&other_wf, &other_runs, None)
        .await
        .unwrap();
    // `b` finishes before the cancel: it must stay completed.
    assert!(store
        .transition(&transition(&runs[1], 0, 1, RunStatus::Completed, t0()))
        .await
        .unwrap()
        .applied());
    let mut pause = transition(&runs[2], 0, 1, RunStatus::Paused, t0());
    pause.wake_at = Some(t0() + Duration::hours(1));
    assert!(store.transition(&pause).await.unwrap().applied());

    // A thousand recipients named (Knock's limit), one of them here: the user `a`, not the
    // object `teams/a`.
    let only_a = CancelFilter {
        workflow_key: key.clone(),
        cancellation_key: "invite-1".into(),
        recipients: Some(
            std::iter::once(a.clone())
                .chain((0..999).map(|i| RecipientRef::user(format!("nobody-{i}"))))
                .collect(),
        ),
    };
    let cancelled = store.cancel(&only_a, t0()).await.unwrap();
    assert_eq!(
        cancelled.iter().map(|c| c.id).collect::<Vec<_>>(),
        vec![runs[0].id]
    );
    let all = CancelFilter {
        workflow_key: key.clone(),
        cancellation_key: "invite-1".into(),
        recipients: None,
    };
    let cancelled = store.cancel(&all, t0()).await.unwrap();
    assert_eq!(
        cancelled.len(),
        1,
        "only the paused object run is left to cancel"
    );
    assert_eq!(cancelled[0].id, runs[2].id);
    assert_eq!(cancelled[0].wake_at, Some(t0() + Duration::hours(1)));
    let status = |id| async move { store.get_recipient_run(id).await.unwrap().unwrap().status };
    assert_eq!(status(runs[0].id).await, RunStatus::Cancelled);
    assert_eq!(status(runs[1].id).await, RunStatus::Completed);
    assert_eq!(status(runs[2].id).await, RunStatus::Cancelled);
    assert_eq!(
        status(other_runs[0].id).await,
        RunStatus::Queued,
        "another key is untouched"
    );
    let events = store.recipient_run_events(runs[0].id).await.unwrap();
    assert_eq!(
        events.last().map(|e| e.event.as_str()),
        Some("workflow_recipient_run_cancelled")
    );
    // Same key, other workflow: untouched.
    let wrong_wf = CancelFilter {
        workflow_key: unique("wf"),
        cancellation_key: "invite-2".into(),
        recipients: None,
    };
    assert!(store.cancel(&wrong_wf, t0()).await.unwrap().is_empty());
}

pub async fn cancel_before_trigger_matches_nothing(store: &dyn Store) {
    let key = unique("wf");
    let filter = CancelFilter {
        workflow_key: key.clone(),
        cancellation_key: "k".into(),
        recipients: None,
    };
    assert!(store.cancel(&filter, t0()).await.unwrap().is_empty());
    let (wf, runs) = run(&key, Some("k"), &[RecipientRef::user("u")], t0());
    store.insert_run(&wf, &runs, None).await.unwrap();
    let got = store.get_recipient_run(runs[0].id).await.unwrap().unwrap();
    assert_eq!(
        got.status,
        RunStatus::Queued,
        "an earlier cancel must not overtake a later trigger"
    );
}

pub async fn cancelled_runs_take_no_transition(store: &dyn Store) {
    let key = unique("wf");
    let (wf, runs) = run(&key, Some("k"), &[RecipientRef::user("u")], t0());
    store.insert_run(&wf, &runs, None).await.unwrap();
    let filter = CancelFilter {
        workflow_key: key,
        cancellation_key: "k".into(),
        recipients: None,
    };
    assert_eq!(store.cancel(&filter, t0()).await.unwrap().len(), 1);
    let mut send = transition(&runs[0], 0, 1, RunStatus::Processing, t0());
    send.message = Some(message(&runs[0], "feed", t0()));
    assert!(!store.transition(&send).await.unwrap().applied());
    let q = MessageQuery {
        recipient_run_id: Some(runs[0].id),
        ..Default::default()
    };
    assert_eq!(
        store.count_messages(&q).await.unwrap(),
        0,
        "no message after cancel"
    );
    assert!(store
        .cancel(
            &CancelFilter {
                workflow_key: wf.workflow_key.clone(),
                cancellation_key: "k".into(),
                recipients: None
            },
            t0()
        )
        .await
        .unwrap()
        .is_empty());
}

pub async fn pending_runs_report_wakeups(store: &dyn Store, recovery: &dyn Recovery) {
    let (queued, queued_runs) = run(&unique("wf"), None, &[RecipientRef::user("u")], t0());
    let (paused, paused_runs) = run(
        &unique("wf"),
        None,
        &[RecipientRef::user("u"), RecipientRef::user("v")],
        t0(),
    );
    store.insert_run(&queued, &queued_runs, None).await.unwrap();
    store.insert_run(&paused, &paused_runs, None).await.unwrap();
    for (i, r) in paused_runs.iter().enumerate() {
        let mut t = transition(r, 0, 1, RunStatus::Paused, t0());
        t.wake_at = Some(t0() + Duration::minutes(10 - i as i64));
        assert!(store.transition(&t).await.unwrap().applied());
    }
    let pending = recovery.pending_runs().await.unwrap();
    let find = |id| pending.iter().find(|p| p.workflow_run_id == id).cloned();
    assert_eq!(find(queued.id).map(|p| p.wake_at), Some(None));
    assert_eq!(
        find(paused.id).map(|p| p.wake_at),
        Some(Some(t0() + Duration::minutes(9)))
    );
}

/// A workflow run whose fan-out has not finished must run now after a restart.
pub async fn unfinished_fanouts_are_pending(store: &dyn Store, recovery: &dyn Recovery) {
    let key = unique("wf");
    let (wf, runs, fanout) = crate::fixtures::object_fanout(&key);
    store.insert_run(&wf, &runs, Some(&fanout)).await.unwrap();
    store.insert_run(&wf, &runs, Some(&fanout)).await.unwrap(); // a retried trigger
    assert!(recovery
        .pending_runs()
        .await
        .unwrap()
        .iter()
        .any(|p| p.workflow_run_id == wf.id && p.wake_at.is_none()));
}

async fn seed_messages(store: &dyn Store, user: &RecipientRef, n: usize) -> Vec<uuid::Uuid> {
    let mut ids = Vec::new();
    for i in 0..n {
        let at = t0() + Duration::seconds(i as i64);
        let (wf, runs) = run(&unique("wf"), None, std::slice::from_ref(user), at);
        store.insert_run(&wf, &runs, None).await.unwrap();
        let mut t = transition(&runs[0], 0, 1, RunStatus::Processing, at);
        t.message = Some(message(&runs[0], "feed", at));
        assert!(store.transition(&t).await.unwrap().applied());
        ids.push(herald_core::ids::message_id(runs[0].id, "feed"));
    }
    ids
}

/// Five messages for a new user, newest first, and the query that lists them.
async fn five_messages(store: &dyn Store) -> (RecipientRef, Vec<uuid::Uuid>, MessageQuery) {
    let user = RecipientRef::user(unique("u"));
    let ids = seed_messages(store, &user, 5).await;
    let newest_first: Vec<_> = ids.iter().rev().copied().collect();
    let q = MessageQuery {
        recipient: Some(user.clone()),
        ..Default::default()
    };
    (user, newest_first, q)
}

pub async fn messages_filter_and_page(store: &dyn Store) {
    let (user, newest_first, q) = five_messages(store).await;
    let page = |after: Option<String>, before: Option<String>| PageRequest {
        page_size: 2,
        after,
        before,
    };
    let p1 = store.list_messages(&q, &page(None, None)).await.unwrap();
    assert_eq!(
        p1.items.iter().map(|m| m.id).collect::<Vec<_>>(),
        newest_first[0..2]
    );
    assert!(p1.before.is_none());
    let p2 = store
        .list_messages(&q, &page(p1.after.clone(), None))
        .await
        .unwrap();
    assert_eq!(
        p2.items.iter().map(|m| m.id).collect::<Vec<_>>(),
        newest_first[2..4]
    );
    let p3 = store
        .list_messages(&q, &page(p2.after.clone(), None))
        .await
        .unwrap();
    assert_eq!(
        p3.items.iter().map(|m| m.id).collect::<Vec<_>>(),
        newest_first[4..5]
    );
    assert!(p3.after.is_none(), "the last page has no after cursor");
    let back = store
        .list_messages(&q, &page(None, p3.before.clone()))
        .await
        .unwrap();
    assert_eq!(
        back.items.iter().map(|m| m.id).collect::<Vec<_>>(),
        newest_first[2..4]
    );
    assert_eq!(store.count_messages(&q).await.unwrap(), 5);
    let other = MessageQuery {
        recipient: Some(user.clone()),
        channel_key: Some("email".into()),
        ..Default::default()
    };
    assert_eq!(store.count_messages(&other).await.unwrap(), 0);
    let tenant = MessageQuery {
        recipient: Some(user.clone()),
        tenant: Some("acme".into()),
        ..Default::default()
    };
    assert_eq!(store.count_messages(&tenant).await.unwrap(), 5);
    let count = |q: MessageQuery| async move { store.count_messages(&q).await.unwrap() };
    let mine = || MessageQuery {
        recipient: Some(user.clone()),
        ..Default::default()
    };
    assert_eq!(
        count(MessageQuery {
            message_ids: vec![newest_first[3], newest_first[1]],
            ..mine()
        })
        .await,
        2
    );
    assert_eq!(
        count(MessageQuery {
            workflow_categories: vec!["x".into(), "c".into()],
            ..mine()
        })
        .await,
        5
    );
    assert_eq!(
        count(MessageQuery {
            workflow_categories: vec!["x".into()],
            ..mine()
        })
        .await,
        0
    );
    assert_eq!(
        count(MessageQuery {
            has_tenant: Some(true),
            ..mine()
        })
        .await,
        5
    );
    assert_eq!(
        count(MessageQuery {
            has_tenant: Some(false),
            ..mine()
        })
        .await,
        0
    );
    // Messages were inserted one second apart from t0.
    let window = vec![
        (Bound::Gte, t0() + Duration::seconds(1)),
        (Bound::Lt, t0() + Duration::seconds(3)),
    ];
    assert_eq!(
        count(MessageQuery {
            inserted_at: window,
            ..mine()
        })
        .await,
        2
    );
    let after = vec![(Bound::Gt, t0() + Duration::seconds(3))];
    assert_eq!(
        count(MessageQuery {
            inserted_at: after,
            ..mine()
        })
        .await,
        1
    );
}

pub async fn engagement_set_and_clear(store: &dyn Store) {
    let user = RecipientRef::user(unique("u"));
    let ids = seed_messages(store, &user, 3).await;
    let later = t0() + Duration::minutes(1);
    let m = store
        .set_engagement(ids[0], Engagement::Read, true, later)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(m.engaged_at(Engagement::Read), Some(later));
    let again = store
        .set_engagement(ids[0], Engagement::Read, true, later + Duration::minutes(1))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        again.engaged_at(Engagement::Read),
        Some(later),
        "the first read time is kept"
    );
    store
        .set_engagement(ids[1], Engagement::Archived, true, later)
        .await
        .unwrap();
    let base = MessageQuery {
        recipient: Some(user.clone()),
        ..Default::default()
    };
    let unread = MessageQuery {
        engagement: vec![EngagementFilter {
            engagement: Engagement::Read,
            present: false,
        }],
        ..base.clone()
    };
    assert_eq!(store.count_messages(&unread).await.unwrap(), 2);
    let visible = MessageQuery {
        archived: Some(ArchivedFilter::Exclude),
        ..base.clone()
    };
    assert_eq!(store.count_messages(&visible).await.unwrap(), 2);
    let archived = MessageQuery {
        archived: Some(ArchivedFilter::Only),
        ..base.clone()
    };
    assert_eq!(store.count_messages(&archived).await.unwrap(), 1);
    let cleared = store
        .set_engagement(ids[1], Engagement::Archived, false, later)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(cleared.engaged_at(Engagement::Archived), None);
    assert_eq!(store.count_messages(&visible).await.unwrap(), 3);
    let missing = store
        .set_engagement(uuid::Uuid::new_v4(), Engagement::Seen, true, later)
        .await
        .unwrap();
    assert!(missing.is_none());
}

pub async fn recipient_runs_filter_and_page(store: &dyn Store) {
    let key = unique("wf");
    let (wf, runs) = run(
        &key,
        Some("k"),
        &[
            RecipientRef::user("a"),
            RecipientRef::user("b"),
            RecipientRef::user("c"),
        ],
        t0(),
    );
    store.insert_run(&wf, &runs, None).await.unwrap();
    assert!(store
        .transition(&transition(&runs[0], 0, 1, RunStatus::Completed, t0()))
        .await
        .unwrap()
        .applied());
    let by_key = RunQuery {
        workflow_key: Some(key.clone()),
        ..Default::default()
    };
    let all = store
        .list_recipient_runs(
            &by_key,
            &PageRequest {
                page_size: 2,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(all.items.len(), 2);
    let rest = store
        .list_recipient_runs(
            &by_key,
            &PageRequest {
                page_size: 2,
                after: all.after.clone(),
                before: None,
            },
        )
        .await
        .unwrap();
    assert_eq!(rest.items.len(), 1);
    let completed = RunQuery {
        statuses: vec![RunStatus::Completed],
        ..by_key.clone()
    };
    let done = store
        .list_recipient_runs(
            &completed,
            &PageRequest {
                page_size: 50,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(
        done.items.iter().map(|r| r.id).collect::<Vec<_>>(),
        vec![runs[0].id]
    );
    let of_b = RunQuery {
        recipient: Some(RecipientRef::user("b")),
        ..by_key
    };
    let b = store
        .list_recipient_runs(
            &of_b,
            &PageRequest {
                page_size: 50,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(
        b.items.iter().map(|r| r.id).collect::<Vec<_>>(),
        vec![runs[1].id]
    );
}

/// A value nested deeper than serde_json parses (128 levels): stored, it cannot be read back.
pub fn unreadable_data() -> herald_core::data::RunData {
    let deep = (0..140).fold(json!(1), |v, _| json!([v]));
    json!({ "deep": deep })
        .as_object()
        .cloned()
        .unwrap_or_default()
        .into()
}

/// A recipient run whose item cannot be decoded is reported by id beside the readable ones,
/// left out of listings, cancelled like any other, and ended without being read.
pub async fn an_unreadable_run_is_reported_not_an_error(store: &dyn Store) {
    let key = unique("wf");
    let users: Vec<RecipientRef> = ["ok-1", "poisoned", "ok-2"]
        .iter()
        .map(|u| RecipientRef::user(unique(u)))
        .collect();
    let (wf, mut runs) = run(&key, Some("k"), &users, t0());
    runs[1].data = unreadable_data();
    store.insert_run(&wf, &runs, None).await.unwrap();

    let active = store.active_recipient_runs(wf.id).await.unwrap();
    let mut readable: Vec<_> = active.runs.iter().map(|r| r.id).collect();
    readable.sort();
    let mut expected = vec![runs[0].id, runs[2].id];
    expected.sort();
    assert_eq!(readable, expected);
    assert_eq!(active.unreadable, vec![runs[1].id]);
    let q = RunQuery {
        workflow_key: Some(key.clone()),
        ..Default::default()
    };
    let page = store
        .list_recipient_runs(
            &q,
            &PageRequest {
                page_size: 2,
                ..Default::default()
            },
        )
        .await
        .expect("a listing with an unreadable row answers");
    assert!(page.items.len() <= 2 && !page.items.is_empty(), "{page:?}");
    let all = store
        .list_recipient_runs(
            &q,
            &PageRequest {
                page_size: 50,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(all.items.len(), 2);

    let event = RunEvent::error(
        "workflow_recipient_run_failed",
        None,
        json!({"message": "unreadable"}),
        t0(),
    );
    assert_eq!(
        store
            .end_unreadable_run(wf.id, runs[1].id, &event)
            .await
            .unwrap(),
        herald_core::ports::Write::Applied
    );
    assert_eq!(
        store
            .end_unreadable_run(wf.id, runs[1].id, &event)
            .await
            .unwrap(),
        herald_core::ports::Write::LostRace,
        "only an active run is ended"
    );
    let active = store.active_recipient_runs(wf.id).await.unwrap();
    assert!(active.unreadable.is_empty());
    assert_eq!(active.runs.len(), 2);
    let events = store.recipient_run_events(runs[1].id).await.unwrap();
    assert_eq!(
        events.last().map(|e| e.event.as_str()),
        Some("workflow_recipient_run_failed")
    );

    // A cancel of the key answers, and reaches the readable runs.
    let cancelled = store
        .cancel(
            &CancelFilter {
                workflow_key: key,
                cancellation_key: "k".into(),
                recipients: None,
            },
            t0(),
        )
        .await
        .unwrap();
    assert_eq!(cancelled.len(), 2);
}

/// `m`, created by `run`'s first step, as the store reads it back.
async fn stored_with_a_step(
    store: &dyn Store,
    run: &herald_core::run::RecipientRun,
    m: herald_core::message::Message,
) -> herald_core::message::Message {
    let id = m.id;
    let mut t = transition(run, 0, 1, RunStatus::Processing, t0());
    t.message = Some(m);
    assert!(store.transition(&t).await.unwrap().applied());
    store.get_message(id).await.unwrap().unwrap()
}

/// Definitions are kept by version; a run and its message keep the version they were made by.
pub async fn definitions_are_kept_by_version(store: &dyn Store) {
    let key = unique("wf");
    let v1 = json!({"name": "One", "steps": []});
    let v2 = json!({"name": "Two", "steps": []});
    store.put_definition(&key, "v1", &v1).await.unwrap();
    store.put_definition(&key, "v1", &v1).await.unwrap();
    store.put_definition(&key, "v2", &v2).await.unwrap();
    assert_eq!(store.get_definition(&key, "v1").await.unwrap(), Some(v1));
    assert_eq!(store.get_definition(&key, "v2").await.unwrap(), Some(v2));
    assert_eq!(store.get_definition(&key, "v3").await.unwrap(), None);
    assert_eq!(store.get_definition("other", "v1").await.unwrap(), None);

    let (wf, mut runs) = run(&key, None, &[RecipientRef::user(unique("u"))], t0());
    runs[0].workflow_version = Some("v1".into());
    store.insert_run(&wf, &runs, None).await.unwrap();
    let stored = store.get_recipient_run(runs[0].id).await.unwrap().unwrap();
    assert_eq!(stored.workflow_version.as_deref(), Some("v1"));
    let m = stored_with_a_step(store, &runs[0], message(&runs[0], "feed", t0())).await;
    assert_eq!(m.workflow_version.as_deref(), Some("v1"));
}

/// The sweep finds, by when it was due, what is still waiting: active runs (queued since, or
/// paused until, before the bound) and messages with an attempt due; never finished ones.
pub async fn overdue_work_is_found_by_when_it_was_due(store: &dyn Store) {
    // Long before every other case's times, so this case's work is the most overdue.
    let old: chrono::DateTime<chrono::Utc> = "2001-01-01T00:00:00Z".parse().unwrap_or_default();
    let user = || [RecipientRef::user(unique("u"))];
    let (queued, queued_runs) = run(&unique("wf"), None, &user(), old);
    let (paused, paused_runs) = run(&unique("wf"), Some("k"), &user(), old);
    let (done, done_runs) = run(&unique("wf"), None, &user(), old);
    for (wf, runs) in [
        (&queued, &queued_runs),
        (&paused, &paused_runs),
        (&done, &done_runs),
    ] {
        store.insert_run(wf, runs, None).await.unwrap();
    }
    let mut wait = transition(&paused_runs[0], 0, 1, RunStatus::Paused, old);
    wait.wake_at = Some(old + Duration::hours(1));
    assert!(store.transition(&wait).await.unwrap().applied());
    let mut finish = transition(&done_runs[0], 0, 1, RunStatus::Completed, old);
    let mut m = message(&done_runs[0], "email", old);
    m.delivery.next_attempt_at = Some(old + Duration::minutes(5));
    m.status = herald_core::message::DeliveryStatus::Queued;
    finish.message = Some(m.clone());
    assert!(store.transition(&finish).await.unwrap().applied());

    let found = store
        .overdue(old + Duration::minutes(1), 1000)
        .await
        .unwrap();
    assert!(found.workflow_runs.contains(&queued.id), "{found:?}");
    assert!(
        !found.workflow_runs.contains(&paused.id),
        "paused until later"
    );
    assert!(!found.workflow_runs.contains(&done.id), "finished");
    assert!(!found.messages.contains(&m.id), "its attempt is due later");

    let found = store.overdue(old + Duration::hours(2), 1000).await.unwrap();
    assert!(found.workflow_runs.contains(&queued.id));
    assert!(found.workflow_runs.contains(&paused.id));
    assert!(!found.workflow_runs.contains(&done.id));
    assert!(found.messages.contains(&m.id));
    assert_eq!(
        found
            .workflow_runs
            .iter()
            .filter(|id| **id == queued.id)
            .count(),
        1,
        "each listed once"
    );

    // A cancelled run and a delivered message leave the index.
    store
        .cancel(
            &CancelFilter {
                workflow_key: paused.workflow_key.clone(),
                cancellation_key: "k".into(),
                recipients: None,
            },
            old,
        )
        .await
        .unwrap();
    let found = store.overdue(old + Duration::hours(2), 1000).await.unwrap();
    assert!(!found.workflow_runs.contains(&paused.id), "cancelled");
    let claim = store
        .claim_attempt(
            m.id,
            1,
            old + Duration::minutes(5),
            old + Duration::minutes(6),
        )
        .await
        .unwrap();
    assert!(claim.applied());
    let record = herald_core::ports::AttemptRecord {
        attempt: 1,
        lease_until: old + Duration::minutes(6),
        status: herald_core::message::DeliveryStatus::Sent,
        next_attempt_at: None,
        events: Vec::new(),
        log: herald_core::message::DeliveryLog {
            id: uuid::Uuid::new_v4(),
            attempt: 1,
            service_name: "SMTP".into(),
            request: json!({}),
            response: json!({"status": 250}),
            duration_ms: 1,
            inserted_at: old + Duration::minutes(5),
        },
        at: old + Duration::minutes(5),
    };
    assert!(store.record_attempt(m.id, &record).await.unwrap().applied());
    let found = store.overdue(old + Duration::hours(2), 1000).await.unwrap();
    assert!(!found.messages.contains(&m.id), "delivered");
    // Limits bound both lists.
    let one = store.overdue(old + Duration::hours(2), 1).await.unwrap();
    assert!(one.workflow_runs.len() <= 1 && one.messages.len() <= 1);
}

/// Payloads are kept by content: small and large ones (past a DynamoDB item, so in S3 on AWS)
/// read back whole, a second put is harmless, an unknown reference reads as none; a run and its
/// message store data layers that name a payload, not the payload.
pub async fn payloads_are_kept_once_by_content(store: &dyn Store) {
    use herald_core::data::{Part, PayloadRef, RunData};
    let small = serde_json::to_vec(&json!({"note": unique("small")})).unwrap();
    let large =
        serde_json::to_vec(&json!({"blob": "x".repeat(2 * 1024 * 1024), "id": unique("large")}))
            .unwrap();
    for bytes in [&small, &large] {
        let reference = PayloadRef::of(bytes);
        store.put_payload(&reference, bytes).await.unwrap();
        store.put_payload(&reference, bytes).await.unwrap();
        assert_eq!(
            store.get_payload(&reference).await.unwrap().as_deref(),
            Some(bytes.as_slice())
        );
    }
    let unknown = PayloadRef::of(unique("never stored").as_bytes());
    assert_eq!(store.get_payload(&unknown).await.unwrap(), None);
    let big = PayloadRef::of(&large);
    let unknown_big = PayloadRef {
        digest: PayloadRef::of(b"other").digest,
        bytes: big.bytes,
    };
    assert_eq!(store.get_payload(&unknown_big).await.unwrap(), None);

    let layered = RunData::of(Part::Stored(big.clone())).with(
        Some("fetched".into()),
        Part::Inline(
            json!({"plan": "pro"})
                .as_object()
                .cloned()
                .unwrap_or_default(),
        ),
    );
    let (wf, mut runs) = run(
        &unique("wf"),
        None,
        &[RecipientRef::user(unique("u"))],
        t0(),
    );
    runs[0].data = layered.clone();
    store.insert_run(&wf, &runs, None).await.unwrap();
    let stored = store.get_recipient_run(runs[0].id).await.unwrap().unwrap();
    assert_eq!(stored.data, layered);
    let mut m = message(&runs[0], "feed", t0());
    m.data = layered.clone();
    let m = stored_with_a_step(store, &runs[0], m).await;
    assert_eq!(m.data, layered);
}

/// A page cut to fewer items than it was read with ([`herald_core::ports::Page::take`], what a
/// page of large messages does) continues, forwards and backwards, right after its last item.
pub async fn a_page_cut_short_continues_after_its_last_item(store: &dyn Store) {
    let (_, newest_first, q) = five_messages(store).await;
    let ids_of = |p: &herald_core::ports::Page<herald_core::message::Message>| {
        p.items.iter().map(|m| m.id).collect::<Vec<_>>()
    };
    let page = |after: Option<String>, before: Option<String>| PageRequest {
        page_size: 3,
        after,
        before,
    };
    let first = store
        .list_messages(&q, &page(None, None))
        .await
        .unwrap()
        .take(1);
    assert_eq!(ids_of(&first), newest_first[0..1]);
    let rest = store
        .list_messages(&q, &page(first.after.clone(), None))
        .await
        .unwrap();
    assert_eq!(ids_of(&rest), newest_first[1..4]);
    // Backwards from the oldest: the cut page keeps the one nearest its cursor.
    let last = store
        .list_messages(&q, &page(rest.after.clone(), None))
        .await
        .unwrap();
    assert_eq!(ids_of(&last), newest_first[4..5]);
    let back = store
        .list_messages(&q, &page(None, last.before.clone()))
        .await
        .unwrap()
        .take(2);
    assert_eq!(ids_of(&back), newest_first[2..4]);
    let further = store
        .list_messages(&q, &page(None, back.before.clone()))
        .await
        .unwrap();
    assert_eq!(ids_of(&further), newest_first[0..2]);
}
