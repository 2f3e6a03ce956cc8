//! Large attachments through the whole pipeline, for BENCHMARKS.md: a
//! `mezhved run` process per case (RabbitMQ, the emulator over HTTP, its
//! FTP file store), one request each, and the daemon's peak resident
//! memory (`VmHWM`) after it. Receiving: a `КодОбр` 54 answer whose ZIP
//! also holds a stored `scan.pdf` of the case's size, over MTOM or FTP.
//! Sending: a request with an inbox file of that size, signed by the
//! official's key, inline as MTOM up to the MTOM limit, else through the
//! file store; and once more inline with the MTOM limit raised to 16 MB
//! (the emulator takes request bodies up to 16 MiB). Only that each request completed is asserted; the figures
//! are printed as `BENCH:` lines.
//!
//! `cargo test --test attachments_bench -- --ignored --nocapture`

mod common;

use std::time::{Duration, Instant};

use common::daemon::Setup;
use common::harness::{Client, broker_or_skip, prefix};
use common::*;
use mezhved::request::Kind;
use mezhved::xmldsig::{SignatureAlgorithm, SigningKey};
use serde_json::{Value, json};

const MB: u64 = 1_000_000;
const RECEIVE_INN: &str = "7805332234";
const SEND_INN: &str = "4703123451";

enum Case {
    Plain,
    Receive(&'static str, u64),
    Send(u64),
    /// Sent inline with the MTOM limit raised above the file's size.
    SendMtom(u64),
}

impl Case {
    fn label(&self) -> String {
        match self {
            Case::Plain => "no attachment".into(),
            Case::Receive(t, n) => format!("receive {} MB over {t}", n / MB),
            Case::Send(n) => format!("send {} MB", n / MB),
            Case::SendMtom(n) => format!("send {} MB over mtom, limit raised", n / MB),
        }
    }

    fn bytes(&self) -> u64 {
        match self {
            Case::Plain => 0,
            Case::Receive(_, n) | Case::Send(n) | Case::SendMtom(n) => *n,
        }
    }
}

async fn put_scenario(setup: &Setup, s: Value) {
    let url = format!(
        "http://{}/control/scenarios/{}/{RECEIVE_INN}",
        setup.emulator.addr,
        Kind::Egrul
    );
    let resp = reqwest::Client::new()
        .put(&url)
        .header("content-type", "application/json")
        .body(s.to_string())
        .send()
        .await
        .unwrap();
    assert!(resp.status().is_success(), "PUT {url}: {}", resp.status());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "a benchmark: run with --ignored --nocapture"]
async fn large_attachments_keep_the_daemons_memory_flat() {
    if !broker_or_skip("attachments_bench").await {
        return;
    }
    let setup = Setup::new(&prefix("attachbench")).await;
    let dir = setup.dir.path().to_path_buf();
    let official = SigningKey::generate(SignatureAlgorithm::Gost2012_256, "Official", 1).unwrap();
    let (key, cert) = (dir.join("official.key"), dir.join("official.pem"));
    official.save(&key, &cert).unwrap();
    let inbox = dir.join("inbox");
    std::fs::create_dir_all(inbox.join("LO-B")).unwrap();
    for n in [5 * MB, 15 * MB, 50 * MB] {
        let data: Vec<u8> = (0..n).map(|i| (i * 13 % 251) as u8).collect();
        std::fs::write(inbox.join(format!("LO-B/scan-{}.pdf", n / MB)), data).unwrap();
    }
    let store = setup.emulator.file_store_addr();
    let env: Vec<(&str, String)> = vec![
        ("MEZHVED__ATTACHMENTS__FILE_STORE", store),
        (
            "MEZHVED__ATTACHMENTS__FILE_STORE_USER",
            setup.settings.emulator.file_store_user.clone(),
        ),
        (
            "MEZHVED__ATTACHMENTS__FILE_STORE_PASSWORD",
            setup.settings.emulator.file_store_password.clone(),
        ),
        ("MEZHVED__GATEWAY__INBOX_DIR", inbox.display().to_string()),
        ("MEZHVED__SIGNING__PERSONAL_KEY", key.display().to_string()),
        (
            "MEZHVED__SIGNING__PERSONAL_CERTIFICATE",
            cert.display().to_string(),
        ),
        ("MEZHVED__SMEV__TIMEOUT_SECS", "120".into()),
    ];
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let limit = setup.settings.attachments.mtom_limit_bytes;
    println!("BENCH: mtom_limit_bytes={limit}");

    let cases = [
        Case::Plain,
        Case::Receive("mtom", 5 * MB),
        Case::Receive("mtom", 50 * MB),
        Case::Receive("ftp", 50 * MB),
        Case::Send(5 * MB),
        Case::Send(50 * MB),
        Case::SendMtom(15 * MB),
    ];
    let client = Client::connect().await;
    for case in &cases {
        let (inn, attachments) = match case {
            Case::Plain => {
                put_scenario(&setup, json!({})).await;
                (RECEIVE_INN, None)
            }
            Case::Receive(transfer, n) => {
                put_scenario(
                    &setup,
                    json!({ "attachment": transfer, "attachment_padding_bytes": n }),
                )
                .await;
                (RECEIVE_INN, None)
            }
            Case::Send(n) | Case::SendMtom(n) => (
                SEND_INN,
                Some(json!([{
                    "name": "scan.pdf",
                    "mime_type": "application/pdf",
                    "path": format!("LO-B/scan-{}.pdf", n / MB),
                }])),
            ),
        };
        let raised = (16 * MB).to_string();
        let mut env = env.clone();
        if let Case::SendMtom(_) = case {
            env.push(("MEZHVED__ATTACHMENTS__MTOM_LIMIT_BYTES", raised.as_str()));
        }
        let mut daemon = setup.spawn(&env);
        let before = daemon.peak_rss_kib();
        let reply_q = client.reply_queue().await;
        let mut msg = request_json(Kind::Egrul, json!({ "inn": inn }));
        if let Some(a) = attachments {
            msg["attachments"] = a;
        }
        let started = Instant::now();
        client
            .publish(
                &setup.settings.amqp.queue_requests(),
                msg.to_string().as_bytes(),
                Some(&reply_q),
                None,
            )
            .await;
        let replies = client.take(&reply_q, 1, Duration::from_secs(300)).await;
        let seconds = started.elapsed().as_secs_f64();
        let peak = daemon.peak_rss_kib();
        assert_eq!(replies.len(), 1, "{}: no reply", case.label());
        let r = &replies[0].body;
        assert_eq!(r["verdict"], json!("found"), "{}: {r}", case.label());
        if let Case::Receive(..) = case {
            let sizes: Vec<u64> = r["attachments"]
                .as_array()
                .unwrap()
                .iter()
                .filter_map(|a| a["size"].as_u64())
                .collect();
            assert!(sizes.contains(&case.bytes()), "{}: {r}", case.label());
        }
        let throughput = case.bytes() as f64 / MB as f64 / seconds;
        println!(
            "BENCH: {} peak_rss_kib={peak} ready_rss_kib={before} seconds={seconds:.2} throughput_mb_s={throughput:.1}",
            case.label()
        );
        daemon.signal("TERM");
        daemon.wait_exit(Duration::from_secs(20));
    }
    {
        let url = format!("http://{}/control/attachments", setup.emulator.addr);
        let text = reqwest::get(&url).await.unwrap().text().await.unwrap();
        let got: Value = serde_json::from_str(&text).unwrap();
        let got = got.as_array().unwrap();
        for a in got {
            assert_eq!(a["content_matches"], true, "{a}");
        }
        println!(
            "BENCH: the emulator received {}",
            got.iter()
                .map(|a| format!("{} bytes by {}", a["size"], a["transfer"]))
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    setup.cleanup().await;
}
