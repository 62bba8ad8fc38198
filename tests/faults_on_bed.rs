//! Faults AWS and the CA really produce, injected by the bed: renewals succeed where retrying can
//! succeed, and otherwise fail with a clear message, clean up, and deploy nothing — inside the
//! deadline.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use cert_rotator::handler::InvocationError;
use cert_rotator::report::Outcome;
use common::world::{Invocation, World};
use serde_json::json;
use time::OffsetDateTime;

/// A fault rule at the bed, for this world's calls only.
fn fault(world: &World, rule: serde_json::Value) {
    let mut rule = rule;
    rule["access_key"] = json!(world.credentials.access_key_id());
    let url = format!("{}/faults", common::bed()["BED_CONTROL_URL"]);
    assert_eq!(common::http("POST", &url, &rule.to_string()).0, 200);
}

fn injected(code: &str) -> u64 {
    let (_, body) = common::http(
        "GET",
        &format!("{}/calls", common::bed()["BED_CONTROL_URL"]),
        "",
    );
    serde_json::from_str::<serde_json::Value>(&body).unwrap()[format!("faults:{code}")]
        .as_u64()
        .unwrap_or(0)
}

/// A world with `n` due domains, each on its own distribution; returns the event.
async fn due_domains(w: &World, n: usize) -> (serde_json::Value, Vec<(String, String)>) {
    let mut domains = Vec::new();
    let mut dists = Vec::new();
    for i in 0..n {
        let name = w.name(&format!("d{i}"));
        let old = w
            .upload_foreign(
                &format!("old-{i}"),
                &[&name],
                OffsetDateTime::now_utc() - time::Duration::days(80),
                90,
            )
            .await;
        dists.push((w.distribution(&[&name], &old).await, old));
        domains.push(json!({"names": [name]}));
    }
    (json!({"domains": domains}), dists)
}

#[tokio::test]
async fn route53_throttling_a_third_of_requests_is_retried_through() {
    let w = World::new("throttle").await;
    let (event, dists) = due_domains(&w, 3).await;
    let before = injected("Throttling");
    fault(
        &w,
        json!({"service": "route53", "probability": 0.3, "code": "Throttling", "status": 400, "message": "Rate exceeded"}),
    );
    // Orders now share batches, so a run makes few Route 53 calls: the first change is always
    // throttled too, so that the retry path is exercised on every run, not by chance.
    fault(
        &w,
        json!({"service": "route53", "operation": "ChangeResourceRecordSets", "nth": 1, "code": "Throttling", "status": 400, "message": "Rate exceeded"}),
    );
    let report = w.run_ok(&event).await;
    w.assert_no_secrets_logged().await;
    assert!(
        report.domains.iter().all(|d| d.outcome == Outcome::Renewed),
        "{report:#?}"
    );
    for (dist, old) in dists {
        assert_ne!(w.served(&dist).await, old);
    }
    assert!(injected("Throttling") > before, "the bed throttled nothing");
    assert!(w.txt_records().await.is_empty());
}

/// A stale ETag (412) is read again. (A change still in progress — an IllegalUpdate while the
/// distribution is InProgress — is waited for: `slow_on_bed.rs`, with the SDK waiter's real
/// delays; an IllegalUpdate for any other reason fails the domain at once: `safety_on_bed.rs`.)
#[tokio::test]
async fn a_stale_etag_on_the_first_attempt_is_read_again() {
    let w = World::new("cf").await;
    let (event, dists) = due_domains(&w, 1).await;
    tokio::time::sleep(Duration::from_millis(1100)).await; // created distributions finish deploying
    fault(
        &w,
        json!({"service": "cloudfront", "operation": "UpdateDistribution", "nth": 1, "code": "PreconditionFailed", "status": 412}),
    );
    let report = w.run_ok(&event).await;
    w.assert_no_secrets_logged().await;
    let d = &report.domains[0];
    assert_eq!(d.outcome, Outcome::Renewed, "{d:#?}");
    assert_eq!(d.distributions[0].result, "updated");
    assert_ne!(w.served(&dists[0].0).await, dists[0].1);
}

#[tokio::test]
async fn a_ca_that_refuses_the_order_fails_that_domain_clearly_and_cleans_up() {
    let w = World::new("refused").await;
    let (event, dists) = due_domains(&w, 2).await;
    let refused = w.name("d0");
    let rule = json!({"path": "/order-plz", "identifier": refused, "status": 400, "type": "urn:ietf:params:acme:error:rejectedIdentifier", "detail": "Error creating new order :: policy forbids issuing for this name"});
    assert_eq!(
        common::http(
            "POST",
            &format!("{}/faults", common::bed()["BED_ARI_CONTROL_URL"]),
            &rule.to_string()
        )
        .0,
        200
    );
    let InvocationError::Domains { report, failed, .. } = w.run(&event).await.unwrap_err() else {
        panic!()
    };
    w.assert_no_secrets_logged().await;
    assert_eq!(failed, 1);
    let d = report
        .domains
        .iter()
        .find(|d| d.names[0] == refused)
        .unwrap();
    let error = d.error.as_deref().unwrap();
    assert!(
        error.contains(&refused) && error.contains("policy forbids issuing for this name"),
        "{error}"
    );
    assert_eq!(
        w.served(&dists[0].0).await,
        dists[0].1,
        "nothing deployed for the refused domain"
    );
    assert_ne!(
        w.served(&dists[1].0).await,
        dists[1].1,
        "the other domain renewed"
    );
    assert!(w.txt_records().await.is_empty());
}

#[tokio::test]
async fn an_unreachable_acme_server_fails_fast_with_what_to_check_and_deploys_nothing() {
    let w = World::new("noca").await;
    let (event, dists) = due_domains(&w, 2).await;
    let unreachable = [("CERT_ROTATOR_ACME_DIRECTORY", "https://127.0.0.1:9/dir")];
    let started = std::time::Instant::now();
    let InvocationError::Domains { report, failed, .. } = w
        .run_with(Invocation::overrides(&unreachable), &event)
        .await
        .unwrap_err()
    else {
        panic!()
    };
    assert!(
        started.elapsed() < Duration::from_secs(60),
        "took {:?}",
        started.elapsed()
    );
    assert_eq!(failed, 2);
    for d in &report.domains {
        let error = d.error.as_deref().unwrap();
        assert!(
            error.contains("https://127.0.0.1:9/dir")
                && error.contains("check CERT_ROTATOR_ACME_DIRECTORY"),
            "{error}"
        );
    }
    for (dist, old) in dists {
        assert_eq!(w.served(&dist).await, old);
    }
    assert!(w.txt_records().await.is_empty());
    assert_eq!(w.certificate_names().await.len(), 2, "nothing uploaded");
}

/// A CA that accepts connections and never answers (plausible from China): the run still returns
/// within its budget, with a report that names the CA, and the domain untouched.
#[tokio::test]
async fn a_ca_that_never_answers_cannot_hold_the_run_past_its_deadline() {
    let w = World::new("blackhole").await;
    let (event, dists) = due_domains(&w, 1).await;
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    // Accept and hold every connection, never reading or writing.
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in listener.incoming().flatten() {
            held.push(stream);
        }
    });
    let directory = format!("https://127.0.0.1:{port}/dir");
    let silent = [("CERT_ROTATOR_ACME_DIRECTORY", directory.as_str())];
    let budget = Duration::from_secs(90);
    let started = std::time::Instant::now();
    let run = w.run_with(Invocation::overrides(&silent).deadline(budget), &event);
    let result = tokio::time::timeout(budget + Duration::from_secs(15), run)
        .await
        .expect("the run outlived its deadline");
    let elapsed = started.elapsed();
    assert!(elapsed <= budget, "took {elapsed:?} of {budget:?}");
    let InvocationError::Domains { report, .. } = result.unwrap_err() else {
        panic!("a failure of the domain")
    };
    let error = report.domains[0].error.as_deref().unwrap();
    assert!(
        error.contains(&directory) && error.contains("did not answer"),
        "{error}"
    );
    for (dist, old) in dists {
        assert_eq!(w.served(&dist).await, old);
    }
}
