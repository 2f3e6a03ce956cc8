//! `mezhved run`: the daemon.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use mezhved::pipeline::{Gateway, credentials};
use mezhved::transport;

pub async fn run(config: Option<PathBuf>) -> anyhow::Result<ExitCode> {
    let settings = super::load_settings(config)?;
    super::init_logging(&settings.log.level, &settings.log.format);
    let consumer_tag = format!("mezhved-{}-{}", hostname(), std::process::id());
    let (inbox, outbox) = transport::connect_amqp(&settings.amqp, &consumer_tag)
        .await
        .context("RabbitMQ is needed by `mezhved run` (is it running? see amqp.url)")?;
    let gateway = Gateway::new(settings, outbox)?;
    println!(
        "mezhved: signing with {} ({}), SMEV {}",
        gateway.signing_algorithm(),
        credentials::describe(gateway.signing_algorithm()),
        gateway.settings.smev.endpoint
    );
    let (tx, rx) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        let _ = tokio::signal::ctrl_c().await;
        tracing::info!("stopping");
        let _ = tx.send(true);
    });
    gateway.run(inbox, rx).await?;
    Ok(ExitCode::SUCCESS)
}

pub fn hostname() -> String {
    std::fs::read_to_string("/etc/hostname")
        .map(|s| s.trim().to_owned())
        .unwrap_or_else(|_| "host".into())
}
