//! Typed extractors that fail with Knock's error bodies: path parameters, the query string, the
//! JSON body, and the user or object a route is about.

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::rejection::RawPathParamsRejection;
use axum::extract::{
    FromRequest, FromRequestParts, OptionalFromRequestParts, Path, RawPathParams, Request,
};
use axum::http::request::Parts;
use herald_core::engine::{CancelRequest, TriggerRequest};
use herald_core::error::EngineError;
use herald_core::limits::MAX_ID_BYTES;
use herald_core::recipient::RecipientRef;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::error::ApiError;
use crate::query::Query;

/// Path parameters: a parameter that is not UTF-8 once decoded is a 400, one longer than an id
/// may be ([`MAX_ID_BYTES`]) a 422 naming it, checked before any store sees it; one that cannot
/// be decoded otherwise names no resource (404).
pub struct KnockPath<T>(pub T);

impl<T, S> FromRequestParts<S> for KnockPath<T>
where
    T: DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        match RawPathParams::from_request_parts(parts, state).await {
            Err(RawPathParamsRejection::InvalidUtf8InPathParam(_)) => {
                return Err(ApiError::invalid_path())
            }
            Ok(raw) => {
                if let Some((name, _)) = raw.iter().find(|(_, v)| v.len() > MAX_ID_BYTES) {
                    return Err(ApiError::invalid_param(
                        name,
                        &format!("must be at most {MAX_ID_BYTES} bytes"),
                    ));
                }
            }
            Err(_) => {}
        }
        match <Path<T> as FromRequestParts<S>>::from_request_parts(parts, state).await {
            Ok(Path(value)) => Ok(Self(value)),
            Err(_) => Err(ApiError::not_found(&format!(
                "The route {} {}",
                parts.method,
                parts.uri.path()
            ))),
        }
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Query {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Query::parse(parts.uri.query()))
    }
}

/// Checks a collection a client names as stored keys need it (`422` on `collection`);
/// `$` collections are Knock's own (`$tenants`), written through their own routes only, so
/// refused when `writing`.
pub fn check_collection(collection: &str, writing: bool) -> Result<(), ApiError> {
    herald_core::object::check_collection(collection)
        .map_err(|why| ApiError::invalid_param("collection", why))?;
    if writing && collection.starts_with('$') {
        return Err(ApiError::invalid_param(
            "collection",
            "collections starting with `$` are reserved",
        ));
    }
    Ok(())
}

/// The user (`{user_id}`) or object (`{collection}/{object_id}`) the route's path names, its
/// collection checked ([`check_collection`], writing unless the method is `GET`).
pub struct Owner(pub RecipientRef);

impl<S: Send + Sync> OptionalFromRequestParts<S> for Owner {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Option<Self>, ApiError> {
        let KnockPath(params) =
            KnockPath::<HashMap<String, String>>::from_request_parts(parts, state).await?;
        Ok(
            match (
                params.get("user_id"),
                params.get("collection"),
                params.get("object_id"),
            ) {
                (Some(user), _, _) => Some(Owner(RecipientRef::user(user.as_str()))),
                (None, Some(c), Some(id)) => {
                    check_collection(c, parts.method != axum::http::Method::GET)?;
                    Some(Owner(RecipientRef::object(c.as_str(), id.as_str())))
                }
                _ => None,
            },
        )
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Owner {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let route = format!("The route {} {}", parts.method, parts.uri.path());
        <Owner as OptionalFromRequestParts<S>>::from_request_parts(parts, state)
            .await?
            .ok_or_else(|| ApiError::not_found(&route))
    }
}

/// The request body as JSON; an empty body is an empty object. Too large a body is Knock's
/// 413, invalid JSON its 400.
pub struct JsonBody(pub Value);

impl<S: Send + Sync> FromRequest<S> for JsonBody {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let bytes = Bytes::from_request(req, state).await.map_err(|rejection| {
            match rejection.status().as_u16() {
                413 => ApiError::too_large(crate::MAX_BODY_BYTES),
                _ => ApiError::invalid_json(rejection.body_text()),
            }
        })?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(Self(Value::Object(Default::default())));
        }
        let body: Value = serde_json::from_slice(&bytes).map_err(ApiError::invalid_json)?;
        if !herald_core::limits::within_depth(&body) {
            return Err(ApiError::invalid_param(
                "body",
                &format!(
                    "nests arrays and objects deeper than {} levels",
                    herald_core::limits::MAX_JSON_DEPTH
                ),
            ));
        }
        Ok(Self(body))
    }
}

/// A request body validated by its core request type: every field error at once, as Knock's
/// 422 (a serde derive would stop at the first).
pub struct Valid<T>(pub T);

/// A request type the core validates from a JSON body.
pub trait Validate: Sized {
    /// Parses and validates `body`.
    fn validate(body: &Value) -> Result<Self, EngineError>;
}

impl Validate for TriggerRequest {
    fn validate(body: &Value) -> Result<Self, EngineError> {
        TriggerRequest::from_json(body)
    }
}

impl Validate for CancelRequest {
    fn validate(body: &Value) -> Result<Self, EngineError> {
        CancelRequest::from_json(body)
    }
}

impl<S: Send + Sync, T: Validate> FromRequest<S> for Valid<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let JsonBody(body) = JsonBody::from_request(req, state).await?;
        Ok(Self(T::validate(&body)?))
    }
}
