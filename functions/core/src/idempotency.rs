//! Idempotency keys of triggers (Knock's `Idempotency-Key` header): the first request with a key
//! claims it for its body and a workflow run id; a request with the same key and body within
//! [`RETENTION`] answers with that run, one with another body is refused.

use chrono::{DateTime, Duration, Utc};
use serde_json::Value;
use sha2::{Digest, Sha256};
use uuid::Uuid;

/// Knock's longest key.
pub const MAX_KEY_CHARS: usize = 255;

/// How long a key is remembered (Knock: 24 hours).
pub const RETENTION: Duration = Duration::hours(24);

/// A key's claim: which request took it, for what, and whether it has answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyClaim {
    /// The caller's key.
    pub key: String,
    /// [`fingerprint`] of the workflow key and body the key was first used with.
    pub fingerprint: String,
    /// The workflow run the key answers with, decided when it is claimed.
    pub workflow_run_id: Uuid,
    /// The `x-request-id` of the request that claimed it (Knock's `original-x-request-id`).
    pub request_id: String,
    /// Whether that request answered 2xx (a replay then does nothing but answer).
    pub completed: bool,
    /// When the key is forgotten.
    pub expires_at: DateTime<Utc>,
}

impl IdempotencyClaim {
    /// When the key was claimed.
    pub fn claimed_at(&self) -> DateTime<Utc> {
        self.expires_at - RETENTION
    }

    /// A new, uncompleted claim of `key` by the request `request_id`, at `now`.
    pub fn new(
        key: impl Into<String>,
        fingerprint: impl Into<String>,
        request_id: impl Into<String>,
        now: DateTime<Utc>,
    ) -> Self {
        Self {
            key: key.into(),
            fingerprint: fingerprint.into(),
            workflow_run_id: crate::ids::new_workflow_run_id(),
            request_id: request_id.into(),
            completed: false,
            expires_at: now + RETENTION,
        }
    }
}

/// Why a key cannot be used.
pub fn check_key(key: &str) -> Result<(), String> {
    let chars = key.chars().count();
    if chars == 0 {
        Err("must not be empty".into())
    } else if chars > MAX_KEY_CHARS {
        Err(format!(
            "must be at most {MAX_KEY_CHARS} characters, got {chars}"
        ))
    } else {
        Ok(())
    }
}

/// What identifies a trigger request: its workflow and its body, as SHA-256 hex. Object keys are
/// compared in the order serde_json keeps them, so a retry of the same bytes always matches.
pub fn fingerprint(workflow_key: &str, body: &Value) -> String {
    let mut hash = Sha256::new();
    hash.update(workflow_key.as_bytes());
    hash.update([0]);
    hash.update(body.to_string().as_bytes());
    crate::data::hex(&hash.finalize())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn keys_are_one_to_255_characters() {
        assert!(check_key("").is_err());
        assert!(check_key(&"é".repeat(255)).is_ok());
        assert!(check_key(&"a".repeat(256)).is_err());
    }

    #[test]
    fn fingerprints_tell_workflows_and_bodies_apart() {
        let body = json!({"recipients": ["u1"]});
        assert_eq!(fingerprint("w", &body), fingerprint("w", &body.clone()));
        assert_ne!(fingerprint("w", &body), fingerprint("v", &body));
        assert_ne!(
            fingerprint("w", &body),
            fingerprint("w", &json!({"recipients": ["u2"]}))
        );
        assert_eq!(fingerprint("w", &body).len(), 64);
    }
}
