//! Reading an agency's answer: parsing the business XML, reading it into a
//! verdict with its facts, and checking it against the VS schema, on a
//! typical ЕГРЮЛ extract (5 KB) and ЕГРИП extract (3 KB).
//!
//! `cargo bench --bench answers`

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use mezhved::lookup::{LookupConfig, Registry, Verdict};
use mezhved::request::{Kind, LookupRequest};

const DOC_ID: &str = "6f9c1a52-2d0e-4c7b-9a31-1b5c0e7d4a01";

fn request(kind: Kind, subject: serde_json::Value) -> LookupRequest {
    let body = serde_json::json!({
        "request_id": DOC_ID,
        "case_id": "LO-2026-004217",
        "kind": kind.as_str(),
        "subject": subject,
        "details": {
            "requesting_body": {"name": "Комитет по труду и занятости населения Ленинградской области", "inn": "4704987655", "ogrn": "1154704007776"},
            "service": {"name": "Оценка качества оказания общественно полезных услуг СО НКО", "registry_number": "4700000010000057612"},
            "legal_basis": {"act": "Постановление Правительства РФ от 26.01.2017 № 89", "article": "п. 6 Правил"},
            "official": {"name": "Иванова Мария Петровна", "position": "главный специалист", "phone": "+7 (812) 539-41-54"},
            "applicant_consent": true
        }
    });
    mezhved::request::parse_request(body.to_string().as_bytes(), mezhved::clock::moscow_today())
        .expect("a valid request")
}

fn bench_answers(c: &mut Criterion) {
    let registry = Registry::new(&LookupConfig::default());
    let cases = [
        (
            "egrul",
            Kind::Egrul,
            serde_json::json!({"ogrn": "1144703001233"}),
            include_bytes!("data/egrul-answer.xml").as_slice(),
        ),
        (
            "egrip",
            Kind::Egrip,
            serde_json::json!({"ogrnip": "318470300001230"}),
            include_bytes!("data/egrip-answer.xml").as_slice(),
        ),
    ];
    let mut group = c.benchmark_group("answer");
    for (name, kind, subject, bytes) in cases {
        let req = request(kind, subject);
        group.throughput(Throughput::Bytes(bytes.len() as u64));
        group.bench_function(format!("{name}/parse"), |b| {
            b.iter(|| mezhved::xml::parse(black_box(bytes)).expect("well-formed"))
        });
        group.bench_function(format!("{name}/parse+read"), |b| {
            b.iter(|| {
                let doc = mezhved::xml::parse(black_box(bytes)).expect("well-formed");
                let outcome = registry
                    .get(kind)
                    .parse_answer(&doc, doc.root(), &req, DOC_ID);
                assert_eq!(outcome.verdict, Verdict::Found);
                outcome
            })
        });
        group.bench_function(format!("{name}/parse+read+schema"), |b| {
            b.iter(|| {
                let doc = mezhved::xml::parse(black_box(bytes)).expect("well-formed");
                let outcome = registry.read_answer(kind, &doc, doc.root(), &req, DOC_ID);
                assert_eq!(outcome.verdict, Verdict::Found);
                // The official schemas are at ../shared/xsd in a checkout.
                assert_eq!(outcome.schema_unchecked, None);
                outcome
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench_answers);
criterion_main!(benches);
