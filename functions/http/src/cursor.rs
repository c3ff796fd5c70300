//! Page cursors as clients see them: the store's cursor, tagged and base64url-encoded, so a
//! cursor not in Herald's form (a typo, a cursor of another API) is refused with a 422 instead
//! of silently starting the listing over.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;

use crate::error::ApiError;

const TAG: &str = "hc1:";

/// The longest store cursor.
const MAX_RAW_BYTES: usize = 1024;

/// The cursor a client receives for the store's `raw` cursor.
pub fn encode(raw: &str) -> String {
    URL_SAFE_NO_PAD.encode(format!("{TAG}{raw}"))
}

/// The store's cursor behind `text`, the value of query parameter `field`.
pub fn decode(text: &str, field: &str) -> Result<String, ApiError> {
    URL_SAFE_NO_PAD
        .decode(text)
        .ok()
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .and_then(|s| s.strip_prefix(TAG).map(str::to_string))
        // No store cursor is longer; a forged one would not fit in a DynamoDB sort key.
        .filter(|raw| raw.len() <= MAX_RAW_BYTES)
        .ok_or_else(|| ApiError::invalid_param(field, "is not a cursor this API returned"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_garbage_is_refused() {
        for raw in ["42", "00000001733000000000#3f2a", ""] {
            assert_eq!(decode(&encode(raw), "after").ok().as_deref(), Some(raw));
        }
        let too_long = encode(&"9".repeat(1025));
        for garbage in ["junk!", "MjAyNg", "", "%%%", &encode("x")[1..], &too_long] {
            assert!(decode(garbage, "after").is_err(), "{garbage}");
        }
    }
}
