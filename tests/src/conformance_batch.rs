//! Conformance cases for batches and throttles (see [`crate::conformance`]).

use chrono::{DateTime, Duration, Utc};
use herald_core::batch::{group_key, Batch, BatchActivity, BatchStatus};
use herald_core::ports::{Admission, BatchQuery, CancelFilter, PageRequest, Store};
use herald_core::recipient::RecipientRef;
use herald_core::run::{RecipientRun, RunBatch, RunStatus, Transition};
use uuid::Uuid;

use crate::fixtures::{run, t0, transition, unique};

fn batch(group: &str, opener: &RecipientRun, max: Option<u32>, at: DateTime<Utc>) -> Batch {
    Batch {
        id: Uuid::new_v4(),
        group: group.to_string(),
        workflow_key: opener.workflow_key.clone(),
        step_ref: "batch".into(),
        recipient: opener.recipient.clone(),
        batch_key: String::new(),
        opener_run_id: opener.id,
        opener_workflow_run_id: opener.workflow_run_id,
        status: BatchStatus::Open,
        count: 1,
        max_items: max,
        opened_at: at,
        closes_at: at + Duration::minutes(5),
    }
}

fn activity(batch: &Batch, r: &RecipientRun, at: DateTime<Utc>) -> BatchActivity {
    BatchActivity {
        batch_id: batch.id,
        run_id: r.id,
        workflow_run_id: r.workflow_run_id,
        workflow_key: r.workflow_key.clone(),
        cancellation_key: r.cancellation_key.clone(),
        recipient: r.recipient.clone(),
        actor: Some(RecipientRef::user(format!("actor-{}", r.id))),
        data: r.data.clone(),
        inserted_at: at,
        cancelled: false,
    }
}

/// The opener's pause: it holds the open batch.
fn hold(r: &RecipientRun, b: &Batch, at: DateTime<Utc>) -> Transition {
    let mut t = transition(r, 0, 0, RunStatus::Paused, at);
    t.wake_at = Some(b.closes_at);
    t.batch = Some(RunBatch {
        id: b.id,
        open: true,
        summary: None,
    });
    t
}

/// The opener after the window closed: its link is marked closed.
fn release(r: &RecipientRun, b: &Batch, at: DateTime<Utc>) -> Transition {
    let mut t = transition(r, 0, 0, RunStatus::Processing, at);
    t.from_holding = true;
    t.batch = Some(RunBatch {
        id: b.id,
        open: false,
        summary: None,
    });
    t
}

/// A joiner ends when it joins.
fn joined(r: &RecipientRun, at: DateTime<Utc>) -> Transition {
    transition(r, 0, 3, RunStatus::Completed, at)
}

/// One trigger per cancellation key, each for `who`, stored.
async fn triggers(
    store: &dyn Store,
    wf: &str,
    keys: &[&str],
    who: &RecipientRef,
) -> Vec<RecipientRun> {
    let mut runs = Vec::new();
    for k in keys {
        let (w, rs) = run(wf, Some(k), std::slice::from_ref(who), t0());
        store.insert_run(&w, &rs, None).await.expect("insert");
        runs.extend(rs);
    }
    runs
}

pub async fn batches_open_join_and_close_conditionally(store: &dyn Store) {
    let wf = unique("wf-batch");
    let who = RecipientRef::user(unique("u"));
    let runs = triggers(store, &wf, &["k1", "k2", "k3", "k4", "k5"], &who).await;
    let group = group_key(&wf, "batch", &who, "");
    let b = batch(&group, &runs[0], Some(3), t0());
    assert!(store
        .open_batch(
            &b,
            None,
            Some(&activity(&b, &runs[0], t0())),
            &hold(&runs[0], &b, t0())
        )
        .await
        .expect("open")
        .applied());
    // A second opener racing for the same group loses, and its run stays untouched.
    let rival = batch(&group, &runs[1], Some(3), t0());
    assert!(!store
        .open_batch(
            &rival,
            None,
            Some(&activity(&rival, &runs[1], t0())),
            &hold(&runs[1], &rival, t0())
        )
        .await
        .expect("rival open")
        .applied());
    let current = store
        .current_batch(&group)
        .await
        .expect("current")
        .expect("some");
    assert_eq!(current.id, b.id);
    assert_eq!(current.count, 1);
    let opener = store
        .get_recipient_run(runs[0].id)
        .await
        .expect("get")
        .expect("run");
    assert_eq!(opener.batch.as_ref().map(|l| l.open), Some(true));
    assert_eq!(opener.status, RunStatus::Paused);
    assert_eq!(
        store
            .get_recipient_run(runs[1].id)
            .await
            .expect("get")
            .map(|r| r.status),
        Some(RunStatus::Queued)
    );

    // Joins count up to the limit, and a sliding join moves the end.
    let later = t0() + Duration::minutes(9);
    for (i, r) in runs[1..3].iter().enumerate() {
        let at = t0() + Duration::seconds(i as i64 + 1);
        assert!(store
            .join_batch(&activity(&b, r, at), Some(later), &joined(r, at))
            .await
            .expect("join")
            .applied());
    }
    let full = store.get_batch(b.id).await.expect("get").expect("batch");
    assert_eq!((full.count, full.closes_at), (3, later));
    assert!(full.is_full());
    assert!(!store
        .join_batch(&activity(&b, &runs[3], t0()), None, &joined(&runs[3], t0()))
        .await
        .expect("join full")
        .applied());
    assert_eq!(
        store
            .get_recipient_run(runs[3].id)
            .await
            .expect("get")
            .map(|r| r.status),
        Some(RunStatus::Queued),
        "a refused join leaves the run as it was"
    );

    // Closing is conditional on the batch being open and the opener still waiting.
    assert!(store
        .close_batch(b.id, &release(&runs[0], &b, t0()))
        .await
        .expect("close")
        .applied());
    assert!(!store
        .close_batch(b.id, &release(&runs[0], &b, t0()))
        .await
        .expect("close again")
        .applied());
    let acts = store.batch_activities(b.id).await.expect("activities");
    let order: Vec<Uuid> = acts.iter().map(|a| a.run_id).collect();
    assert_eq!(order, vec![runs[0].id, runs[1].id, runs[2].id]);
    assert!(acts.iter().all(|a| !a.cancelled));

    // A closed group is replaced by a new batch only by someone who saw the closed one.
    let next = batch(&group, &runs[3], None, t0());
    assert!(!store
        .open_batch(
            &next,
            Some(Uuid::new_v4()),
            Some(&activity(&next, &runs[3], t0())),
            &hold(&runs[3], &next, t0())
        )
        .await
        .expect("stale replace")
        .applied());
    assert!(store
        .open_batch(
            &next,
            Some(b.id),
            Some(&activity(&next, &runs[3], t0())),
            &hold(&runs[3], &next, t0())
        )
        .await
        .expect("replace")
        .applied());
    assert_eq!(
        store
            .current_batch(&group)
            .await
            .expect("current")
            .map(|c| c.id),
        Some(next.id)
    );

    // Flushing moves an open batch's end; a closed one is not flushed.
    let now = t0() + Duration::seconds(30);
    assert!(store
        .flush_batch(next.id, now)
        .await
        .expect("flush")
        .applied());
    assert_eq!(
        store
            .get_batch(next.id)
            .await
            .expect("get")
            .map(|x| x.closes_at),
        Some(now)
    );
    assert!(!store
        .flush_batch(b.id, now)
        .await
        .expect("flush closed")
        .applied());
    // A sliding join after the flush does not move the end again.
    assert!(store
        .join_batch(
            &activity(&next, &runs[4], now),
            Some(now + Duration::hours(1)),
            &joined(&runs[4], now)
        )
        .await
        .expect("join after flush")
        .applied());
    assert_eq!(
        store
            .get_batch(next.id)
            .await
            .expect("get")
            .map(|x| x.closes_at),
        Some(now)
    );

    let open = store
        .list_batches(
            &BatchQuery {
                status: Some(BatchStatus::Open),
                workflow_key: Some(wf.clone()),
                recipient: None,
            },
            &PageRequest {
                page_size: 10,
                ..Default::default()
            },
        )
        .await
        .expect("list");
    let ids: Vec<Uuid> = open.items.iter().map(|x| x.id).collect();
    assert_eq!(ids, vec![next.id]);
}

pub async fn cancels_reach_open_batch_activities_only(store: &dyn Store) {
    let wf = unique("wf-bcancel");
    let who = RecipientRef::user(unique("u"));
    let runs = triggers(store, &wf, &["open", "joiner", "late", "after"], &who).await;
    let group = group_key(&wf, "batch", &who, "");
    let b = batch(&group, &runs[0], None, t0());
    assert!(store
        .open_batch(
            &b,
            None,
            Some(&activity(&b, &runs[0], t0())),
            &hold(&runs[0], &b, t0())
        )
        .await
        .expect("open")
        .applied());
    for r in &runs[1..3] {
        assert!(store
            .join_batch(&activity(&b, r, t0()), None, &joined(r, t0()))
            .await
            .expect("join")
            .applied());
    }
    let cancel = |key: &str| CancelFilter {
        workflow_key: wf.clone(),
        cancellation_key: key.to_string(),
        recipients: None,
    };
    // A joined run's key removes its activity; nothing else.
    let stopped = store.cancel(&cancel("joiner"), t0()).await.expect("cancel");
    assert!(stopped.is_empty(), "the joined run had already ended");
    // The opener's key removes its activity but leaves the run waiting for the window.
    let stopped = store
        .cancel(&cancel("open"), t0())
        .await
        .expect("cancel opener");
    assert!(stopped.is_empty(), "the opener holds the open batch");
    let opener = store
        .get_recipient_run(runs[0].id)
        .await
        .expect("get")
        .expect("run");
    assert_eq!(opener.status, RunStatus::Paused);
    // Joined at the same instant, so compared without order.
    let cancelled: std::collections::HashMap<Uuid, bool> = store
        .batch_activities(b.id)
        .await
        .expect("activities")
        .iter()
        .map(|a| (a.run_id, a.cancelled))
        .collect();
    let expected = [(runs[0].id, true), (runs[1].id, true), (runs[2].id, false)];
    assert_eq!(cancelled, expected.into_iter().collect());
    // A recipients-scoped cancel for someone else leaves the activity.
    let mut other = cancel("late");
    other.recipients = Some(vec![RecipientRef::user("somebody-else")]);
    store.cancel(&other, t0()).await.expect("cancel other");
    // After the window closed, absorbed keys do nothing and the opener's key stops the run.
    assert!(store
        .close_batch(b.id, &release(&runs[0], &b, t0()))
        .await
        .expect("close")
        .applied());
    assert!(store
        .cancel(&cancel("late"), t0())
        .await
        .expect("late")
        .is_empty());
    let late = store.batch_activities(b.id).await.expect("acts");
    assert!(late.iter().any(|a| a.run_id == runs[2].id && !a.cancelled));
    let stopped = store
        .cancel(&cancel("open"), t0())
        .await
        .expect("cancel opener again");
    assert_eq!(
        stopped.iter().map(|c| c.id).collect::<Vec<_>>(),
        vec![runs[0].id]
    );
    // A run that joins after its key was cancelled cannot: the cancel ended it.
    let next = batch(&group, &runs[0], None, t0());
    store
        .cancel(&cancel("after"), t0())
        .await
        .expect("cancel after");
    assert!(!store
        .open_batch(
            &next,
            Some(b.id),
            Some(&activity(&next, &runs[3], t0())),
            &hold(&runs[3], &next, t0())
        )
        .await
        .expect("open by a cancelled run")
        .applied());
}

pub async fn throttles_admit_up_to_the_limit_per_window(store: &dyn Store) {
    let key = unique("throttle");
    let ends = t0() + Duration::hours(1);
    let (a, b, c) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
    assert_eq!(
        store.throttle(&key, a, 2, ends, t0()).await.expect("a"),
        Admission::Admitted
    );
    assert_eq!(
        store.throttle(&key, b, 2, ends, t0()).await.expect("b"),
        Admission::Admitted
    );
    assert_eq!(
        store.throttle(&key, c, 2, ends, t0()).await.expect("c"),
        Admission::Throttled
    );
    // Asking again for an admitted run (a retried step) admits it again.
    assert_eq!(
        store
            .throttle(&key, a, 2, ends, t0())
            .await
            .expect("a again"),
        Admission::Admitted
    );
    // Once the window ended, a new one opens.
    let later = ends + Duration::seconds(1);
    assert_eq!(
        store
            .throttle(&key, c, 2, later + Duration::hours(1), later)
            .await
            .expect("c later"),
        Admission::Admitted
    );
    assert_eq!(
        store
            .throttle(&key, a, 1, later + Duration::hours(1), later)
            .await
            .expect("a later, limit 1"),
        Admission::Throttled
    );
}

/// User `u` with batch key `x|y` and user `u|x` with key `y` (the keys Herald built before it
/// escaped their parts made them one group) get a batch and a throttle window each; a key past
/// DynamoDB's partition-key size is stored by its hash.
pub async fn separators_inside_ids_make_distinct_batch_groups_and_throttles(store: &dyn Store) {
    let wf = unique("wf-sep");
    let u = unique("u");
    let (plain, piped) = (
        RecipientRef::user(u.clone()),
        RecipientRef::user(format!("{u}|x")),
    );
    let first = group_key(&wf, "batch", &plain, "x|y");
    let second = group_key(&wf, "batch", &piped, "y");
    assert_ne!(first, second);
    let runs_a = triggers(store, &wf, &["a"], &plain).await;
    let runs_b = triggers(store, &wf, &["b"], &piped).await;
    for (group, opener) in [(&first, &runs_a[0]), (&second, &runs_b[0])] {
        assert!(store.current_batch(group).await.expect("current").is_none());
        let b = batch(group, opener, None, t0());
        assert!(store
            .open_batch(
                &b,
                None,
                Some(&activity(&b, opener, t0())),
                &hold(opener, &b, t0())
            )
            .await
            .expect("open")
            .applied());
        assert_eq!(
            store
                .current_batch(group)
                .await
                .expect("current")
                .map(|c| c.id),
            Some(b.id)
        );
    }

    let ends = t0() + Duration::hours(1);
    for (recipient, key) in [(&plain, "x|y"), (&piped, "y")] {
        let window = herald_core::batch::throttle_key(&wf, "throttle", recipient, key);
        assert_eq!(
            store
                .throttle(&window, Uuid::new_v4(), 1, ends, t0())
                .await
                .expect("throttle"),
            Admission::Admitted,
            "{window}"
        );
    }

    // The longest parts Herald accepts: 255-byte ids and keys, each byte escaped.
    let long = RecipientRef::object("c".repeat(255), "|".repeat(255));
    let group = group_key(&wf, &"s".repeat(255), &long, &"%".repeat(255));
    assert!(group.len() < 100, "{group}");
    let runs = triggers(store, &wf, &["long"], &long).await;
    let b = batch(&group, &runs[0], None, t0());
    assert!(store
        .open_batch(
            &b,
            None,
            Some(&activity(&b, &runs[0], t0())),
            &hold(&runs[0], &b, t0())
        )
        .await
        .expect("open a long group")
        .applied());
    let window = herald_core::batch::throttle_key(&wf, "throttle", &long, &"|".repeat(255));
    assert_eq!(
        store
            .throttle(&window, Uuid::new_v4(), 1, ends, t0())
            .await
            .expect("long throttle"),
        Admission::Admitted
    );
}
