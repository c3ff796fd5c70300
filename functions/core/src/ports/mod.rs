//! The engine's ports, one small trait per role. Adapters live under `infra/`, one file per
//! role: `infra/embedded/src/store/` (SQLite) and `infra/aws/src/dynamodb/` (DynamoDB).
//!
//! [`Store`] is every storage role at once, for the engine and the routes that hold one
//! `Arc<dyn Store>`; a function that needs one role takes just that role.

pub mod batches;
pub mod clock;
pub mod definitions;
pub mod deliveries;
pub mod directory;
pub mod fanouts;
pub mod fetcher;
pub mod idempotency;
pub mod messages;
pub mod outcome;
pub mod page;
pub mod payloads;
pub mod recovery;
pub mod runs;
pub mod sender;
pub mod sweep;
pub mod throttles;
pub mod users;
pub mod waker;

pub use batches::{BatchQuery, Batches};
pub use clock::{Clock, ManualClock, SystemClock};
pub use definitions::Definitions;
pub use deliveries::{AttemptRecord, Deliveries, PendingDelivery};
pub use directory::{Directory, StoredPreferenceSet, WriteIf};
pub use fanouts::FanOuts;
pub use fetcher::{FetchError, FetchRequest, FetchResponse, Fetcher};
pub use idempotency::{Claim, IdempotencyKeys};
pub use messages::{ArchivedFilter, Bound, EngagementFilter, MessageQuery, Messages};
pub use outcome::{Removal, Write};
pub use page::{Page, PageRequest};
pub use payloads::Payloads;
pub use recovery::{PendingRun, Recovery};
pub use runs::{ActiveRuns, CancelFilter, RunQuery, Runs};
pub use sender::{Attempted, Outgoing, Sender, Senders, Verdict};
pub use sweep::{Overdue, Sweep};
pub use throttles::{Admission, Throttles};
pub use users::Users;
pub use waker::Waker;

/// Declares [`Store`] as every role at once, and implements it for every type with them all.
macro_rules! store_of_roles {
    ($($role:ident),+) => {
        /// Durable storage in all its roles. Implemented for every type that has them all.
        pub trait Store: $($role +)+ {}

        impl<T> Store for T where T: $($role +)+ {}
    };
}

store_of_roles!(
    Users,
    Directory,
    Runs,
    FanOuts,
    Batches,
    Throttles,
    Messages,
    Deliveries,
    IdempotencyKeys,
    Definitions,
    Payloads,
    Sweep
);
