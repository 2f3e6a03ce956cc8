//! `mezhved crypto-floor`: the CPU a lookup's cryptography costs at the
//! least, measured in this process on the gateway's own key.
//!
//! A lookup signs three messages (`SendRequest`, `GetResponse`, `Ack`) and
//! verifies one (SMEV's signature on the answer). The messages are built
//! by the same code the daemon uses, the answer comes from an in-process
//! emulator node signing with the emulator's key, and what is timed is only
//! what no implementation avoids: the digest of each reference's signed
//! bytes, the signature (or verification) of each canonical `SignedInfo`.
//! Everything else (building, transforming and canonicalising the XML) is
//! done once, before the clock starts.

use std::path::PathBuf;
use std::process::ExitCode;

use base64::Engine as _;
use mezhved::emulator::{self, Fixtures, Node, NodeSettings, VsFixtures};
use mezhved::lookup::Registry;
use mezhved::request::Kind;
use mezhved::xml::{self, Document, NodeId};
use mezhved::xmldsig::{self, DS_NS, ReferenceTransforms, SignatureAlgorithm, SigningKey};
use mezhved::{clock, smev};

pub struct Floor {
    pub config: Option<PathBuf>,
    pub iterations: u32,
    pub json: bool,
}

/// One signature of a lookup: the bytes digested for its reference and
/// its canonical `SignedInfo`.
struct Signed {
    what: &'static str,
    reference: Vec<u8>,
    signed_info: Vec<u8>,
    value: Vec<u8>,
}

/// The reference bytes and `SignedInfo` of the signature `sig` over
/// `target` in `doc`.
fn parts(
    what: &'static str,
    doc: &Document,
    target: NodeId,
    sig: NodeId,
) -> anyhow::Result<Signed> {
    let reference = xmldsig::reference_octets(doc, target, ReferenceTransforms::Smev)?;
    let si = doc
        .child(sig, DS_NS, "SignedInfo")
        .ok_or_else(|| anyhow::anyhow!("{what}: no SignedInfo"))?;
    let signed_info = xmldsig::c14n::canonicalize(doc, si);
    let value = doc
        .child_text(sig, DS_NS, "SignatureValue")
        .ok_or_else(|| anyhow::anyhow!("{what}: no SignatureValue"))?;
    let value = base64::engine::general_purpose::STANDARD
        .decode(value.split_whitespace().collect::<String>())?;
    Ok(Signed {
        what,
        reference,
        signed_info,
        value,
    })
}

fn signature_in(doc: &Document, container: NodeId) -> anyhow::Result<NodeId> {
    doc.child(container, DS_NS, "Signature")
        .ok_or_else(|| anyhow::anyhow!("no ds:Signature in the container"))
}

fn soap(reply: emulator::Reply) -> anyhow::Result<Vec<u8>> {
    match reply.body {
        emulator::Body::Soap(b) if reply.status == 200 => Ok(b),
        emulator::Body::Soap(b) => anyhow::bail!(
            "the emulator node refused ({}): {}",
            reply.status,
            String::from_utf8_lossy(&b)
        ),
        _ => anyhow::bail!("the emulator node gave no SOAP answer"),
    }
}

/// CPU time of this thread, in seconds.
fn thread_cpu() -> f64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes one timespec into the value passed.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    ts.tv_sec as f64 + ts.tv_nsec as f64 / 1e9
}

/// The signed messages of one lookup of `kind`: three signed by `key`,
/// and the answer signed by the emulator node.
fn lookup(
    kind: Kind,
    n: u64,
    key: &SigningKey,
    node: &Node,
    registry: &Registry,
) -> anyhow::Result<(Vec<Signed>, Signed)> {
    let version = smev::Version::V1_3;
    let plan = mezhved::load::Plan::new(vec![kind]);
    let (_, body) = plan.request(n);
    let req = mezhved::request::parse_request(&body, clock::moscow_today())
        .map_err(|e| anyhow::anyhow!("the synthetic request: {e}"))?;
    let message_id = smev::new_message_id();
    let business = registry
        .get(req.kind)
        .build_request(&req, &req.request_id.to_string());
    let opts = smev::EnvelopeOptions {
        test: req.test,
        ..smev::EnvelopeOptions::default()
    };
    let send = smev::send_request_with(version, &message_id, &business, &opts);
    let (sprd, container) = (send.sender_provided, send.caller_signature);
    let doc = send.sign(key, None)?;
    let mut out = vec![parts(
        "SendRequest",
        &doc,
        sprd,
        signature_in(&doc, container)?,
    )?];
    soap(node.handle(None, &xml::to_bytes(&doc)))?;

    let (mut doc, sel, container) = smev::get_response_request(version, clock::now(), None);
    xmldsig::sign_element(&mut doc, sel, container, key, ReferenceTransforms::Smev)?;
    out.push(parts(
        "GetResponse",
        &doc,
        sel,
        signature_in(&doc, container)?,
    )?);
    let answer = soap(node.handle(None, &xml::to_bytes(&doc)))?;
    let answer = xml::parse(&answer)?;
    let resp = smev::parse_get_response_response(&answer)?
        .ok_or_else(|| anyhow::anyhow!("the emulator node had no answer for {kind:?}"))?;
    let sig = resp
        .smev_signature
        .ok_or_else(|| anyhow::anyhow!("the answer is unsigned"))?;
    let verified = parts("answer", &answer, resp.response, sig)?;

    let mid = resp.message_id.unwrap_or_default();
    let (mut doc, target, container) = smev::ack_request(version, &mid, true);
    xmldsig::sign_element(&mut doc, target, container, key, ReferenceTransforms::Smev)?;
    out.push(parts("Ack", &doc, target, signature_in(&doc, container)?)?);
    Ok((out, verified))
}

pub fn run(args: Floor) -> anyhow::Result<ExitCode> {
    let settings = super::load_settings(args.config)?;
    let creds = mezhved::pipeline::credentials::signing_key(&settings)?;
    let key = creds.key;
    let registry = Registry::new(&settings.lookup);
    let emulator_algorithm = if xmldsig::gost::available() {
        SignatureAlgorithm::Gost2012_256
    } else {
        key.algorithm()
    };
    let emulator_key = SigningKey::generate(emulator_algorithm, "crypto floor: SMEV", 30)?;
    let emulator_cert = emulator_key.certificate().to_owned();
    let node = Node::new(
        Registry::new(&settings.lookup),
        Fixtures::load(&settings.emulator.data, &registry)?,
        VsFixtures::load(&settings.emulator.data)?,
        emulator_key,
        NodeSettings {
            answer_delay: std::time::Duration::ZERO,
            redeliver_after: std::time::Duration::from_secs(3600),
            schema_errors: settings.emulator.schema_errors,
            unknown_vs: settings.emulator.unknown_vs,
        },
    );
    // One lookup of each kind of an application, as the load run mixes them.
    let mut lookups = Vec::new();
    for (n, kind) in mezhved::load::APPLICATION_KINDS.iter().enumerate() {
        lookups.push(lookup(*kind, n as u64, &key, &node, &registry)?);
    }
    let public = emulator_cert.public_key()?;
    let digest = key.algorithm().digest();
    let answer_digest = emulator_algorithm.digest();

    let iterations = args.iterations.max(1);
    // Warm-up: the engine's first calls load tables.
    for (signs, verify) in &lookups {
        for s in signs {
            std::hint::black_box(digest.digest(&s.reference)?);
            std::hint::black_box(key.sign(&s.signed_info)?);
        }
        std::hint::black_box(answer_digest.digest(&verify.reference)?);
    }
    let (mut sign_s, mut verify_s, mut digest_s) = (0.0, 0.0, 0.0);
    let started = std::time::Instant::now();
    for _ in 0..iterations {
        for (signs, v) in &lookups {
            let t = thread_cpu();
            for s in signs {
                std::hint::black_box(digest.digest(&s.reference)?);
            }
            std::hint::black_box(answer_digest.digest(&v.reference)?);
            let t1 = thread_cpu();
            for s in signs {
                std::hint::black_box(key.sign(&s.signed_info)?);
            }
            let t2 = thread_cpu();
            let ok = xmldsig::verify_raw(emulator_algorithm, &public, &v.signed_info, &v.value)?;
            let t3 = thread_cpu();
            anyhow::ensure!(ok, "the answer's signature does not verify");
            digest_s += t1 - t;
            sign_s += t2 - t1;
            verify_s += t3 - t2;
        }
    }
    let wall = started.elapsed().as_secs_f64();
    let n = f64::from(iterations) * lookups.len() as f64;
    let per = |s: f64| s / n * 1e3;
    let floor_ms = per(digest_s + sign_s + verify_s);
    let bytes: Vec<serde_json::Value> = lookups[0]
        .0
        .iter()
        .chain(std::iter::once(&lookups[0].1))
        .map(|s| {
            serde_json::json!({
                "what": s.what,
                "reference_bytes": s.reference.len(),
                "signed_info_bytes": s.signed_info.len(),
            })
        })
        .collect();
    let digested: usize = lookups
        .iter()
        .map(|(signs, v)| {
            signs.iter().map(|s| s.reference.len()).sum::<usize>() + v.reference.len()
        })
        .sum::<usize>()
        / lookups.len();
    let report = serde_json::json!({
        "algorithm": key.algorithm().name(),
        "answer_algorithm": emulator_algorithm.name(),
        "lookups_timed": n,
        "floor_ms_per_lookup": (floor_ms * 1e4).round() / 1e4,
        "sign_ms_per_lookup": (per(sign_s) * 1e4).round() / 1e4,
        "verify_ms_per_lookup": (per(verify_s) * 1e4).round() / 1e4,
        "digest_ms_per_lookup": (per(digest_s) * 1e4).round() / 1e4,
        "digested_bytes_per_lookup": digested,
        "wall_ms_per_lookup": (wall / n * 1e3 * 1e4).round() / 1e4,
        "first_lookup": bytes,
    });
    if args.json {
        println!("{report}");
    } else {
        println!(
            "crypto floor ({}): {:.3} ms CPU per lookup = 3 signatures {:.3} + 1 verification {:.3} + digests of {} bytes {:.3} (over {} lookups; wall {:.3} ms)",
            key.algorithm().name(),
            floor_ms,
            per(sign_s),
            per(verify_s),
            digested,
            per(digest_s),
            n,
            wall / n * 1e3
        );
    }
    Ok(ExitCode::SUCCESS)
}
