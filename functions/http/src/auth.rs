//! `Authorization: Bearer <secret key>`.

use axum::http::HeaderMap;

use crate::error::ApiError;

/// Checks the request's bearer token against `api_key`.
pub fn check(headers: &HeaderMap, api_key: &str) -> Result<(), ApiError> {
    let header = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    // The scheme is case-insensitive (RFC 9110 §11.1).
    let token = header
        .split_once(' ')
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token.trim())
        .unwrap_or_default();
    if token.is_empty() {
        return Err(ApiError::unauthorized(
            "api_key_missing",
            "API key not set. Send `Authorization: Bearer <secret key>`.",
        ));
    }
    if !constant_time_eq(token.as_bytes(), api_key.as_bytes()) {
        return Err(ApiError::unauthorized(
            "authentication_required",
            "The API key is not valid.",
        ));
    }
    Ok(())
}

// Compares without an early exit, so response time does not reveal how much of a key matched.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}
