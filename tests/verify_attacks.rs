//! Verification of SMEV answers under attack: wrapping (the signed element
//! moved, duplicated, re-parented), tampering, algorithm games, expired and
//! untrusted certificates. Every attack is refused, with a reason an operator
//! can read.

mod common;

use common::*;
use mezhved::request::Kind;
use mezhved::smev::{self, Metadata, ResponseBody, Version};
use mezhved::xml::{self, Document, NodeId};
use mezhved::xmldsig::{
    self, ReferenceTransforms, SignatureAlgorithm, SigningKey, TrustStore, VerifyError,
    VerifyPolicy,
};

const SMEV_NS: &str = "urn://x-artefacts-smev-gov-ru/services/message-exchange/types/1.3";
const SOAP: &str = "http://schemas.xmlsoap.org/soap/envelope/";

/// A signed `GetResponseResponse` carrying a tax-debt answer "no debt".
fn signed_answer(key: &SigningKey) -> Vec<u8> {
    let req = lookup_request(Kind::TaxDebt, "4703123451");
    let registry = mezhved::lookup::Registry::new(&Default::default());
    let fixtures = mezhved::emulator::Fixtures::load(&root().join("fixtures"), &registry).unwrap();
    let query = mezhved::lookup::ProviderQuery {
        doc_id: req.request_id.to_string(),
        identifiers: vec!["4703123451".into()],
    };
    let mezhved::emulator::ProviderAnswer::Business(business) = fixtures
        .answer(&registry, Kind::TaxDebt, &query, &Default::default())
        .unwrap()
    else {
        panic!("a business answer")
    };
    let now = mezhved::clock::now();
    let meta = Metadata {
        message_id: smev::new_message_id().to_string(),
        message_type: "RESPONSE",
        sender: ("FNS".into(), "ФНС России".into()),
        recipient: None,
        sending_timestamp: now,
        delivery_timestamp: Some(now),
        status: None,
    };
    let original = smev::new_message_id().to_string();
    let (mut doc, resp, container) = smev::get_response_response(
        Version::V1_3,
        &original,
        "to",
        &smev::new_message_id().to_string(),
        &ResponseBody::Primary(business),
        &meta,
    );
    xmldsig::sign_element(&mut doc, resp, container, key, ReferenceTransforms::Smev).unwrap();
    xml::to_bytes(&doc)
}

fn policy(trust: &TrustStore) -> VerifyPolicy<'_> {
    VerifyPolicy {
        trust: Some(trust),
        at: mezhved::clock::now(),
        allow_exc_c14n_only: false,
    }
}

/// Parses an answer as the gateway does and verifies SMEV's signature over
/// the element the gateway would then read.
fn check(bytes: &[u8], policy: &VerifyPolicy<'_>) -> Result<xmldsig::Verified, VerifyError> {
    let doc = xml::parse(bytes).expect("well-formed");
    let resp = smev::parse_get_response_response(&doc).unwrap().unwrap();
    xmldsig::verify(
        &doc,
        resp.smev_signature.expect("a signature"),
        resp.response,
        policy,
    )
}

fn setup() -> (SigningKey, TrustStore, Vec<u8>) {
    let key = SigningKey::generate(SignatureAlgorithm::Gost2012_256, "SMEV", 30).unwrap();
    let trust = TrustStore::default().with_certificate(key.certificate().to_owned());
    let bytes = signed_answer(&key);
    (key, trust, bytes)
}

fn find(doc: &Document, local: &str) -> NodeId {
    doc.descendants(doc.root())
        .into_iter()
        .find(|id| doc.element(*id).local == local)
        .unwrap_or_else(|| panic!("no <{local}>"))
}

fn refused(result: Result<xmldsig::Verified, VerifyError>, says: &str) -> VerifyError {
    let err = result.expect_err("the attack must be refused");
    let text = err.to_string();
    assert!(
        text.contains(says),
        "expected the reason to say {says:?}, it says {text:?}"
    );
    err
}

/// A copy of the `Response` with its content changed and no `Id`: what an
/// attacker wants the gateway to read.
fn forged_response(doc: &mut Document, original: NodeId, parent: NodeId) -> NodeId {
    let copy = doc.clone();
    let forged = doc.append_subtree(parent, &copy, original);
    doc.element_mut(forged).attrs.retain(|a| a.local != "Id");
    let flag = doc
        .descendants(forged)
        .into_iter()
        .find(|id| doc.element(*id).local == "СвЗадолж")
        .unwrap();
    for a in &mut doc.element_mut(flag).attrs {
        if a.local == "ПрЗадолж" {
            a.value = "1".into();
        }
    }
    forged
}

#[test]
fn a_genuine_answer_verifies() {
    let (_, trust, bytes) = setup();
    let v = check(&bytes, &policy(&trust)).unwrap();
    assert_eq!(v.algorithm, SignatureAlgorithm::Gost2012_256);
    assert!(v.trusted);
}

#[test]
fn a_duplicated_signed_element_is_refused() {
    let (_, trust, bytes) = setup();
    let mut doc = xml::parse(&bytes).unwrap();
    let resp = find(&doc, "Response");
    let header = doc.append_element(doc.root(), Some("soap"), "Header", Some(SOAP));
    // The SOAP Header goes before the Body.
    let root = doc.root();
    let kids = &mut doc.element_mut(root).children;
    kids.rotate_right(1);
    let copy = doc.clone();
    doc.append_subtree(header, &copy, resp);
    refused(
        check(&xml::to_bytes(&doc), &policy(&trust)),
        "2 elements carry",
    );
}

#[test]
fn a_signed_element_moved_away_behind_a_forgery_is_refused() {
    let (_, trust, bytes) = setup();
    let mut doc = xml::parse(&bytes).unwrap();
    let resp = find(&doc, "Response");
    let msg = doc.parent(resp).unwrap();
    // The genuine Response goes to a wrapper in the Header; a forged one
    // takes its place where the gateway reads.
    let header = doc.append_element(doc.root(), Some("soap"), "Header", Some(SOAP));
    let root = doc.root();
    doc.element_mut(root).children.rotate_right(1);
    let wrapper = doc.append_element(header, Some("x"), "Wrapper", Some("urn:attacker"));
    doc.reparent(resp, wrapper);
    let forged = forged_response(&mut doc, resp, msg);
    let kids = &mut doc.element_mut(msg).children;
    let pos = kids.iter().position(|c| *c == forged).unwrap();
    kids.remove(pos);
    kids.insert(0, forged);
    let err = refused(
        check(&xml::to_bytes(&doc), &policy(&trust)),
        "not the expected",
    );
    assert!(matches!(err, VerifyError::WrongTarget { .. }));
}

#[test]
fn a_signed_element_re_parented_under_its_forgery_is_refused() {
    let (_, trust, bytes) = setup();
    let mut doc = xml::parse(&bytes).unwrap();
    let resp = find(&doc, "Response");
    let msg = doc.parent(resp).unwrap();
    let forged = forged_response(&mut doc, resp, msg);
    // The genuine element now hides inside the forged one.
    doc.reparent(resp, forged);
    let kids = &mut doc.element_mut(msg).children;
    let pos = kids.iter().position(|c| *c == forged).unwrap();
    kids.remove(pos);
    kids.insert(0, forged);
    refused(
        check(&xml::to_bytes(&doc), &policy(&trust)),
        "possible signature wrapping",
    );
}

#[test]
fn a_forgery_that_steals_the_id_is_refused() {
    let (_, trust, bytes) = setup();
    // Same Id, changed content: the digest gives it away.
    let text = String::from_utf8(bytes)
        .unwrap()
        .replace("ПрЗадолж=\"2\"", "ПрЗадолж=\"1\"");
    refused(
        check(text.as_bytes(), &policy(&trust)),
        "the signed content was changed",
    );
}

#[test]
fn tampered_digest_or_signature_values_are_refused() {
    let (_, trust, bytes) = setup();
    let doc = xml::parse(&bytes).unwrap();
    let digest = doc.text(find(&doc, "DigestValue"));
    let mut flipped = digest.clone().into_bytes();
    flipped[3] = if flipped[3] == b'A' { b'B' } else { b'A' };
    let text = String::from_utf8(bytes.clone()).unwrap();
    let t1 = text.replace(&digest, std::str::from_utf8(&flipped).unwrap());
    refused(check(t1.as_bytes(), &policy(&trust)), "does not match");

    let sig = doc.text(find(&doc, "SignatureValue"));
    let mut flipped = sig.clone().into_bytes();
    flipped[5] = if flipped[5] == b'A' { b'B' } else { b'A' };
    let t2 = text.replace(&sig, std::str::from_utf8(&flipped).unwrap());
    refused(check(t2.as_bytes(), &policy(&trust)), "does not verify");
}

#[test]
fn foreign_transforms_and_algorithms_are_refused() {
    let (_, trust, bytes) = setup();
    let text = String::from_utf8(bytes).unwrap();
    let xpath = text.replace(
        "<ds:Transform Algorithm=\"http://www.w3.org/2001/10/xml-exc-c14n#\"/>",
        "<ds:Transform Algorithm=\"http://www.w3.org/TR/1999/REC-xpath-19991116\"/>",
    );
    refused(check(xpath.as_bytes(), &policy(&trust)), "is not allowed");
    let enveloped = text.replace(
        "<ds:Transform Algorithm=\"http://www.w3.org/2001/10/xml-exc-c14n#\"/>",
        "<ds:Transform Algorithm=\"http://www.w3.org/2000/09/xmldsig#enveloped-signature\"/>",
    );
    refused(
        check(enveloped.as_bytes(), &policy(&trust)),
        "is not allowed",
    );
    let sha1 = text.replace(
        "urn:ietf:params:xml:ns:cpxmlsec:algorithms:gostr34102012-gostr34112012-256",
        "http://www.w3.org/2000/09/xmldsig#rsa-sha1",
    );
    refused(check(sha1.as_bytes(), &policy(&trust)), "is not accepted");
    let swapped = text.replace(
        "urn:ietf:params:xml:ns:cpxmlsec:algorithms:gostr34102012-gostr34112012-256",
        "urn:ietf:params:xml:ns:cpxmlsec:algorithms:gostr34102012-gostr34112012-512",
    );
    refused(
        check(swapped.as_bytes(), &policy(&trust)),
        "does not match signature algorithm",
    );
    // Only the exc-c14n step, without the SMEV transform: not in SMEV's profile.
    let no_smev = text.replace(
        "<ds:Transform Algorithm=\"urn://smev-gov-ru/xmldsig/transform\"/>",
        "",
    );
    refused(check(no_smev.as_bytes(), &policy(&trust)), "is not allowed");
}

#[test]
fn a_second_reference_or_certificate_is_refused() {
    let (_, trust, bytes) = setup();
    let mut doc = xml::parse(&bytes).unwrap();
    let reference = find(&doc, "Reference");
    let si = doc.parent(reference).unwrap();
    let copy = doc.clone();
    doc.append_subtree(si, &copy, reference);
    refused(
        check(&xml::to_bytes(&doc), &policy(&trust)),
        "SignedInfo must hold one",
    );

    let mut doc = xml::parse(&bytes).unwrap();
    let cert = find(&doc, "X509Certificate");
    let data = doc.parent(cert).unwrap();
    let copy = doc.clone();
    doc.append_subtree(data, &copy, cert);
    refused(
        check(&xml::to_bytes(&doc), &policy(&trust)),
        "exactly one X509Data/X509Certificate",
    );
}

#[test]
fn a_certificate_whose_key_does_not_fit_the_algorithm_is_refused() {
    let (_, trust, bytes) = setup();
    let rsa = SigningKey::generate(SignatureAlgorithm::RsaSha256, "SMEV", 1).unwrap();
    let doc = xml::parse(&bytes).unwrap();
    let theirs = doc.text(find(&doc, "X509Certificate"));
    let text = String::from_utf8(bytes)
        .unwrap()
        .replace(&theirs, rsa.certificate_base64());
    refused(
        check(text.as_bytes(), &policy(&trust)),
        "the certificate's key is rsa-sha256",
    );
}

#[test]
fn expired_not_yet_valid_and_untrusted_certificates_are_refused() {
    let (_, trust, bytes) = setup();
    let later = VerifyPolicy {
        at: mezhved::clock::now() + time::Duration::days(365),
        ..policy(&trust)
    };
    refused(check(&bytes, &later), "expired on");
    let earlier = VerifyPolicy {
        at: mezhved::clock::now() - time::Duration::days(2),
        ..policy(&trust)
    };
    refused(check(&bytes, &earlier), "is not valid before");

    let stranger = SigningKey::generate(SignatureAlgorithm::Gost2012_256, "SMEV", 1).unwrap();
    let other = TrustStore::default().with_certificate(stranger.certificate().to_owned());
    refused(check(&bytes, &policy(&other)), "is not trusted");
}

#[test]
fn a_certificate_issued_by_the_environments_ca_is_trusted_and_another_cas_is_not() {
    let test_ca =
        SigningKey::generate_ca(SignatureAlgorithm::Gost2012_256, "Тестовый УЦ", 30).unwrap();
    let prod_ca =
        SigningKey::generate_ca(SignatureAlgorithm::Gost2012_256, "Промышленный УЦ", 30).unwrap();
    let smev = test_ca
        .issue(SignatureAlgorithm::Gost2012_256, "ТСМЭВ3", 10)
        .unwrap();
    let bytes = signed_answer(&smev);
    let test_env = TrustStore::default().with_certificate(test_ca.certificate().to_owned());
    let prod_env = TrustStore::default().with_certificate(prod_ca.certificate().to_owned());
    assert!(check(&bytes, &policy(&test_env)).is_ok());
    refused(
        check(&bytes, &policy(&prod_env)),
        "does not chain to a trusted CA",
    );
}

#[test]
fn comments_and_reformatting_inside_signed_info_do_not_break_a_genuine_signature() {
    let (_, trust, bytes) = setup();
    // Pretty-printing SignedInfo after signing: tolerated and reported.
    let text = String::from_utf8(bytes)
        .unwrap()
        .replace("<ds:SignatureMethod", "\n      <ds:SignatureMethod");
    let v = check(text.as_bytes(), &policy(&trust)).unwrap();
    assert!(v.reformatted_after_signing);
    // Comments are outside the canonical form.
    let with_comment = text.replace(
        "<ns2:OriginalMessageId>",
        "<!-- note --><ns2:OriginalMessageId>",
    );
    assert!(check(with_comment.as_bytes(), &policy(&trust)).is_ok());
    let _ = SMEV_NS;
}

/// The genuine, signed `ResponseMessage` moved into a SOAP Header, and an
/// unsigned forgery in the Body where every SMEV reader looks.
fn signed_copy_in_a_header(bytes: &[u8]) -> Vec<u8> {
    let mut doc = xml::parse(bytes).unwrap();
    let resp = find(&doc, "Response");
    let msg = doc.parent(resp).unwrap();
    let grr = doc.parent(msg).unwrap();
    let header = doc.append_element(doc.root(), Some("soap"), "Header", Some(SOAP));
    let root = doc.root();
    doc.element_mut(root).children.rotate_right(1);
    doc.reparent(msg, header);
    let forged_msg = doc.append_element(grr, Some("ns2"), "ResponseMessage", Some(SMEV_NS));
    forged_response(&mut doc, resp, forged_msg);
    xml::to_bytes(&doc)
}

#[test]
fn mezhved_verify_fails_when_the_answer_read_is_not_the_one_signed() {
    let (key, trust, bytes) = setup();
    let attack = signed_copy_in_a_header(&bytes);
    // The gateway reads the Body's answer, which carries no signature.
    let doc = xml::parse(&attack).unwrap();
    let resp = smev::parse_get_response_response(&doc).unwrap().unwrap();
    assert!(
        resp.smev_signature.is_none(),
        "the gateway finds no signature over what it reads"
    );
    let _ = trust;

    let dir = tempfile::tempdir().unwrap();
    let cert = dir.path().join("smev.pem");
    std::fs::write(&cert, key.certificate().to_pem().unwrap()).unwrap();
    let run = |file: &str, data: &[u8], json: bool| {
        let path = dir.path().join(file);
        std::fs::write(&path, data).unwrap();
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_mezhved"));
        cmd.arg("verify").arg(&path).arg("--trust").arg(&cert);
        if json {
            cmd.arg("--json");
        }
        cmd.output().unwrap()
    };
    // The genuine answer: every signature OK, and it covers what is read.
    let ok = run("genuine.xml", &bytes, false);
    let text = String::from_utf8_lossy(&ok.stdout);
    assert!(ok.status.success(), "{text}");
    assert!(text.contains("read     yes"), "{text}");

    let bad = run("attack.xml", &attack, false);
    let text = String::from_utf8_lossy(&bad.stdout);
    assert!(!bad.status.success(), "verify must fail:\n{text}");
    assert!(
        text.contains("no SMEV reader takes this element"),
        "the Header copy's signature is shown for what it is:\n{text}"
    );
    assert!(
        text.contains("a SMEV reader takes the answer at /Envelope/Body/GetResponseResponse/ResponseMessage/Response, and it carries no signature"),
        "{text}"
    );
    let json = run("attack.xml", &attack, true);
    let reports: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    let reports = reports.as_array().unwrap();
    assert!(
        reports
            .iter()
            .any(|r| r["ok"] == true && r["read_by_smev"] == false)
    );
    assert!(
        reports
            .iter()
            .any(|r| r["ok"] == false && r["read_by_smev"] == true && r["signature"] == "(none)")
    );
}
