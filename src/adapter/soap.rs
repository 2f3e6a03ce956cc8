//! The adapter's messages: reading `ClientMessage`, `MessageQuery` and
//! `FindMessageQuery`, writing `MessageResult`, `QueryResult`,
//! `QueryResultList` and the faults, by namespace and local name as the
//! adapter's schema (`schemas/adapter/`) declares them.

use time::OffsetDateTime;

use crate::clock;
use crate::smev::{SOAP_NS, XSI_NS, body_child};
use crate::xml::{Document, NodeId};

pub const SERVICE_NS: &str = "urn://x-artefacts-smev-gov-ru/services/service-adapter";
pub const TYPES_NS: &str = "urn://x-artefacts-smev-gov-ru/services/service-adapter/types";
pub const FAULTS_NS: &str = "urn://x-artefacts-smev-gov-ru/services/service-adapter/types/faults";
/// mezhved's own namespace for what the adapter's schema has no place for
/// in `content` (see [`crate::adapter::Rejects::Content`]).
pub const MEZHVED_NS: &str = "urn://mezhved/adapter/1.0";

const T: Option<&str> = Some("ns2");
const F: Option<&str> = Some("ns3");
const M: Option<&str> = Some("mzv");

/// The adapter's two faults and what a client does about each.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FaultKind {
    /// A failure on our side or missing configuration: retry, without limit.
    System,
    /// Missing or inconsistent data: fix the request.
    Validation,
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{code}: {description}")]
pub struct Fault {
    pub kind: FaultKind,
    /// At most 50 characters (`string-50`).
    pub code: &'static str,
    pub description: String,
}

impl Fault {
    pub fn validation(code: &'static str, description: impl Into<String>) -> Self {
        Fault {
            kind: FaultKind::Validation,
            code,
            description: description.into(),
        }
    }

    pub fn system(code: &'static str, description: impl Into<String>) -> Self {
        Fault {
            kind: FaultKind::System,
            code,
            description: description.into(),
        }
    }

    pub fn element_name(&self) -> &'static str {
        match self.kind {
            FaultKind::System => "SystemFault",
            FaultKind::Validation => "ValidationFault",
        }
    }
}

/// An operation of the interface, named by its body element.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Operation {
    Send,
    Get,
    Find,
}

impl Operation {
    pub fn as_str(self) -> &'static str {
        match self {
            Operation::Send => "Send",
            Operation::Get => "Get",
            Operation::Find => "Find",
        }
    }

    pub fn soap_action(self) -> &'static str {
        match self {
            Operation::Send => "urn:Send",
            Operation::Get => "urn:Get",
            Operation::Find => "urn:Find",
        }
    }
}

/// A request message from `ClientMessage/RequestMessage`.
#[derive(Clone, Debug)]
pub struct RequestCall {
    pub client_id: String,
    pub node_id: Option<String>,
    pub eol: Option<OffsetDateTime>,
    pub test: bool,
    pub transaction_code: Option<String>,
    /// The element under `MessagePrimaryContent`.
    pub business: NodeId,
}

/// What the adapter's schema allows that mezhved does not carry (yet):
/// refused with a `ValidationFault` rather than dropped.
const UNSUPPORTED_METADATA: [(&str, &str); 4] = [
    (
        "linkedGroupIdentity",
        "request groups (linkedGroupIdentity) are not supported: give the TransactionCode instead",
    ),
    (
        "createGroupIdentity",
        "transaction codes from the register of codes (createGroupIdentity) are not supported: give the TransactionCode instead",
    ),
    (
        "BusinessProcessMetadata",
        "BusinessProcessMetadata is not supported",
    ),
    (
        "RoutingInformation",
        "routing (RoutingInformation) is not supported yet",
    ),
];

/// The same, in `content`.
const UNSUPPORTED_CONTENT: [(&str, &str); 2] = [
    (
        "AttachmentHeaderList",
        "attachments (AttachmentHeaderList) are not supported by mezhved's adapter interface yet",
    ),
    (
        "PersonalSignature",
        "a PersonalSignature made by the case system is not supported: mezhved signs with its own keys",
    ),
];

/// The call a SOAP body makes.
#[derive(Clone, Debug)]
pub enum Call {
    Send {
        it_system: String,
        request: RequestCall,
    },
    Get {
        it_system: String,
        /// `RESPONSE`, `REQUEST` or none (any).
        criteria: Option<String>,
    },
    Find {
        it_system: String,
        criteria: FindCriteria,
    },
}

impl Call {
    pub fn operation(&self) -> Operation {
        match self {
            Call::Send { .. } => Operation::Send,
            Call::Get { .. } => Operation::Get,
            Call::Find { .. } => Operation::Find,
        }
    }

    pub fn it_system(&self) -> &str {
        match self {
            Call::Send { it_system, .. }
            | Call::Get { it_system, .. }
            | Call::Find { it_system, .. } => it_system,
        }
    }
}

/// `FindMessageQuery/specificQuery`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FindCriteria {
    Period {
        from: OffsetDateTime,
        to: Option<OffsetDateTime>,
    },
    /// `GET_REQUEST_BY_REQUEST_CLIENTID`
    RequestByRequest(String),
    /// `GET_RESPONSE_BY_REQUEST_CLIENTID`
    ResponseByRequest(String),
    /// `GET_RESPONSE_BY_RESPONSE_CLIENTID`
    ResponseByResponse(String),
}

/// Which operation a body element is, if any.
pub fn operation_of(doc: &Document) -> Option<Operation> {
    let el = doc.element(body_child(doc).ok()?);
    if el.ns.as_deref() != Some(TYPES_NS) {
        return None;
    }
    match el.local.as_str() {
        "ClientMessage" => Some(Operation::Send),
        "MessageQuery" => Some(Operation::Get),
        "FindMessageQuery" => Some(Operation::Find),
        _ => None,
    }
}

fn invalid(m: impl Into<String>) -> Fault {
    Fault::validation("INVALID_MESSAGE", m)
}

fn text(doc: &Document, parent: NodeId, local: &str) -> Option<String> {
    doc.child_text(parent, TYPES_NS, local)
        .map(|t| t.trim().to_owned())
}

fn required(doc: &Document, parent: NodeId, local: &str) -> Result<String, Fault> {
    text(doc, parent, local)
        .filter(|t| !t.is_empty())
        .ok_or_else(|| invalid(format!("{} has no {local}", doc.element(parent).local)))
}

fn child(doc: &Document, parent: NodeId, local: &str) -> Option<NodeId> {
    doc.child(parent, TYPES_NS, local)
}

/// `xs:dateTime`; without an offset it is Moscow time, as SMEV writes it.
fn date_time(s: &str, what: &str) -> Result<OffsetDateTime, Fault> {
    clock::parse_rfc3339(s)
        .or_else(|| clock::parse_rfc3339(&format!("{s}+03:00")))
        .ok_or_else(|| invalid(format!("{what} {s:?} is not an xs:dateTime")))
}

fn bounded(v: String, max: usize, what: &str) -> Result<String, Fault> {
    if v.chars().count() > max {
        return Err(invalid(format!("{what} is longer than {max} characters")));
    }
    Ok(v)
}

/// Reads the call in a SOAP envelope.
pub fn parse_call(doc: &Document) -> Result<Call, Fault> {
    let el = body_child(doc).map_err(|e| invalid(e.to_string()))?;
    let e = doc.element(el);
    if e.ns.as_deref() != Some(TYPES_NS) {
        return Err(invalid(format!(
            "{e} is not an operation of the adapter interface (ClientMessage, MessageQuery or FindMessageQuery in {TYPES_NS})"
        )));
    }
    let it_system = bounded(required(doc, el, "itSystem")?, 50, "itSystem")?;
    match e.local.as_str() {
        "ClientMessage" => parse_send(doc, el, it_system),
        "MessageQuery" => {
            let criteria =
                child(doc, el, "specificQuery").and_then(|q| text(doc, q, "messageTypeCriteria"));
            if let Some(c) = &criteria
                && c != "REQUEST"
                && c != "RESPONSE"
            {
                return Err(invalid(format!(
                    "messageTypeCriteria {c:?} is not REQUEST or RESPONSE"
                )));
            }
            Ok(Call::Get {
                it_system,
                criteria,
            })
        }
        "FindMessageQuery" => {
            let q = child(doc, el, "specificQuery")
                .ok_or_else(|| invalid("FindMessageQuery has no specificQuery"))?;
            let criteria = if let Some(p) = child(doc, q, "messagePeriodCriteria") {
                let from = date_time(&required(doc, p, "from")?, "from")?;
                let to = text(doc, p, "to")
                    .map(|t| date_time(&t, "to"))
                    .transpose()?;
                FindCriteria::Period { from, to }
            } else if let Some(c) = child(doc, q, "messageClientIdCriteria") {
                let id = bounded(required(doc, c, "clientId")?, 50, "clientId")?;
                match required(doc, c, "clientIdCriteria")?.as_str() {
                    "GET_REQUEST_BY_REQUEST_CLIENTID" => FindCriteria::RequestByRequest(id),
                    "GET_RESPONSE_BY_REQUEST_CLIENTID" => FindCriteria::ResponseByRequest(id),
                    "GET_RESPONSE_BY_RESPONSE_CLIENTID" => FindCriteria::ResponseByResponse(id),
                    other => {
                        return Err(invalid(format!(
                            "clientIdCriteria {other:?} is not GET_REQUEST_BY_REQUEST_CLIENTID, GET_RESPONSE_BY_REQUEST_CLIENTID or GET_RESPONSE_BY_RESPONSE_CLIENTID"
                        )));
                    }
                }
            } else {
                return Err(invalid(
                    "specificQuery has neither messagePeriodCriteria nor messageClientIdCriteria",
                ));
            };
            Ok(Call::Find {
                it_system,
                criteria,
            })
        }
        other => Err(invalid(format!(
            "{other} is not an operation of the adapter interface"
        ))),
    }
}

/// An optional text of at most `max` characters (empty: absent).
fn optional(
    doc: &Document,
    parent: NodeId,
    local: &str,
    max: usize,
) -> Result<Option<String>, Fault> {
    text(doc, parent, local)
        .filter(|t| !t.is_empty())
        .map(|t| bounded(t, max, local))
        .transpose()
}

fn parse_send(doc: &Document, el: NodeId, it_system: String) -> Result<Call, Fault> {
    if child(doc, el, "ResponseMessage").is_some() {
        return Err(Fault::validation(
            "NOT_A_PROVIDER",
            "mezhved sends requests for its case systems and answers none: a ResponseMessage (an answer to an incoming request) has nowhere to go",
        ));
    }
    if child(doc, el, "QueryMessage").is_some() {
        return Err(Fault::validation(
            "NOT_SUPPORTED",
            "QueryMessage is not supported",
        ));
    }
    let msg = child(doc, el, "RequestMessage")
        .ok_or_else(|| invalid("ClientMessage has no RequestMessage"))?;
    let md = child(doc, msg, "RequestMetadata")
        .ok_or_else(|| invalid("RequestMessage has no RequestMetadata"))?;
    for (local, why) in UNSUPPORTED_METADATA {
        if child(doc, md, local).is_some() {
            return Err(Fault::validation("NOT_SUPPORTED", why));
        }
    }
    let client_id = bounded(required(doc, md, "clientId")?, 50, "clientId")?;
    let node_id = optional(doc, md, "nodeId", 50)?;
    let eol = text(doc, md, "eol")
        .filter(|t| !t.is_empty())
        .map(|t| date_time(&t, "eol"))
        .transpose()?;
    let test = match text(doc, md, "testMessage").as_deref() {
        None | Some("false" | "0" | "") => false,
        Some("true" | "1") => true,
        Some(other) => return Err(invalid(format!("testMessage {other:?} is not a boolean"))),
    };
    let transaction_code = optional(doc, md, "TransactionCode", 1500)?;
    let content = child(doc, msg, "RequestContent")
        .and_then(|c| child(doc, c, "content"))
        .ok_or_else(|| invalid("RequestMessage has no RequestContent/content"))?;
    for (local, why) in UNSUPPORTED_CONTENT {
        if child(doc, content, local).is_some() {
            return Err(Fault::validation("NOT_SUPPORTED", why));
        }
    }
    let mpc = child(doc, content, "MessagePrimaryContent")
        .ok_or_else(|| invalid("content has no MessagePrimaryContent"))?;
    let mut roots = doc.child_elements(mpc);
    let business = roots
        .next()
        .ok_or_else(|| invalid("MessagePrimaryContent is empty"))?;
    if roots.next().is_some() {
        return Err(invalid(
            "MessagePrimaryContent holds more than one element: the business XML has one root",
        ));
    }
    Ok(Call::Send {
        it_system,
        request: RequestCall {
            client_id,
            node_id,
            eol,
            test,
            transaction_code,
            business,
        },
    })
}

/// `smevMetadata` of a message handed out.
#[derive(Clone, Debug, Default)]
pub struct SmevMetadata {
    pub message_id: Option<String>,
    pub reference_message_id: Option<String>,
    pub transaction_code: Option<String>,
    pub original_message_id: Option<String>,
    pub sender: Option<String>,
    pub recipient: Option<String>,
    pub sending_date: Option<OffsetDateTime>,
}

/// What `ResponseContent` holds.
#[derive(Clone, Debug)]
pub enum ResponseBody {
    Content(Document),
    /// `(code, description)` of each `rejects`.
    Rejects(Vec<(String, String)>),
}

/// A message as `QueryResult` carries it (its `Message`, typed with
/// `xsi:type`).
#[derive(Clone, Debug)]
pub enum Message {
    Request {
        client_id: String,
        node_id: Option<String>,
        eol: Option<OffsetDateTime>,
        test: bool,
        transaction_code: Option<String>,
        business: Document,
    },
    Response {
        client_id: String,
        reply_to_client_id: String,
        body: ResponseBody,
    },
    /// `StatusMessage` (`status` OTHER), or `ErrorMessage` (`status` ERROR)
    /// when `error` is given: `(type SERVER|CLIENT, code, description)`.
    Status {
        client_id: String,
        original_client_id: String,
        details: Option<String>,
        timestamp: Option<OffsetDateTime>,
        error: Option<(&'static str, String, String)>,
    },
}

/// One `QueryResult`: metadata and message.
#[derive(Clone, Debug)]
pub struct AdapterMessage {
    pub smev: SmevMetadata,
    /// `messageType`: `PrimaryMessage` for the request or its answer.
    pub message_type: &'static str,
    pub message: Message,
}

fn envelope() -> (Document, NodeId) {
    let mut doc = Document::new(Some("soap"), "Envelope", Some(SOAP_NS));
    let body = doc.append_element(doc.root(), Some("soap"), "Body", Some(SOAP_NS));
    (doc, body)
}

fn put(doc: &mut Document, parent: NodeId, local: &str, value: &str) -> NodeId {
    doc.append_text_element(parent, T, local, Some(TYPES_NS), value)
}

fn put_opt(doc: &mut Document, parent: NodeId, local: &str, value: Option<&str>) {
    if let Some(v) = value {
        put(doc, parent, local, v);
    }
}

/// `MessageResult`: the request is recorded.
pub fn message_result(it_system: &str, message_id: &str) -> Document {
    let (mut doc, body) = envelope();
    let r = doc.append_element(body, T, "MessageResult", Some(TYPES_NS));
    put(&mut doc, r, "itSystem", it_system);
    put(&mut doc, r, "MessageId", message_id);
    doc
}

/// `QueryResult`: one message, or none (empty: nothing there).
pub fn query_result(message: Option<&AdapterMessage>) -> Document {
    let (mut doc, body) = envelope();
    let r = doc.append_element(body, T, "QueryResult", Some(TYPES_NS));
    if let Some(m) = message {
        write_adapter_message(&mut doc, r, m);
    }
    doc
}

/// `QueryResultList`: what `Find` found, possibly nothing.
pub fn query_result_list(messages: &[AdapterMessage]) -> Document {
    let (mut doc, body) = envelope();
    let list = doc.append_element(body, T, "QueryResultList", Some(TYPES_NS));
    for m in messages {
        let r = doc.append_element(list, T, "QueryResult", Some(TYPES_NS));
        write_adapter_message(&mut doc, r, m);
    }
    doc
}

fn write_adapter_message(doc: &mut Document, parent: NodeId, m: &AdapterMessage) {
    let s = &m.smev;
    let md = doc.append_element(parent, T, "smevMetadata", Some(TYPES_NS));
    put_opt(doc, md, "MessageId", s.message_id.as_deref());
    put_opt(
        doc,
        md,
        "ReferenceMessageID",
        s.reference_message_id.as_deref(),
    );
    put_opt(doc, md, "TransactionCode", s.transaction_code.as_deref());
    put_opt(
        doc,
        md,
        "OriginalMessageID",
        s.original_message_id.as_deref(),
    );
    put_opt(doc, md, "Sender", s.sender.as_deref());
    put_opt(doc, md, "Recipient", s.recipient.as_deref());
    if let Some(t) = s.sending_date {
        put(doc, md, "SendingDate", &clock::rfc3339(t));
    }
    let msg = doc.append_element(parent, T, "Message", Some(TYPES_NS));
    let xsi_type = match &m.message {
        Message::Request { .. } => "ns2:RequestMessageType",
        Message::Response { .. } => "ns2:ResponseMessageType",
        Message::Status { error: None, .. } => "ns2:StatusMessage",
        Message::Status { error: Some(_), .. } => "ns2:ErrorMessage",
    };
    doc.set_attr_ns(msg, "xsi", "type", XSI_NS, xsi_type);
    put(doc, msg, "messageType", m.message_type);
    match &m.message {
        Message::Request {
            client_id,
            node_id,
            eol,
            test,
            transaction_code,
            business,
        } => {
            let rm = doc.append_element(msg, T, "RequestMetadata", Some(TYPES_NS));
            put(doc, rm, "clientId", client_id);
            put_opt(doc, rm, "nodeId", node_id.as_deref());
            if let Some(e) = eol {
                put(doc, rm, "eol", &clock::rfc3339(*e));
            }
            put(doc, rm, "testMessage", if *test { "true" } else { "false" });
            put_opt(doc, rm, "TransactionCode", transaction_code.as_deref());
            let rc = doc.append_element(msg, T, "RequestContent", Some(TYPES_NS));
            write_content(doc, rc, business);
        }
        Message::Response {
            client_id,
            reply_to_client_id,
            body,
        } => {
            let rm = doc.append_element(msg, T, "ResponseMetadata", Some(TYPES_NS));
            put(doc, rm, "clientId", client_id);
            put(doc, rm, "replyToClientId", reply_to_client_id);
            let rc = doc.append_element(msg, T, "ResponseContent", Some(TYPES_NS));
            match body {
                ResponseBody::Content(business) => write_content(doc, rc, business),
                ResponseBody::Rejects(rejects) => {
                    for (code, description) in rejects {
                        let r = doc.append_element(rc, T, "rejects", Some(TYPES_NS));
                        put(doc, r, "code", code);
                        put(doc, r, "description", &truncate(description, 4000));
                    }
                }
            }
        }
        Message::Status {
            client_id,
            original_client_id,
            details,
            timestamp,
            error,
        } => {
            let sm = doc.append_element(msg, T, "statusMetadata", Some(TYPES_NS));
            put(doc, sm, "clientId", client_id);
            put(doc, sm, "originalClientId", original_client_id);
            put(
                doc,
                msg,
                "status",
                if error.is_some() { "ERROR" } else { "OTHER" },
            );
            put_opt(doc, msg, "details", details.as_deref());
            if let Some(t) = timestamp {
                put(doc, msg, "timestamp", &clock::rfc3339(*t));
            }
            if let Some((kind, code, description)) = error {
                put(doc, msg, "type", kind);
                let f = doc.append_element(msg, T, "fault", Some(TYPES_NS));
                doc.append_text_element(f, F, "code", Some(FAULTS_NS), &truncate(code, 50));
                doc.append_text_element(f, F, "description", Some(FAULTS_NS), description);
            }
        }
    }
}

fn write_content(doc: &mut Document, parent: NodeId, business: &Document) {
    let c = doc.append_element(parent, T, "content", Some(TYPES_NS));
    let mpc = doc.append_element(c, T, "MessagePrimaryContent", Some(TYPES_NS));
    doc.append_subtree(mpc, business, business.root());
}

fn truncate(s: &str, max: usize) -> String {
    s.chars().take(max).collect()
}

/// The business XML mezhved writes into `content` for an answer the
/// adapter's schema would carry as `rejects` or an `ErrorMessage` (the
/// `content` form of [`crate::adapter::Rejects`]): `schemas/adapter/mezhved-adapter.xsd`.
pub struct OutcomeXml<'a> {
    pub verdict: &'a str,
    pub rejects: &'a [(String, String)],
    /// `(code, description)` of SMEV's refusal.
    pub fault: Option<(&'a str, &'a str)>,
    pub failure: Option<&'a str>,
    pub fallback_required: bool,
    pub request_id: &'a str,
}

impl OutcomeXml<'_> {
    pub fn document(&self) -> Document {
        let ns = Some(MEZHVED_NS);
        let mut doc = Document::new(M, "Outcome", ns);
        let root = doc.root();
        doc.append_text_element(root, M, "verdict", ns, self.verdict);
        for (code, description) in self.rejects {
            let r = doc.append_element(root, M, "reject", ns);
            doc.append_text_element(r, M, "code", ns, code);
            doc.append_text_element(r, M, "description", ns, description);
        }
        if let Some((code, description)) = self.fault {
            let f = doc.append_element(root, M, "fault", ns);
            doc.append_text_element(f, M, "code", ns, code);
            doc.append_text_element(f, M, "description", ns, description);
        }
        if let Some(reason) = self.failure {
            doc.append_text_element(root, M, "failure", ns, reason);
        }
        doc.append_text_element(
            root,
            M,
            "fallbackRequired",
            ns,
            if self.fallback_required {
                "true"
            } else {
                "false"
            },
        );
        doc.append_text_element(root, M, "requestId", ns, self.request_id);
        doc
    }
}

/// A SOAP 1.1 fault with the adapter's fault element in its detail.
pub fn fault_envelope(f: &Fault) -> Document {
    let (mut doc, body) = envelope();
    let fault = doc.append_element(body, Some("soap"), "Fault", Some(SOAP_NS));
    let code = match f.kind {
        FaultKind::System => "soap:Server",
        FaultKind::Validation => "soap:Client",
    };
    doc.append_text_element(fault, None, "faultcode", None, code);
    doc.append_text_element(fault, None, "faultstring", None, &f.description);
    let detail = doc.append_element(fault, None, "detail", None);
    let d = doc.append_element(detail, F, f.element_name(), Some(FAULTS_NS));
    doc.append_text_element(d, F, "code", Some(FAULTS_NS), f.code);
    doc.append_text_element(d, F, "description", Some(FAULTS_NS), &f.description);
    doc
}
