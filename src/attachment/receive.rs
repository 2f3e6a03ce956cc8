//! Receiving the attachments of an answer: what the SOAP envelope says
//! about them (`AttachmentHeaderList`, `AttachmentContentList`,
//! `RefAttachmentHeaderList` + `FSAttachmentsList`), and placing each file
//! in the request's folder with its hash and signature checked.
//!
//! Contents are outside the part SMEV signs, headers inside it; the
//! envelope's own signature is checked elsewhere, as before. Here each
//! file is checked against its header: a file that fails is kept for the
//! record and listed with its problem, and the request must then end as a
//! failure, never with a verdict.

use std::io::Write;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use time::OffsetDateTime;

use super::digest::{Digests, digest_file};
use super::mtom::{Received, XOP_NS, cid_from_href};
use super::{AttachmentError, AttachmentRecord, Limits, SignatureCheck, cms, sanitize_file_name};
use crate::smev::IncomingResponse;
use crate::xml::{Document, NodeId};
use crate::xmldsig::TrustStore;

/// The folder of a request where its attachments go.
pub const ATTACHMENTS_DIR: &str = "attachments";

/// `AttachmentHeader`: an attachment carried in the message (MTOM).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    pub content_id: String,
    pub mime_type: String,
    pub signature: Option<String>,
}

/// `RefAttachmentHeader`: an attachment in SMEV's file store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefHeader {
    pub uuid: String,
    /// Base64 GOST R 34.11-2012 (256) of the file.
    pub hash: String,
    pub mime_type: String,
    pub signature: Option<String>,
}

/// `FSAttachment`: where and how to fetch a file-store attachment.
#[derive(Clone, PartialEq, Eq)]
pub struct FsAttachment {
    pub uuid: String,
    pub user_name: String,
    pub password: String,
    pub file_name: String,
}

impl std::fmt::Debug for FsAttachment {
    // The password is never printed.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FsAttachment")
            .field("uuid", &self.uuid)
            .field("user_name", &self.user_name)
            .field("file_name", &self.file_name)
            .finish_non_exhaustive()
    }
}

/// Where an `AttachmentContent` has its bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ContentSource {
    /// An MTOM part (`xop:Include href="cid:…"`), by Content-ID.
    Xop(String),
    /// Base64 in the element itself (a message sent without MTOM).
    Inline(String),
}

/// Everything an answer's envelope says about its attachments.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Headers {
    pub headers: Vec<Header>,
    /// `AttachmentContent/@Id` → its content.
    pub contents: Vec<(String, ContentSource)>,
    pub refs: Vec<RefHeader>,
    pub fs: Vec<FsAttachment>,
}

impl Headers {
    pub fn is_empty(&self) -> bool {
        self.headers.is_empty() && self.refs.is_empty()
    }

    /// Reads the attachment elements of a `GetResponseResponse`.
    pub fn from_response(doc: &Document, resp: &IncomingResponse) -> Self {
        let tns = resp.version.types_ns();
        let bns = resp.version.basic_ns();
        let mut out = Headers::default();
        let text = |parent: NodeId, local: &str| {
            doc.child_text(parent, bns, local)
                .map(|t| t.trim().to_string())
                .unwrap_or_default()
        };
        if let Some(sprd) = doc.child(resp.response, tns, "SenderProvidedResponseData") {
            if let Some(list) = doc.child(sprd, bns, "AttachmentHeaderList") {
                for h in doc.children_named(list, bns, "AttachmentHeader") {
                    out.headers.push(Header {
                        content_id: text(h, "contentId"),
                        mime_type: text(h, "MimeType"),
                        signature: doc.child_text(h, bns, "SignaturePKCS7"),
                    });
                }
            }
            if let Some(list) = doc.child(sprd, bns, "RefAttachmentHeaderList") {
                for h in doc.children_named(list, bns, "RefAttachmentHeader") {
                    out.refs.push(RefHeader {
                        uuid: text(h, "uuid"),
                        hash: text(h, "Hash"),
                        mime_type: text(h, "MimeType"),
                        signature: doc.child_text(h, bns, "SignaturePKCS7"),
                    });
                }
            }
        }
        if let Some(list) = doc.child(resp.response, bns, "FSAttachmentsList") {
            for a in doc.children_named(list, bns, "FSAttachment") {
                out.fs.push(FsAttachment {
                    uuid: text(a, "uuid"),
                    user_name: text(a, "UserName"),
                    password: doc.child_text(a, bns, "Password").unwrap_or_default(),
                    file_name: text(a, "FileName"),
                });
            }
        }
        let message = doc.parent(resp.response);
        if let Some(list) = message.and_then(|m| doc.child(m, bns, "AttachmentContentList")) {
            for c in doc.children_named(list, bns, "AttachmentContent") {
                let id = doc.element(c).attr("Id").unwrap_or_default().to_string();
                let Some(content) = doc.child(c, bns, "Content") else {
                    continue;
                };
                let source = match doc.child(content, XOP_NS, "Include") {
                    Some(inc) => ContentSource::Xop(
                        doc.element(inc)
                            .attr("href")
                            .and_then(cid_from_href)
                            .unwrap_or_default(),
                    ),
                    None => ContentSource::Inline(doc.text(content)),
                };
                out.contents.push((id, source));
            }
        }
        out
    }
}

/// SMEV's file store, as the receiving side needs it: one file fetched to a
/// local path with the credentials SMEV gave for it.
pub trait FileStore: Send + Sync {
    /// Fetches `attachment` into `dest` (a new file), at most
    /// `limits.max_file_bytes` bytes.
    fn fetch(
        &self,
        attachment: &FsAttachment,
        dest: &Path,
        limits: &Limits,
    ) -> Result<(), AttachmentError>;
}

/// What came with an answer: each file as recorded, and what was wrong.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Receipt {
    pub records: Vec<AttachmentRecord>,
    /// One line per problem (a file missing, failing its hash or its
    /// signature); empty when every file passed.
    pub problems: Vec<String>,
    /// The `SignaturePKCS7` of each signed file, by name, so that the
    /// verify tool can check the stored files again.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub signatures: Vec<StoredSignature>,
}

/// A file's detached signature as its header carried it (base64 DER).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct StoredSignature {
    pub name: String,
    pub pkcs7: String,
}

/// One file checked again by the verify tool.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct FileCheck {
    pub path: String,
    pub ok: bool,
    pub result: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signer: Option<String>,
}

/// Checks the stored attachments of a request folder against the receipt
/// written when they came: each file's SHA-256 (and GOST hash) and each
/// detached signature. `trust` unset: signatures are not checked.
pub fn verify_stored(
    request_dir: &Path,
    trust: Option<&TrustStore>,
    at: OffsetDateTime,
) -> Option<Vec<FileCheck>> {
    let receipt = Receipt::load(request_dir)?;
    let mut out = Vec::new();
    for p in &receipt.problems {
        out.push(FileCheck {
            path: request_dir.display().to_string(),
            ok: false,
            result: format!("FAILED when received: {p}"),
            signer: None,
        });
    }
    for r in &receipt.records {
        let path = request_dir.join(&r.path);
        let shown = path.display().to_string();
        let d = match digest_file(&path) {
            Ok(d) => d,
            Err(e) => {
                out.push(FileCheck {
                    path: shown,
                    ok: false,
                    result: format!("FAILED: {e}"),
                    signer: None,
                });
                continue;
            }
        };
        if d.sha256_hex() != r.sha256 || (r.gost_hash.is_some() && d.gost_base64() != r.gost_hash) {
            out.push(FileCheck {
                path: shown,
                ok: false,
                result: "FAILED: the file changed since it was received (hash differs)".into(),
                signer: None,
            });
            continue;
        }
        let stored = receipt.signatures.iter().find(|s| s.name == r.name);
        let check = match (stored, trust) {
            (None, _) => FileCheck {
                path: shown,
                ok: true,
                result: "OK: hash matches; no signature".into(),
                signer: None,
            },
            (Some(_), None) => FileCheck {
                path: shown,
                ok: true,
                result: "OK: hash matches; signature not checked (give --trust)".into(),
                signer: None,
            },
            (Some(s), Some(t)) => {
                let c = check_signature(Some(&s.pkcs7), &path, t, at);
                let ok = c.status == super::SignatureStatus::Verified;
                FileCheck {
                    path: shown,
                    ok,
                    result: if ok {
                        "OK: hash matches; signature verified".into()
                    } else {
                        format!(
                            "FAILED: signature: {}",
                            c.reason.as_deref().unwrap_or("does not verify")
                        )
                    },
                    signer: c.signer,
                }
            }
        };
        out.push(check);
    }
    Some(out)
}

/// The receipt's file in a request's folder, kept so that an answer read
/// again after a restart is read with the same attachments.
pub const RECEIPT_FILE: &str = "receipt.json";

impl Receipt {
    /// Writes the receipt into `request_dir/attachments`.
    pub fn save(&self, request_dir: &Path) -> Result<(), AttachmentError> {
        let dir = request_dir.join(ATTACHMENTS_DIR);
        std::fs::create_dir_all(&dir).map_err(|e| AttachmentError::io(&dir, e))?;
        let data = serde_json::to_vec_pretty(self).expect("receipts serialise");
        crate::casefile::fsio::atomic_write(&dir, RECEIPT_FILE, &data)
            .map_err(|e| AttachmentError::io(&dir.join(RECEIPT_FILE), e))
    }

    /// The receipt saved in `request_dir`, if any.
    pub fn load(request_dir: &Path) -> Option<Receipt> {
        let p = request_dir.join(ATTACHMENTS_DIR).join(RECEIPT_FILE);
        let data = std::fs::read(p).ok()?;
        serde_json::from_slice(&data).ok()
    }

    pub fn is_sound(&self) -> bool {
        self.problems.is_empty()
    }

    /// The failure reason when a file failed, for the request's result.
    pub fn failure_reason(&self) -> Option<String> {
        (!self.problems.is_empty()).then(|| {
            format!(
                "the answer's attachments failed their checks: {}",
                self.problems.join("; ")
            )
        })
    }

    /// The record of the first file of `mime_type` (or with `extension`).
    pub fn find(&self, mime_type: &str, extension: &str) -> Option<&AttachmentRecord> {
        self.records.iter().find(|r| {
            r.mime_type.eq_ignore_ascii_case(mime_type)
                || r.name.to_ascii_lowercase().ends_with(extension)
        })
    }
}

/// The extension a MIME type's file gets when its name says nothing.
fn extension_for(mime: &str) -> &'static str {
    match mime.to_ascii_lowercase().as_str() {
        "application/zip" | "application/x-zip-compressed" => ".zip",
        "application/pdf" => ".pdf",
        "application/xml" | "text/xml" => ".xml",
        "application/pkcs7-signature" | "application/x-pkcs7-signature" => ".p7s",
        "text/plain" => ".txt",
        _ => ".bin",
    }
}

/// A name not used yet in `dir`.
fn unique_name(dir: &Path, wanted: &str) -> String {
    if !dir.join(wanted).exists() {
        return wanted.to_string();
    }
    let (stem, ext) = match wanted.rfind('.') {
        Some(i) if i > 0 => (&wanted[..i], &wanted[i..]),
        _ => (wanted, ""),
    };
    (2..)
        .map(|n| format!("{stem}-{n}{ext}"))
        .find(|c| !dir.join(c).exists())
        .expect("some number is free")
}

/// Places the attachments of an answer in `request_dir/attachments`:
/// MTOM parts (already on disk in `parts`) are moved there, inline base64
/// contents decoded, file-store ones fetched through `store`; each is
/// hashed, its header's hash (file store) and signature checked.
///
/// Errors only when the folder cannot be written; problems with the files
/// themselves are in the receipt.
#[allow(clippy::too_many_arguments)]
pub fn receive(
    headers: &Headers,
    parts: Option<&Received>,
    store: Option<&dyn FileStore>,
    request_dir: &Path,
    trust: &TrustStore,
    at: OffsetDateTime,
    limits: &Limits,
) -> Result<Receipt, AttachmentError> {
    let dir = request_dir.join(ATTACHMENTS_DIR);
    std::fs::create_dir_all(&dir).map_err(|e| AttachmentError::io(&dir, e))?;
    let mut receipt = Receipt::default();
    let count = headers.headers.len() + headers.refs.len();
    if count > limits.max_files {
        receipt.problems.push(format!(
            "the answer lists {count} attachments, more than the limit of {}",
            limits.max_files
        ));
        return Ok(receipt);
    }
    let mut used_parts: Vec<&str> = Vec::new();
    let mut total: u64 = 0;

    for h in &headers.headers {
        let label = if h.content_id.is_empty() {
            "(no contentId)".to_string()
        } else {
            h.content_id.clone()
        };
        let base = sanitize_file_name(&h.content_id, "attachment");
        let name = if base.contains('.') {
            base
        } else {
            format!("{base}{}", extension_for(&h.mime_type))
        };
        let name = unique_name(&dir, &name);
        let dest = dir.join(&name);
        let content = headers
            .contents
            .iter()
            .find(|(id, _)| *id == h.content_id)
            .map(|(_, c)| c);
        let digests: Digests = match content {
            None => {
                receipt.problems.push(format!(
                    "attachment {label}: the message has no AttachmentContent for it"
                ));
                continue;
            }
            Some(ContentSource::Xop(cid)) => {
                let Some(part) = parts.and_then(|p| p.parts.iter().find(|x| x.content_id == *cid))
                else {
                    receipt.problems.push(format!(
                        "attachment {label}: no MTOM part has Content-ID {cid}"
                    ));
                    continue;
                };
                used_parts.push(&part.content_id);
                std::fs::rename(&part.path, &dest).map_err(|e| AttachmentError::io(&dest, e))?;
                part.digests.clone()
            }
            Some(ContentSource::Inline(b64)) => {
                let cleaned: String = b64.chars().filter(|c| !c.is_whitespace()).collect();
                let Ok(bytes) = base64::engine::general_purpose::STANDARD.decode(cleaned) else {
                    receipt.problems.push(format!(
                        "attachment {label}: its inline content is not base64"
                    ));
                    continue;
                };
                if bytes.len() as u64 > limits.max_file_bytes {
                    receipt.problems.push(format!(
                        "attachment {label}: {} bytes, more than the limit of {}",
                        bytes.len(),
                        limits.max_file_bytes
                    ));
                    continue;
                }
                write_new(&dest, &bytes)?;
                digest_file(&dest)?
            }
        };
        total += digests.size;
        let signature = check_signature(h.signature.as_deref(), &dest, trust, at);
        receipt.keep_signature(&name, h.signature.as_deref());
        receipt.push(record(&name, &h.mime_type, &digests, signature, None));
    }

    for r in &headers.refs {
        let label = r.uuid.clone();
        let Some(fs) = headers.fs.iter().find(|f| f.uuid == r.uuid) else {
            receipt.problems.push(format!(
                "file-store attachment {label}: the answer has no FSAttachment for it"
            ));
            continue;
        };
        let Some(store) = store else {
            receipt.problems.push(format!(
                "file-store attachment {label}: no file store is configured to fetch it from"
            ));
            continue;
        };
        let wanted = sanitize_file_name(&fs.file_name, &r.uuid);
        let name = unique_name(&dir, &wanted);
        let dest = dir.join(&name);
        if let Err(e) = store.fetch(fs, &dest, limits) {
            let _ = std::fs::remove_file(&dest);
            receipt.problems.push(format!(
                "file-store attachment {label} ({}): cannot be fetched: {e}",
                fs.file_name
            ));
            continue;
        }
        let digests = digest_file(&dest)?;
        total += digests.size;
        let hash_problem = digests
            .check(&r.hash, false)
            .err()
            .map(|why| format!("attachment {name}: {why}"));
        let signature = check_signature(r.signature.as_deref(), &dest, trust, at);
        receipt.keep_signature(&name, r.signature.as_deref());
        receipt.push(record(
            &name,
            &r.mime_type,
            &digests,
            signature,
            hash_problem,
        ));
    }

    if let Some(p) = parts {
        for part in &p.parts {
            if !used_parts.contains(&part.content_id.as_str()) {
                let _ = std::fs::remove_file(&part.path);
                receipt.problems.push(format!(
                    "MTOM part {} is named by no AttachmentHeader",
                    part.content_id
                ));
            }
        }
    }
    if total > limits.max_total_bytes {
        receipt.problems.push(format!(
            "the attachments have {total} bytes together, more than the limit of {}",
            limits.max_total_bytes
        ));
    }
    Ok(receipt)
}

impl Receipt {
    fn keep_signature(&mut self, name: &str, signature: Option<&str>) {
        if let Some(s) = signature.map(str::trim).filter(|s| !s.is_empty()) {
            self.signatures.push(StoredSignature {
                name: name.to_string(),
                pkcs7: s.to_string(),
            });
        }
    }

    fn push(&mut self, rec: AttachmentRecord) {
        if let Some(p) = &rec.problem {
            self.problems.push(p.clone());
        }
        if rec.signature.status == super::SignatureStatus::Bad {
            self.problems.push(format!(
                "attachment {}: its signature is bad: {}",
                rec.name,
                rec.signature.reason.as_deref().unwrap_or("does not verify")
            ));
        }
        self.records.push(rec);
    }
}

fn record(
    name: &str,
    mime: &str,
    d: &Digests,
    signature: SignatureCheck,
    problem: Option<String>,
) -> AttachmentRecord {
    AttachmentRecord {
        name: name.to_string(),
        mime_type: mime.to_string(),
        size: d.size,
        sha256: d.sha256_hex(),
        gost_hash: d.gost_base64(),
        signature,
        path: format!("{ATTACHMENTS_DIR}/{name}"),
        problem,
    }
}

/// Checks a header's `SignaturePKCS7` over the file.
pub fn check_signature(
    signature: Option<&str>,
    file: &Path,
    trust: &TrustStore,
    at: OffsetDateTime,
) -> SignatureCheck {
    match signature.map(str::trim).filter(|s| !s.is_empty()) {
        None => SignatureCheck::absent(),
        Some(text) => match cms::decode_signature(text) {
            Ok(der) => cms::verify_file(&der, file, trust, at),
            Err(why) => SignatureCheck::bad(None, why),
        },
    }
}

fn write_new(path: &Path, data: &[u8]) -> Result<(), AttachmentError> {
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
        .map_err(|e| AttachmentError::io(path, e))?;
    f.write_all(data)
        .and_then(|_| f.sync_all())
        .map_err(|e| AttachmentError::io(path, e))
}

/// A file store on the local disk (tests, and the verify tool): a file is
/// `root/<uuid>/<FileName>`.
#[derive(Debug, Clone)]
pub struct DirectoryStore {
    pub root: PathBuf,
}

impl FileStore for DirectoryStore {
    fn fetch(
        &self,
        attachment: &FsAttachment,
        dest: &Path,
        limits: &Limits,
    ) -> Result<(), AttachmentError> {
        let uuid = super::safe_file_name(&attachment.uuid)?;
        let name = super::safe_file_name(&attachment.file_name)?;
        let src = self.root.join(uuid).join(name);
        let len = std::fs::metadata(&src)
            .map_err(|e| AttachmentError::io(&src, e))?
            .len();
        if len > limits.max_file_bytes {
            return Err(AttachmentError::FileTooLarge {
                id: attachment.uuid.clone(),
                limit: limits.max_file_bytes,
            });
        }
        let mut from = std::fs::File::open(&src).map_err(|e| AttachmentError::io(&src, e))?;
        let mut to = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(dest)
            .map_err(|e| AttachmentError::io(dest, e))?;
        std::io::copy(&mut from, &mut to).map_err(|e| AttachmentError::io(dest, e))?;
        to.sync_all().map_err(|e| AttachmentError::io(dest, e))
    }
}
