//! Limits checked before any store sees a request, against the real binary: ids, collections,
//! tenant ids and cancellation keys of at most 255 bytes (path parameters too), a cancel naming
//! at most 1,000 recipients, cursors Herald did not hand out, a path that is not UTF-8, and the
//! `Bearer` scheme in any case.

use herald_tests::http::Client;
use herald_tests::server::{start_with_fixtures, API_KEY};
use serde_json::{json, Value};

async fn refused(c: &Client, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
    let r = c.send(method, path, body.map(|b| b.to_string())).await;
    (r.status, r.body)
}

fn field(body: &Value) -> Option<&str> {
    body["errors"][0]["field"].as_str()
}

#[tokio::test]
async fn limits_are_checked_before_the_store() {
    let (_dir, server, c) = start_with_fixtures();
    let long = "a".repeat(256);
    let longest = "a".repeat(255);

    // Ids in bodies.
    let trigger = "/v1/workflows/welcome-now/trigger";
    for (body, name) in [
        (json!({"recipients": [long]}), "recipients[0]"),
        (json!({"recipients": [{"id": long}]}), "recipients[0].id"),
        (
            json!({"recipients": [{"id": "u", "collection": long}]}),
            "recipients[0].collection",
        ),
        (
            json!({"recipients": ["u"], "cancellation_key": long}),
            "cancellation_key",
        ),
        (json!({"recipients": ["u"], "tenant": long}), "tenant"),
        (
            json!({"recipients": ["u"], "tenant": {"id": long}}),
            "tenant.id",
        ),
        (json!({"recipients": ["u"], "actor": long}), "actor"),
    ] {
        let (status, b) = refused(&c, "POST", trigger, Some(body)).await;
        assert_eq!((status, field(&b)), (422, Some(name)), "{b}");
    }
    let ok = c
        .post(
            trigger,
            &json!({"recipients": [longest], "cancellation_key": longest}),
        )
        .await;
    assert_eq!(ok.status, 200, "255 bytes is allowed: {:?}", ok.body);
    // In bytes, not characters: 128 two-byte characters are 256 bytes.
    let (status, b) = refused(
        &c,
        "POST",
        trigger,
        Some(json!({"recipients": ["é".repeat(128)]})),
    )
    .await;
    assert_eq!((status, field(&b)), (422, Some("recipients[0]")), "{b}");

    // `$tenants` is written through the tenants API alone, which validates a tenant: not as an
    // inline recipient, an actor, or a subscriber.
    let tenant = json!({"id": "acme", "collection": "$tenants", "name": "Acme"});
    for (method, path, body, name) in [
        (
            "POST",
            trigger,
            json!({"recipients": [tenant]}),
            "recipients[0].collection",
        ),
        (
            "POST",
            trigger,
            json!({"recipients": ["u"], "actor": tenant}),
            "actor.collection",
        ),
        (
            "POST",
            "/v1/objects/projects/p1/subscriptions",
            json!({"recipients": [tenant]}),
            "recipients[0].collection",
        ),
    ] {
        let (status, b) = refused(&c, method, path, Some(body)).await;
        assert_eq!((status, field(&b)), (422, Some(name)), "{path}: {b}");
    }
    assert_eq!(
        c.get("/v1/tenants/acme").await.status,
        404,
        "nothing was stored"
    );

    // A cancel names at most 1,000 recipients, with a key of at most 255 bytes.
    let cancel = "/v1/workflows/welcome-now/cancel";
    let many: Vec<String> = (0..1001).map(|i| format!("u{i}")).collect();
    let (status, b) = refused(
        &c,
        "POST",
        cancel,
        Some(json!({"cancellation_key": "k", "recipients": many})),
    )
    .await;
    assert_eq!((status, field(&b)), (422, Some("recipients")), "{b}");
    let (status, b) = refused(&c, "POST", cancel, Some(json!({"cancellation_key": long}))).await;
    assert_eq!((status, field(&b)), (422, Some("cancellation_key")), "{b}");
    let thousand: Vec<String> = (0..1000).map(|i| format!("u{i}")).collect();
    let r = c
        .send(
            "POST",
            cancel,
            Some(json!({"cancellation_key": "k", "recipients": thousand}).to_string()),
        )
        .await;
    assert_eq!(r.status, 204, "{:?}", r.body);

    // Path parameters.
    for path in [
        format!("/v1/users/{long}"),
        format!("/v1/objects/{long}/o1"),
        format!("/v1/tenants/{long}"),
    ] {
        let (status, b) = refused(&c, "GET", &path, None).await;
        assert_eq!(status, 422, "{path}: {b}");
        assert_eq!(b["code"], "invalid_params");
    }
    let (status, b) = refused(
        &c,
        "PUT",
        &format!("/v1/users/{long}"),
        Some(json!({"name": "x"})),
    )
    .await;
    assert_eq!((status, field(&b)), (422, Some("user_id")), "{b}");
    let (status, b) = refused(&c, "GET", &format!("/v1/tenants?tenant_id={long}"), None).await;
    assert_eq!((status, field(&b)), (422, Some("tenant_id")), "{b}");
    let mut sets = serde_json::Map::new();
    sets.insert(long.clone(), json!({"channel_types": {"email": false}}));
    let (status, b) = refused(
        &c,
        "PUT",
        "/v1/users/pref-user",
        Some(json!({"preferences": sets})),
    )
    .await;
    assert_eq!(status, 422, "{b}");
    assert_eq!(
        field(&b),
        Some(format!("preferences.{long}").as_str()),
        "{b}"
    );
    let (status, b) = refused(&c, "GET", "/v1/users/%FF%FE", None).await;
    assert_eq!(
        (status, b["code"].as_str()),
        (400, Some("invalid_request")),
        "{b}"
    );

    // Cursors: only those Herald handed out.
    for q in ["after=garbage", "before=MjAyNg", "after=%FF"] {
        let (status, b) = refused(&c, "GET", &format!("/v1/messages?{q}"), None).await;
        assert_eq!(status, 422, "{q}: {b}");
        assert_eq!(field(&b), q.split('=').next(), "{b}");
    }
    for user in ["p1", "p2", "p3"] {
        assert_eq!(
            c.post(trigger, &json!({"recipients": [user]})).await.status,
            200
        );
    }
    let first = herald_tests::http::eventually(
        std::time::Duration::from_secs(10),
        "three messages",
        || async {
            let r = c.get("/v1/messages?page_size=2&source=welcome-now").await;
            (r.body["page_info"]["after"].is_string()).then_some(r)
        },
    )
    .await;
    let after = first.body["page_info"]["after"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let next = c
        .get(&format!(
            "/v1/messages?page_size=2&source=welcome-now&after={after}"
        ))
        .await;
    assert_eq!(next.status, 200, "{:?}", next.body);
    assert!(!next.body["items"].as_array().is_some_and(Vec::is_empty));

    // The scheme is case-insensitive; the key is not.
    for scheme in ["Bearer", "bearer", "BEARER", "bEaReR"] {
        let raw = Client::new(&server.base_url, "");
        let auth = format!("{scheme} {API_KEY}");
        let r = raw
            .send_with("GET", "/v1/messages", None, &[("authorization", &auth)])
            .await;
        assert_eq!(r.status, 200, "{scheme}: {:?}", r.body);
    }
    let raw = Client::new(&server.base_url, "");
    let wrong = format!("Bearer {}", API_KEY.to_uppercase());
    let r = raw
        .send_with("GET", "/v1/messages", None, &[("authorization", &wrong)])
        .await;
    assert_eq!(r.status, 401);
}

/// A collection named in a path or a filter is checked as one in a body is: no storage key
/// separator, no control character, and `$` collections (`$tenants`) written through their own
/// routes only.
#[tokio::test]
async fn collections_in_paths_and_filters_are_checked() {
    let (_dir, _server, c) = start_with_fixtures();
    let prefs = json!({"channel_types": {"email": false}});
    let subscribers = json!({"recipients": ["u1"]});
    for (method, path, body) in [
        (
            "PUT",
            "/v1/objects/a:b/c/preferences/default",
            Some(prefs.clone()),
        ),
        ("DELETE", "/v1/objects/a%23b/c/preferences/default", None),
        ("GET", "/v1/objects/a%23b/c/preferences", None),
        ("GET", "/v1/objects/a:b/c/messages", None),
        (
            "DELETE",
            "/v1/objects/a%23b/c/subscriptions",
            Some(subscribers.clone()),
        ),
        ("GET", "/v1/objects/a%1Fb/c/subscriptions", None),
        (
            "PUT",
            "/v1/objects/%24tenants/t1/preferences/default",
            Some(prefs.clone()),
        ),
        (
            "POST",
            "/v1/objects/%24tenants/t1/subscriptions",
            Some(subscribers.clone()),
        ),
        (
            "PUT",
            "/v1/objects/%24tenants/t1",
            Some(json!({"name": "x"})),
        ),
    ] {
        let (status, body) = refused(&c, method, path, body).await;
        assert_eq!(status, 422, "{method} {path}: {body}");
        assert_eq!(field(&body), Some("collection"), "{method} {path}: {body}");
    }
    let (status, body) = refused(
        &c,
        "GET",
        "/v1/workflow_recipient_runs?recipient[id]=c&recipient[collection]=a:b",
        None,
    )
    .await;
    assert_eq!(
        (status, field(&body)),
        (422, Some("recipient[collection]")),
        "{body}"
    );
    // Reading a tenant's object form stays possible, and good collections pass.
    let (status, body) = refused(&c, "GET", "/v1/objects/%24tenants/t1/preferences", None).await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = refused(
        &c,
        "PUT",
        "/v1/objects/projects/p1/preferences/default",
        Some(prefs),
    )
    .await;
    assert_eq!(status, 200, "{body}");
}
