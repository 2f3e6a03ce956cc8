//! The public SMEV vectors in `../shared/vectors`: the four transform cases
//! of the methodological recommendations and two signed messages (GOST
//! R 34.10-2001 and a real GOST R 34.10-2012 answer of the SMEV test
//! environment).

use std::path::PathBuf;

use base64::Engine as _;
use mezhved::xml::{self, Document, NodeId};
use mezhved::xmldsig::{self, DigestAlgorithm, TrustStore, VerifyPolicy};
use time::macros::datetime;

fn vector(rel: &str) -> Vec<u8> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/vectors")
        .join(rel);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn require_gost() {
    assert!(
        xmldsig::gost::available(),
        "the GOST engine is missing: {}",
        xmldsig::gost::INSTALL_HINT
    );
}

fn find(doc: &Document, local: &str) -> NodeId {
    doc.descendants(doc.root())
        .into_iter()
        .find(|id| doc.element(*id).local == local)
        .unwrap_or_else(|| panic!("no <{local}>"))
}

#[test]
fn transform_reproduces_the_four_official_cases() {
    for case in 1..=4 {
        let input = vector(&format!("smev-transform/case{case}.in.xml"));
        let expected = vector(&format!("smev-transform/case{case}.expected.xml"));
        let doc = xml::parse(&input).unwrap();
        let out = xmldsig::transform::transform(&doc, doc.root()).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            String::from_utf8(expected).unwrap(),
            "case {case}"
        );
    }
}

#[test]
fn transform_of_c14n_output_equals_transform_of_tree() {
    // The signature pipeline is exc-c14n then the transform; mezhved
    // transforms the tree directly. Both must give the same bytes.
    for rel in [
        "signed-2001/sendrequest-envelope.xml",
        "signed-2012/getresponse-response.xml",
    ] {
        let doc = xml::parse(&vector(rel)).unwrap();
        for id in doc.descendants(doc.root()) {
            if doc.element(id).ns.is_none() {
                continue;
            }
            let direct = xmldsig::transform::transform(&doc, id).unwrap();
            let c14n = xmldsig::c14n::canonicalize(&doc, id);
            let reparsed = xml::parse(&c14n).unwrap();
            let via_c14n = xmldsig::transform::transform(&reparsed, reparsed.root()).unwrap();
            assert_eq!(direct, via_c14n, "{rel}: {}", doc.element(id));
        }
    }
}

#[test]
fn golden_2001_sendrequest_digest_and_signature() {
    require_gost();
    let doc = xml::parse(&vector("signed-2001/sendrequest-envelope.xml")).unwrap();
    let target = find(&doc, "SenderProvidedRequestData");
    let octets = xmldsig::transform::transform(&doc, target).unwrap();
    assert!(octets.starts_with(
        b"<ns1:SenderProvidedRequestData xmlns:ns1=\"urn://x-artefacts-smev-gov-ru/services/message-exchange/types/1.1\" Id=\"SIGNED_BY_CONSUMER\"><ns1:MessageID>"
    ));
    let digest = DigestAlgorithm::Gost94.digest(&octets).unwrap();
    assert_eq!(
        base64::engine::general_purpose::STANDARD.encode(digest),
        "/jXl70XwnttJB5sSokwh8SaVHwo2gjgILSu0qBaLUAo="
    );

    let signature = find(&doc, "Signature");
    let cert = embedded_certificate(&doc);
    let trust = TrustStore::default().with_certificate(cert);
    let verified = xmldsig::verify(
        &doc,
        signature,
        target,
        &VerifyPolicy {
            trust: Some(&trust),
            at: datetime!(2015-08-05 12:00 UTC),
            allow_exc_c14n_only: false,
        },
    )
    .unwrap();
    assert_eq!(verified.algorithm, xmldsig::SignatureAlgorithm::Gost2001);
    assert!(verified.reformatted_after_signing);
    assert!(
        verified.subject.contains("OU=SYSTEM1"),
        "{}",
        verified.subject
    );
}

#[test]
fn golden_2012_getresponse_digest_and_smev_signature() {
    require_gost();
    let doc = xml::parse(&vector("signed-2012/getresponse-response.xml")).unwrap();
    let target = find(&doc, "Response");
    let octets = xmldsig::transform::transform(&doc, target).unwrap();
    let text = String::from_utf8(octets.clone()).unwrap();
    // QName values are text: copied as written, not rewritten.
    assert!(
        text.contains(
            r#"xmlns:ns2="http://www.w3.org/2001/XMLSchema-instance" ns2:type="ns3:InvalidContent""#
        ),
        "{text}"
    );
    let digest = DigestAlgorithm::Streebog256.digest(&octets).unwrap();
    assert_eq!(
        base64::engine::general_purpose::STANDARD.encode(digest),
        "BakE0MG7o0f7YmUwi5gmFrI2AAX3Xs5mpheQE4BLnSk="
    );

    let signature = find(&doc, "Signature");
    let trust = TrustStore::default().with_certificate(embedded_certificate(&doc));
    let policy = VerifyPolicy {
        trust: Some(&trust),
        at: datetime!(2026-04-16 09:01 +3),
        allow_exc_c14n_only: false,
    };
    let verified = xmldsig::verify(&doc, signature, target, &policy).unwrap();
    assert_eq!(
        verified.algorithm,
        xmldsig::SignatureAlgorithm::Gost2012_256
    );
    assert!(
        verified.subject.contains("ТСМЭВ3") || verified.subject.contains("РТ Лабс"),
        "{}",
        verified.subject
    );

    // The same message checked today: the test certificate has expired.
    let later = VerifyPolicy {
        at: datetime!(2026-11-23 12:00 UTC),
        ..policy
    };
    let err = xmldsig::verify(&doc, signature, target, &later).unwrap_err();
    assert!(
        matches!(err, xmldsig::VerifyError::CertificateExpired { .. }),
        "{err}"
    );
}

fn embedded_certificate(doc: &Document) -> openssl::x509::X509 {
    let el = find(doc, "X509Certificate");
    let b64: String = doc
        .text(el)
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    let der = base64::engine::general_purpose::STANDARD
        .decode(b64)
        .unwrap();
    openssl::x509::X509::from_der(&der).unwrap()
}

#[test]
fn document_c14n_of_the_vectors_matches_xmllint() {
    // xmllint's --exc-c14n keeps comments; these vectors have none.
    for rel in [
        "signed-2001/sendrequest-envelope.xml",
        "signed-2012/getresponse-response.xml",
        "smev-transform/case4.in.xml",
    ] {
        let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../shared/vectors")
            .join(rel);
        let theirs = std::process::Command::new("xmllint")
            .arg("--exc-c14n")
            .arg(&path)
            .output()
            .unwrap();
        assert!(theirs.status.success());
        let doc = xml::parse(&vector(rel)).unwrap();
        assert_eq!(
            String::from_utf8(xmldsig::c14n::canonicalize_document(&doc)).unwrap(),
            String::from_utf8(theirs.stdout).unwrap(),
            "{rel}"
        );
    }
}
