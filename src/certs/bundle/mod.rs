//! Certificates from any CA: PEM, DER, PKCS#7 (`.p7b`) and PKCS#12 (`.pfx`) in; one checked
//! bundle out — the leaf, its intermediates in issuing order without the root, and an unencrypted
//! PKCS#8 key — or an error that says what is wrong with the files and what to do.
//!
//! Pure: bytes in, [`Normalized`] or [`BundleError`] out; the clock is a parameter. Parsing is
//! done by maintained crates (x509-parser, `pem`, RustCrypto `cms` and `pkcs8`, `p12-keystore`,
//! aws-lc-rs for keys); this module only decides what the pieces are and how they fit.
//!
//! What is accepted with a warning: text outside PEM blocks (OpenSSL's `Bag Attributes`,
//! `subject=` lines), blank or indented lines and CRLF inside a block, a chain out of order (it
//! is reordered), the root (dropped: clients have it; CloudFront and ACM want the chain without
//! it), the same certificate twice, and NUL or whitespace padding after a DER file. Anything
//! else that is not a certificate, a key or a chain is refused, and so is an encrypted key or
//! PKCS#12 file whose key derivation would cost more than the caps in `key` allow (checked before
//! deriving).
//!
//! Not checked: whether the top intermediate's issuer is a root clients trust (no trust store is
//! consulted), revocation, and Certificate Transparency.
//!
//! This file holds the public API and [`normalize`], which runs the steps in order; each step is
//! in its own (private) module: `detect` (which format a file is, and its reader), `pem` (PEM
//! text, block by block, and the tolerated oddities), `der`, `pkcs7`, `pkcs12` (the binary
//! formats), `key` (private key formats, encrypted PKCS#8, the key CloudFront takes), `chain` (the
//! leaf, its intermediates in issuing order, the root dropped, the checks) and `error`
//! ([`BundleError`]). The step modules use this module's types and, downward, each other
//! (`detect` calls the readers; `pem` calls `pkcs7` and `key` for what its blocks hold), never
//! the other way.

use std::fmt;

use ::time::OffsetDateTime;

use crate::acme::PrivateKeyPem;
use crate::certs::certificate::{self, CertificateInfo};
use crate::model::names::DomainName;

mod chain;
mod der;
mod detect;
mod error;
mod key;
mod pem;
mod pkcs12;
mod pkcs7;

pub use error::BundleError;
pub use key::{MAX_DERIVATIONS, MAX_KDF_ITERATIONS, MAX_SCRYPT_MEMORY, MAX_SCRYPT_PARALLEL};

/// A file format we read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// Base64 text between `-----BEGIN ...-----` lines: certificates, keys, PKCS#7.
    Pem,
    /// One binary certificate or key (`.der`, often `.cer`).
    Der,
    /// A PKCS#7 / CMS certificate bag (`.p7b`, `.p7c`), binary or PEM.
    Pkcs7,
    /// A PKCS#12 archive (`.pfx`, `.p12`) holding key and certificates, usually with a password.
    Pkcs12,
}

impl Format {
    /// The format a file name suggests, if it does (`.cer` and `.crt` do not: they are either).
    pub fn from_file_name(name: &str) -> Option<Self> {
        let ext = name.rsplit_once('.')?.1.to_ascii_lowercase();
        Some(match ext.as_str() {
            "pem" | "key" => Self::Pem,
            "der" => Self::Der,
            "p7b" | "p7c" | "p7" => Self::Pkcs7,
            "pfx" | "p12" => Self::Pkcs12,
            _ => return None,
        })
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Pem => "PEM",
            Self::Der => "DER",
            Self::Pkcs7 => "PKCS#7",
            Self::Pkcs12 => "PKCS#12",
        })
    }
}

/// One file of a bundle.
#[derive(Clone)]
pub struct File<'a> {
    /// Where it came from, for messages (`s3://bucket/key`, a secret's name).
    pub origin: &'a str,
    /// Its bytes.
    pub bytes: &'a [u8],
    /// The format the user declared; detected from the content if `None`.
    pub format: Option<Format>,
}

impl fmt::Debug for File<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("File")
            .field("origin", &self.origin)
            .field("bytes", &self.bytes.len())
            .field("format", &self.format)
            .finish()
    }
}

/// A bundle ready for IAM and ACM.
#[derive(Debug, Clone)]
pub struct Normalized {
    /// The leaf, parsed.
    pub leaf: CertificateInfo,
    /// The leaf, PEM.
    pub certificate: String,
    /// The intermediates, PEM, in issuing order, without the root.
    pub chain: String,
    /// The key, unencrypted PKCS#8 PEM.
    pub private_key: PrivateKeyPem,
    /// What was accepted but should be fixed at the source.
    pub warnings: Vec<String>,
}

/// What a PEM block or binary file turned out to be.
enum Piece {
    Certificate(Vec<u8>),
    Key(KeyDer),
}

/// A private key's unencrypted DER, zeroed when dropped. Each step from the file to the PEM keeps
/// its key in one of these; the parsing crates' own temporaries (pem, p12-keystore, pkcs8,
/// aws-lc) are theirs to wipe.
type KeyDer = zeroize::Zeroizing<Vec<u8>>;

/// Everything the files hold, in the order given: the certificates (each once) and the keys,
/// each with the file it came from.
#[derive(Default)]
struct Contents {
    certs: Vec<Vec<u8>>,
    keys: Vec<(String, KeyDer)>,
}

/// Reads `files` and builds the bundle for `wanted`, valid at `now`. `password` opens PKCS#12
/// files and encrypted keys.
pub fn normalize(
    files: &[File<'_>],
    password: Option<&str>,
    wanted: &[DomainName],
    now: OffsetDateTime,
) -> Result<Normalized, BundleError> {
    let mut warnings = Vec::new();
    let mut unlock = key::Unlock::new(password);
    let Contents { certs, keys } = read_all(files, &mut unlock, &mut warnings)?;
    let origins = files
        .iter()
        .map(|f| f.origin)
        .collect::<Vec<_>>()
        .join(", ");
    if certs.is_empty() {
        return Err(BundleError::NoCertificate { origins });
    }
    let key = key::the_one(keys, origins)?;
    let chain = chain::order(&certs, &key.public, now, &mut warnings)?;
    let leaf = chain::check_leaf(&certs[chain.leaf], wanted, now)?;
    let normalized = Normalized {
        leaf,
        certificate: pem::encode("CERTIFICATE", &certs[chain.leaf]),
        chain: chain
            .intermediates
            .iter()
            .map(|&i| pem::encode("CERTIFICATE", &certs[i]))
            .collect(),
        private_key: PrivateKeyPem::new(pem::encode("PRIVATE KEY", &key.pkcs8)),
        warnings,
    };
    final_check(&normalized, wanted, now)?;
    Ok(normalized)
}

/// Reads every file into its pieces; a certificate given twice is kept once, with a warning.
fn read_all(
    files: &[File<'_>],
    unlock: &mut key::Unlock<'_>,
    warnings: &mut Vec<String>,
) -> Result<Contents, BundleError> {
    let mut contents = Contents::default();
    for file in files {
        for piece in detect::read_file(file, unlock, warnings)? {
            match piece {
                Piece::Certificate(der) if contents.certs.contains(&der) => {
                    warnings.push(format!(
                        "{}: a certificate is given twice; the copy is ignored",
                        file.origin
                    ));
                }
                Piece::Certificate(der) => contents.certs.push(der),
                Piece::Key(der) => contents.keys.push((file.origin.to_owned(), der)),
            }
        }
    }
    Ok(contents)
}

/// The same gate every issued certificate passes before it is archived or uploaded.
fn final_check(
    normalized: &Normalized,
    wanted: &[DomainName],
    now: OffsetDateTime,
) -> Result<(), BundleError> {
    certificate::check_bundle(
        &format!("{}{}", normalized.certificate, normalized.chain),
        normalized.private_key.expose(),
        wanted,
        now,
    )
    .map_err(|e| BundleError::Check(e.to_string()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_suggest_formats_but_cer_and_crt_do_not() {
        assert_eq!(Format::from_file_name("site.PFX"), Some(Format::Pkcs12));
        assert_eq!(Format::from_file_name("chain.p7b"), Some(Format::Pkcs7));
        assert_eq!(Format::from_file_name("cert.der"), Some(Format::Der));
        assert_eq!(Format::from_file_name("cert.cer"), None);
        assert_eq!(Format::from_file_name("noext"), None);
    }
}
