//! What a client's `SendRequest` brought as attachments, checked and kept
//! for testers: each inline (MTOM) part and each file store file named in
//! `RefAttachmentHeaderList`, with its size, SHA-256, GOST hash (and for
//! file store files whether it matches the header's `Hash`), and its
//! `SignaturePKCS7` checked against the file.
//!
//! The emulator keeps no register of officials' certificates: a signature
//! whose content matches but whose signer it cannot place is reported
//! with `content_matches: true` and the signer's subject.

use std::path::Path;

use serde::Serialize;

use super::filestore::FileStore;
use crate::attachment::mtom::Received;
use crate::attachment::{SignatureCheck, SignatureStatus, cms, digest};
use crate::xml::{Document, NodeId};

/// One attachment as the emulator received it.
#[derive(Debug, Clone, Serialize)]
pub struct IncomingAttachment {
    /// The request's `MessageID`.
    pub message_id: String,
    /// `mtom` or `ftp`.
    pub transfer: &'static str,
    /// `contentId` (MTOM) or `uuid` (file store).
    pub id: String,
    pub mime_type: String,
    /// `None`: the file is missing (no MTOM part, nothing under the uuid).
    pub size: Option<u64>,
    pub sha256: Option<String>,
    pub gost_hash: Option<String>,
    /// File store files: the header's `Hash` and whether it matches.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub header_hash: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hash_matches: Option<bool>,
    pub signature: SignatureCheck,
    /// The signature matches the file (whoever signed it).
    pub content_matches: bool,
    /// File store files: the file name uploaded.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file_name: Option<String>,
}

fn children(doc: &Document, parent: NodeId, local: &str) -> Vec<NodeId> {
    doc.children_local(parent, local).collect()
}

fn text_of(doc: &Document, parent: NodeId, local: &str) -> Option<String> {
    children(doc, parent, local)
        .first()
        .map(|n| doc.text(*n).trim().to_owned())
}

fn check_signature(sig: Option<&str>, path: &Path) -> (SignatureCheck, bool) {
    let Some(sig) = sig else {
        return (SignatureCheck::absent(), false);
    };
    let der = match cms::decode_signature(sig) {
        Ok(d) => d,
        Err(e) => return (SignatureCheck::bad(None, e), false),
    };
    let check = cms::verify_file(
        &der,
        path,
        &crate::xmldsig::TrustStore::default(),
        time::OffsetDateTime::now_utc(),
    );
    let matches = check.status == SignatureStatus::Verified
        || check
            .reason
            .as_deref()
            .is_some_and(|r| r.contains("not trusted"));
    (check, matches)
}

/// The attachments of the `SendRequest` in `doc` (its
/// `SenderProvidedRequestData` is `sprd`), the MTOM parts in `received`,
/// the file store files in `store`.
pub fn check(
    doc: &Document,
    sprd: NodeId,
    message_id: &str,
    received: Option<&Received>,
    store: Option<&FileStore>,
) -> Vec<IncomingAttachment> {
    let mut out = Vec::new();
    // AttachmentContent: Id → the href of its xop:Include.
    let mut hrefs = std::collections::HashMap::new();
    for list in doc
        .descendants(doc.root())
        .into_iter()
        .filter(|n| doc.is_element(*n) && doc.element(*n).local == "AttachmentContentList")
    {
        for c in children(doc, list, "AttachmentContent") {
            let Some(id) = text_of(doc, c, "Id") else {
                continue;
            };
            let href = children(doc, c, "Content").first().and_then(|content| {
                doc.descendants(*content)
                    .into_iter()
                    .find(|n| doc.is_element(*n) && doc.element(*n).local == "Include")
                    .and_then(|inc| doc.element(inc).attr("href").map(str::to_owned))
            });
            hrefs.insert(id, href);
        }
    }
    for list in children(doc, sprd, "AttachmentHeaderList") {
        for h in children(doc, list, "AttachmentHeader") {
            let id = text_of(doc, h, "contentId").unwrap_or_default();
            let part = hrefs
                .get(&id)
                .cloned()
                .flatten()
                .and_then(|href| received.and_then(|r| r.part(&href)));
            let sig = text_of(doc, h, "SignaturePKCS7");
            let (signature, content_matches, size, sha256, gost) = match part {
                Some(p) => {
                    let (s, m) = check_signature(sig.as_deref(), &p.path);
                    (
                        s,
                        m,
                        Some(p.digests.size),
                        Some(p.digests.sha256_hex()),
                        p.digests.gost_base64(),
                    )
                }
                None => (
                    SignatureCheck::bad(None, "no MTOM part for this attachment"),
                    false,
                    None,
                    None,
                    None,
                ),
            };
            out.push(IncomingAttachment {
                message_id: message_id.to_owned(),
                transfer: "mtom",
                id,
                mime_type: text_of(doc, h, "MimeType").unwrap_or_default(),
                size,
                sha256,
                gost_hash: gost,
                header_hash: None,
                hash_matches: None,
                signature,
                content_matches,
                file_name: None,
            });
        }
    }
    for list in children(doc, sprd, "RefAttachmentHeaderList") {
        for h in children(doc, list, "RefAttachmentHeader") {
            let uuid = text_of(doc, h, "uuid").unwrap_or_default();
            let header_hash = text_of(doc, h, "Hash");
            let sig = text_of(doc, h, "SignaturePKCS7");
            let file = store.and_then(|s| s.uploaded(&uuid).ok().flatten());
            let mut a = IncomingAttachment {
                message_id: message_id.to_owned(),
                transfer: "ftp",
                id: uuid,
                mime_type: text_of(doc, h, "MimeType").unwrap_or_default(),
                size: None,
                sha256: None,
                gost_hash: None,
                header_hash: header_hash.clone(),
                hash_matches: None,
                signature: SignatureCheck::bad(None, "no file under this uuid in the file store"),
                content_matches: false,
                file_name: None,
            };
            if let Some((name, path)) = file
                && let Ok(d) = digest::digest_file(&path)
            {
                let (s, m) = check_signature(sig.as_deref(), &path);
                a.size = Some(d.size);
                a.sha256 = Some(d.sha256_hex());
                a.gost_hash = d.gost_base64();
                a.hash_matches = header_hash.map(|h| d.check(&h, false).is_ok());
                a.signature = s;
                a.content_matches = m;
                a.file_name = Some(name);
            }
            out.push(a);
        }
    }
    out
}
