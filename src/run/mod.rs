//! A run: lock, inventory, decide, renew, swap, retire, report.
//!
//! 1. Take the lease lock (not for a dry run).
//! 2. List IAM certificates under `/cloudfront/` and every distribution, once.
//! 3. Read each distinct certificate attached to a distribution serving a requested name (one
//!    GetServerCertificate each) and ask the CA for its renewal window.
//! 4. Decide per domain ([`crate::plan`]).
//! 5. For due domains, concurrently (bounded): reuse a bundle a dead run archived, or issue one by
//!    DNS-01; check it, archive it, upload it, and swap every distribution serving the names.
//! 6. Retire replaced certificates that no distribution references any more.
//! 7. Release the lock and report.
//!
//! One domain's failure is reported and never stops the others. No renewal starts with less than
//! `CERT_ROTATOR_MIN_RENEWAL_SECONDS` left before the deadline; those domains are deferred.

pub mod lock;

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use futures::stream::{self, StreamExt};
use instant_acme::{Account, RetryPolicy};
use time::OffsetDateTime;
use tokio::sync::OnceCell;
use tokio::time::Instant;
use tracing::{info, warn};

use crate::acme::account;
use crate::acme::{self, OrderRequest};
use crate::certs::archive::{self, Bundle};
use crate::aws::acm::{Acm, AcmCert};
use crate::aws::cloudfront::{CloudFront, Swap, ViewerCert};
use crate::aws::iam::{Deletion, Iam, NewServerCert, ServerCert, Upload, CLOUDFRONT_PATH};
use crate::aws::route53::Route53;
use crate::aws::s3::S3;
use crate::aws::secrets::Secrets;
use crate::aws::{region_and_partition, AwsError};
use crate::certs::certificate;
use crate::config::Config;
use crate::acme::dns01::Route53Solver;
use crate::event::{DomainRequest, Request};
use crate::model::inventory::{
    self, Inventory, MANAGED_BY, TAG_MANAGED_BY, TAG_NAMES, TAG_NOT_AFTER, TAG_REPLACED_BY,
};
use crate::acme::journal::{self, Journaled};
use self::lock::Acquire;
use crate::model::partition::Partition;
use crate::plan::{self, Action, Attached, Deployed, Observed, Plan};
use crate::acme::propagation::Propagation;
use crate::report::{
    CertRef, DistributionChange, DomainReport, InventoryItem, LockState, Outcome, Report,
    Retirement,
};
use crate::model::targets::CloudFrontVia;

/// The AWS clients of a run, built once at cold start.
#[derive(Debug, Clone)]
pub struct Services {
    /// The run's region.
    pub region: String,
    /// Its partition.
    pub partition: Partition,
    /// IAM.
    pub iam: Iam,
    /// CloudFront.
    pub cloudfront: CloudFront,
    /// Route 53.
    pub route53: Route53,
    /// S3 (the archive bucket).
    pub s3: S3,
    /// Secrets Manager.
    pub secrets: Secrets,
    /// ACM, in any region of the partition.
    pub acm: Acm,
}

impl Services {
    /// Clients for `sdk`'s region and partition.
    pub fn new(sdk: &aws_config::SdkConfig, config: &Config) -> Result<Self, AwsError> {
        let (region, partition) = region_and_partition(sdk)?;
        Ok(Self {
            region,
            partition,
            iam: Iam::new(sdk),
            cloudfront: CloudFront::new(sdk),
            route53: Route53::new(sdk),
            s3: S3::new(sdk, config.bucket.clone(), config.kms_key.clone()),
            secrets: Secrets::new(sdk),
            acm: Acm::new(sdk),
        })
    }
}

/// Everything the domains of one run share.
pub(crate) struct Run<'a> {
    pub(crate) run_id: &'a str,
    pub(crate) services: &'a Services,
    pub(crate) config: &'a Config,
    pub(crate) account: Result<Account, String>,
    pub(crate) inventory: Inventory,
    /// cert-rotator's ACM certificates, per region named by a target (or the configuration).
    pub(crate) acm: HashMap<String, Result<Vec<AcmCert>, String>>,
    pub(crate) attached: HashMap<String, Attached>,
    pub(crate) solver: OnceCell<Result<Route53Solver, String>>,
    pub(crate) deadline: Instant,
    pub(crate) now: OffsetDateTime,
}

impl Run<'_> {
    pub(crate) fn remaining(&self) -> Duration {
        self.deadline.saturating_duration_since(Instant::now())
    }

    /// Why no renewal may start now (less than `CERT_ROTATOR_MIN_RENEWAL_SECONDS` left), if so.
    pub(crate) fn deferral(&self) -> Option<String> {
        let left = self.remaining();
        (left < Duration::from_secs(self.config.min_renewal_seconds)).then(|| {
            format!(
                "deferred: {}s left in this invocation; the next run renews it",
                left.as_secs()
            )
        })
    }
}

/// Runs `request` until `deadline`.
pub async fn run(
    services: &Services,
    config: &Config,
    request: &Request,
    run_id: &str,
    deadline: Instant,
) -> Report {
    let now = OffsetDateTime::now_utc();
    let mut report = Report {
        run_id: run_id.to_owned(),
        partition: services.partition.to_string(),
        region: services.region.clone(),
        dry_run: request.dry_run,
        lock: LockState::NotNeeded,
        account: None,
        domains: vec![],
        retired: vec![],
        inventory: vec![],
        inventory_only: false,
        error: None,
    };
    let lease = if request.dry_run {
        None
    } else {
        match lock::acquire(&services.s3, run_id, config.lock_seconds, now).await {
            Ok(Acquire::Held(lease)) => {
                report.lock = LockState::Held;
                Some(lease)
            }
            Ok(Acquire::Busy { owner, expires_at }) => {
                info!(%owner, %expires_at, "another run holds the lock; nothing to do");
                report.lock = LockState::Busy { owner, expires_at };
                report.domains = request
                    .domains
                    .iter()
                    .map(|d| DomainReport::new(names_of(d), Outcome::Locked))
                    .collect();
                return report;
            }
            Err(e) => {
                report.error = Some(format!(
                    "cannot take the run lock in s3://{}/{}: {e}",
                    services.s3.bucket(),
                    lock::LOCK_KEY
                ));
                report.domains = request
                    .domains
                    .iter()
                    .map(|d| failed(d, "not attempted: the run lock could not be taken"))
                    .collect();
                return report;
            }
        }
    };
    run_locked(services, config, request, deadline, now, &mut report).await;
    if let Some(lease) = lease {
        if let Err(e) = lock::release(&services.s3, &lease).await {
            warn!(error = %e, "could not release the run lock; it expires by itself");
        }
    }
    report
}

pub(crate) fn names_of(d: &DomainRequest) -> Vec<String> {
    d.names.iter().map(|n| n.to_string()).collect()
}

fn failed(d: &DomainRequest, error: impl Into<String>) -> DomainReport {
    let mut r = DomainReport::new(names_of(d), Outcome::Failed);
    r.error = Some(error.into());
    r
}

async fn run_locked(
    services: &Services,
    config: &Config,
    request: &Request,
    deadline: Instant,
    now: OffsetDateTime,
    report: &mut Report,
) {
    let inventory = match list_inventory(services).await {
        Ok(inventory) => inventory,
        Err(e) => {
            report.error = Some(format!("listing certificates and distributions: {e}"));
            report.domains = request
                .domains
                .iter()
                .map(|d| failed(d, "not attempted: the inventory could not be listed"))
                .collect();
            return;
        }
    };
    let account = open_account(services, config, request.dry_run, report).await;
    let acm = list_acm(services, &acm_regions(config, request)).await;
    let run_id = report.run_id.clone();
    let mut run = Run {
        run_id: &run_id,
        services,
        config,
        account,
        inventory,
        acm,
        attached: HashMap::new(),
        solver: OnceCell::new(),
        deadline,
        now,
    };
    run.attached = observe_attached(&run, request).await;
    if !request.dry_run {
        match recover_challenges(&run).await {
            Ok(0) => {}
            Ok(n) => info!(
                entries = n,
                "removed the challenge records of runs that died"
            ),
            Err(e) => {
                report.error = Some(format!("removing challenge records a killed run left: {e}"))
            }
        }
    }

    let run = &run;
    let results: Vec<(DomainReport, Vec<(String, String)>)> = stream::iter(request.domains.iter())
        .map(|domain| async move { handle_domain(run, domain, request.dry_run).await })
        .buffered(config.concurrency)
        .collect()
        .await;
    let mut swapped_off: HashMap<String, Vec<String>> = HashMap::new();
    let mut uploaded: HashSet<String> = HashSet::new();
    for (domain, offs) in results {
        if let Some(new) = &domain.new_certificate {
            uploaded.insert(new.id.clone());
        }
        for (cert, dist) in offs {
            swapped_off.entry(cert).or_default().push(dist);
        }
        report.domains.push(domain);
    }
    let mut imported = HashSet::new();
    for d in &report.domains {
        imported.extend(
            d.acm
                .iter()
                .filter(|a| a.result != "unchanged")
                .map(|a| a.region.clone()),
        );
    }
    let fresh = if request.dry_run {
        None
    } else {
        crate::failpoint::hit("before-retirement");
        let (retired, mut fresh) = retire(services, &swapped_off, &uploaded).await;
        // The listing predates the deletions: what was retired is no longer in the inventory.
        if let Some(fresh) = &mut fresh {
            fresh.certificates.retain(|c| {
                !retired.iter().any(|r| {
                    r.name == c.name && matches!(r.result.as_str(), "deleted" | "already gone")
                })
            });
        }
        report.retired = retired;
        fresh
    };
    // The inventory: IAM as listed last, ACM re-listed where this run imported.
    let mut acm = run.acm.clone();
    let relist: Vec<String> = imported.into_iter().collect();
    acm.extend(list_acm(services, &relist).await);
    report.inventory = inventory_items(fresh.as_ref().unwrap_or(&run.inventory), &acm, now);
}

/// The ACM regions a run lists: those its domains' targets name, and CERT_ROTATOR_ACM_REGIONS.
fn acm_regions(config: &Config, request: &Request) -> Vec<String> {
    let mut regions: Vec<String> = config.acm_regions.clone();
    for d in &request.domains {
        for r in d.targets.acm_regions() {
            if !regions.iter().any(|x| x == r) {
                regions.push(r.to_owned());
            }
        }
    }
    regions
}

/// cert-rotator's ACM certificates in each region, concurrently.
async fn list_acm(
    services: &Services,
    regions: &[String],
) -> HashMap<String, Result<Vec<AcmCert>, String>> {
    stream::iter(regions.iter().cloned())
        .map(|region| async move {
            let listed = services
                .acm
                .list_tagged(&region, TAG_MANAGED_BY, MANAGED_BY)
                .await
                .map_err(|e| e.to_string());
            (region, listed)
        })
        .buffer_unordered(8)
        .collect()
        .await
}

/// Every IAM certificate under `/cloudfront/` and cert-rotator's ACM certificates, soonest
/// expiry first.
fn inventory_items(
    iam: &Inventory,
    acm: &HashMap<String, Result<Vec<AcmCert>, String>>,
    now: OffsetDateTime,
) -> Vec<InventoryItem> {
    let mut items: Vec<InventoryItem> = iam
        .certificates
        .iter()
        .map(|c| InventoryItem {
            store: "iam",
            region: None,
            id: c.name.clone(),
            names: None,
            not_after: c.expiration,
            days_left: c.expiration.map(|na| days_left(na, now)),
            managed: inventory::managed_hash(&c.name).is_some(),
            in_use: iam.is_referenced(&c.id),
        })
        .collect();
    for (region, listed) in acm {
        for c in listed.iter().flatten() {
            items.push(InventoryItem {
                store: "acm",
                region: Some(region.clone()),
                id: c.arn.clone(),
                names: c.tag(TAG_NAMES).map(str::to_owned),
                not_after: c.not_after,
                days_left: c.not_after.map(|na| days_left(na, now)),
                managed: true,
                in_use: !c.in_use_by.is_empty(),
            });
        }
    }
    items.sort_by(|a, b| {
        a.days_left
            .unwrap_or(f64::MAX)
            .total_cmp(&b.days_left.unwrap_or(f64::MAX))
            .then_with(|| a.id.cmp(&b.id))
    });
    items
}

/// Lists what is deployed and reports it with days left: no lock, no change.
pub async fn inventory(services: &Services, config: &Config, run_id: &str) -> Report {
    let now = OffsetDateTime::now_utc();
    let mut report = Report {
        run_id: run_id.to_owned(),
        partition: services.partition.to_string(),
        region: services.region.clone(),
        dry_run: true,
        lock: LockState::NotNeeded,
        account: None,
        domains: vec![],
        retired: vec![],
        inventory: vec![],
        inventory_only: true,
        error: None,
    };
    let (iam, acm) = tokio::join!(
        list_inventory(services),
        list_acm(services, &config.acm_regions)
    );
    let failed: Vec<String> = acm
        .iter()
        .filter_map(|(r, l)| l.as_ref().err().map(|e| format!("ACM {r}: {e}")))
        .collect();
    match iam {
        Ok(iam) => report.inventory = inventory_items(&iam, &acm, now),
        Err(e) => report.error = Some(format!("listing IAM certificates and distributions: {e}")),
    }
    if !failed.is_empty() {
        let joined = failed.join("; ");
        report.error = Some(match report.error.take() {
            Some(e) => format!("{e}; {joined}"),
            None => joined,
        });
    }
    report
}

async fn list_inventory(services: &Services) -> Result<Inventory, AwsError> {
    let (certificates, distributions) = tokio::try_join!(
        services.iam.list(CLOUDFRONT_PATH),
        services.cloudfront.list()
    )?;
    Ok(Inventory {
        certificates,
        distributions,
    })
}

/// Loads the account; creates it unless this is a dry run (which changes nothing).
async fn open_account(
    services: &Services,
    config: &Config,
    dry_run: bool,
    report: &mut Report,
) -> Result<Account, String> {
    let secret = &config.account_secret;
    if dry_run {
        return match account::load(&services.secrets, secret, &config.acme).await {
            Ok(Some(account)) => Ok(account),
            Ok(None) => Err(format!(
                "no ACME account yet in {secret} (a dry run does not create one)"
            )),
            Err(e) => Err(e.to_string()),
        };
    }
    match account::load_or_create(&services.secrets, secret, &config.acme).await {
        Ok((account, origin)) => {
            info!(?origin, "ACME account ready");
            report.account = Some(origin);
            Ok(account)
        }
        Err(e) => {
            warn!(error = %e, "no ACME account: renewals will fail, decisions fall back to certificate lifetimes");
            Err(e.to_string())
        }
    }
}

/// Reads each distinct certificate attached to a distribution serving a requested name, and its
/// ARI window: one GetServerCertificate and one renewalInfo GET per certificate, concurrently.
async fn observe_attached(run: &Run<'_>, request: &Request) -> HashMap<String, Attached> {
    let mut ids: Vec<String> = Vec::new();
    for d in &request.domains {
        for s in run.inventory.serving(&d.names) {
            if let ViewerCert::Iam(id) = &s.distribution.viewer {
                if !ids.contains(id) {
                    ids.push(id.clone());
                }
            }
        }
    }
    stream::iter(ids)
        .map(|id| async move {
            let attached = read_certificate(run, &id, true).await;
            (id, attached)
        })
        .buffer_unordered(run.config.concurrency.max(4))
        .collect()
        .await
}

async fn read_certificate(run: &Run<'_>, id: &str, with_ari: bool) -> Attached {
    let unreadable = |why: String| Attached::Unreadable {
        id: id.to_owned(),
        why,
    };
    let Some(meta) = run.inventory.certificate(id) else {
        return unreadable(format!(
            "IAM certificate {id} is not under {CLOUDFRONT_PATH} in this account"
        ));
    };
    let body = match run.services.iam.get(&meta.name).await {
        Ok(Some(body)) => body,
        Ok(None) => return unreadable(format!("IAM certificate {} is gone", meta.name)),
        Err(e) => return unreadable(e.to_string()),
    };
    let leaf = match certificate::pem_chain(&body.body).and_then(|ders| certificate::info(&ders[0]))
    {
        Ok(leaf) => leaf,
        Err(e) => {
            return unreadable(format!(
                "IAM certificate {} cannot be parsed: {e}",
                meta.name
            ))
        }
    };
    let mut deployed = Deployed {
        id: id.to_owned(),
        name: meta.name.clone(),
        names: leaf.names.clone(),
        not_before: leaf.not_before,
        not_after: leaf.not_after,
        window: None,
        ari_id: None,
    };
    if with_ari && run.config.policy.use_ari {
        if let Ok(account) = &run.account {
            match acme::renewal_window(account, &leaf.der).await {
                Ok(Some(window)) => {
                    deployed.window = Some(window);
                    deployed.ari_id = acme::certificate_id(&leaf.der).ok();
                }
                Ok(None) => {}
                Err(e) => {
                    info!(certificate = %meta.name, error = %e, "no renewal information; using the lifetime rule")
                }
            }
        }
    }
    Attached::Cert(deployed)
}

pub(crate) fn observed_for(run: &Run<'_>, domain: &DomainRequest) -> Vec<Observed> {
    run.inventory
        .serving(&domain.names)
        .into_iter()
        .map(|s| Observed {
            distribution: s.distribution.id.clone(),
            attached: match &s.distribution.viewer {
                ViewerCert::Default => Attached::None,
                ViewerCert::Acm(arn) => Attached::Acm(arn.clone()),
                ViewerCert::Iam(id) => {
                    run.attached
                        .get(id)
                        .cloned()
                        .unwrap_or(Attached::Unreadable {
                            id: id.clone(),
                            why: "not read".into(),
                        })
                }
            },
            uncovered: s.uncovered.iter().map(|a| (*a).to_owned()).collect(),
        })
        .collect()
}

/// Decides for one domain, fetching the freshest already uploaded certificate only if due.
pub(crate) async fn plan_for(run: &Run<'_>, domain: &DomainRequest, observed: &[Observed]) -> Plan {
    let policy = &run.config.policy;
    let first = plan::decide(&domain.names, domain.force, observed, None, policy, run.now);
    if domain.force || !matches!(first.action, Action::Issue { .. }) {
        return first;
    }
    let Some(latest) = run
        .inventory
        .uploaded_for(&domain.names)
        .first()
        .map(|c| c.id.clone())
    else {
        return first;
    };
    match read_certificate(run, &latest, true).await {
        Attached::Cert(candidate) => plan::decide(
            &domain.names,
            false,
            observed,
            Some(&candidate),
            policy,
            run.now,
        ),
        _ => first,
    }
}

pub(crate) fn days_left(not_after: OffsetDateTime, now: OffsetDateTime) -> f64 {
    ((not_after - now).as_seconds_f64() / 86_400.0 * 10.0).round() / 10.0
}

/// One domain, start to end. Returns its report and the (certificate, distribution) pairs it
/// swapped away from, for retirement.
async fn handle_domain(
    run: &Run<'_>,
    domain: &DomainRequest,
    dry_run: bool,
) -> (DomainReport, Vec<(String, String)>) {
    if domain.source.is_some()
        || !domain.targets.acm.is_empty()
        || domain.targets.cloudfront != Some(CloudFrontVia::Iam)
    {
        return crate::domain::handle(run, domain, dry_run).await;
    }
    let started = Instant::now();
    let observed = observed_for(run, domain);
    let plan = plan_for(run, domain, &observed).await;
    let mut report = DomainReport::new(names_of(domain), Outcome::Kept);
    let current: Vec<&Deployed> = observed
        .iter()
        .filter_map(|o| {
            if let Attached::Cert(c) = &o.attached {
                Some(c)
            } else {
                None
            }
        })
        .collect();
    if let Some(oldest) = current.iter().min_by_key(|c| c.not_after) {
        report.old_certificate = Some(CertRef {
            id: oldest.id.clone(),
            name: oldest.name.clone(),
            not_after: Some(oldest.not_after),
        });
        report.days_to_expiry = Some(days_left(oldest.not_after, run.now));
    }
    info!(domain = %domain.label(), plan = %serde_json::to_string(&plan).unwrap_or_default(), "decided");
    report.outcome = match (&plan.action, dry_run) {
        (Action::NotServed, _) => Outcome::NotServed,
        (Action::Keep, _) => Outcome::Kept,
        (_, true) => Outcome::Planned,
        _ => Outcome::Failed,
    };
    if let plan::Reason::AllBlocked { distributions } = &plan.reason {
        report.outcome = Outcome::Failed;
        let whys: Vec<String> = distributions
            .iter()
            .map(|b| format!("{}: {}", b.distribution, b.why))
            .collect();
        report.error = Some(format!(
            "no distribution serving these names can take their certificate — {}",
            whys.join("; ")
        ));
    }
    for b in &plan.blocked {
        warn!(domain = %domain.label(), distribution = %b.distribution, why = %b.why, "left alone");
    }
    let action = plan.action.clone();
    let targets = plan.distributions.clone();
    report.plan = Some(plan);
    if dry_run || matches!(action, Action::Keep | Action::NotServed) {
        report
            .timings_ms
            .insert("total", started.elapsed().as_millis() as u64);
        return (report, vec![]);
    }
    if let Some(why) = run.deferral() {
        report.outcome = Outcome::Deferred;
        report.error = Some(why);
        return (report, vec![]);
    }
    let result = match action {
        Action::Deploy { certificate } => match run.inventory.certificate(&certificate).cloned() {
            Some(cert) => Ok((cert, Outcome::Deployed)),
            None => Err(format!("certificate {certificate} vanished")),
        },
        Action::Issue { replaces } => obtain(run, domain, replaces, &mut report)
            .await
            .map(|c| (c, Outcome::Renewed)),
        Action::Keep | Action::NotServed => return (report, vec![]), // returned above already
    };
    let (cert, outcome) = match result {
        Ok(ok) => ok,
        Err(e) => {
            warn!(domain = %domain.label(), error = %e, "renewal failed");
            report.error = Some(e);
            report
                .timings_ms
                .insert("total", started.elapsed().as_millis() as u64);
            return (report, vec![]);
        }
    };
    let deploy_started = Instant::now();
    let (changes, offs) = deploy(run, &cert, &observed, &targets).await;
    report
        .timings_ms
        .insert("deploy", deploy_started.elapsed().as_millis() as u64);
    report
        .timings_ms
        .insert("total", started.elapsed().as_millis() as u64);
    let failures: Vec<String> = changes
        .iter()
        .filter(|c| c.result != "updated" && c.result != "unchanged")
        .map(|c| format!("{}: {}", c.id, c.result))
        .collect();
    report.distributions = changes;
    report.new_certificate = Some(CertRef {
        id: cert.id.clone(),
        name: cert.name.clone(),
        not_after: cert.expiration,
    });
    if failures.is_empty() {
        report.outcome = outcome;
        report.days_to_expiry = cert.expiration.map(|na| days_left(na, run.now));
    } else {
        report.error = Some(format!(
            "certificate {} uploaded, but not attached to {}; the next run retries",
            cert.name,
            failures.join("; ")
        ));
    }
    (report, offs)
}

/// Gets an uploaded certificate for the domain: from the archive if a dead run left a fresh one
/// there, otherwise issued now; checked, archived, uploaded.
async fn obtain(
    run: &Run<'_>,
    domain: &DomainRequest,
    replaces: Option<String>,
    report: &mut DomainReport,
) -> Result<ServerCert, String> {
    let started = Instant::now();
    let bundle = acquire(run, domain, replaces).await?;
    report
        .timings_ms
        .insert("issue", started.elapsed().as_millis() as u64);
    let uploaded = upload(run, domain, &bundle).await;
    crate::failpoint::hit("after-upload");
    uploaded
}

/// A checked bundle for the domain: one a dead run archived but never uploaded, if fresh;
/// otherwise issued now and archived.
pub(crate) async fn acquire(
    run: &Run<'_>,
    domain: &DomainRequest,
    replaces: Option<String>,
) -> Result<Bundle, String> {
    let hash = inventory::names_hash(&domain.names);
    let s3 = &run.services.s3;
    let archived = if domain.force {
        vec![]
    } else {
        archive::find(s3, &hash).await.map_err(|e| e.to_string())?
    };
    // Only a bundle that was archived but never uploaded (its run died in between) is reused;
    // one that was uploaded is the plan's business (a candidate, or the certificate being replaced).
    let reusable = archived
        .into_iter()
        .filter(|b| run.inventory.certificate_named(&b.iam_name).is_none())
        .find(|b| {
            let chain = format!("{}{}", b.certificate, b.chain);
            certificate::check_bundle(&chain, b.private_key.expose(), &domain.names, run.now)
                .is_ok_and(|leaf| {
                    plan::due(
                        "",
                        &Attached::Cert(deployed_of(&leaf)),
                        &domain.names,
                        &run.config.policy,
                        run.now,
                    )
                    .is_ok()
                })
        });
    match reusable {
        Some(bundle) => {
            info!(domain = %domain.label(), certificate = %bundle.iam_name, "reusing an archived certificate a previous run issued");
            Ok(bundle)
        }
        None => {
            let bundle = issue(run, domain, replaces).await?;
            archive::store(s3, &hash, &bundle)
                .await
                .map_err(|e| format!("archiving the new certificate (nothing deployed): {e}"))?;
            crate::failpoint::hit("after-archive");
            Ok(bundle)
        }
    }
}

pub(crate) fn deployed_of(leaf: &certificate::CertificateInfo) -> Deployed {
    Deployed {
        id: String::new(),
        name: String::new(),
        names: leaf.names.clone(),
        not_before: leaf.not_before,
        not_after: leaf.not_after,
        window: None,
        ari_id: None,
    }
}

/// The run's DNS-01 solver, made on first use (one zone listing per run).
async fn solver<'r>(run: &'r Run<'_>) -> Result<&'r Route53Solver, String> {
    run.solver
        .get_or_init(|| async {
            let zones = run
                .services
                .route53
                .public_zones()
                .await
                .map_err(|e| e.to_string())?;
            let solver = Route53Solver::new(
                run.services.route53.clone(),
                zones,
                run.remaining().min(Duration::from_secs(600)),
            );
            if !run.config.check_authoritative {
                return Ok(solver);
            }
            let propagation =
                Propagation::new(run.config.dns_resolver).map_err(|e| e.to_string())?;
            Ok(solver.with_propagation(propagation))
        })
        .await
        .as_ref()
        .map_err(|e| format!("listing Route 53 hosted zones: {e}"))
}

/// Removes TXT values a killed run left (from its journal entries).
async fn recover_challenges(run: &Run<'_>) -> Result<usize, String> {
    let leftovers = run
        .services
        .s3
        .keys(journal::PREFIX)
        .await
        .map_err(|e| e.to_string())?;
    if leftovers.is_empty() {
        return Ok(0);
    }
    journal::recover(&run.services.s3, solver(run).await?)
        .await
        .map_err(|e| e.to_string())
}

async fn issue(
    run: &Run<'_>,
    domain: &DomainRequest,
    replaces: Option<String>,
) -> Result<Bundle, String> {
    let account = run
        .account
        .as_ref()
        .map_err(|e| format!("no ACME account: {e}"))?;
    let solver = solver(run).await?;
    let entry = format!("{}-{}", run.run_id, inventory::names_hash(&domain.names));
    let journaled = Journaled::new(solver, &run.services.s3, &entry);
    let key_type = domain.key_type.unwrap_or(run.config.acme.key_type);
    let retry = RetryPolicy::new().timeout(
        run.remaining()
            .saturating_sub(Duration::from_secs(60))
            .clamp(Duration::from_secs(10), Duration::from_secs(300)),
    );
    let request = OrderRequest {
        names: &domain.names,
        key_type,
        replaces,
        retry,
    };
    let issued = acme::issue(account, &request, &journaled)
        .await
        .map_err(|e| e.to_string())?;
    let leaf = certificate::check_bundle(
        &issued.chain_pem,
        issued.key.expose(),
        &domain.names,
        OffsetDateTime::now_utc(),
    )
    .map_err(|e| format!("the CA's certificate failed the check, not used: {e}"))?;
    let (leaf_pem, chain) =
        certificate::split_leaf(&issued.chain_pem).map_err(|e| e.to_string())?;
    Ok(Bundle {
        names: names_of(domain),
        iam_name: inventory::iam_name(&domain.names, leaf.not_after, &leaf.serial),
        certificate: leaf_pem,
        chain,
        private_key: issued.key,
    })
}

pub(crate) async fn upload(
    run: &Run<'_>,
    domain: &DomainRequest,
    bundle: &Bundle,
) -> Result<ServerCert, String> {
    let iam = &run.services.iam;
    let not_after = certificate::pem_chain(&bundle.certificate)
        .and_then(|d| certificate::info(&d[0]))
        .ok()
        .and_then(|l| {
            l.not_after
                .format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_default();
    let names: String = domain.label().chars().take(256).collect();
    let tags = [
        (TAG_MANAGED_BY.to_owned(), MANAGED_BY.to_owned()),
        (TAG_NAMES.to_owned(), names),
        (TAG_NOT_AFTER.to_owned(), not_after),
    ];
    let new = NewServerCert {
        name: &bundle.iam_name,
        path: CLOUDFRONT_PATH,
        body: &bundle.certificate,
        chain: &bundle.chain,
        private_key: bundle.private_key.expose(),
        tags: &tags,
    };
    match iam
        .upload(&new)
        .await
        .map_err(|e| format!("uploading to IAM (the key is archived): {e}"))?
    {
        Upload::Created(cert) => Ok(cert),
        Upload::AlreadyExists => {
            match iam.get(&bundle.iam_name).await.map_err(|e| e.to_string())? {
                // Uploaded by a run that died before swapping: the same certificate, reuse it.
                Some(existing) if existing.body.trim() == bundle.certificate.trim() => {
                    Ok(existing.meta)
                }
                _ => Err(format!(
                    "an IAM certificate named {} exists with another body; rename or delete it",
                    bundle.iam_name
                )),
            }
        }
    }
}

/// Points each target distribution at `cert`; returns the changes and the (old certificate,
/// distribution) pairs swapped away from.
pub(crate) async fn deploy(
    run: &Run<'_>,
    cert: &ServerCert,
    observed: &[Observed],
    targets: &[String],
) -> (Vec<DistributionChange>, Vec<(String, String)>) {
    let mut changes = Vec::new();
    let mut offs = Vec::new();
    for dist in targets {
        let from = observed
            .iter()
            .find(|o| &o.distribution == dist)
            .and_then(|o| match &o.attached {
                Attached::Cert(c) => Some((c.id.clone(), c.name.clone())),
                Attached::Unreadable { id, .. } => run
                    .inventory
                    .certificate(id)
                    .map(|c| (c.id.clone(), c.name.clone())),
                _ => None,
            });
        if let Some((old_id, old_name)) = &from {
            if old_id != &cert.id && inventory::managed_hash(old_name).is_none() {
                // Mark someone else's certificate as replaced by us: only then may a later run
                // retire it once nothing references it.
                if let Err(e) = run
                    .services
                    .iam
                    .tag(old_name, &[(TAG_REPLACED_BY.to_owned(), cert.name.clone())])
                    .await
                {
                    warn!(certificate = %old_name, error = %e, "could not tag the replaced certificate; it will be kept");
                }
            }
        }
        let result = swap_with_retry(run, dist, &ViewerCert::Iam(cert.id.clone())).await;
        crate::failpoint::hit("after-first-swap");
        if result == "updated" {
            if let Some((old_id, _)) = &from {
                offs.push((old_id.clone(), dist.clone()));
            }
        }
        info!(distribution = %dist, certificate = %cert.name, %result, "swap");
        changes.push(DistributionChange {
            id: dist.clone(),
            from: from.map(|f| f.0),
            to: cert.id.clone(),
            result,
        });
    }
    (changes, offs)
}

/// Swaps with IfMatch; re-reads on a stale ETag; waits for Deployed on IllegalUpdate; all within
/// the deadline.
pub(crate) async fn swap_with_retry(run: &Run<'_>, dist: &str, target: &ViewerCert) -> String {
    let cf: &CloudFront = &run.services.cloudfront;
    for _ in 0..6 {
        match cf.swap(dist, target).await {
            Ok(Swap::Done) => return "updated".into(),
            Ok(Swap::Unchanged) => return "unchanged".into(),
            Ok(Swap::Stale) => continue,
            Ok(Swap::Busy(why)) => {
                let budget = run.remaining().saturating_sub(Duration::from_secs(30));
                if budget < Duration::from_secs(60) {
                    return format!(
                        "still deploying a previous change ({why}); the next run retries"
                    );
                }
                if let Err(e) = cf
                    .wait_deployed(dist, budget.min(Duration::from_secs(900)))
                    .await
                {
                    return format!("waiting for the previous change to deploy: {e}");
                }
            }
            Err(e) => return e.to_string(),
        }
    }
    "the distribution kept changing under us (6 attempts); the next run retries".into()
}

/// Deletes certificates cert-rotator uploaded or replaced that no distribution references in a
/// fresh listing. Keeps those whose distributions still deploy the swap, those uploaded by this
/// run, and anything without our tags.
async fn retire(
    services: &Services,
    swapped_off: &HashMap<String, Vec<String>>,
    uploaded: &HashSet<String>,
) -> (Vec<Retirement>, Option<Inventory>) {
    let fresh = match list_inventory(services).await {
        Ok(inventory) => inventory,
        Err(e) => {
            return (
                vec![Retirement {
                    name: "*".into(),
                    result: format!("not attempted: listing failed: {e}"),
                }],
                None,
            )
        }
    };
    let mut out = Vec::new();
    for cert in &fresh.certificates {
        if fresh.is_referenced(&cert.id) || uploaded.contains(&cert.id) {
            continue;
        }
        let still_deploying: Vec<&String> = swapped_off
            .get(&cert.id)
            .into_iter()
            .flatten()
            .filter(|d| {
                fresh
                    .distributions
                    .iter()
                    .any(|x| &&x.id == d && x.status != "Deployed")
            })
            .collect();
        let tags = match services.iam.tags(&cert.name).await {
            Ok(tags) => tags,
            Err(e) => {
                out.push(Retirement {
                    name: cert.name.clone(),
                    result: format!("kept: cannot read its tags: {e}"),
                });
                continue;
            }
        };
        let ours = tags
            .iter()
            .any(|(k, v)| (k == TAG_MANAGED_BY && v == MANAGED_BY) || k == TAG_REPLACED_BY);
        if !ours {
            continue; // never touch what we neither uploaded nor replaced
        }
        if !still_deploying.is_empty() {
            out.push(Retirement {
                name: cert.name.clone(),
                result: format!(
                    "kept until {still_deploying:?} finish deploying; retired on a later run"
                ),
            });
            continue;
        }
        let result = match services.iam.delete(&cert.name).await {
            Ok(Deletion::Deleted) => "deleted".to_owned(),
            Ok(Deletion::Gone) => "already gone".to_owned(),
            Ok(Deletion::InUse(why)) => {
                format!("kept: still in use ({why}); retried on a later run")
            }
            Err(e) => format!("kept: {e}"),
        };
        info!(certificate = %cert.name, %result, "retire");
        out.push(Retirement {
            name: cert.name.clone(),
            result,
        });
    }
    (out, Some(fresh))
}
