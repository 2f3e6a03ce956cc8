//! The emulator as any SMEV 3 client sees it: plain SOAP over HTTP, no
//! mezhved pipeline in between. Its answers are checked by tools outside
//! mezhved (`xmllint --schema`, `openssl dgst`, the `mezhved verify`
//! command), its refusals against the faults schema.

mod common;

use std::path::Path;
use std::time::Duration;

use common::harness::{fresh_inn, prefix, test_settings};
use common::*;
use mezhved::config::Settings;
use mezhved::emulator::{self, Running, SchemaErrors};
use mezhved::lookup::Registry;
use mezhved::request::Kind;
use mezhved::smev::{self, FaultKind, Operation, ResponseContent, SmevError, Version};
use mezhved::xml::{self, Document};
use mezhved::xmldsig::{self, SignatureAlgorithm, SigningKey, TrustStore, VerifyPolicy};
use time::OffsetDateTime;
use uuid::Uuid;

/// A consumer information system talking to the emulator.
struct Consumer {
    http: reqwest::Client,
    endpoint: String,
    key: SigningKey,
    v: Version,
    registry: Registry,
}

/// One message from the response queue, as bytes and parsed.
struct Answer {
    bytes: Vec<u8>,
    doc: Document,
    resp: smev::IncomingResponse,
}

impl Consumer {
    fn new(emulator: &Running, settings: &Settings, v: Version) -> Self {
        Self::at(emulator.endpoint(), settings, v)
    }

    fn at(endpoint: String, settings: &Settings, v: Version) -> Self {
        Consumer {
            http: reqwest::Client::new(),
            endpoint,
            key: SigningKey::generate(SignatureAlgorithm::RsaSha256, "consumer", 1).unwrap(),
            v,
            registry: Registry::new(&settings.lookup),
        }
    }

    async fn post(&self, action: &str, body: Vec<u8>) -> (u16, Vec<u8>) {
        let r = self
            .http
            .post(&self.endpoint)
            .header("Content-Type", "text/xml; charset=utf-8")
            .header("SOAPAction", format!("\"{action}\""))
            .body(body)
            .send()
            .await
            .unwrap();
        (r.status().as_u16(), r.bytes().await.unwrap().to_vec())
    }

    /// The business request of `kind` about `id`.
    fn business(&self, kind: Kind, id: &str) -> Document {
        let req = lookup_request(kind, id);
        self.registry
            .get(kind)
            .build_request(&req, &req.request_id.to_string())
    }

    /// A signed `SendRequestRequest`.
    fn envelope(&self, business: &Document, mid: &Uuid, eol: Option<OffsetDateTime>) -> Vec<u8> {
        let doc = smev::send_request(self.v, mid, business, true, eol, false)
            .sign(&self.key, None)
            .unwrap();
        xml::to_bytes(&doc)
    }

    async fn send_bytes(&self, envelope: Vec<u8>) -> Result<smev::Accepted, SmevError> {
        let (status, body) = self
            .post(Operation::SendRequest.soap_action(), envelope)
            .await;
        let doc = xml::parse(&body).unwrap();
        let r = smev::parse_send_request_response(&doc);
        assert_eq!(status, if r.is_ok() { 200 } else { 500 }, "{r:?}");
        r
    }

    async fn send(&self, kind: Kind, id: &str) -> (Uuid, smev::Accepted) {
        let mid = smev::new_message_id();
        let accepted = self
            .send_bytes(self.envelope(&self.business(kind, id), &mid, None))
            .await
            .unwrap();
        (mid, accepted)
    }

    async fn get_response(&self, selector: Option<(&str, &str)>) -> Option<Answer> {
        let (mut doc, target, container) =
            smev::get_response_request(self.v, mezhved::clock::now(), selector);
        xmldsig::sign_element(
            &mut doc,
            target,
            container,
            &self.key,
            xmldsig::ReferenceTransforms::Smev,
        )
        .unwrap();
        let (status, bytes) = self
            .post(Operation::GetResponse.soap_action(), xml::to_bytes(&doc))
            .await;
        assert_eq!(status, 200, "{}", String::from_utf8_lossy(&bytes));
        let doc = xml::parse(&bytes).unwrap();
        let resp = smev::parse_get_response_response(&doc).unwrap()?;
        Some(Answer { bytes, doc, resp })
    }

    /// Polls until an answer comes (at most 5 s).
    async fn next_answer(&self, selector: Option<(&str, &str)>) -> Answer {
        for _ in 0..100 {
            if let Some(a) = self.get_response(selector).await {
                return a;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("no answer within 5 s");
    }

    async fn ack(&self, message_id: &str, accepted: bool) -> Result<(), SmevError> {
        let (mut doc, target, container) = smev::ack_request(self.v, message_id, accepted);
        xmldsig::sign_element(
            &mut doc,
            target,
            container,
            &self.key,
            xmldsig::ReferenceTransforms::Smev,
        )
        .unwrap();
        let (_, bytes) = self
            .post(Operation::Ack.soap_action(), xml::to_bytes(&doc))
            .await;
        smev::parse_ack_response(&xml::parse(&bytes).unwrap())
    }

    async fn status(&self) -> Option<smev::IncomingStatus> {
        let (mut doc, target, container) = smev::get_status_request(self.v, mezhved::clock::now());
        xmldsig::sign_element(
            &mut doc,
            target,
            container,
            &self.key,
            xmldsig::ReferenceTransforms::Smev,
        )
        .unwrap();
        let (status, bytes) = self
            .post(Operation::GetStatus.soap_action(), xml::to_bytes(&doc))
            .await;
        assert_eq!(status, 200, "{}", String::from_utf8_lossy(&bytes));
        smev::parse_get_status_response(&xml::parse(&bytes).unwrap()).unwrap()
    }
}

async fn start(
    name: &str,
    adjust: impl FnOnce(&mut Settings),
) -> (tempfile::TempDir, Settings, Running) {
    let dir = tempfile::tempdir().unwrap();
    let mut s = test_settings(dir.path(), &prefix(name));
    s.emulator.answer_delay_ms = 0;
    adjust(&mut s);
    let running = emulator::start(&s, "127.0.0.1:0", &s.emulator.data.clone())
        .await
        .unwrap();
    (dir, s, running)
}

fn fault_kind(r: Result<impl std::fmt::Debug, SmevError>) -> FaultKind {
    match r {
        Err(SmevError::Fault(f)) => f.kind,
        other => panic!("expected a SOAP fault, got {other:?}"),
    }
}

/// A subject of each kind that the fixtures answer with data.
const FOUND: [(Kind, &str); 5] = [
    (Kind::Egrul, "4703123451"),
    (Kind::Egrip, "470312345687"),
    (Kind::TaxDebt, "4703123451"),
    (Kind::UnreliableSupplier, "7812345675"),
    (Kind::ForeignAgent, "7705678126"),
];

/// `mezhved verify` with the emulator's certificate as the only trust.
fn mezhved_verify(xml: &[u8], certificate: &Path) -> String {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("answer.xml");
    std::fs::write(&file, xml).unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_mezhved"))
        .arg("verify")
        .arg(&file)
        .arg("--trust")
        .arg(certificate)
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "mezhved verify refused the emulator's answer:\n{text}"
    );
    text
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_lookup_gets_a_schema_valid_answer_signed_by_the_emulator() {
    let (dir, settings, emu) = start("smev-answers", |_| {}).await;
    let trust = TrustStore::from_pem_files(std::slice::from_ref(&emu.certificate)).unwrap();
    for v in [Version::V1_1, Version::V1_2, Version::V1_3] {
        let c = Consumer::new(&emu, &settings, v);
        for (kind, id) in FOUND {
            let (mid, accepted) = c.send(kind, id).await;
            assert!(
                accepted.sending_timestamp.is_some(),
                "{v:?} {kind}: SendingTimestamp"
            );
            let lookup = c.registry.get(kind);
            let a = c
                .next_answer(Some((lookup.namespace(), lookup.response_root())))
                .await;
            assert_eq!(
                a.resp.original_message_id.as_deref(),
                Some(mid.to_string().as_str())
            );
            let ResponseContent::Primary(root) = a.resp.content else {
                panic!(
                    "{v:?} {kind}: expected business data, got {:?}",
                    a.resp.content
                );
            };
            assert_eq!(a.doc.element(root).local, lookup.response_root());

            // The whole message against the official schemas (1.2 has none here).
            let schema_version = match v {
                Version::V1_1 => Some("1.1"),
                Version::V1_2 => None,
                Version::V1_3 => Some("1.3"),
            };
            if let Some(sv) = schema_version {
                let schema = envelope_schema(
                    dir.path(),
                    sv,
                    &[(lookup.namespace(), business_schema(kind))],
                );
                xmllint_validate(&a.bytes, &schema);
            }
            // The business answer alone, against its own schema.
            xmllint_validate(
                xml::element_to_string(&a.doc, root).as_bytes(),
                &business_schema(kind),
            );

            // SMEV's signature: mezhved's verifier with the certificate pinned,
            // then openssl on its own.
            let policy = VerifyPolicy {
                trust: Some(&trust),
                at: mezhved::clock::now(),
                allow_exc_c14n_only: false,
            };
            xmldsig::verify(
                &a.doc,
                a.resp.smev_signature.unwrap(),
                a.resp.response,
                &policy,
            )
            .unwrap();
            let transformed = xmldsig::transform::transform(&a.doc, a.resp.response).unwrap();
            verify_with_openssl(&a.bytes, &transformed);
            if v == Version::V1_3 && kind == Kind::Egrul {
                let report = mezhved_verify(&a.bytes, &emu.certificate);
                assert!(report.contains("SMEVSignature"), "{report}");
            }
            c.ack(a.resp.message_id.as_deref().unwrap(), true)
                .await
                .unwrap();
        }
    }
    // The trace shows every request and every answer by MessageID.
    let trace = emu.node.trace();
    assert_eq!(
        trace
            .iter()
            .filter(|t| t.operation == "SendRequest")
            .count(),
        15
    );
    assert_eq!(
        trace
            .iter()
            .filter(|t| t.operation == "Ack" && t.outcome == "ack accepted")
            .count(),
        15
    );
    emu.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn send_request_is_refused_the_way_smev_refuses_it() {
    // A node where an unregistered business type is refused at once (the
    // default answers it NO_DATA: tests/vs_amqp.rs).
    let (dir, settings, emu) = start("smev-refusals", |s| {
        s.emulator.unknown_vs = mezhved::emulator::UnknownVs::NotSupported;
    })
    .await;
    let c = Consumer::new(&emu, &settings, Version::V1_3);
    let egrul = c.business(Kind::Egrul, "4703123451");
    let now = mezhved::clock::now();
    let schema = envelope_schema(dir.path(), "1.3", &[]);
    // Sends `envelope` with `action`, expects the fault `kind` in a message
    // the official faults schema accepts.
    let refused = |action: Operation, envelope: Vec<u8>, kind: FaultKind| {
        let c = &c;
        let schema = schema.clone();
        async move {
            let (status, body) = c.post(action.soap_action(), envelope).await;
            assert_eq!(status, 500, "{kind}: {}", String::from_utf8_lossy(&body));
            let r = smev::parse_send_request_response(&xml::parse(&body).unwrap());
            assert_eq!(fault_kind(r), kind);
            xmllint_validate(&body, &schema);
        }
    };
    let send = Operation::SendRequest;

    // Not a UUID version 1.
    refused(
        send,
        c.envelope(&egrul, &Uuid::new_v4(), None),
        FaultKind::InvalidMessageIdFormat,
    )
    .await;
    // A version-1 UUID from two days ago.
    let two_days_ago = (now - time::Duration::days(2)).unix_timestamp() as u64;
    let ts =
        uuid::Timestamp::from_unix(uuid::timestamp::context::ContextV1::new(7), two_days_ago, 0);
    let stale = Uuid::new_v1(ts, &[1, 2, 3, 4, 5, 6]);
    refused(
        send,
        c.envelope(&egrul, &stale, None),
        FaultKind::StaleMessageId,
    )
    .await;
    // The same MessageID twice.
    let mid = smev::new_message_id();
    c.send_bytes(c.envelope(&egrul, &mid, None)).await.unwrap();
    refused(
        send,
        c.envelope(&egrul, &mid, None),
        FaultKind::MessageIsAlreadySent,
    )
    .await;
    // EOL in the past.
    let eol = Some(now - time::Duration::minutes(5));
    refused(
        send,
        c.envelope(&egrul, &smev::new_message_id(), eol),
        FaultKind::EndOfLifeReached,
    )
    .await;
    // A business namespace SMEV does not know.
    let unknown = xml::parse(b"<q:Query xmlns:q=\"urn://example/unregistered/1.0\"/>").unwrap();
    let env = c.envelope(&unknown, &smev::new_message_id(), None);
    refused(send, env, FaultKind::BusinessDataTypeIsNotSupported).await;
    // A signature that does not verify, and none at all.
    let signed = String::from_utf8(c.envelope(&egrul, &smev::new_message_id(), None)).unwrap();
    let at = signed.find("SignatureValue>").unwrap() + "SignatureValue>".len();
    let mut tampered = signed.into_bytes();
    tampered[at] = if tampered[at] == b'A' { b'B' } else { b'A' };
    refused(send, tampered, FaultKind::SignatureVerificationFault).await;
    let unsigned = smev::send_request(
        Version::V1_3,
        &smev::new_message_id(),
        &egrul,
        true,
        None,
        false,
    );
    refused(
        send,
        xml::to_bytes(&unsigned.doc),
        FaultKind::SignatureVerificationFault,
    )
    .await;
    // A SOAPAction that names another operation.
    let env = c.envelope(&egrul, &smev::new_message_id(), None);
    refused(Operation::Ack, env, FaultKind::InvalidContent).await;
    // A DOCTYPE in the request is refused, its entity never read.
    let doctype = b"<?xml version=\"1.0\"?><!DOCTYPE e [<!ENTITY x SYSTEM \"file:///etc/passwd\">]><e>&x;</e>";
    refused(send, doctype.to_vec(), FaultKind::InvalidContent).await;

    // The tester sees each refusal in the trace, with the MessageID where
    // one could be read.
    let trace = emu.node.trace();
    for (id, fault) in [
        (mid.to_string(), "MessageIsAlreadySent"),
        (stale.to_string(), "StaleMessageId"),
    ] {
        assert!(
            trace
                .iter()
                .any(|t| t.message_id.as_deref() == Some(id.as_str())
                    && t.outcome.starts_with(&format!("fault {fault}"))),
            "{fault} traced for {id}"
        );
    }
    emu.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queues_selectors_redelivery_acks_and_statuses_behave_like_smev() {
    let (_dir, settings, emu) = start("smev-queues", |s| {
        s.emulator.answer_delay_ms = 600;
        s.emulator.redeliver_after_secs = 0.5;
    })
    .await;
    let c = Consumer::new(&emu, &settings, Version::V1_3);
    let other = Consumer::new(&emu, &settings, Version::V1_3);
    let (egrul_mid, _) = c.send(Kind::Egrul, "4703123451").await;
    let (tax_mid, _) = c.send(Kind::TaxDebt, "7812345675").await;

    // The answers wait for their delay.
    assert!(
        c.get_response(None).await.is_none(),
        "available only after the delay"
    );
    tokio::time::sleep(Duration::from_millis(700)).await;
    // Each consumer has its own queue.
    assert!(
        other.get_response(None).await.is_none(),
        "another system's queue is empty"
    );
    // A selector takes only its type, whatever is queued before it.
    let tax = c.registry.get(Kind::TaxDebt);
    let a = c
        .get_response(Some((tax.namespace(), tax.response_root())))
        .await
        .unwrap();
    assert_eq!(a.resp.original_message_id, Some(tax_mid.to_string()));
    c.ack(a.resp.message_id.as_deref().unwrap(), true)
        .await
        .unwrap();
    let egrul = c.registry.get(Kind::Egrul);
    let first = c
        .get_response(Some((egrul.namespace(), egrul.response_root())))
        .await
        .unwrap();
    assert_eq!(first.resp.original_message_id, Some(egrul_mid.to_string()));

    // Not acknowledged: delivered again after the timeout, not before.
    assert!(
        c.get_response(None).await.is_none(),
        "in flight, not yet redelivered"
    );
    tokio::time::sleep(Duration::from_millis(600)).await;
    let again = c.get_response(None).await.expect("redelivered");
    assert_eq!(again.resp.message_id, first.resp.message_id);
    assert_eq!(again.bytes, first.bytes, "the same message, byte for byte");

    // An Ack with accepted="false" is recorded and ends the delivery.
    let id = again.resp.message_id.clone().unwrap();
    c.ack(&id, false).await.unwrap();
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert!(c.get_response(None).await.is_none());
    let r = c.ack(&id, true).await;
    assert_eq!(fault_kind(r), FaultKind::TargetMessageIsNotFound);
    let acks: Vec<String> = emu
        .node
        .trace()
        .into_iter()
        .filter(|t| t.operation == "Ack" && t.message_id.as_deref() == Some(id.as_str()))
        .map(|t| t.outcome)
        .collect();
    assert_eq!(acks[0], "ack refused (accepted=false)");

    // GetStatus: one status per request, in order, then none.
    let s1 = c.status().await.unwrap();
    let s2 = c.status().await.unwrap();
    assert_eq!(s1.original_message_id, egrul_mid.to_string());
    assert_eq!(s2.original_message_id, tax_mid.to_string());
    assert_eq!(s1.category, "requestIsAcceptedBySmev");
    assert!(c.status().await.is_none());
    assert!(other.status().await.is_none());
    emu.stop();
}

/// An ЕГРЮЛ request whose ИНН breaks the schema's pattern.
fn invalid_egrul(c: &Consumer) -> Document {
    let valid = String::from_utf8(xml::to_bytes(&c.business(Kind::Egrul, "4703123451"))).unwrap();
    xml::parse(valid.replace(">4703123451<", ">47031234X1<").as_bytes()).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_failing_its_schema_is_refused_synchronously_or_asynchronously() {
    let (_d1, settings, sync) = start("smev-schema-sync", |s| {
        s.emulator.schema_errors = SchemaErrors::Sync
    })
    .await;
    let c = Consumer::new(&sync, &settings, Version::V1_3);
    let r = c
        .send_bytes(c.envelope(&invalid_egrul(&c), &smev::new_message_id(), None))
        .await;
    let Err(SmevError::Fault(f)) = r else {
        panic!("accepted: {r:?}")
    };
    assert_eq!(f.kind, FaultKind::InvalidContent);
    assert!(f.to_string().contains("ИНН"), "the violation is named: {f}");
    sync.stop();

    let (_d2, settings, asy) = start("smev-schema-async", |s| {
        s.emulator.schema_errors = SchemaErrors::Async
    })
    .await;
    let c = Consumer::new(&asy, &settings, Version::V1_3);
    let mid = smev::new_message_id();
    c.send_bytes(c.envelope(&invalid_egrul(&c), &mid, None))
        .await
        .unwrap();
    let a = c.next_answer(None).await;
    assert_eq!(a.resp.original_message_id, Some(mid.to_string()));
    let ResponseContent::AsyncStatus {
        category,
        fault_code,
        ..
    } = &a.resp.content
    else {
        panic!("expected AsyncProcessingStatus, got {:?}", a.resp.content);
    };
    assert_eq!(category, "requestIsRejectedBySmev");
    assert_eq!(fault_code.as_deref(), Some("028122"));
    let transformed = xmldsig::transform::transform(&a.doc, a.resp.response).unwrap();
    verify_with_openssl(&a.bytes, &transformed);
    let status = c.status().await.unwrap();
    assert_eq!(status.category, "requestIsRejectedBySmev");
    asy.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_control_api_reports_what_was_received_and_sets_scenarios() {
    let (_dir, settings, emu) = start("smev-control", |_| {}).await;
    let c = Consumer::new(&emu, &settings, Version::V1_3);
    let base = format!("http://{}", emu.addr);
    let http = reqwest::Client::new();
    let inn = fresh_inn(900);
    let r = http
        .put(format!("{base}/control/scenarios/egrul/{inn}"))
        .body(r#"{"reject": "NO_DATA", "reject_text": "нет сведений"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let (mid, _) = c.send(Kind::Egrul, &inn).await;
    let a = c.next_answer(None).await;
    assert_eq!(
        a.resp.content,
        ResponseContent::Rejected(vec![("NO_DATA".into(), "нет сведений".into())])
    );
    let get = |path: &str| {
        let url = format!("{base}{path}");
        let http = http.clone();
        async move {
            let body = http.get(url).send().await.unwrap().bytes().await.unwrap();
            serde_json::from_slice::<serde_json::Value>(&body).unwrap()
        }
    };
    let messages = get("/control/messages").await;
    let sent = messages
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["operation"] == "SendRequest" && m["message_id"] == mid.to_string())
        .expect("the request is in the trace");
    assert_eq!(sent["subject"], inn.as_str());
    assert_eq!(sent["kind"], "egrul");
    assert!(sent["outcome"].as_str().unwrap().starts_with("accepted"));
    let delivered = messages
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["operation"] == "GetResponse" && m["original_message_id"] == mid.to_string())
        .expect("the answer is in the trace");
    assert_eq!(
        delivered["message_id"],
        a.resp.message_id.clone().unwrap().as_str()
    );
    let queues = get("/control/queues").await;
    assert_eq!(queues.as_array().unwrap().len(), 1, "{queues}");
    emu.stop();
}

/// Kills the child process when dropped, whatever the test's outcome.
struct Child(std::process::Child);

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_emulator_runs_alone_and_prints_where_its_certificate_is() {
    use std::io::BufRead;
    let dir = tempfile::tempdir().unwrap();
    let mut child = Child(
        std::process::Command::new(env!("CARGO_BIN_EXE_mezhved"))
            .args(["fixtures", "serve", "--listen", "127.0.0.1:0"])
            .env("MEZHVED__GATEWAY__STATE_DIR", dir.path())
            .env("MEZHVED__EMULATOR__ANSWER_DELAY_MS", "0")
            .current_dir(root())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let stdout = std::io::BufReader::new(child.0.stdout.take().unwrap());
    let mut lines = stdout.lines();
    let mut line = || lines.next().unwrap().unwrap();
    let first = line();
    let endpoint = first
        .strip_prefix("SMEV 3 emulator listening on ")
        .unwrap_or_else(|| panic!("unexpected first line: {first}"))
        .to_owned();
    let second = line();
    let certificate = std::path::PathBuf::from(second.rsplit(": ").next().unwrap());
    assert!(certificate.starts_with(dir.path()), "{second}");

    let settings = Settings::load(None).unwrap();
    let c = Consumer::at(endpoint, &settings, Version::V1_3);
    let (mid, _) = c.send(Kind::UnreliableSupplier, "7812345675").await;
    let a = c.next_answer(None).await;
    assert_eq!(a.resp.original_message_id, Some(mid.to_string()));
    // A client that trusts only the printed certificate accepts the answer.
    let report = mezhved_verify(&a.bytes, &certificate);
    assert!(report.contains("SMEVSignature"), "{report}");
    let other = tempfile::tempdir().unwrap();
    let stranger = SigningKey::generate(SignatureAlgorithm::RsaSha256, "stranger", 1).unwrap();
    let (k, cert) = (other.path().join("k.pem"), other.path().join("c.pem"));
    stranger.save(&k, &cert).unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_mezhved"))
        .arg("verify")
        .arg(other.path().join("answer.xml"))
        .output()
        .unwrap();
    assert!(!out.status.success(), "a missing file is an error");
    std::fs::write(other.path().join("answer.xml"), &a.bytes).unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_mezhved"))
        .arg("verify")
        .arg(other.path().join("answer.xml"))
        .arg("--trust")
        .arg(&cert)
        .output()
        .unwrap();
    assert!(
        !out.status.success(),
        "trusting another certificate, the answer is refused"
    );
}
