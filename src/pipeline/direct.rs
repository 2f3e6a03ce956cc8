//! Lookups answered by a register's own source instead of SMEV (routes
//! `eis`, `minjust` and their snapshots, `[lookup.routes]`). The source
//! answers in the same call, so the request goes from `accepted` straight
//! to its result, with the same case file, journal, retries, metrics and
//! reply as a SMEV lookup:
//!
//! ```text
//! accepted ─▶ answered ─▶ completed / failed      (one change: exchange and result)
//!    │  ▲
//!    ▼  │
//! retrying                                         (the source is down; next attempt due)
//! ```
//!
//! There is no `sent` state (nothing waits in a queue) and so no deadline
//! wait, but retries stay bounded by `retry.attempts` and by the deadline
//! the request would have had. An online source that stays down hands the
//! lookup to its snapshot (after `registers.fallback_after_attempts`
//! attempts, or at once while its circuit is open); the result then names
//! the snapshot and says that the online source did not answer.

use std::sync::Arc;

use tracing::{info, warn};

use super::Gateway;
use crate::casefile::{State, StateRecord, StoreError, UNSENT};
use crate::clock;
use crate::i18n::FailureCode;
use crate::lookup::Outcome;
use crate::registers::{Exchange, Query, RegisterSource, Route, SourceError};
use crate::request::LookupRequest;

impl Gateway {
    /// The register source a kind is routed to, if not SMEV.
    pub(super) fn direct_route(&self, kind: crate::request::Kind) -> Option<Route> {
        let r = self.settings.lookup.routes.of(kind);
        (r != Route::Smev).then_some(r)
    }

    /// Asks the register's source until it answers, fails for good, or the
    /// attempts run out; each retry is recorded before the pause.
    pub(super) async fn fetch(self: Arc<Self>, rec: StateRecord, req: LookupRequest, route: Route) {
        if rec.state == State::Retrying
            && let Some(at) = rec.next_attempt_at
        {
            let wait = (at - clock::now()).try_into().unwrap_or_default();
            if self.pause(wait).await {
                return info!("stopping: the retry stays scheduled in the case store");
            }
        }
        let Some(source) = self.sources.get(route).cloned() else {
            let reason = format!("route {route} has no source configured");
            let failed = Outcome::failure(FailureCode::SourceNotConfigured, reason);
            return Box::pin(self.finish(rec, UNSENT, failed)).await;
        };
        let snapshot = route.snapshot().and_then(|s| self.sources.get(s).cloned());
        let _slot = tokio::select! {
            s = self.send_slots.acquire() => s.expect("the semaphore is never closed"),
            _ = self.stopped() => return,
        };
        // Allocated once it has a slot, as a SMEV send (see `send`).
        Box::pin(
            self.clone()
                .fetch_in_slot(rec, req, route, source, snapshot),
        )
        .await
    }

    async fn fetch_in_slot(
        self: Arc<Self>,
        mut rec: StateRecord,
        req: LookupRequest,
        route: Route,
        source: Arc<dyn RegisterSource>,
        snapshot: Option<Arc<dyn RegisterSource>>,
    ) {
        let query = Query::of(&req);
        let deadline = self.calendar.answer_due(rec.accepted_at).overdue_after;
        let fallback_after = self.settings.registers.fallback_after_attempts;
        let mut attempt = rec.send_attempts;
        loop {
            attempt += 1;
            // With a snapshot to fall back to, an open circuit is not waited for.
            let failure = match self.ask(&*source, &query, snapshot.is_none()).await {
                None => return info!("stopping before the call; it resumes at the next start"),
                Some(Ok(ex)) => return self.record_exchange(rec, ex, None).await,
                Some(Err(SourceError::Failed(m))) => {
                    let failed = Outcome::failure(FailureCode::SourceFailed, m);
                    return self.finish(rec, UNSENT, failed).await;
                }
                Some(Err(SourceError::Unavailable(m))) => m,
            };
            let open = source.breaker().is_some_and(|b| b.holds_calls());
            if let Some(snap) = &snapshot
                && (attempt >= fallback_after || open)
            {
                match self.ask(&**snap, &query, true).await {
                    None => return info!("stopping before the snapshot lookup"),
                    Some(Ok(ex)) => {
                        self.metrics.register_fallbacks.inc(&[route.as_str()]);
                        return self.record_exchange(rec, ex, Some((route, failure))).await;
                    }
                    Some(Err(e)) => warn!(error = %e, "the snapshot cannot answer either"),
                }
            }
            if attempt >= self.settings.retry.attempts {
                let reason = format!("{route} did not answer after {attempt} attempts: {failure}");
                let failed = Outcome::failure(FailureCode::SourceAttemptsExhausted, reason);
                return self.finish(rec, UNSENT, failed).await;
            }
            let delay = self.settings.retry.backoff(attempt);
            let next = clock::now() + delay;
            if next > deadline {
                let reason = format!(
                    "{route} did not answer before the request's deadline ({}): {failure}",
                    clock::rfc3339(deadline)
                );
                let failed = Outcome::failure(FailureCode::SourceDeadlinePassed, reason);
                return self.finish(rec, UNSENT, failed).await;
            }
            match self.record_attempt(&rec, attempt, &failure, next).await {
                Ok(r) => rec = r,
                Err(e @ StoreError::Superseded { .. }) => return info!("{e}"),
                Err(e) => warn!(error = %e, "cannot record the failed attempt"),
            }
            self.metrics.send_retries.inc(&[]);
            warn!(error = %failure, attempt, retry_in_ms = delay.as_millis() as u64, "register source failed; retrying");
            if self.pause(delay).await {
                return info!("stopping: the retry stays scheduled in the case store");
            }
        }
    }

    /// One call, counted; `None` when the gateway stopped first.
    async fn ask(
        &self,
        source: &dyn RegisterSource,
        q: &Query,
        wait_when_open: bool,
    ) -> Option<Result<Exchange, SourceError>> {
        let started = std::time::Instant::now();
        let r = tokio::select! {
            r = source.lookup(q, wait_when_open) => r,
            _ = self.stopped() => return None,
        };
        let name = source.route().as_str();
        self.metrics
            .register_call_seconds
            .observe(&[name], started.elapsed().as_secs_f64());
        let outcome = match &r {
            Ok(ex) => ex.outcome.verdict.as_str(),
            Err(SourceError::Unavailable(_)) => "unavailable",
            Err(SourceError::Failed(_)) => "error",
        };
        self.metrics.register_calls.inc(&[name, outcome]);
        Some(r)
    }

    /// Records the exchange and its result in one change, and replies.
    async fn record_exchange(
        &self,
        rec: StateRecord,
        mut ex: Exchange,
        fell_back: Option<(Route, String)>,
    ) {
        if let Some((online, why)) = &fell_back {
            let said = format!("{online} did not answer ({why})");
            ex.outcome.note = Some(match ex.outcome.note.take() {
                Some(n) => format!("{said}; {n}"),
                None => said,
            });
        }
        info!(route = %ex.route, url = %ex.url, register_date = ex.register_date.as_deref().unwrap_or(""), verdict = %ex.outcome.verdict, "the register answered");
        let detail = ex.detail();
        let store = self.store.clone();
        let id = rec.request_id;
        // A store that cannot write holds the answer here until it can.
        let ex = Arc::new(ex);
        let (stored, retried) = self
            .durably_in_place(move |how| {
                let (store, mut r, ex, detail) =
                    (store.clone(), rec.clone(), ex.clone(), detail.clone());
                async move {
                    store
                        .complete_with_exchange_as(
                            how,
                            &mut r,
                            &ex.documents,
                            detail,
                            ex.outcome.clone(),
                        )
                        .await
                        .map(|res| (r, res))
                }
            })
            .await;
        match stored {
            Ok((rec, result)) => self.after_result(rec, result).await,
            // Written by the try that seemed to fail: reply.
            Err(StoreError::Superseded { .. }) if retried => self.reply_stored(id).await,
            Err(e @ StoreError::Superseded { .. }) => info!("{e}"),
            Err(e) => {
                warn!(error = %e, "cannot store the register's answer; the lookup is asked again at the next start")
            }
        }
    }
}
