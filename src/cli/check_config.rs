//! `mezhved check-config`: validates the configuration, loads the keys and
//! certificates, tries the broker and the SMEV endpoint, and says what it
//! found. Exit 0 when nothing failed (warnings allowed), 1 otherwise, 78
//! when the configuration itself cannot be read.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use mezhved::calendar::{Calendar, Coverage};
use mezhved::clock;
use mezhved::config::{Settings, redact_url, secs};
use mezhved::pipeline::credentials;
use mezhved::provider::SmevClient;
use mezhved::xmldsig::Validity;

#[derive(Default)]
struct Report {
    failed: usize,
    warned: usize,
}

impl Report {
    fn ok(&mut self, what: &str, detail: impl AsRef<str>) {
        println!("ok    {what:<14} {}", detail.as_ref());
    }
    fn warn(&mut self, what: &str, detail: impl AsRef<str>) {
        self.warned += 1;
        println!("WARN  {what:<14} {}", detail.as_ref());
    }
    fn fail(&mut self, what: &str, detail: impl AsRef<str>) {
        self.failed += 1;
        println!("FAIL  {what:<14} {}", detail.as_ref());
    }

    fn certificate(&mut self, what: &str, subject: &str, v: Validity, warn_days: u32) {
        let now = clock::now();
        let until = v
            .not_after
            .map(clock::rfc3339)
            .unwrap_or_else(|| "?".into());
        let days = v.days_left(now);
        if !v.covers(now) {
            self.fail(
                what,
                format!("{subject}: not valid now (valid until {until})"),
            );
        } else if days < f64::from(warn_days) {
            self.warn(
                what,
                format!("{subject}: expires {until}, in {days:.0} days: renew it"),
            );
        } else {
            self.ok(
                what,
                format!("{subject}: valid until {until} ({days:.0} days)"),
            );
        }
    }
}

/// Whether each VS's answers can be checked against their schema: a
/// warning when not (answers are still read, marked as not checked).
fn answer_schemas(s: &Settings, r: &mut Report) {
    let registry = mezhved::lookup::Registry::new(&s.lookup);
    for (kind, ns, status) in registry.schemas().report() {
        match status {
            Ok(()) => r.ok("schema", format!("{kind} answers ({ns}) are checked")),
            Err(why) => r.warn(
                "schema",
                format!("{kind} answers ({ns}) will not be checked: {why}"),
            ),
        }
    }
}

pub async fn check_config(config: Option<PathBuf>) -> anyhow::Result<ExitCode> {
    let s: Settings = super::load_settings(config.clone())?;
    let mut r = Report::default();
    r.ok(
        "configuration",
        format!(
            "{} + MEZHVED__* overrides; SMEV types {}, cases in {}",
            config
                .as_ref()
                .map(|c| format!("built-in defaults + {}", c.display()))
                .unwrap_or_else(|| "built-in defaults".into()),
            s.smev.version,
            s.gateway.cases_root.display()
        ),
    );
    let warn_days = s.ops.cert_warn_days;

    match credentials::signing_key(&s) {
        Ok(c) => {
            let key = c.key;
            let how = if s.signing.has_key() {
                format!("{} from {}", key.algorithm(), s.signing.key)
            } else {
                format!(
                    "{} development key under {}",
                    key.algorithm(),
                    s.keys_dir().display()
                )
            };
            if key.algorithm().accepted_by_smev() {
                r.ok("signing key", how);
            } else {
                r.warn(
                    "signing key",
                    format!("{how}: development only, SMEV does not accept it"),
                );
            }
            if let Some(n) = c.notice {
                r.warn("signing key", n);
            }
            r.certificate("certificate", &key.subject(), key.validity(), warn_days);
        }
        Err(e) => r.fail("signing key", e.to_string()),
    }
    match credentials::personal_key(&s) {
        Ok(Some(p)) => r.certificate("personal key", &p.subject(), p.validity(), warn_days),
        Ok(None) => r.ok(
            "personal key",
            "none configured: personal signatures use the system's key",
        ),
        Err(e) => r.fail("personal key", e.to_string()),
    }
    match credentials::trust_store(&s) {
        Ok(t) => {
            for (subject, v) in t.certificates() {
                r.certificate("smev.trust", &subject, v, warn_days);
            }
        }
        Err(e) => r.fail("smev.trust", e.to_string()),
    }
    match Calendar::load(s.gateway.calendar_path()) {
        Ok(cal) => {
            let year = clock::moscow_today().year();
            for y in [year, year + 1] {
                match cal.coverage(y) {
                    Coverage::Decree => {
                        r.ok("calendar", format!("{y}: from the Government's decree"))
                    }
                    Coverage::RuleOnly => r.warn(
                        "calendar",
                        format!("{y}: no decree yet, the Labour Code's rule only"),
                    ),
                    Coverage::Missing => r.warn(
                        "calendar",
                        format!("{y}: not in the calendar file, the rule only"),
                    ),
                }
            }
        }
        Err(e) => r.fail("calendar", e.to_string()),
    }
    let root = &s.gateway.cases_root;
    if root.is_dir() {
        let probe = root.join(format!(".check-config-{}", std::process::id()));
        match std::fs::write(&probe, b"ok").and_then(|_| std::fs::remove_file(&probe)) {
            Ok(()) => r.ok("case store", format!("{} is writable", root.display())),
            Err(e) => r.fail(
                "case store",
                format!("{}: cannot write: {e}", root.display()),
            ),
        }
    } else {
        r.ok(
            "case store",
            format!(
                "{} does not exist yet; it is created at start",
                root.display()
            ),
        );
    }
    if let Some(probe) = mezhved::casefile::Store::probe_database(&s) {
        let db = mezhved::config::redact_url(&s.store.postgres_url);
        match probe {
            Ok(what) => r.ok("database", format!("{db}: {what}")),
            Err(e) => r.fail("database", format!("{db}: {e}")),
        }
    }
    if s.ops.listen.is_empty() {
        r.warn(
            "ops server",
            "off (ops.listen is empty): no health, metrics or dashboard",
        );
    } else {
        match s.ops.token() {
            Ok(Some(_)) => r.ok("ops server", format!("{}; token set", s.ops.listen)),
            Ok(None) => r.ok(
                "ops server",
                format!(
                    "{}; no token: dead-letter and log-level endpoints disabled",
                    s.ops.listen
                ),
            ),
            Err(e) => r.fail("ops server", e.to_string()),
        }
    }

    let amqp = tokio::time::timeout(
        Duration::from_secs(10),
        lapin::Connection::connect(&s.amqp.url, lapin::ConnectionProperties::default()),
    )
    .await;
    match amqp {
        Ok(Ok(conn)) => {
            let mut missing = Vec::new();
            for q in [
                s.amqp.queue_requests(),
                s.amqp.queue_dead(),
                s.amqp.queue_replies(),
            ] {
                let ch = conn.create_channel().await?;
                let found = ch
                    .queue_declare(
                        q.as_str().into(),
                        lapin::options::QueueDeclareOptions {
                            passive: true,
                            ..Default::default()
                        },
                        Default::default(),
                    )
                    .await;
                if found.is_err() {
                    missing.push(q);
                }
            }
            let _ = conn.close(200, "checked".into()).await;
            if missing.is_empty() {
                r.ok(
                    "broker",
                    format!("{}: connected; queues present", redact_url(&s.amqp.url)),
                )
            } else {
                r.ok(
                    "broker",
                    format!(
                        "{}: connected; {} declared at the first start",
                        redact_url(&s.amqp.url),
                        missing.join(", ")
                    ),
                )
            }
        }
        Ok(Err(e)) => r.fail(
            "broker",
            format!("cannot connect to {}: {e}", redact_url(&s.amqp.url)),
        ),
        Err(_) => r.fail(
            "broker",
            format!("{} did not answer within 10 s", redact_url(&s.amqp.url)),
        ),
    }
    match SmevClient::new(
        &s.smev.endpoint,
        Duration::from_secs(s.smev.timeout_secs),
        s.smev.breaker(),
        1,
    ) {
        Ok(client) => match client.probe(secs(s.ops.probe_timeout_secs.max(3.0))).await {
            Ok(()) => r.ok(
                "smev",
                format!("{} answers (GET ?wsdl)", redact_url(&s.smev.endpoint)),
            ),
            Err(e) => r.fail("smev", e.to_string()),
        },
        Err(e) => r.fail("smev", e.to_string()),
    }
    answer_schemas(&s, &mut r);
    println!("\n{} failed, {} warning(s)", r.failed, r.warned);
    Ok(if r.failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
