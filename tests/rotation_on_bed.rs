//! The rotation end to end on the bed, in aws-cn (cn-north-1, `arn:aws-cn:`), through the real
//! handler: Pebble issues by DNS-01 from Route 53 state, moto with the fidelity layer plays IAM,
//! CloudFront, S3 and Secrets Manager.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use cert_rotator::aws::iam::CLOUDFRONT_PATH;
use cert_rotator::handler::InvocationError;
use cert_rotator::model::inventory::{MANAGED_BY, TAG_MANAGED_BY};
use cert_rotator::report::{Outcome, Report};
use cert_rotator::run::lock::LOCK_KEY;
use common::world::{Invocation, World};
use serde_json::json;
use time::OffsetDateTime;

fn domain<'a>(report: &'a Report, first_name: &str) -> &'a cert_rotator::report::DomainReport {
    report
        .domains
        .iter()
        .find(|d| d.names[0] == first_name)
        .unwrap_or_else(|| panic!("no domain {first_name} in {report:#?}"))
}

#[tokio::test]
async fn renews_every_serving_distribution_retires_the_old_and_then_rests() {
    // The seed's certificates are someone else's: retiring them is opted into.
    let w = World::new("rot").await.retiring_foreign();
    let now = OffsetDateTime::now_utc();
    let (cdn, wild, assets) = (
        w.name("cdn"),
        format!("*.{}", w.name("cdn")),
        w.name("assets"),
    );
    // Someone else's certificates, 80 days into 90: due. Named as the seed's script names them.
    let old = w
        .upload_foreign(&cdn, &[&cdn, &wild], now - time::Duration::days(80), 90)
        .await;
    let leftover = w
        .upload_foreign(
            &format!("{cdn}-new"),
            &[&cdn, &wild],
            now - time::Duration::days(1),
            90,
        )
        .await;
    let old_assets = w
        .upload_foreign(&assets, &[&assets], now - time::Duration::days(80), 90)
        .await;
    let unowned = "www.unowned-zone.example.org";
    let old_unowned = w
        .upload_foreign("unowned", &[unowned], now - time::Duration::days(80), 90)
        .await;
    let img = w.name("img.cdn");
    let second_alias = w.distribution(&[&img, &cdn], &old).await; // the name is its second alias
    let by_wildcard = w.distribution(&[&w.name("static.cdn")], &old).await;
    let assets_dist = w.distribution(&[&assets], &old_assets).await;
    w.distribution(&[unowned], &old_unowned).await;
    let event =
        json!({"domains": [{"names": [cdn, wild]}, {"names": [assets]}, {"names": [unowned]}]});

    let watcher = w.watch();
    let err = w.run(&event).await.expect_err("the unowned domain fails");
    let InvocationError::Domains { failed, report, .. } = err else {
        panic!("{err}")
    };
    assert_eq!(failed, 1, "{report:#?}");
    assert_eq!(
        report.account,
        Some(cert_rotator::acme::account::Origin::Created),
        "the first run creates the account"
    );
    assert_eq!(report.partition, "aws-cn");

    let cdn_report = domain(&report, &cdn);
    assert_eq!(cdn_report.outcome, Outcome::Renewed, "{cdn_report:#?}");
    let new = cdn_report.new_certificate.clone().unwrap();
    assert_eq!(w.served(&second_alias).await, new.id);
    assert_eq!(w.served(&by_wildcard).await, new.id);
    assert_eq!(domain(&report, &assets).outcome, Outcome::Renewed);
    assert_ne!(w.served(&assets_dist).await, old_assets);
    assert!(cdn_report.days_to_expiry.unwrap() > 89.0);

    let unowned_report = domain(&report, unowned);
    assert_eq!(unowned_report.outcome, Outcome::Failed);
    let message = unowned_report.error.as_deref().unwrap();
    assert!(
        message.contains(
            "no public Route 53 hosted zone of the function's account contains _acme-challenge.www.unowned-zone.example.org"
        ) && message.contains("create a hosted zone"),
        "{message}"
    );

    assert!(
        w.txt_records().await.is_empty(),
        "TXT records left: {:?}",
        w.txt_records().await
    );
    // The new certificate is IAM's under /cloudfront/, tagged, and its key is in the archive.
    let iam = aws_sdk_iam::Client::new(&w.sdk);
    let got = iam
        .get_server_certificate()
        .server_certificate_name(&new.name)
        .send()
        .await
        .unwrap();
    let got = got.server_certificate().unwrap();
    assert_eq!(
        got.server_certificate_metadata().unwrap().path(),
        CLOUDFRONT_PATH
    );
    assert!(got
        .server_certificate_metadata()
        .unwrap()
        .arn()
        .starts_with("arn:aws-cn:iam::"));
    assert!(got
        .tags()
        .iter()
        .any(|t| t.key() == TAG_MANAGED_BY && t.value() == MANAGED_BY));
    let hash =
        cert_rotator::model::inventory::names_hash(&[cdn.parse().unwrap(), wild.parse().unwrap()]);
    let archived = w
        .archive()
        .get_object()
        .bucket(&w.bucket)
        .key(cert_rotator::certs::archive::key(&hash, &new.name))
        .send()
        .await
        .unwrap();
    assert_eq!(
        archived.server_side_encryption().map(|s| s.as_str()),
        Some("AES256")
    );
    let bundle: cert_rotator::certs::archive::Bundle =
        serde_json::from_slice(&archived.body.collect().await.unwrap().into_bytes()).unwrap();
    let wanted = [cdn.parse().unwrap(), wild.parse().unwrap()];
    cert_rotator::certs::certificate::check_bundle(
        &format!("{}{}", bundle.certificate, bundle.chain),
        bundle.private_key.expose(),
        &wanted,
        OffsetDateTime::now_utc(),
    )
    .expect("the archived key is the deployed certificate's");
    assert!(
        w.journal_entries().await.is_empty(),
        "{:?}",
        w.journal_entries().await
    );
    // A replaced certificate is kept while its distributions deploy the swap, deleted once they
    // have (which may already be the case on a busy machine).
    assert!(
        report
            .retired
            .iter()
            .all(|r| r.result == "deleted" || r.result.to_string().contains("finish deploying")),
        "{:?}",
        report.retired
    );

    // Once CloudFront has deployed (1 s on the bed), the next run changes nothing and retires.
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let second = w
        .run_ok(&json!({"domains": [{"names": [cdn, wild]}, {"names": [assets]}]}))
        .await;
    for d in &second.domains {
        assert_eq!(d.outcome, Outcome::Kept, "{d:#?}");
        assert!(d.distributions.is_empty());
    }
    let certs = w.certificate_names().await;
    assert!(
        !certs.contains(&cdn) && !certs.contains(&assets),
        "replaced certificates retired: {certs:?}"
    );
    assert!(
        certs.contains(&format!("{cdn}-new")),
        "the seed's leftover is not ours to delete: {certs:?}"
    );
    let deleted: Vec<&str> = report
        .retired
        .iter()
        .chain(&second.retired)
        .filter(|r| r.result == "deleted")
        .map(|r| r.name.as_str())
        .collect();
    assert!(
        deleted.contains(&cdn.as_str()) && deleted.contains(&assets.as_str()),
        "{deleted:?}"
    );
    let _ = leftover;

    w.assert_no_secrets_logged().await;
    let (polls, violations) = watcher.finish().await;
    assert!(polls > 10, "the watcher polled {polls} times");
    assert!(
        violations.is_empty(),
        "{} violations in {polls} polls: {violations:?}",
        violations.len()
    );
}

#[tokio::test]
async fn ari_window_in_the_future_skips_and_begun_renews_with_replaces() {
    let w = World::new("ari").await;
    let name = w.name("www");
    let (dist, _) = w.due("www-old", &[&name], &[&name]).await;
    let event = json!({"domains": [{"names": [name]}]});
    let first = w.run_ok(&event).await;
    assert_eq!(first.domains[0].outcome, Outcome::Renewed);
    let issued = w.served(&dist).await;

    // Pebble's certificate is known to the ARI proxy: its window (2/3 of the lifetime) is ahead.
    let second = w.run_ok(&event).await;
    assert_eq!(second.domains[0].outcome, Outcome::Kept);
    let plan = serde_json::to_value(second.domains[0].plan.as_ref().unwrap()).unwrap();
    assert_eq!(plan["reason"]["kind"], "fresh", "{plan}");

    // The CA moves the window into the past: renew, naming the certificate replaced. The second
    // run remembered the window until its Retry-After (6 hours, RFC 9773 section 4.3); forgetting
    // it (README, "Recovering after a failed run") lets this run ask at once.
    let id = w.start_renewal_window(&issued).await;
    w.archive()
        .delete_object()
        .bucket(&w.bucket)
        .key(cert_rotator::plan::backoff::WINDOWS_KEY)
        .send()
        .await
        .unwrap();
    let third = w.run_ok(&event).await;
    let d = &third.domains[0];
    assert_eq!(d.outcome, Outcome::Renewed, "{d:#?}");
    let plan = serde_json::to_value(d.plan.as_ref().unwrap()).unwrap();
    assert_eq!(plan["reason"]["kind"], "renewal-window-started", "{plan}");
    assert_eq!(plan["replaces"], id.as_str(), "{plan}");
    assert_ne!(w.served(&dist).await, issued, "{d:#?}");
}

#[tokio::test]
async fn a_dry_run_reports_the_plan_and_changes_nothing() {
    let w = World::new("dry").await;
    let name = w.name("cdn");
    let (dist, old) = w.due("cdn-old", &[&name], &[&name]).await;
    let report = w
        .run_ok(&json!({"domains": [{"names": [name]}, {"names": [w.name("unserved")]}], "dry_run": true}))
        .await;
    assert_eq!(report.domains[0].outcome, Outcome::Planned);
    let plan = serde_json::to_value(report.domains[0].plan.as_ref().unwrap()).unwrap();
    assert_eq!(plan["action"], "issue");
    assert_eq!(plan["reason"]["kind"], "lifetime-remaining");
    assert_eq!(plan["distributions"], json!([dist]));
    assert_eq!(report.domains[1].outcome, Outcome::NotServed);
    assert_eq!(w.served(&dist).await, old);
    assert_eq!(w.certificate_names().await, ["cdn-old"]);
    assert_eq!(
        w.account_secret_value().await.as_deref(),
        Some("{}"),
        "no account created: the stack's placeholder is left"
    );
}

#[tokio::test]
async fn a_run_that_finds_the_lock_held_does_nothing_and_succeeds() {
    let w = World::new("lock").await;
    w.put_lease("other-run", time::Duration::minutes(10)).await;
    let report = w
        .run_ok(&json!({"domains": [{"names": [w.name("a")]}]}))
        .await;
    assert_eq!(report.domains[0].outcome, Outcome::Locked);
    assert!(
        matches!(report.lock, cert_rotator::report::LockState::Busy { ref owner, .. } if owner == "other-run")
    );
}

#[tokio::test]
async fn eight_domains_renew_concurrently_under_route53s_five_requests_per_second() {
    let bed = common::bed();
    let control = bed["BED_CONTROL_URL"].clone();
    assert_eq!(
        common::http(
            "POST",
            &format!("{control}/settings"),
            r#"{"route53_max_rps": 5}"#
        )
        .0,
        200
    );
    let w = World::new("many").await;
    let now = OffsetDateTime::now_utc();
    let mut domains = Vec::new();
    let mut dists = Vec::new();
    for i in 0..8 {
        let name = w.name(&format!("d{i}"));
        let old = w
            .upload_foreign(
                &format!("old-{i}"),
                &[&name],
                now - time::Duration::days(80),
                90,
            )
            .await;
        dists.push((w.distribution(&[&name], &old).await, old));
        domains.push(json!({"names": [name]}));
    }
    let started = std::time::Instant::now();
    let report = w.run(&json!({"domains": domains})).await;
    let elapsed = started.elapsed();
    common::http(
        "POST",
        &format!("{control}/settings"),
        r#"{"route53_max_rps": 0}"#,
    );
    let report = report.unwrap();
    assert!(
        report.domains.iter().all(|d| d.outcome == Outcome::Renewed),
        "{report:#?}"
    );
    for (dist, old) in dists {
        assert_ne!(w.served(&dist).await, old);
    }
    assert!(elapsed < Duration::from_secs(60), "took {elapsed:?}");
}

#[tokio::test]
async fn a_certificate_uploaded_by_a_run_that_failed_half_way_is_deployed_not_issued_again() {
    let w = World::new("half").await;
    let (cdn, wild) = (w.name("cdn"), format!("*.{}", w.name("cdn")));
    let (first, old) = w.due("cdn-old", &[&cdn, &wild], &[&cdn]).await;
    let second = w.distribution(&[&w.name("img.cdn")], &old).await;
    // The second UpdateDistribution of this account fails, as if the run died there.
    let control = common::bed()["BED_CONTROL_URL"].clone();
    let rule = json!({"service": "cloudfront", "operation": "UpdateDistribution", "access_key": w.credentials.access_key_id(), "nth": 2, "code": "AccessDenied", "status": 403});
    assert_eq!(
        common::http("POST", &format!("{control}/faults"), &rule.to_string()).0,
        200
    );
    let event = json!({"domains": [{"names": [cdn, wild]}]});
    let InvocationError::Domains { report, .. } = w.run(&event).await.unwrap_err() else {
        panic!()
    };
    let d = &report.domains[0];
    assert_eq!(d.outcome, Outcome::Failed);
    assert!(
        d.error
            .as_deref()
            .unwrap()
            .contains("uploaded, but not attached"),
        "{d:#?}"
    );
    let new = d.new_certificate.clone().unwrap();
    let attached: Vec<String> = vec![w.served(&first).await, w.served(&second).await];
    assert!(
        attached.contains(&new.id) && attached.contains(&old),
        "one swapped, one not: {attached:?}"
    );

    let again = w.run_ok(&event).await;
    let d = &again.domains[0];
    assert_eq!(d.outcome, Outcome::Deployed, "{d:#?}");
    assert_eq!(
        d.new_certificate.as_ref().unwrap().id,
        new.id,
        "the uploaded certificate, not a new issuance"
    );
    assert!(!d.timings_ms.contains_key("issue"));
    assert_eq!(
        (w.served(&first).await, w.served(&second).await),
        (new.id.clone(), new.id)
    );
}

/// `n` runs of the same event started together: exactly one issues, the others report the lock.
async fn runs_started_together(n: usize) {
    let w = World::new(&format!("together{n}")).await;
    let name = w.name("cdn");
    w.due("cdn-old", &[&name], &[&name]).await;
    let event = json!({"domains": [{"names": [name]}]});
    let runs = futures::future::join_all((0..n).map(|_| w.run(&event))).await;
    let outcomes: Vec<Outcome> = runs
        .into_iter()
        .map(|r| r.unwrap().domains[0].outcome)
        .collect();
    assert_eq!(
        outcomes.iter().filter(|o| **o == Outcome::Renewed).count(),
        1,
        "{outcomes:?}"
    );
    assert_eq!(
        outcomes.iter().filter(|o| **o == Outcome::Locked).count(),
        n - 1,
        "{outcomes:?}"
    );
    let ours = w
        .certificate_names()
        .await
        .into_iter()
        .filter(|n| cert_rotator::model::inventory::managed_hash(n).is_some())
        .count();
    assert_eq!(ours, 1, "exactly one issuance");
}

#[tokio::test]
async fn two_runs_started_together_issue_once() {
    runs_started_together(2).await;
}

#[tokio::test]
async fn five_runs_started_together_issue_once() {
    runs_started_together(5).await;
}

#[tokio::test]
async fn the_lease_of_a_run_that_died_is_taken_over_once_expired() {
    let w = World::new("takeover").await;
    let name = w.name("cdn");
    w.due("cdn-old", &[&name], &[&name]).await;
    w.put_lease("dead-run", -time::Duration::minutes(1)).await;
    let s3 = w.archive();
    let report = w.run_ok(&json!({"domains": [{"names": [name]}]})).await;
    assert_eq!(report.lock, cert_rotator::report::LockState::Held);
    assert_eq!(report.domains[0].outcome, Outcome::Renewed);
    assert!(
        s3.get_object()
            .bucket(&w.bucket)
            .key(LOCK_KEY)
            .send()
            .await
            .is_err(),
        "released at the end"
    );
}

#[tokio::test]
async fn a_live_lease_written_by_a_run_with_a_slow_clock_still_excludes() {
    let w = World::new("skew").await;
    let name = w.name("cdn");
    let (dist, old) = w.due("cdn-old", &[&name], &[&name]).await;
    // Written just now (S3's clock) for 15 minutes by a run whose clock is 20 minutes slow: by
    // that clock it "expired" 5 minutes ago.
    w.put_lease_body("slow-clock-run", -time::Duration::minutes(5), Some(900))
        .await;
    let report = w.run_ok(&json!({"domains": [{"names": [name]}]})).await;
    assert!(
        matches!(report.lock, cert_rotator::report::LockState::Busy { ref owner, .. } if owner == "slow-clock-run"),
        "{:?}",
        report.lock
    );
    assert_eq!(report.domains[0].outcome, Outcome::Locked);
    assert_eq!(w.served(&dist).await, old);
}

/// A lease written under the run's request id is not the run's own: Lambda may deliver one
/// event twice, and each delivery holds the lease under a token of its own (`<request
/// id>#<random>`; a PUT retried within one run keeps its token: `run::lock` unit tests). The run
/// that holds the lease renews it while it works.
#[tokio::test]
async fn a_lease_under_the_runs_request_id_is_not_its_own_and_the_holder_renews_it() {
    let w = World::new("own-lease").await;
    let name = w.name("cdn");
    w.due("cdn-old", &[&name], &[&name]).await;
    let short = [("CERT_ROTATOR_LOCK_SECONDS", "2")];
    let how = common::world::Invocation::overrides(&short).run_id("run-mine");
    let event = json!({"domains": [{"names": [name]}]});
    w.put_lease_body("run-mine", time::Duration::minutes(15), Some(900))
        .await;
    let other_delivery = w.run_with(how, &event).await.unwrap();
    assert_eq!(
        other_delivery.domains[0].outcome,
        Outcome::Locked,
        "{other_delivery:#?}"
    );
    w.archive()
        .delete_object()
        .bucket(&w.bucket)
        .key(LOCK_KEY)
        .send()
        .await
        .unwrap();
    // Watch the lease while the run works: each renewal is a new write (a new ETag), still ours.
    let done = std::sync::atomic::AtomicBool::new(false);
    let watch = async {
        let s3 = w.archive();
        let mut etags = std::collections::BTreeSet::new();
        while !done.load(std::sync::atomic::Ordering::Relaxed) {
            if let Ok(got) = s3.get_object().bucket(&w.bucket).key(LOCK_KEY).send().await {
                let etag = got.e_tag().unwrap_or_default().to_owned();
                let body = got.body.collect().await.unwrap().into_bytes();
                assert!(String::from_utf8_lossy(&body).contains("run-mine#"));
                etags.insert(etag);
            }
            tokio::time::sleep(Duration::from_millis(150)).await;
        }
        etags
    };
    let run = async {
        let report = w.run_with(how, &event).await.unwrap();
        done.store(true, std::sync::atomic::Ordering::Relaxed);
        report
    };
    let (report, etags) = tokio::join!(run, watch);
    assert_eq!(report.lock, cert_rotator::report::LockState::Held);
    assert_eq!(report.domains[0].outcome, Outcome::Renewed);
    let took = report.domains[0].timings_ms["total"];
    eprintln!("run took {took} ms; lease writes seen: {}", etags.len());
    if took > 1500 {
        assert!(
            etags.len() >= 2,
            "renewed during a {took} ms run: {etags:?}"
        );
    }
}

#[tokio::test]
async fn with_too_little_time_left_renewals_are_deferred_not_started() {
    let w = World::new("late").await;
    let name = w.name("cdn");
    let (dist, old) = w.due("cdn-old", &[&name], &[&name]).await;
    let needs_more_time = [("CERT_ROTATOR_MIN_RENEWAL_SECONDS", "100000")];
    let report = w
        .run_with(
            Invocation::overrides(&needs_more_time),
            &json!({"domains": [{"names": [name]}]}),
        )
        .await
        .unwrap();
    let d = &report.domains[0];
    assert_eq!(d.outcome, Outcome::Deferred, "{d:#?}");
    assert!(d
        .error
        .as_deref()
        .unwrap()
        .contains("the next run renews it"));
    assert_eq!(w.served(&dist).await, old);
}
