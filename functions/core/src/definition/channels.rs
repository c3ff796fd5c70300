use std::collections::HashMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::DefinitionError;

/// The kind of a channel, as Knock names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChannelType {
    /// The in-app feed; the only kind Herald delivers so far.
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

    /// Parses Knock's name of a channel type.
    pub fn parse(name: &str) -> Option<Self> {
        serde_json::from_value(serde_json::Value::String(name.to_string())).ok()
    }
}

#[derive(Deserialize)]
struct ChannelsFile {
    channels: Vec<ChannelEntry>,
}

#[derive(Deserialize)]
struct ChannelEntry {
    key: String,
    #[serde(rename = "type")]
    channel_type: String,
}

/// The channels of an environment, by key (`channels.json` beside the workflows).
#[derive(Debug, Clone, Default)]
pub struct Channels {
    by_key: HashMap<String, ChannelType>,
}

impl Channels {
    /// Reads `file` (`{"channels": [{"key": "in-app", "type": "in_app_feed"}]}`); a missing file
    /// means no channels are configured.
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
        let parsed: ChannelsFile = serde_json::from_str(text)
            .map_err(|e| DefinitionError::file(file, format!("invalid channels file: {e}")))?;
        let mut by_key = HashMap::new();
        for entry in parsed.channels {
            let kind = ChannelType::parse(&entry.channel_type).ok_or_else(|| {
                DefinitionError::file(
                    file,
                    format!(
                        "channel `{}` has unknown type `{}`",
                        entry.key, entry.channel_type
                    ),
                )
            })?;
            if by_key.insert(entry.key.clone(), kind).is_some() {
                return Err(DefinitionError::file(
                    file,
                    format!("channel `{}` is defined twice", entry.key),
                ));
            }
        }
        Ok(Self { by_key })
    }

    /// Adds or replaces a channel; for tests and programmatic set-ups.
    pub fn insert(&mut self, key: impl Into<String>, kind: ChannelType) {
        self.by_key.insert(key.into(), kind);
    }

    /// The type of channel `key`, if configured.
    pub fn get(&self, key: &str) -> Option<ChannelType> {
        self.by_key.get(key).copied()
    }
}
