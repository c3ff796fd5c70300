//! Settings from the environment, read and checked once at start-up.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use herald_config::Env;
use rand::Rng;

/// The local server's settings.
pub struct Config {
    /// `HERALD_ADDR`, default `127.0.0.1:8080`.
    pub addr: SocketAddr,
    /// `HERALD_DATA_DIR`, default `./.herald`.
    pub data_dir: PathBuf,
    /// `HERALD_WORKFLOWS_DIR`, default `./workflows`.
    pub workflows_dir: PathBuf,
    /// `HERALD_API_KEY` / `HERALD_API_KEYS`; when neither is set, a key generated once and kept
    /// in the data directory.
    pub api_keys: Vec<String>,
    /// Where the key came from (a generated one is printed once, when generated).
    pub key_source: KeySource,
    /// `HERALD_CORS_ORIGINS`: browser origins allowed to call the API.
    pub cors_origins: Vec<String>,
    /// `HERALD_PUBLISHABLE_KEYS`: keys browsers present with a user token.
    pub publishable_keys: Vec<String>,
    /// `HERALD_USER_TOKEN_PUBLIC_KEY`: what user tokens are verified with.
    pub user_token_keys: herald_http::auth::TokenKeys,
    /// `HERALD_MAX_CONNECTIONS` (default 1024) and `HERALD_HEADER_TIMEOUT_SECS` (default 10).
    pub connections: crate::listen::Limits,
    /// `HERALD_BODY_TIMEOUT_SECS` (default 30): how long a request body may take to arrive.
    pub body_timeout: std::time::Duration,
    /// `HERALD_DEFAULT_TIMEZONE` (IANA name): window rules of recipients without a timezone.
    pub default_timezone: Option<chrono_tz::Tz>,
    /// `HERALD_ALLOW_PRIVATE_NETWORKS=1`: fetch steps may reach loopback and private networks.
    pub allow_private_networks: bool,
    /// `HERALD_DELIVERY_TIMEOUT_SECS` (default 50): how long one delivery attempt may take.
    pub delivery_timeout: std::time::Duration,
}

impl Config {
    /// Reads the process environment.
    pub fn from_env() -> Result<Self, String> {
        let env = Env::process();
        let common = env.common().map_err(|e| e.to_string())?;
        let addr = env
            .parsed("HERALD_ADDR", SocketAddr::from(([127, 0, 0, 1], 8080)))
            .map_err(|e| e.to_string())?;
        let data_dir = PathBuf::from(
            env.get("HERALD_DATA_DIR")
                .unwrap_or_else(|| ".herald".into()),
        );
        let workflows_dir = PathBuf::from(
            env.get("HERALD_WORKFLOWS_DIR")
                .unwrap_or_else(|| "workflows".into()),
        );
        let (api_keys, key_source) = if common.api_keys.is_empty() {
            let (key, source) = local_key(&data_dir)?;
            (vec![key], source)
        } else {
            (common.api_keys, KeySource::Environment)
        };
        let max_connections: usize = env
            .parsed("HERALD_MAX_CONNECTIONS", 1024)
            .map_err(|e| e.to_string())?;
        let header_timeout = seconds(&env, "HERALD_HEADER_TIMEOUT_SECS", 10)?;
        let body_timeout = seconds(&env, "HERALD_BODY_TIMEOUT_SECS", 30)?;
        if max_connections == 0 {
            return Err(
                "environment variable HERALD_MAX_CONNECTIONS is invalid: 0 accepts none".into(),
            );
        }
        Ok(Self {
            connections: crate::listen::Limits {
                max_connections,
                header_timeout,
            },
            body_timeout,
            default_timezone: common.default_timezone,
            allow_private_networks: common.allow_private_networks,
            delivery_timeout: common.delivery_timeout,
            addr,
            data_dir,
            workflows_dir,
            api_keys,
            cors_origins: common.cors_origins,
            publishable_keys: common.publishable_keys,
            user_token_keys: user_token_keys(&common.user_token_public_keys)?,
            key_source,
        })
    }
}

/// A duration setting in whole seconds, 1 to 3600.
fn seconds(env: &Env, name: &'static str, default: u64) -> Result<std::time::Duration, String> {
    let secs: u64 = env.parsed(name, default).map_err(|e| e.to_string())?;
    if !(1..=3600).contains(&secs) {
        return Err(format!(
            "environment variable {name} is invalid: {secs} is not between 1 and 3600"
        ));
    }
    Ok(std::time::Duration::from_secs(secs))
}

/// The user-token keys `HERALD_USER_TOKEN_PUBLIC_KEY` holds.
pub fn user_token_keys(setting: &str) -> Result<herald_http::auth::TokenKeys, String> {
    herald_http::auth::TokenKeys::parse(setting).map_err(|reason| {
        format!("environment variable HERALD_USER_TOKEN_PUBLIC_KEY is invalid: {reason}")
    })
}

/// Where the API key came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeySource {
    /// `HERALD_API_KEY`.
    Environment,
    /// The data folder's `api_key`, generated at an earlier start.
    Kept,
    /// Generated at this start, and kept in the data folder.
    Generated,
}

/// The generated local key: created on first start (readable by its owner only) and kept, so
/// restarts keep working clients.
fn local_key(data_dir: &Path) -> Result<(String, KeySource), String> {
    let file = data_dir.join("api_key");
    if let Ok(key) = std::fs::read_to_string(&file) {
        let key = key.trim().to_string();
        if !key.is_empty() {
            // Kept by an earlier version, perhaps readable to others.
            herald_embedded::private::create_dir(data_dir)
                .map_err(|e| format!("cannot create {}: {e}", data_dir.display()))?;
            herald_embedded::private::restrict(&file)
                .map_err(|e| format!("cannot restrict {}: {e}", file.display()))?;
            return Ok((key, KeySource::Kept));
        }
        std::fs::remove_file(&file)
            .map_err(|e| format!("cannot replace {}: {e}", file.display()))?;
    }
    let mut bytes = [0u8; 16];
    rand::rng().fill(&mut bytes);
    let key = format!(
        "sk_local_{}",
        bytes.iter().map(|b| format!("{b:02x}")).collect::<String>()
    );
    herald_embedded::private::create_dir(data_dir)
        .map_err(|e| format!("cannot create {}: {e}", data_dir.display()))?;
    herald_embedded::private::create_file(&file, key.as_bytes())
        .map_err(|e| format!("cannot write {}: {e}", file.display()))?;
    Ok((key, KeySource::Generated))
}
