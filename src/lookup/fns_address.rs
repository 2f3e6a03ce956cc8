//! Addresses in ФНС extracts, as typed parts and one display line.
//!
//! Both schemas (ЕГРЮЛ 4.0.6 `АдрРФЕГРЮЛТип`, ЕГРИП 4.0.5
//! `АдрРФИПОткрТип`) carry the КЛАДР-based address: region, district, city,
//! locality and street as elements with a kind and a name, house, building
//! and flat as attributes whose kind is fixed by the attribute. Real answers
//! give bare numbers there («Дом="7" Корпус="6"»), so the display line adds
//! the labels («д. 7, корп. 6»); a value that already names its kind
//! («ДОМ 12») is shown as it is. Neither schema version has a ФИАС (ГАР)
//! address block.

use serde::{Deserialize, Serialize};

use super::fns::FnsReader;
use crate::xml::NodeId;

/// An element of an address as ФНС writes it: the kind («ОБЛАСТЬ»,
/// «УЛИЦА») and the name.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AddressElement {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    pub name: String,
}

/// The typed parts of an address (`address_parts` in the facts).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AddressParts {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub postcode: Option<String>,
    /// Code of the subject of the Federation (`КодРегион`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub region_code: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kladr_code: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub region: Option<AddressElement>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub district: Option<AddressElement>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub city: Option<AddressElement>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub locality: Option<AddressElement>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub street: Option<AddressElement>,
    /// `Дом`: house (holding and the like).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub house: Option<String>,
    /// `Корпус`: building (block and the like).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub building: Option<String>,
    /// `Кварт`: flat (office and the like).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub flat: Option<String>,
}

/// The elements of the address types, with their kind and name attributes.
const ELEMENTS: [(&str, &str, &str); 5] = [
    ("Регион", "ТипРегион", "НаимРегион"),
    ("Район", "ТипРайон", "НаимРайон"),
    ("Город", "ТипГород", "НаимГород"),
    ("НаселПункт", "ТипНаселПункт", "НаимНаселПункт"),
    ("Улица", "ТипУлица", "НаимУлица"),
];

/// Reads an `АдресРФ` element of either schema.
pub(super) fn read_address(r: &FnsReader<'_>, a: NodeId) -> AddressParts {
    let element = |i: usize| {
        let (el, kind, name) = ELEMENTS[i];
        r.child(a, el).and_then(|e| {
            Some(AddressElement {
                kind: r.attr(e, kind),
                name: r.attr(e, name)?,
            })
        })
    };
    AddressParts {
        postcode: r.attr(a, "Индекс"),
        region_code: r.attr(a, "КодРегион"),
        kladr_code: r.attr(a, "КодАдрКладр"),
        region: element(0),
        district: element(1),
        city: element(2),
        locality: element(3),
        street: element(4),
        house: r.attr(a, "Дом"),
        building: r.attr(a, "Корпус"),
        flat: r.attr(a, "Кварт"),
    }
}

impl AddressParts {
    /// `187403, ОБЛАСТЬ ЛЕНИНГРАДСКАЯ, ГОРОД ВОЛХОВ, УЛИЦА ЛЕНИНА, д. 7, корп. 6`.
    pub fn display(&self) -> String {
        let mut parts: Vec<String> = Vec::new();
        parts.extend(self.postcode.clone());
        for e in [
            &self.region,
            &self.district,
            &self.city,
            &self.locality,
            &self.street,
        ]
        .into_iter()
        .flatten()
        {
            parts.push(match &e.kind {
                Some(k) => format!("{k} {}", e.name),
                None => e.name.clone(),
            });
        }
        for (value, label) in [
            (&self.house, "д."),
            (&self.building, "корп."),
            (&self.flat, "кв."),
        ] {
            if let Some(v) = value {
                parts.push(labelled(v, label));
            }
        }
        parts.join(", ")
    }
}

/// A house, building or flat value with its label, unless the value
/// already starts with a word of its own («ДОМ 12», «ЛИТЕР А»).
fn labelled(value: &str, label: &str) -> String {
    if value.chars().next().is_some_and(char::is_alphabetic)
        && value.chars().take_while(|c| c.is_alphabetic()).count() > 1
    {
        value.to_owned()
    } else {
        format!("{label} {value}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn el(kind: &str, name: &str) -> Option<AddressElement> {
        Some(AddressElement {
            kind: Some(kind.into()),
            name: name.into(),
        })
    }

    #[test]
    fn bare_numbers_get_their_labels() {
        let a = AddressParts {
            region: el("ГОРОД", "МОСКВА"),
            street: el("УЛИЦА", "ФИЛЕВСКАЯ 2-Я"),
            house: Some("7".into()),
            building: Some("6".into()),
            ..AddressParts::default()
        };
        assert_eq!(
            a.display(),
            "ГОРОД МОСКВА, УЛИЦА ФИЛЕВСКАЯ 2-Я, д. 7, корп. 6"
        );
    }

    #[test]
    fn values_that_name_their_kind_stay_as_written() {
        let a = AddressParts {
            postcode: Some("190000".into()),
            house: Some("ДОМ 5".into()),
            building: Some("ЛИТЕР А".into()),
            flat: Some("2-Н".into()),
            ..AddressParts::default()
        };
        assert_eq!(a.display(), "190000, ДОМ 5, ЛИТЕР А, кв. 2-Н");
        // A single letter is a building's number, not a word.
        assert_eq!(labelled("А", "корп."), "корп. А");
    }
}
