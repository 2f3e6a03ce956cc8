//! `mezhved keygen|sign|verify`: keys and signatures for operators and testers.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, bail};
use mezhved::smev::signatures;
use mezhved::xml::{self, NodeId};
use mezhved::xmldsig::{
    self, ReferenceTransforms, SignatureAlgorithm, SigningKey, TrustStore, VerifyPolicy,
    dev_key_paths,
};
use serde::Serialize;

fn algorithm(name: &str) -> anyhow::Result<SignatureAlgorithm> {
    SignatureAlgorithm::from_name(name).with_context(|| {
        format!(
            "unknown algorithm {name:?}: gost2012-256, gost2012-512, rsa-sha256 or ecdsa-sha256"
        )
    })
}

fn label(a: SignatureAlgorithm) -> &'static str {
    mezhved::pipeline::credentials::describe(a)
}

/// Options of `mezhved keygen`.
pub struct Keygen {
    pub algorithm: String,
    pub out: PathBuf,
    pub name: Option<String>,
    pub common_name: String,
    pub days: u32,
    pub ca: bool,
    pub issuer: Option<(PathBuf, PathBuf)>,
}

pub fn keygen(k: Keygen) -> anyhow::Result<ExitCode> {
    let alg = algorithm(&k.algorithm)?;
    let key = match &k.issuer {
        Some((key, cert)) => {
            let issuer_alg = key_file_algorithm(key)?;
            let ca = SigningKey::load(issuer_alg, key, cert, None).context("the issuing CA")?;
            ca.issue(alg, &k.common_name, k.days)?
        }
        None if k.ca => SigningKey::generate_ca(alg, &k.common_name, k.days)?,
        None => SigningKey::generate(alg, &k.common_name, k.days)?,
    };
    let (key_path, cert_path) = match &k.name {
        Some(n) => (
            k.out.join(format!("{n}.key.pem")),
            k.out.join(format!("{n}.cert.pem")),
        ),
        None => dev_key_paths(&k.out, alg),
    };
    for p in [&key_path, &cert_path] {
        if p.exists() {
            bail!("{} exists; choose another --name or --out", p.display());
        }
    }
    key.save(&key_path, &cert_path)?;
    println!("key:         {} (mode 0600)", key_path.display());
    println!("certificate: {}", cert_path.display());
    println!("subject:     {}", key.subject());
    println!("algorithm:   {alg} ({})", label(alg));
    println!(
        "valid:       {} days{}",
        k.days,
        if k.ca {
            ", may issue certificates (CA)"
        } else {
            ""
        }
    );
    Ok(ExitCode::SUCCESS)
}

/// The algorithm of a PEM key on disk, from its type.
fn key_file_algorithm(path: &Path) -> anyhow::Result<SignatureAlgorithm> {
    // GOST keys cannot even be read without the engine; other keys can.
    let engine = xmldsig::gost::require_engine();
    let pem = std::fs::read(path).with_context(|| path.display().to_string())?;
    let pkey = match openssl::pkey::PKey::private_key_from_pem(&pem) {
        Ok(k) => k,
        Err(e) => match engine {
            Err(no_gost) => bail!(
                "{}: cannot read the key; if it is a GOST key: {no_gost}",
                path.display()
            ),
            Ok(()) => bail!("{} is not a PEM private key ({e})", path.display()),
        },
    };
    xmldsig::key_algorithm(&pkey)
        .with_context(|| format!("{}: unsupported key type", path.display()))
}

/// Options of `mezhved sign`.
pub struct Sign {
    pub file: PathBuf,
    pub id: String,
    pub key: Option<(PathBuf, PathBuf)>,
    pub out: Option<PathBuf>,
    pub exc_c14n_only: bool,
    pub config: Option<PathBuf>,
}

pub fn sign(s: Sign) -> anyhow::Result<ExitCode> {
    let data = std::fs::read(&s.file).with_context(|| s.file.display().to_string())?;
    let mut doc = xml::parse(&data).with_context(|| s.file.display().to_string())?;
    let key = match &s.key {
        Some((k, c)) => SigningKey::load(
            key_file_algorithm(k)?,
            k,
            c,
            std::env::var("MEZHVED_KEY_PASSWORD").ok().as_deref(),
        )?,
        None => {
            let settings = super::load_settings(s.config.clone())?;
            let creds = mezhved::pipeline::credentials::signing_key(&settings)?;
            if let Some(n) = creds.notice {
                eprintln!("{n}");
            }
            creds.key
        }
    };
    let targets = doc.elements_with_id(&s.id);
    let target = match targets.as_slice() {
        [one] => *one,
        [] => bail!("no element has Id={:?}", s.id),
        many => bail!(
            "{} elements have Id={:?}; an Id must be unique",
            many.len(),
            s.id
        ),
    };
    let (kind, container) = signatures::container_for(&mut doc, target)?;
    let transforms = if s.exc_c14n_only {
        ReferenceTransforms::ExcC14nOnly
    } else {
        ReferenceTransforms::Smev
    };
    xmldsig::sign_element(&mut doc, target, container, &key, transforms)?;
    let out = xml::to_bytes(&doc);
    match &s.out {
        Some(p) => std::fs::write(p, &out).with_context(|| p.display().to_string())?,
        None => {
            use std::io::Write as _;
            std::io::stdout().write_all(&out)?;
        }
    }
    eprintln!(
        "signed <{}> Id={} into {} with {} ({}), certificate {}",
        doc.element(target).qname(),
        s.id,
        kind.element_name(),
        key.algorithm(),
        label(key.algorithm()),
        key.subject()
    );
    Ok(ExitCode::SUCCESS)
}

/// One signature's report.
#[derive(Serialize)]
struct Report {
    /// Path of the signature's container.
    signature: String,
    /// The element it covers, by SMEV's rules (or by its Reference).
    element: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    algorithm: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    accepted_by_smev: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    subject: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    valid_from: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    valid_to: Option<String>,
    trust: String,
    /// Whether a SMEV reader takes the element it covers (`false`: a copy
    /// elsewhere, say in a Header, that no reader looks at).
    #[serde(skip_serializing_if = "Option::is_none")]
    read_by_smev: Option<bool>,
    ok: bool,
    result: String,
}

impl Report {
    /// A failure found before any certificate was looked at.
    fn failed(
        signature: String,
        element: String,
        read_by_smev: Option<bool>,
        result: String,
    ) -> Self {
        Report {
            signature,
            element,
            algorithm: None,
            accepted_by_smev: None,
            subject: None,
            valid_from: None,
            valid_to: None,
            trust: "-".into(),
            read_by_smev,
            ok: false,
            result,
        }
    }
}

fn path_of(doc: &xml::Document, id: NodeId) -> String {
    let mut parts = vec![doc.element(id).local.clone()];
    let mut cur = doc.parent(id);
    while let Some(p) = cur {
        parts.push(doc.element(p).local.clone());
        cur = doc.parent(p);
    }
    parts.reverse();
    format!("/{}", parts.join("/"))
}

pub fn verify(
    file: PathBuf,
    trust: Vec<PathBuf>,
    at: Option<String>,
    json: bool,
    attachments: Option<PathBuf>,
) -> anyhow::Result<ExitCode> {
    let store = if trust.is_empty() {
        None
    } else {
        Some(TrustStore::from_pem_files(&trust)?)
    };
    let at = match at {
        Some(s) => mezhved::clock::parse_rfc3339(&s)
            .with_context(|| format!("--at {s:?} is not an RFC 3339 time"))?,
        None => mezhved::clock::now(),
    };
    if file.is_dir() {
        return verify_stored_attachments(&file, store.as_ref(), at, json);
    }
    let data = std::fs::read(&file).with_context(|| file.display().to_string())?;
    let doc = xml::parse(&data).with_context(|| file.display().to_string())?;
    let file_checks = match &attachments {
        Some(dir) => message_attachments(&doc, dir, store.as_ref(), at)
            .with_context(|| format!("{}: attachments", file.display()))?,
        None => Vec::new(),
    };
    let policy = VerifyPolicy {
        trust: store.as_ref(),
        at,
        allow_exc_c14n_only: true,
    };
    let signatures: Vec<NodeId> = doc
        .descendants(doc.root())
        .into_iter()
        .filter(|id| doc.element(*id).is(xmldsig::DS_NS, "Signature"))
        .collect();
    if signatures.is_empty() && signatures::signed_reads(&doc).is_err() {
        bail!("{}: no ds:Signature in the document", file.display());
    }
    let mut reports = Vec::new();
    for sig in signatures {
        let (container, target) = match signatures::expected_target(&doc, sig) {
            Some((c, t)) => (c.element_name().to_owned(), Some(t)),
            None => (
                "(not a SMEV signature container)".to_owned(),
                referenced(&doc, sig),
            ),
        };
        let Some(target) = target else {
            reports.push(Report::failed(
                path_of(&doc, sig),
                "-".into(),
                None,
                format!("{container}: the element it should sign is missing"),
            ));
            continue;
        };
        let report = match xmldsig::verify(&doc, sig, target, &policy) {
            Ok(v) => Report {
                signature: path_of(&doc, sig),
                element: path_of(&doc, target),
                algorithm: Some(v.algorithm.name().into()),
                accepted_by_smev: Some(v.algorithm.accepted_by_smev()),
                subject: Some(v.subject.clone()),
                valid_from: v.not_before.map(mezhved::clock::rfc3339),
                valid_to: v.not_after.map(mezhved::clock::rfc3339),
                trust: if v.trusted {
                    "trusted".into()
                } else {
                    "not checked (give --trust)".into()
                },
                read_by_smev: None,
                ok: true,
                result: if v.reformatted_after_signing {
                    "OK (SignedInfo was reformatted after signing)".into()
                } else {
                    "OK".into()
                },
            },
            Err(e) => Report {
                signature: path_of(&doc, sig),
                element: path_of(&doc, target),
                algorithm: None,
                accepted_by_smev: None,
                subject: None,
                valid_from: None,
                valid_to: None,
                trust: if store.is_some() {
                    "checked".into()
                } else {
                    "not checked".into()
                },
                read_by_smev: None,
                ok: false,
                result: format!("FAILED: {e}"),
            },
        };
        reports.push(report);
    }
    covers_what_is_read(&doc, &mut reports, &policy);
    let all_ok = reports.iter().all(|r| r.ok) && file_checks.iter().all(|c| c.ok);
    if json {
        if attachments.is_some() {
            println!(
                "{}",
                serde_json::to_string_pretty(&serde_json::json!({
                    "signatures": reports,
                    "attachments": file_checks,
                }))?
            );
        } else {
            println!("{}", serde_json::to_string_pretty(&reports)?);
        }
    } else {
        print_file_checks(&file_checks);
        for r in &reports {
            println!("signature  {}", r.signature);
            println!("  signs    {}", r.element);
            if let Some(a) = &r.algorithm {
                let smev = if r.accepted_by_smev == Some(true) {
                    "accepted by SMEV"
                } else {
                    "not accepted by SMEV"
                };
                println!("  algorithm {a} ({smev})");
            }
            if let Some(s) = &r.subject {
                println!("  certificate {s}");
                println!(
                    "  valid    {} .. {}",
                    r.valid_from.as_deref().unwrap_or("?"),
                    r.valid_to.as_deref().unwrap_or("?")
                );
            }
            println!("  trust    {}", r.trust);
            if let Some(read) = r.read_by_smev {
                println!(
                    "  read     {}",
                    if read {
                        "yes: what a SMEV reader takes"
                    } else {
                        "no: a copy no SMEV reader takes"
                    }
                );
            }
            println!("  result   {}", r.result);
        }
    }
    Ok(if all_ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// Checks what a SMEV reader of the message would take as signed — found
/// by the gateway's own parsers ([`signatures::signed_reads`]) — against
/// the signatures: each report says whether its element is the one read,
/// and an element read without a valid signature over it is a failure of
/// its own (a signature over a copy in a Header does not make the Body's
/// answer signed).
fn covers_what_is_read(doc: &xml::Document, reports: &mut Vec<Report>, policy: &VerifyPolicy<'_>) {
    let Ok(reads) = signatures::signed_reads(doc) else {
        // Not a SMEV message: the signatures speak for themselves.
        return;
    };
    let read_paths: Vec<String> = reads.iter().map(|r| path_of(doc, r.element)).collect();
    for r in reports.iter_mut() {
        if r.element == "-" {
            continue;
        }
        let read = read_paths.contains(&r.element);
        r.read_by_smev = Some(read);
        if r.ok && !read {
            r.result = format!("{} (but no SMEV reader takes this element)", r.result);
        }
    }
    for read in reads {
        let element = path_of(doc, read.element);
        let failure = match read.signature {
            None => Some(format!(
                "FAILED: a SMEV reader takes {} at {element}, and it carries no signature where the reader looks",
                read.what
            )),
            Some(sig) => xmldsig::verify(doc, sig, read.element, policy)
                .err()
                .map(|e| {
                    format!(
                        "FAILED: a SMEV reader takes {} at {element}, and its signature does not cover it: {e}",
                        read.what
                    )
                }),
        };
        let Some(result) = failure else { continue };
        // Reported already, by the signature in the reader's place.
        if read.signature.is_some()
            && reports
                .iter()
                .any(|r| r.element == element && !r.ok && r.read_by_smev == Some(true))
        {
            continue;
        }
        reports.push(Report::failed(
            read.signature
                .map(|s| path_of(doc, s))
                .unwrap_or_else(|| "(none)".into()),
            element,
            Some(true),
            result,
        ));
    }
}

/// The element a signature's Reference names (when it is unique).
fn referenced(doc: &xml::Document, sig: NodeId) -> Option<NodeId> {
    let reference = doc
        .descendants(sig)
        .into_iter()
        .find(|id| doc.element(*id).is(xmldsig::DS_NS, "Reference"))?;
    let id = doc
        .element(reference)
        .attr("URI")?
        .strip_prefix('#')?
        .to_owned();
    match doc.elements_with_id(&id).as_slice() {
        [one] => Some(*one),
        _ => None,
    }
}

fn print_file_checks(checks: &[mezhved::attachment::receive::FileCheck]) {
    for c in checks {
        println!("attachment {}", c.path);
        if let Some(s) = &c.signer {
            println!("  signer   {s}");
        }
        println!("  result   {}", c.result);
    }
}

/// The attachments a SMEV message names, checked in `dir`: file-store
/// ones (`RefAttachmentHeader`) by their hash and signature, MTOM ones
/// (`AttachmentHeader`) by their signature; the file of each is
/// `dir/<FileName>` or `dir/<contentId>`.
fn message_attachments(
    doc: &xml::Document,
    dir: &std::path::Path,
    trust: Option<&TrustStore>,
    at: time::OffsetDateTime,
) -> anyhow::Result<Vec<mezhved::attachment::receive::FileCheck>> {
    use mezhved::attachment::receive::{FileCheck, Headers, check_signature};
    use mezhved::attachment::{SignatureStatus, digest, safe_file_name};
    let resp = mezhved::smev::parse_get_response_response(doc)?
        .ok_or_else(|| anyhow::anyhow!("the GetResponseResponse carries no message"))?;
    let headers = Headers::from_response(doc, &resp);
    let mut wanted: Vec<(String, Option<String>, Option<String>)> = Vec::new();
    for h in &headers.headers {
        wanted.push((h.content_id.clone(), None, h.signature.clone()));
    }
    for r in &headers.refs {
        let name = headers
            .fs
            .iter()
            .find(|f| f.uuid == r.uuid)
            .map(|f| f.file_name.clone())
            .unwrap_or_else(|| r.uuid.clone());
        wanted.push((name, Some(r.hash.clone()), r.signature.clone()));
    }
    let mut out = Vec::new();
    for (name, hash, signature) in wanted {
        let fail = |result: String| FileCheck {
            path: dir.join(&name).display().to_string(),
            ok: false,
            result,
            signer: None,
        };
        if safe_file_name(&name).is_err() {
            out.push(fail(format!("FAILED: unsafe file name {name:?}")));
            continue;
        }
        let path = dir.join(&name);
        let d = match digest::digest_file(&path) {
            Ok(d) => d,
            Err(e) => {
                out.push(fail(format!("FAILED: {e}")));
                continue;
            }
        };
        if let Some(h) = &hash
            && let Err(why) = d.check(h, false)
        {
            out.push(fail(format!("FAILED: {why}")));
            continue;
        }
        let hashed = if hash.is_some() { "hash matches; " } else { "" };
        let check = match (signature.as_deref(), trust) {
            (None, _) => FileCheck {
                path: path.display().to_string(),
                ok: true,
                result: format!("OK: {hashed}no signature"),
                signer: None,
            },
            (Some(_), None) => FileCheck {
                path: path.display().to_string(),
                ok: true,
                result: format!("OK: {hashed}signature not checked (give --trust)"),
                signer: None,
            },
            (Some(s), Some(t)) => {
                let c = check_signature(Some(s), &path, t, at);
                let ok = c.status == SignatureStatus::Verified;
                FileCheck {
                    path: path.display().to_string(),
                    ok,
                    result: if ok {
                        format!("OK: {hashed}signature verified")
                    } else {
                        format!(
                            "FAILED: signature: {}",
                            c.reason.as_deref().unwrap_or("does not verify")
                        )
                    },
                    signer: c.signer,
                }
            }
        };
        out.push(check);
    }
    Ok(out)
}

/// `mezhved verify <folder>`: the stored attachments of a request folder,
/// or of every request folder of a case folder, checked again.
fn verify_stored_attachments(
    dir: &std::path::Path,
    trust: Option<&TrustStore>,
    at: time::OffsetDateTime,
    json: bool,
) -> anyhow::Result<ExitCode> {
    use mezhved::attachment::receive::verify_stored;
    let mut folders = vec![dir.to_path_buf()];
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| dir.display().to_string())?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_dir())
        .collect();
    entries.sort();
    folders.extend(entries);
    let mut checks = Vec::new();
    let mut found = false;
    for f in folders {
        if let Some(c) = verify_stored(&f, trust, at) {
            found = true;
            checks.extend(c);
        }
    }
    if !found {
        bail!(
            "{}: no received attachments here (neither a request folder nor a case folder with attachments)",
            dir.display()
        );
    }
    if json {
        println!("{}", serde_json::to_string_pretty(&checks)?);
    } else {
        print_file_checks(&checks);
    }
    Ok(if checks.iter().all(|c| c.ok) {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
