//! `mezhved::xsd` on the schemas mezhved uses: every official and own
//! schema set compiles, documents get violations that name the element or
//! attribute and say what was expected, bad schemas are refused with a
//! reason, and one compiled set serves many threads.

mod common;

use std::path::PathBuf;
use std::sync::Arc;

use common::*;
use mezhved::emulator::{Fixtures, ProviderAnswer};
use mezhved::lookup::{LookupConfig, Registry};
use mezhved::request::Kind;
use mezhved::xml::{self, Document, NodeId};
use mezhved::xsd::{SchemaSet, Violation, XsdError};

const EGRUL_NS: &str = "urn://x-artefacts-fns-vipul-tosmv-ru/311-14/4.0.6";
const EGRIP_NS: &str = "urn://x-artefacts-fns-vipip-tosmv-ru/311-15/4.0.5";
const XSI: &str = "http://www.w3.org/2001/XMLSchema-instance";

fn egrul_schema() -> SchemaSet {
    SchemaSet::load_files(&[business_schema(Kind::Egrul)]).unwrap()
}

/// The emulator's ЕГРЮЛ answer about АНО «ЦСЗ «Ладога».
fn ladoga_answer() -> Document {
    let registry = Registry::new(&LookupConfig::default());
    let fixtures = Fixtures::load(&root().join("fixtures"), &registry).unwrap();
    let req = lookup_request(Kind::Egrul, "1144703001233");
    let lookup = registry.get(Kind::Egrul);
    let business = lookup.build_request(&req, &req.request_id.to_string());
    let query = lookup.read_request(&business, business.root()).unwrap();
    let ProviderAnswer::Business(doc) = fixtures
        .answer(&registry, Kind::Egrul, &query, &Default::default())
        .unwrap()
    else {
        panic!("a business answer");
    };
    xml::parse(&xml::to_bytes(&doc)).unwrap()
}

fn find(doc: &Document, local: &str) -> NodeId {
    doc.descendants(doc.root())
        .into_iter()
        .find(|id| doc.element(*id).local == local)
        .unwrap_or_else(|| panic!("no {local}"))
}

fn only(v: Vec<Violation>) -> Violation {
    assert_eq!(v.len(), 1, "{v:#?}");
    v.into_iter().next().unwrap()
}

#[test]
fn every_official_and_own_schema_set_compiles() {
    let official = SchemaSet::load_dir(&shared("xsd")).unwrap();
    for (ns, local) in [
        (EGRUL_NS, "FNSVipULRequest"),
        (EGRUL_NS, "FNSVipULResponse"),
        (EGRIP_NS, "FNSVipIPRequest"),
        (EGRIP_NS, "FNSVipIPResponse"),
        (
            "urn://x-artefacts-smev-gov-ru/services/message-exchange/types/1.1",
            "SendRequestRequest",
        ),
        (
            "urn://x-artefacts-smev-gov-ru/services/message-exchange/types/1.3",
            "GetResponseResponse",
        ),
        (
            "urn://x-artefacts-smev-gov-ru/services/message-exchange/types/faults/1.3",
            "AccessDenied",
        ),
    ] {
        assert!(official.declares(ns, local), "{{{ns}}}{local}");
    }
    assert!(
        !official.declares(EGRUL_NS, "СвЮЛ"),
        "a local element is not global"
    );
    assert!(!official.declares("", "FNSVipULResponse"));

    let own = SchemaSet::load_dir(&root().join("schemas")).unwrap();
    assert!(own.declares("http://schemas.xmlsoap.org/soap/envelope/", "Envelope"));
    for kind in [Kind::TaxDebt, Kind::UnreliableSupplier, Kind::ForeignAgent] {
        let file = business_schema(kind);
        let doc = xml::parse(&std::fs::read(&file).unwrap()).unwrap();
        let ns = doc
            .element(doc.root())
            .attr("targetNamespace")
            .unwrap()
            .to_owned();
        let set = SchemaSet::load_files(&[file]).unwrap();
        let globals: Vec<String> = doc
            .child_elements(doc.root())
            .filter(|c| doc.element(*c).local == "element")
            .map(|c| doc.element(c).attr("name").unwrap().to_owned())
            .collect();
        assert!(!globals.is_empty());
        for g in globals {
            assert!(set.declares(&ns, &g), "{kind}: {g}");
            assert!(own.declares(&ns, &g), "{kind}: {g}");
        }
    }
}

#[test]
fn embedded_texts_resolve_imports_by_name() {
    let dir = shared("xsd/fns-egrul-4.0.6");
    let root_text = std::fs::read_to_string(dir.join("fns-vipul-tosmv-ru.xsd")).unwrap();
    let types_text = std::fs::read_to_string(dir.join("commons/fns-vipul-types.xsd")).unwrap();
    // As laid out on disk: "./commons/fns-vipul-types.xsd" relative to the root.
    let set = SchemaSet::from_texts(&[
        ("fns/fns-vipul-tosmv-ru.xsd", &root_text),
        ("fns/commons/fns-vipul-types.xsd", &types_text),
    ])
    .unwrap();
    let doc = ladoga_answer();
    assert_eq!(set.validate(&doc, doc.root()), vec![]);
    // Flat, as include_str! users often have them: found by file name.
    let flat = SchemaSet::from_texts(&[
        ("fns-vipul-tosmv-ru.xsd", &root_text),
        ("fns-vipul-types.xsd", &types_text),
    ])
    .unwrap();
    assert_eq!(flat.validate(&doc, doc.root()), vec![]);
    // The imported text missing is an error that names it.
    let err = SchemaSet::from_texts(&[("fns-vipul-tosmv-ru.xsd", &root_text)]).unwrap_err();
    assert!(err.to_string().contains("fns-vipul-types.xsd"), "{err}");
}

#[test]
fn a_missing_required_attribute_is_named() {
    let mut doc = ladoga_answer();
    let root = doc.root();
    doc.element_mut(root).attrs.retain(|a| a.local != "ИдДок");
    let v = only(egrul_schema().validate(&doc, root));
    assert_eq!(v.path, "/FNSVipULResponse");
    assert_eq!(v.message, "required attribute ИдДок is missing");
}

#[test]
fn a_broken_pattern_names_the_attribute_and_the_pattern() {
    let mut doc = ladoga_answer();
    let ul = find(&doc, "СвЮЛ");
    doc.set_attr(ul, "ОГРН", "114470300123");
    let v = only(egrul_schema().validate(&doc, doc.root()));
    assert_eq!(v.path, "/FNSVipULResponse/СвЮЛ[1]/@ОГРН");
    assert!(
        v.message
            .starts_with("value '114470300123' does not match the pattern")
            && v.message.contains("[0-9]{13}")
            && v.message.contains("(type OGRNCompanyType)"),
        "{}",
        v.message
    );
}

#[test]
fn a_bad_date_and_an_enumeration_are_explained() {
    let mut doc = ladoga_answer();
    let ul = find(&doc, "СвЮЛ");
    doc.set_attr(ul, "ДатаВып", "2026-02-30");
    doc.set_attr(ul, "СпрОПФ", "ОКВЭД");
    let v = egrul_schema().validate(&doc, doc.root());
    assert_eq!(v.len(), 2, "{v:#?}");
    assert_eq!(v[0].path, "/FNSVipULResponse/СвЮЛ[1]/@ДатаВып");
    assert_eq!(v[0].message, "value '2026-02-30' is not a valid xs:date");
    assert_eq!(v[1].path, "/FNSVipULResponse/СвЮЛ[1]/@СпрОПФ");
    assert!(
        v[1].message.contains("is not one of the allowed values")
            && v[1].message.contains("'ОКОПФ'"),
        "{}",
        v[1].message
    );
}

#[test]
fn content_model_errors_say_what_was_expected() {
    let set = egrul_schema();
    let base = ladoga_answer();

    // Two children swapped.
    let mut doc = base.clone();
    let ul = find(&doc, "СвЮЛ");
    let kids: Vec<NodeId> = doc.child_elements(ul).collect();
    let (a, b) = (kids[1], kids[2]); // СвАдресЮЛ, СвАдрЭлПочты
    let children = &mut doc.element_mut(ul).children;
    let (ia, ib) = (
        children.iter().position(|c| *c == a).unwrap(),
        children.iter().position(|c| *c == b).unwrap(),
    );
    children.swap(ia, ib);
    // СвАдресЮЛ is required, so the e-mail address comes too early.
    let v = only(set.validate(&doc, doc.root()));
    assert_eq!(v.path, "/FNSVipULResponse/СвЮЛ[1]/СвАдрЭлПочты[1]");
    assert_eq!(
        v.message,
        "element СвАдрЭлПочты is out of order; expected СвАдресЮЛ"
    );

    // An element the type does not declare.
    let mut doc = base.clone();
    let ul = find(&doc, "СвЮЛ");
    doc.append_element(ul, Some("fns"), "СвНеизвестно", Some(EGRUL_NS));
    let v = only(set.validate(&doc, doc.root()));
    assert_eq!(v.path, "/FNSVipULResponse/СвЮЛ[1]/СвНеизвестно[1]");
    assert!(
        v.message
            .starts_with("element СвНеизвестно is not allowed here; expected "),
        "{}",
        v.message
    );
    assert!(v.message.contains("the end of СвЮЛ"), "{}", v.message);

    // One occurrence too many.
    let mut doc = base.clone();
    let name = find(&doc, "СвНаимЮЛ");
    let ul = find(&doc, "СвЮЛ");
    let copy = doc.append_subtree(ul, &base, name);
    let children = &mut doc.element_mut(ul).children;
    children.pop();
    let at = children.iter().position(|c| *c == name).unwrap();
    children.insert(at + 1, copy);
    let v = only(set.validate(&doc, doc.root()));
    assert_eq!(v.path, "/FNSVipULResponse/СвЮЛ[1]/СвНаимЮЛ[2]");
    assert!(
        v.message
            .starts_with("element СвНаимЮЛ may occur at most once here"),
        "{}",
        v.message
    );

    // A required child missing.
    let mut doc = base.clone();
    let name = find(&doc, "СвНаимЮЛ");
    doc.detach(name);
    let v = only(set.validate(&doc, doc.root()));
    assert_eq!(v.path, "/FNSVipULResponse/СвЮЛ[1]/СвАдресЮЛ[1]");
    assert!(v.message.contains("expected СвНаимЮЛ"), "{}", v.message);
    let mut doc = base.clone();
    let grn = find(&doc, "ГРНДата");
    doc.detach(grn);
    let v = only(set.validate(&doc, doc.root()));
    assert_eq!(v.path, "/FNSVipULResponse/СвЮЛ[1]/СвНаимЮЛ[1]");
    assert_eq!(v.message, "element СвНаимЮЛ is incomplete: missing ГРНДата");

    // The right name in the wrong namespace.
    let mut doc = base.clone();
    let email = find(&doc, "СвАдрЭлПочты");
    let el = doc.element_mut(email);
    el.ns = Some("urn:wrong".into());
    el.prefix = None;
    el.ns_decls.push(xml::NsDecl {
        prefix: None,
        uri: "urn:wrong".into(),
    });
    let doc = xml::parse(&xml::to_bytes(&doc)).unwrap();
    let v = set.validate(&doc, doc.root());
    assert_eq!(v[0].path, "/FNSVipULResponse/СвЮЛ[1]/СвАдрЭлПочты[1]");
    assert!(
        v[0].message.starts_with(&format!(
            "element СвАдрЭлПочты is in namespace urn:wrong, but the schema expects it in namespace {EGRUL_NS}"
        )),
        "{}",
        v[0].message
    );
}

#[test]
fn smev_faults_are_checked_by_their_xsi_type() {
    let v = "1.3";
    let set = SchemaSet::load_files(&[
        shared(&format!("xsd/smev-{v}/smev-message-exchange-types-{v}.xsd")),
        shared(&format!(
            "xsd/smev-{v}/smev-message-exchange-faults-{v}.xsd"
        )),
    ])
    .unwrap();
    let text = std::fs::read_to_string(shared("vectors/signed-2012/getresponse-response.xml"))
        .unwrap()
        .replace("/1.2\"", "/1.3\"");
    let doc = xml::parse(text.as_bytes()).unwrap();
    let fault = find(&doc, "SmevFault");
    let fault_path = "/GetResponseResponse/ResponseMessage[1]/Response[1]/SenderProvidedResponseData[1]/AsyncProcessingStatus[1]/SmevFault[1]";
    let about_fault = |doc: &Document| -> Vec<Violation> {
        set.validate(doc, doc.root())
            .into_iter()
            .filter(|v| v.path.starts_with(fault_path))
            .collect()
    };
    // As sent: InvalidContent extends SmevFault with ValidationError children.
    assert_eq!(about_fault(&doc), vec![]);

    // A fault type that does not have ValidationError.
    let mut other = doc.clone();
    for a in &mut other.element_mut(fault).attrs {
        if a.ns.as_deref() == Some(XSI) {
            a.value = "ns3:SignatureVerificationFault".into();
        }
    }
    let v = about_fault(&other);
    assert!(!v.is_empty());
    assert!(v[0].path.starts_with(fault_path), "{v:#?}");

    // A type that is not a fault: the base SmevFault extends.
    let mut wrong = doc.clone();
    for a in &mut wrong.element_mut(fault).attrs {
        if a.ns.as_deref() == Some(XSI) {
            a.value = "Void".into();
        }
    }
    let v = only(about_fault(&wrong));
    assert_eq!(v.path, fault_path);
    assert_eq!(
        v.message,
        "xsi:type Void does not derive from the declared type SmevFault"
    );

    // A type that does not exist.
    let mut unknown = doc.clone();
    for a in &mut unknown.element_mut(fault).attrs {
        if a.ns.as_deref() == Some(XSI) {
            a.value = "ns3:NoSuchFault".into();
        }
    }
    let v = only(about_fault(&unknown));
    assert!(
        v.message.contains("names a type that is not defined"),
        "{}",
        v.message
    );
}

#[test]
fn the_business_content_of_a_smev_message_is_laxly_checked() {
    // SMEV 1.3 lets MessagePrimaryContent hold any element of another
    // namespace, processContents="lax": checked when a declaration is
    // loaded, let through when not.
    let registry = Registry::new(&LookupConfig::default());
    let req = lookup_request(Kind::Egrul, "1144703001233");
    let mut business = registry
        .get(Kind::Egrul)
        .build_request(&req, &req.request_id.to_string());
    let broot = business.root();
    business.element_mut(broot).attrs.clear();
    let msg = mezhved::smev::send_request(
        mezhved::smev::Version::V1_3,
        &uuid::Uuid::new_v4(),
        &business,
        false,
        None,
        false,
    );
    let doc = xml::parse(&xml::to_bytes(&msg.doc)).unwrap();
    let body = mezhved::smev::body_child(&doc).unwrap();
    let types = shared("xsd/smev-1.3/smev-message-exchange-types-1.3.xsd");
    let smev_only = SchemaSet::load_files(std::slice::from_ref(&types)).unwrap();
    let v = smev_only.validate(&doc, body);
    assert!(
        v.iter()
            .all(|v| v.path.ends_with("CallerInformationSystemSignature[1]")),
        "{v:#?}"
    );
    let with_fns = SchemaSet::load_files(&[types, business_schema(Kind::Egrul)]).unwrap();
    let v = with_fns.validate(&doc, body);
    assert!(
        v.iter().any(|v| v.path
            == "/SendRequestRequest/SenderProvidedRequestData[1]/MessagePrimaryContent[1]/FNSVipULRequest[1]"
            && v.message == "required attribute ИдДок is missing"),
        "{v:#?}"
    );
}

#[test]
fn an_undeclared_root_is_a_violation() {
    let doc = xml::parse(b"<x:Other xmlns:x=\"urn:other\"/>").unwrap();
    let v = only(egrul_schema().validate(&doc, doc.root()));
    assert_eq!(v.path, "/Other");
    assert!(
        v.message.contains("no global element {urn:other}Other"),
        "{}",
        v.message
    );
}

fn schema_error(texts: &[(&str, &str)]) -> XsdError {
    SchemaSet::from_texts(texts).unwrap_err()
}

#[test]
fn bad_schemas_are_refused_with_a_reason() {
    let xs = r#"xmlns:xs="http://www.w3.org/2001/XMLSchema""#;
    let e = schema_error(&[(
        "a.xsd",
        &format!(
            r#"<xs:schema {xs}><xs:simpleType name="T"><xs:restriction base="xs:string"><xs:pattern value="[a-"/></xs:restriction></xs:simpleType></xs:schema>"#
        ),
    )]);
    assert!(matches!(e, XsdError::Pattern { .. }), "{e}");
    let e = schema_error(&[(
        "a.xsd",
        &format!(r#"<xs:schema {xs}><xs:element name="e" type="Missing"/></xs:schema>"#),
    )]);
    assert!(
        e.to_string().contains("type {}Missing is not defined"),
        "{e}"
    );
    let e = schema_error(&[(
        "a.xsd",
        &format!(r#"<!DOCTYPE x [<!ENTITY e "e">]><xs:schema {xs}/>"#),
    )]);
    assert!(matches!(e, XsdError::Xml { .. }), "{e}");
    let e = schema_error(&[("a.xsd", "<schema/>")]);
    assert!(matches!(e, XsdError::NotASchema { .. }), "{e}");
    let e = schema_error(&[(
        "a.xsd",
        &format!(
            r#"<xs:schema {xs}><xs:include schemaLocation="http://example.com/b.xsd"/></xs:schema>"#
        ),
    )]);
    assert!(
        e.to_string().contains("not fetched over the network"),
        "{e}"
    );
    let e = schema_error(&[(
        "a.xsd",
        &format!(
            r#"<xs:schema {xs}><xs:complexType name="A"><xs:complexContent><xs:extension base="B"/></xs:complexContent></xs:complexType><xs:complexType name="B"><xs:complexContent><xs:extension base="A"/></xs:complexContent></xs:complexType></xs:schema>"#
        ),
    )]);
    assert!(e.to_string().contains("derives from itself"), "{e}");
    let e = schema_error(&[(
        "a.xsd",
        &format!(
            r#"<xs:schema {xs}><xs:group name="G"><xs:sequence><xs:group ref="G"/></xs:sequence></xs:group><xs:element name="e"><xs:complexType><xs:group ref="G"/></xs:complexType></xs:element></xs:schema>"#
        ),
    )]);
    assert!(e.to_string().contains("refers to itself"), "{e}");
    let err = SchemaSet::load_files(&[PathBuf::from("../shared/xsd/no-such.xsd")]).unwrap_err();
    assert!(matches!(err, XsdError::Io { .. }), "{err}");
    let empty = tempfile::tempdir().unwrap();
    assert!(matches!(
        SchemaSet::load_dir(empty.path()).unwrap_err(),
        XsdError::Empty(_)
    ));
}

#[test]
fn one_set_serves_many_threads() {
    let set = Arc::new(egrul_schema());
    let good = xml::to_bytes(&ladoga_answer());
    let handles: Vec<_> = (0..4)
        .map(|i| {
            let set = Arc::clone(&set);
            let good = good.clone();
            std::thread::spawn(move || {
                for _ in 0..20 {
                    let mut doc = xml::parse(&good).unwrap();
                    if i % 2 == 1 {
                        let root = doc.root();
                        doc.element_mut(root).attrs.clear();
                    }
                    let v = set.validate(&doc, doc.root());
                    assert_eq!(v.is_empty(), i % 2 == 0, "{v:?}");
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
}

#[test]
fn deeply_nested_documents_do_not_exhaust_the_stack() {
    // The parser bounds the depth of what it reads; a document built in
    // memory has no such bound, and the walk must not recurse on it.
    let set = SchemaSet::from_texts(&[(
        "nest.xsd",
        r#"<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema" targetNamespace="urn:nest" xmlns="urn:nest" elementFormDefault="qualified">
             <xs:element name="n" type="N"/>
             <xs:complexType name="N"><xs:sequence><xs:element name="n" type="N" minOccurs="0"/></xs:sequence></xs:complexType>
           </xs:schema>"#,
    )])
    .unwrap();
    let mut doc = Document::new(None, "n", Some("urn:nest"));
    let mut cur = doc.root();
    for _ in 0..20_000 {
        cur = doc.append_element(cur, None, "n", Some("urn:nest"));
    }
    assert_eq!(set.validate(&doc, doc.root()), vec![]);
    doc.append_element(cur, None, "x", Some("urn:nest"));
    let v = only(set.validate(&doc, doc.root()));
    assert!(
        v.path.ends_with("/n[1]/x[1]"),
        "{}",
        &v.path[v.path.len() - 20..]
    );
}
