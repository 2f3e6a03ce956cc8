//! The emulator's register data: `registers/<kind>.toml` under the fixture
//! directory, one `[[subject]]` per subject (see `fixtures/README.md`).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::scenario::Scenario;
use crate::lookup::{ProviderQuery, Registry, Verdict};
use crate::request::Kind;
use crate::xml::Document;

/// One subject a tester can look up, with the verdict mezhved should reach.
#[derive(Debug, Clone, Serialize)]
pub struct FixtureSubject {
    pub kind: Kind,
    pub key: String,
    pub expect: Verdict,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// The request's `as_of` the verdict holds for (РНП's two-year window);
    /// unset: today.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub as_of: Option<String>,
    /// The subject's name a request sends with its identifier (a foreign
    /// agent's entry found by name only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Every identifier the subject is found by.
    pub identifiers: Vec<String>,
    #[serde(skip)]
    answer: Option<toml::Value>,
    /// How the subject's answer carries its extract when it is an
    /// attachment (`mtom`, `ftp`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attachment: Option<super::scenario::AttachmentTransfer>,
    /// How the emulator behaves for this subject (`code` and `reject` of the
    /// data file land here too).
    #[serde(skip_serializing_if = "is_default")]
    pub scenario: Scenario,
}

impl FixtureSubject {
    /// The register-specific `answer` table, if the subject has one.
    pub(crate) fn answer(&self) -> Option<&toml::Value> {
        self.answer.as_ref()
    }
}

fn is_default(s: &Scenario) -> bool {
    *s == Scenario::default()
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Reject {
    pub code: String,
    pub text: String,
}

/// A subject as written in a register file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Entry {
    key: String,
    expect: String,
    note: Option<String>,
    as_of: Option<String>,
    name: Option<String>,
    #[serde(default)]
    ids: Vec<String>,
    answer: Option<toml::Value>,
    /// Shorthand for `scenario.code`.
    code: Option<String>,
    /// Shorthand for `scenario.reject` and `scenario.reject_text`.
    reject: Option<Reject>,
    /// Shorthand for `scenario.attachment`.
    attachment: Option<super::scenario::AttachmentTransfer>,
    scenario: Option<Scenario>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RegisterFile {
    #[serde(default)]
    subject: Vec<Entry>,
}

/// The `RequestRejected` a scenario asks for, if any.
pub(super) fn scenario_reject(scenario: &Scenario) -> Option<Reject> {
    scenario.reject.as_ref().map(|code| Reject {
        code: code.clone(),
        text: scenario
            .reject_text
            .clone()
            .unwrap_or_else(|| format!("Запрос отклонён поставщиком сведений ({code})")),
    })
}

/// What the provider answers.
#[derive(Debug, Clone)]
pub enum ProviderAnswer {
    Business(Document),
    /// SMEV `RequestRejected`.
    Rejected(Reject),
}

#[derive(Debug, thiserror::Error)]
#[error("{file}: {message}")]
pub struct FixtureError {
    pub file: String,
    pub message: String,
}

/// All register data, indexed by kind and identifier.
#[derive(Debug, Default)]
pub struct Fixtures {
    subjects: Vec<FixtureSubject>,
    index: HashMap<(Kind, String), usize>,
    pub dir: PathBuf,
}

impl Fixtures {
    /// Loads `dir/registers/*.toml`, checking every subject: identifiers,
    /// dates and that its answer can be rendered.
    pub fn load(dir: &Path, registry: &Registry) -> Result<Self, FixtureError> {
        let mut fx = Fixtures {
            dir: dir.to_owned(),
            ..Fixtures::default()
        };
        for kind in Kind::ALL {
            let path = dir.join("registers").join(format!("{kind}.toml"));
            let file = path.display().to_string();
            let err = |message: String| FixtureError {
                file: file.clone(),
                message,
            };
            let text = match std::fs::read_to_string(&path) {
                Ok(t) => t,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(err(e.to_string())),
            };
            let parsed: RegisterFile = toml::from_str(&text).map_err(|e| err(e.to_string()))?;
            let lookup = registry.get(kind);
            for entry in parsed.subject {
                let what = |m: String| err(format!("subject {:?}: {m}", entry.key));
                let expect = Verdict::parse(&entry.expect)
                    .ok_or_else(|| what(format!("unknown verdict {:?}", entry.expect)))?;
                let mut identifiers = entry.ids.clone();
                if let Some(a) = &entry.answer {
                    for id in lookup.answer_identifiers(a).map_err(&what)? {
                        if !identifiers.contains(&id) {
                            identifiers.push(id);
                        }
                    }
                    let probe = ProviderQuery {
                        doc_id: "probe".into(),
                        identifiers: identifiers.clone(),
                    };
                    lookup.render_answer(&probe, Some(a)).map_err(&what)?;
                }
                if identifiers.is_empty() {
                    return Err(what("needs ids or an answer table".into()));
                }
                if let Some(d) = &entry.as_of
                    && crate::clock::parse_iso_date(d).is_none()
                {
                    return Err(what(format!("as_of {d:?} is not a date YYYY-MM-DD")));
                }
                let mut scenario = entry.scenario.unwrap_or_default();
                if let Some(code) = entry.code {
                    scenario.code = Some(code);
                }
                if let Some(a) = entry.attachment {
                    scenario.attachment = Some(a);
                }
                if let Some(r) = entry.reject {
                    scenario.reject = Some(r.code);
                    scenario.reject_text = Some(r.text);
                }
                scenario.check().map_err(&what)?;
                if entry.answer.is_some() && (scenario.code.is_some() || scenario.reject.is_some())
                {
                    return Err(what(
                        "an answer table goes with neither code nor reject".into(),
                    ));
                }
                let n = fx.subjects.len();
                for id in &identifiers {
                    if fx.index.insert((kind, id.clone()), n).is_some() {
                        return Err(what(format!(
                            "identifier {id} is used by two {kind} subjects"
                        )));
                    }
                }
                fx.subjects.push(FixtureSubject {
                    kind,
                    key: entry.key,
                    expect,
                    note: entry.note,
                    as_of: entry.as_of,
                    name: entry.name,
                    identifiers,
                    answer: entry.answer,
                    attachment: scenario.attachment,
                    scenario,
                });
            }
        }
        Ok(fx)
    }

    pub fn subjects(&self) -> &[FixtureSubject] {
        &self.subjects
    }

    pub fn find(&self, kind: Kind, identifier: &str) -> Option<&FixtureSubject> {
        self.index
            .get(&(kind, identifier.to_owned()))
            .map(|i| &self.subjects[*i])
    }

    /// The subject `query` is about, if the data knows it.
    pub fn subject_of(&self, kind: Kind, query: &ProviderQuery) -> Option<&FixtureSubject> {
        query.identifiers.iter().find_map(|id| self.find(kind, id))
    }

    /// The provider's answer to `query` under `scenario`; an unknown subject
    /// gets the register's "not found" answer.
    pub fn answer(
        &self,
        registry: &Registry,
        kind: Kind,
        query: &ProviderQuery,
        scenario: &Scenario,
    ) -> Result<ProviderAnswer, String> {
        let lookup = registry.get(kind);
        if let Some(r) = scenario_reject(scenario) {
            return Ok(ProviderAnswer::Rejected(r));
        }
        if let Some(code) = &scenario.code {
            return lookup
                .render_processing_code(query, code)
                .map(ProviderAnswer::Business);
        }
        let answer = self.subject_of(kind, query).and_then(|s| s.answer.as_ref());
        lookup
            .render_answer(query, answer)
            .map(ProviderAnswer::Business)
    }
}
