//! `schemas/reply.schema.json` says what a case system receives: every
//! reply the real pipeline writes validates against it — the results of
//! every sample request and of a request about every subject of the
//! fixture data (each verdict, each shape of facts), and the replies to
//! the refused samples.

mod common;

use std::collections::{BTreeSet, HashMap};
use std::time::{Duration, Instant};

use common::*;
use mezhved::emulator;
use mezhved::pipeline::Gateway;
use mezhved::request::Kind;
use mezhved::transport::{self, Outbox};

fn schema() -> jsonschema::Validator {
    let s: serde_json::Value =
        serde_json::from_slice(&std::fs::read(root().join("schemas/reply.schema.json")).unwrap())
            .unwrap();
    jsonschema::options()
        .should_validate_formats(true)
        .build(&s)
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_reply_of_the_pipeline_follows_the_reply_schema() {
    let dir = tempfile::tempdir().unwrap();
    let mut settings = harness::test_settings(dir.path(), "unused");
    settings.retry.initial_ms = 50;
    settings.retry.max_ms = 200;
    let data = settings.emulator.data.clone();
    let emu = emulator::start(&settings, "127.0.0.1:0", &data)
        .await
        .unwrap();
    settings.smev.endpoint = emu.endpoint();
    settings.smev.trust = vec![emu.certificate.clone()];
    emu.point_registers(&mut settings);
    let spool_dir = settings.spool_dir();
    let (inbox, outbox) = transport::spool(&spool_dir).unwrap();
    let Outbox::Spool(spool) = outbox.clone() else {
        unreachable!()
    };
    let gateway = Gateway::new(settings.clone(), outbox).unwrap();
    let (stop, rx) = tokio::sync::watch::channel(false);
    let run = tokio::spawn(gateway.run(inbox, rx));

    // The sample requests, refused ones included…
    let mut sent = 0;
    for e in std::fs::read_dir(root().join("fixtures/requests")).unwrap() {
        let path = e.unwrap().path();
        let name = path.file_stem().unwrap().to_string_lossy().to_string();
        spool.submit(&name, &std::fs::read(&path).unwrap()).unwrap();
        sent += 1;
    }
    // …and one request about every subject the emulator knows.
    let registry = mezhved::lookup::Registry::new(&settings.lookup);
    let fixtures = emulator::Fixtures::load(&data, &registry).unwrap();
    for (i, s) in fixtures.subjects().iter().enumerate() {
        let req = fixture_request(s, &s.identifiers[0]);
        let mut msg = serde_json::to_value(&req).unwrap();
        msg["case_id"] = serde_json::json!(format!("LO-SCHEMA-{i}"));
        spool
            .submit(&format!("subject-{i:02}"), msg.to_string().as_bytes())
            .unwrap();
        sent += 1;
    }

    let out = spool_dir.join("out");
    let start = Instant::now();
    let replies = loop {
        let files: Vec<_> = std::fs::read_dir(&out)
            .unwrap()
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "json"))
            .collect();
        if files.len() >= sent {
            break files;
        }
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "{} of {sent} replies",
            files.len()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let _ = stop.send(true);
    let _ = tokio::time::timeout(Duration::from_secs(10), run).await;
    emu.stop();

    let v = schema();
    let mut verdicts = BTreeSet::new();
    let mut facts_by_kind: HashMap<String, usize> = HashMap::new();
    for path in &replies {
        let reply: serde_json::Value =
            serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
        let errors: Vec<String> = v
            .iter_errors(&reply)
            .map(|e| format!("{} at {}", e, e.instance_path()))
            .collect();
        assert!(
            errors.is_empty(),
            "{}: {errors:#?}\n{reply:#}",
            path.display()
        );
        verdicts.insert(reply["verdict"].as_str().unwrap().to_owned());
        if reply["facts"].is_object() {
            *facts_by_kind
                .entry(reply["kind"].as_str().unwrap().to_owned())
                .or_default() += 1;
        }
    }
    let all: BTreeSet<String> = [
        "found",
        "not_found",
        "has_debt",
        "no_debt",
        "unknown",
        "listed",
        "not_listed",
        "rejected",
        "failed",
        "refused",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    assert_eq!(verdicts, all, "every verdict was seen and validated");
    for k in Kind::ALL {
        assert!(
            facts_by_kind.get(k.as_str()).copied().unwrap_or(0) > 0,
            "facts of {k} were validated"
        );
    }

    // The schema is not a formality: a reply with a fact it does not
    // describe, or a refusal without its Russian text, fails it.
    let mut extra: serde_json::Value = replies
        .iter()
        .map(|p| serde_json::from_slice::<serde_json::Value>(&std::fs::read(p).unwrap()).unwrap())
        .find(|r| r["kind"] == "egrul" && r["verdict"] == "found")
        .unwrap();
    // A reply with attachments (КодОбр 54): the records as the pipeline
    // writes them validate; a status the schema does not know does not.
    let mut with_files = extra.clone();
    let record = mezhved::attachment::AttachmentRecord {
        name: "extract.zip".into(),
        mime_type: "application/zip".into(),
        size: 1234,
        sha256: "ab".repeat(32),
        gost_hash: Some("q83vEjRWeJA=".into()),
        signature: mezhved::attachment::SignatureCheck::verified("CN=ФНС России".into()),
        path: "attachments/extract.zip".into(),
        problem: None,
    };
    with_files["attachments"] = serde_json::json!([record]);
    assert!(
        v.is_valid(&with_files),
        "{:?}",
        v.validate(&with_files).err()
    );
    with_files["attachments"][0]["signature"]["status"] = serde_json::json!("maybe");
    assert!(!v.is_valid(&with_files));
    extra["facts"]["undocumented"] = serde_json::json!("x");
    assert!(!v.is_valid(&extra));
    let mut refused: serde_json::Value = replies
        .iter()
        .map(|p| serde_json::from_slice::<serde_json::Value>(&std::fs::read(p).unwrap()).unwrap())
        .find(|r| r["verdict"] == "refused")
        .unwrap();
    refused["reason"]
        .as_object_mut()
        .unwrap()
        .remove("message_ru");
    assert!(!v.is_valid(&refused));
}
