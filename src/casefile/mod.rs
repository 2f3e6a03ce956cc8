//! The case store: what was asked, what was sent, what came back and what it
//! means, for every request of every case, on disk.
//!
//! ```text
//! <cases_root>/<case_id>/journal.jsonl              one line per event, hash-chained
//! <cases_root>/<case_id>/<request_id>/request.json  the validated request
//!                                    /state.json    where the request is (write-ahead)
//!                                    /send-request.xml  the signed envelope exactly as sent
//!                                    /response.xml  the SMEV answer exactly as received
//!                                    /result.json   the verdict (also the reply)
//! <cases_root>/.index/requests/<request_id>         claim: which case holds it
//! <cases_root>/.index/messages/<message_id>         which request a SMEV message belongs to
//! <cases_root>/.index/open/<request_id>             requests without a final result or reply
//! <cases_root>/.orphans/<message_id>.xml            answers that match no request
//! ```
//!
//! Every state change is written (temp file, fsync, rename, fsync dir)
//! before the action it allows, so a restart resumes each request from its
//! last recorded state.

mod fsio;
pub mod instance;
pub mod journal;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::clock;
use crate::lookup::{Outcome, Verdict};
use crate::request::{Kind, LookupRequest};

pub use fsio::sha256_hex;
pub use instance::Instance;

pub const REQUEST_FILE: &str = "request.json";
pub const STATE_FILE: &str = "state.json";
pub const ENVELOPE_FILE: &str = "send-request.xml";
pub const RESPONSE_FILE: &str = "response.xml";
pub const RESULT_FILE: &str = "result.json";
/// States without a result.
pub const OPEN: &[State] = &[
    State::Accepted,
    State::Retrying,
    State::Sent,
    State::Overdue,
    State::Answered,
];
/// Not yet accepted by SMEV.
pub const UNSENT: &[State] = &[State::Accepted, State::Retrying];
/// Accepted by SMEV, the answer not here yet.
pub const WAITING: &[State] = &[State::Sent, State::Overdue];
/// The answer is stored.
pub const ANSWERED: &[State] = &[State::Answered];
/// Held (flock) while a request's state changes.
const LOCK_FILE: &str = ".lock";

/// Where a request is in its life:
///
/// ```text
/// accepted ─▶ sent ─▶ answered ─▶ completed
///    │  ▲       │        ▲   │
///    ▼  │       ▼        │   └─▶ failed
/// retrying    overdue ───┘
/// ```
///
/// `accepted` and `retrying` may also end `completed` (SMEV refused the
/// request for good: `rejected`) or `failed`; an answer may overtake SMEV's
/// acceptance (`accepted`/`retrying` → `answered`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum State {
    /// Recorded; not yet accepted by SMEV.
    Accepted,
    /// A send attempt failed in a way that may pass; the next one is due
    /// at `next_attempt_at`.
    Retrying,
    /// SMEV queued it; waiting for the answer.
    Sent,
    /// Still waiting, past the due date: the officer has been told.
    Overdue,
    /// The answer is stored; the result is not written yet.
    Answered,
    /// Final: a verdict is written.
    Completed,
    /// Final: it could not be done electronically; fall back to paper or
    /// the public register.
    Failed,
}

impl State {
    pub fn is_final(self) -> bool {
        matches!(self, State::Completed | State::Failed)
    }
    pub fn as_str(self) -> &'static str {
        match self {
            State::Accepted => "accepted",
            State::Retrying => "retrying",
            State::Sent => "sent",
            State::Overdue => "overdue",
            State::Answered => "answered",
            State::Completed => "completed",
            State::Failed => "failed",
        }
    }
}

/// Where the reply goes: the AMQP `reply_to` queue and `correlation_id`
/// the case system asked for, or (without them) the results exchange.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReplyRoute {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reply_to: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub correlation_id: Option<String>,
}

/// The durable state of one request (`state.json`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StateRecord {
    pub request_id: Uuid,
    pub case_id: String,
    pub kind: Kind,
    pub state: State,
    pub test: bool,
    #[serde(with = "clock::timestamp")]
    pub accepted_at: OffsetDateTime,
    /// The `MessageID` of the envelope, set before it is first sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message_id: Option<String>,
    #[serde(default)]
    pub send_attempts: u32,
    #[serde(
        default,
        with = "clock::opt_timestamp",
        skip_serializing_if = "Option::is_none"
    )]
    pub sent_at: Option<OffsetDateTime>,
    /// SMEV's `SendingTimestamp`: the deadline counts from it.
    #[serde(
        default,
        with = "clock::opt_timestamp",
        skip_serializing_if = "Option::is_none"
    )]
    pub sending_timestamp: Option<OffsetDateTime>,
    /// The last working day for the answer (5 working days from
    /// `sending_timestamp` on the production calendar).
    #[serde(
        default,
        with = "clock::opt_date",
        skip_serializing_if = "Option::is_none"
    )]
    pub due_date: Option<time::Date>,
    /// The end of `due_date`, Moscow time: past it, the request is overdue.
    #[serde(
        default,
        with = "clock::opt_timestamp",
        skip_serializing_if = "Option::is_none"
    )]
    pub due_at: Option<OffsetDateTime>,
    /// When the next send attempt is due (state `retrying`).
    #[serde(
        default,
        with = "clock::opt_timestamp",
        skip_serializing_if = "Option::is_none"
    )]
    pub next_attempt_at: Option<OffsetDateTime>,
    /// The instance working on it (see [`Instance`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
    #[serde(
        default,
        with = "clock::opt_timestamp",
        skip_serializing_if = "Option::is_none"
    )]
    pub answered_at: Option<OffsetDateTime>,
    #[serde(
        default,
        with = "clock::opt_timestamp",
        skip_serializing_if = "Option::is_none"
    )]
    pub completed_at: Option<OffsetDateTime>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verdict: Option<Verdict>,
    #[serde(default)]
    pub reply: ReplyRoute,
    #[serde(
        default,
        with = "clock::opt_timestamp",
        skip_serializing_if = "Option::is_none"
    )]
    pub replied_at: Option<OffsetDateTime>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
}

/// The normalised result of a request: `result.json` and the reply body.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ResultRecord {
    pub request_id: Uuid,
    pub case_id: String,
    pub kind: Kind,
    #[serde(flatten)]
    pub outcome: Outcome,
    /// The officer must get the information another way (paper request,
    /// public register), as the regulations require when the electronic
    /// route fails.
    pub fallback_required: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message_id: Option<String>,
    #[serde(
        default,
        with = "clock::opt_timestamp",
        skip_serializing_if = "Option::is_none"
    )]
    pub sending_timestamp: Option<OffsetDateTime>,
    /// The last working day the agency had to answer.
    #[serde(
        default,
        with = "clock::opt_date",
        skip_serializing_if = "Option::is_none"
    )]
    pub due_date: Option<time::Date>,
    /// The answer came after the due date.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub late: bool,
    #[serde(with = "clock::timestamp")]
    pub completed_at: OffsetDateTime,
    pub test: bool,
    /// The directory of the case file.
    pub case_file: String,
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("case store {path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("case store {path}: {message}")]
    Corrupt { path: String, message: String },
    /// Someone else (the poller, another instance) moved the request on
    /// first; the caller's view is stale and its change was not made.
    #[error("request {request_id} is already {state}: {action} not recorded")]
    Superseded {
        request_id: Uuid,
        state: &'static str,
        action: &'static str,
    },
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> StoreError + '_ {
    move |source| StoreError::Io {
        path: path.display().to_string(),
        source,
    }
}

/// The outcome of recording an incoming request.
#[derive(Debug)]
pub enum Acceptance {
    /// First time this `request_id` is seen; it is now recorded.
    New(StateRecord),
    /// Seen before (redelivery or a second publish): its current state.
    Existing(StateRecord),
    /// The `request_id` already belongs to another case.
    Conflict { case_id: String },
}

/// Told of every change the store records, after it is durable (metrics,
/// the operators' view of pending requests).
pub trait Observer: Send + Sync {
    /// `before` is the state the request had (`None`: it is new here).
    fn changed(&self, before: Option<State>, after: &StateRecord);
}

/// The case store rooted at `cases_root`, as one instance sees it.
#[derive(Clone)]
pub struct Store {
    root: PathBuf,
    instance: Arc<Instance>,
    observer: Option<Arc<dyn Observer>>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("root", &self.root)
            .field("instance", &self.instance.id)
            .finish()
    }
}

impl Store {
    /// Opens (creating) the store and checks that it is writable.
    pub fn open(root: &Path) -> Result<Self, StoreError> {
        for sub in [
            ".index/requests",
            ".index/messages",
            ".index/open",
            ".index/fallback",
            ".orphans",
        ] {
            let d = root.join(sub);
            fsio::create_dir_durable(&d).map_err(io(&d))?;
        }
        let instance = Instance::register(root).map_err(io(&root.join(instance::DIR)))?;
        let store = Store {
            root: root.to_owned(),
            instance: Arc::new(instance),
            observer: None,
        };
        store.check_writable()?;
        Ok(store)
    }

    /// Opens an existing store to read it only (`mezhved status`): no
    /// instance is registered, nothing is created.
    pub fn open_reader(root: &Path) -> Result<Self, StoreError> {
        let open = root.join(".index/open");
        if !open.is_dir() {
            return Err(StoreError::Corrupt {
                path: root.display().to_string(),
                message: "not a case store (no .index/open); has mezhved run here?".into(),
            });
        }
        Ok(Store {
            root: root.to_owned(),
            instance: Arc::new(Instance::reader(root)),
            observer: None,
        })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The same store, telling `observer` of every change it records.
    pub fn observed(mut self, observer: Arc<dyn Observer>) -> Self {
        self.observer = Some(observer);
        self
    }

    fn notify(&self, before: Option<State>, after: &StateRecord) {
        if let Some(o) = &self.observer {
            o.changed(before, after);
        }
    }

    /// This instance's id (the `owner` of the requests it works on).
    pub fn instance_id(&self) -> &str {
        &self.instance.id
    }

    /// The instances sharing this store that have ended since the last
    /// call (crashed or stopped): their requests are to be taken over.
    pub fn ended_instances(&self) -> Vec<String> {
        self.instance.ended()
    }

    /// Makes the request this instance's if no running instance owns it.
    /// Returns the stored record when it was taken now; `None` when it was
    /// already ours, a live instance has it, or it has a result and a
    /// confirmed reply.
    pub fn claim(&self, rec: &StateRecord) -> Result<Option<StateRecord>, StoreError> {
        let mut r = rec.clone();
        let me = self.instance.id.clone();
        let any = [
            State::Accepted,
            State::Retrying,
            State::Sent,
            State::Overdue,
            State::Answered,
            State::Completed,
            State::Failed,
        ];
        let result = self.transition(&mut r, "a claim", &any, |store, rec| {
            let previous = rec.owner.clone();
            match &previous {
                Some(o) if *o == me => return Ok(false),
                Some(o) if store.instance.is_alive(o) => return Ok(false),
                _ => {}
            }
            if rec.state.is_final() && rec.replied_at.is_some() {
                return Ok(false);
            }
            rec.owner = Some(me.clone());
            store.save(rec)?;
            let from = previous.unwrap_or_else(|| "nobody".into());
            store.journal(rec, "claimed", Some(format!("by {me}, from {from}")), &[])?;
            Ok(true)
        });
        match result {
            Ok(true) => Ok(Some(r)),
            Ok(false) | Err(StoreError::Superseded { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Whether `rec` is worked on by a running instance other than this one.
    pub fn owned_elsewhere(&self, rec: &StateRecord) -> bool {
        rec.owner
            .as_deref()
            .is_some_and(|o| o != self.instance.id && self.instance.is_alive(o))
    }

    /// Writes and removes a probe file.
    pub fn check_writable(&self) -> Result<(), StoreError> {
        let probe = self
            .root
            .join(".index")
            .join(format!(".probe-{}", fastrand::u64(..)));
        std::fs::write(&probe, b"ok").map_err(io(&probe))?;
        std::fs::remove_file(&probe).map_err(io(&probe))
    }

    pub fn case_dir(&self, case_id: &str) -> PathBuf {
        self.root.join(case_id)
    }

    pub fn request_dir(&self, rec: &StateRecord) -> PathBuf {
        self.case_dir(&rec.case_id).join(rec.request_id.to_string())
    }

    fn index(&self, kind: &str, name: &str) -> PathBuf {
        self.root.join(".index").join(kind).join(name)
    }

    /// Records a validated request (before its delivery is acknowledged).
    pub fn accept(&self, req: &LookupRequest, reply: ReplyRoute) -> Result<Acceptance, StoreError> {
        let rid = req.request_id.to_string();
        let claim = self.index("requests", &rid);
        let claimed =
            fsio::create_exclusive(&claim, req.case_id.as_str().as_bytes()).map_err(io(&claim))?;
        if !claimed {
            let owner = std::fs::read_to_string(&claim).map_err(io(&claim))?;
            if owner != req.case_id.as_str() {
                return Ok(Acceptance::Conflict { case_id: owner });
            }
            if let Some(existing) = self.load(&req.request_id)? {
                return Ok(Acceptance::Existing(existing));
            }
            // Claimed, but the crash came before the state was written:
            // the delivery was never acknowledged, so finish accepting it.
        }
        let rec = StateRecord {
            request_id: req.request_id,
            case_id: req.case_id.to_string(),
            kind: req.kind,
            state: State::Accepted,
            test: req.test,
            accepted_at: clock::now(),
            message_id: None,
            send_attempts: 0,
            sent_at: None,
            sending_timestamp: None,
            due_date: None,
            due_at: None,
            next_attempt_at: None,
            owner: Some(self.instance.id.clone()),
            answered_at: None,
            completed_at: None,
            verdict: None,
            reply,
            replied_at: None,
            last_error: None,
        };
        let dir = self.request_dir(&rec);
        fsio::create_dir_durable(&dir).map_err(io(&dir))?;
        let body = serde_json::to_vec_pretty(req).expect("requests serialise");
        fsio::atomic_write(&dir, REQUEST_FILE, &body).map_err(io(&dir))?;
        let open = self.index("open", &rid);
        fsio::create_exclusive(&open, b"").map_err(io(&open))?;
        self.save(&rec)?;
        self.journal(&rec, "accepted", None, &[(REQUEST_FILE, &body)])?;
        self.notify(None, &rec);
        Ok(Acceptance::New(rec))
    }

    /// Applies `change` to the stored record under the request's lock, if
    /// its state is one of `allowed`, and returns the result in `rec`. The
    /// stored record, not the caller's copy, is changed: the send task, the
    /// poller and other instances sharing the store each hold copies, and a
    /// stale copy must never move a request backwards, drop a field another
    /// wrote, or give it a second result. On refusal `rec` becomes the
    /// stored record.
    fn transition<T>(
        &self,
        rec: &mut StateRecord,
        action: &'static str,
        allowed: &[State],
        change: impl FnOnce(&Self, &mut StateRecord) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let dir = self.request_dir(rec);
        let lock_path = dir.join(LOCK_FILE);
        let lock = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(io(&lock_path))?;
        lock.lock().map_err(io(&lock_path))?;
        let mut stored = self.read_state(&dir)?;
        if !allowed.contains(&stored.state) {
            let state = stored.state.as_str();
            *rec = stored;
            return Err(StoreError::Superseded {
                request_id: rec.request_id,
                state,
                action,
            });
        }
        let before = stored.clone();
        let out = change(self, &mut stored)?;
        if stored != before {
            self.notify(Some(before.state), &stored);
        }
        *rec = stored;
        Ok(out)
    }

    fn read_state(&self, dir: &Path) -> Result<StateRecord, StoreError> {
        let path = dir.join(STATE_FILE);
        let data = std::fs::read(&path).map_err(io(&path))?;
        serde_json::from_slice(&data).map_err(|e| StoreError::Corrupt {
            path: path.display().to_string(),
            message: e.to_string(),
        })
    }

    /// Writes the state record.
    fn save(&self, rec: &StateRecord) -> Result<(), StoreError> {
        let dir = self.request_dir(rec);
        let data = serde_json::to_vec_pretty(rec).expect("state records serialise");
        fsio::atomic_write(&dir, STATE_FILE, &data).map_err(io(&dir))
    }

    fn journal(
        &self,
        rec: &StateRecord,
        event: &str,
        detail: Option<String>,
        documents: &[(&str, &[u8])],
    ) -> Result<(), StoreError> {
        let dir = self.case_dir(&rec.case_id);
        journal::append(
            &dir,
            journal::Entry {
                at: clock::rfc3339(clock::now()),
                request_id: rec.request_id.to_string(),
                event: event.to_owned(),
                detail,
                documents: documents
                    .iter()
                    .map(|(n, d)| ((*n).to_owned(), sha256_hex(d)))
                    .collect(),
                prev: String::new(),
                hash: String::new(),
            },
        )
        .map(|_| ())
        .map_err(io(&dir))
    }

    /// Records an event that changes nothing but the journal.
    pub fn note(
        &self,
        rec: &StateRecord,
        event: &str,
        detail: impl Into<String>,
    ) -> Result<(), StoreError> {
        self.journal(rec, event, Some(detail.into()), &[])
    }

    /// Stores the signed envelope and its `MessageID` before it is sent, so
    /// that a re-send after a crash uses the same message.
    pub fn record_envelope(
        &self,
        rec: &mut StateRecord,
        message_id: &str,
        envelope: &[u8],
    ) -> Result<(), StoreError> {
        self.transition(rec, "signing", UNSENT, |store, rec| {
            let dir = store.request_dir(rec);
            fsio::atomic_write(&dir, ENVELOPE_FILE, envelope).map_err(io(&dir))?;
            let idx = store.index("messages", message_id);
            let _ = fsio::create_exclusive(&idx, rec.request_id.to_string().as_bytes())
                .map_err(io(&idx))?;
            rec.message_id = Some(message_id.to_owned());
            store.save(rec)?;
            store.journal(
                rec,
                "signed",
                Some(format!("MessageID {message_id}")),
                &[(ENVELOPE_FILE, envelope)],
            )
        })
    }

    /// A send attempt failed and will be retried at `next`.
    pub fn record_attempt(
        &self,
        rec: &mut StateRecord,
        attempts: u32,
        error: &str,
        next: OffsetDateTime,
    ) -> Result<(), StoreError> {
        self.transition(rec, "a send attempt", UNSENT, |store, rec| {
            rec.state = State::Retrying;
            rec.send_attempts = attempts;
            rec.last_error = Some(error.to_owned());
            rec.next_attempt_at = Some(next);
            store.save(rec)?;
            let detail = format!(
                "attempt {attempts} failed: {error}; next at {}",
                clock::rfc3339(next)
            );
            store.journal(rec, "retrying", Some(detail), &[])
        })
    }

    /// SMEV accepted the request.
    /// SMEV accepted the request at `sending_timestamp` (or now, when it
    /// did not say); the answer is due by `due` (see [`crate::calendar`]).
    pub fn record_sent(
        &self,
        rec: &mut StateRecord,
        sending_timestamp: Option<OffsetDateTime>,
        due: impl FnOnce(OffsetDateTime) -> crate::calendar::Due,
    ) -> Result<(), StoreError> {
        // An answer can overtake SMEV's acceptance (the acceptance was slow
        // or lost): then the request is already further on.
        let allowed = [State::Accepted, State::Retrying, State::Sent];
        self.transition(rec, "sending", &allowed, |store, rec| {
            let now = clock::now();
            let sent = sending_timestamp.or(rec.sending_timestamp).unwrap_or(now);
            let d = due(sent);
            rec.state = State::Sent;
            rec.sent_at = rec.sent_at.or(Some(now));
            rec.sending_timestamp = Some(sent);
            rec.due_date = Some(d.last_day);
            rec.due_at = Some(d.overdue_after);
            rec.next_attempt_at = None;
            rec.last_error = None;
            store.save(rec)?;
            let detail = format!(
                "MessageID {}; answer due by {}",
                rec.message_id.as_deref().unwrap_or("?"),
                clock::iso_date(d.last_day)
            );
            store.journal(rec, "sent", Some(detail), &[])
        })
    }

    /// The answer is late: still awaited, and the officer is told.
    pub fn mark_overdue(&self, rec: &mut StateRecord) -> Result<(), StoreError> {
        self.transition(rec, "overdue", &[State::Sent], |store, rec| {
            rec.state = State::Overdue;
            store.save(rec)?;
            let due = rec.due_date.map(clock::iso_date).unwrap_or_default();
            store.journal(rec, "overdue", Some(format!("no answer by {due}")), &[])
        })
    }

    /// Stores the answer exactly as received.
    pub fn record_response(
        &self,
        rec: &mut StateRecord,
        response: &[u8],
    ) -> Result<(), StoreError> {
        let allowed = [
            State::Accepted,
            State::Retrying,
            State::Sent,
            State::Overdue,
        ];
        self.transition(rec, "an answer", &allowed, |store, rec| {
            let dir = store.request_dir(rec);
            fsio::atomic_write(&dir, RESPONSE_FILE, response).map_err(io(&dir))?;
            rec.state = State::Answered;
            rec.answered_at = Some(clock::now());
            store.save(rec)?;
            store.journal(rec, "answered", None, &[(RESPONSE_FILE, response)])
        })
    }

    /// An intermediate status instead of the answer: back to waiting.
    pub fn record_interim(&self, rec: &mut StateRecord, what: String) -> Result<(), StoreError> {
        self.transition(rec, "a status", ANSWERED, |store, rec| {
            let late = rec.due_at.is_some_and(|d| clock::now() > d);
            rec.state = if late { State::Overdue } else { State::Sent };
            store.save(rec)?;
            store.journal(rec, "status", Some(what), &[])
        })
    }

    /// Writes the result and the final state.
    pub fn complete(
        &self,
        rec: &mut StateRecord,
        outcome: Outcome,
    ) -> Result<ResultRecord, StoreError> {
        self.complete_from(rec, OPEN, outcome)
    }

    /// Writes the result if the request is in one of the states `from`:
    /// the send task ends only unsent requests ([`UNSENT`]), the poller only
    /// answered ones ([`ANSWERED`]), so neither overrides the other.
    pub fn complete_from(
        &self,
        rec: &mut StateRecord,
        from: &[State],
        outcome: Outcome,
    ) -> Result<ResultRecord, StoreError> {
        self.transition(rec, "a result", from, |store, rec| {
            store.write_result(rec, outcome)
        })
    }

    fn write_result(
        &self,
        rec: &mut StateRecord,
        outcome: Outcome,
    ) -> Result<ResultRecord, StoreError> {
        let now = clock::now();
        let result = ResultRecord {
            request_id: rec.request_id,
            case_id: rec.case_id.clone(),
            kind: rec.kind,
            fallback_required: outcome.verdict.needs_fallback(),
            outcome,
            message_id: rec.message_id.clone(),
            sending_timestamp: rec.sending_timestamp,
            due_date: rec.due_date,
            late: rec
                .due_at
                .is_some_and(|d| rec.answered_at.unwrap_or(now) > d),
            completed_at: now,
            test: rec.test,
            case_file: self.request_dir(rec).display().to_string(),
        };
        let dir = self.request_dir(rec);
        let data = serde_json::to_vec_pretty(&result).expect("results serialise");
        fsio::atomic_write(&dir, RESULT_FILE, &data).map_err(io(&dir))?;
        if result.fallback_required {
            // For `mezhved status`: what needs an officer's fallback, by time.
            let idx = self.index("fallback", &rec.request_id.to_string());
            std::fs::write(&idx, rec.case_id.as_bytes()).map_err(io(&idx))?;
        }
        rec.state = if result.outcome.verdict == Verdict::Failed {
            State::Failed
        } else {
            State::Completed
        };
        rec.verdict = Some(result.outcome.verdict);
        rec.completed_at = Some(now);
        self.save(rec)?;
        let detail = match (&result.outcome.failure, &result.outcome.rejection) {
            (Some(f), _) => format!("{}: {}", result.outcome.verdict, f.reason),
            (_, Some(r)) => format!("{}: {} {}", result.outcome.verdict, r.code, r.text),
            _ => result.outcome.verdict.to_string(),
        };
        self.journal(
            rec,
            rec.state.as_str(),
            Some(detail),
            &[(RESULT_FILE, &data)],
        )?;
        Ok(result)
    }

    /// The reply was published (and confirmed by the broker).
    pub fn mark_replied(&self, rec: &mut StateRecord) -> Result<(), StoreError> {
        let done = [State::Completed, State::Failed];
        self.transition(rec, "a reply", &done, |store, rec| store.write_replied(rec))
    }

    fn write_replied(&self, rec: &mut StateRecord) -> Result<(), StoreError> {
        let first = rec.replied_at.is_none();
        rec.replied_at = Some(clock::now());
        self.save(rec)?;
        let open = self.index("open", &rec.request_id.to_string());
        match std::fs::remove_file(&open) {
            Ok(()) => fsio::sync_dir(open.parent().expect("index file has a parent"))
                .map_err(io(&open))?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(io(&open)(e)),
        }
        self.journal(
            rec,
            if first { "replied" } else { "replied_again" },
            None,
            &[],
        )
    }

    pub fn load(&self, request_id: &Uuid) -> Result<Option<StateRecord>, StoreError> {
        let claim = self.index("requests", &request_id.to_string());
        let case_id = match std::fs::read_to_string(&claim) {
            Ok(c) => c,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(io(&claim)(e)),
        };
        let path = self
            .case_dir(&case_id)
            .join(request_id.to_string())
            .join(STATE_FILE);
        match std::fs::read(&path) {
            Ok(data) => serde_json::from_slice(&data)
                .map(Some)
                .map_err(|e| StoreError::Corrupt {
                    path: path.display().to_string(),
                    message: e.to_string(),
                }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io(&path)(e)),
        }
    }

    fn read_file(&self, rec: &StateRecord, name: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let path = self.request_dir(rec).join(name);
        match std::fs::read(&path) {
            Ok(d) => Ok(Some(d)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io(&path)(e)),
        }
    }

    /// The stored request, validated again as on arrival.
    pub fn load_request(&self, rec: &StateRecord) -> Result<LookupRequest, StoreError> {
        let path = self.request_dir(rec).join(REQUEST_FILE);
        let data = self
            .read_file(rec, REQUEST_FILE)?
            .ok_or_else(|| StoreError::Corrupt {
                path: path.display().to_string(),
                message: "request.json is missing".into(),
            })?;
        // The stored form passed validation once; `as_of` was not in the
        // future then, so today is no tighter bound than it was.
        crate::request::parse_request(
            &data,
            clock::moscow_today()
                .next_day()
                .unwrap_or(clock::moscow_today()),
        )
        .map_err(|e| StoreError::Corrupt {
            path: path.display().to_string(),
            message: e.to_string(),
        })
    }

    pub fn load_envelope(&self, rec: &StateRecord) -> Result<Option<Vec<u8>>, StoreError> {
        self.read_file(rec, ENVELOPE_FILE)
    }

    pub fn load_response(&self, rec: &StateRecord) -> Result<Option<Vec<u8>>, StoreError> {
        self.read_file(rec, RESPONSE_FILE)
    }

    pub fn load_result(&self, rec: &StateRecord) -> Result<Option<ResultRecord>, StoreError> {
        let path = self.request_dir(rec).join(RESULT_FILE);
        match self.read_file(rec, RESULT_FILE)? {
            None => Ok(None),
            Some(d) => serde_json::from_slice(&d)
                .map(Some)
                .map_err(|e| StoreError::Corrupt {
                    path: path.display().to_string(),
                    message: e.to_string(),
                }),
        }
    }

    /// The request a SMEV `MessageID` was sent for.
    pub fn find_by_message(&self, message_id: &str) -> Result<Option<StateRecord>, StoreError> {
        // A message id from the network names a file: only a UUID may.
        if Uuid::parse_str(message_id).is_err() {
            return Ok(None);
        }
        let idx = self.index("messages", message_id);
        match std::fs::read_to_string(&idx) {
            Ok(rid) => match Uuid::parse_str(rid.trim()) {
                Ok(id) => self.load(&id),
                Err(_) => Err(StoreError::Corrupt {
                    path: idx.display().to_string(),
                    message: "not a request id".into(),
                }),
            },
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io(&idx)(e)),
        }
    }

    /// Requests without a final result, or whose reply is not yet confirmed.
    pub fn open_requests(&self) -> Result<Vec<StateRecord>, StoreError> {
        let dir = self.root.join(".index/open");
        let mut out = Vec::new();
        for entry in std::fs::read_dir(&dir).map_err(io(&dir))? {
            let entry = entry.map_err(io(&dir))?;
            let Some(id) = entry
                .file_name()
                .to_str()
                .and_then(|s| Uuid::parse_str(s).ok())
            else {
                continue;
            };
            if let Some(rec) = self.load(&id)? {
                out.push(rec);
            }
        }
        out.sort_by_key(|r| r.accepted_at);
        Ok(out)
    }

    /// Results that need the officer's fallback (failed, rejected,
    /// unknown) written since `since`, newest first; entries older than
    /// `keep` are removed on the way.
    pub fn recent_fallbacks(
        &self,
        since: std::time::SystemTime,
        keep: std::time::Duration,
    ) -> Result<Vec<ResultRecord>, StoreError> {
        let dir = self.root.join(".index/fallback");
        let now = std::time::SystemTime::now();
        let mut found = Vec::new();
        for entry in std::fs::read_dir(&dir).map_err(io(&dir))? {
            let entry = entry.map_err(io(&dir))?;
            let Ok(modified) = entry.metadata().and_then(|m| m.modified()) else {
                continue;
            };
            if now.duration_since(modified).unwrap_or_default() > keep {
                let _ = std::fs::remove_file(entry.path());
                continue;
            }
            if modified < since {
                continue;
            }
            let Some(id) = entry
                .file_name()
                .to_str()
                .and_then(|s| Uuid::parse_str(s).ok())
            else {
                continue;
            };
            if let Some(rec) = self.load(&id)?
                && let Some(result) = self.load_result(&rec)?
            {
                found.push(result);
            }
        }
        found.sort_by_key(|r| std::cmp::Reverse(r.completed_at));
        Ok(found)
    }

    /// Keeps an answer that matches no request, for the operator.
    pub fn store_orphan(&self, message_id: &str, data: &[u8]) -> Result<PathBuf, StoreError> {
        let dir = self.root.join(".orphans");
        let name = match Uuid::parse_str(message_id) {
            Ok(u) => format!("{u}.xml"),
            Err(_) => format!("unnamed-{}.xml", sha256_hex(data)),
        };
        fsio::atomic_write(&dir, &name, data).map_err(io(&dir))?;
        Ok(dir.join(name))
    }
}

#[cfg(test)]
mod tests;
