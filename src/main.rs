//! `mezhved`: the command line. Each command lives in `cli/`.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod cli;

/// mezhved — interagency message gateway between case systems and SMEV 3.
#[derive(Parser)]
#[command(version, about, long_about = None)]
struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the gateway: consume requests, send them through SMEV, write case files, reply.
    Run {
        /// Configuration layered over the built-in defaults.
        #[arg(long, short)]
        config: Option<PathBuf>,
    },
    /// Run the sample requests through the whole pipeline against the built-in emulator.
    Demo {
        /// Where the case files and state go.
        #[arg(long, default_value = "demo-out")]
        out: PathBuf,
        #[arg(long, short)]
        config: Option<PathBuf>,
        /// Use the spool directory even when RabbitMQ answers.
        #[arg(long)]
        spool: bool,
    },
    /// The SMEV 3 emulator and its data.
    Fixtures {
        #[command(subcommand)]
        command: FixturesCommand,
    },
    /// Make a key and certificate for testing (any supported algorithm).
    Keygen {
        /// gost2012-256, gost2012-512, rsa-sha256 or ecdsa-sha256.
        #[arg(long, short, default_value = "gost2012-256")]
        algorithm: String,
        /// Directory for <name>.key.pem and <name>.cert.pem.
        #[arg(long, default_value = "keys")]
        out: PathBuf,
        /// File name stem (default: the algorithm).
        #[arg(long)]
        name: Option<String>,
        /// Certificate subject common name.
        #[arg(long, default_value = "mezhved test key")]
        cn: String,
        #[arg(long, default_value_t = 365)]
        days: u32,
        /// Make a certification authority (may issue certificates).
        #[arg(long)]
        ca: bool,
        /// Issue the certificate with this CA key (with --issuer-cert).
        #[arg(long, requires = "issuer_cert")]
        issuer_key: Option<PathBuf>,
        #[arg(long, requires = "issuer_key")]
        issuer_cert: Option<PathBuf>,
    },
    /// Sign the element with Id=ID of a SMEV message, in the place SMEV expects.
    Sign {
        file: PathBuf,
        #[arg(long)]
        id: String,
        /// Key and certificate (PEM); default: the configured signing key.
        #[arg(long, requires = "cert")]
        key: Option<PathBuf>,
        #[arg(long, requires = "key")]
        cert: Option<PathBuf>,
        /// Write here instead of standard output.
        #[arg(long, short)]
        out: Option<PathBuf>,
        /// Leave the SMEV transform out of the Reference (for tools such as xmlsec1).
        #[arg(long)]
        exc_c14n_only: bool,
        #[arg(long, short)]
        config: Option<PathBuf>,
    },
    /// Check every signature of a SMEV message and report each.
    Verify {
        file: PathBuf,
        /// Trusted certificates or CA bundles (PEM); repeatable.
        #[arg(long)]
        trust: Vec<PathBuf>,
        /// Check certificate validity at this time (RFC 3339) instead of now.
        #[arg(long)]
        at: Option<String>,
        #[arg(long)]
        json: bool,
        /// The folder with the message's attachment files (named by their
        /// contentId or FileName): their hashes and PKCS#7 signatures are
        /// checked too.
        #[arg(long)]
        attachments: Option<PathBuf>,
    },
    /// Publish request messages (JSON files) to the requests queue, as a case system would.
    ///
    /// Each file is checked first with the daemon's own validation; if one is
    /// refused, nothing is published. Exit codes: 0 published (with --wait:
    /// every reply came, none refused), 1 an error (broker, file), 2 a request
    /// refused (by the check, or by the gateway's reply with --wait), 3 no
    /// reply in time (--wait), 78 a configuration error.
    Publish {
        files: Vec<PathBuf>,
        /// AMQP reply_to: the queue the result should go to (declare it first).
        #[arg(long, conflicts_with = "wait")]
        reply_to: Option<String>,
        /// AMQP correlation_id (default: the request_id of each file).
        #[arg(long)]
        correlation_id: Option<String>,
        /// Publish without checking (to see how the gateway refuses a message).
        #[arg(long)]
        no_check: bool,
        /// Wait for the replies on a temporary reply queue and print each verdict (SECS: at most this long, default 60).
        #[arg(long, value_name = "SECS", num_args = 0..=1, default_missing_value = "60")]
        wait: Option<f64>,
        #[arg(long, short)]
        config: Option<PathBuf>,
    },
    /// Queues, pending and overdue requests, recent failures and the daemon's health; exit 1 when something needs attention.
    Status {
        #[arg(long)]
        json: bool,
        /// The daemon's ops server (default: http://<ops.listen>).
        #[arg(long)]
        ops: Option<String>,
        /// ru or en (default: ops.language).
        #[arg(long)]
        lang: Option<mezhved::i18n::Lang>,
        #[arg(long, short)]
        config: Option<PathBuf>,
    },
    /// The dead-letter queue: list, show, replay, purge.
    Dlq {
        #[command(subcommand)]
        command: DlqCommand,
        #[arg(long, short, global = true)]
        config: Option<PathBuf>,
    },
    /// Local snapshots of the registers (РНП from ЕИС, foreign agents from Минюст).
    Registers {
        #[command(subcommand)]
        command: RegistersCommand,
    },
    /// Check the configuration, keys, certificates, broker and SMEV endpoint.
    CheckConfig {
        #[arg(long, short)]
        config: Option<PathBuf>,
    },
    /// The least CPU a lookup's cryptography costs on this machine with the configured key: 3 signatures, 1 verification and the digests of a lookup's signed bytes, timed in this process.
    CryptoFloor {
        /// Rounds over the four lookups of an application.
        #[arg(long, default_value_t = 200)]
        iterations: u32,
        #[arg(long)]
        json: bool,
        #[arg(long, short)]
        config: Option<PathBuf>,
    },
    /// Publish synthetic requests at a rate and report throughput, latency and lost or repeated results.
    Load {
        /// How many requests.
        #[arg(long, default_value_t = 1000)]
        count: u64,
        /// Requests per second, or "max".
        #[arg(long, default_value = "max")]
        rate: cli::load::Rate,
        /// Kinds to mix: a comma-separated list, "application" (the four lookups of an application) or "all".
        #[arg(long, default_value = "application")]
        kinds: String,
        /// Requests per case: 4 (an application's lookups) or more (one case per applicant, checked again and again).
        #[arg(long, default_value_t = 4)]
        per_case: u64,
        /// Print one JSON object instead of the report.
        #[arg(long)]
        json: bool,
        /// Publishes awaiting the broker's confirm at once.
        #[arg(long, default_value_t = 256)]
        in_flight: usize,
        /// Stop waiting when no reply came for this many seconds.
        #[arg(long, default_value_t = 60.0)]
        idle_timeout: f64,
        /// After the last reply, listen this many seconds more for repeats.
        #[arg(long, default_value_t = 1.0)]
        linger: f64,
        /// Check the configured case store (files or PostgreSQL): one final result per request.
        #[arg(long)]
        check_store: bool,
        /// Check the emulator at this URL: one accepted SendRequest per request.
        #[arg(long)]
        emulator: Option<String>,
        #[arg(long, short)]
        config: Option<PathBuf>,
    },
}

#[derive(Subcommand)]
enum RegistersCommand {
    /// Build the snapshots from files in the registers' official formats, or download them from the configured sources.
    Sync {
        /// ЕИС's published РНП documents: ZIP archives of XML (or single XML documents); repeatable.
        #[arg(long)]
        eis: Vec<PathBuf>,
        /// Минюст's export of the register of foreign agents (xlsx).
        #[arg(long)]
        minjust: Option<PathBuf>,
        /// Build only this register's snapshot: eis or minjust.
        #[arg(long)]
        only: Option<String>,
        #[arg(long, short)]
        config: Option<PathBuf>,
    },
}

#[derive(Subcommand)]
enum DlqCommand {
    /// The letters in the dead-letter queue, oldest first (they stay there).
    List {
        #[arg(long)]
        json: bool,
    },
    /// One letter: its reason and the message.
    Show {
        id: String,
        #[arg(long)]
        json: bool,
    },
    /// Publish letters back to the requests queue, fixed first if asked.
    Replay {
        ids: Vec<String>,
        /// Change the message before replaying: PATH=TEXT (a string) or PATH:=JSON; repeatable.
        #[arg(long)]
        set: Vec<String>,
        /// Replace the message with this file.
        #[arg(long)]
        body: Option<PathBuf>,
    },
    /// Delete every letter (asks for confirmation).
    Purge {
        /// Do not ask.
        #[arg(long)]
        yes: bool,
    },
}

#[derive(Subcommand)]
enum FixturesCommand {
    /// Serve SMEV 3 (SendRequest, GetResponse, Ack) over HTTP from the fixture data.
    Serve {
        /// Listen address (default: emulator.listen).
        #[arg(long)]
        listen: Option<String>,
        /// Fixture directory (default: emulator.data).
        #[arg(long)]
        data: Option<PathBuf>,
        #[arg(long, short)]
        config: Option<PathBuf>,
    },
    /// List the subjects of the fixture data with the verdict each should produce.
    List {
        #[arg(long)]
        json: bool,
        #[arg(long)]
        data: Option<PathBuf>,
        #[arg(long, short)]
        config: Option<PathBuf>,
    },
}

fn main() -> ExitCode {
    let args = Args::parse();
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    // The daemon's threads are a setting (the other commands keep one per
    // core), so its settings are loaded before the runtime starts; a load
    // that fails is reported as `run` reports any error.
    let run_settings = match &args.command {
        Command::Run { config } => Some(cli::load_settings(config.clone())),
        _ => None,
    };
    if let Some(Ok(settings)) = &run_settings {
        builder.worker_threads(settings.gateway.runtime_threads());
    }
    let rt = match builder.enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("mezhved: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = rt.block_on(async {
        match args.command {
            Command::Run { .. } => cli::run::run(run_settings.expect("loaded for run")?).await,
            Command::Demo { out, config, spool } => cli::demo::demo(out, config, spool).await,
            Command::Registers { command } => match command {
                RegistersCommand::Sync {
                    eis,
                    minjust,
                    only,
                    config,
                } => cli::registers::sync(config, eis, minjust, only).await,
            },
            Command::Fixtures { command } => match command {
                FixturesCommand::Serve {
                    listen,
                    data,
                    config,
                } => cli::fixtures::serve(config, listen, data).await,
                FixturesCommand::List { json, data, config } => {
                    cli::fixtures::list(config, data, json)
                }
            },
            Command::Keygen {
                algorithm,
                out,
                name,
                cn,
                days,
                ca,
                issuer_key,
                issuer_cert,
            } => cli::keys::keygen(cli::keys::Keygen {
                algorithm,
                out,
                name,
                common_name: cn,
                days,
                ca,
                issuer: issuer_key.zip(issuer_cert),
            }),
            Command::Sign {
                file,
                id,
                key,
                cert,
                out,
                exc_c14n_only,
                config,
            } => cli::keys::sign(cli::keys::Sign {
                file,
                id,
                key: key.zip(cert),
                out,
                exc_c14n_only,
                config,
            }),
            Command::Verify {
                file,
                trust,
                at,
                json,
                attachments,
            } => cli::keys::verify(file, trust, at, json, attachments),
            Command::Publish {
                files,
                reply_to,
                correlation_id,
                no_check,
                wait,
                config,
            } => {
                async {
                    let wait = match wait {
                        Some(w) if !(w.is_finite() && w > 0.0) => {
                            anyhow::bail!("--wait takes seconds (more than 0), got {w}")
                        }
                        w => w.map(std::time::Duration::from_secs_f64),
                    };
                    let options = cli::publish::Options {
                        reply_to,
                        correlation_id,
                        check: !no_check,
                        wait,
                    };
                    cli::publish::publish(config, files, options).await
                }
                .await
            }
            Command::Status {
                json,
                ops,
                lang,
                config,
            } => cli::status::status(config, json, ops, lang).await,
            Command::Dlq { command, config } => {
                let cmd = match command {
                    DlqCommand::List { json } => cli::dlq::Dlq::List { json },
                    DlqCommand::Show { id, json } => cli::dlq::Dlq::Show { id, json },
                    DlqCommand::Replay { ids, set, body } => {
                        cli::dlq::Dlq::Replay { ids, set, body }
                    }
                    DlqCommand::Purge { yes } => cli::dlq::Dlq::Purge { yes },
                };
                cli::dlq::dlq(config, cmd).await
            }
            Command::CheckConfig { config } => cli::check_config::check_config(config).await,
            Command::CryptoFloor {
                iterations,
                json,
                config,
            } => cli::floor::run(cli::floor::Floor {
                config,
                iterations,
                json,
            }),
            Command::Load {
                count,
                rate,
                kinds,
                per_case,
                json,
                in_flight,
                idle_timeout,
                linger,
                check_store,
                emulator,
                config,
            } => {
                let secs = |v: f64, what: &str| {
                    if v.is_finite() && v >= 0.0 {
                        Ok(std::time::Duration::from_secs_f64(v))
                    } else {
                        Err(anyhow::anyhow!(
                            "--{what} takes seconds (0 or more), got {v}"
                        ))
                    }
                };
                async {
                    cli::load::load(cli::load::Load {
                        config,
                        count,
                        rate,
                        kinds: mezhved::load::parse_kinds(&kinds).map_err(anyhow::Error::msg)?,
                        per_case,
                        json,
                        in_flight,
                        idle_timeout: secs(idle_timeout, "idle-timeout")?,
                        linger: secs(linger, "linger")?,
                        check_store,
                        emulator,
                    })
                    .await
                }
                .await
            }
        }
    });
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("mezhved: {e:#}");
            cli::exit_code(&e)
        }
    }
}
