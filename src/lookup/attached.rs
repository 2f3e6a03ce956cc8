//! Answers whose substance came as attachments: a ФНС extract answered with
//! `КодОбр` 54 carries the extract as a ZIP attachment. The archive is
//! unpacked under limits into the request's folder, the extract XML inside
//! is read by the same reader as an inline extract (same verdict, same
//! facts), and the other files (PDF copies) are kept as documents of the
//! case. Attachments that failed their hash or signature end the request
//! as a failure, never with a verdict.

use std::path::Path;

use super::{Outcome, Registry};
use crate::attachment::receive::{ATTACHMENTS_DIR, Receipt};
use crate::attachment::zip::{ZipLimits, unpack};
use crate::attachment::{AttachmentRecord, SignatureCheck};
use crate::i18n::FailureCode;
use crate::request::{Kind, LookupRequest};
use crate::xml::{self, Document, NodeId};

/// The `КодОбр` of an extract answer, when it has one.
fn processing_code(doc: &Document, root: NodeId) -> Option<String> {
    doc.child_local(root, "КодОбр")
        .map(|c| doc.text(c).trim().to_string())
}

fn mime_of(name: &str) -> &'static str {
    let lower = name.to_ascii_lowercase();
    if lower.ends_with(".xml") {
        "application/xml"
    } else if lower.ends_with(".pdf") {
        "application/pdf"
    } else if lower.ends_with(".sig") || lower.ends_with(".p7s") {
        "application/pkcs7-signature"
    } else {
        "application/octet-stream"
    }
}

/// Reads an answer together with the attachments that came with it.
/// `receipt` is what [`crate::attachment::receive::receive`] placed in
/// `request_dir`.
#[allow(clippy::too_many_arguments)]
pub fn read_answer_with_attachments(
    registry: &Registry,
    kind: Kind,
    doc: &Document,
    root: NodeId,
    req: &LookupRequest,
    doc_id: &str,
    receipt: &Receipt,
    request_dir: &Path,
    zip_limits: ZipLimits,
) -> Outcome {
    let mut records = receipt.records.clone();
    if let Some(reason) = receipt.failure_reason() {
        let mut o = Outcome::failure(FailureCode::AttachmentInvalid, reason);
        o.attachments = records;
        return o;
    }
    let inline = registry.read_answer(kind, doc, root, req, doc_id);
    let fns_extract = matches!(kind, Kind::Egrul | Kind::Egrip);
    if !fns_extract || processing_code(doc, root).as_deref() != Some("54") {
        let mut o = inline;
        o.attachments = records;
        return o;
    }
    let Some(zip) = receipt.find("application/zip", ".zip").cloned() else {
        let mut o = inline;
        o.attachments = records;
        return o;
    };
    let mut outcome = match read_zipped_extract(
        registry,
        kind,
        req,
        doc_id,
        &zip,
        request_dir,
        zip_limits,
        &mut records,
    ) {
        Ok(o) => o,
        Err(why) => Outcome::failure(
            FailureCode::AttachmentRefused,
            format!(
                "КодОбр 54: the extract's archive {} is refused: {why}",
                zip.name
            ),
        ),
    };
    outcome.attachments = records;
    outcome
}

#[allow(clippy::too_many_arguments)]
fn read_zipped_extract(
    registry: &Registry,
    kind: Kind,
    req: &LookupRequest,
    doc_id: &str,
    zip: &AttachmentRecord,
    request_dir: &Path,
    zip_limits: ZipLimits,
    records: &mut Vec<AttachmentRecord>,
) -> Result<Outcome, String> {
    let zip_path = request_dir.join(&zip.path);
    let stem = zip
        .name
        .rsplit_once('.')
        .map_or(zip.name.as_str(), |(s, _)| s);
    let folder_name = format!("{stem}.unpacked");
    let folder = request_dir.join(ATTACHMENTS_DIR).join(&folder_name);
    let entries = unpack(&zip_path, &folder, zip_limits).map_err(|e| e.to_string())?;
    let mut xmls = Vec::new();
    for e in &entries {
        let mime = mime_of(&e.name);
        if mime == "application/xml" {
            xmls.push(e);
        }
        records.push(AttachmentRecord {
            name: e.name.clone(),
            mime_type: mime.to_string(),
            size: e.size,
            sha256: e.sha256.clone(),
            gost_hash: None,
            signature: SignatureCheck::absent(),
            path: format!("{ATTACHMENTS_DIR}/{folder_name}/{}", e.name),
            problem: None,
        });
    }
    let extract = match xmls.as_slice() {
        [] => return Err("the archive holds no extract XML".into()),
        [one] => *one,
        many => {
            return Err(format!(
                "the archive holds {} XML files, not one extract",
                many.len()
            ));
        }
    };
    let limits = xml::Limits::default();
    if extract.size > limits.max_bytes as u64 {
        return Err(format!(
            "the extract {} has {} bytes, more than the limit of {}",
            extract.name, extract.size, limits.max_bytes
        ));
    }
    let bytes = std::fs::read(&extract.path).map_err(|e| format!("{}: {e}", extract.name))?;
    let edoc = xml::parse_with(&bytes, &limits)
        .map_err(|e| format!("the extract {} is not readable XML: {e}", extract.name))?;
    let eroot = edoc.root();
    if processing_code(&edoc, eroot).is_some() {
        return Err(format!(
            "the extract {} is itself a processing-code answer",
            extract.name
        ));
    }
    Ok(registry.read_answer(kind, &edoc, eroot, req, doc_id))
}
