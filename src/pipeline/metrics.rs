//! What the gateway counts, and its live view of the requests it works
//! on: the figures behind `/metrics`, the dashboard and `mezhved status`.
//!
//! Results, acceptances and latencies are counted from the case store's
//! own changes ([`Ledger`] observes it), so the counters agree with what is
//! on disk: a result is counted when, and only when, it is written.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

use serde::Serialize;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::casefile::{Observer, State, StateRecord};
use crate::clock;
use crate::metrics::{CounterVec, HistogramVec, LATENCY_BUCKETS};
use crate::request::Kind;

/// The gateway's counters and histograms.
pub struct Metrics {
    pub accepted: CounterVec,
    pub refused: CounterVec,
    pub duplicates: CounterVec,
    pub results: CounterVec,
    pub replies: CounterVec,
    pub replies_unroutable: CounterVec,
    pub overdue: CounterVec,
    pub send_retries: CounterVec,
    pub smev_calls: CounterVec,
    pub smev_faults: CounterVec,
    pub signatures: CounterVec,
    pub handler_crashes: CounterVec,
    pub taken_over: CounterVec,
    pub answers_rejected: CounterVec,
    pub orphans: CounterVec,
    pub smev_statuses: CounterVec,
    pub adapter_calls: CounterVec,
    pub call_seconds: HistogramVec,
    pub register_calls: CounterVec,
    pub register_fallbacks: CounterVec,
    pub register_call_seconds: HistogramVec,
    pub answer_seconds: HistogramVec,
    pub end_to_end_seconds: HistogramVec,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics {
            accepted: CounterVec::new(
                "mezhved_requests_accepted_total",
                "Requests recorded in the case store, by kind.",
                &["kind"],
            ),
            refused: CounterVec::new(
                "mezhved_requests_refused_total",
                "Messages refused (to the dead-letter queue), by reason code.",
                &["code"],
            ),
            duplicates: CounterVec::new(
                "mezhved_requests_duplicate_total",
                "Deliveries of a request_id already recorded (redeliveries, second publishes).",
                &[],
            ),
            results: CounterVec::new(
                "mezhved_results_total",
                "Final results written, by kind and verdict (verdict=failed: manual fallback).",
                &["kind", "verdict"],
            ),
            replies: CounterVec::new(
                "mezhved_replies_total",
                "Replies confirmed by the broker.",
                &[],
            ),
            replies_unroutable: CounterVec::new(
                "mezhved_replies_unroutable_total",
                "Replies whose reply_to queue did not exist (sent to the results exchange instead).",
                &[],
            ),
            overdue: CounterVec::new(
                "mezhved_overdue_total",
                "Requests marked overdue (no answer by the due date), by kind.",
                &["kind"],
            ),
            send_retries: CounterVec::new(
                "mezhved_send_retries_total",
                "SendRequest attempts that failed and were scheduled again.",
                &[],
            ),
            smev_calls: CounterVec::new(
                "mezhved_smev_calls_total",
                "Calls to SMEV by operation and outcome (ok, soap_fault, http_<status>, timeout, connection, too_large).",
                &["operation", "outcome"],
            ),
            smev_faults: CounterVec::new(
                "mezhved_smev_faults_total",
                "SOAP faults from SMEV by operation, fault and how mezhved treats it (retry, permanent, …).",
                &["operation", "fault", "class"],
            ),
            signatures: CounterVec::new(
                "mezhved_signatures_total",
                "XMLDSig operations by operation (sign, verify) and result.",
                &["operation", "result"],
            ),
            handler_crashes: CounterVec::new(
                "mezhved_handler_crashes_total",
                "Deliveries whose handler crashed (returned to the queue).",
                &[],
            ),
            taken_over: CounterVec::new(
                "mezhved_requests_taken_over_total",
                "Requests taken over from instances that ended.",
                &[],
            ),
            answers_rejected: CounterVec::new(
                "mezhved_answers_rejected_total",
                "Answers from SMEV whose signature did not verify, by reason (unsigned, untrusted, altered, unverifiable): never stored, never read.",
                &["reason"],
            ),
            orphans: CounterVec::new(
                "mezhved_orphan_answers_total",
                "Verified answers for no known request, by outcome (stored, over_quota: left in SMEV).",
                &["outcome"],
            ),
            smev_statuses: CounterVec::new(
                "mezhved_smev_statuses_total",
                "Status messages taken from SMEV (GetStatus), by category.",
                &["category"],
            ),
            adapter_calls: CounterVec::new(
                "mezhved_adapter_calls_total",
                "Calls to the adapter interface by operation (Send, Get, Find) and outcome (ok, duplicate, validation_fault, system_fault).",
                &["operation", "outcome"],
            ),
            call_seconds: HistogramVec::new(
                "mezhved_smev_call_seconds",
                "Duration of one SOAP call to SMEV, by operation.",
                &["operation"],
                LATENCY_BUCKETS,
            ),
            register_calls: CounterVec::new(
                "mezhved_register_calls_total",
                "Calls to the registers' own sources (eis, minjust, their snapshots) by source and outcome (the verdict, unavailable, error).",
                &["source", "outcome"],
            ),
            register_fallbacks: CounterVec::new(
                "mezhved_register_fallbacks_total",
                "Lookups an online register source did not answer and its snapshot did, by online source.",
                &["source"],
            ),
            register_call_seconds: HistogramVec::new(
                "mezhved_register_call_seconds",
                "Duration of one lookup at a register's own source, by source.",
                &["source"],
                LATENCY_BUCKETS,
            ),
            answer_seconds: HistogramVec::new(
                "mezhved_answer_seconds",
                "From SMEV's SendingTimestamp to the agency's answer being stored, by kind.",
                &["kind"],
                LATENCY_BUCKETS,
            ),
            end_to_end_seconds: HistogramVec::new(
                "mezhved_end_to_end_seconds",
                "From a request being recorded to its result being written, by kind.",
                &["kind"],
                LATENCY_BUCKETS,
            ),
        }
    }
}

/// A request this instance works on, as operators see it.
#[derive(Clone, Debug, Serialize)]
pub struct Pending {
    pub request_id: Uuid,
    pub case_id: String,
    pub kind: Kind,
    pub state: State,
    #[serde(with = "clock::timestamp")]
    pub accepted_at: OffsetDateTime,
    #[serde(with = "clock::opt_date", skip_serializing_if = "Option::is_none")]
    pub due_date: Option<time::Date>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
}

/// Something an operator should see: a result that needs the officer's
/// fallback, or a refused message.
#[derive(Clone, Debug, Serialize)]
pub struct Notice {
    #[serde(with = "clock::timestamp")]
    pub at: OffsetDateTime,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub case_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kind: Option<Kind>,
    /// A verdict (`failed`, `rejected`…) or a refusal code.
    pub what: String,
    pub reason: String,
    /// The reason as the Russian dashboard shows it.
    pub reason_ru: String,
}

const RECENT: usize = 50;

/// The open requests of this instance and recent notices, kept from the
/// case store's changes.
pub struct Ledger {
    metrics: std::sync::Arc<Metrics>,
    open: Mutex<HashMap<Uuid, Pending>>,
    failures: Mutex<VecDeque<Notice>>,
    dead_letters: Mutex<VecDeque<Notice>>,
}

impl Ledger {
    pub fn new(metrics: std::sync::Arc<Metrics>) -> Self {
        Ledger {
            metrics,
            open: Mutex::new(HashMap::new()),
            failures: Mutex::new(VecDeque::new()),
            dead_letters: Mutex::new(VecDeque::new()),
        }
    }

    /// Open requests, oldest first.
    pub fn pending(&self) -> Vec<Pending> {
        let mut v: Vec<Pending> = self
            .open
            .lock()
            .expect("ledger lock")
            .values()
            .cloned()
            .collect();
        v.sort_by_key(|p| p.accepted_at);
        v
    }

    /// Recent results that need the officer's fallback, newest first.
    pub fn failures(&self) -> Vec<Notice> {
        newest_first(&self.failures)
    }

    /// Recently refused messages, newest first.
    pub fn dead_letters(&self) -> Vec<Notice> {
        newest_first(&self.dead_letters)
    }

    pub fn note_dead_letter(&self, why: &crate::request::Invalid) {
        let (field, message) = (&why.field, &why.message);
        push(
            &self.dead_letters,
            Notice {
                at: clock::now(),
                request_id: None,
                case_id: None,
                kind: None,
                what: why.code.to_string(),
                reason: if field.is_empty() {
                    message.to_owned()
                } else {
                    format!("{field}: {message}")
                },
                reason_ru: crate::i18n::refusal(crate::i18n::Lang::Ru, why.code, field),
            },
        );
    }

    /// Pushes a result that needs the officer's fallback.
    pub fn note_fallback(
        &self,
        rec: &StateRecord,
        verdict: &str,
        reason: String,
        reason_ru: String,
    ) {
        push(
            &self.failures,
            Notice {
                at: clock::now(),
                request_id: Some(rec.request_id.to_string()),
                case_id: Some(rec.case_id.clone()),
                kind: Some(rec.kind),
                what: verdict.to_owned(),
                reason,
                reason_ru,
            },
        );
    }
}

fn newest_first(q: &Mutex<VecDeque<Notice>>) -> Vec<Notice> {
    q.lock()
        .expect("ledger lock")
        .iter()
        .rev()
        .cloned()
        .collect()
}

fn push(q: &Mutex<VecDeque<Notice>>, n: Notice) {
    let mut q = q.lock().expect("ledger lock");
    if q.len() == RECENT {
        q.pop_front();
    }
    q.push_back(n);
}

fn seconds(from: OffsetDateTime, to: OffsetDateTime) -> f64 {
    (to - from).as_seconds_f64()
}

impl Observer for Ledger {
    fn changed(&self, before: Option<State>, after: &StateRecord) {
        let kind = after.kind.as_str();
        if before.is_none() && after.state == State::Accepted {
            self.metrics.accepted.inc(&[kind]);
        }
        // The answer came: stored alone (`answered`) or with its result.
        let was_waiting = before.is_some_and(|b| !b.is_final() && b != State::Answered);
        if was_waiting
            && (after.state == State::Answered || after.state.is_final())
            && let (Some(sent), Some(at)) = (after.sending_timestamp, after.answered_at)
        {
            self.metrics
                .answer_seconds
                .observe(&[kind], seconds(sent, at));
        }
        if after.state.is_final() {
            // Counted once: on the change that wrote the result.
            if before.is_some_and(|b| !b.is_final()) {
                let verdict = after.verdict.map(|v| v.to_string()).unwrap_or_default();
                self.metrics.results.inc(&[kind, &verdict]);
                if let Some(done) = after.completed_at {
                    self.metrics
                        .end_to_end_seconds
                        .observe(&[kind], seconds(after.accepted_at, done));
                }
            }
            self.open
                .lock()
                .expect("ledger lock")
                .remove(&after.request_id);
            return;
        }
        self.open.lock().expect("ledger lock").insert(
            after.request_id,
            Pending {
                request_id: after.request_id,
                case_id: after.case_id.clone(),
                kind: after.kind,
                state: after.state,
                accepted_at: after.accepted_at,
                due_date: after.due_date,
                last_error: after.last_error.clone(),
            },
        );
    }
}

/// Age bands of pending requests, for `mezhved_pending_requests`.
pub const AGE_BANDS: [(&str, i64); 5] = [
    ("under_1m", 60),
    ("1m_to_1h", 3_600),
    ("1h_to_1d", 86_400),
    ("1d_to_5d", 5 * 86_400),
    ("over_5d", i64::MAX),
];

/// The band of an age in seconds.
pub fn age_band(secs: i64) -> &'static str {
    AGE_BANDS
        .iter()
        .find(|(_, upper)| secs < *upper)
        .map(|(n, _)| *n)
        .unwrap_or("over_5d")
}
