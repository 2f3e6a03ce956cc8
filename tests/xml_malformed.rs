//! mezhved's XML reader against an independent one: every document of the
//! corpus under `tests/xml_malformed/` is not well-formed XML 1.0 (xmllint
//! refuses it) and mezhved must refuse it too; those under `namespaces/`
//! break Namespaces in XML (xmllint reports a namespace error), which
//! mezhved reads by as well. Tricky but well-formed documents must pass
//! both, so strictness is not bought by refusing good input.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

fn xmllint(file: &Path) -> (bool, String) {
    let out = Command::new("xmllint")
        .args(["--noout", "--nonet"])
        .arg(file)
        .output()
        .expect("xmllint is installed (Debian libxml2-utils)");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn corpus(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "xml"))
        .collect();
    files.sort();
    files
}

#[test]
fn every_malformed_document_is_refused_as_xmllint_refuses_it() {
    let dir = common::root().join("tests/xml_malformed");
    let (plain, namespaced) = (corpus(&dir), corpus(&dir.join("namespaces")));
    assert!(
        plain.len() >= 60,
        "the corpus has {} documents",
        plain.len()
    );
    let mut accepted = Vec::new();
    for file in plain.iter().chain(&namespaced) {
        let name = file.file_name().unwrap().to_string_lossy().into_owned();
        let (ok, stderr) = xmllint(file);
        if namespaced.contains(file) {
            assert!(
                stderr.contains("namespace error"),
                "{name}: xmllint reports no namespace error:\n{stderr}"
            );
        } else {
            assert!(
                !ok,
                "{name}: xmllint accepts it, so it does not belong here"
            );
        }
        let bytes = std::fs::read(file).unwrap();
        if let Ok(doc) = mezhved::xml::parse(&bytes) {
            accepted.push(format!(
                "{name}: read as <{}>",
                doc.element(doc.root()).qname()
            ));
        }
    }
    assert!(
        accepted.is_empty(),
        "mezhved reads {} malformed document(s):\n{}",
        accepted.len(),
        accepted.join("\n")
    );
}

#[test]
fn tricky_well_formed_documents_are_read_as_xmllint_reads_them() {
    let good: &[&[u8]] = &[
        b"<a>]]</a>",
        b"<a>]></a>",
        b"<a>] ]></a>",
        b"<a b=\">\"/>",
        b"<a b='\"'/>",
        "<ЕГРЮЛ Атрибут=\"значение\"/>".as_bytes(),
        "<a\u{00B7}b/>".as_bytes(),
        b"<_a.b-c1/>",
        b"<a:b xmlns:a=\"urn:a\" a:c=\"1\"/>",
        b"<a><?pi?><?pi data?><!----><!-- - --></a>",
        b"<a><![CDATA[]]]]><![CDATA[>]]></a>",
        b"<a>&#x10FFFF;&#9;&#xD;&lt;&amp;</a>",
        b"<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?>\n<a/>\n<!-- after -->\n<?pi after?>\n",
        b"<?xml version='1.0'?><a   b = '1'\n\tc=\"2\" ></a >",
        b"\xEF\xBB\xBF<a/>",
        b"<a xmlns=\"urn:x\"><b xmlns=\"\"/></a>",
        b"<a xml:lang=\"ru\" xmlns:xml=\"http://www.w3.org/XML/1998/namespace\"/>",
    ];
    let tmp = tempfile::tempdir().unwrap();
    for (i, doc) in good.iter().enumerate() {
        let file = tmp.path().join(format!("{i}.xml"));
        std::fs::write(&file, doc).unwrap();
        let (ok, stderr) = xmllint(&file);
        let text = String::from_utf8_lossy(doc);
        assert!(
            ok && stderr.is_empty(),
            "xmllint refuses {text:?}:\n{stderr}"
        );
        if let Err(e) = mezhved::xml::parse(doc) {
            panic!("mezhved refuses the well-formed {text:?}: {e}");
        }
    }
}
