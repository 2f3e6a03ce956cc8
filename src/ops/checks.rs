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
    pub detail: String,
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

fn check(name: &'static str, required: bool, result: Result<String, String>) -> Check {
    let now = clock::now();
    let (ok, detail) = match result {
        Ok(d) => (true, d),
        Err(d) => (false, d),
    };
    Check {
        name,
        ok,
        required,
        detail,
        checked_at: now,
        since: now,
    }
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
    let writable = tokio::time::timeout(
        Duration::from_secs(5),
        tokio::task::spawn_blocking(move || store.check_writable()),
    )
    .await;
    let case_store = check(
        "case_store",
        true,
        match writable {
            Ok(Ok(Ok(()))) => Ok(format!("{} is writable", gw.store().root().display())),
            Ok(Ok(Err(e))) => Err(format!("cannot write: {e}")),
            Ok(Err(e)) => Err(format!("the check crashed: {e}")),
            Err(_) => Err("a write did not finish within 5 s".into()),
        },
    );
    let signing = check("signing_key", true, signing_key(gw, warn_days));
    let smev = check("smev", true, smev(gw, probe_timeout).await);
    let trust = check("smev_trust", true, trust(gw, warn_days));
    let calendar = check("calendar", false, calendar(gw));
    let registers = check("registers", false, gw.sources().readiness());
    Round {
        checks: vec![
            broker, case_store, signing, smev, trust, calendar, registers,
        ],
        queues: health.queues,
    }
}

fn expiry(
    what: &str,
    subject: &str,
    v: crate::xmldsig::Validity,
    warn_days: u32,
) -> Result<String, String> {
    let now = clock::now();
    let until = v
        .not_after
        .map(clock::rfc3339)
        .unwrap_or_else(|| "?".into());
    if v.not_before.is_some_and(|t| now < t) {
        return Err(format!(
            "{what} {subject} is not valid yet (from {})",
            v.not_before.map(clock::rfc3339).unwrap_or_default()
        ));
    }
    if !v.covers(now) {
        return Err(format!(
            "{what} {subject} expired at {until}: SMEV refuses its signatures; install a renewed certificate (it is picked up without a restart)"
        ));
    }
    let days = v.days_left(now);
    if days < f64::from(warn_days) {
        Ok(format!(
            "{what} {subject} valid until {until}: {days:.0} days left, renew it soon"
        ))
    } else {
        Ok(format!(
            "{what} {subject} valid until {until} ({days:.0} days left)"
        ))
    }
}

fn signing_key(gw: &Gateway, warn_days: u32) -> Result<String, String> {
    let reloaded = gw.reload_key()?;
    let key = gw.key();
    let mut detail = expiry(
        &format!("{} certificate", key.algorithm()),
        &key.subject(),
        key.validity(),
        warn_days,
    )?;
    if let Some(p) = gw.personal_key() {
        detail.push_str("; ");
        detail.push_str(&expiry(
            "personal (ЭП-СП) certificate",
            &p.subject(),
            p.validity(),
            warn_days,
        )?);
    }
    if reloaded {
        detail.push_str("; reloaded from its files");
    }
    Ok(detail)
}

async fn smev(gw: &Gateway, limit: Duration) -> Result<String, String> {
    let client = gw.client();
    let endpoint = crate::config::redact_url(client.endpoint());
    client
        .probe(limit)
        .await
        .map_err(|e| format!("{endpoint}: {e}"))?;
    match client.breaker().state() {
        BreakerState::Open => Err(format!(
            "{endpoint} answers again, but the circuit is open after failed calls: requests wait for its next probe"
        )),
        s => Ok(format!("{endpoint} answers; circuit {}", s.as_str())),
    }
}

fn trust(gw: &Gateway, warn_days: u32) -> Result<String, String> {
    let now = clock::now();
    let certs = gw.trust().certificates();
    let valid: Vec<_> = certs.iter().filter(|(_, v)| v.covers(now)).collect();
    if valid.is_empty() {
        return Err(format!(
            "none of the {} certificates in smev.trust is valid now: SMEV answers cannot be verified",
            certs.len()
        ));
    }
    let soon: Vec<String> = valid
        .iter()
        .filter(|(_, v)| v.days_left(now) < f64::from(warn_days))
        .map(|(s, v)| format!("{s} ({:.0} days left)", v.days_left(now)))
        .collect();
    Ok(if soon.is_empty() {
        format!(
            "{} of {} trusted certificates valid",
            valid.len(),
            certs.len()
        )
    } else {
        format!(
            "{} of {} trusted certificates valid; expiring soon: {}",
            valid.len(),
            certs.len(),
            soon.join(", ")
        )
    })
}

fn calendar(gw: &Gateway) -> Result<String, String> {
    let year = clock::moscow_today().year();
    match gw.calendar().coverage(year) {
        Coverage::Decree => Ok(format!("{year} is covered by the Government's decree")),
        Coverage::RuleOnly => Err(format!(
            "{year} has no decree in the calendar yet: deadlines follow the Labour Code's rule alone; add the decree to the calendar file"
        )),
        Coverage::Missing => Err(format!(
            "{year} is not in the calendar: deadlines follow the Labour Code's rule alone; add the year to the calendar file"
        )),
    }
}
