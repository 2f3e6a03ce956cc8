//! `mezhved run`: the daemon.

use std::process::ExitCode;

use std::io::ErrorKind;

use anyhow::Context;
use mezhved::casefile::Store;
use mezhved::casefile::instance::{About, hostname};
use mezhved::config::Settings;
use mezhved::ops::OpsError;
use mezhved::pipeline::{Gateway, credentials};
use mezhved::transport;

pub async fn run(settings: Settings) -> anyhow::Result<ExitCode> {
    // Before anything else: is another mezhved here already, on this ops
    // address or this case store?
    let peers = Store::running_instances(&settings);
    let listener = match mezhved::ops::bind(&settings.ops).await {
        Ok(l) => l,
        Err(OpsError::Listen { addr, source }) if source.kind() == ErrorKind::AddrInUse => {
            anyhow::bail!(address_taken(&addr, &peers).await)
        }
        Err(e) => return Err(e.into()),
    };
    for p in &peers {
        println!(
            "mezhved: another mezhved is running on this case store ({}): pid {}, ops {}; this one shares the work with it",
            settings.gateway.cases_root.display(),
            p.pid,
            p.ops.as_deref().unwrap_or("off")
        );
    }
    let log = super::init_logging(&settings.log.level, &settings.log.format);
    let consumer_tag = format!("mezhved-{}-{}", hostname(), std::process::id());
    let (inbox, outbox) = transport::connect_amqp(&settings.amqp, &consumer_tag)
        .await
        .context("RabbitMQ is needed by `mezhved run` (is it running? see amqp.url)")?;
    let gateway = Gateway::new(settings, outbox)?;
    if let Some(l) = listener {
        let ops = mezhved::ops::serve(l, gateway.clone(), log).await?;
        let url = format!("http://{}", ops.addr);
        if let Err(e) = gateway.store().announce(Some(&url)) {
            tracing::warn!(error = %e, "cannot note the ops address in the instance's lock file");
        }
        println!("mezhved: ops server on {url} (/healthz /readyz /metrics, dashboard at /)");
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
    println!(
        "mezhved: async threads: {} (gateway.runtime_threads)",
        tokio::runtime::Handle::current().metrics().num_workers()
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

/// Why `ops.listen` cannot be had: another mezhved holds it (its pid and
/// ops address, asked of it or read from its lock file on this case
/// store), or some other program does.
async fn address_taken(addr: &str, peers: &[About]) -> String {
    let url = format!("http://{addr}");
    let pid = match mezhved::ops::who_listens(addr).await {
        Some((pid, _)) => Some(pid),
        None => peers
            .iter()
            .find(|p| p.ops.as_deref() == Some(url.as_str()))
            .map(|p| p.pid),
    };
    match pid {
        Some(pid) => format!(
            "another mezhved is running: pid {pid}, ops {url}; stop it first (kill -TERM {pid}), or give this one another ops.listen"
        ),
        None => format!(
            "ops.listen {addr} is in use by another program (not a mezhved that answers); set ops.listen to a free address, or \"\" to turn the ops server off"
        ),
    }
}
