//! mezhved's copy of the ЕИС schemas it sends and reads (`schemas/eis/`,
//! each type annotated with the official file and type it follows),
//! compiled into the binary and applied at run time to every request sent
//! to ЕИС, every answer and every published document read from it.

use super::eis::Validator;

/// The schema files, by name (their `schemaLocation`s refer to each other).
pub const EIS_SCHEMAS: [(&str, &str); 4] = [
    (
        "docs-ws-api.xsd",
        include_str!("../../schemas/eis/docs-ws-api.xsd"),
    ),
    (
        "BaseTypes.xsd",
        include_str!("../../schemas/eis/BaseTypes.xsd"),
    ),
    (
        "IntegrationTypes.xsd",
        include_str!("../../schemas/eis/IntegrationTypes.xsd"),
    ),
    (
        "fcsExport.xsd",
        include_str!("../../schemas/eis/fcsExport.xsd"),
    ),
];

/// The validator of the ЕИС schemas, compiled once on first use. A schema
/// set that does not compile is a build defect (the texts are embedded);
/// it is reported once and nothing is checked, rather than refusing every
/// lookup for the officer.
pub fn eis_validator() -> Option<Validator> {
    static SET: std::sync::OnceLock<Option<std::sync::Arc<crate::xsd::SchemaSet>>> =
        std::sync::OnceLock::new();
    let set = SET
        .get_or_init(|| match crate::xsd::SchemaSet::from_texts(&EIS_SCHEMAS) {
            Ok(set) => Some(std::sync::Arc::new(set)),
            Err(e) => {
                tracing::error!(error = %e, "the embedded ЕИС schemas do not compile; ЕИС messages go unchecked");
                None
            }
        })
        .clone()?;
    Some(std::sync::Arc::new(
        move |doc: &crate::xml::Document, el| {
            set.validate(doc, el)
                .into_iter()
                .map(|v| v.to_string())
                .collect()
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registers::eis;
    use crate::xml;

    fn check(doc: &xml::Document) -> Vec<String> {
        let v = eis_validator().expect("the embedded ЕИС schemas compile");
        v(doc, eis::body_child(doc).unwrap())
    }

    #[test]
    fn the_request_we_send_is_valid_and_a_broken_one_is_not() {
        let ok = eis::request_envelope("mezhved", "RMIS", "7707083893", Some("773601001"));
        assert_eq!(check(&ok), Vec::<String>::new());
        // A senderType outside the schema's enumeration.
        let other = eis::request_envelope("mezhved", "OTHER", "7707083893", None);
        assert!(!check(&other).is_empty());
        // The same request with an element the schema does not allow.
        let mut bad = ok.clone();
        let body = eis::body_child(&bad).unwrap();
        bad.append_text_element(body, None, "unexpected", None, "1");
        let wrong = check(&bad);
        assert!(wrong.iter().any(|w| w.contains("unexpected")), "{wrong:?}");
    }

    #[test]
    fn an_answer_missing_a_required_element_is_caught_at_run_time() {
        let ok = eis::render_error("1", "wrong token");
        assert_eq!(check(&ok), Vec::<String>::new());
        let mut doc = xml::Document::new(Some("soapenv"), "Envelope", Some(eis::SOAP_NS));
        let root = doc.root();
        let body = doc.append_element(root, Some("soapenv"), "Body", Some(eis::SOAP_NS));
        let resp = doc.append_element(
            body,
            Some("ws"),
            "getRNPObjectListResponse",
            Some(eis::WS_NS),
        );
        let e = doc.append_element(resp, None, "errorInfo", None);
        doc.append_text_element(e, None, "message", None, "no code");
        assert!(!check(&doc).is_empty());
    }
}
