//! The engine: trigger, execute and cancel workflow runs over the ports.

mod cancel;
mod data;
mod deliver;
mod execute;
mod fanout;
mod preferences;
mod recipients;
mod scope;
mod steps;
mod sweep;
mod trigger;
mod versions;
mod window;

use std::sync::Arc;

pub use cancel::CancelRequest;
pub use data::{PAGE_MAX_DATA_BYTES, PAYLOAD_CACHE_BYTES};
pub use deliver::{backoff, DeliveryReport, BACKOFF, DELIVERY_TIMEOUT, MAX_ATTEMPTS};
pub use execute::{ResumeReport, RUNS_PER_RESUME};
pub use fanout::{FANOUT_PAGE, FANOUT_STEPS_PER_RESUME};
pub use steps::delay::{delay_until, DelayOutcome};
pub use steps::RETRY_DELAYS;
pub use sweep::{SweepReport, SWEEP_BOUND, SWEEP_LIMIT};

use execute::RUNS_PER_RESUME as RUNS_PER_PASS;
pub use preferences::DEFAULT_SET;
pub use trigger::{Idempotent, TriggerRequest, Triggered, IN_FLIGHT, MAX_RECIPIENTS};

use chrono_tz::Tz;

use crate::definition::WorkflowSet;
use crate::ports::clock::Clock;
use crate::ports::fetcher::Fetcher;
use crate::ports::{Senders, Store, Waker};

/// How much one [`Engine::resume`] does before handing the rest to another pass.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResumeBudget {
    /// Fan-out pages (of [`FANOUT_PAGE`] subscribers) per pass.
    pub fanout_steps: usize,
    /// Recipient runs advanced per pass.
    pub runs: usize,
}

impl ResumeBudget {
    /// Small enough for a function with a time limit: a pass re-reads the workflow run's
    /// active runs, so these are kept large enough to make few passes.
    pub const FUNCTION: ResumeBudget = ResumeBudget {
        fanout_steps: FANOUT_STEPS_PER_RESUME,
        runs: RUNS_PER_PASS,
    };

    /// No limit: a long-running process does everything in one pass.
    pub const UNBOUNDED: ResumeBudget = ResumeBudget {
        fanout_steps: usize::MAX,
        runs: usize::MAX,
    };
}

/// The workflow engine. Cheap to clone; share one per process.
#[derive(Clone)]
pub struct Engine {
    store: Arc<dyn Store>,
    waker: Arc<dyn Waker>,
    clock: Arc<dyn Clock>,
    workflows: Arc<WorkflowSet>,
    budget: ResumeBudget,
    fetcher: Option<Arc<dyn Fetcher>>,
    fetch_timeout: std::time::Duration,
    default_timezone: Option<Tz>,
    senders: Senders,
    delivery_timeout: std::time::Duration,
    versions: Arc<versions::Versions>,
    payloads: Arc<data::PayloadCache>,
    in_flight: chrono::Duration,
}

impl Engine {
    /// An engine over the given ports and workflows.
    pub fn new(
        store: Arc<dyn Store>,
        waker: Arc<dyn Waker>,
        clock: Arc<dyn Clock>,
        workflows: Arc<WorkflowSet>,
    ) -> Self {
        Self {
            store,
            waker,
            clock,
            workflows,
            budget: ResumeBudget::FUNCTION,
            fetcher: None,
            fetch_timeout: crate::ports::fetcher::FETCH_TIMEOUT,
            default_timezone: None,
            senders: Senders::new(),
            delivery_timeout: DELIVERY_TIMEOUT,
            versions: Arc::default(),
            payloads: Arc::default(),
            in_flight: IN_FLIGHT,
        }
    }

    /// The same engine with an HTTP client for `http_fetch` steps (without one they fail).
    pub fn with_fetcher(mut self, fetcher: Arc<dyn Fetcher>) -> Self {
        self.fetcher = Some(fetcher);
        self
    }

    /// The same engine with another limit on a fetch's duration (Knock's 15 s by default).
    pub fn with_fetch_timeout(mut self, timeout: std::time::Duration) -> Self {
        self.fetch_timeout = timeout;
        self
    }

    /// The same engine with the senders that hand messages to providers (without one for a
    /// channel's provider, its messages end `undelivered`).
    pub fn with_senders(mut self, senders: Senders) -> Self {
        self.senders = senders;
        self
    }

    /// The same engine with another limit on a delivery attempt's duration (50 s by default).
    pub fn with_delivery_timeout(mut self, timeout: std::time::Duration) -> Self {
        self.delivery_timeout = timeout;
        self
    }

    /// The same engine with the environment's default time zone, for window rules of
    /// recipients without a `timezone` (UTC otherwise).
    pub fn with_default_timezone(mut self, tz: Tz) -> Self {
        self.default_timezone = Some(tz);
        self
    }

    /// The same engine with another bound on how long a trigger holding an idempotency key
    /// counts as under way ([`IN_FLIGHT`] by default). A store whose trigger write is one
    /// transaction (SQLite) may take zero: a second request then runs the trigger again at
    /// once, storing nothing twice. DynamoDB's is several requests, so two at once could
    /// overwrite each other.
    pub fn with_idempotency_in_flight(mut self, bound: std::time::Duration) -> Self {
        self.in_flight = chrono::Duration::from_std(bound).unwrap_or(IN_FLIGHT);
        self
    }

    /// The same engine with another resume budget ([`ResumeBudget::FUNCTION`] by default).
    pub fn with_budget(mut self, budget: ResumeBudget) -> Self {
        self.budget = budget;
        self
    }

    /// The store, for the read-only API routes.
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    /// The clock.
    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.clock
    }

    /// The current time at the precision every store keeps (microseconds), so a time the
    /// engine hands to a waker equals the one a store gives back.
    pub fn now(&self) -> chrono::DateTime<chrono::Utc> {
        chrono::SubsecRound::trunc_subsecs(self.clock.now(), 6)
    }

    /// Wakes an existing workflow run as soon as possible: a wake-up due now (not
    /// [`Waker::start_new_run`], which on AWS leaves new runs to the table stream).
    pub(crate) async fn wake_now(
        &self,
        workflow_run_id: uuid::Uuid,
    ) -> Result<(), crate::error::WakeError> {
        self.waker.wake_at(workflow_run_id, self.now()).await
    }

    /// The loaded workflows.
    pub fn workflows(&self) -> &Arc<WorkflowSet> {
        &self.workflows
    }
}
