//! Unit tests of the parent module.
use super::*;

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
        },
        Challenge {
            record: "_acme-challenge.example.cn".into(),
            value: "wild".into(),
        },
        Challenge {
            record: "_acme-challenge.cdn.example.cn".into(),
            value: "cdn".into(),
        },
    ];
    let grouped = by_record(&cs);
    assert_eq!(grouped["_acme-challenge.example.cn"], vec!["apex", "wild"]);
    assert_eq!(grouped.len(), 2);
}
