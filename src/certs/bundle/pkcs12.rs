//! A PKCS#12 archive (`.pfx`, `.p12`): opened with the password (an archive without one is tried
//! with the empty password), its certificates and keys taken out.
//!
//! Before it is opened, the cost of every key derivation visible without the password is checked
//! against the caps of [`key`](super::key): the MAC's iterations, each encrypted part's PBE or
//! PBES2 parameters, each shrouded key's. Keys shrouded inside an encrypted part are visible only
//! once that part is decrypted, inside `p12-keystore`, which caps each of their derivations itself
//! (1 000 000 iterations; scrypt at 1 GiB and p at 16, a bound we cannot tighten from outside).
//!
//! Does not check what it holds: the keys go to [`key`](super::key), the certificates to
//! [`chain`](super::chain), like those of any other format.

use ::der::asn1::{ContextSpecific, OctetString};
use ::der::{Decode, Encode};
use pkcs8::pkcs5::pbes2;
use pkcs8::spki::AlgorithmIdentifierOwned;
use pkcs8::ObjectIdentifier;

use super::key::{self, Unlock};
use super::{BundleError, Piece};

/// How to write a PKCS#12 file again with usual parameters.
const FIX: &str = "export it again with the usual parameters (`openssl pkcs12 -export`, or the CA's or Windows' export with its defaults)";

const DATA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.7.1");
const ENCRYPTED_DATA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.7.6");
const PBES2: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.5.13");
/// The arc of PKCS#12's own PBE algorithms (`pbeWithSHAAnd3-KeyTripleDES-CBC` and the like).
const PKCS12_PBE: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.12.1");

/// Opens a PKCS#12 archive and returns its certificates, then its keys.
pub(super) fn read(
    origin: &str,
    bytes: &[u8],
    unlock: &mut Unlock<'_>,
) -> Result<Vec<Piece>, BundleError> {
    use p12_keystore::error::Error as P12;
    let password = unlock.password();
    let derivations = visible_derivations(origin, bytes)?;
    let one_at_a_time = unlock.derive(origin, derivations.max(1))?;
    let opened = p12_keystore::Pkcs12Archive::from_pkcs12(bytes, password.unwrap_or(""));
    drop(one_at_a_time);
    let archive = match opened {
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

/// Checks the cost of every key derivation of the archive `bytes` that can be read without the
/// password, and counts them. What does not parse is left to `p12-keystore`, which says what is
/// wrong with it.
fn visible_derivations(origin: &str, bytes: &[u8]) -> Result<u32, BundleError> {
    let Ok(pfx) = pkcs12::pfx::Pfx::from_der(bytes) else {
        return Ok(0);
    };
    let mut count = 0;
    if let Some(mac) = &pfx.mac_data {
        key::check_iterations(
            (origin, "the PKCS#12 file's integrity MAC", FIX),
            "the PKCS#12 KDF",
            u64::try_from(mac.iterations).unwrap_or(0),
        )?;
        count += 1;
    }
    if pfx.auth_safe.content_type != DATA {
        return Ok(count);
    }
    let Ok(safes) = pfx
        .auth_safe
        .content
        .decode_as::<OctetString>()
        .and_then(|o| Vec::<cms::content_info::ContentInfo>::from_der(o.as_bytes()))
    else {
        return Ok(count);
    };
    for safe in &safes {
        if safe.content_type == ENCRYPTED_DATA {
            if let Ok(encrypted) = safe
                .content
                .to_der()
                .and_then(|d| cms::encrypted_data::EncryptedData::from_der(&d))
            {
                let alg = &encrypted.enc_content_info.content_enc_alg;
                check_algorithm((origin, "an encrypted part of the PKCS#12 file", FIX), alg)?;
                count += 1;
            }
        } else if safe.content_type == DATA {
            let bags = safe
                .content
                .decode_as::<OctetString>()
                .and_then(|o| pkcs12::safe_bag::SafeContents::from_der(o.as_bytes()))
                .unwrap_or_default();
            for bag in bags
                .iter()
                .filter(|b| b.bag_id == pkcs12::PKCS_12_PKCS8_KEY_BAG_OID)
            {
                type Shrouded = ContextSpecific<pkcs12::pbe_params::EncryptedPrivateKeyInfo>;
                if let Ok(shrouded) = Shrouded::from_der(&bag.bag_value) {
                    let alg = &shrouded.value.encryption_algorithm;
                    check_algorithm((origin, "a key in the PKCS#12 file", FIX), alg)?;
                    count += 1;
                }
            }
        }
    }
    Ok(count)
}

/// Checks the key derivation `alg` names (PBES2, or PKCS#12's own PBE), before deriving.
fn check_algorithm(
    said: (&str, &'static str, &'static str),
    alg: &AlgorithmIdentifierOwned,
) -> Result<(), BundleError> {
    let Some(params) = alg.parameters.as_ref().and_then(|p| p.to_der().ok()) else {
        return Ok(());
    };
    if alg.oid == PBES2 {
        if let Ok(params) = pbes2::Parameters::from_der(&params) {
            key::check_pbes2(said, &params)?;
        }
    } else if alg.oid.parent() == Some(PKCS12_PBE) {
        if let Ok(pbe) = pkcs12::pbe_params::Pkcs12PbeParams::from_der(&params) {
            let iterations = u64::try_from(pbe.iterations).unwrap_or(0);
            key::check_iterations(said, "the PKCS#12 KDF", iterations)?;
        }
    }
    Ok(())
}
