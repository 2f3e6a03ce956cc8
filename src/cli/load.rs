//! `mezhved load`: publish N synthetic requests at a rate, as case systems
//! would, collect the replies, and report throughput, latency and whether
//! every request got exactly one result.
//!
//! It rides out a broker restart: publishes not confirmed are sent again
//! (the gateway recognises the `request_id`), and the reply queue is
//! durable, so replies wait there while the tool reconnects.

use std::collections::HashMap;
use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context;
use futures_util::StreamExt;
use lapin::options::{
    BasicConsumeOptions, BasicPublishOptions, ConfirmSelectOptions, QueueDeclareOptions,
    QueueDeleteOptions,
};
use lapin::types::{AMQPValue, FieldTable};
use lapin::{BasicProperties, Channel, Connection, ConnectionProperties};
use mezhved::config::{AmqpSettings, redact_url};
use mezhved::load::{Check, Plan, Report, Tally};
use mezhved::request::Kind;
use tokio::sync::{Semaphore, watch};
use uuid::Uuid;

/// How fast to publish.
#[derive(Clone, Copy, Debug)]
pub enum Rate {
    PerSecond(f64),
    Max,
}

impl std::str::FromStr for Rate {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        if s == "max" {
            return Ok(Rate::Max);
        }
        match s.parse::<f64>() {
            Ok(r) if r > 0.0 && r.is_finite() => Ok(Rate::PerSecond(r)),
            _ => Err(format!(
                "--rate takes requests per second (more than 0) or \"max\", got {s:?}"
            )),
        }
    }
}

pub struct Load {
    pub config: Option<PathBuf>,
    pub count: u64,
    pub rate: Rate,
    pub kinds: Vec<Kind>,
    /// Requests per case.
    pub per_case: u64,
    pub json: bool,
    /// Publishes awaiting the broker's confirm at once.
    pub in_flight: usize,
    /// Give up waiting when no new reply came for this long.
    pub idle_timeout: Duration,
    /// After the last reply, keep listening this long for repeats.
    pub linger: Duration,
    /// Check the configured case store for one final result per request.
    pub check_store: bool,
    /// The emulator to check for one accepted `SendRequest` per request.
    pub emulator: Option<String>,
}

/// A confirming publisher that reconnects after the broker is lost.
struct Publisher {
    url: String,
    queue: String,
    live: tokio::sync::Mutex<Option<(Connection, Channel, u64)>>,
    generation: std::sync::atomic::AtomicU64,
}

impl Publisher {
    async fn channel(&self) -> anyhow::Result<(Channel, u64)> {
        let mut live = self.live.lock().await;
        if let Some((c, ch, g)) = live.as_ref()
            && c.status().connected()
            && ch.status().connected()
        {
            return Ok((ch.clone(), *g));
        }
        // Bounded: a broker that accepts the connection but never finishes
        // the handshake (it is still starting) must not hold the lock forever.
        let setup = async {
            let conn = Connection::connect(
                &self.url,
                ConnectionProperties::default().with_connection_name("mezhved-load".into()),
            )
            .await
            .with_context(|| format!("cannot connect to {}", redact_url(&self.url)))?;
            let ch = conn.create_channel().await?;
            ch.confirm_select(ConfirmSelectOptions::default()).await?;
            anyhow::Ok((conn, ch))
        };
        let (conn, ch) = tokio::time::timeout(Duration::from_secs(15), setup)
            .await
            .map_err(|_| {
                anyhow::anyhow!("the broker did not finish the connection set-up within 15 s")
            })??;
        let g = self
            .generation
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst)
            + 1;
        *live = Some((conn, ch.clone(), g));
        Ok((ch, g))
    }

    async fn broken(&self, generation: u64) {
        let mut live = self.live.lock().await;
        if live.as_ref().is_some_and(|(_, _, g)| *g == generation) {
            *live = None;
        }
    }

    /// Publishes and waits for the confirm.
    async fn publish_once(&self, body: &[u8], id: &str, reply_to: &str) -> anyhow::Result<()> {
        let (ch, g) = self.channel().await?;
        let props = BasicProperties::default()
            .with_content_type("application/json".into())
            .with_delivery_mode(2)
            .with_message_id(id.into())
            .with_correlation_id(id.into())
            .with_reply_to(reply_to.into());
        // A connection lost mid-publish may never settle the confirm.
        let result = tokio::time::timeout(Duration::from_secs(30), async {
            let confirm = ch
                .basic_publish(
                    "".into(),
                    self.queue.as_str().into(),
                    BasicPublishOptions {
                        mandatory: true,
                        ..Default::default()
                    },
                    body,
                    props,
                )
                .await?
                .await?;
            anyhow::ensure!(confirm.is_ack(), "the broker refused the message");
            anyhow::ensure!(
                confirm.take_message().is_none(),
                "the queue {} does not exist (is mezhved run up, with the same amqp.prefix?)",
                self.queue
            );
            Ok(())
        })
        .await
        .unwrap_or_else(|_| Err(anyhow::anyhow!("no confirm from the broker within 30 s")));
        if result.is_err() {
            self.broken(g).await;
        }
        result
    }
}

/// Counters the progress line shows.
#[derive(Default)]
struct Progress {
    republished: std::sync::atomic::AtomicU64,
    reconnects: std::sync::atomic::AtomicU64,
}

pub async fn load(args: Load) -> anyhow::Result<ExitCode> {
    anyhow::ensure!(args.count > 0, "--count must be at least 1");
    anyhow::ensure!(args.in_flight > 0, "--in-flight must be at least 1");
    let settings = super::load_settings(args.config.clone())?;
    let plan = Plan::new(args.kinds.clone()).per_case(args.per_case);
    let reply_queue = format!("{}.load.{}", settings.amqp.prefix, plan.run);
    let tally = Arc::new(Mutex::new(Tally::default()));
    let progress = Arc::new(Progress::default());
    let (stop_tx, stop_rx) = watch::channel(false);

    // The reply queue must exist before the first request is published.
    declare_reply_queue(&settings.amqp, &reply_queue).await?;
    super::publish::require_queue(&settings.amqp).await?;
    eprintln!(
        "mezhved load: run {}, {} requests ({}) at {}, to {} via {}; replies on {}",
        plan.run,
        args.count,
        args.kinds
            .iter()
            .map(|k| k.as_str())
            .collect::<Vec<_>>()
            .join(","),
        match args.rate {
            Rate::Max => "max rate".to_owned(),
            Rate::PerSecond(r) => format!("{r}/s"),
        },
        settings.amqp.queue_requests(),
        redact_url(&settings.amqp.url),
        reply_queue
    );
    let consumer = tokio::spawn(consume_replies(
        settings.amqp.url.clone(),
        reply_queue.clone(),
        tally.clone(),
        progress.clone(),
        stop_rx.clone(),
    ));
    let ticker = tokio::spawn(show_progress(
        args.count,
        tally.clone(),
        progress.clone(),
        stop_rx.clone(),
    ));

    let publisher = Arc::new(Publisher {
        url: settings.amqp.url.clone(),
        queue: settings.amqp.queue_requests(),
        live: tokio::sync::Mutex::new(None),
        generation: Default::default(),
    });
    publisher.channel().await?;
    let slots = Arc::new(Semaphore::new(args.in_flight));
    let start = Instant::now();
    let mut publishes = Vec::new();
    // Lookups a register's own source answers send no SendRequest: the
    // emulator's count applies to the SMEV-routed ones only.
    let mut via_smev = std::collections::HashSet::new();
    for n in 0..args.count {
        if let Rate::PerSecond(r) = args.rate {
            let due = start + Duration::from_secs_f64(n as f64 / r);
            tokio::time::sleep_until(due.into()).await;
        }
        let permit = slots.clone().acquire_owned().await.expect("never closed");
        let (id, body) = plan.request(n);
        let kind = plan.kinds[(n % plan.kinds.len() as u64) as usize];
        if settings.lookup.routes.of(kind) == mezhved::registers::Route::Smev {
            via_smev.insert(id);
        }
        tally
            .lock()
            .expect("tally lock")
            .published(id, Instant::now());
        let (p, q, prog) = (publisher.clone(), reply_queue.clone(), progress.clone());
        publishes.push(tokio::spawn(async move {
            let id = id.to_string();
            let mut failures = 0u32;
            // Unconfirmed means unknown: publish again until confirmed; the
            // gateway keeps one result per request_id.
            while let Err(e) = p.publish_once(&body, &id, &q).await {
                failures += 1;
                if failures == 1 {
                    prog.republished
                        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    if prog.republished.load(std::sync::atomic::Ordering::Relaxed) <= 3 {
                        eprintln!("mezhved load: publishing {id} failed ({e:#}); trying again");
                    }
                }
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
            drop(permit);
        }));
    }
    for p in publishes {
        p.await.context("a publish task failed")?;
    }

    // Wait for the replies: until every request has one, or none came for
    // the idle timeout; then linger for repeats.
    let mut last = (0u64, Instant::now());
    loop {
        let answered = tally.lock().expect("tally lock").answered_count();
        if answered == args.count {
            break;
        }
        if answered != last.0 {
            last = (answered, Instant::now());
        } else if last.1.elapsed() > args.idle_timeout {
            eprintln!(
                "mezhved load: no reply for {:?}; {} of {} requests unanswered",
                args.idle_timeout,
                args.count - answered,
                args.count
            );
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(args.linger).await;
    let _ = stop_tx.send(true);
    let _ = ticker.await;
    consumer.abort();

    let (store, smev) = {
        let ids: Vec<Uuid> = tally.lock().expect("tally lock").ids().copied().collect();
        let store = if args.check_store {
            let s = settings.clone();
            let prefix = plan.case_prefix();
            let counts = tokio::task::spawn_blocking(move || {
                mezhved::casefile::Store::reader_from_settings(&s)?.final_results(&prefix)
            })
            .await?
            .map_err(|e| anyhow::anyhow!("checking the case store: {e}"))?;
            Some(Check::of(ids.iter(), &counts))
        } else {
            None
        };
        let smev = match &args.emulator {
            Some(url) => Some(Check::of(
                ids.iter().filter(|id| via_smev.contains(*id)),
                &accepted_by(url).await?,
            )),
            None => None,
        };
        (store, smev)
    };
    delete_reply_queue(&settings.amqp, &reply_queue).await;
    let report: Report = tally.lock().expect("tally lock").report(store, smev);
    let republished = progress
        .republished
        .load(std::sync::atomic::Ordering::Relaxed);
    if args.json {
        let mut v = serde_json::to_value(&report).expect("reports serialise");
        v["run"] = plan.run.clone().into();
        v["republished"] = republished.into();
        println!("{v}");
    } else {
        println!("{}", report.render());
        if republished > 0 {
            println!(
                "requests published again after a broker failure: {republished} (the gateway recognises their request_id)"
            );
        }
    }
    Ok(if report.ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// The reply queue of a run: durable, so that replies survive a broker
/// restart, and removed by the broker an hour after the run stops using it.
async fn declare_reply_queue(s: &AmqpSettings, name: &str) -> anyhow::Result<()> {
    let conn = Connection::connect(&s.url, ConnectionProperties::default())
        .await
        .with_context(|| format!("cannot connect to {}", redact_url(&s.url)))?;
    let ch = conn.create_channel().await?;
    let mut args = FieldTable::default();
    args.insert("x-expires".into(), AMQPValue::LongInt(3_600_000));
    ch.queue_declare(
        name.into(),
        QueueDeclareOptions {
            durable: true,
            ..Default::default()
        },
        args,
    )
    .await
    .with_context(|| format!("declaring the reply queue {name}"))?;
    let _ = conn.close(200, "declared".into()).await;
    Ok(())
}

async fn delete_reply_queue(s: &AmqpSettings, name: &str) {
    if let Ok(conn) = Connection::connect(&s.url, ConnectionProperties::default()).await {
        if let Ok(ch) = conn.create_channel().await {
            let _ = ch
                .queue_delete(name.into(), QueueDeleteOptions::default())
                .await;
        }
        let _ = conn.close(200, "done".into()).await;
    }
}

/// Consumes the reply queue into the tally, reconnecting after the broker
/// is lost, until `stop`.
async fn consume_replies(
    url: String,
    queue: String,
    tally: Arc<Mutex<Tally>>,
    progress: Arc<Progress>,
    mut stop: watch::Receiver<bool>,
) {
    let mut first = true;
    while !*stop.borrow() {
        let connect = Connection::connect(&url, ConnectionProperties::default());
        let conn = match tokio::time::timeout(Duration::from_secs(15), connect).await {
            Ok(Ok(c)) => c,
            _ => {
                tokio::time::sleep(Duration::from_millis(500)).await;
                continue;
            }
        };
        if !first {
            progress
                .reconnects
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
        first = false;
        let consumer = tokio::time::timeout(Duration::from_secs(15), async {
            let ch = conn.create_channel().await?;
            ch.basic_consume(
                queue.as_str().into(),
                "mezhved-load".into(),
                BasicConsumeOptions {
                    no_ack: true,
                    ..Default::default()
                },
                FieldTable::default(),
            )
            .await
        })
        .await;
        let Ok(Ok(mut consumer)) = consumer else {
            tokio::time::sleep(Duration::from_millis(500)).await;
            continue;
        };
        loop {
            tokio::select! {
                _ = stop.changed() => return,
                d = consumer.next() => match d {
                    Some(Ok(d)) => tally.lock().expect("tally lock").reply(&d.data, Instant::now()),
                    _ => break,
                }
            }
        }
    }
}

/// A line a second on standard error while the run goes on.
async fn show_progress(
    count: u64,
    tally: Arc<Mutex<Tally>>,
    progress: Arc<Progress>,
    mut stop: watch::Receiver<bool>,
) {
    let tty = std::io::stderr().is_terminal();
    let start = Instant::now();
    let mut prev = (0u64, Instant::now());
    loop {
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
            _ = stop.changed() => {
                if tty { eprintln!(); }
                return;
            }
        }
        let (published, answered) = {
            let t = tally.lock().expect("tally lock");
            (t.published_count(), t.answered_count())
        };
        let now = Instant::now();
        let rate = (answered - prev.0) as f64 / now.duration_since(prev.1).as_secs_f64();
        prev = (answered, now);
        let width = 30usize;
        let filled = (answered as usize * width) / count.max(1) as usize;
        let line = format!(
            "[{}{}] {answered}/{count} replied, {published} published, {rate:.0}/s now, {:.0} s{}{}",
            "#".repeat(filled),
            ".".repeat(width - filled),
            start.elapsed().as_secs_f64(),
            match progress
                .republished
                .load(std::sync::atomic::Ordering::Relaxed)
            {
                0 => String::new(),
                n => format!(", {n} requests published again"),
            },
            match progress
                .reconnects
                .load(std::sync::atomic::Ordering::Relaxed)
            {
                0 => String::new(),
                n => format!(", reply consumer reconnected {n}×"),
            },
        );
        if tty {
            eprint!("\r{line}");
        } else {
            eprintln!("{line}");
        }
    }
}

/// `SendRequest`s the emulator accepted per request id (`GET
/// /control/accepted`). `url` is the emulator's base or its SMEV endpoint.
async fn accepted_by(url: &str) -> anyhow::Result<HashMap<String, u64>> {
    let base = url.trim_end_matches('/').trim_end_matches("/smev");
    let endpoint = format!("{base}/control/accepted");
    let limit = mezhved::provider::http::BodyLimit::new(
        64 * 1024 * 1024,
        std::time::Duration::from_secs(30),
    );
    let resp = mezhved::provider::http::send_bounded(reqwest::Client::new().get(&endpoint), limit)
        .await
        .with_context(|| format!("asking the emulator at {endpoint}"))?;
    if !(200..300).contains(&resp.status) {
        anyhow::bail!("asking the emulator at {endpoint}: HTTP {}", resp.status);
    }
    let body = resp.body;
    serde_json::from_slice(&body).with_context(|| format!("reading {endpoint}"))
}
