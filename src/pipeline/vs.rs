//! Requests of kind `vs` in the pipeline: the schemas their business XML
//! is checked against, their envelopes, and their answers, returned as
//! the provider sent them (and read into a verdict when the VS is one of
//! the lookups').

use std::collections::BTreeMap;

use time::OffsetDateTime;

use super::poll::{Read, without_content};
use super::{Gateway, GatewayError};
use crate::clock;
use crate::config::VsSettings;
use crate::lookup::{Outcome, RejectReason, RejectedBy, SmevOutcome, Verdict};
use crate::request::{Invalid, InvalidCode, Kind, Request, VsRequest};
use crate::smev::{self, ResponseContent};
use crate::xml::{self, Document, NodeId};
use crate::xsd::SchemaSet;

/// The operator's schemas for business XML (`[vs.schemas]`).
pub struct VsSchemas {
    set: Option<SchemaSet>,
    /// The namespace each configured file was given for.
    files: BTreeMap<String, std::path::PathBuf>,
}

/// Violations reported at most, so that a refusal stays readable.
const MAX_VIOLATIONS: usize = 20;

impl VsSchemas {
    pub fn load(settings: &VsSettings) -> Result<Self, GatewayError> {
        if settings.schemas.is_empty() {
            return Ok(VsSchemas {
                set: None,
                files: BTreeMap::new(),
            });
        }
        let files: Vec<_> = settings.schemas.values().cloned().collect();
        let set =
            SchemaSet::load_files(&files).map_err(|e| GatewayError::Schemas(e.to_string()))?;
        Ok(VsSchemas {
            set: Some(set),
            files: settings.schemas.clone(),
        })
    }

    /// Checks a `vs` request's business XML against the schema configured
    /// for its namespace, if any (lookups pass: mezhved builds them).
    pub fn check(&self, req: &Request) -> Result<(), Invalid> {
        let Request::Vs(v) = req else { return Ok(()) };
        let (Some(set), Some(file)) = (&self.set, self.files.get(&v.vs.namespace)) else {
            return Ok(());
        };
        let doc =
            v.vs.business()
                .map_err(|m| Invalid::new(InvalidCode::InvalidValue, "vs.content", m))?;
        let invalid = |message: String| {
            Err(Invalid::new(
                InvalidCode::SchemaViolation,
                "vs.content",
                message,
            ))
        };
        if !set.declares(&v.vs.namespace, &v.vs.root) {
            return invalid(format!(
                "{} is not a global element of the schema configured for its namespace ({})",
                v.vs.describe(),
                file.display()
            ));
        }
        let violations = set.validate(&doc, doc.root());
        if violations.is_empty() {
            return Ok(());
        }
        let shown: Vec<String> = violations
            .iter()
            .take(MAX_VIOLATIONS)
            .map(|v| format!("{}: {}", v.path, v.message))
            .collect();
        let more = violations.len().saturating_sub(MAX_VIOLATIONS);
        invalid(format!(
            "the business XML fails its schema ({}): {}{}",
            file.display(),
            shown.join("; "),
            if more > 0 {
                format!("; and {more} more")
            } else {
                String::new()
            }
        ))
    }
}

/// The business document and the envelope options of a `vs` request;
/// `default_eol` is the configured one (`smev.eol_hours`), which the
/// request's own `eol` overrides.
pub(super) fn envelope_parts(
    req: &VsRequest,
    default_eol: Option<OffsetDateTime>,
) -> Result<(Document, smev::EnvelopeOptions), String> {
    if let Some(eol) = req.vs.eol
        && eol <= clock::now()
    {
        return Err(format!(
            "the request's end of life (eol {}) has passed: SMEV would refuse it",
            clock::rfc3339(eol)
        ));
    }
    let business = req.vs.business()?;
    Ok((
        business,
        smev::EnvelopeOptions {
            test: req.test,
            eol: req.vs.eol.or(default_eol),
            personal: req.vs.personal_signature,
            transaction_code: req.vs.transaction_code.clone(),
            node_id: req.vs.node_id.clone(),
            attachments: Vec::new(),
        },
    ))
}

/// The element at `id` as a document of its own, with every namespace
/// binding it has in scope, written without an XML declaration: the
/// provider's business XML as it came.
pub fn standalone_xml(doc: &Document, id: NodeId) -> String {
    let mut holder = Document::new(None, "holder", None);
    let root = holder.root();
    let copy = holder.append_subtree(root, doc, id);
    xml::element_to_string(&holder, copy)
}

/// The provider's `RequestRejected`s (code, text) as one rejection.
pub(super) fn agency_rejection(reasons: &[(String, String)]) -> Outcome {
    let code = reasons
        .iter()
        .map(|r| r.0.as_str())
        .collect::<Vec<_>>()
        .join(",");
    let text = reasons
        .iter()
        .map(|r| r.1.as_str())
        .collect::<Vec<_>>()
        .join("; ");
    Outcome::rejected(RejectedBy::Agency, code, text)
}

/// A `vs` outcome carries what SMEV delivered; a refusal recorded without
/// it (a SOAP fault at sending) gets it here.
pub(super) fn with_smev_outcome(kind: Kind, mut outcome: Outcome) -> Outcome {
    if kind == Kind::Vs
        && outcome.smev_outcome.is_none()
        && let Some(r) = &outcome.rejection
        && r.by == RejectedBy::Smev
    {
        outcome.smev_outcome = Some(Box::new(SmevOutcome::Fault {
            code: r.code.clone(),
            description: r.text.clone(),
        }));
    }
    outcome
}

impl Gateway {
    /// Checks a request against the operator's schemas (`[vs.schemas]`).
    pub fn check_schema(&self, req: &Request) -> Result<(), Invalid> {
        self.vs_schemas.check(req)
    }

    /// What a verified answer to a `vs` request says.
    pub(super) fn read_vs_answer(
        &self,
        req: &VsRequest,
        doc: &Document,
        resp: &smev::IncomingResponse,
    ) -> Read {
        let outcome = match &resp.content {
            ResponseContent::Primary(root) => {
                let el = doc.element(*root);
                let (ns, local) = (el.ns.clone().unwrap_or_default(), el.local.clone());
                let mut o = self
                    .known_verdict(req, doc, *root)
                    .unwrap_or_else(|| Outcome::new(Verdict::Answered));
                o.answer_xml = Some(standalone_xml(doc, *root));
                o.smev_outcome = Some(Box::new(SmevOutcome::Content {
                    namespace: ns,
                    root: local,
                }));
                o
            }
            ResponseContent::Rejected(reasons) => {
                let mut o = agency_rejection(reasons);
                o.smev_outcome = Some(Box::new(SmevOutcome::Rejects {
                    rejects: reasons
                        .iter()
                        .map(|(code, description)| RejectReason {
                            code: code.clone(),
                            description: description.clone(),
                        })
                        .collect(),
                }));
                o
            }
            // SMEV's refusal gets its smev_outcome with the result
            // (`with_smev_outcome`); a status keeps the request waiting.
            other => return without_content(other),
        };
        Read::Final(Box::new(outcome))
    }

    /// The verdict, when the VS is one of the lookups' and its request can
    /// be read the way that lookup's provider reads it.
    fn known_verdict(&self, req: &VsRequest, doc: &Document, root: NodeId) -> Option<Outcome> {
        let el = doc.element(root);
        let lookup = self
            .registry
            .by_response_root(el.ns.as_deref()?, &el.local)?;
        let business = req.vs.business().ok()?;
        if !business
            .element(business.root())
            .is(lookup.namespace(), lookup.request_root())
        {
            return None;
        }
        let query = lookup.read_request(&business, business.root()).ok()?;
        let view = req.lookup_view(lookup.kind(), query.identifiers.first()?)?;
        Some(lookup.parse_answer(doc, root, &view, &query.doc_id))
    }
}
