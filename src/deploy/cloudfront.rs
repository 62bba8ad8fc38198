//! Pointing CloudFront distributions at a certificate, safely: each attempt reads the config and
//! its ETag together and writes with `IfMatch`; a stale ETag is read again; a change still
//! deploying is waited for, within the invocation's budget and the [`Limits`].

use tracing::{info, warn};

use super::{Deployment, Failure, SwappedOff};
use crate::aws::cloudfront::{Swap, ViewerCert};
use crate::budget::Budget;
use crate::config::Limits;
use crate::model::inventory::{self, TAG_REPLACED_BY};
use crate::plan::{Attached, Observed};
use crate::ports::{Distributions, ServerCertificates};
use crate::report::{DistributionChange, DomainReport, SwapResult};

/// Points `distribution` at `target`: re-reads on a stale ETag, waits for `Deployed` on a change
/// still deploying; all within `budget`.
///
/// Right after an upload CloudFront may not know an IAM certificate yet and answers
/// `InvalidViewerCertificate`: IAM is eventually consistent
/// (<https://docs.aws.amazon.com/IAM/latest/UserGuide/troubleshoot_general.html#troubleshoot_general_eventual-consistency>;
/// Terraform's AWS provider retries it for that reason). That answer is tried again every few
/// seconds for [`Limits::iam_settle`] before the swap fails with CloudFront's message.
pub async fn swap_with_retry(
    cloudfront: &dyn Distributions,
    distribution: &str,
    target: &ViewerCert,
    budget: Budget,
    limits: &Limits,
) -> SwapResult {
    const SETTLE_PAUSE: std::time::Duration = std::time::Duration::from_secs(3);
    let mut attempts = 0;
    let mut settle_until = None;
    while attempts < limits.swap_attempts {
        match cloudfront.swap(distribution, target).await {
            Ok(Swap::Done) => return SwapResult::Updated,
            Ok(Swap::Unchanged) => return SwapResult::Unchanged,
            Ok(Swap::Stale) => attempts += 1,
            Ok(Swap::Busy(why)) => {
                attempts += 1;
                let wait = budget.remaining().saturating_sub(limits.swap_margin);
                if wait < limits.swap_wait_at_least {
                    return SwapResult::Failed(format!(
                        "still deploying a previous change ({why}); the next run retries"
                    ));
                }
                if let Err(e) = cloudfront
                    .wait_deployed(distribution, wait.min(limits.swap_wait))
                    .await
                {
                    return SwapResult::Failed(format!(
                        "waiting for the previous change to deploy: {e}"
                    ));
                }
            }
            Err(e)
                if e.code == "InvalidViewerCertificate" && matches!(target, ViewerCert::Iam(_)) =>
            {
                let until = *settle_until
                    .get_or_insert_with(|| tokio::time::Instant::now() + limits.iam_settle);
                let room = budget.remaining() > limits.swap_margin + SETTLE_PAUSE;
                if tokio::time::Instant::now() + SETTLE_PAUSE > until || !room {
                    return SwapResult::Failed(format!(
                        "{e} (still refused after {} s: IAM may not have propagated the certificate yet; the next run retries)",
                        limits.iam_settle.as_secs()
                    ));
                }
                warn!(%distribution, "CloudFront does not know the new certificate yet (IAM is eventually consistent); trying again");
                tokio::time::sleep(SETTLE_PAUSE).await;
            }
            Err(e) => return SwapResult::Failed(e.to_string()),
        }
    }
    SwapResult::Failed(format!(
        "the distribution kept changing under us ({} attempts); the next run retries",
        limits.swap_attempts
    ))
}

/// Tags someone else's IAM certificate `name` as replaced by `by`: only then may a later run
/// retire it once nothing references it. A failure keeps it (logged).
pub async fn mark_replaced(iam: &dyn ServerCertificates, name: &str, by: &str) {
    if inventory::managed_hash(name).is_some() {
        return; // ours already
    }
    let tag = [(TAG_REPLACED_BY.to_owned(), by.to_owned())];
    if let Err(e) = iam.tag(name, &tag).await {
        warn!(certificate = %name, error = %e, "could not tag the replaced certificate; it will be kept");
    }
}

/// CloudFront through the global region's ACM certificate: points each distribution serving the
/// names at `arn` once; an IAM certificate swapped away from is retired once nothing uses it.
pub async fn point_at_acm(
    iam: &dyn ServerCertificates,
    cloudfront: &dyn Distributions,
    observed: &[Observed],
    arn: &str,
    (budget, limits): (Budget, &Limits),
    report: &mut DomainReport,
    done: &mut Deployment,
) {
    for o in observed {
        if !o.uncovered.is_empty() {
            report.warnings.push(format!(
                "{} left alone: it also serves {}, which these names do not cover",
                o.distribution,
                o.uncovered.join(", ")
            ));
            continue;
        }
        let from = match &o.attached {
            Attached::Acm(a) if a == arn => continue,
            Attached::Cert(c) => Some(c.id.clone()),
            Attached::Unreadable { id, .. } => Some(id.clone()),
            Attached::Acm(a) => Some(a.clone()),
            Attached::None => None,
        };
        let target = ViewerCert::Acm(arn.to_owned());
        let result = swap_with_retry(cloudfront, &o.distribution, &target, budget, limits).await;
        info!(distribution = %o.distribution, certificate = %arn, %result, "swap");
        match &result {
            SwapResult::Updated => {
                done.changed = true;
                if let Attached::Cert(c) = &o.attached {
                    done.swapped_off.push(SwappedOff {
                        certificate: c.id.clone(),
                        distribution: o.distribution.clone(),
                    });
                    mark_replaced(iam, &c.name, arn).await;
                }
            }
            SwapResult::Unchanged => {}
            SwapResult::Failed(why) => done.failures.push(Failure::Swap {
                distribution: o.distribution.clone(),
                why: why.clone(),
            }),
        }
        report.distributions.push(DistributionChange {
            id: o.distribution.clone(),
            from,
            to: arn.to_owned(),
            result,
        });
    }
}
