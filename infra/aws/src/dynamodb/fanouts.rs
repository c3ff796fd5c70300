//! The fan-outs role on DynamoDB.
//!
//! | item | `pk` | `sk` |
//! |---|---|---|
//! | fan-out | `FANOUT#<workflow run id>` | `FANOUT` |
//! | fan-out marker | the runs partition (workflow key + cancellation key) | `FANOUT#<workflow run id>` |
//!
//! Both are written in the transaction that commits the workflow run. The fan-out item holds the progress (JSON `body`, `version`, `finished`); the marker lets a
//! cancel, which knows only (workflow, cancellation key), find it. Each fan-out step is one
//! `TransactWriteItems`: the fan-out update conditioned on its version plus up to 99 run `Put`s
//! conditioned on absence. A cancel updates the fan-out first, then cancels runs: a step
//! committed before that update has its runs visible to the cancel's query, and a step after
//! it fails its version condition.

use std::collections::HashSet;

use async_trait::async_trait;
use aws_sdk_dynamodb::types::{AttributeValue, TransactWriteItem, Update};
use herald_core::error::StoreError;
use herald_core::fanout::FanOut;
use herald_core::ports::{CancelFilter, FanOuts, Write};
use herald_core::run::RecipientRun;
use uuid::Uuid;

use super::codec::*;
use super::expr::Expr;
use super::request::{build_error, key};
use super::DynamoStore;

fn fanout_pk(workflow_run_id: Uuid) -> String {
    format!("FANOUT#{workflow_run_id}")
}

fn fanout_key(workflow_run_id: Uuid) -> Item {
    key(fanout_pk(workflow_run_id), "FANOUT")
}

fn fanout_from(item: &Item) -> Result<FanOut, StoreError> {
    parse_at(item, "body")
}

impl DynamoStore {
    /// The writes that commit a workflow run with a fan-out: its workflow-run item, the
    /// fan-out and its marker, each only if absent.
    pub(super) fn fanout_puts(
        &self,
        f: &FanOut,
        workflow_run: Item,
    ) -> Result<Vec<TransactWriteItem>, StoreError> {
        let mut marker = key(
            runs_pk(
                &f.workflow_key,
                f.cancellation_key.as_deref(),
                f.workflow_run_id,
            ),
            &format!("FANOUT#{}", f.workflow_run_id),
        );
        marker.insert("type".into(), s(FANOUT_MARKER));
        marker.insert("workflow_run_id".into(), s(f.workflow_run_id.to_string()));
        let mut item = fanout_key(f.workflow_run_id);
        item.insert("type".into(), s("fanout"));
        item.insert("workflow_run_id".into(), s(f.workflow_run_id.to_string()));
        item.insert("body".into(), json(f));
        item.insert(
            "version".into(),
            n(i64::try_from(f.version).unwrap_or(i64::MAX)),
        );
        item.insert("finished".into(), AttributeValue::Bool(f.is_finished()));
        [workflow_run, item, marker]
            .into_iter()
            .map(|item| self.transact_put_new(item))
            .collect()
    }

    /// The update of a fan-out to `next`, conditioned on the previous version, unfinished.
    fn fanout_update(&self, next: &FanOut) -> Result<Update, StoreError> {
        let mut e = Expr::default();
        let mut set = format!(
            "SET {}, {}, {}",
            e.eq("body", json(next)),
            e.eq(
                "version",
                n(i64::try_from(next.version).unwrap_or(i64::MAX))
            ),
            e.eq("finished", AttributeValue::Bool(next.is_finished())),
        );
        if next.is_finished() {
            set.push_str(&format!(", {}", e.eq("expires_at", self.fanout_expiry())));
        }
        let condition = format!(
            "{} AND {}",
            e.eq(
                "version",
                n(i64::try_from(next.version).unwrap_or(i64::MAX) - 1)
            ),
            e.eq("finished", AttributeValue::Bool(false)),
        );
        self.conditional_update(fanout_key(next.workflow_run_id), set, condition, &e)
    }

    /// When a finished fan-out's items expire. TTL is housekeeping, so it reads the system
    /// clock rather than the engine's.
    fn fanout_expiry(&self) -> AttributeValue {
        n((chrono::Utc::now() + self.retention).timestamp())
    }

    /// Lets a finished fan-out's marker expire with it.
    fn marker_expiry(&self, f: &FanOut) -> Result<Update, StoreError> {
        let mut e = Expr::default();
        let set = format!("SET {}", e.eq("expires_at", self.fanout_expiry()));
        Update::builder()
            .table_name(&self.table)
            .set_key(Some(key(
                runs_pk(
                    &f.workflow_key,
                    f.cancellation_key.as_deref(),
                    f.workflow_run_id,
                ),
                &format!("FANOUT#{}", f.workflow_run_id),
            )))
            .update_expression(set)
            .set_expression_attribute_names(e.names())
            .set_expression_attribute_values(e.values())
            .build()
            .map_err(build_error)
    }

    /// The ids among `runs` already stored (read strongly consistent).
    async fn existing_runs(&self, runs: &[RecipientRun]) -> Result<HashSet<Uuid>, StoreError> {
        let mut found = HashSet::new();
        if runs.is_empty() {
            return Ok(found);
        }
        let keys: Vec<Item> = runs
            .iter()
            .map(|r| {
                key(
                    runs_pk(
                        &r.workflow_key,
                        r.cancellation_key.as_deref(),
                        r.workflow_run_id,
                    ),
                    &run_sk(r.workflow_run_id, r.id),
                )
            })
            .collect();
        let mut e = Expr::default();
        let projection = e.name("id");
        for item in self.batch_get(keys, Some((&projection, &e))).await? {
            if let Ok(id) = Uuid::parse_str(get_s(&item, "id")?) {
                found.insert(id);
            }
        }
        Ok(found)
    }

    /// Applies a cancel to the unfinished fan-outs behind `markers` (found in the cancel's
    /// partition); called before the cancel's runs are read.
    pub(super) async fn cancel_fanouts(
        &self,
        filter: &CancelFilter,
        markers: &[Item],
    ) -> Result<(), StoreError> {
        for marker in markers {
            let Ok(id) = Uuid::parse_str(get_s(marker, "workflow_run_id")?) else {
                continue;
            };
            loop {
                let Some(f) = self.get_fanout(id).await? else {
                    break;
                };
                if f.is_finished() {
                    break;
                }
                let f = f.cancelled_by(filter.recipients.as_deref());
                match self.update(self.fanout_update(&f)?).await {
                    Ok(Write::Applied) => {
                        if f.is_finished() {
                            // Housekeeping: unconditional, so it cannot lose a race.
                            let _expiry: Write = self.update(self.marker_expiry(&f)?).await?;
                        }
                        break;
                    }
                    // A step got in, or is committing right now: read again and retry.
                    Ok(Write::LostRace) => continue,
                    Err(StoreError::Contention(_)) => {
                        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                        continue;
                    }
                    Err(e) => return Err(e),
                }
            }
        }
        Ok(())
    }
}

#[async_trait]
impl FanOuts for DynamoStore {
    async fn get_fanout(&self, workflow_run_id: Uuid) -> Result<Option<FanOut>, StoreError> {
        self.get(fanout_pk(workflow_run_id), "FANOUT")
            .await?
            .as_ref()
            .map(fanout_from)
            .transpose()
    }

    async fn advance_fanout(
        &self,
        next: &FanOut,
        runs: &[RecipientRun],
    ) -> Result<Write, StoreError> {
        // A run that exists would fail the whole transaction, so existing ones are left out
        // first; only this fan-out creates runs of its workflow run, and its version condition
        // keeps two steps from racing, so the check stays true until the write.
        for _ in 0..3 {
            let existing = self.existing_runs(runs).await?;
            let mut items = vec![TransactWriteItem::builder()
                .update(self.fanout_update(next)?)
                .build()];
            if next.is_finished() {
                items.push(
                    TransactWriteItem::builder()
                        .update(self.marker_expiry(next)?)
                        .build(),
                );
            }
            for r in runs.iter().filter(|r| !existing.contains(&r.id)) {
                items.push(self.transact_put_new(run_item(r))?);
            }
            if self.transact(items).await? == Write::Applied {
                return Ok(Write::Applied);
            }
            let stored = self.get_fanout(next.workflow_run_id).await?;
            let still_ours =
                stored.is_some_and(|f| f.version + 1 == next.version && !f.is_finished());
            if !still_ours {
                return Ok(Write::LostRace);
            }
        }
        Err(StoreError::Contention(
            "fan-out step kept failing its conditions".into(),
        ))
    }
}
