//! `mezhved publish`: put request files on the requests queue, as a case
//! system does, with publisher confirms.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

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

pub async fn publish(
    config: Option<PathBuf>,
    files: Vec<PathBuf>,
    reply_to: Option<String>,
    correlation_id: Option<String>,
) -> anyhow::Result<ExitCode> {
    anyhow::ensure!(!files.is_empty(), "name at least one request file");
    let settings = super::load_settings(config)?;
    require_queue(&settings.amqp).await?;
    let publisher = Publisher::connect(&settings.amqp).await?;
    for f in &files {
        let body = std::fs::read(f).with_context(|| f.display().to_string())?;
        let corr = correlation_id.clone().or_else(|| request_id_of(&body));
        publisher
            .publish(&body, &stem(f), reply_to.as_deref(), corr.as_deref())
            .await
            .with_context(|| f.display().to_string())?;
        println!(
            "published {} to {}",
            f.display(),
            settings.amqp.queue_requests()
        );
    }
    Ok(ExitCode::SUCCESS)
}
