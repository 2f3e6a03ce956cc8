//! `mezhved run`: the daemon.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use mezhved::casefile::instance::hostname;
use mezhved::pipeline::{Gateway, credentials};
use mezhved::transport;

pub async fn run(config: Option<PathBuf>) -> anyhow::Result<ExitCode> {
    let settings = super::load_settings(config)?;
    let log = super::init_logging(&settings.log.level, &settings.log.format);
    let consumer_tag = format!("mezhved-{}-{}", hostname(), std::process::id());
    let (inbox, outbox) = transport::connect_amqp(&settings.amqp, &consumer_tag)
        .await
        .context("RabbitMQ is needed by `mezhved run` (is it running? see amqp.url)")?;
    let gateway = Gateway::new(settings, outbox)?;
    if let Some(ops) = mezhved::ops::start(gateway.clone(), log).await? {
        println!(
            "mezhved: ops server on http://{} (/healthz /readyz /metrics, dashboard at /)",
            ops.addr
        );
    }
    if let Some(a) = mezhved::adapter::start(gateway.clone()).await? {
        println!(
            "mezhved: adapter interface on http://{} (Send, Get, Find; WSDL at ?wsdl)",
            a.addr
        );
    }
    println!(
        "mezhved: signing with {} ({}), SMEV {}",
        gateway.signing_algorithm(),
        credentials::describe(gateway.signing_algorithm()),
        gateway.settings.smev.endpoint
    );
    let (tx, rx) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        stop_signal().await;
        tracing::info!("signal received: stopping (a second signal exits at once)");
        eprintln!("mezhved: stopping; a second signal exits at once");
        let _ = tx.send(true);
        stop_signal().await;
        // Everything is written before it is acted on: exiting here loses
        // nothing; the next start resumes from the case store.
        eprintln!("mezhved: second signal, exiting now");
        std::process::exit(130);
    });
    gateway.run(inbox, rx).await?;
    Ok(ExitCode::SUCCESS)
}

/// SIGTERM or SIGINT.
async fn stop_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).expect("a SIGTERM handler can be installed");
    tokio::select! {
        _ = term.recv() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
}
