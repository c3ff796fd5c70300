//! What every response goes through: authentication first, then the common headers and the log
//! line of a failed request.

use std::sync::Arc;

use axum::extract::{MatchedPath, RawPathParams, Request, State};
use axum::http::HeaderValue;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::RequestExt;

use crate::auth::Caller;
use crate::error::Failure;
use crate::App;

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
