//! The SMEV 3 emulator testers run: real HTTP, real signatures, answers
//! from the register data under `fixtures/`.

mod control;
pub mod data;
pub mod filestore;
pub mod incoming;
mod node;
mod registers;
pub mod scenario;
pub mod vs;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};

pub use data::{FixtureSubject, Fixtures, ProviderAnswer};
pub use node::{Body, Node, NodeSettings, Reply, TraceEntry};
pub use scenario::{Fault, Scenario, SchemaErrors};
pub use vs::{UnknownVs, VsFixture, VsFixtures};

use crate::config::Settings;
use crate::lookup::Registry;
use crate::xmldsig::SigningKey;

/// The file, under the emulator directory, clients trust.
pub const CERT_FILE: &str = "emulator-cert.pem";

/// A running emulator.
pub struct Running {
    pub addr: SocketAddr,
    /// SMEV's file store (FTP).
    pub file_store: Arc<filestore::FileStore>,
    pub node: Arc<Node>,
    pub certificate: PathBuf,
    task: tokio::task::JoinHandle<()>,
}

impl Running {
    pub fn endpoint(&self) -> String {
        format!("http://{}/smev", self.addr)
    }

    /// The file store's `host:port`.
    pub fn file_store_addr(&self) -> String {
        self.file_store.addr().to_string()
    }

    /// Points a configuration's file store at this emulator's, with the
    /// emulator's uploader account.
    pub fn point_file_store(&self, settings: &mut Settings) {
        settings.attachments.file_store = self.file_store_addr();
        settings.attachments.file_store_user = settings.emulator.file_store_user.clone();
        settings.attachments.file_store_password = settings.emulator.file_store_password.clone();
    }

    /// ЕИС's document service for РНП, emulated.
    pub fn eis_endpoint(&self) -> String {
        format!("http://{}/eis/rnp", self.addr)
    }

    /// ЕИС's published РНП archive, emulated.
    pub fn eis_archive(&self) -> String {
        format!("http://{}/eis/opendata/unfairSupplier_all.zip", self.addr)
    }

    /// Минюст's registry of foreign agents, emulated (ends in `/`).
    pub fn minjust_base(&self) -> String {
        format!(
            "http://{}/minjust/rest/registry/{}/",
            self.addr,
            crate::registers::minjust::REGISTRY_ID
        )
    }

    /// Points a configuration's register sources at this emulator.
    pub fn point_registers(&self, settings: &mut Settings) {
        settings.registers.eis.endpoint = self.eis_endpoint();
        settings.registers.eis.snapshot_urls = vec![self.eis_archive()];
        settings.registers.minjust.base_url = self.minjust_base();
    }

    pub fn stop(self) {
        self.task.abort();
    }

    /// Serves until the task ends (the process is stopped).
    pub async fn wait(self) {
        let _ = self.task.await;
    }
}

#[derive(Debug, thiserror::Error)]
pub enum EmulatorError {
    #[error(transparent)]
    Fixtures(#[from] data::FixtureError),
    #[error("emulator key: {0}")]
    Key(#[from] crate::xmldsig::SignatureError),
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        addr: String,
        source: std::io::Error,
    },
    #[error("{path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
}

/// Loads the data and the emulator's key (created on first use; GOST when
/// the engine is available, else the development fallback) and starts
/// serving on `listen` (port 0 picks a free port).
pub async fn start(
    settings: &Settings,
    listen: &str,
    data_dir: &std::path::Path,
) -> Result<Running, EmulatorError> {
    let registry = Registry::new(&settings.lookup);
    let fixtures = Fixtures::load(data_dir, &registry)?;
    let vs = VsFixtures::load(data_dir)?;
    let dir = settings.emulator_dir();
    let wanted = crate::config::parse_algorithm_name(&settings.emulator.algorithm)
        .unwrap_or(crate::xmldsig::SignatureAlgorithm::Gost2012_256);
    let algorithm = if wanted.is_gost() && !crate::xmldsig::gost::available() {
        settings
            .signing
            .fallback()
            .ok()
            .flatten()
            .unwrap_or(crate::xmldsig::SignatureAlgorithm::RsaSha256)
    } else {
        wanted
    };
    let key = SigningKey::load_or_generate(algorithm, &dir, "mezhved SMEV 3 emulator")?;
    let certificate = dir.join(CERT_FILE);
    let pem = key
        .certificate()
        .to_pem()
        .map_err(crate::xmldsig::SignatureError::from)?;
    std::fs::write(&certificate, pem).map_err(|source| EmulatorError::Io {
        path: certificate.display().to_string(),
        source,
    })?;
    let node = Arc::new(Node::new(
        registry,
        fixtures,
        vs,
        key,
        NodeSettings {
            answer_delay: Duration::from_millis(settings.emulator.answer_delay_ms),
            redeliver_after: Duration::from_secs_f64(settings.emulator.redeliver_after_secs),
            schema_errors: settings.emulator.schema_errors,
            unknown_vs: settings.emulator.unknown_vs,
        },
    ));
    // An emulator on a free port (tests, the demo) has its file store on a
    // free port too, so that several run side by side.
    let store_listen = if let Some((host, "0")) = listen.rsplit_once(':') {
        format!("{host}:0")
    } else {
        settings.emulator.file_store_listen.clone()
    };
    let store = filestore::FileStore::start(&filestore::FileStoreSettings {
        listen: store_listen,
        passive_ports: settings
            .emulator
            .passive_ports()
            .map_err(|e| EmulatorError::Listen {
                addr: settings.emulator.file_store_listen.clone(),
                source: std::io::Error::other(e.to_string()),
            })?,
        upload_user: settings.emulator.file_store_user.clone(),
        upload_password: settings.emulator.file_store_password.clone(),
        root: dir.join("filestore"),
    })
    .await
    .map_err(|source| EmulatorError::Listen {
        addr: format!("{} (file store)", settings.emulator.file_store_listen),
        source,
    })?;
    let _ = node.file_store.set(store.clone());
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .map_err(|source| EmulatorError::Listen {
            addr: listen.to_owned(),
            source,
        })?;
    let addr = listener
        .local_addr()
        .map_err(|source| EmulatorError::Listen {
            addr: listen.to_owned(),
            source,
        })?;
    let app = Router::new()
        .route("/control/messages", get(control::messages))
        .route("/control/subjects", get(control::subjects))
        .route("/control/queues", get(control::queues))
        .route("/control/accepted", get(control::accepted))
        .route("/control/scenarios", get(control::scenarios))
        .route(
            "/control/scenarios/{kind}/{identifier}",
            axum::routing::put(control::put_scenario).delete(control::delete_scenario),
        )
        .route(
            "/control/faults",
            get(control::faults).post(control::post_fault),
        )
        .route("/control/reset", post(control::reset))
        .route("/control/attachments", get(control::attachments))
        .route(
            "/control/file-store",
            get(control::file_store).put(control::put_file_store),
        )
        .route("/eis/rnp", post(registers::eis_rnp))
        .route(
            "/eis/opendata/unfairSupplier_all.zip",
            get(registers::eis_archive),
        )
        .route(
            "/minjust/rest/registry/{id}/values",
            post(registers::minjust_search),
        )
        .route(
            "/minjust/rest/registry/{id}/info",
            get(registers::minjust_info),
        )
        .route(
            "/minjust/rest/registry/{id}/export",
            get(registers::minjust_export),
        )
        .route("/", post(soap).get(wsdl))
        .route("/{*path}", post(soap).get(wsdl))
        .layer(DefaultBodyLimit::max(crate::provider::MAX_RESPONSE_BYTES))
        .with_state(node.clone());
    let task = tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            tracing::error!(error = %e, "the emulator stopped");
        }
    });
    Ok(Running {
        addr,
        file_store: store,
        node,
        certificate,
        task,
    })
}

/// `GET …?wsdl`: a service description naming the endpoint, as SMEV
/// nodes publish theirs (clients and health probes ask for it).
async fn wsdl(
    headers: HeaderMap,
    uri: axum::http::Uri,
    axum::extract::Query(q): axum::extract::Query<std::collections::HashMap<String, String>>,
) -> Response {
    if !q.contains_key("wsdl") {
        return (
            StatusCode::METHOD_NOT_ALLOWED,
            "SMEV 3 takes SOAP over POST; GET ?wsdl for the service description",
        )
            .into_response();
    }
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .filter(|h| {
            h.chars()
                .all(|c| c.is_ascii_alphanumeric() || ".:-[]".contains(c))
        })
        .unwrap_or("127.0.0.1");
    let ns = "urn://x-artefacts-smev-gov-ru/services/message-exchange/1.3";
    let body = format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<wsdl:definitions xmlns:wsdl="http://schemas.xmlsoap.org/wsdl/" xmlns:soap="http://schemas.xmlsoap.org/wsdl/soap/" xmlns:tns="{ns}" targetNamespace="{ns}" name="SMEVMessageExchangeService">
  <wsdl:documentation>mezhved SMEV 3 emulator: SendRequest, GetResponse, Ack, GetStatus (types 1.1, 1.2, 1.3) over SOAP 1.1.</wsdl:documentation>
  <wsdl:service name="SMEVMessageExchangeService">
    <wsdl:port name="SMEVMessageExchangeEndpoint" binding="tns:SMEVMessageExchangeSoap11Binding">
      <soap:address location="http://{host}{path}"/>
    </wsdl:port>
  </wsdl:service>
</wsdl:definitions>
"#,
        path = {
            let mut p = String::new();
            crate::xml::escape_attr(uri.path(), &mut p);
            p
        }
    );
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "text/xml; charset=utf-8")],
        body,
    )
        .into_response()
}

async fn soap(State(node): State<Arc<Node>>, headers: HeaderMap, body: Bytes) -> Response {
    let action = headers
        .get("SOAPAction")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let node2 = node.clone();
    let reply = tokio::task::spawn_blocking(move || {
        if crate::attachment::mtom::is_multipart(&content_type) {
            // MTOM: the envelope is the root part; the attachments are
            // kept under the emulator's folder and checked.
            let dir = node2.received_dir();
            let received = std::fs::create_dir_all(&dir)
                .map_err(|e| e.to_string())
                .and_then(|()| {
                    crate::attachment::mtom::read_multipart(
                        &body[..],
                        &content_type,
                        &dir,
                        crate::attachment::Limits::default(),
                    )
                    .map_err(|e| e.to_string())
                });
            match received {
                Ok(r) => match node2.record_attachments(&r.root, Some(&r)) {
                    Some(fault) => fault,
                    None => node2.handle(action.as_deref(), &r.root),
                },
                Err(e) => node2.handle_unreadable(&e),
            }
        } else {
            match node2.record_attachments(&body, None) {
                Some(fault) => fault,
                None => node2.handle(action.as_deref(), &body),
            }
        }
    })
    .await
    .expect("the emulator handler does not panic");
    if let Some(d) = reply.delay {
        tokio::time::sleep(d).await;
    }
    let status = StatusCode::from_u16(reply.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    match reply.body {
        Body::Soap(bytes) => (
            status,
            [(header::CONTENT_TYPE, "text/xml; charset=utf-8")],
            bytes,
        )
            .into_response(),
        Body::Multipart {
            content_type,
            bytes,
        } => (status, [(header::CONTENT_TYPE, content_type)], bytes).into_response(),
        Body::Http => (
            status,
            [(header::CONTENT_TYPE, "text/plain")],
            status.to_string(),
        )
            .into_response(),
        // Headers go out, then the body fails: the client sees the
        // connection break mid-answer.
        Body::Drop => {
            let broken = futures_util::stream::once(async {
                Err::<Bytes, std::io::Error>(std::io::Error::other(
                    "connection dropped (emulator scenario)",
                ))
            });
            (StatusCode::OK, axum::body::Body::from_stream(broken)).into_response()
        }
    }
}
