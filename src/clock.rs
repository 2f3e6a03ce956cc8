//! Time as SMEV and the case files use it: Moscow time (UTC+3, no daylight
//! saving since 2014), RFC 3339 timestamps and ISO dates.

use time::format_description::well_known::Rfc3339;
use time::macros::{format_description, offset};
use time::{Date, OffsetDateTime, UtcOffset};

pub const MOSCOW: UtcOffset = offset!(+3);

pub fn now() -> OffsetDateTime {
    OffsetDateTime::now_utc().to_offset(MOSCOW)
}

pub fn moscow_today() -> Date {
    now().date()
}

/// `2026-11-23T15:04:05.123+03:00`.
pub fn rfc3339(t: OffsetDateTime) -> String {
    t.format(&Rfc3339)
        .expect("an OffsetDateTime always formats as RFC 3339")
}

pub fn parse_rfc3339(s: &str) -> Option<OffsetDateTime> {
    OffsetDateTime::parse(s, &Rfc3339).ok()
}

pub fn iso_date(d: Date) -> String {
    d.format(format_description!("[year]-[month]-[day]"))
        .expect("a Date always formats")
}

pub fn parse_iso_date(s: &str) -> Option<Date> {
    Date::parse(s, format_description!("[year]-[month]-[day]")).ok()
}

/// Serde for `Option<Date>` as `YYYY-MM-DD`.
pub mod opt_date {
    use serde::{Deserialize, Deserializer, Serializer};
    use time::Date;

    pub fn serialize<S: Serializer>(d: &Option<Date>, s: S) -> Result<S::Ok, S::Error> {
        match d {
            Some(d) => s.serialize_str(&super::iso_date(*d)),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Date>, D::Error> {
        let s: Option<String> = Option::deserialize(d)?;
        s.map(|s| {
            super::parse_iso_date(&s)
                .ok_or_else(|| serde::de::Error::custom(format!("not a date: {s}")))
        })
        .transpose()
    }
}

/// Serde for `OffsetDateTime` as RFC 3339.
pub mod timestamp {
    use serde::{Deserialize, Deserializer, Serializer};
    use time::OffsetDateTime;

    pub fn serialize<S: Serializer>(t: &OffsetDateTime, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&super::rfc3339(*t))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<OffsetDateTime, D::Error> {
        let s = String::deserialize(d)?;
        super::parse_rfc3339(&s)
            .ok_or_else(|| serde::de::Error::custom(format!("not an RFC 3339 timestamp: {s}")))
    }
}

/// Serde for `Option<OffsetDateTime>` as RFC 3339.
pub mod opt_timestamp {
    use serde::{Deserialize, Deserializer, Serializer};
    use time::OffsetDateTime;

    pub fn serialize<S: Serializer>(t: &Option<OffsetDateTime>, s: S) -> Result<S::Ok, S::Error> {
        match t {
            Some(t) => s.serialize_str(&super::rfc3339(*t)),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<OffsetDateTime>, D::Error> {
        let s: Option<String> = Option::deserialize(d)?;
        s.map(|s| {
            super::parse_rfc3339(&s)
                .ok_or_else(|| serde::de::Error::custom(format!("not a timestamp: {s}")))
        })
        .transpose()
    }
}
