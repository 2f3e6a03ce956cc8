//! What the two ФНС extract VS (ЕГРЮЛ and ЕГРИП) share: the facts an officer
//! needs, and helpers for writing their two-namespace XML.

use serde::{Deserialize, Serialize};

use super::check::{Check, Value};
use super::fns_address::AddressParts;
use super::fns_status::{self, State, StatusRow};
use super::{MatchedSubject, Outcome, ProviderQuery, RejectedBy, Verdict};
use crate::xml::{Document, NodeId};

/// The facts of a register extract (ЕГРЮЛ or ЕГРИП), as README's reply
/// section lists them. Keys that case systems already read keep their
/// names and shapes; the others are additions.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct EntityFacts {
    pub full_name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub short_name: Option<String>,
    /// ЕГРИП: the entrepreneur's surname, name and patronymic.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub person_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ogrn: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ogrnip: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub inn: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kpp: Option<String>,
    /// ЕГРЮЛ: the legal form (ОКОПФ).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub legal_form: Option<LegalForm>,
    /// ЕГРИП: entrepreneur or head of a farm (`КодВидИП`, `НаимВидИП`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub entrepreneur_kind: Option<Coded>,
    /// The address as one line, with the labels of its parts.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub address_parts: Option<AddressParts>,
    /// ФНС flagged the address as unreliable («недостоверность»).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub address_unreliable: bool,
    /// Status in words: the termination, the status records joined, or
    /// «Действующее» / «Действующий» when the extract has none.
    pub status: String,
    /// The code of the record that decides `state`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status_code: Option<String>,
    /// The state derived from every status record and the termination.
    pub state: State,
    /// `true` while the subject operates, `false` once it ended or is being
    /// wound up, `null` when a status code is unknown (then the result asks
    /// for a fallback).
    pub active: Option<bool>,
    /// Every `СвСтатус`, in the order of the extract.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub statuses: Vec<StatusRecord>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub termination: Option<StatusRecord>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub termination_date: Option<String>,
    pub registration_date: String,
    /// The number given by the registering body before the register
    /// (ЕГРЮЛ before 1 July 2002, ЕГРИП before 1 January 2004).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub registration_number: Option<String>,
    /// The body that registered the subject then.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub former_registering_authority: Option<String>,
    /// The registering tax office (`СвРегОрг`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub registering_authority: Option<Authority>,
    /// The tax office the subject is registered with (`СвУчетНО`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tax_office: Option<TaxOffice>,
    /// The first of `heads` (kept for case systems that read one).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub head: Option<Head>,
    /// Everyone who may act for the entity without a power of attorney.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub heads: Vec<Head>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub main_okved: Option<Okved>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub okved_extra: Vec<Okved>,
    /// The amount of the share capital in roubles (`СумКап`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub capital: Option<String>,
    /// Its kind (`НаимВидКап`: «УСТАВНЫЙ КАПИТАЛ»…).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub capital_kind: Option<String>,
    pub extract_date: String,
}

/// A code with its name.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Coded {
    pub code: String,
    pub name: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LegalForm {
    /// `ОКОПФ` or `КОПФ` (`СпрОПФ`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub classifier: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

/// A status or termination record.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusRecord {
    pub code: String,
    pub name: String,
    /// When it took effect: the termination date, or the date of the
    /// register entry that holds the status.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub date: Option<String>,
    pub state: State,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Authority {
    pub code: String,
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaxOffice {
    pub code: String,
    pub name: String,
    /// Date of registration with it (`ДатаПостУч`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub registered_on: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Head {
    pub name: String,
    pub position: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub inn: Option<String>,
    /// The kind of official (`НаимВидДолжн`: «РУКОВОДИТЕЛЬ ЮРИДИЧЕСКОГО ЛИЦА»).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// A management company's ОГРН.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ogrn: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Okved {
    pub code: String,
    pub name: String,
    /// The ОКВЭД edition: `2014` (ОК 029-2014) or `2001` (ОК 029-2001,
    /// also when `ПрВерсОКВЭД` is absent, as the schema prescribes).
    pub edition: String,
}

/// Reads a ФНС answer by namespace: an element of the VS is in the root
/// namespace or in the types namespace of the same version (which one
/// depends on where the schema declares it), never in another.
pub(super) struct FnsReader<'a> {
    pub doc: &'a Document,
    pub ns: &'a str,
    pub types_ns: String,
}

impl<'a> FnsReader<'a> {
    /// For an answer whose root is in `ns`; `types_prefix` is the types
    /// namespace without its version (`urn://x-artefacts-fns/vipul-types/`).
    pub fn new(doc: &'a Document, ns: &'a str, types_prefix: &str) -> Self {
        FnsReader {
            doc,
            ns,
            types_ns: format!("{types_prefix}{}", version_of(ns)),
        }
    }

    fn is(&self, id: NodeId, local: &str) -> bool {
        let e = self.doc.element(id);
        e.local == local && matches!(e.ns.as_deref(), Some(n) if n == self.ns || n == self.types_ns)
    }

    /// The first child element named `local`.
    pub fn child(&self, id: NodeId, local: &str) -> Option<NodeId> {
        self.doc.child_elements(id).find(|c| self.is(*c, local))
    }

    /// Every child element named `local`, in order.
    pub fn children(&self, id: NodeId, local: &str) -> Vec<NodeId> {
        self.doc
            .child_elements(id)
            .filter(|c| self.is(*c, local))
            .collect()
    }

    /// An attribute's value, trimmed; `None` when absent or empty.
    pub fn attr(&self, id: NodeId, name: &str) -> Option<String> {
        self.doc
            .element(id)
            .attr(name)
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .map(str::to_owned)
    }

    /// The text of the first child named `local`, trimmed.
    pub fn child_text(&self, id: NodeId, local: &str) -> Option<String> {
        self.child(id, local)
            .map(|c| self.doc.text(c).trim().to_owned())
            .filter(|t| !t.is_empty())
    }

    /// `ДатаЗаписи` of the record element (`ГРНДата`, `ГРНИПДата`) under `id`.
    pub fn record_date(&self, id: NodeId, record_el: &str) -> Option<String> {
        self.child(id, record_el)
            .and_then(|g| self.attr(g, "ДатаЗаписи"))
    }

    /// A person's name from `Фамилия`, `Имя`, `Отчество`.
    pub fn person_name(&self, id: NodeId) -> Option<String> {
        let words: Vec<String> = ["Фамилия", "Имя", "Отчество"]
            .iter()
            .filter_map(|a| self.attr(id, a))
            .collect();
        (!words.is_empty()).then(|| words.join(" "))
    }

    /// Every `СвСтатус` under `sv`, in order, with the codes of `table`:
    /// `attrs` names the code and name attributes of the inner `СвСтатус`,
    /// `record_el` the element that dates the register entry.
    pub fn statuses(
        &self,
        sv: NodeId,
        table: &[StatusRow],
        (code_attr, name_attr): (&str, &str),
        record_el: &str,
    ) -> Vec<StatusRecord> {
        self.children(sv, "СвСтатус")
            .into_iter()
            .map(|wrap| {
                let st = self.child(wrap, "СвСтатус");
                let code = st.and_then(|s| self.attr(s, code_attr)).unwrap_or_default();
                StatusRecord {
                    state: fns_status::status_state(table, &code),
                    name: st.and_then(|s| self.attr(s, name_attr)).unwrap_or_default(),
                    date: self.record_date(wrap, record_el),
                    code,
                }
            })
            .collect()
    }

    /// The extract element (`СвЮЛ`, `СвИП`) under the answer's root, or the
    /// outcome of the processing code (`КодОбр`) the answer carries instead.
    pub fn extract_or_code(
        &self,
        root: NodeId,
        spec: &ExtractSpec,
    ) -> Result<NodeId, Box<Outcome>> {
        self.child(root, spec.element).ok_or_else(|| {
            Box::new(processing_code_outcome(
                self.child_text(root, "КодОбр").as_deref(),
                spec.register,
                spec.subject,
                spec.element,
                spec.attachments,
            ))
        })
    }

    /// `СвОКВЭД`: the main activity and the others.
    pub fn okved(&self, sv: NodeId) -> (Option<Okved>, Vec<Okved>) {
        let Some(o) = self.child(sv, "СвОКВЭД") else {
            return (None, Vec::new());
        };
        let read = |e: NodeId| {
            Some(Okved {
                code: self.attr(e, "КодОКВЭД")?,
                name: self.attr(e, "НаимОКВЭД").unwrap_or_default(),
                edition: self.attr(e, "ПрВерсОКВЭД").unwrap_or_else(|| "2001".into()),
            })
        };
        (
            self.child(o, "СвОКВЭДОсн").and_then(read),
            self.children(o, "СвОКВЭДДоп")
                .into_iter()
                .filter_map(read)
                .collect(),
        )
    }

    /// `СвРегОрг`: the registering office.
    pub fn authority(&self, sv: NodeId) -> Option<Authority> {
        self.child(sv, "СвРегОрг").and_then(|r| {
            Some(Authority {
                code: self.attr(r, "КодНО")?,
                name: self.attr(r, "НаимНО").unwrap_or_default(),
                address: self.attr(r, "АдрРО"),
            })
        })
    }

    /// `СвУчетНО/СвНО`: the tax office the subject is registered with.
    pub fn tax_office(&self, uchet: NodeId) -> Option<TaxOffice> {
        self.child(uchet, "СвНО").and_then(|n| {
            Some(TaxOffice {
                code: self.attr(n, "КодНО")?,
                name: self.attr(n, "НаимНО").unwrap_or_default(),
                registered_on: self.attr(uchet, "ДатаПостУч"),
            })
        })
    }
}

/// What an extract VS calls its extract, for [`FnsReader::extract_or_code`]
/// and [`processing_code_outcome`].
pub(super) struct ExtractSpec {
    pub element: &'static str,
    pub register: &'static str,
    /// How the not-found note names the subject («о юридическом лице»).
    pub subject: &'static str,
    /// Whether the VS can send the extract as an attachment (КодОбр 54).
    pub attachments: bool,
}

/// The version at the end of a ФНС namespace (`…/4.0.6` → `4.0.6`).
pub(super) fn version_of(ns: &str) -> &str {
    ns.rsplit('/').next().unwrap_or(ns)
}

/// Derives `state`, `active`, `status` and `status_code` of `facts` from
/// its status records and termination; `idle` is the status text when there
/// are none («Действующее»).
pub(super) fn settle_status(facts: &mut EntityFacts, idle: &str) {
    let records = facts.statuses.iter().chain(facts.termination.as_ref());
    let decisive = records.max_by_key(|r| r.state.severity());
    facts.state = decisive.map_or(State::Active, |r| r.state);
    facts.active = facts.state.active();
    facts.status_code = decisive.map(|r| r.code.clone());
    facts.status = match (&facts.termination, facts.statuses.as_slice()) {
        (Some(t), _) => t.name.clone(),
        (None, []) => idle.to_owned(),
        (None, all) => all
            .iter()
            .map(|s| s.name.as_str())
            .collect::<Vec<_>>()
            .join("; "),
    };
    facts.termination_date = facts.termination.as_ref().and_then(|t| t.date.clone());
}

/// The outcome of an extract after matching its subject: a mismatch is a
/// failure; an extract with nothing to compare is read with a note.
pub(super) fn matched_extract(
    matched: MatchedSubject,
    facts: EntityFacts,
    missing: Vec<&str>,
) -> Outcome {
    match matched {
        MatchedSubject::No(wrong) => *wrong,
        MatchedSubject::Yes => extract_outcome(facts, missing),
        MatchedSubject::Unconfirmed(asked) => {
            let o = extract_outcome(facts, missing);
            let note = format!(
                "the extract carries no identifier to compare with the requested {asked}; it is read as the answer to this request"
            );
            let note = match &o.note {
                Some(n) => format!("{n}; {note}"),
                None => note,
            };
            o.with_note(note)
        }
    }
}

/// The outcome of a found extract: `found`, unless its required
/// identification is missing (`unknown`, whatever else it says) or a
/// status code is unknown (`found` with a fallback).
pub(super) fn extract_outcome(facts: EntityFacts, missing: Vec<&str>) -> Outcome {
    let unknown_codes: Vec<String> = facts
        .statuses
        .iter()
        .filter(|s| s.state == State::Unknown)
        .map(|s| format!("{} «{}»", s.code, s.name))
        .collect();
    if !missing.is_empty() {
        return Outcome::with_facts(Verdict::Unknown, facts).with_note(format!(
            "the extract lacks its required {}; it cannot be taken as the register's answer about the subject",
            missing.join(" and ")
        ));
    }
    if facts.active.is_none() {
        return Outcome::with_facts(Verdict::Found, facts)
            .with_note(format!(
                "status code {} is not one mezhved knows (see README, Statuses): whether the subject operates is not established",
                unknown_codes.join(", ")
            ))
            .with_fallback();
    }
    Outcome::with_facts(Verdict::Found, facts)
}

/// Writes elements of a ФНС VS, whose root-file elements are in the VS
/// namespace and elements inside shared types in the types namespace.
pub(super) struct FnsWriter<'a> {
    pub doc: &'a mut Document,
    pub ns: &'a str,
    pub types_ns: &'a str,
}

impl FnsWriter<'_> {
    /// An element declared in the VS root schema.
    pub fn el(&mut self, parent: NodeId, local: &str, attrs: &[(&str, Option<&str>)]) -> NodeId {
        let id = self
            .doc
            .append_element(parent, Some("fns"), local, Some(self.ns));
        self.attrs(id, attrs);
        id
    }

    /// An element declared inside a type of the types schema.
    pub fn tel(&mut self, parent: NodeId, local: &str, attrs: &[(&str, Option<&str>)]) -> NodeId {
        let id = self
            .doc
            .append_element(parent, Some("fnst"), local, Some(self.types_ns));
        self.attrs(id, attrs);
        id
    }

    fn attrs(&mut self, id: NodeId, attrs: &[(&str, Option<&str>)]) {
        for (k, v) in attrs {
            if let Some(v) = v {
                self.doc.set_attr(id, k, v);
            }
        }
    }
}

/// The root of an extract answer, carrying the request's document id.
pub(super) fn answer_doc(ns: &str, root: &str, doc_id: &str) -> Document {
    let mut doc = Document::new(Some("fns"), root, Some(ns));
    let r = doc.root();
    doc.set_attr(r, "ИдДок", doc_id);
    doc
}

/// An answer with a processing code (`КодОбр`) instead of an extract.
pub(super) fn processing_code_doc(ns: &str, root: &str, doc_id: &str, code: &str) -> Document {
    let mut doc = answer_doc(ns, root, doc_id);
    let r = doc.root();
    doc.append_text_element(r, Some("fns"), "КодОбр", Some(ns), code);
    doc
}

/// What a `КодОбр` answer means. `register` and `subject` word the
/// not-found note; `attachments` says whether the VS can send the extract
/// as an attachment (code 54).
pub(super) fn processing_code_outcome(
    code: Option<&str>,
    register: &str,
    subject: &str,
    extract_element: &str,
    attachments: bool,
) -> Outcome {
    match code {
        Some("01") => Outcome::new(Verdict::NotFound).with_note(format!(
            "КодОбр 01: сведения {subject} в {register} не найдены"
        )),
        Some("53") => Outcome::rejected(
            RejectedBy::Agency,
            "53",
            "Сведения не могут быть предоставлены в электронном виде: запросите выписку на бумажном носителе",
        ),
        Some("54") if attachments => Outcome::failed(
            "КодОбр 54: the answer says the extract is attached, but it carries no attachment; open the SMEV answer in the case file",
        ),
        Some(code) => Outcome::rejected(
            RejectedBy::Agency,
            code,
            format!("unknown {register} processing code {code}"),
        ),
        None => Outcome::failed(format!(
            "the {register} answer has neither {extract_element} nor КодОбр"
        )),
    }
}

/// A registration record: its number and date.
pub(super) type Record = (String, String);

/// `СвОКВЭД`: the main activity code and the others. `record` names the
/// record element in the types namespace and its number attribute
/// (`ГРНДата`/`ГРН` or `ГРНИПДата`/`ГРНИП`).
pub(super) fn render_okved(
    w: &mut FnsWriter<'_>,
    parent: NodeId,
    main: Option<&OkvedData>,
    extra: &[OkvedData],
    edition: &str,
    (record_el, number_attr): (&str, &str),
    (number, date): &Record,
) {
    if main.is_none() && extra.is_empty() {
        return;
    }
    let o = w.el(parent, "СвОКВЭД", &[]);
    let all = main
        .map(|x| ("СвОКВЭДОсн", x))
        .into_iter()
        .chain(extra.iter().map(|x| ("СвОКВЭДДоп", x)));
    for (el, x) in all {
        let e = w.el(
            o,
            el,
            &[
                ("КодОКВЭД", Some(&x.code)),
                ("НаимОКВЭД", Some(&x.name)),
                ("ПрВерсОКВЭД", Some(edition).filter(|e| !e.is_empty())),
            ],
        );
        w.tel(
            e,
            record_el,
            &[(number_attr, Some(number)), ("ДатаЗаписи", Some(date))],
        );
    }
}

/// The register's entries (`СвЗапЕГРЮЛ` / `СвЗапЕГРИП`), one per record with
/// its kind code (СПВЗ) and name, all by the registering office.
pub(super) fn render_records(
    w: &mut FnsWriter<'_>,
    parent: NodeId,
    (element, number_attr): (&str, &str),
    first_year: i32,
    records: &[(Record, &str, &str)],
    office: &TaxOfficeData,
) {
    for (i, ((number, date), code, name)) in records.iter().enumerate() {
        let id = format!("{first_year}{:04}", i + 1);
        let z = w.el(
            parent,
            element,
            &[
                ("ИдЗап", Some(&id)),
                (number_attr, Some(number)),
                ("ДатаЗап", Some(date)),
            ],
        );
        w.el(
            z,
            "ВидЗап",
            &[("КодСПВЗ", Some(code)), ("НаимВидЗап", Some(name))],
        );
        w.el(
            z,
            "СвРегОрг",
            &[
                ("КодНО", Some(&office.code)),
                ("НаимНО", Some(&office.name)),
            ],
        );
    }
}

/// A state registration number (ГРН) with its check digit: kind digit,
/// two digits of the year, two of the region, seven of the sequence.
pub(super) fn grn(kind: u8, year: i32, region: &str, seq: u32) -> String {
    let head = format!(
        "{kind}{:02}{:0>2}{:07}",
        year.rem_euclid(100),
        &region[..2.min(region.len())],
        seq % 10_000_000
    );
    let n: u64 = head.parse().unwrap_or(0);
    format!("{head}{}", n % 11 % 10)
}

/// The same for ГРНИП (15 digits, modulo 13).
pub(super) fn grnip(kind: u8, year: i32, region: &str, seq: u32) -> String {
    let head = format!(
        "{kind}{:02}{:0>2}{:09}",
        year.rem_euclid(100),
        &region[..2.min(region.len())],
        seq % 1_000_000_000
    );
    let n: u64 = head.parse().unwrap_or(0);
    format!("{head}{}", n % 13 % 10)
}

/// `"2014-03-12"` → year, checked as a date.
pub(super) fn year_of(date: &str) -> Result<i32, String> {
    crate::clock::parse_iso_date(date)
        .map(|d| d.year())
        .ok_or_else(|| format!("{date:?} is not a date YYYY-MM-DD"))
}

/// The default `ПрВерсОКВЭД` of fixture data.
pub(super) fn okved_2014() -> String {
    "2014".into()
}

/// Fixture form of an ОКВЭД entry.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct OkvedData {
    pub code: String,
    pub name: String,
}

/// Fixture form of a tax office.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct TaxOfficeData {
    pub code: String,
    pub name: String,
}

/// Fixture form of a status record.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct StatusData {
    pub code: String,
    pub name: String,
    pub date: String,
}

/// Fixture form of a termination record.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct TerminationData {
    pub date: String,
    pub code: String,
    pub name: String,
}

/// Reads an extract request of the ФНС VS (the emulator's side): the root
/// with `ИдДок` and an optional `НомерДела`, one query element holding one
/// of two identifiers (ОГРН or ИНН, each with its value type).
pub(super) fn read_extract_request(
    doc: &Document,
    root: NodeId,
    ns: &str,
    (request, query_el): (&str, &str),
    ids: [(&str, Value); 2],
) -> Result<ProviderQuery, Vec<String>> {
    let mut c = Check::new(doc, ns);
    c.root(root, request);
    let attrs = c.attrs(
        root,
        &[
            ("ИдДок", true, Value::Len(1, 36)),
            ("НомерДела", false, Value::Len(1, 50)),
        ],
    );
    let id = c
        .sequence(root, &[(query_el, 1, 1)])
        .first()
        .and_then(|(_, q)| {
            c.attrs(*q, &[]);
            let (name, el) = c.choice(*q, &[ids[0].0, ids[1].0])?;
            let value = if name == ids[0].0 { ids[0].1 } else { ids[1].1 };
            c.value(el, value)
        });
    let query = attrs[0].clone().zip(id).map(|(doc_id, id)| ProviderQuery {
        doc_id,
        identifiers: vec![id],
    });
    c.finish(query)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::request::{Ogrn, Ogrnip};

    #[test]
    fn generated_registration_numbers_pass_their_checks() {
        for seq in [1, 42, 9_999_999] {
            let g = grn(1, 2014, "47", seq);
            assert!(Ogrn::parse(&g).is_ok(), "{g}");
            let g = grnip(3, 2018, "47", seq);
            assert!(Ogrnip::parse(&g).is_ok(), "{g}");
        }
    }
}
