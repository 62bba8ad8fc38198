//! A binary DER file: one certificate (`.der`, often `.cer`), or one unencrypted PKCS#8 key
//! (`openssl pkcs8 -outform DER`). NUL or whitespace padding after a certificate is accepted with
//! a warning; other bytes after it are refused.
//!
//! Does not check the key: [`key`](super::key) does, with the keys from every other format.

use x509_parser::prelude::{FromDer, X509Certificate};

use super::{BundleError, Piece};

/// Reads a DER file: a certificate if it parses as one, else a key.
pub(super) fn read(
    origin: &str,
    bytes: &[u8],
    warnings: &mut Vec<String>,
) -> Result<Vec<Piece>, BundleError> {
    let padding = |rest: &[u8]| rest.iter().all(|b| *b == 0 || b.is_ascii_whitespace());
    if let Ok((rest, _)) = X509Certificate::from_der(bytes) {
        let used = bytes.len() - rest.len();
        if !rest.is_empty() && !padding(rest) {
            return Err(BundleError::TrailingData {
                origin: origin.to_owned(),
                what: "certificate",
                extra: rest.len(),
            });
        }
        if !rest.is_empty() {
            warnings.push(format!(
                "{origin}: {} padding bytes after the certificate are ignored",
                rest.len()
            ));
        }
        return Ok(vec![Piece::Certificate(bytes[..used].to_vec())]);
    }
    // A binary PKCS#8 key (`openssl pkcs8 -outform DER`).
    Ok(vec![Piece::Key(bytes.to_vec().into())])
}
