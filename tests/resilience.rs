//! Nothing lost, exactly one result: poison messages, a lost broker
//! connection, a dead SMEV node, shutdown, a second instance, deadlines.
//! Real RabbitMQ, the emulator over HTTP, and `mezhved run` as a process
//! where a test needs to kill it.

mod common;

use std::collections::HashSet;
use std::time::Duration;

use common::daemon::Setup;
use common::harness::{Client, Harness, broker_or_skip, fresh_inn, prefix, test_settings};
use common::*;
use futures_util::StreamExt;
use mezhved::casefile::State;
use mezhved::request::Kind;
use serde_json::{Value, json};

const WAIT: Duration = Duration::from_secs(40);

/// Publishes ЕГРЮЛ requests about `inns` with `reply_to`; returns their ids.
async fn publish(client: &Client, queue: &str, reply_to: &str, inns: &[String]) -> Vec<String> {
    let mut ids = Vec::new();
    for inn in inns {
        let msg = request_json(Kind::Egrul, json!({ "inn": inn }));
        ids.push(msg["request_id"].as_str().unwrap().to_owned());
        client
            .publish(queue, msg.to_string().as_bytes(), Some(reply_to), None)
            .await;
    }
    ids
}

fn assert_exactly_once(
    setup_results: &std::collections::HashMap<String, usize>,
    accepted: &std::collections::HashMap<String, u32>,
    ids: &[String],
) {
    for id in ids {
        assert_eq!(setup_results.get(id), Some(&1), "{id}: one final result");
        assert_eq!(
            accepted.get(id),
            Some(&1),
            "{id}: one SendRequest accepted by SMEV"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_that_crashes_the_handler_is_dead_lettered_by_the_broker() {
    if !broker_or_skip("resilience").await {
        return;
    }
    let setup = Setup::new(&prefix("poison")).await;
    let daemon = setup.spawn(&[("MEZHVED_FAILPOINTS", "panic-on-case=POISON-1")]);
    let client = Client::connect().await;
    let reply_q = client.reply_queue().await;
    let mut poison = request_json(Kind::Egrul, json!({ "inn": "4703123451" }));
    poison["case_id"] = json!("POISON-1");
    client
        .publish(
            &setup.settings.amqp.queue_requests(),
            poison.to_string().as_bytes(),
            Some(&reply_q),
            None,
        )
        .await;
    let ids = publish(
        &client,
        &setup.settings.amqp.queue_requests(),
        &reply_q,
        &[fresh_inn(1)],
    )
    .await;

    let replies = client.take(&reply_q, 2, Duration::from_secs(10)).await;
    assert_eq!(replies.len(), 1, "only the good request is answered");
    assert_eq!(replies[0].body["request_id"], json!(ids[0]));

    // The broker dead-letters the poison after `delivery_limit` deliveries.
    let dead = setup.settings.amqp.queue_dead();
    let mut consumer = client
        .channel
        .basic_consume(
            dead.as_str().into(),
            "dead-check".into(),
            Default::default(),
            Default::default(),
        )
        .await
        .unwrap();
    let d = tokio::time::timeout(Duration::from_secs(20), consumer.next())
        .await
        .expect("the poison reaches the dead-letter queue")
        .unwrap()
        .unwrap();
    let body: Value = serde_json::from_slice(&d.data).unwrap();
    assert_eq!(
        body["case_id"],
        json!("POISON-1"),
        "the original message, untouched"
    );
    let reason = d
        .properties
        .headers()
        .as_ref()
        .and_then(|h| h.inner().get("x-first-death-reason").cloned())
        .and_then(|v| v.as_long_string().map(|s| s.to_string()));
    assert_eq!(
        reason.as_deref(),
        Some("delivery_limit"),
        "the broker says why"
    );
    let log = daemon.log_text();
    let crashes = log.matches("the handler crashed on this delivery").count();
    assert_eq!(
        crashes as u32,
        setup.settings.amqp.delivery_limit + 1,
        "{log}"
    );
    assert!(
        !setup
            .results_per_request()
            .contains_key(poison["request_id"].as_str().unwrap()),
        "never recorded"
    );
    drop(daemon);
    setup.cleanup().await;
}

/// Closes the broker connection named `name` from the broker side.
fn close_connection(name: &str) -> bool {
    let out = std::process::Command::new("rabbitmqctl")
        .args([
            "list_connections",
            "--no-table-headers",
            "--quiet",
            "pid",
            "client_properties",
        ])
        .output()
        .expect("rabbitmqctl is installed with rabbitmq-server");
    let text = String::from_utf8_lossy(&out.stdout);
    let mut closed = false;
    for line in text.lines().filter(|l| l.contains(name)) {
        let pid = line.split_whitespace().next().unwrap();
        let ok = std::process::Command::new("rabbitmqctl")
            .args(["close_connection", pid, "test: broker-side connection loss"])
            .status()
            .unwrap()
            .success();
        closed |= ok;
    }
    closed
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_broker_connection_is_re_established_and_nothing_is_lost() {
    if !broker_or_skip("resilience").await {
        return;
    }
    let setup = Setup::new(&prefix("brokerloss")).await;
    let mut daemon = setup.spawn(&[]);
    let client = Client::connect().await;
    let reply_q = client.reply_queue().await;
    let q = setup.settings.amqp.queue_requests();
    let before = publish(
        &client,
        &q,
        &reply_q,
        &(10..15).map(fresh_inn).collect::<Vec<_>>(),
    )
    .await;
    assert_eq!(client.take(&reply_q, 5, WAIT).await.len(), 5);

    let name = format!(
        "mezhved-{}-{}",
        mezhved::casefile::instance::hostname(),
        daemon.pid()
    );
    assert!(
        close_connection(&name),
        "found and closed the daemon's connection {name}"
    );
    daemon.wait_log("reconnected to RabbitMQ", Duration::from_secs(20));
    let after = publish(
        &client,
        &q,
        &reply_q,
        &(15..20).map(fresh_inn).collect::<Vec<_>>(),
    )
    .await;
    let replies = client.take(&reply_q, 5, WAIT).await;
    assert_eq!(replies.len(), 5, "{}", daemon.log_text());
    let all: Vec<String> = before.into_iter().chain(after).collect();
    assert_exactly_once(
        &setup.results_per_request(),
        &setup.emulator.node.accepted(),
        &all,
    );
    drop(daemon);
    setup.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_circuit_breaker_holds_requests_through_an_outage_and_drains_them_after() {
    if !broker_or_skip("resilience").await {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mut s = test_settings(dir.path(), &prefix("breaker"));
    // Without the breaker, 6 attempts 50–200 ms apart are spent in under
    // a second: a 2 s outage would fail every request.
    s.retry.attempts = 6;
    s.retry.initial_ms = 50;
    s.retry.max_ms = 200;
    s.smev.breaker_failures = 3;
    s.smev.breaker_open_secs = 0.5;
    s.smev.breaker_max_open_secs = 1.0;
    let h = Harness::start_in(dir, s).await;
    h.control(
        "POST",
        "/control/faults",
        Some(json!({ "operation": "*", "http_status": 503, "for_secs": 2.0 })),
    )
    .await;
    let client = Client::connect().await;
    let reply_q = client.reply_queue().await;
    let ids = publish(
        &client,
        &h.settings.amqp.queue_requests(),
        &reply_q,
        &(30..40).map(fresh_inn).collect::<Vec<_>>(),
    )
    .await;
    let replies = client.take(&reply_q, 10, WAIT).await;
    assert_eq!(replies.len(), 10);
    for r in &replies {
        assert_eq!(
            r.body["verdict"],
            json!("not_found"),
            "held, not failed: {}",
            r.body
        );
    }
    let refused = h
        .emulator
        .node
        .trace()
        .iter()
        .filter(|t| t.outcome.starts_with("one-off fault"))
        .count();
    assert!(
        refused < 25,
        "the dead node was not hammered: {refused} calls during the outage"
    );
    assert_eq!(
        h.gateway.client().breaker().state(),
        mezhved::provider::BreakerState::Closed
    );
    let accepted = h.emulator.node.accepted();
    for id in &ids {
        assert_eq!(accepted.get(id), Some(&1));
    }
    h.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_stops_cleanly_and_a_second_signal_exits_at_once_without_loss() {
    if !broker_or_skip("resilience").await {
        return;
    }
    let setup = Setup::new(&prefix("shutdown")).await;
    let client = Client::connect().await;
    let reply_q = client.reply_queue().await;
    let q = setup.settings.amqp.queue_requests();

    // Answers take 2 s: SIGTERM comes while the requests wait for them.
    let inns: Vec<String> = (50..55).map(fresh_inn).collect();
    for inn in &inns {
        setup.emulator.node.scenarios.set(
            Kind::Egrul,
            inn,
            serde_json::from_value(json!({ "delay_secs": 2.0 })).unwrap(),
        );
    }
    let mut d1 = setup.spawn(&[]);
    let first = publish(&client, &q, &reply_q, &inns).await;
    while d1.log_text().matches("accepted by SMEV").count() < 5 {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    d1.signal("TERM");
    let status = d1
        .wait_exit(Duration::from_secs(10))
        .expect("stopped within the grace period");
    assert!(
        status.success(),
        "exit 0 on SIGTERM: {status}\n{}",
        d1.log_text()
    );
    assert!(d1.log_text().contains("stopping: no new requests"));

    // Second run: two signals in a row, while requests are being sent.
    let more: Vec<String> = (55..60).map(fresh_inn).collect();
    for inn in &more {
        setup.emulator.node.scenarios.set(
            Kind::Egrul,
            inn,
            serde_json::from_value(json!({ "slow_secs": 1.0 })).unwrap(),
        );
    }
    let mut d2 = setup.spawn(&[]);
    let second = publish(&client, &q, &reply_q, &more).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    d2.signal("TERM");
    tokio::time::sleep(Duration::from_millis(50)).await;
    d2.signal("TERM");
    let status = d2
        .wait_exit(Duration::from_secs(3))
        .expect("exited at once");
    assert_eq!(status.code(), Some(130), "{}", d2.log_text());

    // A third run finishes everything, once.
    let d3 = setup.spawn(&[]);
    // The second run exits at once, possibly between a confirmed reply and
    // its record: that reply goes out again (at least once), so count the
    // requests answered, not the messages.
    let mut got: HashSet<String> = HashSet::new();
    let deadline = tokio::time::Instant::now() + WAIT;
    while got.len() < 10 && tokio::time::Instant::now() < deadline {
        let left = deadline - tokio::time::Instant::now();
        for r in client.take(&reply_q, 10 - got.len(), left).await {
            got.insert(r.body["request_id"].as_str().unwrap().to_owned());
        }
    }
    let all: Vec<String> = first.into_iter().chain(second).collect();
    assert_eq!(got.len(), 10, "every request answered:\n{}", d3.log_text());
    assert_exactly_once(
        &setup.results_per_request(),
        &setup.emulator.node.accepted(),
        &all,
    );
    drop(d3);
    setup.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_instance_takes_over_when_the_first_is_killed() {
    if !broker_or_skip("resilience").await {
        return;
    }
    let setup = Setup::new(&prefix("takeover")).await;
    let client = Client::connect().await;
    let reply_q = client.reply_queue().await;
    let inns: Vec<String> = (60..80).map(fresh_inn).collect();
    for inn in &inns {
        setup.emulator.node.scenarios.set(
            Kind::Egrul,
            inn,
            serde_json::from_value(json!({ "delay_secs": 1.5 })).unwrap(),
        );
    }
    let mut a = setup.spawn(&[]);
    let b = setup.spawn(&[]);
    let ids = publish(
        &client,
        &setup.settings.amqp.queue_requests(),
        &reply_q,
        &inns,
    )
    .await;
    // Let both take requests, then kill the first for real.
    while a.log_text().matches("accepted by SMEV").count() < 3 {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    a.kill9();
    let replies = client.take(&reply_q, 20, WAIT).await;
    assert_eq!(replies.len(), 20, "{}", b.log_text());
    assert!(
        b.log_text().contains("taking over their requests"),
        "{}",
        b.log_text()
    );
    assert_exactly_once(
        &setup.results_per_request(),
        &setup.emulator.node.accepted(),
        &ids,
    );
    drop(b);
    setup.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_late_answer_is_marked_overdue_announced_and_still_taken() {
    if !broker_or_skip("resilience").await {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mut s = test_settings(dir.path(), &prefix("overdue"));
    s.gateway.deadline_check_secs = 0.2;
    let h = Harness::start_in(dir, s).await;
    let client = Client::connect().await;
    // A case system listening for overdue events.
    let events = client.reply_queue().await;
    client
        .channel
        .queue_bind(
            events.as_str().into(),
            h.settings.amqp.exchange_results().as_str().into(),
            "overdue.#".into(),
            Default::default(),
            Default::default(),
        )
        .await
        .unwrap();
    // SMEV took both 30 days ago; one answer never comes, one comes late.
    let sent = mezhved::clock::now() - time::Duration::days(30);
    let ts = mezhved::clock::rfc3339(sent);
    let (never, late) = (fresh_inn(90), fresh_inn(91));
    h.scenario(
        Kind::Egrul,
        &never,
        json!({ "never_answer": true, "sending_timestamp": ts }),
    )
    .await;
    h.scenario(
        Kind::Egrul,
        &late,
        json!({ "delay_secs": 2.0, "sending_timestamp": ts }),
    )
    .await;
    let reply_q = client.reply_queue().await;
    let ids = publish(
        &client,
        &h.settings.amqp.queue_requests(),
        &reply_q,
        &[never.clone(), late.clone()],
    )
    .await;

    let due = mezhved::calendar::Calendar::builtin().answer_due(sent);
    let got = client.take(&events, 2, Duration::from_secs(10)).await;
    assert_eq!(got.len(), 2, "an overdue event per request");
    for e in &got {
        assert_eq!(e.body["event"], json!("overdue"));
        assert_eq!(
            e.body["due_date"],
            json!(mezhved::clock::iso_date(due.last_day))
        );
        assert!(ids.contains(&e.body["request_id"].as_str().unwrap().to_owned()));
    }
    let never_rec = h
        .gateway
        .store()
        .load(&ids[0].parse().unwrap())
        .unwrap()
        .unwrap();
    assert_eq!(never_rec.state, State::Overdue, "still waiting, marked");
    let replies = client.take(&reply_q, 1, WAIT).await;
    assert_eq!(replies[0].body["request_id"], json!(ids[1]));
    assert_eq!(
        replies[0].body["late"],
        json!(true),
        "the result says the answer was late"
    );
    assert_eq!(replies[0].body["verdict"], json!("not_found"));
    assert_eq!(h.gateway.metrics.overdue.total(), 2);
    h.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn retries_stop_at_the_deadline_and_an_expired_eol_is_renewed() {
    if !broker_or_skip("resilience").await {
        return;
    }
    // A request recorded 30 days ago that SMEV still refuses: no retry can
    // beat its deadline, so it fails at once for manual fallback.
    let dir = tempfile::tempdir().unwrap();
    let mut s = test_settings(dir.path(), &prefix("deadline"));
    s.smev.eol_hours = 1;
    s.retry.initial_ms = 50;
    let store = mezhved::casefile::Store::open(&s.gateway.cases_root).unwrap();
    let old = lookup_request(Kind::Egrul, &fresh_inn(95));
    let mezhved::casefile::Acceptance::New(rec) = store.accept(&old, Default::default()).unwrap()
    else {
        panic!()
    };
    // Backdated in the store's write-ahead log, the journal, whose last
    // state of a request is its state.
    let mut backdated = rec.clone();
    backdated.accepted_at = mezhved::clock::now() - time::Duration::days(30);
    mezhved::casefile::journal::append(
        &store.case_dir(&rec.case_id),
        mezhved::casefile::journal::Entry {
            at: mezhved::clock::rfc3339(mezhved::clock::now()),
            request_id: rec.request_id.to_string(),
            event: "backdated by the test".into(),
            detail: None,
            documents: vec![],
            state: Some(Box::new(backdated)),
            prev: String::new(),
            hash: String::new(),
        },
    )
    .unwrap();
    drop(store);
    let h = Harness::start_adjusted(dir, s, |_, emulator| {
        let always_503 = serde_json::from_value(json!({ "http_status": 503 })).unwrap();
        emulator
            .node
            .scenarios
            .set(Kind::Egrul, &fresh_inn(95), always_503);
    })
    .await;
    let mut done = None;
    for _ in 0..200 {
        let r = h.gateway.store().load(&old.request_id).unwrap().unwrap();
        if r.state.is_final() {
            done = Some(r);
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let rec = done.expect("failed at the deadline");
    assert_eq!(rec.state, State::Failed);
    let result = h.gateway.store().load_result(&rec).unwrap().unwrap();
    let reason = result.outcome.failure.unwrap().reason;
    assert!(reason.contains("before its answer deadline"), "{reason}");
    assert!(result.fallback_required);

    // EndOfLifeReached: signed again with a new EOL, same MessageID.
    let inn = fresh_inn(96);
    h.scenario(
        Kind::Egrul,
        &inn,
        json!({ "fault": "EndOfLifeReached", "times": 1 }),
    )
    .await;
    let client = Client::connect().await;
    let reply_q = client.reply_queue().await;
    let ids = publish(
        &client,
        &h.settings.amqp.queue_requests(),
        &reply_q,
        std::slice::from_ref(&inn),
    )
    .await;
    let replies = client.take(&reply_q, 1, WAIT).await;
    assert_eq!(replies[0].body["verdict"], json!("not_found"));
    let rec = h
        .gateway
        .store()
        .load(&ids[0].parse().unwrap())
        .unwrap()
        .unwrap();
    let journal =
        mezhved::casefile::journal::verify(&h.gateway.store().case_dir(&rec.case_id)).unwrap();
    let signed: Vec<String> = journal
        .iter()
        .filter(|e| e.request_id == ids[0] && e.event == "signed")
        .map(|e| e.detail.clone().unwrap())
        .collect();
    assert_eq!(signed.len(), 2, "signed twice: {signed:?}");
    assert_eq!(signed[0], signed[1], "with the same MessageID");
    let envelope =
        std::fs::read_to_string(h.gateway.store().request_dir(&rec).join("send-request.xml"))
            .unwrap();
    assert!(envelope.contains("EOL>"), "the envelope carries an EOL");
    assert_eq!(h.emulator.node.accepted().get(&ids[0]), Some(&1));
    h.cleanup().await;
}
