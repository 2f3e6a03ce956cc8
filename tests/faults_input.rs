//! Hostile or careless input from case systems: bodies of 25 and 100 MB,
//! a request_id reused for another request, duplicate JSON keys, a
//! `reply_to` naming the gateway's own queues. Each is refused with
//! mezhved's reason, in a dead letter of bounded size, and nothing else
//! moves.

mod common;

use std::time::{Duration, Instant};

use common::daemon::Setup;
use common::harness::{Client, Harness, Reply, broker_or_skip, prefix};
use common::*;
use futures_util::StreamExt;
use lapin::options::{BasicAckOptions, BasicConsumeOptions};
use mezhved::request::Kind;
use serde_json::{Value, json};

const WAIT: Duration = Duration::from_secs(30);

/// The next message of `queue`, with its properties' type and headers.
async fn take_raw(
    client: &Client,
    queue: &str,
    wait: Duration,
) -> Option<lapin::message::Delivery> {
    let tag = format!("raw-{}", fastrand::u32(..));
    let mut consumer = client
        .channel
        .basic_consume(
            queue.into(),
            tag.as_str().into(),
            BasicConsumeOptions::default(),
            Default::default(),
        )
        .await
        .unwrap();
    let got = tokio::time::timeout(wait, consumer.next()).await;
    let _ = client
        .channel
        .basic_cancel(tag.as_str().into(), Default::default())
        .await;
    match got {
        Ok(Some(Ok(d))) => {
            d.acker.ack(BasicAckOptions::default()).await.unwrap();
            Some(d)
        }
        _ => None,
    }
}

/// Publishes `body` to a fresh daemon and returns the dead letter it
/// makes, its size, and the daemon's peak memory (KiB) with its memory
/// before the message.
async fn oversized(setup: &Setup, body: &[u8]) -> (Value, usize, u64, u64) {
    let daemon = setup.spawn(&[]);
    tokio::time::sleep(Duration::from_secs(1)).await;
    let before = daemon.peak_rss_kib();
    let client = Client::connect().await;
    client
        .publish(&setup.settings.amqp.queue_requests(), body, None, None)
        .await;
    let letter = take_raw(&client, &setup.settings.amqp.queue_dead(), WAIT)
        .await
        .expect("a dead letter");
    assert_eq!(
        letter.properties.kind().as_ref().map(|k| k.as_str()),
        Some("mezhved.dead-letter"),
        "mezhved's own letter, not the broker's"
    );
    let size = letter.data.len();
    let v: Value = serde_json::from_slice(&letter.data).unwrap();
    // Settled: the delivery acknowledged, nothing left to redeliver.
    let start = Instant::now();
    while daemon
        .log_text()
        .matches("refused; to the dead-letter queue")
        .count()
        < 1
    {
        assert!(start.elapsed() < WAIT);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let peak = daemon.peak_rss_kib();
    drop(daemon);
    (v, size, peak, before)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bodies_of_25_and_100_mb_leave_bounded_dead_letters_with_mezhveds_reason() {
    if !broker_or_skip("faults_input").await {
        return;
    }
    let setup = Setup::new(&prefix("oversized")).await;
    let mut figures = Vec::new();
    for (mib, byte) in [(25usize, 0x01u8), (100, b'{')] {
        let body = vec![byte; mib * 1024 * 1024];
        let (letter, size, peak, before) = oversized(&setup, &body).await;
        assert_eq!(letter["reason"]["code"], json!("too_large"), "{letter}");
        assert_eq!(letter["original_bytes"], json!(body.len()));
        assert_eq!(
            letter["original_sha256"],
            json!(mezhved::casefile::sha256_hex(&body))
        );
        assert_eq!(letter["original_truncated"], json!(true));
        assert!(size < 16 * 1024, "a bounded letter: {size} bytes");
        let limit_kib = 2 * (mib as u64) * 1024;
        figures.push(format!(
            "{mib} MiB body: dead letter {size} B, daemon peak RSS {} MiB (before: {} MiB)",
            peak / 1024,
            before / 1024
        ));
        // What the body costs the daemon: the broker's frames assembled
        // into one buffer, and nothing more (no copy, no escaped letter).
        assert!(
            peak.saturating_sub(before) <= limit_kib,
            "{mib} MiB body: peak RSS grew by {} KiB, over twice the body",
            peak - before
        );
    }
    for f in &figures {
        eprintln!("FAULTS: {f}");
    }
    let client = Client::connect().await;
    assert!(
        take_raw(
            &client,
            &setup.settings.amqp.queue_requests(),
            Duration::from_millis(300)
        )
        .await
        .is_none(),
        "nothing left to redeliver"
    );
    setup.cleanup().await;
}

fn letter_of(r: &Reply) -> &Value {
    &r.body
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_request_id_reused_for_another_request_is_refused_and_the_same_request_again_is_answered()
{
    if !broker_or_skip("faults_input").await {
        return;
    }
    let h = Harness::start(&prefix("reused")).await;
    let client = Client::connect().await;
    let (first_q, second_q) = (client.reply_queue().await, client.reply_queue().await);
    let requests = h.settings.amqp.queue_requests();
    let first = request_json(Kind::Egrul, json!({ "ogrn": "1144703001233" }));
    client
        .publish(
            &requests,
            first.to_string().as_bytes(),
            Some(&first_q),
            Some("one"),
        )
        .await;
    let got = client.take(&first_q, 1, WAIT).await;
    assert_eq!(got[0].body["verdict"], json!("found"));

    // Same request_id, same case, another subject and another sender.
    let mut other = first.clone();
    other["subject"] = json!({ "inn": "4703123451" });
    client
        .publish(
            &requests,
            other.to_string().as_bytes(),
            Some(&second_q),
            Some("two"),
        )
        .await;
    let refused = client.take(&second_q, 1, WAIT).await;
    assert_eq!(refused.len(), 1, "the new sender hears why");
    let r = &refused[0];
    assert_eq!(r.correlation_id.as_deref(), Some("two"));
    assert_eq!(r.body["verdict"], json!("refused"));
    assert_eq!(r.body["reason"]["code"], json!("request_id_reused"));
    assert_eq!(r.body["request_id"], first["request_id"]);
    let dead = client.take(&h.settings.amqp.queue_dead(), 1, WAIT).await;
    let letter = letter_of(&dead[0]);
    assert_eq!(letter["reason"]["code"], json!("request_id_reused"));
    let stored = std::fs::read(
        h.settings
            .gateway
            .cases_root
            .join(first["case_id"].as_str().unwrap())
            .join(first["request_id"].as_str().unwrap())
            .join("request.json"),
    )
    .unwrap();
    assert_eq!(
        letter["conflict"]["stored_sha256"],
        json!(mezhved::casefile::sha256_hex(&stored))
    );
    assert_ne!(
        letter["conflict"]["received_sha256"],
        letter["conflict"]["stored_sha256"]
    );
    assert!(
        client
            .take(&first_q, 1, Duration::from_secs(1))
            .await
            .is_empty(),
        "the first sender is not sent its old result again"
    );

    // The same request again still gets the stored result.
    client
        .publish(
            &requests,
            first.to_string().as_bytes(),
            Some(&first_q),
            Some("again"),
        )
        .await;
    let again = client.take(&first_q, 1, WAIT).await;
    assert_eq!(again[0].body["verdict"], json!("found"));
    assert_eq!(again[0].body["completed_at"], got[0].body["completed_at"]);
    assert_eq!(h.sent_requests(), 1, "one SendRequest in all");
    h.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn duplicate_keys_and_a_reply_to_of_the_gateways_own_are_refused_and_never_sent() {
    if !broker_or_skip("faults_input").await {
        return;
    }
    let h = Harness::start(&prefix("strict")).await;
    let client = Client::connect().await;
    let requests = h.settings.amqp.queue_requests();
    let dead = h.settings.amqp.queue_dead();
    // A last-wins reader would look up the second subject.
    let text = request_json(Kind::Egrul, json!({ "ogrn": "1144703001233" })).to_string();
    let twice = text.replacen(
        "\"subject\":",
        "\"subject\":{\"inn\":\"4703123451\"},\"subject\":",
        1,
    );
    client
        .publish(&requests, twice.as_bytes(), None, None)
        .await;
    let l = client.take(&dead, 1, WAIT).await;
    assert_eq!(l[0].body["reason"]["code"], json!("duplicate_key"));
    assert_eq!(l[0].body["reason"]["field"], json!("subject"));

    for own in [
        dead.clone(),
        requests.clone(),
        h.settings.amqp.queue_replies(),
    ] {
        let msg = request_json(Kind::Egrul, json!({ "ogrn": "1144703001233" }));
        client
            .publish(&requests, msg.to_string().as_bytes(), Some(&own), None)
            .await;
        let l = client.take(&dead, 1, WAIT).await;
        assert_eq!(l.len(), 1, "{own}");
        assert_eq!(
            l[0].body["reason"]["code"],
            json!("unsafe_reply_to"),
            "{own}"
        );
        assert_eq!(l[0].body["reason"]["field"], json!("reply_to"));
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        client
            .take(&dead, 1, Duration::from_millis(300))
            .await
            .is_empty()
    );
    assert!(
        client
            .take(&requests, 1, Duration::from_millis(300))
            .await
            .is_empty()
    );
    assert_eq!(h.sent_requests(), 0, "nothing refused is sent");
    h.cleanup().await;
}
