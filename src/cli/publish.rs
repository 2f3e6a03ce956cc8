//! `mezhved publish`: put request files on the requests queue, as a case
//! system does, with publisher confirms. Each file is first checked with
//! the daemon's own validation (`--no-check` sends it anyway); `--wait`
//! declares a temporary reply queue and prints each reply's verdict.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use lapin::options::{BasicPublishOptions, ConfirmSelectOptions};
use lapin::{BasicProperties, Channel, Connection, ConnectionProperties};
use mezhved::config::{AmqpSettings, redact_url};

/// A confirming publisher on the requests queue.
pub struct Publisher {
    channel: Channel,
    queue: String,
    _conn: Connection,
}

impl Publisher {
    pub async fn connect(s: &AmqpSettings) -> anyhow::Result<Self> {
        let conn = Connection::connect(&s.url, ConnectionProperties::default())
            .await
            .with_context(|| format!("cannot connect to {}", redact_url(&s.url)))?;
        let channel = conn.create_channel().await?;
        channel
            .confirm_select(ConfirmSelectOptions::default())
            .await?;
        Ok(Publisher {
            channel,
            queue: s.queue_requests(),
            _conn: conn,
        })
    }

    pub fn channel(&self) -> &Channel {
        &self.channel
    }

    /// Publishes one body and waits for the broker's confirm.
    pub async fn publish(
        &self,
        body: &[u8],
        message_id: &str,
        reply_to: Option<&str>,
        correlation_id: Option<&str>,
    ) -> anyhow::Result<()> {
        let mut props = BasicProperties::default()
            .with_content_type("application/json".into())
            .with_delivery_mode(2)
            .with_message_id(message_id.into());
        if let Some(r) = reply_to {
            props = props.with_reply_to(r.into());
        }
        if let Some(c) = correlation_id {
            props = props.with_correlation_id(c.into());
        }
        let confirm = self
            .channel
            .basic_publish(
                "".into(),
                self.queue.as_str().into(),
                BasicPublishOptions::default(),
                body,
                props,
            )
            .await?
            .await?;
        anyhow::ensure!(confirm.is_ack(), "the broker refused the message");
        Ok(())
    }
}

/// Fails with a clear message when the requests queue does not exist: a
/// message published to no queue would be confirmed and then dropped.
pub async fn require_queue(s: &AmqpSettings) -> anyhow::Result<()> {
    let conn = Connection::connect(&s.url, ConnectionProperties::default())
        .await
        .with_context(|| format!("cannot connect to {}", redact_url(&s.url)))?;
    let ch = conn.create_channel().await?;
    let found = ch
        .queue_declare(
            s.queue_requests().as_str().into(),
            lapin::options::QueueDeclareOptions {
                passive: true,
                ..Default::default()
            },
            Default::default(),
        )
        .await;
    let _ = conn.close(200, "checked".into()).await;
    found.map(|_| ()).map_err(|_| {
        anyhow::anyhow!(
            "the queue {} does not exist on {}: start `mezhved run` first (with the same amqp.prefix)",
            s.queue_requests(),
            redact_url(&s.url)
        )
    })
}

/// The `request_id` of a request body, if it has one.
pub fn request_id_of(body: &[u8]) -> Option<String> {
    serde_json::from_slice::<serde_json::Value>(body)
        .ok()?
        .get("request_id")?
        .as_str()
        .map(str::to_owned)
}

pub fn stem(path: &Path) -> String {
    path.file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or("message")
        .to_owned()
}

/// What `mezhved publish` does besides publishing.
pub struct Options {
    pub reply_to: Option<String>,
    pub correlation_id: Option<String>,
    /// Check each file with the daemon's own validation first.
    pub check: bool,
    /// Wait this long for the replies, on a temporary queue of its own.
    pub wait: Option<Duration>,
}

/// Every reply came and none was a refusal (or, without `--wait`,
/// everything was published).
const EXIT_OK: u8 = 0;
/// A request was refused: by the check before publishing (then nothing
/// was published), or by the gateway (`--wait`).
pub const EXIT_REFUSED: u8 = 2;
/// `--wait`: a reply did not come in time.
pub const EXIT_NO_REPLY: u8 = 3;

/// One file to publish.
struct Item {
    path: PathBuf,
    body: Vec<u8>,
    correlation_id: String,
    request_id: Option<String>,
}

pub async fn publish(
    config: Option<PathBuf>,
    files: Vec<PathBuf>,
    o: Options,
) -> anyhow::Result<ExitCode> {
    anyhow::ensure!(!files.is_empty(), "name at least one request file");
    let settings = super::load_settings(config)?;
    let mut items = Vec::new();
    for f in &files {
        let body = std::fs::read(f).with_context(|| f.display().to_string())?;
        let request_id = request_id_of(&body);
        let correlation_id = o
            .correlation_id
            .clone()
            .or_else(|| request_id.clone())
            .unwrap_or_else(|| stem(f));
        items.push(Item {
            path: f.clone(),
            body,
            correlation_id,
            request_id,
        });
    }
    if o.check {
        // The daemon's own validation: what it would refuse is refused here,
        // and nothing is published.
        let today = mezhved::clock::moscow_today();
        let refused: Vec<String> = items
            .iter()
            .filter_map(|i| {
                mezhved::request::parse_request(&i.body, today)
                    .err()
                    .map(|e| format!("{}: refused, not published: {e}", i.path.display()))
            })
            .collect();
        if !refused.is_empty() {
            for r in &refused {
                eprintln!("{r}");
            }
            eprintln!(
                "mezhved publish: nothing published ({} of {} refused; --no-check sends them anyway)",
                refused.len(),
                items.len()
            );
            return Ok(ExitCode::from(EXIT_REFUSED));
        }
    }
    require_queue(&settings.amqp).await?;
    let publisher = Publisher::connect(&settings.amqp).await?;
    let waiting = match o.wait {
        Some(limit) => Some((ReplyQueue::declare(publisher.channel()).await?, limit)),
        None => None,
    };
    let reply_to = waiting
        .as_ref()
        .map(|(q, _)| q.name.clone())
        .or(o.reply_to.clone());
    for i in &items {
        publisher
            .publish(
                &i.body,
                &stem(&i.path),
                reply_to.as_deref(),
                Some(&i.correlation_id),
            )
            .await
            .with_context(|| i.path.display().to_string())?;
        println!(
            "published {} to {}",
            i.path.display(),
            settings.amqp.queue_requests()
        );
    }
    let Some((mut queue, limit)) = waiting else {
        return Ok(ExitCode::from(EXIT_OK));
    };
    let mut pending: Vec<&Item> = items.iter().collect();
    let mut refused = 0;
    let deadline = tokio::time::Instant::now() + limit;
    while !pending.is_empty() {
        let Some((corr, reply)) = queue.next(deadline).await else {
            break;
        };
        let rid = reply.get("request_id").and_then(|v| v.as_str());
        let Some(at) = pending.iter().position(|i| {
            corr.as_deref() == Some(i.correlation_id.as_str())
                && (rid.is_none() || i.request_id.is_none() || i.request_id.as_deref() == rid)
        }) else {
            continue;
        };
        let item = pending.remove(at);
        if reply["verdict"] == "refused" {
            refused += 1;
        }
        println!("{}: {}", item.path.display(), describe_reply(&reply));
    }
    for i in &pending {
        println!(
            "{}: no reply within {} s (is `mezhved run` consuming {}?)",
            i.path.display(),
            limit.as_secs_f64(),
            settings.amqp.queue_requests()
        );
    }
    Ok(ExitCode::from(if !pending.is_empty() {
        EXIT_NO_REPLY
    } else if refused > 0 {
        EXIT_REFUSED
    } else {
        EXIT_OK
    }))
}

/// A reply in one line: the verdict and what it rests on.
pub fn describe_reply(r: &serde_json::Value) -> String {
    let s = |v: &serde_json::Value| v.as_str().unwrap_or("").to_owned();
    let verdict = s(&r["verdict"]);
    if verdict == "refused" {
        let why = &r["reason"];
        return format!(
            "refused: {} at {:?}: {} (dead letter {})",
            s(&why["code"]),
            s(&why["field"]),
            s(&why["message"]),
            s(&r["dead_letter_id"])
        );
    }
    let mut out = format!("{verdict} ({}, case {})", s(&r["kind"]), s(&r["case_id"]));
    if let Some(f) = r["failure"].as_object() {
        out.push_str(&format!(": {}", s(&f["reason"])));
    } else if let Some(j) = r["rejection"].as_object() {
        out.push_str(&format!(
            ": {} {} {}",
            s(&j["by"]),
            s(&j["code"]),
            s(&j["text"])
        ));
    } else if let Some(n) = r["note"].as_str() {
        out.push_str(&format!(": {n}"));
    }
    if r["fallback_required"] == true {
        out.push_str("; fallback required");
    }
    if let Some(c) = r["case_file"].as_str() {
        out.push_str(&format!("; case file {c}"));
    }
    out
}

/// A server-named, exclusive reply queue: gone when this connection closes.
struct ReplyQueue {
    name: String,
    consumer: lapin::Consumer,
}

impl ReplyQueue {
    async fn declare(ch: &Channel) -> anyhow::Result<Self> {
        let q = ch
            .queue_declare(
                "".into(),
                lapin::options::QueueDeclareOptions {
                    exclusive: true,
                    auto_delete: true,
                    ..Default::default()
                },
                Default::default(),
            )
            .await
            .context("declare a reply queue")?;
        let name = q.name().as_str().to_owned();
        let consumer = ch
            .basic_consume(
                name.as_str().into(),
                "mezhved-publish".into(),
                lapin::options::BasicConsumeOptions {
                    no_ack: true,
                    ..Default::default()
                },
                Default::default(),
            )
            .await
            .context("consume the reply queue")?;
        Ok(ReplyQueue { name, consumer })
    }

    /// The next reply (its correlation id and JSON body) before `deadline`.
    async fn next(
        &mut self,
        deadline: tokio::time::Instant,
    ) -> Option<(Option<String>, serde_json::Value)> {
        use futures_util::StreamExt as _;
        loop {
            let d = match tokio::time::timeout_at(deadline, self.consumer.next()).await {
                Ok(Some(Ok(d))) => d,
                _ => return None,
            };
            let corr = d
                .properties
                .correlation_id()
                .as_ref()
                .map(|c| c.as_str().to_owned());
            if let Ok(v) = serde_json::from_slice(&d.data) {
                return Some((corr, v));
            }
        }
    }
}
