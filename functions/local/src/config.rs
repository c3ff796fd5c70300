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
    /// `HERALD_API_KEY`; when unset, a key generated once and kept in the data directory.
    pub api_key: String,
    /// Whether the key was generated (and so should be printed).
    pub generated_key: bool,
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
        let (api_key, generated_key) = match common.api_key {
            Some(key) => (key, false),
            None => (local_key(&data_dir)?, true),
        };
        Ok(Self {
            default_timezone: common.default_timezone,
            allow_private_networks: common.allow_private_networks,
            delivery_timeout: common.delivery_timeout,
            addr,
            data_dir,
            workflows_dir,
            api_key,
            generated_key,
        })
    }
}

/// The generated local key: created on first start and kept, so restarts keep working clients.
fn local_key(data_dir: &Path) -> Result<String, String> {
    let file = data_dir.join("api_key");
    if let Ok(key) = std::fs::read_to_string(&file) {
        let key = key.trim().to_string();
        if !key.is_empty() {
            return Ok(key);
        }
    }
    let mut bytes = [0u8; 16];
    rand::rng().fill(&mut bytes);
    let key = format!(
        "sk_local_{}",
        bytes.iter().map(|b| format!("{b:02x}")).collect::<String>()
    );
    std::fs::create_dir_all(data_dir)
        .map_err(|e| format!("cannot create {}: {e}", data_dir.display()))?;
    std::fs::write(&file, &key).map_err(|e| format!("cannot write {}: {e}", file.display()))?;
    Ok(key)
}
