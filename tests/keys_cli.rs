//! `mezhved keygen`, `sign` and `verify`, as an operator runs them.

mod common;

use std::path::Path;
use std::process::{Command, Output};

use common::*;
use mezhved::request::Kind;
use mezhved::smev::{self, Version};
use mezhved::xml;

fn mezhved(args: &[&str], dir: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_mezhved"))
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap()
}

fn ok(out: &Output) -> String {
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// An unsigned SendRequest (as a tester would have it) in `dir/unsigned.xml`.
fn unsigned_envelope(dir: &Path) {
    let req = lookup_request(Kind::Egrul, "1144703001233");
    let registry = mezhved::lookup::Registry::new(&Default::default());
    let business = registry.get(Kind::Egrul).build_request(&req, "d1");
    let env = smev::send_request(
        Version::V1_1,
        &smev::new_message_id(),
        &business,
        false,
        None,
        false,
    );
    let mut doc = env.doc;
    doc.detach(env.caller_signature);
    std::fs::write(dir.join("unsigned.xml"), xml::to_bytes(&doc)).unwrap();
}

#[test]
fn keygen_sign_and_verify_each_algorithm() {
    for alg in ["gost2012-256", "gost2012-512", "rsa-sha256", "ecdsa-sha256"] {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let text = ok(&mezhved(
            &["keygen", "--algorithm", alg, "--out", "k", "--cn", "Тест"],
            d,
        ));
        assert!(text.contains("CN=Тест"), "{text}");
        let key = d.join(format!("k/{alg}.key.pem"));
        use std::os::unix::fs::PermissionsExt as _;
        assert_eq!(
            std::fs::metadata(&key).unwrap().permissions().mode() & 0o777,
            0o600
        );
        unsigned_envelope(d);
        let k = format!("k/{alg}.key.pem");
        let c = format!("k/{alg}.cert.pem");
        ok(&mezhved(
            &[
                "sign",
                "unsigned.xml",
                "--id",
                "SIGNED_BY_CONSUMER",
                "--key",
                &k,
                "--cert",
                &c,
                "-o",
                "signed.xml",
            ],
            d,
        ));
        // The signature sits where SMEV expects it and the envelope stays valid.
        let signed = std::fs::read(d.join("signed.xml")).unwrap();
        let schema = envelope_schema(d, "1.1", &[]);
        xmllint_validate(&signed, &schema);
        let report = ok(&mezhved(&["verify", "signed.xml", "--trust", &c], d));
        assert!(
            report.contains("signs    /Envelope/Body/SendRequestRequest/SenderProvidedRequestData"),
            "{report}"
        );
        assert!(report.contains(&format!("algorithm {alg}")), "{report}");
        assert!(report.contains("trust    trusted"), "{report}");
        let smev_ok = alg.starts_with("gost");
        assert_eq!(report.contains("(accepted by SMEV)"), smev_ok, "{report}");
        assert!(report.contains("result   OK"), "{report}");

        // Tampered: verify says so and exits non-zero.
        let t = String::from_utf8(signed)
            .unwrap()
            .replace("1144703001233", "1027700132195");
        std::fs::write(d.join("tampered.xml"), t).unwrap();
        let bad = mezhved(&["verify", "tampered.xml"], d);
        assert!(!bad.status.success());
        assert!(
            String::from_utf8_lossy(&bad.stdout).contains("FAILED: the digest of"),
            "{}",
            String::from_utf8_lossy(&bad.stdout)
        );
    }
}

#[test]
fn a_ca_issued_key_is_trusted_through_its_ca() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    ok(&mezhved(
        &[
            "keygen",
            "--ca",
            "--name",
            "ca",
            "--out",
            "k",
            "--cn",
            "Тестовый УЦ",
        ],
        d,
    ));
    ok(&mezhved(
        &[
            "keygen",
            "--name",
            "leaf",
            "--out",
            "k",
            "--issuer-key",
            "k/ca.key.pem",
            "--issuer-cert",
            "k/ca.cert.pem",
        ],
        d,
    ));
    ok(&mezhved(
        &["keygen", "--ca", "--name", "other", "--out", "k"],
        d,
    ));
    unsigned_envelope(d);
    ok(&mezhved(
        &[
            "sign",
            "unsigned.xml",
            "--id",
            "SIGNED_BY_CONSUMER",
            "--key",
            "k/leaf.key.pem",
            "--cert",
            "k/leaf.cert.pem",
            "-o",
            "s.xml",
        ],
        d,
    ));
    assert!(
        ok(&mezhved(
            &["verify", "s.xml", "--trust", "k/ca.cert.pem"],
            d
        ))
        .contains("trusted")
    );
    let other = mezhved(&["verify", "s.xml", "--trust", "k/other.cert.pem"], d);
    assert!(!other.status.success());
    assert!(String::from_utf8_lossy(&other.stdout).contains("does not chain to a trusted CA"));
}

#[test]
fn verify_reports_the_golden_vectors() {
    let d = root();
    let v2012 = shared("vectors/signed-2012/getresponse-response.xml");
    let at_delivery = mezhved(
        &[
            "verify",
            v2012.to_str().unwrap(),
            "--at",
            "2026-04-16T09:01:35+03:00",
            "--json",
        ],
        &d,
    );
    let reports: serde_json::Value = serde_json::from_str(&ok(&at_delivery)).unwrap();
    assert_eq!(reports[0]["algorithm"], "gost2012-256");
    assert_eq!(
        reports[0]["element"],
        "/GetResponseResponse/ResponseMessage/Response"
    );
    assert_eq!(reports[0]["ok"], true);
    // Today, the test environment's certificate has expired.
    let today = mezhved(&["verify", v2012.to_str().unwrap()], &d);
    assert!(!today.status.success());
    assert!(String::from_utf8_lossy(&today.stdout).contains("expired on 2026-07-07"));

    let v2001 = shared("vectors/signed-2001/sendrequest-envelope.xml");
    let r = ok(&mezhved(
        &[
            "verify",
            v2001.to_str().unwrap(),
            "--at",
            "2015-08-05T12:00:00+03:00",
        ],
        &d,
    ));
    assert!(
        r.contains("algorithm gost2001 (not accepted by SMEV)"),
        "{r}"
    );
}

#[test]
fn sign_refuses_ids_it_cannot_place_or_resolve() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    ok(&mezhved(
        &["keygen", "--algorithm", "ecdsa-sha256", "--out", "k"],
        d,
    ));
    unsigned_envelope(d);
    let out = mezhved(
        &[
            "sign",
            "unsigned.xml",
            "--id",
            "NOPE",
            "--key",
            "k/ecdsa-sha256.key.pem",
            "--cert",
            "k/ecdsa-sha256.cert.pem",
        ],
        d,
    );
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no element has Id=\"NOPE\""));
}

#[test]
fn a_missing_gost_engine_or_key_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    ok(&mezhved(
        &["keygen", "--algorithm", "gost2012-256", "--out", "k"],
        d,
    ));
    unsigned_envelope(d);
    let engines = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_mezhved"))
        .args([
            "sign",
            "unsigned.xml",
            "--id",
            "SIGNED_BY_CONSUMER",
            "--key",
            "k/gost2012-256.key.pem",
            "--cert",
            "k/gost2012-256.cert.pem",
        ])
        .current_dir(d)
        .env("OPENSSL_ENGINES", engines.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("apt-get install libengine-gost-openssl"),
        "{err}"
    );

    // A configured key that is not there: the path and what to do.
    let out = Command::new(env!("CARGO_BIN_EXE_mezhved"))
        .args(["sign", "unsigned.xml", "--id", "SIGNED_BY_CONSUMER"])
        .current_dir(d)
        .env("MEZHVED__SIGNING__KEY", "/etc/mezhved/none.key.pem")
        .env(
            "MEZHVED__SIGNING__CERTIFICATE",
            "/etc/mezhved/none.cert.pem",
        )
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("/etc/mezhved/none.key.pem") && err.contains("No such file"),
        "{err}"
    );
}
