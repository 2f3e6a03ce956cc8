//! Sending a request's attachments: each file put in the request's
//! folder, hashed as SMEV computes it, signed with the official's key
//! (ЭП-СП, detached PKCS#7) when one is configured, and assigned its way:
//! inline as MTOM while the inline ones together stay within the limit,
//! else through SMEV's file store, uploaded before the request is sent
//! and named in `RefAttachmentHeaderList`.
//!
//! Every attachment of a request is sent; the order is the request's.

use std::path::{Path, PathBuf};
use std::time::Duration;

use base64::Engine as _;
use time::OffsetDateTime;

use super::AttachmentError;
use super::ftp::{FtpClient, FtpError, Login};
use crate::request::attachments::{Attachment, Source};
use crate::xmldsig::SigningKey;

/// How one attachment travels.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Transfer {
    /// Inline: `AttachmentHeader` + `AttachmentContent` (MTOM part).
    Mtom { content_id: String },
    /// SMEV's file store: `RefAttachmentHeader`, the file at
    /// `<uuid>/<name>`.
    FileStore { uuid: String },
}

/// One attachment ready to go.
#[derive(Debug, Clone)]
pub struct Outgoing {
    pub name: String,
    pub mime_type: String,
    /// The file in the request's folder.
    pub path: PathBuf,
    pub size: u64,
    /// GOST R 34.11-2012 (256) of the content, base64 (SMEV's `Hash`).
    pub hash: String,
    /// Detached PKCS#7 by the official's key, base64; `None` without one.
    pub signature: Option<String>,
    pub transfer: Transfer,
}

/// The id of the `index`-th attachment (`contentId` of its header, `Id`
/// of its `AttachmentContent`, an `xs:ID`): the same on every signing of
/// the request, so that a stored envelope can be sent again with its
/// parts.
pub fn content_id(index: usize) -> String {
    format!("attachment{index}")
}

/// The MIME `Content-ID` of the part carrying the attachment `id`.
pub fn mime_content_id(id: &str) -> String {
    format!("{id}@mezhved")
}

/// Puts the request's attachments in `dir` (inline ones written, inbox
/// ones copied, so that what was sent stays with the case), hashes and
/// signs each, and assigns each its transfer: inline while the inline
/// ones together stay within `mtom_limit` bytes. `inbox` holds the
/// resolved paths of the inbox files not yet in `dir`, in order (from
/// [`crate::request::attachments::check_inbox`]). A file store transfer
/// keeps the uuid of an earlier preparation (`uuids`, by name) so that a
/// re-send names the file already uploaded.
pub fn prepare(
    attachments: &[Attachment],
    inbox: &[PathBuf],
    dir: &Path,
    mtom_limit: u64,
    personal: Option<&SigningKey>,
    uuids: &dyn Fn(&str) -> Option<String>,
) -> Result<Vec<Outgoing>, AttachmentError> {
    std::fs::create_dir_all(dir).map_err(|e| AttachmentError::io(dir, e))?;
    let mut inbox = inbox.iter();
    let mut inline_total = 0u64;
    let mut out = Vec::with_capacity(attachments.len());
    for (i, a) in attachments.iter().enumerate() {
        let name = super::safe_file_name(&a.name)?;
        let path = dir.join(name);
        match &a.source {
            Source::Inline(bytes) => write_synced(&path, bytes)?,
            // `inbox` lists the inbox files not yet copied here.
            Source::Inbox(_) if path.exists() => {}
            Source::Inbox(rel) => {
                let src = inbox.next().ok_or_else(|| {
                    AttachmentError::Malformed(format!("the inbox file {rel:?} was not checked"))
                })?;
                copy_synced(src, &path)?;
            }
        }
        let digests = super::digest::digest_file(&path)?;
        let hash = digests.gost_base64().ok_or_else(|| {
            AttachmentError::Crypto(format!(
                "GOST R 34.11-2012 is unavailable to compute SMEV's Hash; {}",
                crate::xmldsig::gost::INSTALL_HINT
            ))
        })?;
        let signature = match personal {
            Some(key) => Some(
                base64::engine::general_purpose::STANDARD
                    .encode(super::cms::sign_file(key, &path)?),
            ),
            None => None,
        };
        let size = digests.size;
        let transfer = if inline_total + size <= mtom_limit {
            inline_total += size;
            Transfer::Mtom {
                content_id: content_id(i),
            }
        } else {
            Transfer::FileStore {
                uuid: uuids(name).unwrap_or_else(|| uuid::Uuid::new_v4().to_string()),
            }
        };
        out.push(Outgoing {
            name: name.to_owned(),
            mime_type: a.mime_type.clone(),
            path,
            size,
            hash,
            signature,
            transfer,
        });
    }
    Ok(out)
}

/// The MTOM parts of a request whose attachments were prepared in `dir`:
/// the same assignment [`prepare`] made (inline while within
/// `mtom_limit`), from the files' sizes.
pub fn mtom_parts(
    attachments: &[Attachment],
    dir: &Path,
    mtom_limit: u64,
) -> Result<Vec<super::mtom::OutgoingPart>, AttachmentError> {
    let mut inline_total = 0u64;
    let mut out = Vec::new();
    for (i, a) in attachments.iter().enumerate() {
        let path = dir.join(super::safe_file_name(&a.name)?);
        let size = std::fs::metadata(&path)
            .map_err(|e| AttachmentError::io(&path, e))?
            .len();
        if inline_total + size <= mtom_limit {
            inline_total += size;
            out.push(super::mtom::OutgoingPart {
                content_id: mime_content_id(&content_id(i)),
                content_type: a.mime_type.clone(),
                path,
            });
        }
    }
    Ok(out)
}

fn write_synced(path: &Path, bytes: &[u8]) -> Result<(), AttachmentError> {
    use std::io::Write as _;
    let mut f = std::fs::File::create(path).map_err(|e| AttachmentError::io(path, e))?;
    f.write_all(bytes)
        .map_err(|e| AttachmentError::io(path, e))?;
    f.sync_all().map_err(|e| AttachmentError::io(path, e))
}

fn copy_synced(src: &Path, dest: &Path) -> Result<(), AttachmentError> {
    let tmp = dest.with_extension("part");
    std::fs::copy(src, &tmp).map_err(|e| AttachmentError::io(src, e))?;
    std::fs::File::open(&tmp)
        .and_then(|f| f.sync_all())
        .map_err(|e| AttachmentError::io(&tmp, e))?;
    std::fs::rename(&tmp, dest).map_err(|e| AttachmentError::io(dest, e))
}

/// Why the file store did not take an attachment.
#[derive(Debug, thiserror::Error)]
#[error("attachment {name:?}: the file store did not take it after {attempts} attempts: {last}")]
pub struct UploadFailed {
    pub name: String,
    pub attempts: u32,
    /// The last error; [`FtpError::is_transient`] says whether the
    /// deadline (not the error) ended the attempts.
    pub last: FtpError,
    /// The attempts stopped because the next would come after the deadline.
    pub past_deadline: bool,
}

/// Uploads every file store attachment of `files`, each retried with
/// `backoff(attempt)` while its errors may pass and the next attempt comes
/// before `deadline`. `now` gives the time (the gateway's clock).
pub async fn upload_all(
    client: &FtpClient,
    login: &Login,
    files: &[Outgoing],
    deadline: OffsetDateTime,
    backoff: &(dyn Fn(u32) -> Duration + Sync),
    now: &(dyn Fn() -> OffsetDateTime + Sync),
) -> Result<(), UploadFailed> {
    for f in files {
        let Transfer::FileStore { uuid } = &f.transfer else {
            continue;
        };
        let mut attempt = 0u32;
        loop {
            attempt += 1;
            match client.upload(login, &f.path, uuid, &f.name).await {
                Ok(_) => break,
                Err(e) => {
                    let delay = backoff(attempt);
                    let next = now() + delay;
                    if !e.is_transient() || next > deadline {
                        return Err(UploadFailed {
                            name: f.name.clone(),
                            attempts: attempt,
                            past_deadline: e.is_transient(),
                            last: e,
                        });
                    }
                    tracing::warn!(attachment = %f.name, error = %e, attempt, retry_in_ms = delay.as_millis() as u64, "the file store did not take an attachment; retrying");
                    tokio::time::sleep(delay).await;
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::emulator::filestore::{FileStore, FileStoreSettings};
    use crate::request::attachments::Source;

    fn att(name: &str, bytes: &[u8]) -> Attachment {
        Attachment {
            name: name.into(),
            mime_type: "application/pdf".into(),
            source: Source::Inline(bytes.to_vec()),
        }
    }

    #[test]
    fn inline_until_the_limit_then_the_file_store() {
        if !crate::xmldsig::gost::available() {
            eprintln!("skipped: no GOST engine");
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let list = [
            att("a.pdf", &[1; 40]),
            att("b.pdf", &[2; 100]),
            att("c.pdf", &[3; 50]),
        ];
        let out = prepare(&list, &[], dir.path(), 100, None, &|_| None).unwrap();
        assert_eq!(out.len(), 3);
        assert!(matches!(out[0].transfer, Transfer::Mtom { .. }));
        assert!(matches!(out[1].transfer, Transfer::FileStore { .. }));
        assert!(matches!(out[2].transfer, Transfer::Mtom { .. }));
        assert_eq!(std::fs::read(&out[1].path).unwrap(), vec![2; 100]);
        assert!(out.iter().all(|o| o.signature.is_none()));
        let again = prepare(&list, &[], dir.path(), 100, None, &|n| {
            (n == "b.pdf").then(|| "kept-uuid".to_owned())
        })
        .unwrap();
        assert_eq!(
            again[1].transfer,
            Transfer::FileStore {
                uuid: "kept-uuid".into()
            }
        );
        assert_eq!(again[0].hash, out[0].hash);
    }

    #[tokio::test]
    async fn a_store_that_stays_down_fails_past_the_deadline() {
        let dir = tempfile::tempdir().unwrap();
        let store = FileStore::start(&FileStoreSettings {
            listen: "127.0.0.1:0".into(),
            passive_ports: None,
            upload_user: "u".into(),
            upload_password: "p".into(),
            root: dir.path().join("store"),
        })
        .await
        .unwrap();
        let file = dir.path().join("big.pdf");
        std::fs::write(&file, b"%PDF big").unwrap();
        let files = vec![Outgoing {
            name: "big.pdf".into(),
            mime_type: "application/pdf".into(),
            path: file,
            size: 8,
            hash: String::new(),
            signature: None,
            transfer: Transfer::FileStore {
                uuid: "11111111-2222-4333-8444-555555555555".into(),
            },
        }];
        let client = FtpClient::new(crate::attachment::ftp::FtpSettings::new(
            store.addr().to_string(),
        ));
        let login = Login::new("u", "p");
        store.set_down(true);
        tokio::time::sleep(Duration::from_millis(50)).await;
        let deadline = OffsetDateTime::now_utc() + time::Duration::milliseconds(300);
        let e = upload_all(
            &client,
            &login,
            &files,
            deadline,
            &|_| Duration::from_millis(100),
            &OffsetDateTime::now_utc,
        )
        .await
        .unwrap_err();
        assert!(e.past_deadline, "{e}");
        assert!(e.attempts >= 2, "{e}");
        assert_eq!(e.last.code(), "ftp_connect");

        // Down for a while, then back: the retries get it there.
        let store2 = store.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(250)).await;
            store2.set_down(false);
        });
        let deadline = OffsetDateTime::now_utc() + time::Duration::seconds(10);
        upload_all(
            &client,
            &login,
            &files,
            deadline,
            &|_| Duration::from_millis(100),
            &OffsetDateTime::now_utc,
        )
        .await
        .unwrap();
        assert!(
            store
                .uploaded("11111111-2222-4333-8444-555555555555")
                .unwrap()
                .is_some()
        );
    }
}
