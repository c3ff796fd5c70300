//! `Authorization: Bearer <key>`: which of the environment's keys the caller presents.

use axum::http::HeaderMap;
use subtle::{Choice, ConstantTimeEq};

use crate::error::ApiError;

/// The two kinds of key, as Knock has them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyKind {
    /// `sk_…`: full access, for servers.
    Secret,
    /// `pk_…`: names the environment only; safe in a browser, and useless without a user token.
    Publishable,
}

/// The keys callers may present: several of each kind, so a key can be rotated.
#[derive(Debug, Clone, Default)]
pub struct ApiKeys {
    /// Secret keys.
    pub secret: Vec<String>,
    /// Publishable keys.
    pub publishable: Vec<String>,
}

impl ApiKeys {
    /// The kind of key the request's bearer token is, or Knock's 401.
    pub fn check(&self, headers: &HeaderMap) -> Result<KeyKind, ApiError> {
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
        // Every key is compared, in constant time, so the time taken tells nothing of which
        // matched.
        let any = |keys: &[String]| {
            keys.iter().fold(Choice::from(0), |found, key| {
                found | token.as_bytes().ct_eq(key.as_bytes())
            })
        };
        let secret = any(&self.secret);
        let publishable = any(&self.publishable);
        if bool::from(secret) {
            Ok(KeyKind::Secret)
        } else if bool::from(publishable) {
            Ok(KeyKind::Publishable)
        } else {
            Err(ApiError::unauthorized(
                "authentication_required",
                "The API key is not valid.",
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bearer(value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert("authorization", value.parse().expect("header"));
        headers
    }

    #[test]
    fn each_key_is_known_by_its_kind() {
        let keys = ApiKeys {
            secret: vec!["sk_1".into(), "sk_2".into()],
            publishable: vec!["pk_1".into()],
        };
        assert_eq!(keys.check(&bearer("Bearer sk_2")), Ok(KeyKind::Secret));
        assert_eq!(keys.check(&bearer("bearer pk_1")), Ok(KeyKind::Publishable));
        assert_eq!(
            keys.check(&bearer("Bearer pk_2")).map_err(|e| e.code),
            Err("authentication_required")
        );
        assert_eq!(
            keys.check(&HeaderMap::new()).map_err(|e| e.code),
            Err("api_key_missing")
        );
    }
}
