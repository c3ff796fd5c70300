//! Deciding whether a preference set lets one channel step send.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::set::{PreferenceSet, Setting};

/// The send being decided: one channel step of one workflow.
#[derive(Debug, Clone, Copy)]
pub struct Target<'a> {
    /// The workflow's key.
    pub workflow_key: &'a str,
    /// The workflow's categories.
    pub categories: &'a [String],
    /// The step's channel type (`email`, `in_app_feed`, …).
    pub channel_type: &'a str,
    /// The step's channel id or key.
    pub channel_key: &'a str,
    /// Whether the workflow is commercial (subject to `commercial_subscribed`).
    pub commercial: bool,
}

/// The outcome of a preference check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Every applicable preference allows the send.
    Send,
    /// A preference opts out; the step is skipped.
    Skip {
        /// What opted out, such as `category "marketing" is opted out`.
        reason: String,
    },
}

impl Verdict {
    /// Whether the send may go ahead.
    pub fn is_send(&self) -> bool {
        matches!(self, Verdict::Send)
    }
}

/// Decides `target` against `set` (the effective set, see [`super::Hierarchy`]). Unset
/// preferences opt in; every applicable one must allow the send: the workflow entry, each
/// category entry (a false category beats any channel opt-in), the channel entry (a `channels`
/// entry overrides the `channel_types` entry for that channel, both ways), and
/// `commercial_subscribed` for commercial workflows. Every `conditions` must hold for `scope`.
pub fn evaluate(
    set: Option<&PreferenceSet>,
    target: &Target,
    scope: &Value,
    now: DateTime<Utc>,
) -> Verdict {
    let Some(set) = set else {
        return Verdict::Send;
    };
    let check = Check { target, scope, now };
    match check.set(set) {
        Ok(()) => Verdict::Send,
        Err(reason) => Verdict::Skip { reason },
    }
}

/// One evaluation; methods return the skip reason as the error.
struct Check<'a> {
    target: &'a Target<'a>,
    scope: &'a Value,
    now: DateTime<Utc>,
}

impl Check<'_> {
    fn set(&self, set: &PreferenceSet) -> Result<(), String> {
        let target = self.target;
        if let Some(s) = set.workflows.get(target.workflow_key) {
            self.parent(s, &format!("workflow \"{}\"", target.workflow_key))?;
        }
        for category in target.categories {
            if let Some(s) = set.categories.get(category) {
                self.parent(s, &format!("category \"{category}\""))?;
            }
        }
        self.channel(&set.channel_types, &set.channels, "")?;
        match &set.commercial_subscribed {
            Some(Setting::Bool(false)) if target.commercial => {
                Err("commercial notifications are opted out".into())
            }
            Some(s) if target.commercial => self.leaf(s, "commercial_subscribed"),
            _ => Ok(()),
        }
    }

    /// A workflow or category entry: itself, then its nested channel settings.
    fn parent(&self, setting: &Setting, subject: &str) -> Result<(), String> {
        self.leaf(setting, subject)?;
        if let Setting::Detailed {
            channel_types,
            channels,
            ..
        } = setting
        {
            self.channel(channel_types, channels, &format!(" for {subject}"))?;
        }
        Ok(())
    }

    /// The channel rule: a `channels` entry, if present, decides instead of `channel_types`.
    fn channel(
        &self,
        types: &BTreeMap<String, Setting>,
        channels: &BTreeMap<String, Setting>,
        owner: &str,
    ) -> Result<(), String> {
        let target = self.target;
        if let Some(s) = channels.get(target.channel_key) {
            return self.leaf(s, &format!("channel \"{}\"{owner}", target.channel_key));
        }
        if let Some(s) = types.get(target.channel_type) {
            return self.leaf(
                s,
                &format!("channel type \"{}\"{owner}", target.channel_type),
            );
        }
        Ok(())
    }

    /// A setting's own opt-in: its boolean, or its conditions.
    fn leaf(&self, setting: &Setting, subject: &str) -> Result<(), String> {
        match setting {
            Setting::Bool(true) => Ok(()),
            Setting::Bool(false) => Err(format!("{subject} is opted out")),
            Setting::Detailed {
                conditions: Some(c),
                ..
            } if !c.evaluate(self.scope, self.now) => {
                Err(format!("conditions of {subject} not met"))
            }
            Setting::Detailed { .. } => Ok(()),
        }
    }
}
