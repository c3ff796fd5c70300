//! Wiring and serving: every HTTP request is converted to a `lambda_http::Request` and handed to
//! [`herald_http::handle`], the function the Lambdas call.

use std::sync::Arc;

use axum::body::Body as AxumBody;
use axum::extract::{Request as AxumRequest, State};
use axum::response::Response as AxumResponse;
use herald_core::definition::load_dir;
use herald_core::engine::ResumeBudget;
use herald_core::ports::{Store, Waker};
use herald_core::{Engine, SystemClock};
use herald_embedded::{recover, run_worker, SqliteStore, TokioWaker};
use herald_fetch::ReqwestFetcher;
use herald_http::App;
use lambda_http::Body;

use crate::config::Config;

/// Knock's `data` limit is 10 MB; leave room for the rest of the body.
const MAX_BODY_BYTES: usize = 12 * 1024 * 1024;

/// Loads workflows, opens the store, re-arms stored runs and serves until SIGINT/SIGTERM.
pub async fn serve(config: Config) -> Result<(), String> {
    let workflows =
        load_dir(&config.workflows_dir).map_err(|e| format!("cannot load workflows: {e}"))?;
    tracing::info!(dir = %config.workflows_dir.display(), workflows = ?workflows.keys(), "workflows loaded");
    let store = SqliteStore::open(&config.data_dir).map_err(|e| e.to_string())?;
    let clock = Arc::new(SystemClock);
    let (waker, wakeups) = TokioWaker::new(clock.clone());
    let store: Arc<dyn Store> = Arc::new(store);
    let waker: Arc<dyn Waker> = Arc::new(waker);
    // One process with no time limit: each resume finishes its workflow run's work.
    let fetcher = ReqwestFetcher::new().map_err(|e| e.to_string())?;
    let mut engine = Engine::new(store.clone(), waker.clone(), clock, Arc::new(workflows))
        .with_budget(ResumeBudget::UNBOUNDED)
        .with_fetcher(Arc::new(fetcher));
    if let Some(tz) = config.default_timezone {
        engine = engine.with_default_timezone(tz);
    }
    tokio::spawn(run_worker(engine.clone(), wakeups));
    let recovered = recover(store.as_ref(), waker.as_ref())
        .await
        .map_err(|e| e.to_string())?;
    if recovered > 0 {
        tracing::info!(recovered, "re-armed stored runs");
    }

    let app = Arc::new(App::new(engine, config.api_key.clone()));
    let router = axum::Router::new().fallback(proxy).with_state(app);
    let listener = tokio::net::TcpListener::bind(config.addr)
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", config.addr))?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    if config.generated_key {
        println!(
            "Herald API key (generated, kept in {}): {}",
            config.data_dir.display(),
            config.api_key
        );
    }
    println!("Herald listening on http://{addr}");
    axum::serve(listener, router)
        .with_graceful_shutdown(shutdown())
        .await
        .map_err(|e| e.to_string())
}

async fn proxy(State(app): State<Arc<App>>, req: AxumRequest) -> AxumResponse {
    let (parts, body) = req.into_parts();
    let bytes = match axum::body::to_bytes(body, MAX_BODY_BYTES).await {
        Ok(b) => b,
        Err(_) => {
            return convert(herald_http::reject(herald_http::ApiError::too_large(
                MAX_BODY_BYTES,
            )))
        }
    };
    let request = lambda_http::http::Request::from_parts(parts, Body::from(bytes.to_vec()));
    convert(herald_http::handle(&app, request).await)
}

fn convert(response: lambda_http::Response<Body>) -> AxumResponse {
    let (parts, body) = response.into_parts();
    AxumResponse::from_parts(parts, AxumBody::from(body.to_vec()))
}

async fn shutdown() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
    tracing::info!("shutting down");
}
