//! The delivery decision, per domain: what certificate to obtain, and which targets need it.
//!
//! Pure, like [`super::renewal`]: a function of what every target holds now (the distributions
//! serving the names and their renewal plan, the certificate cert-rotator holds for the names in
//! each ACM region), the request, the policy and `now`.
//!
//! 1. [`obtain`]: the user's files when the domain has a source; a new certificate when CloudFront
//!    is due or the domain is forced, and when an ACM region is due with no fresher archived
//!    certificate; the certificate a dead run uploaded when only CloudFront
//!    needs it; nothing when every target holds the same fresh certificate; otherwise the freshest
//!    archived bundle (for a region that lacks the current certificate), issuing only when there
//!    is none and a region holds nothing at all.
//! 2. [`needs`]: once the certificate is known, the distributions to swap to it through IAM, each
//!    ACM region's import or re-import, and whether distributions must be pointed at the
//!    us-east-1 ACM certificate.

use time::OffsetDateTime;

use super::renewal::{self, Action, Attached, Deployed, Observed, Plan, Reason};
use crate::config::RenewalPolicy;
use crate::model::names::DomainName;
use crate::model::targets::{AcmRegion, CloudFrontVia};

/// The certificate cert-rotator holds for a domain's names in one ACM region.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Held {
    /// Its ARN.
    pub arn: String,
    /// Its serial, canonical.
    pub serial: String,
    /// Start of validity, as ACM reports it.
    pub not_before: Option<OffsetDateTime>,
    /// End of validity, as ACM reports it.
    pub not_after: Option<OffsetDateTime>,
}

/// One ACM target of the domain and what its region holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AcmTarget {
    /// The region and the services it is for.
    pub target: AcmRegion,
    /// cert-rotator's certificate for these names there, if any.
    pub held: Option<Held>,
}

/// One domain as observed, before anything is obtained.
#[derive(Debug, Clone)]
pub struct Situation<'a> {
    /// The names of the certificate.
    pub names: &'a [DomainName],
    /// Renew even if fresh.
    pub force: bool,
    /// The certificate comes from the user's files.
    pub own: bool,
    /// How distributions serving the names get it, if at all.
    pub cloudfront: Option<CloudFrontVia>,
    /// The distributions serving the names (empty unless `cloudfront` is set).
    pub observed: &'a [Observed],
    /// The renewal plan of CloudFront through IAM.
    pub renewal: Option<&'a Plan>,
    /// The ACM targets.
    pub acm: &'a [AcmTarget],
    /// The partition's region for CloudFront's ACM certificates, if it has one.
    pub global_region: Option<&'a str>,
}

/// What certificate the domain needs.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Obtain {
    /// None: every target holds a fresh certificate, or nothing serves the names.
    Nothing,
    /// A new one from the CA.
    Issue {
        /// ARI id of the certificate it replaces, where the CA knows it.
        #[serde(skip_serializing_if = "Option::is_none")]
        replaces: Option<String>,
    },
    /// The certificate a dead run uploaded to IAM but did not attach everywhere.
    Uploaded {
        /// Its IAM id.
        certificate: String,
    },
    /// The freshest archived bundle for targets that lack it; without one, a new certificate
    /// when `else_issue` (a region holds nothing at all), otherwise nothing.
    Archived {
        /// Issue when the archive has no usable bundle.
        else_issue: bool,
    },
    /// The user's files.
    Own,
}

/// What the plan does with one ACM region.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum AcmAction {
    /// It holds the certificate already.
    Keep,
    /// It holds nothing for these names: import.
    Import,
    /// It holds another certificate: re-import in place, keeping the ARN.
    Reimport {
        /// The ARN kept.
        arn: String,
    },
}

/// The whole decision for a domain's targets, as a dry run reports it.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct DeliveryPlan {
    /// What certificate the domain needs.
    pub obtain: Obtain,
    /// Each ACM region: what it holds and whether it is due.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub acm: Vec<AcmPlan>,
}

/// One ACM region in a [`DeliveryPlan`].
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct AcmPlan {
    /// The region.
    pub region: String,
    /// The services the certificate there is for.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub services: Vec<String>,
    /// The serial it holds now, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub serial: Option<String>,
    /// `missing`, `due` or `fresh`.
    pub state: &'static str,
}

impl Held {
    /// The held certificate as the renewal rule sees it (`None` when ACM gave no dates).
    fn deployed(&self, names: &[DomainName]) -> Option<Deployed> {
        Some(Deployed {
            id: self.arn.clone(),
            name: self.arn.clone(),
            names: names.iter().map(ToString::to_string).collect(),
            not_before: self.not_before?,
            not_after: self.not_after?,
            window: None,
            ari_id: None,
        })
    }

    /// Whether it is due by the lifetime rule (ACM gives no ARI window of ours).
    fn due(&self, names: &[DomainName], policy: &RenewalPolicy, now: OffsetDateTime) -> bool {
        self.deployed(names)
            .is_some_and(|d| renewal::due("", &Attached::Cert(d), names, policy, now).is_err())
    }
}

impl Situation<'_> {
    /// Whether any ACM region's certificate is due.
    pub fn acm_due(&self, policy: &RenewalPolicy, now: OffsetDateTime) -> bool {
        self.acm.iter().any(|t| {
            t.held
                .as_ref()
                .is_some_and(|h| h.due(self.names, policy, now))
        })
    }

    /// Whether a distribution serving the names is not yet on the global region's ACM
    /// certificate (CloudFront through ACM only).
    pub fn swaps_pending(&self) -> bool {
        if self.cloudfront != Some(CloudFrontVia::Acm) {
            return false;
        }
        let arn = self
            .acm
            .iter()
            .find(|t| Some(t.target.region.as_str()) == self.global_region)
            .and_then(|t| t.held.as_ref().map(|h| h.arn.as_str()));
        self.observed.iter().any(|o| {
            o.uncovered.is_empty()
                && !matches!(&o.attached, Attached::Acm(a) if Some(a.as_str()) == arn)
        })
    }

    /// Whether every target holds one certificate and CloudFront needs nothing: the daily run's
    /// common case, which reads no archive.
    fn settled(&self) -> bool {
        let mut serials = self.acm.iter().map(|t| t.held.as_ref().map(|h| &h.serial));
        let first = serials.next().flatten();
        self.acm.iter().all(|t| t.held.is_some())
            && serials.all(|s| s == first)
            && !self.renewal.is_some_and(changes_cloudfront)
            && !self.swaps_pending()
    }

    /// Whether nothing can take a certificate: no ACM target, and CloudFront through IAM with no
    /// distribution serving the names or none that can take their certificate.
    pub fn unserved(&self) -> bool {
        self.acm.is_empty()
            && match self.cloudfront {
                None => true,
                Some(CloudFrontVia::Acm) => self.observed.is_empty(),
                Some(CloudFrontVia::Iam) => self.renewal.is_some_and(|p| {
                    p.action == Action::NotServed || matches!(p.reason, Reason::AllBlocked { .. })
                }),
            }
    }
}

/// Whether the renewal plan changes what a distribution serves.
fn changes_cloudfront(plan: &Plan) -> bool {
    !matches!(plan.action, Action::Keep | Action::NotServed)
}

/// What certificate the domain needs (step 1 of the module documentation).
pub fn obtain(s: &Situation<'_>, policy: &RenewalPolicy, now: OffsetDateTime) -> Obtain {
    if s.own {
        return Obtain::Own;
    }
    if s.unserved() {
        return Obtain::Nothing;
    }
    let action = s.renewal.map(|p| &p.action);
    if s.force || matches!(action, Some(Action::Issue { .. })) {
        let replaces = match action {
            Some(Action::Issue { replaces }) => replaces.clone(),
            _ => None,
        };
        return Obtain::Issue { replaces };
    }
    // A due ACM region takes a fresher archived certificate where there is one (a re-import
    // that failed on an earlier run): issuing again on every run would spend the CA's budget.
    if s.acm_due(policy, now) {
        return Obtain::Archived { else_issue: true };
    }
    if let (Some(Action::Deploy { certificate }), true) = (action, s.acm.is_empty()) {
        return Obtain::Uploaded {
            certificate: certificate.clone(),
        };
    }
    if s.settled() {
        return Obtain::Nothing;
    }
    Obtain::Archived {
        else_issue: s.acm.iter().any(|t| t.held.is_none()),
    }
}

/// Where a certificate on offer comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// Issued in this run (or by a dead run that archived it and died).
    New,
    /// The user's files.
    Own,
    /// The archive, for targets that lack it.
    Archived,
    /// Uploaded to IAM by a dead run.
    Uploaded,
}

/// The certificate obtained, as [`needs`] sees it.
#[derive(Debug, Clone, Copy)]
pub struct Offer<'a> {
    /// Where it comes from.
    pub origin: Origin,
    /// Its IAM name.
    pub iam_name: &'a str,
    /// Its serial, canonical (unknown for an uploaded certificate that was not read).
    pub serial: Option<&'a str>,
}

/// One ACM region's step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AcmStep {
    /// The target.
    pub target: AcmRegion,
    /// The certificate it held before.
    pub held: Option<Held>,
    /// What to do.
    pub action: AcmAction,
}

/// Which targets need the certificate on offer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Needs {
    /// Distributions to swap to it through IAM.
    pub iam: Vec<String>,
    /// Every ACM region, in order, with its step (`Keep` where it holds the certificate).
    pub acm: Vec<AcmStep>,
    /// Distributions must be pointed at the global region's ACM certificate.
    pub point_at_acm: bool,
}

impl Needs {
    /// Whether any target lacks the certificate.
    pub fn any(&self) -> bool {
        !self.iam.is_empty()
            || self.acm.iter().any(|s| s.action != AcmAction::Keep)
            || self.point_at_acm
    }
}

/// Which targets need `offer` (step 2 of the module documentation). An archived bundle goes to
/// CloudFront through IAM only where the renewal plan deploys; elsewhere it fills ACM regions.
pub fn needs(s: &Situation<'_>, offer: &Offer<'_>) -> Needs {
    let deploys = matches!(s.renewal.map(|p| &p.action), Some(Action::Deploy { .. }));
    let to_iam =
        s.cloudfront == Some(CloudFrontVia::Iam) && (offer.origin != Origin::Archived || deploys);
    let iam = s
        .observed
        .iter()
        .filter(|_| to_iam)
        .filter(|o| renewal::blocked(o).is_none())
        .filter(|o| !matches!(&o.attached, Attached::Cert(c) if c.name == offer.iam_name))
        .map(|o| o.distribution.clone())
        .collect();
    let acm = s
        .acm
        .iter()
        .map(|t| AcmStep {
            target: t.target.clone(),
            held: t.held.clone(),
            action: match &t.held {
                Some(h) if Some(h.serial.as_str()) == offer.serial => AcmAction::Keep,
                Some(h) => AcmAction::Reimport { arn: h.arn.clone() },
                None => AcmAction::Import,
            },
        })
        .collect();
    Needs {
        iam,
        acm,
        point_at_acm: s.swaps_pending(),
    }
}

/// The plan a report shows: what to obtain, and each ACM region's state.
pub fn report(
    s: &Situation<'_>,
    obtain: &Obtain,
    policy: &RenewalPolicy,
    now: OffsetDateTime,
) -> DeliveryPlan {
    DeliveryPlan {
        obtain: obtain.clone(),
        acm: s
            .acm
            .iter()
            .map(|t| AcmPlan {
                region: t.target.region.clone(),
                services: t
                    .target
                    .services
                    .iter()
                    .map(|s| s.key().to_owned())
                    .collect(),
                serial: t.held.as_ref().map(|h| h.serial.clone()),
                state: match &t.held {
                    None => "missing",
                    Some(h) if h.due(s.names, policy, now) => "due",
                    Some(_) => "fresh",
                },
            })
            .collect(),
    }
}

#[cfg(test)]
#[path = "delivery_tests.rs"]
mod tests;
