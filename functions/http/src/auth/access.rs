//! What a user token reaches: the user's own record, feed, messages and preference sets, as
//! Knock lists them for publishable keys. Every other route is the secret key's.

use super::user_token::UserClaims;

/// A permission of Knock's grants, with the names Knock's docs and SDK use for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Permission {
    /// `user/read`.
    UserRead,
    /// `user/write`.
    UserWrite,
    /// `user/feed_read`.
    FeedRead,
    /// `user/feed_write`.
    FeedWrite,
    /// `preferences/read`.
    PreferencesRead,
    /// `preferences/write`.
    PreferencesWrite,
}

impl Permission {
    /// The names a grant may give this permission under.
    fn names(self) -> &'static [&'static str] {
        match self {
            Self::UserRead => &["user/read"],
            Self::UserWrite => &["user/write"],
            Self::FeedRead => &["user/feed_read", "feed/read", "user_feed/read"],
            Self::FeedWrite => &["user/feed_write", "feed/write", "user_feed/write"],
            Self::PreferencesRead => &["preferences/read"],
            Self::PreferencesWrite => &["preferences/write"],
        }
    }
}

/// Whom a route's resource belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Owner {
    /// The user the path's `{user_id}` names.
    PathUser,
    /// The recipient of each message the request touches: checked by the route, which reads
    /// them.
    Messages,
}

/// What a user token needs for `method` on the route `template`; `None` when only a secret key
/// may call it.
pub fn rule(method: &str, template: &str) -> Option<(Owner, Permission)> {
    use Owner::*;
    use Permission::*;
    let rule = match (method, template) {
        ("GET", "/v1/users/{user_id}") => (PathUser, UserRead),
        ("PUT", "/v1/users/{user_id}") => (PathUser, UserWrite),
        ("GET", "/v1/users/{user_id}/feeds/{channel_id}") => (PathUser, FeedRead),
        ("GET", "/v1/users/{user_id}/messages") => (PathUser, FeedRead),
        ("GET", "/v1/users/{user_id}/preferences") => (PathUser, PreferencesRead),
        ("GET", "/v1/users/{user_id}/preferences/{set_id}") => (PathUser, PreferencesRead),
        ("PUT", "/v1/users/{user_id}/preferences/{set_id}") => (PathUser, PreferencesWrite),
        ("GET", "/v1/messages/{message_id}") => (Messages, FeedRead),
        ("PUT" | "DELETE", "/v1/messages/{message_id}/{status}") => (Messages, FeedWrite),
        ("POST", "/v1/messages/batch/{action}") => (Messages, FeedWrite),
        _ => return None,
    };
    Some(rule)
}

impl UserClaims {
    /// Whether the token lets its user use `permission` on their own resources. Without
    /// `explicit_grants` it does (Knock's default); with it, only a grant on the user's URI
    /// (`https://api.knock.app/v1/users/<sub>`, any host: only the path is compared) gives it.
    pub fn allows(&self, permission: Permission) -> bool {
        if !self.explicit_grants {
            return true;
        }
        let own = format!("/v1/users/{}", self.sub);
        self.grants.iter().any(|(uri, permissions)| {
            resource_path(uri) == own
                && permission
                    .names()
                    .iter()
                    .any(|n| permissions.contains_key(*n))
        })
    }
}

/// The path of a grant's resource URI: what follows the scheme and host.
fn resource_path(uri: &str) -> &str {
    let rest = uri.split_once("://").map_or(uri, |(_, rest)| rest);
    rest.find('/')
        .map_or("", |i| rest[i..].trim_end_matches('/'))
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use serde_json::json;

    use super::*;

    fn claims(grants: serde_json::Value, explicit: bool) -> UserClaims {
        serde_json::from_value(json!({"sub": "u1", "grants": grants, "explicit_grants": explicit}))
            .expect("claims")
    }

    #[test]
    fn only_the_listed_routes_are_open_to_a_user() {
        assert_eq!(
            rule("GET", "/v1/users/{user_id}/feeds/{channel_id}"),
            Some((Owner::PathUser, Permission::FeedRead))
        );
        assert_eq!(rule("POST", "/v1/workflows/{key}/trigger"), None);
        assert_eq!(
            rule("DELETE", "/v1/users/{user_id}/preferences/{set_id}"),
            None
        );
        assert_eq!(rule("GET", "/v1/messages/{message_id}/content"), None);
    }

    #[test]
    fn explicit_grants_give_only_what_they_list() {
        assert!(claims(json!({}), false).allows(Permission::UserWrite));
        let token = claims(
            json!({"https://api.knock.app/v1/users/u1": {"user/feed_read": []}}),
            true,
        );
        assert!(token.allows(Permission::FeedRead));
        assert!(!token.allows(Permission::FeedWrite));
        let elsewhere = claims(
            json!({"http://herald.local/v1/users/u2": {"user/feed_read": [{}]}}),
            true,
        );
        assert!(!elsewhere.allows(Permission::FeedRead));
        let none = UserClaims {
            sub: "u1".into(),
            grants: BTreeMap::new(),
            explicit_grants: true,
        };
        assert!(!none.allows(Permission::UserRead));
    }

    #[test]
    fn a_resource_path_ignores_scheme_and_host() {
        assert_eq!(
            resource_path("https://api.knock.app/v1/users/u1"),
            "/v1/users/u1"
        );
        assert_eq!(resource_path("/v1/users/u1/"), "/v1/users/u1");
        assert_eq!(resource_path("api.knock.app"), "");
    }
}
