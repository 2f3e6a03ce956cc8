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
use std::io::Write as _;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

pub const DIR: &str = ".instances";

/// What an instance's lock file says about it, for people and for a
/// second daemon started on the same store.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct About {
    pub id: String,
    pub pid: u32,
    /// Its ops server (`http://127.0.0.1:9180`), when it runs one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ops: Option<String>,
    pub started_at: String,
}

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
        let me = Instance {
            id,
            dir,
            _lock: Some(lock),
        };
        me.describe(None)?;
        Ok(me)
    }

    fn path(&self) -> PathBuf {
        self.dir.join(format!("{}.lock", self.id))
    }

    /// Writes what this instance is into its lock file: its process and,
    /// once it listens, its ops server.
    pub fn describe(&self, ops: Option<&str>) -> std::io::Result<()> {
        let Some(lock) = &self._lock else {
            return Ok(());
        };
        let about = About {
            id: self.id.clone(),
            pid: std::process::id(),
            ops: ops.map(str::to_owned),
            started_at: crate::clock::rfc3339(crate::clock::now()),
        };
        let mut text = serde_json::to_vec(&about).expect("plain data serialises");
        text.push(b'\n');
        let mut f = lock;
        f.set_len(0)?;
        std::io::Seek::rewind(&mut f)?;
        f.write_all(&text)
    }

    /// A clean stop: the lock file goes when nothing is left under this
    /// instance's name. With requests parked under it, the file stays, so
    /// that another instance sees it end and takes them over (and removes
    /// the file), as after a crash.
    pub fn retire(&self, parked: usize) -> std::io::Result<bool> {
        if self._lock.is_none() || parked > 0 {
            return Ok(false);
        }
        match std::fs::remove_file(self.path()) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(true),
            Err(e) => Err(e),
        }
    }

    /// The instances running on the store at `root` now (their lock is
    /// held), with what their lock files say; ended ones are left alone.
    pub fn running(root: &Path) -> Vec<About> {
        let dir = root.join(DIR);
        let Ok(entries) = std::fs::read_dir(&dir) else {
            return Vec::new();
        };
        let mut out: Vec<About> = entries
            .filter_map(|e| e.ok())
            .filter_map(|e| {
                let name = e.file_name().to_str()?.strip_suffix(".lock")?.to_owned();
                let f = OpenOptions::new().read(true).open(e.path()).ok()?;
                if !matches!(f.try_lock_shared(), Err(TryLockError::WouldBlock)) {
                    return None;
                }
                let text = std::fs::read_to_string(e.path()).unwrap_or_default();
                let mut about: About = serde_json::from_str(text.trim()).unwrap_or_default();
                if about.id.is_empty() {
                    // A file from before the description: the id has the pid.
                    about.pid = name
                        .rsplit('-')
                        .nth(1)
                        .and_then(|p| p.parse().ok())
                        .unwrap_or(0);
                    about.id = name;
                }
                Some(about)
            })
            .collect();
        out.sort_by(|a, b| a.started_at.cmp(&b.started_at));
        out
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
