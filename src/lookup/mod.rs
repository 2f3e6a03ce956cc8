//! One module per register: it builds the business XML of its VS, reads the
//! agency's answer into a typed [`Outcome`], and, for the emulator, reads a
//! request and renders an answer from fixture data. Adding a register means
//! one new file here, one schema under `schemas/`, fixture data and one line
//! in [`Registry::new`].

pub mod attached;
mod check;
mod egrip;
mod egrul;
mod fns;
mod fns_address;
mod fns_status;
mod foreign_agent;
mod schema;
mod tax_debt;
mod unreliable_supplier;

use serde::{Deserialize, Serialize};

use crate::i18n::{FailureCode, Lang};
use crate::request::{Kind, LookupRequest, Subject};
use crate::xml::{Document, NodeId};

pub use fns_status::{ENTREPRENEUR_STATUSES, LEGAL_ENTITY_STATUSES, State};
pub(crate) use foreign_agent::agent_data;
pub use schema::{AnswerSchemas, SchemaStatus};
pub use tax_debt::DebtFlags;
pub(crate) use unreliable_supplier::{RnpData, RnpRecordData, rnp_data};

/// The normalised answer to one lookup.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// ЕГРЮЛ/ЕГРИП: the register holds the subject (whatever its status).
    Found,
    NotFound,
    /// Tax debt is recorded.
    HasDebt,
    NoDebt,
    /// The answer does not establish the fact (unknown flag or code); never
    /// read as the favourable answer.
    Unknown,
    /// Foreign agents: the subject is in the register now. РНП: it was in
    /// the register during the lookback before `as_of`.
    Listed,
    NotListed,
    /// The agency or SMEV refused to answer; code and text are kept.
    Rejected,
    /// Technical failure; the officer must fall back to paper or the public
    /// register.
    Failed,
    /// A `vs` request of a VS mezhved does not read: the provider's
    /// business answer is in `answer_xml`.
    Answered,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Found => "found",
            Verdict::NotFound => "not_found",
            Verdict::HasDebt => "has_debt",
            Verdict::NoDebt => "no_debt",
            Verdict::Unknown => "unknown",
            Verdict::Listed => "listed",
            Verdict::NotListed => "not_listed",
            Verdict::Rejected => "rejected",
            Verdict::Failed => "failed",
            Verdict::Answered => "answered",
        }
    }

    pub fn parse(s: &str) -> Option<Verdict> {
        [
            Verdict::Found,
            Verdict::NotFound,
            Verdict::HasDebt,
            Verdict::NoDebt,
            Verdict::Unknown,
            Verdict::Listed,
            Verdict::NotListed,
            Verdict::Rejected,
            Verdict::Failed,
            Verdict::Answered,
        ]
        .into_iter()
        .find(|v| v.as_str() == s)
    }

    /// The officer has to act by other means (paper request, public register).
    pub fn needs_fallback(self) -> bool {
        matches!(self, Verdict::Rejected | Verdict::Failed | Verdict::Unknown)
    }
}

impl std::fmt::Display for Verdict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Who refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RejectedBy {
    Smev,
    Agency,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rejection {
    pub by: RejectedBy,
    pub code: String,
    pub text: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Failure {
    /// What kind of failure, as a stable code (absent from results
    /// written before codes were recorded).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<FailureCode>,
    /// The technical detail, for the operator.
    pub reason: String,
    /// What it means for the officer, in Russian ([`crate::i18n`]).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub reason_ru: String,
}

/// A verdict with what supports it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Outcome {
    pub verdict: Verdict,
    /// The facts an officer needs, in a per-register shape (see README).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub facts: Option<serde_json::Value>,
    /// Rejections and failures are boxed: they are the rare cases, and an
    /// outcome travels by value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rejection: Option<Box<Rejection>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure: Option<Box<Failure>>,
    /// Why a verdict is `unknown`, or anything else the officer should read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// What the note means for the officer, in Russian (set with the note
    /// when the result is written).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note_ru: Option<String>,
    /// Where the agency's answer breaks its VS schema; it was still read
    /// where it could be.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub schema_errors: Vec<String>,
    /// Why the answer could not be checked against its schema (the schema
    /// is not available); absent when it was checked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schema_unchecked: Option<String>,
    /// The verdict stands, but the officer must still confirm it another
    /// way (a status code mezhved does not know). Carried into
    /// `fallback_required`, not written itself.
    #[serde(skip)]
    pub fallback: bool,
    /// `vs` requests: the provider's business XML exactly as it came (the
    /// element under `MessagePrimaryContent`, with the namespaces it uses).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub answer_xml: Option<String>,
    /// `vs` requests: what SMEV delivered, whatever the verdict.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub smev_outcome: Option<Box<SmevOutcome>>,
    /// The register's own source that answered (routes other than SMEV).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<Box<SourceRef>>,
    /// The answer's attachments as placed in the request's folder, each
    /// with its hash and signature check.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attachments: Vec<crate::attachment::AttachmentRecord>,
}

/// What SMEV delivered for a `vs` request: the business answer
/// (`content`), the provider's refusal (`rejects`), or SMEV's own refusal
/// (`fault`: a SOAP fault at sending, or an asynchronous rejection).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum SmevOutcome {
    Content {
        /// `{namespace}` of the answer's root element, and its local name.
        namespace: String,
        root: String,
    },
    Rejects {
        rejects: Vec<RejectReason>,
    },
    Fault {
        code: String,
        description: String,
    },
}

/// One `RequestRejected` (`ACCESS_DENIED`, `NO_DATA`,
/// `UNKNOWN_REQUEST_DESCRIPTION`, `FAILURE`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RejectReason {
    pub code: String,
    pub description: String,
}

/// Where an answer came from when it did not come through SMEV: the
/// source (`eis`, `minjust`, `eis-snapshot`, `minjust-snapshot`), the
/// address asked, and the register's own date of the data.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceRef {
    pub register: String,
    pub url: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub as_of: Option<String>,
}

impl Outcome {
    pub fn new(verdict: Verdict) -> Self {
        Outcome {
            verdict,
            facts: None,
            rejection: None,
            failure: None,
            note: None,
            note_ru: None,
            schema_errors: Vec::new(),
            schema_unchecked: None,
            fallback: false,
            answer_xml: None,
            smev_outcome: None,
            source: None,
            attachments: Vec::new(),
        }
    }

    /// The officer has to act by other means: the verdict says so, or the
    /// reader asked for it.
    pub fn needs_fallback(&self) -> bool {
        self.fallback || self.verdict.needs_fallback()
    }

    pub fn with_fallback(mut self) -> Self {
        self.fallback = true;
        self
    }

    pub fn with_facts(verdict: Verdict, facts: impl Serialize) -> Self {
        Outcome {
            facts: Some(serde_json::to_value(facts).expect("facts are plain data")),
            ..Outcome::new(verdict)
        }
    }

    pub fn rejected(by: RejectedBy, code: impl Into<String>, text: impl Into<String>) -> Self {
        Outcome {
            rejection: Some(Box::new(Rejection {
                by,
                code: code.into(),
                text: text.into(),
            })),
            ..Outcome::new(Verdict::Rejected)
        }
    }

    /// The agency's answer cannot be read as the answer to the request
    /// (what the readers of the registers report).
    pub fn failed(reason: impl Into<String>) -> Self {
        Self::failure(FailureCode::AnswerUnreadable, reason)
    }

    /// A failure of kind `code`; `reason` is the technical detail.
    pub fn failure(code: FailureCode, reason: impl Into<String>) -> Self {
        Outcome {
            failure: Some(Box::new(Failure {
                code: Some(code),
                reason: reason.into(),
                reason_ru: code.text(Lang::Ru),
            })),
            ..Outcome::new(Verdict::Failed)
        }
    }

    /// Adds the officer's Russian reading of the note, if there is a note
    /// and none yet (when the result is written).
    pub fn localised(mut self) -> Self {
        if self.note.is_some() && self.note_ru.is_none() {
            self.note_ru = Some(crate::i18n::note(Lang::Ru, self.verdict));
        }
        self
    }

    pub fn unknown(note: impl Into<String>) -> Self {
        Outcome {
            note: Some(note.into()),
            ..Outcome::new(Verdict::Unknown)
        }
    }

    pub fn with_note(mut self, note: impl Into<String>) -> Self {
        self.note = Some(note.into());
        self
    }
}

/// `Id` of a business request that carries a personal signature (ЭП-СП).
pub const PERSONAL_SIGNATURE_ID: &str = "PERSONAL_SIGNATURE";

/// What a provider reads from a request: the identifiers and the document
/// id to echo in the answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProviderQuery {
    pub doc_id: String,
    pub identifiers: Vec<String>,
}

/// One register's VS.
pub trait Lookup: Send + Sync {
    fn kind(&self) -> Kind;
    /// Namespace of the VS (request and response roots).
    fn namespace(&self) -> &str;
    fn request_root(&self) -> &'static str;
    fn response_root(&self) -> &'static str;

    /// The business request; `doc_id` identifies it inside the VS and comes
    /// back in the answer.
    fn build_request(&self, req: &LookupRequest, doc_id: &str) -> Document;

    /// Reads the answer rooted at `root` (the element under
    /// `MessagePrimaryContent`). `doc_id` is what the request carried; an
    /// answer for another document or another subject is a failure.
    fn parse_answer(
        &self,
        doc: &Document,
        root: NodeId,
        req: &LookupRequest,
        doc_id: &str,
    ) -> Outcome;

    /// Provider side: checks a request against the VS schema and reads the
    /// identifiers it asks about; the violations, if any.
    fn read_request(&self, doc: &Document, root: NodeId) -> Result<ProviderQuery, Vec<String>>;

    /// Provider side: the identifiers a fixture answer (the register-specific
    /// `answer` table of a subject) can be found by; also checks the table.
    fn answer_identifiers(&self, answer: &toml::Value) -> Result<Vec<String>, String>;

    /// Provider side: the answer for `query` from a fixture `answer` table,
    /// or, with `None`, the register's "not found" answer.
    fn render_answer(
        &self,
        query: &ProviderQuery,
        answer: Option<&toml::Value>,
    ) -> Result<Document, String>;

    /// Provider side: an answer carrying a VS processing code instead of data
    /// (ЕГРЮЛ `КодОбр`, tax debt `КодОбраб`…), if the VS has one.
    fn render_processing_code(&self, query: &ProviderQuery, code: &str)
    -> Result<Document, String>;
}

/// Namespaces of the VS, overridable in `[lookup]` because several of them
/// are not published and may differ on a real node.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct LookupConfig {
    pub egrul_namespace: String,
    pub egrip_namespace: String,
    pub tax_debt_namespace: String,
    pub unreliable_supplier_namespace: String,
    pub foreign_agent_namespace: String,
    /// Values of `ПрЗадолж` read as "debt" and as "no debt"; anything else
    /// is `unknown`.
    pub tax_debt_flags: DebtFlags,
    /// The directory of the official XSDs answers are checked against.
    pub official_schemas: std::path::PathBuf,
    /// РНП: a supplier is `listed` when a record placed it in the register
    /// at any moment of this many years before `as_of` (§2.10(12)).
    pub rnp_lookback_years: u32,
    /// Which source answers each kind that has a choice.
    pub routes: crate::registers::Routes,
}

impl Default for LookupConfig {
    fn default() -> Self {
        LookupConfig {
            egrul_namespace: egrul::NAMESPACE.into(),
            egrip_namespace: egrip::NAMESPACE.into(),
            tax_debt_namespace: tax_debt::NAMESPACE.into(),
            unreliable_supplier_namespace: unreliable_supplier::NAMESPACE.into(),
            foreign_agent_namespace: foreign_agent::NAMESPACE.into(),
            tax_debt_flags: DebtFlags::default(),
            official_schemas: "../shared/xsd".into(),
            rnp_lookback_years: 2,
            routes: crate::registers::Routes::default(),
        }
    }
}

/// Every register mezhved can ask.
pub struct Registry {
    lookups: Vec<Box<dyn Lookup>>,
    schemas: AnswerSchemas,
}

impl Registry {
    pub fn new(cfg: &LookupConfig) -> Self {
        let lookups: Vec<Box<dyn Lookup>> = vec![
            Box::new(egrul::Egrul::new(&cfg.egrul_namespace)),
            Box::new(egrip::Egrip::new(&cfg.egrip_namespace)),
            Box::new(tax_debt::TaxDebt::new(
                &cfg.tax_debt_namespace,
                cfg.tax_debt_flags.clone(),
            )),
            Box::new(unreliable_supplier::UnreliableSupplier::new(
                &cfg.unreliable_supplier_namespace,
                cfg.rnp_lookback_years,
            )),
            Box::new(foreign_agent::ForeignAgent::new(
                &cfg.foreign_agent_namespace,
            )),
        ];
        Registry {
            lookups,
            schemas: AnswerSchemas::new(cfg),
        }
    }

    /// The answer schemas, to report what is available.
    pub fn schemas(&self) -> &AnswerSchemas {
        &self.schemas
    }

    /// Reads an answer of `kind` (see [`Lookup::parse_answer`]) and checks
    /// it against its VS schema: violations go into `schema_errors`, a
    /// schema that is not available into `schema_unchecked`.
    pub fn read_answer(
        &self,
        kind: Kind,
        doc: &Document,
        root: NodeId,
        req: &LookupRequest,
        doc_id: &str,
    ) -> Outcome {
        let mut outcome = self.get(kind).parse_answer(doc, root, req, doc_id);
        match self.schemas.check(kind, doc, root) {
            SchemaStatus::Valid | SchemaStatus::NotApplicable => {}
            SchemaStatus::Invalid(errors) => outcome.schema_errors = errors,
            SchemaStatus::Unavailable(why) => outcome.schema_unchecked = Some(why),
        }
        outcome
    }

    pub fn get(&self, kind: Kind) -> &dyn Lookup {
        self.lookup(kind)
            .expect("every lookup Kind has a lookup in the registry")
    }

    /// The lookup of `kind`; `None` for `vs`, which has none.
    pub fn lookup(&self, kind: Kind) -> Option<&dyn Lookup> {
        self.lookups
            .iter()
            .find(|l| l.kind() == kind)
            .map(|b| b.as_ref())
    }

    /// The lookup whose request root is `{ns}local` (provider side).
    pub fn by_request_root(&self, ns: &str, local: &str) -> Option<&dyn Lookup> {
        self.lookups
            .iter()
            .find(|l| l.namespace() == ns && l.request_root() == local)
            .map(|b| b.as_ref())
    }

    /// The lookup whose response root is `{ns}local` (consumer side).
    pub fn by_response_root(&self, ns: &str, local: &str) -> Option<&dyn Lookup> {
        self.lookups
            .iter()
            .find(|l| l.namespace() == ns && l.response_root() == local)
            .map(|b| b.as_ref())
    }
}

/// The identifier values of a subject, as a provider would match them.
pub fn subject_identifiers(s: &Subject) -> Vec<String> {
    use crate::request::SubjectId;
    let id = match &s.id {
        SubjectId::Inn(v) => v.to_string(),
        SubjectId::Ogrn(v) => v.to_string(),
        SubjectId::Ogrnip(v) => v.to_string(),
        SubjectId::Snils(v) => v.to_string(),
    };
    vec![id]
}

/// Deserialises the register-specific table of a fixture record.
fn record_data<T: serde::de::DeserializeOwned>(record: &toml::Value) -> Result<T, String> {
    record
        .clone()
        .try_into()
        .map_err(|e: toml::de::Error| e.to_string())
}

/// The failure to report unless an answer's root is `{ns}local` and
/// carries the document id the request was sent with (`id_attr`).
fn check_answer_root(
    doc: &Document,
    root: NodeId,
    (ns, local): (&str, &str),
    id_attr: &str,
    doc_id: &str,
) -> Option<Outcome> {
    let el = doc.element(root);
    if !el.is(ns, local) {
        return Some(Outcome::failed(format!(
            "expected an answer {local} in {ns}, got {el}"
        )));
    }
    match el.attr(id_attr) {
        Some(id) if id == doc_id => None,
        other => Some(Outcome::failed(format!(
            "the answer's {id_attr} {other:?} does not match the request's {doc_id}"
        ))),
    }
}

/// A failure when an answer names another subject than the one asked about.
fn check_subject(req: &LookupRequest, answered: &[Option<&str>]) -> Option<Outcome> {
    let asked = subject_identifiers(&req.subject);
    if answered
        .iter()
        .flatten()
        .any(|a| asked.iter().any(|q| q == a))
    {
        return None;
    }
    Some(Outcome::failed(format!(
        "the answer is about {}, not the requested {}",
        answered
            .iter()
            .flatten()
            .copied()
            .collect::<Vec<_>>()
            .join("/"),
        req.subject.describe()
    )))
}

/// Which identifier of a subject an answer carries (for [`match_subject`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum IdKind {
    Inn,
    Ogrn,
    Ogrnip,
}

/// Whether an answer is about the requested subject: it is when any
/// identifier it carries, wherever its schema puts it, is the one asked
/// for. Only a real mismatch (the answer carries the asked kind of
/// identifier, with other values) is a failure, naming both; an answer that
/// carries none of the asked kind is taken as answering the request (its
/// document id matched) with a note.
fn match_subject(req: &LookupRequest, answered: &[(IdKind, Option<String>)]) -> MatchedSubject {
    use crate::request::SubjectId;
    let (kind, asked) = match &req.subject.id {
        SubjectId::Inn(v) => (IdKind::Inn, v.to_string()),
        SubjectId::Ogrn(v) => (IdKind::Ogrn, v.to_string()),
        SubjectId::Ogrnip(v) => (IdKind::Ogrnip, v.to_string()),
        SubjectId::Snils(v) => return MatchedSubject::Unconfirmed(format!("СНИЛС {v}")),
    };
    let values = || {
        answered
            .iter()
            .filter_map(|(k, v)| Some((*k, v.as_deref()?)))
    };
    if values().any(|(_, v)| v == asked) {
        return MatchedSubject::Yes;
    }
    let same_kind: Vec<&str> = values()
        .filter(|(k, _)| *k == kind)
        .map(|(_, v)| v)
        .collect();
    if same_kind.is_empty() {
        return MatchedSubject::Unconfirmed(req.subject.describe());
    }
    let mut all: Vec<&str> = values().map(|(_, v)| v).collect();
    all.dedup();
    MatchedSubject::No(Box::new(Outcome::failed(format!(
        "the answer is about {}, not the requested {}",
        all.join("/"),
        req.subject.describe()
    ))))
}

enum MatchedSubject {
    Yes,
    /// Nothing in the answer to compare with; the subject as asked.
    Unconfirmed(String),
    No(Box<Outcome>),
}

/// Text of the first child with this local name (ФНС schemas mix namespaces
/// inside one element, so their parsers match on local names).
fn text_local(doc: &Document, id: NodeId, local: &str) -> Option<String> {
    doc.child_local(id, local)
        .map(|c| doc.text(c).trim().to_owned())
}

#[cfg(test)]
mod tests;
