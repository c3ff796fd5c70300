//! Herald's AWS adapters.
//!
//! - [`DynamoStore`]: the [`Store`](herald_core::ports::Store) port on one DynamoDB table per
//!   environment (key schema in [`store`]);
//! - [`RequestCounter`]: an SDK interceptor counting requests per operation, for the request
//!   budgets.

pub mod counter;
pub mod store;

pub use counter::RequestCounter;
pub use store::DynamoStore;
