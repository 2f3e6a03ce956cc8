//! `/metrics`: the gateway's counters and histograms, and gauges computed
//! now from its live state and the last readiness round.

use crate::clock;
use crate::metrics::Exposition;
use crate::pipeline::Gateway;
use crate::pipeline::metrics::{AGE_BANDS, age_band};

use super::checks::Check;
use crate::transport::QueueStat;

pub fn render(gw: &Gateway, checks: &[Check], queues: &[QueueStat]) -> String {
    let m = &gw.metrics;
    let mut e = Exposition::default();
    e.gauge(
        "mezhved_up",
        "1 while the gateway runs.",
        &[],
        [(vec![], 1.0)],
    );
    e.gauge(
        "mezhved_build_info",
        "The running version.",
        &["version"],
        [(vec![env!("CARGO_PKG_VERSION").to_owned()], 1.0)],
    );
    for c in [
        &m.accepted,
        &m.refused,
        &m.duplicates,
        &m.results,
        &m.replies,
        &m.replies_unroutable,
        &m.overdue,
        &m.send_retries,
        &m.smev_calls,
        &m.smev_faults,
        &m.signatures,
        &m.handler_crashes,
        &m.taken_over,
        &m.answers_rejected,
        &m.orphans,
        &m.smev_statuses,
        &m.adapter_calls,
        &m.register_calls,
        &m.register_fallbacks,
    ] {
        e.counter(c);
    }
    let paused = gw.store_gate().failing().is_some();
    e.gauge(
        "mezhved_store_paused",
        "1 while the case store cannot write (intake paused, work held).",
        &[],
        [(vec![], if paused { 1.0 } else { 0.0 })],
    );
    e.counter_value(
        "mezhved_store_write_failures_total",
        "Case-store writes that failed because the store could not write (held and tried again).",
        gw.store_gate().failures(),
    );
    let (count, bytes) = gw.orphan_usage();
    e.gauge(
        "mezhved_orphans_stored",
        "Answers for no known request kept in .orphans (limits.orphan_max_count).",
        &[],
        [(vec![], count as f64)],
    );
    e.gauge(
        "mezhved_orphans_stored_bytes",
        "Bytes of the answers kept in .orphans (limits.orphan_max_bytes).",
        &[],
        [(vec![], bytes as f64)],
    );
    let (flushes, waits) = gw.store().flush_stats();
    e.counter_value(
        "mezhved_store_flushes_total",
        "Group flushes (syncfs) of the case store's filesystem.",
        flushes,
    );
    e.counter_value(
        "mezhved_store_durability_waits_total",
        "Waits for durability the flushes served (more waits than flushes: shared flushes).",
        waits,
    );
    for h in [
        &m.call_seconds,
        &m.register_call_seconds,
        &m.answer_seconds,
        &m.end_to_end_seconds,
    ] {
        e.histogram(h);
    }

    // Pending requests of this instance by kind, state and age band; every
    // band of a kind and state present is written, zeros included, so that
    // a band emptying shows as 0 rather than disappearing.
    let now = clock::now();
    let pending = gw.ledger.pending();
    let mut by: std::collections::BTreeMap<(String, String, &str), u64> = Default::default();
    let mut oldest: std::collections::BTreeMap<String, f64> = Default::default();
    for p in &pending {
        let age = (now - p.accepted_at).whole_seconds();
        let (kind, state) = (p.kind.as_str().to_owned(), p.state.as_str().to_owned());
        for (band, _) in AGE_BANDS {
            by.entry((kind.clone(), state.clone(), band)).or_default();
        }
        *by.entry((kind.clone(), state, age_band(age))).or_default() += 1;
        let o = oldest.entry(kind).or_default();
        *o = o.max(age as f64);
    }
    e.gauge(
        "mezhved_pending_requests",
        "Requests of this instance without a result, by kind, state and age since accepted.",
        &["kind", "state", "age"],
        by.into_iter()
            .map(|((k, s, a), n)| (vec![k, s, a.to_owned()], n as f64)),
    );
    e.gauge(
        "mezhved_pending_oldest_seconds",
        "Age of the oldest request without a result, by kind.",
        &["kind"],
        oldest.into_iter().map(|(k, v)| (vec![k], v)),
    );
    let overdue = pending
        .iter()
        .filter(|p| p.state == crate::casefile::State::Overdue)
        .count();
    e.gauge(
        "mezhved_overdue_requests",
        "Requests still waiting past their due date.",
        &[],
        [(vec![], overdue as f64)],
    );
    let retrying = pending
        .iter()
        .filter(|p| p.state == crate::casefile::State::Retrying)
        .count();
    let mut depths: Vec<(Vec<String>, f64)> = queues
        .iter()
        .map(|q| (vec![q.role.to_owned()], q.messages as f64))
        .collect();
    depths.push((vec!["retrying".into()], retrying as f64));
    e.gauge(
        "mezhved_queue_messages",
        "Messages waiting: the broker's requests, dead and replies queues (at the last check), and requests waiting to retry a send.",
        &["queue"],
        depths,
    );
    e.gauge(
        "mezhved_queue_consumers",
        "Consumers of the broker's queues (at the last check).",
        &["queue"],
        queues
            .iter()
            .map(|q| (vec![q.role.to_owned()], q.consumers as f64)),
    );
    // One breaker per endpoint: SMEV's and each register source's.
    let mut breakers = vec![(
        crate::config::redact_url(gw.client().endpoint()),
        gw.client().breaker().state(),
    )];
    for s in gw.sources().all() {
        if let Some(b) = s.breaker() {
            breakers.push((s.route().as_str().to_owned(), b.state()));
        }
    }
    e.gauge(
        "mezhved_circuit_breaker_state",
        "The circuit breaker of each endpoint (SMEV's, and each register source's by route): 1 for its current state.",
        &["endpoint", "state"],
        breakers.iter().flat_map(|(endpoint, current)| {
            [
                crate::provider::BreakerState::Closed,
                crate::provider::BreakerState::HalfOpen,
                crate::provider::BreakerState::Open,
            ]
            .into_iter()
            .map(move |s| {
                (
                    vec![endpoint.clone(), s.as_str().to_owned()],
                    f64::from(u8::from(s == *current)),
                )
            })
        }),
    );
    let key = gw.key();
    let mut certs = vec![(
        vec!["signing".to_owned(), key.subject()],
        key.validity().days_left(now),
    )];
    if let Some(p) = gw.personal_key() {
        certs.push((
            vec!["personal".to_owned(), p.subject()],
            p.validity().days_left(now),
        ));
    }
    for (subject, v) in gw.trust().certificates() {
        certs.push((vec!["smev_trust".to_owned(), subject], v.days_left(now)));
    }
    e.gauge(
        "mezhved_certificate_expiry_days",
        "Days until each certificate expires (negative: expired).",
        &["role", "subject"],
        certs
            .into_iter()
            .map(|(l, d)| (l, (d * 100.0).round() / 100.0)),
    );
    e.gauge(
        "mezhved_ready",
        "Readiness checks: 1 passing, 0 failing (at the last check).",
        &["check"],
        checks
            .iter()
            .map(|c| (vec![c.name.to_owned()], f64::from(u8::from(c.ok)))),
    );
    if let Some(r) = gw.smev_queues.lock().expect("queue reading lock").clone() {
        e.gauge(
            "mezhved_smev_queue_messages",
            "Messages SMEV holds for this system, by SMEV's queue (GetIncomingQueueStatistics, at the last reading).",
            &["queue"],
            r.queues
                .iter()
                .map(|q| (vec![q.queue_name.clone()], q.pending_messages as f64)),
        );
        e.gauge(
            "mezhved_smev_queue_reading_age_seconds",
            "Seconds since SMEV's queue statistics were last read.",
            &[],
            [(vec![], (now - r.at).as_seconds_f64().max(0.0))],
        );
    }
    e.gauge(
        "mezhved_tasks_in_flight",
        "Tasks working now (handling deliveries, sending, replying).",
        &[],
        [(vec![], gw.tasks_in_flight() as f64)],
    );
    e.finish()
}
