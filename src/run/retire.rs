//! Retirement at the end of a run: deletes the IAM certificates the rule in
//! [`crate::plan::retirement`] allows, from a listing taken after the swaps, and reports why each
//! of the others was kept.
//!
//! Before the first deletion of a run it lists the load balancer listeners of the configured
//! regions (once); a certificate one of them serves is kept, and so is every certificate when
//! that listing fails. Someone else's certificate kept for good loses the `replaced-by` tag
//! cert-rotator gave it.

use std::collections::{HashMap, HashSet};

use time::OffsetDateTime;
use tracing::{info, warn};

use super::listing::list_inventory;
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
    /// The regions whose load balancer listeners are checked before a deletion.
    pub elb_regions: Vec<String>,
    /// Whether certificates cert-rotator did not upload are deleted once unused.
    pub retire_foreign: bool,
}

/// The IAM certificates the listeners of `regions` serve; `Err`: why they are unknown.
async fn listeners(clients: &Clients, regions: &[String]) -> Result<Vec<ListenerUse>, String> {
    let listed = futures::future::join_all(
        regions
            .iter()
            .map(|r| clients.elb.iam_certificates_in_use(r)),
    )
    .await;
    let mut uses = Vec::new();
    for (region, result) in regions.iter().zip(listed) {
        uses.extend(result.map_err(|e| format!("listing the load balancers of {region}: {e}"))?);
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
    (policy, scope): (&RetirePolicy, Scope),
    swapped_off: &HashMap<String, Vec<String>>,
    uploaded: &HashSet<String>,
) -> (Vec<Retirement>, Option<Inventory>) {
    let fresh = match list_inventory(clients).await {
        Ok(inventory) => inventory,
        Err(e) => {
            let failed = Retirement {
                name: "*".into(),
                result: RetirementResult::NotAttempted(e.to_string()),
                account: None,
            };
            return (vec![failed], None);
        }
    };
    let mut out = Vec::new();
    // Listed on the first deletion, at most once per run.
    let mut in_use: Option<Result<Vec<ListenerUse>, String>> = None;
    for cert in retirement::candidates(&fresh, uploaded) {
        if scope == Scope::Superseded && !retirement::superseded(&fresh, cert) {
            continue;
        }
        let deploying = retirement::still_deploying(&fresh, swapped_off, &cert.id);
        let tags = match clients.iam.tags(&cert.name).await {
            Ok(tags) => tags,
            Err(e) => {
                out.push(Retirement {
                    name: cert.name.clone(),
                    result: RetirementResult::KeptUnknownTags(e.to_string()),
                    account: None,
                });
                continue;
            }
        };
        let mut verdict = retirement::verdict(&tags, deploying, policy.retire_foreign);
        if verdict == Verdict::Delete {
            if in_use.is_none() {
                in_use = Some(listeners(clients, &policy.elb_regions).await);
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
            Verdict::Delete => match clients.iam.delete(&cert.name).await {
                Ok(Deletion::Deleted) => RetirementResult::Deleted,
                Ok(Deletion::Gone) => RetirementResult::AlreadyGone,
                Ok(Deletion::InUse(why)) => RetirementResult::KeptInUse(why),
                Err(e) => RetirementResult::KeptError(e.to_string()),
            },
        };
        // Kept for good and not ours: the tag that marked it for retirement goes again.
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
        out.push(Retirement {
            name: cert.name.clone(),
            result,
            account: None,
        });
    }
    (out, Some(fresh))
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
