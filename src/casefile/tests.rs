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
    store.mark_replied(&mut rec).unwrap();
    assert!(reader.open_requests().unwrap().is_empty());

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
            "replied"
        ]
    );
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
fn message_ids_from_the_network_cannot_name_other_files() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    assert!(store.find_by_message("../requests/x").unwrap().is_none());
    let p = store.store_orphan("../../etc/passwd", b"x").unwrap();
    assert!(p.starts_with(dir.path().join(".orphans")));
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
