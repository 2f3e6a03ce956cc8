//! What the two ФНС extract VS (ЕГРЮЛ and ЕГРИП) share: the facts an officer
//! needs, and helpers for writing their two-namespace XML.

use serde::{Deserialize, Serialize};

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
