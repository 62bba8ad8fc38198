//! The failure memory around an order ([`crate::plan::backoff`] decides): before ordering, a
//! name set whose issuances failed waits out its backoff, or the CA's `Retry-After` under a rate
//! limit; after, a success forgets the failures and a failure is remembered with the time the
//! next order is allowed.
//!
//! Only what reached the CA counts: an order the CA refused or could not validate, DNS trouble
//! during it, a timeout, and a certificate the CA issued that then failed the check or could not
//! be archived (the next run would issue again). A failure before ordering (no account, no hosted
//! zone listing, an unreadable archive, a full IAM quota) and any failure after issuing (upload,
//! swap, ACM re-import: the archived certificate is deployed by the next run, not issued again)
//! leaves the memory alone.

use tracing::warn;

use super::{Context, DomainError};
use crate::acme::AcmeError;
use crate::deploy::Certificate;
use crate::event::DomainRequest;
use crate::plan::backoff::{self, Failure, Failures, Verdict};
use crate::ports::IssueError;
use crate::report::DomainReport;

/// Where the memory of `hash` is, for messages.
fn object(cx: &Context<'_>, hash: &str) -> String {
    format!(
        "s3://{}/{}",
        cx.config.archive.bucket,
        backoff::memory_key(hash)
    )
}

/// What is remembered of the name set `hash`, if it may be ordered now; otherwise why not.
/// A memory that cannot be read does not stop the order.
pub async fn before_ordering(
    cx: &Context<'_>,
    domain: &DomainRequest,
    hash: &str,
    report: &mut DomainReport,
) -> Result<Option<Failures>, DomainError> {
    let remembered = cx
        .ports
        .memory
        .failures(hash)
        .await
        .unwrap_or_else(|error| {
            warn!(domain = %domain.label(), %error, "cannot read the failure memory; ordering as if none");
            None
        });
    let expiry = report.days_to_expiry.map(|days_left| backoff::Expiry {
        days_left,
        lifetime_days: report.lifetime_days,
    });
    let verdict = backoff::may_order(remembered.as_ref(), domain.force, expiry, cx.now);
    match (verdict, remembered) {
        (
            Verdict::Wait {
                until,
                rate_limit: Some(limit),
            },
            _,
        ) => Err(DomainError::RateLimited {
            until,
            limit,
            object: object(cx, hash),
        }),
        (
            Verdict::Wait {
                until,
                rate_limit: None,
            },
            Some(r),
        ) => Err(DomainError::BackingOff {
            until,
            failures: r.failures,
            failed_at: r.failed_at,
            last_error: r.last_error,
            object: object(cx, hash),
        }),
        (Verdict::OrderDespite(why), remembered) => {
            warn!(domain = %domain.label(), %why, "ordering");
            report.warnings.push(why);
            Ok(remembered)
        }
        // A wait is always on something remembered.
        (_, remembered) => Ok(remembered),
    }
}

/// A dry run of a domain it would order for: whether the order would wait (its backoff, the CA's
/// rate limit), with `not_before` set and the reason among the warnings; nothing is written.
pub async fn in_dry_run(cx: &Context<'_>, domain: &DomainRequest, report: &mut DomainReport) {
    let hash = crate::model::inventory::names_hash(&domain.names);
    if let Err(waiting) = before_ordering(cx, domain, &hash, report).await {
        report.not_before = waiting.waits_until();
        report
            .warnings
            .push(format!("the order would wait: {waiting}"));
    }
}

/// Remembers how the order went: forgets the failures after a success, remembers a failure
/// that reached the CA (and sets the report's `not_before`); a rate limit with the CA's date
/// becomes [`DomainError::RateLimited`], which defers the domain instead of failing it.
pub async fn after_ordering(
    cx: &Context<'_>,
    (domain, hash): (&DomainRequest, &str),
    remembered: Option<Failures>,
    ordered: Result<Certificate, DomainError>,
    report: &mut DomainReport,
) -> Result<Certificate, DomainError> {
    let error = match ordered {
        Ok(certificate) => {
            if remembered.is_some() {
                if let Err(error) = cx.ports.memory.forget_failures(hash).await {
                    warn!(domain = %domain.label(), %error, "cannot clear the failure memory; the next order may wait needlessly");
                }
            }
            return Ok(certificate);
        }
        Err(error) => error,
    };
    let Some(failure) = failure_of(&error) else {
        return Err(error);
    };
    let names = super::names_of(domain);
    let next = backoff::after_failure(remembered.as_ref(), names, failure, cx.now);
    if let Err(e) = cx.ports.memory.remember_failures(hash, &next).await {
        warn!(domain = %domain.label(), error = %e, "cannot write the failure memory; the next run may order again at once");
    }
    match next.rate_limit {
        Some(limit) => Err(DomainError::RateLimited {
            until: next.not_before,
            limit,
            object: object(cx, hash),
        }),
        None => {
            report.not_before = Some(next.not_before);
            Err(error)
        }
    }
}

/// The failure to remember, if `error` came from asking the CA.
fn failure_of(error: &DomainError) -> Option<Failure> {
    match error {
        DomainError::Issue(IssueError::Acme(AcmeError::RateLimited { limit, .. })) => {
            Some(Failure::RateLimited {
                limit: limit.to_string(),
                retry_after: limit.retry_after,
            })
        }
        DomainError::Issue(IssueError::Acme(_) | IssueError::Deadline(_))
        | DomainError::Check(_)
        | DomainError::Archiving { .. } => Some(Failure::Error(error.to_string())),
        _ => None,
    }
}
