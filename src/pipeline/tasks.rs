//! Work in flight, counted so that shutdown can wait for it.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::sync::Notify;

#[derive(Debug, Default, Clone)]
pub struct Tasks {
    inner: Arc<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    count: AtomicUsize,
    idle: Notify,
}

/// Counts one task while it lives.
#[derive(Debug)]
pub struct Guard {
    inner: Arc<Inner>,
}

impl Tasks {
    pub fn enter(&self) -> Guard {
        self.inner.count.fetch_add(1, Ordering::SeqCst);
        Guard {
            inner: self.inner.clone(),
        }
    }

    pub fn count(&self) -> usize {
        self.inner.count.load(Ordering::SeqCst)
    }

    /// Waits until no task is left, at most `limit`; true if none is.
    pub async fn wait_idle(&self, limit: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            let idle = self.inner.idle.notified();
            if self.count() == 0 {
                return true;
            }
            if tokio::time::timeout_at(deadline, idle).await.is_err() {
                return self.count() == 0;
            }
        }
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        if self.inner.count.fetch_sub(1, Ordering::SeqCst) == 1 {
            self.inner.idle.notify_waiters();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn waits_for_the_last_task_or_the_limit() {
        let tasks = Tasks::default();
        let g = tasks.enter();
        let t2 = tasks.clone();
        let waiter = tokio::spawn(async move { t2.wait_idle(Duration::from_secs(5)).await });
        tokio::time::sleep(Duration::from_secs(1)).await;
        drop(g);
        assert!(waiter.await.unwrap());
        let _g = tasks.enter();
        assert!(!tasks.wait_idle(Duration::from_secs(2)).await);
        assert_eq!(tasks.count(), 1);
    }
}
