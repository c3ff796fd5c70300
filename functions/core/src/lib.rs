//! Herald's workflow engine.
//!
//! This crate is the pure core of Herald: workflow definitions (Knock's `workflow.json`), runs,
//! recipients, cancellation and templates. It knows nothing of AWS or HTTP; storage, wake-ups and
//! time reach it through the traits in [`ports`], whose adapters live under `infra/`.
//!
//! The entry point is [`Engine`]: [`Engine::trigger`] stores runs, [`Engine::resume`] advances the
//! runs of one workflow run as far as they can go, and [`Engine::cancel`] stops them.

pub mod batch;
pub mod composite_key;
pub mod condition;
pub mod data;
pub mod definition;
pub mod engine;
pub mod error;
pub mod fanout;
pub mod idempotency;
pub mod ids;
pub mod limits;
pub mod message;
pub mod object;
pub mod path;
pub mod ports;
pub mod preference;
pub mod recipient;
pub mod run;
pub mod subscription;
pub mod template;
pub mod user;
pub mod window_rule;

pub use engine::Engine;
pub use error::{EngineError, StoreError};
pub use ports::{Clock, ManualClock, SystemClock};
