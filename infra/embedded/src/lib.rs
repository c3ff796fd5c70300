//! Herald's embedded adapters, for running as one local binary with no cloud account:
//!
//! - [`SqliteStore`]: the [`Store`](herald_core::ports::Store) port on one SQLite file;
//! - [`TokioWaker`]: the [`Waker`](herald_core::ports::Waker) port on in-process tokio timers.
//!   Wake-ups are durable because the paused runs themselves are: [`recover`] re-arms them from
//!   the store at start-up.

pub mod private;
mod store;
mod waker;

pub use store::SqliteStore;
pub use waker::{
    recover, run_worker, run_worker_with, Retry, TokioWaker, Wake, DELIVERY_CONCURRENCY,
    RESUME_CONCURRENCY,
};
