//! `/v1/objects/{collection}` and `/v1/objects/{collection}/{id}`: set, get, delete, list.

use herald_core::object::TENANTS;
use serde_json::{json, Value};

use crate::error::ApiError;
use crate::query::Query;
use crate::response::Reply;
use crate::{views, App};

/// Knock reserves `$`-prefixed collections (tenants live in `$tenants`) for its own routes.
fn check_collection(collection: &str) -> Result<(), ApiError> {
    if collection.starts_with('$') {
        return Err(ApiError::invalid_param(
            "collection",
            "collections starting with `$` are reserved",
        ));
    }
    Ok(())
}

pub async fn set(app: &App, collection: &str, id: &str, body: &Value) -> Result<Reply, ApiError> {
    check_collection(collection)?;
    let object = app.engine.set_object(collection, id, body).await?;
    Ok(Reply::ok(views::object(&object)))
}

pub async fn get(app: &App, collection: &str, id: &str) -> Result<Reply, ApiError> {
    let object = app
        .engine
        .store()
        .get_object(collection, id)
        .await?
        .filter(|o| o.collection != TENANTS)
        .ok_or_else(|| ApiError::not_found(&format!("The object `{collection}/{id}`")))?;
    Ok(Reply::ok(views::object(&object)))
}

pub async fn delete(app: &App, collection: &str, id: &str) -> Result<Reply, ApiError> {
    check_collection(collection)?;
    if !app.engine.store().delete_object(collection, id).await? {
        return Err(ApiError::not_found(&format!(
            "The object `{collection}/{id}`"
        )));
    }
    Ok(Reply::no_content())
}

pub async fn list(app: &App, collection: &str, q: &Query) -> Result<Reply, ApiError> {
    check_collection(collection)?;
    q.refuse(&["include"])?;
    let page = q.page()?;
    let result = app.engine.store().list_objects(collection, &page).await?;
    Ok(Reply::ok(json!({
        "entries": result.items.iter().map(views::object).collect::<Vec<_>>(),
        "page_info": views::page_info(&result, page.page_size),
    })))
}
