//! Russian registration identifiers, each parsed once with its check digits.
//!
//! ИНН (taxpayer number, 10 digits for organisations, 12 for people and
//! entrepreneurs), ОГРН (primary state registration number of a legal
//! entity), ОГРНИП (the same for an entrepreneur), СНИЛС (pension insurance
//! number) and КПП (tax registration reason code).

use std::fmt;

/// Why an identifier was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdentError {
    pub check_digit: bool,
    pub message: String,
}

impl IdentError {
    fn format(message: impl Into<String>) -> Self {
        IdentError {
            check_digit: false,
            message: message.into(),
        }
    }
    fn checksum(message: impl Into<String>) -> Self {
        IdentError {
            check_digit: true,
            message: message.into(),
        }
    }
}

fn digits(s: &str, len: usize, what: &str) -> Result<Vec<u32>, IdentError> {
    if s.len() != len || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(IdentError::format(format!(
            "{what} must be exactly {len} digits, got {s:?}"
        )));
    }
    Ok(s.bytes().map(|b| u32::from(b - b'0')).collect())
}

fn weighted(d: &[u32], weights: &[u32]) -> u32 {
    d.iter().zip(weights).map(|(a, b)| a * b).sum::<u32>() % 11 % 10
}

/// ИНН: 10 digits (organisation) or 12 digits (individual).
#[derive(Clone, Debug, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(transparent)]
pub struct Inn(String);

impl Inn {
    pub fn parse(s: &str) -> Result<Self, IdentError> {
        match s.len() {
            10 => Self::parse_legal(s),
            12 => Self::parse_individual(s),
            _ => Err(IdentError::format(format!(
                "ИНН must have 10 digits (organisation) or 12 digits (individual), got {s:?}"
            ))),
        }
    }

    /// A 10-digit ИНН of an organisation.
    pub fn parse_legal(s: &str) -> Result<Self, IdentError> {
        let d = digits(s, 10, "ИНН of an organisation")?;
        if d[0] == 0 && d[1] == 0 {
            return Err(IdentError::format("ИНН cannot start with 00"));
        }
        let n10 = weighted(&d[..9], &[2, 4, 10, 3, 5, 9, 4, 6, 8]);
        if n10 != d[9] {
            return Err(IdentError::checksum(format!(
                "ИНН {s} fails its check digit (expected {n10})"
            )));
        }
        Ok(Inn(s.to_owned()))
    }

    /// A 12-digit ИНН of an individual or entrepreneur.
    pub fn parse_individual(s: &str) -> Result<Self, IdentError> {
        let d = digits(s, 12, "ИНН of an individual")?;
        if d[0] == 0 && d[1] == 0 {
            return Err(IdentError::format("ИНН cannot start with 00"));
        }
        let n11 = weighted(&d[..10], &[7, 2, 4, 10, 3, 5, 9, 4, 6, 8]);
        let n12 = weighted(&d[..11], &[3, 7, 2, 4, 10, 3, 5, 9, 4, 6, 8]);
        if n11 != d[10] || n12 != d[11] {
            return Err(IdentError::checksum(format!(
                "ИНН {s} fails its check digits (expected {n11}{n12})"
            )));
        }
        Ok(Inn(s.to_owned()))
    }

    pub fn is_legal(&self) -> bool {
        self.0.len() == 10
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// ОГРН of a legal entity: 13 digits, first digit 1 or 5.
#[derive(Clone, Debug, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(transparent)]
pub struct Ogrn(String);

impl Ogrn {
    pub fn parse(s: &str) -> Result<Self, IdentError> {
        let d = digits(s, 13, "ОГРН")?;
        if d[0] != 1 && d[0] != 5 {
            return Err(IdentError::format(format!(
                "ОГРН of a legal entity starts with 1 or 5, got {s:?}"
            )));
        }
        let head: u64 = s[..12].parse().expect("12 ASCII digits fit in u64");
        let check = (head % 11 % 10) as u32;
        if check != d[12] {
            return Err(IdentError::checksum(format!(
                "ОГРН {s} fails its check digit (expected {check})"
            )));
        }
        Ok(Ogrn(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// ОГРНИП of an individual entrepreneur: 15 digits, first digit 3.
#[derive(Clone, Debug, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(transparent)]
pub struct Ogrnip(String);

impl Ogrnip {
    pub fn parse(s: &str) -> Result<Self, IdentError> {
        let d = digits(s, 15, "ОГРНИП")?;
        if d[0] != 3 {
            return Err(IdentError::format(format!(
                "ОГРНИП starts with 3, got {s:?}"
            )));
        }
        let head: u64 = s[..14].parse().expect("14 ASCII digits fit in u64");
        let check = (head % 13 % 10) as u32;
        if check != d[14] {
            return Err(IdentError::checksum(format!(
                "ОГРНИП {s} fails its check digit (expected {check})"
            )));
        }
        Ok(Ogrnip(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// СНИЛС: 11 digits, written `123-456-789 01` or plain; kept as digits.
#[derive(Clone, Debug, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(transparent)]
pub struct Snils(String);

impl Snils {
    pub fn parse(s: &str) -> Result<Self, IdentError> {
        let plain: String = s.chars().filter(|c| *c != '-' && *c != ' ').collect();
        let d = digits(&plain, 11, "СНИЛС")?;
        let number: u64 = plain[..9].parse().expect("9 ASCII digits fit in u64");
        // The control number is defined only above 001-001-998.
        if number > 1_001_998 {
            let sum: u32 = d[..9].iter().zip((1..=9).rev()).map(|(a, w)| a * w).sum();
            let check = match sum {
                0..=99 => sum,
                100 | 101 => 0,
                _ => match sum % 101 {
                    100 => 0,
                    r => r,
                },
            };
            if check != d[9] * 10 + d[10] {
                return Err(IdentError::checksum(format!(
                    "СНИЛС {s} fails its control number (expected {check:02})"
                )));
            }
        }
        Ok(Snils(plain))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// КПП: 9 characters per the ФНС pattern: 4 digits (not starting with 00),
/// 2 digits or letters `A`–`F`, 3 digits.
#[derive(Clone, Debug, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(transparent)]
pub struct Kpp(String);

impl Kpp {
    pub fn parse(s: &str) -> Result<Self, IdentError> {
        let b = s.as_bytes();
        let ok = b.len() == 9
            && b[..4].iter().all(u8::is_ascii_digit)
            && !(b[0] == b'0' && b[1] == b'0')
            && b[4..6]
                .iter()
                .all(|c| c.is_ascii_digit() || (b'A'..=b'F').contains(c))
            && b[6..].iter().all(u8::is_ascii_digit);
        if !ok {
            return Err(IdentError::format(format!(
                "КПП must be 9 characters (4 digits not starting with 00, 2 digits or letters A-F, 3 digits), got {s:?}"
            )));
        }
        Ok(Kpp(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Identifiers with valid check digits from a number, for load runs and
/// tests: the same `n` always gives the same identifier, different `n`
/// different ones. The region part is 99, which the fixture data never uses.
pub mod synthetic {
    use super::{Inn, Ogrn, Ogrnip, Snils, weighted};

    fn digits(head: &str) -> Vec<u32> {
        head.bytes().map(|b| u32::from(b - b'0')).collect()
    }

    /// A 10-digit ИНН of an organisation.
    pub fn inn_legal(n: u64) -> Inn {
        let head = format!("99{:07}", n % 10_000_000);
        let check = weighted(&digits(&head), &[2, 4, 10, 3, 5, 9, 4, 6, 8]);
        Inn(format!("{head}{check}"))
    }

    /// A 12-digit ИНН of an individual.
    pub fn inn_individual(n: u64) -> Inn {
        let mut head = format!("99{:08}", n % 100_000_000);
        let n11 = weighted(&digits(&head), &[7, 2, 4, 10, 3, 5, 9, 4, 6, 8]);
        head.push(char::from(b'0' + n11 as u8));
        let n12 = weighted(&digits(&head), &[3, 7, 2, 4, 10, 3, 5, 9, 4, 6, 8]);
        Inn(format!("{head}{n12}"))
    }

    /// An ОГРН of a legal entity.
    pub fn ogrn(n: u64) -> Ogrn {
        let head = format!("10299{:07}", n % 10_000_000);
        let check = head.parse::<u64>().expect("digits") % 11 % 10;
        Ogrn(format!("{head}{check}"))
    }

    /// An ОГРНИП of an entrepreneur.
    pub fn ogrnip(n: u64) -> Ogrnip {
        let head = format!("3049900{:07}", n % 10_000_000);
        let check = head.parse::<u64>().expect("digits") % 13 % 10;
        Ogrnip(format!("{head}{check}"))
    }

    /// A СНИЛС (above 001-001-998, so its control number counts).
    pub fn snils(n: u64) -> Snils {
        let head = format!("9{:08}", n % 100_000_000);
        let sum: u32 = digits(&head)
            .iter()
            .zip((1..=9).rev())
            .map(|(a, w)| a * w)
            .sum();
        let check = match sum {
            0..=99 => sum,
            100 | 101 => 0,
            _ => match sum % 101 {
                100 => 0,
                r => r,
            },
        };
        Snils(format!("{head}{check:02}"))
    }
}

macro_rules! display_as_str {
    ($($t:ty),*) => {$(
        impl fmt::Display for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    )*};
}
display_as_str!(Inn, Ogrn, Ogrnip, Snils, Kpp);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inn_vectors() {
        for ok in [
            "7707083893",
            "7830002293",
            "7730592673",
            "5257045651",
            "500100732259",
        ] {
            assert!(Inn::parse(ok).is_ok(), "{ok}");
        }
        for bad in [
            "7707083894",
            "1111111111",
            "1234567890",
            "123456789012",
            "0000000000",
            "77070838",
            "77070838a3",
        ] {
            assert!(Inn::parse(bad).is_err(), "{bad}");
        }
        assert!(Inn::parse("7707083894").unwrap_err().check_digit);
    }

    #[test]
    fn ogrn_and_ogrnip_vectors() {
        for ok in ["1027700132195", "1027700070518", "5087746429843"] {
            assert!(Ogrn::parse(ok).is_ok(), "{ok}");
        }
        for bad in ["3123116900000", "1234567890123", "1027700132196"] {
            assert!(Ogrn::parse(bad).is_err(), "{bad}");
        }
        assert!(Ogrnip::parse("304500116000157").is_ok());
        assert!(Ogrnip::parse("304500116000158").unwrap_err().check_digit);
    }

    #[test]
    fn snils_vectors() {
        assert_eq!(
            Snils::parse("112-233-445 95").unwrap().as_str(),
            "11223344595"
        );
        assert!(Snils::parse("11223344596").unwrap_err().check_digit);
        assert!(Snils::parse("1122334459").is_err());
    }

    #[test]
    fn synthetic_identifiers_pass_their_own_checks() {
        for n in [0, 1, 7, 4_321, 9_999_999, 123_456_789_012] {
            let i = synthetic::inn_legal(n);
            assert!(Inn::parse_legal(i.as_str()).is_ok(), "{i}");
            let i = synthetic::inn_individual(n);
            assert!(Inn::parse_individual(i.as_str()).is_ok(), "{i}");
            let o = synthetic::ogrn(n);
            assert!(Ogrn::parse(o.as_str()).is_ok(), "{o}");
            let o = synthetic::ogrnip(n);
            assert!(Ogrnip::parse(o.as_str()).is_ok(), "{o}");
            let s = synthetic::snils(n);
            assert!(Snils::parse(s.as_str()).is_ok(), "{s}");
        }
        assert_ne!(synthetic::inn_legal(1), synthetic::inn_legal(2));
    }

    #[test]
    fn kpp_pattern() {
        assert!(Kpp::parse("773601001").is_ok());
        assert!(Kpp::parse("7736AB001").is_ok());
        assert!(Kpp::parse("7736AZ001").is_err());
        assert!(Kpp::parse("003601001").is_err());
        assert!(Kpp::parse("77360100").is_err());
        assert!(Kpp::parse("7736ab001").is_err());
    }
}
