//! Knock's HTTP API over Herald's engine, as one axum [`Router`].
//!
//! The local server serves [`router`] with `axum::serve`; the Lambdas serve the same router with
//! `lambda_http::run`. Paths, JSON shapes, status codes and error bodies are Knock's, so the
//! official SDKs work when pointed at Herald.

pub mod auth;
pub mod cors;
mod cursor;
mod error;
mod extract;
mod middleware;
mod query;
mod response;
mod routes;
mod views;

use std::sync::Arc;

use axum::extract::DefaultBodyLimit;
use axum::Router;
use herald_core::Engine;

pub use error::ApiError;

/// Knock's `data` limit is 10 MB; leave room for the rest of the body.
pub const MAX_BODY_BYTES: usize = 12 * 1024 * 1024;

/// How long a request body may take to arrive, unless set otherwise.
pub const DEFAULT_BODY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// What the routes need: the engine and the keys callers may present.
#[derive(Clone)]
pub struct App {
    engine: Engine,
    keys: auth::Keys,
    cors_origins: Vec<String>,
    body_timeout: std::time::Duration,
}

impl App {
    /// The environment's channels.
    pub fn channels(&self) -> &herald_core::definition::Channels {
        self.engine.workflows().channels()
    }

    /// The key of the channel `named` by its id (Knock's form) or its key.
    pub fn channel_key(&self, named: &str) -> String {
        let lower = named.to_ascii_lowercase();
        self.channels()
            .all()
            .into_iter()
            .find(|c| c.id.to_string() == lower)
            .map_or_else(|| named.to_string(), |c| c.key.clone())
    }

    /// An app over `engine`, accepting `Authorization: Bearer <key>` for any of `api_keys`.
    pub fn new<K: Into<String>>(engine: Engine, api_keys: impl IntoIterator<Item = K>) -> Self {
        let keys = auth::Keys {
            api: auth::ApiKeys {
                secret: api_keys.into_iter().map(Into::into).collect(),
                publishable: Vec::new(),
            },
            tokens: auth::TokenKeys::default(),
        };
        Self {
            engine,
            keys,
            cors_origins: Vec::new(),
            body_timeout: DEFAULT_BODY_TIMEOUT,
        }
    }

    /// The same app letting browsers in with any of `publishable` keys and a user token signed
    /// by one of `tokens`: see [`auth`].
    pub fn with_user_tokens(mut self, publishable: Vec<String>, tokens: auth::TokenKeys) -> Self {
        self.keys.api.publishable = publishable;
        self.keys.tokens = tokens;
        self
    }

    /// The same app answering browsers from `origins` (`https://app.example.com`): see
    /// [`cors`].
    pub fn with_cors_origins(mut self, origins: Vec<String>) -> Self {
        self.cors_origins = origins;
        self
    }

    /// The same app allowing `limit` for a request body to arrive (default 30 s).
    pub fn with_body_timeout(mut self, limit: std::time::Duration) -> Self {
        self.body_timeout = limit;
        self
    }

    /// The engine.
    pub fn engine(&self) -> &Engine {
        &self.engine
    }
}

/// Every route [`router`] serves, as `(method, path template)`; the SAM template must declare
/// each one (checked by a test).
pub const ROUTES: &[(&str, &str)] = routes::ROUTES;

/// Knock's API: every route, authenticated, with Knock's error bodies and headers.
pub fn router(app: App) -> Router {
    let app = Arc::new(app);
    let cors = cors::layer(&app.cors_origins);
    // The last layer is the outermost: the head is checked, then the key, and only then is the
    // body read.
    let router = routes::routes()
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(axum::middleware::from_fn_with_state(
            app.clone(),
            middleware::read_body,
        ))
        .layer(axum::middleware::from_fn_with_state(
            app.clone(),
            middleware::authenticate,
        ))
        .layer(axum::middleware::from_fn(middleware::check_head))
        .layer(axum::middleware::from_fn(middleware::finish))
        .with_state(app);
    // Outermost: a preflight is answered before authentication, and error answers carry the
    // grant too.
    match cors {
        Some(cors) => router.layer(cors),
        None => router,
    }
}
