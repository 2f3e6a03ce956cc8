//! From schema documents to components: global definitions are indexed by
//! expanded name first, then every type is compiled on demand (a type needs
//! only its base compiled before it, so element declarations can refer to
//! any type, including their own), groups and attribute groups are expanded
//! where they are referenced.

use std::collections::HashMap;

use super::builtin::{self, Builtin};
use super::components::*;
use super::facets::{self, Facets};
use super::load::{SchemaDoc, xs_children};
use super::regex::Pattern;
use super::{XS_NS, XsdError};
use crate::xml::{NodeId, XML_NS};

/// Longest chain of type derivations (or substitution group heads) accepted.
const MAX_DERIVATION_DEPTH: usize = 500;
/// Deepest nesting of particles, group references included.
const MAX_PARTICLE_DEPTH: usize = 300;
/// Bound on particles in all (group references are expanded in place).
const MAX_PARTICLES: usize = 4_000_000;

pub(crate) fn compile(docs: &[SchemaDoc]) -> Result<Components, XsdError> {
    let mut c = Compiler::new(docs);
    c.index()?;
    c.builtins();
    c.compile_all()?;
    c.finish()
}

/// Where a definition is written: document index and node.
#[derive(Clone, Copy, Debug)]
struct At {
    doc: usize,
    node: NodeId,
}

#[derive(Debug)]
enum State {
    Pending(At, Option<QName>),
    InProgress,
    Done,
}

struct Compiler<'d> {
    docs: &'d [SchemaDoc],
    types: Vec<Option<TypeDef>>,
    type_state: Vec<State>,
    elements: Vec<Option<ElementDecl>>,
    element_state: Vec<State>,
    particles: Vec<Particle>,
    raw_types: HashMap<QName, At>,
    raw_elements: HashMap<QName, At>,
    raw_attributes: HashMap<QName, At>,
    raw_groups: HashMap<QName, At>,
    raw_attr_groups: HashMap<QName, At>,
    type_ids: HashMap<QName, TypeId>,
    element_ids: HashMap<QName, ElemId>,
    global_attributes: HashMap<QName, AttrUse>,
    builtin_ids: HashMap<Builtin, TypeId>,
    any_type: TypeId,
    /// Groups being expanded (to refuse circular definitions).
    group_stack: Vec<QName>,
    attr_group_stack: Vec<QName>,
    derivation_depth: usize,
    particle_depth: usize,
    substitution_heads: Vec<(ElemId, QName, At)>,
}

/// The attributes a type states itself, before its base is merged in.
struct LocalAttributes {
    uses: Vec<AttrUse>,
    prohibited: Vec<QName>,
    wildcard: Option<Wildcard>,
}

impl<'d> Compiler<'d> {
    fn new(docs: &'d [SchemaDoc]) -> Self {
        Compiler {
            docs,
            types: Vec::new(),
            type_state: Vec::new(),
            elements: Vec::new(),
            element_state: Vec::new(),
            particles: Vec::new(),
            raw_types: HashMap::new(),
            raw_elements: HashMap::new(),
            raw_attributes: HashMap::new(),
            raw_groups: HashMap::new(),
            raw_attr_groups: HashMap::new(),
            type_ids: HashMap::new(),
            element_ids: HashMap::new(),
            global_attributes: HashMap::new(),
            builtin_ids: HashMap::new(),
            any_type: TypeId(0),
            group_stack: Vec::new(),
            attr_group_stack: Vec::new(),
            derivation_depth: 0,
            particle_depth: 0,
            substitution_heads: Vec::new(),
        }
    }

    fn sd(&self, at: At) -> &'d SchemaDoc {
        &self.docs[at.doc]
    }

    fn err(&self, at: At, message: impl Into<String>) -> XsdError {
        let sd = self.sd(at);
        let el = sd.doc.element(at.node);
        let what = match el.attr("name").or(el.attr("ref")) {
            Some(n) => format!("xs:{} {n:?}: ", el.local),
            None => format!("xs:{}: ", el.local),
        };
        XsdError::Invalid {
            name: sd.name.clone(),
            message: format!("{what}{}", message.into()),
        }
    }

    fn attr(&self, at: At, name: &str) -> Option<&'d str> {
        self.sd(at).doc.element(at.node).attr(name)
    }

    fn local(&self, at: At) -> &'d str {
        &self.sd(at).doc.element(at.node).local
    }

    fn children(&self, at: At) -> Vec<At> {
        xs_children(&self.sd(at).doc, at.node)
            .map(|node| At { doc: at.doc, node })
            .collect()
    }

    fn child(&self, at: At, local: &str) -> Option<At> {
        self.children(at)
            .into_iter()
            .find(|c| self.local(*c) == local)
    }

    /// A QName written in the schema at `at`, resolved by the namespace
    /// bindings in scope there.
    fn qname(&self, at: At, value: &str) -> Result<QName, XsdError> {
        let sd = self.sd(at);
        let value = value.trim();
        let (prefix, local) = match value.split_once(':') {
            Some((p, l)) => (Some(p), l),
            None => (None, value),
        };
        let ns = match sd.doc.lookup_namespace(at.node, prefix) {
            Some(ns) => ns.to_owned(),
            None if prefix.is_some() => {
                return Err(self.err(
                    at,
                    format!(
                        "prefix {:?} of {value:?} is not declared",
                        prefix.unwrap_or("")
                    ),
                ));
            }
            None => String::new(),
        };
        // A chameleon document's unqualified references mean the
        // namespace it was included into.
        let ns = if ns.is_empty() && sd.chameleon {
            sd.target_ns.clone()
        } else {
            ns
        };
        Ok(QName::new(&ns, local))
    }

    fn index(&mut self) -> Result<(), XsdError> {
        for (i, sd) in self.docs.iter().enumerate() {
            let root = sd.doc.root();
            for node in xs_children(&sd.doc, root) {
                let at = At { doc: i, node };
                let el = sd.doc.element(node);
                let table = match el.local.as_str() {
                    "element" => &mut self.raw_elements,
                    "attribute" => &mut self.raw_attributes,
                    "simpleType" | "complexType" => &mut self.raw_types,
                    "group" => &mut self.raw_groups,
                    "attributeGroup" => &mut self.raw_attr_groups,
                    _ => continue,
                };
                let Some(name) = el.attr("name") else {
                    return Err(XsdError::Invalid {
                        name: sd.name.clone(),
                        message: format!("a global xs:{} has no name", el.local),
                    });
                };
                let q = QName::new(&sd.target_ns, name);
                if let Some(prev) = table.get(&q) {
                    // The same definition reached twice (two copies of one
                    // commons file) is harmless; two different ones are not.
                    let a = crate::xml::element_to_string(&self.docs[prev.doc].doc, prev.node);
                    let b = crate::xml::element_to_string(&sd.doc, node);
                    if a != b {
                        return Err(XsdError::Invalid {
                            name: sd.name.clone(),
                            message: format!(
                                "xs:{} {{{}}}{} is also defined, differently, in {}",
                                el.local, q.ns, q.local, self.docs[prev.doc].name
                            ),
                        });
                    }
                    continue;
                }
                table.insert(q, at);
            }
        }
        Ok(())
    }

    fn new_type(&mut self, state: State) -> TypeId {
        let id = TypeId(self.types.len() as u32);
        self.types.push(None);
        self.type_state.push(state);
        id
    }

    fn done_type(&mut self, def: TypeDef) -> TypeId {
        let id = self.new_type(State::Done);
        self.types[id.0 as usize] = Some(def);
        id
    }

    fn builtins(&mut self) {
        let xs = |l: &str| QName::new(XS_NS, l);
        let any_particle = self.push_particle(Particle {
            min: 0,
            max: None,
            term: Term::Any(Wildcard {
                namespaces: NsConstraint::Any,
                process: Process::Lax,
            }),
            term_nullable: false,
        });
        self.any_type = self.done_type(TypeDef::Complex(ComplexType {
            name: Some(xs("anyType")),
            base: None,
            is_abstract: false,
            content: Content::Elements {
                particle: any_particle,
                mixed: true,
            },
            attributes: Vec::new(),
            any_attribute: Some(Wildcard {
                namespaces: NsConstraint::Any,
                process: Process::Lax,
            }),
        }));
        self.type_ids.insert(xs("anyType"), self.any_type);
        for (name, b, base) in builtin::ALL {
            let base_id = match base {
                Some(base) => self.builtin_ids[base],
                None => self.any_type,
            };
            let id = self.done_type(TypeDef::Simple(SimpleType {
                name: Some(xs(name)),
                base: Some(base_id),
                def: SimpleDef::Builtin,
                whitespace: b.whitespace(),
                builtin: *b,
                variety: if b.list_item().is_some() {
                    Variety::List
                } else {
                    Variety::Atomic
                },
            }));
            self.builtin_ids.insert(*b, id);
            self.type_ids.insert(xs(name), id);
        }
        // User definitions claim their names before any reference resolves.
        // In document order, so that a schema set compiles the same way
        // every time.
        let by_place = |t: &HashMap<QName, At>| {
            let mut v: Vec<(QName, At)> = t.iter().map(|(q, a)| (q.clone(), *a)).collect();
            v.sort_by_key(|(_, a)| (a.doc, a.node));
            v
        };
        let named = by_place(&self.raw_types);
        for (q, at) in named {
            if q.ns == XS_NS {
                continue;
            }
            let id = self.new_type(State::Pending(at, Some(q.clone())));
            self.type_ids.insert(q, id);
        }
        let elements = by_place(&self.raw_elements);
        for (q, at) in elements {
            let id = ElemId(self.elements.len() as u32);
            self.elements.push(None);
            self.element_state.push(State::Pending(at, Some(q.clone())));
            self.element_ids.insert(q, id);
        }
        if !self.docs.iter().any(|d| d.target_ns == XML_NS) {
            self.xml_attributes();
        }
    }

    /// `xml:lang`, `xml:space`, `xml:base`, `xml:id`, as the XML namespace's
    /// own schema declares them, so schemas can refer to them offline.
    fn xml_attributes(&mut self) {
        let b = |c: &Self, b: Builtin| c.builtin_ids[&b];
        let empty = self.done_type(TypeDef::Simple(SimpleType {
            name: None,
            base: Some(b(self, Builtin::String)),
            def: SimpleDef::Restriction(Facets {
                length: Some(0),
                ..Facets::default()
            }),
            whitespace: super::components::WhiteSpace::Preserve,
            builtin: Builtin::String,
            variety: Variety::Atomic,
        }));
        let lang = self.done_type(TypeDef::Simple(SimpleType {
            name: None,
            base: Some(b(self, Builtin::AnySimpleType)),
            def: SimpleDef::Union(vec![b(self, Builtin::Language), empty]),
            whitespace: super::components::WhiteSpace::Preserve,
            builtin: Builtin::AnySimpleType,
            variety: Variety::Union,
        }));
        let space = self.done_type(TypeDef::Simple(SimpleType {
            name: None,
            base: Some(b(self, Builtin::NcName)),
            def: SimpleDef::Restriction(Facets {
                enumeration: vec!["default".into(), "preserve".into()],
                ..Facets::default()
            }),
            whitespace: super::components::WhiteSpace::Collapse,
            builtin: Builtin::NcName,
            variety: Variety::Atomic,
        }));
        for (local, t) in [
            ("lang", lang),
            ("space", space),
            ("base", b(self, Builtin::AnyUri)),
            ("id", b(self, Builtin::Id)),
        ] {
            let name = QName::new(XML_NS, local);
            self.global_attributes.insert(
                name.clone(),
                AttrUse {
                    name,
                    type_id: t,
                    required: false,
                    value: None,
                },
            );
        }
    }

    fn compile_all(&mut self) -> Result<(), XsdError> {
        for i in 0..self.elements.len() {
            self.ensure_element(ElemId(i as u32))?;
        }
        let mut attrs: Vec<(QName, At)> = self
            .raw_attributes
            .iter()
            .map(|(q, a)| (q.clone(), *a))
            .collect();
        attrs.sort_by_key(|(_, a)| (a.doc, a.node));
        for (q, _) in attrs {
            self.global_attribute(&q)?;
        }
        // Types created while compiling others are compiled too: loop until
        // every one is done.
        let mut i = 0;
        while i < self.types.len() {
            self.ensure_type(TypeId(i as u32))?;
            i += 1;
        }
        Ok(())
    }

    fn finish(self) -> Result<Components, XsdError> {
        let types: Vec<TypeDef> = self
            .types
            .into_iter()
            .map(|t| t.expect("compiled"))
            .collect();
        let elements: Vec<ElementDecl> = self
            .elements
            .into_iter()
            .map(|e| e.expect("compiled"))
            .collect();
        let mut global_elements = Names::new();
        for (q, id) in &self.element_ids {
            global_elements.insert(q, *id);
        }
        let mut global_types = Names::new();
        for (q, id) in &self.type_ids {
            global_types.insert(q, *id);
        }
        // Substitution groups, transitively: a member of a member stands in
        // for the head too.
        let mut direct: HashMap<ElemId, Vec<ElemId>> = HashMap::new();
        for (member, head, at) in &self.substitution_heads {
            let Some(h) = self.element_ids.get(head) else {
                let sd = &self.docs[at.doc];
                return Err(XsdError::Invalid {
                    name: sd.name.clone(),
                    message: format!(
                        "substitution group head {{{}}}{} is not declared",
                        head.ns, head.local
                    ),
                });
            };
            direct.entry(*h).or_default().push(*member);
        }
        let mut substitutes = HashMap::new();
        for head in direct.keys() {
            let mut all = Vec::new();
            let mut stack = direct[head].clone();
            while let Some(m) = stack.pop() {
                if all.contains(&m) || m == *head {
                    continue;
                }
                all.push(m);
                if let Some(more) = direct.get(&m) {
                    stack.extend(more.iter().copied());
                }
            }
            substitutes.insert(*head, all);
        }
        Ok(Components {
            elements,
            types,
            particles: self.particles,
            global_elements,
            global_types,
            global_attributes: self.global_attributes,
            substitutes,
            any_type: self.any_type,
        })
    }

    fn push_particle(&mut self, p: Particle) -> PId {
        let id = PId(self.particles.len() as u32);
        self.particles.push(p);
        id
    }

    // ---- types -------------------------------------------------------

    fn type_ref(&self, at: At, value: &str) -> Result<TypeId, XsdError> {
        let q = self.qname(at, value)?;
        self.type_ids.get(&q).copied().ok_or_else(|| {
            self.err(
                at,
                format!(
                    "type {{{}}}{} is not defined in the schema set",
                    q.ns, q.local
                ),
            )
        })
    }

    fn ensure_type(&mut self, id: TypeId) -> Result<(), XsdError> {
        let idx = id.0 as usize;
        let (at, name) = match std::mem::replace(&mut self.type_state[idx], State::InProgress) {
            State::Done => {
                self.type_state[idx] = State::Done;
                return Ok(());
            }
            State::InProgress => {
                return Err(XsdError::Invalid {
                    name: "schema set".into(),
                    message: format!("type {} derives from itself", self.type_name_for_error(id)),
                });
            }
            State::Pending(at, name) => (at, name),
        };
        self.derivation_depth += 1;
        if self.derivation_depth > MAX_DERIVATION_DEPTH {
            return Err(self.err(at, "type derivations nest too deeply"));
        }
        let def = match self.local(at) {
            "simpleType" => self.simple_type(at, name).map(TypeDef::Simple),
            _ => self.complex_type(at, name).map(TypeDef::Complex),
        };
        self.derivation_depth -= 1;
        self.types[idx] = Some(def?);
        self.type_state[idx] = State::Done;
        Ok(())
    }

    fn type_name_for_error(&self, id: TypeId) -> String {
        self.type_ids
            .iter()
            .find(|(_, v)| **v == id)
            .map(|(q, _)| format!("{{{}}}{}", q.ns, q.local))
            .unwrap_or_else(|| "(anonymous)".into())
    }

    /// An anonymous type written at `at`: compiled later, like named ones.
    fn anonymous_type(&mut self, at: At) -> TypeId {
        self.new_type(State::Pending(at, None))
    }

    fn simple_of(&mut self, id: TypeId, at: At) -> Result<&SimpleType, XsdError> {
        self.ensure_type(id)?;
        match self.types[id.0 as usize].as_ref() {
            Some(TypeDef::Simple(s)) => Ok(s),
            _ => Err(self.err(at, "a simple type is required here, not a complex one")),
        }
    }

    fn complex_of(&mut self, id: TypeId) -> Result<Option<&ComplexType>, XsdError> {
        self.ensure_type(id)?;
        Ok(match self.types[id.0 as usize].as_ref() {
            Some(TypeDef::Complex(c)) => Some(c),
            _ => None,
        })
    }

    fn simple_type(&mut self, at: At, name: Option<QName>) -> Result<SimpleType, XsdError> {
        let Some(body) = self
            .children(at)
            .into_iter()
            .find(|c| matches!(self.local(*c), "restriction" | "list" | "union"))
        else {
            return Err(self.err(
                at,
                "a simple type needs xs:restriction, xs:list or xs:union",
            ));
        };
        let any_simple = self.builtin_ids[&Builtin::AnySimpleType];
        match self.local(body) {
            "restriction" => {
                let base = self.restriction_base(body)?;
                self.restricted_simple(body, name, base)
            }
            "list" => {
                let item = match self.attr(body, "itemType") {
                    Some(t) => self.type_ref(body, t)?,
                    None => {
                        let inner = self
                            .child(body, "simpleType")
                            .ok_or_else(|| self.err(body, "a list needs an item type"))?;
                        self.anonymous_type(inner)
                    }
                };
                Ok(SimpleType {
                    name,
                    base: Some(any_simple),
                    def: SimpleDef::List(item),
                    whitespace: WhiteSpace::Collapse,
                    builtin: Builtin::AnySimpleType,
                    variety: Variety::List,
                })
            }
            _ => {
                let mut members = Vec::new();
                if let Some(list) = self.attr(body, "memberTypes") {
                    for m in list.split_ascii_whitespace() {
                        members.push(self.type_ref(body, m)?);
                    }
                }
                for inner in self.children(body) {
                    if self.local(inner) == "simpleType" {
                        members.push(self.anonymous_type(inner));
                    }
                }
                if members.is_empty() {
                    return Err(self.err(body, "a union needs member types"));
                }
                Ok(SimpleType {
                    name,
                    base: Some(any_simple),
                    def: SimpleDef::Union(members),
                    whitespace: WhiteSpace::Preserve,
                    builtin: Builtin::AnySimpleType,
                    variety: Variety::Union,
                })
            }
        }
    }

    /// The base of an `xs:restriction`: its `base` attribute or its inline
    /// simple type.
    fn restriction_base(&mut self, at: At) -> Result<TypeId, XsdError> {
        match self.attr(at, "base") {
            Some(b) => self.type_ref(at, b),
            None => {
                let inner = self
                    .child(at, "simpleType")
                    .ok_or_else(|| self.err(at, "a restriction needs a base type"))?;
                Ok(self.anonymous_type(inner))
            }
        }
    }

    /// A simple type restricting simple type `base` by the facets under `at`.
    fn restricted_simple(
        &mut self,
        at: At,
        name: Option<QName>,
        base: TypeId,
    ) -> Result<SimpleType, XsdError> {
        let b = self.simple_of(base, at)?;
        let (mut whitespace, builtin, variety) = (b.whitespace, b.builtin, b.variety);
        let mut f = Facets::default();
        let mut enumeration = Vec::new();
        let number = |c: &Self, at: At, v: &str| -> Result<usize, XsdError> {
            v.trim().parse().map_err(|_| {
                c.err(
                    at,
                    format!("facet value {v:?} is not a non-negative number"),
                )
            })
        };
        for facet in self.children(at) {
            let local = self.local(facet);
            if local == "simpleType" {
                continue;
            }
            let Some(value) = self.attr(facet, "value") else {
                if matches!(local, "attribute" | "attributeGroup" | "anyAttribute") {
                    continue;
                }
                return Err(self.err(facet, "facet without a value"));
            };
            match local {
                "enumeration" => enumeration.push(value.to_owned()),
                "pattern" => {
                    let p = Pattern::new(value).map_err(|message| XsdError::Pattern {
                        name: self.sd(facet).name.clone(),
                        pattern: value.to_owned(),
                        message,
                    })?;
                    f.patterns.push(p);
                }
                "length" => f.length = Some(number(self, facet, value)?),
                "minLength" => f.min_length = Some(number(self, facet, value)?),
                "maxLength" => f.max_length = Some(number(self, facet, value)?),
                "totalDigits" => f.total_digits = Some(number(self, facet, value)?),
                "fractionDigits" => f.fraction_digits = Some(number(self, facet, value)?),
                "minInclusive" => f.min_inclusive = Some(value.trim().to_owned()),
                "maxInclusive" => f.max_inclusive = Some(value.trim().to_owned()),
                "minExclusive" => f.min_exclusive = Some(value.trim().to_owned()),
                "maxExclusive" => f.max_exclusive = Some(value.trim().to_owned()),
                "whiteSpace" => {
                    whitespace = match value.trim() {
                        "preserve" => WhiteSpace::Preserve,
                        "replace" => WhiteSpace::Replace,
                        "collapse" => WhiteSpace::Collapse,
                        other => {
                            return Err(self.err(facet, format!("unknown whiteSpace {other:?}")));
                        }
                    }
                }
                // Facets that constrain nothing in XSD 1.0 validation.
                _ => {}
            }
        }
        f.enumeration = enumeration
            .iter()
            .map(|e| facets::normalize(e, whitespace).into_owned())
            .collect();
        Ok(SimpleType {
            name,
            base: Some(base),
            def: SimpleDef::Restriction(f),
            whitespace,
            builtin,
            variety,
        })
    }

    fn complex_type(&mut self, at: At, name: Option<QName>) -> Result<ComplexType, XsdError> {
        let is_abstract = self.flag(at, "abstract");
        let mut mixed = self.flag(at, "mixed");
        let children = self.children(at);
        if let Some(sc) = children.iter().find(|c| self.local(**c) == "simpleContent") {
            return self.simple_content(*sc, name, is_abstract);
        }
        if let Some(cc) = children
            .iter()
            .find(|c| self.local(**c) == "complexContent")
        {
            if let Some(m) = self.attr(*cc, "mixed") {
                mixed = matches!(m.trim(), "true" | "1");
            }
            return self.complex_content(*cc, name, is_abstract, mixed);
        }
        let particle = self.content_particle(at)?;
        let local = self.local_attributes(at)?;
        Ok(ComplexType {
            name,
            base: Some(self.any_type),
            is_abstract,
            content: self.content_of(particle, mixed),
            attributes: local.uses,
            any_attribute: local.wildcard,
        })
    }

    fn flag(&self, at: At, name: &str) -> bool {
        self.attr(at, name)
            .is_some_and(|v| matches!(v.trim(), "true" | "1"))
    }

    fn content_of(&mut self, particle: Option<PId>, mixed: bool) -> Content {
        match particle {
            Some(p) => Content::Elements { particle: p, mixed },
            None if mixed => {
                let empty = self.push_particle(Particle {
                    min: 1,
                    max: Some(1),
                    term: Term::Sequence(Vec::new()),
                    term_nullable: true,
                });
                Content::Elements {
                    particle: empty,
                    mixed: true,
                }
            }
            None => Content::Empty,
        }
    }

    /// The model group directly under `at` (a complex type, extension or
    /// restriction), if any; an empty one counts as none.
    fn content_particle(&mut self, at: At) -> Result<Option<PId>, XsdError> {
        let Some(group) = self
            .children(at)
            .into_iter()
            .find(|c| matches!(self.local(*c), "sequence" | "choice" | "all" | "group"))
        else {
            return Ok(None);
        };
        let p = self.particle(group)?;
        Ok(p.filter(|p| {
            let p = &self.particles[p.0 as usize];
            !matches!(&p.term, Term::Sequence(c) | Term::All(c) if c.is_empty())
        }))
    }

    fn simple_content(
        &mut self,
        sc: At,
        name: Option<QName>,
        is_abstract: bool,
    ) -> Result<ComplexType, XsdError> {
        let Some(body) = self
            .children(sc)
            .into_iter()
            .find(|c| matches!(self.local(*c), "extension" | "restriction"))
        else {
            return Err(self.err(sc, "simpleContent needs xs:extension or xs:restriction"));
        };
        let base_attr = self
            .attr(body, "base")
            .ok_or_else(|| self.err(body, "no base type"))?;
        let base = self.type_ref(body, base_attr)?;
        let local = self.local_attributes(body)?;
        let any_simple = self.builtin_ids[&Builtin::AnySimpleType];
        // What the base contributes: its text type and its attributes.
        let (base_text, base_attrs, base_wildcard) = match self.complex_of(base)? {
            Some(c) => (
                match c.content {
                    Content::Simple(t) => t,
                    _ => any_simple,
                },
                c.attributes.clone(),
                c.any_attribute.clone(),
            ),
            None => (base, Vec::new(), None),
        };
        if self.local(body) == "extension" {
            let wildcard = union_wildcards(base_wildcard, local.wildcard);
            Ok(ComplexType {
                name,
                base: Some(base),
                is_abstract,
                content: Content::Simple(base_text),
                attributes: merge_attributes(base_attrs, local.uses, &[]),
                any_attribute: wildcard,
            })
        } else {
            let text_base = match self.child(body, "simpleType") {
                Some(inner) => self.anonymous_type(inner),
                None => base_text,
            };
            let text = self.restricted_simple(body, None, text_base)?;
            let text = self.done_type(TypeDef::Simple(text));
            Ok(ComplexType {
                name,
                base: Some(base),
                is_abstract,
                content: Content::Simple(text),
                attributes: merge_attributes(base_attrs, local.uses, &local.prohibited),
                any_attribute: local.wildcard,
            })
        }
    }

    fn complex_content(
        &mut self,
        cc: At,
        name: Option<QName>,
        is_abstract: bool,
        mixed: bool,
    ) -> Result<ComplexType, XsdError> {
        let Some(body) = self
            .children(cc)
            .into_iter()
            .find(|c| matches!(self.local(*c), "extension" | "restriction"))
        else {
            return Err(self.err(cc, "complexContent needs xs:extension or xs:restriction"));
        };
        let base_attr = self
            .attr(body, "base")
            .ok_or_else(|| self.err(body, "no base type"))?;
        let base = self.type_ref(body, base_attr)?;
        let own = self.content_particle(body)?;
        let local = self.local_attributes(body)?;
        let is_any = base == self.any_type;
        let Some(b) = self.complex_of(base)? else {
            return Err(self.err(body, "complexContent needs a complex base type"));
        };
        let base_attrs = b.attributes.clone();
        let base_wildcard = b.any_attribute.clone();
        let base_content = match &b.content {
            Content::Elements { particle, mixed } => Some((*particle, *mixed)),
            _ => None,
        };
        if self.local(body) == "extension" {
            // Extending anyType adds to nothing (what every processor does
            // with this common shorthand).
            let base_content = if is_any { None } else { base_content };
            let content = match (base_content, own) {
                (None, own) => self.content_of(own, mixed),
                (Some((bp, bmixed)), None) => Content::Elements {
                    particle: bp,
                    mixed: mixed || bmixed,
                },
                (Some((bp, _)), Some(op)) => {
                    let nullable = self.particles[bp.0 as usize].nullable()
                        && self.particles[op.0 as usize].nullable();
                    let seq = self.push_particle(Particle {
                        min: 1,
                        max: Some(1),
                        term: Term::Sequence(vec![bp, op]),
                        term_nullable: nullable,
                    });
                    Content::Elements {
                        particle: seq,
                        mixed,
                    }
                }
            };
            Ok(ComplexType {
                name,
                base: Some(base),
                is_abstract,
                content,
                attributes: merge_attributes(base_attrs, local.uses, &[]),
                any_attribute: if is_any {
                    local.wildcard
                } else {
                    union_wildcards(base_wildcard, local.wildcard)
                },
            })
        } else {
            Ok(ComplexType {
                name,
                base: Some(base),
                is_abstract,
                content: self.content_of(own, mixed),
                attributes: if is_any {
                    local.uses
                } else {
                    merge_attributes(base_attrs, local.uses, &local.prohibited)
                },
                any_attribute: local.wildcard,
            })
        }
    }

    // ---- particles ---------------------------------------------------

    fn occurs(&self, at: At) -> Result<(u32, Option<u32>), XsdError> {
        let min = match self.attr(at, "minOccurs") {
            Some(v) => v
                .trim()
                .parse()
                .map_err(|_| self.err(at, format!("minOccurs {v:?} is not a number")))?,
            None => 1,
        };
        let max = match self.attr(at, "maxOccurs").map(str::trim) {
            Some("unbounded") => None,
            Some(v) => Some(
                v.parse()
                    .map_err(|_| self.err(at, format!("maxOccurs {v:?} is not a number")))?,
            ),
            None => Some(1),
        };
        if let Some(max) = max
            && max < min
        {
            return Err(self.err(at, "maxOccurs is less than minOccurs"));
        }
        Ok((min, max))
    }

    /// The particle written at `at`; `None` when it can never occur
    /// (`maxOccurs="0"`).
    fn particle(&mut self, at: At) -> Result<Option<PId>, XsdError> {
        if self.particles.len() > MAX_PARTICLES {
            return Err(self.err(at, "the schema set expands to too many particles"));
        }
        self.particle_depth += 1;
        if self.particle_depth > MAX_PARTICLE_DEPTH {
            return Err(self.err(at, "model groups nest too deeply"));
        }
        let r = self.particle_inner(at);
        self.particle_depth -= 1;
        r
    }

    fn particle_inner(&mut self, at: At) -> Result<Option<PId>, XsdError> {
        let (min, max) = self.occurs(at)?;
        if max == Some(0) {
            return Ok(None);
        }
        let term = match self.local(at) {
            "element" => Term::Element(self.local_element(at)?),
            "any" => Term::Any(self.wildcard(at)),
            "group" => {
                let r = self
                    .attr(at, "ref")
                    .ok_or_else(|| self.err(at, "a local xs:group needs ref"))?;
                let q = self.qname(at, r)?;
                let Some(def) = self.raw_groups.get(&q).copied() else {
                    return Err(
                        self.err(at, format!("group {{{}}}{} is not defined", q.ns, q.local))
                    );
                };
                if self.group_stack.contains(&q) {
                    return Err(self.err(at, "group refers to itself"));
                }
                let Some(model) = self
                    .children(def)
                    .into_iter()
                    .find(|c| matches!(self.local(*c), "sequence" | "choice" | "all"))
                else {
                    return Ok(None);
                };
                self.group_stack.push(q);
                let inner = self.model_group(model);
                self.group_stack.pop();
                inner?
            }
            "sequence" | "choice" | "all" => self.model_group(at)?,
            other => {
                return Err(self.err(at, format!("xs:{other} is not allowed in a content model")));
            }
        };
        let term_nullable = match &term {
            Term::Element(_) | Term::Any(_) => false,
            Term::Sequence(c) | Term::All(c) => {
                c.iter().all(|p| self.particles[p.0 as usize].nullable())
            }
            Term::Choice(c) => c.iter().any(|p| self.particles[p.0 as usize].nullable()),
        };
        Ok(Some(self.push_particle(Particle {
            min,
            max,
            term,
            term_nullable,
        })))
    }

    fn model_group(&mut self, at: At) -> Result<Term, XsdError> {
        let mut parts = Vec::new();
        for c in self.children(at) {
            if let Some(p) = self.particle(c)? {
                parts.push(p);
            }
        }
        Ok(match self.local(at) {
            "sequence" => Term::Sequence(parts),
            "choice" => Term::Choice(parts),
            _ => Term::All(parts),
        })
    }

    fn wildcard(&self, at: At) -> Wildcard {
        let tns = &self.sd(at).target_ns;
        let namespaces = match self.attr(at, "namespace").map(str::trim) {
            None | Some("##any") => NsConstraint::Any,
            Some("##other") => NsConstraint::Not(tns.clone()),
            Some(list) => NsConstraint::Set(
                list.split_ascii_whitespace()
                    .map(|t| match t {
                        "##targetNamespace" => tns.clone(),
                        "##local" => String::new(),
                        uri => uri.to_owned(),
                    })
                    .collect(),
            ),
        };
        let process = match self.attr(at, "processContents").map(str::trim) {
            Some("lax") => Process::Lax,
            Some("skip") => Process::Skip,
            _ => Process::Strict,
        };
        Wildcard {
            namespaces,
            process,
        }
    }

    // ---- elements ----------------------------------------------------

    fn ensure_element(&mut self, id: ElemId) -> Result<(), XsdError> {
        let idx = id.0 as usize;
        let (at, name) = match std::mem::replace(&mut self.element_state[idx], State::InProgress) {
            State::Done => {
                self.element_state[idx] = State::Done;
                return Ok(());
            }
            State::InProgress => {
                return Err(XsdError::Invalid {
                    name: "schema set".into(),
                    message: "circular substitution group".into(),
                });
            }
            State::Pending(at, name) => (at, name),
        };
        self.derivation_depth += 1;
        if self.derivation_depth > MAX_DERIVATION_DEPTH {
            return Err(self.err(at, "substitution groups nest too deeply"));
        }
        let name = name.expect("global elements are named");
        let decl = self.element_decl(at, name, true);
        self.derivation_depth -= 1;
        let decl = decl?;
        if let Some(head) = self.attr(at, "substitutionGroup") {
            for h in head.split_ascii_whitespace() {
                let q = self.qname(at, h)?;
                self.substitution_heads.push((id, q, at));
            }
        }
        self.elements[idx] = Some(decl);
        self.element_state[idx] = State::Done;
        Ok(())
    }

    /// A particle's element: a reference to a global one, or a local
    /// declaration.
    fn local_element(&mut self, at: At) -> Result<ElemId, XsdError> {
        if let Some(r) = self.attr(at, "ref") {
            let q = self.qname(at, r)?;
            return self.element_ids.get(&q).copied().ok_or_else(|| {
                self.err(
                    at,
                    format!("element {{{}}}{} is not declared", q.ns, q.local),
                )
            });
        }
        let local = self
            .attr(at, "name")
            .ok_or_else(|| self.err(at, "a local element needs a name or a ref"))?;
        let sd = self.sd(at);
        let qualified = match self.attr(at, "form").map(str::trim) {
            Some("qualified") => true,
            Some("unqualified") => false,
            _ => sd.elements_qualified,
        };
        let ns = if qualified {
            sd.target_ns.clone()
        } else {
            String::new()
        };
        let decl = self.element_decl(at, QName::new(&ns, local), false)?;
        let id = ElemId(self.elements.len() as u32);
        self.elements.push(Some(decl));
        self.element_state.push(State::Done);
        Ok(id)
    }

    fn element_decl(&mut self, at: At, name: QName, global: bool) -> Result<ElementDecl, XsdError> {
        let type_id = if let Some(t) = self.attr(at, "type") {
            self.type_ref(at, t)?
        } else if let Some(inner) = self
            .children(at)
            .into_iter()
            .find(|c| matches!(self.local(*c), "simpleType" | "complexType"))
        {
            self.anonymous_type(inner)
        } else if let (true, Some(head)) = (global, self.attr(at, "substitutionGroup")) {
            // A member without a type of its own has its head's type.
            let first = head.split_ascii_whitespace().next().unwrap_or("");
            let q = self.qname(at, first)?;
            match self.element_ids.get(&q).copied() {
                Some(h) => {
                    self.ensure_element(h)?;
                    self.elements[h.0 as usize]
                        .as_ref()
                        .map_or(self.any_type, |d| d.type_id)
                }
                None => self.any_type,
            }
        } else {
            self.any_type
        };
        let value = match (self.attr(at, "default"), self.attr(at, "fixed")) {
            (_, Some(f)) => Some(ValueConstraint::Fixed(f.to_owned())),
            (Some(d), None) => Some(ValueConstraint::Default(d.to_owned())),
            (None, None) => None,
        };
        Ok(ElementDecl {
            name,
            type_id,
            nillable: self.flag(at, "nillable"),
            is_abstract: self.flag(at, "abstract"),
            value,
        })
    }

    // ---- attributes --------------------------------------------------

    fn global_attribute(&mut self, q: &QName) -> Result<Option<AttrUse>, XsdError> {
        if let Some(a) = self.global_attributes.get(q) {
            return Ok(Some(a.clone()));
        }
        let Some(at) = self.raw_attributes.get(q).copied() else {
            return Ok(None);
        };
        let type_id = self.attribute_type(at)?;
        let use_ = AttrUse {
            name: q.clone(),
            type_id,
            required: false,
            value: self.value_constraint(at),
        };
        self.global_attributes.insert(q.clone(), use_.clone());
        Ok(Some(use_))
    }

    fn attribute_type(&mut self, at: At) -> Result<TypeId, XsdError> {
        if let Some(t) = self.attr(at, "type") {
            return self.type_ref(at, t);
        }
        Ok(match self.child(at, "simpleType") {
            Some(inner) => self.anonymous_type(inner),
            None => self.builtin_ids[&Builtin::AnySimpleType],
        })
    }

    fn value_constraint(&self, at: At) -> Option<ValueConstraint> {
        match (self.attr(at, "default"), self.attr(at, "fixed")) {
            (_, Some(f)) => Some(ValueConstraint::Fixed(f.to_owned())),
            (Some(d), None) => Some(ValueConstraint::Default(d.to_owned())),
            (None, None) => None,
        }
    }

    /// The attribute uses, prohibitions and wildcard written under `at`,
    /// attribute groups expanded.
    fn local_attributes(&mut self, at: At) -> Result<LocalAttributes, XsdError> {
        let mut out = LocalAttributes {
            uses: Vec::new(),
            prohibited: Vec::new(),
            wildcard: None,
        };
        let mut group_wildcards: Vec<Wildcard> = Vec::new();
        for c in self.children(at) {
            match self.local(c) {
                "attribute" => {
                    let (use_, prohibited) = self.attribute_use(c)?;
                    if prohibited {
                        out.prohibited.push(use_.name);
                    } else if let Some(prev) = out.uses.iter_mut().find(|u| u.name == use_.name) {
                        *prev = use_;
                    } else {
                        out.uses.push(use_);
                    }
                }
                "attributeGroup" => {
                    let r = self
                        .attr(c, "ref")
                        .ok_or_else(|| self.err(c, "a local xs:attributeGroup needs ref"))?;
                    let q = self.qname(c, r)?;
                    let Some(def) = self.raw_attr_groups.get(&q).copied() else {
                        return Err(self.err(
                            c,
                            format!("attribute group {{{}}}{} is not defined", q.ns, q.local),
                        ));
                    };
                    if self.attr_group_stack.contains(&q) || self.attr_group_stack.len() > 100 {
                        return Err(self.err(c, "attribute group refers to itself"));
                    }
                    self.attr_group_stack.push(q);
                    let inner = self.local_attributes(def);
                    self.attr_group_stack.pop();
                    let inner = inner?;
                    for u in inner.uses {
                        if !out.uses.iter().any(|x| x.name == u.name) {
                            out.uses.push(u);
                        }
                    }
                    out.prohibited.extend(inner.prohibited);
                    if let Some(w) = inner.wildcard {
                        group_wildcards.push(w);
                    }
                }
                "anyAttribute" => out.wildcard = Some(self.wildcard(c)),
                _ => {}
            }
        }
        // A type's own wildcard and those of its attribute groups combine
        // by intersection.
        for g in group_wildcards {
            out.wildcard = Some(match out.wildcard {
                None => g,
                Some(w) => Wildcard {
                    namespaces: w.namespaces.intersect(&g.namespaces),
                    process: w.process,
                },
            });
        }
        Ok(out)
    }

    /// One `xs:attribute` in a type; the flag says `use="prohibited"`.
    fn attribute_use(&mut self, at: At) -> Result<(AttrUse, bool), XsdError> {
        let use_attr = self.attr(at, "use").map(str::trim).unwrap_or("optional");
        let required = use_attr == "required";
        let prohibited = use_attr == "prohibited";
        if let Some(r) = self.attr(at, "ref") {
            let q = self.qname(at, r)?;
            let Some(global) = self.global_attribute(&q)? else {
                return Err(self.err(
                    at,
                    format!("attribute {{{}}}{} is not declared", q.ns, q.local),
                ));
            };
            let value = self.value_constraint(at).or(global.value);
            return Ok((
                AttrUse {
                    name: global.name,
                    type_id: global.type_id,
                    required,
                    value,
                },
                prohibited,
            ));
        }
        let local = self
            .attr(at, "name")
            .ok_or_else(|| self.err(at, "an attribute needs a name or a ref"))?;
        let sd = self.sd(at);
        let qualified = match self.attr(at, "form").map(str::trim) {
            Some("qualified") => true,
            Some("unqualified") => false,
            _ => sd.attributes_qualified,
        };
        let ns = if qualified {
            sd.target_ns.clone()
        } else {
            String::new()
        };
        let type_id = self.attribute_type(at)?;
        Ok((
            AttrUse {
                name: QName::new(&ns, local),
                type_id,
                required,
                value: self.value_constraint(at),
            },
            prohibited,
        ))
    }
}

/// Base attributes with the derived type's own replacing those of the same
/// name, and prohibited ones removed.
fn merge_attributes(base: Vec<AttrUse>, own: Vec<AttrUse>, prohibited: &[QName]) -> Vec<AttrUse> {
    let mut out: Vec<AttrUse> = base
        .into_iter()
        .filter(|b| !prohibited.contains(&b.name) && !own.iter().any(|o| o.name == b.name))
        .collect();
    out.extend(own);
    out
}

fn union_wildcards(a: Option<Wildcard>, b: Option<Wildcard>) -> Option<Wildcard> {
    match (a, b) {
        (None, x) | (x, None) => x,
        (Some(a), Some(b)) => Some(Wildcard {
            namespaces: a.namespaces.union(&b.namespaces),
            process: b.process,
        }),
    }
}
