//! The email a message becomes, built with lettre: SMTP sends it as is, Amazon SES as raw MIME
//! (which keeps the text part and the headers; SES's simple form drops them).
//!
//! Two stable ids ride on every attempt: `Message-ID: <message id@sender's domain>` (receivers
//! deduplicate on it; SES replaces it with its own) and `X-Herald-Message-Id` (kept by SES).

use herald_core::message::EmailContent;
use lettre::message::header::{ContentType, HeaderName, HeaderValue};
use lettre::message::{Mailbox, MultiPart, SinglePart};
use lettre::Message;

/// Why an email could not be built; no attempt will change it.
#[derive(Debug)]
pub struct BadEmail(pub String);

impl std::fmt::Display for BadEmail {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// The header every attempt carries with the Herald message id.
pub const HERALD_ID_HEADER: &str = "X-Herald-Message-Id";

/// Builds the email for message `id`.
pub fn build(content: &EmailContent, id: &str) -> Result<Message, BadEmail> {
    let from: Mailbox = content.from.parse().map_err(|e| {
        BadEmail(format!(
            "the channel's `from` address `{}` is invalid: {e}",
            content.from
        ))
    })?;
    let to: Mailbox = content.to.parse().map_err(|e| {
        BadEmail(format!(
            "the recipient's address `{}` is invalid: {e}",
            content.to
        ))
    })?;
    let domain = from.email.domain().to_string();
    let builder = Message::builder()
        .from(from)
        .to(to)
        .subject(content.subject.clone())
        .message_id(Some(format!("<{id}@{domain}>")))
        .raw_header(HeaderValue::new(
            HeaderName::new_from_ascii_str(HERALD_ID_HEADER),
            id.to_string(),
        ));
    let text = SinglePart::builder()
        .header(ContentType::TEXT_PLAIN)
        .body(content.text_body.clone());
    let built = match &content.html_body {
        Some(html) => builder.multipart(
            MultiPart::alternative().singlepart(text).singlepart(
                SinglePart::builder()
                    .header(ContentType::TEXT_HTML)
                    .body(html.clone()),
            ),
        ),
        None => builder.singlepart(text),
    };
    built.map_err(|e| BadEmail(format!("the email cannot be built: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builds_both_parts_with_stable_ids() {
        let email = build(
            &EmailContent {
                from: "Acme <noreply@acme.test>".into(),
                to: "ann@example.com".into(),
                subject: "Hi".into(),
                html_body: Some("<p>Hi</p>".into()),
                text_body: "Hi".into(),
            },
            "0b4f6f0e-8d6c-4d59-9a57-3a3c0d2b7a11",
        )
        .unwrap();
        let text = String::from_utf8(email.formatted()).unwrap();
        assert!(
            text.contains("Message-ID: <0b4f6f0e-8d6c-4d59-9a57-3a3c0d2b7a11@acme.test>"),
            "{text}"
        );
        assert!(
            text.contains("X-Herald-Message-Id: 0b4f6f0e-8d6c-4d59-9a57-3a3c0d2b7a11"),
            "{text}"
        );
        assert!(
            text.contains("multipart/alternative") && text.contains("text/html"),
            "{text}"
        );
    }

    #[test]
    fn a_bad_address_is_reported() {
        let e = build(
            &EmailContent {
                from: "noreply@acme.test".into(),
                to: "not an address".into(),
                subject: "Hi".into(),
                html_body: None,
                text_body: "Hi".into(),
            },
            "x",
        )
        .unwrap_err();
        assert!(e.0.contains("recipient's address"), "{e}");
    }
}
