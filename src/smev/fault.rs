//! SOAP faults of the message exchange and what a gateway does about each.

use serde::{Deserialize, Serialize};

use super::{SOAP_NS, SmevError, Version};
use crate::xml::{Document, NodeId};

/// The fault elements of the SMEV faults schema (`…/types/faults/1.x`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum FaultKind {
    BusinessDataTypeIsNotSupported,
    InvalidContent,
    UnknownMessageType,
    TransactionCodeInvalid,
    MessageIsAlreadySent,
    InvalidMessageIdFormat,
    StaleMessageId,
    AttachmentContentMiscoordination,
    AttachmentSizeLimitExceeded,
    QuoteLimitExceeded,
    AccessDenied,
    PersonalAccessDenied,
    SignatureVerificationFault,
    SMEVFailure,
    IncorrectResponseContentType,
    RecipientIsNotFound,
    SenderIsNotRegistered,
    RequestIsNotFound,
    TargetMessageIsNotFound,
    DestinationOverflow,
    EndOfLifeReached,
    /// A fault without a known detail element (HTTP-level or foreign).
    Other(String),
}

/// What to do after a fault.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FaultClass {
    /// Try again later (the node or the destination is busy or failing).
    Retry,
    /// The message was already accepted: treat as sent.
    AlreadySent,
    /// Try again with a new `MessageID`.
    NewMessageId,
    /// The request's `EOL` passed: sign it again with a later one (same
    /// `MessageID`) and try again.
    NewEol,
    /// Retrying cannot help: the request is failed and needs a person.
    Permanent,
}

const NAMES: [(&str, FaultKind); 21] = [
    (
        "BusinessDataTypeIsNotSupported",
        FaultKind::BusinessDataTypeIsNotSupported,
    ),
    ("InvalidContent", FaultKind::InvalidContent),
    ("UnknownMessageType", FaultKind::UnknownMessageType),
    ("TransactionCodeInvalid", FaultKind::TransactionCodeInvalid),
    ("MessageIsAlreadySent", FaultKind::MessageIsAlreadySent),
    ("InvalidMessageIdFormat", FaultKind::InvalidMessageIdFormat),
    ("StaleMessageId", FaultKind::StaleMessageId),
    (
        "AttachmentContentMiscoordination",
        FaultKind::AttachmentContentMiscoordination,
    ),
    (
        "AttachmentSizeLimitExceeded",
        FaultKind::AttachmentSizeLimitExceeded,
    ),
    ("QuoteLimitExceeded", FaultKind::QuoteLimitExceeded),
    ("AccessDenied", FaultKind::AccessDenied),
    ("PersonalAccessDenied", FaultKind::PersonalAccessDenied),
    (
        "SignatureVerificationFault",
        FaultKind::SignatureVerificationFault,
    ),
    ("SMEVFailure", FaultKind::SMEVFailure),
    (
        "IncorrectResponseContentType",
        FaultKind::IncorrectResponseContentType,
    ),
    ("RecipientIsNotFound", FaultKind::RecipientIsNotFound),
    ("SenderIsNotRegistered", FaultKind::SenderIsNotRegistered),
    ("RequestIsNotFound", FaultKind::RequestIsNotFound),
    (
        "TargetMessageIsNotFound",
        FaultKind::TargetMessageIsNotFound,
    ),
    ("DestinationOverflow", FaultKind::DestinationOverflow),
    ("EndOfLifeReached", FaultKind::EndOfLifeReached),
];

impl FaultKind {
    pub fn element_name(&self) -> &str {
        match self {
            FaultKind::Other(s) => s,
            known => NAMES
                .iter()
                .find(|(_, k)| k == known)
                .map(|(n, _)| *n)
                .expect("every named kind is in NAMES"),
        }
    }

    pub fn from_element_name(name: &str) -> FaultKind {
        NAMES
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, k)| k.clone())
            .unwrap_or_else(|| FaultKind::Other(name.to_owned()))
    }

    pub fn all() -> impl Iterator<Item = FaultKind> {
        NAMES.iter().map(|(_, k)| k.clone())
    }

    pub fn class(&self) -> FaultClass {
        match self {
            FaultKind::SMEVFailure | FaultKind::DestinationOverflow => FaultClass::Retry,
            FaultKind::EndOfLifeReached => FaultClass::NewEol,
            FaultKind::MessageIsAlreadySent => FaultClass::AlreadySent,
            FaultKind::StaleMessageId => FaultClass::NewMessageId,
            // An unknown fault is not retried blindly: a person looks at it.
            _ => FaultClass::Permanent,
        }
    }

    /// SOAP `faultcode`: the caller's fault or the server's.
    pub fn is_client_fault(&self) -> bool {
        !matches!(
            self,
            FaultKind::SMEVFailure | FaultKind::DestinationOverflow
        )
    }
}

impl std::fmt::Display for FaultKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.element_name())
    }
}

/// A SOAP fault as SMEV returns it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SoapFault {
    pub kind: FaultKind,
    pub faultcode: String,
    pub faultstring: String,
    /// `Code` / `Description` of an `SmevFault`-typed detail, when present.
    pub code: Option<String>,
    pub description: Option<String>,
}

impl SoapFault {
    /// What to do about this fault: by its SMEV detail element; a fault
    /// without one (a proxy, an application server, a foreign detail) by its
    /// SOAP `faultcode`: `Server` is the node failing, retried as
    /// `SMEVFailure` is, `Client` (or anything else) is final.
    pub fn class(&self) -> FaultClass {
        match &self.kind {
            FaultKind::Other(_) if faultcode_is_server(&self.faultcode) => FaultClass::Retry,
            kind => kind.class(),
        }
    }
}

/// `soap:Server`, `Server`, `SOAP-ENV:Server.Timeout`…: the QName's local
/// part is `Server` or a dotted refinement of it (SOAP 1.1 §4.4.1).
fn faultcode_is_server(faultcode: &str) -> bool {
    let local = faultcode
        .trim()
        .rsplit_once(':')
        .map_or(faultcode.trim(), |(_, l)| l);
    local == "Server" || local.starts_with("Server.")
}

impl std::fmt::Display for SoapFault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({})", self.kind, self.faultstring)?;
        if let Some(d) = &self.description {
            write!(f, ": {d}")?;
        }
        Ok(())
    }
}

/// Reads a `soap:Fault` element, if `body_child` is one.
pub(crate) fn read_fault(doc: &Document, body_child: NodeId) -> Option<SoapFault> {
    let el = doc.element(body_child);
    if !el.is(SOAP_NS, "Fault") {
        return None;
    }
    // faultcode/faultstring/detail are unqualified in SOAP 1.1.
    let local_text = |name: &str| {
        doc.child_elements(body_child)
            .find(|c| doc.element(*c).local == name)
            .map(|c| doc.text(c).trim().to_owned())
    };
    let detail = doc
        .child_elements(body_child)
        .find(|c| doc.element(*c).local == "detail");
    let detail_el = detail.and_then(|d| doc.child_elements(d).next());
    let kind = match detail_el {
        Some(d)
            if doc
                .element(d)
                .ns
                .as_deref()
                .and_then(Version::of_namespace)
                .is_some() =>
        {
            FaultKind::from_element_name(&doc.element(d).local)
        }
        Some(d) => FaultKind::Other(doc.element(d).to_string()),
        None => FaultKind::Other("no detail".into()),
    };
    let detail_text = |name: &str| {
        detail_el.and_then(|d| {
            doc.child_elements(d)
                .find(|c| doc.element(*c).local == name)
                .map(|c| doc.text(c).trim().to_owned())
        })
    };
    Some(SoapFault {
        kind,
        faultcode: local_text("faultcode").unwrap_or_default(),
        faultstring: local_text("faultstring").unwrap_or_default(),
        code: detail_text("Code"),
        description: detail_text("Description"),
    })
}

/// Fails with the fault when the body carries one.
pub(crate) fn check_fault(doc: &Document, body_child: NodeId) -> Result<(), SmevError> {
    match read_fault(doc, body_child) {
        Some(f) => Err(SmevError::Fault(f)),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_classes_follow_the_wsdl_advice() {
        assert_eq!(FaultKind::SMEVFailure.class(), FaultClass::Retry);
        assert_eq!(FaultKind::DestinationOverflow.class(), FaultClass::Retry);
        assert_eq!(FaultKind::EndOfLifeReached.class(), FaultClass::NewEol);
        assert_eq!(
            FaultKind::MessageIsAlreadySent.class(),
            FaultClass::AlreadySent
        );
        assert_eq!(FaultKind::StaleMessageId.class(), FaultClass::NewMessageId);
        assert_eq!(
            FaultKind::SignatureVerificationFault.class(),
            FaultClass::Permanent
        );
        assert_eq!(FaultKind::Other("x".into()).class(), FaultClass::Permanent);
        let bare = |faultcode: &str| SoapFault {
            kind: FaultKind::Other("no detail".into()),
            faultcode: faultcode.into(),
            faultstring: "Internal Error".into(),
            code: None,
            description: None,
        };
        assert_eq!(bare("soap:Server").class(), FaultClass::Retry);
        assert_eq!(bare("S:Server.Timeout").class(), FaultClass::Retry);
        assert_eq!(bare("Server").class(), FaultClass::Retry);
        assert_eq!(bare("soap:Client").class(), FaultClass::Permanent);
        assert_eq!(bare("").class(), FaultClass::Permanent);
        assert_eq!(bare("soap:ServerBusy").class(), FaultClass::Permanent);
        // A SMEV detail decides, whatever the faultcode says.
        let mut f = bare("soap:Server");
        f.kind = FaultKind::SignatureVerificationFault;
        assert_eq!(f.class(), FaultClass::Permanent);
        for k in FaultKind::all() {
            assert_eq!(FaultKind::from_element_name(k.element_name()), k);
        }
    }
}
