//! Counters, histograms and their Prometheus text exposition (format
//! 0.0.4). Small on purpose: labelled counters and histograms kept in
//! memory, gauges computed when scraped.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;

/// A counter family: one value per set of label values.
#[derive(Debug)]
pub struct CounterVec {
    name: &'static str,
    help: &'static str,
    labels: &'static [&'static str],
    values: Mutex<BTreeMap<Vec<String>, u64>>,
}

impl CounterVec {
    pub const fn new(
        name: &'static str,
        help: &'static str,
        labels: &'static [&'static str],
    ) -> Self {
        CounterVec {
            name,
            help,
            labels,
            values: Mutex::new(BTreeMap::new()),
        }
    }

    pub fn inc(&self, labels: &[&str]) {
        self.add(labels, 1);
    }

    pub fn add(&self, labels: &[&str], n: u64) {
        debug_assert_eq!(labels.len(), self.labels.len(), "{}", self.name);
        let key: Vec<String> = labels.iter().map(|s| (*s).to_owned()).collect();
        *self
            .values
            .lock()
            .expect("metrics lock")
            .entry(key)
            .or_default() += n;
    }

    /// The value for these labels (0 if never counted).
    pub fn get(&self, labels: &[&str]) -> u64 {
        let key: Vec<String> = labels.iter().map(|s| (*s).to_owned()).collect();
        self.values
            .lock()
            .expect("metrics lock")
            .get(&key)
            .copied()
            .unwrap_or(0)
    }

    /// The sum over all label values.
    pub fn total(&self) -> u64 {
        self.values.lock().expect("metrics lock").values().sum()
    }

    /// Every label set with its value.
    pub fn snapshot(&self) -> Vec<(Vec<String>, u64)> {
        self.values
            .lock()
            .expect("metrics lock")
            .iter()
            .map(|(k, v)| (k.clone(), *v))
            .collect()
    }
}

/// Bucket bounds (seconds) from 5 ms to 5 days: a SendRequest takes
/// milliseconds, an agency's answer up to 5 working days.
pub const LATENCY_BUCKETS: &[f64] = &[
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 1800.0,
    3600.0, 21600.0, 86400.0, 259200.0, 432000.0,
];

#[derive(Clone, Debug, Default)]
pub struct HistogramData {
    /// Per bucket, not cumulative; one more than the bounds (+Inf).
    pub counts: Vec<u64>,
    pub sum: f64,
    pub count: u64,
}

impl HistogramData {
    /// The `q` quantile (0–1) estimated from the buckets (linear within
    /// the bucket, as Prometheus' `histogram_quantile` does).
    pub fn quantile(&self, bounds: &[f64], q: f64) -> Option<f64> {
        if self.count == 0 {
            return None;
        }
        let rank = q * self.count as f64;
        let mut seen = 0u64;
        for (i, c) in self.counts.iter().enumerate() {
            let before = seen;
            seen += c;
            if seen as f64 >= rank && *c > 0 {
                let lower = if i == 0 { 0.0 } else { bounds[i - 1] };
                let Some(upper) = bounds.get(i) else {
                    return Some(lower);
                };
                let within = (rank - before as f64) / *c as f64;
                return Some(lower + (upper - lower) * within.clamp(0.0, 1.0));
            }
        }
        bounds.last().copied()
    }

    /// What was observed since `earlier`.
    pub fn since(&self, earlier: &HistogramData) -> HistogramData {
        HistogramData {
            counts: self
                .counts
                .iter()
                .enumerate()
                .map(|(i, c)| c - earlier.counts.get(i).copied().unwrap_or(0))
                .collect(),
            sum: self.sum - earlier.sum,
            count: self.count - earlier.count,
        }
    }
}

/// A histogram family.
#[derive(Debug)]
pub struct HistogramVec {
    name: &'static str,
    help: &'static str,
    labels: &'static [&'static str],
    bounds: &'static [f64],
    values: Mutex<BTreeMap<Vec<String>, HistogramData>>,
}

impl HistogramVec {
    pub const fn new(
        name: &'static str,
        help: &'static str,
        labels: &'static [&'static str],
        bounds: &'static [f64],
    ) -> Self {
        HistogramVec {
            name,
            help,
            labels,
            bounds,
            values: Mutex::new(BTreeMap::new()),
        }
    }

    pub fn observe(&self, labels: &[&str], v: f64) {
        let v = if v.is_finite() { v.max(0.0) } else { 0.0 };
        let key: Vec<String> = labels.iter().map(|s| (*s).to_owned()).collect();
        let mut values = self.values.lock().expect("metrics lock");
        let h = values.entry(key).or_insert_with(|| HistogramData {
            counts: vec![0; self.bounds.len() + 1],
            ..Default::default()
        });
        let i = self.bounds.partition_point(|b| *b < v);
        h.counts[i] += 1;
        h.sum += v;
        h.count += 1;
    }

    pub fn bounds(&self) -> &'static [f64] {
        self.bounds
    }

    /// All label sets merged.
    pub fn merged(&self) -> HistogramData {
        let mut out = HistogramData {
            counts: vec![0; self.bounds.len() + 1],
            ..Default::default()
        };
        for h in self.values.lock().expect("metrics lock").values() {
            for (o, c) in out.counts.iter_mut().zip(&h.counts) {
                *o += c;
            }
            out.sum += h.sum;
            out.count += h.count;
        }
        out
    }
}

/// Text in the Prometheus exposition format.
#[derive(Default)]
pub struct Exposition {
    out: String,
}

fn escape(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

fn labels(names: &[&str], values: &[String], extra: Option<(&str, &str)>) -> String {
    let mut parts: Vec<String> = names
        .iter()
        .zip(values)
        .map(|(n, v)| format!("{n}=\"{}\"", escape(v)))
        .collect();
    if let Some((n, v)) = extra {
        parts.push(format!("{n}=\"{}\"", escape(v)));
    }
    if parts.is_empty() {
        String::new()
    } else {
        format!("{{{}}}", parts.join(","))
    }
}

fn number(v: f64) -> String {
    if v.is_infinite() {
        if v > 0.0 { "+Inf" } else { "-Inf" }.to_owned()
    } else if v == v.trunc() && v.abs() < 1e15 {
        format!("{}", v as i64)
    } else {
        format!("{v}")
    }
}

impl Exposition {
    fn header(&mut self, name: &str, help: &str, kind: &str) {
        let _ = writeln!(self.out, "# HELP {name} {}", help.replace('\n', " "));
        let _ = writeln!(self.out, "# TYPE {name} {kind}");
    }

    pub fn counter(&mut self, c: &CounterVec) {
        self.header(c.name, c.help, "counter");
        let snap = c.snapshot();
        if snap.is_empty() && c.labels.is_empty() {
            let _ = writeln!(self.out, "{} 0", c.name);
        }
        for (k, v) in snap {
            let _ = writeln!(self.out, "{}{} {v}", c.name, labels(c.labels, &k, None));
        }
    }

    pub fn histogram(&mut self, h: &HistogramVec) {
        self.header(h.name, h.help, "histogram");
        let values = h.values.lock().expect("metrics lock").clone();
        for (k, data) in values {
            let mut cumulative = 0;
            for (i, c) in data.counts.iter().enumerate() {
                cumulative += c;
                let le = h.bounds.get(i).copied().unwrap_or(f64::INFINITY);
                let _ = writeln!(
                    self.out,
                    "{}_bucket{} {cumulative}",
                    h.name,
                    labels(h.labels, &k, Some(("le", &number(le))))
                );
            }
            let l = labels(h.labels, &k, None);
            let _ = writeln!(self.out, "{}_sum{l} {}", h.name, number(data.sum));
            let _ = writeln!(self.out, "{}_count{l} {}", h.name, data.count);
        }
    }

    /// A counter kept elsewhere, without labels.
    pub fn counter_value(&mut self, name: &str, help: &str, v: u64) {
        self.header(name, help, "counter");
        let _ = writeln!(self.out, "{name} {v}");
    }

    /// A gauge with its samples (label values in `names` order).
    pub fn gauge(
        &mut self,
        name: &str,
        help: &str,
        names: &[&str],
        samples: impl IntoIterator<Item = (Vec<String>, f64)>,
    ) {
        self.header(name, help, "gauge");
        for (k, v) in samples {
            let _ = writeln!(self.out, "{name}{} {}", labels(names, &k, None), number(v));
        }
    }

    pub fn finish(self) -> String {
        self.out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_and_histograms_render_in_the_text_format() {
        let c = CounterVec::new("x_total", "Things.", &["kind"]);
        c.inc(&["a\"b"]);
        c.add(&["c"], 2);
        let h = HistogramVec::new("lat_seconds", "Latency.", &[], &[0.1, 1.0]);
        h.observe(&[], 0.05);
        h.observe(&[], 0.5);
        h.observe(&[], 7.0);
        let mut e = Exposition::default();
        e.counter(&c);
        e.histogram(&h);
        e.gauge("g", "A gauge.", &["q"], [(vec!["r".into()], 1.5)]);
        let text = e.finish();
        assert!(text.contains("x_total{kind=\"a\\\"b\"} 1\n"), "{text}");
        assert!(text.contains("x_total{kind=\"c\"} 2\n"));
        assert!(text.contains("lat_seconds_bucket{le=\"0.1\"} 1\n"));
        assert!(text.contains("lat_seconds_bucket{le=\"1\"} 2\n"));
        assert!(text.contains("lat_seconds_bucket{le=\"+Inf\"} 3\n"));
        assert!(text.contains("lat_seconds_count 3\n"));
        assert!(text.contains("lat_seconds_sum 7.55\n"));
        assert!(text.contains("# TYPE g gauge\ng{q=\"r\"} 1.5\n"));
        assert_eq!(c.total(), 3);
    }

    #[test]
    fn quantiles_come_from_the_buckets() {
        let h = HistogramVec::new("h", "h", &[], &[1.0, 2.0, 4.0]);
        for v in [0.5, 1.5, 1.5, 3.0] {
            h.observe(&[], v);
        }
        let d = h.merged();
        assert_eq!(d.quantile(h.bounds(), 0.5), Some(1.5));
        assert_eq!(d.quantile(h.bounds(), 1.0), Some(4.0));
        let before = d.clone();
        h.observe(&[], 10.0);
        let delta = h.merged().since(&before);
        assert_eq!(delta.count, 1);
        assert_eq!(delta.quantile(h.bounds(), 0.99), Some(4.0));
        assert_eq!(HistogramData::default().quantile(h.bounds(), 0.5), None);
    }
}
