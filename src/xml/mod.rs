//! XML for mezhved: a hardened parser, an owned tree with resolved
//! namespaces, and a serialiser. Canonicalisation lives in `xmldsig`.

mod dom;
mod parse;
mod write;

pub use dom::{Attr, Document, Element, Node, NodeId, NsDecl, XML_NS};
pub use parse::{Limits, parse, parse_with};
pub use write::{element_to_string, to_bytes};
pub(crate) use write::{escape_attr, escape_text};

/// Why a document was refused.
#[derive(Debug, thiserror::Error)]
pub enum XmlError {
    #[error("document of {size} bytes exceeds the limit of {limit} bytes")]
    TooLarge { size: usize, limit: usize },
    #[error("document nests deeper than {0} elements")]
    TooDeep(usize),
    #[error("document has more than {0} nodes")]
    TooManyNodes(usize),
    #[error("an element has more than {0} attributes")]
    TooManyAttributes(usize),
    #[error("document type declarations (DTD) are not accepted")]
    Dtd,
    #[error("entity &{0}; is not defined (only the five XML entities are accepted)")]
    UndefinedEntity(String),
    #[error("namespace prefix {0:?} is not declared")]
    UndeclaredPrefix(String),
    #[error("document is not UTF-8: {0}")]
    Encoding(String),
    #[error("document has no root element")]
    NoRoot,
    #[error("malformed XML at byte {position}: {message}")]
    Syntax { position: u64, message: String },
}

impl XmlError {
    fn syntax(position: u64, message: impl Into<String>) -> Self {
        XmlError::Syntax {
            position,
            message: message.into(),
        }
    }
}
