//! The token backend: talks to a token service over HTTP.

use std::time::Duration;

use crate::http::{self, TlsFiles};
use crate::{addr, validate_addr, watch, Discovery, DiscoveryError, DiscoveryOpts, Watch};

/// Nodes registered under one token of a token service.
#[derive(Clone, Debug)]
pub struct TokenDiscovery {
    base: String,
    token: String,
    http: reqwest::Client,
}

impl TokenDiscovery {
    /// A backend for `token` at `service` (`http://host:port`, or `host:port`).
    pub fn new(service: &str, token: &str, opts: &DiscoveryOpts) -> Result<Self, DiscoveryError> {
        let http = http::client(opts, &TlsFiles::default(), Some(opts.request_timeout()))?;
        Ok(TokenDiscovery {
            base: super::service_base(service),
            token: token.to_string(),
            http,
        })
    }

    /// The service's base URL.
    pub fn service(&self) -> &str {
        &self.base
    }

    /// The token.
    pub fn token(&self) -> &str {
        &self.token
    }

    fn cluster_url(&self) -> String {
        format!("{}/v1/clusters/{}", self.base, self.token)
    }

    fn err(&self, reason: impl std::fmt::Display) -> DiscoveryError {
        DiscoveryError::backend("token service", &self.base, reason)
    }
}

/// Asks the service at `service` for a new token.
pub async fn create_cluster(service: &str, opts: &DiscoveryOpts) -> Result<String, DiscoveryError> {
    let base = super::service_base(service);
    let err = |r: String| DiscoveryError::backend("token service", &base, r);
    let http = http::client(opts, &TlsFiles::default(), Some(opts.request_timeout()))?;
    let resp = http
        .post(format!("{base}/v1/clusters"))
        .send()
        .await
        .map_err(|e| err(http::describe(&e)))?;
    let status = resp.status();
    let body = resp.text().await.map_err(|e| err(http::describe(&e)))?;
    if !status.is_success() {
        return Err(err(format!("create returned {status}: {}", body.trim())));
    }
    let token = body.trim().to_string();
    if !super::valid_token(&token) {
        return Err(err(format!("create returned a malformed token {token:?}")));
    }
    Ok(token)
}

#[async_trait::async_trait]
impl Discovery for TokenDiscovery {
    fn scheme(&self) -> &'static str {
        "token"
    }

    async fn fetch(&self) -> Result<Vec<String>, DiscoveryError> {
        let resp = self
            .http
            .get(self.cluster_url())
            .send()
            .await
            .map_err(|e| self.err(http::describe(&e)))?;
        let status = resp.status();
        if status == reqwest::StatusCode::NOT_FOUND {
            return Err(self.err(format!("unknown token {:?}", self.token)));
        }
        if !status.is_success() {
            let body = resp.text().await.unwrap_or_default();
            return Err(self.err(format!(
                "fetching entries returned {status}: {}",
                body.trim()
            )));
        }
        let list: Vec<String> = resp
            .json()
            .await
            .map_err(|e| self.err(format!("bad answer: {}", http::describe(&e))))?;
        Ok(addr::dedup(list))
    }

    fn watch(&self, heartbeat: Duration) -> Watch {
        let me = self.clone();
        watch::poll(heartbeat, move || {
            let me = me.clone();
            async move { me.fetch().await }
        })
    }

    async fn register(&self, addr: &str, ttl: Duration) -> Result<(), DiscoveryError> {
        validate_addr(addr)?;
        let secs = ttl.as_secs().max(1);
        let resp = self
            .http
            .post(format!("{}?ttl={secs}", self.cluster_url()))
            .header("content-type", "application/json")
            .body(addr.to_string())
            .send()
            .await
            .map_err(|e| self.err(http::describe(&e)))?;
        let status = resp.status();
        if !status.is_success() {
            let body = resp.text().await.unwrap_or_default();
            return Err(self.err(format!(
                "registering {addr} returned {status}: {}",
                body.trim()
            )));
        }
        Ok(())
    }
}
