//! mezhved's adapter interface driven by a client nobody here wrote: the
//! published `adapter-client` 3.1.0 from PyPI, unchanged, in a virtual
//! environment (`scripts/adapter-venv`), through `tests/adapter/`'s script,
//! against `mezhved run` and the emulator. The same interface on two
//! daemons sharing the PostgreSQL store, with raw SOAP.
//!
//! Needs RabbitMQ (the daemon) and Python with PyPI reachable (or the venv
//! already made); skipped without them unless `MEZHVED_REQUIRE_AMQP=1`.

mod common;

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use common::daemon::{Daemon, Setup};
use common::harness::{broker_or_skip, prefix};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const MNEMONIC: &str = "MNSV03";
const ZAGS_NS: &str = "urn://x-artefacts-zags-rogdinf/root/112-51/4.0.1";
const EGRUL_NS: &str = "urn://x-artefacts-fns-vipul-tosmv-ru/311-14/4.0.6";

fn required() -> bool {
    std::env::var("MEZHVED_REQUIRE_AMQP").as_deref() == Ok("1")
}

/// The venv's Python with adapter-client 3.1.0, made if missing.
fn client_python() -> Option<PathBuf> {
    let venv = common::root().join("target/adapter-venv");
    if !venv.join(".adapter-client-3.1.0").exists() {
        let made = Command::new(common::root().join("scripts/adapter-venv"))
            .status()
            .is_ok_and(|s| s.success());
        if !made {
            assert!(
                !required(),
                "adapter-client 3.1.0 cannot be installed (scripts/adapter-venv) and MEZHVED_REQUIRE_AMQP=1"
            );
            eprintln!("adapter_client: skipped, adapter-client 3.1.0 cannot be installed");
            return None;
        }
    }
    Some(venv.join("bin/python"))
}

/// Runs the client script; its JSON result.
fn run_client(python: &PathBuf, mode: &str, url: &str) -> Value {
    let out = Command::new(python)
        .arg(common::root().join("tests/adapter/adapter_client_check.py"))
        .args([mode, url, MNEMONIC])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "adapter-client ({mode}) failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&out.stdout)))
}

/// The daemon's adapter URL (from its start-up line), with the path the
/// official adapter's clients are configured with.
fn adapter_url(d: &Daemon) -> String {
    let log = d.log_text();
    let line = log
        .lines()
        .find(|l| l.contains("mezhved: adapter interface on "))
        .unwrap_or_else(|| panic!("no adapter interface line:\n{log}"));
    let base = line
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .unwrap();
    format!("{base}/transport_1_0_1/")
}

fn adapter_env() -> Vec<(&'static str, &'static str)> {
    vec![
        ("MEZHVED__ADAPTER__LISTEN", "127.0.0.1:0"),
        ("MEZHVED__ADAPTER__IT_SYSTEMS", "MNSV03,OTHER01"),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn adapter_client_gets_answers_for_egrul_and_for_a_vs_mezhved_does_not_know() {
    if !broker_or_skip("adapter_client").await {
        return;
    }
    let Some(python) = client_python() else {
        return;
    };
    let setup = Setup::new(&prefix("adapter")).await;
    let d = setup.spawn(&adapter_env());
    let url = adapter_url(&d);
    let r = tokio::task::spawn_blocking({
        let (python, url) = (python.clone(), url.clone());
        move || run_client(&python, "exchange", &url)
    })
    .await
    .unwrap();

    let egrul = &r["egrul"]["answer"];
    assert_eq!(egrul["message_type"], EGRUL_NS, "{r}");
    let body = egrul["body"].as_str().unwrap();
    assert!(
        body.contains("FNSVipULResponse") && body.contains("1144703001233"),
        "{body}"
    );
    let zags = &r["zags"]["answer"];
    assert_eq!(zags["message_type"], ZAGS_NS, "{r}");
    assert!(zags["body"].as_str().unwrap().contains("СМИРНОВА"), "{r}");
    // A VS nobody answers: NO_DATA, as business XML the client can read.
    let nobody = &r["nobody"]["answer"];
    assert_eq!(nobody["message_type"], "urn://mezhved/adapter/1.0", "{r}");
    let outcome = nobody["body"].as_str().unwrap();
    assert!(
        outcome.contains("NO_DATA") && outcome.contains("rejected"),
        "{outcome}"
    );
    for name in ["egrul", "zags", "nobody"] {
        let (sent, answer) = (&r[name], &r[name]["answer"]);
        assert_eq!(answer["reply_to_client_id"], sent["client_id"], "{name}");
        assert_ne!(
            answer["client_id"], sent["client_id"],
            "{name}: the answer's clientId is new"
        );
        assert_ne!(
            answer["message_id"], sent["message_id"],
            "{name}: and its MessageId"
        );
    }
    assert_eq!(r["get_empty"], true);

    // One SMEV request each, one result each, in the case store.
    let accepted = setup.emulator.node.accepted();
    assert_eq!(accepted.len(), 3, "{accepted:?}");
    assert!(accepted.values().all(|n| *n == 1), "{accepted:?}");
    let results = setup.results_per_request();
    assert_eq!(results.len(), 3, "{results:?}");
    assert!(results.values().all(|n| *n == 1), "{results:?}");

    // mezhved's own WSDL works for a client that reads it from the server.
    let w = tokio::task::spawn_blocking({
        let (python, url) = (python.clone(), url.clone());
        move || run_client(&python, "wsdl", &url)
    })
    .await
    .unwrap();
    assert_eq!(
        w["operations"],
        serde_json::json!(["Find", "Get", "Send"]),
        "{w}"
    );

    // The intake shows like any other: metrics and mezhved status.
    let m = reqwest::get(format!("{}/metrics", d.ops_url()))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let line = |name: &str| {
        m.lines()
            .find(|l| l.starts_with(name))
            .unwrap_or_else(|| panic!("no {name} in:\n{m}"))
            .to_owned()
    };
    assert!(
        line("mezhved_adapter_calls_total{operation=\"Send\",outcome=\"ok\"}").ends_with(" 3"),
        "{m}"
    );
    assert!(
        line("mezhved_requests_accepted_total{kind=\"vs\"}").ends_with(" 3"),
        "{m}"
    );
    let status = Command::new(env!("CARGO_BIN_EXE_mezhved"))
        .args(["status", "--json", "--ops", &d.ops_url()])
        .current_dir(common::root())
        .envs(setup.env())
        .output()
        .unwrap();
    let s: Value = serde_json::from_slice(&status.stdout).unwrap();
    assert_eq!(s["store"]["pending"], 0, "{s}");
    let fallbacks = s["store"]["fallbacks_last_hour"].as_array().unwrap();
    assert!(
        fallbacks
            .iter()
            .any(|f| f["kind"] == "vs" && f["reason"].as_str().unwrap().contains("NO_DATA")),
        "the NO_DATA answer is listed for the officer: {s}"
    );
    drop(d);
    setup.cleanup().await;
}

/// A proxy between the client and mezhved that forwards each call, and
/// for the first `Send` reads mezhved's whole answer and then drops the
/// client's connection instead of passing it on.
async fn dropping_proxy(upstream: std::net::SocketAddr) -> std::net::SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let dropped = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    tokio::spawn(async move {
        loop {
            let Ok((mut client, _)) = listener.accept().await else {
                return;
            };
            let dropped = dropped.clone();
            tokio::spawn(async move {
                let Some(request) = read_http(&mut client).await else {
                    return;
                };
                let mut server = tokio::net::TcpStream::connect(upstream).await.unwrap();
                server.write_all(&request).await.unwrap();
                let Some(response) = read_http(&mut server).await else {
                    return;
                };
                let is_send = String::from_utf8_lossy(&request).contains("urn:Send");
                if is_send && !dropped.swap(true, std::sync::atomic::Ordering::SeqCst) {
                    return; // the connection drops: no answer reaches the client
                }
                // One call per connection: the client must not reuse it.
                let text = String::from_utf8_lossy(&response);
                let with_close = text.replacen("\r\n", "\r\nconnection: close\r\n", 1);
                let _ = client.write_all(with_close.as_bytes()).await;
            });
        }
    });
    addr
}

/// One HTTP message (headers and a Content-Length body).
async fn read_http(s: &mut tokio::net::TcpStream) -> Option<Vec<u8>> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).to_lowercase();
            let len: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .map(|v| v.trim().parse().unwrap())
                .unwrap_or(0);
            while buf.len() < end + 4 + len {
                let n = s.read(&mut chunk).await.ok()?;
                if n == 0 {
                    return None;
                }
                buf.extend_from_slice(&chunk[..n]);
            }
            return Some(buf);
        }
        let n = s.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_send_repeated_after_a_dropped_connection_is_one_smev_request_and_one_answer() {
    if !broker_or_skip("adapter_client").await {
        return;
    }
    let Some(python) = client_python() else {
        return;
    };
    let setup = Setup::new(&prefix("adapter-drop")).await;
    let d = setup.spawn(&adapter_env());
    let url = adapter_url(&d);
    let upstream: std::net::SocketAddr = url
        .trim_start_matches("http://")
        .split('/')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    let proxy = dropping_proxy(upstream).await;
    let r = tokio::task::spawn_blocking(move || {
        run_client(
            &python,
            "resend",
            &format!("http://{proxy}/transport_1_0_1/"),
        )
    })
    .await
    .unwrap();
    // The client saw the connection drop and retried with the same clientId.
    assert_eq!(r["first_status"], "retry", "{r}");
    assert_eq!(r["attempts"], 2, "{r}");
    assert!(
        r["answer"]["body"].as_str().unwrap().contains("СМИРНОВА"),
        "{r}"
    );
    // One SMEV request, one answer.
    let accepted = setup.emulator.node.accepted();
    assert_eq!(accepted.len(), 1, "{accepted:?}");
    assert_eq!(
        accepted.values().copied().collect::<Vec<_>>(),
        vec![1],
        "{accepted:?}"
    );
    let sends = setup
        .emulator
        .node
        .trace()
        .into_iter()
        .filter(|t| t.operation == "SendRequest")
        .count();
    assert_eq!(sends, 1, "one SendRequest reached SMEV");
    let results = setup.results_per_request();
    assert_eq!(
        results.values().copied().collect::<Vec<_>>(),
        vec![1],
        "{results:?}"
    );
    assert!(
        d.log_text().contains("request id seen before"),
        "the repetition was recognised:\n{}",
        d.log_text()
    );
    drop(d);
    setup.cleanup().await;
}

// ---------- two daemons on the PostgreSQL store ----------

fn postgres_url() -> String {
    std::env::var("MEZHVED_TEST_POSTGRES")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test?sslmode=disable".into())
}

/// Runs `sql` on the test database (on a thread of its own: the client
/// runs a runtime of its own); the first column of each row as text.
fn sql(sql: String) -> Result<Vec<String>, String> {
    std::thread::spawn(move || {
        let mut c = postgres::Client::connect(&postgres_url(), postgres::NoTls)
            .map_err(|e| e.to_string())?;
        let rows = c.simple_query(&sql).map_err(|e| e.to_string())?;
        Ok(rows
            .into_iter()
            .filter_map(|m| match m {
                postgres::SimpleQueryMessage::Row(r) => r.get(0).map(str::to_owned),
                _ => None,
            })
            .collect())
    })
    .join()
    .unwrap()
}

fn postgres() -> Option<()> {
    match sql("SELECT 1".into()) {
        Ok(_) => Some(()),
        Err(e) => {
            assert!(
                std::env::var("MEZHVED_REQUIRE_POSTGRES").as_deref() != Ok("1"),
                "PostgreSQL is required (MEZHVED_REQUIRE_POSTGRES=1): {e}"
            );
            eprintln!("adapter_client: skipped, no PostgreSQL: {e}");
            None
        }
    }
}

fn client_message(client_id: &str) -> String {
    format!(
        r#"<?xml version='1.0' encoding='utf-8'?>
<soap-env:Envelope xmlns:soap-env="http://schemas.xmlsoap.org/soap/envelope/"><soap-env:Body><ns0:ClientMessage xmlns:ns0="urn://x-artefacts-smev-gov-ru/services/service-adapter/types"><ns0:itSystem>{MNEMONIC}</ns0:itSystem><ns0:RequestMessage><ns0:RequestMetadata><ns0:clientId>{client_id}</ns0:clientId><ns0:testMessage>true</ns0:testMessage></ns0:RequestMetadata><ns0:RequestContent><ns0:content><ns0:MessagePrimaryContent><r:Req xmlns:r="{ZAGS_NS}"><r:snils>12345678964</r:snils></r:Req></ns0:MessagePrimaryContent></ns0:content></ns0:RequestContent></ns0:RequestMessage></ns0:ClientMessage></soap-env:Body></soap-env:Envelope>"#
    )
}

fn find_message(client_id: &str) -> String {
    format!(
        r#"<soap-env:Envelope xmlns:soap-env="http://schemas.xmlsoap.org/soap/envelope/"><soap-env:Body><ns0:FindMessageQuery xmlns:ns0="urn://x-artefacts-smev-gov-ru/services/service-adapter/types"><ns0:itSystem>{MNEMONIC}</ns0:itSystem><ns0:specificQuery><ns0:messageClientIdCriteria><ns0:clientId>{client_id}</ns0:clientId><ns0:clientIdCriteria>GET_RESPONSE_BY_REQUEST_CLIENTID</ns0:clientIdCriteria></ns0:messageClientIdCriteria></ns0:specificQuery></ns0:FindMessageQuery></soap-env:Body></soap-env:Envelope>"#
    )
}

async fn soap(url: &str, action: &str, body: String) -> (u16, String) {
    let r = reqwest::Client::new()
        .post(url)
        .header("Content-Type", "text/xml; charset=utf-8")
        .header("SOAPAction", format!("\"{action}\""))
        .body(body)
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_daemons_on_postgresql_take_one_client_id_once() {
    if !broker_or_skip("adapter_client").await {
        return;
    }
    let Some(()) = postgres() else { return };
    let schema = format!("t_{}", &uuid::Uuid::new_v4().simple().to_string()[..12]);
    let setup = Setup::new(&prefix("adapter-pg")).await;
    let url = postgres_url();
    let mut env = adapter_env();
    env.extend([
        ("MEZHVED__STORE__BACKEND", "postgres"),
        ("MEZHVED__STORE__POSTGRES_URL", url.as_str()),
        ("MEZHVED__STORE__POSTGRES_SCHEMA", schema.as_str()),
    ]);
    let a = setup.spawn(&env);
    let b = setup.spawn(&env);
    let (url_a, url_b) = (adapter_url(&a), adapter_url(&b));
    assert_ne!(url_a, url_b);

    // The same clientId to both daemons at once (a load balancer retrying
    // on the other node): one request, one MessageId.
    let cid = uuid::Uuid::new_v4().to_string();
    let (ra, rb) = tokio::join!(
        soap(&url_a, "urn:Send", client_message(&cid)),
        soap(&url_b, "urn:Send", client_message(&cid)),
    );
    assert_eq!(ra.0, 200, "{}", ra.1);
    assert_eq!(rb.0, 200, "{}", rb.1);
    let message_id = |s: &str| {
        let doc = mezhved::xml::parse(s.as_bytes()).unwrap();
        doc.descendants(doc.root())
            .into_iter()
            .find(|n| doc.element(*n).local == "MessageId")
            .map(|n| doc.text(n))
            .unwrap()
    };
    assert_eq!(
        message_id(&ra.1),
        message_id(&rb.1),
        "one MessageId for one clientId"
    );

    // Either daemon finds the answer, whichever took it from SMEV.
    let start = Instant::now();
    for url in [&url_a, &url_b] {
        loop {
            let (status, body) = soap(url, "urn:Find", find_message(&cid)).await;
            assert_eq!(status, 200, "{body}");
            if body.contains("PrimaryMessage") {
                assert!(body.contains("СМИРНОВА"), "{body}");
                assert!(body.contains("ResponseMessageType"), "{body}");
                break;
            }
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "no answer: {body}"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    let accepted = setup.emulator.node.accepted();
    assert_eq!(
        accepted.values().copied().collect::<Vec<_>>(),
        vec![1],
        "{accepted:?}"
    );
    let completed = sql(format!(
        "SELECT count(*) FROM {schema}.requests WHERE state = 'completed'"
    ))
    .unwrap();
    assert_eq!(completed, vec!["1"]);
    drop(a);
    drop(b);
    let _ = sql(format!("DROP SCHEMA IF EXISTS {schema} CASCADE"));
    setup.cleanup().await;
}
