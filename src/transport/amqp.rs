//! RabbitMQ through lapin: durable quorum queues, manual acknowledgements,
//! bounded prefetch, publisher confirms.

use futures_util::StreamExt;
use lapin::Confirmation;
use lapin::options::{
    BasicConsumeOptions, BasicPublishOptions, BasicQosOptions, ConfirmSelectOptions,
    ExchangeDeclareOptions, QueueBindOptions, QueueDeclareOptions,
};
use lapin::types::{AMQPValue, FieldTable, LongString, ShortString};
use lapin::{BasicProperties, Channel, Connection, ConnectionProperties, ExchangeKind};

use super::{AckToken, DeadLetter, Inbox, Incoming, Outbox, TransportError};
use crate::casefile::ReplyRoute;
use crate::config::{AmqpSettings, redact_url};
use crate::request::Kind;

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

pub struct AmqpInbox {
    consumer: lapin::Consumer,
    // Kept alive for as long as the consumer runs.
    _connection: Connection,
}

#[derive(Clone)]
pub struct AmqpOutbox {
    channel: Channel,
    topology: Topology,
    url: String,
}

/// Connects, declares the topology and starts consuming.
pub async fn connect_amqp(
    s: &AmqpSettings,
    consumer_tag: &str,
) -> Result<(Inbox, Outbox), TransportError> {
    let conn = Connection::connect(&s.url, ConnectionProperties::default())
        .await
        .map_err(|e| {
            TransportError::Broker(format!("cannot connect to {}: {e}", redact_url(&s.url)))
        })?;
    let topology = Topology::from_settings(s);
    let publish = conn
        .create_channel()
        .await
        .map_err(broker("open a channel"))?;
    publish
        .confirm_select(ConfirmSelectOptions::default())
        .await
        .map_err(broker("enable publisher confirms"))?;
    declare_topology(&publish, &topology).await?;
    let consume = conn
        .create_channel()
        .await
        .map_err(broker("open a channel"))?;
    consume
        .basic_qos(s.prefetch, BasicQosOptions::default())
        .await
        .map_err(broker("set the prefetch"))?;
    let consumer = consume
        .basic_consume(
            topology.requests.as_str().into(),
            consumer_tag.into(),
            BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await
        .map_err(broker("consume the requests queue"))?;
    Ok((
        Inbox::Amqp(Box::new(AmqpInbox {
            consumer,
            _connection: conn,
        })),
        Outbox::Amqp(Box::new(AmqpOutbox {
            channel: publish,
            topology,
            url: redact_url(&s.url),
        })),
    ))
}

impl AmqpInbox {
    pub async fn recv(&mut self) -> Result<Option<Incoming>, TransportError> {
        match self.consumer.next().await {
            None => Ok(None),
            Some(Err(e)) => Err(TransportError::Broker(format!("consume: {e}"))),
            Some(Ok(d)) => {
                let p = &d.properties;
                let s = |v: &Option<ShortString>| v.as_ref().map(|x| x.as_str().to_owned());
                Ok(Some(Incoming {
                    reply: ReplyRoute {
                        reply_to: s(p.reply_to()),
                        correlation_id: s(p.correlation_id()),
                    },
                    message_id: s(p.message_id()),
                    redelivered: d.redelivered,
                    body: d.data,
                    token: AckToken::Amqp(d.acker),
                }))
            }
        }
    }
}

impl AmqpOutbox {
    pub fn describe(&self) -> String {
        format!("RabbitMQ {} (queue {})", self.url, self.topology.requests)
    }

    async fn publish(
        &self,
        exchange: &str,
        routing_key: &str,
        mandatory: bool,
        body: &[u8],
        props: BasicProperties,
    ) -> Result<Confirmation, TransportError> {
        let confirm = self
            .channel
            .basic_publish(
                exchange.into(),
                routing_key.into(),
                BasicPublishOptions {
                    mandatory,
                    ..Default::default()
                },
                body,
                props.with_delivery_mode(2),
            )
            .await
            .map_err(broker("publish"))?;
        let c = confirm
            .await
            .map_err(broker("await the publisher confirm"))?;
        if c.is_nack() {
            return Err(TransportError::Nacked(format!("{exchange}/{routing_key}")));
        }
        Ok(c)
    }

    pub async fn publish_reply(
        &self,
        route: &ReplyRoute,
        kind: Kind,
        request_id: &str,
        body: &[u8],
    ) -> Result<(), TransportError> {
        let mut props = BasicProperties::default()
            .with_content_type("application/json".into())
            .with_message_id(request_id.into())
            .with_type("mezhved.result".into());
        if let Some(c) = &route.correlation_id {
            props = props.with_correlation_id(c.as_str().into());
        }
        if let Some(q) = &route.reply_to {
            let c = self.publish("", q, true, body, props.clone()).await?;
            if c.take_message().is_none() {
                return Ok(());
            }
            // The reply queue is gone; the result still reaches the results
            // exchange, and it is in the case file.
            tracing::warn!(reply_to = %q, request_id, "reply queue does not exist; publishing to the results exchange");
        }
        self.publish(&self.topology.results, kind.as_str(), false, body, props)
            .await
            .map(|_| ())
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
            .with_headers(headers);
        self.publish("", &self.topology.dead, false, body, props)
            .await
            .map(|_| ())
    }
}
