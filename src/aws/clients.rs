//! The AWS clients of a run, built once at cold start from one `SdkConfig`.

use aws_config::SdkConfig;

use super::acm::Acm;
use super::cloudfront::CloudFront;
use super::elb::Elb;
use super::iam::Iam;
use super::route53::Route53;
use super::s3::S3;
use super::secrets::Secrets;
use super::{region_and_partition, AwsError};
use crate::model::partition::Partition;

/// One adapter per service, for the run's region and partition.
#[derive(Debug, Clone)]
pub struct Clients {
    /// The configuration the clients were built from: sessions in other accounts start from it.
    pub sdk: SdkConfig,
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
}

impl Clients {
    /// Clients for `sdk`'s region and partition; S3 for `bucket` (encrypted with `kms_key`, or
    /// SSE-S3).
    pub fn new(sdk: &SdkConfig, bucket: &str, kms_key: Option<String>) -> Result<Self, AwsError> {
        let (region, partition) = region_and_partition(sdk)?;
        Ok(Self {
            sdk: sdk.clone(),
            region,
            partition,
            iam: Iam::new(sdk),
            cloudfront: CloudFront::new(sdk),
            route53: Route53::new(sdk),
            s3: S3::new(sdk, bucket.to_owned(), kms_key),
            secrets: Secrets::new(sdk),
            acm: Acm::new(sdk),
            elb: Elb::new(sdk),
        })
    }
}
