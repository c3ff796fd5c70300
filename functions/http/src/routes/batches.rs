//! Herald's additions for batches (Knock has no such endpoints; its FAQ says a batch cannot be
//! closed early or listed): `GET /v1/batches` lists batches, `POST /v1/batches/{id}/flush`
//! closes an open one now.

use std::sync::Arc;

use axum::extract::State;
use herald_core::batch::BatchStatus;
use herald_core::ports::BatchQuery;
use serde_json::json;

use super::uuid_param;
use crate::error::ApiError;
use crate::extract::KnockPath;
use crate::query::Query;
use crate::response::Reply;
use crate::{views, App};

/// `GET /v1/batches?status=open|closed&workflow=&recipient=`, newest first.
pub async fn list(State(app): State<Arc<App>>, q: Query) -> Result<Reply, ApiError> {
    let page = q.page()?;
    let status = match q.get("status") {
        None => None,
        Some(s) => Some(
            BatchStatus::parse(s)
                .ok_or_else(|| ApiError::invalid_param("status", "must be open or closed"))?,
        ),
    };
    let query = BatchQuery {
        status,
        workflow_key: q.get("workflow").map(str::to_string),
        recipient: q.recipient()?,
    };
    let result = app.engine.store().list_batches(&query, &page).await?;
    Ok(Reply::ok(json!({
        "entries": result.items.iter().map(views::batch).collect::<Vec<_>>(),
        "page_info": views::page_info(&result, page.page_size),
    })))
}

/// `POST /v1/batches/{id}/flush`: the batch's window closes now and its opening run continues
/// with what it holds. 404 for an unknown batch, 422 for one already closed.
pub async fn flush(
    State(app): State<Arc<App>>,
    KnockPath(id): KnockPath<String>,
) -> Result<Reply, ApiError> {
    let batch_id = uuid_param(&id, "The batch")?;
    let store = app.engine.store();
    let missing = || ApiError::not_found(&format!("The batch `{id}`"));
    let batch = store.get_batch(batch_id).await?.ok_or_else(missing)?;
    if !app.engine.flush_batch(&batch).await? {
        return Err(ApiError::invalid_param("id", "the batch is already closed"));
    }
    // Read again: the view shows the window's new end.
    let batch = store.get_batch(batch_id).await?.ok_or_else(missing)?;
    Ok(Reply::ok(views::batch(&batch)))
}
