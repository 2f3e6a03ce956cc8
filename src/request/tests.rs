use serde_json::{Value, json};
use time::macros::date;

use super::*;

const TODAY: Date = date!(2026 - 11 - 23);

fn valid() -> Value {
    json!({
        "request_id": "0b0e8a3e-7c1d-4f6a-9d61-6f1a3c2b9e01",
        "case_id": "LO-2026-000123",
        "kind": "egrul",
        "subject": {"ogrn": "1144703001233"},
        "test": true,
        "details": {
            "requesting_body": {"name": "Комитет по труду и занятости населения Ленинградской области", "inn": "4704987655", "ogrn": "1154704007776"},
            "service": {"name": "Оценка качества оказания общественно полезных услуг СО НКО", "registry_number": "4700000010000012345"},
            "legal_basis": {"act": "Федеральный закон от 12.01.1996 № 7-ФЗ «О некоммерческих организациях»", "article": "ст. 31.4"},
            "official": {"name": "Иванова Мария Петровна", "position": "главный специалист", "phone": "+7 (812) 539-41-54"},
            "applicant_consent": true
        }
    })
}

fn parse(v: &Value) -> Result<LookupRequest, Invalid> {
    parse_request(v.to_string().as_bytes(), TODAY)
}

fn refusal(v: &Value) -> (InvalidCode, String) {
    let e = parse(v).unwrap_err();
    (e.code, e.field)
}

#[test]
fn accepts_a_complete_request() {
    let r = parse(&valid()).unwrap();
    assert_eq!(r.kind, Kind::Egrul);
    assert_eq!(
        r.subject.id,
        SubjectId::Ogrn(Ogrn::parse("1144703001233").unwrap())
    );
    assert!(r.test);
    assert_eq!(r.details.official.email, None);
}

#[test]
fn names_the_field_of_each_refusal() {
    let mut v = valid();
    v["subject"] = json!({"ogrn": "1144703001234"});
    assert_eq!(
        refusal(&v),
        (InvalidCode::InvalidCheckDigit, "subject.ogrn".into())
    );

    let mut v = valid();
    v["subject"] = json!({"inn": "470312345687"});
    assert_eq!(
        refusal(&v).1,
        "subject.inn",
        "a 12-digit ИНН is not an ЕГРЮЛ subject"
    );

    let mut v = valid();
    v["details"]["official"]
        .as_object_mut()
        .unwrap()
        .remove("phone");
    assert_eq!(
        refusal(&v),
        (InvalidCode::MissingField, "details.official".into())
    );

    let mut v = valid();
    v["details"].as_object_mut().unwrap().remove("legal_basis");
    assert_eq!(
        refusal(&v),
        (InvalidCode::MissingField, "details.legal_basis".into())
    );

    let mut v = valid();
    v["case_id"] = json!("../../etc");
    assert_eq!(refusal(&v), (InvalidCode::UnsafeCaseId, "case_id".into()));

    let mut v = valid();
    v["subjct"] = json!({});
    assert_eq!(refusal(&v), (InvalidCode::UnknownField, "subjct".into()));

    let mut v = valid();
    v["test"] = json!("yes");
    assert_eq!(refusal(&v), (InvalidCode::WrongType, "test".into()));

    let mut v = valid();
    v["request_id"] = json!("42");
    assert_eq!(
        refusal(&v),
        (InvalidCode::InvalidValue, "request_id".into())
    );

    let mut v = valid();
    v["as_of"] = json!("2026-11-01");
    assert_eq!(
        refusal(&v),
        (InvalidCode::InvalidValue, "as_of".into()),
        "as_of only for tax_debt"
    );
}

#[test]
fn tax_debt_needs_the_requesting_body_identifiers() {
    let mut v = valid();
    v["kind"] = json!("tax_debt");
    v["subject"] = json!({"inn": "4703123451"});
    v["as_of"] = json!("2026-11-20");
    assert!(parse(&v).is_ok());
    v["as_of"] = json!("2026-12-01");
    assert_eq!(refusal(&v).1, "as_of");
    v["as_of"] = json!("2026-11-20");
    v["details"]["requesting_body"]
        .as_object_mut()
        .unwrap()
        .remove("ogrn");
    assert_eq!(
        refusal(&v),
        (
            InvalidCode::MissingField,
            "details.requesting_body.ogrn".into()
        )
    );
}

#[test]
fn subjects_per_kind() {
    let mut v = valid();
    v["kind"] = json!("foreign_agent");
    v["subject"] = json!({"snils": "123-456-789 64"});
    assert!(matches!(parse(&v).unwrap().subject.id, SubjectId::Snils(_)));
    v["subject"] = json!({"snils": "12345678964", "inn": "4703123451"});
    assert_eq!(refusal(&v), (InvalidCode::InvalidValue, "subject".into()));
    v["kind"] = json!("unreliable_supplier");
    v["subject"] = json!({"inn": "470312345687", "kpp": "470301001"});
    assert_eq!(refusal(&v).1, "subject.kpp");
    v["subject"] = json!({"inn": "4703123451", "kpp": "470301001"});
    assert!(parse(&v).unwrap().subject.kpp.is_some());
}

#[test]
fn refuses_bodies_that_are_not_json_or_too_large() {
    assert_eq!(
        parse_request(b"{not json", TODAY).unwrap_err().code,
        InvalidCode::MalformedJson
    );
    assert_eq!(
        parse_request(b"[1]", TODAY).unwrap_err().code,
        InvalidCode::WrongType
    );
    let big = vec![b' '; MAX_BODY_BYTES + 1];
    assert_eq!(
        parse_request(&big, TODAY).unwrap_err().code,
        InvalidCode::TooLarge
    );
}

#[test]
fn stored_form_parses_back_to_the_same_request() {
    let mut v = valid();
    v["kind"] = json!("tax_debt");
    v["subject"] = json!({"inn": "4703123451"});
    v["as_of"] = json!("2026-11-20");
    let r = parse(&v).unwrap();
    let stored = serde_json::to_vec(&r).unwrap();
    assert!(String::from_utf8_lossy(&stored).contains(r#""as_of":"2026-11-20""#));
    assert_eq!(parse_request(&stored, TODAY).unwrap(), r);
}

fn vs_body(content: &str) -> Vec<u8> {
    json!({
        "request_id": "0b0e8a3e-7c1d-4f6a-9d61-6f1a3c2b9e01",
        "case_id": "LO-2026-000123",
        "kind": "vs",
        "vs": { "content": content, "eol": "2026-11-30T18:00:00+03:00", "node_id": "N1" }
    })
    .to_string()
    .into_bytes()
}

const NO_ATTACHMENTS: super::AttachmentLimits = super::AttachmentLimits {
    max_files: 0,
    max_base64_bytes: 0,
    max_file_bytes: 0,
};

const LIMITS: Limits = Limits {
    vs_max_content_bytes: 4096,
    attachments: NO_ATTACHMENTS,
};

#[test]
fn a_vs_request_is_read_with_its_namespace_and_envelope_fields() {
    let r = super::parse(
        &vs_body(r#"<r:Req xmlns:r="urn://x/1"><r:a>1</r:a></r:Req>"#),
        TODAY,
        &LIMITS,
    )
    .unwrap();
    let Request::Vs(v) = &r else { panic!("{r:?}") };
    assert_eq!(
        (v.vs.namespace.as_str(), v.vs.root.as_str()),
        ("urn://x/1", "Req")
    );
    assert_eq!(v.vs.node_id.as_deref(), Some("N1"));
    assert!(v.vs.eol.is_some());
    assert_eq!(r.kind(), Kind::Vs);
    // Stored and read back, it is the same request.
    let stored = serde_json::to_vec(&r).unwrap();
    assert_eq!(super::parse(&stored, TODAY, &Limits::STORED).unwrap(), r);
}

#[test]
fn vs_content_is_refused_when_it_is_unsafe_or_unsignable() {
    let refused = |content: &str| {
        super::parse(&vs_body(content), TODAY, &LIMITS)
            .unwrap_err()
            .message
    };
    assert!(refused("<a/>").contains("no namespace"));
    assert!(refused(r#"<r:a xmlns:r="urn://x"><b/></r:a>"#).contains("cannot be signed"));
    assert!(refused(r#"<!DOCTYPE a [<!ENTITY e "x">]><r:a xmlns:r="urn://x"/>"#).contains("DTD"));
    let big = format!(r#"<r:a xmlns:r="urn://x">{}</r:a>"#, "x".repeat(5000));
    let e = super::parse(&vs_body(&big), TODAY, &LIMITS).unwrap_err();
    assert_eq!(
        (e.code, e.field.as_str()),
        (InvalidCode::TooLarge, "vs.content")
    );
    // A lookup keeps its own 64 KiB bound whatever the vs limit.
    let mut lookup = valid();
    lookup["details"]["service"]["name"] = json!("x".repeat(70_000));
    let wide = Limits {
        vs_max_content_bytes: 1 << 20,
        attachments: NO_ATTACHMENTS,
    };
    assert_eq!(
        super::parse(lookup.to_string().as_bytes(), TODAY, &wide)
            .unwrap_err()
            .code,
        InvalidCode::TooLarge
    );
    // A personal signature needs an Id on the root to reference.
    let mut v: Value = serde_json::from_slice(&vs_body(r#"<r:a xmlns:r="urn://x"/>"#)).unwrap();
    v["vs"]["personal_signature"] = json!(true);
    let e = super::parse(v.to_string().as_bytes(), TODAY, &LIMITS).unwrap_err();
    assert!(e.message.contains("Id attribute"), "{e}");
}

#[test]
fn a_key_given_twice_is_refused_at_any_depth() {
    let text = valid().to_string();
    // Top level: the second subject would win in a last-wins reader.
    let top = text.replacen(
        "\"kind\":\"egrul\"",
        "\"kind\":\"egrul\",\"subject\":{\"inn\":\"4703123451\"}",
        1,
    );
    let e = parse_request(top.as_bytes(), TODAY).unwrap_err();
    assert_eq!(
        (e.code, e.field.as_str()),
        (InvalidCode::DuplicateKey, "subject")
    );
    assert!(e.message.contains("\"subject\""), "{}", e.message);
    // Nested, two levels down.
    let nested = text.replacen(
        "\"inn\":\"4704987655\"",
        "\"inn\":\"4704987655\",\"inn\":\"7707083893\"",
        1,
    );
    assert_ne!(nested, text);
    let e = parse_request(nested.as_bytes(), TODAY).unwrap_err();
    assert_eq!(
        (e.code, e.field.as_str()),
        (InvalidCode::DuplicateKey, "details.requesting_body.inn")
    );
    // Inside an array element too (an unknown field, but the duplicate is
    // what the reader sees first).
    let e = parse_request(br#"{"x":[{"a":1},{"b":1,"b":2}]}"#, TODAY).unwrap_err();
    assert_eq!(
        (e.code, e.field.as_str()),
        (InvalidCode::DuplicateKey, "x[1].b")
    );
    // The same name in different objects is fine.
    assert!(parse(&valid()).is_ok());
    // Trailing garbage is still malformed.
    let mut trailing = text.clone().into_bytes();
    trailing.extend_from_slice(b" {}");
    assert_eq!(
        parse_request(&trailing, TODAY).unwrap_err().code,
        InvalidCode::MalformedJson
    );
}

#[test]
fn unreliable_supplier_takes_as_of_not_in_the_future() {
    let mut v = valid();
    v["kind"] = json!("unreliable_supplier");
    v["subject"] = json!({"inn": "7812345675"});
    assert_eq!(
        parse(&v).unwrap().as_of,
        None,
        "default: today, decided at lookup"
    );
    v["as_of"] = json!("2026-11-20");
    assert_eq!(parse(&v).unwrap().as_of, Some(date!(2026 - 11 - 20)));
    v["as_of"] = json!("2026-11-24");
    let e = parse(&v).unwrap_err();
    assert_eq!(
        (e.code, e.field.as_str()),
        (InvalidCode::InvalidValue, "as_of")
    );
    assert!(e.message.contains("future"), "{}", e.message);
    v["as_of"] = json!("20.11.2026");
    assert_eq!(refusal(&v).1, "as_of");
    v["kind"] = json!("foreign_agent");
    v["as_of"] = json!("2026-11-20");
    assert_eq!(refusal(&v).1, "as_of");
}

#[test]
fn a_foreign_agent_subject_may_name_itself_but_needs_an_identifier() {
    let mut v = valid();
    v["kind"] = json!("foreign_agent");
    v["subject"] = json!({"inn": "7801234564", "name": "Фонд «Свободное слово»"});
    let r = parse(&v).unwrap();
    assert_eq!(r.subject.name.as_deref(), Some("Фонд «Свободное слово»"));
    v["subject"] = json!({"name": "Фонд «Свободное слово»"});
    assert_eq!(refusal(&v), (InvalidCode::MissingField, "subject".into()));
    v["kind"] = json!("egrul");
    v["subject"] = json!({"ogrn": "1144703001233", "name": "x"});
    assert_eq!(
        refusal(&v),
        (InvalidCode::UnknownField, "subject.name".into())
    );
}

#[test]
fn attachments_are_read_for_lookups_and_vs_and_survive_storing() {
    let limits = Limits {
        vs_max_content_bytes: 4096,
        attachments: super::AttachmentLimits {
            max_files: 5,
            max_base64_bytes: 1000,
            max_file_bytes: 1000,
        },
    };
    let mut lookup = valid();
    lookup["attachments"] = json!([
        {"name": "consent.pdf", "mime_type": "application/pdf", "content_base64": "JVBERi0xLjQK"},
        {"name": "scan.pdf", "mime_type": "application/pdf", "path": "LO-1/scan.pdf"}
    ]);
    let req = super::parse(lookup.to_string().as_bytes(), TODAY, &limits).unwrap();
    assert_eq!(req.attachments().len(), 2);
    // The stored form is read back to the same request.
    let stored = serde_json::to_vec_pretty(&req).unwrap();
    let again = super::parse(&stored, TODAY, &Limits::STORED).unwrap();
    assert_eq!(again, req);
    // Attachments count against the inline limit.
    lookup["attachments"][0]["content_base64"] = json!("QUFB".repeat(400));
    let e = super::parse(lookup.to_string().as_bytes(), TODAY, &limits).unwrap_err();
    assert_eq!(e.code, InvalidCode::TooLarge, "{e}");
    assert_eq!(e.field, "attachments[0].content_base64");
}
