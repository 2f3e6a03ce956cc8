//! Signing keys, certificates and the trust store.

use std::path::{Path, PathBuf};

use base64::Engine as _;
use openssl::asn1::{Asn1Integer, Asn1Time};
use openssl::bn::{BigNum, MsbOption};
use openssl::ec::{EcGroup, EcKey};
use openssl::ecdsa::EcdsaSig;
use openssl::hash::MessageDigest;
use openssl::nid::Nid;
use openssl::pkey::{HasPublic, Id, PKey, PKeyRef, Private};
use openssl::pkey_ctx::PkeyCtx;
use openssl::rsa::Rsa;
use openssl::sign::{Signer, Verifier};
use openssl::x509::{X509, X509Name, X509NameBuilder, X509Ref};
use time::OffsetDateTime;

use super::{SignatureAlgorithm, SignatureError, gost};

const NID_GOST2012_256: i32 = 979;
const NID_GOST2012_512: i32 = 980;
const NID_GOST2001: i32 = 811;

unsafe extern "C" {
    fn EVP_PKEY_CTX_ctrl_str(
        ctx: *mut openssl_sys::EVP_PKEY_CTX,
        typ: *const std::ffi::c_char,
        value: *const std::ffi::c_char,
    ) -> std::ffi::c_int;
}

/// A private key with its certificate, ready to sign with one algorithm.
/// A clone shares the key (OpenSSL reference counts it).
#[derive(Clone)]
pub struct SigningKey {
    algorithm: SignatureAlgorithm,
    pkey: PKey<Private>,
    certificate: X509,
    certificate_b64: String,
}

impl std::fmt::Debug for SigningKey {
    // Never print key material.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKey")
            .field("algorithm", &self.algorithm)
            .field("subject", &subject_of(&self.certificate))
            .finish_non_exhaustive()
    }
}

impl SigningKey {
    /// Loads a PEM private key (optionally encrypted) and its PEM certificate.
    pub fn load(
        algorithm: SignatureAlgorithm,
        key_path: &Path,
        cert_path: &Path,
        password: Option<&str>,
    ) -> Result<Self, SignatureError> {
        if algorithm.is_gost() {
            gost::require_engine()?;
        }
        let key_pem = std::fs::read(key_path).map_err(|e| SignatureError::key(key_path, e))?;
        let pkey = match password {
            Some(pw) => PKey::private_key_from_pem_passphrase(&key_pem, pw.as_bytes()),
            None => PKey::private_key_from_pem(&key_pem),
        }
        .map_err(|e| {
            SignatureError::key(key_path, format!("not a readable PEM private key ({e})"))
        })?;
        let cert_pem = std::fs::read(cert_path).map_err(|e| SignatureError::key(cert_path, e))?;
        let certificate = X509::from_pem(&cert_pem)
            .map_err(|e| SignatureError::key(cert_path, format!("not a PEM certificate ({e})")))?;
        Self::from_parts(algorithm, pkey, certificate, key_path)
    }

    fn from_parts(
        algorithm: SignatureAlgorithm,
        pkey: PKey<Private>,
        certificate: X509,
        origin: &Path,
    ) -> Result<Self, SignatureError> {
        let key_alg = key_algorithm(&pkey);
        if key_alg != Some(algorithm) {
            return Err(SignatureError::key(
                origin,
                format!(
                    "the key is {} but the configured algorithm is {algorithm}",
                    key_alg
                        .map(|a| a.name())
                        .unwrap_or("of an unsupported type")
                ),
            ));
        }
        let cert_pub = certificate.public_key()?;
        if !pkey.public_eq(&cert_pub) {
            return Err(SignatureError::key(
                origin,
                "the certificate does not belong to this key",
            ));
        }
        if !algorithm.can_sign() {
            return Err(SignatureError::key(
                origin,
                format!("{algorithm} is supported for verification only"),
            ));
        }
        let der = certificate.to_der()?;
        Ok(SigningKey {
            algorithm,
            pkey,
            certificate,
            certificate_b64: base64::engine::general_purpose::STANDARD.encode(der),
        })
    }

    /// A new key with a self-signed certificate (development and tests).
    pub fn generate(
        algorithm: SignatureAlgorithm,
        common_name: &str,
        days: u32,
    ) -> Result<Self, SignatureError> {
        let pkey = generate_pkey(algorithm)?;
        let certificate = build_certificate(&pkey, algorithm, common_name, days, None, false)?;
        Self::from_parts(algorithm, pkey, certificate, Path::new("<generated>"))
    }

    /// A new certification authority: a self-signed certificate that may
    /// sign others (a test environment's trust anchor).
    pub fn generate_ca(
        algorithm: SignatureAlgorithm,
        common_name: &str,
        days: u32,
    ) -> Result<Self, SignatureError> {
        let pkey = generate_pkey(algorithm)?;
        let certificate = build_certificate(&pkey, algorithm, common_name, days, None, true)?;
        Self::from_parts(algorithm, pkey, certificate, Path::new("<generated>"))
    }

    /// A new key whose certificate this key (a CA) issues.
    pub fn issue(
        &self,
        algorithm: SignatureAlgorithm,
        common_name: &str,
        days: u32,
    ) -> Result<SigningKey, SignatureError> {
        let pkey = generate_pkey(algorithm)?;
        let certificate =
            build_certificate(&pkey, algorithm, common_name, days, Some(self), false)?;
        Self::from_parts(algorithm, pkey, certificate, Path::new("<generated>"))
    }

    /// Loads the development key for `algorithm` from `dir`, creating it on
    /// first use. Development keys are never committed; the directory is
    /// created with owner-only permissions.
    pub fn load_or_generate(
        algorithm: SignatureAlgorithm,
        dir: &Path,
        common_name: &str,
    ) -> Result<Self, SignatureError> {
        let (key_path, cert_path) = dev_key_paths(dir, algorithm);
        if key_path.exists() && cert_path.exists() {
            return Self::load(algorithm, &key_path, &cert_path, None);
        }
        let key = Self::generate(algorithm, common_name, 3650)?;
        key.save(&key_path, &cert_path)?;
        Ok(key)
    }

    /// Writes the key (mode 0600) and certificate as PEM.
    pub fn save(&self, key_path: &Path, cert_path: &Path) -> Result<(), SignatureError> {
        if let Some(dir) = key_path.parent() {
            create_private_dir(dir)?;
        }
        let key_pem = self.pkey.private_key_to_pem_pkcs8()?;
        write_private(key_path, &key_pem)?;
        std::fs::write(cert_path, self.certificate.to_pem()?)
            .map_err(|e| SignatureError::key(cert_path, e))?;
        Ok(())
    }

    pub fn algorithm(&self) -> SignatureAlgorithm {
        self.algorithm
    }

    pub fn certificate(&self) -> &X509Ref {
        &self.certificate
    }

    /// The private key, for signatures other than XMLDSig (detached CMS
    /// of attachments).
    pub(crate) fn private_key(&self) -> &PKeyRef<Private> {
        &self.pkey
    }

    /// The DER certificate in base64, as `ds:X509Certificate` carries it.
    pub fn certificate_base64(&self) -> &str {
        &self.certificate_b64
    }

    pub fn subject(&self) -> String {
        subject_of(&self.certificate)
    }

    /// The certificate's validity period.
    pub fn validity(&self) -> Validity {
        Validity::of(&self.certificate)
    }

    /// Signs `data`, returning the raw `SignatureValue` bytes in the form
    /// XMLDSig uses for this algorithm (GOST: as the engine produces them,
    /// ECDSA: r‖s, RSA: PKCS#1 v1.5).
    pub fn sign(&self, data: &[u8]) -> Result<Vec<u8>, SignatureError> {
        let md = self.algorithm.digest().message_digest()?;
        let mut signer = Signer::new(md, &self.pkey)?;
        let sig = signer.sign_oneshot_to_vec(data)?;
        if self.algorithm == SignatureAlgorithm::EcdsaSha256 {
            let parsed = EcdsaSig::from_der(&sig)?;
            let mut raw = parsed.r().to_vec_padded(32)?;
            raw.extend(parsed.s().to_vec_padded(32)?);
            return Ok(raw);
        }
        Ok(sig)
    }
}

/// Verifies a raw `SignatureValue` over `data` with a public key.
pub fn verify_raw<T: HasPublic>(
    algorithm: SignatureAlgorithm,
    key: &PKeyRef<T>,
    data: &[u8],
    signature: &[u8],
) -> Result<bool, SignatureError> {
    let md = algorithm.digest().message_digest()?;
    let der;
    let sig = if algorithm == SignatureAlgorithm::EcdsaSha256 {
        if signature.len() != 64 {
            return Ok(false);
        }
        let r = BigNum::from_slice(&signature[..32])?;
        let s = BigNum::from_slice(&signature[32..])?;
        der = EcdsaSig::from_private_components(r, s)?.to_der()?;
        der.as_slice()
    } else {
        signature
    };
    let mut verifier = Verifier::new(md, key)?;
    let ok = verifier.verify_oneshot(sig, data).unwrap_or(false);
    // A failed verification leaves errors in OpenSSL's queue; drop them so
    // they do not surface later in an unrelated call.
    let _ = openssl::error::ErrorStack::get();
    Ok(ok)
}

/// Which of our algorithms a key is for, by its type.
pub fn key_algorithm<T>(pkey: &PKeyRef<T>) -> Option<SignatureAlgorithm> {
    match pkey.id() {
        Id::RSA => Some(SignatureAlgorithm::RsaSha256),
        Id::EC => Some(SignatureAlgorithm::EcdsaSha256),
        id if id.as_raw() == NID_GOST2012_256 => Some(SignatureAlgorithm::Gost2012_256),
        id if id.as_raw() == NID_GOST2012_512 => Some(SignatureAlgorithm::Gost2012_512),
        id if id.as_raw() == NID_GOST2001 => Some(SignatureAlgorithm::Gost2001),
        _ => None,
    }
}

pub fn dev_key_paths(dir: &Path, algorithm: SignatureAlgorithm) -> (PathBuf, PathBuf) {
    (
        dir.join(format!("{}.key.pem", algorithm.name())),
        dir.join(format!("{}.cert.pem", algorithm.name())),
    )
}

fn generate_pkey(algorithm: SignatureAlgorithm) -> Result<PKey<Private>, SignatureError> {
    Ok(match algorithm {
        SignatureAlgorithm::RsaSha256 => PKey::from_rsa(Rsa::generate(2048)?)?,
        SignatureAlgorithm::EcdsaSha256 => {
            let group = EcGroup::from_curve_name(Nid::X9_62_PRIME256V1)?;
            PKey::from_ec_key(EcKey::generate(&group)?)?
        }
        SignatureAlgorithm::Gost2012_256 | SignatureAlgorithm::Gost2012_512 => {
            gost::require_engine()?;
            let nid = if algorithm == SignatureAlgorithm::Gost2012_256 {
                NID_GOST2012_256
            } else {
                NID_GOST2012_512
            };
            let mut ctx = PkeyCtx::<()>::new_id(Id::from_raw(nid))?;
            ctx.keygen_init()?;
            let name = std::ffi::CString::new("paramset").expect("static string");
            let value = std::ffi::CString::new("A").expect("static string");
            // SAFETY: ctx is a live EVP_PKEY_CTX owned by `ctx`; both strings
            // outlive the call.
            let rc = unsafe {
                use foreign_types::ForeignTypeRef as _;
                EVP_PKEY_CTX_ctrl_str(ctx.as_ptr(), name.as_ptr(), value.as_ptr())
            };
            if rc <= 0 {
                return Err(SignatureError::OpenSsl(openssl::error::ErrorStack::get()));
            }
            ctx.keygen()?
        }
        SignatureAlgorithm::Gost2001 => {
            return Err(SignatureError::key(
                Path::new("<generated>"),
                "GOST R 34.10-2001 keys are verification-only; choose gost2012-256",
            ));
        }
    })
}

/// A certificate for `pkey`: self-signed, or issued by `issuer`.
fn build_certificate(
    pkey: &PKey<Private>,
    algorithm: SignatureAlgorithm,
    common_name: &str,
    days: u32,
    issuer: Option<&SigningKey>,
    ca: bool,
) -> Result<X509, SignatureError> {
    use openssl::x509::extension::{BasicConstraints, KeyUsage, SubjectKeyIdentifier};
    let mut name = X509NameBuilder::new()?;
    name.append_entry_by_nid(Nid::COMMONNAME, common_name)?;
    name.append_entry_by_nid(Nid::ORGANIZATIONNAME, "mezhved development")?;
    name.append_entry_by_nid(Nid::COUNTRYNAME, "RU")?;
    let name: X509Name = name.build();
    let mut b = X509::builder()?;
    b.set_version(2)?;
    let mut serial = BigNum::new()?;
    serial.rand(63, MsbOption::MAYBE_ZERO, false)?;
    let serial = Asn1Integer::from_bn(&serial)?;
    b.set_serial_number(&serial)?;
    b.set_subject_name(&name)?;
    match issuer {
        Some(i) => b.set_issuer_name(i.certificate.subject_name())?,
        None => b.set_issuer_name(&name)?,
    }
    b.set_pubkey(pkey)?;
    let not_before = Asn1Time::days_from_now(0)?;
    let not_after = Asn1Time::days_from_now(days)?;
    b.set_not_before(&not_before)?;
    b.set_not_after(&not_after)?;
    if ca {
        b.append_extension(BasicConstraints::new().critical().ca().build()?)?;
        b.append_extension(
            KeyUsage::new()
                .critical()
                .key_cert_sign()
                .crl_sign()
                .build()?,
        )?;
    } else {
        b.append_extension(
            KeyUsage::new()
                .critical()
                .digital_signature()
                .non_repudiation()
                .build()?,
        )?;
    }
    let ski = SubjectKeyIdentifier::new().build(&b.x509v3_context(None, None))?;
    b.append_extension(ski)?;
    let (signer, signer_alg) = match issuer {
        Some(i) => (&i.pkey, i.algorithm),
        None => (pkey, algorithm),
    };
    let md: MessageDigest = signer_alg.digest().message_digest()?;
    b.sign(signer, md)?;
    Ok(b.build())
}

fn create_private_dir(dir: &Path) -> Result<(), SignatureError> {
    use std::os::unix::fs::DirBuilderExt as _;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|e| SignatureError::key(dir, e))
}

fn write_private(path: &Path, data: &[u8]) -> Result<(), SignatureError> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| SignatureError::key(path, e))?;
    f.write_all(data).map_err(|e| SignatureError::key(path, e))
}

/// `CN=…, O=…` in a readable one-line form. The Russian qualified
/// certificate attributes OpenSSL has no names for are named here.
pub fn subject_of(cert: &X509Ref) -> String {
    cert.subject_name()
        .entries()
        .map(|e| {
            let obj = e.object();
            let oid = obj.to_string();
            let key = match obj.nid().short_name() {
                Ok(n) if n != "UNDEF" => n.to_owned(),
                _ => match oid.as_str() {
                    "1.2.643.100.1" => "ОГРН".to_owned(),
                    "1.2.643.100.3" => "СНИЛС".to_owned(),
                    "1.2.643.100.4" => "ИННЮЛ".to_owned(),
                    "1.2.643.100.5" => "ОГРНИП".to_owned(),
                    "1.2.643.3.131.1.1" => "ИНН".to_owned(),
                    _ => oid,
                },
            };
            let value = e.data().to_string().unwrap_or_else(|_| "?".to_string());
            format!("{key}={value}")
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// When a certificate is valid.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Validity {
    pub not_before: Option<OffsetDateTime>,
    pub not_after: Option<OffsetDateTime>,
}

impl Validity {
    pub fn of(cert: &X509Ref) -> Validity {
        Validity {
            not_before: asn1_to_datetime(cert.not_before()),
            not_after: asn1_to_datetime(cert.not_after()),
        }
    }

    /// Whether it is valid at `at`.
    pub fn covers(&self, at: OffsetDateTime) -> bool {
        self.not_before.is_none_or(|t| t <= at) && self.not_after.is_some_and(|t| at <= t)
    }

    /// Days from `at` to the end (negative once expired).
    pub fn days_left(&self, at: OffsetDateTime) -> f64 {
        self.not_after
            .map(|t| (t - at).as_seconds_f64() / 86_400.0)
            .unwrap_or(f64::NEG_INFINITY)
    }
}

/// Converts an ASN.1 time to `OffsetDateTime`.
pub fn asn1_to_datetime(t: &openssl::asn1::Asn1TimeRef) -> Option<OffsetDateTime> {
    let epoch = Asn1Time::from_unix(0).ok()?;
    let diff = epoch.diff(t).ok()?;
    let secs = i64::from(diff.days) * 86_400 + i64::from(diff.secs);
    OffsetDateTime::from_unix_timestamp(secs).ok()
}

/// Certificates that are trusted to sign for one environment (test and
/// production SMEV use different CAs). A certificate is trusted when it is
/// itself in the store or chains to a CA in it.
#[derive(Clone, Default)]
pub struct TrustStore {
    certs: Vec<X509>,
    sources: Vec<PathBuf>,
}

impl std::fmt::Debug for TrustStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TrustStore")
            .field("sources", &self.sources)
            .finish()
    }
}

impl TrustStore {
    /// Loads every certificate from each PEM file (a file may hold several).
    pub fn from_pem_files(paths: &[PathBuf]) -> Result<Self, SignatureError> {
        // A GOST certificate read before the engine is loaded keeps a public
        // key OpenSSL cannot use, and then never anchors a chain.
        let _ = gost::require_engine();
        let mut store = TrustStore::default();
        for p in paths {
            let pem = std::fs::read(p).map_err(|e| SignatureError::key(p, e))?;
            let certs = X509::stack_from_pem(&pem).map_err(|e| {
                SignatureError::key(p, format!("not a PEM certificate bundle ({e})"))
            })?;
            if certs.is_empty() {
                return Err(SignatureError::key(p, "no certificate in the file"));
            }
            store.certs.extend(certs);
            store.sources.push(p.clone());
        }
        Ok(store)
    }

    /// Each trusted certificate: subject and validity.
    pub fn certificates(&self) -> Vec<(String, Validity)> {
        self.certs
            .iter()
            .map(|c| (subject_of(c), Validity::of(c)))
            .collect()
    }

    pub fn with_certificate(mut self, cert: X509) -> Self {
        self.certs.push(cert);
        self
    }

    pub fn is_empty(&self) -> bool {
        self.certs.is_empty()
    }

    pub fn len(&self) -> usize {
        self.certs.len()
    }

    /// Checks that `cert` is trusted at `at`. Validity dates are checked by
    /// the caller, which can word the error better.
    pub fn check(&self, cert: &X509Ref, at: OffsetDateTime) -> Result<(), String> {
        if self.certs.is_empty() {
            return Err("no trusted certificates are configured".into());
        }
        let der = cert.to_der().map_err(|e| e.to_string())?;
        if self
            .certs
            .iter()
            .any(|c| c.to_der().map(|d| d == der).unwrap_or(false))
        {
            return Ok(());
        }
        let mut builder =
            openssl::x509::store::X509StoreBuilder::new().map_err(|e| e.to_string())?;
        for c in &self.certs {
            builder.add_cert(c.clone()).map_err(|e| e.to_string())?;
        }
        let mut param = openssl::x509::verify::X509VerifyParam::new().map_err(|e| e.to_string())?;
        param.set_time(at.unix_timestamp() as _);
        builder.set_param(&param).map_err(|e| e.to_string())?;
        let store = builder.build();
        let chain = openssl::stack::Stack::new().map_err(|e| e.to_string())?;
        let mut ctx = openssl::x509::X509StoreContext::new().map_err(|e| e.to_string())?;
        let result = ctx
            .init(&store, cert, &chain, |c| {
                let ok = c.verify_cert()?;
                Ok((ok, c.error().error_string().to_string()))
            })
            .map_err(|e| e.to_string())?;
        let _ = openssl::error::ErrorStack::get();
        match result {
            (true, _) => Ok(()),
            (false, why) => Err(format!("does not chain to a trusted CA ({why})")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rsa_and_ecdsa_sign_and_verify() {
        for alg in [
            SignatureAlgorithm::RsaSha256,
            SignatureAlgorithm::EcdsaSha256,
        ] {
            let key = SigningKey::generate(alg, "test", 1).unwrap();
            let sig = key.sign(b"data").unwrap();
            let public = key.certificate().public_key().unwrap();
            assert!(verify_raw(alg, &public, b"data", &sig).unwrap(), "{alg}");
            assert!(!verify_raw(alg, &public, b"datb", &sig).unwrap(), "{alg}");
        }
    }

    #[test]
    fn key_type_must_match_configured_algorithm() {
        let dir = tempfile::tempdir().unwrap();
        let key = SigningKey::generate(SignatureAlgorithm::EcdsaSha256, "t", 1).unwrap();
        let (k, c) = dev_key_paths(dir.path(), SignatureAlgorithm::EcdsaSha256);
        key.save(&k, &c).unwrap();
        let err = SigningKey::load(SignatureAlgorithm::RsaSha256, &k, &c, None).unwrap_err();
        assert!(err.to_string().contains("ecdsa-sha256"), "{err}");
    }

    #[test]
    fn a_ca_anchors_the_certificates_it_issues() {
        let ca = SigningKey::generate_ca(SignatureAlgorithm::Gost2012_256, "test CA", 2).unwrap();
        let leaf = ca.issue(SignatureAlgorithm::RsaSha256, "leaf", 1).unwrap();
        let stranger = SigningKey::generate_ca(SignatureAlgorithm::EcdsaSha256, "other CA", 2)
            .unwrap()
            .issue(SignatureAlgorithm::RsaSha256, "leaf", 1)
            .unwrap();
        let store = TrustStore::default().with_certificate(ca.certificate().to_owned());
        let now = OffsetDateTime::now_utc();
        assert!(store.check(leaf.certificate(), now).is_ok());
        let why = store.check(stranger.certificate(), now).unwrap_err();
        assert!(why.contains("does not chain"), "{why}");
    }

    #[test]
    fn trust_store_pins_and_rejects() {
        let a = SigningKey::generate(SignatureAlgorithm::EcdsaSha256, "a", 1).unwrap();
        let b = SigningKey::generate(SignatureAlgorithm::EcdsaSha256, "b", 1).unwrap();
        let store = TrustStore::default().with_certificate(a.certificate().to_owned());
        let now = OffsetDateTime::now_utc();
        assert!(store.check(a.certificate(), now).is_ok());
        assert!(store.check(b.certificate(), now).is_err());
    }
}
