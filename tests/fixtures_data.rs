//! The register data the emulator answers from: every answer validates
//! against its schema, and mezhved reads it as the verdict the data file
//! promises.

mod common;

use common::*;
use mezhved::emulator::{Fixtures, ProviderAnswer};
use mezhved::lookup::{LookupConfig, Registry, Verdict};
use mezhved::xml;

#[test]
fn every_subject_renders_a_valid_answer_with_the_promised_verdict() {
    let registry = Registry::new(&LookupConfig::default());
    let fixtures = Fixtures::load(&root().join("fixtures"), &registry).unwrap();
    assert!(
        fixtures.subjects().len() >= 15,
        "{} subjects",
        fixtures.subjects().len()
    );
    for s in fixtures.subjects() {
        for id in &s.identifiers {
            let req = fixture_request(s, id);
            let lookup = registry.get(s.kind);
            // The request we would send validates too.
            let business = lookup.build_request(&req, &req.request_id.to_string());
            xmllint_validate(&xml::to_bytes(&business), &business_schema(s.kind));

            let query = lookup.read_request(&business, business.root()).unwrap();
            assert_eq!(query.identifiers, vec![id.clone()]);
            let verdict = match fixtures
                .answer(&registry, s.kind, &query, &s.scenario)
                .unwrap()
            {
                ProviderAnswer::Rejected(_) => Verdict::Rejected,
                ProviderAnswer::Business(doc) => {
                    let bytes = xml::to_bytes(&doc);
                    xmllint_validate(&bytes, &business_schema(s.kind));
                    let parsed = xml::parse(&bytes).unwrap();
                    let outcome = lookup.parse_answer(
                        &parsed,
                        parsed.root(),
                        &req,
                        &req.request_id.to_string(),
                    );
                    if outcome.verdict == Verdict::Found {
                        let facts = outcome.facts.as_ref().unwrap();
                        assert!(
                            facts["full_name"].as_str().is_some_and(|n| !n.is_empty()),
                            "{facts}"
                        );
                    }
                    outcome.verdict
                }
            };
            assert_eq!(verdict, s.expect, "{} {} ({id})", s.kind, s.key);
        }
    }
}

#[test]
fn an_answer_about_another_subject_is_a_failure() {
    let registry = Registry::new(&LookupConfig::default());
    let fixtures = Fixtures::load(&root().join("fixtures"), &registry).unwrap();
    let asked = lookup_request(mezhved::request::Kind::Egrul, "1177746003214");
    let lookup = registry.get(asked.kind);
    // Render the answer for another subject, as if misrouted.
    let query = mezhved::lookup::ProviderQuery {
        doc_id: asked.request_id.to_string(),
        identifiers: vec!["1144703001233".into()],
    };
    let ProviderAnswer::Business(doc) = fixtures
        .answer(&registry, asked.kind, &query, &Default::default())
        .unwrap()
    else {
        panic!("expected a business answer");
    };
    let outcome = lookup.parse_answer(&doc, doc.root(), &asked, &asked.request_id.to_string());
    assert_eq!(outcome.verdict, Verdict::Failed, "{outcome:?}");
    assert!(
        outcome
            .failure
            .unwrap()
            .reason
            .contains("not the requested")
    );
}

/// The emulator answers as ФНС does, and mezhved reads each shape right:
/// the subject's state, `active` and fallback, as the data file means them.
#[test]
fn every_status_shape_reads_as_the_register_means_it() {
    use mezhved::request::Kind;
    let registry = Registry::new(&LookupConfig::default());
    let fixtures = Fixtures::load(&root().join("fixtures"), &registry).unwrap();
    let cases: [(Kind, &str, &str, Option<bool>, bool); 12] = [
        (Kind::Egrul, "1144703001233", "active", Some(true), false),
        (
            Kind::Egrul,
            "1027800004561",
            "terminated",
            Some(false),
            false,
        ),
        (Kind::Egrul, "1167847004566", "excluded", Some(false), false),
        (
            Kind::Egrul,
            "1154704001231",
            "reorganising",
            Some(true),
            false,
        ),
        (
            Kind::Egrul,
            "1134703000013",
            "liquidating",
            Some(false),
            false,
        ),
        (
            Kind::Egrul,
            "1194704000017",
            "registration_invalid",
            Some(false),
            false,
        ),
        (Kind::Egrul, "1167847000012", "unknown", None, true),
        (Kind::Egrip, "470312345687", "active", Some(true), false),
        (Kind::Egrip, "781345678984", "excluded", Some(false), false),
        (
            Kind::Egrip,
            "470456789010",
            "registration_invalid",
            Some(false),
            false,
        ),
        (
            Kind::Egrip,
            "472012345680",
            "head_absent",
            Some(true),
            false,
        ),
        (
            Kind::Egrip,
            "308780600012344",
            "terminated",
            Some(false),
            false,
        ),
    ];
    for (kind, id, state, active, fallback) in cases {
        let req = lookup_request(kind, id);
        let doc_id = req.request_id.to_string();
        let query = mezhved::lookup::ProviderQuery {
            doc_id: doc_id.clone(),
            identifiers: vec![id.into()],
        };
        let ProviderAnswer::Business(doc) = fixtures
            .answer(&registry, kind, &query, &Default::default())
            .unwrap()
        else {
            panic!("{id}: expected a business answer");
        };
        let bytes = xml::to_bytes(&doc);
        let parsed = xml::parse(&bytes).unwrap();
        let o = registry.read_answer(kind, &parsed, parsed.root(), &req, &doc_id);
        assert_eq!(o.verdict, Verdict::Found, "{id}: {o:?}");
        let f = o.facts.as_ref().unwrap();
        assert_eq!(f["state"], state, "{id}: {f}");
        assert_eq!(f["active"], serde_json::json!(active), "{id}: {f}");
        assert_eq!(o.needs_fallback(), fallback, "{id}: {o:?}");
        assert!(o.schema_errors.is_empty(), "{id}: {:?}", o.schema_errors);
        assert_eq!(
            o.schema_unchecked, None,
            "{id}: checked against the official XSD"
        );
        if kind == Kind::Egrip {
            // Asked by ИНН or ОГРНИП, the ИНН is reported although the
            // emulator, like ФНС, leaves `СвИП/@ИННФЛ` out.
            assert_eq!(f["inn"].as_str().map(str::len), Some(12), "{id}: {f}");
            let sv = parsed.child_elements(parsed.root()).next().unwrap();
            assert_eq!(
                parsed.element(sv).attr("ИННФЛ"),
                None,
                "{id}: the emulator leaves СвИП/@ИННФЛ out"
            );
        }
    }
}

/// Addresses: bare numbers read with their labels, typed parts kept.
#[test]
fn addresses_read_as_typed_parts() {
    use mezhved::request::Kind;
    let registry = Registry::new(&LookupConfig::default());
    let fixtures = Fixtures::load(&root().join("fixtures"), &registry).unwrap();
    let read = |kind: Kind, id: &str| {
        let req = lookup_request(kind, id);
        let doc_id = req.request_id.to_string();
        let query = mezhved::lookup::ProviderQuery {
            doc_id: doc_id.clone(),
            identifiers: vec![id.into()],
        };
        let ProviderAnswer::Business(doc) = fixtures
            .answer(&registry, kind, &query, &Default::default())
            .unwrap()
        else {
            panic!("expected a business answer");
        };
        let o = registry.read_answer(kind, &doc, doc.root(), &req, &doc_id);
        o.facts.unwrap()
    };
    let f = read(Kind::Egrul, "4703131614");
    assert_eq!(
        f["address"],
        "187401, ОБЛАСТЬ ЛЕНИНГРАДСКАЯ, РАЙОН ВОЛХОВСКИЙ, ГОРОД ВОЛХОВ, ПРОСПЕКТ КИРОВСКИЙ, д. 7, корп. 6"
    );
    assert_eq!(f["address_parts"]["house"], "7");
    assert_eq!(f["address_parts"]["building"], "6");
    assert_eq!(
        f["address_parts"]["street"],
        serde_json::json!({"kind": "ПРОСПЕКТ", "name": "КИРОВСКИЙ"})
    );
    let f = read(Kind::Egrip, "319470500001231");
    assert_eq!(
        f["address"],
        "ОБЛАСТЬ ЛЕНИНГРАДСКАЯ, РАЙОН ГАТЧИНСКИЙ, ДЕРЕВНЯ ВЫРИЦА"
    );
    assert_eq!(
        f["address_parts"]["locality"],
        serde_json::json!({"kind": "ДЕРЕВНЯ", "name": "ВЫРИЦА"})
    );
    // An old extract's ОКВЭД without ПрВерсОКВЭД is the 2001 edition, and
    // everyone who may act without a power of attorney is listed.
    let f = read(Kind::Egrul, "1024701243214");
    assert_eq!(f["main_okved"]["edition"], "2001");
    assert_eq!(f["heads"].as_array().unwrap().len(), 2);
    assert_eq!(f["registration_date"], "1997-06-30");
}
