//! Every emulator scenario, driven through mezhved's real pipeline: a plain
//! AMQP client publishes, the gateway sends to the emulator over HTTP, and
//! each test asserts the verdict, the case file and what the emulator
//! recorded.

mod common;

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;

use common::harness::{Client, Harness, broker_or_skip, fresh_inn, prefix, test_settings};
use common::*;
use mezhved::request::Kind;
use mezhved::smev::{FaultClass, FaultKind};
use serde_json::{Value, json};

const WAIT: Duration = Duration::from_secs(40);

async fn start(name: &str) -> Harness {
    let dir = tempfile::tempdir().unwrap();
    let mut s = test_settings(dir.path(), &prefix(name));
    s.retry.attempts = 3;
    s.retry.initial_ms = 50;
    s.retry.max_ms = 200;
    s.emulator.redeliver_after_secs = 0.5;
    // Long enough for an answer queued at once to be polled and recorded
    // before the send gives up, on a loaded machine too.
    s.smev.timeout_secs = 4;
    Harness::start_in(dir, s).await
}

/// Publishes requests (kind, subject) and returns the replies by subject.
async fn run(h: &Harness, requests: &[(Kind, Value)]) -> HashMap<String, Value> {
    let client = Client::connect().await;
    let reply_q = client.reply_queue().await;
    for (kind, subject) in requests {
        let msg = request_json(*kind, subject.clone());
        let corr = subject
            .as_object()
            .unwrap()
            .values()
            .next()
            .unwrap()
            .as_str()
            .unwrap()
            .to_owned();
        client
            .publish(
                &h.settings.amqp.queue_requests(),
                msg.to_string().as_bytes(),
                Some(&reply_q),
                Some(&corr),
            )
            .await;
    }
    client
        .take(&reply_q, requests.len(), WAIT)
        .await
        .into_iter()
        .map(|r| (r.correlation_id.unwrap(), r.body))
        .collect()
}

fn case_dir(reply: &Value) -> PathBuf {
    PathBuf::from(reply["case_file"].as_str().unwrap())
}

fn message_ids(reply: &Value) -> Vec<String> {
    vec![reply["message_id"].as_str().unwrap_or_default().to_owned()]
}

fn egrul(inn: &str) -> (Kind, Value) {
    (Kind::Egrul, json!({ "inn": inn }))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_soap_fault_on_send_request_is_handled_by_its_class() {
    if !broker_or_skip("emulator_scenarios").await {
        return;
    }
    let h = start("faults").await;
    let kinds: Vec<FaultKind> = FaultKind::all().collect();
    let mut requests = Vec::new();
    for (i, kind) in kinds.iter().enumerate() {
        // Two disturbed attempts, then normal: retryable classes succeed on
        // the third attempt, the others end at the first.
        let inn = fresh_inn(i as u32);
        h.scenario(
            Kind::Egrul,
            &inn,
            json!({ "fault": kind.element_name(), "times": 2 }),
        )
        .await;
        requests.push(egrul(&inn));
    }
    let replies = run(&h, &requests).await;
    assert_eq!(replies.len(), kinds.len());
    for (i, kind) in kinds.iter().enumerate() {
        let inn = fresh_inn(i as u32);
        let r = &replies[&inn];
        let sends = h
            .emulator
            .node
            .trace()
            .into_iter()
            .filter(|t| t.operation == "SendRequest" && t.subject.as_deref() == Some(inn.as_str()))
            .count();
        match kind.class() {
            FaultClass::Retry | FaultClass::NewEol => {
                assert_eq!(
                    r["verdict"],
                    json!("not_found"),
                    "{kind}: retried until accepted: {r}"
                );
                assert_eq!(sends, 3, "{kind}: two faults, then accepted");
            }
            FaultClass::AlreadySent => {
                // The emulator kept the request; mezhved takes the fault as "sent".
                assert_eq!(r["verdict"], json!("not_found"), "{kind}: {r}");
                assert_eq!(sends, 2, "{kind}: one SendRequest, the answer came from it");
            }
            FaultClass::NewMessageId => {
                assert_eq!(r["verdict"], json!("not_found"), "{kind}: {r}");
                let env = std::fs::read_to_string(case_dir(r).join("send-request.xml")).unwrap();
                assert!(
                    env.contains(r["message_id"].as_str().unwrap()),
                    "the stored envelope has the new MessageID"
                );
            }
            FaultClass::Permanent => {
                assert_eq!(r["verdict"], json!("rejected"), "{kind}: not retried: {r}");
                assert_eq!(r["rejection"]["by"], json!("smev"));
                assert_eq!(r["rejection"]["code"], json!(kind.element_name()));
                assert_eq!(sends, 1, "{kind}: no retry of a permanent fault");
            }
        }
        assert!(case_dir(r).join("result.json").is_file());
    }
    h.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn http_errors_dropped_connections_and_timeouts_are_retried() {
    if !broker_or_skip("emulator_scenarios").await {
        return;
    }
    let h = start("http").await;
    let cases = [
        (
            "http 500",
            json!({ "http_status": 500, "times": 2 }),
            "not_found",
        ),
        (
            "http 503",
            json!({ "http_status": 503, "times": 1 }),
            "not_found",
        ),
        (
            "dropped",
            json!({ "drop_connection": true, "times": 1 }),
            "not_found",
        ),
        ("always 503", json!({ "http_status": 503 }), "failed"),
        // Past the gateway's 4 s timeout: the emulator took the request,
        // the gateway resends the same MessageID and hears MessageIsAlreadySent.
        (
            "slow",
            json!({ "slow_secs": 5.0, "times": 1, "delay_secs": 6.0 }),
            "not_found",
        ),
    ];
    let mut requests = Vec::new();
    for (i, (_, s, _)) in cases.iter().enumerate() {
        let inn = fresh_inn(100 + i as u32);
        h.scenario(Kind::Egrul, &inn, s.clone()).await;
        requests.push(egrul(&inn));
    }
    let replies = run(&h, &requests).await;
    for (i, (what, _, verdict)) in cases.iter().enumerate() {
        let r = &replies[&fresh_inn(100 + i as u32)];
        assert_eq!(r["verdict"], json!(verdict), "{what}: {r}");
        if *verdict == "failed" {
            let reason = r["failure"]["reason"].as_str().unwrap();
            assert!(
                reason.contains("after 3 attempts") && reason.contains("503"),
                "{what}: {reason}"
            );
        }
    }
    // The slow request: one SendRequest accepted, the resend refused as already sent.
    let slow = &replies[&fresh_inn(104)];
    let trace = h.trace_of(&message_ids(slow));
    let outcomes: Vec<&str> = trace
        .iter()
        .filter(|t| t.operation == "SendRequest")
        .map(|t| t.outcome.as_str())
        .collect();
    assert!(
        outcomes
            .iter()
            .filter(|o| o.starts_with("accepted"))
            .count()
            == 1,
        "{outcomes:?}"
    );
    assert!(
        outcomes
            .iter()
            .any(|o| o.starts_with("fault MessageIsAlreadySent")),
        "{outcomes:?}"
    );
    h.cleanup().await;
}

/// The answer arrives before the gateway gives up waiting for SMEV's
/// acceptance of the request: nothing is sent again. Alone in its
/// harness: the other cases' HTTP failures would open the circuit
/// breaker, and the answer would wait behind it.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_answer_before_the_send_returns_means_no_second_send() {
    if !broker_or_skip("emulator_scenarios").await {
        return;
    }
    let h = start("slow-first").await;
    let inn = fresh_inn(105);
    h.scenario(Kind::Egrul, &inn, json!({ "slow_secs": 5.0, "times": 1 }))
        .await;
    let replies = run(&h, &[egrul(&inn)]).await;
    assert_eq!(replies[&inn]["verdict"], json!("not_found"));
    let first = &replies[&inn];
    tokio::time::sleep(Duration::from_secs(3)).await;
    let trace = h.trace_of(&message_ids(first));
    let sends: Vec<&str> = trace
        .iter()
        .filter(|t| t.operation == "SendRequest")
        .map(|t| t.outcome.as_str())
        .collect();
    assert_eq!(
        sends,
        [
            "scenario: slow: the response waits 5 s",
            "accepted; answer queued"
        ]
    );
    let journal = mezhved::casefile::journal::verify(case_dir(first).parent().unwrap()).unwrap();
    let events: Vec<&str> = journal
        .iter()
        .filter(|e| e.request_id == first["request_id"].as_str().unwrap())
        .map(|e| e.event.as_str())
        .collect();
    assert_eq!(
        events.iter().filter(|e| **e == "completed").count(),
        1,
        "{events:?}"
    );
    assert!(
        !events.contains(&"sent"),
        "the late acceptance is not recorded over the result: {events:?}"
    );
    h.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn answers_late_never_rejected_or_with_processing_codes() {
    if !broker_or_skip("emulator_scenarios").await {
        return;
    }
    let h = start("answers").await;
    let mut requests = vec![];
    let mut expect: Vec<(String, &str, Option<&str>)> = vec![];
    for (i, code) in [
        "ACCESS_DENIED",
        "NO_DATA",
        "UNKNOWN_REQUEST_DESCRIPTION",
        "FAILURE",
    ]
    .iter()
    .enumerate()
    {
        let inn = fresh_inn(200 + i as u32);
        h.scenario(
            Kind::Egrul,
            &inn,
            json!({ "reject": code, "reject_text": "отказ" }),
        )
        .await;
        requests.push(egrul(&inn));
        expect.push((inn, "rejected", Some(code)));
    }
    for (i, (code, verdict)) in [("01", "not_found"), ("53", "rejected"), ("54", "failed")]
        .iter()
        .enumerate()
    {
        let inn = fresh_inn(210 + i as u32);
        h.scenario(Kind::Egrul, &inn, json!({ "code": code })).await;
        requests.push(egrul(&inn));
        expect.push((inn, verdict, None));
    }
    let tax = fresh_inn(220);
    h.scenario(Kind::TaxDebt, &tax, json!({ "code": "99" }))
        .await;
    requests.push((Kind::TaxDebt, json!({ "inn": tax })));
    expect.push((tax, "rejected", Some("99")));
    let late = fresh_inn(230);
    h.scenario(Kind::Egrul, &late, json!({ "delay_secs": 1.5 }))
        .await;
    requests.push(egrul(&late));
    expect.push((late.clone(), "not_found", None));

    let started = std::time::Instant::now();
    let replies = run(&h, &requests).await;
    for (inn, verdict, code) in &expect {
        let r = &replies[inn];
        assert_eq!(r["verdict"], json!(verdict), "{inn}: {r}");
        if let Some(c) = code {
            assert_eq!(r["rejection"]["code"], json!(c), "{r}");
        }
        assert_eq!(r["fallback_required"], json!(*verdict != "not_found"));
        let response = std::fs::read_to_string(case_dir(r).join("response.xml")).unwrap();
        if let Some(c) = code.filter(|c| c.len() > 2) {
            assert!(response.contains(&format!(
                "<ns2:RejectionReasonCode>{c}</ns2:RejectionReasonCode>"
            )));
        }
    }
    assert!(
        started.elapsed() >= Duration::from_millis(1500),
        "the late answer waited"
    );

    // Never answers: the request stays sent, with no reply.
    let never = fresh_inn(240);
    h.scenario(Kind::Egrul, &never, json!({ "never_answer": true }))
        .await;
    let client = Client::connect().await;
    let q = client.reply_queue().await;
    let msg = request_json(Kind::Egrul, json!({ "inn": never }));
    client
        .publish(
            &h.settings.amqp.queue_requests(),
            msg.to_string().as_bytes(),
            Some(&q),
            None,
        )
        .await;
    assert!(client.take(&q, 1, Duration::from_secs(3)).await.is_empty());
    let id: uuid::Uuid = msg["request_id"].as_str().unwrap().parse().unwrap();
    let rec = h.gateway.store().load(&id).unwrap().unwrap();
    assert_eq!(rec.state, mezhved::casefile::State::Sent);
    let trace = h.trace_of(&[rec.message_id.clone().unwrap()]);
    assert!(
        trace.iter().any(|t| t.outcome.contains("never answer")),
        "{trace:?}"
    );
    h.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn broken_answers_are_survived() {
    if !broker_or_skip("emulator_scenarios").await {
        return;
    }
    let h = start("broken").await;
    let cases = [
        (
            "malformed",
            json!({ "malformed_xml": true }),
            "not_found",
            "delivered malformed XML",
        ),
        (
            "doctype",
            json!({ "doctype": true }),
            "not_found",
            "DOCTYPE",
        ),
        (
            "duplicate",
            json!({ "duplicate": true }),
            "not_found",
            "delivered",
        ),
        (
            "async schema error",
            json!({ "schema_error": "async" }),
            "rejected",
            "asynchronous schema rejection",
        ),
        (
            "sync schema error",
            json!({ "schema_error": "sync" }),
            "rejected",
            "InvalidContent",
        ),
    ];
    let mut requests = vec![];
    for (i, (_, s, _, _)) in cases.iter().enumerate() {
        let inn = fresh_inn(300 + i as u32);
        h.scenario(Kind::Egrul, &inn, s.clone()).await;
        requests.push(egrul(&inn));
    }
    let replies = run(&h, &requests).await;
    for (i, (what, _, verdict, traced)) in cases.iter().enumerate() {
        let inn = fresh_inn(300 + i as u32);
        let r = &replies[&inn];
        assert_eq!(r["verdict"], json!(verdict), "{what}: {r}");
        let trace: Vec<String> = h
            .emulator
            .node
            .trace()
            .into_iter()
            .filter(|t| {
                t.subject.as_deref() == Some(inn.as_str())
                    || r["message_id"]
                        .as_str()
                        .is_some_and(|m| t.original_message_id.as_deref() == Some(m))
            })
            .map(|t| format!("{} {}", t.operation, t.outcome))
            .collect();
        assert!(
            trace.iter().any(|t| t.contains(traced)),
            "{what}: {trace:?}"
        );
        match *what {
            "async schema error" => {
                assert_eq!(r["rejection"]["code"], json!("028122"));
                // The validation detail SMEV lists is kept, not dropped.
                let text = r["rejection"]["text"].as_str().unwrap();
                assert!(text.contains("SMEV-403"), "{text}");
                assert!(
                    text.contains("fail the schema (emulator scenario)"),
                    "{text}"
                );
            }
            "sync schema error" => assert_eq!(r["rejection"]["code"], json!("InvalidContent")),
            "duplicate" => {
                let acks = trace.iter().filter(|t| t.starts_with("Ack")).count();
                assert_eq!(acks, 2, "both deliveries acknowledged: {trace:?}");
                let journal =
                    mezhved::casefile::journal::verify(case_dir(r).parent().unwrap()).unwrap();
                let completed = journal
                    .iter()
                    .filter(|e| {
                        e.request_id == r["request_id"].as_str().unwrap() && e.event == "completed"
                    })
                    .count();
                assert_eq!(completed, 1, "one result");
            }
            _ => {}
        }
    }
    h.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn answers_failing_their_smev_signature_change_nothing_and_stay_in_smev() {
    if !broker_or_skip("emulator_scenarios").await {
        return;
    }
    let h = start("badsig").await;
    let cases = [
        (
            "wrong signature",
            json!({ "signature": "wrong" }),
            "untrusted",
        ),
        (
            "missing signature",
            json!({ "signature": "missing" }),
            "unsigned",
        ),
    ];
    let client = Client::connect().await;
    let reply_q = client.reply_queue().await;
    let mut ids = Vec::new();
    for (i, (_, s, _)) in cases.iter().enumerate() {
        let inn = fresh_inn(320 + i as u32);
        h.scenario(Kind::Egrul, &inn, s.clone()).await;
        let msg = request_json(Kind::Egrul, json!({ "inn": inn }));
        ids.push(
            msg["request_id"]
                .as_str()
                .unwrap()
                .parse::<uuid::Uuid>()
                .unwrap(),
        );
        client
            .publish(
                &h.settings.amqp.queue_requests(),
                msg.to_string().as_bytes(),
                Some(&reply_q),
                None,
            )
            .await;
    }
    // Delivered again and again (never acknowledged), refused each time.
    let replies = client.take(&reply_q, 1, Duration::from_secs(4)).await;
    assert!(
        replies.is_empty(),
        "no result from an unverified answer: {:?}",
        replies[0].body
    );
    for ((what, _, reason), id) in cases.iter().zip(&ids) {
        let rec = h.gateway.store().load(id).unwrap().unwrap();
        assert_eq!(
            rec.state,
            mezhved::casefile::State::Sent,
            "{what}: still waiting"
        );
        assert!(
            !h.gateway
                .store()
                .request_dir(&rec)
                .join("response.xml")
                .exists(),
            "{what}: nothing unverified is stored"
        );
        let trace = h.trace_of(&[rec.message_id.clone().unwrap()]);
        let deliveries = trace
            .iter()
            .filter(|t| t.operation == "GetResponse")
            .count();
        assert!(
            deliveries >= 2,
            "{what}: left in SMEV and delivered again: {trace:?}"
        );
        assert!(
            !trace.iter().any(|t| t.operation == "Ack"),
            "{what}: not acknowledged (an Ack of any kind takes it out of SMEV's queue): {trace:?}"
        );
        let counted: u64 = h
            .gateway
            .metrics
            .answers_rejected
            .snapshot()
            .into_iter()
            .filter(|(k, _)| k[0] == *reason)
            .map(|(_, n)| n)
            .sum();
        assert!(counted >= 2, "{what}: counted as {reason}: {counted}");
    }
    h.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_off_faults_on_get_response_and_ack_are_survived() {
    if !broker_or_skip("emulator_scenarios").await {
        return;
    }
    let h = start("oneoff").await;
    h.control(
        "POST",
        "/control/faults",
        Some(json!({ "operation": "GetResponse", "http_status": 503, "times": 2 })),
    )
    .await;
    h.control(
        "POST",
        "/control/faults",
        Some(json!({ "operation": "Ack", "fault": "SMEVFailure", "times": 1 })),
    )
    .await;
    let inn = fresh_inn(400);
    let replies = run(&h, &[egrul(&inn)]).await;
    assert_eq!(replies[&inn]["verdict"], json!("not_found"));
    // The refused Ack left the answer queued; it came again and was acknowledged.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let trace = h.trace_of(&message_ids(&replies[&inn]));
    let acks: Vec<&str> = trace
        .iter()
        .filter(|t| t.operation == "Ack")
        .map(|t| t.outcome.as_str())
        .collect();
    assert_eq!(acks, ["ack accepted"], "{trace:?}");
    assert_eq!(
        trace
            .iter()
            .filter(|t| t.operation == "GetResponse")
            .count(),
        2
    );
    let faults = h.control("GET", "/control/faults", None).await;
    assert_eq!(faults, json!([]), "all one-off faults used up");
    h.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn scenarios_in_the_data_files_apply_without_the_control_api() {
    if !broker_or_skip("emulator_scenarios").await {
        return;
    }
    let h = start("datafile").await;
    // fixtures/registers/egrul.toml: "flaky-node" fails twice with SMEVFailure.
    let replies = run(&h, &[(Kind::Egrul, json!({ "inn": "7816543212" }))]).await;
    let r = &replies["7816543212"];
    assert_eq!(r["verdict"], json!("found"), "{r}");
    let faults = h
        .emulator
        .node
        .trace()
        .into_iter()
        .filter(|t| t.subject.as_deref() == Some("7816543212") && t.outcome.contains("SMEVFailure"))
        .count();
    assert_eq!(faults, 2);
    h.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_control_api_refuses_bad_input_and_resets() {
    if !broker_or_skip("emulator_scenarios").await {
        return;
    }
    let h = start("control").await;
    let client = reqwest::Client::new();
    let base = format!("http://{}", h.emulator.addr);
    for (path, body) in [
        (
            "/control/scenarios/egrul/7700000000",
            json!({ "fault": "NoSuchFault" }),
        ),
        ("/control/scenarios/nope/7700000000", json!({})),
        (
            "/control/scenarios/egrul/7700000000",
            json!({ "faul": "x" }),
        ),
    ] {
        let r = client
            .put(format!("{base}{path}"))
            .body(body.to_string())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 400, "{path} {body}");
        let text = r.text().await.unwrap();
        assert!(text.contains("error"), "{text}");
    }
    let r = client
        .post(format!("{base}/control/faults"))
        .body(json!({ "operation": "Nope", "http_status": 500 }).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    h.scenario(Kind::Egrul, "7700000000", json!({ "never_answer": true }))
        .await;
    assert_eq!(
        h.control("GET", "/control/scenarios", None)
            .await
            .as_array()
            .unwrap()
            .len(),
        1
    );
    assert!(
        h.control("GET", "/control/subjects", None)
            .await
            .as_array()
            .unwrap()
            .len()
            >= 30
    );
    h.control("POST", "/control/reset", None).await;
    assert_eq!(
        h.control("GET", "/control/scenarios", None).await,
        json!([])
    );
    assert_eq!(h.control("GET", "/control/messages", None).await, json!([]));
    h.cleanup().await;
}
