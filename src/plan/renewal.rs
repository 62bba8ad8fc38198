//! The decision, per domain: keep, deploy a certificate already uploaded, or issue a new one.
//!
//! Pure: a function of what is deployed now (as observed), the policy and `now`. A dry run
//! returns exactly these plans.
//!
//! A domain is due when a distribution serving it carries no certificate, one that cannot be
//! read, one that does not cover every name, one whose ACME Renewal Information window has begun
//! (RFC 9773 section 4.2), or — without ARI — one with less than the policy's fraction of its
//! lifetime left ([`renewal_point`]: a third, or half for lifetimes of 10 days or less); or when
//! forced. A due domain deploys a fresh certificate cert-rotator already
//! uploaded for the same names (a run that died before the swap) instead of issuing again.

use time::{Duration, OffsetDateTime};

use crate::acme::RenewalWindow;
use crate::config::RenewalPolicy;
use crate::model::names::DomainName;

/// A certificate deployed (or uploaded) now, as far as the decision needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Deployed {
    /// Its IAM `ServerCertificateId`.
    pub id: String,
    /// Its IAM name.
    pub name: String,
    /// Its DNS names.
    pub names: Vec<String>,
    /// Start of validity.
    pub not_before: OffsetDateTime,
    /// End of validity.
    pub not_after: OffsetDateTime,
    /// The CA's suggested renewal window, where it offers ARI.
    pub window: Option<RenewalWindow>,
    /// Its ARI identifier, where the CA knows it (for `replaces`).
    pub ari_id: Option<String>,
}

/// What a distribution serves now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Attached {
    /// The default `*.cloudfront.*` certificate.
    None,
    /// An IAM certificate that is not under `/cloudfront/` or cannot be parsed.
    Unreadable {
        /// Its id.
        id: String,
        /// Why.
        why: String,
    },
    /// An ACM certificate (global partition only).
    Acm(String),
    /// A certificate we read.
    Cert(Deployed),
}

/// One distribution serving the domain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Observed {
    /// Distribution id.
    pub distribution: String,
    /// Its certificate.
    pub attached: Attached,
    /// Aliases the domain's names do not cover.
    pub uncovered: Vec<String>,
}

/// Why the plan is what it is.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
#[non_exhaustive]
pub enum Reason {
    /// The request forced a renewal.
    Forced,
    /// No distribution serves any of the names.
    NotServed,
    /// A distribution serves only the default certificate.
    NoCertificate {
        /// The distribution.
        distribution: String,
    },
    /// The attached certificate cannot be used as a basis.
    Unreadable {
        /// The distribution.
        distribution: String,
        /// Why.
        why: String,
    },
    /// The attached certificate lacks some of the names (names were added).
    NamesNotCovered {
        /// The distribution.
        distribution: String,
        /// The names it lacks.
        missing: Vec<String>,
    },
    /// The CA's renewal window has begun.
    RenewalWindowStarted {
        /// The distribution.
        distribution: String,
        /// Window start.
        #[serde(with = "time::serde::rfc3339")]
        start: OffsetDateTime,
    },
    /// Less than the policy's share of the lifetime is left.
    LifetimeRemaining {
        /// The distribution.
        distribution: String,
        /// Days left.
        days_left: i64,
        /// The policy's threshold in days, for this certificate's lifetime.
        threshold_days: i64,
    },
    /// Every distribution's certificate is fresh.
    Fresh {
        /// When the first of them becomes due.
        #[serde(with = "time::serde::rfc3339")]
        renew_at: OffsetDateTime,
    },
    /// No distribution serving the names can take a certificate for them.
    AllBlocked {
        /// Each one and why.
        distributions: Vec<Blocked>,
    },
}

/// A distribution serving some of the names that cert-rotator leaves alone, and why.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Blocked {
    /// The distribution.
    pub distribution: String,
    /// Why, and what to do.
    pub why: String,
}

/// Why a distribution cannot take a certificate for these names through IAM, if it cannot.
pub fn blocked(o: &Observed) -> Option<Blocked> {
    let why = if !o.uncovered.is_empty() {
        format!(
            "it also serves {}, which these names do not cover (CloudFront needs every alias covered): add them to the names, or move them to another distribution",
            o.uncovered.join(", ")
        )
    } else if let Attached::Acm(arn) = &o.attached {
        format!("it serves the ACM certificate {arn}, which ACM renews itself; cert-rotator leaves it alone")
    } else {
        return None;
    };
    Some(Blocked {
        distribution: o.distribution.clone(),
        why,
    })
}

/// What to do.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "action", rename_all = "kebab-case")]
pub enum Action {
    /// Nothing: fresh, or nothing we can act on.
    Keep,
    /// No distribution serves the names: reported, not issued.
    NotServed,
    /// Attach this already uploaded certificate.
    Deploy {
        /// Its IAM id.
        certificate: String,
    },
    /// Issue a new certificate, then attach it.
    Issue {
        /// ARI id of the certificate it replaces, where the CA knows it.
        replaces: Option<String>,
    },
}

/// The decision for one domain.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Plan {
    /// What to do.
    #[serde(flatten)]
    pub action: Action,
    /// Why.
    pub reason: Reason,
    /// The distributions to point at the new certificate.
    pub distributions: Vec<String>,
    /// Distributions left alone, and why.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub blocked: Vec<Blocked>,
}

/// When the certificate is due for `names`: `Ok(renew_at)` while fresh, `Err(reason)` once due.
pub fn due(
    distribution: &str,
    attached: &Attached,
    names: &[DomainName],
    policy: &RenewalPolicy,
    now: OffsetDateTime,
) -> Result<OffsetDateTime, Reason> {
    let distribution = distribution.to_owned();
    let cert = match attached {
        Attached::None => return Err(Reason::NoCertificate { distribution }),
        Attached::Unreadable { why, .. } => {
            return Err(Reason::Unreadable {
                distribution,
                why: why.clone(),
            })
        }
        Attached::Acm(arn) => {
            return Err(Reason::Unreadable {
                distribution,
                why: format!("ACM certificate {arn}"),
            })
        }
        Attached::Cert(cert) => cert,
    };
    let missing: Vec<String> = names
        .iter()
        .filter(|n| {
            !cert.names.iter().any(|c| {
                c.parse::<DomainName>()
                    .is_ok_and(|c| c == **n || (!n.is_wildcard() && c.covers(n.as_str())))
            })
        })
        .map(|n| n.to_string())
        .collect();
    if !missing.is_empty() {
        return Err(Reason::NamesNotCovered {
            distribution,
            missing,
        });
    }
    if let (true, Some(window)) = (policy.use_ari, cert.window) {
        return if now >= window.start {
            Err(Reason::RenewalWindowStarted {
                distribution,
                start: window.start,
            })
        } else {
            Ok(window.start)
        };
    }
    let renew_at = renewal_point(policy, cert.not_before, cert.not_after);
    let threshold = cert.not_after - renew_at;
    if now >= renew_at {
        return Err(Reason::LifetimeRemaining {
            distribution,
            days_left: (cert.not_after - now).whole_days(),
            threshold_days: threshold.whole_days(),
        });
    }
    Ok(renew_at)
}

/// Lifetimes of this much or less renew at half their lifetime, not at the policy's fraction.
pub const SHORT_LIFETIME: Duration = Duration::days(10);

/// The share of a certificate's lifetime left at which it renews without ARI: the policy's
/// fraction (a third by default: day 60 of 90, day 43 of 64, day 30 of 45), and at least half
/// for lifetimes of [`SHORT_LIFETIME`] or less — Let's Encrypt's advice for short-lived
/// certificates (day 3 of a 6-day one), which leaves a failed renewal room for a few more runs.
pub fn remaining_share(policy: &RenewalPolicy, lifetime: Duration) -> f64 {
    if lifetime <= SHORT_LIFETIME {
        policy.remaining_fraction.max(0.5)
    } else {
        policy.remaining_fraction
    }
}

/// When a certificate valid from `not_before` to `not_after` is due by its lifetime.
pub fn renewal_point(
    policy: &RenewalPolicy,
    not_before: OffsetDateTime,
    not_after: OffsetDateTime,
) -> OffsetDateTime {
    let lifetime = not_after - not_before;
    not_after - lifetime * remaining_share(policy, lifetime)
}

/// The point by which a certificate must have been renewed: the end of the CA's window where it
/// gave one (RFC 9773 section 4.2), otherwise its [`renewal_point`]. A certificate still serving
/// more than one scheduled run past this is overdue — the alarm's main signal.
pub fn renew_by(policy: &RenewalPolicy, cert: &Deployed) -> OffsetDateTime {
    match (policy.use_ari, cert.window) {
        (true, Some(window)) => window.end,
        _ => renewal_point(policy, cert.not_before, cert.not_after),
    }
}

/// Whether the certificate that must be renewed by `renew_by` is overdue at `now`: past that
/// point by more than one run interval (one missed run is an overdue renewal; the run right
/// after the point is not).
pub fn overdue(policy: &RenewalPolicy, renew_by: OffsetDateTime, now: OffsetDateTime) -> bool {
    let interval = Duration::try_from(policy.run_interval).unwrap_or(Duration::DAY);
    now > renew_by + interval
}

/// How many scheduled runs fall between a certificate's renewal point and its expiry, by the
/// schedule's interval: fewer than [`MIN_RUNS_TO_RENEW`] leaves a failed renewal no second try.
pub fn runs_to_renew(policy: &RenewalPolicy, lifetime: Duration) -> i64 {
    let interval = Duration::try_from(policy.run_interval).unwrap_or(Duration::DAY);
    let window = lifetime * remaining_share(policy, lifetime);
    if interval.is_zero() {
        return i64::MAX;
    }
    (window.whole_seconds() / interval.whole_seconds().max(1)).max(0)
}

/// The stack's `ScheduleHours` choices (an EventBridge `rate(N hours)` that divides a day).
pub const SCHEDULE_HOURS: [u64; 8] = [1, 2, 3, 4, 6, 8, 12, 24];

/// The fewest runs the schedule must leave between the renewal point and the expiry.
pub const MIN_RUNS_TO_RENEW: i64 = 2;

/// The advice when the schedule leaves fewer than [`MIN_RUNS_TO_RENEW`] runs for a certificate of
/// `lifetime`, if it does.
pub fn schedule_advice(policy: &RenewalPolicy, lifetime: Duration) -> Option<String> {
    let runs = runs_to_renew(policy, lifetime);
    (runs < MIN_RUNS_TO_RENEW).then(|| {
        let hours = policy.run_interval.as_secs() / 3600;
        let window = lifetime * remaining_share(policy, lifetime);
        let most = u64::try_from(window.whole_hours() / MIN_RUNS_TO_RENEW).unwrap_or(0);
        let fits = SCHEDULE_HOURS
            .iter()
            .rev()
            .find(|h| **h <= most)
            .unwrap_or(&SCHEDULE_HOURS[0]);
        format!(
            "this {}-day certificate renews {:.1} days before it expires, and a run every {hours} h leaves {runs} run(s) in that time: set the stack's ScheduleHours to {fits} or less (the README's table of lifetimes and schedules)",
            lifetime.whole_days(),
            window.as_seconds_f64() / 86_400.0,
        )
    })
}

/// Whether a certificate for `old` names may be named in `replaces` of an order for `names`:
/// Let's Encrypt refuses a `replaces` whose certificate shares no identifier with the new order
/// (400 `malformed`, Boulder's `wfe.orderMatchesReplacement`), matching each order identifier
/// against the old certificate as Go's `x509.VerifyHostname` does: a name of the old certificate
/// equal to it (case-insensitive), or an old `*.` name one label above it — while an identifier
/// that is itself a wildcard matches only the same wildcard.
pub fn shares_an_identifier(old: &[String], names: &[DomainName]) -> bool {
    names.iter().any(|new| {
        let new = new.to_string().to_ascii_lowercase();
        old.iter().any(|o| {
            let o = o.trim_end_matches('.').to_ascii_lowercase();
            if o == new {
                return true;
            }
            match (o.strip_prefix("*."), new.starts_with("*.")) {
                (Some(parent), false) => new
                    .split_once('.')
                    .is_some_and(|(label, rest)| !label.is_empty() && rest == parent),
                _ => false,
            }
        })
    })
}

/// Decides for one domain. `candidate` is the freshest certificate cert-rotator already
/// uploaded for exactly these names, if any (looked up only when the domain is due).
pub fn decide(
    names: &[DomainName],
    force: bool,
    observed: &[Observed],
    candidate: Option<&Deployed>,
    policy: &RenewalPolicy,
    now: OffsetDateTime,
) -> Plan {
    let blocked: Vec<Blocked> = observed.iter().filter_map(blocked).collect();
    let usable: Vec<&Observed> = observed
        .iter()
        .filter(|o| !blocked.iter().any(|b| b.distribution == o.distribution))
        .collect();
    let plan = |action, reason, distributions| Plan {
        action,
        reason,
        distributions,
        blocked: blocked.clone(),
    };
    if observed.is_empty() {
        return plan(Action::NotServed, Reason::NotServed, vec![]);
    }
    if usable.is_empty() {
        return plan(
            Action::Keep,
            Reason::AllBlocked {
                distributions: blocked.clone(),
            },
            vec![],
        );
    }
    let verdicts: Vec<(&Observed, Result<OffsetDateTime, Reason>)> = usable
        .iter()
        .map(|o| (*o, due(&o.distribution, &o.attached, names, policy, now)))
        .collect();
    let first_due = verdicts
        .iter()
        .find_map(|(o, v)| v.as_ref().err().map(|r| (*o, r.clone())));
    let replaces = || {
        first_due.as_ref().and_then(|(o, _)| match &o.attached {
            Attached::Cert(c) if shares_an_identifier(&c.names, names) => c.ari_id.clone(),
            _ => None,
        })
    };
    let all: Vec<String> = usable.iter().map(|o| o.distribution.clone()).collect();
    if force {
        return plan(
            Action::Issue {
                replaces: replaces(),
            },
            Reason::Forced,
            all,
        );
    }
    let Some((_, reason)) = first_due.clone() else {
        let renew_at = verdicts
            .iter()
            .filter_map(|(_, v)| v.as_ref().ok().copied())
            .min()
            .unwrap_or(now);
        return plan(Action::Keep, Reason::Fresh { renew_at }, vec![]);
    };
    if let Some(c) = usable_candidate(candidate, &verdicts, names, policy, now) {
        let pending: Vec<String> = usable
            .iter()
            .filter(|o| !matches!(&o.attached, Attached::Cert(d) if d.id == c.id))
            .map(|o| o.distribution.clone())
            .collect();
        let certificate = c.id.clone();
        return plan(Action::Deploy { certificate }, reason, pending);
    }
    plan(
        Action::Issue {
            replaces: replaces(),
        },
        reason,
        all,
    )
}

/// The uploaded candidate, if it may be deployed: fresh, and not itself a certificate that is due
/// where it is attached.
fn usable_candidate<'c>(
    candidate: Option<&'c Deployed>,
    verdicts: &[(&Observed, Result<OffsetDateTime, Reason>)],
    names: &[DomainName],
    policy: &RenewalPolicy,
    now: OffsetDateTime,
) -> Option<&'c Deployed> {
    let due_here = |c: &Deployed| {
        verdicts
            .iter()
            .any(|(o, v)| v.is_err() && matches!(&o.attached, Attached::Cert(d) if d.id == c.id))
    };
    candidate.filter(|c| {
        !due_here(c) && due("", &Attached::Cert((*c).clone()), names, policy, now).is_ok()
    })
}

#[cfg(test)]
#[path = "renewal_tests.rs"]
mod tests;
