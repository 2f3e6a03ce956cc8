//! The case system's side of the contract, with plain AMQP clients: every
//! delivery is answered (a refused one too, while its dead letter stays for
//! the operator), a republished request is answered where the latest
//! publication asked, a reply queue that does not exist is a named warning
//! and a metric, and the example client of `examples/` works as the README
//! says.

mod common;

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::daemon::Setup;
use common::harness::{Client, Harness, amqp_url, broker_or_skip, fresh_inn, prefix};
use common::*;
use mezhved::request::Kind;
use serde_json::{Value, json};

const WAIT: Duration = Duration::from_secs(30);

/// The journal events of a request (event, detail) and its last state.
fn journal_state(h: &Harness, case: &str, request_id: &str) -> Value {
    let store = mezhved::casefile::Store::open_reader(&h.settings.gateway.cases_root).unwrap();
    let entries = store.journal_of(case).unwrap();
    let last = entries
        .iter()
        .rev()
        .find(|e| e.request_id == request_id)
        .unwrap();
    json!({
        "events": entries.iter().filter(|e| e.request_id == request_id).map(|e| json!([e.event, e.detail])).collect::<Vec<_>>(),
        "state": serde_json::to_value(last.state.as_deref().unwrap()).unwrap(),
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_refused_request_is_answered_with_its_reason_and_its_dead_letter_stays() {
    if !broker_or_skip("case_system").await {
        return;
    }
    let h = Harness::start(&prefix("refused")).await;
    let client = Client::connect().await;
    let reply_q = client.reply_queue().await;
    let q = h.settings.amqp.queue_requests();

    let mut bad = request_json(Kind::Egrul, json!({ "inn": "4703123452" }));
    bad["case_id"] = json!("LO-REFUSED-1");
    client
        .publish(
            &q,
            bad.to_string().as_bytes(),
            Some(&reply_q),
            Some("c-bad"),
        )
        .await;
    let reply = client.take(&reply_q, 1, WAIT).await;
    assert_eq!(reply.len(), 1, "a refused request gets a reply");
    let r = &reply[0];
    assert_eq!(r.correlation_id.as_deref(), Some("c-bad"));
    assert_eq!(r.body["verdict"], "refused");
    assert_eq!(r.body["request_id"], bad["request_id"]);
    assert_eq!(r.body["case_id"], "LO-REFUSED-1");
    assert_eq!(r.body["kind"], "egrul");
    assert_eq!(r.body["reason"]["code"], "invalid_check_digit");
    assert_eq!(r.body["reason"]["field"], "subject.inn");
    assert!(
        r.body["reason"]["message"]
            .as_str()
            .unwrap()
            .contains("fails its check digit")
    );
    assert_eq!(
        r.body["reason"]["message_ru"],
        "Запрос не принят: не сходится контрольная цифра ИНН (subject.inn); проверьте номер."
    );

    // The operator still has the dead letter, the same one.
    let dead = client.take(&h.settings.amqp.queue_dead(), 1, WAIT).await;
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].body["id"], r.body["dead_letter_id"]);
    assert_eq!(dead[0].body["reason"], {
        let mut reason = r.body["reason"].clone();
        reason.as_object_mut().unwrap().remove("message_ru");
        reason
    });

    // Without reply_to, and unreadable: to the results exchange, routing
    // key `refused`, which the replies queue receives.
    client
        .publish(&q, b"{\"request_id\": ", None, Some("c-garbled"))
        .await;
    let got = client.take(&h.settings.amqp.queue_replies(), 1, WAIT).await;
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].body["verdict"], "refused");
    assert_eq!(got[0].body["reason"]["code"], "malformed_json");
    assert!(got[0].body.get("request_id").is_none());
    assert_eq!(h.sent_requests(), 0, "nothing refused is sent");
    h.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_republished_request_is_answered_where_the_latest_publication_asked() {
    if !broker_or_skip("case_system").await {
        return;
    }
    let h = Harness::start(&prefix("reroute")).await;
    let q = h.settings.amqp.queue_requests();
    let msg = request_json(Kind::Egrul, json!({ "ogrn": "1144703001233" }));
    let rid = msg["request_id"].as_str().unwrap().to_owned();
    let body = msg.to_string();

    // Completed, its reply queue gone with its connection.
    let first = Client::connect().await;
    let q1 = first.reply_queue().await;
    first
        .publish(&q, body.as_bytes(), Some(&q1), Some("first"))
        .await;
    let one = first.take(&q1, 1, WAIT).await;
    assert_eq!(one[0].body["verdict"], "found");
    drop(first);

    // Republished with a new reply queue: the stored result goes there.
    let second = Client::connect().await;
    let q2 = second.reply_queue().await;
    second
        .publish(&q, body.as_bytes(), Some(&q2), Some("second"))
        .await;
    let two = second.take(&q2, 1, WAIT).await;
    assert_eq!(two.len(), 1, "the stored result reaches the new reply_to");
    assert_eq!(two[0].correlation_id.as_deref(), Some("second"));
    assert_eq!(two[0].body, one[0].body, "the same result");
    assert_eq!(h.sent_requests(), 1, "one SMEV request");

    // The case file has every route it was answered to.
    let start = Instant::now();
    let j = loop {
        let j = journal_state(&h, "LO-2026-000123", &rid);
        if j["state"]["replied_to"].as_array().map(Vec::len) == Some(2) {
            break j;
        }
        assert!(start.elapsed() < WAIT, "{j:#}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let routes: Vec<(&str, &str)> = j["state"]["replied_to"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["reply_to"].as_str().unwrap(),
                a["correlation_id"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(routes, [(q1.as_str(), "first"), (q2.as_str(), "second")]);
    let events = j["events"].to_string();
    assert!(
        events.contains(&format!(
            "replies now go to reply_to {q2} (correlation_id second)"
        )),
        "{events}"
    );

    // Republished while still in flight: only the latest route is answered.
    let slow = request_json(Kind::Egrul, json!({ "ogrn": "1047800555120" })).to_string();
    let third = Client::connect().await;
    let (q3, q4) = (third.reply_queue().await, third.reply_queue().await);
    third
        .publish(&q, slow.as_bytes(), Some(&q3), Some("third"))
        .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    third
        .publish(&q, slow.as_bytes(), Some(&q4), Some("fourth"))
        .await;
    let four = third.take(&q4, 1, WAIT).await;
    assert_eq!(four.len(), 1);
    assert_eq!(four[0].correlation_id.as_deref(), Some("fourth"));
    assert!(
        third
            .take(&q3, 1, Duration::from_millis(500))
            .await
            .is_empty(),
        "the earlier route is not answered"
    );
    h.cleanup().await;
}

/// A TCP port free now on the loopback.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reply_to_that_does_not_exist_is_a_named_warning_and_a_metric_never_a_byte_dump() {
    if !broker_or_skip("case_system").await {
        return;
    }
    let setup = Setup::new(&prefix("noqueue")).await;
    let d = setup.spawn(&[]);
    let client = Client::connect().await;
    let missing = format!("{}.nobody-declared-this", setup.settings.amqp.prefix);
    let msg = request_json(Kind::Egrul, json!({ "inn": fresh_inn(1701) }));
    client
        .publish(
            &setup.settings.amqp.queue_requests(),
            msg.to_string().as_bytes(),
            Some(&missing),
            Some("lost?"),
        )
        .await;
    // Not lost: the results exchange's replies queue has it.
    let got = client
        .take(&setup.settings.amqp.queue_replies(), 1, WAIT)
        .await;
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].body["request_id"], msg["request_id"]);
    let ops = d.ops_url();
    let start = Instant::now();
    while !d.log_text().contains("does not exist") {
        assert!(start.elapsed() < WAIT, "{}", d.log_text());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let log = d.log_text();
    assert!(
        log.contains(&format!(
            "the reply_to queue {missing} does not exist: the reply went to the exchange {}",
            setup.settings.amqp.exchange_results()
        )),
        "{log}"
    );
    for dump in ["BasicReturnMessage", "Server returned", "NO_ROUTE"] {
        assert!(!log.contains(dump), "{dump} in the log:\n{log}");
    }
    assert!(
        !log.contains('\u{1b}'),
        "no colour codes in a log written to a file"
    );
    let metrics = reqwest::get(format!("{ops}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics
            .lines()
            .any(|l| l == "mezhved_replies_unroutable_total 1"),
        "{metrics}"
    );
    let status = Command::new(env!("CARGO_BIN_EXE_mezhved"))
        .args(["status", "--lang", "en", "--ops", &ops])
        .current_dir(root())
        .envs(setup.env())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&status.stdout);
    assert!(text.contains(&missing), "{text}");
    assert!(!text.contains("BasicReturnMessage"), "{text}");
    assert!(text.len() < 20_000, "status stays one page: {text}");
    drop(d);
    setup.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_daemon_says_another_is_running_and_a_clean_stop_leaves_no_lock_file() {
    if !broker_or_skip("case_system").await {
        return;
    }
    let setup = Setup::new(&prefix("second")).await;
    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    let mut first = setup.spawn(&[("MEZHVED__OPS__LISTEN", &listen)]);

    // The same ops address: said at once, before anything else.
    let started = Instant::now();
    let out = Command::new(env!("CARGO_BIN_EXE_mezhved"))
        .arg("run")
        .current_dir(root())
        .envs(setup.env())
        .env("MEZHVED__OPS__LISTEN", &listen)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert_eq!(out.status.code(), Some(1), "{stdout}{stderr}");
    assert_eq!(
        stderr.trim(),
        format!(
            "mezhved: another mezhved is running: pid {}, ops http://{listen}; stop it first (kill -TERM {}), or give this one another ops.listen",
            first.pid(),
            first.pid()
        )
    );
    assert!(stdout.is_empty(), "nothing before it: {stdout}");
    assert!(started.elapsed() < Duration::from_secs(10));

    // Another address, the same case store: said, and the work is shared.
    let mut second = setup.spawn(&[]);
    assert!(
        second.log_text().contains(&format!(
            "mezhved: another mezhved is running on this case store ({}): pid {}, ops http://{listen}; this one shares the work with it",
            setup.settings.gateway.cases_root.display(),
            first.pid()
        )),
        "{}",
        second.log_text()
    );

    // A clean stop removes each lock file.
    let instances = setup.settings.gateway.cases_root.join(".instances");
    let count = || std::fs::read_dir(&instances).unwrap().count();
    assert_eq!(count(), 2);
    for d in [&mut first, &mut second] {
        d.signal("TERM");
        let status = d.wait_exit(Duration::from_secs(20)).expect("it stops");
        assert!(status.success(), "{}", d.log_text());
    }
    assert_eq!(count(), 0, "no lock file left behind");
    drop((first, second));
    setup.cleanup().await;
}

/// A Python with pika: `MEZHVED_PYTHON`, or the venv `scripts/setup` makes
/// under `target/py` (made here when missing: PyPI is needed once).
fn python_with_pika() -> Option<PathBuf> {
    static MADE: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _once = MADE.lock().unwrap_or_else(|e| e.into_inner());
    let has_pika = |py: &std::path::Path| {
        Command::new(py)
            .args(["-c", "import pika"])
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    if let Some(p) = std::env::var_os("MEZHVED_PYTHON") {
        return Some(PathBuf::from(p));
    }
    let venv = root().join("target/py");
    let py = venv.join("bin/python");
    if !has_pika(&py) {
        let made = Command::new("python3")
            .args(["-m", "venv"])
            .arg(&venv)
            .status()
            .is_ok_and(|s| s.success())
            && Command::new(venv.join("bin/pip"))
                .args(["install", "--quiet", "--disable-pip-version-check", "pika"])
                .status()
                .is_ok_and(|s| s.success());
        if !made || !has_pika(&py) {
            assert!(
                std::env::var("MEZHVED_REQUIRE_AMQP").as_deref() != Ok("1"),
                "no Python with pika (scripts/setup makes target/py) and MEZHVED_REQUIRE_AMQP=1"
            );
            eprintln!("example client test skipped: no Python with pika (scripts/setup)");
            return None;
        }
    }
    Some(py)
}

/// Runs `examples/case_system.py` on a request.
fn example_client(py: &std::path::Path, setup: &Setup, request: &Value) -> (i32, String) {
    let file = setup
        .dir
        .path()
        .join(format!("{}.json", request["request_id"].as_str().unwrap()));
    std::fs::write(&file, request.to_string()).unwrap();
    let out = Command::new(py)
        .arg(root().join("examples/case_system.py"))
        .args([
            "--url",
            &amqp_url(),
            "--prefix",
            &setup.settings.amqp.prefix,
        ])
        .args(["--timeout", "10"])
        .arg(&file)
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code().unwrap_or(-1), text)
}

/// The reply time the client printed (`reply in N ms`).
fn reply_ms(text: &str) -> u64 {
    text.lines()
        .find_map(|l| {
            l.strip_prefix("reply in ")?
                .strip_suffix(" ms")?
                .parse()
                .ok()
        })
        .unwrap_or_else(|| panic!("no reply time in:\n{text}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_example_client_in_python_gets_a_refusal_within_a_second_and_results() {
    if !broker_or_skip("case_system").await {
        return;
    }
    let Some(py) = python_with_pika() else { return };
    let setup = Setup::new(&prefix("pika")).await;
    let d = setup.spawn(&[]);

    let mut bad = request_json(Kind::Egrul, json!({ "inn": "4703123452" }));
    bad["case_id"] = json!("LO-PIKA-1");
    let (code, text) = example_client(&py, &setup, &bad);
    assert_eq!(code, 2, "{text}");
    assert!(
        text.contains("verdict: refused (invalid_check_digit at subject.inn)"),
        "{text}"
    );
    assert!(
        text.contains("Запрос не принят: не сходится контрольная цифра ИНН"),
        "{text}"
    );
    assert!(
        reply_ms(&text) < 1000,
        "the refusal within a second:\n{text}"
    );
    // The dead letter is still there for the operator.
    let letter = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("dead letter "))
        .and_then(|l| l.split_whitespace().next())
        .unwrap()
        .to_owned();
    let out = Command::new(env!("CARGO_BIN_EXE_mezhved"))
        .args(["dlq", "show", &letter, "--json"])
        .current_dir(root())
        .envs(setup.env())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let shown: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(shown["reason"]["code"], "invalid_check_digit");

    let good = request_json(Kind::Egrul, json!({ "ogrn": "1144703001233" }));
    let (code, text) = example_client(&py, &setup, &good);
    assert_eq!(code, 0, "{text}");
    assert!(
        text.contains("verdict: found (egrul, case LO-2026-000123)"),
        "{text}"
    );
    // Published again by a client with a reply queue of its own: the
    // stored result comes there, nothing is sent to SMEV again.
    let (code, again) = example_client(&py, &setup, &good);
    assert_eq!(code, 0, "{again}");
    assert!(again.contains("verdict: found"), "{again}");
    let sent = setup
        .emulator
        .node
        .trace()
        .iter()
        .filter(|t| t.operation == "SendRequest" && t.outcome.starts_with("accepted"))
        .count();
    assert_eq!(sent, 1, "{}", d.log_text());
    drop(d);
    setup.cleanup().await;
}

/// `mezhved ARGS` with the test's configuration.
fn cli(setup: &Setup, args: &[&str]) -> (Option<i32>, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_mezhved"))
        .args(args)
        .current_dir(root())
        .envs(setup.env())
        .stdin(Stdio::null())
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publish_checks_with_the_daemons_validation_and_waits_for_the_verdict() {
    if !broker_or_skip("case_system").await {
        return;
    }
    let setup = Setup::new(&prefix("publish")).await;
    let mut d = setup.spawn(&[]);
    let write = |name: &str, v: &Value| {
        let p = setup.dir.path().join(name);
        std::fs::write(&p, v.to_string()).unwrap();
        p.display().to_string()
    };
    let bad = write(
        "bad.json",
        &request_json(Kind::Egrul, json!({ "inn": "4703123452" })),
    );
    let good = write(
        "good.json",
        &request_json(Kind::Egrul, json!({ "ogrn": "1144703001233" })),
    );

    // Refused by the check: nothing is published, the good file neither.
    let (code, out, err) = cli(&setup, &["publish", &bad, &good]);
    assert_eq!(code, Some(2), "{out}{err}");
    assert!(
        err.contains(&format!(
            "{bad}: refused, not published: invalid_check_digit at subject.inn: ИНН 4703123452 fails its check digit (expected 1)"
        )),
        "{err}"
    );
    assert!(err.contains("nothing published"), "{err}");
    assert!(out.is_empty(), "{out}");
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(cli(&setup, &["dlq", "list", "--json"]).1.trim(), "[]");

    // Sent anyway: the gateway's refusal, waited for.
    let (code, out, err) = cli(&setup, &["publish", "--no-check", "--wait", "20", &bad]);
    assert_eq!(code, Some(2), "{out}{err}");
    assert!(
        out.contains(&format!(
            "{bad}: refused: invalid_check_digit at \"subject.inn\""
        )),
        "{out}"
    );

    // A good one: its verdict.
    let (code, out, err) = cli(&setup, &["publish", "--wait", "20", &good]);
    assert_eq!(code, Some(0), "{out}{err}");
    assert!(
        out.contains(&format!(
            "{good}: found (egrul, case LO-2026-000123); case file /"
        )),
        "{out}"
    );

    // Nobody consuming: no reply in time.
    d.signal("TERM");
    d.wait_exit(Duration::from_secs(20)).expect("it stops");
    let other = write(
        "other.json",
        &request_json(Kind::Egrul, json!({ "ogrn": "1027800004561" })),
    );
    let (code, out, err) = cli(&setup, &["publish", "--wait", "1", &other]);
    assert_eq!(code, Some(3), "{out}{err}");
    assert!(out.contains("no reply within 1 s"), "{out}");
    drop(d);
    setup.cleanup().await;
}
