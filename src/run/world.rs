//! The ports ([`crate::ports`]) as a run implements them: the AWS adapters, the archive in S3,
//! bring-your-own files in S3 and Secrets Manager, and the ACME CA with the run's account and its
//! DNS-01 solver on Route 53 (made on first use: one zone listing per run), journaled in S3.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use instant_acme::{Account, RetryPolicy};
use tokio::sync::OnceCell;
use tracing::info;

use crate::acme::account::AccountError;
use crate::acme::delegation::Delegation;
use crate::acme::directory::Meta;
use crate::acme::dns01::{self, Challenge, Dns01Solver, Placed, Route53Solver, SolverError};
use crate::acme::http::RateLimit;
use crate::acme::journal::{self, Journaled};
use crate::acme::propagation::Propagation;
use crate::acme::{self, caa, AcmeError, Issued, OrderOptions, OrderRequest};
use crate::aws::acm::{Import, Reimport};
use crate::aws::attempt::{self, Attempt};
use crate::aws::cloudfront::{Swap, ViewerCert};
use crate::aws::iam::{NewServerCert, ServerCertBody, Upload};
use crate::aws::route53::Route53;
use crate::aws::s3::{Bounded, Condition, S3};
use crate::aws::secrets::Secrets;
use crate::aws::sts::Sessions;
use crate::aws::{AwsError, Clients};
use crate::budget::Budget;
use crate::certs::archive::{self, Bundle};
use crate::certs::source::{self, Files, Location};
use crate::config::Config;
use crate::model::dns::DnsSettings;
use crate::model::inventory;
use crate::model::names::DomainName;
use crate::model::role::Role;
use crate::ports::{
    Archive, CertificateAuthority, CertificateManager, Distributions, IssueError, Placement, Ports,
    RenewalInfo, ServerCertificates, SolverSetupError,
};
use crate::run::lock::Tenure;
use crate::run::swaps;

/// The writers of one account (IAM, CloudFront, ACM) as a run uses them: each write is made
/// only while the run holds its lease ([`Tenure`]), and a swap away from an IAM certificate is
/// noted in the archive bucket before CloudFront is asked ([`swaps`]), so that a later run keeps
/// that certificate until the distribution is `Deployed`.
#[derive(Debug, Clone, Copy)]
pub struct Guarded<'a> {
    clients: &'a Clients,
    tenure: &'a Tenure,
    /// The account of `clients` (`None`: the function's own).
    account: Option<&'a str>,
}

impl<'a> Guarded<'a> {
    /// `clients`' writers, held to `tenure`.
    pub fn new(clients: &'a Clients, account: Option<&'a str>, tenure: &'a Tenure) -> Self {
        Self {
            clients,
            tenure,
            account,
        }
    }

    fn check(&self, service: &'static str, operation: &'static str) -> Result<(), AwsError> {
        self.tenure.check().map_err(|lost| AwsError {
            service,
            operation,
            code: "LeaseLost".into(),
            message: lost.to_string(),
            source: None,
        })
    }
}

#[async_trait]
impl ServerCertificates for Guarded<'_> {
    async fn get(&self, name: &str) -> Result<Option<ServerCertBody>, AwsError> {
        self.clients.iam.get(name).await
    }
    async fn upload(&self, cert: &NewServerCert<'_>) -> Result<Upload, AwsError> {
        self.check("iam", "UploadServerCertificate")?;
        self.clients.iam.upload(cert).await
    }
    async fn tag(&self, name: &str, tags: &[(String, String)]) -> Result<(), AwsError> {
        self.check("iam", "TagServerCertificate")?;
        self.clients.iam.tag(name, tags).await
    }
}

#[async_trait]
impl Distributions for Guarded<'_> {
    async fn swap(&self, id: &str, target: &ViewerCert) -> Result<Swap, AwsError> {
        self.check("cloudfront", "UpdateDistribution")?;
        let (s3, account) = (&self.clients.s3, self.account);
        let to = match target {
            ViewerCert::Iam(to) | ViewerCert::Acm(to) => to.as_str(),
            ViewerCert::Default => "",
        };
        let before_write = |serving: ViewerCert| async move {
            match serving {
                ViewerCert::Iam(from) => swaps::note(s3, account, (&from, id), to).await,
                _ => Ok(()),
            }
        };
        self.clients
            .cloudfront
            .swap_noting(id, target, before_write)
            .await
    }
    async fn wait_deployed(&self, id: &str, max_wait: Duration) -> Result<(), AwsError> {
        self.clients.cloudfront.wait_deployed(id, max_wait).await
    }
}

#[async_trait]
impl CertificateManager for Guarded<'_> {
    async fn import(
        &self,
        region: &str,
        import: &Import<'_>,
        tags: &[(String, String)],
    ) -> Result<String, AwsError> {
        self.check("acm", "ImportCertificate")?;
        self.clients.acm.import(region, import, tags).await
    }
    async fn reimport(
        &self,
        region: &str,
        arn: &str,
        import: &Import<'_>,
    ) -> Result<Reimport, AwsError> {
        self.check("acm", "ImportCertificate")?;
        self.clients.acm.reimport(region, arn, import).await
    }
}

/// The archive in S3, storing the bundles of certificates deployed in `account` (`None`: the
/// function's own) where that account's pruning looks ([`archive::key_in`]); finding every
/// archived bundle of a name set, whichever account it was deployed in.
#[derive(Debug)]
pub struct ArchiveIn<'a> {
    s3: &'a S3,
    account: Option<String>,
}

impl<'a> ArchiveIn<'a> {
    /// The archive of `clients`' account.
    pub fn new(clients: &'a Clients) -> Self {
        Self {
            s3: &clients.s3,
            account: clients.account(),
        }
    }
}

#[async_trait]
impl Archive for ArchiveIn<'_> {
    async fn store(&self, names_hash: &str, bundle: &Bundle) -> Result<(), AwsError> {
        // The body (with the key) goes to the SDK, whose buffers are not zeroed.
        let body = archive::to_json(bundle)
            .map_err(|e| AwsError::invalid_request("s3", "PutObject", e))?;
        let key = archive::key_in(names_hash, self.account.as_deref(), &bundle.iam_name);
        self.s3
            .put(&key, body, "application/json", Condition::None)
            .await
            .map(drop)
    }

    async fn find(&self, names_hash: &str) -> Result<Vec<Bundle>, AwsError> {
        let mut bundles = Vec::new();
        for key in self.s3.keys(&archive::prefix(names_hash)).await? {
            if let Some(object) = self.s3.get(&key).await? {
                // The object holds the key: zeroed once read (the SDK's own buffers are not).
                let body = zeroize::Zeroizing::new(object.body);
                bundles.extend(archive::from_json(&body));
            }
        }
        Ok(bundles)
    }
}

/// Why the challenge records of killed runs could not be removed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RecoveryError {
    /// The journal could not be listed.
    #[error("reading the challenge journal: {0}")]
    Journal(#[source] AwsError),
    /// The DNS-01 solver could not be made.
    #[error(transparent)]
    Solver(Arc<SolverSetupError>),
    /// The records could not be removed.
    #[error(transparent)]
    Cleanup(#[from] crate::acme::dns01::SolverError),
}

/// Bring-your-own files: S3 objects and Secrets Manager secrets.
#[derive(Debug, Clone, Copy)]
pub struct SourceFiles<'a> {
    /// Any bucket the function may read.
    pub s3: &'a S3,
    /// Any secret the function may read.
    pub secrets: &'a Secrets,
}

#[async_trait]
impl Files for SourceFiles<'_> {
    async fn read(&self, location: &Location) -> Result<Vec<u8>, String> {
        let origin = location.to_string();
        match location {
            Location::S3 { bucket, key } => match self
                .s3
                .get_bounded(bucket, key, source::MAX_FILE_BYTES)
                .await
                .map_err(|e| format!("reading {location}: {e}"))?
            {
                Some(Bounded::Within(object)) => Ok(object.body),
                Some(Bounded::Over { size, at_least }) => {
                    Err(source::too_large(&origin, size, at_least))
                }
                None => Err(format!(
                    "{location} does not exist: upload the file, or fix the name in source"
                )),
            },
            Location::Secret(id) => {
                let stored = self
                    .secrets
                    .get(id)
                    .await
                    .map_err(|e| format!("reading {location}: {e}"))?
                    .ok_or_else(|| {
                        format!(
                            "{location} does not exist: create the secret, or fix the name in source"
                        )
                    })?;
                // Secrets Manager holds at most 64 KiB, under the cap; checked all the same. Moved
                // out of the zeroing buffer: the caller keeps it in one (source::load).
                let mut stored = stored;
                let bytes = stored
                    .binary
                    .as_deref_mut()
                    .map(std::mem::take)
                    .or_else(|| {
                        stored
                            .text
                            .as_deref_mut()
                            .map(|t| std::mem::take(t).into_bytes())
                    })
                    .ok_or_else(|| {
                        format!("{location} has no value: put the file's content in it")
                    })?;
                let size = u64::try_from(bytes.len()).unwrap_or(u64::MAX);
                if size > source::MAX_FILE_BYTES {
                    return Err(source::too_large(&origin, size, false));
                }
                Ok(bytes)
            }
        }
    }
}

/// A DNS-01 solver for one account, made on first use, or why it could not be (a passing
/// failure is tried again after [`crate::aws::attempt::PAUSE`]).
type SolverCell = Arc<Attempt<Arc<Route53Solver>, Arc<SolverSetupError>>>;

/// The ACME CA for one run: its account (or why there is none), the DNS-01 solvers made on first
/// use (one per account holding zones: the function's, and each `dns.role`'s), the journal of the
/// challenges it presents.
pub struct AcmeCa<'a> {
    clients: &'a Clients,
    config: &'a Config,
    sessions: &'a Sessions,
    run_id: &'a str,
    account: Result<Account, Arc<AccountError>>,
    solvers: tokio::sync::Mutex<std::collections::HashMap<Option<Role>, SolverCell>>,
    /// Follows challenge records' CNAMEs, with the authoritative check only.
    delegation: OnceCell<Result<Option<Delegation>, Arc<SolverSetupError>>>,
    budget: Budget,
    /// The CA's limit on the account's new orders, once an order met it: the run's later orders
    /// are not sent.
    account_limit: Mutex<Option<RateLimit>>,
    /// The CA's date after a renewal-information request met its rate limit this run.
    renewal_info_limit: Mutex<Option<time::OffsetDateTime>>,
    /// The CA's directory `meta` (profiles, CAA identities), read on first use.
    meta: OnceCell<Result<Meta, String>>,
    /// The uncached resolver CAA records are asked of, made on first use.
    caa_resolver: OnceCell<Result<hickory_resolver::TokioResolver, String>>,
}

impl<'a> AcmeCa<'a> {
    /// The CA for a run with `account`.
    pub fn new(
        (clients, config, sessions): (&'a Clients, &'a Config, &'a Sessions),
        run_id: &'a str,
        account: Result<Account, Arc<AccountError>>,
        budget: Budget,
    ) -> Self {
        Self {
            clients,
            config,
            sessions,
            run_id,
            account,
            solvers: tokio::sync::Mutex::default(),
            delegation: OnceCell::new(),
            budget,
            account_limit: Mutex::new(None),
            renewal_info_limit: Mutex::new(None),
            meta: OnceCell::new(),
            caa_resolver: OnceCell::new(),
        }
    }

    /// What is found before an order is sent: a profile the CA does not offer, CAA records that
    /// forbid the order. Either fails the domain with no order sent.
    async fn before_ordering(
        &self,
        names: &[DomainName],
        options: &OrderOptions,
    ) -> Result<(), IssueError> {
        let directory = &self.config.acme.directory;
        let meta = self
            .meta
            .get_or_init(|| async {
                let limit = self.config.limits.acme_call;
                match tokio::time::timeout(limit, Meta::fetch(&self.config.acme)).await {
                    Ok(meta) => meta.map_err(|e| e.to_string()),
                    Err(_) => Err(format!(
                        "the ACME directory {directory} did not answer within {} s",
                        limit.as_secs()
                    )),
                }
            })
            .await;
        if let Some(profile) = &options.profile {
            match meta {
                Ok(meta) => meta
                    .check_profile(profile, directory)
                    .map_err(|e| IssueError::NotOrdered(Box::new(e)))?,
                Err(e) => {
                    return Err(IssueError::NotOrdered(Box::new(AcmeError::Account {
                        directory: directory.clone(),
                        source: instant_acme::Error::Other(e.clone().into()),
                    })))
                }
            }
        }
        let delegation = match self.delegation().await {
            Ok(d) => d,
            Err(error) => {
                tracing::warn!(%error, "CAA asked of the recursive resolver: the authoritative servers cannot be asked");
                None
            }
        };
        let recursive;
        let lookup = match delegation {
            Some(d) => caa::Lookup::Authoritative(d),
            None => {
                recursive = self
                    .caa_resolver
                    .get_or_init(|| async {
                        acme::propagation::recursive_resolver(self.config.dns.resolver)
                            .map_err(|e| e.to_string())
                    })
                    .await;
                match recursive {
                    Ok(r) => caa::Lookup::Recursive(r),
                    Err(error) => {
                        tracing::warn!(%error, "CAA not checked: no resolver; the CA checks it itself");
                        return Ok(());
                    }
                }
            }
        };
        let identities = meta
            .as_ref()
            .map(|m| m.caa_identities.clone())
            .unwrap_or_default();
        let asker = caa::Asker {
            identities: &identities,
            account: self.account.as_ref().ok().map(Account::id),
        };
        for name in names {
            match caa::relevant(lookup, name).await {
                Ok(Some((owner, records))) => caa::judge(name, (&owner, &records), asker)
                    .map_err(|refusal| IssueError::NotOrdered(Box::new(AcmeError::Caa(refusal))))?,
                Ok(None) => {}
                Err(error) => {
                    tracing::warn!(%name, %error, "no CAA answer; the CA checks CAA itself");
                }
            }
        }
        Ok(())
    }

    /// The DNS-01 solver for the zones of `role`'s account (the function's own without one),
    /// made on first use: one session and one zone listing per account and run. A failure that
    /// may pass is tried once more after the pause, time allowing.
    pub async fn solver(
        &self,
        role: Option<&Role>,
    ) -> Result<Arc<Route53Solver>, Arc<SolverSetupError>> {
        let role = self
            .sessions
            .elsewhere(role)
            .await
            .map_err(|e| Arc::new(SolverSetupError::Role(e)))?;
        let what = match role {
            Some(role) => format!("listing the hosted zones of {role}"),
            None => "listing the hosted zones".to_owned(),
        };
        let call = || self.solver_in(role);
        attempt::once_more(&what, self.budget.remaining(), call, |e| e.lasting()).await
    }

    async fn solver_in(
        &self,
        role: Option<&Role>,
    ) -> Result<Arc<Route53Solver>, Arc<SolverSetupError>> {
        let cell = self
            .solvers
            .lock()
            .await
            .entry(role.cloned())
            .or_default()
            .clone();
        cell.get(|| self.make_solver(role), |e| e.lasting()).await
    }

    async fn make_solver(
        &self,
        role: Option<&Role>,
    ) -> Result<Arc<Route53Solver>, Arc<SolverSetupError>> {
        let route53 = match role {
            None => self.clients.route53.clone(),
            Some(role) => Route53::new(
                &self
                    .sessions
                    .config(role)
                    .await
                    .map_err(|e| Arc::new(SolverSetupError::Role(e)))?,
            ),
        };
        let zones = route53.public_zones().await.map_err(|source| {
            Arc::new(SolverSetupError::Zones {
                role: role.cloned(),
                source,
            })
        })?;
        let max_wait = self.budget.remaining().min(self.config.limits.dns_wait);
        let mut solver = Route53Solver::new(route53, zones, max_wait).in_account(role);
        if self.config.dns.check_authoritative {
            let propagation = Propagation::new(self.config.dns.resolver)
                .map_err(|e| Arc::new(SolverSetupError::Resolver(e)))?;
            solver = solver.with_propagation(propagation);
        }
        Ok(Arc::new(solver))
    }

    /// What follows challenge records' CNAMEs: none without the authoritative check (nothing is
    /// asked of DNS then, and challenges are written at their own names).
    async fn delegation(&self) -> Result<Option<&Delegation>, Arc<SolverSetupError>> {
        self.delegation
            .get_or_init(|| async {
                if !self.config.dns.check_authoritative {
                    return Ok(None);
                }
                Delegation::new(self.config.dns.resolver)
                    .map(Some)
                    .map_err(|e| Arc::new(SolverSetupError::Delegation(e)))
            })
            .await
            .as_ref()
            .map(Option::as_ref)
            .map_err(Clone::clone)
    }

    /// Removes the TXT values killed runs left (from their journal entries); how many entries.
    pub async fn recover_challenges(&self) -> Result<usize, RecoveryError> {
        let s3 = &self.clients.s3;
        let leftovers = s3
            .keys(journal::PREFIX)
            .await
            .map_err(RecoveryError::Journal)?;
        if leftovers.is_empty() {
            return Ok(0);
        }
        Ok(journal::recover(s3, &ByRole(self)).await?)
    }

    /// The polling policy of an order: the time left less a margin for deploying, within bounds.
    fn retry(&self) -> RetryPolicy {
        let limits = &self.config.limits;
        let (least, most) = limits.acme_timeout;
        let timeout = self
            .budget
            .remaining()
            .saturating_sub(limits.acme_margin)
            .clamp(least, most);
        RetryPolicy::new().timeout(timeout)
    }
}

#[async_trait]
impl CertificateAuthority for AcmeCa<'_> {
    async fn renewal_info(&self, leaf_der: &[u8]) -> Option<RenewalInfo> {
        let account = self.account.as_ref().ok()?;
        let limit = self.config.limits.acme_call;
        match tokio::time::timeout(limit, acme::renewal_window(account, leaf_der)).await {
            Ok(Ok(Some((window, ask_after)))) => Some(RenewalInfo {
                window,
                ari_id: acme::certificate_id(leaf_der).ok(),
                ask_after: Some(ask_after),
            }),
            Ok(Ok(None)) => None,
            Ok(Err(AcmeError::RateLimited { limit, .. })) => {
                let until = limit
                    .retry_after
                    .unwrap_or_else(|| time::OffsetDateTime::now_utc() + time::Duration::hours(1));
                info!(%limit, "the CA limits renewal-information requests; using the lifetime rule");
                *self
                    .renewal_info_limit
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(until);
                None
            }
            Ok(Err(error)) => {
                info!(%error, "no renewal information; using the lifetime rule");
                None
            }
            Err(_) => {
                info!(seconds = limit.as_secs(), "the CA did not answer the renewal information request; using the lifetime rule");
                None
            }
        }
    }

    async fn renewal_info_limited(&self) -> Option<time::OffsetDateTime> {
        *self
            .renewal_info_limit
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    async fn issue(
        &self,
        names: &[DomainName],
        (options, dns): (&OrderOptions, &DnsSettings),
        replaces: Option<String>,
    ) -> Result<Issued, IssueError> {
        let account = self
            .account
            .as_ref()
            .map_err(|e| IssueError::NoAccount(e.clone()))?;
        Box::pin(self.before_ordering(names, options)).await?;
        if let Some(limit) = self.account_limited() {
            let names = names.iter().map(ToString::to_string).collect::<Vec<_>>();
            return Err(IssueError::Acme(AcmeError::RateLimited {
                names: names.join(", "),
                step: "new order",
                limit: RateLimit {
                    not_sent: true,
                    ..limit
                },
            }));
        }
        // Where every record goes, before the CA is asked: a domain whose records have nowhere
        // to go leaves no order behind at the CA and is not counted as the CA's failure.
        let (solver, placements) = self.placements(names, dns).await?;
        let entry = format!("{}-{}", self.run_id, inventory::names_hash(names));
        let journaled = Journaled::new(&*solver, &self.clients.s3, &entry);
        let placed = Placed::new(&journaled, dns.role.as_ref(), &placements);
        let request = OrderRequest {
            names,
            options,
            replaces,
            retry: self.retry(),
        };
        // Stopped at the deadline, the order leaves at most its journaled challenge records, which
        // the next run removes.
        let left = self.budget.left_before(self.config.limits.wrap_up);
        match tokio::time::timeout(left, acme::issue(account, &request, &placed)).await {
            Ok(issued) => issued.map_err(|e: AcmeError| self.noting_account_limit(e)),
            Err(_) => Err(IssueError::Deadline(left.as_secs())),
        }
    }

    async fn locate(
        &self,
        names: &[DomainName],
        (options, dns): (&OrderOptions, &DnsSettings),
    ) -> Result<Vec<Placement>, IssueError> {
        Box::pin(self.before_ordering(names, options)).await?;
        Ok(self.placements(names, dns).await?.1)
    }
}

impl AcmeCa<'_> {
    /// The solver of the account holding `names`' challenge records, and where each goes.
    async fn placements(
        &self,
        names: &[DomainName],
        dns: &DnsSettings,
    ) -> Result<(Arc<Route53Solver>, Vec<Placement>), IssueError> {
        let solver = self
            .solver(dns.role.as_ref())
            .await
            .map_err(IssueError::Solver)?;
        let delegation = self.delegation().await.map_err(IssueError::Solver)?;
        let mut records: Vec<String> = names.iter().map(DomainName::challenge_record).collect();
        records.sort_unstable();
        records.dedup(); // an apex and its wildcard share one
        let placements = dns01::locate(&solver, dns, delegation, &records)
            .await
            .map_err(IssueError::Dns)?;
        Ok((solver, placements))
    }

    /// The account's limit, while it holds.
    fn account_limited(&self) -> Option<RateLimit> {
        let held = self
            .account_limit
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        held.clone().filter(|l| {
            l.retry_after
                .is_some_and(|at| at > time::OffsetDateTime::now_utc())
        })
    }

    /// Notes a limit on the account's new orders (Let's Encrypt: 300 per account per 3 hours)
    /// with the CA's date: every later order of the run would be refused the same way.
    fn noting_account_limit(&self, error: AcmeError) -> IssueError {
        if let AcmeError::RateLimited { limit, .. } = &error {
            if limit.account_wide() && limit.retry_after.is_some() {
                tracing::warn!(%limit, "the CA limits this account's new orders: no more orders this run");
                *self
                    .account_limit
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(limit.clone());
            }
        }
        IssueError::Acme(error)
    }
}

/// Challenges sent to the solver of the account each was placed in (its journaled role): how a
/// run removes what killed runs left, whichever accounts they wrote in.
struct ByRole<'c, 'a>(&'c AcmeCa<'a>);

impl ByRole<'_, '_> {
    fn grouped(
        challenges: &[Challenge],
    ) -> std::collections::BTreeMap<Option<Role>, Vec<Challenge>> {
        let mut by_role: std::collections::BTreeMap<_, Vec<Challenge>> = Default::default();
        for c in challenges {
            by_role.entry(c.role.clone()).or_default().push(c.clone());
        }
        by_role
    }

    async fn solver(&self, role: Option<&Role>) -> Result<Arc<Route53Solver>, SolverError> {
        self.0
            .solver(role)
            .await
            .map_err(|e| SolverError::Setup(e.to_string()))
    }
}

impl Dns01Solver for ByRole<'_, '_> {
    async fn present(&self, challenges: &[Challenge]) -> Result<(), SolverError> {
        for (role, group) in Self::grouped(challenges) {
            self.solver(role.as_ref()).await?.present(&group).await?;
        }
        Ok(())
    }

    async fn cleanup(&self, challenges: &[Challenge]) -> Result<(), SolverError> {
        // Every account is cleaned even when one fails; the first failure is reported.
        let mut first_error = None;
        for (role, group) in Self::grouped(challenges) {
            let cleaned = match self.solver(role.as_ref()).await {
                Ok(solver) => solver.cleanup(&group).await,
                Err(e) => Err(e),
            };
            if let Err(e) = cleaned {
                first_error.get_or_insert(e);
            }
        }
        first_error.map_or(Ok(()), Err)
    }
}

/// The ports of a run in one account: `writers` for IAM, CloudFront and ACM, `clients` for the
/// memory, `archive` of that account, `ca` for the CA.
pub fn ports<'a>(
    (clients, writers, archive): (&'a Clients, &'a Guarded<'a>, &'a ArchiveIn<'a>),
    files: &'a SourceFiles<'a>,
    ca: &'a dyn CertificateAuthority,
) -> Ports<'a> {
    Ports {
        iam: writers,
        cloudfront: writers,
        acm: writers,
        archive,
        memory: &clients.s3,
        ca,
        files,
    }
}
