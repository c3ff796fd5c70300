//! [`TokioWaker`]: wake-ups as in-process tokio timers feeding a worker that resumes runs.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use herald_core::error::{EngineError, WakeError};
use herald_core::ports::Recovery;
use herald_core::{Clock, Engine};
use tokio::sync::mpsc;
use uuid::Uuid;

/// The (workflow run, time) pairs with a timer already armed.
type Armed = Arc<Mutex<HashSet<(Uuid, DateTime<Utc>)>>>;

/// Wake-ups on tokio timers. Not durable by itself: the paused runs in the store are, and
/// [`recover`] re-arms them at start-up.
#[derive(Clone)]
pub struct TokioWaker {
    tx: mpsc::UnboundedSender<Uuid>,
    clock: Arc<dyn Clock>,
    armed: Armed,
}

impl TokioWaker {
    /// A waker, and the receiving end that [`run_worker`] drains.
    pub fn new(clock: Arc<dyn Clock>) -> (Self, mpsc::UnboundedReceiver<Uuid>) {
        let (tx, rx) = mpsc::unbounded_channel();
        let waker = Self {
            tx,
            clock,
            armed: Arc::default(),
        };
        (waker, rx)
    }

    fn send(&self, workflow_run_id: Uuid) -> Result<(), WakeError> {
        self.tx
            .send(workflow_run_id)
            .map_err(|_| WakeError("the local worker has stopped".into()))
    }
}

#[async_trait]
impl herald_core::ports::Waker for TokioWaker {
    async fn start_new_run(&self, workflow_run_id: Uuid) -> Result<(), WakeError> {
        self.send(workflow_run_id)
    }

    async fn wake_at(&self, workflow_run_id: Uuid, at: DateTime<Utc>) -> Result<(), WakeError> {
        let key = (workflow_run_id, at);
        let fresh = self
            .armed
            .lock()
            .map(|mut armed| armed.insert(key))
            .unwrap_or(true);
        if !fresh {
            return Ok(()); // one timer per (run, time), however many recipients wait on it
        }
        let wait = (at - self.clock.now()).to_std().unwrap_or_default();
        let waker = self.clone();
        tokio::spawn(async move {
            tokio::time::sleep(wait).await;
            if let Ok(mut armed) = waker.armed.lock() {
                armed.remove(&key);
            }
            if let Err(e) = waker.send(workflow_run_id) {
                tracing::warn!(%workflow_run_id, error = %e, "wake-up dropped");
            }
        });
        Ok(())
    }

    async fn forget(&self, _workflow_run_id: Uuid, _at: DateTime<Utc>) -> Result<(), WakeError> {
        // A timer that fires for a cancelled run resumes nothing; leaving it costs one no-op.
        Ok(())
    }
}

/// Resumes each workflow run id received until the waker is dropped. Resumes of one workflow
/// run never overlap: wake-ups that arrive while it runs are coalesced into one more pass, so a
/// thousand recipients are walked once, not once per wake-up.
pub async fn run_worker(engine: Engine, mut rx: mpsc::UnboundedReceiver<Uuid>) {
    // Workflow runs being resumed, with whether another pass was asked for meanwhile.
    let in_flight: Arc<Mutex<HashMap<Uuid, bool>>> = Arc::default();
    while let Some(workflow_run_id) = rx.recv().await {
        if let Ok(mut runs) = in_flight.lock() {
            if let Some(again) = runs.get_mut(&workflow_run_id) {
                *again = true;
                continue;
            }
            runs.insert(workflow_run_id, false);
        }
        let (engine, in_flight) = (engine.clone(), in_flight.clone());
        tokio::spawn(async move {
            loop {
                match engine.resume(workflow_run_id).await {
                    Ok(report) => tracing::debug!(%workflow_run_id, ?report, "resumed"),
                    Err(e) => tracing::error!(%workflow_run_id, error = %e, "resume failed"),
                }
                let Ok(mut runs) = in_flight.lock() else {
                    return;
                };
                match runs.get_mut(&workflow_run_id) {
                    Some(again) if *again => *again = false,
                    _ => {
                        runs.remove(&workflow_run_id);
                        return;
                    }
                }
            }
        });
    }
}

/// Re-arms every stored run after a restart: queued and processing runs start now, paused runs
/// get their timers back. Returns how many workflow runs were re-armed.
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
    Ok(pending.len())
}
