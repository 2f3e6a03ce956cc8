//! The one XML reader of the project, hardened for input from other agencies.
//!
//! No DTD is accepted (so no entity expansion, no external entities), only
//! UTF-8, and documents are bounded in size, depth, node and attribute count.
//! Namespaces are resolved here so nothing downstream ever looks at prefixes.

use quick_xml::Reader;
use quick_xml::events::{BytesStart, Event};

use super::XmlError;
use super::dom::{Attr, Document, Element, Node, NodeId, NsDecl, XML_NS};

const XMLNS_NS: &str = "http://www.w3.org/2000/xmlns/";

/// Bounds on what the parser accepts. Defaults fit SMEV answers, which carry
/// large payloads only as attachments (not supported inline beyond these).
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    pub max_bytes: usize,
    pub max_depth: usize,
    pub max_nodes: usize,
    pub max_attrs: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_bytes: 16 * 1024 * 1024,
            max_depth: 128,
            max_nodes: 500_000,
            max_attrs: 256,
        }
    }
}

/// Parses a complete document with the default [`Limits`].
pub fn parse(bytes: &[u8]) -> Result<Document, XmlError> {
    parse_with(bytes, &Limits::default())
}

pub fn parse_with(bytes: &[u8], limits: &Limits) -> Result<Document, XmlError> {
    if bytes.len() > limits.max_bytes {
        return Err(XmlError::TooLarge {
            size: bytes.len(),
            limit: limits.max_bytes,
        });
    }
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let text = std::str::from_utf8(bytes).map_err(|e| XmlError::Encoding(e.to_string()))?;
    if text.starts_with('\u{FEFF}') {
        return Err(XmlError::syntax(
            0,
            "a second byte-order mark before the document",
        ));
    }
    Builder::new(limits).run(text)
}

struct Builder<'l> {
    limits: &'l Limits,
    nodes: Vec<Node>,
    parents: Vec<Option<NodeId>>,
    stack: Vec<NodeId>,
    root: Option<NodeId>,
    prolog: Vec<NodeId>,
    epilog: Vec<NodeId>,
    /// Text collected since the last markup that ends a text run.
    pending_text: String,
}

impl<'l> Builder<'l> {
    fn new(limits: &'l Limits) -> Self {
        Builder {
            limits,
            nodes: Vec::new(),
            parents: Vec::new(),
            stack: Vec::new(),
            root: None,
            prolog: Vec::new(),
            epilog: Vec::new(),
            pending_text: String::new(),
        }
    }

    fn run(mut self, text: &str) -> Result<Document, XmlError> {
        let mut reader = Reader::from_str(text);
        let cfg = reader.config_mut();
        cfg.check_end_names = true;
        cfg.check_comments = true;
        cfg.expand_empty_elements = false;
        cfg.trim_text(false);
        let mut first_event = true;
        loop {
            let pos = reader.buffer_position();
            let ev = reader.read_event().map_err(|e| XmlError::Syntax {
                position: reader.error_position(),
                message: e.to_string(),
            })?;
            let at_start = std::mem::replace(&mut first_event, false);
            match ev {
                Event::Decl(d) => {
                    if !at_start || pos != 0 {
                        return Err(XmlError::syntax(pos, "XML declaration not at the start"));
                    }
                    check_declaration(&d, pos)?;
                    if let Some(enc) = d.encoding() {
                        let enc = enc.map_err(|e| XmlError::syntax(pos, e.to_string()))?;
                        let enc = enc.to_ascii_lowercase();
                        if enc != "utf-8" && enc != "utf8" {
                            return Err(XmlError::Encoding(format!(
                                "declared encoding {enc} is not UTF-8"
                            )));
                        }
                    }
                }
                Event::DocType(_) => return Err(XmlError::Dtd),
                Event::Start(s) => {
                    self.flush_text(pos)?;
                    check_tag(&s, pos)?;
                    let id = self.open(&s, pos)?;
                    self.stack.push(id);
                    if self.stack.len() > self.limits.max_depth {
                        return Err(XmlError::TooDeep(self.limits.max_depth));
                    }
                }
                Event::Empty(s) => {
                    self.flush_text(pos)?;
                    check_tag(&s, pos)?;
                    self.open(&s, pos)?;
                    if self.stack.len() + 1 > self.limits.max_depth {
                        return Err(XmlError::TooDeep(self.limits.max_depth));
                    }
                }
                Event::End(_) => {
                    self.flush_text(pos)?;
                    self.stack.pop();
                }
                Event::Text(t) => {
                    if t.contains("]]>") {
                        return Err(XmlError::syntax(pos, "\"]]>\" is not allowed in text"));
                    }
                    let content = t.xml10_content();
                    self.add_text(&content, pos)?;
                }
                Event::CData(c) => {
                    let raw = c.into_inner();
                    let normalized = normalize_eols(&raw);
                    self.add_text(&normalized, pos)?;
                }
                Event::GeneralRef(r) => {
                    let ch = match r.resolve_char_ref() {
                        Ok(Some(ch)) => ch,
                        Ok(None) => {
                            let name = r.into_inner();
                            match predefined_entity(&name) {
                                Some(ch) => ch,
                                None => return Err(XmlError::UndefinedEntity(name.into_owned())),
                            }
                        }
                        Err(e) => return Err(XmlError::syntax(pos, e.to_string())),
                    };
                    if !is_xml_char(ch) {
                        return Err(XmlError::syntax(
                            pos,
                            format!(
                                "character reference to U+{:04X} is not allowed in XML",
                                ch as u32
                            ),
                        ));
                    }
                    let mut buf = [0u8; 4];
                    self.add_text(ch.encode_utf8(&mut buf), pos)?;
                }
                // Comments are dropped: canonicalisation without comments and
                // the SMEV transform both ignore them, and the text around a
                // comment becomes one text node, as it does there.
                Event::Comment(c) => check_chars(&c, pos)?,
                Event::PI(p) => {
                    self.flush_text(pos)?;
                    let target = p.target().to_owned();
                    if !is_name(&target) || target.contains(':') {
                        return Err(XmlError::syntax(
                            pos,
                            format!("invalid processing-instruction target {target:?}"),
                        ));
                    }
                    if target.eq_ignore_ascii_case("xml") {
                        return Err(XmlError::syntax(
                            pos,
                            "the processing-instruction target \"xml\" is reserved",
                        ));
                    }
                    check_chars(p.content(), pos)?;
                    let data = p.content().trim_start().to_owned();
                    let node = Node::ProcessingInstruction {
                        target: target.to_string(),
                        data: data.to_string(),
                    };
                    let parent = self.stack.last().copied();
                    let id = self.push(node, parent)?;
                    if parent.is_none() {
                        if self.root.is_none() {
                            self.prolog.push(id);
                        } else {
                            self.epilog.push(id);
                        }
                    }
                }
                Event::Eof => {
                    // Text after the document element is refused too.
                    self.flush_text(text.len() as u64)?;
                    break;
                }
            }
        }
        if !self.stack.is_empty() {
            return Err(XmlError::syntax(
                text.len() as u64,
                "unexpected end of document",
            ));
        }
        let root = self.root.ok_or(XmlError::NoRoot)?;
        Ok(Document::from_parts(
            self.nodes,
            self.parents,
            root,
            self.prolog,
            self.epilog,
        ))
    }

    fn push(&mut self, node: Node, parent: Option<NodeId>) -> Result<NodeId, XmlError> {
        if self.nodes.len() >= self.limits.max_nodes {
            return Err(XmlError::TooManyNodes(self.limits.max_nodes));
        }
        let id = NodeId(self.nodes.len() as u32);
        self.nodes.push(node);
        self.parents.push(parent);
        if let Some(p) = parent
            && let Node::Element(e) = &mut self.nodes[p.0 as usize]
        {
            e.children.push(id);
        }
        Ok(id)
    }

    fn add_text(&mut self, s: &str, pos: u64) -> Result<(), XmlError> {
        if let Some(bad) = s.chars().find(|c| !is_xml_char(*c)) {
            return Err(XmlError::syntax(
                pos,
                format!("character U+{:04X} is not allowed in XML", bad as u32),
            ));
        }
        self.pending_text.push_str(s);
        Ok(())
    }

    fn flush_text(&mut self, pos: u64) -> Result<(), XmlError> {
        if self.pending_text.is_empty() {
            return Ok(());
        }
        let text = std::mem::take(&mut self.pending_text);
        match self.stack.last().copied() {
            Some(parent) => {
                self.push(Node::Text(text), Some(parent))?;
            }
            None => {
                if !text.chars().all(|c| matches!(c, ' ' | '\t' | '\n' | '\r')) {
                    return Err(XmlError::syntax(pos, "text outside the document element"));
                }
            }
        }
        Ok(())
    }

    fn lookup(&self, decls: &[NsDecl], prefix: Option<&str>) -> Option<String> {
        if prefix == Some("xml") {
            return Some(XML_NS.to_owned());
        }
        if let Some(d) = decls.iter().find(|d| d.prefix.as_deref() == prefix) {
            return (!d.uri.is_empty()).then(|| d.uri.clone());
        }
        for id in self.stack.iter().rev() {
            if let Node::Element(e) = &self.nodes[id.0 as usize]
                && let Some(d) = e.ns_decls.iter().find(|d| d.prefix.as_deref() == prefix)
            {
                return (!d.uri.is_empty()).then(|| d.uri.clone());
            }
        }
        None
    }

    fn open(&mut self, s: &BytesStart<'_>, pos: u64) -> Result<NodeId, XmlError> {
        let parent = self.stack.last().copied();
        if parent.is_none() && self.root.is_some() {
            return Err(XmlError::syntax(pos, "more than one document element"));
        }
        let qname: String = s.name().as_ref().to_owned();
        let (prefix, local) = split_qname(&qname)
            .ok_or_else(|| XmlError::syntax(pos, format!("invalid element name {qname:?}")))?;

        let mut decls: Vec<NsDecl> = Vec::new();
        let mut raw_attrs: Vec<(Option<String>, String, String)> = Vec::new();
        let mut count = 0usize;
        for a in s.attributes().with_checks(true) {
            let a = a.map_err(|e| XmlError::syntax(pos, e.to_string()))?;
            count += 1;
            if count > self.limits.max_attrs {
                return Err(XmlError::TooManyAttributes(self.limits.max_attrs));
            }
            let key: String = a.key.as_ref().to_owned();
            let value = normalize_attr_value(&a.value, pos)?;
            if key == "xmlns" {
                decls.push(NsDecl {
                    prefix: None,
                    uri: value,
                });
                continue;
            }
            let (ap, al) = split_qname(&key)
                .ok_or_else(|| XmlError::syntax(pos, format!("invalid attribute name {key:?}")))?;
            if ap.as_deref() == Some("xmlns") {
                if value.is_empty() {
                    return Err(XmlError::syntax(
                        pos,
                        format!("prefix {al:?} cannot be undeclared in XML 1.0"),
                    ));
                }
                if (al == "xml") != (value == XML_NS) || al == "xmlns" || value == XMLNS_NS {
                    return Err(XmlError::syntax(
                        pos,
                        format!("reserved prefix or namespace in xmlns:{al}"),
                    ));
                }
                decls.push(NsDecl {
                    prefix: Some(al),
                    uri: value,
                });
                continue;
            }
            raw_attrs.push((ap, al, value));
        }

        let ns = match self.lookup(&decls, prefix.as_deref()) {
            Some(uri) => Some(uri),
            None if prefix.is_some() => {
                return Err(XmlError::UndeclaredPrefix(prefix.unwrap_or_default()));
            }
            None => None,
        };
        let mut attrs = Vec::with_capacity(raw_attrs.len());
        for (ap, al, value) in raw_attrs {
            let ans = match &ap {
                Some(p) => Some(
                    self.lookup(&decls, Some(p))
                        .ok_or_else(|| XmlError::UndeclaredPrefix(p.clone()))?,
                ),
                None => None,
            };
            if attrs.iter().any(|x: &Attr| x.local == al && x.ns == ans) {
                return Err(XmlError::syntax(pos, format!("duplicate attribute {al:?}")));
            }
            attrs.push(Attr {
                prefix: ap,
                local: al,
                ns: ans,
                value,
            });
        }
        let el = Element {
            prefix,
            local,
            ns,
            ns_decls: decls,
            attrs,
            children: Vec::new(),
        };
        let id = self.push(Node::Element(el), parent)?;
        if parent.is_none() {
            self.root = Some(id);
        }
        Ok(id)
    }
}

fn split_qname(q: &str) -> Option<(Option<String>, String)> {
    let (prefix, local) = match q.split_once(':') {
        Some((p, l)) => (Some(p), l),
        None => (None, q),
    };
    // Both parts are NCNames: Names without a colon.
    if !is_name(local) || local.contains(':') || prefix.is_some_and(|p| !is_name(p)) {
        return None;
    }
    Some((prefix.map(str::to_owned), local.to_owned()))
}

/// XML 1.0 (fifth edition) `NameStartChar`.
fn is_name_start(c: char) -> bool {
    matches!(c, ':' | 'A'..='Z' | '_' | 'a'..='z' | '\u{C0}'..='\u{D6}' | '\u{D8}'..='\u{F6}'
        | '\u{F8}'..='\u{2FF}' | '\u{370}'..='\u{37D}' | '\u{37F}'..='\u{1FFF}'
        | '\u{200C}'..='\u{200D}' | '\u{2070}'..='\u{218F}' | '\u{2C00}'..='\u{2FEF}'
        | '\u{3001}'..='\u{D7FF}' | '\u{F900}'..='\u{FDCF}' | '\u{FDF0}'..='\u{FFFD}'
        | '\u{10000}'..='\u{EFFFF}')
}

/// XML 1.0 (fifth edition) `NameChar`.
fn is_name_char(c: char) -> bool {
    is_name_start(c)
        || matches!(c, '-' | '.' | '0'..='9' | '\u{B7}' | '\u{300}'..='\u{36F}' | '\u{203F}'..='\u{2040}')
}

/// The XML 1.0 `Name` production.
fn is_name(s: &str) -> bool {
    let mut chars = s.chars();
    chars.next().is_some_and(is_name_start) && chars.all(is_name_char)
}

fn is_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\r')
}

/// Every character of a comment or a processing instruction is an XML
/// `Char`.
fn check_chars(s: &str, pos: u64) -> Result<(), XmlError> {
    match s.chars().find(|c| !is_xml_char(*c)) {
        Some(bad) => Err(XmlError::syntax(
            pos,
            format!("character U+{:04X} is not allowed in XML", bad as u32),
        )),
        None => Ok(()),
    }
}

/// A start tag as XML 1.0 writes it: `Name (S Attribute)* S?`, each
/// attribute `Name S? = S? "value"` (or single quotes). The tokenizer is
/// lenient about the spaces and the names; this is not.
fn check_tag(tag: &BytesStart<'_>, pos: u64) -> Result<(), XmlError> {
    let raw: &str = tag;
    let bad = |m: String| Err(XmlError::syntax(pos, m));
    let raw = raw.strip_suffix('/').unwrap_or(raw);
    let name_end = raw.find(is_space).unwrap_or(raw.len());
    let name = &raw[..name_end];
    if !is_name(name) {
        return bad(format!("invalid element name {name:?}"));
    }
    let mut rest = &raw[name_end..];
    loop {
        let after_space = rest.trim_start_matches(is_space);
        if after_space.is_empty() {
            return Ok(());
        }
        if after_space.len() == rest.len() {
            return bad(format!(
                "attributes of <{name}> must be separated by white space"
            ));
        }
        rest = after_space;
        let end = rest.find(|c| c == '=' || is_space(c)).unwrap_or(rest.len());
        let attr = &rest[..end];
        if !is_name(attr) {
            return bad(format!("invalid attribute name {attr:?} in <{name}>"));
        }
        rest = rest[end..].trim_start_matches(is_space);
        let Some(r) = rest.strip_prefix('=') else {
            return bad(format!("attribute {attr} of <{name}> has no value"));
        };
        rest = r.trim_start_matches(is_space);
        let quote = match rest.chars().next() {
            Some(q @ ('"' | '\'')) => q,
            _ => return bad(format!("the value of {attr} in <{name}> is not quoted")),
        };
        let Some(close) = rest[1..].find(quote) else {
            return bad(format!("the value of {attr} in <{name}> is not closed"));
        };
        rest = &rest[close + 2..];
    }
}

/// The XML declaration exactly as XML 1.0 allows it: `version` (1.x)
/// first, then `encoding` and `standalone` (yes or no), each once, in that
/// order, nothing else.
fn check_declaration(decl: &quick_xml::events::BytesDecl<'_>, pos: u64) -> Result<(), XmlError> {
    let raw: &str = decl;
    let bad = |m: &str| Err(XmlError::syntax(pos, format!("XML declaration: {m}")));
    let raw = raw.strip_suffix('?').unwrap_or(raw);
    let Some(mut rest) = raw.strip_prefix("xml") else {
        return bad("not an XML declaration");
    };
    let mut seen: Vec<&str> = Vec::new();
    loop {
        let after_space = rest.trim_start_matches(is_space);
        if after_space.is_empty() {
            break;
        }
        if after_space.len() == rest.len() {
            return bad("pseudo-attributes must be separated by white space");
        }
        rest = after_space;
        let end = rest.find(|c| c == '=' || is_space(c)).unwrap_or(rest.len());
        let key = &rest[..end];
        rest = rest[end..].trim_start_matches(is_space);
        let Some(r) = rest.strip_prefix('=') else {
            return bad(&format!("{key} has no value"));
        };
        rest = r.trim_start_matches(is_space);
        let quote = match rest.chars().next() {
            Some(q @ ('"' | '\'')) => q,
            _ => return bad(&format!("the value of {key} is not quoted")),
        };
        let Some(close) = rest[1..].find(quote) else {
            return bad(&format!("the value of {key} is not closed"));
        };
        let value = &rest[1..close + 1];
        rest = &rest[close + 2..];
        let order = ["version", "encoding", "standalone"];
        let Some(at) = order.iter().position(|k| *k == key) else {
            return bad(&format!("{key:?} is not version, encoding or standalone"));
        };
        if seen
            .iter()
            .any(|s| order.iter().position(|k| k == s) >= Some(at))
        {
            return bad(&format!("{key} is out of place"));
        }
        if seen.is_empty() && key != "version" {
            return bad("version must come first");
        }
        let fine = match key {
            "version" => value
                .strip_prefix("1.")
                .is_some_and(|d| !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit())),
            "encoding" => {
                value.starts_with(|c: char| c.is_ascii_alphabetic())
                    && value
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
            }
            _ => matches!(value, "yes" | "no"),
        };
        if !fine {
            return bad(&format!("{key}={value:?} is not allowed"));
        }
        seen.push(key);
    }
    if seen.is_empty() {
        return bad("the version is missing");
    }
    Ok(())
}

/// XML 1.0 line-end normalisation: CR LF and lone CR become LF.
pub(crate) fn normalize_eols(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\r' {
            if chars.peek() == Some(&'\n') {
                chars.next();
            }
            out.push('\n');
        } else {
            out.push(c);
        }
    }
    out
}

/// Attribute-value normalisation for CDATA attributes (XML 1.0 §3.3.3):
/// literal whitespace characters become spaces, references are resolved,
/// so `&#xA;` survives as a line feed while a raw line feed does not.
fn normalize_attr_value(raw: &str, pos: u64) -> Result<String, XmlError> {
    let mut out = String::with_capacity(raw.len());
    let mut rest = raw;
    while let Some(i) = rest.find(['&', '\t', '\n', '\r', '<']) {
        out.push_str(&rest[..i]);
        let c = rest.as_bytes()[i];
        match c {
            b'\r' => {
                out.push(' ');
                rest = &rest[i + 1..];
                if let Some(r) = rest.strip_prefix('\n') {
                    rest = r;
                }
            }
            b'\t' | b'\n' => {
                out.push(' ');
                rest = &rest[i + 1..];
            }
            b'<' => return Err(XmlError::syntax(pos, "'<' in an attribute value")),
            _ => {
                let end = rest[i..]
                    .find(';')
                    .ok_or_else(|| XmlError::syntax(pos, "unterminated reference in attribute"))?;
                let name = &rest[i + 1..i + end];
                let ch = if let Some(num) = name.strip_prefix('#') {
                    parse_char_ref(num).ok_or_else(|| {
                        XmlError::syntax(pos, format!("invalid character reference &{name};"))
                    })?
                } else {
                    predefined_entity(name)
                        .ok_or_else(|| XmlError::UndefinedEntity(name.to_owned()))?
                };
                out.push(ch);
                rest = &rest[i + end + 1..];
            }
        }
    }
    out.push_str(rest);
    if let Some(bad) = out.chars().find(|c| !is_xml_char(*c)) {
        return Err(XmlError::syntax(
            pos,
            format!("character U+{:04X} is not allowed in XML", bad as u32),
        ));
    }
    Ok(out)
}

fn parse_char_ref(num: &str) -> Option<char> {
    let code = if let Some(hex) = num.strip_prefix('x') {
        u32::from_str_radix(hex, 16).ok()?
    } else {
        num.parse::<u32>().ok()?
    };
    char::from_u32(code).filter(|c| is_xml_char(*c))
}

fn predefined_entity(name: &str) -> Option<char> {
    Some(match name {
        "lt" => '<',
        "gt" => '>',
        "amp" => '&',
        "apos" => '\'',
        "quot" => '"',
        _ => return None,
    })
}

/// The XML 1.0 `Char` production.
pub(crate) fn is_xml_char(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..='\u{10FFFF}')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn root_text(xml: &str) -> String {
        let d = parse(xml.as_bytes()).unwrap();
        d.text(d.root())
    }

    #[test]
    fn resolves_namespaces_by_uri() {
        let d = parse(br#"<a:x xmlns:a="urn:a"><y xmlns="urn:b" a:k="v"/></a:x>"#).unwrap();
        let root = d.root();
        assert!(d.element(root).is("urn:a", "x"));
        let y = d.child(root, "urn:b", "y").unwrap();
        let attr = &d.element(y).attrs[0];
        assert_eq!(attr.ns.as_deref(), Some("urn:a"));
        assert_eq!(attr.value, "v");
    }

    #[test]
    fn refuses_doctype_and_entities() {
        let xxe = br#"<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]><r>&x;</r>"#;
        assert!(matches!(parse(xxe), Err(XmlError::Dtd)));
        assert!(matches!(
            parse(b"<r>&x;</r>"),
            Err(XmlError::UndefinedEntity(_))
        ));
    }

    #[test]
    fn enforces_limits() {
        let deep = "<a>".repeat(200) + &"</a>".repeat(200);
        assert!(matches!(parse(deep.as_bytes()), Err(XmlError::TooDeep(_))));
        let limits = Limits {
            max_bytes: 10,
            ..Limits::default()
        };
        assert!(matches!(
            parse_with(b"<a>0123456789</a>", &limits),
            Err(XmlError::TooLarge { .. })
        ));
    }

    #[test]
    fn normalises_text_and_attributes_like_xml_1_0() {
        assert_eq!(root_text("<r>a\r\nb\rc&#xD;d</r>"), "a\nb\nc\rd");
        let d = parse(b"<r a=\"x\ty\nz&#x9;&#xA;&amp;&lt;\"/>").unwrap();
        assert_eq!(d.element(d.root()).attr("a"), Some("x y z\t\n&<"));
        assert_eq!(root_text("<r>x<!-- c -->y<![CDATA[<&]]></r>"), "xy<&");
    }

    #[test]
    fn rejects_malformed_input() {
        for bad in [
            &b"<a><b></a>"[..],
            b"<a/><b/>",
            b"<p:a/>",
            b"<a>\x01</a>",
            b"<a>&#0;</a>",
            b"text<a/>",
            b"<a x='1' x='2'/>",
            b"<?xml version=\"1.0\" encoding=\"windows-1251\"?><a/>",
            b"",
        ] {
            assert!(
                parse(bad).is_err(),
                "accepted {:?}",
                String::from_utf8_lossy(bad)
            );
        }
    }
}
