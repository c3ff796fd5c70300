//! Accepting connections with bounds an attacker cannot lift: at most so many open at once,
//! and a connection that has not sent a whole request head in time (half-sent headers, or idle
//! between requests) is closed.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

/// The bounds on connections.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Connections open at once; one more waits in the kernel's queue until one closes.
    pub max_connections: usize,
    /// How long a request's head may take to arrive, counted from the connection's opening or
    /// the previous response: also how long a kept-alive connection may stay idle.
    pub header_timeout: Duration,
}

/// Request heads larger than this are refused by hyper (a bare 431); those up to it reach the
/// router, which answers too long a path (414) or too many header bytes (431) in Knock's JSON.
const MAX_HEAD_BYTES: usize = 64 * 1024;

/// How long open connections may take to finish once shutdown starts.
const DRAIN: Duration = Duration::from_secs(10);

/// File descriptors kept for the database, logs and outbound requests beside the connections.
const RESERVED_FDS: u64 = 64;

impl Limits {
    /// These limits, with the process's open-file limit raised to fit them (as far as the hard
    /// limit allows) and the connection cap lowered to what then fits, so `accept` never runs
    /// out of descriptors before the cap is reached.
    pub fn fitted(self) -> Self {
        let fds = rlimit::increase_nofile_limit(u64::MAX).unwrap_or(1024);
        let fit = usize::try_from(fds.saturating_sub(RESERVED_FDS).max(1)).unwrap_or(usize::MAX);
        let max_connections = self.max_connections.min(fit).min(Semaphore::MAX_PERMITS);
        if max_connections < self.max_connections {
            tracing::warn!(
                asked = self.max_connections,
                max_connections,
                open_files = fds,
                "the open-file limit caps connections lower than HERALD_MAX_CONNECTIONS"
            );
        }
        Self {
            max_connections,
            ..self
        }
    }
}

/// Serves `router` on `listener` until `shutdown` completes, then lets open requests finish.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: Limits,
    shutdown: impl std::future::Future<Output = ()>,
) {
    let limits = limits.fitted();
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    let graceful = GracefulShutdown::new();
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout)
        .max_buf_size(MAX_HEAD_BYTES);
    tokio::pin!(shutdown);
    loop {
        let accepted = tokio::select! {
            () = &mut shutdown => break,
            accepted = accept(&listener, &slots) => accepted,
        };
        let Some((permit, stream)) = accepted else {
            continue;
        };
        let service = TowerToHyperService::new(router.clone());
        let connection = builder.serve_connection(TokioIo::new(stream), service);
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            // A timed-out or reset connection is the client's affair, not an error of ours.
            if let Err(e) = connection.await {
                tracing::debug!(error = %e, "connection closed");
            }
            drop(permit);
        });
    }
    // No new connection is taken while the open ones finish.
    drop(listener);
    if tokio::time::timeout(DRAIN, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("connections still open after {DRAIN:?}; closing them");
    }
}

/// The next connection once a slot is free; `None` after a failed accept (the listener stays
/// open: running out of file descriptors passes).
async fn accept(
    listener: &TcpListener,
    slots: &Arc<Semaphore>,
) -> Option<(tokio::sync::OwnedSemaphorePermit, tokio::net::TcpStream)> {
    let permit = slots.clone().acquire_owned().await.ok()?;
    match listener.accept().await {
        Ok((stream, _)) => {
            let _ = stream.set_nodelay(true);
            Some((permit, stream))
        }
        Err(e) => {
            tracing::warn!(error = %e, "cannot accept a connection");
            tokio::time::sleep(Duration::from_millis(100)).await;
            None
        }
    }
}
