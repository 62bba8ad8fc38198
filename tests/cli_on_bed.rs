//! The CLI binary on the bed, configured only by environment variables as a user would configure
//! it: a full renewal, its report on stdout, and not one secret in anything it prints.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::process::Command;

use cert_rotator::model::inventory::{MANAGED_BY, TAG_MANAGED_BY, TAG_NAMES};
use common::world::World;

fn cli(world: &World, args: &[&str], log_level: &str) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_cert-rotator"))
        .args(args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("RUST_LOG", log_level)
        .envs(world.env())
        .output()
        .expect("run the CLI");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test]
async fn a_full_renewal_logs_no_private_key_account_key_or_aws_secret() {
    let w = World::new("logs").await;
    let name = w.name("cdn");
    let (dist, old) = w.due("cdn-old", &[&name], &[&name]).await;
    let event = std::env::temp_dir().join(format!("{}.json", common::unique("event")));
    std::fs::write(
        &event,
        serde_json::json!({"domains": [{"names": [name]}]}).to_string(),
    )
    .unwrap();

    let (code, stdout, stderr) = cli(&w, &["run", "--event", event.to_str().unwrap()], "debug");
    assert_eq!(code, 0, "stdout: {stdout}\nstderr: {stderr}");
    let report: serde_json::Value =
        serde_json::from_str(&stdout).expect("stdout is the JSON report");
    assert_eq!(report["domains"][0]["outcome"], "renewed", "{report:#}");
    assert_ne!(w.served(&dist).await, old);
    assert!(stderr.contains("run finished"), "the report is logged too");

    // Everything secret this run handled: the account key, the archived key, the credentials
    // (pieces from the middle of each: see `World::secrets`).
    let secrets = w.secrets().await;
    assert!(secrets
        .iter()
        .any(|(what, _)| what.contains("ACME account")));
    assert!(secrets.iter().any(|(what, _)| what.contains("private key")));
    let all = format!("{stdout}\n{stderr}");
    World::assert_no_secrets(&all, &secrets);
    assert!(
        all.lines().count() > 20,
        "debug logging was on ({} lines)",
        all.lines().count()
    );
}

#[tokio::test]
async fn bad_configuration_and_events_are_refused_with_the_variable_or_field_named() {
    let w = World::new("badcli").await;
    let event = std::env::temp_dir().join(format!("{}.json", common::unique("event")));
    std::fs::write(&event, r#"{"domains": [{"names": ["*.*.example.cn"]}]}"#).unwrap();
    let (code, _, stderr) = cli(&w, &["run", "--event", event.to_str().unwrap()], "info");
    assert_eq!(code, 2);
    assert!(
        stderr.contains("event field domains[0].names[0]"),
        "{stderr}"
    );

    let out = Command::new(env!("CARGO_BIN_EXE_cert-rotator"))
        .args(["run", "--event", event.to_str().unwrap()])
        .env_clear()
        .envs(
            w.env()
                .into_iter()
                .filter(|(k, _)| k != "CERT_ROTATOR_BUCKET"),
        )
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("CERT_ROTATOR_BUCKET is not set"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `cert-rotator inventory`: what is deployed, with days left, from the environment alone.
#[tokio::test]
async fn the_inventory_command_lists_iam_and_acm_certificates_with_days_left() {
    let w = World::new("inv").await;
    let name = w.name("www");
    let (_, old) = w.due("www-in-use", &[&name], &[&name]).await;
    let _ = old;
    // One ACM certificate cert-rotator imported (as a run does), one somebody else imported.
    let ca = cert_rotator_test_pki();
    let ours = ca.leaf(
        &[&name],
        time::OffsetDateTime::now_utc() - time::Duration::days(1),
        30,
    );
    let acm = w.acm("cn-northwest-1");
    let tag = |k: &str, v: &str| {
        aws_sdk_acm::types::Tag::builder()
            .key(k)
            .value(v)
            .build()
            .unwrap()
    };
    let ours_arn = acm
        .import_certificate()
        .certificate(aws_sdk_acm::primitives::Blob::new(ours.pem.clone()))
        .certificate_chain(aws_sdk_acm::primitives::Blob::new(
            ca.intermediate.pem.clone(),
        ))
        .private_key(aws_sdk_acm::primitives::Blob::new(ours.key_pem.clone()))
        .tags(tag(TAG_MANAGED_BY, MANAGED_BY))
        .tags(tag(TAG_NAMES, &name))
        .send()
        .await
        .unwrap()
        .certificate_arn()
        .unwrap()
        .to_owned();
    let theirs = ca.leaf(&[&name], time::OffsetDateTime::now_utc(), 30);
    acm.import_certificate()
        .certificate(aws_sdk_acm::primitives::Blob::new(theirs.pem.clone()))
        .private_key(aws_sdk_acm::primitives::Blob::new(theirs.key_pem.clone()))
        .send()
        .await
        .unwrap();

    let (code, out, err) = w.cli(
        &["inventory"],
        &[("CERT_ROTATOR_ACM_REGIONS", "cn-northwest-1")],
    );
    assert_eq!(code, 0, "{out}\n{err}");
    let report: serde_json::Value = serde_json::from_str(&out).unwrap();
    let items = report["inventory"].as_array().unwrap();
    assert_eq!(
        items.len(),
        2,
        "the IAM certificate and our ACM one, not theirs: {report:#}"
    );
    let acm_item = items.iter().find(|i| i["store"] == "acm").unwrap();
    assert_eq!(acm_item["id"], ours_arn.as_str());
    assert_eq!(acm_item["names"], name.as_str());
    let days = acm_item["days_left"].as_f64().unwrap();
    assert!((28.0..=29.5).contains(&days), "{days}");
    let iam_item = items.iter().find(|i| i["store"] == "iam").unwrap();
    assert_eq!(iam_item["id"], "www-in-use");
    assert_eq!(iam_item["in_use"], true);
    assert!(iam_item["days_left"].as_f64().unwrap() < 11.0, "{iam_item}");
    // Soonest expiry first.
    assert_eq!(items[0]["id"], "www-in-use");
    let (code, _, err) = w.cli(
        &["inventory"],
        &[("CERT_ROTATOR_ACM_REGIONS", "ap-northeast-1")],
    );
    assert_eq!(
        code, 2,
        "a region of another partition is a configuration error"
    );
    assert!(err.contains("CERT_ROTATOR_ACM_REGIONS"), "{err}");
}

fn cert_rotator_test_pki() -> common::pki::Pki {
    common::pki::Pki::new("Inventory CA")
}
