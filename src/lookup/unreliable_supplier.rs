//! Register of unreliable suppliers («реестр недобросовестных поставщиков»,
//! РНП, 44-FZ), kept by ФАС and published by ЕИС.
//!
//! No SMEV VS for it is public. mezhved defines its own (`schemas/
//! unreliable-supplier.xsd`, a project namespace that configuration can
//! override) on the data model of ЕИС's `unfairSupplier` document, whose
//! element names and `state` values it keeps.

use serde::{Deserialize, Serialize};

use super::check::{Check, Value};
use super::{Lookup, Outcome, ProviderQuery, RejectedBy, Verdict, check_answer_root, record_data};
use crate::request::{Inn, Kind, Kpp, LookupRequest, SubjectId};
use crate::xml::{Document, NodeId};

pub const NAMESPACE: &str = "urn://mezhved/vs/unreliable-supplier/1.0";

/// `state` values of an ЕИС record, and whether each means "in the
/// register now".
const STATES: [(&str, bool); 5] = [
    ("PUBLISHED", true),
    ("ON_EXCLUSION", true),
    ("TEMP_EXCLUDED", false),
    ("ARCHIVED", false),
    ("REVIEW_CANCELED", false),
];

#[derive(Debug, Serialize)]
struct RegisterFacts {
    records: Vec<RecordFacts>,
}

#[derive(Debug, Serialize)]
struct RecordFacts {
    registry_number: String,
    name: String,
    inn: String,
    state: String,
    /// Date of inclusion in the register (`approveDate`).
    included_on: String,
    /// Basis of inclusion: the reason code and the decision text.
    basis: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    excluded_on: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    automatic_exclusion_on: Option<String>,
}

pub struct UnreliableSupplier {
    ns: String,
}

impl UnreliableSupplier {
    pub fn new(ns: &str) -> Self {
        UnreliableSupplier { ns: ns.to_owned() }
    }

    fn text(&self, doc: &Document, id: NodeId, local: &str) -> Option<String> {
        doc.child_text(id, &self.ns, local)
            .filter(|s| !s.is_empty())
    }
}

impl Lookup for UnreliableSupplier {
    fn kind(&self) -> Kind {
        Kind::UnreliableSupplier
    }
    fn namespace(&self) -> &str {
        &self.ns
    }
    fn request_root(&self) -> &'static str {
        "UnfairSupplierRequest"
    }
    fn response_root(&self) -> &'static str {
        "UnfairSupplierResponse"
    }

    fn build_request(&self, req: &LookupRequest, doc_id: &str) -> Document {
        let ns = Some(self.ns.as_str());
        let mut doc = Document::new(Some("rnp"), "UnfairSupplierRequest", ns);
        let root = doc.root();
        doc.set_attr(root, "requestId", doc_id);
        if req.personal_signature {
            doc.set_attr(root, "Id", super::PERSONAL_SIGNATURE_ID);
        }
        let SubjectId::Inn(inn) = &req.subject.id else {
            unreachable!("validation admits only ИНН for unreliable_supplier");
        };
        doc.append_text_element(root, Some("rnp"), "INN", ns, inn.as_str());
        if let Some(kpp) = &req.subject.kpp {
            doc.append_text_element(root, Some("rnp"), "KPP", ns, kpp.as_str());
        }
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
            (&self.ns, "UnfairSupplierResponse"),
            "requestId",
            doc_id,
        ) {
            return wrong;
        }
        if let Some(err) = doc.child(root, &self.ns, "errorInfo") {
            return Outcome::rejected(
                RejectedBy::Agency,
                self.text(doc, err, "code").unwrap_or_default(),
                self.text(doc, err, "message").unwrap_or_default(),
            );
        }
        let Some(list) = doc.child(root, &self.ns, "objectList") else {
            return Outcome::failed("the РНП answer has neither errorInfo nor objectList");
        };
        let asked = crate::lookup::subject_identifiers(&req.subject);
        let mut records = Vec::new();
        let mut listed = false;
        let mut unknown_states = Vec::new();
        for rec in doc.children_named(list, &self.ns, "unfairSupplier") {
            let supplier = doc.child(rec, &self.ns, "supplier");
            let inn = supplier
                .and_then(|s| self.text(doc, s, "inn"))
                .unwrap_or_default();
            if !asked.contains(&inn) {
                return Outcome::failed(format!(
                    "the answer lists a record for ИНН {inn}, not the requested {}",
                    req.subject.describe()
                ));
            }
            let state = self.text(doc, rec, "state").unwrap_or_default();
            match STATES.iter().find(|(s, _)| *s == state) {
                Some((_, in_register)) => listed |= in_register,
                None => unknown_states.push(state.clone()),
            }
            let exclude = doc.child(rec, &self.ns, "exclude");
            let basis = [
                self.text(doc, rec, "createReason"),
                self.text(doc, rec, "approveReason"),
            ]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join(": ");
            records.push(RecordFacts {
                registry_number: self.text(doc, rec, "registryNum").unwrap_or_default(),
                name: supplier
                    .and_then(|s| self.text(doc, s, "fullName"))
                    .unwrap_or_default(),
                inn,
                state,
                included_on: self.text(doc, rec, "approveDate").unwrap_or_default(),
                basis,
                excluded_on: exclude.and_then(|x| self.text(doc, x, "excludeDate")),
                automatic_exclusion_on: self.text(doc, rec, "autoExDate"),
            });
        }
        let facts = RegisterFacts { records };
        if !unknown_states.is_empty() && !listed {
            return Outcome::with_facts(Verdict::Unknown, facts).with_note(format!(
                "unknown record state {}",
                unknown_states.join(", ")
            ));
        }
        let verdict = if listed {
            Verdict::Listed
        } else {
            Verdict::NotListed
        };
        let outcome = Outcome::with_facts(verdict, facts);
        if verdict == Verdict::NotListed
            && outcome
                .facts
                .as_ref()
                .is_some_and(|f| f["records"].as_array().is_some_and(|a| !a.is_empty()))
        {
            // Earlier records matter: the regulations ask about the last two years.
            return outcome.with_note(
                "not in the register now, but earlier records exist; check their dates",
            );
        }
        outcome
    }

    fn read_request(&self, doc: &Document, root: NodeId) -> Result<ProviderQuery, Vec<String>> {
        let mut c = Check::new(doc, &self.ns);
        c.root(root, "UnfairSupplierRequest");
        let attrs = c.attrs(
            root,
            &[
                ("requestId", true, Value::Len(1, 36)),
                ("Id", false, Value::Id),
            ],
        );
        let mut inn = None;
        for (name, el) in c.sequence(root, &[("INN", 1, 1), ("KPP", 0, 1)]) {
            if name == "INN" {
                inn = c.value(el, Value::InnAny);
            } else {
                c.value(el, Value::Kpp);
            }
        }
        let query = attrs[0].clone().zip(inn).map(|(doc_id, id)| ProviderQuery {
            doc_id,
            identifiers: vec![id],
        });
        c.finish(query)
    }

    fn answer_identifiers(&self, answer: &toml::Value) -> Result<Vec<String>, String> {
        let data: RnpData = record_data(answer)?;
        Inn::parse(&data.inn).map_err(|e| e.message)?;
        if let Some(k) = &data.kpp {
            Kpp::parse(k).map_err(|e| e.message)?;
        }
        for r in &data.records {
            for d in [
                Some(&r.publish_date),
                Some(&r.approve_date),
                r.exclude_date.as_ref(),
                r.auto_exclusion_date.as_ref(),
            ]
            .into_iter()
            .flatten()
            {
                crate::clock::parse_iso_date(d)
                    .ok_or_else(|| format!("{d:?} is not a date YYYY-MM-DD"))?;
            }
        }
        Ok(vec![data.inn])
    }

    fn render_answer(
        &self,
        query: &ProviderQuery,
        answer: Option<&toml::Value>,
    ) -> Result<Document, String> {
        let ns = Some(self.ns.as_str());
        let mut doc = Document::new(Some("rnp"), "UnfairSupplierResponse", ns);
        let root = doc.root();
        doc.set_attr(root, "requestId", &query.doc_id);
        let list = doc.append_element(root, Some("rnp"), "objectList", ns);
        let Some(answer) = answer else {
            return Ok(doc);
        };
        self.answer_identifiers(answer)?;
        let data: RnpData = record_data(answer)?;
        let t = |doc: &mut Document, parent: NodeId, name: &str, v: &str| {
            doc.append_text_element(parent, Some("rnp"), name, ns, v);
        };
        for r in &data.records {
            let rec = doc.append_element(list, Some("rnp"), "unfairSupplier", ns);
            t(&mut doc, rec, "registryNum", &r.registry_number);
            t(&mut doc, rec, "publishDate", &r.publish_date);
            t(&mut doc, rec, "approveDate", &r.approve_date);
            t(&mut doc, rec, "state", &r.state);
            t(&mut doc, rec, "publishOrg", &r.publish_org);
            t(&mut doc, rec, "createReason", &r.create_reason);
            t(&mut doc, rec, "approveReason", &r.approve_reason);
            let s = doc.append_element(rec, Some("rnp"), "supplier", ns);
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
            if let Some(x) = &r.exclude_date {
                let e = doc.append_element(rec, Some("rnp"), "exclude", ns);
                t(&mut doc, e, "excludeDate", x);
                if let Some(kind) = &r.exclude_type {
                    t(&mut doc, e, "type", kind);
                }
            }
            if let Some(a) = &r.auto_exclusion_date {
                t(&mut doc, rec, "autoExDate", a);
            }
        }
        Ok(doc)
    }

    fn render_processing_code(
        &self,
        query: &ProviderQuery,
        code: &str,
    ) -> Result<Document, String> {
        let ns = Some(self.ns.as_str());
        let mut doc = Document::new(Some("rnp"), "UnfairSupplierResponse", ns);
        let root = doc.root();
        doc.set_attr(root, "requestId", &query.doc_id);
        let e = doc.append_element(root, Some("rnp"), "errorInfo", ns);
        doc.append_text_element(e, Some("rnp"), "code", ns, code);
        doc.append_text_element(
            e,
            Some("rnp"),
            "message",
            ns,
            "Ошибка обработки запроса в ЕИС",
        );
        Ok(doc)
    }
}

/// РНП records of one supplier as a tester writes them.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RnpData {
    inn: String,
    kpp: Option<String>,
    full_name: String,
    records: Vec<RnpRecord>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RnpRecord {
    registry_number: String,
    publish_date: String,
    approve_date: String,
    state: String,
    publish_org: String,
    create_reason: String,
    approve_reason: String,
    exclude_date: Option<String>,
    exclude_type: Option<String>,
    auto_exclusion_date: Option<String>,
}
