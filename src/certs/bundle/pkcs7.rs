//! A PKCS#7 / CMS certificate bag (`.p7b`, `.p7c`), binary or from a PEM `PKCS7` block: its
//! certificates, in the order the bag holds them.
//!
//! Does not read signatures, signer infos or CRLs in the bag, nor order the certificates:
//! [`chain`](super::chain) does.

use ::der::{Decode, Encode};

use super::{BundleError, Piece};

/// The content type of a PKCS#7 certificate bag.
const SIGNED_DATA: pkcs8::ObjectIdentifier =
    pkcs8::ObjectIdentifier::new_unwrap("1.2.840.113549.1.7.2");

/// Reads the certificates of a DER-encoded PKCS#7 bag; a bag without any is refused.
pub(super) fn read(origin: &str, bytes: &[u8]) -> Result<Vec<Piece>, BundleError> {
    let unreadable = |reason: String| BundleError::Unreadable {
        origin: origin.to_owned(),
        expected: "a PKCS#7 certificate bag".into(),
        reason,
    };
    let info =
        cms::content_info::ContentInfo::from_der(bytes).map_err(|e| unreadable(e.to_string()))?;
    if info.content_type != SIGNED_DATA {
        return Err(unreadable(format!(
            "its content type is {}, not signedData",
            info.content_type
        )));
    }
    let signed: cms::signed_data::SignedData = info
        .content
        .decode_as()
        .map_err(|e: ::der::Error| unreadable(e.to_string()))?;
    let mut out = Vec::new();
    for choice in signed.certificates.iter().flat_map(|set| set.0.iter()) {
        if let cms::cert::CertificateChoices::Certificate(c) = choice {
            out.push(Piece::Certificate(
                c.to_der().map_err(|e| unreadable(e.to_string()))?,
            ));
        }
    }
    if out.is_empty() {
        return Err(BundleError::EmptyPkcs7 {
            origin: origin.to_owned(),
        });
    }
    Ok(out)
}
