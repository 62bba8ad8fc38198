//! A run killed at every step is repaired by the next one. The CLI (built with the `failpoints`
//! feature) aborts at a named point; the next run must leave every distribution on a valid,
//! covering certificate whose key is in the archive, and no TXT record; one more run leaves no
//! certificate that nothing references. No output of any run holds a secret.
#![cfg(feature = "failpoints")]
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::world::World;
use serde_json::json;

async fn crash_and_repair(point: &str) {
    // cdn-old is someone else's: retiring it once replaced is opted into.
    let w = World::new(&format!("crash-{point}"))
        .await
        .retiring_foreign();
    let (cdn, wild) = (w.name("cdn"), format!("*.{}", w.name("cdn")));
    let (_, old) = w.due("cdn-old", &[&cdn, &wild], &[&cdn]).await;
    w.distribution(&[&w.name("img.cdn")], &old).await;
    let event = json!({"domains": [{"names": [cdn, wild]}]});
    let debug = ("RUST_LOG", "debug");
    let (run, mut outputs) = w.kill_at(&event, point, &[debug]);
    // The damage the killed run left, which the next run must repair.
    let left = (
        w.txt_records().await.len(),
        w.archived().await.len(),
        w.unreferenced_certificates().await.len(),
    );
    match point {
        "after-txt-write" | "after-authorization" => {
            assert!(left.0 > 0 && left.1 == 0, "{point}: {left:?}")
        }
        "after-archive" => assert!(
            left.0 == 0 && left.1 == 1 && left.2 == 0,
            "{point}: {left:?}"
        ),
        "after-upload" => assert_eq!(left, (0, 1, 1), "{point}: uploaded, attached nowhere"),
        _ => assert_eq!((left.0, left.1), (0, 1), "{point}"),
    }

    let (code, out, err) = run.after_kill(&[debug]).await;
    assert_eq!(code, 0, "{point}: the next run fails\n{out}\n{err}");
    outputs.push_str(&out);
    outputs.push_str(&err);
    w.assert_converged().await;

    tokio::time::sleep(Duration::from_millis(1300)).await; // CloudFront deploys (1 s on the bed)
    let (code, out, err) = run.now(&[]);
    assert_eq!(code, 0, "{point}: the third run fails\n{out}\n{err}");
    outputs.push_str(&out);
    outputs.push_str(&err);
    w.assert_converged().await;
    assert_eq!(
        w.unreferenced_certificates().await,
        Vec::<String>::new(),
        "{point}: certificates nothing references are left"
    );
    World::assert_no_secrets(&outputs, &w.secrets().await);
}

#[tokio::test]
async fn killed_after_the_txt_write() {
    crash_and_repair("after-txt-write").await;
}

#[tokio::test]
async fn killed_after_authorization() {
    crash_and_repair("after-authorization").await;
}

#[tokio::test]
async fn killed_after_archiving() {
    crash_and_repair("after-archive").await;
}

#[tokio::test]
async fn killed_after_uploading() {
    crash_and_repair("after-upload").await;
}

#[tokio::test]
async fn killed_after_the_first_of_two_distributions() {
    crash_and_repair("after-first-swap").await;
}

#[tokio::test]
async fn killed_before_retirement() {
    crash_and_repair("before-retirement").await;
}

/// Killed after importing into the first of two ACM regions (after the IAM swap): the next run
/// imports the archived certificate into the second region — the same certificate, no second
/// import in the first — and the ARNs stay.
#[tokio::test]
async fn killed_between_two_acm_regions() {
    let w = World::new("crash-acm").await;
    let cdn = w.name("cdn");
    let (dist, _) = w.due("cdn-old", &[&cdn], &[&cdn]).await;
    let event = json!({"domains": [{"names": [cdn], "targets": [
        "cloudfront-iam",
        {"type": "acm", "service": "alb", "region": "cn-north-1"},
        {"type": "acm", "service": "nlb", "region": "cn-northwest-1"}]}]});
    let (run, mut outputs) = w.kill_at(&event, "after-acm-import", &[]);
    let first = w.acm_arns("cn-north-1").await;
    assert_eq!(
        first.len(),
        1,
        "imported into the first region before dying"
    );
    assert!(w.acm_arns("cn-northwest-1").await.is_empty());

    let (code, out, err) = run.after_kill(&[]).await;
    assert_eq!(code, 0, "the next run fails\n{out}\n{err}");
    outputs.push_str(&out);
    outputs.push_str(&err);
    let report: serde_json::Value = serde_json::from_str(&out).unwrap();
    let acm = &report["domains"][0]["acm"];
    assert_eq!(acm[0]["result"], "unchanged", "{report:#}");
    assert_eq!(acm[1]["result"], "imported", "{report:#}");
    assert_eq!(
        w.acm_arns("cn-north-1").await,
        first,
        "no second import, the ARN kept"
    );
    let second = w.acm_arns("cn-northwest-1").await;
    assert_eq!(second.len(), 1);
    let serial = w.acm_serial("cn-north-1", &first[0]).await;
    assert_eq!(
        w.acm_serial("cn-northwest-1", &second[0]).await,
        serial,
        "the same certificate in both regions"
    );
    assert_eq!(report["domains"][0]["outcome"], "deployed", "{report:#}");
    w.assert_converged().await;
    assert!(!w.served(&dist).await.is_empty());
    World::assert_no_secrets(&outputs, &w.secrets().await);
}
