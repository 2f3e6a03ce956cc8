//! Sending a recorded request until SMEV accepts or refuses it: signed
//! once and stored before it leaves (a re-send uses the same `MessageID`),
//! retried with backoff and jitter while the failure may pass, bounded by
//! the attempt count and by the request's deadline, each retry written
//! before the pause so that it survives a restart.

use std::sync::Arc;

use time::OffsetDateTime;
use tracing::{Instrument, debug, info, info_span, warn};

use super::{CallError, Gateway};
use crate::casefile::{State, StateRecord, StoreError, UNSENT};
use crate::clock;
use crate::i18n::FailureCode;
use crate::lookup::{Outcome, RejectedBy};
use crate::request::Request;
use crate::smev::{self, FaultClass, Operation, SmevError};
use crate::xml;

/// The folder, under a request's, of the files it sent.
pub const ATTACHMENTS_DIR: &str = "attachments-sent";

/// Why no envelope came.
enum NoEnvelope {
    /// Someone else moved the request on: nothing to send.
    Superseded,
    Failed(String),
    /// An attachment could not be prepared or uploaded.
    Attachment(FailureCode, String),
}

/// What one `SendRequest` attempt came to.
enum Attempt {
    Accepted(Option<OffsetDateTime>),
    AlreadySent,
    /// Try again, and how.
    Again {
        failure: String,
        new_message_id: bool,
        new_eol: bool,
    },
    Rejected(Box<Outcome>),
    Failed(String),
    Stopped,
}

impl Gateway {
    pub(super) async fn send(self: Arc<Self>, rec: StateRecord, req: Request) {
        if let Some(route) = self.direct_route(rec.kind) {
            let Request::Lookup(req) = req else {
                let failed = Outcome::failed("a vs request has no register route");
                return Box::pin(self.finish(rec, UNSENT, failed)).await;
            };
            return Box::pin(self.fetch(rec, *req, route)).await;
        }
        if rec.state == State::Retrying
            && let Some(at) = rec.next_attempt_at
        {
            let wait = (at - clock::now()).try_into().unwrap_or_default();
            if self.pause(wait).await {
                return info!("stopping: the retry stays scheduled in the case store");
            }
        }
        if !self.key_usable() {
            warn!(
                "the signing certificate is not valid now: the request waits (not failed) until a valid one is installed"
            );
            while !self.key_usable() {
                if self.pause(std::time::Duration::from_secs(2)).await {
                    return info!("stopping: the request stays in the case store");
                }
                if let Err(e) = self.reload_key() {
                    warn!(error = %e, "cannot load the signing key");
                }
            }
        }
        let _slot = tokio::select! {
            s = self.send_slots.acquire() => s.expect("the semaphore is never closed"),
            _ = self.stopped() => return,
        };
        // The exchange's state (signing, the HTTP call, the store's
        // changes) is allocated once the request has a slot: thousands
        // waiting for one hold a few hundred bytes each, not all of it
        // (BENCHMARKS.md, "Memory with 10,000 pending").
        Box::pin(self.clone().send_in_slot(rec, req)).await
    }

    /// Signs and sends until SMEV accepts, refuses for good, or the
    /// attempts run out; each retry is recorded before the pause.
    async fn send_in_slot(self: Arc<Self>, mut rec: StateRecord, req: Request) {
        let deadline = self.calendar.answer_due(rec.accepted_at).overdue_after;
        let mut attempt = rec.send_attempts;
        let (mut new_message_id, mut new_eol) = (false, false);
        loop {
            attempt += 1;
            if new_message_id {
                rec.message_id = None;
            }
            let envelope = match self.envelope(&mut rec, &req, new_eol).await {
                Ok(e) => e,
                Err(NoEnvelope::Superseded) => return,
                Err(NoEnvelope::Failed(reason)) => {
                    let failed = Outcome::failure(FailureCode::SigningFailed, reason);
                    return self.finish(rec, UNSENT, failed).await;
                }
                Err(NoEnvelope::Attachment(code, reason)) => {
                    return self
                        .finish(rec, UNSENT, Outcome::failure(code, reason))
                        .await;
                }
            };
            let envelope = match self.with_parts(&rec, &req, envelope) {
                Ok(b) => b,
                Err(reason) => {
                    let failed = Outcome::failure(FailureCode::AttachmentFailed, reason);
                    return self.finish(rec, UNSENT, failed).await;
                }
            };
            crate::failpoint::at("signed");
            let message_id = rec.message_id.clone().unwrap_or_default();
            tracing::Span::current().record("message_id", message_id.as_str());
            let span = info_span!("send", message_id = %message_id, attempt);
            let failure = match self.attempt(envelope.0, envelope.1).instrument(span).await {
                Attempt::Accepted(ts) => {
                    crate::failpoint::at("sent-unrecorded");
                    return self.mark_sent(rec, ts, "accepted by SMEV").await;
                }
                Attempt::AlreadySent => {
                    return self
                        .mark_sent(rec, None, "MessageIsAlreadySent: SMEV already has it")
                        .await;
                }
                Attempt::Rejected(outcome) => return self.finish(rec, UNSENT, *outcome).await,
                Attempt::Failed(reason) => {
                    let failed = Outcome::failure(FailureCode::SendFailed, reason);
                    return self.finish(rec, UNSENT, failed).await;
                }
                Attempt::Stopped => {
                    return info!("stopping before the send; it resumes at the next start");
                }
                Attempt::Again {
                    failure,
                    new_message_id: m,
                    new_eol: e,
                } => {
                    (new_message_id, new_eol) = (m, e);
                    failure
                }
            };
            if attempt >= self.settings.retry.attempts {
                let reason =
                    format!("SMEV did not accept the request after {attempt} attempts: {failure}");
                let failed = Outcome::failure(FailureCode::SendAttemptsExhausted, reason);
                return self.finish(rec, UNSENT, failed).await;
            }
            let delay = self.settings.retry.backoff(attempt);
            let next = clock::now() + delay;
            if next > deadline {
                let reason = format!(
                    "SMEV did not accept the request before its answer deadline ({}): {failure}",
                    clock::rfc3339(deadline)
                );
                let failed = Outcome::failure(FailureCode::SendDeadlinePassed, reason);
                return self.finish(rec, UNSENT, failed).await;
            }
            match self.record_attempt(&rec, attempt, &failure, next).await {
                Ok(r) => rec = r,
                Err(e @ StoreError::Superseded { .. }) => {
                    // The answer overtook SMEV's acceptance: nothing left to send.
                    return info!("{e}");
                }
                Err(e) => warn!(error = %e, "cannot record the failed attempt"),
            }
            self.metrics.send_retries.inc(&[]);
            warn!(error = %failure, attempt, retry_in_ms = delay.as_millis() as u64, "send failed; retrying");
            if self.pause(delay).await {
                return info!("stopping: the retry stays scheduled in the case store");
            }
        }
    }

    /// Records a failed attempt and when the next is due; a store that
    /// cannot write holds it until it can.
    pub(super) async fn record_attempt(
        &self,
        rec: &StateRecord,
        attempt: u32,
        failure: &str,
        next: OffsetDateTime,
    ) -> Result<StateRecord, StoreError> {
        let store = self.store.clone();
        let (r, f) = (rec.clone(), failure.to_owned());
        self.durably(move || {
            let mut r = r.clone();
            store.record_attempt(&mut r, attempt, &f, next).map(|_| r)
        })
        .await
        .0
    }

    /// The body to post and its content type: the envelope alone, or an
    /// MTOM `multipart/related` body with the inline attachments' files
    /// (in the request's folder since the envelope was signed).
    fn with_parts(
        &self,
        rec: &StateRecord,
        req: &Request,
        envelope: Vec<u8>,
    ) -> Result<(Vec<u8>, Option<String>), String> {
        if req.attachments().is_empty() {
            return Ok((envelope, None));
        }
        let dir = self.store.request_dir(rec).join(ATTACHMENTS_DIR);
        let parts = crate::attachment::send::mtom_parts(
            req.attachments(),
            &dir,
            self.settings.attachments.mtom_limit_bytes,
        )
        .map_err(|e| e.to_string())?;
        if parts.is_empty() {
            return Ok((envelope, None));
        }
        let body =
            crate::attachment::mtom::MtomBody::new(envelope, parts).map_err(|e| e.to_string())?;
        let mut bytes = Vec::with_capacity(body.content_length() as usize);
        body.write_to(&mut bytes).map_err(|e| e.to_string())?;
        Ok((bytes, Some(body.content_type())))
    }

    /// Prepares the attachments of `req` in its folder and uploads those
    /// for the file store, retrying until `deadline`.
    async fn prepare_attachments(
        &self,
        rec: &StateRecord,
        req: &Request,
    ) -> Result<Vec<crate::attachment::send::Outgoing>, NoEnvelope> {
        use crate::attachment::send;
        if req.attachments().is_empty() {
            return Ok(Vec::new());
        }
        let dir = self.store.request_dir(rec).join(ATTACHMENTS_DIR);
        let list = req.attachments().to_vec();
        let inbox_dir = self.settings.gateway.inbox_dir.clone();
        let max = self.settings.attachments.max_file_bytes;
        let limit = self.settings.attachments.mtom_limit_bytes;
        let personal = self.personal_key.clone();
        let prepared = tokio::task::spawn_blocking(move || {
            // Files copied at an earlier preparation need no inbox copy.
            let pending: Vec<_> = list
                .iter()
                .filter(|a| !dir.join(&a.name).exists())
                .cloned()
                .collect();
            let inbox = crate::request::attachments::check_inbox(&pending, &inbox_dir, max)
                .map_err(|e| format!("{}: {}", e.field, e.message))?;
            send::prepare(&list, &inbox, &dir, limit, personal.as_ref(), &|_| None)
                .map_err(|e| e.to_string())
        })
        .await
        .map_err(|e| e.to_string())
        .and_then(|r| r)
        .map_err(|e| NoEnvelope::Attachment(FailureCode::AttachmentFailed, e))?;
        let deadline = self.calendar.answer_due(rec.accepted_at).overdue_after;
        let client = crate::attachment::ftp::FtpClient::new(self.settings.attachments.ftp());
        let retry = self.settings.retry.clone();
        send::upload_all(
            &client,
            &self.settings.attachments.ftp_login(),
            &prepared,
            deadline,
            &|n| retry.backoff(n),
            &clock::now,
        )
        .await
        .map_err(|e| {
            let reason = if e.past_deadline {
                format!(
                    "{e}; the next attempt would come after the answer deadline ({})",
                    clock::rfc3339(deadline)
                )
            } else {
                e.to_string()
            };
            NoEnvelope::Attachment(FailureCode::AttachmentTransferFailed, reason)
        })?;
        Ok(prepared)
    }

    /// One `SendRequest`, classified.
    async fn attempt(&self, envelope: Vec<u8>, content_type: Option<String>) -> Attempt {
        let body = match self
            .call_typed(Operation::SendRequest, envelope, content_type)
            .await
        {
            Ok(b) => b,
            Err(CallError::Stopped) => return Attempt::Stopped,
            Err(CallError::Retryable(m)) => return again(m),
            Err(CallError::Permanent(m)) => return Attempt::Failed(m),
        };
        let doc = match xml::parse(&body) {
            Ok(d) => d,
            Err(e) => return Attempt::Failed(format!("SMEV answered unreadable XML: {e}")),
        };
        match smev::parse_send_request_response(&doc) {
            Ok(a) => Attempt::Accepted(a.sending_timestamp),
            Err(SmevError::Fault(f)) => {
                self.count_fault(Operation::SendRequest, &f);
                fault(f)
            }
            Err(other) => Attempt::Failed(other.to_string()),
        }
    }

    /// The signed envelope of a request: the stored one if it was signed
    /// before (a re-send uses the same `MessageID`), else a new one, stored
    /// before it is sent. `new_eol` signs the same `MessageID` again with a
    /// fresh `EOL`.
    async fn envelope(
        &self,
        rec: &mut StateRecord,
        req: &Request,
        new_eol: bool,
    ) -> Result<Vec<u8>, NoEnvelope> {
        let failed = |e: StoreError| match e {
            StoreError::Superseded { .. } => NoEnvelope::Superseded,
            other => NoEnvelope::Failed(other.to_string()),
        };
        if rec.message_id.is_some()
            && !new_eol
            && let Some(e) = self.store.load_envelope(rec).map_err(failed)?
        {
            return Ok(e);
        }
        let message_id = match rec.message_id.as_deref().map(uuid::Uuid::parse_str) {
            Some(Ok(id)) => id,
            _ => smev::new_message_id(),
        };
        let attachments = self.prepare_attachments(rec, req).await?;
        let bytes = self
            .sign_envelope(req, &message_id, attachments)
            .map_err(NoEnvelope::Failed)?;
        let store = self.store.clone();
        let r = rec.clone();
        let (mid, b) = (message_id.to_string(), bytes.clone());
        // Stored before it is sent; a store that cannot write holds it.
        *rec = self
            .durably(move || {
                let mut r = r.clone();
                store.record_envelope(&mut r, &mid, &b).map(|_| r)
            })
            .await
            .0
            .map_err(failed)?;
        debug!(message_id = %message_id, new_eol, "signed");
        Ok(bytes)
    }

    /// The signed `SendRequest` envelope of `req` with `message_id` (and
    /// an `EOL` from now, when configured).
    pub(super) fn sign_envelope(
        &self,
        req: &Request,
        message_id: &uuid::Uuid,
        attachments: Vec<crate::attachment::send::Outgoing>,
    ) -> Result<Vec<u8>, String> {
        let eol = (self.settings.smev.eol_hours > 0)
            .then(|| clock::now() + time::Duration::hours(self.settings.smev.eol_hours as i64));
        let (business, opts) = match req {
            Request::Lookup(req) => {
                let lookup = self.registry.get(req.kind);
                let business = lookup.build_request(req, &req.request_id.to_string());
                let opts = smev::EnvelopeOptions {
                    test: req.test,
                    eol,
                    personal: req.personal_signature,
                    ..smev::EnvelopeOptions::default()
                };
                (business, opts)
            }
            Request::Vs(req) => super::vs::envelope_parts(req, eol)?,
        };
        let opts = smev::EnvelopeOptions {
            attachments,
            ..opts
        };
        let doc = smev::send_request_with(self.version, message_id, &business, &opts)
            .sign(&self.key(), self.personal_key.as_ref());
        self.count_signature("sign", doc.is_ok());
        let doc = doc.map_err(|e| format!("signing failed: {e}"))?;
        Ok(xml::to_bytes(&doc))
    }

    /// SMEV has the request: record it with its due date and await the answer.
    async fn mark_sent(&self, rec: StateRecord, ts: Option<OffsetDateTime>, how: &str) {
        let (store, cal) = (self.store.clone(), self.calendar.clone());
        let (result, _) = self
            .durably_in_place(move |how| {
                let (store, cal, mut rec) = (store.clone(), cal.clone(), rec.clone());
                async move {
                    store
                        .record_sent_as(how, &mut rec, ts, |sent| cal.answer_due(sent))
                        .await
                        .map(|_| rec)
                }
            })
            .await;
        match result {
            Ok(rec) => {
                info!(
                    message_id = rec.message_id.as_deref().unwrap_or(""),
                    due = rec.due_date.map(clock::iso_date).unwrap_or_default(),
                    "{how}"
                );
                self.waiting
                    .lock()
                    .expect("waiting lock")
                    .insert(rec.request_id, rec.due_at);
                self.wake_poller.notify_one();
                crate::failpoint::at("sent");
            }
            Err(e @ StoreError::Superseded { .. }) => info!("{e}"),
            Err(e) => {
                warn!(error = %e, "cannot record that the request was sent; it will be resent with the same MessageID")
            }
        }
    }
}

fn again(failure: String) -> Attempt {
    Attempt::Again {
        failure,
        new_message_id: false,
        new_eol: false,
    }
}

fn fault(f: smev::SoapFault) -> Attempt {
    match f.class() {
        FaultClass::AlreadySent => Attempt::AlreadySent,
        FaultClass::Retry => again(f.to_string()),
        FaultClass::NewMessageId => {
            warn!(fault = %f, "SMEV wants a new MessageID");
            Attempt::Again {
                failure: f.to_string(),
                new_message_id: true,
                new_eol: false,
            }
        }
        FaultClass::NewEol => Attempt::Again {
            failure: f.to_string(),
            new_message_id: false,
            new_eol: true,
        },
        FaultClass::Permanent => Attempt::Rejected(Box::new(Outcome::rejected(
            RejectedBy::Smev,
            f.kind.element_name(),
            format!(
                "{}{}",
                f.faultstring,
                f.description.map(|d| format!(": {d}")).unwrap_or_default()
            ),
        ))),
    }
}
