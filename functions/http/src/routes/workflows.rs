//! `POST /v1/workflows/{key}/trigger` and `/cancel`.

use std::sync::Arc;

use axum::extract::State;
use herald_core::engine::{CancelRequest, TriggerRequest};
use serde_json::json;

use crate::error::ApiError;
use crate::extract::{KnockPath, Valid};
use crate::response::Reply;
use crate::App;

pub async fn trigger(
    State(app): State<Arc<App>>,
    KnockPath(key): KnockPath<String>,
    Valid(request): Valid<TriggerRequest>,
) -> Result<Reply, ApiError> {
    let workflow_run_id = app.engine.trigger(&key, request).await?;
    Ok(Reply::ok(
        json!({"workflow_run_id": workflow_run_id.to_string()}),
    ))
}

pub async fn cancel(
    State(app): State<Arc<App>>,
    KnockPath(key): KnockPath<String>,
    Valid(request): Valid<CancelRequest>,
) -> Result<Reply, ApiError> {
    let cancelled = app.engine.cancel(&key, request).await?;
    tracing::info!(workflow = key, cancelled, "cancel applied");
    Ok(Reply::no_content())
}
