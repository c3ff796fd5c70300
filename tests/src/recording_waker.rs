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
    /// Messages handed to delivery at once.
    pub delivered: Mutex<Vec<Uuid>>,
    /// Delivery attempts registered for later, deduplicated.
    pub deliveries: Mutex<Vec<(Uuid, DateTime<Utc>)>>,
}

impl RecordingWaker {
    /// The registered wake-ups.
    pub fn wakes(&self) -> Vec<(Uuid, DateTime<Utc>)> {
        self.wakes.lock().map(|w| w.clone()).unwrap_or_default()
    }

    /// The messages handed to delivery at once.
    pub fn delivered(&self) -> Vec<Uuid> {
        self.delivered.lock().map(|w| w.clone()).unwrap_or_default()
    }

    /// The delivery attempts registered for later.
    pub fn deliveries(&self) -> Vec<(Uuid, DateTime<Utc>)> {
        self.deliveries
            .lock()
            .map(|w| w.clone())
            .unwrap_or_default()
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

    async fn deliver_new(&self, message_id: Uuid) -> Result<(), WakeError> {
        self.delivered
            .lock()
            .map_err(|_| WakeError("poisoned".into()))?
            .push(message_id);
        Ok(())
    }

    async fn deliver_at(&self, message_id: Uuid, at: DateTime<Utc>) -> Result<(), WakeError> {
        let mut all = self
            .deliveries
            .lock()
            .map_err(|_| WakeError("poisoned".into()))?;
        if !all.contains(&(message_id, at)) {
            all.push((message_id, at));
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
