//! The sweep role on DynamoDB: one `Query` per shard of the due index (GSI3, keys only) for
//! the keys due before a time; the sort key names the workflow run or message. Recipient runs
//! of a trigger that died before its commit marker (no `WFRUN` item) can never run: once
//! [`ORPHAN_AGE`] overdue they are taken out of the index and left to expire.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use herald_core::error::StoreError;
use herald_core::ports::{Overdue, Sweep};
use uuid::Uuid;

use super::codec::*;
use super::due::{self, Due, Kind};
use super::expr::Expr;
use super::request::sdk_error;
use super::DynamoStore;

/// How overdue a recipient run without its workflow run must be to count as an orphan: far
/// longer than a trigger takes to write its commit marker.
const ORPHAN_AGE: chrono::Duration = chrono::Duration::hours(1);

#[async_trait]
impl Sweep for DynamoStore {
    async fn overdue(&self, before: DateTime<Utc>, limit: usize) -> Result<Overdue, StoreError> {
        let (bound, orphan_bound) = (due::bound(before), due::bound(before - ORPHAN_AGE));
        // Old run entries, with their item's key, to check for a commit marker.
        let mut old_runs: Vec<(Uuid, Item)> = Vec::new();
        let mut due: Vec<String> = Vec::new();
        for shard in 0..due::SHARDS {
            let mut e = Expr::default();
            let key_cond = format!(
                "{} AND {} < {}",
                e.eq("gsi3pk", s(due::shard_pk(shard))),
                e.name("gsi3sk"),
                e.s(bound.clone())
            );
            let mut pages = self
                .query(&key_cond, &e)
                .index_name("gsi3")
                .into_paginator()
                .send();
            let mut found = 0usize;
            while let Some(page) = pages.next().await {
                for item in page.map_err(sdk_error)?.items() {
                    let sk = get_s(item, "gsi3sk")?.to_string();
                    if sk < orphan_bound {
                        if let Some((Kind::Run, id)) = Due::parse(&sk) {
                            let key = super::request::key(
                                get_s(item, "pk")?.to_string(),
                                get_s(item, "sk")?,
                            );
                            old_runs.push((id, key));
                        }
                    }
                    due.push(sk);
                    found += 1;
                }
                // Each shard is read in due order: beyond `limit` keys of one shard, the rest
                // waits for the next sweep.
                if found >= limit * 4 {
                    break;
                }
            }
        }
        let orphans = self.drop_orphans(old_runs, before).await?;
        due.sort();
        let mut overdue = Overdue::default();
        let mut listed = std::collections::HashSet::new();
        for sk in &due {
            let Some((kind, id)) = Due::parse(sk) else {
                continue;
            };
            let list = match kind {
                Kind::Run if orphans.contains(&id) => continue,
                Kind::Run => &mut overdue.workflow_runs,
                Kind::Message => &mut overdue.messages,
            };
            if list.len() < limit && listed.insert((kind, id)) {
                list.push(id);
            }
        }
        Ok(overdue)
    }
}

impl DynamoStore {
    /// Takes the run items of `old` whose workflow run was never committed out of the due
    /// index (they expire with the retention); returns those workflow run ids.
    async fn drop_orphans(
        &self,
        old: Vec<(Uuid, Item)>,
        now: DateTime<Utc>,
    ) -> Result<std::collections::HashSet<Uuid>, StoreError> {
        if old.is_empty() {
            return Ok(Default::default());
        }
        let mut ids: Vec<Uuid> = old.iter().map(|(id, _)| *id).collect();
        ids.sort();
        ids.dedup();
        let keys = ids
            .iter()
            .map(|id| super::request::key(format!("WFRUN#{id}"), "WFRUN"))
            .collect();
        let mut e = Expr::default();
        let projection = e.name("pk");
        let committed: std::collections::HashSet<Uuid> = self
            .batch_get(keys, Some((&projection, &e)))
            .await?
            .iter()
            .filter_map(|item| get_s(item, "pk").ok()?.strip_prefix("WFRUN#")?.parse().ok())
            .collect();
        let orphans: std::collections::HashSet<Uuid> = ids
            .into_iter()
            .filter(|id| !committed.contains(id))
            .collect();
        for (id, key) in old.into_iter().filter(|(id, _)| orphans.contains(id)) {
            tracing::warn!(workflow_run_id = %id, "a run of a trigger that never committed; dropped from the due index");
            let mut u = Expr::default();
            let set = format!(
                "SET {} REMOVE {}",
                u.eq("expires_at", self.expiry(now)),
                Due::remove(&mut u)
            );
            let condition = format!("attribute_exists({})", u.name("pk"));
            let _gone: herald_core::ports::Write = self
                .update(self.conditional_update(key, set, condition, &u)?)
                .await?;
        }
        Ok(orphans)
    }
}
