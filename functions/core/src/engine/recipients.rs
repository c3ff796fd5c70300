//! The recipient directory through the engine: identify users, objects and tenants (inline
//! preferences included), delete them, manage subscriptions and record engagement.

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

use super::Engine;
use crate::error::{EngineError, FieldError};
use crate::message::{Engagement, Message};
use crate::object::{Object, TENANTS};
use crate::ports::Removal;
use crate::preference::PreferenceSet;
use crate::recipient::{RecipientRef, RecipientRequest};
use crate::subscription::{Subscription, MAX_SUBSCRIPTIONS_PER_CALL};
use crate::user::User;

/// Keys of a set-object or identify body that are never stored as properties.
const NOT_PROPERTIES: &[&str] = &["id", "collection", "__typename", "preferences"];

fn properties_of(body: &Map<String, Value>) -> Map<String, Value> {
    body.iter()
        .filter(|(k, _)| !NOT_PROPERTIES.contains(&k.as_str()))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

fn body_object(body: &Value) -> Result<&Map<String, Value>, EngineError> {
    body.as_object()
        .ok_or_else(|| EngineError::invalid("body", "must be a JSON object"))
}

fn check_key(value: &str, field: &str) -> Result<(), EngineError> {
    if value.is_empty() {
        Err(EngineError::invalid(field, "must not be empty"))
    } else {
        Ok(())
    }
}

impl Engine {
    /// Deletes an object (a tenant, in `$tenants`) with its subscriptions and preference sets.
    pub async fn delete_object(&self, collection: &str, id: &str) -> Result<Removal, EngineError> {
        Ok(self.store.delete_object(collection, id).await?)
    }

    /// Sets (`present`) or clears an engagement of a message now; `None` for no such message.
    pub async fn set_engagement(
        &self,
        id: uuid::Uuid,
        engagement: Engagement,
        present: bool,
    ) -> Result<Option<Message>, EngineError> {
        let now = self.now();
        Ok(self
            .store
            .set_engagement(id, engagement, present, now)
            .await?)
    }

    /// Identifies a user (merge), applying inline `preferences` as merges into its sets.
    pub async fn identify_user(&self, id: &str, body: &Value) -> Result<User, EngineError> {
        check_key(id, "user_id")?;
        let body = body_object(body)?;
        let owner = RecipientRef::user(id);
        let preferences = self.parse_inline_preferences(body.get("preferences"), "preferences")?;
        let user = self
            .store
            .upsert_user(id, &properties_of(body), self.now())
            .await?;
        self.merge_inline_preferences(&owner, preferences).await?;
        Ok(user)
    }

    /// Sets an object (merge), applying inline `preferences` as merges into its sets.
    pub async fn set_object(
        &self,
        collection: &str,
        id: &str,
        body: &Value,
    ) -> Result<Object, EngineError> {
        crate::object::check_collection(collection)
            .map_err(|m| EngineError::invalid("collection", m))?;
        check_key(id, "id")?;
        let body = body_object(body)?;
        let owner = RecipientRef::object(collection, id);
        let preferences = self.parse_inline_preferences(body.get("preferences"), "preferences")?;
        let object = self
            .store
            .upsert_object(collection, id, &properties_of(body), self.now())
            .await?;
        self.merge_inline_preferences(&owner, preferences).await?;
        Ok(object)
    }

    /// Sets a tenant (merge): an object of the `$tenants` collection. Its
    /// `settings.preference_set`, the tenant's default preference set, must be a valid set.
    pub async fn set_tenant(&self, id: &str, body: &Value) -> Result<Object, EngineError> {
        if let Some(set) = body
            .get("settings")
            .and_then(|s| s.get("preference_set"))
            .filter(|v| !v.is_null())
        {
            PreferenceSet::parse_request(id, set).map_err(|errors| {
                EngineError::InvalidParams(
                    errors
                        .into_iter()
                        .map(|mut e| {
                            e.field = format!("settings.preference_set.{}", e.field);
                            e
                        })
                        .collect(),
                )
            })?;
        }
        self.set_object(TENANTS, id, body).await
    }

    /// Identifies an inline recipient of a trigger or subscription (no-op for a bare reference).
    pub(super) async fn identify_inline(
        &self,
        who: &RecipientRequest,
        now: DateTime<Utc>,
    ) -> Result<(), EngineError> {
        if who.properties.is_empty() {
            return Ok(());
        }
        let preferences =
            self.parse_inline_preferences(who.properties.get("preferences"), "preferences")?;
        let properties = properties_of(&who.properties);
        match &who.reference.collection {
            None => {
                self.store
                    .upsert_user(&who.reference.id, &properties, now)
                    .await?;
            }
            Some(c) => {
                self.store
                    .upsert_object(c, &who.reference.id, &properties, now)
                    .await?;
            }
        }
        self.merge_inline_preferences(&who.reference, preferences)
            .await
    }

    /// Subscribes recipients (≤ 100, inline identification allowed) to an object, with
    /// `properties`; `POST /v1/objects/{collection}/{id}/subscriptions`.
    pub async fn subscribe(
        &self,
        object: &RecipientRef,
        body: &Value,
    ) -> Result<Vec<Subscription>, EngineError> {
        if let Some(c) = &object.collection {
            crate::object::check_collection(c)
                .map_err(|m| EngineError::invalid("collection", m))?;
        }
        let body = body_object(body)?;
        let recipients = parse_recipients(body.get("recipients"))?;
        let properties = match body.get("properties") {
            None | Some(Value::Null) => Map::new(),
            Some(Value::Object(p)) => p.clone(),
            Some(_) => return Err(EngineError::invalid("properties", "must be an object")),
        };
        let now = self.now();
        for r in &recipients {
            self.identify_inline(r, now).await?;
        }
        let refs: Vec<RecipientRef> = recipients.into_iter().map(|r| r.reference).collect();
        Ok(self
            .store
            .put_subscriptions(object, &refs, &properties, now)
            .await?)
    }

    /// Unsubscribes recipients from an object; returns the subscriptions that existed.
    pub async fn unsubscribe(
        &self,
        object: &RecipientRef,
        body: &Value,
    ) -> Result<Vec<Subscription>, EngineError> {
        let body = body_object(body)?;
        let refs: Vec<RecipientRef> = parse_recipients(body.get("recipients"))?
            .into_iter()
            .map(|r| r.reference)
            .collect();
        Ok(self.store.delete_subscriptions(object, &refs).await?)
    }
}

/// Parses a `recipients` array of a subscriptions call: 1 to 100 recipients.
fn parse_recipients(value: Option<&Value>) -> Result<Vec<RecipientRequest>, EngineError> {
    let items = match value {
        Some(Value::Array(items)) if !items.is_empty() => items,
        Some(Value::Array(_)) => {
            return Err(EngineError::invalid("recipients", "must not be empty"));
        }
        Some(_) => return Err(EngineError::invalid("recipients", "must be an array")),
        None => return Err(EngineError::invalid("recipients", "is required")),
    };
    if items.len() > MAX_SUBSCRIPTIONS_PER_CALL {
        return Err(EngineError::invalid(
            "recipients",
            format!(
                "must contain at most {MAX_SUBSCRIPTIONS_PER_CALL} recipients, got {}",
                items.len()
            ),
        ));
    }
    let mut out = Vec::with_capacity(items.len());
    let mut errors: Vec<FieldError> = Vec::new();
    for (i, item) in items.iter().enumerate() {
        match RecipientRequest::parse(item, &format!("recipients[{i}]")) {
            Ok(r) => out.push(r),
            Err(e) => errors.push(e),
        }
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(EngineError::InvalidParams(errors))
    }
}
