//! [`ReqwestFetcher`]: the [`Fetcher`] port on `reqwest`, shared by the local server and the
//! functions. One client per process keeps connections pooled across fetch steps.
//!
//! Outbound requests are guarded (see [`guard`]): unless [`Outbound::AllowPrivate`], a request
//! to a loopback, private, link-local, carrier-grade NAT, multicast or cloud-metadata address is
//! refused — whether the URL names the address, a decimal or mapped form of it, a name that
//! resolves to it, or a redirect leads there — and answers are read up to [`MAX_ANSWER_BYTES`].

pub mod guard;

use std::net::SocketAddr;
use std::sync::Arc;

use async_trait::async_trait;
use herald_core::ports::fetcher::{FetchError, FetchRequest, FetchResponse, Fetcher};
use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use reqwest::redirect;
use reqwest::Url;

/// The largest answer read; a longer one fails the request (it would not shrink on a retry).
pub const MAX_ANSWER_BYTES: usize = 1024 * 1024;

/// Redirects followed at most.
const MAX_REDIRECTS: usize = 5;

/// Which destinations outbound requests may reach.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outbound {
    /// Public addresses only (the default).
    PublicOnly,
    /// Any address, loopback and private networks included (`HERALD_ALLOW_PRIVATE_NETWORKS=1`:
    /// local development and tests).
    AllowPrivate,
}

impl Outbound {
    /// [`Outbound::AllowPrivate`] when `allow_private_networks` (the setting), else public only.
    pub fn from_setting(allow_private_networks: bool) -> Self {
        if allow_private_networks {
            Outbound::AllowPrivate
        } else {
            Outbound::PublicOnly
        }
    }
}

/// A destination the guard refused; found again in the error chain of the failed request.
#[derive(Debug)]
struct Refused(String);

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Refused {}

/// Resolves names itself and hands the client only the allowed addresses, so the address that
/// was checked is the one connected to.
struct GuardedResolver;

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let host = name.as_str().to_string();
        Box::pin(async move {
            let found: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let kept = guard::allowed(found, &host).map_err(Refused)?;
            let addrs: Addrs = Box::new(kept.into_iter());
            Ok::<Addrs, Box<dyn std::error::Error + Send + Sync>>(addrs)
        })
    }
}

/// Why `url` may not be requested as written (scheme, or an address host that is refused).
fn refusal(url: &Url, outbound: Outbound) -> Option<String> {
    if !matches!(url.scheme(), "http" | "https") {
        return Some(format!("the scheme `{}` is not HTTP", url.scheme()));
    }
    if outbound == Outbound::AllowPrivate {
        return None;
    }
    let ip = match url.host()? {
        url::Host::Ipv4(ip) => std::net::IpAddr::V4(ip),
        url::Host::Ipv6(ip) => std::net::IpAddr::V6(ip),
        url::Host::Domain(_) => return None,
    };
    guard::refusal(ip).map(|why| format!("`{ip}` is {why}, which is refused"))
}

/// Sends `http_fetch` requests with one pooled client.
#[derive(Clone)]
pub struct ReqwestFetcher {
    client: reqwest::Client,
    // The same, never following a redirect (webhook deliveries).
    direct: reqwest::Client,
    outbound: Outbound,
}

impl std::fmt::Debug for ReqwestFetcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReqwestFetcher")
            .field("outbound", &self.outbound)
            .finish()
    }
}

impl ReqwestFetcher {
    /// A fetcher with a new client, reaching the destinations `outbound` allows.
    pub fn new(outbound: Outbound) -> Result<Self, FetchError> {
        let policy = redirect::Policy::custom(move |attempt| {
            if attempt.previous().len() >= MAX_REDIRECTS {
                attempt.error(Refused(format!("more than {MAX_REDIRECTS} redirects")))
            } else if let Some(why) = refusal(attempt.url(), outbound) {
                attempt.error(Refused(format!(
                    "a redirect to a refused destination: {why}"
                )))
            } else {
                attempt.follow()
            }
        });
        let build = |policy: redirect::Policy| {
            let mut builder = reqwest::Client::builder()
                .user_agent(concat!("herald/", env!("CARGO_PKG_VERSION")))
                .redirect(policy);
            if outbound == Outbound::PublicOnly {
                builder = builder.dns_resolver(Arc::new(GuardedResolver));
            }
            builder
                .build()
                .map_err(|e| FetchError::Failed(e.to_string()))
        };
        Ok(Self {
            client: build(policy)?,
            direct: build(redirect::Policy::none())?,
            outbound,
        })
    }
}

/// The guard's refusal somewhere in `error`'s chain, if that is why it failed.
fn refused_in(error: &reqwest::Error) -> Option<String> {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(e) = source {
        if let Some(Refused(why)) = e.downcast_ref::<Refused>() {
            return Some(why.clone());
        }
        source = e.source();
    }
    None
}

fn failed(e: reqwest::Error) -> FetchError {
    // The URL may carry a token in its path or query: keep it out of logs and events.
    let e = e.without_url();
    if let Some(why) = refused_in(&e) {
        FetchError::Refused(why)
    } else if e.is_timeout() {
        FetchError::Timeout
    } else if e.is_builder() {
        FetchError::Refused(e.to_string())
    } else {
        FetchError::Failed(e.to_string())
    }
}

#[async_trait]
impl Fetcher for ReqwestFetcher {
    async fn fetch(&self, request: FetchRequest) -> Result<FetchResponse, FetchError> {
        let url = Url::parse(&request.url)
            .map_err(|e| FetchError::Refused(format!("the URL is invalid: {e}")))?;
        if let Some(why) = refusal(&url, self.outbound) {
            return Err(FetchError::Refused(why));
        }
        let method = reqwest::Method::from_bytes(request.method.as_bytes())
            .map_err(|e| FetchError::Refused(e.to_string()))?;
        let client = if request.follow_redirects {
            &self.client
        } else {
            &self.direct
        };
        let mut builder = client.request(method, url).timeout(request.timeout);
        for (name, value) in &request.headers {
            builder = builder.header(name, value);
        }
        if let Some(body) = request.body {
            builder = builder.body(body);
        }
        let mut response = builder.send().await.map_err(failed)?;
        let status = response.status().as_u16();
        let mut body = Vec::new();
        let mut truncated = false;
        while let Some(chunk) = response.chunk().await.map_err(failed)? {
            if body.len() + chunk.len() > MAX_ANSWER_BYTES {
                // Read no further: the rest could be endless.
                body.extend_from_slice(&chunk[..MAX_ANSWER_BYTES - body.len()]);
                truncated = true;
                break;
            }
            body.extend_from_slice(&chunk);
        }
        let body = String::from_utf8_lossy(&body).into_owned();
        Ok(FetchResponse {
            status,
            body,
            truncated,
        })
    }
}
