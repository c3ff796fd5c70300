//! [`TokioWaker`]: wake-ups on one in-process timer queue feeding a worker that resumes runs
//! and delivers messages.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, Weak};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use herald_core::error::{EngineError, WakeError};
use herald_core::ports::Recovery;
use herald_core::{Clock, Engine};
use tokio::sync::{mpsc, Notify};
use tokio::time::Instant;
use uuid::Uuid;

/// What a wake-up does: resume a workflow run, or attempt a message's delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Wake {
    /// Resume the workflow run's due recipient runs.
    Run(Uuid),
    /// Make the message's next delivery attempt.
    Deliver(Uuid),
}

/// How many workflow runs the local worker resumes at once: enough to fill the store's
/// write groups, few enough that thousands of runs due in one second queue here instead of
/// piling onto the writer all at once.
pub const RESUME_CONCURRENCY: usize = 256;

/// How many deliveries the local worker makes at once.
pub const DELIVERY_CONCURRENCY: usize = 64;

/// The armed wake-ups, in the order they are due: one queue and one timer task for all of them,
/// not a timer per run, so a million paused runs cost a map entry each and the ones due in the
/// same instant leave together.
#[derive(Default)]
struct Timers {
    due: BTreeMap<(Instant, u64), (Wake, DateTime<Utc>)>,
    /// Each (wake-up, time) armed once, however many recipients wait on it.
    armed: HashSet<(Wake, DateTime<Utc>)>,
    seq: u64,
}

/// What the wakers share with the timer task. When the last waker is dropped, so is the sender,
/// and the worker's queue ends.
struct Shared {
    tx: mpsc::UnboundedSender<Wake>,
    timers: Mutex<Timers>,
    /// Told when a wake-up is armed earlier than the one the timer task sleeps for, and on drop.
    changed: Arc<Notify>,
    started: AtomicBool,
}

impl Drop for Shared {
    fn drop(&mut self) {
        self.changed.notify_one();
    }
}

/// Wake-ups on one tokio timer task. Not durable by itself: the paused runs and pending
/// deliveries in the store are, and [`recover`] re-arms them at start-up.
#[derive(Clone)]
pub struct TokioWaker {
    shared: Arc<Shared>,
    clock: Arc<dyn Clock>,
}

impl TokioWaker {
    /// A waker, and the receiving end that [`run_worker`] drains.
    pub fn new(clock: Arc<dyn Clock>) -> (Self, mpsc::UnboundedReceiver<Wake>) {
        let (tx, rx) = mpsc::unbounded_channel();
        let shared = Arc::new(Shared {
            tx,
            timers: Mutex::default(),
            changed: Arc::default(),
            started: AtomicBool::new(false),
        });
        (Self { shared, clock }, rx)
    }

    /// How many wake-ups are armed and not yet due.
    pub fn armed(&self) -> usize {
        self.shared.timers.lock().map(|t| t.due.len()).unwrap_or(0)
    }

    fn send(&self, wake: Wake) -> Result<(), WakeError> {
        self.shared
            .tx
            .send(wake)
            .map_err(|_| WakeError("the local worker has stopped".into()))
    }

    fn arm(&self, wake: Wake, at: DateTime<Utc>) -> Result<(), WakeError> {
        // The timer task runs on the runtime of the first arm; without one, nothing is armed.
        let runtime = tokio::runtime::Handle::try_current()
            .map_err(|_| WakeError("local wake-ups need a tokio runtime".into()))?;
        let wait = (at - self.clock.now()).to_std().unwrap_or_default();
        let when = Instant::now() + wait;
        let mut timers = self
            .shared
            .timers
            .lock()
            .map_err(|_| WakeError("the local timers are poisoned".into()))?;
        if !timers.armed.insert((wake, at)) {
            return Ok(());
        }
        timers.seq += 1;
        let seq = timers.seq;
        let earliest = timers
            .due
            .first_key_value()
            .is_none_or(|(&(t, _), _)| when < t);
        timers.due.insert((when, seq), (wake, at));
        drop(timers);
        if !self.shared.started.swap(true, Ordering::AcqRel) {
            runtime.spawn(fire_when_due(
                Arc::downgrade(&self.shared),
                self.shared.changed.clone(),
            ));
        } else if earliest {
            self.shared.changed.notify_one();
        }
        Ok(())
    }
}

/// The timer task: sleeps until the earliest armed wake-up, then sends every one due by then.
/// Holds the shared state weakly so that dropping the last waker ends it.
async fn fire_when_due(shared: Weak<Shared>, changed: Arc<Notify>) {
    loop {
        let next = {
            let Some(shared) = shared.upgrade() else {
                return;
            };
            let Ok(mut timers) = shared.timers.lock() else {
                return;
            };
            let now = Instant::now();
            while let Some(entry) = timers.due.first_entry() {
                if entry.key().0 > now {
                    break;
                }
                let (wake, at) = entry.remove();
                timers.armed.remove(&(wake, at));
                if shared.tx.send(wake).is_err() {
                    tracing::warn!(?wake, "wake-up dropped: the local worker has stopped");
                    return;
                }
            }
            timers.due.first_key_value().map(|(&(t, _), _)| t)
        };
        match next {
            Some(when) => {
                tokio::select! {
                    () = tokio::time::sleep_until(when) => {}
                    () = changed.notified() => {}
                }
            }
            None => changed.notified().await,
        }
    }
}

#[async_trait]
impl herald_core::ports::Waker for TokioWaker {
    async fn start_new_run(&self, workflow_run_id: Uuid) -> Result<(), WakeError> {
        self.send(Wake::Run(workflow_run_id))
    }

    async fn wake_at(&self, workflow_run_id: Uuid, at: DateTime<Utc>) -> Result<(), WakeError> {
        self.arm(Wake::Run(workflow_run_id), at)
    }

    async fn deliver_new(&self, message_id: Uuid) -> Result<(), WakeError> {
        self.send(Wake::Deliver(message_id))
    }

    async fn deliver_at(&self, message_id: Uuid, at: DateTime<Utc>) -> Result<(), WakeError> {
        self.arm(Wake::Deliver(message_id), at)
    }

    async fn forget(&self, _workflow_run_id: Uuid, _at: DateTime<Utc>) -> Result<(), WakeError> {
        // A timer that fires for a cancelled run resumes nothing; leaving it costs one no-op.
        Ok(())
    }
}

/// How the worker retries a resume or delivery that failed (the store or a wake-up failed):
/// after `first`, doubling up to `max`, for as long as it keeps failing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retry {
    /// The wait before the first retry.
    pub first: std::time::Duration,
    /// The longest wait between retries.
    pub max: std::time::Duration,
}

impl Retry {
    /// One second, doubling to five minutes.
    pub const DEFAULT: Retry = Retry {
        first: std::time::Duration::from_secs(1),
        max: std::time::Duration::from_secs(300),
    };

    /// The wait before retry number `n` (1-based).
    pub fn wait(&self, n: u32) -> std::time::Duration {
        self.first
            .saturating_mul(1 << n.saturating_sub(1).min(20))
            .min(self.max)
    }
}

/// [`run_worker_with`] retrying failures with [`Retry::DEFAULT`].
pub async fn run_worker(engine: Engine, rx: mpsc::UnboundedReceiver<Wake>) {
    run_worker_with(engine, rx, Retry::DEFAULT).await;
}

/// Resumes each workflow run and delivers each message received until the waker is dropped.
/// Work on one workflow run (or message) never overlaps: wake-ups that arrive while it runs are
/// coalesced into one more pass, so a thousand recipients are walked once, not once per
/// wake-up. A pass that fails is tried again after `retry`'s backoff, never dropped. At most
/// [`RESUME_CONCURRENCY`] resumes and [`DELIVERY_CONCURRENCY`] deliveries are under way at once.
pub async fn run_worker_with(engine: Engine, mut rx: mpsc::UnboundedReceiver<Wake>, retry: Retry) {
    // Wake-ups being handled, with whether another pass was asked for meanwhile.
    let in_flight: Arc<Mutex<HashMap<Wake, bool>>> = Arc::default();
    let deliveries = Arc::new(tokio::sync::Semaphore::new(DELIVERY_CONCURRENCY));
    let resumes = Arc::new(tokio::sync::Semaphore::new(RESUME_CONCURRENCY));
    while let Some(wake) = rx.recv().await {
        if let Ok(mut running) = in_flight.lock() {
            if let Some(again) = running.get_mut(&wake) {
                *again = true;
                continue;
            }
            running.insert(wake, false);
        }
        let (engine, in_flight, deliveries, resumes) = (
            engine.clone(),
            in_flight.clone(),
            deliveries.clone(),
            resumes.clone(),
        );
        tokio::spawn(async move {
            let mut failures = 0u32;
            loop {
                let done = match wake {
                    Wake::Run(id) => {
                        let Ok(_permit) = resumes.acquire().await else {
                            return;
                        };
                        engine.resume(id).await.map(|r| format!("{r:?}"))
                    }
                    Wake::Deliver(id) => {
                        let Ok(_permit) = deliveries.acquire().await else {
                            return;
                        };
                        engine.deliver(id).await.map(|r| format!("{r:?}"))
                    }
                };
                match done {
                    Ok(report) => tracing::debug!(?wake, report, "done"),
                    Err(e) => {
                        tracing::error!(?wake, error = %e, "failed; retrying");
                        // Still marked in flight: wake-ups meanwhile fold into this retry.
                        failures += 1;
                        tokio::time::sleep(retry.wait(failures)).await;
                        continue;
                    }
                }
                failures = 0;
                let Ok(mut running) = in_flight.lock() else {
                    return;
                };
                match running.get_mut(&wake) {
                    Some(again) if *again => *again = false,
                    _ => {
                        running.remove(&wake);
                        return;
                    }
                }
            }
        });
    }
}

/// Re-arms every stored run and pending delivery after a restart: queued and processing runs
/// start now, paused runs get their timers back, each pending delivery is armed for when its
/// next attempt is due (an attempt that a crash interrupted, when its claim lapses). Returns
/// how many workflow runs and messages were re-armed.
pub async fn recover(
    store: &dyn Recovery,
    waker: &dyn herald_core::ports::Waker,
) -> Result<usize, EngineError> {
    let pending = store.pending_runs().await?;
    for run in &pending {
        match run.wake_at {
            None => waker.start_new_run(run.workflow_run_id).await?,
            Some(at) => waker.wake_at(run.workflow_run_id, at).await?,
        }
    }
    let deliveries = store.pending_deliveries().await?;
    for d in &deliveries {
        waker.deliver_at(d.message_id, d.due_at).await?;
    }
    Ok(pending.len() + deliveries.len())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    use herald_core::ports::Waker as _;
    use herald_core::ManualClock;

    // The clock stands still (the store's clock); tokio's paused time is what moves.
    fn start() -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000, 0).expect("a time")
    }

    fn at(ms: i64) -> DateTime<Utc> {
        start() + chrono::Duration::milliseconds(ms)
    }

    fn waker() -> (TokioWaker, mpsc::UnboundedReceiver<Wake>) {
        TokioWaker::new(Arc::new(ManualClock::new(start())))
    }

    #[tokio::test(start_paused = true)]
    async fn thousands_due_together_leave_together_in_order_once_each() {
        let (waker, mut rx) = waker();
        let due = at(5_000);
        let ids: Vec<Uuid> = (0..5_000).map(|_| Uuid::new_v4()).collect();
        for id in &ids {
            waker.wake_at(*id, due).await.expect("armed");
            waker.wake_at(*id, due).await.expect("armed twice"); // folded into one
        }
        let early = Uuid::new_v4();
        waker.wake_at(early, at(1_000)).await.expect("armed");
        assert_eq!(waker.armed(), 5_001);

        tokio::time::sleep(Duration::from_millis(1_100)).await;
        assert_eq!(
            rx.try_recv().ok(),
            Some(Wake::Run(early)),
            "the earlier one first"
        );
        assert!(rx.try_recv().is_err(), "nothing else is due yet");

        tokio::time::sleep(Duration::from_secs(4)).await;
        let mut got = Vec::new();
        while let Ok(Wake::Run(id)) = rx.try_recv() {
            got.push(id);
        }
        assert_eq!(got, ids, "all due at once, in the order armed, each once");
        assert_eq!(waker.armed(), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn a_wake_up_armed_earlier_than_the_sleeping_one_is_not_late() {
        let (waker, mut rx) = waker();
        let (late, soon) = (Uuid::new_v4(), Uuid::new_v4());
        waker.wake_at(late, at(60_000)).await.expect("armed");
        tokio::task::yield_now().await; // the timer task now sleeps for a minute
        waker.deliver_at(soon, at(100)).await.expect("armed");
        tokio::time::sleep(Duration::from_millis(150)).await;
        assert_eq!(rx.try_recv().ok(), Some(Wake::Deliver(soon)));
        assert!(rx.try_recv().is_err());
    }

    #[tokio::test(start_paused = true)]
    async fn dropping_the_last_waker_ends_the_worker_queue() {
        let (waker, mut rx) = waker();
        waker
            .wake_at(Uuid::new_v4(), at(60_000))
            .await
            .expect("armed");
        drop(waker);
        let ended = tokio::time::timeout(Duration::from_secs(1), rx.recv()).await;
        assert_eq!(ended.ok(), Some(None), "the queue ended without firing");
    }
}
