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

pub fn lookup_request(kind: Kind, id: &str) -> LookupRequest {
    let body = request_json(kind, subject_for(kind, id)).to_string();
    mezhved::request::parse_request(body.as_bytes(), mezhved::clock::moscow_today()).unwrap()
}

pub mod harness;
