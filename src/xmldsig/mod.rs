//! XMLDSig for SMEV 3: exclusive canonicalisation, the SMEV transform,
//! digests and signatures (GOST R 34.10-2012 through the OpenSSL engine;
//! RSA and ECDSA for development), and hardened verification.

mod algorithm;
pub mod c14n;
pub mod gost;
mod keys;
mod sign;
pub mod transform;
mod verify;

use std::path::Path;

pub use algorithm::{DigestAlgorithm, SignatureAlgorithm};
pub use keys::{
    SigningKey, TrustStore, Validity, asn1_to_datetime, dev_key_paths, key_algorithm, subject_of,
    verify_raw,
};
pub use sign::{ReferenceTransforms, reference_octets, sign_element};
pub use transform::TransformError;
pub use verify::{Verified, VerifyError, VerifyPolicy, verify};

pub const DS_NS: &str = "http://www.w3.org/2000/09/xmldsig#";

#[derive(Debug, thiserror::Error)]
pub enum SignatureError {
    #[error("GOST cryptography is unavailable: {0}")]
    GostUnavailable(String),
    #[error("{path}: {message}")]
    Key { path: String, message: String },
    #[error("element {0} has no Id attribute to reference from a signature")]
    MissingId(String),
    #[error(transparent)]
    Transform(#[from] TransformError),
    #[error("OpenSSL: {0}")]
    OpenSsl(#[from] openssl::error::ErrorStack),
}

impl SignatureError {
    pub(crate) fn key(path: &Path, message: impl std::fmt::Display) -> Self {
        SignatureError::Key {
            path: path.display().to_string(),
            message: message.to_string(),
        }
    }
}
