//! Bounded unpacking of ZIP attachments (ФНС's `КодОбр` 54 extracts):
//! limits on the number of entries, on each entry's and the total
//! unpacked size, and on the compression ratio (declared sizes are not
//! trusted: bytes are counted as they come out); no entry may name a path
//! outside its folder, and links and special files are refused. Unpacking
//! goes into a folder that did not exist before; on any refusal that folder
//! is removed again, so nothing of a refused archive stays on disk.

use std::io::{Read, Write};
use std::path::{Component, Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::AttachmentError;
use super::digest::DigestWriter;

/// Limits on what an archive may unpack to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ZipLimits {
    pub max_entries: usize,
    pub max_entry_bytes: u64,
    pub max_total_bytes: u64,
    /// Unpacked bytes per compressed byte, checked once an entry passes
    /// `ratio_floor_bytes`.
    pub max_ratio: u64,
    pub ratio_floor_bytes: u64,
}

impl Default for ZipLimits {
    fn default() -> Self {
        ZipLimits {
            max_entries: 1000,
            max_entry_bytes: 256 * 1024 * 1024,
            max_total_bytes: 512 * 1024 * 1024,
            max_ratio: 200,
            ratio_floor_bytes: 1024 * 1024,
        }
    }
}

/// One unpacked file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnpackedEntry {
    /// Relative to the unpack folder, `/`-separated.
    pub name: String,
    pub path: PathBuf,
    pub size: u64,
    pub sha256: String,
}

fn refuse(msg: impl Into<String>) -> AttachmentError {
    AttachmentError::Zip(msg.into())
}

/// The components of an entry's name, when it stays inside its folder.
fn safe_components(name: &str) -> Result<Vec<String>, AttachmentError> {
    if name.contains('\0') || name.chars().any(char::is_control) {
        return Err(refuse(format!(
            "ZIP entry {name:?} has a control character in its name"
        )));
    }
    let unified = name.replace('\\', "/");
    if unified.starts_with('/') || unified.contains(':') {
        return Err(refuse(format!(
            "ZIP entry {name:?} names an absolute path, outside its folder"
        )));
    }
    let mut parts = Vec::new();
    for part in unified.split('/') {
        match part {
            "" | "." => continue,
            ".." => {
                return Err(refuse(format!(
                    "ZIP entry {name:?} names a path outside its folder"
                )));
            }
            p => {
                if p.len() > 200 {
                    return Err(refuse(format!("ZIP entry {name:?} has too long a name")));
                }
                parts.push(p.to_string());
            }
        }
    }
    if parts.is_empty() {
        return Err(refuse(format!("ZIP entry {name:?} has an empty name")));
    }
    // Second opinion from the path parser itself.
    let joined: PathBuf = parts.iter().collect();
    if !joined
        .components()
        .all(|c| matches!(c, Component::Normal(_)))
    {
        return Err(refuse(format!(
            "ZIP entry {name:?} names a path outside its folder"
        )));
    }
    Ok(parts)
}

/// Unpacks the archive at `zip_path` into `dest`, which must not exist.
pub fn unpack(
    zip_path: &Path,
    dest: &Path,
    limits: ZipLimits,
) -> Result<Vec<UnpackedEntry>, AttachmentError> {
    std::fs::create_dir(dest).map_err(|e| AttachmentError::io(dest, e))?;
    match unpack_into(zip_path, dest, limits) {
        Ok(v) => Ok(v),
        Err(e) => {
            let _ = std::fs::remove_dir_all(dest);
            Err(e)
        }
    }
}

fn unpack_into(
    zip_path: &Path,
    dest: &Path,
    limits: ZipLimits,
) -> Result<Vec<UnpackedEntry>, AttachmentError> {
    let file = std::fs::File::open(zip_path).map_err(|e| AttachmentError::io(zip_path, e))?;
    let mut archive = ::zip::ZipArchive::new(std::io::BufReader::new(file)).map_err(|e| {
        refuse(format!(
            "the attachment is not a readable ZIP archive ({e})"
        ))
    })?;
    if archive.len() > limits.max_entries {
        return Err(refuse(format!(
            "the ZIP archive has {} entries, more than the limit of {}",
            archive.len(),
            limits.max_entries
        )));
    }
    let mut out = Vec::new();
    let mut total: u64 = 0;
    for i in 0..archive.len() {
        let mut entry = archive
            .by_index(i)
            .map_err(|e| refuse(format!("ZIP entry {i} cannot be read ({e})")))?;
        let name = entry
            .name()
            .map(|n| n.into_owned())
            .map_err(|e| refuse(format!("ZIP entry {i} has an unreadable name ({e})")))?;
        let parts = safe_components(&name)?;
        if entry.enclosed_name().is_none() {
            return Err(refuse(format!(
                "ZIP entry {name:?} names a path outside its folder"
            )));
        }
        if entry.is_symlink() {
            return Err(refuse(format!("ZIP entry {name:?} is a symbolic link")));
        }
        if let Some(mode) = entry.unix_mode() {
            let kind = mode & 0o170000;
            if kind != 0 && kind != 0o100000 && kind != 0o040000 {
                return Err(refuse(format!(
                    "ZIP entry {name:?} is not a regular file or folder"
                )));
            }
        }
        let target: PathBuf = parts.iter().fold(dest.to_path_buf(), |p, c| p.join(c));
        if entry.is_dir() {
            std::fs::create_dir_all(&target).map_err(|e| AttachmentError::io(&target, e))?;
            continue;
        }
        if entry.size() > limits.max_entry_bytes {
            return Err(refuse(format!(
                "ZIP entry {name:?} would unpack to {} bytes, more than the limit of {}",
                entry.size(),
                limits.max_entry_bytes
            )));
        }
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent).map_err(|e| AttachmentError::io(parent, e))?;
        }
        let f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&target)
            .map_err(|e| AttachmentError::io(&target, e))?;
        let compressed = entry.compressed_size().max(1);
        let mut w = DigestWriter::new(std::io::BufWriter::new(f))?;
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = match entry.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) => {
                    return Err(refuse(format!(
                        "ZIP entry {name:?} cannot be unpacked ({e})"
                    )));
                }
            };
            let written = w.written() + n as u64;
            if written > limits.max_entry_bytes {
                return Err(refuse(format!(
                    "ZIP entry {name:?} unpacks to more than the limit of {} bytes",
                    limits.max_entry_bytes
                )));
            }
            if total + written > limits.max_total_bytes {
                return Err(refuse(format!(
                    "the ZIP archive unpacks to more than the limit of {} bytes",
                    limits.max_total_bytes
                )));
            }
            if written > limits.ratio_floor_bytes && written / compressed > limits.max_ratio {
                return Err(refuse(format!(
                    "ZIP entry {name:?} expands more than {}:1 (a ZIP bomb)",
                    limits.max_ratio
                )));
            }
            w.write_all(&buf[..n])
                .map_err(|e| AttachmentError::io(&target, e))?;
        }
        let (bw, digests) = w.finish()?;
        let f = bw
            .into_inner()
            .map_err(|e| AttachmentError::io(&target, e.into_error()))?;
        f.sync_all().map_err(|e| AttachmentError::io(&target, e))?;
        total += digests.size;
        out.push(UnpackedEntry {
            name: parts.join("/"),
            path: target,
            size: digests.size,
            sha256: digests.sha256_hex(),
        });
    }
    Ok(out)
}

/// A ZIP archive (deflated) of the given files, in memory: the emulator's
/// extracts and tests.
pub fn pack(entries: &[(&str, &[u8])]) -> Result<Vec<u8>, AttachmentError> {
    pack_with_stored(entries, &[])
}

/// As [`pack`], then `stored` entries kept uncompressed.
pub fn pack_with_stored(
    entries: &[(&str, &[u8])],
    stored: &[(&str, &[u8])],
) -> Result<Vec<u8>, AttachmentError> {
    use ::zip::write::SimpleFileOptions;
    let mut w = ::zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let deflated =
        SimpleFileOptions::default().compression_method(::zip::CompressionMethod::Deflated);
    let plain = SimpleFileOptions::default()
        .compression_method(::zip::CompressionMethod::Stored)
        .large_file(true);
    let all = entries
        .iter()
        .map(|e| (e, deflated))
        .chain(stored.iter().map(|e| (e, plain)));
    for ((name, data), opts) in all {
        w.start_file(*name, opts)
            .map_err(|e| refuse(e.to_string()))?;
        w.write_all(data).map_err(|e| refuse(e.to_string()))?;
    }
    Ok(w.finish().map_err(|e| refuse(e.to_string()))?.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write_zip(dir: &Path, entries: &[(&str, &[u8])]) -> PathBuf {
        let p = dir.join("a.zip");
        std::fs::write(&p, pack(entries).unwrap()).unwrap();
        p
    }

    fn listing(dir: &Path) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }

    #[test]
    fn unpacks_files_and_folders() {
        let dir = tempfile::tempdir().unwrap();
        let z = write_zip(dir.path(), &[("ex.xml", b"<a/>"), ("docs/x.pdf", b"%PDF")]);
        let got = unpack(&z, &dir.path().join("out"), ZipLimits::default()).unwrap();
        assert_eq!(got.len(), 2);
        assert_eq!(got[1].name, "docs/x.pdf");
        assert_eq!(std::fs::read(&got[1].path).unwrap(), b"%PDF");
    }

    #[test]
    fn escaping_names_are_refused_and_nothing_stays() {
        for bad in [
            "../evil.xml",
            "a/../../evil.xml",
            "/etc/evil",
            "C:/evil",
            "..\\evil",
        ] {
            let dir = tempfile::tempdir().unwrap();
            let z = write_zip(dir.path(), &[("ok.xml", b"<a/>"), (bad, b"x")]);
            let err = unpack(&z, &dir.path().join("out"), ZipLimits::default()).unwrap_err();
            assert!(
                err.to_string().contains("outside its folder"),
                "{bad}: {err}"
            );
            assert_eq!(listing(dir.path()), vec!["a.zip"], "{bad}");
            assert!(!dir.path().parent().unwrap().join("evil.xml").exists());
        }
    }

    #[test]
    fn a_zip_bomb_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let zeros = vec![0u8; 20 * 1024 * 1024];
        let z = write_zip(dir.path(), &[("bomb.xml", &zeros)]);
        assert!(std::fs::metadata(&z).unwrap().len() < 100_000);
        let err = unpack(&z, &dir.path().join("out"), ZipLimits::default()).unwrap_err();
        assert!(err.to_string().contains("ZIP bomb"), "{err}");
        assert_eq!(listing(dir.path()), vec!["a.zip"]);
    }

    #[test]
    fn entry_count_and_sizes_are_bounded() {
        let dir = tempfile::tempdir().unwrap();
        let z = write_zip(dir.path(), &[("a", b"1"), ("b", b"2"), ("c", b"3")]);
        let l = ZipLimits {
            max_entries: 2,
            ..ZipLimits::default()
        };
        let err = unpack(&z, &dir.path().join("out"), l).unwrap_err();
        assert!(err.to_string().contains("3 entries"), "{err}");
        let l = ZipLimits {
            max_total_bytes: 2,
            ..ZipLimits::default()
        };
        let err = unpack(&z, &dir.path().join("out"), l).unwrap_err();
        assert!(err.to_string().contains("limit of 2 bytes"), "{err}");
        assert!(!dir.path().join("out").exists());
    }

    #[test]
    fn symlinks_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let mut w = ::zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
        w.add_symlink(
            "link",
            "/etc/passwd",
            ::zip::write::SimpleFileOptions::default(),
        )
        .unwrap();
        let p = dir.path().join("a.zip");
        std::fs::write(&p, w.finish().unwrap().into_inner()).unwrap();
        let err = unpack(&p, &dir.path().join("out"), ZipLimits::default()).unwrap_err();
        assert!(err.to_string().contains("symbolic link"), "{err}");
    }

    #[test]
    fn not_a_zip_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.zip");
        std::fs::write(&p, b"not a zip").unwrap();
        let err = unpack(&p, &dir.path().join("out"), ZipLimits::default()).unwrap_err();
        assert!(err.to_string().contains("not a readable ZIP"), "{err}");
    }
}
