//! ЕГРЮЛ extract: ФНС VS «Выписки из ЕГРЮЛ по запросам органов
//! государственной власти» (`FNSVipULRequest` / `FNSVipULResponse`).

use serde::Deserialize;

use super::check::Value;
use super::fns::{
    self, EntityFacts, ExtractSpec, FnsReader, FnsWriter, Head, LegalForm, OkvedData, StatusData,
    StatusRecord, TaxOfficeData, TerminationData,
};
use super::fns_address::{self, AddressParts};
use super::fns_status::{self, LEGAL_ENTITY_STATUSES};
use super::{
    IdKind, Lookup, Outcome, ProviderQuery, check_answer_root, match_subject, record_data,
};
use crate::request::{Kind, LookupRequest, SubjectId};
use crate::xml::{Document, NodeId};

pub const NAMESPACE: &str = "urn://x-artefacts-fns-vipul-tosmv-ru/311-14/4.0.6";

/// The root namespace without its version, and the versions whose answers
/// this reader takes: 4.0.5 and 4.0.6 have the same extract (`СвЮЛ`), so one
/// reader reads both, whatever version requests are sent in.
const ROOT_PREFIX: &str = "urn://x-artefacts-fns-vipul-tosmv-ru/311-14/";
const TYPES_PREFIX: &str = "urn://x-artefacts-fns/vipul-types/";
pub const VERSIONS: [&str; 2] = ["4.0.5", "4.0.6"];

const EXTRACT: ExtractSpec = ExtractSpec {
    element: "СвЮЛ",
    register: "ЕГРЮЛ",
    subject: "о юридическом лице",
    attachments: true,
};

pub struct Egrul {
    ns: String,
    types_ns: String,
}

impl Egrul {
    pub fn new(ns: &str) -> Self {
        // The types schema follows the version of the root schema.
        Egrul {
            ns: ns.to_owned(),
            types_ns: format!("{TYPES_PREFIX}{}", fns::version_of(ns)),
        }
    }

    /// Whether an answer root in `ns` is one this reader takes.
    fn answers_in(&self, ns: &str) -> bool {
        ns == self.ns
            || ns
                .strip_prefix(ROOT_PREFIX)
                .is_some_and(|v| VERSIONS.contains(&v))
    }

    /// The facts of `СвЮЛ`, and which required identification is missing.
    fn facts(r: &FnsReader<'_>, sv: NodeId) -> (EntityFacts, Vec<&'static str>) {
        let name = r.child(sv, "СвНаимЮЛ");
        let uchet = r.child(sv, "СвУчетНО");
        let mut facts = EntityFacts {
            full_name: name
                .and_then(|n| r.attr(n, "НаимЮЛПолн"))
                .unwrap_or_default(),
            short_name: name.and_then(|n| r.attr(n, "НаимЮЛСокр")),
            ogrn: r.attr(sv, "ОГРН"),
            inn: r
                .attr(sv, "ИНН")
                .or_else(|| uchet.and_then(|u| r.attr(u, "ИНН"))),
            kpp: r
                .attr(sv, "КПП")
                .or_else(|| uchet.and_then(|u| r.attr(u, "КПП"))),
            extract_date: r.attr(sv, "ДатаВып").unwrap_or_default(),
            tax_office: uchet.and_then(|u| r.tax_office(u)),
            registering_authority: r.authority(sv),
            ..EntityFacts::default()
        };
        let opf = [
            r.attr(sv, "СпрОПФ"),
            r.attr(sv, "КодОПФ"),
            r.attr(sv, "ПолнНаимОПФ"),
        ];
        if opf.iter().any(Option::is_some) {
            let [classifier, code, name] = opf;
            facts.legal_form = Some(LegalForm {
                classifier,
                code,
                name,
            });
        }
        if let Some(addr) = r.child(sv, "СвАдресЮЛ") {
            let parts = r
                .child(addr, "АдресРФ")
                .map(|a| fns_address::read_address(r, a));
            facts.address = parts.as_ref().map(AddressParts::display);
            facts.address_parts = parts;
            facts.address_unreliable = r.child(addr, "СвНедАдресЮЛ").is_some();
        }
        let reg = r.child(sv, "СвОбрЮЛ");
        facts.registration_date = reg
            .and_then(|g| r.attr(g, "ДатаРег").or_else(|| r.attr(g, "ДатаОГРН")))
            .or_else(|| r.attr(sv, "ДатаОГРН"))
            .unwrap_or_default();
        facts.registration_number = reg.and_then(|g| r.attr(g, "РегНом"));
        facts.former_registering_authority = reg.and_then(|g| r.attr(g, "НаимРО"));

        facts.statuses = r.statuses(
            sv,
            LEGAL_ENTITY_STATUSES,
            ("КодСтатусЮЛ", "НаимСтатусЮЛ"),
            "ГРНДата",
        );
        facts.termination = r.child(sv, "СвПрекрЮЛ").map(|end| {
            let how = r.child(end, "СпПрекрЮЛ");
            let code = how
                .and_then(|h| r.attr(h, "КодСпПрекрЮЛ"))
                .unwrap_or_default();
            StatusRecord {
                state: fns_status::termination_state(true, &code),
                name: how
                    .and_then(|h| r.attr(h, "НаимСпПрекрЮЛ"))
                    .unwrap_or_else(|| "Прекратило деятельность".into()),
                date: r.attr(end, "ДатаПрекрЮЛ"),
                code,
            }
        });
        fns::settle_status(&mut facts, "Действующее");

        for h in r.children(sv, "СведДолжнФЛ") {
            let person = r.child(h, "СвФЛ");
            let pos = r.child(h, "СвДолжн");
            facts.heads.push(Head {
                name: person.and_then(|p| r.person_name(p)).unwrap_or_default(),
                position: pos.and_then(|d| r.attr(d, "НаимДолжн")).unwrap_or_default(),
                inn: person.and_then(|p| r.attr(p, "ИННФЛ")),
                kind: pos.and_then(|d| r.attr(d, "НаимВидДолжн")),
                ogrn: None,
            });
        }
        for m in r.children(sv, "СвУпрОрг") {
            if let Some(n) = r.child(m, "НаимИННЮЛ") {
                facts.heads.push(Head {
                    name: r.attr(n, "НаимЮЛПолн").unwrap_or_default(),
                    position: "Управляющая организация".into(),
                    inn: r.attr(n, "ИНН"),
                    kind: None,
                    ogrn: r.attr(n, "ОГРН"),
                });
            }
        }
        facts.head = facts.heads.first().cloned();
        (facts.main_okved, facts.okved_extra) = r.okved(sv);
        if let Some(c) = r.child(sv, "СвУстКап") {
            facts.capital = r.attr(c, "СумКап");
            facts.capital_kind = r.attr(c, "НаимВидКап");
        }

        let mut missing = Vec::new();
        if facts.full_name.is_empty() {
            missing.push("name (СвНаимЮЛ/@НаимЮЛПолн)");
        }
        if facts.ogrn.is_none() {
            missing.push("ОГРН");
        }
        (facts, missing)
    }
}

impl Lookup for Egrul {
    fn kind(&self) -> Kind {
        Kind::Egrul
    }
    fn namespace(&self) -> &str {
        &self.ns
    }
    fn request_root(&self) -> &'static str {
        "FNSVipULRequest"
    }
    fn response_root(&self) -> &'static str {
        "FNSVipULResponse"
    }

    fn build_request(&self, req: &LookupRequest, doc_id: &str) -> Document {
        let ns = Some(self.ns.as_str());
        let mut doc = Document::new(Some("ul"), "FNSVipULRequest", ns);
        let root = doc.root();
        doc.set_attr(root, "ИдДок", doc_id);
        doc.set_attr(root, "НомерДела", req.case_id.as_str());
        let q = doc.append_element(root, Some("ul"), "ЗапросЮЛ", ns);
        match &req.subject.id {
            SubjectId::Ogrn(v) => doc.append_text_element(q, Some("ul"), "ОГРН", ns, v.as_str()),
            SubjectId::Inn(v) => doc.append_text_element(q, Some("ul"), "ИННЮЛ", ns, v.as_str()),
            other => unreachable!("validation admits only ОГРН or ИНН for egrul, got {other:?}"),
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
        let el = doc.element(root);
        let ns = el.ns.clone().unwrap_or_default();
        if el.local != "FNSVipULResponse" || !self.answers_in(&ns) {
            return Outcome::failed(format!(
                "expected an answer FNSVipULResponse in {ROOT_PREFIX}{{{}}}, got {el}",
                VERSIONS.join(","),
            ));
        }
        if let Some(wrong) =
            check_answer_root(doc, root, (&ns, "FNSVipULResponse"), "ИдДок", doc_id)
        {
            return wrong;
        }
        let r = FnsReader::new(doc, &ns, TYPES_PREFIX);
        let sv = match r.extract_or_code(root, &EXTRACT) {
            Ok(sv) => sv,
            Err(code) => return *code,
        };
        let (facts, missing) = Self::facts(&r, sv);
        let ids = [
            (IdKind::Ogrn, facts.ogrn.clone()),
            (
                IdKind::Ogrn,
                r.child(sv, "СвОбрЮЛ").and_then(|g| r.attr(g, "ОГРН")),
            ),
            (IdKind::Inn, r.attr(sv, "ИНН")),
            (
                IdKind::Inn,
                r.child(sv, "СвУчетНО").and_then(|u| r.attr(u, "ИНН")),
            ),
        ];
        fns::matched_extract(match_subject(req, &ids), facts, missing)
    }

    fn read_request(&self, doc: &Document, root: NodeId) -> Result<ProviderQuery, Vec<String>> {
        fns::read_extract_request(
            doc,
            root,
            &self.ns,
            ("FNSVipULRequest", "ЗапросЮЛ"),
            [("ОГРН", Value::Digits(13)), ("ИННЮЛ", Value::Inn(10))],
        )
    }

    fn answer_identifiers(&self, answer: &toml::Value) -> Result<Vec<String>, String> {
        let data: EgrulData = record_data(answer)?;
        data.validate()?;
        Ok(vec![data.ogrn, data.inn])
    }

    fn render_answer(
        &self,
        query: &ProviderQuery,
        answer: Option<&toml::Value>,
    ) -> Result<Document, String> {
        let Some(answer) = answer else {
            return self.render_processing_code(query, "01");
        };
        let data: EgrulData = record_data(answer)?;
        data.validate()?;
        let mut doc = fns::answer_doc(&self.ns, "FNSVipULResponse", &query.doc_id);
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
            "FNSVipULResponse",
            &query.doc_id,
            code,
        ))
    }
}

/// An ЕГРЮЛ extract as a tester writes it in `fixtures/registers/egrul.toml`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct EgrulData {
    ogrn: String,
    inn: String,
    kpp: String,
    full_name: String,
    short_name: Option<String>,
    /// ОКОПФ code and name («12300», «Общества с ограниченной ответственностью»).
    opf_code: String,
    opf_name: String,
    registered: String,
    /// Registration before 1 July 2002, by the old registering body.
    registered_before_2002: Option<String>,
    extract_date: String,
    address: AddressData,
    #[serde(default)]
    address_unreliable: bool,
    email: Option<String>,
    tax_office: TaxOfficeData,
    registering_office: TaxOfficeData,
    /// Every status record (`СвСтатус`), in order: the schema allows one
    /// per status (two reorganisations, a liquidation after another…).
    #[serde(default)]
    statuses: Vec<StatusData>,
    termination: Option<TerminationData>,
    head: Option<HeadData>,
    /// Further persons who may act without a power of attorney.
    #[serde(default)]
    co_heads: Vec<HeadData>,
    /// `ПрВерсОКВЭД` of the activity codes; empty leaves the attribute
    /// out, as older extracts do (read as the 2001 edition).
    #[serde(default = "fns::okved_2014")]
    okved_edition: String,
    okved: Option<OkvedData>,
    #[serde(default)]
    okved_extra: Vec<OkvedData>,
    capital: Option<CapitalData>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AddressData {
    index: Option<String>,
    region_code: String,
    /// `[type, name]`, as ФНС splits them: `["ОБЛАСТЬ", "ЛЕНИНГРАДСКАЯ"]`.
    region: [String; 2],
    district: Option<[String; 2]>,
    city: Option<[String; 2]>,
    locality: Option<[String; 2]>,
    street: Option<[String; 2]>,
    house: Option<String>,
    building: Option<String>,
    flat: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct HeadData {
    last_name: String,
    first_name: String,
    middle_name: Option<String>,
    inn: Option<String>,
    position: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CapitalData {
    kind: String,
    amount: String,
}

impl EgrulData {
    fn validate(&self) -> Result<(), String> {
        use crate::request::{Inn, Kpp, Ogrn};
        Ogrn::parse(&self.ogrn).map_err(|e| e.message)?;
        Inn::parse_legal(&self.inn).map_err(|e| e.message)?;
        Kpp::parse(&self.kpp).map_err(|e| e.message)?;
        for d in [&self.registered, &self.extract_date] {
            fns::year_of(d)?;
        }
        for h in self.head.iter().chain(&self.co_heads) {
            if let Some(inn) = &h.inn {
                Inn::parse_individual(inn).map_err(|e| format!("head: {}", e.message))?;
            }
        }
        for st in &self.statuses {
            fns::year_of(&st.date)?;
        }
        Ok(())
    }

    fn render(&self, w: &mut FnsWriter<'_>, root: NodeId) -> Result<(), String> {
        let region = self.address.region_code.as_str();
        let reg_year = fns::year_of(&self.registered)?;
        // Registration records: creation first, then status and termination.
        let mut seq = 1u32;
        let mut next_grn = |date: &str| -> Result<(String, String), String> {
            seq += 1;
            Ok((
                fns::grn(2, fns::year_of(date)?, region, seq * 7919),
                date.to_owned(),
            ))
        };
        let creation = (self.ogrn.clone(), self.registered.clone());

        let sv = w.el(
            root,
            "СвЮЛ",
            &[
                ("ДатаВып", Some(&self.extract_date)),
                ("ОГРН", Some(&self.ogrn)),
                ("ДатаОГРН", Some(&self.registered)),
                ("ИНН", Some(&self.inn)),
                ("КПП", Some(&self.kpp)),
                ("СпрОПФ", Some("ОКОПФ")),
                ("КодОПФ", Some(&self.opf_code)),
                ("ПолнНаимОПФ", Some(&self.opf_name)),
            ],
        );
        let name = w.el(
            sv,
            "СвНаимЮЛ",
            &[
                ("НаимЮЛПолн", Some(&self.full_name)),
                ("НаимЮЛСокр", self.short_name.as_deref()),
            ],
        );
        grn_date(w, name, false, &creation);

        let addr = w.el(sv, "СвАдресЮЛ", &[]);
        let a = &self.address;
        let rf = w.el(
            addr,
            "АдресРФ",
            &[
                ("Индекс", a.index.as_deref()),
                ("КодРегион", Some(&a.region_code)),
                ("Дом", a.house.as_deref()),
                ("Корпус", a.building.as_deref()),
                ("Кварт", a.flat.as_deref()),
            ],
        );
        w.tel(
            rf,
            "Регион",
            &[
                ("ТипРегион", Some(&a.region[0])),
                ("НаимРегион", Some(&a.region[1])),
            ],
        );
        for (el, ty, nm, val) in [
            ("Район", "ТипРайон", "НаимРайон", &a.district),
            ("Город", "ТипГород", "НаимГород", &a.city),
            ("НаселПункт", "ТипНаселПункт", "НаимНаселПункт", &a.locality),
            ("Улица", "ТипУлица", "НаимУлица", &a.street),
        ] {
            if let Some([t, n]) = val {
                w.tel(rf, el, &[(ty, Some(t)), (nm, Some(n))]);
            }
        }
        grn_date(w, rf, true, &creation);
        if self.address_unreliable {
            let ned = w.el(
                addr,
                "СвНедАдресЮЛ",
                &[
                    ("ПризнНедАдресЮЛ", Some("2")),
                    ("ТекстНедАдресЮЛ", Some("сведения недостоверны (результаты проверки достоверности содержащихся в ЕГРЮЛ сведений о юридическом лице)")),
                ],
            );
            let rec = next_grn(&self.extract_date)?;
            grn_date(w, ned, false, &rec);
        }
        if let Some(email) = &self.email {
            let e = w.el(sv, "СвАдрЭлПочты", &[("E-mail", Some(email))]);
            grn_date(w, e, false, &creation);
        }
        let obr = w.el(
            sv,
            "СвОбрЮЛ",
            &[
                ("ОГРН", Some(&self.ogrn)),
                ("ДатаОГРН", Some(&self.registered)),
                ("ДатаРег", self.registered_before_2002.as_deref()),
            ],
        );
        let (sp_code, sp_name) = if self.registered_before_2002.is_some() {
            ("02", "Регистрация до 1 июля 2002 года")
        } else {
            ("01", "Создание юридического лица")
        };
        w.el(
            obr,
            "СпОбрЮЛ",
            &[
                ("КодСпОбрЮЛ", Some(sp_code)),
                ("НаимСпОбрЮЛ", Some(sp_name)),
            ],
        );
        grn_date(w, obr, false, &creation);
        let ro = w.el(
            sv,
            "СвРегОрг",
            &[
                ("КодНО", Some(&self.registering_office.code)),
                ("НаимНО", Some(&self.registering_office.name)),
            ],
        );
        grn_date(w, ro, false, &creation);

        let mut records = vec![(creation.clone(), "11001", "Создание юридического лица")];
        for st in &self.statuses {
            let wrap = w.el(sv, "СвСтатус", &[]);
            w.el(
                wrap,
                "СвСтатус",
                &[
                    ("КодСтатусЮЛ", Some(&st.code)),
                    ("НаимСтатусЮЛ", Some(&st.name)),
                ],
            );
            let rec = next_grn(&st.date)?;
            grn_date(w, wrap, false, &rec);
            records.push((
                rec,
                "12001",
                "Изменение сведений о статусе юридического лица",
            ));
        }
        if let Some(t) = &self.termination {
            let end = w.el(sv, "СвПрекрЮЛ", &[("ДатаПрекрЮЛ", Some(&t.date))]);
            w.el(
                end,
                "СпПрекрЮЛ",
                &[
                    ("КодСпПрекрЮЛ", Some(&t.code)),
                    ("НаимСпПрекрЮЛ", Some(&t.name)),
                ],
            );
            w.el(
                end,
                "СвРегОрг",
                &[
                    ("КодНО", Some(&self.registering_office.code)),
                    ("НаимНО", Some(&self.registering_office.name)),
                ],
            );
            let rec = next_grn(&t.date)?;
            grn_date(w, end, false, &rec);
            records.push((rec, "16001", "Прекращение деятельности юридического лица"));
        }
        let tax = w.el(
            sv,
            "СвУчетНО",
            &[
                ("ИНН", Some(&self.inn)),
                ("КПП", Some(&self.kpp)),
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
        grn_date(w, tax, false, &creation);
        if let Some(c) = &self.capital {
            let cap = w.el(
                sv,
                "СвУстКап",
                &[("НаимВидКап", Some(&c.kind)), ("СумКап", Some(&c.amount))],
            );
            grn_date(w, cap, false, &creation);
        }
        for h in self.head.iter().chain(&self.co_heads) {
            let d = w.el(sv, "СведДолжнФЛ", &[]);
            let fl = w.el(
                d,
                "СвФЛ",
                &[
                    ("Фамилия", Some(&h.last_name)),
                    ("Имя", Some(&h.first_name)),
                    ("Отчество", h.middle_name.as_deref()),
                    ("ИННФЛ", h.inn.as_deref()),
                ],
            );
            grn_date(w, fl, true, &creation);
            let pos = w.el(
                d,
                "СвДолжн",
                &[
                    ("ВидДолжн", Some("02")),
                    ("НаимВидДолжн", Some("Руководитель юридического лица")),
                    ("НаимДолжн", Some(&h.position)),
                ],
            );
            grn_date(w, pos, false, &creation);
        }
        fns::render_okved(
            w,
            sv,
            self.okved.as_ref(),
            &self.okved_extra,
            &self.okved_edition,
            ("ГРНДата", "ГРН"),
            &creation,
        );
        fns::render_records(
            w,
            sv,
            ("СвЗапЕГРЮЛ", "ГРН"),
            reg_year,
            &records,
            &self.registering_office,
        );
        Ok(())
    }
}

/// `ГРНДата` (record number and date) under `parent`; `typed` when the
/// parent is declared by a shared type, which puts it in the types namespace.
fn grn_date(w: &mut FnsWriter<'_>, parent: NodeId, typed: bool, (grn, date): &(String, String)) {
    let attrs = [
        ("ГРН", Some(grn.as_str())),
        ("ДатаЗаписи", Some(date.as_str())),
    ];
    if typed {
        w.tel(parent, "ГРНДата", &attrs);
    } else {
        w.el(parent, "ГРНДата", &attrs);
    }
}
