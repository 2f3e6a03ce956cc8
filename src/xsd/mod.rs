//! XML Schema validation over [`crate::xml::Document`].
//!
//! This build has no validator yet: every schema set fails to load with
//! [`XsdError::Unavailable`], so callers report answers as not checked
//! rather than as valid. The full validator replaces this module with the
//! same interface.

use std::path::{Path, PathBuf};

use crate::xml::{Document, NodeId};

/// A compiled set of XML Schemas (any number of target namespaces).
#[derive(Debug)]
pub struct SchemaSet {
    _never: (),
}

/// One reason an instance document is not valid.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Violation {
    /// Where: `/FNSVipULResponse/СвЮЛ[1]/@ОГРН`.
    pub path: String,
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
    #[error("XML Schema validation is not available in this build")]
    Unavailable,
}

impl SchemaSet {
    /// Every *.xsd file under `dir` (recursively).
    pub fn load_dir(_dir: &Path) -> Result<SchemaSet, XsdError> {
        Err(XsdError::Unavailable)
    }

    /// These files and whatever they include/import.
    pub fn load_files(_files: &[PathBuf]) -> Result<SchemaSet, XsdError> {
        Err(XsdError::Unavailable)
    }

    /// From in-memory texts (name, text).
    pub fn from_texts(_texts: &[(&str, &str)]) -> Result<SchemaSet, XsdError> {
        Err(XsdError::Unavailable)
    }

    /// Whether a global element {ns}local is declared.
    pub fn declares(&self, _ns: &str, _local: &str) -> bool {
        false
    }

    /// Validates element `el` of `doc`; empty = valid.
    pub fn validate(&self, _doc: &Document, _el: NodeId) -> Vec<Violation> {
        Vec::new()
    }
}
