//! The slow faults, run by `make test-slow` (which CI also runs) on a bed whose Pebble rejects
//! 30 % of nonces: each case waits for real delays (Route 53 changes PENDING, polled every 5 s;
//! the CloudFront SDK waiter sleeps 60 s between polls).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::{Duration, Instant};

use cert_rotator::report::Outcome;
use common::world::{Invocation, World};
use serde_json::json;

/// Ten minutes to the deadline: these runs wait out real delays.
fn slow() -> Invocation<'static> {
    Invocation::default().deadline(Duration::from_secs(600))
}

fn settings(body: &str) {
    assert_eq!(
        common::http(
            "POST",
            &format!("{}/settings", common::bed()["BED_CONTROL_URL"]),
            body
        )
        .0,
        200
    );
}

async fn due(w: &World, label: &str) -> (String, String, String) {
    let name = w.name(label);
    let (dist, old) = w.due(&format!("{label}-old"), &[&name], &[&name]).await;
    (name, dist, old)
}

#[tokio::test]
#[ignore = "slow: make test-slow starts the bed it needs"]
async fn a_ca_rejecting_30_percent_of_nonces_still_issues() {
    assert_eq!(
        common::bed()["BED_PEBBLE_WFE_NONCEREJECT"],
        "30",
        "run by make test-slow, whose Pebble rejects 30 % of nonces"
    );
    let w = World::new("nonce").await;
    let mut domains = Vec::new();
    for i in 0..4 {
        domains.push(json!({"names": [due(&w, &format!("n{i}")).await.0]}));
    }
    let report = w
        .run_with(slow(), &json!({"domains": domains}))
        .await
        .unwrap();
    assert!(
        report.domains.iter().all(|d| d.outcome == Outcome::Renewed),
        "{report:#?}"
    );
}

#[tokio::test]
#[ignore = "slow: make test-slow starts the bed it needs"]
async fn route53_pending_for_several_polls_is_waited_out() {
    // Three PENDING answers, then 15 s more of propagation time however often it is polled.
    settings(r#"{"route53_pending_polls": 3, "route53_pending_seconds": 15}"#);
    let w = World::new("pending").await;
    let (name, dist, old) = due(&w, "cdn").await;
    let started = Instant::now();
    let report = w
        .run_with(slow(), &json!({"domains": [{"names": [name]}]}))
        .await;
    settings(r#"{"route53_pending_polls": 0, "route53_pending_seconds": 0}"#);
    let report = report.unwrap();
    assert_eq!(report.domains[0].outcome, Outcome::Renewed, "{report:#?}");
    assert_ne!(w.served(&dist).await, old);
    assert!(
        started.elapsed() > Duration::from_secs(15),
        "the record was used before its change was INSYNC: {:?}",
        started.elapsed()
    );
    assert!(w.txt_records().await.is_empty());
}

#[tokio::test]
#[ignore = "slow: make test-slow starts the bed it needs"]
async fn a_certificate_change_still_deploying_is_waited_for_then_made() {
    settings(r#"{"cloudfront_deploy_seconds": 40}"#);
    let w = World::new("busy").await;
    let (name, dist, _) = due(&w, "cdn").await;
    let event = json!({"domains": [{"names": [name]}]});
    let first = w.run_with(slow().run_id("busy-1"), &event).await.unwrap();
    let after_first = w.served(&dist).await;
    // Forced again at once: CloudFront refuses a second certificate change while the first deploys.
    let forced = json!({"domains": [{"names": [name], "force": true}]});
    let started = Instant::now();
    let second = w.run_with(slow().run_id("busy-2"), &forced).await;
    settings(r#"{"cloudfront_deploy_seconds": 1}"#);
    let second = second.unwrap();
    assert_eq!(first.domains[0].outcome, Outcome::Renewed);
    assert_eq!(second.domains[0].outcome, Outcome::Renewed, "{second:#?}");
    assert_eq!(second.domains[0].distributions[0].result, "updated");
    assert_ne!(w.served(&dist).await, after_first);
    assert!(
        started.elapsed() > Duration::from_secs(30),
        "waited for Deployed, took {:?}",
        started.elapsed()
    );
}
