//! CloudFront distributions: which certificate each one serves, and the swap to another.
//!
//! A swap reads the configuration and its ETag in one GetDistributionConfig and writes it back
//! with `IfMatch` (<https://docs.aws.amazon.com/cloudfront/latest/APIReference/API_UpdateDistribution.html>),
//! changing only the certificate: `IAMCertificateId` (or `ACMCertificateArn`), `Certificate` and
//! `CertificateSource` together, keeping `SSLSupportMethod` and `MinimumProtocolVersion`. A stale
//! ETag (412 PreconditionFailed) and a change still in progress (IllegalUpdate) come back as
//! [`Swap::Stale`] and [`Swap::Busy`] for the caller to retry.

use std::time::Duration;

use aws_config::SdkConfig;
use aws_sdk_cloudfront::client::Waiters;
use aws_sdk_cloudfront::operation::update_distribution::UpdateDistributionError;
use aws_sdk_cloudfront::types::{
    CertificateSource, MinimumProtocolVersion, SslSupportMethod, ViewerCertificate,
};

use super::AwsError;

/// The certificate a distribution serves to viewers.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(tag = "source", content = "id", rename_all = "lowercase")]
pub enum ViewerCert {
    /// `*.cloudfront.net` / `*.cloudfront.cn` only.
    Default,
    /// An IAM server certificate, by `ServerCertificateId`.
    Iam(String),
    /// An ACM certificate, by ARN.
    Acm(String),
}

/// A distribution as listed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Distribution {
    /// Its id, e.g. `E2QWRUHAPOMQZL`.
    pub id: String,
    /// `*.cloudfront.net` or `*.cloudfront.cn`.
    pub domain_name: String,
    /// Alternate domain names (CNAMEs), in their configured order.
    pub aliases: Vec<String>,
    /// The certificate it serves.
    pub viewer: ViewerCert,
    /// `Deployed` or `InProgress`.
    pub status: String,
}

/// The outcome of one swap attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Swap {
    /// Updated; the distribution is InProgress towards the new certificate.
    Done,
    /// It already served that certificate.
    Unchanged,
    /// The configuration changed between our read and our write (412): read again.
    Stale,
    /// A previous change is still deploying (IllegalUpdate): wait for Deployed.
    Busy(String),
}

/// The CloudFront adapter.
#[derive(Debug, Clone)]
pub struct CloudFront {
    client: aws_sdk_cloudfront::Client,
}

fn viewer_of(vc: Option<&ViewerCertificate>) -> ViewerCert {
    match vc {
        Some(ViewerCertificate {
            iam_certificate_id: Some(id),
            ..
        }) if !id.is_empty() => ViewerCert::Iam(id.clone()),
        Some(ViewerCertificate {
            acm_certificate_arn: Some(arn),
            ..
        }) if !arn.is_empty() => ViewerCert::Acm(arn.clone()),
        _ => ViewerCert::Default,
    }
}

impl CloudFront {
    /// A client for `sdk` (CloudFront is global; the SDK picks the partition's endpoint).
    pub fn new(sdk: &SdkConfig) -> Self {
        Self {
            client: aws_sdk_cloudfront::Client::new(sdk),
        }
    }

    /// Every distribution of the account, all pages.
    pub async fn list(&self) -> Result<Vec<Distribution>, AwsError> {
        let mut out = Vec::new();
        let mut pages = self.client.list_distributions().into_paginator().send();
        while let Some(page) = pages.next().await {
            let page =
                page.map_err(|e| AwsError::from_sdk("cloudfront", "ListDistributions", e))?;
            for d in page
                .distribution_list()
                .map(|l| l.items())
                .unwrap_or_default()
            {
                out.push(Distribution {
                    id: d.id.clone(),
                    domain_name: d.domain_name.clone(),
                    aliases: d
                        .aliases
                        .as_ref()
                        .map(|a| a.items().to_vec())
                        .unwrap_or_default(),
                    viewer: viewer_of(d.viewer_certificate.as_ref()),
                    status: d.status.clone(),
                });
            }
        }
        Ok(out)
    }

    /// Points the distribution at `target`, once: read config and ETag, write with IfMatch.
    pub async fn swap(&self, id: &str, target: &ViewerCert) -> Result<Swap, AwsError> {
        self.swap_noting(id, target, |_| async { Ok(()) }).await
    }

    /// [`CloudFront::swap`], telling `before_write` which certificate the distribution serves
    /// (read with the ETag) before the update is sent; its error stops the swap unsent.
    ///
    /// `IllegalUpdate` is CloudFront's answer to more than a change in progress: the
    /// distribution's status is read, and only an `InProgress` one is [`Swap::Busy`] (waited
    /// for); any other `IllegalUpdate` is an error with CloudFront's message.
    pub async fn swap_noting<F, Fut>(
        &self,
        id: &str,
        target: &ViewerCert,
        before_write: F,
    ) -> Result<Swap, AwsError>
    where
        F: FnOnce(ViewerCert) -> Fut + Send,
        Fut: std::future::Future<Output = Result<(), AwsError>> + Send,
    {
        let got = self
            .client
            .get_distribution_config()
            .id(id)
            .send()
            .await
            .map_err(|e| AwsError::from_sdk("cloudfront", "GetDistributionConfig", e))?;
        let (Some(mut config), Some(etag)) = (got.distribution_config, got.e_tag) else {
            return Err(AwsError {
                service: "cloudfront",
                operation: "GetDistributionConfig",
                code: "EmptyResponse".into(),
                message: format!("no configuration or ETag for distribution {id}"),
                source: None,
            });
        };
        let current = config.viewer_certificate.take();
        let serving = viewer_of(current.as_ref());
        if serving == *target {
            return Ok(Swap::Unchanged);
        }
        before_write(serving).await?;
        config.viewer_certificate = Some(with_certificate(current, target));
        match self
            .client
            .update_distribution()
            .id(id)
            .if_match(etag)
            .distribution_config(config)
            .send()
            .await
        {
            Ok(_) => Ok(Swap::Done),
            Err(e) => match e.as_service_error() {
                Some(UpdateDistributionError::PreconditionFailed(_)) => Ok(Swap::Stale),
                Some(UpdateDistributionError::IllegalUpdate(u)) => {
                    let why = u.message().unwrap_or("a change is in progress").to_owned();
                    if self.status(id).await? == "InProgress" {
                        Ok(Swap::Busy(why))
                    } else {
                        Err(AwsError::from_sdk("cloudfront", "UpdateDistribution", e))
                    }
                }
                _ => Err(AwsError::from_sdk("cloudfront", "UpdateDistribution", e)),
            },
        }
    }

    /// The distribution's status now (`Deployed` / `InProgress`).
    pub async fn status(&self, id: &str) -> Result<String, AwsError> {
        let out = self
            .client
            .get_distribution()
            .id(id)
            .send()
            .await
            .map_err(|e| AwsError::from_sdk("cloudfront", "GetDistribution", e))?;
        Ok(out
            .distribution()
            .map(|d| d.status().to_owned())
            .unwrap_or_default())
    }

    /// Waits until the distribution is Deployed, at most `max_wait` (SDK waiter).
    pub async fn wait_deployed(&self, id: &str, max_wait: Duration) -> Result<(), AwsError> {
        self.client
            .wait_until_distribution_deployed()
            .id(id)
            .wait(max_wait)
            .await
            .map(drop)
            .map_err(|e| AwsError::from_sdk("cloudfront", "GetDistribution", e))
    }
}

// `Certificate` and `CertificateSource` are deprecated but still returned by
// GetDistributionConfig; left stale they contradict `IAMCertificateId` and CloudFront refuses the
// update (InvalidViewerCertificate), so they are set with it.
#[allow(deprecated)]
/// The viewer certificate with `target` in place of whatever it had, the three fields that name
/// the certificate kept consistent, TLS settings kept (defaults where a default certificate had
/// none: SNI only, TLS 1.2_2021).
fn with_certificate(current: Option<ViewerCertificate>, target: &ViewerCert) -> ViewerCertificate {
    let mut vc = current.unwrap_or_else(|| ViewerCertificate::builder().build());
    let (iam, acm, source, name) = match target {
        ViewerCert::Iam(id) => (
            Some(id.clone()),
            None,
            CertificateSource::Iam,
            Some(id.clone()),
        ),
        ViewerCert::Acm(arn) => (
            None,
            Some(arn.clone()),
            CertificateSource::Acm,
            Some(arn.clone()),
        ),
        ViewerCert::Default => (None, None, CertificateSource::Cloudfront, None),
    };
    vc.cloud_front_default_certificate = Some(matches!(target, ViewerCert::Default));
    vc.iam_certificate_id = iam;
    vc.acm_certificate_arn = acm;
    vc.certificate = name;
    vc.certificate_source = Some(source);
    if !matches!(target, ViewerCert::Default) {
        vc.ssl_support_method
            .get_or_insert(SslSupportMethod::SniOnly);
        vc.minimum_protocol_version
            .get_or_insert(MinimumProtocolVersion::TlSv122021);
    }
    vc
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[allow(deprecated)]
    fn swapping_keeps_tls_settings_and_names_the_certificate_three_ways() {
        let old = ViewerCertificate::builder()
            .iam_certificate_id("ASCAOLD")
            .certificate("ASCAOLD")
            .certificate_source(CertificateSource::Iam)
            .ssl_support_method(SslSupportMethod::Vip)
            .minimum_protocol_version(MinimumProtocolVersion::TlSv122018)
            .build();
        let new = with_certificate(Some(old), &ViewerCert::Iam("ASCANEW".into()));
        assert_eq!(new.iam_certificate_id.as_deref(), Some("ASCANEW"));
        assert_eq!(new.certificate.as_deref(), Some("ASCANEW"));
        assert_eq!(new.certificate_source, Some(CertificateSource::Iam));
        assert_eq!(new.cloud_front_default_certificate, Some(false));
        assert_eq!(new.ssl_support_method, Some(SslSupportMethod::Vip));
        assert_eq!(
            new.minimum_protocol_version,
            Some(MinimumProtocolVersion::TlSv122018)
        );
        assert_eq!(viewer_of(Some(&new)), ViewerCert::Iam("ASCANEW".into()));
    }

    #[test]
    fn from_the_default_certificate_gets_sni_and_modern_tls() {
        let default = ViewerCertificate::builder()
            .cloud_front_default_certificate(true)
            .build();
        let new = with_certificate(Some(default), &ViewerCert::Iam("ASCANEW".into()));
        assert_eq!(new.ssl_support_method, Some(SslSupportMethod::SniOnly));
        assert_eq!(
            new.minimum_protocol_version,
            Some(MinimumProtocolVersion::TlSv122021)
        );
    }
}
