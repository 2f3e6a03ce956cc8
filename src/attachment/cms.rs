//! Detached PKCS#7/CMS signatures of attachments (`SignaturePKCS7`): signing
//! with the official's key (ЭП-СП, GOST R 34.10-2012 through the OpenSSL
//! `gost` engine) and verifying against the trust store. The file is read
//! through an OpenSSL file BIO, never whole into memory.
//!
//! The `openssl` crate's CMS functions take the content as a byte slice;
//! the few libcrypto calls that take a BIO instead are declared here.

use std::ffi::{CString, c_char, c_int, c_void};
use std::path::Path;

use base64::Engine as _;
use foreign_types::{ForeignType, ForeignTypeRef};
use openssl::cms::CmsContentInfo;
use openssl::x509::{X509, X509Ref};
use time::OffsetDateTime;

use super::{AttachmentError, SignatureCheck};
use crate::xmldsig::{SigningKey, TrustStore, Validity, gost, subject_of};

unsafe extern "C" {
    fn BIO_new_file(filename: *const c_char, mode: *const c_char) -> *mut openssl_sys::BIO;
    fn CMS_get0_signers(cms: *mut openssl_sys::CMS_ContentInfo) -> *mut c_void;
    fn CMS_get1_certs(cms: *mut openssl_sys::CMS_ContentInfo) -> *mut c_void;
    fn OPENSSL_sk_num(st: *const c_void) -> c_int;
    fn OPENSSL_sk_value(st: *const c_void, i: c_int) -> *mut c_void;
    fn OPENSSL_sk_free(st: *mut c_void);
    fn OPENSSL_sk_pop_free(st: *mut c_void, free: unsafe extern "C" fn(*mut c_void));
    fn X509_free(x: *mut c_void);
}

/// An owned BIO.
struct Bio(*mut openssl_sys::BIO);

impl Bio {
    fn file(path: &Path) -> Result<Bio, AttachmentError> {
        let c = CString::new(path.as_os_str().as_encoded_bytes())
            .map_err(|_| AttachmentError::Crypto("a path with a NUL byte".into()))?;
        let mode = CString::new("rb").expect("static string");
        let b = unsafe { BIO_new_file(c.as_ptr(), mode.as_ptr()) };
        if b.is_null() {
            let _ = openssl::error::ErrorStack::get();
            let e = std::fs::File::open(path)
                .err()
                .unwrap_or_else(|| std::io::Error::other("cannot be opened by OpenSSL"));
            return Err(AttachmentError::io(path, e));
        }
        Ok(Bio(b))
    }

    fn memory(data: &[u8]) -> Result<Bio, AttachmentError> {
        let len = c_int::try_from(data.len())
            .map_err(|_| AttachmentError::Crypto("data too large for a memory BIO".into()))?;
        let b = unsafe { openssl_sys::BIO_new_mem_buf(data.as_ptr().cast(), len) };
        if b.is_null() {
            return Err(crypto_error("BIO_new_mem_buf"));
        }
        Ok(Bio(b))
    }
}

impl Drop for Bio {
    fn drop(&mut self) {
        unsafe { openssl_sys::BIO_free_all(self.0) };
    }
}

fn crypto_error(what: &str) -> AttachmentError {
    let stack = openssl::error::ErrorStack::get();
    AttachmentError::Crypto(format!("{what}: {stack}"))
}

const SIGN_FLAGS: u32 = openssl_sys::CMS_DETACHED | openssl_sys::CMS_BINARY;

fn sign_bio(key: &SigningKey, bio: &Bio) -> Result<Vec<u8>, AttachmentError> {
    if key.algorithm().is_gost() {
        gost::require_engine().map_err(|e| AttachmentError::Crypto(e.to_string()))?;
    }
    let cms = unsafe {
        openssl_sys::CMS_sign(
            key.certificate().as_ptr(),
            key.private_key().as_ptr(),
            std::ptr::null_mut(),
            bio.0,
            SIGN_FLAGS,
        )
    };
    if cms.is_null() {
        return Err(crypto_error("CMS_sign"));
    }
    let cms = unsafe { CmsContentInfo::from_ptr(cms) };
    cms.to_der()
        .map_err(|e| AttachmentError::Crypto(e.to_string()))
}

/// A detached CMS signature (DER) of the file at `path` by `key`, its
/// certificate included.
pub fn sign_file(key: &SigningKey, path: &Path) -> Result<Vec<u8>, AttachmentError> {
    let bio = Bio::file(path)?;
    sign_bio(key, &bio)
}

/// A detached CMS signature (DER) of `data`.
pub fn sign_bytes(key: &SigningKey, data: &[u8]) -> Result<Vec<u8>, AttachmentError> {
    let bio = Bio::memory(data)?;
    sign_bio(key, &bio)
}

/// The DER of a `SignaturePKCS7` element's text: base64 (whitespace
/// ignored) or PEM.
pub fn decode_signature(text: &str) -> Result<Vec<u8>, String> {
    let body: String = text
        .lines()
        .filter(|l| !l.trim_start().starts_with("-----"))
        .flat_map(|l| l.chars())
        .filter(|c| !c.is_whitespace())
        .collect();
    if body.is_empty() {
        return Err("the signature is empty".into());
    }
    base64::engine::general_purpose::STANDARD
        .decode(body.as_bytes())
        .map_err(|_| "the signature is not base64".into())
}

/// Verifies a detached CMS signature (DER) over the file at `path`: the
/// signature must match the content and its signer's certificate must be
/// trusted and valid at `at`. Never fails: every problem is a `Bad` check
/// with the reason, and the signer when the signature names one.
pub fn verify_file(
    signature_der: &[u8],
    path: &Path,
    trust: &TrustStore,
    at: OffsetDateTime,
) -> SignatureCheck {
    match Bio::file(path) {
        Ok(bio) => verify_bio(signature_der, &bio, trust, at),
        Err(e) => SignatureCheck::bad(None, e.to_string()),
    }
}

/// As [`verify_file`], over bytes in memory.
pub fn verify_bytes(
    signature_der: &[u8],
    data: &[u8],
    trust: &TrustStore,
    at: OffsetDateTime,
) -> SignatureCheck {
    match Bio::memory(data) {
        Ok(bio) => verify_bio(signature_der, &bio, trust, at),
        Err(e) => SignatureCheck::bad(None, e.to_string()),
    }
}

fn verify_bio(der: &[u8], bio: &Bio, trust: &TrustStore, at: OffsetDateTime) -> SignatureCheck {
    // GOST certificates read before the engine is loaded cannot verify.
    let _ = gost::require_engine();
    let cms = match CmsContentInfo::from_der(der) {
        Ok(c) => c,
        Err(_) => return SignatureCheck::bad(None, "the signature is not a CMS/PKCS#7 structure"),
    };
    let store = match openssl::x509::store::X509StoreBuilder::new() {
        Ok(b) => b.build(),
        Err(e) => return SignatureCheck::bad(None, e.to_string()),
    };
    // The signature and the content are checked here; the signer's
    // certificate against mezhved's trust store below (the chain is not
    // OpenSSL's default store).
    let ok = unsafe {
        openssl_sys::CMS_verify(
            cms.as_ptr(),
            std::ptr::null_mut(),
            store.as_ptr(),
            bio.0,
            std::ptr::null_mut(),
            openssl_sys::CMS_BINARY | openssl_sys::CMS_NO_SIGNER_CERT_VERIFY,
        )
    };
    if ok != 1 {
        let why = openssl::error::ErrorStack::get();
        let signer = first_cert(&cms).map(|c| subject_of(&c));
        let detail = why
            .errors()
            .iter()
            .filter_map(|e| e.reason())
            .collect::<Vec<_>>()
            .join("; ");
        let reason = if detail.contains("content verify error")
            || detail.contains("verification failure")
            || detail.contains("digest")
        {
            format!("the signature does not match the file ({detail})")
        } else if detail.is_empty() {
            "the signature does not verify".to_string()
        } else {
            format!("the signature does not verify ({detail})")
        };
        return SignatureCheck::bad(signer, reason);
    }
    let Some(cert) = signer_cert(&cms) else {
        return SignatureCheck::bad(None, "the signature carries no signer certificate");
    };
    let signer = subject_of(&cert);
    let validity = Validity::of(&cert);
    if !validity.covers(at) {
        return SignatureCheck::bad(
            Some(signer),
            "the signer's certificate is not valid at the time of the check",
        );
    }
    if let Err(why) = trust.check(&cert, at) {
        return SignatureCheck::bad(
            Some(signer),
            format!("the signer's certificate is not trusted: {why}"),
        );
    }
    SignatureCheck::verified(signer)
}

fn signer_cert(cms: &CmsContentInfo) -> Option<X509> {
    unsafe {
        let sk = CMS_get0_signers(cms.as_ptr());
        if sk.is_null() {
            let _ = openssl::error::ErrorStack::get();
            return None;
        }
        let out = if OPENSSL_sk_num(sk) > 0 {
            let c = OPENSSL_sk_value(sk, 0) as *mut openssl_sys::X509;
            (!c.is_null()).then(|| X509Ref::from_ptr(c).to_owned())
        } else {
            None
        };
        OPENSSL_sk_free(sk);
        out
    }
}

fn first_cert(cms: &CmsContentInfo) -> Option<X509> {
    unsafe {
        let sk = CMS_get1_certs(cms.as_ptr());
        if sk.is_null() {
            let _ = openssl::error::ErrorStack::get();
            return None;
        }
        let out = if OPENSSL_sk_num(sk) > 0 {
            let c = OPENSSL_sk_value(sk, 0) as *mut openssl_sys::X509;
            (!c.is_null()).then(|| X509Ref::from_ptr(c).to_owned())
        } else {
            None
        };
        OPENSSL_sk_pop_free(sk, X509_free);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::attachment::SignatureStatus;
    use crate::xmldsig::SignatureAlgorithm;
    use std::process::Command;

    fn now() -> OffsetDateTime {
        OffsetDateTime::now_utc()
    }

    #[test]
    fn rsa_sign_and_verify_in_process() {
        let key = SigningKey::generate(SignatureAlgorithm::RsaSha256, "Подписант", 1).unwrap();
        let trust = TrustStore::default().with_certificate(key.certificate().to_owned());
        let sig = sign_bytes(&key, b"attachment").unwrap();
        let ok = verify_bytes(&sig, b"attachment", &trust, now());
        assert_eq!(ok.status, SignatureStatus::Verified, "{ok:?}");
        assert!(ok.signer.unwrap().contains("Подписант"));
        let bad = verify_bytes(&sig, b"attachmenT", &trust, now());
        assert_eq!(bad.status, SignatureStatus::Bad);
        assert!(bad.reason.unwrap().contains("does not"));
        let untrusted = verify_bytes(&sig, b"attachment", &TrustStore::default(), now());
        assert_eq!(untrusted.status, SignatureStatus::Bad);
        assert!(untrusted.signer.unwrap().contains("Подписант"));
        let garbage = verify_bytes(b"xyz", b"attachment", &trust, now());
        assert!(garbage.reason.unwrap().contains("not a CMS"));
    }

    /// Our GOST signature verified by `openssl cms -verify`, and a signature
    /// by `openssl cms -sign` verified by us.
    #[test]
    fn gost_signatures_agree_with_openssl_cms() {
        if !gost::available() {
            eprintln!("skipped: no GOST engine");
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let key = SigningKey::generate(SignatureAlgorithm::Gost2012_256, "ЭП-СП", 2).unwrap();
        let (kp, cp) = (dir.path().join("k.pem"), dir.path().join("c.pem"));
        key.save(&kp, &cp).unwrap();
        let file = dir.path().join("scan.pdf");
        std::fs::write(&file, vec![0x25u8; 300_000]).unwrap();
        let trust = TrustStore::from_pem_files(std::slice::from_ref(&cp)).unwrap();

        let sig = sign_file(&key, &file).unwrap();
        let sig_path = dir.path().join("scan.pdf.p7s");
        std::fs::write(&sig_path, &sig).unwrap();
        let out = Command::new("openssl")
            .args([
                "cms", "-verify", "-engine", "gost", "-binary", "-inform", "DER",
            ])
            .arg("-in")
            .arg(&sig_path)
            .arg("-content")
            .arg(&file)
            .arg("-CAfile")
            .arg(&cp)
            .args(["-purpose", "any", "-out", "/dev/null"])
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            out.status.success() && err.contains("Verification successful"),
            "{err}"
        );
        assert_eq!(
            verify_file(&sig, &file, &trust, now()).status,
            SignatureStatus::Verified
        );

        let theirs = dir.path().join("theirs.p7s");
        let out = Command::new("openssl")
            .args([
                "cms", "-sign", "-engine", "gost", "-binary", "-outform", "DER",
            ])
            .arg("-signer")
            .arg(&cp)
            .arg("-inkey")
            .arg(&kp)
            .arg("-in")
            .arg(&file)
            .arg("-out")
            .arg(&theirs)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let theirs = std::fs::read(&theirs).unwrap();
        let check = verify_file(&theirs, &file, &trust, now());
        assert_eq!(check.status, SignatureStatus::Verified, "{check:?}");
        assert!(check.signer.unwrap().contains("ЭП-СП"));

        // One byte changed: both refuse.
        let mut data = std::fs::read(&file).unwrap();
        data[1000] ^= 1;
        std::fs::write(&file, &data).unwrap();
        let check = verify_file(&theirs, &file, &trust, now());
        assert_eq!(check.status, SignatureStatus::Bad, "{check:?}");
        let out = Command::new("openssl")
            .args([
                "cms", "-verify", "-engine", "gost", "-binary", "-inform", "DER",
            ])
            .arg("-in")
            .arg(&sig_path)
            .arg("-content")
            .arg(&file)
            .arg("-CAfile")
            .arg(&cp)
            .args(["-purpose", "any", "-out", "/dev/null"])
            .output()
            .unwrap();
        assert!(!out.status.success());
    }

    #[test]
    fn signature_text_decodes() {
        assert_eq!(decode_signature(" QUJD\n RA== ").unwrap(), b"ABCD");
        assert!(decode_signature("").is_err());
        assert!(decode_signature("-----BEGIN PKCS7-----\nQUJD\n-----END PKCS7-----").is_ok());
    }
}
