//! Knock's HTTP API over Herald's engine.
//!
//! [`handle`] takes a `lambda_http` request and returns its response; the Lambdas pass API
//! Gateway events to it and the local server converts each HTTP request into the same type, so
//! both run the very same code. Paths, JSON shapes, status codes and error bodies are Knock's, so
//! the official SDKs work when pointed at Herald.

mod auth;
mod error;
mod query;
mod response;
mod routes;
mod views;

use herald_core::Engine;
use lambda_http::{Body, Request, Response};

pub use error::ApiError;

/// What the handlers need: the engine and the secret key callers must present.
#[derive(Clone)]
pub struct App {
    engine: Engine,
    api_key: String,
}

impl App {
    /// An app over `engine`, accepting `Authorization: Bearer <api_key>`.
    pub fn new(engine: Engine, api_key: impl Into<String>) -> Self {
        Self {
            engine,
            api_key: api_key.into(),
        }
    }

    /// The engine.
    pub fn engine(&self) -> &Engine {
        &self.engine
    }
}

/// Every route [`handle`] serves, as `(method, path template)`; the SAM template must declare
/// each one (checked by a test).
pub const ROUTES: &[(&str, &str)] = routes::ROUTES;

/// Renders an error found before routing (such as an oversized body) as Knock's error response.
pub fn reject(error: ApiError) -> Response<Body> {
    response::finish(error.into_response(), &uuid::Uuid::new_v4().to_string())
}

/// Handles one request: authenticates it, routes it and renders Knock's response or error.
/// Never fails: every error becomes Knock's error body with its status.
pub async fn handle(app: &App, req: Request) -> Response<Body> {
    let request_id = uuid::Uuid::new_v4().to_string();
    let result = match auth::check(&req, &app.api_key) {
        Ok(()) => routes::route(app, &req).await,
        Err(e) => Err(e),
    };
    match result {
        Ok(resp) => response::finish(resp, &request_id),
        Err(e) => {
            if e.status >= 500 {
                tracing::error!(request_id, error = %e.message, "request failed");
            }
            response::finish(e.into_response(), &request_id)
        }
    }
}
