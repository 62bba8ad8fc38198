//! Certificates from any CA (bundle.rs): the four formats are read into the same bundle, the
//! forgivable mistakes are accepted with a warning, and every malformed bundle gets its own error
//! naming the problem and what to do. Pure: no bed needed.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "common/pki.rs"]
mod pki;

use cert_rotator::bundle::{normalize, BundleError, File, Format, Normalized};
use cert_rotator::names::DomainName;
use pki::{encrypted_key_pem, pem_of, pkcs12, pkcs7, Pki};
use time::{Duration, OffsetDateTime};

fn names(ns: &[&str]) -> Vec<DomainName> {
    ns.iter().map(|n| n.parse().unwrap()).collect()
}

fn file<'a>(origin: &'a str, bytes: &'a [u8]) -> File<'a> {
    File {
        origin,
        bytes,
        format: None,
    }
}

fn now() -> OffsetDateTime {
    OffsetDateTime::now_utc()
}

fn ago(days: i64) -> OffsetDateTime {
    now() - Duration::days(days)
}

const SHOP: &[&str] = &["shop.example.com", "www.shop.example.com"];

struct Case {
    pki: Pki,
    leaf: pki::Leaf,
}

fn case() -> Case {
    let pki = Pki::new("Example Trust");
    let leaf = pki.leaf(SHOP, ago(10), 365);
    Case { pki, leaf }
}

fn check(result: Result<Normalized, BundleError>, case: &Case) -> Normalized {
    let n = result.unwrap_or_else(|e| panic!("refused: {e}"));
    assert_eq!(n.certificate.trim(), case.leaf.pem.trim());
    assert_eq!(
        n.chain.trim(),
        case.pki.intermediate.pem.trim(),
        "the chain is the intermediate alone, root dropped"
    );
    assert!(n
        .private_key
        .expose()
        .starts_with("-----BEGIN PRIVATE KEY-----"));
    n
}

#[test]
fn pem_with_root_and_chain_out_of_order_is_reordered_and_the_root_dropped() {
    let c = case();
    let text = format!(
        "{}{}{}{}",
        c.leaf.pem, c.pki.root.pem, c.pki.intermediate.pem, c.leaf.key_pem
    );
    let n = check(
        normalize(
            &[file("s3://b/shop.pem", text.as_bytes())],
            None,
            &names(SHOP),
            now(),
        ),
        &c,
    );
    assert!(
        n.warnings.iter().any(|w| w.contains("root")),
        "{:?}",
        n.warnings
    );
    assert!(
        n.warnings.iter().any(|w| w.contains("reordered")),
        "{:?}",
        n.warnings
    );
}

#[test]
fn der_certificate_with_separate_chain_and_key_files() {
    let c = case();
    let chain = c.pki.intermediate.pem.clone();
    let n = check(
        normalize(
            &[
                File {
                    origin: "s3://b/shop.cer",
                    bytes: &c.leaf.der,
                    format: Some(Format::Der),
                },
                file("s3://b/chain.pem", chain.as_bytes()),
                file("s3://b/shop.key", &c.leaf.key_der),
            ],
            None,
            &names(SHOP),
            now(),
        ),
        &c,
    );
    assert!(n.warnings.is_empty(), "{:?}", n.warnings);
}

#[test]
fn pkcs7_bag_binary_and_pem_with_a_pkcs1_rsa_key() {
    let pki = Pki::new("Example Trust");
    let leaf = pki.leaf_with(SHOP, ago(1), 90, &rcgen::PKCS_RSA_SHA256);
    // PKCS#1, as `openssl genrsa` (1.x) or many CA portals write it.
    let pkcs1 = {
        let info = <pkcs8::PrivateKeyInfoRef as der::Decode>::from_der(&leaf.key_der).unwrap();
        pem_of("RSA PRIVATE KEY", info.private_key.as_bytes())
    };
    let bag = pkcs7(&[&pki.root.der, &pki.intermediate.der, &leaf.der]);
    let c = Case { pki, leaf };
    for bytes in [bag.clone(), pem_of("PKCS7", &bag).into_bytes()] {
        check(
            normalize(
                &[
                    File {
                        origin: "s3://b/shop.p7b",
                        bytes: &bytes,
                        format: Some(Format::Pkcs7),
                    },
                    file("s3://b/shop.key", pkcs1.as_bytes()),
                ],
                None,
                &names(SHOP),
                now(),
            ),
            &c,
        );
    }
}

#[test]
fn pkcs12_with_password_and_an_encrypted_pkcs8_key() {
    let c = case();
    let pfx = pkcs12(
        &c.leaf,
        &[&c.pki.intermediate.der, &c.pki.root.der],
        "s3cret pass",
    );
    check(
        normalize(
            &[file("s3://b/shop.pfx", &pfx)],
            Some("s3cret pass"),
            &names(SHOP),
            now(),
        ),
        &c,
    );
    let bundle = format!(
        "{}{}{}",
        c.leaf.pem,
        c.pki.intermediate.pem,
        encrypted_key_pem(&c.leaf, "s3cret pass")
    );
    check(
        normalize(
            &[file("secret:shop", bundle.as_bytes())],
            Some("s3cret pass"),
            &names(SHOP),
            now(),
        ),
        &c,
    );
}

#[test]
fn forgivable_text_is_accepted_with_warnings() {
    let c = case();
    // OpenSSL's pkcs12 -nodes output: Bag Attributes and subject lines, CRLF, blank lines.
    let leaf_lines: Vec<&str> = c.leaf.pem.lines().collect();
    let spaced = format!(
        "{}\n\n{}\n",
        leaf_lines[..3].join("\n"),
        leaf_lines[3..].join("\n")
    );
    let text = format!(
        "Bag Attributes\n    localKeyID: 01 02\nsubject=CN = shop.example.com\n{spaced}\r\n\r\n{}{}{}",
        c.pki.intermediate.pem.replace('\n', "\r\n"),
        c.pki.intermediate.pem,
        c.leaf.key_pem
    );
    let n = check(
        normalize(
            &[file("s3://b/export.pem", text.as_bytes())],
            None,
            &names(SHOP),
            now(),
        ),
        &c,
    );
    let all = n.warnings.join(" | ");
    for expected in ["outside the PEM blocks", "blank or indented", "given twice"] {
        assert!(all.contains(expected), "{expected}: {all}");
    }
    // NUL padding after a DER file (some Windows tools pad to a block size).
    let mut padded = c.leaf.der.clone();
    padded.extend([0u8; 7]);
    let chain = c.pki.intermediate.pem.clone();
    let n = check(
        normalize(
            &[
                file("s3://b/shop.der", &padded),
                file("s3://b/chain.pem", chain.as_bytes()),
                file("s3://b/key.pem", c.leaf.key_pem.as_bytes()),
            ],
            None,
            &names(SHOP),
            now(),
        ),
        &c,
    );
    assert!(n.warnings.join(" ").contains("padding"), "{:?}", n.warnings);
}

/// One malformed bundle: its files, the password, and the error it must get.
struct Bad {
    what: &'static str,
    files: Vec<(&'static str, Vec<u8>, Option<Format>)>,
    password: Option<&'static str>,
    expect: fn(&BundleError) -> bool,
    says: &'static str,
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
fn malformed() -> Vec<Bad> {
    let c = case();
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

#[test]
fn every_malformed_bundle_gets_its_own_clear_error() {
    let cases = malformed();
    assert!(cases.len() >= 20, "{} cases", cases.len());
    let mut messages = std::collections::BTreeMap::new();
    for case in &cases {
        let files: Vec<File<'_>> = case
            .files
            .iter()
            .map(|(origin, bytes, format)| File {
                origin,
                bytes,
                format: *format,
            })
            .collect();
        let err = match normalize(&files, case.password, &names(SHOP), now()) {
            Ok(_) => panic!("{}: accepted", case.what),
            Err(e) => e,
        };
        let text = err.to_string();
        assert!((case.expect)(&err), "{}: wrong error: {text}", case.what);
        assert!(text.contains(case.says), "{}: {text}", case.what);
        assert!(
            !text.contains("-----BEGIN PRIVATE KEY-----") && !text.contains("MII"),
            "{}: the message shows key or certificate material: {text}",
            case.what
        );
        if let Some(previous) = messages.insert(text.clone(), case.what) {
            panic!("{} and {previous} get the same message: {text}", case.what);
        }
    }
    println!(
        "{} malformed bundles, each refused with its own message",
        cases.len()
    );
}
