//! The signing path on a typical 2 KB `SenderProvidedRequestData`: the SMEV
//! transform with its digest, `SignedInfo` canonicalisation, the whole
//! `sign_element`, verification, and the raw OpenSSL signature of each
//! algorithm (the baseline for the ratio in BENCHMARKS.md).
//!
//! `cargo bench --bench signing`

use std::hint::black_box;

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use mezhved::smev::{self, Version};
use mezhved::xml::{Document, NodeId};
use mezhved::xmldsig::{
    self, DigestAlgorithm, ReferenceTransforms, SignatureAlgorithm, SigningKey, VerifyPolicy,
};

const ALGORITHMS: [SignatureAlgorithm; 4] = [
    SignatureAlgorithm::Gost2012_256,
    SignatureAlgorithm::Gost2012_512,
    SignatureAlgorithm::RsaSha256,
    SignatureAlgorithm::EcdsaSha256,
];

/// A business request of about 2 KB in canonical form: a request for the
/// register data of several subjects, as regional VS often are.
fn business() -> Document {
    let ns = Some("urn://mezhved/bench/register-request/1.0");
    let mut doc = Document::new(Some("rr"), "RegisterRequest", ns);
    let root = doc.root();
    doc.set_attr(root, "ИдЗапрос", "6f9c1a52-2d0e-4c7b-9a31-1b5c0e7d4a01");
    doc.set_attr(root, "НомерДела", "LO-2026-004217");
    let body = doc.append_element(root, Some("rr"), "ОрганЗапроса", ns);
    doc.append_text_element(
        body,
        Some("rr"),
        "Наименование",
        ns,
        "Комитет по труду и занятости населения Ленинградской области",
    );
    doc.append_text_element(body, Some("rr"), "ИНН", ns, "4704987655");
    doc.append_text_element(body, Some("rr"), "ОГРН", ns, "1154704007776");
    for (i, inn) in [
        "4703123451",
        "7812345675",
        "7704123450",
        "7805123985",
        "4706789017",
        "7820110035",
    ]
    .iter()
    .enumerate()
    {
        let s = doc.append_element(root, Some("rr"), "Субъект", ns);
        doc.set_attr(s, "Номер", &(i + 1).to_string());
        doc.append_text_element(s, Some("rr"), "ИНН", ns, inn);
        doc.append_text_element(
            s,
            Some("rr"),
            "Основание",
            ns,
            "ст. 31.4 Федерального закона от 12.01.1996 № 7-ФЗ",
        );
        doc.append_text_element(s, Some("rr"), "ДатаСведений", ns, "2026-11-20");
    }
    doc
}

/// The envelope, the element to sign and the signature container.
fn envelope() -> (Document, NodeId, NodeId) {
    let env = smev::send_request(
        Version::V1_3,
        &smev::new_message_id(),
        &business(),
        true,
        None,
        false,
    );
    (env.doc, env.sender_provided, env.caller_signature)
}

/// The `SenderProvidedRequestData` mezhved sends for one ЕГРЮЛ lookup by
/// ОГРН, as the gateway builds it from a case system's request.
fn egrul_envelope() -> (Document, NodeId) {
    let (doc, sprd, _) = egrul_parts();
    (doc, sprd)
}

/// The same, with its signature container.
fn egrul_parts() -> (Document, NodeId, NodeId) {
    let settings = mezhved::config::Settings::load(None).unwrap();
    let registry = mezhved::lookup::Registry::new(&settings.lookup);
    let json = serde_json::json!({
        "request_id": "0b0e8a3e-7c1d-4f6a-9d61-6f1a3c2b9e01", "case_id": "LO-2026-004217",
        "kind": "egrul", "subject": {"ogrn": "1144703001233"},
        "details": {
            "requesting_body": {"name": "Комитет по труду и занятости населения Ленинградской области"},
            "service": {"name": "Оценка качества оказания общественно полезных услуг", "registry_number": "4700000010000012345"},
            "legal_basis": {"act": "Федеральный закон от 12.01.1996 № 7-ФЗ", "article": "31.4"},
            "official": {"name": "Иванова М. П.", "position": "главный специалист", "email": "ivanova@lenreg.ru"},
            "applicant_consent": false
        }
    });
    let req = mezhved::request::parse_request(
        json.to_string().as_bytes(),
        mezhved::clock::moscow_today(),
    )
    .unwrap();
    let business = registry
        .get(req.kind)
        .build_request(&req, &req.request_id.to_string());
    let env = smev::send_request(
        Version::V1_3,
        &smev::new_message_id(),
        &business,
        false,
        None,
        false,
    );
    (env.doc, env.sender_provided, env.caller_signature)
}

fn benches(c: &mut Criterion) {
    // The XML work of one typical request: exclusive c14n then the SMEV
    // transform of the element the signature covers (the digest's input).
    let (egrul, egrul_sprd) = egrul_envelope();
    let egrul_octets = xmldsig::transform::transform(&egrul, egrul_sprd).unwrap();
    println!(
        "one ЕГРЮЛ lookup: SenderProvidedRequestData after the SMEV transform: {} bytes",
        egrul_octets.len()
    );
    let mut g = c.benchmark_group("xml-egrul");
    g.throughput(Throughput::Bytes(egrul_octets.len() as u64));
    g.bench_function("smev-transform", |b| {
        b.iter(|| xmldsig::transform::transform(black_box(&egrul), egrul_sprd).unwrap())
    });
    g.bench_function("exc-c14n", |b| {
        b.iter(|| xmldsig::c14n::canonicalize(black_box(&egrul), egrul_sprd))
    });
    g.finish();

    let (doc, sprd, _) = envelope();
    let octets = xmldsig::transform::transform(&doc, sprd).unwrap();
    let size = octets.len() as u64;
    println!("SenderProvidedRequestData after the SMEV transform: {size} bytes");

    let mut g = c.benchmark_group("xml");
    g.throughput(Throughput::Bytes(size));
    g.bench_function("smev-transform", |b| {
        b.iter(|| xmldsig::transform::transform(black_box(&doc), sprd).unwrap())
    });
    g.bench_function("exc-c14n", |b| {
        b.iter(|| xmldsig::c14n::canonicalize(black_box(&doc), sprd))
    });
    g.finish();

    let mut g = c.benchmark_group("transform+digest");
    g.throughput(Throughput::Bytes(size));
    for (name, d) in [
        ("streebog256", DigestAlgorithm::Streebog256),
        ("streebog512", DigestAlgorithm::Streebog512),
        ("sha256", DigestAlgorithm::Sha256),
    ] {
        g.bench_function(name, |b| {
            b.iter(|| {
                d.digest(&xmldsig::transform::transform(black_box(&doc), sprd).unwrap())
                    .unwrap()
            })
        });
    }
    g.finish();

    let keys: Vec<SigningKey> = ALGORITHMS
        .iter()
        .map(|a| SigningKey::generate(*a, "bench", 1).unwrap())
        .collect();

    // What signing costs inside OpenSSL alone: the baseline.
    let mut g = c.benchmark_group("openssl-sign");
    let (mut signed_doc, s_sprd, s_container) = envelope();
    let sig = xmldsig::sign_element(
        &mut signed_doc,
        s_sprd,
        s_container,
        &keys[0],
        ReferenceTransforms::Smev,
    )
    .unwrap();
    let signed_info = signed_doc.child(sig, xmldsig::DS_NS, "SignedInfo").unwrap();
    let si_bytes = xmldsig::c14n::canonicalize(&signed_doc, signed_info);
    println!("canonical SignedInfo: {} bytes", si_bytes.len());
    for key in &keys {
        g.bench_function(key.algorithm().name(), |b| {
            b.iter(|| key.sign(black_box(&si_bytes)).unwrap())
        });
    }
    g.finish();

    let mut g = c.benchmark_group("openssl-verify");
    for key in &keys {
        let value = key.sign(&si_bytes).unwrap();
        let public = key.certificate().public_key().unwrap();
        g.bench_function(key.algorithm().name(), |b| {
            b.iter(|| {
                assert!(
                    xmldsig::verify_raw(key.algorithm(), &public, black_box(&si_bytes), &value)
                        .unwrap()
                )
            })
        });
    }
    g.finish();

    let mut g = c.benchmark_group("sign");
    for key in &keys {
        g.bench_function(key.algorithm().name(), |b| {
            b.iter_batched(
                envelope,
                |(mut d, s, c)| {
                    xmldsig::sign_element(&mut d, s, c, key, ReferenceTransforms::Smev).unwrap()
                },
                BatchSize::SmallInput,
            )
        });
    }
    g.finish();

    let mut g = c.benchmark_group("verify");
    for key in &keys {
        let (mut d, s, c) = envelope();
        let sig = xmldsig::sign_element(&mut d, s, c, key, ReferenceTransforms::Smev).unwrap();
        let policy = VerifyPolicy {
            trust: None,
            at: mezhved::clock::now(),
            allow_exc_c14n_only: false,
        };
        g.bench_function(key.algorithm().name(), |b| {
            b.iter(|| xmldsig::verify(black_box(&d), sig, s, &policy).unwrap())
        });
    }
    g.finish();

    // The whole signing path on the typical one-lookup request.
    let mut g = c.benchmark_group("sign-egrul");
    for key in &keys {
        g.bench_function(key.algorithm().name(), |b| {
            b.iter_batched(
                egrul_parts,
                |(mut d, s, c)| {
                    xmldsig::sign_element(&mut d, s, c, key, ReferenceTransforms::Smev).unwrap()
                },
                BatchSize::SmallInput,
            )
        });
    }
    g.finish();

    let mut g = c.benchmark_group("envelope-build");
    g.bench_function("send-request", |b| b.iter(envelope));
    g.finish();
}

criterion_group!(signing, benches);
criterion_main!(signing);
