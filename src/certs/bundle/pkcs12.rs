//! A PKCS#12 archive (`.pfx`, `.p12`): opened with the password (an archive without one is tried
//! with the empty password), its certificates and keys taken out.
//!
//! Does not check what it holds: the keys go to [`key`](super::key), the certificates to
//! [`chain`](super::chain), like those of any other format.

use super::{BundleError, Piece};

/// Opens a PKCS#12 archive and returns its certificates, then its keys.
pub(super) fn read(
    origin: &str,
    bytes: &[u8],
    password: Option<&str>,
) -> Result<Vec<Piece>, BundleError> {
    use p12_keystore::error::Error as P12;
    let archive = match p12_keystore::Pkcs12Archive::from_pkcs12(bytes, password.unwrap_or("")) {
        Ok(archive) => archive,
        Err(P12::MacError(_) | P12::UnpadError | P12::Pkcs5Error(_)) => {
            return Err(match password {
                None => BundleError::PasswordNeeded {
                    origin: origin.to_owned(),
                    what: "the PKCS#12 file",
                },
                Some(_) => BundleError::WrongPassword {
                    origin: origin.to_owned(),
                    what: "the PKCS#12 file",
                },
            })
        }
        Err(e) => {
            return Err(BundleError::Unreadable {
                origin: origin.to_owned(),
                expected: "a certificate, key or bundle in PEM, DER, PKCS#7 or PKCS#12".into(),
                reason: format!("read as PKCS#12: {e}"),
            })
        }
    };
    let mut out: Vec<Piece> = archive
        .certs
        .into_iter()
        .map(|bag| Piece::Certificate(bag.cert.as_der().to_vec()))
        .collect();
    out.extend(
        archive
            .keys
            .into_iter()
            .map(|bag| Piece::Key(bag.key.as_der().to_vec().into())),
    );
    Ok(out)
}
