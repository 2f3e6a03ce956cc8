//! Kind `vs`: any VS, its business XML given as is. The namespace of the
//! single root element names the VS; mezhved checks that the XML is safe
//! and signable, wraps it, signs it and sends it, and returns the
//! provider's business XML as it came (read into a verdict too when the
//! namespace is one of the lookups').

use serde::Serialize;
use time::OffsetDateTime;
use uuid::Uuid;

use super::json::Obj;
use super::{CaseId, Invalid, InvalidCode};
use crate::clock;
use crate::xml::{self, Document};

/// The largest business XML any setting may allow: what the SMEV envelope
/// around it may hold (`crate::xml` reads at most 16 MiB).
pub const HARD_MAX_CONTENT_BYTES: usize = 15 * 1024 * 1024;

/// Namespaces whose elements are SMEV's or SOAP's own: a business root in
/// one of them is an envelope given by mistake.
const ENVELOPE_NAMESPACES: [&str; 2] = [
    "http://schemas.xmlsoap.org/soap/envelope/",
    "urn://x-artefacts-smev-gov-ru/services/message-exchange/",
];

/// A request of kind `vs`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VsRequest {
    pub request_id: Uuid,
    pub case_id: CaseId,
    pub test: bool,
    pub vs: VsMessage,
    /// Files sent with the request (`attachments`).
    pub attachments: Vec<super::Attachment>,
}

/// The business message and what SMEV's envelope carries with it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct VsMessage {
    /// The business XML: one root element, in the namespace of its VS.
    pub content: String,
    /// Sign the root element with the official's key too (ЭП-СП); the root
    /// must carry the `Id` the signature references.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub personal_signature: bool,
    /// SMEV `TransactionCode` (from a request that started the chain).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub transaction_code: Option<String>,
    /// SMEV `NodeID` of the sender's node.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub node_id: Option<String>,
    /// SMEV `EOL`: the request's end of life.
    #[serde(
        skip_serializing_if = "Option::is_none",
        with = "crate::clock::opt_timestamp"
    )]
    pub eol: Option<OffsetDateTime>,
    /// `{namespace}` and local name of the root element (read from `content`).
    #[serde(skip)]
    pub namespace: String,
    #[serde(skip)]
    pub root: String,
}

impl VsMessage {
    /// The business XML as a document (it was checked on arrival).
    pub fn business(&self) -> Result<Document, String> {
        check_content(
            &self.content,
            HARD_MAX_CONTENT_BYTES,
            self.personal_signature,
        )
        .map(|(d, _, _)| d)
    }

    /// `{ns}local` of the root element, for logs and tables.
    pub fn describe(&self) -> String {
        format!("{{{}}}{}", self.namespace, self.root)
    }
}

impl VsRequest {
    /// The lookup request this `vs` request amounts to, for reading the
    /// answer of a VS mezhved knows (`kind`) with that lookup: the subject
    /// the provider read from the business XML (`identifier`), and no 7.2
    /// details (those are in the business XML; reading an answer needs
    /// only the subject).
    pub fn lookup_view(&self, kind: super::Kind, identifier: &str) -> Option<super::LookupRequest> {
        use super::{SubjectId, ident};
        let id = match identifier.len() {
            13 => SubjectId::Ogrn(ident::Ogrn::parse(identifier).ok()?),
            15 => SubjectId::Ogrnip(ident::Ogrnip::parse(identifier).ok()?),
            11 => SubjectId::Snils(ident::Snils::parse(identifier).ok()?),
            _ => SubjectId::Inn(ident::Inn::parse(identifier).ok()?),
        };
        let none = String::new;
        Some(super::LookupRequest {
            request_id: self.request_id,
            case_id: self.case_id.clone(),
            kind,
            subject: super::Subject {
                id,
                kpp: None,
                name: None,
            },
            as_of: None,
            test: self.test,
            personal_signature: self.vs.personal_signature,
            details: super::Details {
                requesting_body: super::RequestingBody {
                    name: none(),
                    inn: None,
                    ogrn: None,
                },
                service: super::Service {
                    name: none(),
                    registry_number: none(),
                },
                legal_basis: super::LegalBasis {
                    act: none(),
                    article: none(),
                },
                official: super::Official {
                    name: none(),
                    position: none(),
                    phone: None,
                    email: None,
                },
                applicant_consent: false,
            },
            attachments: self.attachments.clone(),
        })
    }
}

impl Serialize for VsRequest {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        struct Stored<'a> {
            request_id: &'a Uuid,
            case_id: &'a CaseId,
            kind: &'static str,
            test: bool,
            vs: &'a VsMessage,
            #[serde(skip_serializing_if = "<[_]>::is_empty")]
            attachments: &'a [super::Attachment],
        }
        Stored {
            request_id: &self.request_id,
            case_id: &self.case_id,
            kind: "vs",
            test: self.test,
            vs: &self.vs,
            attachments: &self.attachments,
        }
        .serialize(s)
    }
}

/// Reads a `vs` request from its JSON object (`kind` already read);
/// `max_content` bounds the business XML.
pub(super) fn parse(
    root: &Obj<'_>,
    request_id: Uuid,
    case_id: CaseId,
    max_content: usize,
) -> Result<VsRequest, Invalid> {
    root.allow_only(&["request_id", "case_id", "kind", "test", "vs", "attachments"])?;
    let test = root.opt_bool("test")?.unwrap_or(false);
    let vs = root.req_obj("vs")?;
    vs.allow_only(&[
        "content",
        "personal_signature",
        "transaction_code",
        "node_id",
        "eol",
    ])?;
    let content = vs.req_str("content")?;
    if content.len() > max_content {
        return Err(Invalid::new(
            InvalidCode::TooLarge,
            vs.path("content"),
            format!(
                "the business XML of {} bytes exceeds the limit of {max_content} bytes (vs.max_content_bytes)",
                content.len()
            ),
        ));
    }
    let personal_signature = vs.opt_bool("personal_signature")?.unwrap_or(false);
    let (_, namespace, local) = check_content(content, max_content, personal_signature)
        .map_err(|m| vs.invalid("content", m))?;
    let transaction_code = vs.opt_text("transaction_code", 1500)?;
    let node_id = vs.opt_text("node_id", 50)?;
    let eol = match vs.opt_str("eol")? {
        None => None,
        Some(s) => Some(clock::parse_rfc3339(s).ok_or_else(|| {
            vs.invalid(
                "eol",
                "must be a date and time with its offset (RFC 3339), such as 2026-11-30T18:00:00+03:00",
            )
        })?),
    };
    Ok(VsRequest {
        request_id,
        case_id,
        test,
        vs: VsMessage {
            content: content.to_owned(),
            personal_signature,
            transaction_code,
            node_id,
            eol,
            namespace,
            root: local,
        },
        attachments: Vec::new(),
    })
}

/// Checks business XML the way SMEV and its signature need it: read by the
/// hardened parser (no DTD, bounded), one root element in a namespace that
/// is not SMEV's own, every element signable by the SMEV transform, and an
/// `Id` on the root when a personal signature must reference it. Returns
/// the document and the root's namespace and local name.
pub fn check_content(
    content: &str,
    max_bytes: usize,
    personal_signature: bool,
) -> Result<(Document, String, String), String> {
    let limits = xml::Limits {
        max_bytes,
        ..xml::Limits::default()
    };
    let doc = xml::parse_with(content.as_bytes(), &limits)
        .map_err(|e| format!("the business XML is not acceptable: {e}"))?;
    let el = doc.element(doc.root());
    let Some(ns) = el.ns.clone().filter(|n| !n.is_empty()) else {
        return Err(format!(
            "the root element <{}> has no namespace: the namespace of the root names the VS",
            el.local
        ));
    };
    if ENVELOPE_NAMESPACES.iter().any(|e| ns.starts_with(e)) {
        return Err(format!(
            "the root element {el} is SOAP's or SMEV's own: give the business XML that goes inside MessagePrimaryContent, not an envelope"
        ));
    }
    if personal_signature && el.attr("Id").is_none() {
        return Err(format!(
            "a personal signature (ЭП-СП) references the root element by its Id attribute, and {el} has none"
        ));
    }
    crate::xmldsig::transform::transform(&doc, doc.root())
        .map_err(|e| format!("the business XML cannot be signed: {e}"))?;
    let local = el.local.clone();
    Ok((doc, ns, local))
}
