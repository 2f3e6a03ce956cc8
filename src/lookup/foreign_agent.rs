//! Register of foreign agents («реестр иностранных агентов», Минюст).
//!
//! No SMEV VS for it is public. mezhved defines its own (`schemas/
//! foreign-agent.xsd`, a project namespace that configuration can override)
//! on the fields of the published register.

use serde::{Deserialize, Serialize};

use super::check::{Check, Value};
use super::{
    Lookup, Outcome, ProviderQuery, RejectedBy, Verdict, check_answer_root, record_data, text_local,
};
use crate::request::{Inn, Kind, LookupRequest, Ogrn, Snils, SubjectId};
use crate::xml::{Document, NodeId};

pub const NAMESPACE: &str = "urn://mezhved/vs/foreign-agent/1.0";

#[derive(Debug, Serialize)]
struct RegisterFacts {
    records: Vec<RecordFacts>,
}

#[derive(Debug, Serialize)]
struct RecordFacts {
    registry_number: String,
    name: String,
    person_kind: String,
    included_on: String,
    basis: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    excluded_on: Option<String>,
}

pub struct ForeignAgent {
    ns: String,
}

impl ForeignAgent {
    pub fn new(ns: &str) -> Self {
        ForeignAgent { ns: ns.to_owned() }
    }
}

impl Lookup for ForeignAgent {
    fn kind(&self) -> Kind {
        Kind::ForeignAgent
    }
    fn namespace(&self) -> &str {
        &self.ns
    }
    fn request_root(&self) -> &'static str {
        "ForeignAgentRequest"
    }
    fn response_root(&self) -> &'static str {
        "ForeignAgentResponse"
    }

    fn build_request(&self, req: &LookupRequest, doc_id: &str) -> Document {
        let ns = Some(self.ns.as_str());
        let mut doc = Document::new(Some("fa"), "ForeignAgentRequest", ns);
        let root = doc.root();
        doc.set_attr(root, "ИдЗапрос", doc_id);
        if req.personal_signature {
            doc.set_attr(root, "Id", super::PERSONAL_SIGNATURE_ID);
        }
        let (name, value) = match &req.subject.id {
            SubjectId::Inn(v) => ("ИНН", v.as_str()),
            SubjectId::Ogrn(v) => ("ОГРН", v.as_str()),
            SubjectId::Snils(v) => ("СНИЛС", v.as_str()),
            SubjectId::Ogrnip(_) => unreachable!("validation admits no ОГРНИП for foreign_agent"),
        };
        doc.append_text_element(root, Some("fa"), name, ns, value);
        doc
    }

    fn parse_answer(
        &self,
        doc: &Document,
        root: NodeId,
        req: &LookupRequest,
        doc_id: &str,
    ) -> Outcome {
        if let Some(wrong) = check_answer_root(
            doc,
            root,
            (&self.ns, "ForeignAgentResponse"),
            "ИдЗапрос",
            doc_id,
        ) {
            return wrong;
        }
        let Some(info) = doc.child(root, &self.ns, "Сведения") else {
            return match text_local(doc, root, "КодОбраб") {
                Some(code) => Outcome::rejected(
                    RejectedBy::Agency,
                    code,
                    text_local(doc, root, "ТекстОбраб").unwrap_or_default(),
                ),
                None => {
                    Outcome::failed("the foreign-agent answer has neither Сведения nor КодОбраб")
                }
            };
        };
        let found = doc.child_text(info, &self.ns, "Найден").unwrap_or_default();
        let asked = crate::lookup::subject_identifiers(&req.subject);
        let mut records = Vec::new();
        let mut name_only = Vec::new();
        for rec in doc.children_named(info, &self.ns, "Запись") {
            let ids: Vec<String> = ["ИНН", "ОГРН", "СНИЛС"]
                .iter()
                .filter_map(|n| doc.child_text(rec, &self.ns, n))
                .collect();
            if ids.is_empty() {
                name_only.push(
                    doc.child_text(rec, &self.ns, "Наименование")
                        .unwrap_or_default(),
                );
            } else if !ids.iter().any(|i| asked.contains(i)) {
                return Outcome::failed(format!(
                    "the answer lists a record for {}, not the requested {}",
                    ids.join("/"),
                    req.subject.describe()
                ));
            }
            let t = |n: &str| doc.child_text(rec, &self.ns, n).unwrap_or_default();
            records.push(RecordFacts {
                registry_number: t("РегНомер"),
                name: t("Наименование"),
                person_kind: t("ВидЛица"),
                included_on: t("ДатаВключения"),
                basis: t("ОснованиеВключения"),
                excluded_on: doc
                    .child_text(rec, &self.ns, "ДатаИсключения")
                    .filter(|s| !s.is_empty()),
            });
        }
        let active = records.iter().any(|r| r.excluded_on.is_none());
        let facts = RegisterFacts { records };
        if !name_only.is_empty() {
            return Outcome::with_facts(Verdict::Unknown, facts).with_note(format!(
                "entries without identifiers, matched by name only, cannot settle it: {}",
                name_only.join("; ")
            ));
        }
        match (found.as_str(), active) {
            ("true" | "1", true) => Outcome::with_facts(Verdict::Listed, facts),
            ("true" | "1", false) => Outcome::with_facts(Verdict::NotListed, facts)
                .with_note("excluded from the register; see the exclusion date"),
            ("false" | "0", false) => Outcome::with_facts(Verdict::NotListed, facts),
            ("false" | "0", true) => Outcome::with_facts(Verdict::Unknown, facts)
                .with_note("Найден is false but an active record is listed; check the register"),
            (other, _) => Outcome::with_facts(Verdict::Unknown, facts)
                .with_note(format!("Найден has the unknown value {other:?}")),
        }
    }

    fn read_request(&self, doc: &Document, root: NodeId) -> Result<ProviderQuery, Vec<String>> {
        let mut c = Check::new(doc, &self.ns);
        c.root(root, "ForeignAgentRequest");
        let attrs = c.attrs(
            root,
            &[
                ("ИдЗапрос", true, Value::Len(1, 36)),
                ("Id", false, Value::Id),
            ],
        );
        let id = c
            .choice(root, &["ИНН", "ОГРН", "СНИЛС"])
            .and_then(|(name, el)| {
                let v = match name.as_str() {
                    "ИНН" => Value::InnAny,
                    "ОГРН" => Value::Digits(13),
                    _ => Value::Digits(11),
                };
                c.value(el, v)
            });
        let query = attrs[0].clone().zip(id).map(|(doc_id, id)| ProviderQuery {
            doc_id,
            identifiers: vec![id],
        });
        c.finish(query)
    }

    fn answer_identifiers(&self, answer: &toml::Value) -> Result<Vec<String>, String> {
        let data = agent_data(answer)?;
        let mut ids = Vec::new();
        if let Some(v) = &data.inn {
            ids.push(Inn::parse(v).map_err(|e| e.message)?.to_string());
        }
        if let Some(v) = &data.ogrn {
            ids.push(Ogrn::parse(v).map_err(|e| e.message)?.to_string());
        }
        if let Some(v) = &data.snils {
            ids.push(Snils::parse(v).map_err(|e| e.message)?.to_string());
        }
        // An entry without identifiers is found by the subject's `ids` only.
        for d in [Some(&data.included_on), data.excluded_on.as_ref()]
            .into_iter()
            .flatten()
        {
            crate::clock::parse_iso_date(d)
                .ok_or_else(|| format!("{d:?} is not a date YYYY-MM-DD"))?;
        }
        Ok(ids)
    }

    fn render_answer(
        &self,
        query: &ProviderQuery,
        answer: Option<&toml::Value>,
    ) -> Result<Document, String> {
        let ns = Some(self.ns.as_str());
        let mut doc = Document::new(Some("fa"), "ForeignAgentResponse", ns);
        let root = doc.root();
        doc.set_attr(root, "ИдЗапрос", &query.doc_id);
        let info = doc.append_element(root, Some("fa"), "Сведения", ns);
        let Some(answer) = answer else {
            doc.append_text_element(info, Some("fa"), "Найден", ns, "false");
            return Ok(doc);
        };
        self.answer_identifiers(answer)?;
        let d = agent_data(answer)?;
        doc.append_text_element(info, Some("fa"), "Найден", ns, "true");
        let rec = doc.append_element(info, Some("fa"), "Запись", ns);
        let mut t = |name: &str, v: Option<&str>| {
            if let Some(v) = v {
                doc.append_text_element(rec, Some("fa"), name, ns, v);
            }
        };
        t("РегНомер", Some(&d.registry_number));
        t("Наименование", Some(&d.name));
        t("ВидЛица", Some(&d.person_kind));
        t("ИНН", d.inn.as_deref());
        t("ОГРН", d.ogrn.as_deref());
        t("СНИЛС", d.snils.as_deref());
        t("ДатаВключения", Some(&d.included_on));
        t("ОснованиеВключения", Some(&d.basis));
        t("ДатаИсключения", d.excluded_on.as_deref());
        Ok(doc)
    }

    fn render_processing_code(
        &self,
        query: &ProviderQuery,
        code: &str,
    ) -> Result<Document, String> {
        let ns = Some(self.ns.as_str());
        let mut doc = Document::new(Some("fa"), "ForeignAgentResponse", ns);
        let root = doc.root();
        doc.set_attr(root, "ИдЗапрос", &query.doc_id);
        doc.append_text_element(root, Some("fa"), "КодОбраб", ns, code);
        doc.append_text_element(
            root,
            Some("fa"),
            "ТекстОбраб",
            ns,
            "Запрос не может быть обработан",
        );
        Ok(doc)
    }
}

/// A register entry as a tester writes it in
/// `fixtures/registers/foreign_agent.toml`; the SMEV VS, Минюст's registry
/// service and its export all render it.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct AgentData {
    pub registry_number: String,
    pub name: String,
    /// «Физическое лицо», «Юридическое лицо», «Незарегистрированное общественное объединение»…
    pub person_kind: String,
    /// Older entries carry none of the three: they are found by name only.
    pub inn: Option<String>,
    pub ogrn: Option<String>,
    pub snils: Option<String>,
    pub included_on: String,
    pub basis: String,
    pub excluded_on: Option<String>,
    /// The entry's information resources (field_6).
    pub resources: Option<String>,
}

/// The fixture table of one entry.
pub(crate) fn agent_data(answer: &toml::Value) -> Result<AgentData, String> {
    record_data(answer)
}
