//! The delivery decision at exact dates.

use time::macros::datetime;
use time::OffsetDateTime;

use super::*;
use crate::plan::renewal::{decide, Observed};

const NOW: OffsetDateTime = datetime!(2026-12-02 12:00 UTC);

fn names() -> Vec<DomainName> {
    vec!["cdn.example.cn".parse().unwrap()]
}

fn cert(id: &str, age_days: i64) -> Deployed {
    Deployed {
        id: id.into(),
        name: format!("name-{id}"),
        names: vec!["cdn.example.cn".into()],
        not_before: NOW - time::Duration::days(age_days),
        not_after: NOW - time::Duration::days(age_days) + time::Duration::days(90),
        window: None,
        ari_id: None,
    }
}

fn serving(attached: Attached) -> Vec<Observed> {
    vec![Observed {
        distribution: "E1".into(),
        attached,
        uncovered: vec![],
    }]
}

/// The ARN of ACM certificate `id` in `region`, in the region's partition.
fn arn(region: &str, id: &str) -> String {
    crate::model::partition::Partition::of_region(region).arn(
        "acm",
        region,
        "1",
        &format!("certificate/{id}"),
    )
}

fn region(name: &str, held: Option<(&str, i64)>) -> AcmTarget {
    AcmTarget {
        target: AcmRegion {
            region: name.into(),
            services: vec![],
        },
        held: held.map(|(serial, age)| Held {
            arn: arn(name, serial),
            serial: serial.into(),
            not_before: Some(NOW - time::Duration::days(age)),
            not_after: Some(NOW - time::Duration::days(age) + time::Duration::days(90)),
        }),
    }
}

fn situation<'a>(
    names: &'a [DomainName],
    observed: &'a [Observed],
    renewal: Option<&'a Plan>,
    acm: &'a [AcmTarget],
) -> Situation<'a> {
    Situation {
        names,
        force: false,
        own: false,
        cloudfront: renewal.map(|_| CloudFrontVia::Iam),
        observed,
        renewal,
        acm,
        global_region: Some("us-east-1"),
    }
}

fn renewal_of(observed: &[Observed], candidate: Option<&Deployed>) -> Plan {
    decide(
        &names(),
        false,
        observed,
        candidate,
        &RenewalPolicy::default(),
        NOW,
    )
}

#[test]
fn a_fresh_iam_certificate_needs_nothing_and_a_due_one_an_issuance() {
    let n = names();
    let policy = RenewalPolicy::default();
    let fresh = serving(Attached::Cert(cert("A", 10)));
    let plan = renewal_of(&fresh, None);
    assert_eq!(
        obtain(&situation(&n, &fresh, Some(&plan), &[]), &policy, NOW),
        Obtain::Nothing
    );
    let due = serving(Attached::Cert(cert("A", 70)));
    let plan = renewal_of(&due, None);
    assert_eq!(
        obtain(&situation(&n, &due, Some(&plan), &[]), &policy, NOW),
        Obtain::Issue { replaces: None }
    );
}

#[test]
fn nothing_is_issued_for_names_nothing_serves_even_when_forced() {
    let n = names();
    let plan = renewal_of(&[], None);
    let mut s = situation(&n, &[], Some(&plan), &[]);
    s.force = true;
    assert!(s.unserved());
    assert_eq!(obtain(&s, &RenewalPolicy::default(), NOW), Obtain::Nothing);
}

#[test]
fn an_uploaded_certificate_is_deployed_when_only_cloudfront_needs_it() {
    let n = names();
    let observed = serving(Attached::Cert(cert("A", 70)));
    let uploaded = cert("B", 1);
    let plan = renewal_of(&observed, Some(&uploaded));
    let s = situation(&n, &observed, Some(&plan), &[]);
    let expected = Obtain::Uploaded {
        certificate: "B".into(),
    };
    assert_eq!(obtain(&s, &RenewalPolicy::default(), NOW), expected);
    // With an ACM region the key is needed: the archived bundle goes everywhere instead.
    let acm = [region("cn-north-1", Some(("b", 1)))];
    let s = situation(&n, &observed, Some(&plan), &acm);
    assert_eq!(
        obtain(&s, &RenewalPolicy::default(), NOW),
        Obtain::Archived { else_issue: false }
    );
}

#[test]
fn acm_regions_decide_between_nothing_the_archive_and_an_issuance() {
    let n = names();
    let policy = RenewalPolicy::default();
    let same = [
        region("cn-north-1", Some(("a", 10))),
        region("cn-northwest-1", Some(("a", 10))),
    ];
    assert_eq!(
        obtain(&situation(&n, &[], None, &same), &policy, NOW),
        Obtain::Nothing
    );
    let differ = [
        region("cn-north-1", Some(("a", 10))),
        region("cn-northwest-1", Some(("b", 5))),
    ];
    assert_eq!(
        obtain(&situation(&n, &[], None, &differ), &policy, NOW),
        Obtain::Archived { else_issue: false }
    );
    let lacking = [
        region("cn-north-1", Some(("a", 10))),
        region("cn-northwest-1", None),
    ];
    assert_eq!(
        obtain(&situation(&n, &[], None, &lacking), &policy, NOW),
        Obtain::Archived { else_issue: true }
    );
    let due = [region("cn-north-1", Some(("a", 70)))];
    assert_eq!(
        obtain(&situation(&n, &[], None, &due), &policy, NOW),
        Obtain::Archived { else_issue: true },
        "a fresher archived certificate first; issued only without one"
    );
}

#[test]
fn each_acm_region_is_kept_imported_or_reimported_in_place() {
    let n = names();
    let acm = [
        region("cn-north-1", Some(("a", 10))),
        region("cn-northwest-1", Some(("old", 70))),
        region("ap-east-1", None),
    ];
    let s = situation(&n, &[], None, &acm);
    let offer = Offer {
        origin: Origin::New,
        iam_name: "x",
        serial: Some("a"),
    };
    let actions: Vec<AcmAction> = needs(&s, &offer)
        .acm
        .into_iter()
        .map(|a| a.action)
        .collect();
    assert_eq!(
        actions,
        [
            AcmAction::Keep,
            AcmAction::Reimport {
                arn: arn("cn-northwest-1", "old")
            },
            AcmAction::Import
        ]
    );
}

#[test]
fn an_archived_bundle_goes_to_cloudfront_only_where_the_renewal_plan_deploys() {
    let n = names();
    let observed = serving(Attached::Cert(cert("A", 10)));
    let keep = renewal_of(&observed, None);
    let acm = [region("cn-north-1", None)];
    let s = situation(&n, &observed, Some(&keep), &acm);
    let archived = Offer {
        origin: Origin::Archived,
        iam_name: "name-B",
        serial: Some("b"),
    };
    let need = needs(&s, &archived);
    assert!(
        need.iam.is_empty(),
        "the fresh distribution keeps its certificate"
    );
    assert!(need.any(), "the empty region needs it");
    let own = Offer {
        origin: Origin::Own,
        ..archived
    };
    assert_eq!(
        needs(&s, &own).iam,
        ["E1"],
        "the user's certificate goes everywhere"
    );
    let already = Offer {
        iam_name: "name-A",
        ..own
    };
    assert!(
        needs(&s, &already).iam.is_empty(),
        "not where it is already"
    );
}

#[test]
fn cloudfront_through_acm_is_pending_until_every_distribution_serves_the_global_arn() {
    let n = names();
    let acm = [region("us-east-1", Some(("a", 10)))];
    let arn = acm[0].held.as_ref().unwrap().arn.clone();
    let on_iam = serving(Attached::Cert(cert("A", 10)));
    let mut s = situation(&n, &on_iam, None, &acm);
    s.cloudfront = Some(CloudFrontVia::Acm);
    assert!(s.swaps_pending());
    assert_eq!(
        obtain(&s, &RenewalPolicy::default(), NOW),
        Obtain::Archived { else_issue: false }
    );
    let on_acm = serving(Attached::Acm(arn));
    s.observed = &on_acm;
    assert!(!s.swaps_pending());
    assert_eq!(obtain(&s, &RenewalPolicy::default(), NOW), Obtain::Nothing);
}

#[test]
fn the_reported_plan_names_each_regions_state() {
    let n = names();
    let acm = [
        region("cn-north-1", Some(("a", 70))),
        region("cn-northwest-1", None),
    ];
    let s = situation(&n, &[], None, &acm);
    let policy = RenewalPolicy::default();
    let plan = report(&s, &obtain(&s, &policy, NOW), &policy, NOW);
    let states: Vec<&str> = plan.acm.iter().map(|a| a.state).collect();
    assert_eq!(states, ["due", "missing"]);
    let json = serde_json::to_value(&plan).unwrap();
    assert_eq!(
        json["obtain"],
        serde_json::json!({"kind": "archived", "else_issue": true})
    );
}
