//! Retirement never deletes a certificate that serves traffic elsewhere (issue #13 part 4): IAM
//! certificates also serve load balancer listeners, and IAM does not reliably refuse deleting
//! one a listener uses. A rotation replaces the legacy certificate on CloudFront; the next run
//! keeps it while a Classic (v1) or Application (v2) Load Balancer listener serves it, says why,
//! and removes the `replaced-by` tag it gave someone else's certificate. Without a listener the
//! same certificate is retired (with the opt-in for someone else's), and without the opt-in it is
//! kept and reported, with advice that retires it when followed.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use cert_rotator::handler::InvocationError;
use cert_rotator::model::inventory::TAG_REPLACED_BY;
use cert_rotator::report::{Outcome, Report, Retirement};
use common::world::{Invocation, World};
use serde_json::json;

/// Where the legacy certificate also serves.
enum Listener {
    /// An ALB's HTTPS listener in cn-north-1 (the function's region).
    Alb,
    /// A Classic Load Balancer's HTTPS listener in cn-northwest-1 (the other China region).
    Classic,
    /// Nowhere but CloudFront.
    None,
}

/// Rotates `cdn-old` (someone else's certificate) off its distribution, waits for the swap to
/// deploy, runs again; returns the world and what both runs did with `cdn-old`.
async fn rotate_away(w: &World, listener: &Listener) -> (Vec<Retirement>, Option<String>) {
    let cdn = w.name("cdn");
    let (dist, old) = w.due("cdn-old", &[&cdn], &[&cdn]).await;
    let arn = w.iam_arn("cdn-old").await;
    let using = match listener {
        Listener::Alb => {
            let (name, listener) = w.alb_serving("cn-north-1", &arn).await;
            Some(format!("load balancer {name} listener {listener}"))
        }
        Listener::Classic => {
            let name = w.classic_serving("cn-northwest-1", &arn).await;
            Some(format!("load balancer {name} listener 443"))
        }
        Listener::None => None,
    };
    let event = json!({"domains": [{"names": [cdn]}]});
    let first: Report = w.run_ok(&event).await;
    assert_eq!(first.domains[0].outcome, Outcome::Renewed, "{first:#?}");
    assert_ne!(w.served(&dist).await, old, "CloudFront serves the new one");
    tokio::time::sleep(Duration::from_millis(1200)).await; // CloudFront deploys (1 s on the bed)
    let second = w.run_ok(&event).await;
    assert_eq!(second.domains[0].outcome, Outcome::Kept, "{second:#?}");
    let about_old = first
        .retired
        .into_iter()
        .chain(second.retired)
        .filter(|r| r.name == "cdn-old")
        .collect();
    (about_old, using)
}

async fn kept_while_a_listener_serves_it(listener: Listener) {
    // Retiring someone else's certificates is opted into: only the listener keeps it.
    let w = World::new("retire-lb").await.retiring_foreign();
    let (about_old, using) = rotate_away(&w, &listener).await;
    let using = using.unwrap();
    assert!(
        w.certificate_names().await.contains(&"cdn-old".to_owned()),
        "the certificate a listener serves still exists: {about_old:?}"
    );
    let last = about_old.last().expect("the second run reports cdn-old");
    assert_eq!(
        last.result.to_string(),
        format!(
            "kept: in use by {using}; not uploaded by cert-rotator, so left to its owner (replaced-by tag removed)"
        ),
        "{about_old:?}"
    );
    assert!(
        !w.iam_tag_keys("cdn-old")
            .await
            .contains(&TAG_REPLACED_BY.to_owned()),
        "the replaced-by tag cert-rotator gave it is gone"
    );
    w.assert_converged().await;
}

#[tokio::test]
async fn an_alb_listener_keeps_the_replaced_certificate() {
    kept_while_a_listener_serves_it(Listener::Alb).await;
}

#[tokio::test]
async fn a_classic_listener_in_the_other_china_region_keeps_the_replaced_certificate() {
    kept_while_a_listener_serves_it(Listener::Classic).await;
}

#[tokio::test]
async fn without_a_listener_the_replaced_certificate_is_retired_with_the_opt_in() {
    let w = World::new("retire-free").await.retiring_foreign();
    let (about_old, _) = rotate_away(&w, &Listener::None).await;
    assert!(
        about_old.iter().any(|r| r.result == "deleted"),
        "{about_old:?}"
    );
    assert!(!w.certificate_names().await.contains(&"cdn-old".to_owned()));
    w.assert_converged().await;
}

/// Without the opt-in someone else's certificate is kept, with the advice to opt in; followed to
/// the letter — the variable the report names, set as it says — the next run retires it.
#[tokio::test]
async fn without_the_opt_in_someone_elses_certificate_is_kept_and_the_advice_retires_it() {
    let w = World::new("retire-foreign").await;
    let (about_old, _) = rotate_away(&w, &Listener::None).await;
    let advice = about_old
        .iter()
        .map(|r| r.result.to_string())
        .find(|r| r.starts_with("kept: not uploaded by cert-rotator; set "))
        .unwrap_or_else(|| panic!("no advice: {about_old:?}"));
    assert!(about_old.iter().all(|r| !r.result.gone()), "{about_old:?}");
    assert!(w.certificate_names().await.contains(&"cdn-old".to_owned()));
    assert!(
        w.iam_tag_keys("cdn-old")
            .await
            .contains(&TAG_REPLACED_BY.to_owned()),
        "the record of why it was kept stays on it"
    );
    // "set VAR=value ...": exactly that, and run again.
    let setting = advice
        .trim_start_matches("kept: not uploaded by cert-rotator; set ")
        .split_whitespace()
        .next()
        .unwrap();
    let (var, value) = setting.split_once('=').unwrap();
    assert_eq!(var, "CERT_ROTATOR_RETIRE_FOREIGN", "{advice}");
    let cdn = w.name("cdn");
    let opted = [(var, value)];
    let third = w
        .run_with(
            Invocation::overrides(&opted),
            &json!({"domains": [{"names": [cdn]}]}),
        )
        .await
        .unwrap();
    assert!(
        third
            .retired
            .iter()
            .any(|r| r.name == "cdn-old" && r.result == "deleted"),
        "the advice retired it: {:?}",
        third.retired
    );
    assert!(!w.certificate_names().await.contains(&"cdn-old".to_owned()));
    w.assert_converged().await;
}

/// Sets the IAM server-certificate quota of `w`'s account on the bed.
fn set_iam_quota(w: &World, quota: usize) {
    let control = common::bed()["BED_CONTROL_URL"].clone();
    let body = json!({"iam_server_certificates_quota_by_account": {&w.account: quota}});
    let (status, answer) = common::http("POST", &format!("{control}/settings"), &body.to_string());
    assert_eq!(status, 200, "{answer}");
}

#[tokio::test]
async fn a_full_iam_quota_fails_the_domain_before_the_ca_is_asked() {
    let w = World::new("quota-full").await;
    let cdn = w.name("cdn");
    let (dist, old) = w.due("cdn-old", &[&cdn], &[&cdn]).await;
    set_iam_quota(&w, 1);
    let event = json!({"domains": [{"names": [cdn]}]});
    let Err(InvocationError::Domains { report, .. }) = w.run(&event).await else {
        panic!("the run did not fail the domain");
    };
    let domain = &report.domains[0];
    assert_eq!(domain.outcome, Outcome::Failed, "{report:#?}");
    let error = domain.error.as_deref().unwrap();
    assert!(
        error.contains("quota is full: 1 of 1") && error.contains("Service Quotas"),
        "{error}"
    );
    assert!(w.archived().await.is_empty(), "nothing was ordered");
    assert_eq!(w.served(&dist).await, old);
    assert_eq!(w.certificate_names().await, ["cdn-old"]);
}

#[tokio::test]
async fn a_full_iam_quota_is_freed_by_retiring_a_superseded_certificate_first() {
    let w = World::new("quota-retire").await.retiring_foreign();
    let cdn = w.name("cdn");
    let (dist, old) = w.due("cdn-old", &[&cdn], &[&cdn]).await;
    let event = json!({"domains": [{"names": [cdn]}]});
    let first = w.run_ok(&event).await;
    assert_eq!(first.domains[0].outcome, Outcome::Renewed, "{first:#?}");
    // The first run could not retire cdn-old: its distribution was still deploying.
    assert_eq!(w.certificate_names().await.len(), 2);
    tokio::time::sleep(Duration::from_millis(1200)).await;
    set_iam_quota(&w, 2);
    let forced = json!({"domains": [{"names": [cdn], "force": true}]});
    let second = w.run_ok(&forced).await;
    assert_eq!(second.domains[0].outcome, Outcome::Renewed, "{second:#?}");
    assert!(
        second
            .retired
            .iter()
            .any(|r| r.name == "cdn-old" && r.result == "deleted"),
        "retired before ordering: {:?}",
        second.retired
    );
    assert_ne!(w.served(&dist).await, old);
    assert!(!w.certificate_names().await.contains(&"cdn-old".to_owned()));
}

#[tokio::test]
async fn archived_keys_expired_long_ago_are_deleted_and_recent_ones_kept() {
    use cert_rotator::certs::archive;
    use cert_rotator::model::inventory::{iam_name, names_hash};
    use cert_rotator::model::names::DomainName;

    let w = World::new("prune").await;
    let cdn = w.name("cdn");
    w.due("cdn-old", &[&cdn], &[&cdn]).await;
    // Bundles of another name set that IAM no longer holds, expired 45 and 10 days ago.
    let gone: Vec<DomainName> = vec![w.name("gone").parse().unwrap()];
    let now = time::OffsetDateTime::now_utc();
    let key = |days_ago: i64| {
        let name = iam_name(&gone, now - time::Duration::days(days_ago), "0a1b2c3d");
        archive::key(&names_hash(&gone), &name)
    };
    let (long_gone, lately) = (key(45), key(10));
    for k in [&long_gone, &lately] {
        w.put_archived(k, b"{}".to_vec()).await;
    }
    let report = w.run_ok(&json!({"domains": [{"names": [cdn]}]})).await;
    assert_eq!(report.domains[0].outcome, Outcome::Renewed, "{report:#?}");
    let pruned: Vec<(String, String)> = report
        .archive_pruned
        .iter()
        .map(|r| (r.name.clone(), r.result.to_string()))
        .collect();
    assert_eq!(pruned, [(long_gone.clone(), "deleted".to_owned())]);
    let keys = w.bucket_keys("archive/").await;
    assert!(
        !keys.contains(&long_gone) && keys.contains(&lately),
        "{keys:?}"
    );
    assert_eq!(
        keys.len(),
        2,
        "the renewed certificate is archived: {keys:?}"
    );
}
