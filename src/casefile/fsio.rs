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

/// Creates `path` with `data` only if it does not exist yet. Returns false
/// when it already existed (someone else claimed it). The file appears
/// whole or not at all (written aside, then hard-linked into place, which
/// fails if the name is taken), so a crash never leaves an empty claim.
pub fn create_exclusive(path: &Path, data: &[u8]) -> std::io::Result<bool> {
    let dir = path.parent().expect("claim files live in a directory");
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("claim");
    let tmp = dir.join(format!(".{name}.tmp-{}", fastrand::u64(..)));
    let result = (|| {
        let mut f = OpenOptions::new().write(true).create_new(true).open(&tmp)?;
        f.write_all(data)?;
        f.sync_all()?;
        match std::fs::hard_link(&tmp, path) {
            Ok(()) => {
                sync_dir(dir)?;
                Ok(true)
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(false),
            Err(e) => Err(e),
        }
    })();
    let _ = std::fs::remove_file(&tmp);
    result
}

/// Lower-case hex SHA-256.
pub fn sha256_hex(data: &[u8]) -> String {
    let digest = openssl::sha::sha256(data);
    let mut s = String::with_capacity(64);
    for b in digest {
        s.push_str(&format!("{b:02x}"));
    }
    s
}
