//! One module per step type: what executing the step does to a recipient run.

mod batch;
mod branch;
mod channel;
pub mod delay;
mod fetch;
mod throttle;
mod trigger_workflow;

pub use fetch::RETRY_DELAYS;
