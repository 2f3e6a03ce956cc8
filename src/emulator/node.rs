//! The emulated SMEV node: it checks what a consumer sends the way SMEV
//! does, queues the provider's answer per consumer, and signs everything it
//! returns.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use base64::Engine as _;
use time::OffsetDateTime;

use super::data::{Fixtures, ProviderAnswer};
use crate::clock;
use crate::lookup::Registry;
use crate::smev::{self, FaultKind, Metadata, Operation, ResponseBody, SmevError, Version};
use crate::xml::{self, Document};
use crate::xmldsig::{self, ReferenceTransforms, SigningKey, VerifyPolicy};

/// How the emulator behaves.
#[derive(Clone, Debug)]
pub struct NodeSettings {
    pub answer_delay: Duration,
    pub redeliver_after: Duration,
}

/// An answer waiting in a consumer's queue.
#[derive(Debug)]
struct Queued {
    /// `MessageMetadata/MessageId` of the answer: what the `Ack` names.
    message_id: String,
    namespace: String,
    root: String,
    available_at: Instant,
    taken_at: Option<Instant>,
    body: Vec<u8>,
}

/// What the emulator saw, for testers.
#[derive(Debug, Clone, serde::Serialize)]
pub struct TraceEntry {
    pub at: String,
    pub operation: String,
    pub message_id: Option<String>,
    pub consumer: Option<String>,
    pub outcome: String,
}

pub struct Node {
    registry: Registry,
    fixtures: Fixtures,
    key: SigningKey,
    settings: NodeSettings,
    queues: Mutex<HashMap<String, VecDeque<Queued>>>,
    seen: Mutex<HashSet<String>>,
    trace: Mutex<VecDeque<TraceEntry>>,
}

/// An HTTP answer: status and SOAP body.
pub struct Reply {
    pub status: u16,
    pub body: Vec<u8>,
}

const TRACE_LIMIT: usize = 10_000;

impl Node {
    pub fn new(
        registry: Registry,
        fixtures: Fixtures,
        key: SigningKey,
        settings: NodeSettings,
    ) -> Self {
        Node {
            registry,
            fixtures,
            key,
            settings,
            queues: Mutex::new(HashMap::new()),
            seen: Mutex::new(HashSet::new()),
            trace: Mutex::new(VecDeque::new()),
        }
    }

    pub fn certificate_pem(&self) -> Vec<u8> {
        self.key.certificate().to_pem().unwrap_or_default()
    }

    pub fn algorithm(&self) -> xmldsig::SignatureAlgorithm {
        self.key.algorithm()
    }

    pub fn trace(&self) -> Vec<TraceEntry> {
        self.trace
            .lock()
            .expect("trace lock")
            .iter()
            .cloned()
            .collect()
    }

    fn record(
        &self,
        operation: &str,
        message_id: Option<&str>,
        consumer: Option<&str>,
        outcome: &str,
    ) {
        tracing::debug!(operation, message_id, outcome, "emulator");
        let mut t = self.trace.lock().expect("trace lock");
        if t.len() >= TRACE_LIMIT {
            t.pop_front();
        }
        t.push_back(TraceEntry {
            at: clock::rfc3339(clock::now()),
            operation: operation.to_owned(),
            message_id: message_id.map(str::to_owned),
            consumer: consumer.map(str::to_owned),
            outcome: outcome.to_owned(),
        });
    }

    /// Handles one SOAP call.
    pub fn handle(&self, soap_action: Option<&str>, body: &[u8]) -> Reply {
        let doc = match xml::parse(body) {
            Ok(d) => d,
            Err(e) => {
                return self.fault(
                    Version::V1_3,
                    FaultKind::InvalidContent,
                    &format!("SOAP message is not acceptable XML: {e}"),
                );
            }
        };
        let child = match smev::body_child(&doc) {
            Ok(c) => c,
            Err(e) => return self.fault(Version::V1_3, FaultKind::InvalidContent, &e.to_string()),
        };
        let el = doc.element(child);
        let version = el
            .ns
            .as_deref()
            .and_then(Version::of_namespace)
            .unwrap_or(Version::V1_3);
        let op = match el.local.as_str() {
            "SendRequestRequest" => Operation::SendRequest,
            "GetResponseRequest" => Operation::GetResponse,
            "AckRequest" => Operation::Ack,
            other => {
                return self.fault(
                    version,
                    FaultKind::InvalidContent,
                    &format!("operation {other} is not supported by the emulator"),
                );
            }
        };
        if let Some(a) = soap_action {
            let a = a.trim_matches('"');
            if !a.is_empty() && a != op.soap_action() {
                return self.fault(
                    version,
                    FaultKind::InvalidContent,
                    &format!(
                        "SOAPAction {a} does not match the body ({})",
                        op.soap_action()
                    ),
                );
            }
        }
        let result = match op {
            Operation::SendRequest => self.send_request(&doc),
            Operation::GetResponse => self.get_response(&doc),
            Operation::Ack => self.ack(&doc),
            Operation::GetStatus => unreachable!("not dispatched"),
        };
        match result {
            Ok(r) => r,
            Err((kind, text)) => {
                self.record(
                    op.soap_action(),
                    None,
                    None,
                    &format!("fault {kind}: {text}"),
                );
                self.fault(version, kind, &text)
            }
        }
    }

    fn fault(&self, v: Version, kind: FaultKind, text: &str) -> Reply {
        Reply {
            status: 500,
            body: xml::to_bytes(&smev::fault_envelope(v, &kind, text)),
        }
    }

    /// Checks the caller's signature; the consumer is who signed.
    fn caller(
        &self,
        doc: &Document,
        signature: Option<crate::xml::NodeId>,
        target: crate::xml::NodeId,
    ) -> Result<String, (FaultKind, String)> {
        let sig = signature.ok_or((
            FaultKind::SignatureVerificationFault,
            "NoSignatureFound: CallerInformationSystemSignature is missing".to_owned(),
        ))?;
        let policy = VerifyPolicy {
            trust: None,
            at: clock::now(),
            allow_exc_c14n_only: false,
        };
        let v = xmldsig::verify(doc, sig, target, &policy).map_err(|e| {
            (
                FaultKind::SignatureVerificationFault,
                format!("SignatureIsInvalid: {e}"),
            )
        })?;
        let der = v.certificate.to_der().unwrap_or_default();
        Ok(crate::casefile::sha256_hex(&der))
    }

    fn sign(
        &self,
        mut doc: Document,
        target: crate::xml::NodeId,
        container: crate::xml::NodeId,
    ) -> Vec<u8> {
        xmldsig::sign_element(
            &mut doc,
            target,
            container,
            &self.key,
            ReferenceTransforms::Smev,
        )
        .expect("the emulator signs elements it built");
        xml::to_bytes(&doc)
    }

    fn send_request(&self, doc: &Document) -> Result<Reply, (FaultKind, String)> {
        let req = smev::parse_send_request(doc).map_err(content)?;
        let consumer = self.caller(doc, req.signature, req.sender_provided)?;
        if let Some(ps) = req.personal_signature {
            let policy = VerifyPolicy {
                trust: None,
                at: clock::now(),
                allow_exc_c14n_only: false,
            };
            xmldsig::verify(doc, ps, req.primary, &policy).map_err(|e| {
                (
                    FaultKind::SignatureVerificationFault,
                    format!("SignatureIsInvalid: PersonalSignature: {e}"),
                )
            })?;
        }
        let mid = &req.message_id;
        let parsed = uuid::Uuid::parse_str(mid)
            .ok()
            .filter(|u| u.hyphenated().to_string() == *mid && u.get_version_num() == 1);
        let Some(uuid) = parsed else {
            return Err((
                FaultKind::InvalidMessageIdFormat,
                format!("MessageID {mid} is not a lower-case UUID version 1"),
            ));
        };
        let sent = smev::message_id_time(&uuid).unwrap_or(OffsetDateTime::UNIX_EPOCH);
        let now = clock::now();
        if sent < now - time::Duration::days(1) || sent > now + time::Duration::hours(1) {
            return Err((
                FaultKind::StaleMessageId,
                format!("MessageID {mid} carries a stale timestamp ({sent})"),
            ));
        }
        if !self.seen.lock().expect("seen lock").insert(mid.clone()) {
            self.record(
                "SendRequest",
                Some(mid),
                Some(&consumer),
                "MessageIsAlreadySent",
            );
            return Err((
                FaultKind::MessageIsAlreadySent,
                format!("MessageID {mid} was already sent"),
            ));
        }
        if req.eol_invalid {
            return Err((FaultKind::InvalidContent, "EOL is not a date-time".into()));
        }
        if let Some(eol) = req.eol
            && eol < now
        {
            return Err((FaultKind::EndOfLifeReached, format!("EOL {eol} has passed")));
        }
        let b = doc.element(req.primary);
        let (ns, local) = (b.ns.clone().unwrap_or_default(), b.local.clone());
        let lookup = self.registry.by_request_root(&ns, &local).ok_or_else(|| {
            (
                FaultKind::BusinessDataTypeIsNotSupported,
                format!("business data type {{{ns}}}{local} is not registered"),
            )
        })?;
        let query = lookup
            .read_request(doc, req.primary)
            .map_err(|e| (FaultKind::InvalidContent, format!("{{{ns}}}{local}: {e}")))?;
        let answer = self
            .fixtures
            .answer(&self.registry, lookup.kind(), &query)
            .map_err(|e| (FaultKind::SMEVFailure, format!("the provider failed: {e}")))?;

        let v = req.version;
        let response_id = smev::new_message_id().to_string();
        let smev_id = smev::new_message_id().to_string();
        let reply_to = base64::engine::general_purpose::STANDARD
            .encode(format!("{{\"mid\":\"{mid}\",\"consumer\":\"{consumer}\"}}"));
        let body = match answer {
            ProviderAnswer::Business(d) => ResponseBody::Primary(d),
            ProviderAnswer::Rejected(r) => ResponseBody::Rejected {
                code: r.code,
                text: r.text,
            },
        };
        let meta = Metadata {
            message_id: smev_id.clone(),
            message_type: "RESPONSE",
            sender: (
                "EMUL01".into(),
                "Эмулятор поставщика сведений mezhved".into(),
            ),
            recipient: Some((
                "MEZHVED".into(),
                "Информационная система потребителя".into(),
            )),
            sending_timestamp: now,
            delivery_timestamp: Some(now),
            status: Some("messageIsDelivered"),
        };
        let (rdoc, resp, container) =
            smev::get_response_response(v, mid, &reply_to, &response_id, &body, &meta);
        let bytes = self.sign(rdoc, resp, container);
        self.queues
            .lock()
            .expect("queue lock")
            .entry(consumer.clone())
            .or_default()
            .push_back(Queued {
                message_id: smev_id,
                namespace: ns,
                root: lookup.response_root().to_owned(),
                available_at: Instant::now() + self.settings.answer_delay,
                taken_at: None,
                body: bytes,
            });
        self.record(
            "SendRequest",
            Some(mid),
            Some(&consumer),
            &format!("queued answer for {}", query.identifiers.join("/")),
        );

        let meta = Metadata {
            message_id: mid.clone(),
            message_type: "REQUEST",
            sender: (
                "MEZHVED".into(),
                "Информационная система потребителя".into(),
            ),
            recipient: Some((
                "EMUL01".into(),
                "Эмулятор поставщика сведений mezhved".into(),
            )),
            sending_timestamp: now,
            delivery_timestamp: None,
            status: Some("requestIsQueued"),
        };
        let (sdoc, md, container) = smev::send_request_response(v, &meta);
        Ok(Reply {
            status: 200,
            body: self.sign(sdoc, md, container),
        })
    }

    fn get_response(&self, doc: &Document) -> Result<Reply, (FaultKind, String)> {
        let req = smev::parse_get_response_request(doc).map_err(content)?;
        let consumer = self.caller(doc, req.signature, req.selector)?;
        let now = Instant::now();
        let mut queues = self.queues.lock().expect("queue lock");
        let found = queues.get_mut(&consumer).and_then(|q| {
            q.iter_mut().find(|m| {
                m.available_at <= now
                    && m.taken_at
                        .is_none_or(|t| now.duration_since(t) >= self.settings.redeliver_after)
                    && req
                        .filter
                        .as_ref()
                        .is_none_or(|(ns, root)| *ns == m.namespace && *root == m.root)
            })
        });
        match found {
            Some(m) => {
                m.taken_at = Some(now);
                let (id, body) = (m.message_id.clone(), m.body.clone());
                drop(queues);
                self.record("GetResponse", Some(&id), Some(&consumer), "delivered");
                Ok(Reply { status: 200, body })
            }
            None => Ok(Reply {
                status: 200,
                body: xml::to_bytes(&smev::get_response_empty(req.version)),
            }),
        }
    }

    fn ack(&self, doc: &Document) -> Result<Reply, (FaultKind, String)> {
        let req = smev::parse_ack_request(doc).map_err(content)?;
        let consumer = self.caller(doc, req.signature, req.target)?;
        let mut queues = self.queues.lock().expect("queue lock");
        let q = queues.entry(consumer.clone()).or_default();
        let Some(pos) = q
            .iter()
            .position(|m| m.message_id == req.message_id && m.taken_at.is_some())
        else {
            return Err((
                FaultKind::TargetMessageIsNotFound,
                format!("no delivered message {} to acknowledge", req.message_id),
            ));
        };
        q.remove(pos);
        drop(queues);
        let outcome = if req.accepted {
            "ack accepted"
        } else {
            "ack refused (accepted=false)"
        };
        self.record("Ack", Some(&req.message_id), Some(&consumer), outcome);
        Ok(Reply {
            status: 200,
            body: xml::to_bytes(&smev::ack_response(req.version)),
        })
    }

    /// Answers waiting or in flight (for tests and the control API).
    pub fn queued(&self) -> usize {
        self.queues
            .lock()
            .expect("queue lock")
            .values()
            .map(VecDeque::len)
            .sum()
    }
}

fn content(e: SmevError) -> (FaultKind, String) {
    (FaultKind::InvalidContent, e.to_string())
}
