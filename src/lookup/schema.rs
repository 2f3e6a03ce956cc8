//! Checking agencies' answers against their VS schemas.
//!
//! ЕГРЮЛ and ЕГРИП answers are checked against the official ФНС XSDs, found
//! in `[lookup] official_schemas` by their target namespace (so any copy of
//! the published folders works, whatever it is called). The tax-debt VS has
//! no published schema; mezhved's own `schemas/tax-debt.xsd` is built in.
//! A schema that cannot be had is reported, never taken as a pass: the
//! answer is still read and its result says it was not checked.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

use super::LookupConfig;
use crate::request::Kind;
use crate::xml::{Document, NodeId};
use crate::xsd::SchemaSet;

/// The built-in schema of the tax-debt VS.
const TAX_DEBT_XSD: &str = include_str!("../../schemas/tax-debt.xsd");

/// What checking one answer found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SchemaStatus {
    Valid,
    /// The violations, each `path: message`.
    Invalid(Vec<String>),
    /// The schema is not available; why.
    Unavailable(String),
    /// The VS has no schema mezhved checks answers against.
    NotApplicable,
}

type Loaded = Arc<Result<SchemaSet, String>>;

/// The schemas answers are checked against, loaded on first use.
pub struct AnswerSchemas {
    dir: PathBuf,
    /// Official schema sets by target namespace.
    official: Mutex<HashMap<String, Loaded>>,
    tax_debt: OnceLock<Loaded>,
    /// The namespaces answers are expected in, per kind (for [`Self::report`]).
    expected: Vec<(Kind, String, &'static str)>,
}

impl AnswerSchemas {
    pub fn new(cfg: &LookupConfig) -> Self {
        AnswerSchemas {
            dir: cfg.official_schemas.clone(),
            official: Mutex::new(HashMap::new()),
            tax_debt: OnceLock::new(),
            expected: vec![
                (Kind::Egrul, cfg.egrul_namespace.clone(), "FNSVipULResponse"),
                (Kind::Egrip, cfg.egrip_namespace.clone(), "FNSVipIPResponse"),
                (
                    Kind::TaxDebt,
                    cfg.tax_debt_namespace.clone(),
                    "ZadorgResponse",
                ),
            ],
        }
    }

    /// Checks the answer rooted at `root` of a `kind` lookup.
    pub fn check(&self, kind: Kind, doc: &Document, root: NodeId) -> SchemaStatus {
        let el = doc.element(root);
        let Some(ns) = el.ns.as_deref() else {
            return SchemaStatus::Unavailable(format!(
                "the answer's root {} has no namespace, so no schema applies",
                el.local
            ));
        };
        let Some(set) = self.set_for(kind, ns) else {
            return SchemaStatus::NotApplicable;
        };
        match declaring(&set, ns, &el.local) {
            Err(why) => SchemaStatus::Unavailable(why),
            Ok(set) => {
                let violations = set.validate(doc, root);
                if violations.is_empty() {
                    SchemaStatus::Valid
                } else {
                    SchemaStatus::Invalid(violations.iter().map(ToString::to_string).collect())
                }
            }
        }
    }

    /// The schema set answers of `kind` in `ns` are checked against, loaded
    /// once; `None` when mezhved checks no answers of this kind.
    fn set_for(&self, kind: Kind, ns: &str) -> Option<Loaded> {
        match kind {
            Kind::Egrul | Kind::Egrip => {
                let mut cache = self.official.lock().expect("schema cache lock");
                Some(
                    cache
                        .entry(ns.to_owned())
                        .or_insert_with(|| Arc::new(load_official(&self.dir, ns)))
                        .clone(),
                )
            }
            Kind::TaxDebt => Some(
                self.tax_debt
                    .get_or_init(|| {
                        Arc::new(
                            SchemaSet::from_texts(&[("tax-debt.xsd", TAX_DEBT_XSD)])
                                .map_err(|e| format!("the built-in tax-debt schema: {e}")),
                        )
                    })
                    .clone(),
            ),
            Kind::UnreliableSupplier | Kind::ForeignAgent | Kind::Vs => None,
        }
    }

    /// For each VS answers are checked against, whether its schema is
    /// available (loading it now): what the daemon logs at start and
    /// `check-config` prints.
    pub fn report(&self) -> Vec<(Kind, String, Result<(), String>)> {
        self.expected
            .iter()
            .filter_map(|(kind, ns, root)| {
                let set = self.set_for(*kind, ns)?;
                let status = declaring(&set, ns, root).map(|_| ());
                Some((*kind, ns.clone(), status))
            })
            .collect()
    }
}

impl AnswerSchemas {
    /// Logs, once, each VS whose answers cannot be checked (at start).
    pub fn log_report(&self) {
        for (kind, ns, status) in self.report() {
            match status {
                Ok(()) => {
                    tracing::info!(kind = kind.as_str(), %ns, "answers are checked against their schema")
                }
                Err(why) => tracing::warn!(
                    kind = kind.as_str(),
                    %ns,
                    reason = %why,
                    "answers cannot be checked against their schema; they are still read, and each result says it was not checked"
                ),
            }
        }
    }
}

/// The set, if it loaded and declares `{ns}local`; otherwise why not.
fn declaring<'s>(set: &'s Loaded, ns: &str, local: &str) -> Result<&'s SchemaSet, String> {
    match set.as_ref() {
        Err(why) => Err(why.clone()),
        Ok(s) if !s.declares(ns, local) => Err(format!("no schema declares {{{ns}}}{local}")),
        Ok(s) => Ok(s),
    }
}

/// The schema files under `dir` whose target namespace is `ns`, compiled
/// with what they import.
fn load_official(dir: &Path, ns: &str) -> Result<SchemaSet, String> {
    let mut files = Vec::new();
    collect_xsd(dir, &mut files)
        .map_err(|e| format!("official schemas directory {}: {e}", dir.display()))?;
    let needle = format!("targetNamespace=\"{ns}\"");
    let matching: Vec<PathBuf> = files
        .into_iter()
        .filter(|f| {
            std::fs::read_to_string(f)
                .map(|t| t.contains(&needle))
                .unwrap_or(false)
        })
        .collect();
    if matching.is_empty() {
        return Err(format!(
            "no schema for {ns} in the official schemas directory {}",
            dir.display()
        ));
    }
    SchemaSet::load_files(&matching).map_err(|e| format!("the official schema of {ns}: {e}"))
}

/// Every `*.xsd` under `dir`, recursively, in a stable order.
fn collect_xsd(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    let mut entries: Vec<_> = std::fs::read_dir(dir)?.collect::<Result<_, _>>()?;
    entries.sort_by_key(|e| e.path());
    for e in entries {
        let path = e.path();
        if e.file_type()?.is_dir() {
            collect_xsd(&path, out)?;
        } else if path.extension().is_some_and(|x| x == "xsd") {
            out.push(path);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_schema_directory_is_reported_never_a_pass() {
        let cfg = LookupConfig {
            official_schemas: "/nonexistent/mezhved-xsd".into(),
            ..LookupConfig::default()
        };
        let schemas = AnswerSchemas::new(&cfg);
        let report = schemas.report();
        let egrul = report.iter().find(|(k, _, _)| *k == Kind::Egrul).unwrap();
        assert!(
            egrul
                .2
                .as_ref()
                .unwrap_err()
                .contains("/nonexistent/mezhved-xsd"),
            "{report:?}"
        );
        let doc = Document::new(Some("ul"), "FNSVipULResponse", Some(&cfg.egrul_namespace));
        assert!(matches!(
            schemas.check(Kind::Egrul, &doc, doc.root()),
            SchemaStatus::Unavailable(_)
        ));
        // The built-in tax-debt schema needs no directory.
        let doc = Document::new(Some("zd"), "ZadorgResponse", Some(&cfg.tax_debt_namespace));
        assert!(matches!(
            schemas.check(Kind::TaxDebt, &doc, doc.root()),
            SchemaStatus::Invalid(_)
        ));
    }
}
