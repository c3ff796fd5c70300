//! The runs role on DynamoDB: workflow runs, recipient runs in their (workflow key,
//! cancellation key) partition, transitions as conditional updates, and the cancel.

use std::collections::HashSet;

use async_trait::async_trait;
use aws_sdk_dynamodb::types::{AttributeValue, TransactWriteItem, Update};
use chrono::{DateTime, Utc};
use herald_core::error::StoreError;
use herald_core::fanout::FanOut;
use herald_core::ports::{ActiveRuns, CancelFilter, Page, PageRequest, RunQuery, Runs, Write};
use herald_core::run::{CancelledRun, RecipientRun, RunEvent, RunStatus, Transition, WorkflowRun};
use serde_json::Value;
use uuid::Uuid;

use super::codec::*;
use super::due::{Due, Kind};
use super::expr::{and, Expr};
use super::paging::Listing;
use super::request::{conditional, key, sdk_error};
use super::DynamoStore;

/// The condition "the run is active", with its placeholders in `e`.
pub(super) fn active(e: &mut Expr) -> String {
    e.any_of(
        "status",
        RunStatus::ACTIVE.iter().map(|s| s.as_str().to_string()),
    )
}

impl DynamoStore {
    async fn run_item_by_id(&self, id: Uuid) -> Result<Option<Item>, StoreError> {
        let mut e = Expr::default();
        let cond = e.eq("gsi1pk", s(format!("RRID#{id}")));
        let out = self
            .query(&cond, &e)
            .index_name("gsi1")
            .send()
            .await
            .map_err(sdk_error)?;
        Ok(out.items().first().cloned())
    }

    /// The conditional update a transition makes to its run.
    pub(super) fn run_update(&self, t: &Transition) -> Result<Update, StoreError> {
        let mut e = Expr::default();
        let mut sets = vec![
            e.eq("cursor", n(i64::from(t.to_cursor))),
            e.eq("status", s(t.status.as_str())),
            e.eq("updated_at", n(micros(t.at))),
            e.eq("attempt", n(i64::from(t.attempt))),
        ];
        let mut removes = Vec::new();
        let count = e.name("error_count");
        let errors = e.value(n(i64::from(t.error_count())));
        sets.push(format!("{count} = {count} + {errors}"));
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
        // In the due index while active, due at its wake-up or now.
        if t.status.is_active() {
            let due = t.wake_at.unwrap_or(t.at);
            sets.push(Due::new(Kind::Run, t.workflow_run_id, due).set(&mut e));
        } else {
            removes.push(Due::remove(&mut e));
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
        self.conditional_update(
            key(pk, &run_sk(t.workflow_run_id, t.run_id)),
            expression,
            condition,
            &e,
        )
    }

    /// A transition as transaction items: the run's update, and the message's put (only if
    /// absent) when it creates one.
    pub(super) fn transition_items(
        &self,
        t: &Transition,
    ) -> Result<Vec<TransactWriteItem>, StoreError> {
        let mut items = vec![TransactWriteItem::builder()
            .update(self.run_update(t)?)
            .build()];
        if let Some(m) = &t.message {
            items.push(self.transact_put_new(message_item(m, m.inserted_at + self.retention))?);
        }
        Ok(items)
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
            // Only what the answer needs: a run whose data cannot be decoded is cancelled too.
            let (id, workflow_run_id) = (uuid(&item, "id")?, uuid(&item, "workflow_run_id")?);
            let wake_at = opt_n(&item, "wake_at").map(time).transpose()?;
            let mut u = Expr::default();
            let events = u.name("events");
            let new_events = u.value(AttributeValue::L(vec![event.clone()]));
            let update = format!(
                "SET {}, {}, {}, {events} = list_append({events}, {new_events}) REMOVE {}",
                u.eq("status", s(RunStatus::Cancelled.as_str())),
                u.eq("updated_at", n(micros(at))),
                u.eq("expires_at", self.expiry(at)),
                Due::remove(&mut u),
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
            match conditional(result)? {
                Write::Applied => cancelled.push(CancelledRun {
                    id,
                    workflow_run_id,
                    wake_at,
                }),
                Write::LostRace => lost_race = true,
            }
        }
        Ok((cancelled, lost_race))
    }
}

#[async_trait]
impl Runs for DynamoStore {
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
        // A lost race is an earlier attempt of this trigger that committed: nothing to do.
        let _committed: Write = match fanout {
            None => conditional(
                self.client
                    .put_item()
                    .table_name(&self.table)
                    .set_item(Some(commit))
                    .condition_expression("attribute_not_exists(pk)")
                    .send()
                    .await,
            )?,
            Some(f) => self.transact(self.fanout_puts(f, commit)?).await?,
        };
        Ok(())
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

    async fn active_recipient_runs(&self, workflow_run_id: Uuid) -> Result<ActiveRuns, StoreError> {
        let Some(wf) = self
            .get(format!("WFRUN#{workflow_run_id}"), "WFRUN")
            .await?
        else {
            return Ok(ActiveRuns::default());
        };
        let mut e = Expr::default();
        let key_cond = format!(
            "{} AND begins_with({}, {})",
            e.eq("pk", s(get_s(&wf, "runs_pk")?)),
            e.name("sk"),
            e.s(format!("RR#{workflow_run_id}#"))
        );
        let filter = active(&mut e);
        let mut read = ActiveRuns::default();
        for item in self.query_all(&key_cond, Some(filter), &e).await? {
            match run_from(&item) {
                Ok(run) => read.runs.push(run),
                Err(StoreError::Corrupt(why)) => {
                    tracing::error!(%workflow_run_id, why, "a recipient run item cannot be decoded");
                    read.unreadable.push(uuid(&item, "id")?);
                }
                Err(e) => return Err(e),
            }
        }
        read.runs.sort_by_key(|r| (r.inserted_at, r.id));
        Ok(read)
    }

    async fn end_unreadable_run(
        &self,
        workflow_run_id: Uuid,
        id: Uuid,
        event: &RunEvent,
    ) -> Result<Write, StoreError> {
        let Some(wf) = self
            .get(format!("WFRUN#{workflow_run_id}"), "WFRUN")
            .await?
        else {
            return Ok(Write::LostRace);
        };
        let at = event.inserted_at;
        let mut u = Expr::default();
        let events = u.name("events");
        let new_events = u.value(AttributeValue::L(vec![event_value(event)]));
        let (errors, one) = (u.name("error_count"), u.value(n(1)));
        let update = format!(
            "SET {}, {}, {}, {events} = list_append({events}, {new_events}), {errors} = {errors} + {one} REMOVE {}, {}",
            u.eq("status", s(RunStatus::Completed.as_str())),
            u.eq("updated_at", n(micros(at))),
            u.eq("expires_at", self.expiry(at)),
            u.name("wake_at"),
            Due::remove(&mut u),
        );
        let condition = active(&mut u);
        let key = key(
            get_s(&wf, "runs_pk")?.to_string(),
            &run_sk(workflow_run_id, id),
        );
        self.update(self.conditional_update(key, update, condition, &u)?)
            .await
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
            f.push(e.recipient(r));
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

    async fn transition(&self, t: &Transition) -> Result<Write, StoreError> {
        match &t.message {
            // The common case is one conditional UpdateItem.
            None => self.update(self.run_update(t)?).await,
            Some(_) => self.transact(self.transition_items(t)?).await,
        }
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
        let pk = runs_pk(
            &filter.workflow_key,
            Some(&filter.cancellation_key),
            Uuid::nil(),
        );
        let key_cond = e.eq("pk", s(pk));
        let mut filters = vec![active(&mut e)];
        // Recipients are matched here, not in the filter: a filter expression holds at most
        // 4 KB, about a hundred recipients, and a cancel may name a thousand.
        let wanted: Option<HashSet<(String, String)>> = filter.recipients.as_ref().map(|rs| {
            rs.iter()
                .map(|r| (r.id.clone(), r.collection.clone().unwrap_or_default()))
                .collect()
        });
        let named = |item: &Item| {
            wanted.as_ref().is_none_or(|w| {
                let id = opt_s(item, "recipient_id").unwrap_or_default();
                let collection = opt_s(item, "recipient_collection").unwrap_or_default();
                w.contains(&(id, collection))
            })
        };
        // A run holding its open batch stays: the cancel reaches its activity instead.
        filters.push(format!("attribute_not_exists({})", e.name("batch_open")));
        let runs_filter = and(&filters).unwrap_or_default();
        // One query finds the runs and any fan-out and batch markers of the partition.
        let with_markers = format!(
            "({runs_filter}) OR {} OR {}",
            e.eq("type", s(FANOUT_MARKER)),
            e.eq("type", s(BATCH_MARKER))
        );
        let kind = |item: &Item| opt_s(item, "type").unwrap_or_default();
        let is_marker = |item: &Item| {
            let k = kind(item);
            k == FANOUT_MARKER || k == BATCH_MARKER
        };
        let found = self
            .query_all(&key_cond, Some(with_markers.clone()), &e)
            .await?;
        let (mut markers, mut matched): (Vec<Item>, Vec<Item>) =
            found.into_iter().partition(is_marker);
        matched.retain(|i| named(i));
        let fanouts: Vec<Item> = markers
            .iter()
            .filter(|i| kind(i) == FANOUT_MARKER)
            .cloned()
            .collect();
        if !fanouts.is_empty() {
            // Fan-outs first, then the runs again: a fan-out step that committed before the
            // fan-out update has its runs in this second read; one after it fails its version
            // condition (see `fanouts.rs`).
            self.cancel_fanouts(filter, &fanouts).await?;
            (markers, matched) = self
                .query_all(&key_cond, Some(with_markers.clone()), &e)
                .await?
                .into_iter()
                .partition(is_marker);
            matched.retain(|i| named(i));
        }
        let (mut cancelled, lost_race) = self.cancel_runs(matched, at).await?;
        if lost_race {
            // A run that joined a batch (or opened one) after the first query left a marker:
            // find it now. Runs joining after their cancel above cannot join at all.
            markers = self
                .query_all(&key_cond, Some(with_markers.clone()), &e)
                .await?
                .into_iter()
                .filter(is_marker)
                .collect();
        }
        let activities: Vec<Item> = markers
            .into_iter()
            .filter(|i| kind(i) == BATCH_MARKER)
            .collect();
        if self.cancel_activities(filter, &activities).await? {
            // A batch closed under this cancel: its opener no longer holds it, so the opener's
            // key now cancels the continuing run (Knock's rule after the window closed).
            let again: Vec<Item> = self
                .query_all(&key_cond, Some(with_markers), &e)
                .await?
                .into_iter()
                .filter(|i| !is_marker(i) && named(i))
                .collect();
            cancelled.extend(self.cancel_runs(again, at).await?.0);
        }
        Ok(cancelled)
    }
}
