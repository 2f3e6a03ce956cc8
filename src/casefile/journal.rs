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
    pub prev: String,
    #[serde(default)]
    pub hash: String,
}

impl Entry {
    fn compute_hash(&self) -> String {
        let mut unhashed = self.clone();
        unhashed.hash = String::new();
        let json = serde_json::to_vec(&unhashed).expect("journal entries serialise");
        sha256_hex(&json)
    }
}

/// Appends an event to `dir/journal.jsonl` under an exclusive file lock
/// (several gateways may share the case store) and syncs it.
pub fn append(dir: &Path, mut entry: Entry) -> std::io::Result<Entry> {
    let path = dir.join(FILE);
    let mut f = OpenOptions::new()
        .read(true)
        .append(true)
        .create(true)
        .open(&path)?;
    f.lock()?;
    drop_torn_tail(&mut f, &path)?;
    entry.prev = last_hash(&mut f)?.unwrap_or_else(|| GENESIS.to_owned());
    entry.hash = entry.compute_hash();
    let mut line = serde_json::to_vec(&entry).expect("journal entries serialise");
    line.push(b'\n');
    f.write_all(&line)?;
    f.sync_data()?;
    f.unlock()?;
    Ok(entry)
}

/// A crash in the middle of an append leaves a line without its newline:
/// that line was never complete (nor synced), so it is cut off before the
/// next append. A complete line that does not parse is not touched.
fn drop_torn_tail(f: &mut std::fs::File, path: &Path) -> std::io::Result<()> {
    let len = f.seek(SeekFrom::End(0))?;
    if len == 0 {
        return Ok(());
    }
    let start = len.saturating_sub(16 * 1024);
    f.seek(SeekFrom::Start(start))?;
    let mut tail = Vec::new();
    f.read_to_end(&mut tail)?;
    if tail.last() == Some(&b'\n') {
        return Ok(());
    }
    let keep = match tail.iter().rposition(|b| *b == b'\n') {
        Some(i) => start + i as u64 + 1,
        None if start == 0 => 0,
        None => {
            return Err(std::io::Error::other(
                "the last journal line is over 16 KiB",
            ));
        }
    };
    tracing::warn!(journal = %path.display(), cut = len - keep, "dropping an incomplete last journal line (a crash during an append)");
    f.set_len(keep)?;
    f.sync_data()
}

fn last_hash(f: &mut std::fs::File) -> std::io::Result<Option<String>> {
    let len = f.seek(SeekFrom::End(0))?;
    if len == 0 {
        return Ok(None);
    }
    let start = len.saturating_sub(16 * 1024);
    f.seek(SeekFrom::Start(start))?;
    let mut tail = Vec::new();
    f.read_to_end(&mut tail)?;
    let text = String::from_utf8_lossy(&tail);
    let last = text
        .trim_end_matches('\n')
        .rsplit('\n')
        .next()
        .unwrap_or("");
    match serde_json::from_str::<Entry>(last) {
        Ok(e) => Ok(Some(e.hash)),
        Err(e) => Err(std::io::Error::other(format!(
            "the last journal line is unreadable: {e}"
        ))),
    }
}

/// Reads a journal and checks its chain; returns the entries or the number
/// of the first broken line.
pub fn verify(dir: &Path) -> Result<Vec<Entry>, String> {
    let text = std::fs::read_to_string(dir.join(FILE)).map_err(|e| e.to_string())?;
    let mut prev = GENESIS.to_owned();
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let e: Entry =
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
        for entry in verify(&dir).map_err(|err| format!("journal of case {name}: {err}"))? {
            let n: &mut u64 = out.entry(entry.request_id).or_default();
            if entry.event == "completed" || entry.event == "failed" {
                *n += 1;
            }
        }
    }
    Ok(out)
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
            prev: String::new(),
            hash: String::new(),
        }
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
