//! The ports: the few things one domain's pipeline needs from the world, each a small trait named
//! for our need. The run hands the pipeline AWS and the ACME CA behind them
//! ([`crate::run::world`]); unit tests hand it in-memory fakes ([`crate::domain`]'s tests).
//!
//! The traits speak the adapters' language (a [`ServerCert`], a [`Swap`], an [`AwsError`]) so
//! that an implementation is a thin delegation, and no SDK type appears here. Two seams live with
//! the code that consumes them and are re-exported: [`Dns01Solver`] (ACME) and [`Files`]
//! (bring-your-own sources).

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use time::OffsetDateTime;

use crate::acme::account::AccountError;
use crate::acme::propagation::PropagationError;
use crate::acme::{AcmeError, Issued, OrderOptions, RenewalWindow};
use crate::aws::acm::{Import, Reimport};
use crate::aws::cloudfront::{Swap, ViewerCert};
use crate::aws::iam::{NewServerCert, ServerCertBody, Upload};
use crate::aws::AwsError;
use crate::certs::archive::Bundle;
use crate::model::dns::DnsSettings;
use crate::model::names::DomainName;
use crate::plan::backoff::{Failures, Windows};
use crate::report::notify::Notified;

pub use crate::acme::dns01::{Dns01Solver, Placement, SolverError};
pub use crate::certs::source::Files;

/// IAM server certificates (the certificates CloudFront serves in AWS China).
#[async_trait]
pub trait ServerCertificates: Send + Sync {
    /// The certificate named `name` with its body, or `None` when there is none.
    async fn get(&self, name: &str) -> Result<Option<ServerCertBody>, AwsError>;
    /// Uploads a certificate; [`Upload::AlreadyExists`] when the name is taken.
    async fn upload(&self, cert: &NewServerCert<'_>) -> Result<Upload, AwsError>;
    /// Adds tags to the certificate named `name`.
    async fn tag(&self, name: &str, tags: &[(String, String)]) -> Result<(), AwsError>;
}

/// CloudFront distributions: pointing one at a certificate.
#[async_trait]
pub trait Distributions: Send + Sync {
    /// One attempt to point distribution `id` at `target` (config and ETag read together).
    async fn swap(&self, id: &str, target: &ViewerCert) -> Result<Swap, AwsError>;
    /// Waits until distribution `id` is `Deployed`, for at most `max_wait`.
    async fn wait_deployed(&self, id: &str, max_wait: Duration) -> Result<(), AwsError>;
}

/// ACM, in any region of the partition.
#[async_trait]
pub trait CertificateManager: Send + Sync {
    /// Imports a new certificate with `tags`; returns its ARN.
    async fn import(
        &self,
        region: &str,
        import: &Import<'_>,
        tags: &[(String, String)],
    ) -> Result<String, AwsError>;
    /// Re-imports in place: the ARN stays, so whatever uses it keeps it.
    async fn reimport(
        &self,
        region: &str,
        arn: &str,
        import: &Import<'_>,
    ) -> Result<Reimport, AwsError>;
}

/// The archive of every bundle (certificate, chain, key), written before anything uses it.
#[async_trait]
pub trait Archive: Send + Sync {
    /// Keeps `bundle` under its name set's hash.
    async fn store(&self, names_hash: &str, bundle: &Bundle) -> Result<(), AwsError>;
    /// Every readable bundle of a name set.
    async fn find(&self, names_hash: &str) -> Result<Vec<Bundle>, AwsError>;
}

/// What cert-rotator remembers between runs about asking the CA: each name set's failed
/// issuances (and the CA's rate limit), and the renewal windows the CA gave with when to ask
/// again ([`crate::plan::backoff`]).
#[async_trait]
pub trait Memory: Send + Sync {
    /// The failed issuances remembered for a name set, if any.
    async fn failures(&self, names_hash: &str) -> Result<Option<Failures>, AwsError>;
    /// Remembers a name set's failed issuances.
    async fn remember_failures(
        &self,
        names_hash: &str,
        failures: &Failures,
    ) -> Result<(), AwsError>;
    /// Forgets them (an issuance succeeded).
    async fn forget_failures(&self, names_hash: &str) -> Result<(), AwsError>;
    /// The renewal windows remembered.
    async fn windows(&self) -> Result<Windows, AwsError>;
    /// Remembers these renewal windows (in place of those remembered before).
    async fn remember_windows(&self, windows: &Windows) -> Result<(), AwsError>;
    /// Until when the CA asked not to be sent renewal-information requests (its 429's
    /// `Retry-After`), if it did.
    async fn renewal_info_limit(&self) -> Result<Option<OffsetDateTime>, AwsError>;
    /// Remembers that date.
    async fn remember_renewal_info_limit(&self, until: OffsetDateTime) -> Result<(), AwsError>;
    /// What was last sent to people about a name set, if anything.
    async fn notified(&self, names_hash: &str) -> Result<Option<Notified>, AwsError>;
    /// Remembers what was sent.
    async fn remember_notified(&self, names_hash: &str, sent: &Notified) -> Result<(), AwsError>;
}

/// The certificate's renewal information (RFC 9773): the CA's window and the certificate's id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenewalInfo {
    /// When the CA suggests renewing.
    pub window: RenewalWindow,
    /// The certificate's ARI identifier, for `replaces` (where it can be computed).
    pub ari_id: Option<String>,
    /// When the CA wants to be asked again (the answer's `Retry-After`, RFC 9773 section 4.3).
    pub ask_after: Option<OffsetDateTime>,
}

/// Why the run's DNS-01 solver could not be made (once per run, shared by every order).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SolverSetupError {
    /// Route 53's hosted zones could not be listed.
    #[error("listing Route 53 hosted zones{}: {source}{}", role.as_ref().map(|r| format!(" of account {} (role {r})", r.account())).unwrap_or_default(), if role.is_some() && source.code.starts_with("AccessDenied") { " — the role needs the member stack's CertificateAccess policy (template.yaml, Deploy=member)" } else { "" })]
    Zones {
        /// The role the zones were listed through, if not the function's own account.
        role: Option<crate::model::role::Role>,
        /// Route 53's error.
        #[source]
        source: AwsError,
    },
    /// The role holding the domain's zone could not be assumed.
    #[error(transparent)]
    Role(Arc<crate::aws::sts::AssumeError>),
    /// The resolver following challenge records' CNAMEs could not be made.
    #[error("setting up the DNS resolver for CNAME-delegated challenges: {0}")]
    Delegation(#[source] crate::acme::delegation::DelegationError),
    /// The resolver of the propagation check could not be made.
    #[error("setting up the DNS resolver for the propagation check: {0}")]
    Resolver(#[source] PropagationError),
}

impl SolverSetupError {
    /// Whether making the solver again would only repeat it: anything but a zone listing or a
    /// role's session that failed in a way that may pass (throttling, an outage).
    pub fn lasting(&self) -> bool {
        match self {
            Self::Zones { source, .. } => !source.may_pass(),
            Self::Role(e) => e.lasting(),
            Self::Delegation(_) | Self::Resolver(_) => true,
        }
    }
}

/// Why a certificate could not be issued.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum IssueError {
    /// The ACME account could not be loaded or created (once per run, shared by every order).
    #[error("no ACME account: {0}")]
    NoAccount(#[source] Arc<AccountError>),
    /// The DNS-01 solver could not be made.
    #[error(transparent)]
    Solver(Arc<SolverSetupError>),
    /// The domain's challenge records have nowhere to go (no zone or two, a refused or broken
    /// delegation): found before the CA is asked, so no order is left behind and the CA's
    /// budget is not spent — nor is it remembered as the CA's failure, so the next run after a
    /// fix orders at once.
    #[error(transparent)]
    Dns(SolverError),
    /// The order failed.
    #[error(transparent)]
    Acme(#[from] AcmeError),
    /// Found before ordering: a profile the CA does not offer, CAA records that forbid the
    /// order. No order was sent, so it is not remembered as the CA's failure either.
    #[error(transparent)]
    NotOrdered(Box<AcmeError>),
    /// The order was stopped at the invocation's deadline.
    #[error("the ACME order did not finish within the {0} s this invocation had left; the next run orders again (challenge records left behind are removed then)")]
    Deadline(u64),
}

/// An ACME CA with its account and DNS-01 solver.
#[async_trait]
pub trait CertificateAuthority: Send + Sync {
    /// The CA's renewal information for the certificate `leaf_der`, where it offers ARI; `None`
    /// when it does not, or cannot say now (the lifetime rule applies then).
    async fn renewal_info(&self, leaf_der: &[u8]) -> Option<RenewalInfo>;
    /// The CA's date when a renewal-information request met its rate limit (HTTP 429) this run:
    /// none is sent before it, by this run or, remembered, by later ones.
    async fn renewal_info_limited(&self) -> Option<OffsetDateTime> {
        None
    }
    /// Orders a certificate for `names` by DNS-01 with `options` (the key, the CA's profile),
    /// with challenge records where `dns` says, and returns it with its key. A profile the CA
    /// does not offer and CAA records that forbid the order fail it before it is sent.
    async fn issue(
        &self,
        names: &[DomainName],
        (options, dns): (&OrderOptions, &DnsSettings),
        replaces: Option<String>,
    ) -> Result<Issued, IssueError>;
    /// Where an order for `names` would write its challenge records, found as the order finds
    /// it (the role assumed, the zones listed, CNAMEs followed) with nothing written: a dry
    /// run's check of the domain's DNS settings, and of its profile and CAA records.
    async fn locate(
        &self,
        names: &[DomainName],
        (options, dns): (&OrderOptions, &DnsSettings),
    ) -> Result<Vec<Placement>, IssueError>;
}

/// Every port the per-domain pipeline uses, borrowed for one run.
#[derive(Clone, Copy)]
pub struct Ports<'a> {
    /// IAM server certificates.
    pub iam: &'a dyn ServerCertificates,
    /// CloudFront.
    pub cloudfront: &'a dyn Distributions,
    /// ACM.
    pub acm: &'a dyn CertificateManager,
    /// The archive.
    pub archive: &'a dyn Archive,
    /// What is remembered of asking the CA.
    pub memory: &'a dyn Memory,
    /// The CA.
    pub ca: &'a dyn CertificateAuthority,
    /// Bring-your-own files.
    pub files: &'a dyn Files,
}
