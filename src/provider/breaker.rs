//! A circuit breaker per SMEV endpoint: after `failures` calls in a row fail
//! at the transport level (no connection, timeout, HTTP 5xx without SOAP),
//! calls wait instead of hammering a dead node. After `open_for` one probe
//! goes through; if it works the breaker closes and the waiting calls go
//! on (bounded by the gateway's concurrency), if not it stays open twice as
//! long, up to `max_open_for`.

use std::sync::Mutex;
use std::time::Duration;

use tokio::sync::Notify;
use tokio::time::Instant;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BreakerState {
    Closed,
    Open,
    HalfOpen,
}

impl BreakerState {
    pub fn as_str(self) -> &'static str {
        match self {
            BreakerState::Closed => "closed",
            BreakerState::Open => "open",
            BreakerState::HalfOpen => "half_open",
        }
    }
}

#[derive(Debug)]
enum Inner {
    Closed {
        failures: u32,
    },
    Open {
        until: Instant,
        period: Duration,
    },
    /// One probe is out; the others wait for its result.
    HalfOpen {
        period: Duration,
    },
}

#[derive(Debug)]
pub struct Breaker {
    name: String,
    failures: u32,
    open_for: Duration,
    max_open_for: Duration,
    inner: Mutex<Inner>,
    changed: Notify,
}

/// Leave to make one call; say how it went with [`Permit::record`].
/// Dropped unrecorded (the call was cancelled), it counts as nothing.
#[derive(Debug)]
pub struct Permit<'a> {
    breaker: &'a Breaker,
    probe: bool,
    recorded: bool,
}

impl Breaker {
    pub fn new(name: &str, failures: u32, open_for: Duration, max_open_for: Duration) -> Self {
        Breaker {
            name: name.to_owned(),
            failures: failures.max(1),
            open_for,
            max_open_for: max_open_for.max(open_for),
            inner: Mutex::new(Inner::Closed { failures: 0 }),
            changed: Notify::new(),
        }
    }

    pub fn state(&self) -> BreakerState {
        match *self.inner.lock().expect("breaker lock") {
            Inner::Closed { .. } => BreakerState::Closed,
            Inner::Open { .. } => BreakerState::Open,
            Inner::HalfOpen { .. } => BreakerState::HalfOpen,
        }
    }

    /// Whether a call now would have to wait: the circuit is open and its
    /// period has not run out, or a probe is out. An open circuit whose
    /// period is over does not hold calls back: the next [`Breaker::admit`]
    /// makes it the probe (a caller that does not wait must still let it
    /// through, or the circuit never closes again).
    pub fn holds_calls(&self) -> bool {
        match *self.inner.lock().expect("breaker lock") {
            Inner::Closed { .. } => false,
            Inner::Open { until, .. } => Instant::now() < until,
            Inner::HalfOpen { .. } => true,
        }
    }

    /// Waits until a call may go out.
    pub async fn admit(&self) -> Permit<'_> {
        loop {
            let notified = self.changed.notified();
            let wait_until = {
                let mut inner = self.inner.lock().expect("breaker lock");
                match *inner {
                    Inner::Closed { .. } => return self.permit(false),
                    Inner::Open { until, period } if Instant::now() >= until => {
                        *inner = Inner::HalfOpen { period };
                        tracing::info!(endpoint = %self.name, "circuit half-open: one probe goes through");
                        return self.permit(true);
                    }
                    Inner::Open { until, .. } => Some(until),
                    Inner::HalfOpen { .. } => None,
                }
            };
            match wait_until {
                Some(until) => {
                    tokio::select! {
                        _ = tokio::time::sleep_until(until) => {}
                        _ = notified => {}
                    }
                }
                None => notified.await,
            }
        }
    }

    fn permit(&self, probe: bool) -> Permit<'_> {
        Permit {
            breaker: self,
            probe,
            recorded: false,
        }
    }

    fn record(&self, probe: bool, ok: bool) {
        let mut inner = self.inner.lock().expect("breaker lock");
        let next = match (&*inner, ok) {
            (_, true) => {
                if !matches!(*inner, Inner::Closed { .. }) {
                    tracing::info!(endpoint = %self.name, "circuit closed: the endpoint answers again");
                }
                Inner::Closed { failures: 0 }
            }
            (Inner::Closed { failures }, false) if failures + 1 < self.failures => Inner::Closed {
                failures: failures + 1,
            },
            (Inner::Closed { .. }, false) => {
                tracing::warn!(endpoint = %self.name, failures = self.failures, secs = self.open_for.as_secs_f64(), "circuit open: the endpoint keeps failing; calls wait");
                Inner::Open {
                    until: Instant::now() + self.open_for,
                    period: self.open_for,
                }
            }
            (Inner::HalfOpen { period }, false) if probe => {
                let period = (*period * 2).min(self.max_open_for);
                tracing::warn!(endpoint = %self.name, secs = period.as_secs_f64(), "probe failed: circuit open again");
                Inner::Open {
                    until: Instant::now() + period,
                    period,
                }
            }
            // A call admitted before the breaker opened failed late: the
            // breaker already knows.
            (Inner::HalfOpen { .. } | Inner::Open { .. }, false) => return,
        };
        *inner = next;
        drop(inner);
        self.changed.notify_waiters();
    }
}

impl Permit<'_> {
    /// `ok`: the endpoint answered (a SOAP fault is an answer).
    pub fn record(mut self, ok: bool) {
        self.recorded = true;
        self.breaker.record(self.probe, ok);
    }
}

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        if self.probe && !self.recorded {
            // The probe was cancelled: let another call probe.
            let mut inner = self.breaker.inner.lock().expect("breaker lock");
            if let Inner::HalfOpen { period } = *inner {
                *inner = Inner::Open {
                    until: Instant::now(),
                    period,
                };
            }
            drop(inner);
            self.breaker.changed.notify_waiters();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn breaker() -> Breaker {
        Breaker::new("test", 3, Duration::from_secs(10), Duration::from_secs(40))
    }

    #[tokio::test(start_paused = true)]
    async fn opens_after_consecutive_failures_and_waits() {
        let b = breaker();
        for _ in 0..2 {
            b.admit().await.record(false);
        }
        assert_eq!(b.state(), BreakerState::Closed);
        b.admit().await.record(true);
        for _ in 0..3 {
            b.admit().await.record(false);
        }
        assert_eq!(b.state(), BreakerState::Open);
        let start = Instant::now();
        let probe = b.admit().await;
        assert_eq!(
            start.elapsed(),
            Duration::from_secs(10),
            "waited the open period"
        );
        assert_eq!(b.state(), BreakerState::HalfOpen);
        probe.record(true);
        assert_eq!(b.state(), BreakerState::Closed);
    }

    #[tokio::test(start_paused = true)]
    async fn an_open_circuit_past_its_period_lets_the_probe_through() {
        let b = breaker();
        for _ in 0..3 {
            b.admit().await.record(false);
        }
        assert!(b.holds_calls());
        tokio::time::advance(Duration::from_secs(10)).await;
        // Still reported open until someone asks, but no longer holding calls.
        assert_eq!(b.state(), BreakerState::Open);
        assert!(!b.holds_calls());
        let probe = b.admit().await;
        assert!(b.holds_calls(), "the others wait for the probe");
        probe.record(true);
        assert!(!b.holds_calls());
        assert_eq!(b.state(), BreakerState::Closed);
    }

    #[tokio::test(start_paused = true)]
    async fn a_failed_probe_doubles_the_wait_up_to_the_maximum() {
        let b = breaker();
        for _ in 0..3 {
            b.admit().await.record(false);
        }
        let mut waits = Vec::new();
        for _ in 0..4 {
            let start = Instant::now();
            let p = b.admit().await;
            waits.push(start.elapsed().as_secs());
            p.record(false);
        }
        assert_eq!(waits, [10, 20, 40, 40]);
    }

    #[tokio::test(start_paused = true)]
    async fn while_the_probe_is_out_the_others_wait_for_its_result() {
        let b = std::sync::Arc::new(breaker());
        for _ in 0..3 {
            b.admit().await.record(false);
        }
        tokio::time::sleep(Duration::from_secs(10)).await;
        let probe = b.admit().await;
        let b2 = b.clone();
        let waiter = tokio::spawn(async move {
            let p = b2.admit().await;
            p.record(true);
        });
        tokio::time::sleep(Duration::from_secs(1)).await;
        assert!(!waiter.is_finished(), "held back while probing");
        probe.record(true);
        waiter.await.unwrap();
        assert_eq!(b.state(), BreakerState::Closed);
    }

    #[tokio::test(start_paused = true)]
    async fn a_cancelled_probe_lets_another_call_probe() {
        let b = breaker();
        for _ in 0..3 {
            b.admit().await.record(false);
        }
        tokio::time::sleep(Duration::from_secs(10)).await;
        drop(b.admit().await);
        let start = Instant::now();
        b.admit().await.record(true);
        assert_eq!(start.elapsed(), Duration::ZERO);
        assert_eq!(b.state(), BreakerState::Closed);
    }
}
