//! Detached XMLDSig signatures in the SMEV profile.
//!
//! One `ds:Signature`, `ds` prefix everywhere, one `Reference` to `#Id` of
//! the signed element, transforms exclusive c14n then the SMEV transform,
//! the certificate in `KeyInfo`, and a `SignedInfo` without whitespace (SMEV
//! digests it as it sits in the message).

use base64::Engine as _;

use super::{DS_NS, SignatureError, SigningKey, c14n, transform};
use crate::xml::{Document, NodeId};

/// Which transforms the `Reference` lists. SMEV requires
/// [`ReferenceTransforms::Smev`]; the exc-c14n-only form exists so that
/// tools without the SMEV transform (xmlsec1) can check our signatures.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReferenceTransforms {
    Smev,
    ExcC14nOnly,
}

/// The bytes that are digested for a reference to `target`.
pub fn reference_octets(
    doc: &Document,
    target: NodeId,
    transforms: ReferenceTransforms,
) -> Result<Vec<u8>, SignatureError> {
    match transforms {
        // The SMEV transform reads the exc-c14n output; c14n only normalises
        // escaping and namespace declarations, which the transform discards
        // and regenerates, so it can work on the tree directly.
        ReferenceTransforms::Smev => Ok(transform::transform(doc, target)?),
        ReferenceTransforms::ExcC14nOnly => Ok(c14n::canonicalize(doc, target)),
    }
}

/// Signs the element `target` (which must carry an `Id` attribute) and
/// appends the `ds:Signature` to `container`. Returns the signature element.
pub fn sign_element(
    doc: &mut Document,
    target: NodeId,
    container: NodeId,
    key: &SigningKey,
    transforms: ReferenceTransforms,
) -> Result<NodeId, SignatureError> {
    let id = doc
        .element(target)
        .attr("Id")
        .ok_or_else(|| SignatureError::MissingId(doc.element(target).to_string()))?
        .to_owned();
    let algorithm = key.algorithm();
    let digest_alg = algorithm.digest();
    let digest = digest_alg.digest(&reference_octets(doc, target, transforms)?)?;
    let b64 = base64::engine::general_purpose::STANDARD;

    let ds = Some("ds");
    let sig = doc.append_element(container, ds, "Signature", Some(DS_NS));
    let signed_info = doc.append_element(sig, ds, "SignedInfo", Some(DS_NS));
    let cm = doc.append_element(signed_info, ds, "CanonicalizationMethod", Some(DS_NS));
    doc.set_attr(cm, "Algorithm", c14n::ALGORITHM);
    let sm = doc.append_element(signed_info, ds, "SignatureMethod", Some(DS_NS));
    doc.set_attr(sm, "Algorithm", algorithm.uri());
    let reference = doc.append_element(signed_info, ds, "Reference", Some(DS_NS));
    doc.set_attr(reference, "URI", &format!("#{id}"));
    let tr = doc.append_element(reference, ds, "Transforms", Some(DS_NS));
    let t1 = doc.append_element(tr, ds, "Transform", Some(DS_NS));
    doc.set_attr(t1, "Algorithm", c14n::ALGORITHM);
    if transforms == ReferenceTransforms::Smev {
        let t2 = doc.append_element(tr, ds, "Transform", Some(DS_NS));
        doc.set_attr(t2, "Algorithm", transform::ALGORITHM);
    }
    let dm = doc.append_element(reference, ds, "DigestMethod", Some(DS_NS));
    doc.set_attr(dm, "Algorithm", digest_alg.uri());
    doc.append_text_element(
        reference,
        ds,
        "DigestValue",
        Some(DS_NS),
        &b64.encode(&digest),
    );

    let signed_bytes = c14n::canonicalize(doc, signed_info);
    let value = key.sign(&signed_bytes)?;
    doc.append_text_element(sig, ds, "SignatureValue", Some(DS_NS), &b64.encode(&value));
    let key_info = doc.append_element(sig, ds, "KeyInfo", Some(DS_NS));
    let x509_data = doc.append_element(key_info, ds, "X509Data", Some(DS_NS));
    doc.append_text_element(
        x509_data,
        ds,
        "X509Certificate",
        Some(DS_NS),
        key.certificate_base64(),
    );
    Ok(sig)
}
