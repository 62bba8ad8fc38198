//! Unit tests of the DNS-01 solvers.
use std::time::Duration;

use super::placed::by_record;
use super::*;
use crate::aws::route53::{HostedZone, Route53};

fn set(values: &[&str]) -> TxtRecordSet {
    TxtRecordSet {
        ttl: 300,
        values: values.iter().map(|v| v.to_string()).collect(),
    }
}

#[test]
fn merges_without_duplicates_and_keeps_the_existing_ttl() {
    assert_eq!(
        with_values(Some(&set(&["theirs"])), &["a", "b", "a"], 60),
        set(&["theirs", "a", "b"])
    );
    assert_eq!(
        with_values(None, &["a"], 60),
        TxtRecordSet {
            ttl: 60,
            values: vec!["a".into()]
        }
    );
}

#[test]
fn removes_only_our_values() {
    assert_eq!(
        without_values(&set(&["theirs", "a", "b"]), &["a", "b"]),
        Some(set(&["theirs"]))
    );
    assert_eq!(without_values(&set(&["a", "b"]), &["a", "b"]), None);
    assert_eq!(
        without_values(&set(&["theirs"]), &["a"]),
        Some(set(&["theirs"]))
    );
}

#[test]
fn groups_apex_and_wildcard_values_under_one_record() {
    let cs = [
        Challenge {
            record: "_acme-challenge.example.cn".into(),
            value: "apex".into(),
            zone: None,
            role: None,
        },
        Challenge {
            record: "_acme-challenge.example.cn".into(),
            value: "wild".into(),
            zone: Some("Z2".into()),
            role: None,
        },
        Challenge {
            record: "_acme-challenge.cdn.example.cn".into(),
            value: "cdn".into(),
            zone: None,
            role: None,
        },
    ];
    let grouped = by_record(&cs);
    assert_eq!(
        grouped["_acme-challenge.example.cn"],
        (Some("Z2"), vec!["apex", "wild"]),
        "the zone a challenge names holds the record's every value"
    );
    assert_eq!(grouped.len(), 2);
}

fn solver_over(zones: &[(&str, &str)]) -> Route53Solver {
    let sdk = aws_config::SdkConfig::builder()
        .behavior_version(aws_config::BehaviorVersion::latest())
        .build();
    let zones = zones
        .iter()
        .map(|(id, name)| HostedZone {
            id: (*id).into(),
            name: (*name).into(),
        })
        .collect();
    Route53Solver::new(Route53::new(&sdk), zones, Duration::from_secs(1))
}

#[test]
fn two_public_zones_with_one_name_are_named_not_guessed() {
    let solver = solver_over(&[
        ("ZOLD", "example.cn"),
        ("ZNEW", "example.cn"),
        ("ZCDN", "cdn.example.cn"),
    ]);
    let record = "_acme-challenge.www.example.cn";
    let e = solver.zone_for(record, None).unwrap_err().to_string();
    assert!(
        e.contains("2 public hosted zones named example.cn (ZOLD, ZNEW)")
            && e.contains("dns.hosted_zone_id"),
        "{e}"
    );
    assert_eq!(solver.zone_for(record, Some("ZNEW")).unwrap().id, "ZNEW");
    assert_eq!(
        solver
            .zone_for("_acme-challenge.cdn.example.cn", None)
            .unwrap()
            .id,
        "ZCDN",
        "a longer zone owns its names alone"
    );
    assert_eq!(
        solver
            .zone_for("_acme-challenge.cdn.example.cn", Some("ZOLD"))
            .unwrap()
            .id,
        "ZOLD",
        "a named parent zone holds the record too"
    );
    let e = solver
        .zone_for(record, Some("ZCDN"))
        .unwrap_err()
        .to_string();
    assert!(e.contains("hosted zone ZCDN (dns.hosted_zone_id) is not a public hosted zone of the function's account holding _acme-challenge.www.example.cn"), "{e}");
    let e = solver.zone_for(record, Some("ZMISSING")).unwrap_err();
    assert!(matches!(e, SolverError::NamedZone { .. }), "{e}");
}

/// A solver that records what it is asked to present and clean up.
#[derive(Default)]
struct Recording(std::sync::Mutex<Vec<(&'static str, Vec<Challenge>)>>);

impl Recording {
    fn record(&self, what: &'static str, challenges: &[Challenge]) -> Result<(), SolverError> {
        self.0.lock().unwrap().push((what, challenges.to_vec()));
        Ok(())
    }
}

impl Dns01Solver for Recording {
    async fn present(&self, challenges: &[Challenge]) -> Result<(), SolverError> {
        self.record("present", challenges)
    }
    async fn cleanup(&self, challenges: &[Challenge]) -> Result<(), SolverError> {
        self.record("cleanup", challenges)
    }
}

#[tokio::test]
async fn placed_challenges_go_where_they_were_located_and_an_unplaced_one_writes_nothing() {
    let placements = [Placement {
        record: "_acme-challenge.www.example.com.cn".into(),
        delegated_to: Some("_acme-challenge.www.example.com.cn.challenges.example.net".into()),
        zone: "ZCHAL".into(),
        zone_name: "challenges.example.net".into(),
        account: None,
    }];
    let inner = Recording::default();
    let placed = Placed::new(&inner, None, &placements);
    // The CA may spell the name otherwise: compared lowercase, without a trailing dot.
    let asked = [Challenge::new("_acme-challenge.WWW.example.com.cn.", "v1")];
    placed.present(&asked).await.unwrap();
    {
        let calls = inner.0.lock().unwrap();
        let written = &calls[0].1[0];
        assert_eq!(
            written.record,
            "_acme-challenge.www.example.com.cn.challenges.example.net"
        );
        assert_eq!(
            written.zone.as_deref(),
            Some("ZCHAL"),
            "the zone journaled is the one located"
        );
    }
    let stray = [
        Challenge::new("_acme-challenge.www.example.com.cn", "v1"),
        Challenge::new("_acme-challenge.img.example.com.cn", "v2"),
    ];
    let e = placed.present(&stray).await.unwrap_err().to_string();
    assert!(
        e.contains("_acme-challenge.img.example.com.cn, not placed"),
        "{e}"
    );
    assert_eq!(inner.0.lock().unwrap().len(), 1, "nothing more was written");
    placed.cleanup(&stray).await.unwrap();
    let calls = inner.0.lock().unwrap();
    assert_eq!(calls[1].0, "cleanup");
    assert_eq!(calls[1].1.len(), 1, "only what was placed is cleaned");
}
