//! Where signatures sit in SMEV messages: which element each signature
//! container covers, and where a new signature of an element goes. The
//! gateway, the emulator and `mezhved sign|verify` share this knowledge.

use super::{SmevError, Version};
use crate::xml::{Document, NodeId};
use crate::xmldsig::DS_NS;

/// A signature container of the message exchange and what it signs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Container {
    /// `CallerInformationSystemSignature` (ЭП-ОВ): the request element
    /// beside it.
    Caller,
    /// `PersonalSignature` (ЭП-СП): the business element under the
    /// `MessagePrimaryContent` beside it.
    Personal,
    /// `SMEVSignature` (ЭП-СМЭВ): `Response`, `MessageMetadata` or the
    /// status data beside it.
    Smev,
    /// `SenderInformationSystemSignature`: the provider's response data.
    Sender,
}

impl Container {
    pub fn element_name(self) -> &'static str {
        match self {
            Container::Caller => "CallerInformationSystemSignature",
            Container::Personal => "PersonalSignature",
            Container::Smev => "SMEVSignature",
            Container::Sender => "SenderInformationSystemSignature",
        }
    }

    fn of(name: &str) -> Option<Container> {
        [
            Container::Caller,
            Container::Personal,
            Container::Smev,
            Container::Sender,
        ]
        .into_iter()
        .find(|c| c.element_name() == name)
    }
}

/// Elements a `CallerInformationSystemSignature` or `SMEVSignature` covers.
const CALLER_SIGNED: [&str; 4] = [
    "SenderProvidedRequestData",
    "MessageTypeSelector",
    "AckTargetMessage",
    "Timestamp",
];
const SMEV_SIGNED: [&str; 4] = [
    "Response",
    "MessageMetadata",
    "AsyncProcessingStatusData",
    "Request",
];

fn is_smev(doc: &Document, id: NodeId) -> bool {
    doc.element(id)
        .ns
        .as_deref()
        .and_then(Version::of_namespace)
        .is_some()
}

/// The container of a `ds:Signature`, and the element SMEV's rules say it
/// signs; `None` when the signature is not in a SMEV container.
pub fn expected_target(doc: &Document, signature: NodeId) -> Option<(Container, NodeId)> {
    let container = doc.parent(signature)?;
    if !is_smev(doc, container) {
        return None;
    }
    let kind = Container::of(&doc.element(container).local)?;
    let parent = doc.parent(container)?;
    let sibling = |names: &[&str]| {
        doc.child_elements(parent).find(|c| {
            *c != container && is_smev(doc, *c) && names.contains(&doc.element(*c).local.as_str())
        })
    };
    let target = match kind {
        Container::Caller => sibling(&CALLER_SIGNED),
        Container::Smev => sibling(&SMEV_SIGNED),
        Container::Sender => sibling(&["SenderProvidedResponseData"]),
        Container::Personal => {
            sibling(&["MessagePrimaryContent"]).and_then(|m| doc.child_elements(m).next())
        }
    }?;
    Some((kind, target))
}

/// The container a signature of `target` goes in, created (empty) when
/// missing; an existing signature in it is removed so it can be replaced.
pub fn container_for(doc: &mut Document, target: NodeId) -> Result<(Container, NodeId), SmevError> {
    let el = doc.element(target);
    let parent = doc
        .parent(target)
        .ok_or_else(|| SmevError::shape("the document element itself cannot be signed detached"))?;
    let (kind, host, version) = if is_smev(doc, target)
        && CALLER_SIGNED.contains(&el.local.as_str())
    {
        (Container::Caller, parent, version_of(doc, parent)?)
    } else if is_smev(doc, target) && SMEV_SIGNED.contains(&el.local.as_str()) {
        (Container::Smev, parent, version_of(doc, parent)?)
    } else if doc.element(parent).local == "MessagePrimaryContent" && is_smev(doc, parent) {
        let sprd = doc
            .parent(parent)
            .ok_or_else(|| SmevError::shape("MessagePrimaryContent has no parent"))?;
        (Container::Personal, sprd, version_of(doc, sprd)?)
    } else {
        return Err(SmevError::shape(format!(
            "no SMEV place for a signature of {el}: mezhved signs {}, {} and the business element under \
             MessagePrimaryContent",
            CALLER_SIGNED.join(", "),
            SMEV_SIGNED.join(", ")
        )));
    };
    let tns = version.types_ns();
    let existing = doc.child(host, tns, kind.element_name());
    let container = match existing {
        Some(c) => {
            let old: Vec<NodeId> = doc.children_named(c, DS_NS, "Signature").collect();
            for s in old {
                doc.detach(s);
            }
            c
        }
        None => {
            let prefix = doc.element(host).prefix.clone();
            let c = doc.append_element(host, prefix.as_deref(), kind.element_name(), Some(tns));
            if kind == Container::Personal {
                // PersonalSignature follows MessagePrimaryContent directly.
                let kids = &mut doc.element_mut(host).children;
                kids.pop();
                let mpc = kids
                    .iter()
                    .position(|k| *k == parent)
                    .expect("MessagePrimaryContent is a child of its parent");
                kids.insert(mpc + 1, c);
            }
            c
        }
    };
    Ok((kind, container))
}

fn version_of(doc: &Document, id: NodeId) -> Result<Version, SmevError> {
    doc.element(id)
        .ns
        .as_deref()
        .and_then(Version::of_namespace)
        .ok_or_else(|| SmevError::shape(format!("{} is not a SMEV element", doc.element(id))))
}

/// An element a SMEV reader takes as signed, and the signature that must
/// cover it.
#[derive(Clone, Copy, Debug)]
pub struct SignedRead {
    /// What it is, for people (`the answer`, `the request`…).
    pub what: &'static str,
    pub element: NodeId,
    /// The signature in the place the reader looks (`None`: there is none).
    pub signature: Option<NodeId>,
}

/// What a reader of this message takes as signed, found by the very
/// parsers the gateway and the emulator read messages with (a copy of an
/// element elsewhere, in a `Header` say, is not what they take). Empty for
/// a message without such content (an empty `GetResponseResponse`); an
/// error for one that is not a SMEV message-exchange message.
pub fn signed_reads(doc: &Document) -> Result<Vec<SignedRead>, SmevError> {
    let body = super::body_child(doc)?;
    let read = |what, element, signature| SignedRead {
        what,
        element,
        signature,
    };
    Ok(match doc.element(body).local.as_str() {
        "GetResponseResponse" => super::parse_get_response_response(doc)?
            .map(|r| read("the answer", r.response, r.smev_signature))
            .into_iter()
            .collect(),
        "SendRequestResponse" => {
            let a = super::parse_send_request_response(doc)?;
            vec![read("SMEV's acceptance", a.metadata, a.signature)]
        }
        "GetStatusResponse" => super::parse_get_status_response(doc)?
            .map(|s| read("the status", s.data, s.smev_signature))
            .into_iter()
            .collect(),
        "SendRequestRequest" => {
            let r = super::parse_send_request(doc)?;
            let mut out = vec![read("the request", r.sender_provided, r.signature)];
            if let Some(p) = r.personal_signature {
                out.push(read("the business content", r.primary, Some(p)));
            }
            out
        }
        "GetResponseRequest" => {
            let r = super::parse_get_response_request(doc)?;
            vec![read("the selector", r.selector, r.signature)]
        }
        "AckRequest" => {
            let r = super::parse_ack_request(doc)?;
            vec![read("the acknowledgement", r.target, r.signature)]
        }
        "GetStatusRequest" => {
            let r = super::parse_get_status_request(doc)?;
            vec![read("the timestamp", r.timestamp, r.signature)]
        }
        other => {
            return Err(SmevError::shape(format!(
                "{other} is not a message mezhved reads"
            )));
        }
    })
}
