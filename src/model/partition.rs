//! Which AWS partition a region belongs to, and what follows from it.
//!
//! The partition is data derived from the region in one pure function ([`Partition::of_region`]);
//! nothing else in the crate spells `arn:aws:` or a region name. Endpoints are not built here: the
//! SDK resolves them from the region (FACTS.md: the SDK picks `*.amazonaws.com.cn` by itself).

use std::fmt;

/// An AWS partition: a group of regions with its own ARNs, endpoints and accounts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum Partition {
    /// The global partition (`arn:aws:`).
    Aws,
    /// AWS China: Beijing (cn-north-1, Sinnet) and Ningxia (cn-northwest-1, NWCD) (`arn:aws-cn:`).
    AwsCn,
    /// AWS GovCloud (US) (`arn:aws-us-gov:`).
    AwsUsGov,
}

impl Partition {
    /// The partition of `region`, by the prefixes AWS assigns (`cn-`, `us-gov-`); everything
    /// else is the global partition.
    pub fn of_region(region: &str) -> Self {
        if region.starts_with("cn-") {
            Self::AwsCn
        } else if region.starts_with("us-gov-") {
            Self::AwsUsGov
        } else {
            Self::Aws
        }
    }

    /// Whether `region` is written like an AWS region name (`ap-northeast-1`, `cn-northwest-1`,
    /// `us-gov-west-1`): lowercase words and a number, joined by hyphens.
    pub fn is_region_name(region: &str) -> bool {
        let parts: Vec<&str> = region.split('-').collect();
        parts.len() >= 3
            && parts.iter().all(|p| {
                !p.is_empty()
                    && p.bytes()
                        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
            })
            && parts
                .last()
                .is_some_and(|p| p.bytes().all(|b| b.is_ascii_digit()))
    }

    /// The partition's name as it appears in ARNs.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Aws => "aws",
            Self::AwsCn => "aws-cn",
            Self::AwsUsGov => "aws-us-gov",
        }
    }

    /// Whether CloudFront in this partition can use ACM certificates. In AWS China it cannot:
    /// CloudFront there serves only IAM server certificates uploaded under `/cloudfront/`.
    /// <https://docs.amazonaws.cn/en_us/aws/latest/userguide/cloudfront.html>
    pub fn cloudfront_accepts_acm(self) -> bool {
        !matches!(self, Self::AwsCn)
    }

    /// The region that holds certificates for global services (CloudFront, edge-optimized API
    /// Gateway, Amplify) when they come from ACM: `us-east-1` in the global partition.
    /// `None` where CloudFront cannot use ACM at all.
    pub fn global_certificate_region(self) -> Option<&'static str> {
        match self {
            Self::Aws => Some("us-east-1"),
            Self::AwsUsGov => Some("us-gov-west-1"),
            Self::AwsCn => None,
        }
    }

    /// The domain CloudFront distributions of this partition live under.
    pub fn cloudfront_domain(self) -> &'static str {
        match self {
            Self::AwsCn => "cloudfront.cn",
            _ => "cloudfront.net",
        }
    }

    /// An ARN in this partition: `arn:<partition>:<service>:<region>:<account>:<resource>`.
    pub fn arn(self, service: &str, region: &str, account: &str, resource: &str) -> String {
        format!(
            "arn:{}:{service}:{region}:{account}:{resource}",
            self.as_str()
        )
    }
}

impl fmt::Display for Partition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn china_regions_are_aws_cn() {
        for region in ["cn-north-1", "cn-northwest-1"] {
            assert_eq!(Partition::of_region(region), Partition::AwsCn);
        }
        assert!(!Partition::AwsCn.cloudfront_accepts_acm());
        assert_eq!(Partition::AwsCn.global_certificate_region(), None);
        assert_eq!(Partition::AwsCn.cloudfront_domain(), "cloudfront.cn");
    }

    #[test]
    fn other_regions_are_global_or_govcloud() {
        assert_eq!(Partition::of_region("us-east-1"), Partition::Aws);
        assert_eq!(Partition::of_region("ap-northeast-1"), Partition::Aws);
        assert_eq!(Partition::of_region("us-gov-west-1"), Partition::AwsUsGov);
        assert_eq!(
            Partition::Aws.global_certificate_region(),
            Some("us-east-1")
        );
    }

    #[test]
    fn arns_carry_the_partition() {
        let arn = Partition::of_region("cn-north-1").arn(
            "iam",
            "",
            "123456789012",
            "server-certificate/cloudfront/x",
        );
        assert_eq!(
            arn,
            "arn:aws-cn:iam::123456789012:server-certificate/cloudfront/x"
        );
    }
}
