//! Two public hosted zones with one name (issue #14 part 1): Route 53 lets an account hold both (a
//! migration, a test copy), and the parent delegates to one of them only. cert-rotator never
//! guesses: without `dns.hosted_zone_id` the domain fails naming both zones; with it, the
//! challenge goes to that zone, the CA validates it there (the bed's DNS answers from the zone the
//! parent delegates to, as the world does), and the rotation completes with nothing left behind.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use cert_rotator::handler::InvocationError;
use cert_rotator::report::Outcome;
use common::world::World;
use serde_json::json;

/// A world whose zone has a twin with the same name, to which the parent delegates; returns the
/// world, the twin's id, and the (distribution, old certificate) of a due domain.
async fn twin_zones() -> (World, String, (String, String)) {
    let w = World::new("twin").await;
    let twin = common::create_zone(&w.sdk, &w.zone).await;
    let control = common::bed()["BED_CONTROL_URL"].clone();
    let delegation = json!({"route53_delegations": {&w.zone: &twin}});
    let (status, body) = common::http(
        "POST",
        &format!("{control}/settings"),
        &delegation.to_string(),
    );
    assert_eq!(status, 200, "{body}");
    let cdn = w.name("cdn");
    let due = w.due("cdn-old", &[&cdn], &[&cdn]).await;
    (w, twin, due)
}

#[tokio::test]
async fn twin_public_zones_without_a_named_zone_fail_with_both_ids() {
    let (w, twin, (dist, old)) = twin_zones().await;
    let event = json!({"domains": [{"names": [w.name("cdn")]}]});
    let Err(InvocationError::Domains { report, .. }) = w.run(&event).await else {
        panic!("the run did not fail the domain");
    };
    let error = report.domains[0].error.clone().unwrap();
    assert!(
        error.contains(&format!("({}, {twin})", w.zone_id)) && error.contains("dns.hosted_zone_id"),
        "{error}"
    );
    assert_eq!(w.served(&dist).await, old, "nothing deployed");
    assert!(w.txt_records().await.is_empty(), "nothing written");
}

#[tokio::test]
async fn with_the_delegated_zone_named_the_domain_renews_and_leaves_no_record() {
    let (w, twin, (dist, old)) = twin_zones().await;
    let event = json!({"domains": [{"names": [w.name("cdn")], "dns": {"hosted_zone_id": twin}}]});
    let report = w.run_ok(&event).await;
    assert_eq!(report.domains[0].outcome, Outcome::Renewed, "{report:#?}");
    assert_ne!(w.served(&dist).await, old);
    let twin_records = aws_sdk_route53::Client::new(&w.sdk)
        .list_resource_record_sets()
        .hosted_zone_id(&twin)
        .send()
        .await
        .unwrap();
    assert!(
        twin_records
            .resource_record_sets()
            .iter()
            .all(|r| r.r#type().as_str() != "TXT"),
        "the challenge record was removed from the named zone"
    );
    w.assert_converged().await;
}

#[tokio::test]
async fn naming_the_zone_the_parent_does_not_delegate_to_fails_validation_not_silently() {
    // The bed's DNS answers from the delegated twin, as the world would: a record written in the
    // other zone is not seen by the CA. (In the world that zone's own name servers do answer it,
    // so the authoritative check passes and the CA's validation fails; the bed answers every
    // zone's name servers from one address and cannot be them, hence the check is off here.)
    let (w, _twin, (dist, old)) = twin_zones().await;
    let event =
        json!({"domains": [{"names": [w.name("cdn")], "dns": {"hosted_zone_id": w.zone_id}}]});
    let unchecked = [("CERT_ROTATOR_CHECK_AUTHORITATIVE", "false")];
    let how = common::world::Invocation::overrides(&unchecked);
    let Err(InvocationError::Domains { report, .. }) = w.run_with(how, &event).await else {
        panic!("the run did not fail the domain");
    };
    let error = report.domains[0].error.clone().unwrap();
    assert!(
        error.contains("Error retrieving TXT records") && error.contains("unauthorized"),
        "the CA did not see the record: {error}"
    );
    assert_eq!(w.served(&dist).await, old);
    assert!(w.txt_records().await.is_empty(), "cleaned up");
}

#[tokio::test]
async fn a_wildcard_cname_in_the_zone_is_not_taken_for_a_delegation() {
    // `*.<zone> CNAME d111.cloudfront.cn`, as a wildcard CloudFront distribution is served: the
    // zone's servers answer it for `_acme-challenge.cdn.<zone>` too, since nothing exists there.
    // cert-rotator tells it from a delegation and writes the TXT at the record itself.
    use aws_sdk_route53::types::{
        Change, ChangeAction, ChangeBatch, ResourceRecord, ResourceRecordSet, RrType,
    };
    let w = World::new("wild").await;
    let wildcard = ResourceRecordSet::builder()
        .name(format!("*.{}", w.zone))
        .r#type(RrType::Cname)
        .ttl(300)
        .resource_records(
            ResourceRecord::builder()
                .value("d111111abcdef8.cloudfront.cn")
                .build()
                .unwrap(),
        )
        .build()
        .unwrap();
    let change = Change::builder()
        .action(ChangeAction::Create)
        .resource_record_set(wildcard)
        .build()
        .unwrap();
    aws_sdk_route53::Client::new(&w.sdk)
        .change_resource_record_sets()
        .hosted_zone_id(&w.zone_id)
        .change_batch(ChangeBatch::builder().changes(change).build().unwrap())
        .send()
        .await
        .unwrap();
    let cdn = w.name("cdn");
    let (dist, old) = w.due("cdn-old", &[&cdn], &[&cdn]).await;
    let report = w.run_ok(&json!({"domains": [{"names": [cdn]}]})).await;
    assert_eq!(report.domains[0].outcome, Outcome::Renewed, "{report:#?}");
    assert_ne!(w.served(&dist).await, old);
    assert!(w.txt_records().await.is_empty(), "cleaned up");
}

/// A record a killed run wrote is removed from the zone it was written in, even when a second
/// public zone of the same name appeared since (a migration begun between the two runs): the
/// journal names the zone, so the repair does not look it up again and cannot find it ambiguous.
#[cfg(feature = "failpoints")]
#[tokio::test]
async fn a_twin_zone_created_after_a_killed_run_does_not_strand_its_record() {
    let w = World::new("twinlate").await;
    let cdn = w.name("cdn");
    w.due("cdn-old", &[&cdn], &[&cdn]).await;
    let event = json!({"domains": [{"names": [cdn]}]});
    let (run, _) = w.kill_at(&event, "after-txt-write", &[]);
    assert_eq!(w.txt_records().await.len(), 1, "the killed run's record");
    let twin = common::create_zone(&w.sdk, &w.zone).await;
    let (code, out, err) = run.after_kill(&[]).await;
    assert_ne!(
        code, 0,
        "the domain now has two zones and none named\n{out}"
    );
    assert!(out.contains(&twin), "{out}");
    assert!(
        w.txt_records().await.is_empty(),
        "the record is removed from the zone it was written in\n{out}\n{err}"
    );
    assert!(w.journal_entries().await.is_empty(), "{out}");
}
