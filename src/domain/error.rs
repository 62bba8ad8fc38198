//! Why a domain failed before anything was deployed, or waits for the CA's budget.

use time::OffsetDateTime;

use crate::aws::AwsError;
use crate::certs::certificate::CertificateError;
use crate::plan::backoff::{rfc3339, times};
use crate::ports::IssueError;

/// Why a domain failed before anything was deployed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DomainError {
    /// The run could not list ACM in one of the domain's regions.
    #[error("listing ACM certificates in {region}: {message}")]
    AcmListing {
        /// The region.
        region: String,
        /// The listing's error.
        message: String,
    },
    /// A region of the domain's targets was not listed by the run.
    #[error("ACM in {0} was not listed")]
    AcmNotListed(String),
    /// The bring-your-own files cannot be used.
    #[error("{location}: {message}; nothing was deployed")]
    Source {
        /// The certificate's location.
        location: String,
        /// What is wrong and what to do.
        message: String,
    },
    /// The bring-your-own certificate is older than the deployed one.
    #[error("the certificate at {source_at} expires {not_after}, before the deployed one ({newest}): not deployed; replace the file with the current certificate, or set force to roll back")]
    Rollback {
        /// The certificate's location.
        source_at: String,
        /// Its expiry.
        not_after: OffsetDateTime,
        /// The deployed one's.
        newest: OffsetDateTime,
    },
    /// The archive could not be read.
    #[error(transparent)]
    ArchiveRead(AwsError),
    /// The archive could not be written: nothing is deployed without its key kept.
    #[error("archiving {what} (nothing deployed): {source}")]
    Archiving {
        /// Which certificate.
        what: &'static str,
        /// S3's error.
        #[source]
        source: AwsError,
    },
    /// The CA did not issue.
    #[error(transparent)]
    Issue(#[from] IssueError),
    /// What the CA issued failed the check.
    #[error("the CA's certificate failed the check, not used: {0}")]
    Check(#[source] CertificateError),
    /// The names were issued the allowed number of times this week: the domain waits.
    #[error("waiting until {}: {} issued for these names in the last {window_days} days (the CA allows few duplicates a week, and a failing domain must not spend them); set force to issue now, or raise CERT_ROTATOR_MAX_ISSUANCES_PER_WEEK", rfc3339(.until), if *.max == 1 { "1 certificate was".to_owned() } else { format!("{} certificates were", .max) })]
    IssuanceCap {
        /// The cap.
        max: u32,
        /// The days it counts over (7, fewer for short lifetimes).
        window_days: i64,
        /// When one more is allowed.
        until: OffsetDateTime,
    },
    /// Issuances of these names failed lately: the domain waits out its backoff.
    #[error("waiting until {} before ordering again: these names failed to be issued {} in a row, the last time at {}: {last_error} — fix what that error names, then invoke by hand with force to order at once (or delete {object})", rfc3339(.until), times(*.failures), rfc3339(.failed_at))]
    BackingOff {
        /// When an order is allowed.
        until: OffsetDateTime,
        /// Failures in a row.
        failures: u32,
        /// The last one's time.
        failed_at: OffsetDateTime,
        /// The last one's error.
        last_error: String,
        /// The memory object.
        object: String,
    },
    /// The CA refused these names under a rate limit until a time it named.
    #[error("the CA refused to issue for these names until {} under its rate limit: {limit}; it is not asked for them before then, force included (delete {object} to ask anyway)", rfc3339(.until))]
    RateLimited {
        /// The CA's `Retry-After`.
        until: OffsetDateTime,
        /// The CA's problem.
        limit: String,
        /// The memory object.
        object: String,
    },
    /// IAM's server-certificate quota has no slot for the certificate.
    #[error("IAM's server certificate quota is full: {used} of {quota} certificates in this account; nothing was ordered or uploaded. Delete certificates nothing uses (cert-rotator retires its own replaced ones once nothing serves them, and others' it replaced only with CERT_ROTATOR_RETIRE_FOREIGN=true, the stack's RetireForeign), or ask for a higher \"Server certificates per account\" quota in Service Quotas")]
    IamQuota {
        /// Certificates the account holds.
        used: i64,
        /// The quota.
        quota: i64,
    },
    /// ACM would refuse to re-import the new certificate over the one a region holds.
    #[error("ACM in {region} would refuse to re-import {arn}: the new certificate drops {dropped}, which a re-import may not remove (ACM User Guide, \"Reimport a certificate\"); nothing was deployed. The certificate profile changed (Let's Encrypt's tlsserver and shortlived certificates carry only the digitalSignature Key Usage): set this domain's \"profile\" back to the one of the certificate ACM holds (\"classic\") and invoke once by hand with \"force\": true for it, since the certificate just issued is archived and would be offered again; or move the services off {arn} and delete it, and the next run imports a new certificate")]
    AcmRefusesReimport {
        /// The region.
        region: String,
        /// The certificate it holds.
        arn: String,
        /// The usages the new certificate lacks.
        dropped: String,
    },
    /// The uploaded certificate the plan named is no longer listed.
    #[error("certificate {0} vanished")]
    Vanished(String),
}

impl DomainError {
    /// When a domain that waits for the CA's budget may be ordered again.
    pub fn waits_until(&self) -> Option<OffsetDateTime> {
        match self {
            Self::IssuanceCap { until, .. }
            | Self::BackingOff { until, .. }
            | Self::RateLimited { until, .. } => Some(*until),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use time::macros::datetime;

    use super::*;

    #[test]
    fn the_weekly_cap_counts_in_words_and_dates_in_rfc_3339() {
        let until = datetime!(2026-12-14 20:35:50 UTC);
        let one = DomainError::IssuanceCap {
            max: 1,
            window_days: 7,
            until,
        }
        .to_string();
        assert!(
            one.starts_with(
                "waiting until 2026-12-14T20:35:50Z: 1 certificate was issued for these names"
            ),
            "{one}"
        );
        let three = DomainError::IssuanceCap {
            max: 3,
            window_days: 7,
            until,
        }
        .to_string();
        assert!(three.contains(": 3 certificates were issued"), "{three}");
    }

    #[test]
    fn the_quota_message_promises_only_what_retirement_does() {
        let full = DomainError::IamQuota {
            used: 20,
            quota: 20,
        }
        .to_string();
        assert!(
            full.contains("others' it replaced only with CERT_ROTATOR_RETIRE_FOREIGN=true"),
            "{full}"
        );
    }
}
