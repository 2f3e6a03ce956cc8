//! `attachments` of a request: files sent with it to SMEV (a scanned
//! consent, a power of attorney). Each is given inline as
//! `content_base64` (within `[attachments] max_base64_bytes` for all of a
//! request's inline files together) or by `path`, relative to
//! `gateway.inbox_dir`, where the case system put the file.
//!
//! [`parse`] checks what the message says (names, types, base64, the
//! shape of a path); [`check_inbox`] checks the file system: the file
//! exists, is a regular file within the size limit, and lies inside the
//! inbox once every link is followed.

use std::path::{Component, Path, PathBuf};

use base64::Engine as _;
use serde::Serialize;
use serde_json::Value;

use super::json::Obj;
use super::{Invalid, InvalidCode};

/// Bounds on a request's attachments (`[attachments]`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AttachmentLimits {
    pub max_files: usize,
    /// Decoded bytes of all `content_base64` of one request together.
    pub max_base64_bytes: usize,
    /// Bytes one attachment may have, either way.
    pub max_file_bytes: u64,
}

impl AttachmentLimits {
    /// Wide enough for anything a configuration allows: a stored request
    /// is read back with these.
    pub const STORED: AttachmentLimits = AttachmentLimits {
        max_files: 1000,
        max_base64_bytes: 256 * 1024 * 1024,
        max_file_bytes: u64::MAX,
    };

    /// Room the base64 text of the inline files takes in a message body.
    pub fn body_allowance(&self) -> usize {
        if self.max_files == 0 {
            0
        } else {
            self.max_base64_bytes.div_ceil(3).saturating_mul(4) + self.max_files * 1024
        }
    }
}

/// Where an attachment's bytes are.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Source {
    /// Given in the message (decoded).
    Inline(Vec<u8>),
    /// A file under the inbox, by its path relative to it (`/`-separated).
    Inbox(String),
}

/// One attachment of a request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Attachment {
    /// The file's name (one plain name, unique within the request).
    pub name: String,
    pub mime_type: String,
    pub source: Source,
}

impl Serialize for Attachment {
    /// In the request's own form (the stored request is read back by the
    /// same parser).
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap as _;
        let mut m = s.serialize_map(Some(3))?;
        m.serialize_entry("name", &self.name)?;
        m.serialize_entry("mime_type", &self.mime_type)?;
        match &self.source {
            Source::Inline(b) => m.serialize_entry(
                "content_base64",
                &base64::engine::general_purpose::STANDARD.encode(b),
            )?,
            Source::Inbox(p) => m.serialize_entry("path", p)?,
        }
        m.end()
    }
}

/// SMEV's `RFC2046MimeTypesType`.
pub fn valid_mime_type(s: &str) -> bool {
    let Some((top, sub)) = s.split_once('/') else {
        return false;
    };
    matches!(top, "text" | "image" | "audio" | "video" | "application")
        && sub
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'+' | b'.'))
        && s.len() <= 200
}

/// Reads `attachments` of the message (absent: none).
pub(super) fn parse(root: &Obj<'_>, limits: &AttachmentLimits) -> Result<Vec<Attachment>, Invalid> {
    let Some(list) = root.opt_array("attachments")? else {
        return Ok(Vec::new());
    };
    if list.len() > limits.max_files {
        return Err(Invalid::new(
            InvalidCode::InvalidValue,
            "attachments",
            format!(
                "{} attachments; at most {} per request",
                list.len(),
                limits.max_files
            ),
        ));
    }
    let mut out: Vec<Attachment> = Vec::with_capacity(list.len());
    let mut inline_total = 0usize;
    for (i, v) in list.iter().enumerate() {
        let field = format!("attachments[{i}]");
        let Value::Object(_) = v else {
            return Err(Invalid::new(
                InvalidCode::WrongType,
                field,
                "an attachment is an object {\"name\", \"mime_type\", \"content_base64\" or \"path\"}",
            ));
        };
        let obj = Obj::nested(v, field.clone())?;
        obj.allow_only(&["name", "mime_type", "content_base64", "path"])?;
        let name = obj.req_str("name")?;
        if crate::attachment::safe_file_name(name).is_err() {
            return Err(obj.invalid(
                "name",
                format!(
                    "{name:?} is not a plain file name (no folders, no leading dot, no control characters, at most 200 bytes)"
                ),
            ));
        }
        if out.iter().any(|a| a.name == name) {
            return Err(obj.invalid(
                "name",
                format!("{name:?} is the name of another attachment of this request"),
            ));
        }
        let mime_type = obj.req_str("mime_type")?;
        if !valid_mime_type(mime_type) {
            return Err(obj.invalid(
                "mime_type",
                format!(
                    "{mime_type:?} is not a MIME type SMEV takes: (text|image|audio|video|application)/[a-zA-Z0-9-+.]*"
                ),
            ));
        }
        let source = match (obj.opt_str("content_base64")?, obj.opt_str("path")?) {
            (Some(_), Some(_)) | (None, None) => {
                return Err(Invalid::new(
                    InvalidCode::InvalidValue,
                    field,
                    "give exactly one of content_base64 (the file itself) or path (a file under the gateway's inbox)",
                ));
            }
            (Some(b64), None) => {
                // Decoded size is at most 3/4 of the text: refuse before
                // decoding what could not fit.
                let room = limits.max_base64_bytes.saturating_sub(inline_total);
                if b64.len() / 4 * 3 > room + 3 {
                    return Err(too_big(&obj, limits));
                }
                let bytes = base64::engine::general_purpose::STANDARD
                    .decode(b64.as_bytes())
                    .map_err(|e| obj.invalid("content_base64", format!("not base64: {e}")))?;
                if bytes.is_empty() {
                    return Err(obj.invalid("content_base64", "the attachment is empty"));
                }
                inline_total += bytes.len();
                if inline_total > limits.max_base64_bytes
                    || bytes.len() as u64 > limits.max_file_bytes
                {
                    return Err(too_big(&obj, limits));
                }
                Source::Inline(bytes)
            }
            (None, Some(p)) => Source::Inbox(inbox_path(&obj, p)?),
        };
        out.push(Attachment {
            name: name.to_owned(),
            mime_type: mime_type.to_owned(),
            source,
        });
    }
    Ok(out)
}

fn too_big(obj: &Obj<'_>, limits: &AttachmentLimits) -> Invalid {
    Invalid::new(
        InvalidCode::TooLarge,
        obj.path("content_base64"),
        format!(
            "inline attachments may have {} bytes together; give larger files by path under the gateway's inbox",
            limits.max_base64_bytes
        ),
    )
}

/// The shape of an inbox path: relative, plain components, `/`-separated.
fn inbox_path(obj: &Obj<'_>, p: &str) -> Result<String, Invalid> {
    let unsafe_path = |why: &str| {
        Invalid::new(
            InvalidCode::UnsafePath,
            obj.path("path"),
            format!(
                "{p:?} {why}; give a path relative to the gateway's inbox, such as \"LO-2026-004219/scan.pdf\""
            ),
        )
    };
    if p.is_empty() || p.len() > 1000 || p.contains(['\\', '\0']) || p.chars().any(char::is_control)
    {
        return Err(unsafe_path("is not a usable path"));
    }
    if p.starts_with('/') {
        return Err(unsafe_path("is absolute"));
    }
    for c in Path::new(p).components() {
        if !matches!(c, Component::Normal(_)) {
            return Err(unsafe_path("leaves the inbox (\"..\" or \".\")"));
        }
    }
    Ok(p.to_owned())
}

/// The inbox files of `attachments`, checked on disk: each exists, is a
/// regular file of at most `max_file_bytes`, and is inside `inbox` with
/// every link followed. Returns their resolved paths, in order.
pub fn check_inbox(
    attachments: &[Attachment],
    inbox: &Path,
    max_file_bytes: u64,
) -> Result<Vec<PathBuf>, Invalid> {
    let mut out = Vec::new();
    let mut root: Option<PathBuf> = None;
    for (i, a) in attachments.iter().enumerate() {
        let Source::Inbox(rel) = &a.source else {
            continue;
        };
        let field = format!("attachments[{i}].path");
        let root = match &root {
            Some(r) => r.clone(),
            None => {
                let r = inbox.canonicalize().map_err(|e| {
                    Invalid::new(
                        InvalidCode::FileNotFound,
                        field.clone(),
                        format!(
                            "the gateway's inbox {} cannot be read ({e}); attachments by path are unavailable",
                            inbox.display()
                        ),
                    )
                })?;
                root = Some(r.clone());
                r
            }
        };
        let full = root.join(rel);
        let real = match full.canonicalize() {
            Ok(r) => r,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(Invalid::new(
                    InvalidCode::FileNotFound,
                    field,
                    format!("no file {rel:?} in the gateway's inbox"),
                ));
            }
            Err(e) => {
                return Err(Invalid::new(
                    InvalidCode::FileNotFound,
                    field,
                    format!("{rel:?} in the gateway's inbox cannot be read: {e}"),
                ));
            }
        };
        if !real.starts_with(&root) {
            return Err(Invalid::new(
                InvalidCode::UnsafePath,
                field,
                format!("{rel:?} leads out of the gateway's inbox (a link pointing elsewhere)"),
            ));
        }
        let meta = std::fs::metadata(&real).map_err(|e| {
            Invalid::new(
                InvalidCode::FileNotFound,
                field.clone(),
                format!("{rel:?} cannot be read: {e}"),
            )
        })?;
        if !meta.is_file() {
            return Err(Invalid::new(
                InvalidCode::FileNotFound,
                field,
                format!("{rel:?} is not a regular file"),
            ));
        }
        if meta.len() == 0 {
            return Err(Invalid::new(
                InvalidCode::InvalidValue,
                field,
                format!("{rel:?} is empty"),
            ));
        }
        if meta.len() > max_file_bytes {
            return Err(Invalid::new(
                InvalidCode::TooLarge,
                field,
                format!(
                    "{rel:?} has {} bytes; an attachment may have at most {max_file_bytes}",
                    meta.len()
                ),
            ));
        }
        out.push(real);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: AttachmentLimits = AttachmentLimits {
        max_files: 3,
        max_base64_bytes: 10,
        max_file_bytes: 100,
    };

    fn run(v: Value) -> Result<Vec<Attachment>, Invalid> {
        let root = Obj::root(&v).unwrap();
        parse(&root, &LIMITS)
    }

    #[test]
    fn inline_and_inbox() {
        let got = run(serde_json::json!({"attachments": [
            {"name": "consent.pdf", "mime_type": "application/pdf", "content_base64": "JVBERi0="},
            {"name": "scan.pdf", "mime_type": "application/pdf", "path": "LO-1/scan.pdf"}
        ]}))
        .unwrap();
        assert_eq!(got[0].source, Source::Inline(b"%PDF-".to_vec()));
        assert_eq!(got[1].source, Source::Inbox("LO-1/scan.pdf".into()));
        let v = serde_json::to_value(&got).unwrap();
        assert_eq!(v[0]["content_base64"], "JVBERi0=");
        assert_eq!(v[1]["path"], "LO-1/scan.pdf");
        assert!(run(serde_json::json!({})).unwrap().is_empty());
    }

    #[test]
    fn refusals_name_the_field() {
        let cases = [
            (
                serde_json::json!({"attachments": [{"name": "../x", "mime_type": "text/plain", "content_base64": "eA=="}]}),
                InvalidCode::InvalidValue,
                "attachments[0].name",
            ),
            (
                serde_json::json!({"attachments": [{"name": "a", "mime_type": "pdf", "content_base64": "eA=="}]}),
                InvalidCode::InvalidValue,
                "attachments[0].mime_type",
            ),
            (
                serde_json::json!({"attachments": [{"name": "a", "mime_type": "text/plain", "content_base64": "!!"}]}),
                InvalidCode::InvalidValue,
                "attachments[0].content_base64",
            ),
            (
                serde_json::json!({"attachments": [{"name": "a", "mime_type": "text/plain", "content_base64": "eHh4eHh4eHh4eHh4eA=="}]}),
                InvalidCode::TooLarge,
                "attachments[0].content_base64",
            ),
            (
                serde_json::json!({"attachments": [{"name": "a", "mime_type": "text/plain", "path": "../etc/passwd"}]}),
                InvalidCode::UnsafePath,
                "attachments[0].path",
            ),
            (
                serde_json::json!({"attachments": [{"name": "a", "mime_type": "text/plain", "path": "/etc/passwd"}]}),
                InvalidCode::UnsafePath,
                "attachments[0].path",
            ),
            (
                serde_json::json!({"attachments": [{"name": "a", "mime_type": "text/plain"}]}),
                InvalidCode::InvalidValue,
                "attachments[0]",
            ),
            (
                serde_json::json!({"attachments": [{"name": "a", "mime_type": "text/plain", "path": "x", "extra": 1}]}),
                InvalidCode::UnknownField,
                "attachments[0].extra",
            ),
            (
                serde_json::json!({"attachments": [{"name": "a", "mime_type": "text/plain", "path": "x"}, {"name": "a", "mime_type": "text/plain", "path": "y"}]}),
                InvalidCode::InvalidValue,
                "attachments[1].name",
            ),
            (
                serde_json::json!({"attachments": "x"}),
                InvalidCode::WrongType,
                "attachments",
            ),
            (
                serde_json::json!({"attachments": [1]}),
                InvalidCode::WrongType,
                "attachments[0]",
            ),
            (
                serde_json::json!({"attachments": [{}, {}, {}, {}]}),
                InvalidCode::InvalidValue,
                "attachments",
            ),
        ];
        for (v, code, field) in cases {
            let e = run(v.clone()).unwrap_err();
            assert_eq!((e.code, e.field.as_str()), (code, field), "{v}: {e}");
            assert!(!e.message.is_empty());
        }
    }

    #[test]
    fn inbox_files_are_checked_on_disk() {
        let dir = tempfile::tempdir().unwrap();
        let inbox = dir.path().join("inbox");
        std::fs::create_dir_all(inbox.join("LO-1")).unwrap();
        std::fs::write(inbox.join("LO-1/scan.pdf"), b"%PDF-1.4").unwrap();
        std::fs::write(dir.path().join("secret.txt"), b"secret").unwrap();
        std::os::unix::fs::symlink(dir.path().join("secret.txt"), inbox.join("LO-1/link.pdf"))
            .unwrap();
        std::os::unix::fs::symlink(dir.path(), inbox.join("up")).unwrap();
        let att = |p: &str| Attachment {
            name: "a.pdf".into(),
            mime_type: "application/pdf".into(),
            source: Source::Inbox(p.into()),
        };
        let ok = check_inbox(&[att("LO-1/scan.pdf")], &inbox, 100).unwrap();
        assert_eq!(
            ok,
            vec![inbox.canonicalize().unwrap().join("LO-1/scan.pdf")]
        );
        for (p, code) in [
            ("LO-1/link.pdf", InvalidCode::UnsafePath),
            ("up/secret.txt", InvalidCode::UnsafePath),
            ("LO-1/missing.pdf", InvalidCode::FileNotFound),
            ("LO-1", InvalidCode::FileNotFound),
        ] {
            let e = check_inbox(&[att(p)], &inbox, 100).unwrap_err();
            assert_eq!(e.code, code, "{p}: {e}");
            assert_eq!(e.field, "attachments[0].path");
        }
        let e = check_inbox(&[att("LO-1/scan.pdf")], &inbox, 3).unwrap_err();
        assert_eq!(e.code, InvalidCode::TooLarge);
    }
}
