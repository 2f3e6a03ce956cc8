//! Fuzzing the two readers of outside input, with proptest, for a fixed
//! number of cases so that CI spends seconds on it (`PROPTEST_CASES=N`
//! for a longer run):
//! - the request parser, on arbitrary bytes, arbitrary JSON and mutations
//!   of a valid request: it never panics, and whatever it accepts it
//!   reads back the same from its stored form;
//! - the answer reader (XML parser, SMEV envelope, each register's answer
//!   parser, signature verification), on mutations of real signed answers
//!   for every kind: it never panics, and a changed signed answer is never
//!   taken as verified.

mod common;

use common::{lookup_request, request_json};
use mezhved::request::Kind;
use mezhved::smev::{self, Metadata, ResponseBody, Version};
use mezhved::xml;
use mezhved::xmldsig::{
    self, ReferenceTransforms, SignatureAlgorithm, SigningKey, TrustStore, VerifyPolicy,
};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use serde_json::Value;

fn runner(default_cases: u32) -> TestRunner {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default_cases);
    TestRunner::new(Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    })
}

/// A byte-level edit: flip, insert, delete or duplicate at a position.
#[derive(Debug, Clone)]
enum Edit {
    Set(usize, u8),
    Insert(usize, Vec<u8>),
    Delete(usize, usize),
    Repeat(usize, usize),
}

fn edits() -> impl Strategy<Value = Vec<Edit>> {
    let interesting = prop::sample::select(vec![
        b'"', b'{', b'}', b'[', b']', b',', b':', b'\\', b'<', b'>', b'&', b';', b'/', b'=', b'\'',
        0u8, 0x1f, 0x7f, 0xC3, 0xFF, b'0', b'9', b' ', b'\n',
    ]);
    let byte = prop_oneof![3 => interesting, 1 => any::<u8>()];
    let edit = prop_oneof![
        (any::<usize>(), byte.clone()).prop_map(|(i, b)| Edit::Set(i, b)),
        (any::<usize>(), prop::collection::vec(byte, 1..8)).prop_map(|(i, b)| Edit::Insert(i, b)),
        (any::<usize>(), 1usize..16).prop_map(|(i, n)| Edit::Delete(i, n)),
        (any::<usize>(), 1usize..32).prop_map(|(i, n)| Edit::Repeat(i, n)),
    ];
    prop::collection::vec(edit, 1..6)
}

fn apply(mut data: Vec<u8>, edits: &[Edit]) -> Vec<u8> {
    for e in edits {
        let len = data.len().max(1);
        match e {
            Edit::Set(i, b) => {
                if !data.is_empty() {
                    let i = i % data.len();
                    data[i] = *b;
                }
            }
            Edit::Insert(i, b) => {
                let i = i % (data.len() + 1);
                data.splice(i..i, b.iter().copied());
            }
            Edit::Delete(i, n) => {
                let i = i % len;
                let end = (i + n).min(data.len());
                if i < end {
                    data.drain(i..end);
                }
            }
            Edit::Repeat(i, n) => {
                if !data.is_empty() {
                    let i = i % data.len();
                    let end = (i + n).min(data.len());
                    let piece = data[i..end].to_vec();
                    data.splice(i..i, piece);
                }
            }
        }
    }
    data
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        "[a-zA-Zа-я0-9 .@+()-]{0,20}".prop_map(Value::String),
        prop::sample::select(vec![
            "egrul",
            "egrip",
            "tax_debt",
            "1144703001233",
            "4703123451",
            "LO-1",
            "../etc",
        ])
        .prop_map(|s| Value::String(s.into())),
    ];
    leaf.prop_recursive(4, 48, 8, |inner| {
        let keys = prop::sample::select(vec![
            "request_id",
            "case_id",
            "kind",
            "subject",
            "details",
            "inn",
            "ogrn",
            "test",
            "as_of",
            "official",
            "name",
            "x",
        ]);
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::vec((keys, inner), 0..6).prop_map(|kv| Value::Object(
                kv.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()
            )),
        ]
    })
}

/// A request that parses, whatever else: the stored form reads back as
/// the same request.
fn round_trips(body: &[u8]) {
    let today = mezhved::clock::moscow_today();
    if let Ok(r) = mezhved::request::parse_request(body, today) {
        let stored = serde_json::to_vec_pretty(&r).unwrap();
        let again = mezhved::request::parse_request(&stored, today)
            .unwrap_or_else(|e| panic!("the stored form of an accepted request is refused: {e}"));
        assert_eq!(again, r);
    }
}

#[test]
fn the_request_parser_never_panics_and_what_it_accepts_round_trips() {
    let valid = request_json(Kind::TaxDebt, serde_json::json!({ "inn": "4703123451" }))
        .to_string()
        .into_bytes();
    runner(3000)
        .run(&edits(), |e| {
            round_trips(&apply(valid.clone(), &e));
            Ok(())
        })
        .unwrap();
    runner(1000)
        .run(&prop::collection::vec(any::<u8>(), 0..512), |b| {
            round_trips(&b);
            Ok(())
        })
        .unwrap();
    runner(1000)
        .run(&json_value(), |v| {
            round_trips(v.to_string().as_bytes());
            Ok(())
        })
        .unwrap();
}

/// A signed `GetResponseResponse` with the emulator's answer for `subject`
/// of `kind`, and the request it answers.
fn signed_answer(
    key: &SigningKey,
    kind: Kind,
    id: &str,
) -> (Vec<u8>, mezhved::request::LookupRequest) {
    let req = lookup_request(kind, id);
    let registry = mezhved::lookup::Registry::new(&Default::default());
    let fixtures =
        mezhved::emulator::Fixtures::load(&common::root().join("fixtures"), &registry).unwrap();
    let query = mezhved::lookup::ProviderQuery {
        doc_id: req.request_id.to_string(),
        identifiers: vec![id.to_owned()],
    };
    let mezhved::emulator::ProviderAnswer::Business(business) = fixtures
        .answer(&registry, kind, &query, &Default::default())
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
    let (mut doc, resp, container) = smev::get_response_response(
        Version::V1_3,
        &smev::new_message_id().to_string(),
        "to",
        &smev::new_message_id().to_string(),
        &ResponseBody::Primary(business),
        &meta,
    );
    xmldsig::sign_element(&mut doc, resp, container, key, ReferenceTransforms::Smev).unwrap();
    (xml::to_bytes(&doc), req)
}

/// Reads an answer the way the gateway does; true when it would be taken
/// as verified.
fn read_answer(bytes: &[u8], req: &mezhved::request::LookupRequest, trust: &TrustStore) -> bool {
    let Ok(doc) = xml::parse(bytes) else {
        return false;
    };
    let Ok(Some(resp)) = smev::parse_get_response_response(&doc) else {
        return false;
    };
    let registry = mezhved::lookup::Registry::new(&Default::default());
    if let smev::ResponseContent::Primary(root) = resp.content {
        let _ = registry
            .get(req.kind)
            .parse_answer(&doc, root, req, &req.request_id.to_string());
    }
    let _ = smev::signatures::signed_reads(&doc);
    let policy = VerifyPolicy {
        trust: Some(trust),
        at: mezhved::clock::now(),
        allow_exc_c14n_only: false,
    };
    resp.smev_signature
        .is_some_and(|s| xmldsig::verify(&doc, s, resp.response, &policy).is_ok())
}

#[test]
fn the_answer_reader_never_panics_and_never_takes_a_changed_answer_as_signed() {
    let key = SigningKey::generate(SignatureAlgorithm::RsaSha256, "SMEV", 30).unwrap();
    let trust = TrustStore::default().with_certificate(key.certificate().to_owned());
    let answers: Vec<_> = [
        (Kind::Egrul, "1144703001233"),
        (Kind::Egrip, "318470300001230"),
        (Kind::TaxDebt, "4703123451"),
        (Kind::UnreliableSupplier, "7812345675"),
        (Kind::ForeignAgent, "7705678126"),
    ]
    .into_iter()
    .map(|(kind, id)| signed_answer(&key, kind, id))
    .collect();
    for (bytes, req) in &answers {
        assert!(
            read_answer(bytes, req, &trust),
            "the genuine {} answer verifies",
            req.kind
        );
    }
    let strategy = (0..answers.len(), edits());
    runner(600)
        .run(&strategy, |(which, e)| {
            let (bytes, req) = &answers[which];
            let changed = apply(bytes.clone(), &e);
            let taken = read_answer(&changed, req, &trust);
            if taken && changed != *bytes {
                // Only edits the signature does not cover may pass: what
                // was read must be exactly what was signed.
                let (a, b) = (xml::parse(bytes).unwrap(), xml::parse(&changed).unwrap());
                let ra = smev::parse_get_response_response(&a)
                    .unwrap()
                    .unwrap()
                    .response;
                let rb = smev::parse_get_response_response(&b)
                    .unwrap()
                    .unwrap()
                    .response;
                prop_assert_eq!(
                    mezhved::xmldsig::c14n::canonicalize(&a, ra),
                    mezhved::xmldsig::c14n::canonicalize(&b, rb),
                    "a changed answer was taken as signed"
                );
            }
            Ok(())
        })
        .unwrap();
}
