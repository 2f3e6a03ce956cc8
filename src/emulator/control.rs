//! The emulator's control API for testers and tests (`/control/…` on the
//! emulator's own listener, which is local by default):
//!
//! | call | does |
//! |---|---|
//! | `GET /control/messages` | what the emulator received and answered, in order |
//! | `GET /control/subjects` | the fixture subjects and the verdict each should produce |
//! | `GET /control/queues` | answers waiting and delivered, statuses, per consumer |
//! | `GET /control/accepted` | `SendRequest`s accepted per business request id |
//! | `GET /control/scenarios` | scenarios set at run time |
//! | `PUT /control/scenarios/{kind}/{identifier}` | attach a scenario (JSON) to a subject |
//! | `DELETE /control/scenarios/{kind}/{identifier}` | remove it |
//! | `GET /control/faults`, `POST /control/faults` | one-off faults of the next calls of an operation |
//! | `GET /control/attachments` | the attachments clients' `SendRequest`s brought (MTOM and file store), each with its size, hashes and signature check |
//! | `GET /control/file-store` | the file store: address, up or down, every file in it (uploads by clients and files put for answers) |
//! | `PUT /control/file-store` | `{"down": true}`: the file store refuses connections until `{"down": false}` |
//! | `POST /control/reset` | forget queues, message ids, the trace and run-time scenarios |

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::node::Node;
use super::scenario::{Fault, Scenario};
use crate::request::Kind;

fn bad(message: String) -> Response {
    (StatusCode::BAD_REQUEST, Json(json!({ "error": message }))).into_response()
}

fn kind_of(kind: &str) -> Result<Kind, String> {
    // `vs`: the subjects of the VS answered from `<data>/vs/`.
    let kind = if kind == "vs" {
        Some(Kind::Vs)
    } else {
        Kind::parse(kind)
    };
    kind.ok_or_else(|| {
        "unknown kind; one of egrul, egrip, tax_debt, unreliable_supplier, foreign_agent, vs"
            .to_owned()
    })
}

pub async fn messages(State(node): State<Arc<Node>>) -> Response {
    Json(node.trace()).into_response()
}

pub async fn subjects(State(node): State<Arc<Node>>) -> Response {
    Json(node.fixtures().subjects()).into_response()
}

pub async fn accepted(State(node): State<Arc<Node>>) -> Response {
    Json(node.accepted()).into_response()
}

pub async fn queues(State(node): State<Arc<Node>>) -> Response {
    let list: Vec<_> = node
        .queues()
        .into_iter()
        .map(|(consumer, waiting, delivered, statuses)| {
            json!({ "consumer": consumer, "waiting": waiting, "delivered_not_acked": delivered, "statuses": statuses })
        })
        .collect();
    Json(list).into_response()
}

pub async fn scenarios(State(node): State<Arc<Node>>) -> Response {
    let list: Vec<_> = node
        .scenarios
        .list()
        .into_iter()
        .map(|(kind, id, s)| json!({ "kind": kind, "identifier": id, "scenario": s }))
        .collect();
    Json(list).into_response()
}

pub async fn put_scenario(
    State(node): State<Arc<Node>>,
    Path((kind, identifier)): Path<(String, String)>,
    body: axum::body::Bytes,
) -> Response {
    let kind = match kind_of(&kind) {
        Ok(k) => k,
        Err(e) => return bad(e),
    };
    let scenario: Scenario = match serde_json::from_slice(&body) {
        Ok(s) => s,
        Err(e) => return bad(format!("not a scenario: {e}")),
    };
    if let Err(e) = scenario.check() {
        return bad(e);
    }
    node.scenarios.set(kind, &identifier, scenario.clone());
    Json(json!({ "kind": kind, "identifier": identifier, "scenario": scenario })).into_response()
}

pub async fn delete_scenario(
    State(node): State<Arc<Node>>,
    Path((kind, identifier)): Path<(String, String)>,
) -> Response {
    let kind = match kind_of(&kind) {
        Ok(k) => k,
        Err(e) => return bad(e),
    };
    if node.scenarios.remove(kind, &identifier) {
        StatusCode::NO_CONTENT.into_response()
    } else {
        (
            StatusCode::NOT_FOUND,
            Json(json!({ "error": "no scenario for that subject" })),
        )
            .into_response()
    }
}

pub async fn faults(State(node): State<Arc<Node>>) -> Response {
    Json(node.scenarios.faults()).into_response()
}

pub async fn post_fault(State(node): State<Arc<Node>>, body: axum::body::Bytes) -> Response {
    let fault: Fault = match serde_json::from_slice(&body) {
        Ok(f) => f,
        Err(e) => return bad(format!("not a fault: {e}")),
    };
    if let Err(e) = fault.check() {
        return bad(e);
    }
    node.scenarios.push_fault(fault.clone());
    (StatusCode::CREATED, Json(fault)).into_response()
}

pub async fn reset(State(node): State<Arc<Node>>) -> Response {
    node.reset();
    StatusCode::NO_CONTENT.into_response()
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileStoreState {
    down: bool,
}

fn file_store_view(node: &Node) -> Response {
    let Some(store) = node.file_store.get() else {
        return (
            StatusCode::NOT_FOUND,
            Json(json!({ "error": "this emulator runs no file store" })),
        )
            .into_response();
    };
    match store.files() {
        Ok(files) => Json(json!({
            "address": store.addr().to_string(),
            "down": store.is_down(),
            "files": files,
        }))
        .into_response(),
        Err(e) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            Json(json!({ "error": format!("cannot list the file store: {e}") })),
        )
            .into_response(),
    }
}

pub async fn file_store(State(node): State<Arc<Node>>) -> Response {
    file_store_view(&node)
}

pub async fn put_file_store(State(node): State<Arc<Node>>, body: axum::body::Bytes) -> Response {
    let state: FileStoreState = match serde_json::from_slice(&body) {
        Ok(s) => s,
        Err(e) => {
            return bad(format!(
                "not a file store state ({{\"down\": true|false}}): {e}"
            ));
        }
    };
    if let Some(store) = node.file_store.get() {
        store.set_down(state.down);
    }
    file_store_view(&node)
}

pub async fn attachments(State(node): State<Arc<Node>>) -> Response {
    Json(node.incoming_attachments()).into_response()
}
