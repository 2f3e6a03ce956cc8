//! Local snapshots of the registers, built by `mezhved registers sync` from
//! their official publications (ЕИС's РНП documents as ZIP archives of
//! XML, Минюст's xlsx export), so that lookups answer when the online
//! source is down, or at once on the snapshot routes.
//!
//! ```text
//! <snapshot_dir>/<register>           a symbolic link to the current build
//! <snapshot_dir>/<register>-<time>/meta.json      when, from what (SHA-256 of each file), how many
//!                                 /records.jsonl  one record per line
//!                                 /keys.idx       sorted 32-byte entries: key, offset, length
//! ```
//!
//! A lookup binary-searches `keys.idx` with a few reads (O(log n), nothing
//! loaded whole) and reads only its records. A new build is written beside
//! the old one and the link is replaced in one rename, so a lookup sees one
//! build or the other, never half of one.

use std::fs::File;
use std::io::{BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use futures_util::future::BoxFuture;
use serde::{Deserialize, Serialize};

use super::agents::{self, AgentRecord};
use super::rnp::RnpRecord;
use super::{Exchange, Query, RegisterSource, Route, SourceError};
use crate::lookup::{Outcome, SourceRef, Verdict};
use crate::request::SubjectId;

const KEY_LEN: usize = 20;
const ENTRY_LEN: usize = KEY_LEN + 8 + 4;
/// Records of one key read at most (a supplier with more is unheard of).
const MAX_PER_KEY: usize = 1000;
/// Documents read from one archive at most.
const MAX_ENTRIES: usize = 2_000_000;

/// What a snapshot was built from, and when.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Meta {
    /// `eis` or `minjust`.
    pub register: String,
    pub synced_at: String,
    /// The register's own date of the data: the latest publication among
    /// ЕИС's documents, Минюст's `lastModified`.
    #[serde(default)]
    pub data_as_of: Option<String>,
    pub records: u64,
    pub sources: Vec<SourceFile>,
    /// Published documents left out because they fail the register's
    /// schema, with the first reasons (a misread record is worse than none:
    /// lookups of those subjects fall back to the online source or paper).
    #[serde(default, skip_serializing_if = "Rejected::is_empty")]
    pub rejected: Rejected,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct Rejected {
    pub count: u64,
    pub first: Vec<String>,
}

impl Rejected {
    const KEEP: usize = 10;

    fn is_empty(&self) -> bool {
        self.count == 0
    }

    fn add(&mut self, why: String) {
        self.count += 1;
        if self.first.len() < Self::KEEP {
            self.first.push(why);
        }
    }
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct SourceFile {
    pub name: String,
    pub bytes: u64,
    pub sha256: String,
}

/// Which register a snapshot holds.
fn register_name(route: Route) -> &'static str {
    match route {
        Route::EisSnapshot | Route::Eis => "eis",
        _ => "minjust",
    }
}

/// The current build of `register` under `dir`.
pub fn current(dir: &Path, register: &str) -> PathBuf {
    dir.join(register)
}

/// The snapshot's description, if one was built.
pub fn meta(dir: &Path, register: &str) -> Result<Option<Meta>, String> {
    let path = current(dir, register).join("meta.json");
    match std::fs::read(&path) {
        Ok(b) => serde_json::from_slice(&b)
            .map(Some)
            .map_err(|e| format!("{}: {e}", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(format!("{}: {e}", path.display())),
    }
}

/// How old a snapshot is.
pub fn age(m: &Meta) -> Option<Duration> {
    let t = crate::clock::parse_rfc3339(&m.synced_at)?;
    (crate::clock::now() - t).try_into().ok()
}

fn key_bytes(key: &str) -> Option<[u8; KEY_LEN]> {
    let b = key.as_bytes();
    if b.is_empty() || b.len() > KEY_LEN || !key.is_ascii() {
        return None;
    }
    let mut k = [0u8; KEY_LEN];
    k[..b.len()].copy_from_slice(b);
    Some(k)
}

/// The records stored under `key` (raw JSON lines).
pub fn find(build: &Path, key: &str) -> Result<Vec<Vec<u8>>, String> {
    let Some(k) = key_bytes(key) else {
        return Ok(Vec::new());
    };
    let io = |e: std::io::Error| format!("{}: {e}", build.display());
    let mut idx = File::open(build.join("keys.idx")).map_err(io)?;
    let n = idx.metadata().map_err(io)?.len() / ENTRY_LEN as u64;
    let mut entry = [0u8; ENTRY_LEN];
    let mut read_at = |i: u64, entry: &mut [u8; ENTRY_LEN]| -> Result<(), String> {
        idx.seek(SeekFrom::Start(i * ENTRY_LEN as u64))
            .map_err(io)?;
        idx.read_exact(entry).map_err(io)
    };
    // The first entry not less than the key.
    let (mut lo, mut hi) = (0u64, n);
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        read_at(mid, &mut entry)?;
        if entry[..KEY_LEN] < k[..] {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    let mut spans = Vec::new();
    let mut i = lo;
    while i < n && spans.len() < MAX_PER_KEY {
        read_at(i, &mut entry)?;
        if entry[..KEY_LEN] != k[..] {
            break;
        }
        let off = u64::from_le_bytes(entry[KEY_LEN..KEY_LEN + 8].try_into().expect("8 bytes"));
        let len = u32::from_le_bytes(entry[KEY_LEN + 8..].try_into().expect("4 bytes"));
        spans.push((off, len));
        i += 1;
    }
    let mut data = File::open(build.join("records.jsonl")).map_err(io)?;
    let mut out = Vec::new();
    for (off, len) in spans {
        data.seek(SeekFrom::Start(off)).map_err(io)?;
        let mut buf = vec![0u8; len as usize];
        data.read_exact(&mut buf).map_err(io)?;
        out.push(buf);
    }
    Ok(out)
}

/// Writes a build of `register` from `(keys, record)` pairs and makes it
/// the current one.
pub fn write_build<T: Serialize>(
    dir: &Path,
    mut meta: Meta,
    records: &[(Vec<String>, T)],
) -> Result<PathBuf, String> {
    let stamp = crate::clock::now().unix_timestamp_nanos();
    let build = dir.join(format!("{}-{stamp}", meta.register));
    let io = |e: std::io::Error| format!("{}: {e}", build.display());
    std::fs::create_dir_all(&build).map_err(io)?;
    let mut keys: Vec<([u8; KEY_LEN], u64, u32)> = Vec::new();
    {
        let f = File::create(build.join("records.jsonl")).map_err(io)?;
        let mut w = BufWriter::new(f);
        let mut off = 0u64;
        for (ks, r) in records {
            let mut line = serde_json::to_vec(r).expect("records serialise");
            let len = line.len() as u32;
            for k in ks {
                if let Some(kb) = key_bytes(k) {
                    keys.push((kb, off, len));
                }
            }
            line.push(b'\n');
            w.write_all(&line).map_err(io)?;
            off += line.len() as u64;
        }
        w.into_inner()
            .map_err(|e| io(e.into_error()))?
            .sync_all()
            .map_err(io)?;
    }
    keys.sort();
    {
        let f = File::create(build.join("keys.idx")).map_err(io)?;
        let mut w = BufWriter::new(f);
        for (k, off, len) in &keys {
            w.write_all(k).map_err(io)?;
            w.write_all(&off.to_le_bytes()).map_err(io)?;
            w.write_all(&len.to_le_bytes()).map_err(io)?;
        }
        w.into_inner()
            .map_err(|e| io(e.into_error()))?
            .sync_all()
            .map_err(io)?;
    }
    meta.records = records.len() as u64;
    std::fs::write(
        build.join("meta.json"),
        serde_json::to_vec_pretty(&meta).expect("meta serialises"),
    )
    .map_err(io)?;
    // Swap the link in one rename; then drop older builds.
    let link = current(dir, &meta.register);
    let tmp = dir.join(format!(".{}.link-{stamp}", meta.register));
    let target = build.file_name().expect("a build has a name");
    std::os::unix::fs::symlink(target, &tmp).map_err(io)?;
    std::fs::rename(&tmp, &link).map_err(io)?;
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if name.starts_with(&format!("{}-", meta.register)) && e.path() != build {
                let _ = std::fs::remove_dir_all(e.path());
            }
        }
    }
    Ok(build)
}

/// What `registers sync` reports as it goes.
pub enum Progress<'a> {
    /// Reading a source file: its name, its number and how many there are.
    File(&'a str, usize, usize),
    /// Documents or rows read so far from the current file.
    Read(usize),
    Done(&'a Meta),
}

fn source_file(name: &str, bytes: &[u8]) -> SourceFile {
    SourceFile {
        name: name.to_owned(),
        bytes: bytes.len() as u64,
        sha256: crate::casefile::sha256_hex(bytes),
    }
}

/// Builds the РНП snapshot from ЕИС's published documents: ZIP archives of
/// `export` XML documents (or single XML documents), in the order given;
/// a later version of a record replaces an earlier one.
pub fn import_eis(
    dir: &Path,
    files: &[(String, Vec<u8>)],
    progress: &mut dyn FnMut(Progress<'_>),
) -> Result<Meta, String> {
    let mut records = Vec::new();
    let mut sources = Vec::new();
    let mut unread = 0usize;
    let mut rejected = Rejected::default();
    let validator = super::schema::eis_validator();
    for (i, (name, bytes)) in files.iter().enumerate() {
        progress(Progress::File(name, i + 1, files.len()));
        sources.push(source_file(name, bytes));
        let mut read = |doc: &[u8], what: &str| -> Result<(), String> {
            let d = crate::xml::parse(doc)
                .map_err(|e| format!("{name}: {what}: not readable XML: {e}"))?;
            if let Some(v) = &validator {
                let wrong = v(&d, d.root());
                if !wrong.is_empty() {
                    rejected.add(format!("{name}: {what}: {}", wrong.join("; ")));
                    return Ok(());
                }
            }
            match super::eis::read_parsed_document(&d)
                .map_err(|e| format!("{name}: {what}: {e}"))?
            {
                super::eis::Published::Record(r) => records.push(r),
                super::eis::Published::Unread(_) => unread += 1,
            }
            Ok(())
        };
        if bytes.starts_with(b"PK") {
            let mut zip = zip::ZipArchive::new(std::io::Cursor::new(bytes.as_slice()))
                .map_err(|e| format!("{name}: not a ZIP archive: {e}"))?;
            if zip.len() > MAX_ENTRIES {
                return Err(format!("{name}: more than {MAX_ENTRIES} entries"));
            }
            for j in 0..zip.len() {
                let f = zip.by_index(j).map_err(|e| format!("{name}: {e}"))?;
                let entry = f.name().map(|n| n.into_owned()).unwrap_or_default();
                if !f.is_file() || !entry.to_ascii_lowercase().ends_with(".xml") {
                    continue;
                }
                if f.size() > super::eis::MAX_DOCUMENT_BYTES as u64 {
                    return Err(format!(
                        "{name}: {entry} is larger than {} bytes",
                        super::eis::MAX_DOCUMENT_BYTES
                    ));
                }
                let mut doc = Vec::new();
                f.take(super::eis::MAX_DOCUMENT_BYTES as u64 + 1)
                    .read_to_end(&mut doc)
                    .map_err(|e| format!("{name}: {entry}: {e}"))?;
                if doc.len() > super::eis::MAX_DOCUMENT_BYTES {
                    return Err(format!(
                        "{name}: {entry} is larger than {} bytes",
                        super::eis::MAX_DOCUMENT_BYTES
                    ));
                }
                read(&doc, &entry)?;
                if (j + 1) % 1000 == 0 {
                    progress(Progress::Read(j + 1));
                }
            }
            progress(Progress::Read(zip.len()));
        } else {
            read(bytes, "document")?;
            progress(Progress::Read(1));
        }
    }
    let records = super::eis::latest_versions(records);
    let data_as_of = records.iter().filter_map(|r| r.published_at.clone()).max();
    let keyed: Vec<(Vec<String>, RnpRecord)> = records
        .into_iter()
        .map(|r| (r.inn.clone().into_iter().collect(), r))
        .collect();
    let meta = Meta {
        register: "eis".into(),
        synced_at: crate::clock::rfc3339(crate::clock::now()),
        data_as_of,
        records: 0,
        sources,
        rejected,
    };
    let build = write_build(dir, meta, &keyed)?;
    let m = read_meta(&build)?;
    if m.rejected.count > 0 {
        tracing::warn!(
            rejected = m.rejected.count,
            first = %m.rejected.first[0],
            "published documents that fail the ЕИС schema were left out of the РНП snapshot"
        );
    }
    if unread > 0 {
        tracing::info!(
            unread,
            "documents of other types were left out of the РНП snapshot"
        );
    }
    progress(Progress::Done(&m));
    Ok(m)
}

fn read_meta(build: &Path) -> Result<Meta, String> {
    let b = std::fs::read(build.join("meta.json")).map_err(|e| e.to_string())?;
    serde_json::from_slice(&b).map_err(|e| e.to_string())
}

/// Column indexes of the export's header row.
struct Columns {
    number: Option<usize>,
    name: usize,
    kind: Option<usize>,
    inn: Option<usize>,
    ogrn: Option<usize>,
    snils: Option<usize>,
    basis: Option<usize>,
    included: Option<usize>,
    excluded: Option<usize>,
}

fn columns(row: &[String]) -> Option<Columns> {
    let h: Vec<String> = row.iter().map(|c| c.to_lowercase()).collect();
    let find = |f: &dyn Fn(&str) -> bool| h.iter().position(|c| f(c));
    let name = find(&|c| c.contains("наименование") && !c.contains("участник"))?;
    Some(Columns {
        number: find(&|c| c.starts_with('№') || c.contains("п/п")),
        name,
        kind: find(&|c| c.contains("вид")),
        inn: find(&|c| c.trim() == "инн"),
        ogrn: find(&|c| c.trim() == "огрн"),
        snils: find(&|c| c.trim() == "снилс"),
        basis: find(&|c| c.contains("основани")),
        included: find(&|c| c.contains("включении")),
        excluded: find(&|c| c.contains("исключении")),
    })
}

fn date_cell(v: &str) -> String {
    if let Some(d) = super::xlsx::serial_date(v) {
        return crate::clock::iso_date(d);
    }
    agents::iso_or_raw(v)
}

/// Builds the foreign-agents snapshot from Минюст's xlsx export;
/// `data_as_of` is the register's `lastModified` when known.
pub fn import_minjust(
    dir: &Path,
    name: &str,
    bytes: &[u8],
    data_as_of: Option<String>,
    progress: &mut dyn FnMut(Progress<'_>),
) -> Result<Meta, String> {
    progress(Progress::File(name, 1, 1));
    let rows = super::xlsx::read_first_sheet(bytes).map_err(|e| format!("{name}: {e}"))?;
    let (start, cols) = rows
        .iter()
        .take(30)
        .enumerate()
        .find_map(|(i, r)| columns(r).filter(|c| c.inn.is_some() || c.snils.is_some()).map(|c| (i, c)))
        .ok_or_else(|| format!("{name}: no header row naming «Полное наименование/ФИО» and «ИНН» in the first 30 rows"))?;
    let cell = |r: &[String], c: Option<usize>| {
        c.and_then(|c| r.get(c))
            .map(|s| s.trim().to_owned())
            .unwrap_or_default()
    };
    let ident = |r: &[String], c: Option<usize>| {
        let d: String = cell(r, c).chars().filter(char::is_ascii_digit).collect();
        (!d.is_empty()).then_some(d)
    };
    let mut records = Vec::new();
    for (i, r) in rows[start + 1..].iter().enumerate() {
        let entry = AgentRecord {
            registry_number: cell(r, cols.number),
            name: cell(r, Some(cols.name)),
            person_kind: cell(r, cols.kind),
            inn: ident(r, cols.inn),
            ogrn: ident(r, cols.ogrn),
            snils: ident(r, cols.snils),
            included_on: date_cell(&cell(r, cols.included)),
            basis: cell(r, cols.basis),
            excluded_on: Some(date_cell(&cell(r, cols.excluded))).filter(|s| !s.is_empty()),
        };
        if entry.name.is_empty() {
            continue;
        }
        records.push((entry.keys(), entry));
        if (i + 1) % 1000 == 0 {
            progress(Progress::Read(i + 1));
        }
    }
    progress(Progress::Read(records.len()));
    let meta = Meta {
        register: "minjust".into(),
        synced_at: crate::clock::rfc3339(crate::clock::now()),
        data_as_of,
        records: 0,
        sources: vec![source_file(name, bytes)],
        rejected: Rejected::default(),
    };
    let build = write_build(dir, meta, &records)?;
    let m = read_meta(&build)?;
    progress(Progress::Done(&m));
    Ok(m)
}

/// Lookups answered from a snapshot.
pub struct SnapshotSource {
    route: Route,
    dir: PathBuf,
    max_age: Duration,
    lookback: u32,
}

impl SnapshotSource {
    pub fn new(route: Route, dir: &Path, max_age: Duration, lookback: u32) -> Self {
        SnapshotSource {
            route,
            dir: dir.to_owned(),
            max_age,
            lookback,
        }
    }

    /// The readiness of this snapshot: its date, or why it is missing or stale.
    pub fn status(&self) -> Result<String, String> {
        let register = register_name(self.route);
        let m = meta(&self.dir, register)?
            .ok_or_else(|| format!("no {register} snapshot: run `mezhved registers sync`"))?;
        let days = age(&m)
            .map(|a| a.as_secs_f64() / 86_400.0)
            .unwrap_or(f64::INFINITY);
        let what = format!(
            "{register} snapshot of {} ({} records, data as of {})",
            m.synced_at,
            m.records,
            m.data_as_of.as_deref().unwrap_or("?")
        );
        if days > self.max_age.as_secs_f64() / 86_400.0 {
            Err(format!(
                "{what} is {days:.1} days old, older than registers.snapshot_max_age_days: run `mezhved registers sync`"
            ))
        } else {
            Ok(what)
        }
    }

    fn answer(&self, q: &Query) -> Result<Exchange, SourceError> {
        let register = register_name(self.route);
        let at = crate::clock::now();
        let m = meta(&self.dir, register)
            .map_err(SourceError::Failed)?
            .ok_or_else(|| {
                SourceError::Failed(format!(
                    "no {register} snapshot: run `mezhved registers sync`"
                ))
            })?;
        let build = std::fs::canonicalize(current(&self.dir, register))
            .map_err(|e| SourceError::Failed(format!("the {register} snapshot: {e}")))?;
        let id = match &q.subject.id {
            SubjectId::Inn(v) => v.to_string(),
            SubjectId::Ogrn(v) => v.to_string(),
            SubjectId::Snils(v) => v.to_string(),
            SubjectId::Ogrnip(v) => v.to_string(),
        };
        let mut lines = find(&build, &id).map_err(SourceError::Failed)?;
        if self.route == Route::MinjustSnapshot
            && let Some(n) = &q.name
        {
            lines.extend(find(&build, &agents::name_key(n)).map_err(SourceError::Failed)?);
        }
        let values: Vec<serde_json::Value> = lines
            .iter()
            .filter_map(|l| serde_json::from_slice(l).ok())
            .collect();
        let mut outcome = match self.route {
            Route::EisSnapshot => {
                let recs: Vec<RnpRecord> = values
                    .iter()
                    .filter_map(|v| serde_json::from_value(v.clone()).ok())
                    .filter(|r: &RnpRecord| match (&q.subject.kpp, &r.kpp) {
                        (Some(k), Some(rk)) => k.as_str() == rk,
                        _ => true,
                    })
                    .collect();
                super::rnp::assess(&recs, q.as_of, self.lookback)
            }
            _ => {
                let recs: Vec<AgentRecord> = values
                    .iter()
                    .filter_map(|v| serde_json::from_value(v.clone()).ok())
                    .collect();
                agents::assess(&recs, &q.subject, q.name.as_deref())
            }
        };
        let stale = age(&m).is_none_or(|a| a > self.max_age);
        let said = format!(
            "answered from the {register} snapshot synced {} (data as of {})",
            m.synced_at,
            m.data_as_of.as_deref().unwrap_or("?")
        );
        outcome = if stale && outcome.verdict == Verdict::NotListed {
            let mut o = Outcome {
                note: Some(format!(
                    "{said}, older than registers.snapshot_max_age_days: a snapshot that old does not establish that the subject is not in the register"
                )),
                ..outcome
            };
            o.verdict = Verdict::Unknown;
            o
        } else {
            let note = match &outcome.note {
                Some(n) => format!("{n}; {said}"),
                None => said,
            };
            outcome.with_note(note)
        };
        let url = format!("file://{}", build.display());
        let register_date = m.data_as_of.clone().or_else(|| Some(m.synced_at.clone()));
        outcome.source = Some(Box::new(SourceRef {
            register: self.route.as_str().into(),
            url: url.clone(),
            as_of: register_date.clone(),
        }));
        let evidence = serde_json::to_vec_pretty(&serde_json::json!({
            "snapshot": m,
            "searched": [id],
            "records": values,
        }))
        .expect("evidence serialises");
        Ok(Exchange {
            route: self.route,
            url,
            at,
            register_date,
            documents: vec![(super::SNAPSHOT_JSON, evidence)],
            outcome,
        })
    }
}

impl RegisterSource for SnapshotSource {
    fn route(&self) -> Route {
        self.route
    }

    fn lookup<'a>(
        &'a self,
        q: &'a Query,
        _wait: bool,
    ) -> BoxFuture<'a, Result<Exchange, SourceError>> {
        Box::pin(async move {
            let q = q.clone();
            let me = SnapshotSource {
                route: self.route,
                dir: self.dir.clone(),
                max_age: self.max_age,
                lookback: self.lookback,
            };
            tokio::task::spawn_blocking(move || me.answer(&q))
                .await
                .unwrap_or_else(|e| Err(SourceError::Failed(format!("snapshot lookup: {e}"))))
        })
    }

    fn breaker(&self) -> Option<&crate::provider::Breaker> {
        None
    }

    fn snapshot_status(&self) -> Option<Result<String, String>> {
        Some(self.status())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_published_document_that_fails_the_schema_is_left_out_and_counted() {
        let dir = tempfile::tempdir().unwrap();
        // Well-formed, in ЕИС's export namespace, but not an export document.
        let bad = format!(
            r#"<export xmlns="{}"><unknownDocument/></export>"#,
            super::super::eis::EXPORT_NS
        );
        let m = import_eis(
            dir.path(),
            &[("broken.xml".into(), bad.into_bytes())],
            &mut |_| {},
        )
        .unwrap();
        assert_eq!(m.records, 0);
        assert_eq!(m.rejected.count, 1);
        assert!(
            m.rejected.first[0].starts_with("broken.xml: document: "),
            "{:?}",
            m.rejected
        );
    }

    #[test]
    fn a_build_answers_each_key_with_its_records_only() {
        let dir = tempfile::tempdir().unwrap();
        let recs: Vec<(Vec<String>, serde_json::Value)> = (0..500)
            .map(|i| {
                (
                    vec![format!("{:010}", i * 7)],
                    serde_json::json!({ "n": i }),
                )
            })
            .chain([(
                vec!["0000000007".to_owned()],
                serde_json::json!({ "n": "second" }),
            )])
            .collect();
        let meta = Meta {
            register: "eis".into(),
            synced_at: crate::clock::rfc3339(crate::clock::now()),
            data_as_of: None,
            records: 0,
            sources: vec![],
            rejected: Rejected::default(),
        };
        write_build(dir.path(), meta.clone(), &recs).unwrap();
        let build = current(dir.path(), "eis");
        let got = find(&build, "0000000007").unwrap();
        assert_eq!(got.len(), 2);
        assert_eq!(
            find(&build, "0000003493").unwrap(),
            vec![br#"{"n":499}"#.to_vec()]
        );
        assert!(find(&build, "0000000008").unwrap().is_empty());
        assert!(find(&build, "9999999999").unwrap().is_empty());
        // A second build replaces the first; the old one is removed.
        write_build(dir.path(), meta, &recs[..1]).unwrap();
        assert!(
            find(&current(dir.path(), "eis"), "0000000007")
                .unwrap()
                .is_empty()
        );
        let builds = std::fs::read_dir(dir.path())
            .unwrap()
            .filter(|e| {
                e.as_ref()
                    .unwrap()
                    .file_name()
                    .to_string_lossy()
                    .starts_with("eis-")
            })
            .count();
        assert_eq!(builds, 1);
    }
}
