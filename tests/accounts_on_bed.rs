//! Accounts and DNS anywhere (issue #14): a domain's zone in a DNS account reached through its
//! role; its distributions and certificates in a CDN account (`account`), swapped without
//! downtime and retired there; a name hosted "outside AWS" whose `_acme-challenge` is CNAMEd into
//! a Route 53 zone of a DNS account; roles STS refuses, each failing its domain alone and naming
//! the role.
//!
//! The bed refuses AssumeRole as STS does (motobed/sts.py), holds the member role's sessions to
//! template.yaml's member policy (motobed/authz.py), serves the outside zone from its DNS and
//! lets Pebble follow the CNAME through its resolving listener, as a CA's resolver would.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use cert_rotator::handler::InvocationError;
use cert_rotator::report::Outcome;
use common::accounts::{outside_zone, Member};
use common::world::World;
use serde_json::json;

#[tokio::test]
async fn a_domain_whose_zone_is_in_a_dns_account_renews_through_its_role() {
    let w = World::new("dnsacct").await;
    let member = Member::new(&w, Some("ops-2026")).await;
    let (zone, zone_id) = member.zone("dnsz", "example.cn").await;
    let (cdn, wild) = (format!("cdn.{zone}"), format!("*.cdn.{zone}"));
    let (dist, old) = w.due("cdn-old", &[&cdn, &wild], &[&cdn]).await;
    let dns = json!({"role": member.role, "external_id": "ops-2026"});
    let report = w
        .run_ok(&json!({"domains": [{"names": [cdn, wild], "dns": dns}]}))
        .await;
    assert_eq!(report.domains[0].outcome, Outcome::Renewed, "{report:#?}");
    assert_ne!(w.served(&dist).await, old);
    assert!(member.txt_records(&zone_id).await.is_empty(), "cleaned up");
    w.assert_converged().await;
    member.assert_no_denials();
}

#[tokio::test]
async fn zone_in_a_dns_account_distributions_in_a_cdn_account_renewed_without_downtime() {
    let w = World::new("cdnacct").await.retiring_foreign();
    let dns = Member::new(&w, Some("dns-id")).await;
    let cdn = Member::new(&w, Some("cdn-id")).await;
    let w = w.targeting(&cdn);
    let (zone, zone_id) = dns.zone("cz", "example.cn").await;
    let (www, wild) = (format!("www.{zone}"), format!("*.www.{zone}"));
    let img = format!("img.www.{zone}");
    let (dist, old) = w.due("www-old", &[&www, &wild], &[&www]).await;
    let second = w.distribution(&[&img], &old).await;
    let event = json!({"domains": [{
        "names": [www, wild],
        "dns": {"role": dns.role, "external_id": "dns-id"},
        "account": {"role": cdn.role, "external_id": "cdn-id"},
    }]});
    let watcher = w.watch();
    let report = w.run_ok(&event).await;
    let (polls, violations) = watcher.finish().await;
    assert!(
        polls > 3 && violations.is_empty(),
        "{polls} polls: {violations:#?}"
    );
    let domain = &report.domains[0];
    assert_eq!(domain.outcome, Outcome::Renewed, "{report:#?}");
    assert_eq!(domain.account.as_deref(), Some(cdn.account.as_str()));
    let new = w.served(&dist).await;
    assert_ne!(new, old);
    assert_eq!(
        w.served(&second).await,
        new,
        "every distribution of the CDN account"
    );
    assert!(
        report
            .inventory
            .iter()
            .any(|i| i.account.as_deref() == Some(cdn.account.as_str()) && i.managed),
        "the inventory covers the CDN account: {:#?}",
        report.inventory
    );
    assert!(dns.txt_records(&zone_id).await.is_empty(), "cleaned up");
    w.assert_converged().await;
    // Once CloudFront has deployed, the next run retires the old certificate in the CDN account.
    tokio::time::sleep(Duration::from_millis(1300)).await;
    let again = w.run_ok(&event).await;
    assert_eq!(again.domains[0].outcome, Outcome::Kept, "{again:#?}");
    assert_eq!(w.unreferenced_certificates().await, Vec::<String>::new());
    // An inventory lists the CDN account when asked to.
    let listed = w
        .run_ok(
            &json!({"inventory": true, "accounts": [{"role": cdn.role, "external_id": "cdn-id"}]}),
        )
        .await;
    let theirs: Vec<_> = listed
        .inventory
        .iter()
        .filter(|i| i.account.as_deref() == Some(cdn.account.as_str()))
        .collect();
    assert!(
        theirs.len() == 1 && theirs[0].managed && theirs[0].in_use,
        "{:#?}",
        listed.inventory
    );
    dns.assert_no_denials();
    cdn.assert_no_denials();
}

#[tokio::test]
async fn roles_sts_refuses_fail_their_domain_alone_naming_the_role() {
    let w = World::new("refused").await.expecting_denials();
    let right = Member::new(&w, Some("right-id")).await;
    let stranger = Member::trusting(
        &w,
        &format!("arn:aws-cn:iam::{}:role/someone-else", w.account),
        None,
    )
    .await;
    let (zone, _) = right.zone("rz", "example.cn").await;
    let (szone, _) = stranger.zone("sz", "example.cn").await;
    // One role per account and event: the other partition's role names an account of its own.
    let global_role = "arn:aws:iam::999988887777:role/cert-rotator-member".to_owned();
    let outside = format!("{}.example.com.cn", common::unique("bad"));
    let astray = format!("www.{outside}");
    let astray_target = format!("{astray}.{zone}");
    outside_zone(
        &outside,
        &[(
            &format!("_acme-challenge.{astray}"),
            "CNAME",
            &astray_target,
        )],
    );
    let (a, b, c) = (
        format!("a.{zone}"),
        format!("b.{zone}"),
        format!("c.{szone}"),
    );
    for (label, name) in [("a", &a), ("b", &b), ("c", &c), ("astray", &astray)] {
        w.due(&format!("{label}-old"), &[name], &[name]).await;
    }
    let elsewhere = w.name("elsewhere");
    w.due("elsewhere-old", &[&elsewhere], &[&elsewhere]).await;
    let mine = w.name("mine");
    let (dist, old) = w.due("mine-old", &[&mine], &[&mine]).await;
    let event = json!({"domains": [
        {"names": [a], "dns": {"role": right.role, "external_id": "wrong-id"}},
        {"names": [b], "dns": {"role": global_role}},
        {"names": [c], "dns": {"role": stranger.role}},
        {"names": [mine]},
        {"names": [astray]},
        {"names": [elsewhere], "account": {"role": stranger.role}},
    ]});
    let result = w.run(&event).await;
    let Err(InvocationError::Domains { failed, report, .. }) = result else {
        panic!("the run did not fail the refused domains: {result:#?}");
    };
    assert_eq!(failed, 5, "{report:#?}");
    let error = |i: usize| report.domains[i].error.clone().unwrap_or_default();
    assert!(
        error(0).contains(&format!("assuming role {}", right.role))
            && error(0).contains("AccessDenied")
            && error(0).contains("external id"),
        "{}",
        error(0)
    );
    assert!(
        error(1).contains(&global_role)
            && error(1).contains("is in partition aws, but this function runs in aws-cn"),
        "{}",
        error(1)
    );
    assert!(
        error(2).contains(&format!("assuming role {}", stranger.role))
            && error(2).contains("trust policy"),
        "{}",
        error(2)
    );
    assert!(
        error(4).contains(&format!(
            "is a CNAME to {astray_target}, which does not start with _acme-challenge."
        )),
        "{}",
        error(4)
    );
    assert!(
        error(5).contains("not attempted in the domain's account")
            && error(5).contains(&format!("assuming role {}", stranger.role)),
        "{}",
        error(5)
    );
    assert_eq!(
        report.domains[5].account.as_deref(),
        Some(stranger.account.as_str())
    );
    assert_eq!(report.domains[3].outcome, Outcome::Renewed, "{report:#?}");
    assert_ne!(w.served(&dist).await, old, "the other domain renewed");
}

/// A name "outside AWS" (the bed's static zone) whose `_acme-challenge` records are CNAMEd into
/// a Route 53 zone of a DNS account: one directly, one through a second CNAME. Returns the world,
/// the member, the challenge zone's id, the domain's names, and its (distribution, old cert).
async fn outside_names(prefix: &str) -> (World, Member, String, Vec<String>, (String, String)) {
    let w = World::new(prefix).await.retiring_foreign();
    let member = Member::new(&w, None).await;
    let (challenges, challenges_id) = member.zone("chal", "example.net").await;
    let outside = format!("{}.example.com.cn", common::unique("out"));
    let (www, img) = (format!("www.{outside}"), format!("img.{outside}"));
    outside_zone(
        &outside,
        &[
            (&format!("www.{outside}"), "A", "192.0.2.10"),
            (
                &format!("_acme-challenge.{www}"),
                "CNAME",
                &format!("_acme-challenge.{www}.{challenges}"),
            ),
            (
                &format!("_acme-challenge.{img}"),
                "CNAME",
                &format!("hop.{outside}"),
            ),
            (
                &format!("hop.{outside}"),
                "CNAME",
                &format!("_acme-challenge.{img}.{challenges}"),
            ),
        ],
    );
    let due = w.due("www-old", &[&www, &img], &[&www, &img]).await;
    (w, member, challenges_id, vec![www, img], due)
}

#[tokio::test]
async fn a_name_outside_aws_with_its_challenge_cnamed_into_a_dns_account_renews() {
    let (w, member, challenges_id, names, (dist, old)) = outside_names("cname").await;
    let event = json!({"domains": [{"names": names, "dns": {"role": member.role}}]});
    let report = w.run_ok(&event).await;
    assert_eq!(report.domains[0].outcome, Outcome::Renewed, "{report:#?}");
    assert_ne!(w.served(&dist).await, old);
    assert!(
        member.txt_records(&challenges_id).await.is_empty(),
        "cleaned up"
    );
    assert!(w.txt_records().await.is_empty());
    w.assert_converged().await;
    member.assert_no_denials();
}

#[cfg(feature = "failpoints")]
#[tokio::test]
async fn a_run_killed_with_records_written_through_a_cname_is_repaired_by_the_next() {
    let (w, member, challenges_id, names, _) = outside_names("cnamecrash").await;
    let event = json!({"domains": [{"names": names, "dns": {"role": member.role}}]});
    let (run, _) = w.kill_at(&event, "after-txt-write", &[]);
    let left = member.txt_records(&challenges_id).await;
    assert_eq!(left.len(), 2, "written at both targets: {left:?}");
    let (code, out, err) = run.after_kill(&[]).await;
    assert_eq!(code, 0, "the next run fails\n{out}\n{err}");
    assert!(
        member.txt_records(&challenges_id).await.is_empty(),
        "repaired"
    );
    w.assert_converged().await;
    member.assert_no_denials();
}

#[tokio::test]
async fn a_dry_run_finds_where_each_challenge_goes_and_fails_what_an_order_would() {
    let (w, member, challenges_id, names, (dist, old)) = outside_names("dryplace").await;
    let w = w.expecting_denials();
    let fenced = Member::new(&w, Some("fence-id")).await;
    let (fzone, _) = fenced.zone("fz", "example.cn").await;
    let refused = format!("www.{fzone}");
    w.due("refused-old", &[&refused], &[&refused]).await;
    let nowhere = format!("www.{}.example.org", common::unique("nowhere"));
    w.due("nowhere-old", &[&nowhere], &[&nowhere]).await;
    let mine = w.name("mine");
    let (mine_dist, mine_old) = w.due("mine-old", &[&mine], &[&mine]).await;
    let outside = format!("{}.example.com.cn", common::unique("dryastray"));
    let astray = format!("www.{outside}");
    let astray_target = format!("www.{outside}.{fzone}");
    let astray_record = format!("_acme-challenge.{astray}");
    outside_zone(&outside, &[(&astray_record, "CNAME", &astray_target)]);
    w.due("astray-old", &[&astray], &[&astray]).await;
    let event = json!({"dry_run": true, "domains": [
        {"names": names, "dns": {"role": member.role}},
        {"names": [refused], "dns": {"role": fenced.role, "external_id": "wrong-id"}},
        {"names": [nowhere]},
        {"names": [mine]},
        {"names": [astray]},
    ]});
    let result = w.run(&event).await;
    let Err(InvocationError::Domains { failed, report, .. }) = result else {
        panic!("the dry run did not fail the domains an order would fail: {result:#?}");
    };
    assert_eq!(failed, 3, "{report:#?}");

    let delegated = &report.domains[0];
    assert_eq!(delegated.outcome, Outcome::Planned, "{report:#?}");
    let mut expected: Vec<_> = names
        .iter()
        .map(|n| format!("_acme-challenge.{n}"))
        .collect();
    expected.sort();
    assert_eq!(delegated.challenges.len(), 2, "{report:#?}");
    for (p, record) in delegated.challenges.iter().zip(&expected) {
        assert_eq!(p.record, *record);
        assert_eq!(
            p.delegated_to.as_deref(),
            Some(format!("{record}.{}", p.zone_name).as_str()),
            "followed to the end of the chain, through the second hop for img"
        );
        assert_eq!(p.zone, challenges_id);
        assert_eq!(p.account.as_deref(), Some(member.account.as_str()));
    }

    let error = |i: usize| report.domains[i].error.clone().unwrap_or_default();
    assert_eq!(report.domains[1].outcome, Outcome::Failed);
    assert!(
        error(1).starts_with("dry run: the next order would fail")
            && error(1).contains(&format!("assuming role {}", fenced.role))
            && error(1).contains("external id"),
        "{}",
        error(1)
    );
    assert_eq!(report.domains[2].outcome, Outcome::Failed);
    assert!(
        error(2).contains(&format!(
            "no public Route 53 hosted zone of the function's account contains _acme-challenge.{nowhere}"
        )),
        "{}",
        error(2)
    );
    let own = &report.domains[3];
    assert_eq!(own.outcome, Outcome::Planned, "{report:#?}");
    assert_eq!(own.challenges.len(), 1);
    assert_eq!(own.challenges[0].record, format!("_acme-challenge.{mine}"));
    assert_eq!(own.challenges[0].delegated_to, None);
    assert_eq!(own.challenges[0].zone_name, w.name(""));
    assert_eq!(own.challenges[0].account, None);

    assert_eq!(report.domains[4].outcome, Outcome::Failed);
    assert!(
        error(4).contains(&format!(
            "is a CNAME to {astray_target}, which does not start with _acme-challenge."
        )),
        "{}",
        error(4)
    );

    assert_eq!(w.served(&dist).await, old, "a dry run changes nothing");
    assert_eq!(w.served(&mine_dist).await, mine_old);
    assert!(member.txt_records(&challenges_id).await.is_empty());
    assert!(w.txt_records().await.is_empty());
}

/// The function's run with the SDK's retries as in production (3 attempts; the tests' own
/// clients make 10), STS answering 503 to the first three AssumeRole calls (every attempt of
/// one call): returns how long the run took.
async fn run_through_an_sts_blip(w: &World, event: &serde_json::Value) -> Duration {
    let rule = json!({"service": "sts", "operation": "AssumeRole", "access_key": w.credentials.access_key_id(),
                      "times": 3, "code": "ServiceUnavailable", "status": 503, "message": "Service unavailable"});
    let url = format!("{}/faults", common::bed()["BED_CONTROL_URL"]);
    assert_eq!(common::http("POST", &url, &rule.to_string()).0, 200);
    let production = w
        .function
        .to_builder()
        .retry_config(aws_config::retry::RetryConfig::standard().with_max_attempts(3))
        .build();
    let app = cert_rotator::handler::App::new(&production, w.config()).unwrap();
    let started = std::time::Instant::now();
    let report = w
        .run_with(common::world::Invocation::app(&app), event)
        .await
        .unwrap_or_else(|e| panic!("the run failed: {e}"));
    assert_eq!(report.domains[0].outcome, Outcome::Renewed, "{report:#?}");
    started.elapsed()
}

/// STS failing for a while does not fail an account's domains for the run: the role is asked
/// once more after the pause, and the domain renews — through a CDN account's role (`account`)
/// and through a DNS account's (`dns.role`). A refusal is not retried
/// (`roles_sts_refuses_fail_their_domain_alone_naming_the_role`).
#[tokio::test]
async fn sts_failing_for_a_while_is_asked_again_after_a_pause_and_the_cdn_account_renews() {
    let w = World::new("stsblip").await.retiring_foreign();
    let cdn = Member::new(&w, Some("cdn-id")).await;
    let w = w.targeting(&cdn);
    let www = w.name("www");
    let (dist, old) = w.due("www-old", &[&www], &[&www]).await;
    let event = json!({"domains": [{"names": [www], "account": {"role": cdn.role, "external_id": "cdn-id"}}]});
    let took = run_through_an_sts_blip(&w, &event).await;
    assert!(
        took >= cert_rotator::aws::attempt::PAUSE,
        "asked again only after the pause"
    );
    assert_ne!(w.served(&dist).await, old);
    cdn.assert_no_denials();
}

#[tokio::test]
async fn sts_failing_for_a_while_is_asked_again_after_a_pause_and_the_dns_account_serves() {
    let w = World::new("stsdnsblip").await;
    let member = Member::new(&w, Some("dns-id")).await;
    let (zone, zone_id) = member.zone("blipz", "example.cn").await;
    let cdn = format!("cdn.{zone}");
    let (dist, old) = w.due("cdn-old", &[&cdn], &[&cdn]).await;
    let event = json!({"domains": [{"names": [cdn], "dns": {"role": member.role, "external_id": "dns-id"}}]});
    let took = run_through_an_sts_blip(&w, &event).await;
    assert!(
        took >= cert_rotator::aws::attempt::PAUSE,
        "asked again only after the pause"
    );
    assert_ne!(w.served(&dist).await, old);
    assert!(member.txt_records(&zone_id).await.is_empty(), "cleaned up");
    member.assert_no_denials();
}
