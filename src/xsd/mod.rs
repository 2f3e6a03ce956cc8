//! XML Schema 1.0 validation over [`crate::xml::Document`].
//!
//! The agencies publish their formats as XSD (ФНС extracts, the SMEV 3
//! message exchange, the ЕИС registers) and operators configure schemas for
//! any VS; mezhved checks what it sends and what it reads against them without
//! leaving the process. A [`SchemaSet`] is compiled once from schema files
//! (read with the hardened [`crate::xml`] parser: no DTDs, bounded size) and
//! then validates any number of already parsed documents; it is `Send + Sync`
//! and meant to be shared in an `Arc`.
//!
//! # What is checked
//!
//! - global and local element declarations, `ref`, `minOccurs`/`maxOccurs`,
//!   named and anonymous complex and simple types;
//! - `sequence`, `choice`, `all`, nested groups, `xs:group` references, with
//!   exact occurrence semantics (the content model is matched by derivatives,
//!   so no backtracking and no blow-up with large `maxOccurs`);
//! - attributes (`use`, `default`, `fixed`), `attributeGroup`, `anyAttribute`;
//! - `xs:any` / `xs:anyAttribute` namespace constraints (`##any`, `##other`,
//!   `##targetNamespace`, `##local`, lists) with `processContents`
//!   strict/lax/skip;
//! - `simpleContent` and `complexContent`, `extension` and `restriction`,
//!   `mixed`, `abstract` types and elements, substitution groups;
//! - `xsi:type` (the named type must derive from the declared one) and
//!   `xsi:nil` with `nillable`;
//! - simple types: every facet of XSD 1.0, `list`, `union`, and the lexical
//!   spaces of all built-in types, with value-space comparison for the
//!   ordering facets and enumerations of numbers, dates and times;
//! - XSD regular expressions (implicitly anchored, `\i \c \d \s \w` and their
//!   negations, `\p{..}` categories and `Is` blocks, class subtraction),
//!   translated to the `regex` crate;
//! - `xs:ID` uniqueness and `xs:IDREF` targets within the validated element;
//! - `elementFormDefault`, `attributeFormDefault`, `form`; `xs:include`
//!   (including chameleon includes) and `xs:import`, by `schemaLocation`
//!   relative to the including file (or name, for [`SchemaSet::from_texts`]).
//!   The `xml:` attributes (`xml:lang`, `xml:space`, `xml:base`, `xml:id`)
//!   are built in, so imports of the XML namespace need no network.
//!
//! # What is not
//!
//! - Identity constraints (`xs:key`, `xs:unique`, `xs:keyref`) are read and
//!   ignored: none of the ФНС, SMEV or ЕИС 44-FZ schemas declares one.
//! - `xs:redefine` is refused with an error; `block`, `final` and
//!   `blockDefault`/`finalDefault` are not enforced (they restrict which
//!   derivations an `xsi:type` may name, which no schema we use relies on).
//! - Schema-level constraints that a schema author must meet (Unique Particle
//!   Attribution, valid restriction of a base content model) are not
//!   checked: the schemas are taken as published. An ambiguous content model
//!   still validates; the first matching declaration wins.
//! - `schemaLocation` is never fetched over the network.

mod builtin;
mod compile;
mod components;
mod content;
mod facets;
mod load;
mod regex;
mod validate;

use std::path::{Path, PathBuf};

use crate::xml::{Document, NodeId, XmlError};

use components::Components;

/// The XML Schema namespace.
pub(crate) const XS_NS: &str = "http://www.w3.org/2001/XMLSchema";
/// The XML Schema instance namespace (`xsi:type`, `xsi:nil`).
pub(crate) const XSI_NS: &str = "http://www.w3.org/2001/XMLSchema-instance";

/// A compiled set of XML Schemas (any number of target namespaces).
/// Send + Sync; share it in an Arc.
#[derive(Debug)]
pub struct SchemaSet {
    components: Components,
}

/// One reason an instance document is not valid.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Violation {
    /// Where: `/FNSVipULResponse/СвЮЛ[1]/СвАдресЮЛ[1]`, attributes as
    /// `/FNSVipULResponse/@ИдДок`.
    pub path: String,
    /// What is wrong and what was expected, in plain English.
    pub message: String,
}

impl std::fmt::Display for Violation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.path, self.message)
    }
}

/// Why a schema set could not be built.
#[derive(Debug, thiserror::Error)]
pub enum XsdError {
    #[error("cannot read schema {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("schema {name} is not well-formed XML: {source}")]
    Xml { name: String, source: XmlError },
    #[error("{name} is not an XML Schema (root element is {root})")]
    NotASchema { name: String, root: String },
    #[error("schema {name}: {message}")]
    Invalid { name: String, message: String },
    #[error("schema {name} uses {what}, which is not supported")]
    Unsupported { name: String, what: String },
    #[error("schema {name}: pattern {pattern:?} is not a valid XSD regular expression: {message}")]
    Pattern {
        name: String,
        pattern: String,
        message: String,
    },
    #[error("no schema files under {0}")]
    Empty(PathBuf),
}

impl SchemaSet {
    /// Every *.xsd file under `dir` (recursively), xs:include/xs:import
    /// resolved by schemaLocation relative to each file.
    pub fn load_dir(dir: &Path) -> Result<SchemaSet, XsdError> {
        let files = load::xsd_files_under(dir)?;
        if files.is_empty() {
            return Err(XsdError::Empty(dir.to_owned()));
        }
        Self::load_files(&files)
    }

    /// These files and whatever they include/import.
    pub fn load_files(files: &[PathBuf]) -> Result<SchemaSet, XsdError> {
        let docs = load::Loader::files().load(
            &files
                .iter()
                .map(|f| f.to_string_lossy().into_owned())
                .collect::<Vec<_>>(),
        )?;
        Ok(SchemaSet {
            components: compile::compile(&docs)?,
        })
    }

    /// From in-memory texts (name, text); schemaLocation is resolved against
    /// the names (for schemas embedded with include_str!).
    pub fn from_texts(texts: &[(&str, &str)]) -> Result<SchemaSet, XsdError> {
        let docs = load::Loader::texts(texts).load(
            &texts
                .iter()
                .map(|(n, _)| (*n).to_owned())
                .collect::<Vec<_>>(),
        )?;
        Ok(SchemaSet {
            components: compile::compile(&docs)?,
        })
    }

    /// Whether a global element {ns}local is declared.
    pub fn declares(&self, ns: &str, local: &str) -> bool {
        self.components.global_element(ns, local).is_some()
    }

    /// Validates element `el` of `doc` against the global declaration of its
    /// name; empty = valid.
    pub fn validate(&self, doc: &Document, el: NodeId) -> Vec<Violation> {
        validate::validate(&self.components, doc, el)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schema_set_is_send_and_sync() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<SchemaSet>();
    }
}
