//! A daemon process talking to a hostile SMEV node (`common::hostile`, in
//! front of the emulator): a 1 GiB WSDL on every readiness probe, a flood
//! of forged 1 MB answers for requests nobody sent, and a real answer
//! whose `OriginalMessageId` is altered on the way to name another pending
//! request. The daemon stays small, stores nothing unverified, changes no
//! request on an unverified word, and the real request completes.

mod common;

use std::time::{Duration, Instant};

use common::daemon::Setup;
use common::harness::{Client, broker_or_skip, fresh_inn, prefix};
use common::hostile::Hostile;
use common::*;
use mezhved::request::Kind;
use serde_json::{Value, json};

async fn get(url: &str) -> (u16, String) {
    match reqwest::get(url).await {
        Ok(r) => {
            let s = r.status().as_u16();
            (s, r.text().await.unwrap_or_default())
        }
        Err(e) => (0, e.to_string()),
    }
}

/// The value of one sample of `/metrics`, 0 when absent.
fn metric(text: &str, sample: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(sample).map(str::trim))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_hostile_node_costs_no_memory_stores_nothing_unverified_and_the_real_request_completes() {
    if !broker_or_skip("hostile_node").await {
        return;
    }
    let mut setup = Setup::new(&prefix("hostile")).await;
    let node = Hostile::start(&setup.emulator.endpoint(), 1 << 30).await;
    node.forge(30, 1 << 20, false);
    node.forge(30, 1 << 20, true);
    let waiting_inn = fresh_inn(610);
    setup.emulator.node.scenarios.set(
        Kind::Egrul,
        &waiting_inn,
        serde_json::from_value(json!({ "never_answer": true })).unwrap(),
    );
    setup.settings.smev.endpoint = node.endpoint();
    let daemon = setup.spawn(&[]);
    let base = daemon.ops_url();

    // The probe reads a few KB of the 1 GiB WSDL and says the node answers.
    let start = Instant::now();
    loop {
        let (_, body) = get(&format!("{base}/readyz")).await;
        let v: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
        let smev = v["checks"]
            .as_array()
            .and_then(|c| c.iter().find(|c| c["name"] == "smev").cloned());
        if smev.is_some_and(|c| c["ok"] == true)
            && node
                .behaviour
                .wsdl_requests
                .load(std::sync::atomic::Ordering::SeqCst)
                >= 2
        {
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(20), "{body}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let client = Client::connect().await;
    let reply_q = client.reply_queue().await;
    let requests = setup.settings.amqp.queue_requests();
    let other = request_json(Kind::Egrul, json!({ "inn": waiting_inn }));
    client
        .publish(
            &requests,
            other.to_string().as_bytes(),
            Some(&reply_q),
            None,
        )
        .await;
    let start = Instant::now();
    let other_mid = loop {
        if let Some(m) = node.behaviour.sent.lock().unwrap().first().cloned() {
            break m;
        }
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "the other request was not sent"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    // The real answer will arrive claiming to be the other request's.
    *node.behaviour.alter_to.lock().unwrap() = other_mid.clone();
    node.behaviour
        .alter
        .store(1, std::sync::atomic::Ordering::SeqCst);
    let real = request_json(Kind::Egrul, json!({ "ogrn": "1144703001233" }));
    client
        .publish(&requests, real.to_string().as_bytes(), Some(&reply_q), None)
        .await;

    let got = client.take(&reply_q, 1, Duration::from_secs(60)).await;
    assert_eq!(got.len(), 1, "the real request completes");
    assert_eq!(got[0].body["request_id"], real["request_id"]);
    assert_eq!(got[0].body["verdict"], json!("found"));
    let b = &node.behaviour;
    assert_eq!(b.altered.load(std::sync::atomic::Ordering::SeqCst), 1);
    assert_eq!(node.forged_left(), 0, "the whole flood was taken");
    tokio::time::sleep(Duration::from_millis(500)).await;

    // Forgeries: refused to SMEV, stored nowhere.
    let acks = b.forged_acks.lock().unwrap().clone();
    assert_eq!(acks.len(), 60, "each forgery answered");
    assert!(acks.iter().all(|(_, accepted)| !accepted), "{acks:?}");
    let orphans = setup.settings.gateway.cases_root.join(".orphans");
    assert_eq!(
        std::fs::read_dir(&orphans).unwrap().count(),
        0,
        "nothing unverified kept"
    );

    // The altered answer named the other request: it changed nothing there.
    let case = setup
        .settings
        .gateway
        .cases_root
        .join(other["case_id"].as_str().unwrap());
    let state =
        mezhved::casefile::journal::last_state(&case, other["request_id"].as_str().unwrap())
            .unwrap()
            .unwrap();
    assert_eq!(state.state, mezhved::casefile::State::Sent);
    assert!(
        !case
            .join(other["request_id"].as_str().unwrap())
            .join("response.xml")
            .exists()
    );
    // The real answer: refused unacknowledged once (altered), then taken.
    let mid = got[0].body["message_id"].as_str().unwrap().to_owned();
    let trace = setup
        .emulator
        .node
        .trace()
        .into_iter()
        .filter(|t| t.original_message_id.as_deref() == Some(mid.as_str()))
        .map(|t| format!("{} {}", t.operation, t.outcome))
        .collect::<Vec<_>>();
    assert!(
        trace
            .iter()
            .filter(|t| t.starts_with("GetResponse"))
            .count()
            >= 2,
        "delivered again after the altered copy was left unacknowledged: {trace:?}"
    );
    assert_eq!(
        trace
            .iter()
            .filter(|t| t.starts_with("Ack"))
            .collect::<Vec<_>>(),
        ["Ack ack accepted"],
        "{trace:?}"
    );
    let (_, m) = get(&format!("{base}/metrics")).await;
    assert_eq!(
        metric(&m, "mezhved_answers_rejected_total{reason=\"unsigned\"}"),
        30.0
    );
    assert_eq!(
        metric(&m, "mezhved_answers_rejected_total{reason=\"untrusted\"}"),
        30.0
    );
    assert!(metric(&m, "mezhved_answers_rejected_total{reason=\"altered\"}") >= 1.0);

    // The WSDL was not read whole, and memory stayed small throughout.
    let probes = b.wsdl_requests.load(std::sync::atomic::Ordering::SeqCst) as u64;
    let produced = b.wsdl_produced.load(std::sync::atomic::Ordering::SeqCst);
    let peak = daemon.peak_rss_kib();
    eprintln!(
        "FAULTS: hostile node: 60 forged 1 MiB answers refused, none kept; the altered answer left in SMEV, taken intact; {probes} probes of a 1 GiB WSDL produced {} MiB in all; daemon peak RSS {} MiB",
        produced >> 20,
        peak >> 10
    );
    assert!(
        produced / probes < 32 << 20,
        "{produced} bytes for {probes} probes"
    );
    assert!(peak < 100 * 1024, "daemon peak RSS {peak} KiB");
    drop(daemon);
    setup.cleanup().await;
}

/// Sends a `SendRequest` to the emulator as the gateway's information
/// system (its key), for a request the gateway never recorded: SMEV's
/// answer to it is, for the gateway, a verified answer for no request.
async fn request_behind_the_gateways_back(h: &common::harness::Harness) {
    use mezhved::smev;
    let registry = mezhved::lookup::Registry::new(&h.settings.lookup);
    let req = lookup_request(Kind::Egrul, "1144703001233");
    let business = registry
        .get(Kind::Egrul)
        .build_request(&req, &req.request_id.to_string());
    let mid = smev::new_message_id();
    let doc = smev::send_request(smev::Version::V1_3, &mid, &business, true, None, false)
        .sign(&h.gateway.key(), None)
        .unwrap();
    let resp = reqwest::Client::new()
        .post(h.emulator.endpoint())
        .header("Content-Type", "text/xml; charset=utf-8")
        .header("SOAPAction", smev::Operation::SendRequest.soap_action())
        .body(mezhved::xml::to_bytes(&doc))
        .send()
        .await
        .unwrap();
    assert_eq!(
        resp.status().as_u16(),
        200,
        "{}",
        resp.text().await.unwrap()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn verified_answers_for_no_request_are_kept_within_their_quota_and_the_rest_wait_in_smev() {
    if !broker_or_skip("hostile_node").await {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mut settings = common::harness::test_settings(dir.path(), &prefix("orphans"));
    settings.limits.orphan_max_count = 2;
    settings.emulator.redeliver_after_secs = 0.5;
    let h = common::harness::Harness::start_in(dir, settings).await;
    for _ in 0..3 {
        request_behind_the_gateways_back(&h).await;
    }
    let orphans = h.settings.gateway.cases_root.join(".orphans");
    let count = |d: &std::path::Path| std::fs::read_dir(d).unwrap().count();
    let start = Instant::now();
    let over = |h: &common::harness::Harness| {
        h.gateway
            .metrics
            .orphans
            .snapshot()
            .into_iter()
            .filter(|(k, _)| k[0] == "over_quota")
            .map(|(_, n)| n)
            .sum::<u64>()
    };
    while !(count(&orphans) == 2 && over(&h) >= 2) {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "{} kept",
            count(&orphans)
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Each kept one is a verified SMEV answer, acknowledged once on disk;
    // the third waits in SMEV, delivered again and again.
    let trace = h.emulator.node.trace();
    let accepted = trace
        .iter()
        .filter(|t| t.operation == "Ack" && t.outcome == "ack accepted")
        .count();
    assert_eq!(accepted, 2, "{trace:?}");
    assert!(
        !trace
            .iter()
            .any(|t| t.operation == "Ack" && t.outcome.contains("accepted=false"))
    );
    let warning = h.gateway.orphans_check().await.unwrap_err();
    assert!(
        warning.contains("2 verified answer(s)") && warning.contains("full since"),
        "{warning}"
    );
    // The operator makes room: the waiting one is kept at its next delivery.
    let first = std::fs::read_dir(&orphans)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let kept = std::fs::read(&first).unwrap();
    assert!(mezhved::xml::parse(&kept).is_ok());
    std::fs::remove_file(&first).unwrap();
    let start = Instant::now();
    while !h
        .emulator
        .node
        .trace()
        .iter()
        .filter(|t| t.operation == "Ack" && t.outcome == "ack accepted")
        .count()
        .eq(&3)
    {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "the third was never kept"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(count(&orphans), 2);
    h.cleanup().await;
}
