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
