//! DNS-01 issuance and ACME Renewal Information, end to end on the bed: TXT records written
//! through the Route 53 API of moto, answered by the bed's DNS from Route 53 state, validated by
//! Pebble (which really validates: its always-valid mode is never on), renewal windows served by
//! the ARI proxy.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use cert_rotator::acme::dns01::{Challenge, Dns01Solver, Route53Solver, SolverError};
use cert_rotator::acme::propagation::Propagation;
use cert_rotator::acme::{self, AcmeError, NewKey, OrderOptions, OrderRequest};
use cert_rotator::aws::route53::Route53;
use cert_rotator::certs::certificate;
use cert_rotator::config::KeyType;
use cert_rotator::model::names::DomainName;
use common::world::World;
use instant_acme::RetryPolicy;
use time::OffsetDateTime;

fn names(ns: &[String]) -> Vec<DomainName> {
    ns.iter().map(|n| n.parse().unwrap()).collect()
}

fn retry() -> RetryPolicy {
    RetryPolicy::new()
        .initial_delay(Duration::from_millis(100))
        .timeout(Duration::from_secs(60))
}

/// A solver that, like the product, confirms each value at the zone's name servers (the bed's
/// DNS, reached as Route 53's would be) when the bed can offer port 53.
async fn solver(sdk: &aws_config::SdkConfig) -> Route53Solver {
    let r53 = Route53::new(sdk);
    let zones = r53.public_zones().await.unwrap();
    let solver = Route53Solver::new(r53, zones, Duration::from_secs(120));
    let config = common::acme_run_config();
    if !config.dns.check_authoritative {
        return solver;
    }
    solver.with_propagation(Propagation::new(config.dns.resolver).unwrap())
}

#[tokio::test]
async fn dns01_issuance_is_validated_by_pebble_through_route53_state_and_cleans_up() {
    // The product's adapters as the function's role, in a world (account, zone) of its own.
    let w = World::new("issue").await;
    let (sdk, zone, zone_id) = (&w.function, w.zone.clone(), w.zone_id.clone());
    let wanted = names(&[zone.clone(), format!("*.{zone}"), format!("www.{zone}")]);
    let (account, _credentials) = acme::create_account(&common::acme_config(), None)
        .await
        .unwrap();
    let solver = solver(sdk).await;

    let request = OrderRequest {
        names: &wanted,
        options: &OrderOptions {
            key: NewKey::Generate(KeyType::Rsa2048),
            profile: None,
        },
        replaces: None,
        retry: retry(),
    };
    let issued = acme::issue(&account, &request, &solver).await.unwrap();

    let leaf = certificate::check_bundle(
        &issued.chain_pem,
        issued.key.expose(),
        &wanted,
        OffsetDateTime::now_utc(),
    )
    .unwrap();
    // Pebble's notAfter is notBefore + period - 1 s, as RFC 5280 counts the last second in.
    assert!(
        (leaf.lifetime() - time::Duration::days(90)).abs() <= time::Duration::seconds(1),
        "{}",
        leaf.lifetime()
    );
    assert!(
        certificate::pem_chain(&issued.chain_pem).unwrap().len() >= 2,
        "leaf and intermediate"
    );
    assert!(issued.key.expose().contains("BEGIN PRIVATE KEY"));
    assert_eq!(format!("{:?}", issued.key), "PrivateKeyPem(<redacted>)");
    let r53 = Route53::new(sdk);
    for record in [
        format!("_acme-challenge.{zone}"),
        format!("_acme-challenge.www.{zone}"),
    ] {
        assert_eq!(
            r53.txt(&zone_id, &record).await.unwrap(),
            None,
            "{record} left behind"
        );
    }
}

/// Publishes wrong values: Pebble must refuse, which proves it reads DNS for real.
struct Tampering<'a>(&'a Route53Solver);

impl Dns01Solver for Tampering<'_> {
    async fn present(&self, challenges: &[Challenge]) -> Result<(), SolverError> {
        self.0.present(&tampered(challenges)).await
    }
    async fn cleanup(&self, challenges: &[Challenge]) -> Result<(), SolverError> {
        self.0.cleanup(&tampered(challenges)).await
    }
}

fn tampered(challenges: &[Challenge]) -> Vec<Challenge> {
    challenges
        .iter()
        .map(|c| Challenge {
            record: c.record.clone(),
            value: format!("wrong-{}", &c.value[..8]),
            zone: c.zone.clone(),
            role: None,
        })
        .collect()
}

#[tokio::test]
async fn a_wrong_txt_value_fails_validation_with_the_name_and_is_cleaned_up() {
    // The product's adapters as the function's role, in a world (account, zone) of its own.
    let w = World::new("wrong").await;
    let (sdk, zone, zone_id) = (&w.function, w.zone.clone(), w.zone_id.clone());
    let wanted = names(&[format!("cdn.{zone}")]);
    let (account, _) = acme::create_account(&common::acme_config(), None)
        .await
        .unwrap();
    let solver = solver(sdk).await;
    let request = OrderRequest {
        names: &wanted,
        options: &OrderOptions {
            key: NewKey::Generate(KeyType::EcdsaP256),
            profile: None,
        },
        replaces: None,
        retry: retry(),
    };
    let err = acme::issue(&account, &request, &Tampering(&solver))
        .await
        .unwrap_err();
    assert!(
        matches!(err, AcmeError::Validation { ref name, .. } | AcmeError::Order { names: ref name, .. } if name.contains(&format!("cdn.{zone}"))),
        "{err}"
    );
    assert_eq!(
        Route53::new(sdk)
            .txt(&zone_id, &format!("_acme-challenge.cdn.{zone}"))
            .await
            .unwrap(),
        None
    );
}

#[tokio::test]
async fn a_name_no_hosted_zone_owns_is_refused_with_what_to_do() {
    let w = World::new("nozone").await;
    let sdk = &w.function;
    let wanted = names(&[format!("{}.nozone.invalid", common::unique("x"))]);
    let (account, _) = acme::create_account(&common::acme_config(), None)
        .await
        .unwrap();
    let solver = solver(sdk).await;
    let request = OrderRequest {
        names: &wanted,
        options: &OrderOptions {
            key: NewKey::Generate(KeyType::EcdsaP256),
            profile: None,
        },
        replaces: None,
        retry: retry(),
    };
    let err = acme::issue(&account, &request, &solver)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains(
            "no public Route 53 hosted zone of the function's account contains _acme-challenge."
        ) && err.contains("create a hosted zone"),
        "{err}"
    );
}

#[tokio::test]
async fn renewal_information_comes_through_the_ari_proxy() {
    // The product's adapters as the function's role, in a world (account, zone) of its own.
    let w = World::new("ari").await;
    let (sdk, zone) = (&w.function, w.zone.clone());
    let wanted = names(&[format!("a.{zone}")]);
    let (account, _) = acme::create_account(&common::acme_config(), None)
        .await
        .unwrap();
    let request = OrderRequest {
        names: &wanted,
        options: &OrderOptions {
            key: NewKey::Generate(KeyType::EcdsaP256),
            profile: None,
        },
        replaces: None,
        retry: retry(),
    };
    let issued = acme::issue(&account, &request, &solver(sdk).await)
        .await
        .unwrap();
    let leaf = certificate::info(&certificate::pem_chain(&issued.chain_pem).unwrap()[0]).unwrap();

    // The proxy saw the certificate issued and suggests a window inside its lifetime, to be
    // asked for again after its Retry-After (6 hours, as Let's Encrypt).
    let (window, ask_after) = acme::renewal_window(&account, &leaf.der)
        .await
        .unwrap()
        .expect("the bed offers ARI");
    assert!(
        leaf.not_before < window.start && window.start < window.end && window.end < leaf.not_after,
        "{window:?}"
    );
    let in_six_hours = time::OffsetDateTime::now_utc() + time::Duration::hours(6);
    assert!(
        (ask_after - in_six_hours).abs() < time::Duration::minutes(1),
        "{ask_after}"
    );

    // A window a test sets is what the client gets, and a renewal can name what it replaces.
    let id = acme::certificate_id(&leaf.der).unwrap();
    let (status, _) = common::http(
        "PUT",
        &format!("{}/windows/{id}", common::bed()["BED_ARI_CONTROL_URL"]),
        r#"{"start": "2020-01-01T00:00:00Z", "end": "2020-01-02T00:00:00Z"}"#,
    );
    assert_eq!(status, 200);
    let (window, _) = acme::renewal_window(&account, &leaf.der)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(window.start, time::macros::datetime!(2020-01-01 00:00 UTC));
    let renewal = OrderRequest {
        names: &wanted,
        options: &OrderOptions {
            key: NewKey::Generate(KeyType::EcdsaP256),
            profile: None,
        },
        replaces: Some(id),
        retry: retry(),
    };
    acme::issue(&account, &renewal, &solver(sdk).await)
        .await
        .unwrap();
}

#[tokio::test]
async fn the_authoritative_check_waits_for_every_name_server_and_names_the_laggard() {
    let config = common::acme_run_config();
    assert!(
        config.dns.check_authoritative,
        "the bed offers its DNS on port 53 (needs root, as CI has)"
    );
    // The product's adapters as the function's role, in a world (account, zone) of its own.
    let w = World::new("auth").await;
    let (sdk, zone, zone_id) = (&w.function, w.zone.clone(), w.zone_id.clone());
    let r53 = Route53::new(sdk);
    let servers = r53.name_servers(&zone_id).await.unwrap();
    assert!(!servers.is_empty());
    let record = format!("_acme-challenge.{zone}");
    let propagation = Propagation::new(config.dns.resolver).unwrap();
    let err = propagation
        .confirm(
            &servers,
            &record,
            &["not-there-yet"],
            Duration::from_secs(3),
        )
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("did not reach every authoritative server")
            && err.contains(servers[0].trim_end_matches('.')),
        "{err}"
    );
    let set = cert_rotator::aws::route53::TxtRecordSet {
        ttl: 60,
        values: vec!["now-there".into()],
    };
    r53.upsert_txt(&zone_id, &record, &set).await.unwrap();
    propagation
        .confirm(&servers, &record, &["now-there"], Duration::from_secs(10))
        .await
        .unwrap();
}

/// A solver without the authoritative check, and a Route 53 adapter to look with.
async fn plain_solver(sdk: &aws_config::SdkConfig) -> (Route53, Route53Solver) {
    let r53 = Route53::new(sdk);
    let zones = r53.public_zones().await.unwrap();
    let solver = Route53Solver::new(Route53::new(sdk), zones, Duration::from_secs(60));
    (r53, solver)
}

/// The solver's writes: one CREATE batch when no record exists, a merge when one does, and a
/// cleanup that removes exactly our values — also when someone added a value to a record we
/// created (the read-free DELETE is refused as a whole and the record is rewritten instead).
#[tokio::test]
async fn challenge_records_are_created_merged_and_cleaned_without_touching_other_values() {
    // The product's adapters as the function's role, in a world (account, zone) of its own.
    let w = World::new("txt").await;
    let (sdk, zone, zone_id) = (&w.function, w.zone.clone(), w.zone_id.clone());
    let (r53, solver) = plain_solver(sdk).await;
    let apex = format!("_acme-challenge.{zone}");
    let www = format!("_acme-challenge.www.{zone}");
    let challenge = |record: &str, value: &str| Challenge {
        record: record.to_owned(),
        value: value.to_owned(),
        zone: None,
        role: None,
    };
    let values = |set: Option<cert_rotator::aws::route53::TxtRecordSet>| {
        let mut v = set.map(|s| s.values).unwrap_or_default();
        v.sort();
        v
    };

    // Nothing there: created (apex and wildcard values share the apex record).
    let first = [
        challenge(&apex, "apex"),
        challenge(&apex, "wild"),
        challenge(&www, "www"),
    ];
    solver.present(&first).await.unwrap();
    assert_eq!(
        values(r53.txt(&zone_id, &apex).await.unwrap()),
        ["apex", "wild"]
    );
    assert_eq!(values(r53.txt(&zone_id, &www).await.unwrap()), ["www"]);

    // Someone else adds a value to a record we created; a second order merges into the other.
    let theirs = cert_rotator::aws::route53::TxtRecordSet {
        ttl: 60,
        values: vec!["apex".into(), "wild".into(), "theirs".into()],
    };
    r53.upsert_txt(&zone_id, &apex, &theirs).await.unwrap();
    let second = [challenge(&www, "second")];
    solver.present(&second).await.unwrap();
    assert_eq!(
        values(r53.txt(&zone_id, &www).await.unwrap()),
        ["second", "www"]
    );

    solver.cleanup(&first).await.unwrap();
    assert_eq!(values(r53.txt(&zone_id, &apex).await.unwrap()), ["theirs"]);
    assert_eq!(values(r53.txt(&zone_id, &www).await.unwrap()), ["second"]);
    solver.cleanup(&second).await.unwrap();
    assert_eq!(r53.txt(&zone_id, &www).await.unwrap(), None);
    assert_eq!(values(r53.txt(&zone_id, &apex).await.unwrap()), ["theirs"]);
}

/// Orders presenting at once share batches (one CREATE per Route 53 turn and zone); two orders
/// on one record cannot share one, and the later merges. Every value is published, and cleaning
/// up at once leaves nothing but what was there before.
#[tokio::test]
async fn concurrent_orders_share_batches_and_clean_up_exactly() {
    // The product's adapters as the function's role, in a world (account, zone) of its own.
    let w = World::new("gather").await;
    let (sdk, zone, zone_id) = (&w.function, w.zone.clone(), w.zone_id.clone());
    let (r53, solver) = plain_solver(sdk).await;
    // Twelve orders: d0..d9 each with their own two records, and two on the shared apex record.
    let mut orders: Vec<Vec<Challenge>> = (0..10)
        .map(|i| {
            ["", "www."]
                .iter()
                .map(|p| Challenge {
                    record: format!("_acme-challenge.{p}d{i}.{zone}"),
                    value: format!("v{i}{p}"),
                    zone: None,
                    role: None,
                })
                .collect()
        })
        .collect();
    for who in ["apex", "wild"] {
        orders.push(vec![Challenge {
            record: format!("_acme-challenge.{zone}"),
            value: who.into(),
            zone: None,
            role: None,
        }]);
    }
    futures::future::try_join_all(orders.iter().map(|o| solver.present(o)))
        .await
        .unwrap();
    for order in &orders {
        for c in order {
            let set = r53.txt(&zone_id, &c.record).await.unwrap().unwrap();
            assert!(
                set.values.contains(&c.value),
                "{} lacks {}",
                c.record,
                c.value
            );
        }
    }
    let mut apex = r53
        .txt(&zone_id, &format!("_acme-challenge.{zone}"))
        .await
        .unwrap()
        .unwrap()
        .values;
    apex.sort();
    assert_eq!(
        apex,
        ["apex", "wild"],
        "the later order merged, not replaced"
    );

    futures::future::try_join_all(orders.iter().map(|o| solver.cleanup(o)))
        .await
        .unwrap();
    for order in &orders {
        for c in order {
            assert_eq!(
                r53.txt(&zone_id, &c.record).await.unwrap(),
                None,
                "{}",
                c.record
            );
        }
    }
}
