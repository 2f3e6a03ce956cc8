//! Signed SMEV envelopes: schema-valid against the official SMEV and ФНС
//! XSDs, and their signatures verify with independent tools (xmlsec1 for
//! RSA, `openssl dgst` for GOST) and with mezhved's own verifier.

mod common;

use std::process::Command;

use common::*;
use mezhved::request::Kind;
use mezhved::smev::{self, Version};
use mezhved::xml;
use mezhved::xmldsig::{
    self, ReferenceTransforms, SignatureAlgorithm, SigningKey, TrustStore, VerifyPolicy,
};

fn signed_envelope(version: Version, key: &SigningKey, transforms: ReferenceTransforms) -> Vec<u8> {
    let req = lookup_request(Kind::Egrul, "1144703001233");
    let registry = mezhved::lookup::Registry::new(&Default::default());
    let business = registry
        .get(Kind::Egrul)
        .build_request(&req, &req.request_id.to_string());
    let id = smev::new_message_id();
    let env = smev::send_request(version, &id, &business, true, None, false);
    let mut doc = env.doc;
    xmldsig::sign_element(
        &mut doc,
        env.sender_provided,
        env.caller_signature,
        key,
        transforms,
    )
    .unwrap();
    xml::to_bytes(&doc)
}

fn egrul_ns() -> (&'static str, std::path::PathBuf) {
    (
        "urn://x-artefacts-fns-vipul-tosmv-ru/311-14/4.0.6",
        business_schema(Kind::Egrul),
    )
}

#[test]
fn signed_send_request_validates_against_smev_1_1_and_1_3() {
    let key = SigningKey::generate(SignatureAlgorithm::RsaSha256, "test", 1).unwrap();
    let dir = tempfile::tempdir().unwrap();
    for (version, v) in [(Version::V1_1, "1.1"), (Version::V1_3, "1.3")] {
        let bytes = signed_envelope(version, &key, ReferenceTransforms::Smev);
        let schema = envelope_schema(dir.path(), v, &[egrul_ns()]);
        xmllint_validate(&bytes, &schema);
        // MessageID is a lower-case UUID v1, TestMessage is the last element.
        let text = String::from_utf8(bytes.clone()).unwrap();
        let mid = text
            .split("MessageID>")
            .nth(1)
            .unwrap()
            .split('<')
            .next()
            .unwrap();
        let parsed = uuid::Uuid::parse_str(mid).unwrap();
        assert_eq!(parsed.get_version_num(), 1);
        assert_eq!(mid, mid.to_lowercase());
        assert!(
            text.contains("<smev:TestMessage/></smev:SenderProvidedRequestData>"),
            "{text}"
        );
    }
}

#[test]
fn schema_validation_catches_a_broken_envelope() {
    let key = SigningKey::generate(SignatureAlgorithm::RsaSha256, "test", 1).unwrap();
    let bytes = signed_envelope(Version::V1_3, &key, ReferenceTransforms::Smev);
    let broken = String::from_utf8(bytes)
        .unwrap()
        .replace("<ul:ОГРН>1144703001233", "<ul:ОГРН>11447030012");
    let dir = tempfile::tempdir().unwrap();
    let schema = envelope_schema(dir.path(), "1.3", &[egrul_ns()]);
    let file = dir.path().join("broken.xml");
    std::fs::write(&file, broken).unwrap();
    let status = Command::new("xmllint")
        .args(["--noout", "--schema"])
        .arg(&schema)
        .arg(&file)
        .output()
        .unwrap()
        .status;
    assert!(!status.success(), "a 11-digit ОГРН must not validate");
}

#[test]
fn rsa_signature_verifies_with_xmlsec1() {
    let key = SigningKey::generate(SignatureAlgorithm::RsaSha256, "test", 1).unwrap();
    let bytes = signed_envelope(Version::V1_3, &key, ReferenceTransforms::ExcC14nOnly);
    let dir = tempfile::tempdir().unwrap();
    let (doc, cert) = (dir.path().join("env.xml"), dir.path().join("cert.pem"));
    std::fs::write(&doc, &bytes).unwrap();
    std::fs::write(&cert, key.certificate().to_pem().unwrap()).unwrap();
    let run = |file: &std::path::Path| {
        Command::new("xmlsec1")
            .args(["--verify", "--pubkey-cert-pem"])
            .arg(&cert)
            .args([
                "--id-attr:Id",
                "urn://x-artefacts-smev-gov-ru/services/message-exchange/types/1.3:SenderProvidedRequestData",
            ])
            .arg(file)
            .output()
            .expect("xmlsec1 is installed (Debian xmlsec1)")
    };
    let out = run(&doc);
    assert!(
        out.status.success(),
        "xmlsec1: {}",
        String::from_utf8_lossy(&out.stderr)
    );

    let tampered = dir.path().join("tampered.xml");
    std::fs::write(
        &tampered,
        String::from_utf8(bytes)
            .unwrap()
            .replace("1144703001233", "1027700132195"),
    )
    .unwrap();
    assert!(
        !run(&tampered).status.success(),
        "xmlsec1 accepted a tampered envelope"
    );
}

#[test]
fn gost_2012_signature_verifies_with_openssl_dgst() {
    assert!(
        xmldsig::gost::available(),
        "{}",
        xmldsig::gost::INSTALL_HINT
    );
    for alg in [
        SignatureAlgorithm::Gost2012_256,
        SignatureAlgorithm::Gost2012_512,
        SignatureAlgorithm::EcdsaSha256,
    ] {
        let key = SigningKey::generate(alg, "test", 1).unwrap();
        let bytes = signed_envelope(Version::V1_3, &key, ReferenceTransforms::Smev);
        let doc = xml::parse(&bytes).unwrap();
        let sprd = smev::parse_send_request(&doc).unwrap().sender_provided;
        let transformed = xmldsig::transform::transform(&doc, sprd).unwrap();
        verify_with_openssl(&bytes, &transformed);
    }
}

#[test]
#[should_panic(expected = "openssl dgst -verify")]
fn openssl_refuses_a_tampered_signed_info() {
    let key = SigningKey::generate(SignatureAlgorithm::Gost2012_256, "test", 1).unwrap();
    let bytes = signed_envelope(Version::V1_3, &key, ReferenceTransforms::Smev);
    let doc = xml::parse(&bytes).unwrap();
    let sprd = smev::parse_send_request(&doc).unwrap().sender_provided;
    let transformed = xmldsig::transform::transform(&doc, sprd).unwrap();
    let text = String::from_utf8(bytes).unwrap();
    let tampered = text.replace("#SIGNED_BY_CONSUMER", "#SIGNED_BY_CONSUMEr");
    verify_with_openssl(tampered.as_bytes(), &transformed);
}

#[test]
fn mezhved_verifies_its_own_signature_after_a_round_trip() {
    for alg in [
        SignatureAlgorithm::Gost2012_256,
        SignatureAlgorithm::Gost2012_512,
        SignatureAlgorithm::EcdsaSha256,
    ] {
        let key = SigningKey::generate(alg, "test", 1).unwrap();
        let bytes = signed_envelope(Version::V1_1, &key, ReferenceTransforms::Smev);
        let doc = xml::parse(&bytes).unwrap();
        let req = smev::parse_send_request(&doc).unwrap();
        let trust = TrustStore::default().with_certificate(key.certificate().to_owned());
        let policy = VerifyPolicy {
            trust: Some(&trust),
            at: mezhved::clock::now(),
            allow_exc_c14n_only: false,
        };
        let v =
            xmldsig::verify(&doc, req.signature.unwrap(), req.sender_provided, &policy).unwrap();
        assert_eq!(v.algorithm, alg);
        assert!(!v.reformatted_after_signing);
    }
}

#[test]
fn a_personal_signature_is_made_first_and_both_verify() {
    let is_key =
        SigningKey::generate(SignatureAlgorithm::Gost2012_256, "information system", 1).unwrap();
    let official =
        SigningKey::generate(SignatureAlgorithm::Gost2012_256, "Иванова М. П.", 1).unwrap();
    let mut msg = request_json(
        Kind::UnreliableSupplier,
        serde_json::json!({"inn": "7812345675"}),
    );
    msg["personal_signature"] = serde_json::json!(true);
    let req =
        mezhved::request::parse_request(msg.to_string().as_bytes(), mezhved::clock::moscow_today())
            .unwrap();
    let registry = mezhved::lookup::Registry::new(&Default::default());
    let business = registry
        .get(req.kind)
        .build_request(&req, &req.request_id.to_string());
    let env = smev::send_request(
        Version::V1_3,
        &smev::new_message_id(),
        &business,
        false,
        None,
        true,
    );
    let doc = env.sign(&is_key, Some(&official)).unwrap();
    let bytes = xml::to_bytes(&doc);

    // Valid against SMEV 1.3 and mezhved's РНП schema (which allows the Id).
    let dir = tempfile::tempdir().unwrap();
    let schema = envelope_schema(
        dir.path(),
        "1.3",
        &[(
            "urn://mezhved/vs/unreliable-supplier/1.0",
            business_schema(Kind::UnreliableSupplier),
        )],
    );
    xmllint_validate(&bytes, &schema);

    let doc = xml::parse(&bytes).unwrap();
    let parsed = smev::parse_send_request(&doc).unwrap();
    let policy = VerifyPolicy {
        trust: None,
        at: mezhved::clock::now(),
        allow_exc_c14n_only: false,
    };
    let personal = xmldsig::verify(
        &doc,
        parsed.personal_signature.unwrap(),
        parsed.primary,
        &policy,
    )
    .unwrap();
    assert!(personal.subject.contains("Иванова"), "{}", personal.subject);
    let outer = xmldsig::verify(
        &doc,
        parsed.signature.unwrap(),
        parsed.sender_provided,
        &policy,
    )
    .unwrap();
    assert!(outer.subject.contains("information system"));
    // Independent check of both with openssl.
    verify_nth_with_openssl(
        &bytes,
        0,
        &xmldsig::transform::transform(&doc, parsed.primary).unwrap(),
    );
    verify_nth_with_openssl(
        &bytes,
        1,
        &xmldsig::transform::transform(&doc, parsed.sender_provided).unwrap(),
    );
}

#[test]
fn a_personal_signature_is_refused_for_vs_without_an_id() {
    let mut msg = request_json(Kind::Egrul, serde_json::json!({"inn": "4703123451"}));
    msg["personal_signature"] = serde_json::json!(true);
    let err =
        mezhved::request::parse_request(msg.to_string().as_bytes(), mezhved::clock::moscow_today())
            .unwrap_err();
    assert_eq!(err.field, "personal_signature");
    assert!(err.message.contains("ЭП-СП"), "{}", err.message);
}

#[test]
fn signed_get_response_and_ack_are_schema_valid_and_verify() {
    let key = SigningKey::generate(SignatureAlgorithm::Gost2012_256, "test", 1).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let policy = VerifyPolicy {
        trust: None,
        at: mezhved::clock::now(),
        allow_exc_c14n_only: false,
    };
    for (version, v) in [(Version::V1_1, "1.1"), (Version::V1_3, "1.3")] {
        let schema = envelope_schema(dir.path(), v, &[]);
        let selector = Some((
            "urn://x-artefacts-fns-vipul-tosmv-ru/311-14/4.0.6",
            "FNSVipULResponse",
        ));
        let (mut doc, sel, c) =
            smev::get_response_request(version, mezhved::clock::now(), selector);
        xmldsig::sign_element(&mut doc, sel, c, &key, ReferenceTransforms::Smev).unwrap();
        let bytes = xml::to_bytes(&doc);
        xmllint_validate(&bytes, &schema);
        let doc = xml::parse(&bytes).unwrap();
        let req = smev::parse_get_response_request(&doc).unwrap();
        xmldsig::verify(&doc, req.signature.unwrap(), req.selector, &policy).unwrap();
        assert_eq!(req.filter.unwrap().1, "FNSVipULResponse");

        let (mut doc, target, c) =
            smev::ack_request(version, &smev::new_message_id().to_string(), true);
        xmldsig::sign_element(&mut doc, target, c, &key, ReferenceTransforms::Smev).unwrap();
        let bytes = xml::to_bytes(&doc);
        xmllint_validate(&bytes, &schema);
        let doc = xml::parse(&bytes).unwrap();
        let ack = smev::parse_ack_request(&doc).unwrap();
        xmldsig::verify(&doc, ack.signature.unwrap(), ack.target, &policy).unwrap();
        assert!(ack.accepted);
    }
}

#[test]
fn content_the_transform_cannot_represent_is_never_signed() {
    let key = SigningKey::generate(SignatureAlgorithm::EcdsaSha256, "test", 1).unwrap();
    for (xml_text, says) in [
        (
            "<a:r xmlns:a=\"urn:a\" Id=\"x\"><plain/></a:r>",
            "in no namespace",
        ),
        (
            "<a:r xmlns:a=\"urn:a\" Id=\"x\" xml:lang=\"ru\"/>",
            "xml:lang",
        ),
    ] {
        let mut doc = xml::parse(xml_text.as_bytes()).unwrap();
        let root = doc.root();
        let err = xmldsig::sign_element(&mut doc, root, root, &key, ReferenceTransforms::Smev)
            .unwrap_err();
        assert!(err.to_string().contains(says), "{err}");
        assert!(
            doc.child(root, xmldsig::DS_NS, "Signature").is_none(),
            "nothing was added"
        );
    }
}
