//! Kind `vs` on a real RabbitMQ against the emulator over real HTTP: any
//! VS's business XML goes out as given and the provider's comes back in the
//! reply; SMEV's status messages reach the request they name; SMEV's queue
//! depth is on /metrics and the dashboard.

mod common;

use std::time::{Duration, Instant};

use common::daemon::Setup;
use common::harness::{Client, Harness, broker_or_skip, prefix, test_settings};
use serde_json::{Value, json};

const WAIT: Duration = Duration::from_secs(30);
const ZAGS_NS: &str = "urn://x-artefacts-zags-rogdinf/root/112-51/4.0.1";

fn vs_request(case: &str, content: &str) -> Value {
    json!({
        "request_id": uuid::Uuid::new_v4().to_string(),
        "case_id": case,
        "kind": "vs",
        "test": true,
        "vs": { "content": content, "transaction_code": "TC-0001", "node_id": "NODE1" }
    })
}

fn zags(snils: &str) -> String {
    format!(r#"<r:Req xmlns:r="{ZAGS_NS}"><r:snils>{snils}</r:snils></r:Req>"#)
}

fn journal_events(dir: &std::path::Path) -> Vec<String> {
    let text = std::fs::read_to_string(dir.parent().unwrap().join("journal.jsonl")).unwrap();
    text.lines()
        .map(|l| {
            serde_json::from_str::<Value>(l).unwrap()["event"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_vs_request_gets_the_providers_business_xml_back_with_a_complete_case_file() {
    if !broker_or_skip("vs_amqp").await {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mut settings = test_settings(dir.path(), &prefix("vs"));
    // The answer comes after SMEV's status, which is polled often.
    settings.emulator.answer_delay_ms = 1500;
    settings.smev_status.get_status_secs = 0.2;
    let h = Harness::start_in(dir, settings).await;
    let client = Client::connect().await;
    let reply_q = client.reply_queue().await;

    let egrul = r#"<e:FNSVipULRequest xmlns:e="urn://x-artefacts-fns-vipul-tosmv-ru/311-14/4.0.6" ИдДок="0b1f6c2e-6e1d-4d8c-9a41-3c2b9e01aa01"><e:ЗапросЮЛ><e:ОГРН>1144703001233</e:ОГРН></e:ЗапросЮЛ></e:FNSVipULRequest>"#;
    let cases = [
        ("LO-VS-1", zags("12345678964"), "answered"),
        ("LO-VS-2", zags("11223344595"), "rejected"),
        (
            "LO-VS-3",
            r#"<q:Query xmlns:q="urn://example/nobody-answers/1.0"><q:id>7</q:id></q:Query>"#
                .to_owned(),
            "rejected",
        ),
        ("LO-VS-4", egrul.to_owned(), "found"),
    ];
    for (case, content, _) in &cases {
        let msg = vs_request(case, content);
        client
            .publish(
                &h.settings.amqp.queue_requests(),
                msg.to_string().as_bytes(),
                Some(&reply_q),
                Some(case),
            )
            .await;
    }
    let replies = client.take(&reply_q, cases.len(), WAIT).await;
    assert_eq!(replies.len(), cases.len(), "every request gets a reply");
    for r in &replies {
        let case = r.correlation_id.clone().unwrap();
        let (_, content, verdict) = cases.iter().find(|c| c.0 == case).unwrap();
        let b = &r.body;
        assert_eq!(b["kind"], "vs", "{b}");
        assert_eq!(b["verdict"], *verdict, "{case}: {b}");
        let dir = std::path::PathBuf::from(b["case_file"].as_str().unwrap());
        for f in [
            "request.json",
            "send-request.xml",
            "response.xml",
            "result.json",
        ] {
            assert!(dir.join(f).is_file(), "{case}: {f} missing");
        }
        // The signed envelope carries the business XML as given, and the
        // SMEV fields of the request.
        let envelope = std::fs::read_to_string(dir.join("send-request.xml")).unwrap();
        let business = mezhved::xml::parse(content.as_bytes()).unwrap();
        let local = &business.element(business.root()).local;
        assert!(envelope.contains(&format!(":{local}")), "{envelope}");
        assert!(
            envelope.contains(">TC-0001</") && envelope.contains(">NODE1</"),
            "{envelope}"
        );
        let events = journal_events(&dir);
        for e in ["accepted", "signed", "answered"] {
            assert!(
                events.iter().any(|x| x == e),
                "{case}: no {e} in {events:?}"
            );
        }
        match *verdict {
            "answered" => {
                let answer = b["answer_xml"]
                    .as_str()
                    .expect("the business XML comes back");
                let doc = mezhved::xml::parse(answer.as_bytes()).unwrap();
                assert!(doc.element(doc.root()).is(ZAGS_NS, "Response"), "{answer}");
                assert!(answer.contains("СМИРНОВА"), "{answer}");
                assert_eq!(b["smev_outcome"]["type"], "content");
                assert_eq!(b["smev_outcome"]["namespace"], ZAGS_NS);
                assert_eq!(b["fallback_required"], false);
            }
            "rejected" => {
                assert_eq!(b["smev_outcome"]["type"], "rejects", "{b}");
                assert_eq!(b["smev_outcome"]["rejects"][0]["code"], "NO_DATA", "{b}");
                assert_eq!(b["rejection"]["by"], "agency");
                assert!(b.get("answer_xml").is_none());
            }
            _ => {
                // A VS mezhved knows also gets its normal verdict.
                assert_eq!(b["facts"]["ogrn"], "1144703001233", "{b}");
                assert!(
                    b["answer_xml"]
                        .as_str()
                        .unwrap()
                        .contains("FNSVipULResponse")
                );
            }
        }
        // SMEV's status about the request reached it before the answer:
        // in the result, the journal and a document of its own.
        let statuses = b["smev_statuses"]
            .as_array()
            .unwrap_or_else(|| panic!("{case}: {b}"));
        assert_eq!(statuses[0]["category"], "requestIsAcceptedBySmev", "{b}");
        assert_eq!(statuses[0]["source"], "GetStatus");
        assert!(events.iter().any(|e| e == "smev_status"), "{events:?}");
        let status = std::fs::read_to_string(dir.join("status-1.xml")).unwrap();
        let mid = b["message_id"].as_str().unwrap();
        assert!(
            status.contains(mid),
            "the status names the request's MessageID"
        );
    }
    h.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn bad_vs_requests_are_refused_with_a_reason() {
    if !broker_or_skip("vs_amqp").await {
        return;
    }
    let h = Harness::start(&prefix("vs-bad")).await;
    let client = Client::connect().await;
    let bad = [
        ("<a><b/></a>", "no namespace"),
        (
            r#"<!DOCTYPE a [<!ENTITY x SYSTEM "file:///etc/passwd">]><a:a xmlns:a="urn://x">&x;</a:a>"#,
            "DTD",
        ),
        (
            r#"<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"/>"#,
            "envelope",
        ),
        ("<a:a xmlns:a=\"urn://x\">", "not acceptable"),
    ];
    for (content, _) in &bad {
        let msg = vs_request("LO-VS-BAD", content);
        client
            .publish(
                &h.settings.amqp.queue_requests(),
                msg.to_string().as_bytes(),
                None,
                None,
            )
            .await;
    }
    let letters = client
        .take(&h.settings.amqp.queue_dead(), bad.len(), WAIT)
        .await;
    assert_eq!(letters.len(), bad.len());
    // Handled side by side, so the letters come in any order: each one
    // is matched to its request by the content it kept.
    for (content, why) in &bad {
        let l = letters
            .iter()
            .find(|l| {
                let original = l.body["original"].as_str().unwrap_or_default();
                serde_json::from_str::<serde_json::Value>(original)
                    .is_ok_and(|v| v["vs"]["content"] == *content)
            })
            .unwrap_or_else(|| panic!("{why}: no letter for {content}"));
        assert_eq!(l.body["reason"]["field"], "vs.content", "{}", l.body);
        let m = l.body["reason"]["message"].as_str().unwrap();
        assert!(m.contains(why), "{why}: {m}");
    }
    assert_eq!(h.sent_requests(), 0, "nothing refused is sent");
    h.cleanup().await;
}

async fn get_json(http: &reqwest::Client, url: &str) -> Value {
    let text = http.get(url).send().await.unwrap().text().await.unwrap();
    serde_json::from_str(&text).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn smevs_queue_depth_is_on_the_metrics_and_the_dashboard() {
    if !broker_or_skip("vs_amqp").await {
        return;
    }
    let setup = Setup::new_with(&prefix("vs-queue"), |s| {
        // The answer waits in SMEV's queue for a while.
        s.emulator.answer_delay_ms = 4000;
    })
    .await;
    let d = setup.spawn(&[("MEZHVED__SMEV_STATUS__QUEUE_STATISTICS_SECS", "0.2")]);
    let base = d.ops_url();
    let client = Client::connect().await;
    let msg = vs_request("LO-VS-Q", &zags("12345678964"));
    client
        .publish(
            &setup.settings.amqp.queue_requests(),
            msg.to_string().as_bytes(),
            None,
            None,
        )
        .await;
    let http = reqwest::Client::new();
    let start = Instant::now();
    let (mut on_metrics, mut on_dashboard) = (false, false);
    while !(on_metrics && on_dashboard) {
        assert!(
            start.elapsed() < WAIT,
            "SMEV's queue depth never showed 1 (metrics {on_metrics}, dashboard {on_dashboard})"
        );
        let m = http
            .get(format!("{base}/metrics"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        on_metrics |= m
            .lines()
            .any(|l| l.starts_with("mezhved_smev_queue_messages{") && l.trim_end().ends_with(" 1"));
        let dash = get_json(&http, &format!("{base}/api/dashboard")).await;
        on_dashboard |= dash["smev_queue"]["total"] == 1;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // And back to 0 once the answer is taken and acknowledged.
    let start = Instant::now();
    loop {
        let dash = get_json(&http, &format!("{base}/api/dashboard")).await;
        if dash["smev_queue"]["total"] == 0 {
            break;
        }
        assert!(
            start.elapsed() < WAIT,
            "the queue never emptied: {}",
            dash["smev_queue"]
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    drop(d);
    setup.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn business_xml_is_checked_against_the_schema_configured_for_its_namespace() {
    if !broker_or_skip("vs_amqp").await {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let xsd = dir.path().join("zags.xsd");
    std::fs::write(
        &xsd,
        format!(
            r#"<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema" targetNamespace="{ZAGS_NS}" elementFormDefault="qualified">
  <xs:element name="Req"><xs:complexType><xs:sequence>
    <xs:element name="snils"><xs:simpleType><xs:restriction base="xs:string"><xs:pattern value="[0-9]{{11}}"/></xs:restriction></xs:simpleType></xs:element>
  </xs:sequence></xs:complexType></xs:element>
</xs:schema>"#
        ),
    )
    .unwrap();
    let mut settings = test_settings(dir.path(), &prefix("vs-xsd"));
    settings.vs.schemas.insert(ZAGS_NS.into(), xsd);
    settings.adapter.listen = "127.0.0.1:0".into();
    settings.adapter.it_systems = vec!["MNSV03".into()];
    let h = Harness::start_in(dir, settings).await;
    let client = Client::connect().await;
    let reply_q = client.reply_queue().await;
    let q = h.settings.amqp.queue_requests();
    for content in [
        zags("12345678964"),
        zags("123-456"),
        format!(r#"<r:Other xmlns:r="{ZAGS_NS}"/>"#),
    ] {
        let msg = vs_request("LO-VS-XSD", &content);
        client
            .publish(&q, msg.to_string().as_bytes(), Some(&reply_q), None)
            .await;
    }
    // The two refused ones are answered at once (refused replies), the
    // valid one once SMEV answers it.
    let replies = client.take(&reply_q, 3, WAIT).await;
    let verdicts: Vec<&str> = replies
        .iter()
        .map(|r| r.body["verdict"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(
        verdicts.iter().filter(|v| **v == "answered").count(),
        1,
        "the valid one is sent: {verdicts:?}"
    );
    assert_eq!(
        verdicts.iter().filter(|v| **v == "refused").count(),
        2,
        "the others are refused: {verdicts:?}"
    );
    let letters = client.take(&h.settings.amqp.queue_dead(), 2, WAIT).await;
    assert_eq!(letters.len(), 2);
    for l in &letters {
        assert_eq!(l.body["reason"]["code"], "schema_violation", "{}", l.body);
        assert_eq!(l.body["reason"]["field"], "vs.content");
    }
    assert!(
        letters.iter().any(|l| {
            let m = l.body["reason"]["message"].as_str().unwrap_or_default();
            m.contains("snils") && m.contains("zags.xsd")
        }),
        "the violation is named"
    );
    // The adapter interface refuses the same with a ValidationFault.
    let running = mezhved::adapter::start(h.gateway.clone())
        .await
        .unwrap()
        .unwrap();
    let body = format!(
        r#"<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><t:ClientMessage xmlns:t="urn://x-artefacts-smev-gov-ru/services/service-adapter/types"><t:itSystem>MNSV03</t:itSystem><t:RequestMessage><t:RequestMetadata><t:clientId>x-1</t:clientId></t:RequestMetadata><t:RequestContent><t:content><t:MessagePrimaryContent>{}</t:MessagePrimaryContent></t:content></t:RequestContent></t:RequestMessage></t:ClientMessage></s:Body></s:Envelope>"#,
        zags("123-456")
    );
    let r = reqwest::Client::new()
        .post(format!("http://{}/", running.addr))
        .header("SOAPAction", "urn:Send")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 500);
    let text = r.text().await.unwrap();
    assert!(
        text.contains("ValidationFault") && text.contains("SCHEMA_VIOLATION"),
        "{text}"
    );
    assert_eq!(h.sent_requests(), 1, "only the valid request reached SMEV");
    h.cleanup().await;
}
