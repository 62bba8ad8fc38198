//! CloudFront through IAM: upload the certificate under `/cloudfront/` once (tagged, with a
//! unique deterministic name), then swap every distribution that needs it.

use tracing::info;

use super::cloudfront::{mark_replaced, swap_with_retry};
use super::{Certificate, Deployment, Failure, SwappedOff};
use crate::aws::cloudfront::ViewerCert;
use crate::aws::iam::{NewServerCert, ServerCert, Upload, CLOUDFRONT_PATH};
use crate::aws::AwsError;
use crate::budget::Budget;
use crate::certs::archive::Bundle;
use crate::certs::certificate;
use crate::config::Limits;
use crate::model::inventory::{Inventory, MANAGED_BY, TAG_MANAGED_BY, TAG_NAMES, TAG_NOT_AFTER};
use crate::plan::{Attached, Observed};
use crate::ports::{Distributions, ServerCertificates};
use crate::report::{CertRef, DistributionChange, DomainReport, SwapResult};

/// Why a certificate could not be put into IAM.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum UploadError {
    /// IAM refused or failed the upload.
    #[error("uploading to IAM (the key is archived): {0}")]
    Upload(#[source] AwsError),
    /// The name is taken by a certificate with another body.
    #[error("an IAM certificate named {0} exists with another body; rename or delete it")]
    NameTaken(String),
    /// The certificate with our name could not be read back.
    #[error(transparent)]
    Read(AwsError),
}

/// Uploads `bundle` under `/cloudfront/`, tagged; a certificate a dead run uploaded under the same
/// name with the same body is taken as it is.
pub async fn upload(
    iam: &dyn ServerCertificates,
    label: &str,
    bundle: &Bundle,
) -> Result<ServerCert, UploadError> {
    let not_after = certificate::pem_chain(&bundle.certificate)
        .and_then(|d| certificate::info(&d[0]))
        .ok()
        .and_then(|l| {
            l.not_after
                .format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_default();
    let tags = [
        (TAG_MANAGED_BY.to_owned(), MANAGED_BY.to_owned()),
        (TAG_NAMES.to_owned(), label.chars().take(256).collect()),
        (TAG_NOT_AFTER.to_owned(), not_after),
    ];
    let new = NewServerCert {
        name: &bundle.iam_name,
        path: CLOUDFRONT_PATH,
        body: &bundle.certificate,
        chain: &bundle.chain,
        private_key: bundle.private_key.expose(),
        tags: &tags,
    };
    match iam.upload(&new).await.map_err(UploadError::Upload)? {
        Upload::Created(cert) => Ok(cert),
        Upload::AlreadyExists => {
            match iam.get(&bundle.iam_name).await.map_err(UploadError::Read)? {
                // Uploaded by a run that died before swapping: the same certificate, reuse it.
                Some(existing) if existing.body.trim() == bundle.certificate.trim() => {
                    Ok(existing.meta)
                }
                _ => Err(UploadError::NameTaken(bundle.iam_name.clone())),
            }
        }
    }
}

/// The ports and limits the IAM deployment writes through.
#[derive(Clone, Copy)]
pub struct Writers<'a> {
    /// IAM.
    pub iam: &'a dyn ServerCertificates,
    /// CloudFront.
    pub cloudfront: &'a dyn Distributions,
    /// The invocation's time.
    pub budget: Budget,
    /// Retries and waits.
    pub limits: &'a Limits,
}

/// Uploads `certificate` (unless it is in IAM already) and swaps each of `distributions` to it.
pub async fn deploy(
    to: Writers<'_>,
    (certificate, label): (&Certificate, &str),
    (observed, inventory): (&[Observed], &Inventory),
    distributions: &[String],
    report: &mut DomainReport,
    done: &mut Deployment,
) {
    let cert = match certificate {
        Certificate::Uploaded(cert) => cert.clone(),
        Certificate::Bundle { bundle, .. } => match upload(to.iam, label, bundle).await {
            Ok(cert) => {
                crate::failpoint::hit("after-upload");
                cert
            }
            Err(e) => return done.failures.push(Failure::Upload(e.to_string())),
        },
    };
    for distribution in distributions {
        let from = served(observed, inventory, distribution);
        if let Some((old_id, old_name)) = &from {
            if old_id != &cert.id {
                mark_replaced(to.iam, old_name, &cert.name).await;
            }
        }
        let target = ViewerCert::Iam(cert.id.clone());
        let result =
            swap_with_retry(to.cloudfront, distribution, &target, to.budget, to.limits).await;
        crate::failpoint::hit("after-first-swap");
        info!(%distribution, certificate = %cert.name, %result, "swap");
        match &result {
            SwapResult::Updated => {
                done.changed = true;
                if let Some((old_id, _)) = &from {
                    done.swapped_off.push(SwappedOff {
                        certificate: old_id.clone(),
                        distribution: distribution.clone(),
                    });
                }
            }
            SwapResult::Unchanged => {}
            SwapResult::Failed(why) => done.failures.push(Failure::Swap {
                distribution: distribution.clone(),
                why: why.clone(),
            }),
        }
        report.distributions.push(DistributionChange {
            id: distribution.clone(),
            from: from.map(|(id, _)| id),
            to: cert.id.clone(),
            result,
        });
    }
    report.new_certificate = Some(CertRef {
        id: cert.id.clone(),
        name: cert.name.clone(),
        not_after: cert.expiration,
    });
    done.uploaded = Some(cert);
}

/// The IAM certificate (id, name) `distribution` serves now, as observed.
fn served(
    observed: &[Observed],
    inventory: &Inventory,
    distribution: &str,
) -> Option<(String, String)> {
    observed
        .iter()
        .find(|o| o.distribution == distribution)
        .and_then(|o| match &o.attached {
            Attached::Cert(c) => Some((c.id.clone(), c.name.clone())),
            Attached::Unreadable { id, .. } => inventory
                .certificate(id)
                .map(|c| (c.id.clone(), c.name.clone())),
            _ => None,
        })
}
