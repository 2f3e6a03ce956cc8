//! Case numbers, which also name a directory of the case store.

use serde::Serialize;

/// The longest case id; ФНС carries it as `НомерДела` (string-50).
pub const MAX_LEN: usize = 50;

/// A case number that is safe as a single path component: letters (Latin
/// or Cyrillic), digits, `-`, `_` and `.`, starting with a letter or digit,
/// so `..`, hidden names, separators and control characters cannot occur.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct CaseId(String);

impl CaseId {
    pub fn parse(s: &str) -> Result<Self, String> {
        let count = s.chars().count();
        if count == 0 || count > MAX_LEN {
            return Err(format!(
                "a case id has 1 to {MAX_LEN} characters, got {count}"
            ));
        }
        let allowed = |c: char| {
            c.is_ascii_alphanumeric() || matches!(c, 'А'..='я' | 'Ё' | 'ё' | '-' | '_' | '.')
        };
        if let Some(bad) = s.chars().find(|c| !allowed(*c)) {
            return Err(format!(
                "character {bad:?} is not allowed in a case id (letters, digits, '-', '_' and '.' only; no '/')"
            ));
        }
        let first = s.chars().next().expect("non-empty");
        if !first.is_alphanumeric() {
            return Err("a case id starts with a letter or a digit".into());
        }
        Ok(CaseId(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for CaseId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_case_numbers() {
        for ok in ["LO-2026-000123", "МВ_17.3", "1", "Дело-5"] {
            assert!(CaseId::parse(ok).is_ok(), "{ok}");
        }
    }

    #[test]
    fn refuses_anything_that_could_escape() {
        for bad in [
            "",
            "..",
            ".",
            "../etc",
            "a/b",
            "a\\b",
            ".hidden",
            "-x",
            "a b",
            "a\0b",
            "a\nb",
            &"x".repeat(51),
        ] {
            assert!(CaseId::parse(bad).is_err(), "{bad:?}");
        }
    }
}
