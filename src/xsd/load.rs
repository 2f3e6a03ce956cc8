//! Reading schema documents and following `xs:include` / `xs:import`.
//!
//! Files are read with the project's hardened parser (no DTD, bounded size,
//! depth and node count). Locations resolve relative to the including
//! document, by file path or, for in-memory texts, by name; nothing is ever
//! fetched over the network: an import of a remote location is skipped (its
//! namespace must then come from another file, or be the XML namespace,
//! which is built in), a remote include is an error.

use std::collections::{HashMap, HashSet, VecDeque};
use std::path::{Component, Path, PathBuf};

use super::{XS_NS, XsdError};
use crate::xml::{self, Document, Limits, NodeId};

/// Schema documents are larger than messages (the ЕИС types file alone is
/// 3.6 MB of some 70,000 elements), still bounded.
const SCHEMA_LIMITS: Limits = Limits {
    max_bytes: 64 * 1024 * 1024,
    max_depth: 128,
    max_nodes: 4_000_000,
    max_attrs: 256,
};

/// At most this many schema documents in one set.
const MAX_DOCUMENTS: usize = 5_000;

/// One schema document as it takes part in the set.
#[derive(Debug)]
pub(crate) struct SchemaDoc {
    /// Path or name, for messages.
    pub name: String,
    pub doc: Document,
    /// The target namespace in force ("" for none); for a chameleon
    /// include, the including document's.
    pub target_ns: String,
    /// Included without a target namespace of its own: unqualified
    /// references in it mean the including document's namespace.
    pub chameleon: bool,
    pub elements_qualified: bool,
    pub attributes_qualified: bool,
}

enum Source<'t> {
    Files,
    Texts(HashMap<String, &'t str>),
}

pub(crate) struct Loader<'t> {
    source: Source<'t>,
}

impl<'t> Loader<'t> {
    pub fn files() -> Self {
        Loader {
            source: Source::Files,
        }
    }

    pub fn texts(texts: &[(&str, &'t str)]) -> Self {
        Loader {
            source: Source::Texts(texts.iter().map(|(n, t)| (normalize_name(n), *t)).collect()),
        }
    }

    /// Loads `roots` and everything they include or import.
    pub fn load(&self, roots: &[String]) -> Result<Vec<SchemaDoc>, XsdError> {
        struct Pending {
            location: String,
            /// Set for an include: the includer's target namespace.
            includer_ns: Option<String>,
            /// Set for an import: the namespace it promises.
            import_ns: Option<String>,
            from: Option<String>,
        }
        let mut queue: VecDeque<Pending> = roots
            .iter()
            .map(|r| Pending {
                location: self.key(r),
                includer_ns: None,
                import_ns: None,
                from: None,
            })
            .collect();
        // A document is one member of the set per effective namespace: the
        // same file reached as a root, by import and by include is read once
        // (a chameleon include into two namespaces is two members).
        let mut seen: HashSet<(String, String)> = HashSet::new();
        let mut own_ns_of: HashMap<String, Option<String>> = HashMap::new();
        let effective = |includer: &Option<String>, own: &Option<String>| match (includer, own) {
            (Some(inc), None) => inc.clone(),
            (_, own) => own.clone().unwrap_or_default(),
        };
        let mut docs = Vec::new();
        while let Some(p) = queue.pop_front() {
            if let Some(own) = own_ns_of.get(&p.location)
                && seen.contains(&(p.location.clone(), effective(&p.includer_ns, own)))
            {
                continue;
            }
            if docs.len() >= MAX_DOCUMENTS {
                return Err(XsdError::Invalid {
                    name: p.location,
                    message: format!("more than {MAX_DOCUMENTS} schema documents"),
                });
            }
            let doc = self.read(&p.location, p.from.as_deref())?;
            let root = doc.root();
            let el = doc.element(root);
            if !el.is(XS_NS, "schema") {
                return Err(XsdError::NotASchema {
                    name: p.location,
                    root: el.to_string(),
                });
            }
            let own_ns = el.attr("targetNamespace").map(str::to_owned);
            own_ns_of.insert(p.location.clone(), own_ns.clone());
            if !seen.insert((p.location.clone(), effective(&p.includer_ns, &own_ns))) {
                continue;
            }
            let invalid = |message: String| XsdError::Invalid {
                name: p.location.clone(),
                message,
            };
            let (target_ns, chameleon) = match (&p.includer_ns, &own_ns) {
                (Some(inc), None) => (inc.clone(), !inc.is_empty()),
                (Some(inc), Some(own)) if inc != own => {
                    return Err(invalid(format!(
                        "is included into namespace {inc:?} but has targetNamespace {own:?}"
                    )));
                }
                (_, own) => (own.clone().unwrap_or_default(), false),
            };
            if let Some(ns) = &p.import_ns
                && *ns != target_ns
            {
                return Err(invalid(format!(
                    "is imported for namespace {ns:?} but has targetNamespace {target_ns:?}"
                )));
            }
            for child in doc.child_elements(root) {
                let c = doc.element(child);
                if c.ns.as_deref() != Some(XS_NS) {
                    continue;
                }
                let location = c.attr("schemaLocation");
                match c.local.as_str() {
                    "include" => {
                        let Some(loc) = location else {
                            return Err(invalid("xs:include without schemaLocation".into()));
                        };
                        if is_remote(loc) {
                            return Err(invalid(format!(
                                "includes {loc}, which is not fetched over the network"
                            )));
                        }
                        queue.push_back(Pending {
                            location: self.resolve(&p.location, loc),
                            includer_ns: Some(target_ns.clone()),
                            import_ns: None,
                            from: Some(p.location.clone()),
                        });
                    }
                    "import" => {
                        let ns = c.attr("namespace").unwrap_or("").to_owned();
                        if ns == target_ns {
                            return Err(invalid(format!(
                                "imports its own target namespace {ns:?}"
                            )));
                        }
                        // Without a location, or at a remote one, the
                        // namespace must come from elsewhere in the set.
                        if let Some(loc) = location
                            && !is_remote(loc)
                        {
                            queue.push_back(Pending {
                                location: self.resolve(&p.location, loc),
                                includer_ns: None,
                                import_ns: Some(ns),
                                from: Some(p.location.clone()),
                            });
                        }
                    }
                    "redefine" => {
                        return Err(XsdError::Unsupported {
                            name: p.location.clone(),
                            what: "xs:redefine".into(),
                        });
                    }
                    _ => {}
                }
            }
            let qualified = |attr: &str| doc.element(root).attr(attr) == Some("qualified");
            let elements_qualified = qualified("elementFormDefault");
            let attributes_qualified = qualified("attributeFormDefault");
            docs.push(SchemaDoc {
                name: p.location.clone(),
                target_ns,
                chameleon,
                elements_qualified,
                attributes_qualified,
                doc,
            });
        }
        Ok(docs)
    }

    /// The identity of a root location (canonical path for files).
    fn key(&self, location: &str) -> String {
        match &self.source {
            Source::Files => std::fs::canonicalize(location)
                .map(|p| p.to_string_lossy().into_owned())
                .unwrap_or_else(|_| location.to_owned()),
            Source::Texts(_) => normalize_name(location),
        }
    }

    /// `loc` as written in the document at `base`.
    fn resolve(&self, base: &str, loc: &str) -> String {
        match &self.source {
            Source::Files => {
                let joined = Path::new(base).parent().unwrap_or(Path::new("")).join(loc);
                std::fs::canonicalize(&joined)
                    .unwrap_or_else(|_| lexical_normalize(&joined))
                    .to_string_lossy()
                    .into_owned()
            }
            Source::Texts(map) => {
                let dir = match base.rfind('/') {
                    Some(i) => &base[..=i],
                    None => "",
                };
                let joined = normalize_name(&format!("{dir}{loc}"));
                if map.contains_key(&joined) {
                    return joined;
                }
                // Embedded schemas are often given by bare file name.
                let file = loc.rsplit('/').next().unwrap_or(loc);
                let mut by_file = map.keys().filter(|k| k.rsplit('/').next() == Some(file));
                match (by_file.next(), by_file.next()) {
                    (Some(only), None) => only.clone(),
                    _ => joined,
                }
            }
        }
    }

    fn read(&self, location: &str, from: Option<&str>) -> Result<Document, XsdError> {
        let parse = |bytes: &[u8]| {
            xml::parse_with(bytes, &SCHEMA_LIMITS).map_err(|source| XsdError::Xml {
                name: location.to_owned(),
                source,
            })
        };
        match &self.source {
            Source::Files => {
                let path = PathBuf::from(location);
                let len = std::fs::metadata(&path)
                    .map_err(|source| io_error(&path, from, source))?
                    .len();
                if len > SCHEMA_LIMITS.max_bytes as u64 {
                    return Err(XsdError::Xml {
                        name: location.to_owned(),
                        source: xml::XmlError::TooLarge {
                            size: usize::try_from(len).unwrap_or(usize::MAX),
                            limit: SCHEMA_LIMITS.max_bytes,
                        },
                    });
                }
                let bytes = std::fs::read(&path).map_err(|source| io_error(&path, from, source))?;
                parse(&bytes)
            }
            Source::Texts(map) => match map.get(location) {
                Some(text) => parse(text.as_bytes()),
                None => Err(XsdError::Invalid {
                    name: from.unwrap_or(location).to_owned(),
                    message: format!("refers to schema {location:?}, which is not among the texts"),
                }),
            },
        }
    }
}

fn io_error(path: &Path, from: Option<&str>, source: std::io::Error) -> XsdError {
    let path = match from {
        Some(f) => PathBuf::from(format!("{} (referenced from {f})", path.display())),
        None => path.to_owned(),
    };
    XsdError::Io { path, source }
}

fn is_remote(loc: &str) -> bool {
    let lower = loc.to_ascii_lowercase();
    lower.starts_with("http:") || lower.starts_with("https:") || lower.starts_with("ftp:")
}

/// `a/./b/../c` → `a/c`, for names of in-memory texts.
fn normalize_name(name: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for part in name.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                if parts.last().is_some_and(|p| *p != "..") {
                    parts.pop();
                } else {
                    parts.push("..");
                }
            }
            p => parts.push(p),
        }
    }
    parts.join("/")
}

fn lexical_normalize(p: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            other => out.push(other.as_os_str()),
        }
    }
    out
}

/// Every `*.xsd` under `dir`, sorted, without following symbolic links to
/// directories.
pub(crate) fn xsd_files_under(dir: &Path) -> Result<Vec<PathBuf>, XsdError> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        let entries = std::fs::read_dir(&d).map_err(|source| XsdError::Io {
            path: d.clone(),
            source,
        })?;
        for entry in entries {
            let entry = entry.map_err(|source| XsdError::Io {
                path: d.clone(),
                source,
            })?;
            let path = entry.path();
            let ft = entry.file_type().map_err(|source| XsdError::Io {
                path: path.clone(),
                source,
            })?;
            if ft.is_dir() {
                stack.push(path);
            } else if path
                .extension()
                .is_some_and(|e| e.eq_ignore_ascii_case("xsd"))
                && path.is_file()
            {
                out.push(path);
            }
        }
        if out.len() > MAX_DOCUMENTS {
            return Err(XsdError::Invalid {
                name: dir.display().to_string(),
                message: format!("more than {MAX_DOCUMENTS} schema files"),
            });
        }
    }
    out.sort();
    Ok(out)
}

/// The element children of `id` in the XML Schema namespace, annotations
/// left out.
pub(crate) fn xs_children(doc: &Document, id: NodeId) -> impl Iterator<Item = NodeId> + '_ {
    doc.child_elements(id).filter(move |c| {
        let e = doc.element(*c);
        e.ns.as_deref() == Some(XS_NS) && e.local != "annotation"
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_normalise() {
        assert_eq!(normalize_name("./a/../b/c.xsd"), "b/c.xsd");
        assert_eq!(normalize_name("../x.xsd"), "../x.xsd");
        assert_eq!(normalize_name("a//b.xsd"), "a/b.xsd");
    }
}
