//! The validation walk: an explicit work stack over an already parsed
//! document (no recursion, so no depth bound beyond the document's own),
//! each element checked against its declaration or type, its children
//! matched against the content model and queued with what they matched.

use std::collections::HashMap;

use super::builtin::Builtin;
use super::components::*;
use super::content::{self, Matched, Matcher, Step};
use super::facets;
use super::{Violation, XSI_NS};
use crate::xml::{Document, Element, Node, NodeId};

pub(crate) fn validate(comps: &Components, doc: &Document, el: NodeId) -> Vec<Violation> {
    let e = doc.element(el);
    let mut v = Validator {
        comps,
        doc,
        out: Vec::new(),
        matcher: Matcher::new(comps),
        ids: HashMap::new(),
        idrefs: Vec::new(),
        segments: vec![Segment {
            parent: None,
            local: &e.local,
            index: 0,
        }],
    };
    let path = At { seg: 0, attr: None };
    let work = match comps.global_element(e.ns.as_deref().unwrap_or(""), &e.local) {
        Some(decl) => Work::Declared(el, decl, path),
        None => {
            v.violation(
                path,
                format!(
                    "no global element {} is declared in the schema set",
                    describe_name(e.ns.as_deref(), &e.local, None)
                ),
            );
            return v.out;
        }
    };
    v.run(work);
    v.check_idrefs();
    v.out
}

enum Work<'a> {
    /// Against this element declaration.
    Declared(NodeId, ElemId, At<'a>),
    /// Against this type (an `xsi:type` on an element a lax wildcard let in).
    Typed(NodeId, TypeId, At<'a>),
    /// Assessed laxly: validated where a declaration exists.
    Lax(NodeId, At<'a>),
}

/// Where in the document: an element (by its path segment), or one of its
/// attributes. Paths are only spelled out for violations, so a valid
/// document costs no string building.
#[derive(Clone, Copy, Debug)]
struct At<'a> {
    seg: u32,
    attr: Option<&'a str>,
}

impl<'a> At<'a> {
    fn attr(self, local: &'a str) -> At<'a> {
        At {
            seg: self.seg,
            attr: Some(local),
        }
    }
}

/// One step of an element path: `local[index]` under `parent`.
struct Segment<'a> {
    parent: Option<u32>,
    local: &'a str,
    /// Position among same-named siblings; 0 for the validated element.
    index: u32,
}

struct Validator<'a> {
    comps: &'a Components,
    doc: &'a Document,
    out: Vec<Violation>,
    matcher: Matcher<'a>,
    /// xs:ID values seen, with where.
    ids: HashMap<String, At<'a>>,
    idrefs: Vec<(String, At<'a>)>,
    segments: Vec<Segment<'a>>,
}

impl<'a> Validator<'a> {
    fn run(&mut self, first: Work<'a>) {
        let mut stack = vec![first];
        while let Some(w) = stack.pop() {
            let mut children = Vec::new();
            match w {
                Work::Declared(node, decl, path) => {
                    self.element(node, decl, path, &mut children);
                }
                Work::Typed(node, t, path) => {
                    self.typed(node, t, None, false, path, &mut children);
                }
                Work::Lax(node, path) => self.lax(node, path, &mut children),
            }
            // Children in reverse, so they are checked in document order.
            stack.extend(children.into_iter().rev());
        }
    }

    fn violation(&mut self, path: At<'a>, message: impl Into<String>) {
        self.out.push(Violation {
            path: self.render(path),
            message: message.into(),
        });
    }

    /// `/Root/Child[1]/@attr`.
    fn render(&self, at: At<'a>) -> String {
        let mut steps = Vec::new();
        let mut cur = Some(at.seg);
        while let Some(i) = cur {
            let s = &self.segments[i as usize];
            steps.push(s);
            cur = s.parent;
        }
        let mut out = String::new();
        for s in steps.iter().rev() {
            out.push('/');
            out.push_str(s.local);
            if s.index > 0 {
                out.push_str(&format!("[{}]", s.index));
            }
        }
        if let Some(a) = at.attr {
            out.push_str("/@");
            out.push_str(a);
        }
        out
    }

    fn child_at(&mut self, parent: At<'a>, local: &'a str, index: usize) -> At<'a> {
        self.segments.push(Segment {
            parent: Some(parent.seg),
            local,
            index: index as u32,
        });
        At {
            seg: (self.segments.len() - 1) as u32,
            attr: None,
        }
    }

    fn xsi<'e>(&self, el: &'e Element, local: &str) -> Option<&'e str> {
        el.attrs
            .iter()
            .find(|a| a.ns.as_deref() == Some(XSI_NS) && a.local == local)
            .map(|a| a.value.as_str())
    }

    /// The type an `xsi:type` value names, or a message why none.
    fn xsi_type(&self, node: NodeId, value: &str) -> Result<TypeId, String> {
        let value = value.trim();
        let (prefix, local) = match value.split_once(':') {
            Some((p, l)) => (Some(p), l),
            None => (None, value),
        };
        let ns = match self.doc.lookup_namespace(node, prefix) {
            Some(ns) => ns,
            None if prefix.is_some() => {
                return Err(format!(
                    "xsi:type {value:?} uses the prefix {:?}, which is not declared",
                    prefix.unwrap_or("")
                ));
            }
            None => "",
        };
        self.comps.global_types.get(ns, local).ok_or_else(|| {
            format!("xsi:type {value:?} names a type that is not defined ({{{ns}}}{local})")
        })
    }

    fn element(
        &mut self,
        node: NodeId,
        decl_id: ElemId,
        path: At<'a>,
        children: &mut Vec<Work<'a>>,
    ) {
        let comps = self.comps;
        let decl = comps.element(decl_id);
        let el = self.doc.element(node);
        if decl.is_abstract {
            self.violation(
                path,
                format!(
                    "element {} is abstract: use one of the elements of its substitution group",
                    el.local
                ),
            );
        }
        let mut t = decl.type_id;
        if let Some(xt) = self.xsi(el, "type") {
            match self.xsi_type(node, xt) {
                Ok(named) if comps.derives_from(named, decl.type_id) => t = named,
                Ok(named) => {
                    self.violation(
                        path,
                        format!(
                            "xsi:type {} does not derive from the declared type {}",
                            comps.type_name(named),
                            comps.type_name(decl.type_id)
                        ),
                    );
                    return;
                }
                Err(m) => {
                    self.violation(path, m);
                    return;
                }
            }
        }
        let mut nilled = false;
        if let Some(nil) = self.xsi(el, "nil") {
            let nil = nil.trim();
            if !matches!(nil, "true" | "false" | "1" | "0") {
                self.violation(path, format!("xsi:nil {nil:?} is not a boolean"));
            } else if !decl.nillable {
                self.violation(
                    path,
                    format!(
                        "element {} is not nillable, so xsi:nil is not allowed",
                        el.local
                    ),
                );
            } else if matches!(nil, "true" | "1") {
                nilled = true;
                if matches!(decl.value, Some(ValueConstraint::Fixed(_))) {
                    self.violation(path, "an element with a fixed value cannot be nil");
                }
            }
        }
        self.typed(node, t, decl.value.as_ref(), nilled, path, children);
    }

    fn typed(
        &mut self,
        node: NodeId,
        t: TypeId,
        value: Option<&ValueConstraint>,
        nilled: bool,
        path: At<'a>,
        children: &mut Vec<Work<'a>>,
    ) {
        let comps = self.comps;
        let doc = self.doc;
        let el = doc.element(node);
        let (has_elements, has_text) = content_kinds(doc, el);
        match comps.ty(t) {
            TypeDef::Simple(_) => {
                self.no_attributes_but_xsi(el, path);
                if nilled {
                    self.nil_content(path, has_elements, has_text);
                    return;
                }
                if has_elements {
                    self.violation(
                        path,
                        format!(
                            "element {} has type {} and may contain only text, not child elements",
                            el.local,
                            comps.type_name(t)
                        ),
                    );
                    return;
                }
                self.text_value(node, t, value, path);
            }
            TypeDef::Complex(ct) => {
                if ct.is_abstract {
                    self.violation(
                        path,
                        format!(
                            "type {} is abstract: name a type derived from it with xsi:type",
                            comps.type_name(t)
                        ),
                    );
                    return;
                }
                self.attributes(node, el, ct, path);
                if nilled {
                    self.nil_content(path, has_elements, has_text);
                    return;
                }
                match &ct.content {
                    Content::Empty => {
                        if has_elements || has_text {
                            self.violation(
                                path,
                                format!(
                                    "element {} must be empty (type {} allows no content)",
                                    el.local,
                                    comps.type_name(t)
                                ),
                            );
                        }
                    }
                    Content::Simple(st) => {
                        if has_elements {
                            self.violation(
                                path,
                                format!(
                                    "element {} may contain only text, not child elements",
                                    el.local
                                ),
                            );
                            return;
                        }
                        self.text_value(node, *st, value, path);
                    }
                    Content::Elements { particle, mixed } => {
                        if !mixed && has_text {
                            let text = doc.text(node);
                            self.violation(
                                path,
                                format!(
                                    "text {} is not allowed: element {} contains only child elements",
                                    quote_short(text.trim()),
                                    el.local
                                ),
                            );
                        }
                        self.children(node, el, *particle, path, children);
                    }
                }
            }
        }
    }

    fn nil_content(&mut self, path: At<'a>, has_elements: bool, has_text: bool) {
        if has_elements || has_text {
            self.violation(
                path,
                "element is nil (xsi:nil=\"true\") and so must be empty",
            );
        }
    }

    /// The text of a simple-content element, defaulted and checked.
    fn text_value(
        &mut self,
        node: NodeId,
        t: TypeId,
        value: Option<&ValueConstraint>,
        path: At<'a>,
    ) {
        let text = self.doc.text(node);
        let effective = match value {
            Some(ValueConstraint::Default(d) | ValueConstraint::Fixed(d)) if text.is_empty() => {
                d.clone()
            }
            _ => text,
        };
        if self.value(node, t, &effective, path)
            && let Some(ValueConstraint::Fixed(f)) = value
        {
            // An element's content must be the fixed value as written (its
            // canonical form, XSD 1.0 cvc-elt 5.2.2.2.2), not just equal.
            let ws = self
                .comps
                .simple(t)
                .map_or(WhiteSpace::Preserve, |s| s.whitespace);
            if facets::normalize(&effective, ws) != facets::normalize(f, ws) {
                self.violation(
                    path,
                    format!(
                        "value {} must be the fixed value '{f}'",
                        quote_short(&effective)
                    ),
                );
            }
        }
    }

    /// Checks a simple value; records IDs and IDREFs; `true` when valid.
    fn value(&mut self, node: NodeId, t: TypeId, v: &str, path: At<'a>) -> bool {
        let doc = self.doc;
        let resolver = |p: Option<&str>| p.is_none() || doc.lookup_namespace(node, p).is_some();
        match facets::check(self.comps, t, v, &resolver) {
            Ok(()) => {
                self.record_ids(t, v, path);
                true
            }
            Err(why) => {
                self.violation(path, format!("value {} {why}", quote_short(v)));
                false
            }
        }
    }

    fn fixed(&mut self, t: TypeId, v: &str, fixed: &str, path: At<'a>) {
        let same = match self.comps.simple(t) {
            Some(st) => {
                let a = facets::normalize(v, st.whitespace);
                let b = facets::normalize(fixed, st.whitespace);
                facets::equal(st, &a, &b)
            }
            None => v == fixed,
        };
        if !same {
            self.violation(
                path,
                format!("value {} must be the fixed value '{fixed}'", quote_short(v)),
            );
        }
    }

    fn record_ids(&mut self, t: TypeId, v: &str, path: At<'a>) {
        let Some(st) = self.comps.simple(t) else {
            return;
        };
        match st.builtin {
            Builtin::Id => {
                let v = v.trim().to_owned();
                if let Some(prev) = self.ids.get(&v) {
                    let message = format!(
                        "xs:ID value '{v}' is not unique (also at {})",
                        self.render(*prev)
                    );
                    self.violation(path, message);
                } else {
                    self.ids.insert(v, path);
                }
            }
            Builtin::IdRef => self.idrefs.push((v.trim().to_owned(), path)),
            Builtin::IdRefs => {
                for r in v.split_ascii_whitespace() {
                    self.idrefs.push((r.to_owned(), path));
                }
            }
            _ => {}
        }
    }

    fn check_idrefs(&mut self) {
        let refs = std::mem::take(&mut self.idrefs);
        for (r, path) in refs {
            if !self.ids.contains_key(&r) {
                self.violation(
                    path,
                    format!("xs:IDREF '{r}' does not match any xs:ID in the document"),
                );
            }
        }
    }

    fn no_attributes_but_xsi(&mut self, el: &'a Element, path: At<'a>) {
        for a in &el.attrs {
            if a.ns.as_deref() == Some(XSI_NS) {
                self.xsi_attribute(a.local.as_str(), path);
                continue;
            }
            self.violation(
                path.attr(&a.local),
                format!(
                    "attribute {} is not allowed: element {} has a simple type",
                    describe_name(a.ns.as_deref(), &a.local, None),
                    el.local
                ),
            );
        }
    }

    fn xsi_attribute(&mut self, local: &'a str, path: At<'a>) {
        if !matches!(
            local,
            "type" | "nil" | "schemaLocation" | "noNamespaceSchemaLocation"
        ) {
            self.violation(
                path.attr(local),
                format!("xsi:{local} is not an attribute of the XML Schema instance namespace"),
            );
        }
    }

    fn attributes(&mut self, node: NodeId, el: &'a Element, ct: &ComplexType, path: At<'a>) {
        let comps = self.comps;
        let mut seen = vec![false; ct.attributes.len()];
        for a in &el.attrs {
            let ns = a.ns.as_deref();
            if ns == Some(XSI_NS) {
                self.xsi_attribute(a.local.as_str(), path);
                continue;
            }
            let apath = path.attr(&a.local);
            if let Some(i) = ct.attributes.iter().position(|u| u.name.is(ns, &a.local)) {
                seen[i] = true;
                let u = &ct.attributes[i];
                if self.value(node, u.type_id, &a.value, apath)
                    && let Some(ValueConstraint::Fixed(f)) = &u.value
                {
                    self.fixed(u.type_id, &a.value, f, apath);
                }
                continue;
            }
            if let Some(w) = &ct.any_attribute
                && w.namespaces.allows(ns)
            {
                let global = comps
                    .global_attributes
                    .get(&QName::new(ns.unwrap_or(""), &a.local));
                match (w.process, global) {
                    (Process::Skip, _) => {}
                    (_, Some(g)) => {
                        let t = g.type_id;
                        self.value(node, t, &a.value, apath);
                    }
                    (Process::Lax, None) => {}
                    (Process::Strict, None) => self.violation(
                        apath,
                        format!(
                            "attribute {} is allowed by a wildcard, which requires a declaration, and none exists",
                            describe_name(ns, &a.local, None)
                        ),
                    ),
                }
                continue;
            }
            let similar = ct
                .attributes
                .iter()
                .find(|u| u.name.local == a.local)
                .map(|u| &u.name);
            let message = match similar {
                Some(q) => format!(
                    "attribute {} is not allowed; the schema declares {}",
                    describe_name(ns, &a.local, None),
                    describe_name(
                        Some(&q.ns).filter(|s| !s.is_empty()).map(|s| s.as_str()),
                        &q.local,
                        None
                    )
                ),
                None => {
                    let allowed: Vec<&str> = ct
                        .attributes
                        .iter()
                        .map(|u| u.name.local.as_str())
                        .collect();
                    if allowed.is_empty() {
                        format!(
                            "attribute {} is not allowed: element {} has no attributes",
                            describe_name(ns, &a.local, None),
                            el.local
                        )
                    } else {
                        format!(
                            "attribute {} is not allowed; allowed are {}",
                            describe_name(ns, &a.local, None),
                            allowed.join(", ")
                        )
                    }
                }
            };
            self.violation(apath, message);
        }
        for (i, u) in ct.attributes.iter().enumerate() {
            if u.required && !seen[i] {
                self.violation(
                    path,
                    format!(
                        "required attribute {} is missing",
                        describe_name(
                            Some(&u.name.ns)
                                .filter(|s| !s.is_empty())
                                .map(|s| s.as_str()),
                            &u.name.local,
                            None
                        )
                    ),
                );
            }
        }
    }

    fn children(
        &mut self,
        node: NodeId,
        el: &'a Element,
        particle: PId,
        path: At<'a>,
        out: &mut Vec<Work<'a>>,
    ) {
        let comps = self.comps;
        let doc = self.doc;
        self.matcher.reset();
        let mut state = self.matcher.start(particle);
        let mut counts: Vec<(Option<&str>, &str, usize)> = Vec::new();
        let mut failed = false;
        let mut last: Option<PId> = None;
        for c in doc.child_elements(node) {
            let ce = doc.element(c);
            let ns = ce.ns.as_deref();
            let n = match counts
                .iter_mut()
                .find(|(cns, cl, _)| *cns == ns && *cl == ce.local)
            {
                Some(entry) => {
                    entry.2 += 1;
                    entry.2
                }
                None => {
                    counts.push((ns, ce.local.as_str(), 1));
                    1
                }
            };
            let cpath = self.child_at(path, &ce.local, n);
            if failed {
                // After a misplaced child the model has no state to go on
                // from; still check the children it declares.
                if let Some(e) = self.declared_somewhere(particle, ns, &ce.local) {
                    out.push(Work::Declared(c, e, cpath));
                }
                continue;
            }
            match self.matcher.step(state, ns, &ce.local) {
                Step::Next(next, m, p) => {
                    state = next;
                    last = Some(p);
                    match m {
                        Matched::Element(e) => out.push(Work::Declared(c, e, cpath)),
                        Matched::Wildcard(Process::Skip) => {}
                        Matched::Wildcard(Process::Lax) => out.push(Work::Lax(c, cpath)),
                        Matched::Wildcard(Process::Strict) => {
                            match comps.global_element(ns.unwrap_or(""), &ce.local) {
                                Some(e) => out.push(Work::Declared(c, e, cpath)),
                                None => match self.xsi(ce, "type").map(|v| self.xsi_type(c, v)) {
                                    Some(Ok(t)) => out.push(Work::Typed(c, t, cpath)),
                                    _ => self.violation(
                                        cpath,
                                        format!(
                                            "element {} is allowed by a wildcard, which requires a declaration, and none exists",
                                            describe_name(ns, &ce.local, None)
                                        ),
                                    ),
                                },
                            }
                        }
                    }
                }
                Step::NoMatch => {
                    let message = self.unexpected(state, last, particle, el, ce);
                    self.violation(cpath, message);
                    failed = true;
                    if let Some(e) = self.declared_somewhere(particle, ns, &ce.local) {
                        out.push(Work::Declared(c, e, cpath));
                    }
                }
                Step::TooComplex => {
                    self.violation(path, "content model too ambiguous to check");
                    return;
                }
            }
        }
        if !failed && !self.matcher.accepts_end(state) {
            let expected = self.matcher.expected(state);
            let names = self.describe_leaves(&expected, el.ns.as_deref());
            self.violation(
                path,
                format!(
                    "element {} is incomplete: missing {}",
                    el.local,
                    one_of(&names)
                ),
            );
        }
    }

    /// A declaration for `{ns}local` anywhere in the model (to keep checking
    /// children after the model lost track).
    fn declared_somewhere(&self, particle: PId, ns: Option<&str>, local: &str) -> Option<ElemId> {
        let mut leaves = Vec::new();
        content::all_leaves(self.comps, particle, &mut leaves);
        leaves
            .into_iter()
            .find_map(|p| match &self.comps.particle(p).term {
                Term::Element(e) if self.comps.element(*e).name.is(ns, local) => Some(*e),
                _ => None,
            })
    }

    fn unexpected(
        &self,
        state: content::State,
        last: Option<PId>,
        particle: PId,
        parent: &Element,
        child: &Element,
    ) -> String {
        let comps = self.comps;
        let ns = child.ns.as_deref();
        let pns = parent.ns.as_deref();
        let expected = self.matcher.expected(state);
        let can_end = self.matcher.accepts_end(state);
        let name = describe_name(ns, &child.local, pns);
        let mut names = self.describe_leaves(&expected, pns);
        if can_end {
            names.push(format!("the end of {}", parent.local));
        }
        let wanted = if names.is_empty() {
            String::new()
        } else {
            format!("; expected {}", one_of(&names))
        };
        let leaf_name = |p: PId| match &comps.particle(p).term {
            Term::Element(e) => Some(&comps.element(*e).name),
            _ => None,
        };
        if let Some(p) = last
            && leaf_name(p).is_some_and(|q| q.is(ns, &child.local))
        {
            let max = comps.particle(p).max;
            if let Some(max) = max {
                let times = if max == 1 {
                    "once".to_owned()
                } else {
                    format!("{max} times")
                };
                return format!("element {name} may occur at most {times} here{wanted}");
            }
        }
        let mut all = Vec::new();
        content::all_leaves(comps, particle, &mut all);
        if all
            .iter()
            .any(|p| leaf_name(*p).is_some_and(|q| q.is(ns, &child.local)))
        {
            return format!("element {name} is out of order{wanted}");
        }
        if let Some(q) = all
            .iter()
            .filter_map(|p| leaf_name(*p))
            .find(|q| q.local == child.local)
        {
            let want = if q.ns.is_empty() {
                "no namespace".to_owned()
            } else {
                format!("namespace {}", q.ns)
            };
            let have = match ns {
                Some(ns) => format!("namespace {ns}"),
                None => "no namespace".into(),
            };
            return format!(
                "element {} is in {have}, but the schema expects it in {want}{wanted}",
                child.local
            );
        }
        format!("element {name} is not allowed here{wanted}")
    }

    fn describe_leaves(&self, leaves: &[PId], context_ns: Option<&str>) -> Vec<String> {
        let comps = self.comps;
        let mut out: Vec<String> = Vec::new();
        for p in leaves {
            let s = match &comps.particle(*p).term {
                Term::Element(e) => {
                    let q = &comps.element(*e).name;
                    let ns = Some(q.ns.as_str()).filter(|s| !s.is_empty());
                    describe_name(ns, &q.local, context_ns)
                }
                Term::Any(w) => w.namespaces.describe(),
                _ => continue,
            };
            if !out.contains(&s) {
                out.push(s);
            }
        }
        if out.len() > 12 {
            let n = out.len();
            out.truncate(12);
            out.push(format!("… ({n} in all)"));
        }
        out
    }

    /// Lax assessment: validate what has a declaration, let the rest be.
    fn lax(&mut self, node: NodeId, path: At<'a>, out: &mut Vec<Work<'a>>) {
        let comps = self.comps;
        let doc = self.doc;
        let el = doc.element(node);
        if let Some(e) = comps.global_element(el.ns.as_deref().unwrap_or(""), &el.local) {
            self.element(node, e, path, out);
            return;
        }
        if let Some(xt) = self.xsi(el, "type") {
            match self.xsi_type(node, xt) {
                Ok(t) => self.typed(node, t, None, false, path, out),
                Err(m) => self.violation(path, m),
            }
            return;
        }
        for a in &el.attrs {
            if a.ns.as_deref() == Some(XSI_NS) {
                continue;
            }
            if let Some(g) = comps
                .global_attributes
                .get(&QName::new(a.ns.as_deref().unwrap_or(""), &a.local))
            {
                let t = g.type_id;
                self.value(node, t, &a.value, path.attr(&a.local));
            }
        }
        let mut counts: Vec<(Option<&str>, &str, usize)> = Vec::new();
        for c in doc.child_elements(node) {
            let ce = doc.element(c);
            let ns = ce.ns.as_deref();
            let n = match counts
                .iter_mut()
                .find(|(cns, cl, _)| *cns == ns && *cl == ce.local)
            {
                Some(entry) => {
                    entry.2 += 1;
                    entry.2
                }
                None => {
                    counts.push((ns, ce.local.as_str(), 1));
                    1
                }
            };
            let cpath = self.child_at(path, &ce.local, n);
            out.push(Work::Lax(c, cpath));
        }
    }
}

/// Whether `el` has child elements, and non-whitespace text.
fn content_kinds(doc: &Document, el: &Element) -> (bool, bool) {
    let mut elements = false;
    let mut text = false;
    for c in &el.children {
        match doc.node(*c) {
            Node::Element(_) => elements = true,
            Node::Text(t) => {
                if !t.chars().all(|c| matches!(c, ' ' | '\t' | '\n' | '\r')) {
                    text = true;
                }
            }
            Node::ProcessingInstruction { .. } => {}
        }
    }
    (elements, text)
}

/// A name for messages: the local name, with its namespace when it differs
/// from the surrounding one.
fn describe_name(ns: Option<&str>, local: &str, context_ns: Option<&str>) -> String {
    match ns {
        None if context_ns.is_none() => local.to_owned(),
        None => format!("{local} (in no namespace)"),
        Some(ns) if Some(ns) == context_ns => local.to_owned(),
        Some(ns) => format!("{{{ns}}}{local}"),
    }
}

fn one_of(names: &[String]) -> String {
    match names {
        [] => "nothing".into(),
        [one] => one.clone(),
        [init @ .., last] => format!("one of {}, or {last}", init.join(", ")),
    }
}

/// A value in quotes, shortened when long.
fn quote_short(v: &str) -> String {
    let n = v.chars().count();
    if n > 80 {
        let head: String = v.chars().take(77).collect();
        format!("'{head}…' ({n} characters)")
    } else {
        format!("'{v}'")
    }
}
