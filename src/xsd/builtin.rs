//! The built-in simple types of XML Schema 1.0: their lexical spaces, and the
//! value spaces the facets compare in (numbers exactly, dates and times on
//! one time line).

use std::cmp::Ordering;

use super::components::WhiteSpace;

/// Every built-in simple type (and `anySimpleType`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Builtin {
    AnySimpleType,
    String,
    NormalizedString,
    Token,
    Language,
    NmToken,
    NmTokens,
    Name,
    NcName,
    Id,
    IdRef,
    IdRefs,
    Entity,
    Entities,
    Boolean,
    Decimal,
    Integer,
    NonPositiveInteger,
    NegativeInteger,
    Long,
    Int,
    Short,
    Byte,
    NonNegativeInteger,
    UnsignedLong,
    UnsignedInt,
    UnsignedShort,
    UnsignedByte,
    PositiveInteger,
    Float,
    Double,
    Duration,
    DateTime,
    Time,
    Date,
    GYearMonth,
    GYear,
    GMonthDay,
    GDay,
    GMonth,
    HexBinary,
    Base64Binary,
    AnyUri,
    QName,
    Notation,
}

/// The primitive a built-in belongs to: decides how values compare.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Primitive {
    String,
    Boolean,
    Decimal,
    Float,
    Duration,
    Time,
    HexBinary,
    Base64Binary,
    QName,
}

use Builtin::*;

/// (local name, type, base) in the order they must be created: each base
/// before the types derived from it.
pub(crate) const ALL: &[(&str, Builtin, Option<Builtin>)] = &[
    ("anySimpleType", AnySimpleType, None),
    ("string", String, Some(AnySimpleType)),
    ("normalizedString", NormalizedString, Some(String)),
    ("token", Token, Some(NormalizedString)),
    ("language", Language, Some(Token)),
    ("NMTOKEN", NmToken, Some(Token)),
    ("NMTOKENS", NmTokens, Some(AnySimpleType)),
    ("Name", Name, Some(Token)),
    ("NCName", NcName, Some(Name)),
    ("ID", Id, Some(NcName)),
    ("IDREF", IdRef, Some(NcName)),
    ("IDREFS", IdRefs, Some(AnySimpleType)),
    ("ENTITY", Entity, Some(NcName)),
    ("ENTITIES", Entities, Some(AnySimpleType)),
    ("boolean", Boolean, Some(AnySimpleType)),
    ("decimal", Decimal, Some(AnySimpleType)),
    ("integer", Integer, Some(Decimal)),
    ("nonPositiveInteger", NonPositiveInteger, Some(Integer)),
    ("negativeInteger", NegativeInteger, Some(NonPositiveInteger)),
    ("long", Long, Some(Integer)),
    ("int", Int, Some(Long)),
    ("short", Short, Some(Int)),
    ("byte", Byte, Some(Short)),
    ("nonNegativeInteger", NonNegativeInteger, Some(Integer)),
    ("unsignedLong", UnsignedLong, Some(NonNegativeInteger)),
    ("unsignedInt", UnsignedInt, Some(UnsignedLong)),
    ("unsignedShort", UnsignedShort, Some(UnsignedInt)),
    ("unsignedByte", UnsignedByte, Some(UnsignedShort)),
    ("positiveInteger", PositiveInteger, Some(NonNegativeInteger)),
    ("float", Float, Some(AnySimpleType)),
    ("double", Double, Some(AnySimpleType)),
    ("duration", Duration, Some(AnySimpleType)),
    ("dateTime", DateTime, Some(AnySimpleType)),
    ("time", Time, Some(AnySimpleType)),
    ("date", Date, Some(AnySimpleType)),
    ("gYearMonth", GYearMonth, Some(AnySimpleType)),
    ("gYear", GYear, Some(AnySimpleType)),
    ("gMonthDay", GMonthDay, Some(AnySimpleType)),
    ("gDay", GDay, Some(AnySimpleType)),
    ("gMonth", GMonth, Some(AnySimpleType)),
    ("hexBinary", HexBinary, Some(AnySimpleType)),
    ("base64Binary", Base64Binary, Some(AnySimpleType)),
    ("anyURI", AnyUri, Some(AnySimpleType)),
    ("QName", QName, Some(AnySimpleType)),
    ("NOTATION", Notation, Some(AnySimpleType)),
];

impl Builtin {
    pub fn name(self) -> &'static str {
        ALL.iter()
            .find(|(_, b, _)| *b == self)
            .map(|(n, _, _)| *n)
            .unwrap_or("anySimpleType")
    }

    pub fn whitespace(self) -> WhiteSpace {
        match self {
            AnySimpleType | String => WhiteSpace::Preserve,
            NormalizedString => WhiteSpace::Replace,
            _ => WhiteSpace::Collapse,
        }
    }

    pub fn primitive(self) -> Primitive {
        match self {
            Boolean => Primitive::Boolean,
            Decimal | Integer | NonPositiveInteger | NegativeInteger | Long | Int | Short
            | Byte | NonNegativeInteger | UnsignedLong | UnsignedInt | UnsignedShort
            | UnsignedByte | PositiveInteger => Primitive::Decimal,
            Float | Double => Primitive::Float,
            Duration => Primitive::Duration,
            DateTime | Time | Date | GYearMonth | GYear | GMonthDay | GDay | GMonth => {
                Primitive::Time
            }
            HexBinary => Primitive::HexBinary,
            Base64Binary => Primitive::Base64Binary,
            QName | Notation => Primitive::QName,
            _ => Primitive::String,
        }
    }

    /// The item type of the built-in list types.
    pub fn list_item(self) -> Option<Builtin> {
        match self {
            NmTokens => Some(NmToken),
            IdRefs => Some(IdRef),
            Entities => Some(Entity),
            _ => None,
        }
    }

    /// Checks `v` (already whitespace-normalised) against the lexical space;
    /// the error says what the value should look like.
    pub fn check(self, v: &str) -> Result<(), std::string::String> {
        let ok = match self {
            AnySimpleType | String | NormalizedString | Token => true,
            Language => is_language(v),
            NmToken => !v.is_empty() && v.chars().all(is_name_char),
            Name => is_name(v),
            NcName | Id | IdRef | Entity => is_ncname(v),
            NmTokens | IdRefs | Entities => {
                let item = self.list_item().unwrap_or(NmToken);
                let mut n = 0;
                for part in v.split(' ').filter(|p| !p.is_empty()) {
                    item.check(part)?;
                    n += 1;
                }
                n > 0
            }
            Boolean => matches!(v, "true" | "false" | "1" | "0"),
            Decimal => Dec::parse(v).is_some(),
            Float | Double => parse_float(v).is_some(),
            Duration => parse_duration(v).is_some(),
            DateTime | Time | Date | GYearMonth | GYear | GMonthDay | GDay | GMonth => {
                parse_time(self, v).is_some()
            }
            HexBinary => v.len().is_multiple_of(2) && v.bytes().all(|b| b.is_ascii_hexdigit()),
            Base64Binary => base64_len(v).is_some(),
            AnyUri => is_any_uri(v),
            QName | Notation => is_qname(v),
            _ => return self.check_integer(v),
        };
        if ok {
            Ok(())
        } else {
            Err(format!("is not a valid xs:{}", self.name()))
        }
    }

    fn check_integer(self, v: &str) -> Result<(), std::string::String> {
        let bad = || format!("is not a valid xs:{}", self.name());
        let d = Dec::parse_integer(v).ok_or_else(bad)?;
        let (min, max): (Option<&str>, Option<&str>) = match self {
            Integer => (None, None),
            NonPositiveInteger => (None, Some("0")),
            NegativeInteger => (None, Some("-1")),
            Long => (Some("-9223372036854775808"), Some("9223372036854775807")),
            Int => (Some("-2147483648"), Some("2147483647")),
            Short => (Some("-32768"), Some("32767")),
            Byte => (Some("-128"), Some("127")),
            NonNegativeInteger => (Some("0"), None),
            UnsignedLong => (Some("0"), Some("18446744073709551615")),
            UnsignedInt => (Some("0"), Some("4294967295")),
            UnsignedShort => (Some("0"), Some("65535")),
            UnsignedByte => (Some("0"), Some("255")),
            PositiveInteger => (Some("1"), None),
            _ => (None, None),
        };
        let below = min
            .and_then(Dec::parse)
            .is_some_and(|m| d.cmp(&m) == Ordering::Less);
        let above = max
            .and_then(Dec::parse)
            .is_some_and(|m| d.cmp(&m) == Ordering::Greater);
        if below || above {
            let range = match (min, max) {
                (Some(a), Some(b)) => format!("{a} to {b}"),
                (Some(a), None) => format!("at least {a}"),
                (None, Some(b)) => format!("at most {b}"),
                (None, None) => std::string::String::new(),
            };
            return Err(format!(
                "is out of the range of xs:{} ({range})",
                self.name()
            ));
        }
        Ok(())
    }
}

/// A decimal number, exactly: sign, integer digits without leading zeros,
/// fraction digits without trailing zeros.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Dec {
    negative: bool,
    int: std::string::String,
    frac: std::string::String,
}

impl Dec {
    pub fn parse(v: &str) -> Option<Dec> {
        let (negative, body) = match v.as_bytes().first()? {
            b'-' => (true, &v[1..]),
            b'+' => (false, &v[1..]),
            _ => (false, v),
        };
        let (int, frac) = match body.split_once('.') {
            Some((i, f)) => (i, f),
            None => (body, ""),
        };
        if int.is_empty() && frac.is_empty() {
            return None;
        }
        if !int.bytes().all(|b| b.is_ascii_digit()) || !frac.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let int = int.trim_start_matches('0').to_owned();
        let frac = frac.trim_end_matches('0').to_owned();
        let zero = int.is_empty() && frac.is_empty();
        Some(Dec {
            negative: negative && !zero,
            int,
            frac,
        })
    }

    pub fn parse_integer(v: &str) -> Option<Dec> {
        let body = v.strip_prefix(['-', '+']).unwrap_or(v);
        if body.is_empty() || !body.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        Dec::parse(v)
    }

    /// Significant digits in all (`totalDigits`).
    pub fn total_digits(&self) -> usize {
        (self.int.len() + self.frac.len()).max(1)
    }

    pub fn fraction_digits(&self) -> usize {
        self.frac.len()
    }

    fn cmp_magnitude(&self, other: &Dec) -> Ordering {
        self.int
            .len()
            .cmp(&other.int.len())
            .then_with(|| self.int.cmp(&other.int))
            .then_with(|| self.frac.cmp(&other.frac))
    }
}

impl Ord for Dec {
    fn cmp(&self, other: &Dec) -> Ordering {
        match (self.negative, other.negative) {
            (false, true) => Ordering::Greater,
            (true, false) => Ordering::Less,
            (false, false) => self.cmp_magnitude(other),
            (true, true) => other.cmp_magnitude(self),
        }
    }
}

impl PartialOrd for Dec {
    fn partial_cmp(&self, other: &Dec) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// `xs:float` / `xs:double`: decimal or exponent notation, `INF`, `-INF`,
/// `NaN` (XSD 1.0 has no `+INF`).
pub(crate) fn parse_float(v: &str) -> Option<f64> {
    match v {
        "INF" => return Some(f64::INFINITY),
        "-INF" => return Some(f64::NEG_INFINITY),
        "NaN" => return Some(f64::NAN),
        _ => {}
    }
    let (mantissa, exp) = match v.find(['e', 'E']) {
        Some(i) => (&v[..i], Some(&v[i + 1..])),
        None => (v, None),
    };
    Dec::parse(mantissa)?;
    if let Some(e) = exp {
        let digits = e.strip_prefix(['-', '+']).unwrap_or(e);
        if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
    }
    v.parse::<f64>().ok()
}

/// A duration as (months, seconds): only totally ordered when one part is
/// zero in both, which is all the facets of real schemas need.
pub(crate) fn parse_duration(v: &str) -> Option<(i64, f64)> {
    let (neg, rest) = match v.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, v),
    };
    let rest = rest.strip_prefix('P')?;
    let (date, time) = match rest.split_once('T') {
        Some((d, t)) => (d, Some(t)),
        None => (rest, None),
    };
    let (mut months, mut seconds, date_parts) = duration_parts(
        date,
        &[('Y', 12.0, true), ('M', 1.0, true), ('D', 86400.0, false)],
        false,
    )?;
    let mut parts = date_parts;
    if let Some(t) = time {
        let (m, s, n) = duration_parts(
            t,
            &[('H', 3600.0, false), ('M', 60.0, false), ('S', 1.0, false)],
            true,
        )?;
        // "T" must be followed by at least one time part.
        if n == 0 {
            return None;
        }
        months += m;
        seconds += s;
        parts += n;
    }
    if parts == 0 {
        return None;
    }
    Some(if neg {
        (-months, -seconds)
    } else {
        (months, seconds)
    })
}

/// The `nY nM nD` or `nH nM nS` parts of a duration, in this order, each at
/// most once: (months, seconds, how many parts).
fn duration_parts(
    s: &str,
    units: &[(char, f64, bool)],
    seconds_may_have_fraction: bool,
) -> Option<(i64, f64, usize)> {
    let (mut months, mut seconds, mut count) = (0i64, 0f64, 0usize);
    let mut cur = s;
    let mut next_unit = 0usize;
    while !cur.is_empty() {
        let end = cur.find(|c: char| !(c.is_ascii_digit() || c == '.'))?;
        let (num, tail) = cur.split_at(end);
        let unit = tail.chars().next()?;
        let idx = units.iter().position(|(u, _, _)| *u == unit)?;
        if idx < next_unit || num.is_empty() {
            return None;
        }
        next_unit = idx + 1;
        if num.contains('.') {
            let last = idx == units.len() - 1;
            if !(seconds_may_have_fraction && last)
                || num.starts_with('.')
                || num.ends_with('.')
                || num.matches('.').count() > 1
            {
                return None;
            }
        }
        let n: f64 = num.parse().ok()?;
        let (_, factor, is_month) = units[idx];
        if is_month {
            months = months.checked_add((n * factor) as i64)?;
        } else {
            seconds += n * factor;
        }
        count += 1;
        cur = &tail[unit.len_utf8()..];
    }
    Some((months, seconds, count))
}

/// A date/time value on one time line: seconds from year 0 (UTC when the
/// value has a time zone) and the fraction, for comparison and equality.
#[derive(Clone, Copy, Debug, PartialEq, PartialOrd)]
pub(crate) struct Instant {
    pub seconds: i128,
    pub nanos: u32,
}

/// Parses any of the eight date/time types; `None` when not in its lexical
/// space (including impossible dates such as 2023-02-29).
pub(crate) fn parse_time(kind: Builtin, v: &str) -> Option<Instant> {
    let (body, tz_minutes) = split_timezone(v)?;
    let (mut year, mut month, mut day) = (2000i64, 1u32, 1u32);
    let (mut hour, mut minute, mut second, mut nanos) = (0u32, 0u32, 0u32, 0u32);
    let parse_year = |s: &str| -> Option<i64> {
        let (neg, digits) = match s.strip_prefix('-') {
            Some(d) => (true, d),
            None => (false, s),
        };
        if digits.len() < 4
            || (digits.len() > 4 && digits.starts_with('0'))
            || !digits.bytes().all(|b| b.is_ascii_digit())
        {
            return None;
        }
        let y: i64 = digits.parse().ok()?;
        if y == 0 {
            return None;
        }
        Some(if neg { -y } else { y })
    };
    let two = |s: &str| -> Option<u32> {
        if s.len() == 2 && s.bytes().all(|b| b.is_ascii_digit()) {
            s.parse().ok()
        } else {
            None
        }
    };
    let parse_clock = |s: &str| -> Option<(u32, u32, u32, u32)> {
        let mut parts = s.splitn(3, ':');
        let h = two(parts.next()?)?;
        let m = two(parts.next()?)?;
        let sec = parts.next()?;
        let (whole, frac) = match sec.split_once('.') {
            Some((w, f)) => {
                if f.is_empty() || !f.bytes().all(|b| b.is_ascii_digit()) {
                    return None;
                }
                (w, f)
            }
            None => (sec, ""),
        };
        let s = two(whole)?;
        let mut n: u32 = 0;
        for (i, b) in frac.bytes().take(9).enumerate() {
            n += u32::from(b - b'0') * 10u32.pow(8 - i as u32);
        }
        if m > 59 || s > 59 || h > 24 || (h == 24 && (m != 0 || s != 0 || n != 0)) {
            return None;
        }
        Some((h, m, s, n))
    };
    // The year may be negative, so split date parts from the right.
    let date_parts = |s: &str, n: usize| -> Option<Vec<std::string::String>> {
        let (neg, body) = match s.strip_prefix('-') {
            Some(b) => (true, b),
            None => (false, s),
        };
        let parts: Vec<&str> = body.split('-').collect();
        if parts.len() != n {
            return None;
        }
        let mut out: Vec<std::string::String> = parts.iter().map(|p| (*p).to_owned()).collect();
        if neg {
            out[0] = format!("-{}", out[0]);
        }
        Some(out)
    };
    match kind {
        DateTime => {
            let (d, t) = body.split_once('T')?;
            let p = date_parts(d, 3)?;
            year = parse_year(&p[0])?;
            month = two(&p[1])?;
            day = two(&p[2])?;
            (hour, minute, second, nanos) = parse_clock(t)?;
        }
        Date => {
            let p = date_parts(body, 3)?;
            year = parse_year(&p[0])?;
            month = two(&p[1])?;
            day = two(&p[2])?;
        }
        Time => (hour, minute, second, nanos) = parse_clock(body)?,
        GYearMonth => {
            let p = date_parts(body, 2)?;
            year = parse_year(&p[0])?;
            month = two(&p[1])?;
        }
        GYear => year = parse_year(body)?,
        GMonthDay => {
            let r = body.strip_prefix("--")?;
            let (m, d) = r.split_once('-')?;
            month = two(m)?;
            day = two(d)?;
        }
        GDay => day = two(body.strip_prefix("---")?)?,
        GMonth => month = two(body.strip_prefix("--")?)?,
        _ => return None,
    }
    if !(1..=12).contains(&month) || day < 1 || day > days_in_month(year, month) {
        return None;
    }
    let days = days_from_civil(year, month, day);
    let mut seconds = i128::from(days) * 86400
        + i128::from(hour) * 3600
        + i128::from(minute) * 60
        + i128::from(second);
    if let Some(tz) = tz_minutes {
        seconds -= i128::from(tz) * 60;
    }
    Some(Instant { seconds, nanos })
}

/// Splits an optional `Z` / `±hh:mm` time zone off the end.
fn split_timezone(v: &str) -> Option<(&str, Option<i32>)> {
    if let Some(body) = v.strip_suffix('Z') {
        return Some((body, Some(0)));
    }
    if v.len() > 6 && v.is_char_boundary(v.len() - 6) {
        let (body, tz) = v.split_at(v.len() - 6);
        let b = tz.as_bytes();
        // A date ends in "-dd-dd"-like parts too: only a sign, two digits
        // and a colon make a time zone.
        if (b[0] == b'+' || b[0] == b'-') && b[3] == b':' {
            let h: i32 = tz.get(1..3)?.parse().ok()?;
            let m: i32 = tz.get(4..6)?.parse().ok()?;
            if !tz[1..3].bytes().all(|c| c.is_ascii_digit())
                || !tz[4..6].bytes().all(|c| c.is_ascii_digit())
                || m > 59
                || h > 14
                || (h == 14 && m != 0)
            {
                return None;
            }
            let total = h * 60 + m;
            return Some((body, Some(if b[0] == b'-' { -total } else { total })));
        }
    }
    Some((v, None))
}

fn is_leap(y: i64) -> bool {
    // XSD 1.0 counts year -1 as 1 BCE; leap years follow the proleptic
    // Gregorian rule on the astronomical year (y+1 for negative years).
    let y = if y < 0 { y + 1 } else { y };
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

fn days_in_month(y: i64, m: u32) -> u32 {
    match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if is_leap(y) => 29,
        2 => 28,
        _ => 0,
    }
}

/// Days from 0000-03-01 style civil epoch (any fixed origin will do for
/// comparisons).
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if y < 0 { y + 1 } else { y };
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe
}

/// Octets in a `xs:base64Binary` value, `None` when malformed.
pub(crate) fn base64_len(v: &str) -> Option<usize> {
    let chars: Vec<u8> = v.bytes().filter(|b| *b != b' ').collect();
    if !chars.len().is_multiple_of(4) {
        return None;
    }
    let pad = chars.iter().rev().take_while(|b| **b == b'=').count();
    if pad > 2 {
        return None;
    }
    let data = &chars[..chars.len() - pad];
    if !data
        .iter()
        .all(|b| b.is_ascii_alphanumeric() || *b == b'+' || *b == b'/')
    {
        return None;
    }
    // The last character before padding must leave the unused bits zero.
    if let Some(last) = data.last() {
        let allowed: &[u8] = match pad {
            2 => b"AQgw",
            1 => b"AEIMQUYcgkosw048",
            _ => b"",
        };
        if pad > 0 && !allowed.contains(last) {
            return None;
        }
    }
    Some(chars.len() / 4 * 3 - pad)
}

/// `xs:anyURI`: XSD 1.0 leaves the lexical space loose; what no URI
/// reference can contain after escaping is refused.
fn is_any_uri(v: &str) -> bool {
    let mut chars = v.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '%' {
            let a = chars.next();
            let b = chars.next();
            if !(a.is_some_and(|c| c.is_ascii_hexdigit())
                && b.is_some_and(|c| c.is_ascii_hexdigit()))
            {
                return false;
            }
        }
    }
    v.matches('#').count() <= 1
}

fn is_language(v: &str) -> bool {
    let mut parts = v.split('-');
    let first = parts.next().unwrap_or("");
    let ok = |p: &str, alpha_only: bool| {
        (1..=8).contains(&p.len())
            && p.bytes().all(|b| {
                if alpha_only {
                    b.is_ascii_alphabetic()
                } else {
                    b.is_ascii_alphanumeric()
                }
            })
    };
    ok(first, true) && parts.all(|p| ok(p, false))
}

/// XML 1.0 (fifth edition) NameStartChar.
pub(crate) fn is_name_start_char(c: char) -> bool {
    matches!(c,
        ':' | 'A'..='Z' | '_' | 'a'..='z'
        | '\u{C0}'..='\u{D6}' | '\u{D8}'..='\u{F6}' | '\u{F8}'..='\u{2FF}'
        | '\u{370}'..='\u{37D}' | '\u{37F}'..='\u{1FFF}' | '\u{200C}'..='\u{200D}'
        | '\u{2070}'..='\u{218F}' | '\u{2C00}'..='\u{2FEF}' | '\u{3001}'..='\u{D7FF}'
        | '\u{F900}'..='\u{FDCF}' | '\u{FDF0}'..='\u{FFFD}' | '\u{10000}'..='\u{EFFFF}')
}

/// XML 1.0 (fifth edition) NameChar.
pub(crate) fn is_name_char(c: char) -> bool {
    is_name_start_char(c)
        || matches!(c, '-' | '.' | '0'..='9' | '\u{B7}' | '\u{300}'..='\u{36F}' | '\u{203F}'..='\u{2040}')
}

fn is_name(v: &str) -> bool {
    let mut cs = v.chars();
    cs.next().is_some_and(is_name_start_char) && cs.all(is_name_char)
}

pub(crate) fn is_ncname(v: &str) -> bool {
    !v.contains(':') && is_name(v)
}

fn is_qname(v: &str) -> bool {
    match v.split_once(':') {
        Some((p, l)) => is_ncname(p) && is_ncname(l),
        None => is_ncname(v),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(b: Builtin, v: &str) -> bool {
        b.check(v).is_ok()
    }

    #[test]
    fn strings_and_names() {
        assert!(ok(String, "  any\ttext "));
        assert!(ok(Token, "a b"));
        assert!(ok(Language, "ru"));
        assert!(ok(Language, "en-GB"));
        assert!(ok(Language, "x-klingon-1"));
        assert!(!ok(Language, "toolonglang"));
        assert!(!ok(Language, "1ru"));
        assert!(!ok(Language, ""));
        assert!(ok(NcName, "СвЮЛ"));
        assert!(ok(NcName, "_a.b-c"));
        assert!(!ok(NcName, "a:b"));
        assert!(!ok(NcName, "1a"));
        assert!(!ok(NcName, ""));
        assert!(ok(Name, "a:b"));
        assert!(ok(Id, "SIGNED_BY_CONSUMER"));
        assert!(!ok(Id, "-x"));
        assert!(ok(NmToken, "1-a"));
        assert!(!ok(NmToken, "a b"));
        assert!(ok(NmTokens, "a b c"));
        assert!(!ok(NmTokens, ""));
        assert!(ok(IdRefs, "a b"));
        assert!(!ok(IdRefs, "a 1b"));
        assert!(ok(QName, "ns3:InvalidContent"));
        assert!(ok(QName, "local"));
        assert!(!ok(QName, "a:b:c"));
        assert!(!ok(QName, ":b"));
    }

    #[test]
    fn booleans() {
        for v in ["true", "false", "1", "0"] {
            assert!(ok(Boolean, v), "{v}");
        }
        for v in ["TRUE", "yes", "", "01"] {
            assert!(!ok(Boolean, v), "{v}");
        }
    }

    #[test]
    fn decimals_and_integers() {
        for v in [
            "0",
            "-1.5",
            "+.5",
            "5.",
            "007.100",
            "123456789012345678901234567890",
        ] {
            assert!(ok(Decimal, v), "{v}");
        }
        for v in ["", ".", "-", "1e5", "1,5", " 1", "INF", "0x1"] {
            assert!(!ok(Decimal, v), "{v}");
        }
        assert!(ok(Integer, "-0012"));
        assert!(!ok(Integer, "1.0"));
        assert!(ok(Long, "9223372036854775807"));
        assert!(!ok(Long, "9223372036854775808"));
        assert!(ok(Long, "-9223372036854775808"));
        assert!(ok(Int, "2147483647"));
        assert!(!ok(Int, "2147483648"));
        assert!(ok(Short, "-32768"));
        assert!(!ok(Short, "32768"));
        assert!(ok(Byte, "-128"));
        assert!(!ok(Byte, "128"));
        assert!(ok(UnsignedByte, "255"));
        assert!(!ok(UnsignedByte, "-1"));
        assert!(ok(UnsignedByte, "-0"));
        assert!(ok(UnsignedLong, "18446744073709551615"));
        assert!(!ok(UnsignedLong, "18446744073709551616"));
        assert!(ok(UnsignedShort, "65535"));
        assert!(ok(UnsignedInt, "4294967295"));
        assert!(!ok(UnsignedInt, "4294967296"));
        assert!(ok(PositiveInteger, "1"));
        assert!(!ok(PositiveInteger, "0"));
        assert!(ok(NonNegativeInteger, "0"));
        assert!(!ok(NonNegativeInteger, "-1"));
        assert!(ok(NonPositiveInteger, "-0"));
        assert!(!ok(NonPositiveInteger, "1"));
        assert!(ok(NegativeInteger, "-1"));
        assert!(!ok(NegativeInteger, "0"));
        let d = Dec::parse("00123.4500").unwrap();
        assert_eq!((d.total_digits(), d.fraction_digits()), (5, 2));
        assert!(Dec::parse("-2").unwrap() < Dec::parse("-1.5").unwrap());
        assert!(Dec::parse("10").unwrap() > Dec::parse("9.99").unwrap());
        assert_eq!(Dec::parse("-0.0"), Dec::parse("0"));
    }

    #[test]
    fn floats() {
        for v in ["1", "-1.5E-3", "1e10", ".5", "INF", "-INF", "NaN", "+3"] {
            assert!(ok(Double, v), "{v}");
        }
        for v in ["+INF", "inf", "1e", "e5", "1.5.5", "", "Infinity"] {
            assert!(!ok(Float, v), "{v}");
        }
    }

    #[test]
    fn dates_and_times() {
        for v in [
            "2024-02-29",
            "2023-12-31Z",
            "2023-01-01+03:00",
            "-0044-03-15",
            "12024-01-01",
        ] {
            assert!(ok(Date, v), "{v}");
        }
        for v in [
            "2023-02-29",
            "2023-13-01",
            "2023-1-01",
            "23-01-01",
            "0000-01-01",
            "2023-01-01+15:00",
            "02023-01-01",
            "2023-01-32",
        ] {
            assert!(!ok(Date, v), "{v}");
        }
        for v in [
            "2023-05-01T10:00:00",
            "2023-05-01T10:00:00.123+03:00",
            "2023-05-01T24:00:00Z",
        ] {
            assert!(ok(DateTime, v), "{v}");
        }
        for v in [
            "2023-05-01",
            "2023-05-01T10:00",
            "2023-05-01T25:00:00",
            "2023-05-01T10:60:00",
            "2023-05-01T10:00:00.",
            "2023-05-01 10:00:00",
        ] {
            assert!(!ok(DateTime, v), "{v}");
        }
        assert!(ok(Time, "13:20:00"));
        assert!(ok(Time, "13:20:00.5-05:00"));
        assert!(!ok(Time, "13:20"));
        assert!(ok(GYear, "2024"));
        assert!(ok(GYear, "2024+03:00"));
        assert!(ok(GYear, "-2024"));
        assert!(!ok(GYear, "24"));
        assert!(ok(GYearMonth, "2024-02"));
        assert!(!ok(GYearMonth, "2024-13"));
        assert!(ok(GMonthDay, "--02-29"));
        assert!(!ok(GMonthDay, "--02-30"));
        assert!(ok(GDay, "---31"));
        assert!(!ok(GDay, "---32"));
        assert!(ok(GMonth, "--12"));
        assert!(!ok(GMonth, "--13"));
        let a = parse_time(DateTime, "2023-05-01T10:00:00+03:00").unwrap();
        let b = parse_time(DateTime, "2023-05-01T07:00:00Z").unwrap();
        assert_eq!(a, b);
        assert!(parse_time(Date, "2023-05-01").unwrap() < parse_time(Date, "2023-05-02").unwrap());
    }

    #[test]
    fn durations() {
        for v in ["P1Y2M3DT10H30M", "-P120D", "PT1.5S", "P1Y", "PT0S"] {
            assert!(ok(Duration, v), "{v}");
        }
        for v in ["P", "PT", "P1Y2M3DT", "1Y", "P1.5Y", "P1M1Y", "PT1.S"] {
            assert!(!ok(Duration, v), "{v}");
        }
    }

    #[test]
    fn binaries_and_uris() {
        assert!(ok(HexBinary, "0fA9"));
        assert!(!ok(HexBinary, "0fA"));
        assert!(!ok(HexBinary, "zz"));
        assert_eq!(base64_len("TWFu"), Some(3));
        assert_eq!(base64_len("TWE="), Some(2));
        assert_eq!(base64_len("TQ=="), Some(1));
        assert_eq!(base64_len("TW Fu"), Some(3));
        assert_eq!(base64_len("TWFu TWFu"), Some(6));
        assert_eq!(base64_len("TWF"), None);
        assert_eq!(base64_len("TR=="), None);
        assert_eq!(base64_len("T==="), None);
        assert!(ok(Base64Binary, ""));
        assert!(ok(AnyUri, "http://example.com/a?b#c"));
        assert!(ok(
            AnyUri,
            "urn://x-artefacts-smev-gov-ru/services/message-exchange/types/1.1"
        ));
        assert!(ok(AnyUri, ""));
        assert!(!ok(AnyUri, "a%zz"));
        assert!(!ok(AnyUri, "a#b#c"));
    }
}
