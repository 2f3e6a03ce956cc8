//! `[adapter]`: the listener, the information systems allowed and how a
//! refusal is returned.

use serde::Deserialize;

use crate::config::ConfigError;

/// How `Find` returns a request that ended without business content.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Rejects {
    /// As business XML of mezhved's namespace inside `content`: what every
    /// client reads (adapter-client 3.1.0 crashes on `rejects`).
    Content,
    /// `rejects` / `ErrorMessage`, as the adapter's schema defines them.
    Official,
}

#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdapterSettings {
    pub listen: String,
    /// `MNEMONIC` or `MNEMONIC:SECRET`.
    pub it_systems: Vec<String>,
    pub rejects: Rejects,
}

impl std::fmt::Debug for AdapterSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AdapterSettings")
            .field("listen", &self.listen)
            .field(
                "it_systems",
                &self
                    .systems()
                    .iter()
                    .map(|s| s.mnemonic.as_str())
                    .collect::<Vec<_>>(),
            )
            .field("rejects", &self.rejects)
            .finish()
    }
}

/// One information system allowed to use the interface.
#[derive(Clone, PartialEq, Eq)]
pub struct ItSystem {
    pub mnemonic: String,
    /// The HTTP Basic password it must give, if any.
    pub secret: Option<String>,
}

/// The longest itSystem the adapter's schema allows (`string-50`).
const MNEMONIC_MAX: usize = 50;

impl AdapterSettings {
    pub fn enabled(&self) -> bool {
        !self.listen.is_empty()
    }

    /// The systems allowed, parsed (checked by [`AdapterSettings::check`]).
    pub fn systems(&self) -> Vec<ItSystem> {
        self.it_systems
            .iter()
            .map(|e| e.trim())
            .filter(|e| !e.is_empty())
            .map(|e| match e.split_once(':') {
                Some((m, s)) => ItSystem {
                    mnemonic: m.trim().to_owned(),
                    secret: Some(s.to_owned()),
                },
                None => ItSystem {
                    mnemonic: e.to_owned(),
                    secret: None,
                },
            })
            .collect()
    }

    /// Whether the listener is reachable from this host only.
    pub fn is_loopback(&self) -> bool {
        self.listen
            .parse::<std::net::SocketAddr>()
            .map(|a| a.ip().is_loopback())
            .unwrap_or_else(|_| self.listen.starts_with("localhost:"))
    }

    pub(crate) fn check(&self) -> Result<(), ConfigError> {
        if !self.enabled() {
            return Ok(());
        }
        let bad = |m: String| Err(ConfigError::Invalid(m));
        if self
            .listen
            .rsplit_once(':')
            .is_none_or(|(_, p)| p.parse::<u16>().is_err())
        {
            return bad(format!(
                "adapter.listen {:?} is not host:port (or empty to turn the adapter interface off)",
                self.listen
            ));
        }
        let systems = self.systems();
        if systems.is_empty() {
            return bad("adapter.it_systems is empty: name the information systems (itSystem mnemonics) allowed to use the adapter interface".into());
        }
        for (i, s) in systems.iter().enumerate() {
            let ok = !s.mnemonic.is_empty()
                && s.mnemonic.chars().count() <= MNEMONIC_MAX
                && s.mnemonic
                    .chars()
                    .all(|c| !c.is_control() && !c.is_whitespace());
            if !ok {
                return bad(format!(
                    "adapter.it_systems: {:?} is not an itSystem mnemonic (1 to {MNEMONIC_MAX} characters, no spaces)",
                    s.mnemonic
                ));
            }
            if systems[..i].iter().any(|o| o.mnemonic == s.mnemonic) {
                return bad(format!("adapter.it_systems names {} twice", s.mnemonic));
            }
            match &s.secret {
                Some(secret) if secret.len() < 16 => {
                    return bad(format!(
                        "adapter.it_systems: the secret of {} must be at least 16 characters",
                        s.mnemonic
                    ));
                }
                None if !self.is_loopback() => {
                    return bad(format!(
                        "adapter.listen {} is reachable from other hosts: give {} a secret (\"{}:SECRET\" in adapter.it_systems), which its case system puts in the adapter URL",
                        self.listen, s.mnemonic, s.mnemonic
                    ));
                }
                _ => {}
            }
        }
        Ok(())
    }
}
