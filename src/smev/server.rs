//! The SMEV side, for the emulator: reading what a consumer sends and
//! writing what SMEV answers.

use time::OffsetDateTime;

use super::client::parse_timestamp;
use super::fault::FaultKind;
use super::{
    ID_METADATA, ID_PROVIDER, ID_SMEV, SOAP_NS, SmevError, Version, XSI_NS, body_child, envelope,
};
use crate::clock;
use crate::xml::{Document, NodeId};
use crate::xmldsig::DS_NS;

const T: Option<&str> = Some("ns2");
const B: Option<&str> = Some("ns3");
const F: Option<&str> = Some("ns4");

fn request_version(doc: &Document, el: NodeId, expected: &str) -> Result<Version, SmevError> {
    let e = doc.element(el);
    let v =
        e.ns.as_deref()
            .and_then(Version::of_namespace)
            .filter(|v| e.is(v.types_ns(), expected))
            .ok_or_else(|| SmevError::shape(format!("expected {expected}, got {e}")))?;
    Ok(v)
}

fn signature_in(doc: &Document, parent: NodeId, tns: &str) -> Option<NodeId> {
    doc.child(parent, tns, "CallerInformationSystemSignature")
        .and_then(|c| doc.child(c, DS_NS, "Signature"))
}

/// A `SendRequestRequest` as received.
#[derive(Debug, Clone)]
pub struct IncomingSendRequest {
    pub version: Version,
    pub sender_provided: NodeId,
    pub signature: Option<NodeId>,
    pub message_id: String,
    pub eol: Option<OffsetDateTime>,
    /// `EOL` was present but not a date-time.
    pub eol_invalid: bool,
    pub test: bool,
    /// The business request (under `MessagePrimaryContent`).
    pub primary: NodeId,
    /// The personal signature (ЭП-СП) over `primary`, if any.
    pub personal_signature: Option<NodeId>,
}

pub fn parse_send_request(doc: &Document) -> Result<IncomingSendRequest, SmevError> {
    let el = body_child(doc)?;
    let v = request_version(doc, el, "SendRequestRequest")?;
    let (tns, bns) = (v.types_ns(), v.basic_ns());
    let sprd = doc
        .child(el, tns, "SenderProvidedRequestData")
        .ok_or_else(|| SmevError::shape("SendRequestRequest has no SenderProvidedRequestData"))?;
    let message_id = doc
        .child_text(sprd, tns, "MessageID")
        .ok_or_else(|| SmevError::shape("SenderProvidedRequestData has no MessageID"))?;
    let eol_text = doc.child_text(sprd, tns, "EOL");
    let eol = eol_text.as_deref().and_then(parse_timestamp);
    let mpc = doc
        .child(sprd, bns, "MessagePrimaryContent")
        .ok_or_else(|| {
            SmevError::shape("SenderProvidedRequestData has no MessagePrimaryContent")
        })?;
    let primary = doc
        .child_elements(mpc)
        .next()
        .ok_or_else(|| SmevError::shape("MessagePrimaryContent is empty"))?;
    Ok(IncomingSendRequest {
        version: v,
        sender_provided: sprd,
        signature: signature_in(doc, el, tns),
        message_id,
        eol_invalid: eol_text.is_some() && eol.is_none(),
        eol,
        test: doc.child(sprd, tns, "TestMessage").is_some(),
        primary,
        personal_signature: doc
            .child(sprd, tns, "PersonalSignature")
            .and_then(|c| doc.child(c, DS_NS, "Signature")),
    })
}

/// A `GetResponseRequest` as received.
#[derive(Debug, Clone)]
pub struct IncomingGetResponse {
    pub version: Version,
    pub selector: NodeId,
    pub signature: Option<NodeId>,
    /// `(namespace, root element)` when the selector narrows the type.
    pub filter: Option<(String, String)>,
}

pub fn parse_get_response_request(doc: &Document) -> Result<IncomingGetResponse, SmevError> {
    let el = body_child(doc)?;
    let v = request_version(doc, el, "GetResponseRequest")?;
    let bns = v.basic_ns();
    let selector = doc
        .child(el, bns, "MessageTypeSelector")
        .ok_or_else(|| SmevError::shape("GetResponseRequest has no MessageTypeSelector"))?;
    let filter = match (
        doc.child_text(selector, bns, "NamespaceURI"),
        doc.child_text(selector, bns, "RootElementLocalName"),
    ) {
        (Some(ns), Some(root)) => Some((ns, root)),
        _ => None,
    };
    Ok(IncomingGetResponse {
        version: v,
        selector,
        signature: signature_in(doc, el, v.types_ns()),
        filter,
    })
}

/// An `AckRequest` as received.
#[derive(Debug, Clone)]
pub struct IncomingAck {
    pub version: Version,
    pub target: NodeId,
    pub signature: Option<NodeId>,
    pub message_id: String,
    pub accepted: bool,
}

pub fn parse_ack_request(doc: &Document) -> Result<IncomingAck, SmevError> {
    let el = body_child(doc)?;
    let v = request_version(doc, el, "AckRequest")?;
    let target = doc
        .child(el, v.basic_ns(), "AckTargetMessage")
        .ok_or_else(|| SmevError::shape("AckRequest has no AckTargetMessage"))?;
    let accepted = match doc.element(target).attr("accepted") {
        Some("true" | "1") => true,
        Some("false" | "0") => false,
        other => {
            return Err(SmevError::shape(format!(
                "AckTargetMessage accepted={other:?} is not a boolean"
            )));
        }
    };
    Ok(IncomingAck {
        version: v,
        target,
        signature: signature_in(doc, el, v.types_ns()),
        message_id: doc.text(target).trim().to_owned(),
        accepted,
    })
}

/// A `GetStatusRequest` as received.
#[derive(Debug, Clone)]
pub struct IncomingGetStatus {
    pub version: Version,
    pub timestamp: NodeId,
    pub signature: Option<NodeId>,
}

pub fn parse_get_status_request(doc: &Document) -> Result<IncomingGetStatus, SmevError> {
    let el = body_child(doc)?;
    let v = request_version(doc, el, "GetStatusRequest")?;
    let timestamp = doc
        .child(el, v.basic_ns(), "Timestamp")
        .ok_or_else(|| SmevError::shape("GetStatusRequest has no Timestamp"))?;
    Ok(IncomingGetStatus {
        version: v,
        timestamp,
        signature: signature_in(doc, el, v.types_ns()),
    })
}

/// A `GetIncomingQueueStatisticsRequest` as received (1.1).
pub fn parse_get_incoming_queue_statistics_request(
    doc: &Document,
) -> Result<IncomingGetStatus, SmevError> {
    let el = body_child(doc)?;
    let v = request_version(doc, el, "GetIncomingQueueStatisticsRequest")?;
    let timestamp = doc
        .child(el, v.basic_ns(), "Timestamp")
        .ok_or_else(|| SmevError::shape("GetIncomingQueueStatisticsRequest has no Timestamp"))?;
    Ok(IncomingGetStatus {
        version: v,
        timestamp,
        signature: signature_in(doc, el, v.types_ns()),
    })
}

/// `GetIncomingQueueStatisticsResponse`: one `QueueStatistics` per queue.
pub fn get_incoming_queue_statistics_response(v: Version, queues: &[(String, i64)]) -> Document {
    let tns = Some(v.types_ns());
    let (mut doc, body) = envelope();
    let resp = doc.append_element(body, T, "GetIncomingQueueStatisticsResponse", tns);
    for (name, pending) in queues {
        let q = doc.append_element(resp, T, "QueueStatistics", tns);
        doc.set_attr(q, "queueName", name);
        doc.set_attr(q, "pendingMessageNumber", &pending.to_string());
    }
    doc
}

/// `GetStatusResponse` with one status, or empty. Returns the document and,
/// with a status, the `AsyncProcessingStatusData` to sign and the
/// `SMEVSignature` container.
pub fn get_status_response(
    v: Version,
    status: Option<(&str, &str, Option<&str>)>,
) -> (Document, Option<(NodeId, NodeId)>) {
    let tns = Some(v.types_ns());
    let (mut doc, body) = envelope();
    let resp = doc.append_element(body, T, "GetStatusResponse", tns);
    let Some((original, category, details)) = status else {
        return (doc, None);
    };
    let msg = doc.append_element(resp, T, "SmevAsyncProcessingMessage", tns);
    let data = doc.append_element(msg, T, "AsyncProcessingStatusData", tns);
    doc.set_attr(data, "Id", ID_SMEV);
    let st = doc.append_element(data, T, "AsyncProcessingStatus", tns);
    doc.append_text_element(st, T, "OriginalMessageId", tns, original);
    doc.append_text_element(st, T, "StatusCategory", tns, category);
    if let Some(d) = details {
        doc.append_text_element(st, T, "StatusDetails", tns, d);
    }
    let sig = doc.append_element(msg, T, "SMEVSignature", tns);
    (doc, Some((data, sig)))
}

/// `MessageMetadata` as SMEV fills it.
#[derive(Debug, Clone)]
pub struct Metadata {
    pub message_id: String,
    /// `REQUEST` or `RESPONSE`.
    pub message_type: &'static str,
    pub sender: (String, String),
    pub recipient: Option<(String, String)>,
    pub sending_timestamp: OffsetDateTime,
    pub delivery_timestamp: Option<OffsetDateTime>,
    pub status: Option<&'static str>,
}

fn write_metadata(doc: &mut Document, parent: NodeId, v: Version, m: &Metadata) -> NodeId {
    let tns = Some(v.types_ns());
    let md = doc.append_element(parent, T, "MessageMetadata", tns);
    doc.append_text_element(md, T, "MessageId", tns, &m.message_id);
    doc.append_text_element(md, T, "MessageType", tns, m.message_type);
    let s = doc.append_element(md, T, "Sender", tns);
    doc.append_text_element(s, T, "Mnemonic", tns, &m.sender.0);
    doc.append_text_element(s, T, "HumanReadableName", tns, &m.sender.1);
    doc.append_text_element(
        md,
        T,
        "SendingTimestamp",
        tns,
        &clock::rfc3339(m.sending_timestamp),
    );
    if v == Version::V1_1 {
        doc.append_text_element(md, T, "DestinationName", tns, "unknown");
    }
    if let Some((mn, name)) = &m.recipient {
        let r = doc.append_element(md, T, "Recipient", tns);
        doc.append_text_element(r, T, "Mnemonic", tns, mn);
        doc.append_text_element(r, T, "HumanReadableName", tns, name);
    }
    if v == Version::V1_1 {
        let sd = doc.append_element(md, T, "SupplementaryData", tns);
        doc.append_text_element(sd, T, "InteractionType", tns, "NotDetected");
    }
    if let Some(d) = m.delivery_timestamp {
        doc.append_text_element(md, T, "DeliveryTimestamp", tns, &clock::rfc3339(d));
    }
    if let Some(st) = m.status {
        // 1.1 lists fewer statuses; map the one it lacks.
        let st = match (v, st) {
            (Version::V1_1, "messageIsDelivered") => "responseIsDelivered",
            _ => st,
        };
        doc.append_text_element(md, T, "Status", tns, st);
    }
    md
}

/// `SendRequestResponse`: returns the document, the `MessageMetadata` to
/// sign and the `SMEVSignature` container.
pub fn send_request_response(v: Version, m: &Metadata) -> (Document, NodeId, NodeId) {
    let tns = Some(v.types_ns());
    let (mut doc, body) = envelope();
    let resp = doc.append_element(body, T, "SendRequestResponse", tns);
    let md = write_metadata(&mut doc, resp, v, m);
    doc.set_attr(md, "Id", ID_METADATA);
    let sig = doc.append_element(resp, T, "SMEVSignature", tns);
    (doc, md, sig)
}

/// An empty `GetResponseResponse`: the queue has nothing.
pub fn get_response_empty(v: Version) -> Document {
    let (mut doc, body) = envelope();
    doc.append_element(body, T, "GetResponseResponse", Some(v.types_ns()));
    doc
}

/// What the provider answered, for a `Response`.
#[derive(Debug, Clone)]
pub enum ResponseBody {
    /// A business answer document.
    Primary(Document),
    Rejected {
        code: String,
        text: String,
    },
    AsyncRejected {
        details: String,
        fault_code: String,
        errors: Vec<String>,
    },
}

/// `GetResponseResponse` with one message. Returns the document, the
/// `Response` to sign and the `SMEVSignature` container.
pub fn get_response_response(
    v: Version,
    original_message_id: &str,
    reply_to: &str,
    response_message_id: &str,
    body: &ResponseBody,
    metadata: &Metadata,
) -> (Document, NodeId, NodeId) {
    let (tns, bns, fns) = (Some(v.types_ns()), Some(v.basic_ns()), Some(v.faults_ns()));
    let (mut doc, soap_body) = envelope();
    let rr = doc.append_element(soap_body, T, "GetResponseResponse", tns);
    let msg = doc.append_element(rr, T, "ResponseMessage", tns);
    let resp = doc.append_element(msg, T, "Response", tns);
    doc.set_attr(resp, "Id", ID_SMEV);
    doc.append_text_element(resp, T, "OriginalMessageId", tns, original_message_id);
    let sprd = doc.append_element(resp, T, "SenderProvidedResponseData", tns);
    doc.set_attr(sprd, "Id", ID_PROVIDER);
    doc.append_text_element(sprd, T, "MessageID", tns, response_message_id);
    doc.append_text_element(sprd, T, "To", tns, reply_to);
    match body {
        ResponseBody::Primary(business) => {
            let mpc = doc.append_element(sprd, B, "MessagePrimaryContent", bns);
            doc.append_subtree(mpc, business, business.root());
        }
        ResponseBody::Rejected { code, text } => {
            let r = doc.append_element(sprd, T, "RequestRejected", tns);
            doc.append_text_element(r, T, "RejectionReasonCode", tns, code);
            doc.append_text_element(r, T, "RejectionReasonDescription", tns, text);
        }
        ResponseBody::AsyncRejected {
            details,
            fault_code,
            errors,
        } => {
            let st = doc.append_element(sprd, T, "AsyncProcessingStatus", tns);
            doc.append_text_element(st, T, "OriginalMessageId", tns, original_message_id);
            doc.append_text_element(st, T, "StatusCategory", tns, "requestIsRejectedBySmev");
            doc.append_text_element(st, T, "StatusDetails", tns, details);
            let f = doc.append_element(st, T, "SmevFault", tns);
            doc.set_attr_ns(f, "xsi", "type", XSI_NS, "ns4:InvalidContent");
            // The QName value above uses the prefix ns4: declare it here.
            if doc.lookup_namespace(f, F) != fns {
                doc.element_mut(f).ns_decls.push(crate::xml::NsDecl {
                    prefix: F.map(str::to_owned),
                    uri: v.faults_ns().to_owned(),
                });
            }
            doc.append_text_element(f, B, "Code", bns, fault_code);
            doc.append_text_element(f, B, "Description", bns, details);
            for e in errors {
                let ve = doc.append_text_element(f, F, "ValidationError", fns, e);
                doc.set_attr(ve, "errorPosition", "-1");
            }
        }
    }
    write_metadata(&mut doc, resp, v, metadata);
    let sig = doc.append_element(msg, T, "SMEVSignature", tns);
    (doc, resp, sig)
}

/// `AckResponse`.
pub fn ack_response(v: Version) -> Document {
    let (mut doc, body) = envelope();
    doc.append_element(body, T, "AckResponse", Some(v.types_ns()));
    doc
}

/// A SOAP fault with a SMEV fault element in its detail; `errors` become
/// the `ValidationError`s of an `InvalidContent`.
pub fn fault_envelope(v: Version, kind: &FaultKind, text: &str, errors: &[String]) -> Document {
    let (mut doc, body) = envelope();
    let (fns, bns) = (Some(v.faults_ns()), Some(v.basic_ns()));
    let fault = doc.append_element(body, Some("soap"), "Fault", Some(SOAP_NS));
    let code = if kind.is_client_fault() {
        "soap:Client"
    } else {
        "soap:Server"
    };
    doc.append_text_element(fault, None, "faultcode", None, code);
    doc.append_text_element(fault, None, "faultstring", None, text);
    let detail = doc.append_element(fault, None, "detail", None);
    let d = doc.append_element(detail, F, kind.element_name(), fns);
    match kind {
        FaultKind::SignatureVerificationFault => {
            doc.append_text_element(d, B, "Code", bns, "SIGNATURE");
            doc.append_text_element(d, B, "Description", bns, text);
            doc.append_text_element(
                d,
                F,
                "SignatureVerificationFault",
                fns,
                "SignatureIsInvalid",
            );
        }
        FaultKind::InvalidContent => {
            doc.append_text_element(d, B, "Code", bns, "028122");
            doc.append_text_element(d, B, "Description", bns, text);
            let one = [text.to_owned()];
            for e in if errors.is_empty() { &one[..] } else { errors } {
                let ve = doc.append_text_element(d, F, "ValidationError", fns, e);
                doc.set_attr(ve, "errorPosition", "-1");
            }
        }
        FaultKind::BusinessDataTypeIsNotSupported => {
            doc.append_text_element(d, B, "Description", bns, text);
            doc.append_text_element(d, F, "RootElementLocalName", fns, "unknown");
            doc.append_text_element(d, F, "RootElementNamespaceURI", fns, "unknown");
        }
        FaultKind::DestinationOverflow => {
            doc.append_text_element(d, B, "Description", bns, text);
            doc.append_text_element(d, F, "MessageBrokerAddress", fns, "emulator");
            doc.append_text_element(d, F, "DestinationName", fns, "emulator");
        }
        _ => {}
    }
    doc
}
