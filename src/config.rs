//! Typed settings: the built-in `config/default.toml`, an optional file on
//! top, then `MEZHVED__SECTION__KEY` environment variables. Unknown keys are
//! errors, so a typo never silently keeps a default.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::lookup::LookupConfig;
use crate::smev::Version;
use crate::xmldsig::SignatureAlgorithm;

/// The built-in defaults (the file `config/default.toml`).
pub const DEFAULT_TOML: &str = include_str!("../config/default.toml");

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    pub gateway: GatewaySettings,
    pub amqp: AmqpSettings,
    pub smev: SmevSettings,
    pub signing: SigningSettings,
    pub emulator: EmulatorSettings,
    pub retry: RetrySettings,
    pub lookup: LookupConfig,
    pub log: LogSettings,
    pub ops: OpsSettings,
    pub store: StoreSettings,
    pub registers: crate::registers::RegistersSettings,
    pub limits: LimitsSettings,
    pub vs: VsSettings,
    pub adapter: crate::adapter::AdapterSettings,
    pub smev_status: SmevStatusSettings,
    pub attachments: AttachmentSettings,
}

/// Attachments of requests and SMEV's file store (`[attachments]`).
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AttachmentSettings {
    pub max_files: usize,
    pub max_file_bytes: u64,
    pub max_base64_bytes: u64,
    pub mtom_limit_bytes: u64,
    pub file_store: String,
    pub file_store_user: String,
    pub file_store_password: String,
    pub file_store_connect_timeout_secs: u64,
    pub file_store_io_timeout_secs: u64,
}

impl std::fmt::Debug for AttachmentSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AttachmentSettings")
            .field("max_files", &self.max_files)
            .field("max_file_bytes", &self.max_file_bytes)
            .field("max_base64_bytes", &self.max_base64_bytes)
            .field("mtom_limit_bytes", &self.mtom_limit_bytes)
            .field("file_store", &self.file_store)
            .field("file_store_user", &self.file_store_user)
            .field("file_store_password", &"***")
            .finish_non_exhaustive()
    }
}

impl AttachmentSettings {
    /// The FTP client's settings for the file store.
    pub fn ftp(&self) -> crate::attachment::ftp::FtpSettings {
        let mut s = crate::attachment::ftp::FtpSettings::new(self.file_store.clone());
        s.connect_timeout = std::time::Duration::from_secs(self.file_store_connect_timeout_secs);
        s.io_timeout = std::time::Duration::from_secs(self.file_store_io_timeout_secs);
        s
    }

    pub fn ftp_login(&self) -> crate::attachment::ftp::Login {
        crate::attachment::ftp::Login::new(
            self.file_store_user.clone(),
            self.file_store_password.clone(),
        )
    }
}

/// Bounds on what hostile or broken input may cost (`[limits]`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitsSettings {
    /// While the case store cannot write, how often it is probed.
    pub store_probe_secs: f64,
    /// Verified answers for no known request kept under `.orphans/`: at
    /// most this many files…
    pub orphan_max_count: u64,
    /// …and this many bytes.
    pub orphan_max_bytes: u64,
}

/// Requests of kind `vs` (any VS).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VsSettings {
    pub max_content_bytes: usize,
    /// XSD files by the namespace of the business root element.
    pub schemas: std::collections::BTreeMap<String, PathBuf>,
}

impl VsSettings {
    pub fn limits(&self) -> crate::request::Limits {
        crate::request::Limits {
            vs_max_content_bytes: self.max_content_bytes,
            attachments: crate::request::AttachmentLimits::STORED,
        }
    }
}

/// GetStatus and GetIncomingQueueStatistics.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SmevStatusSettings {
    pub get_status_secs: f64,
    pub queue_statistics_secs: f64,
    pub queue_statistics_endpoint: String,
}

/// Where request state, idempotency keys and the journal live.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoreSettings {
    pub backend: String,
    pub postgres_url: String,
    pub postgres_schema: String,
    pub postgres_pool: usize,
    /// PEM file of the CA the database's certificate is checked against
    /// (empty: the system's trust store).
    pub postgres_ca_file: String,
}

impl std::fmt::Debug for StoreSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoreSettings")
            .field("backend", &self.backend)
            .field("postgres_url", &redact_url(&self.postgres_url))
            .field("postgres_schema", &self.postgres_schema)
            .field("postgres_pool", &self.postgres_pool)
            .field("postgres_ca_file", &self.postgres_ca_file)
            .finish()
    }
}

impl StoreSettings {
    pub fn is_postgres(&self) -> bool {
        self.backend == "postgres"
    }
}

/// The operators' HTTP server (`mezhved run`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OpsSettings {
    pub listen: String,
    pub token_file: String,
    pub check_secs: f64,
    pub sample_secs: f64,
    pub probe_timeout_secs: f64,
    pub cert_warn_days: u32,
    pub language: crate::i18n::Lang,
    /// DNS names the server answers to besides loopback and its listen
    /// address (`Host:`); `"*"` for any.
    #[serde(default)]
    pub allowed_hosts: Vec<String>,
}

impl OpsSettings {
    /// The bearer token: `MEZHVED_OPS_TOKEN`, else the first line of
    /// `token_file`; `None` when neither is set (the endpoints that need it
    /// are then disabled).
    pub fn token(&self) -> Result<Option<String>, ConfigError> {
        if let Ok(t) = std::env::var("MEZHVED_OPS_TOKEN")
            && !t.trim().is_empty()
        {
            return Ok(Some(t.trim().to_owned()));
        }
        if self.token_file.is_empty() {
            return Ok(None);
        }
        let text = std::fs::read_to_string(&self.token_file).map_err(|e| {
            ConfigError::Invalid(format!("ops.token_file {}: {e}", self.token_file))
        })?;
        let t = text.lines().next().unwrap_or("").trim().to_owned();
        if t.len() < 16 {
            return Err(ConfigError::Invalid(format!(
                "ops.token_file {}: the token must be at least 16 characters",
                self.token_file
            )));
        }
        Ok(Some(t))
    }

    /// Whether the listener is reachable from this host only.
    pub fn is_loopback(&self) -> bool {
        self.listen
            .parse::<std::net::SocketAddr>()
            .map(|a| a.ip().is_loopback())
            .unwrap_or_else(|_| self.listen.starts_with("localhost:"))
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GatewaySettings {
    pub cases_root: PathBuf,
    pub state_dir: PathBuf,
    pub send_concurrency: usize,
    pub max_unsent: usize,
    pub calendar: String,
    pub deadline_check_secs: f64,
    pub instance_check_secs: f64,
    pub shutdown_grace_secs: f64,
    pub inbox_dir: PathBuf,
    /// The daemon's async threads; 0: one per core the process may use.
    pub runtime_threads: usize,
}

impl GatewaySettings {
    /// How many async threads `mezhved run` starts: `runtime_threads`, or
    /// one per core the process may use when it is 0.
    pub fn runtime_threads(&self) -> usize {
        match self.runtime_threads {
            0 => std::thread::available_parallelism().map_or(1, usize::from),
            n => n,
        }
    }

    /// The calendar file, if one is configured (else the built-in one).
    pub fn calendar_path(&self) -> Option<&Path> {
        (!self.calendar.is_empty()).then(|| Path::new(&self.calendar))
    }
}

#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AmqpSettings {
    pub url: String,
    pub prefix: String,
    pub prefetch: u16,
    pub delivery_limit: u32,
    pub reconnect_max_secs: f64,
}

impl std::fmt::Debug for AmqpSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AmqpSettings")
            .field("url", &redact_url(&self.url))
            .field("prefix", &self.prefix)
            .field("prefetch", &self.prefetch)
            .field("delivery_limit", &self.delivery_limit)
            .field("reconnect_max_secs", &self.reconnect_max_secs)
            .finish()
    }
}

impl AmqpSettings {
    pub fn queue_requests(&self) -> String {
        format!("{}.requests", self.prefix)
    }
    pub fn queue_dead(&self) -> String {
        format!("{}.dead", self.prefix)
    }
    pub fn exchange_results(&self) -> String {
        format!("{}.results", self.prefix)
    }
    pub fn queue_replies(&self) -> String {
        format!("{}.replies", self.prefix)
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SmevSettings {
    pub endpoint: String,
    pub version: String,
    pub timeout_secs: u64,
    pub poll_min_ms: u64,
    pub poll_max_ms: u64,
    pub poll_concurrency: usize,
    pub trust: Vec<PathBuf>,
    pub eol_hours: u64,
    pub breaker_failures: u32,
    pub breaker_open_secs: f64,
    pub breaker_max_open_secs: f64,
}

impl SmevSettings {
    pub fn breaker(&self) -> crate::provider::BreakerSettings {
        crate::provider::BreakerSettings {
            failures: self.breaker_failures,
            open_for: secs(self.breaker_open_secs),
            max_open_for: secs(self.breaker_max_open_secs),
        }
    }

    pub fn version(&self) -> Result<Version, ConfigError> {
        Version::parse(&self.version).ok_or_else(|| {
            ConfigError::Invalid(format!(
                "smev.version {:?} is not 1.1, 1.2 or 1.3",
                self.version
            ))
        })
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SigningSettings {
    pub algorithm: String,
    pub key: String,
    pub certificate: String,
    pub key_password_file: String,
    pub gost_engine: String,
    pub development_fallback: String,
    pub personal_key: String,
    pub personal_certificate: String,
}

impl SigningSettings {
    pub fn algorithm(&self) -> Result<SignatureAlgorithm, ConfigError> {
        parse_algorithm("signing.algorithm", &self.algorithm)
    }
    pub fn fallback(&self) -> Result<Option<SignatureAlgorithm>, ConfigError> {
        if self.development_fallback.is_empty() {
            return Ok(None);
        }
        parse_algorithm("signing.development_fallback", &self.development_fallback).map(Some)
    }
    /// A key was configured (as opposed to development keys).
    pub fn has_key(&self) -> bool {
        !self.key.is_empty()
    }
}

/// The algorithm of a configuration value such as `emulator.algorithm`.
pub fn parse_algorithm_name(v: &str) -> Result<SignatureAlgorithm, ConfigError> {
    parse_algorithm("algorithm", v)
}

fn parse_algorithm(key: &str, v: &str) -> Result<SignatureAlgorithm, ConfigError> {
    SignatureAlgorithm::from_name(v).ok_or_else(|| {
        ConfigError::Invalid(format!(
            "{key} {v:?} is not one of gost2012-256, gost2012-512, rsa-sha256, ecdsa-sha256"
        ))
    })
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmulatorSettings {
    pub listen: String,
    pub data: PathBuf,
    pub answer_delay_ms: u64,
    pub redeliver_after_secs: f64,
    pub algorithm: String,
    pub schema_errors: crate::emulator::SchemaErrors,
    pub unknown_vs: crate::emulator::UnknownVs,
    pub file_store_listen: String,
    pub file_store_passive_ports: String,
    pub file_store_user: String,
    pub file_store_password: String,
}

impl EmulatorSettings {
    /// `file_store_passive_ports`: `None` for any free port, else `a-b`.
    pub fn passive_ports(&self) -> Result<Option<std::ops::RangeInclusive<u16>>, ConfigError> {
        let v = self.file_store_passive_ports.trim();
        if v.is_empty() {
            return Ok(None);
        }
        let bad = || {
            ConfigError::Invalid(format!(
                "emulator.file_store_passive_ports {v:?} is not \"\" or a range like \"50000-50100\""
            ))
        };
        let (a, b) = v.split_once('-').ok_or_else(bad)?;
        let a: u16 = a.trim().parse().map_err(|_| bad())?;
        let b: u16 = b.trim().parse().map_err(|_| bad())?;
        if a == 0 || a > b {
            return Err(bad());
        }
        Ok(Some(a..=b))
    }
}

/// How a request is retried when SMEV or the network fails in a way that
/// may pass: exponential backoff with jitter.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetrySettings {
    pub attempts: u32,
    pub initial_ms: u64,
    pub max_ms: u64,
}

impl RetrySettings {
    /// The pause after failed attempt `n` (1-based): `initial · 2^(n-1)`,
    /// capped at `max`, of which a random half is kept so that retries of
    /// many requests spread out.
    pub fn backoff(&self, attempt: u32) -> std::time::Duration {
        let exp = attempt.saturating_sub(1).min(20);
        let base = self.initial_ms.saturating_mul(1u64 << exp).min(self.max_ms);
        std::time::Duration::from_millis(base / 2 + fastrand::u64(0..=base / 2))
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogSettings {
    pub level: String,
    pub format: String,
}

/// A duration from seconds in the configuration (negative or NaN: zero).
pub fn secs(v: f64) -> std::time::Duration {
    std::time::Duration::try_from_secs_f64(v).unwrap_or_default()
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The files and the environment do not make settings (an unknown key,
    /// a value of the wrong type), said once, with where the key was set.
    #[error("configuration: {0}")]
    Load(String),
    #[error("configuration: {0}")]
    Invalid(String),
}

impl ConfigError {
    /// The same error, naming where each key it mentions was set: the
    /// environment variable, or the file.
    fn with_origin(
        self,
        file: Option<&Path>,
        env: &std::collections::HashMap<String, String>,
    ) -> Self {
        let (make, message): (fn(String) -> ConfigError, String) = match self {
            ConfigError::Load(m) => (ConfigError::Load, m),
            ConfigError::Invalid(m) => (ConfigError::Invalid, m),
        };
        let table = file
            .and_then(|f| std::fs::read_to_string(f).ok())
            .and_then(|t| t.parse::<toml::Table>().ok());
        let mut origins = Vec::new();
        for key in mentioned_keys(&message) {
            let var = format!(
                "MEZHVED__{}",
                key.split('.')
                    .map(str::to_uppercase)
                    .collect::<Vec<_>>()
                    .join("__")
            );
            let origin = if env.contains_key(&var) {
                format!("{key} is set by the environment variable {var}")
            } else if let (Some(t), Some(f)) = (&table, file)
                && lookup(t, &key)
            {
                format!("{key} is set in {}", f.display())
            } else {
                continue;
            };
            if !origins.contains(&origin) {
                origins.push(origin);
            }
        }
        if origins.is_empty() {
            make(message)
        } else {
            make(format!("{message} ({})", origins.join("; ")))
        }
    }
}

impl From<config::ConfigError> for ConfigError {
    fn from(e: config::ConfigError) -> Self {
        // The crate's own note of the origin ("in the environment", a
        // relative file name) gives way to ours (see `with_origin`).
        let text = e.to_string();
        let text = match text.rfind("` in ") {
            Some(at) => text[..at + 1].to_owned(),
            None => text,
        };
        ConfigError::Load(text)
    }
}

/// The dotted keys an error message names: `smev.version`, or from the
/// configuration crate's wording ``unknown field `urll` … for key `amqp` ``
/// and ``for key `gateway.send_concurrency` ``.
fn mentioned_keys(message: &str) -> Vec<String> {
    let quoted = |after: &str| {
        message
            .split(after)
            .nth(1)
            .and_then(|r| r.split('`').next())
            .map(str::to_owned)
    };
    let mut keys = Vec::new();
    match (quoted("unknown field `"), quoted("for key `")) {
        (Some(field), Some(section)) => keys.push(format!("{section}.{field}")),
        (None, Some(key)) => keys.push(key),
        _ => {}
    }
    for word in message.split_whitespace() {
        let w = word.trim_matches(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '.'));
        let w = w.trim_end_matches('.');
        if w.contains('.')
            && w.split('.').count() >= 2
            && w.split('.').all(|p| {
                !p.is_empty()
                    && p.chars()
                        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
            })
            && w.starts_with(|c: char| c.is_ascii_lowercase())
            && !keys.iter().any(|k| k == w)
        {
            keys.push(w.to_owned());
        }
    }
    keys
}

/// Whether the dotted `key` is in the TOML table.
fn lookup(t: &toml::Table, key: &str) -> bool {
    let mut parts = key.split('.');
    let Some(first) = parts.next() else {
        return false;
    };
    let mut v = match t.get(first) {
        Some(v) => v,
        None => return false,
    };
    for p in parts {
        match v.get(p) {
            Some(next) => v = next,
            None => return false,
        }
    }
    true
}

impl Settings {
    /// SMEV exchanges the daemon runs at once at most: one per send slot
    /// and per poll worker (a worker's Ack follows its GetResponse), and one
    /// for the status and queue-depth calls. The SMEV client keeps as many
    /// connections alive.
    pub fn smev_connections(&self) -> usize {
        self.gateway.send_concurrency + self.smev.poll_concurrency + 1
    }

    /// Built-in defaults, then `file` if given, then the environment.
    pub fn load(file: Option<&Path>) -> Result<Self, ConfigError> {
        Self::load_with_env(file, std::env::vars())
    }

    /// As [`Settings::load`], with the environment given explicitly (tests).
    pub fn load_with_env(
        file: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Self, ConfigError> {
        let vars: std::collections::HashMap<String, String> = env
            .into_iter()
            .filter(|(k, _)| k.starts_with("MEZHVED__"))
            .collect();
        Self::build(file, vars.clone()).map_err(|e| e.with_origin(file, &vars))
    }

    fn build(
        file: Option<&Path>,
        vars: std::collections::HashMap<String, String>,
    ) -> Result<Self, ConfigError> {
        use config::{Config, Environment, File, FileFormat};
        let mut b = Config::builder().add_source(File::from_str(DEFAULT_TOML, FileFormat::Toml));
        if let Some(f) = file {
            if !f.exists() {
                return Err(ConfigError::Invalid(format!(
                    "{} does not exist",
                    f.display()
                )));
            }
            b = b.add_source(File::from(f).format(FileFormat::Toml));
        }
        b = b.add_source(
            Environment::with_prefix("MEZHVED")
                .prefix_separator("__")
                .separator("__")
                .list_separator(",")
                .with_list_parse_key("smev.trust")
                .with_list_parse_key("ops.allowed_hosts")
                .with_list_parse_key("registers.eis.snapshot_urls")
                .with_list_parse_key("lookup.tax_debt_flags.debt")
                .with_list_parse_key("lookup.tax_debt_flags.no_debt")
                .with_list_parse_key("adapter.it_systems")
                .try_parsing(true)
                .source(Some(vars)),
        );
        let settings: Settings = b.build()?.try_deserialize()?;
        settings.check()?;
        Ok(settings)
    }

    fn check(&self) -> Result<(), ConfigError> {
        self.smev.version()?;
        self.lookup.routes.check().map_err(ConfigError::Invalid)?;
        self.registers.check().map_err(ConfigError::Invalid)?;
        if !(1..=10).contains(&self.lookup.rnp_lookback_years) {
            return Err(ConfigError::Invalid(
                "lookup.rnp_lookback_years must be between 1 and 10".into(),
            ));
        }
        self.signing.algorithm()?;
        self.signing.fallback()?;
        parse_algorithm("emulator.algorithm", &self.emulator.algorithm)?;
        self.emulator.passive_ports()?;
        let a = &self.attachments;
        if a.max_files == 0
            || a.max_file_bytes == 0
            || a.max_base64_bytes > a.max_file_bytes
            || a.file_store_connect_timeout_secs == 0
            || a.file_store_io_timeout_secs == 0
        {
            return Err(ConfigError::Invalid(
                "attachments: max_files, max_file_bytes and the file store timeouts at least 1, max_base64_bytes at most max_file_bytes".into(),
            ));
        }
        if self.signing.personal_key.is_empty() != self.signing.personal_certificate.is_empty() {
            return Err(ConfigError::Invalid(
                "signing.personal_key and signing.personal_certificate go together".into(),
            ));
        }
        if self.signing.has_key() == self.signing.certificate.is_empty() {
            return Err(ConfigError::Invalid(
                "signing.key and signing.certificate go together: set both or neither".into(),
            ));
        }
        if !(self.smev.endpoint.starts_with("http://")
            || self.smev.endpoint.starts_with("https://"))
        {
            return Err(ConfigError::Invalid(format!(
                "smev.endpoint {:?} is not an http(s) URL",
                self.smev.endpoint
            )));
        }
        if self.gateway.send_concurrency == 0
            || self.amqp.prefetch == 0
            || self.gateway.max_unsent == 0
        {
            return Err(ConfigError::Invalid(
                "gateway.send_concurrency, gateway.max_unsent and amqp.prefetch must be at least 1"
                    .into(),
            ));
        }
        for (key, v) in [
            (
                "gateway.deadline_check_secs",
                self.gateway.deadline_check_secs,
            ),
            (
                "gateway.instance_check_secs",
                self.gateway.instance_check_secs,
            ),
            ("smev.breaker_open_secs", self.smev.breaker_open_secs),
            ("amqp.reconnect_max_secs", self.amqp.reconnect_max_secs),
        ] {
            if !(v > 0.0 && v <= 86_400.0) {
                return Err(ConfigError::Invalid(format!(
                    "{key} must be more than 0 and at most 86400 seconds"
                )));
            }
        }
        if !(self.gateway.shutdown_grace_secs >= 0.0 && self.gateway.shutdown_grace_secs <= 3600.0)
        {
            return Err(ConfigError::Invalid(
                "gateway.shutdown_grace_secs must be between 0 and 3600".into(),
            ));
        }
        if self.smev.breaker_failures == 0
            || self.smev.breaker_max_open_secs < self.smev.breaker_open_secs
        {
            return Err(ConfigError::Invalid(
                "smev: breaker_failures ≥ 1 and breaker_max_open_secs ≥ breaker_open_secs".into(),
            ));
        }
        if !(1..=64).contains(&self.smev.poll_concurrency) {
            return Err(ConfigError::Invalid(
                "smev.poll_concurrency must be between 1 and 64".into(),
            ));
        }
        if self.smev.poll_min_ms == 0 || self.smev.poll_min_ms > self.smev.poll_max_ms {
            return Err(ConfigError::Invalid(
                "smev.poll_min_ms must be between 1 and poll_max_ms".into(),
            ));
        }
        if self.retry.attempts == 0
            || self.retry.initial_ms == 0
            || self.retry.initial_ms > self.retry.max_ms
        {
            return Err(ConfigError::Invalid(
                "retry: attempts ≥ 1 and 0 < initial_ms ≤ max_ms".into(),
            ));
        }
        if !self.ops.listen.is_empty() {
            let host_port = self.ops.listen.rsplit_once(':');
            if host_port.is_none_or(|(_, p)| p.parse::<u16>().is_err()) {
                return Err(ConfigError::Invalid(format!(
                    "ops.listen {:?} is not host:port (or empty to turn the server off)",
                    self.ops.listen
                )));
            }
            if !self.ops.is_loopback() && self.ops.token()?.is_none() {
                return Err(ConfigError::Invalid(format!(
                    "ops.listen {} is reachable from other hosts: set ops.token_file (or MEZHVED_OPS_TOKEN) so that every page asks for the token",
                    self.ops.listen
                )));
            }
        }
        for (key, v) in [
            ("ops.check_secs", self.ops.check_secs),
            ("ops.sample_secs", self.ops.sample_secs),
            ("ops.probe_timeout_secs", self.ops.probe_timeout_secs),
            ("limits.store_probe_secs", self.limits.store_probe_secs),
        ] {
            if !(v > 0.0 && v <= 3600.0) {
                return Err(ConfigError::Invalid(format!(
                    "{key} must be more than 0 and at most 3600 seconds"
                )));
            }
        }
        if !matches!(self.store.backend.as_str(), "files" | "postgres") {
            return Err(ConfigError::Invalid(format!(
                "store.backend {:?} is not \"files\" or \"postgres\"",
                self.store.backend
            )));
        }
        let schema = &self.store.postgres_schema;
        if schema.is_empty()
            || schema.len() > 48
            || !schema
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
            || schema.starts_with(|c: char| c.is_ascii_digit())
        {
            return Err(ConfigError::Invalid(format!(
                "store.postgres_schema {schema:?}: lower-case letters, digits and _ only, starting with a letter"
            )));
        }
        if self.store.is_postgres()
            && let Err(e) = self.store.postgres_url.parse::<tokio_postgres::Config>()
        {
            return Err(ConfigError::Invalid(format!(
                "store.postgres_url {}: {e}",
                redact_url(&self.store.postgres_url)
            )));
        }
        if !(1..=256).contains(&self.store.postgres_pool) {
            return Err(ConfigError::Invalid(
                "store.postgres_pool must be between 1 and 256".into(),
            ));
        }
        if !(1024..=crate::request::vs::HARD_MAX_CONTENT_BYTES).contains(&self.vs.max_content_bytes)
        {
            return Err(ConfigError::Invalid(format!(
                "vs.max_content_bytes must be between 1024 and {}",
                crate::request::vs::HARD_MAX_CONTENT_BYTES
            )));
        }
        for (key, v) in [
            (
                "smev_status.get_status_secs",
                self.smev_status.get_status_secs,
            ),
            (
                "smev_status.queue_statistics_secs",
                self.smev_status.queue_statistics_secs,
            ),
        ] {
            if !(0.0..=86_400.0).contains(&v) {
                return Err(ConfigError::Invalid(format!(
                    "{key} must be between 0 (off) and 86400 seconds"
                )));
            }
        }
        let stats = &self.smev_status.queue_statistics_endpoint;
        if !(stats.is_empty() || stats.starts_with("http://") || stats.starts_with("https://")) {
            return Err(ConfigError::Invalid(format!(
                "smev_status.queue_statistics_endpoint {stats:?} is not an http(s) URL"
            )));
        }
        self.adapter.check()?;
        if !matches!(self.log.format.as_str(), "plain" | "json") {
            return Err(ConfigError::Invalid(format!(
                "log.format {:?} is not plain or json",
                self.log.format
            )));
        }
        Ok(())
    }

    pub fn keys_dir(&self) -> PathBuf {
        self.gateway.state_dir.join("keys")
    }

    /// The bounds a new request is parsed with.
    pub fn request_limits(&self) -> crate::request::Limits {
        let a = &self.attachments;
        crate::request::Limits {
            vs_max_content_bytes: self.vs.max_content_bytes,
            attachments: crate::request::AttachmentLimits {
                max_files: a.max_files,
                max_base64_bytes: usize::try_from(a.max_base64_bytes).unwrap_or(usize::MAX),
                max_file_bytes: a.max_file_bytes,
            },
        }
    }

    pub fn emulator_dir(&self) -> PathBuf {
        self.gateway.state_dir.join("emulator")
    }

    pub fn spool_dir(&self) -> PathBuf {
        self.gateway.state_dir.join("spool")
    }
}

/// `amqp://user:secret@host/` → `amqp://user:***@host/`.
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    match rest.split_once('@') {
        Some((cred, host)) => match cred.split_once(':') {
            Some((user, _)) => format!("{scheme}://{user}:***@{host}"),
            None => format!("{scheme}://{cred}@{host}"),
        },
        None => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn built_in_defaults_load() {
        let s = Settings::load_with_env(None, []).unwrap();
        assert_eq!(s.amqp.queue_requests(), "mezhved.requests");
        assert_eq!(s.smev.version().unwrap(), Version::V1_3);
        assert_eq!(s.lookup, LookupConfig::default());
    }

    #[test]
    fn environment_overrides_any_key() {
        let env = [
            ("MEZHVED__AMQP__PREFIX".to_string(), "t1".to_string()),
            (
                "MEZHVED__SMEV__TRUST".to_string(),
                "a.pem,b.pem".to_string(),
            ),
            (
                "MEZHVED__GATEWAY__SEND_CONCURRENCY".to_string(),
                "3".to_string(),
            ),
            (
                "MEZHVED__LOOKUP__TAX_DEBT_FLAGS__NO_DEBT".to_string(),
                "0,2".to_string(),
            ),
        ];
        let s = Settings::load_with_env(None, env).unwrap();
        assert_eq!(s.amqp.prefix, "t1");
        assert_eq!(
            s.smev.trust,
            vec![PathBuf::from("a.pem"), PathBuf::from("b.pem")]
        );
        assert_eq!(s.gateway.send_concurrency, 3);
        assert_eq!(s.lookup.tax_debt_flags.no_debt, vec!["0", "2"]);
    }

    #[test]
    fn refuses_typos_and_bad_values() {
        let typo = [("MEZHVED__AMQP__URLL".to_string(), "x".to_string())];
        assert!(Settings::load_with_env(None, typo).is_err());
        let bad = [("MEZHVED__SMEV__VERSION".to_string(), "2.0".to_string())];
        let e = Settings::load_with_env(None, bad).unwrap_err().to_string();
        assert!(e.contains("smev.version"), "{e}");
    }

    #[test]
    fn a_bad_key_is_named_once_with_where_it_was_set() {
        let env = [("MEZHVED__AMQP__URLL".to_string(), "x".to_string())];
        let e = Settings::load_with_env(None, env).unwrap_err().to_string();
        assert_eq!(e.matches("unknown field").count(), 1, "{e}");
        assert!(
            e.ends_with("(amqp.urll is set by the environment variable MEZHVED__AMQP__URLL)"),
            "{e}"
        );

        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("mezhved.toml");
        std::fs::write(&file, "[gateway]\nsend_concurrency = \"many\"\n").unwrap();
        let e = Settings::load_with_env(Some(&file), [])
            .unwrap_err()
            .to_string();
        assert_eq!(e.matches("invalid type").count(), 1, "{e}");
        assert!(
            e.ends_with(&format!(
                "(gateway.send_concurrency is set in {})",
                file.display()
            )),
            "{e}"
        );

        let env = [("MEZHVED__OPS__LANGUAGE".to_string(), "de".to_string())];
        let e = Settings::load_with_env(None, env).unwrap_err().to_string();
        assert!(e.contains("\"de\" is not a language: ru or en"), "{e}");
        assert!(e.contains("MEZHVED__OPS__LANGUAGE"), "{e}");
    }

    #[test]
    fn secrets_are_not_printed() {
        let s = Settings::load_with_env(
            None,
            [(
                "MEZHVED__AMQP__URL".to_string(),
                "amqp://u:hunter2@h/".to_string(),
            )],
        )
        .unwrap();
        assert!(!format!("{s:?}").contains("hunter2"));
        assert_eq!(redact_url("amqps://u:p@h:5671/v"), "amqps://u:***@h:5671/v");
    }
}
