//! Dotted variable paths (`data.due_at`, `recipient.plan`) resolved against a run's scope.

use serde_json::Value;

/// Resolves `path` (such as `data.invite.due_at`) against `scope`, an object whose top-level keys
/// are the path prefixes (`data`, `recipient`, `actor`, `tenant`, `workflow`). Array elements are
/// addressed by index (`data.items.0`).
pub fn resolve<'a>(scope: &'a Value, path: &str) -> Option<&'a Value> {
    path.split('.').try_fold(scope, |value, part| match value {
        Value::Object(map) => map.get(part),
        Value::Array(items) => part.parse::<usize>().ok().and_then(|i| items.get(i)),
        _ => None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn resolves_nested_and_indexed_paths() {
        let scope = json!({"data": {"a": {"b": [10, {"c": "x"}]}}, "recipient": {"id": "u"}});
        assert_eq!(resolve(&scope, "data.a.b.0"), Some(&json!(10)));
        assert_eq!(resolve(&scope, "data.a.b.1.c"), Some(&json!("x")));
        assert_eq!(resolve(&scope, "recipient.id"), Some(&json!("u")));
        assert_eq!(resolve(&scope, "data.missing"), None);
        assert_eq!(resolve(&scope, "recipient.id.deeper"), None);
    }
}
