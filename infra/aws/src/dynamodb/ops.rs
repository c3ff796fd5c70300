//! The [`Store`] operations on DynamoDB.

use std::collections::HashMap;
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{
    AttributeValue, Put, PutRequest, ReturnValue, TransactWriteItem, Update, WriteRequest,
};
use chrono::{DateTime, Utc};
use herald_core::batch::{Batch, BatchActivity};
use herald_core::error::StoreError;
use herald_core::fanout::FanOut;
use herald_core::message::{Engagement, Message};
use herald_core::ports::{
    ArchivedFilter, BatchQuery, CancelFilter, MessageQuery, Page, PageRequest, PendingRun,
    RunQuery, Store,
};
use herald_core::run::{CancelledRun, RecipientRun, RunEvent, RunStatus, Transition, WorkflowRun};
use herald_core::user::{merge_properties, User};
use serde_json::{Map, Value};
use uuid::Uuid;

use super::codec::*;
use super::expr::{and, Expr};
use super::paging::Listing;
use super::DynamoStore;

/// DynamoDB's limit of items per BatchWriteItem.
const BATCH_LIMIT: usize = 25;
const ACTIVE: [RunStatus; 3] = [RunStatus::Queued, RunStatus::Processing, RunStatus::Paused];

fn active(e: &mut Expr) -> String {
    e.any_of("status", ACTIVE.iter().map(|s| s.as_str().to_string()))
}

pub(super) fn key(pk: String, sk: &str) -> HashMap<String, AttributeValue> {
    HashMap::from([("pk".to_string(), s(pk)), ("sk".to_string(), s(sk))])
}

fn fanout_run_id(item: &Item) -> Result<Uuid, StoreError> {
    Uuid::parse_str(get_s(item, "workflow_run_id")?)
        .map_err(|_| StoreError::Corrupt("fan-out workflow_run_id".into()))
}

pub(super) fn is_condition_failure<E: std::fmt::Debug>(
    e: &aws_sdk_dynamodb::error::SdkError<E>,
) -> bool {
    format!("{e:?}").contains("ConditionalCheckFailed")
}

/// A conditional write's outcome: `true` if it was applied, `false` if its condition failed.
pub(super) fn applied<T, E>(
    result: Result<T, aws_sdk_dynamodb::error::SdkError<E>>,
) -> Result<bool, StoreError>
where
    E: std::error::Error + std::fmt::Debug + 'static,
{
    match result {
        Ok(_) => Ok(true),
        Err(err) if is_condition_failure(&err) => Ok(false),
        Err(err) => Err(sdk_error(err)),
    }
}

/// A run's conditional update, ready for `UpdateItem` or a transaction.
pub(super) struct RunUpdate {
    pub key: HashMap<String, AttributeValue>,
    pub expression: String,
    pub condition: String,
    pub expr: Expr,
}

impl DynamoStore {
    pub(super) fn expiry(&self, at: DateTime<Utc>) -> AttributeValue {
        n((at + self.retention).timestamp())
    }

    /// Creates or merges a property bag item (a user, an object) with one `UpdateItem`: each
    /// given property is its own `p.<name>` attribute, so nothing is read first. `fields` are
    /// set as they are; returns the item as it is now.
    pub(super) async fn upsert_properties(
        &self,
        key: Item,
        properties: &Map<String, Value>,
        at: DateTime<Utc>,
        fields: &[(&str, AttributeValue)],
    ) -> Result<Item, StoreError> {
        let mut given = Map::new();
        merge_properties(&mut given, properties);
        let mut e = Expr::default();
        let mut sets = Vec::new();
        for (k, v) in &given {
            let (name, value) = (e.name(&format!("{PROP}{k}")), e.value(s(v.to_string())));
            sets.push(format!("{name} = {value}"));
        }
        let created = e.name("created_at");
        let now = e.value(n(micros(at)));
        sets.push(format!("{created} = if_not_exists({created}, {now})"));
        sets.push(format!("{} = {now}", e.name("updated_at")));
        for (name, value) in fields {
            sets.push(e.eq(name, value.clone()));
        }
        let out = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key))
            .update_expression(format!("SET {}", sets.join(", ")))
            .set_expression_attribute_names(e.names())
            .set_expression_attribute_values(e.values())
            .return_values(ReturnValue::AllNew)
            .send()
            .await
            .map_err(sdk_error)?;
        out.attributes()
            .cloned()
            .ok_or_else(|| StoreError::Backend("UpdateItem returned no item".into()))
    }

    pub(super) async fn get(&self, pk: String, sk: &str) -> Result<Option<Item>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key(pk, sk)))
            .consistent_read(true)
            .send()
            .await
            .map_err(sdk_error)?;
        Ok(out.item().cloned())
    }

    async fn run_item_by_id(&self, id: Uuid) -> Result<Option<Item>, StoreError> {
        let mut e = Expr::default();
        let cond = e.eq("gsi1pk", s(format!("RRID#{id}")));
        let out = self
            .client
            .query()
            .table_name(&self.table)
            .index_name("gsi1")
            .key_condition_expression(cond)
            .set_expression_attribute_names(e.names())
            .set_expression_attribute_values(e.values())
            .send()
            .await
            .map_err(sdk_error)?;
        Ok(out.items().first().cloned())
    }

    /// Every item of one partition matching `key_cond` and `filter`, read strongly consistent,
    /// following `LastEvaluatedKey` to the end.
    pub(super) async fn query_all(
        &self,
        key_cond: &str,
        filter: Option<String>,
        e: &Expr,
    ) -> Result<Vec<Item>, StoreError> {
        let mut items = Vec::new();
        let mut start = None;
        loop {
            let out = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression(key_cond)
                .set_filter_expression(filter.clone())
                .set_expression_attribute_names(e.names())
                .set_expression_attribute_values(e.values())
                .consistent_read(true)
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(sdk_error)?;
            items.extend(out.items().iter().cloned());
            start = out.last_evaluated_key().cloned();
            if start.is_none() {
                return Ok(items);
            }
        }
    }

    /// Writes `items` in batches of 25, retrying unprocessed items with backoff.
    pub(super) async fn batch_put(&self, items: Vec<Item>) -> Result<(), StoreError> {
        let requests = items
            .into_iter()
            .map(|item| {
                let put = PutRequest::builder()
                    .set_item(Some(item))
                    .build()
                    .map_err(build_error)?;
                Ok(WriteRequest::builder().put_request(put).build())
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        self.batch_write(requests).await
    }

    /// Sends write requests in batches of 25, retrying unprocessed ones with backoff.
    pub(super) async fn batch_write(&self, requests: Vec<WriteRequest>) -> Result<(), StoreError> {
        for chunk in requests.chunks(BATCH_LIMIT) {
            let mut pending: Vec<WriteRequest> = chunk.to_vec();
            let mut attempt = 0u32;
            while !pending.is_empty() {
                if attempt > 0 {
                    tokio::time::sleep(Duration::from_millis(25 << attempt.min(6))).await;
                }
                if attempt > 10 {
                    return Err(StoreError::Backend(
                        "BatchWriteItem kept returning unprocessed items".into(),
                    ));
                }
                let out = self
                    .client
                    .batch_write_item()
                    .request_items(&self.table, pending)
                    .send()
                    .await
                    .map_err(sdk_error)?;
                pending = out
                    .unprocessed_items()
                    .and_then(|u| u.get(&self.table))
                    .cloned()
                    .unwrap_or_default();
                attempt += 1;
            }
        }
        Ok(())
    }

    /// Runs a transaction. `Ok(false)` when a condition failed (another writer got there first);
    /// a conflict with a concurrent transaction, where nobody may have won, is retried.
    pub(super) async fn transact(
        &self,
        items: Vec<TransactWriteItem>,
    ) -> Result<(), (bool, StoreError)> {
        let mut attempt = 0u32;
        // One token for every retry of this transaction: a retry of one that committed (the
        // answer was lost) succeeds instead of failing its conditions against itself.
        let token = Uuid::new_v4().to_string();
        loop {
            let result = self
                .client
                .transact_write_items()
                .set_transact_items(Some(items.clone()))
                .client_request_token(&token)
                .send()
                .await;
            let Err(err) = result else { return Ok(()) };
            let reasons: Vec<String> = match err.as_service_error() {
                Some(TransactWriteItemsError::TransactionCanceledException(c)) => c
                    .cancellation_reasons()
                    .iter()
                    .filter_map(|r| r.code().map(str::to_string))
                    .collect(),
                _ => return Err((false, sdk_error(err))),
            };
            tracing::debug!(?reasons, "transaction cancelled");
            if reasons.iter().any(|r| r == "ConditionalCheckFailed") {
                return Err((true, sdk_error(err)));
            }
            let conflict = reasons.iter().any(|r| r == "TransactionConflict");
            if !conflict || attempt >= 8 {
                return Err((false, sdk_error(err)));
            }
            attempt += 1;
            tokio::time::sleep(Duration::from_millis(10 << attempt.min(5))).await;
        }
    }

    /// The conditional update a transition makes to its run.
    pub(super) fn run_update(&self, t: &Transition) -> RunUpdate {
        let mut e = Expr::default();
        let errors = t
            .events
            .iter()
            .filter(|ev| ev.status == herald_core::run::EventStatus::Error)
            .count();
        let mut sets = vec![
            e.eq("cursor", n(i64::from(t.to_cursor))),
            e.eq("status", s(t.status.as_str())),
            e.eq("updated_at", n(micros(t.at))),
            e.eq("attempt", n(i64::from(t.attempt))),
        ];
        let mut removes = Vec::new();
        let count = e.name("error_count");
        sets.push(format!("{count} = {count} + {}", e.value(n(errors as i64))));
        let events = e.name("events");
        let new_events = e.value(AttributeValue::L(
            t.events.iter().map(event_value).collect(),
        ));
        sets.push(format!("{events} = list_append({events}, {new_events})"));
        if t.status == RunStatus::Completed {
            let exp = self.expiry(t.at);
            sets.push(e.eq("expires_at", exp));
        }
        match t.wake_at {
            Some(w) => sets.push(e.eq("wake_at", n(micros(w)))),
            None => removes.push(e.name("wake_at")),
        }
        if let Some(data) = &t.data {
            sets.push(e.eq("data", json(data)));
        }
        if let Some(batch) = &t.batch {
            sets.push(e.eq("batch", json(batch)));
            // Present only while the run holds an open batch: a cancel's filter skips it.
            if batch.open {
                sets.push(e.eq("batch_open", AttributeValue::Bool(true)));
            } else {
                removes.push(e.name("batch_open"));
            }
        }
        let mut expression = format!("SET {}", sets.join(", "));
        if !removes.is_empty() {
            expression.push_str(&format!(" REMOVE {}", removes.join(", ")));
        }
        let holding = e.name("batch_open");
        let condition = format!(
            "{} AND {} AND {}({holding})",
            e.eq("cursor", n(i64::from(t.from_cursor))),
            active(&mut e),
            if t.from_holding {
                "attribute_exists"
            } else {
                "attribute_not_exists"
            }
        );
        let pk = runs_pk(
            &t.workflow_key,
            t.cancellation_key.as_deref(),
            t.workflow_run_id,
        );
        RunUpdate {
            key: key(pk, &run_sk(t.workflow_run_id, t.run_id)),
            expression,
            condition,
            expr: e,
        }
    }

    /// A transition as transaction items: the run's update, and the message's put (only if
    /// absent) when it creates one.
    pub(super) fn transition_items(
        &self,
        t: &Transition,
    ) -> Result<Vec<TransactWriteItem>, StoreError> {
        let u = self.run_update(t);
        let run_update = Update::builder()
            .table_name(&self.table)
            .set_key(Some(u.key))
            .update_expression(u.expression)
            .condition_expression(u.condition)
            .set_expression_attribute_names(u.expr.names())
            .set_expression_attribute_values(u.expr.values())
            .build()
            .map_err(build_error)?;
        let mut items = vec![TransactWriteItem::builder().update(run_update).build()];
        if let Some(m) = &t.message {
            items.push(self.transact_put_new(message_item(m, m.inserted_at + self.retention))?);
        }
        Ok(items)
    }

    /// A transaction's `Put` of `item`, conditioned on `condition` (with its placeholders).
    pub(super) fn transact_put(
        &self,
        item: Item,
        condition: Option<(&str, Expr)>,
    ) -> Result<TransactWriteItem, StoreError> {
        let mut put = Put::builder().table_name(&self.table).set_item(Some(item));
        if let Some((c, e)) = condition {
            put = put
                .condition_expression(c)
                .set_expression_attribute_names(e.names())
                .set_expression_attribute_values(e.values());
        }
        Ok(TransactWriteItem::builder()
            .put(put.build().map_err(build_error)?)
            .build())
    }

    /// A transaction's `Put` of an item that must not exist yet.
    pub(super) fn transact_put_new(&self, item: Item) -> Result<TransactWriteItem, StoreError> {
        self.transact_put(item, Some(("attribute_not_exists(pk)", Expr::default())))
    }

    /// Cancels the runs the cancel's query matched, each with a conditional `UpdateItem`;
    /// also returns whether one of them had finished (or opened a batch) in the meantime.
    async fn cancel_runs(
        &self,
        matched: Vec<Item>,
        at: DateTime<Utc>,
    ) -> Result<(Vec<CancelledRun>, bool), StoreError> {
        let event = event_value(&RunEvent::ok(
            "workflow_recipient_run_cancelled",
            None,
            Value::Null,
            at,
        ));
        let mut cancelled = Vec::new();
        let mut lost_race = false;
        for item in matched {
            let run = run_from(&item)?;
            let mut u = Expr::default();
            let events = u.name("events");
            let new_events = u.value(AttributeValue::L(vec![event.clone()]));
            let update = format!(
                "SET {}, {}, {}, {events} = list_append({events}, {new_events})",
                u.eq("status", s(RunStatus::Cancelled.as_str())),
                u.eq("updated_at", n(micros(at))),
                u.eq("expires_at", self.expiry(at)),
            );
            // A run that opened its batch after the query is left to hold it.
            let condition = format!(
                "{} AND attribute_not_exists({})",
                active(&mut u),
                u.name("batch_open")
            );
            let result = self
                .client
                .update_item()
                .table_name(&self.table)
                .set_key(Some(key(
                    get_s(&item, "pk")?.to_string(),
                    get_s(&item, "sk")?,
                )))
                .update_expression(update)
                .condition_expression(condition)
                .set_expression_attribute_names(u.names())
                .set_expression_attribute_values(u.values())
                .send()
                .await;
            match result {
                Ok(_) => cancelled.push(CancelledRun {
                    id: run.id,
                    workflow_run_id: run.workflow_run_id,
                    wake_at: run.wake_at,
                }),
                Err(err) if is_condition_failure(&err) => lost_race = true,
                Err(err) => return Err(sdk_error(err)),
            }
        }
        Ok((cancelled, lost_race))
    }

    fn message_listing(q: &MessageQuery) -> Listing {
        let mut l = match &q.recipient {
            Some(r) => Listing::new("gsi1", recipient_key(r)),
            None => Listing::new("gsi2", "MSGALL".into()),
        };
        let e = &mut l.expr;
        let f = &mut l.filters;
        if let Some(c) = &q.channel_key {
            f.push(e.eq("channel_key", s(c)));
        }
        if !q.statuses.is_empty() {
            f.push(e.any_of("status", q.statuses.iter().map(|s| s.as_str().to_string())));
        }
        for g in &q.engagement {
            let a = e.name(engagement_attr(g.engagement));
            f.push(if g.present {
                format!("attribute_exists({a})")
            } else {
                format!("attribute_not_exists({a})")
            });
        }
        match q.archived {
            None | Some(ArchivedFilter::Include) => {}
            Some(ArchivedFilter::Exclude) => {
                f.push(format!("attribute_not_exists({})", e.name("archived_at")))
            }
            Some(ArchivedFilter::Only) => {
                f.push(format!("attribute_exists({})", e.name("archived_at")))
            }
        }
        if let Some(k) = &q.workflow_key {
            f.push(e.eq("workflow_key", s(k)));
        }
        if let Some(t) = &q.tenant {
            f.push(e.eq("tenant", s(t)));
        }
        if let Some(id) = q.workflow_run_id {
            f.push(e.eq("workflow_run_id", s(id.to_string())));
        }
        if let Some(id) = q.recipient_run_id {
            f.push(e.eq("recipient_run_id", s(id.to_string())));
        }
        if !q.message_ids.is_empty() {
            f.push(e.any_of("id", q.message_ids.iter().map(|id| id.to_string())));
        }
        if !q.workflow_categories.is_empty() {
            // `categories` is a JSON array of strings: a quoted name matches one element.
            let c = e.name("categories");
            let any: Vec<String> = q
                .workflow_categories
                .iter()
                .map(|cat| {
                    format!(
                        "contains({c}, {})",
                        e.s(Value::String(cat.clone()).to_string())
                    )
                })
                .collect();
            f.push(format!("({})", any.join(" OR ")));
        }
        match q.has_tenant {
            Some(true) => f.push(format!("attribute_exists({})", e.name("tenant"))),
            Some(false) => f.push(format!("attribute_not_exists({})", e.name("tenant"))),
            None => {}
        }
        for (bound, at) in &q.inserted_at {
            let (name, value) = (e.name("inserted_at"), e.value(n(micros(*at))));
            f.push(format!("{name} {} {value}", bound.operator()));
        }
        l
    }
}

#[async_trait]
impl Store for DynamoStore {
    async fn upsert_user(
        &self,
        id: &str,
        properties: &Map<String, Value>,
        at: DateTime<Utc>,
    ) -> Result<User, StoreError> {
        let item = self
            .upsert_properties(
                key(format!("USER#{id}"), "USER"),
                properties,
                at,
                &[("id", s(id)), ("type", s("user"))],
            )
            .await?;
        user_from(&item)
    }

    async fn get_user(&self, id: &str) -> Result<Option<User>, StoreError> {
        self.get(format!("USER#{id}"), "USER")
            .await?
            .as_ref()
            .map(user_from)
            .transpose()
    }

    async fn insert_run(
        &self,
        run: &WorkflowRun,
        recipients: &[RecipientRun],
        fanout: Option<&FanOut>,
    ) -> Result<(), StoreError> {
        let runs_pk = runs_pk(&run.workflow_key, run.cancellation_key.as_deref(), run.id);
        // The workflow-run item goes last, and only if absent: it is the commit marker the
        // stream starts runs from, so it must not appear before its recipient runs. A fan-out
        // is written in the same transaction, so a cancel sees it exactly when it sees the run.
        if self
            .get(format!("WFRUN#{}", run.id), "WFRUN")
            .await?
            .is_some()
        {
            return Ok(());
        }
        self.batch_put(recipients.iter().map(run_item).collect())
            .await?;
        let commit = workflow_run_item(run, &runs_pk);
        let result = match fanout {
            None => self
                .client
                .put_item()
                .table_name(&self.table)
                .set_item(Some(commit))
                .condition_expression("attribute_not_exists(pk)")
                .send()
                .await
                .map(|_| ())
                .map_err(|e| (is_condition_failure(&e), sdk_error(e))),
            Some(f) => self.transact(self.fanout_puts(f, commit)?).await,
        };
        match result {
            Ok(()) | Err((true, _)) => Ok(()), // already committed by an earlier attempt
            Err((false, e)) => Err(e),
        }
    }

    async fn get_fanout(&self, workflow_run_id: Uuid) -> Result<Option<FanOut>, StoreError> {
        self.fanout(workflow_run_id).await
    }

    async fn advance_fanout(
        &self,
        next: &FanOut,
        runs: &[RecipientRun],
    ) -> Result<bool, StoreError> {
        self.advance(next, runs).await
    }

    async fn get_recipient_run(&self, id: Uuid) -> Result<Option<RecipientRun>, StoreError> {
        self.run_item_by_id(id)
            .await?
            .as_ref()
            .map(run_from)
            .transpose()
    }

    async fn recipient_run_events(&self, id: Uuid) -> Result<Vec<RunEvent>, StoreError> {
        match self.run_item_by_id(id).await? {
            Some(item) => events_from(&item),
            None => Ok(Vec::new()),
        }
    }

    async fn active_recipient_runs(
        &self,
        workflow_run_id: Uuid,
    ) -> Result<Vec<RecipientRun>, StoreError> {
        let Some(wf) = self
            .get(format!("WFRUN#{workflow_run_id}"), "WFRUN")
            .await?
        else {
            return Ok(Vec::new());
        };
        let mut e = Expr::default();
        let key_cond = format!(
            "{} AND begins_with({}, {})",
            e.eq("pk", s(get_s(&wf, "runs_pk")?)),
            e.name("sk"),
            e.s(format!("RR#{workflow_run_id}#"))
        );
        let filter = active(&mut e);
        let mut runs = self
            .query_all(&key_cond, Some(filter), &e)
            .await?
            .iter()
            .map(run_from)
            .collect::<Result<Vec<_>, _>>()?;
        runs.sort_by_key(|r| (r.inserted_at, r.id));
        Ok(runs)
    }

    async fn list_recipient_runs(
        &self,
        q: &RunQuery,
        page: &PageRequest,
    ) -> Result<Page<RecipientRun>, StoreError> {
        let mut l = Listing::new("gsi2", "RRALL".into());
        let (e, f) = (&mut l.expr, &mut l.filters);
        if let Some(k) = &q.workflow_key {
            f.push(e.eq("workflow_key", s(k)));
        }
        if !q.statuses.is_empty() {
            f.push(e.any_of("status", q.statuses.iter().map(|s| s.as_str().to_string())));
        }
        if let Some(r) = &q.recipient {
            f.push(e.eq("recipient_id", s(&r.id)));
            f.push(e.eq(
                "recipient_collection",
                s(r.collection.as_deref().unwrap_or("")),
            ));
        }
        if let Some(t) = &q.tenant {
            f.push(e.eq("tenant", s(t)));
        }
        if let Some(id) = q.workflow_run_id {
            f.push(e.eq("workflow_run_id", s(id.to_string())));
        }
        if let Some(has) = q.has_errors {
            let (a, zero) = (e.name("error_count"), e.value(n(0)));
            f.push(format!("{a} {} {zero}", if has { ">" } else { "=" }));
        }
        self.page(l, page, run_from).await
    }

    async fn transition(&self, t: &Transition) -> Result<bool, StoreError> {
        let update = self.run_update(t);
        let result = match &t.message {
            // The common case is one conditional UpdateItem.
            None => self
                .client
                .update_item()
                .table_name(&self.table)
                .set_key(Some(update.key))
                .update_expression(update.expression)
                .condition_expression(update.condition)
                .set_expression_attribute_names(update.expr.names())
                .set_expression_attribute_values(update.expr.values())
                .send()
                .await
                .map(|_| ())
                .map_err(|err| (is_condition_failure(&err), sdk_error(err))),
            Some(_) => self.transact(self.transition_items(t)?).await,
        };
        match result {
            Ok(()) => Ok(true),
            Err((true, _)) => Ok(false),
            Err((false, err)) => Err(err),
        }
    }

    async fn current_batch(&self, group: &str) -> Result<Option<Batch>, StoreError> {
        self.current_batch_of(group).await
    }

    async fn get_batch(&self, id: Uuid) -> Result<Option<Batch>, StoreError> {
        self.batch(id).await
    }

    async fn open_batch(
        &self,
        batch: &Batch,
        replaces: Option<Uuid>,
        activity: Option<&BatchActivity>,
        transition: &Transition,
    ) -> Result<bool, StoreError> {
        self.open(batch, replaces, activity, transition).await
    }

    async fn join_batch(
        &self,
        activity: &BatchActivity,
        closes_at: Option<DateTime<Utc>>,
        transition: &Transition,
    ) -> Result<bool, StoreError> {
        self.join(activity, closes_at, transition).await
    }

    async fn close_batch(
        &self,
        batch_id: Uuid,
        transition: &Transition,
    ) -> Result<bool, StoreError> {
        self.close(batch_id, transition).await
    }

    async fn batch_activities(&self, batch_id: Uuid) -> Result<Vec<BatchActivity>, StoreError> {
        self.activities(batch_id).await
    }

    async fn flush_batch(&self, batch_id: Uuid, at: DateTime<Utc>) -> Result<bool, StoreError> {
        self.flush(batch_id, at).await
    }

    async fn list_batches(
        &self,
        query: &BatchQuery,
        page: &PageRequest,
    ) -> Result<Page<Batch>, StoreError> {
        self.batches(query, page).await
    }

    async fn throttle(
        &self,
        key: &str,
        run_id: Uuid,
        limit: u32,
        window_ends: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        self.admit(key, run_id, limit, window_ends, now).await
    }

    async fn cancel(
        &self,
        filter: &CancelFilter,
        at: DateTime<Utc>,
    ) -> Result<Vec<CancelledRun>, StoreError> {
        if filter.recipients.as_ref().is_some_and(Vec::is_empty) {
            return Ok(Vec::new());
        }
        let mut e = Expr::default();
        let pk = format!("RUNS#{}#K#{}", filter.workflow_key, filter.cancellation_key);
        let key_cond = e.eq("pk", s(pk));
        let mut filters = vec![active(&mut e)];
        if let Some(recipients) = &filter.recipients {
            let any: Vec<String> = recipients
                .iter()
                .map(|r| {
                    let id = e.eq("recipient_id", s(&r.id));
                    let c = e.eq(
                        "recipient_collection",
                        s(r.collection.as_deref().unwrap_or("")),
                    );
                    format!("({id} AND {c})")
                })
                .collect();
            filters.push(if any.len() == 1 {
                any.join("")
            } else {
                format!("({})", any.join(" OR "))
            });
        }
        // A run holding its open batch stays: the cancel reaches its activity instead.
        filters.push(format!("attribute_not_exists({})", e.name("batch_open")));
        let runs_filter = and(&filters).unwrap_or_default();
        // One query finds the runs and any fan-out and batch markers of the partition.
        let with_markers = format!(
            "({runs_filter}) OR {} OR {}",
            e.eq("type", s("fanout_marker")),
            e.eq("type", s("batch_marker"))
        );
        let kind = |item: &Item| opt_s(item, "type").unwrap_or_default();
        let found = self
            .query_all(&key_cond, Some(with_markers.clone()), &e)
            .await?;
        let (mut markers, mut matched): (Vec<Item>, Vec<Item>) = found
            .into_iter()
            .partition(|i| kind(i).ends_with("_marker"));
        let fanouts: Vec<Item> = markers
            .iter()
            .filter(|i| kind(i) == "fanout_marker")
            .cloned()
            .collect();
        if !fanouts.is_empty() {
            // Fan-outs first, then the runs again: a fan-out step that committed before the
            // fan-out update has its runs in this second read; one after it fails its version
            // condition (see `fanout.rs`).
            self.cancel_fanouts(filter, &fanouts).await?;
            (markers, matched) = self
                .query_all(&key_cond, Some(with_markers.clone()), &e)
                .await?
                .into_iter()
                .partition(|i| kind(i).ends_with("_marker"));
        }
        let (mut cancelled, lost_race) = self.cancel_runs(matched, at).await?;
        if lost_race {
            // A run that joined a batch (or opened one) after the first query left a marker:
            // find it now. Runs joining after their cancel above cannot join at all.
            markers = self
                .query_all(&key_cond, Some(with_markers.clone()), &e)
                .await?
                .into_iter()
                .filter(|i| kind(i).ends_with("_marker"))
                .collect();
        }
        let activities: Vec<Item> = markers
            .into_iter()
            .filter(|i| kind(i) == "batch_marker")
            .collect();
        if self.cancel_activities(filter, &activities).await? {
            // A batch closed under this cancel: its opener no longer holds it, so the opener's
            // key now cancels the continuing run (Knock's rule after the window closed).
            let again: Vec<Item> = self
                .query_all(&key_cond, Some(with_markers), &e)
                .await?
                .into_iter()
                .filter(|i| !kind(i).ends_with("_marker"))
                .collect();
            cancelled.extend(self.cancel_runs(again, at).await?.0);
        }
        Ok(cancelled)
    }

    async fn pending_runs(&self) -> Result<Vec<PendingRun>, StoreError> {
        let mut e = Expr::default();
        let filter = format!(
            "({} AND {}) OR ({} AND {})",
            e.eq("type", s("recipient_run")),
            active(&mut e),
            e.eq("type", s("fanout")),
            e.eq("finished", AttributeValue::Bool(false)),
        );
        let mut by_run: HashMap<Uuid, Option<Option<DateTime<Utc>>>> = HashMap::new();
        let mut start = None;
        loop {
            let out = self
                .client
                .scan()
                .table_name(&self.table)
                .filter_expression(&filter)
                .set_expression_attribute_names(e.names())
                .set_expression_attribute_values(e.values())
                .consistent_read(true)
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(sdk_error)?;
            for item in out.items() {
                if opt_s(item, "type").as_deref() == Some("fanout") {
                    // An unfinished fan-out must run now.
                    by_run.insert(fanout_run_id(item)?, None);
                    continue;
                }
                let run = run_from(item)?;
                let entry = by_run.entry(run.workflow_run_id).or_insert(Some(None));
                match (run.status, run.wake_at) {
                    (RunStatus::Paused, Some(w)) => {
                        if let Some(earliest) = entry {
                            *earliest = Some(earliest.map_or(w, |x| x.min(w)));
                        }
                    }
                    _ => *entry = None, // runnable now
                }
            }
            start = out.last_evaluated_key().cloned();
            if start.is_none() {
                break;
            }
        }
        Ok(by_run
            .into_iter()
            .map(|(workflow_run_id, wake)| PendingRun {
                workflow_run_id,
                wake_at: wake.flatten(),
            })
            .collect())
    }

    async fn get_message(&self, id: Uuid) -> Result<Option<Message>, StoreError> {
        self.get(format!("MSG#{id}"), "MSG")
            .await?
            .as_ref()
            .map(message_from)
            .transpose()
    }

    async fn list_messages(
        &self,
        query: &MessageQuery,
        page: &PageRequest,
    ) -> Result<Page<Message>, StoreError> {
        self.page(Self::message_listing(query), page, message_from)
            .await
    }

    async fn count_messages(&self, query: &MessageQuery) -> Result<u64, StoreError> {
        self.count(Self::message_listing(query)).await
    }

    async fn set_engagement(
        &self,
        id: Uuid,
        engagement: Engagement,
        present: bool,
        at: DateTime<Utc>,
    ) -> Result<Option<Message>, StoreError> {
        let mut e = Expr::default();
        let attr = e.name(engagement_attr(engagement));
        let now = e.value(n(micros(at)));
        let updated = e.name("updated_at");
        let update = if present {
            format!("SET {attr} = if_not_exists({attr}, {now}), {updated} = {now}")
        } else {
            format!("SET {updated} = {now} REMOVE {attr}")
        };
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(format!("MSG#{id}"), "MSG")))
            .update_expression(update)
            .condition_expression(format!("attribute_exists({})", e.name("pk")))
            .set_expression_attribute_names(e.names())
            .set_expression_attribute_values(e.values())
            .return_values(ReturnValue::AllNew)
            .send()
            .await;
        match result {
            Ok(out) => out.attributes().map(message_from).transpose(),
            Err(err) if is_condition_failure(&err) => Ok(None),
            Err(err) => Err(sdk_error(err)),
        }
    }
}
