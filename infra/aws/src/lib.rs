//! Herald's AWS adapters.
//!
//! - [`DynamoStore`]: the [`Store`](herald_core::ports::Store) port on one DynamoDB table per
//!   environment (key schema in [`dynamodb`]);
//! - [`AwsWaker`]: the [`Waker`](herald_core::ports::Waker) port on EventBridge Scheduler and SQS
//!   (precision design in [`wakeups`]);
//! - [`SesSender`]: email channels on Amazon SES;
//! - [`StageSecrets`]: the stage's secret, from which `{"env": NAME}` settings resolve;
//! - [`RequestCounter`]: an SDK interceptor counting requests per operation, for the request
//!   budgets.

pub mod counter;
pub mod dynamodb;
pub mod secrets;
pub mod ses;
pub mod wakeups;

pub use counter::{RequestCounter, Sizes};
pub use dynamodb::{s3_client, s3_config, DynamoStore, ITEM_PAYLOAD_MAX};
pub use secrets::StageSecrets;
pub use ses::SesSender;
pub use wakeups::{AwsWaker, WakeMessage, WakerConfig};
