//! One file to pieces: an empty file is refused, the format is detected from the content (a file's
//! name or a declared format can be wrong), a declared format must agree with it, and the bytes go
//! to that format's reader. Bytes of no format we read (an image, a ZIP archive, random data) are
//! refused as such, whatever format was declared, saying what they look like.
//!
//! Does not parse anything itself beyond trying which parser accepts the bytes; the readers
//! ([`pem`](super::pem), [`der`](super::der), [`pkcs7`](super::pkcs7), [`pkcs12`](super::pkcs12))
//! say what is wrong with a file of their format.

use ::der::Decode;
use x509_parser::prelude::{FromDer, X509Certificate};

use super::key::Unlock;
use super::{BundleError, File, Format, Piece};

/// Reads one file into certificates and keys, whatever its format.
pub(super) fn read_file(
    file: &File<'_>,
    unlock: &mut Unlock<'_>,
    warnings: &mut Vec<String>,
) -> Result<Vec<Piece>, BundleError> {
    let origin = file.origin;
    if file.bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(BundleError::Empty {
            origin: origin.to_owned(),
        });
    }
    let Some(found) = detect(file.bytes) else {
        return Err(BundleError::NotACertificate {
            origin: origin.to_owned(),
            what: looks_like(file.bytes),
        });
    };
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
        Format::Pem => super::pem::read(file, unlock, warnings),
        Format::Der => super::der::read(origin, file.bytes, unlock, warnings),
        Format::Pkcs7 => super::pkcs7::read(origin, file.bytes),
        Format::Pkcs12 => super::pkcs12::read(origin, file.bytes, unlock),
    }
}

/// What the content of a file is, whatever its name says; `None` for none of our formats.
fn detect(bytes: &[u8]) -> Option<Format> {
    let text = bytes.strip_prefix(b"\xef\xbb\xbf").unwrap_or(bytes);
    // Text is PEM (or broken PEM, reported as such); DER always holds non-text bytes.
    if std::str::from_utf8(text).is_ok_and(|t| {
        t.contains("-----BEGIN") || t.chars().all(|c| !c.is_control() || c.is_whitespace())
    }) {
        return Some(Format::Pem);
    }
    if X509Certificate::from_der(bytes).is_ok()
        || pkcs8::PrivateKeyInfoRef::from_der(bytes).is_ok()
        || pkcs8::EncryptedPrivateKeyInfoRef::from_der(bytes).is_ok()
    {
        return Some(Format::Der);
    }
    if cms::content_info::ContentInfo::from_der(bytes).is_ok() {
        return Some(Format::Pkcs7);
    }
    // Judged by its first bytes only, so a damaged or truncated archive is still read as one and
    // its reader says what is wrong.
    looks_like_pkcs12(bytes).then_some(Format::Pkcs12)
}

/// Whether `bytes` start as a PKCS#12 archive does (RFC 7292 section 4): a SEQUENCE (of any
/// length encoding, BER's indefinite one included) whose first element is the INTEGER 3.
fn looks_like_pkcs12(bytes: &[u8]) -> bool {
    let [0x30, length, rest @ ..] = bytes else {
        return false;
    };
    let skip = match length {
        0x00..=0x80 => 0,
        0x81..=0x84 => usize::from(length - 0x80),
        _ => return false,
    };
    rest.get(skip..skip + 3) == Some(&[0x02, 0x01, 0x03][..])
}

/// What bytes of no format we read look like, and what to do with them.
fn looks_like(bytes: &[u8]) -> String {
    let kind = [
        (&b"PK\x03\x04"[..], "it is a ZIP archive: unpack it and name the certificate and key files inside"),
        (b"\x1f\x8b", "it is gzip-compressed: decompress it first"),
        (b"\xfe\xed\xfe\xed", "it is a Java keystore (JKS): convert it to PKCS#12 with `keytool -importkeystore -deststoretype pkcs12`"),
        (b"\xff\xd8\xff", "it is a JPEG image"),
        (b"\x89PNG", "it is a PNG image"),
        (b"%PDF", "it is a PDF document"),
    ]
    .into_iter()
    .find(|(magic, _)| bytes.starts_with(magic))
    .map(|(_, kind)| kind);
    match kind {
        Some(kind) => kind.to_owned(),
        None => format!("{} bytes of binary data", bytes.len()),
    }
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

#[cfg(test)]
mod recognition {
    use super::*;

    #[test]
    fn pkcs12_is_told_by_its_first_bytes_whatever_its_length_encoding() {
        for start in [
            &[0x30, 0x03, 0x02, 0x01, 0x03][..],
            &[0x30, 0x80, 0x02, 0x01, 0x03],
            &[0x30, 0x81, 0xff, 0x02, 0x01, 0x03],
            &[0x30, 0x82, 0x0a, 0x3c, 0x02, 0x01, 0x03, 0x30],
        ] {
            assert!(looks_like_pkcs12(start), "{start:02x?}");
            assert_eq!(detect(start), Some(Format::Pkcs12));
        }
        for other in [
            &[0x30, 0x82, 0x0a, 0x3c, 0x02, 0x01, 0x01][..],
            &[0x31, 0x03, 0x02, 0x01, 0x03],
            &[0x30, 0x85, 0, 0, 0, 0, 0, 0x02, 0x01, 0x03],
            &[0x30, 0x00],
            &[0xff, 0xd8, 0xff, 0xe0],
        ] {
            assert!(!looks_like_pkcs12(other), "{other:02x?}");
            assert_eq!(detect(other), None);
        }
    }

    #[test]
    fn what_is_not_a_certificate_says_what_it_looks_like() {
        assert!(looks_like(b"PK\x03\x04\x14\x00").contains("ZIP archive: unpack it"));
        assert!(looks_like(b"\xfe\xed\xfe\xed\x00\x00").contains("keytool -importkeystore"));
        assert!(looks_like(b"\x1f\x8b\x08").contains("gzip"));
        assert!(looks_like(b"\xff\xd8\xff\xe0").contains("JPEG"));
        assert_eq!(looks_like(&[0x8f; 300]), "300 bytes of binary data");
    }
}
