//! The last hour of the gateway, sampled, for the dashboard's charts.

use std::collections::VecDeque;
use std::sync::Mutex;

use serde::Serialize;

use crate::metrics::HistogramData;
use crate::pipeline::Gateway;
use crate::transport::QueueStat;

/// One sample: counters as they stood, queue depths, and latency over the
/// interval since the previous sample.
#[derive(Clone, Debug, Serialize)]
pub struct Sample {
    /// Unix time, seconds.
    pub t: i64,
    pub accepted: u64,
    pub results: u64,
    pub failed: u64,
    pub refused: u64,
    pub requests_queue: u64,
    pub dead_queue: u64,
    pub replies_queue: u64,
    pub pending: u64,
    pub overdue: u64,
    /// End-to-end latency of the results written in the interval (s).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub p50_secs: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub p99_secs: Option<f64>,
}

/// Samples kept for `keep` entries.
pub struct History {
    samples: Mutex<VecDeque<Sample>>,
    last_latency: Mutex<HistogramData>,
    keep: usize,
}

impl History {
    pub fn new(keep: usize) -> Self {
        History {
            samples: Mutex::new(VecDeque::new()),
            last_latency: Mutex::new(HistogramData::default()),
            keep: keep.max(2),
        }
    }

    pub fn take(&self, gw: &Gateway, queues: &[QueueStat]) {
        let m = &gw.metrics;
        let depth = |role: &str| {
            queues
                .iter()
                .find(|q| q.role == role)
                .map(|q| q.messages)
                .unwrap_or(0)
        };
        let pending = gw.ledger.pending();
        let latency = m.end_to_end_seconds.merged();
        let interval = {
            let mut last = self.last_latency.lock().expect("history lock");
            let d = latency.since(&last);
            *last = latency;
            d
        };
        let bounds = m.end_to_end_seconds.bounds();
        let failed: u64 = m
            .results
            .snapshot()
            .iter()
            .filter(|(k, _)| k.get(1).is_some_and(|v| v == "failed"))
            .map(|(_, v)| v)
            .sum();
        let sample = Sample {
            t: crate::clock::now().unix_timestamp(),
            accepted: m.accepted.total(),
            results: m.results.total(),
            failed,
            refused: m.refused.total(),
            requests_queue: depth("requests"),
            dead_queue: depth("dead"),
            replies_queue: depth("replies"),
            pending: pending.len() as u64,
            overdue: pending
                .iter()
                .filter(|p| p.state == crate::casefile::State::Overdue)
                .count() as u64,
            p50_secs: interval.quantile(bounds, 0.5),
            p99_secs: interval.quantile(bounds, 0.99),
        };
        let mut s = self.samples.lock().expect("history lock");
        if s.len() == self.keep {
            s.pop_front();
        }
        s.push_back(sample);
    }

    pub fn samples(&self) -> Vec<Sample> {
        self.samples
            .lock()
            .expect("history lock")
            .iter()
            .cloned()
            .collect()
    }
}
