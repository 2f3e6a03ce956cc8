//! A hostile SMEV node, or a man in the middle, for the tests: an HTTP
//! server in front of the emulator that passes SOAP calls through and
//! misbehaves on command — a WSDL of any size, streamed and never stored;
//! a flood of forged answers for requests nobody sent (unsigned, or signed
//! by a certificate nobody trusts); real answers whose `OriginalMessageId`
//! it alters on the way. It records what it did and the Acks it got for
//! its forgeries.

use std::collections::{HashSet, VecDeque};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use mezhved::smev::{self, Metadata, ResponseBody, Version};
use mezhved::xml;
use mezhved::xmldsig::{ReferenceTransforms, SignatureAlgorithm, SigningKey};

#[derive(Default)]
pub struct Behaviour {
    /// The size of the WSDL offered on `GET ?wsdl`.
    pub wsdl_bytes: u64,
    /// Forged `GetResponseResponse`s handed out before anything real.
    forged: Mutex<VecDeque<Vec<u8>>>,
    forged_ids: Mutex<HashSet<String>>,
    /// Acks received for forged messages: (SMEV message id, accepted).
    pub forged_acks: Mutex<Vec<(String, bool)>>,
    /// How many real answers to alter still.
    pub alter: AtomicU32,
    /// What to put in their `OriginalMessageId` (a random id if empty).
    pub alter_to: Mutex<String>,
    pub altered: AtomicU32,
    /// WSDL requests, and the bytes of WSDL the server produced in all.
    pub wsdl_requests: AtomicU32,
    pub wsdl_produced: AtomicU64,
    /// `MessageID`s of the `SendRequest`s that went through, in order.
    pub sent: Mutex<Vec<String>>,
}

pub struct Hostile {
    pub addr: SocketAddr,
    pub behaviour: Arc<Behaviour>,
}

struct Node {
    upstream: String,
    http: reqwest::Client,
    behaviour: Arc<Behaviour>,
}

impl Hostile {
    /// Starts the node in front of `upstream` (the emulator's endpoint).
    pub async fn start(upstream: &str, wsdl_bytes: u64) -> Hostile {
        let behaviour = Arc::new(Behaviour {
            wsdl_bytes,
            ..Default::default()
        });
        let node = Arc::new(Node {
            upstream: upstream.to_owned(),
            http: reqwest::Client::new(),
            behaviour: behaviour.clone(),
        });
        let app = axum::Router::new().fallback(
            move |method: Method, uri: Uri, headers: HeaderMap, body: Bytes| {
                let node = node.clone();
                async move { node.handle(method, uri, headers, body).await }
            },
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Hostile { addr, behaviour }
    }

    pub fn endpoint(&self) -> String {
        format!("http://{}/smev", self.addr)
    }

    /// Queues `n` forged answers of about `size` bytes each for requests
    /// nobody sent: unsigned, or signed with a key nobody trusts.
    pub fn forge(&self, n: usize, size: usize, signed: bool) {
        let stranger =
            SigningKey::generate(SignatureAlgorithm::RsaSha256, "SMEV (forged)", 1).unwrap();
        for _ in 0..n {
            let id = smev::new_message_id().to_string();
            let bytes = forged_answer(&id, size, signed.then_some(&stranger));
            self.behaviour.forged_ids.lock().unwrap().insert(id);
            self.behaviour.forged.lock().unwrap().push_back(bytes);
        }
    }

    /// Forgeries not handed out yet.
    pub fn forged_left(&self) -> usize {
        self.behaviour.forged.lock().unwrap().len()
    }
}

/// A `GetResponseResponse` that looks like an agency's answer, with a
/// payload of `size` bytes, for a request nobody sent.
fn forged_answer(message_id: &str, size: usize, key: Option<&SigningKey>) -> Vec<u8> {
    let mut business = xml::Document::new(Some("f"), "Answer", Some("urn://forged/answer/1.0"));
    let root = business.root();
    business.append_text_element(
        root,
        Some("f"),
        "Payload",
        Some("urn://forged/answer/1.0"),
        &"A".repeat(size),
    );
    let now = mezhved::clock::now();
    let meta = Metadata {
        message_id: message_id.to_owned(),
        message_type: "RESPONSE",
        sender: ("FORGER".into(), "Nobody".into()),
        recipient: None,
        sending_timestamp: now,
        delivery_timestamp: Some(now),
        status: None,
    };
    let (mut doc, resp, container) = smev::get_response_response(
        Version::V1_3,
        &smev::new_message_id().to_string(),
        "to",
        &smev::new_message_id().to_string(),
        &ResponseBody::Primary(business),
        &meta,
    );
    match key {
        Some(k) => {
            mezhved::xmldsig::sign_element(&mut doc, resp, container, k, ReferenceTransforms::Smev)
                .unwrap();
        }
        None => doc.detach(container),
    }
    xml::to_bytes(&doc)
}

fn soap(body: Vec<u8>) -> Response {
    (
        StatusCode::OK,
        [("Content-Type", "text/xml; charset=utf-8")],
        body,
    )
        .into_response()
}

impl Node {
    async fn handle(&self, method: Method, uri: Uri, headers: HeaderMap, body: Bytes) -> Response {
        let b = &self.behaviour;
        if method == Method::GET && uri.query() == Some("wsdl") {
            return self.wsdl();
        }
        let action = headers
            .get("SOAPAction")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned();
        if action.contains("GetResponse")
            && let Some(forged) = b.forged.lock().unwrap().pop_front()
        {
            return soap(forged);
        }
        if action.contains("Ack")
            && let Ok(doc) = xml::parse(&body)
            && let Ok(ack) = smev::parse_ack_request(&doc)
            && b.forged_ids.lock().unwrap().contains(&ack.message_id)
        {
            b.forged_acks
                .lock()
                .unwrap()
                .push((ack.message_id.clone(), ack.accepted));
            return soap(xml::to_bytes(&smev::ack_response(ack.version)));
        }
        if action.contains("SendRequest")
            && let Ok(doc) = xml::parse(&body)
            && let Ok(req) = smev::parse_send_request(&doc)
        {
            b.sent.lock().unwrap().push(req.message_id);
        }
        let resp = self
            .http
            .post(&self.upstream)
            .header(
                "Content-Type",
                headers
                    .get("Content-Type")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("text/xml"),
            )
            .header("SOAPAction", action.as_str())
            .body(body.to_vec())
            .send()
            .await;
        let Ok(resp) = resp else {
            return StatusCode::BAD_GATEWAY.into_response();
        };
        let status = resp.status().as_u16();
        let mut bytes = resp.bytes().await.unwrap_or_default().to_vec();
        if action.contains("GetResponse")
            && b.alter.load(Ordering::SeqCst) > 0
            && let Some(altered) = alter_original(&bytes, &b.alter_to.lock().unwrap())
        {
            b.alter.fetch_sub(1, Ordering::SeqCst);
            b.altered.fetch_add(1, Ordering::SeqCst);
            bytes = altered;
        }
        (
            StatusCode::from_u16(status).unwrap_or(StatusCode::OK),
            [("Content-Type", "text/xml; charset=utf-8")],
            bytes,
        )
            .into_response()
    }

    /// A WSDL of `wsdl_bytes`, produced as it is sent: it starts like one
    /// and goes on with a comment for as long as it is read.
    fn wsdl(&self) -> Response {
        let b = self.behaviour.clone();
        b.wsdl_requests.fetch_add(1, Ordering::SeqCst);
        let head = Bytes::from_static(
            b"<?xml version=\"1.0\"?><definitions xmlns=\"http://schemas.xmlsoap.org/wsdl/\"><!--",
        );
        let filler = Bytes::from(vec![b' '; 64 * 1024]);
        let total = b.wsdl_bytes;
        let stream = futures_util::stream::unfold(0u64, move |sent| {
            let (b, head, filler) = (b.clone(), head.clone(), filler.clone());
            async move {
                if sent >= total {
                    return None;
                }
                let chunk = if sent == 0 { head } else { filler };
                b.wsdl_produced
                    .fetch_add(chunk.len() as u64, Ordering::SeqCst);
                Some((
                    Ok::<_, std::io::Error>(chunk.clone()),
                    sent + chunk.len() as u64,
                ))
            }
        });
        (
            StatusCode::OK,
            [("Content-Type", "text/xml")],
            Body::from_stream(stream),
        )
            .into_response()
    }
}

/// The answer with its `OriginalMessageId` changed to `to` (a fresh id if
/// empty); `None` when it carries none (an empty queue).
fn alter_original(body: &[u8], to: &str) -> Option<Vec<u8>> {
    let text = std::str::from_utf8(body).ok()?;
    let start = text.find("OriginalMessageId>")? + "OriginalMessageId>".len();
    let end = start + text[start..].find('<')?;
    let to = if to.is_empty() {
        smev::new_message_id().to_string()
    } else {
        to.to_owned()
    };
    Some(format!("{}{to}{}", &text[..start], &text[end..]).into_bytes())
}
