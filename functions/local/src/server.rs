//! Wiring and serving: the embedded store and timers under [`herald_http::router`], the same
//! router the Lambdas serve.

use std::sync::Arc;

use herald_core::definition::{load_dir, Channels, Provider, WorkflowSet};
use herald_core::engine::ResumeBudget;
use herald_core::ports::fetcher::Fetcher;
use herald_core::ports::Senders;
use herald_core::ports::{Store, Waker};
use herald_core::{Engine, SystemClock};
use herald_embedded::{recover, run_worker, SqliteStore, TokioWaker};
use herald_fetch::{Outbound, ReqwestFetcher};
use herald_http::App;

use crate::config::{Config, KeySource};

/// Loads workflows, opens the store, re-arms stored runs and serves until SIGINT/SIGTERM.
pub async fn serve(config: Config) -> Result<(), String> {
    let mut workflows =
        load_dir(&config.workflows_dir).map_err(|e| format!("cannot load workflows: {e}"))?;
    // `{"env": NAME}` settings come from this process's environment.
    workflows
        .resolve_channels(&|name| std::env::var(name).ok().filter(|v| !v.is_empty()))
        .map_err(|e| format!("cannot load workflows: {e}"))?;
    tracing::info!(dir = %config.workflows_dir.display(), workflows = ?workflows.keys(), "workflows loaded");
    let sqlite = Arc::new(SqliteStore::open(&config.data_dir).map_err(|e| e.to_string())?);
    let clock = Arc::new(SystemClock);
    let (waker, wakeups) = TokioWaker::new(clock.clone());
    let store: Arc<dyn Store> = sqlite.clone();
    let waker: Arc<dyn Waker> = Arc::new(waker);
    // One process with no time limit: each resume finishes its workflow run's work.
    let fetcher: Arc<dyn Fetcher> = Arc::new(
        ReqwestFetcher::new(Outbound::from_setting(config.allow_private_networks))
            .map_err(|e| e.to_string())?,
    );
    let senders = senders(&workflows, fetcher.clone()).await?;
    let mut engine = Engine::new(store.clone(), waker.clone(), clock, Arc::new(workflows))
        .with_budget(ResumeBudget::UNBOUNDED)
        .with_fetcher(fetcher)
        .with_senders(senders)
        .with_delivery_timeout(config.delivery_timeout)
        // SQLite stores a trigger in one transaction: concurrent requests with one
        // idempotency key may both run it, storing one workflow run.
        .with_idempotency_in_flight(std::time::Duration::ZERO);
    if let Some(tz) = config.default_timezone {
        engine = engine.with_default_timezone(tz);
    }
    tokio::spawn(run_worker(engine.clone(), wakeups));
    let recovered = recover(sqlite.as_ref(), waker.as_ref())
        .await
        .map_err(|e| e.to_string())?;
    if recovered > 0 {
        tracing::info!(recovered, "re-armed stored runs");
    }
    tokio::spawn(sweep_every_minute(engine.clone()));

    let router = herald_http::router(
        App::new(engine, config.api_keys.clone())
            .with_user_tokens(
                config.publishable_keys.clone(),
                config.user_token_keys.clone(),
            )
            .with_cors_origins(config.cors_origins.clone())
            .with_body_timeout(config.body_timeout),
    );
    let listener = tokio::net::TcpListener::bind(config.addr)
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", config.addr))?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    // Printed once, when generated; later starts only say where it is kept.
    let key_file = config.data_dir.join("api_key");
    match config.key_source {
        KeySource::Generated => println!(
            "Herald API key (generated, kept in {}): {}",
            key_file.display(),
            config.api_keys.join(", ")
        ),
        KeySource::Kept => println!("Herald API key: kept in {}", key_file.display()),
        KeySource::Environment => {}
    }
    println!("Herald listening on http://{addr}");
    crate::listen::serve(listener, router, config.connections, shutdown()).await;
    Ok(())
}

/// The senders of the configured channels.
async fn senders(workflows: &WorkflowSet, fetcher: Arc<dyn Fetcher>) -> Result<Senders, String> {
    let channels = workflows.channels();
    let senders = herald_delivery::senders(channels, fetcher)
        .map_err(|e| format!("cannot load workflows: {e}"))?;
    let senders = with_ses(senders, channels).await?;
    senders
        .check(channels)
        .map_err(|e| format!("cannot load workflows: {e}"))?;
    Ok(senders)
}

/// Amazon SES, which reads the usual AWS configuration (credentials, region) only when a
/// channel uses it.
#[cfg(feature = "ses")]
async fn with_ses(senders: Senders, channels: &Channels) -> Result<Senders, String> {
    if !channels.all().iter().any(|c| c.provider == Provider::Ses) {
        return Ok(senders);
    }
    let sdk = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let ses = herald_aws::SesSender::new(&sdk, channels, None);
    Ok(senders.with(Provider::Ses, Arc::new(ses)))
}

/// The default local build leaves the AWS SDK out (half the crates to compile): a channel on
/// Amazon SES stops the start, saying how to build with it.
#[cfg(not(feature = "ses"))]
async fn with_ses(senders: Senders, channels: &Channels) -> Result<Senders, String> {
    match channels.all().iter().find(|c| c.provider == Provider::Ses) {
        Some(c) => Err(format!(
            "cannot load workflows: channel `{}` sends through Amazon SES, which this build of \
             the local server leaves out; run it with `--features ses`",
            c.key
        )),
        None => Ok(senders),
    }
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

/// The sweeper: once a minute, wakes what is overdue by more than two minutes (a backstop; the
/// worker retries failed passes itself).
async fn sweep_every_minute(engine: Engine) {
    let mut tick = tokio::time::interval(std::time::Duration::from_secs(60));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        match engine.sweep().await {
            Ok(report) if report != Default::default() => {
                tracing::warn!(?report, "the sweeper woke overdue work")
            }
            Ok(_) => {}
            Err(e) => tracing::error!(error = %e, "sweep failed"),
        }
    }
}
