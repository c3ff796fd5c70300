//! Validating preference-set request bodies (`PUT …/preferences/{set_id}`), reporting every
//! invalid field.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use super::set::{PreferenceSet, Setting, CHANNEL_TYPES};
use crate::condition::Conditions;
use crate::error::FieldError;

/// How a written set combines with the stored one (`__persistence_strategy__`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Persistence {
    /// The written set replaces the stored one (Knock's default for `PUT`).
    #[default]
    Replace,
    /// The written set is deep-merged into the stored one.
    Merge,
}

const STRATEGY_KEY: &str = "__persistence_strategy__";

impl PreferenceSet {
    /// Parses a request body into the set `id` and its persistence strategy. `id` and
    /// `__typename` in the body are accepted so that a fetched set can be written back; the
    /// `id` argument wins.
    pub fn parse_request(
        id: &str,
        body: &Value,
    ) -> Result<(PreferenceSet, Persistence), Vec<FieldError>> {
        let Value::Object(body) = body else {
            return Err(vec![FieldError::new("body", "must be a JSON object")]);
        };
        let mut errors = Vec::new();
        let mut set = PreferenceSet::new(id);
        let mut persistence = Persistence::default();
        for (key, value) in body {
            match key.as_str() {
                "workflows" => set.workflows = map(value, key, true, false, &mut errors),
                "categories" => set.categories = map(value, key, true, false, &mut errors),
                "channel_types" => set.channel_types = map(value, key, false, true, &mut errors),
                "channels" => set.channels = map(value, key, false, false, &mut errors),
                "commercial_subscribed" if value.is_null() => {}
                "commercial_subscribed" => {
                    set.commercial_subscribed = setting(value, key, false, &mut errors);
                }
                STRATEGY_KEY => match value.as_str() {
                    Some("merge") => persistence = Persistence::Merge,
                    Some("replace") => persistence = Persistence::Replace,
                    _ => errors.push(FieldError::new(key, "must be `merge` or `replace`")),
                },
                "id" | "__typename" => {}
                _ => errors.push(FieldError::new(key, "is not a preference set key")),
            }
        }
        if errors.is_empty() {
            Ok((set, persistence))
        } else {
            Err(errors)
        }
    }
}

/// Parses a map of settings (null reads as empty). `parents` allows nested channels in the
/// entries (workflows, categories); `typed` restricts keys to channel types.
fn map(
    value: &Value,
    field: &str,
    parents: bool,
    typed: bool,
    errors: &mut Vec<FieldError>,
) -> BTreeMap<String, Setting> {
    let entries = match value {
        Value::Null => return BTreeMap::new(),
        Value::Object(entries) => entries,
        _ => {
            errors.push(FieldError::new(field, "must be an object"));
            return BTreeMap::new();
        }
    };
    let mut out = BTreeMap::new();
    for (key, entry) in entries {
        let entry_field = format!("{field}.{key}");
        if typed && !CHANNEL_TYPES.contains(&key.as_str()) {
            errors.push(FieldError::new(
                entry_field,
                format!("must be one of {}", CHANNEL_TYPES.join(", ")),
            ));
            continue;
        }
        if key.is_empty() {
            errors.push(FieldError::new(entry_field, "key must not be empty"));
            continue;
        }
        if let Some(s) = setting(entry, &entry_field, parents, errors) {
            out.insert(key.clone(), s);
        }
    }
    out
}

/// Parses one setting. A `parent` (workflow or category entry) may nest `channel_types` and
/// `channels`; other entries only carry `conditions`.
pub(super) fn setting(
    value: &Value,
    field: &str,
    parent: bool,
    errors: &mut Vec<FieldError>,
) -> Option<Setting> {
    match value {
        Value::Bool(b) => Some(Setting::Bool(*b)),
        Value::Object(map) => Some(detailed(map, field, parent, errors)),
        _ => {
            errors.push(FieldError::new(field, "must be a boolean or an object"));
            None
        }
    }
}

fn detailed(
    map: &Map<String, Value>,
    field: &str,
    parent: bool,
    errors: &mut Vec<FieldError>,
) -> Setting {
    let mut channel_types = BTreeMap::new();
    let mut channels = BTreeMap::new();
    let mut conditions = None;
    for (key, value) in map {
        let key_field = format!("{field}.{key}");
        match key.as_str() {
            "conditions" if value.is_null() => {}
            "conditions" => match Conditions::from_json(value, &key_field) {
                Ok(c) => conditions = Some(c),
                Err(e) => errors.extend(e),
            },
            "channel_types" if parent => {
                channel_types = self::map(value, &key_field, false, true, errors);
            }
            "channels" if parent => channels = self::map(value, &key_field, false, false, errors),
            _ if parent => errors.push(FieldError::new(
                key_field,
                "is not a setting key (`channel_types`, `channels` or `conditions`)",
            )),
            _ => errors.push(FieldError::new(
                key_field,
                "is not allowed here; only `conditions` is",
            )),
        }
    }
    Setting::Detailed {
        channel_types,
        channels,
        conditions,
    }
}
