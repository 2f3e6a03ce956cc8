//! The register of foreign agents through Минюст's registry service
//! (`reestrs.minjust.gov.ru/rest/registry/<id>/`): `values` (POST JSON
//! `{offset, limit, search, facets, sort}` → `{values, size}`), `info`
//! (`lastModified`, ms since the epoch) and `export` (the whole register as
//! xlsx, read by `registers sync`). Entries are matched by ИНН, ОГРН or
//! СНИЛС; with the subject's name, also against entries without them
//! ([`super::agents`]).

use futures_util::future::BoxFuture;
use serde_json::json;

use super::agents::{self, AgentRecord};
use super::{Exchange, Query, RegisterSource, Route, SourceClient, SourceError};
use crate::lookup::{Outcome, SourceRef};
use crate::request::SubjectId;

/// The registry of foreign agents on Минюст's site.
pub const REGISTRY_ID: &str = "39b95df9-9a68-6b6d-e1e3-e6388507067e";
/// Entries asked for per search (the service caps a page at 1000).
const PAGE: u32 = 200;

pub struct MinjustSource {
    base: String,
    client: SourceClient,
}

/// `lastModified` of an `info` answer, as an RFC 3339 time.
pub fn last_modified(info: &[u8]) -> Option<String> {
    let v: serde_json::Value = serde_json::from_slice(info).ok()?;
    let ms = v.get("lastModified")?.as_i64()?;
    let t = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000).ok()?;
    Some(crate::clock::rfc3339(t.to_offset(crate::clock::MOSCOW)))
}

/// The entries of a `values` answer.
pub fn entries(values: &[u8]) -> Result<Vec<AgentRecord>, String> {
    let v: serde_json::Value = serde_json::from_slice(values)
        .map_err(|e| format!("the values answer is not JSON: {e}"))?;
    let list = v
        .get("values")
        .and_then(|x| x.as_array())
        .ok_or("the values answer has no values list")?;
    Ok(list.iter().map(AgentRecord::from_minjust).collect())
}

/// The body of a `values` search.
pub fn search_body(text: &str) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "offset": 0,
        "limit": PAGE,
        "search": text,
        "facets": {},
        "sort": [],
    }))
    .expect("JSON serialises")
}

/// A 4xx from the service: Минюст refused this call.
fn refusal(a: &super::http::Answer) -> Outcome {
    crate::lookup::Outcome::rejected(
        crate::lookup::RejectedBy::Agency,
        format!("HTTP {}", a.status),
        super::http::excerpt(&a.body),
    )
}

impl MinjustSource {
    pub fn new(base: &str, client: SourceClient) -> Self {
        MinjustSource {
            base: base.to_owned(),
            client,
        }
    }

    async fn post_values(
        &self,
        body: Vec<u8>,
        wait: bool,
    ) -> Result<super::http::Answer, SourceError> {
        let req = self
            .client
            .http()
            .post(format!("{}values", self.base))
            .header("Content-Type", "application/json")
            .header("Accept", "application/json")
            .body(body);
        self.client.send(req, wait).await
    }

    async fn ask(&self, q: &Query, wait: bool) -> Result<Exchange, SourceError> {
        let id = match &q.subject.id {
            SubjectId::Inn(v) => v.to_string(),
            SubjectId::Ogrn(v) => v.to_string(),
            SubjectId::Snils(v) => v.to_string(),
            SubjectId::Ogrnip(_) => {
                return Err(SourceError::Failed(
                    "the register is not searched by ОГРНИП".into(),
                ));
            }
        };
        let at = crate::clock::now();
        let info_req = self
            .client
            .http()
            .get(format!("{}info", self.base))
            .header("Accept", "application/json");
        let info = self.client.send(info_req, wait).await?;
        if info.status != 200 {
            let refused = refusal(&info);
            return Ok(self.exchange(at, None, vec![(super::INFO_JSON, info.body)], refused));
        }
        let register_date = last_modified(&info.body);
        let request = search_body(&id);
        let reply = self.post_values(request.clone(), wait).await?;
        let refused = (reply.status != 200).then(|| refusal(&reply));
        let answer = reply.body;
        let mut documents = vec![
            (super::REQUEST_JSON, request),
            (super::RESPONSE_JSON, answer.clone()),
            (super::INFO_JSON, info.body),
        ];
        if let Some(o) = refused {
            return Ok(self.exchange(at, register_date, documents, o));
        }
        let mut found = match entries(&answer) {
            Ok(e) => e,
            Err(e) => {
                return Ok(self.exchange(at, register_date, documents, Outcome::failed(e)));
            }
        };
        let by_id = found.iter().any(|e| e.names(&q.subject.id));
        if !by_id && let Some(name) = &q.name {
            let by_name = search_body(name);
            let reply = self.post_values(by_name.clone(), wait).await?;
            let refused = (reply.status != 200).then(|| refusal(&reply));
            let answer = reply.body;
            if let Some(o) = refused {
                documents.push((super::NAME_REQUEST_JSON, by_name));
                documents.push((super::NAME_RESPONSE_JSON, answer));
                return Ok(self.exchange(at, register_date, documents, o));
            }
            match entries(&answer) {
                Ok(e) => found.extend(e),
                Err(e) => {
                    documents.push((super::NAME_REQUEST_JSON, by_name));
                    documents.push((super::NAME_RESPONSE_JSON, answer));
                    return Ok(self.exchange(at, register_date, documents, Outcome::failed(e)));
                }
            }
            documents.push((super::NAME_REQUEST_JSON, by_name));
            documents.push((super::NAME_RESPONSE_JSON, answer));
        }
        let outcome = agents::assess(&found, &q.subject, q.name.as_deref());
        Ok(self.exchange(at, register_date, documents, outcome))
    }

    fn exchange(
        &self,
        at: time::OffsetDateTime,
        register_date: Option<String>,
        documents: Vec<(&'static str, Vec<u8>)>,
        mut outcome: Outcome,
    ) -> Exchange {
        let url = format!("{}values", self.base);
        outcome.source = Some(Box::new(SourceRef {
            register: Route::Minjust.as_str().into(),
            url: url.clone(),
            as_of: register_date.clone(),
        }));
        Exchange {
            route: Route::Minjust,
            url,
            at,
            register_date,
            documents,
            outcome,
        }
    }
}

impl RegisterSource for MinjustSource {
    fn route(&self) -> Route {
        Route::Minjust
    }

    fn lookup<'a>(
        &'a self,
        q: &'a Query,
        wait: bool,
    ) -> BoxFuture<'a, Result<Exchange, SourceError>> {
        Box::pin(self.ask(q, wait))
    }

    fn breaker(&self) -> Option<&crate::provider::Breaker> {
        Some(self.client.breaker())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn last_modified_is_read_as_moscow_time() {
        assert_eq!(
            last_modified(br#"{"lastModified": 1764000000000}"#).as_deref(),
            Some("2025-11-24T19:00:00+03:00")
        );
        assert_eq!(last_modified(b"{}"), None);
    }

    #[test]
    fn a_values_answer_without_its_list_is_refused() {
        assert!(entries(br#"{"size": 0}"#).is_err());
        assert_eq!(entries(br#"{"values": [], "size": 0}"#).unwrap(), vec![]);
    }
}
