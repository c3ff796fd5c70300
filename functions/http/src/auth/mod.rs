//! Who is calling: a secret key reaches everything; a publishable key with a user token reaches
//! that user's own resources and nothing else.

mod access;
mod secret;
mod user_token;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, Method};
use herald_core::recipient::RecipientRef;

pub use access::{rule, Owner, Permission};
pub use secret::{ApiKeys, KeyKind};
pub use user_token::{TokenKeys, UserClaims};

use crate::error::ApiError;

/// Everything requests are checked against.
#[derive(Debug, Clone, Default)]
pub struct Keys {
    /// Secret and publishable keys.
    pub api: ApiKeys,
    /// The public keys of user tokens.
    pub tokens: TokenKeys,
}

/// The authenticated caller of a request, for the routes that check what a user may touch.
#[derive(Debug, Clone, PartialEq)]
pub enum Caller {
    /// A secret key.
    Secret,
    /// A publishable key and this user's token.
    User(UserClaims),
}

impl Keys {
    /// The caller of a request for `method` on the route `template` (`None`: no route) with
    /// path parameters `params`, or Knock's 401/403.
    pub fn caller(
        &self,
        headers: &HeaderMap,
        method: &Method,
        template: Option<&str>,
        params: &[(&str, &str)],
    ) -> Result<Caller, ApiError> {
        if self.api.check(headers)? == KeyKind::Secret {
            return Ok(Caller::Secret);
        }
        let token = headers
            .get("x-knock-user-token")
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| {
                ApiError::unauthorized(
                    "missing_user_token",
                    "This environment requires that you supply a `X-Knock-User-Token` header when using a public API key",
                )
            })?;
        let claims = self.tokens.verify(token)?;
        let (owner, permission) = template
            .and_then(|t| rule(method.as_str(), t))
            .ok_or_else(ApiError::incorrect_token_type)?;
        let is_own = match owner {
            Owner::PathUser => params
                .iter()
                .any(|(name, value)| *name == "user_id" && *value == claims.sub),
            Owner::Messages => true,
        };
        if !is_own || !claims.allows(permission) {
            return Err(ApiError::forbidden());
        }
        Ok(Caller::User(claims))
    }
}

impl Caller {
    /// Refuses a user what is not addressed to them.
    pub fn may_touch(&self, recipient: &RecipientRef) -> Result<(), ApiError> {
        match self {
            Caller::Secret => Ok(()),
            Caller::User(claims)
                if recipient.collection.is_none() && recipient.id == claims.sub =>
            {
                Ok(())
            }
            Caller::User(_) => Err(ApiError::forbidden()),
        }
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Caller {
    type Rejection = ApiError;

    /// The caller the authentication middleware recorded.
    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        parts
            .extensions
            .get::<Caller>()
            .cloned()
            .ok_or_else(|| ApiError::internal("a route ran without an authenticated caller"))
    }
}
