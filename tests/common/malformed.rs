//! At least twenty malformed bring-your-own bundles, each with the error it must get: shared by
//! the pure test (tests/bundles.rs) and the bed test that proves none of them deploys anything
//! (tests/acm_on_bed.rs).
#![allow(dead_code, unreachable_pub, clippy::unwrap_used, clippy::expect_used)]

use cert_rotator::certs::bundle::{BundleError, Format};
use time::{Duration, OffsetDateTime};

use super::pki::{encrypted_key_pem, pem_of, pkcs12, pkcs7, Leaf, Pki};

/// The names every malformed bundle is for.
pub const SHOP: &[&str] = &["shop.example.com", "www.shop.example.com"];

fn now() -> OffsetDateTime {
    OffsetDateTime::now_utc()
}

fn ago(days: i64) -> OffsetDateTime {
    now() - Duration::days(days)
}

struct Case {
    pki: Pki,
    leaf: Leaf,
}

/// One malformed bundle: its files, the password, and the error it must get.
pub struct Bad {
    pub what: &'static str,
    pub files: Vec<(&'static str, Vec<u8>, Option<Format>)>,
    pub password: Option<&'static str>,
    pub expect: fn(&BundleError) -> bool,
    pub says: &'static str,
}

fn bad(
    what: &'static str,
    files: Vec<(&'static str, Vec<u8>)>,
    expect: fn(&BundleError) -> bool,
    says: &'static str,
) -> Bad {
    Bad {
        what,
        files: files.into_iter().map(|(o, b)| (o, b, None)).collect(),
        password: None,
        expect,
        says,
    }
}

#[allow(clippy::too_many_lines)]
pub fn cases() -> Vec<Bad> {
    let pki = Pki::new("Example Trust");
    let c = Case {
        leaf: pki.leaf(SHOP, ago(10), 365),
        pki,
    };
    let (leaf, key, int, root) = (
        c.leaf.pem.clone(),
        c.leaf.key_pem.clone(),
        c.pki.intermediate.pem.clone(),
        c.pki.root.pem.clone(),
    );
    let full = |extra: &str| format!("{leaf}{int}{key}{extra}").into_bytes();
    let other = c.pki.leaf(SHOP, ago(1), 90);
    let stranger = Pki::new("Stranger").leaf(&["x.example.org"], ago(1), 90);
    let expired = c.pki.leaf(SHOP, ago(400), 90);
    let future = c.pki.leaf(SHOP, now() + Duration::days(3), 90);
    let narrow = c.pki.leaf(&["shop.example.com"], ago(1), 90);
    let ed = c.pki.leaf_with(SHOP, ago(1), 90, &rcgen::PKCS_ED25519);
    let p521 = c
        .pki
        .leaf_with(SHOP, ago(1), 90, &rcgen::PKCS_ECDSA_P521_SHA512);
    let self_key = rcgen::KeyPair::generate().unwrap();
    let self_signed = {
        let params = rcgen::CertificateParams::new(vec![
            "shop.example.com".to_owned(),
            "www.shop.example.com".to_owned(),
        ])
        .unwrap();
        params.self_signed(&self_key).unwrap().pem()
    };
    let old_int = {
        let mut params = c.pki.intermediate.params.clone();
        params.not_before = ago(800);
        params.not_after = ago(30);
        params
            .signed_by(
                &c.pki.intermediate.key,
                &rcgen::Issuer::from_params(&c.pki.root.params, &c.pki.root.key),
            )
            .unwrap()
            .pem()
    };
    let not_ca = {
        // An "intermediate" that is a plain leaf: the CA's key, but no CA flag.
        let params = rcgen::CertificateParams::new(vec!["ca.example.com".to_owned()]).unwrap();
        let mut p = params;
        p.distinguished_name = c.pki.intermediate.params.distinguished_name.clone();
        p.signed_by(
            &c.pki.intermediate.key,
            &rcgen::Issuer::from_params(&c.pki.root.params, &c.pki.root.key),
        )
        .unwrap()
        .pem()
    };
    let pfx = pkcs12(&c.leaf, &[&c.pki.intermediate.der], "right");
    let mut corrupt_pfx = pfx.clone();
    let mid = corrupt_pfx.len() / 2;
    corrupt_pfx.truncate(mid);
    let empty_bag = pkcs7(&[]);
    let mut der_garbage = c.leaf.der.clone();
    der_garbage.extend(b"garbage after the certificate");
    let legacy = "-----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\nDEK-Info: AES-128-CBC,0123456789ABCDEF0123456789ABCDEF\n\nMIIBOgIBAAJBAKj34GkxFhD90vcNLYLInFEX6Ppy1tPf9Cnzj4p4WGeKLs1Pt8Qu\n-----END RSA PRIVATE KEY-----\n";
    let csr = {
        let params = rcgen::CertificateParams::new(vec!["shop.example.com".to_owned()]).unwrap();
        params.serialize_request(&self_key).unwrap().pem().unwrap()
    };
    let damaged_base64 = {
        let mut lines: Vec<String> = leaf.lines().map(str::to_owned).collect();
        lines[4] = format!("{}!!**", &lines[4][..lines[4].len() - 4]);
        lines.join("\n") + "\n"
    };
    let damaged_der = {
        let mut der = c.leaf.der.clone();
        der[4] ^= 0xff;
        der[5] ^= 0xff;
        pem_of("CERTIFICATE", &der)
    };
    let truncated = leaf[..leaf.len() / 2].to_owned();
    let mut cases = vec![
        bad(
            "an empty file",
            vec![("s3://b/empty.pem", vec![])],
            |e| matches!(e, BundleError::Empty { .. }),
            "is empty",
        ),
        bad(
            "base64 without PEM markers",
            vec![(
                "s3://b/bare.txt",
                leaf.lines()
                    .filter(|l| !l.starts_with("-----"))
                    .collect::<String>()
                    .into_bytes(),
            )],
            |e| matches!(e, BundleError::NoPemBlock { .. }),
            "without a -----BEGIN line",
        ),
        bad(
            "a PEM file cut short",
            vec![("s3://b/cut.pem", truncated.into_bytes())],
            |e| matches!(e, BundleError::Unterminated { .. }),
            "no END line",
        ),
        bad(
            "BEGIN and END labels that differ",
            vec![(
                "s3://b/mixed.pem",
                leaf.replace("END CERTIFICATE", "END PRIVATE KEY")
                    .into_bytes(),
            )],
            |e| matches!(e, BundleError::BadPem { .. }),
            "mismatching BEGIN",
        ),
        bad(
            "characters that are not base64 in a block",
            vec![("s3://b/edited.pem", damaged_base64.into_bytes())],
            |e| matches!(e, BundleError::BadPem { .. }),
            "invalid data",
        ),
        bad(
            "a certificate block whose DER is damaged",
            vec![("s3://b/flipped.pem", damaged_der.into_bytes())],
            |e| matches!(e, BundleError::BadPem { .. }),
            "not an X.509 certificate",
        ),
        bad(
            "an END line with no BEGIN",
            vec![(
                "s3://b/end.pem",
                format!("-----END CERTIFICATE-----\n{leaf}").into_bytes(),
            )],
            |e| matches!(e, BundleError::BadPem { .. }),
            "END line without its BEGIN",
        ),
        bad(
            "a certificate signing request instead of the certificate",
            vec![("s3://b/req.pem", format!("{csr}{key}").into_bytes())],
            |e| matches!(e, BundleError::UnexpectedBlock { .. }),
            "signing request",
        ),
        bad(
            "a public key instead of the private key",
            vec![(
                "s3://b/pub.pem",
                format!("{leaf}{int}{}", pem_of("PUBLIC KEY", &[0x30, 0x00])).into_bytes(),
            )],
            |e| matches!(e, BundleError::UnexpectedBlock { .. }),
            "is a public key",
        ),
        bad(
            "binary garbage after a DER certificate",
            vec![
                ("s3://b/cat.der", der_garbage),
                ("s3://b/key.pem", key.clone().into_bytes()),
            ],
            |e| matches!(e, BundleError::TrailingData { .. }),
            "bytes follow the end",
        ),
        bad(
            "no private key",
            vec![("s3://b/nokey.pem", format!("{leaf}{int}").into_bytes())],
            |e| matches!(e, BundleError::NoKey { .. }),
            "no private key",
        ),
        bad(
            "the key of another certificate",
            vec![(
                "s3://b/wrongkey.pem",
                format!("{leaf}{int}{}", other.key_pem).into_bytes(),
            )],
            |e| matches!(e, BundleError::KeyMismatch { .. }),
            "does not belong",
        ),
        bad(
            "two different private keys",
            vec![("s3://b/twokeys.pem", full(&other.key_pem))],
            |e| matches!(e, BundleError::SeveralKeys { .. }),
            "2 different private keys",
        ),
        bad(
            "two certificates for one key",
            vec![
                (
                    "s3://b/twice.pem",
                    format!(
                        "{}{int}{key}",
                        c.pki
                            .sign(
                                SHOP,
                                ago(2),
                                90,
                                &rcgen::KeyPair::from_pem(&key).unwrap(),
                                &c.pki.intermediate
                            )
                            .pem
                    )
                    .into_bytes(),
                ),
                ("s3://b/old.pem", leaf.clone().into_bytes()),
            ],
            |e| matches!(e, BundleError::TwoLeaves { .. }),
            "two certificates have this key",
        ),
        bad(
            "an expired certificate",
            vec![(
                "s3://b/expired.pem",
                format!("{}{int}{}", expired.pem, expired.key_pem).into_bytes(),
            )],
            |e| matches!(e, BundleError::Expired { .. }),
            "expired on",
        ),
        bad(
            "a certificate not valid yet",
            vec![(
                "s3://b/future.pem",
                format!("{}{int}{}", future.pem, future.key_pem).into_bytes(),
            )],
            |e| matches!(e, BundleError::NotYetValid { .. }),
            "not valid before",
        ),
        bad(
            "a certificate missing one of the names",
            vec![(
                "s3://b/narrow.pem",
                format!("{}{int}{}", narrow.pem, narrow.key_pem).into_bytes(),
            )],
            |e| matches!(e, BundleError::NotCovered { .. }),
            "does not cover www.shop.example.com",
        ),
        bad(
            "the leaf without its intermediate",
            vec![("s3://b/leafonly.pem", format!("{leaf}{key}").into_bytes())],
            |e| matches!(e, BundleError::IncompleteChain { .. }),
            "chain is incomplete",
        ),
        bad(
            "the root without the intermediate",
            vec![(
                "s3://b/rootonly.pem",
                format!("{leaf}{root}{key}").into_bytes(),
            )],
            |e| matches!(e, BundleError::IncompleteChain { .. }),
            "Root CA\" did not issue it",
        ),
        bad(
            "a certificate of another CA mixed in",
            vec![("s3://b/mixed-ca.pem", full(&stranger.pem))],
            |e| matches!(e, BundleError::Unrelated { .. }),
            "is not in the chain of the certificate for shop.example.com",
        ),
        bad(
            "a self-signed certificate",
            vec![(
                "s3://b/self.pem",
                format!("{self_signed}{}", self_key.serialize_pem()).into_bytes(),
            )],
            |e| matches!(e, BundleError::SelfSigned { .. }),
            "self-signed",
        ),
        bad(
            "an expired intermediate",
            vec![(
                "s3://b/oldchain.pem",
                format!("{leaf}{old_int}{key}").into_bytes(),
            )],
            |e| matches!(e, BundleError::IntermediateExpired { .. }),
            "Issuing CA 1\" expired",
        ),
        bad(
            "a chain certificate that is not a CA",
            vec![(
                "s3://b/notca.pem",
                format!("{leaf}{not_ca}{key}").into_bytes(),
            )],
            |e| matches!(e, BundleError::NotACa { .. }),
            "not a CA certificate",
        ),
        bad(
            "an encrypted key without a password",
            vec![(
                "s3://b/enc.pem",
                format!("{leaf}{int}{}", encrypted_key_pem(&c.leaf, "pw")).into_bytes(),
            )],
            |e| {
                matches!(
                    e,
                    BundleError::PasswordNeeded {
                        what: "the private key",
                        ..
                    }
                )
            },
            "source.password",
        ),
        bad(
            "a key encrypted the old OpenSSL way",
            vec![(
                "s3://b/legacy.pem",
                format!("{leaf}{int}{legacy}").into_bytes(),
            )],
            |e| matches!(e, BundleError::LegacyEncryptedKey { .. }),
            "openssl pkcs8 -topk8",
        ),
        bad(
            "a password-protected PKCS#12 without the password",
            vec![("s3://b/shop.pfx", pfx.clone())],
            |e| {
                matches!(
                    e,
                    BundleError::PasswordNeeded {
                        what: "the PKCS#12 file",
                        ..
                    }
                )
            },
            "is encrypted",
        ),
        bad(
            "a PKCS#12 file cut in half",
            vec![("s3://b/half.pfx", corrupt_pfx)],
            |e| matches!(e, BundleError::Unreadable { .. }),
            "read as PKCS#12",
        ),
        bad(
            "a PKCS#7 bag with no certificate",
            vec![
                ("s3://b/empty.p7b", empty_bag),
                ("s3://b/key.pem", key.clone().into_bytes()),
            ],
            |e| matches!(e, BundleError::EmptyPkcs7 { .. }),
            "holds no certificate",
        ),
        bad(
            "an Ed25519 key",
            vec![(
                "s3://b/ed.pem",
                format!("{}{int}{}", ed.pem, ed.key_pem).into_bytes(),
            )],
            |e| matches!(e, BundleError::Key { .. }),
            "Ed25519",
        ),
        bad(
            "a P-521 key",
            vec![(
                "s3://b/p521.pem",
                format!("{}{int}{}", p521.pem, p521.key_pem).into_bytes(),
            )],
            |e| matches!(e, BundleError::Key { .. }),
            "P-256 or P-384",
        ),
    ];
    cases.push(Bad {
        what: "a PKCS#12 file with the wrong password",
        files: vec![("s3://b/shop.pfx", pfx.clone(), None)],
        password: Some("wrong"),
        expect: |e| matches!(e, BundleError::WrongPassword { .. }),
        says: "does not open the PKCS#12 file",
    });
    cases.push(Bad {
        what: "an encrypted key with the wrong password",
        files: vec![(
            "s3://b/enc.pem",
            format!("{leaf}{int}{}", encrypted_key_pem(&c.leaf, "pw")).into_bytes(),
            None,
        )],
        password: Some("not pw"),
        expect: |e| matches!(e, BundleError::WrongPassword { .. }),
        says: "does not open the encrypted private key",
    });
    cases.push(Bad {
        what: "a PEM file declared as PKCS#12",
        files: vec![("s3://b/shop.pfx", full(""), Some(Format::Pkcs12))],
        password: None,
        expect: |e| matches!(e, BundleError::FormatMismatch { .. }),
        says: "was declared PKCS#12 but holds PEM",
    });
    cases
}
