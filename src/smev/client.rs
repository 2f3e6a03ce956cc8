//! The consumer side: the envelopes mezhved sends and the answers it reads.

use time::OffsetDateTime;
use uuid::Uuid;

use super::fault::check_fault;
use super::{ID_CALLER, ID_REQUEST, SmevError, Version, XSI_NS, body_child, envelope};
use crate::clock;
use crate::xml::{Document, NodeId};
use crate::xmldsig::{self, ReferenceTransforms, SignatureError, SigningKey};

const T: Option<&str> = Some("smev");
const B: Option<&str> = Some("smevb");

/// A `SendRequestRequest`, with the elements that are to be signed.
#[derive(Debug)]
pub struct SendRequest {
    pub doc: Document,
    /// `SenderProvidedRequestData`: signed by the information system (ЭП-ОВ).
    pub sender_provided: NodeId,
    /// The business request under `MessagePrimaryContent`.
    pub business: NodeId,
    /// `PersonalSignature`, when a personal signature (ЭП-СП) goes in: it
    /// signs `business` and must be computed before the outer signature.
    pub personal_signature: Option<NodeId>,
    /// `CallerInformationSystemSignature`.
    pub caller_signature: NodeId,
}

/// A `SendRequestRequest` around `business`; elements follow the schema's
/// order, `TestMessage` last.
pub fn send_request(
    version: Version,
    message_id: &Uuid,
    business: &Document,
    test: bool,
    eol: Option<OffsetDateTime>,
    personal: bool,
) -> SendRequest {
    send_request_with(
        version,
        message_id,
        business,
        &EnvelopeOptions {
            test,
            eol,
            personal,
            ..EnvelopeOptions::default()
        },
    )
}

/// What `SenderProvidedRequestData` carries besides the business content.
#[derive(Debug, Clone, Default)]
pub struct EnvelopeOptions {
    pub test: bool,
    pub eol: Option<OffsetDateTime>,
    /// A personal signature (ЭП-СП) goes in.
    pub personal: bool,
    pub transaction_code: Option<String>,
    pub node_id: Option<String>,
    /// Attachments, prepared (`crate::attachment::send::prepare`): their
    /// headers go inside `SenderProvidedRequestData` (signed), the
    /// contents of the inline ones in `AttachmentContentList` after it
    /// (not signed: MTOM parts).
    pub attachments: Vec<crate::attachment::send::Outgoing>,
}

/// As [`send_request`], with every option.
pub fn send_request_with(
    version: Version,
    message_id: &Uuid,
    business: &Document,
    opts: &EnvelopeOptions,
) -> SendRequest {
    let (test, eol, personal) = (opts.test, opts.eol, opts.personal);
    let (tns, bns) = (Some(version.types_ns()), Some(version.basic_ns()));
    let (mut doc, body) = envelope();
    let req = doc.append_element(body, T, "SendRequestRequest", tns);
    let sprd = doc.append_element(req, T, "SenderProvidedRequestData", tns);
    doc.set_attr(sprd, "Id", ID_REQUEST);
    doc.append_text_element(
        sprd,
        T,
        "MessageID",
        tns,
        &message_id.hyphenated().to_string(),
    );
    if let Some(code) = &opts.transaction_code {
        doc.append_text_element(sprd, T, "TransactionCode", tns, code);
    }
    if let Some(node) = &opts.node_id {
        doc.append_text_element(sprd, T, "NodeID", tns, node);
    }
    if let Some(eol) = eol {
        doc.append_text_element(sprd, T, "EOL", tns, &clock::rfc3339(eol));
    }
    let mpc = doc.append_element(sprd, B, "MessagePrimaryContent", bns);
    let business_root = doc.append_subtree(mpc, business, business.root());
    let personal_signature =
        personal.then(|| doc.append_element(sprd, T, "PersonalSignature", tns));
    attachment_headers(&mut doc, sprd, bns, &opts.attachments);
    if test {
        doc.append_element(sprd, T, "TestMessage", tns);
    }
    attachment_contents(&mut doc, req, bns, &opts.attachments);
    let caller_signature = doc.append_element(req, T, "CallerInformationSystemSignature", tns);
    SendRequest {
        doc,
        sender_provided: sprd,
        business: business_root,
        personal_signature,
        caller_signature,
    }
}

/// `AttachmentHeaderList` (inline ones) and `RefAttachmentHeaderList`
/// (file store ones), in the request's order within each.
fn attachment_headers(
    doc: &mut Document,
    sprd: NodeId,
    bns: Option<&str>,
    list: &[crate::attachment::send::Outgoing],
) {
    use crate::attachment::send::Transfer;
    let inline: Vec<_> = list
        .iter()
        .filter_map(|a| match &a.transfer {
            Transfer::Mtom { content_id } => Some((a, content_id)),
            Transfer::FileStore { .. } => None,
        })
        .collect();
    if !inline.is_empty() {
        let l = doc.append_element(sprd, B, "AttachmentHeaderList", bns);
        for (a, id) in inline {
            let h = doc.append_element(l, B, "AttachmentHeader", bns);
            doc.append_text_element(h, B, "contentId", bns, id);
            doc.append_text_element(h, B, "MimeType", bns, &a.mime_type);
            if let Some(sig) = &a.signature {
                doc.append_text_element(h, B, "SignaturePKCS7", bns, sig);
            }
        }
    }
    let stored: Vec<_> = list
        .iter()
        .filter_map(|a| match &a.transfer {
            Transfer::FileStore { uuid } => Some((a, uuid)),
            Transfer::Mtom { .. } => None,
        })
        .collect();
    if !stored.is_empty() {
        let l = doc.append_element(sprd, B, "RefAttachmentHeaderList", bns);
        for (a, uuid) in stored {
            let h = doc.append_element(l, B, "RefAttachmentHeader", bns);
            doc.append_text_element(h, B, "uuid", bns, uuid);
            doc.append_text_element(h, B, "Hash", bns, &a.hash);
            doc.append_text_element(h, B, "MimeType", bns, &a.mime_type);
            if let Some(sig) = &a.signature {
                doc.append_text_element(h, B, "SignaturePKCS7", bns, sig);
            }
        }
    }
}

/// `AttachmentContentList`: each inline attachment's `Id` and its
/// content as an `xop:Include` of its MIME part.
fn attachment_contents(
    doc: &mut Document,
    req: NodeId,
    bns: Option<&str>,
    list: &[crate::attachment::send::Outgoing],
) {
    use crate::attachment::send::{Transfer, mime_content_id};
    let mut l = None;
    for a in list {
        let Transfer::Mtom { content_id } = &a.transfer else {
            continue;
        };
        let l = *l.get_or_insert_with(|| doc.append_element(req, B, "AttachmentContentList", bns));
        let c = doc.append_element(l, B, "AttachmentContent", bns);
        doc.append_text_element(c, B, "Id", bns, content_id);
        let content = doc.append_element(c, B, "Content", bns);
        let inc = doc.append_element(
            content,
            Some("xop"),
            "Include",
            Some(crate::attachment::mtom::XOP_NS),
        );
        doc.set_attr(inc, "href", &format!("cid:{}", mime_content_id(content_id)));
    }
}

impl SendRequest {
    /// Signs the envelope: the personal signature (ЭП-СП) over the business
    /// request first, with `personal` (or `key` when none is given), since
    /// it lies inside what the outer signature (ЭП-ОВ) covers; then
    /// `SenderProvidedRequestData` with `key`.
    pub fn sign(
        mut self,
        key: &SigningKey,
        personal: Option<&SigningKey>,
    ) -> Result<Document, SignatureError> {
        if let Some(container) = self.personal_signature {
            xmldsig::sign_element(
                &mut self.doc,
                self.business,
                container,
                personal.unwrap_or(key),
                ReferenceTransforms::Smev,
            )?;
        }
        xmldsig::sign_element(
            &mut self.doc,
            self.sender_provided,
            self.caller_signature,
            key,
            ReferenceTransforms::Smev,
        )?;
        Ok(self.doc)
    }
}

/// A `GetResponseRequest`; `selector` narrows it to one business type
/// (namespace, root element). Returns the document, the
/// `MessageTypeSelector` to sign and the signature container.
pub fn get_response_request(
    version: Version,
    timestamp: OffsetDateTime,
    selector: Option<(&str, &str)>,
) -> (Document, NodeId, NodeId) {
    let (tns, bns) = (Some(version.types_ns()), Some(version.basic_ns()));
    let (mut doc, body) = envelope();
    let req = doc.append_element(body, T, "GetResponseRequest", tns);
    let sel = doc.append_element(req, B, "MessageTypeSelector", bns);
    doc.set_attr(sel, "Id", ID_CALLER);
    if let Some((ns, root)) = selector {
        doc.append_text_element(sel, B, "NamespaceURI", bns, ns);
        doc.append_text_element(sel, B, "RootElementLocalName", bns, root);
    }
    doc.append_text_element(sel, B, "Timestamp", bns, &clock::rfc3339(timestamp));
    let container = doc.append_element(req, T, "CallerInformationSystemSignature", tns);
    (doc, sel, container)
}

/// An `AckRequest` for the message SMEV delivered as `message_id`
/// (`MessageMetadata/MessageId`); `accepted` is false when its signature
/// was refused.
pub fn ack_request(
    version: Version,
    message_id: &str,
    accepted: bool,
) -> (Document, NodeId, NodeId) {
    let (tns, bns) = (Some(version.types_ns()), Some(version.basic_ns()));
    let (mut doc, body) = envelope();
    let req = doc.append_element(body, T, "AckRequest", tns);
    let target = doc.append_text_element(req, B, "AckTargetMessage", bns, message_id);
    doc.set_attr(target, "Id", ID_CALLER);
    doc.set_attr(target, "accepted", if accepted { "true" } else { "false" });
    let container = doc.append_element(req, T, "CallerInformationSystemSignature", tns);
    (doc, target, container)
}

/// A `GetStatusRequest` (the signed `Timestamp` names the caller). Returns
/// the document, the `Timestamp` to sign and the signature container.
pub fn get_status_request(
    version: Version,
    timestamp: OffsetDateTime,
) -> (Document, NodeId, NodeId) {
    let (tns, bns) = (Some(version.types_ns()), Some(version.basic_ns()));
    let (mut doc, body) = envelope();
    let req = doc.append_element(body, T, "GetStatusRequest", tns);
    let ts = doc.append_text_element(req, B, "Timestamp", bns, &clock::rfc3339(timestamp));
    doc.set_attr(ts, "Id", ID_CALLER);
    let container = doc.append_element(req, T, "CallerInformationSystemSignature", tns);
    (doc, ts, container)
}

/// A `GetIncomingQueueStatisticsRequest`: how many messages SMEV holds for
/// the caller (named by the signed `Timestamp`). The operation exists in
/// message exchange 1.1 only, so it is always written as 1.1. Returns the
/// document, the `Timestamp` to sign and the signature container.
pub fn get_incoming_queue_statistics_request(
    timestamp: OffsetDateTime,
) -> (Document, NodeId, NodeId) {
    let v = Version::V1_1;
    let (tns, bns) = (Some(v.types_ns()), Some(v.basic_ns()));
    let (mut doc, body) = envelope();
    let req = doc.append_element(body, T, "GetIncomingQueueStatisticsRequest", tns);
    let ts = doc.append_text_element(req, B, "Timestamp", bns, &clock::rfc3339(timestamp));
    doc.set_attr(ts, "Id", ID_CALLER);
    let container = doc.append_element(req, T, "CallerInformationSystemSignature", tns);
    (doc, ts, container)
}

/// One queue of SMEV's answer to `GetIncomingQueueStatistics`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct QueueStatistics {
    pub queue_name: String,
    pub pending_messages: i64,
}

/// Reads a `GetIncomingQueueStatisticsResponse`.
pub fn parse_get_incoming_queue_statistics_response(
    doc: &Document,
) -> Result<Vec<QueueStatistics>, SmevError> {
    let el = body_child(doc)?;
    check_fault(doc, el)?;
    let v = version_of(doc, el)?;
    let tns = v.types_ns();
    if !doc
        .element(el)
        .is(tns, "GetIncomingQueueStatisticsResponse")
    {
        return Err(SmevError::shape(format!(
            "expected GetIncomingQueueStatisticsResponse, got {}",
            doc.element(el)
        )));
    }
    doc.children_named(el, tns, "QueueStatistics")
        .map(|q| {
            let e = doc.element(q);
            let pending = e.attr("pendingMessageNumber").unwrap_or("0");
            Ok(QueueStatistics {
                queue_name: e.attr("queueName").unwrap_or_default().to_owned(),
                pending_messages: pending.trim().parse().map_err(|_| {
                    SmevError::shape(format!(
                        "QueueStatistics/@pendingMessageNumber {pending:?} is not a number"
                    ))
                })?,
            })
        })
        .collect()
}

/// A status message from SMEV's status queue.
#[derive(Debug, Clone)]
pub struct IncomingStatus {
    /// `AsyncProcessingStatusData`, which SMEV signs.
    pub data: NodeId,
    pub smev_signature: Option<NodeId>,
    pub original_message_id: String,
    pub category: String,
    pub details: Option<String>,
}

/// Reads a `GetStatusResponse`; `None` when there was no status.
pub fn parse_get_status_response(doc: &Document) -> Result<Option<IncomingStatus>, SmevError> {
    let el = body_child(doc)?;
    check_fault(doc, el)?;
    let v = version_of(doc, el)?;
    let tns = v.types_ns();
    if !doc.element(el).is(tns, "GetStatusResponse") {
        return Err(SmevError::shape(format!(
            "expected GetStatusResponse, got {}",
            doc.element(el)
        )));
    }
    let Some(msg) = doc.child(el, tns, "SmevAsyncProcessingMessage") else {
        return Ok(None);
    };
    let data = doc
        .child(msg, tns, "AsyncProcessingStatusData")
        .ok_or_else(|| {
            SmevError::shape("SmevAsyncProcessingMessage has no AsyncProcessingStatusData")
        })?;
    let st = doc
        .child(data, tns, "AsyncProcessingStatus")
        .ok_or_else(|| {
            SmevError::shape("AsyncProcessingStatusData has no AsyncProcessingStatus")
        })?;
    Ok(Some(IncomingStatus {
        data,
        smev_signature: signature_in(doc, doc.child(msg, tns, "SMEVSignature")),
        original_message_id: doc
            .child_text(st, tns, "OriginalMessageId")
            .unwrap_or_default(),
        category: doc
            .child_text(st, tns, "StatusCategory")
            .unwrap_or_default(),
        details: doc.child_text(st, tns, "StatusDetails"),
    }))
}

/// SMEV took a request into its queue.
#[derive(Debug, Clone)]
pub struct Accepted {
    pub message_id: Option<String>,
    /// Start of the answer deadline (210-FZ art. 7.2 part 3).
    pub sending_timestamp: Option<OffsetDateTime>,
    pub status: Option<String>,
    /// `MessageMetadata`, signed by `signature` when SMEV signs it.
    pub metadata: NodeId,
    pub signature: Option<NodeId>,
}

fn version_of(doc: &Document, id: NodeId) -> Result<Version, SmevError> {
    doc.element(id)
        .ns
        .as_deref()
        .and_then(Version::of_namespace)
        .ok_or_else(|| {
            SmevError::shape(format!(
                "{} is not a SMEV message-exchange element",
                doc.element(id)
            ))
        })
}

fn signature_in(doc: &Document, container: Option<NodeId>) -> Option<NodeId> {
    container.and_then(|c| doc.child(c, crate::xmldsig::DS_NS, "Signature"))
}

/// Reads the answer to `SendRequest`.
pub fn parse_send_request_response(doc: &Document) -> Result<Accepted, SmevError> {
    let el = body_child(doc)?;
    check_fault(doc, el)?;
    let v = version_of(doc, el)?;
    let tns = v.types_ns();
    if !doc.element(el).is(tns, "SendRequestResponse") {
        return Err(SmevError::shape(format!(
            "expected SendRequestResponse, got {}",
            doc.element(el)
        )));
    }
    let metadata = doc
        .child(el, tns, "MessageMetadata")
        .ok_or_else(|| SmevError::shape("SendRequestResponse has no MessageMetadata"))?;
    Ok(Accepted {
        message_id: doc.child_text(metadata, tns, "MessageId"),
        sending_timestamp: doc
            .child_text(metadata, tns, "SendingTimestamp")
            .as_deref()
            .and_then(parse_timestamp),
        status: doc.child_text(metadata, tns, "Status"),
        metadata,
        signature: signature_in(doc, doc.child(el, tns, "SMEVSignature")),
    })
}

/// What the agency (or SMEV on its behalf) answered.
#[derive(Debug, Clone, PartialEq)]
pub enum ResponseContent {
    /// The business answer: the element under `MessagePrimaryContent`.
    Primary(NodeId),
    /// `RequestRejected`: code (`ACCESS_DENIED`, `NO_DATA`, …) and text.
    Rejected(Vec<(String, String)>),
    /// `RequestStatus`: an intermediate status from the provider.
    Status { code: String, description: String },
    /// `AsyncProcessingStatus`: SMEV's asynchronous verdict on the request.
    AsyncStatus {
        category: String,
        details: Option<String>,
        fault_type: Option<String>,
        fault_code: Option<String>,
        fault_description: Option<String>,
        /// The `ValidationError`s of an `InvalidContent` fault: what in the
        /// business data broke its schema.
        validation_errors: Vec<String>,
    },
}

/// The text of an asynchronous rejection: SMEV's description, then each
/// validation error it lists (what exactly broke the schema), so the
/// officer and the operator read what was wrong.
pub fn rejection_text(description: Option<&str>, validation_errors: &[String]) -> String {
    let head = description.unwrap_or_default().trim();
    match (head.is_empty(), validation_errors.is_empty()) {
        (_, true) => head.to_owned(),
        (true, false) => validation_errors.join("; "),
        (false, false) => format!("{head}: {}", validation_errors.join("; ")),
    }
}

/// A message from the response queue.
#[derive(Debug, Clone)]
pub struct IncomingResponse {
    pub version: Version,
    /// The `Response` element, which SMEV signs.
    pub response: NodeId,
    pub smev_signature: Option<NodeId>,
    pub original_message_id: Option<String>,
    /// `MessageMetadata/MessageId`: what the `Ack` names.
    pub message_id: Option<String>,
    pub sending_timestamp: Option<OffsetDateTime>,
    pub content: ResponseContent,
}

/// Reads a `GetResponseResponse`; `None` when the queue was empty.
pub fn parse_get_response_response(doc: &Document) -> Result<Option<IncomingResponse>, SmevError> {
    let el = body_child(doc)?;
    check_fault(doc, el)?;
    let v = version_of(doc, el)?;
    let (tns, bns) = (v.types_ns(), v.basic_ns());
    if !doc.element(el).is(tns, "GetResponseResponse") {
        return Err(SmevError::shape(format!(
            "expected GetResponseResponse, got {}",
            doc.element(el)
        )));
    }
    let Some(msg) = doc.child(el, tns, "ResponseMessage") else {
        return Ok(None);
    };
    let response = doc
        .child(msg, tns, "Response")
        .ok_or_else(|| SmevError::shape("ResponseMessage has no Response"))?;
    let sprd = doc
        .child(response, tns, "SenderProvidedResponseData")
        .ok_or_else(|| SmevError::shape("Response has no SenderProvidedResponseData"))?;
    let metadata = doc.child(response, tns, "MessageMetadata");
    let content = if let Some(mpc) = doc.child(sprd, bns, "MessagePrimaryContent") {
        let root = doc
            .child_elements(mpc)
            .next()
            .ok_or_else(|| SmevError::shape("MessagePrimaryContent is empty"))?;
        ResponseContent::Primary(root)
    } else if doc.child(sprd, tns, "RequestRejected").is_some() {
        ResponseContent::Rejected(
            doc.children_named(sprd, tns, "RequestRejected")
                .map(|r| {
                    (
                        doc.child_text(r, tns, "RejectionReasonCode")
                            .unwrap_or_default(),
                        doc.child_text(r, tns, "RejectionReasonDescription")
                            .unwrap_or_default(),
                    )
                })
                .collect(),
        )
    } else if let Some(st) = doc.child(sprd, tns, "RequestStatus") {
        ResponseContent::Status {
            code: doc.child_text(st, tns, "StatusCode").unwrap_or_default(),
            description: doc
                .child_text(st, tns, "StatusDescription")
                .unwrap_or_default(),
        }
    } else if let Some(st) = doc.child(sprd, tns, "AsyncProcessingStatus") {
        let fault = doc.child(st, tns, "SmevFault");
        ResponseContent::AsyncStatus {
            category: doc
                .child_text(st, tns, "StatusCategory")
                .unwrap_or_default(),
            details: doc.child_text(st, tns, "StatusDetails"),
            fault_type: fault.and_then(|f| {
                doc.element(f)
                    .attrs
                    .iter()
                    .find(|a| a.ns.as_deref() == Some(XSI_NS) && a.local == "type")
                    .map(|a| a.value.clone())
            }),
            fault_code: fault.and_then(|f| doc.child_text(f, bns, "Code")),
            fault_description: fault.and_then(|f| doc.child_text(f, bns, "Description")),
            validation_errors: fault
                .map(|f| {
                    doc.children_named(f, v.faults_ns(), "ValidationError")
                        .map(|e| doc.text(e).trim().to_owned())
                        .filter(|t| !t.is_empty())
                        .collect()
                })
                .unwrap_or_default(),
        }
    } else {
        return Err(SmevError::shape(
            "SenderProvidedResponseData carries no known content",
        ));
    };
    Ok(Some(IncomingResponse {
        version: v,
        response,
        smev_signature: signature_in(doc, doc.child(msg, tns, "SMEVSignature")),
        original_message_id: doc.child_text(response, tns, "OriginalMessageId"),
        message_id: metadata.and_then(|m| doc.child_text(m, tns, "MessageId")),
        sending_timestamp: metadata
            .and_then(|m| doc.child_text(m, tns, "SendingTimestamp"))
            .as_deref()
            .and_then(parse_timestamp),
        content,
    }))
}

/// Reads the answer to `Ack`.
pub fn parse_ack_response(doc: &Document) -> Result<(), SmevError> {
    let el = body_child(doc)?;
    check_fault(doc, el)?;
    let v = version_of(doc, el)?;
    if !doc.element(el).is(v.types_ns(), "AckResponse") {
        return Err(SmevError::shape(format!(
            "expected AckResponse, got {}",
            doc.element(el)
        )));
    }
    Ok(())
}

/// `xs:dateTime` as SMEV writes it; a time without an offset is Moscow time.
pub(crate) fn parse_timestamp(s: &str) -> Option<OffsetDateTime> {
    if let Some(t) = clock::parse_rfc3339(s) {
        return Some(t);
    }
    clock::parse_rfc3339(&format!("{s}+03:00"))
}
