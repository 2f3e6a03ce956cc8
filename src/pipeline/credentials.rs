//! The gateway's signing key and the certificates it trusts, from
//! configuration.

use std::path::Path;

use crate::config::Settings;
use crate::xmldsig::{SignatureAlgorithm, SigningKey, TrustStore, gost};

/// A loaded key and, when a development fallback was used, the one line
/// that tells the operator how to switch GOST on.
pub struct Credentials {
    pub key: SigningKey,
    pub notice: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum CredentialsError {
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    #[error("signing key: {0}")]
    Key(#[from] crate::xmldsig::SignatureError),
    #[error("{0}")]
    Trust(String),
}

/// Loads the configured key, or the development key for the configured
/// algorithm. Only a development key may fall back from GOST when the
/// engine is missing; a configured key never is.
pub fn signing_key(settings: &Settings) -> Result<Credentials, CredentialsError> {
    let s = &settings.signing;
    let algorithm = s.algorithm()?;
    if algorithm.is_gost() && !s.gost_engine.is_empty() {
        gost::load_engine(Some(&s.gost_engine))?;
    }
    if s.has_key() {
        let password = if s.key_password_file.is_empty() {
            std::env::var("MEZHVED_KEY_PASSWORD").ok()
        } else {
            let p = Path::new(&s.key_password_file);
            Some(
                std::fs::read_to_string(p)
                    .map_err(|e| CredentialsError::Trust(format!("{}: {e}", p.display())))?
                    .trim_end_matches(['\n', '\r'])
                    .to_owned(),
            )
        };
        let key = SigningKey::load(
            algorithm,
            Path::new(&s.key),
            Path::new(&s.certificate),
            password.as_deref(),
        )?;
        return Ok(Credentials { key, notice: None });
    }
    let (algorithm, notice) = if algorithm.is_gost() && !gost::available() {
        let fallback = s.fallback()?.ok_or_else(|| {
            CredentialsError::Key(crate::xmldsig::SignatureError::GostUnavailable(
                gost::INSTALL_HINT.into(),
            ))
        })?;
        (
            fallback,
            Some(format!(
                "GOST engine not installed: signing with {fallback} (development only, SMEV does not accept it); \
                 to sign with GOST R 34.10-2012: apt-get install libengine-gost-openssl"
            )),
        )
    } else {
        (algorithm, None)
    };
    let key =
        SigningKey::load_or_generate(algorithm, &settings.keys_dir(), "mezhved development key")?;
    Ok(Credentials { key, notice })
}

/// The official's key for personal signatures (ЭП-СП), when configured.
pub fn personal_key(settings: &Settings) -> Result<Option<SigningKey>, CredentialsError> {
    let s = &settings.signing;
    if s.personal_key.is_empty() {
        return Ok(None);
    }
    let key = SigningKey::load(
        s.algorithm()?,
        Path::new(&s.personal_key),
        Path::new(&s.personal_certificate),
        std::env::var("MEZHVED_PERSONAL_KEY_PASSWORD")
            .ok()
            .as_deref(),
    )?;
    Ok(Some(key))
}

/// The certificates trusted to sign SMEV answers.
pub fn trust_store(settings: &Settings) -> Result<TrustStore, CredentialsError> {
    for p in &settings.smev.trust {
        if !p.exists() {
            return Err(CredentialsError::Trust(format!(
                "smev.trust: {} does not exist (for the built-in emulator, start `mezhved fixtures serve` once; \
                 for a real node, install the CA certificates of its environment)",
                p.display()
            )));
        }
    }
    let store = TrustStore::from_pem_files(&settings.smev.trust)?;
    if store.is_empty() {
        return Err(CredentialsError::Trust(
            "smev.trust lists no certificates: SMEV answers could not be verified".into(),
        ));
    }
    Ok(store)
}

/// Whether SMEV would accept signatures of this algorithm, for start-up lines.
pub fn describe(algorithm: SignatureAlgorithm) -> &'static str {
    if algorithm.accepted_by_smev() {
        "accepted by SMEV"
    } else {
        "development only, not accepted by SMEV"
    }
}
