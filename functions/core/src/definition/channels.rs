//! Channels (`channels.json` beside the workflows): what a step's `channel_key` sends through.
//!
//! ```json
//! {"channels": [
//!   {"key": "in-app", "type": "in_app_feed"},
//!   {"key": "email", "type": "email", "provider": "smtp",
//!    "settings": {"host": "smtp.example.com", "port": 587, "tls": "starttls",
//!                 "username": "herald", "password": {"env": "SMTP_PASSWORD"},
//!                 "from": "Acme <noreply@example.com>"}}
//! ]}
//! ```
//!
//! Knock keeps channels in account settings and pulls none with the CLI, so the format is
//! Herald's own. Any setting may be `{"env": "NAME"}`: the value is resolved when the server
//! starts (from the environment locally, from the stage's secret on AWS), so no secret sits in a
//! file.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use uuid::Uuid;

use super::layouts::Layout;
use super::DefinitionError;

/// The kind of a channel, as Knock names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChannelType {
    /// The in-app feed.
    InAppFeed,
    /// Email.
    Email,
    /// SMS.
    Sms,
    /// Push.
    Push,
    /// Chat (Slack, Teams, Discord).
    Chat,
    /// Outbound webhook.
    Http,
}

impl ChannelType {
    /// Knock's name of the channel type.
    pub fn as_str(self) -> &'static str {
        match self {
            ChannelType::InAppFeed => "in_app_feed",
            ChannelType::Email => "email",
            ChannelType::Sms => "sms",
            ChannelType::Push => "push",
            ChannelType::Chat => "chat",
            ChannelType::Http => "http",
        }
    }

    /// Parses Knock's name of a channel type (`in_app` is accepted for `in_app_feed`).
    pub fn parse(name: &str) -> Option<Self> {
        if name == "in_app" {
            return Some(ChannelType::InAppFeed);
        }
        serde_json::from_value(Value::String(name.to_string())).ok()
    }
}

/// Who carries a channel's messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Provider {
    /// Herald itself: the in-app feed.
    InApp,
    /// An SMTP server.
    Smtp,
    /// Amazon SES (API v2).
    Ses,
    /// An HTTP endpoint (Knock's webhook channel).
    Webhook,
}

impl Provider {
    /// The name in `channels.json` (and in Knock's `channel.provider`).
    pub fn as_str(self) -> &'static str {
        match self {
            Provider::InApp => "knock",
            Provider::Smtp => "smtp",
            Provider::Ses => "ses",
            Provider::Webhook => "webhook",
        }
    }

    /// The name delivery logs give the service (Knock's `service_name`).
    pub fn service_name(self) -> &'static str {
        match self {
            Provider::InApp => "Knock",
            Provider::Smtp => "SMTP",
            Provider::Ses => "Amazon SES",
            Provider::Webhook => "Webhook",
        }
    }

    /// The providers of a channel type, and the default when `provider` is left out.
    fn of(kind: ChannelType) -> (&'static [Provider], Option<Provider>) {
        match kind {
            ChannelType::InAppFeed => (&[Provider::InApp], Some(Provider::InApp)),
            ChannelType::Email => (&[Provider::Smtp, Provider::Ses], None),
            ChannelType::Http => (&[Provider::Webhook], Some(Provider::Webhook)),
            ChannelType::Sms | ChannelType::Push | ChannelType::Chat => (&[], None),
        }
    }

    /// The settings this provider takes: (required, optional).
    fn settings(self) -> (&'static [&'static str], &'static [&'static str]) {
        match self {
            Provider::InApp => (&[], &[]),
            Provider::Smtp => (&["host", "from"], &["port", "tls", "username", "password"]),
            Provider::Ses => (&["from"], &["region", "configuration_set"]),
            Provider::Webhook => (&[], &["signing_secret"]),
        }
    }
}

/// A setting's value: written in the file, or named for the environment.
#[derive(Clone, PartialEq, Eq)]
enum Setting {
    /// Written in `channels.json`.
    Literal(String),
    /// `{"env": "NAME"}`, not resolved yet.
    Env(String),
    /// `{"env": "NAME"}` resolved: never shown in logs or errors.
    Secret {
        /// The variable it came from.
        name: String,
        /// Its value.
        value: String,
    },
}

impl std::fmt::Debug for Setting {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Setting::Literal(v) => write!(f, "{v:?}"),
            Setting::Env(name) | Setting::Secret { name, .. } => write!(f, "{{env: {name}}}"),
        }
    }
}

/// One channel.
#[derive(Debug, Clone)]
pub struct Channel {
    /// The stable id Knock's channel-data routes and feeds use (a UUID derived from the key
    /// when the file gives none, so it is the same in every environment).
    pub id: Uuid,
    /// The key steps name (`channel_key`).
    pub key: String,
    /// The display name.
    pub name: Option<String>,
    /// The type.
    pub channel_type: ChannelType,
    /// Who carries its messages.
    pub provider: Provider,
    settings: BTreeMap<String, Setting>,
}

impl Channel {
    /// A resolved setting's value (`None` when unset).
    pub fn setting(&self, name: &str) -> Option<&str> {
        match self.settings.get(name)? {
            Setting::Literal(v) | Setting::Secret { value: v, .. } => Some(v),
            Setting::Env(_) => None,
        }
    }

    fn new(key: &str, kind: ChannelType, provider: Provider) -> Self {
        Self {
            id: derived_id(key),
            key: key.to_string(),
            name: None,
            channel_type: kind,
            provider,
            settings: BTreeMap::new(),
        }
    }
}

/// The UUID of a channel whose entry gives no `id`: the same for the same key everywhere.
fn derived_id(key: &str) -> Uuid {
    const NAMESPACE: Uuid = Uuid::from_u128(0x6865_7261_6c64_4000_8000_6368_616e_6e6c);
    Uuid::new_v5(&NAMESPACE, key.as_bytes())
}

/// The channels of an environment, by key.
#[derive(Debug, Clone, Default)]
pub struct Channels {
    file: PathBuf,
    by_key: HashMap<String, Channel>,
    /// Email layouts by key (`layouts/<key>/layout.json`): what an email channel wraps
    /// its templates in.
    layouts: HashMap<String, Arc<Layout>>,
}

impl Channels {
    /// Reads `file`; a missing file means no channels are configured.
    pub fn load(file: &Path) -> Result<Self, DefinitionError> {
        if !file.exists() {
            return Ok(Self::default());
        }
        let text = std::fs::read_to_string(file)
            .map_err(|e| DefinitionError::file(file, format!("cannot read: {e}")))?;
        Self::parse(&text, file)
    }

    /// Parses the text of a channels file; `file` names it in errors.
    pub fn parse(text: &str, file: &Path) -> Result<Self, DefinitionError> {
        let fail = |m: String| DefinitionError::file(file, m);
        let value: Value =
            serde_json::from_str(text).map_err(|e| fail(format!("invalid channels file: {e}")))?;
        let entries = value
            .get("channels")
            .and_then(Value::as_array)
            .ok_or_else(|| fail("invalid channels file: `channels` must be an array".into()))?;
        let mut channels = Self {
            file: file.to_path_buf(),
            ..Self::default()
        };
        for (i, entry) in entries.iter().enumerate() {
            let channel = parse_channel(entry).map_err(|m| match entry.get("key") {
                Some(Value::String(k)) => fail(format!("channel `{k}`: {m}")),
                _ => fail(format!("channel {i}: {m}")),
            })?;
            let clash = channels
                .by_key
                .values()
                .any(|c| c.id == channel.id && c.key != channel.key);
            if clash {
                return Err(fail(format!(
                    "channel `{}`: id {} is used twice",
                    channel.key, channel.id
                )));
            }
            let key = channel.key.clone();
            if channels.by_key.insert(key.clone(), channel).is_some() {
                return Err(fail(format!("channel `{key}` is defined twice")));
            }
        }
        Ok(channels)
    }

    /// Adds or replaces a channel of `kind` with its default provider and no settings; for
    /// tests and programmatic set-ups.
    pub fn insert(&mut self, key: impl Into<String>, kind: ChannelType) {
        let key = key.into();
        let (providers, default) = Provider::of(kind);
        let provider = default
            .or(providers.first().copied())
            .unwrap_or(Provider::InApp);
        self.by_key
            .insert(key.clone(), Channel::new(&key, kind, provider));
    }

    /// Adds or replaces a fully described channel; `settings` are literal values.
    pub fn insert_with(
        &mut self,
        key: impl Into<String>,
        kind: ChannelType,
        provider: Provider,
        settings: impl IntoIterator<Item = (&'static str, String)>,
    ) {
        let key = key.into();
        let mut channel = Channel::new(&key, kind, provider);
        for (name, value) in settings {
            channel
                .settings
                .insert(name.to_string(), Setting::Literal(value));
        }
        self.by_key.insert(key, channel);
    }

    /// The type of channel `key`, if configured.
    pub fn get(&self, key: &str) -> Option<ChannelType> {
        self.by_key.get(key).map(|c| c.channel_type)
    }

    /// Channel `key`, if configured.
    pub fn channel(&self, key: &str) -> Option<&Channel> {
        self.by_key.get(key)
    }

    /// Every channel, sorted by key.
    pub fn all(&self) -> Vec<&Channel> {
        let mut all: Vec<_> = self.by_key.values().collect();
        all.sort_by(|a, b| a.key.cmp(&b.key));
        all
    }

    /// Adds an email layout.
    pub fn add_layout(&mut self, layout: Layout) {
        self.layouts.insert(layout.key.clone(), Arc::new(layout));
    }

    /// The email layout `key`.
    pub fn layout(&self, key: &str) -> Option<Arc<Layout>> {
        self.layouts.get(key).cloned()
    }

    /// Resolves every `{"env": NAME}` setting through `lookup`; a name it does not know stops
    /// start-up with an error naming the file, the channel and the variable.
    pub fn resolve(
        &mut self,
        lookup: &dyn Fn(&str) -> Option<String>,
    ) -> Result<(), DefinitionError> {
        for channel in self.by_key.values_mut() {
            for (setting, value) in channel.settings.iter_mut() {
                if let Setting::Env(name) = value {
                    let Some(resolved) = lookup(name) else {
                        return Err(DefinitionError::file(
                            &self.file,
                            format!(
                                "channel `{}`: setting `{setting}` names the environment variable `{name}`, which is not set",
                                channel.key
                            ),
                        ));
                    };
                    *value = Setting::Secret {
                        name: name.clone(),
                        value: resolved,
                    };
                }
            }
            check_values(channel).map_err(|m| {
                DefinitionError::file(&self.file, format!("channel `{}`: {m}", channel.key))
            })?;
        }
        Ok(())
    }

    /// The names of the environment variables the settings refer to, sorted.
    pub fn env_names(&self) -> Vec<String> {
        let mut names: Vec<String> = self
            .by_key
            .values()
            .flat_map(|c| c.settings.values())
            .filter_map(|s| match s {
                Setting::Env(n) | Setting::Secret { name: n, .. } => Some(n.clone()),
                Setting::Literal(_) => None,
            })
            .collect();
        names.sort();
        names.dedup();
        names
    }

    /// An error about channel `key`, naming the channels file.
    pub fn error(&self, key: &str, message: impl std::fmt::Display) -> DefinitionError {
        DefinitionError::file(&self.file, format!("channel `{key}`: {message}"))
    }
}

fn parse_channel(entry: &Value) -> Result<Channel, String> {
    let obj = entry.as_object().ok_or("must be an object")?;
    for field in obj.keys() {
        if ![
            "key",
            "type",
            "provider",
            "settings",
            "id",
            "name",
            "description",
        ]
        .contains(&field.as_str())
        {
            return Err(format!("unknown field `{field}`"));
        }
    }
    let key = match obj.get("key") {
        Some(Value::String(k)) if !k.is_empty() => k.as_str(),
        _ => return Err("`key` is required".into()),
    };
    let type_name = obj
        .get("type")
        .and_then(Value::as_str)
        .ok_or("`type` is required")?;
    let kind =
        ChannelType::parse(type_name).ok_or_else(|| format!("unknown type `{type_name}`"))?;
    let (providers, default) = Provider::of(kind);
    if providers.is_empty() {
        return Err(format!(
            "type `{type_name}` is not supported by this version of Herald (in_app_feed, email and http are)"
        ));
    }
    let provider = match obj.get("provider") {
        None | Some(Value::Null) => default.ok_or_else(|| {
            let names: Vec<_> = providers.iter().map(|p| p.as_str()).collect();
            format!(
                "`provider` is required for type `{type_name}` (one of {})",
                names.join(", ")
            )
        })?,
        Some(Value::String(p)) => *providers.iter().find(|c| c.as_str() == p).ok_or_else(|| {
            let names: Vec<_> = providers.iter().map(|p| p.as_str()).collect();
            format!(
                "unknown provider `{p}` for type `{type_name}` (one of {})",
                names.join(", ")
            )
        })?,
        Some(_) => return Err("`provider` must be a string".into()),
    };
    let mut channel = Channel::new(key, kind, provider);
    match obj.get("id") {
        None | Some(Value::Null) => {}
        Some(Value::String(id)) => {
            channel.id = Uuid::parse_str(id).map_err(|_| format!("`id` `{id}` is not a UUID"))?
        }
        Some(_) => return Err("`id` must be a UUID string".into()),
    }
    channel.name = obj.get("name").and_then(Value::as_str).map(str::to_string);
    let empty = Map::new();
    let settings = match obj.get("settings") {
        None | Some(Value::Null) => &empty,
        Some(Value::Object(s)) => s,
        Some(_) => return Err("`settings` must be an object".into()),
    };
    let (required, optional) = provider.settings();
    for (name, value) in settings {
        if !required.contains(&name.as_str()) && !optional.contains(&name.as_str()) {
            let mut known: Vec<_> = required.iter().chain(optional).copied().collect();
            known.sort_unstable();
            return Err(format!(
                "unknown setting `{name}` for provider `{}` (known: {})",
                provider.as_str(),
                if known.is_empty() {
                    "none".to_string()
                } else {
                    known.join(", ")
                }
            ));
        }
        let setting = match value {
            Value::String(s) => Setting::Literal(s.clone()),
            Value::Number(n) => Setting::Literal(n.to_string()),
            Value::Bool(b) => Setting::Literal(b.to_string()),
            Value::Object(o) if o.len() == 1 => match o.get("env") {
                Some(Value::String(n)) if !n.is_empty() => Setting::Env(n.clone()),
                _ => {
                    return Err(format!(
                        "setting `{name}`: write a value or {{\"env\": \"NAME\"}}"
                    ))
                }
            },
            _ => {
                return Err(format!(
                    "setting `{name}`: write a value or {{\"env\": \"NAME\"}}"
                ))
            }
        };
        channel.settings.insert(name.clone(), setting);
    }
    if let Some(missing) = required
        .iter()
        .find(|r| !channel.settings.contains_key(**r))
    {
        return Err(format!(
            "setting `{missing}` is required for provider `{}`",
            provider.as_str()
        ));
    }
    check_values(&channel)?;
    Ok(channel)
}

/// Checks the values that are known (literal, or resolved) of settings with a fixed form.
fn check_values(channel: &Channel) -> Result<(), String> {
    if channel.provider == Provider::Smtp {
        // A value from the environment is not repeated in the error: it may be a secret.
        let shown = |name: &str, value: &str| match channel.settings.get(name) {
            Some(Setting::Literal(_)) => format!(", not `{value}`"),
            _ => String::new(),
        };
        if let Some(port) = channel.setting("port") {
            port.parse::<u16>().map_err(|_| {
                format!(
                    "setting `port` must be a port number{}",
                    shown("port", port)
                )
            })?;
        }
        if let Some(tls) = channel.setting("tls") {
            if !["none", "starttls", "tls"].contains(&tls) {
                return Err(format!(
                    "setting `tls` must be `none`, `starttls` or `tls`{}",
                    shown("tls", tls)
                ));
            }
        }
        if channel.settings.contains_key("username") != channel.settings.contains_key("password") {
            return Err("settings `username` and `password` go together".into());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Channels, String> {
        Channels::parse(text, Path::new("workflows/channels.json")).map_err(|e| e.to_string())
    }

    #[test]
    fn parses_providers_settings_and_ids() {
        let c = parse(
            r#"{"channels": [
              {"key": "in-app", "type": "in_app_feed"},
              {"key": "mail", "type": "email", "provider": "smtp", "id": "0c8b5f3e-3f6c-4a55-9d3b-6a1a3a7e9b10",
               "settings": {"host": "127.0.0.1", "port": 2525, "tls": "none", "from": "a@b.c"}},
              {"key": "hooks", "type": "http", "settings": {"signing_secret": {"env": "HOOK_SECRET"}}}
            ]}"#,
        )
        .unwrap();
        let mail = c.channel("mail").unwrap();
        assert_eq!(mail.provider, Provider::Smtp);
        assert_eq!(mail.setting("port"), Some("2525"));
        assert_eq!(mail.id.to_string(), "0c8b5f3e-3f6c-4a55-9d3b-6a1a3a7e9b10");
        let hooks = c.channel("hooks").unwrap();
        assert_eq!(hooks.provider, Provider::Webhook);
        assert_eq!(hooks.setting("signing_secret"), None, "not resolved yet");
        // Derived ids are stable: the same key gives the same id in every environment.
        assert_eq!(
            c.channel("in-app").unwrap().id,
            parse(r#"{"channels": [{"key": "in-app", "type": "in_app_feed"}]}"#)
                .unwrap()
                .channel("in-app")
                .unwrap()
                .id
        );
    }

    #[test]
    fn resolves_env_references_and_keeps_them_out_of_debug_output() {
        let mut c = parse(
            r#"{"channels": [{"key": "hooks", "type": "http", "settings": {"signing_secret": {"env": "HOOK_SECRET"}}}]}"#,
        )
        .unwrap();
        assert_eq!(c.env_names(), vec!["HOOK_SECRET"]);
        c.resolve(&|name| (name == "HOOK_SECRET").then(|| "s3cret".to_string()))
            .unwrap();
        assert_eq!(
            c.channel("hooks").unwrap().setting("signing_secret"),
            Some("s3cret")
        );
        assert!(!format!("{c:?}").contains("s3cret"));

        // Credentials may both come from the environment.
        let mut smtp = parse(
            r#"{"channels": [{"key": "m", "type": "email", "provider": "smtp", "settings": {"host": "h", "from": "f",
                "username": {"env": "SMTP_USER"}, "password": {"env": "SMTP_PASSWORD"}}}]}"#,
        )
        .unwrap();
        smtp.resolve(&|name| Some(format!("value-of-{name}")))
            .unwrap();
        assert_eq!(
            smtp.channel("m").unwrap().setting("username"),
            Some("value-of-SMTP_USER")
        );

        let mut missing = parse(
            r#"{"channels": [{"key": "hooks", "type": "http", "settings": {"signing_secret": {"env": "NOPE"}}}]}"#,
        )
        .unwrap();
        let e = missing.resolve(&|_| None).unwrap_err().to_string();
        assert!(
            e.contains("workflows/channels.json")
                && e.contains("channel `hooks`")
                && e.contains("`NOPE`"),
            "{e}"
        );
    }

    #[test]
    fn bad_entries_name_the_file_and_channel() {
        for (text, expected) in [
            (
                r#"{"channels": [{"key": "x", "type": "pigeon"}]}"#,
                "unknown type `pigeon`",
            ),
            (
                r#"{"channels": [{"key": "x", "type": "email"}]}"#,
                "`provider` is required",
            ),
            (
                r#"{"channels": [{"key": "x", "type": "email", "provider": "postmark", "settings": {}}]}"#,
                "unknown provider `postmark`",
            ),
            (
                r#"{"channels": [{"key": "x", "type": "email", "provider": "smtp", "settings": {"host": "h"}}]}"#,
                "setting `from` is required",
            ),
            (
                r#"{"channels": [{"key": "x", "type": "email", "provider": "smtp", "settings": {"host": "h", "from": "f", "tls": "maybe"}}]}"#,
                "setting `tls`",
            ),
            (
                r#"{"channels": [{"key": "x", "type": "email", "provider": "ses", "settings": {"from": "f", "api_key": "k"}}]}"#,
                "unknown setting `api_key`",
            ),
            (
                r#"{"channels": [{"key": "x", "type": "sms", "provider": "twilio"}]}"#,
                "not supported",
            ),
            (
                r#"{"channels": [{"key": "x", "type": "in_app_feed"}, {"key": "x", "type": "in_app_feed"}]}"#,
                "defined twice",
            ),
        ] {
            let e = parse(text).unwrap_err();
            assert!(
                e.contains("workflows/channels.json") && e.contains("`x`") && e.contains(expected),
                "{text}: {e}"
            );
        }
    }
}
