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
    let user = app.engine.identify_user(id, body).await?;
    Ok(Reply::ok(views::user(&user)))
}
