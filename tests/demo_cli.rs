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

/// What a repeated run must not print: the broker client's dumps of
/// returned messages (bodies as decimal bytes).
fn assert_no_raw_bytes(out: &std::process::Output) {
    for text in [&out.stdout, &out.stderr] {
        let text = String::from_utf8_lossy(text);
        assert!(
            !text.contains("BasicReturnMessage") && !text.contains("NO_ROUTE"),
            "raw dumps in the output:\n{text}"
        );
        assert!(
            text.len() < 10_000,
            "{} bytes of output:\n{text}",
            text.len()
        );
    }
}

#[test]
fn the_demo_runs_again_into_the_same_directory_over_the_spool() {
    let out_dir = tempfile::tempdir().unwrap();
    for run in 1..=2 {
        let out = mezhved()
            .args(["demo", "--spool", "--out"])
            .arg(out_dir.path())
            .output()
            .unwrap();
        assert_demo_output(&out);
        assert_no_raw_bytes(&out);
        let text = String::from_utf8_lossy(&out.stdout);
        let said = if run == 1 {
            "(new)"
        } else {
            "(a clean one: the previous demo run's case files were removed)"
        };
        assert!(
            text.lines()
                .any(|l| l.starts_with("  case store: files in ") && l.ends_with(said)),
            "run {run}:\n{text}"
        );
        assert_eq!(walk(out_dir.path(), "result.json"), 13, "run {run}");
    }
    // Nothing is left registered: the next run, or a daemon, starts clean.
    let instances = out_dir.path().join("cases/.instances");
    assert_eq!(std::fs::read_dir(instances).unwrap().count(), 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_demo_runs_again_into_the_same_directory_over_rabbitmq() {
    if !harness::broker_or_skip("demo_again_over_rabbitmq").await {
        return;
    }
    let out_dir = tempfile::tempdir().unwrap();
    for run in 1..=2 {
        let out = mezhved()
            .args(["demo", "--out"])
            .arg(out_dir.path())
            .env("MEZHVED__AMQP__URL", harness::amqp_url())
            .output()
            .unwrap();
        assert_demo_output(&out);
        assert_no_raw_bytes(&out);
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(text.contains("transport:  RabbitMQ"), "run {run}:\n{text}");
        assert!(
            text.contains("refused reply, dead letter"),
            "the refused samples are answered:\n{text}"
        );
    }
}

#[test]
fn the_demo_leaves_a_directory_that_is_not_its_own_alone() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("thesis.odt"), "mine").unwrap();
    let out = mezhved()
        .args(["demo", "--spool", "--out"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("is not a demo directory"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(dir.path().join("thesis.odt").exists());
}

/// Log lines are coloured on a terminal only, and not even there with
/// `NO_COLOR` set; the demo's logs (`RUST_LOG=info`) on a terminal made by
/// `script`, and without one.
#[test]
fn logs_have_colours_only_on_a_terminal_and_never_with_no_color() {
    let has_script = Command::new("script")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    let cases: &[(bool, Option<&str>, bool)] = &[
        // (on a terminal, NO_COLOR, colours expected)
        (true, None, true),
        (true, Some("1"), false),
        (false, None, false),
    ];
    for &(tty, no_color, colours) in cases {
        if tty && !has_script {
            eprintln!("no `script` (util-linux) to make a terminal: that case skipped");
            continue;
        }
        let out_dir = tempfile::tempdir().unwrap();
        let mut cmd = if tty {
            let mut c = Command::new("script");
            c.args(["-qec"])
                .arg(format!(
                    "{} demo --spool --out {}",
                    env!("CARGO_BIN_EXE_mezhved"),
                    out_dir.path().display()
                ))
                .arg("/dev/null")
                .current_dir(root());
            c
        } else {
            let mut c = mezhved();
            c.args(["demo", "--spool", "--out"]).arg(out_dir.path());
            c
        };
        cmd.env("RUST_LOG", "info");
        match no_color {
            Some(v) => cmd.env("NO_COLOR", v),
            None => cmd.env_remove("NO_COLOR"),
        };
        let out = cmd.output().unwrap();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(text.contains("gateway ready"), "{text}");
        assert_eq!(
            text.contains("\u{1b}["),
            colours,
            "terminal {tty}, NO_COLOR {no_color:?}:\n{text}"
        );
    }
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
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        err.trim(),
        "mezhved: configuration: smev.version \"9.9\" is not 1.1, 1.2 or 1.3 (smev.version is set by the environment variable MEZHVED__SMEV__VERSION)",
        "said once, with where it was set"
    );
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
