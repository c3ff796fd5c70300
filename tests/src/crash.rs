//! Store and waker wrappers that "crash" at the N-th write: the write is not done (`Before`), or
//! done but reported as failed (`After`, as when a function dies right after a call returns).

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use herald_core::batch::{Batch, BatchActivity};
use herald_core::data::PayloadRef;
use herald_core::error::{StoreError, WakeError};
use herald_core::fanout::FanOut;
use herald_core::idempotency::IdempotencyClaim;
use herald_core::message::{DeliveryLog, Engagement, Message, MessageEvent};
use herald_core::object::Object;
use herald_core::ports::{
    ActiveRuns, Admission, AttemptRecord, BatchQuery, Batches, CancelFilter, Claim, Definitions,
    Deliveries, Directory, FanOuts, IdempotencyKeys, MessageQuery, Messages, Overdue, Page,
    PageRequest, Payloads, Removal, RunQuery, Runs, Store, StoredPreferenceSet, Sweep, Throttles,
    Users, Waker, Write, WriteIf,
};
use herald_core::recipient::RecipientRef;
use herald_core::run::{CancelledRun, RecipientRun, RunEvent, Transition, WorkflowRun};
use herald_core::subscription::Subscription;
use herald_core::user::User;
use serde_json::{Map, Value};
use uuid::Uuid;

/// Where the crash happens relative to the write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum When {
    /// The write is not performed.
    Before,
    /// The write is performed, then the caller sees a failure.
    After,
}

/// Counts writes across a store and a waker; the N-th one crashes.
#[derive(Debug, Clone)]
pub struct Fuse {
    left: Arc<AtomicI64>,
    when: When,
}

impl Fuse {
    /// Crashes at write number `n` (1-based).
    pub fn new(n: i64, when: When) -> Self {
        Self {
            left: Arc::new(AtomicI64::new(n)),
            when,
        }
    }

    /// Whether the fuse blew (some write crashed).
    pub fn blown(&self) -> bool {
        self.left.load(Ordering::SeqCst) <= 0
    }

    fn tick(&self) -> bool {
        self.left.fetch_sub(1, Ordering::SeqCst) == 1
    }

    async fn write<T, E, F>(&self, crash: E, f: F) -> Result<T, E>
    where
        F: std::future::Future<Output = Result<T, E>>,
    {
        if !self.tick() {
            return f.await;
        }
        if self.when == When::After {
            let _ = f.await;
        }
        Err(crash)
    }
}

/// A store whose writes go through a [`Fuse`].
pub struct CrashingStore {
    /// The real store.
    pub inner: Arc<dyn Store>,
    /// The shared fuse.
    pub fuse: Fuse,
}

fn crash() -> StoreError {
    StoreError::backend("injected crash")
}

#[async_trait]
impl Users for CrashingStore {
    async fn upsert_user(
        &self,
        id: &str,
        p: &Map<String, Value>,
        at: DateTime<Utc>,
    ) -> Result<User, StoreError> {
        self.fuse
            .write(crash(), self.inner.upsert_user(id, p, at))
            .await
    }
    async fn get_user(&self, id: &str) -> Result<Option<User>, StoreError> {
        self.inner.get_user(id).await
    }
    async fn get_users(&self, ids: &[String]) -> Result<Vec<User>, StoreError> {
        self.inner.get_users(ids).await
    }
}

#[async_trait]
impl Runs for CrashingStore {
    async fn insert_run(
        &self,
        run: &WorkflowRun,
        r: &[RecipientRun],
        f: Option<&FanOut>,
    ) -> Result<(), StoreError> {
        self.fuse
            .write(crash(), self.inner.insert_run(run, r, f))
            .await
    }
    async fn get_recipient_run(&self, id: Uuid) -> Result<Option<RecipientRun>, StoreError> {
        self.inner.get_recipient_run(id).await
    }
    async fn recipient_run_events(&self, id: Uuid) -> Result<Vec<RunEvent>, StoreError> {
        self.inner.recipient_run_events(id).await
    }
    async fn active_recipient_runs(&self, id: Uuid) -> Result<ActiveRuns, StoreError> {
        self.inner.active_recipient_runs(id).await
    }
    async fn end_unreadable_run(
        &self,
        workflow_run_id: Uuid,
        id: Uuid,
        event: &RunEvent,
    ) -> Result<Write, StoreError> {
        self.fuse
            .write(
                crash(),
                self.inner.end_unreadable_run(workflow_run_id, id, event),
            )
            .await
    }
    async fn list_recipient_runs(
        &self,
        q: &RunQuery,
        p: &PageRequest,
    ) -> Result<Page<RecipientRun>, StoreError> {
        self.inner.list_recipient_runs(q, p).await
    }
    async fn transition(&self, t: &Transition) -> Result<Write, StoreError> {
        self.fuse.write(crash(), self.inner.transition(t)).await
    }
    async fn cancel(
        &self,
        f: &CancelFilter,
        at: DateTime<Utc>,
    ) -> Result<Vec<CancelledRun>, StoreError> {
        self.fuse.write(crash(), self.inner.cancel(f, at)).await
    }
}

#[async_trait]
impl FanOuts for CrashingStore {
    async fn get_fanout(&self, id: Uuid) -> Result<Option<FanOut>, StoreError> {
        self.inner.get_fanout(id).await
    }
    async fn advance_fanout(&self, f: &FanOut, r: &[RecipientRun]) -> Result<Write, StoreError> {
        self.fuse
            .write(crash(), self.inner.advance_fanout(f, r))
            .await
    }
}

#[async_trait]
impl Batches for CrashingStore {
    async fn current_batch(&self, group: &str) -> Result<Option<Batch>, StoreError> {
        self.inner.current_batch(group).await
    }
    async fn get_batch(&self, id: Uuid) -> Result<Option<Batch>, StoreError> {
        self.inner.get_batch(id).await
    }
    async fn open_batch(
        &self,
        b: &Batch,
        replaces: Option<Uuid>,
        a: Option<&BatchActivity>,
        t: &Transition,
    ) -> Result<Write, StoreError> {
        self.fuse
            .write(crash(), self.inner.open_batch(b, replaces, a, t))
            .await
    }
    async fn join_batch(
        &self,
        a: &BatchActivity,
        closes_at: Option<DateTime<Utc>>,
        t: &Transition,
    ) -> Result<Write, StoreError> {
        self.fuse
            .write(crash(), self.inner.join_batch(a, closes_at, t))
            .await
    }
    async fn close_batch(&self, id: Uuid, t: &Transition) -> Result<Write, StoreError> {
        self.fuse
            .write(crash(), self.inner.close_batch(id, t))
            .await
    }
    async fn batch_activities(&self, id: Uuid) -> Result<Vec<BatchActivity>, StoreError> {
        self.inner.batch_activities(id).await
    }
    async fn flush_batch(&self, id: Uuid, at: DateTime<Utc>) -> Result<Write, StoreError> {
        self.fuse
            .write(crash(), self.inner.flush_batch(id, at))
            .await
    }
    async fn list_batches(
        &self,
        q: &BatchQuery,
        p: &PageRequest,
    ) -> Result<Page<Batch>, StoreError> {
        self.inner.list_batches(q, p).await
    }
}

#[async_trait]
impl Throttles for CrashingStore {
    async fn throttle(
        &self,
        key: &str,
        run: Uuid,
        limit: u32,
        ends: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<Admission, StoreError> {
        self.fuse
            .write(crash(), self.inner.throttle(key, run, limit, ends, now))
            .await
    }
}

#[async_trait]
impl Messages for CrashingStore {
    async fn get_message(&self, id: Uuid) -> Result<Option<Message>, StoreError> {
        self.inner.get_message(id).await
    }
    async fn list_messages(
        &self,
        q: &MessageQuery,
        p: &PageRequest,
    ) -> Result<Page<Message>, StoreError> {
        self.inner.list_messages(q, p).await
    }
    async fn count_messages(&self, q: &MessageQuery) -> Result<u64, StoreError> {
        self.inner.count_messages(q).await
    }
    async fn set_engagement(
        &self,
        id: Uuid,
        e: Engagement,
        present: bool,
        at: DateTime<Utc>,
    ) -> Result<Option<Message>, StoreError> {
        self.fuse
            .write(crash(), self.inner.set_engagement(id, e, present, at))
            .await
    }
}

/// A waker whose registrations go through a [`Fuse`].
pub struct CrashingWaker {
    /// The real waker.
    pub inner: Arc<dyn Waker>,
    /// The shared fuse.
    pub fuse: Fuse,
}

fn wake_crash() -> WakeError {
    WakeError("injected crash".into())
}

#[async_trait]
impl Waker for CrashingWaker {
    async fn start_new_run(&self, id: Uuid) -> Result<(), WakeError> {
        self.fuse
            .write(wake_crash(), self.inner.start_new_run(id))
            .await
    }
    async fn wake_at(&self, id: Uuid, at: DateTime<Utc>) -> Result<(), WakeError> {
        self.fuse
            .write(wake_crash(), self.inner.wake_at(id, at))
            .await
    }
    async fn deliver_new(&self, id: Uuid) -> Result<(), WakeError> {
        self.fuse
            .write(wake_crash(), self.inner.deliver_new(id))
            .await
    }
    async fn deliver_at(&self, id: Uuid, at: DateTime<Utc>) -> Result<(), WakeError> {
        self.fuse
            .write(wake_crash(), self.inner.deliver_at(id, at))
            .await
    }
    async fn forget(&self, id: Uuid, at: DateTime<Utc>) -> Result<(), WakeError> {
        self.fuse
            .write(wake_crash(), self.inner.forget(id, at))
            .await
    }
    async fn redrive(&self) -> Result<usize, WakeError> {
        self.fuse.write(wake_crash(), self.inner.redrive()).await
    }
}

#[async_trait]
impl Deliveries for CrashingStore {
    async fn claim_attempt(
        &self,
        id: Uuid,
        attempt: u32,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
    ) -> Result<Write, StoreError> {
        self.fuse
            .write(
                crash(),
                self.inner.claim_attempt(id, attempt, now, lease_until),
            )
            .await
    }
    async fn record_attempt(&self, id: Uuid, record: &AttemptRecord) -> Result<Write, StoreError> {
        self.fuse
            .write(crash(), self.inner.record_attempt(id, record))
            .await
    }
    async fn delivery_logs(&self, id: Uuid) -> Result<Vec<DeliveryLog>, StoreError> {
        self.inner.delivery_logs(id).await
    }
    async fn message_events(&self, id: Uuid) -> Result<Vec<MessageEvent>, StoreError> {
        self.inner.message_events(id).await
    }
}

#[async_trait]
impl Directory for CrashingStore {
    async fn upsert_object(
        &self,
        c: &str,
        id: &str,
        p: &Map<String, Value>,
        at: DateTime<Utc>,
    ) -> Result<Object, StoreError> {
        self.fuse
            .write(crash(), self.inner.upsert_object(c, id, p, at))
            .await
    }
    async fn get_object(&self, c: &str, id: &str) -> Result<Option<Object>, StoreError> {
        self.inner.get_object(c, id).await
    }
    async fn get_objects(&self, refs: &[RecipientRef]) -> Result<Vec<Object>, StoreError> {
        self.inner.get_objects(refs).await
    }
    async fn delete_object(&self, c: &str, id: &str) -> Result<Removal, StoreError> {
        self.fuse
            .write(crash(), self.inner.delete_object(c, id))
            .await
    }
    async fn list_objects(&self, c: &str, page: &PageRequest) -> Result<Page<Object>, StoreError> {
        self.inner.list_objects(c, page).await
    }
    async fn put_subscriptions(
        &self,
        o: &RecipientRef,
        r: &[RecipientRef],
        p: &Map<String, Value>,
        at: DateTime<Utc>,
    ) -> Result<Vec<Subscription>, StoreError> {
        self.fuse
            .write(crash(), self.inner.put_subscriptions(o, r, p, at))
            .await
    }
    async fn delete_subscriptions(
        &self,
        o: &RecipientRef,
        r: &[RecipientRef],
    ) -> Result<Vec<Subscription>, StoreError> {
        self.fuse
            .write(crash(), self.inner.delete_subscriptions(o, r))
            .await
    }
    async fn list_subscribers(
        &self,
        o: &RecipientRef,
        page: &PageRequest,
    ) -> Result<Page<Subscription>, StoreError> {
        self.inner.list_subscribers(o, page).await
    }
    async fn list_subscriptions_of(
        &self,
        r: &RecipientRef,
        page: &PageRequest,
    ) -> Result<Page<Subscription>, StoreError> {
        self.inner.list_subscriptions_of(r, page).await
    }
    async fn put_preference_set(
        &self,
        o: &RecipientRef,
        id: &str,
        set: &Value,
        w: WriteIf,
        at: DateTime<Utc>,
    ) -> Result<Write, StoreError> {
        self.fuse
            .write(crash(), self.inner.put_preference_set(o, id, set, w, at))
            .await
    }
    async fn get_preference_set(
        &self,
        o: &RecipientRef,
        id: &str,
    ) -> Result<Option<StoredPreferenceSet>, StoreError> {
        self.inner.get_preference_set(o, id).await
    }
    async fn list_preference_sets(
        &self,
        o: &RecipientRef,
    ) -> Result<Vec<StoredPreferenceSet>, StoreError> {
        self.inner.list_preference_sets(o).await
    }
    async fn delete_preference_set(
        &self,
        o: &RecipientRef,
        id: &str,
    ) -> Result<Removal, StoreError> {
        self.fuse
            .write(crash(), self.inner.delete_preference_set(o, id))
            .await
    }
}

#[async_trait]
impl IdempotencyKeys for CrashingStore {
    async fn claim_idempotency_key(
        &self,
        claim: &IdempotencyClaim,
        now: DateTime<Utc>,
    ) -> Result<Claim, StoreError> {
        self.fuse
            .write(crash(), self.inner.claim_idempotency_key(claim, now))
            .await
    }
    async fn complete_idempotency_key(&self, key: &str, run: Uuid) -> Result<Write, StoreError> {
        self.fuse
            .write(crash(), self.inner.complete_idempotency_key(key, run))
            .await
    }
    async fn release_idempotency_key(&self, key: &str, run: Uuid) -> Result<Write, StoreError> {
        self.fuse
            .write(crash(), self.inner.release_idempotency_key(key, run))
            .await
    }
}

#[async_trait]
impl Definitions for CrashingStore {
    async fn put_definition(&self, key: &str, version: &str, d: &Value) -> Result<(), StoreError> {
        self.fuse
            .write(crash(), self.inner.put_definition(key, version, d))
            .await
    }
    async fn get_definition(&self, key: &str, version: &str) -> Result<Option<Value>, StoreError> {
        self.inner.get_definition(key, version).await
    }
}

#[async_trait]
impl Payloads for CrashingStore {
    async fn put_payload(&self, reference: &PayloadRef, bytes: &[u8]) -> Result<(), StoreError> {
        self.fuse
            .write(crash(), self.inner.put_payload(reference, bytes))
            .await
    }
    async fn get_payload(&self, reference: &PayloadRef) -> Result<Option<Vec<u8>>, StoreError> {
        self.inner.get_payload(reference).await
    }
}

#[async_trait]
impl Sweep for CrashingStore {
    async fn overdue(&self, before: DateTime<Utc>, limit: usize) -> Result<Overdue, StoreError> {
        self.inner.overdue(before, limit).await
    }
}
