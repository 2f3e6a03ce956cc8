//! Exclusive XML Canonicalization 1.0, without comments
//! (`http://www.w3.org/2001/10/xml-exc-c14n#`).
//!
//! An element is canonicalised in its document context: a namespace
//! declaration is written on the first output element that visibly uses it
//! (its own prefix, or the prefix of one of its attributes) and not repeated
//! below while the binding stays the same. Declarations that are merely in
//! scope are never written; neither are `xml:*` attributes of ancestors.

use crate::xml::{Document, Node, NodeId, XML_NS, escape_attr, escape_text};

pub const ALGORITHM: &str = "http://www.w3.org/2001/10/xml-exc-c14n#";

/// The canonical form of the subtree rooted at `id`.
pub fn canonicalize(doc: &Document, id: NodeId) -> Vec<u8> {
    let mut out = String::with_capacity(2048);
    let mut rendered: Vec<(Option<String>, String)> = Vec::new();
    element(doc, id, &mut rendered, &mut out);
    out.into_bytes()
}

/// The canonical form of the whole document: processing instructions
/// around the document element are kept, separated by line feeds.
pub fn canonicalize_document(doc: &Document) -> Vec<u8> {
    let mut out = String::new();
    for pi in &doc.prolog {
        write_pi(doc, *pi, &mut out);
        out.push('\n');
    }
    let mut rendered = Vec::new();
    element(doc, doc.root(), &mut rendered, &mut out);
    for pi in &doc.epilog {
        out.push('\n');
        write_pi(doc, *pi, &mut out);
    }
    out.into_bytes()
}

fn write_pi(doc: &Document, id: NodeId, out: &mut String) {
    if let Node::ProcessingInstruction { target, data } = doc.node(id) {
        out.push_str("<?");
        out.push_str(target);
        if !data.is_empty() {
            out.push(' ');
            out.push_str(data);
        }
        out.push_str("?>");
    }
}

/// `rendered` holds the bindings written by output ancestors, innermost last.
fn element(
    doc: &Document,
    id: NodeId,
    rendered: &mut Vec<(Option<String>, String)>,
    out: &mut String,
) {
    let el = doc.element(id);

    // Prefixes this element visibly uses: its own (the default namespace if
    // unprefixed) and those of its prefixed attributes.
    let mut used: Vec<Option<&str>> = vec![el.prefix.as_deref()];
    for a in &el.attrs {
        if let Some(p) = a.prefix.as_deref()
            && !used.contains(&Some(p))
        {
            used.push(Some(p));
        }
    }

    let mut decls: Vec<(Option<&str>, &str)> = Vec::new();
    for p in used {
        if p == Some("xml") {
            continue;
        }
        let uri = doc.lookup_namespace(id, p).unwrap_or("");
        let current = rendered
            .iter()
            .rev()
            .find(|(rp, _)| rp.as_deref() == p)
            .map(|(_, u)| u.as_str());
        let needed = match current {
            Some(cur) => cur != uri,
            // Nothing rendered yet: an empty default needs no `xmlns=""`.
            None => !(p.is_none() && uri.is_empty()),
        };
        if needed {
            decls.push((p, uri));
        }
    }
    // Default namespace first, then by prefix.
    decls.sort_by(|a, b| a.0.unwrap_or("").cmp(b.0.unwrap_or("")));

    let mut attrs: Vec<&crate::xml::Attr> = el.attrs.iter().collect();
    attrs.sort_by(|a, b| {
        (a.ns.as_deref().unwrap_or(""), a.local.as_str())
            .cmp(&(b.ns.as_deref().unwrap_or(""), b.local.as_str()))
    });

    out.push('<');
    push_qname(out, el.prefix.as_deref(), &el.local);
    for (p, uri) in &decls {
        match p {
            Some(p) => {
                out.push_str(" xmlns:");
                out.push_str(p);
            }
            None => out.push_str(" xmlns"),
        }
        out.push_str("=\"");
        escape_attr(uri, out);
        out.push('"');
    }
    for a in attrs {
        out.push(' ');
        let prefix = match a.ns.as_deref() {
            Some(XML_NS) => Some("xml"),
            _ => a.prefix.as_deref(),
        };
        push_qname(out, prefix, &a.local);
        out.push_str("=\"");
        escape_attr(&a.value, out);
        out.push('"');
    }
    out.push('>');

    let mark = rendered.len();
    for (p, uri) in &decls {
        rendered.push((p.map(str::to_owned), (*uri).to_owned()));
    }
    for c in &el.children {
        match doc.node(*c) {
            Node::Element(_) => element(doc, *c, rendered, out),
            Node::Text(t) => escape_text(t, out),
            Node::ProcessingInstruction { .. } => write_pi(doc, *c, out),
        }
    }
    rendered.truncate(mark);

    out.push_str("</");
    push_qname(out, el.prefix.as_deref(), &el.local);
    out.push('>');
}

fn push_qname(out: &mut String, prefix: Option<&str>, local: &str) {
    if let Some(p) = prefix {
        out.push_str(p);
        out.push(':');
    }
    out.push_str(local);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::xml::parse;

    fn c14n_of(xml: &str, path: &[&str]) -> String {
        let doc = parse(xml.as_bytes()).unwrap();
        let mut id = doc.root();
        for local in path {
            id = doc.child_local(id, local).unwrap();
        }
        String::from_utf8(canonicalize(&doc, id)).unwrap()
    }

    #[test]
    fn writes_only_visibly_used_namespaces() {
        let xml =
            r#"<a:r xmlns:a="urn:a" xmlns:b="urn:b" xmlns="urn:d"><a:s b:k="1"><t/></a:s></a:r>"#;
        assert_eq!(
            c14n_of(xml, &["s"]),
            r#"<a:s xmlns:a="urn:a" xmlns:b="urn:b" b:k="1"><t xmlns="urn:d"></t></a:s>"#
        );
    }

    #[test]
    fn sorts_attributes_by_namespace_then_name() {
        let xml = r#"<r xmlns:z="urn:a" xmlns:a="urn:z" b="2" a:x="3" z:y="4" a="1"/>"#;
        assert_eq!(
            c14n_of(xml, &[]),
            r#"<r xmlns:a="urn:z" xmlns:z="urn:a" a="1" b="2" z:y="4" a:x="3"></r>"#
        );
    }

    #[test]
    fn undeclares_default_namespace_only_when_rendered() {
        let xml = r#"<r xmlns="urn:d"><s xmlns=""><t/></s></r>"#;
        assert_eq!(
            c14n_of(xml, &[]),
            r#"<r xmlns="urn:d"><s xmlns=""><t></t></s></r>"#
        );
        assert_eq!(c14n_of(xml, &["s"]), "<s><t></t></s>");
    }

    #[test]
    fn escapes_text_and_attributes() {
        let xml = "<r a=\"&#x9;&#xA;&#xD;&quot;&lt;&gt;&amp;'\">&amp;&lt;&gt;\"'&#xD;\u{0416}</r>";
        assert_eq!(
            c14n_of(xml, &[]),
            "<r a=\"&#x9;&#xA;&#xD;&quot;&lt;>&amp;'\">&amp;&lt;&gt;\"'&#xD;\u{0416}</r>"
        );
    }
}
