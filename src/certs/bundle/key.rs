//! Private keys: PKCS#1 (`RSA PRIVATE KEY`) and SEC1 (`EC PRIVATE KEY`) converted to PKCS#8,
//! encrypted PKCS#8 decrypted with the password (the `pkcs8` crate runs the KDF and cipher the
//! file names), and the one key of a bundle checked to be one CloudFront and ACM take (RSA 2048 to
//! 4096 bits, ECDSA P-256 or P-384).
//!
//! Does not find which certificate the key belongs to ([`chain`](super::chain) does, with the
//! public key kept here), nor read PEM framing or PKCS#12 archives.

use ::der::Decode;

use super::{BundleError, KeyDer};

/// A private key, unencrypted PKCS#8, with its public key as a certificate carries it.
pub(super) struct Key {
    /// The key, unencrypted PKCS#8 DER (zeroed when dropped).
    pub(super) pkcs8: KeyDer,
    /// Its public key, as in a certificate's subjectPublicKey.
    pub(super) public: Vec<u8>,
}

const RSA: pkcs8::ObjectIdentifier = pkcs8::ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1");
const EC: pkcs8::ObjectIdentifier = pkcs8::ObjectIdentifier::new_unwrap("1.2.840.10045.2.1");

/// The bundle's one key: each of `keys` (PKCS#8 DER, with the file it came from) is checked, the
/// same key twice counts once, and none or several are refused naming `origins`.
pub(super) fn the_one(keys: Vec<(String, KeyDer)>, origins: String) -> Result<Key, BundleError> {
    let mut distinct: Vec<Key> = Vec::new();
    for (origin, der) in keys {
        let key = Key::from_pkcs8(&origin, &der)?;
        if !distinct.iter().any(|k| k.pkcs8 == key.pkcs8) {
            distinct.push(key);
        }
    }
    match distinct.len() {
        0 => Err(BundleError::NoKey { origins }),
        1 => Ok(distinct.remove(0)),
        count => Err(BundleError::SeveralKeys { count, origins }),
    }
}

impl Key {
    /// Checks an unencrypted PKCS#8 key is one CloudFront and ACM take, and keeps its public key.
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
                pkcs8: der.to_vec().into(),
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
                        pkcs8: der.to_vec().into(),
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
}

/// PKCS#1 (`RSA PRIVATE KEY`) or SEC1 (`EC PRIVATE KEY`) to PKCS#8.
pub(super) fn traditional_to_pkcs8(
    origin: &str,
    label: &str,
    der: &[u8],
) -> Result<KeyDer, BundleError> {
    use aws_lc_rs::encoding::{AsDer, Pkcs8V1Der};
    use aws_lc_rs::signature;
    let refuse = |e: String| BundleError::Key {
        origin: origin.to_owned(),
        reason: format!("the {label} cannot be read ({e}): give it as the CA's tool wrote it"),
    };
    if label == "RSA PRIVATE KEY" {
        let pair = aws_lc_rs::rsa::KeyPair::from_der(der).map_err(|e| refuse(e.to_string()))?;
        let pkcs8: Pkcs8V1Der<'_> = pair.as_der().map_err(|e| refuse(e.to_string()))?;
        return Ok(pkcs8.as_ref().to_vec().into());
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
                    .map(|d| d.as_ref().to_vec().into())
                    .map_err(|e| refuse(e.to_string()))
            }
            Err(e) => last = e.to_string(),
        }
    }
    Err(refuse(last))
}

/// An `ENCRYPTED PRIVATE KEY` (PKCS#8 `EncryptedPrivateKeyInfo`, DER) decrypted with `password`
/// to unencrypted PKCS#8 DER. `damaged` makes the error for a block that is no such structure.
pub(super) fn decrypt_pkcs8(
    origin: &str,
    der: &[u8],
    password: Option<&str>,
    damaged: impl FnOnce(String) -> BundleError,
) -> Result<KeyDer, BundleError> {
    let Some(password) = password else {
        return Err(BundleError::PasswordNeeded {
            origin: origin.to_owned(),
            what: "the private key",
        });
    };
    let info =
        pkcs8::EncryptedPrivateKeyInfoRef::from_der(der).map_err(|e| damaged(e.to_string()))?;
    let plain = info
        .decrypt(password)
        .map_err(|_| BundleError::WrongPassword {
            origin: origin.to_owned(),
            what: "the encrypted private key",
        })?;
    Ok(plain.as_bytes().to_vec().into())
}
