//! What a run reports: one JSON result per domain (returned by the handler and logged), and
//! CloudWatch embedded metric format (EMF) lines for the alarms.
//!
//! EMF: <https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Specification.html>.
//! Metrics, namespace `CertRotator`: `DaysToExpiry` per domain; `StoreMinDaysToExpiry` per
//! certificate store (`iam`, `acm:<region>`) over the inventory's certificates that are ours or in
//! use (with an `Account` dimension for another account's stores: a domain's `account`); per run `Renewals`, `Failures`, `DomainsWaiting` (domains that wait for the CA's budget:
//! after failed issuances, under its rate limit, or at the weekly cap — not failures, so the
//! Errors alarm stays for what failed this run),
//! `MinDaysToExpiry` (over both, also from dry runs and inventories), `Overdue` (domains served
//! more than one scheduled run past their renewal point, every run, 0 included: OverdueAlarm) and
//! `MinLifetimeLeftPercent` (the smallest share of its lifetime a domain's or an ACM certificate
//! has left: ExpiryAlarm below 15 %), `SuccessfulRun` (the alarm on no run in 26 h) and
//! `SkippedRun` (1 when another run held the lease: the alarm on skips in two scheduled
//! intervals in a row).

pub mod notify;
mod results;

pub use results::{AcmResult, RetirementResult, SwapResult};

use std::collections::BTreeMap;

use time::OffsetDateTime;

use crate::acme::account::Origin;
use crate::acme::dns01::Placement;
use crate::plan::delivery::DeliveryPlan;
use crate::plan::Plan;

/// The outcome of one domain.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    /// Fresh: nothing done.
    Kept,
    /// A new certificate was issued and deployed.
    Renewed,
    /// An already uploaded certificate was deployed.
    Deployed,
    /// No distribution serves the names.
    NotServed,
    /// Not started: too little time left in this invocation (the next run does it), or waiting
    /// for the CA's budget until `not_before` (failed issuances, its rate limit, the weekly cap).
    Deferred,
    /// Another run holds the lock.
    Locked,
    /// Dry run: the plan is reported, nothing changed.
    Planned,
    /// Failed; see `error`.
    Failed,
}

/// A certificate, briefly.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct CertRef {
    /// IAM `ServerCertificateId`.
    pub id: String,
    /// IAM name.
    pub name: String,
    /// Its not-after.
    #[serde(with = "time::serde::rfc3339::option")]
    pub not_after: Option<OffsetDateTime>,
}

/// A distribution touched.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct DistributionChange {
    /// Its id.
    pub id: String,
    /// The certificate it had (IAM id).
    pub from: Option<String>,
    /// The certificate it has now.
    pub to: String,
    /// `updated`, `unchanged`, or the error.
    pub result: SwapResult,
}

/// What happened to a domain's certificate in one ACM region.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct AcmChange {
    /// The region.
    pub region: String,
    /// The services the certificate there is for.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub services: Vec<String>,
    /// The certificate's ARN (the same before and after a re-import).
    pub arn: String,
    /// The serial it held before, if there was one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from_serial: Option<String>,
    /// The serial it holds now.
    pub serial: String,
    /// `imported`, `reimported`, `unchanged`, or the error.
    pub result: AcmResult,
}

/// A certificate in the inventory, with its days left.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct InventoryItem {
    /// `iam` or `acm`.
    pub store: &'static str,
    /// The ACM region (`None` for IAM, which is global).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// The IAM name or the ACM ARN.
    pub id: String,
    /// Its names, where known (the ACM tag).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub names: Option<String>,
    /// When it expires.
    #[serde(with = "time::serde::rfc3339::option")]
    pub not_after: Option<OffsetDateTime>,
    /// Days left (negative once expired).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub days_left: Option<f64>,
    /// Its lifetime in days, where the store says when it began (ACM; IAM lists only the end).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lifetime_days: Option<f64>,
    /// Uploaded or imported by cert-rotator.
    pub managed: bool,
    /// Attached to a distribution (IAM) or used by a service (ACM).
    pub in_use: bool,
    /// The account it is in, when not the function's own (a domain's `account`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub account: Option<String>,
}

impl InventoryItem {
    /// Whether its expiry should raise the alarm: ours, or in use.
    pub fn watched(&self) -> bool {
        self.managed || self.in_use
    }
}

/// The result for one domain.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct DomainReport {
    /// Its names.
    pub names: Vec<String>,
    /// The account its certificates are deployed in, when not the function's own.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub account: Option<String>,
    /// What happened.
    pub outcome: Outcome,
    /// The decision and why.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub plan: Option<Plan>,
    /// The decision for the domain's targets and source (domains other than the default ACME
    /// to CloudFront through IAM).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delivery: Option<DeliveryPlan>,
    /// The certificate deployed before.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub old_certificate: Option<CertRef>,
    /// The certificate deployed now, if it changed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub new_certificate: Option<CertRef>,
    /// Distributions touched.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub distributions: Vec<DistributionChange>,
    /// ACM imports, per region.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub acm: Vec<AcmChange>,
    /// Whether a new certificate has a new key or the archived one (`reuse_key`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<KeyUse>,
    /// Where the certificate came from: `acme`, or the bring-your-own file.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// A dry run's check of an ACME domain's DNS: where each challenge record would be written.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub challenges: Vec<Placement>,
    /// Accepted, but worth fixing (a bring-your-own bundle's oddities, an expiring source).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
    /// Days until the certificate deployed after the run expires (the earliest, if several).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub days_to_expiry: Option<f64>,
    /// That certificate's lifetime in days (6, 45, 64, 90...): alarms weigh the days left
    /// against it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lifetime_days: Option<f64>,
    /// When the certificate serving after the run must be renewed by: the end of the CA's
    /// renewal window, else its renewal point ([`crate::plan::renewal::renew_by`]).
    #[serde(
        skip_serializing_if = "Option::is_none",
        with = "time::serde::rfc3339::option"
    )]
    pub renew_by: Option<OffsetDateTime>,
    /// Still serving more than one scheduled run past `renew_by`: a renewal was missed.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub overdue: bool,
    /// When a waiting domain may be issued again.
    #[serde(
        skip_serializing_if = "Option::is_none",
        with = "time::serde::rfc3339::option"
    )]
    pub not_before: Option<OffsetDateTime>,
    /// Milliseconds per phase.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub timings_ms: BTreeMap<&'static str, u64>,
    /// What went wrong, and what to do.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl DomainReport {
    /// The share of its lifetime the certificate serving after the run has left (1.0 new, 0.0 at
    /// expiry), where its lifetime is known: one threshold fits 90- and 6-day certificates.
    pub fn lifetime_left(&self) -> Option<f64> {
        match (self.days_to_expiry, self.lifetime_days) {
            (Some(days), Some(lifetime)) if lifetime > 0.0 => Some(days / lifetime),
            _ => None,
        }
    }

    /// A report with only the names and outcome.
    pub fn new(names: Vec<String>, outcome: Outcome) -> Self {
        Self {
            names,
            account: None,
            outcome,
            plan: None,
            delivery: None,
            old_certificate: None,
            new_certificate: None,
            distributions: vec![],
            acm: vec![],
            key: None,
            source: None,
            challenges: vec![],
            warnings: vec![],
            days_to_expiry: None,
            lifetime_days: None,
            renew_by: None,
            overdue: false,
            not_before: None,
            timings_ms: BTreeMap::new(),
            error: None,
        }
    }
}

/// The certificate serving a domain, as the report and the alarms weigh it.
#[derive(Debug, Clone, Copy)]
pub struct Serving {
    /// Start of validity, where known.
    pub not_before: Option<OffsetDateTime>,
    /// End of validity.
    pub not_after: OffsetDateTime,
    /// The CA's renewal window, where it gave one.
    pub window: Option<crate::acme::RenewalWindow>,
}

/// Days (to a tenth) from `from` to `to`: days left, lifetimes.
pub fn days(from: OffsetDateTime, to: OffsetDateTime) -> f64 {
    ((to - from).as_seconds_f64() / 86_400.0 * 10.0).round() / 10.0
}

impl DomainReport {
    /// Notes the certificate serving the domain: days to expiry, lifetime, the point it must be
    /// renewed by, whether a renewal was missed ([`crate::plan::renewal::overdue`]), and the
    /// schedule's advice when it leaves too few runs for this lifetime.
    pub fn note_serving(
        &mut self,
        serving: Serving,
        policy: &crate::config::RenewalPolicy,
        now: OffsetDateTime,
    ) {
        use crate::plan::renewal;
        self.days_to_expiry = Some(days(now, serving.not_after));
        self.lifetime_days = serving.not_before.map(|nb| days(nb, serving.not_after));
        self.renew_by = match (policy.use_ari, serving.window) {
            (true, Some(window)) => Some(window.end),
            _ => serving
                .not_before
                .map(|nb| renewal::renewal_point(policy, nb, serving.not_after)),
        };
        self.overdue = self
            .renew_by
            .is_some_and(|by| renewal::overdue(policy, by, now));
        let advice = serving
            .not_before
            .and_then(|nb| renewal::schedule_advice(policy, serving.not_after - nb));
        if let Some(advice) = advice.filter(|a| !self.warnings.contains(a)) {
            self.warnings.push(advice);
        }
    }
}

/// The key of a newly issued certificate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum KeyUse {
    /// A key made for it.
    New,
    /// The archived key of the certificate it renews (`reuse_key`).
    Reused,
}

/// A certificate considered for retirement.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Retirement {
    /// IAM name.
    pub name: String,
    /// `deleted`, or why it was kept.
    pub result: RetirementResult,
    /// The account it is in, when not the function's own.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub account: Option<String>,
}

impl Retirement {
    /// What happened to the certificate `name` (in the function's account until labelled).
    pub fn of(name: &str, result: RetirementResult) -> Self {
        Self {
            name: name.to_owned(),
            result,
            account: None,
        }
    }

    /// What happened to every certificate (`*`): nothing was considered.
    pub fn of_all(result: RetirementResult) -> Self {
        Self::of("*", result)
    }
}

/// The lease lock as the run found it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "state", rename_all = "kebab-case")]
pub enum LockState {
    /// Taken and released by this run.
    Held,
    /// Dry run: not needed.
    NotNeeded,
    /// Another run holds it.
    Busy {
        /// Its run id.
        owner: String,
        /// Until.
        #[serde(with = "time::serde::rfc3339")]
        expires_at: OffsetDateTime,
    },
}

/// The result of a run.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Report {
    /// This run's id (the Lambda request id, or a generated one).
    pub run_id: String,
    /// `aws-cn`, `aws`, ...
    pub partition: String,
    /// The region of the run.
    pub region: String,
    /// Plan only.
    pub dry_run: bool,
    /// The lease.
    pub lock: LockState,
    /// Whether the ACME account was loaded or created.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub account: Option<Origin>,
    /// Per domain, in the order of the request.
    pub domains: Vec<DomainReport>,
    /// Certificates retired or kept at the end.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub retired: Vec<Retirement>,
    /// Archived bundles deleted (expired, and no longer in IAM): each key and `deleted` or why
    /// not.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub archive_pruned: Vec<Retirement>,
    /// Every certificate under IAM `/cloudfront/` and every one cert-rotator imported into ACM
    /// in the regions of the run, with days left.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub inventory: Vec<InventoryItem>,
    /// Only the inventory was asked for (`{"inventory": true}`).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub inventory_only: bool,
    /// A failure of the run as a whole (inventory, lock), if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// What the run told the stack's topic and bus.
    #[serde(skip_serializing_if = "Notifications::is_empty")]
    pub notifications: Notifications,
}

/// What a run told: messages to the topic, events on the bus ([`notify`]).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Notifications {
    /// Messages published, one per domain that needs a person.
    pub messages: usize,
    /// Messages not sent again: the same was sent within a day.
    pub held: usize,
    /// Events put on the bus.
    pub events: usize,
    /// What could not be sent, and why.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<String>,
}

impl Notifications {
    /// Nothing was sent or held.
    pub fn is_empty(&self) -> bool {
        self.messages == 0 && self.held == 0 && self.events == 0 && self.errors.is_empty()
    }
}

impl Report {
    /// The domains that failed.
    pub fn failures(&self) -> usize {
        self.domains
            .iter()
            .filter(|d| d.outcome == Outcome::Failed)
            .count()
            + usize::from(self.error.is_some())
    }

    /// EMF lines: one per domain with its days to expiry, one for the run.
    pub fn emf_lines(&self, timestamp_ms: i64) -> Vec<String> {
        let mut lines = Vec::new();
        for d in &self.domains {
            if let Some(days) = d.days_to_expiry {
                let domain = d.names.first().cloned().unwrap_or_default();
                let values = serde_json::json!({"Domain": domain, "DaysToExpiry": days});
                lines.push(emf(
                    timestamp_ms,
                    &["Domain"],
                    &[("DaysToExpiry", "None")],
                    values,
                ));
            }
        }
        for ((account, store), days) in self.store_minimums() {
            let metrics = [("StoreMinDaysToExpiry", "None")];
            // The function's own stores keep their one dimension; another account's add it.
            let line = match account {
                None => {
                    let values = serde_json::json!({"Store": store, "StoreMinDaysToExpiry": days});
                    emf(timestamp_ms, &["Store"], &metrics, values)
                }
                Some(account) => {
                    let values = serde_json::json!({"Account": account, "Store": store, "StoreMinDaysToExpiry": days});
                    emf(timestamp_ms, &["Account", "Store"], &metrics, values)
                }
            };
            lines.push(line);
        }
        let min_days = self
            .domains
            .iter()
            .filter_map(|d| d.days_to_expiry)
            .chain(
                self.inventory
                    .iter()
                    .filter(|i| i.watched())
                    .filter_map(|i| i.days_left),
            )
            .reduce(f64::min);
        if self.dry_run {
            // A dry run or an inventory changes nothing, but what it saw still feeds the alarms.
            let mut values = self.lifetime_values();
            let mut metrics = vec![("Overdue", "Count"), ("MinLifetimeLeftPercent", "Percent")];
            if let Some(min) = min_days {
                values["MinDaysToExpiry"] = serde_json::json!(min);
                metrics.push(("MinDaysToExpiry", "None"));
            }
            metrics.retain(|(m, _)| values.get(m).is_some());
            lines.push(emf(timestamp_ms, &[], &metrics, values));
            return lines;
        }
        lines.push(self.run_line(timestamp_ms, min_days));
        lines
    }

    /// The alarms that follow each certificate's lifetime: `Overdue`, the domains still served
    /// by a certificate more than one scheduled run past its renewal point (every run, 0
    /// included, so its alarm never lacks data), and `MinLifetimeLeftPercent`, the smallest share
    /// of its lifetime a certificate has left (one threshold fits 90- and 6-day certificates).
    fn lifetime_values(&self) -> serde_json::Value {
        let overdue = self.domains.iter().filter(|d| d.overdue).count();
        let mut values = serde_json::json!({ "Overdue": overdue });
        let inventory = self
            .inventory
            .iter()
            .filter(|i| i.watched())
            .filter_map(|i| match (i.days_left, i.lifetime_days) {
                (Some(days), Some(lifetime)) if lifetime > 0.0 => Some(days / lifetime),
                _ => None,
            });
        if let Some(min) = self
            .domains
            .iter()
            .filter_map(DomainReport::lifetime_left)
            .chain(inventory)
            .reduce(f64::min)
        {
            values["MinLifetimeLeftPercent"] = serde_json::json!((min * 1000.0).round() / 10.0);
        }
        values
    }

    /// Per account and store (IAM, ACM per region), the soonest expiry of what is ours or in use: a handful
    /// of metrics however many certificates there are (a metric per certificate would cost per
    /// certificate).
    fn store_minimums(&self) -> BTreeMap<(Option<String>, String), f64> {
        let mut stores: BTreeMap<(Option<String>, String), f64> = BTreeMap::new();
        for item in self.inventory.iter().filter(|i| i.watched()) {
            if let Some(days) = item.days_left {
                let store = item
                    .region
                    .as_ref()
                    .map_or_else(|| "iam".to_owned(), |r| format!("acm:{r}"));
                let min = stores.entry((item.account.clone(), store)).or_insert(days);
                *min = min.min(days);
            }
        }
        stores
    }

    /// The run's line: renewals, failures, whether it succeeded, and the soonest expiry.
    fn run_line(&self, timestamp_ms: i64, min_days: Option<f64>) -> String {
        let renewals = self
            .domains
            .iter()
            .filter(|d| matches!(d.outcome, Outcome::Renewed | Outcome::Deployed))
            .count();
        let mut values = serde_json::json!({
            "Renewals": renewals,
            "Failures": self.failures(),
            "DomainsWaiting": waiting(&self.domains),
            "SuccessfulRun": u8::from(self.failures() == 0 && self.lock == LockState::Held),
            "SkippedRun": u8::from(matches!(self.lock, LockState::Busy { .. })),
        });
        if let Some(min) = min_days {
            values["MinDaysToExpiry"] = serde_json::json!(min);
        }
        if let (Some(into), serde_json::Value::Object(lifetime)) =
            (values.as_object_mut(), self.lifetime_values())
        {
            into.extend(lifetime);
        }
        let mut metrics = vec![
            ("Renewals", "Count"),
            ("Failures", "Count"),
            ("DomainsWaiting", "Count"),
            ("SuccessfulRun", "Count"),
            ("SkippedRun", "Count"),
            ("Overdue", "Count"),
            ("MinDaysToExpiry", "None"),
            ("MinLifetimeLeftPercent", "Percent"),
        ];
        metrics.retain(|(m, _)| values.get(m).is_some());
        emf(timestamp_ms, &[], &metrics, values)
    }
}

/// The domains that wait for the CA's budget until their `not_before`.
pub fn waiting(domains: &[DomainReport]) -> usize {
    domains
        .iter()
        .filter(|d| d.outcome == Outcome::Deferred && d.not_before.is_some())
        .count()
}

/// One EMF line: `values` (an object) with the `_aws` metadata naming its dimensions and metrics.
fn emf(
    timestamp_ms: i64,
    dimensions: &[&str],
    metrics: &[(&str, &str)],
    mut values: serde_json::Value,
) -> String {
    let metrics: Vec<serde_json::Value> = metrics
        .iter()
        .map(|(name, unit)| serde_json::json!({"Name": name, "Unit": unit}))
        .collect();
    values["_aws"] = serde_json::json!({"Timestamp": timestamp_ms, "CloudWatchMetrics": [
        {"Namespace": "CertRotator", "Dimensions": [dimensions], "Metrics": metrics}
    ]});
    values.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emf_carries_days_to_expiry_and_the_run_metrics() {
        let mut a = DomainReport::new(vec!["a.example.cn".into()], Outcome::Renewed);
        a.days_to_expiry = Some(89.5);
        let mut b = DomainReport::new(vec!["b.example.cn".into()], Outcome::Failed);
        b.days_to_expiry = Some(3.0);
        let report = Report {
            run_id: "r".into(),
            partition: "aws-cn".into(),
            region: "cn-north-1".into(),
            dry_run: false,
            lock: LockState::Held,
            account: None,
            domains: vec![a, b],
            retired: vec![],
            inventory: vec![],
            archive_pruned: vec![],
            inventory_only: false,
            error: None,
            notifications: Default::default(),
        };
        let lines: Vec<serde_json::Value> = report
            .emf_lines(1)
            .iter()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines.len(), 3);
        assert_eq!(lines[0]["DaysToExpiry"], 89.5);
        assert_eq!(lines[2]["MinDaysToExpiry"], 3.0);
        assert_eq!(lines[2]["Failures"], 1);
        assert_eq!(lines[2]["SkippedRun"], 0);
        assert_eq!(lines[2]["Overdue"], 0, "every run says it, 0 included");
        assert!(
            lines[2].get("MinLifetimeLeftPercent").is_none(),
            "no lifetime known"
        );
        let mut overdue = report.clone();
        overdue.domains[1].overdue = true;
        overdue.domains[1].lifetime_days = Some(6.0);
        overdue.domains[0].lifetime_days = Some(90.0);
        let line: serde_json::Value =
            serde_json::from_str(overdue.emf_lines(1).last().unwrap()).unwrap();
        assert_eq!(line["Overdue"], 1);
        assert_eq!(line["MinLifetimeLeftPercent"], 50.0, "3 of 6 days");
        let declared = line["_aws"]["CloudWatchMetrics"][0]["Metrics"].to_string();
        assert!(
            declared.contains("\"Overdue\"") && declared.contains("MinLifetimeLeftPercent"),
            "{declared}"
        );
        let skipped = Report {
            lock: LockState::Busy {
                owner: "req-1#00ff".into(),
                expires_at: time::OffsetDateTime::UNIX_EPOCH,
            },
            domains: vec![],
            ..report.clone()
        };
        let line: serde_json::Value =
            serde_json::from_str(skipped.emf_lines(1).last().unwrap()).unwrap();
        assert_eq!(
            (line["SkippedRun"].as_u64(), line["SuccessfulRun"].as_u64()),
            (Some(1), Some(0))
        );
        assert_eq!(lines[2]["DomainsWaiting"], 0);
        assert_eq!(lines[2]["SuccessfulRun"], 0);
        assert_eq!(
            lines[2]["_aws"]["CloudWatchMetrics"][0]["Namespace"],
            "CertRotator"
        );
    }

    #[test]
    fn a_domain_waiting_for_the_cas_budget_is_counted_apart_from_failures() {
        let at = |outcome, not_before: Option<OffsetDateTime>| {
            let mut d = DomainReport::new(vec!["a.example.cn".into()], outcome);
            d.not_before = not_before;
            d
        };
        let until = Some(time::macros::datetime!(2026-12-02 06:00 UTC));
        let domains = [
            at(Outcome::Deferred, until),
            at(Outcome::Deferred, None), // out of time: the next run does it
            at(Outcome::Failed, until),  // failed now; the next order waits
            at(Outcome::Kept, None),
        ];
        assert_eq!(waiting(&domains), 1);
    }

    #[test]
    fn the_inventory_feeds_the_expiry_alarm_per_store_and_overall() {
        let item = |region: Option<&str>, id: &str, days: f64, managed: bool, in_use: bool| {
            InventoryItem {
                account: None,
                store: if region.is_some() { "acm" } else { "iam" },
                region: region.map(str::to_owned),
                id: id.into(),
                names: None,
                not_after: None,
                days_left: Some(days),
                lifetime_days: None,
                managed,
                in_use,
            }
        };
        let report = Report {
            run_id: "r".into(),
            partition: "aws".into(),
            region: "us-east-1".into(),
            dry_run: true,
            lock: LockState::NotNeeded,
            account: None,
            domains: vec![],
            retired: vec![],
            inventory: vec![
                item(None, "old-unused-foreign", -3.0, false, false),
                item(None, "ours", 40.0, true, false),
                item(None, "foreign-in-use", 9.0, false, true),
                InventoryItem {
                    lifetime_days: Some(90.0),
                    ..item(Some("ap-northeast-1"), "arn:a", 60.0, true, true)
                },
                item(Some("ap-northeast-1"), "arn:b", 70.0, true, false),
                InventoryItem {
                    account: Some("111122223333".into()),
                    ..item(None, "cdn-account", 5.0, true, true)
                },
            ],
            archive_pruned: vec![],
            inventory_only: true,
            error: None,
            notifications: Default::default(),
        };
        let lines: Vec<serde_json::Value> = report
            .emf_lines(1)
            .iter()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        let last = lines.last().unwrap();
        assert_eq!(
            last["MinLifetimeLeftPercent"], 66.7,
            "ACM knows the lifetime: {last}"
        );
        assert_eq!(last["Overdue"], 0);
        let store = |s: &str| {
            lines
                .iter()
                .find(|l| l["Store"] == s)
                .map(|l| l["StoreMinDaysToExpiry"].clone())
        };
        assert_eq!(
            store("iam"),
            Some(serde_json::json!(9.0)),
            "unused foreign certificates do not count"
        );
        assert_eq!(store("acm:ap-northeast-1"), Some(serde_json::json!(60.0)));
        let other: Vec<&serde_json::Value> = lines
            .iter()
            .filter(|l| l["Account"] == "111122223333")
            .collect();
        assert_eq!(other.len(), 1, "another account's store is its own metric");
        assert_eq!(other[0]["Store"], "iam");
        assert_eq!(other[0]["StoreMinDaysToExpiry"], 5.0);
        assert_eq!(
            other[0]["_aws"]["CloudWatchMetrics"][0]["Dimensions"],
            serde_json::json!([["Account", "Store"]])
        );
        let overall: Vec<&serde_json::Value> = lines
            .iter()
            .filter(|l| l.get("MinDaysToExpiry").is_some())
            .collect();
        assert_eq!(overall.len(), 1);
        assert_eq!(
            overall[0]["MinDaysToExpiry"], 5.0,
            "the alarm covers every account"
        );
        assert!(
            lines.iter().all(|l| l.get("SuccessfulRun").is_none()),
            "an inventory is not a run"
        );
    }
}
