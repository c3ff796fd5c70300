//! The definitions role on DynamoDB: one item `DEF#<workflow key>` / `V#<version>` per version,
//! put once (a version is a content hash, so a second put writes the same item) and never
//! expired: a run may stay paused for as long as its delay says.

use async_trait::async_trait;
use herald_core::error::StoreError;
use herald_core::ports::Definitions;
use serde_json::Value;

use super::codec::*;
use super::request::key;
use super::DynamoStore;

fn def_key(workflow_key: &str, version: &str) -> Item {
    key(format!("DEF#{workflow_key}"), &format!("V#{version}"))
}

#[async_trait]
impl Definitions for DynamoStore {
    async fn put_definition(
        &self,
        workflow_key: &str,
        version: &str,
        definition: &Value,
    ) -> Result<(), StoreError> {
        let mut item = def_key(workflow_key, version);
        item.insert("body".into(), json(definition));
        self.put(item).await
    }

    async fn get_definition(
        &self,
        workflow_key: &str,
        version: &str,
    ) -> Result<Option<Value>, StoreError> {
        let k = def_key(workflow_key, version);
        let (pk, sk) = (get_s(&k, "pk")?.to_string(), get_s(&k, "sk")?.to_string());
        self.get(pk, &sk)
            .await?
            .map(|item| parse_at(&item, "body"))
            .transpose()
    }
}
