//! Bounds on what Herald stores, so that everything it stores can be read back: JSON nested
//! deeper than [`MAX_JSON_DEPTH`] is refused where it enters (a request body, a fetch's answer).
//! serde_json refuses to parse past 128 levels; stored values are wrapped a few levels deeper
//! than they arrive, so the bound leaves room.

use serde_json::Value;

/// The deepest nesting of arrays and objects accepted in a request body or a fetch's answer.
pub const MAX_JSON_DEPTH: usize = 64;

/// The longest id, collection, tenant id or cancellation key, in bytes of UTF-8: with their
/// prefixes, the store keys built from them stay inside DynamoDB's (2,048 bytes for a partition
/// key, 1,024 for a sort key).
pub const MAX_ID_BYTES: usize = 255;

/// Knock's limit on the recipients one cancel names.
pub const MAX_CANCEL_RECIPIENTS: usize = 1_000;

/// Why `text` cannot be an id, a collection, a tenant id or a cancellation key, if it cannot.
pub fn check_name(text: &str) -> Result<(), String> {
    if text.is_empty() {
        Err("must not be empty".into())
    } else if text.len() > MAX_ID_BYTES {
        Err(format!(
            "must be at most {MAX_ID_BYTES} bytes, got {}",
            text.len()
        ))
    } else {
        Ok(())
    }
}

/// How deeply `value` nests arrays and objects (a scalar is 0, `{}` is 1).
pub fn json_depth(value: &Value) -> usize {
    // Iterative, so a hostile value cannot exhaust the stack.
    let mut deepest = 0;
    let mut stack = vec![(value, 0usize)];
    while let Some((v, depth)) = stack.pop() {
        let children: Box<dyn Iterator<Item = &Value>> = match v {
            Value::Array(items) => Box::new(items.iter()),
            Value::Object(map) => Box::new(map.values()),
            _ => continue,
        };
        deepest = deepest.max(depth + 1);
        stack.extend(children.map(|c| (c, depth + 1)));
    }
    deepest
}

/// Whether `value` is within [`MAX_JSON_DEPTH`].
pub fn within_depth(value: &Value) -> bool {
    json_depth(value) <= MAX_JSON_DEPTH
}

/// Whether the object `map` is within [`MAX_JSON_DEPTH`].
pub fn map_within_depth(map: &serde_json::Map<String, Value>) -> bool {
    map.values().all(|v| json_depth(v) < MAX_JSON_DEPTH)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn nested(levels: usize) -> Value {
        (0..levels).fold(json!(1), |v, _| json!({ "a": v }))
    }

    #[test]
    fn depth_counts_containers() {
        assert_eq!(json_depth(&json!(1)), 0);
        assert_eq!(json_depth(&json!({})), 1);
        assert_eq!(json_depth(&json!({"a": [1, {"b": []}]})), 4);
        assert_eq!(json_depth(&nested(100)), 100);
        assert!(within_depth(&nested(MAX_JSON_DEPTH)));
        assert!(!within_depth(&nested(MAX_JSON_DEPTH + 1)));
        let Value::Object(map) = nested(MAX_JSON_DEPTH) else {
            panic!("an object")
        };
        assert!(map_within_depth(&map));
        let Value::Object(map) = nested(MAX_JSON_DEPTH + 1) else {
            panic!("an object")
        };
        assert!(!map_within_depth(&map));
    }
}
