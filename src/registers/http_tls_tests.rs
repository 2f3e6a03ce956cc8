//! The trust store of a register source, against a real TLS server: only
//! the source's CAs are trusted, the certificate must name the URL's host,
//! and a refusal is a failure of the lookup (not an outage to retry).

use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::Path;
use std::time::Duration;

use openssl::asn1::Asn1Time;
use openssl::bn::{BigNum, MsbOption};
use openssl::ec::{EcGroup, EcKey};
use openssl::hash::MessageDigest;
use openssl::nid::Nid;
use openssl::pkey::{PKey, Private};
use openssl::ssl::{SslAcceptor, SslMethod};
use openssl::x509::extension::{BasicConstraints, SubjectAlternativeName};
use openssl::x509::{X509, X509NameBuilder};

use super::SourceClient;
use crate::provider::BreakerSettings;
use crate::registers::SourceError;

fn breaker() -> BreakerSettings {
    BreakerSettings {
        failures: 100,
        open_for: Duration::from_secs(1),
        max_open_for: Duration::from_secs(1),
    }
}

fn key() -> PKey<Private> {
    let group = EcGroup::from_curve_name(Nid::X9_62_PRIME256V1).unwrap();
    PKey::from_ec_key(EcKey::generate(&group).unwrap()).unwrap()
}

/// A certificate for `cn`, signed by `issuer` (self-signed when None); a CA
/// when `ca`, else a server certificate for the DNS name `cn`.
fn cert(cn: &str, key: &PKey<Private>, issuer: Option<(&X509, &PKey<Private>)>, ca: bool) -> X509 {
    let mut name = X509NameBuilder::new().unwrap();
    name.append_entry_by_text("CN", cn).unwrap();
    let name = name.build();
    let mut b = X509::builder().unwrap();
    b.set_version(2).unwrap();
    let mut serial = BigNum::new().unwrap();
    serial.rand(64, MsbOption::MAYBE_ZERO, false).unwrap();
    b.set_serial_number(&serial.to_asn1_integer().unwrap())
        .unwrap();
    b.set_subject_name(&name).unwrap();
    b.set_issuer_name(issuer.map(|(c, _)| c.subject_name()).unwrap_or(&name))
        .unwrap();
    b.set_pubkey(key).unwrap();
    b.set_not_before(&Asn1Time::days_from_now(0).unwrap())
        .unwrap();
    b.set_not_after(&Asn1Time::days_from_now(30).unwrap())
        .unwrap();
    if ca {
        b.append_extension(BasicConstraints::new().critical().ca().build().unwrap())
            .unwrap();
    } else {
        let san = SubjectAlternativeName::new()
            .dns(cn)
            .build(&b.x509v3_context(issuer.map(|(c, _)| &**c), None))
            .unwrap();
        b.append_extension(san).unwrap();
    }
    b.sign(
        issuer.map(|(_, k)| k).unwrap_or(key),
        MessageDigest::sha256(),
    )
    .unwrap();
    b.build()
}

/// A TLS server on 127.0.0.1 answering every connection with `200 ok`,
/// presenting `chain`; its port.
fn serve(leaf: X509, ca: X509, key: PKey<Private>) -> u16 {
    let mut acc = SslAcceptor::mozilla_intermediate_v5(SslMethod::tls()).unwrap();
    acc.set_private_key(&key).unwrap();
    acc.set_certificate(&leaf).unwrap();
    acc.add_extra_chain_cert(ca).unwrap();
    let acc = acc.build();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for s in listener.incoming() {
            let Ok(s) = s else { continue };
            let acc = acc.clone();
            std::thread::spawn(move || {
                if let Ok(mut tls) = acc.accept(s) {
                    let mut buf = [0u8; 4096];
                    let _ = tls.read(&mut buf);
                    let _ = tls.write_all(
                        b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok",
                    );
                    let _ = tls.shutdown();
                }
            });
        }
    });
    port
}

fn pem_file(dir: &Path, name: &str, c: &X509) -> String {
    let p = dir.join(name);
    std::fs::write(&p, c.to_pem().unwrap()).unwrap();
    p.to_string_lossy().into_owned()
}

async fn get(ca_file: &str, port: u16) -> Result<super::Answer, SourceError> {
    let c = SourceClient::new("ЕИС", ca_file, Duration::from_secs(10), breaker(), 1024).unwrap();
    let req = c.http().get(format!("https://localhost:{port}/"));
    c.send(req, true).await
}

#[tokio::test]
async fn only_the_sources_ca_and_the_urls_host_are_trusted() {
    let dir = tempfile::tempdir().unwrap();
    let (ca_key, other_key) = (key(), key());
    let ca = cert("mezhved test CA", &ca_key, None, true);
    let other_ca = cert("another CA", &other_key, None, true);
    let ca_file = pem_file(dir.path(), "ca.pem", &ca);
    let other_file = pem_file(dir.path(), "other.pem", &other_ca);

    let leaf_key = key();
    let good = serve(
        cert("localhost", &leaf_key, Some((&ca, &ca_key)), false),
        ca.clone(),
        leaf_key.clone(),
    );
    let a = get(&ca_file, good)
        .await
        .expect("the source's CA is trusted");
    assert_eq!((a.status, a.body.as_slice()), (200, &b"ok"[..]));

    // Another CA configured: the same server is refused, as a failure.
    match get(&other_file, good).await {
        Err(SourceError::Failed(m)) => assert!(m.contains("TLS refused"), "{m}"),
        other => panic!("another CA must refuse the server: {other:?}"),
    }
    // The system's store does not hold a CA of our own making.
    assert!(matches!(get("", good).await, Err(SourceError::Failed(_))));

    // The right CA, but a certificate for another host.
    let elsewhere = serve(
        cert("register.example", &leaf_key, Some((&ca, &ca_key)), false),
        ca.clone(),
        leaf_key,
    );
    match get(&ca_file, elsewhere).await {
        Err(SourceError::Failed(m)) => assert!(m.contains("TLS refused"), "{m}"),
        other => panic!("a certificate for another host must be refused: {other:?}"),
    }
}

#[test]
fn a_ca_file_without_certificates_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("empty.pem");
    std::fs::write(&p, "not a certificate\n").unwrap();
    let e = SourceClient::new(
        "Минюст",
        &p.to_string_lossy(),
        Duration::from_secs(1),
        breaker(),
        1024,
    )
    .unwrap_err();
    assert!(e.contains("Минюст ca_file"), "{e}");
}
