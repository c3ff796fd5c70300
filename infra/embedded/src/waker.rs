//! [`TokioWaker`]: wake-ups as in-process tokio timers feeding a worker that resumes runs and
//! delivers messages.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use herald_core::error::{EngineError, WakeError};
use herald_core::ports::Recovery;
use herald_core::{Clock, Engine};
use tokio::sync::mpsc;
use uuid::Uuid;

/// What a wake-up does: resume a workflow run, or attempt a message's delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Wake {
    /// Resume the workflow run's due recipient runs.
    Run(Uuid),
    /// Make the message's next delivery attempt.
    Deliver(Uuid),
}

/// The (wake-up, time) pairs with a timer already armed.
type Armed = Arc<Mutex<HashSet<(Wake, DateTime<Utc>)>>>;

/// How many deliveries the local worker makes at once.
pub const DELIVERY_CONCURRENCY: usize = 64;

/// Wake-ups on tokio timers. Not durable by itself: the paused runs and pending deliveries in
/// the store are, and [`recover`] re-arms them at start-up.
#[derive(Clone)]
pub struct TokioWaker {
    tx: mpsc::UnboundedSender<Wake>,
    clock: Arc<dyn Clock>,
    armed: Armed,
}

impl TokioWaker {
    /// A waker, and the receiving end that [`run_worker`] drains.
    pub fn new(clock: Arc<dyn Clock>) -> (Self, mpsc::UnboundedReceiver<Wake>) {
        let (tx, rx) = mpsc::unbounded_channel();
        let waker = Self {
            tx,
            clock,
            armed: Arc::default(),
        };
        (waker, rx)
    }

    fn send(&self, wake: Wake) -> Result<(), WakeError> {
        self.tx
            .send(wake)
            .map_err(|_| WakeError("the local worker has stopped".into()))
    }

    fn arm(&self, wake: Wake, at: DateTime<Utc>) {
        let key = (wake, at);
        let fresh = self
            .armed
            .lock()
            .map(|mut armed| armed.insert(key))
            .unwrap_or(true);
        if !fresh {
            return; // one timer per (wake-up, time), however many recipients wait on it
        }
        let wait = (at - self.clock.now()).to_std().unwrap_or_default();
        let waker = self.clone();
        tokio::spawn(async move {
            tokio::time::sleep(wait).await;
            if let Ok(mut armed) = waker.armed.lock() {
                armed.remove(&key);
            }
            if let Err(e) = waker.send(wake) {
                tracing::warn!(?wake, error = %e, "wake-up dropped");
            }
        });
    }
}

#[async_trait]
impl herald_core::ports::Waker for TokioWaker {
    async fn start_new_run(&self, workflow_run_id: Uuid) -> Result<(), WakeError> {
        self.send(Wake::Run(workflow_run_id))
    }

    async fn wake_at(&self, workflow_run_id: Uuid, at: DateTime<Utc>) -> Result<(), WakeError> {
        self.arm(Wake::Run(workflow_run_id), at);
        Ok(())
    }

    async fn deliver_new(&self, message_id: Uuid) -> Result<(), WakeError> {
        self.send(Wake::Deliver(message_id))
    }

    async fn deliver_at(&self, message_id: Uuid, at: DateTime<Utc>) -> Result<(), WakeError> {
        self.arm(Wake::Deliver(message_id), at);
        Ok(())
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
/// [`DELIVERY_CONCURRENCY`] deliveries are under way at once.
pub async fn run_worker_with(engine: Engine, mut rx: mpsc::UnboundedReceiver<Wake>, retry: Retry) {
    // Wake-ups being handled, with whether another pass was asked for meanwhile.
    let in_flight: Arc<Mutex<HashMap<Wake, bool>>> = Arc::default();
    let deliveries = Arc::new(tokio::sync::Semaphore::new(DELIVERY_CONCURRENCY));
    while let Some(wake) = rx.recv().await {
        if let Ok(mut running) = in_flight.lock() {
            if let Some(again) = running.get_mut(&wake) {
                *again = true;
                continue;
            }
            running.insert(wake, false);
        }
        let (engine, in_flight, deliveries) =
            (engine.clone(), in_flight.clone(), deliveries.clone());
        tokio::spawn(async move {
            let mut failures = 0u32;
            loop {
                let done = match wake {
                    Wake::Run(id) => engine.resume(id).await.map(|r| format!("{r:?}")),
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
