//! CORS for the origins in `HERALD_CORS_ORIGINS`, against the real binary: a preflight is
//! answered before authentication with the headers Knock's clients send allowed, answers (errors
//! too) carry the grant and expose `Retry-After`, and any other origin gets no grant.

use herald_tests::server::{fixture_workflows, Server, API_KEY};

const ALLOWED: &str = "https://app.example.com";

async fn preflight(base: &str, origin: &str) -> reqwest::Response {
    reqwest::Client::new()
        .request(
            reqwest::Method::OPTIONS,
            format!("{base}/v1/users/ann/feeds/in-app"),
        )
        .header("origin", origin)
        .header("access-control-request-method", "GET")
        .header(
            "access-control-request-headers",
            "authorization, x-knock-user-token, x-knock-client, content-type",
        )
        .send()
        .await
        .expect("preflight sent")
}

/// `GET /v1/messages` from `origin`, with `key` if given.
async fn messages(base: &str, origin: &str, key: Option<&str>) -> reqwest::Response {
    let mut req = reqwest::Client::new()
        .get(format!("{base}/v1/messages"))
        .header("origin", origin);
    if let Some(key) = key {
        req = req.bearer_auth(key);
    }
    req.send().await.expect("sent")
}

fn header<'a>(r: &'a reqwest::Response, name: &str) -> Option<&'a str> {
    r.headers().get(name).and_then(|v| v.to_str().ok())
}

#[tokio::test]
async fn allowed_origins_get_a_grant_on_every_answer_and_others_none() {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = Server::start_with(
        dir.path(),
        &fixture_workflows(),
        &[(
            "HERALD_CORS_ORIGINS",
            "https://app.example.com, http://localhost:3000",
        )],
    );
    let base = &server.base_url;

    // The preflight needs no key.
    let ok = preflight(base, ALLOWED).await;
    assert!(ok.status().is_success(), "{}", ok.status());
    assert_eq!(header(&ok, "access-control-allow-origin"), Some(ALLOWED));
    let allowed = header(&ok, "access-control-allow-headers")
        .unwrap_or_default()
        .to_ascii_lowercase();
    for h in [
        "authorization",
        "x-knock-user-token",
        "x-knock-client",
        "content-type",
    ] {
        assert!(allowed.contains(h), "{h} in {allowed}");
    }
    let other = preflight(base, "https://evil.example").await;
    assert_eq!(header(&other, "access-control-allow-origin"), None);

    // Answers carry the grant, a 401 too, and expose Retry-After.
    let unauthenticated = messages(base, ALLOWED, None).await;
    assert_eq!(unauthenticated.status(), 401);
    assert_eq!(
        header(&unauthenticated, "access-control-allow-origin"),
        Some(ALLOWED)
    );
    let answered = messages(base, "http://localhost:3000", Some(API_KEY)).await;
    assert_eq!(answered.status(), 200);
    assert_eq!(
        header(&answered, "access-control-allow-origin"),
        Some("http://localhost:3000")
    );
    let exposed = header(&answered, "access-control-expose-headers")
        .unwrap_or_default()
        .to_ascii_lowercase();
    assert!(exposed.contains("retry-after"), "{exposed}");
    let foreign = messages(base, "https://evil.example", Some(API_KEY)).await;
    assert_eq!(foreign.status(), 200);
    assert_eq!(header(&foreign, "access-control-allow-origin"), None);
}
