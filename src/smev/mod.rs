//! The SMEV 3 message exchange: SOAP envelopes for both sides (mezhved as a
//! consumer, the emulator as SMEV), reading answers and faults. Types
//! versions 1.1, 1.2 and 1.3 differ only in their namespaces for everything
//! mezhved uses, so the version is data.

mod client;
mod fault;
mod server;
pub mod signatures;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::xml::{Document, NodeId, XmlError};

pub use client::{
    Accepted, EnvelopeOptions, IncomingResponse, IncomingStatus, QueueStatistics, ResponseContent,
    SendRequest, ack_request, get_incoming_queue_statistics_request, get_response_request,
    get_status_request, parse_ack_response, parse_get_incoming_queue_statistics_response,
    parse_get_response_response, parse_get_status_response, parse_send_request_response,
    rejection_text, send_request, send_request_with,
};
pub use fault::{FaultClass, FaultKind, SoapFault};
pub use server::{
    IncomingAck, IncomingGetResponse, IncomingGetStatus, IncomingSendRequest, Metadata,
    ResponseBody, ack_response, fault_envelope, get_incoming_queue_statistics_response,
    get_response_empty, get_response_response, get_status_response, parse_ack_request,
    parse_get_incoming_queue_statistics_request, parse_get_response_request,
    parse_get_status_request, parse_send_request, send_request_response,
};

pub const SOAP_NS: &str = "http://schemas.xmlsoap.org/soap/envelope/";
pub const XSI_NS: &str = "http://www.w3.org/2001/XMLSchema-instance";

/// `Id` values of the signed elements, as SMEV participants write them.
pub const ID_REQUEST: &str = "SIGNED_BY_CONSUMER";
pub const ID_CALLER: &str = "SIGNED_BY_CALLER";
pub const ID_SMEV: &str = "SIGNED_BY_SMEV";
pub const ID_PROVIDER: &str = "SIGNED_BY_PROVIDER";
pub const ID_METADATA: &str = "SIGNED_METADATA";

/// The message-exchange types version.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Version {
    #[serde(rename = "1.1")]
    V1_1,
    #[serde(rename = "1.2")]
    V1_2,
    #[serde(rename = "1.3")]
    V1_3,
}

impl Version {
    pub const ALL: [Version; 3] = [Version::V1_1, Version::V1_2, Version::V1_3];

    pub fn as_str(self) -> &'static str {
        match self {
            Version::V1_1 => "1.1",
            Version::V1_2 => "1.2",
            Version::V1_3 => "1.3",
        }
    }

    pub fn parse(s: &str) -> Option<Version> {
        Version::ALL.into_iter().find(|v| v.as_str() == s)
    }

    pub fn types_ns(self) -> &'static str {
        match self {
            Version::V1_1 => "urn://x-artefacts-smev-gov-ru/services/message-exchange/types/1.1",
            Version::V1_2 => "urn://x-artefacts-smev-gov-ru/services/message-exchange/types/1.2",
            Version::V1_3 => "urn://x-artefacts-smev-gov-ru/services/message-exchange/types/1.3",
        }
    }

    pub fn basic_ns(self) -> &'static str {
        match self {
            Version::V1_1 => {
                "urn://x-artefacts-smev-gov-ru/services/message-exchange/types/basic/1.1"
            }
            Version::V1_2 => {
                "urn://x-artefacts-smev-gov-ru/services/message-exchange/types/basic/1.2"
            }
            Version::V1_3 => {
                "urn://x-artefacts-smev-gov-ru/services/message-exchange/types/basic/1.3"
            }
        }
    }

    pub fn faults_ns(self) -> &'static str {
        match self {
            Version::V1_1 => {
                "urn://x-artefacts-smev-gov-ru/services/message-exchange/types/faults/1.1"
            }
            Version::V1_2 => {
                "urn://x-artefacts-smev-gov-ru/services/message-exchange/types/faults/1.2"
            }
            Version::V1_3 => {
                "urn://x-artefacts-smev-gov-ru/services/message-exchange/types/faults/1.3"
            }
        }
    }

    /// The version whose types, basic or faults namespace this is.
    pub fn of_namespace(ns: &str) -> Option<Version> {
        Version::ALL
            .into_iter()
            .find(|v| v.types_ns() == ns || v.basic_ns() == ns || v.faults_ns() == ns)
    }
}

impl std::fmt::Display for Version {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// SOAPAction of each operation, as SMEV's WSDL binds them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Operation {
    SendRequest,
    GetResponse,
    Ack,
    GetStatus,
    /// Message exchange 1.1 only.
    GetIncomingQueueStatistics,
}

impl Operation {
    pub fn as_str(self) -> &'static str {
        match self {
            Operation::SendRequest => "SendRequest",
            Operation::GetResponse => "GetResponse",
            Operation::Ack => "Ack",
            Operation::GetStatus => "GetStatus",
            Operation::GetIncomingQueueStatistics => "GetIncomingQueueStatistics",
        }
    }

    pub fn soap_action(self) -> &'static str {
        match self {
            Operation::SendRequest => "urn:SendRequest",
            Operation::GetResponse => "urn:GetResponse",
            Operation::Ack => "urn:Ack",
            Operation::GetStatus => "urn:GetStatus",
            Operation::GetIncomingQueueStatistics => "urn:GetIncomingQueueStatistics",
        }
    }
}

/// A message that went wrong at the SMEV layer.
#[derive(Debug, thiserror::Error)]
pub enum SmevError {
    #[error("the SMEV answer is not acceptable XML: {0}")]
    Xml(#[from] XmlError),
    #[error("SMEV answered with a fault: {0}")]
    Fault(SoapFault),
    #[error("the SMEV answer does not have the expected shape: {0}")]
    Shape(String),
}

impl SmevError {
    pub(crate) fn shape(m: impl Into<String>) -> Self {
        SmevError::Shape(m.into())
    }
}

/// A new message id: UUID version 1 (time-based), lower case, as SMEV
/// requires. The node part is random per process.
pub fn new_message_id() -> Uuid {
    static NODE: std::sync::OnceLock<[u8; 6]> = std::sync::OnceLock::new();
    let node = NODE.get_or_init(|| {
        let mut n: [u8; 6] = rand_bytes();
        // A random node id sets the multicast bit (RFC 4122 §4.5).
        n[0] |= 0x01;
        n
    });
    Uuid::now_v1(node)
}

fn rand_bytes<const N: usize>() -> [u8; N] {
    let mut b = [0u8; N];
    for x in b.iter_mut() {
        *x = fastrand::u8(..);
    }
    b
}

/// The moment encoded in a version-1 UUID, if it is one.
pub fn message_id_time(id: &Uuid) -> Option<OffsetDateTime> {
    if id.get_version_num() != 1 {
        return None;
    }
    let (secs, nanos) = id.get_timestamp()?.to_unix();
    OffsetDateTime::from_unix_timestamp(secs as i64)
        .ok()
        .map(|t| t + time::Duration::nanoseconds(i64::from(nanos)))
}

/// The SOAP body's single child element.
pub fn body_child(doc: &Document) -> Result<NodeId, SmevError> {
    let root = doc.root();
    if !doc.element(root).is(SOAP_NS, "Envelope") {
        return Err(SmevError::shape(format!(
            "expected a SOAP 1.1 Envelope, got {}",
            doc.element(root)
        )));
    }
    let body = doc
        .child(root, SOAP_NS, "Body")
        .ok_or_else(|| SmevError::shape("the SOAP envelope has no Body"))?;
    let mut children = doc.child_elements(body);
    let first = children
        .next()
        .ok_or_else(|| SmevError::shape("the SOAP Body is empty"))?;
    if children.next().is_some() {
        return Err(SmevError::shape("the SOAP Body has more than one element"));
    }
    Ok(first)
}

/// A SOAP 1.1 envelope with an empty Body; returns the document and the Body.
pub(crate) fn envelope() -> (Document, NodeId) {
    let mut doc = Document::new(Some("soap"), "Envelope", Some(SOAP_NS));
    let body = doc.append_element(doc.root(), Some("soap"), "Body", Some(SOAP_NS));
    (doc, body)
}

#[cfg(test)]
mod tests;
