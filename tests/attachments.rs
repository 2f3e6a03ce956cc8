//! Receiving attachments: an answer's MTOM body read to files, each file's
//! hash and detached GOST signature checked with real OpenSSL, a ФНС
//! extract that came as a ZIP (`КодОбр` 54) read like the inline one, and
//! the refusals (tampered file, wrong hash, ZIP bomb, escaping entry) each
//! with its reason and nothing written outside the request's folder.

mod common;

use std::path::{Path, PathBuf};

use base64::Engine as _;
use common::*;
use mezhved::attachment::mtom::{MtomBody, OutgoingPart, read_multipart, xop_include};
use mezhved::attachment::receive::{DirectoryStore, Headers, Receipt, receive};
use mezhved::attachment::zip::ZipLimits;
use mezhved::attachment::{Limits, SignatureStatus, cms, digest, zip};
use mezhved::i18n::FailureCode;
use mezhved::lookup::attached::read_answer_with_attachments;
use mezhved::lookup::{LookupConfig, Outcome, Registry, Verdict};
use mezhved::request::Kind;
use mezhved::xmldsig::{SignatureAlgorithm, SigningKey, TrustStore, gost};
use mezhved::{smev, xml};

const DOC_ID: &str = "0C9E4D2A-7B13-4F80-9E65-3A1D5C8B7F20";
const OGRN: &str = "1047796001230";
const UL_NS: &str = "urn://x-artefacts-fns-vipul-tosmv-ru/311-14/4.0.6";
const T12: &str = "urn://x-artefacts-smev-gov-ru/services/message-exchange/types/1.2";
const B12: &str = "urn://x-artefacts-smev-gov-ru/services/message-exchange/types/basic/1.2";

fn inline_extract() -> Vec<u8> {
    std::fs::read(root().join("tests/golden/egrul-4.0.6-excluded.xml")).unwrap()
}

fn signer() -> (SigningKey, TrustStore) {
    let alg = if gost::available() {
        SignatureAlgorithm::Gost2012_256
    } else {
        SignatureAlgorithm::RsaSha256
    };
    let key = SigningKey::generate(alg, "ФНС России ЭП-СП", 2).unwrap();
    let trust = TrustStore::default().with_certificate(key.certificate().to_owned());
    (key, trust)
}

/// A `GetResponseResponse` whose business content is a `КодОбр` 54 answer;
/// `mtom` lists (contentId, signature) of MTOM parts, `refs` lists (uuid,
/// hash, file name, signature) of file-store ones.
fn envelope(
    mtom: &[(&str, Option<String>)],
    refs: &[(&str, String, &str, Option<String>)],
) -> String {
    let sig = |s: &Option<String>| {
        s.as_ref()
            .map(|s| format!("<b:SignaturePKCS7>{s}</b:SignaturePKCS7>"))
            .unwrap_or_default()
    };
    let mut headers = String::new();
    if !mtom.is_empty() {
        headers.push_str("<b:AttachmentHeaderList>");
        for (id, s) in mtom {
            headers.push_str(&format!(
                "<b:AttachmentHeader><b:contentId>{id}</b:contentId><b:MimeType>application/zip</b:MimeType>{}</b:AttachmentHeader>",
                sig(s)
            ));
        }
        headers.push_str("</b:AttachmentHeaderList>");
    }
    let mut fs = String::new();
    if !refs.is_empty() {
        headers.push_str("<b:RefAttachmentHeaderList>");
        fs.push_str("<b:FSAttachmentsList>");
        for (uuid, hash, name, s) in refs {
            headers.push_str(&format!(
                "<b:RefAttachmentHeader><b:uuid>{uuid}</b:uuid><b:Hash>{hash}</b:Hash><b:MimeType>application/zip</b:MimeType>{}</b:RefAttachmentHeader>",
                sig(s)
            ));
            fs.push_str(&format!(
                "<b:FSAttachment><b:uuid>{uuid}</b:uuid><b:UserName>u</b:UserName><b:Password>secret</b:Password><b:FileName>{name}</b:FileName></b:FSAttachment>"
            ));
        }
        headers.push_str("</b:RefAttachmentHeaderList>");
        fs.push_str("</b:FSAttachmentsList>");
    }
    let contents: String = if mtom.is_empty() {
        String::new()
    } else {
        let items: String = mtom
            .iter()
            .map(|(id, _)| {
                format!(
                    "<b:AttachmentContent Id=\"{id}\"><b:Content>{}</b:Content></b:AttachmentContent>",
                    xop_include(id)
                )
            })
            .collect();
        format!("<b:AttachmentContentList>{items}</b:AttachmentContentList>")
    };
    format!(
        r#"<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body><t:GetResponseResponse xmlns:t="{T12}" xmlns:b="{B12}"><t:ResponseMessage><t:Response Id="SIGNED_BY_SMEV"><t:OriginalMessageId>5e1c2a70-b0a1-11f0-8000-0242ac120002</t:OriginalMessageId><t:SenderProvidedResponseData Id="SIGNED_BY_CALLEE"><t:MessageID>6e1c2a70-b0a1-11f0-8000-0242ac120002</t:MessageID><t:To>x</t:To><b:MessagePrimaryContent><ul:FNSVipULResponse xmlns:ul="{UL_NS}" ИдДок="{DOC_ID}"><ul:КодОбр>54</ul:КодОбр></ul:FNSVipULResponse></b:MessagePrimaryContent>{headers}</t:SenderProvidedResponseData><t:MessageMetadata><t:MessageId>7e1c2a70-b0a1-11f0-8000-0242ac120002</t:MessageId><t:SendingTimestamp>2026-09-05T10:00:00+03:00</t:SendingTimestamp></t:MessageMetadata>{fs}</t:Response>{contents}</t:ResponseMessage></t:GetResponseResponse></soap:Body></soap:Envelope>"#
    )
}

struct Case {
    _tmp: tempfile::TempDir,
    outside: PathBuf,
    request_dir: PathBuf,
}

fn case() -> Case {
    let tmp = tempfile::tempdir().unwrap();
    let outside = tmp.path().to_path_buf();
    let request_dir = tmp.path().join("cases/LO-1/req");
    std::fs::create_dir_all(&request_dir).unwrap();
    Case {
        _tmp: tmp,
        outside,
        request_dir,
    }
}

/// Every file under `dir`, relative.
fn files_under(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(p.strip_prefix(dir).unwrap().display().to_string());
            }
        }
    }
    out.sort();
    out
}

/// Receives an MTOM answer carrying `zip_bytes` as one part (signed by
/// `key` over `signed_bytes`), then reads it as the ЕГРЮЛ answer.
fn receive_mtom(c: &Case, zip_bytes: &[u8], signed_bytes: Option<&[u8]>) -> (Receipt, Outcome) {
    let (key, trust) = signer();
    let staging = c.outside.join("staging");
    std::fs::create_dir_all(&staging).unwrap();
    let zip_file = staging.join("send.zip");
    std::fs::write(&zip_file, zip_bytes).unwrap();
    let sig = signed_bytes.map(|b| {
        base64::engine::general_purpose::STANDARD.encode(cms::sign_bytes(&key, b).unwrap())
    });
    let env = envelope(&[("extract.zip", sig)], &[]);
    let body = MtomBody::new(
        env.into_bytes(),
        vec![OutgoingPart {
            content_id: "extract.zip".into(),
            content_type: "application/zip".into(),
            path: zip_file,
        }],
    )
    .unwrap();
    let mut wire = Vec::new();
    body.write_to(&mut wire).unwrap();
    let parts_dir = c.request_dir.join(".incoming");
    let received = read_multipart(
        &wire[..],
        &body.content_type(),
        &parts_dir,
        Limits::default(),
    )
    .unwrap();
    let doc = xml::parse(&received.root).unwrap();
    let resp = smev::parse_get_response_response(&doc).unwrap().unwrap();
    let headers = Headers::from_response(&doc, &resp);
    assert_eq!(headers.headers.len(), 1);
    let receipt = receive(
        &headers,
        Some(&received),
        None,
        &c.request_dir,
        &trust,
        mezhved::clock::now(),
        &Limits::default(),
    )
    .unwrap();
    let outcome = read_primary(&doc, &resp, &receipt, &c.request_dir);
    (receipt, outcome)
}

fn read_primary(
    doc: &xml::Document,
    resp: &smev::IncomingResponse,
    receipt: &Receipt,
    request_dir: &Path,
) -> Outcome {
    let smev::ResponseContent::Primary(root) = resp.content else {
        panic!("no primary content");
    };
    let registry = Registry::new(&LookupConfig::default());
    let req = lookup_request(Kind::Egrul, OGRN);
    read_answer_with_attachments(
        &registry,
        Kind::Egrul,
        doc,
        root,
        &req,
        DOC_ID,
        receipt,
        request_dir,
        ZipLimits::default(),
    )
}

fn inline_outcome() -> Outcome {
    let registry = Registry::new(&LookupConfig::default());
    let req = lookup_request(Kind::Egrul, OGRN);
    let doc = xml::parse(&inline_extract()).unwrap();
    registry.read_answer(Kind::Egrul, &doc, doc.root(), &req, DOC_ID)
}

fn failure_code(o: &Outcome) -> Option<FailureCode> {
    o.failure.as_ref().and_then(|f| f.code)
}

#[test]
fn kodobr_54_over_mtom_reads_like_the_inline_extract() {
    let c = case();
    let zip_bytes = zip::pack(&[
        ("ul_1047796001230.xml", &inline_extract()),
        ("ul_1047796001230.pdf", b"%PDF-1.4 copy of the extract"),
    ])
    .unwrap();
    let (receipt, outcome) = receive_mtom(&c, &zip_bytes, Some(&zip_bytes));
    assert!(receipt.is_sound(), "{:?}", receipt.problems);
    let inline = inline_outcome();
    assert_eq!(inline.verdict, Verdict::Found);
    assert_eq!(outcome.verdict, inline.verdict, "{outcome:?}");
    assert_eq!(outcome.facts, inline.facts);
    // The archive, the extract and the PDF, each recorded.
    let names: Vec<&str> = outcome
        .attachments
        .iter()
        .map(|a| a.name.as_str())
        .collect();
    assert_eq!(
        names,
        [
            "extract.zip",
            "ul_1047796001230.xml",
            "ul_1047796001230.pdf"
        ]
    );
    let zip_rec = &outcome.attachments[0];
    assert_eq!(zip_rec.signature.status, SignatureStatus::Verified);
    assert!(
        zip_rec
            .signature
            .signer
            .as_deref()
            .unwrap()
            .contains("ЭП-СП")
    );
    assert_eq!(zip_rec.size, zip_bytes.len() as u64);
    let on_disk = c.request_dir.join(&zip_rec.path);
    assert_eq!(std::fs::read(&on_disk).unwrap(), zip_bytes);
    assert_eq!(
        zip_rec.sha256,
        digest::digest_file(&on_disk).unwrap().sha256_hex()
    );
    let pdf = &outcome.attachments[2];
    assert_eq!(pdf.mime_type, "application/pdf");
    assert!(c.request_dir.join(&pdf.path).is_file());
    // The reply shape carries them.
    let v = serde_json::to_value(&outcome).unwrap();
    assert_eq!(v["attachments"][0]["signature"]["status"], "verified");
    assert_eq!(v["attachments"][0]["path"], "attachments/extract.zip");
}

#[test]
fn the_signature_checked_by_us_is_the_one_openssl_accepts() {
    if !gost::available() {
        eprintln!("skipped: no GOST engine");
        return;
    }
    let c = case();
    let (key, _) = signer();
    let f = c.request_dir.join("scan.pdf");
    std::fs::write(&f, b"%PDF-1.4 consent").unwrap();
    let der = cms::sign_file(&key, &f).unwrap();
    let sig = c.request_dir.join("scan.pdf.p7s");
    std::fs::write(&sig, der).unwrap();
    let cert = c.request_dir.join("signer.pem");
    std::fs::write(&cert, key.certificate().to_pem().unwrap()).unwrap();
    let out = std::process::Command::new("openssl")
        .args([
            "cms", "-verify", "-engine", "gost", "-binary", "-inform", "DER", "-purpose", "any",
        ])
        .arg("-in")
        .arg(&sig)
        .arg("-content")
        .arg(&f)
        .arg("-CAfile")
        .arg(&cert)
        .args(["-out", "/dev/null"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn a_tampered_attachment_fails_the_request_and_is_kept() {
    let c = case();
    let zip_bytes = zip::pack(&[("ul.xml", &inline_extract())]).unwrap();
    let mut signed = zip_bytes.clone();
    signed[10] ^= 0x55;
    let (receipt, outcome) = receive_mtom(&c, &zip_bytes, Some(&signed));
    assert!(!receipt.is_sound());
    assert_eq!(outcome.verdict, Verdict::Failed);
    assert_eq!(failure_code(&outcome), Some(FailureCode::AttachmentInvalid));
    let f = outcome.failure.as_ref().unwrap();
    assert!(f.reason.contains("signature"), "{}", f.reason);
    assert!(f.reason_ru.contains("подпис"), "{}", f.reason_ru);
    assert_eq!(
        outcome.attachments[0].signature.status,
        SignatureStatus::Bad
    );
    // Kept for the record; nothing unpacked from it.
    assert_eq!(files_under(&c.request_dir), ["attachments/extract.zip"]);
}

#[test]
fn a_wrong_hash_from_the_file_store_fails_the_request_and_is_kept() {
    let c = case();
    let (_, trust) = signer();
    let store_root = c.outside.join("store");
    let uuid = "0f1e2d3c-4b5a-4697-8887-766554433221";
    std::fs::create_dir_all(store_root.join(uuid)).unwrap();
    let zip_bytes = zip::pack(&[("ul.xml", &inline_extract())]).unwrap();
    std::fs::write(store_root.join(uuid).join("extract.zip"), &zip_bytes).unwrap();
    let wrong = base64::engine::general_purpose::STANDARD.encode([7u8; 32]);
    let env = envelope(&[], &[(uuid, wrong, "extract.zip", None)]);
    let doc = xml::parse(env.as_bytes()).unwrap();
    let resp = smev::parse_get_response_response(&doc).unwrap().unwrap();
    let headers = Headers::from_response(&doc, &resp);
    assert_eq!(headers.fs[0].password, "secret");
    assert!(!format!("{headers:?}").contains("secret"));
    let store = DirectoryStore { root: store_root };
    let receipt = receive(
        &headers,
        None,
        Some(&store),
        &c.request_dir,
        &trust,
        mezhved::clock::now(),
        &Limits::default(),
    )
    .unwrap();
    let outcome = read_primary(&doc, &resp, &receipt, &c.request_dir);
    assert_eq!(failure_code(&outcome), Some(FailureCode::AttachmentInvalid));
    assert!(
        outcome.failure.as_ref().unwrap().reason.contains("hash"),
        "{outcome:?}"
    );
    assert!(outcome.attachments[0].problem.is_some());
    assert_eq!(files_under(&c.request_dir), ["attachments/extract.zip"]);

    // The right hash: the same file is read like the inline extract.
    if let Some(right) = digest::digest_reader(&mut &zip_bytes[..])
        .unwrap()
        .gost_base64()
    {
        let c = case();
        let env = envelope(&[], &[(uuid, right, "extract.zip", None)]);
        let doc = xml::parse(env.as_bytes()).unwrap();
        let resp = smev::parse_get_response_response(&doc).unwrap().unwrap();
        let headers = Headers::from_response(&doc, &resp);
        let receipt = receive(
            &headers,
            None,
            Some(&store),
            &c.request_dir,
            &trust,
            mezhved::clock::now(),
            &Limits::default(),
        )
        .unwrap();
        assert!(receipt.is_sound(), "{:?}", receipt.problems);
        let outcome = read_primary(&doc, &resp, &receipt, &c.request_dir);
        let inline = inline_outcome();
        assert_eq!(outcome.verdict, inline.verdict, "{outcome:?}");
        assert_eq!(outcome.facts, inline.facts);
    }
}

#[test]
fn a_zip_bomb_is_refused_with_its_reason() {
    let c = case();
    let zeros = vec![b' '; 40 * 1024 * 1024];
    let zip_bytes = zip::pack(&[("ul.xml", &zeros)]).unwrap();
    let (receipt, outcome) = receive_mtom(&c, &zip_bytes, Some(&zip_bytes));
    assert!(receipt.is_sound());
    assert_eq!(failure_code(&outcome), Some(FailureCode::AttachmentRefused));
    let reason = &outcome.failure.as_ref().unwrap().reason;
    assert!(reason.contains("ZIP bomb"), "{reason}");
    assert_eq!(files_under(&c.request_dir), ["attachments/extract.zip"]);
    assert_eq!(
        files_under(&c.outside.join("cases")),
        ["LO-1/req/attachments/extract.zip"]
    );
}

#[test]
fn a_path_escaping_entry_is_refused_and_nothing_lands_outside() {
    let c = case();
    let zip_bytes = zip::pack(&[
        ("ul.xml", &inline_extract()),
        ("../../../../escaped.xml", b"<x/>"),
    ])
    .unwrap();
    let (_, outcome) = receive_mtom(&c, &zip_bytes, Some(&zip_bytes));
    assert_eq!(failure_code(&outcome), Some(FailureCode::AttachmentRefused));
    let reason = &outcome.failure.as_ref().unwrap().reason;
    assert!(reason.contains("outside its folder"), "{reason}");
    assert_eq!(files_under(&c.request_dir), ["attachments/extract.zip"]);
    let everything = files_under(&c.outside);
    assert!(
        everything.iter().all(|f| !f.contains("escaped")),
        "{everything:?}"
    );
}

#[test]
fn a_missing_part_fails_clearly() {
    let c = case();
    let (_, trust) = signer();
    let env = envelope(&[("extract.zip", None)], &[]);
    let doc = xml::parse(env.as_bytes()).unwrap();
    let resp = smev::parse_get_response_response(&doc).unwrap().unwrap();
    let headers = Headers::from_response(&doc, &resp);
    let receipt = receive(
        &headers,
        None,
        None,
        &c.request_dir,
        &trust,
        mezhved::clock::now(),
        &Limits::default(),
    )
    .unwrap();
    let outcome = read_primary(&doc, &resp, &receipt, &c.request_dir);
    assert_eq!(failure_code(&outcome), Some(FailureCode::AttachmentInvalid));
    assert!(
        outcome
            .failure
            .as_ref()
            .unwrap()
            .reason
            .contains("no MTOM part"),
        "{outcome:?}"
    );
}

/// End to end: a case system publishes on RabbitMQ, the gateway asks the
/// emulator over HTTP, the emulator answers `КодОбр` 54 with the extract as
/// a signed ZIP over MTOM; the reply has the same verdict and facts as the
/// inline extract of the same subject, and the files are in the request's
/// folder. Then the signature is spoilt and a part left out: each ends the
/// request `failed` with its reason, the files kept.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn kodobr_54_over_mtom_end_to_end_through_rabbitmq() {
    use common::harness::{Client, Harness, broker_or_skip, prefix, test_settings};
    use serde_json::json;
    if !broker_or_skip("attachments").await {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mut s = test_settings(dir.path(), &prefix("attach54"));
    s.retry.initial_ms = 50;
    s.retry.max_ms = 200;
    let h = Harness::start_in(dir, s).await;
    let inn = "7805332234";
    let ask = |tag: &'static str| {
        let h = &h;
        async move {
            let client = Client::connect().await;
            let reply_q = client.reply_queue().await;
            let msg = request_json(Kind::Egrul, json!({ "inn": inn }));
            client
                .publish(
                    &h.settings.amqp.queue_requests(),
                    msg.to_string().as_bytes(),
                    Some(&reply_q),
                    Some(tag),
                )
                .await;
            client
                .take(&reply_q, 1, std::time::Duration::from_secs(40))
                .await
                .remove(0)
                .body
        }
    };
    let mtom = ask("mtom").await;
    assert_eq!(mtom["verdict"], json!("found"), "{mtom}");
    let files = mtom["attachments"].as_array().unwrap();
    assert_eq!(files[0]["mime_type"], json!("application/zip"), "{mtom}");
    assert_eq!(files[0]["signature"]["status"], json!("verified"), "{mtom}");
    assert!(
        files[1]["name"].as_str().unwrap().ends_with(".xml"),
        "{mtom}"
    );
    let case = PathBuf::from(mtom["case_file"].as_str().unwrap());
    let request_id = mtom["request_id"].as_str().unwrap();
    let request_dir = [case.join(request_id), case.clone()]
        .into_iter()
        .chain(case.parent().map(|p| p.join(request_id)))
        .find(|p| p.join("attachments").is_dir())
        .unwrap_or_else(|| panic!("no attachments folder near {}", case.display()));
    for f in files {
        let p = request_dir.join(f["path"].as_str().unwrap());
        let d = digest::digest_file(&p).unwrap();
        assert_eq!(json!(d.sha256_hex()), f["sha256"], "{}", p.display());
    }

    // `mezhved verify` checks the stored files again with the trust store;
    // a changed byte makes it fail, naming the file.
    let verify = |dir: &Path| {
        std::process::Command::new(env!("CARGO_BIN_EXE_mezhved"))
            .arg("verify")
            .arg(dir)
            .arg("--trust")
            .arg(&h.emulator.certificate)
            .output()
            .unwrap()
    };
    let out = verify(&request_dir);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("signature verified"), "{text}");
    let zip_path = request_dir.join(files[0]["path"].as_str().unwrap());
    let mut bytes = std::fs::read(&zip_path).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    std::fs::write(&zip_path, &bytes).unwrap();
    let out = verify(&case);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success(), "{text}");
    assert!(text.contains("changed since it was received"), "{text}");

    // The same subject answered inline.
    h.scenario(Kind::Egrul, inn, json!({})).await;
    let inline = ask("inline").await;
    assert_eq!(inline["verdict"], mtom["verdict"], "{inline}");
    assert_eq!(inline["facts"], mtom["facts"]);
    assert!(inline.get("attachments").is_none(), "{inline}");

    for (fault, needle) in [
        ("bad_signature", "signature"),
        ("missing_file", "no MTOM part"),
    ] {
        h.scenario(
            Kind::Egrul,
            inn,
            json!({ "attachment": "mtom", "attachment_fault": fault }),
        )
        .await;
        let r = ask(fault).await;
        assert_eq!(r["verdict"], json!("failed"), "{fault}: {r}");
        assert_eq!(r["failure"]["code"], json!("attachment_invalid"), "{r}");
        let reason = r["failure"]["reason"].as_str().unwrap();
        assert!(reason.contains(needle), "{fault}: {reason}");
        assert!(
            r["failure"]["reason_ru"]
                .as_str()
                .unwrap()
                .contains("Вложение")
        );
    }
    h.cleanup().await;
}
