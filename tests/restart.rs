//! A restart at any point of a request's life resumes it from the case
//! store: one final result, the same reply, and one request to SMEV.
//! `mezhved run` is a real process, aborted at each stage by a failpoint,
//! then started again.

mod common;

use std::time::Duration;

use common::daemon::Setup;
use common::harness::{Client, broker_or_skip, prefix};
use common::*;
use mezhved::request::Kind;
use serde_json::json;

async fn crash_at(stage: &str) {
    if !broker_or_skip("restart").await {
        return;
    }
    let setup = Setup::new(&prefix(&format!("restart-{stage}"))).await;
    let client = Client::connect().await;
    let reply_q = client.reply_queue().await;
    let msg = request_json(Kind::Egrul, json!({ "inn": "4703123451" }));
    let id = msg["request_id"].as_str().unwrap().to_owned();

    let mut first = setup.spawn(&[("MEZHVED_FAILPOINTS", &format!("abort-at={stage}"))]);
    client
        .publish(
            &setup.settings.amqp.queue_requests(),
            msg.to_string().as_bytes(),
            Some(&reply_q),
            None,
        )
        .await;
    let status = first.wait_exit(Duration::from_secs(30));
    assert!(
        status.is_some_and(|s| !s.success()),
        "{stage}: the daemon should have aborted: {status:?}\n{}",
        first.log_text()
    );
    assert!(
        first
            .log_text()
            .contains(&format!("failpoint abort-at={stage}"))
    );

    let second = setup.spawn(&[]);
    // A reply published but not recorded goes out again: at most two, equal.
    let replies = client.take(&reply_q, 2, Duration::from_secs(8)).await;
    assert!(
        !replies.is_empty(),
        "{stage}: no reply after the restart:\n{}",
        second.log_text()
    );
    for r in &replies {
        assert_eq!(r.body["request_id"], json!(id));
        assert_eq!(r.body["verdict"], json!("found"), "{stage}: {}", r.body);
        assert_eq!(
            r.body, replies[0].body,
            "{stage}: a repeated reply is the same reply"
        );
    }
    let expect_repeat = stage == "replied-unrecorded";
    assert_eq!(replies.len(), if expect_repeat { 2 } else { 1 }, "{stage}");

    let results = setup.results_per_request();
    assert_eq!(
        results.get(&id),
        Some(&1),
        "{stage}: exactly one final result"
    );
    let accepted = setup.emulator.node.accepted();
    assert_eq!(
        accepted.get(&id),
        Some(&1),
        "{stage}: SMEV accepted one SendRequest"
    );
    let state_file = setup
        .settings
        .gateway
        .cases_root
        .join("LO-2026-000123")
        .join(&id)
        .join("state.json");
    // `state.json` is rewritten in place: a read in the middle of a
    // rewrite is read again.
    let read_state = || -> serde_json::Value {
        std::fs::read(&state_file)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default()
    };
    // The reply is published, confirmed by the broker and only then
    // recorded, so the reply can reach this client a moment before
    // `replied_at` is on disk.
    let recorded_by = std::time::Instant::now() + Duration::from_secs(10);
    let mut state = read_state();
    while !state["replied_at"].is_string() && std::time::Instant::now() < recorded_by {
        tokio::time::sleep(Duration::from_millis(50)).await;
        state = read_state();
    }
    assert_eq!(state["state"], json!("completed"));
    assert!(
        state["replied_at"].is_string(),
        "{stage}: the reply is recorded: {state}\n{}",
        second.log_text()
    );
    assert!(
        second.log_text().contains("resumed unfinished requests") || stage == "accepted",
        "{stage}: resumed from the store:\n{}",
        second.log_text()
    );
    drop(second);
    setup.cleanup().await;
}

macro_rules! stages {
    ($($name:ident => $stage:literal),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                crash_at($stage).await;
            }
        )*
    };
}

stages! {
    crash_after_recording_before_the_delivery_is_acknowledged => "accepted",
    crash_after_acknowledging_before_signing => "acked",
    crash_after_signing_before_sending => "signed",
    crash_after_smev_accepted_before_recording_it => "sent-unrecorded",
    crash_while_waiting_for_the_answer => "sent",
    crash_after_storing_the_answer_before_the_ack => "answered",
    crash_after_the_ack_before_the_result => "answer-acked",
    crash_after_the_result_before_the_reply => "completed",
    crash_after_the_reply_before_recording_it => "replied-unrecorded",
}
