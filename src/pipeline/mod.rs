//! The gateway: consume, validate, record, sign, send, poll, verify,
//! acknowledge, read, write the case file, reply.
//!
//! The case store owns a request from the moment it is recorded: a delivery
//! is acknowledged only after that, and every later step is written before
//! the step it enables, so a restart resumes from the store
//! ([`Gateway::recover`]). Instances sharing a store take over the
//! requests of one that died ([`Gateway::watch_instances`]).
//!
//! | part | module |
//! |---|---|
//! | sending, retries, the deadline bound | [`send`] |
//! | lookups a register's own source answers | [`direct`] |
//! | polling, answers, acknowledgements | [`poll`] |
//! | restart and takeover | [`recover`] |
//! | overdue requests | [`deadline`] |
//! | a case store that cannot write | [`backpressure`] |
//! | answers for no known request | [`orphans`] |

mod backpressure;
pub mod credentials;
mod deadline;
mod direct;
pub mod metrics;
mod orphans;
mod poll;
mod recover;
pub mod refused;
mod send;
mod status;
mod submit;
mod tasks;
pub mod vs;

use std::collections::HashMap;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Duration;

use futures_util::FutureExt as _;
use time::OffsetDateTime;
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore, watch};
use tracing::{Instrument, error, info, info_span, warn};
use uuid::Uuid;

use crate::calendar::Calendar;
use crate::casefile::{Acceptance, How, StateRecord, Store, StoreError};
use crate::clock;
use crate::config::{Settings, secs};
use crate::lookup::{Outcome, Registry};
use crate::provider::{ProviderError, SmevClient};
use crate::request::{Invalid, InvalidCode};
use crate::smev::{Operation, Version};
use crate::transport::{DeadLetter, Inbox, Incoming, Outbox, RESULT_TYPE, Reply, Routed};
use crate::xmldsig::{self, SigningKey, TrustStore};

pub use backpressure::{Failing, StoreGate};
pub use submit::{SubmitError, Submitted};
pub use tasks::Tasks;

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
    Calendar(#[from] crate::calendar::CalendarError),
    #[error(transparent)]
    Transport(#[from] crate::transport::TransportError),
    #[error("vs.schemas: {0}")]
    Schemas(String),
    #[error("register sources: {0}")]
    Registers(String),
}

type KeyFiles = (std::time::SystemTime, std::time::SystemTime);

/// When the configured key and certificate files were last changed.
fn key_files(settings: &Settings) -> Option<KeyFiles> {
    if !settings.signing.has_key() {
        return None;
    }
    let m = |p: &str| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    Some((m(&settings.signing.key)?, m(&settings.signing.certificate)?))
}

/// Whether a SOAP answer is a fault, by a look at its first bytes (the
/// metrics only; the answer is parsed properly where it is read).
fn looks_like_fault(body: &[u8]) -> bool {
    body[..body.len().min(2048)]
        .windows(6)
        .any(|w| w == b"Fault>")
}

/// Everything the gateway needs, shared by its tasks.
pub struct Gateway {
    pub settings: Settings,
    registry: Registry,
    /// Schemas of business XML of `vs` requests, by namespace.
    vs_schemas: vs::VsSchemas,
    /// What SMEV said of our queue at the last `GetIncomingQueueStatistics`.
    pub smev_queues: std::sync::Mutex<Option<status::QueueReading>>,
    /// The information system's key; replaced when its files change (a
    /// renewed certificate), see [`Gateway::reload_key`].
    key: std::sync::RwLock<Arc<SigningKey>>,
    /// Modification times of the configured key and certificate files
    /// when they were loaded.
    key_files: std::sync::Mutex<Option<KeyFiles>>,
    /// The official's key for personal signatures (ЭП-СП); the information
    /// system's key when none is configured.
    personal_key: Option<SigningKey>,
    trust: TrustStore,
    store: Store,
    client: SmevClient,
    /// The registers' own sources the routes name (`[lookup.routes]`).
    sources: crate::registers::Sources,
    outbox: Outbox,
    version: Version,
    calendar: Arc<Calendar>,
    /// Requests being signed and sent at once.
    send_slots: Semaphore,
    /// Requests recorded but not yet accepted by SMEV, in memory at once.
    unsent_slots: Arc<Semaphore>,
    /// Requests SMEV accepted whose answers have not come yet, with the
    /// moment each becomes overdue.
    waiting: std::sync::Mutex<HashMap<Uuid, Option<OffsetDateTime>>>,
    wake_poller: Notify,
    /// Turns true when the gateway stops: waits end, work is parked.
    stop: watch::Sender<bool>,
    tasks: Tasks,
    /// Whether the case store takes writes (see [`backpressure`]).
    store_gate: StoreGate,
    /// What `.orphans/` holds (see [`orphans`]).
    orphans: orphans::Orphans,
    pub metrics: Arc<metrics::Metrics>,
    pub ledger: Arc<metrics::Ledger>,
}

/// Resolves once the flag is true (or its sender is gone).
async fn turns_true(rx: &mut watch::Receiver<bool>) {
    let _ = rx.wait_for(|s| *s).await.map(|_| ());
}

/// Runs a blocking case-store call off the async threads.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, StoreError> + Send + 'static,
) -> Result<T, StoreError> {
    tokio::task::spawn_blocking(f)
        .await
        .expect("case-store calls do not panic")
}

impl Gateway {
    /// Runs a store call that waits for no flush (a read, or a change the
    /// store does not wait for until durable: `sent`, `replied`) in place
    /// on the async runtime ([`How::InPlace`]): on the files store a few
    /// system calls on the page cache, on PostgreSQL a round trip awaited.
    /// The hand-off to the blocking pool and back (two thread wake-ups)
    /// cost more than the call (BENCHMARKS.md, "Store calls without a
    /// flush made in place", "PostgreSQL awaited in place"). A store that
    /// cannot change in place takes the blocking pool. (A change made here
    /// waits for the request's lock if another step of the same request
    /// holds it through its flush: rare, a few milliseconds.)
    ///
    /// The documents (request, envelope, answer, result) are files under
    /// `cases_root` with either backend: they are read in place where they
    /// are needed, without this.
    async fn quickly<T, F>(
        &self,
        call: impl FnOnce(How) -> F + Send + 'static,
    ) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: std::future::Future<Output = Result<T, StoreError>> + Send + 'static,
    {
        if self.store.changes_in_place() {
            call(How::InPlace).await
        } else {
            blocking(move || crate::casefile::at_once(call(How::Blocking))).await
        }
    }
}

/// How a SOAP call failed before an answer could be read.
enum CallError {
    Retryable(String),
    Permanent(String),
    /// The gateway is stopping; the call was not made.
    Stopped,
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
        let metrics = Arc::new(metrics::Metrics::default());
        let ledger = Arc::new(metrics::Ledger::new(metrics.clone()));
        let store = Store::from_settings(&settings)?.observed(ledger.clone());
        let calendar = Arc::new(Calendar::load(settings.gateway.calendar_path())?);
        let client = SmevClient::new(
            &settings.smev.endpoint,
            Duration::from_secs(settings.smev.timeout_secs),
            settings.smev.breaker(),
            settings.smev_connections(),
        )?;
        let version = settings.smev.version()?;
        let sources =
            crate::registers::Sources::from_settings(&settings).map_err(GatewayError::Registers)?;
        let today = clock::moscow_today().year();
        if calendar.coverage(today) != crate::calendar::Coverage::Decree {
            warn!(
                year = today,
                "the production calendar has no decree for this year; deadlines follow the Labour Code's rule until it is added"
            );
        }
        info!(
            algorithm = %creds.key.algorithm(),
            accepted_by_smev = creds.key.algorithm().accepted_by_smev(),
            certificate = %creds.key.subject(),
            endpoint = %crate::config::redact_url(&settings.smev.endpoint),
            smev_version = %version,
            cases_root = %settings.gateway.cases_root.display(),
            store = store.backend_name(),
            instance = %store.instance_id(),
            transport = %outbox.describe(),
            "gateway ready"
        );
        let registry = Registry::new(&settings.lookup);
        registry.schemas().log_report();
        let (stop, _) = watch::channel(false);
        Ok(Arc::new(Gateway {
            registry,
            vs_schemas: vs::VsSchemas::load(&settings.vs)?,
            smev_queues: std::sync::Mutex::new(None),
            send_slots: Semaphore::new(settings.gateway.send_concurrency),
            unsent_slots: Arc::new(Semaphore::new(settings.gateway.max_unsent)),
            key: std::sync::RwLock::new(Arc::new(creds.key)),
            key_files: std::sync::Mutex::new(key_files(&settings)),
            personal_key,
            trust,
            store,
            client,
            sources,
            outbox,
            version,
            calendar,
            waiting: std::sync::Mutex::new(HashMap::new()),
            wake_poller: Notify::new(),
            stop,
            tasks: Tasks::default(),
            store_gate: StoreGate::default(),
            orphans: orphans::Orphans::default(),
            metrics,
            ledger,
            settings,
        }))
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Whether the case store takes writes now.
    pub fn store_gate(&self) -> &StoreGate {
        &self.store_gate
    }

    pub fn calendar(&self) -> &Calendar {
        &self.calendar
    }

    pub fn client(&self) -> &SmevClient {
        &self.client
    }

    /// The registers' own sources in use.
    pub fn sources(&self) -> &crate::registers::Sources {
        &self.sources
    }

    pub fn signing_algorithm(&self) -> xmldsig::SignatureAlgorithm {
        self.key().algorithm()
    }

    /// The signing key in use.
    pub fn key(&self) -> Arc<SigningKey> {
        self.key.read().expect("key lock").clone()
    }

    /// Loads the configured key again if its files changed since they
    /// were loaded (a renewed certificate is picked up without a restart).
    /// True when a new key was put in place; an error leaves the old one.
    pub fn reload_key(&self) -> Result<bool, String> {
        let now = key_files(&self.settings);
        let mut seen = self.key_files.lock().expect("key files lock");
        if now.is_none() || now == *seen {
            return Ok(false);
        }
        let creds = credentials::signing_key(&self.settings)
            .map_err(|e| format!("the key files changed but cannot be loaded: {e}"))?;
        info!(certificate = %creds.key.subject(), "signing key reloaded from its files");
        *self.key.write().expect("key lock") = Arc::new(creds.key);
        *seen = now;
        Ok(true)
    }

    /// Whether the signing certificate is valid now: with an expired one
    /// SMEV refuses every signature, so requests wait instead of failing.
    pub fn key_usable(&self) -> bool {
        self.key().validity().covers(clock::now())
    }

    pub fn outbox(&self) -> &Outbox {
        &self.outbox
    }

    pub fn trust(&self) -> &TrustStore {
        &self.trust
    }

    pub fn personal_key(&self) -> Option<&SigningKey> {
        self.personal_key.as_ref()
    }

    /// Requests awaiting their answer.
    pub fn waiting_count(&self) -> usize {
        self.waiting.lock().expect("waiting lock").len()
    }

    /// Tasks still working (sending, handling a delivery, replying).
    pub fn tasks_in_flight(&self) -> usize {
        self.tasks.count()
    }

    fn stopping(&self) -> bool {
        *self.stop.borrow()
    }

    /// Resolves when the gateway stops.
    async fn stopped(&self) {
        turns_true(&mut self.stop.subscribe()).await
    }

    /// Sleeps `d`; true if the gateway began stopping meanwhile.
    async fn pause(&self, d: Duration) -> bool {
        tokio::select! {
            _ = tokio::time::sleep(d) => self.stopping(),
            _ = self.stopped() => true,
        }
    }

    /// Consumes until `shutdown` turns true or the inbox closes, then stops:
    /// no new deliveries, the work in flight gets
    /// `gateway.shutdown_grace_secs` to finish, and whatever remains is
    /// parked in the case store for the next start. Requests left
    /// unfinished by an earlier run are resumed first.
    pub async fn run(
        self: Arc<Self>,
        mut inbox: Inbox,
        mut shutdown: watch::Receiver<bool>,
    ) -> Result<(), GatewayError> {
        self.recover().await?;
        let background = [
            tokio::spawn(self.clone().poll_loop()),
            tokio::spawn(self.clone().deadline_loop()),
            tokio::spawn(self.clone().watch_instances()),
            tokio::spawn(self.clone().store_probe_loop()),
            tokio::spawn(self.clone().status_loop()),
            tokio::spawn(self.clone().queue_statistics_loop()),
        ];
        loop {
            // A store that cannot write takes no new deliveries: they stay
            // with the broker (see `backpressure`).
            if self.store_gate.failing().is_some() {
                tokio::select! {
                    _ = turns_true(&mut shutdown) => break,
                    _ = self.store_gate.writable() => continue,
                }
            }
            tokio::select! {
                _ = turns_true(&mut shutdown) => break,
                _ = self.store_gate.failed() => continue,
                msg = inbox.recv() => match msg {
                    Ok(Some(m)) => self.clone().spawn_handler(m),
                    Ok(None) => {
                        warn!("the request source closed");
                        break;
                    }
                    Err(e) => {
                        error!(error = %e, "receiving failed");
                        inbox.close().await;
                        self.shut_down().await;
                        return Err(e.into());
                    }
                }
            }
        }
        inbox.close().await;
        self.shut_down().await;
        for b in background {
            b.abort();
        }
        let store = self.store.clone();
        match blocking(move || store.retire()).await {
            Ok(0) => info!("stopped cleanly; nothing is left under this instance"),
            Ok(parked) => info!(
                parked,
                "stopped; requests wait in the case store under this instance for the next start or another instance"
            ),
            Err(e) => warn!(error = %e, "cannot remove this instance's lock file"),
        }
        Ok(())
    }

    /// Stops the work in flight within the grace period.
    async fn shut_down(&self) {
        let grace = secs(self.settings.gateway.shutdown_grace_secs);
        info!(
            in_flight = self.tasks.count(),
            grace_secs = grace.as_secs_f64(),
            "stopping: no new requests; finishing the work in flight"
        );
        let _ = self.stop.send(true);
        if self.tasks.wait_idle(grace).await {
            info!("stopped; nothing in flight");
        } else {
            warn!(
                in_flight = self.tasks.count(),
                "stopped with work in flight; it resumes from the case store at the next start"
            );
        }
    }

    /// Handles one delivery in its own task. A handler that panics does not
    /// take the gateway down: the delivery goes back to the queue, and the
    /// broker dead-letters it after `amqp.delivery_limit` deliveries.
    fn spawn_handler(self: Arc<Self>, msg: Incoming) {
        let guard = self.tasks.enter();
        tokio::spawn(async move {
            let _guard = guard;
            let handled = AssertUnwindSafe(self.handle_incoming(&msg))
                .catch_unwind()
                .await;
            if handled.is_err() {
                self.metrics.handler_crashes.inc(&[]);
                error!(
                    delivery_count = msg.delivery_count,
                    limit = self.settings.amqp.delivery_limit,
                    "the handler crashed on this delivery; it goes back to the queue (the broker dead-letters it at the delivery limit)"
                );
                if let Err(e) = self.outbox.requeue(&msg).await {
                    error!(error = %e, "cannot return the delivery; the broker will once the connection closes");
                }
            }
        });
    }

    /// One delivery: refused input goes to the dead-letter queue; a valid
    /// request is recorded, then acknowledged, then sent.
    async fn handle_incoming(self: &Arc<Self>, msg: &Incoming) {
        if let Some(invalid) = crate::transport::unsafe_reply_to(&msg.reply, &self.settings.amqp) {
            return self.dead_letter(msg, invalid).await;
        }
        let limits = self.settings.request_limits();
        let req = match crate::request::parse(&msg.body, clock::moscow_today(), &limits)
            .and_then(|r| self.vs_schemas.check(&r).map(|()| r))
            .and_then(|r| {
                crate::request::attachments::check_inbox(
                    r.attachments(),
                    &self.settings.gateway.inbox_dir,
                    self.settings.attachments.max_file_bytes,
                )
                .map(|_| r)
            }) {
            Ok(r) => r,
            Err(invalid) => return self.dead_letter(msg, invalid).await,
        };
        crate::failpoint::on_case(req.case_id().as_str());
        let span = info_span!("request", request_id = %req.request_id(), case_id = %req.case_id(), kind = %req.kind(), message_id = tracing::field::Empty);
        async move {
            // Backpressure: while too many requests wait to be sent, the
            // delivery waits here and the rest stay in the broker.
            let permit = tokio::select! {
                p = self.unsent_slots.clone().acquire_owned() => p.expect("the semaphore is never closed"),
                _ = self.stopped() => return self.give_back(msg).await,
            };
            match self.record(&req, msg.reply.clone()).await {
                Ok(Acceptance::New(rec)) => {
                    info!(subject = %req.describe(), test = req.test(), "accepted");
                    crate::failpoint::at("accepted");
                    self.ack(msg).await;
                    crate::failpoint::at("acked");
                    self.spawn_send(rec, req, Some(permit));
                }
                Ok(Acceptance::Existing(rec)) => {
                    self.metrics.duplicates.inc(&[]);
                    info!(
                        state = rec.state.as_str(),
                        redelivered = msg.redelivered,
                        "request id seen before: one result per request id"
                    );
                    // The latest delivery's route is the one replied to
                    // (recorded before the delivery is acknowledged).
                    let store = self.store.clone();
                    let (r2, route) = (rec.clone(), msg.reply.clone());
                    let rec = match blocking(move || store.record_duplicate(&r2, &route)).await {
                        Ok(r) => r,
                        Err(e) => {
                            warn!(error = %e, "cannot record the duplicate; it stays on the queue");
                            tokio::time::sleep(Duration::from_secs(1)).await;
                            return self.give_back(msg).await;
                        }
                    };
                    self.ack(msg).await;
                    if rec.state.is_final() {
                        // The stored result, to this delivery's route (the
                        // first reply may also have been lost).
                        self.reply(rec).await;
                    }
                }
                Ok(Acceptance::Conflict { case_id }) => {
                    let invalid = Invalid {
                        code: InvalidCode::RequestIdReused,
                        field: "request_id".into(),
                        message: format!(
                            "request_id {} already belongs to case {case_id}",
                            req.request_id()
                        ),
                    };
                    self.dead_letter(msg, invalid).await;
                }
                Ok(Acceptance::Reused {
                    stored_sha256,
                    received_sha256,
                }) => {
                    let invalid = Invalid {
                        code: InvalidCode::RequestIdReused,
                        field: "request_id".into(),
                        message: format!(
                            "request_id {} already names another request of case {} (stored request sha256 {stored_sha256}, this one sha256 {received_sha256}): a new request needs a new request_id",
                            req.request_id(), req.case_id()
                        ),
                    };
                    let conflict = crate::transport::Conflict {
                        case_id: req.case_id().as_str().to_owned(),
                        stored_sha256,
                        received_sha256,
                    };
                    // The dead letter's refusal reply tells the new sender.
                    self.dead_letter_with(msg, invalid, Some(conflict)).await;
                }
                Err(e) => {
                    // Not recorded, so not acknowledged: the broker keeps it.
                    error!(error = %e, "cannot record the request; it stays on the queue");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    self.give_back(msg).await;
                }
            }
        }
        .instrument(span)
        .await
    }

    /// Records a validated request, signed first when the certificate is
    /// valid now, so that the request and its envelope go to the case file
    /// in one change (otherwise the send task signs it once a valid
    /// certificate is installed).
    async fn record(
        &self,
        req: &crate::request::Request,
        route: crate::casefile::ReplyRoute,
    ) -> Result<Acceptance, StoreError> {
        // A register's own source takes no SMEV envelope.
        // A request with attachments is signed by the send task, once
        // they are prepared and uploaded.
        let signed = if self.key_usable()
            && self.direct_route(req.kind()).is_none()
            && req.attachments().is_empty()
        {
            let mid = crate::smev::new_message_id();
            self.sign_envelope(req, &mid, Vec::new())
                .ok()
                .map(|e| (mid.to_string(), e))
        } else {
            None
        };
        let store = self.store.clone();
        let r = req.clone();
        let signed_id = signed.as_ref().map(|(m, _)| m.clone());
        // A store that cannot write holds the delivery here,
        // unacknowledged and not returned, until it can.
        let signed = Arc::new(signed);
        let (accepted, retried) = self
            .durably_in_place(move |how| {
                let (store, r, route, signed) =
                    (store.clone(), r.clone(), route.clone(), signed.clone());
                async move {
                    let signed = signed.as_ref().as_ref();
                    let signed = signed.map(|(mid, envelope)| (mid.as_str(), envelope.as_slice()));
                    store.accept_as(how, &r, route, signed).await
                }
            })
            .await;
        match accepted {
            // An earlier try failed after writing our own record.
            Ok(Acceptance::Existing(rec))
                if retried
                    && rec.state == crate::casefile::State::Accepted
                    && rec.message_id == signed_id
                    && rec.owner.as_deref() == Some(self.store.instance_id()) =>
            {
                Ok(Acceptance::New(rec))
            }
            other => other,
        }
    }

    /// Returns a delivery to the queue unprocessed.
    async fn give_back(&self, msg: &Incoming) {
        if let Err(e) = self.outbox.requeue(msg).await {
            warn!(error = %e, "cannot return the message to the queue; the broker will once the connection closes");
        }
    }

    async fn ack(&self, msg: &Incoming) {
        if let Err(e) = self.outbox.ack(msg).await {
            // Recorded but not acknowledged: a redelivery finds the record.
            warn!(error = %e, "acknowledgement failed; a redelivery will be recognised");
        }
    }

    async fn dead_letter(&self, msg: &Incoming, invalid: Invalid) {
        self.dead_letter_with(msg, invalid, None).await;
    }

    /// As [`Gateway::dead_letter`], with the digests of a reused id; true
    /// when the letter was published (and the delivery acknowledged).
    async fn dead_letter_with(
        &self,
        msg: &Incoming,
        invalid: Invalid,
        conflict: Option<crate::transport::Conflict>,
    ) -> bool {
        warn!(code = %invalid.code, field = %invalid.field, reason = %invalid.message, "refused; to the dead-letter queue");
        let mut letter = DeadLetter::new(invalid, msg);
        letter.conflict = conflict;
        match self.outbox.publish_dead(&letter).await {
            Ok(()) => {
                if !self.answer_refusal(msg, &letter).await {
                    warn!(
                        "stopping before the refusal was replied; the message goes back to the queue"
                    );
                    self.give_back(msg).await;
                    return false;
                }
                self.metrics.refused.inc(&[letter.reason.code.as_str()]);
                self.ledger.note_dead_letter(&letter.reason);
                self.ack(msg).await;
                true
            }
            Err(e) => {
                error!(error = %e, "cannot publish the dead letter; the message stays on the queue");
                self.give_back(msg).await;
                false
            }
        }
    }

    /// Writes the result, if the request is in one of the states `from`,
    /// and replies.
    async fn finish(
        &self,
        rec: StateRecord,
        from: &'static [crate::casefile::State],
        outcome: Outcome,
    ) {
        let outcome = vs::with_smev_outcome(rec.kind, outcome);
        self.waiting
            .lock()
            .expect("waiting lock")
            .remove(&rec.request_id);
        let verdict = outcome.verdict;
        let store = self.store.clone();
        let id = rec.request_id;
        // A store that cannot write holds the result here until it can.
        let (written, retried) = self
            .durably_in_place(move |how| {
                let (store, mut r, outcome) = (store.clone(), rec.clone(), outcome.clone());
                async move {
                    store
                        .complete_from_as(how, &mut r, from, outcome)
                        .await
                        .map(|res| (r, res))
                }
            })
            .await;
        match written {
            Ok((rec, result)) => self.after_result(rec, result).await,
            // Written by the try that seemed to fail: reply.
            Err(StoreError::Superseded { .. }) if retried => self.reply_stored(id).await,
            // Whoever moved it on writes the result and replies.
            Err(e @ StoreError::Superseded { .. }) => info!(verdict = %verdict, "{e}"),
            Err(e) => error!(error = %e, "cannot write the result; it will be written on restart"),
        }
    }

    /// Replies with the stored result of request `id`, if it has one.
    async fn reply_stored(&self, id: uuid::Uuid) {
        let store = self.store.clone();
        match self
            .quickly(move |how| async move { store.load_as(how, &id).await })
            .await
        {
            Ok(Some(rec)) if rec.state.is_final() => self.reply(rec).await,
            Ok(_) => {}
            Err(e) => error!(error = %e, "cannot read the request back"),
        }
    }

    /// A result is written: tell the operators if it needs a fallback, and
    /// reply.
    async fn after_result(&self, rec: StateRecord, result: crate::casefile::ResultRecord) {
        self.waiting
            .lock()
            .expect("waiting lock")
            .remove(&rec.request_id);
        let o = &result.outcome;
        if result.fallback_required {
            let (reason, reason_ru) = match (&o.failure, &o.rejection, &o.note) {
                (Some(f), _, _) => (f.reason.clone(), f.reason_ru.clone()),
                (_, Some(r), _) => {
                    let r = format!("{} {}", r.code, r.text);
                    (r.clone(), r)
                }
                (_, _, Some(n)) => (n.clone(), o.note_ru.clone().unwrap_or_else(|| n.clone())),
                _ => (String::new(), String::new()),
            };
            self.ledger
                .note_fallback(&rec, o.verdict.as_str(), reason, reason_ru);
        }
        info!(verdict = %o.verdict, state = rec.state.as_str(), "result written");
        crate::failpoint::at("completed");
        self.reply_with(rec, Some(result)).await;
    }

    /// Publishes the stored result (again, if asked twice) and records it;
    /// tried until the broker confirms it, or until the gateway stops (the
    /// reply then goes out at the next start).
    async fn reply(&self, rec: StateRecord) {
        self.reply_with(rec, None).await
    }

    /// As [`Gateway::reply`], with the result at hand (else it is read).
    async fn reply_with(&self, rec: StateRecord, result: Option<crate::casefile::ResultRecord>) {
        if let Some(route) = rec.reply.adapter.clone() {
            return self.hold_for_adapter(rec, &route.it_system).await;
        }
        let result = match result {
            Some(r) => r,
            None => match self.store.load_result(&rec) {
                Ok(Some(res)) => res,
                Ok(None) => return error!("no result.json to reply with"),
                Err(e) => return error!(error = %e, "cannot read the result"),
            },
        };
        let body = serde_json::to_vec(&result).expect("results serialise");
        let id = rec.request_id.to_string();
        let reply = Reply {
            route: &rec.reply,
            routing_key: rec.kind.as_str().to_owned(),
            message_type: RESULT_TYPE,
            message_id: id.clone(),
            body: &body,
        };
        let Some(routed) = self.publish_confirmed(&reply, "the reply").await else {
            return warn!("stopping: the reply goes out at the next start");
        };
        crate::failpoint::at("replied-unrecorded");
        self.metrics.replies.inc(&[]);
        let answered = crate::casefile::Answered {
            at: clock::now(),
            route: rec.reply.clone(),
            via: self.count_routed(&routed, &rec.reply).into(),
        };
        let store = self.store.clone();
        let r = rec.clone();
        let (marked, _) = self
            .durably_in_place(move |how| {
                let (store, mut r, answered) = (store.clone(), r.clone(), answered.clone());
                async move { store.mark_replied_as(how, &mut r, answered).await }
            })
            .await;
        if let Err(e) = marked {
            warn!(error = %e, "reply published but not recorded; it may be sent again");
        }
        info!(verdict = %result.outcome.verdict, "replied")
    }

    /// Publishes `reply`, again and again with backoff until the broker
    /// confirms it; `None` when the gateway stops first.
    async fn publish_confirmed(&self, reply: &Reply<'_>, what: &str) -> Option<Routed> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            match self.outbox.publish_reply(reply).await {
                Ok(routed) => return Some(routed),
                Err(e) => {
                    let pause = self.settings.retry.backoff(attempt);
                    warn!(error = %e, attempt, retry_in_ms = pause.as_millis() as u64, "publishing {what} failed");
                    if self.pause(pause).await {
                        return None;
                    }
                }
            }
        }
    }

    /// Where a reply went, as recorded (`reply_to`, `results`, `spool`); a
    /// `reply_to` queue that does not exist is warned about, by name, and
    /// counted.
    fn count_routed(&self, routed: &Routed, route: &crate::casefile::ReplyRoute) -> &'static str {
        match routed {
            Routed::ReplyTo => "reply_to",
            Routed::Spool => "spool",
            Routed::Results {
                exchange,
                routing_key,
                missing: Some(queue),
            } => {
                self.metrics.replies_unroutable.inc(&[]);
                warn!(
                    reply_to = %queue,
                    correlation_id = route.correlation_id.as_deref().unwrap_or(""),
                    "the reply_to queue {queue} does not exist: the reply went to the exchange {exchange} (routing key {routing_key}) instead; a case system declares its reply queue before publishing"
                );
                "results"
            }
            Routed::Results { .. } => "results",
        }
    }

    /// A SOAP call through the circuit breaker; waiting for the breaker
    /// ends when the gateway stops, a call under way does not.
    async fn call(&self, op: Operation, body: Vec<u8>) -> Result<Vec<u8>, CallError> {
        self.call_typed(op, body, None).await
    }

    /// As `call`, with the body's content type (`None`: a SOAP envelope).
    async fn call_typed(
        &self,
        op: Operation,
        body: Vec<u8>,
        content_type: Option<String>,
    ) -> Result<Vec<u8>, CallError> {
        let permit = tokio::select! {
            p = self.client.breaker().admit() => p,
            _ = self.stopped() => return Err(CallError::Stopped),
        };
        let started = std::time::Instant::now();
        let result = self
            .client
            .call_admitted_with(permit, op, body, content_type.as_deref())
            .await;
        self.metrics
            .call_seconds
            .observe(&[op.as_str()], started.elapsed().as_secs_f64());
        let outcome = match &result {
            Ok(body) if looks_like_fault(body) => "soap_fault".to_owned(),
            Ok(_) => "ok".to_owned(),
            Err(ProviderError::Http { status, .. }) => format!("http_{status}"),
            Err(ProviderError::Timeout { .. }) => "timeout".to_owned(),
            Err(ProviderError::Connect { .. }) => "connection".to_owned(),
            Err(ProviderError::TooLarge) => "too_large".to_owned(),
            Err(ProviderError::Attachment(_)) => "attachment".to_owned(),
        };
        self.metrics.smev_calls.inc(&[op.as_str(), &outcome]);
        result.map_err(|e| {
            if e.is_retryable() {
                CallError::Retryable(e.to_string())
            } else {
                CallError::Permanent(e.to_string())
            }
        })
    }

    /// Where the attachment parts of answers wait until the answer is
    /// matched to its request and they move to its folder.
    fn attachment_staging(&self) -> std::path::PathBuf {
        self.settings.spool_dir().join("incoming-attachments")
    }

    /// `GetResponse`, accepting an MTOM answer: the envelope as the body,
    /// the attachment parts on disk.
    async fn call_get_response(
        &self,
        body: Vec<u8>,
    ) -> Result<(Vec<u8>, Option<crate::attachment::mtom::Received>), CallError> {
        let op = Operation::GetResponse;
        let permit = tokio::select! {
            p = self.client.breaker().admit() => p,
            _ = self.stopped() => return Err(CallError::Stopped),
        };
        let started = std::time::Instant::now();
        let staging = self.attachment_staging();
        let result = self
            .client
            .call_admitted_with_parts(
                permit,
                op,
                body,
                &staging,
                crate::attachment::Limits::default(),
            )
            .await;
        self.metrics
            .call_seconds
            .observe(&[op.as_str()], started.elapsed().as_secs_f64());
        let outcome = match &result {
            Ok((body, _)) if looks_like_fault(body) => "soap_fault".to_owned(),
            Ok(_) => "ok".to_owned(),
            Err(ProviderError::Http { status, .. }) => format!("http_{status}"),
            Err(ProviderError::Timeout { .. }) => "timeout".to_owned(),
            Err(ProviderError::Connect { .. }) => "connection".to_owned(),
            Err(ProviderError::TooLarge) => "too_large".to_owned(),
            Err(ProviderError::Attachment(_)) => "attachment".to_owned(),
        };
        self.metrics.smev_calls.inc(&[op.as_str(), &outcome]);
        result.map_err(|e| {
            if e.is_retryable() {
                CallError::Retryable(e.to_string())
            } else {
                CallError::Permanent(e.to_string())
            }
        })
    }

    /// Counts a SOAP fault SMEV answered `op` with.
    fn count_fault(&self, op: Operation, f: &crate::smev::SoapFault) {
        self.metrics.smev_faults.inc(&[
            op.as_str(),
            f.kind.element_name(),
            match f.class() {
                crate::smev::FaultClass::Retry => "retry",
                crate::smev::FaultClass::AlreadySent => "already_sent",
                crate::smev::FaultClass::NewMessageId => "new_message_id",
                crate::smev::FaultClass::NewEol => "new_eol",
                crate::smev::FaultClass::Permanent => "permanent",
            },
        ]);
    }

    /// Counts a signature made or checked.
    fn count_signature(&self, operation: &str, ok: bool) {
        self.metrics
            .signatures
            .inc(&[operation, if ok { "ok" } else { "failed" }]);
    }

    /// Spawns the send task of a request (tracked, so that shutdown waits
    /// for it). `permit` is its place among the unsent requests; without
    /// one it waits for one.
    fn spawn_send(
        self: &Arc<Self>,
        rec: StateRecord,
        req: crate::request::Request,
        permit: Option<OwnedSemaphorePermit>,
    ) {
        let guard = self.tasks.enter();
        let gw = self.clone();
        tokio::spawn(
            async move {
                let _guard = guard;
                let permit = match permit {
                    Some(p) => p,
                    None => tokio::select! {
                        p = gw.unsent_slots.clone().acquire_owned() => p.expect("the semaphore is never closed"),
                        _ = gw.stopped() => return,
                    },
                };
                gw.send(rec, req).await;
                drop(permit);
            }
            .in_current_span(),
        );
    }
}
