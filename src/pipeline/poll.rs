//! Polling SMEV's response queue: one `GetResponse` at a time while
//! answers are awaited (slowly when none are, to collect answers for
//! requests another instance sent), each answer verified, matched to its
//! request, read, stored and acknowledged. Answers that do not verify or
//! match nothing: [`super::orphans`].

use std::sync::Arc;
use std::time::Duration;

use tracing::{Instrument, error, info, info_span, warn};

use super::orphans::Rejected;
use super::{CallError, Gateway};
use crate::attachment::Limits;
use crate::attachment::mtom::Received;
use crate::attachment::receive::{Headers, Receipt, receive};
use crate::attachment::zip::ZipLimits;
use crate::casefile::{ANSWERED, State, StateRecord, StoreError};
use crate::clock;
use crate::i18n::FailureCode;
use crate::lookup::{Outcome, RejectedBy};
use crate::request::Request;
use crate::smev::{self, Operation, ResponseContent};
use crate::xml;
use crate::xmldsig::{self, VerifyPolicy};

/// An answer's MTOM parts waiting in the staging folder; removed with it
/// when nothing took them.
pub(super) struct Staged(pub(super) Option<Received>);

impl Drop for Staged {
    fn drop(&mut self) {
        if let Some(p) = self.0.take() {
            let _ = std::fs::remove_dir_all(&p.dir);
        }
    }
}

/// What an answer without business content says, whatever the kind: the
/// provider's or SMEV's refusal, or a status on the way.
pub(super) fn without_content(content: &ResponseContent) -> Read {
    Read::Final(Box::new(match content {
        ResponseContent::Primary(_) => Outcome::failure(
            FailureCode::AnswerUnreadable,
            "the answer carries business content",
        ),
        ResponseContent::Rejected(reasons) => super::vs::agency_rejection(reasons),
        ResponseContent::AsyncStatus {
            category,
            details,
            fault_type,
            fault_code,
            fault_description,
            validation_errors,
        } if category.contains("Rejected") || fault_type.is_some() => Outcome::rejected(
            RejectedBy::Smev,
            fault_code.clone().unwrap_or_else(|| category.clone()),
            crate::smev::rejection_text(
                fault_description.as_deref().or(details.as_deref()),
                validation_errors,
            ),
        ),
        ResponseContent::AsyncStatus {
            category, details, ..
        } => {
            return Read::Interim(format!(
                "SMEV status {category}: {}",
                details.clone().unwrap_or_default()
            ));
        }
        ResponseContent::Status { code, description } => {
            return Read::Interim(format!("provider status {code}: {description}"));
        }
    }))
}

/// What an answer says.
pub(super) enum Read {
    Final(Box<Outcome>),
    Interim(String),
}

impl Gateway {
    /// Polls the response queue with `smev.poll_concurrency` workers while
    /// answers are awaited (one `GetResponse` takes one message, so one
    /// worker would cap the answers per second at one round trip each);
    /// when nothing is awaited, one worker polls slowly, to collect answers
    /// for requests another node sent.
    pub(super) async fn poll_loop(self: Arc<Self>) {
        let workers: Vec<_> = (0..self.settings.smev.poll_concurrency)
            .map(|i| tokio::spawn(self.clone().poll_worker(i)))
            .collect();
        for w in workers {
            let _ = w.await;
        }
    }

    async fn poll_worker(self: Arc<Self>, worker: usize) {
        let (min, max) = (
            Duration::from_millis(self.settings.smev.poll_min_ms),
            Duration::from_millis(self.settings.smev.poll_max_ms),
        );
        let mut interval = min;
        loop {
            if self.stopping() {
                return;
            }
            // No answer is taken while it could not be stored.
            if self.store_gate.failing().is_some() {
                tokio::select! {
                    _ = self.store_gate.writable() => {}
                    _ = self.stopped() => return,
                }
                continue;
            }
            // SMEV refuses requests signed with an expired certificate.
            if !self.key_usable() {
                if self.pause(max).await {
                    return;
                }
                continue;
            }
            let idle = self.waiting.lock().expect("waiting lock").is_empty();
            if idle && worker > 0 {
                tokio::select! {
                    _ = self.wake_poller.notified() => {}
                    _ = self.stopped() => return,
                }
                interval = min;
                continue;
            }
            let got = self.poll_once().await;
            interval = match got {
                Ok(true) => {
                    // More may be queued: bring another worker in.
                    self.wake_poller.notify_one();
                    continue;
                }
                Ok(false) if idle => max,
                Ok(false) => (interval * 2).min(max),
                Err(e) => {
                    warn!(error = %e, "polling SMEV failed");
                    (interval * 2).min(max)
                }
            };
            tokio::select! {
                _ = tokio::time::sleep(interval) => {}
                _ = self.wake_poller.notified() => interval = min,
                _ = self.stopped() => return,
            }
        }
    }

    /// One `GetResponse`; true when a message came.
    async fn poll_once(&self) -> Result<bool, String> {
        let (doc, selector, container) =
            smev::get_response_request(self.version, clock::now(), None);
        let request = self.signed_call(doc, selector, container, Operation::GetResponse)?;
        let (body, parts) = match self.call_get_response(request).await {
            Ok(b) => b,
            Err(CallError::Retryable(m) | CallError::Permanent(m)) => return Err(m),
            Err(CallError::Stopped) => return Ok(false),
        };
        // The parts' staging folder goes when this answer is done with,
        // whatever became of it.
        let mut staged = Staged(parts);
        let parsed = xml::parse(&body).map_err(|e| format!("GetResponse answer: {e}"))?;
        match smev::parse_get_response_response(&parsed) {
            Ok(None) => Ok(false),
            Ok(Some(resp)) => {
                self.handle_response(&parsed, &body, resp, &mut staged)
                    .await;
                Ok(true)
            }
            Err(e) => {
                if let smev::SmevError::Fault(f) = &e {
                    self.count_fault(Operation::GetResponse, f);
                }
                Err(e.to_string())
            }
        }
    }

    pub(super) async fn send_ack(&self, message_id: &str, accepted: bool) {
        let (doc, target, container) = smev::ack_request(self.version, message_id, accepted);
        let request = match self.signed_call(doc, target, container, Operation::Ack) {
            Ok(r) => r,
            Err(e) => return error!(error = %e, "cannot sign the Ack"),
        };
        match self.call(Operation::Ack, request).await {
            Ok(body) => {
                let r = xml::parse(&body).map_err(|e| e.to_string()).and_then(|d| {
                    smev::parse_ack_response(&d).map_err(|e| {
                        if let smev::SmevError::Fault(f) = &e {
                            self.count_fault(Operation::Ack, f);
                        }
                        e.to_string()
                    })
                });
                if let Err(e) = r {
                    warn!(error = %e, smev_message_id = message_id, "Ack refused; SMEV will deliver the answer again");
                }
            }
            Err(CallError::Retryable(m) | CallError::Permanent(m)) => {
                warn!(error = %m, "Ack failed; SMEV will deliver the answer again")
            }
            Err(CallError::Stopped) => {
                info!("stopping before the Ack; SMEV will deliver the answer again")
            }
        }
    }

    /// A message from the response queue: verify it, match it, read it,
    /// store it, acknowledge it.
    async fn handle_response(
        &self,
        doc: &xml::Document,
        bytes: &[u8],
        resp: smev::IncomingResponse,
        staged: &mut Staged,
    ) {
        let smev_id = resp.message_id.clone().unwrap_or_default();
        let original = resp.original_message_id.clone().unwrap_or_default();
        // Verified before anything in it is believed, OriginalMessageId
        // included.
        if let Err(why) = self.verify_answer(doc, &resp) {
            return self.unverified_answer(&smev_id, &original, why).await;
        }
        let store = self.store.clone();
        let o = original.clone();
        let found = self
            .quickly(move |how| async move { store.find_by_message_as(how, &o).await })
            .await;
        let rec = match found {
            Ok(Some(rec)) => rec,
            Ok(None) => return self.orphan(&smev_id, &original, bytes).await,
            Err(e) => {
                return error!(error = %e, "cannot look the answer up; not acknowledged, SMEV will deliver it again");
            }
        };
        let span = info_span!("request", request_id = %rec.request_id, case_id = %rec.case_id, kind = %rec.kind, message_id = %original);
        async {
            if rec.state.is_final() || rec.state == State::Answered {
                // Delivered again after a crash between storing and Ack.
                info!(state = rec.state.as_str(), "answer already stored; acknowledging again");
                self.send_ack(&smev_id, true).await;
                if rec.state == State::Answered {
                    self.process_answer(rec, bytes).await;
                }
                return;
            }
            let headers = Headers::from_response(doc, &resp);
            let receipt = if headers.is_empty() && staged.0.is_none() {
                None
            } else {
                Some(self.receive_attachments(&rec, headers, staged.0.take()).await)
            };
            let outcome = match self.read_answer(&rec, doc, &resp, receipt.as_ref()).await {
                Read::Final(o) => *o,
                Read::Interim(what) => return self.interim_answer(rec, bytes, &smev_id, what).await,
            };
            // The answer and its result are stored in one change before
            // the Ack, so SMEV delivers it again until it is on disk; a
            // store that cannot write holds them here until it can.
            let store = self.store.clone();
            let (r, data) = (rec.clone(), bytes.to_vec());
            let data = Arc::new(data);
            let (stored, retried) = self
                .durably_in_place(move |how| {
                    let (store, mut r, data) = (store.clone(), r.clone(), data.clone());
                    let outcome = outcome.clone();
                    async move {
                        store
                            .complete_with_answer_as(how, &mut r, &data, outcome)
                            .await
                            .map(|res| (r, res))
                    }
                })
                .await;
            let (rec, result) = match stored {
                Ok(x) => x,
                // The try that seemed to fail had stored it: reply.
                Err(StoreError::Superseded { .. }) if retried => {
                    self.send_ack(&smev_id, true).await;
                    return self.reply_stored(rec.request_id).await;
                }
                Err(e @ StoreError::Superseded { .. }) => {
                    info!("{e}; acknowledging the delivery");
                    return self.send_ack(&smev_id, true).await;
                }
                Err(e) => return error!(error = %e, "cannot store the answer; not acknowledged, SMEV will deliver it again"),
            };
            crate::failpoint::at("answered");
            self.send_ack(&smev_id, true).await;
            crate::failpoint::at("answer-acked");
            self.after_result(rec, result).await;
        }
        .instrument(span)
        .await
    }

    fn verify_answer(
        &self,
        doc: &xml::Document,
        resp: &smev::IncomingResponse,
    ) -> Result<(), Rejected> {
        let Some(sig) = resp.smev_signature else {
            self.count_signature("verify", false);
            return Err(Rejected::unsigned());
        };
        let policy = VerifyPolicy {
            trust: Some(&self.trust),
            at: clock::now(),
            allow_exc_c14n_only: false,
        };
        let verified = xmldsig::verify(doc, sig, resp.response, &policy);
        self.count_signature("verify", verified.is_ok());
        verified.map(|_| ()).map_err(|e| Rejected::of(&e))
    }

    /// Re-reads a stored answer (after a restart) and finishes the request.
    pub(super) async fn process_answer(&self, rec: StateRecord, bytes: &[u8]) {
        let parsed = xml::parse(bytes).map_err(|e| e.to_string());
        let resp = parsed
            .as_ref()
            .map_err(Clone::clone)
            .and_then(|d| smev::parse_get_response_response(d).map_err(|e| e.to_string()));
        match (parsed, resp) {
            (Ok(doc), Ok(Some(resp))) => match self.verify_answer(&doc, &resp) {
                Ok(()) => self.process_parsed(rec, &doc, &resp).await,
                Err(why) => {
                    self.finish(
                        rec,
                        ANSWERED,
                        Outcome::failure(
                            FailureCode::AnswerSignatureInvalid,
                            format!(
                                "the stored answer's SMEV signature does not verify any more: {}",
                                why.detail
                            ),
                        ),
                    )
                    .await
                }
            },
            (Err(e), _) | (_, Err(e)) => {
                self.finish(
                    rec,
                    ANSWERED,
                    Outcome::failure(
                        FailureCode::StoredDocumentUnreadable,
                        format!("the stored answer cannot be read: {e}"),
                    ),
                )
                .await
            }
            (_, Ok(None)) => {
                self.finish(
                    rec,
                    ANSWERED,
                    Outcome::failure(
                        FailureCode::StoredDocumentUnreadable,
                        "the stored answer is empty",
                    ),
                )
                .await
            }
        }
    }

    /// Turns a verified answer into a result.
    async fn process_parsed(
        &self,
        rec: StateRecord,
        doc: &xml::Document,
        resp: &smev::IncomingResponse,
    ) {
        let dir = self.store.request_dir(&rec);
        let receipt = Receipt::load(&dir);
        match self.read_answer(&rec, doc, resp, receipt.as_ref()).await {
            Read::Final(outcome) => self.finish(rec, ANSWERED, *outcome).await,
            Read::Interim(what) => self.interim(rec, what).await,
        }
    }

    /// What a verified answer says: a result, or a status on the way.
    async fn read_answer(
        &self,
        rec: &StateRecord,
        doc: &xml::Document,
        resp: &smev::IncomingResponse,
        receipt: Option<&Receipt>,
    ) -> Read {
        if rec.kind == crate::request::Kind::Vs {
            return match self.store.load_request(rec) {
                Ok(Request::Vs(req)) => self.read_vs_answer(&req, doc, resp),
                Ok(Request::Lookup(_)) => Read::Final(Box::new(Outcome::failure(
                    FailureCode::StoredDocumentUnreadable,
                    "the stored request is a lookup, not a vs request",
                ))),
                Err(e) => Read::Final(Box::new(Outcome::failure(
                    FailureCode::StoredDocumentUnreadable,
                    format!("the stored request cannot be read: {e}"),
                ))),
            };
        }
        Read::Final(Box::new(match &resp.content {
            ResponseContent::Primary(root) => {
                match self.store.load_request(rec) {
                    Ok(Request::Lookup(req)) => match receipt {
                        // Bounded by the attachment and archive limits.
                        Some(receipt) => crate::lookup::attached::read_answer_with_attachments(
                            &self.registry,
                            rec.kind,
                            doc,
                            *root,
                            &req,
                            &req.request_id.to_string(),
                            receipt,
                            &self.store.request_dir(rec),
                            ZipLimits::default(),
                        ),
                        None => self.registry.read_answer(
                            rec.kind,
                            doc,
                            *root,
                            &req,
                            &req.request_id.to_string(),
                        ),
                    },
                    Ok(Request::Vs(_)) => Outcome::failure(
                        FailureCode::StoredDocumentUnreadable,
                        "the stored request is a vs request, not a lookup",
                    ),
                    Err(e) => Outcome::failure(
                        FailureCode::StoredDocumentUnreadable,
                        format!("the stored request cannot be read: {e}"),
                    ),
                }
            }
            other => return without_content(other),
        }))
    }

    /// Places an answer's attachments in the request's folder, each checked
    /// against its header, and keeps the receipt there.
    async fn receive_attachments(
        &self,
        rec: &StateRecord,
        headers: Headers,
        parts: Option<Received>,
    ) -> Receipt {
        let dir = self.store.request_dir(rec);
        let trust = self.trust.clone();
        let file_store = (!self.settings.attachments.file_store.is_empty()).then(|| {
            crate::attachment::receive::FtpStore::new(
                self.settings.attachments.ftp(),
                tokio::runtime::Handle::current(),
            )
        });
        let receipt = tokio::task::spawn_blocking(move || {
            let r = receive(
                &headers,
                parts.as_ref(),
                file_store
                    .as_ref()
                    .map(|s| s as &dyn crate::attachment::receive::FileStore),
                &dir,
                &trust,
                clock::now(),
                &Limits::default(),
            );
            if let Some(p) = &parts {
                let _ = std::fs::remove_dir_all(&p.dir);
            }
            let receipt = r.unwrap_or_else(|e| Receipt {
                problems: vec![format!("the attachments cannot be stored: {e}")],
                ..Receipt::default()
            });
            if let Err(e) = receipt.save(&dir) {
                warn!(error = %e, "cannot keep the attachments' receipt");
            }
            receipt
        })
        .await
        .expect("receiving attachments does not panic");
        if !receipt.is_sound() {
            warn!(problems = ?receipt.problems, "the answer's attachments failed their checks");
        }
        receipt
    }

    /// A status instead of the answer: stored, acknowledged, and the
    /// request keeps waiting.
    async fn interim_answer(&self, rec: StateRecord, bytes: &[u8], smev_id: &str, what: String) {
        let store = self.store.clone();
        let (r, data) = (rec.clone(), bytes.to_vec());
        let (stored, _) = self
            .durably(move || {
                let mut r = r.clone();
                store.record_response(&mut r, &data).map(|_| r)
            })
            .await;
        let rec = match stored {
            Ok(rec) => rec,
            Err(e @ StoreError::Superseded { .. }) => {
                info!("{e}; acknowledging the delivery");
                return self.send_ack(smev_id, true).await;
            }
            Err(e) => {
                return error!(error = %e, "cannot store the status; not acknowledged, SMEV will deliver it again");
            }
        };
        self.send_ack(smev_id, true).await;
        self.interim(rec, what).await;
    }

    /// An intermediate status: noted, and the request keeps waiting.
    async fn interim(&self, rec: StateRecord, what: String) {
        info!(status = %what, "interim status; still waiting for the answer");
        let store = self.store.clone();
        let (recorded, _) = self
            .durably(move || store.record_interim(&mut rec.clone(), what.clone()))
            .await;
        if let Err(e) = recorded {
            warn!(error = %e, "cannot record the interim status");
        }
    }
}
