//! DynamoDB request plumbing shared by every role: reads, paged queries, batch writes,
//! conditional writes and transactions, and how their errors are classified (through the SDK's
//! typed errors). A failed condition is [`Write::LostRace`]; a transaction that kept conflicting
//! is [`StoreError::Contention`].

use std::collections::HashMap;
use std::time::Duration;

use aws_sdk_dynamodb::error::{BuildError, DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::operation::delete_item::DeleteItemError;
use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::operation::query::builders::QueryFluentBuilder;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::{
    AttributeValue, KeysAndAttributes, Put, PutRequest, ReturnValuesOnConditionCheckFailure,
    TransactWriteItem, Update, WriteRequest,
};
use chrono::{DateTime, Utc};
use herald_core::error::StoreError;
use herald_core::ports::Write;
use uuid::Uuid;

use super::codec::{n, Item};
use super::expr::Expr;
use super::DynamoStore;

/// The attribute holding the token of the last single-item update (see [`DynamoStore::update`]).
const TOKEN_ATTR: &str = "write_token";
const TOKEN_NAME: &str = "#write_token";
const TOKEN_VALUE: &str = ":write_token";

/// DynamoDB's limit of items per BatchWriteItem.
const BATCH_LIMIT: usize = 25;
/// DynamoDB's limit of keys per BatchGetItem.
const GET_LIMIT: usize = 100;

/// A request that could not be built (a missing required field: a bug, not a runtime state).
pub fn build_error(e: BuildError) -> StoreError {
    StoreError::backend_source("request build failed", e)
}

/// A failed request, with the SDK's error kept as the source. DynamoDB's refusal of an item
/// (over 400 KB, a key too long) is [`StoreError::Rejected`]: retrying cannot help.
pub fn sdk_error<E, R>(e: SdkError<E, R>) -> StoreError
where
    E: std::error::Error + ProvideErrorMetadata + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    if e.code() == Some("ValidationException") {
        return StoreError::Rejected(e.message().unwrap_or("invalid item").to_string());
    }
    StoreError::backend_source(DisplayErrorContext(&e).to_string(), e)
}

/// The errors of single-item writes that can fail their condition.
pub trait ConditionFailure:
    std::error::Error + ProvideErrorMetadata + Send + Sync + 'static
{
    /// Whether the item's condition expression failed.
    fn is_condition_failure(&self) -> bool;
    /// Whether the item is being changed by a transaction right now.
    fn is_transaction_conflict(&self) -> bool;
}

// The three single-item writes' errors answer alike.
macro_rules! condition_failure {
    ($($error:ty),*) => {$(
        impl ConditionFailure for $error {
            fn is_condition_failure(&self) -> bool {
                self.is_conditional_check_failed_exception()
            }
            fn is_transaction_conflict(&self) -> bool {
                self.is_transaction_conflict_exception()
            }
        }
    )*};
}

condition_failure!(PutItemError, UpdateItemError, DeleteItemError);

/// A conditional single-item write's answer: `Some(output)` if applied, `None` if its
/// condition failed; [`StoreError::Contention`] if a transaction holds the item.
pub fn checked<T, E, R>(result: Result<T, SdkError<E, R>>) -> Result<Option<T>, StoreError>
where
    E: ConditionFailure,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    match result {
        Ok(out) => Ok(Some(out)),
        Err(err) if err.as_service_error().is_some_and(E::is_condition_failure) => Ok(None),
        Err(err)
            if err
                .as_service_error()
                .is_some_and(E::is_transaction_conflict) =>
        {
            Err(StoreError::Contention(
                DisplayErrorContext(&err).to_string(),
            ))
        }
        Err(err) => Err(sdk_error(err)),
    }
}

/// A conditional single-item write's outcome.
pub fn conditional<T, E, R>(result: Result<T, SdkError<E, R>>) -> Result<Write, StoreError>
where
    E: ConditionFailure,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    Ok(Write::from_applied(checked(result)?.is_some()))
}

/// The `pk`/`sk` key of an item.
pub fn key(pk: String, sk: &str) -> Item {
    HashMap::from([
        ("pk".to_string(), AttributeValue::S(pk)),
        ("sk".to_string(), AttributeValue::S(sk.to_string())),
    ])
}

impl DynamoStore {
    /// The TTL of an item finished at `at`.
    pub(super) fn expiry(&self, at: DateTime<Utc>) -> AttributeValue {
        n((at + self.retention).timestamp())
    }

    /// Puts `item` whole, unconditionally (items written once whose content their key names).
    pub(super) async fn put(&self, item: Item) -> Result<(), StoreError> {
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .send()
            .await
            .map_err(sdk_error)?;
        Ok(())
    }

    /// An item by key, read strongly consistent.
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

    /// A query of this table, placeholders set from `e`.
    pub(super) fn query(&self, key_cond: &str, e: &Expr) -> QueryFluentBuilder {
        self.client
            .query()
            .table_name(&self.table)
            .key_condition_expression(key_cond)
            .set_expression_attribute_names(e.names())
            .set_expression_attribute_values(e.values())
    }

    /// Every item of one partition matching `key_cond` and `filter`, read strongly consistent
    /// through every page.
    pub(super) async fn query_all(
        &self,
        key_cond: &str,
        filter: Option<String>,
        e: &Expr,
    ) -> Result<Vec<Item>, StoreError> {
        self.query(key_cond, e)
            .set_filter_expression(filter)
            .consistent_read(true)
            .into_paginator()
            .items()
            .send()
            .collect::<Result<Vec<_>, _>>()
            .await
            .map_err(sdk_error)
    }

    /// The items with these keys that exist, read strongly consistent, 100 keys per
    /// `BatchGetItem`, unprocessed keys retried with backoff. `projection` (with its
    /// placeholders) limits the attributes read.
    pub(super) async fn batch_get(
        &self,
        mut keys: Vec<Item>,
        projection: Option<(&str, &Expr)>,
    ) -> Result<Vec<Item>, StoreError> {
        // A request naming one key twice is refused.
        let mut seen = std::collections::HashSet::new();
        keys.retain(|k| seen.insert(format!("{:?}|{:?}", k.get("pk"), k.get("sk"))));
        let mut found = Vec::with_capacity(keys.len());
        for chunk in keys.chunks(GET_LIMIT) {
            let mut request = KeysAndAttributes::builder()
                .set_keys(Some(chunk.to_vec()))
                .consistent_read(true);
            if let Some((p, e)) = projection {
                request = request
                    .projection_expression(p)
                    .set_expression_attribute_names(e.names());
            }
            let mut pending = Some(request.build().map_err(build_error)?);
            let mut attempt = 0u32;
            while let Some(request) = pending.take() {
                if attempt > 10 {
                    return Err(StoreError::Contention(
                        "BatchGetItem kept returning unprocessed keys".into(),
                    ));
                }
                if attempt > 0 {
                    tokio::time::sleep(Duration::from_millis(25 << attempt.min(6))).await;
                }
                let out = self
                    .client
                    .batch_get_item()
                    .request_items(&self.table, request)
                    .send()
                    .await
                    .map_err(sdk_error)?;
                if let Some(items) = out.responses().and_then(|r| r.get(&self.table)) {
                    found.extend(items.iter().cloned());
                }
                pending = out
                    .unprocessed_keys()
                    .and_then(|u| u.get(&self.table))
                    .filter(|k| !k.keys().is_empty())
                    .cloned();
                attempt += 1;
            }
        }
        Ok(found)
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
                    return Err(StoreError::Contention(
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

    /// Runs a transaction: [`Write::LostRace`] when a condition failed (another writer got
    /// there first). A conflict with a concurrent transaction, where nobody may have won, is
    /// retried, and reported as [`StoreError::Contention`] if it persists.
    pub(super) async fn transact(
        &self,
        items: Vec<TransactWriteItem>,
    ) -> Result<Write, StoreError> {
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
            let Err(err) = result else {
                return Ok(Write::Applied);
            };
            let reasons: Vec<String> = match err.as_service_error() {
                Some(TransactWriteItemsError::TransactionCanceledException(c)) => c
                    .cancellation_reasons()
                    .iter()
                    .filter_map(|r| r.code().map(str::to_string))
                    .collect(),
                _ => return Err(sdk_error(err)),
            };
            tracing::debug!(?reasons, "transaction cancelled");
            if reasons.iter().any(|r| r == "ConditionalCheckFailed") {
                return Ok(Write::LostRace);
            }
            if reasons.iter().any(|r| r == "ValidationError") {
                return Err(StoreError::Rejected(
                    "DynamoDB refused an item of the transaction (over 400 KB?)".into(),
                ));
            }
            if !reasons.iter().any(|r| r == "TransactionConflict") {
                return Err(sdk_error(err));
            }
            if attempt >= 8 {
                return Err(StoreError::Contention(format!(
                    "transaction kept conflicting: {}",
                    DisplayErrorContext(&err)
                )));
            }
            attempt += 1;
            tokio::time::sleep(Duration::from_millis(10 << attempt.min(5))).await;
        }
    }

    /// An `Update` of the item at `key`: `expression` applied if `condition` holds, with the
    /// placeholders of `e`; sent alone with [`Self::update`] or as a transaction item.
    pub(super) fn conditional_update(
        &self,
        key: Item,
        expression: String,
        condition: String,
        e: &Expr,
    ) -> Result<Update, StoreError> {
        Update::builder()
            .table_name(&self.table)
            .set_key(Some(key))
            .update_expression(expression)
            .condition_expression(condition)
            .set_expression_attribute_names(e.names())
            .set_expression_attribute_values(e.values())
            .build()
            .map_err(build_error)
    }

    /// Sends an `Update` (as built for a transaction) as one `UpdateItem`, stamped with a
    /// fresh write token. The SDK retries a request whose answer was lost; if the first try had
    /// committed, the retry fails its own condition, and the item, returned with the failure,
    /// carries this write's token: the write is recognised as applied, not as a lost race.
    pub(super) async fn update(&self, u: Update) -> Result<Write, StoreError> {
        let token = Uuid::new_v4().to_string();
        let mut names = u.expression_attribute_names().cloned().unwrap_or_default();
        let mut values = u.expression_attribute_values().cloned().unwrap_or_default();
        names.insert(TOKEN_NAME.into(), TOKEN_ATTR.into());
        values.insert(TOKEN_VALUE.into(), AttributeValue::S(token.clone()));
        let stamp = format!("{TOKEN_NAME} = {TOKEN_VALUE}");
        let expression = match u.update_expression().strip_prefix("SET ") {
            Some(rest) => format!("SET {stamp}, {rest}"),
            None => format!("SET {stamp} {}", u.update_expression()),
        };
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(u.key().clone()))
            .update_expression(expression)
            .set_condition_expression(u.condition_expression().map(str::to_string))
            .set_expression_attribute_names(Some(names))
            .set_expression_attribute_values(Some(values))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        match result {
            Err(err) => match err.as_service_error() {
                Some(UpdateItemError::ConditionalCheckFailedException(failed))
                    if failed.item().and_then(|i| i.get(TOKEN_ATTR))
                        == Some(&AttributeValue::S(token)) =>
                {
                    Ok(Write::Applied)
                }
                _ => conditional::<(), _, _>(Err(err)),
            },
            Ok(_) => Ok(Write::Applied),
        }
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
}
