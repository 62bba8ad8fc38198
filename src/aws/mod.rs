//! The boundary to AWS: one module per service, the only places `aws_sdk_*` types appear.
//!
//! Adapters speak the domain's language (hosted zones, TXT record sets, server certificates,
//! distributions) and turn the service errors we know into meaning; everything else becomes an
//! [`AwsError`] that names the service, the operation, AWS's error code and message.

pub mod acm;
pub mod attempt;
pub mod clients;
pub mod cloudfront;
pub mod elb;
pub mod events;
pub mod iam;
pub mod route53;
pub mod s3;
pub mod secrets;
pub mod sns;
pub mod sts;

use aws_config::{BehaviorVersion, SdkConfig};
use aws_sdk_route53::error::{DisplayErrorContext, ProvideErrorMetadata};

pub use clients::Clients;

use crate::config::AwsTimeouts;
use crate::model::partition::Partition;

/// Loads the SDK configuration once, from the standard sources (environment, profile, container
/// or instance credentials). `AWS_ENDPOINT_URL` redirects every client, which is how the local
/// test bed is reached; nothing else differs from AWS.
pub async fn load_sdk_config() -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest()).load().await
}

/// `sdk` with every call bounded by `timeouts` (connect, one attempt, the whole operation).
pub fn with_timeouts(sdk: &SdkConfig, timeouts: &AwsTimeouts) -> SdkConfig {
    let config = aws_config::timeout::TimeoutConfig::builder()
        .connect_timeout(timeouts.connect)
        .operation_attempt_timeout(timeouts.attempt)
        .operation_timeout(timeouts.operation)
        .build();
    sdk.to_builder().timeout_config(config).build()
}

/// The region and partition an SDK configuration points at.
pub fn region_and_partition(sdk: &SdkConfig) -> Result<(String, Partition), AwsError> {
    let region = sdk.region().map(|r| r.as_ref().to_owned()).ok_or_else(|| AwsError {
        service: "config",
        operation: "region",
        code: "NoRegion".into(),
        message: "no AWS region is configured: set AWS_REGION (e.g. cn-north-1 or cn-northwest-1 in AWS China)".into(),
        source: None,
    })?;
    let partition = Partition::of_region(&region);
    Ok((region, partition))
}

/// A call to AWS that failed in a way the adapter does not turn into meaning.
#[derive(Debug, thiserror::Error)]
#[error("{service} {operation} failed: {code}: {message}{}", what_to_do(service, operation, code).map(|h| format!(" — {h}")).unwrap_or_default())]
pub struct AwsError {
    /// The service, e.g. `route53`.
    pub service: &'static str,
    /// The operation, e.g. `ChangeResourceRecordSets`.
    pub operation: &'static str,
    /// AWS's error code (`Throttling`, `InvalidChangeBatch`, ...), or what failed before AWS
    /// answered (`dispatch`, `timeout`).
    pub code: String,
    /// AWS's message, or the transport's.
    pub message: String,
    /// The SDK error, for its full chain.
    #[source]
    pub source: Option<Box<dyn std::error::Error + Send + Sync>>,
}

impl AwsError {
    /// Wraps an SDK error (any `SdkError<E, R>` or operation error).
    pub(crate) fn from_sdk<E>(service: &'static str, operation: &'static str, err: E) -> Self
    where
        E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    {
        let code = err.code().unwrap_or("dispatch").to_owned();
        let message = match err.message() {
            Some(m) => m.to_owned(),
            None => DisplayErrorContext(&err).to_string(),
        };
        Self {
            service,
            operation,
            code,
            message,
            source: Some(Box::new(err)),
        }
    }

    /// Whether the error may pass by itself (throttling, a timeout, the service's own failure),
    /// as opposed to a refusal that asking again would only repeat.
    pub fn may_pass(&self) -> bool {
        matches!(
            self.code.as_str(),
            "dispatch"
                | "timeout"
                | "Throttling"
                | "ThrottlingException"
                | "ThrottledException"
                | "TooManyRequestsException"
                | "RequestLimitExceeded"
                | "PriorRequestNotComplete"
                | "RequestTimeout"
                | "RequestTimeoutException"
                | "ServiceUnavailable"
                | "ServiceUnavailableException"
                | "InternalFailure"
                | "InternalError"
                | "InternalServiceError"
                | "IDPCommunicationError"
        )
    }

    /// The same error without its source, for every waiter of a shared call.
    pub fn copied(&self) -> Self {
        Self {
            service: self.service,
            operation: self.operation,
            code: self.code.clone(),
            message: self.message.clone(),
            source: None,
        }
    }

    /// A request we could not even build (a required field missing): a bug of ours, reported
    /// like any other failure of the operation.
    pub(crate) fn invalid_request(
        service: &'static str,
        operation: &'static str,
        err: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        Self {
            service,
            operation,
            code: "InvalidRequest".into(),
            message: err.to_string(),
            source: Some(Box::new(err)),
        }
    }
}

/// What the user should do about an AWS error the code cannot resolve itself (the errors it can —
/// throttling, a stale ETag, a change still deploying — are retried and never reach here).
pub fn what_to_do(service: &str, operation: &str, code: &str) -> Option<&'static str> {
    Some(match (service, code) {
        (_, "AccessDenied" | "AccessDeniedException" | "UnauthorizedOperation") => {
            "the function's role lacks this permission: deploy template.yaml's policy (README, \"The IAM permissions\"), or grant the action on the resource named"
        }
        (_, "ExpiredToken" | "ExpiredTokenException" | "InvalidClientTokenId" | "UnrecognizedClientException" | "SignatureDoesNotMatch") => {
            "the AWS credentials are invalid or expired, or belong to another partition (aws-cn keys work only in cn-north-1 and cn-northwest-1)"
        }
        ("iam", "LimitExceeded") => {
            "the account's IAM server certificate quota is reached (20 by default): delete certificates no distribution uses, or ask AWS Support for a higher quota; cert-rotator retires its own replaced certificates"
        }
        ("iam", "MalformedCertificate") => {
            "IAM refused the bundle: the certificate or chain is not PEM, or the chain is incomplete or out of order (cert-rotator checks its own bundles before uploading, so report this one)"
        }
        ("iam", "KeyPairMismatch") => "the private key does not belong to the certificate",
        ("acm", "LimitExceededException") => {
            "ACM's quota of imported certificates is reached in this region (imports per year, or certificates held): delete unused imported certificates or ask AWS Support for more"
        }
        ("acm", "ValidationException") if operation == "ImportCertificate" => {
            "ACM refused the certificate; on a re-import the key type and size must stay the same and Key Usage values cannot be removed — request the renewal with the same key type, or delete the ACM certificate to import anew"
        }
        ("cloudfront", "InvalidViewerCertificate") => {
            "CloudFront refused the certificate: it must be under /cloudfront/ in IAM, unexpired, and cover every alias of the distribution"
        }
        ("cloudfront", "IllegalUpdate") => {
            "CloudFront refused this change to the distribution for the reason in its message (no change of it was in progress): fix the distribution's configuration as it says; the next run swaps again"
        }
        ("cloudfront", "TooManyDistributionsAssociatedToCertificate") => {
            "too many distributions share this certificate: ask AWS Support to raise the quota, or split the domain into several certificates"
        }
        ("cloudfront", "NoSuchDistribution") => {
            "the distribution was deleted during the run; the next run works from the new listing"
        }
        ("route53", "InvalidChangeBatch") => {
            "Route 53 refused the TXT change: a record of another type or a conflicting value exists at _acme-challenge.<name>; remove it"
        }
        ("route53", "NoSuchHostedZone") => {
            "the hosted zone was deleted during the run; create it again or drop the domain"
        }
        ("s3", "NoSuchBucket") => {
            "CERT_ROTATOR_BUCKET names no bucket in this account and region: use the stack's ArchiveBucket output"
        }
        ("secretsmanager", "DecryptionFailure") => {
            "the secret's KMS key does not let the function decrypt: grant kms:Decrypt to the function's role"
        }
        ("secretsmanager", "ResourceNotFoundException") if operation == "PutSecretValue" => {
            "CERT_ROTATOR_ACCOUNT_SECRET names no secret: use the stack's AccountSecret output, or a name to have it created"
        }
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_the_user_must_act_on_say_what_to_do() {
        let e = AwsError {
            service: "iam",
            operation: "UploadServerCertificate",
            code: "LimitExceeded".into(),
            message: "Cannot exceed quota for ServerCertificatesPerAccount: 20".into(),
            source: None,
        };
        let text = e.to_string();
        assert!(
            text.starts_with("iam UploadServerCertificate failed: LimitExceeded: Cannot exceed"),
            "{text}"
        );
        assert!(
            text.contains("— the account's IAM server certificate quota"),
            "{text}"
        );
        for (service, code) in [
            ("cloudfront", "AccessDenied"),
            ("route53", "InvalidChangeBatch"),
            ("s3", "NoSuchBucket"),
            ("iam", "KeyPairMismatch"),
            ("secretsmanager", "DecryptionFailure"),
        ] {
            assert!(what_to_do(service, "X", code).is_some(), "{service} {code}");
        }
        let plain = AwsError {
            code: "InternalFailure".into(),
            ..e
        };
        assert!(
            !plain.to_string().contains(" — "),
            "no advice for what we cannot advise on"
        );
    }
}

#[cfg(test)]
mod timeout_tests {
    use super::*;
    use crate::config::Limits;

    #[test]
    fn every_client_gets_the_limits_timeouts() {
        let sdk = SdkConfig::builder()
            .region(aws_config::Region::new("cn-north-1"))
            .build();
        let limits = Limits::default();
        let bounded = with_timeouts(&sdk, &limits.aws_timeouts);
        let t = bounded.timeout_config().unwrap();
        assert_eq!(t.connect_timeout(), Some(limits.aws_timeouts.connect));
        assert_eq!(
            t.operation_attempt_timeout(),
            Some(limits.aws_timeouts.attempt)
        );
        assert_eq!(t.operation_timeout(), Some(limits.aws_timeouts.operation));
        assert_eq!(bounded.region(), sdk.region(), "nothing else changes");
    }
}
