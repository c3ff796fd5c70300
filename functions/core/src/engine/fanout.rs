//! Expanding a fan-out: one page of subscribers at a time, each page one conditional store
//! step, so a crash between pages loses nothing and repeats nothing.

use serde_json::Value;
use uuid::Uuid;

use super::Engine;
use crate::error::EngineError;
use crate::fanout::{Source, MAX_DEPTH};
use crate::ids;
use crate::ports::PageRequest;
use crate::run::{RecipientRun, RunStatus};

/// Subscribers per fan-out step: with the fan-out's own update and its marker's, 100 writes,
/// DynamoDB's limit for one transaction.
pub const FANOUT_PAGE: usize = 98;

/// Bytes of run data one fan-out step may write (DynamoDB refuses transactions over 4 MB); a
/// trigger with large `data` gets smaller pages.
const STEP_DATA_BUDGET: usize = 3_000_000;

/// Subscribers per step for runs carrying `data_len` bytes of data each.
fn page_size(data_len: usize) -> usize {
    // 2 KB per run for everything besides the data (ids, keys, settings, subscription).
    (STEP_DATA_BUDGET / (data_len + 2_048)).clamp(1, FANOUT_PAGE)
}

/// Fan-out steps per resume, so one invocation stays well inside a function's time limit; the
/// resume asks for another pass when more is left.
pub const FANOUT_STEPS_PER_RESUME: usize = 20;

impl Engine {
    /// Expands up to `steps` pages of the workflow run's fan-out. Returns whether more is left.
    /// [`Engine::resume`] calls it with its own budget; tests call it to stop half-way.
    pub async fn expand_fanout(
        &self,
        workflow_run_id: Uuid,
        steps: usize,
    ) -> Result<bool, EngineError> {
        let now = self.now();
        for _ in 0..steps {
            let Some(fanout) = self.store.get_fanout(workflow_run_id).await? else {
                return Ok(false);
            };
            if fanout.is_finished() {
                return Ok(false);
            }
            let source = fanout.queue[0].clone();
            let data_len = serde_json::to_string(&fanout.data).map_or(0, |d| d.len());
            let page = self
                .store
                .list_subscribers(
                    &source.object,
                    &PageRequest {
                        page_size: page_size(data_len),
                        after: fanout.after.clone(),
                        before: None,
                    },
                )
                .await?;
            let mut next = fanout.clone();
            next.version += 1;
            let mut runs = Vec::with_capacity(page.items.len());
            for sub in page.items {
                // Knock never notifies the actor of their own action through a subscription.
                if fanout.actor.as_ref() == Some(&sub.recipient)
                    || fanout.excluded.contains(&sub.recipient)
                {
                    continue;
                }
                if !sub.recipient.is_user() && source.depth < MAX_DEPTH {
                    let child = Source {
                        object: sub.recipient.clone(),
                        depth: source.depth + 1,
                    };
                    if !next.queue.contains(&child) {
                        next.queue.push(child);
                    }
                }
                let mut subscription = sub.properties.clone();
                subscription.insert("object".into(), source.object.to_wire());
                runs.push(RecipientRun {
                    id: ids::recipient_run_id(workflow_run_id, &sub.recipient),
                    workflow_run_id,
                    workflow_key: fanout.workflow_key.clone(),
                    recipient: sub.recipient,
                    actor: fanout.actor.clone(),
                    tenant: fanout.tenant.clone(),
                    cancellation_key: fanout.cancellation_key.clone(),
                    data: fanout.data.clone(),
                    subscription: Some(Value::Object(subscription)),
                    settings: fanout.settings,
                    status: RunStatus::Queued,
                    cursor: 0,
                    wake_at: None,
                    error_count: 0,
                    attempt: 0,
                    batch: None,
                    workflow_version: fanout.workflow_version.clone(),
                    inserted_at: now,
                    updated_at: now,
                });
            }
            match page.after {
                Some(after) => next.after = Some(after),
                None => {
                    next.queue.remove(0);
                    next.after = None;
                }
            }
            // A lost race (a cancel, or a concurrent resume's step) changes nothing here: the
            // next loop reads the fan-out as it now is.
            let applied = self.store.advance_fanout(&next, &runs).await?.applied();
            tracing::debug!(%workflow_run_id, applied, created = runs.len(), "fan-out step");
        }
        Ok(self
            .store
            .get_fanout(workflow_run_id)
            .await?
            .is_some_and(|f| !f.is_finished()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn large_data_makes_smaller_steps() {
        assert_eq!(page_size(100), FANOUT_PAGE);
        assert_eq!(page_size(100_000), 29);
        assert_eq!(page_size(5_000_000), 1);
    }
}
