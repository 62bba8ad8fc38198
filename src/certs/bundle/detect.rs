//! One file to pieces: an empty file is refused, the format is detected from the content (a file's
//! name or a declared format can be wrong), a declared format must agree with it, and the bytes go
//! to that format's reader.
//!
//! Does not parse anything itself beyond trying which parser accepts the bytes; the readers
//! ([`pem`](super::pem), [`der`](super::der), [`pkcs7`](super::pkcs7), [`pkcs12`](super::pkcs12))
//! say what is wrong with a file of their format.

use ::der::Decode;
use x509_parser::prelude::{FromDer, X509Certificate};

use super::{BundleError, File, Format, Piece};

/// Reads one file into certificates and keys, whatever its format.
pub(super) fn read_file(
    file: &File<'_>,
    password: Option<&str>,
    warnings: &mut Vec<String>,
) -> Result<Vec<Piece>, BundleError> {
    let origin = file.origin;
    if file.bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(BundleError::Empty {
            origin: origin.to_owned(),
        });
    }
    let found = detect(file.bytes);
    if let Some(declared) = file.format {
        // PKCS#7 may come as PEM (-----BEGIN PKCS7-----); DER may hold a key or a certificate.
        let compatible = declared == found || (declared == Format::Pkcs7 && found == Format::Pem);
        if !compatible {
            return Err(BundleError::FormatMismatch {
                origin: origin.to_owned(),
                declared,
                found,
            });
        }
    }
    match found {
        Format::Pem => super::pem::read(file, password, warnings),
        Format::Der => super::der::read(origin, file.bytes, warnings),
        Format::Pkcs7 => super::pkcs7::read(origin, file.bytes),
        Format::Pkcs12 => super::pkcs12::read(origin, file.bytes, password),
    }
}

/// What the content of a file is, whatever its name says.
fn detect(bytes: &[u8]) -> Format {
    let text = bytes.strip_prefix(b"\xef\xbb\xbf").unwrap_or(bytes);
    // Text is PEM (or broken PEM, reported as such); DER always holds non-text bytes.
    if std::str::from_utf8(text).is_ok_and(|t| {
        t.contains("-----BEGIN") || t.chars().all(|c| !c.is_control() || c.is_whitespace())
    }) {
        return Format::Pem;
    }
    if X509Certificate::from_der(bytes).is_ok() || pkcs8::PrivateKeyInfoRef::from_der(bytes).is_ok()
    {
        return Format::Der;
    }
    if cms::content_info::ContentInfo::from_der(bytes).is_ok() {
        return Format::Pkcs7;
    }
    Format::Pkcs12
}

#[cfg(test)]
mod tests {
    use ::time::OffsetDateTime;

    use crate::certs::bundle::{normalize, BundleError, File};

    #[test]
    fn empty_and_plain_text_are_told_apart() {
        let now = OffsetDateTime::now_utc();
        let f = |bytes: &'static [u8]| File {
            origin: "s3://b/k",
            bytes,
            format: None,
        };
        let e = normalize(&[f(b" \n")], None, &[], now).unwrap_err();
        assert!(matches!(e, BundleError::Empty { .. }), "{e}");
        let e = normalize(&[f(b"MIIB...base64 without markers")], None, &[], now).unwrap_err();
        assert!(matches!(e, BundleError::NoPemBlock { .. }), "{e}");
    }
}
