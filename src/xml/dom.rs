//! An owned XML tree with resolved namespaces.
//!
//! Everything that signs, verifies or reads SMEV messages works on this tree:
//! canonicalisation needs the in-scope namespaces of an element, and signature
//! checks need to know that the element that was verified is the element that
//! is then read. Nodes live in one arena and are addressed by [`NodeId`].

use std::fmt;

/// Index of a node in its [`Document`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NodeId(pub(crate) u32);

impl NodeId {
    fn index(self) -> usize {
        self.0 as usize
    }
}

/// The namespace bound to the `xml` prefix by definition.
pub const XML_NS: &str = "http://www.w3.org/XML/1998/namespace";

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Node {
    Element(Element),
    /// Character data; adjacent text, CDATA and text separated only by
    /// comments are merged into one node, as canonicalisation would see them.
    Text(String),
    ProcessingInstruction {
        target: String,
        data: String,
    },
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Element {
    pub prefix: Option<String>,
    pub local: String,
    /// Resolved namespace URI; `None` for an element in no namespace.
    pub ns: Option<String>,
    /// Namespace declarations written on this element (`None` prefix = default).
    pub ns_decls: Vec<NsDecl>,
    pub attrs: Vec<Attr>,
    pub children: Vec<NodeId>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NsDecl {
    pub prefix: Option<String>,
    pub uri: String,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Attr {
    pub prefix: Option<String>,
    pub local: String,
    /// Resolved namespace URI; unprefixed attributes are in no namespace.
    pub ns: Option<String>,
    /// The normalised value (references resolved).
    pub value: String,
}

impl Element {
    pub fn new(prefix: Option<&str>, local: &str, ns: Option<&str>) -> Self {
        Element {
            prefix: prefix.map(str::to_owned),
            local: local.to_owned(),
            ns: ns.map(str::to_owned),
            ns_decls: Vec::new(),
            attrs: Vec::new(),
            children: Vec::new(),
        }
    }

    /// `true` when the element has this namespace and local name.
    pub fn is(&self, ns: &str, local: &str) -> bool {
        self.local == local && self.ns.as_deref() == Some(ns)
    }

    /// The value of an unqualified attribute.
    pub fn attr(&self, local: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|a| a.ns.is_none() && a.local == local)
            .map(|a| a.value.as_str())
    }

    pub fn qname(&self) -> String {
        match &self.prefix {
            Some(p) => format!("{p}:{}", self.local),
            None => self.local.clone(),
        }
    }
}

impl fmt::Display for Element {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.ns {
            Some(ns) => write!(f, "{{{ns}}}{}", self.local),
            None => write!(f, "{}", self.local),
        }
    }
}

/// A parsed or built XML document.
#[derive(Clone, Debug)]
pub struct Document {
    nodes: Vec<Node>,
    parents: Vec<Option<NodeId>>,
    root: NodeId,
    /// Processing instructions before and after the document element.
    pub(crate) prolog: Vec<NodeId>,
    pub(crate) epilog: Vec<NodeId>,
}

impl Document {
    /// A document whose root element is `{ns}local`, written with `prefix`.
    pub fn new(prefix: Option<&str>, local: &str, ns: Option<&str>) -> Self {
        let mut el = Element::new(prefix, local, ns);
        if let Some(uri) = ns {
            el.ns_decls.push(NsDecl {
                prefix: prefix.map(str::to_owned),
                uri: uri.to_owned(),
            });
        }
        Document {
            nodes: vec![Node::Element(el)],
            parents: vec![None],
            root: NodeId(0),
            prolog: Vec::new(),
            epilog: Vec::new(),
        }
    }

    /// Used by the parser, which fills the arena itself.
    pub(crate) fn from_parts(
        nodes: Vec<Node>,
        parents: Vec<Option<NodeId>>,
        root: NodeId,
        prolog: Vec<NodeId>,
        epilog: Vec<NodeId>,
    ) -> Self {
        Document {
            nodes,
            parents,
            root,
            prolog,
            epilog,
        }
    }

    pub fn root(&self) -> NodeId {
        self.root
    }

    pub fn node(&self, id: NodeId) -> &Node {
        &self.nodes[id.index()]
    }

    pub fn parent(&self, id: NodeId) -> Option<NodeId> {
        self.parents[id.index()]
    }

    /// The element at `id`. Callers only hold ids of elements they found by
    /// walking elements, so anything else is a programming error.
    pub fn element(&self, id: NodeId) -> &Element {
        match &self.nodes[id.index()] {
            Node::Element(e) => e,
            other => panic!("node {id:?} is not an element: {other:?}"),
        }
    }

    pub fn element_mut(&mut self, id: NodeId) -> &mut Element {
        match &mut self.nodes[id.index()] {
            Node::Element(e) => e,
            other => panic!("node {id:?} is not an element: {other:?}"),
        }
    }

    pub fn is_element(&self, id: NodeId) -> bool {
        matches!(self.nodes[id.index()], Node::Element(_))
    }

    /// Number of nodes in the arena (for limits and tests).
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// Child elements of `id`, in document order.
    pub fn child_elements(&self, id: NodeId) -> impl Iterator<Item = NodeId> + '_ {
        self.element(id)
            .children
            .iter()
            .copied()
            .filter(|c| self.is_element(*c))
    }

    /// The first child element `{ns}local` of `id`.
    pub fn child(&self, id: NodeId, ns: &str, local: &str) -> Option<NodeId> {
        self.child_elements(id)
            .find(|c| self.element(*c).is(ns, local))
    }

    /// All child elements `{ns}local` of `id`.
    pub fn children_named<'a>(
        &'a self,
        id: NodeId,
        ns: &'a str,
        local: &'a str,
    ) -> impl Iterator<Item = NodeId> + 'a {
        self.child_elements(id)
            .filter(move |c| self.element(*c).is(ns, local))
    }

    /// The first child element with this local name, whatever its namespace.
    /// Only for vocabularies whose types mix namespaces (the ФНС schemas).
    pub fn child_local(&self, id: NodeId, local: &str) -> Option<NodeId> {
        self.child_elements(id)
            .find(|c| self.element(*c).local == local)
    }

    pub fn children_local<'a>(
        &'a self,
        id: NodeId,
        local: &'a str,
    ) -> impl Iterator<Item = NodeId> + 'a {
        self.child_elements(id)
            .filter(move |c| self.element(*c).local == local)
    }

    /// Concatenated text of the direct text children of `id`.
    pub fn text(&self, id: NodeId) -> String {
        let mut out = String::new();
        for c in &self.element(id).children {
            if let Node::Text(t) = self.node(*c) {
                out.push_str(t);
            }
        }
        out
    }

    /// Text of the child `{ns}local`, trimmed; `None` when the child is absent.
    pub fn child_text(&self, id: NodeId, ns: &str, local: &str) -> Option<String> {
        self.child(id, ns, local)
            .map(|c| self.text(c).trim().to_owned())
    }

    /// Every element in document order, starting with `from` itself.
    pub fn descendants(&self, from: NodeId) -> Vec<NodeId> {
        let mut out = Vec::new();
        let mut stack = vec![from];
        while let Some(id) = stack.pop() {
            if let Node::Element(e) = self.node(id) {
                out.push(id);
                for c in e.children.iter().rev() {
                    stack.push(*c);
                }
            }
        }
        out
    }

    /// Elements carrying an identifier attribute (`Id`, `ID` or `id`, in any
    /// namespace) with this value. A signature reference is only safe to
    /// resolve when exactly one element answers.
    pub fn elements_with_id(&self, value: &str) -> Vec<NodeId> {
        self.descendants(self.root)
            .into_iter()
            .filter(|id| {
                self.element(*id)
                    .attrs
                    .iter()
                    .any(|a| matches!(a.local.as_str(), "Id" | "ID" | "id") && a.value == value)
            })
            .collect()
    }

    /// Namespace bindings in scope at `id`, nearest declaration first wins.
    /// The default namespace has prefix `None`; an undeclared default
    /// (`xmlns=""`) is reported with an empty URI.
    pub fn in_scope_namespaces(&self, id: NodeId) -> Vec<(Option<&str>, &str)> {
        let mut seen: Vec<(Option<&str>, &str)> = Vec::new();
        let mut cur = Some(id);
        while let Some(n) = cur {
            for d in &self.element(n).ns_decls {
                let p = d.prefix.as_deref();
                if !seen.iter().any(|(sp, _)| *sp == p) {
                    seen.push((p, d.uri.as_str()));
                }
            }
            cur = self.parent(n);
        }
        seen
    }

    /// The URI bound to `prefix` at `id`, if any.
    pub fn lookup_namespace(&self, id: NodeId, prefix: Option<&str>) -> Option<&str> {
        if prefix == Some("xml") {
            return Some(XML_NS);
        }
        let mut cur = Some(id);
        while let Some(n) = cur {
            if let Some(d) = self
                .element(n)
                .ns_decls
                .iter()
                .find(|d| d.prefix.as_deref() == prefix)
            {
                return if d.uri.is_empty() { None } else { Some(&d.uri) };
            }
            cur = self.parent(n);
        }
        None
    }

    fn push(&mut self, node: Node, parent: Option<NodeId>) -> NodeId {
        let id = NodeId(u32::try_from(self.nodes.len()).expect("document exceeds 2^32 nodes"));
        self.nodes.push(node);
        self.parents.push(parent);
        if let Some(p) = parent {
            self.element_mut(p).children.push(id);
        }
        id
    }

    /// Appends `{ns}local` under `parent`, declaring `prefix` on it unless the
    /// prefix is already bound to `ns` in scope.
    pub fn append_element(
        &mut self,
        parent: NodeId,
        prefix: Option<&str>,
        local: &str,
        ns: Option<&str>,
    ) -> NodeId {
        let mut el = Element::new(prefix, local, ns);
        let bound = self.lookup_namespace(parent, prefix);
        if bound != ns {
            el.ns_decls.push(NsDecl {
                prefix: prefix.map(str::to_owned),
                uri: ns.unwrap_or("").to_owned(),
            });
        }
        self.push(Node::Element(el), Some(parent))
    }

    /// Appends `{ns}local` with text content; returns the new element.
    pub fn append_text_element(
        &mut self,
        parent: NodeId,
        prefix: Option<&str>,
        local: &str,
        ns: Option<&str>,
        text: &str,
    ) -> NodeId {
        let id = self.append_element(parent, prefix, local, ns);
        self.append_text(id, text);
        id
    }

    pub fn append_text(&mut self, parent: NodeId, text: &str) {
        if text.is_empty() {
            return;
        }
        if let Some(last) = self.element(parent).children.last().copied()
            && let Node::Text(t) = &mut self.nodes[last.index()]
        {
            t.push_str(text);
            return;
        }
        self.push(Node::Text(text.to_owned()), Some(parent));
    }

    /// Sets an unqualified attribute, replacing an existing one.
    pub fn set_attr(&mut self, id: NodeId, local: &str, value: &str) {
        let el = self.element_mut(id);
        if let Some(a) = el
            .attrs
            .iter_mut()
            .find(|a| a.ns.is_none() && a.local == local)
        {
            a.value = value.to_owned();
        } else {
            el.attrs.push(Attr {
                prefix: None,
                local: local.to_owned(),
                ns: None,
                value: value.to_owned(),
            });
        }
    }

    /// Sets a namespace-qualified attribute, declaring its prefix if needed.
    pub fn set_attr_ns(&mut self, id: NodeId, prefix: &str, local: &str, ns: &str, value: &str) {
        if self.lookup_namespace(id, Some(prefix)) != Some(ns) {
            self.element_mut(id).ns_decls.push(NsDecl {
                prefix: Some(prefix.to_owned()),
                uri: ns.to_owned(),
            });
        }
        self.element_mut(id).attrs.push(Attr {
            prefix: Some(prefix.to_owned()),
            local: local.to_owned(),
            ns: Some(ns.to_owned()),
            value: value.to_owned(),
        });
    }

    /// Copies the subtree at `src_id` of `src` under `parent`, carrying along
    /// the namespace bindings it inherited in `src` so it means the same here.
    pub fn append_subtree(&mut self, parent: NodeId, src: &Document, src_id: NodeId) -> NodeId {
        let inherited = self.bindings_to_carry(src, src_id, parent);
        let new_root = self.copy_node(parent, src, src_id);
        self.declare_missing(new_root, inherited);
        new_root
    }

    /// The bindings in scope at `src_id` of `src` that `new_parent` of this
    /// document does not provide.
    fn bindings_to_carry(&self, src: &Document, src_id: NodeId, new_parent: NodeId) -> Vec<NsDecl> {
        src.in_scope_namespaces(src_id)
            .into_iter()
            .filter(|(p, uri)| self.lookup_namespace(new_parent, *p).unwrap_or("") != *uri)
            .map(|(p, uri)| NsDecl {
                prefix: p.map(str::to_owned),
                uri: uri.to_owned(),
            })
            .collect()
    }

    fn declare_missing(&mut self, node: NodeId, decls: Vec<NsDecl>) {
        let el = self.element_mut(node);
        for d in decls {
            if !el.ns_decls.iter().any(|e| e.prefix == d.prefix) {
                el.ns_decls.push(d);
            }
        }
    }

    fn copy_node(&mut self, parent: NodeId, src: &Document, src_id: NodeId) -> NodeId {
        match src.node(src_id) {
            Node::Element(e) => {
                let mut shallow = e.clone();
                shallow.children = Vec::new();
                let id = self.push(Node::Element(shallow), Some(parent));
                for c in &e.children {
                    self.copy_node(id, src, *c);
                }
                id
            }
            other => self.push(other.clone(), Some(parent)),
        }
    }

    /// Removes `child` from its parent's children. The node stays in the
    /// arena, unreachable.
    pub fn detach(&mut self, child: NodeId) {
        if let Some(p) = self.parent(child) {
            self.element_mut(p).children.retain(|c| *c != child);
            self.parents[child.index()] = None;
        }
    }

    /// Moves the subtree at `node` to become the last child of `new_parent`,
    /// declaring on it the bindings it inherited so that it means the same
    /// in its new place. Used by tests that build signature-wrapping attacks.
    pub fn reparent(&mut self, node: NodeId, new_parent: NodeId) {
        let inherited = self.bindings_to_carry(self, node, new_parent);
        self.detach(node);
        self.parents[node.index()] = Some(new_parent);
        self.element_mut(new_parent).children.push(node);
        self.declare_missing(node, inherited);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builder_declares_prefix_once_per_scope() {
        let mut doc = Document::new(Some("a"), "root", Some("urn:a"));
        let root = doc.root();
        let child = doc.append_element(root, Some("a"), "child", Some("urn:a"));
        let other = doc.append_element(child, Some("b"), "other", Some("urn:b"));
        assert!(doc.element(child).ns_decls.is_empty());
        assert_eq!(doc.element(other).ns_decls.len(), 1);
        assert_eq!(doc.lookup_namespace(other, Some("a")), Some("urn:a"));
    }

    #[test]
    fn elements_with_id_counts_every_carrier() {
        let mut doc = Document::new(None, "root", Some("urn:x"));
        let root = doc.root();
        let a = doc.append_element(root, None, "a", Some("urn:x"));
        let b = doc.append_element(root, None, "b", Some("urn:x"));
        doc.set_attr(a, "Id", "X");
        doc.set_attr(b, "ID", "X");
        assert_eq!(doc.elements_with_id("X"), vec![a, b]);
    }

    #[test]
    fn subtree_keeps_inherited_namespaces() {
        let mut src = Document::new(Some("p"), "outer", Some("urn:p"));
        let inner = src.append_element(src.root(), Some("p"), "inner", Some("urn:p"));
        let mut dst = Document::new(Some("q"), "host", Some("urn:q"));
        let copied = dst.append_subtree(dst.root(), &src, inner);
        assert_eq!(dst.lookup_namespace(copied, Some("p")), Some("urn:p"));
        assert!(dst.element(copied).is("urn:p", "inner"));
    }
}
