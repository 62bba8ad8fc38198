//! Safety, round three (issue #20), end to end: who may be a member account, the account key
//! that is the function's alone, one lease per run, retirement that waits for deployments an
//! earlier run started, CloudFront's refusals, a bounded wrap-up, load balancers that cannot be
//! listed, the function's own account without STS, and `replaces` as Let's Encrypt judges it.
//! Each test fails without its fix; the bed behaves as AWS and Let's Encrypt do
//! (tests/bed/motobed, tests/bed/ari_proxy.py, with their fidelity tests).
#![cfg(feature = "failpoints")]
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::{Duration, Instant};

use cert_rotator::handler::InvocationError;
use cert_rotator::report::{LockState, Outcome, Report};
use common::accounts::{deploy_member, outside_zone, Member};
use common::world::{Invocation, World};
use serde_json::{json, Value};

/// POST `body` to the bed's control `path`.
fn control(path: &str, body: &Value) {
    let url = format!("{}{path}", common::bed()["BED_CONTROL_URL"]);
    let (status, answer) = common::http("POST", &url, &body.to_string());
    assert_eq!(status, 200, "{path}: {answer}");
}

/// A fault rule for this world's function only.
fn fault(w: &World, mut rule: Value) {
    rule["access_key"] = json!(w.credentials.access_key_id());
    control("/faults", &rule);
}

/// Removes this world's fault rules.
fn clear_faults(w: &World) {
    let url = format!(
        "{}/faults?access_key={}",
        common::bed()["BED_CONTROL_URL"],
        w.credentials.access_key_id()
    );
    assert_eq!(common::http("DELETE", &url, "").0, 200);
}

/// How many newOrder requests for exactly `names` reached the CA.
fn orders(names: &[&str]) -> u64 {
    let url = format!("{}/orders", common::bed()["BED_ARI_CONTROL_URL"]);
    let (_, body) = common::http("GET", &url, "");
    let mut sorted = names.to_vec();
    sorted.sort_unstable();
    serde_json::from_str::<Value>(&body).unwrap()[sorted.join(",")]
        .as_u64()
        .unwrap_or(0)
}

/// The bed's count of `key` (`service:Operation`, `faults:<code>`).
fn calls(key: &str) -> u64 {
    let url = format!("{}/calls", common::bed()["BED_CONTROL_URL"]);
    let (_, body) = common::http("GET", &url, "");
    serde_json::from_str::<Value>(&body).unwrap()[key]
        .as_u64()
        .unwrap_or(0)
}

/// The report of a run that failed some domain.
fn failed(result: Result<Report, InvocationError>) -> Report {
    match result {
        Err(InvocationError::Domains { report, .. }) => *report,
        other => panic!("the run did not fail: {other:#?}"),
    }
}

/// ACM certificates in `member`'s account in `region`.
async fn acm_in(member: &Member, region: &str) -> usize {
    let sdk = member
        .sdk
        .to_builder()
        .region(aws_config::Region::new(region.to_owned()))
        .build();
    aws_sdk_acm::Client::new(&sdk)
        .list_certificates()
        .send()
        .await
        .unwrap()
        .certificate_summary_list()
        .len()
}

// 1. Who may be a member.

/// Someone who may invoke the function names the organisation's DNS account for the challenge
/// and an account of their own, whose role trusts the rotator's (its ARN is no secret), as the
/// target: refused before STS is asked, nothing ordered, nothing imported there. And if the
/// function's own check were bypassed, STS refuses it under the policy's aws:ResourceAccount.
#[tokio::test]
async fn an_outside_accounts_trusting_role_gets_no_certificate_and_no_key() {
    let w = World::new("outsider").await.expecting_denials();
    let dns = Member::new(&w, Some("dns-id")).await;
    let thief = Member::outsider(&w, &w.function_role_arn(), Some("steal")).await;
    let (zone, _) = dns.zone("oz", "example.cn").await;
    let name = format!("shop.{zone}");
    // And the organisation's bought certificate, from its bring-your-own files.
    let bought = w.name("bought");
    let (cert, key) = w.ca.issue(&[&bought], time::OffsetDateTime::now_utc(), 365);
    let file = w
        .put_file("byo/bought.pem", format!("{cert}{key}").into_bytes())
        .await;
    let to_thief = json!({"role": thief.role, "external_id": "steal"});
    let alb = json!([{"type": "acm", "service": "alb", "region": "cn-north-1"}]);
    let event = json!({"domains": [
        {"names": [name], "dns": {"role": dns.role, "external_id": "dns-id"},
         "account": to_thief, "targets": alb},
        {"names": [bought], "source": {"certificate": file}, "account": to_thief, "targets": alb},
    ]});
    let report = failed(w.run(&event).await);
    for d in &report.domains {
        let error = d.error.clone().unwrap_or_default();
        assert!(
            error.contains(&format!(
                "is in account {}, which this function may not act in",
                thief.account
            )) && error.contains(&format!(
                "not in the stack's MemberAccounts ({})",
                dns.account
            )),
            "{error}"
        );
    }
    assert_eq!(orders(&[&name]), 0, "nothing was ordered");
    assert_eq!(
        acm_in(&thief, "cn-north-1").await,
        0,
        "nothing imported there"
    );
    thief.assert_no_denials();

    // The policy holds on its own: the function told the account is a member, the stack not.
    let both = format!("{},{}", dns.account, thief.account);
    let told = [("CERT_ROTATOR_MEMBER_ACCOUNTS", both.as_str())];
    let report = failed(w.run_with(Invocation::overrides(&told), &event).await);
    let error = report.domains[0].error.clone().unwrap_or_default();
    assert!(
        error.contains(&format!("assuming role {}", thief.role)) && error.contains("AccessDenied"),
        "STS refused under aws:ResourceAccount: {error}"
    );
    assert_eq!(orders(&[&name]), 0);
    assert_eq!(acm_in(&thief, "cn-north-1").await, 0);
}

/// A stack that names no member accounts assumes no role outside its own, and says what to
/// set; done as it says, the domain renews in that account.
#[tokio::test]
async fn without_member_accounts_no_role_is_assumed_and_the_advice_makes_one_a_member() {
    let w = World::new("nomembers").await;
    let cdn = Member::outsider(&w, &w.function_role_arn(), None).await;
    let w = w.targeting(&cdn);
    let name = w.name("cdn");
    let (dist, old) = w.due("cdn-old", &[&name], &[&name]).await;
    let event = json!({"domains": [{"names": [name], "account": {"role": cdn.role}}]});
    let report = failed(w.run(&event).await);
    let error = report.domains[0].error.clone().unwrap_or_default();
    let advice = format!("set the stack's MemberAccounts to {}", cdn.account);
    assert!(
        error.contains(&advice) && error.contains("CERT_ROTATOR_MEMBER_ACCOUNTS"),
        "{error}"
    );
    assert_eq!(w.served(&dist).await, old);
    // "set the stack's MemberAccounts to <account> ... and update the stack".
    w.admit(&cdn.account).await;
    let report = w.run_ok(&event).await;
    assert_eq!(report.domains[0].outcome, Outcome::Renewed, "{report:#?}");
    assert_ne!(w.served(&dist).await, old);
    cdn.assert_no_denials();
}

/// The ACME account key is the function's alone: an administrator of the account cannot read
/// it, yet can still administer the secret.
#[tokio::test]
async fn the_account_key_is_read_and_written_by_the_function_alone() {
    let w = World::new("acctkey").await;
    let name = w.name("cdn");
    w.due("cdn-old", &[&name], &[&name]).await;
    let report = w.run_ok(&json!({"domains": [{"names": [name]}]})).await;
    assert_eq!(report.domains[0].outcome, Outcome::Renewed, "{report:#?}");
    let admin = aws_sdk_secretsmanager::Client::new(&w.sdk);
    let read = admin.get_secret_value().secret_id(&w.secret).send().await;
    let code = read
        .as_ref()
        .err()
        .and_then(|e| e.as_service_error())
        .map(|e| e.meta().code().unwrap_or_default().to_owned());
    assert_eq!(code.as_deref(), Some("AccessDeniedException"), "{read:?}");
    admin
        .describe_secret()
        .secret_id(&w.secret)
        .send()
        .await
        .unwrap();
    admin
        .get_resource_policy()
        .secret_id(&w.secret)
        .send()
        .await
        .unwrap();
    let stored = w.account_secret_value().await.unwrap();
    assert!(
        stored.contains("key_pkcs8"),
        "the function stored its account"
    );
}

// 3. One lease per run.

/// Lambda delivered one event twice: two runs with one request id. One holds the lease, the
/// other is locked out; the CA sees one order.
#[tokio::test]
async fn two_runs_of_one_request_id_order_once() {
    let w = World::new("dup-event").await;
    let name = w.name("cdn");
    let (dist, old) = w.due("cdn-old", &[&name], &[&name]).await;
    let event = json!({"domains": [{"names": [name]}]});
    let how = Invocation::default().run_id("delivered-twice");
    let (a, b) = tokio::join!(w.run_with(how, &event), w.run_with(how, &event));
    let (a, b) = (a.unwrap(), b.unwrap());
    let mut outcomes = [a.domains[0].outcome, b.domains[0].outcome];
    outcomes.sort_by_key(|o| *o == Outcome::Renewed);
    assert_eq!(
        outcomes,
        [Outcome::Locked, Outcome::Renewed],
        "{a:#?}\n{b:#?}"
    );
    let locked = if a.domains[0].outcome == Outcome::Locked {
        &a
    } else {
        &b
    };
    assert!(
        matches!(&locked.lock, LockState::Busy { owner, .. } if owner.starts_with("delivered-twice#")),
        "{:?}",
        locked.lock
    );
    assert_eq!(orders(&[&name]), 1);
    assert_ne!(w.served(&dist).await, old);
}

/// The lease cannot be renewed (S3 refuses every write of it after the first): once it has
/// expired the run uploads, swaps and retires nothing, and says why; the next run renews.
#[tokio::test]
async fn a_run_that_loses_its_lease_stops_before_its_next_write() {
    let w = World::new("lease-lost").await;
    let name = w.name("cdn");
    let (dist, old) = w.due("cdn-old", &[&name], &[&name]).await;
    let event = json!({"domains": [{"names": [name]}]});
    let short = [("CERT_ROTATOR_LOCK_SECONDS", "2")];
    // The challenge record takes 3 s to write: the lease has expired before the upload.
    fault(
        &w,
        json!({"service": "route53", "operation": "ChangeResourceRecordSets", "delay": 3, "times": 1}),
    );
    let run = w.run_with(Invocation::overrides(&short), &event);
    let lock_path = format!("/{}/lock/run", w.bucket);
    let breaker = async {
        // Once the run holds the lease, every later write of it fails.
        while !w
            .bucket_keys("lock/")
            .await
            .contains(&"lock/run".to_owned())
        {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        fault(
            &w,
            json!({"service": "s3", "operation": "PUT", "path": lock_path,
                   "code": "ServiceUnavailable", "status": 503, "message": "injected"}),
        );
    };
    let (result, ()) = tokio::join!(run, breaker);
    clear_faults(&w);
    let report = failed(result);
    let d = &report.domains[0];
    let text = format!("{d:?}");
    assert!(
        text.contains("could not be renewed before it expired"),
        "{d:#?}"
    );
    assert_eq!(w.served(&dist).await, old, "nothing swapped");
    assert_eq!(w.certificate_names().await, ["cdn-old"], "nothing uploaded");
    tokio::time::sleep(Duration::from_millis(2200)).await; // the stale lease expires
    let next = w.run_ok(&event).await;
    assert_eq!(next.domains[0].outcome, Outcome::Renewed, "{next:#?}");
    assert_ne!(w.served(&dist).await, old);
}

// 4. Retirement and CloudFront's deployments.

/// Deployments take two minutes. A run killed before retirement swapped the distribution off
/// the old certificate; the run right after keeps it, as deploying, though it swapped nothing
/// itself; a run after the deployment retires it and forgets the note.
#[tokio::test]
async fn a_certificate_is_kept_while_a_killed_runs_swap_still_deploys() {
    let w = World::new("deploying").await.retiring_foreign();
    let name = w.name("cdn");
    let (dist, old) = w.due("cdn-old", &[&name], &[&name]).await;
    tokio::time::sleep(Duration::from_millis(1200)).await; // the new distribution deployed
    control(
        "/settings",
        &json!({"cloudfront_deploy_seconds_by_account": {&w.account: 120}}),
    );
    let event = json!({"domains": [{"names": [name]}]});
    let (rerun, _) = w.kill_at(&event, "before-retirement", &[]);
    let swapped = Instant::now();
    assert_ne!(w.served(&dist).await, old, "the killed run swapped");
    assert_eq!(w.bucket_keys("swaps/").await.len(), 1, "and noted it");
    let (code, out, err) = rerun.after_kill(&[]).await;
    assert_eq!(code, 0, "{out}\n{err}");
    let report: Value = serde_json::from_str(&out).unwrap();
    let about_old: Vec<&Value> = report["retired"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["name"] == "cdn-old")
        .collect();
    assert!(
        about_old.iter().any(|r| r["result"]
            .as_str()
            .unwrap()
            .contains(&format!("kept until [\"{dist}\"] finish deploying"))),
        "{report:#}"
    );
    assert!(w.certificate_names().await.contains(&"cdn-old".to_owned()));
    let deployed = Duration::from_secs(121).saturating_sub(swapped.elapsed());
    tokio::time::sleep(deployed).await;
    let (code, out, err) = rerun.now(&[]);
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(
        !w.certificate_names().await.contains(&"cdn-old".to_owned()),
        "{out}"
    );
    assert!(
        w.bucket_keys("swaps/").await.is_empty(),
        "the note is forgotten"
    );
    control(
        "/settings",
        &json!({"cloudfront_deploy_seconds_by_account": {&w.account: null}}),
    );
}

// 5. CloudFront's refusals.

/// IAM is eventually consistent: CloudFront does not know the new certificate for a few
/// seconds after its upload. The swap tries again and the domain renews.
#[tokio::test]
async fn a_certificate_cloudfront_does_not_know_yet_is_tried_again_until_it_does() {
    let w = World::new("iam-settle").await;
    let name = w.name("cdn");
    let (dist, old) = w.due("cdn-old", &[&name], &[&name]).await;
    // From now on a certificate is unknown to CloudFront for 7 s after its upload.
    control(
        "/settings",
        &json!({"iam_consistency_seconds_by_account": {&w.account: 7}}),
    );
    let report = w.run_ok(&json!({"domains": [{"names": [name]}]})).await;
    control(
        "/settings",
        &json!({"iam_consistency_seconds_by_account": {&w.account: null}}),
    );
    assert_eq!(report.domains[0].outcome, Outcome::Renewed, "{report:#?}");
    assert_ne!(w.served(&dist).await, old);
}

/// An IllegalUpdate while nothing is in progress is no reason to wait: the domain fails once,
/// with CloudFront's message, instead of six waits.
#[tokio::test]
async fn an_illegal_update_that_is_no_change_in_progress_fails_once_with_its_message() {
    let w = World::new("illegal").await;
    let name = w.name("cdn");
    let (dist, old) = w.due("cdn-old", &[&name], &[&name]).await;
    tokio::time::sleep(Duration::from_millis(1200)).await; // Deployed
    let before = calls("faults:IllegalUpdate");
    fault(
        &w,
        json!({"service": "cloudfront", "operation": "UpdateDistribution", "code": "IllegalUpdate",
               "status": 400, "message": "The viewer certificate cannot be used with this distribution.",
               "times": 10}),
    );
    let started = Instant::now();
    let report = failed(w.run(&json!({"domains": [{"names": [name]}]})).await);
    clear_faults(&w);
    let text = format!("{:?}", report.domains[0]);
    assert!(
        text.contains("IllegalUpdate") && text.contains("cannot be used with this distribution"),
        "{text}"
    );
    assert_eq!(calls("faults:IllegalUpdate") - before, 1, "asked once");
    assert!(started.elapsed() < Duration::from_secs(60), "no waits");
    assert_eq!(w.served(&dist).await, old);
}

// 6 and 7. The wrap-up, and load balancers.

/// Renews `w`'s domain and waits for the swap to deploy: the next run's retirement wants to
/// delete the replaced certificate, and lists the load balancers first.
async fn replaced_and_deployed(w: &World) -> Value {
    let name = w.name("cdn");
    w.due("cdn-old", &[&name], &[&name]).await;
    let event = json!({"domains": [{"names": [name]}]});
    let first = w.run_ok(&event).await;
    assert_eq!(first.domains[0].outcome, Outcome::Renewed, "{first:#?}");
    tokio::time::sleep(Duration::from_millis(1200)).await;
    event
}

/// Load balancers that take minutes to answer: with 90 s to its deadline the run still reports
/// before it, with the retirement cut short and the lease released.
#[tokio::test]
async fn slow_load_balancers_cut_retirement_short_not_the_report() {
    let w = World::new("slow-elb").await.retiring_foreign();
    let event = replaced_and_deployed(&w).await;
    fault(&w, json!({"service": "elasticloadbalancing", "delay": 150}));
    let started = Instant::now();
    let how = Invocation::default().deadline(Duration::from_secs(90));
    let result = w.run_with(how, &event).await;
    let took = started.elapsed();
    clear_faults(&w);
    assert!(took < Duration::from_secs(90), "reported after {took:?}");
    let report = failed(result);
    let old: Vec<String> = report
        .retired
        .iter()
        .filter(|r| r.name == "cdn-old")
        .map(|r| r.result.to_string())
        .collect();
    assert!(
        old.iter()
            .any(|r| r.contains("did not answer before the run's wrap-up ended")),
        "{report:#?}"
    );
    assert!(w.certificate_names().await.contains(&"cdn-old".to_owned()));
    assert!(
        w.bucket_keys("lock/").await.is_empty(),
        "the lease was released"
    );
}

/// The load balancers of one region cannot be listed: the replaced certificate is kept, and the
/// run fails with what to do, rather than keeping it quietly while IAM's quota fills.
#[tokio::test]
async fn a_region_whose_load_balancers_cannot_be_listed_fails_the_run_with_what_to_do() {
    let w = World::new("elb-denied").await.retiring_foreign();
    let event = replaced_and_deployed(&w).await;
    fault(
        &w,
        json!({"service": "elasticloadbalancing", "region": "cn-northwest-1", "code": "AccessDenied",
               "status": 403, "message": "not allowed"}),
    );
    let result = w.run(&event).await;
    clear_faults(&w);
    let report = failed(result);
    let error = report.error.clone().unwrap_or_default();
    assert!(
        error.contains("listing the load balancers of cn-northwest-1")
            && error.contains("ElbRegions (CERT_ROTATOR_ELB_REGIONS)"),
        "{error}"
    );
    assert_eq!(
        report.domains[0].outcome,
        Outcome::Kept,
        "the domain itself is fine"
    );
    assert!(w.certificate_names().await.contains(&"cdn-old".to_owned()));
}

// 8. The function's own account.

/// STS cannot say who the function is. Invoked by Lambda, the context's function ARN tells:
/// a role in the function's own account is not assumed, and the account is handled once. The
/// CLI, which has no such context, fails that domain rather than handle one account twice.
#[tokio::test]
async fn without_get_caller_identity_one_account_is_never_handled_twice() {
    let w = World::new("whoami").await;
    let own_role = deploy_member(&w.region(), &w.account, &w.function_role_arn(), None);
    let name = w.name("cdn");
    let (dist, old) = w.due("cdn-old", &[&name], &[&name]).await;
    let event = json!({"domains": [{"names": [name], "account": {"role": own_role}}]});
    fault(
        &w,
        // An STS outage, through every retry (the tests' SDK makes 10 attempts: ~50 s).
        json!({"service": "sts", "operation": "GetCallerIdentity", "code": "ServiceUnavailable",
               "status": 503, "message": "injected"}),
    );
    let cli = failed(w.run(&event).await);
    let error = cli.domains[0].error.clone().unwrap_or_default();
    assert!(
        error.contains("cannot tell this function's own account"),
        "{error}"
    );
    assert_eq!(orders(&[&name]), 0);
    let lambda = w.run_with(Invocation::default().as_lambda(), &event).await;
    clear_faults(&w);
    let report = lambda.unwrap();
    assert_eq!(report.domains[0].outcome, Outcome::Renewed, "{report:#?}");
    assert_eq!(
        report.domains[0].account, None,
        "handled as the function's own account"
    );
    assert_ne!(w.served(&dist).await, old);
}

// 2. `replaces` as Let's Encrypt judges it.

/// Per-host certificates consolidated into one wildcard: the old certificate shares no name
/// with the order, and Let's Encrypt would refuse a `replaces` naming it (400 malformed). The
/// order goes without it, and the domain renews.
#[tokio::test]
async fn consolidating_per_host_certificates_into_a_wildcard_renews() {
    let w = World::new("consolidate").await;
    let (a, b) = (w.name("a"), w.name("b"));
    let (dist, _) = w.due("hosts-old", &[&a, &b], &[&a, &b]).await;
    let first = w.run_ok(&json!({"domains": [{"names": [a, b]}]})).await;
    assert_eq!(first.domains[0].outcome, Outcome::Renewed, "{first:#?}");
    let hosts = w.served(&dist).await;
    w.start_renewal_window(&hosts).await;
    let wildcard = format!("*.{}", w.zone);
    let report = w.run_ok(&json!({"domains": [{"names": [wildcard]}]})).await;
    let d = &report.domains[0];
    assert_eq!(d.outcome, Outcome::Renewed, "{d:#?}");
    assert!(
        d.warnings.iter().all(|x| !x.contains("replaces")),
        "{:?}",
        d.warnings
    );
    assert_ne!(w.served(&dist).await, hosts);
}

// 9. Advice that works when followed.

/// A member role whose trust policy asks for another external id: the advice names the
/// member's side first; updating the member stack as it says renews the domain.
#[tokio::test]
async fn a_refused_external_id_is_blamed_on_the_members_side_first_and_the_advice_works() {
    let w = World::new("extid").await.expecting_denials();
    let cdn = Member::new(&w, Some("deployed-id")).await;
    let w = w.targeting(&cdn);
    let name = w.name("cdn");
    let (dist, old) = w.due("cdn-old", &[&name], &[&name]).await;
    let event = json!({"domains": [{"names": [name],
                                    "account": {"role": cdn.role, "external_id": "event-id"}}]});
    let report = failed(w.run(&event).await);
    let error = report.domains[0].error.clone().unwrap_or_default();
    let member_side = error.find("most likely the member's side").expect(&error);
    let rotator_side = error.find("MemberRoleName").expect(&error);
    assert!(member_side < rotator_side, "{error}");
    assert!(error.contains("the same ExternalId"), "{error}");
    // "deploy the member stack with RotatorRoleArn = ... and the same ExternalId".
    deploy_member(
        &w.region(),
        &cdn.account,
        &w.function_role_arn(),
        Some("event-id"),
    );
    let report = w.run_ok(&event).await;
    assert_eq!(report.domains[0].outcome, Outcome::Renewed, "{report:#?}");
    assert_ne!(w.served(&dist).await, old);
}

/// A CNAME loop at `_acme-challenge` is named as a loop, not as a resolver that failed; done as
/// the message says — one CNAME to a name starting with `_acme-challenge.` in a Route 53 zone —
/// the domain renews.
#[tokio::test]
async fn a_cname_loop_is_named_and_the_advice_renews_the_domain() {
    let w = World::new("cnameloop").await;
    let outside = format!("{}.example.com.cn", common::unique("loop"));
    let www = format!("www.{outside}");
    let (record, other) = (
        format!("_acme-challenge.{www}"),
        format!("_acme-challenge.img.{outside}"),
    );
    outside_zone(
        &outside,
        &[(&record, "CNAME", &other), (&other, "CNAME", &record)],
    );
    let (dist, old) = w.due("www-old", &[&www], &[&www]).await;
    let event = json!({"domains": [{"names": [www]}]});
    let report = failed(w.run(&event).await);
    let error = report.domains[0].error.clone().unwrap_or_default();
    assert!(
        error.contains(&format!("the CNAME chain from {record} is a loop"))
            && error.contains("starts with _acme-challenge."),
        "{error}"
    );
    assert!(!error.contains("CERT_ROTATOR_DNS_RESOLVER"), "{error}");
    let target = format!("_acme-challenge.{www}.{}", w.zone);
    outside_zone(&outside, &[(&record, "CNAME", &target)]);
    let report = w.run_ok(&event).await;
    assert_eq!(report.domains[0].outcome, Outcome::Renewed, "{report:#?}");
    assert_ne!(w.served(&dist).await, old);
}
