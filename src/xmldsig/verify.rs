//! Verification of SMEV XMLDSig signatures, built to resist the usual
//! attacks on XMLDSig: the referenced `Id` must identify exactly one element,
//! and that element must be the one the caller is going to read (so a signed
//! element moved elsewhere, duplicated or re-parented is refused); only the
//! SMEV profile's algorithms and transforms are accepted; the certificate
//! must be valid at the given time and trusted.

use base64::Engine as _;
use openssl::x509::X509;
use time::OffsetDateTime;

use super::keys::{asn1_to_datetime, subject_of, verify_raw};
use super::sign::{ReferenceTransforms, reference_octets};
use super::{
    DS_NS, DigestAlgorithm, SignatureAlgorithm, SignatureError, TrustStore, c14n, transform,
};
use crate::xml::{Document, Node, NodeId};

/// What a signature must satisfy to be accepted.
#[derive(Clone, Copy, Debug)]
pub struct VerifyPolicy<'a> {
    /// `None` skips the trust check (for `mezhved verify` without a trust
    /// store, which then says so); a gateway always sets it.
    pub trust: Option<&'a TrustStore>,
    /// The moment the certificate must be valid at.
    pub at: OffsetDateTime,
    /// Accept references with only exc-c14n (interop tests); SMEV messages
    /// always carry the SMEV transform.
    pub allow_exc_c14n_only: bool,
}

/// A signature that verified, and what it covered.
#[derive(Debug, Clone)]
pub struct Verified {
    /// The element whose digest was checked: the only element the caller
    /// may treat as signed.
    pub signed: NodeId,
    pub algorithm: SignatureAlgorithm,
    pub subject: String,
    pub not_before: Option<OffsetDateTime>,
    pub not_after: Option<OffsetDateTime>,
    pub certificate: X509,
    /// The signature only verified after whitespace inside `SignedInfo` was
    /// removed: the message was pretty-printed after signing.
    pub reformatted_after_signing: bool,
    pub trusted: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    #[error("signature is malformed: {0}")]
    Malformed(String),
    #[error("signature algorithm {0} is not accepted")]
    UnsupportedAlgorithm(String),
    #[error("digest algorithm {digest} does not match signature algorithm {signature}")]
    DigestMismatchAlgorithm { digest: String, signature: String },
    #[error("transform {0} is not allowed (only exclusive c14n and the SMEV transform are)")]
    DisallowedTransform(String),
    #[error("the signature references #{0}, which no element carries")]
    ReferenceNotFound(String),
    #[error(
        "the signature references #{id}, which {count} elements carry (possible signature wrapping)"
    )]
    AmbiguousReference { id: String, count: usize },
    #[error(
        "the signature covers {found}, not the expected {expected} (possible signature wrapping)"
    )]
    WrongTarget { expected: String, found: String },
    #[error("the certificate's key is {key}, but the signature claims {method}")]
    KeyMismatch { key: String, method: String },
    #[error("the digest of {0} does not match: the signed content was changed")]
    DigestMismatch(String),
    #[error("the signature value does not verify with the certificate of {0}")]
    SignatureInvalid(String),
    #[error("the certificate of {subject} expired on {not_after}")]
    CertificateExpired { subject: String, not_after: String },
    #[error("the certificate of {subject} is not valid before {not_before}")]
    CertificateNotYetValid { subject: String, not_before: String },
    #[error("the certificate of {subject} is not trusted: {reason}")]
    Untrusted { subject: String, reason: String },
    #[error(transparent)]
    Crypto(#[from] SignatureError),
}

impl VerifyError {
    /// Whether the failure says the content cannot be trusted (as opposed
    /// to a local problem such as a missing GOST engine).
    pub fn is_rejection(&self) -> bool {
        !matches!(
            self,
            VerifyError::Crypto(SignatureError::GostUnavailable(_))
        )
    }
}

/// Verifies `signature` (a `ds:Signature` element) and checks that it signs
/// `expected`.
pub fn verify(
    doc: &Document,
    signature: NodeId,
    expected: NodeId,
    policy: &VerifyPolicy<'_>,
) -> Result<Verified, VerifyError> {
    let malformed = |m: &str| VerifyError::Malformed(m.to_owned());
    if !doc.element(signature).is(DS_NS, "Signature") {
        return Err(malformed("expected a ds:Signature element"));
    }
    let children: Vec<NodeId> = doc.child_elements(signature).collect();
    let names: Vec<&str> = children
        .iter()
        .map(|c| doc.element(*c).local.as_str())
        .collect();
    if names.len() < 3
        || names[..3] != ["SignedInfo", "SignatureValue", "KeyInfo"]
        || children
            .iter()
            .any(|c| doc.element(*c).ns.as_deref() != Some(DS_NS))
    {
        return Err(malformed("expected SignedInfo, SignatureValue and KeyInfo"));
    }
    let (signed_info, value_el, key_info) = (children[0], children[1], children[2]);

    let si: Vec<NodeId> = doc.child_elements(signed_info).collect();
    let si_names: Vec<&str> = si.iter().map(|c| doc.element(*c).local.as_str()).collect();
    if si_names != ["CanonicalizationMethod", "SignatureMethod", "Reference"] {
        return Err(malformed(
            "SignedInfo must hold one CanonicalizationMethod, SignatureMethod and Reference",
        ));
    }
    let c14n_alg = doc.element(si[0]).attr("Algorithm").unwrap_or("");
    if c14n_alg != c14n::ALGORITHM {
        return Err(VerifyError::DisallowedTransform(c14n_alg.to_owned()));
    }
    let sig_uri = doc.element(si[1]).attr("Algorithm").unwrap_or("");
    let algorithm = SignatureAlgorithm::from_uri(sig_uri)
        .ok_or_else(|| VerifyError::UnsupportedAlgorithm(sig_uri.to_owned()))?;

    // Reference: URI="#id", Transforms, DigestMethod, DigestValue.
    let reference = si[2];
    let uri = doc.element(reference).attr("URI").unwrap_or("");
    let id = uri
        .strip_prefix('#')
        .filter(|s| !s.is_empty())
        .ok_or_else(|| malformed("the Reference URI must point at an element (#Id)"))?;
    let r: Vec<NodeId> = doc.child_elements(reference).collect();
    let r_names: Vec<&str> = r.iter().map(|c| doc.element(*c).local.as_str()).collect();
    if r_names != ["Transforms", "DigestMethod", "DigestValue"] {
        return Err(malformed(
            "Reference must hold Transforms, DigestMethod and DigestValue",
        ));
    }
    let transforms: Vec<&str> = doc
        .child_elements(r[0])
        .map(|t| doc.element(t).attr("Algorithm").unwrap_or(""))
        .collect();
    let mode = match transforms.as_slice() {
        [a, b] if *a == c14n::ALGORITHM && *b == transform::ALGORITHM => ReferenceTransforms::Smev,
        [b] if *b == transform::ALGORITHM => ReferenceTransforms::Smev,
        [a] if *a == c14n::ALGORITHM && policy.allow_exc_c14n_only => {
            ReferenceTransforms::ExcC14nOnly
        }
        other => {
            let bad = other
                .iter()
                .find(|t| **t != c14n::ALGORITHM && **t != transform::ALGORITHM)
                .copied()
                .unwrap_or("exclusive c14n without the SMEV transform");
            return Err(VerifyError::DisallowedTransform(bad.to_owned()));
        }
    };
    let digest_uri = doc.element(r[1]).attr("Algorithm").unwrap_or("");
    let digest_alg = DigestAlgorithm::from_uri(digest_uri)
        .ok_or_else(|| VerifyError::UnsupportedAlgorithm(digest_uri.to_owned()))?;
    if digest_alg != algorithm.digest() {
        return Err(VerifyError::DigestMismatchAlgorithm {
            digest: digest_uri.to_owned(),
            signature: sig_uri.to_owned(),
        });
    }
    let b64 = base64::engine::general_purpose::STANDARD;
    let claimed = b64
        .decode(compact(&doc.text(r[2])))
        .map_err(|_| malformed("DigestValue is not base64"))?;

    // Wrapping defence: the Id resolves to exactly one element, the expected one.
    let targets = doc.elements_with_id(id);
    match targets.len() {
        0 => return Err(VerifyError::ReferenceNotFound(id.to_owned())),
        1 => {}
        count => {
            return Err(VerifyError::AmbiguousReference {
                id: id.to_owned(),
                count,
            });
        }
    }
    if targets[0] != expected {
        return Err(VerifyError::WrongTarget {
            expected: describe(doc, expected),
            found: describe(doc, targets[0]),
        });
    }

    // Certificate.
    let certs: Vec<NodeId> = doc
        .child(key_info, DS_NS, "X509Data")
        .map(|d| doc.children_named(d, DS_NS, "X509Certificate").collect())
        .unwrap_or_default();
    if certs.len() != 1 {
        return Err(malformed(
            "KeyInfo must carry exactly one X509Data/X509Certificate",
        ));
    }
    let der = b64
        .decode(compact(&doc.text(certs[0])))
        .map_err(|_| malformed("X509Certificate is not base64"))?;
    if algorithm.is_gost() {
        // GOST certificates cannot even be parsed without the engine.
        super::gost::require_engine()?;
    }
    let certificate = parse_certificate(&der)?;
    let subject = subject_of(&certificate);
    let not_before = asn1_to_datetime(certificate.not_before());
    let not_after = asn1_to_datetime(certificate.not_after());

    // Digest.
    let octets = reference_octets(doc, expected, mode)?;
    let actual = digest_alg.digest(&octets)?;
    if actual.len() != claimed.len() || !openssl::memcmp::eq(&actual, &claimed) {
        return Err(VerifyError::DigestMismatch(describe(doc, expected)));
    }

    // Signature value over c14n(SignedInfo); if the message was pretty-printed
    // after signing, the whitespace inside SignedInfo was not signed.
    let value = b64
        .decode(compact(&doc.text(value_el)))
        .map_err(|_| malformed("SignatureValue is not base64"))?;
    let public = certificate.public_key().map_err(SignatureError::from)?;
    let key_alg = super::key_algorithm(&public);
    if key_alg != Some(algorithm) {
        return Err(VerifyError::KeyMismatch {
            key: key_alg
                .map(|a| a.name().to_owned())
                .unwrap_or_else(|| "of an unknown type".into()),
            method: algorithm.name().to_owned(),
        });
    }
    let signed_bytes = c14n::canonicalize(doc, signed_info);
    let mut reformatted = false;
    if !verify_raw(algorithm, &public, &signed_bytes, &value)? {
        let stripped = strip_whitespace(doc, signed_info);
        let alt = c14n::canonicalize(&stripped, signed_info);
        if alt == signed_bytes || !verify_raw(algorithm, &public, &alt, &value)? {
            return Err(VerifyError::SignatureInvalid(subject));
        }
        reformatted = true;
    }

    // Validity and trust, after the cryptography so that the operator sees
    // "expired" only for a signature that is otherwise sound.
    if let Some(nb) = not_before
        && policy.at < nb
    {
        return Err(VerifyError::CertificateNotYetValid {
            subject,
            not_before: crate::clock::rfc3339(nb),
        });
    }
    if let Some(na) = not_after
        && policy.at > na
    {
        return Err(VerifyError::CertificateExpired {
            subject,
            not_after: crate::clock::rfc3339(na),
        });
    }
    let trusted = match policy.trust {
        Some(store) => {
            store
                .check(&certificate, policy.at)
                .map_err(|reason| VerifyError::Untrusted {
                    subject: subject.clone(),
                    reason,
                })?;
            true
        }
        None => false,
    };

    Ok(Verified {
        signed: expected,
        algorithm,
        subject,
        not_before,
        not_after,
        certificate,
        reformatted_after_signing: reformatted,
        trusted,
    })
}

/// Parses a DER certificate, remembering recent ones: OpenSSL 3.0 takes
/// hundreds of microseconds to decode a certificate's key, and a SMEV node
/// signs every answer with the same certificate.
fn parse_certificate(der: &[u8]) -> Result<X509, VerifyError> {
    use std::collections::HashMap;
    use std::sync::{Mutex, OnceLock};
    const LIMIT: usize = 256;
    static CACHE: OnceLock<Mutex<HashMap<Vec<u8>, X509>>> = OnceLock::new();
    let cache = CACHE.get_or_init(|| Mutex::new(HashMap::new()));
    if let Some(c) = cache.lock().expect("certificate cache lock").get(der) {
        return Ok(c.clone());
    }
    let cert = X509::from_der(der)
        .map_err(|_| VerifyError::Malformed("X509Certificate is not a DER certificate".into()))?;
    let mut c = cache.lock().expect("certificate cache lock");
    if c.len() >= LIMIT {
        c.clear();
    }
    c.insert(der.to_vec(), cert.clone());
    Ok(cert)
}

fn compact(s: &str) -> String {
    s.chars().filter(|c| !c.is_ascii_whitespace()).collect()
}

fn describe(doc: &Document, id: NodeId) -> String {
    let el = doc.element(id);
    let mut path = vec![el.local.clone()];
    let mut cur = doc.parent(id);
    while let Some(p) = cur {
        path.push(doc.element(p).local.clone());
        cur = doc.parent(p);
    }
    path.reverse();
    format!("/{}", path.join("/"))
}

/// A copy of the document with whitespace-only text removed under `id`.
fn strip_whitespace(doc: &Document, id: NodeId) -> Document {
    let mut copy = doc.clone();
    for el in doc.descendants(id) {
        let blanks: Vec<NodeId> = doc
            .element(el)
            .children
            .iter()
            .copied()
            .filter(|c| matches!(doc.node(*c), Node::Text(t) if t.trim().is_empty()))
            .collect();
        for b in blanks {
            copy.detach(b);
        }
    }
    copy
}
