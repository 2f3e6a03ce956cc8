//! Matching child elements against a content model.
//!
//! The state is a regular expression over the particle tree, advanced one
//! child at a time by taking its derivative (Brzozowski, with counted
//! repetition: the derivative of `r{min,max}` is `d(r)·r{min-1,max-1}`), so
//! occurrence bounds are exact without unrolling `maxOccurs="1000"` and
//! without backtracking. Residual expressions are hash-consed in an arena,
//! which keeps them small: for the deterministic models Unique Particle
//! Attribution demands there is one live alternative at a time.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use super::components::{Components, ElemId, PId, Process, Term};

/// One residual expression, by index into the matcher's arena.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct State(u32);

const FAIL: State = State(0);
const EPS: State = State(1);

/// More residual nodes than this for one element means a model far from
/// deterministic; validation reports it instead of growing without bound.
const MAX_NODES: usize = 200_000;

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
enum Node {
    Fail,
    Eps,
    /// Particle `p`'s term repeated `min..=max` more times.
    Term {
        p: PId,
        min: u32,
        max: Option<u32>,
    },
    /// Children `i..` of sequence particle `p`, each with its own occurs.
    SeqRest {
        p: PId,
        i: u32,
    },
    /// One of the children of choice particle `p`.
    Choice {
        p: PId,
    },
    /// The children of all-group `p` not yet seen (bit set).
    AllRest {
        p: PId,
        used: Box<[u64]>,
    },
    Cat(State, State),
    Alt(Box<[State]>),
}

/// What a child element matched.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Matched {
    Element(ElemId),
    Wildcard(Process),
}

pub(crate) enum Step {
    Next(State, Matched, PId),
    NoMatch,
    TooComplex,
}

/// A multiply-rotate hash for the matcher's own small keys: SipHash's
/// resistance to chosen keys buys nothing here (the keys are built from
/// the schema's particle numbers) and costs most of a step.
#[derive(Default)]
struct QuickHasher(u64);

impl Hasher for QuickHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.write_u64(u64::from(*b));
        }
    }
    fn write_u8(&mut self, n: u8) {
        self.write_u64(u64::from(n));
    }
    fn write_u32(&mut self, n: u32) {
        self.write_u64(u64::from(n));
    }
    fn write_usize(&mut self, n: usize) {
        self.write_u64(n as u64);
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = (self.0.rotate_left(5) ^ n).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
}

type QuickMap<K, V> = HashMap<K, V, BuildHasherDefault<QuickHasher>>;

pub(crate) struct Matcher<'c> {
    comps: &'c Components,
    nodes: Vec<Node>,
    interned: QuickMap<Node, State>,
    memo: QuickMap<State, State>,
    matched: Option<(Matched, PId)>,
}

impl<'c> Matcher<'c> {
    pub fn new(comps: &'c Components) -> Self {
        let mut m = Matcher {
            comps,
            nodes: Vec::new(),
            interned: QuickMap::default(),
            memo: QuickMap::default(),
            matched: None,
        };
        m.reset();
        m
    }

    /// Forgets every residual (between elements).
    pub fn reset(&mut self) {
        self.nodes.clear();
        self.interned.clear();
        self.nodes.push(Node::Fail);
        self.nodes.push(Node::Eps);
        self.interned.insert(Node::Fail, FAIL);
        self.interned.insert(Node::Eps, EPS);
    }

    pub fn start(&mut self, p: PId) -> State {
        let part = self.comps.particle(p);
        self.term(p, part.min, part.max)
    }

    /// Consumes a child element `{ns}local`.
    pub fn step(&mut self, s: State, ns: Option<&str>, local: &str) -> Step {
        self.memo.clear();
        self.matched = None;
        let next = self.deriv(s, ns, local);
        if self.nodes.len() > MAX_NODES {
            return Step::TooComplex;
        }
        match (next, self.matched) {
            (FAIL, _) | (_, None) => Step::NoMatch,
            (next, Some((m, p))) => Step::Next(next, m, p),
        }
    }

    /// Whether the content may end here.
    pub fn accepts_end(&self, s: State) -> bool {
        self.nullable(s)
    }

    /// The leaf particles (elements and wildcards) that could come next, in
    /// model order.
    pub fn expected(&self, s: State) -> Vec<PId> {
        let mut all = Vec::new();
        self.first(s, &mut all, 0);
        // In the order the model lists them, each once.
        let mut out = Vec::with_capacity(all.len());
        for p in all {
            if !out.contains(&p) {
                out.push(p);
            }
        }
        out
    }

    fn node(&self, s: State) -> &Node {
        &self.nodes[s.0 as usize]
    }

    fn intern(&mut self, n: Node) -> State {
        if let Some(s) = self.interned.get(&n) {
            return *s;
        }
        let s = State(self.nodes.len() as u32);
        self.nodes.push(n.clone());
        self.interned.insert(n, s);
        s
    }

    fn term(&mut self, p: PId, min: u32, max: Option<u32>) -> State {
        if max == Some(0) {
            return EPS;
        }
        self.intern(Node::Term { p, min, max })
    }

    /// One occurrence of a compositor particle's term.
    fn inner(&mut self, p: PId) -> State {
        match &self.comps.particle(p).term {
            Term::Sequence(_) => self.seq_rest(p, 0),
            Term::Choice(_) => self.intern(Node::Choice { p }),
            Term::All(c) => {
                let words = c.len().div_ceil(64);
                self.intern(Node::AllRest {
                    p,
                    used: vec![0u64; words].into_boxed_slice(),
                })
            }
            Term::Element(_) | Term::Any(_) => EPS,
        }
    }

    fn seq_rest(&mut self, p: PId, i: u32) -> State {
        match &self.comps.particle(p).term {
            Term::Sequence(c) if (i as usize) < c.len() => self.intern(Node::SeqRest { p, i }),
            _ => EPS,
        }
    }

    fn fixed(&mut self, p: PId) -> State {
        let part = self.comps.particle(p);
        self.term(p, part.min, part.max)
    }

    fn cat(&mut self, a: State, b: State) -> State {
        if a == FAIL || b == FAIL {
            return FAIL;
        }
        if a == EPS {
            return b;
        }
        if b == EPS {
            return a;
        }
        self.intern(Node::Cat(a, b))
    }

    fn alt(&mut self, items: Vec<State>) -> State {
        // Deterministic models leave at most one live alternative.
        let mut live = items.iter().filter(|s| **s != FAIL);
        match (live.next(), live.next()) {
            (None, _) => return FAIL,
            (Some(one), None) => return *one,
            _ => {}
        }
        let mut flat = Vec::with_capacity(items.len());
        for s in items {
            match self.node(s) {
                Node::Fail => {}
                Node::Alt(inner) => flat.extend(inner.iter().copied()),
                _ => flat.push(s),
            }
        }
        flat.sort();
        flat.dedup();
        match flat.len() {
            0 => FAIL,
            1 => flat[0],
            _ => self.intern(Node::Alt(flat.into_boxed_slice())),
        }
    }

    fn nullable(&self, s: State) -> bool {
        let comps = self.comps;
        match self.node(s) {
            Node::Fail => false,
            Node::Eps => true,
            Node::Term { p, min, .. } => *min == 0 || comps.particle(*p).term_nullable,
            Node::SeqRest { p, i } => match &comps.particle(*p).term {
                Term::Sequence(c) => c[*i as usize..]
                    .iter()
                    .all(|c| comps.particle(*c).nullable()),
                _ => true,
            },
            Node::Choice { p } => comps.particle(*p).term_nullable,
            Node::AllRest { p, used } => match &comps.particle(*p).term {
                Term::All(c) => c
                    .iter()
                    .enumerate()
                    .all(|(k, c)| bit(used, k) || comps.particle(*c).nullable()),
                _ => true,
            },
            Node::Cat(a, b) => self.nullable(*a) && self.nullable(*b),
            Node::Alt(xs) => xs.iter().any(|x| self.nullable(*x)),
        }
    }

    fn leaf_matches(&mut self, p: PId, ns: Option<&str>, local: &str) -> Option<Matched> {
        let comps = self.comps;
        match &comps.particle(p).term {
            Term::Element(e) => {
                if comps.element(*e).name.is(ns, local) {
                    return Some(Matched::Element(*e));
                }
                comps
                    .substitutes
                    .get(e)?
                    .iter()
                    .find(|m| comps.element(**m).name.is(ns, local))
                    .map(|m| Matched::Element(*m))
            }
            Term::Any(w) => w
                .namespaces
                .allows(ns)
                .then_some(Matched::Wildcard(w.process)),
            _ => None,
        }
    }

    fn deriv(&mut self, s: State, ns: Option<&str>, local: &str) -> State {
        if let Some(r) = self.memo.get(&s) {
            return *r;
        }
        if self.nodes.len() > MAX_NODES {
            return FAIL;
        }
        let comps = self.comps;
        let r = match self.node(s).clone() {
            Node::Fail | Node::Eps => FAIL,
            Node::Term { p, min, max } => {
                let part = comps.particle(p);
                let dec = max.map(|m| m - 1);
                match &part.term {
                    Term::Element(_) | Term::Any(_) => match self.leaf_matches(p, ns, local) {
                        Some(m) => {
                            if self.matched.is_none() {
                                self.matched = Some((m, p));
                            }
                            self.term(p, min.saturating_sub(1), dec)
                        }
                        None => FAIL,
                    },
                    _ => {
                        let inner = self.inner(p);
                        let di = self.deriv(inner, ns, local);
                        if di == FAIL {
                            FAIL
                        } else {
                            // Empty occurrences can make up the minimum, so a
                            // nullable term owes no further occurrences.
                            let min = if part.term_nullable {
                                0
                            } else {
                                min.saturating_sub(1)
                            };
                            let rest = self.term(p, min, dec);
                            self.cat(di, rest)
                        }
                    }
                }
            }
            Node::SeqRest { p, i } => {
                let children = match &comps.particle(p).term {
                    Term::Sequence(c) => c,
                    _ => return FAIL,
                };
                let mut alts = Vec::new();
                for (j, c) in children.iter().enumerate().skip(i as usize) {
                    let first = self.fixed(*c);
                    let d = self.deriv(first, ns, local);
                    if d != FAIL {
                        let rest = self.seq_rest(p, j as u32 + 1);
                        alts.push(self.cat(d, rest));
                    }
                    if !comps.particle(*c).nullable() {
                        break;
                    }
                }
                self.alt(alts)
            }
            Node::Choice { p } => {
                let children = match &comps.particle(p).term {
                    Term::Choice(c) => c,
                    _ => return FAIL,
                };
                let mut alts = Vec::new();
                for c in children {
                    let first = self.fixed(*c);
                    alts.push(self.deriv(first, ns, local));
                }
                self.alt(alts)
            }
            Node::AllRest { p, used } => {
                let children = match &comps.particle(p).term {
                    Term::All(c) => c,
                    _ => return FAIL,
                };
                let mut alts = Vec::new();
                for (k, c) in children.iter().enumerate() {
                    if bit(&used, k) {
                        continue;
                    }
                    let first = self.fixed(*c);
                    let d = self.deriv(first, ns, local);
                    if d != FAIL {
                        let mut now = used.clone();
                        now[k / 64] |= 1 << (k % 64);
                        let rest = self.intern(Node::AllRest { p, used: now });
                        alts.push(self.cat(d, rest));
                    }
                }
                self.alt(alts)
            }
            Node::Cat(a, b) => {
                let da = self.deriv(a, ns, local);
                let left = self.cat(da, b);
                if self.nullable(a) {
                    let db = self.deriv(b, ns, local);
                    self.alt(vec![left, db])
                } else {
                    left
                }
            }
            Node::Alt(xs) => {
                let mut alts = Vec::with_capacity(xs.len());
                for x in xs.iter() {
                    alts.push(self.deriv(*x, ns, local));
                }
                self.alt(alts)
            }
        };
        self.memo.insert(s, r);
        r
    }

    fn first(&self, s: State, out: &mut Vec<PId>, depth: usize) {
        if depth > 1000 {
            return;
        }
        let comps = self.comps;
        let leaves_of = |p: PId, out: &mut Vec<PId>| self.first_of_particle(p, out, depth + 1);
        match self.node(s) {
            Node::Fail | Node::Eps => {}
            Node::Term { p, .. } => leaves_of(*p, out),
            Node::SeqRest { p, i } => {
                if let Term::Sequence(c) = &comps.particle(*p).term {
                    for c in &c[*i as usize..] {
                        leaves_of(*c, out);
                        if !comps.particle(*c).nullable() {
                            break;
                        }
                    }
                }
            }
            Node::Choice { p } => {
                if let Term::Choice(c) = &comps.particle(*p).term {
                    for c in c {
                        leaves_of(*c, out);
                    }
                }
            }
            Node::AllRest { p, used } => {
                if let Term::All(c) = &comps.particle(*p).term {
                    for (k, c) in c.iter().enumerate() {
                        if !bit(used, k) {
                            leaves_of(*c, out);
                        }
                    }
                }
            }
            Node::Cat(a, b) => {
                self.first(*a, out, depth + 1);
                if self.nullable(*a) {
                    self.first(*b, out, depth + 1);
                }
            }
            Node::Alt(xs) => {
                for x in xs.iter() {
                    self.first(*x, out, depth + 1);
                }
            }
        }
    }

    /// The leaves a fresh occurrence of particle `p` can start with.
    fn first_of_particle(&self, p: PId, out: &mut Vec<PId>, depth: usize) {
        if depth > 1000 {
            return;
        }
        let comps = self.comps;
        match &comps.particle(p).term {
            Term::Element(_) | Term::Any(_) => out.push(p),
            Term::Sequence(c) => {
                for c in c {
                    self.first_of_particle(*c, out, depth + 1);
                    if !comps.particle(*c).nullable() {
                        break;
                    }
                }
            }
            Term::Choice(c) | Term::All(c) => {
                for c in c {
                    self.first_of_particle(*c, out, depth + 1);
                }
            }
        }
    }
}

fn bit(used: &[u64], k: usize) -> bool {
    used[k / 64] & (1 << (k % 64)) != 0
}

/// Every leaf particle of the model under `p` (for "is this element
/// anywhere in the model" when explaining an error).
pub(crate) fn all_leaves(comps: &Components, p: PId, out: &mut Vec<PId>) {
    let mut stack = vec![p];
    while let Some(p) = stack.pop() {
        match &comps.particle(p).term {
            Term::Element(_) | Term::Any(_) => out.push(p),
            Term::Sequence(c) | Term::Choice(c) | Term::All(c) => stack.extend(c.iter().copied()),
        }
    }
}
