//! Checking a business request against its schema, for the emulator: the
//! request schemas are small, so each lookup states its own in a few lines
//! with these helpers, and a test holds them to `xmllint --schema`.

use crate::xml::{Document, Node, NodeId};

const XSI_NS: &str = "http://www.w3.org/2001/XMLSchema-instance";

/// A simple type: what a value must look like, and how to say so.
#[derive(Clone, Copy, Debug)]
pub(super) enum Value {
    /// Exactly `n` ASCII digits.
    Digits(usize),
    /// `n` digits not starting with `00` (the ФНС ИНН types).
    Inn(usize),
    /// 10 or 12 digits.
    InnAny,
    /// The ФНС КПП pattern.
    Kpp,
    /// `min..=max` characters.
    Len(usize, usize),
    /// `xs:date`.
    Date,
    /// `xs:ID` (an NCName).
    Id,
}

impl Value {
    fn accepts(self, v: &str) -> bool {
        let digits = |s: &str, n: usize| s.len() == n && s.bytes().all(|b| b.is_ascii_digit());
        match self {
            Value::Digits(n) => digits(v, n),
            Value::Inn(n) => digits(v, n) && !v.starts_with("00"),
            Value::InnAny => digits(v, 10) || digits(v, 12),
            Value::Kpp => crate::request::Kpp::parse(v).is_ok(),
            Value::Len(min, max) => (min..=max).contains(&v.chars().count()),
            Value::Date => is_date(v),
            Value::Id => {
                let mut cs = v.chars();
                cs.next().is_some_and(|c| c.is_alphabetic() || c == '_')
                    && cs.all(|c| c.is_alphanumeric() || matches!(c, '_' | '-' | '.'))
            }
        }
    }

    fn describe(self) -> String {
        match self {
            Value::Digits(n) => format!("{n} digits"),
            Value::Inn(n) => format!("{n} digits not starting with 00"),
            Value::InnAny => "10 or 12 digits".into(),
            Value::Kpp => "a КПП (9 characters)".into(),
            Value::Len(min, max) => format!("{min} to {max} characters"),
            Value::Date => "a date YYYY-MM-DD".into(),
            Value::Id => "an xs:ID".into(),
        }
    }
}

/// `xs:date`: YYYY-MM-DD with an optional time zone.
fn is_date(v: &str) -> bool {
    let (date, tz) = v.split_at(v.len().min(10));
    let tz_ok = tz.is_empty()
        || tz == "Z"
        || (tz.len() == 6 && (tz.starts_with('+') || tz.starts_with('-')) && &tz[3..4] == ":");
    tz_ok && crate::clock::parse_iso_date(date).is_some()
}

/// Collects schema violations of one request.
pub(super) struct Check<'d> {
    doc: &'d Document,
    ns: &'d str,
    pub errors: Vec<String>,
}

impl<'d> Check<'d> {
    pub fn new(doc: &'d Document, ns: &'d str) -> Self {
        Check {
            doc,
            ns,
            errors: Vec::new(),
        }
    }

    fn name(&self, id: NodeId) -> String {
        self.doc.element(id).local.clone()
    }

    /// The element's attributes: exactly the declared ones (`xsi:*` aside).
    pub fn attrs(&mut self, el: NodeId, spec: &[(&str, bool, Value)]) -> Vec<Option<String>> {
        let e = self.doc.element(el);
        for a in &e.attrs {
            let declared = a.ns.is_none() && spec.iter().any(|(n, _, _)| *n == a.local);
            // Schema-location hints are allowed anywhere; xsi:nil and
            // xsi:type are not, as no element of these schemas is nillable
            // or has derived types.
            let hint = a.ns.as_deref() == Some(XSI_NS)
                && matches!(
                    a.local.as_str(),
                    "schemaLocation" | "noNamespaceSchemaLocation"
                );
            if !declared && !hint {
                self.errors.push(format!(
                    "attribute {} is not allowed on {}",
                    a.local, e.local
                ));
            }
        }
        spec.iter()
            .map(|(name, required, value)| match e.attr(name) {
                Some(v) if value.accepts(v) => Some(v.to_owned()),
                Some(v) => {
                    self.errors.push(format!(
                        "{}/@{name}: {v:?} is not {}",
                        e.local,
                        value.describe()
                    ));
                    None
                }
                None => {
                    if *required {
                        self.errors
                            .push(format!("{}: attribute {name} is required", e.local));
                    }
                    None
                }
            })
            .collect()
    }

    /// Child elements of `el`, with no text but whitespace between them.
    fn elements(&mut self, el: NodeId) -> Vec<NodeId> {
        let mut out = Vec::new();
        for c in &self.doc.element(el).children {
            match self.doc.node(*c) {
                Node::Element(_) => out.push(*c),
                Node::Text(t) if !t.trim().is_empty() => {
                    let name = self.name(el);
                    self.errors
                        .push(format!("{name}: text is not allowed here"));
                }
                _ => {}
            }
        }
        out
    }

    /// `el` holds exactly this sequence: `(name, min, max)` in order, all in
    /// the VS namespace. Returns the children found, by name.
    pub fn sequence(&mut self, el: NodeId, spec: &[(&str, u32, u32)]) -> Vec<(String, NodeId)> {
        let kids = self.elements(el);
        let mut found = Vec::new();
        let mut i = 0;
        for (name, min, max) in spec {
            let mut n = 0;
            while i < kids.len() && self.doc.element(kids[i]).is(self.ns, name) && n < *max {
                found.push(((*name).to_owned(), kids[i]));
                i += 1;
                n += 1;
            }
            if n < *min {
                let parent = self.name(el);
                self.errors
                    .push(format!("{parent}: element {name} is missing"));
            }
        }
        for k in &kids[i..] {
            let (parent, e) = (self.name(el), self.doc.element(*k).to_string());
            self.errors
                .push(format!("{parent}: element {e} is not expected here"));
        }
        found
    }

    /// `el` holds exactly one of `names`.
    pub fn choice(&mut self, el: NodeId, names: &[&str]) -> Option<(String, NodeId)> {
        let kids = self.elements(el);
        let parent = self.name(el);
        match kids.as_slice() {
            [one] if names.iter().any(|n| self.doc.element(*one).is(self.ns, n)) => {
                Some((self.doc.element(*one).local.clone(), *one))
            }
            [] => {
                self.errors
                    .push(format!("{parent}: one of {} is required", names.join(", ")));
                None
            }
            _ => {
                self.errors.push(format!(
                    "{parent}: exactly one of {} is allowed, found {}",
                    names.join(", "),
                    kids.iter()
                        .map(|k| self.doc.element(*k).to_string())
                        .collect::<Vec<_>>()
                        .join(", ")
                ));
                None
            }
        }
    }

    /// The simple content of `el`, checked.
    pub fn value(&mut self, el: NodeId, value: Value) -> Option<String> {
        let name = self.name(el);
        if self.doc.child_elements(el).next().is_some() {
            self.errors
                .push(format!("{name}: child elements are not allowed"));
            return None;
        }
        let v = self.doc.text(el);
        if value.accepts(&v) {
            Some(v)
        } else {
            self.errors
                .push(format!("{name}: {v:?} is not {}", value.describe()));
            None
        }
    }

    /// The root must be `{ns}local`.
    pub fn root(&mut self, root: NodeId, local: &str) {
        if !self.doc.element(root).is(self.ns, local) {
            let e = self.doc.element(root).to_string();
            self.errors.push(format!("expected {local}, got {e}"));
        }
    }

    pub fn finish<T>(self, v: Option<T>) -> Result<T, Vec<String>> {
        match (self.errors.is_empty(), v) {
            (true, Some(v)) => Ok(v),
            (_, _) if !self.errors.is_empty() => Err(self.errors),
            _ => Err(vec!["the request could not be read".into()]),
        }
    }
}
