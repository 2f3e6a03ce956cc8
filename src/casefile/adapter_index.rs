//! What the adapter interface needs of the store besides the request
//! itself, on both backends and with the guarantees of the request's own
//! records (its `clientId` is its `request_id`, derived, so the claim of
//! the request id is the idempotency key):
//!
//! - the requests an information system sent, by time (`Find` by period);
//! - its answers ready to be taken, in order, each taken once (`Get`).
//!
//! ```text
//! files:    .index/adapter/<itSystem>/sent/<request_id>    made at acceptance
//!           .index/adapter/<itSystem>/ready/<request_id>   made when the result is written
//!           .index/adapter/<itSystem>/taken/<request_id>   moved here by the Get that took it
//!           (times are the entries' modification times; a move keeps them)
//! postgres: adapter_messages (it_system, request_id, accepted_at, ready_at, taken_at)
//! ```

use std::path::PathBuf;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use uuid::Uuid;

use super::files::Files;
use super::{StateRecord, Store, StoreError, fsio, io};

/// A request an information system sent, and when it was accepted and
/// answered (milliseconds since the epoch).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AdapterEntry {
    pub request_id: Uuid,
    pub accepted_ms: Option<i64>,
    pub ready_ms: Option<i64>,
}

/// Milliseconds since the epoch (0 before it).
pub(super) fn ms(t: SystemTime) -> i64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

impl Store {
    /// Records that `it_system` sent `rec` (durable when it returns).
    pub fn adapter_sent(&self, it_system: &str, rec: &StateRecord) -> Result<(), StoreError> {
        self.backend.adapter_sent(it_system, &rec.request_id)
    }

    /// The answer to `rec` is ready for `it_system`'s `Get` (once; durable
    /// when it returns). Again after a restart changes nothing.
    pub fn adapter_ready(&self, it_system: &str, rec: &StateRecord) -> Result<(), StoreError> {
        self.backend.adapter_ready(it_system, &rec.request_id)
    }

    /// Takes the oldest answer ready for `it_system`: each is taken by one
    /// `Get` only, whichever instance serves it.
    pub fn adapter_take(&self, it_system: &str) -> Result<Option<Uuid>, StoreError> {
        self.backend.adapter_take(it_system)
    }

    /// The requests `it_system` sent, or whose answers became ready, between
    /// `from` and `to` (at most `limit`, oldest first).
    pub fn adapter_between(
        &self,
        it_system: &str,
        from: SystemTime,
        to: SystemTime,
        limit: usize,
    ) -> Result<Vec<AdapterEntry>, StoreError> {
        let (from, to) = (ms(from), ms(to));
        let mut out = self.backend.adapter_between(it_system, from, to)?;
        let within = |t: Option<i64>| t.is_some_and(|t| (from..=to).contains(&t));
        out.retain(|e| within(e.accepted_ms) || within(e.ready_ms));
        out.sort_by_key(|e| e.accepted_ms.or(e.ready_ms));
        out.truncate(limit);
        Ok(out)
    }
}

/// The files backend's adapter records: marker files whose modification
/// times are the times.
impl Files {
    fn adapter_dir(&self, it_system: &str, part: &str) -> PathBuf {
        self.root()
            .join(".index/adapter")
            .join(it_system)
            .join(part)
    }

    pub(super) fn adapter_mark_sent(
        &self,
        it_system: &str,
        request_id: &Uuid,
    ) -> Result<(), StoreError> {
        let dir = self.adapter_dir(it_system, "sent");
        fsio::create_dir_durable(&dir).map_err(io(&dir))?;
        let p = dir.join(request_id.to_string());
        fsio::create_marker(&p).map_err(io(&p))?;
        self.sync().barrier().map_err(io(&dir))
    }

    pub(super) fn adapter_mark_ready(
        &self,
        it_system: &str,
        request_id: &Uuid,
    ) -> Result<(), StoreError> {
        let rid = request_id.to_string();
        let taken = self.adapter_dir(it_system, "taken").join(&rid);
        if taken.symlink_metadata().is_ok() {
            return Ok(());
        }
        let dir = self.adapter_dir(it_system, "ready");
        fsio::create_dir_durable(&dir).map_err(io(&dir))?;
        let p = dir.join(&rid);
        fsio::create_marker(&p).map_err(io(&p))?;
        self.sync().barrier().map_err(io(&dir))
    }

    pub(super) fn adapter_take_oldest(&self, it_system: &str) -> Result<Option<Uuid>, StoreError> {
        let ready = self.adapter_dir(it_system, "ready");
        let mut entries = match list(&ready) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(io(&ready)(e)),
        };
        entries.sort_by_key(|(_, t)| *t);
        let taken = self.adapter_dir(it_system, "taken");
        fsio::create_dir_durable(&taken).map_err(io(&taken))?;
        for (id, _) in entries {
            let name = id.to_string();
            // One rename succeeds; whoever else tried finds it gone.
            match std::fs::rename(ready.join(&name), taken.join(&name)) {
                Ok(()) => {
                    self.sync().barrier().map_err(io(&taken))?;
                    return Ok(Some(id));
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(io(&ready)(e)),
            }
        }
        Ok(None)
    }

    /// Every request of `it_system` with its times (the caller keeps the
    /// period's).
    pub(super) fn adapter_all(&self, it_system: &str) -> Result<Vec<AdapterEntry>, StoreError> {
        let mut by_id: std::collections::BTreeMap<Uuid, AdapterEntry> = Default::default();
        for (part, answered) in [("sent", false), ("ready", true), ("taken", true)] {
            let dir = self.adapter_dir(it_system, part);
            let entries = match list(&dir) {
                Ok(e) => e,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(io(&dir)(e)),
            };
            for (id, t) in entries {
                let e = by_id.entry(id).or_insert(AdapterEntry {
                    request_id: id,
                    accepted_ms: None,
                    ready_ms: None,
                });
                if answered {
                    e.ready_ms = Some(ms(t));
                } else {
                    e.accepted_ms = Some(ms(t));
                }
            }
        }
        Ok(by_id.into_values().collect())
    }
}

/// The request ids named in `dir` with their modification times.
fn list(dir: &std::path::Path) -> std::io::Result<Vec<(Uuid, SystemTime)>> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let Some(id) = entry
            .file_name()
            .to_str()
            .and_then(|s| Uuid::parse_str(s).ok())
        else {
            continue;
        };
        let t = std::fs::symlink_metadata(entry.path())
            .and_then(|m| m.modified())
            .unwrap_or(UNIX_EPOCH + Duration::ZERO);
        out.push((id, t));
    }
    Ok(out)
}
