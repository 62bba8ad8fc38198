//! Old keys do not live for ever: every private key cert-rotator issued is archived, and without
//! an end the archive would keep each one readable long after its certificate expired. An
//! archived bundle is deleted once its certificate expired more than the configured days ago and
//! IAM no longer holds it (retirement deleted it); the bucket's lifecycle rule then removes the
//! deleted object's old versions (template.yaml, `ArchiveBucket`).
//!
//! Pure: the archive's keys (their names carry the certificate's expiry), the names IAM holds,
//! the days to keep and `now`. Keys cert-rotator did not write are never touched.

use std::collections::HashSet;

use time::{Duration, OffsetDateTime};

use crate::model::inventory::managed_not_after;

/// The archive keys to delete (`keep_days` 0: none).
pub fn prunable<'a>(
    keys: &'a [String],
    in_iam: &HashSet<&str>,
    keep_days: u32,
    now: OffsetDateTime,
) -> Vec<&'a str> {
    if keep_days == 0 {
        return vec![];
    }
    let cutoff = now - Duration::days(i64::from(keep_days));
    keys.iter()
        .map(String::as_str)
        .filter(|key| {
            iam_name_of(key).is_some_and(|name| {
                !in_iam.contains(name) && managed_not_after(name).is_some_and(|t| t < cutoff)
            })
        })
        .collect()
}

/// The IAM name of an archive key `archive/<names-hash>/<iam-name>.json`.
fn iam_name_of(key: &str) -> Option<&str> {
    let rest = key.strip_prefix("archive/")?;
    let (_hash, file) = rest.split_once('/')?;
    file.strip_suffix(".json").filter(|n| !n.contains('/'))
}

#[cfg(test)]
mod tests {
    use time::macros::datetime;

    use super::*;

    const NOW: OffsetDateTime = datetime!(2026-12-02 06:00 UTC);

    fn key(expiry: &str) -> String {
        format!("archive/0a1b2c3d/cdn.example.cn-0a1b2c3d-{expiry}-00000001.json")
    }

    #[test]
    fn bundles_expired_past_the_kept_days_and_gone_from_iam_are_deleted() {
        let (long_gone, lately, valid) = (
            key("202609010000"),
            key("202611200000"),
            key("202702010000"),
        );
        let keys = vec![long_gone.clone(), lately, valid];
        assert_eq!(
            prunable(&keys, &HashSet::new(), 30, NOW),
            [long_gone.as_str()]
        );
    }

    #[test]
    fn a_bundle_iam_still_holds_is_kept_however_old() {
        let old = key("202601010000");
        let name = iam_name_of(&old).unwrap();
        assert!(prunable(std::slice::from_ref(&old), &HashSet::from([name]), 30, NOW).is_empty());
    }

    #[test]
    fn keys_cert_rotator_did_not_write_and_keep_zero_are_left_alone() {
        let keys = vec![
            "archive/0a1b2c3d/notes.json".to_owned(),
            "archive/0a1b2c3d/old-cert.pem".to_owned(),
            "lock/run".to_owned(),
            "archive/x/y/cdn.example.cn-0a1b2c3d-202001010000-00000001.json".to_owned(),
        ];
        assert!(prunable(&keys, &HashSet::new(), 30, NOW).is_empty());
        assert!(prunable(&[key("202001010000")], &HashSet::new(), 0, NOW).is_empty());
    }
}
