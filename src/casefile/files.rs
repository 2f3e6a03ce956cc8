//! Request state in the case directories themselves: the embedded default,
//! which needs nothing but a directory.
//!
//! The case journal is the write-ahead log: each change appends one line
//! carrying the request's new state and syncs it, and the last line of a
//! request is its state. `state.json` (rewritten in place after the line)
//! is the index a request's state is read from, in one read whatever the
//! case journal holds, when this process wrote it and nothing since could
//! have left it behind the journal (see [`Files::current`]); otherwise the
//! journal is read back. Indexes are symbolic links, made atomically in
//! one step:
//!
//! ```text
//! .index/requests/<request_id> → <case_id>     the claim: who holds the id
//! .index/messages/<message_id> → <request_id>  which request a SMEV message is for
//! .index/open/<request_id>                     without a result or a confirmed reply
//! .index/closed/<request_id>                   moved here from open/ once replied
//! .index/fallback/<request_id> → <case_id>     a result that needs the officer's fallback
//! ```
//!
//! Nothing is written to a temporary name and renamed over the old one on
//! the hot path: besides the fsyncs, each such rename frees an inode, and
//! freeing inodes by the thousand makes the next file creations scan
//! (measured: BENCHMARKS.md, "Case store without inode churn").

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};

use uuid::Uuid;

use super::adapter_index::AdapterEntry;
use super::backend::{Backend, Decide};
use super::groupsync::GroupSync;
use super::instance::Instance;
use super::{Commit, STATE_FILE, StateRecord, StoreError, fsio, io, journal};

pub(super) struct Files {
    root: PathBuf,
    instance: Instance,
    /// The store's group commit, shared with the documents' writers.
    sync: Arc<GroupSync>,
    /// Names this process in the `state.json` copies it writes: a copy
    /// with another writer (an earlier run, which may have died between
    /// the journal line and the copy; another instance) is not trusted.
    writer: String,
    known: Mutex<Known>,
}

/// What this process knows about its requests' `state.json` copies.
#[derive(Default)]
struct Known {
    /// Claimed by this process, no change recorded yet: no journal line
    /// can name them, so an absent copy means no state.
    fresh: HashSet<Uuid>,
    /// The copy may be behind the journal (its rewrite failed).
    stale: HashSet<Uuid>,
}

/// `state.json`: the state with the process that wrote it.
#[derive(Serialize)]
struct StateCopy<'a> {
    writer: &'a str,
    #[serde(flatten)]
    rec: &'a StateRecord,
}

#[derive(Deserialize)]
struct StateCopyRead {
    #[serde(default)]
    writer: String,
    #[serde(flatten)]
    rec: StateRecord,
}

const DIRS: [&str; 6] = [
    ".index/requests",
    ".index/messages",
    ".index/open",
    ".index/closed",
    ".index/fallback",
    ".orphans",
];

impl Files {
    /// Whether `root` holds a case store: what is said when it does not,
    /// before anything else is tried there.
    pub fn is_store(root: &Path) -> Result<(), StoreError> {
        if root.join(".index/open").is_dir() {
            return Ok(());
        }
        Err(StoreError::Corrupt {
            path: root.display().to_string(),
            message: "not a case store (no .index/open); has mezhved run here?".into(),
        })
    }

    pub fn open(root: &Path, sync: Arc<GroupSync>) -> Result<Self, StoreError> {
        for sub in DIRS {
            let d = root.join(sub);
            fsio::create_dir_durable(&d).map_err(io(&d))?;
        }
        let instance = Instance::register(root).map_err(io(&root.join(super::instance::DIR)))?;
        Ok(Files {
            root: root.to_owned(),
            instance,
            sync,
            writer: format!("{:016x}", fastrand::u64(..)),
            known: Mutex::default(),
        })
    }

    /// An existing store, to read only (see [`Files::is_store`]).
    pub fn reader(root: &Path, sync: Arc<GroupSync>) -> Result<Self, StoreError> {
        Self::is_store(root)?;
        Ok(Files {
            root: root.to_owned(),
            instance: Instance::reader(root),
            sync,
            // A reader writes nothing: every copy is read as another's.
            writer: String::new(),
            known: Mutex::default(),
        })
    }

    pub(super) fn root(&self) -> &Path {
        &self.root
    }

    pub(super) fn sync(&self) -> &GroupSync {
        &self.sync
    }

    fn index(&self, kind: &str, name: &str) -> PathBuf {
        self.root.join(".index").join(kind).join(name)
    }

    fn case_dir(&self, case_id: &str) -> PathBuf {
        self.root.join(case_id)
    }

    pub fn case_of(&self, request_id: &Uuid) -> Result<Option<String>, StoreError> {
        let path = self.index("requests", &request_id.to_string());
        fsio::read_pointer(&path).map_err(io(&path))
    }

    fn known(&self) -> std::sync::MutexGuard<'_, Known> {
        self.known.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The request's last recorded state. Read from `state.json` alone
    /// when this process wrote it and its rewrite has not failed since:
    /// every change of the request goes through this process under the
    /// request's lock (journal line, then the copy), so the copy is the
    /// last line's state. A request this process claimed and has recorded
    /// nothing for has no state. Anything else (a copy from an earlier
    /// run or another instance, a failed rewrite, a torn copy) is read
    /// from the journal: its last line for the request, or (for a store
    /// written before the journal carried states) `state.json`.
    pub(super) fn current(
        &self,
        case_id: &str,
        request_id: &Uuid,
    ) -> Result<Option<StateRecord>, StoreError> {
        let dir = self.case_dir(case_id);
        let path = dir.join(request_id.to_string()).join(STATE_FILE);
        let copy = match std::fs::read(&path) {
            Ok(data) => Some(data),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(io(&path)(e)),
        };
        let trusted = !self.writer.is_empty() && {
            let known = self.known();
            if copy.is_none() && known.fresh.contains(request_id) {
                return Ok(None);
            }
            !known.stale.contains(request_id)
        };
        let parsed = copy.as_deref().map(serde_json::from_slice::<StateCopyRead>);
        if trusted
            && let Some(Ok(c)) = &parsed
            && c.writer == self.writer
            && c.rec.request_id == *request_id
        {
            return Ok(parsed.and_then(Result::ok).map(|c| c.rec));
        }
        if let Some(s) = journal::last_state(&dir, &request_id.to_string()).map_err(io(&dir))? {
            return Ok(Some(s));
        }
        match parsed {
            None => Ok(None),
            Some(Ok(c)) => Ok(Some(c.rec)),
            Some(Err(e)) => Err(StoreError::Corrupt {
                path: path.display().to_string(),
                message: e.to_string(),
            }),
        }
    }

    /// Writes the change (durable at the next group flush). The journal
    /// lines are the commit point: written whole or not at all. What
    /// follows them (the `state.json` copy, the fallback and closed
    /// indexes) only mirrors them, so a failure there (a full disk) is
    /// logged and does not undo a change the journal already holds.
    pub(super) fn commit(&self, c: &Commit) -> Result<(), StoreError> {
        let rid = c.rec.request_id.to_string();
        // Indexes a reader may find first are made before the state that
        // names them; a dangling one is skipped (its request has no state).
        if c.open {
            let p = self.index("open", &rid);
            fsio::create_marker(&p).map_err(io(&p))?;
        }
        if let Some(mid) = &c.message_id {
            let p = self.index("messages", mid);
            fsio::symlink_exclusive(&rid, &p).map_err(io(&p))?;
        }
        let dir = self.case_dir(&c.rec.case_id);
        journal::append_all(&dir, c.entries(), false).map_err(io(&dir))?;
        let after = |what: &str, r: std::io::Result<()>| {
            if let Err(e) = r {
                tracing::warn!(request_id = %rid, error = %e, "{what} not updated (the journal holds the change)");
            }
        };
        let req_dir = dir.join(&rid);
        let copy = StateCopy {
            writer: &self.writer,
            rec: &c.rec,
        };
        let state = serde_json::to_vec_pretty(&copy).expect("state records serialise");
        let state_path = req_dir.join(STATE_FILE);
        let rewritten = fsio::rewrite_in_place(&state_path, &state).inspect_err(|_| {
            // Better no copy than a half-written one.
            let _ = std::fs::remove_file(&state_path);
        });
        {
            let mut known = self.known();
            known.fresh.remove(&c.rec.request_id);
            if rewritten.is_ok() {
                known.stale.remove(&c.rec.request_id);
            } else {
                // Until a rewrite succeeds, the journal is read.
                known.stale.insert(c.rec.request_id);
            }
        }
        after("state.json", rewritten);
        if c.fallback {
            let p = self.index("fallback", &rid);
            after(
                "the fallback index",
                fsio::symlink_exclusive(&c.rec.case_id, &p).map(|_| ()),
            );
        }
        if c.closed {
            // Moved, not removed: a removal frees an inode (see above).
            let (from, to) = (self.index("open", &rid), self.index("closed", &rid));
            after("the closed index", fsio::move_entry(&from, &to));
        }
        Ok(())
    }

    /// The request's lock (an exclusive lock on its directory, which
    /// every instance on the host honours), held until the file returned
    /// is dropped; awaited, not waited for on the caller's thread, when
    /// another writer holds it.
    pub(super) async fn lock_request(
        &self,
        case_id: &str,
        request_id: &Uuid,
    ) -> Result<std::fs::File, StoreError> {
        let Locking { dir, file, held } = self.try_lock_request(case_id, request_id)?;
        if held {
            return Ok(file);
        }
        tokio::task::spawn_blocking(move || file.lock().map(|()| file))
            .await
            .expect("a lock wait does not panic")
            .map_err(io(&dir))
    }

    /// Opens the request's directory and takes its lock if nobody holds it.
    fn try_lock_request(&self, case_id: &str, request_id: &Uuid) -> Result<Locking, StoreError> {
        let dir = self.case_dir(case_id).join(request_id.to_string());
        let file = std::fs::File::open(&dir).map_err(io(&dir))?;
        let held = match file.try_lock() {
            Ok(()) => true,
            Err(std::fs::TryLockError::WouldBlock) => false,
            Err(std::fs::TryLockError::Error(e)) => return Err(io(&dir)(e)),
        };
        Ok(Locking { dir, file, held })
    }

    fn find_message_id(&self, message_id: &str) -> Result<Option<Uuid>, StoreError> {
        let p = self.index("messages", message_id);
        match fsio::read_pointer(&p).map_err(io(&p))? {
            None => Ok(None),
            Some(rid) => Uuid::parse_str(rid.trim())
                .map(Some)
                .map_err(|_| StoreError::Corrupt {
                    path: p.display().to_string(),
                    message: "not a request id".into(),
                }),
        }
    }
}

impl Backend for Files {
    fn name(&self) -> &'static str {
        "files"
    }

    fn instance_id(&self) -> &str {
        &self.instance.id
    }

    fn is_alive(&self, id: &str) -> bool {
        self.instance.is_alive(id)
    }

    fn ended(&self) -> Vec<String> {
        self.instance.ended()
    }

    fn announce(&self, ops: Option<&str>) -> Result<(), StoreError> {
        let dir = self.root.join(super::instance::DIR);
        self.instance.describe(ops).map_err(io(&dir))
    }

    fn retire(&self, parked: usize) -> Result<(), StoreError> {
        let dir = self.root.join(super::instance::DIR);
        self.instance.retire(parked).map(|_| ()).map_err(io(&dir))
    }

    /// Creates and removes a probe file: what any new case needs to work.
    fn check_writable(&self) -> Result<(), StoreError> {
        let probe = self
            .root
            .join(".index")
            .join(format!(".probe-{}", fastrand::u64(..)));
        std::fs::write(&probe, b"ok").map_err(io(&probe))?;
        std::fs::remove_file(&probe).map_err(io(&probe))
    }

    /// Claims `request_id` for `case_id`. `None` when the claim is new;
    /// otherwise the case that holds it.
    fn claim(&self, request_id: &Uuid, case_id: &str) -> Result<Option<String>, StoreError> {
        let path = self.index("requests", &request_id.to_string());
        if fsio::symlink_exclusive(case_id, &path).map_err(io(&path))? {
            self.known().fresh.insert(*request_id);
            return Ok(None);
        }
        Ok(Some(
            fsio::read_pointer(&path)
                .map_err(io(&path))?
                .unwrap_or_default(),
        ))
    }

    fn load(&self, request_id: &Uuid) -> Result<Option<StateRecord>, StoreError> {
        match self.case_of(request_id)? {
            Some(case) => self.current(&case, request_id),
            None => Ok(None),
        }
    }

    /// Runs `decide` with the request locked (an exclusive lock on its
    /// directory, which every instance on the host honours), on its current
    /// state, and records the change it returns.
    fn locked(
        &self,
        case_id: &str,
        request_id: &Uuid,
        decide: &mut Decide<'_>,
    ) -> Result<(), StoreError> {
        // Held until the section returns.
        let Locking { dir, file, held } = self.try_lock_request(case_id, request_id)?;
        if !held {
            super::wait_off_runtime(|| file.lock()).map_err(io(&dir))?;
        }
        let current = self.current(case_id, request_id)?;
        if let Some(c) = decide(current)? {
            self.commit(&c)?;
            if c.durable {
                self.sync.barrier().map_err(io(&dir))?;
            }
        }
        Ok(())
    }

    fn find_message(&self, message_id: &Uuid) -> Result<Option<Uuid>, StoreError> {
        self.find_message_id(&message_id.to_string())
    }

    fn open_ids(&self) -> Result<Vec<Uuid>, StoreError> {
        let dir = self.root.join(".index/open");
        let mut out = Vec::new();
        for entry in std::fs::read_dir(&dir).map_err(io(&dir))? {
            let entry = entry.map_err(io(&dir))?;
            if let Some(id) = entry
                .file_name()
                .to_str()
                .and_then(|s| Uuid::parse_str(s).ok())
            {
                out.push(id);
            }
        }
        Ok(out)
    }

    /// Requests whose results needed a fallback, marked since `since`;
    /// marks older than `keep` are removed.
    fn fallbacks_since(
        &self,
        since: std::time::SystemTime,
        keep: std::time::Duration,
    ) -> Result<Vec<Uuid>, StoreError> {
        let dir = self.root.join(".index/fallback");
        let now = std::time::SystemTime::now();
        let mut out = Vec::new();
        for entry in std::fs::read_dir(&dir).map_err(io(&dir))? {
            let entry = entry.map_err(io(&dir))?;
            let Ok(modified) = std::fs::symlink_metadata(entry.path()).and_then(|m| m.modified())
            else {
                continue;
            };
            if now.duration_since(modified).unwrap_or_default() > keep {
                let _ = std::fs::remove_file(entry.path());
                continue;
            }
            if modified < since {
                continue;
            }
            if let Some(id) = entry
                .file_name()
                .to_str()
                .and_then(|s| Uuid::parse_str(s).ok())
            {
                out.push(id);
            }
        }
        Ok(out)
    }

    fn journal(&self, case_id: &str) -> Result<Vec<journal::Entry>, StoreError> {
        let dir = self.case_dir(case_id);
        journal::verify(&dir).map_err(|message| StoreError::Corrupt {
            path: dir.join(journal::FILE).display().to_string(),
            message,
        })
    }

    /// Final results per request in the journals of cases starting with
    /// `case_prefix`, each journal's chain checked.
    fn final_results(&self, case_prefix: &str) -> Result<HashMap<String, u64>, StoreError> {
        journal::final_results(&self.root, case_prefix).map_err(|message| StoreError::Corrupt {
            path: self.root.display().to_string(),
            message,
        })
    }

    fn adapter_sent(&self, it_system: &str, request_id: &Uuid) -> Result<(), StoreError> {
        self.adapter_mark_sent(it_system, request_id)
    }

    fn adapter_ready(&self, it_system: &str, request_id: &Uuid) -> Result<(), StoreError> {
        self.adapter_mark_ready(it_system, request_id)
    }

    fn adapter_take(&self, it_system: &str) -> Result<Option<Uuid>, StoreError> {
        self.adapter_take_oldest(it_system)
    }

    fn adapter_between(
        &self,
        it_system: &str,
        _from_ms: i64,
        _to_ms: i64,
    ) -> Result<Vec<AdapterEntry>, StoreError> {
        self.adapter_all(it_system)
    }
}

/// A request's directory opened for its lock: `held` when taken, else
/// another writer holds it.
struct Locking {
    dir: PathBuf,
    file: std::fs::File,
    held: bool,
}
