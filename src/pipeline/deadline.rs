//! Answers past their due date: the request is marked `overdue` in the
//! case store, an event goes to the results exchange (routing key
//! `overdue.<kind>`, type `mezhved.overdue`) so that the case system can
//! tell the officer, and it keeps waiting for the late answer.

use std::sync::Arc;

use serde::Serialize;
use tracing::{info, warn};
use uuid::Uuid;

use super::{Gateway, blocking};
use crate::casefile::{State, StateRecord, StoreError};
use crate::clock;
use crate::config::secs;
use crate::request::Kind;

/// The body of a `mezhved.overdue` event.
#[derive(Debug, Serialize)]
pub struct OverdueEvent {
    pub event: &'static str,
    pub request_id: Uuid,
    pub case_id: String,
    pub kind: Kind,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message_id: Option<String>,
    #[serde(with = "clock::opt_timestamp")]
    pub sending_timestamp: Option<time::OffsetDateTime>,
    #[serde(with = "clock::opt_date")]
    pub due_date: Option<time::Date>,
    pub test: bool,
    /// What the officer should know, in `ops.language`.
    pub note: String,
}

impl Gateway {
    pub(super) async fn deadline_loop(self: Arc<Self>) {
        let every = secs(self.settings.gateway.deadline_check_secs);
        loop {
            self.check_deadlines().await;
            if self.pause(every).await {
                return;
            }
        }
    }

    /// Marks every awaited request past its due date.
    pub async fn check_deadlines(&self) -> usize {
        let now = clock::now();
        let due: Vec<Uuid> = self
            .waiting
            .lock()
            .expect("waiting lock")
            .iter()
            .filter(|(_, at)| at.is_some_and(|at| now > at))
            .map(|(id, _)| *id)
            .collect();
        let mut marked = 0;
        for id in due {
            // Checked once: the entry stays (the answer is still awaited)
            // without its due time.
            if let Some(at) = self.waiting.lock().expect("waiting lock").get_mut(&id) {
                *at = None;
            }
            let store = self.store.clone();
            let rec = match blocking(move || store.load(&id)).await {
                Ok(Some(r)) if r.state == State::Sent => r,
                _ => continue,
            };
            let store = self.store.clone();
            let mut r = rec.clone();
            match blocking(move || store.mark_overdue(&mut r).map(|_| r)).await {
                Ok(rec) => {
                    marked += 1;
                    self.metrics.overdue.inc(&[rec.kind.as_str()]);
                    self.announce_overdue(&rec).await;
                }
                Err(StoreError::Superseded { .. }) => {}
                Err(e) => warn!(error = %e, request_id = %id, "cannot mark the request overdue"),
            }
        }
        marked
    }

    async fn announce_overdue(&self, rec: &StateRecord) {
        let event = OverdueEvent {
            event: "overdue",
            request_id: rec.request_id,
            case_id: rec.case_id.clone(),
            kind: rec.kind,
            message_id: rec.message_id.clone(),
            sending_timestamp: rec.sending_timestamp,
            due_date: rec.due_date,
            test: rec.test,
            note: crate::i18n::text(self.settings.ops.language, "overdue.note").to_owned(),
        };
        let body = serde_json::to_vec(&event).expect("events serialise");
        let key = format!("overdue.{}", rec.kind);
        warn!(request_id = %rec.request_id, case_id = %rec.case_id, due = ?rec.due_date.map(clock::iso_date), "answer overdue");
        match self
            .outbox
            .publish_event(&key, "mezhved.overdue", &body)
            .await
        {
            Ok(()) => info!(request_id = %rec.request_id, "overdue event published"),
            Err(e) => {
                warn!(error = %e, request_id = %rec.request_id, "cannot publish the overdue event; the request is marked overdue in the case store")
            }
        }
    }
}
