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
