//! ACM, in whichever regions the targets need: imported certificates, re-imported in place.
//!
//! ImportCertificate without an ARN makes a new certificate; with the ARN of an imported one it
//! replaces its content and keeps the ARN, its tags and every association (load balancer
//! listeners, distributions, API domain names), so nothing attached has to change
//! (<https://docs.aws.amazon.com/acm/latest/userguide/import-reimport.html>). Tags cannot be given
//! on a re-import; cert-rotator tags on the first import and finds its certificates again by tag.
//!
//! ListCertificates returns only RSA-2048 certificates unless asked for the other key types
//! (<https://docs.aws.amazon.com/acm/latest/APIReference/API_ListCertificates.html>): every listing
//! here names all of them.

use std::collections::HashMap;
use std::sync::Mutex;

use aws_config::SdkConfig;
use aws_sdk_acm::operation::import_certificate::ImportCertificateError;
use aws_sdk_acm::primitives::Blob;
use aws_sdk_acm::types::{CertificateType, Filters, KeyAlgorithm, Tag};
use futures::{StreamExt, TryStreamExt};
use time::OffsetDateTime;

use super::AwsError;
use crate::certs::certificate::canonical_serial;

/// How many certificates of one region are read at once.
const DESCRIBE_CONCURRENCY: usize = 8;

/// A certificate cert-rotator imported into ACM.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AcmCert {
    /// Its ARN, stable across re-imports.
    pub arn: String,
    /// Its region.
    pub region: String,
    /// Its tags.
    pub tags: Vec<(String, String)>,
    /// The serial of the certificate it holds now, in the canonical spelling of
    /// [`canonical_serial`] (the same as [`crate::certs::certificate::CertificateInfo::serial`]).
    pub serial: String,
    /// Its NotAfter.
    pub not_after: Option<OffsetDateTime>,
    /// Its NotBefore.
    pub not_before: Option<OffsetDateTime>,
    /// The ARNs of what uses it.
    pub in_use_by: Vec<String>,
}

impl AcmCert {
    /// The value of tag `key`.
    pub fn tag(&self, key: &str) -> Option<&str> {
        self.tags
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

/// What to import. Its `Debug` leaves the key out.
#[derive(Clone)]
pub struct Import<'a> {
    /// The leaf, PEM.
    pub certificate: &'a str,
    /// The intermediates, PEM.
    pub chain: &'a str,
    /// The key, PEM (PKCS#8).
    pub private_key: &'a str,
}

impl std::fmt::Debug for Import<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Import")
            .field("certificate", &self.certificate)
            .field("chain", &self.chain)
            .field("private_key", &"<redacted>")
            .finish()
    }
}

/// The outcome of a re-import.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reimport {
    /// Replaced in place.
    Done,
    /// The ARN no longer exists (deleted by someone): import anew.
    Gone,
}

/// The ACM adapter: one client per region, made on first use.
#[derive(Debug)]
pub struct Acm {
    sdk: SdkConfig,
    clients: Mutex<HashMap<String, aws_sdk_acm::Client>>,
}

impl Clone for Acm {
    fn clone(&self) -> Self {
        Self::new(&self.sdk)
    }
}

fn time_of(t: Option<&aws_sdk_acm::primitives::DateTime>) -> Option<OffsetDateTime> {
    t.and_then(|t| OffsetDateTime::from_unix_timestamp(t.secs()).ok())
}

/// Every key type ACM holds.
fn all_key_types() -> Filters {
    [
        KeyAlgorithm::Rsa1024,
        KeyAlgorithm::Rsa2048,
        KeyAlgorithm::Rsa3072,
        KeyAlgorithm::Rsa4096,
        KeyAlgorithm::EcPrime256v1,
        KeyAlgorithm::EcSecp384r1,
        KeyAlgorithm::EcSecp521r1,
    ]
    .into_iter()
    .fold(Filters::builder(), |b, k| b.key_types(k))
    .build()
}

fn acm_tags(tags: &[(String, String)]) -> Result<Vec<Tag>, AwsError> {
    tags.iter()
        .map(|(k, v)| {
            Tag::builder()
                .key(k)
                .value(v)
                .build()
                .map_err(|e| AwsError::invalid_request("acm", "ImportCertificate", e))
        })
        .collect()
}

impl Acm {
    /// An adapter for `sdk`'s credentials and partition.
    pub fn new(sdk: &SdkConfig) -> Self {
        Self {
            sdk: sdk.clone(),
            clients: Mutex::new(HashMap::new()),
        }
    }

    fn client(&self, region: &str) -> aws_sdk_acm::Client {
        let mut clients = self
            .clients
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        clients
            .entry(region.to_owned())
            .or_insert_with(|| {
                let config = aws_sdk_acm::config::Builder::from(&self.sdk)
                    .region(aws_sdk_acm::config::Region::new(region.to_owned()))
                    .build();
                aws_sdk_acm::Client::from_conf(config)
            })
            .clone()
    }

    /// The imported certificates in `region` with tag `key` = `value`, described.
    pub async fn list_tagged(
        &self,
        region: &str,
        key: &str,
        value: &str,
    ) -> Result<Vec<AcmCert>, AwsError> {
        let client = self.client(region);
        let mut arns = Vec::new();
        let mut pages = client
            .list_certificates()
            .includes(all_key_types())
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| AwsError::from_sdk("acm", "ListCertificates", e))?;
            arns.extend(
                page.certificate_summary_list()
                    .iter()
                    .filter(|s| s.r#type() == Some(&CertificateType::Imported))
                    .filter_map(|s| s.certificate_arn().map(str::to_owned)),
            );
        }
        // Two reads per certificate, a few at a time: an account's other imports make the
        // listing long, and ACM throttles each operation at about 10 requests per second.
        let described = futures::stream::iter(arns)
            .map(|arn| describe_if_tagged(&client, region, arn, key, value))
            .buffered(DESCRIBE_CONCURRENCY);
        let found: Vec<Option<AcmCert>> = described.try_collect().await?;
        Ok(found.into_iter().flatten().collect())
    }

    /// Imports a new certificate into `region` with `tags`; returns its ARN.
    pub async fn import(
        &self,
        region: &str,
        cert: &Import<'_>,
        tags: &[(String, String)],
    ) -> Result<String, AwsError> {
        let out = self
            .client(region)
            .import_certificate()
            .certificate(Blob::new(cert.certificate))
            .certificate_chain(Blob::new(cert.chain))
            .private_key(Blob::new(cert.private_key))
            .set_tags(Some(acm_tags(tags)?))
            .send()
            .await
            .map_err(|e| AwsError::from_sdk("acm", "ImportCertificate", e))?;
        Ok(out.certificate_arn().unwrap_or_default().to_owned())
    }

    /// Replaces the content of the imported certificate `arn` in `region`, keeping its ARN, tags
    /// and associations.
    pub async fn reimport(
        &self,
        region: &str,
        arn: &str,
        cert: &Import<'_>,
    ) -> Result<Reimport, AwsError> {
        match self
            .client(region)
            .import_certificate()
            .certificate_arn(arn)
            .certificate(Blob::new(cert.certificate))
            .certificate_chain(Blob::new(cert.chain))
            .private_key(Blob::new(cert.private_key))
            .send()
            .await
        {
            Ok(_) => Ok(Reimport::Done),
            Err(e)
                if matches!(
                    e.as_service_error(),
                    Some(ImportCertificateError::ResourceNotFoundException(_))
                ) =>
            {
                Ok(Reimport::Gone)
            }
            Err(e) => Err(AwsError::from_sdk("acm", "ImportCertificate", e)),
        }
    }
}

/// The certificate `arn` described, if it carries tag `key` = `value`.
async fn describe_if_tagged(
    client: &aws_sdk_acm::Client,
    region: &str,
    arn: String,
    key: &str,
    value: &str,
) -> Result<Option<AcmCert>, AwsError> {
    let tags: Vec<(String, String)> = client
        .list_tags_for_certificate()
        .certificate_arn(&arn)
        .send()
        .await
        .map_err(|e| AwsError::from_sdk("acm", "ListTagsForCertificate", e))?
        .tags()
        .iter()
        .map(|t| (t.key().to_owned(), t.value().unwrap_or_default().to_owned()))
        .collect();
    if !tags.iter().any(|(k, v)| k == key && v == value) {
        return Ok(None);
    }
    let out = client
        .describe_certificate()
        .certificate_arn(&arn)
        .send()
        .await
        .map_err(|e| AwsError::from_sdk("acm", "DescribeCertificate", e))?;
    let detail = out.certificate();
    Ok(Some(AcmCert {
        arn,
        region: region.to_owned(),
        tags,
        serial: canonical_serial(detail.and_then(|d| d.serial()).unwrap_or_default()),
        not_after: time_of(detail.and_then(|d| d.not_after())),
        not_before: time_of(detail.and_then(|d| d.not_before())),
        in_use_by: detail.map(|d| d.in_use_by().to_vec()).unwrap_or_default(),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_import_shows_its_certificate_but_never_its_key_in_debug() {
        let import = Import {
            certificate: "LEAF",
            chain: "CHAIN",
            private_key: "-----BEGIN PRIVATE KEY-----\nSECRETKEY\n-----END PRIVATE KEY-----\n",
        };
        let text = format!("{import:?} {import:#?}");
        assert!(text.contains("LEAF") && text.contains("CHAIN"), "{text}");
        assert!(
            !text.contains("SECRETKEY") && !text.contains("PRIVATE KEY"),
            "{text}"
        );
    }
}
