//! `Authorization: Bearer <secret key>`.

use axum::http::HeaderMap;
use subtle::{Choice, ConstantTimeEq};

use crate::error::ApiError;

/// Checks the request's bearer token against each of `api_keys`.
pub fn check(headers: &HeaderMap, api_keys: &[String]) -> Result<(), ApiError> {
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
    // Every key is compared, in constant time, so the time taken tells nothing of which matched.
    let valid = api_keys.iter().fold(Choice::from(0), |valid, key| {
        valid | token.as_bytes().ct_eq(key.as_bytes())
    });
    if !bool::from(valid) {
        return Err(ApiError::unauthorized(
            "authentication_required",
            "The API key is not valid.",
        ));
    }
    Ok(())
}
