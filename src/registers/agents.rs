//! The register of foreign agents («реестр иностранных агентов», Минюст) as
//! its own publications give it: one entry per person or organisation, with
//! ИНН, ОГРН and СНИЛС where the entry has them. Older entries have none; a
//! match by name alone never becomes a verdict: it is `unknown`, with the
//! candidates, for the officer to settle.

use serde::Serialize;

use crate::lookup::{Outcome, Verdict};
use crate::request::{Subject, SubjectId};

/// One entry of the register.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct AgentRecord {
    pub registry_number: String,
    pub name: String,
    pub person_kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inn: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ogrn: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub snils: Option<String>,
    /// Date of the decision to include, as published (`ДД.ММ.ГГГГ` read as
    /// an ISO date when it is one).
    pub included_on: String,
    pub basis: String,
    /// Date of the decision to exclude; none while the entry is in force.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub excluded_on: Option<String>,
}

impl AgentRecord {
    /// The entry as Минюст's registry service gives it (`field_N_*` keys,
    /// `VS-NOTES` §5).
    pub fn from_minjust(v: &serde_json::Value) -> AgentRecord {
        let s = |k: &str| match v.get(k) {
            Some(serde_json::Value::String(s)) => s.trim().to_owned(),
            Some(serde_json::Value::Number(n)) => n.to_string(),
            _ => String::new(),
        };
        let any = |keys: &[&str]| {
            keys.iter()
                .map(|k| s(k))
                .find(|x| !x.is_empty())
                .unwrap_or_default()
        };
        AgentRecord {
            registry_number: any(&["field_1_i", "field_1_s", "id"]),
            name: s("field_2_s"),
            basis: s("field_3_s"),
            included_on: iso_or_raw(&any(&["field_4_s", "field_4_dt"])),
            excluded_on: Some(iso_or_raw(&any(&["field_5_s", "field_5_dt"])))
                .filter(|x| !x.is_empty()),
            person_kind: s("field_7_s"),
            inn: digits(&s("field_9_s")),
            ogrn: digits(&s("field_10_s")),
            snils: digits(&s("field_11_s")),
        }
    }

    pub fn has_identifiers(&self) -> bool {
        self.inn.is_some() || self.ogrn.is_some() || self.snils.is_some()
    }

    /// Whether the entry names `id`.
    pub fn names(&self, id: &SubjectId) -> bool {
        match id {
            SubjectId::Inn(v) => self.inn.as_deref() == Some(v.as_str()),
            SubjectId::Ogrn(v) => self.ogrn.as_deref() == Some(v.as_str()),
            SubjectId::Snils(v) => self.snils.as_deref() == Some(v.as_str()),
            SubjectId::Ogrnip(_) => false,
        }
    }

    /// The keys a snapshot indexes it by.
    pub fn keys(&self) -> Vec<String> {
        let mut k: Vec<String> = [&self.inn, &self.ogrn, &self.snils]
            .into_iter()
            .flatten()
            .cloned()
            .collect();
        if k.is_empty() {
            k.push(name_key(&self.name));
        }
        k
    }
}

/// Digits only (СНИЛС is printed `123-456-789 01`); `None` when empty.
fn digits(s: &str) -> Option<String> {
    let d: String = s.chars().filter(char::is_ascii_digit).collect();
    (!d.is_empty()).then_some(d)
}

/// `06.10.2023` → `2023-10-06`; anything else as it is.
pub fn iso_or_raw(s: &str) -> String {
    let p: Vec<&str> = s.trim().split('.').collect();
    if let [d, m, y] = p.as_slice()
        && d.len() == 2
        && m.len() == 2
        && y.len() == 4
        && let Some(date) = crate::clock::parse_iso_date(&format!("{y}-{m}-{d}"))
    {
        return crate::clock::iso_date(date);
    }
    s.trim().to_owned()
}

/// A name as compared: lower case, ё as е, letters and digits only, single
/// spaces.
pub fn normalise_name(s: &str) -> String {
    let mut out = String::new();
    for c in s.chars().flat_map(char::to_lowercase) {
        let c = if c == 'ё' { 'е' } else { c };
        if c.is_alphanumeric() {
            out.push(c);
        } else if !out.ends_with(' ') && !out.is_empty() {
            out.push(' ');
        }
    }
    out.trim_end().to_owned()
}

/// The snapshot key of an entry without identifiers.
pub fn name_key(name: &str) -> String {
    let h = crate::casefile::sha256_hex(normalise_name(name).as_bytes());
    format!("n:{}", &h[..17])
}

fn name_matches(entry: &str, asked: &str) -> bool {
    let (e, a) = (normalise_name(entry), normalise_name(asked));
    !a.is_empty() && (e == a || e.contains(&a) || a.contains(&e) && !e.is_empty())
}

#[derive(Serialize)]
struct Facts<'a> {
    records: Vec<&'a AgentRecord>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    candidates: Vec<&'a AgentRecord>,
    searched_by: Vec<String>,
}

/// The verdict on the entries a search returned, for `subject` (and its
/// `name`, if given).
pub fn assess(entries: &[AgentRecord], subject: &Subject, name: Option<&str>) -> Outcome {
    let matched: Vec<&AgentRecord> = entries.iter().filter(|e| e.names(&subject.id)).collect();
    let candidates: Vec<&AgentRecord> = match name {
        Some(n) => entries
            .iter()
            .filter(|e| !e.has_identifiers() && name_matches(&e.name, n))
            .collect(),
        None => Vec::new(),
    };
    let mut searched_by = vec![subject.describe()];
    if let Some(n) = name {
        searched_by.push(format!("name {n}"));
    }
    let active = matched.iter().any(|e| e.excluded_on.is_none());
    let excluded = !matched.is_empty() && !active;
    let facts = Facts {
        records: matched,
        candidates,
        searched_by,
    };
    if active {
        return Outcome::with_facts(Verdict::Listed, facts);
    }
    if !facts.candidates.is_empty() {
        let list = facts
            .candidates
            .iter()
            .map(|c| {
                format!(
                    "№ {} {} (included {})",
                    c.registry_number, c.name, c.included_on
                )
            })
            .collect::<Vec<_>>()
            .join("; ");
        return Outcome::with_facts(Verdict::Unknown, facts).with_note(format!(
            "entries of the register without ИНН, ОГРН or СНИЛС match by name only: {list}; check whether they are the subject"
        ));
    }
    let o = Outcome::with_facts(Verdict::NotListed, facts);
    if excluded {
        o.with_note("excluded from the register; see the exclusion date")
    } else {
        o
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::request::Inn;
    use serde_json::json;

    fn subject(inn: &str) -> Subject {
        Subject {
            id: SubjectId::Inn(Inn::parse(inn).unwrap()),
            kpp: None,
            name: None,
        }
    }

    #[test]
    fn entries_are_read_from_the_services_field_keys() {
        let e = AgentRecord::from_minjust(&json!({
            "field_1_i": 512, "field_2_s": "АНО \"ОТКРЫТЫЙ ВЗГЛЯД\"", "field_3_s": "ст. 4 255-ФЗ",
            "field_4_s": "06.10.2023", "field_5_s": "", "field_7_s": "Юридическое лицо",
            "field_9_s": "7705678126", "field_10_s": "1217700123453", "field_11_s": "156-789-123 17"
        }));
        assert_eq!(e.registry_number, "512");
        assert_eq!(e.included_on, "2023-10-06");
        assert_eq!(e.excluded_on, None);
        assert_eq!(e.snils.as_deref(), Some("15678912317"));
        assert!(e.names(&subject("7705678126").id));
    }

    #[test]
    fn a_name_only_match_is_unknown_with_the_candidates_never_a_verdict() {
        let old = AgentRecord {
            registry_number: "12".into(),
            name: "Фонд «Свободное слово»".into(),
            person_kind: "Юридическое лицо".into(),
            included_on: "2013-05-20".into(),
            ..AgentRecord::default()
        };
        let s = subject("7801234564");
        let o = assess(
            std::slice::from_ref(&old),
            &s,
            Some("ФОНД \"СВОБОДНОЕ СЛОВО\""),
        );
        assert_eq!(o.verdict, Verdict::Unknown);
        assert!(o.verdict.needs_fallback());
        assert_eq!(
            o.facts.as_ref().unwrap()["candidates"][0]["registry_number"],
            "12"
        );
        assert!(o.note.unwrap().contains("name only"));
        // Without a name to compare, nothing matches.
        assert_eq!(
            assess(std::slice::from_ref(&old), &s, None).verdict,
            Verdict::NotListed
        );
        // A different name is no candidate.
        assert_eq!(
            assess(&[old], &s, Some("ООО Ромашка")).verdict,
            Verdict::NotListed
        );
    }

    #[test]
    fn an_identifier_match_decides_and_an_exclusion_ends_it() {
        let mut e = AgentRecord {
            registry_number: "201".into(),
            name: "ООО \"МЕДИАПОТОК\"".into(),
            inn: Some("4706789017".into()),
            included_on: "2022-12-01".into(),
            ..AgentRecord::default()
        };
        assert_eq!(
            assess(&[e.clone()], &subject("4706789017"), None).verdict,
            Verdict::Listed
        );
        e.excluded_on = Some("2025-08-15".into());
        let o = assess(&[e], &subject("4706789017"), None);
        assert_eq!(o.verdict, Verdict::NotListed);
        assert!(o.note.is_some());
    }
}
