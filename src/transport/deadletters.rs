//! The dead-letter queue as operators work with it: list and inspect
//! what is there, replay a message to the requests queue (fixed first if
//! need be), purge.
//!
//! Two kinds of letters land there: mezhved's own (a refused message
//! wrapped with its reason, see [`super::DeadLetter`]) and messages the
//! broker moved after the delivery limit (the original, untouched, with
//! `x-first-death-reason`). Both replay their original body.
//!
//! Listing takes the messages without acknowledging them and gives them
//! back at once, so a letter is never lost by looking at it.

use std::time::Duration;

use base64::Engine as _;
use lapin::options::{
    BasicAckOptions, BasicGetOptions, BasicNackOptions, BasicPublishOptions, ConfirmSelectOptions,
    QueueDeclareOptions, QueuePurgeOptions,
};
use lapin::types::{AMQPValue, FieldTable};
use lapin::{BasicProperties, Channel, Connection, ConnectionProperties};
use serde::Serialize;

use super::{DeadLetter, TransportError, bounded};
use crate::casefile::ReplyRoute;
use crate::config::{AmqpSettings, redact_url};

/// At most this many letters are looked at in one go.
pub const MAX_LETTERS: usize = 10_000;
const CALL: Duration = Duration::from_secs(15);

/// One message in the dead-letter queue.
#[derive(Clone, Debug, Serialize)]
pub struct Letter {
    pub id: String,
    /// Why mezhved refused it (`None` for a message the broker moved).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<crate::request::Invalid>,
    /// Why the broker moved it (`delivery_limit`: its handler crashed
    /// every time).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub broker_reason: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub received_at: Option<String>,
    pub reply: ReplyRoute,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub case_id: Option<String>,
    /// The message a replay publishes, as text when it is UTF-8…
    #[serde(skip_serializing_if = "Option::is_none")]
    pub original: Option<String>,
    /// …otherwise in base64.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub original_base64: Option<String>,
    /// The original's size and SHA-256, as mezhved received it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub original_bytes: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub original_sha256: Option<String>,
    /// Only the first bytes of the original were kept (it was over the
    /// size limit): a replay needs a whole new body.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub original_truncated: bool,
    /// For `request_id_reused`: the stored request's and this one's digests.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub conflict: Option<super::Conflict>,
    #[serde(skip)]
    body: Vec<u8>,
}

impl Letter {
    fn read(data: &[u8], props: &BasicProperties) -> Letter {
        let header = |name: &str| {
            props
                .headers()
                .as_ref()
                .and_then(|h| h.inner().get(name).cloned())
                .and_then(|v| match v {
                    AMQPValue::LongString(s) => Some(s.to_string()),
                    AMQPValue::ShortString(s) => Some(s.to_string()),
                    _ => None,
                })
        };
        let prop = |v: &Option<lapin::types::ShortString>| v.as_ref().map(|s| s.to_string());
        let ours = serde_json::from_slice::<DeadLetter>(data)
            .ok()
            .filter(|_| props.kind().as_ref().map(|k| k.as_str()) == Some("mezhved.dead-letter"));
        let mut kept = (None, None, false, None);
        let (body, reason, received_at, reply) = match ours {
            Some(d) => {
                let body = match (d.original, d.original_base64) {
                    (Some(t), _) => t.into_bytes(),
                    (None, Some(b)) => base64::engine::general_purpose::STANDARD
                        .decode(b)
                        .unwrap_or_default(),
                    (None, None) => Vec::new(),
                };
                kept = (
                    d.original_bytes,
                    d.original_sha256,
                    d.original_truncated,
                    d.conflict,
                );
                (body, Some(d.reason), Some(d.received_at), d.reply)
            }
            None => (
                data.to_vec(),
                None,
                None,
                ReplyRoute {
                    reply_to: prop(props.reply_to()),
                    correlation_id: prop(props.correlation_id()),
                    adapter: None,
                },
            ),
        };
        let id = prop(props.message_id())
            .unwrap_or_else(|| crate::casefile::sha256_hex(data)[..16].to_owned());
        let json: Option<serde_json::Value> = serde_json::from_slice(&body).ok();
        let field = |k: &str| {
            json.as_ref()
                .and_then(|v| v.get(k))
                .and_then(|v| v.as_str())
                .map(str::to_owned)
        };
        let (original, original_base64) = super::body_for_letter(&body);
        let (original_bytes, original_sha256, original_truncated, conflict) = kept;
        Letter {
            id,
            reason,
            broker_reason: header("x-first-death-reason"),
            received_at,
            reply,
            request_id: field("request_id"),
            case_id: field("case_id"),
            original,
            original_base64,
            original_bytes,
            original_sha256,
            original_truncated,
            conflict,
            body,
        }
    }

    /// The body a replay publishes after `fix`.
    pub fn fixed_body(&self, fix: &Fix) -> Result<Vec<u8>, String> {
        if self.original_truncated && !matches!(fix, Fix::Body(_)) {
            return Err(format!(
                "letter {}: only the first {} of its {} bytes were kept (it was over the size limit); replay it with a whole new body",
                self.id,
                self.body.len(),
                self.original_bytes.unwrap_or_default()
            ));
        }
        match fix {
            Fix::None => Ok(self.body.clone()),
            Fix::Body(b) => Ok(b.clone()),
            Fix::Set(changes) => {
                let mut v: serde_json::Value = serde_json::from_slice(&self.body).map_err(|e| {
                    format!(
                        "letter {}: the original is not JSON ({e}); replace it whole instead",
                        self.id
                    )
                })?;
                for (path, value) in changes {
                    set_path(&mut v, path, value.clone())
                        .map_err(|e| format!("letter {}: {e}", self.id))?;
                }
                Ok(serde_json::to_vec_pretty(&v).expect("JSON serialises"))
            }
        }
    }
}

/// How to change a letter before replaying it.
#[derive(Clone, Debug)]
pub enum Fix {
    None,
    /// Set these dotted paths (`subject.inn`) to these values.
    Set(Vec<(String, serde_json::Value)>),
    /// Replace the body entirely.
    Body(Vec<u8>),
}

impl Fix {
    /// Parses `PATH=TEXT` (a string) or `PATH:=JSON` (any JSON value).
    pub fn parse_set(items: &[String]) -> Result<Fix, String> {
        if items.is_empty() {
            return Ok(Fix::None);
        }
        let mut out = Vec::new();
        for item in items {
            if let Some((path, json)) = item.split_once(":=") {
                let v = serde_json::from_str(json)
                    .map_err(|e| format!("--set {item}: {json:?} is not JSON ({e})"))?;
                out.push((path.to_owned(), v));
            } else if let Some((path, text)) = item.split_once('=') {
                out.push((path.to_owned(), serde_json::Value::String(text.to_owned())));
            } else {
                return Err(format!(
                    "--set {item}: write PATH=TEXT or PATH:=JSON, e.g. subject.inn=4703123451"
                ));
            }
        }
        Ok(Fix::Set(out))
    }
}

fn set_path(v: &mut serde_json::Value, path: &str, value: serde_json::Value) -> Result<(), String> {
    let parts: Vec<&str> = path.split('.').collect();
    if parts.iter().any(|p| p.is_empty()) {
        return Err(format!("{path:?} is not a dotted path"));
    }
    let mut cur = v;
    for p in &parts[..parts.len() - 1] {
        let obj = cur
            .as_object_mut()
            .ok_or_else(|| format!("{path}: {p} is inside something that is not an object"))?;
        cur = obj
            .entry((*p).to_owned())
            .or_insert_with(|| serde_json::Value::Object(Default::default()));
    }
    let obj = cur
        .as_object_mut()
        .ok_or_else(|| format!("{path}: the parent is not an object"))?;
    obj.insert(parts[parts.len() - 1].to_owned(), value);
    Ok(())
}

/// What became of one replayed letter.
#[derive(Clone, Debug, Serialize)]
pub struct Replayed {
    pub id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    pub ok: bool,
    pub detail: String,
}

/// A connection to the broker for working on the dead-letter queue.
pub struct DeadLetters {
    _conn: Connection,
    channel: Channel,
    dead: String,
    requests: String,
}

impl DeadLetters {
    pub async fn connect(s: &AmqpSettings) -> Result<Self, TransportError> {
        let conn = bounded(
            &format!("connect to {}", redact_url(&s.url)),
            CALL,
            Connection::connect(&s.url, ConnectionProperties::default()),
        )
        .await?;
        let channel = bounded("open a channel", CALL, conn.create_channel()).await?;
        bounded(
            "enable publisher confirms",
            CALL,
            channel.confirm_select(ConfirmSelectOptions::default()),
        )
        .await?;
        Ok(DeadLetters {
            _conn: conn,
            channel,
            dead: s.queue_dead(),
            requests: s.queue_requests(),
        })
    }

    pub fn queue(&self) -> &str {
        &self.dead
    }

    /// How many letters wait.
    pub async fn count(&self) -> Result<u32, TransportError> {
        let q = bounded(
            "read the dead-letter queue",
            CALL,
            self.channel.queue_declare(
                self.dead.as_str().into(),
                QueueDeclareOptions {
                    passive: true,
                    ..Default::default()
                },
                FieldTable::default(),
            ),
        )
        .await?;
        Ok(q.message_count())
    }

    /// Takes up to [`MAX_LETTERS`] letters without acknowledging them.
    async fn take(&self) -> Result<Vec<(u64, Letter)>, TransportError> {
        let mut out = Vec::new();
        while out.len() < MAX_LETTERS {
            let got = bounded(
                "read a dead letter",
                CALL,
                self.channel
                    .basic_get(self.dead.as_str().into(), BasicGetOptions { no_ack: false }),
            )
            .await?;
            let Some(m) = got else { break };
            let d = m.delivery;
            out.push((d.delivery_tag, Letter::read(&d.data, &d.properties)));
        }
        Ok(out)
    }

    /// Gives back every letter taken and not acknowledged.
    async fn give_back(&self, last_tag: u64) -> Result<(), TransportError> {
        bounded(
            "give the letters back",
            CALL,
            self.channel.basic_nack(
                last_tag,
                BasicNackOptions {
                    multiple: true,
                    requeue: true,
                },
            ),
        )
        .await
    }

    /// The letters in the queue, oldest first; they stay there.
    pub async fn list(&self) -> Result<Vec<Letter>, TransportError> {
        let taken = self.take().await?;
        if let Some((tag, _)) = taken.last() {
            self.give_back(*tag).await?;
        }
        Ok(taken.into_iter().map(|(_, l)| l).collect())
    }

    /// Publishes the letters named by `ids` (after `fix`) to the requests
    /// queue, each removed from the dead-letter queue only once the broker
    /// confirmed the publish. Ids not found are reported, not an error.
    pub async fn replay(&self, ids: &[String], fix: &Fix) -> Result<Vec<Replayed>, TransportError> {
        let taken = self.take().await?;
        let mut out = Vec::new();
        let mut kept = Vec::new();
        for (tag, letter) in &taken {
            if !ids.contains(&letter.id) {
                kept.push(*tag);
                continue;
            }
            let result = match letter.fixed_body(fix) {
                Err(e) => Err(e),
                Ok(body) => self
                    .publish_request(letter, &body)
                    .await
                    .map_err(|e| e.to_string()),
            };
            match result {
                Ok(()) => {
                    bounded(
                        "remove the replayed letter",
                        CALL,
                        self.channel.basic_ack(*tag, BasicAckOptions::default()),
                    )
                    .await?;
                    out.push(Replayed {
                        id: letter.id.clone(),
                        request_id: letter.request_id.clone(),
                        ok: true,
                        detail: format!("published to {}", self.requests),
                    });
                }
                Err(e) => {
                    kept.push(*tag);
                    out.push(Replayed {
                        id: letter.id.clone(),
                        request_id: letter.request_id.clone(),
                        ok: false,
                        detail: format!("{e}; the letter stays in the queue"),
                    });
                }
            }
        }
        // Everything not replayed goes back.
        for tag in kept {
            bounded(
                "give a letter back",
                CALL,
                self.channel.basic_nack(
                    tag,
                    BasicNackOptions {
                        multiple: false,
                        requeue: true,
                    },
                ),
            )
            .await?;
        }
        for id in ids {
            if !out.iter().any(|r| &r.id == id) {
                out.push(Replayed {
                    id: id.clone(),
                    request_id: None,
                    ok: false,
                    detail: format!("no letter with this id in {}", self.dead),
                });
            }
        }
        Ok(out)
    }

    async fn publish_request(&self, letter: &Letter, body: &[u8]) -> Result<(), TransportError> {
        let mut props = BasicProperties::default()
            .with_content_type("application/json".into())
            .with_delivery_mode(2)
            .with_message_id(format!("replay-{}", letter.id).into());
        if let Some(r) = &letter.reply.reply_to {
            props = props.with_reply_to(r.as_str().into());
        }
        if let Some(c) = &letter.reply.correlation_id {
            props = props.with_correlation_id(c.as_str().into());
        }
        let confirm = bounded(
            "publish",
            CALL,
            self.channel.basic_publish(
                "".into(),
                self.requests.as_str().into(),
                BasicPublishOptions::default(),
                body,
                props,
            ),
        )
        .await?;
        let c = bounded("await the publisher confirm", CALL, confirm).await?;
        if c.is_nack() {
            return Err(TransportError::Nacked(self.requests.clone()));
        }
        Ok(())
    }

    /// Deletes every letter; returns how many.
    pub async fn purge(&self) -> Result<u32, TransportError> {
        bounded(
            "purge the dead-letter queue",
            CALL,
            self.channel
                .queue_purge(self.dead.as_str().into(), QueuePurgeOptions::default()),
        )
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixes_set_strings_json_values_and_nested_paths() {
        let fix = Fix::parse_set(&[
            "subject.inn=4703123451".into(),
            "test:=false".into(),
            "details.official.email=a@b.ru".into(),
        ])
        .unwrap();
        let letter = Letter::read(
            br#"{"subject":{"inn":"4703123452"},"test":true,"details":{}}"#,
            &BasicProperties::default(),
        );
        let v: serde_json::Value =
            serde_json::from_slice(&letter.fixed_body(&fix).unwrap()).unwrap();
        assert_eq!(v["subject"]["inn"], "4703123451");
        assert_eq!(v["test"], false);
        assert_eq!(v["details"]["official"]["email"], "a@b.ru");
        assert!(Fix::parse_set(&["nothing".into()]).is_err());
        assert!(Fix::parse_set(&["a:=not json".into()]).is_err());
        let bad = Letter::read(b"not json", &BasicProperties::default());
        assert!(bad.fixed_body(&fix).unwrap_err().contains("not JSON"));
        assert_eq!(bad.fixed_body(&Fix::Body(b"{}".to_vec())).unwrap(), b"{}");
    }

    #[test]
    fn a_mezhved_letter_replays_its_original_and_keeps_its_reason() {
        let original = r#"{"request_id":"r-1","case_id":"C-1"}"#;
        let letter = serde_json::json!({
            "id": "L1",
            "reason": {"code": "invalid_check_digit", "field": "subject.inn", "message": "bad"},
            "received_at": "2026-11-23T21:09:33+03:00",
            "original": original,
            "reply": {"reply_to": "q"}
        });
        let props = BasicProperties::default()
            .with_type("mezhved.dead-letter".into())
            .with_message_id("L1".into());
        let l = Letter::read(letter.to_string().as_bytes(), &props);
        assert_eq!(l.id, "L1");
        assert_eq!(l.reason.as_ref().unwrap().field, "subject.inn");
        assert_eq!(l.request_id.as_deref(), Some("r-1"));
        assert_eq!(l.reply.reply_to.as_deref(), Some("q"));
        assert_eq!(l.fixed_body(&Fix::None).unwrap(), original.as_bytes());
    }
}
