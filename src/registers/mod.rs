//! The registers' own sources, for the lookups SMEV has no VS for: the
//! register of unreliable suppliers through ЕИС's document service
//! ([`eis`]), the register of foreign agents through Минюст's registry
//! service ([`minjust`]), and local snapshots of both ([`snapshot`]), built
//! by `mezhved registers sync` from the registers' official publications.
//!
//! Each is a [`RegisterSource`]: it asks once and returns an [`Exchange`]
//! (what was sent, what came back, from where, the register's own date, and
//! the verdict) or says why it could not. The pipeline records every
//! exchange in the case file the same way, whatever the source
//! (`pipeline::direct`). Which source a lookup kind uses is its route,
//! `[lookup.routes]`.

pub mod agents;
pub mod eis;
pub mod http;
pub mod minjust;
pub mod rnp;
pub mod schema;
pub mod snapshot;
pub mod xlsx;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use futures_util::future::BoxFuture;
use serde::{Deserialize, Serialize};
use time::{Date, OffsetDateTime};

use crate::lookup::Outcome;
use crate::provider::{Breaker, BreakerSettings};
use crate::request::{Kind, LookupRequest, Subject};

/// Where a lookup kind goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Route {
    /// A SMEV 3 VS (the namespace of `[lookup]`).
    #[serde(rename = "smev")]
    Smev,
    /// ЕИС's document service, `getRNPObjectList`.
    #[serde(rename = "eis")]
    Eis,
    /// The local snapshot of ЕИС's published РНП documents.
    #[serde(rename = "eis-snapshot")]
    EisSnapshot,
    /// Минюст's registry service (`values`, `info`).
    #[serde(rename = "minjust")]
    Minjust,
    /// The local snapshot of Минюст's export.
    #[serde(rename = "minjust-snapshot")]
    MinjustSnapshot,
}

impl Route {
    pub fn as_str(self) -> &'static str {
        match self {
            Route::Smev => "smev",
            Route::Eis => "eis",
            Route::EisSnapshot => "eis-snapshot",
            Route::Minjust => "minjust",
            Route::MinjustSnapshot => "minjust-snapshot",
        }
    }

    /// The routes a kind may take.
    pub fn allowed(kind: Kind) -> &'static [Route] {
        match kind {
            Kind::UnreliableSupplier => &[Route::Smev, Route::Eis, Route::EisSnapshot],
            Kind::ForeignAgent => &[Route::Smev, Route::Minjust, Route::MinjustSnapshot],
            _ => &[Route::Smev],
        }
    }

    /// The snapshot an online route falls back to.
    pub fn snapshot(self) -> Option<Route> {
        match self {
            Route::Eis => Some(Route::EisSnapshot),
            Route::Minjust => Some(Route::MinjustSnapshot),
            _ => None,
        }
    }

    pub fn is_snapshot(self) -> bool {
        matches!(self, Route::EisSnapshot | Route::MinjustSnapshot)
    }
}

impl std::fmt::Display for Route {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `[lookup.routes]`: the route of each kind that has a choice.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct Routes {
    pub unreliable_supplier: Route,
    pub foreign_agent: Route,
}

impl Default for Routes {
    fn default() -> Self {
        Routes {
            unreliable_supplier: Route::Eis,
            foreign_agent: Route::Minjust,
        }
    }
}

impl Routes {
    pub fn of(&self, kind: Kind) -> Route {
        match kind {
            Kind::UnreliableSupplier => self.unreliable_supplier,
            Kind::ForeignAgent => self.foreign_agent,
            _ => Route::Smev,
        }
    }

    pub fn check(&self) -> Result<(), String> {
        for kind in [Kind::UnreliableSupplier, Kind::ForeignAgent] {
            let r = self.of(kind);
            if !Route::allowed(kind).contains(&r) {
                return Err(format!(
                    "lookup.routes.{kind} = {r:?} is not one of {}",
                    Route::allowed(kind)
                        .iter()
                        .map(|r| format!("{:?}", r.as_str()))
                        .collect::<Vec<_>>()
                        .join(", ")
                ));
            }
        }
        Ok(())
    }
}

/// `[registers]`: the registers' own sources and their snapshots.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegistersSettings {
    /// Where snapshots live; empty: `<state_dir>/registers`.
    pub snapshot_dir: String,
    /// A snapshot older than this is stale: a readiness warning, and it
    /// never answers `not_listed` on its own.
    pub snapshot_max_age_days: f64,
    /// An online source that fails this many attempts of one lookup in a
    /// row (or whose circuit is open) hands it to the snapshot.
    pub fallback_after_attempts: u32,
    pub timeout_secs: u64,
    /// The largest answer read from a source (MiB).
    pub max_answer_mib: usize,
    pub breaker_failures: u32,
    pub breaker_open_secs: f64,
    pub breaker_max_open_secs: f64,
    pub eis: EisSettings,
    pub minjust: MinjustSettings,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EisSettings {
    /// The document service (`WebServiceDocsRNP`).
    pub endpoint: String,
    /// File whose first line is the access token; `MEZHVED_EIS_TOKEN`
    /// overrides it.
    pub token_file: String,
    /// PEM CA certificates the service's certificate must chain to.
    pub ca_file: String,
    /// `sender` and `senderType` of the request.
    pub sender: String,
    pub sender_type: String,
    /// Published РНП archives (ZIP of XML documents) `registers sync`
    /// downloads when given no files.
    pub snapshot_urls: Vec<String>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MinjustSettings {
    /// The registry's REST base, ending in its id and `/`.
    pub base_url: String,
    pub ca_file: String,
}

impl RegistersSettings {
    pub fn snapshot_dir(&self, state_dir: &Path) -> PathBuf {
        if self.snapshot_dir.is_empty() {
            state_dir.join("registers")
        } else {
            PathBuf::from(&self.snapshot_dir)
        }
    }

    pub fn breaker(&self) -> BreakerSettings {
        BreakerSettings {
            failures: self.breaker_failures,
            open_for: crate::config::secs(self.breaker_open_secs),
            max_open_for: crate::config::secs(self.breaker_max_open_secs),
        }
    }

    pub fn max_age(&self) -> Duration {
        crate::config::secs(self.snapshot_max_age_days * 86_400.0)
    }

    pub fn check(&self) -> Result<(), String> {
        for (key, url) in [
            ("registers.eis.endpoint", &self.eis.endpoint),
            ("registers.minjust.base_url", &self.minjust.base_url),
        ] {
            if !(url.starts_with("http://") || url.starts_with("https://")) {
                return Err(format!("{key} {url:?} is not an http(s) URL"));
            }
        }
        if !self.minjust.base_url.ends_with('/') {
            return Err("registers.minjust.base_url must end with /".into());
        }
        if !(1..=200).contains(&self.eis.sender.chars().count()) {
            return Err("registers.eis.sender: 1 to 200 characters".into());
        }
        if !eis::SENDER_TYPES.contains(&self.eis.sender_type.as_str()) {
            return Err(format!(
                "registers.eis.sender_type {:?} is not one of {}",
                self.eis.sender_type,
                eis::SENDER_TYPES.join(", ")
            ));
        }
        if self.breaker_failures == 0 || self.breaker_max_open_secs < self.breaker_open_secs {
            return Err(
                "registers: breaker_failures ≥ 1 and breaker_max_open_secs ≥ breaker_open_secs"
                    .into(),
            );
        }
        if self.fallback_after_attempts == 0 || self.timeout_secs == 0 || self.max_answer_mib == 0 {
            return Err(
                "registers: fallback_after_attempts, timeout_secs and max_answer_mib must be at least 1"
                    .into(),
            );
        }
        // Written so that NaN fails too.
        if self.snapshot_max_age_days.is_nan() || self.snapshot_max_age_days <= 0.0 {
            return Err("registers.snapshot_max_age_days must be more than 0".into());
        }
        Ok(())
    }

    /// ЕИС's access token: `MEZHVED_EIS_TOKEN`, else the first line of
    /// `eis.token_file`; `None` when neither is set.
    pub fn eis_token(&self) -> Result<Option<String>, String> {
        if let Ok(t) = std::env::var("MEZHVED_EIS_TOKEN")
            && !t.trim().is_empty()
        {
            return Ok(Some(t.trim().to_owned()));
        }
        if self.eis.token_file.is_empty() {
            return Ok(None);
        }
        let text = std::fs::read_to_string(&self.eis.token_file)
            .map_err(|e| format!("registers.eis.token_file {}: {e}", self.eis.token_file))?;
        Ok(Some(text.lines().next().unwrap_or("").trim().to_owned()).filter(|t| !t.is_empty()))
    }
}

/// Case-file documents of the register sources.
pub const REQUEST_XML: &str = "source-request.xml";
pub const RESPONSE_XML: &str = "source-response.xml";
pub const REQUEST_JSON: &str = "source-request.json";
pub const RESPONSE_JSON: &str = "source-response.json";
pub const INFO_JSON: &str = "source-info.json";
pub const NAME_REQUEST_JSON: &str = "source-request-by-name.json";
pub const NAME_RESPONSE_JSON: &str = "source-response-by-name.json";
pub const SNAPSHOT_JSON: &str = "snapshot-answer.json";

/// What a source is asked.
#[derive(Clone, Debug)]
pub struct Query {
    pub kind: Kind,
    pub subject: Subject,
    /// The date the answer is needed as of (РНП: the end of the window).
    pub as_of: Date,
    /// The subject's name, for registers whose older entries lack
    /// identifiers.
    pub name: Option<String>,
}

impl Query {
    pub fn of(req: &LookupRequest) -> Query {
        Query {
            kind: req.kind,
            subject: req.subject.clone(),
            as_of: req.as_of.unwrap_or_else(crate::clock::moscow_today),
            name: req.subject.name.clone(),
        }
    }
}

/// One exchange with a source: what was sent and received, exactly, with
/// where and when, and what it means.
#[derive(Debug)]
pub struct Exchange {
    pub route: Route,
    pub url: String,
    pub at: OffsetDateTime,
    /// The register's own date of the data (`lastModified`, the documents'
    /// publish date, the snapshot's date).
    pub register_date: Option<String>,
    /// Case-file documents: the request as sent, the answer as received.
    pub documents: Vec<(&'static str, Vec<u8>)>,
    pub outcome: Outcome,
}

impl Exchange {
    /// The journal's account of it.
    pub fn detail(&self) -> String {
        format!(
            "{} {} at {}; register date {}",
            self.route,
            self.url,
            crate::clock::rfc3339(self.at),
            self.register_date.as_deref().unwrap_or("not given")
        )
    }
}

/// Why a source gave no answer.
#[derive(Debug, Clone, thiserror::Error)]
pub enum SourceError {
    /// It may pass: no connection, a timeout, HTTP 5xx or 429, an open circuit.
    #[error("{0}")]
    Unavailable(String),
    /// It will not pass by retrying (a refused certificate, a 4xx, an
    /// oversized answer, no snapshot).
    #[error("{0}")]
    Failed(String),
}

/// One register source.
pub trait RegisterSource: Send + Sync {
    fn route(&self) -> Route;
    /// Asks about `q`. With `wait_when_open` false an open circuit is an
    /// immediate [`SourceError::Unavailable`] instead of a wait.
    fn lookup<'a>(
        &'a self,
        q: &'a Query,
        wait_when_open: bool,
    ) -> BoxFuture<'a, Result<Exchange, SourceError>>;
    /// The circuit breaker of an online source.
    fn breaker(&self) -> Option<&Breaker>;
    /// A snapshot's state for the readiness check (its date, or why it is
    /// missing or stale); `None` for an online source.
    fn snapshot_status(&self) -> Option<Result<String, String>> {
        None
    }
}

/// Every source the configuration uses, by route.
pub struct Sources {
    sources: Vec<Arc<dyn RegisterSource>>,
    /// The routes the kinds name (the rest are snapshots to fall back to).
    primary: Vec<Route>,
}

impl Sources {
    /// The sources the routes name, and the snapshots they fall back to.
    pub fn from_settings(settings: &crate::config::Settings) -> Result<Sources, String> {
        let r = &settings.registers;
        let snapshots = r.snapshot_dir(&settings.gateway.state_dir);
        let lookback = settings.lookup.rnp_lookback_years;
        let mut sources: Vec<Arc<dyn RegisterSource>> = Vec::new();
        let mut wanted = Vec::new();
        let mut primary = Vec::new();
        for kind in [Kind::UnreliableSupplier, Kind::ForeignAgent] {
            let route = settings.lookup.routes.of(kind);
            primary.push(route);
            wanted.push(route);
            wanted.extend(route.snapshot());
        }
        wanted.sort_by_key(|r| r.as_str());
        wanted.dedup();
        let timeout = Duration::from_secs(r.timeout_secs);
        let max = r.max_answer_mib * 1024 * 1024;
        // One HTTPS client per trust store, shared by the sources using it.
        let mut clients: std::collections::HashMap<String, reqwest::Client> =
            std::collections::HashMap::new();
        let mut client = |name: &str, ca_file: &str| -> Result<SourceClient, String> {
            let http = match clients.get(ca_file) {
                Some(c) => c.clone(),
                None => {
                    let c = SourceClient::http_client(name, ca_file, timeout)?;
                    clients.insert(ca_file.to_owned(), c.clone());
                    c
                }
            };
            Ok(SourceClient::with_http(
                name,
                http,
                timeout,
                r.breaker(),
                max,
            ))
        };
        for route in wanted {
            let s: Arc<dyn RegisterSource> = match route {
                Route::Smev => continue,
                Route::Eis => Arc::new(eis::EisSource::new(
                    r,
                    client("ЕИС", &r.eis.ca_file)?,
                    lookback,
                )?),
                Route::Minjust => Arc::new(minjust::MinjustSource::new(
                    &r.minjust.base_url,
                    client("Минюст", &r.minjust.ca_file)?,
                )),
                Route::EisSnapshot | Route::MinjustSnapshot => Arc::new(
                    snapshot::SnapshotSource::new(route, &snapshots, r.max_age(), lookback),
                ),
            };
            sources.push(s);
        }
        Ok(Sources { sources, primary })
    }

    pub fn get(&self, route: Route) -> Option<&Arc<dyn RegisterSource>> {
        self.sources.iter().find(|s| s.route() == route)
    }

    pub fn all(&self) -> impl Iterator<Item = &Arc<dyn RegisterSource>> {
        self.sources.iter()
    }

    /// The readiness check `registers` (advisory): every snapshot in use is
    /// there and fresh, no online source's circuit is open.
    pub fn readiness(&self) -> Result<String, String> {
        let (mut ok, mut bad) = (Vec::new(), Vec::new());
        for s in &self.sources {
            if let Some(st) = s.snapshot_status() {
                let fallback_only = !self.primary.contains(&s.route());
                match st {
                    Ok(m) => ok.push(m),
                    // A fallback never built is no fault: lookups then retry.
                    Err(m) if fallback_only && m.starts_with("no ") => ok.push(format!(
                        "{}: {m} (no fallback while the online source is down)",
                        s.route()
                    )),
                    Err(m) => bad.push(m),
                }
            }
            if let Some(b) = s.breaker() {
                match b.state() {
                    crate::provider::BreakerState::Open => bad.push(format!(
                        "{}: the circuit is open after failed calls",
                        s.route()
                    )),
                    st => ok.push(format!("{}: circuit {}", s.route(), st.as_str())),
                }
            }
        }
        if ok.is_empty() && bad.is_empty() {
            return Ok("no register source in use (every route is smev)".into());
        }
        if bad.is_empty() {
            Ok(ok.join("; "))
        } else {
            Err(bad.join("; "))
        }
    }
}

pub use http::SourceClient;

/// Reads `s` (`xs:date` or `xs:dateTime`) as a Moscow date.
pub fn moscow_date(s: &str) -> Option<Date> {
    let s = s.trim();
    if s.len() > 10 {
        if let Some(t) = crate::clock::parse_rfc3339(s) {
            return Some(t.to_offset(crate::clock::MOSCOW).date());
        }
        // A time without a zone: the date as written.
        if s.as_bytes()[10] == b'T' || s.as_bytes()[10] == b'+' || s.as_bytes()[10] == b'Z' {
            return crate::clock::parse_iso_date(&s[..10]);
        }
        return None;
    }
    crate::clock::parse_iso_date(s)
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::date;

    #[test]
    fn dates_and_times_are_read_as_moscow_dates() {
        assert_eq!(moscow_date("2026-02-09"), Some(date!(2026 - 02 - 09)));
        assert_eq!(
            moscow_date("2015-01-12T21:00:00Z"),
            Some(date!(2015 - 01 - 13))
        );
        assert_eq!(
            moscow_date("2015-01-13T00:00:00+03:00"),
            Some(date!(2015 - 01 - 13))
        );
        assert_eq!(
            moscow_date("2015-01-13T10:00:00"),
            Some(date!(2015 - 01 - 13))
        );
        assert_eq!(moscow_date("2015-01-13+03:00"), Some(date!(2015 - 01 - 13)));
        assert_eq!(moscow_date("13.01.2015"), None);
    }

    #[test]
    fn routes_are_checked_per_kind() {
        let mut r = Routes::default();
        assert!(r.check().is_ok());
        r.foreign_agent = Route::Eis;
        assert!(r.check().unwrap_err().contains("foreign_agent"));
    }
}
