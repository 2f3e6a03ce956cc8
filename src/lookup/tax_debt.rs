//! Tax-debt certificate: ФНС VS «Предоставление сведений о наличии
//! (отсутствии) задолженности…» (`ZadorgRequest` / `ZadorgResponse`).
//!
//! No official schema is public; names and namespace are those observed in
//! the field, written down in `schemas/tax-debt.xsd`. The meaning of the
//! `ПрЗадолж` flag values is not published either, so which values mean
//! "debt" and "no debt" is configuration, and any other value is `unknown`
//! — never read as "no debt".

use serde::{Deserialize, Serialize};

use super::check::{Check, Value};
use super::{
    Lookup, Outcome, ProviderQuery, RejectedBy, Verdict, check_answer_root, check_subject,
    record_data, text_local,
};
use crate::request::{Inn, Kind, LookupRequest, SubjectId};
use crate::xml::{Document, NodeId};

pub const NAMESPACE: &str = "urn://x-artefacts-fns-zadorg/root/548-04/4.0.4";

/// Which `ПрЗадолж` values mean what.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DebtFlags {
    pub debt: Vec<String>,
    pub no_debt: Vec<String>,
}

impl Default for DebtFlags {
    fn default() -> Self {
        DebtFlags {
            debt: vec!["1".into()],
            no_debt: vec!["2".into()],
        }
    }
}

#[derive(Debug, Serialize)]
struct DebtFacts {
    inn: String,
    /// The date the information is as of (`ДатаСостСв`).
    as_of: String,
    /// The raw `ПрЗадолж` flag.
    flag: String,
    /// Tax offices (`КодИФНС`) where the debt is recorded.
    tax_offices: Vec<String>,
}

pub struct TaxDebt {
    ns: String,
    flags: DebtFlags,
}

impl TaxDebt {
    pub fn new(ns: &str, flags: DebtFlags) -> Self {
        TaxDebt {
            ns: ns.to_owned(),
            flags,
        }
    }

    fn inn_element(inn: &Inn) -> &'static str {
        if inn.is_legal() {
            "ИННЮЛ"
        } else {
            "ИННФЛ"
        }
    }
}

/// Refusal texts of the known ФНС processing codes.
fn processing_code_text(code: &str) -> &'static str {
    match code {
        "01" => "Сведения о налогоплательщике не найдены",
        "52" => "Ответ не готов",
        "82" => "Ошибка форматно-логического контроля запроса",
        "83" => "Запрос не найден",
        "99" => "Системная ошибка ФНС",
        _ => "Неизвестный код обработки",
    }
}

impl Lookup for TaxDebt {
    fn kind(&self) -> Kind {
        Kind::TaxDebt
    }
    fn namespace(&self) -> &str {
        &self.ns
    }
    fn request_root(&self) -> &'static str {
        "ZadorgRequest"
    }
    fn response_root(&self) -> &'static str {
        "ZadorgResponse"
    }

    fn build_request(&self, req: &LookupRequest, doc_id: &str) -> Document {
        let ns = Some(self.ns.as_str());
        let mut doc = Document::new(Some("zd"), "ZadorgRequest", ns);
        let root = doc.root();
        doc.set_attr(root, "ИдЗапрос", doc_id);
        let body = &req.details.requesting_body;
        let sv = doc.append_element(root, Some("zd"), "СвЮЛ", ns);
        if let Some(inn) = &body.inn {
            doc.set_attr(sv, "ИННЮЛ", inn.as_str());
        }
        doc.set_attr(sv, "НаимЮЛ", &body.name);
        if let Some(ogrn) = &body.ogrn {
            doc.set_attr(sv, "ОГРН", ogrn.as_str());
        }
        let q = doc.append_element(root, Some("zd"), "ЗапросНП", ns);
        let as_of = req.as_of.unwrap_or_else(crate::clock::moscow_today);
        doc.set_attr(q, "ДатаЗапрСв", &crate::clock::iso_date(as_of));
        let SubjectId::Inn(inn) = &req.subject.id else {
            unreachable!("validation admits only ИНН for tax_debt");
        };
        doc.append_text_element(q, Some("zd"), Self::inn_element(inn), ns, inn.as_str());
        doc
    }

    fn parse_answer(
        &self,
        doc: &Document,
        root: NodeId,
        req: &LookupRequest,
        doc_id: &str,
    ) -> Outcome {
        if let Some(wrong) =
            check_answer_root(doc, root, (&self.ns, "ZadorgResponse"), "ИдЗапрос", doc_id)
        {
            return wrong;
        }
        let Some(sv) = doc.child(root, &self.ns, "СвЗадолж") else {
            return match text_local(doc, root, "КодОбраб") {
                Some(code) => Outcome::rejected(
                    RejectedBy::Agency,
                    code.clone(),
                    processing_code_text(&code),
                ),
                None => Outcome::failed("the tax-debt answer has neither СвЗадолж nor КодОбраб"),
            };
        };
        let inn = doc
            .child_text(sv, &self.ns, "ИННЮЛ")
            .or_else(|| doc.child_text(sv, &self.ns, "ИННФЛ"))
            .unwrap_or_default();
        if let Some(wrong) = check_subject(req, &[Some(&inn)]) {
            return wrong;
        }
        let e = doc.element(sv);
        let flag = e.attr("ПрЗадолж").unwrap_or("").to_owned();
        let tax_offices: Vec<String> = doc
            .child(sv, &self.ns, "ПеречНО")
            .map(|p| {
                doc.children_named(p, &self.ns, "КодИФНС")
                    .map(|c| doc.text(c).trim().to_owned())
                    .collect()
            })
            .unwrap_or_default();
        let facts = DebtFacts {
            inn,
            as_of: e.attr("ДатаСостСв").unwrap_or("").to_owned(),
            flag: flag.clone(),
            tax_offices,
        };
        if self.flags.debt.contains(&flag) {
            Outcome::with_facts(Verdict::HasDebt, facts)
        } else if self.flags.no_debt.contains(&flag) {
            if facts.tax_offices.is_empty() {
                Outcome::with_facts(Verdict::NoDebt, facts)
            } else {
                Outcome::with_facts(Verdict::Unknown, facts).with_note(
                    "ПрЗадолж says no debt, yet tax offices with debt are listed; check with ФНС",
                )
            }
        } else {
            Outcome::with_facts(Verdict::Unknown, facts).with_note(format!(
                "ПрЗадолж value {flag:?} is not a known value ([lookup.tax_debt_flags] debt = {:?}, no_debt = {:?})",
                self.flags.debt, self.flags.no_debt
            ))
        }
    }

    fn read_request(&self, doc: &Document, root: NodeId) -> Result<ProviderQuery, Vec<String>> {
        let mut c = Check::new(doc, &self.ns);
        c.root(root, "ZadorgRequest");
        let attrs = c.attrs(root, &[("ИдЗапрос", true, Value::Len(1, 36))]);
        let kids = c.sequence(root, &[("СвЮЛ", 1, 1), ("ЗапросНП", 1, 1)]);
        let mut id = None;
        for (name, el) in kids {
            if name == "СвЮЛ" {
                c.attrs(
                    el,
                    &[
                        ("ИННЮЛ", true, Value::Inn(10)),
                        ("НаимЮЛ", true, Value::Len(1, 1000)),
                        ("ОГРН", true, Value::Digits(13)),
                    ],
                );
                c.sequence(el, &[]);
            } else {
                c.attrs(el, &[("ДатаЗапрСв", true, Value::Date)]);
                id = c.choice(el, &["ИННЮЛ", "ИННФЛ"]).and_then(|(n, e)| {
                    c.value(
                        e,
                        if n == "ИННЮЛ" {
                            Value::Inn(10)
                        } else {
                            Value::Inn(12)
                        },
                    )
                });
            }
        }
        let query = attrs[0].clone().zip(id).map(|(doc_id, id)| ProviderQuery {
            doc_id,
            identifiers: vec![id],
        });
        c.finish(query)
    }

    fn answer_identifiers(&self, answer: &toml::Value) -> Result<Vec<String>, String> {
        let data: DebtData = record_data(answer)?;
        Inn::parse(&data.inn).map_err(|e| e.message)?;
        crate::clock::parse_iso_date(&data.as_of).ok_or("as_of is a date YYYY-MM-DD")?;
        if data
            .tax_offices
            .iter()
            .any(|c| c.len() != 4 || !c.bytes().all(|b| b.is_ascii_digit()))
        {
            return Err("a tax office code (КодИФНС) is 4 digits".into());
        }
        Ok(vec![data.inn])
    }

    fn render_answer(
        &self,
        query: &ProviderQuery,
        answer: Option<&toml::Value>,
    ) -> Result<Document, String> {
        let Some(answer) = answer else {
            return self.render_processing_code(query, "01");
        };
        self.answer_identifiers(answer)?;
        let data: DebtData = record_data(answer)?;
        let ns = Some(self.ns.as_str());
        let mut doc = Document::new(Some("zd"), "ZadorgResponse", ns);
        let root = doc.root();
        doc.set_attr(root, "ИдЗапрос", &query.doc_id);
        let sv = doc.append_element(root, Some("zd"), "СвЗадолж", ns);
        doc.set_attr(sv, "ДатаСостСв", &data.as_of);
        doc.set_attr(sv, "ПрЗадолж", &data.flag);
        let inn_el = if data.inn.len() == 10 {
            "ИННЮЛ"
        } else {
            "ИННФЛ"
        };
        doc.append_text_element(sv, Some("zd"), inn_el, ns, &data.inn);
        if !data.tax_offices.is_empty() {
            let list = doc.append_element(sv, Some("zd"), "ПеречНО", ns);
            for code in &data.tax_offices {
                doc.append_text_element(list, Some("zd"), "КодИФНС", ns, code);
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
        let mut doc = Document::new(Some("zd"), "ZadorgResponse", ns);
        let root = doc.root();
        doc.set_attr(root, "ИдЗапрос", &query.doc_id);
        doc.append_text_element(root, Some("zd"), "КодОбраб", ns, code);
        Ok(doc)
    }
}

/// A tax-debt answer as a tester writes it in `fixtures/registers/tax_debt.toml`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct DebtData {
    inn: String,
    as_of: String,
    /// `ПрЗадолж` exactly as the answer should carry it.
    flag: String,
    #[serde(default)]
    tax_offices: Vec<String>,
}
