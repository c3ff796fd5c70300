//! A [`Waker`] that records what it was asked to do, so tests drive wake-ups by hand.

use std::sync::Mutex;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use herald_core::error::WakeError;
use herald_core::ports::Waker;
use uuid::Uuid;

/// Records `start_new_run` and `wake_at` calls.
#[derive(Default)]
pub struct RecordingWaker {
    /// Workflow runs asked to run now.
    pub started: Mutex<Vec<Uuid>>,
    /// Wake-ups registered, deduplicated as the port promises.
    pub wakes: Mutex<Vec<(Uuid, DateTime<Utc>)>>,
    /// Wake-ups forgotten.
    pub forgotten: Mutex<Vec<(Uuid, DateTime<Utc>)>>,
}

impl RecordingWaker {
    /// The registered wake-ups.
    pub fn wakes(&self) -> Vec<(Uuid, DateTime<Utc>)> {
        self.wakes.lock().map(|w| w.clone()).unwrap_or_default()
    }

    /// The runs started.
    pub fn started(&self) -> Vec<Uuid> {
        self.started.lock().map(|w| w.clone()).unwrap_or_default()
    }
}

#[async_trait]
impl Waker for RecordingWaker {
    async fn start_new_run(&self, workflow_run_id: Uuid) -> Result<(), WakeError> {
        self.started
            .lock()
            .map_err(|_| WakeError("poisoned".into()))?
            .push(workflow_run_id);
        Ok(())
    }

    async fn wake_at(&self, workflow_run_id: Uuid, at: DateTime<Utc>) -> Result<(), WakeError> {
        let mut wakes = self
            .wakes
            .lock()
            .map_err(|_| WakeError("poisoned".into()))?;
        if !wakes.contains(&(workflow_run_id, at)) {
            wakes.push((workflow_run_id, at));
        }
        Ok(())
    }

    async fn forget(&self, workflow_run_id: Uuid, at: DateTime<Utc>) -> Result<(), WakeError> {
        self.forgotten
            .lock()
            .map_err(|_| WakeError("poisoned".into()))?
            .push((workflow_run_id, at));
        Ok(())
    }
}
