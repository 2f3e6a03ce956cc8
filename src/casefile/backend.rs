//! What a case store's backend provides: request state, idempotency keys,
//! the case journal, the indexes and the instances sharing the store.
//! [`super::Store`] holds the rules every backend shares (which state may
//! follow which, documents on disk before the state naming them, one
//! result per request) and asks the backend only to keep and find.
//!
//! Two implementations: [`super::files::Files`] (the case directories
//! themselves, the embedded default) and [`super::pg::Pg`] (PostgreSQL,
//! for several daemons sharing the work).

use std::collections::HashMap;
use std::time::{Duration, SystemTime};

use uuid::Uuid;

use super::adapter_index::AdapterEntry;
use super::{Commit, StateRecord, StoreError, journal};

/// The change a locked section decided on (`None`: nothing to record).
pub(super) type Decide<'a> =
    dyn FnMut(Option<StateRecord>) -> Result<Option<Commit>, StoreError> + 'a;

pub(super) trait Backend: Send + Sync {
    /// `files` or `postgres`, as operators see it.
    fn name(&self) -> &'static str;

    /// This instance's id (the `owner` of the requests it works on).
    fn instance_id(&self) -> &str;

    /// Whether instance `id` runs (this one always does).
    fn is_alive(&self, id: &str) -> bool;

    /// The instances sharing the store that ended since the last call.
    fn ended(&self) -> Vec<String>;

    /// Records where this instance's ops server listens, for a second
    /// daemon on the same store to say.
    fn announce(&self, ops: Option<&str>) -> Result<(), StoreError>;

    /// A clean stop with `parked` requests still owned by this instance.
    fn retire(&self, parked: usize) -> Result<(), StoreError>;

    /// A real write, proving the store takes writes now.
    fn check_writable(&self) -> Result<(), StoreError>;

    /// Claims `request_id` for `case_id`: `None` when the claim is new,
    /// otherwise the case that holds it.
    fn claim(&self, request_id: &Uuid, case_id: &str) -> Result<Option<String>, StoreError>;

    /// The request's current state, in one read whatever its case holds.
    fn load(&self, request_id: &Uuid) -> Result<Option<StateRecord>, StoreError>;

    /// Runs `decide` once with the request locked against every other
    /// writer (of any instance), on its current state, and records the
    /// change it returns before the lock is released; durable on return
    /// when the change says so.
    fn locked(
        &self,
        case_id: &str,
        request_id: &Uuid,
        decide: &mut Decide<'_>,
    ) -> Result<(), StoreError>;

    /// The request a SMEV `MessageID` was sent for.
    fn find_message(&self, message_id: &Uuid) -> Result<Option<Uuid>, StoreError>;

    /// Requests without a final result, or whose reply is not confirmed.
    fn open_ids(&self) -> Result<Vec<Uuid>, StoreError>;

    /// Requests whose results needed a fallback, marked since `since`
    /// (marks older than `keep` may be removed on the way).
    fn fallbacks_since(&self, since: SystemTime, keep: Duration) -> Result<Vec<Uuid>, StoreError>;

    /// The journal of one case, its hash chain checked.
    fn journal(&self, case_id: &str) -> Result<Vec<journal::Entry>, StoreError>;

    /// Final results per request in the cases starting with `case_prefix`.
    fn final_results(&self, case_prefix: &str) -> Result<HashMap<String, u64>, StoreError>;

    /// Removes what the backend keeps outside the case directories (the
    /// PostgreSQL schema; tests).
    fn drop_external(&self) -> Result<(), StoreError> {
        Ok(())
    }

    /// The adapter interface: `it_system` sent `request_id` (durable).
    fn adapter_sent(&self, it_system: &str, request_id: &Uuid) -> Result<(), StoreError>;

    /// The answer to `request_id` is ready for `it_system` (once; durable).
    fn adapter_ready(&self, it_system: &str, request_id: &Uuid) -> Result<(), StoreError>;

    /// Takes the oldest ready answer for `it_system`, each by one caller.
    fn adapter_take(&self, it_system: &str) -> Result<Option<Uuid>, StoreError>;

    /// Requests `it_system` sent or whose answers became ready between
    /// `from_ms` and `to_ms` (a backend may return more; the caller
    /// filters).
    fn adapter_between(
        &self,
        it_system: &str,
        from_ms: i64,
        to_ms: i64,
    ) -> Result<Vec<AdapterEntry>, StoreError>;
}
