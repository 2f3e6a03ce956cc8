//! Which gateway instance works on which request, when several share one
//! case store.
//!
//! Each instance holds an exclusive lock on its own file under
//! `<cases_root>/.instances/` for as long as it runs. The kernel releases
//! the lock when the process ends, however it ends (`kill -9` included), so
//! another instance tells a dead owner from a live one by trying the lock:
//! no heartbeats, no timeouts. A request whose owner is dead is taken over
//! by whoever notices first (under the request's own lock).
//!
//! File locks are per host: instances on several hosts share requests
//! through the PostgreSQL store instead.

use std::fs::{File, OpenOptions, TryLockError};
use std::path::{Path, PathBuf};

pub const DIR: &str = ".instances";

/// This process's registration. Dropping it releases the lock.
#[derive(Debug)]
pub struct Instance {
    pub id: String,
    dir: PathBuf,
    /// `None` for a reader that works on no request (`mezhved status`).
    _lock: Option<File>,
}

impl Instance {
    /// Registers a new instance under `root/.instances`.
    pub fn register(root: &Path) -> std::io::Result<Self> {
        let dir = root.join(DIR);
        std::fs::create_dir_all(&dir)?;
        let id = format!(
            "{}-{}-{}",
            hostname(),
            std::process::id(),
            &uuid::Uuid::new_v4().simple().to_string()[..8]
        );
        let path = dir.join(format!("{id}.lock"));
        let lock = OpenOptions::new()
            .create_new(true)
            .write(true)
            .open(&path)?;
        lock.lock()?;
        Ok(Instance {
            id,
            dir,
            _lock: Some(lock),
        })
    }

    /// An observer of the store that registers nothing and owns nothing.
    pub fn reader(root: &Path) -> Self {
        Instance {
            id: format!("reader-{}", std::process::id()),
            dir: root.join(DIR),
            _lock: None,
        }
    }

    /// Whether the instance `id` is running. Ours is; one whose lock can be
    /// taken has ended (its file is then removed).
    pub fn is_alive(&self, id: &str) -> bool {
        if id == self.id {
            return true;
        }
        // An id from a state file names a file: keep it inside the directory.
        if id.is_empty() || id.contains(['/', '\\']) || id.starts_with('.') {
            return false;
        }
        let path = self.dir.join(format!("{id}.lock"));
        let Ok(f) = OpenOptions::new().write(true).open(&path) else {
            return false;
        };
        match f.try_lock() {
            Ok(()) => {
                let _ = std::fs::remove_file(&path);
                false
            }
            Err(TryLockError::WouldBlock) => true,
            // Cannot tell: assume it runs, so that nobody works twice.
            Err(TryLockError::Error(_)) => true,
        }
    }

    /// Looks at every instance registered: returns the ids of those that
    /// have ended since the last look (their files are removed on the way).
    pub fn ended(&self) -> Vec<String> {
        let Ok(entries) = std::fs::read_dir(&self.dir) else {
            return Vec::new();
        };
        let mut ids: Vec<String> = entries
            .filter_map(|e| e.ok())
            .filter_map(|e| {
                e.file_name()
                    .to_str()
                    .and_then(|n| n.strip_suffix(".lock"))
                    .map(str::to_owned)
            })
            .filter(|id| !self.is_alive(id))
            .collect();
        ids.sort();
        ids
    }
}

// No Drop that removes the file: an instance that stops cleanly leaves its
// requests parked under its id, and the others notice it has ended (its
// lock is free) exactly as after a crash, and take them over.

pub fn hostname() -> String {
    std::fs::read_to_string("/etc/hostname")
        .map(|s| s.trim().to_owned())
        .ok()
        .filter(|s| !s.is_empty() && !s.contains(['/', '\\']))
        .unwrap_or_else(|| "host".into())
}
