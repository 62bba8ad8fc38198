//! Bad input: malformed events and environments, each refused with its own clear error that
//! names the field or variable — no panic, nothing deployed, nothing uploaded, nothing deleted;
//! and bring-your-own files too large to be certificates, refused before they are read.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::HashSet;
use std::time::Duration;

use cert_rotator::config::Config;
use cert_rotator::handler::{App, InvocationError};
use cert_rotator::report::Outcome;
use cert_rotator::run::lock::LOCK_KEY;
use common::world::{Invocation, World};
use serde_json::{json, Value};

fn malformed_events(zone: &str) -> Vec<Value> {
    let ok = format!("ok.{zone}");
    let one = |name: Value| json!({"domains": [{"names": [name]}]});
    let many: Vec<String> = (0..101).map(|i| format!("n{i}.{zone}")).collect();
    vec![
        json!([]),
        json!("domains"),
        json!(null),
        json!(42),
        json!({}),
        json!({"domains": []}),
        json!({"domains": null}),
        json!({"domains": {}}),
        json!({"domains": [1]}),
        json!({"domains": [{}]}),
        json!({"domains": [{"names": []}]}),
        json!({"domains": [{"names": ok}]}),
        json!({"domains": [{"names": null}]}),
        one(json!(1)),
        one(json!("")),
        one(json!(".")),
        one(json!("127.0.0.1")),
        one(json!("::1")),
        one(json!(format!("*.*.x.{zone}"))),
        one(json!(format!("a.*.{zone}"))),
        one(json!("*.cn")),
        one(json!("*")),
        one(json!("localhost")),
        one(json!(format!("a..{zone}"))),
        one(json!(format!("-a.{zone}"))),
        one(json!(format!("a-.{zone}"))),
        one(json!(format!("a_b.{zone}"))),
        one(json!(format!("中国.{zone}"))),
        one(json!(format!("a b.{zone}"))),
        one(json!(format!("a.{zone}\n"))),
        one(json!(format!("https://a.{zone}"))),
        one(json!(format!("a.{zone}:443"))),
        one(json!(format!("{}.{zone}", "a".repeat(64)))),
        one(json!(format!("{}{zone}", "abcdefghi.".repeat(26)))),
        json!({"domains": [{"names": many}]}),
        json!({"domains": [{"names": [ok, format!("OK.{zone}.")]}]}),
        json!({"domains": [{"names": [format!("*.{zone}"), format!("*.{}.", zone.to_uppercase())]}]}),
        json!({"domains": [{"names": [ok]}, {"names": [format!("x.{zone}"), ok]}]}),
        json!({"domains": [{"names": [ok]}], "extra": true}),
        json!({"Domains": [{"names": [ok]}]}),
        json!({"domains": [{"names": [ok], "nmes": []}]}),
        json!({"domains": [{"names": [ok]}], "dry_run": "yes"}),
        json!({"domains": [{"names": [ok]}], "force": 1}),
        json!({"domains": [{"names": [ok], "force": "true"}]}),
        json!({"domains": [{"names": [ok], "key_type": "dsa"}]}),
        json!({"domains": [{"names": [ok], "key_type": 2048}]}),
        json!({"domains": [{"names": [ok], "dns": {"hosted_zone_id": "example.cn"}}]}),
        json!({"domains": [{"names": [ok], "dns": {"role": "cert-rotator-member"}}]}),
        json!({"domains": [{"names": [ok], "dns": {"external_id": "x1"}}]}),
        json!({"domains": [{"names": [ok], "account": {"external_id": "x1"}}]}),
        json!({"domains": [{"names": [ok], "account": {"role": "arn:aws-cn:iam::111122223333:role/m", "external_id": "a b"}}]}),
        json!({"domains": [{"names": [ok]}], "accounts": []}),
        json!({"domains": [
            {"names": [ok], "account": {"role": "arn:aws-cn:iam::111122223333:role/a"}},
            {"names": [format!("x.{zone}")], "dns": {"role": "arn:aws-cn:iam::111122223333:role/b"}},
        ]}),
        json!({"version": "0", "detail-type": "Scheduled Event", "source": "aws.events", "detail": {}}),
        json!({"version": "0", "detail-type": "Scheduled Event", "source": "aws.events", "detail": [1]}),
        json!({"detail-type": "x", "source": "y", "detail": {"domains": [{"names": ["*.*.cn"]}]}}),
    ]
}

fn malformed_events_of_size(zone: &str) -> Value {
    let fleet: Vec<Value> = (0..=cert_rotator::event::MAX_DOMAINS)
        .map(|i| json!({"names": [format!("d{i}.{zone}")]}))
        .collect();
    json!({ "domains": fleet })
}

fn malformed_environments() -> Vec<(&'static str, &'static str)> {
    vec![
        ("CERT_ROTATOR_BUCKET", ""),
        ("CERT_ROTATOR_KEY_TYPE", "dsa"),
        ("CERT_ROTATOR_ACME_DIRECTORY", "http://acme.example/dir"),
        ("CERT_ROTATOR_ACME_DIRECTORY", "acme.example/dir"),
        ("CERT_ROTATOR_CONTACT_EMAIL", "nobody"),
        ("CERT_ROTATOR_RENEW_REMAINING", "2"),
        ("CERT_ROTATOR_RENEW_REMAINING", "a third"),
        ("CERT_ROTATOR_CONCURRENCY", "0"),
        ("CERT_ROTATOR_CONCURRENCY", "many"),
        ("CERT_ROTATOR_USE_ARI", "maybe"),
        ("CERT_ROTATOR_LOCK_SECONDS", "-1"),
        ("CERT_ROTATOR_MIN_RENEWAL_SECONDS", "soon"),
        ("CERT_ROTATOR_CHECK_AUTHORITATIVE", "perhaps"),
        ("CERT_ROTATOR_DNS_RESOLVER", "resolver.example"),
    ]
}

#[tokio::test]
async fn malformed_events_and_environments_each_get_their_own_error_and_change_nothing() {
    common::logs::capture();
    let w = World::new("bad").await.expecting_denials(); // a secret the policy does not name
    let name = w.name("cdn");
    let (dist, old) = w.due("cdn-old", &[&name], &[&name]).await;
    let app = w.app();
    // Every input here is refused at once; a minute is plenty.
    let quick = Invocation::app(&app).deadline(Duration::from_secs(60));
    let mut messages = HashSet::new();
    let mut count = 0;

    let mut events = malformed_events(&w.zone);
    events.push(malformed_events_of_size(&w.zone));
    // A source may not name cert-rotator's own archive or account secret.
    let archive = format!("s3://{}/archive/x.pem", w.bucket);
    events.push(json!({"domains": [{"names": [&name], "source": {"certificate": archive}}]}));
    let secret = format!("secretsmanager:{}", w.secret);
    let source = json!({"certificate": "s3://certs/x.pem", "private_key": secret});
    events.push(json!({"domains": [{"names": [&name], "source": source}]}));
    for event in events {
        match w.run_with(quick, &event).await {
            Err(e @ InvocationError::Event(_)) => {
                let message = e.to_string();
                assert!(
                    message.starts_with("invalid event: event field "),
                    "{event}: {message}"
                );
                assert_eq!(e.error_type(), "InvalidEvent");
                assert!(
                    messages.insert(message.clone()),
                    "{event}: the same message as another input: {message}"
                );
            }
            other => panic!("{event} was not refused as an invalid event: {other:?}"),
        }
        count += 1;
    }

    let bed = common::bed();
    for (var, value) in malformed_environments() {
        let lookup = |k: &str| {
            if k == var {
                Some(value.to_owned())
            } else if k == "CERT_ROTATOR_BUCKET" {
                Some(w.bucket.clone())
            } else {
                bed.get(k).cloned()
            }
        };
        let message = Config::from_lookup(lookup)
            .expect_err(&format!("{var}={value} accepted"))
            .to_string();
        assert!(message.starts_with(var), "{var}={value}: {message}");
        assert!(
            messages.insert(message.clone()),
            "{var}={value}: the same message as another input: {message}"
        );
        count += 1;
    }

    // Environments that are well-formed but wrong for this account.
    let wrong_partition = [
        (
            "CERT_ROTATOR_ACCOUNT_SECRET",
            "arn:aws:secretsmanager:us-east-1:123456789012:secret:acme-AbCdEf",
        ),
        (
            "CERT_ROTATOR_KMS_KEY",
            "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab",
        ),
    ];
    for (var, value) in wrong_partition {
        let config = w.config_with(&[(var, value)]);
        let message = App::new(&w.function, config)
            .expect_err("accepted")
            .to_string();
        assert!(
            message.starts_with(var) && message.contains("arn:aws-cn:"),
            "{message}"
        );
        assert!(messages.insert(message));
        count += 1;
    }
    let event = json!({"domains": [{"names": [name]}]});
    // A secret the function may read (the stack's bring-your-own space) holding garbage.
    let garbage = w.put_secret("garbage", "hunter2 is not json").await;
    let garbage = garbage.trim_start_matches("secretsmanager:");
    let garbage_message =
        format!("secret {garbage} does not hold ACME account credentials (not JSON)");
    // A secret the function's policy does not name: AWS answers AccessDenied, not "not found".
    let missing_arn = format!(
        "arn:aws-cn:secretsmanager:cn-north-1:{}:secret:missing-AbCdEf",
        w.account
    );
    let missing_denied = format!("secretsmanager:GetSecretValue on resource: {missing_arn}");
    let no_lock = format!("cannot take the run lock in s3://no-such-bucket-anywhere/{LOCK_KEY}");
    let runtime = [
        (
            "CERT_ROTATOR_BUCKET",
            "no-such-bucket-anywhere",
            no_lock.as_str(),
        ),
        (
            "CERT_ROTATOR_ACCOUNT_SECRET",
            garbage,
            garbage_message.as_str(),
        ),
        (
            "CERT_ROTATOR_ACCOUNT_SECRET",
            missing_arn.as_str(),
            missing_denied.as_str(),
        ),
        (
            "CERT_ROTATOR_ACME_CA_BUNDLE",
            "/nonexistent/ca.pem",
            "check CERT_ROTATOR_ACME_DIRECTORY",
        ),
    ];
    for (var, value, expected) in runtime {
        let overrides = [(var, value)];
        let how = Invocation::overrides(&overrides).deadline(Duration::from_secs(60));
        let Err(InvocationError::Domains { summary, .. }) = w.run_with(how, &event).await else {
            panic!("{var}={value} did not fail the run");
        };
        assert!(summary.contains(expected), "{var}={value}: {summary}");
        assert!(
            !summary.contains("hunter2"),
            "a secret value reached the error"
        );
        assert!(messages.insert(summary));
        count += 1;
    }

    assert!(count >= 50, "only {count} malformed inputs");
    assert_eq!(w.served(&dist).await, old, "something was deployed");
    assert_eq!(
        w.certificate_names().await,
        ["cdn-old"],
        "something was uploaded or deleted"
    );
    assert!(w.archived().await.is_empty(), "something was issued");
    assert!(w.txt_records().await.is_empty());
    let mut secrets = w.secrets().await;
    secrets.push(("the garbage secret's value".into(), "hunter2".into()));
    World::assert_no_secrets(&common::logs::text(), &secrets);
    assert!(
        common::logs::text().lines().count() > 10,
        "logs were captured"
    );
    eprintln!(
        "bad input: {count} malformed events and environments, {} distinct errors",
        messages.len()
    );
}

/// The peak resident memory of this process since the last [`reset_peak`], in KiB.
fn peak_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Resets the peak to the current resident memory (Linux 4.0 and later); false if it cannot.
fn reset_peak() -> bool {
    std::fs::write("/proc/self/clear_refs", "5").is_ok()
}

/// Measured on main: a 40 MiB random object named `.pem` was read whole into memory and then
/// refused as "declared PEM but holds PKCS#12". Now its Content-Length refuses it before its body
/// is read (the message gives the exact size S3 declared, not "at least"), a secret over the cap
/// likewise, nothing is deployed, and the run's peak memory does not grow by the object's size.
#[tokio::test]
async fn bring_your_own_files_over_the_cap_are_refused_before_they_are_read() {
    let w = World::new("big").await;
    let name = w.name("shop");
    let (dist, old) = w.due("shop-old", &[&name], &[&name]).await;
    let huge = {
        // Random bytes (xorshift): what main read whole.
        let mut x: u64 = 0x2545_f491_4f6c_dd1d;
        let body: Vec<u8> = (0..40 << 20)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x.to_le_bytes()[5]
            })
            .collect();
        w.put_file("byo/huge.pem", body).await
    };
    // Secrets Manager itself refuses values over 64 KiB; the bed does not, so the check is seen.
    let big_secret = w
        .put_secret(&common::unique("byo-big"), &"A".repeat(300 * 1024))
        .await;
    let app = w.app();
    let quick = Invocation::app(&app).deadline(Duration::from_secs(120));
    let cases = [
        (
            json!({"certificate": huge}),
            format!("{huge} is 41943040 bytes, over the 262144-byte limit for a certificate, key or bundle file"),
        ),
        (
            json!({"certificate": big_secret}),
            format!("{big_secret} is 307200 bytes, over the 262144-byte limit"),
        ),
    ];
    let measured = reset_peak();
    let before = peak_kib();
    for (source, expected) in cases {
        let event = json!({"domains": [{"names": [name], "source": source}]});
        let Err(InvocationError::Domains { report, .. }) = w.run_with(quick, &event).await else {
            panic!("{source} did not fail the run");
        };
        assert_eq!(report.domains.len(), 1);
        let d = &report.domains[0];
        assert_eq!(d.outcome, Outcome::Failed, "{source}");
        let message = d.error.clone().unwrap_or_default();
        assert!(message.contains(&expected), "{source}: {message}");
    }
    let after = peak_kib();
    assert_eq!(w.served(&dist).await, old, "something was deployed");
    assert_eq!(
        w.certificate_names().await,
        ["shop-old"],
        "something was uploaded"
    );
    match (measured, before, after) {
        (true, Some(before), Some(after)) => {
            let grown = after.saturating_sub(before);
            eprintln!(
                "peak memory: {before} KiB before the runs, {after} KiB after (+{grown} KiB)"
            );
            // Reading the object whole costs 40 MiB at least (main: its body, then a copy).
            assert!(
                grown < 24 * 1024,
                "the runs' peak memory grew by {grown} KiB"
            );
        }
        _ => eprintln!(
            "peak memory not measurable here (/proc/self/clear_refs); the message alone is checked"
        ),
    }
}

/// A domain list kept in S3 (`"domains": "s3://bucket/key"`, the stack's `DomainsKey`) renews as
/// the same list inline would, the schedule's mark still refusing `force` in it; each bad list —
/// missing, unreadable, too large, in the archive bucket, not JSON, not a list, a bad field —
/// fails the invocation with
/// its own error naming the object, and nothing is ordered or deployed.
#[tokio::test]
async fn a_domain_list_in_s3_renews_like_an_inline_one_and_each_bad_list_names_the_object() {
    let w = World::new("listed").await;
    let (cdn, shop) = (w.name("cdn"), w.name("shop"));
    let (dist, old) = w.due("cdn-old", &[&cdn], &[&cdn]).await;
    let (shop_dist, shop_old) = w.due("shop-old", &[&shop], &[&shop]).await;
    let list = json!([{"names": [cdn]}, {"names": [shop], "force": true}]);
    let at = w
        .put_file("cert-rotator/domains.json", list.to_string().into_bytes())
        .await;
    let scheduled = json!({"schedule": {"arn": "arn:aws-cn:scheduler:cn-north-1:111122223333:schedule/default/daily"}, "domains": at});
    let Err(InvocationError::Domains { report, failed, .. }) = w.run(&scheduled).await else {
        panic!("the scheduled run did not refuse the forced domain of the list");
    };
    assert_eq!(failed, 1, "{report:#?}");
    let renewed = report
        .domains
        .iter()
        .find(|d| d.names == [cdn.clone()])
        .unwrap();
    assert_eq!(renewed.outcome, Outcome::Renewed, "{report:#?}");
    assert_ne!(w.served(&dist).await, old);
    let refused = report
        .domains
        .iter()
        .find(|d| d.names == [shop.clone()])
        .unwrap();
    let error = refused.error.clone().unwrap_or_default();
    assert!(
        error.contains("force is refused in a scheduled run")
            && error.starts_with(&format!("event field domains[1].force (in {at})")),
        "{error}"
    );
    assert_eq!(w.served(&shop_dist).await, shop_old, "not forced");

    let huge = w
        .put_file("cert-rotator/huge.json", vec![b' '; (1 << 20) + 1])
        .await;
    let cases: Vec<(String, String)> = vec![
        (
            format!("{at}.missing"),
            "does not exist: upload the domain list there".into(),
        ),
        (
            format!("s3://{}-elsewhere/domains.json", w.bucket),
            "could not be read".into(),
        ),
        (
            huge.clone(),
            format!("{huge} is 1048577 bytes; a domain list holds at most 1048576 bytes"),
        ),
        (
            format!("s3://{}/archive/anything.json", w.bucket),
            "is in cert-rotator's archive bucket".into(),
        ),
        (
            w.put_file("l/trunc.json", b"[{\"names\": [".to_vec()).await,
            "is not JSON".into(),
        ),
        (
            w.put_file("l/object.json", br#"{"domains": []}"#.to_vec())
                .await,
            "holds an object, not a list of domains".into(),
        ),
        (
            w.put_file(
                "l/field.json",
                format!(r#"[{{"names": ["{cdn}"], "key_typ": "rsa-2048"}}]"#).into_bytes(),
            )
            .await,
            "unknown field `key_typ`".into(),
        ),
    ];
    let mut errors = HashSet::new();
    for (object, expected) in cases {
        let result = w.run(&json!({"domains": object})).await;
        let Err(InvocationError::Event(error)) = result else {
            panic!("{object}: not an invalid event: {result:#?}");
        };
        let message = error.to_string();
        assert!(
            message.starts_with("event field domains")
                && message.contains(&object)
                && message.contains(&expected),
            "{object}: {message}"
        );
        assert!(
            errors.insert(message.clone()),
            "the same error twice: {message}"
        );
    }
    assert_eq!(
        w.served(&shop_dist).await,
        shop_old,
        "nothing deployed by a bad list"
    );
}
