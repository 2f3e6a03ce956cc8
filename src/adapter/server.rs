//! The listener: SOAP 1.1 over HTTP POST at any path (a case system keeps
//! the URL it had, path included), the WSDL at `GET ?wsdl` and its schemas
//! at `GET ?xsd=<name>`.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use tracing::{info, warn};

use super::soap::{self, Fault, FaultKind};
use super::{ItSystem, service};
use crate::pipeline::Gateway;
use crate::xml;

/// The service description and its schemas, written for mezhved from the
/// adapter's published interface (same namespaces and element names).
const WSDL: &str = include_str!("../../schemas/adapter/service-adapter.wsdl");
const SCHEMAS: [(&str, &str); 3] = [
    (
        "smev-service-adapter-types.xsd",
        include_str!("../../schemas/adapter/smev-service-adapter-types.xsd"),
    ),
    (
        "smev-service-adapter-faults.xsd",
        include_str!("../../schemas/adapter/smev-service-adapter-faults.xsd"),
    ),
    (
        "mezhved-adapter.xsd",
        include_str!("../../schemas/adapter/mezhved-adapter.xsd"),
    ),
];

#[derive(Debug, thiserror::Error)]
pub enum AdapterError {
    #[error(
        "adapter interface: cannot listen on {addr}: {source} (set adapter.listen, or \"\" to turn it off)"
    )]
    Listen {
        addr: String,
        #[source]
        source: std::io::Error,
    },
}

struct Served {
    gw: Arc<Gateway>,
    systems: Vec<ItSystem>,
}

/// The running listener.
pub struct Running {
    pub addr: SocketAddr,
}

/// Starts the adapter interface; `None` when `adapter.listen` is empty.
pub async fn start(gw: Arc<Gateway>) -> Result<Option<Running>, AdapterError> {
    let s = gw.settings.adapter.clone();
    if !s.enabled() {
        return Ok(None);
    }
    let listener = tokio::net::TcpListener::bind(&s.listen)
        .await
        .map_err(|source| AdapterError::Listen {
            addr: s.listen.clone(),
            source,
        })?;
    let addr = listener
        .local_addr()
        .map_err(|source| AdapterError::Listen {
            addr: s.listen.clone(),
            source,
        })?;
    // The business XML and the envelope around it.
    let limit = gw.settings.vs.max_content_bytes * 2 + 256 * 1024;
    let served = Arc::new(Served {
        systems: s.systems(),
        gw,
    });
    let app = Router::new()
        .route("/", post(soap_call).get(description))
        .route("/{*path}", post(soap_call).get(description))
        .layer(DefaultBodyLimit::max(limit))
        .with_state(served);
    info!(%addr, "adapter interface listening");
    tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            tracing::error!(error = %e, "the adapter interface stopped");
        }
    });
    Ok(Some(Running { addr }))
}

fn xml_response(status: StatusCode, doc: &xml::Document) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/xml; charset=utf-8")],
        xml::to_bytes(doc),
    )
        .into_response()
}

fn fault_response(f: &Fault) -> Response {
    xml_response(StatusCode::INTERNAL_SERVER_ERROR, &soap::fault_envelope(f))
}

/// `GET ?wsdl`, `GET ?xsd=NAME`.
async fn description(
    headers: HeaderMap,
    uri: axum::http::Uri,
    Query(q): Query<std::collections::HashMap<String, String>>,
) -> Response {
    let xml_text = |body: String| {
        (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "text/xml; charset=utf-8")],
            body,
        )
            .into_response()
    };
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .filter(|h| {
            h.chars()
                .all(|c| c.is_ascii_alphanumeric() || ".:-[]".contains(c))
        })
        .unwrap_or("127.0.0.1");
    let mut location = String::new();
    xml::escape_attr(&format!("http://{host}{}", uri.path()), &mut location);
    // The schemas are named relative to each other on disk; served, they
    // are found at this URL.
    let located = |text: &str| {
        SCHEMAS.iter().fold(text.to_owned(), |t, (name, _)| {
            t.replace(
                &format!("schemaLocation=\"{name}\""),
                &format!("schemaLocation=\"{location}?xsd={name}\""),
            )
        })
    };
    if q.contains_key("wsdl") {
        return xml_text(located(WSDL).replace("{{LOCATION}}", &location));
    }
    if let Some(name) = q.get("xsd") {
        return match SCHEMAS.iter().find(|(n, _)| n == name) {
            Some((_, text)) => xml_text(located(text)),
            None => (StatusCode::NOT_FOUND, "no such schema").into_response(),
        };
    }
    (
        StatusCode::METHOD_NOT_ALLOWED,
        "the adapter interface takes SOAP 1.1 over POST; GET ?wsdl for the service description",
    )
        .into_response()
}

/// The HTTP Basic user and password, if given.
fn basic_auth(headers: &HeaderMap) -> Option<(String, String)> {
    use base64::Engine as _;
    let v = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let b = v.strip_prefix("Basic ")?;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(b.trim())
        .ok()?;
    let text = String::from_utf8(decoded).ok()?;
    text.split_once(':')
        .map(|(u, p)| (u.to_owned(), p.to_owned()))
}

impl Served {
    /// The configured system `it_system`, if the caller may speak for it.
    fn admit(&self, it_system: &str, headers: &HeaderMap) -> Result<(), Fault> {
        let Some(system) = self.systems.iter().find(|s| s.mnemonic == it_system) else {
            return Err(Fault::validation(
                "UNKNOWN_IT_SYSTEM",
                format!(
                    "itSystem {it_system:?} is not registered with mezhved (adapter.it_systems)"
                ),
            ));
        };
        let Some(secret) = &system.secret else {
            return Ok(());
        };
        match basic_auth(headers) {
            // Constant time, so the secret cannot be guessed byte by byte.
            Some((user, password))
                if user == it_system
                    && password.len() == secret.len()
                    && openssl::memcmp::eq(password.as_bytes(), secret.as_bytes()) =>
            {
                Ok(())
            }
            _ => Err(Fault::validation(
                "AUTHENTICATION_FAILED",
                format!(
                    "itSystem {it_system} needs its credentials: HTTP Basic with the mnemonic as the user and its secret as the password (put MNEMONIC:SECRET@ in the adapter URL)"
                ),
            )),
        }
    }
}

async fn soap_call(State(served): State<Arc<Served>>, headers: HeaderMap, body: Bytes) -> Response {
    let action = headers
        .get("SOAPAction")
        .and_then(|v| v.to_str().ok())
        .map(|a| a.trim().trim_matches('"').to_owned());
    // The call runs on a task of its own: a client that drops the
    // connection does not cut a Send short between its record and its
    // send (its repetition is recognised by the clientId).
    let task = tokio::spawn(async move {
        let gw = served.gw.clone();
        let (op, result) = handle(&served, &headers, action.as_deref(), &body).await;
        let outcome = match &result {
            Ok(_) => "ok",
            Err(f) if f.kind == FaultKind::System => "system_fault",
            Err(_) => "validation_fault",
        };
        gw.metrics
            .adapter_calls
            .inc(&[op.map_or("unknown", |o| o.as_str()), outcome]);
        if let Err(f) = &result {
            warn!(operation = op.map_or("unknown", |o| o.as_str()), fault = f.element_name(), code = f.code, description = %f.description, "adapter interface: fault");
        }
        result
    });
    match task.await {
        Ok(Ok(doc)) => xml_response(StatusCode::OK, &doc),
        Ok(Err(f)) => fault_response(&f),
        Err(e) => fault_response(&Fault::system("INTERNAL", format!("the call failed: {e}"))),
    }
}

async fn handle(
    served: &Served,
    headers: &HeaderMap,
    action: Option<&str>,
    body: &[u8],
) -> (Option<soap::Operation>, Result<xml::Document, Fault>) {
    let doc = match xml::parse(body) {
        Ok(d) => d,
        Err(e) => {
            return (
                None,
                Err(Fault::validation(
                    "INVALID_MESSAGE",
                    format!("the SOAP message is not acceptable XML: {e}"),
                )),
            );
        }
    };
    let op = soap::operation_of(&doc);
    if let (Some(a), Some(o)) = (action.filter(|a| !a.is_empty()), op)
        && a != o.soap_action()
    {
        return (
            op,
            Err(Fault::validation(
                "INVALID_MESSAGE",
                format!(
                    "SOAPAction {a} does not match the body ({})",
                    o.soap_action()
                ),
            )),
        );
    }
    let call = match soap::parse_call(&doc) {
        Ok(c) => c,
        Err(f) => return (op, Err(f)),
    };
    if let Err(f) = served.admit(call.it_system(), headers) {
        return (op, Err(f));
    }
    (op, service::serve(&served.gw, &doc, call).await)
}
