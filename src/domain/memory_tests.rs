//! The failure memory and the remembered renewal windows in one domain's pipeline, against the
//! fakes: a failed issuance backs off, a success forgets, the CA's rate limit defers until its
//! date (force included), failures that did not reach the CA (challenge records with nowhere to
//! go) or came after issuing leave the
//! memory alone and issue nothing new; a renewal window is not asked for before its
//! `Retry-After`.

use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
use serde_json::json;
use time::{Duration, OffsetDateTime};

use super::fakes::World;
use super::windows::RememberingCa;
use crate::acme::http::{RateLimit, RATE_LIMITED};
use crate::acme::RenewalWindow;
use crate::aws::cloudfront::ViewerCert;
use crate::model::inventory;
use crate::model::partition::Partition;
use crate::plan::backoff::{self, Failures};
use crate::ports::{CertificateAuthority, RenewalInfo};
use crate::report::{AcmResult, Outcome};

const CDN: &str = "cdn.example.cn";

fn cdn_event() -> serde_json::Value {
    json!({"domains": [{"names": [CDN]}]})
}

fn hash() -> String {
    inventory::names_hash(&[CDN.parse().unwrap()])
}

/// A China world with one distribution serving CDN with a certificate `age` days into 90.
fn served(age: i64) -> World {
    let w = World::new(Partition::AwsCn);
    let id = w.iam.put(&w.bundle(&[CDN], age, 90), None);
    w.cloudfront.add("E1", &[CDN], ViewerCert::Iam(id));
    w
}

fn remembered(w: &World) -> Option<Failures> {
    w.memory.failures.lock().unwrap().get(&hash()).cloned()
}

/// `failures` failed issuances remembered, the next order allowed at `not_before`.
fn remember(w: &World, failures: u32, not_before: OffsetDateTime) {
    let r = Failures {
        names: vec![CDN.into()],
        failures,
        last_error: "the CA could not validate cdn.example.cn: NXDOMAIN".into(),
        failed_at: w.now - Duration::hours(1),
        not_before,
        rate_limit: None,
    };
    w.memory.failures.lock().unwrap().insert(hash(), r);
}

#[tokio::test]
async fn a_failed_issuance_is_remembered_and_a_run_right_after_waits_without_ordering() {
    let w = served(70);
    *w.ca.refuse.lock().unwrap() = Some("NXDOMAIN looking up TXT".into());
    let first = w.handle(cdn_event()).await;
    assert_eq!(first.report.outcome, Outcome::Failed);
    let r = remembered(&w).expect("the failure is remembered");
    assert_eq!(r.failures, 1);
    assert!(r.last_error.contains("NXDOMAIN"), "{}", r.last_error);
    assert_eq!(r.not_before, w.now + Duration::hours(1));
    assert_eq!(
        first.report.not_before,
        Some(r.not_before),
        "the report says when"
    );

    let second = w.handle(cdn_event()).await;
    assert_eq!(
        second.report.outcome,
        Outcome::Deferred,
        "{:?}",
        second.report
    );
    assert_eq!(second.report.not_before, Some(r.not_before));
    let error = second.report.error.unwrap();
    assert!(
        error.contains("these names failed to be issued once in a row")
            && error.contains("NXDOMAIN")
            && error.contains("s3://bucket/memory/")
            && error.contains("force"),
        "{error}"
    );
    assert_eq!(w.orders(), 1, "the second run asked nothing of the CA");
}

#[tokio::test]
async fn the_next_failure_after_the_wait_doubles_it_and_a_success_forgets_them() {
    let w = served(70);
    remember(&w, 2, w.now - Duration::minutes(1));
    *w.ca.refuse.lock().unwrap() = Some("refused".into());
    let failed = w.handle(cdn_event()).await;
    assert_eq!(failed.report.outcome, Outcome::Failed);
    let r = remembered(&w).unwrap();
    assert_eq!((r.failures, r.not_before), (3, w.now + Duration::hours(4)));

    *w.ca.refuse.lock().unwrap() = None;
    let forced = w
        .handle(json!({"domains": [{"names": [CDN], "force": true}]}))
        .await;
    assert_eq!(
        forced.report.outcome,
        Outcome::Renewed,
        "force orders at once"
    );
    assert_eq!(remembered(&w), None, "a success forgets the failures");
}

#[tokio::test]
async fn a_certificate_about_to_expire_is_ordered_for_despite_the_backoff_with_a_warning() {
    let w = served(86);
    remember(&w, 4, w.now + Duration::hours(8));
    let h = w.handle(cdn_event()).await;
    assert_eq!(h.report.outcome, Outcome::Renewed, "{:?}", h.report.error);
    assert!(
        h.report
            .warnings
            .iter()
            .any(|x| x.contains("failed to be issued 4 times") && x.contains("expires in")),
        "{:?}",
        h.report.warnings
    );
}

fn rate_limit(retry_after: Option<OffsetDateTime>) -> RateLimit {
    RateLimit {
        kind: Some(RATE_LIMITED.into()),
        detail: Some("too many certificates (5) already issued for this exact set of identifiers in the last 168h0m0s".into()),
        retry_after,
        not_sent: false,
    }
}

#[tokio::test]
async fn the_cas_rate_limit_defers_the_domain_until_its_date_and_holds_against_force() {
    let w = served(70);
    let until = w.now + Duration::hours(30);
    *w.ca.rate_limit.lock().unwrap() = Some(rate_limit(Some(until)));
    let first = w.handle(cdn_event()).await;
    assert_eq!(
        first.report.outcome,
        Outcome::Deferred,
        "{:?}",
        first.report
    );
    assert_eq!(first.report.not_before, Some(until));
    let error = first.report.error.unwrap();
    assert!(
        error.contains("too many certificates (5)")
            && error.contains("rateLimited")
            && error.contains(&backoff::rfc3339(&until)),
        "{error}"
    );
    assert!(remembered(&w).unwrap().rate_limit.is_some());

    *w.ca.rate_limit.lock().unwrap() = None;
    let forced = w
        .handle(json!({"domains": [{"names": [CDN], "force": true}]}))
        .await;
    assert_eq!(forced.report.outcome, Outcome::Deferred);
    assert_eq!(forced.report.not_before, Some(until));
    assert_eq!(w.orders(), 1, "not asked again before the CA's date");
}

#[tokio::test]
async fn a_rate_limit_without_a_date_is_a_failure_with_our_own_backoff() {
    let w = served(70);
    *w.ca.rate_limit.lock().unwrap() = Some(rate_limit(None));
    let h = w.handle(cdn_event()).await;
    assert_eq!(h.report.outcome, Outcome::Failed);
    assert!(h
        .report
        .error
        .unwrap()
        .contains("said no time to come back"));
    let r = remembered(&w).unwrap();
    assert_eq!(
        (r.not_before, r.rate_limit),
        (w.now + Duration::hours(1), None)
    );
}

#[tokio::test]
async fn challenge_records_with_nowhere_to_go_fail_before_the_order_and_are_not_remembered() {
    let w = served(70);
    *w.ca.no_zone.lock().unwrap() = true;
    let first = w.handle(cdn_event()).await;
    assert_eq!(first.report.outcome, Outcome::Failed);
    let error = first.report.error.unwrap();
    assert!(error.contains("no public Route 53 hosted zone"), "{error}");
    assert_eq!(w.orders(), 0, "the CA was not asked");
    assert_eq!(remembered(&w), None, "not the CA's failure: no backoff");
    *w.ca.no_zone.lock().unwrap() = false;
    let fixed = w.handle(cdn_event()).await;
    assert_eq!(
        fixed.report.outcome,
        Outcome::Renewed,
        "ordered at once once fixed"
    );
}

#[tokio::test]
async fn an_upload_that_fails_after_issuing_is_not_a_failed_issuance_and_issues_nothing_new() {
    let w = served(70);
    *w.iam.refuse_uploads.lock().unwrap() = true;
    let first = w.handle(cdn_event()).await;
    assert_eq!(first.report.outcome, Outcome::Failed);
    assert_eq!(remembered(&w), None, "the CA did its part");
    *w.iam.refuse_uploads.lock().unwrap() = false;
    let second = w.handle(cdn_event()).await;
    assert_eq!(
        second.report.outcome,
        Outcome::Renewed,
        "{:?}",
        second.report
    );
    assert_eq!(w.orders(), 1, "the archived certificate was deployed");
}

#[tokio::test]
async fn a_reimport_that_keeps_failing_issues_once_and_then_deploys_the_archived_one() {
    let w = World::new(Partition::AwsCn);
    w.acm.put("cn-north-1", &w.bundle(&[CDN], 70, 90), &hash());
    w.acm.refuse.lock().unwrap().insert("cn-north-1".into());
    let event = json!({"domains": [{"names": [CDN], "targets": [{"type": "acm", "region": "cn-north-1"}]}]});
    for _ in 0..3 {
        let h = w.handle(event.clone()).await;
        assert_eq!(h.report.outcome, Outcome::Failed, "{:?}", h.report);
    }
    assert_eq!(w.orders(), 1, "one issuance for three failing re-imports");
    assert_eq!(remembered(&w), None);
    w.acm.refuse.lock().unwrap().clear();
    let h = w.handle(event).await;
    assert_eq!(h.report.outcome, Outcome::Deployed, "{:?}", h.report.error);
    assert_eq!(h.report.acm[0].result, AcmResult::Reimported);
    assert_eq!(w.orders(), 1);
}

/// A leaf with an authority key identifier (so it has an ARI id) and its DER.
fn leaf_der() -> Vec<u8> {
    let ca_key = KeyPair::generate().unwrap();
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let issuer = Issuer::from_params(&ca, &ca_key);
    let mut leaf = CertificateParams::new(vec![CDN.to_owned()]).unwrap();
    leaf.use_authority_key_identifier_extension = true;
    let key = KeyPair::generate().unwrap();
    leaf.signed_by(&key, &issuer).unwrap().der().to_vec()
}

#[tokio::test]
async fn a_renewal_window_is_not_asked_for_again_before_its_retry_after() {
    let w = World::new(Partition::AwsCn);
    let window = RenewalWindow {
        start: w.now + Duration::days(50),
        end: w.now + Duration::days(52),
    };
    *w.ca.window.lock().unwrap() = Some(RenewalInfo {
        window,
        ari_id: None,
        ask_after: Some(w.now + Duration::hours(6)),
    });
    let der = leaf_der();
    let run = RememberingCa::new(&w.ca, &w.memory, w.now);
    let first = run.renewal_info(&der).await.unwrap();
    let again = run.renewal_info(&der).await.unwrap();
    assert_eq!((first.window, again.window), (window, window));
    assert_eq!(*w.ca.asked.lock().unwrap(), 1, "asked once in the run");
    run.keep().await.unwrap();
    assert_eq!(*w.memory.windows_written.lock().unwrap(), 1);

    // A manual run an hour later uses the remembered window; one after 6 hours asks again.
    let later = RememberingCa::new(&w.ca, &w.memory, w.now + Duration::hours(1));
    let info = later.renewal_info(&der).await.unwrap();
    assert_eq!(info.window, window);
    assert!(info.ari_id.is_some(), "replaces still gets the id");
    later.keep().await.unwrap();
    assert_eq!(*w.ca.asked.lock().unwrap(), 1);
    assert_eq!(
        *w.memory.windows_written.lock().unwrap(),
        1,
        "nothing learnt"
    );
    let next = RememberingCa::new(&w.ca, &w.memory, w.now + Duration::hours(6));
    next.renewal_info(&der).await.unwrap();
    assert_eq!(*w.ca.asked.lock().unwrap(), 2);
}

#[tokio::test]
async fn a_dry_run_shows_when_a_waiting_domain_would_order() {
    let w = served(70);
    let until = w.now + Duration::hours(3);
    remember(&w, 2, until);
    let dry = w
        .handle(json!({"domains": [{"names": [CDN]}], "dry_run": true}))
        .await;
    assert_eq!(dry.report.outcome, Outcome::Planned, "{:?}", dry.report);
    assert_eq!(dry.report.not_before, Some(until));
    assert!(
        dry.report
            .warnings
            .iter()
            .any(|w| w.starts_with("the order would wait: waiting until")),
        "{:?}",
        dry.report.warnings
    );
    assert_eq!(w.orders(), 0);
    assert!(remembered(&w).is_some(), "a dry run changes nothing");
    // Nothing remembered: no wait shown.
    w.memory.failures.lock().unwrap().clear();
    let dry = w
        .handle(json!({"domains": [{"names": [CDN]}], "dry_run": true}))
        .await;
    assert_eq!(dry.report.not_before, None);
}

#[tokio::test]
async fn a_429_on_renewal_information_is_remembered_and_obeyed_by_later_runs() {
    let w = World::new(Partition::AwsCn);
    let until = w.now + Duration::hours(3);
    *w.ca.ari_limited.lock().unwrap() = Some(until);
    let der = leaf_der();
    let run = RememberingCa::new(&w.ca, &w.memory, w.now);
    assert!(
        run.renewal_info(&der).await.is_none(),
        "the lifetime rule decides"
    );
    assert!(run.renewal_info(&der).await.is_none());
    assert_eq!(*w.ca.asked.lock().unwrap(), 1, "not asked again in the run");
    run.keep().await.unwrap();
    assert_eq!(*w.memory.renewal_info_limit.lock().unwrap(), Some(until));

    // The next run, before the CA's date, does not ask; one after it does.
    *w.ca.ari_limited.lock().unwrap() = None;
    let next = RememberingCa::new(&w.ca, &w.memory, w.now + Duration::hours(1));
    assert!(next.renewal_info(&der).await.is_none());
    assert_eq!(*w.ca.asked.lock().unwrap(), 1);
    let after = RememberingCa::new(&w.ca, &w.memory, until + Duration::minutes(1));
    after.renewal_info(&der).await;
    assert_eq!(*w.ca.asked.lock().unwrap(), 2);
    // A CA's date years away is held a week at most, as for orders.
    *w.ca.ari_limited.lock().unwrap() = Some(w.now + Duration::days(400));
    *w.memory.renewal_info_limit.lock().unwrap() = None;
    let far = RememberingCa::new(&w.ca, &w.memory, w.now);
    far.renewal_info(&der).await;
    far.keep().await.unwrap();
    assert_eq!(
        *w.memory.renewal_info_limit.lock().unwrap(),
        Some(w.now + Duration::days(7))
    );
}
