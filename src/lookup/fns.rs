//! What the two ФНС extract VS (ЕГРЮЛ and ЕГРИП) share: the facts an officer
//! needs, and helpers for writing their two-namespace XML.

use serde::{Deserialize, Serialize};

use super::{Outcome, RejectedBy, Verdict};
use crate::xml::{Document, NodeId};

/// The facts of a register extract (ЕГРЮЛ or ЕГРИП).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct EntityFacts {
    pub full_name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub short_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ogrn: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ogrnip: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub inn: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kpp: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    /// ФНС flagged the address as unreliable («недостоверность»).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub address_unreliable: bool,
    /// Status in words; «Действующее» when the extract has no status record.
    pub status: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status_code: Option<String>,
    /// `false` once the entity or the entrepreneur's activity has ended.
    pub active: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub termination_date: Option<String>,
    pub registration_date: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub head: Option<Head>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub main_okved: Option<Okved>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub capital: Option<String>,
    pub extract_date: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Head {
    pub name: String,
    pub position: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub inn: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Okved {
    pub code: String,
    pub name: String,
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
            "КодОбр 54: the extract came as an attachment, which mezhved does not read; open the SMEV answer in the case file",
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
                ("ПрВерсОКВЭД", Some("2014")),
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

/// A person's name from `Фамилия`, `Имя`, `Отчество` attributes.
pub(super) fn person_name(doc: &Document, id: NodeId) -> String {
    let el = doc.element(id);
    ["Фамилия", "Имя", "Отчество"]
        .iter()
        .filter_map(|a| el.attr(a))
        .collect::<Vec<_>>()
        .join(" ")
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
