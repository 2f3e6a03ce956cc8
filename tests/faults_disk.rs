//! A full case volume, on a real daemon process with its case store on a
//! small tmpfs that the test fills to the last byte (never the real disk):
//! intake pauses with readiness red, nothing is dead-lettered or lost,
//! no empty or partial document is left, and work resumes by itself once
//! space returns — also when the disk fills between an answer and its
//! result.

mod common;

use std::collections::HashMap;
use std::path::Path;
use std::time::{Duration, Instant};

use common::daemon::Setup;
use common::harness::{Client, broker_or_skip, fresh_inn, prefix};
use common::tmpfs::Tmpfs;
use common::*;
use lapin::options::QueueDeclareOptions;
use mezhved::request::Kind;
use serde_json::{Value, json};

async fn readyz(base: &str) -> (u16, Value) {
    match reqwest::get(format!("{base}/readyz")).await {
        Ok(r) => {
            let status = r.status().as_u16();
            let body = r.bytes().await.unwrap_or_default();
            (status, serde_json::from_slice(&body).unwrap_or(Value::Null))
        }
        Err(_) => (0, Value::Null),
    }
}

fn check<'a>(v: &'a Value, name: &str) -> &'a Value {
    v["checks"]
        .as_array()
        .and_then(|c| c.iter().find(|c| c["name"] == name))
        .unwrap_or(&Value::Null)
}

/// Waits until the `case_store` check is `ok`; returns the check.
async fn case_store_becomes(base: &str, ok: bool, limit: Duration) -> Value {
    let start = Instant::now();
    loop {
        let (_, v) = readyz(base).await;
        let c = check(&v, "case_store");
        if c["ok"] == ok {
            return c.clone();
        }
        assert!(
            start.elapsed() < limit,
            "case_store did not become ok={ok}: {v}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn depth(client: &Client, queue: &str) -> u32 {
    client
        .channel
        .queue_declare(
            queue.into(),
            QueueDeclareOptions {
                passive: true,
                ..Default::default()
            },
            Default::default(),
        )
        .await
        .unwrap()
        .message_count()
}

/// Every document under the case root is whole: no empty file, every JSON
/// one parses, every XML one is well-formed; returns how many there are
/// per name.
fn documents_are_whole(root: &Path) -> HashMap<String, usize> {
    let mut names = HashMap::new();
    let mut stack = vec![root.to_owned()];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(&dir).unwrap() {
            let e = e.unwrap();
            let path = e.path();
            let name = e.file_name().to_string_lossy().into_owned();
            let meta = std::fs::symlink_metadata(&path).unwrap();
            if meta.is_dir() {
                if !name.starts_with('.') {
                    stack.push(path);
                }
                continue;
            }
            if !meta.is_file() || name.starts_with('.') {
                continue;
            }
            let data = std::fs::read(&path).unwrap();
            assert!(!data.is_empty(), "an empty document: {}", path.display());
            if name.ends_with(".json") {
                serde_json::from_slice::<Value>(&data)
                    .unwrap_or_else(|e| panic!("{} is not whole JSON: {e}", path.display()));
            } else if name.ends_with(".xml") {
                mezhved::xml::parse(&data)
                    .unwrap_or_else(|e| panic!("{} is not whole XML: {e}", path.display()));
            } else if name.ends_with(".jsonl") {
                assert!(data.ends_with(b"\n"), "a torn journal: {}", path.display());
                mezhved::casefile::journal::verify(path.parent().unwrap())
                    .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            }
            *names.entry(name).or_default() += 1;
        }
    }
    names
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_hundred_requests_while_the_case_volume_is_full_for_40_s_all_complete_after_space_returns()
 {
    if !broker_or_skip("faults_disk").await {
        return;
    }
    let Some(volume) = Tmpfs::mount_or_skip("faults_disk", 64) else {
        return;
    };
    let mut setup = Setup::new(&prefix("diskfull")).await;
    setup.settings.gateway.cases_root = volume.path.join("cases");
    let daemon = setup.spawn(&[]);
    let base = daemon.ops_url();
    case_store_becomes(&base, true, Duration::from_secs(20)).await;

    let filler = volume.fill();
    assert!(volume.free_bytes() < 4096, "the volume is full");
    let client = Client::connect().await;
    let reply_q = client.reply_queue().await;
    let requests = setup.settings.amqp.queue_requests();
    let mut ids = Vec::new();
    for i in 0..200 {
        let mut msg = request_json(Kind::Egrul, json!({ "inn": fresh_inn(5000 + i) }));
        msg["case_id"] = json!(format!("LO-2026-9{i:05}"));
        ids.push(msg["request_id"].as_str().unwrap().to_owned());
        client
            .publish(&requests, msg.to_string().as_bytes(), Some(&reply_q), None)
            .await;
    }

    // Full for 40 s: readiness red with the reason, intake paused (the
    // rest waits in the queue), nothing dead-lettered.
    let red = case_store_becomes(&base, false, Duration::from_secs(10)).await;
    let detail = red["detail"].as_str().unwrap();
    assert!(
        detail.contains("No space left on device") && detail.contains("intake paused"),
        "{detail}"
    );
    let full_until = Instant::now() + Duration::from_secs(40);
    let prefetch = u32::from(setup.settings.amqp.prefetch);
    let mut lowest = u32::MAX;
    while Instant::now() < full_until {
        lowest = lowest.min(depth(&client, &requests).await);
        assert_eq!(depth(&client, &setup.settings.amqp.queue_dead()).await, 0);
        let (status, _) = readyz(&base).await;
        assert_eq!(status, 503, "not ready while the store cannot write");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    assert!(
        lowest >= 200 - prefetch,
        "the daemon kept taking deliveries: {lowest} left in the queue"
    );
    let early = client.take(&reply_q, 1, Duration::from_millis(100)).await;
    assert!(early.is_empty(), "nothing completes while full");

    filler.remove();
    let freed = Instant::now();
    let replies = client.take(&reply_q, 200, Duration::from_secs(120)).await;
    eprintln!(
        "FAULTS: disk full 40 s with 200 requests: at least {lowest} waited in the queue (prefetch {prefetch}), 0 dead letters; all {} replied {:.1} s after space returned; peak RSS {} MiB",
        replies.len(),
        freed.elapsed().as_secs_f64(),
        daemon.peak_rss_kib() >> 10
    );
    assert_eq!(
        replies.len(),
        200,
        "every request completed after space returned"
    );
    let mut seen: Vec<String> = replies
        .iter()
        .map(|r| r.body["request_id"].as_str().unwrap().to_owned())
        .collect();
    seen.sort();
    ids.sort();
    assert_eq!(seen, ids, "each request replied to once");
    for r in &replies {
        assert_eq!(r.body["verdict"], json!("not_found"), "{}", r.body);
    }
    case_store_becomes(&base, true, Duration::from_secs(10)).await;
    assert_eq!(
        depth(&client, &setup.settings.amqp.queue_dead()).await,
        0,
        "no broker dead letters"
    );
    let results = setup.results_per_request();
    for id in &ids {
        assert_eq!(results.get(id), Some(&1), "one result for {id}");
    }
    let docs = documents_are_whole(&setup.settings.gateway.cases_root);
    assert_eq!(docs.get("request.json"), Some(&200));
    assert_eq!(docs.get("result.json"), Some(&200));
    let log = daemon.log_text();
    assert!(log.contains("intake paused"), "{log}");
    assert!(log.contains("intake resumed"), "{log}");
    drop(daemon);
    setup.cleanup().await;
    drop(volume);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_full_disk_while_the_result_is_written_still_yields_a_reply_without_a_restart() {
    if !broker_or_skip("faults_disk").await {
        return;
    }
    let Some(volume) = Tmpfs::mount_or_skip("faults_disk", 16) else {
        return;
    };
    let mut setup = Setup::new(&prefix("diskresult")).await;
    setup.settings.gateway.cases_root = volume.path.join("cases");
    let gate = setup.dir.path().join("gate");
    std::fs::write(&gate, b"").unwrap();
    let failpoints = format!("gate-at=result,gate-file={}", gate.display());
    let mut daemon = setup.spawn(&[("MEZHVED_FAILPOINTS", &failpoints)]);
    let base = daemon.ops_url();
    let pid = daemon.pid();

    let client = Client::connect().await;
    let reply_q = client.reply_queue().await;
    let msg = request_json(Kind::Egrul, json!({ "ogrn": "1144703001233" }));
    let (id, case) = (
        msg["request_id"].as_str().unwrap().to_owned(),
        msg["case_id"].as_str().unwrap().to_owned(),
    );
    client
        .publish(
            &setup.settings.amqp.queue_requests(),
            msg.to_string().as_bytes(),
            Some(&reply_q),
            None,
        )
        .await;
    // The answer is in and verified; its result is about to be written.
    daemon.wait_log("failpoint gate-at=result: waiting", Duration::from_secs(30));
    let filler = volume.fill();
    std::fs::remove_file(&gate).unwrap();
    daemon.wait_log("failpoint gate-at=result: passed", Duration::from_secs(10));

    let red = case_store_becomes(&base, false, Duration::from_secs(10)).await;
    assert!(
        red["detail"].as_str().unwrap().contains("No space left"),
        "{red}"
    );
    let nothing = client.take(&reply_q, 1, Duration::from_secs(3)).await;
    assert!(nothing.is_empty(), "no reply before the result is recorded");
    // The journal holds no torn line, and says the request is still sent.
    let case_dir = setup.settings.gateway.cases_root.join(&case);
    let journal = std::fs::read(case_dir.join("journal.jsonl")).unwrap();
    assert!(journal.ends_with(b"\n"), "a torn journal line was left");
    let state = mezhved::casefile::journal::last_state(&case_dir, &id)
        .unwrap()
        .unwrap();
    assert_eq!(state.state, mezhved::casefile::State::Sent);
    mezhved::casefile::journal::verify(&case_dir).unwrap();

    filler.remove();
    let freed = Instant::now();
    let got = client.take(&reply_q, 1, Duration::from_secs(30)).await;
    eprintln!(
        "FAULTS: disk full at the result write: held, journal whole, replied {:.1} s after space returned, same process",
        freed.elapsed().as_secs_f64()
    );
    assert_eq!(got.len(), 1, "the reply goes out once space returns");
    assert_eq!(got[0].body["verdict"], json!("found"));
    assert_eq!(daemon.pid(), pid);
    assert!(daemon.log_text().contains("intake resumed"));
    assert!(daemon.child.try_wait().unwrap().is_none(), "no restart");
    assert_eq!(setup.results_per_request().get(&id), Some(&1));
    documents_are_whole(&setup.settings.gateway.cases_root);
    drop(daemon);
    setup.cleanup().await;
    drop(volume);
}

#[test]
fn a_journal_append_that_the_full_disk_cuts_short_leaves_no_torn_line() {
    use mezhved::casefile::journal;
    let Some(volume) = Tmpfs::mount_or_skip("faults_disk", 1) else {
        return;
    };
    let dir = volume.path.join("case");
    std::fs::create_dir(&dir).unwrap();
    let entry = |event: &str, detail: usize| journal::Entry {
        at: "2026-11-23T10:00:00+03:00".into(),
        request_id: "r".into(),
        event: event.into(),
        detail: Some("x".repeat(detail)),
        documents: vec![],
        state: None,
        prev: String::new(),
        hash: String::new(),
    };
    journal::append(&dir, entry("accepted", 10)).unwrap();
    let filler = volume.fill();
    let before = std::fs::read(dir.join(journal::FILE)).unwrap();
    // Larger than any slack left in the file's last page: part of it fits,
    // the rest does not.
    let err = journal::append_all(
        &dir,
        vec![entry("answered", 3000), entry("completed", 3000)],
        true,
    )
    .unwrap_err();
    assert_eq!(err.raw_os_error(), Some(libc::ENOSPC), "{err}");
    assert_eq!(
        std::fs::read(dir.join(journal::FILE)).unwrap(),
        before,
        "the partial lines were cut back at once"
    );
    filler.remove();
    // The space comes back when the last handle on the filler is closed: a
    // process another test forks at that moment holds a copy until it
    // execs, so wait for the space rather than assume it.
    let back = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while volume.free_bytes() < 64 * 1024 && std::time::Instant::now() < back {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    journal::append_all(
        &dir,
        vec![entry("answered", 3000), entry("completed", 3000)],
        true,
    )
    .unwrap();
    let events: Vec<String> = journal::verify(&dir)
        .unwrap()
        .into_iter()
        .map(|e| e.event)
        .collect();
    assert_eq!(events, ["accepted", "answered", "completed"]);
    drop(volume);
}
