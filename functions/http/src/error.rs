//! Knock's error body: `{code, message, status, type}`, plus `errors` on a 422.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use herald_core::error::{EngineError, StoreError};
use serde_json::{json, Value};

/// An API error, rendered as Knock renders errors.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiError {
    /// HTTP status.
    pub status: u16,
    /// Knock's error code (`invalid_params`, `workflow_missing`…).
    pub code: &'static str,
    /// Knock's error type (`invalid_request_error`, `authentication_error`, `api_error`).
    pub kind: &'static str,
    /// Human-readable message (the only field the SDKs read).
    pub message: String,
    /// Field errors, on a 422.
    pub errors: Vec<(String, String)>,
    /// What went wrong inside, for the log line only: never in the response.
    pub detail: Option<String>,
    /// Seconds after which the same request may succeed (`retry-after`, `x-should-retry: true`).
    pub retry_after: Option<u32>,
}

impl ApiError {
    fn new(
        status: u16,
        code: &'static str,
        kind: &'static str,
        message: impl Into<String>,
    ) -> Self {
        Self {
            status,
            code,
            kind,
            message: message.into(),
            errors: Vec::new(),
            detail: None,
            retry_after: None,
        }
    }

    /// 401.
    pub fn unauthorized(code: &'static str, message: &str) -> Self {
        Self::new(401, code, "authentication_error", message)
    }

    /// 403: a user token on a route only a secret key may call.
    pub fn incorrect_token_type() -> Self {
        Self::new(
            403,
            "incorrect_token_type",
            "authentication_error",
            "You cannot call this endpoint with this token",
        )
    }

    /// 403: a user token on another user's resource, or without the grant it needs.
    pub fn forbidden() -> Self {
        Self::new(
            403,
            "forbidden",
            "authentication_error",
            "The user token does not grant access to this resource",
        )
    }

    /// 400: the body is not valid JSON.
    pub fn invalid_json(detail: impl std::fmt::Display) -> Self {
        Self::new(
            400,
            "invalid_json",
            "invalid_request_error",
            format!("The request body is not valid JSON: {detail}"),
        )
    }

    /// 400: the request's path is not text.
    pub fn invalid_path() -> Self {
        Self::new(
            400,
            "invalid_request",
            "invalid_request_error",
            "The request path is not valid UTF-8 once percent-decoded",
        )
    }

    /// 404.
    pub fn not_found(what: &str) -> Self {
        Self::new(
            404,
            "resource_missing",
            "invalid_request_error",
            format!("{what} was not found"),
        )
    }

    /// 413.
    pub fn too_large(limit: usize) -> Self {
        Self::new(
            413,
            "request_too_large",
            "invalid_request_error",
            format!("The request body is larger than {limit} bytes"),
        )
    }

    /// 408: the body did not arrive in time.
    pub fn body_timeout(limit: std::time::Duration) -> Self {
        Self::new(
            408,
            "request_timeout",
            "invalid_request_error",
            format!(
                "The request body did not arrive within {} s",
                limit.as_secs()
            ),
        )
    }

    /// 400: the body could not be read (a malformed chunked encoding).
    pub fn invalid_body() -> Self {
        Self::new(
            400,
            "invalid_request",
            "invalid_request_error",
            "The request body could not be read",
        )
    }

    /// 414.
    pub fn uri_too_long(limit: usize) -> Self {
        Self::new(
            414,
            "request_uri_too_long",
            "invalid_request_error",
            format!("The request's path and query are longer than {limit} bytes"),
        )
    }

    /// 431.
    pub fn headers_too_large(limit: usize) -> Self {
        Self::new(
            431,
            "request_headers_too_large",
            "invalid_request_error",
            format!("The request's headers are larger than {limit} bytes"),
        )
    }

    /// 422 with one field error.
    pub fn invalid_param(field: &str, message: &str) -> Self {
        let mut e = Self::new(
            422,
            "invalid_params",
            "invalid_request_error",
            format!("{field} {message}"),
        );
        e.errors.push((field.to_string(), message.to_string()));
        e
    }

    /// 500: the caller sees only that the request failed, and its request id in the
    /// response headers; `detail` goes to the log line under the same id.
    pub fn internal(detail: impl Into<String>) -> Self {
        let mut e = Self::new(
            500,
            "internal_error",
            "api_error",
            "Herald could not complete the request; it is logged under this response's x-request-id",
        );
        e.detail = Some(detail.into());
        e
    }

    /// What a caller sees of a server error answered under `request_id`: the status, Knock's
    /// `api_error`, and the id to quote (the detail is in the log line under it).
    pub fn internal_answer(status: u16, request_id: &str) -> Self {
        Self::new(
            status,
            "internal_error",
            "api_error",
            format!(
                "Herald could not complete the request; it is logged under request id {request_id}"
            ),
        )
    }

    /// The JSON body.
    pub fn body(&self) -> Value {
        let mut body = json!({
            "code": self.code,
            "message": self.message,
            "status": self.status,
            "type": self.kind,
        });
        if !self.errors.is_empty() {
            body["errors"] = self
                .errors
                .iter()
                .map(|(field, message)| json!({"field": field, "message": message, "type": "invalid"}))
                .collect();
        }
        body
    }
}

/// A server error's message, carried from the response to the log line of its request.
#[derive(Debug, Clone)]
pub struct Failure(pub String);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut resp = crate::response::Reply::json(status, self.body()).into_response();
        if let Some(secs) = self.retry_after {
            let headers = resp.headers_mut();
            headers.insert(axum::http::header::RETRY_AFTER, secs.into());
            headers.insert(
                "x-should-retry",
                axum::http::HeaderValue::from_static("true"),
            );
        }
        if status.is_server_error() {
            let logged = self.detail.unwrap_or(self.message);
            resp.extensions_mut().insert(Failure(logged));
        }
        resp
    }
}

impl From<EngineError> for ApiError {
    fn from(e: EngineError) -> Self {
        let message = e.to_string();
        match e {
            EngineError::WorkflowMissing(_) => {
                Self::new(404, "workflow_missing", "invalid_request_error", message)
            }
            EngineError::ActorMissing(_) => {
                Self::new(422, "actor_missing", "invalid_request_error", message)
            }
            EngineError::InvalidParams(errors) => {
                let mut api = Self::new(422, "invalid_params", "invalid_request_error", message);
                api.errors = errors.into_iter().map(|f| (f.field, f.message)).collect();
                api
            }
            EngineError::IdempotencyConflict(_) => Self::new(
                409,
                "idempotency_key_reused",
                "invalid_request_error",
                message,
            ),
            EngineError::IdempotencyInProgress(_) => {
                let mut api = Self::new(
                    409,
                    "idempotency_key_in_use",
                    "invalid_request_error",
                    message,
                );
                api.retry_after = Some(1);
                api
            }
            EngineError::Store(_) | EngineError::Wake(_) | EngineError::VersionUnavailable(_) => {
                Self::internal(message)
            }
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        Self::internal(e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_server_error_keeps_its_detail_out_of_the_body() {
        let e = ApiError::from(StoreError::backend("table herald-prod-secret: throttled"));
        assert_eq!(e.status, 500);
        assert!(!e.body().to_string().contains("herald-prod-secret"));
        assert_eq!(e.body()["code"], "internal_error");
        let resp = e.into_response();
        let Some(Failure(logged)) = resp.extensions().get::<Failure>() else {
            panic!("the detail is kept for the log line");
        };
        assert!(logged.contains("herald-prod-secret"), "{logged}");
    }
}
