//! The commands of the `mezhved` binary.

pub mod check_config;
pub mod demo;
pub mod dlq;
pub mod fixtures;
pub mod floor;
pub mod keys;
pub mod load;
pub mod publish;
pub mod registers;
pub mod run;
pub mod status;

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
pub fn init_logging(level: &str, format: &str) -> mezhved::logging::LogControl {
    mezhved::logging::init(level, format)
}
