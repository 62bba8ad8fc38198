//! One domain's pipeline, in the order things happen:
//!
//! 1. **observe** ([`observe`]): the distributions serving the names and their certificates, the
//!    renewal plan of CloudFront through IAM, what each ACM region holds;
//! 2. **decide** ([`crate::plan::delivery`]): what certificate the domain needs — nothing, the
//!    user's files, the archived bundle, the one a dead run uploaded, or a new one;
//! 3. **obtain** ([`obtain`]): read, reuse or issue it; check it; archive it before any use;
//! 4. **deploy** (`deliver`, through [`crate::deploy`]): upload to IAM and swap distributions,
//!    import or re-import in each ACM region, point distributions at the us-east-1 ACM
//!    certificate — where it is not yet;
//! 5. **conclude** ([`conclude`]): the outcome, and the error that says what the next run retries.
//!
//! A dry run stops after step 2, and checks where an ACME domain's challenge records would go.
//! Why a domain fails or waits is a [`DomainError`].
//!
//! The IAM-only domain of the daily run is the general case with the default target and no
//! source. A failure before anything was deployed fails the domain with nothing changed; a failure
//! on some targets after others took the certificate is reported per target. The pipeline knows
//! the world only through [`Ports`], so unit tests run it against in-memory fakes.

pub mod conclude;
mod deliver;
mod error;
pub mod memory;
pub mod observe;
pub mod obtain;
pub mod windows;

#[cfg(test)]
mod fakes;
#[cfg(test)]
mod lifetime_tests;
#[cfg(test)]
mod memory_tests;
#[cfg(test)]
mod tests;

pub use error::DomainError;

use std::collections::HashMap;

use time::OffsetDateTime;
use tokio::time::Instant;
use tracing::warn;

use crate::aws::acm::AcmCert;
use crate::budget::Budget;
use crate::config::Config;
use crate::deploy::{Certificate, SwappedOff};
use crate::event::DomainRequest;
use crate::model::inventory::{self, Inventory};
use crate::model::partition::Partition;
use crate::model::targets::Targets;
use crate::plan::delivery::{self, Obtain, Offer, Origin, Situation};
use crate::plan::quota::IamSlots;
use crate::plan::{Attached, Blocked, Reason};
use crate::ports::{IssueError, Ports};
use crate::report::{DomainReport, Outcome};

/// What the run listed once and hands every domain.
#[derive(Debug, Default)]
pub struct Listing {
    /// IAM certificates under `/cloudfront/` and every distribution.
    pub inventory: Inventory,
    /// Each IAM certificate attached to a distribution serving a requested name, read once.
    pub attached: HashMap<String, Attached>,
    /// cert-rotator's ACM certificates per region the run lists (or why the listing failed).
    pub acm: HashMap<String, Result<Vec<AcmCert>, String>>,
    /// The free slots of IAM's server-certificate quota, taken by each upload.
    pub iam_slots: IamSlots,
}

/// Everything one domain's pipeline uses.
#[derive(Clone, Copy)]
pub struct Context<'a> {
    /// The world.
    pub ports: Ports<'a>,
    /// What the run listed.
    pub listing: &'a Listing,
    /// Policy, limits, defaults.
    pub config: &'a Config,
    /// The run's partition.
    pub partition: Partition,
    /// The run's start: every decision is taken at this time.
    pub now: OffsetDateTime,
    /// The invocation's time.
    pub budget: Budget,
    /// Decide and report; change nothing.
    pub dry_run: bool,
}

/// One domain's result.
#[derive(Debug, Clone)]
pub struct Handled {
    /// What the report says of it.
    pub report: DomainReport,
    /// Distributions swapped away from IAM certificates, for retirement.
    pub swapped_off: Vec<SwappedOff>,
}

/// The domain's names as the report spells them.
pub fn names_of(domain: &DomainRequest) -> Vec<String> {
    domain.names.iter().map(ToString::to_string).collect()
}

/// Days from `now` to `not_after`, to a tenth.
pub fn days_left(not_after: OffsetDateTime, now: OffsetDateTime) -> f64 {
    crate::report::days(now, not_after)
}

/// Runs the pipeline for one domain; never fails: a failure is the domain's outcome.
pub async fn handle(cx: &Context<'_>, domain: &DomainRequest) -> Handled {
    let started = Instant::now();
    let mut report = DomainReport::new(names_of(domain), Outcome::Kept);
    if !is_default(domain) {
        report.source = Some(match &domain.source {
            Some(s) => s.certificate.to_string(),
            None => "acme".into(),
        });
    }
    let swapped_off = match pipeline(cx, domain, &mut report).await {
        Ok(swapped_off) => swapped_off,
        Err(error) if error.waits_until().is_some() => {
            warn!(domain = %domain.label(), %error, "waiting");
            report.outcome = Outcome::Deferred;
            report.not_before = error.waits_until();
            report.error = Some(error.to_string());
            vec![]
        }
        Err(error) => {
            warn!(domain = %domain.label(), %error, "renewal failed");
            report.outcome = Outcome::Failed;
            report.error = Some(error.to_string());
            vec![]
        }
    };
    report.timings_ms.insert("total", elapsed_ms(started));
    Handled {
        report,
        swapped_off,
    }
}

/// [`handle`], stopped at `stop_at` wherever it is: what a stopped domain leaves (journaled
/// challenge records, an archived or uploaded certificate not yet attached) is what a killed run
/// leaves, and the next run repairs it.
pub async fn handle_until(cx: &Context<'_>, domain: &DomainRequest, stop_at: Instant) -> Handled {
    match tokio::time::timeout_at(stop_at, handle(cx, domain)).await {
        Ok(handled) => handled,
        Err(_) => {
            warn!(domain = %domain.label(), "stopped at the invocation's deadline");
            let mut report = DomainReport::new(names_of(domain), Outcome::Failed);
            report.error = Some(
                "stopped at the invocation's deadline; the next run finishes it and removes what this one left"
                    .into(),
            );
            Handled {
                report,
                swapped_off: vec![],
            }
        }
    }
}

/// ACME to CloudFront through IAM, the default: reported without `source` or a delivery plan.
fn is_default(domain: &DomainRequest) -> bool {
    domain.source.is_none() && domain.targets == Targets::default()
}

fn elapsed_ms(since: Instant) -> u64 {
    u64::try_from(since.elapsed().as_millis()).unwrap_or(u64::MAX)
}

/// Steps 1–5 of the module documentation.
async fn pipeline(
    cx: &Context<'_>,
    domain: &DomainRequest,
    report: &mut DomainReport,
) -> Result<Vec<SwappedOff>, DomainError> {
    let hash = inventory::names_hash(&domain.names);
    let seen = observe::observe(cx, domain, &hash).await?;
    observe::report(&seen, &domain.label(), cx, report);
    let own = match &domain.source {
        Some(src) => Some(obtain::own(cx, domain, src, report).await?),
        None => None,
    };
    let situation = Situation {
        names: &domain.names,
        force: domain.force,
        own: own.is_some(),
        cloudfront: domain.targets.cloudfront,
        observed: &seen.observed,
        renewal: seen.renewal.as_ref(),
        acm: &seen.acm,
        global_region: cx.partition.global_certificate_region(),
    };
    let policy = &cx.config.policy;
    let decision = delivery::obtain(&situation, policy, cx.now);
    if !is_default(domain) {
        report.delivery = Some(delivery::report(&situation, &decision, policy, cx.now));
    }
    let (decision, offered) = match decision {
        Obtain::Own => (Obtain::Own, own),
        Obtain::Archived { else_issue } => match archived(cx, domain).await {
            Some(found) => (Obtain::Archived { else_issue }, Some(found)),
            None if else_issue => (Obtain::Issue { replaces: None }, None),
            None => (Obtain::Nothing, None),
        },
        other => (other, None),
    };
    if let Some(done) = early_outcome(&situation, &decision, offered.as_ref(), cx, report) {
        if cx.dry_run && domain.source.is_none() && report.outcome != Outcome::NotServed {
            preflight(cx, domain, report).await;
        }
        if cx.dry_run && matches!(decision, Obtain::Issue { .. }) {
            memory::in_dry_run(cx, domain, report).await;
        }
        return Ok(done);
    }
    let issue_started = Instant::now();
    let (certificate, origin) = match (decision, offered) {
        (Obtain::Issue { replaces }, _) => {
            let new = Offer {
                origin: Origin::New,
                iam_name: "",
                serial: None,
            };
            let to_iam = !delivery::needs(&situation, &new).iam.is_empty();
            let slot = || deliver::take_iam_slot(cx, to_iam);
            let issued = obtain::issue(cx, (domain, slot), replaces, report).await?;
            (issued, Origin::New)
        }
        (Obtain::Uploaded { certificate }, _) => {
            match cx.listing.inventory.certificate(&certificate) {
                Some(cert) => (Certificate::Uploaded(cert.clone()), Origin::Uploaded),
                None => return Err(DomainError::Vanished(certificate)),
            }
        }
        (Obtain::Own, Some(own)) => (own, Origin::Own),
        (_, Some(found)) => (found, Origin::Archived),
        (_, None) => return Ok(vec![]),
    };
    if origin == Origin::New {
        report.timings_ms.insert("issue", elapsed_ms(issue_started));
    }
    deliver::deliver(
        cx,
        domain,
        (&situation, &seen),
        (certificate, origin),
        report,
    )
    .await
}

/// A dry run's check of an ACME domain's DNS settings, due or not: where each challenge record
/// would be written, or the error the next order would meet there (a role that cannot be
/// assumed, no zone or two, a broken delegation), which fails the domain now.
async fn preflight(cx: &Context<'_>, domain: &DomainRequest, report: &mut DomainReport) {
    let options = obtain::order_options(cx, domain, None);
    match cx
        .ports
        .ca
        .locate(&domain.names, (&options, &domain.dns))
        .await
    {
        Ok(places) => report.challenges = places,
        Err(error) => {
            warn!(domain = %domain.label(), %error, "the next order would fail");
            report.outcome = Outcome::Failed;
            let placing = if matches!(error, IssueError::NotOrdered(_)) {
                ""
            } else {
                " placing its challenge records"
            };
            report.error.get_or_insert_with(|| {
                format!("dry run: the next order would fail{placing}: {error}")
            });
        }
    }
}

/// The freshest archived bundle; an unreadable archive is logged and treated as empty.
async fn archived(cx: &Context<'_>, domain: &DomainRequest) -> Option<Certificate> {
    obtain::freshest_archived(cx, domain, None)
        .await
        .unwrap_or_else(|error| {
            warn!(domain = %domain.label(), %error, "cannot read the archive");
            None
        })
}

/// The outcome when the pipeline stops before obtaining anything: no distribution can take the
/// certificate, nothing serves the names, a dry run, nothing needed, or too little time left.
fn early_outcome(
    s: &Situation<'_>,
    decision: &Obtain,
    offered: Option<&Certificate>,
    cx: &Context<'_>,
    report: &mut DomainReport,
) -> Option<Vec<SwappedOff>> {
    if let Some(blocked) = all_blocked(s) {
        let whys: Vec<String> = blocked
            .iter()
            .map(|b| format!("{}: {}", b.distribution, b.why))
            .collect();
        report.outcome = Outcome::Failed;
        report.error = Some(format!(
            "no distribution serving these names can take their certificate — {}",
            whys.join("; ")
        ));
        return Some(vec![]);
    }
    if !s.own && s.unserved() {
        report.outcome = Outcome::NotServed;
        return Some(vec![]);
    }
    if cx.dry_run {
        let needed = match (decision, offered) {
            (Obtain::Issue { .. } | Obtain::Uploaded { .. }, _) => true,
            (Obtain::Own, Some(c)) => delivery::needs(s, &offer(c, Origin::Own)).any(),
            (Obtain::Archived { .. }, Some(c)) => {
                delivery::needs(s, &offer(c, Origin::Archived)).any()
            }
            _ => false,
        };
        report.outcome = if needed {
            Outcome::Planned
        } else {
            Outcome::Kept
        };
        return Some(vec![]);
    }
    if *decision == Obtain::Nothing {
        return Some(vec![]);
    }
    if let Some(why) = cx.budget.deferral(cx.config.limits.min_renewal) {
        report.outcome = Outcome::Deferred;
        report.error = Some(why);
        return Some(vec![]);
    }
    None
}

/// The distributions serving the names, when none of them can take the certificate and the
/// domain has no other target.
fn all_blocked<'p>(s: &Situation<'p>) -> Option<&'p Vec<Blocked>> {
    if !s.acm.is_empty() {
        return None;
    }
    s.renewal.and_then(|p| match &p.reason {
        Reason::AllBlocked { distributions } => Some(distributions),
        _ => None,
    })
}

/// The certificate as [`delivery::needs`] sees it.
fn offer(c: &Certificate, origin: Origin) -> Offer<'_> {
    Offer {
        origin,
        iam_name: c.iam_name(),
        serial: c.serial(),
    }
}
