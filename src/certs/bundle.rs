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
//! else that is not a certificate, a key or a chain is refused.
//!
//! Not checked: whether the top intermediate's issuer is a root clients trust (no trust store is
//! consulted), revocation, and Certificate Transparency.

use std::fmt;

use ::time::OffsetDateTime;
use der::{Decode, Encode};
use x509_parser::prelude::{FromDer, X509Certificate};

use crate::acme::PrivateKeyPem;
use crate::certs::certificate::{self, CertificateInfo};
use crate::model::names::DomainName;

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

/// Why a bundle cannot be deployed. Every message names the file or certificate and says what to
/// do.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BundleError {
    /// A file with no bytes.
    #[error("{origin} is empty: upload the certificate file again")]
    Empty {
        /// The file.
        origin: String,
    },
    /// Text with no PEM block.
    #[error("{origin} is text without a -----BEGIN line: give the PEM file as the CA sent it (with its BEGIN/END lines), or the binary DER/PKCS#7/PKCS#12 file")]
    NoPemBlock {
        /// The file.
        origin: String,
    },
    /// A PEM block that is not closed.
    #[error("{origin}: the {label} block that starts on line {line} has no END line: the file is truncated; copy it again")]
    Unterminated {
        /// The file.
        origin: String,
        /// The block's label.
        label: String,
        /// Its first line.
        line: usize,
    },
    /// A PEM block whose content or framing is broken.
    #[error("{origin}: the {label} block that starts on line {line} is damaged ({reason}); copy it again from the CA's file, without editing it")]
    BadPem {
        /// The file.
        origin: String,
        /// The block's label.
        label: String,
        /// Its first line.
        line: usize,
        /// What the PEM parser says.
        reason: String,
    },
    /// A PEM block we do not use.
    #[error("{origin}: line {line} starts a {label} block, which {what}")]
    UnexpectedBlock {
        /// The file.
        origin: String,
        /// The block's label.
        label: String,
        /// Its first line.
        line: usize,
        /// What it is and what to give instead.
        what: &'static str,
    },
    /// Bytes that are no certificate, key or bag in any format we read.
    #[error("{origin} is not {expected}: {reason}")]
    Unreadable {
        /// The file.
        origin: String,
        /// What was expected.
        expected: String,
        /// What the parser says.
        reason: String,
    },
    /// Bytes after a complete DER structure.
    #[error("{origin}: {extra} bytes follow the end of the {what}: the file is damaged or two files were concatenated; give one DER structure per file, or PEM")]
    TrailingData {
        /// The file.
        origin: String,
        /// What ended.
        what: &'static str,
        /// How many bytes follow it.
        extra: usize,
    },
    /// The declared format does not match the content.
    #[error("{origin} was declared {declared} but holds {found}: fix source.format, or leave it out to detect the format")]
    FormatMismatch {
        /// The file.
        origin: String,
        /// What the user said.
        declared: Format,
        /// What it is.
        found: Format,
    },
    /// A PKCS#7 bag without certificates.
    #[error("{origin}: the PKCS#7 file holds no certificate: export it again with the certificates included")]
    EmptyPkcs7 {
        /// The file.
        origin: String,
    },
    /// A password-protected file without a password.
    #[error("{origin}: {what} is encrypted and no password was given: store the password in Secrets Manager and name that secret in source.password")]
    PasswordNeeded {
        /// The file.
        origin: String,
        /// What is encrypted.
        what: &'static str,
    },
    /// The password does not open the file.
    #[error("{origin}: the password in source.password does not open {what}: check the secret's value (no trailing newline)")]
    WrongPassword {
        /// The file.
        origin: String,
        /// What it should open.
        what: &'static str,
    },
    /// An OpenSSL "traditional" encrypted PEM key.
    #[error("{origin}: the key is encrypted the old OpenSSL way (Proc-Type: 4,ENCRYPTED), which no maintained library decrypts: convert it with `openssl pkcs8 -topk8 -in key.pem -out key-pkcs8.pem` (add -nocrypt for no password)")]
    LegacyEncryptedKey {
        /// The file.
        origin: String,
    },
    /// No certificate anywhere.
    #[error("no certificate in {origins}: name the certificate file in source.certificate")]
    NoCertificate {
        /// The files read.
        origins: String,
    },
    /// No key anywhere.
    #[error("no private key in {origins}: name the key file in source.private_key, or give a PKCS#12 file that holds the key")]
    NoKey {
        /// The files read.
        origins: String,
    },
    /// More than one distinct key.
    #[error("{count} different private keys in {origins}: give only the key of this certificate")]
    SeveralKeys {
        /// How many.
        count: usize,
        /// The files read.
        origins: String,
    },
    /// A key we cannot read or use.
    #[error("{origin}: {reason}")]
    Key {
        /// The file.
        origin: String,
        /// What is wrong and what to do.
        reason: String,
    },
    /// The key belongs to none of the certificates.
    #[error("the private key does not belong to any certificate given ({subjects}): give the key that was generated with this certificate's request")]
    KeyMismatch {
        /// The certificates' subjects and serials.
        subjects: String,
    },
    /// Two certificates for the one key.
    #[error("two certificates have this key (serials {first} and {second}): give only the one to deploy")]
    TwoLeaves {
        /// A serial.
        first: String,
        /// The other.
        second: String,
    },
    /// A self-signed leaf.
    #[error("the certificate for {subject} is self-signed: browsers do not trust it; give a certificate issued by a CA")]
    SelfSigned {
        /// The leaf's subject.
        subject: String,
    },
    /// The leaf's issuer is missing.
    #[error("the chain is incomplete: the certificate is issued by \"{issuer}\", which is not in the bundle{present}: add the intermediate certificate(s) your CA sent (often named chain.pem, ca-bundle.crt or *.p7b) in source.chain")]
    IncompleteChain {
        /// Who issued the top certificate.
        issuer: String,
        /// Which other certificates the bundle holds, if any.
        present: String,
    },
    /// A certificate that is not in the leaf's chain.
    #[error("certificate \"{subject}\" (serial {serial}) is not in the chain of the certificate for {leaf}: remove it from the bundle")]
    Unrelated {
        /// Its subject.
        subject: String,
        /// Its serial.
        serial: String,
        /// The leaf's first name.
        leaf: String,
    },
    /// An intermediate that is not a CA.
    #[error("\"{subject}\" is in the chain but is not a CA certificate: the chain must hold only the CA's intermediates")]
    NotACa {
        /// Its subject.
        subject: String,
    },
    /// The leaf is expired.
    #[error("the certificate expired on {not_after}: ask the CA for a renewed one")]
    Expired {
        /// When.
        not_after: OffsetDateTime,
    },
    /// The leaf is not valid yet.
    #[error("the certificate is not valid before {not_before}: deploy it from then on (check the clock of whoever issued it)")]
    NotYetValid {
        /// When it starts.
        not_before: OffsetDateTime,
    },
    /// An intermediate is expired.
    #[error(
        "intermediate \"{subject}\" expired on {not_after}: get the current chain from the CA"
    )]
    IntermediateExpired {
        /// Its subject.
        subject: String,
        /// When.
        not_after: OffsetDateTime,
    },
    /// Names the certificate does not cover.
    #[error("the certificate does not cover {missing} (it covers {covered}): request it with these names, or drop them from the domain's names")]
    NotCovered {
        /// The names missing.
        missing: String,
        /// Its names.
        covered: String,
    },
    /// The final check (the same one issued certificates pass) refused it.
    #[error("{0}")]
    Check(String),
}

/// What a PEM block or binary file turned out to be.
enum Piece {
    Certificate(Vec<u8>),
    Key(Vec<u8>),
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
    let mut certs: Vec<Vec<u8>> = Vec::new();
    let mut keys: Vec<(String, Vec<u8>)> = Vec::new();
    for file in files {
        for piece in read_file(file, password, &mut warnings)? {
            match piece {
                Piece::Certificate(der) if certs.contains(&der) => {
                    warnings.push(format!(
                        "{}: a certificate is given twice; the copy is ignored",
                        file.origin
                    ));
                }
                Piece::Certificate(der) => certs.push(der),
                Piece::Key(der) => keys.push((file.origin.to_owned(), der)),
            }
        }
    }
    let origins = files
        .iter()
        .map(|f| f.origin)
        .collect::<Vec<_>>()
        .join(", ");
    if certs.is_empty() {
        return Err(BundleError::NoCertificate { origins });
    }
    let mut normal_keys: Vec<(String, Key)> = Vec::new();
    for (origin, der) in keys {
        let key = Key::from_pkcs8(&origin, &der)?;
        if !normal_keys.iter().any(|(_, k)| k.pkcs8 == key.pkcs8) {
            normal_keys.push((origin, key));
        }
    }
    let key = match normal_keys.len() {
        0 => return Err(BundleError::NoKey { origins }),
        1 => normal_keys.remove(0).1,
        count => return Err(BundleError::SeveralKeys { count, origins }),
    };
    let parsed: Vec<X509Certificate<'_>> = certs
        .iter()
        .map(|der| X509Certificate::from_der(der).map(|(_, c)| c))
        .collect::<Result<_, _>>()
        .map_err(|e| BundleError::Check(format!("a certificate cannot be parsed: {e}")))?;
    let leaves: Vec<usize> = (0..parsed.len())
        .filter(|&i| {
            parsed[i].public_key().subject_public_key.data.as_ref() == key.public.as_slice()
        })
        .collect();
    let leaf_at = match leaves.as_slice() {
        [] => {
            return Err(BundleError::KeyMismatch {
                subjects: parsed
                    .iter()
                    .map(|c| format!("{} serial {}", c.subject(), serial(c)))
                    .collect::<Vec<_>>()
                    .join("; "),
            })
        }
        [one] => *one,
        [a, b, ..] => {
            return Err(BundleError::TwoLeaves {
                first: serial(&parsed[*a]),
                second: serial(&parsed[*b]),
            })
        }
    };
    let leaf = &parsed[leaf_at];
    if issued_by(leaf, leaf) {
        return Err(BundleError::SelfSigned {
            subject: leaf.subject().to_string(),
        });
    }
    // Walk up from the leaf: each next certificate is the one that signed the current one.
    let mut order = vec![leaf_at];
    let mut root = None;
    loop {
        let current = &parsed[*order.last().unwrap_or(&leaf_at)];
        let Some(next) = (0..parsed.len())
            .find(|&i| !order.contains(&i) && root != Some(i) && issued_by(current, &parsed[i]))
        else {
            break;
        };
        if issued_by(&parsed[next], &parsed[next]) {
            root = Some(next);
            break;
        }
        order.push(next);
    }
    let stray = (0..parsed.len()).find(|i| !order.contains(i) && root != Some(*i));
    if order.len() == 1 && root.is_none() {
        return Err(BundleError::IncompleteChain {
            issuer: leaf.issuer().to_string(),
            present: stray
                .map(|i| {
                    format!(
                        " (the bundle's \"{}\" did not issue it)",
                        parsed[i].subject()
                    )
                })
                .unwrap_or_default(),
        });
    }
    if let Some(stray) = stray {
        return Err(BundleError::Unrelated {
            subject: parsed[stray].subject().to_string(),
            serial: serial(&parsed[stray]),
            leaf: certificate::info(&certs[leaf_at])
                .ok()
                .and_then(|i| i.names.first().cloned())
                .unwrap_or_default(),
        });
    }
    if let Some(r) = root {
        warnings.push(format!(
            "the root \"{}\" is dropped from the chain (clients have it; CloudFront and ACM take the chain without it)",
            parsed[r].subject()
        ));
    }
    let given: Vec<usize> = (0..parsed.len()).filter(|i| *i != leaf_at).collect();
    let issuing: Vec<usize> = order[1..].iter().copied().chain(root).collect();
    if given != issuing {
        warnings.push("the intermediates were not in issuing order; reordered".to_owned());
    }
    for &i in &order[1..] {
        let c = &parsed[i];
        if !c.is_ca() {
            return Err(BundleError::NotACa {
                subject: c.subject().to_string(),
            });
        }
        let not_after = c.validity().not_after.to_datetime();
        if now >= not_after {
            return Err(BundleError::IntermediateExpired {
                subject: c.subject().to_string(),
                not_after,
            });
        }
    }
    let info = certificate::info(&certs[leaf_at]).map_err(|e| BundleError::Check(e.to_string()))?;
    if now < info.not_before {
        return Err(BundleError::NotYetValid {
            not_before: info.not_before,
        });
    }
    if now >= info.not_after {
        return Err(BundleError::Expired {
            not_after: info.not_after,
        });
    }
    let missing: Vec<&str> = wanted
        .iter()
        .filter(|w| !info.covers(w.as_str()))
        .map(DomainName::as_str)
        .collect();
    if !missing.is_empty() {
        return Err(BundleError::NotCovered {
            missing: missing.join(", "),
            covered: info.names.join(", "),
        });
    }
    let to_pem = |tag: &str, der: &[u8]| {
        pem::encode_config(
            &pem::Pem::new(tag, der.to_vec()),
            pem::EncodeConfig::new().set_line_ending(pem::LineEnding::LF),
        )
    };
    let certificate = to_pem("CERTIFICATE", &certs[leaf_at]);
    let chain: String = order[1..]
        .iter()
        .map(|&i| to_pem("CERTIFICATE", &certs[i]))
        .collect();
    let private_key = PrivateKeyPem::new(to_pem("PRIVATE KEY", &key.pkcs8));
    // The same gate every issued certificate passes before it is archived or uploaded.
    certificate::check_bundle(
        &format!("{certificate}{chain}"),
        private_key.expose(),
        wanted,
        now,
    )
    .map_err(|e| BundleError::Check(e.to_string()))?;
    Ok(Normalized {
        leaf: info,
        certificate,
        chain,
        private_key,
        warnings,
    })
}

fn serial(c: &X509Certificate<'_>) -> String {
    c.raw_serial_as_string().replace(':', "")
}

/// Whether `parent` issued (and signed) `child`.
fn issued_by(child: &X509Certificate<'_>, parent: &X509Certificate<'_>) -> bool {
    child.issuer() == parent.subject() && child.verify_signature(Some(parent.public_key())).is_ok()
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

fn read_file(
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
        Format::Pem => read_pem(file, password, warnings),
        Format::Der => read_der(origin, file.bytes, warnings),
        Format::Pkcs7 => read_pkcs7(origin, file.bytes),
        Format::Pkcs12 => read_pkcs12(origin, file.bytes, password),
    }
}

fn read_der(
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
    Ok(vec![Piece::Key(bytes.to_vec())])
}

fn read_pkcs7(origin: &str, bytes: &[u8]) -> Result<Vec<Piece>, BundleError> {
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
        .map_err(|e: der::Error| unreadable(e.to_string()))?;
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

fn read_pkcs12(
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
            .map(|bag| Piece::Key(bag.key.as_der().to_vec())),
    );
    Ok(out)
}

/// Reads PEM text block by block, so each problem is told with its line.
fn read_pem(
    file: &File<'_>,
    password: Option<&str>,
    warnings: &mut Vec<String>,
) -> Result<Vec<Piece>, BundleError> {
    let origin = file.origin;
    let text = String::from_utf8_lossy(file.bytes);
    let text = text.strip_prefix('\u{feff}').unwrap_or(&text);
    let mut pieces = Vec::new();
    let mut outside = 0usize;
    let mut open: Option<(String, usize, Vec<String>)> = None;
    let mut blank_inside = false;
    for (index, raw) in text.lines().enumerate() {
        let line_no = index + 1;
        let line = raw.trim_end_matches('\r');
        let trimmed = line.trim();
        match &mut open {
            None => {
                if let Some(label) = trimmed
                    .strip_prefix("-----BEGIN ")
                    .and_then(|l| l.strip_suffix("-----"))
                {
                    open = Some((label.to_owned(), line_no, vec![trimmed.to_owned()]));
                } else if trimmed.starts_with("-----END ") {
                    return Err(BundleError::BadPem {
                        origin: origin.to_owned(),
                        label: trimmed.to_owned(),
                        line: line_no,
                        reason: "an END line without its BEGIN line".into(),
                    });
                } else if !trimmed.is_empty() {
                    outside += 1;
                }
            }
            Some((label, start, lines)) => {
                if trimmed.is_empty() {
                    // The blank line that ends RFC 1421 headers (Proc-Type, DEK-Info) is kept.
                    if lines.last().is_some_and(|l| l.contains(':')) {
                        lines.push(String::new());
                    } else {
                        blank_inside = true;
                    }
                    continue;
                }
                if trimmed.starts_with("-----BEGIN ") {
                    return Err(BundleError::Unterminated {
                        origin: origin.to_owned(),
                        label: label.clone(),
                        line: *start,
                    });
                }
                if line != trimmed && !trimmed.starts_with("-----") {
                    blank_inside = true;
                }
                lines.push(trimmed.to_owned());
                if trimmed.starts_with("-----END ") {
                    let (label, start, lines) = open.take().unwrap_or_default();
                    pieces.extend(pem_block(
                        origin,
                        &label,
                        start,
                        &lines.join("\n"),
                        password,
                        warnings,
                    )?);
                }
            }
        }
    }
    if let Some((label, line, _)) = open {
        return Err(BundleError::Unterminated {
            origin: origin.to_owned(),
            label,
            line,
        });
    }
    if pieces.is_empty() {
        return Err(BundleError::NoPemBlock {
            origin: origin.to_owned(),
        });
    }
    if outside > 0 {
        warnings.push(format!(
            "{origin}: {outside} line(s) of text outside the PEM blocks are ignored"
        ));
    }
    if blank_inside {
        warnings.push(format!(
            "{origin}: blank or indented lines inside a PEM block are ignored"
        ));
    }
    Ok(pieces)
}

fn pem_block(
    origin: &str,
    label: &str,
    line: usize,
    block: &str,
    password: Option<&str>,
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
    let parsed = pem::parse(block).map_err(|e| bad(e.to_string()))?;
    let der = parsed.contents().to_vec();
    let unexpected = |what: &'static str| BundleError::UnexpectedBlock {
        origin: origin.to_owned(),
        label: label.to_owned(),
        line,
        what,
    };
    Ok(match label {
        "CERTIFICATE" | "X509 CERTIFICATE" => {
            match X509Certificate::from_der(&der) {
                Ok(([], _)) => {}
                Ok((rest, _)) => return Err(bad(format!("{} bytes after the certificate", rest.len()))),
                Err(e) => return Err(bad(format!("not an X.509 certificate: {e}"))),
            }
            vec![Piece::Certificate(der)]
        }
        "PKCS7" => read_pkcs7(origin, &der)?,
        "PRIVATE KEY" => vec![Piece::Key(der)],
        "RSA PRIVATE KEY" | "EC PRIVATE KEY" => {
            vec![Piece::Key(Key::traditional_to_pkcs8(origin, label, &der)?)]
        }
        "ENCRYPTED PRIVATE KEY" => {
            let Some(password) = password else {
                return Err(BundleError::PasswordNeeded {
                    origin: origin.to_owned(),
                    what: "the private key",
                });
            };
            let info = pkcs8::EncryptedPrivateKeyInfoRef::from_der(&der).map_err(|e| bad(e.to_string()))?;
            let plain = info.decrypt(password).map_err(|_| BundleError::WrongPassword {
                origin: origin.to_owned(),
                what: "the encrypted private key",
            })?;
            vec![Piece::Key(plain.as_bytes().to_vec())]
        }
        "EC PARAMETERS" => {
            warnings.push(format!("{origin}: the EC PARAMETERS block is ignored (the key names its curve)"));
            vec![]
        }
        "CERTIFICATE REQUEST" | "NEW CERTIFICATE REQUEST" => {
            return Err(unexpected("is a certificate signing request (CSR), not a certificate: give the certificate the CA issued for it"))
        }
        "TRUSTED CERTIFICATE" => {
            return Err(unexpected("is OpenSSL's certificate-with-trust-settings form: convert it with `openssl x509 -in cert.pem -out plain.pem`"))
        }
        "PUBLIC KEY" | "RSA PUBLIC KEY" => {
            return Err(unexpected("is a public key: give the private key (BEGIN PRIVATE KEY) that belongs to the certificate"))
        }
        "X509 CRL" => return Err(unexpected("is a revocation list, not a certificate: remove it")),
        _ => return Err(unexpected("is not a certificate, a private key or a PKCS#7 bag: remove it")),
    })
}

/// A private key, unencrypted PKCS#8, with its public key as a certificate carries it.
struct Key {
    pkcs8: Vec<u8>,
    public: Vec<u8>,
}

const SIGNED_DATA: pkcs8::ObjectIdentifier =
    pkcs8::ObjectIdentifier::new_unwrap("1.2.840.113549.1.7.2");
const RSA: pkcs8::ObjectIdentifier = pkcs8::ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1");
const EC: pkcs8::ObjectIdentifier = pkcs8::ObjectIdentifier::new_unwrap("1.2.840.10045.2.1");

impl Key {
    fn from_pkcs8(origin: &str, der: &[u8]) -> Result<Self, BundleError> {
        use aws_lc_rs::signature::{self, KeyPair};
        let refuse = |reason: String| BundleError::Key {
            origin: origin.to_owned(),
            reason,
        };
        let info = pkcs8::PrivateKeyInfoRef::from_der(der)
            .map_err(|e| refuse(format!("the private key is not PKCS#8, PKCS#1 or SEC1 ({e}): give the key as the CA's tool wrote it")))?;
        let oid = info.algorithm.oid;
        if oid == RSA {
            let pair = aws_lc_rs::rsa::KeyPair::from_pkcs8(der)
                .map_err(|e| refuse(format!("the RSA private key is invalid: {e}")))?;
            let bits = pair.public_modulus_len() * 8;
            if !(2048..=4096).contains(&bits) {
                return Err(refuse(format!("an RSA-{bits} key: CloudFront and ACM take RSA keys of 2048 to 4096 bits (2048 is the usual); ask the CA for a certificate with one")));
            }
            return Ok(Self {
                pkcs8: der.to_vec(),
                public: pair.public_key().as_ref().to_vec(),
            });
        }
        if oid == EC {
            for alg in [
                &signature::ECDSA_P256_SHA256_ASN1_SIGNING,
                &signature::ECDSA_P384_SHA384_ASN1_SIGNING,
            ] {
                if let Ok(pair) = signature::EcdsaKeyPair::from_pkcs8(alg, der) {
                    return Ok(Self {
                        pkcs8: der.to_vec(),
                        public: pair.public_key().as_ref().to_vec(),
                    });
                }
            }
            return Err(refuse("an EC key on a curve other than P-256 or P-384, which CloudFront does not take: use a P-256 or RSA-2048 key".into()));
        }
        Err(refuse(format!(
            "a key of algorithm {oid} (e.g. Ed25519), which CloudFront and ACM do not take: use an RSA-2048 or ECDSA P-256 key"
        )))
    }

    /// PKCS#1 (`RSA PRIVATE KEY`) or SEC1 (`EC PRIVATE KEY`) to PKCS#8.
    fn traditional_to_pkcs8(origin: &str, label: &str, der: &[u8]) -> Result<Vec<u8>, BundleError> {
        use aws_lc_rs::encoding::{AsDer, Pkcs8V1Der};
        use aws_lc_rs::signature;
        let refuse = |e: String| BundleError::Key {
            origin: origin.to_owned(),
            reason: format!("the {label} cannot be read ({e}): give it as the CA's tool wrote it"),
        };
        if label == "RSA PRIVATE KEY" {
            let pair = aws_lc_rs::rsa::KeyPair::from_der(der).map_err(|e| refuse(e.to_string()))?;
            let pkcs8: Pkcs8V1Der<'_> = pair.as_der().map_err(|e| refuse(e.to_string()))?;
            return Ok(pkcs8.as_ref().to_vec());
        }
        let mut last = String::new();
        for alg in [
            &signature::ECDSA_P256_SHA256_ASN1_SIGNING,
            &signature::ECDSA_P384_SHA384_ASN1_SIGNING,
            &signature::ECDSA_P521_SHA512_ASN1_SIGNING,
        ] {
            match signature::EcdsaKeyPair::from_private_key_der(alg, der) {
                Ok(pair) => {
                    return pair
                        .to_pkcs8v1()
                        .map(|d| d.as_ref().to_vec())
                        .map_err(|e| refuse(e.to_string()))
                }
                Err(e) => last = e.to_string(),
            }
        }
        Err(refuse(last))
    }
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
