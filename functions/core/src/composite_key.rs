//! Keys made of several parts (a batch's group, a throttle's window), written so that no two
//! lists of parts make the same key, on every store.

use sha2::{Digest, Sha256};

/// Keys longer than this are stored as their SHA-256: with its prefix, a key stays well inside
/// DynamoDB's 2,048-byte partition key.
pub const MAX_KEY_BYTES: usize = 1024;

/// Joins `parts` with `|`, escaping `%` (as `%25`) and `|` (as `%7C`) inside each part, so
/// `("a|b", "c")` and `("a", "b|c")` differ. A part with neither is written as it is: keys whose
/// parts hold neither keep the form they had before escaping existed. A key longer than
/// [`MAX_KEY_BYTES`] becomes `sha256:<hex>` of itself, which no joined key (holding a `|`)
/// can equal.
pub fn join(parts: &[&str]) -> String {
    let mut key = String::new();
    for (i, part) in parts.iter().enumerate() {
        if i > 0 {
            key.push('|');
        }
        for c in part.chars() {
            match c {
                '%' => key.push_str("%25"),
                '|' => key.push_str("%7C"),
                c => key.push(c),
            }
        }
    }
    if key.len() > MAX_KEY_BYTES {
        return format!(
            "sha256:{}",
            crate::data::hex(&Sha256::digest(key.as_bytes()))
        );
    }
    key
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn separators_inside_parts_cannot_make_another_key() {
        assert_ne!(join(&["w", "a|b", "c"]), join(&["w", "a", "b|c"]));
        assert_ne!(join(&["w", "a%7Cb"]), join(&["w", "a|b"]));
        assert_ne!(join(&["a|", ""]), join(&["a", "|"]));
        assert_eq!(join(&["wf", "step", "user:u1", "k"]), "wf|step|user:u1|k");
        assert_eq!(join(&["a|b%"]), "a%7Cb%25");
    }

    #[test]
    fn long_keys_are_hashed_and_stay_distinct() {
        let long = "x".repeat(2000);
        let a = join(&["w", &long, "1"]);
        let b = join(&["w", &long, "2"]);
        assert!(a.starts_with("sha256:") && a.len() == 71, "{a}");
        assert_ne!(a, b);
        assert_eq!(join(&["w", &"y".repeat(1000)]).len(), 1002);
    }
}
