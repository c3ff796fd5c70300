//! [`ReqwestFetcher`]: the [`Fetcher`] port on `reqwest`, shared by the local server and the
//! functions. One client per process keeps connections pooled across fetch steps.

use async_trait::async_trait;
use herald_core::ports::fetcher::{FetchError, FetchRequest, FetchResponse, Fetcher};

/// Sends `http_fetch` requests with one pooled client.
#[derive(Debug, Clone)]
pub struct ReqwestFetcher {
    client: reqwest::Client,
}

impl ReqwestFetcher {
    /// A fetcher with a new client.
    pub fn new() -> Result<Self, FetchError> {
        let client = reqwest::Client::builder()
            .user_agent(concat!("herald/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| FetchError::Failed(e.to_string()))?;
        Ok(Self { client })
    }
}

#[async_trait]
impl Fetcher for ReqwestFetcher {
    async fn fetch(&self, request: FetchRequest) -> Result<FetchResponse, FetchError> {
        let method = reqwest::Method::from_bytes(request.method.as_bytes())
            .map_err(|e| FetchError::Failed(e.to_string()))?;
        let mut builder = self
            .client
            .request(method, &request.url)
            .timeout(request.timeout);
        for (name, value) in &request.headers {
            builder = builder.header(name, value);
        }
        if let Some(body) = request.body {
            builder = builder.body(body);
        }
        let failed = |e: reqwest::Error| {
            if e.is_timeout() {
                FetchError::Timeout
            } else {
                FetchError::Failed(e.to_string())
            }
        };
        let response = builder.send().await.map_err(failed)?;
        let status = response.status().as_u16();
        let body = response.text().await.map_err(failed)?;
        Ok(FetchResponse { status, body })
    }
}
