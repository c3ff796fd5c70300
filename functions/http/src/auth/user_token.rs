//! `X-Knock-User-Token`: an RS256 JWT, signed by the team's backend (Knock's `signUserToken`),
//! naming the user a browser acts for.

use std::collections::BTreeMap;

use base64::Engine as _;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;
use serde_json::Value;

use crate::error::ApiError;

/// What a verified token says.
#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct UserClaims {
    /// The user id.
    pub sub: String,
    /// Resource URI → permission → exceptions (unused, as at Knock); absent or `null` is none.
    #[serde(default, deserialize_with = "null_is_default")]
    pub grants: BTreeMap<String, BTreeMap<String, Value>>,
    /// With `true`, only what `grants` lists; otherwise the user's own resources.
    #[serde(default, deserialize_with = "null_is_default")]
    pub explicit_grants: bool,
}

/// `null` read as the type's default, as an absent claim is.
fn null_is_default<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(deserializer)?.unwrap_or_default())
}

/// The public keys user tokens may be signed with. Tokens carry no `kid`, so each is tried:
/// during a rotation the old and the new key are both listed.
#[derive(Clone, Default)]
pub struct TokenKeys {
    keys: Vec<DecodingKey>,
}

impl std::fmt::Debug for TokenKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "TokenKeys({} keys)", self.keys.len())
    }
}

impl TokenKeys {
    /// Reads `HERALD_USER_TOKEN_PUBLIC_KEY`: one or more PEM public keys (`-----BEGIN PUBLIC
    /// KEY-----`), or the base64 of such PEM text, several separated by commas. `\n` written out
    /// (as a stack parameter may carry it) counts as a line break.
    pub fn parse(setting: &str) -> Result<Self, String> {
        let mut keys = Vec::new();
        for item in setting.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let text = if item.starts_with("-----BEGIN") {
                item.replace("\\n", "\n")
            } else {
                let bytes = base64::engine::general_purpose::STANDARD
                    .decode(item)
                    .map_err(|_| "a key is neither PEM nor the base64 of PEM".to_string())?;
                String::from_utf8(bytes).map_err(|_| "a base64 key is not PEM text".to_string())?
            };
            for block in pem_blocks(&text) {
                let key = DecodingKey::from_rsa_pem(block.as_bytes())
                    .map_err(|e| format!("a key is not an RSA public key in PEM: {e}"))?;
                keys.push(key);
            }
        }
        if keys.is_empty() && !setting.trim().is_empty() {
            return Err("no PEM public key found".into());
        }
        Ok(Self { keys })
    }

    /// Whether any key is configured.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// The claims of `token` if one of the keys signed it and it has not expired.
    pub fn verify(&self, token: &str) -> Result<UserClaims, ApiError> {
        if self.keys.is_empty() {
            return Err(ApiError::unauthorized(
                "missing_jwt_signing_key",
                "Your request needs a JWT signing key: set HERALD_USER_TOKEN_PUBLIC_KEY to verify user tokens.",
            ));
        }
        let mut validation = Validation::new(Algorithm::RS256);
        validation.set_required_spec_claims(&["exp", "sub"]);
        validation.leeway = 30;
        // Knock's tokens name no audience; one that does is not refused for it.
        validation.validate_aud = false;
        self.keys
            .iter()
            .find_map(|key| jsonwebtoken::decode::<UserClaims>(token, key, &validation).ok())
            .map(|data| data.claims)
            .filter(|claims| !claims.sub.is_empty())
            .ok_or_else(|| {
                ApiError::unauthorized("invalid_user_token", "The user token supplied is invalid")
            })
    }
}

/// Each `-----BEGIN …-----`…`-----END …-----` block of `text`.
fn pem_blocks(text: &str) -> Vec<String> {
    let mut blocks = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("-----BEGIN") {
        let after = &rest[start..];
        let Some(end) = after.find("-----END") else {
            break;
        };
        // The END line closes with its own five dashes.
        let tail = &after[end + "-----END".len()..];
        let close = tail.find("-----").map_or(tail.len(), |i| i + "-----".len());
        let len = end + "-----END".len() + close;
        blocks.push(after[..len].to_string());
        rest = &after[len..];
    }
    blocks
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_that_hold_no_key_are_refused() {
        assert!(TokenKeys::parse("").expect("empty is none").is_empty());
        assert!(TokenKeys::parse("not a key").is_err());
        assert!(
            TokenKeys::parse("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----").is_err()
        );
    }

    #[test]
    fn pem_blocks_are_split() {
        let two = "-----BEGIN PUBLIC KEY-----\nA\n-----END PUBLIC KEY-----\n-----BEGIN PUBLIC KEY-----\nB\n-----END PUBLIC KEY-----\n";
        let blocks = pem_blocks(two);
        assert_eq!(blocks.len(), 2);
        assert!(blocks[1].contains("\nB\n") && blocks[1].ends_with("KEY-----"));
    }

    #[test]
    fn without_keys_a_token_cannot_be_checked() {
        let e = TokenKeys::default().verify("x.y.z").expect_err("no key");
        assert_eq!((e.status, e.code), (401, "missing_jwt_signing_key"));
    }
}
