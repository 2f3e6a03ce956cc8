//! The answer to a refused message. The refusal goes to the dead-letter
//! queue for the operator (who may fix and replay it), and the case system
//! hears of it at once: a reply with `"verdict": "refused"` and the same
//! reason goes to its `reply_to` with its `correlation_id` (without one,
//! to the results exchange with routing key `refused.<kind>`, or `refused`
//! when the kind could not be read). `schemas/reply.schema.json`
//! documents it.

use serde::{Deserialize, Serialize};
use tracing::info;

use super::Gateway;
use crate::i18n::{self, Lang};
use crate::request::{CaseId, InvalidCode, Kind, MAX_BODY_BYTES};
use crate::transport::{DeadLetter, Incoming, REFUSED_TYPE, Reply};

/// The reply to a refused message.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Refused {
    /// As the message gave them, when they could be read (a UUID, a safe
    /// case number, a known kind).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub case_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<Kind>,
    /// Always `refused`.
    pub verdict: String,
    pub reason: Reason,
    pub refused_at: String,
    /// The letter in the dead-letter queue (`mezhved dlq show ID`).
    pub dead_letter_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub test: Option<bool>,
}

/// Why: the code, the field and the gateway's sentence, as in the dead
/// letter, and the sentence for the officer in Russian.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Reason {
    pub code: InvalidCode,
    pub field: String,
    pub message: String,
    pub message_ru: String,
}

impl Refused {
    pub fn new(letter: &DeadLetter, body: &[u8]) -> Self {
        let read = readable(body);
        let s = |k: &str| {
            read.as_ref()
                .and_then(|v| v.get(k))
                .and_then(|v| v.as_str())
                .map(str::to_owned)
        };
        let r = &letter.reason;
        Refused {
            request_id: s("request_id").filter(|id| uuid::Uuid::parse_str(id).is_ok()),
            case_id: s("case_id").filter(|c| CaseId::parse(c).is_ok()),
            kind: s("kind").and_then(|k| Kind::parse(&k)),
            verdict: "refused".into(),
            reason: Reason {
                code: r.code,
                field: r.field.clone(),
                message: r.message.clone(),
                message_ru: i18n::refusal(Lang::Ru, r.code, &r.field),
            },
            refused_at: letter.received_at.clone(),
            dead_letter_id: letter.id.clone(),
            test: read
                .as_ref()
                .and_then(|v| v.get("test"))
                .and_then(|v| v.as_bool()),
        }
    }

    /// `refused.<kind>`, or `refused` when the kind is not known.
    pub fn routing_key(&self) -> String {
        match self.kind {
            Some(k) => format!("refused.{k}"),
            None => "refused".into(),
        }
    }
}

/// The message as a JSON object, if it is one and within the size limit
/// (what was refused is read no further than that).
fn readable(body: &[u8]) -> Option<serde_json::Value> {
    if body.len() > MAX_BODY_BYTES {
        return None;
    }
    serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .filter(|v| v.is_object())
}

impl Gateway {
    /// Tells the case system that `msg` was refused (the dead letter is
    /// published already), tried until the broker confirms it. `false`
    /// when the gateway stopped first: the delivery then goes back to the
    /// queue and is refused again after the restart.
    pub(super) async fn answer_refusal(&self, msg: &Incoming, letter: &DeadLetter) -> bool {
        let refused = Refused::new(letter, &msg.body);
        let body = serde_json::to_vec(&refused).expect("refusals serialise");
        // A reply_to naming one of the gateway's own queues is not
        // honoured for the refusal either: it would put the reply among
        // the requests or the dead letters. It goes to the results
        // exchange (refused.<kind>) instead.
        let safe = crate::transport::unsafe_reply_to(&msg.reply, &self.settings.amqp).is_none();
        let fallback = crate::casefile::ReplyRoute {
            reply_to: None,
            ..msg.reply.clone()
        };
        let route = if safe { &msg.reply } else { &fallback };
        let reply = Reply {
            route,
            routing_key: refused.routing_key(),
            message_type: REFUSED_TYPE,
            message_id: letter.id.clone(),
            body: &body,
        };
        let Some(routed) = self.publish_confirmed(&reply, "the refusal's reply").await else {
            return false;
        };
        self.count_routed(&routed, route);
        info!(code = %letter.reason.code, route = %route.describe(), "refusal replied");
        true
    }
}
