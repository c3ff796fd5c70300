//! What every request and response goes through: the head's size, authentication, the body read
//! within its limits, then the common headers and the log line of a failed request.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{MatchedPath, RawPathParams, Request, State};
use axum::http::HeaderValue;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::RequestExt;

use crate::auth::Caller;
use crate::error::{ApiError, Failure};
use crate::{App, MAX_BODY_BYTES};

/// Refuses a request without a key, or a user token on what is not its user's, before any
/// route runs and before its body is read; records the [`Caller`] for the routes.
pub async fn authenticate(State(app): State<Arc<App>>, mut req: Request, next: Next) -> Response {
    let template = req.extensions().get::<MatchedPath>().cloned();
    let params = req.extract_parts::<RawPathParams>().await.ok();
    let params: Vec<(&str, &str)> = params.iter().flat_map(|p| p.iter()).collect();
    let caller = app.keys.caller(
        req.headers(),
        req.method(),
        template.as_ref().map(MatchedPath::as_str),
        &params,
    );
    drop(params);
    match caller {
        Ok(caller) => {
            req.extensions_mut().insert::<Caller>(caller);
            next.run(req).await
        }
        Err(e) => e.into_response(),
    }
}

/// Longest path and query answered; beyond, `414`.
pub const MAX_URI_BYTES: usize = 8 * 1024;

/// Most header bytes (names and values) answered; beyond, `431`.
pub const MAX_HEADER_BYTES: usize = 32 * 1024;

/// Refuses an oversized request head in Knock's JSON, before the key is even checked.
pub async fn check_head(req: Request, next: Next) -> Response {
    let uri = req.uri().path_and_query().map_or(0, |p| p.as_str().len());
    if uri > MAX_URI_BYTES {
        return ApiError::uri_too_long(MAX_URI_BYTES).into_response();
    }
    let headers: usize = req
        .headers()
        .iter()
        .map(|(name, value)| name.as_str().len() + value.len())
        .sum();
    if headers > MAX_HEADER_BYTES {
        return ApiError::headers_too_large(MAX_HEADER_BYTES).into_response();
    }
    next.run(req).await
}

/// Reads an authenticated request's body whole, within the body timeout and the size limit:
/// a client sending slowly holds its connection for that long at most.
pub async fn read_body(State(app): State<Arc<App>>, req: Request, next: Next) -> Response {
    let declared = req
        .headers()
        .get(axum::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > MAX_BODY_BYTES as u64) {
        return ApiError::too_large(MAX_BODY_BYTES).into_response();
    }
    let (parts, body) = req.into_parts();
    let read =
        tokio::time::timeout(app.body_timeout, axum::body::to_bytes(body, MAX_BODY_BYTES)).await;
    match read {
        Err(_) => ApiError::body_timeout(app.body_timeout).into_response(),
        Ok(Err(e)) if is_length_limit(&e) => ApiError::too_large(MAX_BODY_BYTES).into_response(),
        // A malformed chunked body, or a client that went away (nobody reads this answer).
        Ok(Err(_)) => ApiError::invalid_body().into_response(),
        Ok(Ok(bytes)) => {
            next.run(Request::from_parts(parts, Body::from(bytes)))
                .await
        }
    }
}

/// Whether reading a body failed on the size limit.
fn is_length_limit(e: &axum::Error) -> bool {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(e) = source {
        if e.is::<http_body_util::LengthLimitError>() {
            return true;
        }
        source = e.source();
    }
    false
}

/// The id of the request being answered (its `x-request-id`), for the routes that record it.
#[derive(Debug, Clone)]
pub struct RequestId(pub String);

/// Adds `x-request-id` (and Knock's `x-should-retry` on client errors), and logs a server
/// error under the same request id.
pub async fn finish(mut req: Request, next: Next) -> Response {
    let request_id = uuid::Uuid::new_v4().to_string();
    req.extensions_mut().insert(RequestId(request_id.clone()));
    let mut resp = next.run(req).await;
    if let Some(Failure(message)) = resp.extensions_mut().remove::<Failure>() {
        tracing::error!(request_id, error = %message, "request failed");
        // The caller gets the id to quote, and nothing of what went wrong.
        let status = resp.status();
        let headers = std::mem::take(resp.headers_mut());
        resp = ApiError::internal_answer(status.as_u16(), &request_id).into_response();
        for (name, value) in headers
            .iter()
            .filter(|(n, _)| *n != "content-length" && *n != "content-type")
        {
            resp.headers_mut().append(name, value.clone());
        }
    }
    let status = resp.status();
    let headers = resp.headers_mut();
    if let Ok(id) = HeaderValue::from_str(&request_id) {
        headers.insert("x-request-id", id);
    }
    if status.is_client_error() && !headers.contains_key("x-should-retry") {
        // Knock's SDKs retry 408/409/429 unless told otherwise; a bad request stays bad.
        let retry = matches!(status.as_u16(), 408 | 429);
        headers.insert(
            "x-should-retry",
            HeaderValue::from_static(if retry { "true" } else { "false" }),
        );
    }
    resp
}
