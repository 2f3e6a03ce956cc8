//! The case store: what was asked, what was sent, what came back and what it
//! means, for every request of every case, on disk.
//!
//! ```text
//! <cases_root>/<case_id>/journal.jsonl              one line per event, hash-chained
//! <cases_root>/<case_id>/<request_id>/request.json  the validated request
//!                                    /state.json    where the request is (a copy)
//!                                    /send-request.xml  the signed envelope exactly as sent
//!                                    /response.xml  the SMEV answer exactly as received
//!                                    /result.json   the verdict (also the reply)
//! <cases_root>/.orphans/<message_id>.xml            answers that match no request
//! ```
//!
//! Where the state, the idempotency keys and the journal are kept is the
//! backend's: the case directories themselves (`files`: the journal is the
//! write-ahead log, indexes are symbolic links under `.index/`) or
//! PostgreSQL (`pg`: one transaction per change, for several daemons on
//! several hosts). Either way a change is durable before the action it
//! allows (documents first, then the state that names them; durable
//! changes wait for a group commit shared across requests), so a restart
//! resumes each request from its last recorded state.

pub mod adapter_index;
mod backend;
mod files;
pub(crate) mod fsio;
mod groupsync;
pub mod instance;
pub mod journal;
mod pg;
#[cfg(test)]
mod pg_tests;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::clock;
use crate::lookup::{Outcome, Verdict};
use crate::request::{Kind, Request};
use backend::Backend;

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
    /// Came through the adapter interface: the answer is held for that
    /// information system's `Find` and `Get` instead of being published.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub adapter: Option<AdapterRoute>,
}

/// Who sent a request through the adapter interface.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AdapterRoute {
    pub it_system: String,
    pub client_id: String,
}

/// A status SMEV or the provider reported about a request on its way
/// (`GetStatus`, `RequestStatus`): kept with the request and in its result.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StatusNote {
    #[serde(with = "clock::timestamp")]
    pub at: OffsetDateTime,
    /// `GetStatus` or `RequestStatus`.
    pub source: String,
    /// `requestIsAcceptedBySmev`…, or the provider's status code.
    pub category: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub details: Option<String>,
    /// The document it was stored in, in the request's directory.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub document: Option<String>,
}

impl ReplyRoute {
    /// `reply_to q (correlation_id c)`, for the journal.
    pub fn describe(&self) -> String {
        let corr = self
            .correlation_id
            .as_deref()
            .map(|c| format!(" (correlation_id {c})"))
            .unwrap_or_default();
        match &self.reply_to {
            Some(q) => format!("reply_to {q}{corr}"),
            None => format!("the results exchange{corr}"),
        }
    }
}

/// A reply the broker confirmed, and where it went.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Answered {
    #[serde(with = "clock::timestamp")]
    pub at: OffsetDateTime,
    /// The route the reply was published for.
    #[serde(flatten)]
    pub route: ReplyRoute,
    /// Where the broker took it: `reply_to` (that queue), `results` (the
    /// results exchange: no `reply_to`, or that queue did not exist) or
    /// `spool`.
    pub via: String,
}

/// How many distinct routes a request's state keeps (the journal keeps
/// every reply).
pub const ANSWERED_KEPT: usize = 20;

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
    /// The routes replies went to, oldest first, each route once (the
    /// latest [`ANSWERED_KEPT`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub replied_to: Vec<Answered>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    /// Statuses reported on the way, oldest first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub statuses: Vec<StatusNote>,
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
    /// The statuses SMEV and the provider reported before the result.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub smev_statuses: Vec<StatusNote>,
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

/// `root` as an absolute path, so that the case files are named in full
/// wherever they are reported (`case_file` in results).
fn absolute(root: &Path) -> Result<PathBuf, StoreError> {
    std::path::absolute(root).map_err(io(root))
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
    /// The `request_id` already names another request of the same case
    /// (other subject, kind or details): digests of the stored
    /// `request.json` and of this request in the same form.
    Reused {
        stored_sha256: String,
        received_sha256: String,
    },
}

/// Told of every change the store records, after it is durable (metrics,
/// the operators' view of pending requests).
pub trait Observer: Send + Sync {
    /// `before` is the state the request had (`None`: it is new here).
    fn changed(&self, before: Option<State>, after: &StateRecord);
}

/// A journal line of a change: event, detail, `file name → sha256` of its
/// documents.
pub(crate) type Line = (&'static str, Option<String>, Vec<(String, String)>);

/// One recorded change: the new state, its journal event, and what the
/// indexes must say about it. Its documents are on disk before it.
pub(crate) struct Commit {
    pub rec: StateRecord,
    pub event: &'static str,
    pub detail: Option<String>,
    /// `file name → sha256` of the documents written with this change.
    pub documents: Vec<(String, String)>,
    /// Journal lines recorded before the main one, in the same change
    /// (`answered` before `completed`): event, detail, documents.
    pub earlier: Vec<Line>,
    /// Index this SMEV `MessageID` to the request.
    pub message_id: Option<String>,
    /// The request is now open (accepted).
    pub open: bool,
    /// No longer open: its result is written and its reply confirmed.
    pub closed: bool,
    /// Its result needs the officer's fallback.
    pub fallback: bool,
    /// Waited for until durable. Changes whose loss only repeats a step
    /// that is safe to repeat are not waited for (`sent`: the re-send
    /// with the same `MessageID` is answered `MessageIsAlreadySent`;
    /// `replied`: the same reply again); the next flush takes them.
    pub durable: bool,
}

impl Commit {
    /// The journal lines of this change, each with the new state.
    pub(crate) fn entries(&self) -> Vec<journal::Entry> {
        let line =
            |event: &str, detail: &Option<String>, documents: &[(String, String)]| journal::Entry {
                at: clock::rfc3339(clock::now()),
                request_id: self.rec.request_id.to_string(),
                event: event.to_owned(),
                detail: detail.clone(),
                documents: documents.to_vec(),
                state: Some(Box::new(self.rec.clone())),
                prev: String::new(),
                hash: String::new(),
            };
        let mut out: Vec<_> = self
            .earlier
            .iter()
            .map(|(e, d, docs)| line(e, d, docs))
            .collect();
        out.push(line(self.event, &self.detail, &self.documents));
        out
    }
}

/// What a transition changes besides the record itself.
struct Change<'d> {
    event: &'static str,
    detail: Option<String>,
    documents: Vec<(std::borrow::Cow<'static, str>, std::borrow::Cow<'d, [u8]>)>,
    /// Lines before the main one, with the names of their documents.
    earlier: Vec<(&'static str, Option<String>, Vec<&'static str>)>,
    message_id: Option<String>,
    /// Open again (a reply to a new route is due).
    open: bool,
    closed: bool,
    fallback: bool,
    durable: bool,
}

impl<'d> Change<'d> {
    fn new(event: &'static str, detail: Option<String>) -> Self {
        Change {
            event,
            detail,
            documents: Vec::new(),
            earlier: Vec::new(),
            message_id: None,
            open: false,
            closed: false,
            fallback: false,
            durable: true,
        }
    }

    /// Not waited for: see [`Commit::durable`].
    fn lazily(mut self) -> Self {
        self.durable = false;
        self
    }

    fn with_document(
        mut self,
        name: impl Into<std::borrow::Cow<'static, str>>,
        data: impl Into<std::borrow::Cow<'d, [u8]>>,
    ) -> Self {
        self.documents.push((name.into(), data.into()));
        self
    }
}

/// The result of `rec` from `outcome`: the record, its bytes, and the
/// change that writes it (the final state is set on `rec`).
fn result_change(
    rec: &mut StateRecord,
    outcome: Outcome,
    case_file: String,
) -> (ResultRecord, Vec<u8>, Change<'static>) {
    crate::failpoint::gate("result");
    let now = clock::now();
    let outcome = outcome.localised();
    let r = ResultRecord {
        request_id: rec.request_id,
        case_id: rec.case_id.clone(),
        kind: rec.kind,
        fallback_required: outcome.needs_fallback(),
        outcome,
        message_id: rec.message_id.clone(),
        sending_timestamp: rec.sending_timestamp,
        due_date: rec.due_date,
        late: rec
            .due_at
            .is_some_and(|d| rec.answered_at.unwrap_or(now) > d),
        completed_at: now,
        test: rec.test,
        case_file,
        smev_statuses: rec.statuses.clone(),
    };
    let data = serde_json::to_vec_pretty(&r).expect("results serialise");
    rec.state = if r.outcome.verdict == Verdict::Failed {
        State::Failed
    } else {
        State::Completed
    };
    rec.verdict = Some(r.outcome.verdict);
    rec.completed_at = Some(now);
    let detail = match (&r.outcome.failure, &r.outcome.rejection) {
        (Some(f), _) => format!("{}: {}", r.outcome.verdict, f.reason),
        (_, Some(j)) => format!("{}: {} {}", r.outcome.verdict, j.code, j.text),
        _ => r.outcome.verdict.to_string(),
    };
    let mut c = Change::new(rec.state.as_str(), Some(detail));
    c.fallback = r.fallback_required;
    (r, data, c)
}

/// What a transition came to, under the lock.
enum Decided {
    Refused(StateRecord, &'static str),
    Unchanged(StateRecord),
    Changed(State, StateRecord),
}

/// The case store rooted at `cases_root`, as one instance sees it.
#[derive(Clone)]
pub struct Store {
    root: PathBuf,
    backend: Arc<dyn Backend>,
    /// The same backend when it is the files store: changes made in place
    /// on the async runtime (see [`How::InPlace`]) use it directly.
    local: Option<Arc<files::Files>>,
    /// The same backend when it is PostgreSQL: changes made in place await
    /// its round trips (see [`How::InPlace`]).
    remote: Option<Arc<pg::Pg>>,
    sync: Arc<groupsync::GroupSync>,
    observer: Option<Arc<dyn Observer>>,
}

/// Where a store change runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum How {
    /// On a thread that may block: the request's lock and the group
    /// flushes are waited for there (any backend; the blocking pool, a
    /// command, a test).
    Blocking,
    /// On the async runtime: the lock, the flushes and (with PostgreSQL)
    /// the database's round trips are awaited, and the documents written
    /// in place (the page cache), so no thread is handed the change and
    /// none sits waiting for its flush or its answer. A store that cannot
    /// (one opened to read only) takes it as [`How::Blocking`].
    InPlace,
}

/// Runs a store future made with [`How::Blocking`]: it never waits for
/// anything but the thread it runs on, so it is ready when first polled.
pub(crate) fn at_once<T>(f: impl std::future::Future<Output = T>) -> T {
    let mut f = std::pin::pin!(f);
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    match f.as_mut().poll(&mut cx) {
        std::task::Poll::Ready(v) => v,
        std::task::Poll::Pending => unreachable!("a blocking store call does not wait"),
    }
}

/// Runs a wait for another thread: another writer's lock, or the database
/// driver's answer to a synchronous call. On a thread of the async runtime
/// (a change made in place there, see `Gateway::quickly`) the runtime is
/// told first, so that what is waited for, which may be a task awaiting
/// its flush with the lock held or the connection the call needs, runs on
/// another thread meanwhile instead of waiting behind this one.
fn wait_off_runtime<T>(wait: impl FnOnce() -> T) -> T {
    match tokio::runtime::Handle::try_current() {
        Ok(h) if h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => {
            tokio::task::block_in_place(wait)
        }
        _ => wait(),
    }
}

/// What a locked section decided to record: the documents to write
/// (durable before the state that names them) and the change.
struct Plan<'d> {
    dir: PathBuf,
    documents: Vec<(std::borrow::Cow<'static, str>, std::borrow::Cow<'d, [u8]>)>,
    commit: Commit,
}

impl Plan<'_> {
    /// Writes the documents; whether there were any (then a flush must
    /// make them durable before the change is recorded).
    fn write_documents(&self) -> Result<bool, StoreError> {
        for (name, data) in &self.documents {
            fsio::write_document(&self.dir, name, data).map_err(io(&self.dir))?;
        }
        Ok(!self.documents.is_empty())
    }
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("root", &self.root)
            .field("instance", &self.instance_id())
            .finish()
    }
}

/// How long an acceptance waits for the state of a request another
/// instance has claimed before taking it as left by a crash.
const CLAIM_SETTLE: std::time::Duration = std::time::Duration::from_secs(5);

/// Every state: a claim may take a request in any of them.
const ANY: &[State] = &[
    State::Accepted,
    State::Retrying,
    State::Sent,
    State::Overdue,
    State::Answered,
    State::Completed,
    State::Failed,
];

impl Store {
    /// Opens (creating) the file store and checks that it is writable.
    pub fn open(root: &Path) -> Result<Self, StoreError> {
        let root = &absolute(root)?;
        fsio::create_dir_durable(root).map_err(io(root))?;
        let sync = Arc::new(groupsync::GroupSync::new(root).map_err(io(root))?);
        let files = Arc::new(files::Files::open(root, sync.clone())?);
        let store = Store {
            root: root.to_owned(),
            backend: files.clone(),
            local: Some(files),
            remote: None,
            sync,
            observer: None,
        };
        store.check_writable()?;
        Ok(store)
    }

    /// Opens the store the settings name (`[store] backend`), creating it;
    /// with PostgreSQL the schema is migrated first.
    pub fn from_settings(settings: &crate::config::Settings) -> Result<Self, StoreError> {
        Self::open_configured(settings, false)
    }

    /// As [`Store::from_settings`], to read only: no instance registered.
    pub fn reader_from_settings(settings: &crate::config::Settings) -> Result<Self, StoreError> {
        Self::open_configured(settings, true)
    }

    fn open_configured(
        settings: &crate::config::Settings,
        reader: bool,
    ) -> Result<Self, StoreError> {
        let root = &settings.gateway.cases_root;
        let st = &settings.store;
        if !st.is_postgres() {
            return if reader {
                Self::open_reader(root)
            } else {
                Self::open(root)
            };
        }
        Self::open_postgres(
            root,
            pg::Target::from_settings(st),
            &st.postgres_schema,
            st.postgres_pool,
            reader,
        )
    }

    /// The store with its state in PostgreSQL (`target`: the database and
    /// the CA its certificate is checked against; `schema`; at most `pool`
    /// connections) and its documents under `root`.
    fn open_postgres(
        root: &Path,
        target: pg::Target,
        schema: &str,
        pool: usize,
        reader: bool,
    ) -> Result<Self, StoreError> {
        let root = &absolute(root)?;
        let orphans = root.join(".orphans");
        fsio::create_dir_durable(&orphans).map_err(io(&orphans))?;
        let backend = Arc::new(pg::Pg::open(target, schema, pool, reader)?);
        let store = Store {
            root: root.to_owned(),
            backend: backend.clone(),
            local: None,
            remote: Some(backend),
            sync: Arc::new(groupsync::GroupSync::new(root).map_err(io(root))?),
            observer: None,
        };
        if !reader {
            store.check_writable()?;
        }
        Ok(store)
    }

    /// With `[store] backend = "postgres"`: whether the database answers
    /// and where its schema stands (`mezhved check-config`; changes
    /// nothing). `None` with the files backend.
    pub fn probe_database(settings: &crate::config::Settings) -> Option<Result<String, String>> {
        let st = &settings.store;
        st.is_postgres().then(|| {
            let target = pg::Target::from_settings(st);
            let schema = st.postgres_schema.clone();
            // The client waits for a runtime of its own: not on an async
            // thread.
            std::thread::spawn(move || pg::probe(target, &schema))
                .join()
                .unwrap_or_else(|_| Err("the database probe failed".into()))
        })
    }

    /// Which backend keeps the state: `files` or `postgres`.
    pub fn backend_name(&self) -> &'static str {
        self.backend.name()
    }

    /// Removes the PostgreSQL schema (tests of the PostgreSQL store).
    pub fn drop_postgres_schema(&self) -> Result<(), StoreError> {
        self.backend.drop_external()
    }

    /// The journal of case `case_id`, its hash chain checked.
    pub fn journal_of(&self, case_id: &str) -> Result<Vec<journal::Entry>, StoreError> {
        self.backend.journal(case_id)
    }

    /// Opens an existing store to read it only (`mezhved status`): no
    /// instance is registered, nothing is created.
    pub fn open_reader(root: &Path) -> Result<Self, StoreError> {
        let root = &absolute(root)?;
        files::Files::is_store(root)?;
        let sync = Arc::new(groupsync::GroupSync::new(root).map_err(io(root))?);
        Ok(Store {
            root: root.to_owned(),
            backend: Arc::new(files::Files::reader(root, sync.clone())?),
            // Reads only: nothing is changed in place.
            local: None,
            remote: None,
            sync,
            observer: None,
        })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Group flushes made, and the durability waits they served.
    pub fn flush_stats(&self) -> (u64, u64) {
        self.sync.stats()
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
        self.backend.instance_id()
    }

    /// The daemons running on the store the settings name, as their lock
    /// files describe them (the files backend; PostgreSQL instances on
    /// other hosts are not looked for). Reads only.
    pub fn running_instances(settings: &crate::config::Settings) -> Vec<instance::About> {
        if settings.store.is_postgres() {
            return Vec::new();
        }
        Instance::running(&settings.gateway.cases_root)
    }

    /// Records where this instance's ops server listens, for a second
    /// daemon started on the same store to say.
    pub fn announce(&self, ops: Option<&str>) -> Result<(), StoreError> {
        self.backend.announce(ops)
    }

    /// A clean stop: this instance's lock file is removed unless requests
    /// are parked under its name (see [`Instance::retire`]). Returns how
    /// many are parked.
    pub fn retire(&self) -> Result<usize, StoreError> {
        let me = self.instance_id().to_owned();
        let parked = self
            .open_requests()?
            .iter()
            .filter(|r| r.owner.as_deref() == Some(me.as_str()))
            .count();
        self.backend.retire(parked)?;
        Ok(parked)
    }

    /// The instances sharing this store that have ended since the last
    /// call (crashed or stopped): their requests are to be taken over.
    pub fn ended_instances(&self) -> Vec<String> {
        self.backend.ended()
    }

    fn is_alive(&self, id: &str) -> bool {
        self.backend.is_alive(id)
    }

    /// Makes the request this instance's if no running instance owns it.
    /// Returns the stored record when it was taken now; `None` when it was
    /// already ours, a live instance has it, or it has a result and a
    /// confirmed reply.
    pub fn claim(&self, rec: &StateRecord) -> Result<Option<StateRecord>, StoreError> {
        let mut r = rec.clone();
        let me = self.instance_id().to_owned();
        let result = self.transition(&mut r, "a claim", ANY, |rec| {
            let previous = rec.owner.clone();
            match &previous {
                Some(o) if *o == me => return Ok(None),
                Some(o) if self.is_alive(o) => return Ok(None),
                _ => {}
            }
            if rec.state.is_final() && rec.replied_at.is_some() {
                return Ok(None);
            }
            rec.owner = Some(me.clone());
            let from = previous.unwrap_or_else(|| "nobody".into());
            Ok(Some(Change::new(
                "claimed",
                Some(format!("by {me}, from {from}")),
            )))
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
            .is_some_and(|o| o != self.instance_id() && self.is_alive(o))
    }

    /// Proves the store takes writes now.
    pub fn check_writable(&self) -> Result<(), StoreError> {
        self.backend.check_writable()
    }

    /// Proves the store takes document-sized writes now: its own check,
    /// and 64 KiB written and synced under `cases_root` (where the
    /// documents go with either backend). A store that filled up is
    /// probed with this before work resumes.
    pub fn check_space(&self) -> Result<(), StoreError> {
        self.check_writable()?;
        fsio::probe_space(&self.root, 64 * 1024).map_err(io(&self.root))
    }

    /// Whether a store error says that the store cannot write now (full,
    /// read-only, a failing device, out of file handles): the work waits
    /// and is tried again rather than failed.
    pub fn cannot_write(e: &StoreError) -> bool {
        let StoreError::Io { source, .. } = e else {
            return false;
        };
        matches!(
            source.raw_os_error(),
            Some(
                libc::ENOSPC
                    | libc::EDQUOT
                    | libc::EROFS
                    | libc::EIO
                    | libc::EPERM
                    | libc::EACCES
                    | libc::EFBIG
                    | libc::ENFILE
                    | libc::EMFILE
                    | libc::ENOMEM
            )
        )
    }

    pub fn case_dir(&self, case_id: &str) -> PathBuf {
        self.root.join(case_id)
    }

    pub fn request_dir(&self, rec: &StateRecord) -> PathBuf {
        self.case_dir(&rec.case_id).join(rec.request_id.to_string())
    }

    /// Records a validated request (before its delivery is acknowledged).
    pub fn accept(
        &self,
        req: &(impl Into<Request> + Clone),
        reply: ReplyRoute,
    ) -> Result<Acceptance, StoreError> {
        at_once(self.accept_as(How::Blocking, &req.clone().into(), reply, None))
    }

    /// Records a validated request with its signed envelope and `MessageID`
    /// in one change (what `accept` and `record_envelope` record in two).
    pub fn accept_signed(
        &self,
        req: &Request,
        reply: ReplyRoute,
        message_id: &str,
        envelope: &[u8],
    ) -> Result<Acceptance, StoreError> {
        at_once(self.accept_as(How::Blocking, req, reply, Some((message_id, envelope))))
    }

    /// Records a validated request, with its signed envelope and
    /// `MessageID` when `signed` has them, the way `how` says.
    pub async fn accept_as(
        &self,
        how: How,
        req: &Request,
        reply: ReplyRoute,
        signed: Option<(&str, &[u8])>,
    ) -> Result<Acceptance, StoreError> {
        let case = req.case_id().as_str();
        let request_id = req.request_id();
        let holder = match self.awaited(how) {
            Some(pg) => pg.claim_async(&request_id, case).await?,
            None => self.backend.claim(&request_id, case)?,
        };
        if let Some(owner) = holder {
            if owner != case {
                return Ok(Acceptance::Conflict { case_id: owner });
            }
            // Claimed but no state yet: another instance may be accepting
            // the same request right now (a client that sent it to two
            // nodes at once), and its documents must not be overwritten by
            // ours, signed with another MessageID. Its state comes within
            // moments; if none comes, the crash came before the state was
            // written, the delivery was never acknowledged, and this one
            // finishes accepting it.
            let deadline = std::time::Instant::now() + CLAIM_SETTLE;
            loop {
                if let Some(existing) = self.load_as(how, &request_id).await? {
                    return self.existing(existing, req);
                }
                if std::time::Instant::now() >= deadline {
                    break;
                }
                let pause = std::time::Duration::from_millis(20);
                match self.effective(how) {
                    How::Blocking => std::thread::sleep(pause),
                    How::InPlace => tokio::time::sleep(pause).await,
                }
            }
        }
        let rec = StateRecord {
            request_id,
            case_id: case.to_owned(),
            kind: req.kind(),
            state: State::Accepted,
            test: req.test(),
            accepted_at: clock::now(),
            message_id: signed.map(|(m, _)| m.to_owned()),
            send_attempts: 0,
            sent_at: None,
            sending_timestamp: None,
            due_date: None,
            due_at: None,
            next_attempt_at: None,
            owner: Some(self.instance_id().to_owned()),
            answered_at: None,
            completed_at: None,
            verdict: None,
            reply,
            replied_at: None,
            replied_to: Vec::new(),
            last_error: None,
            statuses: Vec::new(),
        };
        let dir = self.request_dir(&rec);
        std::fs::create_dir_all(&dir).map_err(io(&dir))?;
        let body = serde_json::to_vec_pretty(req).expect("requests serialise");
        fsio::write_document(&dir, REQUEST_FILE, &body).map_err(io(&dir))?;
        if let Some((_, envelope)) = signed {
            fsio::write_document(&dir, ENVELOPE_FILE, envelope).map_err(io(&dir))?;
        }
        // The claim, the directories and the documents are on disk before
        // the state that names them.
        self.flush(how).await.map_err(io(&dir))?;
        let locked = self.locked_with(
            how,
            &rec.case_id,
            &rec.request_id,
            |current| match current {
                // Another delivery of the same request got here first.
                Some(existing) => Ok((Err(existing), None)),
                None => {
                    let accepted = vec![(REQUEST_FILE.to_owned(), sha256_hex(&body))];
                    let mut c = Commit {
                        rec: rec.clone(),
                        event: "accepted",
                        detail: None,
                        documents: accepted,
                        earlier: Vec::new(),
                        message_id: None,
                        open: true,
                        closed: false,
                        fallback: false,
                        durable: true,
                    };
                    if let Some((mid, envelope)) = signed {
                        c.earlier
                            .push(("accepted", None, std::mem::take(&mut c.documents)));
                        c.event = "signed";
                        c.detail = Some(format!("MessageID {mid}"));
                        c.documents = vec![(ENVELOPE_FILE.to_owned(), sha256_hex(envelope))];
                        c.message_id = Some(mid.to_owned());
                    }
                    let plan = Plan {
                        dir: dir.clone(),
                        documents: Vec::new(),
                        commit: c,
                    };
                    Ok((Ok(()), Some(plan)))
                }
            },
        );
        match locked.await? {
            Ok(()) => {
                self.notify(None, &rec);
                Ok(Acceptance::New(rec))
            }
            Err(existing) => self.existing(existing, req),
        }
    }

    /// A request id seen before: the same request again (a redelivery, a
    /// republication), or another request under a used id. Compared as
    /// requests, not as bytes, so that a stored form written by an
    /// earlier version still matches.
    fn existing(&self, existing: StateRecord, req: &Request) -> Result<Acceptance, StoreError> {
        let Some(stored) = self.read_file(&existing, REQUEST_FILE)? else {
            return Ok(Acceptance::Existing(existing));
        };
        let received = serde_json::to_vec_pretty(req).expect("requests serialise");
        if stored == received {
            return Ok(Acceptance::Existing(existing));
        }
        let today = clock::moscow_today();
        let limits = crate::request::Limits::STORED;
        match crate::request::parse(&stored, today.next_day().unwrap_or(today), &limits) {
            Ok(s) if s == *req => return Ok(Acceptance::Existing(existing)),
            Ok(_) => {}
            // What cannot be compared is not called another request.
            Err(e) => {
                tracing::warn!(request_id = %req.request_id(), error = %e, "the stored request cannot be read to compare it with a new delivery");
                return Ok(Acceptance::Existing(existing));
            }
        }
        Ok(Acceptance::Reused {
            stored_sha256: sha256_hex(&stored),
            received_sha256: sha256_hex(&received),
        })
    }

    /// The backend in the way `how` asks for: in place only where the
    /// store can (see [`Store::changes_in_place`]).
    fn effective(&self, how: How) -> How {
        match how {
            How::InPlace if self.changes_in_place() => How::InPlace,
            _ => How::Blocking,
        }
    }

    /// Whether changes can be made in place on the async runtime
    /// ([`How::InPlace`]): the files store, and PostgreSQL.
    pub fn changes_in_place(&self) -> bool {
        self.local.is_some() || self.remote.is_some()
    }

    /// The PostgreSQL backend when `how` asks for its calls awaited.
    fn awaited(&self, how: How) -> Option<&pg::Pg> {
        match how {
            How::InPlace => self.remote.as_deref(),
            How::Blocking => None,
        }
    }

    /// Makes everything written so far durable, in the way of `how`.
    async fn flush(&self, how: How) -> std::io::Result<()> {
        match self.effective(how) {
            How::Blocking => self.sync.barrier(),
            How::InPlace => self.sync.flushed().await,
        }
    }

    /// Runs `f` once with the request locked against every other writer
    /// (of any instance), on its current state, and records what it
    /// planned before the lock is released: its documents, a flush, the
    /// change, and another flush when the change is waited for until
    /// durable.
    async fn locked_with<'d, T>(
        &self,
        how: How,
        case_id: &str,
        request_id: &Uuid,
        f: impl FnOnce(Option<StateRecord>) -> Result<(T, Option<Plan<'d>>), StoreError>,
    ) -> Result<T, StoreError> {
        if let (How::InPlace, Some(files)) = (how, &self.local) {
            // The lock is held across the flushes, as a blocking writer
            // holds it: nothing reads the change as done before it is.
            let _lock = files.lock_request(case_id, request_id).await?;
            let (value, plan) = f(files.current(case_id, request_id)?)?;
            if let Some(p) = plan {
                if p.write_documents()? {
                    self.sync.flushed().await.map_err(io(&p.dir))?;
                }
                files.commit(&p.commit)?;
                if p.commit.durable {
                    self.sync.flushed().await.map_err(io(&p.dir))?;
                }
            }
            return Ok(value);
        }
        if let Some(pg) = self.awaited(how) {
            let (tx, current) = pg.lock(request_id).await?;
            let (value, plan) = f(current)?;
            let commit = match plan {
                Some(p) => {
                    if p.write_documents()? {
                        self.sync.flushed().await.map_err(io(&p.dir))?;
                    }
                    Some(p.commit)
                }
                None => None,
            };
            tx.commit(commit.as_ref()).await?;
            return Ok(value);
        }
        // The backend takes a section it can call through a reference;
        // `f` runs once, and what it returns besides the change is kept.
        let (mut f, mut out) = (Some(f), None);
        self.backend.locked(case_id, request_id, &mut |current| {
            let f = f.take().expect("a locked section runs once");
            let (value, plan) = f(current)?;
            out = Some(value);
            let Some(p) = plan else { return Ok(None) };
            if p.write_documents()? {
                self.sync.barrier().map_err(io(&p.dir))?;
            }
            Ok(Some(p.commit))
        })?;
        Ok(out.expect("a locked section that returned Ok ran"))
    }

    /// Applies `change` to the stored record under the request's lock, if
    /// its state is one of `allowed`, and returns whether it changed
    /// anything (`change` may decide not to: `Ok(None)`). The stored
    /// record, not the caller's copy, is changed: the send task, the poller
    /// and other instances sharing the store each hold copies, and a stale
    /// copy must never move a request backwards, drop a field another
    /// wrote, or give it a second result. Afterwards `rec` is the stored
    /// record.
    fn transition<'d>(
        &self,
        rec: &mut StateRecord,
        action: &'static str,
        allowed: &[State],
        change: impl FnOnce(&mut StateRecord) -> Result<Option<Change<'d>>, StoreError>,
    ) -> Result<bool, StoreError> {
        at_once(self.transition_with(How::Blocking, rec, action, allowed, change))
    }

    /// [`Store::transition`], made the way `how` says.
    async fn transition_with<'d>(
        &self,
        how: How,
        rec: &mut StateRecord,
        action: &'static str,
        allowed: &[State],
        change: impl FnOnce(&mut StateRecord) -> Result<Option<Change<'d>>, StoreError>,
    ) -> Result<bool, StoreError> {
        let dir = self.request_dir(rec);
        let path = dir.join(STATE_FILE);
        let locked = self.locked_with(how, &rec.case_id, &rec.request_id, |current| {
            let Some(mut stored) = current else {
                return Err(StoreError::Corrupt {
                    path: path.display().to_string(),
                    message: "the request has no recorded state".into(),
                });
            };
            if !allowed.contains(&stored.state) {
                let state = stored.state.as_str();
                return Ok((Decided::Refused(stored, state), None));
            }
            let before = stored.state;
            let Some(ch) = change(&mut stored)? else {
                return Ok((Decided::Unchanged(stored), None));
            };
            // Whoever records the answer or the result has the rest to do
            // (read it, reply): it becomes the owner, so that its death is
            // noticed and another instance takes the request over. (The
            // poller of any instance may take the answer to a request
            // another one sent.)
            if stored.state == State::Answered || stored.state.is_final() {
                stored.owner = Some(self.instance_id().to_owned());
            }
            // Documents go to disk before the state that names them
            // (`locked_with` writes and flushes them first).
            let mut documents: Vec<_> = ch
                .documents
                .iter()
                .map(|(name, data)| (name.to_string(), sha256_hex(data)))
                .collect();
            let mut earlier = Vec::new();
            for (event, detail, names) in ch.earlier {
                let (mine, rest): (Vec<_>, Vec<_>) = documents
                    .into_iter()
                    .partition(|(n, _)| names.contains(&n.as_str()));
                documents = rest;
                earlier.push((event, detail, mine));
            }
            let commit = Commit {
                rec: stored.clone(),
                event: ch.event,
                detail: ch.detail,
                documents,
                earlier,
                message_id: ch.message_id,
                open: ch.open,
                closed: ch.closed,
                fallback: ch.fallback,
                durable: ch.durable,
            };
            let plan = Plan {
                dir,
                documents: ch.documents,
                commit,
            };
            Ok((Decided::Changed(before, stored), Some(plan)))
        });
        match locked.await? {
            Decided::Refused(stored, state) => {
                *rec = stored;
                Err(StoreError::Superseded {
                    request_id: rec.request_id,
                    state,
                    action,
                })
            }
            Decided::Unchanged(stored) => {
                *rec = stored;
                Ok(false)
            }
            Decided::Changed(before, stored) => {
                *rec = stored;
                self.notify(Some(before), rec);
                Ok(true)
            }
        }
    }

    /// Records an event that changes nothing but the journal.
    pub fn note(
        &self,
        rec: &StateRecord,
        event: &'static str,
        detail: impl Into<String>,
    ) -> Result<(), StoreError> {
        let mut r = rec.clone();
        let detail = detail.into();
        self.transition(&mut r, "a note", ANY, |_| {
            Ok(Some(Change::new(event, Some(detail))))
        })
        .map(|_| ())
    }

    /// Stores the signed envelope and its `MessageID` before it is sent, so
    /// that a re-send after a crash uses the same message.
    pub fn record_envelope(
        &self,
        rec: &mut StateRecord,
        message_id: &str,
        envelope: &[u8],
    ) -> Result<(), StoreError> {
        self.transition(rec, "signing", UNSENT, |rec| {
            rec.message_id = Some(message_id.to_owned());
            let mut c = Change::new("signed", Some(format!("MessageID {message_id}")))
                .with_document(ENVELOPE_FILE, envelope);
            c.message_id = Some(message_id.to_owned());
            Ok(Some(c))
        })
        .map(|_| ())
    }

    /// A send attempt failed and will be retried at `next`.
    pub fn record_attempt(
        &self,
        rec: &mut StateRecord,
        attempts: u32,
        error: &str,
        next: OffsetDateTime,
    ) -> Result<(), StoreError> {
        self.transition(rec, "a send attempt", UNSENT, |rec| {
            rec.state = State::Retrying;
            rec.send_attempts = attempts;
            rec.last_error = Some(error.to_owned());
            rec.next_attempt_at = Some(next);
            let detail = format!(
                "attempt {attempts} failed: {error}; next at {}",
                clock::rfc3339(next)
            );
            Ok(Some(Change::new("retrying", Some(detail))))
        })
        .map(|_| ())
    }

    /// SMEV accepted the request at `sending_timestamp` (or now, when it
    /// did not say); the answer is due by `due` (see [`crate::calendar`]).
    pub fn record_sent(
        &self,
        rec: &mut StateRecord,
        sending_timestamp: Option<OffsetDateTime>,
        due: impl FnOnce(OffsetDateTime) -> crate::calendar::Due,
    ) -> Result<(), StoreError> {
        at_once(self.record_sent_as(How::Blocking, rec, sending_timestamp, due))
    }

    /// [`Store::record_sent`], the way `how` says.
    pub async fn record_sent_as(
        &self,
        how: How,
        rec: &mut StateRecord,
        sending_timestamp: Option<OffsetDateTime>,
        due: impl FnOnce(OffsetDateTime) -> crate::calendar::Due,
    ) -> Result<(), StoreError> {
        // An answer can overtake SMEV's acceptance (the acceptance was slow
        // or lost): then the request is already further on.
        let allowed = [State::Accepted, State::Retrying, State::Sent];
        self.transition_with(how, rec, "sending", &allowed, |rec| {
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
            let detail = format!(
                "MessageID {}; answer due by {}",
                rec.message_id.as_deref().unwrap_or("?"),
                clock::iso_date(d.last_day)
            );
            Ok(Some(Change::new("sent", Some(detail)).lazily()))
        })
        .await
        .map(|_| ())
    }

    /// The answer is late: still awaited, and the officer is told.
    pub fn mark_overdue(&self, rec: &mut StateRecord) -> Result<(), StoreError> {
        self.transition(rec, "overdue", &[State::Sent], |rec| {
            rec.state = State::Overdue;
            let due = rec.due_date.map(clock::iso_date).unwrap_or_default();
            Ok(Some(Change::new(
                "overdue",
                Some(format!("no answer by {due}")),
            )))
        })
        .map(|_| ())
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
        self.transition(rec, "an answer", &allowed, |rec| {
            rec.state = State::Answered;
            rec.answered_at = Some(clock::now());
            Ok(Some(
                Change::new("answered", None).with_document(RESPONSE_FILE, response),
            ))
        })
        .map(|_| ())
    }

    /// An intermediate status instead of the answer: back to waiting.
    pub fn record_interim(&self, rec: &mut StateRecord, what: String) -> Result<(), StoreError> {
        self.transition(rec, "a status", ANSWERED, |rec| {
            let late = rec.due_at.is_some_and(|d| clock::now() > d);
            rec.state = if late { State::Overdue } else { State::Sent };
            rec.statuses.push(StatusNote {
                at: clock::now(),
                source: "GetResponse".into(),
                category: what.clone(),
                details: None,
                document: None,
            });
            Ok(Some(Change::new("status", Some(what))))
        })
        .map(|_| ())
    }

    /// A status SMEV reported about the request (`GetStatus`), with the
    /// message it came in (`status-<n>.xml`); in any state: one that comes
    /// after the result is kept in the journal and the request's
    /// directory, the result stays as it was written.
    pub fn record_status(
        &self,
        rec: &mut StateRecord,
        category: &str,
        details: Option<&str>,
        message: &[u8],
    ) -> Result<(), StoreError> {
        self.transition(rec, "a status", ANY, |rec| {
            let name = format!("status-{}.xml", rec.statuses.len() + 1);
            rec.statuses.push(StatusNote {
                at: clock::now(),
                source: "GetStatus".into(),
                category: category.to_owned(),
                details: details.map(str::to_owned),
                document: Some(name.clone()),
            });
            let detail = match details {
                Some(d) => format!("{category}: {d}"),
                None => category.to_owned(),
            };
            Ok(Some(
                Change::new("smev_status", Some(detail)).with_document(name, message.to_vec()),
            ))
        })
        .map(|_| ())
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
        at_once(self.complete_from_as(How::Blocking, rec, from, outcome))
    }

    /// [`Store::complete_from`], the way `how` says.
    pub async fn complete_from_as(
        &self,
        how: How,
        rec: &mut StateRecord,
        from: &[State],
        outcome: Outcome,
    ) -> Result<ResultRecord, StoreError> {
        let dir = self.request_dir(rec).display().to_string();
        let mut result = None;
        self.transition_with(how, rec, "a result", from, |rec| {
            let (r, data, c) = result_change(rec, outcome, dir);
            result = Some(r);
            Ok(Some(c.with_document(RESULT_FILE, data)))
        })
        .await?;
        Ok(result.expect("a recorded result was built"))
    }

    /// Stores the answer exactly as received and the result read from it,
    /// in one change (what `record_response` and `complete_from` record in
    /// two), before the answer is acknowledged.
    pub fn complete_with_answer(
        &self,
        rec: &mut StateRecord,
        response: &[u8],
        outcome: Outcome,
    ) -> Result<ResultRecord, StoreError> {
        at_once(self.complete_with_answer_as(How::Blocking, rec, response, outcome))
    }

    /// [`Store::complete_with_answer`], the way `how` says.
    pub async fn complete_with_answer_as(
        &self,
        how: How,
        rec: &mut StateRecord,
        response: &[u8],
        outcome: Outcome,
    ) -> Result<ResultRecord, StoreError> {
        let allowed = [
            State::Accepted,
            State::Retrying,
            State::Sent,
            State::Overdue,
        ];
        let dir = self.request_dir(rec).display().to_string();
        let mut result = None;
        self.transition_with(how, rec, "an answer", &allowed, |rec| {
            rec.answered_at = Some(clock::now());
            let (r, data, mut c) = result_change(rec, outcome, dir);
            result = Some(r);
            c.earlier.push(("answered", None, vec![RESPONSE_FILE]));
            Ok(Some(
                c.with_document(RESPONSE_FILE, response)
                    .with_document(RESULT_FILE, data),
            ))
        })
        .await?;
        Ok(result.expect("a recorded result was built"))
    }

    /// A register's own source answered (a synchronous exchange, no SMEV):
    /// the request as sent and the answer as received (`documents`), where
    /// and when (`detail`), and the result, in one change. The journal's
    /// `answered` line carries the documents' SHA-256.
    pub fn complete_with_exchange(
        &self,
        rec: &mut StateRecord,
        documents: &[(&'static str, Vec<u8>)],
        detail: String,
        outcome: Outcome,
    ) -> Result<ResultRecord, StoreError> {
        at_once(self.complete_with_exchange_as(How::Blocking, rec, documents, detail, outcome))
    }

    /// [`Store::complete_with_exchange`], the way `how` says.
    pub async fn complete_with_exchange_as(
        &self,
        how: How,
        rec: &mut StateRecord,
        documents: &[(&'static str, Vec<u8>)],
        detail: String,
        outcome: Outcome,
    ) -> Result<ResultRecord, StoreError> {
        let dir = self.request_dir(rec).display().to_string();
        let mut result = None;
        self.transition_with(how, rec, "an answer", UNSENT, |rec| {
            rec.answered_at = Some(clock::now());
            rec.sent_at = rec.sent_at.or(Some(clock::now()));
            let (r, data, mut c) = result_change(rec, outcome, dir);
            result = Some(r);
            let names = documents.iter().map(|(n, _)| *n).collect();
            c.earlier.push(("answered", Some(detail), names));
            for (name, bytes) in documents {
                c = c.with_document(*name, bytes.as_slice());
            }
            Ok(Some(c.with_document(RESULT_FILE, data)))
        })
        .await?;
        Ok(result.expect("a recorded result was built"))
    }

    /// The reply was published (and confirmed by the broker), as
    /// `answered` says.
    pub fn mark_replied(
        &self,
        rec: &mut StateRecord,
        answered: Answered,
    ) -> Result<(), StoreError> {
        at_once(self.mark_replied_as(How::Blocking, rec, answered))
    }

    /// [`Store::mark_replied`], the way `how` says.
    pub async fn mark_replied_as(
        &self,
        how: How,
        rec: &mut StateRecord,
        answered: Answered,
    ) -> Result<(), StoreError> {
        let done = [State::Completed, State::Failed];
        self.transition_with(how, rec, "a reply", &done, |rec| {
            let first = rec.replied_to.is_empty() && rec.replied_at.is_none();
            rec.replied_at = Some(answered.at);
            let detail = format!(
                "to {}{}",
                answered.route.describe(),
                if answered.via == "results" && answered.route.reply_to.is_some() {
                    ": that queue does not exist, so to the results exchange"
                } else {
                    ""
                }
            );
            rec.replied_to.retain(|a| a.route != answered.route);
            rec.replied_to.push(answered);
            let excess = rec.replied_to.len().saturating_sub(ANSWERED_KEPT);
            rec.replied_to.drain(..excess);
            let event = if first { "replied" } else { "replied_again" };
            let mut c = Change::new(event, Some(detail)).lazily();
            c.closed = true;
            Ok(Some(c))
        })
        .await
        .map(|_| ())
    }

    /// The same `request_id` arrived again with `route`: recorded, and the
    /// latest delivery's route is the one replies go to from now on. A
    /// request whose result was already replied to elsewhere is opened
    /// again until the reply to the new route is confirmed, so a restart
    /// in between still sends it. Returns the stored record.
    pub fn record_duplicate(
        &self,
        rec: &StateRecord,
        route: &ReplyRoute,
    ) -> Result<StateRecord, StoreError> {
        let mut r = rec.clone();
        self.transition(&mut r, "a duplicate", ANY, |rec| {
            if rec.reply == *route {
                return Ok(Some(Change::new(
                    "duplicate",
                    Some("the same request_id arrived again".into()),
                )));
            }
            let detail = format!(
                "the same request_id arrived again; replies now go to {} (before: {})",
                route.describe(),
                rec.reply.describe()
            );
            rec.reply = route.clone();
            let reopen = rec.state.is_final() && rec.replied_at.is_some();
            if reopen {
                rec.replied_at = None;
            }
            let mut c = Change::new("duplicate", Some(detail));
            c.open = reopen;
            Ok(Some(c))
        })?;
        Ok(r)
    }

    pub fn load(&self, request_id: &Uuid) -> Result<Option<StateRecord>, StoreError> {
        self.backend.load(request_id)
    }

    /// [`Store::load`], the way `how` says.
    pub async fn load_as(
        &self,
        how: How,
        request_id: &Uuid,
    ) -> Result<Option<StateRecord>, StoreError> {
        match self.awaited(how) {
            Some(pg) => pg.load_async(request_id).await,
            None => self.load(request_id),
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
    pub fn load_request(&self, rec: &StateRecord) -> Result<Request, StoreError> {
        let path = self.request_dir(rec).join(REQUEST_FILE);
        let data = self
            .read_file(rec, REQUEST_FILE)?
            .ok_or_else(|| StoreError::Corrupt {
                path: path.display().to_string(),
                message: "request.json is missing".into(),
            })?;
        // The stored form passed validation once; `as_of` was not in the
        // future then, so today is no tighter bound than it was.
        crate::request::parse(
            &data,
            clock::moscow_today()
                .next_day()
                .unwrap_or(clock::moscow_today()),
            &crate::request::Limits::STORED,
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
        at_once(self.find_by_message_as(How::Blocking, message_id))
    }

    /// [`Store::find_by_message`], the way `how` says.
    pub async fn find_by_message_as(
        &self,
        how: How,
        message_id: &str,
    ) -> Result<Option<StateRecord>, StoreError> {
        // A message id from the network names a file: only a UUID may.
        let Ok(mid) = Uuid::parse_str(message_id) else {
            return Ok(None);
        };
        if let Some(pg) = self.awaited(how) {
            return pg.message_record_async(&mid).await;
        }
        match self.backend.find_message(&mid)? {
            Some(id) => self.load(&id),
            None => Ok(None),
        }
    }

    /// Requests without a final result, or whose reply is not yet confirmed.
    pub fn open_requests(&self) -> Result<Vec<StateRecord>, StoreError> {
        let ids = self.backend.open_ids()?;
        let mut out = Vec::new();
        for id in ids {
            if let Some(rec) = self.load(&id)? {
                out.push(rec);
            }
        }
        out.sort_by_key(|r| r.accepted_at);
        Ok(out)
    }

    /// Results that need the officer's fallback (failed, rejected,
    /// unknown) written since `since`, newest first; marks older than
    /// `keep` are removed on the way.
    pub fn recent_fallbacks(
        &self,
        since: std::time::SystemTime,
        keep: std::time::Duration,
    ) -> Result<Vec<ResultRecord>, StoreError> {
        let ids = self.backend.fallbacks_since(since, keep)?;
        let mut found = Vec::new();
        for id in ids {
            if let Some(rec) = self.load(&id)?
                && let Some(result) = self.load_result(&rec)?
            {
                found.push(result);
            }
        }
        found.sort_by_key(|r| std::cmp::Reverse(r.completed_at));
        Ok(found)
    }

    /// Final results per request id in the cases whose id starts with
    /// `case_prefix`: exactly one each is the guarantee.
    pub fn final_results(
        &self,
        case_prefix: &str,
    ) -> Result<std::collections::HashMap<String, u64>, StoreError> {
        self.backend.final_results(case_prefix)
    }

    /// Files and bytes kept under `.orphans/`.
    pub fn orphan_usage(&self) -> Result<(u64, u64), StoreError> {
        let dir = self.root.join(".orphans");
        let (mut count, mut bytes) = (0, 0);
        for entry in std::fs::read_dir(&dir).map_err(io(&dir))? {
            let entry = entry.map_err(io(&dir))?;
            if entry.file_name().to_string_lossy().starts_with('.') {
                continue;
            }
            if let Ok(m) = entry.metadata()
                && m.is_file()
            {
                count += 1;
                bytes += m.len();
            }
        }
        Ok((count, bytes))
    }

    /// Keeps a verified answer that matches no request, for the operator,
    /// if `.orphans/` stays within `max_count` files and `max_bytes`
    /// bytes; durable when it returns `Stored`.
    pub fn store_orphan(
        &self,
        message_id: &str,
        data: &[u8],
        max_count: u64,
        max_bytes: u64,
    ) -> Result<OrphanKept, StoreError> {
        let dir = self.root.join(".orphans");
        let name = match Uuid::parse_str(message_id) {
            Ok(u) => format!("{u}.xml"),
            Err(_) => format!("unnamed-{}.xml", sha256_hex(data)),
        };
        let (mut count, mut bytes) = self.orphan_usage()?;
        // The same answer delivered again replaces its copy.
        if let Ok(m) = std::fs::metadata(dir.join(&name)) {
            count -= 1;
            bytes -= m.len();
        }
        if count + 1 > max_count || bytes + data.len() as u64 > max_bytes {
            return Ok(OrphanKept::OverQuota { count, bytes });
        }
        fsio::atomic_write(&dir, &name, data).map_err(io(&dir))?;
        Ok(OrphanKept::Stored(dir.join(name)))
    }
}

/// What became of an answer for no known request.
#[derive(Debug)]
pub enum OrphanKept {
    Stored(PathBuf),
    /// Not stored: `.orphans/` holds `count` files of `bytes` already.
    OverQuota {
        count: u64,
        bytes: u64,
    },
}

#[cfg(test)]
mod tests;
