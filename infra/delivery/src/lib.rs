//! Herald's senders, one file per provider: [`smtp`] (lettre) and [`webhook`] (the guarded HTTP
//! client); [`mime`] builds the email both SMTP and Amazon SES send, [`signature`] the webhook
//! signatures. Amazon SES itself lives with the other AWS adapters (`herald-aws`).

pub mod mime;
pub mod signature;
pub mod smtp;
pub mod webhook;

pub use smtp::SmtpSender;
pub use webhook::WebhookSender;

use std::sync::Arc;

use herald_core::definition::{Channels, DefinitionError, Provider};
use herald_core::ports::fetcher::Fetcher;
use herald_core::ports::Senders;

/// The senders this crate provides for `channels` (settings resolved): SMTP and webhooks, the
/// webhooks over `fetcher` (the outbound guard's client). Add Amazon SES from `herald-aws`.
pub fn senders(channels: &Channels, fetcher: Arc<dyn Fetcher>) -> Result<Senders, DefinitionError> {
    Ok(Senders::new()
        .with(Provider::Smtp, Arc::new(SmtpSender::new(channels)?))
        .with(Provider::Webhook, Arc::new(WebhookSender::new(fetcher))))
}
