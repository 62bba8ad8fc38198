//! The retirement rule: which IAM certificates under `/cloudfront/` may be deleted at the end of
//! a run, and which must wait.
//!
//! Pure: a function of a listing taken after the swaps, the certificates this run uploaded, the
//! distributions it swapped away from each certificate, and the certificate's tags. A certificate
//! is deleted only when no distribution references it in that listing, this run did not upload
//! it, it carries cert-rotator's `managed-by` tag or the `replaced-by` tag cert-rotator adds
//! before swapping away from someone else's certificate, and every distribution swapped away
//! from it has finished deploying (until then CloudFront may still serve it at some edges).

use std::collections::{HashMap, HashSet};

use crate::aws::iam::ServerCert;
use crate::model::inventory::{Inventory, MANAGED_BY, TAG_MANAGED_BY, TAG_REPLACED_BY};

/// What to do with one certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Not ours to touch (neither uploaded nor replaced by cert-rotator): not reported.
    LeaveAlone,
    /// Ours, but distributions swapped away from it are still deploying.
    Wait {
        /// Those distributions.
        deploying: Vec<String>,
    },
    /// Ours and unused: delete it.
    Delete,
}

/// The certificates worth a look: unreferenced in `fresh` and not uploaded by this run.
pub fn candidates<'a>(fresh: &'a Inventory, uploaded: &HashSet<String>) -> Vec<&'a ServerCert> {
    fresh
        .certificates
        .iter()
        .filter(|c| !fresh.is_referenced(&c.id) && !uploaded.contains(&c.id))
        .collect()
}

/// The distributions swapped away from certificate `id` in this run that `fresh` shows still
/// deploying.
pub fn still_deploying(
    fresh: &Inventory,
    swapped_off: &HashMap<String, Vec<String>>,
    id: &str,
) -> Vec<String> {
    swapped_off
        .get(id)
        .into_iter()
        .flatten()
        .filter(|d| {
            fresh
                .distributions
                .iter()
                .any(|x| &x.id == *d && x.status != "Deployed")
        })
        .cloned()
        .collect()
}

/// Whether a certificate with `tags` is cert-rotator's to delete.
pub fn ours(tags: &[(String, String)]) -> bool {
    tags.iter()
        .any(|(k, v)| (k == TAG_MANAGED_BY && v == MANAGED_BY) || k == TAG_REPLACED_BY)
}

/// The verdict for a candidate with `tags`, given the distributions still deploying away from it.
pub fn verdict(tags: &[(String, String)], deploying: Vec<String>) -> Verdict {
    if !ours(tags) {
        Verdict::LeaveAlone
    } else if !deploying.is_empty() {
        Verdict::Wait { deploying }
    } else {
        Verdict::Delete
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aws::cloudfront::{Distribution, ViewerCert};

    fn cert(id: &str) -> ServerCert {
        ServerCert {
            id: id.into(),
            name: format!("name-{id}"),
            path: "/cloudfront/".into(),
            arn: format!("arn:aws-cn:iam::1:server-certificate/cloudfront/name-{id}"),
            expiration: None,
        }
    }

    fn dist(id: &str, viewer: ViewerCert, status: &str) -> Distribution {
        Distribution {
            id: id.into(),
            domain_name: format!("{id}.cloudfront.cn"),
            aliases: vec![],
            viewer,
            status: status.into(),
        }
    }

    fn tag(k: &str, v: &str) -> (String, String) {
        (k.into(), v.into())
    }

    #[test]
    fn referenced_and_just_uploaded_certificates_are_not_candidates() {
        let fresh = Inventory {
            certificates: vec![cert("A"), cert("B"), cert("C")],
            distributions: vec![dist("E1", ViewerCert::Iam("A".into()), "Deployed")],
        };
        let uploaded = HashSet::from(["B".to_owned()]);
        let ids: Vec<&str> = candidates(&fresh, &uploaded)
            .iter()
            .map(|c| c.id.as_str())
            .collect();
        assert_eq!(ids, ["C"]);
    }

    #[test]
    fn only_our_tags_make_a_certificate_deletable() {
        assert_eq!(verdict(&[], vec![]), Verdict::LeaveAlone);
        assert_eq!(
            verdict(&[tag(TAG_MANAGED_BY, "someone-else")], vec![]),
            Verdict::LeaveAlone
        );
        assert_eq!(
            verdict(&[tag(TAG_MANAGED_BY, MANAGED_BY)], vec![]),
            Verdict::Delete
        );
        assert_eq!(
            verdict(&[tag(TAG_REPLACED_BY, "www-new")], vec![]),
            Verdict::Delete,
            "someone else's certificate that cert-rotator replaced"
        );
    }

    #[test]
    fn a_certificate_waits_while_a_distribution_it_left_is_deploying() {
        let fresh = Inventory {
            certificates: vec![cert("OLD")],
            distributions: vec![
                dist("E1", ViewerCert::Iam("NEW".into()), "InProgress"),
                dist("E2", ViewerCert::Iam("NEW".into()), "Deployed"),
            ],
        };
        let swapped = HashMap::from([("OLD".to_owned(), vec!["E1".into(), "E2".into()])]);
        let deploying = still_deploying(&fresh, &swapped, "OLD");
        assert_eq!(deploying, ["E1"]);
        assert_eq!(
            verdict(&[tag(TAG_MANAGED_BY, MANAGED_BY)], deploying),
            Verdict::Wait {
                deploying: vec!["E1".into()]
            }
        );
        assert!(still_deploying(&fresh, &swapped, "OTHER").is_empty());
    }
}
