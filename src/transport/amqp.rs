//! RabbitMQ through lapin: durable quorum queues, manual acknowledgements,
//! bounded prefetch, publisher confirms.

use std::sync::Arc;

use futures_util::StreamExt;
use lapin::Confirmation;
use lapin::options::{
    BasicConsumeOptions, BasicPublishOptions, BasicQosOptions, ConfirmSelectOptions,
    ExchangeDeclareOptions, QueueBindOptions, QueueDeclareOptions,
};
use lapin::types::{AMQPValue, FieldTable, LongString, ShortString};
use lapin::{BasicProperties, Channel, Connection, ConnectionProperties, ExchangeKind};

use super::{AckToken, DeadLetter, Inbox, Incoming, Outbox, Reply, Routed, TransportError};
use crate::casefile::ReplyRoute;
use crate::config::{AmqpSettings, redact_url};

/// How long a publish may wait for the broker's confirm before it counts
/// as failed (and is tried again on a new connection).
const PUBLISH_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// Connecting, opening channels and declaring the topology.
const SETUP_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);
/// Closing a connection or cancelling a consumer on the way out.
const CLOSE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// The largest AMQP frame the daemon proposes, unless the URL sets
/// `frame_max`. lapin keeps a send and a receive buffer of 32 frames each,
/// zero-filled, for the life of the connection: at RabbitMQ's default of
/// 128 KiB that is 8 MiB of resident memory, more than the rest of an idle
/// daemon's heap. Requests and replies are a few KB; larger bodies travel
/// as more frames.
const FRAME_MAX: u32 = 16 * 1024;

/// The broker URL with the daemon's frame size unless it names its own.
fn connection_uri(url: &str) -> Result<lapin::uri::AMQPUri, TransportError> {
    let mut uri: lapin::uri::AMQPUri = url.parse().map_err(|e| {
        TransportError::Broker(format!(
            "the broker URL {} is not valid: {e}",
            redact_url(url)
        ))
    })?;
    uri.query.frame_max.get_or_insert(FRAME_MAX);
    Ok(uri)
}

fn broker(what: &str) -> impl Fn(lapin::Error) -> TransportError + '_ {
    move |e| TransportError::Broker(format!("{what}: {e}"))
}

/// Names of the queues and exchanges, from the configured prefix.
#[derive(Clone, Debug)]
pub struct Topology {
    pub requests: String,
    pub dead: String,
    pub results: String,
    pub replies: String,
    pub delivery_limit: u32,
}

impl Topology {
    pub fn from_settings(s: &AmqpSettings) -> Self {
        Topology {
            requests: s.queue_requests(),
            dead: s.queue_dead(),
            results: s.exchange_results(),
            replies: s.queue_replies(),
            delivery_limit: s.delivery_limit,
        }
    }
}

fn quorum_args(extra: &[(&str, AMQPValue)]) -> FieldTable {
    let mut t = FieldTable::default();
    t.insert(
        "x-queue-type".into(),
        AMQPValue::LongString(LongString::from("quorum")),
    );
    for (k, v) in extra {
        t.insert((*k).into(), v.clone());
    }
    t
}

/// Declares the queues and the results exchange (idempotent).
pub async fn declare_topology(ch: &Channel, t: &Topology) -> Result<(), TransportError> {
    let durable = QueueDeclareOptions {
        durable: true,
        ..Default::default()
    };
    ch.queue_declare(t.dead.as_str().into(), durable, quorum_args(&[]))
        .await
        .map_err(broker("declare the dead-letter queue"))?;
    // A message the handler cannot get through after `delivery_limit`
    // deliveries is dead-lettered by the broker instead of looping.
    let req_args = quorum_args(&[
        (
            "x-delivery-limit",
            AMQPValue::LongInt(t.delivery_limit as i32),
        ),
        (
            "x-dead-letter-exchange",
            AMQPValue::LongString(LongString::from("")),
        ),
        (
            "x-dead-letter-routing-key",
            AMQPValue::LongString(LongString::from(t.dead.as_str())),
        ),
    ]);
    ch.queue_declare(t.requests.as_str().into(), durable, req_args)
        .await
        .map_err(broker("declare the requests queue"))?;
    ch.exchange_declare(
        t.results.as_str().into(),
        ExchangeKind::Topic,
        ExchangeDeclareOptions {
            durable: true,
            ..Default::default()
        },
        FieldTable::default(),
    )
    .await
    .map_err(broker("declare the results exchange"))?;
    ch.queue_declare(t.replies.as_str().into(), durable, quorum_args(&[]))
        .await
        .map_err(broker("declare the replies queue"))?;
    ch.queue_bind(
        t.replies.as_str().into(),
        t.results.as_str().into(),
        "#".into(),
        QueueBindOptions::default(),
        FieldTable::default(),
    )
    .await
    .map_err(broker("bind the replies queue"))?;
    Ok(())
}

/// The broker connection, shared by the consumer and the publisher, and
/// re-established after it is lost: topology declared again, consuming
/// resumed. Deliveries unacknowledged on the lost connection come back
/// from the broker; the case store recognises them.
pub struct AmqpLink {
    url: String,
    name: String,
    topology: Topology,
    prefetch: u16,
    reconnect_max: std::time::Duration,
    live: tokio::sync::Mutex<Option<Live>>,
    generation: std::sync::atomic::AtomicU64,
    /// Whether the consumer on the requests queue is running.
    consuming: std::sync::atomic::AtomicBool,
}

struct Live {
    connection: Connection,
    publish: Channel,
    generation: u64,
}

pub struct AmqpInbox {
    link: Arc<AmqpLink>,
    consumer: Option<(lapin::Consumer, Channel, u64)>,
    tag: String,
}

#[derive(Clone)]
pub struct AmqpOutbox {
    link: Arc<AmqpLink>,
}

/// Connects, declares the topology and starts consuming. The first
/// connection must succeed (a wrong URL is reported at once); later losses
/// are repaired in the background of each call.
pub async fn connect_amqp(
    s: &AmqpSettings,
    consumer_tag: &str,
) -> Result<(Inbox, Outbox), TransportError> {
    let link = Arc::new(AmqpLink {
        url: s.url.clone(),
        name: consumer_tag.to_owned(),
        topology: Topology::from_settings(s),
        prefetch: s.prefetch,
        reconnect_max: crate::config::secs(s.reconnect_max_secs),
        live: tokio::sync::Mutex::new(None),
        generation: std::sync::atomic::AtomicU64::new(0),
        consuming: std::sync::atomic::AtomicBool::new(false),
    });
    link.publisher().await?;
    let mut inbox = AmqpInbox {
        link: link.clone(),
        consumer: None,
        tag: consumer_tag.to_owned(),
    };
    inbox.consume().await?;
    Ok((
        Inbox::Amqp(Box::new(inbox)),
        Outbox::Amqp(Box::new(AmqpOutbox { link })),
    ))
}

impl AmqpLink {
    /// The publishing channel of the live connection, connecting first if
    /// there is none.
    async fn publisher(&self) -> Result<(Channel, u64), TransportError> {
        let mut live = self.live.lock().await;
        if let Some(l) = live.as_ref()
            && l.connection.status().connected()
            && l.publish.status().connected()
        {
            return Ok((l.publish.clone(), l.generation));
        }
        // Every step of setting up is bounded: a broker going down midway
        // must not leave the lock held (and every publisher waiting) forever.
        let setup = async {
            let connection = Connection::connect_uri(
                connection_uri(&self.url)?,
                ConnectionProperties::default().with_connection_name(self.name.as_str().into()),
            )
            .await
            .map_err(|e| {
                TransportError::Broker(format!("cannot connect to {}: {e}", redact_url(&self.url)))
            })?;
            let publish = connection
                .create_channel()
                .await
                .map_err(broker("open a channel"))?;
            publish
                .confirm_select(ConfirmSelectOptions::default())
                .await
                .map_err(broker("enable publisher confirms"))?;
            declare_topology(&publish, &self.topology).await?;
            Ok::<_, TransportError>((connection, publish))
        };
        let (connection, publish) =
            tokio::time::timeout(SETUP_TIMEOUT, setup)
                .await
                .map_err(|_| {
                    TransportError::Broker(format!(
                        "{} did not finish the connection set-up within {} s",
                        redact_url(&self.url),
                        SETUP_TIMEOUT.as_secs()
                    ))
                })??;
        let generation = self
            .generation
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst)
            + 1;
        if generation > 1 {
            tracing::info!(broker = %redact_url(&self.url), "reconnected to RabbitMQ; topology declared again");
        }
        *live = Some(Live {
            connection,
            publish: publish.clone(),
            generation,
        });
        Ok((publish, generation))
    }

    /// A call on connection `generation` failed: drop it, so that the next
    /// call connects again.
    async fn broken(&self, generation: u64) {
        let mut live = self.live.lock().await;
        if live.as_ref().is_some_and(|l| l.generation == generation)
            && let Some(l) = live.take()
        {
            let _ = tokio::time::timeout(
                CLOSE_TIMEOUT,
                l.connection.close(320, "mezhved reconnects".into()),
            )
            .await;
        }
    }

    /// The pause before reconnect attempt `n` (1-based).
    fn backoff(&self, n: u32) -> std::time::Duration {
        let base =
            std::time::Duration::from_millis(500).saturating_mul(1 << n.min(10).saturating_sub(1));
        base.min(self.reconnect_max)
    }
}

impl AmqpInbox {
    /// Opens a consuming channel on the live connection.
    async fn consume(&mut self) -> Result<(), TransportError> {
        let (_, generation) = self.link.publisher().await?;
        let setup = async {
            let channel = {
                let live = self.link.live.lock().await;
                let l = live
                    .as_ref()
                    .ok_or_else(|| TransportError::Broker("the connection closed".into()))?;
                l.connection
                    .create_channel()
                    .await
                    .map_err(broker("open a channel"))?
            };
            channel
                .basic_qos(self.link.prefetch, BasicQosOptions::default())
                .await
                .map_err(broker("set the prefetch"))?;
            let consumer = channel
                .basic_consume(
                    self.link.topology.requests.as_str().into(),
                    self.tag.as_str().into(),
                    BasicConsumeOptions::default(),
                    FieldTable::default(),
                )
                .await
                .map_err(broker("consume the requests queue"))?;
            Ok::<_, TransportError>((channel, consumer))
        };
        let (channel, consumer) = tokio::time::timeout(SETUP_TIMEOUT, setup)
            .await
            .map_err(|_| TransportError::Broker("starting the consumer timed out".into()))??;
        self.consumer = Some((consumer, channel, generation));
        self.link
            .consuming
            .store(true, std::sync::atomic::Ordering::SeqCst);
        Ok(())
    }

    /// The next delivery. A lost broker is reconnected to, with backoff,
    /// for as long as it takes; the caller stops waiting by dropping this
    /// future.
    pub async fn recv(&mut self) -> Result<Option<Incoming>, TransportError> {
        let mut failures = 0u32;
        loop {
            if self.consumer.is_none() {
                if let Err(e) = self.consume().await {
                    failures += 1;
                    let pause = self.link.backoff(failures);
                    tracing::warn!(error = %e, retry_in_ms = pause.as_millis() as u64, "RabbitMQ unavailable; reconnecting");
                    tokio::time::sleep(pause).await;
                    continue;
                }
                if failures > 0 {
                    tracing::info!(queue = %self.link.topology.requests, "consuming again");
                }
                failures = 0;
            }
            let (consumer, _, generation) = self.consumer.as_mut().expect("set above");
            let generation = *generation;
            match consumer.next().await {
                Some(Ok(d)) => {
                    let p = &d.properties;
                    let s = |v: &Option<ShortString>| v.as_ref().map(|x| x.as_str().to_owned());
                    return Ok(Some(Incoming {
                        reply: ReplyRoute {
                            adapter: None,
                            reply_to: s(p.reply_to()),
                            correlation_id: s(p.correlation_id()),
                        },
                        message_id: s(p.message_id()),
                        redelivered: d.redelivered,
                        delivery_count: delivery_count(p),
                        body: d.data,
                        token: AckToken::Amqp(d.acker),
                    }));
                }
                other => {
                    let why = match other {
                        Some(Err(e)) => e.to_string(),
                        _ => "the consumer was cancelled".into(),
                    };
                    tracing::warn!(reason = %why, "lost the RabbitMQ consumer; reconnecting");
                    self.consumer = None;
                    self.link
                        .consuming
                        .store(false, std::sync::atomic::Ordering::SeqCst);
                    self.link.broken(generation).await;
                }
            }
        }
    }

    /// Stops consuming: the broker sends nothing more; deliveries not yet
    /// acknowledged return to the queue when the connection closes.
    pub async fn close(&mut self) {
        self.link
            .consuming
            .store(false, std::sync::atomic::Ordering::SeqCst);
        if let Some((_, channel, _)) = self.consumer.take() {
            let _ = tokio::time::timeout(
                CLOSE_TIMEOUT,
                channel.basic_cancel(self.tag.as_str().into(), Default::default()),
            )
            .await;
        }
    }
}

/// `x-delivery-count`, which quorum queues set on redeliveries.
fn delivery_count(p: &BasicProperties) -> u32 {
    p.headers()
        .as_ref()
        .and_then(|h| h.inner().get("x-delivery-count").cloned())
        .and_then(|v| match v {
            AMQPValue::LongLongInt(n) => u32::try_from(n).ok(),
            AMQPValue::LongInt(n) => u32::try_from(n).ok(),
            AMQPValue::ShortInt(n) => u32::try_from(n).ok(),
            AMQPValue::LongUInt(n) => Some(n),
            _ => None,
        })
        .unwrap_or(0)
}

impl AmqpOutbox {
    pub fn describe(&self) -> String {
        format!(
            "RabbitMQ {} (queue {})",
            redact_url(&self.link.url),
            self.link.topology.requests
        )
    }

    /// Publishes and waits for the broker's confirm. A broken connection is
    /// dropped so that the next publish reconnects; the caller decides
    /// whether to try again.
    async fn publish(
        &self,
        exchange: &str,
        routing_key: &str,
        mandatory: bool,
        body: &[u8],
        props: BasicProperties,
    ) -> Result<Confirmation, TransportError> {
        let (channel, generation) = self.link.publisher().await?;
        let result = async {
            let confirm = super::bounded(
                "publish",
                PUBLISH_TIMEOUT,
                channel.basic_publish(
                    exchange.into(),
                    routing_key.into(),
                    BasicPublishOptions {
                        mandatory,
                        ..Default::default()
                    },
                    body,
                    props.with_delivery_mode(2),
                ),
            )
            .await?;
            super::bounded("await the publisher confirm", PUBLISH_TIMEOUT, confirm).await
        }
        .await;
        let c = match result {
            Ok(c) => c,
            Err(e) => {
                self.link.broken(generation).await;
                return Err(e);
            }
        };
        if c.is_nack() {
            return Err(TransportError::Nacked(format!("{exchange}/{routing_key}")));
        }
        Ok(c)
    }

    /// Whether the requests queue is being consumed.
    pub fn consuming(&self) -> bool {
        self.link
            .consuming
            .load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Messages and consumers of the gateway's queues, asked of the broker
    /// (a passive declare: it also proves the connection works).
    pub async fn queue_stats(&self) -> Result<Vec<super::QueueStat>, TransportError> {
        let (channel, generation) = self.link.publisher().await?;
        let t = &self.link.topology;
        let mut out = Vec::new();
        for (role, name) in [
            ("requests", &t.requests),
            ("dead", &t.dead),
            ("replies", &t.replies),
        ] {
            let q = super::bounded(
                "read the queue depth",
                std::time::Duration::from_secs(5),
                channel.queue_declare(
                    name.as_str().into(),
                    QueueDeclareOptions {
                        passive: true,
                        ..Default::default()
                    },
                    FieldTable::default(),
                ),
            )
            .await;
            match q {
                Ok(q) => out.push(super::QueueStat {
                    role,
                    name: name.clone(),
                    messages: u64::from(q.message_count()),
                    consumers: u64::from(q.consumer_count()),
                }),
                Err(e) => {
                    self.link.broken(generation).await;
                    return Err(e);
                }
            }
        }
        Ok(out)
    }

    /// Publishes an event (an overdue request…) to the results exchange.
    pub async fn publish_event(
        &self,
        routing_key: &str,
        event_type: &str,
        body: &[u8],
    ) -> Result<(), TransportError> {
        let props = BasicProperties::default()
            .with_content_type("application/json".into())
            .with_type(event_type.into());
        let exchange = self.link.topology.results.clone();
        self.publish(&exchange, routing_key, false, body, props)
            .await
            .map(|_| ())
    }

    pub async fn publish_reply(&self, reply: &Reply<'_>) -> Result<Routed, TransportError> {
        let mut props = BasicProperties::default()
            .with_content_type("application/json".into())
            .with_message_id(reply.message_id.as_str().into())
            .with_type(reply.message_type.into());
        if let Some(c) = &reply.route.correlation_id {
            props = props.with_correlation_id(c.as_str().into());
        }
        let mut missing = None;
        if let Some(q) = &reply.route.reply_to {
            // Mandatory: a queue that does not exist returns the message
            // (the broker's basic.return) instead of dropping it.
            let c = self.publish("", q, true, reply.body, props.clone()).await?;
            if c.take_message().is_none() {
                return Ok(Routed::ReplyTo);
            }
            missing = Some(q.clone());
        }
        // No reply queue asked for, or it is gone: the results exchange
        // (its `replies` queue keeps it; the result is in the case file).
        let exchange = self.link.topology.results.clone();
        self.publish(&exchange, &reply.routing_key, false, reply.body, props)
            .await?;
        Ok(Routed::Results {
            exchange,
            routing_key: reply.routing_key.clone(),
            missing,
        })
    }

    pub async fn publish_dead(
        &self,
        letter: &DeadLetter,
        body: &[u8],
    ) -> Result<(), TransportError> {
        let mut headers = FieldTable::default();
        headers.insert(
            "x-mezhved-reason-code".into(),
            AMQPValue::LongString(LongString::from(letter.reason.code.as_str())),
        );
        headers.insert(
            "x-mezhved-reason-field".into(),
            AMQPValue::LongString(LongString::from(letter.reason.field.as_str())),
        );
        let props = BasicProperties::default()
            .with_content_type("application/json".into())
            .with_type("mezhved.dead-letter".into())
            .with_message_id(letter.id.as_str().into())
            .with_headers(headers);
        self.publish("", &self.link.topology.dead, false, body, props)
            .await
            .map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_daemon_proposes_small_frames_unless_the_url_names_a_size() {
        let uri = connection_uri("amqp://guest:guest@127.0.0.1:5672/%2f").unwrap();
        assert_eq!(uri.query.frame_max, Some(FRAME_MAX));
        let uri = connection_uri("amqp://guest:guest@127.0.0.1:5672/%2f?frame_max=131072").unwrap();
        assert_eq!(uri.query.frame_max, Some(131_072));
    }

    #[test]
    fn a_url_that_does_not_parse_is_refused_without_its_password() {
        let Err(TransportError::Broker(e)) =
            connection_uri("amqp://guest:s3cret@127.0.0.1:notaport/")
        else {
            panic!("an invalid URL was taken");
        };
        assert!(e.contains("is not valid"), "{e}");
        assert!(!e.contains("s3cret"), "{e}");
    }
}
