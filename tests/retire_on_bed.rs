//! Retirement never deletes a certificate that serves traffic elsewhere (issue #13 part 4): IAM
//! certificates also serve load balancer listeners, and IAM does not reliably refuse deleting
//! one a listener uses. A rotation replaces the legacy certificate on CloudFront; the next run
//! keeps it while a Classic (v1) or Application (v2) Load Balancer listener serves it, says why,
//! and removes the `replaced-by` tag it gave someone else's certificate. Without a listener the
//! same certificate is retired (with the opt-in for someone else's), and without the opt-in it is
//! kept and reported.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use cert_rotator::model::inventory::TAG_REPLACED_BY;
use cert_rotator::report::{Outcome, Report, Retirement};
use common::world::World;
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

#[tokio::test]
async fn without_the_opt_in_someone_elses_certificate_is_kept_and_untagged() {
    let w = World::new("retire-foreign").await;
    let (about_old, _) = rotate_away(&w, &Listener::None).await;
    assert!(
        about_old.iter().any(|r| r.result
            == "kept: not uploaded by cert-rotator; set CERT_ROTATOR_RETIRE_FOREIGN=true to retire replaced certificates"),
        "{about_old:?}"
    );
    assert!(about_old.iter().all(|r| !r.result.gone()), "{about_old:?}");
    assert!(w.certificate_names().await.contains(&"cdn-old".to_owned()));
    assert!(!w
        .iam_tag_keys("cdn-old")
        .await
        .contains(&TAG_REPLACED_BY.to_owned()));
}
