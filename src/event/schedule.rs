//! The schedule's mark on its events, and `force` refused in them.
//!
//! The stack's schedule sends `{"schedule": {"arn": ..., "time": ...}, "domains": ...}`. Its
//! EventBridge rule (`ScheduleKind=rule`, the default) fills them with an input transformer from
//! the scheduled event's `resources[0]` (the rule's ARN) and `time`
//! (<https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-transform-target-input.html>); an
//! EventBridge Scheduler schedule (`ScheduleKind=scheduler`) replaces
//! `<aws.scheduler.schedule-arn>` and `<aws.scheduler.scheduled-time>` in its input with the
//! schedule's ARN and the time it fired
//! (<https://docs.aws.amazon.com/scheduler/latest/UserGuide/managing-schedule-context-attributes.html>).
//! An event carrying that mark is a scheduled run, and `force` in it is refused: left in the
//! stack's `Domains` parameter, it would issue a new certificate on every run and spend the CA's
//! allowance (Let's Encrypt: 5 certificates for the same names a week). A forced domain is
//! refused alone (reported failed, with what to do) and the others are handled; an event-wide
//! `force` refuses the event. A person who means to force invokes the function by hand, without
//! the mark.

use serde::Deserialize;

use super::{invalid, DomainRequest, EventError};

/// The schedule that sent an event, as its input names it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Schedule {
    /// The rule's or the schedule's ARN (`resources[0]`, `<aws.scheduler.schedule-arn>`).
    pub arn: String,
    /// When it fired (`time`, `<aws.scheduler.scheduled-time>`).
    #[serde(default)]
    pub time: Option<String>,
}

/// A domain of the event that was refused; the others are handled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused {
    /// Its names, as the report spells them.
    pub names: Vec<String>,
    /// Why, and what to do.
    pub error: EventError,
}

/// A scheduled event's `force` for every domain, refused.
pub(super) fn force_all_refused(prefix: &str) -> EventError {
    invalid(
        format!("{prefix}force"),
        "is refused in a scheduled run (the event carries the schedule's \"schedule\" mark): forcing every domain on every run would issue every certificate anew each time and spend the CA's allowance (Let's Encrypt: 5 certificates for the same names a week). Remove \"force\" from the schedule's input; to renew now, invoke the function by hand with force (events/force.json)",
    )
}

/// Splits a scheduled event's domains into those to handle and those refused for their `force`.
pub(super) fn refuse_forced(domains: Vec<DomainRequest>) -> (Vec<DomainRequest>, Vec<Refused>) {
    let (forced, kept): (Vec<_>, Vec<_>) = domains.into_iter().partition(|d| d.force);
    let refused = forced
        .into_iter()
        .map(|d| Refused {
            names: d.names.iter().map(ToString::to_string).collect(),
            error: invalid(
                format!("{}.force", d.field),
                format!("{} was not renewed: force is refused in a scheduled run (the event carries the schedule's \"schedule\" mark), because a force left in the schedule's input issues a new certificate on every run and spends the CA's allowance (Let's Encrypt: 5 certificates for the same names a week). Remove \"force\" from this domain in the stack's Domains parameter (or in the list its DomainsKey names); to renew it now, invoke the function by hand with force (events/force.json)", d.label()),
            ),
        })
        .collect();
    (kept, refused)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::super::parse;

    const MARK: &str =
        "arn:aws-cn:scheduler:cn-north-1:111122223333:schedule/default/cert-rotator-daily";

    #[test]
    fn a_forced_domain_of_a_scheduled_event_is_refused_and_the_others_are_handled() {
        let r = parse(&json!({
            "schedule": {"arn": MARK, "time": "2026-12-02T03:17:00Z"},
            "domains": [{"names": ["cdn.example.cn"]}, {"names": ["assets.example.cn"], "force": true}]
        }))
        .unwrap();
        assert_eq!(r.schedule.as_ref().map(|s| s.arn.as_str()), Some(MARK));
        assert_eq!(r.domains.len(), 1);
        assert_eq!(r.domains[0].label(), "cdn.example.cn");
        assert_eq!(r.refused.len(), 1);
        assert_eq!(r.refused[0].names, ["assets.example.cn"]);
        let error = r.refused[0].error.to_string();
        assert!(
            error.starts_with("event field domains[1].force: assets.example.cn was not renewed")
                && error.contains("Domains parameter")
                && error.contains("invoke the function by hand with force"),
            "{error}"
        );
    }

    #[test]
    fn a_scheduled_event_forcing_every_domain_is_refused_whole() {
        let error = parse(&json!({"schedule": {"arn": MARK}, "domains": [{"names": ["a.example.cn"]}], "force": true}))
            .unwrap_err()
            .to_string();
        assert!(
            error.starts_with("event field force: is refused in a scheduled run"),
            "{error}"
        );
    }

    #[test]
    fn force_by_hand_is_kept_and_the_mark_has_its_own_fields() {
        let r =
            parse(&json!({"domains": [{"names": ["a.example.cn"], "force": true}], "force": true}))
                .unwrap();
        assert!(r.schedule.is_none() && r.refused.is_empty() && r.domains[0].force);
        let error = parse(
            &json!({"schedule": {"arn": MARK, "id": 1}, "domains": [{"names": ["a.example.cn"]}]}),
        )
        .unwrap_err()
        .to_string();
        assert!(error.starts_with("event field schedule"), "{error}");
    }
}
