//! Group commit for the case store: many writers, one flush.
//!
//! A writer writes its files without syncing them, then calls
//! [`GroupSync::barrier`]: it returns once a `syncfs` of the store's
//! filesystem has *started* after the call and finished, so everything the
//! writer wrote before is durable. Writers arriving while a flush runs
//! share the next one. With a flush taking about as long as two single
//! `fsync`s here, the store does one flush for many requests instead of
//! several fsyncs for each (figures: BENCHMARKS.md).
//!
//! Under load a leader first lets the writers already on their way join:
//! when another writer is waiting beside it, it waits [`GATHER`] before
//! flushing. A `syncfs` costs the same CPU however little it carries (the
//! walk of the filesystem's inodes, the device flush, the wake-ups), so
//! flushing back to back as soon as anyone waits spent about a tenth of
//! the daemon's CPU on flushes serving three or four changes each. A
//! writer alone flushes at once: the wait buys nothing without company.

use std::os::fd::AsRawFd;
use std::path::Path;
use std::sync::{Condvar, Mutex};
use std::time::Duration;

/// How long a leader with company waits for more writers to join its
/// flush; short against what a lookup waits for anyway (SMEV answers
/// take seconds), long against a change's own writes (tens of µs).
pub const GATHER: Duration = Duration::from_millis(2);

pub struct GroupSync {
    /// Makes everything written so far durable: `syncfs` of the store's
    /// filesystem (a stand-in in tests).
    flush: Box<dyn Fn() -> std::io::Result<()> + Send + Sync>,
    gather: Duration,
    state: Mutex<Progress>,
    done: Condvar,
}

#[derive(Default)]
struct Progress {
    /// Tickets handed out (one per barrier call).
    requested: u64,
    /// Every ticket up to this one is durable.
    completed: u64,
    /// A flush is under way.
    flushing: bool,
    flushes: u64,
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
            flush: Box::new(flush),
            gather,
            state: Mutex::new(Progress::default()),
            done: Condvar::new(),
        }
    }

    /// Returns once everything written before the call is on disk.
    pub fn barrier(&self) -> std::io::Result<()> {
        let mut p = self.state.lock().expect("group sync lock");
        p.requested += 1;
        let ticket = p.requested;
        loop {
            if p.completed >= ticket {
                return Ok(());
            }
            if p.flushing {
                p = self.done.wait(p).expect("group sync lock");
                continue;
            }
            // Lead a flush covering every ticket handed out by the time
            // it starts (those arriving during the gathering included).
            p.flushing = true;
            let company = p.requested - p.completed > 1;
            drop(p);
            if company {
                std::thread::sleep(self.gather);
            }
            let covers = self.state.lock().expect("group sync lock").requested;
            let result = (self.flush)();
            p = self.state.lock().expect("group sync lock");
            p.flushing = false;
            if result.is_ok() {
                p.completed = p.completed.max(covers);
                p.flushes += 1;
            }
            self.done.notify_all();
            // The others lead their own attempt and see their own error.
            result?;
        }
    }

    /// Flushes made so far, and barriers they served.
    pub fn stats(&self) -> (u64, u64) {
        let p = self.state.lock().expect("group sync lock");
        (p.flushes, p.requested)
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
    fn a_writer_alone_does_not_gather() {
        // Were it to wait, this test would outlive any runner's patience.
        let g = GroupSync::with(|| Ok(()), Duration::from_secs(3600));
        for _ in 0..3 {
            g.barrier().unwrap();
        }
        assert_eq!(g.stats(), (3, 3));
    }
}
