//! Serialises a [`Document`] back to bytes.
//!
//! The output re-parses to the same tree: text and attribute values are
//! escaped so that whitespace characters survive attribute normalisation, and
//! prefixes and namespace declarations are written as the tree holds them.

use super::dom::{Document, Node, NodeId};

/// The document as UTF-8 bytes, with an XML declaration.
pub fn to_bytes(doc: &Document) -> Vec<u8> {
    let mut out = String::with_capacity(4096);
    out.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>");
    for pi in &doc.prolog {
        write_node(doc, *pi, &mut out);
    }
    write_node(doc, doc.root(), &mut out);
    for pi in &doc.epilog {
        write_node(doc, *pi, &mut out);
    }
    out.into_bytes()
}

/// One element and its subtree, without a declaration. Namespace
/// declarations inherited from ancestors are not repeated.
pub fn element_to_string(doc: &Document, id: NodeId) -> String {
    let mut out = String::new();
    write_node(doc, id, &mut out);
    out
}

fn write_node(doc: &Document, id: NodeId, out: &mut String) {
    match doc.node(id) {
        Node::Text(t) => escape_text(t, out),
        Node::ProcessingInstruction { target, data } => {
            out.push_str("<?");
            out.push_str(target);
            if !data.is_empty() {
                out.push(' ');
                out.push_str(data);
            }
            out.push_str("?>");
        }
        Node::Element(e) => {
            out.push('<');
            push_qname(out, e.prefix.as_deref(), &e.local);
            for d in &e.ns_decls {
                match &d.prefix {
                    Some(p) => {
                        out.push_str(" xmlns:");
                        out.push_str(p);
                    }
                    None => out.push_str(" xmlns"),
                }
                out.push_str("=\"");
                escape_attr(&d.uri, out);
                out.push('"');
            }
            for a in &e.attrs {
                out.push(' ');
                push_qname(out, a.prefix.as_deref(), &a.local);
                out.push_str("=\"");
                escape_attr(&a.value, out);
                out.push('"');
            }
            if e.children.is_empty() {
                out.push_str("/>");
                return;
            }
            out.push('>');
            for c in &e.children {
                write_node(doc, *c, out);
            }
            out.push_str("</");
            push_qname(out, e.prefix.as_deref(), &e.local);
            out.push('>');
        }
    }
}

fn push_qname(out: &mut String, prefix: Option<&str>, local: &str) {
    if let Some(p) = prefix {
        out.push_str(p);
        out.push(':');
    }
    out.push_str(local);
}

/// Escapes character data exactly as Canonical XML does (`&`, `<`, `>`, CR);
/// exclusive c14n uses this very function, so the writer's output is
/// already canonical in its character data.
pub(crate) fn escape_text(s: &str, out: &mut String) {
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '\r' => out.push_str("&#xD;"),
            _ => out.push(c),
        }
    }
}

/// Escapes an attribute value exactly as Canonical XML does (`&`, `<`, `"`,
/// TAB, LF, CR), which also keeps whitespace through re-parsing.
pub(crate) fn escape_attr(s: &str, out: &mut String) {
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '"' => out.push_str("&quot;"),
            '\t' => out.push_str("&#x9;"),
            '\n' => out.push_str("&#xA;"),
            '\r' => out.push_str("&#xD;"),
            _ => out.push(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::xml::parse;

    #[test]
    fn round_trips_through_the_parser() {
        let src = "<p:r xmlns:p=\"urn:p\" a=\"1&#x9;2&#xA;3&#xD;&quot;&lt;&amp;\"><p:c>x &amp; &lt;y&gt;&#xD;z</p:c><?pi data?></p:r>";
        let doc = parse(src.as_bytes()).unwrap();
        let again = parse(&to_bytes(&doc)).unwrap();
        assert_eq!(
            element_to_string(&doc, doc.root()),
            element_to_string(&again, again.root())
        );
        assert_eq!(again.element(again.root()).attr("a"), Some("1\t2\n3\r\"<&"));
    }
}
