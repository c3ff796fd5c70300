//! A server error tells the caller nothing of what went wrong inside: Knock's error body, the
//! request id to quote, and the detail only in the log.

use herald_tests::server::start_with_fixtures;

#[tokio::test]
async fn a_500_answers_the_request_id_and_nothing_internal() {
    let (dir, _server, c) = start_with_fixtures();
    assert_eq!(c.get("/v1/users/u1").await.status, 404);
    // The store fails under the running server, as a broken disk or schema would.
    let db = rusqlite::Connection::open(dir.path().join("herald.db")).expect("open the database");
    db.execute_batch("DROP TABLE users").expect("drop");
    drop(db);

    let r = c.get("/v1/users/u1").await;
    assert_eq!(r.status, 500, "{:?}", r.body);
    let id = r.request_id.clone().expect("x-request-id");
    assert_eq!(r.body["code"], "internal_error");
    assert_eq!(r.body["type"], "api_error");
    assert_eq!(r.body["status"], 500);
    let message = r.body["message"].as_str().unwrap_or_default();
    assert!(message.contains(&id), "{message}");
    let text = r.body.to_string().to_lowercase();
    for internal in ["table", "sql", "users", "herald.db", "no such", "rusqlite"] {
        assert!(!text.contains(internal), "{internal} leaked: {text}");
    }
    // The SDKs retry a 5xx; Herald does not tell them otherwise.
    assert_ne!(r.header("x-should-retry"), Some("false"));
}
