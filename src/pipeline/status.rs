//! The rest of SMEV's exchange for a consumer: `GetStatus` (SMEV's status
//! messages about our outgoing messages, each recorded in the case file of
//! the request it names by `OriginalMessageId`) and
//! `GetIncomingQueueStatistics` (how many messages SMEV holds for us, for
//! the metrics and the dashboard).

use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use time::OffsetDateTime;
use tracing::{info, warn};

use super::{CallError, Gateway, blocking};
use crate::clock;
use crate::config::secs;
use crate::provider::SmevClient;
use crate::smev::{self, Operation, QueueStatistics};
use crate::xml;
use crate::xmldsig::{self, ReferenceTransforms, VerifyPolicy};

/// Statuses taken in one round at most (the rest wait for the next).
const STATUSES_PER_ROUND: usize = 200;

/// The last answer to `GetIncomingQueueStatistics`.
#[derive(Clone, Debug, Serialize)]
pub struct QueueReading {
    #[serde(with = "clock::timestamp")]
    pub at: OffsetDateTime,
    pub queues: Vec<QueueStatistics>,
    /// Why the last call failed, if it did (the figures are then older).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl QueueReading {
    /// Messages waiting for us in all queues.
    pub fn total(&self) -> i64 {
        self.queues.iter().map(|q| q.pending_messages).sum()
    }
}

impl Gateway {
    /// The request of `op` with `target` signed into `container`.
    pub(super) fn signed_call(
        &self,
        mut doc: xml::Document,
        target: xml::NodeId,
        container: xml::NodeId,
        op: Operation,
    ) -> Result<Vec<u8>, String> {
        let signed = xmldsig::sign_element(
            &mut doc,
            target,
            container,
            &self.key(),
            ReferenceTransforms::Smev,
        );
        self.count_signature("sign", signed.is_ok());
        signed.map_err(|e| format!("signing {}: {e}", op.as_str()))?;
        Ok(xml::to_bytes(&doc))
    }

    /// Takes SMEV's status messages every `smev_status.get_status_secs`
    /// until the status queue is empty.
    pub(super) async fn status_loop(self: Arc<Self>) {
        let every = secs(self.settings.smev_status.get_status_secs);
        if every.is_zero() {
            return;
        }
        loop {
            if self.pause(every).await {
                return;
            }
            if !self.key_usable() {
                continue;
            }
            for _ in 0..STATUSES_PER_ROUND {
                match self.status_once().await {
                    Ok(true) => continue,
                    Ok(false) => break,
                    Err(e) => {
                        warn!(error = %e, "GetStatus failed");
                        break;
                    }
                }
            }
        }
    }

    /// One `GetStatus`; true when a status came.
    async fn status_once(&self) -> Result<bool, String> {
        let (doc, ts, container) = smev::get_status_request(self.version, clock::now());
        let request = self.signed_call(doc, ts, container, Operation::GetStatus)?;
        let body = match self.call(Operation::GetStatus, request).await {
            Ok(b) => b,
            Err(CallError::Retryable(m) | CallError::Permanent(m)) => return Err(m),
            Err(CallError::Stopped) => return Ok(false),
        };
        let parsed = xml::parse(&body).map_err(|e| format!("GetStatus answer: {e}"))?;
        let status = match smev::parse_get_status_response(&parsed) {
            Ok(None) => return Ok(false),
            Ok(Some(s)) => s,
            Err(e) => {
                if let smev::SmevError::Fault(f) = &e {
                    self.count_fault(Operation::GetStatus, f);
                }
                return Err(e.to_string());
            }
        };
        self.metrics.smev_statuses.inc(&[&status.category]);
        let verified = match status.smev_signature {
            None => Err("the status carries no SMEVSignature".to_owned()),
            Some(sig) => {
                let policy = VerifyPolicy {
                    trust: Some(&self.trust),
                    at: clock::now(),
                    allow_exc_c14n_only: false,
                };
                xmldsig::verify(&parsed, sig, status.data, &policy)
                    .map(|_| ())
                    .map_err(|e| e.to_string())
            }
        };
        self.count_signature("verify", verified.is_ok());
        let store = self.store.clone();
        let original = status.original_message_id.clone();
        let rec = match &verified {
            Ok(()) => blocking(move || store.find_by_message(&original))
                .await
                .map_err(|e| e.to_string())?,
            Err(_) => None,
        };
        let Some(mut rec) = rec else {
            // Nothing unverified is kept; a verified status about no
            // request we know is kept for the operator, within the orphan
            // quota.
            let kept = match &verified {
                Ok(()) => {
                    let store = self.store.clone();
                    let name = format!("status-{}", smev::new_message_id());
                    let limits = &self.settings.limits;
                    let (count, bytes) = (limits.orphan_max_count, limits.orphan_max_bytes);
                    blocking(move || store.store_orphan(&name, &body, count, bytes))
                        .await
                        .map(|k| format!("{k:?}"))
                        .ok()
                }
                Err(_) => None,
            };
            warn!(original_message_id = %status.original_message_id, category = %status.category, signature = ?verified.err(), kept = ?kept, "a SMEV status for no known request, or with a signature that did not verify");
            return Ok(true);
        };
        info!(request_id = %rec.request_id, case_id = %rec.case_id, message_id = %status.original_message_id, category = %status.category, "SMEV status");
        let store = self.store.clone();
        let (category, details) = (status.category.clone(), status.details.clone());
        blocking(move || store.record_status(&mut rec, &category, details.as_deref(), &body))
            .await
            .map_err(|e| format!("cannot record the status: {e}"))?;
        Ok(true)
    }

    /// Asks SMEV how many messages it holds for us every
    /// `smev_status.queue_statistics_secs`.
    pub(super) async fn queue_statistics_loop(self: Arc<Self>) {
        let every = secs(self.settings.smev_status.queue_statistics_secs);
        if every.is_zero() {
            return;
        }
        let endpoint = &self.settings.smev_status.queue_statistics_endpoint;
        let own_client = if endpoint.is_empty() {
            None
        } else {
            match SmevClient::new(
                endpoint,
                Duration::from_secs(self.settings.smev.timeout_secs),
                self.settings.smev.breaker(),
                // One call at a time, every few minutes.
                1,
            ) {
                Ok(c) => Some(c),
                Err(e) => {
                    return warn!(error = %e, "smev_status.queue_statistics_endpoint cannot be used");
                }
            }
        };
        let mut first = true;
        loop {
            // The first reading comes soon after start, then one per period.
            let wait = if first {
                Duration::from_millis(200).min(every)
            } else {
                every
            };
            first = false;
            if self.pause(wait).await {
                return;
            }
            if !self.key_usable() {
                continue;
            }
            let read = self.queue_statistics_once(own_client.as_ref()).await;
            let mut current = self.smev_queues.lock().expect("queue reading lock");
            match read {
                Ok(queues) => {
                    *current = Some(QueueReading {
                        at: clock::now(),
                        queues,
                        error: None,
                    })
                }
                Err(e) => {
                    warn!(error = %e, "GetIncomingQueueStatistics failed");
                    match current.as_mut() {
                        Some(r) => r.error = Some(e),
                        None => {
                            *current = Some(QueueReading {
                                at: clock::now(),
                                queues: Vec::new(),
                                error: Some(e),
                            })
                        }
                    }
                }
            }
        }
    }

    async fn queue_statistics_once(
        &self,
        client: Option<&SmevClient>,
    ) -> Result<Vec<QueueStatistics>, String> {
        let op = Operation::GetIncomingQueueStatistics;
        let (doc, ts, container) = smev::get_incoming_queue_statistics_request(clock::now());
        let bytes = self.signed_call(doc, ts, container, op)?;
        let body = match client {
            Some(c) => {
                let permit = c.breaker().admit().await;
                c.call_admitted(permit, op, bytes)
                    .await
                    .map_err(|e| e.to_string())?
            }
            None => match self.call(op, bytes).await {
                Ok(b) => b,
                Err(CallError::Retryable(m) | CallError::Permanent(m)) => return Err(m),
                Err(CallError::Stopped) => return Err("stopping".into()),
            },
        };
        let parsed = xml::parse(&body).map_err(|e| format!("the answer: {e}"))?;
        smev::parse_get_incoming_queue_statistics_response(&parsed).map_err(|e| {
            if let smev::SmevError::Fault(f) = &e {
                self.count_fault(op, f);
            }
            e.to_string()
        })
    }
}
