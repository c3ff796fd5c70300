//! Counts the requests the AWS SDK clients really send, per operation.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::context::{
    AfterDeserializationInterceptorContextRef, BeforeTransmitInterceptorContextRef,
};
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;

/// An interceptor that counts executions per `Service.Operation`; clone it into every client.
#[derive(Debug, Clone, Default)]
pub struct RequestCounter {
    counts: Arc<Mutex<BTreeMap<String, u64>>>,
    sizes: Arc<Mutex<BTreeMap<String, Sizes>>>,
}

/// What the requests of one operation carried, for pricing them: the items a DynamoDB request
/// names by key (each a read or write unit at least) and the bytes of the answers (what a query
/// read, rounded up per answer).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Sizes {
    /// The (`pk`, `sk`) of each item written or read by key, with the bytes the request carried
    /// for it: one for `PutItem`, `UpdateItem`, `DeleteItem`, `GetItem`, one per entry in
    /// transactions and batches, none for a query.
    pub items: Vec<((String, String), u64)>,
    /// The size of each answer's body, in bytes (of every attempt).
    pub responses: Vec<u64>,
}

/// The items a DynamoDB request body names, by key.
fn items_named(operation: &str, body: &[u8]) -> Vec<((String, String), u64)> {
    use serde_json::Value;
    let Ok(body) = serde_json::from_slice::<Value>(body) else {
        return Vec::new();
    };
    // A Put names its item, the others a key.
    let item = |v: &Value| {
        let named = if v["Item"].is_object() {
            &v["Item"]
        } else {
            &v["Key"]
        };
        let part = |k: &str| named[k]["S"].as_str().unwrap_or_default().to_string();
        ((part("pk"), part("sk")), v.to_string().len() as u64)
    };
    let list = |v: &Value| v.as_array().cloned().unwrap_or_default();
    let tables = |v: &Value| {
        v.as_object()
            .map(|t| t.values().cloned().collect::<Vec<_>>())
            .unwrap_or_default()
    };
    match operation {
        "PutItem" | "UpdateItem" | "DeleteItem" | "GetItem" => vec![item(&body)],
        "TransactWriteItems" | "TransactGetItems" => list(&body["TransactItems"])
            .iter()
            .filter_map(|t| t.as_object().and_then(|o| o.values().next()).map(item))
            .collect(),
        "BatchWriteItem" => tables(&body["RequestItems"])
            .iter()
            .flat_map(list)
            .filter_map(|r| r.as_object().and_then(|o| o.values().next()).map(item))
            .collect(),
        "BatchGetItem" => tables(&body["RequestItems"])
            .iter()
            .flat_map(|t| list(&t["Keys"]))
            .map(|k| item(&serde_json::json!({ "Key": k })))
            .collect(),
        _ => Vec::new(),
    }
}

impl RequestCounter {
    /// The counts so far, by `Service.Operation`.
    pub fn snapshot(&self) -> BTreeMap<String, u64> {
        self.counts.lock().map(|c| c.clone()).unwrap_or_default()
    }

    /// What each operation's requests carried so far, by `Service.Operation`.
    pub fn sizes(&self) -> BTreeMap<String, Sizes> {
        self.sizes.lock().map(|c| c.clone()).unwrap_or_default()
    }

    /// Forgets every count.
    pub fn reset(&self) {
        if let Ok(mut c) = self.counts.lock() {
            c.clear();
        }
        if let Ok(mut c) = self.sizes.lock() {
            c.clear();
        }
    }

    /// How many requests of `operation` (such as `DynamoDB.Query`) were sent.
    pub fn count(&self, operation: &str) -> u64 {
        self.snapshot().get(operation).copied().unwrap_or(0)
    }

    /// How many requests were sent to `service` (such as `DynamoDB`).
    pub fn total(&self, service: &str) -> u64 {
        let prefix = format!("{service}.");
        self.snapshot()
            .iter()
            .filter(|(k, _)| k.starts_with(&prefix))
            .map(|(_, v)| v)
            .sum()
    }
}

impl Intercept for RequestCounter {
    fn name(&self) -> &'static str {
        "HeraldRequestCounter"
    }

    // Once per operation (retries are attempts of the same request), after the operation's
    // metadata is in the config bag.
    fn read_after_serialization(
        &self,
        context: &BeforeTransmitInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if let Some(meta) = cfg.load::<Metadata>() {
            let key = format!("{}.{}", meta.service(), meta.name());
            let items = match (meta.service(), context.request().body().bytes()) {
                ("DynamoDB", Some(body)) => items_named(meta.name(), body),
                _ => Vec::new(),
            };
            if let Ok(mut sizes) = self.sizes.lock() {
                sizes.entry(key.clone()).or_default().items.extend(items);
            }
            if let Ok(mut counts) = self.counts.lock() {
                *counts.entry(key).or_default() += 1;
            }
        }
        Ok(())
    }

    fn read_after_deserialization(
        &self,
        context: &AfterDeserializationInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let (Some(meta), Some(body)) = (cfg.load::<Metadata>(), context.response().body().bytes())
        else {
            return Ok(());
        };
        let key = format!("{}.{}", meta.service(), meta.name());
        if let Ok(mut sizes) = self.sizes.lock() {
            sizes
                .entry(key)
                .or_default()
                .responses
                .push(body.len() as u64);
        }
        Ok(())
    }
}
