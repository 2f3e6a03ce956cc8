//! The inbound message: one lookup for one case, as a case system publishes
//! it. `schemas/request.schema.json` documents the format; this module is the
//! authority and refuses anything that could not be sent, with a reason that
//! names the field.

pub mod attachments;
mod case_id;
pub mod ident;
mod json;
pub mod vs;

use serde::Serialize;
use time::Date;
use uuid::Uuid;

pub use attachments::{Attachment, AttachmentLimits};
pub use case_id::CaseId;
pub use ident::{Inn, Kpp, Ogrn, Ogrnip, Snils};
use json::Obj;
pub use vs::{VsMessage, VsRequest};

/// The largest message body accepted; a lookup is a few hundred bytes.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// Which register a lookup asks.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// ЕГРЮЛ extract (legal entities), ФНС.
    Egrul,
    /// ЕГРИП extract (individual entrepreneurs), ФНС.
    Egrip,
    /// Tax-debt certificate («задолженность по налогам»), ФНС.
    TaxDebt,
    /// Register of unreliable suppliers (РНП, 44-FZ).
    UnreliableSupplier,
    /// Register of foreign agents, Минюст.
    ForeignAgent,
    /// Any VS, its business XML given as is (not one of [`Kind::ALL`]).
    Vs,
}

impl Kind {
    /// The lookups: the kinds mezhved builds and reads itself.
    pub const ALL: [Kind; 5] = [
        Kind::Egrul,
        Kind::Egrip,
        Kind::TaxDebt,
        Kind::UnreliableSupplier,
        Kind::ForeignAgent,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Egrul => "egrul",
            Kind::Egrip => "egrip",
            Kind::TaxDebt => "tax_debt",
            Kind::UnreliableSupplier => "unreliable_supplier",
            Kind::ForeignAgent => "foreign_agent",
            Kind::Vs => "vs",
        }
    }

    /// One of the lookups by name (`vs` is not one).
    pub fn parse(s: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// Whether the VS lets its request root carry an `Id`, which a personal
    /// signature (ЭП-СП) must reference. The ФНС schemas do not.
    pub fn supports_personal_signature(self) -> bool {
        matches!(self, Kind::UnreliableSupplier | Kind::ForeignAgent)
    }
}

impl std::fmt::Display for Kind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The identifier a lookup is made by.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SubjectId {
    Inn(Inn),
    Ogrn(Ogrn),
    Ogrnip(Ogrnip),
    Snils(Snils),
}

/// Who or what is looked up.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Subject {
    #[serde(flatten)]
    pub id: SubjectId,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kpp: Option<Kpp>,
    /// `foreign_agent`: the subject's name, matched against the register's
    /// older entries that carry no identifier.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

impl Subject {
    /// `ИНН 7707083893`, for tables and logs.
    pub fn describe(&self) -> String {
        let base = match &self.id {
            SubjectId::Inn(v) => format!("ИНН {v}"),
            SubjectId::Ogrn(v) => format!("ОГРН {v}"),
            SubjectId::Ogrnip(v) => format!("ОГРНИП {v}"),
            SubjectId::Snils(v) => format!("СНИЛС {v}"),
        };
        match &self.kpp {
            Some(k) => format!("{base} КПП {k}"),
            None => base,
        }
    }
}

/// The details 210-FZ art. 7.2 requires of an interagency request.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Details {
    pub requesting_body: RequestingBody,
    pub service: Service,
    pub legal_basis: LegalBasis,
    pub official: Official,
    /// Whether the applicant's consent (art. 7 part 5) was obtained.
    pub applicant_consent: bool,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct RequestingBody {
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub inn: Option<Inn>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ogrn: Option<Ogrn>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Service {
    pub name: String,
    /// Number of the service in the register of state services.
    pub registry_number: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct LegalBasis {
    /// The act, with its details («Федеральный закон от … № …»).
    pub act: String,
    pub article: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Official {
    pub name: String,
    pub position: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
}

/// A validated lookup request. Every field holds a value that can be sent.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct LookupRequest {
    pub request_id: Uuid,
    pub case_id: CaseId,
    pub kind: Kind,
    pub subject: Subject,
    #[serde(
        skip_serializing_if = "Option::is_none",
        with = "crate::clock::opt_date"
    )]
    pub as_of: Option<Date>,
    pub test: bool,
    /// Sign the business content with the official's key too (ЭП-СП).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub personal_signature: bool,
    pub details: Details,
    /// Files sent with the request (`attachments`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub attachments: Vec<Attachment>,
}

/// Why a message was refused: a machine-readable code, the JSON path of the
/// field (empty for the whole message) and a sentence for the operator.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, serde::Deserialize, thiserror::Error)]
#[error("{code} at {field}: {message}")]
pub struct Invalid {
    pub code: InvalidCode,
    pub field: String,
    pub message: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InvalidCode {
    /// The body is not JSON (or not UTF-8).
    MalformedJson,
    /// The body is larger than [`MAX_BODY_BYTES`].
    TooLarge,
    MissingField,
    UnknownField,
    WrongType,
    /// The value has the wrong format or is out of range.
    InvalidValue,
    /// An identifier fails its check digits.
    InvalidCheckDigit,
    /// The case id could escape the case directory or is not a case number.
    UnsafeCaseId,
    /// An attachment's `path` leaves the gateway's inbox (`..`, absolute,
    /// or a link pointing out of it).
    UnsafePath,
    /// An attachment's file is not in the gateway's inbox (or is no
    /// regular file).
    FileNotFound,
    /// The `request_id` was already used for another case, or for
    /// another request in the same case.
    RequestIdReused,
    /// A key appears twice in one JSON object.
    DuplicateKey,
    /// The AMQP `reply_to` names one of mezhved's own queues.
    UnsafeReplyTo,
    /// The business XML of a `vs` request fails the schema configured for
    /// its namespace (`[vs.schemas]`).
    SchemaViolation,
}

impl InvalidCode {
    pub fn as_str(self) -> &'static str {
        match self {
            InvalidCode::MalformedJson => "malformed_json",
            InvalidCode::TooLarge => "too_large",
            InvalidCode::MissingField => "missing_field",
            InvalidCode::UnknownField => "unknown_field",
            InvalidCode::WrongType => "wrong_type",
            InvalidCode::InvalidValue => "invalid_value",
            InvalidCode::InvalidCheckDigit => "invalid_check_digit",
            InvalidCode::UnsafeCaseId => "unsafe_case_id",
            InvalidCode::RequestIdReused => "request_id_reused",
            InvalidCode::DuplicateKey => "duplicate_key",
            InvalidCode::UnsafeReplyTo => "unsafe_reply_to",
            InvalidCode::SchemaViolation => "schema_violation",
            InvalidCode::UnsafePath => "unsafe_path",
            InvalidCode::FileNotFound => "file_not_found",
        }
    }
}

impl std::fmt::Display for InvalidCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Invalid {
    pub(crate) fn new(
        code: InvalidCode,
        field: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        Invalid {
            code,
            field: field.into(),
            message: message.into(),
        }
    }
}

/// A validated request of any kind: a lookup, or a `vs` request carrying
/// its own business XML.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(untagged)]
// A request is made once per message and moved, not kept in bulk.
#[allow(clippy::large_enum_variant)]
pub enum Request {
    Lookup(Box<LookupRequest>),
    Vs(VsRequest),
}

impl From<LookupRequest> for Request {
    fn from(r: LookupRequest) -> Self {
        Request::Lookup(Box::new(r))
    }
}

impl Request {
    pub fn request_id(&self) -> Uuid {
        match self {
            Request::Lookup(r) => r.request_id,
            Request::Vs(r) => r.request_id,
        }
    }

    pub fn case_id(&self) -> &CaseId {
        match self {
            Request::Lookup(r) => &r.case_id,
            Request::Vs(r) => &r.case_id,
        }
    }

    pub fn kind(&self) -> Kind {
        match self {
            Request::Lookup(r) => r.kind,
            Request::Vs(_) => Kind::Vs,
        }
    }

    pub fn test(&self) -> bool {
        match self {
            Request::Lookup(r) => r.test,
            Request::Vs(r) => r.test,
        }
    }

    /// What is asked, for logs and tables: the subject, or the VS.
    pub fn describe(&self) -> String {
        match self {
            Request::Lookup(r) => r.subject.describe(),
            Request::Vs(r) => r.vs.describe(),
        }
    }

    /// The files sent with the request.
    pub fn attachments(&self) -> &[Attachment] {
        match self {
            Request::Lookup(r) => &r.attachments,
            Request::Vs(r) => &r.attachments,
        }
    }
}

/// Bounds that come from the configuration.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// The largest business XML of a `vs` request (`vs.max_content_bytes`).
    pub vs_max_content_bytes: usize,
    /// Attachments (`[attachments]`).
    pub attachments: AttachmentLimits,
}

impl Limits {
    /// What a stored request is read back with: it passed the configured
    /// bounds once, and a lowered setting must not make it unreadable.
    pub const STORED: Limits = Limits {
        vs_max_content_bytes: vs::HARD_MAX_CONTENT_BYTES,
        attachments: AttachmentLimits::STORED,
    };

    /// The largest message body: a lookup's, or a `vs` request's business
    /// XML with room for the JSON around it.
    fn max_body(&self) -> usize {
        MAX_BODY_BYTES.max(self.vs_max_content_bytes.saturating_mul(2) + MAX_BODY_BYTES)
            + self.attachments.body_allowance()
    }

    /// A lookup's body: its fields, and room for inline attachments.
    fn max_lookup_body(&self) -> usize {
        MAX_BODY_BYTES + self.attachments.body_allowance()
    }
}

fn too_large(size: usize, limit: usize) -> Invalid {
    Invalid::new(
        InvalidCode::TooLarge,
        "",
        format!("message of {size} bytes exceeds the limit of {limit} bytes"),
    )
}

/// The body as JSON, refusing what two readers could read differently
/// (a key given twice).
fn json_value(body: &[u8]) -> Result<serde_json::Value, Invalid> {
    json::parse_strict(body)
}

/// Parses and validates one message body of any kind. `today` bounds
/// `as_of`; a lookup's body is at most [`MAX_BODY_BYTES`], a `vs`
/// request's business XML at most `limits.vs_max_content_bytes`.
pub fn parse(body: &[u8], today: Date, limits: &Limits) -> Result<Request, Invalid> {
    if body.len() > limits.max_body() {
        return Err(too_large(body.len(), limits.max_body()));
    }
    let value = json_value(body)?;
    let root = Obj::root(&value)?;
    if root.opt_str("kind")? != Some("vs") {
        if body.len() > limits.max_lookup_body() {
            return Err(too_large(body.len(), limits.max_lookup_body()));
        }
        let mut req = lookup_from(&root, today)?;
        req.attachments = attachments::parse(&root, &limits.attachments)?;
        return Ok(Request::from(req));
    }
    let (request_id, case_id) = ids(&root)?;
    let mut req = vs::parse(&root, request_id, case_id, limits.vs_max_content_bytes)?;
    req.attachments = attachments::parse(&root, &limits.attachments)?;
    Ok(Request::Vs(req))
}

/// Parses and validates one lookup message body. `today` bounds `as_of`.
pub fn parse_request(body: &[u8], today: Date) -> Result<LookupRequest, Invalid> {
    if body.len() > MAX_BODY_BYTES {
        return Err(too_large(body.len(), MAX_BODY_BYTES));
    }
    let value = json_value(body)?;
    let root = Obj::root(&value)?;
    let mut req = lookup_from(&root, today)?;
    req.attachments = attachments::parse(&root, &AttachmentLimits::STORED)?;
    Ok(req)
}

/// The request id and the case id every request carries.
fn ids(root: &Obj<'_>) -> Result<(Uuid, CaseId), Invalid> {
    let s = root.req_str("request_id")?;
    let id = Uuid::parse_str(s).map_err(|_| {
        root.invalid(
            "request_id",
            "must be a UUID such as 6f1c1e1a-2c3b-4d5e-8f90-123456789abc",
        )
    })?;
    if id.is_nil() {
        return Err(root.invalid("request_id", "must not be the nil UUID"));
    }
    let case_id = CaseId::parse(root.req_str("case_id")?)
        .map_err(|m| Invalid::new(InvalidCode::UnsafeCaseId, "case_id", m))?;
    Ok((id, case_id))
}

fn lookup_from(root: &Obj<'_>, today: Date) -> Result<LookupRequest, Invalid> {
    root.allow_only(&[
        "request_id",
        "case_id",
        "kind",
        "subject",
        "as_of",
        "test",
        "personal_signature",
        "details",
        "attachments",
    ])?;

    let (request_id, case_id) = ids(root)?;
    let kind_str = root.req_str("kind")?;
    let kind = Kind::parse(kind_str).ok_or_else(|| {
        root.invalid(
            "kind",
            format!(
                "unknown kind {kind_str:?}; expected one of egrul, egrip, tax_debt, unreliable_supplier, foreign_agent, vs"
            ),
        )
    })?;
    let subject = parse_subject(kind, &root.req_obj("subject")?)?;
    let as_of = match root.opt_str("as_of")? {
        None => None,
        Some(s) => {
            if !matches!(kind, Kind::TaxDebt | Kind::UnreliableSupplier) {
                return Err(root.invalid(
                    "as_of",
                    "as_of applies only to kinds tax_debt and unreliable_supplier",
                ));
            }
            let format = time::macros::format_description!("[year]-[month]-[day]");
            let d = Date::parse(s, format)
                .map_err(|_| root.invalid("as_of", "must be a date YYYY-MM-DD"))?;
            if d > today {
                return Err(root.invalid("as_of", format!("{d} is in the future")));
            }
            if d.year() < 2000 {
                return Err(root.invalid("as_of", "must not be before 2000"));
            }
            Some(d)
        }
    };
    let test = root.opt_bool("test")?.unwrap_or(false);
    let personal_signature = root.opt_bool("personal_signature")?.unwrap_or(false);
    if personal_signature && !kind.supports_personal_signature() {
        return Err(root.invalid(
            "personal_signature",
            format!(
                "the {kind} VS gives its request no Id attribute, so a personal signature (ЭП-СП) cannot reference it"
            ),
        ));
    }
    let details = parse_details(kind, &root.req_obj("details")?)?;
    Ok(LookupRequest {
        request_id,
        case_id,
        kind,
        subject,
        as_of,
        test,
        personal_signature,
        details,
        attachments: Vec::new(),
    })
}

fn ident<T>(
    obj: &Obj<'_>,
    key: &str,
    parse: impl Fn(&str) -> Result<T, ident::IdentError>,
) -> Result<Option<T>, Invalid> {
    match obj.opt_str(key)? {
        None => Ok(None),
        Some(s) => parse(s).map(Some).map_err(|e| {
            let code = if e.check_digit {
                InvalidCode::InvalidCheckDigit
            } else {
                InvalidCode::InvalidValue
            };
            Invalid::new(code, obj.path(key), e.message)
        }),
    }
}

fn parse_subject(kind: Kind, obj: &Obj<'_>) -> Result<Subject, Invalid> {
    let (allowed, hint): (&[&str], &str) = match kind {
        Kind::Egrul => (&["ogrn", "inn"], "ogrn (13 digits) or inn (10 digits)"),
        Kind::Egrip => (&["ogrnip", "inn"], "ogrnip (15 digits) or inn (12 digits)"),
        Kind::TaxDebt => (&["inn"], "inn (10 or 12 digits)"),
        Kind::UnreliableSupplier => (&["inn", "kpp"], "inn (10 or 12 digits), optionally kpp"),
        Kind::ForeignAgent => (
            &["inn", "ogrn", "snils", "name"],
            "one of inn, ogrn or snils (and optionally name)",
        ),
        // Read by `vs::parse`: its subject is inside its business XML.
        Kind::Vs => (&[], "no subject"),
    };
    obj.allow_only(allowed)?;
    let inn_parser = match kind {
        Kind::Egrul => Inn::parse_legal,
        Kind::Egrip => Inn::parse_individual,
        _ => Inn::parse,
    };
    let mut ids = Vec::new();
    if let Some(v) = ident(obj, "inn", inn_parser)? {
        ids.push(SubjectId::Inn(v));
    }
    if let Some(v) = ident(obj, "ogrn", Ogrn::parse)? {
        ids.push(SubjectId::Ogrn(v));
    }
    if let Some(v) = ident(obj, "ogrnip", Ogrnip::parse)? {
        ids.push(SubjectId::Ogrnip(v));
    }
    if let Some(v) = ident(obj, "snils", Snils::parse)? {
        ids.push(SubjectId::Snils(v));
    }
    let kpp = ident(obj, "kpp", Kpp::parse)?;
    let name = match kind {
        Kind::ForeignAgent => obj.opt_text("name", 1000)?,
        _ => None,
    };
    let id = match ids.len() {
        1 => ids.pop().expect("one element"),
        0 => {
            return Err(Invalid::new(
                InvalidCode::MissingField,
                obj.prefix(),
                format!("a {kind} subject needs {hint}"),
            ));
        }
        _ => {
            return Err(Invalid::new(
                InvalidCode::InvalidValue,
                obj.prefix(),
                format!("give exactly one identifier: {hint}"),
            ));
        }
    };
    if let (Some(_), SubjectId::Inn(inn)) = (&kpp, &id)
        && !inn.is_legal()
    {
        return Err(Invalid::new(
            InvalidCode::InvalidValue,
            obj.path("kpp"),
            "a КПП belongs to an organisation; it cannot go with a 12-digit ИНН",
        ));
    }
    Ok(Subject { id, kpp, name })
}

fn parse_details(kind: Kind, obj: &Obj<'_>) -> Result<Details, Invalid> {
    obj.allow_only(&[
        "requesting_body",
        "service",
        "legal_basis",
        "official",
        "applicant_consent",
    ])?;

    let body = obj.req_obj("requesting_body")?;
    body.allow_only(&["name", "inn", "ogrn"])?;
    let requesting_body = RequestingBody {
        name: body.req_text("name", 1000)?,
        inn: ident(&body, "inn", Inn::parse_legal)?,
        ogrn: ident(&body, "ogrn", Ogrn::parse)?,
    };
    // ФНС's tax-debt request names the requesting organisation by ИНН and ОГРН.
    if kind == Kind::TaxDebt {
        for key in ["inn", "ogrn"] {
            if body.opt_str(key)?.is_none() {
                return Err(Invalid::new(
                    InvalidCode::MissingField,
                    body.path(key),
                    format!(
                        "a tax_debt request must name the requesting body's {}",
                        key.to_uppercase()
                    ),
                ));
            }
        }
    }

    let service = obj.req_obj("service")?;
    service.allow_only(&["name", "registry_number"])?;
    let registry_number = service.req_text("registry_number", 30)?;
    if !registry_number.bytes().all(|b| b.is_ascii_digit()) {
        return Err(service.invalid(
            "registry_number",
            "the registry number of a state service is digits only",
        ));
    }
    let service = Service {
        name: service.req_text("name", 1000)?,
        registry_number,
    };

    let basis = obj.req_obj("legal_basis")?;
    basis.allow_only(&["act", "article"])?;
    let legal_basis = LegalBasis {
        act: basis.req_text("act", 1000)?,
        article: basis.req_text("article", 200)?,
    };

    let off = obj.req_obj("official")?;
    off.allow_only(&["name", "position", "phone", "email"])?;
    let phone = off.opt_text("phone", 32)?;
    if let Some(p) = &phone {
        let digits = p.chars().filter(char::is_ascii_digit).count();
        if digits < 5 || !p.chars().all(|c| c.is_ascii_digit() || " +-()".contains(c)) {
            return Err(off.invalid(
                "phone",
                "a phone number is digits with optional + - ( ) and spaces",
            ));
        }
    }
    let email = off.opt_text("email", 254)?;
    if let Some(e) = &email {
        let ok = matches!(e.split_once('@'), Some((l, d)) if !l.is_empty() && d.contains('.') && !d.contains('@'))
            && !e.contains(char::is_whitespace);
        if !ok {
            return Err(off.invalid("email", format!("{e:?} is not an e-mail address")));
        }
    }
    if phone.is_none() && email.is_none() {
        return Err(Invalid::new(
            InvalidCode::MissingField,
            off.prefix(),
            "art. 7.2 requires the official's phone or e-mail for the answer",
        ));
    }
    let official = Official {
        name: off.req_text("name", 300)?,
        position: off.req_text("position", 300)?,
        phone,
        email,
    };
    let applicant_consent = obj.opt_bool("applicant_consent")?.ok_or_else(|| {
        Invalid::new(
            InvalidCode::MissingField,
            obj.path("applicant_consent"),
            "say whether the applicant's consent was obtained (true or false)",
        )
    })?;

    Ok(Details {
        requesting_body,
        service,
        legal_basis,
        official,
        applicant_consent,
    })
}

#[cfg(test)]
mod tests;
