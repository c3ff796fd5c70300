//! `/v1/objects/{collection}` and `/v1/objects/{collection}/{id}`: set, get, delete, list.

use std::sync::Arc;

use axum::extract::State;
use herald_core::object::TENANTS;
use herald_core::ports::Removal;
use serde_json::json;

use crate::error::ApiError;
use crate::extract::{JsonBody, KnockPath};
use crate::query::Query;
use crate::response::Reply;
use crate::{views, App};

/// Knock reserves `$`-prefixed collections (tenants live in `$tenants`) for its own routes.
fn check_collection(collection: &str) -> Result<(), ApiError> {
    crate::extract::check_collection(collection, true)
}

pub async fn set(
    State(app): State<Arc<App>>,
    KnockPath((collection, id)): KnockPath<(String, String)>,
    JsonBody(body): JsonBody,
) -> Result<Reply, ApiError> {
    check_collection(&collection)?;
    let object = app.engine.set_object(&collection, &id, &body).await?;
    Ok(Reply::ok(views::object(&object)))
}

pub async fn get(
    State(app): State<Arc<App>>,
    KnockPath((collection, id)): KnockPath<(String, String)>,
) -> Result<Reply, ApiError> {
    crate::extract::check_collection(&collection, false)?;
    let object = app
        .engine
        .store()
        .get_object(&collection, &id)
        .await?
        .filter(|o| o.collection != TENANTS)
        .ok_or_else(|| ApiError::not_found(&format!("The object `{collection}/{id}`")))?;
    Ok(Reply::ok(views::object(&object)))
}

pub async fn delete(
    State(app): State<Arc<App>>,
    KnockPath((collection, id)): KnockPath<(String, String)>,
) -> Result<Reply, ApiError> {
    check_collection(&collection)?;
    if app.engine.delete_object(&collection, &id).await? == Removal::Missing {
        return Err(ApiError::not_found(&format!(
            "The object `{collection}/{id}`"
        )));
    }
    Ok(Reply::no_content())
}

pub async fn list(
    State(app): State<Arc<App>>,
    KnockPath(collection): KnockPath<String>,
    q: Query,
) -> Result<Reply, ApiError> {
    check_collection(&collection)?;
    q.refuse(&["include"])?;
    let page = q.page()?;
    let result = app.engine.store().list_objects(&collection, &page).await?;
    Ok(Reply::ok(json!({
        "entries": result.items.iter().map(views::object).collect::<Vec<_>>(),
        "page_info": views::page_info(&result, page.page_size),
    })))
}
