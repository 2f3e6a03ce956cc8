//! The PostgreSQL backend against the real server (`MEZHVED_TEST_POSTGRES`,
//! default `postgres://postgres@127.0.0.1:5432/test?sslmode=disable`), each test in a
//! schema of its own that is dropped afterwards. Without a server the
//! tests are skipped, unless `MEZHVED_REQUIRE_POSTGRES=1` (CI) makes that
//! a failure.

use std::sync::Arc;

use super::tests::{ID, answered, due, lives_through_its_states, request};
use super::*;
use crate::lookup::Outcome;
use crate::request::LookupRequest;

const MID: &str = "b077cd84-3959-11f1-b8b2-0242333cce59";

fn url() -> String {
    std::env::var("MEZHVED_TEST_POSTGRES")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test?sslmode=disable".into())
}

fn target(url: &str) -> super::pg::Target {
    super::pg::Target {
        url: url.to_owned(),
        ca_file: None,
    }
}

/// A schema of its own under a temporary case root, dropped at the end.
struct Db {
    schema: String,
    root: tempfile::TempDir,
}

impl Db {
    fn new() -> Option<Db> {
        let db = Db {
            schema: format!("t_{}", &Uuid::new_v4().simple().to_string()[..12]),
            root: tempfile::tempdir().unwrap(),
        };
        match db.try_open(true) {
            Ok(_) => Some(db),
            Err(e) if std::env::var("MEZHVED_REQUIRE_POSTGRES").as_deref() == Ok("1") => {
                panic!("PostgreSQL is required (MEZHVED_REQUIRE_POSTGRES=1): {e}")
            }
            Err(e) => {
                eprintln!("skipped: no PostgreSQL at {}: {e}", url());
                None
            }
        }
    }

    fn try_open(&self, reader: bool) -> Result<Store, StoreError> {
        Store::open_postgres(self.root.path(), target(&url()), &self.schema, 4, reader)
    }

    /// Another daemon's view of the same store.
    fn open(&self) -> Store {
        self.try_open(false).unwrap()
    }

    fn sql(&self, q: &str) -> Vec<postgres::Row> {
        let mut c = postgres::Client::connect(&url(), postgres::NoTls).unwrap();
        c.query(&q.replace("{s}", &self.schema), &[]).unwrap()
    }
}

impl Drop for Db {
    fn drop(&mut self) {
        if let Ok(s) = self.try_open(true) {
            let _ = s.drop_postgres_schema();
        }
    }
}

/// The instances `store` sees ended, once the database has noticed a
/// session gone (at most 5 s).
fn ended(store: &Store) -> Vec<String> {
    for _ in 0..50 {
        let ended = store.ended_instances();
        if !ended.is_empty() {
            return ended;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    Vec::new()
}

fn new(store: &Store, req: &LookupRequest) -> StateRecord {
    match store.accept(req, ReplyRoute::default()).unwrap() {
        Acceptance::New(rec) => rec,
        other => panic!("expected a new request: {other:?}"),
    }
}

#[test]
fn a_request_lives_through_its_states_in_postgres() {
    let Some(db) = Db::new() else { return };
    let store = db.open();
    assert_eq!(store.backend_name(), "postgres");
    // Another daemon reads what this one wrote.
    lives_through_its_states(&store, &db.open());
}

#[test]
fn one_request_id_is_accepted_once_across_daemons_racing() {
    let Some(db) = Db::new() else { return };
    let stores: Vec<Arc<Store>> = (0..3).map(|_| Arc::new(db.open())).collect();
    let ids: Vec<String> = (0..40).map(|_| Uuid::new_v4().to_string()).collect();
    let ids = Arc::new(ids);
    let threads: Vec<_> = (0..6)
        .map(|t| {
            let (store, ids) = (stores[t % 3].clone(), ids.clone());
            std::thread::spawn(move || {
                let mut fresh = 0;
                for id in ids.iter() {
                    if let Acceptance::New(_) = store
                        .accept(&request("LO-race", id), ReplyRoute::default())
                        .unwrap()
                    {
                        fresh += 1;
                    }
                }
                fresh
            })
        })
        .collect();
    let fresh: usize = threads.into_iter().map(|t| t.join().unwrap()).sum();
    assert_eq!(fresh, 40, "each request id recorded exactly once");
    assert_eq!(stores[0].open_requests().unwrap().len(), 40);
    let accepted = stores[1]
        .journal_of("LO-race")
        .unwrap()
        .into_iter()
        .filter(|e| e.event == "accepted")
        .count();
    assert_eq!(accepted, 40);
    match stores[2]
        .accept(&request("LO-other", &ids[0]), ReplyRoute::default())
        .unwrap()
    {
        Acceptance::Conflict { case_id } => assert_eq!(case_id, "LO-race"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn the_answer_overtaking_the_acceptance_wins_on_another_daemon() {
    let Some(db) = Db::new() else { return };
    let (sender_node, poller_node) = (db.open(), db.open());
    let req = request("LO-2", ID);
    let mut sender = new(&sender_node, &req);
    sender_node
        .record_envelope(&mut sender, MID, b"<env/>")
        .unwrap();
    // The other daemon's poller finds the request by its MessageID.
    let mut poller = poller_node.find_by_message(MID).unwrap().unwrap();
    poller_node
        .record_response(&mut poller, b"<resp/>")
        .unwrap();
    let refused = sender_node.record_sent(&mut sender, None, due).unwrap_err();
    assert!(
        matches!(
            refused,
            StoreError::Superseded {
                state: "answered",
                ..
            }
        ),
        "{refused}"
    );
    poller_node
        .complete_from(&mut poller, ANSWERED, Outcome::new(Verdict::Found))
        .unwrap();
    assert!(matches!(
        sender_node.complete(&mut sender, Outcome::failed("again")),
        Err(StoreError::Superseded {
            state: "completed",
            ..
        })
    ));
    assert_eq!(sender_node.final_results("LO-2").unwrap().get(ID), Some(&1));
}

#[test]
fn a_result_written_by_a_daemon_that_dies_before_replying_is_replied_by_another() {
    let Some(db) = Db::new() else { return };
    let sender_node = db.open();
    let req = request("LO-5", ID);
    let mut rec = new(&sender_node, &req);
    sender_node
        .record_envelope(&mut rec, MID, b"<env/>")
        .unwrap();
    sender_node.record_sent(&mut rec, None, due).unwrap();
    {
        // Another daemon's poller takes the answer and writes the result,
        // then dies before its reply is confirmed.
        let poller_node = db.open();
        let mut theirs = poller_node.find_by_message(MID).unwrap().unwrap();
        poller_node
            .record_response(&mut theirs, b"<resp/>")
            .unwrap();
        poller_node
            .complete_from(&mut theirs, ANSWERED, Outcome::new(Verdict::Found))
            .unwrap();
        assert_eq!(theirs.owner.as_deref(), Some(poller_node.instance_id()));
        assert!(sender_node.claim(&theirs).unwrap().is_none(), "it runs");
    }
    assert_eq!(ended(&sender_node).len(), 1);
    let open = sender_node.open_requests().unwrap();
    assert_eq!(open.len(), 1, "completed, not replied: still open");
    let taken = sender_node
        .claim(&open[0])
        .unwrap()
        .expect("the unreplied result is taken over");
    assert_eq!(taken.state, State::Completed);
}

#[test]
fn a_killed_daemon_is_seen_ended_and_its_requests_are_taken_over() {
    let Some(db) = Db::new() else { return };
    let survivor = db.open();
    let rec = {
        let doomed = db.open();
        let rec = new(&doomed, &request("LO-3", ID));
        assert_eq!(rec.owner.as_deref(), Some(doomed.instance_id()));
        assert!(survivor.owned_elsewhere(&rec), "its owner runs");
        assert!(survivor.claim(&rec).unwrap().is_none());
        assert!(survivor.ended_instances().is_empty());
        rec
        // Dropped: its lock session ends, as when the process dies.
    };
    assert_eq!(ended(&survivor), [rec.owner.clone().unwrap()]);
    assert!(!survivor.owned_elsewhere(&rec));
    let taken = survivor.claim(&rec).unwrap().expect("taken over");
    assert_eq!(taken.owner.as_deref(), Some(survivor.instance_id()));
    assert_eq!(db.sql("SELECT id FROM {s}.instances").len(), 1);
}

#[test]
fn migrations_run_once_and_a_broken_chain_is_reported() {
    let Some(db) = Db::new() else { return };
    let store = db.open();
    let _again = db.open();
    let versions = db.sql("SELECT version FROM {s}.migrations");
    assert_eq!(versions.len(), MIGRATION_COUNT);
    new(&store, &request("LO-4", ID));
    db.sql("UPDATE {s}.journal SET entry = replace(entry, 'accepted', 'completed')");
    let err = store.final_results("LO-4").unwrap_err();
    assert!(err.to_string().contains("case LO-4"), "{err}");
    assert!(store.journal_of("LO-4").is_err());
}

#[test]
fn a_bad_url_is_a_clear_error_without_the_password() {
    let dir = tempfile::tempdir().unwrap();
    let opened = Store::open_postgres(
        dir.path(),
        target("postgres://mezhved:s3cret@127.0.0.1:1/none?connect_timeout=2"),
        "mezhved",
        2,
        false,
    );
    let Err(err) = opened else {
        panic!("nothing listens on port 1")
    };
    let text = err.to_string();
    assert!(text.contains("cannot connect"), "{text}");
    assert!(!text.contains("s3cret"), "{text}");
}

const MIGRATION_COUNT: usize = 2;

#[test]
fn check_config_reports_the_database_and_its_schema_version() {
    let Some(db) = Db::new() else { return };
    let mut s = crate::config::Settings::load(None).unwrap();
    assert!(
        Store::probe_database(&s).is_none(),
        "files: nothing to probe"
    );
    s.store.backend = "postgres".into();
    s.store.postgres_url = url();
    s.store.postgres_schema = format!("{}_new", db.schema);
    let fresh = Store::probe_database(&s).unwrap().unwrap();
    assert!(fresh.contains("does not exist yet"), "{fresh}");
    s.store.postgres_schema = db.schema.clone();
    let migrated = Store::probe_database(&s).unwrap().unwrap();
    assert!(
        migrated.ends_with(&format!("at version {MIGRATION_COUNT}")),
        "{migrated}"
    );
    db.sql("INSERT INTO {s}.migrations VALUES (99, 0)");
    let newer = Store::probe_database(&s).unwrap().unwrap_err();
    assert!(newer.contains("newer than this build"), "{newer}");
    let refused = db.try_open(false).err().map(|e| e.to_string());
    assert!(
        refused
            .as_deref()
            .is_some_and(|e| e.contains("newer than this build")),
        "{refused:?}"
    );
    db.sql("DELETE FROM {s}.migrations WHERE version = 99");
}

#[test]
fn a_change_whose_journal_line_fails_leaves_nothing_and_the_next_one_works() {
    let Some(db) = Db::new() else { return };
    let store = db.open();
    let mut rec = new(&store, &request("LO-pipe", ID));
    let seq: i64 = db.sql("SELECT seq FROM {s}.cases WHERE case_id = 'LO-pipe'")[0].get(0);
    // A line already where the change's line goes: its INSERT fails after
    // the state's UPDATE was sent in the same pipeline.
    db.sql(&format!(
        "INSERT INTO {{s}}.journal VALUES ('LO-pipe', {}, '{ID}', 'rogue', '{{}}') RETURNING seq",
        seq + 1
    ));
    let failed = store.record_envelope(&mut rec, MID, b"<env/>");
    assert!(failed.is_err(), "the change failed: {failed:?}");
    let stored = store.load(&rec.request_id).unwrap().unwrap();
    assert_eq!(stored.state, State::Accepted);
    assert_eq!(
        stored.message_id, None,
        "the state's update was rolled back"
    );
    assert!(
        store.find_by_message(MID).unwrap().is_none(),
        "and the index"
    );
    let head: i64 = db.sql("SELECT seq FROM {s}.cases WHERE case_id = 'LO-pipe'")[0].get(0);
    assert_eq!(head, seq, "and the chain head");
    // Every pooled connection is out of its transaction: changes work.
    db.sql("DELETE FROM {s}.journal WHERE event = 'rogue' RETURNING seq");
    for _ in 0..8 {
        store.note(&rec, "probe", "after a failed change").unwrap();
    }
    store.record_envelope(&mut rec, MID, b"<env/>").unwrap();
    assert_eq!(
        store.find_by_message(MID).unwrap().unwrap().state,
        State::Accepted
    );
    let events: Vec<String> = store
        .journal_of("LO-pipe")
        .unwrap()
        .into_iter()
        .map(|e| e.event)
        .collect();
    assert_eq!(events.first().map(String::as_str), Some("accepted"));
    assert_eq!(events.last().map(String::as_str), Some("signed"));
    assert_eq!(events.len(), 10);
}

/// One signed request through to its confirmed reply on a new schema,
/// each change and read made the way `how` says: the journal's events and
/// the state another daemon reads.
async fn one_lookup(db: &Db, how: How) -> (Vec<String>, StateRecord) {
    let store = db.open();
    let req: Request = request("LO-1", ID).into();
    let accept = || store.accept_as(how, &req, ReplyRoute::default(), Some((MID, b"<env/>")));
    let Acceptance::New(mut rec) = accept().await.unwrap() else {
        panic!("expected a new request");
    };
    store
        .record_sent_as(how, &mut rec, None, due)
        .await
        .unwrap();
    let found = store.find_by_message_as(how, MID).await.unwrap().unwrap();
    assert_eq!(
        (found.request_id, found.state),
        (rec.request_id, State::Sent)
    );
    let unknown = "0f6ad3a4-3959-11f1-b8b2-0242333cce59";
    assert!(
        store
            .find_by_message_as(how, unknown)
            .await
            .unwrap()
            .is_none()
    );
    let answer = Outcome::new(crate::lookup::Verdict::Found);
    let result = store
        .complete_with_answer_as(how, &mut rec, b"<resp/>", answer)
        .await
        .unwrap();
    assert_eq!(result.outcome.verdict, crate::lookup::Verdict::Found);
    let reply = answered(&rec.reply, "results");
    store.mark_replied_as(how, &mut rec, reply).await.unwrap();
    let again = accept().await.unwrap();
    assert!(matches!(again, Acceptance::Existing(_)), "{again:?}");
    let events = store.journal_of("LO-1").unwrap();
    let seen = db
        .open()
        .load_as(how, &rec.request_id)
        .await
        .unwrap()
        .unwrap();
    (events.into_iter().map(|e| e.event).collect(), seen)
}

/// The hot path's changes awaited on the runtime (the connections driven
/// by the runtime's one thread) record what the blocking ones do.
#[tokio::test(flavor = "multi_thread", worker_threads = 1)]
async fn changes_awaited_on_postgres_record_what_blocking_ones_do() {
    let (Some(db), Some(other)) = (Db::new(), Db::new()) else {
        return;
    };
    let (blocking, awaited) = (
        one_lookup(&db, How::Blocking).await,
        one_lookup(&other, How::InPlace).await,
    );
    assert_eq!(
        blocking.0,
        [
            "accepted",
            "signed",
            "sent",
            "answered",
            "completed",
            "replied"
        ]
    );
    assert_eq!(awaited.0, blocking.0);
    for (b, a) in [&blocking.1, &awaited.1]
        .iter()
        .zip([&awaited.1, &blocking.1])
    {
        assert_eq!(
            (
                b.state,
                &b.message_id,
                b.replied_at.is_some(),
                b.completed_at.is_some()
            ),
            (
                a.state,
                &a.message_id,
                a.replied_at.is_some(),
                a.completed_at.is_some()
            )
        );
    }
    assert_eq!(awaited.1.state, State::Completed);
}

/// An awaited change whose task is cancelled while its transaction waits
/// for the request's row lock does not leave that transaction behind: its
/// session is closed, not handed back to the pool, so once the lock is
/// free another daemon's change gets it. (Handed back, the session's
/// transaction would take the lock and keep it, idle, for good.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_awaited_change_cancelled_in_its_transaction_leaves_no_lock_behind() {
    let Some(db) = Db::new() else { return };
    let store = db.open();
    let rec = new(&store, &request("LO-1", ID));
    // Another session holds the row lock until told to let go.
    let (locked_tx, locked) = std::sync::mpsc::channel();
    let (release, released) = std::sync::mpsc::channel::<()>();
    let (url, schema, id) = (url(), db.schema.clone(), rec.request_id);
    let holder = std::thread::spawn(move || {
        let mut c = postgres::Client::connect(&url, postgres::NoTls).unwrap();
        let mut tx = c.transaction().unwrap();
        let lock = format!("SELECT 1 FROM {schema}.requests WHERE request_id = $1 FOR UPDATE");
        tx.query(&lock, &[&id]).unwrap();
        locked_tx.send(()).unwrap();
        released.recv().unwrap();
        tx.commit().unwrap();
    });
    locked.recv().unwrap();
    let (s, mut r) = (store.clone(), rec.clone());
    let change = tokio::spawn(async move {
        let open = [State::Accepted];
        s.complete_from_as(
            How::InPlace,
            &mut r,
            &open,
            Outcome::new(crate::lookup::Verdict::NotFound),
        )
        .await
    });
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert!(!change.is_finished(), "the change waits for the row lock");
    change.abort();
    assert!(change.await.unwrap_err().is_cancelled());
    release.send(()).unwrap();
    holder.join().unwrap();
    // Another daemon's change, on a thread of its own, bounded in time.
    let (done_tx, done) = std::sync::mpsc::channel();
    let (other, mut r) = (db.open(), rec.clone());
    std::thread::spawn(move || {
        let open = [State::Accepted];
        let outcome = Outcome::new(crate::lookup::Verdict::Found);
        let _ = done_tx.send(other.complete_from(&mut r, &open, outcome).map(|_| r.state));
    });
    let finished =
        tokio::task::spawn_blocking(move || done.recv_timeout(std::time::Duration::from_secs(30)))
            .await
            .unwrap();
    assert_eq!(
        finished
            .expect("the other daemon's change was not held by a lock left behind")
            .unwrap(),
        State::Completed
    );
    // And this daemon's pool still has its connections.
    for _ in 0..8 {
        store
            .note(&rec, "probe", "after a cancelled change")
            .unwrap();
    }
}
