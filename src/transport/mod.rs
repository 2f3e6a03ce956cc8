//! How requests arrive and results leave: RabbitMQ in production, a spool
//! directory when no broker is available (the demo on a bare machine). Both
//! behave the same: a message is acknowledged only after it is recorded, and
//! replies and dead letters are confirmed before they count as sent.

mod amqp;
pub mod deadletters;
mod spool;

use serde::Serialize;

use crate::casefile::ReplyRoute;
use crate::request::Invalid;

pub use amqp::{AmqpInbox, AmqpLink, AmqpOutbox, Topology, connect_amqp, declare_topology};
pub use spool::{SpoolInbox, SpoolOutbox, spool};

/// One received message.
#[derive(Debug)]
pub struct Incoming {
    pub body: Vec<u8>,
    pub reply: ReplyRoute,
    /// The AMQP `message_id` property, if the publisher set one.
    pub message_id: Option<String>,
    /// Whether the broker delivered it before (a restart or a crash).
    pub redelivered: bool,
    /// Deliveries before this one (quorum queues count them; the broker
    /// dead-letters the message at `amqp.delivery_limit`).
    pub delivery_count: u32,
    pub(crate) token: AckToken,
}

#[derive(Debug)]
pub(crate) enum AckToken {
    Amqp(lapin::Acker),
    Spool(std::path::PathBuf),
}

/// How long an acknowledgement may take. On a connection that dies while
/// it is written, lapin may never settle it; the delivery then comes back
/// from the broker and is recognised, so giving up loses nothing.
const ACK_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// A broker call that fails instead of hanging when the broker is lost
/// mid-call.
pub(crate) async fn bounded<T>(
    what: &str,
    limit: std::time::Duration,
    call: impl std::future::Future<Output = Result<T, lapin::Error>>,
) -> Result<T, TransportError> {
    match tokio::time::timeout(limit, call).await {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(TransportError::Broker(format!("{what}: {e}"))),
        Err(_) => Err(TransportError::Broker(format!(
            "{what}: no answer from the broker within {} s",
            limit.as_secs()
        ))),
    }
}

/// Where requests are read from.
pub enum Inbox {
    Amqp(Box<AmqpInbox>),
    Spool(SpoolInbox),
}

impl Inbox {
    /// The next message; `None` when the source is closed.
    pub async fn recv(&mut self) -> Result<Option<Incoming>, TransportError> {
        match self {
            Inbox::Amqp(i) => i.recv().await,
            Inbox::Spool(i) => i.recv().await,
        }
    }

    /// Stops taking new messages.
    pub async fn close(&mut self) {
        if let Inbox::Amqp(i) = self {
            i.close().await
        }
    }
}

/// Where replies and dead letters are written. Cheap to clone.
#[derive(Clone)]
pub enum Outbox {
    Amqp(Box<AmqpOutbox>),
    Spool(SpoolOutbox),
}

impl Outbox {
    pub async fn ack(&self, msg: &Incoming) -> Result<(), TransportError> {
        match &msg.token {
            AckToken::Amqp(acker) => bounded(
                "ack",
                ACK_TIMEOUT,
                acker.ack(lapin::options::BasicAckOptions::default()),
            )
            .await
            .map(|_| ()),
            AckToken::Spool(path) => spool::ack(path),
        }
    }

    /// Gives a message back to the broker for another attempt.
    pub async fn requeue(&self, msg: &Incoming) -> Result<(), TransportError> {
        match &msg.token {
            AckToken::Amqp(acker) => bounded(
                "nack",
                ACK_TIMEOUT,
                acker.nack(lapin::options::BasicNackOptions {
                    requeue: true,
                    ..Default::default()
                }),
            )
            .await
            .map(|_| ()),
            AckToken::Spool(path) => spool::requeue(path),
        }
    }

    /// Publishes a reply (a result or a refusal): to `reply_to` with the
    /// `correlation_id` when the case system asked for it, otherwise (or
    /// when that queue does not exist) to the results exchange with the
    /// reply's routing key. Says where it went.
    pub async fn publish_reply(&self, reply: &Reply<'_>) -> Result<Routed, TransportError> {
        match self {
            Outbox::Amqp(o) => o.publish_reply(reply).await,
            Outbox::Spool(o) => o.publish_reply(reply).map(|()| Routed::Spool),
        }
    }

    pub async fn publish_dead(&self, letter: &DeadLetter) -> Result<(), TransportError> {
        let body = serde_json::to_vec_pretty(letter).expect("dead letters serialise");
        match self {
            Outbox::Amqp(o) => o.publish_dead(letter, &body).await,
            Outbox::Spool(o) => o.publish_dead(&body),
        }
    }

    /// Publishes an event for case systems (type `event_type`, e.g.
    /// `mezhved.overdue`) to the results exchange.
    pub async fn publish_event(
        &self,
        routing_key: &str,
        event_type: &str,
        body: &[u8],
    ) -> Result<(), TransportError> {
        match self {
            Outbox::Amqp(o) => o.publish_event(routing_key, event_type, body).await,
            Outbox::Spool(o) => o.publish_event(routing_key, body),
        }
    }

    pub fn describe(&self) -> String {
        match self {
            Outbox::Amqp(o) => o.describe(),
            Outbox::Spool(o) => o.describe(),
        }
    }

    /// The transport's health: connected and consuming, with the depths
    /// of its queues.
    pub async fn health(&self) -> Health {
        use crate::i18n::Msg;
        match self {
            Outbox::Amqp(o) => match o.queue_stats().await {
                Ok(queues) if o.consuming() => Health {
                    ok: true,
                    detail: Msg::new("check.broker.ok").into(),
                    queues,
                },
                Ok(queues) => Health {
                    ok: false,
                    detail: Msg::new("check.broker.not_consuming").into(),
                    queues,
                },
                Err(e) => Health {
                    ok: false,
                    detail: Msg::new("check.broker.failed").arg("error", e).into(),
                    queues: Vec::new(),
                },
            },
            Outbox::Spool(o) => Health {
                ok: true,
                detail: Msg::new("check.broker.spool")
                    .arg("dir", o.dir().display())
                    .into(),
                queues: o.queue_stats(),
            },
        }
    }
}

/// A reply to publish.
pub struct Reply<'a> {
    pub route: &'a ReplyRoute,
    /// The routing key on the results exchange: the kind for a result,
    /// `refused.<kind>` for a refusal.
    pub routing_key: String,
    /// The AMQP `type`: [`RESULT_TYPE`] or [`REFUSED_TYPE`].
    pub message_type: &'static str,
    /// The AMQP `message_id`: the `request_id` of a result, the dead
    /// letter's id of a refusal.
    pub message_id: String,
    pub body: &'a [u8],
}

/// The AMQP `type` of a result.
pub const RESULT_TYPE: &str = "mezhved.result";
/// The AMQP `type` of the reply to a refused message.
pub const REFUSED_TYPE: &str = "mezhved.refused";

impl Reply<'_> {
    /// The file name of the reply in the spool's `out/`.
    fn spool_name(&self) -> String {
        if self.message_type == REFUSED_TYPE {
            format!("refused-{}.json", self.message_id)
        } else {
            format!("{}.json", self.message_id)
        }
    }
}

/// Where a published reply went.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Routed {
    /// To the `reply_to` queue.
    ReplyTo,
    /// To the results exchange with this routing key: no `reply_to` was
    /// asked for, or (`missing`) that queue does not exist.
    Results {
        exchange: String,
        routing_key: String,
        missing: Option<String>,
    },
    /// To the spool's `out/` directory.
    Spool,
}

/// Messages waiting in one of the gateway's queues.
#[derive(Clone, Debug, Serialize)]
pub struct QueueStat {
    /// `requests`, `dead` or `replies`.
    pub role: &'static str,
    pub name: String,
    pub messages: u64,
    pub consumers: u64,
}

#[derive(Clone, Debug)]
pub struct Health {
    pub ok: bool,
    pub detail: crate::i18n::Both,
    pub queues: Vec<QueueStat>,
}

/// A refused message as it lands in the dead-letter queue: the reason, and
/// the original untouched so that it can be fixed and replayed. A body
/// over the request size limit keeps only its first
/// [`DEAD_LETTER_EXCERPT`] bytes (with its size and SHA-256), so a letter
/// stays small whatever was published.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct DeadLetter {
    /// This letter's own id (`mezhved dlq show|replay ID`).
    #[serde(default)]
    pub id: String,
    pub reason: Invalid,
    pub received_at: String,
    /// The original body when it is UTF-8 text without control
    /// characters…
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub original: Option<String>,
    /// …otherwise in base64.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub original_base64: Option<String>,
    /// The body's size in bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub original_bytes: Option<u64>,
    /// The body's SHA-256 (hex), to match it with what the publisher sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub original_sha256: Option<String>,
    /// Only the beginning of the body is kept (it was over the limit).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub original_truncated: bool,
    /// For `request_id_reused`: the digests of the stored request and of
    /// this one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conflict: Option<Conflict>,
    #[serde(default)]
    pub reply: ReplyRoute,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message_id: Option<String>,
}

/// Two different requests under one `request_id`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct Conflict {
    pub case_id: String,
    /// SHA-256 of the stored `request.json`.
    pub stored_sha256: String,
    /// SHA-256 of this request in the same (stored) form.
    pub received_sha256: String,
}

/// How much of an oversized body a dead letter keeps.
pub const DEAD_LETTER_EXCERPT: usize = 4096;

/// A body's text for a letter: UTF-8 without control characters other
/// than tab and line ends is kept as text (JSON escapes it at most twice
/// over); anything else as base64 (4/3), never an escaped copy that grows
/// sixfold. A cut that splits a UTF-8 character drops the partial one.
pub fn body_for_letter(body: &[u8]) -> (Option<String>, Option<String>) {
    use base64::Engine as _;
    let text = match std::str::from_utf8(body) {
        Ok(t) => Some(t),
        // An excerpt cut inside a character: the text before it.
        Err(e) if e.error_len().is_none() => std::str::from_utf8(&body[..e.valid_up_to()]).ok(),
        Err(_) => None,
    };
    match text {
        Some(t)
            if !t
                .chars()
                .any(|c| c.is_control() && !matches!(c, '\t' | '\n' | '\r')) =>
        {
            (Some(t.to_owned()), None)
        }
        _ => (
            None,
            Some(base64::engine::general_purpose::STANDARD.encode(body)),
        ),
    }
}

impl DeadLetter {
    pub fn new(reason: Invalid, msg: &Incoming) -> Self {
        let body = &msg.body;
        let truncated = body.len() > crate::request::MAX_BODY_BYTES;
        let kept = if truncated {
            &body[..DEAD_LETTER_EXCERPT]
        } else {
            &body[..]
        };
        let (original, original_base64) = body_for_letter(kept);
        DeadLetter {
            id: uuid::Uuid::new_v4().to_string(),
            reason,
            received_at: crate::clock::rfc3339(crate::clock::now()),
            original,
            original_base64,
            original_bytes: Some(body.len() as u64),
            original_sha256: Some(crate::casefile::sha256_hex(body)),
            original_truncated: truncated,
            conflict: None,
            reply: msg.reply.clone(),
            message_id: msg.message_id.clone(),
        }
    }
}

/// Why a delivery's `reply_to` cannot be honoured: it names one of the
/// gateway's own queues or its results exchange, where a reply would be
/// read as a request, hidden among dead letters, or mixed into the
/// replies of others.
pub fn unsafe_reply_to(route: &ReplyRoute, amqp: &crate::config::AmqpSettings) -> Option<Invalid> {
    let to = route.reply_to.as_deref()?;
    let own = [
        amqp.queue_requests(),
        amqp.queue_dead(),
        amqp.queue_replies(),
        amqp.exchange_results(),
    ];
    own.iter().any(|n| n == to).then(|| {
        Invalid::new(
            crate::request::InvalidCode::UnsafeReplyTo,
            "reply_to",
            format!(
                "reply_to {to:?} names one of the gateway's own queues; give the case system's reply queue"
            ),
        )
    })
}

#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    #[error("RabbitMQ: {0}")]
    Broker(String),
    #[error("the broker refused (nack) a message published to {0}")]
    Nacked(String),
    #[error("spool directory {path}: {message}")]
    Spool { path: String, message: String },
}

#[cfg(test)]
mod tests {
    use super::*;

    fn incoming(body: Vec<u8>) -> Incoming {
        Incoming {
            body,
            reply: ReplyRoute::default(),
            message_id: None,
            redelivered: false,
            delivery_count: 0,
            token: AckToken::Spool(std::path::PathBuf::new()),
        }
    }

    fn reason() -> Invalid {
        Invalid::new(crate::request::InvalidCode::TooLarge, "", "too large")
    }

    #[test]
    fn a_huge_body_leaves_a_bounded_letter_with_its_size_and_digest() {
        // 25 MB of control characters: escaped, they would be 150 MB.
        let body = vec![1u8; 25 * 1024 * 1024];
        let letter = DeadLetter::new(reason(), &incoming(body.clone()));
        let json = serde_json::to_vec(&letter).unwrap();
        assert!(json.len() < 8 * 1024, "{} bytes", json.len());
        assert!(letter.original_truncated);
        assert_eq!(letter.original_bytes, Some(body.len() as u64));
        assert_eq!(
            letter.original_sha256.as_deref(),
            Some(crate::casefile::sha256_hex(&body).as_str())
        );
        use base64::Engine as _;
        let excerpt = base64::engine::general_purpose::STANDARD
            .decode(letter.original_base64.unwrap())
            .unwrap();
        assert_eq!(excerpt, &body[..DEAD_LETTER_EXCERPT]);
    }

    #[test]
    fn a_small_body_is_kept_whole_text_or_base64() {
        let text = r#"{"case_id":"Ы"}"#.as_bytes().to_vec();
        let l = DeadLetter::new(reason(), &incoming(text.clone()));
        assert_eq!(l.original.as_deref().map(str::as_bytes), Some(&text[..]));
        assert!(!l.original_truncated);
        let ctl = b"{\"a\":\"\x01\"}".to_vec();
        let l = DeadLetter::new(reason(), &incoming(ctl));
        assert!(l.original.is_none() && l.original_base64.is_some());
        // A cut in the middle of a character keeps the text before it.
        let mut long = "я".repeat(40_000).into_bytes();
        long.push(b'!');
        let l = DeadLetter::new(reason(), &incoming(long));
        let kept = l.original.unwrap();
        assert!(kept.len() <= DEAD_LETTER_EXCERPT && kept.len() >= DEAD_LETTER_EXCERPT - 1);
        assert!(kept.chars().all(|c| c == 'я'));
    }

    #[test]
    fn reply_to_may_not_name_the_gateways_own_queues() {
        let s = crate::config::Settings::load_with_env(None, []).unwrap();
        let route = |q: &str| ReplyRoute {
            reply_to: Some(q.into()),
            correlation_id: None,
            ..ReplyRoute::default()
        };
        for own in [
            "mezhved.dead",
            "mezhved.requests",
            "mezhved.replies",
            "mezhved.results",
        ] {
            let r = unsafe_reply_to(&route(own), &s.amqp).expect(own);
            assert_eq!(r.code, crate::request::InvalidCode::UnsafeReplyTo);
        }
        assert!(unsafe_reply_to(&route("cs.replies"), &s.amqp).is_none());
        assert!(unsafe_reply_to(&ReplyRoute::default(), &s.amqp).is_none());
    }
}
