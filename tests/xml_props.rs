//! mezhved's canonicalisation and SMEV transform against independent
//! implementations, on generated input:
//! - whole documents: exclusive c14n = `xmllint --exc-c14n`;
//! - an element in its document context: exclusive c14n digested into an
//!   RSA signature that `xmlsec1 --verify` (which canonicalises itself)
//!   accepts;
//! - the transform's output escaping = the Woodstox StAX writer's
//!   (SMEV-NOTES §3.3), through a small Java oracle (`tests/oracle`).

mod common;

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};

use base64::Engine as _;
use mezhved::xml::{self, Document};
use mezhved::xmldsig::{self, ReferenceTransforms, SignatureAlgorithm, SigningKey};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};

// ---------------------------------------------------------------------------
// A generator of namespaced documents, written out with varied but valid
// lexical choices (references, CDATA, CR LF, literal whitespace in
// attributes) so that parsing normalisation is exercised too.

// Namespace names the oracles handle: libxml2 refuses IRIs (non-ASCII) when
// canonicalising, and writes `&` in a namespace name unescaped (C14N 1.0
// §2.3 renders namespace nodes like attributes, `&` as `&amp;`, which
// mezhved does; see `namespace_names_are_escaped_as_the_spec_says`).
const URIS: [&str; 4] = ["urn:a", "urn:b", "http://example.ru/zh?q=1", "urn:a"];
const PREFIXES: [&str; 3] = ["p", "q", "ns1"];
const LOCALS: [&str; 5] = ["Запрос", "item", "ИНН", "x", "Док"];

#[derive(Debug, Clone)]
enum Gen {
    Element {
        /// `None` = unprefixed.
        prefix: Option<usize>,
        local: usize,
        /// Declarations: prefix index (or `None` = default) → URI index, or
        /// `xmlns=""` when the URI is `None`.
        decls: Vec<(Option<usize>, Option<usize>)>,
        attrs: Vec<(Option<usize>, usize, String)>,
        children: Vec<Gen>,
    },
    Text(String),
    CData(String),
    Comment(String),
    Pi(String),
}

fn text_strategy() -> impl Strategy<Value = String> {
    let ch = prop_oneof![
        8 => prop::char::range('a', 'z'),
        3 => Just(' '),
        2 => prop::sample::select(vec!['&', '<', '>', '"', '\'', '\r', '\t', '\n', ']']),
        3 => prop::char::range('А', 'я'),
        1 => Just('😀'),
    ];
    prop::collection::vec(ch, 0..24).prop_map(|v| v.into_iter().collect())
}

fn node_strategy() -> impl Strategy<Value = Gen> {
    let leaf = prop_oneof![
        4 => text_strategy().prop_map(Gen::Text),
        1 => "[a-zЖ <>&]{0,8}".prop_map(Gen::CData),
        1 => "[a-z ]{0,8}".prop_map(Gen::Comment),
        1 => "[a-z ]{0,8}".prop_map(Gen::Pi),
    ];
    leaf.prop_recursive(4, 40, 4, |inner| {
        (
            prop::option::of(0..PREFIXES.len()),
            0..LOCALS.len(),
            prop::collection::vec(
                (
                    prop::option::of(0..PREFIXES.len()),
                    prop::option::of(0..URIS.len()),
                ),
                0..3,
            ),
            prop::collection::vec(
                (
                    prop::option::of(0..PREFIXES.len()),
                    0..LOCALS.len(),
                    text_strategy(),
                ),
                0..3,
            ),
            prop::collection::vec(inner, 0..4),
        )
            .prop_map(|(prefix, local, decls, attrs, children)| Gen::Element {
                prefix,
                local,
                decls,
                attrs,
                children,
            })
    })
}

fn root_strategy() -> impl Strategy<Value = (Gen, u64)> {
    (node_strategy(), any::<u64>()).prop_map(|(n, seed)| match n {
        e @ Gen::Element { .. } => (e, seed),
        other => (
            Gen::Element {
                prefix: None,
                local: 0,
                decls: vec![],
                attrs: vec![],
                children: vec![other],
            },
            seed,
        ),
    })
}

/// Writes a generated tree as XML text; `seed` picks lexical variants.
struct Writer {
    out: String,
    rng: u64,
    /// xmllint's `--exc-c14n` keeps comments (the "with comments" variant),
    /// mezhved implements the one without, as XMLDSig uses it: comparisons
    /// with xmllint generate no comments.
    comments: bool,
}

impl Writer {
    fn coin(&mut self, n: u64) -> u64 {
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 7;
        self.rng ^= self.rng << 17;
        self.rng % n
    }

    fn text(&mut self, s: &str) {
        let mut prev2 = ['\0', '\0'];
        for c in s.chars() {
            let lit = match c {
                '&' => ["&amp;", "&#38;", "&#x26;"][self.coin(3) as usize].to_owned(),
                '<' => ["&lt;", "&#60;"][self.coin(2) as usize].to_owned(),
                '>' if prev2 == [']', ']'] => "&gt;".to_owned(),
                '>' => [">", "&gt;"][self.coin(2) as usize].to_owned(),
                '"' => ["\"", "&quot;"][self.coin(2) as usize].to_owned(),
                '\'' => ["'", "&apos;"][self.coin(2) as usize].to_owned(),
                // A literal CR is normalised away by the parser; a reference keeps it.
                '\r' => ["&#13;", "&#xD;", "\r\n", "\r"][self.coin(4) as usize].to_owned(),
                'А'..='я' if self.coin(4) == 0 => format!("&#{};", c as u32),
                c => c.to_string(),
            };
            self.out.push_str(&lit);
            prev2 = [prev2[1], c];
        }
    }

    fn attr(&mut self, s: &str) {
        for c in s.chars() {
            let lit = match c {
                '&' => "&amp;".to_owned(),
                '<' => "&lt;".to_owned(),
                '"' => "&quot;".to_owned(),
                // Literal whitespace becomes a space; references survive.
                '\t' => ["\t", "&#9;"][self.coin(2) as usize].to_owned(),
                '\n' => ["\n", "&#10;"][self.coin(2) as usize].to_owned(),
                '\r' => ["&#13;", "\r"][self.coin(2) as usize].to_owned(),
                c => c.to_string(),
            };
            self.out.push_str(&lit);
        }
    }

    /// `scope`: prefix index (None = default) → bound URI (None = unbound).
    fn node(&mut self, g: &Gen, scope: &mut Vec<(Option<usize>, Option<usize>)>) {
        match g {
            Gen::Text(t) => self.text(t),
            Gen::CData(t) => {
                self.out.push_str("<![CDATA[");
                self.out.push_str(t);
                self.out.push_str("]]>");
            }
            Gen::Comment(_) if !self.comments => {}
            Gen::Comment(t) => {
                self.out.push_str("<!--");
                self.out.push_str(t);
                self.out.push_str("-->");
            }
            Gen::Pi(t) => {
                self.out.push_str("<?pi ");
                self.out.push_str(t);
                self.out.push_str("?>");
            }
            Gen::Element {
                prefix,
                local,
                decls,
                attrs,
                children,
            } => {
                let mark = scope.len();
                let mut written: Vec<Option<usize>> = Vec::new();
                let mut decl_text = String::new();
                let mut declare = |p: Option<usize>,
                                   uri: Option<usize>,
                                   scope: &mut Vec<_>,
                                   written: &mut Vec<_>| {
                    if written.contains(&p) {
                        return;
                    }
                    written.push(p);
                    scope.push((p, uri));
                    let value = uri.map(|u| URIS[u]).unwrap_or("");
                    match p {
                        Some(i) => {
                            decl_text.push_str(&format!(" xmlns:{}=\"{value}\"", PREFIXES[i]))
                        }
                        None => decl_text.push_str(&format!(" xmlns=\"{value}\"")),
                    }
                };
                for (p, u) in decls {
                    // A prefix cannot be undeclared in XML 1.0.
                    let u = if p.is_some() {
                        Some(u.unwrap_or(0))
                    } else {
                        *u
                    };
                    declare(*p, u, scope, &mut written);
                }
                let bound = |scope: &Vec<(Option<usize>, Option<usize>)>, p: Option<usize>| {
                    scope
                        .iter()
                        .rev()
                        .find(|(sp, _)| *sp == p)
                        .and_then(|(_, u)| *u)
                };
                if let Some(p) = prefix
                    && bound(scope, Some(*p)).is_none()
                {
                    declare(Some(*p), Some(*p % 3), scope, &mut written);
                }
                let mut attr_text = String::new();
                let mut seen: Vec<(Option<&str>, usize)> = Vec::new();
                for (p, l, v) in attrs {
                    if let Some(p) = p
                        && bound(scope, Some(*p)).is_none()
                    {
                        declare(Some(*p), Some((*p + 1) % 3), scope, &mut written);
                    }
                    let uri = p.and_then(|p| bound(scope, Some(p))).map(|u| URIS[u]);
                    if seen.contains(&(uri, *l)) {
                        continue;
                    }
                    seen.push((uri, *l));
                    let name = match p {
                        Some(p) => format!("{}:{}", PREFIXES[*p], LOCALS[*l]),
                        None => LOCALS[*l].to_owned(),
                    };
                    let save = std::mem::take(&mut self.out);
                    self.attr(v);
                    let value = std::mem::replace(&mut self.out, save);
                    attr_text.push_str(&format!(" {name}=\"{value}\""));
                }
                let qname = match prefix {
                    Some(p) => format!("{}:{}", PREFIXES[*p], LOCALS[*local]),
                    None => LOCALS[*local].to_owned(),
                };
                self.out.push('<');
                self.out.push_str(&qname);
                self.out.push_str(&decl_text);
                self.out.push_str(&attr_text);
                if children.is_empty() && self.coin(2) == 0 {
                    self.out.push_str("/>");
                } else {
                    self.out.push('>');
                    for c in children {
                        self.node(c, scope);
                    }
                    self.out.push_str(&format!("</{qname}>"));
                }
                scope.truncate(mark);
            }
        }
    }
}

fn write_doc(g: &Gen, seed: u64) -> String {
    write_doc_with(g, seed, true)
}

fn write_doc_with(g: &Gen, seed: u64, comments: bool) -> String {
    let mut w = Writer {
        out: String::new(),
        rng: seed | 1,
        comments,
    };
    if w.coin(2) == 0 {
        w.out
            .push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    }
    if w.coin(3) == 0 {
        w.out.push_str("<?before data?>\n");
        if comments {
            w.out.push_str("<!-- c -->\n");
        }
    }
    w.node(g, &mut Vec::new());
    if w.coin(3) == 0 {
        w.out.push_str("\n<?after?>");
    }
    w.out
}

fn cases(n: u32) -> Config {
    Config {
        cases: n,
        failure_persistence: None,
        ..Config::default()
    }
}

// ---------------------------------------------------------------------------

#[test]
fn document_c14n_matches_xmllint() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("doc.xml");
    let mut runner = TestRunner::new(cases(300));
    runner
        .run(&root_strategy(), |(g, seed)| {
            let text = write_doc_with(&g, seed, false);
            std::fs::write(&file, &text).unwrap();
            let theirs = Command::new("xmllint")
                .arg("--exc-c14n")
                .arg(&file)
                .output()
                .unwrap();
            prop_assert!(
                theirs.status.success(),
                "xmllint refused:\n{text}\n{}",
                String::from_utf8_lossy(&theirs.stderr)
            );
            let doc = xml::parse(text.as_bytes())
                .map_err(|e| TestCaseError::fail(format!("{e}\n{text}")))?;
            let ours = xmldsig::c14n::canonicalize_document(&doc);
            prop_assert_eq!(
                String::from_utf8(ours).unwrap(),
                String::from_utf8(theirs.stdout).unwrap(),
                "input:\n{}",
                text
            );
            Ok(())
        })
        .unwrap();
}

#[test]
fn namespace_names_are_escaped_as_the_spec_says() {
    let doc = xml::parse(br#"<p:r xmlns:p="urn:x?a=1&amp;b=&quot;2&quot;"/>"#).unwrap();
    assert_eq!(
        String::from_utf8(xmldsig::c14n::canonicalize_document(&doc)).unwrap(),
        r#"<p:r xmlns:p="urn:x?a=1&amp;b=&quot;2&quot;"></p:r>"#
    );
}

#[test]
fn writer_output_reparses_to_the_same_canonical_form() {
    let mut runner = TestRunner::new(cases(500));
    runner
        .run(&root_strategy(), |(g, seed)| {
            let doc = xml::parse(write_doc(&g, seed).as_bytes()).unwrap();
            let again = xml::parse(&xml::to_bytes(&doc)).unwrap();
            prop_assert_eq!(
                xmldsig::c14n::canonicalize_document(&doc),
                xmldsig::c14n::canonicalize_document(&again)
            );
            Ok(())
        })
        .unwrap();
}

#[test]
fn element_c14n_in_context_matches_xmlsec1() {
    let key = SigningKey::generate(SignatureAlgorithm::RsaSha256, "c14n", 1).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (file, cert) = (dir.path().join("doc.xml"), dir.path().join("cert.pem"));
    std::fs::write(&cert, key.certificate().to_pem().unwrap()).unwrap();
    let mut runner = TestRunner::new(cases(120));
    runner
        .run(
            &(root_strategy(), any::<prop::sample::Index>()),
            |((g, seed), pick)| {
                let mut doc = xml::parse(write_doc(&g, seed).as_bytes()).unwrap();
                let candidates: Vec<_> = doc.descendants(doc.root()).into_iter().skip(1).collect();
                if candidates.is_empty() {
                    return Ok(());
                }
                let target = *pick.get(&candidates);
                doc.set_attr(target, "Id", "target");
                let root = doc.root();
                xmldsig::sign_element(
                    &mut doc,
                    target,
                    root,
                    &key,
                    ReferenceTransforms::ExcC14nOnly,
                )
                .unwrap();
                std::fs::write(&file, xml::to_bytes(&doc)).unwrap();
                let el = doc.element(target);
                let id_attr = match &el.ns {
                    Some(ns) => format!("{ns}:{}", el.local),
                    None => el.local.clone(),
                };
                let out = Command::new("xmlsec1")
                    .args(["--verify", "--pubkey-cert-pem"])
                    .arg(&cert)
                    .arg("--id-attr:Id")
                    .arg(&id_attr)
                    .arg(&file)
                    .output()
                    .unwrap();
                prop_assert!(
                    out.status.success(),
                    "xmlsec1 disagrees on the canonical form of <{}>:\n{}\n{}",
                    el.qname(),
                    String::from_utf8_lossy(&xml::to_bytes(&doc)),
                    String::from_utf8_lossy(&out.stderr)
                );
                Ok(())
            },
        )
        .unwrap();
}

// ---------------------------------------------------------------------------
// The §3.3 escaping profile against Woodstox itself.

struct Oracle {
    _child: Child,
    input: ChildStdin,
    output: BufReader<ChildStdout>,
}

impl Oracle {
    fn start() -> Oracle {
        let jars = "/usr/share/java/woodstox-core.jar:/usr/share/java/stax2-api.jar";
        assert!(
            std::path::Path::new("/usr/share/java/woodstox-core.jar").exists(),
            "the Woodstox oracle needs Debian libwoodstox-java and a JDK (scripts/setup installs them)"
        );
        let classes = tempfile::tempdir().unwrap().keep();
        let javac = Command::new("javac")
            .args(["-cp", jars, "-d"])
            .arg(&classes)
            .arg(common::root().join("tests/oracle/StaxEscape.java"))
            .output()
            .expect("javac (a JDK) is installed");
        assert!(
            javac.status.success(),
            "{}",
            String::from_utf8_lossy(&javac.stderr)
        );
        let mut child = Command::new("java")
            .arg("-cp")
            .arg(format!("{}:{jars}", classes.display()))
            .arg("StaxEscape")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        Oracle {
            input: child.stdin.take().unwrap(),
            output: BufReader::new(child.stdout.take().unwrap()),
            _child: child,
        }
    }

    fn escape(&mut self, attribute: bool, value: &str) -> String {
        let b64 = base64::engine::general_purpose::STANDARD;
        writeln!(
            self.input,
            "{} {}",
            if attribute { 'A' } else { 'T' },
            b64.encode(value)
        )
        .unwrap();
        self.input.flush().unwrap();
        let mut line = String::new();
        self.output.read_line(&mut line).unwrap();
        String::from_utf8(b64.decode(line.trim()).unwrap()).unwrap()
    }
}

/// The transform of `<r a="attr">text</r>`, split into the escaped parts.
fn transformed(text: &str, attr: &str) -> (String, String) {
    let mut doc = Document::new(None, "r", Some("urn:t"));
    let r = doc.root();
    doc.set_attr(r, "a", attr);
    doc.append_text(r, text);
    let out = String::from_utf8(xmldsig::transform::transform(&doc, r).unwrap()).unwrap();
    let after = out.strip_prefix("<ns1:r xmlns:ns1=\"urn:t\" a=\"").unwrap();
    let (a, rest) = after.split_once("\">").unwrap();
    (
        rest.strip_suffix("</ns1:r>").unwrap().to_owned(),
        a.to_owned(),
    )
}

fn special_text() -> impl Strategy<Value = String> {
    let ch = prop_oneof![
        6 => prop::char::range('a', 'z'),
        6 => prop::sample::select(vec!['&', '<', '>', '"', '\'', '\r', '\t', '\n', ']', ' ']),
        3 => prop::char::range('А', 'я'),
        1 => prop::sample::select(vec!['\u{85}', '\u{7f}', '😀', '\u{a0}']),
    ];
    // Up to 1100 UTF-16 units: across the 12-unit and 512-unit boundaries.
    prop_oneof![
        prop::collection::vec(ch.clone(), 0..14),
        prop::collection::vec(ch, 500..1100),
    ]
    .prop_map(|v| v.into_iter().collect())
}

#[test]
fn transform_escaping_matches_the_woodstox_writer() {
    let oracle = std::cell::RefCell::new(Oracle::start());
    let mut runner = TestRunner::new(cases(600));
    runner
        .run(&(special_text(), special_text()), |(text, attr)| {
            let (t, a) = transformed(&text, &attr);
            // Whitespace-only text is dropped by the transform (Java trim()).
            let expect_t = if text.chars().all(|c| c <= ' ') {
                String::new()
            } else {
                oracle.borrow_mut().escape(false, &text)
            };
            prop_assert_eq!(t, expect_t, "text {:?}", text);
            prop_assert_eq!(
                a,
                oracle.borrow_mut().escape(true, &attr),
                "attribute {:?}",
                attr
            );
            Ok(())
        })
        .unwrap();
}

#[test]
fn the_notes_table_holds() {
    // SMEV-NOTES §3.3, row by row (Woodstox column).
    let cases = [
        ("x > y", "x > y"),
        (">abc", "&gt;abc"),
        ("]>", "]&gt;"),
        ("a\rb", "a&#xd;b"),
        ("& &", "&amp; &amp;"),
        ("x & ", "x &amp; "),
        ("Г Р", "Г Р"),
    ];
    for (input, expected) in cases {
        assert_eq!(transformed(input, "").0, expected, "{input:?}");
    }
    assert_eq!(
        transformed("x", "1\t2\n3\r4 \" < > & '").1,
        "1&#x9;2&#xa;3&#xd;4 &quot; &lt; > &amp; '"
    );
}
