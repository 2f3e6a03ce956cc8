//! The adapter interface with plain SOAP over real HTTP, in-process with a
//! gateway on RabbitMQ and the emulator: faults with the adapter's meaning,
//! credentials, Get's queue, every kind of Find, the official `rejects`
//! form, the served WSDL, and every answer valid against mezhved's own
//! schemas (`xmllint --schema`).

mod common;

use std::time::{Duration, Instant};

use common::harness::{Harness, broker_or_skip, prefix, test_settings};
use mezhved::adapter::Rejects;

const TYPES: &str = "urn://x-artefacts-smev-gov-ru/services/service-adapter/types";
const FAULTS: &str = "urn://x-artefacts-smev-gov-ru/services/service-adapter/types/faults";
const ZAGS: &str = r#"<r:Req xmlns:r="urn://x-artefacts-zags-rogdinf/root/112-51/4.0.1"><r:snils>12345678964</r:snils></r:Req>"#;
const SECRET: &str = "0123456789abcdef0123";

struct Adapter {
    h: Harness,
    url: String,
    schema: std::path::PathBuf,
}

async fn start(name: &str, rejects: Rejects) -> Adapter {
    let dir = tempfile::tempdir().unwrap();
    let mut settings = test_settings(dir.path(), &prefix(name));
    settings.adapter.listen = "127.0.0.1:0".into();
    settings.adapter.it_systems = vec!["MNSV03".into(), format!("SECURE1:{SECRET}")];
    settings.adapter.rejects = rejects;
    let h = Harness::start_in(dir, settings).await;
    let running = mezhved::adapter::start(h.gateway.clone())
        .await
        .unwrap()
        .unwrap();
    // One schema importing mezhved's adapter schemas, for xmllint.
    let s = common::root().join("schemas/adapter");
    let schema = h.dir.path().join("adapter-all.xsd");
    std::fs::write(
        &schema,
        format!(
            r#"<?xml version="1.0"?><xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema">
<xs:import namespace="{TYPES}" schemaLocation="{}"/>
<xs:import namespace="{FAULTS}" schemaLocation="{}"/>
<xs:import namespace="urn://mezhved/adapter/1.0" schemaLocation="{}"/>
</xs:schema>"#,
            s.join("smev-service-adapter-types.xsd").display(),
            s.join("smev-service-adapter-faults.xsd").display(),
            s.join("mezhved-adapter.xsd").display(),
        ),
    )
    .unwrap();
    Adapter {
        url: format!("http://{}/transport_1_0_1/", running.addr),
        h,
        schema,
    }
}

fn envelope(body: &str) -> String {
    format!(
        r#"<soap-env:Envelope xmlns:soap-env="http://schemas.xmlsoap.org/soap/envelope/"><soap-env:Body>{body}</soap-env:Body></soap-env:Envelope>"#
    )
}

fn send_body(it: &str, client_id: &str, content: &str, extra_metadata: &str) -> String {
    envelope(&format!(
        r#"<ns0:ClientMessage xmlns:ns0="{TYPES}"><ns0:itSystem>{it}</ns0:itSystem><ns0:RequestMessage><ns0:RequestMetadata><ns0:clientId>{client_id}</ns0:clientId>{extra_metadata}<ns0:testMessage>true</ns0:testMessage></ns0:RequestMetadata><ns0:RequestContent><ns0:content><ns0:MessagePrimaryContent>{content}</ns0:MessagePrimaryContent></ns0:content></ns0:RequestContent></ns0:RequestMessage></ns0:ClientMessage>"#
    ))
}

fn find_body(it: &str, client_id: &str, criteria: &str) -> String {
    envelope(&format!(
        r#"<ns0:FindMessageQuery xmlns:ns0="{TYPES}"><ns0:itSystem>{it}</ns0:itSystem><ns0:specificQuery><ns0:messageClientIdCriteria><ns0:clientId>{client_id}</ns0:clientId><ns0:clientIdCriteria>{criteria}</ns0:clientIdCriteria></ns0:messageClientIdCriteria></ns0:specificQuery></ns0:FindMessageQuery>"#
    ))
}

fn get_body(it: &str, criteria: Option<&str>) -> String {
    let q = criteria
        .map(|c| format!("<ns0:specificQuery><ns0:messageTypeCriteria>{c}</ns0:messageTypeCriteria></ns0:specificQuery>"))
        .unwrap_or_default();
    envelope(&format!(
        r#"<ns0:MessageQuery xmlns:ns0="{TYPES}"><ns0:itSystem>{it}</ns0:itSystem>{q}</ns0:MessageQuery>"#
    ))
}

struct Answer {
    status: u16,
    text: String,
    doc: mezhved::xml::Document,
}

impl Answer {
    fn body_child(&self) -> mezhved::xml::NodeId {
        mezhved::smev::body_child(&self.doc).unwrap()
    }

    /// The fault's element name and code.
    fn fault(&self) -> (String, String) {
        let d = &self.doc;
        let el = d
            .descendants(d.root())
            .into_iter()
            .find(|n| {
                d.element(*n).ns.as_deref() == Some(FAULTS)
                    && d.element(*n).local.ends_with("Fault")
            })
            .unwrap_or_else(|| panic!("no fault: {}", self.text));
        (
            d.element(el).local.clone(),
            d.child_text(el, FAULTS, "code").unwrap_or_default(),
        )
    }

    fn texts(&self, local: &str) -> Vec<String> {
        let d = &self.doc;
        d.descendants(d.root())
            .into_iter()
            .filter(|n| d.element(*n).local == local)
            .map(|n| d.text(n))
            .collect()
    }
}

impl Adapter {
    async fn call(&self, action: &str, body: String, auth: Option<(&str, &str)>) -> Answer {
        let mut req = reqwest::Client::new()
            .post(&self.url)
            .header("Content-Type", "text/xml; charset=utf-8")
            .header("SOAPAction", format!("\"{action}\""));
        if let Some((u, p)) = auth {
            req = req.basic_auth(u, Some(p));
        }
        let r = req.body(body).send().await.unwrap();
        let status = r.status().as_u16();
        let text = r.text().await.unwrap();
        let doc = mezhved::xml::parse(text.as_bytes()).unwrap_or_else(|e| panic!("{e}: {text}"));
        let a = Answer { status, text, doc };
        // Whatever mezhved answers is valid against its own schemas.
        let child = a.body_child();
        let target = if a.doc.element(child).local == "Fault" {
            a.doc
                .child_elements(
                    a.doc.descendants(child)[1..]
                        .iter()
                        .copied()
                        .find(|n| a.doc.element(*n).local == "detail")
                        .unwrap(),
                )
                .next()
                .unwrap()
        } else {
            child
        };
        let alone = mezhved::pipeline::vs::standalone_xml(&a.doc, target);
        // An empty queue is the adapter's empty QueryResult.
        if !(a.doc.element(target).local == "QueryResult"
            && a.doc.child_elements(target).next().is_none())
        {
            common::xmllint_validate(alone.as_bytes(), &self.schema);
        }
        a
    }

    async fn send(&self, it: &str, client_id: &str, content: &str) -> Answer {
        self.call("urn:Send", send_body(it, client_id, content, ""), None)
            .await
    }

    /// Find by the request's clientId until a PrimaryMessage comes.
    async fn answer(&self, client_id: &str) -> Answer {
        let start = Instant::now();
        loop {
            let a = self
                .call(
                    "urn:Find",
                    find_body("MNSV03", client_id, "GET_RESPONSE_BY_REQUEST_CLIENTID"),
                    None,
                )
                .await;
            assert_eq!(a.status, 200, "{}", a.text);
            if a.texts("messageType").iter().any(|t| t == "PrimaryMessage") {
                return a;
            }
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "no answer: {}",
                a.text
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn faults_have_the_adapters_meaning() {
    if !broker_or_skip("adapter_soap").await {
        return;
    }
    let a = start("adapter-faults", Rejects::Content).await;
    let cid = uuid::Uuid::new_v4().to_string();
    let cases = [
        (a.send("NOBODY", &cid, ZAGS).await, "ValidationFault", "UNKNOWN_IT_SYSTEM"),
        (a.send("SECURE1", &cid, ZAGS).await, "ValidationFault", "AUTHENTICATION_FAILED"),
        (
            a.call("urn:Send", send_body("SECURE1", &cid, ZAGS, ""), Some(("SECURE1", "wrong-secret-of-20ch"))).await,
            "ValidationFault",
            "AUTHENTICATION_FAILED",
        ),
        (
            a.call("urn:Find", send_body("MNSV03", &cid, ZAGS, ""), None).await,
            "ValidationFault",
            "INVALID_MESSAGE",
        ),
        (a.send("MNSV03", &cid, "<a><b/></a>").await, "ValidationFault", "INVALID_CONTENT"),
        (
            a.call(
                "urn:Send",
                send_body("MNSV03", &cid, ZAGS, "<ns0:RoutingInformation/>").replace(
                    "<ns0:RoutingInformation/><ns0:testMessage>true</ns0:testMessage>",
                    "<ns0:testMessage>true</ns0:testMessage><ns0:RoutingInformation/>",
                ),
                None,
            )
            .await,
            "ValidationFault",
            "NOT_SUPPORTED",
        ),
        (
            a.call(
                "urn:Send",
                envelope(&format!(r#"<ns0:ClientMessage xmlns:ns0="{TYPES}"><ns0:itSystem>MNSV03</ns0:itSystem><ns0:ResponseMessage><ns0:ResponseMetadata><ns0:clientId>x</ns0:clientId><ns0:replyToClientId>y</ns0:replyToClientId></ns0:ResponseMetadata><ns0:ResponseContent><ns0:content><ns0:MessagePrimaryContent>{ZAGS}</ns0:MessagePrimaryContent></ns0:content></ns0:ResponseContent></ns0:ResponseMessage></ns0:ClientMessage>"#)),
                None,
            )
            .await,
            "ValidationFault",
            "NOT_A_PROVIDER",
        ),
    ];
    for (answer, element, code) in &cases {
        assert_eq!(answer.status, 500, "{}", answer.text);
        assert_eq!(
            answer.fault(),
            (element.to_string(), code.to_string()),
            "{}",
            answer.text
        );
    }
    assert_eq!(a.h.sent_requests(), 0, "nothing refused went to SMEV");

    // With its credentials the secured system is served.
    let ok = a
        .call(
            "urn:Send",
            send_body("SECURE1", &cid, ZAGS, ""),
            Some(("SECURE1", SECRET)),
        )
        .await;
    assert_eq!(ok.status, 200, "{}", ok.text);
    // The same clientId with another message is the client's mistake.
    let other = a
        .call(
            "urn:Send",
            send_body(
                "SECURE1",
                &cid,
                &ZAGS.replace("12345678964", "11223344595"),
                "",
            ),
            Some(("SECURE1", SECRET)),
        )
        .await;
    assert_eq!(
        other.fault(),
        ("ValidationFault".into(), "CLIENT_ID_REUSED".into())
    );

    // A gateway that stops cannot record: SystemFault, try again.
    a.h.stop_gateway().await;
    let stopped = a
        .send("MNSV03", &uuid::Uuid::new_v4().to_string(), ZAGS)
        .await;
    assert_eq!(stopped.fault().0, "SystemFault", "{}", stopped.text);
    a.h.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn find_get_and_the_served_wsdl() {
    if !broker_or_skip("adapter_soap").await {
        return;
    }
    let a = start("adapter-find", Rejects::Content).await;
    let from = mezhved::clock::rfc3339(mezhved::clock::now() - time::Duration::seconds(5));
    let cid = uuid::Uuid::new_v4().to_string();
    let sent = a.send("MNSV03", &cid, ZAGS).await;
    assert_eq!(sent.status, 200, "{}", sent.text);
    assert_eq!(sent.texts("itSystem"), vec!["MNSV03"]);
    let message_id = sent.texts("MessageId")[0].clone();

    let answer = a.answer(&cid).await;
    assert!(
        answer.text.contains("ns2:ResponseMessageType"),
        "{}",
        answer.text
    );
    assert!(answer.text.contains("СМИРНОВА"), "{}", answer.text);
    assert_eq!(answer.texts("Recipient")[0], "MNSV03");
    assert_eq!(answer.texts("OriginalMessageID")[0], message_id);
    assert_eq!(answer.texts("replyToClientId"), vec![cid.clone()]);
    let answer_client_id = answer.texts("clientId")[0].clone();
    assert_ne!(answer_client_id, cid);

    // The answer by its own clientId, and the request by the request's.
    let by_answer = a
        .call(
            "urn:Find",
            find_body(
                "MNSV03",
                &answer_client_id,
                "GET_RESPONSE_BY_RESPONSE_CLIENTID",
            ),
            None,
        )
        .await;
    assert!(by_answer.text.contains("СМИРНОВА"), "{}", by_answer.text);
    let request = a
        .call(
            "urn:Find",
            find_body("MNSV03", &cid, "GET_REQUEST_BY_REQUEST_CLIENTID"),
            None,
        )
        .await;
    assert!(
        request.text.contains("ns2:RequestMessageType") && request.text.contains("12345678964"),
        "{}",
        request.text
    );
    // Another system sees none of it.
    let other = a
        .call(
            "urn:Find",
            find_body("SECURE1", &cid, "GET_RESPONSE_BY_REQUEST_CLIENTID"),
            Some(("SECURE1", SECRET)),
        )
        .await;
    assert!(other.texts("QueryResult").is_empty(), "{}", other.text);

    // By period: the request and its answer.
    let period = a
        .call(
            "urn:Find",
            envelope(&format!(r#"<ns0:FindMessageQuery xmlns:ns0="{TYPES}"><ns0:itSystem>MNSV03</ns0:itSystem><ns0:specificQuery><ns0:messagePeriodCriteria><ns0:from>{from}</ns0:from></ns0:messagePeriodCriteria></ns0:specificQuery></ns0:FindMessageQuery>"#)),
            None,
        )
        .await;
    assert!(
        period.text.contains("RequestMessageType") && period.text.contains("ResponseMessageType"),
        "{}",
        period.text
    );

    // Get: the answer once, then an empty queue; requests are never there.
    let got = a
        .call("urn:Get", get_body("MNSV03", Some("RESPONSE")), None)
        .await;
    assert!(got.text.contains("СМИРНОВА"), "{}", got.text);
    let again = a.call("urn:Get", get_body("MNSV03", None), None).await;
    assert!(
        again
            .doc
            .child_elements(again.body_child())
            .next()
            .is_none(),
        "{}",
        again.text
    );
    let requests = a
        .call("urn:Get", get_body("MNSV03", Some("REQUEST")), None)
        .await;
    assert!(
        requests
            .doc
            .child_elements(requests.body_child())
            .next()
            .is_none()
    );

    // The WSDL names this endpoint and finds its schemas here.
    let wsdl = reqwest::get(format!("{}?wsdl", a.url))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(wsdl.contains(&format!("location=\"{}\"", a.url)), "{wsdl}");
    assert!(
        wsdl.contains(&format!(
            "schemaLocation=\"{}?xsd=smev-service-adapter-types.xsd\"",
            a.url
        )),
        "{wsdl}"
    );
    assert!(wsdl.contains(r#"soapAction="urn:Send""#));
    let xsd = reqwest::get(format!("{}?xsd=smev-service-adapter-types.xsd", a.url))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(xsd.contains(r#"name="ClientMessage""#), "{xsd}");
    a.h.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn rejects_are_business_xml_by_default_and_official_on_request() {
    if !broker_or_skip("adapter_soap").await {
        return;
    }
    let nobody = r#"<q:Query xmlns:q="urn://example/nobody-answers/1.0"><q:id>7</q:id></q:Query>"#;
    for mode in [Rejects::Content, Rejects::Official] {
        let a = start("adapter-rejects", mode).await;
        let cid = uuid::Uuid::new_v4().to_string();
        assert_eq!(a.send("MNSV03", &cid, nobody).await.status, 200);
        let answer = a.answer(&cid).await;
        match mode {
            Rejects::Content => {
                assert!(
                    answer.text.contains("urn://mezhved/adapter/1.0"),
                    "{}",
                    answer.text
                );
                assert_eq!(answer.texts("verdict"), vec!["rejected"]);
                assert!(!answer.text.contains(":rejects"), "{}", answer.text);
            }
            Rejects::Official => {
                let codes: Vec<String> = answer
                    .texts("code")
                    .into_iter()
                    .filter(|c| c == "NO_DATA")
                    .collect();
                assert_eq!(codes, vec!["NO_DATA"], "{}", answer.text);
                assert!(answer.text.contains(":rejects"), "{}", answer.text);
            }
        }
        a.h.cleanup().await;
    }
}
