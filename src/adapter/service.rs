//! What `Send`, `Get` and `Find` do, on the gateway and its case store.
//!
//! A request's `clientId` is its idempotency key: the request id is derived
//! from the information system and the `clientId`, so a `Send` repeated
//! after a timeout or a dropped connection is the same request, recognised
//! by the case store's own claim on the id (on either backend, by any
//! instance). The answer's `clientId` is the request id itself: new to the
//! client, the same at every `Find`, and enough to find the request again
//! (`GET_RESPONSE_BY_RESPONSE_CLIENTID`).

use std::sync::Arc;

use time::OffsetDateTime;
use uuid::Uuid;

use super::Rejects;
use super::soap::{
    AdapterMessage, Call, Fault, FindCriteria, Message, OutcomeXml, RequestCall, ResponseBody,
    SmevMetadata,
};
use crate::casefile::{AdapterRoute, ReplyRoute, ResultRecord, StateRecord, StoreError};
use crate::lookup::{SmevOutcome, Verdict};
use crate::pipeline::{Gateway, SubmitError, Submitted};
use crate::request::{CaseId, Request, VsMessage, VsRequest};
use crate::smev;
use crate::xml::{self, Document};

/// What `Find` by period returns at most.
const PERIOD_LIMIT: usize = 1000;

/// The request id of `client_id` sent by `it_system`: a name-based UUID
/// (SHA-256 of both), the same on every instance and at every repetition.
pub fn request_id(it_system: &str, client_id: &str) -> Uuid {
    let mut input = Vec::with_capacity(it_system.len() + client_id.len() + 32);
    input.extend_from_slice(b"mezhved adapter clientId\0");
    input.extend_from_slice(it_system.as_bytes());
    input.push(0);
    input.extend_from_slice(client_id.as_bytes());
    let digest = openssl::sha::sha256(&input);
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    uuid::Builder::from_custom_bytes(bytes).into_uuid()
}

/// A name-based id for something mezhved hands out about a request (a
/// status item, an answer SMEV gave no id for).
fn derived_id(request_id: &Uuid, what: &str) -> String {
    let mut input = request_id.as_bytes().to_vec();
    input.extend_from_slice(what.as_bytes());
    let digest = openssl::sha::sha256(&input);
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    uuid::Builder::from_custom_bytes(bytes)
        .into_uuid()
        .to_string()
}

/// The case a request of `it_system` is filed under: `<itSystem>.<clientId>`
/// when that is a safe case id, else `<itSystem>.<request id>`, else the
/// request id (each adapter request is a case of its own: the adapter's
/// interface knows no case numbers).
fn case_id(it_system: &str, client_id: &str, request_id: &Uuid) -> CaseId {
    CaseId::parse(&format!("{it_system}.{client_id}"))
        .or_else(|_| CaseId::parse(&format!("{it_system}.{request_id}")))
        .or_else(|_| CaseId::parse(&request_id.to_string()))
        .expect("a UUID is a case id")
}

/// Serves one call of an information system already known and
/// authenticated.
pub async fn serve(gw: &Arc<Gateway>, doc: &Document, call: Call) -> Result<Document, Fault> {
    match call {
        Call::Send { it_system, request } => send(gw, doc, &it_system, request).await,
        Call::Get {
            it_system,
            criteria,
        } => {
            // mezhved takes no incoming requests: that queue is always empty.
            if criteria.as_deref() == Some("REQUEST") {
                return Ok(super::soap::query_result(None));
            }
            let store = gw.store().clone();
            let it = it_system.clone();
            let taken = blocking(move || store.adapter_take(&it)).await?;
            let Some(id) = taken else {
                return Ok(super::soap::query_result(None));
            };
            let answer = answer_of(gw, &it_system, id).await?;
            Ok(super::soap::query_result(answer.first()))
        }
        Call::Find {
            it_system,
            criteria,
        } => find(gw, &it_system, criteria)
            .await
            .map(|list| super::soap::query_result_list(&list)),
    }
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, StoreError> + Send + 'static,
) -> Result<T, Fault> {
    tokio::task::spawn_blocking(f)
        .await
        .expect("case-store calls do not panic")
        .map_err(|e| {
            tracing::error!(error = %e, "adapter interface: the case store failed");
            Fault::system("STORE", format!("the case store failed: {e}; try again"))
        })
}

async fn send(
    gw: &Arc<Gateway>,
    doc: &Document,
    it_system: &str,
    call: RequestCall,
) -> Result<Document, Fault> {
    let content = crate::pipeline::vs::standalone_xml(doc, call.business);
    let max = gw.settings.vs.max_content_bytes;
    if content.len() > max {
        return Err(Fault::validation(
            "TOO_LARGE",
            format!(
                "the business XML of {} bytes exceeds mezhved's limit of {max} bytes (vs.max_content_bytes)",
                content.len()
            ),
        ));
    }
    let (_, namespace, root) = crate::request::vs::check_content(&content, max, false)
        .map_err(|m| Fault::validation("INVALID_CONTENT", m))?;
    let request_id = request_id(it_system, &call.client_id);
    let req = Request::Vs(VsRequest {
        request_id,
        case_id: case_id(it_system, &call.client_id, &request_id),
        test: call.test,
        vs: VsMessage {
            content,
            personal_signature: false,
            transaction_code: call.transaction_code,
            node_id: call.node_id,
            eol: call.eol,
            namespace,
            root,
        },
        attachments: Vec::new(),
    });
    gw.check_schema(&req)
        .map_err(|i| Fault::validation("SCHEMA_VIOLATION", i.message))?;
    let route = ReplyRoute {
        adapter: Some(AdapterRoute {
            it_system: it_system.to_owned(),
            client_id: call.client_id.clone(),
        }),
        ..ReplyRoute::default()
    };
    let rec = match gw.submit(req.clone(), route).await {
        Ok(Submitted::New(rec)) => rec,
        Ok(Submitted::Existing(rec)) => {
            same_request(gw, &rec, &req).await?;
            rec
        }
        Err(SubmitError::Conflict { case_id }) => {
            return Err(Fault::validation(
                "CLIENT_ID_CONFLICT",
                format!("this clientId is already recorded for case {case_id}"),
            ));
        }
        Err(SubmitError::Reused) => {
            return Err(Fault::validation(
                "CLIENT_ID_REUSED",
                "this clientId already names another request: a new request needs a new clientId",
            ));
        }
        Err(e) => return Err(Fault::system("NOT_RECORDED", e.to_string())),
    };
    let store = gw.store().clone();
    let (it, r) = (it_system.to_owned(), rec.clone());
    blocking(move || store.adapter_sent(&it, &r)).await?;
    let message_id = rec
        .message_id
        .clone()
        .unwrap_or_else(|| rec.request_id.to_string());
    Ok(super::soap::message_result(it_system, &message_id))
}

/// A `clientId` seen before must come with the same message: the same key
/// for another message is the client's mistake, not a repetition.
async fn same_request(gw: &Arc<Gateway>, rec: &StateRecord, req: &Request) -> Result<(), Fault> {
    let store = gw.store().clone();
    let r = rec.clone();
    let stored = blocking(move || store.load_request(&r)).await?;
    let same = match (&stored, req) {
        (Request::Vs(a), Request::Vs(b)) => a.vs.content == b.vs.content && a.test == b.test,
        _ => false,
    };
    if same {
        Ok(())
    } else {
        Err(Fault::validation(
            "CLIENT_ID_REUSED",
            "this clientId was already sent with another message: a new message needs a new clientId",
        ))
    }
}

/// The request of `client_id` if `it_system` sent it.
async fn request_of(
    gw: &Arc<Gateway>,
    it_system: &str,
    id: Uuid,
) -> Result<Option<(StateRecord, AdapterRoute)>, Fault> {
    let store = gw.store().clone();
    let rec = blocking(move || store.load(&id)).await?;
    Ok(rec.and_then(|rec| {
        let route = rec.reply.adapter.clone()?;
        (route.it_system == it_system).then_some((rec, route))
    }))
}

async fn find(
    gw: &Arc<Gateway>,
    it_system: &str,
    criteria: FindCriteria,
) -> Result<Vec<AdapterMessage>, Fault> {
    match criteria {
        FindCriteria::ResponseByRequest(cid) => {
            answer_of(gw, it_system, request_id(it_system, &cid)).await
        }
        FindCriteria::ResponseByResponse(cid) => match Uuid::parse_str(&cid) {
            Ok(id) => answer_of(gw, it_system, id).await,
            Err(_) => Ok(Vec::new()),
        },
        FindCriteria::RequestByRequest(cid) => {
            let id = request_id(it_system, &cid);
            match request_of(gw, it_system, id).await? {
                Some((rec, route)) => Ok(vec![request_message(gw, it_system, &rec, &route).await?]),
                None => Ok(Vec::new()),
            }
        }
        FindCriteria::Period { from, to } => {
            let to = to.unwrap_or_else(crate::clock::now);
            if to < from {
                return Err(Fault::validation("INVALID_PERIOD", "to is before from"));
            }
            let store = gw.store().clone();
            let it = it_system.to_owned();
            let entries =
                blocking(move || store.adapter_between(&it, from.into(), to.into(), PERIOD_LIMIT))
                    .await?;
            let (from_ms, to_ms) = (unix_ms(from), unix_ms(to));
            let within = |t: Option<i64>| t.is_some_and(|t| (from_ms..=to_ms).contains(&t));
            let mut out = Vec::new();
            for e in entries {
                let Some((rec, route)) = request_of(gw, it_system, e.request_id).await? else {
                    continue;
                };
                if within(e.accepted_ms) {
                    out.push(request_message(gw, it_system, &rec, &route).await?);
                }
                if within(e.ready_ms) {
                    out.extend(answer_of(gw, it_system, rec.request_id).await?);
                }
            }
            Ok(out)
        }
    }
}

fn unix_ms(t: OffsetDateTime) -> i64 {
    (t.unix_timestamp_nanos() / 1_000_000) as i64
}

/// The request as it was sent (`GET_REQUEST_BY_REQUEST_CLIENTID`).
async fn request_message(
    gw: &Arc<Gateway>,
    it_system: &str,
    rec: &StateRecord,
    route: &AdapterRoute,
) -> Result<AdapterMessage, Fault> {
    let store = gw.store().clone();
    let r = rec.clone();
    let Request::Vs(req) = blocking(move || store.load_request(&r)).await? else {
        return Err(Fault::system(
            "STORE",
            "the stored request is not an adapter request",
        ));
    };
    let business = req
        .vs
        .business()
        .map_err(|m| Fault::system("STORE", format!("the stored request: {m}")))?;
    Ok(AdapterMessage {
        smev: SmevMetadata {
            message_id: rec.message_id.clone(),
            reference_message_id: rec.message_id.clone(),
            transaction_code: req.vs.transaction_code.clone(),
            sender: Some(it_system.to_owned()),
            recipient: Some(it_system.to_owned()),
            sending_date: rec.sending_timestamp.or(Some(rec.accepted_at)),
            ..SmevMetadata::default()
        },
        message_type: "PrimaryMessage",
        message: Message::Request {
            client_id: route.client_id.clone(),
            node_id: req.vs.node_id.clone(),
            eol: req.vs.eol,
            test: req.test,
            transaction_code: req.vs.transaction_code,
            business,
        },
    })
}

/// What `Find` returns about the answer to request `id`: nothing while it
/// is pending (or the statuses SMEV reported so far), then the answer as
/// `PrimaryMessage`, after the statuses.
async fn answer_of(
    gw: &Arc<Gateway>,
    it_system: &str,
    id: Uuid,
) -> Result<Vec<AdapterMessage>, Fault> {
    let Some((rec, route)) = request_of(gw, it_system, id).await? else {
        return Ok(Vec::new());
    };
    let mut out = Vec::new();
    let smev_base = SmevMetadata {
        original_message_id: rec.message_id.clone(),
        recipient: Some(it_system.to_owned()),
        ..SmevMetadata::default()
    };
    if rec.state.is_final() {
        let store = gw.store().clone();
        let r = rec.clone();
        let (result, response) =
            blocking(move || Ok((store.load_result(&r)?, store.load_response(&r)?))).await?;
        let Some(result) = result else {
            return Err(Fault::system(
                "STORE",
                "the result is not written yet; try again",
            ));
        };
        out.extend(final_messages(
            gw.settings.adapter.rejects,
            &rec,
            &route,
            &result,
            response.as_deref(),
            smev_base.clone(),
        )?);
    }
    for (n, st) in rec.statuses.iter().enumerate() {
        out.push(AdapterMessage {
            smev: SmevMetadata {
                message_id: Some(derived_id(&rec.request_id, &format!("status-{n}"))),
                ..smev_base.clone()
            },
            message_type: "StatusMessage",
            message: Message::Status {
                client_id: derived_id(&rec.request_id, &format!("status-client-{n}")),
                original_client_id: route.client_id.clone(),
                details: Some(match &st.details {
                    Some(d) => format!("{}: {d}", st.category),
                    None => st.category.clone(),
                }),
                timestamp: Some(st.at),
                error: None,
            },
        });
    }
    Ok(out)
}

/// The metadata SMEV gave the answer, read from the stored message.
fn answer_metadata(response: &[u8], mut base: SmevMetadata) -> SmevMetadata {
    let Ok(doc) = xml::parse(response) else {
        return base;
    };
    let Ok(Some(resp)) = smev::parse_get_response_response(&doc) else {
        return base;
    };
    let tns = resp.version.types_ns();
    let sprd = doc.child(resp.response, tns, "SenderProvidedResponseData");
    let metadata = doc.child(resp.response, tns, "MessageMetadata");
    base.message_id = sprd
        .and_then(|s| doc.child_text(s, tns, "MessageID"))
        .or(resp.message_id.clone())
        .filter(|m| Uuid::parse_str(m).is_ok());
    base.reference_message_id = doc.child_text(resp.response, tns, "ReferenceMessageID");
    base.transaction_code = doc.child_text(resp.response, tns, "OriginalTransactionCode");
    base.sender = metadata
        .and_then(|m| doc.child(m, tns, "Sender"))
        .and_then(|s| doc.child_text(s, tns, "Mnemonic"));
    base.sending_date = resp.sending_timestamp;
    base
}

/// The answer of a request with a result, in the form `rejects` asks for.
fn final_messages(
    rejects: Rejects,
    rec: &StateRecord,
    route: &AdapterRoute,
    result: &ResultRecord,
    response: Option<&[u8]>,
    base: SmevMetadata,
) -> Result<Vec<AdapterMessage>, Fault> {
    let mut smev = match response {
        Some(r) => answer_metadata(r, base),
        None => base,
    };
    if smev.message_id.is_none() {
        smev.message_id = Some(derived_id(&rec.request_id, "answer"));
    }
    smev.sending_date = smev.sending_date.or(Some(result.completed_at));
    let o = &result.outcome;
    let response_message = |body: ResponseBody| AdapterMessage {
        smev: smev.clone(),
        message_type: "PrimaryMessage",
        message: Message::Response {
            client_id: rec.request_id.to_string(),
            reply_to_client_id: route.client_id.clone(),
            body,
        },
    };
    if let (Some(xml_text), Some(SmevOutcome::Content { .. })) =
        (&o.answer_xml, o.smev_outcome.as_deref())
    {
        let business = xml::parse(xml_text.as_bytes())
            .map_err(|e| Fault::system("STORE", format!("the stored answer: {e}")))?;
        return Ok(vec![response_message(ResponseBody::Content(business))]);
    }
    let reject_list: Vec<(String, String)> = match o.smev_outcome.as_deref() {
        Some(SmevOutcome::Rejects { rejects }) => rejects
            .iter()
            .map(|r| (r.code.clone(), r.description.clone()))
            .collect(),
        _ => Vec::new(),
    };
    let fault = match o.smev_outcome.as_deref() {
        Some(SmevOutcome::Fault { code, description }) => Some((code.clone(), description.clone())),
        _ => None,
    };
    let failure = o.failure.as_ref().map(|f| f.reason.clone());
    // SMEV's refusal, or mezhved's failure, as the adapter's ErrorMessage.
    let error = match (&fault, &failure) {
        (Some((code, description)), _) => Some(("SERVER", code.clone(), description.clone())),
        (None, Some(reason)) => Some(("CLIENT", "FAILED".to_owned(), reason.clone())),
        (None, None) => None,
    };
    let error_message = error.map(|e| AdapterMessage {
        smev: smev.clone(),
        message_type: "ErrorMessage",
        message: Message::Status {
            client_id: derived_id(&rec.request_id, "error"),
            original_client_id: route.client_id.clone(),
            details: Some(e.2.clone()),
            timestamp: Some(result.completed_at),
            error: Some(e),
        },
    });
    let mut out = Vec::new();
    match rejects {
        Rejects::Official => {
            if !reject_list.is_empty() {
                out.push(response_message(ResponseBody::Rejects(reject_list)));
            }
        }
        Rejects::Content => {
            let doc = OutcomeXml {
                verdict: o.verdict.as_str(),
                rejects: &reject_list,
                fault: fault.as_ref().map(|(c, d)| (c.as_str(), d.as_str())),
                failure: failure.as_deref(),
                fallback_required: result.fallback_required || o.verdict == Verdict::Failed,
                request_id: &rec.request_id.to_string(),
            }
            .document();
            out.push(response_message(ResponseBody::Content(doc)));
        }
    }
    out.extend(error_message);
    Ok(out)
}
