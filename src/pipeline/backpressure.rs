//! Back-pressure on the case store: when it cannot write (a full volume,
//! a read-only or failing file system), the gateway stops taking work
//! instead of failing it, and resumes by itself once writes work again.
//!
//! - **Intake pauses** by not pulling deliveries from the consumer. The
//!   broker has handed the consumer at most `amqp.prefetch` deliveries;
//!   they stay with it, unacknowledged and *not* returned, so no delivery
//!   counts against the quorum queue's `x-delivery-limit` (a `basic.cancel`
//!   would leave those same deliveries with us anyway, and returning them
//!   — a nack with requeue — is what spends the limit). Everything else
//!   waits in the queue, where it is safe.
//! - **A change that failed** (recording a request, an answer, a result, a
//!   reply) is held where it is — the delivery unacknowledged, the answer
//!   not acknowledged to SMEV, the result in memory — and tried again
//!   once the store works: nothing is retried in a loop against a full
//!   disk, nothing is given back to be redelivered, nothing is failed for
//!   want of space.
//! - **The probe** writes and syncs a document-sized file every
//!   `limits.store_probe_secs`; the first that succeeds resumes everything.
//! - Readiness (`case_store`) is red meanwhile, with the reason; metrics
//!   `mezhved_store_paused` and `mezhved_store_write_failures_total`.
//!
//! RabbitMQ's `consumer_timeout` (30 minutes by default) bounds how long a
//! delivery may stay unacknowledged: past it the broker closes the channel
//! and requeues what it held (one delivery counted); the consumer
//! reconnects and keeps waiting.

use std::sync::Arc;

use time::OffsetDateTime;
use tokio::sync::watch;
use tracing::{error, info};

use super::{Gateway, blocking};
use crate::casefile::{How, Store, StoreError};
use crate::clock;

/// Why the store cannot write, and since when.
#[derive(Clone, Debug)]
pub struct Failing {
    pub reason: String,
    pub since: OffsetDateTime,
}

/// Whether the case store takes writes, as the gateway last found.
pub struct StoreGate {
    state: watch::Sender<Option<Failing>>,
    failures: std::sync::atomic::AtomicU64,
}

impl Default for StoreGate {
    fn default() -> Self {
        StoreGate {
            state: watch::channel(None).0,
            failures: Default::default(),
        }
    }
}

impl StoreGate {
    /// `Some` while the store cannot write.
    pub fn failing(&self) -> Option<Failing> {
        self.state.borrow().clone()
    }

    /// Writes that failed because the store could not write.
    pub fn failures(&self) -> u64 {
        self.failures.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// A write failed with `e`: the store is failing from now on (the
    /// first report names the reason).
    pub(super) fn report(&self, e: &StoreError) {
        self.failures
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.state.send_if_modified(|s| {
            if s.is_some() {
                return false;
            }
            error!(error = %e, "the case store cannot write: intake paused, work held until it can");
            *s = Some(Failing {
                reason: e.to_string(),
                since: clock::now(),
            });
            true
        });
    }

    fn recovered(&self) {
        self.state.send_if_modified(|s| {
            let Some(f) = s.take() else { return false };
            let secs = (clock::now() - f.since).as_seconds_f64();
            info!(
                paused_secs = (secs * 10.0).round() / 10.0,
                "the case store writes again: intake resumed, held work goes on"
            );
            true
        });
    }

    /// Resolves once the store is writable (at once if it is).
    pub(super) async fn writable(&self) {
        let mut rx = self.state.subscribe();
        let _ = rx.wait_for(Option::is_none).await;
    }

    /// Resolves once the store is found failing.
    pub(super) async fn failed(&self) {
        let mut rx = self.state.subscribe();
        let _ = rx.wait_for(Option::is_some).await;
    }
}

impl Gateway {
    /// Runs a store change; while the store cannot write, waits for it to
    /// work again and tries once more. Returns the change's result and
    /// whether an earlier try failed (its writes may have landed before
    /// the failure: the caller then takes a "someone did it already" for
    /// its own work). Ends with the store's error when the gateway stops.
    pub(super) async fn durably<T: Send + 'static>(
        &self,
        change: impl Fn() -> Result<T, StoreError> + Send + Sync + 'static,
    ) -> (Result<T, StoreError>, bool) {
        let change = Arc::new(change);
        self.until_written(|| {
            let c = change.clone();
            blocking(move || c())
        })
        .await
    }

    /// As [`Gateway::durably`], for a change the store can make in place
    /// on the async runtime, its flushes and round trips awaited (see
    /// [`How::InPlace`]); a store that cannot takes the blocking pool.
    /// `change` makes the change the way it is told.
    pub(super) async fn durably_in_place<T, F>(
        &self,
        change: impl Fn(How) -> F + Send + Sync + 'static,
    ) -> (Result<T, StoreError>, bool)
    where
        T: Send + 'static,
        F: std::future::Future<Output = Result<T, StoreError>> + Send + 'static,
    {
        let change = Arc::new(change);
        self.until_written(|| {
            let c = change.clone();
            self.quickly(move |how| c(how))
        })
        .await
    }

    /// Makes `attempt` until it is not refused for a store that cannot
    /// write: each such refusal is reported and waited out (until the store
    /// writes again). Returns the last attempt's result and whether an
    /// earlier one failed; ends with the store's error when the gateway
    /// stops.
    async fn until_written<T, F>(&self, attempt: impl Fn() -> F) -> (Result<T, StoreError>, bool)
    where
        F: std::future::Future<Output = Result<T, StoreError>>,
    {
        let mut retried = false;
        loop {
            match attempt().await {
                Err(e) if Store::cannot_write(&e) => {
                    self.store_gate.report(&e);
                    tokio::select! {
                        _ = self.store_gate.writable() => {}
                        _ = self.stopped() => return (Err(e), retried),
                    }
                    retried = true;
                }
                other => return (other, retried),
            }
        }
    }

    /// While the store is failing, probes it every `limits.store_probe_secs`
    /// and resumes the gateway at the first write that works.
    pub(super) async fn store_probe_loop(self: Arc<Self>) {
        let every = crate::config::secs(self.settings.limits.store_probe_secs);
        loop {
            tokio::select! {
                _ = self.store_gate.failed() => {}
                _ = self.stopped() => return,
            }
            if self.pause(every).await {
                return;
            }
            let store = self.store.clone();
            match blocking(move || store.check_space()).await {
                Ok(()) => self.store_gate.recovered(),
                Err(e) => tracing::debug!(error = %e, "the case store still cannot write"),
            }
        }
    }
}
