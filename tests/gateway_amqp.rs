//! The gateway on a real RabbitMQ, driven by a plain AMQP client, against
//! the emulator over real HTTP.

mod common;
use common::harness;

use std::time::Duration;

use common::harness::{Client, Harness, broker_or_skip, prefix};
use common::*;
use mezhved::request::Kind;
use serde_json::json;

const WAIT: Duration = Duration::from_secs(30);

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn each_kind_gets_a_reply_with_its_verdict_and_a_complete_case_file() {
    if !broker_or_skip("gateway_amqp").await {
        return;
    }
    let h = Harness::start(&prefix("kinds")).await;
    let client = Client::connect().await;
    let reply_q = client.reply_queue().await;
    let cases = [
        (Kind::Egrul, json!({"ogrn": "1144703001233"}), "found"),
        (Kind::Egrip, json!({"ogrnip": "318470300001230"}), "found"),
        (Kind::TaxDebt, json!({"inn": "7812345675"}), "has_debt"),
        (
            Kind::UnreliableSupplier,
            json!({"inn": "7812345675"}),
            "listed",
        ),
        (
            Kind::ForeignAgent,
            json!({"inn": "4703123451"}),
            "not_listed",
        ),
    ];
    let mut expected = std::collections::HashMap::new();
    for (kind, subject, verdict) in &cases {
        let msg = request_json(*kind, subject.clone());
        let id = msg["request_id"].as_str().unwrap().to_owned();
        let corr = format!("corr-{}", kind.as_str());
        client
            .publish(
                &h.settings.amqp.queue_requests(),
                msg.to_string().as_bytes(),
                Some(&reply_q),
                Some(&corr),
            )
            .await;
        expected.insert(corr, (id, *kind, *verdict));
    }
    let replies = client.take(&reply_q, cases.len(), WAIT).await;
    assert_eq!(replies.len(), cases.len(), "every request gets a reply");
    for r in &replies {
        let corr = r
            .correlation_id
            .clone()
            .expect("the reply carries the correlation_id");
        let (id, kind, verdict) = expected
            .get(&corr)
            .unwrap_or_else(|| panic!("unexpected correlation id {corr}"));
        assert_eq!(r.body["request_id"], json!(id));
        assert_eq!(r.body["kind"], json!(kind.as_str()));
        assert_eq!(r.body["verdict"], json!(verdict), "{kind}: {}", r.body);

        let dir = std::path::PathBuf::from(r.body["case_file"].as_str().unwrap());
        // РНП and foreign agents come from the registers' own services
        // (the default routes): their exchange instead of SMEV's.
        let exchange = match kind {
            Kind::UnreliableSupplier => ["source-request.xml", "source-response.xml"],
            Kind::ForeignAgent => ["source-request.json", "source-response.json"],
            _ => ["send-request.xml", "response.xml"],
        };
        for f in ["request.json", "result.json"].into_iter().chain(exchange) {
            assert!(
                dir.join(f).is_file(),
                "{kind}: {f} missing in {}",
                dir.display()
            );
        }
        let result: serde_json::Value =
            serde_json::from_slice(&std::fs::read(dir.join("result.json")).unwrap()).unwrap();
        assert_eq!(&result, &r.body, "the reply is the case file's result");
        let journal = dir.parent().unwrap();
        mezhved::casefile::journal::verify(journal).unwrap();
    }
    assert_eq!(
        h.sent_requests(),
        cases.len() - 2,
        "the SMEV kinds went through SMEV"
    );
    h.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_sent_envelope_is_schema_valid_and_its_signature_verifies() {
    if !broker_or_skip("gateway_amqp").await {
        return;
    }
    let h = Harness::start(&prefix("envelope")).await;
    let client = Client::connect().await;
    let reply_q = client.reply_queue().await;
    let msg = request_json(Kind::Egrul, json!({"inn": "4703123451"}));
    client
        .publish(
            &h.settings.amqp.queue_requests(),
            msg.to_string().as_bytes(),
            Some(&reply_q),
            None,
        )
        .await;
    let replies = client.take(&reply_q, 1, WAIT).await;
    let dir = std::path::PathBuf::from(replies[0].body["case_file"].as_str().unwrap());
    let envelope = std::fs::read(dir.join("send-request.xml")).unwrap();

    let tmp = tempfile::tempdir().unwrap();
    let schema = envelope_schema(
        tmp.path(),
        "1.3",
        &[(
            "urn://x-artefacts-fns-vipul-tosmv-ru/311-14/4.0.6",
            business_schema(Kind::Egrul),
        )],
    );
    xmllint_validate(&envelope, &schema);

    // The signature verifies with openssl and xmllint...
    let doc = mezhved::xml::parse(&envelope).unwrap();
    let req = mezhved::smev::parse_send_request(&doc).unwrap();
    let transformed = mezhved::xmldsig::transform::transform(&doc, req.sender_provided).unwrap();
    verify_with_openssl(&envelope, &transformed);
    // ...and with mezhved's verifier, with the key's certificate only.
    let policy = mezhved::xmldsig::VerifyPolicy {
        trust: None,
        at: mezhved::clock::now(),
        allow_exc_c14n_only: false,
    };
    let v = mezhved::xmldsig::verify(&doc, req.signature.unwrap(), req.sender_provided, &policy)
        .unwrap();
    assert_eq!(v.algorithm, h.gateway.signing_algorithm());
    // The answer stored is what SMEV sent, byte for byte: it verifies too.
    let response = std::fs::read(dir.join("response.xml")).unwrap();
    let rdoc = mezhved::xml::parse(&response).unwrap();
    let resp = mezhved::smev::parse_get_response_response(&rdoc)
        .unwrap()
        .unwrap();
    mezhved::xmldsig::verify(&rdoc, resp.smev_signature.unwrap(), resp.response, &policy).unwrap();
    h.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn bad_input_goes_to_the_dead_letter_queue_with_its_reason_and_is_never_sent() {
    if !broker_or_skip("gateway_amqp").await {
        return;
    }
    let h = Harness::start(&prefix("dead")).await;
    let client = Client::connect().await;
    let q = h.settings.amqp.queue_requests();

    let mut bad_inn = request_json(Kind::Egrul, json!({"inn": "4703123452"}));
    bad_inn["case_id"] = json!("DEAD-1");
    let mut no_official = request_json(Kind::TaxDebt, json!({"inn": "4703123451"}));
    no_official["case_id"] = json!("DEAD-2");
    no_official["details"]
        .as_object_mut()
        .unwrap()
        .remove("official");
    client
        .publish(&q, bad_inn.to_string().as_bytes(), None, Some("bad-inn"))
        .await;
    client
        .publish(&q, b"{\"request_id\": ", None, Some("malformed"))
        .await;
    client
        .publish(
            &q,
            no_official.to_string().as_bytes(),
            None,
            Some("no-official"),
        )
        .await;

    let dead = client.take(&h.settings.amqp.queue_dead(), 3, WAIT).await;
    assert_eq!(dead.len(), 3);
    let reasons: std::collections::HashMap<String, (String, String)> = dead
        .iter()
        .map(|d| {
            let corr = d.body["reply"]["correlation_id"]
                .as_str()
                .unwrap()
                .to_owned();
            let r = &d.body["reason"];
            (
                corr,
                (
                    r["code"].as_str().unwrap().to_owned(),
                    r["field"].as_str().unwrap().to_owned(),
                ),
            )
        })
        .collect();
    assert_eq!(
        reasons["bad-inn"],
        ("invalid_check_digit".into(), "subject.inn".into())
    );
    assert_eq!(reasons["malformed"], ("malformed_json".into(), "".into()));
    assert_eq!(
        reasons["no-official"],
        ("missing_field".into(), "details.official".into())
    );
    for d in &dead {
        assert!(
            d.body["reason"]["message"]
                .as_str()
                .is_some_and(|m| !m.is_empty())
        );
        assert!(
            d.body["original"].as_str().is_some(),
            "the original is kept for replay"
        );
    }
    // Nothing was sent, nothing recorded.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(h.sent_requests(), 0);
    for case in ["DEAD-1", "DEAD-2"] {
        assert!(!h.settings.gateway.cases_root.join(case).exists());
    }
    h.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_same_request_twice_gives_one_smev_request_and_the_same_reply() {
    if !broker_or_skip("gateway_amqp").await {
        return;
    }
    let h = Harness::start(&prefix("idem")).await;
    let client = Client::connect().await;
    let reply_q = client.reply_queue().await;
    let msg = request_json(Kind::TaxDebt, json!({"inn": "4703123451"})).to_string();
    let q = h.settings.amqp.queue_requests();
    client
        .publish(&q, msg.as_bytes(), Some(&reply_q), Some("first"))
        .await;
    let first = client.take(&reply_q, 1, WAIT).await;
    client
        .publish(&q, msg.as_bytes(), Some(&reply_q), Some("first"))
        .await;
    let second = client.take(&reply_q, 1, WAIT).await;
    assert_eq!(first.len(), 1);
    assert_eq!(second.len(), 1);
    assert_eq!(
        first[0].body, second[0].body,
        "the repeated reply is identical"
    );
    assert_eq!(first[0].body["verdict"], json!("no_debt"));
    assert_eq!(h.sent_requests(), 1, "one SMEV request per request_id");
    h.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn without_reply_to_the_result_goes_to_the_results_exchange() {
    if !broker_or_skip("gateway_amqp").await {
        return;
    }
    let h = Harness::start(&prefix("results")).await;
    let client = Client::connect().await;
    let msg = request_json(Kind::ForeignAgent, json!({"snils": "15678912317"}));
    client
        .publish(
            &h.settings.amqp.queue_requests(),
            msg.to_string().as_bytes(),
            None,
            None,
        )
        .await;
    let got = client.take(&h.settings.amqp.queue_replies(), 1, WAIT).await;
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].body["verdict"], json!("listed"));
    assert_eq!(got[0].body["request_id"], msg["request_id"]);
    h.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_request_recorded_before_a_restart_is_finished_after_it() {
    if !broker_or_skip("gateway_amqp").await {
        return;
    }
    // Record a request in the store as if the gateway died right after
    // acknowledging the delivery, then start a gateway on that store.
    let dir = tempfile::tempdir().unwrap();
    let settings = harness::test_settings(dir.path(), &prefix("restart"));
    let store = mezhved::casefile::Store::open(&settings.gateway.cases_root).unwrap();
    let req = lookup_request(Kind::Egrip, "318470300001230");
    store.accept(&req, Default::default()).unwrap();
    // The process that recorded it is gone (its instance lock with it).
    drop(store);
    let h = Harness::start_in(dir, settings).await;
    let got = Client::connect()
        .await
        .take(&h.settings.amqp.queue_replies(), 1, WAIT)
        .await;
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].body["request_id"], json!(req.request_id.to_string()));
    assert_eq!(got[0].body["verdict"], json!("found"));
    h.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_answer_whose_smev_signature_fails_is_kept_refused_and_fails_the_request() {
    if !broker_or_skip("gateway_amqp").await {
        return;
    }
    // The gateway trusts another certificate than the emulator's.
    let dir = tempfile::tempdir().unwrap();
    let stranger = mezhved::xmldsig::SigningKey::generate(
        mezhved::xmldsig::SignatureAlgorithm::RsaSha256,
        "not SMEV",
        1,
    )
    .unwrap();
    let pem = dir.path().join("stranger.pem");
    std::fs::write(&pem, stranger.certificate().to_pem().unwrap()).unwrap();
    let settings = harness::test_settings(dir.path(), &prefix("badsig"));
    let h = Harness::start_adjusted(dir, settings, |s, _| s.smev.trust = vec![pem]).await;
    let client = Client::connect().await;
    let reply_q = client.reply_queue().await;
    let msg = request_json(Kind::Egrul, json!({"ogrn": "1144703001233"}));
    client
        .publish(
            &h.settings.amqp.queue_requests(),
            msg.to_string().as_bytes(),
            Some(&reply_q),
            None,
        )
        .await;
    let got = client.take(&reply_q, 1, WAIT).await;
    assert_eq!(got.len(), 1);
    let r = &got[0].body;
    assert_eq!(
        r["verdict"],
        json!("failed"),
        "never a verdict from an unverified answer: {r}"
    );
    assert_eq!(r["fallback_required"], json!(true));
    let reason = r["failure"]["reason"].as_str().unwrap();
    assert!(
        reason.contains("did not verify") && reason.contains("not trusted"),
        "{reason}"
    );
    assert!(r.get("facts").is_none());
    // Kept for the record, and refused to SMEV.
    let dir = std::path::PathBuf::from(r["case_file"].as_str().unwrap());
    assert!(dir.join("response.xml").is_file());
    tokio::time::sleep(Duration::from_millis(200)).await;
    let acks: Vec<_> = h
        .emulator
        .node
        .trace()
        .into_iter()
        .filter(|t| t.operation == "Ack")
        .collect();
    assert_eq!(acks.len(), 1);
    assert!(acks[0].outcome.contains("accepted=false"), "{:?}", acks[0]);
    h.cleanup().await;
}
