//! XML Schema validation of a typical ЕГРЮЛ answer (the emulator's answer
//! about АНО «ЦСЗ «Ладога», 5 KB, 40 elements) against the official ФНС
//! schemas: the validation of an already parsed document (what the answer
//! reader pays), parse plus validation, and compiling the schema set once.
//!
//! `cargo bench --bench xsd`

use std::hint::black_box;
use std::path::PathBuf;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use mezhved::emulator::{Fixtures, ProviderAnswer};
use mezhved::lookup::{LookupConfig, ProviderQuery, Registry};
use mezhved::request::Kind;
use mezhved::xml;
use mezhved::xsd::SchemaSet;

fn manifest(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(rel)
}

fn egrul_schema() -> PathBuf {
    manifest("../shared/xsd/fns-egrul-4.0.6/fns-vipul-tosmv-ru.xsd")
}

/// The emulator's ЕГРЮЛ answer, as bytes.
fn egrul_answer() -> Vec<u8> {
    let registry = Registry::new(&LookupConfig::default());
    let fixtures = Fixtures::load(&manifest("fixtures"), &registry).expect("fixtures");
    let query = ProviderQuery {
        doc_id: "2fba21b8-55f5-4dba-9d93-1bae4c65a49a".into(),
        identifiers: vec!["1144703001233".into()],
    };
    match fixtures.answer(&registry, Kind::Egrul, &query, &Default::default()) {
        Ok(ProviderAnswer::Business(doc)) => xml::to_bytes(&doc),
        _ => panic!("the fixtures answer for 1144703001233"),
    }
}

fn bench(c: &mut Criterion) {
    let set = SchemaSet::load_files(&[egrul_schema()]).expect("schema");
    let bytes = egrul_answer();
    let doc = xml::parse(&bytes).expect("answer parses");
    assert!(
        set.validate(&doc, doc.root()).is_empty(),
        "the answer is valid"
    );
    let elements = doc.descendants(doc.root()).len();

    let mut g = c.benchmark_group("xsd");
    g.throughput(Throughput::Bytes(bytes.len() as u64));
    g.bench_function(
        format!("validate-egrul-answer/{}B-{elements}el", bytes.len()),
        |b| b.iter(|| black_box(set.validate(black_box(&doc), doc.root()))),
    );
    g.bench_function("parse+validate-egrul-answer", |b| {
        b.iter(|| {
            let d = xml::parse(black_box(&bytes)).expect("parses");
            black_box(set.validate(&d, d.root()))
        })
    });
    g.bench_function("parse-egrul-answer", |b| {
        b.iter(|| black_box(xml::parse(black_box(&bytes)).expect("parses")))
    });
    g.finish();

    let mut g = c.benchmark_group("xsd-compile");
    g.sample_size(10);
    g.bench_function("load-egrul-schemas", |b| {
        b.iter(|| black_box(SchemaSet::load_files(&[egrul_schema()]).expect("schema")))
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
