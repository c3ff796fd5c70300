//! The functions' settings, read from the environment once per cold start.

use herald_aws::WakerConfig;
use herald_config::{ConfigError, Env};

/// Everything a function needs to know about its stack.
#[derive(Debug, Clone)]
pub struct Config {
    /// `TABLE_NAME`.
    pub table: String,
    /// `DATA_BUCKET`: the S3 bucket for run data too large for a table item.
    pub data_bucket: String,
    /// `RETENTION_DAYS` (default 30): how long finished runs and messages are kept.
    pub retention_days: i64,
    /// `HERALD_API_KEY` / `HERALD_API_KEYS`: the secret keys callers may present (at least one).
    pub api_keys: Vec<String>,
    /// `HERALD_PUBLISHABLE_KEYS`: keys browsers present with a user token.
    pub publishable_keys: Vec<String>,
    /// `HERALD_USER_TOKEN_PUBLIC_KEY`: what user tokens are verified with.
    pub user_token_keys: herald_http::auth::TokenKeys,
    /// Where wake-ups go.
    pub waker: WakerConfig,
    /// `HERALD_DEFAULT_TIMEZONE` (IANA name): window rules of recipients without a timezone.
    pub default_timezone: Option<chrono_tz::Tz>,
    /// `HERALD_ALLOW_PRIVATE_NETWORKS=1`: fetch steps may reach private networks (never set by
    /// the template).
    pub allow_private_networks: bool,
    /// `HERALD_DELIVERY_TIMEOUT_SECS` (default 50): how long one delivery attempt may take.
    pub delivery_timeout: std::time::Duration,
    /// `HERALD_SECRETS_ARN`: the stage's secret, a JSON object holding the values that
    /// `{"env": NAME}` channel settings name.
    pub secrets_arn: Option<String>,
}

impl Config {
    /// Reads the process environment; the function fails at init, not per request.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from(&Env::process())
    }

    /// Reads `env`.
    pub fn from(env: &Env) -> Result<Self, ConfigError> {
        let common = env.common()?;
        Ok(Self {
            table: env.required("TABLE_NAME")?,
            data_bucket: env.required("DATA_BUCKET")?,
            retention_days: env.parsed("RETENTION_DAYS", 30)?,
            api_keys: Some(common.api_keys)
                .filter(|keys| !keys.is_empty())
                .ok_or(ConfigError::Missing("HERALD_API_KEYS"))?,
            publishable_keys: common.publishable_keys,
            user_token_keys: herald_http::auth::TokenKeys::parse(&common.user_token_public_keys)
                .map_err(|reason| ConfigError::Invalid {
                    name: "HERALD_USER_TOKEN_PUBLIC_KEY",
                    reason,
                })?,
            default_timezone: common.default_timezone,
            allow_private_networks: common.allow_private_networks,
            delivery_timeout: common.delivery_timeout,
            secrets_arn: env.get("HERALD_SECRETS_ARN"),
            waker: WakerConfig {
                schedule_group: env.required("SCHEDULE_GROUP")?,
                target_arn: env.required("STEP_RESUME_ARN")?,
                role_arn: env.required("SCHEDULER_ROLE_ARN")?,
                dead_letter_arn: env.required("SCHEDULER_DLQ_ARN")?,
                queue_url: env.required("WAKE_QUEUE_URL")?,
                dead_letter_url: env.required("WAKE_DLQ_URL")?,
            },
        })
    }
}
