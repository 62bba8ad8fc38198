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
use pki::{
    encrypted_key_der, encrypted_key_pem, encrypted_key_pem_with_kdf, pbkdf2, pem_of, pkcs12,
    pkcs7, scrypt, Pki,
};

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

/// `count` bytes that look random (xorshift), the same every run.
fn noise(count: usize) -> Vec<u8> {
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    (0..count)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x.to_le_bytes()[3]
        })
        .collect()
}

fn refused(files: &[File<'_>], password: Option<&str>) -> BundleError {
    match normalize(files, password, &names(SHOP), now()) {
        Ok(_) => panic!("accepted"),
        Err(e) => e,
    }
}

/// Measured on main: random bytes named `.pem` were refused as "declared PEM but holds PKCS#12".
/// Bytes that are none of the formats get one message saying so, whatever the name or the
/// declared format, and what they look like when that is recognisable.
#[test]
fn bytes_that_are_no_certificate_at_all_are_told_so() {
    let random = noise(300 * 1024);
    let mut zip = b"PK\x03\x04\x14\x00\x08\x00".to_vec();
    zip.extend(noise(500));
    let mut jpeg = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00".to_vec();
    jpeg.extend(noise(2000));
    let mut jks = b"\xfe\xed\xfe\xed\x00\x00\x00\x02".to_vec();
    jks.extend(noise(700));
    let cases: [(&str, &[u8], Option<Format>, &str); 6] = [
        (
            "s3://b/random.pem",
            &random,
            Format::from_file_name("random.pem"),
            "307200 bytes of binary data",
        ),
        (
            "s3://b/random.pfx",
            &random,
            Some(Format::Pkcs12),
            "307200 bytes of binary data",
        ),
        (
            "s3://b/random",
            &random,
            None,
            "307200 bytes of binary data",
        ),
        (
            "s3://b/certs.zip",
            &zip,
            None,
            "it is a ZIP archive: unpack it and name the certificate and key files inside",
        ),
        ("s3://b/logo.crt", &jpeg, None, "it is a JPEG image"),
        ("s3://b/site.jks", &jks, None, "it is a Java keystore (JKS)"),
    ];
    for (origin, bytes, format, what) in cases {
        let e = refused(
            &[File {
                origin,
                bytes,
                format,
            }],
            None,
        );
        assert!(
            matches!(e, BundleError::NotACertificate { .. }),
            "{origin}: {e}"
        );
        let text = e.to_string();
        assert!(
            text.starts_with(&format!("{origin} is not a certificate, key or bundle in PEM, DER, PKCS#7 or PKCS#12 ({what}")),
            "{text}"
        );
        assert!(
            text.ends_with(
                "check that source names the right file, and give the files as the CA sent them"
            ),
            "{text}"
        );
    }
    // As the chain or key file of a good certificate, too.
    let c = case();
    let e = refused(
        &[
            file("s3://b/shop.pem", c.leaf.pem.as_bytes()),
            file("s3://b/chain.p7b", &random),
        ],
        None,
    );
    assert!(matches!(e, BundleError::NotACertificate { .. }), "{e}");
    // None of the 33 malformed bundles is taken for noise: each keeps its own message.
    let mut seen = std::collections::BTreeSet::new();
    for bad in malformed::cases() {
        let files: Vec<File<'_>> = bad
            .files
            .iter()
            .map(|(origin, bytes, format)| File {
                origin,
                bytes,
                format: *format,
            })
            .collect();
        let e = refused(&files, bad.password);
        assert!(
            !matches!(e, BundleError::NotACertificate { .. }),
            "{}: {e}",
            bad.what
        );
        seen.insert(e.to_string());
    }
    assert!(seen.len() >= 33, "{}", seen.len());
}

/// A binary encrypted PKCS#8 key (`-outform DER`) is read like its PEM form.
#[test]
fn a_binary_encrypted_pkcs8_key_is_decrypted_like_a_pem_one() {
    let c = case();
    let bundle = format!("{}{}", c.leaf.pem, c.pki.intermediate.pem);
    let key = encrypted_key_der(&c.leaf, "pw");
    let files = [
        file("s3://b/shop.pem", bundle.as_bytes()),
        file("s3://b/shop.key", &key),
    ];
    check(normalize(&files, Some("pw"), &names(SHOP), now()), &c);
    assert!(matches!(
        refused(&files, None),
        BundleError::PasswordNeeded {
            what: "the private key",
            ..
        }
    ));
    assert!(matches!(
        refused(&files, Some("no")),
        BundleError::WrongPassword { .. }
    ));
}

/// Encrypted keys whose KDF would take hours or gigabytes are refused before anything is derived:
/// four billion PBKDF2 iterations take hours, scrypt N=2^20, r=8 a GiB; each test returns at once.
#[test]
fn encrypted_keys_beyond_the_kdf_caps_are_refused_before_deriving() {
    let c = case();
    let started = std::time::Instant::now();
    let cases = [
        (pbkdf2(u32::MAX), "PBKDF2 at 4294967295 iterations, over the 1000000 iterations"),
        (pbkdf2(1_000_001), "PBKDF2 at 1000001 iterations"),
        (scrypt(1 << 20, 8, 1), "scrypt N=1048576, r=8, p=1, which needs 1073744896 bytes of memory (128·r·(N+p+2)), over the 33554432 bytes"),
        (scrypt(1 << 14, 8, 64), "scrypt p=64, over the p=16"),
    ];
    for (kdf, says) in cases {
        let bundle = format!(
            "{}{}{}",
            c.leaf.pem,
            c.pki.intermediate.pem,
            encrypted_key_pem_with_kdf(kdf)
        );
        let e = refused(&[file("s3://b/enc.pem", bundle.as_bytes())], Some("pw"));
        assert!(
            matches!(
                e,
                BundleError::KdfCost {
                    what: "the private key",
                    ..
                }
            ),
            "{e}"
        );
        let text = e.to_string();
        assert!(
            text.starts_with("s3://b/enc.pem: the private key is encrypted with "),
            "{text}"
        );
        assert!(text.contains(says), "{text}");
        assert!(text.contains("openssl pkcs8 -topk8"), "{text}");
    }
    // Within the caps the same crafted key is derived, and its ciphertext fails to open.
    let bundle = format!(
        "{}{}{}",
        c.leaf.pem,
        c.pki.intermediate.pem,
        encrypted_key_pem_with_kdf(pbkdf2(2048))
    );
    assert!(matches!(
        refused(&[file("s3://b/enc.pem", bundle.as_bytes())], Some("pw")),
        BundleError::WrongPassword { .. }
    ));
    assert!(
        started.elapsed() < std::time::Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
}

/// A bundle of many encrypted keys, each within the caps, still costs at most eight derivations.
#[test]
fn a_bundle_costs_at_most_eight_key_derivations() {
    let c = case();
    let key = encrypted_key_pem(&c.leaf, "pw");
    let mut bundle = format!("{}{}", c.leaf.pem, c.pki.intermediate.pem);
    for _ in 0..8 {
        bundle.push_str(&key);
    }
    // Eight copies of the one key: read, and counted once.
    check(
        normalize(
            &[file("s3://b/keys.pem", bundle.as_bytes())],
            Some("pw"),
            &names(SHOP),
            now(),
        ),
        &c,
    );
    bundle.push_str(&key);
    let e = refused(&[file("s3://b/keys.pem", bundle.as_bytes())], Some("pw"));
    assert!(
        matches!(e, BundleError::TooManyEncrypted { limit: 8, .. }),
        "{e}"
    );
    assert!(
        e.to_string()
            .contains("more than 8 password-protected parts"),
        "{e}"
    );
}

/// A PKCS#12 file as `pki::pkcs12` writes it (PBES2 everywhere), with `edit` applied to its
/// structure. The MAC no longer matches; the caps must refuse it before any derivation.
fn edited_pfx(
    pfx: &[u8],
    edit: impl FnOnce(&mut pkcs12::pfx::Pfx, &mut Vec<cms::content_info::ContentInfo>),
) -> Vec<u8> {
    use der::{Decode, Encode};
    let mut pfx = pkcs12::pfx::Pfx::from_der(pfx).unwrap();
    let octets: der::asn1::OctetString = pfx.auth_safe.content.decode_as().unwrap();
    let mut safes = Vec::<cms::content_info::ContentInfo>::from_der(octets.as_bytes()).unwrap();
    edit(&mut pfx, &mut safes);
    let octets = der::asn1::OctetString::new(safes.to_der().unwrap()).unwrap();
    pfx.auth_safe.content = der::Any::encode_from(&octets).unwrap();
    pfx.to_der().unwrap()
}

/// PBES2 parameters naming `kdf`, as an algorithm's parameters.
fn pbes2_any(kdf: pkcs8::pkcs5::pbes2::Kdf) -> der::Any {
    der::Any::encode_from(&pkcs8::pkcs5::pbes2::Parameters {
        kdf,
        encryption: pkcs8::pkcs5::pbes2::EncryptionScheme::Aes256Cbc { iv: [7u8; 16] },
    })
    .unwrap()
}

/// `p12-keystore` caps its own iterations at a million and scrypt at 1 GiB: the file is checked
/// first, to our caps, with a message naming the part and the parameter.
#[test]
fn pkcs12_files_beyond_the_kdf_caps_are_refused_before_deriving() {
    use der::{Decode, Encode};
    const ENCRYPTED_DATA: der::oid::ObjectIdentifier =
        der::oid::ObjectIdentifier::new_unwrap("1.2.840.113549.1.7.6");
    let c = case();
    let pfx = pkcs12(&c.leaf, &[&c.pki.intermediate.der], "pw");
    let started = std::time::Instant::now();

    let mac = edited_pfx(&pfx, |pfx, _| {
        pfx.mac_data.as_mut().unwrap().iterations = i32::MAX
    });
    let certificates = edited_pfx(&pfx, |_, safes| {
        let safe = safes
            .iter_mut()
            .find(|s| s.content_type == ENCRYPTED_DATA)
            .unwrap();
        let mut data =
            cms::encrypted_data::EncryptedData::from_der(&safe.content.to_der().unwrap()).unwrap();
        data.enc_content_info.content_enc_alg.parameters = Some(pbes2_any(scrypt(1 << 20, 8, 1)));
        safe.content = der::Any::encode_from(&data).unwrap();
    });
    let key = edited_pfx(&pfx, |_, safes| {
        type Shrouded = der::asn1::ContextSpecific<pkcs12::pbe_params::EncryptedPrivateKeyInfo>;
        let safe = safes
            .iter_mut()
            .find(|s| s.content_type != ENCRYPTED_DATA)
            .unwrap();
        let octets: der::asn1::OctetString = safe.content.decode_as().unwrap();
        let mut bags = pkcs12::safe_bag::SafeContents::from_der(octets.as_bytes()).unwrap();
        let bag = bags
            .iter_mut()
            .find(|b| b.bag_id == pkcs12::PKCS_12_PKCS8_KEY_BAG_OID)
            .unwrap();
        let mut shrouded = Shrouded::from_der(&bag.bag_value).unwrap();
        shrouded.value.encryption_algorithm.parameters = Some(pbes2_any(pbkdf2(u32::MAX)));
        // pkcs12's SafeBag decodes its value with the [0] tag, and encodes it adding the tag.
        bag.bag_value = shrouded.value.to_der().unwrap();
        let octets = der::asn1::OctetString::new(bags.to_der().unwrap()).unwrap();
        safe.content = der::Any::encode_from(&octets).unwrap();
    });
    for (bytes, what, says) in [
        (
            &mac,
            "the PKCS#12 file's integrity MAC",
            "the PKCS#12 KDF at 2147483647 iterations",
        ),
        (
            &certificates,
            "an encrypted part of the PKCS#12 file",
            "scrypt N=1048576, r=8",
        ),
        (
            &key,
            "a key in the PKCS#12 file",
            "PBKDF2 at 4294967295 iterations",
        ),
    ] {
        let e = refused(&[file("s3://b/shop.pfx", bytes)], Some("pw"));
        let text = e.to_string();
        assert!(matches!(e, BundleError::KdfCost { .. }), "{what}: {text}");
        assert!(
            text.starts_with(&format!("s3://b/shop.pfx: {what} is encrypted with {says}")),
            "{text}"
        );
        assert!(text.contains("openssl pkcs12 -export"), "{text}");
    }
    assert!(
        started.elapsed() < std::time::Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
    // The file as written is within the caps and opens.
    check(
        normalize(
            &[file("s3://b/shop.pfx", &pfx)],
            Some("pw"),
            &names(SHOP),
            now(),
        ),
        &c,
    );
}

/// `cert-rotator check` (and `run --event`) take the sizes of local files before reading them: a
/// 40 MiB file (sparse: it occupies no disk) is refused by its length alone.
#[test]
fn the_cli_refuses_files_over_the_cap_without_reading_them() {
    let c = case();
    let dir = std::env::temp_dir().join(format!("cert-rotator-cap-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let huge = dir.join("huge.pem");
    std::fs::File::create(&huge)
        .unwrap()
        .set_len(40 << 20)
        .unwrap();
    let good = dir.join("shop.pem");
    std::fs::write(
        &good,
        format!("{}{}{}", c.leaf.pem, c.pki.intermediate.pem, c.leaf.key_pem),
    )
    .unwrap();
    let cli = |args: &[&str]| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_cert-rotator"))
            .args(args)
            .env_remove("CERT_ROTATOR_BUCKET")
            .output()
            .unwrap();
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let names = SHOP.join(",");
    let (huge, good) = (huge.to_str().unwrap(), good.to_str().unwrap());
    for args in [
        vec!["check", "--names", &names, "--certificate", huge],
        vec![
            "check",
            "--names",
            &names,
            "--certificate",
            good,
            "--chain",
            huge,
        ],
        vec![
            "check",
            "--names",
            &names,
            "--certificate",
            good,
            "--password-file",
            huge,
        ],
    ] {
        let (code, err) = cli(&args);
        assert_eq!(code, 2, "{args:?}: {err}");
        assert!(
            err.contains(&format!("{huge} is 41943040 bytes, over the 262144-byte limit for a certificate, key or bundle file")),
            "{args:?}: {err}"
        );
    }
    let (code, err) = cli(&["run", "--event", huge]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains(
            "it is 41943040 bytes, over the 1048576-byte limit for an event: split its domains"
        ),
        "{err}"
    );
    let (code, err) = cli(&["check", "--names", &names, "--certificate", good]);
    assert_eq!(code, 0, "{err}");
    std::fs::remove_dir_all(&dir).unwrap();
}
