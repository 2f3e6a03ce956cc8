//! Readiness: each check names what it looked at, whether it is fine, and
//! since when. A check runs against the real thing (a passive declare on
//! the broker, a file written in the case store, an HTTP request to the
//! SMEV node), never against a cached flag alone, so "ready" means the
//! gateway can do its work now.

use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use time::OffsetDateTime;

use crate::calendar::Coverage;
use crate::clock;
use crate::i18n::{self, Both, Msg};
use crate::pipeline::Gateway;
use crate::provider::BreakerState;
use crate::transport::QueueStat;

/// The latest result of one check.
#[derive(Clone, Debug, Serialize)]
pub struct Check {
    pub name: &'static str,
    pub ok: bool,
    /// A failing required check makes `/readyz` answer 503; the others are
    /// shown, and make `mezhved status` ask for attention.
    pub required: bool,
    /// What it found, in English (logs, scripts) …
    pub detail: String,
    /// … and in Russian (the dashboard and `mezhved status` in Russian).
    pub detail_ru: String,
    #[serde(with = "clock::timestamp")]
    pub checked_at: OffsetDateTime,
    /// When `ok` last changed (or the first check).
    #[serde(with = "clock::timestamp")]
    pub since: OffsetDateTime,
}

/// What one round of checks found.
pub struct Round {
    pub checks: Vec<Check>,
    pub queues: Vec<QueueStat>,
}

fn check(name: &'static str, required: bool, result: Result<Both, Both>) -> Check {
    let now = clock::now();
    let (ok, detail) = match result {
        Ok(d) => (true, d),
        Err(d) => (false, d),
    };
    Check {
        name,
        ok,
        required,
        detail: detail.en,
        detail_ru: detail.ru,
        checked_at: now,
        since: now,
    }
}

fn msg(key: &'static str) -> Msg {
    Msg::new(key)
}

/// Runs every check once.
pub async fn run(gw: &Arc<Gateway>, probe_timeout: Duration, warn_days: u32) -> Round {
    let health = gw.outbox().health().await;
    let broker = check(
        "broker",
        true,
        if health.ok {
            Ok(health.detail.clone())
        } else {
            Err(health.detail.clone())
        },
    );
    let store = gw.store().clone();
    let paused = gw.store_gate().failing();
    let writable = tokio::time::timeout(
        Duration::from_secs(5),
        tokio::task::spawn_blocking(move || store.check_writable()),
    )
    .await;
    let case_store = check(
        "case_store",
        true,
        match (paused, writable) {
            // Red until the gateway's own probe found it writable and
            // resumed, whatever this check's small write says.
            (Some(f), _) => Err(msg("check.store.paused")
                .arg("since", clock::rfc3339(f.since))
                .arg("reason", &f.reason)
                .arg("secs", gw.settings.limits.store_probe_secs)
                .into()),
            (None, Ok(Ok(Ok(())))) => Ok(msg("check.store.ok")
                .arg("root", gw.store().root().display())
                .into()),
            (None, Ok(Ok(Err(e)))) => Err(msg("check.store.failed").arg("error", e).into()),
            (None, Ok(Err(e))) => Err(msg("check.store.crashed").arg("error", e).into()),
            (None, Err(_)) => Err(msg("check.store.slow").into()),
        },
    );
    let signing = check("signing_key", true, signing_key(gw, warn_days));
    let smev = check("smev", true, smev(gw, probe_timeout).await);
    let trust = check("smev_trust", true, trust(gw, warn_days));
    let calendar = check("calendar", false, calendar(gw));
    // The register sources' own wording: English in both languages so far.
    let registers = check(
        "registers",
        false,
        gw.sources().readiness().map(Both::same).map_err(Both::same),
    );
    let orphans = check(
        "orphans",
        false,
        gw.orphans_check().await.map(Both::same).map_err(Both::same),
    );
    Round {
        checks: vec![
            broker, case_store, signing, smev, trust, calendar, registers, orphans,
        ],
        queues: health.queues,
    }
}

fn expiry(
    what: &Msg,
    subject: &str,
    v: crate::xmldsig::Validity,
    warn_days: u32,
) -> Result<Both, Both> {
    let now = clock::now();
    let until = v
        .not_after
        .map(clock::rfc3339)
        .unwrap_or_else(|| "?".into());
    let text = |key: &'static str, extra: &[(&'static str, String)]| {
        Both::of(|l| {
            let mut m = msg(key)
                .arg("what", what.render(l))
                .arg("subject", subject)
                .arg("until", &until);
            for (k, v) in extra {
                m = m.arg(k, v);
            }
            m.render(l)
        })
    };
    if v.not_before.is_some_and(|t| now < t) {
        let from = v.not_before.map(clock::rfc3339).unwrap_or_default();
        return Err(text("check.cert.not_yet", &[("from", from)]));
    }
    if !v.covers(now) {
        return Err(text("check.cert.expired", &[]));
    }
    let days = format!("{:.0}", v.days_left(now));
    if v.days_left(now) < f64::from(warn_days) {
        Ok(text("check.cert.soon", &[("days", days)]))
    } else {
        Ok(text("check.cert.valid", &[("days", days)]))
    }
}

fn signing_key(gw: &Gateway, warn_days: u32) -> Result<Both, Both> {
    let reloaded = gw
        .reload_key()
        .map_err(|e| Both::from(msg("check.key.unloadable").arg("error", e)))?;
    let key = gw.key();
    let mut detail = expiry(
        &msg("check.cert.system").arg("algorithm", key.algorithm()),
        &key.subject(),
        key.validity(),
        warn_days,
    )?;
    if let Some(p) = gw.personal_key() {
        let personal = expiry(
            &msg("check.cert.personal"),
            &p.subject(),
            p.validity(),
            warn_days,
        )?;
        detail = detail.join("; ", &personal);
    }
    if reloaded {
        detail = detail.join("; ", &msg("check.cert.reloaded").into());
    }
    Ok(detail)
}

async fn smev(gw: &Gateway, limit: Duration) -> Result<Both, Both> {
    let client = gw.client();
    let endpoint = crate::config::redact_url(client.endpoint());
    client.probe(limit).await.map_err(|e| {
        Both::from(
            msg("check.smev.down")
                .arg("endpoint", &endpoint)
                .arg("error", e),
        )
    })?;
    match client.breaker().state() {
        BreakerState::Open => Err(msg("check.smev.open").arg("endpoint", &endpoint).into()),
        s => Ok(Both::of(|l| {
            msg("check.smev.ok")
                .arg("endpoint", &endpoint)
                .arg("circuit", i18n::text(l, &format!("circuit.{}", s.as_str())))
                .render(l)
        })),
    }
}

fn trust(gw: &Gateway, warn_days: u32) -> Result<Both, Both> {
    let now = clock::now();
    let certs = gw.trust().certificates();
    let valid: Vec<_> = certs.iter().filter(|(_, v)| v.covers(now)).collect();
    if valid.is_empty() {
        return Err(msg("check.trust.none").arg("total", certs.len()).into());
    }
    let soon: Vec<_> = valid
        .iter()
        .filter(|(_, v)| v.days_left(now) < f64::from(warn_days))
        .collect();
    Ok(Both::of(|l| {
        let base = msg(if soon.is_empty() {
            "check.trust.ok"
        } else {
            "check.trust.soon"
        })
        .arg("valid", valid.len())
        .arg("total", certs.len());
        let list: Vec<String> = soon
            .iter()
            .map(|(s, v)| {
                msg("check.trust.days")
                    .arg("subject", s)
                    .arg("days", format!("{:.0}", v.days_left(now)))
                    .render(l)
            })
            .collect();
        base.arg("list", list.join(", ")).render(l)
    }))
}

fn calendar(gw: &Gateway) -> Result<Both, Both> {
    let year = clock::moscow_today().year();
    let m = |key| Both::from(msg(key).arg("year", year));
    match gw.calendar().coverage(year) {
        Coverage::Decree => Ok(m("check.calendar.ok")),
        Coverage::RuleOnly => Err(m("check.calendar.rule_only")),
        Coverage::Missing => Err(m("check.calendar.missing")),
    }
}
