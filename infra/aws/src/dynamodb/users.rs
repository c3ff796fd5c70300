//! The users role on DynamoDB: one item per user, each property its own `p.<name>` attribute
//! so identify merges with one `UpdateItem` and never reads first.

use async_trait::async_trait;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue};
use chrono::{DateTime, Utc};
use herald_core::error::StoreError;
use herald_core::ports::Users;
use herald_core::user::{merge_properties, User};
use serde_json::{Map, Value};

use super::codec::*;
use super::expr::Expr;
use super::request::{key, sdk_error};
use super::DynamoStore;

impl DynamoStore {
    /// Creates or merges a property bag item (a user, an object) with one `UpdateItem`: each
    /// given property is its own `p.<name>` attribute, so nothing is read first. `fields` are
    /// set as they are; returns the item as it is now.
    pub(super) async fn upsert_properties(
        &self,
        key: Item,
        properties: &Map<String, Value>,
        at: DateTime<Utc>,
        fields: &[(&str, AttributeValue)],
    ) -> Result<Item, StoreError> {
        let mut given = Map::new();
        merge_properties(&mut given, properties);
        let mut e = Expr::default();
        let mut sets = Vec::new();
        for (k, v) in &given {
            let (name, value) = (e.name(&format!("{PROP}{k}")), e.value(s(v.to_string())));
            sets.push(format!("{name} = {value}"));
        }
        let created = e.name("created_at");
        let now = e.value(n(micros(at)));
        sets.push(format!("{created} = if_not_exists({created}, {now})"));
        sets.push(format!("{} = {now}", e.name("updated_at")));
        for (name, value) in fields {
            sets.push(e.eq(name, value.clone()));
        }
        let out = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key))
            .update_expression(format!("SET {}", sets.join(", ")))
            .set_expression_attribute_names(e.names())
            .set_expression_attribute_values(e.values())
            .return_values(ReturnValue::AllNew)
            .send()
            .await
            .map_err(sdk_error)?;
        out.attributes()
            .cloned()
            .ok_or_else(|| StoreError::backend("UpdateItem returned no item"))
    }
}

#[async_trait]
impl Users for DynamoStore {
    async fn upsert_user(
        &self,
        id: &str,
        properties: &Map<String, Value>,
        at: DateTime<Utc>,
    ) -> Result<User, StoreError> {
        let item = self
            .upsert_properties(
                key(format!("USER#{id}"), "USER"),
                properties,
                at,
                &[("id", s(id)), ("type", s("user"))],
            )
            .await?;
        user_from(&item)
    }

    async fn get_user(&self, id: &str) -> Result<Option<User>, StoreError> {
        self.get(format!("USER#{id}"), "USER")
            .await?
            .as_ref()
            .map(user_from)
            .transpose()
    }

    async fn get_users(&self, ids: &[String]) -> Result<Vec<User>, StoreError> {
        let keys = ids
            .iter()
            .map(|id| key(format!("USER#{id}"), "USER"))
            .collect();
        self.batch_get(keys, None)
            .await?
            .iter()
            .map(user_from)
            .collect()
    }
}
