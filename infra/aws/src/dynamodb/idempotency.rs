//! The idempotency role on DynamoDB: one item `IDEM#<key>` per key. A claim is one `PutItem`
//! conditioned on the key being free or expired, answering the holder on failure
//! (`ReturnValuesOnConditionCheckFailure`), so it never reads first. `expires_at` is the table's
//! TTL attribute (DynamoDB deletes lazily, so the condition compares `expires_us` itself).

use async_trait::async_trait;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValuesOnConditionCheckFailure};
use chrono::{DateTime, Utc};
use herald_core::error::StoreError;
use herald_core::idempotency::IdempotencyClaim;
use herald_core::ports::{Claim, IdempotencyKeys, Write};
use uuid::Uuid;

use super::codec::*;
use super::expr::Expr;
use super::request::{conditional, key, sdk_error};
use super::DynamoStore;

const SK: &str = "IDEM";

fn pk(key: &str) -> String {
    format!("IDEM#{key}")
}

fn claim_from(key: &str, item: &Item) -> Result<IdempotencyClaim, StoreError> {
    Ok(IdempotencyClaim {
        key: key.to_string(),
        fingerprint: get_s(item, "fingerprint")?.to_string(),
        workflow_run_id: uuid(item, "workflow_run_id")?,
        request_id: get_s(item, "request_id")?.to_string(),
        completed: matches!(item.get("completed"), Some(AttributeValue::Bool(true))),
        expires_at: time(get_n(item, "expires_us")?)?,
    })
}

#[async_trait]
impl IdempotencyKeys for DynamoStore {
    async fn claim_idempotency_key(
        &self,
        claim: &IdempotencyClaim,
        now: DateTime<Utc>,
    ) -> Result<Claim, StoreError> {
        let mut item = key(pk(&claim.key), SK);
        item.insert("fingerprint".into(), s(&claim.fingerprint));
        item.insert(
            "workflow_run_id".into(),
            s(claim.workflow_run_id.to_string()),
        );
        item.insert("request_id".into(), s(&claim.request_id));
        item.insert("completed".into(), AttributeValue::Bool(claim.completed));
        item.insert("expires_us".into(), n(micros(claim.expires_at)));
        item.insert("expires_at".into(), n(claim.expires_at.timestamp() + 1));
        let mut e = Expr::default();
        let (expires, now_v) = (e.name("expires_us"), e.value(n(micros(now))));
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression(format!("attribute_not_exists(pk) OR {expires} <= {now_v}"))
            .set_expression_attribute_names(e.names())
            .set_expression_attribute_values(e.values())
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        let held = match result {
            Ok(_) => return Ok(Claim::Won),
            Err(err) => match err.as_service_error() {
                Some(
                    aws_sdk_dynamodb::operation::put_item::PutItemError::ConditionalCheckFailedException(
                        failed,
                    ),
                ) => failed.item().cloned(),
                _ => return Err(sdk_error(err)),
            },
        };
        let held = match held {
            Some(item) => item,
            // An endpoint that does not return the item: read it.
            None => self
                .get(pk(&claim.key), SK)
                .await?
                .ok_or_else(|| StoreError::backend("an idempotency claim was held, then gone"))?,
        };
        Ok(Claim::Held(claim_from(&claim.key, &held)?))
    }

    async fn complete_idempotency_key(
        &self,
        idem_key: &str,
        workflow_run_id: Uuid,
    ) -> Result<Write, StoreError> {
        let mut e = Expr::default();
        let condition = owned_by(&mut e, workflow_run_id);
        let set = format!("SET {}", e.eq("completed", AttributeValue::Bool(true)));
        self.update(self.conditional_update(key(pk(idem_key), SK), set, condition, &e)?)
            .await
    }

    async fn release_idempotency_key(
        &self,
        idem_key: &str,
        workflow_run_id: Uuid,
    ) -> Result<Write, StoreError> {
        let mut e = Expr::default();
        let owned = owned_by(&mut e, workflow_run_id);
        let condition = format!(
            "{owned} AND {}",
            e.eq("completed", AttributeValue::Bool(false))
        );
        conditional(
            self.client
                .delete_item()
                .table_name(&self.table)
                .set_key(Some(key(pk(idem_key), SK)))
                .condition_expression(condition)
                .set_expression_attribute_names(e.names())
                .set_expression_attribute_values(e.values())
                .send()
                .await,
        )
    }
}

/// The condition that the claim is still `workflow_run_id`'s.
fn owned_by(e: &mut Expr, workflow_run_id: Uuid) -> String {
    e.eq("workflow_run_id", s(workflow_run_id.to_string()))
}
