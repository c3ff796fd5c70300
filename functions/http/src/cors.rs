//! Answers browsers from the origins in `HERALD_CORS_ORIGINS`, so Knock's browser client can call
//! Herald: a preflight is answered (204) before any authentication, the headers the client sends
//! are allowed, `Retry-After` is readable, and error answers carry the grant as well. Other
//! origins get no grant at all.

use axum::http::{header, HeaderName, HeaderValue, Method};
use tower_http::cors::{AllowOrigin, CorsLayer};

/// The headers Knock's clients send.
const ALLOWED_HEADERS: [HeaderName; 4] = [
    header::AUTHORIZATION,
    header::CONTENT_TYPE,
    HeaderName::from_static("x-knock-user-token"),
    HeaderName::from_static("x-knock-client"),
];

/// The CORS layer for `origins` (checked at start-up by `herald_config`), if any.
pub fn layer(origins: &[String]) -> Option<CorsLayer> {
    let origins: Vec<HeaderValue> = origins
        .iter()
        .filter_map(|o| HeaderValue::from_str(o).ok())
        .collect();
    if origins.is_empty() {
        return None;
    }
    Some(
        CorsLayer::new()
            .allow_origin(AllowOrigin::list(origins))
            .allow_methods([Method::GET, Method::POST, Method::PUT, Method::DELETE])
            .allow_headers(ALLOWED_HEADERS)
            .expose_headers([header::RETRY_AFTER, HeaderName::from_static("x-request-id")])
            .max_age(std::time::Duration::from_secs(600)),
    )
}
