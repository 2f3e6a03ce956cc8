//! The operators' HTTP server of `mezhved run`, on its own listener
//! (`ops.listen`, local by default):
//!
//! | path | what | token |
//! |---|---|---|
//! | `GET /healthz` | the process is alive | never |
//! | `GET /readyz` | each readiness check with its result and age; 503 if a required one fails | off loopback |
//! | `GET /metrics` | Prometheus text format | off loopback |
//! | `GET /` | the dashboard (one self-contained page) | off loopback |
//! | `GET /api/dashboard`, `GET /api/status` | what the dashboard and `mezhved status` show | off loopback |
//! | `GET /api/log-level` | the log filter in force | off loopback |
//! | `PUT /api/log-level` | change it (body: `debug`, `info,mezhved::pipeline=debug`…) | always |
//! | `GET /api/dlq`, `GET /api/dlq/{id}` | dead letters, with the messages | always |
//! | `POST /api/dlq/{id}/replay` | replay one (body: `{"set": ["subject.inn=…"]}` or `{"body": {…}}`) | always |
//!
//! Every path but `/healthz` answers only the host names it is known by
//! (`ops.allowed_hosts`, see [`hosts`]); others get 421.
//!
//! "Token" means `Authorization: Bearer <token>` (or HTTP Basic with the
//! token as the password, for browsers). Without a configured token the
//! endpoints that always need one answer 403; a listener off loopback
//! cannot start without one.

pub mod checks;
mod exposition;
mod history;
pub mod hosts;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};

use crate::clock;
use crate::config::{ConfigError, secs};
use crate::i18n::{self, Lang};
use crate::logging::LogControl;
use crate::pipeline::Gateway;
use crate::transport::QueueStat;
use crate::transport::deadletters::{DeadLetters, Fix};

pub use checks::Check;
pub use history::Sample;

const DASHBOARD: &str = include_str!("dashboard.html");

#[derive(Debug, thiserror::Error)]
pub enum OpsError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(
        "ops server: cannot listen on {addr}: {source} (set ops.listen, or \"\" to turn it off)"
    )]
    Listen {
        addr: String,
        #[source]
        source: std::io::Error,
    },
}

/// The server's state.
pub struct Ops {
    gw: Arc<Gateway>,
    log: LogControl,
    token: Option<String>,
    /// Reads need the token too (the listener is reachable from other hosts).
    reads_need_token: bool,
    round: Mutex<(Vec<Check>, Vec<QueueStat>)>,
    history: history::History,
    started: Instant,
    hosts: hosts::AllowedHosts,
}

/// The running server.
pub struct Running {
    pub addr: SocketAddr,
    pub ops: Arc<Ops>,
}

/// Takes the ops server's address (`ops.listen`) before anything else
/// starts, so that a second daemon learns at once that it is taken;
/// `None` when `ops.listen` is empty.
pub async fn bind(s: &crate::config::OpsSettings) -> Result<Option<Listener>, OpsError> {
    if s.listen.is_empty() {
        return Ok(None);
    }
    tokio::net::TcpListener::bind(&s.listen)
        .await
        .map(|l| Some(Listener(l)))
        .map_err(|source| OpsError::Listen {
            addr: s.listen.clone(),
            source,
        })
}

/// The ops server's address, taken ([`bind`]) but not yet served.
pub struct Listener(tokio::net::TcpListener);

/// What answers on `addr` (an `ops.listen` someone else holds), if it is
/// a mezhved: its pid and instance, from its `/healthz`.
pub async fn who_listens(addr: &str) -> Option<(u32, String)> {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(2))
        .build()
        .ok()?;
    let bytes = client
        .get(format!("http://{addr}/healthz"))
        .send()
        .await
        .ok()?
        .bytes()
        .await
        .ok()?;
    let body: Value = serde_json::from_slice(&bytes).ok()?;
    let pid = u32::try_from(body.get("pid")?.as_u64()?).ok()?;
    let instance = body.get("instance")?.as_str()?.to_owned();
    Some((pid, instance))
}

/// Starts the server and its background checks; `None` when
/// `ops.listen` is empty.
pub async fn start(gw: Arc<Gateway>, log: LogControl) -> Result<Option<Running>, OpsError> {
    match bind(&gw.settings.ops).await? {
        Some(l) => serve(l, gw, log).await.map(Some),
        None => Ok(None),
    }
}

/// Serves the ops server on `listener`, with its background checks.
pub async fn serve(
    Listener(listener): Listener,
    gw: Arc<Gateway>,
    log: LogControl,
) -> Result<Running, OpsError> {
    let s = gw.settings.ops.clone();
    let token = s.token()?;
    let addr = listener.local_addr().map_err(|source| OpsError::Listen {
        addr: s.listen.clone(),
        source,
    })?;
    let keep = (3600.0 / s.sample_secs).ceil() as usize;
    let ops = Arc::new(Ops {
        gw,
        log,
        token,
        reads_need_token: !addr.ip().is_loopback(),
        round: Mutex::new((Vec::new(), Vec::new())),
        history: history::History::new(keep),
        started: Instant::now(),
        hosts: hosts::AllowedHosts::new(&s.allowed_hosts, addr),
    });
    tokio::spawn(check_loop(ops.clone()));
    tokio::spawn(sample_loop(ops.clone()));
    let app = Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .route("/", get(dashboard))
        .route("/api/dashboard", get(api_dashboard))
        .route("/api/status", get(api_status))
        .route("/api/log-level", get(get_log_level).put(put_log_level))
        .route("/api/dlq", get(dlq_list))
        .route("/api/dlq/{id}", get(dlq_show))
        .route("/api/dlq/{id}/replay", post(dlq_replay))
        .layer(axum::extract::DefaultBodyLimit::max(256 * 1024))
        .layer(axum::middleware::from_fn_with_state(
            ops.clone(),
            known_host,
        ))
        .with_state(ops.clone());
    tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            tracing::error!(error = %e, "the ops server stopped");
        }
    });
    Ok(Running { addr, ops })
}

async fn check_loop(ops: Arc<Ops>) {
    let s = &ops.gw.settings.ops;
    let (every, probe) = (secs(s.check_secs), secs(s.probe_timeout_secs));
    loop {
        let round = checks::run(&ops.gw, probe, s.cert_warn_days).await;
        {
            let mut current = ops.round.lock().expect("ops lock");
            let mut next = round.checks;
            for c in &mut next {
                if let Some(prev) = current.0.iter().find(|p| p.name == c.name) {
                    if prev.ok == c.ok {
                        c.since = prev.since;
                    } else if c.ok {
                        tracing::info!(check = c.name, detail = %c.detail, "readiness check passes again");
                    } else {
                        tracing::warn!(check = c.name, detail = %c.detail, "readiness check fails");
                    }
                } else if !c.ok {
                    tracing::warn!(check = c.name, detail = %c.detail, "readiness check fails");
                }
            }
            *current = (next, round.queues);
        }
        tokio::time::sleep(every).await;
    }
}

async fn sample_loop(ops: Arc<Ops>) {
    let every = secs(ops.gw.settings.ops.sample_secs);
    loop {
        let queues = ops.round.lock().expect("ops lock").1.clone();
        ops.history.take(&ops.gw, &queues);
        tokio::time::sleep(every).await;
    }
}

impl Ops {
    fn round(&self) -> (Vec<Check>, Vec<QueueStat>) {
        self.round.lock().expect("ops lock").clone()
    }

    /// Ready when a round of checks ran and every required check passed.
    pub fn ready(&self) -> (bool, Vec<Check>) {
        let (checks, _) = self.round();
        let ready = !checks.is_empty() && checks.iter().all(|c| c.ok || !c.required);
        (ready, checks)
    }

    /// The refusal, if the request may not see this.
    fn refuse(&self, headers: &HeaderMap, always: bool) -> Option<Response> {
        if !always && !self.reads_need_token {
            return None;
        }
        let Some(token) = &self.token else {
            return Some(problem(
                StatusCode::FORBIDDEN,
                "disabled: set ops.token_file (or MEZHVED_OPS_TOKEN) to use this endpoint",
            ));
        };
        let given = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| {
                if let Some(b) = v.strip_prefix("Bearer ") {
                    Some(b.trim().to_owned())
                } else {
                    use base64::Engine as _;
                    let b = v.strip_prefix("Basic ")?;
                    let decoded = base64::engine::general_purpose::STANDARD
                        .decode(b.trim())
                        .ok()?;
                    let text = String::from_utf8(decoded).ok()?;
                    text.split_once(':').map(|(_, p)| p.to_owned())
                }
            });
        match given {
            // Constant time, so the token cannot be guessed byte by byte.
            Some(g)
                if g.len() == token.len()
                    && openssl::memcmp::eq(g.as_bytes(), token.as_bytes()) =>
            {
                None
            }
            _ => {
                let mut r = problem(
                    StatusCode::UNAUTHORIZED,
                    "a token is needed: Authorization: Bearer <token>",
                );
                r.headers_mut().insert(
                    header::WWW_AUTHENTICATE,
                    header::HeaderValue::from_static("Basic realm=\"mezhved\""),
                );
                Some(r)
            }
        }
    }

    /// What the dashboard shows.
    pub fn dashboard(&self) -> Value {
        let gw = &self.gw;
        let m = &gw.metrics;
        let (ready, checks) = self.ready();
        let (_, queues) = self.round();
        let now = clock::now();
        let pending = gw.ledger.pending();
        let overdue = pending
            .iter()
            .filter(|p| p.state == crate::casefile::State::Overdue)
            .count();
        let retrying = pending
            .iter()
            .filter(|p| p.state == crate::casefile::State::Retrying)
            .count();
        let mut verdicts = serde_json::Map::new();
        let mut failed = 0;
        for (k, n) in m.results.snapshot() {
            let v = k.get(1).cloned().unwrap_or_default();
            if v == "failed" {
                failed += n;
            }
            let e = verdicts.entry(v).or_insert(json!(0));
            *e = json!(e.as_u64().unwrap_or(0) + n);
        }
        let oldest: Vec<Value> = pending
            .iter()
            .take(50)
            .map(|p| {
                json!({
                    "request_id": p.request_id,
                    "case_id": p.case_id,
                    "kind": p.kind,
                    "state": p.state,
                    "age_secs": (now - p.accepted_at).whole_seconds(),
                    "due_date": p.due_date.map(clock::iso_date),
                    "last_error": p.last_error,
                })
            })
            .collect();
        let key = gw.key();
        let smev_queue = gw
            .smev_queues
            .lock()
            .expect("queue reading lock")
            .clone()
            .map(|r| json!({ "total": r.total(), "queues": r.queues, "at": clock::rfc3339(r.at), "error": r.error }));
        json!({
            "now": clock::rfc3339(now),
            "smev_queue": smev_queue,
            "adapter": {
                "listen": gw.settings.adapter.listen,
                "calls": m.adapter_calls.total(),
            },
            "version": env!("CARGO_PKG_VERSION"),
            "instance": gw.store().instance_id(),
            "uptime_secs": self.started.elapsed().as_secs(),
            "ready": ready,
            "checks": checks,
            "totals": {
                "accepted": m.accepted.total(),
                "results": m.results.total(),
                "failed": failed,
                "refused": m.refused.total(),
                "replies": m.replies.total(),
                "duplicates": m.duplicates.total(),
                "retries": m.send_retries.total(),
                "answers_rejected": m.answers_rejected.total(),
                "orphans_stored": gw.orphan_usage().0,
            },
            "store_paused": gw.store_gate().failing().map(|f| f.reason),
            "verdicts": verdicts,
            "queues": queues,
            "retrying": retrying,
            "pending": { "count": pending.len(), "overdue": overdue, "oldest": oldest },
            "failures": gw.ledger.failures(),
            "dead_letters": gw.ledger.dead_letters(),
            "errors": self.log.recent(),
            "history": self.history.samples(),
            "sample_secs": gw.settings.ops.sample_secs,
            "breaker": gw.client().breaker().state().as_str(),
            "endpoint": crate::config::redact_url(gw.client().endpoint()),
            "certificate": {
                "subject": key.subject(),
                "algorithm": key.algorithm().to_string(),
                "not_after": key.validity().not_after.map(clock::rfc3339),
                "days_left": (key.validity().days_left(now) * 10.0).round() / 10.0,
            },
            "log_level": self.log.level(),
        })
    }
}

/// Refuses requests addressed to a name this server is not known by (a
/// DNS-rebinding page in an operator's browser); `/healthz` says nothing
/// and answers every name.
async fn known_host(
    State(ops): State<Arc<Ops>>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let host = request
        .headers()
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    if request.uri().path() == "/healthz" || ops.hosts.allows(host.as_deref()) {
        return next.run(request).await;
    }
    tracing::warn!(host = host.as_deref().unwrap_or(""), path = %request.uri().path(), "ops request for an unknown host name refused");
    problem(
        StatusCode::MISDIRECTED_REQUEST,
        &format!(
            "this server does not answer to the host name {:?}: add it to ops.allowed_hosts",
            host.unwrap_or_default()
        ),
    )
}

fn problem(status: StatusCode, message: &str) -> Response {
    (status, axum::Json(json!({ "error": message }))).into_response()
}

macro_rules! authorized {
    ($ops:expr, $headers:expr, $always:expr) => {
        if let Some(r) = $ops.refuse(&$headers, $always) {
            return r;
        }
    };
}

async fn healthz(State(ops): State<Arc<Ops>>) -> Response {
    axum::Json(json!({
        "status": "alive",
        "uptime_secs": ops.started.elapsed().as_secs(),
        "pid": std::process::id(),
        "instance": ops.gw.store().instance_id(),
    }))
    .into_response()
}

async fn readyz(State(ops): State<Arc<Ops>>, headers: HeaderMap) -> Response {
    authorized!(ops, headers, false);
    let (ready, checks) = ops.ready();
    let now = clock::now();
    let list: Vec<Value> = checks
        .iter()
        .map(|c| {
            let mut v = serde_json::to_value(c).expect("checks serialise");
            v["age_secs"] = json!(((now - c.checked_at).as_seconds_f64() * 10.0).round() / 10.0);
            v
        })
        .collect();
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let mut body = json!({ "ready": ready, "checks": list });
    if checks.is_empty() {
        body["detail"] = json!("starting: no check has run yet");
    }
    (status, axum::Json(body)).into_response()
}

async fn metrics(State(ops): State<Arc<Ops>>, headers: HeaderMap) -> Response {
    authorized!(ops, headers, false);
    let (checks, queues) = ops.round();
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        exposition::render(&ops.gw, &checks, &queues),
    )
        .into_response()
}

/// The dashboard page in `lang`: its texts from the catalogue.
pub fn dashboard_page(lang: Lang) -> String {
    let texts = json!({
        "lang": lang.as_str(),
        "dash": i18n::table(lang, "dash."),
        "verdict": i18n::table(lang, "verdict."),
        "state": i18n::table(lang, "state."),
        "kind": i18n::table(lang, "kind."),
        "check": i18n::table(lang, "check.name."),
        "circuit": i18n::table(lang, "circuit."),
    });
    // Inside a script element: no "</" may close it early.
    let texts = texts.to_string().replace("</", "<\\/");
    DASHBOARD
        .replace("{{LANG}}", lang.as_str())
        .replace("{{I18N}}", &texts)
}

#[derive(serde::Deserialize)]
struct PageQuery {
    lang: Option<String>,
}

async fn dashboard(
    State(ops): State<Arc<Ops>>,
    Query(q): Query<PageQuery>,
    headers: HeaderMap,
) -> Response {
    authorized!(ops, headers, false);
    let lang = q
        .lang
        .as_deref()
        .and_then(Lang::parse)
        .unwrap_or(ops.gw.settings.ops.language);
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            // Self-contained: nothing is loaded from anywhere else.
            (
                header::CONTENT_SECURITY_POLICY,
                "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'; img-src 'self' data:",
            ),
        ],
        dashboard_page(lang),
    )
        .into_response()
}

async fn api_dashboard(State(ops): State<Arc<Ops>>, headers: HeaderMap) -> Response {
    authorized!(ops, headers, false);
    axum::Json(ops.dashboard()).into_response()
}

async fn api_status(State(ops): State<Arc<Ops>>, headers: HeaderMap) -> Response {
    authorized!(ops, headers, false);
    let d = ops.dashboard();
    axum::Json(json!({
        "ready": d["ready"],
        "checks": d["checks"],
        "instance": d["instance"],
        "version": d["version"],
        "uptime_secs": d["uptime_secs"],
        "errors": d["errors"],
        "failures": d["failures"],
        "dead_letters": d["dead_letters"],
        "log_level": d["log_level"],
    }))
    .into_response()
}

async fn get_log_level(State(ops): State<Arc<Ops>>, headers: HeaderMap) -> Response {
    authorized!(ops, headers, false);
    axum::Json(json!({ "level": ops.log.level() })).into_response()
}

async fn put_log_level(State(ops): State<Arc<Ops>>, headers: HeaderMap, body: Bytes) -> Response {
    authorized!(ops, headers, true);
    let spec = String::from_utf8_lossy(&body).trim().to_owned();
    if spec.is_empty() {
        return problem(
            StatusCode::BAD_REQUEST,
            "send the level as the body: error, warn, info, debug, trace, or a filter such as info,mezhved::pipeline=debug",
        );
    }
    match ops.log.set_level(&spec) {
        Ok(level) => {
            tracing::warn!(level = %level, "log level changed from the ops server");
            axum::Json(json!({ "level": level })).into_response()
        }
        Err(e) => problem(StatusCode::BAD_REQUEST, &e),
    }
}

async fn dead_letters(ops: &Ops) -> Result<DeadLetters, String> {
    DeadLetters::connect(&ops.gw.settings.amqp)
        .await
        .map_err(|e| e.to_string())
}

async fn dlq_list(State(ops): State<Arc<Ops>>, headers: HeaderMap) -> Response {
    authorized!(ops, headers, true);
    let dl = match dead_letters(&ops).await {
        Ok(d) => d,
        Err(e) => return problem(StatusCode::BAD_GATEWAY, &e),
    };
    match dl.list().await {
        Ok(list) => axum::Json(json!({ "queue": dl.queue(), "letters": list })).into_response(),
        Err(e) => problem(StatusCode::BAD_GATEWAY, &e.to_string()),
    }
}

async fn dlq_show(
    State(ops): State<Arc<Ops>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    authorized!(ops, headers, true);
    let dl = match dead_letters(&ops).await {
        Ok(d) => d,
        Err(e) => return problem(StatusCode::BAD_GATEWAY, &e),
    };
    match dl.list().await {
        Ok(list) => match list.into_iter().find(|l| l.id == id) {
            Some(l) => axum::Json(l).into_response(),
            None => problem(StatusCode::NOT_FOUND, "no dead letter with this id"),
        },
        Err(e) => problem(StatusCode::BAD_GATEWAY, &e.to_string()),
    }
}

async fn dlq_replay(
    State(ops): State<Arc<Ops>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    authorized!(ops, headers, true);
    let fix = if body.iter().all(u8::is_ascii_whitespace) {
        Fix::None
    } else {
        let req: Value = match serde_json::from_slice(&body) {
            Ok(v) => v,
            Err(e) => {
                return problem(
                    StatusCode::BAD_REQUEST,
                    &format!("the body is not JSON: {e}"),
                );
            }
        };
        match (req.get("set"), req.get("body")) {
            (Some(_), Some(_)) => {
                return problem(
                    StatusCode::BAD_REQUEST,
                    "give \"set\" or \"body\", not both",
                );
            }
            (Some(set), None) => {
                let items: Option<Vec<String>> = set.as_array().map(|a| {
                    a.iter()
                        .filter_map(|v| v.as_str().map(str::to_owned))
                        .collect()
                });
                match items.map(|i| Fix::parse_set(&i)) {
                    Some(Ok(f)) => f,
                    Some(Err(e)) => return problem(StatusCode::BAD_REQUEST, &e),
                    None => {
                        return problem(
                            StatusCode::BAD_REQUEST,
                            "\"set\" is a list of \"PATH=TEXT\" or \"PATH:=JSON\"",
                        );
                    }
                }
            }
            (None, Some(b)) => Fix::Body(serde_json::to_vec(b).expect("JSON serialises")),
            (None, None) => Fix::None,
        }
    };
    let dl = match dead_letters(&ops).await {
        Ok(d) => d,
        Err(e) => return problem(StatusCode::BAD_GATEWAY, &e),
    };
    match dl.replay(std::slice::from_ref(&id), &fix).await {
        Ok(results) => {
            let r = results.into_iter().next().expect("one result per id");
            let status = if r.ok {
                tracing::warn!(letter = %r.id, "dead letter replayed from the ops server");
                StatusCode::OK
            } else if r.detail.starts_with("no letter") {
                StatusCode::NOT_FOUND
            } else {
                StatusCode::BAD_REQUEST
            };
            (status, axum::Json(r)).into_response()
        }
        Err(e) => problem(StatusCode::BAD_GATEWAY, &e.to_string()),
    }
}

/// Waits at most `limit` for the first round of checks (start-up).
pub async fn first_round(ops: &Ops, limit: Duration) -> bool {
    let start = Instant::now();
    while start.elapsed() < limit {
        if !ops.round().0.is_empty() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    false
}
