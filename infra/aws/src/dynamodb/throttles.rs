//! The throttles role on DynamoDB: one item `THROTTLE#<key>` holding the window's end and the set
//! of runs it admitted. Admitting is a conditional `ADD` to the set; opening a window is a
//! conditional `PutItem` that only replaces an ended window. Neither reads first.

use async_trait::async_trait;
use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{DateTime, Utc};
use herald_core::error::StoreError;
use herald_core::ports::{Admission, Throttles, Write};
use uuid::Uuid;

use super::codec::*;
use super::expr::Expr;
use super::request::{conditional, key};
use super::DynamoStore;

#[async_trait]
impl Throttles for DynamoStore {
    async fn throttle(
        &self,
        throttle_key: &str,
        run_id: Uuid,
        limit: u32,
        window_ends: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<Admission, StoreError> {
        let pk = format!("THROTTLE#{throttle_key}");
        let run = AttributeValue::Ss(vec![run_id.to_string()]);
        // Join the open window (or find the run already in it), open a new window, and if a
        // concurrent run opened one first, try joining that.
        for _ in 0..2 {
            let mut e = Expr::default();
            let (runs, ends) = (e.name("runs"), e.name("window_ends"));
            let (one, now_v) = (e.s(run_id.to_string()), e.value(n(micros(now))));
            let limit_v = e.value(n(i64::from(limit)));
            let set = e.value(run.clone());
            let joined = self
                .client
                .update_item()
                .table_name(&self.table)
                .set_key(Some(key(pk.clone(), "THROTTLE")))
                .update_expression(format!("ADD {runs} {set}"))
                .condition_expression(format!(
                    "attribute_exists(pk) AND {ends} > {now_v} AND (contains({runs}, {one}) OR size({runs}) < {limit_v})"
                ))
                .set_expression_attribute_names(e.names())
                .set_expression_attribute_values(e.values())
                .send()
                .await;
            if conditional(joined)? == Write::Applied {
                return Ok(Admission::Admitted);
            }
            let mut item = key(pk.clone(), "THROTTLE");
            item.insert("window_ends".into(), n(micros(window_ends)));
            item.insert("runs".into(), run.clone());
            item.insert("expires_at".into(), n(window_ends.timestamp() + 86_400));
            let mut e = Expr::default();
            let (ends, now_v) = (e.name("window_ends"), e.value(n(micros(now))));
            let opened = self
                .client
                .put_item()
                .table_name(&self.table)
                .set_item(Some(item))
                .condition_expression(format!("attribute_not_exists(pk) OR {ends} <= {now_v}"))
                .set_expression_attribute_names(e.names())
                .set_expression_attribute_values(e.values())
                .send()
                .await;
            if conditional(opened)? == Write::Applied {
                return Ok(Admission::Admitted);
            }
        }
        // An open window that is full.
        Ok(Admission::Throttled)
    }
}
