//! `POST /v1/workflows/{key}/trigger` and `/cancel`.

use std::sync::Arc;

use axum::extract::State;
use axum::http::HeaderMap;
use axum::Extension;
use herald_core::engine::{CancelRequest, Idempotent, TriggerRequest, Triggered};
use herald_core::idempotency;
use serde_json::json;

use crate::error::ApiError;
use crate::extract::{JsonBody, KnockPath, Valid};
use crate::middleware::RequestId;
use crate::response::Reply;
use crate::App;

/// Knock's header; honoured on trigger only, accepted and ignored everywhere else.
const IDEMPOTENCY_KEY: &str = "idempotency-key";

pub async fn trigger(
    State(app): State<Arc<App>>,
    KnockPath(key): KnockPath<String>,
    Extension(RequestId(request_id)): Extension<RequestId>,
    headers: HeaderMap,
    JsonBody(body): JsonBody,
) -> Result<Reply, ApiError> {
    let idempotency_key = match headers.get(IDEMPOTENCY_KEY) {
        None => None,
        Some(value) => {
            let value = value.to_str().map_err(|_| {
                ApiError::invalid_param("Idempotency-Key", "must be visible ASCII characters")
            })?;
            idempotency::check_key(value)
                .map_err(|why| ApiError::invalid_param("Idempotency-Key", &why))?;
            Some(value.to_string())
        }
    };
    let triggered = match idempotency_key {
        None => Triggered {
            workflow_run_id: app
                .engine
                .trigger(&key, TriggerRequest::from_body(body)?)
                .await?,
            replay_of: None,
        },
        Some(idempotency_key) => {
            let idem = Idempotent {
                fingerprint: idempotency::fingerprint(&key, &body),
                key: idempotency_key,
                request_id,
            };
            let request = TriggerRequest::from_body(body)?;
            app.engine.trigger_idempotent(&key, request, idem).await?
        }
    };
    let reply = Reply::ok(json!({"workflow_run_id": triggered.workflow_run_id.to_string()}));
    Ok(match triggered.replay_of {
        Some(original) => reply
            .with_header("idempotent-replayed", "true")
            .with_header("original-x-request-id", &original),
        None => reply,
    })
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
