//! A run: lease, listings, the fan-out over domains, retirement, the report.
//!
//! 1. Take the lease ([`lock`]; not for a dry run).
//! 2. Open the ACME account; remove the challenge records of runs that died (their journal).
//! 3. In each account the domains deploy in — the function's own always, each other one through
//!    its role, concurrently (`accounts`) — list once ([`listing`]: IAM certificates under
//!    `/cloudfront/`, every distribution, the certificate attached to each distribution serving a
//!    requested name with the CA's renewal window, cert-rotator's ACM certificates in every region
//!    the domains name), then
//! 4. run each domain's pipeline ([`crate::domain`]), concurrently (one budget for all accounts),
//! 5. retire replaced certificates that nothing references any more ([`retire`]).
//! 6. Release the lease and report, with every account's inventory and its days left.
//!
//! One domain's failure is reported and never stops the others; one account's (its role refused)
//! stops only its domains. No renewal starts with less than `CERT_ROTATOR_MIN_RENEWAL_SECONDS`
//! left before the deadline; those domains are deferred.

mod accounts;
pub mod listing;
pub mod lock;
pub mod memory;
pub mod notify;
pub mod retire;
pub mod swaps;
pub mod world;

use std::sync::Arc;

use instant_acme::Account;
use time::OffsetDateTime;
use tokio::time::Instant;
use tracing::{info, warn};

use self::listing::{inventory_items, list_acm, list_inventory, soonest_first};
use self::lock::Acquire;
use self::world::{AcmeCa, RecoveryError, SourceFiles};
use crate::acme::account::{self, AccountError};
use crate::aws::sts::Sessions;
use crate::aws::{AwsError, Clients};
use crate::budget::Budget;
use crate::config::Config;
use crate::domain;
use crate::domain::windows::RememberingCa;
use crate::event::Request;
use crate::model::role::Role;
use crate::report::{
    DomainReport, InventoryItem, LockState, Outcome, Report, Retirement, RetirementResult,
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

/// Who runs: the invocation's id and, where the caller knows it without asking STS, the
/// function's own account.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Invocation {
    /// The report's `run_id`: the Lambda request id, or the CLI's `cli-<pid>-<second>`. Not
    /// unique — Lambda may deliver one asynchronous event twice, and two CLIs may start in one
    /// second — so the lease is held under a token of its own ([`lock::token`]).
    pub id: String,
    /// The function's own account: from the Lambda context's `invoked_function_arn`.
    pub own_account: Option<String>,
}

impl Invocation {
    /// An invocation known by `id` alone (the CLI: the own account is asked of STS).
    pub fn new(id: &str) -> Self {
        Self {
            id: id.to_owned(),
            own_account: None,
        }
    }

    /// The invocation of the function `arn` (`arn:<partition>:lambda:<region>:<account>:function:<name>`):
    /// its account is the function's own.
    #[must_use]
    pub fn of_function(mut self, arn: &str) -> Self {
        self.own_account = arn
            .split(':')
            .nth(4)
            .filter(|a| a.len() == 12 && a.bytes().all(|b| b.is_ascii_digit()))
            .map(str::to_owned);
        self
    }
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
        notifications: Default::default(),
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
    invocation: &Invocation,
    deadline: Instant,
) -> Report {
    let now = OffsetDateTime::now_utc();
    let run_id = invocation.id.as_str();
    let mut report = report_for(clients, run_id, request.dry_run);
    let sent = Instant::now();
    let lease = if request.dry_run {
        None
    } else {
        let token = lock::token(run_id);
        match lock::acquire(&clients.s3, &token, config.lock_seconds, now).await {
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
    let tenure = match lease {
        None => lock::Tenure::unbounded(),
        Some(_) => lock::Tenure::from(sent, config.lock_seconds),
    };
    let own = invocation.own_account.as_deref();
    let work = run_locked(
        (clients, config),
        (request, own),
        (budget, &tenure),
        now,
        &mut report,
    );
    match lease {
        None => work.await,
        Some(mut lease) => {
            let renewals = (&mut lease, &tenure);
            renewing(&clients.s3, renewals, config.lock_seconds, work).await;
            // Released before the deadline, or left to expire: the report goes out either way.
            let release = lock::release(&clients.s3, &lease);
            match tokio::time::timeout_at(
                deadline.max(Instant::now() + config.limits.release),
                release,
            )
            .await
            {
                Ok(Ok(())) => {}
                Ok(Err(e)) => {
                    warn!(error = %e, "could not release the run lock; it expires by itself")
                }
                Err(_) => warn!("no time left to release the run lock; it expires by itself"),
            }
        }
    }
    report
}

/// Runs `work` while renewing `lease` every third of its `seconds`, so a run longer than its
/// lease keeps it; a lease another run took over (after it expired) is not renewed again. Each
/// renewal S3 accepts extends `tenure`; one taken over ends it.
async fn renewing(
    s3: &crate::aws::s3::S3,
    (lease, tenure): (&mut lock::Lease, &lock::Tenure),
    seconds: u64,
    work: impl std::future::Future<Output = ()>,
) {
    let period = std::time::Duration::from_millis(seconds.saturating_mul(1000) / 3)
        .max(std::time::Duration::from_millis(500));
    let keep = async {
        loop {
            tokio::time::sleep(period).await;
            let sent = Instant::now();
            match lock::renew(s3, lease, seconds, OffsetDateTime::now_utc()).await {
                Ok(true) => tenure.renewed(sent, seconds),
                Ok(false) => {
                    warn!(
                        "the run lock was taken over by another run; this run writes nothing more"
                    );
                    tenure.lost();
                    return;
                }
                Err(e) => {
                    warn!(error = %e, "could not renew the run lock; retrying");
                    if let Err(lost) = tenure.check() {
                        warn!(%lost, "the run lock expired before it could be renewed");
                    }
                }
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
/// function's), concurrently, listing, pipelines and retirement ([`accounts`]).
async fn run_locked(
    (clients, config): (&Clients, &Config),
    (request, own_account): (&Request, Option<&str>),
    (budget, tenure): (Budget, &lock::Tenure),
    now: OffsetDateTime,
    report: &mut Report,
) {
    let account = open_account(clients, config, (request.dry_run, budget), report).await;
    let run_id = report.run_id.clone();
    let sessions = Sessions::new(&clients.sdk, clients.partition, &run_id)
        .trusting(&config.members)
        .in_own_account(own_account);
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
    // Each domain's account: the function's own, another (through its role), or unknown — a
    // role that may be in the function's own account when that account cannot be told — which
    // fails the domain rather than risk handling one account twice.
    let (mut known, mut own, mut unknown) = (Vec::new(), Vec::new(), Vec::new());
    for domain in &request.domains {
        match sessions.elsewhere(domain.account.as_ref()).await {
            Ok(role) => {
                known.push(domain.clone());
                own.push(role.is_none());
            }
            Err(e) => {
                let mut failed = DomainReport::new(domain::names_of(domain), Outcome::Failed);
                failed.error = Some(format!("not attempted: {e}"));
                unknown.push(failed);
            }
        }
    }
    let known = Request {
        domains: known,
        ..request.clone()
    };
    let groups = accounts::by_account(&known, &own);
    let run = accounts::Shared {
        clients,
        config,
        sessions: &sessions,
        ca: &ca,
        files: &files,
        budget,
        tenure,
        now,
        // The run's concurrency, shared by the accounts' domains.
        slots: tokio::sync::Semaphore::new(config.concurrency.max(1)),
    };
    let parts = futures::future::join_all(groups.iter().map(|(role, sub)| {
        let (run, run_id) = (&run, &run_id);
        async move {
            let mut part = report_for(clients, run_id, request.dry_run);
            accounts::run_in_account(run, (role.as_ref(), sub), &mut part).await;
            part
        }
    }))
    .await;
    if !request.dry_run {
        let until = budget.deadline() - config.limits.release.min(budget.remaining());
        match retire::within(until, ca.keep()).await {
            Some(Ok(())) => {}
            Some(Err(e)) => {
                warn!(error = %e, "cannot remember the CA's renewal windows; the next run asks again")
            }
            None => {
                warn!("no time left to remember the CA's renewal windows; the next run asks again")
            }
        }
        if request.schedule.is_some() {
            Box::pin(prune_memories(clients, request, until, report)).await;
        }
    }
    accounts::merge(report, (request, unknown), parts);
    if !request.dry_run {
        // What needs a person, and the run's events: after the report is whole, within the time
        // kept for it.
        let until = budget.deadline() - config.limits.release.min(budget.remaining());
        // Boxed: the run's future stays small enough for a thread's stack in a debug build.
        let told = Box::pin(notify::tell(clients, &config.notify, report, now));
        match retire::within(until, told).await {
            Some(told) => report.notifications = told,
            None => report
                .notifications
                .errors
                .push("no time left to send the run's messages and events".into()),
        }
    }
}

/// A scheduled run's event names every domain: the failure memories of name sets no longer in it
/// are deleted (reported with the archive's pruning).
async fn prune_memories(clients: &Clients, request: &Request, until: Instant, report: &mut Report) {
    let refused = request.refused.iter().filter_map(|r| {
        r.names
            .iter()
            .map(|n| n.parse::<crate::model::names::DomainName>().ok())
            .collect::<Option<Vec<_>>>()
    });
    let listed: std::collections::HashSet<String> = request
        .domains
        .iter()
        .map(|d| d.names.clone())
        .chain(refused)
        .map(|names| crate::model::inventory::names_hash(&names))
        .collect();
    match retire::within(until, memory::prune_failures(&clients.s3, &listed)).await {
        Some(Ok(deleted)) => report.archive_pruned.extend(
            deleted
                .iter()
                .map(|k| Retirement::of(k, RetirementResult::Deleted)),
        ),
        Some(Err(e)) => {
            warn!(error = %e, "cannot prune the failure memories of domains no longer listed")
        }
        None => {}
    }
}

/// Lists what is deployed and reports it with days left: no lock, no change. `accounts`: other
/// accounts listed too, each through its role (a failing one is reported, the others listed).
pub async fn inventory(
    clients: &Clients,
    config: &Config,
    (invocation, accounts): (&Invocation, &[Role]),
) -> Report {
    let now = OffsetDateTime::now_utc();
    let run_id = invocation.id.as_str();
    let mut report = report_for(clients, run_id, true);
    report.inventory_only = true;
    let sessions = Sessions::new(&clients.sdk, clients.partition, run_id)
        .trusting(&config.members)
        .in_own_account(invocation.own_account.as_deref());
    let mut failed: Vec<String> = Vec::new();
    let own = inventory_of(clients, config, now).await;
    let mut elsewhere = Vec::new();
    for role in accounts {
        // The function's own account is listed once, as itself.
        match sessions.elsewhere(Some(role)).await {
            Ok(other) => elsewhere.extend(other),
            Err(e) => failed.push(format!("account {}: {e}", role.account())),
        }
    }
    let others = futures::future::join_all(elsewhere.into_iter().map(|role| async {
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
    let secret = &config.acme.account_secret;
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
