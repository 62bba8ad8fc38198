//! Rate limits: a failing domain must not burn the CA's budget (issue #13, part 3), end to end on
//! the bed. The ARI proxy in front of Pebble answers 429 `rateLimited` with `Retry-After` as Let's
//! Encrypt does (tests/bed/ari_proxy.py `POST /limits`, fidelity tests in
//! tests/bed/test_fidelity_acme.py) and counts the newOrder and renewalInfo requests it gets, so
//! each test can say what a run did *not* ask of the CA.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use cert_rotator::handler::InvocationError;
use cert_rotator::model::inventory::{self, MANAGED_BY, TAG_MANAGED_BY, TAG_NAMES_HASH};
use cert_rotator::model::names::DomainName;
use cert_rotator::plan::backoff::{self, Failures};
use cert_rotator::report::{DomainReport, Outcome, Report};
use common::world::{Invocation, World};
use serde_json::{json, Value};
use time::{Duration, OffsetDateTime};

/// A request to the ARI proxy's control port; the JSON it answers.
fn proxy(method: &str, path: &str, body: &Value) -> Value {
    let url = format!("{}{path}", common::bed()["BED_ARI_CONTROL_URL"]);
    let (status, answer) = common::http(method, &url, &body.to_string());
    assert_eq!(status, 200, "{method} {path}: {answer}");
    serde_json::from_str(&answer).unwrap()
}

/// How many newOrder requests for exactly `names` reached the CA.
fn orders(names: &[&str]) -> u64 {
    let mut sorted = names.to_vec();
    sorted.sort_unstable();
    proxy("GET", "/orders", &Value::Null)[sorted.join(",")]
        .as_u64()
        .unwrap_or(0)
}

/// How many renewalInfo requests for the certificate `ari_id` reached the CA.
fn renewal_requests(ari_id: &str) -> u64 {
    proxy("GET", "/requests", &Value::Null)[ari_id]
        .as_u64()
        .unwrap_or(0)
}

fn domain<'r>(report: &'r Report, name: &str) -> &'r DomainReport {
    report
        .domains
        .iter()
        .find(|d| d.names[0] == name)
        .unwrap_or_else(|| panic!("{name} is not in {report:#?}"))
}

/// The failure memory of `names` in the world's bucket, if any.
async fn memory(w: &World, names: &[&str]) -> Option<Failures> {
    let parsed: Vec<DomainName> = names.iter().map(|n| n.parse().unwrap()).collect();
    let key = backoff::memory_key(&inventory::names_hash(&parsed));
    let got = w
        .archive()
        .get_object()
        .bucket(&w.bucket)
        .key(key)
        .send()
        .await
        .ok()?;
    let body = got.body.collect().await.unwrap().into_bytes();
    Some(serde_json::from_slice(&body).unwrap())
}

/// `n` due domains, each on its own distribution; returns their names.
async fn due(w: &World, labels: &[&str]) -> Vec<String> {
    let mut names = Vec::new();
    for label in labels {
        let name = w.name(label);
        w.due(&format!("{label}-old"), &[&name], &[&name]).await;
        names.push(name);
    }
    names
}

fn event_of(names: &[String]) -> Value {
    let domains: Vec<Value> = names.iter().map(|n| json!({"names": [n]})).collect();
    json!({"domains": domains})
}

#[tokio::test]
async fn a_429_defers_the_domain_until_the_cas_date_and_the_next_run_does_not_ask_again() {
    let w = World::new("rl-set").await;
    let names = due(&w, &["limited", "other"]).await;
    let (limited, other) = (names[0].as_str(), names[1].as_str());
    // "New Certificates per Exact Set of Identifiers", spent: the CA refuses this set for a week.
    let week = 7 * 24 * 3600;
    proxy(
        "POST",
        "/limits",
        &json!({"kind": "exact-set", "identifiers": [limited], "max": 0, "window": week}),
    );
    let before = OffsetDateTime::now_utc();
    let first = w.run_ok(&event_of(&names)).await;
    let d = domain(&first, limited);
    assert_eq!(d.outcome, Outcome::Deferred, "{d:#?}");
    let until = d.not_before.expect("the report says until when");
    assert!(
        (until - (before + Duration::seconds(week))).abs() < Duration::minutes(1),
        "the CA's Retry-After: {until}"
    );
    let error = d.error.clone().unwrap();
    assert!(
        error
            .contains("too many certificates (0) already issued for this exact set of identifiers")
            && error.contains("urn:ietf:params:acme:error:rateLimited")
            && error.contains(&backoff::rfc3339(&until)),
        "{error}"
    );
    assert_eq!(domain(&first, other).outcome, Outcome::Renewed);
    assert_eq!(orders(&[limited]), 1);
    let remembered = memory(&w, &[limited]).await.expect("remembered in S3");
    assert_eq!(remembered.not_before, until);
    assert!(remembered.rate_limit.is_some());

    // A manual re-run right after, forced even: the CA is not asked for these names.
    let mut forced = event_of(&names);
    forced["domains"][0]["force"] = json!(true);
    let second = w.run_ok(&forced).await;
    let d = domain(&second, limited);
    assert_eq!(d.outcome, Outcome::Deferred, "{d:#?}");
    assert_eq!(d.not_before, Some(until));
    assert_eq!(orders(&[limited]), 1, "no new order before the CA's date");
    assert_eq!(domain(&second, other).outcome, Outcome::Kept);
}

#[tokio::test]
async fn the_accounts_new_orders_limit_stops_the_runs_later_orders_and_is_remembered() {
    let w = World::new("rl-acct").await;
    let names = due(&w, &["first", "b", "c"]).await;
    let first = w.run_ok(&event_of(&names[..1])).await;
    assert_eq!(first.domains[0].outcome, Outcome::Renewed, "{first:#?}");
    // The account's kid, from the secret the first run stored.
    let secret = w.account_secret_value().await.unwrap();
    let kid = serde_json::from_str::<Value>(&secret).unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    // "New Orders per Account" with one order left for 3 hours: the first run used it.
    proxy(
        "POST",
        "/limits",
        &json!({"kind": "new-orders-per-account", "account": kid, "max": 1, "window": 10800}),
    );
    let one_at_a_time = [("CERT_ROTATOR_CONCURRENCY", "1")];
    let how = || Invocation::overrides(&one_at_a_time);
    let rest = event_of(&names[1..]);
    let second = w.run_with(how(), &rest).await.unwrap();
    let (b, c) = (names[1].as_str(), names[2].as_str());
    let (db, dc) = (domain(&second, b), domain(&second, c));
    assert_eq!(
        (db.outcome, dc.outcome),
        (Outcome::Deferred, Outcome::Deferred),
        "{second:#?}"
    );
    assert_eq!(db.not_before, dc.not_before, "one account, one date");
    assert!(db
        .error
        .as_ref()
        .unwrap()
        .contains("too many new orders (1) from this account"));
    assert!(
        dc.error.as_ref().unwrap().contains("not sent"),
        "{:?}",
        dc.error
    );
    assert_eq!(
        (orders(&[b]), orders(&[c])),
        (1, 0),
        "c's order was never sent"
    );

    let third = w.run_with(how(), &rest).await.unwrap();
    assert!(third.domains.iter().all(|d| d.outcome == Outcome::Deferred));
    assert_eq!(
        (orders(&[b]), orders(&[c])),
        (1, 0),
        "nothing asked on the re-run"
    );
    assert_eq!(third.domains[0].not_before, db.not_before);
}

#[tokio::test]
async fn a_domain_whose_issuance_fails_backs_off_and_a_success_clears_the_memory() {
    let w = World::new("rl-back").await;
    let names = due(&w, &["flaky"]).await;
    let name = names[0].as_str();
    // The CA refuses the next two orders for the name.
    proxy(
        "POST",
        "/faults",
        &json!({"path": "/order-plz", "identifier": name, "status": 400,
                "type": "urn:ietf:params:acme:error:rejectedIdentifier",
                "detail": "the CA refuses this name today", "times": 2}),
    );
    let event = event_of(&names);
    let mut forced = event.clone();
    forced["domains"][0]["force"] = json!(true);

    let start = OffsetDateTime::now_utc();
    let Err(InvocationError::Domains { report, .. }) = w.run(&event).await else {
        panic!("the first run fails");
    };
    let d = &report.domains[0];
    assert_eq!(d.outcome, Outcome::Failed);
    let next = d
        .not_before
        .expect("the report says when the next order may go");
    assert!(
        (next - start - Duration::hours(1)).abs() < Duration::minutes(1),
        "{next}"
    );
    let m = memory(&w, &[name]).await.unwrap();
    assert_eq!(m.failures, 1);
    assert!(
        m.last_error.contains("the CA refuses this name today"),
        "{m:?}"
    );

    // Run again right after, as a person would: it waits, without an order.
    let second = w.run_ok(&event).await;
    let d = &second.domains[0];
    assert_eq!(d.outcome, Outcome::Deferred, "{d:#?}");
    assert_eq!(d.not_before, Some(m.not_before));
    assert!(
        d.error
            .as_ref()
            .unwrap()
            .contains("these names failed to be issued once in a row"),
        "{:?}",
        d.error
    );
    assert_eq!(orders(&[name]), 1);

    // Forced by hand it orders; failing again doubles the wait.
    let Err(InvocationError::Domains { .. }) = w.run(&forced).await else {
        panic!("the CA still refuses");
    };
    assert_eq!(orders(&[name]), 2);
    let m = memory(&w, &[name]).await.unwrap();
    assert_eq!(m.failures, 2);
    assert!(m.not_before - m.failed_at == Duration::hours(2), "{m:?}");

    let fixed = w.run_ok(&forced).await;
    assert_eq!(fixed.domains[0].outcome, Outcome::Renewed, "{fixed:#?}");
    assert!(memory(&w, &[name]).await.is_none(), "a success forgets");
}

#[tokio::test]
async fn a_renewal_window_is_not_asked_for_again_before_its_retry_after_and_still_decides() {
    let w = World::new("rl-ari").await;
    let names = due(&w, &["cdn"]).await;
    let event = event_of(&names);
    let first = w.run_ok(&event).await;
    assert_eq!(first.domains[0].outcome, Outcome::Renewed, "{first:#?}");
    let issued = first.domains[0].new_certificate.clone().unwrap().id;
    let ari_id = w.start_renewal_window(&issued).await;
    let window = |days: i64| {
        let at = |d| backoff::rfc3339(&(OffsetDateTime::now_utc() + Duration::days(d)));
        json!({"start": at(days), "end": at(days + 1)})
    };
    proxy("PUT", &format!("/windows/{ari_id}"), &window(40));

    let second = w.run_ok(&event).await;
    assert_eq!(second.domains[0].outcome, Outcome::Kept, "{second:#?}");
    let asked = renewal_requests(&ari_id);
    assert!(asked >= 1);
    let renew_at = |r: &Report| {
        serde_json::to_value(r.domains[0].plan.as_ref().unwrap()).unwrap()["renew_at"].clone()
    };
    let first_window = renew_at(&second);

    // The CA moves the window; a run within the Retry-After (6 h on the bed, as Let's Encrypt)
    // does not ask, and decides by the window it remembers.
    proxy("PUT", &format!("/windows/{ari_id}"), &window(50));
    let third = w.run_ok(&event).await;
    assert_eq!(third.domains[0].outcome, Outcome::Kept);
    assert_eq!(renewal_requests(&ari_id), asked, "no renewalInfo request");
    assert_eq!(
        renew_at(&third),
        first_window,
        "the remembered window decided"
    );
}

#[tokio::test]
async fn force_in_a_scheduled_event_is_refused_for_that_domain_and_the_others_renew() {
    let w = World::new("rl-sched").await;
    let names = due(&w, &["forced", "plain"]).await;
    let event = json!({
        "schedule": {"arn": "arn:aws-cn:scheduler:cn-north-1:111122223333:schedule/default/daily",
                     "time": "2026-12-02T03:17:00Z"},
        "domains": [{"names": [names[0]], "force": true}, {"names": [names[1]]}]
    });
    let Err(InvocationError::Domains { report, failed, .. }) = w.run(&event).await else {
        panic!("a refused domain fails the invocation, so the Errors alarm fires");
    };
    assert_eq!(failed, 1);
    let refused = domain(&report, &names[0]);
    assert_eq!(refused.outcome, Outcome::Failed);
    let error = refused.error.clone().unwrap();
    assert!(
        error.contains("domains[0].force")
            && error.contains(&names[0])
            && error.contains("Domains parameter")
            && error.contains("invoke the function by hand with force"),
        "{error}"
    );
    assert_eq!(orders(&[&names[0]]), 0, "nothing was asked for it");
    assert_eq!(domain(&report, &names[1]).outcome, Outcome::Renewed);
}

#[tokio::test]
async fn a_reimport_that_keeps_failing_costs_one_issuance_not_one_per_run() {
    let w = World::new("rl-acm").await;
    let name = w.name("alb");
    let parsed: Vec<DomainName> = vec![name.parse().unwrap()];
    // cert-rotator's certificate in ACM, due (80 days into 90).
    let (cert, key) =
        w.ca.issue(&[&name], OffsetDateTime::now_utc() - Duration::days(80), 90);
    let tag = |k: &str, v: &str| {
        aws_sdk_acm::types::Tag::builder()
            .key(k)
            .value(v)
            .build()
            .unwrap()
    };
    w.acm("cn-north-1")
        .import_certificate()
        .certificate(aws_sdk_acm::primitives::Blob::new(cert))
        .private_key(aws_sdk_acm::primitives::Blob::new(key))
        .certificate_chain(aws_sdk_acm::primitives::Blob::new(w.ca.pem.clone()))
        .tags(tag(TAG_MANAGED_BY, MANAGED_BY))
        .tags(tag(TAG_NAMES_HASH, &inventory::names_hash(&parsed)))
        .send()
        .await
        .unwrap();
    // ACM refuses the next two imports into the region (an error the SDK does not retry).
    let mut rule = json!({"service": "acm", "operation": "ImportCertificate", "code": "AccessDeniedException",
                          "status": 400, "message": "not authorized to perform acm:ImportCertificate", "times": 2});
    rule["access_key"] = json!(w.credentials.access_key_id());
    let url = format!("{}/faults", common::bed()["BED_CONTROL_URL"]);
    assert_eq!(common::http("POST", &url, &rule.to_string()).0, 200);

    // ACM keeps a certificate's key type on re-import: the bed's CA made a P-256 key.
    let event = json!({"domains": [{"names": [name], "key_type": "ecdsa-p256",
                                    "targets": [{"type": "acm", "region": "cn-north-1"}]}]});
    for run in 1..=2 {
        let Err(InvocationError::Domains { report, .. }) = w.run(&event).await else {
            panic!("run {run}: the re-import is refused");
        };
        let d = &report.domains[0];
        assert_eq!(d.outcome, Outcome::Failed, "run {run}: {d:#?}");
        let error = d.error.clone().unwrap();
        assert!(
            error.contains("AccessDeniedException"),
            "run {run}: {error}"
        );
    }
    assert_eq!(
        orders(&[&name]),
        1,
        "the second run re-imported the archived certificate"
    );
    assert!(
        memory(&w, &[&name]).await.is_none(),
        "not a failed issuance"
    );
    let fixed = w.run_ok(&event).await;
    let d = &fixed.domains[0];
    assert_eq!(d.outcome, Outcome::Deployed, "{d:#?}");
    assert_eq!(d.acm[0].result, "reimported");
    assert_eq!(orders(&[&name]), 1);
}

/// A domain taken out of the list leaves no failure memory behind: the next scheduled run (whose
/// event names every domain) deletes it; a manual run with a few domains keeps the others'.
#[tokio::test]
async fn a_scheduled_run_prunes_the_failure_memory_of_domains_no_longer_listed() {
    let w = World::new("rl-prune").await;
    let names = due(&w, &["gone", "kept"]).await;
    let (gone, kept) = (names[0].as_str(), names[1].as_str());
    // Both fail once and are remembered.
    for name in [gone, kept] {
        proxy(
            "POST",
            "/faults",
            &json!({"path": "/order-plz", "identifier": name, "status": 400,
                    "type": "urn:ietf:params:acme:error:rejectedIdentifier",
                    "detail": "refused today", "times": 1}),
        );
    }
    assert!(w.run(&event_of(&names)).await.is_err());
    assert!(memory(&w, &[gone]).await.is_some() && memory(&w, &[kept]).await.is_some());
    // A manual run with `kept` alone forgets nothing of `gone`.
    let _ = w.run(&event_of(&[kept.to_owned()])).await;
    assert!(memory(&w, &[gone]).await.is_some(), "a manual run keeps it");
    // The schedule's event without `gone`: its memory goes, `kept`'s stays.
    let mut scheduled = event_of(&[kept.to_owned()]);
    scheduled["schedule"] = json!({"arn": "arn:aws-cn:events:cn-north-1:123456789012:rule/daily", "time": "2026-12-08T00:17:00Z"});
    let report = match w.run(&scheduled).await {
        Ok(r) => r,
        Err(InvocationError::Domains { report, .. }) => *report,
        Err(e) => panic!("{e}"),
    };
    assert!(memory(&w, &[gone]).await.is_none(), "pruned");
    assert!(memory(&w, &[kept]).await.is_some(), "still listed: kept");
    let hash = inventory::names_hash(&[gone.parse::<DomainName>().unwrap()]);
    assert!(
        report
            .archive_pruned
            .iter()
            .any(|r| r.name == backoff::memory_key(&hash)),
        "{:?}",
        report.archive_pruned
    );
}

/// A 429 on the renewal-information request itself is remembered like any other rate limit: the
/// run falls back on the lifetime rule, and the next runs do not ask before the CA's date.
#[tokio::test]
async fn a_429_on_renewal_information_is_obeyed_by_the_next_runs() {
    let w = World::new("rl-ari-429").await;
    let names = due(&w, &["cdn"]).await;
    let event = event_of(&names);
    let first = w.run_ok(&event).await;
    assert_eq!(first.domains[0].outcome, Outcome::Renewed, "{first:#?}");
    let issued = first.domains[0].new_certificate.clone().unwrap().id;
    let ari_id = w.start_renewal_window(&issued).await;
    let at = |d| backoff::rfc3339(&(OffsetDateTime::now_utc() + Duration::days(d)));
    let limited = json!({"start": at(40), "end": at(41), "rate_limited": 3600});
    proxy("PUT", &format!("/windows/{ari_id}"), &limited);
    let before = renewal_requests(&ari_id);

    let second = w.run_ok(&event).await;
    assert_eq!(
        second.domains[0].outcome,
        Outcome::Kept,
        "the lifetime rule: {second:#?}"
    );
    assert_eq!(renewal_requests(&ari_id), before + 1, "asked once");
    let third = w.run_ok(&event).await;
    assert_eq!(third.domains[0].outcome, Outcome::Kept);
    assert_eq!(
        renewal_requests(&ari_id),
        before + 1,
        "not asked before the CA's date"
    );
    let stored = w
        .archive()
        .get_object()
        .bucket(&w.bucket)
        .key(backoff::RENEWAL_INFO_LIMIT_KEY)
        .send()
        .await
        .expect("the CA's date is remembered");
    let body = stored.body.collect().await.unwrap().into_bytes();
    let until: Value = serde_json::from_slice(&body).unwrap();
    assert!(until["until"].is_string(), "{until}");
}
