//! The compiled schema components: declarations, types and particles in
//! arenas addressed by index, so the whole set is plain data (`Send + Sync`)
//! and recursive structures (a type whose element has the same type) need no
//! reference counting.

use std::collections::HashMap;

use super::builtin::Builtin;
use super::facets::Facets;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) struct TypeId(pub u32);
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) struct ElemId(pub u32);
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct PId(pub u32);

/// An expanded name; `ns` is empty for names in no namespace.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct QName {
    pub ns: String,
    pub local: String,
}

impl QName {
    pub fn new(ns: &str, local: &str) -> Self {
        QName {
            ns: ns.to_owned(),
            local: local.to_owned(),
        }
    }

    pub fn is(&self, ns: Option<&str>, local: &str) -> bool {
        self.local == local && self.ns == ns.unwrap_or("")
    }
}

impl std::fmt::Display for QName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.ns == super::XS_NS {
            write!(f, "xs:{}", self.local)
        } else {
            f.write_str(&self.local)
        }
    }
}

/// Global components by namespace, then local name, so lookups from an
/// instance (borrowed `&str`s) need no allocation.
#[derive(Debug)]
pub(crate) struct Names<T>(HashMap<String, HashMap<String, T>>);

impl<T: Copy> Names<T> {
    pub fn new() -> Self {
        Names(HashMap::new())
    }
    pub fn get(&self, ns: &str, local: &str) -> Option<T> {
        self.0.get(ns).and_then(|m| m.get(local)).copied()
    }
    pub fn insert(&mut self, q: &QName, v: T) {
        self.0
            .entry(q.ns.clone())
            .or_default()
            .insert(q.local.clone(), v);
    }
}

#[derive(Debug)]
pub(crate) struct Components {
    pub elements: Vec<ElementDecl>,
    pub types: Vec<TypeDef>,
    pub particles: Vec<Particle>,
    pub global_elements: Names<ElemId>,
    pub global_types: Names<TypeId>,
    pub global_attributes: HashMap<QName, AttrUse>,
    /// For each head of a substitution group, every element that may stand
    /// in for it (transitively), the head excluded.
    pub substitutes: HashMap<ElemId, Vec<ElemId>>,
    /// `xs:anyType`, the root of every derivation.
    pub any_type: TypeId,
}

impl Components {
    pub fn global_element(&self, ns: &str, local: &str) -> Option<ElemId> {
        self.global_elements.get(ns, local)
    }
    pub fn element(&self, id: ElemId) -> &ElementDecl {
        &self.elements[id.0 as usize]
    }
    pub fn ty(&self, id: TypeId) -> &TypeDef {
        &self.types[id.0 as usize]
    }
    pub fn particle(&self, id: PId) -> &Particle {
        &self.particles[id.0 as usize]
    }
    pub fn simple(&self, id: TypeId) -> Option<&SimpleType> {
        match self.ty(id) {
            TypeDef::Simple(s) => Some(s),
            TypeDef::Complex(_) => None,
        }
    }

    /// Whether `derived` is `base` or derives from it in any number of
    /// steps (what `xsi:type` needs).
    pub fn derives_from(&self, derived: TypeId, base: TypeId) -> bool {
        let mut cur = Some(derived);
        let mut steps = 0;
        while let Some(t) = cur {
            if t == base || base == self.any_type {
                return true;
            }
            // A member of a union derives from the union for xsi:type.
            steps += 1;
            if steps > 10_000 {
                return false;
            }
            cur = self.base_of(t);
        }
        if let TypeDef::Simple(SimpleType {
            def: SimpleDef::Union(members),
            ..
        }) = self.ty(base)
        {
            return members.iter().any(|m| self.derives_from(derived, *m));
        }
        false
    }

    pub fn base_of(&self, t: TypeId) -> Option<TypeId> {
        match self.ty(t) {
            TypeDef::Simple(s) => s.base,
            TypeDef::Complex(c) => c.base,
        }
    }

    pub fn type_name(&self, t: TypeId) -> String {
        match self.ty(t) {
            TypeDef::Simple(s) => match &s.name {
                Some(n) => n.to_string(),
                None => match s.base {
                    Some(b) if b != t => format!("a restriction of {}", self.type_name(b)),
                    _ => "an anonymous simple type".into(),
                },
            },
            TypeDef::Complex(c) => match &c.name {
                Some(n) => n.to_string(),
                None => "an anonymous complex type".into(),
            },
        }
    }
}

#[derive(Debug)]
pub(crate) struct ElementDecl {
    pub name: QName,
    pub type_id: TypeId,
    pub nillable: bool,
    pub is_abstract: bool,
    pub value: Option<ValueConstraint>,
}

#[derive(Clone, Debug)]
pub(crate) enum ValueConstraint {
    Default(String),
    Fixed(String),
}

#[derive(Debug)]
pub(crate) enum TypeDef {
    Simple(SimpleType),
    Complex(ComplexType),
}

#[derive(Debug)]
pub(crate) struct SimpleType {
    pub name: Option<QName>,
    /// The type this one restricts (for lists and unions: `anySimpleType`).
    pub base: Option<TypeId>,
    pub def: SimpleDef,
    /// The whiteSpace facet in force (inherited when not restated).
    pub whitespace: WhiteSpace,
    /// The built-in type at the bottom of the restriction chain (lists and
    /// unions: `anySimpleType`); it decides the lexical space and how
    /// values compare.
    pub builtin: Builtin,
    pub variety: Variety,
}

#[derive(Debug)]
pub(crate) enum SimpleDef {
    Builtin,
    Restriction(Facets),
    List(TypeId),
    Union(Vec<TypeId>),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Variety {
    Atomic,
    List,
    Union,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum WhiteSpace {
    Preserve,
    Replace,
    Collapse,
}

#[derive(Debug)]
pub(crate) struct ComplexType {
    pub name: Option<QName>,
    pub base: Option<TypeId>,
    pub is_abstract: bool,
    pub content: Content,
    pub attributes: Vec<AttrUse>,
    pub any_attribute: Option<Wildcard>,
}

#[derive(Debug)]
pub(crate) enum Content {
    Empty,
    /// Text only, of this simple type.
    Simple(TypeId),
    /// Child elements by this particle; `mixed` allows text between them.
    Elements {
        particle: PId,
        mixed: bool,
    },
}

#[derive(Clone, Debug)]
pub(crate) struct AttrUse {
    pub name: QName,
    pub type_id: TypeId,
    pub required: bool,
    pub value: Option<ValueConstraint>,
}

#[derive(Debug)]
pub(crate) struct Particle {
    pub min: u32,
    /// `None` = unbounded.
    pub max: Option<u32>,
    pub term: Term,
    /// Whether the term (one occurrence) can match the empty sequence.
    pub term_nullable: bool,
}

impl Particle {
    pub fn nullable(&self) -> bool {
        self.min == 0 || self.term_nullable
    }
}

#[derive(Debug)]
pub(crate) enum Term {
    Element(ElemId),
    Any(Wildcard),
    Sequence(Vec<PId>),
    Choice(Vec<PId>),
    All(Vec<PId>),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Wildcard {
    pub namespaces: NsConstraint,
    pub process: Process,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum NsConstraint {
    Any,
    /// `##other`: any namespace but this one (and not "no namespace").
    Not(String),
    /// An explicit list; the empty string stands for "no namespace".
    Set(Vec<String>),
}

impl NsConstraint {
    pub fn allows(&self, ns: Option<&str>) -> bool {
        let ns = ns.unwrap_or("");
        match self {
            NsConstraint::Any => true,
            NsConstraint::Not(t) => !ns.is_empty() && ns != t,
            NsConstraint::Set(set) => set.iter().any(|s| s == ns),
        }
    }

    pub fn describe(&self) -> String {
        match self {
            NsConstraint::Any => "any element".into(),
            NsConstraint::Not(t) if t.is_empty() => "an element in any namespace".into(),
            NsConstraint::Not(t) => format!("an element in a namespace other than {t}"),
            NsConstraint::Set(set) => {
                let names: Vec<String> = set
                    .iter()
                    .map(|s| {
                        if s.is_empty() {
                            "no namespace".to_owned()
                        } else {
                            s.clone()
                        }
                    })
                    .collect();
                format!("an element in {}", names.join(" or "))
            }
        }
    }

    /// The union of two constraints (attribute wildcards of an extension).
    pub fn union(&self, other: &NsConstraint) -> NsConstraint {
        match (self, other) {
            (NsConstraint::Any, _) | (_, NsConstraint::Any) => NsConstraint::Any,
            (NsConstraint::Set(a), NsConstraint::Set(b)) => {
                let mut all = a.clone();
                for s in b {
                    if !all.contains(s) {
                        all.push(s.clone());
                    }
                }
                NsConstraint::Set(all)
            }
            (NsConstraint::Not(t), NsConstraint::Set(s))
            | (NsConstraint::Set(s), NsConstraint::Not(t)) => {
                if s.contains(t) {
                    NsConstraint::Any
                } else {
                    NsConstraint::Not(t.clone())
                }
            }
            (NsConstraint::Not(a), NsConstraint::Not(b)) => {
                if a == b {
                    NsConstraint::Not(a.clone())
                } else {
                    NsConstraint::Not(String::new())
                }
            }
        }
    }

    /// The intersection (attribute group wildcards combined in one type).
    pub fn intersect(&self, other: &NsConstraint) -> NsConstraint {
        match (self, other) {
            (NsConstraint::Any, x) | (x, NsConstraint::Any) => x.clone(),
            (NsConstraint::Set(a), NsConstraint::Set(b)) => {
                NsConstraint::Set(a.iter().filter(|s| b.contains(s)).cloned().collect())
            }
            (NsConstraint::Not(t), NsConstraint::Set(s))
            | (NsConstraint::Set(s), NsConstraint::Not(t)) => NsConstraint::Set(
                s.iter()
                    .filter(|x| !x.is_empty() && *x != t)
                    .cloned()
                    .collect(),
            ),
            (NsConstraint::Not(a), NsConstraint::Not(_)) => NsConstraint::Not(a.clone()),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Process {
    Strict,
    Lax,
    Skip,
}
