//! Group commit for the case store: many writers, one flush.
//!
//! A writer writes its files without syncing them, then calls
//! [`GroupSync::barrier`] (a thread that may block) or awaits
//! [`GroupSync::flushed`] (a task on the async runtime): either returns
//! once a `syncfs` of the store's filesystem has *started* after the call
//! and finished, so everything the writer wrote before is durable.
//! Writers arriving while a flush runs share the next one. With a flush
//! taking about as long as two single `fsync`s here, the store does one
//! flush for many requests instead of several fsyncs for each (figures:
//! BENCHMARKS.md).
//!
//! A blocking writer with nobody flushing leads the flush itself. An
//! awaiting task cannot: its flush is led by the store's flusher thread,
//! started with the first such wait, so that the task's runtime thread
//! goes on with other work and is woken with every task the flush served
//! (one hand-off per flush, not one to a blocking thread and back per
//! change).
//!
//! Under load a leader first lets the writers already on their way join:
//! when another writer is waiting beside it, or the last flush ended less
//! than [`GATHER`] ago (writes are streaming in), it waits [`GATHER`]
//! before flushing. A `syncfs` costs the same CPU however little it
//! carries (the walk of the filesystem's inodes, the device flush, the
//! wake-ups), so flushing back to back as soon as anyone waits spent about
//! a tenth of the daemon's CPU on flushes serving three or four changes
//! each. (The flusher thread is woken by the first task that waits, before
//! the tasks the same runtime thread is about to run have written: the
//! recent flush is what says they are coming.) A writer alone on a quiet
//! store flushes at once: the wait buys nothing without company.

use std::future::Future;
use std::os::fd::AsRawFd;
use std::path::Path;
use std::pin::Pin;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, Once};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

/// How long a leader with company waits for more writers to join its
/// flush; short against what a lookup waits for anyway (SMEV answers
/// take seconds), long against a change's own writes (tens of µs).
pub const GATHER: Duration = Duration::from_millis(2);

pub struct GroupSync {
    shared: Arc<Shared>,
    flusher: Once,
}

struct Shared {
    /// Makes everything written so far durable: `syncfs` of the store's
    /// filesystem (a stand-in in tests).
    flush: Box<dyn Fn() -> std::io::Result<()> + Send + Sync>,
    gather: Duration,
    state: Mutex<Progress>,
    /// Signalled when a flush ends (blocking writers wait on it).
    done: Condvar,
    /// Signalled when a task waits for a flush nobody leads yet, or the
    /// store is dropped (the flusher thread waits on it).
    work: Condvar,
}

#[derive(Default)]
struct Progress {
    /// Tickets handed out (one per barrier call or awaited flush).
    requested: u64,
    /// Every ticket up to this one is durable.
    completed: u64,
    /// The last failed flush: the tickets up to `.0` not completed since
    /// see its error (kind and text; `io::Error` is not `Clone`).
    failed: Option<(u64, std::io::ErrorKind, String)>,
    /// A flush is under way.
    flushing: bool,
    flushes: u64,
    /// Flushes whose leader waited for company first.
    gathered: u64,
    /// When the last flush ended.
    last_end: Option<Instant>,
    /// Tasks awaiting a flush, with their tickets.
    waiters: Vec<(u64, Waker)>,
    /// The flusher thread waits for work (a notification would wake it).
    flusher_idle: bool,
    /// The store is gone: the flusher thread ends.
    closed: bool,
}

impl Progress {
    /// Whether ticket `t` is settled: `Some(Ok)` durable, `Some(Err)`
    /// covered by a failed flush and not by a later one.
    fn outcome(&self, t: u64) -> Option<std::io::Result<()>> {
        if self.completed >= t {
            return Some(Ok(()));
        }
        match &self.failed {
            Some((upto, kind, text)) if *upto >= t => {
                Some(Err(std::io::Error::new(*kind, text.clone())))
            }
            _ => None,
        }
    }

    /// Tickets no flush has settled or taken on yet.
    fn unsettled(&self) -> u64 {
        let settled = self
            .completed
            .max(self.failed.as_ref().map_or(0, |(upto, ..)| *upto));
        self.requested.saturating_sub(settled)
    }
}

impl GroupSync {
    pub fn new(root: &Path) -> std::io::Result<Self> {
        let root = std::fs::File::open(root)?;
        Ok(Self::with(move || syncfs(&root), GATHER))
    }

    fn with(
        flush: impl Fn() -> std::io::Result<()> + Send + Sync + 'static,
        gather: Duration,
    ) -> Self {
        GroupSync {
            shared: Arc::new(Shared {
                flush: Box::new(flush),
                gather,
                state: Mutex::new(Progress::default()),
                done: Condvar::new(),
                work: Condvar::new(),
            }),
            flusher: Once::new(),
        }
    }

    /// Returns once everything written before the call is on disk.
    pub fn barrier(&self) -> std::io::Result<()> {
        let s = &self.shared;
        let mut p = s.lock();
        p.requested += 1;
        let ticket = p.requested;
        loop {
            if let Some(outcome) = p.outcome(ticket) {
                return outcome;
            }
            if p.flushing {
                p = s.done.wait(p).expect("group sync lock");
                continue;
            }
            p = s.lead(p);
        }
    }

    /// Resolves once everything written before the call is on disk,
    /// without blocking the caller's thread.
    pub fn flushed(&self) -> Flushed {
        self.flusher.call_once(|| {
            let shared = self.shared.clone();
            std::thread::Builder::new()
                .name("mezhved-flush".into())
                .spawn(move || shared.flusher())
                .expect("the flusher thread starts");
        });
        let mut p = self.shared.lock();
        p.requested += 1;
        let ticket = p.requested;
        if p.flusher_idle && !p.flushing {
            self.shared.work.notify_one();
        }
        Flushed {
            shared: self.shared.clone(),
            ticket,
        }
    }

    /// Flushes made so far, and barriers they served.
    pub fn stats(&self) -> (u64, u64) {
        let p = self.shared.lock();
        (p.flushes, p.requested)
    }

    /// Flushes whose leader waited for company.
    #[cfg(test)]
    fn gathered(&self) -> u64 {
        self.shared.lock().gathered
    }
}

impl Drop for GroupSync {
    fn drop(&mut self) {
        self.shared.lock().closed = true;
        self.shared.work.notify_all();
    }
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Progress> {
        self.state.lock().expect("group sync lock")
    }

    /// Leads one flush covering every ticket handed out by the time it
    /// starts (those arriving during the gathering included), then tells
    /// every writer it settled.
    fn lead<'a>(&'a self, mut p: MutexGuard<'a, Progress>) -> MutexGuard<'a, Progress> {
        p.flushing = true;
        let streaming = p.last_end.is_some_and(|t| t.elapsed() < self.gather);
        let company = p.unsettled() > 1 || streaming;
        if company {
            p.gathered += 1;
        }
        drop(p);
        if company {
            std::thread::sleep(self.gather);
        }
        let covers = self.lock().requested;
        let result = (self.flush)();
        p = self.lock();
        p.flushing = false;
        p.last_end = Some(Instant::now());
        match result {
            Ok(()) => {
                p.completed = p.completed.max(covers);
                p.flushes += 1;
            }
            // The writers it covered see the error (and may try again).
            Err(e) => p.failed = Some((covers, e.kind(), e.to_string())),
        }
        let settled: Vec<Waker> = p
            .waiters
            .extract_if(.., |(t, _)| *t <= covers)
            .map(|(_, w)| w)
            .collect();
        self.done.notify_all();
        // Tasks that asked while a blocking writer led this flush.
        if p.flusher_idle && p.unsettled() > 0 {
            self.work.notify_one();
        }
        drop(p);
        settled.into_iter().for_each(Waker::wake);
        self.lock()
    }

    /// The flusher thread: leads a flush whenever tickets wait that no
    /// flush has taken on, until the store is dropped.
    fn flusher(&self) {
        let mut p = self.lock();
        loop {
            if p.closed {
                return;
            }
            if p.flushing || p.unsettled() == 0 {
                p.flusher_idle = true;
                p = self.work.wait(p).expect("group sync lock");
                p.flusher_idle = false;
                continue;
            }
            p = self.lead(p);
        }
    }
}

/// The wait of [`GroupSync::flushed`].
pub struct Flushed {
    shared: Arc<Shared>,
    ticket: u64,
}

impl Future for Flushed {
    type Output = std::io::Result<()>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut p = self.shared.lock();
        if let Some(outcome) = p.outcome(self.ticket) {
            return Poll::Ready(outcome);
        }
        let ticket = self.ticket;
        match p.waiters.iter_mut().find(|(t, _)| *t == ticket) {
            Some((_, w)) => w.clone_from(cx.waker()),
            None => p.waiters.push((ticket, cx.waker().clone())),
        }
        Poll::Pending
    }
}

fn syncfs(f: &std::fs::File) -> std::io::Result<()> {
    // SAFETY: `syncfs` takes a file descriptor that `f` keeps open for the
    // duration of the call; it reads no memory of ours.
    if unsafe { libc::syncfs(f.as_raw_fd()) } == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn concurrent_barriers_share_flushes_and_all_return() {
        let dir = tempfile::tempdir().unwrap();
        let g = Arc::new(GroupSync::new(dir.path()).unwrap());
        let threads: Vec<_> = (0..16)
            .map(|i| {
                let (g, d) = (g.clone(), dir.path().to_owned());
                std::thread::spawn(move || {
                    for j in 0..20 {
                        std::fs::write(d.join(format!("{i}-{j}")), b"x").unwrap();
                        g.barrier().unwrap();
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        let (flushes, barriers) = g.stats();
        assert_eq!(barriers, 320);
        assert!(flushes >= 1 && flushes <= barriers, "{flushes} flushes");
    }

    /// A flush that says when it starts and finishes only when the test
    /// lets it, one per message (and fails once the test stops letting).
    fn gated() -> (
        std::sync::mpsc::Receiver<()>,
        std::sync::mpsc::SyncSender<()>,
        impl Fn() -> std::io::Result<()> + Send + Sync + 'static,
    ) {
        let (entered_tx, entered) = std::sync::mpsc::channel::<()>();
        let (go, gate) = std::sync::mpsc::sync_channel::<()>(0);
        let (entered_tx, gate) = (Mutex::new(entered_tx), Mutex::new(gate));
        let flush = move || {
            entered_tx.lock().unwrap().send(()).unwrap();
            gate.lock()
                .unwrap()
                .recv()
                .map_err(|_| std::io::Error::other("a flush the test did not expect"))
        };
        (entered, go, flush)
    }

    fn barrier_in_thread(g: &Arc<GroupSync>) -> std::thread::JoinHandle<std::io::Result<()>> {
        let g = g.clone();
        std::thread::spawn(move || g.barrier())
    }

    fn wait_for_requests(g: &GroupSync, n: u64) {
        while g.stats().1 < n {
            std::thread::yield_now();
        }
    }

    #[test]
    fn a_leader_with_company_lets_late_writers_join_its_flush() {
        let (entered, go, flush) = gated();
        let g = Arc::new(GroupSync::with(flush, Duration::from_secs(2)));
        // The first writer leads at once (nobody beside it); two more wait
        // while its flush runs.
        let first = barrier_in_thread(&g);
        entered.recv().unwrap();
        let waiting = [barrier_in_thread(&g), barrier_in_thread(&g)];
        wait_for_requests(&g, 3);
        go.send(()).unwrap();
        first.join().unwrap().unwrap();
        // One of the two now leads with the other beside it and gathers:
        // a writer arriving meanwhile is in that flush, not in a third one
        // (which would fail: the test lets two flushes run, no more).
        let late = barrier_in_thread(&g);
        entered.recv().unwrap();
        go.send(()).unwrap();
        drop(go);
        for t in waiting.into_iter().chain([late]) {
            t.join().unwrap().unwrap();
        }
        assert_eq!(g.stats(), (2, 4));
    }

    #[test]
    fn a_writer_alone_on_a_quiet_store_does_not_gather_one_right_after_a_flush_does() {
        let gather = Duration::from_millis(20);
        let g = GroupSync::with(|| Ok(()), gather);
        for _ in 0..3 {
            g.barrier().unwrap();
            std::thread::sleep(gather * 5);
        }
        assert_eq!((g.stats(), g.gathered()), ((3, 3), 0));
        // Back to back: the second comes within the gathering time of the
        // first flush's end, so it waits for company.
        g.barrier().unwrap();
        g.barrier().unwrap();
        assert_eq!((g.stats(), g.gathered()), ((5, 5), 1));
    }

    fn flushed_in_task(g: &Arc<GroupSync>) -> tokio::task::JoinHandle<std::io::Result<()>> {
        let g = g.clone();
        tokio::spawn(async move { g.flushed().await })
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn awaited_flushes_are_led_for_the_tasks_and_shared() {
        let (entered, go, flush) = gated();
        let g = Arc::new(GroupSync::with(flush, Duration::from_secs(2)));
        // Nobody blocks to lead: the flusher thread flushes for the task.
        let first = flushed_in_task(&g);
        tokio::task::block_in_place(|| entered.recv()).unwrap();
        let waiting = [flushed_in_task(&g), flushed_in_task(&g)];
        while g.stats().1 < 3 {
            tokio::task::yield_now().await;
        }
        go.send(()).unwrap();
        first.await.unwrap().unwrap();
        // The next flush gathers; a task arriving meanwhile is in it.
        let late = flushed_in_task(&g);
        tokio::task::block_in_place(|| entered.recv()).unwrap();
        go.send(()).unwrap();
        drop(go);
        for t in waiting.into_iter().chain([late]) {
            t.await.unwrap().unwrap();
        }
        assert_eq!(g.stats(), (2, 4));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_failed_flush_fails_its_waiters_and_the_next_one_is_tried_anew() {
        let failing = Arc::new(std::sync::atomic::AtomicBool::new(true));
        let f = failing.clone();
        let g = Arc::new(GroupSync::with(
            move || match f.load(std::sync::atomic::Ordering::SeqCst) {
                true => Err(std::io::Error::from_raw_os_error(libc::ENOSPC)),
                false => Ok(()),
            },
            Duration::ZERO,
        ));
        let err = g.flushed().await.unwrap_err();
        assert_eq!(err.raw_os_error(), None, "kind and text are kept");
        assert_eq!(err.kind(), std::io::ErrorKind::StorageFull);
        failing.store(false, std::sync::atomic::Ordering::SeqCst);
        g.flushed().await.unwrap();
        // A blocking writer and a task share what the flusher thread did.
        tokio::task::block_in_place(|| g.barrier()).unwrap();
        assert_eq!(g.stats(), (2, 3));
    }
}
