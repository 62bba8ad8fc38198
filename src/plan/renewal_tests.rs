//! Unit tests of the parent module.
use super::*;
use time::macros::datetime;
use time::Duration;

fn names(ns: &[&str]) -> Vec<DomainName> {
    ns.iter().map(|n| n.parse().unwrap()).collect()
}

fn cert(id: &str, ns: &[&str], issued: OffsetDateTime, days: i64) -> Deployed {
    Deployed {
        id: id.into(),
        name: format!("{id}-name"),
        names: ns.iter().map(|s| s.to_string()).collect(),
        not_before: issued,
        not_after: issued + Duration::days(days),
        window: None,
        ari_id: None,
    }
}

fn on(dist: &str, attached: Attached) -> Observed {
    Observed {
        distribution: dist.into(),
        attached,
        uncovered: vec![],
    }
}

const ISSUED: OffsetDateTime = datetime!(2026-01-01 00:00 UTC);
const POLICY: RenewalPolicy = RenewalPolicy {
    remaining_fraction: 1.0 / 3.0,
    use_ari: true,
    run_interval: std::time::Duration::from_secs(8 * 3600),
};

#[test]
fn a_90_day_certificate_is_due_on_day_60() {
    let ns = names(&["cdn.example.cn"]);
    let obs = [on(
        "E1",
        Attached::Cert(cert("A", &["cdn.example.cn"], ISSUED, 90)),
    )];
    let day59 = decide(&ns, false, &obs, None, &POLICY, ISSUED + Duration::days(59));
    assert_eq!(day59.action, Action::Keep);
    assert_eq!(
        day59.reason,
        Reason::Fresh {
            renew_at: ISSUED + Duration::days(60)
        }
    );
    let day60 = decide(&ns, false, &obs, None, &POLICY, ISSUED + Duration::days(60));
    assert_eq!(day60.action, Action::Issue { replaces: None });
    assert_eq!(
        day60.reason,
        Reason::LifetimeRemaining {
            distribution: "E1".into(),
            days_left: 30,
            threshold_days: 30
        }
    );
    assert_eq!(day60.distributions, ["E1"]);
}

#[test]
fn a_one_year_certificate_is_due_a_third_before_expiry() {
    let ns = names(&["cdn.example.cn"]);
    let obs = [on(
        "E1",
        Attached::Cert(cert("A", &["cdn.example.cn"], ISSUED, 365)),
    )];
    assert_eq!(
        decide(
            &ns,
            false,
            &obs,
            None,
            &POLICY,
            ISSUED + Duration::days(243)
        )
        .action,
        Action::Keep
    );
    assert!(matches!(
        decide(
            &ns,
            false,
            &obs,
            None,
            &POLICY,
            ISSUED + Duration::days(244)
        )
        .action,
        Action::Issue { .. }
    ));
}

#[test]
fn ari_window_decides_where_the_ca_offers_it_and_the_renewal_replaces_the_old() {
    let ns = names(&["cdn.example.cn"]);
    let mut c = cert("A", &["cdn.example.cn"], ISSUED, 90);
    c.window = Some(RenewalWindow {
        start: ISSUED + Duration::days(10),
        end: ISSUED + Duration::days(11),
    });
    c.ari_id = Some("aki.serial".into());
    let obs = [on("E1", Attached::Cert(c))];
    let before = decide(&ns, false, &obs, None, &POLICY, ISSUED + Duration::days(9));
    assert_eq!(
        before.reason,
        Reason::Fresh {
            renew_at: ISSUED + Duration::days(10)
        }
    );
    let within = decide(&ns, false, &obs, None, &POLICY, ISSUED + Duration::days(10));
    assert_eq!(
        within.action,
        Action::Issue {
            replaces: Some("aki.serial".into())
        }
    );
    let no_ari = RenewalPolicy {
        use_ari: false,
        ..POLICY
    };
    assert_eq!(
        decide(&ns, false, &obs, None, &no_ari, ISSUED + Duration::days(10)).action,
        Action::Keep
    );
}

#[test]
fn missing_names_default_certificates_and_force_renew() {
    let ns = names(&["cdn.example.cn", "*.cdn.example.cn"]);
    let narrow = [on(
        "E1",
        Attached::Cert(cert("A", &["cdn.example.cn"], ISSUED, 90)),
    )];
    assert_eq!(
        decide(&ns, false, &narrow, None, &POLICY, ISSUED).reason,
        Reason::NamesNotCovered {
            distribution: "E1".into(),
            missing: vec!["*.cdn.example.cn".into()]
        }
    );
    let bare = [on("E1", Attached::None)];
    assert_eq!(
        decide(&ns, false, &bare, None, &POLICY, ISSUED).reason,
        Reason::NoCertificate {
            distribution: "E1".into()
        }
    );
    let fresh = [on(
        "E1",
        Attached::Cert(cert(
            "A",
            &["cdn.example.cn", "*.cdn.example.cn"],
            ISSUED,
            90,
        )),
    )];
    assert_eq!(
        decide(&ns, true, &fresh, None, &POLICY, ISSUED).reason,
        Reason::Forced
    );
}

#[test]
fn a_fresh_uploaded_certificate_is_deployed_instead_of_issuing_again() {
    let ns = names(&["cdn.example.cn"]);
    let now = ISSUED + Duration::days(70);
    let newer = cert("B", &["cdn.example.cn"], now - Duration::days(1), 90);
    let obs = [
        on(
            "E1",
            Attached::Cert(cert("A", &["cdn.example.cn"], ISSUED, 90)),
        ),
        on("E2", Attached::Cert(newer.clone())),
    ];
    let plan = decide(&ns, false, &obs, Some(&newer), &POLICY, now);
    assert_eq!(
        plan.action,
        Action::Deploy {
            certificate: "B".into()
        }
    );
    assert_eq!(plan.distributions, ["E1"], "E2 has it already");
    let stale = cert("C", &["cdn.example.cn"], ISSUED, 90);
    assert!(matches!(
        decide(&ns, false, &obs, Some(&stale), &POLICY, now).action,
        Action::Issue { .. }
    ));
}

#[test]
fn unserved_and_blocked_domains_are_reported_not_issued() {
    let ns = names(&["cdn.example.cn"]);
    assert_eq!(
        decide(&ns, false, &[], None, &POLICY, ISSUED).action,
        Action::NotServed
    );
    let blocked = [Observed {
        distribution: "E1".into(),
        attached: Attached::None,
        uncovered: vec!["other.example.cn".into()],
    }];
    let plan = decide(&ns, false, &blocked, None, &POLICY, ISSUED);
    assert_eq!(plan.action, Action::Keep);
    assert!(
        matches!(&plan.reason, Reason::AllBlocked { distributions } if distributions[0].why.contains("also serves other.example.cn"))
    );
    // An ACM-served distribution is left alone; the IAM one beside it is renewed.
    let mixed = [
        on(
            "E1",
            Attached::Acm(crate::model::partition::Partition::Aws.arn(
                "acm",
                "us-east-1",
                "1",
                "certificate/x",
            )),
        ),
        on("E2", Attached::None),
    ];
    let plan = decide(&ns, false, &mixed, None, &POLICY, ISSUED);
    assert_eq!(plan.distributions, ["E2"]);
    assert!(plan.blocked[0].why.contains("ACM renews itself"));
}

#[test]
fn replaces_names_only_a_certificate_sharing_an_identifier_as_boulder_matches_them() {
    let old = |list: &[&str]| -> Vec<String> { list.iter().map(|n| n.to_string()).collect() };
    // Per-host certificates consolidated into a wildcard: nothing in common.
    assert!(!shares_an_identifier(
        &old(&["a.example.cn", "b.example.cn"]),
        &names(&["*.example.cn"])
    ));
    // ... unless the apex comes along.
    assert!(shares_an_identifier(
        &old(&["example.cn", "a.example.cn"]),
        &names(&["example.cn", "*.example.cn"])
    ));
    assert!(shares_an_identifier(
        &old(&["*.example.cn"]),
        &names(&["*.example.cn"])
    ));
    assert!(shares_an_identifier(
        &old(&["*.example.cn"]),
        &names(&["www.example.cn"])
    ));
    assert!(!shares_an_identifier(
        &old(&["*.example.cn"]),
        &names(&["a.b.example.cn"])
    ));
    assert!(!shares_an_identifier(
        &old(&["*.example.cn"]),
        &names(&["example.cn"])
    ));
    assert!(shares_an_identifier(
        &old(&["WWW.Example.cn"]),
        &names(&["www.example.cn"])
    ));
    assert!(!shares_an_identifier(
        &old(&["www.example.cn"]),
        &names(&["*.example.cn"])
    ));
}

/// Without ARI, at fixed dates: a third of the lifetime left for 90, 64 and 45 days, half for 6.
#[test]
fn each_lifetime_renews_at_its_own_point() {
    let ns = names(&["cdn.example.cn"]);
    let no_ari = RenewalPolicy {
        use_ari: false,
        ..POLICY
    };
    // (lifetime in hours, the last fresh hour, the first due hour)
    for (hours, fresh, due) in [
        (90 * 24, 60 * 24 - 1, 60 * 24),
        (64 * 24, 1024 - 1, 1024), // 42 2/3 days
        (45 * 24, 30 * 24 - 1, 30 * 24),
        (6 * 24, 3 * 24 - 1, 3 * 24),
        (160, 80 - 1, 80), // Let's Encrypt's shortlived: 160 hours
    ] {
        let c = Deployed {
            not_after: ISSUED + Duration::hours(hours),
            ..cert("A", &["cdn.example.cn"], ISSUED, 0)
        };
        assert_eq!(
            renewal_point(&no_ari, c.not_before, c.not_after),
            ISSUED + Duration::hours(due),
            "{hours} h"
        );
        let obs = [on("E1", Attached::Cert(c))];
        let at = |h: i64| decide(&ns, false, &obs, None, &no_ari, ISSUED + Duration::hours(h));
        assert_eq!(at(fresh).action, Action::Keep, "{hours} h at {fresh}");
        assert!(
            matches!(at(due).action, Action::Issue { .. }),
            "{hours} h at {due}"
        );
    }
}

#[test]
fn overdue_means_more_than_one_scheduled_run_past_the_renewal_point() {
    let by = datetime!(2027-02-10 00:00 UTC);
    assert!(!overdue(&POLICY, by, by));
    assert!(
        !overdue(&POLICY, by, by + Duration::hours(8)),
        "the next run renews"
    );
    assert!(overdue(
        &POLICY,
        by,
        by + Duration::hours(8) + Duration::minutes(1)
    ));
    let daily = RenewalPolicy {
        run_interval: std::time::Duration::from_secs(24 * 3600),
        ..POLICY
    };
    assert!(!overdue(&daily, by, by + Duration::hours(20)));
    // ARI: the window's end is the point.
    let mut c = cert("A", &["cdn.example.cn"], ISSUED, 90);
    assert_eq!(renew_by(&POLICY, &c), ISSUED + Duration::days(60));
    c.window = Some(RenewalWindow {
        start: ISSUED + Duration::days(58),
        end: ISSUED + Duration::days(59),
    });
    assert_eq!(renew_by(&POLICY, &c), ISSUED + Duration::days(59));
}

#[test]
fn the_schedule_must_leave_two_runs_between_renewal_point_and_expiry() {
    let every = |hours: u64| RenewalPolicy {
        run_interval: std::time::Duration::from_secs(hours * 3600),
        ..POLICY
    };
    // 6 days renew with 3 left: 9 runs at 8 h, 3 a day.
    assert_eq!(runs_to_renew(&every(8), Duration::days(6)), 9);
    assert_eq!(schedule_advice(&every(24), Duration::days(6)), None);
    assert_eq!(schedule_advice(&every(8), Duration::days(90)), None);
    // A 2-day certificate renews with 1 day left: one daily run only.
    let advice = schedule_advice(&every(24), Duration::days(2)).unwrap();
    assert!(
        advice.contains("a run every 24 h leaves 1 run(s)")
            && advice.contains("set the stack's ScheduleHours to 12 or less"),
        "{advice}"
    );
    // Following it to the letter: at 12 hours, two runs fit.
    assert_eq!(schedule_advice(&every(12), Duration::days(2)), None);
}
