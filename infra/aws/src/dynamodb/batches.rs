//! The batches role on DynamoDB.
//!
//! | item | `pk` | `sk` | notes |
//! |---|---|---|---|
//! | batch | `BATCH#<id>` | `BATCH` | status, count, `closes_at`; GSI2 `BATCHALL` lists them |
//! | activity | `BATCH#<id>` | `ACT#<joined µs>#<run id>` | one per joined run, `cancelled` flag |
//! | group pointer | `BGROUP#<group>` | `BGROUP` | the batch the group collects into now |
//! | activity marker | the joining run's partition (workflow key + cancellation key) | `BACT#<batch id>#<run id>` | lets a cancel find the activity with its one `Query` |
//!
//! Opening, joining and closing are each one `TransactWriteItems` together with the run's
//! transition, conditioned on the pointer (open), the batch being open and not full (join,
//! close) and the run's cursor. A cancel marks an activity cancelled in a transaction that
//! checks the batch is still open, so an activity is either excluded before the batch closes
//! or was part of it.

use async_trait::async_trait;
use aws_sdk_dynamodb::types::{AttributeValue, ConditionCheck, TransactWriteItem, Update};
use chrono::{DateTime, Utc};
use herald_core::batch::{Batch, BatchActivity, BatchStatus};
use herald_core::error::StoreError;
use herald_core::ports::{BatchQuery, Batches, CancelFilter, Page, PageRequest, Write};
use herald_core::run::Transition;
use uuid::Uuid;

use super::codec::*;
use super::expr::Expr;
use super::paging::Listing;
use super::request::{build_error, conditional, key};
use super::DynamoStore;

fn batch_pk(id: Uuid) -> String {
    format!("BATCH#{id}")
}

fn group_pk(group: &str) -> String {
    format!("BGROUP#{group}")
}

fn batch_item(b: &Batch) -> Item {
    let mut item = key(batch_pk(b.id), "BATCH");
    item.insert("type".into(), s("batch"));
    item.insert("gsi2pk".into(), s("BATCHALL"));
    item.insert("gsi2sk".into(), s(time_key(b.opened_at, b.id)));
    item.insert("id".into(), s(b.id.to_string()));
    item.insert("grp".into(), s(&b.group));
    item.insert("workflow_key".into(), s(&b.workflow_key));
    item.insert("step_ref".into(), s(&b.step_ref));
    put_recipient(&mut item, &b.recipient);
    item.insert("batch_key".into(), s(&b.batch_key));
    item.insert("opener_run_id".into(), s(b.opener_run_id.to_string()));
    item.insert(
        "opener_workflow_run_id".into(),
        s(b.opener_workflow_run_id.to_string()),
    );
    item.insert("status".into(), s(b.status.as_str()));
    item.insert("count".into(), n(i64::from(b.count)));
    if let Some(max) = b.max_items {
        item.insert("max_items".into(), n(i64::from(max)));
    }
    item.insert("opened_at".into(), n(micros(b.opened_at)));
    item.insert("closes_at".into(), n(micros(b.closes_at)));
    item
}

fn batch_from(item: &Item) -> Result<Batch, StoreError> {
    let status = BatchStatus::parse(get_s(item, "status")?)
        .ok_or_else(|| StoreError::Corrupt("batch status".into()))?;
    let small = |name: &str| -> Result<u32, StoreError> {
        u32::try_from(get_n(item, name)?).map_err(|_| StoreError::Corrupt(name.into()))
    };
    Ok(Batch {
        id: uuid(item, "id")?,
        group: get_s(item, "grp")?.to_string(),
        workflow_key: get_s(item, "workflow_key")?.to_string(),
        step_ref: get_s(item, "step_ref")?.to_string(),
        recipient: recipient(item, "recipient_id", "recipient_collection")?,
        batch_key: get_s(item, "batch_key")?.to_string(),
        opener_run_id: uuid(item, "opener_run_id")?,
        opener_workflow_run_id: uuid(item, "opener_workflow_run_id")?,
        status,
        count: small("count")?,
        max_items: item
            .get("max_items")
            .map(|_| small("max_items"))
            .transpose()?,
        opened_at: time(get_n(item, "opened_at")?)?,
        // A flush ends the window whatever sliding joins did to `closes_at` since.
        closes_at: time(
            opt_n(item, "flushed_at").map_or(get_n(item, "closes_at")?, |f| {
                f.min(get_n(item, "closes_at").unwrap_or(f))
            }),
        )?,
    })
}

fn activity_sk(a: &BatchActivity) -> String {
    format!("ACT#{}", time_key(a.inserted_at, a.run_id))
}

/// Activities and their markers outlive any window they can be in (plus the retention).
const LONGEST_WINDOW: chrono::Duration = chrono::Duration::days(400);

fn activity_item(a: &BatchActivity, expires: i64) -> Item {
    let mut item = key(batch_pk(a.batch_id), &activity_sk(a));
    item.insert("type".into(), s("batch_activity"));
    item.insert("batch_id".into(), s(a.batch_id.to_string()));
    item.insert("run_id".into(), s(a.run_id.to_string()));
    item.insert("workflow_run_id".into(), s(a.workflow_run_id.to_string()));
    item.insert("workflow_key".into(), s(&a.workflow_key));
    if let Some(k) = &a.cancellation_key {
        item.insert("cancellation_key".into(), s(k));
    }
    put_recipient(&mut item, &a.recipient);
    if let Some(actor) = &a.actor {
        item.insert("actor".into(), json(actor));
    }
    item.insert("data".into(), json(&a.data));
    item.insert("inserted_at".into(), n(micros(a.inserted_at)));
    item.insert(
        "cancelled".into(),
        aws_sdk_dynamodb::types::AttributeValue::Bool(a.cancelled),
    );
    item.insert("expires_at".into(), n(expires));
    item
}

fn activity_from(item: &Item) -> Result<BatchActivity, StoreError> {
    Ok(BatchActivity {
        batch_id: uuid(item, "batch_id")?,
        run_id: uuid(item, "run_id")?,
        workflow_run_id: uuid(item, "workflow_run_id")?,
        workflow_key: get_s(item, "workflow_key")?.to_string(),
        cancellation_key: opt_s(item, "cancellation_key"),
        recipient: recipient(item, "recipient_id", "recipient_collection")?,
        actor: item
            .get("actor")
            .map(|_| parse(item, "actor"))
            .transpose()?,
        data: parse(item, "data")?,
        inserted_at: time(get_n(item, "inserted_at")?)?,
        cancelled: item
            .get("cancelled")
            .and_then(|v| v.as_bool().ok())
            .copied()
            .unwrap_or(false),
    })
}

impl DynamoStore {
    /// The activity and, when its run can be cancelled by key, the marker a cancel finds.
    fn activity_puts(&self, a: &BatchActivity) -> Result<Vec<TransactWriteItem>, StoreError> {
        let expires = (a.inserted_at + LONGEST_WINDOW + self.retention).timestamp();
        let mut items = vec![self.transact_put(activity_item(a, expires), None)?];
        if let Some(k) = &a.cancellation_key {
            let mut marker = key(
                runs_pk(&a.workflow_key, Some(k), a.workflow_run_id),
                &format!("BACT#{}#{}", a.batch_id, a.run_id),
            );
            marker.insert("type".into(), s(BATCH_MARKER));
            marker.insert("batch_id".into(), s(a.batch_id.to_string()));
            marker.insert("act_sk".into(), s(activity_sk(a)));
            put_recipient(&mut marker, &a.recipient);
            marker.insert(
                "expires_at".into(),
                self.expiry(a.inserted_at + LONGEST_WINDOW),
            );
            items.push(self.transact_put(marker, None)?);
        }
        Ok(items)
    }

    fn batch_update(
        &self,
        id: Uuid,
        expression: String,
        condition: String,
        e: Expr,
    ) -> Result<Update, StoreError> {
        self.conditional_update(key(batch_pk(id), "BATCH"), expression, condition, &e)
    }

    /// Applies a cancel to the activities behind `markers` (found in the cancel's own
    /// partition): each is marked cancelled only while its batch is open. Returns whether a
    /// batch had closed.
    pub(super) async fn cancel_activities(
        &self,
        filter: &CancelFilter,
        markers: &[Item],
    ) -> Result<bool, StoreError> {
        let mut closed = false;
        for marker in markers {
            if let Some(recipients) = &filter.recipients {
                let who = recipient(marker, "recipient_id", "recipient_collection")?;
                if !recipients.contains(&who) {
                    continue;
                }
            }
            let batch_id = uuid(marker, "batch_id")?;
            let mut c = Expr::default();
            let check = ConditionCheck::builder()
                .table_name(&self.table)
                .set_key(Some(key(batch_pk(batch_id), "BATCH")))
                .condition_expression(c.eq("status", s(BatchStatus::Open.as_str())))
                .set_expression_attribute_names(c.names())
                .set_expression_attribute_values(c.values())
                .build()
                .map_err(build_error)?;
            let mut u = Expr::default();
            let update = Update::builder()
                .table_name(&self.table)
                .set_key(Some(key(batch_pk(batch_id), get_s(marker, "act_sk")?)))
                .update_expression(format!(
                    "SET {}",
                    u.eq("cancelled", AttributeValue::Bool(true))
                ))
                .condition_expression("attribute_exists(pk)")
                .set_expression_attribute_names(u.names())
                .set_expression_attribute_values(u.values())
                .build()
                .map_err(build_error)?;
            // A closed batch keeps the activity: Knock's "keys of absorbed activities have no
            // effect once the window closed".
            let outcome = self
                .transact(vec![
                    TransactWriteItem::builder().condition_check(check).build(),
                    TransactWriteItem::builder().update(update).build(),
                ])
                .await?;
            closed |= outcome == Write::LostRace;
        }
        Ok(closed)
    }
}

#[async_trait]
impl Batches for DynamoStore {
    async fn get_batch(&self, id: Uuid) -> Result<Option<Batch>, StoreError> {
        self.get(batch_pk(id), "BATCH")
            .await?
            .as_ref()
            .map(batch_from)
            .transpose()
    }

    async fn current_batch(&self, group: &str) -> Result<Option<Batch>, StoreError> {
        let Some(pointer) = self.get(group_pk(group), "BGROUP").await? else {
            return Ok(None);
        };
        let id = uuid(&pointer, "batch_id")?;
        if let Some(batch) = self.get_batch(id).await? {
            return Ok(Some(batch));
        }
        // The batch expired (TTL) before its pointer: drop the pointer, unless a new batch
        // replaced it meanwhile, so the group can open again.
        let mut e = Expr::default();
        let condition = e.eq("batch_id", s(id.to_string()));
        let result = self
            .client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(key(group_pk(group), "BGROUP")))
            .condition_expression(condition)
            .set_expression_attribute_names(e.names())
            .set_expression_attribute_values(e.values())
            .send()
            .await;
        match conditional(result)? {
            Write::Applied => Ok(None),
            Write::LostRace => Box::pin(self.current_batch(group)).await,
        }
    }

    async fn open_batch(
        &self,
        b: &Batch,
        replaces: Option<Uuid>,
        activity: Option<&BatchActivity>,
        t: &Transition,
    ) -> Result<Write, StoreError> {
        let mut pointer = key(group_pk(&b.group), "BGROUP");
        pointer.insert("batch_id".into(), s(b.id.to_string()));
        // Every open refreshes it; an idle group's pointer goes with its last batch.
        pointer.insert(
            "expires_at".into(),
            self.expiry(b.closes_at + LONGEST_WINDOW),
        );
        let mut e = Expr::default();
        let condition = match replaces {
            None => "attribute_not_exists(pk)".to_string(),
            Some(old) => e.eq("batch_id", s(old.to_string())),
        };
        let mut items = vec![
            self.transact_put(pointer, Some((&condition, e)))?,
            self.transact_put_new(batch_item(b))?,
        ];
        if let Some(a) = activity {
            items.extend(self.activity_puts(a)?);
        }
        items.extend(self.transition_items(t)?);
        self.transact(items).await
    }

    async fn join_batch(
        &self,
        a: &BatchActivity,
        closes_at: Option<DateTime<Utc>>,
        t: &Transition,
    ) -> Result<Write, StoreError> {
        let mut e = Expr::default();
        let count = e.name("count");
        let one = e.value(n(1));
        let mut expression = format!("SET {count} = {count} + {one}");
        if let Some(c) = closes_at {
            expression.push_str(&format!(", {}", e.eq("closes_at", n(micros(c)))));
        }
        let max = e.name("max_items");
        let condition = format!(
            "{} AND (attribute_not_exists({max}) OR {count} < {max})",
            e.eq("status", s(BatchStatus::Open.as_str()))
        );
        let update = self.batch_update(a.batch_id, expression, condition, e)?;
        let mut items = vec![TransactWriteItem::builder().update(update).build()];
        items.extend(self.activity_puts(a)?);
        items.extend(self.transition_items(t)?);
        self.transact(items).await
    }

    async fn close_batch(&self, id: Uuid, t: &Transition) -> Result<Write, StoreError> {
        let mut e = Expr::default();
        let expression = format!(
            "SET {}, {}",
            e.eq("status", s(BatchStatus::Closed.as_str())),
            e.eq("expires_at", self.expiry(t.at))
        );
        let condition = e.eq("status", s(BatchStatus::Open.as_str()));
        let update = self.batch_update(id, expression, condition, e)?;
        let mut items = vec![TransactWriteItem::builder().update(update).build()];
        items.extend(self.transition_items(t)?);
        self.transact(items).await
    }

    async fn batch_activities(&self, id: Uuid) -> Result<Vec<BatchActivity>, StoreError> {
        let mut e = Expr::default();
        let key_cond = format!(
            "{} AND begins_with({}, {})",
            e.eq("pk", s(batch_pk(id))),
            e.name("sk"),
            e.s("ACT#")
        );
        self.query_all(&key_cond, None, &e)
            .await?
            .iter()
            .map(activity_from)
            .collect()
    }

    async fn flush_batch(&self, id: Uuid, at: DateTime<Utc>) -> Result<Write, StoreError> {
        let mut e = Expr::default();
        let expression = format!("SET {}", e.eq("flushed_at", n(micros(at))));
        let condition = e.eq("status", s(BatchStatus::Open.as_str()));
        self.update(self.batch_update(id, expression, condition, e)?)
            .await
    }

    async fn list_batches(
        &self,
        q: &BatchQuery,
        page: &PageRequest,
    ) -> Result<Page<Batch>, StoreError> {
        let mut l = Listing::new("gsi2", "BATCHALL".into());
        let (e, f) = (&mut l.expr, &mut l.filters);
        if let Some(status) = q.status {
            f.push(e.eq("status", s(status.as_str())));
        }
        if let Some(k) = &q.workflow_key {
            f.push(e.eq("workflow_key", s(k)));
        }
        if let Some(r) = &q.recipient {
            f.push(e.recipient(r));
        }
        self.page(l, page, batch_from).await
    }
}
