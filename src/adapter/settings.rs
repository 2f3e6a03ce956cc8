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
            // It also names a directory of the case store's index.
            let ok = !s.mnemonic.is_empty()
                && s.mnemonic.len() <= MNEMONIC_MAX
                && !s.mnemonic.starts_with('.')
                && s.mnemonic
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
            if !ok {
                return bad(format!(
                    "adapter.it_systems: {:?} is not an itSystem mnemonic (1 to {MNEMONIC_MAX} Latin letters, digits, '-', '_' or '.', not starting with '.')",
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

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(listen: &str, systems: &[&str]) -> AdapterSettings {
        AdapterSettings {
            listen: listen.into(),
            it_systems: systems.iter().map(|s| s.to_string()).collect(),
            rejects: Rejects::Content,
        }
    }

    #[test]
    fn systems_and_their_secrets_are_checked() {
        assert!(settings("", &[]).check().is_ok(), "off needs nothing");
        assert!(settings("127.0.0.1:8080", &["MNSV03"]).check().is_ok());
        let e = |s: AdapterSettings| {
            let shown = format!("{s:?}");
            s.check().expect_err(&shown).to_string()
        };
        assert!(e(settings("127.0.0.1:8080", &[])).contains("it_systems is empty"));
        assert!(e(settings("0.0.0.0:8080", &["MNSV03"])).contains("give MNSV03 a secret"));
        assert!(
            settings("0.0.0.0:8080", &["MNSV03:0123456789abcdef"])
                .check()
                .is_ok()
        );
        assert!(e(settings("127.0.0.1:8080", &["MNSV03:short"])).contains("at least 16"));
        assert!(e(settings("127.0.0.1:8080", &["../x"])).contains("not an itSystem"));
        assert!(e(settings("127.0.0.1:8080", &["A", "A"])).contains("twice"));
        assert!(e(settings("8080", &["A"])).contains("host:port"));
        let s = settings("127.0.0.1:1", &["A:0123456789abcdef"]);
        assert!(
            !format!("{s:?}").contains("0123456789abcdef"),
            "secrets are not printed"
        );
    }
}
