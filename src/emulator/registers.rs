//! The registers' own services, emulated on the emulator's listener from
//! the same fixture data as the SMEV VS:
//!
//! | path | service |
//! |---|---|
//! | `POST /eis/rnp` | ЕИС `getRNPObjectList` (SOAP 1.1, `docs-ws-api.xsd`) |
//! | `GET /eis/opendata/unfairSupplier_all.zip` | ЕИС's published РНП documents, one ZIP |
//! | `POST /minjust/rest/registry/{id}/values` | Минюст's search |
//! | `GET /minjust/rest/registry/{id}/info` | the register's `lastModified` |
//! | `GET /minjust/rest/registry/{id}/export` | the whole register as xlsx |
//!
//! Per subject, a scenario's `http_status`, `drop_connection`, `slow_secs`
//! (with `times`), `delay_secs`, `code` (ЕИС `errorInfo`, Минюст HTTP 403)
//! and `malformed_xml` (a body cut in half) apply; one-off faults of
//! operation `eis` or `minjust` (control API) apply to every call. A token
//! `revoked` in `individualPerson_token` is refused with `errorInfo` 403.

use std::io::Write as _;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::node::{Node, TraceEntry};
use super::scenario::Scenario;
use crate::lookup::{agent_data, rnp_data};
use crate::registers::{agents, eis};
use crate::request::Kind;
use crate::xml;

fn trace(node: &Node, operation: &str, kind: Kind, subject: &str, outcome: String) {
    node.record(TraceEntry {
        at: crate::clock::rfc3339(crate::clock::now()),
        operation: operation.to_owned(),
        message_id: None,
        original_message_id: None,
        kind: Some(kind),
        subject: Some(subject.to_owned()).filter(|s| !s.is_empty()),
        consumer: None,
        request_ref: None,
        outcome,
    });
}

/// The connection breaks after the headers.
fn dropped() -> Response {
    let broken = futures_util::stream::once(async {
        Err::<Bytes, std::io::Error>(std::io::Error::other(
            "connection dropped (emulator scenario)",
        ))
    });
    (StatusCode::OK, axum::body::Body::from_stream(broken)).into_response()
}

fn plain(status: u16) -> Response {
    let s = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (s, [(header::CONTENT_TYPE, "text/plain")], s.to_string()).into_response()
}

/// What disturbs this call: an answer instead of the real one, and a wait.
fn disturbance(
    node: &Node,
    source: &str,
    kind: Kind,
    subject: &str,
) -> (Option<Response>, Duration, Scenario) {
    let mut wait = Duration::ZERO;
    if let Some(f) = node.scenarios.take_fault(source) {
        trace(
            node,
            source,
            kind,
            subject,
            format!(
                "one-off fault {}",
                serde_json::to_string(&f).unwrap_or_default()
            ),
        );
        wait = f.slow_secs.map(Duration::from_secs_f64).unwrap_or_default();
        if let Some(s) = f.http_status {
            return (Some(plain(s)), wait, Scenario::default());
        }
        if f.drop_connection {
            return (Some(dropped()), wait, Scenario::default());
        }
    }
    let sc = node
        .scenarios
        .get(kind, subject)
        .or_else(|| {
            node.fixtures()
                .find(kind, subject)
                .map(|s| s.scenario.clone())
        })
        .unwrap_or_default();
    if node.scenarios.send_attempt_disturbed(kind, subject, &sc) {
        trace(
            node,
            source,
            kind,
            subject,
            "scenario disturbs the call".into(),
        );
        wait += sc.slow().unwrap_or_default();
        if let Some(s) = sc.http_status {
            return (Some(plain(s)), wait, sc);
        }
        if sc.drop_connection {
            return (Some(dropped()), wait, sc);
        }
    }
    wait += sc.delay().unwrap_or_default();
    (None, wait, sc)
}

async fn after(wait: Duration, r: Response) -> Response {
    if !wait.is_zero() {
        tokio::time::sleep(wait).await;
    }
    r
}

fn soap(status: StatusCode, mut bytes: Vec<u8>, malformed: bool) -> Response {
    if malformed {
        bytes.truncate(bytes.len() / 2);
    }
    (
        status,
        [(header::CONTENT_TYPE, "text/xml; charset=utf-8")],
        bytes,
    )
        .into_response()
}

/// `POST /eis/rnp`: `getRNPObjectList`.
pub async fn eis_rnp(State(node): State<Arc<Node>>, headers: HeaderMap, body: Bytes) -> Response {
    let action = headers
        .get("SOAPAction")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let q = match xml::parse(&body)
        .map_err(|e| e.to_string())
        .and_then(|d| eis::read_request(&d))
    {
        Ok(q) => q,
        Err(e) => {
            trace(
                &node,
                "eis",
                Kind::UnreliableSupplier,
                "",
                format!("refused: {e}"),
            );
            return (StatusCode::BAD_REQUEST, e).into_response();
        }
    };
    let kind = Kind::UnreliableSupplier;
    if !action.is_empty() && action.trim_matches('"') != eis::SOAP_ACTION {
        trace(
            &node,
            "eis",
            kind,
            &q.inn,
            format!("refused: SOAPAction {action}"),
        );
        return (
            StatusCode::BAD_REQUEST,
            "SOAPAction does not match getRNPObjectList",
        )
            .into_response();
    }
    let token = headers.get(eis::TOKEN_HEADER).and_then(|v| v.to_str().ok());
    if token == Some("revoked") {
        trace(
            &node,
            "eis",
            kind,
            &q.inn,
            "errorInfo 403: the token is refused".into(),
        );
        let d = eis::render_error("403", "Токен доступа не найден или заблокирован");
        return soap(StatusCode::OK, xml::to_bytes(&d), false);
    }
    let (disturbed, wait, sc) = disturbance(&node, "eis", kind, &q.inn);
    if let Some(r) = disturbed {
        return after(wait, r).await;
    }
    let doc = if let Some(code) = &sc.code {
        eis::render_error(code, "Ошибка обработки запроса в ЕИС")
    } else {
        let objects = node
            .fixtures()
            .find(kind, &q.inn)
            .and_then(|s| s.answer())
            .and_then(|a| rnp_data(a).ok())
            .map(|d| eis::objects_of(&d))
            .unwrap_or_default();
        eis::render_response(&objects)
    };
    trace(
        &node,
        "eis",
        kind,
        &q.inn,
        format!(
            "answered{}",
            if sc.malformed_xml {
                " (malformed, scenario)"
            } else {
                ""
            }
        ),
    );
    after(
        wait,
        soap(StatusCode::OK, xml::to_bytes(&doc), sc.malformed_xml),
    )
    .await
}

/// `GET /eis/opendata/unfairSupplier_all.zip`: every supplier's documents,
/// as ЕИС publishes them.
pub async fn eis_archive(State(node): State<Arc<Node>>) -> Response {
    let (disturbed, wait, _) = disturbance(&node, "eis", Kind::UnreliableSupplier, "opendata");
    if let Some(r) = disturbed {
        return after(wait, r).await;
    }
    let mut out = std::io::Cursor::new(Vec::new());
    {
        let mut z = zip::ZipWriter::new(&mut out);
        let opts = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated);
        for s in node
            .fixtures()
            .subjects()
            .iter()
            .filter(|s| s.kind == Kind::UnreliableSupplier)
        {
            let Some(d) = s.answer().and_then(|a| rnp_data(a).ok()) else {
                continue;
            };
            for (i, o) in eis::objects_of(&d).into_iter().enumerate() {
                let name = format!("unfairSupplier_{}_{}.xml", d.inn, i + 1);
                if z.start_file(name, opts)
                    .and_then(|_| Ok(z.write_all(&o.content)?))
                    .is_err()
                {
                    return plain(500);
                }
            }
        }
        if z.finish().is_err() {
            return plain(500);
        }
    }
    trace(
        &node,
        "eis",
        Kind::UnreliableSupplier,
        "",
        "published archive served".into(),
    );
    after(
        wait,
        (
            [(header::CONTENT_TYPE, "application/zip")],
            out.into_inner(),
        )
            .into_response(),
    )
    .await
}

/// The register entries of the fixtures, as Минюст's service gives them.
fn minjust_values(node: &Node) -> Vec<(Vec<String>, serde_json::Value)> {
    let mut out = Vec::new();
    for s in node
        .fixtures()
        .subjects()
        .iter()
        .filter(|s| s.kind == Kind::ForeignAgent)
    {
        let Some(d) = s.answer().and_then(|a| agent_data(a).ok()) else {
            continue;
        };
        let dmy = |iso: &str| {
            let p: Vec<&str> = iso.split('-').collect();
            match p.as_slice() {
                [y, m, d] => format!("{d}.{m}.{y}"),
                _ => iso.to_owned(),
            }
        };
        let v = serde_json::json!({
            "id": format!("emulated-{}", d.registry_number),
            "field_1_i": d.registry_number.parse::<u64>().ok(),
            "field_2_s": d.name,
            "field_3_s": d.basis,
            "field_4_s": dmy(&d.included_on),
            "field_5_s": d.excluded_on.as_deref().map(dmy).unwrap_or_default(),
            "field_6_s": d.resources.clone().unwrap_or_default(),
            "field_7_s": d.person_kind,
            "field_9_s": d.inn.clone().unwrap_or_default(),
            "field_10_s": d.ogrn.clone().unwrap_or_default(),
            "field_11_s": d.snils.clone().unwrap_or_default(),
        });
        let mut ids: Vec<String> = [&d.inn, &d.ogrn, &d.snils]
            .into_iter()
            .flatten()
            .cloned()
            .collect();
        ids.push(d.name.clone());
        out.push((ids, v));
    }
    out
}

/// `POST …/values`: entries whose identifiers equal, or whose name
/// contains, the search text.
pub async fn minjust_search(State(node): State<Arc<Node>>, body: Bytes) -> Response {
    let req: serde_json::Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(e) => return (StatusCode::BAD_REQUEST, format!("not JSON: {e}")).into_response(),
    };
    let text = req
        .get("search")
        .and_then(|s| s.as_str())
        .unwrap_or("")
        .trim()
        .to_owned();
    let limit = req
        .get("limit")
        .and_then(|l| l.as_u64())
        .unwrap_or(100)
        .min(1000) as usize;
    let kind = Kind::ForeignAgent;
    let (disturbed, wait, sc) = disturbance(&node, "minjust", kind, &text);
    if let Some(r) = disturbed {
        return after(wait, r).await;
    }
    if sc.code.is_some() {
        trace(
            &node,
            "minjust",
            kind,
            &text,
            "refused with HTTP 403 (scenario)".into(),
        );
        let b = serde_json::json!({"error": "Доступ к сервису ограничен"}).to_string();
        return after(
            wait,
            (
                StatusCode::FORBIDDEN,
                [(header::CONTENT_TYPE, "application/json")],
                b,
            )
                .into_response(),
        )
        .await;
    }
    let needle = agents::normalise_name(&text);
    let found: Vec<serde_json::Value> = minjust_values(&node)
        .into_iter()
        .filter(|(ids, _)| {
            !needle.is_empty()
                && ids
                    .iter()
                    .any(|i| *i == text || agents::normalise_name(i).contains(&needle))
        })
        .map(|(_, v)| v)
        .collect();
    let size = found.len();
    let body = serde_json::json!({ "values": found.into_iter().take(limit).collect::<Vec<_>>(), "size": size }).to_string();
    let mut bytes = body.into_bytes();
    if sc.malformed_xml {
        bytes.truncate(bytes.len() / 2);
    }
    trace(
        &node,
        "minjust",
        kind,
        &text,
        format!("values: {size} found"),
    );
    after(
        wait,
        ([(header::CONTENT_TYPE, "application/json")], bytes).into_response(),
    )
    .await
}

/// The register's date: the latest decision among the entries.
fn last_modified_ms(node: &Node) -> i64 {
    let latest = minjust_values(node)
        .iter()
        .flat_map(|(_, v)| {
            ["field_4_s", "field_5_s"].map(|k| v[k].as_str().unwrap_or("").to_owned())
        })
        .filter_map(|d| crate::clock::parse_iso_date(&agents::iso_or_raw(&d)))
        .max()
        .unwrap_or(time::macros::date!(2026 - 01 - 01));
    let t = latest
        .with_hms(12, 0, 0)
        .expect("noon exists")
        .assume_offset(crate::clock::MOSCOW);
    (t.unix_timestamp_nanos() / 1_000_000) as i64
}

/// `GET …/info`.
pub async fn minjust_info(State(node): State<Arc<Node>>) -> Response {
    let (disturbed, wait, _) = disturbance(&node, "minjust", Kind::ForeignAgent, "info");
    if let Some(r) = disturbed {
        return after(wait, r).await;
    }
    let b = serde_json::json!({
        "id": crate::registers::minjust::REGISTRY_ID,
        "name": "Реестр иностранных агентов",
        "lastModified": last_modified_ms(&node),
    })
    .to_string();
    after(
        wait,
        ([(header::CONTENT_TYPE, "application/json")], b).into_response(),
    )
    .await
}

/// The export's column headers, as the published register prints them.
pub const EXPORT_HEADERS: [&str; 10] = [
    "№ п/п",
    "Полное наименование/ФИО",
    "Вид лица",
    "ОГРН",
    "ИНН",
    "СНИЛС",
    "Информационный ресурс",
    "Основания включения",
    "Дата принятия решения о включении",
    "Дата принятия решения об исключении",
];

/// `GET …/export`: the register as xlsx.
pub async fn minjust_export(State(node): State<Arc<Node>>) -> Response {
    let (disturbed, wait, _) = disturbance(&node, "minjust", Kind::ForeignAgent, "export");
    if let Some(r) = disturbed {
        return after(wait, r).await;
    }
    let mut rows = vec![
        vec!["Реестр иностранных агентов".to_owned()],
        EXPORT_HEADERS.iter().map(|h| (*h).to_owned()).collect(),
    ];
    for (_, v) in minjust_values(&node) {
        let s = |k: &str| match &v[k] {
            serde_json::Value::String(s) => s.clone(),
            serde_json::Value::Number(n) => n.to_string(),
            _ => String::new(),
        };
        rows.push(vec![
            s("field_1_i"),
            s("field_2_s"),
            s("field_7_s"),
            s("field_10_s"),
            s("field_9_s"),
            s("field_11_s"),
            s("field_6_s"),
            s("field_3_s"),
            s("field_4_s"),
            s("field_5_s"),
        ]);
    }
    let bytes = crate::registers::xlsx::write_sheet(&rows);
    trace(
        &node,
        "minjust",
        Kind::ForeignAgent,
        "",
        "export served".into(),
    );
    after(
        wait,
        (
            [(
                header::CONTENT_TYPE,
                "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            )],
            bytes,
        )
            .into_response(),
    )
    .await
}
