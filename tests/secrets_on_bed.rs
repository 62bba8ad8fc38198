//! No secret in any log, at any level (issue #13, part 5). Runs that handle every kind of secret —
//! an ACME account created and stored, then loaded; an issued RSA key archived, uploaded to IAM
//! and imported into ACM; a bring-your-own PKCS#12 file opened with its password, its P-256 key
//! archived, uploaded and imported — are logged at TRACE, with the SDK's own switches for printing
//! bodies on, and every line is searched for pieces from the middle of each key, the account key
//! and the password. In process the logs go through `cert_rotator::logging`, the subscriber of
//! both binaries; the CLI is run as a user would run it, with `RUST_LOG=trace`, then with Lambda's
//! `AWS_LAMBDA_LOG_LEVEL=TRACE` and JSON lines.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use cert_rotator::report::{DomainReport, Outcome, Report};
use common::logs::{self, SDK_BODY_SWITCHES};
use common::pki::{pkcs12, Pki};
use common::world::{pem_key_pieces, spellings, World};
use serde_json::{json, Value};
use time::OffsetDateTime;

/// A world with two domains due, each served by a distribution and deployed to IAM and to ACM in
/// cn-northwest-1: `acme.<zone>` issued by the CA, `byo.<zone>` from a PKCS#12 file in S3 whose
/// password is in Secrets Manager. Returns the world, the event, and the secrets the world
/// cannot list itself (the bring-your-own key and the password).
async fn world_with_every_secret(prefix: &str) -> (World, Value, Vec<(String, String)>) {
    let w = World::new(prefix).await;
    let (acme, byo) = (w.name("acme"), w.name("byo"));
    w.due("acme-old", &[&acme], &[&acme]).await;
    w.due("byo-old", &[&byo], &[&byo]).await;
    let pki = Pki::new("Commercial CA");
    let leaf = pki.leaf(
        &[&byo],
        OffsetDateTime::now_utc() - time::Duration::days(3),
        365,
    );
    let password = format!("pfx pass {}", common::unique("pw"));
    let pfx = pkcs12(&leaf, &[&pki.intermediate.der, &pki.root.der], &password);
    let source = json!({
        "certificate": w.put_file("byo/site.pfx", pfx).await,
        "password": w.put_secret(&common::unique("byo-pfx"), &password).await,
    });
    let targets = json!(["cloudfront-iam", {"type": "acm", "region": "cn-northwest-1"}]);
    let event = json!({"domains": [
        {"names": [acme], "targets": targets},
        {"names": [byo], "source": source, "targets": targets},
    ]});
    let mut secrets = pem_key_pieces("the bring-your-own key", &leaf.key_pem);
    secrets.extend(spellings("the PKCS#12 password", &password));
    (w, event, secrets)
}

/// Every secret of `w` (the account key, each archived key, the AWS credentials) and `more`;
/// checks the account and both keys are among them.
async fn every_secret(w: &World, more: Vec<(String, String)>) -> Vec<(String, String)> {
    let mut secrets = w.secrets().await;
    assert_eq!(w.archived().await.len(), 2, "both bundles are archived");
    assert!(secrets
        .iter()
        .any(|(what, _)| what.contains("ACME account")));
    secrets.extend(more);
    secrets
}

fn outcomes(report: &Report) -> Vec<Outcome> {
    report
        .domains
        .iter()
        .map(|d: &DomainReport| d.outcome)
        .collect()
}

#[tokio::test]
async fn runs_logged_at_trace_carry_no_key_account_key_or_password() {
    logs::capture();
    let (w, event, more) = world_with_every_secret("trace").await;

    let first = w.run_ok(&event).await;
    assert_eq!(
        outcomes(&first),
        [Outcome::Renewed, Outcome::Deployed],
        "{first:#?}"
    );
    for d in &first.domains {
        assert_eq!(d.acm.len(), 1, "{d:#?}");
        assert_eq!(d.acm[0].result, "imported", "{d:#?}");
    }
    // The daily run after loads the account and reads the source (and its password) again.
    let again = w.run_ok(&event).await;
    assert_eq!(
        outcomes(&again),
        [Outcome::Kept, Outcome::Kept],
        "{again:#?}"
    );

    let text = logs::text();
    World::assert_no_secrets(&text, &every_secret(&w, more).await);
    // TRACE was on, and the SDK still logs at DEBUG.
    assert!(text.contains("TRACE"), "no TRACE line was logged");
    assert!(
        text.contains("beginning attempt #1"),
        "the SDK's DEBUG lines are missing"
    );
}

#[tokio::test]
async fn the_cli_at_trace_prints_no_key_account_key_or_password() {
    let (w, event, more) = world_with_every_secret("tracecli").await;
    let path = w.event_file(&event);
    let args = ["run", "--event", path.to_str().unwrap()];

    let mut text_env = vec![("RUST_LOG", "trace")];
    text_env.extend(SDK_BODY_SWITCHES);
    let (code, stdout, stderr) = w.cli(&args, &text_env);
    assert_eq!(code, 0, "stdout: {stdout}\nstderr: {stderr}");
    let report: Value = serde_json::from_str(&stdout).expect("stdout is the JSON report");
    assert_eq!(report["domains"][0]["outcome"], "renewed", "{report:#}");
    assert_eq!(report["domains"][1]["outcome"], "deployed", "{report:#}");
    assert!(
        stderr
            .lines()
            .any(|l| l.starts_with(" TRACE") || l.starts_with("TRACE")),
        "TRACE was on"
    );

    // As Lambda's advanced logging controls set it: level TRACE, JSON lines.
    let mut lambda_env = vec![
        ("AWS_LAMBDA_LOG_LEVEL", "TRACE"),
        ("AWS_LAMBDA_LOG_FORMAT", "JSON"),
    ];
    lambda_env.extend(SDK_BODY_SWITCHES);
    let (code, stdout2, stderr2) = w.cli(&args, &lambda_env);
    assert_eq!(code, 0, "stdout: {stdout2}\nstderr: {stderr2}");
    let levels: Vec<String> = stderr2
        .lines()
        .map(|l| {
            let line: Value = serde_json::from_str(l).unwrap_or_else(|_| panic!("not JSON: {l}"));
            line["level"].as_str().unwrap_or_default().to_owned()
        })
        .collect();
    assert!(levels.iter().any(|l| l == "TRACE"), "TRACE was on");

    let all = [stdout, stderr, stdout2, stderr2].join("\n");
    World::assert_no_secrets(&all, &every_secret(&w, more).await);
}
