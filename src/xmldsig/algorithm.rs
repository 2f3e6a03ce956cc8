//! The signature and digest algorithms mezhved knows, with their XMLDSig
//! identifiers exactly as SMEV writes them.

use openssl::hash::MessageDigest;

use super::SignatureError;

/// A signature algorithm. Only the GOST R 34.10-2012 ones are accepted by
/// SMEV; GOST R 34.10-2001 is kept to verify old messages, RSA and ECDSA
/// for local development and interoperability tests.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SignatureAlgorithm {
    #[serde(rename = "gost2012-256")]
    Gost2012_256,
    #[serde(rename = "gost2012-512")]
    Gost2012_512,
    #[serde(rename = "gost2001")]
    Gost2001,
    RsaSha256,
    EcdsaSha256,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DigestAlgorithm {
    /// GOST R 34.11-2012, 256 bit («Стрибог»).
    Streebog256,
    /// GOST R 34.11-2012, 512 bit.
    Streebog512,
    /// GOST R 34.11-94 with the CryptoPro parameters.
    Gost94,
    Sha256,
}

impl SignatureAlgorithm {
    pub const ALL: [SignatureAlgorithm; 5] = [
        SignatureAlgorithm::Gost2012_256,
        SignatureAlgorithm::Gost2012_512,
        SignatureAlgorithm::Gost2001,
        SignatureAlgorithm::RsaSha256,
        SignatureAlgorithm::EcdsaSha256,
    ];

    /// The name used in configuration and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            SignatureAlgorithm::Gost2012_256 => "gost2012-256",
            SignatureAlgorithm::Gost2012_512 => "gost2012-512",
            SignatureAlgorithm::Gost2001 => "gost2001",
            SignatureAlgorithm::RsaSha256 => "rsa-sha256",
            SignatureAlgorithm::EcdsaSha256 => "ecdsa-sha256",
        }
    }

    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.name() == name)
    }

    pub fn uri(self) -> &'static str {
        match self {
            SignatureAlgorithm::Gost2012_256 => {
                "urn:ietf:params:xml:ns:cpxmlsec:algorithms:gostr34102012-gostr34112012-256"
            }
            SignatureAlgorithm::Gost2012_512 => {
                "urn:ietf:params:xml:ns:cpxmlsec:algorithms:gostr34102012-gostr34112012-512"
            }
            SignatureAlgorithm::Gost2001 => {
                "http://www.w3.org/2001/04/xmldsig-more#gostr34102001-gostr3411"
            }
            SignatureAlgorithm::RsaSha256 => "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256",
            SignatureAlgorithm::EcdsaSha256 => {
                "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256"
            }
        }
    }

    pub fn from_uri(uri: &str) -> Option<Self> {
        if uri == "urn:ietf:params:xml:ns:cpxmlsec:algorithms:gostr34102001-gostr3411" {
            return Some(SignatureAlgorithm::Gost2001);
        }
        Self::ALL.into_iter().find(|a| a.uri() == uri)
    }

    pub fn digest(self) -> DigestAlgorithm {
        match self {
            SignatureAlgorithm::Gost2012_256 => DigestAlgorithm::Streebog256,
            SignatureAlgorithm::Gost2012_512 => DigestAlgorithm::Streebog512,
            SignatureAlgorithm::Gost2001 => DigestAlgorithm::Gost94,
            SignatureAlgorithm::RsaSha256 | SignatureAlgorithm::EcdsaSha256 => {
                DigestAlgorithm::Sha256
            }
        }
    }

    pub fn is_gost(self) -> bool {
        matches!(
            self,
            SignatureAlgorithm::Gost2012_256
                | SignatureAlgorithm::Gost2012_512
                | SignatureAlgorithm::Gost2001
        )
    }

    /// Whether production SMEV accepts signatures made with it.
    pub fn accepted_by_smev(self) -> bool {
        matches!(
            self,
            SignatureAlgorithm::Gost2012_256 | SignatureAlgorithm::Gost2012_512
        )
    }

    /// Whether mezhved can create new signatures with it (2001 keys are
    /// no longer issued; it is verification only).
    pub fn can_sign(self) -> bool {
        self != SignatureAlgorithm::Gost2001
    }
}

impl std::fmt::Display for SignatureAlgorithm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl DigestAlgorithm {
    pub fn uri(self) -> &'static str {
        match self {
            DigestAlgorithm::Streebog256 => {
                "urn:ietf:params:xml:ns:cpxmlsec:algorithms:gostr34112012-256"
            }
            DigestAlgorithm::Streebog512 => {
                "urn:ietf:params:xml:ns:cpxmlsec:algorithms:gostr34112012-512"
            }
            DigestAlgorithm::Gost94 => "http://www.w3.org/2001/04/xmldsig-more#gostr3411",
            DigestAlgorithm::Sha256 => "http://www.w3.org/2001/04/xmlenc#sha256",
        }
    }

    pub fn from_uri(uri: &str) -> Option<Self> {
        Some(match uri {
            "urn:ietf:params:xml:ns:cpxmlsec:algorithms:gostr34112012-256" => {
                DigestAlgorithm::Streebog256
            }
            "urn:ietf:params:xml:ns:cpxmlsec:algorithms:gostr34112012-512" => {
                DigestAlgorithm::Streebog512
            }
            "http://www.w3.org/2001/04/xmldsig-more#gostr3411"
            | "urn:ietf:params:xml:ns:cpxmlsec:algorithms:gostr3411" => DigestAlgorithm::Gost94,
            "http://www.w3.org/2001/04/xmlenc#sha256" => DigestAlgorithm::Sha256,
            _ => return None,
        })
    }

    fn is_gost(self) -> bool {
        self != DigestAlgorithm::Sha256
    }

    /// The OpenSSL digest; GOST ones need the `gost` engine loaded.
    pub fn message_digest(self) -> Result<MessageDigest, SignatureError> {
        if self.is_gost() {
            super::gost::require_engine()?;
        }
        let md = match self {
            DigestAlgorithm::Sha256 => Some(MessageDigest::sha256()),
            DigestAlgorithm::Streebog256 => MessageDigest::from_name("md_gost12_256"),
            DigestAlgorithm::Streebog512 => MessageDigest::from_name("md_gost12_512"),
            DigestAlgorithm::Gost94 => MessageDigest::from_name("md_gost94"),
        };
        md.ok_or(SignatureError::GostUnavailable(
            "the gost engine is loaded but does not provide this digest".into(),
        ))
    }

    pub fn digest(self, data: &[u8]) -> Result<Vec<u8>, SignatureError> {
        let md = self.message_digest()?;
        Ok(openssl::hash::hash(md, data)?.to_vec())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uris_round_trip() {
        for a in SignatureAlgorithm::ALL {
            assert_eq!(SignatureAlgorithm::from_uri(a.uri()), Some(a));
            assert_eq!(SignatureAlgorithm::from_name(a.name()), Some(a));
            assert_eq!(
                DigestAlgorithm::from_uri(a.digest().uri()),
                Some(a.digest())
            );
        }
        assert!(!SignatureAlgorithm::RsaSha256.accepted_by_smev());
        assert!(SignatureAlgorithm::Gost2012_256.accepted_by_smev());
    }
}
