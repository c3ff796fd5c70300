//! `GET` and `PUT /v1/users/{id}`.

use serde_json::Value;

use crate::error::ApiError;
use crate::response::Reply;
use crate::{views, App};

pub async fn get(app: &App, id: &str) -> Result<Reply, ApiError> {
    let user = app
        .engine
        .store()
        .get_user(id)
        .await?
        .ok_or_else(|| ApiError::not_found(&format!("The user `{id}`")))?;
    Ok(Reply::ok(views::user(&user)))
}

pub async fn identify(app: &App, id: &str, body: &Value) -> Result<Reply, ApiError> {
    let properties = body
        .as_object()
        .ok_or_else(|| ApiError::invalid_param("body", "must be a JSON object"))?;
    if id.is_empty() {
        return Err(ApiError::invalid_param("user_id", "must not be empty"));
    }
    let now = app.engine.now();
    let user = app.engine.store().upsert_user(id, properties, now).await?;
    Ok(Reply::ok(views::user(&user)))
}
