//! The functions' settings, read from the environment once per cold start.

use herald_aws::WakerConfig;
use thiserror::Error;

/// A missing or invalid setting; the function fails at init, not per request.
#[derive(Debug, Error)]
#[error("environment variable {0} is missing or invalid")]
pub struct ConfigError(pub &'static str);

/// Everything a function needs to know about its stack.
#[derive(Debug, Clone)]
pub struct Config {
    /// `TABLE_NAME`.
    pub table: String,
    /// `RETENTION_DAYS` (default 30): how long finished runs and messages are kept.
    pub retention_days: i64,
    /// `HERALD_API_KEY`: the secret key callers present.
    pub api_key: String,
    /// Where wake-ups go.
    pub waker: WakerConfig,
    /// `HERALD_DEFAULT_TIMEZONE` (IANA name): window rules of recipients without a timezone.
    pub default_timezone: Option<chrono_tz::Tz>,
}

impl Config {
    /// Reads the environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        let var = |name: &'static str| {
            std::env::var(name)
                .ok()
                .filter(|v| !v.is_empty())
                .ok_or(ConfigError(name))
        };
        Ok(Self {
            table: var("TABLE_NAME")?,
            retention_days: match std::env::var("RETENTION_DAYS") {
                Ok(v) => v.parse().map_err(|_| ConfigError("RETENTION_DAYS"))?,
                Err(_) => 30,
            },
            api_key: var("HERALD_API_KEY")?,
            default_timezone: match var("HERALD_DEFAULT_TIMEZONE") {
                Ok(name) => Some(
                    herald_core::window_rule::parse_timezone(&name)
                        .ok_or(ConfigError("HERALD_DEFAULT_TIMEZONE"))?,
                ),
                Err(_) => None,
            },
            waker: WakerConfig {
                schedule_group: var("SCHEDULE_GROUP")?,
                target_arn: var("STEP_RESUME_ARN")?,
                role_arn: var("SCHEDULER_ROLE_ARN")?,
                dead_letter_arn: var("SCHEDULER_DLQ_ARN")?,
                queue_url: var("WAKE_QUEUE_URL")?,
            },
        })
    }
}
