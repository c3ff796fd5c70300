//! A small Knock API client for tests, over reqwest.

use std::time::{Duration, Instant};

use serde_json::Value;

/// Talks to one server with one key.
pub struct Client {
    http: reqwest::Client,
    base: String,
    key: String,
}

/// A response: status, `x-request-id`, JSON body (`Null` when empty).
#[derive(Debug)]
pub struct Reply {
    /// HTTP status.
    pub status: u16,
    /// The `x-request-id` header.
    pub request_id: Option<String>,
    /// The body as JSON.
    pub body: Value,
    /// Every response header.
    pub headers: reqwest::header::HeaderMap,
}

impl Reply {
    /// Header `name`, if present and text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

impl Client {
    /// A client of `base` authenticating with `key`.
    pub fn new(base: &str, key: &str) -> Self {
        Self {
            http: reqwest::Client::new(),
            base: base.to_string(),
            key: key.to_string(),
        }
    }

    /// Sends `method path` with an optional raw body.
    pub async fn send(&self, method: &str, path: &str, body: Option<String>) -> Reply {
        self.send_with(method, path, body, &[]).await
    }

    /// `POST path` with a JSON body and an `Idempotency-Key`.
    pub async fn post_idempotent(&self, path: &str, body: &Value, key: &str) -> Reply {
        self.send_with(
            "POST",
            path,
            Some(body.to_string()),
            &[("idempotency-key", key)],
        )
        .await
    }

    /// Sends `method path` with an optional raw body and extra headers.
    pub async fn send_with(
        &self,
        method: &str,
        path: &str,
        body: Option<String>,
        headers: &[(&str, &str)],
    ) -> Reply {
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        let mut req = self.http.request(method, format!("{}{path}", self.base));
        for (name, value) in headers {
            req = req.header(*name, *value);
        }
        if !self.key.is_empty() {
            req = req.bearer_auth(&self.key);
        }
        if let Some(b) = body {
            req = req.header("content-type", "application/json").body(b);
        }
        let resp = req.send().await.expect("request sent");
        let status = resp.status().as_u16();
        let request_id = resp
            .headers()
            .get("x-request-id")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let headers = resp.headers().clone();
        let text = resp.text().await.expect("body");
        let body = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).expect("JSON body")
        };
        Reply {
            status,
            request_id,
            body,
            headers,
        }
    }

    /// `GET path`.
    pub async fn get(&self, path: &str) -> Reply {
        self.send("GET", path, None).await
    }

    /// `POST path` with a JSON body.
    pub async fn post(&self, path: &str, body: &Value) -> Reply {
        self.send("POST", path, Some(body.to_string())).await
    }

    /// `PUT path` with a JSON body.
    pub async fn put(&self, path: &str, body: &Value) -> Reply {
        self.send("PUT", path, Some(body.to_string())).await
    }

    /// The messages of `user` (one page of up to 50).
    pub async fn messages_of(&self, user: &str) -> Vec<Value> {
        let reply = self.get(&format!("/v1/users/{user}/messages")).await;
        assert_eq!(reply.status, 200, "{:?}", reply.body);
        reply.body["items"].as_array().cloned().unwrap_or_default()
    }
}

/// Polls `check` every 25 ms until it returns `Some`, or panics after `timeout`.
pub async fn eventually<T, F, Fut>(timeout: Duration, what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}
