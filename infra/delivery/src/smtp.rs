//! [`SmtpSender`]: email channels with provider `smtp`, one pooled lettre transport per channel.
//!
//! Settings: `host`, `port` (default 587 with `starttls`, 465 with `tls`, 25 with `none`), `tls`
//! (`starttls` by default, `tls`, or `none` for a local relay), `username` and `password`
//! (together), `from`. A 2xx from the server is `sent` (SMTP goes no further); a 5xx fails at once,
//! a 4xx, a timeout or a connection failure is retried.

use std::collections::HashMap;
use std::time::Duration;

use async_trait::async_trait;
use herald_core::definition::{Channels, DefinitionError, Provider};
use herald_core::message::{Content, DeliveryLog};
use herald_core::ports::{Attempted, Outgoing, Sender, Verdict};
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use serde_json::{json, Value};

use crate::mime;

type Transport = AsyncSmtpTransport<Tokio1Executor>;

/// Sends email through each SMTP channel's server.
#[derive(Clone, Default)]
pub struct SmtpSender {
    by_channel: HashMap<String, (Transport, Value)>,
}

impl SmtpSender {
    /// A transport for every `smtp` channel of `channels` (settings resolved); a setting that
    /// cannot make one stops start-up with an error naming the channel.
    pub fn new(channels: &Channels) -> Result<Self, DefinitionError> {
        let mut by_channel = HashMap::new();
        for channel in channels.all() {
            if channel.provider != Provider::Smtp {
                continue;
            }
            let setting = |name: &str| channel.setting(name);
            let host = setting("host").unwrap_or_default();
            let tls = setting("tls").unwrap_or("starttls");
            let builder = match tls {
                "tls" => Transport::relay(host),
                "starttls" => Transport::starttls_relay(host),
                _ => Ok(Transport::builder_dangerous(host)),
            }
            .map_err(|e| channels.error(&channel.key, format!("SMTP settings: {e}")))?;
            let default_port = match tls {
                "tls" => 465,
                "starttls" => 587,
                _ => 25,
            };
            let port = setting("port")
                .and_then(|p| p.parse().ok())
                .unwrap_or(default_port);
            let mut builder = builder.port(port);
            if let (Some(user), Some(password)) = (setting("username"), setting("password")) {
                builder = builder.credentials(Credentials::new(user.into(), password.into()));
            }
            // What a delivery log shows of the server (never the password).
            let server =
                json!({"host": host, "port": port, "tls": tls, "username": setting("username")});
            by_channel.insert(channel.key.clone(), (builder.build(), server));
        }
        Ok(Self { by_channel })
    }
}

fn verdict(e: &lettre::transport::smtp::Error) -> Verdict {
    if e.is_permanent() {
        Verdict::Fatal(format!("the SMTP server refused the email: {e}"))
    } else {
        Verdict::Retry(format!("the SMTP attempt failed: {e}"))
    }
}

#[async_trait]
impl Sender for SmtpSender {
    async fn send(&self, out: Outgoing<'_>) -> Attempted {
        let fail = |request: Value, why: String| Attempted {
            response: json!({"error": why}),
            verdict: Verdict::Fatal(why),
            request,
        };
        let Some((transport, server)) = self.by_channel.get(&out.channel.key) else {
            return fail(
                Value::Null,
                format!("channel `{}` has no SMTP transport", out.channel.key),
            );
        };
        let Content::Email(content) = &out.message.content else {
            return fail(server.clone(), "the message is not an email".into());
        };
        let id = out.message.id.to_string();
        let mut request = server.clone();
        request["from"] = json!(content.from);
        request["to"] = json!(content.to);
        request["subject"] = json!(content.subject);
        request["message_id"] = json!(id);
        let email = match mime::build(content, &id) {
            Ok(email) => email,
            Err(e) => return fail(request, e.0),
        };
        let sent = tokio::time::timeout(
            out.timeout.max(Duration::from_secs(1)),
            transport.send(email),
        )
        .await;
        let (verdict, response) = match sent {
            Ok(Ok(r)) => (
                Verdict::Sent,
                json!({"status": r.code().to_string(), "body": DeliveryLog::excerpt(&r.message().collect::<Vec<_>>().join("\n"))}),
            ),
            Ok(Err(e)) => (
                verdict(&e),
                json!({"status": e.status().map(|c| c.to_string()), "error": e.to_string()}),
            ),
            Err(_) => (
                Verdict::Retry("the SMTP attempt timed out".into()),
                json!({"error": "timed out"}),
            ),
        };
        Attempted {
            verdict,
            request,
            response,
        }
    }
}
