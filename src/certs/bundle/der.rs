//! A binary DER file: one certificate (`.der`, often `.cer`), or one PKCS#8 key, unencrypted
//! (`openssl pkcs8 -topk8 -nocrypt -outform DER`) or encrypted (decrypted with the password, as a
//! PEM `ENCRYPTED PRIVATE KEY` is). NUL or whitespace padding after a certificate is accepted with
//! a warning; other bytes after it are refused.
//!
//! Does not check the key: [`key`](super::key) does, with the keys from every other format.

use ::der::Decode;
use x509_parser::prelude::{FromDer, X509Certificate};

use super::key::Unlock;
use super::{BundleError, Piece};

/// Reads a DER file: a certificate if it parses as one, else a key.
pub(super) fn read(
    origin: &str,
    bytes: &[u8],
    unlock: &mut Unlock<'_>,
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
    if pkcs8::EncryptedPrivateKeyInfoRef::from_der(bytes).is_ok() {
        let damaged = |reason: String| BundleError::Unreadable {
            origin: origin.to_owned(),
            expected: "an encrypted PKCS#8 key".into(),
            reason,
        };
        let key = super::key::decrypt_pkcs8(origin, bytes, unlock, damaged)?;
        return Ok(vec![Piece::Key(key)]);
    }
    // A binary PKCS#8 key (`openssl pkcs8 -outform DER`).
    Ok(vec![Piece::Key(bytes.to_vec().into())])
}
