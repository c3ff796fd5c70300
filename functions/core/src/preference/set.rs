//! Preference sets and their settings, in Knock's JSON shape.

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{json, Map, Value};

use crate::condition::{describe, Conditions};

/// The channel types a `channel_types` preference may name.
pub const CHANNEL_TYPES: [&str; 6] = ["email", "sms", "push", "chat", "in_app_feed", "http"];

/// A recipient's (or tenant's, or environment's) preference set, such as `default`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct PreferenceSet {
    /// The set id: `default` or a tenant id.
    pub id: String,
    /// Per-workflow settings, by workflow key.
    pub workflows: BTreeMap<String, Setting>,
    /// Per-category settings, by category.
    pub categories: BTreeMap<String, Setting>,
    /// Per-channel-type settings (`email`, `sms`, …).
    pub channel_types: BTreeMap<String, Setting>,
    /// Per-channel settings, by channel id or key.
    pub channels: BTreeMap<String, Setting>,
    /// Whether commercial workflows may be sent; `None` when unset (opted in).
    pub commercial_subscribed: Option<Setting>,
}

/// One preference: a plain opt-in/out, or an opt-in refined by channels and conditions.
#[derive(Debug, Clone, PartialEq)]
pub enum Setting {
    /// `true` (opted in) or `false` (opted out).
    Bool(bool),
    /// `{"channel_types": …, "channels": …, "conditions": […]}`. Entries of a set's own
    /// `channel_types`, `channels` and `commercial_subscribed` only carry `conditions`.
    Detailed {
        /// Per-channel-type settings within the workflow or category.
        channel_types: BTreeMap<String, Setting>,
        /// Per-channel settings within the workflow or category.
        channels: BTreeMap<String, Setting>,
        /// Conditions that must hold for the preference to allow a send.
        conditions: Option<Conditions>,
    },
}

impl PreferenceSet {
    /// An empty set (everything opted in) with id `id`.
    pub fn new(id: impl Into<String>) -> Self {
        Self {
            id: id.into(),
            ..Self::default()
        }
    }

    /// Knock's response shape: every key present, maps as objects even when empty, and
    /// `__typename: "PreferenceSet"`.
    pub fn to_wire(&self) -> Value {
        json!({
            "__typename": "PreferenceSet",
            "id": self.id,
            "workflows": map_to_wire(&self.workflows),
            "categories": map_to_wire(&self.categories),
            "channel_types": map_to_wire(&self.channel_types),
            "channels": map_to_wire(&self.channels),
            "commercial_subscribed": self.commercial_subscribed.as_ref().map_or(Value::Null, Setting::to_wire),
        })
    }

    /// Deep-merges `other` into this set (`__persistence_strategy__: merge`, inline
    /// preferences): `other`'s entries win, a detailed setting merges into a detailed setting
    /// key by key, and a boolean replaces whatever was there. The id is kept.
    pub fn merge_from(&mut self, other: &PreferenceSet) {
        merge_map(&mut self.workflows, &other.workflows);
        merge_map(&mut self.categories, &other.categories);
        merge_map(&mut self.channel_types, &other.channel_types);
        merge_map(&mut self.channels, &other.channels);
        if let Some(theirs) = &other.commercial_subscribed {
            match &mut self.commercial_subscribed {
                Some(ours) => ours.merge_from(theirs),
                None => self.commercial_subscribed = Some(theirs.clone()),
            }
        }
    }
}

impl Setting {
    /// A detailed setting with only conditions.
    pub fn with_conditions(conditions: Conditions) -> Self {
        Setting::Detailed {
            channel_types: BTreeMap::new(),
            channels: BTreeMap::new(),
            conditions: Some(conditions),
        }
    }

    /// Knock's JSON: `true`, `false` or an object with only the keys that are set.
    pub fn to_wire(&self) -> Value {
        match self {
            Setting::Bool(b) => Value::Bool(*b),
            Setting::Detailed {
                channel_types,
                channels,
                conditions,
            } => {
                let mut map = Map::new();
                if !channel_types.is_empty() {
                    map.insert("channel_types".into(), map_to_wire(channel_types));
                }
                if !channels.is_empty() {
                    map.insert("channels".into(), map_to_wire(channels));
                }
                if let Some(c) = conditions {
                    map.insert("conditions".into(), c.as_json().clone());
                }
                Value::Object(map)
            }
        }
    }

    /// Deep-merges `other` into this setting; see [`PreferenceSet::merge_from`].
    pub fn merge_from(&mut self, other: &Setting) {
        match (self, other) {
            (
                Setting::Detailed {
                    channel_types,
                    channels,
                    conditions,
                },
                Setting::Detailed {
                    channel_types: their_types,
                    channels: their_channels,
                    conditions: their_conditions,
                },
            ) => {
                merge_map(channel_types, their_types);
                merge_map(channels, their_channels);
                if their_conditions.is_some() {
                    conditions.clone_from(their_conditions);
                }
            }
            (ours, theirs) => *ours = theirs.clone(),
        }
    }
}

fn map_to_wire(map: &BTreeMap<String, Setting>) -> Value {
    Value::Object(map.iter().map(|(k, v)| (k.clone(), v.to_wire())).collect())
}

fn merge_map(ours: &mut BTreeMap<String, Setting>, theirs: &BTreeMap<String, Setting>) {
    for (key, setting) in theirs {
        match ours.get_mut(key) {
            Some(existing) => existing.merge_from(setting),
            None => {
                ours.insert(key.clone(), setting.clone());
            }
        }
    }
}

impl Serialize for Setting {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.to_wire().serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for Setting {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = Value::deserialize(deserializer)?;
        let mut errors = Vec::new();
        match super::parse::setting(&value, "setting", true, &mut errors) {
            Some(setting) if errors.is_empty() => Ok(setting),
            _ => Err(serde::de::Error::custom(describe(&errors))),
        }
    }
}

impl Serialize for PreferenceSet {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.to_wire().serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for PreferenceSet {
    /// Reads [`PreferenceSet::to_wire`]'s shape; `id` is required.
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = Value::deserialize(deserializer)?;
        let Some(id) = value.get("id").and_then(Value::as_str) else {
            return Err(serde::de::Error::custom("id is required"));
        };
        PreferenceSet::parse_request(id, &value)
            .map(|(set, _)| set)
            .map_err(|errors| serde::de::Error::custom(describe(&errors)))
    }
}
