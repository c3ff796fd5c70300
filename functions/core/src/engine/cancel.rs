//! Cancelling runs by cancellation key.

use std::collections::BTreeSet;

use serde_json::Value;

use super::Engine;
use crate::error::{EngineError, FieldError};
use crate::ports::CancelFilter;
use crate::recipient::{RecipientRef, RecipientRequest};

/// A validated cancel body (`POST /v1/workflows/{key}/cancel`).
#[derive(Debug, Clone, PartialEq)]
pub struct CancelRequest {
    /// The cancellation key given at trigger.
    pub cancellation_key: String,
    /// Only these recipients' runs; `None` for all.
    pub recipients: Option<Vec<RecipientRef>>,
}

impl CancelRequest {
    /// Validates a cancel body.
    pub fn from_json(body: &Value) -> Result<Self, EngineError> {
        let obj = body
            .as_object()
            .ok_or_else(|| EngineError::invalid("body", "must be a JSON object"))?;
        let mut errors = Vec::new();
        let cancellation_key = match obj.get("cancellation_key") {
            Some(Value::String(k)) => match crate::limits::check_name(k) {
                Ok(()) => k.clone(),
                Err(why) => {
                    errors.push(FieldError::new("cancellation_key", why));
                    String::new()
                }
            },
            Some(_) => {
                errors.push(FieldError::new(
                    "cancellation_key",
                    "must be a non-empty string",
                ));
                String::new()
            }
            None => {
                errors.push(FieldError::new("cancellation_key", "is required"));
                String::new()
            }
        };
        let recipients = match obj.get("recipients") {
            None | Some(Value::Null) => None,
            Some(Value::Array(items)) if items.len() > crate::limits::MAX_CANCEL_RECIPIENTS => {
                errors.push(FieldError::new(
                    "recipients",
                    format!(
                        "must contain at most {} recipients, got {}",
                        crate::limits::MAX_CANCEL_RECIPIENTS,
                        items.len()
                    ),
                ));
                None
            }
            Some(Value::Array(items)) => {
                let mut refs = Vec::with_capacity(items.len());
                for (i, item) in items.iter().enumerate() {
                    match RecipientRequest::parse(item, &format!("recipients[{i}]")) {
                        Ok(r) => refs.push(r.reference),
                        Err(e) => errors.push(e),
                    }
                }
                Some(refs)
            }
            Some(_) => {
                errors.push(FieldError::new("recipients", "must be an array"));
                None
            }
        };
        if !errors.is_empty() {
            return Err(EngineError::InvalidParams(errors));
        }
        Ok(Self {
            cancellation_key,
            recipients,
        })
    }
}

impl Engine {
    /// Cancels the active runs of (`key`, cancellation key), optionally only some recipients'.
    ///
    /// Linearizable: the runs that exist when the store applies the cancel are stopped in one
    /// atomic step, and no message is created for them afterwards. Runs triggered later are not
    /// affected. Returns how many recipient runs were cancelled.
    pub async fn cancel(&self, key: &str, request: CancelRequest) -> Result<usize, EngineError> {
        if self.workflows.get(key).is_none() {
            return Err(EngineError::WorkflowMissing(key.to_string()));
        }
        let partial = request.recipients.is_some();
        let filter = CancelFilter {
            workflow_key: key.to_string(),
            cancellation_key: request.cancellation_key,
            recipients: request.recipients,
        };
        let cancelled = self.store.cancel(&filter, self.now()).await?;
        // Drop wake-ups that now wake nothing. Best effort: a stale wake-up is a no-op. A cancel of
        // every recipient stopped every run of those workflow runs (they share the key), so only
        // a partial cancel must check what still waits.
        let wakes: BTreeSet<_> = cancelled
            .iter()
            .filter_map(|c| c.wake_at.map(|at| (c.workflow_run_id, at)))
            .collect();
        for (workflow_run_id, at) in wakes {
            let still_needed = partial
                && match self.store.active_recipient_runs(workflow_run_id).await {
                    Ok(active) => active.runs.iter().any(|r| r.wake_at == Some(at)),
                    Err(_) => true,
                };
            if !still_needed {
                if let Err(e) = self.waker.forget(workflow_run_id, at).await {
                    tracing::warn!(%workflow_run_id, error = %e, "could not drop a stale wake-up");
                }
            }
        }
        Ok(cancelled.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn parses_and_validates() {
        let r = CancelRequest::from_json(
            &json!({"cancellation_key": "k", "recipients": ["u1", {"id": "p", "collection": "c"}]}),
        )
        .unwrap();
        assert_eq!(r.recipients.unwrap().len(), 2);
        assert!(CancelRequest::from_json(&json!({"recipients": ["u"]})).is_err());
        assert!(CancelRequest::from_json(&json!({"cancellation_key": 1})).is_err());
        assert!(
            CancelRequest::from_json(&json!({"cancellation_key": "k", "recipients": "u"})).is_err()
        );
    }
}
