//! `/v1/tenants` and `/v1/tenants/{id}`: set, get, delete, list. Tenants are objects of the
//! `$tenants` collection.

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

pub async fn set(
    State(app): State<Arc<App>>,
    KnockPath(id): KnockPath<String>,
    q: Query,
    JsonBody(body): JsonBody,
) -> Result<Reply, ApiError> {
    q.refuse(&["resolve_full_preference_settings"])?;
    let tenant = app.engine.set_tenant(&id, &body).await?;
    Ok(Reply::ok(views::tenant(&tenant)))
}

pub async fn get(
    State(app): State<Arc<App>>,
    KnockPath(id): KnockPath<String>,
    q: Query,
) -> Result<Reply, ApiError> {
    q.refuse(&["resolve_full_preference_settings"])?;
    let tenant = app
        .engine
        .store()
        .get_object(TENANTS, &id)
        .await?
        .ok_or_else(|| ApiError::not_found(&format!("The tenant `{id}`")))?;
    Ok(Reply::ok(views::tenant(&tenant)))
}

pub async fn delete(
    State(app): State<Arc<App>>,
    KnockPath(id): KnockPath<String>,
) -> Result<Reply, ApiError> {
    if app.engine.delete_object(TENANTS, &id).await? == Removal::Missing {
        return Err(ApiError::not_found(&format!("The tenant `{id}`")));
    }
    Ok(Reply::no_content())
}

pub async fn list(State(app): State<Arc<App>>, q: Query) -> Result<Reply, ApiError> {
    // Filtering by name would need a scan; refuse it rather than return a wrong page.
    q.refuse(&["name"])?;
    let page = q.page()?;
    if let Some(id) = q.get("tenant_id") {
        herald_core::limits::check_name(id)
            .map_err(|why| ApiError::invalid_param("tenant_id", &why))?;
        let found = app.engine.store().get_object(TENANTS, id).await?;
        return Ok(Reply::ok(json!({
            "entries": found.iter().map(views::tenant).collect::<Vec<_>>(),
            "page_info": {"__typename": "PageInfo", "page_size": page.page_size, "after": null, "before": null},
        })));
    }
    let result = app.engine.store().list_objects(TENANTS, &page).await?;
    Ok(Reply::ok(json!({
        "entries": result.items.iter().map(views::tenant).collect::<Vec<_>>(),
        "page_info": views::page_info(&result, page.page_size),
    })))
}
