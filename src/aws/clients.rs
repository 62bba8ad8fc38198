//! The AWS clients of a run, built once at cold start from one `SdkConfig`.

use aws_config::SdkConfig;

use super::acm::Acm;
use super::cloudfront::CloudFront;
use super::elb::Elb;
use super::events::Events;
use super::iam::Iam;
use super::route53::Route53;
use super::s3::S3;
use super::secrets::Secrets;
use super::sns::Sns;
use super::{region_and_partition, AwsError};
use crate::model::partition::Partition;
use crate::model::role::Role;

/// One adapter per service, for the run's region and partition. IAM, CloudFront, ACM and ELB
/// act in the account the certificates are deployed in ([`Clients::in_account`]); S3, Secrets
/// Manager, Route 53, SNS and EventBridge always in the function's.
#[derive(Debug, Clone)]
pub struct Clients {
    /// The configuration the clients were built from: sessions in other accounts start from it.
    pub sdk: SdkConfig,
    /// The role the certificate services act through, when that is not the function's account.
    pub role: Option<Role>,
    /// The run's region.
    pub region: String,
    /// Its partition.
    pub partition: Partition,
    /// IAM.
    pub iam: Iam,
    /// CloudFront.
    pub cloudfront: CloudFront,
    /// Route 53.
    pub route53: Route53,
    /// S3 (the archive bucket).
    pub s3: S3,
    /// Secrets Manager.
    pub secrets: Secrets,
    /// ACM, in any region of the partition.
    pub acm: Acm,
    /// Elastic Load Balancing (v1 and v2), in any region of the partition.
    pub elb: Elb,
    /// SNS (the stack's topic), in the function's account.
    pub sns: Sns,
    /// EventBridge (the stack's bus), in the function's account.
    pub events: Events,
}

impl Clients {
    /// Clients for `sdk`'s region and partition; S3 for `bucket` (encrypted with `kms_key`, or
    /// SSE-S3).
    pub fn new(sdk: &SdkConfig, bucket: &str, kms_key: Option<String>) -> Result<Self, AwsError> {
        let (region, partition) = region_and_partition(sdk)?;
        Ok(Self {
            sdk: sdk.clone(),
            role: None,
            region,
            partition,
            iam: Iam::new(sdk),
            cloudfront: CloudFront::new(sdk),
            route53: Route53::new(sdk),
            s3: S3::new(sdk, bucket.to_owned(), kms_key),
            secrets: Secrets::new(sdk),
            acm: Acm::new(sdk),
            elb: Elb::new(sdk),
            sns: Sns::new(sdk),
            events: Events::new(sdk),
        })
    }

    /// The same clients with IAM, CloudFront, ACM and ELB acting as `session` (assumed from
    /// `role`): a domain's `account`. The archive, the lease, the ACME account and the DNS stay
    /// the function's.
    pub fn in_account(&self, session: &SdkConfig, role: &Role) -> Self {
        Self {
            role: Some(role.clone()),
            iam: Iam::new(session),
            cloudfront: CloudFront::new(session),
            acm: Acm::new(session),
            elb: Elb::new(session),
            ..self.clone()
        }
    }

    /// The account the certificate services act in, for reports: the role's account id, or
    /// `None` for the function's own.
    pub fn account(&self) -> Option<String> {
        self.role.as_ref().map(|r| r.account().to_owned())
    }
}
