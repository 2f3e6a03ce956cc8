//! A request's attachments on the way out: three files, one over the MTOM
//! limit, prepared (hash as SMEV computes it, detached PKCS#7 by the
//! official's GOST key), put in a SendRequest envelope whose headers the
//! outer signature covers and whose MTOM contents it does not; the large
//! one uploaded to the emulator's file store over FTP. Checked with
//! independent tools: xmllint against the SMEV 1.3 schemas, `openssl dgst`
//! for the outer signature, `openssl cms -verify` (GOST engine) for each
//! attachment's signature, `openssl dgst -md_gost12_256` for each hash.

mod common;
use common::harness;

use std::path::Path;
use std::process::Command;

use base64::Engine as _;
use common::*;
use mezhved::attachment::ftp::{FtpClient, FtpSettings, Login};
use mezhved::attachment::send::{self, Transfer};
use mezhved::emulator::filestore::{FileStore, FileStoreSettings};
use mezhved::request::Kind;
use mezhved::request::attachments::{Attachment, Source};
use mezhved::smev::{self, Version};
use mezhved::xml;
use mezhved::xmldsig::{self, SignatureAlgorithm, SigningKey};

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

fn gost_conf(dir: &Path) -> std::path::PathBuf {
    let conf = dir.join("gost.cnf");
    std::fs::write(
        &conf,
        "openssl_conf = openssl_init\n[openssl_init]\nengines = engine_section\n[engine_section]\ngost = gost_section\n[gost_section]\nengine_id = gost\ndefault_algorithms = ALL\n",
    )
    .unwrap();
    conf
}

fn openssl(conf: &Path, args: &[&std::ffi::OsStr]) -> (bool, Vec<u8>, String) {
    let out = Command::new("openssl")
        .env("OPENSSL_CONF", conf)
        .args(args)
        .output()
        .expect("openssl is installed");
    (
        out.status.success(),
        out.stdout,
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// `openssl cms -verify` of a detached DER signature over `content`, the
/// signer's certificate trusted as given.
fn cms_verify(conf: &Path, dir: &Path, sig_b64: &str, content: &Path, cert: &Path) -> bool {
    let sig = dir.join("sig.der");
    std::fs::write(&sig, B64.decode(sig_b64).unwrap()).unwrap();
    let (ok, _, err) = openssl(
        conf,
        &[
            "cms".as_ref(),
            "-verify".as_ref(),
            "-binary".as_ref(),
            "-inform".as_ref(),
            "DER".as_ref(),
            "-in".as_ref(),
            sig.as_os_str(),
            "-content".as_ref(),
            content.as_os_str(),
            "-CAfile".as_ref(),
            cert.as_os_str(),
            "-purpose".as_ref(),
            "any".as_ref(),
            "-out".as_ref(),
            "/dev/null".as_ref(),
        ],
    );
    if !ok {
        eprintln!("openssl cms -verify: {err}");
    }
    ok
}

fn gost_hash(conf: &Path, file: &Path) -> String {
    let (ok, out, err) = openssl(
        conf,
        &[
            "dgst".as_ref(),
            "-md_gost12_256".as_ref(),
            "-binary".as_ref(),
            file.as_os_str(),
        ],
    );
    assert!(ok, "openssl dgst: {err}");
    B64.encode(out)
}

#[tokio::test]
async fn three_attachments_one_over_the_mtom_limit_verify_with_independent_tools() {
    assert!(
        xmldsig::gost::available(),
        "{}",
        xmldsig::gost::INSTALL_HINT
    );
    let dir = tempfile::tempdir().unwrap();
    let conf = gost_conf(dir.path());
    let official = SigningKey::generate(SignatureAlgorithm::Gost2012_256, "Official", 1).unwrap();
    let system = SigningKey::generate(SignatureAlgorithm::Gost2012_256, "IS", 1).unwrap();
    let cert = dir.path().join("official.pem");
    std::fs::write(&cert, official.certificate().to_pem().unwrap()).unwrap();

    let inbox = dir.path().join("inbox");
    std::fs::create_dir_all(inbox.join("LO-1")).unwrap();
    let big: Vec<u8> = (0..200_000u32).map(|i| (i * 7 % 253) as u8).collect();
    std::fs::write(inbox.join("LO-1/scan.pdf"), &big).unwrap();
    let list = vec![
        Attachment {
            name: "consent.pdf".into(),
            mime_type: "application/pdf".into(),
            source: Source::Inline(b"%PDF-1.4 consent".to_vec()),
        },
        Attachment {
            name: "scan.pdf".into(),
            mime_type: "application/pdf".into(),
            source: Source::Inbox("LO-1/scan.pdf".into()),
        },
        Attachment {
            name: "power.xml".into(),
            mime_type: "text/xml".into(),
            source: Source::Inline(b"<doverennost/>".to_vec()),
        },
    ];
    let resolved = mezhved::request::attachments::check_inbox(&list, &inbox, 10 << 20).unwrap();
    let out_dir = dir.path().join("case/req/attachments");
    let prepared = send::prepare(
        &list,
        &resolved,
        &out_dir,
        100_000,
        Some(&official),
        &|_| None,
    )
    .unwrap();
    assert_eq!(prepared.len(), 3, "all three attachments are sent");
    assert!(matches!(prepared[0].transfer, Transfer::Mtom { .. }));
    assert!(matches!(prepared[1].transfer, Transfer::FileStore { .. }));
    assert!(matches!(prepared[2].transfer, Transfer::Mtom { .. }));

    // The envelope: headers inside the signed part, contents outside.
    let req = lookup_request(Kind::Egrul, "1144703001233");
    let registry = mezhved::lookup::Registry::new(&Default::default());
    let business = registry
        .get(Kind::Egrul)
        .build_request(&req, &req.request_id.to_string());
    let opts = smev::EnvelopeOptions {
        attachments: prepared.clone(),
        ..Default::default()
    };
    let id = smev::new_message_id();
    let doc = smev::send_request_with(Version::V1_3, &id, &business, &opts)
        .sign(&system, None)
        .unwrap();
    let bytes = xml::to_bytes(&doc);
    let text = String::from_utf8(bytes.clone()).unwrap();
    let sprd_end = text.find("</smev:SenderProvidedRequestData>").unwrap();
    for h in ["AttachmentHeaderList", "RefAttachmentHeaderList"] {
        let at = text
            .find(&format!(":{h}>"))
            .unwrap_or_else(|| panic!("no {h}"));
        assert!(at < sprd_end, "{h} is inside the signed part");
    }
    let content = text.find(":AttachmentContentList").unwrap();
    assert!(content > sprd_end, "contents are outside the signed part");
    assert_eq!(text.matches("xop:Include").count(), 2);

    // The outer signature covers the headers (openssl dgst).
    let parsed = xml::parse(&bytes).unwrap();
    let sprd = smev::parse_send_request(&parsed).unwrap().sender_provided;
    let transformed = xmldsig::transform::transform(&parsed, sprd).unwrap();
    verify_with_openssl(&bytes, &transformed);

    // Schema-valid (SMEV 1.3) once each xop:Include is its content.
    let mut infoset = text.clone();
    for p in &prepared {
        if let Transfer::Mtom { content_id } = &p.transfer {
            let inc = format!(
                "<xop:Include xmlns:xop=\"http://www.w3.org/2004/08/xop/include\" href=\"cid:{}\"/>",
                send::mime_content_id(content_id)
            );
            assert!(infoset.contains(&inc), "{inc}");
            infoset = infoset.replace(&inc, &B64.encode(std::fs::read(&p.path).unwrap()));
        }
    }
    let schema = envelope_schema(
        dir.path(),
        "1.3",
        &[(
            "urn://x-artefacts-fns-vipul-tosmv-ru/311-14/4.0.6",
            business_schema(Kind::Egrul),
        )],
    );
    xmllint_validate(infoset.as_bytes(), &schema);

    // Each hash as openssl computes GOST R 34.11-2012, each signature
    // verified by openssl cms; a tampered file fails.
    for p in &prepared {
        assert_eq!(p.hash, gost_hash(&conf, &p.path), "{}", p.name);
        let sig = p.signature.as_deref().unwrap();
        assert!(
            text.contains(sig),
            "the signature of {} is in a header",
            p.name
        );
        assert!(
            cms_verify(&conf, dir.path(), sig, &p.path, &cert),
            "{}",
            p.name
        );
    }
    let tampered = dir.path().join("tampered.pdf");
    std::fs::write(&tampered, b"%PDF-1.4 c0nsent").unwrap();
    assert!(!cms_verify(
        &conf,
        dir.path(),
        prepared[0].signature.as_deref().unwrap(),
        &tampered,
        &cert
    ));

    // The large one through the emulator's file store: what arrives there
    // has the header's hash and its signature verifies.
    let store = FileStore::start(&FileStoreSettings {
        listen: "127.0.0.1:0".into(),
        passive_ports: None,
        upload_user: "mezhved".into(),
        upload_password: "secret".into(),
        root: dir.path().join("store"),
    })
    .await
    .unwrap();
    let client = FtpClient::new(FtpSettings::new(store.addr().to_string()));
    send::upload_all(
        &client,
        &Login::new("mezhved", "secret"),
        &prepared,
        time::OffsetDateTime::now_utc() + time::Duration::seconds(30),
        &|_| std::time::Duration::from_millis(50),
        &time::OffsetDateTime::now_utc,
    )
    .await
    .unwrap();
    let Transfer::FileStore { uuid } = &prepared[1].transfer else {
        unreachable!()
    };
    assert!(text.contains(&format!(":uuid>{uuid}<")));
    let (name, path) = store.uploaded(uuid).unwrap().expect("uploaded");
    assert_eq!(name, "scan.pdf");
    assert_eq!(std::fs::read(&path).unwrap(), big);
    assert_eq!(gost_hash(&conf, &path), prepared[1].hash);
    assert!(cms_verify(
        &conf,
        dir.path(),
        prepared[1].signature.as_deref().unwrap(),
        &path,
        &cert
    ));
    assert_eq!(
        store.files().unwrap().len(),
        1,
        "only the large one went by FTP"
    );
}

#[test]
fn an_inbox_path_that_escapes_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let inbox = dir.path().join("inbox");
    std::fs::create_dir_all(&inbox).unwrap();
    std::fs::write(dir.path().join("outside.pdf"), b"x").unwrap();
    std::os::unix::fs::symlink(dir.path().join("outside.pdf"), inbox.join("link.pdf")).unwrap();
    let mut body = request_json(Kind::Egrul, serde_json::json!({"inn": "4703123451"}));
    for (path, code) in [
        ("../outside.pdf", "unsafe_path"),
        ("link.pdf", "unsafe_path"),
        ("missing.pdf", "file_not_found"),
    ] {
        body["attachments"] = serde_json::json!([
            {"name": "a.pdf", "mime_type": "application/pdf", "path": path}
        ]);
        let today = mezhved::clock::moscow_today();
        let r = mezhved::request::parse(
            body.to_string().as_bytes(),
            today,
            &mezhved::request::Limits::STORED,
        )
        .and_then(|r| {
            mezhved::request::attachments::check_inbox(r.attachments(), &inbox, 1 << 20).map(|_| r)
        });
        let e = r.unwrap_err();
        assert_eq!(e.code.as_str(), code, "{path}: {e}");
        assert_eq!(e.field, "attachments[0].path");
        let ru = mezhved::i18n::refusal(mezhved::i18n::Lang::Ru, e.code, &e.field);
        assert!(ru.starts_with("Запрос не принят"), "{ru}");
    }
}

/// End to end: a case system publishes a request with three attachments
/// (one over the MTOM limit) to RabbitMQ; the gateway sends two inline as
/// MTOM and uploads the third to the emulator's file store; the emulator
/// receives all three, each hash and PKCS#7 signature checked there, and
/// openssl checks what the gateway kept as sent.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn three_attachments_reach_the_emulator_through_rabbitmq() {
    use harness::{Client, Harness, broker_or_skip, prefix};
    if !broker_or_skip("attachments_out").await {
        return;
    }
    assert!(
        xmldsig::gost::available(),
        "{}",
        xmldsig::gost::INSTALL_HINT
    );
    let dir = tempfile::tempdir().unwrap();
    let mut settings = harness::test_settings(dir.path(), &prefix("attach3"));
    let official = SigningKey::generate(SignatureAlgorithm::Gost2012_256, "Official", 1).unwrap();
    let (key, cert) = (
        dir.path().join("official.key"),
        dir.path().join("official.pem"),
    );
    official.save(&key, &cert).unwrap();
    settings.signing.algorithm = "gost2012-256".into();
    settings.signing.personal_key = key.display().to_string();
    settings.signing.personal_certificate = cert.display().to_string();
    let inbox = dir.path().join("inbox");
    std::fs::create_dir_all(inbox.join("LO-1")).unwrap();
    let big: Vec<u8> = (0..200_000u32).map(|i| (i * 13 % 251) as u8).collect();
    std::fs::write(inbox.join("LO-1/scan.pdf"), &big).unwrap();
    settings.gateway.inbox_dir = inbox;
    settings.attachments.mtom_limit_bytes = 100_000;
    let conf = gost_conf(dir.path());
    let h = Harness::start_adjusted(dir, settings, |s, emu| emu.point_file_store(s)).await;
    let client = Client::connect().await;
    let reply_q = client.reply_queue().await;
    let mut msg = request_json(Kind::Egrul, serde_json::json!({"inn": "4703123451"}));
    msg["attachments"] = serde_json::json!([
        {"name": "consent.pdf", "mime_type": "application/pdf", "content_base64": B64.encode(b"%PDF-1.4 consent")},
        {"name": "scan.pdf", "mime_type": "application/pdf", "path": "LO-1/scan.pdf"},
        {"name": "power.xml", "mime_type": "text/xml", "content_base64": B64.encode(b"<doverennost/>")}
    ]);
    client
        .publish(
            &h.settings.amqp.queue_requests(),
            msg.to_string().as_bytes(),
            Some(&reply_q),
            None,
        )
        .await;
    let replies = client
        .take(&reply_q, 1, std::time::Duration::from_secs(60))
        .await;
    assert_eq!(replies.len(), 1);
    assert_eq!(replies[0].body["verdict"], "found", "{}", replies[0].body);

    let got = h.control("GET", "/control/attachments", None).await;
    let got = got.as_array().unwrap();
    assert_eq!(got.len(), 3, "all three arrived: {got:?}");
    let mtom: Vec<_> = got.iter().filter(|a| a["transfer"] == "mtom").collect();
    let ftp: Vec<_> = got.iter().filter(|a| a["transfer"] == "ftp").collect();
    assert_eq!((mtom.len(), ftp.len()), (2, 1), "{got:?}");
    for a in got {
        assert_eq!(a["content_matches"], true, "{a}");
        assert!(
            a["signature"]["signer"]
                .as_str()
                .unwrap_or("")
                .contains("Official"),
            "{a}"
        );
    }
    assert_eq!(ftp[0]["hash_matches"], true, "{}", ftp[0]);
    assert_eq!(ftp[0]["size"], big.len());
    assert_eq!(ftp[0]["file_name"], "scan.pdf");

    // What the gateway kept as sent: each signature in the stored envelope
    // verifies with openssl cms over the file kept beside it, and the
    // file store one's Hash is openssl's GOST hash.
    let case = std::path::PathBuf::from(replies[0].body["case_file"].as_str().unwrap());
    let envelope =
        String::from_utf8(std::fs::read(case.join("send-request.xml")).unwrap()).unwrap();
    let sigs: Vec<&str> = envelope
        .split("SignaturePKCS7>")
        .skip(1)
        .step_by(2)
        .map(|s| s.split('<').next().unwrap())
        .collect();
    assert_eq!(sigs.len(), 3, "three signed headers");
    let sent = case.join("attachments-sent");
    // Headers: AttachmentHeaderList (consent, power) then RefAttachmentHeaderList (scan).
    let tmp = tempfile::tempdir().unwrap();
    for (sig, name) in sigs.iter().zip(["consent.pdf", "power.xml", "scan.pdf"]) {
        assert!(
            cms_verify(&conf, tmp.path(), sig, &sent.join(name), &cert_path(&h)),
            "{name}"
        );
    }
    let hash = envelope
        .split("Hash>")
        .nth(1)
        .unwrap()
        .split('<')
        .next()
        .unwrap();
    assert_eq!(hash, gost_hash(&conf, &sent.join("scan.pdf")));
    h.cleanup().await;
}

fn cert_path(h: &harness::Harness) -> std::path::PathBuf {
    std::path::PathBuf::from(&h.settings.signing.personal_certificate)
}

/// A header naming a file the file store does not have: the emulator
/// answers as SMEV does, `AttachmentContentMiscoordination`, and records
/// the attachment as missing.
#[tokio::test]
async fn a_missing_file_store_file_is_attachment_content_miscoordination() {
    if !xmldsig::gost::available() {
        panic!("{}", xmldsig::gost::INSTALL_HINT);
    }
    let dir = tempfile::tempdir().unwrap();
    let settings = harness::test_settings(dir.path(), "unused");
    let data = settings.emulator.data.clone();
    let emu = mezhved::emulator::start(&settings, "127.0.0.1:0", &data)
        .await
        .unwrap();
    let list = vec![Attachment {
        name: "scan.pdf".into(),
        mime_type: "application/pdf".into(),
        source: Source::Inline(vec![7; 500]),
    }];
    let prepared = send::prepare(&list, &[], &dir.path().join("out"), 10, None, &|_| None).unwrap();
    assert!(matches!(prepared[0].transfer, Transfer::FileStore { .. }));
    let req = lookup_request(Kind::Egrul, "1144703001233");
    let registry = mezhved::lookup::Registry::new(&Default::default());
    let business = registry
        .get(Kind::Egrul)
        .build_request(&req, &req.request_id.to_string());
    let key = SigningKey::generate(SignatureAlgorithm::Gost2012_256, "IS", 1).unwrap();
    let opts = smev::EnvelopeOptions {
        attachments: prepared,
        ..Default::default()
    };
    let doc = smev::send_request_with(Version::V1_3, &smev::new_message_id(), &business, &opts)
        .sign(&key, None)
        .unwrap();
    let resp = reqwest::Client::new()
        .post(emu.endpoint())
        .header("Content-Type", "text/xml; charset=utf-8")
        .header("SOAPAction", "\"urn:SendRequest\"")
        .body(xml::to_bytes(&doc))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 500);
    let text = resp.text().await.unwrap();
    assert!(text.contains("AttachmentContentMiscoordination"), "{text}");
    let got = emu.node.incoming_attachments();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].transfer, "ftp");
    assert!(got[0].size.is_none());
    emu.stop();
}

/// The file store down: a request whose deadline is still far is retried
/// until the store comes back and goes through; one past its deadline
/// ends failed with the reason, for manual fallback.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_file_store_that_is_down_is_retried_then_fails_past_the_deadline() {
    use harness::{Client, Harness, broker_or_skip, prefix};
    use mezhved::casefile::State;
    if !broker_or_skip("attachments_out").await {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mut s = harness::test_settings(dir.path(), &prefix("ftpdown"));
    s.retry.initial_ms = 50;
    s.retry.max_ms = 200;
    s.attachments.mtom_limit_bytes = 10;
    // A request recorded 30 days ago: past its deadline.
    let store = mezhved::casefile::Store::open(&s.gateway.cases_root).unwrap();
    let mut old = lookup_request(Kind::Egrul, &harness::fresh_inn(91));
    old.attachments = vec![Attachment {
        name: "scan.pdf".into(),
        mime_type: "application/pdf".into(),
        source: Source::Inline(vec![5; 500]),
    }];
    let old: mezhved::request::Request = old.into();
    let mezhved::casefile::Acceptance::New(rec) = store.accept(&old, Default::default()).unwrap()
    else {
        panic!()
    };
    let mut backdated = rec.clone();
    backdated.accepted_at = mezhved::clock::now() - time::Duration::days(30);
    mezhved::casefile::journal::append(
        &store.case_dir(&rec.case_id),
        mezhved::casefile::journal::Entry {
            at: mezhved::clock::rfc3339(mezhved::clock::now()),
            request_id: rec.request_id.to_string(),
            event: "backdated by the test".into(),
            detail: None,
            documents: vec![],
            state: Some(Box::new(backdated)),
            prev: String::new(),
            hash: String::new(),
        },
    )
    .unwrap();
    drop(store);
    let h = Harness::start_adjusted(dir, s, |s, emu| {
        emu.point_file_store(s);
        emu.file_store.set_down(true);
    })
    .await;
    let mut done = None;
    for _ in 0..200 {
        let r = h.gateway.store().load(&old.request_id()).unwrap().unwrap();
        if r.state.is_final() {
            done = Some(r);
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let rec = done.expect("failed at the deadline");
    assert_eq!(rec.state, State::Failed);
    let result = h.gateway.store().load_result(&rec).unwrap().unwrap();
    let failure = result.outcome.failure.clone().unwrap();
    assert_eq!(
        failure.code,
        Some(mezhved::i18n::FailureCode::AttachmentTransferFailed),
        "{failure:?}"
    );
    assert!(failure.reason.contains("scan.pdf"), "{}", failure.reason);
    assert!(failure.reason.contains("deadline"), "{}", failure.reason);
    assert!(result.fallback_required);
    let ru = mezhved::i18n::FailureCode::AttachmentTransferFailed.text(mezhved::i18n::Lang::Ru);
    assert!(ru.contains("Файловое хранилище СМЭВ"), "{ru}");
    assert_eq!(
        h.sent_requests(),
        0,
        "nothing was sent without its attachment"
    );

    // A fresh request while the store is down: retried, and sent once the
    // store is back.
    let client = Client::connect().await;
    let reply_q = client.reply_queue().await;
    let mut msg = request_json(Kind::Egrul, serde_json::json!({"inn": "4703123451"}));
    msg["attachments"] = serde_json::json!([
        {"name": "big.pdf", "mime_type": "application/pdf", "content_base64": B64.encode([9u8; 300])}
    ]);
    client
        .publish(
            &h.settings.amqp.queue_requests(),
            msg.to_string().as_bytes(),
            Some(&reply_q),
            None,
        )
        .await;
    tokio::time::sleep(std::time::Duration::from_millis(800)).await;
    assert_eq!(
        h.emulator.file_store.files().unwrap().len(),
        0,
        "nothing got through while down"
    );
    h.emulator.file_store.set_down(false);
    let replies = client
        .take(&reply_q, 1, std::time::Duration::from_secs(60))
        .await;
    assert_eq!(replies.len(), 1);
    assert_eq!(replies[0].body["verdict"], "found", "{}", replies[0].body);
    assert_eq!(h.emulator.file_store.files().unwrap().len(), 1);
    let got = h.control("GET", "/control/attachments", None).await;
    assert_eq!(got[0]["transfer"], "ftp", "{got}");
    assert_eq!(got[0]["hash_matches"], true, "{got}");
    h.cleanup().await;
}
