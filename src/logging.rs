//! Logs: plain or JSON lines on standard error, with the fields of the
//! request's spans (`request_id`, `case_id`, `kind`, `message_id`) on
//! every line; the level can be changed while running; the last warnings
//! and errors are kept for operators (`/api/status`, the dashboard).

use std::collections::VecDeque;
use std::fmt::Write as _;
use std::sync::{Arc, Mutex};

use serde::Serialize;
use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer, reload};

/// A warning or error, as the operator sees it.
#[derive(Clone, Debug, Serialize)]
pub struct LogLine {
    pub at: String,
    pub level: String,
    pub target: String,
    pub message: String,
    /// The event's and its spans' fields, `key=value` separated by spaces.
    pub fields: String,
}

const KEPT: usize = 50;

type FilterHandle = reload::Handle<EnvFilter, tracing_subscriber::Registry>;

/// Changes the level at run time and reads the kept warnings.
#[derive(Clone)]
pub struct LogControl {
    filter: Option<FilterHandle>,
    current: Arc<Mutex<String>>,
    recent: Arc<Mutex<VecDeque<LogLine>>>,
}

impl LogControl {
    /// The filter in force (`info,lapin=warn,…`).
    pub fn level(&self) -> String {
        self.current.lock().expect("log lock").clone()
    }

    /// Sets the filter: a level (`debug`) or a tracing directive list
    /// (`info,mezhved::pipeline=debug`).
    pub fn set_level(&self, spec: &str) -> Result<String, String> {
        let directive = quiet_returns(directive(spec.trim()));
        let filter = EnvFilter::try_new(&directive)
            .map_err(|e| format!("{spec:?} is not a level or a filter: {e}"))?;
        let handle = self
            .filter
            .as_ref()
            .ok_or("logging was set up elsewhere; its level cannot be changed here")?;
        handle
            .reload(filter)
            .map_err(|e| format!("cannot change the level: {e}"))?;
        *self.current.lock().expect("log lock") = directive.clone();
        Ok(directive)
    }

    /// The last warnings and errors, newest first.
    pub fn recent(&self) -> Vec<LogLine> {
        self.recent
            .lock()
            .expect("log lock")
            .iter()
            .rev()
            .cloned()
            .collect()
    }
}

/// A bare level keeps the broker client's chatter at `warn`.
fn directive(level: &str) -> String {
    if level.contains('=') || level.contains(',') {
        level.to_owned()
    } else {
        format!("{level},lapin=warn,amq_protocol=warn")
    }
}

/// Whatever the filter, the broker client's own line about a returned
/// message (a reply to a `reply_to` queue that does not exist) is left
/// out: it prints the whole message as a byte dump, and the gateway says
/// what happened in a line of its own (the queue, where the reply went).
///
/// And the FTP client's target is held at `info` whatever the filter says:
/// at `trace` it prints the control channel, the `PASS` line included.
fn quiet_returns(spec: String) -> String {
    let ftp = crate::attachment::ftp::CLIENT_LOG_TARGET;
    let kept: Vec<&str> = spec
        .split(',')
        .filter(|d| !d.trim().starts_with(ftp))
        .collect();
    let spec = format!("{},{ftp}=info", kept.join(","));
    if spec.contains(RETURNED) {
        spec
    } else {
        format!("{spec},{RETURNED}=off")
    }
}

/// The broker client's module that logs returned messages.
const RETURNED: &str = "lapin::returned_messages";

/// Colours only on a terminal, and never with `NO_COLOR` set
/// (<https://no-color.org>): a log written to a file stays plain text.
fn colour() -> bool {
    use std::io::IsTerminal as _;
    std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()) && std::io::stderr().is_terminal()
}

/// Installs the subscriber (once per process; later calls return a
/// control that cannot change the level). `RUST_LOG` overrides `level`.
pub fn init(level: &str, format: &str) -> LogControl {
    let spec = quiet_returns(
        std::env::var("RUST_LOG")
            .ok()
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| directive(level)),
    );
    let filter = EnvFilter::try_new(&spec).unwrap_or_else(|_| EnvFilter::new("info"));
    let (filter, handle) = reload::Layer::new(filter);
    let recent = Arc::new(Mutex::new(VecDeque::new()));
    let keeper = Keeper {
        recent: recent.clone(),
    };
    let fmt = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_ansi(colour());
    let installed = if format == "json" {
        tracing_subscriber::registry()
            .with(filter)
            .with(keeper)
            .with(
                fmt.json()
                    .flatten_event(true)
                    .with_current_span(false)
                    .with_span_list(true),
            )
            .try_init()
    } else {
        tracing_subscriber::registry()
            .with(filter)
            .with(keeper)
            .with(fmt)
            .try_init()
    };
    LogControl {
        filter: installed.is_ok().then_some(handle),
        current: Arc::new(Mutex::new(spec)),
        recent,
    }
}

/// Keeps the last warnings and errors.
struct Keeper {
    recent: Arc<Mutex<VecDeque<LogLine>>>,
}

/// The fields of a span, formatted once.
struct SpanFields(String);

#[derive(Default)]
struct Collect {
    message: String,
    fields: String,
}

impl Visit for Collect {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            let _ = write!(self.message, "{value:?}");
        } else {
            let _ = write!(self.fields, " {}={value:?}", field.name());
        }
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.message.push_str(value);
        } else {
            let _ = write!(self.fields, " {}={value}", field.name());
        }
    }
}

impl<S> Layer<S> for Keeper
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_new_span(
        &self,
        attrs: &tracing::span::Attributes<'_>,
        id: &tracing::span::Id,
        ctx: Context<'_, S>,
    ) {
        let mut c = Collect::default();
        attrs.record(&mut c);
        if let Some(span) = ctx.span(id) {
            span.extensions_mut().insert(SpanFields(c.fields));
        }
    }

    fn on_record(
        &self,
        id: &tracing::span::Id,
        values: &tracing::span::Record<'_>,
        ctx: Context<'_, S>,
    ) {
        let mut c = Collect::default();
        values.record(&mut c);
        if let Some(span) = ctx.span(id)
            && let Some(f) = span.extensions_mut().get_mut::<SpanFields>()
        {
            f.0.push_str(&c.fields);
        }
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        let level = *event.metadata().level();
        if level > Level::WARN {
            return;
        }
        let mut c = Collect::default();
        event.record(&mut c);
        let mut fields = String::new();
        if let Some(scope) = ctx.event_scope(event) {
            for span in scope.from_root() {
                if let Some(f) = span.extensions().get::<SpanFields>() {
                    fields.push_str(&f.0);
                }
            }
        }
        fields.push_str(&c.fields);
        let line = LogLine {
            at: crate::clock::rfc3339(crate::clock::now()),
            level: level.to_string(),
            target: event.metadata().target().to_owned(),
            message: c.message,
            fields: fields.trim().to_owned(),
        };
        let mut q = self.recent.lock().expect("log lock");
        if q.len() == KEPT {
            q.pop_front();
        }
        q.push_back(line);
    }
}
