//! What a run tells besides its report: a message per domain that needs a person (to the stack's
//! SNS topic) and an event per certificate renewed, failed, deferred or retired (EventBridge).
//! Pure: the run's report in, messages and events out; sending them is the run's
//! ([`crate::run::notify`]).
//!
//! A domain needs a person when it failed, waits on the CA (its backoff after failed issuances, or
//! the CA's rate limit: it was due when it waited), or is overdue. Its message says what happened,
//! the error (which says what to do), and the days left on the certificate deployed now. The same
//! message is not sent again every run: only when what it says changes, or once a day
//! ([`should_send`], remembered beside the failure memory).

use time::{Duration, OffsetDateTime};

use super::{DomainReport, Outcome, Report, RetirementResult};
use crate::model::inventory;
use crate::model::names::DomainName;

/// The longest SNS subject is 99 characters ("less than 100", API_Publish).
pub const MAX_SUBJECT: usize = 99;

/// How long the same message is held back.
pub const REPEAT_AFTER: Duration = Duration::DAY;

/// A message for a domain that needs a person.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    /// The names hash (the archive's and the failure memory's key).
    pub names_hash: String,
    /// What the message says, in short: the same fingerprint is not sent again within a day.
    pub fingerprint: String,
    /// The SNS subject (ASCII, no line breaks, at most [`MAX_SUBJECT`] characters).
    pub subject: String,
    /// The message: a JSON object with a body per protocol (`MessageStructure=json`).
    pub message: String,
}

/// What was last sent for a name set, remembered.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Notified {
    /// The message's fingerprint.
    pub fingerprint: String,
    /// When it was sent.
    #[serde(with = "time::serde::rfc3339")]
    pub sent_at: OffsetDateTime,
}

/// Whether a notice with `fingerprint` is sent at `now`, `last` being what was sent before: when
/// it says something new, or a day after the same was sent.
pub fn should_send(last: Option<&Notified>, fingerprint: &str, now: OffsetDateTime) -> bool {
    last.is_none_or(|l| l.fingerprint != fingerprint || now >= l.sent_at + REPEAT_AFTER)
}

/// Why the domain needs a person, if it does.
fn needs_a_person(d: &DomainReport) -> Option<&'static str> {
    match d.outcome {
        Outcome::Failed => Some("failed"),
        Outcome::Deferred if d.not_before.is_some() => Some("waits on the CA"),
        _ if d.overdue => Some("is overdue for renewal"),
        _ => None,
    }
}

/// The notices of the run's domains that need a person.
pub fn notices(report: &Report) -> Vec<Notice> {
    report
        .domains
        .iter()
        .filter_map(|d| Some((d, needs_a_person(d)?)))
        .map(|(d, why)| notice(report, d, why))
        .collect()
}

fn names_hash(names: &[String]) -> String {
    let parsed: Vec<DomainName> = names.iter().filter_map(|n| n.parse().ok()).collect();
    inventory::names_hash(&parsed)
}

fn notice(report: &Report, d: &DomainReport, why: &str) -> Notice {
    let first = d.names.first().map_or("", String::as_str);
    let more = match d.names.len() {
        0 | 1 => String::new(),
        n => format!(" (+{})", n - 1),
    };
    let subject = subject(&format!("cert-rotator: {first}{more} {why}"));
    let account = d.account.as_deref().unwrap_or("the function's own");
    let error = d.error.as_deref().unwrap_or(match why {
        "is overdue for renewal" => {
            "the certificate deployed now is past its renewal point and was not renewed"
        }
        _ => "(no error recorded)",
    });
    let days = match (d.days_to_expiry, d.lifetime_days) {
        (Some(left), Some(lifetime)) => format!("{left} days left (of {lifetime})"),
        (Some(left), None) => format!("{left} days left"),
        _ => "no certificate deployed".to_owned(),
    };
    let at = |t: Option<OffsetDateTime>| t.map(|t| crate::plan::backoff::rfc3339(&t));
    let mut text = format!(
        "cert-rotator: {} {why}.\n\nNames:       {}\nAccount:     {account}\nOutcome:     {}\nDeployed:    {days}\n",
        d.names.join(", "),
        d.names.join(", "),
        serde_json::to_value(d.outcome)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default(),
    );
    if let Some(by) = at(d.renew_by) {
        text.push_str(&format!("Renew by:    {by}\n"));
    }
    if let Some(not_before) = at(d.not_before) {
        text.push_str(&format!("Next order:  not before {not_before}\n"));
    }
    text.push_str(&format!(
        "\nWhat happened, and what to do:\n{error}\n\nRun {} in {} ({}). The run's report has the details; the README's Troubleshooting table has every message.\n",
        report.run_id, report.region, report.partition
    ));
    let machine = serde_json::json!({
        "names": d.names,
        "account": d.account,
        "outcome": d.outcome,
        "reason": why,
        "overdue": d.overdue,
        "error": d.error,
        "days_to_expiry": d.days_to_expiry,
        "lifetime_days": d.lifetime_days,
        "renew_by": at(d.renew_by),
        "not_before": at(d.not_before),
        "run_id": report.run_id,
        "region": report.region,
        "partition": report.partition,
    })
    .to_string();
    let message = serde_json::json!({
        "default": text,
        "email": text,
        "sqs": machine,
        "lambda": machine,
    })
    .to_string();
    Notice {
        names_hash: names_hash(&d.names),
        fingerprint: format!("{why}|{error}"),
        subject,
        message,
    }
}

/// `text` as an SNS subject: printable ASCII (others become `?`), no line breaks, at most
/// [`MAX_SUBJECT`] characters (cut with `...`).
pub fn subject(text: &str) -> String {
    let clean: String = text
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() || c == ' ' {
                c
            } else {
                '?'
            }
        })
        .collect();
    if clean.len() <= MAX_SUBJECT {
        clean
    } else {
        format!("{}...", &clean[..MAX_SUBJECT - 3])
    }
}

/// An event for EventBridge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// `Certificate Renewed`, `Certificate Renewal Failed`, `Certificate Deferred` or
    /// `Certificate Retired`.
    pub detail_type: &'static str,
    /// Its `detail`.
    pub detail: serde_json::Value,
    /// The ARNs it is about (ACM certificates).
    pub resources: Vec<String>,
}

/// The source of every event.
pub const SOURCE: &str = "cert-rotator";

/// The run's events: one per domain renewed (or deployed), failed or deferred, and one per
/// certificate retired.
pub fn events(report: &Report) -> Vec<Event> {
    let mut out = Vec::new();
    for d in &report.domains {
        let detail_type = match d.outcome {
            Outcome::Renewed | Outcome::Deployed => "Certificate Renewed",
            Outcome::Failed => "Certificate Renewal Failed",
            Outcome::Deferred => "Certificate Deferred",
            _ => continue,
        };
        let acm: Vec<serde_json::Value> = d
            .acm
            .iter()
            .map(|a| serde_json::json!({"region": a.region, "arn": a.arn, "serial": a.serial, "result": a.result}))
            .collect();
        let detail = serde_json::json!({
            "names": d.names,
            "account": d.account,
            "outcome": d.outcome,
            "certificate": d.new_certificate,
            "previous": d.old_certificate,
            "distributions": d.distributions.iter().map(|x| &x.id).collect::<Vec<_>>(),
            "acm": acm,
            "days_to_expiry": d.days_to_expiry,
            "not_before": d.not_before.map(|t| crate::plan::backoff::rfc3339(&t)),
            "error": d.error,
            "run_id": report.run_id,
        });
        out.push(Event {
            detail_type,
            detail,
            resources: d
                .acm
                .iter()
                .map(|a| a.arn.clone())
                .filter(|a| !a.is_empty())
                .collect(),
        });
    }
    for r in &report.retired {
        if r.result == RetirementResult::Deleted {
            out.push(Event {
                detail_type: "Certificate Retired",
                detail: serde_json::json!({"iam_name": r.name, "account": r.account, "run_id": report.run_id}),
                resources: vec![],
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::{CertRef, LockState};

    fn report(domains: Vec<DomainReport>) -> Report {
        Report {
            run_id: "run-1".into(),
            partition: "aws-cn".into(),
            region: "cn-north-1".into(),
            dry_run: false,
            lock: LockState::Held,
            account: None,
            domains,
            retired: vec![],
            inventory: vec![],
            archive_pruned: vec![],
            inventory_only: false,
            error: None,
            notifications: Default::default(),
        }
    }

    fn domain(names: &[&str], outcome: Outcome) -> DomainReport {
        DomainReport::new(names.iter().map(|n| n.to_string()).collect(), outcome)
    }

    #[test]
    fn a_failed_waiting_or_overdue_domain_gets_a_message_and_a_fine_one_none() {
        let mut failed = domain(&["cdn.example.cn", "*.cdn.example.cn"], Outcome::Failed);
        failed.error =
            Some("CAA forbids ordering cdn.example.cn: … Add a record allowing this CA".into());
        failed.days_to_expiry = Some(12.5);
        failed.lifetime_days = Some(90.0);
        let mut waiting = domain(&["a.example.cn"], Outcome::Deferred);
        waiting.not_before = Some(time::macros::datetime!(2026-12-09 06:00 UTC));
        let out_of_time = domain(&["b.example.cn"], Outcome::Deferred);
        let mut overdue = domain(&["c.example.cn"], Outcome::Kept);
        overdue.overdue = true;
        let fine = domain(&["d.example.cn"], Outcome::Renewed);
        let all = notices(&report(vec![failed, waiting, out_of_time, overdue, fine]));
        let subjects: Vec<&str> = all.iter().map(|n| n.subject.as_str()).collect();
        assert_eq!(
            subjects,
            [
                "cert-rotator: cdn.example.cn (+1) failed",
                "cert-rotator: a.example.cn waits on the CA",
                "cert-rotator: c.example.cn is overdue for renewal"
            ]
        );
        let message: serde_json::Value = serde_json::from_str(&all[0].message).unwrap();
        let text = message["default"].as_str().unwrap();
        assert!(
            text.contains("12.5 days left (of 90)")
                && text.contains("Add a record allowing this CA"),
            "{text}"
        );
        assert_eq!(message["email"], message["default"]);
        let machine: serde_json::Value =
            serde_json::from_str(message["sqs"].as_str().unwrap()).unwrap();
        assert_eq!(machine["outcome"], "failed");
        assert_eq!(machine["names"][1], "*.cdn.example.cn");
        let waiting: serde_json::Value = serde_json::from_str(&all[1].message).unwrap();
        assert!(waiting["default"]
            .as_str()
            .unwrap()
            .contains("not before 2026-12-09T06:00:00Z"));
    }

    #[test]
    fn subjects_fit_sns() {
        let long = format!("cert-rotator: {}.example.cn failed", "x".repeat(200));
        let s = subject(&long);
        assert_eq!(s.len(), MAX_SUBJECT);
        assert!(s.ends_with("..."));
        assert_eq!(subject("a\nb\té"), "a?b??");
    }

    #[test]
    fn the_same_message_waits_a_day_and_a_new_one_goes_at_once() {
        let now = time::macros::datetime!(2026-12-08 00:17 UTC);
        let last = Notified {
            fingerprint: "failed|x".into(),
            sent_at: now - Duration::hours(8),
        };
        assert!(should_send(None, "failed|x", now));
        assert!(!should_send(Some(&last), "failed|x", now));
        assert!(
            should_send(Some(&last), "failed|y", now),
            "the error changed"
        );
        assert!(
            should_send(Some(&last), "failed|x", now + Duration::hours(16)),
            "a day on"
        );
    }

    #[test]
    fn events_cover_renewed_failed_deferred_and_retired_certificates() {
        let mut renewed = domain(&["cdn.example.cn"], Outcome::Renewed);
        renewed.new_certificate = Some(CertRef {
            id: "0a1b".into(),
            name: "cdn.example.cn-1234".into(),
            not_after: None,
        });
        let failed = domain(&["a.example.cn"], Outcome::Failed);
        let deferred = domain(&["b.example.cn"], Outcome::Deferred);
        let kept = domain(&["c.example.cn"], Outcome::Kept);
        let mut r = report(vec![renewed, failed, deferred, kept]);
        r.retired = vec![
            crate::report::Retirement::of("old-cert", RetirementResult::Deleted),
            crate::report::Retirement::of("kept-cert", RetirementResult::AlreadyGone),
        ];
        let all = events(&r);
        let kinds: Vec<&str> = all.iter().map(|e| e.detail_type).collect();
        assert_eq!(
            kinds,
            [
                "Certificate Renewed",
                "Certificate Renewal Failed",
                "Certificate Deferred",
                "Certificate Retired"
            ]
        );
        assert_eq!(all[0].detail["certificate"]["name"], "cdn.example.cn-1234");
        assert_eq!(all[3].detail["iam_name"], "old-cert");
    }
}
