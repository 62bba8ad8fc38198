//! The boundary to AWS: one module per service, the only places `aws_sdk_*` types appear.
//!
//! Adapters speak the domain's language (hosted zones, TXT record sets, server certificates,
//! distributions) and turn the service errors we know into meaning; everything else becomes an
//! [`AwsError`] that names the service, the operation, AWS's error code and message.

pub mod cloudfront;
pub mod iam;
pub mod route53;
pub mod s3;
pub mod secrets;

use aws_config::{BehaviorVersion, SdkConfig};
use aws_sdk_route53::error::{DisplayErrorContext, ProvideErrorMetadata};

use crate::partition::Partition;

/// Loads the SDK configuration once, from the standard sources (environment, profile, container
/// or instance credentials). `AWS_ENDPOINT_URL` redirects every client, which is how the local
/// test bed is reached; nothing else differs from AWS.
pub async fn load_sdk_config() -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest()).load().await
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
#[error("{service} {operation} failed: {code}: {message}")]
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
