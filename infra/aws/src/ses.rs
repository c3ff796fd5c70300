//! [`SesSender`]: email channels with provider `ses`, on Amazon SES API v2 `SendEmail` with raw
//! MIME (built by `herald-delivery`, the same email SMTP sends).
//!
//! Settings: `from`, optional `region` (the function's own by default) and `configuration_set`.
//! SES's answer is `sent` (SES reports delivery only through its event notifications). The SDK's
//! own retries are off: Herald's backoff owns them, so each attempt is one request and a
//! delivery log tells the whole story. SES replaces `Message-ID`; `X-Herald-Message-Id` (the
//! message id, the same on every attempt) survives for receivers to deduplicate on.

use std::collections::HashMap;

use async_trait::async_trait;
use aws_sdk_sesv2::primitives::Blob;
use aws_sdk_sesv2::types::{Destination, EmailContent as SesContent, RawMessage};
use herald_core::definition::{Channels, Provider};
use herald_core::message::Content;
use herald_core::ports::{Attempted, Outgoing, Sender, Verdict};
use herald_delivery::mime;
use serde_json::{json, Value};

/// Sends email through SES, one client per channel (its region).
#[derive(Clone, Default)]
pub struct SesSender {
    by_channel: HashMap<String, aws_sdk_sesv2::Client>,
}

impl SesSender {
    /// A client for every `ses` channel of `channels`, from the process's AWS configuration;
    /// `counter`, if given, counts their requests.
    pub fn new(
        sdk: &aws_config::SdkConfig,
        channels: &Channels,
        counter: Option<crate::RequestCounter>,
    ) -> Self {
        let mut by_channel = HashMap::new();
        for channel in channels.all() {
            if channel.provider != Provider::Ses {
                continue;
            }
            let mut config = aws_sdk_sesv2::config::Builder::from(sdk)
                .retry_config(aws_sdk_sesv2::config::retry::RetryConfig::disabled());
            if let Some(counter) = &counter {
                config = config.interceptor(counter.clone());
            }
            if let Some(region) = channel.setting("region") {
                config = config.region(aws_sdk_sesv2::config::Region::new(region.to_string()));
            }
            by_channel.insert(
                channel.key.clone(),
                aws_sdk_sesv2::Client::from_conf(config.build()),
            );
        }
        Self { by_channel }
    }
}

/// SES errors no attempt mends (the message or the account is at fault).
fn fatal(e: &aws_sdk_sesv2::operation::send_email::SendEmailError) -> bool {
    e.is_message_rejected()
        || e.is_mail_from_domain_not_verified_exception()
        || e.is_account_suspended_exception()
        || e.is_sending_paused_exception()
        || e.is_bad_request_exception()
        || e.is_not_found_exception()
}

#[async_trait]
impl Sender for SesSender {
    async fn send(&self, out: Outgoing<'_>) -> Attempted {
        let fail = |request: Value, why: String| Attempted {
            response: json!({"error": why}),
            verdict: Verdict::Fatal(why),
            request,
        };
        let Some(client) = self.by_channel.get(&out.channel.key) else {
            return fail(
                Value::Null,
                format!("channel `{}` has no SES client", out.channel.key),
            );
        };
        let Content::Email(content) = &out.message.content else {
            return fail(Value::Null, "the message is not an email".into());
        };
        let id = out.message.id.to_string();
        let configuration_set = out.channel.setting("configuration_set");
        let request = json!({
            "method": "POST", "path": "/v2/email/outbound-emails",
            "body": {"from": content.from, "to": content.to, "subject": content.subject,
                     "configuration_set": configuration_set, "message_id": id},
        });
        let raw = match mime::build(content, &id) {
            Ok(email) => email.formatted(),
            Err(e) => return fail(request, e.0),
        };
        let raw = match RawMessage::builder().data(Blob::new(raw)).build() {
            Ok(raw) => raw,
            Err(e) => return fail(request, e.to_string()),
        };
        let sent = client
            .send_email()
            .from_email_address(&content.from)
            .destination(Destination::builder().to_addresses(&content.to).build())
            .content(SesContent::builder().raw(raw).build())
            .set_configuration_set_name(configuration_set.map(str::to_string))
            .send();
        let sent = tokio::time::timeout(out.timeout, sent).await;
        let (verdict, response) = match sent {
            Ok(Ok(answer)) => (
                Verdict::Sent,
                json!({"status": 200, "body": {"MessageId": answer.message_id()}}),
            ),
            Ok(Err(e)) => {
                let why = aws_sdk_sesv2::error::DisplayErrorContext(&e).to_string();
                let status = e.raw_response().map(|r| r.status().as_u16());
                let verdict = match e.as_service_error() {
                    Some(s) if fatal(s) => Verdict::Fatal(why.clone()),
                    _ => Verdict::Retry(why.clone()),
                };
                (verdict, json!({"status": status, "error": why}))
            }
            Err(_) => (
                Verdict::Retry("the SES request timed out".into()),
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
