//! `GET` and `PUT /v1/users/{id}`.

use std::sync::Arc;

use axum::extract::State;

use crate::auth::{Caller, Permission};
use crate::error::ApiError;
use crate::extract::{JsonBody, KnockPath};
use crate::response::Reply;
use crate::{views, App};

pub async fn get(
    State(app): State<Arc<App>>,
    KnockPath(id): KnockPath<String>,
) -> Result<Reply, ApiError> {
    let user = app
        .engine
        .store()
        .get_user(&id)
        .await?
        .ok_or_else(|| ApiError::not_found(&format!("The user `{id}`")))?;
    Ok(Reply::ok(views::user(&user)))
}

pub async fn identify(
    State(app): State<Arc<App>>,
    caller: Caller,
    KnockPath(id): KnockPath<String>,
    JsonBody(body): JsonBody,
) -> Result<Reply, ApiError> {
    // Inline preferences are preference writes, whichever route carries them.
    if let Caller::User(claims) = &caller {
        if body.get("preferences").is_some() && !claims.allows(Permission::PreferencesWrite) {
            return Err(ApiError::forbidden());
        }
    }
    let user = app.engine.identify_user(&id, &body).await?;
    Ok(Reply::ok(views::user(&user)))
}
