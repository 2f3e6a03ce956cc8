//! Request state in the case directories themselves: the embedded default,
//! which needs nothing but a directory.
//!
//! The case journal is the write-ahead log: each change appends one line
//! carrying the request's new state and syncs it, and the last line of a
//! request is its state (`state.json` is a copy for people, rewritten in
//! place). Indexes are symbolic links, made atomically in one step:
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

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use uuid::Uuid;

use super::groupsync::GroupSync;
use super::instance::Instance;
use super::{Commit, STATE_FILE, StateRecord, StoreError, fsio, io, journal};

pub(super) struct Files {
    root: PathBuf,
    instance: Instance,
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
    pub fn open(root: &Path) -> Result<Self, StoreError> {
        for sub in DIRS {
            let d = root.join(sub);
            fsio::create_dir_durable(&d).map_err(io(&d))?;
        }
        let instance = Instance::register(root).map_err(io(&root.join(super::instance::DIR)))?;
        Ok(Files {
            root: root.to_owned(),
            instance,
        })
    }

    pub fn reader(root: &Path) -> Result<Self, StoreError> {
        if !root.join(".index/open").is_dir() {
            return Err(StoreError::Corrupt {
                path: root.display().to_string(),
                message: "not a case store (no .index/open); has mezhved run here?".into(),
            });
        }
        Ok(Files {
            root: root.to_owned(),
            instance: Instance::reader(root),
        })
    }

    pub fn instance(&self) -> &Instance {
        &self.instance
    }

    fn index(&self, kind: &str, name: &str) -> PathBuf {
        self.root.join(".index").join(kind).join(name)
    }

    fn case_dir(&self, case_id: &str) -> PathBuf {
        self.root.join(case_id)
    }

    /// Claims `request_id` for `case_id`. `None` when the claim is new;
    /// otherwise the case that holds it.
    pub fn claim(&self, request_id: &Uuid, case_id: &str) -> Result<Option<String>, StoreError> {
        let path = self.index("requests", &request_id.to_string());
        if fsio::symlink_exclusive(case_id, &path).map_err(io(&path))? {
            return Ok(None);
        }
        Ok(Some(
            fsio::read_pointer(&path)
                .map_err(io(&path))?
                .unwrap_or_default(),
        ))
    }

    pub fn case_of(&self, request_id: &Uuid) -> Result<Option<String>, StoreError> {
        let path = self.index("requests", &request_id.to_string());
        fsio::read_pointer(&path).map_err(io(&path))
    }

    /// The request's last recorded state: its last journal line, or (for a
    /// store written before the journal carried states) `state.json`.
    fn current(&self, case_id: &str, request_id: &Uuid) -> Result<Option<StateRecord>, StoreError> {
        let dir = self.case_dir(case_id);
        if let Some(s) = journal::last_state(&dir, &request_id.to_string()).map_err(io(&dir))? {
            return Ok(Some(s));
        }
        let path = dir.join(request_id.to_string()).join(STATE_FILE);
        match std::fs::read(&path) {
            Ok(data) => serde_json::from_slice(&data)
                .map(Some)
                .map_err(|e| StoreError::Corrupt {
                    path: path.display().to_string(),
                    message: e.to_string(),
                }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io(&path)(e)),
        }
    }

    pub fn load(&self, request_id: &Uuid) -> Result<Option<StateRecord>, StoreError> {
        match self.case_of(request_id)? {
            Some(case) => self.current(&case, request_id),
            None => Ok(None),
        }
    }

    /// Runs `f` with the request locked (an exclusive lock on its directory,
    /// which every instance on the host honours), on its current state, and
    /// records the change it returns.
    pub fn locked<T>(
        &self,
        sync: &GroupSync,
        case_id: &str,
        request_id: &Uuid,
        f: impl FnOnce(Option<StateRecord>) -> Result<(T, Option<Commit>), StoreError>,
    ) -> Result<T, StoreError> {
        let dir = self.case_dir(case_id).join(request_id.to_string());
        let lock = std::fs::File::open(&dir).map_err(io(&dir))?;
        lock.lock().map_err(io(&dir))?;
        let current = self.current(case_id, request_id)?;
        let (out, commit) = f(current)?;
        if let Some(c) = commit {
            self.commit(&c)?;
            if c.durable {
                sync.barrier().map_err(io(&dir))?;
            }
        }
        Ok(out)
    }

    /// Writes the change (durable at the next group flush). The journal
    /// lines are the commit point: written whole or not at all. What
    /// follows them (the `state.json` copy, the fallback and closed
    /// indexes) only mirrors them, so a failure there (a full disk) is
    /// logged and does not undo a change the journal already holds.
    fn commit(&self, c: &Commit) -> Result<(), StoreError> {
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
        let state = serde_json::to_vec_pretty(&c.rec).expect("state records serialise");
        let state_path = req_dir.join(STATE_FILE);
        after(
            "state.json",
            fsio::rewrite_in_place(&state_path, &state).inspect_err(|_| {
                // Better no copy than a half-written one.
                let _ = std::fs::remove_file(&state_path);
            }),
        );
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

    pub fn find_message(&self, message_id: &str) -> Result<Option<Uuid>, StoreError> {
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

    pub fn open_ids(&self) -> Result<Vec<Uuid>, StoreError> {
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
    pub fn fallbacks_since(
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

    /// Final results per request in the journals of cases starting with
    /// `case_prefix`, each journal's chain checked.
    pub fn final_results(&self, case_prefix: &str) -> Result<HashMap<String, u64>, StoreError> {
        journal::final_results(&self.root, case_prefix).map_err(|message| StoreError::Corrupt {
            path: self.root.display().to_string(),
            message,
        })
    }

    /// Creates and removes a probe file: what any new case needs to work.
    pub fn check_writable(&self) -> Result<(), StoreError> {
        let probe = self
            .root
            .join(".index")
            .join(format!(".probe-{}", fastrand::u64(..)));
        std::fs::write(&probe, b"ok").map_err(io(&probe))?;
        std::fs::remove_file(&probe).map_err(io(&probe))
    }
}
