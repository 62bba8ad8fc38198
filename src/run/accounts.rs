//! One account's part of a run ([`run_in_account`]): the domains that deploy in it (a domain's
//! `account`, else the function's own), with that account's listing, IAM quota, pipelines,
//! retirement and inventory. The ACME account, the CA, the journal, the lease and the report are
//! the run's, shared by every account ([`Shared`]); [`merge`] puts the accounts' reports together.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use futures::stream::{self, StreamExt};
use time::OffsetDateTime;
use tokio::time::Instant;
use tracing::{info, warn};

use super::listing::{
    acm_regions, inventory_items, list_acm, list_inventory, observe_attached, soonest_first,
};
use super::world::{self, ArchiveIn, SourceFiles};
use super::{all_domains, retire, RunError};
use crate::aws::attempt;
use crate::aws::sts::{AssumeError, Sessions};
use crate::aws::Clients;
use crate::budget::Budget;
use crate::config::Config;
use crate::domain::windows::RememberingCa;
use crate::domain::{self, Context, Handled, Listing};
use crate::event::Request;
use crate::model::role::Role;
use crate::plan::quota::{self, IamSlots};
use crate::report::{AcmResult, DomainReport, Outcome, Report, Retirement, RetirementResult};

/// What every account's part of a run shares.
pub(super) struct Shared<'a> {
    pub(super) clients: &'a Clients,
    pub(super) config: &'a Config,
    pub(super) sessions: &'a Sessions,
    pub(super) ca: &'a RememberingCa<'a>,
    pub(super) files: &'a SourceFiles<'a>,
    pub(super) budget: Budget,
    /// Whether the run still holds its lease: every write checks it.
    pub(super) tenure: &'a super::lock::Tenure,
    pub(super) now: OffsetDateTime,
    pub(super) slots: tokio::sync::Semaphore,
}

/// The session in `role`'s account, asked once more after a failure that may pass (throttling,
/// an outage): every domain of the account waits on this one call.
async fn session(run: &Shared<'_>, role: &Role) -> Result<aws_config::SdkConfig, Arc<AssumeError>> {
    let what = format!("assuming {role}");
    let call = || run.sessions.config(role);
    attempt::once_more(&what, run.budget.remaining(), call, |e| e.lasting()).await
}

/// The request's domains by the account they deploy in, the function's own first (always, with
/// or without domains: its replaced certificates are retired and its inventory reported), then
/// the others in the order each first appears. `own[i]`: domain `i` deploys in the function's
/// account (no `account`, or a role in it). One role per account: the event's validation
/// refuses two.
pub(super) fn by_account(request: &Request, own: &[bool]) -> Vec<(Option<Role>, Request)> {
    let empty = || Request {
        domains: vec![],
        refused: vec![],
        accounts: vec![],
        ..request.clone()
    };
    let mut groups: Vec<(Option<Role>, Request)> = vec![(None, empty())];
    for (i, domain) in request.domains.iter().enumerate() {
        let role = domain
            .account
            .clone()
            .filter(|_| !own.get(i).copied().unwrap_or(true));
        let at = match groups.iter().position(|(r, _)| r == &role) {
            Some(at) => at,
            None => {
                groups.push((role, empty()));
                groups.len() - 1
            }
        };
        groups[at].1.domains.push(domain.clone());
    }
    groups
}

/// The accounts' reports in one, with the domains failed before any account took them, in the
/// event's order.
pub(super) fn merge(
    report: &mut Report,
    (request, failed): (&Request, Vec<DomainReport>),
    parts: Vec<Report>,
) {
    let mut domains = failed;
    let mut errors: Vec<String> = report.error.take().into_iter().collect();
    for part in parts {
        domains.extend(part.domains);
        report.retired.extend(part.retired);
        report.archive_pruned.extend(part.archive_pruned);
        report.inventory.extend(part.inventory);
        errors.extend(part.error);
    }
    let position = |d: &DomainReport| {
        request
            .domains
            .iter()
            .position(|r| domain::names_of(r) == d.names)
            .unwrap_or(usize::MAX)
    };
    domains.sort_by_key(position);
    report.domains = domains;
    soonest_first(&mut report.inventory);
    report.error = (!errors.is_empty()).then(|| errors.join("; "));
}

/// One account's part of the run: its listing, its domains' pipelines, its retirement and
/// inventory, each labelled with the account when it is not the function's own. A role that
/// cannot be assumed fails this account's domains alone.
pub(super) async fn run_in_account(
    run: &Shared<'_>,
    (role, request): (Option<&Role>, &Request),
    report: &mut Report,
) {
    let Shared {
        clients, config, ..
    } = *run;
    let assumed;
    let clients = match role {
        None => clients,
        Some(role) => match session(run, role).await {
            Ok(session) => {
                assumed = clients.in_account(&session, role);
                &assumed
            }
            Err(e) => {
                let why = format!("not attempted in the domain's account: {e}");
                report.domains = all_domains(request, Outcome::Failed, Some(&why));
                label(report, Some(role.account().to_owned()));
                return;
            }
        },
    };
    let iam_slots = if request.dry_run {
        IamSlots::unknown()
    } else {
        iam_slots((run, clients), request, report).await
    };
    let inventory = match list_inventory(clients).await {
        Ok(inventory) => inventory,
        Err(e) => {
            report.error = Some(RunError::Listing(e).to_string());
            let why = "not attempted: the inventory could not be listed";
            report.domains = all_domains(request, Outcome::Failed, Some(why));
            label(report, clients.account());
            return;
        }
    };
    let at_once = config.limits.listing_concurrency;
    let acm = list_acm(clients, &acm_regions(config, request), at_once).await;
    let archive = ArchiveIn::new(clients);
    let account = clients.account();
    let writers = world::Guarded::new(clients, account.as_deref(), run.tenure);
    let ports = world::ports((clients, &writers, &archive), run.files, run.ca);
    let ari = (config.policy.use_ari, config.concurrency);
    let attached = observe_attached(ports, &inventory, request, ari).await;
    let listing = Listing {
        inventory,
        attached,
        acm,
        iam_slots,
    };
    let (budget, now) = (run.budget, run.now);
    let cx = Context {
        ports,
        listing: &listing,
        config,
        partition: clients.partition,
        now,
        budget,
        dry_run: request.dry_run,
    };
    // Domains still running when only the wrap-up time is left are stopped where they are: the
    // next run repairs what a stopped domain left, as it repairs a killed run.
    let stop_at = budget.deadline() - config.limits.wrap_up.min(budget.remaining());
    let handled: Vec<Handled> = stream::iter(request.domains.iter())
        .map(|domain| {
            let cx = &cx;
            async move {
                let _slot = run.slots.acquire().await;
                domain::handle_until(cx, domain, stop_at).await
            }
        })
        .buffered(config.concurrency.max(1))
        .collect()
        .await;
    let out_of_time = budget.remaining() < config.limits.wrap_up / 2;
    // The wrap-up — retirement, pruning, the ACM listing — ends in time for the run to release
    // its lease and report.
    let limits = retire::Limits {
        tenure: run.tenure,
        until: budget.deadline() - config.limits.release.min(budget.remaining()),
    };
    conclude_run(
        (clients, config, limits),
        (request, &listing),
        handled,
        (now, out_of_time),
        report,
    )
    .await;
    label(report, clients.account());
}

/// Marks a part's domains and inventory with the account they are in (`None`: the function's).
fn label(report: &mut Report, account: Option<String>) {
    if account.is_none() {
        return;
    }
    for d in &mut report.domains {
        d.account.clone_from(&account);
    }
    for i in &mut report.inventory {
        i.account.clone_from(&account);
    }
    for r in report.retired.iter_mut().chain(&mut report.archive_pruned) {
        r.account.clone_from(&account);
    }
}

/// The free slots of IAM's server-certificate quota; when fewer than the domains, superseded
/// certificates are retired first ([`plan::quota`](crate::plan::quota)). A quota that cannot be
/// read refuses nothing: an upload beyond it still fails, with `LimitExceeded`.
async fn iam_slots(
    (run, clients): (&Shared<'_>, &Clients),
    request: &Request,
    report: &mut Report,
) -> IamSlots {
    let config = run.config;
    let usage = match clients.iam.server_certificate_quota().await {
        Ok(usage) => usage,
        Err(e) => {
            warn!(error = %e, "cannot read IAM's server certificate quota; not checked this run");
            return IamSlots::unknown();
        }
    };
    let slots = IamSlots::new(usage.used.into(), usage.quota.into());
    if !quota::retire_first(slots.free(), request.domains.len()) {
        return slots;
    }
    info!(
        used = usage.used,
        quota = usage.quota,
        "IAM's server certificate quota is nearly full; retiring superseded certificates first"
    );
    let policy = retire::RetirePolicy::of(config, clients);
    let limits = retire::Limits {
        tenure: run.tenure,
        until: Instant::now() + config.limits.pre_retirement.min(run.budget.remaining() / 4),
    };
    let scope = (&policy, retire::Scope::Superseded, limits);
    let swapped = (&HashMap::new(), &HashSet::new());
    let (retired, _) = retire::retire(clients, scope, swapped, &HashSet::new()).await;
    fail_on_unknown_load_balancers(&retired, report);
    let freed = retired
        .iter()
        .filter(|r| r.result == RetirementResult::Deleted)
        .count();
    slots.release(i64::try_from(freed).unwrap_or(0));
    report.retired.extend(retired);
    slots
}

/// A run that kept IAM certificates because the load balancers could not be listed fails, with
/// what to do: a quiet keep would fill IAM's quota unseen.
fn fail_on_unknown_load_balancers(retired: &[Retirement], report: &mut Report) {
    let why = retired.iter().find_map(|r| match &r.result {
        RetirementResult::KeptLoadBalancersUnknown(why) => Some(why),
        _ => None,
    });
    if let Some(why) = why {
        let error = format!("replaced IAM certificates were kept: {why}");
        report.error = Some(match report.error.take() {
            Some(other) => format!("{other}; {error}"),
            None => error,
        });
    }
}

/// Gathers the domains' reports, retires what they swapped away from, lists the inventory.
async fn conclude_run(
    (clients, config, limits): (&Clients, &Config, retire::Limits<'_>),
    (request, listing): (&Request, &Listing),
    handled: Vec<Handled>,
    (now, out_of_time): (OffsetDateTime, bool),
    report: &mut Report,
) {
    let mut swapped_off: HashMap<String, Vec<String>> = HashMap::new();
    let mut uploaded: HashSet<String> = HashSet::new();
    for h in handled {
        if let Some(new) = &h.report.new_certificate {
            uploaded.insert(new.id.clone());
        }
        for off in h.swapped_off {
            swapped_off
                .entry(off.certificate)
                .or_default()
                .push(off.distribution);
        }
        report.domains.push(h.report);
    }
    let imported: Vec<String> = report
        .domains
        .iter()
        .flat_map(|d| d.acm.iter())
        .filter(|a| a.result != AcmResult::Unchanged)
        .map(|a| a.region.clone())
        .collect::<HashSet<_>>()
        .into_iter()
        .collect();
    let fresh = if request.dry_run {
        None
    } else if out_of_time {
        report
            .retired
            .push(Retirement::of_all(retire::out_of_time()));
        None
    } else {
        crate::failpoint::hit("before-retirement");
        let policy = retire::RetirePolicy::of(config, clients);
        let scope = (&policy, retire::Scope::AfterSwaps, limits);
        // Distributions Deployed when the run started: earlier runs' swaps of them are settled.
        let deployed: HashSet<String> = listing
            .inventory
            .distributions
            .iter()
            .filter(|d| d.status == "Deployed")
            .map(|d| d.id.clone())
            .collect();
        let swapped = (&swapped_off, &deployed);
        let (retired, mut fresh) = retire::retire(clients, scope, swapped, &uploaded).await;
        fail_on_unknown_load_balancers(&retired, report);
        // The listing predates the deletions: what was retired is no longer in the inventory.
        if let Some(fresh) = &mut fresh {
            fresh
                .certificates
                .retain(|c| !retired.iter().any(|r| r.name == c.name && r.result.gone()));
        }
        report.retired.extend(retired);
        if let Some(iam) = &fresh {
            let keep_days = config.limits.archive_keep_days;
            let pruning = retire::prune_archive(clients, iam, keep_days, now);
            report.archive_pruned = retire::within(limits.until, pruning)
                .await
                .unwrap_or_else(|| vec![Retirement::of("archive/*", retire::out_of_time())]);
        }
        fresh
    };
    // The inventory: IAM as listed last, ACM listed again where this run imported.
    let mut acm = listing.acm.clone();
    if !out_of_time {
        let at_once = config.limits.listing_concurrency;
        let listing = list_acm(clients, &imported, at_once);
        acm.extend(
            retire::within(limits.until, listing)
                .await
                .unwrap_or_default(),
        );
    }
    let iam = fresh.as_ref().unwrap_or(&listing.inventory);
    report.inventory = inventory_items(iam, &acm, now);
}
