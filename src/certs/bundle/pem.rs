//! PEM text: read block by block, so each problem is told with its line, and each block handed to
//! what its label says it holds; and the PEM the bundle is written out in.
//!
//! Tolerated with a warning: text outside the blocks (OpenSSL's `Bag Attributes`, `subject=`
//! lines), blank or indented lines inside a block, and `EC PARAMETERS` blocks; silently: CRLF line
//! ends and a byte-order mark. Refused: a block without its END line (or an END without its
//! BEGIN), damaged base64, OpenSSL's old `Proc-Type: 4,ENCRYPTED` keys, and blocks that are no
//! certificate, key or PKCS#7 bag (CSRs, public keys, CRLs...), each with what to give instead.
//!
//! Does not decode keys or bags itself: [`key`](super::key) and [`pkcs7`](super::pkcs7) do.

use x509_parser::prelude::{FromDer, X509Certificate};

use super::key::Unlock;
use super::{BundleError, File, Piece};

/// A block being read: its label, the line it starts on, and its lines so far (trimmed), which
/// are zeroed when dropped (the block may be a key).
struct Open {
    label: String,
    start: usize,
    lines: Vec<String>,
}

impl Drop for Open {
    fn drop(&mut self) {
        zeroize::Zeroize::zeroize(&mut self.lines);
    }
}

/// The state of a file's line-by-line read.
#[derive(Default)]
struct Scan {
    /// What the closed blocks held.
    pieces: Vec<Piece>,
    /// The block being read, if one is.
    open: Option<Open>,
    /// How many non-blank lines were outside any block.
    outside: usize,
    /// Whether a block held blank or indented lines.
    blank_inside: bool,
}

/// Reads PEM text block by block, so each problem is told with its line.
pub(super) fn read(
    file: &File<'_>,
    unlock: &mut Unlock<'_>,
    warnings: &mut Vec<String>,
) -> Result<Vec<Piece>, BundleError> {
    let origin = file.origin;
    let text = String::from_utf8_lossy(file.bytes);
    let text = text.strip_prefix('\u{feff}').unwrap_or(&text);
    let mut scan = Scan::default();
    for (index, raw) in text.lines().enumerate() {
        let line = raw.trim_end_matches('\r');
        if let Some(open) = scan.line(origin, index + 1, line)? {
            let block = zeroize::Zeroizing::new(open.lines.join("\n"));
            let pieces = pem_block(origin, &open.label, open.start, &block, unlock, warnings)?;
            scan.pieces.extend(pieces);
        }
    }
    scan.finish(origin, warnings)
}

impl Scan {
    /// Takes line `line_no` (its CR removed); returns the block it closes, if it is an END line.
    fn line(
        &mut self,
        origin: &str,
        line_no: usize,
        line: &str,
    ) -> Result<Option<Open>, BundleError> {
        let trimmed = line.trim();
        let Some(open) = &mut self.open else {
            if let Some(label) = trimmed
                .strip_prefix("-----BEGIN ")
                .and_then(|l| l.strip_suffix("-----"))
            {
                self.open = Some(Open {
                    label: label.to_owned(),
                    start: line_no,
                    lines: vec![trimmed.to_owned()],
                });
            } else if trimmed.starts_with("-----END ") {
                return Err(BundleError::BadPem {
                    origin: origin.to_owned(),
                    label: trimmed.to_owned(),
                    line: line_no,
                    reason: "an END line without its BEGIN line".into(),
                });
            } else if !trimmed.is_empty() {
                self.outside += 1;
            }
            return Ok(None);
        };
        if trimmed.is_empty() {
            // The blank line that ends RFC 1421 headers (Proc-Type, DEK-Info) is kept.
            if open.lines.last().is_some_and(|l| l.contains(':')) {
                open.lines.push(String::new());
            } else {
                self.blank_inside = true;
            }
            return Ok(None);
        }
        if trimmed.starts_with("-----BEGIN ") {
            return Err(BundleError::Unterminated {
                origin: origin.to_owned(),
                label: open.label.clone(),
                line: open.start,
            });
        }
        if line != trimmed && !trimmed.starts_with("-----") {
            self.blank_inside = true;
        }
        open.lines.push(trimmed.to_owned());
        if trimmed.starts_with("-----END ") {
            return Ok(self.open.take());
        }
        Ok(None)
    }

    /// After the last line: a block still open, or none at all, is refused; oddities are warned.
    fn finish(self, origin: &str, warnings: &mut Vec<String>) -> Result<Vec<Piece>, BundleError> {
        if let Some(open) = &self.open {
            return Err(BundleError::Unterminated {
                origin: origin.to_owned(),
                label: open.label.clone(),
                line: open.start,
            });
        }
        if self.pieces.is_empty() {
            return Err(BundleError::NoPemBlock {
                origin: origin.to_owned(),
            });
        }
        let outside = self.outside;
        if outside > 0 {
            warnings.push(format!(
                "{origin}: {outside} line(s) of text outside the PEM blocks are ignored"
            ));
        }
        if self.blank_inside {
            warnings.push(format!(
                "{origin}: blank or indented lines inside a PEM block are ignored"
            ));
        }
        Ok(self.pieces)
    }
}

/// Decodes one block (`block`: its BEGIN line to its END line) by what its label says it holds.
fn pem_block(
    origin: &str,
    label: &str,
    line: usize,
    block: &str,
    unlock: &mut Unlock<'_>,
    warnings: &mut Vec<String>,
) -> Result<Vec<Piece>, BundleError> {
    let bad = |reason: String| BundleError::BadPem {
        origin: origin.to_owned(),
        label: label.to_owned(),
        line,
        reason,
    };
    if block
        .lines()
        .any(|l| l.starts_with("Proc-Type:") && l.contains("ENCRYPTED"))
    {
        return Err(BundleError::LegacyEncryptedKey {
            origin: origin.to_owned(),
        });
    }
    let parsed = ::pem::parse(block).map_err(|e| bad(e.to_string()))?;
    let der = parsed.into_contents();
    // A key block's DER is zeroed when dropped, whatever becomes of it.
    let key = |der: Vec<u8>| -> super::KeyDer { der.into() };
    Ok(match label {
        "CERTIFICATE" | "X509 CERTIFICATE" => {
            match X509Certificate::from_der(&der) {
                Ok(([], _)) => {}
                Ok((rest, _)) => {
                    return Err(bad(format!("{} bytes after the certificate", rest.len())))
                }
                Err(e) => return Err(bad(format!("not an X.509 certificate: {e}"))),
            }
            vec![Piece::Certificate(der)]
        }
        "PKCS7" => super::pkcs7::read(origin, &der)?,
        "PRIVATE KEY" => vec![Piece::Key(key(der))],
        "RSA PRIVATE KEY" | "EC PRIVATE KEY" => {
            vec![Piece::Key(super::key::traditional_to_pkcs8(
                origin,
                label,
                &key(der),
            )?)]
        }
        "ENCRYPTED PRIVATE KEY" => {
            vec![Piece::Key(super::key::decrypt_pkcs8(
                origin, &der, unlock, bad,
            )?)]
        }
        "EC PARAMETERS" => {
            warnings.push(format!(
                "{origin}: the EC PARAMETERS block is ignored (the key names its curve)"
            ));
            vec![]
        }
        _ => {
            return Err(BundleError::UnexpectedBlock {
                origin: origin.to_owned(),
                label: label.to_owned(),
                line,
                what: unused_block(label),
            })
        }
    })
}

/// What a block we do not use is, and what to give instead.
fn unused_block(label: &str) -> &'static str {
    match label {
        "CERTIFICATE REQUEST" | "NEW CERTIFICATE REQUEST" => "is a certificate signing request (CSR), not a certificate: give the certificate the CA issued for it",
        "TRUSTED CERTIFICATE" => "is OpenSSL's certificate-with-trust-settings form: convert it with `openssl x509 -in cert.pem -out plain.pem`",
        "PUBLIC KEY" | "RSA PUBLIC KEY" => "is a public key: give the private key (BEGIN PRIVATE KEY) that belongs to the certificate",
        "X509 CRL" => "is a revocation list, not a certificate: remove it",
        _ => "is not a certificate, a private key or a PKCS#7 bag: remove it",
    }
}

/// `der` as one PEM block labelled `tag`, with LF line endings. The copy of `der` it makes is
/// zeroed (it may be a key).
pub(super) fn encode(tag: &str, der: &[u8]) -> String {
    let block = ::pem::Pem::new(tag, der.to_vec());
    let text = ::pem::encode_config(
        &block,
        ::pem::EncodeConfig::new().set_line_ending(::pem::LineEnding::LF),
    );
    drop(super::KeyDer::from(block.into_contents()));
    text
}
