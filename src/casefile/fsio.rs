//! Durable file operations: a file is either absent or complete, and once a
//! call returns its content survives a crash.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::Path;

/// Writes `data` to `dir/name` atomically: a temporary file is written and
/// synced, renamed over the target, and the directory is synced.
pub fn atomic_write(dir: &Path, name: &str, data: &[u8]) -> std::io::Result<()> {
    let tmp = dir.join(format!(".{name}.tmp-{}", fastrand::u64(..)));
    let result = (|| {
        let mut f = File::create(&tmp)?;
        f.write_all(data)?;
        f.sync_all()?;
        std::fs::rename(&tmp, dir.join(name))?;
        sync_dir(dir)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// Makes a directory's entries (creations, renames) durable.
pub fn sync_dir(dir: &Path) -> std::io::Result<()> {
    File::open(dir)?.sync_all()
}

/// Creates `dir` and any missing parents, syncing each new entry.
pub fn create_dir_durable(dir: &Path) -> std::io::Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    if let Some(parent) = dir.parent() {
        create_dir_durable(parent)?;
    }
    match std::fs::create_dir(dir) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => return Ok(()),
        Err(e) => return Err(e),
    }
    if let Some(parent) = dir.parent() {
        sync_dir(parent)?;
    }
    Ok(())
}

/// Lower-case hex SHA-256.
pub fn sha256_hex(data: &[u8]) -> String {
    hex(&openssl::sha::sha256(data))
}

/// Lowercase hex. By table: the store names every document and journal
/// line by a digest, several per change, and formatting byte by byte
/// through `format!` cost more than the hashing of short lines.
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(DIGITS[usize::from(b >> 4)] as char);
        s.push(DIGITS[usize::from(b & 0xf)] as char);
    }
    s
}

/// Writes a document that is written once: created and written in place
/// (no temporary name, so no inode is freed), made durable by the next
/// group flush (see `groupsync`), which the caller waits for before any
/// record names it. A document that already exists (written again after a
/// crash, an envelope signed again) is replaced atomically and synced.
pub fn write_document(dir: &Path, name: &str, data: &[u8]) -> std::io::Result<()> {
    let path = dir.join(name);
    match OpenOptions::new().write(true).create_new(true).open(&path) {
        Ok(mut f) => f.write_all(data).inspect_err(|_| {
            // A document is whole or absent: never left half-written (a
            // full disk) to look like one.
            drop(f);
            let _ = std::fs::remove_file(&path);
        }),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => atomic_write(dir, name, data),
        Err(e) => Err(e),
    }
}

/// Writes `size` bytes to a new file under `dir`, syncs and removes it:
/// whether the file system takes a document-sized write now (a probe of a
/// store that was full).
pub fn probe_space(dir: &Path, size: usize) -> std::io::Result<()> {
    let path = dir.join(format!(".probe-space-{}", fastrand::u64(..)));
    let result = (|| {
        let mut f = File::create(&path)?;
        f.write_all(&vec![0u8; size])?;
        f.sync_all()
    })();
    let _ = std::fs::remove_file(&path);
    result
}

/// Makes `path` a symbolic link to `target` unless the name is taken; true
/// when it was made. A link appears whole or not at all; it is durable
/// after the next group flush.
pub fn symlink_exclusive(target: &str, path: &Path) -> std::io::Result<bool> {
    match std::os::unix::fs::symlink(target, path) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(false),
        Err(e) => Err(e),
    }
}

/// What an index entry points to: a link's target, or (entries written by
/// earlier versions) a file's content. `None` when there is no entry.
pub fn read_pointer(path: &Path) -> std::io::Result<Option<String>> {
    match std::fs::read_link(path) {
        Ok(t) => Ok(Some(t.to_string_lossy().into_owned())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) if e.kind() == std::io::ErrorKind::InvalidInput => {
            std::fs::read_to_string(path).map(Some)
        }
        Err(e) => Err(e),
    }
}

/// Creates an empty marker file if it is not there (durable after the
/// next group flush).
pub fn create_marker(path: &Path) -> std::io::Result<()> {
    match OpenOptions::new().write(true).create_new(true).open(path) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(e),
    }
}

/// Moves `from` to `to` (absent is fine: moved before); durable after the
/// next group flush.
pub fn move_entry(from: &Path, to: &Path) -> std::io::Result<()> {
    match std::fs::rename(from, to) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
}

/// Overwrites a file's content in place, creating it the first time; not
/// synced: for copies whose truth is kept elsewhere (`state.json`).
pub fn rewrite_in_place(path: &Path, data: &[u8]) -> std::io::Result<()> {
    let mut f = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)?;
    f.write_all(data)?;
    f.set_len(data.len() as u64)
}
