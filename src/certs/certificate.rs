//! Certificates as cert-rotator reasons about them: parsed once with x509-parser into plain data,
//! and the pure check every bundle passes before it is archived, uploaded or attached.
//!
//! The check (issue order, coverage, key match, validity) takes `now` as a parameter and reads no
//! clock, so the same rules run in tests at exact dates.

use ::time::OffsetDateTime;
use rcgen::PublicKeyData;
use x509_parser::prelude::*;

use crate::model::names::DomainName;

/// What we need to know about a certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertificateInfo {
    /// DNS names of the subject alternative name extension (the subject CN if there is none),
    /// lowercase.
    pub names: Vec<String>,
    /// Start of validity.
    pub not_before: OffsetDateTime,
    /// End of validity.
    pub not_after: OffsetDateTime,
    /// Serial number in its canonical form ([`canonical_serial`]).
    pub serial: String,
    /// The DER encoding.
    pub der: Vec<u8>,
}

impl CertificateInfo {
    /// Whether every name in `wanted` is covered by a name of this certificate.
    pub fn covers_all(&self, wanted: &[DomainName]) -> bool {
        wanted.iter().all(|w| self.covers(w.as_str()))
    }

    /// Whether a name of this certificate covers `host` (wildcards: one label).
    pub fn covers(&self, host: &str) -> bool {
        self.names
            .iter()
            .any(|n| n.parse::<DomainName>().is_ok_and(|n| n.covers(host)) || n == host)
    }

    /// The whole validity period.
    pub fn lifetime(&self) -> ::time::Duration {
        self.not_after - self.not_before
    }
}

/// A certificate or bundle that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CertificateError {
    /// Not PEM, or a PEM block that is not a certificate.
    #[error("not a PEM certificate chain: {0}")]
    Pem(String),
    /// PEM that holds no certificate.
    #[error("the PEM text holds no certificate")]
    Empty,
    /// DER that x509-parser rejects.
    #[error("certificate {index} of the chain cannot be parsed: {reason}")]
    Parse {
        /// Position in the chain, 0 = leaf.
        index: usize,
        /// The parser's message.
        reason: String,
    },
    /// The leaf does not cover a requested name.
    #[error("the certificate does not cover {0}")]
    NotCovered(String),
    /// The private key is not the leaf's.
    #[error("the private key does not belong to the certificate")]
    KeyMismatch,
    /// The private key cannot be read.
    #[error("the private key cannot be read: {0}")]
    Key(String),
    /// Outside its validity period at `now`.
    #[error("the certificate is not valid now (valid {not_before} to {not_after})")]
    NotValidNow {
        /// Start of validity.
        not_before: OffsetDateTime,
        /// End of validity.
        not_after: OffsetDateTime,
    },
    /// Certificate `index` was not issued by certificate `index + 1`.
    #[error("the chain is not in issuing order: certificate {index} ({subject}) is not signed by the next one")]
    ChainOrder {
        /// Position in the chain.
        index: usize,
        /// Its subject.
        subject: String,
    },
}

/// The DER certificates of a PEM chain, leaf first.
pub fn pem_chain(pem: &str) -> Result<Vec<Vec<u8>>, CertificateError> {
    let mut ders = Vec::new();
    for block in Pem::iter_from_buffer(pem.as_bytes()) {
        let block = block.map_err(|e| CertificateError::Pem(e.to_string()))?;
        if block.label != "CERTIFICATE" {
            return Err(CertificateError::Pem(format!(
                "unexpected PEM block {}",
                block.label
            )));
        }
        ders.push(block.contents);
    }
    if ders.is_empty() {
        return Err(CertificateError::Empty);
    }
    Ok(ders)
}

/// Splits a PEM chain into the leaf and the rest (intermediates), as IAM and ACM take them.
pub fn split_leaf(chain_pem: &str) -> Result<(String, String), CertificateError> {
    const END: &str = "-----END CERTIFICATE-----";
    let at = chain_pem.find(END).ok_or(CertificateError::Empty)? + END.len();
    let (leaf, rest) = chain_pem.split_at(at);
    Ok((
        format!("{}\n", leaf.trim()),
        rest.trim().to_owned() + if rest.trim().is_empty() { "" } else { "\n" },
    ))
}

/// Parses one DER certificate.
pub fn info(der: &[u8]) -> Result<CertificateInfo, CertificateError> {
    let (_, cert) = X509Certificate::from_der(der).map_err(|e| CertificateError::Parse {
        index: 0,
        reason: e.to_string(),
    })?;
    let mut names: Vec<String> = match cert.subject_alternative_name() {
        Ok(Some(san)) => san
            .value
            .general_names
            .iter()
            .filter_map(|g| match g {
                GeneralName::DNSName(n) => Some(n.to_ascii_lowercase()),
                _ => None,
            })
            .collect(),
        _ => Vec::new(),
    };
    if names.is_empty() {
        names = cert
            .subject()
            .iter_common_name()
            .filter_map(|cn| cn.as_str().ok())
            .map(str::to_ascii_lowercase)
            .collect();
    }
    Ok(CertificateInfo {
        names,
        not_before: cert.validity().not_before.to_datetime(),
        not_after: cert.validity().not_after.to_datetime(),
        serial: canonical_serial(&cert.raw_serial_as_string()),
        der: der.to_vec(),
    })
}

/// A certificate's Key Usage and Extended Key Usage values, as ACM compares them on re-import.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Usages {
    /// Key Usage values (`digitalSignature`, `keyEncipherment`...); `None` without the extension.
    pub key_usage: Option<std::collections::BTreeSet<&'static str>>,
    /// Extended Key Usage values (`serverAuth`, `clientAuth`, other OIDs); `None` without it.
    pub extended: Option<std::collections::BTreeSet<String>>,
    /// Whether the key is RSA.
    pub rsa: bool,
}

/// The usages of the certificate `der`.
pub fn usages(der: &[u8]) -> Result<Usages, CertificateError> {
    let (_, cert) = X509Certificate::from_der(der).map_err(|e| CertificateError::Parse {
        index: 0,
        reason: e.to_string(),
    })?;
    let key_usage = cert.key_usage().ok().flatten().map(|ku| {
        let ku = ku.value;
        [
            (ku.digital_signature(), "digitalSignature"),
            (ku.non_repudiation(), "nonRepudiation"),
            (ku.key_encipherment(), "keyEncipherment"),
            (ku.data_encipherment(), "dataEncipherment"),
            (ku.key_agreement(), "keyAgreement"),
            (ku.key_cert_sign(), "keyCertSign"),
            (ku.crl_sign(), "cRLSign"),
            (ku.encipher_only(), "encipherOnly"),
            (ku.decipher_only(), "decipherOnly"),
        ]
        .into_iter()
        .filter_map(|(set, name)| set.then_some(name))
        .collect()
    });
    let extended = cert.extended_key_usage().ok().flatten().map(|eku| {
        let eku = eku.value;
        [
            (eku.any, "anyExtendedKeyUsage"),
            (eku.server_auth, "serverAuth"),
            (eku.client_auth, "clientAuth"),
            (eku.code_signing, "codeSigning"),
            (eku.email_protection, "emailProtection"),
            (eku.time_stamping, "timeStamping"),
            (eku.ocsp_signing, "OCSPSigning"),
        ]
        .into_iter()
        .filter(|(set, _)| *set)
        .map(|(_, name)| name.to_owned())
        .chain(eku.other.iter().map(ToString::to_string))
        .collect()
    });
    let rsa =
        cert.public_key().algorithm.algorithm == x509_parser::oid_registry::OID_PKCS1_RSAENCRYPTION;
    Ok(Usages {
        key_usage,
        extended,
        rsa,
    })
}

/// A serial number as one spelling for comparing: lowercase hex without colons, without the
/// leading zero bytes, in whole bytes (`"0d7a"`). DER keeps a `00` byte before a serial whose first
/// bit is set, and x509-parser's raw serial has it; ACM's DescribeCertificate `Serial` does not.
/// Compared as they come, the two spellings took an unchanged certificate with such a serial
/// for a new one.
pub fn canonical_serial(spelled: &str) -> String {
    let digits: String = spelled
        .chars()
        .filter(|c| *c != ':')
        .map(|c| c.to_ascii_lowercase())
        .collect();
    match digits.trim_start_matches('0') {
        "" => "00".to_owned(),
        odd if odd.len() % 2 == 1 => format!("0{odd}"),
        even => even.to_owned(),
    }
}

/// Checks a bundle before any use: the chain is in issuing order (each certificate signed by the
/// next), the leaf covers every wanted name, the key is the leaf's, and the leaf is valid at
/// `now`. Returns the leaf.
pub fn check_bundle(
    chain_pem: &str,
    key_pem: &str,
    wanted: &[DomainName],
    now: OffsetDateTime,
) -> Result<CertificateInfo, CertificateError> {
    let ders = pem_chain(chain_pem)?;
    let parsed = ders
        .iter()
        .enumerate()
        .map(|(index, der)| {
            X509Certificate::from_der(der)
                .map(|(_, c)| c)
                .map_err(|e| CertificateError::Parse {
                    index,
                    reason: e.to_string(),
                })
        })
        .collect::<Result<Vec<_>, _>>()?;
    for (index, pair) in parsed.windows(2).enumerate() {
        let (child, parent) = (&pair[0], &pair[1]);
        if child.issuer() != parent.subject()
            || child.verify_signature(Some(parent.public_key())).is_err()
        {
            return Err(CertificateError::ChainOrder {
                index,
                subject: child.subject().to_string(),
            });
        }
    }
    let leaf = info(&ders[0])?;
    if let Some(missing) = wanted.iter().find(|w| !leaf.covers(w.as_str())) {
        return Err(CertificateError::NotCovered(missing.to_string()));
    }
    let key =
        rcgen::KeyPair::from_pem(key_pem).map_err(|e| CertificateError::Key(e.to_string()))?;
    if key.subject_public_key_info() != parsed[0].public_key().raw {
        return Err(CertificateError::KeyMismatch);
    }
    if now < leaf.not_before || now >= leaf.not_after {
        return Err(CertificateError::NotValidNow {
            not_before: leaf.not_before,
            not_after: leaf.not_after,
        });
    }
    Ok(leaf)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ::time::macros::datetime;
    use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};

    #[test]
    fn serials_compare_in_one_spelling() {
        // x509-parser keeps DER's sign byte; ACM prints the number in colon hex without it.
        assert_eq!(
            canonical_serial("00:d7:d9:d7:83"),
            canonical_serial("d7:d9:d7:83")
        );
        assert_eq!(canonical_serial("00D7D9"), "d7d9");
        assert_eq!(canonical_serial("0d:7a"), "0d7a");
        assert_eq!(canonical_serial("d7a"), "0d7a");
        assert_eq!(canonical_serial("00"), "00");
        assert_eq!(canonical_serial(""), "00");
        assert_ne!(canonical_serial("0d7a"), canonical_serial("0d7b"));
    }

    struct Pki {
        ca_key: KeyPair,
        ca_params: CertificateParams,
        ca_pem: String,
    }

    fn pki() -> Pki {
        let ca_key = KeyPair::generate().unwrap();
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "test intermediate");
        let ca_pem = ca_params.self_signed(&ca_key).unwrap().pem();
        Pki {
            ca_key,
            ca_params,
            ca_pem,
        }
    }

    fn leaf(
        pki: &Pki,
        names: &[&str],
        from: OffsetDateTime,
        to: OffsetDateTime,
    ) -> (String, String) {
        let key = KeyPair::generate().unwrap();
        let mut params =
            CertificateParams::new(names.iter().map(|s| s.to_string()).collect::<Vec<_>>())
                .unwrap();
        params.not_before = from;
        params.not_after = to;
        let issuer = Issuer::from_params(&pki.ca_params, &pki.ca_key);
        (
            params.signed_by(&key, &issuer).unwrap().pem(),
            key.serialize_pem(),
        )
    }

    fn names(ns: &[&str]) -> Vec<DomainName> {
        ns.iter().map(|n| n.parse().unwrap()).collect()
    }

    const NOW: OffsetDateTime = datetime!(2026-06-01 00:00 UTC);

    #[test]
    fn a_good_bundle_passes_and_reports_its_leaf() {
        let pki = pki();
        let (cert, key) = leaf(
            &pki,
            &["cdn.example.cn", "*.cdn.example.cn"],
            datetime!(2026-05-01 00:00 UTC),
            datetime!(2026-07-30 00:00 UTC),
        );
        let chain = format!("{cert}{}", pki.ca_pem);
        let got = check_bundle(
            &chain,
            &key,
            &names(&["cdn.example.cn", "a.cdn.example.cn"]),
            NOW,
        )
        .unwrap();
        assert_eq!(got.names, vec!["cdn.example.cn", "*.cdn.example.cn"]);
        assert_eq!(got.lifetime(), ::time::Duration::days(90));
    }

    #[test]
    fn splits_the_leaf_from_the_intermediates() {
        let pki = pki();
        let (cert, _) = leaf(
            &pki,
            &["cdn.example.cn"],
            datetime!(2026-05-01 00:00 UTC),
            datetime!(2026-07-30 00:00 UTC),
        );
        let (l, rest) = split_leaf(&format!("{cert}{}", pki.ca_pem)).unwrap();
        assert_eq!(pem_chain(&l).unwrap().len(), 1);
        assert_eq!(pem_chain(&rest).unwrap(), pem_chain(&pki.ca_pem).unwrap());
        assert_eq!(split_leaf(&cert).unwrap().1, "");
    }

    #[test]
    fn refuses_uncovered_names_foreign_keys_expiry_and_disorder() {
        let pki = pki();
        let (cert, key) = leaf(
            &pki,
            &["cdn.example.cn"],
            datetime!(2026-05-01 00:00 UTC),
            datetime!(2026-07-30 00:00 UTC),
        );
        let chain = format!("{cert}{}", pki.ca_pem);
        assert_eq!(
            check_bundle(&chain, &key, &names(&["other.example.cn"]), NOW),
            Err(CertificateError::NotCovered("other.example.cn".into()))
        );
        let (_, other_key) = leaf(
            &pki,
            &["x.example.cn"],
            datetime!(2026-05-01 00:00 UTC),
            datetime!(2026-07-30 00:00 UTC),
        );
        assert_eq!(
            check_bundle(&chain, &other_key, &names(&["cdn.example.cn"]), NOW),
            Err(CertificateError::KeyMismatch)
        );
        assert!(matches!(
            check_bundle(&chain, &key, &[], datetime!(2026-07-30 00:00 UTC)),
            Err(CertificateError::NotValidNow { .. })
        ));
        let reversed = format!("{}{cert}", pki.ca_pem);
        assert!(matches!(
            check_bundle(&reversed, &key, &[], NOW),
            Err(CertificateError::ChainOrder { index: 0, .. })
        ));
        assert_eq!(
            check_bundle("garbage", &key, &[], NOW),
            Err(CertificateError::Empty)
        );
    }
}
