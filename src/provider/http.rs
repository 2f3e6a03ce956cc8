//! Reading HTTP bodies from other systems with a cap on size and on total
//! time. Every body mezhved takes from the network (SMEV answers, the
//! node's WSDL, registers, attachments, another daemon's ops server) goes
//! through here: the body is streamed and reading stops at the cap, so a
//! peer answering with a gigabyte, or a byte a minute, costs at most the
//! cap in memory and the limit in time — the size is never learnt by
//! buffering everything first.
//!
//! ```no_run
//! # async fn f(client: reqwest::Client) -> Result<(), mezhved::provider::http::ReadError> {
//! use mezhved::provider::http::{BodyLimit, send_bounded};
//! let limit = BodyLimit::new(1024 * 1024, std::time::Duration::from_secs(30));
//! let answer = send_bounded(client.get("https://example.org/register.xml"), limit).await?;
//! println!("HTTP {}: {} bytes", answer.status, answer.body.len());
//! # Ok(()) }
//! ```

use std::time::Duration;

use tokio::time::Instant;

/// How much of a body is read, and by when it must have arrived.
#[derive(Clone, Copy, Debug)]
pub struct BodyLimit {
    pub max_bytes: usize,
    /// The whole exchange (headers and body) ends by then.
    pub deadline: Instant,
}

impl BodyLimit {
    /// At most `max_bytes`, all within `total` from now.
    pub fn new(max_bytes: usize, total: Duration) -> Self {
        BodyLimit {
            max_bytes,
            deadline: Instant::now() + total,
        }
    }

    fn total(&self) -> Duration {
        self.deadline.saturating_duration_since(Instant::now())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("the body exceeds the limit of {limit} bytes")]
    TooLarge { limit: usize },
    #[error("the answer did not arrive in full within the time allowed")]
    Timeout,
    #[error(transparent)]
    Transport(#[from] reqwest::Error),
}

/// An answer read within its limits.
#[derive(Debug)]
pub struct Bounded {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: Vec<u8>,
}

/// Sends `request` and reads the whole answer within `limit`: a body over
/// `limit.max_bytes` is refused ([`ReadError::TooLarge`]) without being
/// read further, and headers and body together must arrive by the
/// deadline.
pub async fn send_bounded(
    request: reqwest::RequestBuilder,
    limit: BodyLimit,
) -> Result<Bounded, ReadError> {
    let resp = tokio::time::timeout_at(limit.deadline, request.timeout(limit.total()).send())
        .await
        .map_err(|_| ReadError::Timeout)??;
    let (status, headers) = (resp.status().as_u16(), resp.headers().clone());
    let body = read_bounded(resp, limit).await?;
    Ok(Bounded {
        status,
        headers,
        body,
    })
}

/// Reads a whole body of at most `limit.max_bytes` by the deadline; a
/// declared or actual size over the limit is refused as soon as it shows.
pub async fn read_bounded(resp: reqwest::Response, limit: BodyLimit) -> Result<Vec<u8>, ReadError> {
    if resp
        .content_length()
        .is_some_and(|n| n > limit.max_bytes as u64)
    {
        return Err(ReadError::TooLarge {
            limit: limit.max_bytes,
        });
    }
    read(resp, limit, false).await
}

/// Why an MTOM body could not be read.
#[derive(Debug)]
pub enum MultipartReadError {
    Read(ReadError),
    Attachment(crate::attachment::AttachmentError),
}

/// Reads a `multipart/related` body by the deadline, each attachment part
/// streamed to a file under `dir` as its chunks arrive and the envelope
/// kept in memory up to `limits.max_envelope_bytes`; `limits` bound each
/// part, their number and their total.
pub async fn read_multipart(
    mut resp: reqwest::Response,
    limit: BodyLimit,
    content_type: &str,
    dir: &std::path::Path,
    limits: crate::attachment::Limits,
) -> Result<crate::attachment::mtom::Received, MultipartReadError> {
    let mut reader = crate::attachment::mtom::MultipartReader::new(content_type, dir, limits)
        .map_err(MultipartReadError::Attachment)?;
    loop {
        let chunk = tokio::time::timeout_at(limit.deadline, resp.chunk())
            .await
            .map_err(|_| MultipartReadError::Read(ReadError::Timeout))?
            .map_err(|e| MultipartReadError::Read(e.into()))?;
        let Some(chunk) = chunk else {
            return reader.finish().map_err(MultipartReadError::Attachment);
        };
        reader
            .feed(&chunk)
            .map_err(MultipartReadError::Attachment)?;
    }
}

/// Reads the first `limit.max_bytes` of a body (all of a shorter one) by
/// the deadline and drops the connection's rest unread: for a look at the
/// beginning of something that may be huge.
pub async fn read_prefix(resp: reqwest::Response, limit: BodyLimit) -> Result<Vec<u8>, ReadError> {
    read(resp, limit, true).await
}

async fn read(
    mut resp: reqwest::Response,
    limit: BodyLimit,
    truncate: bool,
) -> Result<Vec<u8>, ReadError> {
    let mut body = Vec::new();
    loop {
        let chunk = tokio::time::timeout_at(limit.deadline, resp.chunk())
            .await
            .map_err(|_| ReadError::Timeout)??;
        let Some(chunk) = chunk else {
            return Ok(body);
        };
        let room = limit.max_bytes - body.len();
        if chunk.len() > room {
            if truncate {
                body.extend_from_slice(&chunk[..room]);
                return Ok(body);
            }
            return Err(ReadError::TooLarge {
                limit: limit.max_bytes,
            });
        }
        body.extend_from_slice(&chunk);
        if truncate && body.len() == limit.max_bytes {
            return Ok(body);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// A server that answers every connection with `head`, then writes
    /// `chunk` `times` times, pausing `pause` between writes; returns its
    /// URL and a counter of the bytes it managed to write.
    async fn server(
        head: String,
        chunk: Vec<u8>,
        times: usize,
        pause: Duration,
    ) -> (String, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let written = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let w = written.clone();
        tokio::spawn(async move {
            while let Ok((mut s, _)) = listener.accept().await {
                let (head, chunk, w) = (head.clone(), chunk.clone(), w.clone());
                tokio::spawn(async move {
                    let mut buf = [0u8; 4096];
                    let _ = s.read(&mut buf).await;
                    if s.write_all(head.as_bytes()).await.is_err() {
                        return;
                    }
                    for _ in 0..times {
                        if s.write_all(&chunk).await.is_err() {
                            return;
                        }
                        w.fetch_add(chunk.len(), std::sync::atomic::Ordering::SeqCst);
                        if !pause.is_zero() {
                            tokio::time::sleep(pause).await;
                        }
                    }
                });
            }
        });
        (format!("http://{addr}/"), written)
    }

    const CHUNKED: &str = "HTTP/1.1 200 OK\r\nContent-Type: text/xml\r\nConnection: close\r\n\r\n";

    #[tokio::test]
    async fn a_huge_body_is_refused_at_the_cap_without_reading_it_all() {
        // 1 GiB offered in 64 KiB writes; no Content-Length.
        let (url, written) = server(CHUNKED.into(), vec![b'x'; 65536], 16384, Duration::ZERO).await;
        let limit = BodyLimit::new(1024 * 1024, Duration::from_secs(10));
        let err = send_bounded(reqwest::Client::new().get(&url), limit)
            .await
            .unwrap_err();
        assert!(
            matches!(err, ReadError::TooLarge { limit: 1048576 }),
            "{err}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
        let sent = written.load(std::sync::atomic::Ordering::SeqCst);
        assert!(sent < 64 * 1024 * 1024, "the peer wrote {sent} bytes");
    }

    #[tokio::test]
    async fn a_declared_length_over_the_cap_is_refused_before_reading() {
        let head = "HTTP/1.1 200 OK\r\nContent-Length: 1073741824\r\n\r\n".to_owned();
        let (url, _) = server(head, vec![b'x'; 1024], 1, Duration::ZERO).await;
        let resp = reqwest::get(&url).await.unwrap();
        let limit = BodyLimit::new(4096, Duration::from_secs(5));
        assert!(matches!(
            read_bounded(resp, limit).await,
            Err(ReadError::TooLarge { .. })
        ));
    }

    #[tokio::test]
    async fn a_prefix_is_the_first_bytes_only() {
        let (url, _) = server(
            CHUNKED.into(),
            b"0123456789".to_vec(),
            100_000,
            Duration::ZERO,
        )
        .await;
        let resp = reqwest::get(&url).await.unwrap();
        let got = read_prefix(resp, BodyLimit::new(25, Duration::from_secs(5)))
            .await
            .unwrap();
        assert_eq!(got, b"0123456789012345678901234");
        let (url, _) = server(CHUNKED.into(), b"short".to_vec(), 1, Duration::ZERO).await;
        let resp = reqwest::get(&url).await.unwrap();
        let got = read_prefix(resp, BodyLimit::new(25, Duration::from_secs(5)))
            .await
            .unwrap();
        assert_eq!(got, b"short");
    }

    #[tokio::test]
    async fn a_trickling_body_ends_at_the_total_time_cap() {
        // One byte every 100 ms, each well within any idle timeout.
        let (url, _) = server(
            CHUNKED.into(),
            b"x".to_vec(),
            1000,
            Duration::from_millis(100),
        )
        .await;
        let started = std::time::Instant::now();
        let limit = BodyLimit::new(1024 * 1024, Duration::from_millis(800));
        let err = send_bounded(reqwest::Client::new().get(&url), limit)
            .await
            .unwrap_err();
        assert!(
            matches!(err, ReadError::Timeout)
                || matches!(&err, ReadError::Transport(e) if e.is_timeout()),
            "{err}"
        );
        assert!(started.elapsed() < Duration::from_secs(5));
    }
}
