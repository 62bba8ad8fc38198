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
///
/// Only the keys of `account`'s bundles (`None`: the function's own) are considered: `in_iam` is
/// what that account's IAM holds, and says nothing of another's.
pub fn prunable<'a>(
    keys: &'a [String],
    account: Option<&str>,
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
            iam_name_of(key, account).is_some_and(|name| {
                !in_iam.contains(name) && managed_not_after(name).is_some_and(|t| t < cutoff)
            })
        })
        .collect()
}

/// The IAM name of an archive key of `account`: `archive/<names-hash>/<iam-name>.json` for the
/// function's own, `archive/<names-hash>/<account>/<iam-name>.json` for another's.
fn iam_name_of<'k>(key: &'k str, account: Option<&str>) -> Option<&'k str> {
    let rest = key.strip_prefix("archive/")?;
    let (_hash, mut file) = rest.split_once('/')?;
    if let Some(account) = account {
        file = file.strip_prefix(account)?.strip_prefix('/')?;
    }
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
            prunable(&keys, None, &HashSet::new(), 30, NOW),
            [long_gone.as_str()]
        );
    }

    #[test]
    fn a_bundle_iam_still_holds_is_kept_however_old() {
        let old = key("202601010000");
        let name = iam_name_of(&old, None).unwrap();
        assert!(prunable(
            std::slice::from_ref(&old),
            None,
            &HashSet::from([name]),
            30,
            NOW
        )
        .is_empty());
    }

    #[test]
    fn keys_cert_rotator_did_not_write_and_keep_zero_are_left_alone() {
        let keys = vec![
            "archive/0a1b2c3d/notes.json".to_owned(),
            "archive/0a1b2c3d/old-cert.pem".to_owned(),
            "lock/run".to_owned(),
            "archive/x/y/cdn.example.cn-0a1b2c3d-202001010000-00000001.json".to_owned(),
        ];
        assert!(prunable(&keys, None, &HashSet::new(), 30, NOW).is_empty());
        assert!(prunable(&[key("202001010000")], None, &HashSet::new(), 0, NOW).is_empty());
    }

    #[test]
    fn each_accounts_bundles_are_pruned_against_that_accounts_iam_only() {
        let own = key("202001010000");
        let other =
            "archive/0a1b2c3d/111122223333/cdn.example.cn-0a1b2c3d-202001010000-00000001.json";
        let keys = [own.clone(), other.to_owned()];
        assert_eq!(
            prunable(&keys, None, &HashSet::new(), 30, NOW),
            [own.as_str()]
        );
        assert_eq!(
            prunable(&keys, Some("111122223333"), &HashSet::new(), 30, NOW),
            [other]
        );
        assert!(prunable(&keys, Some("444455556666"), &HashSet::new(), 30, NOW).is_empty());
    }
}
