//! The emulated SMEV node: it checks what a consumer sends the way SMEV
//! does, queues the provider's answer per consumer, signs everything it
//! returns, and misbehaves on purpose when a scenario says so.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde::Serialize;
use time::OffsetDateTime;

use super::data::{Fixtures, ProviderAnswer, Reject};
use super::scenario::{AttachmentFault, Fault, Scenario, Scenarios, SchemaErrors, SignatureFault};
use super::vs::{UnknownVs, VsFixture, VsFixtures};
use crate::clock;
use crate::lookup::{Lookup, ProviderQuery, Registry};
use crate::request::Kind;
use crate::smev::{self, FaultKind, Metadata, Operation, ResponseBody, SmevError, Version};
use crate::xml::{self, Document, NodeId};
use crate::xmldsig::{self, ReferenceTransforms, SigningKey, VerifyPolicy};

/// How the emulator behaves when no scenario says otherwise.
#[derive(Clone, Debug)]
pub struct NodeSettings {
    pub answer_delay: Duration,
    pub redeliver_after: Duration,
    /// How a request failing its schema is refused.
    pub schema_errors: SchemaErrors,
    /// What a business type with no data is answered.
    pub unknown_vs: UnknownVs,
}

/// An answer waiting in a consumer's queue.
#[derive(Debug, Clone)]
struct Queued {
    /// `MessageMetadata/MessageId` of the answer: what the `Ack` names.
    message_id: String,
    original_message_id: String,
    namespace: String,
    root: String,
    available_at: Instant,
    taken_at: Option<Instant>,
    body: Vec<u8>,
    /// MTOM parts delivered with the body: (Content-ID, type, bytes).
    attachments: Vec<(String, String, Vec<u8>)>,
    /// Deliveries still to spoil (scenarios `malformed_xml`, `doctype`).
    malformed_left: u32,
    doctype_left: u32,
}

/// What the emulator saw and did, for testers.
#[derive(Debug, Clone, Serialize)]
pub struct TraceEntry {
    pub at: String,
    pub operation: String,
    /// The request's `MessageID` (SendRequest) or the answer's (GetResponse, Ack).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message_id: Option<String>,
    /// For answers: the `MessageID` of the request they answer.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub original_message_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kind: Option<Kind>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    /// Fingerprint of the caller's certificate (its queue).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub consumer: Option<String>,
    /// The business request's own id (ФНС `ИдДок`, `requestId`): mezhved
    /// puts its `request_id` there.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_ref: Option<String>,
    pub outcome: String,
}

/// What goes back over HTTP.
pub enum Body {
    Soap(Vec<u8>),
    /// SOAP with MTOM attachments (`multipart/related`).
    Multipart {
        content_type: String,
        bytes: Vec<u8>,
    },
    /// A bare HTTP error, no SOAP.
    Http,
    /// The connection breaks before an answer.
    Drop,
}

pub struct Reply {
    pub status: u16,
    pub body: Body,
    /// Wait this long before answering.
    pub delay: Option<Duration>,
}

impl Reply {
    fn soap(status: u16, body: Vec<u8>) -> Self {
        Reply {
            status,
            body: Body::Soap(body),
            delay: None,
        }
    }
}

/// A refusal: the fault, its text and, for `InvalidContent`, the violations.
struct Refusal {
    kind: FaultKind,
    text: String,
    errors: Vec<String>,
}

fn refuse(kind: FaultKind, text: impl Into<String>) -> Refusal {
    Refusal {
        kind,
        text: text.into(),
        errors: Vec::new(),
    }
}

/// What is known about a call so far, for its trace entry: a refusal is
/// traced with as much as was read before it.
#[derive(Default)]
struct About {
    message_id: Option<String>,
    original_message_id: Option<String>,
    kind: Option<Kind>,
    subject: Option<String>,
    consumer: Option<String>,
    request_ref: Option<String>,
}

impl About {
    fn entry(&self, operation: &str, outcome: String) -> TraceEntry {
        TraceEntry {
            at: clock::rfc3339(clock::now()),
            operation: operation.to_owned(),
            message_id: self.message_id.clone(),
            original_message_id: self.original_message_id.clone(),
            kind: self.kind,
            subject: self.subject.clone().filter(|s| !s.is_empty()),
            consumer: self.consumer.clone(),
            request_ref: self.request_ref.clone(),
            outcome,
        }
    }
}

/// A status waiting for `GetStatus`: the request's `MessageID`, the
/// category (`requestIsAcceptedBySmev`…) and its details.
struct Status {
    original: String,
    category: &'static str,
    details: String,
}

const TRACE_LIMIT: usize = 10_000;
/// Statuses kept per consumer for `GetStatus` (older ones are dropped).
const STATUS_LIMIT: usize = 1_000;

pub struct Node {
    registry: Registry,
    fixtures: Fixtures,
    vs: VsFixtures,
    key: SigningKey,
    settings: NodeSettings,
    pub scenarios: Scenarios,
    queues: Mutex<HashMap<String, VecDeque<Queued>>>,
    statuses: Mutex<HashMap<String, VecDeque<Status>>>,
    seen: Mutex<HashSet<String>>,
    /// `SendRequest`s accepted, per business request id.
    accepted: Mutex<HashMap<String, u32>>,
    trace: Mutex<VecDeque<TraceEntry>>,
    /// SMEV's file store (FTP), set once the emulator starts it.
    pub file_store: std::sync::OnceLock<std::sync::Arc<super::filestore::FileStore>>,
    /// Attachments of clients' requests, checked.
    incoming: Mutex<Vec<super::incoming::IncomingAttachment>>,
}

impl Node {
    pub fn new(
        registry: Registry,
        fixtures: Fixtures,
        vs: VsFixtures,
        key: SigningKey,
        settings: NodeSettings,
    ) -> Self {
        Node {
            registry,
            fixtures,
            vs,
            key,
            settings,
            scenarios: Scenarios::default(),
            queues: Mutex::new(HashMap::new()),
            statuses: Mutex::new(HashMap::new()),
            seen: Mutex::new(HashSet::new()),
            accepted: Mutex::new(HashMap::new()),
            trace: Mutex::new(VecDeque::new()),
            file_store: std::sync::OnceLock::new(),
            incoming: Mutex::new(Vec::new()),
        }
    }

    /// Where MTOM parts of clients' requests are kept.
    pub fn received_dir(&self) -> std::path::PathBuf {
        match self.file_store.get() {
            Some(s) => s
                .root()
                .parent()
                .unwrap_or(s.root())
                .join("received")
                .join(uuid::Uuid::new_v4().to_string()),
            None => std::env::temp_dir()
                .join("mezhved-emulator-received")
                .join(uuid::Uuid::new_v4().to_string()),
        }
    }

    /// Checks and keeps the attachments of a `SendRequest` body (other
    /// operations carry none). A header whose file is missing (no MTOM
    /// part, nothing under its uuid in the file store) is answered as SMEV
    /// does: the SOAP fault `AttachmentContentMiscoordination`.
    pub fn record_attachments(
        &self,
        body: &[u8],
        received: Option<&crate::attachment::mtom::Received>,
    ) -> Option<Reply> {
        let doc = crate::xml::parse(body).ok()?;
        let req = smev::parse_send_request(&doc).ok()?;
        let list = super::incoming::check(
            &doc,
            req.sender_provided,
            &req.message_id,
            received,
            self.file_store.get().map(|s| s.as_ref()),
        );
        let missing: Vec<String> = list
            .iter()
            .filter(|a| a.size.is_none())
            .map(|a| format!("{} {}", a.transfer, a.id))
            .collect();
        if !list.is_empty() {
            self.incoming.lock().expect("incoming lock").extend(list);
        }
        if missing.is_empty() {
            return None;
        }
        let text = format!(
            "Заголовки вложений не соответствуют их содержимому: нет файлов {}",
            missing.join(", ")
        );
        Some(self.fault(
            req.version,
            &Refusal {
                kind: FaultKind::AttachmentContentMiscoordination,
                text,
                errors: Vec::new(),
            },
        ))
    }

    pub fn incoming_attachments(&self) -> Vec<super::incoming::IncomingAttachment> {
        self.incoming.lock().expect("incoming lock").clone()
    }

    /// A body that could not be read as MTOM: HTTP 400.
    pub fn handle_unreadable(&self, why: &str) -> Reply {
        tracing::warn!(error = %why, "the emulator cannot read a multipart body");
        Reply {
            status: 400,
            body: Body::Http,
            delay: None,
        }
    }

    pub fn algorithm(&self) -> xmldsig::SignatureAlgorithm {
        self.key.algorithm()
    }

    pub fn fixtures(&self) -> &Fixtures {
        &self.fixtures
    }

    /// The VS answered from raw business XML (`<data>/vs/`).
    pub fn vs_fixtures(&self) -> &VsFixtures {
        &self.vs
    }

    pub fn trace(&self) -> Vec<TraceEntry> {
        self.trace
            .lock()
            .expect("trace lock")
            .iter()
            .cloned()
            .collect()
    }

    /// How many `SendRequest`s were accepted for each business request id
    /// (more than one would be a duplicate request to the agency).
    pub fn accepted(&self) -> HashMap<String, u32> {
        self.accepted.lock().expect("accepted lock").clone()
    }

    /// Answers waiting or in flight, per consumer: `(waiting, delivered, statuses)`.
    pub fn queues(&self) -> Vec<(String, usize, usize, usize)> {
        let q = self.queues.lock().expect("queue lock");
        let st = self.statuses.lock().expect("status lock");
        let mut consumers: Vec<&String> = q.keys().chain(st.keys()).collect();
        consumers.sort();
        consumers.dedup();
        consumers
            .into_iter()
            .map(|c| {
                let msgs = q.get(c);
                let taken = msgs
                    .map(|m| m.iter().filter(|x| x.taken_at.is_some()).count())
                    .unwrap_or(0);
                let total = msgs.map(VecDeque::len).unwrap_or(0);
                (
                    c.clone(),
                    total - taken,
                    taken,
                    st.get(c).map(VecDeque::len).unwrap_or(0),
                )
            })
            .collect()
    }

    /// Forgets every queue, message id, trace line and run-time scenario.
    pub fn reset(&self) {
        self.queues.lock().expect("queue lock").clear();
        self.statuses.lock().expect("status lock").clear();
        self.seen.lock().expect("seen lock").clear();
        self.accepted.lock().expect("accepted lock").clear();
        self.trace.lock().expect("trace lock").clear();
        self.scenarios.reset();
    }

    pub(super) fn record(&self, entry: TraceEntry) {
        tracing::debug!(operation = %entry.operation, message_id = ?entry.message_id, outcome = %entry.outcome, "emulator");
        let mut t = self.trace.lock().expect("trace lock");
        if t.len() >= TRACE_LIMIT {
            t.pop_front();
        }
        t.push_back(entry);
    }

    /// Handles one SOAP call.
    pub fn handle(&self, soap_action: Option<&str>, body: &[u8]) -> Reply {
        let doc = match xml::parse(body) {
            Ok(d) => d,
            Err(e) => {
                let what = format!("refused: not acceptable XML: {e}");
                self.record(About::default().entry("?", what));
                return self.fault(
                    Version::V1_3,
                    &refuse(
                        FaultKind::InvalidContent,
                        format!("SOAP message is not acceptable XML: {e}"),
                    ),
                );
            }
        };
        let child = match smev::body_child(&doc) {
            Ok(c) => c,
            Err(e) => {
                return self.fault(
                    Version::V1_3,
                    &refuse(FaultKind::InvalidContent, e.to_string()),
                );
            }
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
            "GetStatusRequest" => Operation::GetStatus,
            "GetIncomingQueueStatisticsRequest" => Operation::GetIncomingQueueStatistics,
            other => {
                return self.fault(
                    version,
                    &refuse(
                        FaultKind::InvalidContent,
                        format!("operation {other} is not supported by the emulator"),
                    ),
                );
            }
        };
        let name = op_name(op);
        if let Some(a) = soap_action {
            let a = a.trim_matches('"');
            if !a.is_empty() && a != op.soap_action() {
                let r = refuse(
                    FaultKind::InvalidContent,
                    format!(
                        "SOAPAction {a} does not match the body ({})",
                        op.soap_action()
                    ),
                );
                let what = format!("fault {}: {}", r.kind, r.text);
                self.record(About::default().entry(name, what));
                return self.fault(version, &r);
            }
        }
        // A one-off fault of this operation, set through the control API.
        let mut delay = None;
        if let Some(f) = self.scenarios.take_fault(name) {
            let what = format!("one-off fault: {}", disturbance(&fault_scenario(&f)));
            self.record(About::default().entry(name, what));
            match self.disturb(version, &fault_scenario(&f)) {
                Disturbance::Reply(r) => return r,
                Disturbance::Slow(d) => delay = Some(d),
            }
        }
        let mut about = About::default();
        let result = match op {
            Operation::SendRequest => self.send_request(&doc, &mut about),
            Operation::GetResponse => self.get_response(&doc, &mut about),
            Operation::Ack => self.ack(&doc, &mut about),
            Operation::GetStatus => self.get_status(&doc, &mut about),
            Operation::GetIncomingQueueStatistics => self.queue_statistics(&doc, &mut about),
        };
        let mut reply = match result {
            Ok(r) => r,
            Err(r) => {
                self.record(about.entry(name, format!("fault {}: {}", r.kind, r.text)));
                self.fault(version, &r)
            }
        };
        if delay.is_some() {
            reply.delay = delay.max(reply.delay);
        }
        reply
    }

    fn fault(&self, v: Version, r: &Refusal) -> Reply {
        Reply::soap(
            500,
            xml::to_bytes(&smev::fault_envelope(v, &r.kind, &r.text, &r.errors)),
        )
    }

    /// What a disturbance (`fault`, `http_status`, `drop_connection`,
    /// `slow_secs`) does to a call.
    fn disturb(&self, v: Version, s: &Scenario) -> Disturbance {
        let delay = s.slow();
        let reply = if let Some(status) = s.http_status {
            Some(Reply {
                status,
                body: Body::Http,
                delay,
            })
        } else if s.drop_connection {
            Some(Reply {
                status: 200,
                body: Body::Drop,
                delay,
            })
        } else {
            s.fault.as_ref().map(|f| {
                let kind = FaultKind::from_element_name(f);
                let mut r = self.fault(v, &refuse(kind, format!("{f} (emulator scenario)")));
                r.delay = delay;
                r
            })
        };
        match (reply, delay) {
            (Some(r), _) => Disturbance::Reply(r),
            (None, d) => Disturbance::Slow(d.unwrap_or_default()),
        }
    }

    /// Checks the caller's signature; the consumer is who signed.
    fn caller(
        &self,
        doc: &Document,
        signature: Option<NodeId>,
        target: NodeId,
    ) -> Result<String, Refusal> {
        let sig = signature.ok_or_else(|| {
            refuse(
                FaultKind::SignatureVerificationFault,
                "NoSignatureFound: CallerInformationSystemSignature is missing",
            )
        })?;
        let v = xmldsig::verify(doc, sig, target, &any_signer()).map_err(|e| {
            refuse(
                FaultKind::SignatureVerificationFault,
                format!("SignatureIsInvalid: {e}"),
            )
        })?;
        let der = v.certificate.to_der().unwrap_or_default();
        Ok(crate::casefile::sha256_hex(&der))
    }

    fn sign(&self, mut doc: Document, target: NodeId, container: NodeId) -> Vec<u8> {
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

    fn send_request(&self, doc: &Document, about: &mut About) -> Result<Reply, Refusal> {
        let req = smev::parse_send_request(doc).map_err(content)?;
        about.message_id = Some(req.message_id.clone());
        let consumer = self.caller(doc, req.signature, req.sender_provided)?;
        about.consumer = Some(consumer.clone());
        if let Some(ps) = req.personal_signature {
            xmldsig::verify(doc, ps, req.primary, &any_signer()).map_err(|e| {
                refuse(
                    FaultKind::SignatureVerificationFault,
                    format!("SignatureIsInvalid: PersonalSignature: {e}"),
                )
            })?;
        }
        let mid = req.message_id.clone();
        let uuid = uuid::Uuid::parse_str(&mid)
            .ok()
            .filter(|u| u.hyphenated().to_string() == mid && u.get_version_num() == 1)
            .ok_or_else(|| {
                refuse(
                    FaultKind::InvalidMessageIdFormat,
                    format!("MessageID {mid} is not a lower-case UUID version 1"),
                )
            })?;
        let sent = smev::message_id_time(&uuid).unwrap_or(OffsetDateTime::UNIX_EPOCH);
        let now = clock::now();
        if sent < now - time::Duration::days(1) || sent > now + time::Duration::hours(1) {
            return Err(refuse(
                FaultKind::StaleMessageId,
                format!("MessageID {mid} carries a stale timestamp ({sent})"),
            ));
        }
        if self.seen.lock().expect("seen lock").contains(&mid) {
            return Err(refuse(
                FaultKind::MessageIsAlreadySent,
                format!("MessageID {mid} was already sent"),
            ));
        }
        if req.eol_invalid {
            return Err(refuse(FaultKind::InvalidContent, "EOL is not a date-time"));
        }
        if let Some(eol) = req.eol
            && eol < now
        {
            return Err(refuse(
                FaultKind::EndOfLifeReached,
                format!("EOL {eol} has passed"),
            ));
        }
        let b = doc.element(req.primary);
        let (ns, local) = (b.ns.clone().unwrap_or_default(), b.local.clone());
        let (provider, schema_errors) = self.provider(doc, req.primary, &ns, &local)?;
        let (kind, subject) = (provider.kind(), provider.subject());
        about.kind = Some(kind);
        about.subject = Some(subject.clone());
        about.request_ref = provider.request_ref();
        let scenario = self
            .scenarios
            .get(kind, &subject)
            .or_else(|| match &provider {
                Provider::Lookup { query, .. } => self
                    .fixtures
                    .subject_of(kind, query)
                    .map(|s| s.scenario.clone()),
                Provider::Vs { .. } => None,
            })
            .unwrap_or_default();

        // Disturbances of SendRequest itself.
        let mut delay = None;
        let mut then_already_sent = false;
        if self
            .scenarios
            .send_attempt_disturbed(kind, &subject, &scenario)
        {
            let already = scenario.fault.as_deref() == Some("MessageIsAlreadySent");
            let d = self.disturb(req.version, &scenario);
            let what = format!("scenario: {}", disturbance(&scenario));
            self.record(about.entry("SendRequest", what));
            match d {
                Disturbance::Reply(_) if already => then_already_sent = true,
                Disturbance::Reply(r) => return Ok(r),
                Disturbance::Slow(s) => delay = Some(s),
            }
        }

        let schema_errors = match (schema_errors, scenario.schema_error) {
            (Some(e), _) => Some((e, self.settings.schema_errors)),
            (None, Some(mode)) => Some((
                vec!["the business data fail the schema (emulator scenario)".to_owned()],
                mode,
            )),
            (None, None) => None,
        };
        if let Some((errors, SchemaErrors::Sync)) = &schema_errors {
            return Err(Refusal {
                kind: FaultKind::InvalidContent,
                text: format!(
                    "{{{ns}}}{local} does not match its schema: {}",
                    errors.join("; ")
                ),
                errors: errors.clone(),
            });
        }

        self.seen.lock().expect("seen lock").insert(mid.clone());
        if let Some(r) = &about.request_ref {
            *self
                .accepted
                .lock()
                .expect("accepted lock")
                .entry(r.clone())
                .or_default() += 1;
        }
        let v = req.version;
        let errors = schema_errors.as_ref().map(|(e, _)| e.as_slice());
        let what = self
            .queue_answer(v, &consumer, &mid, &provider, &scenario, errors)
            .map_err(|e| refuse(FaultKind::SMEVFailure, format!("the provider failed: {e}")))?;
        self.record(about.entry("SendRequest", what));
        if then_already_sent {
            let mut r = self.fault(
                v,
                &refuse(
                    FaultKind::MessageIsAlreadySent,
                    format!("MessageID {mid} was already sent (emulator scenario)"),
                ),
            );
            r.delay = delay;
            return Ok(r);
        }

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
            sending_timestamp: scenario
                .sending_timestamp
                .as_deref()
                .and_then(clock::parse_rfc3339)
                .unwrap_or(now),
            delivery_timestamp: None,
            status: Some("requestIsQueued"),
        };
        let (sdoc, md, container) = smev::send_request_response(v, &meta);
        let mut r = Reply::soap(200, self.sign(sdoc, md, container));
        r.delay = delay;
        Ok(r)
    }

    /// Builds, signs and queues the provider's answer (or not, if it never
    /// answers), and a status for `GetStatus`. Returns what it did, for the
    /// trace.
    #[allow(clippy::too_many_arguments)]
    fn queue_answer(
        &self,
        v: Version,
        consumer: &str,
        mid: &str,
        provider: &Provider<'_>,
        scenario: &Scenario,
        schema_errors: Option<&[String]>,
    ) -> Result<String, String> {
        let (category, details) = if schema_errors.is_some() {
            (
                "requestIsRejectedBySmev",
                "Бизнес-данные сообщения не соответствуют схеме, зарегистрированной в СМЭВ",
            )
        } else {
            ("requestIsAcceptedBySmev", "Запрос принят СМЭВ")
        };
        {
            let mut st = self.statuses.lock().expect("status lock");
            let q = st.entry(consumer.to_owned()).or_default();
            if q.len() >= STATUS_LIMIT {
                q.pop_front();
            }
            q.push_back(Status {
                original: mid.to_owned(),
                category,
                details: details.to_owned(),
            });
        }
        if scenario.never_answer && schema_errors.is_none() {
            return Ok("accepted; the provider will never answer (scenario)".into());
        }
        let body = match schema_errors {
            Some(errors) => ResponseBody::AsyncRejected {
                details: format!("SMEV-403: {details}. MessageId = {mid}"),
                fault_code: "028122".into(),
                errors: errors.to_vec(),
            },
            None => match self.answer(provider, scenario)? {
                ProviderAnswer::Business(d) => ResponseBody::Primary(d),
                ProviderAnswer::Rejected(r) => ResponseBody::Rejected {
                    code: r.code,
                    text: r.text,
                },
            },
        };
        let (body, attachment) = match (&body, provider, scenario.attachment) {
            (ResponseBody::Primary(d), Provider::Lookup { lookup, query }, Some(_))
                if matches!(lookup.kind(), Kind::Egrul | Kind::Egrip) =>
            {
                let extract = xml::to_bytes(d);
                let name = format!("{}-{}.xml", lookup.kind(), query.doc_id);
                let padding: Vec<u8> = (0..scenario.attachment_padding_bytes.unwrap_or(0))
                    .map(|i| (i % 251) as u8)
                    .collect();
                let stored: &[(&str, &[u8])] = if padding.is_empty() {
                    &[]
                } else {
                    &[("scan.pdf", &padding)]
                };
                let zip = crate::attachment::zip::pack_with_stored(&[(&name, &extract)], stored)
                    .map_err(|e| e.to_string())?;
                drop(padding);
                let signed = match scenario.attachment_fault {
                    Some(AttachmentFault::BadSignature) => {
                        let mut other = zip.clone();
                        other.push(0);
                        other
                    }
                    _ => zip.clone(),
                };
                let sig = crate::attachment::cms::sign_bytes(&self.key, &signed)
                    .map_err(|e| e.to_string())?;
                let code = lookup.render_processing_code(query, "54")?;
                (
                    ResponseBody::Primary(code),
                    Some((zip, base64::engine::general_purpose::STANDARD.encode(sig))),
                )
            }
            _ => (body, None),
        };
        let (namespace, root) = match (&body, provider) {
            (_, Provider::Lookup { lookup, .. }) => (
                lookup.namespace().to_owned(),
                lookup.response_root().to_owned(),
            ),
            (ResponseBody::Primary(d), Provider::Vs { .. }) => {
                let el = d.element(d.root());
                (el.ns.clone().unwrap_or_default(), el.local.clone())
            }
            (
                _,
                Provider::Vs {
                    namespace, root, ..
                },
            ) => (namespace.clone(), root.clone()),
        };
        let answer_id = smev::new_message_id().to_string();
        let now = clock::now();
        let meta = Metadata {
            message_id: answer_id.clone(),
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
        let reply_to =
            base64::engine::general_purpose::STANDARD.encode(format!("{{\"mid\":\"{mid}\"}}"));
        let (rdoc, resp, container) = smev::get_response_response(
            v,
            mid,
            &reply_to,
            &smev::new_message_id().to_string(),
            &body,
            &meta,
        );
        let mut rdoc = rdoc;
        let mut attachments = Vec::new();
        if let Some((zip, sig)) = attachment
            .as_ref()
            .filter(|_| scenario.attachment == Some(super::scenario::AttachmentTransfer::Ftp))
        {
            let store = self
                .file_store
                .get()
                .ok_or("the emulator's file store is not running")?;
            let stored = store
                .put(&format!("extract-{answer_id}.zip"), zip)
                .map_err(|e| format!("cannot put the attachment in the file store: {e}"))?;
            let hash = match scenario.attachment_fault {
                Some(AttachmentFault::WrongHash) => {
                    base64::engine::general_purpose::STANDARD.encode([0u8; 32])
                }
                _ => crate::attachment::digest::digest_reader(&mut &zip[..])
                    .map_err(|e| e.to_string())?
                    .gost_base64()
                    .ok_or("GOST R 34.11-2012 is unavailable to the emulator")?,
            };
            add_file_store_elements(&mut rdoc, v, resp, &stored, &hash, sig);
        } else if let Some((zip, sig)) = attachment {
            let cid = format!("extract-{answer_id}.zip");
            add_attachment_elements(&mut rdoc, v, resp, container, &cid, &sig);
            if scenario.attachment_fault != Some(AttachmentFault::MissingFile) {
                attachments.push((cid, "application/zip".to_owned(), zip));
            }
        }
        let bytes = match scenario.signature {
            None => self.sign(rdoc, resp, container),
            Some(SignatureFault::Wrong) => corrupt_signature(&self.sign(rdoc, resp, container)),
            Some(SignatureFault::Missing) => {
                let mut d = rdoc;
                d.detach(container);
                xml::to_bytes(&d)
            }
        };
        let delay = scenario.delay().unwrap_or(self.settings.answer_delay);
        let q = Queued {
            message_id: answer_id.clone(),
            original_message_id: mid.to_owned(),
            namespace,
            root,
            available_at: Instant::now() + delay,
            taken_at: None,
            body: bytes,
            attachments,
            malformed_left: scenario.malformed_xml as u32,
            doctype_left: scenario.doctype as u32,
        };
        let copies = if scenario.duplicate { 2 } else { 1 };
        {
            let mut queues = self.queues.lock().expect("queue lock");
            let cq = queues.entry(consumer.to_owned()).or_default();
            for _ in 0..copies {
                cq.push_back(q.clone());
            }
        }
        Ok(match (schema_errors, answer_changes(scenario)) {
            (Some(_), _) => "accepted; an asynchronous schema rejection is queued".to_owned(),
            (None, None) => "accepted; answer queued".to_owned(),
            (None, Some(changes)) => format!("accepted; answer queued ({changes})"),
        })
    }

    /// Who answers the business request at `primary` (`{ns}local`): one of
    /// the lookups, or a VS from `<data>/vs/` (or none: `NO_DATA`), with the
    /// request's schema violations for a lookup.
    fn provider<'n>(
        &'n self,
        doc: &Document,
        primary: NodeId,
        ns: &str,
        local: &str,
    ) -> Result<(Provider<'n>, Option<Vec<String>>), Refusal> {
        if let Some(lookup) = self.registry.by_request_root(ns, local) {
            return Ok(match lookup.read_request(doc, primary) {
                Ok(query) => (Provider::Lookup { lookup, query }, None),
                Err(errors) => (
                    Provider::Lookup {
                        lookup,
                        query: ProviderQuery {
                            doc_id: String::new(),
                            identifiers: Vec::new(),
                        },
                    },
                    Some(errors),
                ),
            });
        }
        let fixture = self.vs.find(ns, local);
        if fixture.is_none() && self.settings.unknown_vs == UnknownVs::NotSupported {
            return Err(refuse(
                FaultKind::BusinessDataTypeIsNotSupported,
                format!("business data type {{{ns}}}{local} is not registered"),
            ));
        }
        // A VS's request has no id the emulator knows: the same business
        // XML accepted twice is the duplicate an agency would see.
        let digest = xmldsig::transform::transform(doc, primary)
            .map(|b| crate::casefile::sha256_hex(&b))
            .unwrap_or_default();
        Ok((
            Provider::Vs {
                subject: fixture
                    .and_then(|f| f.subject_of(doc, primary))
                    .unwrap_or_default(),
                fixture,
                namespace: ns.to_owned(),
                root: local.to_owned(),
                digest: format!("{local}:{}", &digest[..digest.len().min(32)]),
            },
            None,
        ))
    }

    /// What the provider answers under `scenario`.
    fn answer(
        &self,
        provider: &Provider<'_>,
        scenario: &Scenario,
    ) -> Result<ProviderAnswer, String> {
        let (fixture, subject, namespace) = match provider {
            Provider::Lookup { lookup, query } => {
                return self
                    .fixtures
                    .answer(&self.registry, lookup.kind(), query, scenario);
            }
            Provider::Vs {
                fixture,
                subject,
                namespace,
                ..
            } => (fixture, subject, namespace),
        };
        if let Some(r) = super::data::scenario_reject(scenario) {
            return Ok(ProviderAnswer::Rejected(r));
        }
        if scenario.code.is_some() {
            return Err("VS processing codes (scenario code) belong to the lookups; a VS answers from its files".into());
        }
        Ok(match fixture.and_then(|f| f.answer(subject)) {
            Some(doc) => ProviderAnswer::Business(doc.clone()),
            None if fixture.is_some() => ProviderAnswer::Rejected(Reject {
                code: "NO_DATA".into(),
                text: format!("Сведения отсутствуют: нет данных по {subject:?}"),
            }),
            None => ProviderAnswer::Rejected(Reject {
                code: "NO_DATA".into(),
                text: format!(
                    "Сведения отсутствуют: вид сведений {namespace} эмулятору не известен"
                ),
            }),
        })
    }

    fn get_response(&self, doc: &Document, about: &mut About) -> Result<Reply, Refusal> {
        let req = smev::parse_get_response_request(doc).map_err(content)?;
        let consumer = self.caller(doc, req.signature, req.selector)?;
        about.consumer = Some(consumer.clone());
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
        let Some(m) = found else {
            return Ok(Reply::soap(
                200,
                xml::to_bytes(&smev::get_response_empty(req.version)),
            ));
        };
        m.taken_at = Some(now);
        let (body, how) = if m.malformed_left > 0 {
            m.malformed_left -= 1;
            (
                m.body[..m.body.len() / 2].to_vec(),
                "delivered malformed XML (scenario)",
            )
        } else if m.doctype_left > 0 {
            m.doctype_left -= 1;
            (
                with_doctype(&m.body),
                "delivered with a DOCTYPE and an external entity (scenario)",
            )
        } else {
            (m.body.clone(), "delivered")
        };
        about.message_id = Some(m.message_id.clone());
        about.original_message_id = Some(m.original_message_id.clone());
        let parts = m.attachments.clone();
        drop(queues);
        self.record(about.entry("GetResponse", how.into()));
        if parts.is_empty() {
            return Ok(Reply::soap(200, body));
        }
        let refs: Vec<(&str, &str, &[u8])> = parts
            .iter()
            .map(|(c, t, b)| (c.as_str(), t.as_str(), b.as_slice()))
            .collect();
        let (content_type, bytes) = crate::attachment::mtom::build_in_memory(&body, &refs);
        Ok(Reply {
            status: 200,
            body: Body::Multipart {
                content_type,
                bytes,
            },
            delay: None,
        })
    }

    fn ack(&self, doc: &Document, about: &mut About) -> Result<Reply, Refusal> {
        let req = smev::parse_ack_request(doc).map_err(content)?;
        about.message_id = Some(req.message_id.clone());
        let consumer = self.caller(doc, req.signature, req.target)?;
        about.consumer = Some(consumer.clone());
        let mut queues = self.queues.lock().expect("queue lock");
        let q = queues.entry(consumer.clone()).or_default();
        let Some(pos) = q
            .iter()
            .position(|m| m.message_id == req.message_id && m.taken_at.is_some())
        else {
            return Err(refuse(
                FaultKind::TargetMessageIsNotFound,
                format!("no delivered message {} to acknowledge", req.message_id),
            ));
        };
        let m = q.remove(pos).expect("position is in range");
        drop(queues);
        about.original_message_id = Some(m.original_message_id);
        let what = if req.accepted {
            "ack accepted"
        } else {
            "ack refused (accepted=false)"
        };
        self.record(about.entry("Ack", what.into()));
        Ok(Reply::soap(
            200,
            xml::to_bytes(&smev::ack_response(req.version)),
        ))
    }

    /// How many answers wait in the caller's queue (taken but not
    /// acknowledged ones included: SMEV holds them until the Ack).
    fn queue_statistics(&self, doc: &Document, about: &mut About) -> Result<Reply, Refusal> {
        let req = smev::parse_get_incoming_queue_statistics_request(doc).map_err(content)?;
        let consumer = self.caller(doc, req.signature, req.timestamp)?;
        about.consumer = Some(consumer.clone());
        let pending = self
            .queues
            .lock()
            .expect("queue lock")
            .get(&consumer)
            .map_or(0, VecDeque::len) as i64;
        let name = format!("{}.responses", &consumer[..consumer.len().min(16)]);
        self.record(about.entry(
            "GetIncomingQueueStatistics",
            format!("{pending} message(s) in {name}"),
        ));
        Ok(Reply::soap(
            200,
            xml::to_bytes(&smev::get_incoming_queue_statistics_response(
                req.version,
                &[(name, pending)],
            )),
        ))
    }

    fn get_status(&self, doc: &Document, about: &mut About) -> Result<Reply, Refusal> {
        let req = smev::parse_get_status_request(doc).map_err(content)?;
        let consumer = self.caller(doc, req.signature, req.timestamp)?;
        about.consumer = Some(consumer.clone());
        let next = self
            .statuses
            .lock()
            .expect("status lock")
            .get_mut(&consumer)
            .and_then(VecDeque::pop_front);
        let Some(Status {
            original,
            category,
            details,
        }) = next
        else {
            return Ok(Reply::soap(
                200,
                xml::to_bytes(&smev::get_status_response(req.version, None).0),
            ));
        };
        let (sdoc, target) =
            smev::get_status_response(req.version, Some((&original, category, Some(&details))));
        let (data, container) = target.expect("a status was given");
        about.original_message_id = Some(original);
        self.record(about.entry("GetStatus", format!("delivered status {category}")));
        Ok(Reply::soap(200, self.sign(sdoc, data, container)))
    }
}

/// Who answers a business request.
enum Provider<'n> {
    Lookup {
        lookup: &'n dyn Lookup,
        query: ProviderQuery,
    },
    Vs {
        fixture: Option<&'n VsFixture>,
        subject: String,
        namespace: String,
        root: String,
        /// Identifies the business request for the duplicate count.
        digest: String,
    },
}

impl Provider<'_> {
    fn kind(&self) -> Kind {
        match self {
            Provider::Lookup { lookup, .. } => lookup.kind(),
            Provider::Vs { .. } => Kind::Vs,
        }
    }

    fn subject(&self) -> String {
        match self {
            Provider::Lookup { query, .. } => {
                query.identifiers.first().cloned().unwrap_or_default()
            }
            Provider::Vs { subject, .. } => subject.clone(),
        }
    }

    /// The business request's own id (ФНС `ИдДок`…), or for a VS the digest
    /// of its business XML.
    fn request_ref(&self) -> Option<String> {
        match self {
            Provider::Lookup { query, .. } => {
                (!query.doc_id.is_empty()).then(|| query.doc_id.clone())
            }
            Provider::Vs { digest, .. } => Some(digest.clone()),
        }
    }
}

enum Disturbance {
    Reply(Reply),
    Slow(Duration),
}

fn op_name(op: Operation) -> &'static str {
    match op {
        Operation::SendRequest => "SendRequest",
        Operation::GetResponse => "GetResponse",
        Operation::Ack => "Ack",
        Operation::GetStatus => "GetStatus",
        Operation::GetIncomingQueueStatistics => "GetIncomingQueueStatistics",
    }
}

/// Signature checks of what consumers send: any certificate (the emulator
/// has no register of systems), but a valid signature and certificate.
fn any_signer() -> VerifyPolicy<'static> {
    VerifyPolicy {
        trust: None,
        at: clock::now(),
        allow_exc_c14n_only: false,
    }
}

fn fault_scenario(f: &Fault) -> Scenario {
    Scenario {
        fault: f.fault.clone(),
        http_status: f.http_status,
        drop_connection: f.drop_connection,
        slow_secs: f.slow_secs,
        ..Scenario::default()
    }
}

/// What a disturbance of a call does, for the trace.
fn disturbance(s: &Scenario) -> String {
    let what = if let Some(f) = &s.fault {
        format!("SOAP fault {f}")
    } else if let Some(status) = s.http_status {
        format!("HTTP {status}")
    } else if s.drop_connection {
        "connection dropped".to_owned()
    } else if let Some(secs) = s.slow_secs {
        return format!("slow: the response waits {secs} s");
    } else {
        "none".to_owned()
    };
    match s.slow_secs {
        Some(secs) => format!("{what} after {secs} s"),
        None => what,
    }
}

/// The scenario's changes to the answer, if any, in one line.
fn answer_changes(s: &Scenario) -> Option<String> {
    let answer = Scenario {
        delay_secs: s.delay_secs,
        never_answer: s.never_answer,
        reject: s.reject.clone(),
        reject_text: s.reject_text.clone(),
        code: s.code.clone(),
        signature: s.signature,
        malformed_xml: s.malformed_xml,
        doctype: s.doctype,
        duplicate: s.duplicate,
        ..Scenario::default()
    };
    (answer != Scenario::default()).then(|| serde_json::to_string(&answer).unwrap_or_default())
}

fn content(e: SmevError) -> Refusal {
    refuse(FaultKind::InvalidContent, e.to_string())
}

/// The same message with its SMEV signature value altered: it no longer verifies.
fn corrupt_signature(body: &[u8]) -> Vec<u8> {
    let text = String::from_utf8_lossy(body).into_owned();
    let marker = "SignatureValue>";
    match text.find(marker) {
        Some(i) => {
            let at = i + marker.len() + 2;
            let mut bytes = text.into_bytes();
            bytes[at] = if bytes[at] == b'A' { b'B' } else { b'A' };
            bytes
        }
        None => body.to_vec(),
    }
}

/// The message with a DOCTYPE declaring an external entity, referenced in
/// its body: what an XXE attack looks like.
fn with_doctype(body: &[u8]) -> Vec<u8> {
    let text = String::from_utf8_lossy(body);
    let rest = text
        .strip_prefix("<?xml version=\"1.0\" encoding=\"UTF-8\"?>")
        .unwrap_or(&text);
    let root = rest
        .trim_start()
        .strip_prefix('<')
        .and_then(|r| r.split([' ', '>', '/']).next())
        .unwrap_or("Envelope");
    let injected = rest.replacen(
        "</ns2:OriginalMessageId>",
        "&xxe;</ns2:OriginalMessageId>",
        1,
    );
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?><!DOCTYPE {root} [<!ENTITY xxe SYSTEM \"file:///etc/passwd\">]>{injected}"
    )
    .into_bytes()
}

/// Adds an MTOM attachment's header (inside the signed
/// `SenderProvidedResponseData`) and its `AttachmentContentList` entry
/// (outside the signed `Response`, before `SMEVSignature`).
fn add_attachment_elements(
    doc: &mut Document,
    v: Version,
    resp: NodeId,
    container: NodeId,
    cid: &str,
    signature_b64: &str,
) {
    let bns = Some(v.basic_ns());
    let b = Some("ns3");
    if let Some(sprd) = doc.child(resp, v.types_ns(), "SenderProvidedResponseData") {
        let list = doc.append_element(sprd, b, "AttachmentHeaderList", bns);
        let h = doc.append_element(list, b, "AttachmentHeader", bns);
        doc.append_text_element(h, b, "contentId", bns, cid);
        doc.append_text_element(h, b, "MimeType", bns, "application/zip");
        doc.append_text_element(h, b, "SignaturePKCS7", bns, signature_b64);
    }
    if let Some(msg) = doc.parent(resp) {
        let list = doc.append_element(msg, b, "AttachmentContentList", bns);
        let c = doc.append_element(list, b, "AttachmentContent", bns);
        doc.set_attr(c, "Id", cid);
        let content = doc.append_element(c, b, "Content", bns);
        let inc = doc.append_element(
            content,
            Some("xop"),
            "Include",
            Some(crate::attachment::mtom::XOP_NS),
        );
        doc.set_attr(inc, "href", &format!("cid:{cid}"));
        // SMEVSignature stays last.
        doc.reparent(container, msg);
    }
}

/// Adds a file-store attachment: `RefAttachmentHeaderList` inside the
/// signed `SenderProvidedResponseData`, `FSAttachmentsList` after
/// `MessageMetadata`.
fn add_file_store_elements(
    doc: &mut Document,
    v: Version,
    resp: NodeId,
    stored: &super::filestore::StoredFile,
    hash: &str,
    signature_b64: &str,
) {
    let bns = Some(v.basic_ns());
    let b = Some("ns3");
    if let Some(sprd) = doc.child(resp, v.types_ns(), "SenderProvidedResponseData") {
        let list = doc.append_element(sprd, b, "RefAttachmentHeaderList", bns);
        let h = doc.append_element(list, b, "RefAttachmentHeader", bns);
        doc.append_text_element(h, b, "uuid", bns, &stored.uuid);
        doc.append_text_element(h, b, "Hash", bns, hash);
        doc.append_text_element(h, b, "MimeType", bns, "application/zip");
        doc.append_text_element(h, b, "SignaturePKCS7", bns, signature_b64);
    }
    let list = doc.append_element(resp, b, "FSAttachmentsList", bns);
    let a = doc.append_element(list, b, "FSAttachment", bns);
    doc.append_text_element(a, b, "uuid", bns, &stored.uuid);
    doc.append_text_element(a, b, "UserName", bns, &stored.user_name);
    doc.append_text_element(a, b, "Password", bns, &stored.password);
    doc.append_text_element(a, b, "FileName", bns, &stored.file_name);
}
