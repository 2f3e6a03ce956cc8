//! `mezhved demo`: the whole path on one machine with nothing set up. The
//! emulator starts in-process, the sample requests of `fixtures/requests`
//! go through the real pipeline (over RabbitMQ when it answers, through a
//! spool directory otherwise), and a table shows where each one ended.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use futures_util::StreamExt;
use lapin::options::{
    BasicAckOptions, BasicConsumeOptions, QueueDeclareOptions, QueueDeleteOptions,
};
use lapin::types::FieldTable;
use mezhved::casefile::ResultRecord;
use mezhved::emulator::{self, Fixtures};
use mezhved::lookup::Registry;
use mezhved::pipeline::{Gateway, credentials};
use mezhved::request::Kind;
use mezhved::transport::{self, DeadLetter, Outbox};

use super::publish::{Publisher, request_id_of, stem};

/// How long the demo waits for every sample to reach a final state.
const DEADLINE: Duration = Duration::from_secs(90);

struct Sample {
    name: String,
    body: Vec<u8>,
    request_id: Option<String>,
}

/// Where a sample ended.
enum Ending {
    Result(Box<ResultRecord>),
    Dead(Box<DeadLetter>),
}

pub async fn demo(
    out: PathBuf,
    config: Option<PathBuf>,
    force_spool: bool,
) -> anyhow::Result<ExitCode> {
    let mut settings = super::load_settings(config)?;
    if std::env::var_os("RUST_LOG").is_none() {
        // Refusals are part of the demo; the table reports them.
        super::init_logging("error", "plain");
    } else {
        super::init_logging(&settings.log.level, &settings.log.format);
    }
    std::fs::create_dir_all(&out).with_context(|| out.display().to_string())?;
    settings.gateway.cases_root = out.join("cases");
    settings.gateway.state_dir = out.join("state");
    settings.smev.poll_min_ms = 20;
    settings.smev.poll_max_ms = 200;
    settings.emulator.answer_delay_ms = 50;

    let data = settings.emulator.data.clone();
    let samples = load_samples(&data.join("requests"))?;
    let emu = emulator::start(&settings, "127.0.0.1:0", &data)
        .await
        .context("starting the built-in SMEV emulator")?;
    settings.smev.endpoint = emu.endpoint();
    settings.smev.trust = vec![emu.certificate.clone()];
    emu.point_registers(&mut settings);

    // RabbitMQ when it answers (on demo queues of their own), else the spool.
    settings.amqp.prefix = format!("mezhved-demo-{:08x}", fastrand::u32(..));
    let amqp = if force_spool {
        None
    } else {
        match tokio::time::timeout(
            Duration::from_secs(3),
            transport::connect_amqp(&settings.amqp, "mezhved-demo"),
        )
        .await
        {
            Ok(Ok(pair)) => Some(pair),
            _ => None,
        }
    };
    let (inbox, outbox, via) = match amqp {
        Some((i, o)) => (
            i,
            o,
            format!(
                "RabbitMQ at {}",
                mezhved::config::redact_url(&settings.amqp.url)
            ),
        ),
        None => {
            let (i, o) = transport::spool(&settings.spool_dir())?;
            (
                i,
                o,
                format!(
                    "spool directory {} (RabbitMQ did not answer)",
                    settings.spool_dir().display()
                ),
            )
        }
    };

    let gateway = Gateway::new(settings.clone(), outbox.clone())?;
    println!("mezhved demo");
    println!(
        "  emulator:   {} (signs with {})",
        emu.endpoint(),
        emu.node.algorithm()
    );
    println!(
        "  gateway:    signs with {} ({})",
        gateway.signing_algorithm(),
        credentials::describe(gateway.signing_algorithm())
    );
    println!("  transport:  {via}");
    println!("  case files: {}", settings.gateway.cases_root.display());
    println!(
        "  requests:   {} samples from {}",
        samples.len(),
        data.join("requests").display()
    );
    println!();

    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let run = tokio::spawn(gateway.clone().run(inbox, stop_rx));

    let endings = match &outbox {
        Outbox::Amqp(_) => through_amqp(&settings, &samples).await,
        Outbox::Spool(spool) => through_spool(spool, &settings.spool_dir(), &samples).await,
    };
    let _ = stop_tx.send(true);
    let _ = tokio::time::timeout(Duration::from_secs(5), run).await;
    emu.stop();
    if matches!(outbox, Outbox::Amqp(_)) {
        remove_demo_queues(&settings).await;
    }
    let endings = endings?;

    let registry = Registry::new(&settings.lookup);
    let fixtures = Fixtures::load(&data, &registry).ok();
    print_table(&samples, &endings, fixtures.as_ref());
    let missing = samples
        .iter()
        .filter(|s| !endings.contains_key(&s.name))
        .count();
    println!();
    if missing == 0 {
        println!("All {} requests reached a final state.", samples.len());
        Ok(ExitCode::SUCCESS)
    } else {
        println!(
            "{missing} of {} requests did not reach a final state within {} s.",
            samples.len(),
            DEADLINE.as_secs()
        );
        Ok(ExitCode::FAILURE)
    }
}

fn load_samples(dir: &Path) -> anyhow::Result<Vec<Sample>> {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| {
            format!(
                "sample requests in {} (run from the project directory, or set emulator.data)",
                dir.display()
            )
        })?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    paths.sort();
    paths
        .into_iter()
        .map(|p| {
            let body = std::fs::read(&p).with_context(|| p.display().to_string())?;
            Ok(Sample {
                name: stem(&p),
                request_id: request_id_of(&body),
                body,
            })
        })
        .collect()
}

/// Publishes every sample with `reply_to` set, then collects replies and
/// dead letters until each sample has one.
async fn through_amqp(
    settings: &mezhved::config::Settings,
    samples: &[Sample],
) -> anyhow::Result<HashMap<String, Ending>> {
    let publisher = Publisher::connect(&settings.amqp).await?;
    let ch = publisher.channel();
    let replies = format!("{}.demo-replies", settings.amqp.prefix);
    ch.queue_declare(
        replies.as_str().into(),
        QueueDeclareOptions::default(),
        FieldTable::default(),
    )
    .await?;
    for s in samples {
        publisher
            .publish(&s.body, &s.name, Some(&replies), Some(&s.name))
            .await?;
    }
    let mut from_replies = ch
        .basic_consume(
            replies.as_str().into(),
            "demo-replies".into(),
            BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await?;
    let dead_q = settings.amqp.queue_dead();
    let mut from_dead = ch
        .basic_consume(
            dead_q.as_str().into(),
            "demo-dead".into(),
            BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await?;
    let mut endings = HashMap::new();
    let deadline = tokio::time::Instant::now() + DEADLINE;
    while endings.len() < samples.len() {
        tokio::select! {
            Some(Ok(d)) = from_replies.next() => {
                let _ = d.acker.ack(BasicAckOptions::default()).await;
                let name = d.properties.correlation_id().as_ref().map(|c| c.as_str().to_owned()).unwrap_or_default();
                if let Ok(r) = serde_json::from_slice::<ResultRecord>(&d.data) {
                    endings.insert(name, Ending::Result(Box::new(r)));
                }
            }
            Some(Ok(d)) = from_dead.next() => {
                let _ = d.acker.ack(BasicAckOptions::default()).await;
                if let Ok(l) = serde_json::from_slice::<DeadLetter>(&d.data) {
                    endings.insert(l.message_id.clone().unwrap_or_default(), Ending::Dead(Box::new(l)));
                }
            }
            _ = tokio::time::sleep_until(deadline) => break,
        }
    }
    Ok(endings)
}

/// The demo's queues are its own; leave nothing behind on the broker.
async fn remove_demo_queues(settings: &mezhved::config::Settings) {
    let Ok(publisher) = Publisher::connect(&settings.amqp).await else {
        return;
    };
    let ch = publisher.channel();
    for q in [
        format!("{}.demo-replies", settings.amqp.prefix),
        settings.amqp.queue_requests(),
        settings.amqp.queue_dead(),
        settings.amqp.queue_replies(),
    ] {
        let _ = ch
            .queue_delete(q.as_str().into(), QueueDeleteOptions::default())
            .await;
    }
    let _ = ch
        .exchange_delete(
            settings.amqp.exchange_results().as_str().into(),
            Default::default(),
        )
        .await;
}

/// Drops every sample into the spool and reads `out/` and `dead/`.
async fn through_spool(
    spool: &transport::SpoolOutbox,
    dir: &Path,
    samples: &[Sample],
) -> anyhow::Result<HashMap<String, Ending>> {
    for s in samples {
        spool.submit(&s.name, &s.body)?;
    }
    let by_request: HashMap<&str, &str> = samples
        .iter()
        .filter_map(|s| s.request_id.as_deref().map(|r| (r, s.name.as_str())))
        .collect();
    let mut endings = HashMap::new();
    let deadline = tokio::time::Instant::now() + DEADLINE;
    while endings.len() < samples.len() && tokio::time::Instant::now() < deadline {
        for entry in std::fs::read_dir(dir.join("out"))?.chain(std::fs::read_dir(dir.join("dead"))?)
        {
            let path = entry?.path();
            if path
                .file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with('.'))
            {
                continue;
            }
            let Ok(data) = std::fs::read(&path) else {
                continue;
            };
            if let Ok(r) = serde_json::from_slice::<ResultRecord>(&data) {
                if let Some(name) = by_request.get(r.request_id.to_string().as_str()) {
                    endings.insert((*name).to_owned(), Ending::Result(Box::new(r)));
                }
            } else if let Ok(l) = serde_json::from_slice::<DeadLetter>(&data) {
                endings.insert(
                    l.message_id.clone().unwrap_or_default(),
                    Ending::Dead(Box::new(l)),
                );
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Ok(endings)
}

/// The verdict the fixture data promises for a sample, if it knows the
/// subject; samples named `…-invalid-…` are meant to be refused.
fn expected(sample: &Sample, fixtures: Option<&Fixtures>) -> Option<String> {
    if sample.name.contains("-invalid-") {
        return Some("refused".into());
    }
    let v: serde_json::Value = serde_json::from_slice(&sample.body).ok()?;
    let kind = Kind::parse(v.get("kind")?.as_str()?)?;
    let subject = v.get("subject")?.as_object()?;
    let id = ["ogrn", "ogrnip", "inn", "snils"]
        .iter()
        .find_map(|k| subject.get(*k).and_then(|x| x.as_str()))?;
    let id: String = id.chars().filter(char::is_ascii_digit).collect();
    fixtures?.find(kind, &id).map(|s| s.expect.to_string())
}

fn print_table(samples: &[Sample], endings: &HashMap<String, Ending>, fixtures: Option<&Fixtures>) {
    println!(
        "{:<36} {:<20} {:<11} {:<11} case file / reason",
        "request", "kind", "verdict", "expected"
    );
    for s in samples {
        let exp = expected(s, fixtures).unwrap_or_else(|| "-".into());
        match endings.get(&s.name) {
            Some(Ending::Result(r)) => {
                let mark = if exp == "-" || exp == r.outcome.verdict.as_str() {
                    ""
                } else {
                    "  <- differs"
                };
                let detail = r
                    .outcome
                    .rejection
                    .as_ref()
                    .map(|x| {
                        format!(
                            " [{} {}]",
                            x.code,
                            x.text.chars().take(40).collect::<String>()
                        )
                    })
                    .or_else(|| {
                        r.outcome.failure.as_ref().map(|f| {
                            format!(" [{}]", f.reason.chars().take(60).collect::<String>())
                        })
                    })
                    .unwrap_or_default();
                println!(
                    "{:<36} {:<20} {:<11} {:<11} {}{detail}{mark}",
                    s.name,
                    r.kind.as_str(),
                    r.outcome.verdict.as_str(),
                    exp,
                    r.case_file
                );
            }
            Some(Ending::Dead(l)) => println!(
                "{:<36} {:<20} {:<11} {:<11} dead letter: {} at {:?}: {}{}",
                s.name,
                kind_of(&s.body),
                "refused",
                exp,
                l.reason.code,
                l.reason.field,
                l.reason.message,
                if exp == "-" || exp == "refused" {
                    ""
                } else {
                    "  <- differs"
                }
            ),
            None => println!(
                "{:<36} {:<20} {:<11} {:<11} (no final state yet)",
                s.name,
                kind_of(&s.body),
                "-",
                exp
            ),
        }
    }
}

fn kind_of(body: &[u8]) -> String {
    serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .and_then(|v| v.get("kind").and_then(|k| k.as_str()).map(str::to_owned))
        .unwrap_or_else(|| "?".into())
}
