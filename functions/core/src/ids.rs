//! How Herald derives identifiers.
//!
//! A workflow run id is a random UUID v4, one per trigger request. Every other id is derived from
//! it with UUID v5 (SHA-1 name-based), so a retried write produces the same id and storage can
//! refuse the duplicate:
//!
//! - recipient run id = `uuid_v5(namespace: workflow_run_id, name: "user:<id>")`, or
//!   `"object:<collection>:<id>"` for an object recipient;
//! - message id = `uuid_v5(namespace: recipient_run_id, name: "message:<step ref>")`, which makes
//!   message creation idempotent per (recipient run, step).

use uuid::Uuid;

use crate::recipient::RecipientRef;

/// A fresh workflow run id (UUID v4), as Knock returns from a trigger.
pub fn new_workflow_run_id() -> Uuid {
    Uuid::new_v4()
}

/// The recipient run id of `recipient` within `workflow_run_id`.
pub fn recipient_run_id(workflow_run_id: Uuid, recipient: &RecipientRef) -> Uuid {
    Uuid::new_v5(&workflow_run_id, recipient.id_key().as_bytes())
}

/// The id of the message a channel step `step_ref` creates for `recipient_run_id`.
pub fn message_id(recipient_run_id: Uuid, step_ref: &str) -> Uuid {
    Uuid::new_v5(&recipient_run_id, format!("message:{step_ref}").as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recipient_run_ids_are_stable_and_distinct() {
        let run = Uuid::new_v4();
        let a = RecipientRef::user("a");
        let b = RecipientRef::object("projects", "a");
        assert_eq!(recipient_run_id(run, &a), recipient_run_id(run, &a));
        assert_ne!(recipient_run_id(run, &a), recipient_run_id(run, &b));
        assert_ne!(
            recipient_run_id(run, &a),
            recipient_run_id(Uuid::new_v4(), &a)
        );
        assert_ne!(message_id(run, "s1"), message_id(run, "s2"));
    }
}
