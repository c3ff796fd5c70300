//! Herald's settings from the environment, read and checked once at start-up by the local server
//! and by every Lambda: an empty variable counts as unset, and a bad value stops start-up with
//! an error naming the variable.

use std::str::FromStr;

use chrono_tz::Tz;
use thiserror::Error;

/// A missing or invalid setting.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum ConfigError {
    /// A required variable is unset or empty.
    #[error("environment variable {0} is missing")]
    Missing(&'static str),
    /// A variable is set to something unusable.
    #[error("environment variable {name} is invalid: {reason}")]
    Invalid {
        /// The variable.
        name: &'static str,
        /// What is wrong with its value.
        reason: String,
    },
}

/// Where settings are read from: the process environment, or given pairs (tests).
pub struct Env {
    pairs: Option<Vec<(String, String)>>,
}

impl Env {
    /// The process environment.
    pub fn process() -> Self {
        Self { pairs: None }
    }

    /// Only these pairs (for tests).
    pub fn from_pairs(pairs: &[(&str, &str)]) -> Self {
        let pairs = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Self { pairs: Some(pairs) }
    }

    /// The value of `name`; `None` when unset or empty.
    pub fn get(&self, name: &str) -> Option<String> {
        let value = match &self.pairs {
            None => std::env::var(name).ok(),
            Some(pairs) => pairs
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone()),
        };
        value.filter(|v| !v.is_empty())
    }

    /// The value of a variable that must be set.
    pub fn required(&self, name: &'static str) -> Result<String, ConfigError> {
        self.get(name).ok_or(ConfigError::Missing(name))
    }

    /// The value of `name` parsed, or `default` when unset.
    pub fn parsed<T>(&self, name: &'static str, default: T) -> Result<T, ConfigError>
    where
        T: FromStr,
        T::Err: std::fmt::Display,
    {
        match self.get(name) {
            None => Ok(default),
            Some(v) => v.parse().map_err(|e: T::Err| ConfigError::Invalid {
                name,
                reason: e.to_string(),
            }),
        }
    }

    /// The settings every runtime has.
    pub fn common(&self) -> Result<Common, ConfigError> {
        let default_timezone = match self.get("HERALD_DEFAULT_TIMEZONE") {
            None => None,
            Some(zone) => Some(herald_core::window_rule::parse_timezone(&zone).ok_or_else(
                || ConfigError::Invalid {
                    name: "HERALD_DEFAULT_TIMEZONE",
                    reason: format!("unknown time zone `{zone}`"),
                },
            )?),
        };
        let allow_private_networks = match self.get("HERALD_ALLOW_PRIVATE_NETWORKS").as_deref() {
            None | Some("0") | Some("false") => false,
            Some("1") | Some("true") => true,
            Some(other) => {
                return Err(ConfigError::Invalid {
                    name: "HERALD_ALLOW_PRIVATE_NETWORKS",
                    reason: format!("`{other}` is not 1, 0, true or false"),
                })
            }
        };
        let timeout_secs: u64 = self.parsed("HERALD_DELIVERY_TIMEOUT_SECS", 50)?;
        if !(1..=900).contains(&timeout_secs) {
            return Err(ConfigError::Invalid {
                name: "HERALD_DELIVERY_TIMEOUT_SECS",
                reason: format!("{timeout_secs} is not between 1 and 900"),
            });
        }
        // Rotation: the new key goes in beside the old one, clients move, the old one goes.
        // HERALD_API_KEY is one key, taken whole; HERALD_API_KEYS a list.
        let mut api_keys: Vec<String> = self
            .get("HERALD_API_KEY")
            .map(|k| k.trim().to_string())
            .filter(|k| !k.is_empty())
            .into_iter()
            .collect();
        for key in list(&self.get("HERALD_API_KEYS").unwrap_or_default()) {
            if !api_keys.contains(&key) {
                api_keys.push(key);
            }
        }
        let publishable_keys = list(&self.get("HERALD_PUBLISHABLE_KEYS").unwrap_or_default());
        if let Some(both) = publishable_keys.iter().find(|k| api_keys.contains(k)) {
            return Err(ConfigError::Invalid {
                name: "HERALD_PUBLISHABLE_KEYS",
                reason: format!(
                    "a key ending `{}` is also a secret key",
                    &both[both.len().saturating_sub(4)..]
                ),
            });
        }
        let mut cors_origins = Vec::new();
        for origin in self
            .get("HERALD_CORS_ORIGINS")
            .unwrap_or_default()
            .split(',')
        {
            let origin = origin.trim();
            if origin.is_empty() {
                continue;
            }
            check_origin(origin).map_err(|reason| ConfigError::Invalid {
                name: "HERALD_CORS_ORIGINS",
                reason,
            })?;
            cors_origins.push(origin.to_string());
        }
        Ok(Common {
            api_keys,
            publishable_keys,
            user_token_public_keys: self.get("HERALD_USER_TOKEN_PUBLIC_KEY").unwrap_or_default(),
            cors_origins,
            default_timezone,
            allow_private_networks,
            delivery_timeout: std::time::Duration::from_secs(timeout_secs),
        })
    }
}

/// The distinct non-empty items of a comma-separated list, trimmed, in order.
fn list(value: &str) -> Vec<String> {
    let mut items: Vec<String> = Vec::new();
    for item in value.split(',').map(str::trim).filter(|k| !k.is_empty()) {
        if !items.iter().any(|i| i == item) {
            items.push(item.to_string());
        }
    }
    items
}

/// Why `origin` cannot be a CORS origin, if it cannot: a scheme and a host (and port), no path.
fn check_origin(origin: &str) -> Result<(), String> {
    let host = origin
        .strip_prefix("https://")
        .or_else(|| origin.strip_prefix("http://"));
    match host {
        Some(host)
            if !host.is_empty()
                && host
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "-.:[]".contains(c)) =>
        {
            Ok(())
        }
        _ => Err(format!(
            "`{origin}` is not an origin such as https://app.example.com (scheme and host in lower case, no path)"
        )),
    }
}

/// The settings every runtime has.
#[derive(Debug, Clone, PartialEq)]
pub struct Common {
    /// `HERALD_API_KEY` and the comma-separated `HERALD_API_KEYS`: the secret keys callers may
    /// present, any of them (at least one on AWS; generated locally when none is set).
    pub api_keys: Vec<String>,
    /// `HERALD_PUBLISHABLE_KEYS`, comma-separated: keys a browser may present with a user token
    /// (none by default).
    pub publishable_keys: Vec<String>,
    /// `HERALD_USER_TOKEN_PUBLIC_KEY`: the PEM public key(s) user tokens are verified with, as
    /// given (parsed where the tokens are checked).
    pub user_token_public_keys: String,
    /// `HERALD_CORS_ORIGINS`, comma-separated: the browser origins allowed to call the API (none
    /// by default).
    pub cors_origins: Vec<String>,
    /// `HERALD_DEFAULT_TIMEZONE` (IANA name): window rules of recipients without a timezone.
    pub default_timezone: Option<Tz>,
    /// `HERALD_ALLOW_PRIVATE_NETWORKS=1`: outbound requests may reach loopback and private
    /// networks (local development and tests only).
    pub allow_private_networks: bool,
    /// `HERALD_DELIVERY_TIMEOUT_SECS` (default 50, Knock's webhook timeout): how long one
    /// delivery attempt may take.
    pub delivery_timeout: std::time::Duration,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_is_unset_and_bad_values_name_the_variable() {
        let env = Env::from_pairs(&[
            ("HERALD_API_KEY", ""),
            ("RETENTION_DAYS", "soon"),
            ("HERALD_DEFAULT_TIMEZONE", "Europe/Paris"),
        ]);
        assert_eq!(env.get("HERALD_API_KEY"), None);
        assert_eq!(
            env.required("TABLE_NAME"),
            Err(ConfigError::Missing("TABLE_NAME"))
        );
        let err = env.parsed("RETENTION_DAYS", 30i64).unwrap_err();
        assert!(err.to_string().contains("RETENTION_DAYS"), "{err}");
        assert_eq!(env.parsed("UNSET", 30i64), Ok(30));
        let common = env.common().unwrap();
        assert_eq!(common.default_timezone, Some(chrono_tz::Europe::Paris));
        assert!(common.api_keys.is_empty());
        let keys = Env::from_pairs(&[
            ("HERALD_API_KEY", "sk_a"),
            ("HERALD_API_KEYS", " sk_b, sk_a,,sk_c "),
        ]);
        assert_eq!(
            keys.common().unwrap().api_keys,
            vec!["sk_a", "sk_b", "sk_c"]
        );
        let publishable = Env::from_pairs(&[
            ("HERALD_API_KEY", "sk_a"),
            ("HERALD_PUBLISHABLE_KEYS", "pk_a, pk_b"),
        ]);
        assert_eq!(
            publishable.common().unwrap().publishable_keys,
            vec!["pk_a", "pk_b"]
        );
        let both = Env::from_pairs(&[
            ("HERALD_API_KEY", "sk_secret"),
            ("HERALD_PUBLISHABLE_KEYS", "pk_a,sk_secret"),
        ]);
        let err = both.common().unwrap_err().to_string();
        assert!(
            err.contains("HERALD_PUBLISHABLE_KEYS") && !err.contains("sk_secret"),
            "{err}"
        );
        let cors = Env::from_pairs(&[(
            "HERALD_CORS_ORIGINS",
            "https://app.example.com, http://localhost:3000",
        )]);
        assert_eq!(
            cors.common().unwrap().cors_origins,
            vec!["https://app.example.com", "http://localhost:3000"]
        );
        for bad in [
            "app.example.com",
            "https://app.example.com/",
            "*",
            "https://a b",
            "https://App.example.com",
        ] {
            let env = Env::from_pairs(&[("HERALD_CORS_ORIGINS", bad)]);
            assert!(env.common().is_err(), "{bad}");
        }
        assert!(!common.allow_private_networks);
        let open = Env::from_pairs(&[("HERALD_ALLOW_PRIVATE_NETWORKS", "1")]);
        assert!(open.common().unwrap().allow_private_networks);
        let typo = Env::from_pairs(&[("HERALD_ALLOW_PRIVATE_NETWORKS", "yes")]);
        assert!(typo.common().is_err());
        let bad = Env::from_pairs(&[("HERALD_DEFAULT_TIMEZONE", "Mars/Olympus")]);
        assert!(matches!(
            bad.common(),
            Err(ConfigError::Invalid {
                name: "HERALD_DEFAULT_TIMEZONE",
                ..
            })
        ));
    }
}
