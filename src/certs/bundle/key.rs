//! Private keys: PKCS#1 (`RSA PRIVATE KEY`) and SEC1 (`EC PRIVATE KEY`) converted to PKCS#8,
//! encrypted PKCS#8 decrypted with the password (the `pkcs8` crate runs the KDF and cipher the
//! file names), and the one key of a bundle checked to be one CloudFront and ACM take (RSA 2048 to
//! 4096 bits, ECDSA P-256 or P-384).
//!
//! Key derivation is bounded: the file names the KDF's cost (PBKDF2 iterations, scrypt's N, r and
//! p), so a file could ask for hours of CPU or gigabytes of memory. Each derivation's parameters
//! are checked against [`MAX_KDF_ITERATIONS`], [`MAX_SCRYPT_MEMORY`] and [`MAX_SCRYPT_PARALLEL`]
//! before anything is derived, a bundle may cost at most [`MAX_DERIVATIONS`] of them
//! ([`Unlock`]), and the process derives one key at a time, so a run's memory stays bounded
//! however many bring-your-own domains it checks at once. The same caps are applied to PKCS#12
//! files by [`pkcs12`](super::pkcs12).
//!
//! Does not find which certificate the key belongs to ([`chain`](super::chain) does, with the
//! public key kept here), nor read PEM framing or PKCS#12 archives.

use std::sync::{Mutex, MutexGuard, PoisonError};

use ::der::Decode;
use pkcs8::pkcs5::pbes2;

use super::{BundleError, KeyDer};

/// The most PBKDF2 (and PKCS#12 PBE and MAC) iterations a key is derived with: 1 000 000.
///
/// Real files use far fewer: OpenSSL writes 2048, Java's keytool 10 000, Windows' PFX export a
/// few thousand; OWASP's 600 000 for PBKDF2-HMAC-SHA256 fits too. A million iterations cost
/// seconds at most of the function's CPU; the field allows four billion, which is hours.
pub const MAX_KDF_ITERATIONS: u64 = 1_000_000;

/// The most memory scrypt may need, 128·r·(N + p + 2) bytes: 32 MiB. That is OpenSSL's own check
/// and default limit (`EVP_PBE_scrypt`: `Blen + Vlen > maxmem`, `SCRYPT_MAX_MEM`), so every key
/// OpenSSL reads or writes without `-maxmem` is read, and nothing it refuses: its defaults
/// (N = 16384, r = 8, p = 1) need 16 MiB, N = 32768 with r = 8 is over. One derivation at a time,
/// on top of a run's ~26 MiB, keeps the function under 64 MiB.
pub const MAX_SCRYPT_MEMORY: u64 = 32 * 1024 * 1024;

/// The largest scrypt parallelization p: 16 (OpenSSL writes 1). Time grows with p.
pub const MAX_SCRYPT_PARALLEL: u64 = 16;

/// The most key derivations one bundle may cost: 8. A PKCS#12 file needs three (its MAC, its
/// certificates, its key), an encrypted key one; a file of hundreds of encrypted keys, each
/// under the caps, would otherwise still cost minutes.
pub const MAX_DERIVATIONS: u32 = 8;

/// Held while a key is derived: one derivation at a time in the process, so two bundles checked
/// at once never need scrypt's memory twice.
static DERIVING: Mutex<()> = Mutex::new(());

/// The password of a bundle's files, and how many more keys may be derived for it.
pub(super) struct Unlock<'a> {
    password: Option<&'a str>,
    left: u32,
}

impl<'a> Unlock<'a> {
    /// `password` (if any), with the allowance of [`MAX_DERIVATIONS`].
    pub(super) fn new(password: Option<&'a str>) -> Self {
        Self {
            password,
            left: MAX_DERIVATIONS,
        }
    }

    /// The password.
    pub(super) fn password(&self) -> Option<&'a str> {
        self.password
    }

    /// Takes `count` derivations for `origin` from the bundle's allowance, and returns the guard
    /// to derive under (one derivation at a time in the process).
    pub(super) fn derive(
        &mut self,
        origin: &str,
        count: u32,
    ) -> Result<MutexGuard<'static, ()>, BundleError> {
        self.left = self
            .left
            .checked_sub(count)
            .ok_or_else(|| BundleError::TooManyEncrypted {
                origin: origin.to_owned(),
                limit: MAX_DERIVATIONS,
            })?;
        Ok(DERIVING.lock().unwrap_or_else(PoisonError::into_inner))
    }
}

/// How to write an encrypted PKCS#8 key again with usual parameters.
const FIX_PKCS8: &str =
    "decrypt it and encrypt it again with OpenSSL's defaults (`openssl pkcs8 -topk8 -v2 aes256`)";

/// Refuses `iterations` of `kdf` over [`MAX_KDF_ITERATIONS`], before deriving.
pub(super) fn check_iterations(
    (origin, what, fix): (&str, &'static str, &'static str),
    kdf: &str,
    iterations: u64,
) -> Result<(), BundleError> {
    if iterations <= MAX_KDF_ITERATIONS {
        return Ok(());
    }
    Err(BundleError::KdfCost {
        origin: origin.to_owned(),
        what,
        kdf: format!("{kdf} at {iterations} iterations"),
        limit: format!("{MAX_KDF_ITERATIONS} iterations"),
        fix,
    })
}

/// Refuses PBES2 parameters whose key derivation costs more than the caps, before deriving;
/// `(origin, what, fix)` make the message.
pub(super) fn check_pbes2(
    (origin, what, fix): (&str, &'static str, &'static str),
    params: &pbes2::Parameters,
) -> Result<(), BundleError> {
    let refuse = |kdf: String, limit: String| BundleError::KdfCost {
        origin: origin.to_owned(),
        what,
        kdf,
        limit,
        fix,
    };
    match &params.kdf {
        pbes2::Kdf::Pbkdf2(p) => {
            check_iterations((origin, what, fix), "PBKDF2", u64::from(p.iteration_count))
        }
        pbes2::Kdf::Scrypt(s) => {
            let (n, r, p) = (
                s.cost_parameter,
                u64::from(s.block_size),
                u64::from(s.parallelization),
            );
            let memory = 128u64
                .saturating_mul(r)
                .saturating_mul(n.saturating_add(p).saturating_add(2));
            if memory > MAX_SCRYPT_MEMORY {
                return Err(refuse(
                    format!("scrypt N={n}, r={r}, p={p}, which needs {memory} bytes of memory (128·r·(N+p+2))"),
                    format!("{MAX_SCRYPT_MEMORY} bytes (OpenSSL's own limit; its defaults N=16384, r=8, p=1 need 16 MiB)"),
                ));
            }
            if p > MAX_SCRYPT_PARALLEL {
                return Err(refuse(
                    format!("scrypt p={p}"),
                    format!("p={MAX_SCRYPT_PARALLEL} (OpenSSL writes p=1)"),
                ));
            }
            Ok(())
        }
        // A KDF the pkcs5 crate adds later: it refuses what it cannot derive.
        _ => Ok(()),
    }
}

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

/// An `ENCRYPTED PRIVATE KEY` (PKCS#8 `EncryptedPrivateKeyInfo`, DER) decrypted with the
/// password to unencrypted PKCS#8 DER, if its KDF's cost is within the caps. `damaged` makes the
/// error for a block that is no such structure.
pub(super) fn decrypt_pkcs8(
    origin: &str,
    der: &[u8],
    unlock: &mut Unlock<'_>,
    damaged: impl FnOnce(String) -> BundleError,
) -> Result<KeyDer, BundleError> {
    let Some(password) = unlock.password() else {
        return Err(BundleError::PasswordNeeded {
            origin: origin.to_owned(),
            what: "the private key",
        });
    };
    let info =
        pkcs8::EncryptedPrivateKeyInfoRef::from_der(der).map_err(|e| damaged(e.to_string()))?;
    // PBES1 counts iterations in 16 bits: bounded by the format.
    if let Some(params) = info.encryption_algorithm.pbes2() {
        check_pbes2((origin, "the private key", FIX_PKCS8), params)?;
    }
    let one_at_a_time = unlock.derive(origin, 1)?;
    let plain = info
        .decrypt(password)
        .map_err(|_| BundleError::WrongPassword {
            origin: origin.to_owned(),
            what: "the encrypted private key",
        })?;
    drop(one_at_a_time);
    Ok(plain.as_bytes().to_vec().into())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pbes2(kdf: pbes2::Kdf) -> pbes2::Parameters {
        pbes2::Parameters {
            kdf,
            encryption: pbes2::EncryptionScheme::Aes256Cbc { iv: [0; 16] },
        }
    }

    fn pbkdf2(iterations: u32) -> pbes2::Kdf {
        pbes2::Pbkdf2Params {
            salt: pbes2::Salt::new([1u8; 16]).unwrap(),
            iteration_count: iterations,
            key_length: None,
            prf: pbes2::Pbkdf2Prf::HmacWithSha256,
        }
        .into()
    }

    fn scrypt(n: u64, r: u16, p: u16) -> pbes2::Kdf {
        pbes2::ScryptParams {
            salt: pbes2::Salt::new([1u8; 16]).unwrap(),
            cost_parameter: n,
            block_size: r,
            parallelization: p,
            key_length: None,
        }
        .into()
    }

    fn check(kdf: pbes2::Kdf) -> Result<(), BundleError> {
        check_pbes2(
            ("s3://b/key.pem", "the private key", FIX_PKCS8),
            &pbes2(kdf),
        )
    }

    #[test]
    fn pbkdf2_iterations_are_capped_at_a_million() {
        for fine in [1, 2048, 10_000, 600_000, 1_000_000] {
            check(pbkdf2(fine)).unwrap();
        }
        let e = check(pbkdf2(1_000_001)).unwrap_err();
        assert_eq!(
            e.to_string(),
            "s3://b/key.pem: the private key is encrypted with PBKDF2 at 1000001 iterations, over the 1000000 iterations cert-rotator accepts (deriving its key would take too long or too much memory): decrypt it and encrypt it again with OpenSSL's defaults (`openssl pkcs8 -topk8 -v2 aes256`)"
        );
        assert!(check(pbkdf2(u32::MAX)).is_err());
    }

    #[test]
    fn scrypt_memory_is_capped_at_32_mib_and_p_at_16() {
        // OpenSSL's defaults (16 MiB); what its own 32 MiB limit allows with r = 1 and r = 3.
        check(scrypt(1 << 14, 8, 1)).unwrap();
        check(scrypt(1 << 14, 8, 16)).unwrap();
        check(scrypt(1 << 17, 1, 1)).unwrap();
        check(scrypt(1 << 16, 3, 1)).unwrap();
        // OpenSSL 3 refuses N = 32768 with r = 8 ("memory limit exceeded"): so do we.
        let e = check(scrypt(1 << 15, 8, 1)).unwrap_err().to_string();
        assert!(
            e.contains(
                "scrypt N=32768, r=8, p=1, which needs 33557504 bytes of memory (128·r·(N+p+2))"
            ) && e.contains("over the 33554432 bytes"),
            "{e}"
        );
        assert!(check(scrypt(1 << 18, 1, 1)).is_err());
        let e = check(scrypt(1 << 14, 8, 17)).unwrap_err().to_string();
        assert!(e.contains("scrypt p=17, over the p=16"), "{e}");
        // No overflow whatever the file says.
        assert!(check(scrypt(u64::MAX, u16::MAX, u16::MAX)).is_err());
    }

    #[test]
    fn a_bundle_may_cost_at_most_eight_derivations() {
        let mut unlock = Unlock::new(Some("pw"));
        for _ in 0..MAX_DERIVATIONS {
            drop(unlock.derive("s3://b/keys.pem", 1).unwrap());
        }
        let e = unlock.derive("s3://b/keys.pem", 1).unwrap_err();
        assert!(
            matches!(e, BundleError::TooManyEncrypted { limit: 8, .. }),
            "{e}"
        );
        assert!(Unlock::new(None).derive("x", MAX_DERIVATIONS + 1).is_err());
    }
}
