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
//! The `postgres` client is synchronous and runs its own small runtime, so
//! each connection lives on a thread of its own and the store's callers
//! (which may be on async threads) hand it work through a channel.

use std::collections::HashMap;
use std::sync::mpsc;
use std::sync::{Arc, Condvar, Mutex};

use uuid::Uuid;

use super::{Commit, StateRecord, StoreError, journal};
use crate::config::redact_url;

type Job = Box<dyn FnOnce(Result<&mut Session, String>) + Send>;
type Params<'a> = &'a [&'a (dyn postgres::types::ToSql + Sync)];

/// One database session and the statements prepared on it: each is parsed
/// and planned once per connection, not at every call (half the round
/// trips of a change; BENCHMARKS.md).
struct Session {
    client: postgres::Client,
    prepared: HashMap<String, postgres::Statement>,
}

impl Session {
    fn statement(&mut self, sql: &str) -> Result<postgres::Statement, postgres::Error> {
        if let Some(st) = self.prepared.get(sql) {
            return Ok(st.clone());
        }
        let st = self.client.prepare(sql)?;
        self.prepared.insert(sql.to_owned(), st.clone());
        Ok(st)
    }

    fn execute(&mut self, sql: &str, params: Params<'_>) -> Result<u64, postgres::Error> {
        let st = self.statement(sql)?;
        self.client.execute(&st, params)
    }

    fn query(
        &mut self,
        sql: &str,
        params: Params<'_>,
    ) -> Result<Vec<postgres::Row>, postgres::Error> {
        let st = self.statement(sql)?;
        self.client.query(&st, params)
    }

    fn query_one(
        &mut self,
        sql: &str,
        params: Params<'_>,
    ) -> Result<postgres::Row, postgres::Error> {
        let st = self.statement(sql)?;
        self.client.query_one(&st, params)
    }

    fn query_opt(
        &mut self,
        sql: &str,
        params: Params<'_>,
    ) -> Result<Option<postgres::Row>, postgres::Error> {
        let st = self.statement(sql)?;
        self.client.query_opt(&st, params)
    }

    fn batch_execute(&mut self, sql: &str) -> Result<(), postgres::Error> {
        self.client.batch_execute(sql)
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

/// The error with its cause: `postgres::Error` alone says only its kind
/// ("error connecting to server").
fn describe(e: &postgres::Error) -> String {
    match std::error::Error::source(e) {
        Some(cause) => format!("{e}: {cause}"),
        None => e.to_string(),
    }
}

fn connect(t: &Target) -> Result<postgres::Client, String> {
    let config: postgres::Config = t.url.parse().map_err(|e| format!("the URL: {e}"))?;
    if config.get_ssl_mode() == postgres::config::SslMode::Disable {
        return config
            .connect(postgres::NoTls)
            .map_err(|e| format!("cannot connect: {}", describe(&e)));
    }
    let mut tls = openssl::ssl::SslConnector::builder(openssl::ssl::SslMethod::tls())
        .map_err(|e| e.to_string())?;
    if let Some(ca) = &t.ca_file {
        tls.set_ca_file(ca)
            .map_err(|e| format!("cannot load the CA file {}: {e}", ca.display()))?;
    }
    config
        .connect(postgres_openssl::MakeTlsConnector::new(tls.build()))
        .map_err(|e| {
            let e = describe(&e);
            let hint = if e.contains("TLS") {
                " (the server's certificate is checked against store.postgres_ca_file or the system trust store; on a link that needs no TLS add ?sslmode=disable)"
            } else {
                ""
            };
            format!("cannot connect: {e}{hint}")
        })
}

/// One connection on its own thread.
struct Conn {
    jobs: mpsc::Sender<Job>,
    target: Arc<Target>,
}

impl Conn {
    fn start(target: Arc<Target>) -> Conn {
        let (tx, rx) = mpsc::channel::<Job>();
        let on_thread = target.clone();
        std::thread::Builder::new()
            .name("mezhved-pg".into())
            .spawn(move || {
                let mut client: Option<Session> = None;
                for job in rx {
                    if client.as_ref().is_none_or(|c| c.client.is_closed()) {
                        // A new session has none of the old one's statements.
                        client = None;
                        match connect(&on_thread) {
                            Ok(c) => {
                                client = Some(Session {
                                    client: c,
                                    prepared: HashMap::new(),
                                })
                            }
                            Err(e) => {
                                job(Err(e));
                                continue;
                            }
                        }
                    }
                    job(Ok(client.as_mut().expect("connected above")));
                }
            })
            .expect("a thread can be started");
        Conn { jobs: tx, target }
    }

    /// Runs `f` on this connection and waits for it.
    fn run<R: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Session) -> Result<R, postgres::Error> + Send + 'static,
    ) -> Result<R, StoreError> {
        let (tx, rx) = mpsc::channel();
        let job: Job = Box::new(move |c| {
            let r = match c {
                Ok(c) => f(c).map_err(|e| format!("PostgreSQL: {}", describe(&e))),
                Err(e) => Err(e),
            };
            let _ = tx.send(r);
        });
        let err = |message: String| StoreError::Corrupt {
            path: redact_url(&self.target.url),
            message,
        };
        self.jobs
            .send(job)
            .map_err(|_| err("the connection thread has stopped".into()))?;
        rx.recv()
            .map_err(|_| err("the connection thread has stopped".into()))?
            .map_err(err)
    }
}

/// Connections, created as needed up to a bound.
struct Pool {
    target: Arc<Target>,
    max: usize,
    idle: Mutex<(Vec<Conn>, usize)>,
    freed: Condvar,
}

struct Pooled<'a> {
    pool: &'a Pool,
    conn: Option<Conn>,
}

impl Pool {
    fn get(&self) -> Pooled<'_> {
        let mut g = self.idle.lock().expect("pool lock");
        loop {
            if let Some(c) = g.0.pop() {
                return Pooled {
                    pool: self,
                    conn: Some(c),
                };
            }
            if g.1 < self.max {
                g.1 += 1;
                return Pooled {
                    pool: self,
                    conn: Some(Conn::start(self.target.clone())),
                };
            }
            g = self.freed.wait(g).expect("pool lock");
        }
    }
}

impl Pooled<'_> {
    fn run<R: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Session) -> Result<R, postgres::Error> + Send + 'static,
    ) -> Result<R, StoreError> {
        self.conn.as_ref().expect("held until dropped").run(f)
    }
}

impl Drop for Pooled<'_> {
    fn drop(&mut self) {
        if let Some(c) = self.conn.take() {
            let mut g = self.pool.idle.lock().expect("pool lock");
            if std::thread::panicking() {
                // It may be inside a transaction holding row locks: closed
                // (ending the transaction), never handed to another change.
                drop(c);
                g.1 -= 1;
            } else {
                g.0.push(c);
            }
            self.pool.freed.notify_one();
        }
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

pub(super) struct Pg {
    schema: String,
    pool: Pool,
    instance: Option<Registered>,
}

/// This daemon's registration: its id and the session holding its lock.
struct Registered {
    id: String,
    key: i64,
    holder: Mutex<Conn>,
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
        let pool = Pool {
            target: Arc::new(target),
            max: pool,
            idle: Mutex::new((Vec::new(), 0)),
            freed: Condvar::new(),
        };
        let s = schema.to_owned();
        let found = pool.get().run(move |c| migrate(c, &s))?;
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
        let holder = Conn::start(self.pool.target.clone());
        holder.run(move |c| {
            c.execute("SELECT pg_advisory_lock($1)", &[&key])
                .map(|_| ())
        })?;
        let (sql, i) = (
            self.sql("INSERT INTO {s}.instances VALUES ($1, $2, $3)"),
            id.clone(),
        );
        self.pool
            .get()
            .run(move |c| c.execute(&sql, &[&i, &key, &now_ms()]).map(|_| ()))?;
        Ok(Registered {
            id,
            key,
            holder: Mutex::new(holder),
        })
    }

    fn sql(&self, q: &str) -> String {
        q.replace("{s}", &self.schema)
    }

    pub fn instance_id(&self) -> &str {
        self.instance.as_ref().map_or("reader", |r| r.id.as_str())
    }

    /// Whether instance `id` runs: its advisory lock is held. One whose lock
    /// can be taken has ended (its row is removed). Asked on this daemon's
    /// own lock session, never on a pooled connection: it is asked inside
    /// changes that already hold one, and a full pool must not wait on
    /// itself.
    pub fn is_alive(&self, id: &str) -> bool {
        if id == self.instance_id() {
            return true;
        }
        let q = self.sql("SELECT lock_key FROM {s}.instances WHERE id = $1");
        let del = self.sql("DELETE FROM {s}.instances WHERE id = $1");
        let i = id.to_owned();
        let check = move |c: &mut Session| {
            let Some(key) = c.query_opt(&q, &[&i])?.map(|r| r.get::<_, i64>(0)) else {
                return Ok(false);
            };
            let free: bool = c
                .query_one("SELECT pg_try_advisory_lock($1)", &[&key])?
                .get(0);
            if free {
                c.execute("SELECT pg_advisory_unlock($1)", &[&key])?;
                c.execute(&del, &[&i])?;
            }
            Ok(!free)
        };
        let alive = match &self.instance {
            Some(me) => me.holder.lock().expect("holder lock").run(check),
            None => self.pool.get().run(check),
        };
        // Cannot tell: assume it runs, so that nobody works twice.
        alive.unwrap_or(true)
    }

    /// Instances registered that have ended; also makes sure this one's
    /// lock session is still there (taking the lock again if the database
    /// dropped it).
    pub fn ended(&self) -> Vec<String> {
        if let Some(me) = &self.instance {
            let mut holder = me.holder.lock().expect("holder lock");
            let key = me.key;
            if holder
                .run(|c| c.execute("SELECT 1", &[]).map(|_| ()))
                .is_err()
            {
                tracing::warn!(
                    "lost the database session holding this instance's lock; taking it again (other instances may have taken over its requests meanwhile)"
                );
                let fresh = Conn::start(self.pool.target.clone());
                if fresh
                    .run(move |c| {
                        c.execute("SELECT pg_advisory_lock($1)", &[&key])
                            .map(|_| ())
                    })
                    .is_ok()
                {
                    *holder = fresh;
                    // Another instance may have found the lock free and
                    // removed this one's row meanwhile.
                    let (sql, i) = (
                        self.sql(
                            "INSERT INTO {s}.instances VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
                        ),
                        me.id.clone(),
                    );
                    let _ =
                        holder.run(move |c| c.execute(&sql, &[&i, &key, &now_ms()]).map(|_| ()));
                }
            }
        }
        let q = self.sql("SELECT id FROM {s}.instances");
        let ids: Vec<String> = self
            .pool
            .get()
            .run(move |c| Ok(c.query(&q, &[])?.iter().map(|r| r.get(0)).collect()))
            .unwrap_or_default();
        let mut ended: Vec<String> = ids.into_iter().filter(|id| !self.is_alive(id)).collect();
        ended.sort();
        ended
    }

    pub fn claim(&self, request_id: &Uuid, case_id: &str) -> Result<Option<String>, StoreError> {
        let ins = self.sql(
            "INSERT INTO {s}.requests (request_id, case_id) VALUES ($1, $2) ON CONFLICT (request_id) DO NOTHING",
        );
        let sel = self.sql("SELECT case_id FROM {s}.requests WHERE request_id = $1");
        let (rid, case) = (*request_id, case_id.to_owned());
        self.pool.get().run(move |c| {
            if c.execute(&ins, &[&rid, &case])? == 1 {
                return Ok(None);
            }
            Ok(Some(c.query_one(&sel, &[&rid])?.get(0)))
        })
    }

    pub fn load(&self, request_id: &Uuid) -> Result<Option<StateRecord>, StoreError> {
        let q = self.sql("SELECT record FROM {s}.requests WHERE request_id = $1");
        let rid = *request_id;
        let text: Option<String> = self
            .pool
            .get()
            .run(move |c| Ok(c.query_opt(&q, &[&rid])?.and_then(|r| r.get(0))))?;
        self.parse(text)
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

    /// Runs `f` in a transaction holding the request's row lock, on its
    /// current state, and records the change it returns.
    pub fn locked<T>(
        &self,
        request_id: &Uuid,
        f: impl FnOnce(Option<StateRecord>) -> Result<(T, Option<Commit>), StoreError>,
    ) -> Result<T, StoreError> {
        let conn = self.pool.get();
        let q = self.sql("SELECT record FROM {s}.requests WHERE request_id = $1 FOR UPDATE");
        let rid = *request_id;
        let text: Option<String> = conn.run(move |c| {
            c.batch_execute("BEGIN")?;
            Ok(c.query_opt(&q, &[&rid])?.and_then(|r| r.get(0)))
        })?;
        // Whatever happens from here, the transaction ends.
        let outcome = self.parse(text).and_then(f);
        let (out, commit) = match outcome {
            Ok(x) => x,
            Err(e) => {
                let _ = conn.run(|c| c.batch_execute("ROLLBACK"));
                return Err(e);
            }
        };
        let Some(commit) = commit else {
            conn.run(|c| c.batch_execute("COMMIT"))?;
            return Ok(out);
        };
        let schema = self.schema.clone();
        let applied = conn.run(move |c| {
            let r = apply(c, &schema, &commit);
            if r.is_err() {
                let _ = c.batch_execute("ROLLBACK");
            }
            r
        });
        applied.map(|_| out)
    }

    pub fn find_message(&self, message_id: &Uuid) -> Result<Option<Uuid>, StoreError> {
        let q = self.sql("SELECT request_id FROM {s}.messages WHERE message_id = $1");
        let mid = *message_id;
        self.pool
            .get()
            .run(move |c| Ok(c.query_opt(&q, &[&mid])?.map(|r| r.get(0))))
    }

    pub fn open_ids(&self) -> Result<Vec<Uuid>, StoreError> {
        let q = self.sql("SELECT request_id FROM {s}.requests WHERE open");
        self.pool
            .get()
            .run(move |c| Ok(c.query(&q, &[])?.iter().map(|r| r.get(0)).collect()))
    }

    pub fn fallbacks_since(&self, since: std::time::SystemTime) -> Result<Vec<Uuid>, StoreError> {
        let ms = since
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as i64)
            .unwrap_or(0);
        let q = self.sql("SELECT request_id FROM {s}.requests WHERE fallback_at >= $1");
        self.pool
            .get()
            .run(move |c| Ok(c.query(&q, &[&ms])?.iter().map(|r| r.get(0)).collect()))
    }

    /// The journal of one case, its chain checked.
    pub fn journal(&self, case_id: &str) -> Result<Vec<journal::Entry>, StoreError> {
        let q = self.sql("SELECT entry FROM {s}.journal WHERE case_id = $1 ORDER BY seq");
        let case = case_id.to_owned();
        let lines: Vec<String> = self
            .pool
            .get()
            .run(move |c| Ok(c.query(&q, &[&case])?.iter().map(|r| r.get(0)).collect()))?;
        journal::check_chain(lines.iter().map(String::as_str)).map_err(|m| StoreError::Corrupt {
            path: format!("{}.journal, case {case_id}", self.schema),
            message: m,
        })
    }

    /// Final results per request in the journals of cases starting with
    /// `case_prefix`, each case's chain checked.
    pub fn final_results(&self, case_prefix: &str) -> Result<HashMap<String, u64>, StoreError> {
        let q = self.sql(
            "SELECT case_id, entry FROM {s}.journal WHERE starts_with(case_id, $1) ORDER BY case_id, seq",
        );
        let prefix = case_prefix.to_owned();
        let rows: Vec<(String, String)> = self.pool.get().run(move |c| {
            Ok(c.query(&q, &[&prefix])?
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

    /// A real write: a database that went read-only (a replica, a full
    /// disk) fails it.
    pub fn check_writable(&self) -> Result<(), StoreError> {
        let q = self.sql(
            "INSERT INTO {s}.probe VALUES (1, $1) ON CONFLICT (id) DO UPDATE SET at = EXCLUDED.at",
        );
        self.pool
            .get()
            .run(move |c| c.execute(&q, &[&now_ms()]).map(|_| ()))
            .map_err(|e| match e {
                StoreError::Corrupt { path, message } => StoreError::Corrupt {
                    path,
                    message: format!("cannot write: {message}"),
                },
                other => other,
            })
    }

    /// Removes the schema and everything in it (tests).
    pub fn drop_schema(&self) -> Result<(), StoreError> {
        let q = self.sql("DROP SCHEMA IF EXISTS {s} CASCADE");
        self.pool.get().run(move |c| c.batch_execute(&q))
    }
}

/// The adapter interface's records (`adapter_index`).
impl Pg {
    pub fn adapter_sent(&self, it_system: &str, request_id: &Uuid) -> Result<(), StoreError> {
        let q = self.sql(
            "INSERT INTO {s}.adapter_messages (it_system, request_id, accepted_at) VALUES ($1, $2, $3)
             ON CONFLICT (it_system, request_id) DO NOTHING",
        );
        let (it, rid) = (it_system.to_owned(), *request_id);
        self.pool
            .get()
            .run(move |c| c.execute(&q, &[&it, &rid, &now_ms()]).map(|_| ()))
    }

    pub fn adapter_ready(&self, it_system: &str, request_id: &Uuid) -> Result<(), StoreError> {
        let q = self.sql(
            "INSERT INTO {s}.adapter_messages (it_system, request_id, ready_at) VALUES ($1, $2, $3)
             ON CONFLICT (it_system, request_id)
             DO UPDATE SET ready_at = coalesce({s}.adapter_messages.ready_at, EXCLUDED.ready_at)",
        );
        let (it, rid) = (it_system.to_owned(), *request_id);
        self.pool
            .get()
            .run(move |c| c.execute(&q, &[&it, &rid, &now_ms()]).map(|_| ()))
    }

    /// The oldest ready answer, taken in one statement: a row another
    /// instance is taking is skipped, never taken twice.
    pub fn adapter_take(&self, it_system: &str) -> Result<Option<Uuid>, StoreError> {
        let q = self.sql(
            "UPDATE {s}.adapter_messages SET taken_at = $2
             WHERE (it_system, request_id) = (
                SELECT it_system, request_id FROM {s}.adapter_messages
                WHERE it_system = $1 AND ready_at IS NOT NULL AND taken_at IS NULL
                ORDER BY ready_at LIMIT 1 FOR UPDATE SKIP LOCKED)
             RETURNING request_id",
        );
        let it = it_system.to_owned();
        self.pool
            .get()
            .run(move |c| Ok(c.query_opt(&q, &[&it, &now_ms()])?.map(|r| r.get(0))))
    }

    pub fn adapter_between(
        &self,
        it_system: &str,
        from_ms: i64,
        to_ms: i64,
    ) -> Result<Vec<super::adapter_index::AdapterEntry>, StoreError> {
        let q = self.sql(
            "SELECT request_id, accepted_at, ready_at FROM {s}.adapter_messages
             WHERE it_system = $1 AND (accepted_at BETWEEN $2 AND $3 OR ready_at BETWEEN $2 AND $3)",
        );
        let it = it_system.to_owned();
        self.pool.get().run(move |c| {
            Ok(c.query(&q, &[&it, &from_ms, &to_ms])?
                .iter()
                .map(|r| super::adapter_index::AdapterEntry {
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
pub(super) fn probe(target: &Target, schema: &str) -> Result<String, String> {
    let mut c = connect(target)?;
    let exists: bool = c
        .query_one(
            "SELECT to_regclass($1) IS NOT NULL",
            &[&format!("{schema}.migrations")],
        )
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
fn migrate(c: &mut Session, schema: &str) -> Result<usize, postgres::Error> {
    let mut tx = c.client.transaction()?;
    tx.execute("SELECT pg_advisory_xact_lock(hashtext($1))", &[&schema])?;
    tx.batch_execute(&format!(
        "CREATE SCHEMA IF NOT EXISTS {schema};
         CREATE TABLE IF NOT EXISTS {schema}.migrations (version int PRIMARY KEY, applied_at bigint NOT NULL)"
    ))?;
    let done: i32 = tx
        .query_one(
            &format!("SELECT coalesce(max(version), 0) FROM {schema}.migrations"),
            &[],
        )?
        .get(0);
    for (i, m) in MIGRATIONS.iter().enumerate().skip(done as usize) {
        tx.batch_execute(&m.replace("{s}", schema))?;
        tx.execute(
            &format!("INSERT INTO {schema}.migrations VALUES ($1, $2)"),
            &[&(i as i32 + 1), &now_ms()],
        )?;
        tracing::info!(schema, version = i + 1, "database migration applied");
    }
    tx.commit()?;
    Ok(done as usize)
}

/// Writes a change inside the open transaction and commits it.
fn apply(c: &mut Session, s: &str, commit: &Commit) -> Result<(), postgres::Error> {
    if !commit.durable {
        // Its loss only repeats a step that is safe to repeat.
        c.batch_execute("SET LOCAL synchronous_commit TO OFF")?;
    }
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
    c.execute(
        &format!(
            "UPDATE {s}.requests SET record = $2, state = $3, open = coalesce($4, open),
             fallback_at = coalesce($5, fallback_at), updated_at = $6 WHERE request_id = $1"
        ),
        &[
            &rec.request_id,
            &record,
            &rec.state.as_str(),
            &open,
            &fallback,
            &now_ms(),
        ],
    )?;
    if let Some(mid) = &commit.message_id
        && let Ok(mid) = Uuid::parse_str(mid)
    {
        c.execute(
            &format!("INSERT INTO {s}.messages VALUES ($1, $2) ON CONFLICT DO NOTHING"),
            &[&mid, &rec.request_id],
        )?;
    }
    // Creates the case's chain head or locks it: one statement.
    let row = c.query_one(
        &format!(
            "INSERT INTO {s}.cases VALUES ($1, 0, $2) ON CONFLICT (case_id)
             DO UPDATE SET seq = {s}.cases.seq RETURNING seq, last_hash"
        ),
        &[&rec.case_id, &journal::GENESIS],
    )?;
    let (mut seq, mut prev): (i64, String) = (row.get(0), row.get(1));
    for entry in commit.entries() {
        let entry = entry.seal(&prev);
        seq += 1;
        let text = serde_json::to_string(&entry).expect("journal entries serialise");
        c.execute(
            &format!("INSERT INTO {s}.journal VALUES ($1, $2, $3, $4, $5)"),
            &[&rec.case_id, &seq, &rec.request_id, &entry.event, &text],
        )?;
        prev = entry.hash;
    }
    c.execute(
        &format!("UPDATE {s}.cases SET seq = $2, last_hash = $3 WHERE case_id = $1"),
        &[&rec.case_id, &seq, &prev],
    )?;
    c.batch_execute("COMMIT")
}
