//! Zero downtime at volume: 100 rotations across 10 distributions while a watcher checks every
//! 50 ms that no distribution references a certificate that is missing, expired or does not cover
//! its aliases. The figures go to target/safety/volume.json and stderr. Run by `make test-slow`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::{Duration, Instant};

use cert_rotator::report::Outcome;
use common::world::{Invocation, World};
use serde_json::json;

#[tokio::test]
#[ignore = "slow (about 2.5 minutes: Route 53 calls are paced at 4 per second): make test-slow"]
async fn a_hundred_rotations_across_ten_distributions_never_leave_one_uncovered() {
    let w = World::new("volume").await;
    let mut domains = Vec::new();
    for i in 0..10 {
        let (name, wild) = (
            w.name(&format!("v{i}")),
            format!("*.{}", w.name(&format!("v{i}"))),
        );
        w.due(
            &format!("old-{i}"),
            &[&name, &wild],
            &[&name, &format!("www.{name}")],
        )
        .await;
        domains.push(json!({"names": [name, wild], "force": true}));
    }
    let event = json!({"domains": domains});
    let watcher = w.watch();
    let started = Instant::now();
    let mut rotations = 0;
    for round in 0..10 {
        tokio::time::sleep(Duration::from_millis(1100)).await; // the previous swaps finish deploying
        let run_id = format!("volume-{round}");
        let report = w
            .run_with(Invocation::default().run_id(&run_id), &event)
            .await
            .unwrap();
        rotations += report
            .domains
            .iter()
            .filter(|d| d.outcome == Outcome::Renewed)
            .count();
    }
    let elapsed = started.elapsed();
    let (polls, violations) = watcher.finish().await;
    let figures = json!({"rotations": rotations, "distributions": 10, "watcher_polls": polls, "violations": violations.len(), "seconds": elapsed.as_secs_f64()});
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/safety");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("volume.json"),
        serde_json::to_string_pretty(&figures).unwrap(),
    )
    .unwrap();
    eprintln!("zero downtime at volume: {figures}");
    assert_eq!(rotations, 100);
    assert!(polls >= 100, "the watcher polled only {polls} times");
    assert!(
        violations.is_empty(),
        "{} moments without a valid certificate: {violations:?}",
        violations.len()
    );
    w.assert_converged().await;
}
