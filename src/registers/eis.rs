//! РНП through ЕИС (zakupki.gov.ru): the document service
//! `WebServiceDocsRNP` (operation `getRNPObjectList` of `docs-ws-api.xsd`,
//! schema set 10.2) asked by ИНН and КПП, its answer an `objectList` of
//! `objectInfo`s, each carrying one published register document in
//! `content` (base64): an `export` with `unfairSupplier`
//! (`zfcs_unfairSupplierType`, `IntegrationTypes.xsd`) or the newer
//! `unfairSupplier2022`. A failure is `errorInfo` (`code`, `message`),
//! a refused access token among them.
//!
//! The same reader serves the snapshot: ЕИС publishes the register's
//! documents as ZIP archives of those `export` documents.
//!
//! Names follow the official schemas exactly; mezhved's own copy of what it
//! sends and reads is `schemas/eis/` (each type names the official one).

use base64::Engine as _;
use futures_util::future::BoxFuture;

use super::rnp::RnpRecord;
use super::{Exchange, Query, RegisterSource, Route, SourceClient, SourceError, moscow_date};
use crate::lookup::{Outcome, RejectedBy, SourceRef};
use crate::request::SubjectId;
use crate::xml::{self, Document, NodeId, NsDecl};

pub const SOAP_NS: &str = "http://schemas.xmlsoap.org/soap/envelope/";
/// `docs-ws-api.xsd`: the document service's messages.
pub const WS_NS: &str = "http://zakupki.gov.ru/fz44/ws/priz";
/// `IntegrationTypes.xsd`: the documents' content.
pub const TYPES_NS: &str = "http://zakupki.gov.ru/oos/types/1";
/// `fcsExport.xsd`: the `export` wrapper of a published document.
pub const EXPORT_NS: &str = "http://zakupki.gov.ru/oos/export/1";
/// `WebServiceDocsRNP.wsdl`.
pub const SOAP_ACTION: &str = "http://zakupki.gov.ru/fz44/ws/priz/get-rnp-object-list";
/// The HTTP header carrying the access token (kept out of the envelope, so
/// the envelope stored in the case file is byte for byte what was sent and
/// holds no secret).
pub const TOKEN_HEADER: &str = "individualPerson_token";
/// `base:wsPartnerType`.
pub const SENDER_TYPES: [&str; 9] = [
    "OOS", "GIIS_EB", "RMIS", "OVK", "OA", "KO", "FAS", "SMEV3", "VSRZ",
];
/// The schema version mezhved writes when it renders documents (emulator).
pub const SCHEME_VERSION: &str = "10.2";

/// The largest published document read from one `content` (or one ZIP entry).
pub const MAX_DOCUMENT_BYTES: usize = 4 * 1024 * 1024;

/// `getRNPObjectListRequest` in a SOAP 1.1 envelope. The official `kppType`
/// of the request is digits only, so a КПП with letters (allowed by ФНС's
/// pattern) is left out and checked against the records instead.
pub fn request_envelope(sender: &str, sender_type: &str, inn: &str, kpp: Option<&str>) -> Document {
    let mut doc = Document::new(Some("soapenv"), "Envelope", Some(SOAP_NS));
    let root = doc.root();
    doc.append_element(root, Some("soapenv"), "Header", Some(SOAP_NS));
    let body = doc.append_element(root, Some("soapenv"), "Body", Some(SOAP_NS));
    let req = doc.append_element(body, Some("ws"), "getRNPObjectListRequest", Some(WS_NS));
    // elementFormDefault="unqualified": the children are in no namespace.
    doc.append_text_element(req, None, "sender", None, sender);
    doc.append_text_element(req, None, "senderType", None, sender_type);
    doc.append_text_element(req, None, "INN", None, inn);
    if let Some(k) = kpp.filter(|k| k.bytes().all(|b| b.is_ascii_digit())) {
        doc.append_text_element(req, None, "KPP", None, k);
    }
    doc
}

/// What the service asked about (provider side: the emulator).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RnpQuery {
    pub sender: String,
    pub sender_type: String,
    pub inn: String,
    pub kpp: Option<String>,
}

/// The body element of a SOAP 1.1 envelope.
pub fn body_child(doc: &Document) -> Result<NodeId, String> {
    let root = doc.root();
    if !doc.element(root).is(SOAP_NS, "Envelope") {
        return Err(format!(
            "expected a SOAP 1.1 Envelope, got {}",
            doc.element(root)
        ));
    }
    let body = doc
        .child(root, SOAP_NS, "Body")
        .ok_or("the envelope has no Body")?;
    doc.child_elements(body)
        .next()
        .ok_or_else(|| "the Body is empty".to_owned())
}

fn unqualified(doc: &Document, parent: NodeId, local: &str) -> Option<String> {
    doc.child_elements(parent)
        .find(|c| {
            let e = doc.element(*c);
            e.ns.is_none() && e.local == local
        })
        .map(|c| doc.text(c).trim().to_owned())
}

/// Reads a `getRNPObjectListRequest` (the emulator's side).
pub fn read_request(doc: &Document) -> Result<RnpQuery, String> {
    let req = body_child(doc)?;
    if !doc.element(req).is(WS_NS, "getRNPObjectListRequest") {
        return Err(format!(
            "expected getRNPObjectListRequest, got {}",
            doc.element(req)
        ));
    }
    let get = |n: &str| unqualified(doc, req, n).filter(|s| !s.is_empty());
    Ok(RnpQuery {
        sender: get("sender").ok_or("sender is missing")?,
        sender_type: get("senderType").ok_or("senderType is missing")?,
        inn: get("INN").ok_or("INN is missing")?,
        kpp: get("KPP"),
    })
}

/// One `objectInfo` of the answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectInfo {
    pub publish_date: String,
    pub version_number: String,
    pub reg_number: String,
    pub scheme_version: String,
    /// The document, decoded.
    pub content: Vec<u8>,
}

/// What the service answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RnpAnswer {
    Error { code: String, message: String },
    Objects(Vec<ObjectInfo>),
}

/// Reads a `getRNPObjectListResponse`.
pub fn read_response(doc: &Document) -> Result<RnpAnswer, String> {
    let resp = body_child(doc)?;
    let el = doc.element(resp);
    if el.is(SOAP_NS, "Fault") {
        let text = doc
            .child_elements(resp)
            .find(|c| doc.element(*c).local == "faultstring")
            .map(|c| doc.text(c))
            .unwrap_or_default();
        return Ok(RnpAnswer::Error {
            code: "soap:Fault".into(),
            message: text.trim().to_owned(),
        });
    }
    if !el.is(WS_NS, "getRNPObjectListResponse") {
        return Err(format!("expected getRNPObjectListResponse, got {el}"));
    }
    let child = |parent: NodeId, local: &str| {
        doc.child_elements(parent).find(|c| {
            let e = doc.element(*c);
            e.ns.is_none() && e.local == local
        })
    };
    if let Some(err) = child(resp, "errorInfo") {
        return Ok(RnpAnswer::Error {
            code: unqualified(doc, err, "code").unwrap_or_default(),
            message: unqualified(doc, err, "message").unwrap_or_default(),
        });
    }
    let list =
        child(resp, "objectList").ok_or("the answer has neither errorInfo nor objectList")?;
    let b64 = base64::engine::general_purpose::STANDARD;
    let mut objects = Vec::new();
    for info in doc.child_elements(list) {
        if doc.element(info).local != "objectInfo" {
            continue;
        }
        let get = |n: &str| unqualified(doc, info, n).unwrap_or_default();
        let encoded: String = get("content")
            .chars()
            .filter(|c| !c.is_whitespace())
            .collect();
        if encoded.len() > MAX_DOCUMENT_BYTES / 3 * 4 + 4 {
            return Err(format!(
                "document {} exceeds {MAX_DOCUMENT_BYTES} bytes",
                get("regNumber")
            ));
        }
        let content = b64
            .decode(encoded.as_bytes())
            .map_err(|e| format!("document {}: content is not base64: {e}", get("regNumber")))?;
        objects.push(ObjectInfo {
            publish_date: get("publishDate"),
            version_number: get("versionNumber"),
            reg_number: get("regNumber"),
            scheme_version: get("schemeVersion"),
            content,
        });
    }
    Ok(RnpAnswer::Objects(objects))
}

/// What a published document holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Published {
    Record(RnpRecord),
    /// A document of another type (`unfairSupplier2022Exclude`,
    /// `unfairSupplierIKZ`…): mezhved does not read it, and says so.
    Unread(String),
}

/// Reads one published document (an `export` with `unfairSupplier` or
/// `unfairSupplier2022`).
pub fn read_document(bytes: &[u8]) -> Result<Published, String> {
    let doc = xml::parse(bytes).map_err(|e| format!("not readable XML: {e}"))?;
    read_parsed_document(&doc)
}

/// [`read_document`] of a document already parsed (one parse when it is
/// also checked against the schema).
pub fn read_parsed_document(doc: &Document) -> Result<Published, String> {
    let root = doc.root();
    let el = doc.element(root);
    let inner = if el.is(EXPORT_NS, "export") {
        doc.child_elements(root)
            .next()
            .ok_or("the export document is empty")?
    } else {
        root
    };
    let local = doc.element(inner).local.clone();
    match local.as_str() {
        "unfairSupplier" => Ok(Published::Record(read_unfair_supplier(doc, inner))),
        "unfairSupplier2022" => Ok(Published::Record(read_unfair_supplier_2022(doc, inner))),
        other => Ok(Published::Unread(other.to_owned())),
    }
}

/// `zfcs_unfairSupplierType` (IntegrationTypes.xsd, schema set 10.2).
fn read_unfair_supplier(doc: &Document, rec: NodeId) -> RnpRecord {
    let t = |parent: NodeId, local: &str| {
        doc.child_text(parent, TYPES_NS, local)
            .map(|s| s.trim().to_owned())
            .filter(|s| !s.is_empty())
    };
    let supplier = doc.child(rec, TYPES_NS, "unfairSupplier");
    let exclude = doc.child(rec, TYPES_NS, "exclude");
    let auto = doc.child(rec, TYPES_NS, "autoExDateInfo");
    // Schema sets before 7.0 called the reason `reason`.
    let reason = t(rec, "createReason").or_else(|| t(rec, "reason"));
    let basis = [reason, t(rec, "approveReason")]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join(": ");
    RnpRecord {
        registry_number: t(rec, "registryNum").unwrap_or_default(),
        name: supplier.and_then(|s| t(s, "fullName")).unwrap_or_default(),
        inn: supplier.and_then(|s| t(s, "inn")),
        kpp: supplier.and_then(|s| t(s, "kpp")),
        state: t(rec, "state").unwrap_or_default(),
        included_on: t(rec, "approveDate").as_deref().and_then(moscow_date),
        basis,
        excluded_on: exclude
            .and_then(|x| t(x, "excludeDate"))
            .as_deref()
            .and_then(moscow_date),
        exclusion_kind: exclude.and_then(|x| t(x, "type")),
        automatic_exclusion_on: auto
            .and_then(|a| t(a, "autoExDate"))
            .or_else(|| t(rec, "autoExDate"))
            .as_deref()
            .and_then(moscow_date),
        published_at: t(rec, "publishDate"),
    }
}

/// `unfairSupplier2022`. No official schema of it is public; its element
/// names are read by local name as ЕИС's own documents spell them
/// (`commonInfo/regNumber`, `unfairSupplierInfo/*/INN`, `autoExDateInfo`…).
fn read_unfair_supplier_2022(doc: &Document, rec: NodeId) -> RnpRecord {
    let t = |parent: NodeId, local: &str| {
        doc.child_local(parent, local)
            .map(|c| doc.text(c).trim().to_owned())
            .filter(|s| !s.is_empty())
    };
    let common = doc.child_local(rec, "commonInfo");
    let supplier_info = doc.child_local(rec, "unfairSupplierInfo");
    let supplier = supplier_info.and_then(|s| {
        [
            "legalEntityRFInfo",
            "individualRFInfo",
            "foreignOrgInfo",
            "IPInfo",
        ]
        .iter()
        .find_map(|n| doc.child_local(s, n))
    });
    let reason = doc
        .child_local(rec, "createReasonInfo")
        .and_then(|c| t(c, "createReason"));
    let included = t(rec, "approveDate")
        .or_else(|| common.and_then(|c| t(c, "approveDate")))
        .or_else(|| common.and_then(|c| t(c, "firstVersionPublishDT")));
    RnpRecord {
        registry_number: common.and_then(|c| t(c, "regNumber")).unwrap_or_default(),
        name: supplier.and_then(|s| t(s, "fullName")).unwrap_or_default(),
        inn: supplier.and_then(|s| t(s, "INN")),
        kpp: supplier.and_then(|s| t(s, "KPP")),
        state: String::new(),
        included_on: included.as_deref().and_then(moscow_date),
        basis: reason.unwrap_or_default(),
        excluded_on: None,
        exclusion_kind: None,
        automatic_exclusion_on: doc
            .child_local(rec, "autoExDateInfo")
            .and_then(|a| t(a, "autoExDate"))
            .as_deref()
            .and_then(moscow_date),
        published_at: common.and_then(|c| t(c, "publishDT")),
    }
}

/// The records of an answer about `inn`, and the outcome when the answer
/// cannot be used as it is.
pub fn records_of(
    objects: &[ObjectInfo],
    inn: &str,
    kpp: Option<&str>,
) -> Result<Vec<RnpRecord>, Box<Outcome>> {
    let mut records = Vec::new();
    let mut unread = Vec::new();
    for o in objects {
        match read_document(&o.content) {
            Ok(Published::Record(r)) => {
                if r.inn.as_deref() != Some(inn) {
                    return Err(Box::new(Outcome::failed(format!(
                        "ЕИС answered with document {} about ИНН {}, not the requested {inn}",
                        o.reg_number,
                        r.inn.as_deref().unwrap_or("(none)")
                    ))));
                }
                // A КПП asked about but left out of the request (letters).
                if let (Some(k), Some(rk)) = (kpp, r.kpp.as_deref())
                    && k != rk
                {
                    continue;
                }
                records.push(r);
            }
            Ok(Published::Unread(kind)) => unread.push(format!("{} ({kind})", o.reg_number)),
            Err(e) => {
                return Err(Box::new(Outcome::failed(format!(
                    "ЕИС document {} cannot be read: {e}",
                    o.reg_number
                ))));
            }
        }
    }
    if !unread.is_empty() {
        return Err(Box::new(Outcome::unknown(format!(
            "ЕИС answered with documents mezhved does not read: {}; check them in the register",
            unread.join(", ")
        ))));
    }
    Ok(latest_versions(records))
}

/// One record per registry number: the latest published version.
pub fn latest_versions(mut records: Vec<RnpRecord>) -> Vec<RnpRecord> {
    records.sort_by(|a, b| {
        (a.registry_number.as_str(), a.published_at.as_deref())
            .cmp(&(b.registry_number.as_str(), b.published_at.as_deref()))
    });
    let mut out: Vec<RnpRecord> = Vec::new();
    for r in records {
        match out.last_mut() {
            Some(last) if last.registry_number == r.registry_number => *last = r,
            _ => out.push(r),
        }
    }
    out
}

/// A checker of documents against the schema set (`schemas/eis`):
/// violations, empty when valid.
pub type Validator = std::sync::Arc<dyn Fn(&Document, NodeId) -> Vec<String> + Send + Sync>;

/// The ЕИС document service.
pub struct EisSource {
    client: SourceClient,
    endpoint: String,
    sender: String,
    sender_type: String,
    token: Option<String>,
    lookback: u32,
    validator: Option<Validator>,
}

impl EisSource {
    pub fn new(
        settings: &super::RegistersSettings,
        client: SourceClient,
        lookback: u32,
    ) -> Result<Self, String> {
        Ok(EisSource {
            client,
            endpoint: settings.eis.endpoint.clone(),
            sender: settings.eis.sender.clone(),
            sender_type: settings.eis.sender_type.clone(),
            token: settings.eis_token()?,
            lookback,
            validator: super::schema::eis_validator(),
        })
    }

    fn violations(&self, doc: &Document, el: NodeId) -> Vec<String> {
        self.validator
            .as_ref()
            .map(|v| v(doc, el))
            .unwrap_or_default()
    }

    async fn ask(&self, q: &Query, wait: bool) -> Result<Exchange, SourceError> {
        let SubjectId::Inn(inn) = &q.subject.id else {
            return Err(SourceError::Failed("ЕИС is asked by ИНН only".into()));
        };
        let kpp = q.subject.kpp.as_ref().map(|k| k.as_str());
        let envelope = request_envelope(&self.sender, &self.sender_type, inn.as_str(), kpp);
        let body = body_child(&envelope).map_err(SourceError::Failed)?;
        let wrong = self.violations(&envelope, body);
        if !wrong.is_empty() {
            return Err(SourceError::Failed(format!(
                "the getRNPObjectList request fails the ЕИС schema: {}",
                wrong.join("; ")
            )));
        }
        let sent = xml::to_bytes(&envelope);
        let mut req = self
            .client
            .http()
            .post(&self.endpoint)
            .header("Content-Type", "text/xml; charset=utf-8")
            .header("SOAPAction", format!("\"{SOAP_ACTION}\""))
            .body(sent.clone());
        if let Some(t) = &self.token {
            req = req.header(TOKEN_HEADER, t);
        }
        let at = crate::clock::now();
        let answer = self.client.send(req, wait).await?;
        let looks_soap = answer
            .body
            .windows(8)
            .take(512)
            .any(|w| w.eq_ignore_ascii_case(b"envelope"));
        if !(answer.status == 200 || (answer.status == 500 && looks_soap)) {
            return Err(SourceError::Failed(format!(
                "ЕИС answered HTTP {} without a SOAP message: {}",
                answer.status,
                super::http::excerpt(&answer.body)
            )));
        }
        let (outcome, register_date) = self.judge(&answer.body, q, inn.as_str(), kpp);
        let mut outcome = outcome;
        outcome.source = Some(Box::new(SourceRef {
            register: Route::Eis.as_str().into(),
            url: self.endpoint.clone(),
            as_of: register_date.clone(),
        }));
        Ok(Exchange {
            route: Route::Eis,
            url: self.endpoint.clone(),
            at,
            register_date,
            documents: vec![
                (super::REQUEST_XML, sent),
                (super::RESPONSE_XML, answer.body),
            ],
            outcome,
        })
    }

    /// The verdict on an answer's bytes, and the register's date (the
    /// latest publication among its documents).
    fn judge(
        &self,
        body: &[u8],
        q: &Query,
        inn: &str,
        kpp: Option<&str>,
    ) -> (Outcome, Option<String>) {
        let doc = match xml::parse(body) {
            Ok(d) => d,
            Err(e) => {
                return (
                    Outcome::failed(format!("ЕИС answered unreadable XML: {e}")),
                    None,
                );
            }
        };
        if let Ok(el) = body_child(&doc) {
            let wrong = self.violations(&doc, el);
            if !wrong.is_empty() && !doc.element(el).is(SOAP_NS, "Fault") {
                return (
                    Outcome::failed(format!(
                        "ЕИС's answer fails the official schema: {}",
                        wrong.join("; ")
                    )),
                    None,
                );
            }
        }
        let objects = match read_response(&doc) {
            Ok(RnpAnswer::Error { code, message }) => {
                return (Outcome::rejected(RejectedBy::Agency, code, message), None);
            }
            Ok(RnpAnswer::Objects(o)) => o,
            Err(e) => return (Outcome::failed(format!("ЕИС's answer: {e}")), None),
        };
        for o in &objects {
            if let Ok(d) = xml::parse(&o.content) {
                let wrong = self.violations(&d, d.root());
                if !wrong.is_empty() {
                    return (
                        Outcome::failed(format!(
                            "ЕИС document {} fails the official schema: {}",
                            o.reg_number,
                            wrong.join("; ")
                        )),
                        None,
                    );
                }
            }
        }
        let date = objects.iter().map(|o| o.publish_date.clone()).max();
        match records_of(&objects, inn, kpp) {
            Ok(records) => (super::rnp::assess(&records, q.as_of, self.lookback), date),
            Err(o) => (*o, date),
        }
    }
}

impl RegisterSource for EisSource {
    fn route(&self) -> Route {
        Route::Eis
    }

    fn lookup<'a>(
        &'a self,
        q: &'a Query,
        wait: bool,
    ) -> BoxFuture<'a, Result<Exchange, SourceError>> {
        Box::pin(self.ask(q, wait))
    }

    fn breaker(&self) -> Option<&crate::provider::Breaker> {
        Some(self.client.breaker())
    }
}

// --- provider side (the emulator), from the same fixture data ---

/// `getRNPObjectListResponse` with these documents.
pub fn render_response(objects: &[ObjectInfo]) -> Document {
    let (mut doc, resp) = response_shell();
    let list = doc.append_element(resp, None, "objectList", None);
    let b64 = base64::engine::general_purpose::STANDARD;
    for o in objects {
        let info = doc.append_element(list, None, "objectInfo", None);
        doc.append_text_element(info, None, "publishDate", None, &o.publish_date);
        doc.append_text_element(info, None, "versionNumber", None, &o.version_number);
        doc.append_text_element(info, None, "regNumber", None, &o.reg_number);
        doc.append_text_element(info, None, "schemeVersion", None, &o.scheme_version);
        doc.append_text_element(info, None, "content", None, &b64.encode(&o.content));
    }
    doc
}

/// `getRNPObjectListResponse` with `errorInfo`.
pub fn render_error(code: &str, message: &str) -> Document {
    let (mut doc, resp) = response_shell();
    let e = doc.append_element(resp, None, "errorInfo", None);
    doc.append_text_element(e, None, "code", None, code);
    doc.append_text_element(e, None, "message", None, message);
    doc
}

fn response_shell() -> (Document, NodeId) {
    let mut doc = Document::new(Some("soapenv"), "Envelope", Some(SOAP_NS));
    let root = doc.root();
    let body = doc.append_element(root, Some("soapenv"), "Body", Some(SOAP_NS));
    let resp = doc.append_element(body, Some("ws"), "getRNPObjectListResponse", Some(WS_NS));
    (doc, resp)
}

/// A record as ЕИС publishes it: an `export` document in the 10.2 format
/// (`unfairSupplier`) or the 2022 one, from fixture data.
pub(crate) fn render_document(
    data: &crate::lookup::RnpData,
    r: &crate::lookup::RnpRecordData,
) -> Document {
    let mut doc = Document::new(None, "export", Some(EXPORT_NS));
    let root = doc.root();
    doc.element_mut(root).ns_decls.push(NsDecl {
        prefix: Some("oos".into()),
        uri: TYPES_NS.into(),
    });
    let ts = |d: &str| format!("{d}T00:00:00+03:00");
    if r.format.as_deref() == Some("unfairSupplier2022") {
        let rec = doc.append_element(root, None, "unfairSupplier2022", Some(EXPORT_NS));
        doc.set_attr(rec, "schemeVersion", "13.1");
        let o = Some(TYPES_NS);
        let common = doc.append_element(rec, Some("oos"), "commonInfo", o);
        doc.append_text_element(common, Some("oos"), "regNumber", o, &r.registry_number);
        doc.append_text_element(common, Some("oos"), "versionNumber", o, "1");
        doc.append_text_element(common, Some("oos"), "publishDT", o, &ts(&r.publish_date));
        if let Some(a) = &r.approve_date {
            doc.append_text_element(common, Some("oos"), "firstVersionPublishDT", o, &ts(a));
        }
        let org = doc.append_element(rec, Some("oos"), "approveOrgInfo", o);
        doc.append_text_element(org, Some("oos"), "fullName", o, &r.publish_org);
        let cr = doc.append_element(rec, Some("oos"), "createReasonInfo", o);
        doc.append_text_element(cr, Some("oos"), "createReason", o, &r.create_reason);
        let si = doc.append_element(rec, Some("oos"), "unfairSupplierInfo", o);
        let kind = if data.inn.len() == 10 {
            "legalEntityRFInfo"
        } else {
            "IPInfo"
        };
        let s = doc.append_element(si, Some("oos"), kind, o);
        doc.append_text_element(s, Some("oos"), "fullName", o, &data.full_name);
        doc.append_text_element(s, Some("oos"), "INN", o, &data.inn);
        if let Some(k) = &data.kpp {
            doc.append_text_element(s, Some("oos"), "KPP", o, k);
        }
        if let Some(a) = &r.auto_exclusion_date {
            let ax = doc.append_element(rec, Some("oos"), "autoExDateInfo", o);
            doc.append_text_element(ax, Some("oos"), "autoExDate", o, a);
        }
        return doc;
    }
    let rec = doc.append_element(root, None, "unfairSupplier", Some(EXPORT_NS));
    doc.set_attr(rec, "schemeVersion", SCHEME_VERSION);
    let o = Some(TYPES_NS);
    let t = |doc: &mut Document, parent: NodeId, name: &str, v: &str| {
        doc.append_text_element(parent, Some("oos"), name, o, v);
    };
    t(&mut doc, rec, "registryNum", &r.registry_number);
    t(&mut doc, rec, "publishDate", &ts(&r.publish_date));
    if let Some(a) = &r.approve_date {
        t(&mut doc, rec, "approveDate", &ts(a));
    }
    t(&mut doc, rec, "state", &r.state);
    let org = doc.append_element(rec, Some("oos"), "publishOrg", o);
    t(&mut doc, org, "regNum", "01721000010");
    t(&mut doc, org, "fullName", &r.publish_org);
    t(&mut doc, rec, "createReason", &r.create_reason);
    t(&mut doc, rec, "approveReason", &r.approve_reason);
    let s = doc.append_element(rec, Some("oos"), "unfairSupplier", o);
    t(&mut doc, s, "fullName", &data.full_name);
    t(
        &mut doc,
        s,
        "type",
        if data.inn.len() == 10 { "U" } else { "P" },
    );
    t(&mut doc, s, "inn", &data.inn);
    if let Some(k) = &data.kpp {
        t(&mut doc, s, "kpp", k);
    }
    let c = doc.append_element(rec, Some("oos"), "contract", o);
    t(
        &mut doc,
        c,
        "productInfo",
        r.contract_subject
            .as_deref()
            .unwrap_or("Оказание услуг по контракту"),
    );
    t(
        &mut doc,
        c,
        "price",
        r.contract_price.as_deref().unwrap_or("100000.00"),
    );
    if let Some(x) = &r.exclude_date {
        let e = doc.append_element(rec, Some("oos"), "exclude", o);
        t(&mut doc, e, "excludeDate", &ts(x));
        t(&mut doc, e, "name", "Исключение сведений из реестра");
        t(&mut doc, e, "date", x);
        t(&mut doc, e, "number", &format!("{}-И", r.registry_number));
        t(
            &mut doc,
            e,
            "type",
            r.exclude_type.as_deref().unwrap_or("ORDER"),
        );
    }
    if let Some(a) = &r.auto_exclusion_date {
        let ax = doc.append_element(rec, Some("oos"), "autoExDateInfo", o);
        t(&mut doc, ax, "autoExDateCalcSign", "ACTUAL");
        t(&mut doc, ax, "autoExDate", a);
    }
    doc
}

/// The `objectInfo`s of a supplier's fixture records.
pub(crate) fn objects_of(data: &crate::lookup::RnpData) -> Vec<ObjectInfo> {
    data.records
        .iter()
        .map(|r| ObjectInfo {
            publish_date: format!("{}T10:00:00+03:00", r.publish_date),
            version_number: "1".into(),
            reg_number: r.registry_number.clone(),
            scheme_version: if r.format.as_deref() == Some("unfairSupplier2022") {
                "13.1".into()
            } else {
                SCHEME_VERSION.into()
            },
            content: xml::to_bytes(&render_document(data, r)),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lookup::Verdict;

    #[test]
    fn the_request_names_the_subject_unqualified_under_its_root() {
        let doc = request_envelope("mezhved", "RMIS", "7812345675", Some("781301001"));
        let bytes = xml::to_bytes(&doc);
        let q = read_request(&xml::parse(&bytes).unwrap()).unwrap();
        assert_eq!(q.inn, "7812345675");
        assert_eq!(q.kpp.as_deref(), Some("781301001"));
        // A КПП with letters fails the official kppType: left out.
        let doc = request_envelope("mezhved", "RMIS", "7812345675", Some("7813AB001"));
        assert_eq!(read_request(&doc).unwrap().kpp, None);
    }

    #[test]
    fn an_error_answer_and_a_list_answer_read_back() {
        let e = xml::to_bytes(&render_error("401", "Токен не найден"));
        assert_eq!(
            read_response(&xml::parse(&e).unwrap()).unwrap(),
            RnpAnswer::Error {
                code: "401".into(),
                message: "Токен не найден".into()
            }
        );
        let objects = vec![ObjectInfo {
            publish_date: "2026-01-01T10:00:00+03:00".into(),
            version_number: "1".into(),
            reg_number: "РНП.1-26".into(),
            scheme_version: "10.2".into(),
            content: b"<x/>".to_vec(),
        }];
        let l = xml::to_bytes(&render_response(&objects));
        assert_eq!(
            read_response(&xml::parse(&l).unwrap()).unwrap(),
            RnpAnswer::Objects(objects)
        );
    }

    #[test]
    fn latest_versions_keep_one_record_per_number() {
        let r = |n: &str, p: &str, state: &str| RnpRecord {
            registry_number: n.into(),
            name: String::new(),
            inn: None,
            kpp: None,
            state: state.into(),
            included_on: None,
            basis: String::new(),
            excluded_on: None,
            exclusion_kind: None,
            automatic_exclusion_on: None,
            published_at: Some(p.into()),
        };
        let v = latest_versions(vec![
            r("A", "2025-01-02", "ARCHIVED"),
            r("A", "2024-01-02", "PUBLISHED"),
            r("B", "2020-01-01", "PUBLISHED"),
        ]);
        assert_eq!(v.len(), 2);
        assert_eq!(v[0].state, "ARCHIVED");
    }

    #[test]
    fn a_verdict_is_never_read_from_a_document_it_does_not_know() {
        let objects = vec![ObjectInfo {
            publish_date: String::new(),
            version_number: "1".into(),
            reg_number: "РНП.9-26".into(),
            scheme_version: "13.1".into(),
            content: br#"<export xmlns="http://zakupki.gov.ru/oos/export/1"><unfairSupplier2022Exclude/></export>"#.to_vec(),
        }];
        let o = records_of(&objects, "7812345675", None).unwrap_err();
        assert_eq!(o.verdict, Verdict::Unknown);
    }
}
