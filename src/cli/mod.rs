//! The commands of the `mezhved` binary.

pub mod demo;
pub mod fixtures;
pub mod keys;
pub mod load;
pub mod publish;
pub mod run;

use std::path::PathBuf;
use std::process::ExitCode;

use mezhved::config::{ConfigError, Settings};

/// Exit code for a configuration error (EX_CONFIG from sysexits).
pub const EXIT_CONFIG: u8 = 78;

pub fn exit_code(e: &anyhow::Error) -> ExitCode {
    if e.downcast_ref::<ConfigError>().is_some() {
        ExitCode::from(EXIT_CONFIG)
    } else {
        ExitCode::FAILURE
    }
}

pub fn load_settings(config: Option<PathBuf>) -> anyhow::Result<Settings> {
    Ok(Settings::load(config.as_deref())?)
}

/// Logging to stderr, plain or JSON; `RUST_LOG` overrides the configured level.
pub fn init_logging(level: &str, format: &str) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| {
        EnvFilter::new(if level.contains('=') {
            level.to_owned()
        } else {
            format!("{level},lapin=warn,amq_protocol=warn")
        })
    });
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = if format == "json" {
        builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .try_init()
    } else {
        builder.try_init()
    };
}
