//! `GET /v1/workflow_recipient_runs` and `GET /v1/workflow_recipient_runs/{id}`.

use std::sync::Arc;

use axum::extract::State;
use herald_core::ports::RunQuery;
use herald_core::run::RunStatus;
use serde_json::json;

use super::uuid_param;
use crate::error::ApiError;
use crate::extract::KnockPath;
use crate::query::Query;
use crate::response::Reply;
use crate::{views, App};

const UNSUPPORTED: &[&str] = &["starting_at", "ending_at"];

pub async fn list(State(app): State<Arc<App>>, q: Query) -> Result<Reply, ApiError> {
    q.refuse(UNSUPPORTED)?;
    let page = q.page()?;
    let mut query = RunQuery {
        workflow_key: q.get("workflow").map(str::to_string),
        tenant: q.get("tenant").map(str::to_string),
        ..Default::default()
    };
    for s in q.list("status") {
        query.statuses.push(RunStatus::parse(s).ok_or_else(|| {
            ApiError::invalid_param(
                "status",
                "must be queued, processing, paused, completed or cancelled",
            )
        })?);
    }
    query.recipient = q.recipient()?;
    query.has_errors = match q.get("has_errors") {
        None => None,
        Some("true") => Some(true),
        Some("false") => Some(false),
        Some(_) => {
            return Err(ApiError::invalid_param(
                "has_errors",
                "must be true or false",
            ))
        }
    };
    if let Some(id) = q.get("workflow_run_id") {
        query.workflow_run_id = Some(uuid_param(id, "The workflow run")?);
    }
    let result = app
        .engine
        .store()
        .list_recipient_runs(&query, &page)
        .await?;
    Ok(Reply::ok(json!({
        "items": result.items.iter().map(views::recipient_run).collect::<Vec<_>>(),
        "page_info": views::page_info(&result, page.page_size),
    })))
}

pub async fn get(
    State(app): State<Arc<App>>,
    KnockPath(id): KnockPath<String>,
) -> Result<Reply, ApiError> {
    let run_id = uuid_param(&id, "The workflow recipient run")?;
    let store = app.engine.store();
    let run = store
        .get_recipient_run(run_id)
        .await?
        .ok_or_else(|| ApiError::not_found(&format!("The workflow recipient run `{id}`")))?;
    let events = store.recipient_run_events(run_id).await?;
    Ok(Reply::ok(views::recipient_run_detail(&run, &events)))
}
