//! The gateway: consume, validate, record, sign, send, poll, verify,
//! acknowledge, read, write the case file, reply.
//!
//! The case store owns a request from the moment it is recorded: a delivery
//! is acknowledged only after that, and every later step is written before
//! the step it enables, so a restart resumes from the store (see
//! [`Gateway::recover`]).

pub mod credentials;

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{Notify, Semaphore, watch};
use tracing::{Instrument, debug, error, info, info_span, warn};
use uuid::Uuid;

use crate::casefile::{ANSWERED, Acceptance, State, StateRecord, Store, StoreError, UNSENT};
use crate::clock;
use crate::config::Settings;
use crate::lookup::{Outcome, Registry, RejectedBy};
use crate::provider::{ProviderError, SmevClient};
use crate::request::{Invalid, InvalidCode, LookupRequest};
use crate::smev::{self, FaultClass, Operation, ResponseContent, SmevError, Version};
use crate::transport::{DeadLetter, Inbox, Incoming, Outbox};
use crate::xml;
use crate::xmldsig::{self, ReferenceTransforms, SigningKey, TrustStore, VerifyPolicy};

#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    #[error(transparent)]
    Credentials(#[from] credentials::CredentialsError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Provider(#[from] ProviderError),
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    #[error(transparent)]
    Transport(#[from] crate::transport::TransportError),
}

/// Everything the gateway needs, shared by its tasks.
pub struct Gateway {
    pub settings: Settings,
    registry: Registry,
    key: SigningKey,
    /// The official's key for personal signatures (ЭП-СП); the information
    /// system's key when none is configured.
    personal_key: Option<SigningKey>,
    trust: TrustStore,
    store: Store,
    client: SmevClient,
    outbox: Outbox,
    version: Version,
    send_slots: Semaphore,
    /// Requests SMEV accepted whose answers have not come yet.
    waiting: Mutex<HashSet<Uuid>>,
    wake_poller: Notify,
}

/// Runs a blocking case-store call off the async threads.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, StoreError> + Send + 'static,
) -> Result<T, StoreError> {
    tokio::task::spawn_blocking(f)
        .await
        .expect("case-store calls do not panic")
}

/// How a SOAP call ended, for the sender.
enum CallError {
    Fault(smev::SoapFault),
    Retryable(String),
    Permanent(String),
}

impl Gateway {
    /// Builds the gateway from settings; `outbox` is where replies go.
    pub fn new(settings: Settings, outbox: Outbox) -> Result<Arc<Self>, GatewayError> {
        let creds = credentials::signing_key(&settings)?;
        if let Some(n) = &creds.notice {
            println!("{n}");
            warn!("{n}");
        }
        let personal_key = credentials::personal_key(&settings)?;
        let trust = credentials::trust_store(&settings)?;
        let store = Store::open(&settings.gateway.cases_root)?;
        let client = SmevClient::new(
            &settings.smev.endpoint,
            Duration::from_secs(settings.smev.timeout_secs),
        )?;
        let version = settings.smev.version()?;
        info!(
            algorithm = %creds.key.algorithm(),
            accepted_by_smev = creds.key.algorithm().accepted_by_smev(),
            certificate = %creds.key.subject(),
            endpoint = %settings.smev.endpoint,
            smev_version = %version,
            cases_root = %settings.gateway.cases_root.display(),
            transport = %outbox.describe(),
            "gateway ready"
        );
        Ok(Arc::new(Gateway {
            registry: Registry::new(&settings.lookup),
            send_slots: Semaphore::new(settings.gateway.send_concurrency),
            key: creds.key,
            personal_key,
            trust,
            store,
            client,
            outbox,
            version,
            waiting: Mutex::new(HashSet::new()),
            wake_poller: Notify::new(),
            settings,
        }))
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    pub fn signing_algorithm(&self) -> xmldsig::SignatureAlgorithm {
        self.key.algorithm()
    }

    /// Consumes until `shutdown` turns true or the inbox closes. Requests
    /// left unfinished by an earlier run are resumed first.
    pub async fn run(
        self: Arc<Self>,
        mut inbox: Inbox,
        mut shutdown: watch::Receiver<bool>,
    ) -> Result<(), GatewayError> {
        self.recover().await?;
        let poller = tokio::spawn(self.clone().poll_loop(shutdown.clone()));
        loop {
            tokio::select! {
                _ = shutdown.changed() => break,
                msg = inbox.recv() => match msg {
                    Ok(Some(m)) => self.clone().handle_incoming(m).await,
                    Ok(None) => {
                        warn!("the request source closed");
                        break;
                    }
                    Err(e) => {
                        error!(error = %e, "receiving failed");
                        return Err(e.into());
                    }
                }
            }
        }
        poller.abort();
        Ok(())
    }

    /// One delivery: refused input goes to the dead-letter queue; a valid
    /// request is recorded, then acknowledged, then sent.
    async fn handle_incoming(self: Arc<Self>, msg: Incoming) {
        let req = match crate::request::parse_request(&msg.body, clock::moscow_today()) {
            Ok(r) => r,
            Err(invalid) => return self.dead_letter(msg, invalid).await,
        };
        let span = info_span!("request", request_id = %req.request_id, case_id = %req.case_id, kind = %req.kind);
        async move {
            let store = self.store.clone();
            let (r, route) = (req.clone(), msg.reply.clone());
            match blocking(move || store.accept(&r, route)).await {
                Ok(Acceptance::New(rec)) => {
                    info!(subject = %req.subject.describe(), test = req.test, "accepted");
                    self.ack(&msg).await;
                    let gw = self.clone();
                    tokio::spawn(gw.send(rec, req).in_current_span());
                }
                Ok(Acceptance::Existing(rec)) => {
                    info!(
                        state = rec.state.as_str(),
                        "request id seen before: one result per request id"
                    );
                    self.ack(&msg).await;
                    let store = self.store.clone();
                    let r2 = rec.clone();
                    let _ = blocking(move || {
                        store.note(&r2, "duplicate", "the same request_id arrived again")
                    })
                    .await;
                    if rec.state.is_final() {
                        // The first reply may have been lost: send the same one again.
                        self.reply(rec).await;
                    }
                }
                Ok(Acceptance::Conflict { case_id }) => {
                    let invalid = Invalid {
                        code: InvalidCode::RequestIdReused,
                        field: "request_id".into(),
                        message: format!(
                            "request_id {} already belongs to case {case_id}",
                            req.request_id
                        ),
                    };
                    self.dead_letter(msg, invalid).await;
                }
                Err(e) => {
                    // Not recorded, so not acknowledged: the broker keeps it.
                    error!(error = %e, "cannot record the request; it stays on the queue");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    if let Err(e) = self.outbox.requeue(&msg).await {
                        error!(error = %e, "cannot return the message to the queue");
                    }
                }
            }
        }
        .instrument(span)
        .await
    }

    async fn ack(&self, msg: &Incoming) {
        if let Err(e) = self.outbox.ack(msg).await {
            // Recorded but not acknowledged: a redelivery finds the record.
            warn!(error = %e, "acknowledgement failed; a redelivery will be recognised");
        }
    }

    async fn dead_letter(&self, msg: Incoming, invalid: Invalid) {
        warn!(code = %invalid.code, field = %invalid.field, reason = %invalid.message, "refused; to the dead-letter queue");
        let letter = DeadLetter::new(invalid, &msg);
        match self.outbox.publish_dead(&letter).await {
            Ok(()) => self.ack(&msg).await,
            Err(e) => {
                error!(error = %e, "cannot publish the dead letter; the message stays on the queue");
                let _ = self.outbox.requeue(&msg).await;
            }
        }
    }

    /// Signs and sends a recorded request until SMEV accepts or refuses it.
    async fn send(self: Arc<Self>, mut rec: StateRecord, req: LookupRequest) {
        let _slot = self
            .send_slots
            .acquire()
            .await
            .expect("the semaphore is never closed");
        let mut attempt = 0u32;
        loop {
            attempt += 1;
            let envelope = match self.envelope(&mut rec, &req).await {
                Ok(e) => e,
                Err(reason) => return self.finish(rec, UNSENT, Outcome::failed(reason)).await,
            };
            let message_id = rec.message_id.clone().unwrap_or_default();
            let span = info_span!("send", message_id = %message_id, attempt);
            let result = self
                .call(Operation::SendRequest, envelope)
                .instrument(span)
                .await;
            let result = result.and_then(|body| {
                let doc = xml::parse(&body).map_err(|e| {
                    CallError::Permanent(format!("SMEV answered unreadable XML: {e}"))
                })?;
                smev::parse_send_request_response(&doc)
                    .map(|a| a.sending_timestamp)
                    .map_err(|e| match e {
                        SmevError::Fault(f) => CallError::Fault(f),
                        other => CallError::Permanent(other.to_string()),
                    })
            });
            let failure = match result {
                Ok(sending_timestamp) => {
                    return self
                        .mark_sent(rec, sending_timestamp, "accepted by SMEV")
                        .await;
                }
                Err(CallError::Fault(f)) => match f.kind.class() {
                    FaultClass::AlreadySent => {
                        return self
                            .mark_sent(rec, None, "MessageIsAlreadySent: SMEV already has it")
                            .await;
                    }
                    FaultClass::NewMessageId => {
                        warn!(fault = %f, "SMEV wants a new MessageID");
                        rec.message_id = None;
                        format!("{f}")
                    }
                    FaultClass::Retry => format!("{f}"),
                    FaultClass::Permanent => {
                        let outcome = Outcome::rejected(
                            RejectedBy::Smev,
                            f.kind.element_name(),
                            format!(
                                "{}{}",
                                f.faultstring,
                                f.description.map(|d| format!(": {d}")).unwrap_or_default()
                            ),
                        );
                        return self.finish(rec, UNSENT, outcome).await;
                    }
                },
                Err(CallError::Retryable(m)) => m,
                Err(CallError::Permanent(m)) => {
                    return self.finish(rec, UNSENT, Outcome::failed(m)).await;
                }
            };
            let store = self.store.clone();
            let (mut r, f) = (rec.clone(), failure.clone());
            match blocking(move || store.record_attempt(&mut r, attempt, &f).map(|_| r)).await {
                Ok(r) => rec = r,
                Err(e @ StoreError::Superseded { .. }) => {
                    // The answer overtook SMEV's acceptance: nothing left to send.
                    return info!("{e}");
                }
                Err(e) => warn!(error = %e, "cannot record the failed attempt"),
            }
            if attempt >= self.settings.retry.attempts {
                let reason =
                    format!("SMEV did not accept the request after {attempt} attempts: {failure}");
                return self.finish(rec, UNSENT, Outcome::failed(reason)).await;
            }
            let delay = self.settings.retry.backoff(attempt);
            warn!(error = %failure, retry_in_ms = delay.as_millis() as u64, "send failed; retrying");
            tokio::time::sleep(delay).await;
        }
    }

    /// The signed envelope of a request: the stored one if it was signed
    /// before (a re-send uses the same `MessageID`), else a new one, stored
    /// before it is sent.
    async fn envelope(
        &self,
        rec: &mut StateRecord,
        req: &LookupRequest,
    ) -> Result<Vec<u8>, String> {
        if rec.message_id.is_some() {
            let store = self.store.clone();
            let r = rec.clone();
            if let Some(e) = blocking(move || store.load_envelope(&r))
                .await
                .map_err(|e| e.to_string())?
            {
                return Ok(e);
            }
        }
        let lookup = self.registry.get(req.kind);
        let business = lookup.build_request(req, &req.request_id.to_string());
        let message_id = smev::new_message_id().to_string();
        let eol = (self.settings.smev.eol_hours > 0)
            .then(|| clock::now() + time::Duration::hours(self.settings.smev.eol_hours as i64));
        let doc = smev::send_request(
            self.version,
            &uuid::Uuid::parse_str(&message_id).expect("fresh uuid"),
            &business,
            req.test,
            eol,
            req.personal_signature,
        )
        .sign(&self.key, self.personal_key.as_ref())
        .map_err(|e| format!("signing failed: {e}"))?;
        let bytes = xml::to_bytes(&doc);
        let store = self.store.clone();
        let mut r = rec.clone();
        let (mid, b) = (message_id.clone(), bytes.clone());
        let r = blocking(move || store.record_envelope(&mut r, &mid, &b).map(|_| r))
            .await
            .map_err(|e| e.to_string())?;
        *rec = r;
        debug!(message_id = %message_id, "signed");
        Ok(bytes)
    }

    async fn call(&self, op: Operation, body: Vec<u8>) -> Result<Vec<u8>, CallError> {
        self.client.call(op, body).await.map_err(|e| {
            if e.is_retryable() {
                CallError::Retryable(e.to_string())
            } else {
                CallError::Permanent(e.to_string())
            }
        })
    }

    async fn mark_sent(
        &self,
        mut rec: StateRecord,
        sending_timestamp: Option<time::OffsetDateTime>,
        how: &str,
    ) {
        let store = self.store.clone();
        let r = blocking(move || store.record_sent(&mut rec, sending_timestamp).map(|_| rec)).await;
        match r {
            Ok(rec) => {
                info!(
                    message_id = rec.message_id.as_deref().unwrap_or(""),
                    "{how}"
                );
                self.waiting
                    .lock()
                    .expect("waiting lock")
                    .insert(rec.request_id);
                self.wake_poller.notify_one();
            }
            Err(e @ StoreError::Superseded { .. }) => info!("{e}"),
            Err(e) => {
                error!(error = %e, "cannot record that the request was sent; it will be resent with the same MessageID")
            }
        }
    }

    /// Writes the result and replies.
    async fn finish(&self, mut rec: StateRecord, from: &'static [State], outcome: Outcome) {
        self.waiting
            .lock()
            .expect("waiting lock")
            .remove(&rec.request_id);
        let verdict = outcome.verdict;
        let store = self.store.clone();
        match blocking(move || store.complete_from(&mut rec, from, outcome).map(|_| rec)).await {
            Ok(rec) => {
                info!(verdict = %verdict, state = rec.state.as_str(), "result written");
                self.reply(rec).await;
            }
            // Whoever moved it on writes the result and replies.
            Err(e @ StoreError::Superseded { .. }) => info!(verdict = %verdict, "{e}"),
            Err(e) => error!(error = %e, "cannot write the result; it will be written on restart"),
        }
    }

    /// Publishes the stored result (again, if asked twice) and records it.
    async fn reply(&self, rec: StateRecord) {
        let store = self.store.clone();
        let r = rec.clone();
        let result = match blocking(move || store.load_result(&r)).await {
            Ok(Some(res)) => res,
            Ok(None) => return error!("no result.json to reply with"),
            Err(e) => return error!(error = %e, "cannot read the result"),
        };
        let body = serde_json::to_vec(&result).expect("results serialise");
        let id = rec.request_id.to_string();
        for attempt in 1..=self.settings.retry.attempts {
            match self
                .outbox
                .publish_reply(&rec.reply, rec.kind, &id, &body)
                .await
            {
                Ok(()) => {
                    let store = self.store.clone();
                    let mut r = rec.clone();
                    if let Err(e) = blocking(move || store.mark_replied(&mut r)).await {
                        warn!(error = %e, "reply published but not recorded; it may be sent again");
                    }
                    return info!(verdict = %result.outcome.verdict, "replied");
                }
                Err(e) => {
                    warn!(error = %e, attempt, "publishing the reply failed");
                    tokio::time::sleep(self.settings.retry.backoff(attempt)).await;
                }
            }
        }
        error!("the reply could not be published; it will be retried on restart");
    }

    /// Resumes what an earlier run left: sends what was not sent, waits for
    /// what was sent, finishes what was answered, replies what was not
    /// replied.
    pub async fn recover(self: &Arc<Self>) -> Result<usize, GatewayError> {
        let store = self.store.clone();
        let open = blocking(move || store.open_requests()).await?;
        let n = open.len();
        for rec in open {
            let span = info_span!("request", request_id = %rec.request_id, case_id = %rec.case_id, kind = %rec.kind);
            let _g = span.enter();
            match rec.state {
                State::Accepted => {
                    let store = self.store.clone();
                    let r = rec.clone();
                    match blocking(move || store.load_request(&r)).await {
                        Ok(req) => {
                            info!("resuming: not yet accepted by SMEV");
                            tokio::spawn(self.clone().send(rec, req).instrument(span.clone()));
                        }
                        Err(e) => {
                            drop(_g);
                            self.finish(
                                rec,
                                UNSENT,
                                Outcome::failed(format!("the stored request cannot be read: {e}")),
                            )
                            .await;
                        }
                    }
                }
                State::Sent => {
                    self.waiting
                        .lock()
                        .expect("waiting lock")
                        .insert(rec.request_id);
                }
                State::Answered => {
                    info!("resuming: answer stored, result not written");
                    let store = self.store.clone();
                    let r = rec.clone();
                    let data = blocking(move || store.load_response(&r))
                        .await?
                        .unwrap_or_default();
                    drop(_g);
                    self.process_answer(rec, &data)
                        .instrument(span.clone())
                        .await;
                }
                State::Completed | State::Failed => {
                    drop(_g);
                    self.reply(rec).instrument(span.clone()).await;
                }
            }
        }
        if n > 0 {
            info!(open = n, "recovered unfinished requests");
        }
        Ok(n)
    }

    /// Polls the response queue while answers are awaited (and slowly when
    /// not, to collect answers for requests another node sent).
    async fn poll_loop(self: Arc<Self>, mut shutdown: watch::Receiver<bool>) {
        let (min, max) = (
            Duration::from_millis(self.settings.smev.poll_min_ms),
            Duration::from_millis(self.settings.smev.poll_max_ms),
        );
        let mut interval = min;
        loop {
            if *shutdown.borrow() {
                return;
            }
            let got = self.poll_once().await;
            let delivered = matches!(got, Ok(true));
            interval = match got {
                Ok(true) => min,
                Ok(false) if self.waiting.lock().expect("waiting lock").is_empty() => max,
                Ok(false) => (interval * 2).min(max),
                Err(e) => {
                    warn!(error = %e, "polling SMEV failed");
                    (interval * 2).min(max)
                }
            };
            if delivered {
                continue;
            }
            tokio::select! {
                _ = tokio::time::sleep(interval) => {}
                _ = self.wake_poller.notified() => interval = min,
                _ = shutdown.changed() => return,
            }
        }
    }

    /// One `GetResponse`; true when a message came.
    async fn poll_once(&self) -> Result<bool, String> {
        let (mut doc, selector, container) =
            smev::get_response_request(self.version, clock::now(), None);
        xmldsig::sign_element(
            &mut doc,
            selector,
            container,
            &self.key,
            ReferenceTransforms::Smev,
        )
        .map_err(|e| format!("signing GetResponse: {e}"))?;
        let body = match self.call(Operation::GetResponse, xml::to_bytes(&doc)).await {
            Ok(b) => b,
            Err(CallError::Fault(f)) => return Err(f.to_string()),
            Err(CallError::Retryable(m) | CallError::Permanent(m)) => return Err(m),
        };
        let parsed = xml::parse(&body).map_err(|e| format!("GetResponse answer: {e}"))?;
        match smev::parse_get_response_response(&parsed) {
            Ok(None) => Ok(false),
            Ok(Some(resp)) => {
                self.handle_response(&parsed, &body, resp).await;
                Ok(true)
            }
            Err(e) => Err(e.to_string()),
        }
    }

    async fn send_ack(&self, message_id: &str, accepted: bool) {
        let (mut doc, target, container) = smev::ack_request(self.version, message_id, accepted);
        if let Err(e) = xmldsig::sign_element(
            &mut doc,
            target,
            container,
            &self.key,
            ReferenceTransforms::Smev,
        ) {
            return error!(error = %e, "cannot sign the Ack");
        }
        match self.call(Operation::Ack, xml::to_bytes(&doc)).await {
            Ok(body) => {
                let r = xml::parse(&body)
                    .map_err(|e| e.to_string())
                    .and_then(|d| smev::parse_ack_response(&d).map_err(|e| e.to_string()));
                if let Err(e) = r {
                    warn!(error = %e, smev_message_id = message_id, "Ack refused; SMEV will deliver the answer again");
                }
            }
            Err(CallError::Fault(f)) => warn!(fault = %f, "Ack refused"),
            Err(CallError::Retryable(m) | CallError::Permanent(m)) => {
                warn!(error = %m, "Ack failed; SMEV will deliver the answer again")
            }
        }
    }

    /// A message from the response queue: match it, store it, acknowledge
    /// it, read it.
    async fn handle_response(
        &self,
        doc: &xml::Document,
        bytes: &[u8],
        resp: smev::IncomingResponse,
    ) {
        let smev_id = resp.message_id.clone().unwrap_or_default();
        let original = resp.original_message_id.clone().unwrap_or_default();
        let store = self.store.clone();
        let o = original.clone();
        let rec = match blocking(move || store.find_by_message(&o)).await {
            Ok(Some(rec)) => rec,
            Ok(None) => {
                let store = self.store.clone();
                let (id, data) = (smev_id.clone(), bytes.to_vec());
                let kept = blocking(move || store.store_orphan(&id, &data)).await;
                warn!(original_message_id = %original, kept = ?kept.ok(), "an answer for no known request; kept for the operator");
                return self.send_ack(&smev_id, true).await;
            }
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
            let verified = self.verify_answer(doc, &resp);
            let store = self.store.clone();
            let mut r = rec.clone();
            let data = bytes.to_vec();
            let rec = match blocking(move || store.record_response(&mut r, &data).map(|_| r)).await {
                Ok(rec) => rec,
                Err(e @ StoreError::Superseded { .. }) => {
                    info!("{e}; acknowledging the delivery");
                    return self.send_ack(&smev_id, true).await;
                }
                Err(e) => return error!(error = %e, "cannot store the answer; not acknowledged, SMEV will deliver it again"),
            };
            self.send_ack(&smev_id, verified.is_ok()).await;
            match verified {
                Ok(()) => self.process_parsed(rec, doc, &resp).await,
                Err(reason) => {
                    warn!(reason = %reason, "SMEV's signature on the answer did not verify");
                    self.finish(rec, ANSWERED, Outcome::failed(format!("the answer's SMEV signature did not verify: {reason}"))).await;
                }
            }
        }
        .instrument(span)
        .await
    }

    fn verify_answer(
        &self,
        doc: &xml::Document,
        resp: &smev::IncomingResponse,
    ) -> Result<(), String> {
        let sig = resp
            .smev_signature
            .ok_or("the answer carries no SMEVSignature")?;
        let policy = VerifyPolicy {
            trust: Some(&self.trust),
            at: clock::now(),
            allow_exc_c14n_only: false,
        };
        xmldsig::verify(doc, sig, resp.response, &policy)
            .map(|_| ())
            .map_err(|e| e.to_string())
    }

    /// Re-reads a stored answer (after a restart) and finishes the request.
    async fn process_answer(&self, rec: StateRecord, bytes: &[u8]) {
        let parsed = xml::parse(bytes).map_err(|e| e.to_string());
        let resp = parsed
            .as_ref()
            .map_err(Clone::clone)
            .and_then(|d| smev::parse_get_response_response(d).map_err(|e| e.to_string()));
        match (parsed, resp) {
            (Ok(doc), Ok(Some(resp))) => match self.verify_answer(&doc, &resp) {
                Ok(()) => self.process_parsed(rec, &doc, &resp).await,
                Err(reason) => {
                    self.finish(
                        rec,
                        ANSWERED,
                        Outcome::failed(format!(
                            "the answer's SMEV signature did not verify: {reason}"
                        )),
                    )
                    .await
                }
            },
            (Err(e), _) | (_, Err(e)) => {
                self.finish(
                    rec,
                    ANSWERED,
                    Outcome::failed(format!("the stored answer cannot be read: {e}")),
                )
                .await
            }
            (_, Ok(None)) => {
                self.finish(rec, ANSWERED, Outcome::failed("the stored answer is empty"))
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
        let outcome = match &resp.content {
            ResponseContent::Primary(root) => {
                let store = self.store.clone();
                let r = rec.clone();
                match blocking(move || store.load_request(&r)).await {
                    Ok(req) => self.registry.get(rec.kind).parse_answer(
                        doc,
                        *root,
                        &req,
                        &req.request_id.to_string(),
                    ),
                    Err(e) => Outcome::failed(format!("the stored request cannot be read: {e}")),
                }
            }
            ResponseContent::Rejected(reasons) => {
                let code = reasons
                    .iter()
                    .map(|r| r.0.as_str())
                    .collect::<Vec<_>>()
                    .join(",");
                let text = reasons
                    .iter()
                    .map(|r| r.1.as_str())
                    .collect::<Vec<_>>()
                    .join("; ");
                Outcome::rejected(RejectedBy::Agency, code, text)
            }
            ResponseContent::AsyncStatus {
                category,
                details,
                fault_type,
                fault_code,
                fault_description,
            } if category.contains("Rejected") || fault_type.is_some() => Outcome::rejected(
                RejectedBy::Smev,
                fault_code.clone().unwrap_or_else(|| category.clone()),
                fault_description
                    .clone()
                    .or_else(|| details.clone())
                    .unwrap_or_default(),
            ),
            ResponseContent::AsyncStatus {
                category, details, ..
            } => {
                return self
                    .interim(
                        rec,
                        format!(
                            "SMEV status {category}: {}",
                            details.clone().unwrap_or_default()
                        ),
                    )
                    .await;
            }
            ResponseContent::Status { code, description } => {
                return self
                    .interim(rec, format!("provider status {code}: {description}"))
                    .await;
            }
        };
        self.finish(rec, ANSWERED, outcome).await
    }

    /// An intermediate status: noted, and the request keeps waiting.
    async fn interim(&self, mut rec: StateRecord, what: String) {
        info!(status = %what, "interim status; still waiting for the answer");
        let store = self.store.clone();
        if let Err(e) = blocking(move || store.record_interim(&mut rec, what)).await {
            warn!(error = %e, "cannot record the interim status");
        }
    }
}
