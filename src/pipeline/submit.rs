//! Requests that do not come from the broker (the adapter interface): the
//! same checks, the same record before the caller is told it is accepted,
//! the same send; the reply is the answer held for the caller to fetch.

use std::sync::Arc;
use std::time::Duration;

use tracing::{info, warn};

use super::{Gateway, blocking};
use crate::casefile::{Acceptance, ReplyRoute, StateRecord, StoreError};
use crate::request::Request;

/// How long a submission waits for room among the unsent requests before
/// the caller is told to try again.
const ROOM_WAIT: Duration = Duration::from_secs(10);

/// A request recorded: new, or one seen before (its current state).
#[derive(Debug)]
pub enum Submitted {
    New(StateRecord),
    Existing(StateRecord),
}

#[derive(Debug, thiserror::Error)]
pub enum SubmitError {
    #[error("too many requests wait to be sent; try again shortly")]
    Busy,
    #[error("the gateway is stopping; try again shortly")]
    Stopping,
    #[error("the request id already belongs to case {case_id}")]
    Conflict { case_id: String },
    #[error("the request id already names another request of this case")]
    Reused,
    #[error("cannot record the request: {0}")]
    Store(#[from] StoreError),
}

impl Gateway {
    /// Records `req` (durable when this returns) and sends it, unless it
    /// was recorded before: a repeated request is recognised by its id and
    /// sent only once.
    pub async fn submit(
        self: &Arc<Self>,
        req: Request,
        route: ReplyRoute,
    ) -> Result<Submitted, SubmitError> {
        if self.stopping() {
            return Err(SubmitError::Stopping);
        }
        // Seen before: no room needed, nothing signed.
        let store = self.store.clone();
        let id = req.request_id();
        let seen = self
            .quickly(move |how| async move { store.load_as(how, &id).await })
            .await?;
        if let Some(rec) = seen {
            return self.seen_again(rec).await;
        }
        let permit = tokio::select! {
            p = tokio::time::timeout(ROOM_WAIT, self.unsent_slots.clone().acquire_owned()) => match p {
                Ok(p) => p.expect("the semaphore is never closed"),
                Err(_) => return Err(SubmitError::Busy),
            },
            _ = self.stopped() => return Err(SubmitError::Stopping),
        };
        match self.record(&req, route).await? {
            Acceptance::New(rec) => {
                info!(request_id = %rec.request_id, case_id = %rec.case_id, kind = %rec.kind, subject = %req.describe(), test = req.test(), "accepted");
                self.spawn_send(rec.clone(), req, Some(permit));
                Ok(Submitted::New(rec))
            }
            Acceptance::Existing(rec) => self.seen_again(rec).await,
            Acceptance::Conflict { case_id } => Err(SubmitError::Conflict { case_id }),
            Acceptance::Reused { .. } => Err(SubmitError::Reused),
        }
    }

    async fn seen_again(&self, rec: StateRecord) -> Result<Submitted, SubmitError> {
        self.metrics.duplicates.inc(&[]);
        info!(request_id = %rec.request_id, state = rec.state.as_str(), "request id seen before: one result per request id");
        let store = self.store.clone();
        let r = rec.clone();
        let _ =
            blocking(move || store.note(&r, "duplicate", "the same request arrived again")).await;
        Ok(Submitted::Existing(rec))
    }

    /// The reply of an adapter request: its answer is put in the
    /// information system's queue for `Get` (`Find` reads it from the case
    /// file anyway), then the reply is recorded. Tried until it is stored.
    pub(super) async fn hold_for_adapter(&self, rec: StateRecord, it_system: &str) {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let store = self.store.clone();
            let (r, it) = (rec.clone(), it_system.to_owned());
            match blocking(move || store.adapter_ready(&it, &r)).await {
                Ok(()) => break,
                Err(e) => {
                    let pause = self.settings.retry.backoff(attempt);
                    warn!(error = %e, attempt, "cannot queue the answer for the adapter interface");
                    if self.pause(pause).await {
                        return warn!("stopping: the answer is queued at the next start");
                    }
                }
            }
        }
        let store = self.store.clone();
        let mut r = rec.clone();
        let answered = crate::casefile::Answered {
            at: crate::clock::now(),
            route: rec.reply.clone(),
            via: "adapter".into(),
        };
        if let Err(e) = self
            .quickly(move |how| async move { store.mark_replied_as(how, &mut r, answered).await })
            .await
        {
            warn!(error = %e, "answer held for the adapter interface but not recorded as replied; it may be queued again (once)");
        }
        info!(request_id = %rec.request_id, it_system, "answer held for the adapter interface (Find, Get)");
    }
}
