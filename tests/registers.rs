//! РНП and foreign agents from the registers' own sources: ЕИС's document
//! service and Минюст's registry service (emulated over real HTTP), their
//! snapshots built by `mezhved registers sync`, and the pipeline that
//! records each exchange in the case file.

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use common::harness::{Client, Harness, broker_or_skip, prefix, test_settings};
use common::*;
use mezhved::emulator::{self, FixtureSubject};
use mezhved::lookup::Verdict;
use mezhved::registers::{self, Query, eis, snapshot};
use mezhved::request::Kind;
use mezhved::xml;
use serde_json::json;

const WAIT: Duration = Duration::from_secs(40);

/// The official ЕИС schema set (10.2), when `MEZHVED_EIS_XSD_DIR` names it.
fn official_eis_dir() -> Option<PathBuf> {
    let d = std::env::var_os("MEZHVED_EIS_XSD_DIR").map(PathBuf::from)?;
    assert!(
        d.join("docs-ws-api.xsd").is_file(),
        "MEZHVED_EIS_XSD_DIR={} has no docs-ws-api.xsd",
        d.display()
    );
    Some(d)
}

/// Validates one element of `bytes` (standalone) against `schema`.
fn validate_element(bytes: &[u8], el: impl Fn(&xml::Document) -> xml::NodeId, schema: &Path) {
    let doc = xml::parse(bytes).unwrap();
    let text = xml::element_to_string(&doc, el(&doc));
    xmllint_validate(text.as_bytes(), schema);
}

/// Holds an exchange with ЕИС to mezhved's schemas and, when given, the
/// official ones.
fn check_eis_exchange(ex: &registers::Exchange) {
    let ours = root().join("schemas/eis");
    let official = official_eis_dir();
    let body = |d: &xml::Document| eis::body_child(d).unwrap();
    for (name, bytes) in &ex.documents {
        for dir in [Some(ours.clone()), official.clone()].into_iter().flatten() {
            validate_element(bytes, body, &dir.join("docs-ws-api.xsd"));
        }
        if *name == registers::RESPONSE_XML
            && let eis::RnpAnswer::Objects(objects) =
                eis::read_response(&xml::parse(bytes).unwrap()).unwrap()
        {
            for o in objects {
                for dir in [Some(ours.clone()), official.clone()].into_iter().flatten() {
                    xmllint_validate(&o.content, &dir.join("fcsExport.xsd"));
                }
            }
        }
    }
}

fn subjects(kind: Kind) -> Vec<FixtureSubject> {
    let registry = mezhved::lookup::Registry::new(&Default::default());
    let fx = emulator::Fixtures::load(&root().join("fixtures"), &registry).unwrap();
    fx.subjects()
        .iter()
        .filter(|s| s.kind == kind)
        .cloned()
        .collect()
}

async fn emulator_in(dir: &Path) -> (mezhved::config::Settings, emulator::Running) {
    let mut s = test_settings(dir, &prefix("registers"));
    let emu = emulator::start(&s, "127.0.0.1:0", &s.emulator.data.clone())
        .await
        .unwrap();
    emu.point_registers(&mut s);
    (s, emu)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eis_answers_every_fixture_as_promised_and_every_message_validates() {
    let dir = tempfile::tempdir().unwrap();
    let (s, emu) = emulator_in(dir.path()).await;
    let sources = registers::Sources::from_settings(&s).unwrap();
    let src = sources.get(registers::Route::Eis).unwrap();
    let official = official_eis_dir().is_some();
    for subject in subjects(Kind::UnreliableSupplier) {
        for id in &subject.identifiers {
            let req = fixture_request(&subject, id);
            let ex = src.lookup(&Query::of(&req), true).await.unwrap();
            assert_eq!(
                ex.outcome.verdict, subject.expect,
                "{}: {:?}",
                subject.key, ex.outcome
            );
            check_eis_exchange(&ex);
            let source = ex.outcome.source.as_ref().unwrap();
            assert_eq!(source.register, "eis");
            assert_eq!(source.url, emu.eis_endpoint());
        }
    }
    // The case: excluded six months before as_of, and the dates are in the facts.
    let recent = subjects(Kind::UnreliableSupplier)
        .into_iter()
        .find(|s| s.key == "excluded-recently")
        .unwrap();
    let ex = src
        .lookup(&Query::of(&fixture_request(&recent, "4705123457")), true)
        .await
        .unwrap();
    let facts = ex.outcome.facts.unwrap();
    assert_eq!(facts["records"][0]["excluded_on"], "2026-05-20");
    assert_eq!(facts["records"][0]["included_on"], "2024-04-10");
    assert_eq!(facts["window_from"], "2024-11-20");
    // The same record asked as of a date more than two years after its exclusion.
    let mut later = recent.clone();
    later.as_of = None;
    let mut req = fixture_request(&later, "4705123457");
    req.as_of = Some(time::macros::date!(2028 - 05 - 20));
    let ex = src.lookup(&Query::of(&req), true).await.unwrap();
    assert_eq!(ex.outcome.verdict, Verdict::NotListed, "{:?}", ex.outcome);
    eprintln!(
        "ЕИС messages checked against {}",
        if official {
            "mezhved's and the official schemas"
        } else {
            "mezhved's schemas (set MEZHVED_EIS_XSD_DIR for the official ones)"
        }
    );
    emu.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_token_is_the_agencys_refusal_with_the_exchange_kept() {
    let dir = tempfile::tempdir().unwrap();
    let (mut s, emu) = emulator_in(dir.path()).await;
    let token = dir.path().join("token");
    std::fs::write(&token, "revoked\n").unwrap();
    s.registers.eis.token_file = token.display().to_string();
    let sources = registers::Sources::from_settings(&s).unwrap();
    let ex = sources
        .get(registers::Route::Eis)
        .unwrap()
        .lookup(
            &Query::of(&lookup_request(Kind::UnreliableSupplier, "7812345675")),
            true,
        )
        .await
        .unwrap();
    assert_eq!(ex.outcome.verdict, Verdict::Rejected);
    assert_eq!(ex.outcome.rejection.as_ref().unwrap().code, "403");
    // The token travels in a header: the stored envelope holds no secret.
    let sent = &ex.documents[0].1;
    assert!(!String::from_utf8_lossy(sent).contains("revoked"));
    check_eis_exchange(&ex);
    emu.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn minjust_answers_every_fixture_as_promised() {
    let dir = tempfile::tempdir().unwrap();
    let (s, emu) = emulator_in(dir.path()).await;
    let sources = registers::Sources::from_settings(&s).unwrap();
    let src = sources.get(registers::Route::Minjust).unwrap();
    for subject in subjects(Kind::ForeignAgent) {
        for id in &subject.identifiers {
            let req = fixture_request(&subject, id);
            let ex = src.lookup(&Query::of(&req), true).await.unwrap();
            assert_eq!(
                ex.outcome.verdict, subject.expect,
                "{} {id}: {:?}",
                subject.key, ex.outcome
            );
            assert!(ex.register_date.is_some(), "lastModified kept");
            if subject.key == "agent-name-only" {
                let f = ex.outcome.facts.as_ref().unwrap();
                assert_eq!(f["candidates"][0]["registry_number"], "12");
                assert!(ex.outcome.verdict.needs_fallback());
            }
        }
    }
    emu.stop();
}

/// `mezhved registers sync` against the emulator, as an operator runs it.
fn sync_cli(s: &mezhved::config::Settings, extra: &[&str]) -> String {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_mezhved"))
        .args(["registers", "sync"])
        .args(extra)
        .env("MEZHVED__GATEWAY__STATE_DIR", &s.gateway.state_dir)
        .env(
            "MEZHVED__REGISTERS__EIS__ENDPOINT",
            &s.registers.eis.endpoint,
        )
        .env(
            "MEZHVED__REGISTERS__EIS__SNAPSHOT_URLS",
            &s.registers.eis.snapshot_urls[0],
        )
        .env(
            "MEZHVED__REGISTERS__MINJUST__BASE_URL",
            &s.registers.minjust.base_url,
        )
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "registers sync failed:\n{text}");
    text
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sync_builds_both_snapshots_from_the_official_formats_and_they_answer_alike() {
    let dir = tempfile::tempdir().unwrap();
    let (s, emu) = emulator_in(dir.path()).await;
    // Downloaded from the configured sources…
    let out = sync_cli(&s, &[]);
    assert!(
        out.contains("ЕИС: reading unfairSupplier_all.zip (1/1)"),
        "{out}"
    );
    assert!(out.contains("Минюст: reading"), "{out}");
    assert!(out.contains("records, data as of"), "{out}");
    let snapshots = s.registers.snapshot_dir(&s.gateway.state_dir);
    let m = snapshot::meta(&snapshots, "eis").unwrap().unwrap();
    assert!(m.records >= 8, "{m:?}");
    assert_eq!(m.sources[0].sha256.len(), 64);
    let fa = snapshot::meta(&snapshots, "minjust").unwrap().unwrap();
    assert!(fa.data_as_of.is_some(), "lastModified kept: {fa:?}");

    // …and from files in the same formats.
    let archive = reqwest::get(emu.eis_archive())
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    let export = reqwest::get(format!("{}export", emu.minjust_base()))
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    let (a, x) = (dir.path().join("rnp.zip"), dir.path().join("agents.xlsx"));
    std::fs::write(&a, &archive).unwrap();
    std::fs::write(&x, &export).unwrap();
    sync_cli(
        &s,
        &[
            "--eis",
            a.to_str().unwrap(),
            "--minjust",
            x.to_str().unwrap(),
        ],
    );

    let sources = registers::Sources::from_settings(&s).unwrap();
    for (kind, route) in [
        (Kind::UnreliableSupplier, registers::Route::EisSnapshot),
        (Kind::ForeignAgent, registers::Route::MinjustSnapshot),
    ] {
        let src = sources.get(route).unwrap();
        for subject in subjects(kind) {
            // A refusal is a behaviour of the online service, not data.
            if subject.scenario.code.is_some() {
                continue;
            }
            for id in &subject.identifiers {
                let ex = src
                    .lookup(&Query::of(&fixture_request(&subject, id)), true)
                    .await
                    .unwrap();
                assert_eq!(
                    ex.outcome.verdict, subject.expect,
                    "{route} {}: {:?}",
                    subject.key, ex.outcome
                );
                assert!(
                    ex.outcome
                        .note
                        .as_deref()
                        .unwrap_or("")
                        .contains("snapshot")
                );
                assert_eq!(ex.outcome.source.as_ref().unwrap().register, route.as_str());
            }
        }
    }
    assert!(sources.readiness().is_ok(), "{:?}", sources.readiness());
    emu.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stale_snapshot_never_says_not_listed_and_warns() {
    let dir = tempfile::tempdir().unwrap();
    let (mut s, emu) = emulator_in(dir.path()).await;
    sync_cli(&s, &["--only", "eis"]);
    s.registers.snapshot_max_age_days = 1e-9;
    s.lookup.routes.unreliable_supplier = registers::Route::EisSnapshot;
    let sources = registers::Sources::from_settings(&s).unwrap();
    let ex = sources
        .get(registers::Route::EisSnapshot)
        .unwrap()
        .lookup(
            &Query::of(&lookup_request(Kind::UnreliableSupplier, "4703123451")),
            true,
        )
        .await
        .unwrap();
    assert_eq!(ex.outcome.verdict, Verdict::Unknown, "{:?}", ex.outcome);
    let r = sources.readiness().unwrap_err();
    assert!(
        r.contains("older than registers.snapshot_max_age_days"),
        "{r}"
    );
    emu.stop();
}

/// The journal's `answered` line of a request: its documents and detail.
fn answered_line(case_dir: &Path, request_id: &str) -> serde_json::Value {
    let text = std::fs::read_to_string(case_dir.join("journal.jsonl")).unwrap();
    text.lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .find(|l| l["request_id"] == request_id && l["event"] == "answered")
        .unwrap_or_else(|| panic!("no answered line for {request_id}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_pipeline_answers_from_the_registers_and_keeps_the_evidence() {
    if !broker_or_skip("registers").await {
        return;
    }
    let h = Harness::start(&prefix("registers")).await;
    let client = Client::connect().await;
    let reply_q = client.reply_queue().await;
    let mut rnp = request_json(Kind::UnreliableSupplier, json!({"inn": "4705123457"}));
    rnp["as_of"] = json!("2026-11-20");
    let mut fa = request_json(Kind::ForeignAgent, json!({"inn": "7801234564"}));
    fa["subject"]["name"] = json!("ФОНД \"СВОБОДНОЕ СЛОВО\"");
    let clean = request_json(Kind::ForeignAgent, json!({"ogrn": "1144703001233"}));
    let cases = [
        (rnp, "listed", "eis"),
        (fa, "unknown", "minjust"),
        (clean, "not_listed", "minjust"),
    ];
    for (msg, _, _) in &cases {
        client
            .publish(
                &h.settings.amqp.queue_requests(),
                msg.to_string().as_bytes(),
                Some(&reply_q),
                None,
            )
            .await;
    }
    let replies = client.take(&reply_q, cases.len(), WAIT).await;
    assert_eq!(replies.len(), cases.len());
    for (msg, verdict, register) in &cases {
        let id = msg["request_id"].as_str().unwrap();
        let r = replies.iter().find(|r| r.body["request_id"] == id).unwrap();
        assert_eq!(r.body["verdict"], *verdict, "{}", r.body);
        assert_eq!(r.body["source"]["register"], *register, "{}", r.body);
        assert!(
            r.body["source"]["url"]
                .as_str()
                .unwrap()
                .starts_with("http://127.0.0.1:")
        );
        assert!(r.body["source"]["as_of"].is_string(), "{}", r.body);
        assert_eq!(r.body["fallback_required"], *verdict == "unknown");
        let dir = PathBuf::from(r.body["case_file"].as_str().unwrap());
        // No SMEV envelope: the exchange with the register instead.
        assert!(!dir.join("send-request.xml").exists());
        let line = answered_line(dir.parent().unwrap(), id);
        let docs = line["documents"].as_array().unwrap();
        assert!(docs.len() >= 2, "{line}");
        for d in docs {
            let (name, hash) = (d[0].as_str().unwrap(), d[1].as_str().unwrap());
            let bytes = std::fs::read(dir.join(name)).unwrap();
            assert_eq!(mezhved::casefile::sha256_hex(&bytes), hash, "{name}");
        }
        let detail = line["detail"].as_str().unwrap();
        assert!(detail.contains(&format!("{register} http://")), "{detail}");
        assert!(detail.contains("register date"), "{detail}");
        mezhved::casefile::journal::verify(dir.parent().unwrap()).unwrap();
        if *register == "eis" {
            let sent = std::fs::read(dir.join("source-request.xml")).unwrap();
            let received = std::fs::read(dir.join("source-response.xml")).unwrap();
            check_eis_exchange(&registers::Exchange {
                route: registers::Route::Eis,
                url: String::new(),
                at: mezhved::clock::now(),
                register_date: None,
                documents: vec![
                    (registers::REQUEST_XML, sent),
                    (registers::RESPONSE_XML, received),
                ],
                outcome: mezhved::lookup::Outcome::new(Verdict::Listed),
            });
        }
    }
    assert_eq!(h.sent_requests(), 0, "nothing went through SMEV");
    h.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_online_source_that_is_down_hands_the_lookup_to_its_snapshot() {
    if !broker_or_skip("registers").await {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let settings = test_settings(dir.path(), &prefix("registers-fallback"));
    let h = Harness::start_adjusted(dir, settings, |s, emu| {
        s.registers.fallback_after_attempts = 2;
        s.retry.initial_ms = 50;
        s.retry.max_ms = 200;
        let mut probe = s.clone();
        emu.point_registers(&mut probe);
        sync_cli(&probe, &[]);
    })
    .await;
    h.control(
        "POST",
        "/control/faults",
        Some(json!({"operation": "eis", "http_status": 503, "for_secs": 60})),
    )
    .await;
    h.control(
        "POST",
        "/control/faults",
        Some(json!({"operation": "minjust", "drop_connection": true, "for_secs": 60})),
    )
    .await;
    let client = Client::connect().await;
    let reply_q = client.reply_queue().await;
    let rnp = request_json(Kind::UnreliableSupplier, json!({"inn": "7812345675"}));
    let fa = request_json(Kind::ForeignAgent, json!({"snils": "15678912317"}));
    for m in [&rnp, &fa] {
        client
            .publish(
                &h.settings.amqp.queue_requests(),
                m.to_string().as_bytes(),
                Some(&reply_q),
                None,
            )
            .await;
    }
    let replies = client.take(&reply_q, 2, WAIT).await;
    assert_eq!(replies.len(), 2);
    for (m, register, online) in [
        (&rnp, "eis-snapshot", "eis"),
        (&fa, "minjust-snapshot", "minjust"),
    ] {
        let r = replies
            .iter()
            .find(|r| r.body["request_id"] == m["request_id"])
            .unwrap();
        assert_eq!(r.body["verdict"], "listed", "{}", r.body);
        assert_eq!(r.body["source"]["register"], register, "{}", r.body);
        let note = r.body["note"].as_str().unwrap();
        assert!(note.contains(&format!("{online} did not answer")), "{note}");
        let dir = PathBuf::from(r.body["case_file"].as_str().unwrap());
        assert!(dir.join("snapshot-answer.json").is_file());
    }
    h.cleanup().await;
}
