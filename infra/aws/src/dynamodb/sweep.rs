//! The sweep role on DynamoDB: one `Query` per shard of the due index (GSI3, keys only) for
//! the keys due before a time; the sort key names the workflow run or message.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use herald_core::error::StoreError;
use herald_core::ports::{Overdue, Sweep};
use uuid::Uuid;

use super::codec::*;
use super::expr::Expr;
use super::request::sdk_error;
use super::DynamoStore;

#[async_trait]
impl Sweep for DynamoStore {
    async fn overdue(&self, before: DateTime<Utc>, limit: usize) -> Result<Overdue, StoreError> {
        let bound = format!("{:020}", micros(before).max(0));
        let mut due: Vec<String> = Vec::new();
        for shard in 0..DUE_SHARDS {
            let mut e = Expr::default();
            let key_cond = format!(
                "{} AND {} < {}",
                e.eq("gsi3pk", s(format!("DUE#{shard}"))),
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
                    due.push(get_s(item, "gsi3sk")?.to_string());
                    found += 1;
                }
                // Each shard is read in due order: beyond `limit` keys of one shard, the rest
                // waits for the next sweep.
                if found >= limit * 4 {
                    break;
                }
            }
        }
        due.sort();
        let mut overdue = Overdue::default();
        for sk in due {
            let mut parts = sk.splitn(3, '#');
            let (_, kind, id) = (parts.next(), parts.next(), parts.next());
            let Some(id) = id.and_then(|i| Uuid::parse_str(i).ok()) else {
                continue;
            };
            let list = match kind {
                Some("R") => &mut overdue.workflow_runs,
                Some("M") => &mut overdue.messages,
                _ => continue,
            };
            if list.len() < limit && !list.contains(&id) {
                list.push(id);
            }
        }
        Ok(overdue)
    }
}
