//! The README's first command and the tester's listing, run as a user runs
//! them: the real binary.

mod common;
use common::harness;

use std::process::Command;

use common::*;

fn mezhved() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_mezhved"));
    c.current_dir(root());
    c
}

fn assert_demo_output(out: &std::process::Output) {
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "demo failed:\n{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.contains("All 17 requests reached a final state."),
        "{text}"
    );
    assert!(
        !text.contains("differs"),
        "a verdict differs from the fixture data:\n{text}"
    );
    for verdict in [
        "found",
        "not_found",
        "has_debt",
        "no_debt",
        "unknown",
        "listed",
        "not_listed",
        "rejected",
        "refused",
    ] {
        assert!(text.contains(verdict), "no {verdict} in:\n{text}");
    }
}

#[test]
fn demo_over_the_spool_directory() {
    let out_dir = tempfile::tempdir().unwrap();
    let out = mezhved()
        .args(["demo", "--spool", "--out"])
        .arg(out_dir.path())
        .output()
        .unwrap();
    assert_demo_output(&out);
    assert!(String::from_utf8_lossy(&out.stdout).contains("transport:  spool directory"));
    // Case files for the 13 valid requests, none for the 4 refused.
    let results = walk(out_dir.path(), "result.json");
    assert_eq!(results, 13);
}

#[test]
fn demo_without_the_gost_engine_signs_for_development_and_says_how_to_switch() {
    let engines = tempfile::tempdir().unwrap();
    let out_dir = tempfile::tempdir().unwrap();
    let out = mezhved()
        .args(["demo", "--spool", "--out"])
        .arg(out_dir.path())
        // An empty engines directory: OpenSSL finds no gost engine.
        .env("OPENSSL_ENGINES", engines.path())
        .output()
        .unwrap();
    assert_demo_output(&out);
    let text = String::from_utf8_lossy(&out.stdout);
    let hints: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("apt-get install libengine-gost-openssl"))
        .collect();
    assert_eq!(
        hints.len(),
        1,
        "exactly one line on how to switch GOST on:\n{text}"
    );
    assert!(
        text.contains("signs with rsa-sha256 (development only, not accepted by SMEV)"),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn demo_over_rabbitmq() {
    if !harness::broker_or_skip("demo_over_rabbitmq").await {
        return;
    }
    let out_dir = tempfile::tempdir().unwrap();
    let out = mezhved()
        .args(["demo", "--out"])
        .arg(out_dir.path())
        .env("MEZHVED__AMQP__URL", harness::amqp_url())
        .output()
        .unwrap();
    assert_demo_output(&out);
    assert!(String::from_utf8_lossy(&out.stdout).contains("transport:  RabbitMQ"));
}

#[test]
fn fixtures_list_json_names_every_subject_with_its_verdict() {
    let out = mezhved()
        .args(["fixtures", "list", "--json"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let list: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).unwrap();
    assert!(list.len() >= 20);
    for s in &list {
        assert!(s["kind"].is_string() && s["key"].is_string() && s["expect"].is_string());
        assert!(!s["identifiers"].as_array().unwrap().is_empty());
    }
}

#[test]
fn a_bad_configuration_exits_with_a_clear_message() {
    let out = mezhved()
        .args(["fixtures", "list"])
        .env("MEZHVED__SMEV__VERSION", "9.9")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(78));
    assert!(String::from_utf8_lossy(&out.stderr).contains("smev.version"));
}

fn walk(dir: &std::path::Path, name: &str) -> usize {
    let mut n = 0;
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            n += walk(&p, name);
        } else if p.file_name().is_some_and(|f| f == name) {
            n += 1;
        }
    }
    n
}
