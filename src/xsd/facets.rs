//! Simple-type values: whitespace normalisation, the lexical check of the
//! built-in at the bottom of the derivation, then every restriction step's
//! facets, from the built-in upwards. Lists check each item against the
//! item type, unions accept what any member accepts.

use std::borrow::Cow;
use std::cmp::Ordering;

use super::builtin::{self, Builtin, Dec, Primitive};
use super::components::{Components, SimpleDef, SimpleType, TypeId, Variety, WhiteSpace};
use super::regex::Pattern;

/// The facets one restriction step states (inherited ones live on the base).
#[derive(Debug, Default)]
pub(crate) struct Facets {
    /// Normalised as the type normalises its values.
    pub enumeration: Vec<String>,
    /// Alternatives of one step: a value must match one of them.
    pub patterns: Vec<Pattern>,
    pub length: Option<usize>,
    pub min_length: Option<usize>,
    pub max_length: Option<usize>,
    pub total_digits: Option<usize>,
    pub fraction_digits: Option<usize>,
    pub min_inclusive: Option<String>,
    pub max_inclusive: Option<String>,
    pub min_exclusive: Option<String>,
    pub max_exclusive: Option<String>,
}

/// Resolves a prefix in the instance (for `xs:QName` values).
pub(crate) type PrefixResolver<'a> = &'a dyn Fn(Option<&str>) -> bool;

pub(crate) fn normalize(v: &str, ws: WhiteSpace) -> Cow<'_, str> {
    match ws {
        WhiteSpace::Preserve => Cow::Borrowed(v),
        WhiteSpace::Replace => {
            if v.contains(['\t', '\n', '\r']) {
                Cow::Owned(v.replace(['\t', '\n', '\r'], " "))
            } else {
                Cow::Borrowed(v)
            }
        }
        WhiteSpace::Collapse => {
            let needs = v.starts_with([' ', '\t', '\n', '\r'])
                || v.ends_with([' ', '\t', '\n', '\r'])
                || v.contains(['\t', '\n', '\r'])
                || v.contains("  ");
            if needs {
                Cow::Owned(
                    v.split([' ', '\t', '\n', '\r'])
                        .filter(|s| !s.is_empty())
                        .collect::<Vec<_>>()
                        .join(" "),
                )
            } else {
                Cow::Borrowed(v)
            }
        }
    }
}

/// Checks `value` against simple type `t`. The error completes the sentence
/// "value '…' …".
pub(crate) fn check(
    comps: &Components,
    t: TypeId,
    value: &str,
    prefixes: PrefixResolver<'_>,
) -> Result<(), String> {
    let Some(st) = comps.simple(t) else {
        // A complex type where a simple one is needed is a schema error the
        // compiler already refused; accept rather than invent a message.
        return Ok(());
    };
    let v = normalize(value, st.whitespace);
    match &st.def {
        SimpleDef::Builtin => {
            st.builtin.check(&v)?;
            if matches!(st.builtin, Builtin::QName | Builtin::Notation) {
                let prefix = v.split_once(':').map(|(p, _)| p);
                if !prefixes(prefix) {
                    return Err(format!(
                        "uses the namespace prefix {:?}, which is not declared",
                        prefix.unwrap_or("")
                    ));
                }
            }
            Ok(())
        }
        SimpleDef::Restriction(f) => {
            if let Some(base) = st.base {
                check(comps, base, &v, prefixes)?;
            }
            check_facets(comps, t, st, f, &v)
        }
        SimpleDef::List(item) => {
            for token in v.split(' ').filter(|s| !s.is_empty()) {
                check(comps, *item, token, prefixes)
                    .map_err(|e| format!("has the item '{token}', which {e}"))?;
            }
            Ok(())
        }
        SimpleDef::Union(members) => {
            if members
                .iter()
                .any(|m| check(comps, *m, &v, prefixes).is_ok())
            {
                Ok(())
            } else {
                let names: Vec<String> = members.iter().map(|m| comps.type_name(*m)).collect();
                Err(format!(
                    "is not valid for any member of the union ({})",
                    names.join(", ")
                ))
            }
        }
    }
}

fn check_facets(
    comps: &Components,
    t: TypeId,
    st: &SimpleType,
    f: &Facets,
    v: &str,
) -> Result<(), String> {
    let of = || format!(" (type {})", comps.type_name(t));
    let prim = st.builtin.primitive();
    if !f.enumeration.is_empty() && !f.enumeration.iter().any(|e| equal(st, e, v)) {
        let mut shown: Vec<String> = f
            .enumeration
            .iter()
            .take(12)
            .map(|e| format!("'{e}'"))
            .collect();
        if f.enumeration.len() > 12 {
            shown.push(format!("… ({} values in all)", f.enumeration.len()));
        }
        return Err(format!(
            "is not one of the allowed values {}{}",
            shown.join(", "),
            of()
        ));
    }
    if !f.patterns.is_empty() && !f.patterns.iter().any(|p| p.is_match(v)) {
        let shown: Vec<&str> = f.patterns.iter().map(|p| p.source.as_str()).collect();
        return Err(format!(
            "does not match the pattern {}{}",
            shown.join(" or "),
            of()
        ));
    }
    let len = || -> Option<(usize, &'static str)> {
        match st.variety {
            Variety::List => Some((v.split(' ').filter(|s| !s.is_empty()).count(), "items")),
            Variety::Union => None,
            Variety::Atomic => match prim {
                Primitive::HexBinary => Some((v.len() / 2, "bytes")),
                Primitive::Base64Binary => builtin::base64_len(v).map(|n| (n, "bytes")),
                // XSD 1.0 errata: length facets do not constrain QNames.
                Primitive::QName => None,
                _ => Some((v.chars().count(), "characters")),
            },
        }
    };
    if (f.length.is_some() || f.min_length.is_some() || f.max_length.is_some())
        && let Some((n, unit)) = len()
    {
        if let Some(l) = f.length
            && n != l
        {
            return Err(format!(
                "has {n} {unit}, but exactly {l} are required{}",
                of()
            ));
        }
        if let Some(l) = f.min_length
            && n < l
        {
            return Err(format!(
                "has {n} {unit}, fewer than the minimum {l}{}",
                of()
            ));
        }
        if let Some(l) = f.max_length
            && n > l
        {
            return Err(format!("has {n} {unit}, more than the maximum {l}{}", of()));
        }
    }
    if (f.total_digits.is_some() || f.fraction_digits.is_some())
        && let Some(d) = Dec::parse(v)
    {
        if let Some(max) = f.total_digits
            && d.total_digits() > max
        {
            return Err(format!(
                "has {} digits, more than the {max} allowed{}",
                d.total_digits(),
                of()
            ));
        }
        if let Some(max) = f.fraction_digits
            && d.fraction_digits() > max
        {
            return Err(format!(
                "has {} digits after the decimal point, more than the {max} allowed{}",
                d.fraction_digits(),
                of()
            ));
        }
    }
    let bound = |b: &Option<String>, bad: &[Ordering], words: &str| -> Result<(), String> {
        if let Some(b) = b
            && let Some(ord) = compare(st.builtin, v, b)
            && bad.contains(&ord)
        {
            return Err(format!("{words} {b}{}", of()));
        }
        Ok(())
    };
    if st.variety == Variety::Atomic {
        bound(
            &f.min_inclusive,
            &[Ordering::Less],
            "is less than the minimum",
        )?;
        bound(
            &f.max_inclusive,
            &[Ordering::Greater],
            "is greater than the maximum",
        )?;
        bound(
            &f.min_exclusive,
            &[Ordering::Less, Ordering::Equal],
            "must be greater than",
        )?;
        bound(
            &f.max_exclusive,
            &[Ordering::Greater, Ordering::Equal],
            "must be less than",
        )?;
    }
    Ok(())
}

/// Compares two lexical values of a built-in in its value space; `None`
/// when they are not ordered (strings, NaN, unparsable bounds).
pub(crate) fn compare(b: Builtin, a: &str, c: &str) -> Option<Ordering> {
    match b.primitive() {
        Primitive::Decimal => Some(Dec::parse(a)?.cmp(&Dec::parse(c)?)),
        Primitive::Float => builtin::parse_float(a)?.partial_cmp(&builtin::parse_float(c)?),
        Primitive::Time => builtin::parse_time(b, a)?.partial_cmp(&builtin::parse_time(b, c)?),
        Primitive::Duration => {
            let (m1, s1) = builtin::parse_duration(a)?;
            let (m2, s2) = builtin::parse_duration(c)?;
            let om = m1.cmp(&m2);
            let os = s1.partial_cmp(&s2)?;
            if om == os || os == Ordering::Equal {
                Some(om)
            } else if om == Ordering::Equal {
                Some(os)
            } else {
                None
            }
        }
        _ => None,
    }
}

/// Equality in the value space (for enumerations and fixed values).
pub(crate) fn equal(st: &SimpleType, a: &str, b: &str) -> bool {
    if st.variety != Variety::Atomic {
        return a == b;
    }
    match st.builtin.primitive() {
        Primitive::Boolean => {
            let t = |s: &str| matches!(s, "true" | "1");
            t(a) == t(b)
        }
        Primitive::Decimal | Primitive::Time | Primitive::Duration => {
            compare(st.builtin, a, b).map_or(a == b, |o| o == Ordering::Equal)
        }
        Primitive::Float => match (builtin::parse_float(a), builtin::parse_float(b)) {
            (Some(x), Some(y)) => x == y || (x.is_nan() && y.is_nan()),
            _ => a == b,
        },
        Primitive::HexBinary => a.eq_ignore_ascii_case(b),
        _ => a == b,
    }
}
