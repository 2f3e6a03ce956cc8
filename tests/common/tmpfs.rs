//! A small tmpfs to fill up: disk-full tests never touch the real disk.
//! Mounting needs root (CI runs as root); without it the tests skip,
//! unless `MEZHVED_REQUIRE_MOUNT=1` (as in CI) makes them fail.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

/// A mounted tmpfs, unmounted when dropped (drop it after the processes
/// that use it).
pub struct Tmpfs {
    pub path: PathBuf,
    _dir: tempfile::TempDir,
}

impl Tmpfs {
    /// Mounts a tmpfs of `size_mib` MiB, or says why not and returns
    /// `None` (a test then skips).
    pub fn mount_or_skip(test: &str, size_mib: u32) -> Option<Tmpfs> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("volume");
        std::fs::create_dir(&path).unwrap();
        let out = Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={size_mib}m,mode=0755"),
                "tmpfs",
            ])
            .arg(&path)
            .output();
        let ok = out.as_ref().is_ok_and(|o| o.status.success());
        if !ok {
            let why = match out {
                Ok(o) => String::from_utf8_lossy(&o.stderr).trim().to_owned(),
                Err(e) => e.to_string(),
            };
            assert!(
                std::env::var("MEZHVED_REQUIRE_MOUNT").as_deref() != Ok("1"),
                "{test}: cannot mount a tmpfs ({why}) and MEZHVED_REQUIRE_MOUNT=1"
            );
            eprintln!("{test}: skipped, cannot mount a tmpfs (needs root): {why}");
            return None;
        }
        Some(Tmpfs { path, _dir: dir })
    }

    /// Fills the file system to the last byte with one file.
    pub fn fill(&self) -> Filler {
        let path = self.path.join("filler");
        let mut f = std::fs::File::create(&path).unwrap();
        for chunk in [1 << 20, 4096, 1] {
            let buf = vec![0xAAu8; chunk];
            while f.write_all(&buf).is_ok() {}
        }
        let _ = f.sync_all();
        Filler(path)
    }

    /// Free bytes, by `statvfs`.
    pub fn free_bytes(&self) -> u64 {
        free_bytes(&self.path)
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        // Lazy: a process still holding a file in it does not leave the
        // mount behind.
        let _ = Command::new("umount").arg("-l").arg(&self.path).status();
    }
}

/// The file that fills a [`Tmpfs`]; removing it gives the space back.
pub struct Filler(PathBuf);

impl Filler {
    pub fn remove(self) {
        std::fs::remove_file(&self.0).unwrap();
    }
}

fn free_bytes(p: &Path) -> u64 {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(p.as_os_str().as_bytes()).unwrap();
    let mut s: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: `c` is a valid NUL-terminated path and `s` a valid out-pointer.
    let rc = unsafe { libc::statvfs(c.as_ptr(), &mut s) };
    assert_eq!(rc, 0, "statvfs {}", p.display());
    s.f_bavail as u64 * s.f_frsize as u64
}
