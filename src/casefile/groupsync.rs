//! Group commit for the case store: many writers, one flush.
//!
//! A writer writes its files without syncing them, then calls
//! [`GroupSync::barrier`]: it returns once a `syncfs` of the store's
//! filesystem has *started* after the call and finished, so everything the
//! writer wrote before is durable. Writers arriving while a flush runs
//! share the next one. With a flush taking about as long as two single
//! `fsync`s here, the store does one flush for many requests instead of
//! several fsyncs for each (figures: BENCHMARKS.md).

use std::os::fd::AsRawFd;
use std::path::Path;
use std::sync::{Condvar, Mutex};

pub struct GroupSync {
    root: std::fs::File,
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
        Ok(GroupSync {
            root: std::fs::File::open(root)?,
            state: Mutex::new(Progress::default()),
            done: Condvar::new(),
        })
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
            // Lead a flush covering every ticket handed out so far.
            p.flushing = true;
            let covers = p.requested;
            drop(p);
            let result = syncfs(&self.root);
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
}
