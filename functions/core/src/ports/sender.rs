//! The sender port: hands a rendered message to its channel's provider (an SMTP server, Amazon
//! SES, an HTTP endpoint). Adapters live under `infra/`, one per provider.

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::definition::{Channel, Channels, DefinitionError, Provider};
use crate::message::Message;

/// One attempt to hand over.
#[derive(Debug, Clone, Copy)]
pub struct Outgoing<'a> {
    /// The message, content rendered.
    pub message: &'a Message,
    /// Its channel, settings resolved.
    pub channel: &'a Channel,
    /// Which attempt (1 for the first).
    pub attempt: u32,
    /// When it is made (the signatures' timestamp).
    pub now: DateTime<Utc>,
    /// How long it may take.
    pub timeout: std::time::Duration,
}

/// What the provider made of an attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Accepted for onward delivery (SMTP, SES): `sent`.
    Sent,
    /// Confirmed delivered (a webhook's 2xx): `delivered`.
    Delivered,
    /// Failed in a way another attempt may mend (timeout, 5xx, 4xx SMTP, …).
    Retry(String),
    /// Failed in a way no attempt will mend (404, a refused destination, 5xx SMTP, …).
    Fatal(String),
}

/// An attempt's outcome with what its delivery log shows.
#[derive(Debug, Clone, PartialEq)]
pub struct Attempted {
    /// The verdict.
    pub verdict: Verdict,
    /// The request as sent, secrets left out (`{method, host, path, headers, body}`…).
    pub request: Value,
    /// The answer (`{status, body}`) or `{error}`.
    pub response: Value,
}

/// Hands messages to one provider.
#[async_trait]
pub trait Sender: Send + Sync {
    /// Makes one attempt. Never panics and never returns early without a verdict: every
    /// failure is a [`Verdict`].
    async fn send(&self, out: Outgoing<'_>) -> Attempted;
}

/// The senders of an environment, by provider.
#[derive(Clone, Default)]
pub struct Senders {
    by_provider: HashMap<Provider, Arc<dyn Sender>>,
}

impl Senders {
    /// No senders.
    pub fn new() -> Self {
        Self::default()
    }

    /// The same set with `sender` carrying `provider`'s messages.
    pub fn with(mut self, provider: Provider, sender: Arc<dyn Sender>) -> Self {
        self.by_provider.insert(provider, sender);
        self
    }

    /// Checks that every channel of `channels` has a sender for its provider (the in-app feed
    /// needs none).
    pub fn check(&self, channels: &Channels) -> Result<(), DefinitionError> {
        for channel in channels.all() {
            if channel.provider != Provider::InApp && self.get(channel.provider).is_none() {
                return Err(channels.error(
                    &channel.key,
                    format!(
                        "provider `{}` is not available in this build of Herald",
                        channel.provider.as_str()
                    ),
                ));
            }
        }
        Ok(())
    }

    /// The sender for `provider`.
    pub fn get(&self, provider: Provider) -> Option<&Arc<dyn Sender>> {
        self.by_provider.get(&provider)
    }
}
