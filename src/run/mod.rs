//! A run: lease, listings, the fan-out over domains, retirement, the report.
//!
//! 1. Take the lease ([`lock`]; not for a dry run).
//! 2. List once ([`listing`]): IAM certificates under `/cloudfront/`, every distribution, the
//!    certificate attached to each distribution serving a requested name (with the CA's renewal
//!    window), cert-rotator's ACM certificates in every region the domains name.
//! 3. Remove the challenge records of runs that died.
//! 4. Run each domain's pipeline ([`crate::domain`]), concurrently (bounded).
//! 5. Retire replaced certificates that nothing references any more ([`retire`]).
//! 6. Release the lease and report, with the inventory and its days left.
//!
//! One domain's failure is reported and never stops the others. No renewal starts with less than
//! `CERT_ROTATOR_MIN_RENEWAL_SECONDS` left before the deadline; those domains are deferred.

pub mod listing;
pub mod lock;
pub mod memory;
pub mod retire;
pub mod world;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use futures::stream::{self, StreamExt};
use instant_acme::Account;
use time::OffsetDateTime;
use tokio::time::Instant;
use tracing::{info, warn};

use self::listing::{
    acm_regions, inventory_items, list_acm, list_inventory, observe_attached, soonest_first,
};
use self::lock::Acquire;
use self::world::{AcmeCa, ArchiveIn, RecoveryError, SourceFiles};
use crate::acme::account::{self, AccountError};
use crate::aws::sts::Sessions;
use crate::aws::{AwsError, Clients};
use crate::budget::Budget;
use crate::config::Config;
use crate::domain::windows::RememberingCa;
use crate::domain::{self, Context, Handled, Listing};
use crate::event::Request;
use crate::model::role::Role;
use crate::plan::quota::{self, IamSlots};
use crate::report::{
    AcmResult, DomainReport, InventoryItem, LockState, Outcome, Report, Retirement,
    RetirementResult,
};

/// Why a run as a whole could not do something (each domain's failures are its own).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RunError {
    /// The lease could not be taken.
    #[error(
        "cannot take the run lock in s3://{bucket}/{}: {source}",
        lock::LOCK_KEY
    )]
    Lock {
        /// The bucket.
        bucket: String,
        /// S3's error.
        #[source]
        source: AwsError,
    },
    /// The certificates and distributions could not be listed.
    #[error("listing certificates and distributions: {0}")]
    Listing(#[source] AwsError),
    /// The challenge records of killed runs could not be removed.
    #[error("removing challenge records a killed run left: {0}")]
    Recovery(#[source] RecoveryError),
}

/// The report of a run before anything happened.
fn report_for(clients: &Clients, run_id: &str, dry_run: bool) -> Report {
    Report {
        run_id: run_id.to_owned(),
        partition: clients.partition.to_string(),
        region: clients.region.clone(),
        dry_run,
        lock: LockState::NotNeeded,
        account: None,
        domains: vec![],
        retired: vec![],
        archive_pruned: vec![],
        inventory: vec![],
        inventory_only: false,
        error: None,
    }
}

/// Every domain of `request` with the same outcome and error (nothing was attempted).
fn all_domains(request: &Request, outcome: Outcome, error: Option<&str>) -> Vec<DomainReport> {
    request
        .domains
        .iter()
        .map(|d| {
            let mut r = DomainReport::new(domain::names_of(d), outcome);
            r.error = error.map(str::to_owned);
            r
        })
        .collect()
}

/// Runs `request` until `deadline`.
pub async fn run(
    clients: &Clients,
    config: &Config,
    request: &Request,
    run_id: &str,
    deadline: Instant,
) -> Report {
    let now = OffsetDateTime::now_utc();
    let mut report = report_for(clients, run_id, request.dry_run);
    let lease = if request.dry_run {
        None
    } else {
        match lock::acquire(&clients.s3, run_id, config.lock_seconds, now).await {
            Ok(Acquire::Held(lease)) => {
                report.lock = LockState::Held;
                Some(lease)
            }
            Ok(Acquire::Busy { owner, expires_at }) => {
                info!(%owner, %expires_at, "another run holds the lock; nothing to do");
                report.lock = LockState::Busy { owner, expires_at };
                report.domains = all_domains(request, Outcome::Locked, None);
                return report;
            }
            Err(source) => {
                let bucket = clients.s3.bucket().to_owned();
                report.error = Some(RunError::Lock { bucket, source }.to_string());
                let why = "not attempted: the run lock could not be taken";
                report.domains = all_domains(request, Outcome::Failed, Some(why));
                return report;
            }
        }
    };
    let budget = Budget::until(deadline);
    let work = run_locked((clients, config), request, budget, now, &mut report);
    match lease {
        None => work.await,
        Some(mut lease) => {
            renewing(&clients.s3, &mut lease, config.lock_seconds, work).await;
            if let Err(e) = lock::release(&clients.s3, &lease).await {
                warn!(error = %e, "could not release the run lock; it expires by itself");
            }
        }
    }
    report
}

/// Runs `work` while renewing `lease` every third of its `seconds`, so a run longer than its
/// lease keeps it; a lease another run took over (after it expired) is not renewed again.
async fn renewing(
    s3: &crate::aws::s3::S3,
    lease: &mut lock::Lease,
    seconds: u64,
    work: impl std::future::Future<Output = ()>,
) {
    let period = std::time::Duration::from_millis(seconds.saturating_mul(1000) / 3)
        .max(std::time::Duration::from_millis(500));
    let keep = async {
        loop {
            tokio::time::sleep(period).await;
            match lock::renew(s3, lease, seconds, OffsetDateTime::now_utc()).await {
                Ok(true) => {}
                Ok(false) => {
                    warn!("the run lock was taken over by another run; no longer renewing it");
                    return;
                }
                Err(e) => warn!(error = %e, "could not renew the run lock; retrying"),
            }
        }
    };
    tokio::pin!(work, keep);
    let mut keeping = true;
    loop {
        tokio::select! {
            () = &mut work => return,
            () = &mut keep, if keeping => keeping = false,
        }
    }
}

/// Steps 2–6 of the module documentation, under the lease: the ACME account, the CA and the
/// challenge journal once; then, in each account the domains deploy in (their `account`, else the
/// function's), concurrently, listing, pipelines and retirement ([`run_in_account`]).
async fn run_locked(
    (clients, config): (&Clients, &Config),
    request: &Request,
    budget: Budget,
    now: OffsetDateTime,
    report: &mut Report,
) {
    let account = open_account(clients, config, (request.dry_run, budget), report).await;
    let run_id = report.run_id.clone();
    let sessions = Sessions::new(&clients.sdk, clients.partition, &run_id);
    let acme = AcmeCa::new((clients, config, &sessions), &run_id, account, budget);
    let ca = RememberingCa::new(&acme, &clients.s3, now);
    let files = SourceFiles {
        s3: &clients.s3,
        secrets: &clients.secrets,
    };
    if !request.dry_run {
        match acme.recover_challenges().await {
            Ok(0) => {}
            Ok(n) => info!(
                entries = n,
                "removed the challenge records of runs that died"
            ),
            Err(e) => report.error = Some(RunError::Recovery(e).to_string()),
        }
    }
    let mut own = Vec::new();
    for domain in &request.domains {
        let role = sessions.elsewhere(domain.account.as_ref()).await;
        own.push(role.is_none());
    }
    let groups = by_account(request, &own);
    let run = Shared {
        clients,
        config,
        sessions: &sessions,
        ca: &ca,
        files: &files,
        budget,
        now,
        // The run's concurrency, shared by the accounts' domains.
        slots: tokio::sync::Semaphore::new(config.concurrency.max(1)),
    };
    let parts = futures::future::join_all(groups.iter().map(|(role, sub)| {
        let (run, run_id) = (&run, &run_id);
        async move {
            let mut part = report_for(clients, run_id, request.dry_run);
            run_in_account(run, (role.as_ref(), sub), &mut part).await;
            part
        }
    }))
    .await;
    if !request.dry_run {
        if let Err(e) = ca.keep().await {
            warn!(error = %e, "cannot remember the CA's renewal windows; the next run asks again");
        }
    }
    merge(report, request, parts);
}

/// What every account's part of a run shares.
struct Shared<'a> {
    clients: &'a Clients,
    config: &'a Config,
    sessions: &'a Sessions,
    ca: &'a RememberingCa<'a>,
    files: &'a SourceFiles<'a>,
    budget: Budget,
    now: OffsetDateTime,
    slots: tokio::sync::Semaphore,
}

/// The request's domains by the account they deploy in, the function's own first (always, with
/// or without domains: its replaced certificates are retired and its inventory reported), then
/// the others in the order each first appears. `own[i]`: domain `i` deploys in the function's
/// account (no `account`, or a role in it). One role per account: the event's validation
/// refuses two.
fn by_account(request: &Request, own: &[bool]) -> Vec<(Option<Role>, Request)> {
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

/// The accounts' reports in one, the domains in the event's order.
fn merge(report: &mut Report, request: &Request, parts: Vec<Report>) {
    let mut domains = Vec::new();
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
async fn run_in_account(
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
        Some(role) => match run.sessions.config(role).await {
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
        iam_slots((clients, config), request, report).await
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
    let ports = world::ports((clients, &archive), run.files, run.ca);
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
    conclude_run(
        (clients, config),
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
    (clients, config): (&Clients, &Config),
    request: &Request,
    report: &mut Report,
) -> IamSlots {
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
    let policy = retire::RetirePolicy {
        elb_regions: config.elb_regions_for(&clients.region, clients.partition),
        retire_foreign: config.retire_foreign,
    };
    let scope = (&policy, retire::Scope::Superseded);
    let (retired, _) = retire::retire(clients, scope, &HashMap::new(), &HashSet::new()).await;
    let freed = retired
        .iter()
        .filter(|r| r.result == RetirementResult::Deleted)
        .count();
    slots.release(i64::try_from(freed).unwrap_or(0));
    report.retired.extend(retired);
    slots
}

/// Gathers the domains' reports, retires what they swapped away from, lists the inventory.
async fn conclude_run(
    (clients, config): (&Clients, &Config),
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
        let why = "the invocation reached its deadline; the next run retires".to_owned();
        report.retired.push(Retirement {
            name: "*".into(),
            result: RetirementResult::Skipped(why),
            account: None,
        });
        None
    } else {
        crate::failpoint::hit("before-retirement");
        let policy = retire::RetirePolicy {
            elb_regions: config.elb_regions_for(&clients.region, clients.partition),
            retire_foreign: config.retire_foreign,
        };
        let scope = (&policy, retire::Scope::AfterSwaps);
        let (retired, mut fresh) = retire::retire(clients, scope, &swapped_off, &uploaded).await;
        // The listing predates the deletions: what was retired is no longer in the inventory.
        if let Some(fresh) = &mut fresh {
            fresh
                .certificates
                .retain(|c| !retired.iter().any(|r| r.name == c.name && r.result.gone()));
        }
        report.retired.extend(retired);
        if let Some(iam) = &fresh {
            let keep_days = config.limits.archive_keep_days;
            report.archive_pruned = retire::prune_archive(clients, iam, keep_days, now).await;
        }
        fresh
    };
    // The inventory: IAM as listed last, ACM listed again where this run imported.
    let mut acm = listing.acm.clone();
    if !out_of_time {
        acm.extend(list_acm(clients, &imported, config.limits.listing_concurrency).await);
    }
    let iam = fresh.as_ref().unwrap_or(&listing.inventory);
    report.inventory = inventory_items(iam, &acm, now);
}

/// Lists what is deployed and reports it with days left: no lock, no change. `accounts`: other
/// accounts listed too, each through its role (a failing one is reported, the others listed).
pub async fn inventory(
    clients: &Clients,
    config: &Config,
    (run_id, accounts): (&str, &[Role]),
) -> Report {
    let now = OffsetDateTime::now_utc();
    let mut report = report_for(clients, run_id, true);
    report.inventory_only = true;
    let sessions = Sessions::new(&clients.sdk, clients.partition, run_id);
    let mut failed: Vec<String> = Vec::new();
    let own = inventory_of(clients, config, now).await;
    let others = futures::future::join_all(accounts.iter().map(|role| async {
        match sessions.config(role).await {
            Ok(session) => inventory_of(&clients.in_account(&session, role), config, now).await,
            Err(e) => (vec![], vec![format!("account {}: {e}", role.account())]),
        }
    }))
    .await;
    for (items, errors) in std::iter::once(own).chain(others) {
        report.inventory.extend(items);
        failed.extend(errors);
    }
    soonest_first(&mut report.inventory);
    if !failed.is_empty() {
        report.error = Some(failed.join("; "));
    }
    report
}

/// One account's inventory (labelled when not the function's) and what could not be listed.
async fn inventory_of(
    clients: &Clients,
    config: &Config,
    now: OffsetDateTime,
) -> (Vec<InventoryItem>, Vec<String>) {
    let at_once = config.limits.listing_concurrency;
    let (iam, acm) = tokio::join!(
        list_inventory(clients),
        list_acm(clients, &config.acm_regions, at_once)
    );
    let in_account = clients
        .account()
        .map(|a| format!("account {a}: "))
        .unwrap_or_default();
    let mut failed: Vec<String> = acm
        .iter()
        .filter_map(|(r, l)| {
            l.as_ref()
                .err()
                .map(|e| format!("{in_account}ACM {r}: {e}"))
        })
        .collect();
    let mut items = match iam {
        Ok(iam) => inventory_items(&iam, &acm, now),
        Err(e) => {
            failed.insert(
                0,
                format!("{in_account}listing IAM certificates and distributions: {e}"),
            );
            vec![]
        }
    };
    let account = clients.account();
    for item in &mut items {
        item.account.clone_from(&account);
    }
    (items, failed)
}

/// Loads the account; creates it unless this is a dry run (which changes nothing).
async fn open_account(
    clients: &Clients,
    config: &Config,
    (dry_run, budget): (bool, Budget),
    report: &mut Report,
) -> Result<Account, Arc<AccountError>> {
    // Half the time left at most: the domains still report why they could not renew.
    let limit = config
        .limits
        .acme_call
        .min(budget.left_before(config.limits.wrap_up) / 2);
    let opened = tokio::time::timeout(limit, load_account(clients, config, dry_run, report)).await;
    opened.unwrap_or_else(|_| {
        warn!(
            seconds = limit.as_secs(),
            "the CA did not answer; renewals will fail this run"
        );
        Err(Arc::new(AccountError::Unanswered {
            directory: config.acme.directory.clone(),
            seconds: limit.as_secs(),
        }))
    })
}

/// [`open_account`] without its time limit.
async fn load_account(
    clients: &Clients,
    config: &Config,
    dry_run: bool,
    report: &mut Report,
) -> Result<Account, Arc<AccountError>> {
    let secret = &config.account_secret;
    if dry_run {
        return match account::load(&clients.secrets, secret, &config.acme).await {
            Ok(Some(account)) => Ok(account),
            Ok(None) => Err(Arc::new(AccountError::NotYet {
                secret: secret.clone(),
            })),
            Err(e) => Err(Arc::new(e)),
        };
    }
    match account::load_or_create(&clients.secrets, secret, &config.acme).await {
        Ok((account, origin)) => {
            info!(?origin, "ACME account ready");
            report.account = Some(origin);
            Ok(account)
        }
        Err(e) => {
            warn!(error = %e, "no ACME account: renewals will fail, decisions fall back to certificate lifetimes");
            Err(Arc::new(e))
        }
    }
}
