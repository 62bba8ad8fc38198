//! Bring-your-own certificates: where their files are (S3 or Secrets Manager), fetched and read
//! into one checked bundle by [`crate::certs::bundle`].
//!
//! ```json
//! "source": { "certificate": "s3://certs-bucket/shop/shop.pfx",
//!             "password": "secretsmanager:cert-rotator/shop-pfx-password" }
//! "source": { "certificate": "s3://certs-bucket/shop/cert.p7b",
//!             "private_key": "secretsmanager:cert-rotator/shop-key",
//!             "format": "pkcs7" }
//! ```
//!
//! A secret's value is its SecretString, or its SecretBinary (for a `.pfx` or DER key). The
//! password secret's SecretString is the password itself (a trailing newline is removed).
//!
//! No file larger than [`MAX_FILE_BYTES`] is read: its size is checked before its content is
//! fetched (S3's `Content-Length`), and the read stops at the cap whatever the size claimed.

use std::fmt;

use zeroize::Zeroizing;

use crate::certs::bundle::{self, File, Format, Normalized};
use crate::model::names::DomainName;
use crate::model::partition::Partition;

/// The largest bring-your-own file read: 256 KiB, whatever it holds.
///
/// A certificate is 1–2 KiB of PEM, a bundle with its chain and key a few KiB, a PKCS#12 file
/// tens of KiB at most, and Secrets Manager holds at most 64 KiB
/// (<https://docs.aws.amazon.com/secretsmanager/latest/userguide/reference_limits.html>); a
/// larger file is the wrong file (a trust store, an archive, a log). The bound is also the
/// memory budget: [`MAX_LOADING`] bundles of up to three such files, one key derivation (scrypt,
/// at most 32 MiB) and the run itself (about 26 MiB) stay under 64 MiB.
pub const MAX_FILE_BYTES: u64 = 256 * 1024;

/// How many bring-your-own bundles are fetched and checked at once, whatever the run's
/// concurrency: each holds up to three files of [`MAX_FILE_BYTES`] while it is read. A bundle
/// costs a few small reads and milliseconds of checking, so a hundred take a few seconds.
pub const MAX_LOADING: usize = 2;

/// The permits of [`load`].
static LOADING: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(MAX_LOADING);

/// The message for a file of `size` bytes (or more, if `at_least`) at `origin`, over
/// [`MAX_FILE_BYTES`].
pub fn too_large(origin: &str, size: u64, at_least: bool) -> String {
    let more = if at_least { "at least " } else { "" };
    format!(
        "{origin} is {more}{size} bytes, over the {MAX_FILE_BYTES}-byte limit for a certificate, key or bundle file (real ones are a few KiB): it is not read; check that source names the right file, and give the certificate, chain and key as the CA sent them"
    )
}

/// Where a file is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    /// An S3 object.
    S3 {
        /// The bucket.
        bucket: String,
        /// The key.
        key: String,
    },
    /// A Secrets Manager secret, by name or ARN.
    Secret(String),
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::S3 { bucket, key } => write!(f, "s3://{bucket}/{key}"),
            Self::Secret(id) => write!(f, "secretsmanager:{id}"),
        }
    }
}

impl Location {
    /// Parses `s3://bucket/key` or `secretsmanager:<name or ARN>` (a bare Secrets Manager ARN too).
    pub fn parse(text: &str) -> Result<Self, String> {
        let text = text.trim();
        if let Some(rest) = text.strip_prefix("s3://") {
            return match rest.split_once('/') {
                Some((bucket, key)) if !bucket.is_empty() && !key.is_empty() => Ok(Self::S3 {
                    bucket: bucket.to_owned(),
                    key: key.to_owned(),
                }),
                _ => Err(format!(
                    "{text:?} names no object: write s3://bucket/path/to/file"
                )),
            };
        }
        if let Some(id) = text.strip_prefix("secretsmanager:") {
            if id.is_empty() {
                return Err(
                    "secretsmanager: needs the secret's name or ARN after the colon".into(),
                );
            }
            return Ok(Self::Secret(id.to_owned()));
        }
        if text.starts_with("arn:") && text.split(':').nth(2) == Some("secretsmanager") {
            return Ok(Self::Secret(text.to_owned()));
        }
        Err(format!("{text:?} is not a location: write s3://bucket/key or secretsmanager:<secret name or ARN>"))
    }

    /// The partition of an ARN location, if it is one.
    pub fn partition(&self) -> Option<&str> {
        match self {
            Self::Secret(id) if id.starts_with("arn:") => id.split(':').nth(1),
            _ => None,
        }
    }

    fn file_name(&self) -> &str {
        match self {
            Self::S3 { key, .. } => key,
            Self::Secret(id) => id,
        }
    }
}

/// A bring-your-own certificate's files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Source {
    /// The certificate (with chain and key, for a PKCS#12 file or a combined PEM).
    pub certificate: Location,
    /// The private key, when not in the certificate's file.
    pub private_key: Option<Location>,
    /// The intermediates, when not in the certificate's file.
    pub chain: Option<Location>,
    /// The secret holding the password of a PKCS#12 file or an encrypted key.
    pub password: Option<Location>,
    /// The certificate file's format; detected from its content if not given.
    pub format: Option<Format>,
}

/// The raw `source` of an event.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawSource {
    certificate: Option<String>,
    private_key: Option<String>,
    chain: Option<String>,
    password: Option<String>,
    format: Option<String>,
}

impl RawSource {
    /// Validates; errors are (field suffix, message).
    pub(crate) fn validate(self) -> Result<Source, (String, String)> {
        let certificate = self.certificate.ok_or_else(|| {
            (
                "certificate".to_owned(),
                "missing: name the certificate file, e.g. \"s3://bucket/site.pfx\"".to_owned(),
            )
        })?;
        let at =
            |field: &str, text: Option<String>| -> Result<Option<Location>, (String, String)> {
                text.map(|t| Location::parse(&t).map_err(|m| (field.to_owned(), m)))
                    .transpose()
            };
        let password = at("password", self.password)?;
        if let Some(Location::S3 { .. }) = password {
            return Err((
                "password".into(),
                "a password belongs in Secrets Manager, not S3: write secretsmanager:<secret name>"
                    .into(),
            ));
        }
        let format = match self.format.as_deref().map(str::to_ascii_lowercase).as_deref() {
            None => None,
            Some("pem") => Some(Format::Pem),
            Some("der" | "cer") => Some(Format::Der),
            Some("pkcs7" | "p7b" | "pkcs#7") => Some(Format::Pkcs7),
            Some("pkcs12" | "pfx" | "p12" | "pkcs#12") => Some(Format::Pkcs12),
            Some(other) => return Err(("format".into(), format!("{other:?} is not a format we read: pem, der, pkcs7 or pkcs12 (or leave it out to detect it)"))),
        };
        Ok(Source {
            certificate: Location::parse(&certificate)
                .map_err(|m| ("certificate".to_owned(), m))?,
            private_key: at("private_key", self.private_key)?,
            chain: at("chain", self.chain)?,
            password,
            format,
        })
    }
}

/// What no bring-your-own source may name: cert-rotator's own archive bucket (every key it
/// issued, and its lock) and its ACME account secret. A source naming them would have the run
/// read — and a mistaken event deploy — cert-rotator's own secrets.
#[derive(Debug, Clone, Copy)]
pub struct Reserved<'a> {
    /// The archive bucket (`CERT_ROTATOR_BUCKET`).
    pub archive_bucket: &'a str,
    /// The account secret, by name or ARN (`CERT_ROTATOR_ACCOUNT_SECRET`).
    pub account_secret: &'a str,
}

/// A secret's name from a name or an ARN (`arn:…:secret:<name>-<6 random characters>`), and
/// whether it came from an ARN (whose name carries that suffix).
fn secret_name(id: &str) -> (&str, bool) {
    match id.split_once(":secret:") {
        Some((arn, name)) if arn.starts_with("arn:") => (name, true),
        _ => (id, false),
    }
}

/// Whether two secret ids (names or ARNs) name the same secret.
fn same_secret(a: &str, b: &str) -> bool {
    let ((a, a_arn), (b, b_arn)) = (secret_name(a), secret_name(b));
    // The random suffix Secrets Manager appends to the name in an ARN.
    let strip = |name: &str, from_arn: bool| -> Option<String> {
        let (head, tail) = name.rsplit_once('-')?;
        (from_arn && tail.len() == 6 && tail.bytes().all(|c| c.is_ascii_alphanumeric()))
            .then(|| head.to_owned())
    };
    a == b || strip(a, a_arn).as_deref() == Some(b) || strip(b, b_arn).as_deref() == Some(a)
}

impl Source {
    /// Every location the source names.
    fn locations(&self) -> impl Iterator<Item = &Location> {
        [
            Some(&self.certificate),
            self.private_key.as_ref(),
            self.chain.as_ref(),
            self.password.as_ref(),
        ]
        .into_iter()
        .flatten()
    }

    /// Refuses a location in cert-rotator's archive bucket or its account secret.
    pub fn check_reserved(&self, reserved: Reserved<'_>) -> Result<(), String> {
        for loc in self.locations() {
            match loc {
                Location::S3 { bucket, .. } if bucket == reserved.archive_bucket => {
                    return Err(format!("{loc} is in cert-rotator's archive bucket, which holds every key it issued and its lock: keep bring-your-own files in a bucket of their own (the template's SourceBucket)"));
                }
                Location::Secret(id) if same_secret(id, reserved.account_secret) => {
                    return Err(format!("{loc} is cert-rotator's ACME account secret: name the secret that holds this certificate's key or password (the template grants <stack name>/byo/*)"));
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// Checks that ARNs are of the run's partition.
    pub fn check_partition(&self, partition: Partition) -> Result<(), String> {
        for loc in self.locations() {
            if let Some(p) = loc.partition().filter(|p| *p != partition.as_str()) {
                return Err(format!("{loc} is in partition {p}, but this run is in {partition}: use a secret of this partition"));
            }
        }
        Ok(())
    }
}

/// Where the pipeline reads a bring-your-own source's files (S3 objects, Secrets Manager
/// secrets): the bytes of one location, or a message naming it and what to do.
#[async_trait::async_trait]
pub trait Files: Send + Sync {
    /// The bytes at `location`; a file over [`MAX_FILE_BYTES`] is refused with [`too_large`]'s
    /// message, without reading it whole.
    async fn read(&self, location: &Location) -> Result<Vec<u8>, String>;
}

/// Fetches the source's files and reads them into a bundle for `names`, valid at `now`; at most
/// [`MAX_LOADING`] at once in the process.
pub async fn load(
    files: &dyn Files,
    source: &Source,
    names: &[DomainName],
    now: time::OffsetDateTime,
) -> Result<Normalized, String> {
    // The semaphore is never closed; without a permit the bound is lost, not the bundle.
    let _permit = LOADING.acquire().await.ok();
    // The password and every file's bytes (keys, PKCS#12 archives) are zeroed when dropped; the
    // SDK's buffers they were read from are not ours to wipe.
    let password = match &source.password {
        None => None,
        Some(loc) => {
            let bytes = Zeroizing::new(files.read(loc).await?);
            Some(password_text(&bytes).ok_or_else(|| format!("{loc}: the password is not text"))?)
        }
    };
    let mut owned: Vec<(String, Zeroizing<Vec<u8>>, Option<Format>)> = Vec::new();
    let certificate_format = source
        .format
        .or_else(|| Format::from_file_name(source.certificate.file_name()));
    owned.push((
        source.certificate.to_string(),
        Zeroizing::new(files.read(&source.certificate).await?),
        certificate_format,
    ));
    for loc in [&source.chain, &source.private_key].into_iter().flatten() {
        owned.push((
            loc.to_string(),
            Zeroizing::new(files.read(loc).await?),
            None,
        ));
    }
    let files: Vec<File<'_>> = owned
        .iter()
        .map(|(origin, bytes, format)| File {
            origin,
            bytes,
            format: *format,
        })
        .collect();
    bundle::normalize(&files, password.as_deref().map(String::as_str), names, now)
        .map_err(|e| e.to_string())
}

/// A password file's text without its trailing line break, in a buffer zeroed when dropped;
/// `None` if it is not UTF-8.
pub fn password_text(bytes: &[u8]) -> Option<Zeroizing<String>> {
    let text = std::str::from_utf8(bytes).ok()?;
    Some(Zeroizing::new(
        text.trim_end_matches(['\r', '\n']).to_owned(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_password_loses_its_line_break_only() {
        assert_eq!(password_text(b"pfx pass\r\n").unwrap().as_str(), "pfx pass");
        assert_eq!(password_text(b" spaced \n\n").unwrap().as_str(), " spaced ");
        assert!(password_text(&[0xff, 0xfe]).is_none());
    }

    #[test]
    fn locations_parse_or_say_how_to_write_them() {
        assert_eq!(
            Location::parse("s3://b/dir/site.pfx").unwrap(),
            Location::S3 {
                bucket: "b".into(),
                key: "dir/site.pfx".into()
            }
        );
        assert_eq!(
            Location::parse("secretsmanager:cert-rotator/k").unwrap(),
            Location::Secret("cert-rotator/k".into())
        );
        let arn = "arn:aws-cn:secretsmanager:cn-north-1:123456789012:secret:k-AbCdEf";
        assert_eq!(Location::parse(arn).unwrap().partition(), Some("aws-cn"));
        for bad in [
            "s3://bucket",
            "s3:///key",
            "https://x/y",
            "secretsmanager:",
            "/tmp/cert.pem",
        ] {
            assert!(Location::parse(bad).is_err(), "{bad}");
        }
    }

    fn raw(v: serde_json::Value) -> Result<Source, (String, String)> {
        serde_json::from_value::<RawSource>(v).unwrap().validate()
    }

    #[test]
    fn a_source_needs_a_certificate_and_keeps_passwords_out_of_s3() {
        assert_eq!(raw(serde_json::json!({})).unwrap_err().0, "certificate");
        assert_eq!(
            raw(serde_json::json!({"certificate": "s3://b/c.pfx", "password": "s3://b/pw"}))
                .unwrap_err()
                .0,
            "password"
        );
        assert_eq!(
            raw(serde_json::json!({"certificate": "s3://b/c", "format": "jks"}))
                .unwrap_err()
                .0,
            "format"
        );
        let s = raw(serde_json::json!({"certificate": "s3://b/c.p7b", "private_key": "secretsmanager:k", "format": "PKCS7"})).unwrap();
        assert_eq!(s.format, Some(Format::Pkcs7));
        assert!(s.check_partition(Partition::AwsCn).is_ok());
        let s =
            raw(serde_json::json!({"certificate": Partition::Aws.arn("secretsmanager", "us-east-1", "1", "secret:c")}))
                .unwrap();
        assert!(s
            .check_partition(Partition::AwsCn)
            .unwrap_err()
            .contains("partition aws"));
    }

    #[test]
    fn a_source_may_not_name_the_archive_or_the_account_secret() {
        let account_arn =
            "arn:aws-cn:secretsmanager:cn-north-1:1:secret:rotator/acme-account-AbC123";
        for account in ["rotator/acme-account", account_arn] {
            let reserved = Reserved {
                archive_bucket: "rotator-archive",
                account_secret: account,
            };
            let refused = |source: serde_json::Value| {
                raw(source).unwrap().check_reserved(reserved).unwrap_err()
            };
            let e =
                refused(serde_json::json!({"certificate": "s3://rotator-archive/archive/x.pem"}));
            assert!(
                e.contains("archive bucket") && e.contains("SourceBucket"),
                "{e}"
            );
            for secret in ["secretsmanager:rotator/acme-account", account_arn] {
                let e = refused(
                    serde_json::json!({"certificate": "s3://certs/x.pem", "private_key": secret}),
                );
                assert!(e.contains("ACME account secret"), "{e}");
            }
            let fine = raw(serde_json::json!({
                "certificate": "s3://certs/x.pfx",
                "password": "secretsmanager:rotator/byo/x-password",
                "private_key": "secretsmanager:rotator/acme-account-old"
            }))
            .unwrap();
            assert_eq!(fine.check_reserved(reserved), Ok(()));
        }
    }
}
