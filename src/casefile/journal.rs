//! The journal of a case: one JSON line per event, each carrying the hash of
//! the line before it, so that removing or editing a line is detectable.
//! Documents are linked into the chain by their own hashes.

use std::fs::OpenOptions;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::fsio::sha256_hex;

pub const FILE: &str = "journal.jsonl";
/// `prev` of the first line of a journal.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Entry {
    pub at: String,
    pub request_id: String,
    pub event: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// `file name → sha256` of documents this event wrote.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub documents: Vec<(String, String)>,
    /// The request's state after the event: the journal is the store's
    /// write-ahead log, and the last state of a request here is the truth
    /// (`state.json` is a copy for people).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<Box<super::StateRecord>>,
    pub prev: String,
    #[serde(default)]
    pub hash: String,
}

impl Entry {
    /// Links the entry to the one before it (`prev`'s hash), seals it and
    /// appends its line (with the newline) to `out`, serialising it once:
    /// the hash is computed over the line with an empty `hash`, the last
    /// field, and spliced in.
    pub(crate) fn seal_into(mut self, prev: &str, out: &mut Vec<u8>) -> Entry {
        self.prev = prev.to_owned();
        self.hash = String::new();
        let start = out.len();
        serde_json::to_writer(&mut *out, &self).expect("journal entries serialise");
        self.hash = sha256_hex(&out[start..]);
        const EMPTY_LAST: &[u8] = b"\"hash\":\"\"}";
        if out.ends_with(EMPTY_LAST) {
            out.truncate(out.len() - 2);
            out.extend_from_slice(self.hash.as_bytes());
            out.extend_from_slice(b"\"}");
        } else {
            // Not the expected shape (never so far): serialised again.
            out.truncate(start);
            serde_json::to_writer(&mut *out, &self).expect("journal entries serialise");
        }
        out.push(b'\n');
        self
    }

    /// The hash of the entry: of its line with an empty `hash`.
    fn compute_hash(&mut self) -> String {
        let hash = std::mem::take(&mut self.hash);
        let json = serde_json::to_vec(&*self).expect("journal entries serialise");
        self.hash = hash;
        sha256_hex(&json)
    }
}

/// Appends an event to `dir/journal.jsonl` under an exclusive file lock
/// (several gateways may share the case store) and syncs it.
pub fn append(dir: &Path, entry: Entry) -> std::io::Result<Entry> {
    append_with(dir, entry, true)
}

/// As [`append`]; with `sync` false the line is durable at the next group
/// flush, which the caller waits for.
pub fn append_with(dir: &Path, entry: Entry, sync: bool) -> std::io::Result<Entry> {
    let mut sealed = append_all(dir, vec![entry], sync)?;
    Ok(sealed.pop().expect("one entry in, one out"))
}

/// Appends the lines of one change, chained in order, in a single write:
/// all of them or none. A write that fails part way (a full disk, an I/O
/// error) is cut back at once, under the lock, so no torn line stays for
/// a reader to trip on; should even the cut fail, the torn tail never
/// counts (it has no newline) and the next append removes it.
pub fn append_all(dir: &Path, entries: Vec<Entry>, sync: bool) -> std::io::Result<Vec<Entry>> {
    let path = dir.join(FILE);
    let mut f = OpenOptions::new()
        .read(true)
        .append(true)
        .create(true)
        .open(&path)?;
    f.lock()?;
    let mut prev = tail_hash(&mut f, &path)?.unwrap_or_else(|| GENESIS.to_owned());
    let before = f.seek(SeekFrom::End(0))?;
    let mut buf = Vec::new();
    let mut sealed = Vec::with_capacity(entries.len());
    for entry in entries {
        let e = entry.seal_into(&prev, &mut buf);
        prev = e.hash.clone();
        sealed.push(e);
    }
    let written = f
        .write_all(&buf)
        .and_then(|()| if sync { f.sync_data() } else { Ok(()) });
    if let Err(e) = written {
        if f.set_len(before).is_ok() {
            let _ = f.sync_data();
        }
        tracing::warn!(journal = %path.display(), error = %e, "a journal append failed; the partial line was cut back");
        return Err(e);
    }
    f.unlock()?;
    Ok(sealed)
}

/// The hash of the last line, read from the file's tail in one go. A crash
/// in the middle of an append leaves a line without its newline: that line
/// was never complete (nor durable), so it is cut off first. A complete
/// line that does not parse is an error, never skipped.
fn tail_hash(f: &mut std::fs::File, path: &Path) -> std::io::Result<Option<String>> {
    #[derive(Deserialize)]
    struct Hash {
        hash: String,
    }
    let len = f.seek(SeekFrom::End(0))?;
    if len == 0 {
        return Ok(None);
    }
    let mut window = 8 * 1024u64;
    loop {
        let start = len.saturating_sub(window);
        f.seek(SeekFrom::Start(start))?;
        let mut tail = Vec::with_capacity((len - start) as usize);
        f.read_to_end(&mut tail)?;
        let Some(last_nl) = tail.iter().rposition(|b| *b == b'\n') else {
            if start == 0 {
                // Nothing but a torn first line.
                cut(f, path, len, 0)?;
                return Ok(None);
            }
            window *= 4;
            continue;
        };
        if last_nl + 1 != tail.len() {
            cut(f, path, len, start + last_nl as u64 + 1)?;
        }
        let body = &tail[..last_nl];
        let line = match body.iter().rposition(|b| *b == b'\n') {
            Some(i) => &body[i + 1..],
            None if start == 0 => body,
            None => {
                window *= 4;
                continue;
            }
        };
        return match serde_json::from_slice::<Hash>(line) {
            Ok(h) => Ok(Some(h.hash)),
            Err(e) => Err(std::io::Error::other(format!(
                "the last journal line is unreadable: {e}"
            ))),
        };
    }
}

fn cut(f: &mut std::fs::File, path: &Path, len: u64, keep: u64) -> std::io::Result<()> {
    tracing::warn!(journal = %path.display(), cut = len - keep, "dropping an incomplete last journal line (a crash during an append)");
    f.set_len(keep)?;
    f.sync_data()
}

/// The last state the journal in `dir` records for `request_id`, reading
/// backwards from the end (the request's latest line is near it). A last
/// line without its newline is an append still under way, or one a crash
/// cut short, and never counts.
pub fn last_state(dir: &Path, request_id: &str) -> std::io::Result<Option<super::StateRecord>> {
    let mut f = match std::fs::File::open(dir.join(FILE)) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    let len = f.seek(SeekFrom::End(0))?;
    let needle = format!("\"request_id\":\"{request_id}\"");
    let mut window = 16 * 1024u64;
    loop {
        let start = len.saturating_sub(window);
        f.seek(SeekFrom::Start(start))?;
        let mut buf = Vec::with_capacity((len - start) as usize);
        f.read_to_end(&mut buf)?;
        let end = buf.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
        let complete = &buf[..end];
        // Skip the first, possibly partial, line unless at the file start.
        let body = if start == 0 {
            complete
        } else {
            match complete.iter().position(|b| *b == b'\n') {
                Some(i) => &complete[i + 1..],
                None => &[][..],
            }
        };
        for line in body.split(|b| *b == b'\n').rev() {
            if line.is_empty() || !contains(line, needle.as_bytes()) {
                continue;
            }
            let e: Entry = serde_json::from_slice(line).map_err(|err| {
                std::io::Error::other(format!("journal line for {request_id}: {err}"))
            })?;
            if e.request_id == request_id
                && let Some(s) = e.state
            {
                return Ok(Some(*s));
            }
        }
        if start == 0 {
            return Ok(None);
        }
        window *= 4;
    }
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

/// Reads a journal and checks its chain; returns the entries or the number
/// of the first broken line.
pub fn verify(dir: &Path) -> Result<Vec<Entry>, String> {
    let text = std::fs::read_to_string(dir.join(FILE)).map_err(|e| e.to_string())?;
    // A last line without its newline is an append under way or cut short
    // by a crash (removed by the next append): not a line yet.
    let complete = &text[..text.rfind('\n').map_or(0, |i| i + 1)];
    check_chain(complete.lines())
}

/// Parses journal lines and checks their hash chain from the start.
pub fn check_chain<'a>(lines: impl Iterator<Item = &'a str>) -> Result<Vec<Entry>, String> {
    let mut prev = GENESIS.to_owned();
    let mut out = Vec::new();
    for (i, line) in lines.enumerate() {
        let mut e: Entry =
            serde_json::from_str(line).map_err(|err| format!("line {}: {err}", i + 1))?;
        if e.prev != prev || e.compute_hash() != e.hash {
            return Err(format!("line {}: the hash chain is broken", i + 1));
        }
        prev = e.hash.clone();
        out.push(e);
    }
    Ok(out)
}

/// Final results (`completed` and `failed` events) per request id in the
/// journals of the cases under `root` whose id starts with `case_prefix`,
/// each journal's chain checked on the way. More than one for a request
/// would be a second result.
pub fn final_results(
    root: &Path,
    case_prefix: &str,
) -> Result<std::collections::HashMap<String, u64>, String> {
    let mut out = std::collections::HashMap::new();
    let entries = std::fs::read_dir(root).map_err(|e| format!("{}: {e}", root.display()))?;
    for e in entries.flatten() {
        let name = e.file_name();
        let Some(name) = name.to_str() else { continue };
        if name.starts_with('.') || !name.starts_with(case_prefix) {
            continue;
        }
        let dir = e.path();
        if !dir.join(FILE).is_file() {
            continue;
        }
        let entries = verify(&dir).map_err(|err| format!("journal of case {name}: {err}"))?;
        count_final_results(&mut out, entries);
    }
    Ok(out)
}

/// Adds one case's entries to `counts`: every request seen, with how many
/// final results (`completed`, `failed`) it has.
pub fn count_final_results(
    counts: &mut std::collections::HashMap<String, u64>,
    entries: impl IntoIterator<Item = Entry>,
) {
    for entry in entries {
        let n: &mut u64 = counts.entry(entry.request_id).or_default();
        if entry.event == "completed" || entry.event == "failed" {
            *n += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(event: &str) -> Entry {
        Entry {
            at: "2026-11-23T10:00:00+03:00".into(),
            request_id: "r".into(),
            event: event.into(),
            detail: None,
            documents: vec![],
            state: None,
            prev: String::new(),
            hash: String::new(),
        }
    }

    #[test]
    fn a_line_sealed_in_place_is_the_line_of_the_sealed_entry() {
        let mut e = entry("accepted");
        e.detail = Some("ООО «Ромашка» \"x\"\n".into());
        e.documents = vec![("request.json".into(), sha256_hex(b"{}"))];
        let mut line = b"earlier bytes\n".to_vec();
        let mut sealed = e.clone().seal_into("abc", &mut line);
        let line = &line[b"earlier bytes\n".len()..];
        // The line is the sealed entry's own serialisation…
        let mut want = serde_json::to_vec(&sealed).unwrap();
        want.push(b'\n');
        assert_eq!(line, &want[..]);
        // …and its hash is the entry's hash, as a reader checks it.
        assert_eq!(sealed.prev, "abc");
        assert_eq!(sealed.hash.len(), 64);
        assert_eq!(sealed.compute_hash(), sealed.hash);
        assert_eq!(serde_json::from_slice::<Entry>(line).unwrap(), sealed);
    }

    #[test]
    fn a_line_torn_by_a_crash_is_dropped_before_the_next_append() {
        let dir = tempfile::tempdir().unwrap();
        append(dir.path(), entry("accepted")).unwrap();
        let path = dir.path().join(FILE);
        let mut f = OpenOptions::new().append(true).open(&path).unwrap();
        f.write_all(b"{\"at\":\"2026-11-23T10:00:01+03:00\",\"requ")
            .unwrap();
        drop(f);
        append(dir.path(), entry("sent")).unwrap();
        let events: Vec<String> = verify(dir.path())
            .unwrap()
            .into_iter()
            .map(|e| e.event)
            .collect();
        assert_eq!(events, ["accepted", "sent"]);
    }

    #[test]
    fn the_lines_of_one_change_are_chained_and_written_together() {
        let dir = tempfile::tempdir().unwrap();
        append(dir.path(), entry("accepted")).unwrap();
        let sealed = append_all(
            dir.path(),
            vec![entry("answered"), entry("completed")],
            false,
        )
        .unwrap();
        assert_eq!(sealed[1].prev, sealed[0].hash);
        let events: Vec<String> = verify(dir.path())
            .unwrap()
            .into_iter()
            .map(|e| e.event)
            .collect();
        assert_eq!(events, ["accepted", "answered", "completed"]);
    }

    #[test]
    fn final_results_are_counted_per_request_in_the_cases_of_a_prefix() {
        let root = tempfile::tempdir().unwrap();
        let case = |name: &str, events: &[(&str, &str)]| {
            let dir = root.path().join(name);
            std::fs::create_dir(&dir).unwrap();
            for (rid, ev) in events {
                let mut e = entry(ev);
                e.request_id = (*rid).into();
                append(&dir, e).unwrap();
            }
        };
        case(
            "LOAD-a-0",
            &[("r1", "accepted"), ("r1", "completed"), ("r2", "accepted")],
        );
        case("LOAD-a-1", &[("r3", "failed"), ("r3", "completed")]);
        case("OTHER-1", &[("r4", "completed")]);
        let n = final_results(root.path(), "LOAD-a-").unwrap();
        assert_eq!(n.get("r1"), Some(&1));
        assert_eq!(n.get("r2"), Some(&0));
        assert_eq!(n.get("r3"), Some(&2));
        assert!(!n.contains_key("r4"));
    }

    #[test]
    fn the_last_state_of_a_request_is_its_last_complete_line() {
        let dir = tempfile::tempdir().unwrap();
        let rec = |id: &str, state: crate::casefile::State| {
            let mut r: crate::casefile::StateRecord = serde_json::from_value(serde_json::json!({
                "request_id": id, "case_id": "C", "kind": "egrul", "state": "accepted",
                "test": false, "accepted_at": "2026-11-23T10:00:00+03:00"
            }))
            .unwrap();
            r.state = state;
            r
        };
        let (a, b) = (
            "0b0e8a3e-7c1d-4f6a-9d61-6f1a3c2b9e01",
            "0b0e8a3e-7c1d-4f6a-9d61-6f1a3c2b9e02",
        );
        use crate::casefile::State::*;
        for (id, st) in [
            (a, Accepted),
            (b, Accepted),
            (a, Sent),
            (b, Sent),
            (b, Answered),
        ] {
            let mut e = entry("x");
            e.request_id = id.into();
            e.state = Some(Box::new(rec(id, st)));
            append_with(dir.path(), e, false).unwrap();
        }
        assert_eq!(last_state(dir.path(), a).unwrap().unwrap().state, Sent);
        assert_eq!(last_state(dir.path(), b).unwrap().unwrap().state, Answered);
        assert!(last_state(dir.path(), "nobody").unwrap().is_none());
        // A torn last line (a crash mid-append) never counts.
        let mut f = OpenOptions::new()
            .append(true)
            .open(dir.path().join(FILE))
            .unwrap();
        f.write_all(
            format!("{{\"at\":\"x\",\"request_id\":\"{a}\",\"event\":\"completed\",\"state\":{{")
                .as_bytes(),
        )
        .unwrap();
        drop(f);
        assert_eq!(last_state(dir.path(), a).unwrap().unwrap().state, Sent);
        assert_eq!(
            verify(dir.path()).unwrap().len(),
            5,
            "a torn tail is not a line yet"
        );
    }

    #[test]
    fn chain_detects_edits_and_removals() {
        let dir = tempfile::tempdir().unwrap();
        for e in ["accepted", "sent", "completed"] {
            append(dir.path(), entry(e)).unwrap();
        }
        assert_eq!(verify(dir.path()).unwrap().len(), 3);
        let path = dir.path().join(FILE);
        let text = std::fs::read_to_string(&path).unwrap();
        std::fs::write(&path, text.replace("\"sent\"", "\"failed\"")).unwrap();
        assert!(verify(dir.path()).unwrap_err().contains("line 2"));
        let lines: Vec<&str> = text.lines().collect();
        std::fs::write(&path, format!("{}\n{}\n", lines[0], lines[2])).unwrap();
        assert!(verify(dir.path()).unwrap_err().contains("line 2"));
    }
}
