//! `schemas/request.schema.json` says what mezhved accepts: every sample
//! request validates against it, except the ones meant to be refused for
//! what a schema can express; check digits are mezhved's to catch.

mod common;

use common::*;
use mezhved::request::{InvalidCode, parse_request};

fn schema() -> jsonschema::Validator {
    let s: serde_json::Value =
        serde_json::from_slice(&std::fs::read(root().join("schemas/request.schema.json")).unwrap())
            .unwrap();
    jsonschema::options()
        .should_validate_formats(true)
        .build(&s)
        .unwrap()
}

#[test]
fn the_schema_and_the_validator_agree_on_the_samples() {
    let v = schema();
    let today = time::macros::date!(2026 - 11 - 23);
    let mut seen = 0;
    for e in std::fs::read_dir(root().join("fixtures/requests")).unwrap() {
        let path = e.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        let body = std::fs::read(&path).unwrap();
        let parsed = parse_request(&body, today);
        let json: Option<serde_json::Value> = serde_json::from_slice(&body).ok();
        seen += 1;
        match name.as_str() {
            n if !n.contains("-invalid-") => {
                assert!(parsed.is_ok(), "{n}: {parsed:?}");
                let errors: Vec<String> = v
                    .iter_errors(json.as_ref().unwrap())
                    .map(|e| e.to_string())
                    .collect();
                assert!(errors.is_empty(), "{n}: {errors:?}");
            }
            "21-invalid-inn-check-digit.json" => {
                // Well-formed, but the check digit is wrong: only mezhved sees it.
                assert!(v.is_valid(json.as_ref().unwrap()));
                assert_eq!(parsed.unwrap_err().code, InvalidCode::InvalidCheckDigit);
            }
            "24-invalid-not-json.json" => {
                assert!(json.is_none());
                assert_eq!(parsed.unwrap_err().code, InvalidCode::MalformedJson);
            }
            n => {
                assert!(parsed.is_err(), "{n} should be refused");
                assert!(
                    !v.is_valid(json.as_ref().unwrap()),
                    "{n} should fail the schema too"
                );
            }
        }
    }
    assert!(seen >= 17);
}

#[test]
fn the_schema_refuses_what_mezhved_refuses_per_kind() {
    let v = schema();
    let ok = request_json(
        mezhved::request::Kind::Egrul,
        serde_json::json!({"inn": "4703123451"}),
    );
    assert!(v.is_valid(&ok));
    for (kind, subject) in [
        ("egrul", serde_json::json!({"inn": "470312345687"})),
        ("egrip", serde_json::json!({"ogrn": "1144703001233"})),
        (
            "tax_debt",
            serde_json::json!({"inn": "4703123451", "kpp": "470301001"}),
        ),
        (
            "foreign_agent",
            serde_json::json!({"inn": "4703123451", "snils": "15678912317"}),
        ),
        ("foreign_agent", serde_json::json!({"name": "Фонд"})),
        (
            "egrul",
            serde_json::json!({"inn": "4703123451", "name": "Фонд"}),
        ),
    ] {
        let mut m = ok.clone();
        m["kind"] = serde_json::json!(kind);
        m["subject"] = subject;
        assert!(!v.is_valid(&m), "{kind} {}", m["subject"]);
        let today = mezhved::clock::moscow_today();
        assert!(
            parse_request(m.to_string().as_bytes(), today).is_err(),
            "{kind}"
        );
    }
}

#[test]
fn the_schema_and_the_validator_agree_on_vs_requests() {
    let v = schema();
    let today = mezhved::clock::moscow_today();
    let limits = mezhved::request::Limits {
        vs_max_content_bytes: 1 << 20,
        attachments: mezhved::request::AttachmentLimits::STORED,
    };
    let sample: serde_json::Value = serde_json::from_slice(
        &std::fs::read(root().join("fixtures/vs/zags-birth/sample-request.json")).unwrap(),
    )
    .unwrap();
    assert!(v.is_valid(&sample));
    let parsed = mezhved::request::parse(sample.to_string().as_bytes(), today, &limits).unwrap();
    assert_eq!(parsed.kind(), mezhved::request::Kind::Vs);
    // The stored form reads back the same.
    let stored = serde_json::to_vec(&parsed).unwrap();
    assert_eq!(
        mezhved::request::parse(&stored, today, &limits).unwrap(),
        parsed
    );
    let mut with_subject = sample.clone();
    with_subject["subject"] = serde_json::json!({"inn": "4703123451"});
    let mut no_content = sample.clone();
    no_content["vs"] = serde_json::json!({"node_id": "N1"});
    let mut lookup_with_vs = request_json(
        mezhved::request::Kind::Egrul,
        serde_json::json!({"inn": "4703123451"}),
    );
    lookup_with_vs["vs"] = sample["vs"].clone();
    for (name, m) in [
        ("subject", with_subject),
        ("no content", no_content),
        ("lookup with vs", lookup_with_vs),
    ] {
        assert!(!v.is_valid(&m), "{name}: the schema refuses it");
        assert!(
            mezhved::request::parse(m.to_string().as_bytes(), today, &limits).is_err(),
            "{name}: mezhved refuses it"
        );
    }
}

#[test]
fn the_schema_takes_what_mezhved_takes_for_the_registers() {
    let v = schema();
    let today = mezhved::clock::moscow_today();
    let mut rnp = request_json(
        mezhved::request::Kind::UnreliableSupplier,
        serde_json::json!({"inn": "7812345675"}),
    );
    rnp["as_of"] = serde_json::json!("2026-11-20");
    let mut fa = request_json(
        mezhved::request::Kind::ForeignAgent,
        serde_json::json!({"inn": "7801234564", "name": "Фонд «Свободное слово»"}),
    );
    for m in [&rnp, &fa] {
        assert!(v.is_valid(m), "{m}");
        assert!(
            parse_request(m.to_string().as_bytes(), today).is_ok(),
            "{m}"
        );
    }
    fa["as_of"] = serde_json::json!("2026-11-20");
    assert!(!v.is_valid(&fa));
    assert!(parse_request(fa.to_string().as_bytes(), today).is_err());
}

#[test]
fn the_schema_and_the_validator_agree_on_attachments() {
    let v = schema();
    let today = mezhved::clock::moscow_today();
    let limits = mezhved::request::Limits::STORED;
    let mut ok = request_json(
        mezhved::request::Kind::Egrul,
        serde_json::json!({"inn": "4703123451"}),
    );
    ok["attachments"] = serde_json::json!([
        {"name": "consent.pdf", "mime_type": "application/pdf", "content_base64": "JVBERi0xLjQK"},
        {"name": "scan.pdf", "mime_type": "application/pdf", "path": "LO-2026-004219/scan.pdf"}
    ]);
    assert!(v.is_valid(&ok));
    assert!(mezhved::request::parse(ok.to_string().as_bytes(), today, &limits).is_ok());
    for (name, att) in [
        (
            "both",
            serde_json::json!({"name": "a.pdf", "mime_type": "application/pdf", "path": "a.pdf", "content_base64": "eA=="}),
        ),
        (
            "neither",
            serde_json::json!({"name": "a.pdf", "mime_type": "application/pdf"}),
        ),
        (
            "absolute",
            serde_json::json!({"name": "a.pdf", "mime_type": "application/pdf", "path": "/etc/passwd"}),
        ),
        (
            "bad type",
            serde_json::json!({"name": "a.pdf", "mime_type": "pdf", "path": "a.pdf"}),
        ),
        (
            "folder in name",
            serde_json::json!({"name": "x/a.pdf", "mime_type": "application/pdf", "path": "a.pdf"}),
        ),
        (
            "unknown field",
            serde_json::json!({"name": "a.pdf", "mime_type": "application/pdf", "path": "a.pdf", "size": 3}),
        ),
    ] {
        let mut m = ok.clone();
        m["attachments"] = serde_json::json!([att]);
        assert!(!v.is_valid(&m), "the schema takes {name}");
        assert!(
            mezhved::request::parse(m.to_string().as_bytes(), today, &limits).is_err(),
            "the validator takes {name}"
        );
    }
}
