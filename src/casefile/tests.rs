use serde_json::json;

use super::*;
use crate::lookup::Outcome;
use crate::request::LookupRequest;

pub(super) fn request(case: &str, id: &str) -> LookupRequest {
    let v = json!({
        "request_id": id, "case_id": case, "kind": "egrul", "subject": {"ogrn": "1144703001233"},
        "details": {
            "requesting_body": {"name": "Комитет"},
            "service": {"name": "Услуга", "registry_number": "4700000010000012345"},
            "legal_basis": {"act": "7-ФЗ", "article": "31.4"},
            "official": {"name": "Иванова М. П.", "position": "специалист", "email": "a@b.ru"},
            "applicant_consent": false
        }
    });
    crate::request::parse_request(v.to_string().as_bytes(), clock::moscow_today()).unwrap()
}

pub(super) const ID: &str = "0b0e8a3e-7c1d-4f6a-9d61-6f1a3c2b9e01";

pub(super) fn answered(route: &ReplyRoute, via: &str) -> Answered {
    Answered {
        at: clock::now(),
        route: route.clone(),
        via: via.into(),
    }
}

pub(super) fn due(sent: OffsetDateTime) -> crate::calendar::Due {
    crate::calendar::Calendar::builtin().answer_due(sent)
}

/// One request through every state on `store`, checked as `reader` (the
/// same store, or another daemon's view of it) sees it.
pub(super) fn lives_through_its_states(store: &Store, reader: &Store) -> StateRecord {
    let req = request("LO-1", ID);
    let Acceptance::New(mut rec) = store.accept(&req, ReplyRoute::default()).unwrap() else {
        panic!("expected a new request");
    };
    assert_eq!(reader.open_requests().unwrap().len(), 1);
    let mid = "b077cd84-3959-11f1-b8b2-0242333cce59";
    store.record_envelope(&mut rec, mid, b"<env/>").unwrap();
    store.record_sent(&mut rec, None, due).unwrap();
    let found = reader.find_by_message(mid).unwrap().unwrap();
    assert_eq!(found.request_id, req.request_id);
    store.record_response(&mut rec, b"<resp/>").unwrap();
    let result = store
        .complete(&mut rec, Outcome::new(Verdict::Found))
        .unwrap();
    assert!(!result.fallback_required);
    let stored = reader.load(&req.request_id).unwrap().unwrap();
    assert_eq!(
        (stored.state, stored.verdict),
        (State::Completed, Some(Verdict::Found))
    );
    assert_eq!(
        reader.open_requests().unwrap().len(),
        1,
        "open until the reply is confirmed"
    );
    let first = ReplyRoute {
        reply_to: Some("case.replies".into()),
        correlation_id: Some("c-1".into()),
        ..ReplyRoute::default()
    };
    store
        .mark_replied(&mut rec, answered(&first, "reply_to"))
        .unwrap();
    assert!(reader.open_requests().unwrap().is_empty());

    // Published again with another reply_to: the latest route wins, the
    // request is open until the reply to it is confirmed, and the state
    // keeps both routes.
    let second = ReplyRoute {
        reply_to: Some("amq.gen-new".into()),
        correlation_id: Some("c-2".into()),
        ..ReplyRoute::default()
    };
    let mut rec = store.record_duplicate(&rec, &second).unwrap();
    assert_eq!(rec.reply, second);
    assert_eq!(reader.open_requests().unwrap().len(), 1);
    assert_eq!(reader.load(&req.request_id).unwrap().unwrap().reply, second);
    store
        .mark_replied(&mut rec, answered(&second, "reply_to"))
        .unwrap();
    assert!(reader.open_requests().unwrap().is_empty());
    let stored = reader.load(&req.request_id).unwrap().unwrap();
    let routes: Vec<_> = stored.replied_to.iter().map(|a| a.route.clone()).collect();
    assert_eq!(routes, [first, second]);

    let dir = store.request_dir(&rec);
    for f in [REQUEST_FILE, ENVELOPE_FILE, RESPONSE_FILE, RESULT_FILE] {
        assert!(dir.join(f).is_file(), "{f}");
    }
    let entries = reader.journal_of("LO-1").unwrap();
    let events: Vec<&str> = entries.iter().map(|e| e.event.as_str()).collect();
    assert_eq!(
        events,
        [
            "accepted",
            "signed",
            "sent",
            "answered",
            "completed",
            "replied",
            "duplicate",
            "replied_again"
        ]
    );
    let detail = |i: usize| entries[i].detail.clone().unwrap_or_default();
    assert_eq!(detail(5), "to reply_to case.replies (correlation_id c-1)");
    assert!(
        detail(6).contains("replies now go to reply_to amq.gen-new (correlation_id c-2)"),
        "{}",
        detail(6)
    );
    assert_eq!(detail(7), "to reply_to amq.gen-new (correlation_id c-2)");
    assert_eq!(entries[3].documents[0].1, sha256_hex(b"<resp/>"));
    assert_eq!(reader.final_results("LO-").unwrap().get(ID), Some(&1));
    rec
}

#[test]
fn a_request_lives_through_its_states() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let rec = lives_through_its_states(&store, &store);
    assert!(store.request_dir(&rec).join(STATE_FILE).is_file());
}

#[test]
fn the_same_request_id_is_recorded_once() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let req = request("LO-1", ID);
    assert!(matches!(
        store.accept(&req, ReplyRoute::default()).unwrap(),
        Acceptance::New(_)
    ));
    assert!(matches!(
        store.accept(&req, ReplyRoute::default()).unwrap(),
        Acceptance::Existing(_)
    ));
    let other_case = request("LO-2", ID);
    match store.accept(&other_case, ReplyRoute::default()).unwrap() {
        Acceptance::Conflict { case_id } => assert_eq!(case_id, "LO-1"),
        other => panic!("{other:?}"),
    }
    // Same case, another subject: not the same request.
    let mut other_subject = req.clone();
    other_subject.subject.id =
        crate::request::SubjectId::Inn(crate::request::Inn::parse_legal("4703123451").unwrap());
    let stored = std::fs::read(store.case_dir("LO-1").join(ID).join(REQUEST_FILE)).unwrap();
    match store.accept(&other_subject, ReplyRoute::default()).unwrap() {
        Acceptance::Reused {
            stored_sha256,
            received_sha256,
        } => {
            assert_eq!(stored_sha256, sha256_hex(&stored));
            assert_eq!(
                received_sha256,
                sha256_hex(&serde_json::to_vec_pretty(&other_subject).unwrap())
            );
            assert_ne!(stored_sha256, received_sha256);
        }
        other => panic!("{other:?}"),
    }
    // The stored request is untouched, and the same one again is still
    // recognised.
    assert_eq!(
        std::fs::read(store.case_dir("LO-1").join(ID).join(REQUEST_FILE)).unwrap(),
        stored
    );
    assert!(matches!(
        store.accept(&req, ReplyRoute::default()).unwrap(),
        Acceptance::Existing(_)
    ));
}

#[test]
fn a_crash_between_claim_and_state_is_finished_on_redelivery() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let req = request("LO-1", ID);
    // Only the claim made it to disk.
    std::fs::write(dir.path().join(".index/requests").join(ID), "LO-1").unwrap();
    assert!(matches!(
        store.accept(&req, ReplyRoute::default()).unwrap(),
        Acceptance::New(_)
    ));
}

#[test]
fn a_request_state_is_read_from_its_copy_when_this_process_wrote_it_else_from_the_journal() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let req = request("LO-1", ID);
    let Acceptance::New(mut rec) = store.accept(&req, ReplyRoute::default()).unwrap() else {
        panic!("expected a new request");
    };
    let copy = store.request_dir(&rec).join(STATE_FILE);
    let accepted_copy = std::fs::read(&copy).unwrap();
    store
        .record_envelope(&mut rec, "b077cd84-3959-11f1-b8b2-0242333cce59", b"<env/>")
        .unwrap();
    store.record_sent(&mut rec, None, due).unwrap();

    // This process wrote the copy: it is read alone, whatever the case
    // journal holds (here: a line that no longer parses).
    let journal_path = store.case_dir("LO-1").join(journal::FILE);
    let journal = std::fs::read(&journal_path).unwrap();
    let mut broken = journal.clone();
    broken.extend(format!("{{\"request_id\":\"{ID}\",\"event\":\n").as_bytes());
    std::fs::write(&journal_path, &broken).unwrap();
    assert_eq!(
        store.load(&rec.request_id).unwrap().unwrap().state,
        State::Sent
    );
    std::fs::write(&journal_path, &journal).unwrap();

    // A copy behind the journal, as a crash between the journal line and
    // the copy leaves it: another process (a restart) reads the journal.
    std::fs::write(&copy, &accepted_copy).unwrap();
    let restarted = Store::open(dir.path()).unwrap();
    let mut loaded = restarted.load(&rec.request_id).unwrap().unwrap();
    assert_eq!(loaded.state, State::Sent);
    restarted.record_response(&mut loaded, b"<resp/>").unwrap();
    let written: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&copy).unwrap()).unwrap();
    assert_eq!(written["state"], "answered");
    assert_eq!(
        restarted.load(&rec.request_id).unwrap().unwrap().state,
        State::Answered
    );
}

#[test]
fn message_ids_from_the_network_cannot_name_other_files() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    assert!(store.find_by_message("../requests/x").unwrap().is_none());
    let OrphanKept::Stored(p) = store
        .store_orphan("../../etc/passwd", b"x", 10, 100)
        .unwrap()
    else {
        panic!("within the quota");
    };
    assert!(p.starts_with(dir.path().join(".orphans")));
}

#[test]
fn orphans_are_kept_within_their_quota_of_files_and_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let id = |n: u32| format!("0b0e8a3e-7c1d-4f6a-9d61-6f1a3c2b{n:04}");
    for n in 0..3 {
        assert!(matches!(
            store.store_orphan(&id(n), &[b'x'; 100], 3, 1000).unwrap(),
            OrphanKept::Stored(_)
        ));
    }
    assert_eq!(store.orphan_usage().unwrap(), (3, 300));
    // A fourth file is over the count; the same answer again replaces its copy.
    assert!(matches!(
        store.store_orphan(&id(3), b"y", 3, 1000).unwrap(),
        OrphanKept::OverQuota {
            count: 3,
            bytes: 300
        }
    ));
    assert!(matches!(
        store.store_orphan(&id(2), &[b'z'; 150], 3, 1000).unwrap(),
        OrphanKept::Stored(_)
    ));
    assert_eq!(store.orphan_usage().unwrap(), (3, 350));
    // And bytes count too.
    assert!(matches!(
        store.store_orphan(&id(1), &[b'z'; 800], 5, 1000).unwrap(),
        OrphanKept::OverQuota { .. }
    ));
}

#[test]
fn a_stale_copy_never_moves_a_request_backwards_or_gives_it_a_second_result() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let req = request("LO-2", ID);
    let Acceptance::New(mut sender) = store.accept(&req, ReplyRoute::default()).unwrap() else {
        panic!("expected a new request");
    };
    store
        .record_envelope(
            &mut sender,
            "b077cd84-3959-11f1-b8b2-0242333cce59",
            b"<env/>",
        )
        .unwrap();
    // The poller's copy: the answer overtakes SMEV's acceptance.
    let mut poller = sender.clone();
    store.record_response(&mut poller, b"<resp/>").unwrap();
    let refused = store.record_sent(&mut sender, None, due).unwrap_err();
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
    assert_eq!(
        sender.state,
        State::Answered,
        "the caller sees the stored state"
    );
    assert!(
        store
            .record_attempt(&mut sender, 2, "timeout", clock::now())
            .is_err()
    );
    // The send task gives up, but only an unsent request can end that way.
    let mut late = sender.clone();
    assert!(
        store
            .complete_from(&mut late, UNSENT, Outcome::failed("gave up"))
            .is_err()
    );
    store
        .complete_from(&mut poller, ANSWERED, Outcome::new(Verdict::Found))
        .unwrap();
    let second = store.complete(&mut sender, Outcome::failed("again"));
    assert!(matches!(
        second,
        Err(StoreError::Superseded {
            state: "completed",
            ..
        })
    ));
    let stored = store.load(&req.request_id).unwrap().unwrap();
    assert_eq!(stored.verdict, Some(Verdict::Found));
    assert_eq!(
        stored.message_id.as_deref(),
        Some("b077cd84-3959-11f1-b8b2-0242333cce59")
    );
    let results: Vec<String> = journal::verify(&store.case_dir("LO-2"))
        .unwrap()
        .into_iter()
        .map(|e| e.event)
        .filter(|e| e == "completed" || e == "failed")
        .collect();
    assert_eq!(results, ["completed"]);
}

#[test]
fn a_relative_case_root_still_names_case_files_absolutely() {
    // Relative to the working directory, as in the default configuration.
    let rel = std::path::PathBuf::from(format!("target/tmp/cases-{}", uuid::Uuid::new_v4()));
    let store = Store::open(&rel).unwrap();
    let req = request("LO-REL", ID);
    let Acceptance::New(mut rec) = store.accept(&req, ReplyRoute::default()).unwrap() else {
        panic!("expected a new request");
    };
    let result = store
        .complete(&mut rec, Outcome::new(Verdict::NotFound))
        .unwrap();
    let cwd = std::env::current_dir().unwrap();
    assert_eq!(
        std::path::Path::new(&result.case_file),
        cwd.join(&rel).join("LO-REL").join(ID)
    );
    drop(store);
    std::fs::remove_dir_all(&rel).unwrap();
}

#[test]
fn reading_a_directory_that_holds_no_store_says_so() {
    let dir = tempfile::tempdir().unwrap();
    for root in [dir.path().join("never-made"), dir.path().to_owned()] {
        let e = Store::open_reader(&root).unwrap_err().to_string();
        assert!(e.contains("not a case store"), "{e}");
    }
}

/// One signed request through to its result, each change made the way
/// `how` says, on a new store: the journal's events, the documents, the
/// state another process reads, and the flushes made and waited for.
async fn one_lookup(how: How) -> (Vec<String>, Vec<(String, Vec<u8>)>, State, (u64, u64)) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let req: Request = request("LO-1", ID).into();
    let mid = "b077cd84-3959-11f1-b8b2-0242333cce59";
    let accept = || store.accept_as(how, &req, ReplyRoute::default(), Some((mid, b"<env/>")));
    let Acceptance::New(mut rec) = accept().await.unwrap() else {
        panic!("expected a new request");
    };
    store.record_sent(&mut rec, None, due).unwrap();
    let answer = Outcome::new(Verdict::Found);
    let result = store
        .complete_with_answer_as(how, &mut rec, b"<resp/>", answer)
        .await
        .unwrap();
    assert_eq!(result.outcome.verdict, Verdict::Found);
    let again = accept().await.unwrap();
    assert!(matches!(again, Acceptance::Existing(_)), "{again:?}");
    let events = store.journal_of("LO-1").unwrap();
    let folder = store.request_dir(&rec);
    let mut documents: Vec<_> = std::fs::read_dir(&folder)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|name| name != STATE_FILE && name != RESULT_FILE)
        .map(|name| (name.clone(), std::fs::read(folder.join(name)).unwrap()))
        .collect();
    documents.sort();
    assert!(folder.join(RESULT_FILE).is_file());
    // Another process's view reads the state from the journal.
    let other = Store::open_reader(dir.path()).unwrap();
    let seen = other.load(&rec.request_id).unwrap().unwrap();
    let events = events.into_iter().map(|e| e.event).collect();
    (events, documents, seen.state, store.flush_stats())
}

/// The changes made in place on the runtime (the files store's hot path)
/// record what the blocking ones do: the same lines, documents and state,
/// with the same flushes waited for (documents, then state, per change).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changes_made_in_place_record_what_blocking_ones_do() {
    let blocking = one_lookup(How::Blocking).await;
    let in_place = one_lookup(How::InPlace).await;
    assert_eq!(
        blocking.0,
        ["accepted", "signed", "sent", "answered", "completed"]
    );
    let names: Vec<_> = in_place.1.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, [REQUEST_FILE, RESPONSE_FILE, ENVELOPE_FILE]);
    assert_eq!(in_place.2, State::Completed);
    assert_eq!((in_place.3).1, 4, "flushes waited for");
    assert_eq!(
        (&blocking.0, &blocking.1, blocking.2, (blocking.3).1),
        (&in_place.0, &in_place.1, in_place.2, (in_place.3).1)
    );
}

/// Checked from the test's own thread (not a runtime thread, and without
/// the runtime's timers, which a held runtime would not fire): `change`
/// is still waiting for the lock, and the runtime's one thread runs
/// another task meanwhile.
fn runtime_runs_while_the_change_waits<T>(change: &tokio::task::JoinHandle<T>) {
    std::thread::sleep(std::time::Duration::from_millis(200));
    assert!(!change.is_finished(), "the change waits for the lock");
    let (ran, other) = std::sync::mpsc::channel();
    tokio::spawn(async move { ran.send(()).unwrap() });
    let waited = other.recv_timeout(std::time::Duration::from_secs(5));
    assert!(waited.is_ok(), "the runtime's thread was held by the wait");
}

/// A store with one accepted request, whose lock the test holds (as
/// another instance's writer would) until it drops the file returned.
fn accepted_and_locked() -> (tempfile::TempDir, Store, StateRecord, std::fs::File) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let Acceptance::New(rec) = store
        .accept(&request("LO-1", ID), ReplyRoute::default())
        .unwrap()
    else {
        panic!("expected a new request");
    };
    let held = std::fs::File::open(store.request_dir(&rec)).unwrap();
    held.lock().unwrap();
    (dir, store, rec, held)
}

/// An in-place change finding the request locked by another writer (here
/// a thread holding its directory's lock, as another instance would)
/// waits for the lock without holding up the runtime, then goes on.
#[tokio::test(flavor = "multi_thread", worker_threads = 1)]
async fn a_change_made_in_place_waits_for_the_lock_without_blocking_the_runtime() {
    let (_dir, store, rec, held) = accepted_and_locked();
    let (s, mut r) = (store.clone(), rec.clone());
    let change = tokio::spawn(async move {
        s.complete_from_as(How::InPlace, &mut r, OPEN, Outcome::new(Verdict::NotFound))
            .await
    });
    runtime_runs_while_the_change_waits(&change);
    assert_eq!(
        store.load(&rec.request_id).unwrap().unwrap().state,
        State::Accepted
    );
    drop(held);
    let result = change.await.unwrap().unwrap();
    assert_eq!(result.outcome.verdict, Verdict::NotFound);
    assert_eq!(
        store.load(&rec.request_id).unwrap().unwrap().state,
        State::Completed
    );
}

/// A blocking change made on a runtime thread (an unflushed change made in
/// place) that finds the request locked tells the runtime before it
/// waits, so the runtime's other tasks — the lock's holder among them —
/// still run.
#[tokio::test(flavor = "multi_thread", worker_threads = 1)]
async fn a_blocking_change_on_a_runtime_thread_does_not_hold_the_runtime_while_it_waits() {
    let (_dir, store, rec, held) = accepted_and_locked();
    let (s, r) = (store.clone(), rec.clone());
    let change = tokio::spawn(async move { s.note(&r, "probe", "while locked") });
    runtime_runs_while_the_change_waits(&change);
    drop(held);
    change.await.unwrap().unwrap();
    let last = store.journal_of("LO-1").unwrap().pop().unwrap();
    assert_eq!(last.event, "probe");
}
