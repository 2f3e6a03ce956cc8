//! Request state, idempotency keys and the case journal in PostgreSQL, for
//! several daemons on several hosts sharing the work (`[store] backend =
//! "postgres"`). The documents (request, envelope, answer, result) stay
//! files under `cases_root`, on a volume the hosts share.
//!
//! | table | holds |
//! |---|---|
//! | `requests` | one row per `request_id`: the case that claimed it, its state record, whether it is open, when a result needed a fallback |
//! | `messages` | SMEV `MessageID` → `request_id` |
//! | `cases`, `journal` | the hash-chained journal of each case |
//! | `instances` | the running daemons and the advisory lock each holds |
//!
//! A change is one transaction: the request's row is locked (`FOR UPDATE`),
//! its state checked, the new state, index rows and journal lines written,
//! committed. Liveness of an instance is a session advisory lock held for
//! as long as it runs: PostgreSQL releases it when the session ends,
//! however the process ends (`kill -9` included), as the kernel releases
//! the file store's locks.
//!
//! The client is `tokio-postgres`, asynchronous. In the daemon the pool's
//! connections are driven by the daemon's own runtime, and the hot path's
//! calls (the claim, reads of a state or a `MessageID`, a change) are
//! awaited by the task that makes them, with no other thread woken on the
//! way (see `Store`'s `How::InPlace`). Synchronous callers (the commands,
//! the tests, the colder paths on the blocking pool) wait on their own
//! thread; a store opened outside a runtime drives its connections on a
//! thread of its own. Statements are prepared once per connection, and the
//! statements of a step are pipelined: a change is three round trips (lock
//! and read; state, message index and chain head; journal lines and
//! commit), whatever it writes.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Condvar, Mutex};

use futures_util::future::{try_join, try_join_all};
use tokio_postgres::types::ToSql;
use tokio_postgres::{Client, Row, Statement};
use uuid::Uuid;

use super::adapter_index::AdapterEntry;
use super::backend::{Backend, Decide};
use super::{Commit, StateRecord, StoreError, journal};
use crate::config::redact_url;

type PgError = tokio_postgres::Error;
type Params<'a> = &'a [&'a (dyn ToSql + Sync)];
type Pending<'a> = Pin<Box<dyn Future<Output = Result<u64, PgError>> + Send + 'a>>;

/// One database session and the statements prepared on it: each is parsed
/// and planned once per connection, not at every call.
struct Session {
    client: Client,
    prepared: Mutex<HashMap<String, Statement>>,
}

impl Session {
    async fn statement(&self, sql: &str) -> Result<Statement, PgError> {
        if let Some(st) = self.prepared.lock().expect("statements").get(sql) {
            return Ok(st.clone());
        }
        let st = self.client.prepare(sql).await?;
        self.prepared
            .lock()
            .expect("statements")
            .insert(sql.to_owned(), st.clone());
        Ok(st)
    }

    async fn execute(&self, sql: &str, params: Params<'_>) -> Result<u64, PgError> {
        let st = self.statement(sql).await?;
        self.client.execute(&st, params).await
    }

    async fn query(&self, sql: &str, params: Params<'_>) -> Result<Vec<Row>, PgError> {
        let st = self.statement(sql).await?;
        self.client.query(&st, params).await
    }

    async fn query_one(&self, sql: &str, params: Params<'_>) -> Result<Row, PgError> {
        let st = self.statement(sql).await?;
        self.client.query_one(&st, params).await
    }

    async fn query_opt(&self, sql: &str, params: Params<'_>) -> Result<Option<Row>, PgError> {
        let st = self.statement(sql).await?;
        self.client.query_opt(&st, params).await
    }
}

/// Where the database is: its URL and the CA its certificate is checked
/// against (`None`: the system's trust store).
pub(super) struct Target {
    pub url: String,
    pub ca_file: Option<std::path::PathBuf>,
}

impl Target {
    pub fn from_settings(st: &crate::config::StoreSettings) -> Target {
        Target {
            url: st.postgres_url.clone(),
            ca_file: (!st.postgres_ca_file.is_empty()).then(|| st.postgres_ca_file.clone().into()),
        }
    }
}

/// The error with its cause: the client's error alone says only its kind
/// ("error connecting to server").
fn describe(e: &PgError) -> String {
    match std::error::Error::source(e) {
        Some(cause) => format!("{e}: {cause}"),
        None => e.to_string(),
    }
}

/// Connects; the connection is then driven on `driver`.
async fn connect(t: &Target, driver: &tokio::runtime::Handle) -> Result<Session, String> {
    let config: tokio_postgres::Config = t.url.parse().map_err(|e| format!("the URL: {e}"))?;
    let session = |client| Session {
        client,
        prepared: Mutex::default(),
    };
    if config.get_ssl_mode() == tokio_postgres::config::SslMode::Disable {
        let (client, conn) = config
            .connect(tokio_postgres::NoTls)
            .await
            .map_err(|e| format!("cannot connect: {}", describe(&e)))?;
        driver.spawn(drive(conn));
        return Ok(session(client));
    }
    let mut tls = openssl::ssl::SslConnector::builder(openssl::ssl::SslMethod::tls())
        .map_err(|e| e.to_string())?;
    if let Some(ca) = &t.ca_file {
        tls.set_ca_file(ca)
            .map_err(|e| format!("cannot load the CA file {}: {e}", ca.display()))?;
    }
    let (client, conn) = config
        .connect(postgres_openssl::MakeTlsConnector::new(tls.build()))
        .await
        .map_err(|e| {
            let e = describe(&e);
            let hint = if e.contains("TLS") {
                " (the server's certificate is checked against store.postgres_ca_file or the system trust store; on a link that needs no TLS add ?sslmode=disable)"
            } else {
                ""
            };
            format!("cannot connect: {e}{hint}")
        })?;
    driver.spawn(drive(conn));
    Ok(session(client))
}

/// Runs a connection until it closes; its client sees it closed.
async fn drive<C: Future<Output = Result<(), PgError>>>(conn: C) {
    if let Err(e) = conn.await {
        tracing::debug!(error = %describe(&e), "a database connection ended");
    }
}

/// Waits on this thread for `f`, an awaited call of the store's: its round
/// trips are driven by the store's driver, not by this thread, so it needs
/// no runtime here (a command, a test, the blocking pool).
fn block<T>(f: impl Future<Output = T>) -> T {
    struct Unpark(std::thread::Thread);
    impl std::task::Wake for Unpark {
        fn wake(self: Arc<Self>) {
            self.0.unpark();
        }
    }
    let waker = std::task::Waker::from(Arc::new(Unpark(std::thread::current())));
    let mut cx = std::task::Context::from_waker(&waker);
    let mut f = std::pin::pin!(f);
    super::wait_off_runtime(|| {
        loop {
            if let std::task::Poll::Ready(v) = f.as_mut().poll(&mut cx) {
                return v;
            }
            std::thread::park();
        }
    })
}

/// Where the connections of a store are driven.
///
/// In the daemon that is its own runtime: a task awaiting a round trip then
/// hands the statement to a connection task on the same threads, and the
/// answer wakes it from the runtime's own poll of the socket, with no other
/// thread woken on the way. A store opened outside a multi-threaded runtime
/// (a command, a test) drives its connections on a thread of its own, which
/// stops when the store is dropped.
enum Driver {
    Own {
        handle: tokio::runtime::Handle,
        _stop: tokio::sync::oneshot::Sender<()>,
    },
    Shared(tokio::runtime::Handle),
}

impl Driver {
    fn start() -> Result<Driver, String> {
        if let Ok(h) = tokio::runtime::Handle::try_current()
            && h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread
        {
            return Ok(Driver::Shared(h));
        }
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| format!("cannot start the database client: {e}"))?;
        let handle = rt.handle().clone();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        std::thread::Builder::new()
            .name("mezhved-pg".into())
            .spawn(move || {
                rt.block_on(async {
                    let _ = stopped.await;
                })
            })
            .map_err(|e| format!("cannot start the database client: {e}"))?;
        Ok(Driver::Own {
            handle,
            _stop: stop,
        })
    }

    fn handle(&self) -> &tokio::runtime::Handle {
        match self {
            Driver::Own { handle, .. } | Driver::Shared(handle) => handle,
        }
    }

    /// Runs `job` where the connections are driven and waits for it (a
    /// synchronous caller; on a runtime thread the runtime is told first,
    /// so that the connection the job needs still runs).
    fn run<R: Send + 'static>(
        &self,
        job: impl Future<Output = R> + Send + 'static,
    ) -> Result<R, String> {
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        self.handle().spawn(async move {
            let _ = tx.send(job.await);
        });
        super::wait_off_runtime(|| rx.recv())
            .map_err(|_| "the database client has stopped".to_owned())
    }
}

/// Connections, made as needed up to a bound, all on one driver.
struct Pool {
    driver: Driver,
    target: Arc<Target>,
    max: usize,
    idle: Mutex<(Vec<Arc<Session>>, usize)>,
    /// A connection was freed: for the callers that wait on a thread, and
    /// for those that await one.
    freed: Condvar,
    freed_async: tokio::sync::Notify,
}

/// A connection held for one change (or one query): nobody else's
/// statements run inside its transaction.
struct Pooled<'a> {
    pool: &'a Pool,
    /// `None` until connected, and again once the session is unusable.
    session: Option<Arc<Session>>,
    /// Inside a transaction that has not ended: if dropped so (an awaited
    /// change whose task was cancelled), the session is closed, which ends
    /// the transaction, rather than handed to another change.
    in_transaction: bool,
}

impl Pool {
    fn new(target: Target, max: usize) -> Result<Pool, StoreError> {
        let driver = Driver::start().map_err(|message| StoreError::Corrupt {
            path: redact_url(&target.url),
            message,
        })?;
        Ok(Pool {
            driver,
            target: Arc::new(target),
            max,
            idle: Mutex::new((Vec::new(), 0)),
            freed: Condvar::new(),
            freed_async: tokio::sync::Notify::new(),
        })
    }

    fn error(&self, message: String) -> StoreError {
        StoreError::Corrupt {
            path: redact_url(&self.target.url),
            message,
        }
    }

    fn pg_error(&self, e: &PgError) -> StoreError {
        self.error(format!("PostgreSQL: {}", describe(e)))
    }

    /// An idle connection, or a slot for a new one while under the bound.
    fn try_get(&self, g: &mut (Vec<Arc<Session>>, usize)) -> Option<Pooled<'_>> {
        let pooled = |session| Pooled {
            pool: self,
            session,
            in_transaction: false,
        };
        if let Some(s) = g.0.pop() {
            return Some(pooled(Some(s)));
        }
        if g.1 < self.max {
            g.1 += 1;
            return Some(pooled(None));
        }
        None
    }

    fn get(&self) -> Pooled<'_> {
        let mut g = self.idle.lock().expect("pool lock");
        loop {
            if let Some(p) = self.try_get(&mut g) {
                return p;
            }
            g = self.freed.wait(g).expect("pool lock");
        }
    }

    /// [`Pool::get`], awaited.
    async fn get_async(&self) -> Pooled<'_> {
        loop {
            let freed = self.freed_async.notified();
            let mut freed = std::pin::pin!(freed);
            // Registered before looking, so that a connection freed in
            // between is not missed.
            freed.as_mut().enable();
            if let Some(p) = self.try_get(&mut self.idle.lock().expect("pool lock")) {
                return p;
            }
            freed.await;
        }
    }

    /// A new session (a pooled connection's, or the instance lock's).
    fn connect(&self) -> Result<Arc<Session>, StoreError> {
        block(self.connect_async())
    }

    /// [`Pool::connect`], awaited. The connection is made on the driver
    /// too: its socket belongs to the runtime that drives it.
    async fn connect_async(&self) -> Result<Arc<Session>, StoreError> {
        let (target, driver) = (self.target.clone(), self.driver.handle().clone());
        let made = self
            .driver
            .handle()
            .spawn(async move { connect(&target, &driver).await })
            .await;
        match made {
            Ok(Ok(s)) => Ok(Arc::new(s)),
            Ok(Err(m)) => Err(self.error(m)),
            Err(_) => Err(self.error("the database client has stopped".into())),
        }
    }

    /// Runs `job` on `session` (on the driver) and waits for it.
    fn run_on<R, F, Fut>(&self, session: Arc<Session>, job: F) -> Result<R, StoreError>
    where
        R: Send + 'static,
        F: FnOnce(Arc<Session>) -> Fut,
        Fut: Future<Output = Result<R, PgError>> + Send + 'static,
    {
        self.driver
            .run(job(session))
            .map_err(|m| self.error(m))?
            .map_err(|e| self.pg_error(&e))
    }
}

impl Pooled<'_> {
    /// Runs `job` on this connection (connecting first if need be).
    fn run<R, F, Fut>(&mut self, job: F) -> Result<R, StoreError>
    where
        R: Send + 'static,
        F: FnOnce(Arc<Session>) -> Fut,
        Fut: Future<Output = Result<R, PgError>> + Send + 'static,
    {
        let session = block(self.session_async())?;
        self.pool.run_on(session, job)
    }

    /// The session, connected (awaited) if need be.
    async fn session_async(&mut self) -> Result<Arc<Session>, StoreError> {
        if self.session.as_ref().is_none_or(|s| s.client.is_closed()) {
            // A new session has none of the old one's statements.
            self.session = None;
            self.session = Some(self.pool.connect_async().await?);
        }
        Ok(self.session.clone().expect("connected above"))
    }
}

impl Drop for Pooled<'_> {
    fn drop(&mut self) {
        let mut g = self.pool.idle.lock().expect("pool lock");
        match self.session.take() {
            // It may be inside a transaction holding row locks: closed
            // (ending the transaction), never handed to another change.
            Some(s)
                if !std::thread::panicking() && !self.in_transaction && !s.client.is_closed() =>
            {
                g.0.push(s)
            }
            _ => g.1 -= 1,
        }
        self.pool.freed.notify_one();
        self.pool.freed_async.notify_one();
    }
}

/// The schema's migrations, in order; `{s}` is the schema. Applied once
/// each, at start, under an advisory lock so that daemons starting
/// together do not race.
const MIGRATIONS: &[&str] = &[
    "CREATE TABLE {s}.requests (
        request_id uuid PRIMARY KEY,
        case_id text NOT NULL,
        record text,
        state text,
        open boolean NOT NULL DEFAULT false,
        fallback_at bigint,
        updated_at bigint NOT NULL DEFAULT (extract(epoch from now()) * 1000)::bigint
     );
     CREATE INDEX requests_open ON {s}.requests (request_id) WHERE open;
     CREATE INDEX requests_fallback ON {s}.requests (fallback_at) WHERE fallback_at IS NOT NULL;
     CREATE TABLE {s}.messages (message_id uuid PRIMARY KEY, request_id uuid NOT NULL);
     CREATE TABLE {s}.cases (case_id text PRIMARY KEY, seq bigint NOT NULL, last_hash text NOT NULL);
     CREATE TABLE {s}.journal (
        case_id text NOT NULL,
        seq bigint NOT NULL,
        request_id uuid NOT NULL,
        event text NOT NULL,
        entry text NOT NULL,
        PRIMARY KEY (case_id, seq)
     );
     CREATE INDEX journal_request ON {s}.journal (request_id);
     CREATE TABLE {s}.instances (id text PRIMARY KEY, lock_key bigint NOT NULL, started_at bigint NOT NULL);
     CREATE TABLE {s}.probe (id int PRIMARY KEY, at bigint NOT NULL);",
    // The adapter interface: what each information system sent, and its
    // answers ready for Get (see `adapter_index`).
    "CREATE TABLE {s}.adapter_messages (
        it_system text NOT NULL,
        request_id uuid NOT NULL,
        accepted_at bigint,
        ready_at bigint,
        taken_at bigint,
        PRIMARY KEY (it_system, request_id)
     );
     CREATE INDEX adapter_ready ON {s}.adapter_messages (it_system, ready_at)
        WHERE ready_at IS NOT NULL AND taken_at IS NULL;
     CREATE INDEX adapter_accepted ON {s}.adapter_messages (it_system, accepted_at);",
];

/// The statements of the hot path, with the schema in them, made once.
struct Queries {
    load: String,
    lock: String,
    claim: String,
    claimed_by: String,
    update: String,
    message: String,
    head: String,
    line: String,
    tail: String,
    find_message: String,
    message_record: String,
}

impl Queries {
    fn new(s: &str) -> Queries {
        let q = |t: &str| t.replace("{s}", s);
        Queries {
            load: q("SELECT record FROM {s}.requests WHERE request_id = $1"),
            lock: q("SELECT record FROM {s}.requests WHERE request_id = $1 FOR UPDATE"),
            claim: q(
                "INSERT INTO {s}.requests (request_id, case_id) VALUES ($1, $2) ON CONFLICT (request_id) DO NOTHING",
            ),
            claimed_by: q("SELECT case_id FROM {s}.requests WHERE request_id = $1"),
            update: q(
                "UPDATE {s}.requests SET record = $2, state = $3, open = coalesce($4, open),
                 fallback_at = coalesce($5, fallback_at), updated_at = $6 WHERE request_id = $1",
            ),
            message: q("INSERT INTO {s}.messages VALUES ($1, $2) ON CONFLICT DO NOTHING"),
            // Creates the case's chain head or locks it: one statement.
            head: q(
                "INSERT INTO {s}.cases VALUES ($1, 0, $2) ON CONFLICT (case_id)
                 DO UPDATE SET seq = {s}.cases.seq RETURNING seq, last_hash",
            ),
            line: q("INSERT INTO {s}.journal VALUES ($1, $2, $3, $4, $5)"),
            tail: q("UPDATE {s}.cases SET seq = $2, last_hash = $3 WHERE case_id = $1"),
            find_message: q("SELECT request_id FROM {s}.messages WHERE message_id = $1"),
            message_record: q(
                "SELECT r.record FROM {s}.messages m JOIN {s}.requests r USING (request_id)
                 WHERE m.message_id = $1",
            ),
        }
    }
}

pub(super) struct Pg {
    schema: String,
    queries: Arc<Queries>,
    pool: Pool,
    instance: Option<Registered>,
}

/// A transaction holding a request's row lock ([`Pg::lock`]); ended by
/// [`Locked::commit`], or rolled back when dropped.
pub(super) struct Locked<'a> {
    conn: Pooled<'a>,
    pg: &'a Pg,
}

impl Locked<'_> {
    /// Records `commit`, if there is one, and commits.
    pub(super) async fn commit(mut self, commit: Option<&Commit>) -> Result<(), StoreError> {
        let c = self
            .conn
            .session
            .clone()
            .expect("a locked transaction has its session");
        let done = match commit {
            None => c.client.batch_execute("COMMIT").await,
            Some(commit) => apply(&c, &self.pg.queries, commit).await,
        };
        done.map_err(|e| self.pg.pool.pg_error(&e))?;
        self.conn.in_transaction = false;
        Ok(())
    }
}

/// This daemon's registration: its id and the session holding its lock.
struct Registered {
    id: String,
    key: i64,
    holder: Mutex<Arc<Session>>,
}

fn now_ms() -> i64 {
    crate::clock::now().unix_timestamp_nanos() as i64 / 1_000_000
}

impl Pg {
    /// Connects, migrates the schema, and (unless `reader`) registers this
    /// daemon as an instance holding its advisory lock.
    pub fn open(
        target: Target,
        schema: &str,
        pool: usize,
        reader: bool,
    ) -> Result<Self, StoreError> {
        let pool = Pool::new(target, pool)?;
        let s = schema.to_owned();
        let found = pool
            .get()
            .run(move |c| async move { migrate(&c, &s).await })?;
        if found > MIGRATIONS.len() {
            return Err(StoreError::Corrupt {
                path: format!("{}.migrations", schema),
                message: format!(
                    "the schema is at version {found}, newer than this build's {}: run the newer mezhved",
                    MIGRATIONS.len()
                ),
            });
        }
        let mut pg = Pg {
            schema: schema.to_owned(),
            queries: Arc::new(Queries::new(schema)),
            pool,
            instance: None,
        };
        if !reader {
            pg.instance = Some(pg.register()?);
        }
        Ok(pg)
    }

    fn register(&self) -> Result<Registered, StoreError> {
        let id = format!(
            "{}-{}-{}",
            super::instance::hostname(),
            std::process::id(),
            &Uuid::new_v4().simple().to_string()[..8]
        );
        let key: i64 = fastrand::i64(..);
        let holder = self.lock_session(key)?;
        let (sql, i) = (
            self.sql("INSERT INTO {s}.instances VALUES ($1, $2, $3)"),
            id.clone(),
        );
        self.pool.get().run(move |c| async move {
            c.execute(&sql, &[&i, &key, &now_ms()]).await.map(|_| ())
        })?;
        Ok(Registered {
            id,
            key,
            holder: Mutex::new(holder),
        })
    }

    /// A session of its own holding the advisory lock `key`.
    fn lock_session(&self, key: i64) -> Result<Arc<Session>, StoreError> {
        let holder = self.pool.connect()?;
        self.pool.run_on(holder.clone(), move |c| async move {
            c.execute("SELECT pg_advisory_lock($1)", &[&key])
                .await
                .map(|_| ())
        })?;
        Ok(holder)
    }

    fn sql(&self, q: &str) -> String {
        q.replace("{s}", &self.schema)
    }

    fn parse(&self, text: Option<String>) -> Result<Option<StateRecord>, StoreError> {
        text.map(|t| {
            serde_json::from_str(&t).map_err(|e| StoreError::Corrupt {
                path: format!("{}.requests", self.schema),
                message: e.to_string(),
            })
        })
        .transpose()
    }

    /// Runs `job` on a pooled connection.
    fn query<R, F, Fut>(&self, job: F) -> Result<R, StoreError>
    where
        R: Send + 'static,
        F: FnOnce(Arc<Session>) -> Fut,
        Fut: Future<Output = Result<R, PgError>> + Send + 'static,
    {
        self.pool.get().run(job)
    }

    /// The request ids a query returns.
    fn ids(&self, sql: String, param: Option<i64>) -> Result<Vec<Uuid>, StoreError> {
        self.query(move |c| async move {
            let rows = match param {
                Some(p) => c.query(&sql, &[&p]).await?,
                None => c.query(&sql, &[]).await?,
            };
            Ok(rows.iter().map(|r| r.get(0)).collect())
        })
    }

    /// Runs `job` on a pooled connection, awaited where it is called: the
    /// hot path's calls (see [`Driver`]).
    async fn query_async<R, Fut>(
        &self,
        job: impl FnOnce(Arc<Session>) -> Fut,
    ) -> Result<R, StoreError>
    where
        Fut: Future<Output = Result<R, PgError>>,
    {
        let mut conn = self.pool.get_async().await;
        let session = conn.session_async().await?;
        job(session).await.map_err(|e| self.pool.pg_error(&e))
    }

    /// The case that holds `request_id`: `None` when it is claimed now for
    /// `case_id`.
    pub(super) async fn claim_async(
        &self,
        request_id: &Uuid,
        case_id: &str,
    ) -> Result<Option<String>, StoreError> {
        let q = &self.queries;
        self.query_async(|c| async move {
            if c.execute(&q.claim, &[request_id, &case_id]).await? == 1 {
                return Ok(None);
            }
            Ok(Some(
                c.query_one(&q.claimed_by, &[request_id]).await?.get(0),
            ))
        })
        .await
    }

    pub(super) async fn load_async(
        &self,
        request_id: &Uuid,
    ) -> Result<Option<StateRecord>, StoreError> {
        self.record_by(&self.queries.load, request_id).await
    }

    /// The state record that `sql` selects by `key` (none: no row, or a
    /// request claimed without a state yet).
    async fn record_by(&self, sql: &str, key: &Uuid) -> Result<Option<StateRecord>, StoreError> {
        let text: Option<String> = self
            .query_async(
                |c| async move { Ok(c.query_opt(sql, &[key]).await?.and_then(|r| r.get(0))) },
            )
            .await?;
        self.parse(text)
    }

    async fn find_message_async(&self, message_id: &Uuid) -> Result<Option<Uuid>, StoreError> {
        let q = &self.queries;
        self.query_async(|c| async move {
            Ok(c.query_opt(&q.find_message, &[message_id])
                .await?
                .map(|r| r.get(0)))
        })
        .await
    }

    /// The state of the request a SMEV `MessageID` was sent for: the index
    /// and the state read in one round trip.
    pub(super) async fn message_record_async(
        &self,
        message_id: &Uuid,
    ) -> Result<Option<StateRecord>, StoreError> {
        self.record_by(&self.queries.message_record, message_id)
            .await
    }

    /// Opens a transaction holding the request's row lock, with its current
    /// state: BEGIN and the locking read in one round trip.
    pub(super) async fn lock(
        &self,
        request_id: &Uuid,
    ) -> Result<(Locked<'_>, Option<StateRecord>), StoreError> {
        let mut conn = self.pool.get_async().await;
        let c = conn.session_async().await?;
        // From here until it is committed, a session dropped (an error, a
        // cancelled task) is closed, which rolls it back.
        conn.in_transaction = true;
        let read = async {
            let lock = c.statement(&self.queries.lock).await?;
            try_join(
                c.client.batch_execute("BEGIN"),
                c.client.query_opt(&lock, &[request_id]),
            )
            .await
        };
        let (_, row) = read.await.map_err(|e| self.pool.pg_error(&e))?;
        let current = self.parse(row.and_then(|r| r.get::<_, Option<String>>(0)))?;
        Ok((Locked { conn, pg: self }, current))
    }

    /// Removes the schema and everything in it (tests).
    pub fn drop_schema(&self) -> Result<(), StoreError> {
        let q = self.sql("DROP SCHEMA IF EXISTS {s} CASCADE");
        self.query(move |c| async move { c.client.batch_execute(&q).await })
    }
}

impl Backend for Pg {
    fn name(&self) -> &'static str {
        "postgres"
    }

    fn instance_id(&self) -> &str {
        self.instance.as_ref().map_or("reader", |r| r.id.as_str())
    }

    /// Whether instance `id` runs: its advisory lock is held. One whose lock
    /// can be taken has ended (its row is removed). Asked on this daemon's
    /// own lock session, never on a pooled connection: it is asked inside
    /// changes that already hold one, and a full pool must not wait on
    /// itself.
    fn is_alive(&self, id: &str) -> bool {
        if id == self.instance_id() {
            return true;
        }
        let q = self.sql("SELECT lock_key FROM {s}.instances WHERE id = $1");
        let del = self.sql("DELETE FROM {s}.instances WHERE id = $1");
        let i = id.to_owned();
        let check = move |c: Arc<Session>| async move {
            let Some(key) = c.query_opt(&q, &[&i]).await?.map(|r| r.get::<_, i64>(0)) else {
                return Ok(false);
            };
            let free: bool = c
                .query_one("SELECT pg_try_advisory_lock($1)", &[&key])
                .await?
                .get(0);
            if free {
                c.execute("SELECT pg_advisory_unlock($1)", &[&key]).await?;
                c.execute(&del, &[&i]).await?;
            }
            Ok(!free)
        };
        let alive = match &self.instance {
            Some(me) => {
                // One question at a time on the lock session: a lock taken
                // to test it is released before the next test.
                let holder = me.holder.lock().expect("holder lock");
                self.pool.run_on(holder.clone(), check)
            }
            None => self.query(check),
        };
        // Cannot tell: assume it runs, so that nobody works twice.
        alive.unwrap_or(true)
    }

    /// Instances registered that have ended; also makes sure this one's
    /// lock session is still there (taking the lock again if the database
    /// dropped it).
    fn ended(&self) -> Vec<String> {
        if let Some(me) = &self.instance {
            let mut holder = me.holder.lock().expect("holder lock");
            let key = me.key;
            let there = self.pool.run_on(holder.clone(), |c| async move {
                c.client.batch_execute("SELECT 1").await
            });
            if there.is_err() {
                tracing::warn!(
                    "lost the database session holding this instance's lock; taking it again (other instances may have taken over its requests meanwhile)"
                );
                if let Ok(fresh) = self.lock_session(key) {
                    *holder = fresh;
                    // Another instance may have found the lock free and
                    // removed this one's row meanwhile.
                    let (sql, i) = (
                        self.sql(
                            "INSERT INTO {s}.instances VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
                        ),
                        me.id.clone(),
                    );
                    let _ = self.pool.run_on(holder.clone(), move |c| async move {
                        c.execute(&sql, &[&i, &key, &now_ms()]).await.map(|_| ())
                    });
                }
            }
        }
        let q = self.sql("SELECT id FROM {s}.instances");
        let ids: Vec<String> = self
            .query(move |c| async move {
                Ok(c.query(&q, &[]).await?.iter().map(|r| r.get(0)).collect())
            })
            .unwrap_or_default();
        let mut ended: Vec<String> = ids.into_iter().filter(|id| !self.is_alive(id)).collect();
        ended.sort();
        ended
    }

    fn announce(&self, _ops: Option<&str>) -> Result<(), StoreError> {
        Ok(())
    }

    /// The advisory lock goes with the session; the row is removed by the
    /// next instance that finds the lock free.
    fn retire(&self, _parked: usize) -> Result<(), StoreError> {
        Ok(())
    }

    /// A real write: a database that went read-only (a replica, a full
    /// disk) fails it.
    fn check_writable(&self) -> Result<(), StoreError> {
        let q = self.sql(
            "INSERT INTO {s}.probe VALUES (1, $1) ON CONFLICT (id) DO UPDATE SET at = EXCLUDED.at",
        );
        self.query(move |c| async move { c.execute(&q, &[&now_ms()]).await.map(|_| ()) })
            .map_err(|e| match e {
                StoreError::Corrupt { path, message } => StoreError::Corrupt {
                    path,
                    message: format!("cannot write: {message}"),
                },
                other => other,
            })
    }

    fn claim(&self, request_id: &Uuid, case_id: &str) -> Result<Option<String>, StoreError> {
        block(self.claim_async(request_id, case_id))
    }

    fn load(&self, request_id: &Uuid) -> Result<Option<StateRecord>, StoreError> {
        block(self.load_async(request_id))
    }

    /// Runs `decide` in a transaction holding the request's row lock, on
    /// its current state, and records the change it returns.
    fn locked(
        &self,
        _case_id: &str,
        request_id: &Uuid,
        decide: &mut Decide<'_>,
    ) -> Result<(), StoreError> {
        block(async {
            let (tx, current) = self.lock(request_id).await?;
            let commit = decide(current)?;
            tx.commit(commit.as_ref()).await
        })
    }

    fn find_message(&self, message_id: &Uuid) -> Result<Option<Uuid>, StoreError> {
        block(self.find_message_async(message_id))
    }

    fn open_ids(&self) -> Result<Vec<Uuid>, StoreError> {
        self.ids(
            self.sql("SELECT request_id FROM {s}.requests WHERE open"),
            None,
        )
    }

    fn fallbacks_since(
        &self,
        since: std::time::SystemTime,
        _keep: std::time::Duration,
    ) -> Result<Vec<Uuid>, StoreError> {
        let ms = super::adapter_index::ms(since);
        self.ids(
            self.sql("SELECT request_id FROM {s}.requests WHERE fallback_at >= $1"),
            Some(ms),
        )
    }

    /// The journal of one case, its chain checked.
    fn journal(&self, case_id: &str) -> Result<Vec<journal::Entry>, StoreError> {
        let q = self.sql("SELECT entry FROM {s}.journal WHERE case_id = $1 ORDER BY seq");
        let case = case_id.to_owned();
        let lines: Vec<String> = self.query(move |c| async move {
            Ok(c.query(&q, &[&case])
                .await?
                .iter()
                .map(|r| r.get(0))
                .collect())
        })?;
        journal::check_chain(lines.iter().map(String::as_str)).map_err(|m| StoreError::Corrupt {
            path: format!("{}.journal, case {case_id}", self.schema),
            message: m,
        })
    }

    /// Final results per request in the journals of cases starting with
    /// `case_prefix`, each case's chain checked.
    fn final_results(&self, case_prefix: &str) -> Result<HashMap<String, u64>, StoreError> {
        let q = self.sql(
            "SELECT case_id, entry FROM {s}.journal WHERE starts_with(case_id, $1) ORDER BY case_id, seq",
        );
        let prefix = case_prefix.to_owned();
        let rows: Vec<(String, String)> = self.query(move |c| async move {
            Ok(c.query(&q, &[&prefix])
                .await?
                .iter()
                .map(|r| (r.get(0), r.get(1)))
                .collect())
        })?;
        let mut by_case: std::collections::BTreeMap<&str, Vec<&str>> = Default::default();
        for (case, entry) in &rows {
            by_case.entry(case).or_default().push(entry);
        }
        let mut out = HashMap::new();
        for (case, lines) in by_case {
            let entries =
                journal::check_chain(lines.into_iter()).map_err(|m| StoreError::Corrupt {
                    path: format!("{}.journal, case {case}", self.schema),
                    message: m,
                })?;
            journal::count_final_results(&mut out, entries);
        }
        Ok(out)
    }

    fn drop_external(&self) -> Result<(), StoreError> {
        self.drop_schema()
    }

    fn adapter_sent(&self, it_system: &str, request_id: &Uuid) -> Result<(), StoreError> {
        let q = self.sql(
            "INSERT INTO {s}.adapter_messages (it_system, request_id, accepted_at) VALUES ($1, $2, $3)
             ON CONFLICT (it_system, request_id) DO NOTHING",
        );
        let (it, rid) = (it_system.to_owned(), *request_id);
        self.query(move |c| async move { c.execute(&q, &[&it, &rid, &now_ms()]).await.map(|_| ()) })
    }

    fn adapter_ready(&self, it_system: &str, request_id: &Uuid) -> Result<(), StoreError> {
        let q = self.sql(
            "INSERT INTO {s}.adapter_messages (it_system, request_id, ready_at) VALUES ($1, $2, $3)
             ON CONFLICT (it_system, request_id)
             DO UPDATE SET ready_at = coalesce({s}.adapter_messages.ready_at, EXCLUDED.ready_at)",
        );
        let (it, rid) = (it_system.to_owned(), *request_id);
        self.query(move |c| async move { c.execute(&q, &[&it, &rid, &now_ms()]).await.map(|_| ()) })
    }

    /// The oldest ready answer, taken in one statement: a row another
    /// instance is taking is skipped, never taken twice.
    fn adapter_take(&self, it_system: &str) -> Result<Option<Uuid>, StoreError> {
        let q = self.sql(
            "UPDATE {s}.adapter_messages SET taken_at = $2
             WHERE (it_system, request_id) = (
                SELECT it_system, request_id FROM {s}.adapter_messages
                WHERE it_system = $1 AND ready_at IS NOT NULL AND taken_at IS NULL
                ORDER BY ready_at LIMIT 1 FOR UPDATE SKIP LOCKED)
             RETURNING request_id",
        );
        let it = it_system.to_owned();
        self.query(move |c| async move {
            Ok(c.query_opt(&q, &[&it, &now_ms()]).await?.map(|r| r.get(0)))
        })
    }

    fn adapter_between(
        &self,
        it_system: &str,
        from_ms: i64,
        to_ms: i64,
    ) -> Result<Vec<AdapterEntry>, StoreError> {
        let q = self.sql(
            "SELECT request_id, accepted_at, ready_at FROM {s}.adapter_messages
             WHERE it_system = $1 AND (accepted_at BETWEEN $2 AND $3 OR ready_at BETWEEN $2 AND $3)",
        );
        let it = it_system.to_owned();
        self.query(move |c| async move {
            Ok(c.query(&q, &[&it, &from_ms, &to_ms])
                .await?
                .iter()
                .map(|r| AdapterEntry {
                    request_id: r.get(0),
                    accepted_ms: r.get(1),
                    ready_ms: r.get(2),
                })
                .collect())
        })
    }
}

/// What `mezhved check-config` says of the database: reachable, and the
/// schema's migration version against this build's. Changes nothing.
pub(super) fn probe(target: Target, schema: &str) -> Result<String, String> {
    let schema = schema.to_owned();
    Driver::start()?.run(async move { probe_on(&target, &schema).await })?
}

async fn probe_on(target: &Target, schema: &str) -> Result<String, String> {
    let c = connect(target, &tokio::runtime::Handle::current()).await?;
    let exists: bool = c
        .query_one(
            "SELECT to_regclass($1) IS NOT NULL",
            &[&format!("{schema}.migrations")],
        )
        .await
        .map_err(|e| describe(&e))?
        .get(0);
    let ours = MIGRATIONS.len();
    if !exists {
        return Ok(format!(
            "connected; schema {schema} does not exist yet: created at start (version {ours})"
        ));
    }
    let version: i32 = c
        .query_one(
            &format!("SELECT coalesce(max(version), 0) FROM {schema}.migrations"),
            &[],
        )
        .await
        .map_err(|e| describe(&e))?
        .get(0);
    match (version as usize).cmp(&ours) {
        std::cmp::Ordering::Equal => Ok(format!("connected; schema {schema} at version {version}")),
        std::cmp::Ordering::Less => Ok(format!(
            "connected; schema {schema} at version {version}: migrated to {ours} at start"
        )),
        std::cmp::Ordering::Greater => Err(format!(
            "schema {schema} is at version {version}, newer than this build's {ours}: run the newer mezhved"
        )),
    }
}

/// Applies the migrations the schema lacks; returns the version it had.
async fn migrate(c: &Session, schema: &str) -> Result<usize, PgError> {
    let migrated = migrate_in_transaction(c, schema).await;
    if migrated.is_err() {
        let _ = c.client.batch_execute("ROLLBACK").await;
    }
    migrated
}

async fn migrate_in_transaction(c: &Session, schema: &str) -> Result<usize, PgError> {
    let c = &c.client;
    c.batch_execute("BEGIN").await?;
    c.execute("SELECT pg_advisory_xact_lock(hashtext($1))", &[&schema])
        .await?;
    c.batch_execute(&format!(
        "CREATE SCHEMA IF NOT EXISTS {schema};
         CREATE TABLE IF NOT EXISTS {schema}.migrations (version int PRIMARY KEY, applied_at bigint NOT NULL)"
    ))
    .await?;
    let done: i32 = c
        .query_one(
            &format!("SELECT coalesce(max(version), 0) FROM {schema}.migrations"),
            &[],
        )
        .await?
        .get(0);
    for (i, m) in MIGRATIONS.iter().enumerate().skip(done as usize) {
        c.batch_execute(&m.replace("{s}", schema)).await?;
        c.execute(
            &format!("INSERT INTO {schema}.migrations VALUES ($1, $2)"),
            &[&(i as i32 + 1), &now_ms()],
        )
        .await?;
        tracing::info!(schema, version = i + 1, "database migration applied");
    }
    c.batch_execute("COMMIT").await?;
    Ok(done as usize)
}

/// Writes a change inside the open transaction and commits it, in two
/// round trips: the state, the message index and the case's chain head
/// (locked) together; then the journal lines sealed on that head, the new
/// head and the commit together. A statement that fails aborts the
/// transaction, so the commit that follows it in the pipeline rolls back.
async fn apply(c: &Session, q: &Queries, commit: &Commit) -> Result<(), PgError> {
    let (update, message, head, line, tail) = (
        c.statement(&q.update).await?,
        c.statement(&q.message).await?,
        c.statement(&q.head).await?,
        c.statement(&q.line).await?,
        c.statement(&q.tail).await?,
    );
    let client = &c.client;
    let rec = &commit.rec;
    let record = serde_json::to_string(rec).expect("state records serialise");
    let open: Option<bool> = if commit.open {
        Some(true)
    } else if commit.closed {
        Some(false)
    } else {
        None
    };
    let fallback = commit.fallback.then(now_ms);
    let (state, now) = (rec.state.as_str(), now_ms());
    let mid = commit
        .message_id
        .as_deref()
        .and_then(|m| Uuid::parse_str(m).ok());
    let mut first: Vec<Pending<'_>> = Vec::new();
    if !commit.durable {
        // Its loss only repeats a step that is safe to repeat.
        first.push(Box::pin(async {
            client
                .batch_execute("SET LOCAL synchronous_commit TO OFF")
                .await
                .map(|_| 0)
        }));
    }
    first.push(Box::pin(async {
        let params: Params<'_> = &[&rec.request_id, &record, &state, &open, &fallback, &now];
        client.execute(&update, params).await
    }));
    if let Some(mid) = &mid {
        first.push(Box::pin(async {
            client.execute(&message, &[mid, &rec.request_id]).await
        }));
    }
    let (row, _) = try_join(
        client.query_one(&head, &[&rec.case_id, &journal::GENESIS]),
        try_join_all(first),
    )
    .await?;
    let (mut seq, mut prev): (i64, String) = (row.get(0), row.get(1));
    let mut lines = Vec::new();
    for entry in commit.entries() {
        let mut line = Vec::new();
        let entry = entry.seal_into(&prev, &mut line);
        line.pop(); // the newline: a row holds the line alone
        seq += 1;
        let text = String::from_utf8(line).expect("JSON is UTF-8");
        prev = entry.hash;
        lines.push((seq, entry.event, text));
    }
    let line = &line;
    let mut second: Vec<Pending<'_>> = lines
        .iter()
        .map(|(seq, event, text)| -> Pending<'_> {
            Box::pin(async move {
                let params: Params<'_> = &[&rec.case_id, seq, &rec.request_id, event, text];
                client.execute(line, params).await
            })
        })
        .collect();
    second.push(Box::pin(async {
        client.execute(&tail, &[&rec.case_id, &seq, &prev]).await
    }));
    second.push(Box::pin(async {
        client.batch_execute("COMMIT").await.map(|_| 0)
    }));
    try_join_all(second).await.map(|_| ())
}
