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
