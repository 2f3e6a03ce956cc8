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
    /// Publish request messages (JSON files) to the requests queue, as a case system would.
    Publish {
        files: Vec<PathBuf>,
        /// AMQP reply_to: the queue the result should go to.
        #[arg(long)]
        reply_to: Option<String>,
        /// AMQP correlation_id (default: the request_id of each file).
        #[arg(long)]
        correlation_id: Option<String>,
        #[arg(long, short)]
        config: Option<PathBuf>,
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
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("mezhved: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = rt.block_on(async {
        match args.command {
            Command::Run { config } => cli::run::run(config).await,
            Command::Demo { out, config, spool } => cli::demo::demo(out, config, spool).await,
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
            Command::Publish {
                files,
                reply_to,
                correlation_id,
                config,
            } => cli::publish::publish(config, files, reply_to, correlation_id).await,
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
