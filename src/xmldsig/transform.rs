//! The SMEV 3 transform `urn://smev-gov-ru/xmldsig/transform`.
//!
//! It rewrites a signed element into a normal form that survives the way
//! SMEV participants re-serialise XML: prefixes become `ns1`, `ns2`… in
//! document order, every element and attribute namespace is declared where it
//! is first needed (siblings re-declare their own), attributes are sorted,
//! whitespace-only text, comments and processing instructions disappear and
//! no element is written in short form.
//!
//! The output escaping follows the Woodstox StAX writer that the reference
//! implementation runs on (see `SMEV-NOTES.md` §3.3), because that is what
//! the other side digests: in text `&`, `<`, CR and C1 controls are escaped
//! and `>` only where the writer escapes it; in attributes `&`, `<`, `"`,
//! TAB, LF and CR.

use crate::xml::{Document, Node, NodeId, XML_NS};

pub const ALGORITHM: &str = "urn://smev-gov-ru/xmldsig/transform";

/// Content the transform cannot represent; signing it would produce a
/// signature nobody can reproduce, so it is refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TransformError {
    #[error(
        "element <{0}> is in no namespace; the SMEV transform needs a namespace on every signed element"
    )]
    NoNamespace(String),
    #[error("attribute xml:{0} cannot be represented by the SMEV transform")]
    XmlAttribute(String),
}

/// Woodstox writes text shorter than this through its character-by-character
/// path, longer text through a 512-character copy buffer; the two paths
/// escape `>` differently.
const SHORT_TEXT: usize = 12;
const COPY_CHUNK: usize = 512;

/// Applies the transform to the subtree at `id`.
pub fn transform(doc: &Document, id: NodeId) -> Result<Vec<u8>, TransformError> {
    let mut t = Transformer {
        doc,
        out: String::with_capacity(2048),
        counter: 0,
        scopes: Vec::new(),
    };
    t.element(id)?;
    Ok(t.out.into_bytes())
}

struct Transformer<'d> {
    doc: &'d Document,
    out: String,
    counter: u32,
    /// Per open element, the `(uri, prefix)` bindings it declared.
    scopes: Vec<Vec<(&'d str, String)>>,
}

impl<'d> Transformer<'d> {
    fn find_prefix(&self, uri: &str) -> Option<&str> {
        self.scopes
            .iter()
            .rev()
            .flat_map(|s| s.iter())
            .find(|(u, _)| *u == uri)
            .map(|(_, p)| p.as_str())
    }

    /// The prefix for `uri`, allocating `nsN` in the current scope if none is
    /// in scope. Returns the prefix and whether it must be declared here.
    fn prefix_for(&mut self, uri: &'d str) -> String {
        if let Some(p) = self.find_prefix(uri) {
            return p.to_owned();
        }
        self.counter += 1;
        let p = format!("ns{}", self.counter);
        self.scopes
            .last_mut()
            .expect("a scope is open while writing an element")
            .push((uri, p.clone()));
        p
    }

    fn element(&mut self, id: NodeId) -> Result<(), TransformError> {
        let doc = self.doc;
        let el = doc.element(id);
        let ns = el
            .ns
            .as_deref()
            .ok_or_else(|| TransformError::NoNamespace(el.qname()))?;

        self.scopes.push(Vec::new());
        let prefix = self.prefix_for(ns);

        let mut attrs: Vec<&crate::xml::Attr> = el.attrs.iter().collect();
        attrs.sort_by(|a, b| match (&a.ns, &b.ns) {
            (Some(x), Some(y)) => utf16_cmp(x, y).then_with(|| utf16_cmp(&a.local, &b.local)),
            (Some(_), None) => std::cmp::Ordering::Less,
            (None, Some(_)) => std::cmp::Ordering::Greater,
            (None, None) => utf16_cmp(&a.local, &b.local),
        });
        let mut attr_prefixes: Vec<Option<String>> = Vec::with_capacity(attrs.len());
        for a in &attrs {
            match a.ns.as_deref() {
                Some(XML_NS) => return Err(TransformError::XmlAttribute(a.local.clone())),
                Some(uri) => attr_prefixes.push(Some(self.prefix_for(uri))),
                None => attr_prefixes.push(None),
            }
        }

        self.out.push('<');
        self.out.push_str(&prefix);
        self.out.push(':');
        self.out.push_str(&el.local);
        let declared = self.scopes.last().expect("scope pushed above");
        for (uri, p) in declared {
            self.out.push_str(" xmlns:");
            self.out.push_str(p);
            self.out.push_str("=\"");
            escape_attr(uri, &mut self.out);
            self.out.push('"');
        }
        for (a, p) in attrs.iter().zip(&attr_prefixes) {
            self.out.push(' ');
            if let Some(p) = p {
                self.out.push_str(p);
                self.out.push(':');
            }
            self.out.push_str(&a.local);
            self.out.push_str("=\"");
            escape_attr(&a.value, &mut self.out);
            self.out.push('"');
        }
        self.out.push('>');

        for c in &el.children {
            match doc.node(*c) {
                Node::Element(_) => self.element(*c)?,
                Node::Text(t) => {
                    if !is_java_blank(t) {
                        escape_text(t, &mut self.out);
                    }
                }
                Node::ProcessingInstruction { .. } => {}
            }
        }

        self.out.push_str("</");
        self.out.push_str(&prefix);
        self.out.push(':');
        self.out.push_str(&el.local);
        self.out.push('>');
        self.scopes.pop();
        Ok(())
    }
}

/// Java `String.trim().isEmpty()`: every character is at most U+0020.
fn is_java_blank(s: &str) -> bool {
    s.chars().all(|c| c <= '\u{20}')
}

/// Java `String.compareTo`: UTF-16 code units, then length.
fn utf16_cmp(a: &str, b: &str) -> std::cmp::Ordering {
    a.encode_utf16().cmp(b.encode_utf16())
}

/// Attribute escaping of the reference writer: the same characters as
/// Canonical XML, but character references in lower-case hex (`&#xa;`), as
/// Woodstox writes them. Not shared with c14n on purpose.
fn escape_attr(s: &str, out: &mut String) {
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '"' => out.push_str("&quot;"),
            '\t' => out.push_str("&#x9;"),
            '\n' => out.push_str("&#xa;"),
            '\r' => out.push_str("&#xd;"),
            _ => out.push(c),
        }
    }
}

/// Characters the writer turns into a reference in text, and how.
fn text_entity(c: char) -> Option<String> {
    match c {
        '&' => Some("&amp;".into()),
        '<' => Some("&lt;".into()),
        '\r' => Some("&#xd;".into()),
        '\u{7F}'..='\u{9F}' => Some(format!("&#x{:x};", c as u32)),
        _ => None,
    }
}

fn escape_text(s: &str, out: &mut String) {
    let units: usize = s.encode_utf16().count();
    if units < SHORT_TEXT {
        // Short path: `>` is escaped at the very start or after `]`.
        let mut prev: Option<char> = None;
        for c in s.chars() {
            if c == '>' {
                if prev.is_none() || prev == Some(']') {
                    out.push_str("&gt;");
                } else {
                    out.push('>');
                }
            } else if let Some(e) = text_entity(c) {
                out.push_str(&e);
            } else {
                out.push(c);
            }
            prev = Some(c);
        }
        return;
    }
    // Buffered path: the text is handed over in 512-unit chunks, and within
    // a chunk a `>` is escaped at the start of a run, that is at the chunk
    // start, right after `]`, or right after a character that was escaped.
    let mut pos = 0usize; // UTF-16 index of `c`
    let mut run_start = 0usize;
    let mut prev: Option<char> = None;
    for c in s.chars() {
        if pos.is_multiple_of(COPY_CHUNK) {
            run_start = pos;
            prev = None;
        }
        let escaped = if c == '>' {
            if pos == run_start || prev == Some(']') {
                out.push_str("&gt;");
                true
            } else {
                out.push('>');
                false
            }
        } else if let Some(e) = text_entity(c) {
            out.push_str(&e);
            true
        } else {
            out.push(c);
            false
        };
        pos += c.len_utf16();
        if escaped {
            run_start = pos;
        }
        prev = Some(c);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::xml::parse;

    fn run(xml: &str) -> Result<String, TransformError> {
        let doc = parse(xml.as_bytes()).unwrap();
        transform(&doc, doc.root()).map(|b| String::from_utf8(b).unwrap())
    }

    fn text_of(t: &str) -> String {
        let mut out = String::new();
        escape_text(t, &mut out);
        out
    }

    #[test]
    fn escapes_text_like_the_reference_writer() {
        assert_eq!(text_of("x > y"), "x > y");
        assert_eq!(text_of(">abc"), "&gt;abc");
        assert_eq!(text_of("]>"), "]&gt;");
        assert_eq!(text_of("a\rb"), "a&#xd;b");
        assert_eq!(text_of("& &"), "&amp; &amp;");
        assert_eq!(text_of("a&>"), "a&amp;>");
        // Long text: `>` after an escaped character is escaped too.
        assert_eq!(text_of("0123456789a&>"), "0123456789a&amp;&gt;");
        assert_eq!(text_of("0123456789ab>"), "0123456789ab>");
        assert_eq!(text_of("\t\n\"'\u{0416}"), "\t\n\"'\u{0416}");
        assert_eq!(text_of("a\u{85}b"), "a&#x85;b");
    }

    #[test]
    fn chunk_boundaries_restart_runs() {
        let mut s = "a".repeat(COPY_CHUNK);
        s.push('>');
        let mut expected = "a".repeat(COPY_CHUNK);
        expected.push_str("&gt;");
        assert_eq!(text_of(&s), expected);
    }

    #[test]
    fn escapes_attributes() {
        let out =
            run("<r xmlns=\"urn:x\" a=\"1&#x9;2&#xA;3&#xD;4 &quot; &lt; &gt; &amp; '\"/>").unwrap();
        assert_eq!(
            out,
            "<ns1:r xmlns:ns1=\"urn:x\" a=\"1&#x9;2&#xa;3&#xd;4 &quot; &lt; > &amp; '\"></ns1:r>"
        );
    }

    #[test]
    fn drops_whitespace_with_java_trim_semantics() {
        let out = run("<r xmlns=\"urn:x\"><a>\u{A0}</a><b> \t\n</b></r>").unwrap();
        assert_eq!(
            out,
            "<ns1:r xmlns:ns1=\"urn:x\"><ns1:a>\u{A0}</ns1:a><ns1:b></ns1:b></ns1:r>"
        );
    }

    #[test]
    fn refuses_what_it_cannot_represent() {
        assert_eq!(run("<r/>"), Err(TransformError::NoNamespace("r".into())));
        assert_eq!(
            run("<r xmlns=\"urn:x\" xml:lang=\"ru\"/>"),
            Err(TransformError::XmlAttribute("lang".into()))
        );
    }

    #[test]
    fn copies_qname_values_literally() {
        let out = run(r#"<a:r xmlns:a="urn:a" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:type="a:T"/>"#).unwrap();
        assert_eq!(
            out,
            r#"<ns1:r xmlns:ns1="urn:a" xmlns:ns2="http://www.w3.org/2001/XMLSchema-instance" ns2:type="a:T"></ns1:r>"#
        );
    }
}
