//! A commercial CA in miniature for the bring-your-own tests: root → intermediate → leaf, and
//! the files such a CA hands out — PEM, DER, PKCS#7 (`.p7b`), PKCS#12 (`.pfx`), encrypted keys —
//! written with the same maintained crates the product reads them with.
#![allow(dead_code, unreachable_pub, clippy::unwrap_used, clippy::expect_used)]

use der::{Decode, Encode};
use rcgen::{
    BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, SignatureAlgorithm,
};
use time::OffsetDateTime;

/// A CA: its certificate (DER and PEM) and what it signs with.
pub struct Authority {
    pub key: KeyPair,
    pub params: CertificateParams,
    pub der: Vec<u8>,
    pub pem: String,
}

/// A root and the intermediate it signed, valid for ten years around now.
pub struct Pki {
    pub root: Authority,
    pub intermediate: Authority,
}

/// A leaf as the CA delivers it.
pub struct Leaf {
    pub der: Vec<u8>,
    pub pem: String,
    /// Unencrypted PKCS#8.
    pub key_der: Vec<u8>,
    pub key_pem: String,
}

fn ca(name: &str, issuer: Option<&Authority>) -> Authority {
    let key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.distinguished_name.push(DnType::CommonName, name);
    params.not_before = OffsetDateTime::now_utc() - time::Duration::days(365);
    params.not_after = OffsetDateTime::now_utc() + time::Duration::days(3650);
    let cert = match issuer {
        None => params.self_signed(&key).unwrap(),
        Some(by) => params
            .signed_by(&key, &Issuer::from_params(&by.params, &by.key))
            .unwrap(),
    };
    Authority {
        der: cert.der().to_vec(),
        pem: cert.pem(),
        key,
        params,
    }
}

impl Pki {
    pub fn new(label: &str) -> Self {
        let root = ca(&format!("{label} Root CA"), None);
        let intermediate = ca(&format!("{label} Issuing CA 1"), Some(&root));
        Self { root, intermediate }
    }

    /// A P-256 leaf for `names`, valid from `from` for `days`.
    pub fn leaf(&self, names: &[&str], from: OffsetDateTime, days: i64) -> Leaf {
        self.leaf_with(names, from, days, &rcgen::PKCS_ECDSA_P256_SHA256)
    }

    /// A leaf whose key uses `alg` (RSA keys are made with aws-lc-rs, 2048 bits).
    pub fn leaf_with(
        &self,
        names: &[&str],
        from: OffsetDateTime,
        days: i64,
        alg: &'static SignatureAlgorithm,
    ) -> Leaf {
        let key = if alg == &rcgen::PKCS_RSA_SHA256 {
            KeyPair::generate_rsa_for(alg, rcgen::RsaKeySize::_2048).unwrap()
        } else {
            KeyPair::generate_for(alg).unwrap()
        };
        self.sign(names, from, days, &key, &self.intermediate)
    }

    /// A P-256 leaf with the serial number `serial` (big-endian bytes).
    pub fn leaf_with_serial(
        &self,
        names: &[&str],
        from: OffsetDateTime,
        days: i64,
        serial: &[u8],
    ) -> Leaf {
        let key = KeyPair::generate().unwrap();
        let mut params = leaf_params(names, from, days);
        params.serial_number = Some(rcgen::SerialNumber::from_slice(serial));
        issue(&params, &key, &self.intermediate)
    }

    /// A leaf signed by `by`, with `key`.
    pub fn sign(
        &self,
        names: &[&str],
        from: OffsetDateTime,
        days: i64,
        key: &KeyPair,
        by: &Authority,
    ) -> Leaf {
        issue(&leaf_params(names, from, days), key, by)
    }
}

/// A leaf's parameters: `names`, valid from `from` for `days`.
fn leaf_params(names: &[&str], from: OffsetDateTime, days: i64) -> CertificateParams {
    let mut params =
        CertificateParams::new(names.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap();
    params.not_before = from;
    params.not_after = from + time::Duration::days(days);
    params
}

/// The leaf of `params`, signed by `by`, with `key`.
fn issue(params: &CertificateParams, key: &KeyPair, by: &Authority) -> Leaf {
    let cert = params
        .signed_by(key, &Issuer::from_params(&by.params, &by.key))
        .unwrap();
    Leaf {
        der: cert.der().to_vec(),
        pem: cert.pem(),
        key_der: key.serialize_der(),
        key_pem: key.serialize_pem(),
    }
}

/// Certificates in a PKCS#7 bag, DER (what `openssl crl2pkcs7 -nocrl -outform DER` writes).
pub fn pkcs7(certs: &[&[u8]]) -> Vec<u8> {
    use cms::cert::CertificateChoices;
    use cms::content_info::{CmsVersion, ContentInfo};
    use cms::signed_data::{CertificateSet, EncapsulatedContentInfo, SignedData, SignerInfos};
    let choices: Vec<CertificateChoices> = certs
        .iter()
        .map(|d| CertificateChoices::Certificate(x509_cert::Certificate::from_der(d).unwrap()))
        .collect();
    let signed = SignedData {
        version: CmsVersion::V1,
        digest_algorithms: der::asn1::SetOfVec::new(),
        encap_content_info: EncapsulatedContentInfo {
            econtent_type: der::oid::ObjectIdentifier::new_unwrap("1.2.840.113549.1.7.1"),
            econtent: None,
        },
        certificates: Some(CertificateSet(
            der::asn1::SetOfVec::try_from(choices).unwrap(),
        )),
        crls: None,
        signer_infos: SignerInfos(der::asn1::SetOfVec::new()),
    };
    ContentInfo {
        content_type: der::oid::ObjectIdentifier::new_unwrap("1.2.840.113549.1.7.2"),
        content: der::Any::encode_from(&signed).unwrap(),
    }
    .to_der()
    .unwrap()
}

/// A PKCS#12 archive with the key, the leaf and `chain`, protected by `password`.
pub fn pkcs12(leaf: &Leaf, chain: &[&[u8]], password: &str) -> Vec<u8> {
    use p12_keystore::{Certificate, KeyStore, KeyStoreEntry, PrivateKey, PrivateKeyChain};
    let mut certs = vec![Certificate::from_der(&leaf.der).unwrap()];
    certs.extend(chain.iter().map(|d| Certificate::from_der(d).unwrap()));
    let entry = PrivateKeyChain::new(
        b"leaf".as_slice(),
        PrivateKey::from_der(&leaf.key_der).unwrap(),
        certs,
    );
    let mut store = KeyStore::new();
    store.add_entry("leaf", KeyStoreEntry::PrivateKeyChain(entry));
    store.writer(password).write().unwrap()
}

/// The key as `openssl pkcs8 -topk8 -v2 aes256` writes it (PBES2, PBKDF2-SHA256, AES-256-CBC).
pub fn encrypted_key_pem(leaf: &Leaf, password: &str) -> String {
    pem::encode(&pem::Pem::new(
        "ENCRYPTED PRIVATE KEY",
        encrypted_key_der(leaf, password),
    ))
}

/// The same key in binary (`openssl pkcs8 -topk8 -v2 aes256 -outform DER`).
pub fn encrypted_key_der(leaf: &Leaf, password: &str) -> Vec<u8> {
    let params = pkcs8::pkcs5::pbes2::Parameters::generate_pbkdf2_sha256_aes256cbc(
        2048,
        b"saltsaltsaltsalt",
        [7u8; 16],
    )
    .unwrap();
    let info = pkcs8::PrivateKeyInfoRef::from_der(&leaf.key_der).unwrap();
    let doc = info.encrypt_with_params(params, password).unwrap();
    doc.as_bytes().to_vec()
}

/// An `ENCRYPTED PRIVATE KEY` block whose PBES2 parameters name `kdf`, around ciphertext no
/// password opens: made without deriving anything, for the caps, which must refuse it before
/// deriving anything either.
pub fn encrypted_key_pem_with_kdf(kdf: pkcs8::pkcs5::pbes2::Kdf) -> String {
    use pkcs8::pkcs5::{pbes2, EncryptionScheme};
    let info = pkcs8::EncryptedPrivateKeyInfoOwned {
        encryption_algorithm: EncryptionScheme::Pbes2(pbes2::Parameters {
            kdf,
            encryption: pbes2::EncryptionScheme::Aes256Cbc { iv: [7u8; 16] },
        }),
        encrypted_data: der::asn1::OctetString::new(vec![0u8; 48]).unwrap(),
    };
    pem_of("ENCRYPTED PRIVATE KEY", &info.to_der().unwrap())
}

/// PBKDF2-HMAC-SHA256 at `iterations`.
pub fn pbkdf2(iterations: u32) -> pkcs8::pkcs5::pbes2::Kdf {
    pkcs8::pkcs5::pbes2::Pbkdf2Params {
        salt: pkcs8::pkcs5::pbes2::Salt::new(b"saltsaltsaltsalt").unwrap(),
        iteration_count: iterations,
        key_length: None,
        prf: pkcs8::pkcs5::pbes2::Pbkdf2Prf::HmacWithSha256,
    }
    .into()
}

/// scrypt with cost `n`, block size `r` and parallelization `p`.
pub fn scrypt(n: u64, r: u16, p: u16) -> pkcs8::pkcs5::pbes2::Kdf {
    pkcs8::pkcs5::pbes2::ScryptParams {
        salt: pkcs8::pkcs5::pbes2::Salt::new(b"saltsaltsaltsalt").unwrap(),
        cost_parameter: n,
        block_size: r,
        parallelization: p,
        key_length: None,
    }
    .into()
}

/// A PEM block of `label` around `der`.
pub fn pem_of(label: &str, der: &[u8]) -> String {
    pem::encode(&pem::Pem::new(label, der.to_vec()))
}
