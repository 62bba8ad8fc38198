//! The pipeline with certificates of every lifetime and the options an order carries: a 45- and a
//! 6-day certificate raise no alarm while healthy and do once a renewal is missed; a profile the
//! CA does not offer fails the domain before any order; `reuse_key` orders with the archived key.

use serde_json::json;
use time::Duration;

use super::fakes::World;
use crate::acme::NewKey;
use crate::aws::cloudfront::ViewerCert;
use crate::model::inventory;
use crate::model::partition::Partition;
use crate::report::{KeyUse, Outcome};

const CDN: &str = "cdn.example.cn";

fn cdn_event() -> serde_json::Value {
    json!({"domains": [{"names": [CDN]}]})
}

/// A world whose distribution serves a certificate `age_hours` into its `days`.
fn serving(age_hours: i64, days: i64) -> World {
    let w = World::new(Partition::AwsCn);
    let old =
        w.ca.root
            .bundle(&[CDN], w.now - Duration::hours(age_hours), days);
    let id = w.iam.put(&old, None);
    w.cloudfront.add("E1", &[CDN], ViewerCert::Iam(id));
    w
}

#[tokio::test]
async fn healthy_45_and_6_day_certificates_raise_nothing() {
    // (lifetime, age): 45 days on day 20 (renews on day 30); 6 days at 60 hours (renews at 72).
    for (days, age_hours) in [(45, 20 * 24), (6, 60)] {
        let w = serving(age_hours, days);
        let h = w.handle(cdn_event()).await;
        let r = &h.report;
        assert_eq!(r.outcome, Outcome::Kept, "{days} days: {r:?}");
        assert!(!r.overdue, "{days} days: {r:?}");
        assert_eq!(r.lifetime_days, Some(days as f64));
        let share = r.lifetime_left().unwrap();
        assert!(share > 0.15, "above the lifetime alarm's 15 %: {share}");
        let share_at: f64 = if days <= 10 { 0.5 } else { 1.0 / 3.0 };
        let point: time::OffsetDateTime = w.now - Duration::hours(age_hours) + Duration::days(days)
            - Duration::days(days) * share_at;
        let off: Duration = (r.renew_by.unwrap() - point).abs();
        assert!(
            off < Duration::seconds(1),
            "{days} days: {:?} vs {point}",
            r.renew_by
        );
        assert!(r.warnings.is_empty(), "{:?}", r.warnings);
    }
}

#[tokio::test]
async fn a_6_day_certificate_at_its_renewal_point_is_renewed_and_not_overdue() {
    let w = serving(73, 6);
    let h = w.handle(cdn_event()).await;
    assert_eq!(h.report.outcome, Outcome::Renewed, "{:?}", h.report.error);
    assert!(!h.report.overdue);
    assert!(
        h.report.lifetime_left().unwrap() > 0.9,
        "the new certificate's share"
    );
}

#[tokio::test]
async fn a_missed_renewal_is_overdue_for_either_lifetime() {
    // One run (8 hours) and a bit past the renewal point, and the CA refusing this run too.
    for (days, point_hours) in [(45, 30 * 24), (6, 72)] {
        let w = serving(point_hours + 9, days);
        *w.ca.refuse.lock().unwrap() = Some("NXDOMAIN looking up TXT".into());
        let h = w.handle(cdn_event()).await;
        assert_eq!(h.report.outcome, Outcome::Failed, "{days} days");
        assert!(h.report.overdue, "{days} days: {:?}", h.report);
        // One run past the point is not yet overdue: the run right after it renews.
        let w = serving(point_hours + 7, days);
        *w.ca.refuse.lock().unwrap() = Some("NXDOMAIN looking up TXT".into());
        let h = w.handle(cdn_event()).await;
        assert!(!h.report.overdue, "{days} days, 7 hours past");
    }
}

#[tokio::test]
async fn a_profile_the_ca_does_not_offer_fails_the_domain_before_any_order() {
    let w = serving(70 * 24, 90);
    *w.ca.profiles.lock().unwrap() = Some(vec!["classic".into(), "tlsserver".into()]);
    let event = json!({"domains": [{"names": [CDN], "profile": "longlived"}]});
    let h = w.handle(event.clone()).await;
    assert_eq!(h.report.outcome, Outcome::Failed);
    let error = h.report.error.clone().unwrap();
    assert!(
        error.contains("domains[0].profile asks for the profile \"longlived\"")
            && error.ends_with("use one of classic, tlsserver"),
        "{error}"
    );
    assert_eq!(w.orders(), 0);
    assert!(
        w.memory.failures.lock().unwrap().is_empty(),
        "not remembered as the CA's failure: the next run after a fix orders at once"
    );
    // A dry run says the same.
    let dry = json!({"domains": [{"names": [CDN], "profile": "longlived"}], "dry_run": true});
    let h = w.handle(dry).await;
    assert_eq!(h.report.outcome, Outcome::Failed);
    assert!(h
        .report
        .error
        .unwrap()
        .starts_with("dry run: the next order would fail: domains[0].profile"));

    let h = w
        .handle(json!({"domains": [{"names": [CDN], "profile": "tlsserver"}]}))
        .await;
    assert_eq!(h.report.outcome, Outcome::Renewed, "{:?}", h.report.error);
    let sent = w.ca.options.lock().unwrap().last().cloned().unwrap();
    assert_eq!(sent.profile.unwrap().name, "tlsserver");
}

#[tokio::test]
async fn the_configured_profile_applies_to_domains_without_their_own() {
    let mut w = serving(70 * 24, 90);
    w.config.acme.profile = Some("shortlived".into());
    *w.ca.profiles.lock().unwrap() = Some(vec!["classic".into()]);
    let h = w.handle(cdn_event()).await;
    let error = h.report.error.unwrap();
    assert!(
        error.starts_with(
            "the stack's Profile (CERT_ROTATOR_PROFILE) asks for the profile \"shortlived\""
        ),
        "{error}"
    );
    let h = w
        .handle(json!({"domains": [{"names": [CDN], "profile": "classic"}]}))
        .await;
    assert_eq!(h.report.outcome, Outcome::Renewed, "the domain's own wins");
}

#[tokio::test]
async fn reuse_key_orders_with_the_archived_key_of_the_same_type() {
    let w = World::new(Partition::AwsCn);
    let old = w.bundle(&[CDN], 70, 90);
    let id = w.iam.put(&old, None);
    w.cloudfront.add("E1", &[CDN], ViewerCert::Iam(id));
    let hash = inventory::names_hash(&[CDN.parse().unwrap()]);
    w.archive
        .bundles
        .lock()
        .unwrap()
        .insert(hash, vec![old.clone()]);
    let event = json!({"domains": [{"names": [CDN], "reuse_key": true, "key_type": "ecdsa-p256", "force": true}]});
    let h = w.handle(event).await;
    assert_eq!(h.report.outcome, Outcome::Renewed, "{:?}", h.report.error);
    assert_eq!(h.report.key, Some(KeyUse::Reused), "{:?}", h.report);
    let sent = w.ca.options.lock().unwrap().last().cloned().unwrap();
    assert_eq!(sent.key, NewKey::Reuse(old.private_key.clone()));
    // The fake CA's keys are ECDSA P-256: asked for RSA (the default), a new key is made.
    let event = json!({"domains": [{"names": [CDN], "reuse_key": true, "force": true}]});
    let h = w.handle(event).await;
    assert_eq!(h.report.outcome, Outcome::Renewed, "{:?}", h.report.error);
    assert_eq!(h.report.key, Some(KeyUse::New));
    assert!(
        h.report
            .warnings
            .iter()
            .any(|x| x.contains("is not a rsa-2048 key")),
        "{:?}",
        h.report.warnings
    );
    // Without reuse_key, a new key every time.
    let h = w
        .handle(json!({"domains": [{"names": [CDN], "force": true}]}))
        .await;
    assert_eq!(h.report.key, Some(KeyUse::New));
    assert!(matches!(
        w.ca.options.lock().unwrap().last().unwrap().key,
        NewKey::Generate(_)
    ));
}
