//! Webhook signatures, both ways a receiver may check them:
//!
//! - Standard Webhooks: `webhook-id`, `webhook-timestamp` (Unix seconds) and
//!   `webhook-signature: v1,<base64 HMAC-SHA256 of "<id>.<timestamp>.<body>">`; the key is the
//!   base64 after `whsec_` when the secret has that form, else the secret's bytes.
//! - Knock's own: `x-webhook-signature: t=<Unix milliseconds>,s=<base64 HMAC-SHA256 of
//!   "<t>.<body>">` keyed with the secret's bytes, as Knock signs its outbound webhooks (Knock
//!   does not document the webhook channel's encoding; this is the form its other signatures take).

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

fn hmac_b64(key: &[u8], parts: &[&[u8]]) -> String {
    // HMAC takes a key of any length; this cannot fail.
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(key) else {
        return String::new();
    };
    for part in parts {
        mac.update(part);
    }
    STANDARD.encode(mac.finalize().into_bytes())
}

/// The Standard Webhooks key of `secret`.
pub fn standard_key(secret: &str) -> Vec<u8> {
    secret
        .strip_prefix("whsec_")
        .and_then(|b64| STANDARD.decode(b64).ok())
        .unwrap_or_else(|| secret.as_bytes().to_vec())
}

/// The `webhook-signature` value for message `id` sent at `timestamp` (seconds) with `body`.
pub fn standard(secret: &str, id: &str, timestamp: i64, body: &[u8]) -> String {
    let ts = timestamp.to_string();
    let sig = hmac_b64(
        &standard_key(secret),
        &[id.as_bytes(), b".", ts.as_bytes(), b".", body],
    );
    format!("v1,{sig}")
}

/// The `x-webhook-signature` value for `body` sent at `millis`.
pub fn knock(secret: &str, millis: i64, body: &[u8]) -> String {
    let t = millis.to_string();
    let sig = hmac_b64(secret.as_bytes(), &[t.as_bytes(), b".", body]);
    format!("t={t},s={sig}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_the_standard_webhooks_test_vector() {
        // From the Standard Webhooks reference library's `test_sign`.
        assert_eq!(
            standard(
                "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD",
                "msg_27UH4WbU6Z5A5EzD8u03UvzRbpk",
                1649367553,
                br#"{"email":"test@example.com","username":"test_user"}"#
            ),
            "v1,tZ1I4/hDygAJgO5TYxiSd6Sd0kDW6hPenDe+bTa3Kkw="
        );
    }

    #[test]
    fn knock_signature_has_timestamp_and_signature() {
        let v = knock("secret", 1_700_000_000_000, b"{}");
        assert!(v.starts_with("t=1700000000000,s="), "{v}");
        assert_ne!(v, knock("other", 1_700_000_000_000, b"{}"));
    }
}
