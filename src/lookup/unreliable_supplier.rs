//! Register of unreliable suppliers («реестр недобросовестных поставщиков»,
//! РНП, 44-FZ), kept by ФАС and published by ЕИС.
//!
//! No SMEV VS for it is public. mezhved defines its own (`schemas/
//! unreliable-supplier.xsd`, a project namespace that configuration can
//! override) on the data model of ЕИС's `unfairSupplier` document, whose
//! element names and `state` values it keeps.

use serde::Deserialize;

use super::check::{Check, Value};
use super::{Lookup, Outcome, ProviderQuery, RejectedBy, check_answer_root, record_data};
use crate::registers::rnp::RnpRecord;
use crate::request::{Inn, Kind, Kpp, LookupRequest, SubjectId};
use crate::xml::{Document, NodeId};

pub const NAMESPACE: &str = "urn://mezhved/vs/unreliable-supplier/1.0";

pub struct UnreliableSupplier {
    ns: String,
    lookback_years: u32,
}

impl UnreliableSupplier {
    pub fn new(ns: &str, lookback_years: u32) -> Self {
        UnreliableSupplier {
            ns: ns.to_owned(),
            lookback_years,
        }
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
            let exclude = doc.child(rec, &self.ns, "exclude");
            let basis = [
                self.text(doc, rec, "createReason"),
                self.text(doc, rec, "approveReason"),
            ]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join(": ");
            let date = |v: Option<String>| v.as_deref().and_then(crate::registers::moscow_date);
            records.push(RnpRecord {
                registry_number: self.text(doc, rec, "registryNum").unwrap_or_default(),
                name: supplier
                    .and_then(|s| self.text(doc, s, "fullName"))
                    .unwrap_or_default(),
                kpp: supplier.and_then(|s| self.text(doc, s, "kpp")),
                inn: Some(inn),
                state: self.text(doc, rec, "state").unwrap_or_default(),
                included_on: date(self.text(doc, rec, "approveDate")),
                basis,
                excluded_on: date(exclude.and_then(|x| self.text(doc, x, "excludeDate"))),
                exclusion_kind: exclude.and_then(|x| self.text(doc, x, "type")),
                automatic_exclusion_on: date(self.text(doc, rec, "autoExDate")),
                published_at: self.text(doc, rec, "publishDate"),
            });
        }
        let as_of = req.as_of.unwrap_or_else(crate::clock::moscow_today);
        crate::registers::rnp::assess(&records, as_of, self.lookback_years)
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
        let data = rnp_data(answer)?;
        Inn::parse(&data.inn).map_err(|e| e.message)?;
        if let Some(k) = &data.kpp {
            Kpp::parse(k).map_err(|e| e.message)?;
        }
        for r in &data.records {
            if let Some(f) = &r.format
                && !["unfairSupplier", "unfairSupplier2022"].contains(&f.as_str())
            {
                return Err(format!(
                    "format {f:?} is not unfairSupplier or unfairSupplier2022"
                ));
            }
            for d in [
                Some(&r.publish_date),
                r.approve_date.as_ref(),
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
        let data = rnp_data(answer)?;
        let t = |doc: &mut Document, parent: NodeId, name: &str, v: &str| {
            doc.append_text_element(parent, Some("rnp"), name, ns, v);
        };
        for r in &data.records {
            let rec = doc.append_element(list, Some("rnp"), "unfairSupplier", ns);
            t(&mut doc, rec, "registryNum", &r.registry_number);
            t(&mut doc, rec, "publishDate", &r.publish_date);
            if let Some(d) = &r.approve_date {
                t(&mut doc, rec, "approveDate", d);
            }
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

/// РНП records of one supplier as a tester writes them
/// (`fixtures/registers/unreliable_supplier.toml`); every route of the
/// emulator (the SMEV VS, ЕИС's document service, its published archives)
/// renders them.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RnpData {
    pub inn: String,
    pub kpp: Option<String>,
    pub full_name: String,
    pub records: Vec<RnpRecordData>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RnpRecordData {
    pub registry_number: String,
    pub publish_date: String,
    /// Absent: the record carries no inclusion date.
    pub approve_date: Option<String>,
    pub state: String,
    pub publish_org: String,
    pub create_reason: String,
    pub approve_reason: String,
    pub exclude_date: Option<String>,
    pub exclude_type: Option<String>,
    pub auto_exclusion_date: Option<String>,
    /// The contract the record is about (ЕИС requires its subject and price).
    pub contract_subject: Option<String>,
    pub contract_price: Option<String>,
    /// The document format ЕИС publishes it in: `unfairSupplier` (default)
    /// or `unfairSupplier2022`.
    pub format: Option<String>,
}

/// The fixture table of one supplier.
pub(crate) fn rnp_data(answer: &toml::Value) -> Result<RnpData, String> {
    record_data(answer)
}
