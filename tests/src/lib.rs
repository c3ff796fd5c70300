//! Shared test support for Herald: the store conformance suite (one set of cases run against
//! every store adapter), a recording waker, fixtures, and a harness that runs the real server
//! binary.

pub mod aws;
pub mod batching;
pub mod bench;
pub mod chaos;
pub mod conformance;
pub mod conformance_batch;
pub mod conformance_delivery;
pub mod conformance_directory;
pub mod conformance_idempotency;
pub mod cost;
pub mod crash;
pub mod delivery;
pub mod fanout;
pub mod fixtures;
pub mod http;
pub mod recording_waker;
pub mod server;
