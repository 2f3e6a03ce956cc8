//! ЕГРИП extract: ФНС VS «Выписки из ЕГРИП по запросам органов
//! государственной власти» (`FNSVipIPRequest` / `FNSVipIPResponse`).

use serde::Deserialize;

use super::check::Value;
use super::fns::{
    self, Coded, EntityFacts, ExtractSpec, FnsReader, FnsWriter, OkvedData, StatusData,
    StatusRecord, TaxOfficeData,
};
use super::fns_address::{self, AddressParts};
use super::fns_status::{self, ENTREPRENEUR_STATUSES};
use super::{
    IdKind, Lookup, Outcome, ProviderQuery, check_answer_root, match_subject, record_data,
};
use crate::request::{Kind, LookupRequest, SubjectId};
use crate::xml::{Document, NodeId};

pub const NAMESPACE: &str = "urn://x-artefacts-fns-vipip-tosmv-ru/311-15/4.0.5";
const TYPES_PREFIX: &str = "urn://x-artefacts-fns/vipip-types/";

const EXTRACT: ExtractSpec = ExtractSpec {
    element: "СвИП",
    register: "ЕГРИП",
    subject: "об индивидуальном предпринимателе",
    attachments: false,
};

pub struct Egrip {
    ns: String,
    types_ns: String,
}

impl Egrip {
    pub fn new(ns: &str) -> Self {
        Egrip {
            ns: ns.to_owned(),
            types_ns: format!("{TYPES_PREFIX}{}", fns::version_of(ns)),
        }
    }

    /// The facts of `СвИП`, and which required identification is missing.
    fn facts(r: &FnsReader<'_>, sv: NodeId) -> (EntityFacts, Vec<&'static str>) {
        let person = r
            .child(sv, "СвФЛ")
            .and_then(|f| r.child(f, "ФИОРус"))
            .and_then(|f| r.person_name(f));
        let kind = r.attr(sv, "НаимВидИП");
        let uchet = r.child(sv, "СвУчетНО");
        let reg = r.child(sv, "СвРегИП");
        let mut facts = EntityFacts {
            full_name: person
                .as_ref()
                .map(|p| {
                    let kind = kind.as_deref().unwrap_or("Индивидуальный предприниматель");
                    format!("{kind} {p}")
                })
                .unwrap_or_default(),
            person_name: person,
            ogrnip: r.attr(sv, "ОГРНИП"),
            // The schema makes `СвИП/@ИННФЛ` optional; the tax registration
            // block carries the ИНН as a required attribute.
            inn: r
                .attr(sv, "ИННФЛ")
                .or_else(|| uchet.and_then(|u| r.attr(u, "ИННФЛ"))),
            entrepreneur_kind: r.attr(sv, "КодВидИП").map(|code| Coded {
                code,
                name: kind.clone().unwrap_or_default(),
            }),
            registration_date: reg
                .and_then(|g| r.attr(g, "ДатаРег"))
                .or_else(|| r.attr(sv, "ДатаОГРНИП"))
                .unwrap_or_default(),
            registration_number: reg.and_then(|g| r.attr(g, "РегНом")),
            former_registering_authority: reg.and_then(|g| r.attr(g, "НаимРО")),
            registering_authority: r.authority(sv),
            tax_office: uchet.and_then(|u| r.tax_office(u)),
            extract_date: r.attr(sv, "ДатаВып").unwrap_or_default(),
            ..EntityFacts::default()
        };
        let parts = r
            .child(sv, "СвАдрМЖ")
            .and_then(|a| r.child(a, "АдресРФ"))
            .map(|a| fns_address::read_address(r, a));
        facts.address = parts.as_ref().map(AddressParts::display);
        facts.address_parts = parts;

        facts.statuses = r.statuses(
            sv,
            ENTREPRENEUR_STATUSES,
            ("КодСтатус", "НаимСтатус"),
            "ГРНИПДата",
        );
        facts.termination = r.child(sv, "СвПрекращ").map(|end| {
            let st = r.child(end, "СвСтатус");
            let code = st.and_then(|s| r.attr(s, "КодСтатус")).unwrap_or_default();
            StatusRecord {
                state: fns_status::termination_state(false, &code),
                name: st
                    .and_then(|s| r.attr(s, "НаимСтатус"))
                    .unwrap_or_else(|| "Прекратил деятельность".into()),
                date: st
                    .and_then(|s| r.attr(s, "ДатаПрекращ"))
                    .or_else(|| r.record_date(end, "ГРНИПДата")),
                code,
            }
        });
        fns::settle_status(&mut facts, "Действующий");
        (facts.main_okved, facts.okved_extra) = r.okved(sv);

        let mut missing = Vec::new();
        if facts.person_name.is_none() {
            missing.push("name (СвФЛ/ФИОРус)");
        }
        if facts.ogrnip.is_none() {
            missing.push("ОГРНИП");
        }
        (facts, missing)
    }
}

impl Lookup for Egrip {
    fn kind(&self) -> Kind {
        Kind::Egrip
    }
    fn namespace(&self) -> &str {
        &self.ns
    }
    fn request_root(&self) -> &'static str {
        "FNSVipIPRequest"
    }
    fn response_root(&self) -> &'static str {
        "FNSVipIPResponse"
    }

    fn build_request(&self, req: &LookupRequest, doc_id: &str) -> Document {
        let ns = Some(self.ns.as_str());
        let mut doc = Document::new(Some("ip"), "FNSVipIPRequest", ns);
        let root = doc.root();
        doc.set_attr(root, "ИдДок", doc_id);
        doc.set_attr(root, "НомерДела", req.case_id.as_str());
        let q = doc.append_element(root, Some("ip"), "ЗапросИП", ns);
        match &req.subject.id {
            SubjectId::Ogrnip(v) => {
                doc.append_text_element(q, Some("ip"), "ОГРНИП", ns, v.as_str())
            }
            SubjectId::Inn(v) => doc.append_text_element(q, Some("ip"), "ИНН", ns, v.as_str()),
            other => unreachable!("validation admits only ОГРНИП or ИНН for egrip, got {other:?}"),
        };
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
            check_answer_root(doc, root, (&self.ns, "FNSVipIPResponse"), "ИдДок", doc_id)
        {
            return wrong;
        }
        let r = FnsReader::new(doc, &self.ns, TYPES_PREFIX);
        let sv = match r.extract_or_code(root, &EXTRACT) {
            Ok(sv) => sv,
            Err(code) => return *code,
        };
        let (facts, missing) = Self::facts(&r, sv);
        let ids = [
            (IdKind::Ogrnip, facts.ogrnip.clone()),
            (
                IdKind::Ogrnip,
                r.child(sv, "СвРегИП").and_then(|g| r.attr(g, "ОГРНИП")),
            ),
            (IdKind::Inn, r.attr(sv, "ИННФЛ")),
            (
                IdKind::Inn,
                r.child(sv, "СвУчетНО").and_then(|u| r.attr(u, "ИННФЛ")),
            ),
        ];
        fns::matched_extract(match_subject(req, &ids), facts, missing)
    }

    fn read_request(&self, doc: &Document, root: NodeId) -> Result<ProviderQuery, Vec<String>> {
        fns::read_extract_request(
            doc,
            root,
            &self.ns,
            ("FNSVipIPRequest", "ЗапросИП"),
            [("ОГРНИП", Value::Digits(15)), ("ИНН", Value::Inn(12))],
        )
    }

    fn answer_identifiers(&self, answer: &toml::Value) -> Result<Vec<String>, String> {
        let data: EgripData = record_data(answer)?;
        data.validate()?;
        Ok(vec![data.ogrnip, data.inn])
    }

    fn render_answer(
        &self,
        query: &ProviderQuery,
        answer: Option<&toml::Value>,
    ) -> Result<Document, String> {
        let Some(answer) = answer else {
            return self.render_processing_code(query, "01");
        };
        let data: EgripData = record_data(answer)?;
        data.validate()?;
        let mut doc = fns::answer_doc(&self.ns, "FNSVipIPResponse", &query.doc_id);
        let root = doc.root();
        let (ns, types_ns) = (self.ns.clone(), self.types_ns.clone());
        let mut w = FnsWriter {
            doc: &mut doc,
            ns: &ns,
            types_ns: &types_ns,
        };
        data.render(&mut w, root)?;
        Ok(doc)
    }

    fn render_processing_code(
        &self,
        query: &ProviderQuery,
        code: &str,
    ) -> Result<Document, String> {
        Ok(fns::processing_code_doc(
            &self.ns,
            "FNSVipIPResponse",
            &query.doc_id,
            code,
        ))
    }
}

/// An ЕГРИП extract as a tester writes it in `fixtures/registers/egrip.toml`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct EgripData {
    ogrnip: String,
    inn: String,
    last_name: String,
    first_name: String,
    middle_name: Option<String>,
    /// 1 male, 2 female.
    sex: u8,
    /// «глава крестьянского (фермерского) хозяйства» instead of an entrepreneur.
    #[serde(default)]
    farm_head: bool,
    registered: String,
    extract_date: String,
    region_code: String,
    region: [String; 2],
    district: Option<[String; 2]>,
    city: Option<[String; 2]>,
    locality: Option<[String; 2]>,
    /// Also write the ИНН on `СвИП` (`@ИННФЛ`), which real answers omit.
    #[serde(default)]
    inn_on_record: bool,
    /// `ПрВерсОКВЭД`; empty leaves it out (read as the 2001 edition).
    #[serde(default = "fns::okved_2014")]
    okved_edition: String,
    email: Option<String>,
    tax_office: TaxOfficeData,
    registering_office: TaxOfficeData,
    status: Option<StatusData>,
    termination: Option<StatusData>,
    okved: Option<OkvedData>,
    #[serde(default)]
    okved_extra: Vec<OkvedData>,
}

impl EgripData {
    fn validate(&self) -> Result<(), String> {
        use crate::request::{Inn, Ogrnip};
        Ogrnip::parse(&self.ogrnip).map_err(|e| e.message)?;
        Inn::parse_individual(&self.inn).map_err(|e| e.message)?;
        if !matches!(self.sex, 1 | 2) {
            return Err("sex is 1 (male) or 2 (female)".into());
        }
        for d in [&self.registered, &self.extract_date] {
            fns::year_of(d)?;
        }
        Ok(())
    }

    fn render(&self, w: &mut FnsWriter<'_>, root: NodeId) -> Result<(), String> {
        let region = self.region_code.as_str();
        let reg_year = fns::year_of(&self.registered)?;
        let creation = (self.ogrnip.clone(), self.registered.clone());
        let mut seq = 1u32;
        let mut next = |date: &str| -> Result<(String, String), String> {
            seq += 1;
            Ok((
                fns::grnip(4, fns::year_of(date)?, region, seq * 104_729),
                date.to_owned(),
            ))
        };
        let (kind_code, kind_name) = if self.farm_head {
            ("2", "Глава крестьянского (фермерского) хозяйства")
        } else {
            ("1", "Индивидуальный предприниматель")
        };
        let sv = w.el(
            root,
            "СвИП",
            &[
                ("ДатаВып", Some(&self.extract_date)),
                ("ОГРНИП", Some(&self.ogrnip)),
                ("ДатаОГРНИП", Some(&self.registered)),
                // Optional in the schema and left out by real answers: the
                // ИНН is in `СвУчетНО`, where it is required.
                (
                    "ИННФЛ",
                    Some(self.inn.as_str()).filter(|_| self.inn_on_record),
                ),
                ("КодВидИП", Some(kind_code)),
                ("НаимВидИП", Some(kind_name)),
            ],
        );
        let sex = self.sex.to_string();
        let fl = w.el(sv, "СвФЛ", &[("Пол", Some(&sex))]);
        w.el(
            fl,
            "ФИОРус",
            &[
                ("Фамилия", Some(&self.last_name)),
                ("Имя", Some(&self.first_name)),
                ("Отчество", self.middle_name.as_deref()),
            ],
        );
        grnip_date(w, fl, &creation);
        let gr = w.el(
            sv,
            "СвГражд",
            &[
                ("ВидГражд", Some("1")),
                ("ОКСМ", Some("643")),
                ("НаимСтран", Some("РОССИЯ")),
            ],
        );
        grnip_date(w, gr, &creation);
        let mj = w.el(sv, "СвАдрМЖ", &[]);
        let rf = w.el(mj, "АдресРФ", &[("КодРегион", Some(&self.region_code))]);
        w.tel(
            rf,
            "Регион",
            &[
                ("ТипРегион", Some(&self.region[0])),
                ("НаимРегион", Some(&self.region[1])),
            ],
        );
        for (el, ty, nm, val) in [
            ("Район", "ТипРайон", "НаимРайон", &self.district),
            ("Город", "ТипГород", "НаимГород", &self.city),
            (
                "НаселПункт",
                "ТипНаселПункт",
                "НаимНаселПункт",
                &self.locality,
            ),
        ] {
            if let Some([t, n]) = val {
                w.tel(rf, el, &[(ty, Some(t)), (nm, Some(n))]);
            }
        }
        grnip_date(w, mj, &creation);
        if let Some(email) = &self.email {
            let e = w.el(sv, "СвАдрЭлПочты", &[("E-mail", Some(email))]);
            grnip_date(w, e, &creation);
        }
        w.el(
            sv,
            "СвРегИП",
            &[
                ("ОГРНИП", Some(&self.ogrnip)),
                ("ДатаОГРНИП", Some(&self.registered)),
            ],
        );
        let ro = w.el(
            sv,
            "СвРегОрг",
            &[
                ("КодНО", Some(&self.registering_office.code)),
                ("НаимНО", Some(&self.registering_office.name)),
            ],
        );
        grnip_date(w, ro, &creation);
        let mut records = vec![(
            creation.clone(),
            "21001",
            "Государственная регистрация физического лица в качестве индивидуального предпринимателя",
        )];
        if let Some(st) = &self.status {
            let wrap = w.el(sv, "СвСтатус", &[]);
            w.el(
                wrap,
                "СвСтатус",
                &[
                    ("КодСтатус", Some(&st.code)),
                    ("НаимСтатус", Some(&st.name)),
                ],
            );
            let rec = next(&st.date)?;
            grnip_date(w, wrap, &rec);
            records.push((
                rec,
                "22001",
                "Внесение изменений в сведения об индивидуальном предпринимателе",
            ));
        }
        if let Some(t) = &self.termination {
            let wrap = w.el(sv, "СвПрекращ", &[]);
            w.el(
                wrap,
                "СвСтатус",
                &[
                    ("КодСтатус", Some(&t.code)),
                    ("НаимСтатус", Some(&t.name)),
                    ("ДатаПрекращ", Some(&t.date)),
                ],
            );
            let rec = next(&t.date)?;
            grnip_date(w, wrap, &rec);
            records.push((rec, "24001", "Государственная регистрация прекращения физическим лицом деятельности в качестве индивидуального предпринимателя"));
        }
        let tax = w.el(
            sv,
            "СвУчетНО",
            &[
                ("ИННФЛ", Some(&self.inn)),
                ("ДатаПостУч", Some(&self.registered)),
            ],
        );
        w.el(
            tax,
            "СвНО",
            &[
                ("КодНО", Some(&self.tax_office.code)),
                ("НаимНО", Some(&self.tax_office.name)),
            ],
        );
        grnip_date(w, tax, &creation);
        fns::render_okved(
            w,
            sv,
            self.okved.as_ref(),
            &self.okved_extra,
            &self.okved_edition,
            ("ГРНИПДата", "ГРНИП"),
            &creation,
        );
        fns::render_records(
            w,
            sv,
            ("СвЗапЕГРИП", "ГРНИП"),
            reg_year,
            &records,
            &self.registering_office,
        );
        Ok(())
    }
}

fn grnip_date(w: &mut FnsWriter<'_>, parent: NodeId, (grn, date): &(String, String)) {
    w.el(
        parent,
        "ГРНИПДата",
        &[
            ("ГРНИП", Some(grn.as_str())),
            ("ДатаЗаписи", Some(date.as_str())),
        ],
    );
}
