//! Preference sets of users and objects: `GET …/preferences`, `GET|PUT|DELETE
//! …/preferences/{set_id}` under `/v1/users/{id}` and `/v1/objects/{collection}/{id}`.

use herald_core::recipient::RecipientRef;
use serde_json::Value;

use crate::error::ApiError;
use crate::query::Query;
use crate::response::Reply;
use crate::{views, App};

pub async fn list(app: &App, owner: &RecipientRef) -> Result<Reply, ApiError> {
    let sets = app.engine.list_preferences(owner).await?;
    Ok(Reply::ok(Value::Array(
        sets.iter().map(views::preference_set).collect(),
    )))
}

pub async fn get(
    app: &App,
    owner: &RecipientRef,
    set_id: &str,
    q: &Query,
) -> Result<Reply, ApiError> {
    // `?tenant=` asks for the set as resolved for a tenant; not offered yet.
    q.refuse(&["tenant"])?;
    // Knock answers an unset set with an empty one rather than a 404.
    let set = app
        .engine
        .preferences(owner, set_id)
        .await?
        .unwrap_or_else(|| herald_core::preference::PreferenceSet::new(set_id));
    Ok(Reply::ok(views::preference_set(&set)))
}

pub async fn set(
    app: &App,
    owner: &RecipientRef,
    set_id: &str,
    body: &Value,
) -> Result<Reply, ApiError> {
    let set = app.engine.set_preferences(owner, set_id, body).await?;
    Ok(Reply::ok(views::preference_set(&set)))
}

pub async fn delete(app: &App, owner: &RecipientRef, set_id: &str) -> Result<Reply, ApiError> {
    if !app
        .engine
        .store()
        .delete_preference_set(owner, set_id)
        .await?
    {
        return Err(ApiError::not_found(&format!(
            "The preference set `{set_id}`"
        )));
    }
    Ok(Reply::no_content())
}
