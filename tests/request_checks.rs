//! The emulator refuses a business request exactly when its schema does:
//! mutations of valid requests of every kind are checked by the emulator's
//! lookups and by `xmllint --schema`, and both must agree.

mod common;

use std::process::Command;

use common::*;
use mezhved::lookup::{LookupConfig, Registry};
use mezhved::request::Kind;
use mezhved::xml;

/// Text-level mutations of a serialised request: each either keeps it valid
/// or breaks one rule of its schema.
fn mutations(valid: &str, kind: Kind) -> Vec<(String, String)> {
    let mut out = vec![("unchanged".to_owned(), valid.to_owned())];
    let id_value = |attr: &str| {
        let start = valid
            .find(&format!("{attr}=\""))
            .map(|i| i + attr.len() + 2)?;
        let end = valid[start..].find('"')? + start;
        Some((start, end))
    };
    for attr in ["ИдДок", "ИдЗапрос", "requestId"] {
        if let Some((s, e)) = id_value(attr) {
            out.push((
                format!("{attr} too long"),
                format!("{}{}{}", &valid[..s], "x".repeat(37), &valid[e..]),
            ));
            out.push((
                format!("{attr} empty"),
                format!("{}{}", &valid[..s], &valid[e..]),
            ));
            out.push((
                format!("{attr} missing"),
                valid.replacen(&format!(" {attr}=\"{}\"", &valid[s..e]), "", 1),
            ));
        }
    }
    let first_close = valid.find('>').unwrap();
    out.push((
        "unknown attribute on the root".into(),
        format!(
            "{} Лишний=\"1\"{}",
            &valid[..first_close],
            &valid[first_close..]
        ),
    ));
    for xsi in ["xsi:nil=\"false\"", "xsi:schemaLocation=\"urn:x x.xsd\""] {
        out.push((
            format!("{xsi} on the root"),
            format!(
                "{} xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" {xsi}{}",
                &valid[..first_close],
                &valid[first_close..]
            ),
        ));
    }
    // Text in an element-only root.
    out.push(("text in the root".into(), valid.replacen('>', ">junk", 1)));
    // Identifier values: too short, too long, letters, leading 00, spaces.
    for id in [
        "1144703001233",
        "4703123451",
        "318470300001230",
        "470312345687",
        "7812345675",
        "15678912317",
    ] {
        if valid.contains(&format!(">{id}<")) {
            let short = &id[..id.len() - 1];
            out.push((
                "identifier too short".into(),
                valid.replace(&format!(">{id}<"), &format!(">{short}<")),
            ));
            out.push((
                "identifier too long".into(),
                valid.replace(&format!(">{id}<"), &format!(">{id}0<")),
            ));
            out.push((
                "identifier with a letter".into(),
                valid.replace(&format!(">{id}<"), &format!(">{short}X<")),
            ));
            out.push((
                "identifier with spaces".into(),
                valid.replace(&format!(">{id}<"), &format!("> {id}<")),
            ));
            let zero = format!("00{}", &id[2..]);
            out.push((
                "identifier starting with 00".into(),
                valid.replace(&format!(">{id}<"), &format!(">{zero}<")),
            ));
        }
    }
    // An extra element at the end of the root.
    let (prefix, root_local) = {
        let tag = &valid[1..valid.find([' ', '>']).unwrap()];
        let (p, l) = tag.split_once(':').unwrap();
        (p.to_owned(), l.to_owned())
    };
    let end = format!("</{prefix}:{root_local}>");
    out.push((
        "unexpected element".into(),
        valid.replace(&end, &format!("<{prefix}:Лишний/>{end}")),
    ));
    // The same element in another namespace.
    out.push((
        "child in a foreign namespace".into(),
        valid.replace(&end, &format!("<x:Лишний xmlns:x=\"urn:other\"/>{end}")),
    ));
    if kind == Kind::TaxDebt {
        out.push((
            "bad date".into(),
            valid.replace("ДатаЗапрСв=\"2026-11-20\"", "ДатаЗапрСв=\"2026-13-20\""),
        ));
        out.push((
            "date with a zone".into(),
            valid.replace(
                "ДатаЗапрСв=\"2026-11-20\"",
                "ДатаЗапрСв=\"2026-11-20+03:00\"",
            ),
        ));
    }
    if kind == Kind::UnreliableSupplier {
        out.push((
            "with a КПП".into(),
            valid.replace("</rnp:INN>", "</rnp:INN><rnp:KPP>781301001</rnp:KPP>"),
        ));
        out.push((
            "bad КПП".into(),
            valid.replace("</rnp:INN>", "</rnp:INN><rnp:KPP>78130100</rnp:KPP>"),
        ));
        out.push((
            "КПП before ИНН".into(),
            valid.replace("<rnp:INN>", "<rnp:KPP>781301001</rnp:KPP><rnp:INN>"),
        ));
    }
    out
}

#[test]
fn the_emulator_and_xmllint_agree_on_every_mutation() {
    let registry = Registry::new(&LookupConfig::default());
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("req.xml");
    let mut checked = 0;
    for (kind, id) in [
        (Kind::Egrul, "1144703001233"),
        (Kind::Egrul, "4703123451"),
        (Kind::Egrip, "318470300001230"),
        (Kind::Egrip, "470312345687"),
        (Kind::TaxDebt, "7812345675"),
        (Kind::UnreliableSupplier, "7812345675"),
        (Kind::ForeignAgent, "15678912317"),
        (Kind::ForeignAgent, "4703123451"),
    ] {
        let req = lookup_request(kind, id);
        let lookup = registry.get(kind);
        let business = lookup.build_request(&req, "6f9c1a52-2d0e-4c7b-9a31-1b5c0e7d4a01");
        let valid = xml::element_to_string(&business, business.root());
        for (what, text) in mutations(&valid, kind) {
            let Ok(doc) = xml::parse(text.as_bytes()) else {
                continue;
            };
            std::fs::write(&file, &text).unwrap();
            let xsd = Command::new("xmllint")
                .args(["--noout", "--schema"])
                .arg(business_schema(kind))
                .arg(&file)
                .output()
                .unwrap();
            let ours = lookup.read_request(&doc, doc.root());
            assert_eq!(
                ours.is_ok(),
                xsd.status.success(),
                "{kind} / {what}: the emulator says {ours:?}, xmllint says {}\n{text}",
                String::from_utf8_lossy(&xsd.stderr)
            );
            checked += 1;
        }
    }
    assert!(checked > 100, "{checked} mutations checked");
}
