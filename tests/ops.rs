//! What operators see, against `mezhved run` as a process: readiness that
//! turns red with the named reason and green again, metrics a Prometheus
//! parser reads and that agree with the case store, the dashboard in a real
//! browser, dead letters found and replayed, the token, logs, status and
//! check-config.

mod common;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::daemon::Setup;
use common::harness::{Client, broker_or_skip, fresh_inn, prefix};
use common::*;
use mezhved::request::Kind;
use serde_json::{Value, json};

const WAIT: Duration = Duration::from_secs(30);

async fn http(method: &str, url: &str, token: Option<&str>, body: Option<&str>) -> (u16, String) {
    let client = reqwest::Client::new();
    let mut req = client.request(method.parse().unwrap(), url);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    if let Some(b) = body {
        req = req.body(b.to_owned());
    }
    match req.send().await {
        Ok(r) => {
            let status = r.status().as_u16();
            (status, r.text().await.unwrap_or_default())
        }
        Err(e) => (0, e.to_string()),
    }
}

/// Polls `/readyz` until it says `ready`; when not ready is wanted, until
/// the check `name` fails. Returns the body, or panics with the last one.
async fn wait_ready(base: &str, ready: bool, name: &str, limit: Duration) -> Value {
    let start = Instant::now();
    let mut last = String::new();
    while start.elapsed() < limit {
        let (status, body) = http("GET", &format!("{base}/readyz"), None, None).await;
        last = format!("HTTP {status}: {body}");
        if let Ok(v) = serde_json::from_str::<Value>(&body) {
            let check = v["checks"]
                .as_array()
                .and_then(|c| c.iter().find(|c| c["name"] == name).cloned());
            let matches = if ready {
                status == 200 && v["ready"] == true
            } else {
                status == 503 && check.as_ref().is_some_and(|c| c["ok"] == false)
            };
            if matches {
                return v;
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("/readyz did not become ready={ready} ({name}) within {limit:?}; last: {last}");
}

fn failing(v: &Value, name: &str) -> String {
    v["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == name)
        .map(|c| c["detail"].as_str().unwrap().to_owned())
        .unwrap()
}

fn rabbitmqctl(args: &[&str]) {
    let ok = Command::new("rabbitmqctl")
        .args(args)
        .stdout(Stdio::null())
        .status()
        .expect("rabbitmqctl comes with rabbitmq-server")
        .success();
    assert!(ok, "rabbitmqctl {args:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readiness_turns_red_when_the_broker_goes_and_green_when_it_returns() {
    if !broker_or_skip("ops").await {
        return;
    }
    // The daemon's own vhost, so that taking the broker away from it
    // leaves the other tests' broker alone.
    let vhost = format!("mezhved-ready-{}", std::process::id());
    rabbitmqctl(&["add_vhost", &vhost]);
    rabbitmqctl(&["set_permissions", "-p", &vhost, "guest", ".*", ".*", ".*"]);
    let url = format!("amqp://guest:guest@127.0.0.1:5672/{vhost}");
    let setup = Setup::new(&prefix("ready-broker")).await;
    let d = setup.spawn(&[("MEZHVED__AMQP__URL", &url)]);
    let base = d.ops_url();
    let v = wait_ready(&base, true, "broker", WAIT).await;
    assert!(failing(&v, "broker").contains("consuming"), "{v}");

    rabbitmqctl(&["delete_vhost", &vhost]);
    let red = wait_ready(&base, false, "broker", Duration::from_secs(10)).await;
    let why = failing(&red, "broker");
    assert!(
        why.contains("RabbitMQ"),
        "the reason names the broker: {why}"
    );

    rabbitmqctl(&["add_vhost", &vhost]);
    rabbitmqctl(&["set_permissions", "-p", &vhost, "guest", ".*", ".*", ".*"]);
    wait_ready(&base, true, "broker", WAIT).await;
    drop(d);
    rabbitmqctl(&["delete_vhost", &vhost]);
    setup.emulator.stop();
}

/// Makes a directory immutable (root: `chattr +i`) or read-only (others:
/// mode 0555) while it lives.
struct ReadOnly(PathBuf, bool);

impl ReadOnly {
    fn new(dir: &Path) -> ReadOnly {
        let root = Command::new("id").arg("-u").output().unwrap().stdout == b"0\n";
        let ok = if root {
            Command::new("chattr")
                .arg("+i")
                .arg(dir)
                .status()
                .unwrap()
                .success()
        } else {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o555)).is_ok()
        };
        assert!(ok, "cannot make {} read-only", dir.display());
        ReadOnly(dir.to_owned(), root)
    }
}

impl Drop for ReadOnly {
    fn drop(&mut self) {
        if self.1 {
            let _ = Command::new("chattr").arg("-i").arg(&self.0).status();
        } else {
            use std::os::unix::fs::PermissionsExt;
            let _ = std::fs::set_permissions(&self.0, std::fs::Permissions::from_mode(0o755));
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readiness_turns_red_when_the_case_store_is_read_only() {
    if !broker_or_skip("ops").await {
        return;
    }
    let setup = Setup::new(&prefix("ready-store")).await;
    let d = setup.spawn(&[]);
    let base = d.ops_url();
    wait_ready(&base, true, "case_store", WAIT).await;
    let guard = ReadOnly::new(&setup.settings.gateway.cases_root.join(".index"));
    let red = wait_ready(&base, false, "case_store", Duration::from_secs(10)).await;
    assert!(
        failing(&red, "case_store").contains("cannot write"),
        "{red}"
    );
    drop(guard);
    wait_ready(&base, true, "case_store", WAIT).await;
    drop(d);
    setup.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_daemon_runs_as_many_async_threads_as_configured() {
    if !broker_or_skip("ops").await {
        return;
    }
    let setup = Setup::new(&prefix("threads")).await;
    let cores = std::thread::available_parallelism().unwrap().get();
    for (set, expected) in [("3", 3), ("1", 1), ("0", cores)] {
        let mut d = setup.spawn(&[("MEZHVED__GATEWAY__RUNTIME_THREADS", set)]);
        // Said from the runtime itself once it runs.
        d.wait_log(&format!("mezhved: async threads: {expected} "), WAIT);
        drop(d);
    }
    setup.cleanup().await;
}

/// An RSA key and a certificate valid from a minute ago for `secs`.
fn short_certificate(dir: &Path, key: &openssl::pkey::PKey<openssl::pkey::Private>, secs: i64) {
    use openssl::asn1::Asn1Time;
    use openssl::x509::{X509Builder, X509NameBuilder};
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let mut name = X509NameBuilder::new().unwrap();
    name.append_entry_by_text("CN", "mezhved short-lived test")
        .unwrap();
    let name = name.build();
    let mut b = X509Builder::new().unwrap();
    b.set_version(2).unwrap();
    b.set_subject_name(&name).unwrap();
    b.set_issuer_name(&name).unwrap();
    b.set_pubkey(key).unwrap();
    b.set_not_before(&Asn1Time::from_unix(now - 60).unwrap())
        .unwrap();
    b.set_not_after(&Asn1Time::from_unix(now + secs).unwrap())
        .unwrap();
    let serial = openssl::bn::BigNum::from_u32(now as u32)
        .unwrap()
        .to_asn1_integer()
        .unwrap();
    b.set_serial_number(&serial).unwrap();
    b.sign(key, openssl::hash::MessageDigest::sha256()).unwrap();
    let pem = b.build().to_pem().unwrap();
    // Written aside and renamed, as an operator's deployment would.
    std::fs::write(dir.join("cert.tmp"), pem).unwrap();
    std::fs::rename(dir.join("cert.tmp"), dir.join("cert.pem")).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_certificate_turns_readiness_red_holds_requests_and_a_renewed_one_is_picked_up()
{
    if !broker_or_skip("ops").await {
        return;
    }
    let setup = Setup::new(&prefix("ready-cert")).await;
    let keys = setup.dir.path().join("own-key");
    std::fs::create_dir_all(&keys).unwrap();
    let key = openssl::pkey::PKey::from_rsa(openssl::rsa::Rsa::generate(2048).unwrap()).unwrap();
    std::fs::write(
        keys.join("key.pem"),
        key.private_key_to_pem_pkcs8().unwrap(),
    )
    .unwrap();
    short_certificate(&keys, &key, 8);
    let (k, c) = (
        keys.join("key.pem").display().to_string(),
        keys.join("cert.pem").display().to_string(),
    );
    let d = setup.spawn(&[
        ("MEZHVED__SIGNING__ALGORITHM", "rsa-sha256"),
        ("MEZHVED__SIGNING__KEY", &k),
        ("MEZHVED__SIGNING__CERTIFICATE", &c),
    ]);
    let base = d.ops_url();
    wait_ready(&base, true, "signing_key", WAIT).await;
    let red = wait_ready(&base, false, "signing_key", Duration::from_secs(20)).await;
    assert!(failing(&red, "signing_key").contains("expired"), "{red}");

    // A request while the certificate is expired waits instead of failing.
    let client = Client::connect().await;
    let reply_q = client.reply_queue().await;
    let msg = request_json(Kind::Egrul, json!({ "inn": fresh_inn(400) }));
    send(&setup, &client, &reply_q, &msg).await;
    assert!(
        client
            .take(&reply_q, 1, Duration::from_secs(3))
            .await
            .is_empty(),
        "held while expired"
    );

    short_certificate(&keys, &key, 86_400);
    let green = wait_ready(&base, true, "signing_key", WAIT).await;
    let detail = failing(&green, "signing_key");
    assert!(detail.contains("mezhved short-lived test"), "{detail}");
    let replies = client.take(&reply_q, 1, WAIT).await;
    assert_eq!(replies.len(), 1, "sent once renewed:\n{}", d.log_text());
    assert_eq!(replies[0].body["verdict"], "not_found");
    assert!(d.log_text().contains("signing key reloaded from its files"));
    drop(d);
    setup.cleanup().await;
}

/// `mezhved fixtures serve` as a process on `port` (0: any).
fn emulator_process(setup: &Setup, port: u16) -> (std::process::Child, String) {
    let log = setup.dir.path().join(format!("emulator-{port}.log"));
    let mut child = Command::new(env!("CARGO_BIN_EXE_mezhved"))
        .args([
            "fixtures",
            "serve",
            "--listen",
            &format!("127.0.0.1:{port}"),
        ])
        .current_dir(common::root())
        .envs(setup.env())
        .env("MEZHVED__EMULATOR__FILE_STORE_LISTEN", "127.0.0.1:0")
        .stdout(std::fs::File::create(&log).unwrap())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let start = Instant::now();
    loop {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        if let Some(url) = text.split_whitespace().find(|w| w.ends_with("/smev")) {
            return (child, url.to_owned());
        }
        assert!(
            child.try_wait().unwrap().is_none(),
            "the emulator exited: {text}"
        );
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "the emulator did not start"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readiness_turns_red_when_smev_stops_answering_and_green_when_it_is_back() {
    if !broker_or_skip("ops").await {
        return;
    }
    let setup = Setup::new(&prefix("ready-smev")).await;
    let (mut emu, endpoint) = emulator_process(&setup, 0);
    let port: u16 = endpoint
        .rsplit(':')
        .next()
        .unwrap()
        .trim_end_matches("/smev")
        .parse()
        .unwrap();
    let trust = setup
        .settings
        .emulator_dir()
        .join("emulator-cert.pem")
        .display()
        .to_string();
    let d = setup.spawn(&[
        ("MEZHVED__SMEV__ENDPOINT", &endpoint),
        ("MEZHVED__SMEV__TRUST", &trust),
    ]);
    let base = d.ops_url();
    wait_ready(&base, true, "smev", WAIT).await;
    emu.kill().unwrap();
    emu.wait().unwrap();
    let red = wait_ready(&base, false, "smev", Duration::from_secs(10)).await;
    let why = failing(&red, "smev");
    assert!(why.contains(&endpoint), "names the endpoint: {why}");
    let (mut emu, _) = emulator_process(&setup, port);
    wait_ready(&base, true, "smev", WAIT).await;
    let _ = emu.kill();
    drop(d);
    setup.cleanup().await;
}

/// Samples of a Prometheus text exposition, read by the Prometheus
/// project's own Python parser: `(name, labels, value)`.
fn parse_prometheus(text: &str) -> Vec<(String, HashMap<String, String>, f64)> {
    let script = "import sys, json\n\
        from prometheus_client.parser import text_string_to_metric_families\n\
        out = []\n\
        for f in text_string_to_metric_families(sys.stdin.read()):\n\
        \x20   for s in f.samples:\n\
        \x20       out.append([s.name, s.labels, s.value])\n\
        print(json.dumps(out))\n";
    let mut child = Command::new("python3")
        .args(["-c", script])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python3");
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "the Prometheus parser refused /metrics (scripts/setup installs prometheus-client): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice::<Vec<(String, HashMap<String, String>, f64)>>(&out.stdout).unwrap()
}

fn sum(
    samples: &[(String, HashMap<String, String>, f64)],
    name: &str,
    want: &[(&str, &str)],
) -> f64 {
    samples
        .iter()
        .filter(|(n, l, _)| {
            n == name
                && want
                    .iter()
                    .all(|(k, v)| l.get(*k).map(String::as_str) == Some(*v))
        })
        .map(|(_, _, v)| v)
        .sum()
}

/// Runs `mezhved load` against the setup's daemon.
fn load(setup: &Setup, count: u32) -> Value {
    let out = Command::new(env!("CARGO_BIN_EXE_mezhved"))
        .args([
            "load",
            "--count",
            &count.to_string(),
            "--kinds",
            "all",
            "--json",
            "--linger",
            "0.2",
        ])
        .current_dir(common::root())
        .envs(setup.env())
        .output()
        .unwrap();
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["ok"], true, "{v}");
    v
}

/// Publishes a request message with `reply_to`.
async fn send(setup: &Setup, client: &Client, reply_q: &str, msg: &Value) {
    client
        .publish(
            &setup.settings.amqp.queue_requests(),
            msg.to_string().as_bytes(),
            Some(reply_q),
            None,
        )
        .await;
}

/// Publishes a request with a wrong check digit and takes its refused
/// reply from `reply_q` (its dead letter stays for the operator).
async fn publish_invalid(setup: &Setup, client: &Client, reply_q: &str) -> Value {
    let mut bad = request_json(Kind::Egrul, json!({ "inn": "4703123452" }));
    bad["case_id"] = json!("LO-2026-DEAD-1");
    send(setup, client, reply_q, &bad).await;
    let reply = client.take(reply_q, 1, WAIT).await;
    assert_eq!(reply.len(), 1, "a refused request is answered");
    assert_eq!(reply[0].body["verdict"], "refused");
    assert_eq!(reply[0].body["reason"]["code"], "invalid_check_digit");
    bad
}

/// Waits until the daemon has nothing in flight and the gauges settled.
async fn settled(base: &str) {
    let start = Instant::now();
    loop {
        let (_, m) = http("GET", &format!("{base}/metrics"), None, None).await;
        let s = parse_prometheus(&m);
        let pending = sum(&s, "mezhved_pending_requests", &[]);
        let queued = sum(&s, "mezhved_queue_messages", &[("queue", "requests")]);
        if pending == 0.0 && queued == 0.0 && sum(&s, "mezhved_tasks_in_flight", &[]) == 0.0 {
            // Two check rounds, so that the queue depths shown are fresh.
            tokio::time::sleep(Duration::from_millis(800)).await;
            return;
        }
        assert!(start.elapsed() < WAIT, "did not settle: {m}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_parse_as_prometheus_and_agree_with_the_case_store_after_a_load_run() {
    if !broker_or_skip("ops").await {
        return;
    }
    let setup = Setup::new(&prefix("metrics")).await;
    let d = setup.spawn(&[]);
    let base = d.ops_url();
    let report = load(&setup, 50);
    let client = Client::connect().await;
    let reply_q = client.reply_queue().await;
    publish_invalid(&setup, &client, &reply_q).await;
    settled(&base).await;

    let (status, text) = http("GET", &format!("{base}/metrics"), None, None).await;
    assert_eq!(status, 200);
    let s = parse_prometheus(&text);
    let root = &setup.settings.gateway.cases_root;
    let finals = mezhved::casefile::journal::final_results(root, "LOAD-").unwrap();
    let on_disk: u64 = finals.values().sum();
    assert_eq!(on_disk, 50);
    assert_eq!(
        sum(&s, "mezhved_results_total", &[]),
        on_disk as f64,
        "results"
    );
    assert_eq!(sum(&s, "mezhved_requests_accepted_total", &[]), 50.0);
    assert_eq!(
        sum(
            &s,
            "mezhved_requests_refused_total",
            &[("code", "invalid_check_digit")]
        ),
        1.0
    );
    assert_eq!(sum(&s, "mezhved_replies_total", &[]), 50.0);
    // Per verdict, as the result files say.
    let mut verdicts: HashMap<String, f64> = HashMap::new();
    let mut via_smev = 0.0;
    for e in std::fs::read_dir(root).unwrap().flatten() {
        if !e.file_name().to_string_lossy().starts_with("LOAD-") {
            continue;
        }
        for r in std::fs::read_dir(e.path()).unwrap().flatten() {
            let p = r.path().join("result.json");
            // РНП and foreign agents are answered by the registers' own
            // services (the default routes), not through SMEV.
            if r.path().join("send-request.xml").is_file() {
                via_smev += 1.0;
            }
            if let Ok(b) = std::fs::read(&p) {
                let v: Value = serde_json::from_slice(&b).unwrap();
                *verdicts
                    .entry(v["verdict"].as_str().unwrap().to_owned())
                    .or_default() += 1.0;
            }
        }
    }
    for (verdict, n) in &verdicts {
        assert_eq!(
            sum(&s, "mezhved_results_total", &[("verdict", verdict)]),
            *n,
            "{verdict}"
        );
        assert_eq!(report["verdicts"][verdict].as_f64(), Some(*n));
    }
    assert_eq!(sum(&s, "mezhved_end_to_end_seconds_count", &[]), 50.0);
    assert_eq!(
        sum(
            &s,
            "mezhved_smev_calls_total",
            &[("operation", "SendRequest"), ("outcome", "ok")]
        ),
        via_smev
    );
    assert_eq!(
        sum(
            &s,
            "mezhved_signatures_total",
            &[("operation", "verify"), ("result", "ok")]
        ),
        via_smev
    );
    assert_eq!(sum(&s, "mezhved_queue_messages", &[("queue", "dead")]), 1.0);
    assert_eq!(
        sum(&s, "mezhved_queue_consumers", &[("queue", "requests")]),
        1.0
    );
    // SMEV's, and those of the ЕИС and Минюст sources the default routes use.
    assert_eq!(
        sum(&s, "mezhved_circuit_breaker_state", &[("state", "closed")]),
        3.0
    );
    assert!(
        sum(
            &s,
            "mezhved_certificate_expiry_days",
            &[("role", "signing")]
        ) > 300.0
    );
    assert_eq!(sum(&s, "mezhved_ready", &[("check", "broker")]), 1.0);
    drop(d);
    setup.cleanup().await;
}

/// The browser the dashboard test drives, or `None` (then the test fails
/// if `MEZHVED_REQUIRE_BROWSER=1`, as in CI).
fn chromium() -> Option<&'static str> {
    let found = ["/usr/bin/chromium", "/usr/bin/chromium-browser"]
        .into_iter()
        .find(|p| Path::new(p).exists());
    if found.is_none() {
        assert!(
            std::env::var("MEZHVED_REQUIRE_BROWSER").as_deref() != Ok("1"),
            "chromium is not installed and MEZHVED_REQUIRE_BROWSER=1 (scripts/setup installs it)"
        );
        eprintln!("dashboard test skipped: no chromium (apt-get install chromium)");
    }
    found
}

fn headless(browser: &str, profile: &Path, extra: &[&str], url: &str) -> std::process::Output {
    Command::new(browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--virtual-time-budget=10000",
            "--window-size=1400,1150",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(extra)
        .arg(url)
        .output()
        .expect("chromium runs")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_in_headless_chromium_shows_what_metrics_say() {
    if !broker_or_skip("ops").await {
        return;
    }
    let Some(browser) = chromium() else { return };
    let setup = Setup::new(&prefix("dashboard")).await;
    // One answer that never comes: a pending request on the page.
    let never = fresh_inn(410);
    setup.emulator.node.scenarios.set(
        Kind::Egrul,
        &never,
        serde_json::from_value(json!({ "never_answer": true })).unwrap(),
    );
    let d = setup.spawn(&[("MEZHVED__OPS__LANGUAGE", "en")]);
    let base = d.ops_url();
    load(&setup, 30);
    let client = Client::connect().await;
    let reply_q = client.reply_queue().await;
    publish_invalid(&setup, &client, &reply_q).await;
    let waiting = request_json(Kind::Egrul, json!({ "inn": never }));
    send(&setup, &client, &reply_q, &waiting).await;
    // Settled: the never-answered request stays pending.
    let start = Instant::now();
    loop {
        let (_, m) = http("GET", &format!("{base}/metrics"), None, None).await;
        let s = parse_prometheus(&m);
        if sum(&s, "mezhved_results_total", &[]) == 30.0
            && sum(&s, "mezhved_queue_messages", &[("queue", "dead")]) == 1.0
            && sum(&s, "mezhved_pending_requests", &[("state", "sent")]) == 1.0
            && sum(&s, "mezhved_queue_messages", &[("queue", "requests")]) == 0.0
        {
            break;
        }
        assert!(start.elapsed() < WAIT, "did not settle: {m}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // Let the history gather a few samples for the charts.
    tokio::time::sleep(Duration::from_secs(2)).await;

    let profile = setup.dir.path().join("chromium");
    let (_, m) = http("GET", &format!("{base}/metrics"), None, None).await;
    let samples = parse_prometheus(&m);
    // ops.language says English; ?lang=ru asks for the page in Russian.
    let pages = [
        (
            "en",
            format!("{base}/"),
            &[
                "<html lang=\"en\"",
                "Readiness",
                "Recent dead letters",
                "connected to RabbitMQ; consuming the requests queue",
                "fails its check digit",
                ">sent<",
            ][..],
        ),
        (
            "ru",
            format!("{base}/?lang=ru"),
            &[
                "<html lang=\"ru\"",
                "Готовность",
                "Последние отклонённые сообщения",
                "брокер RabbitMQ",
                "подключён к RabbitMQ; очередь запросов принимается",
                "Запрос не принят: не сходится контрольная цифра ИНН (subject.inn)",
                ">отправлен<",
                ">ЕГРЮЛ<",
            ][..],
        ),
    ];
    let artefacts = common::root().join("target/test-artefacts");
    std::fs::create_dir_all(&artefacts).unwrap();
    for (lang, url, texts) in pages {
        let dom = headless(browser, &profile, &["--dump-dom"], &url);
        let html = String::from_utf8_lossy(&dom.stdout).into_owned();
        assert!(
            html.contains("data-loaded=\"1\""),
            "{lang}: the page rendered its data:\n{html}\n{}",
            String::from_utf8_lossy(&dom.stderr)
        );
        let compared = figures_agree_with_metrics(&html, &samples);
        assert!(compared >= 10, "{lang}: figures compared: {compared}");
        assert!(
            html.contains("invalid_check_digit"),
            "{lang}: the dead letter is listed"
        );
        assert!(
            html.contains("LO-2026-000123"),
            "{lang}: the pending request's case is listed"
        );
        for t in texts {
            assert!(html.contains(t), "{lang}: no {t:?} on the page:\n{html}");
        }
        let shot = artefacts.join(format!("dashboard-{lang}.png"));
        let _ = std::fs::remove_file(&shot);
        let out = headless(
            browser,
            &profile,
            &[&format!("--screenshot={}", shot.display())],
            &url,
        );
        assert!(
            shot.metadata().is_ok_and(|m| m.len() > 10_000),
            "{lang} screenshot: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    drop(d);
    setup.cleanup().await;
}

/// Every figure the page marks with the metric it shows (`data-metric`,
/// `data-match`) equals that metric; returns how many were compared.
fn figures_agree_with_metrics(
    html: &str,
    samples: &[(String, HashMap<String, String>, f64)],
) -> usize {
    let mut compared = 0;
    for piece in html.split("data-metric=\"").skip(1) {
        let name = &piece[..piece.find('"').unwrap()];
        let tag_end = piece.find('>').unwrap();
        let attrs = &piece[..tag_end];
        let want: Vec<(String, String)> = attrs
            .split("data-match=\"")
            .nth(1)
            .map(|m| {
                let m = &m[..m.find('"').unwrap()];
                let m = m.replace("&quot;", "\"");
                let (k, v) = m.split_once('=').unwrap();
                vec![(k.to_owned(), v.trim_matches('"').to_owned())]
            })
            .unwrap_or_default();
        let shown: f64 = piece[tag_end + 1..piece.find('<').unwrap()]
            .trim()
            .parse()
            .unwrap_or_else(|_| {
                panic!(
                    "{name}: not a number on the page: {:?}",
                    &piece[tag_end + 1..piece.find('<').unwrap()]
                )
            });
        let want_ref: Vec<(&str, &str)> =
            want.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let expected = sum(samples, name, &want_ref);
        assert_eq!(
            shown, expected,
            "{name} {want:?}: the page shows {shown}, /metrics says {expected}"
        );
        compared += 1;
    }
    compared
}

fn mezhved(setup: &Setup, args: &[&str], extra: &[(&str, &str)]) -> (Option<i32>, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_mezhved"))
        .args(args)
        .current_dir(common::root())
        .envs(setup.env())
        .envs(extra.iter().copied())
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
async fn a_dead_letter_is_found_inspected_and_replayed_to_a_result_with_the_cli() {
    if !broker_or_skip("ops").await {
        return;
    }
    let setup = Setup::new(&prefix("dlq")).await;
    let d = setup.spawn(&[]);
    let client = Client::connect().await;
    let reply_q = client.reply_queue().await;
    let bad = publish_invalid(&setup, &client, &reply_q).await;
    let rid = bad["request_id"].as_str().unwrap().to_owned();

    let start = Instant::now();
    let letters = loop {
        let (code, out, err) = mezhved(&setup, &["dlq", "list", "--json"], &[]);
        assert_eq!(code, Some(0), "{err}");
        let v: Vec<Value> = serde_json::from_str(&out).unwrap();
        if !v.is_empty() {
            break v;
        }
        assert!(start.elapsed() < WAIT);
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(letters.len(), 1);
    assert_eq!(letters[0]["reason"]["code"], "invalid_check_digit");
    assert_eq!(letters[0]["request_id"], json!(rid));
    let id = letters[0]["id"].as_str().unwrap().to_owned();

    let (code, out, _) = mezhved(&setup, &["dlq", "list"], &[]);
    assert_eq!(code, Some(0));
    assert!(out.contains(&id) && out.contains("LO-2026-DEAD-1"), "{out}");
    let (code, out, _) = mezhved(&setup, &["dlq", "show", &id], &[]);
    assert_eq!(code, Some(0));
    assert!(
        out.contains("fails its check digit") && out.contains("4703123452"),
        "{out}"
    );
    let (code, _, err) = mezhved(&setup, &["dlq", "show", "no-such-letter"], &[]);
    assert_eq!(code, Some(1));
    assert!(err.contains("no letter no-such-letter"), "{err}");

    let (code, out, err) = mezhved(
        &setup,
        &["dlq", "replay", &id, "--set", "subject.inn=4703123451"],
        &[],
    );
    assert_eq!(code, Some(0), "{out}{err}");
    assert!(out.contains("replayed"), "{out}");
    let replies = client.take(&reply_q, 1, WAIT).await;
    assert_eq!(replies.len(), 1, "{}", d.log_text());
    assert_eq!(replies[0].body["request_id"], json!(rid));
    assert_eq!(
        replies[0].body["verdict"], "found",
        "the fixed request reached its result"
    );
    let (_, out, _) = mezhved(&setup, &["dlq", "list", "--json"], &[]);
    assert_eq!(out.trim(), "[]");

    // Purge asks first; without a terminal it needs --yes.
    publish_invalid(&setup, &client, &reply_q).await;
    let start = Instant::now();
    while mezhved(&setup, &["dlq", "list", "--json"], &[]).1.trim() == "[]" {
        assert!(start.elapsed() < WAIT);
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let (code, _, err) = mezhved(&setup, &["dlq", "purge"], &[]);
    assert_ne!(code, Some(0));
    assert!(err.contains("--yes"), "{err}");
    assert_ne!(
        mezhved(&setup, &["dlq", "list", "--json"], &[]).1.trim(),
        "[]",
        "nothing deleted"
    );
    let (code, out, _) = mezhved(&setup, &["dlq", "purge", "--yes"], &[]);
    assert_eq!(code, Some(0));
    assert!(out.contains("deleted 1"), "{out}");
    drop(d);
    setup.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_ops_api_guards_dead_letters_and_the_log_level_with_the_token() {
    if !broker_or_skip("ops").await {
        return;
    }
    let setup = Setup::new(&prefix("token")).await;
    let token = "test-token-0123456789abcdef";
    let d = setup.spawn(&[("MEZHVED_OPS_TOKEN", token)]);
    let base = d.ops_url();
    let (s, _) = http("GET", &format!("{base}/api/dlq"), None, None).await;
    assert_eq!(s, 401);
    let (s, _) = http(
        "GET",
        &format!("{base}/api/dlq"),
        Some("wrong-token-0123456789ab"),
        None,
    )
    .await;
    assert_eq!(s, 401);
    let (s, body) = http("GET", &format!("{base}/api/dlq"), Some(token), None).await;
    assert_eq!(s, 200, "{body}");
    // Reads stay open on the local listener.
    assert_eq!(
        http("GET", &format!("{base}/metrics"), None, None).await.0,
        200
    );

    // A dead letter replayed over HTTP, fixed.
    let client = Client::connect().await;
    let reply_q = client.reply_queue().await;
    publish_invalid(&setup, &client, &reply_q).await;
    let start = Instant::now();
    let id = loop {
        let (_, body) = http("GET", &format!("{base}/api/dlq"), Some(token), None).await;
        let v: Value = serde_json::from_str(&body).unwrap();
        if let Some(l) = v["letters"].as_array().and_then(|a| a.first()) {
            break l["id"].as_str().unwrap().to_owned();
        }
        assert!(start.elapsed() < WAIT);
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let (s, _) = http("POST", &format!("{base}/api/dlq/{id}/replay"), None, None).await;
    assert_eq!(s, 401);
    let (s, body) = http(
        "POST",
        &format!("{base}/api/dlq/{id}/replay"),
        Some(token),
        Some(r#"{"set": ["subject.inn=4703123451"]}"#),
    )
    .await;
    assert_eq!(s, 200, "{body}");
    let replies = client.take(&reply_q, 1, WAIT).await;
    assert_eq!(replies[0].body["verdict"], "found");
    let (s, _) = http(
        "POST",
        &format!("{base}/api/dlq/{id}/replay"),
        Some(token),
        None,
    )
    .await;
    assert_eq!(s, 404, "gone once replayed");

    // The log level, changed at run time.
    let (s, _) = http("PUT", &format!("{base}/api/log-level"), None, Some("debug")).await;
    assert_eq!(s, 401);
    let (s, body) = http(
        "PUT",
        &format!("{base}/api/log-level"),
        Some(token),
        Some("not a level ==="),
    )
    .await;
    assert_eq!(s, 400, "{body}");
    let (s, body) = http(
        "PUT",
        &format!("{base}/api/log-level"),
        Some(token),
        Some("debug"),
    )
    .await;
    assert_eq!(s, 200, "{body}");
    let (_, body) = http("GET", &format!("{base}/api/log-level"), None, None).await;
    assert!(body.contains("debug"), "{body}");
    let before = d.log_text().matches("DEBUG").count();
    let msg = request_json(Kind::Egrul, json!({ "inn": fresh_inn(420) }));
    send(&setup, &client, &reply_q, &msg).await;
    client.take(&reply_q, 1, WAIT).await;
    assert!(
        d.log_text().matches("DEBUG").count() > before,
        "debug lines appear"
    );
    drop(d);

    // Without a token those endpoints are off.
    let d = setup.spawn(&[]);
    let (s, body) = http(
        "GET",
        &format!("{}/api/dlq", d.ops_url()),
        Some(token),
        None,
    )
    .await;
    assert_eq!(s, 403);
    assert!(body.contains("ops.token_file"), "{body}");
    drop(d);
    setup.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_logs_carry_the_request_fields_on_every_line_of_its_life() {
    if !broker_or_skip("ops").await {
        return;
    }
    let setup = Setup::new(&prefix("logs")).await;
    let d = setup.spawn(&[("MEZHVED__LOG__FORMAT", "json")]);
    let client = Client::connect().await;
    let reply_q = client.reply_queue().await;
    let msg = request_json(Kind::TaxDebt, json!({ "inn": fresh_inn(430) }));
    let rid = msg["request_id"].as_str().unwrap().to_owned();
    send(&setup, &client, &reply_q, &msg).await;
    assert_eq!(client.take(&reply_q, 1, WAIT).await.len(), 1);
    // "replied" is logged once the reply is recorded, just after it left.
    let start = Instant::now();
    while !d.log_text().contains("\"message\":\"replied\"") && start.elapsed() < WAIT {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let log = d.log_text();
    let lines: Vec<Value> = log
        .lines()
        .filter(|l| l.starts_with('{'))
        .map(|l| serde_json::from_str(l).unwrap())
        .filter(|v: &Value| v.to_string().contains(&rid))
        .collect();
    let messages: Vec<&str> = lines.iter().filter_map(|v| v["message"].as_str()).collect();
    for wanted in ["accepted", "accepted by SMEV", "result written", "replied"] {
        assert!(messages.contains(&wanted), "{wanted:?} in {messages:?}");
    }
    let mut with_message_id = 0;
    for v in &lines {
        let spans = v["spans"]
            .as_array()
            .unwrap_or_else(|| panic!("spans: {v}"));
        let field = |k: &str| spans.iter().find_map(|s| s.get(k).cloned());
        assert_eq!(field("request_id"), Some(json!(rid)), "{v}");
        assert_eq!(field("case_id"), Some(json!("LO-2026-000123")), "{v}");
        assert_eq!(field("kind"), Some(json!("tax_debt")), "{v}");
        if field("message_id").is_some_and(|m| m.as_str().is_some_and(|s| s.len() == 36)) {
            with_message_id += 1;
        }
    }
    let after_signing = messages
        .iter()
        .position(|m| *m == "accepted by SMEV")
        .unwrap();
    assert!(
        with_message_id >= lines.len() - after_signing,
        "message_id on every line after signing: {lines:?}"
    );
    drop(d);
    setup.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_and_check_config_say_what_needs_attention() {
    if !broker_or_skip("ops").await {
        return;
    }
    let setup = Setup::new(&prefix("status")).await;
    let d = setup.spawn(&[]);
    let ops = d.ops_url();
    wait_ready(&ops, true, "broker", WAIT).await;
    let (code, out, err) = mezhved(&setup, &["status", "--json", "--ops", &ops], &[]);
    let v: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}{err}"));
    assert_eq!(code, Some(0), "all well: {v}");
    assert_eq!(v["daemon"]["ready"], true);
    assert_eq!(v["queues"][0]["consumers"], 1);

    let client = Client::connect().await;
    let reply_q = client.reply_queue().await;
    publish_invalid(&setup, &client, &reply_q).await;
    // A request that fails for good: SMEV refuses it as invalid content.
    let inn = fresh_inn(440);
    setup.emulator.node.scenarios.set(
        Kind::Egrul,
        &inn,
        serde_json::from_value(json!({ "fault": "AccessDenied" })).unwrap(),
    );
    let msg = request_json(Kind::Egrul, json!({ "inn": inn }));
    send(&setup, &client, &reply_q, &msg).await;
    assert_eq!(client.take(&reply_q, 1, WAIT).await.len(), 1);
    tokio::time::sleep(Duration::from_millis(800)).await;
    let (code, out, _) = mezhved(&setup, &["status", "--lang", "en", "--ops", &ops], &[]);
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("dead letter(s) wait"), "{out}");
    assert!(out.contains("need the officer's fallback"), "{out}");
    assert!(out.contains("AccessDenied"), "the reason is shown: {out}");
    // In Russian by default (ops.language), logs excepted.
    let (code, out, _) = mezhved(&setup, &["status", "--ops", &ops], &[]);
    assert_eq!(code, Some(1), "{out}");
    for t in [
        "Состояние mezhved на",
        "Требует внимания:",
        "ждут сообщения: 1",
        "результатов за последний час, требующих запасного пути: 1",
        "брокер RabbitMQ",
        "подключён к RabbitMQ; очередь запросов принимается",
        "AccessDenied",
    ] {
        assert!(out.contains(t), "no {t:?} in:\n{out}");
    }
    let (_, en_by_config, _) = mezhved(
        &setup,
        &["status", "--ops", &ops],
        &[("MEZHVED__OPS__LANGUAGE", "en")],
    );
    assert!(en_by_config.contains("Needs attention:"), "{en_by_config}");

    let (code, out, _) = mezhved(&setup, &["check-config"], &[]);
    assert_eq!(code, Some(0), "{out}");
    for what in ["signing key", "smev.trust", "broker", "smev", "case store"] {
        assert!(
            out.lines().any(|l| l.starts_with("ok") && l.contains(what)),
            "{what}: {out}"
        );
    }
    let (code, out, _) = mezhved(
        &setup,
        &["check-config"],
        &[("MEZHVED__SMEV__ENDPOINT", "http://127.0.0.1:9/smev")],
    );
    assert_eq!(code, Some(1));
    assert!(
        out.lines()
            .any(|l| l.starts_with("FAIL") && l.contains("smev")),
        "{out}"
    );
    let (code, _, err) = mezhved(
        &setup,
        &["check-config"],
        &[("MEZHVED__OPS__CHECK_SECS", "-1")],
    );
    assert_eq!(code, Some(78), "a bad configuration: {err}");
    assert!(err.contains("ops.check_secs"), "{err}");
    drop(d);
    setup.cleanup().await;
}

/// One HTTP/1.1 GET with the `Host:` header given, over a plain socket
/// (no client library second-guessing the header); the status code.
async fn get_with_host(addr: &str, path: &str, host: &str) -> u16 {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let req = format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n");
    s.write_all(req.as_bytes()).await.unwrap();
    let mut out = Vec::new();
    s.read_to_end(&mut out).await.unwrap();
    let text = String::from_utf8_lossy(&out);
    text.split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("no status line: {text}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_page_under_a_foreign_host_name_gets_421_dns_rebinding_reads_nothing() {
    if !broker_or_skip("ops").await {
        return;
    }
    let setup = Setup::new(&prefix("hosts")).await;
    let d = setup.spawn(&[("MEZHVED__OPS__ALLOWED_HOSTS", "mezhved.region.local")]);
    let base = d.ops_url();
    let addr = base
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_owned();
    let port = addr.rsplit(':').next().unwrap();
    for path in ["/", "/api/dashboard", "/metrics", "/readyz", "/api/status"] {
        // What a rebinding page's requests carry: its own name.
        assert_eq!(
            get_with_host(&addr, path, &format!("evil.example:{port}")).await,
            421,
            "{path}"
        );
        assert_eq!(
            get_with_host(&addr, path, "localhost.evil.example").await,
            421,
            "{path}"
        );
        for ok in [
            addr.clone(),
            format!("localhost:{port}"),
            "mezhved.region.local".into(),
        ] {
            let status = get_with_host(&addr, path, &ok).await;
            assert!(status == 200 || status == 503, "{path} as {ok}: {status}");
        }
    }
    // Liveness says nothing and answers any name (load balancers, probes).
    assert_eq!(get_with_host(&addr, "/healthz", "evil.example").await, 200);
    drop(d);
    setup.cleanup().await;
}
