//! `events/*.json` are contracts: every file parses, as the Lambda function would read it.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use cert_rotator::event;

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
        let request = event::parse(&json).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert!(!request.domains.is_empty(), "{}", path.display());
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
}

/// The schedule's `Input` in template.yaml, with the `Domains` parameter's documented example
/// substituted, is an event the function accepts — the same as `events/scheduled.json`.
#[test]
fn the_templates_schedule_input_is_a_valid_event() {
    let template = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("template.yaml"),
    )
    .unwrap();
    let input = template
        .lines()
        .find_map(|l| l.trim().strip_prefix("Input: !Sub '"))
        .and_then(|l| l.strip_suffix('\''))
        .expect("the schedule's Input: !Sub '...'");
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
}
