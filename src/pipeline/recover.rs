//! Resuming requests from the case store: at start, what this store's
//! earlier run left; while running, what an instance that died left.
//!
//! Each request resumes from its last recorded state: accepted or retrying
//! is sent (the stored envelope, same `MessageID`: `MessageIsAlreadySent`
//! means it went through), sent or overdue is awaited, answered is read,
//! and a result not yet confirmed as replied is published again.

use std::sync::Arc;

use tracing::{Instrument, error, info, info_span, warn};

use super::{Gateway, GatewayError, blocking};
use crate::casefile::{State, StateRecord, UNSENT};
use crate::config::secs;
use crate::i18n::FailureCode;
use crate::lookup::Outcome;

impl Gateway {
    /// Takes over and resumes every open request no running instance
    /// owns. Returns how many were resumed.
    pub async fn recover(self: &Arc<Self>) -> Result<usize, GatewayError> {
        let store = self.store.clone();
        let open = blocking(move || store.open_requests()).await?;
        let mut resumed = 0;
        for rec in open {
            let store = self.store.clone();
            let claimed = blocking(move || store.claim(&rec)).await?;
            let Some(rec) = claimed else { continue };
            resumed += 1;
            self.resume(rec).await;
        }
        if resumed > 0 {
            info!(resumed, "resumed unfinished requests from the case store");
        }
        Ok(resumed)
    }

    async fn resume(self: &Arc<Self>, rec: StateRecord) {
        let span = info_span!("request", request_id = %rec.request_id, case_id = %rec.case_id, kind = %rec.kind, message_id = rec.message_id.as_deref().unwrap_or_default());
        async {
            match rec.state {
                State::Accepted | State::Retrying => {
                    let store = self.store.clone();
                    let r = rec.clone();
                    match blocking(move || store.load_request(&r)).await {
                        Ok(req) => {
                            info!(
                                state = rec.state.as_str(),
                                attempts = rec.send_attempts,
                                "resuming: not yet accepted by SMEV"
                            );
                            self.spawn_send(rec, req, None);
                        }
                        Err(e) => {
                            let reason = format!("the stored request cannot be read: {e}");
                            let failed =
                                Outcome::failure(FailureCode::StoredDocumentUnreadable, reason);
                            self.finish(rec, UNSENT, failed).await;
                        }
                    }
                }
                State::Sent | State::Overdue => {
                    self.waiting
                        .lock()
                        .expect("waiting lock")
                        .insert(rec.request_id, rec.due_at);
                    self.wake_poller.notify_one();
                }
                State::Answered => {
                    info!("resuming: answer stored, result not written");
                    let store = self.store.clone();
                    let r = rec.clone();
                    match blocking(move || store.load_response(&r)).await {
                        Ok(data) => self.process_answer(rec, &data.unwrap_or_default()).await,
                        Err(e) => error!(error = %e, "cannot read the stored answer"),
                    }
                }
                State::Completed | State::Failed => {
                    let gw = self.clone();
                    let guard = self.tasks.enter();
                    tokio::spawn(
                        async move {
                            let _guard = guard;
                            gw.reply(rec).await
                        }
                        .in_current_span(),
                    );
                }
            }
        }
        .instrument(span)
        .await
    }

    /// Watches the instances sharing the case store; when one has ended
    /// (crashed or stopped) its open requests are taken over.
    pub(super) async fn watch_instances(self: Arc<Self>) {
        let every = secs(self.settings.gateway.instance_check_secs);
        loop {
            if self.pause(every).await {
                return;
            }
            let store = self.store.clone();
            let Ok(ended) = blocking(move || Ok(store.ended_instances())).await else {
                continue;
            };
            if ended.is_empty() {
                continue;
            }
            warn!(instances = ?ended, "instances sharing the case store have ended; taking over their requests");
            match self.recover().await {
                Ok(n) => {
                    self.metrics.taken_over.add(&[], n as u64);
                }
                Err(e) => error!(error = %e, "taking over failed; trying again at the next check"),
            }
        }
    }
}
