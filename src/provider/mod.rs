//! HTTP to the SMEV node: one SOAP call, bounded in time and size, the
//! errors sorted into what can be retried, and a circuit breaker so that a
//! dead node is not hammered.

pub mod breaker;
pub mod http;

use std::sync::Arc;
use std::time::Duration;

pub use breaker::{Breaker, BreakerState, Permit};

use crate::smev::Operation;

/// The largest SMEV answer read; larger payloads travel as attachments.
pub const MAX_RESPONSE_BYTES: usize = 16 * 1024 * 1024;
/// What the readiness probe reads of the node's WSDL: enough to see its
/// `definitions` element, never the whole document.
pub const PROBE_BYTES: usize = 4096;

#[derive(Debug, thiserror::Error)]
pub enum ProviderError {
    #[error("cannot reach the SMEV node at {endpoint}: {message}")]
    Connect { endpoint: String, message: String },
    #[error("the SMEV node at {endpoint} did not answer within {secs} s")]
    Timeout { endpoint: String, secs: u64 },
    #[error("the SMEV node answered HTTP {status} without a SOAP message: {excerpt}")]
    Http { status: u16, excerpt: String },
    #[error("the SMEV answer exceeds {MAX_RESPONSE_BYTES} bytes")]
    TooLarge,
    /// A multipart (MTOM) answer that could not be read to its end.
    #[error("the SMEV answer's attachments cannot be read: {0}")]
    Attachment(String),
}

impl ProviderError {
    /// Connection problems, timeouts and server errors pass; a 4xx means
    /// the request itself is wrong.
    pub fn is_retryable(&self) -> bool {
        match self {
            ProviderError::Http { status, .. } => *status >= 500 || *status == 429,
            ProviderError::TooLarge => false,
            _ => true,
        }
    }

    /// The endpoint itself is failing (as opposed to refusing this call):
    /// what the circuit breaker counts.
    pub fn is_endpoint_failure(&self) -> bool {
        match self {
            ProviderError::Http { status, .. } => *status >= 500,
            ProviderError::TooLarge | ProviderError::Attachment(_) => false,
            _ => true,
        }
    }
}

/// When the circuit breaker opens.
#[derive(Clone, Copy, Debug)]
pub struct BreakerSettings {
    pub failures: u32,
    pub open_for: Duration,
    pub max_open_for: Duration,
}

/// The SMEV endpoint.
#[derive(Clone, Debug)]
pub struct SmevClient {
    http: reqwest::Client,
    endpoint: String,
    timeout: Duration,
    breaker: Arc<Breaker>,
}

impl SmevClient {
    /// `connections`: how many exchanges the caller runs at once at most
    /// (see [`crate::config::Settings::smev_connections`]); as many
    /// connections are kept alive between calls, so that no call waits
    /// for a TCP and TLS handshake once the pool is warm.
    pub fn new(
        endpoint: &str,
        timeout: Duration,
        breaker: BreakerSettings,
        connections: usize,
    ) -> Result<Self, ProviderError> {
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(10)))
            .pool_max_idle_per_host(connections.max(1))
            .build()
            .map_err(|e| ProviderError::Connect {
                endpoint: endpoint.to_owned(),
                message: e.to_string(),
            })?;
        let name = crate::config::redact_url(endpoint);
        Ok(SmevClient {
            http,
            endpoint: endpoint.to_owned(),
            timeout,
            breaker: Arc::new(Breaker::new(
                &name,
                breaker.failures,
                breaker.open_for,
                breaker.max_open_for,
            )),
        })
    }

    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    pub fn breaker(&self) -> &Breaker {
        &self.breaker
    }

    /// Waits for the circuit breaker, then calls.
    pub async fn call(&self, op: Operation, envelope: Vec<u8>) -> Result<Vec<u8>, ProviderError> {
        let permit = self.breaker.admit().await;
        self.call_admitted(permit, op, envelope).await
    }

    /// Calls with leave already given; the outcome goes to the breaker.
    pub async fn call_admitted(
        &self,
        permit: Permit<'_>,
        op: Operation,
        envelope: Vec<u8>,
    ) -> Result<Vec<u8>, ProviderError> {
        self.call_admitted_with(permit, op, envelope, None).await
    }

    /// As `call_admitted`, with the body's content type (`None`: a SOAP
    /// envelope; an MTOM body names its `multipart/related` type).
    pub async fn call_admitted_with(
        &self,
        permit: Permit<'_>,
        op: Operation,
        body: Vec<u8>,
        content_type: Option<&str>,
    ) -> Result<Vec<u8>, ProviderError> {
        let r = self.post(op, body, content_type).await;
        permit.record(!r.as_ref().is_err_and(ProviderError::is_endpoint_failure));
        r
    }

    /// Calls with leave already given, accepting an MTOM answer
    /// (`multipart/related`): its attachment parts are streamed to files
    /// under `staging` (never held in memory) and the SOAP envelope is
    /// returned as the body.
    pub async fn call_admitted_with_parts(
        &self,
        permit: Permit<'_>,
        op: Operation,
        envelope: Vec<u8>,
        staging: &std::path::Path,
        limits: crate::attachment::Limits,
    ) -> Result<(Vec<u8>, Option<crate::attachment::mtom::Received>), ProviderError> {
        let r = self
            .post_parts(op, envelope, None, Some((staging, limits)))
            .await;
        permit.record(!r.as_ref().is_err_and(ProviderError::is_endpoint_failure));
        r
    }

    /// POSTs a SOAP envelope. A SOAP fault arrives as HTTP 500 with a body
    /// and is returned as a body, for the SMEV layer to read.
    async fn post(
        &self,
        op: Operation,
        envelope: Vec<u8>,
        content_type: Option<&str>,
    ) -> Result<Vec<u8>, ProviderError> {
        self.post_parts(op, envelope, content_type, None)
            .await
            .map(|(b, _)| b)
    }

    async fn post_parts(
        &self,
        op: Operation,
        envelope: Vec<u8>,
        content_type: Option<&str>,
        staging: Option<(&std::path::Path, crate::attachment::Limits)>,
    ) -> Result<(Vec<u8>, Option<crate::attachment::mtom::Received>), ProviderError> {
        let resp = self
            .http
            .post(&self.endpoint)
            .header(
                "Content-Type",
                content_type.unwrap_or("text/xml; charset=utf-8"),
            )
            .header("SOAPAction", format!("\"{}\"", op.soap_action()))
            .body(envelope)
            .send()
            .await
            .map_err(|e| self.classify(e))?;
        let status = resp.status().as_u16();
        // The client's timeout covers the whole exchange; the body is
        // streamed and reading stops at the cap.
        let limit = http::BodyLimit::new(MAX_RESPONSE_BYTES, self.timeout);
        let content_type = resp
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned();
        if let Some((dir, limits)) = staging
            && status == 200
            && crate::attachment::mtom::is_multipart(&content_type)
        {
            let dir = dir.join(uuid::Uuid::new_v4().to_string());
            let received = http::read_multipart(resp, limit, &content_type, &dir, limits)
                .await
                .map_err(|e| match e {
                    http::MultipartReadError::Read(e) => self.read_failed(e),
                    http::MultipartReadError::Attachment(e) => {
                        ProviderError::Attachment(e.to_string())
                    }
                });
            let received = match received {
                Ok(r) => r,
                Err(e) => {
                    let _ = std::fs::remove_dir_all(&dir);
                    return Err(e);
                }
            };
            return Ok((received.root.clone(), Some(received)));
        }
        let body = http::read_bounded(resp, limit)
            .await
            .map_err(|e| self.read_failed(e))?;
        let looks_soap = body
            .windows(8)
            .take(512)
            .any(|w| w.eq_ignore_ascii_case(b"envelope"));
        if status == 200 || (status == 500 && looks_soap) {
            return Ok((body, None));
        }
        let excerpt: String = String::from_utf8_lossy(&body).chars().take(200).collect();
        Err(ProviderError::Http { status, excerpt })
    }

    fn classify(&self, e: reqwest::Error) -> ProviderError {
        if e.is_timeout() {
            ProviderError::Timeout {
                endpoint: self.endpoint.clone(),
                secs: self.timeout.as_secs(),
            }
        } else {
            let mut message = e.to_string();
            let mut src = std::error::Error::source(&e);
            while let Some(s) = src {
                message = format!("{message}: {s}");
                src = s.source();
            }
            ProviderError::Connect {
                endpoint: self.endpoint.clone(),
                message,
            }
        }
    }

    fn read_failed(&self, e: http::ReadError) -> ProviderError {
        match e {
            http::ReadError::TooLarge { .. } => ProviderError::TooLarge,
            http::ReadError::Timeout => ProviderError::Timeout {
                endpoint: self.endpoint.clone(),
                secs: self.timeout.as_secs(),
            },
            http::ReadError::Transport(e) => self.classify(e),
        }
    }

    /// Whether the node answers at all, without touching any queue: HTTP
    /// GET of its WSDL (`<endpoint>?wsdl`), which SMEV nodes serve.
    pub async fn probe(&self, limit: Duration) -> Result<(), ProviderError> {
        let url = format!("{}?wsdl", self.endpoint);
        let resp = self
            .http
            .get(&url)
            .timeout(limit)
            .send()
            .await
            .map_err(|e| self.classify(e))?;
        let status = resp.status().as_u16();
        // The first few KB say whether it is a WSDL; a node answering with
        // a huge one is not read further.
        let body = http::read_prefix(resp, http::BodyLimit::new(PROBE_BYTES, limit))
            .await
            .map_err(|e| self.read_failed(e))?;
        let wsdl = body.windows(11).any(|w| w == b"definitions");
        if status == 200 && wsdl {
            return Ok(());
        }
        let excerpt: String = String::from_utf8_lossy(&body).chars().take(200).collect();
        Err(ProviderError::Http { status, excerpt })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};

    /// An HTTP/1.1 server that keeps connections alive and counts how
    /// many it accepted.
    async fn keep_alive_server() -> (String, Arc<AtomicUsize>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/smev", listener.local_addr().unwrap());
        let accepted = Arc::new(AtomicUsize::new(0));
        let count = accepted.clone();
        tokio::spawn(async move {
            while let Ok((s, _)) = listener.accept().await {
                count.fetch_add(1, Ordering::SeqCst);
                tokio::spawn(async move {
                    let mut s = BufReader::new(s);
                    loop {
                        let mut length = 0usize;
                        loop {
                            let mut line = String::new();
                            if s.read_line(&mut line).await.unwrap_or(0) == 0 {
                                return;
                            }
                            let lower = line.to_ascii_lowercase();
                            if let Some(v) = lower.strip_prefix("content-length:") {
                                length = v.trim().parse().unwrap();
                            }
                            if line == "\r\n" {
                                break;
                            }
                        }
                        let mut body = vec![0; length];
                        s.read_exact(&mut body).await.unwrap();
                        // Slow enough for the calls of a round to overlap.
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        let answer = b"HTTP/1.1 200 OK\r\nContent-Type: text/xml\r\nContent-Length: 5\r\n\r\n<ok/>";
                        if s.get_mut().write_all(answer).await.is_err() {
                            return;
                        }
                    }
                });
            }
        });
        (url, accepted)
    }

    async fn rounds(connections: usize, calls: usize, rounds: usize) -> usize {
        let (url, accepted) = keep_alive_server().await;
        let breaker = BreakerSettings {
            failures: 100,
            open_for: Duration::from_secs(1),
            max_open_for: Duration::from_secs(1),
        };
        let client = SmevClient::new(&url, Duration::from_secs(10), breaker, connections).unwrap();
        for _ in 0..rounds {
            let calls = (0..calls).map(|_| client.call(Operation::GetResponse, b"<x/>".to_vec()));
            for answer in futures_util::future::join_all(calls).await {
                assert_eq!(answer.unwrap(), b"<ok/>");
            }
            // A finished exchange's connection goes back to the pool on
            // the client's own task: let it before the next round.
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        accepted.load(Ordering::SeqCst)
    }

    #[tokio::test]
    async fn connections_up_to_the_concurrency_are_kept_alive_between_calls() {
        // Three rounds of eight calls at once: eight connections, reused.
        assert_eq!(rounds(8, 8, 3).await, 8);
        // The control: a pool keeping two makes six new ones per round.
        assert_eq!(rounds(2, 8, 3).await, 8 + 6 + 6);
    }
}
