//! `mezhved load` against a real daemon, RabbitMQ and the emulator: its
//! report counts what really happened, and it says so in its exit code.

mod common;

use std::process::Command;
use std::time::Duration;

use common::daemon::Setup;
use common::harness::{broker_or_skip, prefix};
use serde_json::Value;

fn load(setup: &Setup, args: &[&str]) -> (Option<i32>, Value, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_mezhved"))
        .arg("load")
        .args(args)
        .current_dir(common::root())
        .envs(setup.env())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let report = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}\n{stderr}", String::from_utf8_lossy(&out.stdout)));
    (out.status.code(), report, stderr)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_load_run_reports_every_request_answered_once_and_checks_store_and_smev() {
    if !broker_or_skip("load").await {
        return;
    }
    let setup = Setup::new(&prefix("load")).await;
    let daemon = setup.spawn(&[]);
    let emulator = setup.settings.smev.endpoint.clone();
    let (code, r, stderr) = load(
        &setup,
        &[
            "--count",
            "40",
            "--rate",
            "200",
            "--kinds",
            "all",
            "--json",
            "--linger",
            "0.5",
            "--check-store",
            "--emulator",
            &emulator,
        ],
    );
    assert_eq!(code, Some(0), "{r}\n{stderr}\n{}", daemon.log_text());
    assert_eq!(r["ok"], true);
    assert_eq!(
        (r["published"].as_u64(), r["replied"].as_u64()),
        (Some(40), Some(40))
    );
    assert_eq!(r["lost"], 0);
    assert_eq!(r["repeated_replies"], 0);
    assert_eq!(r["store"]["checked"], 40);
    assert_eq!(r["store"]["duplicated"], 0);
    assert_eq!(r["smev"]["missing"], 0);
    let verdicts: u64 = r["verdicts"]
        .as_object()
        .unwrap()
        .values()
        .map(|v| v.as_u64().unwrap())
        .sum();
    assert_eq!(verdicts, 40, "{}", r["verdicts"]);
    let lat = &r["latency"];
    assert!(lat["p50_ms"].as_f64().unwrap() <= lat["p99_ms"].as_f64().unwrap());
    assert!(lat["p99_ms"].as_f64().unwrap() <= lat["max_ms"].as_f64().unwrap());
    assert!(
        stderr.contains(
            "40 requests (egrul,egrip,tax_debt,unreliable_supplier,foreign_agent) at 200/s"
        ),
        "{stderr}"
    );

    // With the daemon gone nothing is answered: the run says so and fails.
    drop(daemon);
    let (code, r, _) = load(
        &setup,
        &[
            "--count",
            "5",
            "--json",
            "--idle-timeout",
            "1",
            "--linger",
            "0",
        ],
    );
    assert_eq!(code, Some(1));
    assert_eq!(r["ok"], false);
    assert_eq!(r["lost"], 5);
    tokio::time::sleep(Duration::from_millis(10)).await;
    setup.cleanup().await;
}

#[test]
fn bad_arguments_are_refused_with_the_reason() {
    let out = Command::new(env!("CARGO_BIN_EXE_mezhved"))
        .args(["load", "--kinds", "egrul,passport"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown kind \"passport\""));
    let out = Command::new(env!("CARGO_BIN_EXE_mezhved"))
        .args(["load", "--rate=-3"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--rate"));
}
