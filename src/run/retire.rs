//! Retirement at the end of a run: deletes the IAM certificates the rule in
//! [`crate::plan::retirement`] allows, from a listing taken after the swaps, and reports why each
//! of the others was kept.
//!
//! Before the first deletion of a run it lists the load balancer listeners of the configured
//! regions (once); a certificate one of them serves is kept, and so is every certificate when
//! that listing fails — an error of the run, with what to do, not a quiet keep. Someone else's
//! certificate a load balancer serves loses the `replaced-by` tag cert-rotator gave it; one kept
//! only because retiring others' certificates is not opted into keeps it, so that the opt-in
//! retires it later.
//!
//! A certificate is kept while any distribution swapped away from it — by this run or, as noted
//! in the archive bucket ([`swaps`]), by an earlier one — is not `Deployed` (an earlier run's
//! swap is settled once its distribution was seen `Deployed`, at this run's start or now). Every call is made
//! before `until` (the end of the run's wrap-up): what does not fit is reported as skipped. Each
//! deletion is made only while the run holds its lease.

use std::collections::HashSet;

use time::OffsetDateTime;
use tokio::time::Instant;
use tracing::{info, warn};

use super::listing::list_inventory;
use super::lock::Tenure;
use super::swaps;
use crate::aws::elb::ListenerUse;
use crate::aws::iam::Deletion;
use crate::aws::Clients;
use crate::model::inventory::{Inventory, TAG_REPLACED_BY};
use crate::plan::pruning;
use crate::plan::retirement::{self, Verdict};
use crate::report::{Retirement, RetirementResult};

/// How retirement is configured.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetirePolicy {
    /// The regions whose load balancer listeners are checked before a deletion (`Err`: why
    /// they are not known, and what to set).
    pub elb_regions: Result<Vec<String>, String>,
    /// Whether certificates cert-rotator did not upload are deleted once unused.
    pub retire_foreign: bool,
}

impl RetirePolicy {
    /// The configuration's policy for the account of `clients`.
    pub fn of(config: &crate::config::Config, clients: &Clients) -> Self {
        Self {
            elb_regions: config.elb_regions_for(&clients.region, clients.partition),
            retire_foreign: config.retirement.retire_foreign,
        }
    }
}

/// One retirement's limits: the run's lease, and when the wrap-up ends.
#[derive(Debug, Clone, Copy)]
pub struct Limits<'a> {
    /// Every deletion is made only while it holds.
    pub tenure: &'a Tenure,
    /// No call is started or waited for past this.
    pub until: Instant,
}

/// `call`'s result, or `None` when `until` comes first.
pub(super) async fn within<T>(
    until: Instant,
    call: impl std::future::Future<Output = T>,
) -> Option<T> {
    tokio::time::timeout_at(until, call).await.ok()
}

/// What a retirement that ran out of time reports.
pub(super) fn out_of_time() -> RetirementResult {
    RetirementResult::Skipped(
        "the invocation's wrap-up time ran out; the next run retires".to_owned(),
    )
}

/// The IAM certificates the listeners of `regions` serve; `Err`: why they are unknown, and
/// what to do about it.
async fn listeners(
    clients: &Clients,
    regions: &Result<Vec<String>, String>,
    until: Instant,
) -> Result<Vec<ListenerUse>, String> {
    let regions = regions.as_ref().map_err(Clone::clone)?;
    let listing = futures::future::join_all(
        regions
            .iter()
            .map(|r| clients.elb.iam_certificates_in_use(r)),
    );
    let Some(listed) = within(until, listing).await else {
        return Err(format!(
            "the load balancers of {} did not answer before the run's wrap-up ended",
            regions.join(", ")
        ));
    };
    let mut uses = Vec::new();
    for (region, result) in regions.iter().zip(listed) {
        uses.extend(result.map_err(|e| {
            format!("listing the load balancers of {region}: {e} — until they can be listed no IAM certificate of this account is retired: grant the template's ELB read actions, or drop {region} from ElbRegions (CERT_ROTATOR_ELB_REGIONS) if this account has no load balancers there")
        })?);
    }
    Ok(uses)
}

/// Which certificates a retirement looks at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// After the domains ran: every unreferenced candidate.
    AfterSwaps,
    /// Before the domains run, to free IAM quota: only certificates a later one superseded
    /// ([`retirement::superseded`]), never one a dead run uploaded for this run to deploy.
    Superseded,
}

/// Retires what may be retired; returns what it did and the listing it judged by.
pub async fn retire(
    clients: &Clients,
    (policy, scope, limits): (&RetirePolicy, Scope, Limits<'_>),
    (swapped_off, deployed_at_start): (&retirement::Swaps, &HashSet<String>),
    uploaded: &HashSet<String>,
) -> (Vec<Retirement>, Option<Inventory>) {
    let until = limits.until;
    let not_attempted = |result| (vec![Retirement::of_all(result)], None);
    let account = clients.account();
    let listed = within(until, async {
        let fresh = list_inventory(clients).await?;
        let noted = swaps::noted(&clients.s3, account.as_deref()).await?;
        Ok::<_, crate::aws::AwsError>((fresh, noted))
    });
    let (fresh, noted) = match listed.await {
        None => return not_attempted(out_of_time()),
        Some(Err(e)) => return not_attempted(RetirementResult::NotAttempted(e.to_string())),
        Some(Ok(listed)) => listed,
    };
    // This run's swaps and earlier runs' notes not settled since: a certificate is kept until
    // each of those distributions is Deployed.
    let (swapped, settled) = retirement::unsettled_swaps(&noted, swapped_off, deployed_at_start);
    let mut out = Vec::new();
    // Listed on the first deletion, at most once per run.
    let mut in_use: Option<Result<Vec<ListenerUse>, String>> = None;
    for cert in retirement::candidates(&fresh, uploaded) {
        if scope == Scope::Superseded && !retirement::superseded(&fresh, cert) {
            continue;
        }
        if Instant::now() >= until {
            out.push(Retirement::of_all(out_of_time()));
            break;
        }
        let deploying = retirement::still_deploying(&fresh, &swapped, &cert.id);
        let tags = match within(until, clients.iam.tags(&cert.name)).await {
            Some(Ok(tags)) => tags,
            found => {
                let why = found.map_or_else(
                    || "out of time".to_owned(),
                    |e| e.err().map(|e| e.to_string()).unwrap_or_default(),
                );
                out.push(Retirement::of(
                    &cert.name,
                    RetirementResult::KeptUnknownTags(why),
                ));
                continue;
            }
        };
        let mut verdict = retirement::verdict(&tags, deploying, policy.retire_foreign);
        if verdict == Verdict::Delete {
            if in_use.is_none() {
                in_use = Some(listeners(clients, &policy.elb_regions, until).await);
            }
            let listed = in_use
                .as_ref()
                .map_or(Err("not listed"), |r| r.as_deref().map_err(String::as_str));
            verdict = retirement::before_delete(&cert.arn, listed);
        }
        let foreign = !retirement::uploaded_by_us(&tags);
        let untag = foreign && verdict.keeps_for_good();
        let mut result = match verdict {
            Verdict::LeaveAlone => continue, // never touch what we neither uploaded nor replaced
            Verdict::Wait { deploying } => RetirementResult::KeptDeploying(deploying),
            Verdict::KeepForeign => RetirementResult::KeptForeign,
            Verdict::InUseByLoadBalancer(using) => RetirementResult::KeptByLoadBalancer {
                using: using.to_string(),
                foreign,
            },
            Verdict::LoadBalancersUnknown(why) => RetirementResult::KeptLoadBalancersUnknown(why),
            Verdict::Delete => match limits.tenure.check() {
                Err(lost) => RetirementResult::KeptError(lost.to_string()),
                Ok(()) => match within(until, clients.iam.delete(&cert.name)).await {
                    None => out_of_time(),
                    Some(Ok(Deletion::Deleted)) => RetirementResult::Deleted,
                    Some(Ok(Deletion::Gone)) => RetirementResult::AlreadyGone,
                    Some(Ok(Deletion::InUse(why))) => RetirementResult::KeptInUse(why),
                    Some(Err(e)) => RetirementResult::KeptError(e.to_string()),
                },
            },
        };
        // In use by a load balancer and not ours: the tag that marked it for retirement goes.
        if untag && tags.iter().any(|(k, _)| k == TAG_REPLACED_BY) {
            if let Err(e) = clients.iam.untag(&cert.name, &[TAG_REPLACED_BY]).await {
                warn!(certificate = %cert.name, error = %e, "untag");
                let kept = result.to_string();
                result = RetirementResult::KeptError(format!(
                    "{}; removing its {TAG_REPLACED_BY} tag failed: {e}",
                    kept.trim_start_matches("kept: ")
                ));
            }
        }
        info!(certificate = %cert.name, %result, "retire");
        out.push(Retirement::of(&cert.name, result));
    }
    forget_settled(clients, (&fresh, &out), (&noted, &settled), until).await;
    (out, Some(fresh))
}

/// Forgets the swap notes that keep nothing any more: their distribution is `Deployed` or
/// gone, or was Deployed when the run started (`settled`), or their certificate is gone (deleted
/// now, or no longer in IAM). A note that cannot be deleted now is tried again by the next run.
async fn forget_settled(
    clients: &Clients,
    (fresh, retired): (&Inventory, &[Retirement]),
    (noted, settled): (&retirement::Swaps, &[(String, String)]),
    until: Instant,
) {
    let account = clients.account();
    for (certificate, distributions) in noted {
        let cert_gone = !fresh.certificates.iter().any(|c| {
            &c.id == certificate && !retired.iter().any(|r| r.name == c.name && r.result.gone())
        });
        for distribution in distributions {
            let deployed = fresh
                .distributions
                .iter()
                .find(|d| &d.id == distribution)
                .is_none_or(|d| d.status == "Deployed");
            let since = settled
                .iter()
                .any(|(c, d)| c == certificate && d == distribution);
            if !(cert_gone || deployed || since) {
                continue;
            }
            let forget =
                swaps::forget(&clients.s3, account.as_deref(), (certificate, distribution));
            match within(until, forget).await {
                Some(Ok(())) => {}
                Some(Err(e)) => {
                    warn!(%certificate, %distribution, error = %e, "could not forget a swap note; the next run tries again")
                }
                None => return,
            }
        }
    }
}

/// Deletes the archived bundles [`pruning::prunable`] names, judged by `iam` (listed after the
/// retirement); reports each, or why the archive could not be listed.
pub async fn prune_archive(
    clients: &Clients,
    iam: &Inventory,
    keep_days: u32,
    now: OffsetDateTime,
) -> Vec<Retirement> {
    if keep_days == 0 {
        return vec![];
    }
    let keys = match clients.s3.keys("archive/").await {
        Ok(keys) => keys,
        Err(e) => {
            warn!(error = %e, "cannot list the archive; old bundles are pruned on a later run");
            return vec![Retirement {
                name: "archive/*".into(),
                result: RetirementResult::NotAttempted(e.to_string()),
                account: None,
            }];
        }
    };
    let in_iam: HashSet<&str> = iam.certificates.iter().map(|c| c.name.as_str()).collect();
    let mut out = Vec::new();
    let account = clients.account();
    for key in pruning::prunable(&keys, account.as_deref(), &in_iam, keep_days, now) {
        let result = match clients.s3.delete(key).await {
            Ok(()) => RetirementResult::Deleted,
            Err(e) => RetirementResult::KeptError(e.to_string()),
        };
        info!(%key, %result, "prune the archive");
        out.push(Retirement {
            name: key.to_owned(),
            result,
            account: None,
        });
    }
    out
}
