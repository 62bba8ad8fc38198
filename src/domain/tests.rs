//! Every branch of one domain's pipeline, against in-memory fakes of the ports: keep, deploy the
//! certificate a dead run uploaded, reuse its archived bundle, issue, bring-your-own, ACM import
//! and re-import, CloudFront pointed at ACM, dry runs, deferral, and a failure at each step.

use serde_json::json;

use super::fakes::World;
use crate::aws::cloudfront::{Swap, ViewerCert};
use crate::model::inventory::{self, TAG_REPLACED_BY};
use crate::model::partition::Partition;
use crate::report::{AcmResult, Outcome, SwapResult};

const CDN: &str = "cdn.example.cn";

fn cdn_event() -> serde_json::Value {
    json!({"domains": [{"names": [CDN]}]})
}

/// A China world with one distribution serving CDN with a certificate `age` days into 90.
fn served(age: i64) -> (World, String) {
    let w = World::new(Partition::AwsCn);
    let old = w.bundle(&[CDN], age, 90);
    let id = w.iam.put(&old, None);
    w.cloudfront.add("E1", &[CDN], ViewerCert::Iam(id.clone()));
    (w, id)
}

#[tokio::test]
async fn a_fresh_certificate_is_kept_without_asking_the_ca_or_the_archive() {
    let (w, _) = served(10);
    let h = w.handle(cdn_event()).await;
    assert_eq!(h.report.outcome, Outcome::Kept, "{:?}", h.report);
    assert_eq!(w.orders(), 0);
    assert_eq!(
        *w.archive.reads.lock().unwrap(),
        0,
        "the daily no-op reads no archive"
    );
    assert!(w.writes().is_empty());
    assert!(h
        .report
        .days_to_expiry
        .is_some_and(|d| (79.0..=80.0).contains(&d)));
}

#[tokio::test]
async fn a_due_certificate_is_renewed_archived_before_upload_and_swapped() {
    let (w, old) = served(70);
    let h = w.handle(cdn_event()).await;
    assert_eq!(h.report.outcome, Outcome::Renewed, "{:?}", h.report.error);
    let writes = w.writes();
    assert_eq!(writes[0], "ca issue");
    assert!(
        writes[1].starts_with("archive ") && writes[2].starts_with("iam upload "),
        "{writes:?}"
    );
    assert_eq!(writes[3], "swap E1");
    let new = h.report.new_certificate.clone().unwrap();
    assert_eq!(w.cloudfront.viewer("E1"), ViewerCert::Iam(new.id.clone()));
    assert_eq!(h.report.distributions[0].result, SwapResult::Updated);
    assert_eq!(
        h.report.distributions[0].from.as_deref(),
        Some(old.as_str())
    );
    assert_eq!(h.swapped_off[0].certificate, old);
    assert!(
        h.report.timings_ms.contains_key("issue") && h.report.timings_ms.contains_key("deploy")
    );
}

#[tokio::test]
async fn a_name_set_nothing_serves_is_reported_not_issued_even_when_forced() {
    let w = World::new(Partition::AwsCn);
    let h = w
        .handle(json!({"domains": [{"names": [CDN], "force": true}]}))
        .await;
    assert_eq!(h.report.outcome, Outcome::NotServed);
    assert_eq!(w.orders(), 0);
}

#[tokio::test]
async fn distributions_that_cannot_take_the_certificate_fail_the_domain_with_why() {
    let w = World::new(Partition::AwsCn);
    w.cloudfront
        .add("E1", &[CDN, "other.example.cn"], ViewerCert::Default);
    let h = w.handle(cdn_event()).await;
    assert_eq!(h.report.outcome, Outcome::Failed);
    let error = h.report.error.unwrap();
    assert!(
        error.contains("no distribution serving these names can take")
            && error.contains("other.example.cn"),
        "{error}"
    );
    assert_eq!(w.orders(), 0);
}

#[tokio::test]
async fn a_certificate_a_dead_run_uploaded_is_deployed_without_issuing() {
    let (w, _) = served(70);
    let uploaded = w.bundle(&[CDN], 1, 90);
    let id = w.iam.put(&uploaded, None);
    let h = w.handle(cdn_event()).await;
    assert_eq!(h.report.outcome, Outcome::Deployed, "{:?}", h.report.error);
    assert_eq!(w.orders(), 0);
    assert_eq!(w.cloudfront.viewer("E1"), ViewerCert::Iam(id));
    assert!(
        !w.writes().iter().any(|x| x.starts_with("iam upload")),
        "nothing uploaded again"
    );
}

/// A bundle for CDN one day into 90, archived (as by a run that died before uploading it).
fn archive_fresh_bundle(w: &World) -> crate::certs::archive::Bundle {
    let archived = w.bundle(&[CDN], 1, 90);
    let hash = inventory::names_hash(&[CDN.parse().unwrap()]);
    w.archive
        .bundles
        .lock()
        .unwrap()
        .insert(hash, vec![archived.clone()]);
    archived
}

#[tokio::test]
async fn a_bundle_a_dead_run_archived_but_never_uploaded_is_used_instead_of_issuing() {
    let (w, _) = served(70);
    let archived = archive_fresh_bundle(&w);
    let h = w.handle(cdn_event()).await;
    assert_eq!(h.report.outcome, Outcome::Renewed, "{:?}", h.report.error);
    assert_eq!(w.orders(), 0, "no second issuance");
    assert_eq!(h.report.new_certificate.unwrap().name, archived.iam_name);
}

#[tokio::test]
async fn a_full_iam_quota_fails_the_domain_before_anything_is_ordered() {
    let (mut w, old) = served(70);
    w.iam_quota = Some(1); // the deployed certificate takes the only slot
    let h = w.handle(cdn_event()).await;
    assert_eq!(h.report.outcome, Outcome::Failed);
    let error = h.report.error.unwrap();
    assert!(
        error.contains("quota is full: 1 of 1") && error.contains("nothing was ordered"),
        "{error}"
    );
    assert_eq!(w.orders(), 0, "the CA's budget is not spent");
    assert!(w.writes().is_empty());
    assert_eq!(w.cloudfront.viewer("E1"), ViewerCert::Iam(old));

    w.iam_quota = Some(2);
    let h = w.handle(cdn_event()).await;
    assert_eq!(h.report.outcome, Outcome::Renewed, "{:?}", h.report.error);
}

#[tokio::test]
async fn an_archived_bundle_needs_a_slot_but_a_dead_runs_upload_does_not() {
    let (mut w, _) = served(70);
    w.iam_quota = Some(1);
    let archived = archive_fresh_bundle(&w);
    let h = w.handle(cdn_event()).await;
    assert_eq!(h.report.outcome, Outcome::Failed);
    assert!(h.report.error.unwrap().contains("quota is full"));
    assert_eq!(w.orders(), 0);

    // Once uploaded (by a run that died before swapping), it takes no new slot.
    w.iam.put(&archived, None);
    w.iam_quota = Some(2);
    let h = w.handle(cdn_event()).await;
    assert_eq!(h.report.outcome, Outcome::Deployed, "{:?}", h.report.error);
    assert_eq!(w.orders(), 0);
}

#[tokio::test]
async fn the_hosted_zone_a_domain_names_goes_with_its_order() {
    let (w, _) = served(70);
    let event = json!({"domains": [{"names": [CDN], "dns": {"hosted_zone_id": "ZNEW"}}]});
    let h = w.handle(event).await;
    assert_eq!(h.report.outcome, Outcome::Renewed, "{:?}", h.report.error);
    assert_eq!(*w.ca.zones.lock().unwrap(), [Some("ZNEW".to_owned())]);
}

#[tokio::test]
async fn force_issues_a_fresh_domain_anew_and_skips_the_archive() {
    let (w, _) = served(10);
    let hash = inventory::names_hash(&[CDN.parse().unwrap()]);
    w.archive
        .bundles
        .lock()
        .unwrap()
        .insert(hash, vec![w.bundle(&[CDN], 1, 90)]);
    let h = w
        .handle(json!({"domains": [{"names": [CDN], "force": true}]}))
        .await;
    assert_eq!(h.report.outcome, Outcome::Renewed, "{:?}", h.report.error);
    assert_eq!(w.orders(), 1);
}

/// The CA's renewal window of every certificate began an hour ago; its ARI id is `aki.serial`.
fn window_started(w: &World) {
    *w.ca.window.lock().unwrap() = Some(crate::ports::RenewalInfo {
        window: crate::acme::RenewalWindow {
            start: w.now - time::Duration::hours(1),
            end: w.now + time::Duration::days(1),
        },
        ari_id: Some("aki.serial".into()),
        ask_after: None,
    });
}

#[tokio::test]
async fn the_ari_id_of_the_replaced_certificate_goes_into_the_order() {
    let (w, _) = served(10);
    window_started(&w);
    let h = w.handle(cdn_event()).await;
    assert_eq!(h.report.outcome, Outcome::Renewed, "{:?}", h.report.error);
    assert_eq!(
        *w.ca.orders.lock().unwrap(),
        [Some("aki.serial".to_owned())]
    );
}

#[tokio::test]
async fn a_refused_replaces_is_dropped_with_a_warning_not_a_failure() {
    let (w, _) = served(10);
    window_started(&w);
    *w.ca.refuse_replaces.lock().unwrap() = true;
    let h = w.handle(cdn_event()).await;
    assert_eq!(h.report.outcome, Outcome::Renewed, "{:?}", h.report.error);
    assert!(
        h.report
            .warnings
            .iter()
            .any(|x| x.contains("ordered without replaces")),
        "{:?}",
        h.report.warnings
    );
}

#[tokio::test]
async fn a_dry_run_plans_and_changes_nothing() {
    let (w, _) = served(70);
    let h = w
        .handle(json!({"domains": [{"names": [CDN]}], "dry_run": true}))
        .await;
    assert_eq!(h.report.outcome, Outcome::Planned);
    assert!(h.report.plan.is_some());
    assert!(w.writes().is_empty() && w.orders() == 0);
    let (w, _) = served(10);
    let h = w
        .handle(json!({"domains": [{"names": [CDN]}], "dry_run": true}))
        .await;
    assert_eq!(h.report.outcome, Outcome::Kept);
    assert_eq!(h.report.challenges.len(), 1, "checked though not due");
    assert_eq!(
        h.report.challenges[0].record,
        format!("_acme-challenge.{CDN}")
    );
}

#[tokio::test]
async fn a_dry_run_fails_a_domain_whose_challenge_records_have_nowhere_to_go() {
    for days_left in [70, 10] {
        let (w, _) = served(days_left);
        *w.ca.no_zone.lock().unwrap() = true;
        let h = w
            .handle(json!({"domains": [{"names": [CDN]}], "dry_run": true}))
            .await;
        assert_eq!(h.report.outcome, Outcome::Failed);
        let error = h.report.error.unwrap();
        assert!(
            error.starts_with("dry run: the next order would fail"),
            "{error}"
        );
        assert!(error.contains(&format!("_acme-challenge.{CDN}")), "{error}");
        assert!(w.writes().is_empty() && w.orders() == 0);
    }
}

#[tokio::test]
async fn a_real_run_leaves_the_dns_of_a_domain_not_due_unchecked() {
    let (w, _) = served(10);
    *w.ca.no_zone.lock().unwrap() = true;
    let h = w.handle(cdn_event()).await;
    assert_eq!(h.report.outcome, Outcome::Kept);
    assert!(h.report.challenges.is_empty());
}

#[tokio::test]
async fn too_little_time_left_defers_the_renewal_and_issues_nothing() {
    let (w, _) = served(70);
    let h = w.handle_with(cdn_event(), 60).await;
    assert_eq!(h.report.outcome, Outcome::Deferred);
    assert!(h.report.error.unwrap().contains("the next run renews it"));
    assert_eq!(w.orders(), 0);
    let (w, _) = served(10);
    let h = w.handle_with(cdn_event(), 60).await;
    assert_eq!(
        h.report.outcome,
        Outcome::Kept,
        "a fresh domain is not deferred"
    );
}

#[tokio::test]
async fn a_domain_still_running_at_the_deadline_is_stopped_and_reported() {
    let (w, old) = served(70);
    *w.ca.hang.lock().unwrap() = true;
    let request = w.request(cdn_event());
    let listing = w.listing(&request).await;
    let cx = w.context(&listing, 900, false);
    let stop_at = tokio::time::Instant::now() + std::time::Duration::from_millis(200);
    let h = super::handle_until(&cx, &request.domains[0], stop_at).await;
    assert_eq!(h.report.outcome, Outcome::Failed);
    assert!(h
        .report
        .error
        .unwrap()
        .contains("stopped at the invocation's deadline"));
    assert_eq!(w.orders(), 1, "the order was under way");
    assert_eq!(w.cloudfront.viewer("E1"), ViewerCert::Iam(old));
}

#[tokio::test]
async fn a_ca_failure_fails_the_domain_with_nothing_written() {
    let (w, _) = served(70);
    *w.ca.refuse.lock().unwrap() = Some("the CA is down".into());
    let h = w.handle(cdn_event()).await;
    assert_eq!(h.report.outcome, Outcome::Failed);
    assert!(h.report.error.unwrap().contains("the CA is down"));
    assert!(w.writes().is_empty());
}

#[tokio::test]
async fn an_archive_that_cannot_be_written_stops_the_domain_before_any_upload() {
    let (w, _) = served(70);
    *w.archive.refuse_writes.lock().unwrap() = true;
    let h = w.handle(cdn_event()).await;
    assert_eq!(h.report.outcome, Outcome::Failed);
    let error = h.report.error.unwrap();
    assert!(
        error.contains("archiving the new certificate (nothing deployed)"),
        "{error}"
    );
    assert!(!w
        .writes()
        .iter()
        .any(|x| x.starts_with("iam upload") || x.starts_with("swap")));
}

#[tokio::test]
async fn a_refused_upload_fails_the_domain_and_swaps_nothing() {
    let (w, old) = served(70);
    *w.iam.refuse_uploads.lock().unwrap() = true;
    let h = w.handle(cdn_event()).await;
    assert_eq!(h.report.outcome, Outcome::Failed);
    assert!(h
        .report
        .error
        .unwrap()
        .contains("uploading to IAM (the key is archived)"));
    assert_eq!(w.cloudfront.viewer("E1"), ViewerCert::Iam(old));
}

#[tokio::test]
async fn a_distribution_that_keeps_changing_is_left_on_its_certificate_and_reported() {
    let (w, old) = served(70);
    w.cloudfront.script.lock().unwrap().insert(
        "E1".into(),
        std::iter::repeat_n(Some(Swap::Stale), 6).collect(),
    );
    let h = w.handle(cdn_event()).await;
    assert_eq!(h.report.outcome, Outcome::Failed);
    let error = h.report.error.clone().unwrap();
    assert!(
        error.contains("uploaded, but not attached") && error.contains("6 attempts"),
        "{error}"
    );
    assert_eq!(w.cloudfront.viewer("E1"), ViewerCert::Iam(old));
    assert!(
        h.report.new_certificate.is_some(),
        "the uploaded certificate is reported"
    );
    assert!(h.swapped_off.is_empty());
}

#[tokio::test]
async fn a_change_still_deploying_is_waited_for_then_swapped() {
    let (w, _) = served(70);
    w.cloudfront.script.lock().unwrap().insert(
        "E1".into(),
        [Some(Swap::Busy("IllegalUpdate".into()))].into(),
    );
    let h = w.handle(cdn_event()).await;
    assert_eq!(h.report.outcome, Outcome::Renewed, "{:?}", h.report.error);
    assert_eq!(*w.cloudfront.waits.lock().unwrap(), ["E1"]);
}

#[tokio::test]
async fn someone_elses_certificate_is_tagged_replaced_before_the_swap() {
    let w = World::new(Partition::AwsCn);
    let theirs = w.bundle(&[CDN], 70, 90);
    let id = w.iam.put(&theirs, Some("cdn-by-hand"));
    w.cloudfront.add("E1", &[CDN], ViewerCert::Iam(id));
    let h = w.handle(cdn_event()).await;
    assert_eq!(h.report.outcome, Outcome::Renewed, "{:?}", h.report.error);
    let new = h.report.new_certificate.unwrap().name;
    assert!(w
        .iam
        .tags("cdn-by-hand")
        .contains(&(TAG_REPLACED_BY.to_owned(), new)));
}

fn acm_event(targets: serde_json::Value) -> serde_json::Value {
    json!({"domains": [{"names": [CDN], "targets": targets}]})
}

#[tokio::test]
async fn an_acm_region_without_a_certificate_gets_a_new_one_imported() {
    let w = World::new(Partition::AwsCn);
    let h = w
        .handle(acm_event(
            json!([{"type": "acm", "service": "alb", "region": "cn-north-1"}]),
        ))
        .await;
    assert_eq!(h.report.outcome, Outcome::Renewed, "{:?}", h.report.error);
    assert_eq!(h.report.acm[0].result, AcmResult::Imported);
    assert_eq!(h.report.source.as_deref(), Some("acme"));
    assert!(h.report.delivery.is_some());
}

#[tokio::test]
async fn acm_regions_holding_the_same_fresh_certificate_cost_no_archive_read() {
    let w = World::new(Partition::AwsCn);
    let b = w.bundle(&[CDN], 10, 90);
    let hash = inventory::names_hash(&[CDN.parse().unwrap()]);
    w.acm.put("cn-north-1", &b, &hash);
    w.acm.put("cn-northwest-1", &b, &hash);
    let targets = json!([{"type": "acm", "region": "cn-north-1"}, {"type": "acm", "region": "cn-northwest-1"}]);
    let h = w.handle(acm_event(targets)).await;
    assert_eq!(h.report.outcome, Outcome::Kept, "{:?}", h.report.error);
    assert_eq!(*w.archive.reads.lock().unwrap(), 0);
    assert_eq!(w.orders(), 0);
}

#[tokio::test]
async fn a_due_acm_certificate_is_reimported_in_place() {
    let w = World::new(Partition::AwsCn);
    let hash = inventory::names_hash(&[CDN.parse().unwrap()]);
    let arn = w.acm.put("cn-north-1", &w.bundle(&[CDN], 70, 90), &hash);
    let h = w
        .handle(acm_event(json!([{"type": "acm", "region": "cn-north-1"}])))
        .await;
    assert_eq!(h.report.outcome, Outcome::Renewed, "{:?}", h.report.error);
    assert_eq!(h.report.acm[0].result, AcmResult::Reimported);
    assert_eq!(h.report.acm[0].arn, arn, "the ARN is kept");
}

#[tokio::test]
async fn a_due_region_gets_a_fresher_archived_certificate_instead_of_a_new_one() {
    let w = World::new(Partition::AwsCn);
    let hash = inventory::names_hash(&[CDN.parse().unwrap()]);
    let arn = w.acm.put("cn-north-1", &w.bundle(&[CDN], 70, 90), &hash);
    // An earlier run issued this one and its re-import failed.
    let fresher = w.bundle(&[CDN], 1, 90);
    w.archive
        .bundles
        .lock()
        .unwrap()
        .insert(hash, vec![fresher.clone()]);
    let h = w
        .handle(acm_event(json!([{"type": "acm", "region": "cn-north-1"}])))
        .await;
    assert_eq!(h.report.outcome, Outcome::Deployed, "{:?}", h.report.error);
    assert_eq!(w.orders(), 0, "no new issuance");
    assert_eq!(h.report.acm[0].result, AcmResult::Reimported);
    assert_eq!(h.report.acm[0].arn, arn);
}

#[tokio::test]
async fn names_issued_three_times_this_week_wait_instead_of_issuing_again() {
    let (w, _) = served(70);
    let hash = inventory::names_hash(&[CDN.parse().unwrap()]);
    // Three issued this week that cannot be used (each expired by now): say, a CA handing out
    // certificates that fail every check.
    let issued: Vec<_> = (1..=3).map(|d| w.bundle(&[CDN], d, d)).collect();
    w.archive.bundles.lock().unwrap().insert(hash, issued);
    let h = w.handle(cdn_event()).await;
    assert_eq!(h.report.outcome, Outcome::Deferred, "{:?}", h.report);
    let until = h.report.not_before.unwrap();
    assert!(until > w.now + time::Duration::days(3), "{until}");
    assert!(h.report.error.unwrap().contains("set force to issue now"));
    assert_eq!(w.orders(), 0);
    let forced = w
        .handle(json!({"domains": [{"names": [CDN], "force": true}]}))
        .await;
    assert_eq!(
        forced.report.outcome,
        Outcome::Renewed,
        "force overrides the cap"
    );
}

#[tokio::test]
async fn a_region_lacking_the_current_certificate_gets_the_archived_one_not_a_new_one() {
    let w = World::new(Partition::AwsCn);
    let b = w.bundle(&[CDN], 10, 90);
    let hash = inventory::names_hash(&[CDN.parse().unwrap()]);
    w.acm.put("cn-north-1", &b, &hash);
    w.archive
        .bundles
        .lock()
        .unwrap()
        .insert(hash, vec![b.clone()]);
    let targets = json!([{"type": "acm", "region": "cn-north-1"}, {"type": "acm", "region": "cn-northwest-1"}]);
    let h = w.handle(acm_event(targets)).await;
    assert_eq!(h.report.outcome, Outcome::Deployed, "{:?}", h.report.error);
    assert_eq!(w.orders(), 0);
    let results: Vec<String> = h.report.acm.iter().map(|a| a.result.to_string()).collect();
    assert_eq!(results, ["unchanged", "imported"]);
}

#[tokio::test]
async fn one_refusing_region_fails_the_domain_but_not_the_other_region() {
    let w = World::new(Partition::AwsCn);
    w.acm.refuse.lock().unwrap().insert("cn-northwest-1".into());
    let targets = json!([{"type": "acm", "region": "cn-north-1"}, {"type": "acm", "region": "cn-northwest-1"}]);
    let h = w.handle(acm_event(targets)).await;
    assert_eq!(h.report.outcome, Outcome::Failed);
    assert_eq!(h.report.acm[0].result, AcmResult::Imported);
    assert!(!h.report.acm[1].result.is_ok());
    let error = h.report.error.unwrap();
    assert!(
        error.contains("not deployed everywhere") && error.contains("ACM cn-northwest-1"),
        "{error}"
    );
}

#[tokio::test]
async fn a_certificate_deleted_from_acm_by_someone_is_imported_anew() {
    let w = World::new(Partition::AwsCn);
    let hash = inventory::names_hash(&[CDN.parse().unwrap()]);
    w.acm.put("cn-north-1", &w.bundle(&[CDN], 70, 90), &hash);
    let request = w.request(acm_event(json!([{"type": "acm", "region": "cn-north-1"}])));
    let listing = w.listing(&request).await;
    w.acm.certs.lock().unwrap().clear(); // deleted after the listing
    let cx = w.context(&listing, 900, false);
    let h = super::handle(&cx, &request.domains[0]).await;
    assert_eq!(h.report.acm[0].result, AcmResult::ImportedAfterDeletion);
    assert_eq!(h.report.outcome, Outcome::Renewed);
}

fn own_event(names: &[&str]) -> serde_json::Value {
    json!({"domains": [{"names": names, "source": {"certificate": "s3://certs/cdn.pem"}}]})
}

fn put_own(w: &World, b: &crate::certs::archive::Bundle) {
    let pem = format!("{}{}{}", b.certificate, b.chain, b.private_key.expose());
    w.files
        .files
        .lock()
        .unwrap()
        .insert("s3://certs/cdn.pem".into(), pem.into_bytes());
}

#[tokio::test]
async fn a_bring_your_own_certificate_is_archived_then_deployed_to_iam() {
    let (w, _) = served(10);
    let own = w.bundle(&[CDN], 1, 365);
    put_own(&w, &own);
    let h = w.handle(own_event(&[CDN])).await;
    assert_eq!(h.report.outcome, Outcome::Deployed, "{:?}", h.report.error);
    let writes = w.writes();
    assert!(
        writes[0].starts_with("archive ") && writes[1].starts_with("iam upload "),
        "{writes:?}"
    );
    assert_eq!(w.orders(), 0);
    assert_eq!(h.report.source.as_deref(), Some("s3://certs/cdn.pem"));
    let again = w.handle(own_event(&[CDN])).await;
    assert_eq!(
        again.report.outcome,
        Outcome::Kept,
        "deployed everywhere already"
    );
}

#[tokio::test]
async fn a_bring_your_own_certificate_older_than_the_deployed_one_is_not_rolled_back_to() {
    let (w, old) = served(10);
    let own = w.bundle(&[CDN], 60, 70);
    put_own(&w, &own);
    let h = w.handle(own_event(&[CDN])).await;
    assert_eq!(h.report.outcome, Outcome::Failed);
    assert!(h.report.error.unwrap().contains("set force to roll back"));
    assert_eq!(w.cloudfront.viewer("E1"), ViewerCert::Iam(old));
}

#[tokio::test]
async fn a_missing_bring_your_own_file_fails_with_nothing_deployed() {
    let (w, _) = served(10);
    let h = w.handle(own_event(&[CDN])).await;
    assert_eq!(h.report.outcome, Outcome::Failed);
    let error = h.report.error.unwrap();
    assert!(
        error.contains("s3://certs/cdn.pem") && error.contains("nothing was deployed"),
        "{error}"
    );
    assert!(w.writes().is_empty());
}

#[tokio::test]
async fn cloudfront_through_acm_imports_in_us_east_1_and_points_the_distribution_at_it() {
    let w = World::new(Partition::Aws);
    let theirs = w.bundle(&[CDN], 10, 90);
    let id = w.iam.put(&theirs, Some("cdn-by-hand"));
    w.cloudfront.add("E1", &[CDN], ViewerCert::Iam(id.clone()));
    let h = w
        .handle(acm_event(json!([{"type": "acm", "service": "cloudfront"}])))
        .await;
    assert_eq!(h.report.outcome, Outcome::Renewed, "{:?}", h.report.error);
    let arn = h.report.acm[0].arn.clone();
    assert!(arn.contains(":us-east-1:"), "{arn}");
    assert_eq!(w.cloudfront.viewer("E1"), ViewerCert::Acm(arn.clone()));
    assert_eq!(h.swapped_off[0].certificate, id);
    assert!(w
        .iam
        .tags("cdn-by-hand")
        .contains(&(TAG_REPLACED_BY.to_owned(), arn)));
    let again = w
        .handle(acm_event(json!([{"type": "acm", "service": "cloudfront"}])))
        .await;
    assert_eq!(again.report.outcome, Outcome::Kept, "{:?}", again.report);
}

#[tokio::test]
async fn a_dry_run_reports_each_acm_region_in_the_plan() {
    let w = World::new(Partition::AwsCn);
    let hash = inventory::names_hash(&[CDN.parse().unwrap()]);
    w.acm.put("cn-north-1", &w.bundle(&[CDN], 70, 90), &hash);
    let targets = json!([{"type": "acm", "region": "cn-north-1"}, {"type": "acm", "region": "cn-northwest-1"}]);
    let event = json!({"domains": [{"names": [CDN], "targets": targets}], "dry_run": true});
    let h = w.handle(event).await;
    assert_eq!(h.report.outcome, Outcome::Planned);
    let plan = serde_json::to_value(h.report.delivery.unwrap()).unwrap();
    assert_eq!(plan["obtain"]["kind"], "archived");
    assert_eq!(plan["obtain"]["else_issue"], true);
    assert_eq!(plan["acm"][0]["state"], "due");
    assert_eq!(plan["acm"][1]["state"], "missing");
    assert!(w.writes().is_empty());
}

#[tokio::test]
async fn the_default_domains_report_keeps_its_json_keys() {
    let (w, _) = served(70);
    let h = w.handle(cdn_event()).await;
    let value = serde_json::to_value(&h.report).unwrap();
    let mut keys: Vec<&str> = value
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        [
            "days_to_expiry",
            "distributions",
            "key",
            "lifetime_days",
            "names",
            "new_certificate",
            "old_certificate",
            "outcome",
            "plan",
            "renew_by",
            "timings_ms"
        ]
    );
    assert_eq!(value["outcome"], "renewed");
    assert_eq!(value["distributions"][0]["result"], "updated");
    assert_eq!(value["plan"]["action"], "issue");
}
