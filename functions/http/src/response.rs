//! Building responses without panicking.

use lambda_http::http::{HeaderValue, StatusCode};
use lambda_http::{Body, Response};
use serde_json::Value;

/// A response before the common headers are added.
pub struct Reply {
    status: StatusCode,
    body: Option<Value>,
}

impl Reply {
    /// A JSON response.
    pub fn json(status: StatusCode, body: Value) -> Self {
        Self {
            status,
            body: Some(body),
        }
    }

    /// 200 with a JSON body.
    pub fn ok(body: Value) -> Self {
        Self::json(StatusCode::OK, body)
    }

    /// 204 with no body.
    pub fn no_content() -> Self {
        Self {
            status: StatusCode::NO_CONTENT,
            body: None,
        }
    }
}

/// Renders `reply`, adding `content-type` and `x-request-id`.
pub fn finish(reply: Reply, request_id: &str) -> Response<Body> {
    let body = match &reply.body {
        Some(v) => Body::Text(v.to_string()),
        None => Body::Empty,
    };
    let mut resp = Response::new(body);
    *resp.status_mut() = reply.status;
    let headers = resp.headers_mut();
    if reply.body.is_some() {
        headers.insert(
            "content-type",
            HeaderValue::from_static("application/json; charset=utf-8"),
        );
    }
    if let Ok(id) = HeaderValue::from_str(request_id) {
        headers.insert("x-request-id", id);
    }
    if reply.status.is_client_error() {
        // Knock's SDKs retry 408/409/429 unless told otherwise; a bad request stays bad.
        let retry = matches!(reply.status.as_u16(), 408 | 429);
        headers.insert(
            "x-should-retry",
            HeaderValue::from_static(if retry { "true" } else { "false" }),
        );
    }
    resp
}
