//! [`WebhookSender`]: Knock's webhook channel (`http`, provider `webhook`). The request was
//! rendered when the message was made; each attempt signs it anew and sends it through the
//! guarded HTTP client, never following a redirect.
//!
//! Outcomes, as Knock's: a 2xx is `delivered`; 401, 403, 404, 405, a malformed URL, a refused
//! destination or a non-HTTP scheme fail at once; everything else (other 4xx, 3xx, 5xx, timeouts,
//! connection errors) is retried.

use std::sync::Arc;

use async_trait::async_trait;
use herald_core::message::{redact_header, Content, DeliveryLog};
use herald_core::ports::fetcher::{FetchError, FetchRequest, Fetcher};
use herald_core::ports::{Attempted, Outgoing, Sender, Verdict};
use serde_json::{json, Map, Value};

use crate::signature;

/// Statuses after which no attempt will succeed (Knock's list).
const FINAL: [u16; 4] = [401, 403, 404, 405];

/// Sends webhook messages.
#[derive(Clone)]
pub struct WebhookSender {
    fetcher: Arc<dyn Fetcher>,
}

impl WebhookSender {
    /// A sender over `fetcher` (the outbound guard's client).
    pub fn new(fetcher: Arc<dyn Fetcher>) -> Self {
        Self { fetcher }
    }
}

/// The request as a delivery log shows it: credentials and signatures masked.
fn logged(request: &FetchRequest) -> Value {
    let url = url::Url::parse(&request.url).ok();
    let headers: Map<String, Value> = request
        .headers
        .iter()
        .map(|(k, v)| (k.clone(), Value::String(redact_header(k, v))))
        .collect();
    json!({
        "method": request.method,
        "host": url.as_ref().and_then(|u| u.host_str().map(str::to_string)),
        "path": url.as_ref().map(|u| u.path().to_string()),
        "query": url.as_ref().and_then(|u| u.query().map(str::to_string)),
        "headers": headers,
        "body": request.body.as_deref().map(DeliveryLog::excerpt),
    })
}

#[async_trait]
impl Sender for WebhookSender {
    async fn send(&self, out: Outgoing<'_>) -> Attempted {
        let Content::Webhook(content) = &out.message.content else {
            return Attempted {
                verdict: Verdict::Fatal("the message is not a webhook request".into()),
                request: Value::Null,
                response: Value::Null,
            };
        };
        let mut headers = content.headers.clone();
        let has = |headers: &[(String, String)], name: &str| {
            headers.iter().any(|(k, _)| k.eq_ignore_ascii_case(name))
        };
        if content.body.is_some() && !has(&headers, "content-type") {
            headers.push(("content-type".into(), "application/json".into()));
        }
        // The message id: the same on every attempt, for receivers to deduplicate on.
        let id = out.message.id.to_string();
        let body = content.body.clone().unwrap_or_default();
        headers.push(("webhook-id".into(), id.clone()));
        headers.push(("webhook-timestamp".into(), out.now.timestamp().to_string()));
        if let Some(secret) = out
            .channel
            .setting("signing_secret")
            .filter(|s| !s.is_empty())
        {
            headers.push((
                "webhook-signature".into(),
                signature::standard(secret, &id, out.now.timestamp(), body.as_bytes()),
            ));
            headers.push((
                "x-webhook-signature".into(),
                signature::knock(secret, out.now.timestamp_millis(), body.as_bytes()),
            ));
        }
        let request = FetchRequest {
            method: content.method.clone(),
            url: content.url.clone(),
            headers,
            body: content.body.clone(),
            timeout: out.timeout,
            follow_redirects: false,
        };
        let logged_request = logged(&request);
        let (verdict, response) = match self.fetcher.fetch(request).await {
            Ok(r) => {
                let response = json!({"status": r.status, "body": DeliveryLog::excerpt(&r.body)});
                let verdict = if (200..300).contains(&r.status) {
                    Verdict::Delivered
                } else if FINAL.contains(&r.status) {
                    Verdict::Fatal(format!("the endpoint answered {}", r.status))
                } else {
                    Verdict::Retry(format!("the endpoint answered {}", r.status))
                };
                (verdict, response)
            }
            Err(e) => {
                let response = json!({"error": e.to_string()});
                let verdict = match e {
                    FetchError::Refused(why) => Verdict::Fatal(why),
                    FetchError::Timeout => Verdict::Retry("the request timed out".into()),
                    FetchError::Failed(why) => Verdict::Retry(why),
                };
                (verdict, response)
            }
        };
        Attempted {
            verdict,
            request: logged_request,
            response,
        }
    }
}
