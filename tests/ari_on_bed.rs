//! The ARI `replaces` lock-out (issue #13, part 1), end to end. Let's Encrypt refuses an order
//! whose `replaces` names a certificate issued to another account (403) or one that already has a
//! replacement order (409); the bed's ARI proxy does the same (tests/bed/ari_proxy.py, with its
//! fidelity tests in tests/bed/test_fidelity_acme.py). cert-rotator orders again without
//! `replaces`, with a warning in the report, instead of failing every run until the old
//! certificate expires.
#![cfg(feature = "failpoints")]
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use cert_rotator::report::Outcome;
use common::world::{Invocation, World};
use serde_json::json;

/// A world whose distribution serves a certificate cert-rotator issued, with the CA's renewal
/// window started: the next order carries `replaces`. Returns the world, the event, the
/// distribution and the certificate's IAM id.
async fn replaced_soon(prefix: &str) -> (World, serde_json::Value, String, String) {
    let w = World::new(prefix).await;
    let name = w.name("cdn");
    let (dist, _) = w.due("cdn-old", &[&name], &[&name]).await;
    let event = json!({"domains": [{"names": [name]}]});
    let first = w.run_ok(&event).await;
    assert_eq!(first.domains[0].outcome, Outcome::Renewed, "{first:#?}");
    let issued = w.served(&dist).await;
    w.start_renewal_window(&issued).await;
    (w, event, dist, issued)
}

#[tokio::test]
async fn after_an_account_reset_the_renewal_is_ordered_without_replaces() {
    let (w, event, dist, issued) = replaced_soon("ari-reset").await;
    // The README's account reset: set the secret to {} and the next run creates a new account.
    w.reset_account_secret("{}").await;
    let report = w.run_ok(&event).await;
    let d = &report.domains[0];
    assert_eq!(d.outcome, Outcome::Renewed, "{d:#?}");
    let plan = serde_json::to_value(d.plan.as_ref().unwrap()).unwrap();
    assert!(
        plan["replaces"].is_string(),
        "the plan named the certificate: {plan}"
    );
    assert!(
        d.warnings
            .iter()
            .any(|x| x.contains("ordered without replaces") && x.contains("unauthorized")),
        "{:?}",
        d.warnings
    );
    assert_ne!(w.served(&dist).await, issued);
    w.assert_converged().await;
}

#[tokio::test]
async fn a_certificate_migrated_from_another_account_is_renewed() {
    let (w, event, dist, issued) = replaced_soon("ari-migrate").await;
    // Migrated from another client: the served certificate was issued to that client's ACME
    // account, and the stack's secret now holds an account of cert-rotator's own.
    let (_, own) = cert_rotator::acme::create_account(&common::acme_config(), None)
        .await
        .unwrap();
    w.reset_account_secret(&serde_json::to_string(&own).unwrap())
        .await;
    let report = w.run_ok(&event).await;
    let d = &report.domains[0];
    assert_eq!(d.outcome, Outcome::Renewed, "{d:#?}");
    assert!(
        d.warnings
            .iter()
            .any(|x| x.contains("ordered without replaces")),
        "{:?}",
        d.warnings
    );
    assert_ne!(w.served(&dist).await, issued);
}

#[tokio::test]
async fn killed_after_finalizing_a_replacement_the_next_run_still_renews() {
    let (w, event, dist, issued) = replaced_soon("ari-crash").await;
    let (run, _) = w.kill_at(&event, "after-finalize", &[]);
    assert_eq!(w.served(&dist).await, issued, "nothing was deployed");

    // The CA holds a valid replacement order for the served certificate: ordering with
    // `replaces` again is refused with 409 alreadyReplaced, on this run and every later one.
    let (code, out, err) = run.after_kill(&[]).await;
    assert_eq!(code, 0, "the next run fails\n{out}\n{err}");
    let report: serde_json::Value = serde_json::from_str(&out).unwrap();
    let d = &report["domains"][0];
    assert_eq!(d["outcome"], "renewed", "{d:#}");
    let warnings = d["warnings"].to_string();
    assert!(warnings.contains("alreadyReplaced"), "{warnings}");
    assert_ne!(w.served(&dist).await, issued);
    w.assert_converged().await;
}

/// The CA asks for a renewal again right after one (a window in the past): with a cap of one
/// issuance a week, the domain waits and says until when, instead of spending the CA's budget.
#[tokio::test]
async fn a_name_set_issued_up_to_the_weekly_cap_waits_and_says_until_when() {
    let (w, event, dist, issued) = replaced_soon("ari-cap").await;
    let cap = [("CERT_ROTATOR_MAX_ISSUANCES_PER_WEEK", "1")];
    let report = w
        .run_with(Invocation::overrides(&cap), &event)
        .await
        .unwrap();
    let d = &report.domains[0];
    assert_eq!(d.outcome, Outcome::Deferred, "{d:#?}");
    let until = d.not_before.expect("when it may be issued again");
    assert!(
        until > time::OffsetDateTime::now_utc() + time::Duration::days(6),
        "{until}"
    );
    assert!(d
        .error
        .as_deref()
        .unwrap()
        .contains("set force to issue now"));
    assert_eq!(w.served(&dist).await, issued, "nothing changed");
    assert_eq!(w.archived().await.len(), 1, "no second issuance");
}

/// The CA refuses an order carrying `replaces` for a reason of its own (here Boulder's
/// malformed, issue #20): the order goes once more without it, and the domain renews.
#[tokio::test]
async fn any_refusal_of_an_order_with_replaces_is_answered_by_ordering_without_it() {
    let (w, event, dist, issued) = replaced_soon("ari-malformed").await;
    let name = event["domains"][0]["names"][0].as_str().unwrap();
    let rule = json!({"path": "/order-plz", "identifier": name, "status": 400,
                      "type": "urn:ietf:params:acme:error:malformed",
                      "detail": "Could not validate ARI 'replaces' field :: certificate not found",
                      "times": 1});
    let url = format!("{}/faults", common::bed()["BED_ARI_CONTROL_URL"]);
    assert_eq!(common::http("POST", &url, &rule.to_string()).0, 200);
    let report = w.run_ok(&event).await;
    let d = &report.domains[0];
    assert_eq!(d.outcome, Outcome::Renewed, "{d:#?}");
    assert!(
        d.warnings
            .iter()
            .any(|x| x.contains("ordered without replaces") && x.contains("malformed")),
        "{:?}",
        d.warnings
    );
    assert_ne!(w.served(&dist).await, issued);
}
