//! Herald's integration tests, one binary: each module is one concern (a store's conformance,
//! the engine on an injected clock, the HTTP API end to end, the Lambda handlers on moto, …),
//! sharing the harness in `herald_tests` (`tests/src/`).

mod aws_wakeups;
mod batch_dynamodb;
mod batch_embedded;
mod chaos;
mod conformance_dynamodb;
mod conformance_embedded;
mod cors;
mod data_folder;
mod delivery;
mod delivery_aws;
mod e2e_delivery;
mod e2e_http;
mod engine;
mod exhaustion;
mod fanout_dynamodb;
mod fanout_embedded;
mod idempotency;
mod lambda_handlers;
mod large_data;
mod leaks;
mod limits;
mod parsers;
mod recipients;
mod steps;
mod template;
