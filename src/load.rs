//! Load runs: synthetic requests a case system could publish, and the
//! tally of what came back — throughput, latency from publish to reply,
//! and the counts that prove nothing was lost or done twice.
//!
//! The network side (publishing, consuming replies) is `mezhved load`;
//! this module holds what can be checked without a broker.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use serde::Serialize;
use serde_json::json;
use uuid::Uuid;

use crate::request::Kind;
use crate::request::ident::synthetic;

/// The four lookups the Leningrad region's assessment of a non-profit
/// makes for every application: the default mix of a load run.
pub const APPLICATION_KINDS: [Kind; 4] = [
    Kind::Egrul,
    Kind::TaxDebt,
    Kind::UnreliableSupplier,
    Kind::ForeignAgent,
];

/// Parses `--kinds`: a comma-separated list of kinds, `application` (the
/// four lookups of one application) or `all`.
pub fn parse_kinds(s: &str) -> Result<Vec<Kind>, String> {
    let mut out = Vec::new();
    for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        match part {
            "all" => out.extend(Kind::ALL),
            "application" => out.extend(APPLICATION_KINDS),
            k => out.push(Kind::parse(k).ok_or_else(|| {
                format!(
                    "unknown kind {k:?}; one of {}, application, all",
                    Kind::ALL.map(Kind::as_str).join(", ")
                )
            })?),
        }
    }
    if out.is_empty() {
        return Err("name at least one kind".into());
    }
    Ok(out)
}

/// Requests of one run: request `n` asks about a synthetic subject of
/// `kinds[n % kinds.len()]`; every `per_case` requests share a case (four
/// by default, as the lookups of one application do; more for a body
/// that keeps one case per applicant and checks it again and again).
#[derive(Clone, Debug)]
pub struct Plan {
    /// Distinguishes this run's case ids (`LOAD-<run>-<n>`) and subjects.
    pub run: String,
    pub kinds: Vec<Kind>,
    /// Requests per case.
    pub per_case: u64,
    seed: u64,
}

impl Plan {
    pub fn new(kinds: Vec<Kind>) -> Plan {
        let run = Uuid::new_v4().simple().to_string()[..8].to_owned();
        let seed = u64::from_str_radix(&run, 16).unwrap_or(0) % 1_000 * 10_000_000;
        Plan {
            run,
            kinds,
            per_case: 4,
            seed,
        }
    }

    /// The same plan with `n` requests per case (at least one).
    pub fn per_case(mut self, n: u64) -> Plan {
        self.per_case = n.max(1);
        self
    }

    /// The prefix of every case id of this run.
    pub fn case_prefix(&self) -> String {
        format!("LOAD-{}-", self.run)
    }

    /// Request `n`: its id and body.
    pub fn request(&self, n: u64) -> (Uuid, Vec<u8>) {
        let kind = self.kinds[(n % self.kinds.len() as u64) as usize];
        let id = Uuid::new_v4();
        let s = self.seed + n;
        let subject = match kind {
            Kind::Egrul if n.is_multiple_of(2) => json!({ "ogrn": synthetic::ogrn(s).as_str() }),
            // `--kinds` takes lookups only (Kind::parse).
            Kind::Egrul | Kind::TaxDebt | Kind::UnreliableSupplier | Kind::Vs => {
                json!({ "inn": synthetic::inn_legal(s).as_str() })
            }
            Kind::Egrip => json!({ "ogrnip": synthetic::ogrnip(s).as_str() }),
            Kind::ForeignAgent if n.is_multiple_of(3) => {
                json!({ "snils": synthetic::snils(s).as_str() })
            }
            Kind::ForeignAgent => json!({ "inn": synthetic::inn_individual(s).as_str() }),
        };
        let body = json!({
            "request_id": id.to_string(),
            "case_id": format!("{}{}", self.case_prefix(), n / self.per_case),
            "kind": kind.as_str(),
            "subject": subject,
            "test": true,
            "details": {
                "requesting_body": {
                    "name": "Комитет по труду и занятости населения Ленинградской области",
                    "inn": "4704987655",
                    "ogrn": "1154704007776"
                },
                "service": {
                    "name": "Оценка качества оказания общественно полезных услуг СО НКО",
                    "registry_number": "4700000010000057612"
                },
                "legal_basis": {
                    "act": "Постановление Правительства РФ от 26.01.2017 № 89",
                    "article": "п. 6 Правил"
                },
                "official": {
                    "name": "Иванова Мария Петровна",
                    "position": "главный специалист",
                    "phone": "+7 (812) 539-41-54"
                },
                "applicant_consent": true
            }
        });
        (id, serde_json::to_vec(&body).expect("requests serialise"))
    }
}

/// What happened to one request of the run.
#[derive(Debug)]
struct Track {
    published_at: Instant,
    /// Latency and body of the first reply.
    first: Option<(Duration, Vec<u8>)>,
    replies: u32,
    /// Later replies whose body differs from the first.
    differing: u32,
}

/// The tally of a run, fed as requests are published and replies arrive.
#[derive(Debug, Default)]
pub struct Tally {
    tracks: HashMap<Uuid, Track>,
    verdicts: HashMap<String, u64>,
    /// Replies that name no request of this run.
    strangers: u64,
    started: Option<Instant>,
    last_publish: Option<Instant>,
    last_first_reply: Option<Instant>,
}

impl Tally {
    pub fn published(&mut self, id: Uuid, at: Instant) {
        self.started.get_or_insert(at);
        self.last_publish = Some(at);
        self.tracks.entry(id).or_insert(Track {
            published_at: at,
            first: None,
            replies: 0,
            differing: 0,
        });
    }

    /// A reply body arrived at `at`.
    pub fn reply(&mut self, body: &[u8], at: Instant) {
        let parsed: Option<(Uuid, String)> = serde_json::from_slice::<serde_json::Value>(body)
            .ok()
            .and_then(|v| {
                let id = Uuid::parse_str(v.get("request_id")?.as_str()?).ok()?;
                let verdict = v.get("verdict")?.as_str()?.to_owned();
                Some((id, verdict))
            });
        let Some((id, verdict)) = parsed else {
            self.strangers += 1;
            return;
        };
        let Some(t) = self.tracks.get_mut(&id) else {
            self.strangers += 1;
            return;
        };
        t.replies += 1;
        match &t.first {
            None => {
                t.first = Some((at.saturating_duration_since(t.published_at), body.to_vec()));
                *self.verdicts.entry(verdict).or_default() += 1;
                self.last_first_reply = Some(at);
            }
            Some((_, first)) if first != body => t.differing += 1,
            Some(_) => {}
        }
    }

    pub fn published_count(&self) -> u64 {
        self.tracks.len() as u64
    }

    /// Requests with at least one reply.
    pub fn answered_count(&self) -> u64 {
        self.tracks.values().filter(|t| t.first.is_some()).count() as u64
    }

    pub fn ids(&self) -> impl Iterator<Item = &Uuid> {
        self.tracks.keys()
    }

    /// The report, with the case-store and SMEV checks when they were made.
    pub fn report(&self, store: Option<Check>, smev: Option<Check>) -> Report {
        let mut lat: Vec<Duration> = self
            .tracks
            .values()
            .filter_map(|t| t.first.as_ref().map(|(d, _)| *d))
            .collect();
        lat.sort_unstable();
        let published = self.published_count();
        let answered = self.answered_count();
        let replies: u64 = self.tracks.values().map(|t| u64::from(t.replies)).sum();
        let span = |end: Option<Instant>| match (self.started, end) {
            (Some(s), Some(e)) => e.saturating_duration_since(s).as_secs_f64(),
            _ => 0.0,
        };
        let elapsed = span(self.last_first_reply);
        let publish_secs = span(self.last_publish);
        let rate = |n: u64, secs: f64| if secs > 0.0 { n as f64 / secs } else { 0.0 };
        let ms = |d: Duration| (d.as_secs_f64() * 1e6).round() / 1e3;
        let latency = (!lat.is_empty()).then(|| Latency {
            p50_ms: ms(percentile(&lat, 50.0)),
            p90_ms: ms(percentile(&lat, 90.0)),
            p99_ms: ms(percentile(&lat, 99.0)),
            max_ms: ms(*lat.last().expect("not empty")),
            mean_ms: ms(lat.iter().sum::<Duration>() / lat.len() as u32),
        });
        let lost = published - answered;
        let repeated = replies - answered;
        let differing: u64 = self.tracks.values().map(|t| u64::from(t.differing)).sum();
        let ok = lost == 0
            && differing == 0
            && store.as_ref().is_none_or(Check::clean)
            && smev.as_ref().is_none_or(Check::clean);
        let mut verdicts: Vec<(String, u64)> =
            self.verdicts.iter().map(|(k, v)| (k.clone(), *v)).collect();
        verdicts.sort();
        Report {
            ok,
            published,
            replied: answered,
            lost,
            repeated_replies: repeated,
            differing_replies: differing,
            stray_replies: self.strangers,
            elapsed_secs: round3(elapsed),
            publish_rate: round3(rate(published, publish_secs)),
            throughput: round3(rate(answered, elapsed)),
            latency,
            verdicts: verdicts.into_iter().collect(),
            store,
            smev,
        }
    }
}

fn round3(v: f64) -> f64 {
    (v * 1e3).round() / 1e3
}

/// The `p`th percentile of sorted values (nearest rank).
pub fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// A count per request id from somewhere other than the replies: the case
/// store (final results) or SMEV (accepted `SendRequest`s).
#[derive(Clone, Debug, Serialize)]
pub struct Check {
    /// Requests of the run looked for.
    pub checked: u64,
    /// With none.
    pub missing: u64,
    /// With more than one.
    pub duplicated: u64,
    /// A few of the ids concerned, for a person to look at.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub examples: Vec<String>,
}

impl Check {
    /// Counts `counts` (per request id) for each of `ids`.
    pub fn of<'a>(ids: impl Iterator<Item = &'a Uuid>, counts: &HashMap<String, u64>) -> Check {
        let mut c = Check {
            checked: 0,
            missing: 0,
            duplicated: 0,
            examples: Vec::new(),
        };
        for id in ids {
            c.checked += 1;
            let n = counts.get(&id.to_string()).copied().unwrap_or(0);
            if n != 1 {
                if n == 0 {
                    c.missing += 1;
                } else {
                    c.duplicated += 1;
                }
                if c.examples.len() < 5 {
                    c.examples.push(format!("{id} ({n})"));
                }
            }
        }
        c
    }

    pub fn clean(&self) -> bool {
        self.missing == 0 && self.duplicated == 0
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct Latency {
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
    pub mean_ms: f64,
}

/// The outcome of a run (`mezhved load --json` prints it).
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    /// Nothing lost, no differing repeat, and the checks made are clean.
    pub ok: bool,
    pub published: u64,
    /// Requests with a reply.
    pub replied: u64,
    /// Published, never replied to.
    pub lost: u64,
    /// Replies beyond the first for a request (a reply published again
    /// after a crash between publishing and recording it).
    pub repeated_replies: u64,
    /// Repeated replies that differ from the first: never allowed.
    pub differing_replies: u64,
    /// Replies to requests of no run of ours (an earlier run, another tool).
    pub stray_replies: u64,
    /// From the first publish to the last first reply.
    pub elapsed_secs: f64,
    /// Requests published per second.
    pub publish_rate: f64,
    /// Requests answered per second over `elapsed_secs`.
    pub throughput: f64,
    /// From publishing a request to its first reply.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub latency: Option<Latency>,
    pub verdicts: std::collections::BTreeMap<String, u64>,
    /// Final results per request in the case store.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub store: Option<Check>,
    /// `SendRequest`s SMEV accepted per request.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub smev: Option<Check>,
}

impl Report {
    /// The report for people.
    pub fn render(&self) -> String {
        use std::fmt::Write;
        let mut s = String::new();
        let _ = writeln!(
            s,
            "published {}, replied {}, lost {}, repeated replies {} ({} differing), stray replies {}",
            self.published,
            self.replied,
            self.lost,
            self.repeated_replies,
            self.differing_replies,
            self.stray_replies
        );
        let _ = writeln!(
            s,
            "throughput {:.1} lookups/s over {:.2} s (published at {:.1}/s)",
            self.throughput, self.elapsed_secs, self.publish_rate
        );
        if let Some(l) = &self.latency {
            let _ = writeln!(
                s,
                "latency publish→reply: p50 {:.1} ms, p90 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
                l.p50_ms, l.p90_ms, l.p99_ms, l.max_ms
            );
        }
        let v: Vec<String> = self
            .verdicts
            .iter()
            .map(|(k, n)| format!("{k} {n}"))
            .collect();
        let _ = writeln!(s, "verdicts: {}", v.join(", "));
        for (name, c) in [
            ("case store: final results", &self.store),
            ("SMEV: accepted SendRequests", &self.smev),
        ] {
            if let Some(c) = c {
                let _ = writeln!(
                    s,
                    "{name}: {} checked, {} without, {} with more than one{}",
                    c.checked,
                    c.missing,
                    c.duplicated,
                    if c.examples.is_empty() {
                        String::new()
                    } else {
                        format!(" (e.g. {})", c.examples.join(", "))
                    }
                );
            }
        }
        let _ = write!(
            s,
            "{}",
            if self.ok {
                "OK: every request has exactly one result"
            } else {
                "NOT OK: see the counts above"
            }
        );
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::request::parse_request;

    #[test]
    fn every_planned_request_passes_validation() {
        let plan = Plan::new(Kind::ALL.to_vec());
        let today = crate::clock::moscow_today();
        for n in 0..50 {
            let (id, body) = plan.request(n);
            let req = parse_request(&body, today).unwrap_or_else(|e| panic!("{n}: {e}"));
            assert_eq!(req.request_id, id);
            assert_eq!(req.kind, Kind::ALL[(n % 5) as usize]);
            assert!(req.case_id.as_str().starts_with(&plan.case_prefix()));
        }
    }

    #[test]
    fn requests_share_cases_by_per_case() {
        let plan = Plan::new(APPLICATION_KINDS.to_vec()).per_case(250);
        let today = crate::clock::moscow_today();
        let case = |n| parse_request(&plan.request(n).1, today).unwrap().case_id;
        assert_eq!(case(0), case(249));
        assert_ne!(case(249), case(250));
        let four = Plan::new(APPLICATION_KINDS.to_vec());
        let case4 = |n| parse_request(&four.request(n).1, today).unwrap().case_id;
        assert_eq!(case4(0), case4(3));
        assert_ne!(case4(3), case4(4));
    }

    #[test]
    fn kinds_parse_with_clear_errors() {
        assert_eq!(parse_kinds("application").unwrap(), APPLICATION_KINDS);
        assert_eq!(
            parse_kinds("egrip, tax_debt").unwrap(),
            [Kind::Egrip, Kind::TaxDebt]
        );
        assert_eq!(parse_kinds("all").unwrap().len(), 5);
        assert!(parse_kinds("egrul,nope").unwrap_err().contains("\"nope\""));
        assert!(parse_kinds(" ,").is_err());
    }

    #[test]
    fn percentiles_by_nearest_rank() {
        let v: Vec<Duration> = (1..=100).map(Duration::from_millis).collect();
        assert_eq!(percentile(&v, 50.0), Duration::from_millis(50));
        assert_eq!(percentile(&v, 99.0), Duration::from_millis(99));
        assert_eq!(percentile(&v, 100.0), Duration::from_millis(100));
        assert_eq!(percentile(&v[..1], 99.0), Duration::from_millis(1));
    }

    fn reply(id: Uuid, verdict: &str) -> Vec<u8> {
        serde_json::to_vec(&json!({ "request_id": id.to_string(), "verdict": verdict })).unwrap()
    }

    #[test]
    fn the_tally_counts_lost_repeated_differing_and_stray_replies() {
        let mut t = Tally::default();
        let t0 = Instant::now();
        let ids: Vec<Uuid> = (0..4).map(|_| Uuid::new_v4()).collect();
        for id in &ids {
            t.published(*id, t0);
        }
        let at = t0 + Duration::from_millis(10);
        t.reply(&reply(ids[0], "found"), at);
        t.reply(&reply(ids[0], "found"), at);
        t.reply(&reply(ids[1], "not_found"), at);
        t.reply(&reply(ids[2], "listed"), at);
        t.reply(&reply(ids[2], "not_listed"), at);
        t.reply(&reply(Uuid::new_v4(), "found"), at);
        t.reply(b"not json", at);
        let r = t.report(None, None);
        assert_eq!((r.published, r.replied, r.lost), (4, 3, 1));
        assert_eq!((r.repeated_replies, r.differing_replies), (2, 1));
        assert_eq!(r.stray_replies, 2);
        assert_eq!(r.verdicts.get("found"), Some(&1));
        assert_eq!(r.latency.unwrap().max_ms, 10.0);
        assert!(!r.ok);
    }

    #[test]
    fn a_check_names_missing_and_duplicated_ids() {
        let ids: Vec<Uuid> = (0..3).map(|_| Uuid::new_v4()).collect();
        let counts: HashMap<String, u64> =
            [(ids[0].to_string(), 1), (ids[1].to_string(), 2)].into();
        let c = Check::of(ids.iter(), &counts);
        assert_eq!((c.checked, c.missing, c.duplicated), (3, 1, 1));
        assert_eq!(c.examples.len(), 2);
        assert!(!c.clean());
    }
}
