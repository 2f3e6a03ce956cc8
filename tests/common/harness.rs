//! A gateway and an emulator in-process, on a real broker, each test with
//! its own queue prefix, case directory and emulator port.

use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use lapin::options::{
    BasicAckOptions, BasicConsumeOptions, BasicPublishOptions, ConfirmSelectOptions,
    QueueDeclareOptions, QueueDeleteOptions,
};
use lapin::types::FieldTable;
use lapin::{BasicProperties, Channel, Connection, ConnectionProperties};
use mezhved::config::Settings;
use mezhved::emulator;
use mezhved::pipeline::Gateway;
use mezhved::transport;
use tokio::sync::watch;

pub fn amqp_url() -> String {
    std::env::var("MEZHVED_TEST_AMQP_URL")
        .unwrap_or_else(|_| "amqp://guest:guest@127.0.0.1:5672/%2f".into())
}

/// Whether the broker answers. With `MEZHVED_REQUIRE_AMQP=1` (as in CI) a
/// missing broker fails the test instead of skipping it.
pub async fn broker_or_skip(test: &str) -> bool {
    let ok = tokio::time::timeout(
        Duration::from_secs(3),
        Connection::connect(&amqp_url(), ConnectionProperties::default()),
    )
    .await
    .is_ok_and(|r| r.is_ok());
    if !ok {
        assert!(
            std::env::var("MEZHVED_REQUIRE_AMQP").as_deref() != Ok("1"),
            "{test}: RabbitMQ does not answer at {} and MEZHVED_REQUIRE_AMQP=1",
            amqp_url()
        );
        eprintln!(
            "{test}: skipped, RabbitMQ does not answer (set MEZHVED_REQUIRE_AMQP=1 to fail instead)"
        );
    }
    ok
}

pub struct Harness {
    pub dir: tempfile::TempDir,
    pub settings: Settings,
    pub emulator: emulator::Running,
    pub gateway: Arc<Gateway>,
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<Result<(), mezhved::pipeline::GatewayError>>,
}

pub fn test_settings(dir: &std::path::Path, prefix: &str) -> Settings {
    let mut s = Settings::load_with_env(None, []).unwrap();
    s.amqp.url = amqp_url();
    s.amqp.prefix = prefix.to_owned();
    s.gateway.cases_root = dir.join("cases");
    s.gateway.state_dir = dir.join("state");
    s.emulator.data = super::root().join("fixtures");
    s.emulator.answer_delay_ms = 20;
    s.smev.poll_min_ms = 20;
    s.smev.poll_max_ms = 200;
    s
}

impl Harness {
    /// Starts an emulator and a gateway consuming `<prefix>.requests`.
    pub async fn start(prefix: &str) -> Harness {
        let dir = tempfile::tempdir().unwrap();
        let settings = test_settings(dir.path(), prefix);
        Self::start_in(dir, settings).await
    }

    pub async fn start_in(dir: tempfile::TempDir, settings: Settings) -> Harness {
        Self::start_adjusted(dir, settings, |_, _| {}).await
    }

    /// As [`Harness::start_in`]; `adjust` changes the gateway's settings
    /// (and sets up the emulator) once the emulator runs, before the
    /// gateway starts.
    pub async fn start_adjusted(
        dir: tempfile::TempDir,
        mut settings: Settings,
        adjust: impl FnOnce(&mut Settings, &emulator::Running),
    ) -> Harness {
        let data = settings.emulator.data.clone();
        let emulator = emulator::start(&settings, "127.0.0.1:0", &data)
            .await
            .unwrap();
        settings.smev.endpoint = emulator.endpoint();
        settings.smev.trust = vec![emulator.certificate.clone()];
        emulator.point_registers(&mut settings);
        adjust(&mut settings, &emulator);
        let (inbox, outbox) = transport::connect_amqp(&settings.amqp, "test")
            .await
            .unwrap();
        let gateway = Gateway::new(settings.clone(), outbox).unwrap();
        let (stop, rx) = watch::channel(false);
        let task = tokio::spawn(gateway.clone().run(inbox, rx));
        Harness {
            dir,
            settings,
            emulator,
            gateway,
            stop,
            task,
        }
    }

    /// Stops the gateway (the emulator keeps running) and returns the parts
    /// needed to start another gateway on the same store.
    pub async fn stop_gateway(&self) {
        let _ = self.stop.send(true);
        while !self.task.is_finished() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Deletes the test's queues and exchange.
    pub async fn cleanup(self) {
        self.stop_gateway().await;
        self.emulator.stop();
        let client = Client::connect().await;
        for q in [
            self.settings.amqp.queue_requests(),
            self.settings.amqp.queue_dead(),
            self.settings.amqp.queue_replies(),
        ] {
            let _ = client
                .channel
                .queue_delete(q.as_str().into(), QueueDeleteOptions::default())
                .await;
        }
        let _ = client
            .channel
            .exchange_delete(
                self.settings.amqp.exchange_results().as_str().into(),
                Default::default(),
            )
            .await;
    }

    pub fn sent_requests(&self) -> usize {
        self.emulator
            .node
            .trace()
            .iter()
            .filter(|t| t.operation == "SendRequest" && t.outcome.starts_with("accepted"))
            .count()
    }
}

/// A plain AMQP client, as a case system would use: lapin directly, none of
/// mezhved's transport code.
pub struct Client {
    pub channel: Channel,
    _conn: Connection,
}

pub struct Reply {
    pub correlation_id: Option<String>,
    pub body: serde_json::Value,
}

impl Client {
    pub async fn connect() -> Client {
        let conn = Connection::connect(&amqp_url(), ConnectionProperties::default())
            .await
            .unwrap();
        let channel = conn.create_channel().await.unwrap();
        channel
            .confirm_select(ConfirmSelectOptions::default())
            .await
            .unwrap();
        Client {
            channel,
            _conn: conn,
        }
    }

    /// A server-named reply queue of this connection.
    pub async fn reply_queue(&self) -> String {
        let q = self
            .channel
            .queue_declare(
                "".into(),
                // Exclusive: gone with the connection, but not when one
                // consumer of it is cancelled.
                QueueDeclareOptions {
                    exclusive: true,
                    ..Default::default()
                },
                FieldTable::default(),
            )
            .await
            .unwrap();
        q.name().as_str().to_owned()
    }

    pub async fn publish(
        &self,
        queue: &str,
        body: &[u8],
        reply_to: Option<&str>,
        correlation_id: Option<&str>,
    ) {
        let mut props = BasicProperties::default().with_delivery_mode(2);
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
                queue.into(),
                BasicPublishOptions::default(),
                body,
                props,
            )
            .await
            .unwrap()
            .await
            .unwrap();
        assert!(confirm.is_ack());
    }

    /// Collects `n` messages from `queue` (JSON bodies), or fewer after `wait`.
    pub async fn take(&self, queue: &str, n: usize, wait: Duration) -> Vec<Reply> {
        let tag = format!("take-{}", fastrand::u32(..));
        let mut consumer = self
            .channel
            .basic_consume(
                queue.into(),
                tag.as_str().into(),
                BasicConsumeOptions::default(),
                FieldTable::default(),
            )
            .await
            .unwrap();
        let mut out = Vec::new();
        let deadline = tokio::time::Instant::now() + wait;
        while out.len() < n {
            let next = tokio::time::timeout_at(deadline, consumer.next()).await;
            let Ok(Some(Ok(d))) = next else { break };
            d.acker.ack(BasicAckOptions::default()).await.unwrap();
            out.push(Reply {
                correlation_id: d
                    .properties
                    .correlation_id()
                    .as_ref()
                    .map(|c| c.as_str().to_owned()),
                body: serde_json::from_slice(&d.data).unwrap_or(serde_json::Value::Null),
            });
        }
        let _ = self
            .channel
            .basic_cancel(tag.as_str().into(), Default::default())
            .await;
        out
    }
}

pub fn prefix(test: &str) -> String {
    format!("mezhved-test-{test}-{:08x}", fastrand::u32(..))
}

impl Harness {
    /// Calls the emulator's control API.
    pub async fn control(
        &self,
        method: &str,
        path: &str,
        body: Option<serde_json::Value>,
    ) -> serde_json::Value {
        let url = format!("http://{}{path}", self.emulator.addr);
        let client = reqwest::Client::new();
        let mut req = match method {
            "GET" => client.get(&url),
            "PUT" => client.put(&url),
            "POST" => client.post(&url),
            "DELETE" => client.delete(&url),
            other => panic!("method {other}"),
        };
        if let Some(b) = body {
            req = req
                .header("Content-Type", "application/json")
                .body(b.to_string());
        }
        let resp = req.send().await.unwrap();
        let status = resp.status();
        let text = resp.text().await.unwrap();
        assert!(status.is_success(), "{method} {path}: {status} {text}");
        serde_json::from_str(&text).unwrap_or(serde_json::Value::Null)
    }

    /// Attaches a scenario to a subject at run time.
    pub async fn scenario(&self, kind: mezhved::request::Kind, id: &str, s: serde_json::Value) {
        self.control("PUT", &format!("/control/scenarios/{kind}/{id}"), Some(s))
            .await;
    }

    /// The emulator's trace lines about one request (by its MessageIDs).
    pub fn trace_of(&self, message_ids: &[String]) -> Vec<mezhved::emulator::TraceEntry> {
        self.emulator
            .node
            .trace()
            .into_iter()
            .filter(|t| {
                t.message_id
                    .as_ref()
                    .is_some_and(|m| message_ids.contains(m))
                    || t.original_message_id
                        .as_ref()
                        .is_some_and(|m| message_ids.contains(m))
            })
            .collect()
    }
}

/// A valid 10-digit ИНН no fixture uses (`n` < 100 000).
pub fn fresh_inn(n: u32) -> String {
    let head = format!("77{:07}", 3_000_000 + n);
    let d: Vec<u32> = head.bytes().map(|b| u32::from(b - b'0')).collect();
    let w = [2, 4, 10, 3, 5, 9, 4, 6, 8];
    let check = d.iter().zip(w).map(|(a, b)| a * b).sum::<u32>() % 11 % 10;
    format!("{head}{check}")
}
