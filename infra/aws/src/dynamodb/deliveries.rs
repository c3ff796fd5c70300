//! The deliveries role on DynamoDB: a message's attempts are counted on its item (`attempts`,
//! `next_attempt_at`), its events and delivery logs are list attributes of JSON texts on it, so
//! a claim and a record are each one conditional `UpdateItem`.

use async_trait::async_trait;
use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{DateTime, Utc};
use herald_core::error::StoreError;
use herald_core::message::{DeliveryLog, DeliveryStatus, MessageEvent};
use herald_core::ports::{AttemptRecord, Deliveries, Write};
use uuid::Uuid;

use super::codec::*;
use super::due::{Due, Kind};
use super::expr::Expr;
use super::request::key;
use super::DynamoStore;

/// `#status IN (:queued, :delivery_attempted)`.
fn pending(e: &mut Expr) -> String {
    e.any_of(
        "status",
        DeliveryStatus::PENDING
            .iter()
            .map(|s| s.as_str().to_string()),
    )
}

/// The key of message `id`'s item.
fn message_key(id: Uuid) -> super::codec::Item {
    key(format!("MSG#{id}"), "MSG")
}

#[async_trait]
impl Deliveries for DynamoStore {
    async fn claim_attempt(
        &self,
        id: Uuid,
        attempt: u32,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
    ) -> Result<Write, StoreError> {
        let mut e = Expr::default();
        let attempts = e.name("attempts");
        let (next, updated) = (e.name("next_attempt_at"), e.name("updated_at"));
        let (to, lease) = (
            e.value(n(i64::from(attempt))),
            e.value(n(micros(lease_until))),
        );
        let from = e.value(n(i64::from(attempt) - 1));
        let at = e.value(n(micros(now)));
        // Due again when the claim lapses (a worker that died mid-attempt).
        let due = Due::new(Kind::Message, id, lease_until).set(&mut e);
        let set = format!("SET {attempts} = {to}, {next} = {lease}, {updated} = {at}, {due}");
        let pending = pending(&mut e);
        let condition = format!("{attempts} = {from} AND {pending} AND {next} <= {at}");
        self.update(self.conditional_update(message_key(id), set, condition, &e)?)
            .await
    }

    async fn record_attempt(&self, id: Uuid, record: &AttemptRecord) -> Result<Write, StoreError> {
        let mut e = Expr::default();
        let (attempts, status) = (e.name("attempts"), e.name("status"));
        let (next, updated) = (e.name("next_attempt_at"), e.name("updated_at"));
        let (events, logs) = (e.name("events"), e.name("delivery_logs"));
        let claimed = e.value(n(i64::from(record.attempt)));
        let new_status = e.s(record.status.as_str());
        let at = e.value(n(micros(record.at)));
        let empty = e.value(AttributeValue::L(Vec::new()));
        let new_events = e.value(json_list(&record.events));
        let new_log = e.value(json_list(std::slice::from_ref(&record.log)));
        let mut set = format!(
            "SET {status} = {new_status}, {updated} = {at}, \
             {events} = list_append(if_not_exists({events}, {empty}), {new_events}), \
             {logs} = list_append(if_not_exists({logs}, {empty}), {new_log})"
        );
        match record.next_attempt_at {
            Some(at) => {
                let entry = Due::new(Kind::Message, id, at).set(&mut e);
                let due = e.value(n(micros(at)));
                set.push_str(&format!(", {next} = {due}, {entry}"));
            }
            None => set.push_str(&format!(" REMOVE {next}, {}", Due::remove(&mut e))),
        }
        let lease = e.value(n(micros(record.lease_until)));
        let pending = pending(&mut e);
        let condition = format!("{attempts} = {claimed} AND {next} = {lease} AND {pending}");
        self.update(self.conditional_update(message_key(id), set, condition, &e)?)
            .await
    }

    async fn delivery_logs(&self, id: Uuid) -> Result<Vec<DeliveryLog>, StoreError> {
        match self.get(format!("MSG#{id}"), "MSG").await? {
            Some(item) => parse_list(&item, "delivery_logs"),
            None => Ok(Vec::new()),
        }
    }

    async fn message_events(&self, id: Uuid) -> Result<Vec<MessageEvent>, StoreError> {
        match self.get(format!("MSG#{id}"), "MSG").await? {
            Some(item) => parse_list(&item, "events"),
            None => Ok(Vec::new()),
        }
    }
}
