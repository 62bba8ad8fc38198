//! Any ACME CA, end to end on the bed (issue #21): External Account Binding against the bed's
//! second Pebble, which requires it (tests/bed/test_fidelity_eab.py); Let's Encrypt's profiles and
//! their certificates without a Common Name, issued by the ARI proxy (test_fidelity_profiles.py);
//! an ACM re-import a profile change would break; CAA records in Route 53, served by the bed's
//! DNS; and `reuse_key`. Every advice the product prints here is followed to the letter.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use cert_rotator::handler::InvocationError;
use cert_rotator::report::{KeyUse, Outcome, Report};
use common::world::{Invocation, World};
use serde_json::json;
use x509_parser::prelude::*;

/// The report of a run, whether its domains succeeded or not.
fn report_of(result: Result<Report, InvocationError>) -> Report {
    match result {
        Ok(report) => report,
        Err(InvocationError::Domains { report, .. }) => *report,
        Err(e) => panic!("the run failed: {e}"),
    }
}

/// One run of `event` as the world's function, with `settings`.
async fn run(w: &World, settings: &[(&str, &str)], event: &serde_json::Value) -> Report {
    report_of(w.run_with(Invocation::overrides(settings), event).await)
}

fn bed(var: &str) -> String {
    common::bed()
        .get(var)
        .unwrap_or_else(|| panic!("{var} is not in the bed's env: restart the bed (make bed-up)"))
        .clone()
}

/// Stores an External Account Binding as an operator would, in a secret the stack's EabSecret
/// names (the function may read it and nothing else of the kind); returns its name.
async fn eab_secret(w: &World, key_id: &str, hmac_key: &str) -> String {
    let name = format!("{}/eab", w.stack);
    let value = json!({"key_id": key_id, "hmac_key": hmac_key}).to_string();
    let admin = aws_sdk_secretsmanager::Client::new(&w.sdk);
    let exists = admin
        .describe_secret()
        .secret_id(&name)
        .send()
        .await
        .is_ok();
    if exists {
        admin
            .put_secret_value()
            .secret_id(&name)
            .secret_string(value)
            .send()
            .await
            .unwrap();
    } else {
        admin
            .create_secret()
            .name(&name)
            .secret_string(value)
            .send()
            .await
            .unwrap();
    }
    w.set_stack_parameter("EabSecret", &name).await;
    name
}

/// The leaf's Common Names and its lifetime in seconds.
fn cn_and_lifetime(der: &[u8]) -> (Vec<String>, i64) {
    let (_, cert) = X509Certificate::from_der(der).unwrap();
    let cns = cert
        .subject()
        .iter_common_name()
        .filter_map(|c| c.as_str().ok().map(str::to_owned))
        .collect();
    let v = cert.validity();
    (cns, v.not_after.timestamp() - v.not_before.timestamp())
}

fn public_key(der: &[u8]) -> Vec<u8> {
    let (_, cert) = X509Certificate::from_der(der).unwrap();
    cert.public_key().raw.to_vec()
}

/// A world with a due distribution for `cdn.<zone>`: (world, name, distribution, old cert id).
async fn due(prefix: &str) -> (World, String, String, String) {
    let w = World::new(prefix).await;
    let name = w.name("cdn");
    let (dist, old) = w.due("cdn-old", &[&name], &[&name]).await;
    (w, name, dist, old)
}

// ---- External Account Binding ----

#[tokio::test]
async fn an_eab_ca_gets_its_binding_and_the_account_remembers_its_key_id() {
    let (w, name, dist, old) = due("eab-good").await;
    let secret = eab_secret(&w, &bed("BED_EAB_KEY_ID"), &bed("BED_EAB_HMAC_KEY")).await;
    let directory = bed("BED_EAB_DIRECTORY");
    let settings = [
        ("CERT_ROTATOR_ACME_DIRECTORY", directory.as_str()),
        ("CERT_ROTATOR_EAB_SECRET", secret.as_str()),
    ];
    let event = json!({"domains": [{"names": [name]}]});
    let report = run(&w, &settings, &event).await;
    assert_eq!(report.domains[0].outcome, Outcome::Renewed, "{report:#?}");
    assert_ne!(w.served(&dist).await, old);
    let stored: serde_json::Value =
        serde_json::from_str(&w.account_secret_value().await.unwrap()).unwrap();
    assert_eq!(stored["directory"], directory.as_str());
    assert_eq!(stored["eab_key_id"], bed("BED_EAB_KEY_ID").as_str());
    let logs = common::logs::text();
    assert!(
        !logs.contains(&bed("BED_EAB_HMAC_KEY")),
        "the HMAC key never reaches a log"
    );
}

#[tokio::test]
async fn without_a_binding_the_advice_to_set_eab_secret_works_to_the_letter() {
    let (w, name, dist, old) = due("eab-missing").await;
    let directory = bed("BED_EAB_DIRECTORY");
    let event = json!({"domains": [{"names": [name]}]});
    let plain = [("CERT_ROTATOR_ACME_DIRECTORY", directory.as_str())];
    let report = run(&w, &plain, &event).await;
    let d = &report.domains[0];
    assert_eq!(d.outcome, Outcome::Failed);
    let error = d.error.clone().unwrap();
    assert!(
        error.contains("externalAccountRequired")
            && error.contains("set the stack parameter EabSecret (CERT_ROTATOR_EAB_SECRET)"),
        "{error}"
    );
    assert_eq!(w.account_secret_value().await.as_deref(), Some("{}"));
    assert_eq!(w.served(&dist).await, old);
    // What it says: the key id and HMAC key in a secret, EabSecret naming it.
    let secret = eab_secret(&w, &bed("BED_EAB_KEY_ID"), &bed("BED_EAB_HMAC_KEY")).await;
    let bound = [
        ("CERT_ROTATOR_ACME_DIRECTORY", directory.as_str()),
        ("CERT_ROTATOR_EAB_SECRET", secret.as_str()),
    ];
    let report = run(&w, &bound, &event).await;
    assert_eq!(report.domains[0].outcome, Outcome::Renewed, "{report:#?}");
}

#[tokio::test]
async fn a_wrong_hmac_key_is_named_and_nothing_is_stored() {
    let (w, name, _, _) = due("eab-wrong").await;
    // The first binding's key id with the second binding's HMAC key.
    let secret = eab_secret(&w, &bed("BED_EAB_KEY_ID"), &bed("BED_EAB_HMAC_KEY_2")).await;
    let directory = bed("BED_EAB_DIRECTORY");
    let settings = [
        ("CERT_ROTATOR_ACME_DIRECTORY", directory.as_str()),
        ("CERT_ROTATOR_EAB_SECRET", secret.as_str()),
    ];
    let report = run(&w, &settings, &json!({"domains": [{"names": [name]}]})).await;
    let error = report.domains[0].error.clone().unwrap();
    assert!(
        error.contains(&format!(
            "refused the External Account Binding with key id {}",
            bed("BED_EAB_KEY_ID")
        )) && error.contains("unauthorized")
            && error.contains("CERT_ROTATOR_EAB_SECRET"),
        "{error}"
    );
    assert!(!error.contains(&bed("BED_EAB_HMAC_KEY_2")), "{error}");
    assert_eq!(w.account_secret_value().await.as_deref(), Some("{}"));
}

#[tokio::test]
async fn a_change_of_ca_or_of_binding_neither_reuses_nor_overwrites_the_account() {
    let (w, name, _, _) = due("eab-change").await;
    let event = json!({"domains": [{"names": [name]}]});
    // First the bed's default CA (no binding).
    assert_eq!(
        run(&w, &[], &event).await.domains[0].outcome,
        Outcome::Renewed
    );
    let first = w.account_secret_value().await.unwrap();
    // Then the EAB CA with the same account secret.
    let secret = eab_secret(&w, &bed("BED_EAB_KEY_ID"), &bed("BED_EAB_HMAC_KEY")).await;
    let directory = bed("BED_EAB_DIRECTORY");
    let eab = [
        ("CERT_ROTATOR_ACME_DIRECTORY", directory.as_str()),
        ("CERT_ROTATOR_EAB_SECRET", secret.as_str()),
    ];
    let forced = json!({"domains": [{"names": [name], "force": true}]});
    let report = run(&w, &eab, &forced).await;
    let error = report.domains[0].error.clone().unwrap();
    assert!(error.contains("use a separate secret per CA"), "{error}");
    assert_eq!(
        w.account_secret_value().await.unwrap(),
        first,
        "not overwritten"
    );

    // A fresh account secret for the EAB CA, bound to the first binding...
    w.reset_account_secret("{}").await;
    let report = run(&w, &eab, &forced).await;
    assert_eq!(report.domains[0].outcome, Outcome::Renewed, "{report:#?}");
    let bound = w.account_secret_value().await.unwrap();
    // ...then the binding secret changed to the second binding: refused, kept.
    eab_secret(&w, &bed("BED_EAB_KEY_ID_2"), &bed("BED_EAB_HMAC_KEY_2")).await;
    let report = run(&w, &eab, &forced).await;
    let error = report.domains[0].error.clone().unwrap();
    assert!(
        error.contains(&format!("bound to key id {}", bed("BED_EAB_KEY_ID")))
            && error.contains(&format!("has key id {}", bed("BED_EAB_KEY_ID_2")))
            && error.contains("separate secret per CA and binding"),
        "{error}"
    );
    assert_eq!(w.account_secret_value().await.unwrap(), bound);
}

// ---- Profiles and certificates without a Common Name ----

#[tokio::test]
async fn a_tlsserver_certificate_without_a_common_name_is_deployed_and_kept() {
    let (w, name, dist, old) = due("profile-tls").await;
    let event = json!({"domains": [{"names": [name], "profile": "tlsserver",
        "targets": ["cloudfront-iam", {"type": "acm", "service": "alb", "region": "cn-north-1"}]}]});
    let report = run(&w, &[], &event).await;
    let d = &report.domains[0];
    assert_eq!(d.outcome, Outcome::Renewed, "{d:#?}");
    assert_ne!(w.served(&dist).await, old);
    let der = w.served_der(&dist).await;
    let (cns, lifetime) = cn_and_lifetime(&der);
    assert!(cns.is_empty(), "tlsserver: no Common Name ({cns:?})");
    assert!((lifetime - 45 * 86_400).abs() <= 1, "{lifetime}");
    assert_eq!(d.lifetime_days, Some(45.0));
    let arns = w.acm_arns("cn-north-1").await;
    assert_eq!(arns.len(), 1, "imported to ACM without a CN too");
    // 45 days renew with 15 left: the next run keeps it.
    let again = run(&w, &[], &event).await;
    assert_eq!(again.domains[0].outcome, Outcome::Kept, "{again:#?}");
    assert!(!again.domains[0].overdue);
}

#[tokio::test]
async fn the_stacks_profile_gives_a_shortlived_certificate_renewed_at_half_its_life() {
    let (w, name, dist, _) = due("profile-short").await;
    let settings = [("CERT_ROTATOR_PROFILE", "shortlived")];
    let event = json!({"domains": [{"names": [name]}]});
    let report = run(&w, &settings, &event).await;
    let d = &report.domains[0];
    assert_eq!(d.outcome, Outcome::Renewed, "{d:#?}");
    let (cns, lifetime) = cn_and_lifetime(&w.served_der(&dist).await);
    assert!(cns.is_empty());
    assert!((lifetime - 160 * 3600).abs() <= 1, "160 hours: {lifetime}");
    let (issued, renew_by) = (d.new_certificate.as_ref().unwrap(), d.renew_by.unwrap());
    let half = issued.not_after.unwrap() - ::time::Duration::hours(80);
    assert!(
        (renew_by - half).abs() <= ::time::Duration::seconds(1),
        "{renew_by} vs {half}"
    );
    assert!(
        d.warnings.is_empty(),
        "8-hour runs fit 6-day certificates: {:?}",
        d.warnings
    );
}

#[tokio::test]
async fn a_profile_the_ca_does_not_offer_fails_before_any_order() {
    let (w, name, dist, old) = due("profile-unknown").await;
    let event = json!({"domains": [{"names": [name], "profile": "longlived"}]});
    let report = run(&w, &[], &event).await;
    let d = &report.domains[0];
    assert_eq!(d.outcome, Outcome::Failed);
    let error = d.error.clone().unwrap();
    assert!(
        error.contains("domains[0].profile asks for the profile \"longlived\"")
            && error.contains("use one of classic, shortlived, tlsserver"),
        "{error}"
    );
    assert_eq!(w.served(&dist).await, old);
    let hash = cert_rotator::model::inventory::names_hash(&[name.parse().unwrap()]);
    let memory = w
        .archive()
        .head_object()
        .bucket(&w.bucket)
        .key(cert_rotator::plan::backoff::memory_key(&hash))
        .send()
        .await;
    assert!(memory.is_err(), "not remembered as a failed issuance");
    // A CA without profiles (the EAB Pebble, with an account secret of its own): the setting
    // is named, to remove.
    w.reset_account_secret("{}").await;
    let secret = eab_secret(&w, &bed("BED_EAB_KEY_ID"), &bed("BED_EAB_HMAC_KEY")).await;
    let directory = bed("BED_EAB_DIRECTORY");
    let settings = [
        ("CERT_ROTATOR_ACME_DIRECTORY", directory.as_str()),
        ("CERT_ROTATOR_EAB_SECRET", secret.as_str()),
        ("CERT_ROTATOR_PROFILE", "tlsserver"),
    ];
    let report = run(&w, &settings, &json!({"domains": [{"names": [name]}]})).await;
    let error = report.domains[0].error.clone().unwrap();
    assert!(
        error.contains("offers no profiles")
            && error.ends_with("remove the stack's Profile (CERT_ROTATOR_PROFILE)"),
        "{error}"
    );
}

#[tokio::test]
async fn a_profile_change_acm_would_refuse_deploys_nowhere_and_the_advice_works() {
    let (w, name, dist, _) = due("profile-acm").await;
    let targets =
        json!(["cloudfront-iam", {"type": "acm", "service": "alb", "region": "cn-north-1"}]);
    // An RSA classic certificate first (keyEncipherment among its Key Usages).
    let classic = json!({"domains": [{"names": [name], "targets": targets, "profile": "classic"}]});
    assert_eq!(
        run(&w, &[], &classic).await.domains[0].outcome,
        Outcome::Renewed
    );
    let (served, arn) = (
        w.served(&dist).await,
        w.acm_arns("cn-north-1").await[0].clone(),
    );
    let acm_serial = w.acm_serial("cn-north-1", &arn).await;
    // Then tlsserver, forced: ACM may not lose keyEncipherment on an RSA certificate.
    let tls = json!({"domains": [{"names": [name], "targets": targets, "profile": "tlsserver", "force": true}]});
    let report = run(&w, &[], &tls).await;
    let d = &report.domains[0];
    assert_eq!(d.outcome, Outcome::Failed);
    let error = d.error.clone().unwrap();
    assert!(
        error.contains(&format!(
            "ACM in cn-north-1 would refuse to re-import {arn}"
        )) && error.contains("drops Key Usage keyEncipherment")
            && error.contains("nothing was deployed"),
        "{error}"
    );
    assert_eq!(
        w.served(&dist).await,
        served,
        "CloudFront kept its certificate"
    );
    assert_eq!(w.acm_serial("cn-north-1", &arn).await, acm_serial);
    // The advice, to the letter: the profile back to classic, once by hand with force.
    let back = json!({"domains": [{"names": [name], "targets": targets, "profile": "classic", "force": true}]});
    let report = run(&w, &[], &back).await;
    assert_eq!(report.domains[0].outcome, Outcome::Renewed, "{report:#?}");
    assert_ne!(w.served(&dist).await, served);
    assert_ne!(w.acm_serial("cn-north-1", &arn).await, acm_serial);
}

// ---- CAA ----

/// Sets the CAA records of the world's zone apex (Route 53's value format).
async fn caa(w: &World, values: &[&str]) {
    record(w, &w.zone, "CAA", values).await;
}

/// Sets the record set `name` `kind` in the world's zone.
async fn record(w: &World, name: &str, kind: &str, values: &[&str]) {
    use aws_sdk_route53::types::{
        Change, ChangeAction, ChangeBatch, ResourceRecord, ResourceRecordSet, RrType,
    };
    let records = values
        .iter()
        .map(|v| ResourceRecord::builder().value(*v).build().unwrap())
        .collect::<Vec<_>>();
    let set = ResourceRecordSet::builder()
        .name(format!("{name}."))
        .r#type(RrType::from(kind))
        .ttl(60)
        .set_resource_records(Some(records))
        .build()
        .unwrap();
    let change = Change::builder()
        .action(ChangeAction::Upsert)
        .resource_record_set(set)
        .build()
        .unwrap();
    aws_sdk_route53::Client::new(&w.sdk)
        .change_resource_record_sets()
        .hosted_zone_id(&w.zone_id)
        .change_batch(ChangeBatch::builder().changes(change).build().unwrap())
        .send()
        .await
        .unwrap();
}

/// CAA is asked of the bed's resolving DNS on port 53 (CERT_ROTATOR_DNS_RESOLVER); without port
/// 53 (not root) the bed cannot answer it and the CA's own check is all there is.
fn caa_answered() -> bool {
    let port53 = common::bed().get("BED_DNS_PORT53").map(String::as_str) == Some("1");
    if !port53 {
        eprintln!("skipped: the bed's DNS has no port 53 here (run as root, as CI does)");
    }
    port53
}

#[tokio::test]
async fn caa_forbidding_the_ca_fails_the_domain_with_the_record_and_spends_no_order() {
    if !caa_answered() {
        return;
    }
    let (w, name, dist, old) = due("caa").await;
    caa(
        &w,
        &["0 issue \"pki.goog\"", "0 iodef \"mailto:ops@example.cn\""],
    )
    .await;
    let event = json!({"domains": [{"names": [name]}]});
    let dry = run(
        &w,
        &[],
        &json!({"domains": [{"names": [name]}], "dry_run": true}),
    )
    .await;
    let error = dry.domains[0].error.clone().unwrap();
    assert!(
        error.starts_with("dry run: the next order would fail: CAA forbids"),
        "{error}"
    );
    let report = run(&w, &[], &event).await;
    let d = &report.domains[0];
    assert_eq!(d.outcome, Outcome::Failed);
    let error = d.error.clone().unwrap();
    assert!(
        error.contains(&format!(
            "CAA forbids ordering {name}: the records at {}",
            w.zone
        )) && error.contains("[0 issue \"pki.goog\"]")
            && error.contains("no order was sent")
            && error.contains("0 issue \"letsencrypt.org\""),
        "{error}"
    );
    assert_eq!(w.served(&dist).await, old);
    // An account restriction for another account forbids too.
    caa(
        &w,
        &["0 issue \"letsencrypt.org; accounturi=https://127.0.0.1/my-account/999999\""],
    )
    .await;
    let error = run(&w, &[], &event).await.domains[0].error.clone().unwrap();
    assert!(
        error.contains("another ACME account (accounturi)"),
        "{error}"
    );
    // The advice, to the letter: a record allowing this CA.
    caa(&w, &["0 issue \"pki.goog\"", "0 issue \"letsencrypt.org\""]).await;
    let report = run(&w, &[], &event).await;
    assert_eq!(report.domains[0].outcome, Outcome::Renewed, "{report:#?}");
}

#[tokio::test]
async fn caa_is_read_where_the_names_cname_leads_then_up_from_the_name() {
    if !caa_answered() {
        return;
    }
    let (w, name, dist, old) = due("caa-cname").await;
    let event = json!({"domains": [{"names": [name]}]});
    // The name is a CNAME, as a CloudFront alias is: to a name outside every zone, whose
    // (absent) CAA set leaves the climb to go on from the name's parent, the zone apex.
    record(&w, &name, "CNAME", &["d111abcdef8.cloudfront.cn"]).await;
    caa(&w, &["0 issue \"pki.goog\""]).await;
    let error = run(&w, &[], &event).await.domains[0].error.clone().unwrap();
    assert!(
        error.contains(&format!("the records at {}", w.zone)),
        "{error}"
    );
    // To a name in the zone with its own CAA set: that set rules, not the apex's.
    let edge = w.name("edge");
    record(&w, &name, "CNAME", &[&edge]).await;
    caa(&w, &["0 issue \"letsencrypt.org\""]).await;
    record(&w, &edge, "CAA", &["0 issue \"pki.goog\""]).await;
    let error = run(&w, &[], &event).await.domains[0].error.clone().unwrap();
    assert!(
        error.contains(&format!(
            "CAA forbids ordering {name}: the records at {edge} are [0 issue \"pki.goog\"]"
        )) && error.contains(&format!("Add a record allowing this CA to {edge}")),
        "{error}"
    );
    assert_eq!(w.served(&dist).await, old);
}

// ---- reuse_key ----

#[tokio::test]
async fn reuse_key_keeps_the_key_across_renewals_and_says_so() {
    // RSA 2048 (the default, for CloudFront in China) and ECDSA P-256.
    for key_type in ["rsa-2048", "ecdsa-p256"] {
        let (w, name, dist, _) = due(&format!("reuse-{}", &key_type[..3])).await;
        let first = json!({"domains": [{"names": [name], "key_type": key_type}]});
        assert_eq!(
            run(&w, &[], &first).await.domains[0].outcome,
            Outcome::Renewed
        );
        let key = public_key(&w.served_der(&dist).await);
        let reuse = json!({"domains": [{"names": [name], "key_type": key_type, "reuse_key": true, "force": true}]});
        let report = run(&w, &[], &reuse).await;
        let d = &report.domains[0];
        assert_eq!(d.outcome, Outcome::Renewed, "{key_type}: {d:#?}");
        assert_eq!(d.key, Some(KeyUse::Reused), "{key_type}");
        assert_eq!(
            public_key(&w.served_der(&dist).await),
            key,
            "{key_type}: the same key"
        );
        let fresh = json!({"domains": [{"names": [name], "key_type": key_type, "force": true}]});
        let report = run(&w, &[], &fresh).await;
        assert_eq!(report.domains[0].key, Some(KeyUse::New));
        assert_ne!(
            public_key(&w.served_der(&dist).await),
            key,
            "{key_type}: off by default"
        );
    }
}
