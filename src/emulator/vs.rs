//! Any VS for the emulator: business types that are none of the lookups,
//! answered from files of raw business XML so that testers can run a case
//! system's whole catalogue. `<data>/vs/<name>/vs.toml` names the VS and
//! says where its request names the subject; `<subject>.xml` beside it is
//! the answer for that subject and `default.xml` the answer for any other
//! (without one, such a subject gets `RequestRejected` `NO_DATA`). A
//! namespace with no directory at all is answered as `unknown_vs` says.
//! `fixtures/README.md` has the format.

use std::collections::HashMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::data::FixtureError;
use crate::xml::{self, Document, NodeId};

/// What the emulator does with a business type it has no data for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UnknownVs {
    /// Accepted, then answered `RequestRejected` `NO_DATA`.
    NoData,
    /// SOAP fault `BusinessDataTypeIsNotSupported`, as a node where the
    /// type is not registered.
    NotSupported,
}

/// `vs.toml` of one VS.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Declaration {
    namespace: String,
    /// The local name of the request's root (any root when absent).
    request_root: Option<String>,
    /// Where the subject is: `@name` for an attribute of the root, or the
    /// local name of the first element carrying it as text.
    subject: String,
    #[serde(default)]
    note: Option<String>,
}

/// One VS the emulator answers.
#[derive(Debug, Clone, Serialize)]
pub struct VsFixture {
    pub name: String,
    pub namespace: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_root: Option<String>,
    pub subject: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// Subjects with an answer of their own.
    pub subjects: Vec<String>,
    pub has_default: bool,
    #[serde(skip)]
    answers: HashMap<String, Document>,
    #[serde(skip)]
    default: Option<Document>,
}

impl VsFixture {
    /// The subject a request names, by the declaration.
    pub fn subject_of(&self, doc: &Document, root: NodeId) -> Option<String> {
        if let Some(attr) = self.subject.strip_prefix('@') {
            return doc.element(root).attr(attr).map(|v| v.trim().to_owned());
        }
        std::iter::once(root)
            .chain(doc.descendants(root))
            .find(|id| doc.element(*id).local == self.subject)
            .map(|id| doc.text(id).trim().to_owned())
    }

    /// Whether the request root `local` is this VS's.
    pub fn takes_root(&self, local: &str) -> bool {
        self.request_root.as_deref().is_none_or(|r| r == local)
    }

    /// The answer for `subject`: its own file, else `default.xml`.
    pub fn answer(&self, subject: &str) -> Option<&Document> {
        self.answers.get(subject).or(self.default.as_ref())
    }
}

/// Every VS under `<data>/vs/`.
#[derive(Debug, Default)]
pub struct VsFixtures {
    list: Vec<VsFixture>,
}

impl VsFixtures {
    pub fn load(data_dir: &Path) -> Result<Self, FixtureError> {
        let dir = data_dir.join("vs");
        let err = |file: &Path, message: String| FixtureError {
            file: file.display().to_string(),
            message,
        };
        let mut entries = match std::fs::read_dir(&dir) {
            Ok(rd) => rd
                .filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| p.is_dir())
                .collect::<Vec<_>>(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Self::default()),
            Err(e) => return Err(err(&dir, e.to_string())),
        };
        entries.sort();
        let mut list: Vec<VsFixture> = Vec::new();
        for vs_dir in entries {
            let decl_path = vs_dir.join("vs.toml");
            let text =
                std::fs::read_to_string(&decl_path).map_err(|e| err(&decl_path, e.to_string()))?;
            let decl: Declaration =
                toml::from_str(&text).map_err(|e| err(&decl_path, e.to_string()))?;
            if decl.namespace.is_empty() || decl.subject.trim_start_matches('@').is_empty() {
                return Err(err(&decl_path, "namespace and subject are required".into()));
            }
            if let Some(other) = list.iter().find(|f| {
                f.namespace == decl.namespace
                    && (f.request_root.is_none()
                        || decl.request_root.is_none()
                        || f.request_root == decl.request_root)
            }) {
                return Err(err(
                    &decl_path,
                    format!(
                        "namespace {} is already answered by {}",
                        decl.namespace, other.name
                    ),
                ));
            }
            let mut answers = HashMap::new();
            let mut default = None;
            let mut files: Vec<_> = std::fs::read_dir(&vs_dir)
                .map_err(|e| err(&vs_dir, e.to_string()))?
                .filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|x| x == "xml"))
                .collect();
            files.sort();
            for file in files {
                let bytes = std::fs::read(&file).map_err(|e| err(&file, e.to_string()))?;
                let doc = xml::parse(&bytes).map_err(|e| err(&file, e.to_string()))?;
                if doc
                    .element(doc.root())
                    .ns
                    .as_deref()
                    .is_none_or(str::is_empty)
                {
                    return Err(err(
                        &file,
                        "the answer's root element has no namespace".into(),
                    ));
                }
                let stem = file
                    .file_stem()
                    .and_then(|s| s.to_str())
                    .unwrap_or_default()
                    .to_owned();
                if stem == "default" {
                    default = Some(doc);
                } else {
                    answers.insert(stem, doc);
                }
            }
            let mut subjects: Vec<String> = answers.keys().cloned().collect();
            subjects.sort();
            list.push(VsFixture {
                name: vs_dir
                    .file_name()
                    .and_then(|s| s.to_str())
                    .unwrap_or_default()
                    .to_owned(),
                namespace: decl.namespace,
                request_root: decl.request_root,
                subject: decl.subject,
                note: decl.note,
                subjects,
                has_default: default.is_some(),
                answers,
                default,
            });
        }
        Ok(VsFixtures { list })
    }

    /// The VS whose request root is `{ns}local`.
    pub fn find(&self, ns: &str, local: &str) -> Option<&VsFixture> {
        self.list
            .iter()
            .find(|f| f.namespace == ns && f.takes_root(local))
    }

    pub fn list(&self) -> &[VsFixture] {
        &self.list
    }
}
