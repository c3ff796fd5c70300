//! Preference sets of users and objects: `GET …/preferences`, `GET|PUT|DELETE
//! …/preferences/{set_id}` under `/v1/users/{id}` and `/v1/objects/{collection}/{id}`.

use std::sync::Arc;

use axum::extract::State;
use herald_core::ports::Removal;
use serde::Deserialize;
use serde_json::Value;

use crate::error::ApiError;
use crate::extract::{JsonBody, KnockPath, Owner};
use crate::query::Query;
use crate::response::Reply;
use crate::{views, App};

/// The `{set_id}` of a preference-set route.
#[derive(Deserialize)]
pub struct SetPath {
    set_id: String,
}

pub async fn list(State(app): State<Arc<App>>, Owner(owner): Owner) -> Result<Reply, ApiError> {
    let sets = app.engine.list_preferences(&owner).await?;
    Ok(Reply::ok(Value::Array(
        sets.iter().map(views::preference_set).collect(),
    )))
}

pub async fn get(
    State(app): State<Arc<App>>,
    Owner(owner): Owner,
    KnockPath(SetPath { set_id }): KnockPath<SetPath>,
    q: Query,
) -> Result<Reply, ApiError> {
    // `?tenant=` asks for the set as resolved for a tenant; not offered yet.
    q.refuse(&["tenant"])?;
    // Knock answers an unset set with an empty one rather than a 404.
    let set = app
        .engine
        .preferences(&owner, &set_id)
        .await?
        .unwrap_or_else(|| herald_core::preference::PreferenceSet::new(&set_id));
    Ok(Reply::ok(views::preference_set(&set)))
}

pub async fn set(
    State(app): State<Arc<App>>,
    Owner(owner): Owner,
    KnockPath(SetPath { set_id }): KnockPath<SetPath>,
    JsonBody(body): JsonBody,
) -> Result<Reply, ApiError> {
    let set = app.engine.set_preferences(&owner, &set_id, &body).await?;
    Ok(Reply::ok(views::preference_set(&set)))
}

pub async fn delete(
    State(app): State<Arc<App>>,
    Owner(owner): Owner,
    KnockPath(SetPath { set_id }): KnockPath<SetPath>,
) -> Result<Reply, ApiError> {
    if app.engine.delete_preferences(&owner, &set_id).await? == Removal::Missing {
        return Err(ApiError::not_found(&format!(
            "The preference set `{set_id}`"
        )));
    }
    Ok(Reply::no_content())
}
