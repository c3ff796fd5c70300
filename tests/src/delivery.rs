//! The loopback delivery servers (`tests/delivery/servers.py`, started by the test command): an
//! SMTP server and a webhook receiver that verifies signatures with the `standardwebhooks`
//! package and Knock's scheme, each recording what it received.

use serde_json::Value;

/// Where the delivery servers listen, from the test command's environment.
#[derive(Debug, Clone)]
pub struct Receivers {
    /// The SMTP server's port on 127.0.0.1.
    pub smtp_port: u16,
    /// The webhook receiver's base URL (`http://127.0.0.1:<port>`).
    pub http: String,
    /// The signing secret the receiver verifies with (`whsec_…`).
    pub secret: String,
}

impl Receivers {
    /// Reads `HERALD_TEST_SMTP_PORT`, `HERALD_TEST_RECEIVER_URL` and `HERALD_TEST_WEBHOOK_SECRET`.
    pub fn from_env() -> Self {
        let var = |name: &str| {
            std::env::var(name).unwrap_or_else(|_| {
                panic!("{name} is unset: run the tests with `bash tests/run.sh`, which starts the delivery servers")
            })
        };
        Self {
            smtp_port: var("HERALD_TEST_SMTP_PORT").parse().expect("a port"),
            http: var("HERALD_TEST_RECEIVER_URL"),
            secret: var("HERALD_TEST_WEBHOOK_SECRET"),
        }
    }

    /// The `channels.json` of a test environment: the in-app feed, SMTP to the test server,
    /// webhooks signed with the receiver's secret.
    pub fn channels_json(&self) -> String {
        serde_json::json!({"channels": [
            {"key": "in-app", "type": "in_app_feed"},
            {"key": "email", "type": "email", "provider": "smtp", "settings": {
                "host": "127.0.0.1", "port": self.smtp_port, "tls": "none",
                "from": "Acme <noreply@acme.test>"}},
            {"key": "hooks", "type": "http", "provider": "webhook",
             "settings": {"signing_secret": {"env": "HERALD_TEST_WEBHOOK_SECRET"}}},
        ]})
        .to_string()
    }

    /// The webhook requests received for `key`, in order.
    pub async fn hooks(&self, key: &str) -> Vec<Value> {
        self.records(&format!("{}/_hooks?key={key}", self.http))
            .await
    }

    /// The emails received for `to`, in order.
    pub async fn mail(&self, to: &str) -> Vec<Value> {
        self.records(&format!("{}/_mail?to={to}", self.http)).await
    }

    async fn records(&self, url: &str) -> Vec<Value> {
        let answer = reqwest::get(url)
            .await
            .expect("the delivery servers answer");
        let list: Value = answer.json().await.expect("JSON records");
        list.as_array().cloned().unwrap_or_default()
    }
}
