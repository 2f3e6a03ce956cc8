//! Attachments of SMEV 3 messages: MTOM/XOP multipart bodies, the file
//! store's references, their hashes (GOST R 34.11-2012 and SHA-256), their
//! detached PKCS#7/CMS signatures, and bounded unpacking of ZIP archives.
//!
//! Attachment contents travel outside the signed part of a SOAP message;
//! only their headers (content id, MIME type, hash, signature) are covered
//! by the message's signature. Each file is therefore checked on its own:
//! its hash against the header and its detached signature against the
//! trust store. A file that fails is kept for the record and reported.

pub mod cms;
pub mod digest;
pub mod ftp;
pub mod mtom;
pub mod receive;
pub mod send;
pub mod zip;

use std::path::{Component, Path};

use serde::{Deserialize, Serialize};

/// The outcome of checking one attachment's detached signature.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SignatureStatus {
    /// The signature verifies over the file and its signer is trusted.
    Verified,
    /// The header carries no signature.
    Absent,
    /// The signature does not verify, or its signer is not trusted.
    Bad,
}

/// A signature check: status, the signer's certificate subject when the
/// signature names one, and why it failed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignatureCheck {
    pub status: SignatureStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signer: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

impl SignatureCheck {
    pub fn absent() -> Self {
        SignatureCheck {
            status: SignatureStatus::Absent,
            signer: None,
            reason: None,
        }
    }

    pub fn verified(signer: String) -> Self {
        SignatureCheck {
            status: SignatureStatus::Verified,
            signer: Some(signer),
            reason: None,
        }
    }

    pub fn bad(signer: Option<String>, reason: impl Into<String>) -> Self {
        SignatureCheck {
            status: SignatureStatus::Bad,
            signer,
            reason: Some(reason.into()),
        }
    }
}

/// One attachment as the case file records it (`result.json`'s
/// `attachments`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttachmentRecord {
    /// The file's name in the case directory (sanitised).
    pub name: String,
    pub mime_type: String,
    /// Bytes.
    pub size: u64,
    /// SHA-256 of the content, lowercase hex.
    pub sha256: String,
    /// GOST R 34.11-2012 (256 bits) of the content, base64 as SMEV's
    /// `Hash` carries it; absent when the GOST engine is unavailable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gost_hash: Option<String>,
    pub signature: SignatureCheck,
    /// Relative to the request's folder, `/`-separated.
    pub path: String,
    /// Why the file failed its checks (hash or signature); absent when it
    /// passed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub problem: Option<String>,
}

impl AttachmentRecord {
    /// Whether the file passed every check (hash matched, signature verified
    /// or absent).
    pub fn is_sound(&self) -> bool {
        self.problem.is_none() && self.signature.status != SignatureStatus::Bad
    }
}

/// Limits on what one message may bring.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Limits {
    /// Bytes one attachment may have.
    pub max_file_bytes: u64,
    /// Bytes all attachments of a message may have together.
    pub max_total_bytes: u64,
    /// Attachments one message may carry.
    pub max_files: usize,
    /// Bytes the SOAP envelope (the root part) may have.
    pub max_envelope_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_file_bytes: 512 * 1024 * 1024,
            max_total_bytes: 1024 * 1024 * 1024,
            max_files: 100,
            max_envelope_bytes: 16 * 1024 * 1024,
        }
    }
}

/// Why an attachment could not be taken. Each variant has a stable code.
#[derive(Debug, thiserror::Error)]
pub enum AttachmentError {
    #[error("the body is not multipart/related: {0}")]
    NotMultipart(String),
    #[error("malformed multipart body: {0}")]
    Malformed(String),
    #[error("attachment {id} exceeds the limit of {limit} bytes")]
    FileTooLarge { id: String, limit: u64 },
    #[error("the attachments exceed the total limit of {limit} bytes")]
    TotalTooLarge { limit: u64 },
    #[error("more than {limit} attachments in one message")]
    TooManyFiles { limit: usize },
    #[error("the SOAP envelope exceeds {limit} bytes")]
    EnvelopeTooLarge { limit: usize },
    #[error("no attachment part has Content-ID {0}")]
    MissingPart(String),
    #[error("unsafe file name {0:?}")]
    UnsafeName(String),
    #[error("{0}")]
    Zip(String),
    #[error("{0}")]
    Crypto(String),
    #[error("{path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
}

impl AttachmentError {
    pub fn io(path: &Path, source: std::io::Error) -> Self {
        AttachmentError::Io {
            path: path.display().to_string(),
            source,
        }
    }

    /// A stable code for logs, replies and translations.
    pub fn code(&self) -> &'static str {
        match self {
            AttachmentError::NotMultipart(_) => "attachment_not_multipart",
            AttachmentError::Malformed(_) => "attachment_malformed",
            AttachmentError::FileTooLarge { .. } => "attachment_file_too_large",
            AttachmentError::TotalTooLarge { .. } => "attachment_total_too_large",
            AttachmentError::TooManyFiles { .. } => "attachment_too_many",
            AttachmentError::EnvelopeTooLarge { .. } => "attachment_envelope_too_large",
            AttachmentError::MissingPart(_) => "attachment_missing",
            AttachmentError::UnsafeName(_) => "attachment_unsafe_name",
            AttachmentError::Zip(_) => "attachment_zip_refused",
            AttachmentError::Crypto(_) => "attachment_crypto",
            AttachmentError::Io { .. } => "attachment_io",
        }
    }
}

/// A file name that stays inside the folder it is written to: one plain
/// component, no separators, no control characters, not `.`/`..`, not
/// hidden, at most 200 bytes. Returns the name unchanged or an error.
pub fn safe_file_name(name: &str) -> Result<&str, AttachmentError> {
    let bad = name.is_empty()
        || name.len() > 200
        || name.starts_with('.')
        || name.contains(['/', '\\', ':', '\0'])
        || name.chars().any(char::is_control)
        || Path::new(name).components().count() != 1
        || !matches!(
            Path::new(name).components().next(),
            Some(Component::Normal(_))
        );
    if bad {
        Err(AttachmentError::UnsafeName(name.to_string()))
    } else {
        Ok(name)
    }
}

/// Makes a name that is safe to write from an untrusted one: the last path
/// component, unsafe characters replaced by `_`; `fallback` when nothing
/// is left.
pub fn sanitize_file_name(name: &str, fallback: &str) -> String {
    let last = name.rsplit(['/', '\\']).next().unwrap_or("");
    let mut out: String = last
        .chars()
        .map(|c| {
            if c.is_control() || matches!(c, ':' | '\0' | '"' | '<' | '>' | '|' | '?' | '*') {
                '_'
            } else {
                c
            }
        })
        .collect();
    while out.starts_with('.') {
        out.remove(0);
    }
    while out.len() > 200 {
        out.pop();
    }
    if out.trim().is_empty() {
        fallback.to_string()
    } else {
        out
    }
}

/// `path` relative to `base`, `/`-separated, when it lies inside it.
pub fn relative_path(base: &Path, path: &Path) -> Option<String> {
    let rel = path.strip_prefix(base).ok()?;
    let mut parts = Vec::new();
    for c in rel.components() {
        match c {
            Component::Normal(s) => parts.push(s.to_str()?.to_string()),
            _ => return None,
        }
    }
    Some(parts.join("/"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_that_escape_are_refused() {
        for bad in [
            "", ".", "..", "../x", "a/b", "a\\b", ".hidden", "c:x", "x\u{1}",
        ] {
            assert!(safe_file_name(bad).is_err(), "{bad:?}");
        }
        assert_eq!(safe_file_name("выписка.zip").unwrap(), "выписка.zip");
    }

    #[test]
    fn sanitising_keeps_the_last_component() {
        assert_eq!(sanitize_file_name("../../etc/passwd", "f"), "passwd");
        assert_eq!(sanitize_file_name("..", "f"), "f");
        assert_eq!(sanitize_file_name("C:\\x\\a?.pdf", "f"), "a_.pdf");
        assert!(safe_file_name(&sanitize_file_name("../.x", "f")).is_ok());
    }

    #[test]
    fn record_serialises_in_the_reply_shape() {
        let r = AttachmentRecord {
            name: "a.zip".into(),
            mime_type: "application/zip".into(),
            size: 3,
            sha256: "00".into(),
            gost_hash: None,
            signature: SignatureCheck::verified("CN=x".into()),
            path: "attachments/a.zip".into(),
            problem: None,
        };
        let v = serde_json::to_value(&r).unwrap();
        assert_eq!(v["signature"]["status"], "verified");
        assert_eq!(v["signature"]["signer"], "CN=x");
        assert_eq!(v["path"], "attachments/a.zip");
        assert!(v.get("problem").is_none());
    }
}
