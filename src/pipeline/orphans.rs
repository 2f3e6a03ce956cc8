//! Answers that cannot be taken: those whose SMEV signature does not
//! verify, and verified ones for no request of this gateway (orphans).
//!
//! Verification comes first, and nothing in an unverified answer is
//! believed — its `OriginalMessageId` included — so such an answer is
//! never stored and never changes a request. What it is acknowledged
//! with decides whether SMEV keeps it (SMEV's schema: `accepted="false"`
//! means "ЭП-СМЭВ отвергнута, и сообщение проигнорировано", and any Ack
//! takes the message out of the queue):
//!
//! | the answer | Ack | why |
//! |---|---|---|
//! | signed by a trusted certificate, content changed since (digest, reference) | none | SMEV did send it and it was altered on the way (a changed `OriginalMessageId` too): SMEV delivers it again and an intact copy completes the real request |
//! | unsigned or not SMEV's signature, naming one of our requests | none | a forgery changes nothing, and if it is SMEV's own answer that we cannot check (a trust store gone stale) it waits in SMEV for the fix |
//! | unsigned or not SMEV's signature, naming nothing of ours | `accepted="false"` | not SMEV's, not ours: refused, so it is not delivered again |
//! | cannot be checked here (no GOST engine) | none | a local fault |
//! | verified, for no known request | `accepted="true"` once stored in `.orphans/` within `limits.orphan_max_count`/`_bytes`; none past them (it stays in SMEV) | |

use time::OffsetDateTime;
use tracing::{error, warn};

use super::Gateway;
use crate::casefile::OrphanKept;
use crate::xmldsig::VerifyError;

/// Why an answer was not taken.
#[derive(Debug)]
pub(super) struct Rejected {
    /// `unsigned`, `untrusted`, `altered` or `unverifiable` (the metric's
    /// label).
    pub reason: &'static str,
    pub detail: String,
}

impl Rejected {
    pub fn unsigned() -> Self {
        Rejected {
            reason: "unsigned",
            detail: "the answer carries no SMEVSignature".into(),
        }
    }

    pub fn of(e: &VerifyError) -> Self {
        let reason = match e {
            VerifyError::DigestMismatch(_)
            | VerifyError::ReferenceNotFound(_)
            | VerifyError::AmbiguousReference { .. }
            | VerifyError::WrongTarget { .. } => "altered",
            e if !e.is_rejection() => "unverifiable",
            _ => "untrusted",
        };
        Rejected {
            reason,
            detail: e.to_string(),
        }
    }
}

/// The gateway's view of `.orphans/`.
#[derive(Default)]
pub(super) struct Orphans {
    /// One quota check and write at a time in this instance.
    writing: tokio::sync::Mutex<()>,
    /// Files and bytes kept, as last counted.
    usage: std::sync::Mutex<(u64, u64)>,
    /// Since when answers are left in SMEV for want of room.
    full_since: std::sync::Mutex<Option<OffsetDateTime>>,
}

impl Gateway {
    /// Files and bytes kept under `.orphans/`, as last counted.
    pub fn orphan_usage(&self) -> (u64, u64) {
        *self.orphans.usage.lock().expect("orphans lock")
    }

    /// Counts `.orphans/` again and says whether an operator should look
    /// (the advisory readiness check `orphans`).
    pub async fn orphans_check(&self) -> Result<String, String> {
        let store = self.store.clone();
        let counted = tokio::task::spawn_blocking(move || store.orphan_usage()).await;
        let (count, bytes) = match counted {
            Ok(Ok(u)) => u,
            Ok(Err(e)) => return Err(format!("cannot count the kept answers: {e}")),
            Err(e) => return Err(format!("the count crashed: {e}")),
        };
        *self.orphans.usage.lock().expect("orphans lock") = (count, bytes);
        let l = &self.settings.limits;
        let dir = self.store.root().join(".orphans");
        if count == 0 {
            return Ok("no answer for an unknown request is kept".into());
        }
        let full = self
            .orphans
            .full_since
            .lock()
            .expect("orphans lock")
            .map(|t| {
                format!(
                    "; full since {}: further ones are left in SMEV",
                    crate::clock::rfc3339(t)
                )
            })
            .unwrap_or_default();
        Err(format!(
            "{count} verified answer(s) for no known request kept in {} ({count} of {} files, {:.1} of {:.1} MiB){full}: look at them and remove them",
            dir.display(),
            l.orphan_max_count,
            bytes as f64 / 1048576.0,
            l.orphan_max_bytes as f64 / 1048576.0,
        ))
    }

    /// An answer whose signature did not verify: counted, never stored,
    /// acknowledged as the module's table says.
    pub(super) async fn unverified_answer(&self, smev_id: &str, original: &str, why: Rejected) {
        self.metrics.answers_rejected.inc(&[why.reason]);
        let store = self.store.clone();
        let o = original.to_owned();
        let names_ours = match tokio::task::spawn_blocking(move || store.find_by_message(&o)).await
        {
            Ok(Ok(found)) => found.map(|r| r.request_id),
            // Unknown whether it is ours: leave it in SMEV.
            _ => {
                return warn!(reason = why.reason, detail = %why.detail, "an answer whose SMEV signature did not verify; not acknowledged");
            }
        };
        match (why.reason, names_ours) {
            ("altered", _) | ("unverifiable", _) => warn!(
                reason = why.reason,
                detail = %why.detail,
                smev_message_id = smev_id,
                "an answer that changed after SMEV signed it (or cannot be checked here); not stored, not acknowledged: SMEV delivers it again"
            ),
            (_, Some(request_id)) => warn!(
                reason = why.reason,
                detail = %why.detail,
                request = %request_id,
                smev_message_id = smev_id,
                "an answer naming a request of ours failed its SMEV signature; not stored, not acknowledged: the request keeps waiting for a verified answer"
            ),
            (_, None) => {
                warn!(
                    reason = why.reason,
                    detail = %why.detail,
                    smev_message_id = smev_id,
                    "an answer for no known request failed its SMEV signature; refused (accepted=false), not stored"
                );
                self.send_ack(smev_id, false).await;
            }
        }
    }

    /// A verified answer for no request of this gateway: kept for the
    /// operator within the quota and acknowledged once on disk; past the
    /// quota left in SMEV.
    pub(super) async fn orphan(&self, smev_id: &str, original: &str, bytes: &[u8]) {
        let _one = self.orphans.writing.lock().await;
        let store = self.store.clone();
        let (id, data) = (smev_id.to_owned(), bytes.to_vec());
        let (max_count, max_bytes) = (
            self.settings.limits.orphan_max_count,
            self.settings.limits.orphan_max_bytes,
        );
        let (kept, _) = self
            .durably(move || store.store_orphan(&id, &data, max_count, max_bytes))
            .await;
        match kept {
            Ok(OrphanKept::Stored(path)) => {
                self.metrics.orphans.inc(&["stored"]);
                *self.orphans.full_since.lock().expect("orphans lock") = None;
                {
                    let mut u = self.orphans.usage.lock().expect("orphans lock");
                    u.0 += 1;
                    u.1 += bytes.len() as u64;
                }
                warn!(original_message_id = %original, kept = %path.display(), "a verified answer for no known request; kept for the operator");
                self.send_ack(smev_id, true).await;
            }
            Ok(OrphanKept::OverQuota { count, bytes }) => {
                self.metrics.orphans.inc(&["over_quota"]);
                self.orphans
                    .full_since
                    .lock()
                    .expect("orphans lock")
                    .get_or_insert_with(crate::clock::now);
                *self.orphans.usage.lock().expect("orphans lock") = (count, bytes);
                warn!(original_message_id = %original, count, bytes, "a verified answer for no known request, but .orphans is at its quota (limits.orphan_max_*); left in SMEV, not acknowledged");
            }
            Err(e) => {
                error!(error = %e, "cannot keep an answer for no known request; not acknowledged, SMEV will deliver it again")
            }
        }
    }
}
