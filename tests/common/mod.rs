//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

use mezhved::request::{Kind, LookupRequest};
use serde_json::{Value, json};

pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn shared(rel: &str) -> PathBuf {
    root().join("../shared").join(rel)
}

/// The business schema of each kind: the official ФНС ones, ours for the rest.
pub fn business_schema(kind: Kind) -> PathBuf {
    match kind {
        Kind::Egrul => shared("xsd/fns-egrul-4.0.6/fns-vipul-tosmv-ru.xsd"),
        Kind::Egrip => shared("xsd/fns-egrip-4.0.5/fns-vipip-tosmv-ru.xsd"),
        Kind::TaxDebt => root().join("schemas/tax-debt.xsd"),
        Kind::UnreliableSupplier => root().join("schemas/unreliable-supplier.xsd"),
        Kind::ForeignAgent => root().join("schemas/foreign-agent.xsd"),
        Kind::Vs => panic!("a vs request's schema is its VS's own"),
    }
}

/// Validates `xml` with `xmllint --schema`; panics with its message when invalid.
pub fn xmllint_validate(xml: &[u8], schema: &Path) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("doc.xml");
    std::fs::write(&file, xml).unwrap();
    let out = Command::new("xmllint")
        .args(["--noout", "--nonet", "--schema"])
        .arg(schema)
        .arg(&file)
        .output()
        .expect("xmllint is installed (Debian libxml2-utils)");
    assert!(
        out.status.success(),
        "xmllint rejects the document against {}:\n{}\n--- document ---\n{}",
        schema.display(),
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(xml)
    );
}

/// A schema that imports the SOAP envelope, one SMEV version and extra
/// business schemas, so a whole message validates in one pass.
pub fn envelope_schema(dir: &Path, smev: &str, extra: &[(&str, PathBuf)]) -> PathBuf {
    let v = smev;
    let types = shared(&format!("xsd/smev-{v}/smev-message-exchange-types-{v}.xsd"));
    let faults = shared(&format!(
        "xsd/smev-{v}/smev-message-exchange-faults-{v}.xsd"
    ));
    let mut imports = format!(
        r#"<xs:import namespace="http://schemas.xmlsoap.org/soap/envelope/" schemaLocation="{}"/>
<xs:import namespace="urn://x-artefacts-smev-gov-ru/services/message-exchange/types/{v}" schemaLocation="{}"/>
<xs:import namespace="urn://x-artefacts-smev-gov-ru/services/message-exchange/types/faults/{v}" schemaLocation="{}"/>
"#,
        root().join("schemas/soap-envelope-1.1.xsd").display(),
        types.display(),
        faults.display()
    );
    for (ns, path) in extra {
        imports.push_str(&format!(
            r#"<xs:import namespace="{ns}" schemaLocation="{}"/>"#,
            path.display()
        ));
    }
    let xsd = format!(
        r#"<?xml version="1.0"?><xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema">{imports}</xs:schema>"#
    );
    let path = dir.join(format!("envelope-{v}.xsd"));
    std::fs::write(&path, xsd).unwrap();
    path
}

/// A complete, valid request message for `kind` about `subject`.
pub fn request_json(kind: Kind, subject: Value) -> Value {
    let mut v = json!({
        "request_id": uuid::Uuid::new_v4().to_string(),
        "case_id": "LO-2026-000123",
        "kind": kind.as_str(),
        "subject": subject,
        "test": true,
        "details": {
            "requesting_body": {"name": "Комитет по труду и занятости населения Ленинградской области", "inn": "4704987655", "ogrn": "1154704007776"},
            "service": {"name": "Оценка качества оказания общественно полезных услуг СО НКО", "registry_number": "4700000010000012345"},
            "legal_basis": {"act": "Федеральный закон от 12.01.1996 № 7-ФЗ «О некоммерческих организациях»", "article": "ст. 31.4"},
            "official": {"name": "Иванова Мария Петровна", "position": "главный специалист", "phone": "+7 (812) 539-41-54"},
            "applicant_consent": true
        }
    });
    if kind == Kind::TaxDebt {
        v["as_of"] = json!("2026-11-20");
    }
    v
}

/// The subject JSON for an identifier of `kind`.
pub fn subject_for(kind: Kind, id: &str) -> Value {
    let key = match (kind, id.len()) {
        (_, 15) => "ogrnip",
        (Kind::ForeignAgent, 11) => "snils",
        (_, 13) => "ogrn",
        _ => "inn",
    };
    json!({ key: id })
}

/// The request a fixture subject's verdict holds for: by `id`, with the
/// subject's `as_of` and `name` when the data give them.
pub fn fixture_request(s: &mezhved::emulator::FixtureSubject, id: &str) -> LookupRequest {
    let mut v = request_json(s.kind, subject_for(s.kind, id));
    if let Some(d) = &s.as_of {
        v["as_of"] = json!(d);
    }
    if let Some(n) = &s.name {
        v["subject"]["name"] = json!(n);
    }
    mezhved::request::parse_request(v.to_string().as_bytes(), mezhved::clock::moscow_today())
        .unwrap()
}

pub fn lookup_request(kind: Kind, id: &str) -> LookupRequest {
    let body = request_json(kind, subject_for(kind, id)).to_string();
    mezhved::request::parse_request(body.as_bytes(), mezhved::clock::moscow_today()).unwrap()
}

pub mod daemon;
pub mod harness;
pub mod hostile;
pub mod tmpfs;

/// Verifies the first `ds:Signature` of `xml` with tools outside mezhved:
/// `xmllint --exc-c14n` canonicalises `SignedInfo`, `openssl dgst` checks
/// the signature with the public key of the embedded certificate, and
/// recomputes the digest of `transformed` (the referenced element after the
/// SMEV transform). GOST needs the engine (loaded through OPENSSL_CONF).
pub fn verify_with_openssl(xml: &[u8], transformed: &[u8]) {
    verify_nth_with_openssl(xml, 0, transformed)
}

/// As [`verify_with_openssl`], for the `nth` signature in document order.
pub fn verify_nth_with_openssl(xml: &[u8], nth: usize, transformed: &[u8]) {
    use base64::Engine as _;
    let doc = mezhved::xml::parse(xml).unwrap();
    let signature = doc
        .descendants(doc.root())
        .into_iter()
        .filter(|id| doc.element(*id).local == "Signature")
        .nth(nth)
        .unwrap_or_else(|| panic!("no signature #{nth}"));
    let find = |local: &str| {
        doc.descendants(signature)
            .into_iter()
            .find(|id| doc.element(*id).local == local)
            .unwrap_or_else(|| panic!("no {local}"))
    };
    let b64 = base64::engine::general_purpose::STANDARD;
    let text = |local: &str| {
        doc.text(find(local))
            .chars()
            .filter(|c| !c.is_whitespace())
            .collect::<String>()
    };
    let method = doc
        .element(find("SignatureMethod"))
        .attr("Algorithm")
        .unwrap()
        .to_owned();
    let md = match method.rsplit(['#', ':']).next().unwrap() {
        "gostr34102012-gostr34112012-256" => "-md_gost12_256",
        "gostr34102012-gostr34112012-512" => "-md_gost12_512",
        "rsa-sha256" | "ecdsa-sha256" => "-sha256",
        other => panic!("no openssl digest for {other}"),
    };
    let dir = tempfile::tempdir().unwrap();
    let p = |n: &str| dir.path().join(n);
    let conf = p("gost.cnf");
    std::fs::write(
        &conf,
        "openssl_conf = openssl_init\n[openssl_init]\nengines = engine_section\n[engine_section]\ngost = gost_section\n[gost_section]\nengine_id = gost\ndefault_algorithms = ALL\n",
    )
    .unwrap();
    let openssl = |args: &[&str]| {
        let out = Command::new("openssl")
            .env("OPENSSL_CONF", &conf)
            .args(args)
            .output()
            .unwrap();
        (
            out.status.success(),
            out.stdout,
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };

    // SignedInfo, canonicalised by xmllint.
    let si = mezhved::xml::element_to_string(&doc, find("SignedInfo")).replacen(
        "<ds:SignedInfo",
        "<ds:SignedInfo xmlns:ds=\"http://www.w3.org/2000/09/xmldsig#\"",
        1,
    );
    std::fs::write(p("si.xml"), si).unwrap();
    let c14n = Command::new("xmllint")
        .arg("--exc-c14n")
        .arg(p("si.xml"))
        .output()
        .unwrap();
    assert!(c14n.status.success(), "xmllint --exc-c14n failed");
    std::fs::write(p("si.c14n"), &c14n.stdout).unwrap();

    // The certificate's public key, by openssl.
    let cert = format!(
        "-----BEGIN CERTIFICATE-----\n{}\n-----END CERTIFICATE-----\n",
        text("X509Certificate")
    );
    std::fs::write(p("cert.pem"), cert).unwrap();
    let (ok, pubkey, err) = openssl(&[
        "x509",
        "-in",
        p("cert.pem").to_str().unwrap(),
        "-pubkey",
        "-noout",
    ]);
    assert!(ok, "openssl x509: {err}");
    std::fs::write(p("pub.pem"), pubkey).unwrap();

    let mut sig = b64.decode(text("SignatureValue")).unwrap();
    if md == "-sha256" && method.contains("ecdsa") {
        // XMLDSig carries r||s; openssl wants DER.
        let r = openssl::bn::BigNum::from_slice(&sig[..32]).unwrap();
        let s = openssl::bn::BigNum::from_slice(&sig[32..]).unwrap();
        sig = openssl::ecdsa::EcdsaSig::from_private_components(r, s)
            .unwrap()
            .to_der()
            .unwrap();
    }
    std::fs::write(p("sig.bin"), sig).unwrap();
    let (ok, out, err) = openssl(&[
        "dgst",
        md,
        "-verify",
        p("pub.pem").to_str().unwrap(),
        "-signature",
        p("sig.bin").to_str().unwrap(),
        p("si.c14n").to_str().unwrap(),
    ]);
    assert!(
        ok,
        "openssl dgst -verify: {}{err}",
        String::from_utf8_lossy(&out)
    );

    std::fs::write(p("ref.bin"), transformed).unwrap();
    let (ok, digest, err) = openssl(&["dgst", md, "-binary", p("ref.bin").to_str().unwrap()]);
    assert!(ok, "openssl dgst: {err}");
    assert_eq!(
        b64.encode(digest),
        text("DigestValue"),
        "DigestValue differs from openssl's digest"
    );
}
