//! Step 5, conclude: the domain's outcome once every target was tried, and an error that says
//! which targets lack the certificate and that the next run retries them.

use time::OffsetDateTime;
use tracing::warn;

use crate::config::RenewalPolicy;
use crate::deploy::{Certificate, Deployment, Failure};
use crate::event::DomainRequest;
use crate::plan::delivery::Origin;
use crate::report::{CertRef, DomainReport, Outcome, Serving};

/// Sets the outcome, the new certificate and its expiry, lifetime and renewal point from what
/// the deploy step did.
pub fn conclude(
    domain: &DomainRequest,
    certificate: &Certificate,
    (origin, done): (Origin, &Deployment),
    (policy, now): (&RenewalPolicy, OffsetDateTime),
    report: &mut DomainReport,
) {
    let new = origin == Origin::New;
    let changed = done.changed || new;
    if report.new_certificate.is_none() && changed {
        report.new_certificate = Some(CertRef {
            id: certificate.serial().unwrap_or_default().to_owned(),
            name: certificate.iam_name().to_owned(),
            not_after: certificate.not_after(),
        });
    }
    if !done.failures.is_empty() {
        warn!(domain = %domain.label(), failures = ?done.failures, "not deployed everywhere");
        report.outcome = Outcome::Failed;
        report.error = Some(failure_message(certificate, done));
        return;
    }
    report.outcome = match (new, done.changed) {
        (true, _) => Outcome::Renewed,
        (false, true) => Outcome::Deployed,
        (false, false) => Outcome::Kept,
    };
    if changed {
        if let Some(not_after) = certificate.not_after() {
            let serving = Serving {
                not_before: certificate.not_before(),
                not_after,
                window: None,
            };
            report.note_serving(serving, policy, now);
        }
    }
}

/// The error of a domain some targets of which lack the certificate. When only distributions
/// failed to swap to the IAM certificate, it is in IAM and the message says so.
fn failure_message(certificate: &Certificate, done: &Deployment) -> String {
    let failures = &done.failures;
    let joined = failures
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ");
    if done.uploaded.is_some() && failures.iter().all(|f| matches!(f, Failure::Swap { .. })) {
        return format!(
            "certificate {} uploaded, but not attached to {joined}; the next run retries",
            certificate.iam_name()
        );
    }
    match certificate.serial() {
        Some(serial) => format!(
            "certificate {} (serial {serial}) not deployed everywhere: {joined}; the next run retries",
            certificate.iam_name()
        ),
        None => format!(
            "certificate {} not deployed everywhere: {joined}; the next run retries",
            certificate.iam_name()
        ),
    }
}
