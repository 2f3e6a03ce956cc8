//! Streaming digests of attachment contents: SHA-256 and GOST R 34.11-2012
//! (256 bits, "Стрибог"), as SMEV's `RefAttachmentHeader/Hash` carries it:
//! base64 of the digest bytes exactly as OpenSSL's `md_gost12_256` of the
//! `gost` engine produces them (`openssl dgst -engine gost -md_gost12_256
//! -binary file | base64`).

use std::io::{self, Read, Write};
use std::path::Path;

use base64::Engine as _;
use openssl::hash::{Hasher, MessageDigest};

use super::AttachmentError;
use crate::xmldsig::gost;

/// The digests of one file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Digests {
    pub size: u64,
    pub sha256: [u8; 32],
    /// `None` when the GOST engine is unavailable on this machine.
    pub gost: Option<Vec<u8>>,
}

impl Digests {
    pub fn sha256_hex(&self) -> String {
        hex(&self.sha256)
    }

    pub fn sha256_base64(&self) -> String {
        base64::engine::general_purpose::STANDARD.encode(self.sha256)
    }

    /// Base64 of the GOST digest, as SMEV's `Hash`.
    pub fn gost_base64(&self) -> Option<String> {
        self.gost
            .as_ref()
            .map(|g| base64::engine::general_purpose::STANDARD.encode(g))
    }

    /// Compares `expected` (base64, as a header carries it) with the GOST
    /// digest, or with SHA-256 when `sha256` is set. Whitespace in the
    /// header is ignored.
    pub fn check(&self, expected: &str, sha256: bool) -> Result<(), String> {
        let cleaned: String = expected.chars().filter(|c| !c.is_whitespace()).collect();
        let want = base64::engine::general_purpose::STANDARD
            .decode(cleaned.as_bytes())
            .map_err(|_| "the header's hash is not base64".to_string())?;
        let (have, alg): (&[u8], &str) = if sha256 {
            (&self.sha256, "SHA-256")
        } else {
            match &self.gost {
                Some(g) => (g, "GOST R 34.11-2012"),
                None => {
                    return Err(format!(
                        "GOST R 34.11-2012 is unavailable to check the hash; {}",
                        gost::INSTALL_HINT
                    ));
                }
            }
        };
        if have == want.as_slice() {
            Ok(())
        } else {
            Err(format!(
                "the {alg} hash of the file does not match its header (header {cleaned}, file {})",
                base64::engine::general_purpose::STANDARD.encode(have)
            ))
        }
    }
}

pub use crate::casefile::fsio::hex;

/// The GOST R 34.11-2012 (256) digest, when the engine provides it.
pub fn gost_digest() -> Option<MessageDigest> {
    if gost::require_engine().is_err() {
        return None;
    }
    MessageDigest::from_name("md_gost12_256")
}

/// Both digests, fed as data passes.
pub struct Digester {
    sha: Hasher,
    gost: Option<Hasher>,
    size: u64,
}

impl std::fmt::Debug for Digester {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Digester")
            .field("size", &self.size)
            .finish()
    }
}

impl Digester {
    pub fn new() -> Result<Self, AttachmentError> {
        let crypto = |e: openssl::error::ErrorStack| AttachmentError::Crypto(e.to_string());
        let sha = Hasher::new(MessageDigest::sha256()).map_err(crypto)?;
        let gost = match gost_digest() {
            Some(md) => Some(Hasher::new(md).map_err(crypto)?),
            None => None,
        };
        Ok(Digester { sha, gost, size: 0 })
    }

    pub fn update(&mut self, data: &[u8]) -> Result<(), AttachmentError> {
        let crypto = |e: openssl::error::ErrorStack| AttachmentError::Crypto(e.to_string());
        self.sha.update(data).map_err(crypto)?;
        if let Some(g) = self.gost.as_mut() {
            g.update(data).map_err(crypto)?;
        }
        self.size += data.len() as u64;
        Ok(())
    }

    pub fn size(&self) -> u64 {
        self.size
    }

    pub fn finish(mut self) -> Result<Digests, AttachmentError> {
        let crypto = |e: openssl::error::ErrorStack| AttachmentError::Crypto(e.to_string());
        let sha = self.sha.finish().map_err(crypto)?;
        let mut sha256 = [0u8; 32];
        sha256.copy_from_slice(&sha);
        let gost = match self.gost.as_mut() {
            Some(g) => Some(g.finish().map_err(crypto)?.to_vec()),
            None => None,
        };
        Ok(Digests {
            size: self.size,
            sha256,
            gost,
        })
    }
}

/// A writer that digests what passes through it.
pub struct DigestWriter<W> {
    inner: W,
    digester: Digester,
}

impl<W: Write> DigestWriter<W> {
    pub fn new(inner: W) -> Result<Self, AttachmentError> {
        Ok(DigestWriter {
            inner,
            digester: Digester::new()?,
        })
    }

    pub fn written(&self) -> u64 {
        self.digester.size()
    }

    pub fn finish(self) -> Result<(W, Digests), AttachmentError> {
        Ok((self.inner, self.digester.finish()?))
    }
}

impl<W: Write> Write for DigestWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.digester
            .update(&buf[..n])
            .map_err(|e| io::Error::other(e.to_string()))?;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// Digests a file, reading it in 64 KiB blocks.
pub fn digest_file(path: &Path) -> Result<Digests, AttachmentError> {
    let mut f = std::fs::File::open(path).map_err(|e| AttachmentError::io(path, e))?;
    digest_reader(&mut f).map_err(|e| match e {
        AttachmentError::Io { source, .. } => AttachmentError::io(path, source),
        other => other,
    })
}

/// Digests everything `r` yields.
pub fn digest_reader(r: &mut dyn Read) -> Result<Digests, AttachmentError> {
    let mut d = Digester::new()?;
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = match r.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(AttachmentError::io(Path::new("<stream>"), e)),
        };
        d.update(&buf[..n])?;
    }
    d.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha256_of_a_known_string() {
        let d = digest_reader(&mut &b"abc"[..]).unwrap();
        assert_eq!(
            d.sha256_hex(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(d.size, 3);
        assert!(d.check(&d.sha256_base64(), true).is_ok());
        assert!(d.check("AAAA", true).is_err());
    }

    #[test]
    fn gost_matches_the_standard_example() {
        if !gost::available() {
            eprintln!("skipped: no GOST engine");
            return;
        }
        // GOST R 34.11-2012, example 1 (M1, 63 bytes), 256-bit hash, as
        // `openssl dgst -engine gost -md_gost12_256` prints it.
        let m1 = b"012345678901234567890123456789012345678901234567890123456789012";
        let d = digest_reader(&mut &m1[..]).unwrap();
        let want = [
            0x9du8, 0x15, 0x1e, 0xef, 0xd8, 0x59, 0x0b, 0x89, 0xda, 0xa6, 0xba, 0x6c, 0xb7, 0x4a,
            0xf9, 0x27, 0x5d, 0xd0, 0x51, 0x02, 0x6b, 0xb1, 0x49, 0xa4, 0x52, 0xfd, 0x84, 0xe5,
            0xe5, 0x7b, 0x55, 0x00,
        ];
        assert_eq!(hex(d.gost.as_ref().unwrap()), hex(&want));
    }

    #[test]
    fn the_writer_digests_what_it_writes() {
        let mut w = DigestWriter::new(Vec::new()).unwrap();
        w.write_all(b"hello ").unwrap();
        w.write_all(b"world").unwrap();
        let (out, d) = w.finish().unwrap();
        assert_eq!(out, b"hello world");
        assert_eq!(d, digest_reader(&mut &b"hello world"[..]).unwrap());
    }
}
