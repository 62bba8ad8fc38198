//! `events/*.json` are contracts: every file parses, as the Lambda function would read it.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use cert_rotator::event;
use cert_rotator::model::partition::Partition;
use cert_rotator::model::targets::CloudFrontVia;

#[test]
fn every_event_file_parses() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("events");
    let mut seen = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().and_then(|e| e.to_str()) != Some("json") {
            continue;
        }
        let json: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&path).unwrap())
                .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        // global-*.json are for a function in the global partition; the rest for AWS China.
        let global = path
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.starts_with("global-"));
        let (partition, region) = if global {
            (Partition::Aws, "us-east-1")
        } else {
            (Partition::AwsCn, "cn-north-1")
        };
        // A list kept in S3 is read by the run; here a one-domain list stands for the object.
        let json = match event::domain_list::reference(&json).unwrap() {
            Some(list) => list
                .substitute(&json, br#"[{"names": ["cdn.example.cn"]}]"#)
                .unwrap(),
            None => json,
        };
        let request = event::parse_for(&json, partition, region)
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert!(
            request.inventory_only || !request.domains.is_empty(),
            "{}",
            path.display()
        );
        seen += 1;
    }
    assert!(
        seen >= 5,
        "expected the five documented events, found {seen}"
    );
}

#[test]
fn the_dry_run_and_force_events_say_so() {
    let read = |name: &str| {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("events")
            .join(name);
        event::parse(&serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap())
            .unwrap()
    };
    assert!(read("dry-run.json").dry_run);
    assert!(read("force.json").domains.iter().all(|d| d.force));
    assert_eq!(read("eventbridge.json").domains[0].names.len(), 2);
    assert!(read("inventory.json").inventory_only);
    let across = read("inventory-accounts.json");
    assert!(across.inventory_only && across.accounts.len() == 1);
    let cdn = read("cdn-account.json");
    assert_eq!(
        cdn.domains[0].account.as_ref().map(|r| r.account()),
        Some("444455556666")
    );
    assert_eq!(
        cdn.domains[0].dns.role.as_ref().map(|r| r.account()),
        Some("111122223333")
    );
    assert!(read("bring-your-own.json")
        .domains
        .iter()
        .all(|d| d.source.is_some()));
}

#[test]
fn the_target_events_resolve_to_their_regions() {
    let read = |name: &str, partition, region| {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("events")
            .join(name);
        let json = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        event::parse_for(&json, partition, region).unwrap()
    };
    let global = read("global-acm-targets.json", Partition::Aws, "us-east-1");
    let t = &global.domains[0].targets;
    assert_eq!(t.cloudfront, Some(CloudFrontVia::Acm));
    assert_eq!(
        t.acm_regions().collect::<Vec<_>>(),
        ["us-east-1", "ap-northeast-1", "eu-west-1"]
    );
    let china = read("acm-alb-china.json", Partition::AwsCn, "cn-north-1");
    let t = &china.domains[0].targets;
    assert_eq!(t.cloudfront, Some(CloudFrontVia::Iam));
    assert_eq!(t.acm_regions().collect::<Vec<_>>(), ["cn-northwest-1"]);
    // The global event in China is refused: CloudFront there takes no ACM certificate.
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("events/global-acm-targets.json");
    let json = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let e = event::parse_for(&json, Partition::AwsCn, "cn-north-1").unwrap_err();
    assert!(
        e.to_string().contains("domains[0].targets[0].service"),
        "{e}"
    );
}

/// The schedule's `Input` in template.yaml, with the `Domains` parameter's documented example
/// substituted, is an event the function accepts — the same as `events/scheduled.json`.
#[test]
fn the_templates_schedule_input_is_a_valid_event() {
    let template = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("template.yaml"),
    )
    .unwrap();
    let inputs: Vec<&str> = template
        .lines()
        .filter_map(|l| l.trim().strip_prefix("- !Sub '{\"schedule\""))
        .filter_map(|l| l.strip_suffix('\''))
        .collect();
    let [in_s3, input] = inputs.as_slice() else {
        panic!("the schedule's Input: !If [DomainsInS3, !Sub '...', !Sub '...']: {inputs:?}");
    };
    let in_s3: serde_json::Value = serde_json::from_str(
        &format!("{{\"schedule\"{in_s3}")
            .replace("${SourceBucket}", "inputs")
            .replace("${DomainsKey}", "cert-rotator/domains.json"),
    )
    .unwrap();
    let list = event::domain_list::reference(&in_s3)
        .unwrap()
        .expect("with DomainsKey the input names the list's object");
    assert_eq!(list.to_string(), "s3://inputs/cert-rotator/domains.json");
    let input = format!("{{\"schedule\"{input}");
    let example = template
        .split("Domains:")
        .nth(1)
        .and_then(|rest| rest.split("e.g.").nth(1))
        .and_then(|rest| rest.lines().nth(1))
        .map(str::trim)
        .expect("the Domains parameter's example");
    let json: serde_json::Value =
        serde_json::from_str(&input.replace("${Domains}", example)).unwrap();
    let request = event::parse(&json).unwrap();
    let scheduled = event::parse(
        &serde_json::from_str(
            &std::fs::read_to_string(
                std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("events/scheduled.json"),
            )
            .unwrap(),
        )
        .unwrap(),
    )
    .unwrap();
    assert_eq!(request.domains.len(), 2);
    assert_eq!(
        format!("{:?}", request.domains),
        format!("{:?}", scheduled.domains),
        "the template's example and events/scheduled.json describe the same domains"
    );
    // The scheduler fills in its context attributes: the function knows the run is scheduled.
    let mark = request
        .schedule
        .expect("the schedule's input carries its mark");
    assert_eq!(mark.arn, "<aws.scheduler.schedule-arn>");
    assert_eq!(mark.time.as_deref(), Some("<aws.scheduler.scheduled-time>"));
    assert!(scheduled.schedule.is_some());
}

/// `force` left in the schedule's input is refused for that domain, with what to do; the other
/// domains of the run are handled. By hand (no mark) the same domain is forced.
#[test]
fn a_forced_domain_in_the_schedules_input_is_refused_with_what_to_do() {
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("events/scheduled-with-force.json");
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let request = event::parse_for(&json, Partition::AwsCn, "cn-north-1").unwrap();
    assert_eq!(request.domains.len(), 1);
    assert!(!request.domains[0].force);
    assert_eq!(request.refused.len(), 1);
    assert_eq!(request.refused[0].names, ["assets.example.cn"]);
    let error = request.refused[0].error.to_string();
    assert!(
        error.contains("domains[1].force")
            && error.contains("assets.example.cn")
            && error.contains("Remove \"force\"")
            && error.contains("invoke the function by hand with force"),
        "{error}"
    );
    let mut by_hand = json;
    by_hand.as_object_mut().unwrap().remove("schedule");
    let request = event::parse_for(&by_hand, Partition::AwsCn, "cn-north-1").unwrap();
    assert!(request.refused.is_empty() && request.domains[1].force);
}

/// `cert-rotator check-event` reads an event as the function does, offline: the samples pass, a
/// scheduled one shows its mark and the domains it refuses, and a bad one names its field.
#[test]
fn check_event_reads_events_offline_as_the_function_does() {
    let bin = env!("CARGO_BIN_EXE_cert-rotator");
    let events = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("events");
    let check = |args: &[&str], stdin: Option<&str>| {
        use std::io::Write;
        let mut child = std::process::Command::new(bin)
            .arg("check-event")
            .args(args)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            // Nothing from AWS: no credentials, no endpoint.
            .env_clear()
            .spawn()
            .unwrap();
        if let Some(text) = stdin {
            child
                .stdin
                .take()
                .unwrap()
                .write_all(text.as_bytes())
                .unwrap();
        }
        let out = child.wait_with_output().unwrap();
        (
            out.status.code(),
            String::from_utf8(out.stdout).unwrap(),
            String::from_utf8(out.stderr).unwrap(),
        )
    };
    let file = |name: &str| events.join(name).display().to_string();
    let (code, out, _) = check(&[&file("scheduled-with-force.json")], None);
    assert_eq!(code, Some(0));
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert!(v["scheduled"]["arn"]
        .as_str()
        .unwrap()
        .contains(":scheduler:"));
    assert_eq!(v["refused"].as_array().unwrap().len(), 1, "{out}");
    let (code, out, _) = check(
        &[&file("global-acm-targets.json"), "--region", "us-east-1"],
        None,
    );
    assert_eq!(code, Some(0), "{out}");
    let (code, out, _) = check(&[&file("domains-in-s3.json")], None);
    assert_eq!(code, Some(0));
    assert!(out.contains("\"domains_from\": \"s3://"), "{out}");
    let bad = r#"{"domains": [{"names": ["a.example.cn"], "profile": "two words"}]}"#;
    let (code, _, err) = check(&["-"], Some(bad));
    assert_eq!(code, Some(1));
    assert!(
        err.starts_with("error: event field domains[0].profile"),
        "{err}"
    );
    let (code, _, err) = check(&["/nonexistent/event.json"], None);
    assert_eq!(code, Some(2), "{err}");
}
