//! Certificates from any CA (bundle.rs): the four formats are read into the same bundle, the
//! forgivable mistakes are accepted with a warning, and every malformed bundle gets its own error
//! naming the problem and what to do. Pure: no bed needed.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "common/malformed.rs"]
mod malformed;
#[path = "common/pki.rs"]
mod pki;

use cert_rotator::certs::bundle::{normalize, BundleError, File, Format, Normalized};
use cert_rotator::model::names::DomainName;
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

#[test]
fn every_malformed_bundle_gets_its_own_clear_error() {
    let cases = malformed::cases();
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

/// `cert-rotator check`: the same reading, offline, before the files go to S3.
#[test]
fn the_cli_checks_a_bundle_offline_and_never_prints_the_key() {
    let c = case();
    let dir = std::env::temp_dir().join(format!("cert-rotator-check-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let pfx = dir.join("shop.pfx");
    std::fs::write(&pfx, pkcs12(&c.leaf, &[&c.pki.intermediate.der], "pw")).unwrap();
    let pw = dir.join("pw.txt");
    std::fs::write(&pw, "pw\n").unwrap();
    let leaf_only = dir.join("leaf.pem");
    std::fs::write(&leaf_only, format!("{}{}", c.leaf.pem, c.leaf.key_pem)).unwrap();
    let cli = |args: &[&str]| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_cert-rotator"))
            .arg("check")
            .args(args)
            .output()
            .unwrap();
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let names = SHOP.join(",");
    let (code, out, err) = cli(&[
        "--names",
        &names,
        "--certificate",
        pfx.to_str().unwrap(),
        "--password-file",
        pw.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{err}");
    let summary: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(summary["intermediates"], 1);
    assert_eq!(summary["names"][0], "shop.example.com");
    let (code, _, err) = cli(&["--names", &names, "--certificate", pfx.to_str().unwrap()]);
    assert_eq!(code, 1);
    assert!(err.contains("source.password"), "{err}");
    let (code, out, err) = cli(&[
        "--names",
        &names,
        "--certificate",
        leaf_only.to_str().unwrap(),
    ]);
    assert_eq!(code, 1);
    assert!(err.contains("the chain is incomplete"), "{err}");
    for text in [&out, &err] {
        assert!(!text.contains("PRIVATE KEY-----"), "{text}");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}
