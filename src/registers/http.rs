//! HTTPS to a register's own service: a client per source with the trust
//! store of that source (sources trusting the same store share one),
//! bounded in time and size, behind a circuit breaker of its own (a dead
//! ЕИС does not hold back Минюст, nor SMEV).
//!
//! What TLS checks here (native-tls, OpenSSL on Linux): the server's
//! certificate chains to a CA of the source's `ca_file` (only those, when
//! one is set; else the system's store) and names the host of the URL.
//! These sources sign nothing inside their answers, so the channel is the
//! only proof of where an answer came from.

use std::sync::Arc;
use std::time::Duration;

use crate::provider::{Breaker, BreakerSettings};

use super::SourceError;

/// An HTTP answer, read whole.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub body: Vec<u8>,
    pub content_type: String,
    pub last_modified: Option<String>,
}

/// The client of one register source.
#[derive(Clone, Debug)]
pub struct SourceClient {
    http: reqwest::Client,
    breaker: Arc<Breaker>,
    name: String,
    timeout: Duration,
    max_bytes: usize,
}

impl SourceClient {
    /// `ca_file`: PEM certificates this source's server must chain to
    /// (empty: the system's store).
    pub fn new(
        name: &str,
        ca_file: &str,
        timeout: Duration,
        breaker: BreakerSettings,
        max_bytes: usize,
    ) -> Result<Self, String> {
        let http = Self::http_client(name, ca_file, timeout)?;
        Ok(Self::with_http(name, http, timeout, breaker, max_bytes))
    }

    /// The HTTPS client trusting `ca_file` (empty: the system's store).
    /// Sources with the same trust and timeout may share one: each client
    /// holds its own parsed copy of the trust store (about 0.7 MB for the
    /// system's), while breakers and limits stay per source.
    pub fn http_client(
        name: &str,
        ca_file: &str,
        timeout: Duration,
    ) -> Result<reqwest::Client, String> {
        let mut b = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(10)))
            .user_agent(concat!("mezhved/", env!("CARGO_PKG_VERSION")))
            .redirect(reqwest::redirect::Policy::none());
        if !ca_file.is_empty() {
            let pem =
                std::fs::read(ca_file).map_err(|e| format!("{name} ca_file {ca_file}: {e}"))?;
            let certs = reqwest::Certificate::from_pem_bundle(&pem)
                .map_err(|e| format!("{name} ca_file {ca_file}: {e}"))?;
            if certs.is_empty() {
                return Err(format!("{name} ca_file {ca_file} holds no certificate"));
            }
            b = b.tls_certs_only(certs);
        }
        b.build().map_err(|e| format!("{name}: {e}"))
    }

    /// A source on `http`, a client from [`SourceClient::http_client`].
    pub fn with_http(
        name: &str,
        http: reqwest::Client,
        timeout: Duration,
        breaker: BreakerSettings,
        max_bytes: usize,
    ) -> Self {
        SourceClient {
            http,
            breaker: Arc::new(Breaker::new(
                name,
                breaker.failures,
                breaker.open_for,
                breaker.max_open_for,
            )),
            name: name.to_owned(),
            timeout,
            max_bytes,
        }
    }

    pub fn breaker(&self) -> &Breaker {
        &self.breaker
    }

    pub fn http(&self) -> &reqwest::Client {
        &self.http
    }

    /// Sends through the breaker; waits while it is open unless
    /// `wait_when_open` is false, when an open circuit is an immediate
    /// [`SourceError::Unavailable`] (the caller has a snapshot to answer from).
    pub async fn send(
        &self,
        req: reqwest::RequestBuilder,
        wait_when_open: bool,
    ) -> Result<Answer, SourceError> {
        if !wait_when_open && self.breaker.holds_calls() {
            return Err(SourceError::Unavailable(format!(
                "{}: the circuit is open after failed calls",
                self.name
            )));
        }
        let permit = self.breaker.admit().await;
        let r = self.read(req).await;
        permit.record(!matches!(&r, Err(SourceError::Unavailable(_))));
        let a = r?;
        if a.status >= 500 || a.status == 429 {
            return Err(SourceError::Unavailable(format!(
                "{} answered HTTP {}: {}",
                self.name,
                a.status,
                excerpt(&a.body)
            )));
        }
        Ok(a)
    }

    async fn read(&self, req: reqwest::RequestBuilder) -> Result<Answer, SourceError> {
        use crate::provider::http::{BodyLimit, ReadError, send_bounded};
        // Streamed and stopped at the cap, headers and body within the
        // timeout in all (one place for every body from the network).
        let limit = BodyLimit::new(self.max_bytes, self.timeout);
        let a = send_bounded(req, limit).await.map_err(|e| match e {
            ReadError::TooLarge { .. } => SourceError::Failed(format!(
                "{}: the answer exceeds {} bytes",
                self.name, self.max_bytes
            )),
            ReadError::Timeout => SourceError::Unavailable(format!(
                "{} did not answer within {} s",
                self.name,
                self.timeout.as_secs()
            )),
            ReadError::Transport(e) => self.classify(e),
        })?;
        let header = |h: reqwest::header::HeaderName| {
            a.headers
                .get(h)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        Ok(Answer {
            status: a.status,
            content_type: header(reqwest::header::CONTENT_TYPE).unwrap_or_default(),
            last_modified: header(reqwest::header::LAST_MODIFIED),
            body: a.body,
        })
    }

    fn classify(&self, e: reqwest::Error) -> SourceError {
        if e.is_timeout() {
            return SourceError::Unavailable(format!(
                "{} did not answer within {} s",
                self.name,
                self.timeout.as_secs()
            ));
        }
        let mut message = e.to_string();
        let mut src = std::error::Error::source(&e);
        while let Some(s) = src {
            message = format!("{message}: {s}");
            src = s.source();
        }
        // A certificate that does not verify is a configuration matter (or
        // an impostor), not an outage: retrying will not help.
        let tls = ["certificate", "handshake", "SSL", "self signed", "hostname"]
            .iter()
            .any(|w| message.contains(w));
        if tls {
            SourceError::Failed(format!("{}: TLS refused the server: {message}", self.name))
        } else {
            SourceError::Unavailable(format!("cannot reach {}: {message}", self.name))
        }
    }
}

/// The start of a body, for messages.
pub fn excerpt(body: &[u8]) -> String {
    String::from_utf8_lossy(body).chars().take(200).collect()
}

#[cfg(test)]
#[path = "http_tls_tests.rs"]
mod tls_tests;
