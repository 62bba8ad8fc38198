//! The retirement rule: which IAM certificates under `/cloudfront/` may be deleted at the end of
//! a run, and which must wait.
//!
//! Pure: a function of a listing taken after the swaps, the certificates this run uploaded, the
//! distributions it swapped away from each certificate, and the certificate's tags. A certificate
//! is deleted only when no distribution references it in that listing, this run did not upload
//! it, it carries cert-rotator's `managed-by` tag or the `replaced-by` tag cert-rotator adds
//! before swapping away from someone else's certificate, and every distribution swapped away
//! from it has finished deploying (until then CloudFront may still serve it at some edges).
//!
//! Two more rules keep what CloudFront no longer serves but something else may:
//! - A certificate cert-rotator did not upload (only the `replaced-by` tag, no `managed-by`) is
//!   deleted only when the configuration opts in (`CERT_ROTATOR_RETIRE_FOREIGN`): it may serve
//!   things cert-rotator cannot see. Kept, it keeps its `replaced-by` tag — the record of why —
//!   so that a run after the opt-in retires it; one a load balancer serves loses the tag.
//! - No certificate a load balancer listener (Classic, Application, Network) serves is deleted:
//!   IAM does not reliably refuse that deletion
//!   (<https://docs.aws.amazon.com/IAM/latest/APIReference/API_DeleteServerCertificate.html>). The
//!   listeners are listed once per run, only when something is to be deleted; when that listing
//!   fails, nothing is deleted.

use std::collections::{HashMap, HashSet};

use crate::aws::elb::ListenerUse;
use crate::aws::iam::ServerCert;
use crate::model::inventory::{
    managed_hash, Inventory, MANAGED_BY, TAG_MANAGED_BY, TAG_REPLACED_BY,
};

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
    /// Someone else's certificate cert-rotator replaced, and retiring those is not opted into.
    KeepForeign,
    /// A load balancer listener serves it.
    InUseByLoadBalancer(ListenerUse),
    /// Whether a load balancer serves it is unknown (listing them failed): kept, fail safe.
    LoadBalancersUnknown(String),
    /// Ours and unused: delete it.
    Delete,
}

impl Verdict {
    /// Whether the certificate is kept for good (a load balancer serves it: it is its owner's
    /// now), so that a `replaced-by` tag on someone else's certificate is to be removed again.
    /// One kept only because retiring others' certificates is not opted into keeps its tag: it
    /// records that cert-rotator replaced it, so the opt-in retires it on the next run.
    pub fn keeps_for_good(&self) -> bool {
        matches!(self, Self::InUseByLoadBalancer(_))
    }
}

/// The certificates worth a look: unreferenced in `fresh` and not uploaded by this run.
pub fn candidates<'a>(fresh: &'a Inventory, uploaded: &HashSet<String>) -> Vec<&'a ServerCert> {
    fresh
        .certificates
        .iter()
        .filter(|c| !fresh.is_referenced(&c.id) && !uploaded.contains(&c.id))
        .collect()
}

/// Whether `cert` (unreferenced) was superseded: someone else's certificate (only replaced ones
/// carry the tag that makes them [`ours`]), or one of cert-rotator's for a name set whose
/// distributions serve a certificate expiring later. Retirement before the domains run (to free
/// IAM quota) takes only these: a newer unreferenced certificate is one a dead run uploaded and
/// this run is about to deploy.
pub fn superseded(fresh: &Inventory, cert: &ServerCert) -> bool {
    let Some(hash) = managed_hash(&cert.name) else {
        return true;
    };
    fresh.certificates.iter().any(|c| {
        c.id != cert.id
            && managed_hash(&c.name) == Some(hash)
            && fresh.is_referenced(&c.id)
            && c.expiration > cert.expiration
    })
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

/// Swaps by the certificate swapped away from: certificate id → distribution ids.
pub type Swaps = HashMap<String, Vec<String>>;

/// The swaps that may still keep a certificate: every one this run made (`this_run`), and each
/// swap an earlier run noted (`noted`) unless its distribution was `Deployed` when this run
/// started (`deployed_at_start`) — deployed since that swap, no edge serves the certificate it
/// left. (Runs do not overlap: every note of an earlier run predates this run's start.) Returns
/// the swaps that keep, by certificate, and the notes settled that way.
pub fn unsettled_swaps(
    noted: &Swaps,
    this_run: &Swaps,
    deployed_at_start: &HashSet<String>,
) -> (Swaps, Vec<(String, String)>) {
    let mut keeping: Swaps = this_run.clone();
    let mut settled = Vec::new();
    for (certificate, distributions) in noted {
        for distribution in distributions {
            let ours_now = this_run
                .get(certificate)
                .is_some_and(|d| d.contains(distribution));
            if !ours_now && deployed_at_start.contains(distribution) {
                settled.push((certificate.clone(), distribution.clone()));
            } else {
                keeping
                    .entry(certificate.clone())
                    .or_default()
                    .push(distribution.clone());
            }
        }
    }
    for distributions in keeping.values_mut() {
        distributions.sort_unstable();
        distributions.dedup();
    }
    (keeping, settled)
}

/// Whether a certificate with `tags` is cert-rotator's to delete.
pub fn ours(tags: &[(String, String)]) -> bool {
    uploaded_by_us(tags) || tags.iter().any(|(k, _)| k == TAG_REPLACED_BY)
}

/// Whether cert-rotator uploaded the certificate with `tags` (its `managed-by` tag).
pub fn uploaded_by_us(tags: &[(String, String)]) -> bool {
    tags.iter()
        .any(|(k, v)| k == TAG_MANAGED_BY && v == MANAGED_BY)
}

/// The verdict for a candidate with `tags`, given the distributions still deploying away from it
/// and whether retiring someone else's certificates is opted into. [`Verdict::Delete`] here is
/// provisional: [`before_delete`] has the last word.
pub fn verdict(tags: &[(String, String)], deploying: Vec<String>, retire_foreign: bool) -> Verdict {
    if !ours(tags) {
        Verdict::LeaveAlone
    } else if !uploaded_by_us(tags) && !retire_foreign {
        Verdict::KeepForeign
    } else if !deploying.is_empty() {
        Verdict::Wait { deploying }
    } else {
        Verdict::Delete
    }
}

/// The last word on a certificate about to be deleted: the listeners of the run's load balancer
/// regions (`Err`: why they could not be listed).
pub fn before_delete(arn: &str, listeners: Result<&[ListenerUse], &str>) -> Verdict {
    match listeners {
        Err(why) => Verdict::LoadBalancersUnknown(why.to_owned()),
        Ok(uses) => match uses.iter().find(|u| u.certificate_arn == arn) {
            Some(u) => Verdict::InUseByLoadBalancer(u.clone()),
            None => Verdict::Delete,
        },
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
    fn an_earlier_swap_is_settled_by_a_deployment_seen_since_and_this_runs_never_are() {
        let map = |pairs: &[(&str, &[&str])]| -> HashMap<String, Vec<String>> {
            pairs
                .iter()
                .map(|(c, ds)| (c.to_string(), ds.iter().map(|d| d.to_string()).collect()))
                .collect()
        };
        // An earlier run swapped E1 off A and E2 off B; this run swapped E1 off C (from A's
        // successor) and E3 off B. E1 was Deployed when this run started, E2 was not.
        let noted = map(&[("A", &["E1"]), ("B", &["E2"]), ("C", &["E1"])]);
        let this_run = map(&[("C", &["E1"]), ("B", &["E3"])]);
        let deployed = HashSet::from(["E1".to_owned(), "E3".to_owned()]);
        let (keeping, settled) = unsettled_swaps(&noted, &this_run, &deployed);
        assert_eq!(settled, [("A".to_owned(), "E1".to_owned())]);
        assert_eq!(keeping, map(&[("B", &["E2", "E3"]), ("C", &["E1"])]));
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
        for foreign in [false, true] {
            assert_eq!(verdict(&[], vec![], foreign), Verdict::LeaveAlone);
            assert_eq!(
                verdict(&[tag(TAG_MANAGED_BY, "someone-else")], vec![], foreign),
                Verdict::LeaveAlone
            );
            assert_eq!(
                verdict(&[tag(TAG_MANAGED_BY, MANAGED_BY)], vec![], foreign),
                Verdict::Delete
            );
        }
        assert_eq!(
            verdict(&[tag(TAG_REPLACED_BY, "www-new")], vec![], true),
            Verdict::Delete,
            "someone else's certificate that cert-rotator replaced, with the opt-in"
        );
    }

    #[test]
    fn someone_elses_certificate_is_kept_without_the_opt_in() {
        let replaced = [tag(TAG_REPLACED_BY, "www-new")];
        let v = verdict(&replaced, vec![], false);
        assert_eq!(v, Verdict::KeepForeign);
        assert!(
            !v.keeps_for_good(),
            "its replaced-by tag stays: the opt-in retires it on a later run"
        );
        assert_eq!(
            verdict(&replaced, vec!["E1".into()], false),
            Verdict::KeepForeign,
            "kept as someone else's, not waiting"
        );
        assert_eq!(
            verdict(
                &[
                    tag(TAG_MANAGED_BY, "someone-else"),
                    tag(TAG_REPLACED_BY, "x")
                ],
                vec![],
                false
            ),
            Verdict::KeepForeign,
            "managed by something else is not ours"
        );
        let waiting = verdict(&replaced, vec!["E1".into()], true);
        assert!(matches!(waiting, Verdict::Wait { .. }) && !waiting.keeps_for_good());
    }

    #[test]
    fn a_certificate_a_load_balancer_serves_is_kept() {
        let arn = "arn:aws-cn:iam::1:server-certificate/cloudfront/old";
        let alb = ListenerUse {
            certificate_arn: arn.into(),
            load_balancer: "shop".into(),
            listener: "arn:aws-cn:elasticloadbalancing:cn-north-1:1:listener/app/shop/1/2".into(),
            region: "cn-north-1".into(),
        };
        let other = ListenerUse {
            certificate_arn: "arn:aws-cn:iam::1:server-certificate/cloudfront/new".into(),
            load_balancer: "classic".into(),
            listener: "443".into(),
            region: "cn-northwest-1".into(),
        };
        let uses = [other.clone(), alb.clone()];
        let v = before_delete(arn, Ok(&uses));
        assert_eq!(v, Verdict::InUseByLoadBalancer(alb));
        assert!(v.keeps_for_good());
        assert_eq!(before_delete(arn, Ok(&uses[..1])), Verdict::Delete);
        assert_eq!(before_delete(arn, Ok(&[])), Verdict::Delete);
        let unknown = before_delete(arn, Err("elb DescribeLoadBalancers failed: AccessDenied"));
        assert_eq!(
            unknown,
            Verdict::LoadBalancersUnknown("elb DescribeLoadBalancers failed: AccessDenied".into()),
            "fail safe: nothing is deleted when the listeners are unknown"
        );
        assert!(!unknown.keeps_for_good(), "retired on a later run");
    }

    #[test]
    fn only_certificates_replaced_by_a_later_one_are_superseded() {
        let at = |day: u8| {
            Some(
                time::Date::from_calendar_date(2027, time::Month::March, day)
                    .unwrap()
                    .midnight()
                    .assume_utc(),
            )
        };
        let managed = |id: &str, day: u8| ServerCert {
            name: format!(
                "cdn.example.cn-0a1b2c3d-202703{day:02}0000-0000000{}",
                &id[..1]
            ),
            expiration: at(day),
            ..cert(id)
        };
        let (old, deployed, dead_runs) = (managed("1", 1), managed("2", 20), managed("3", 28));
        let fresh = Inventory {
            certificates: vec![old.clone(), deployed.clone(), dead_runs.clone(), cert("F")],
            distributions: vec![dist("E1", ViewerCert::Iam("2".into()), "Deployed")],
        };
        assert!(superseded(&fresh, &old));
        assert!(
            !superseded(&fresh, &dead_runs),
            "newer than what is served: about to be deployed"
        );
        assert!(
            superseded(&fresh, &cert("F")),
            "someone else's: its tags decide"
        );
        let nothing_served = Inventory {
            distributions: vec![],
            ..fresh
        };
        assert!(!superseded(&nothing_served, &old));
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
            verdict(&[tag(TAG_MANAGED_BY, MANAGED_BY)], deploying, false),
            Verdict::Wait {
                deploying: vec!["E1".into()]
            }
        );
        assert!(still_deploying(&fresh, &swapped, "OTHER").is_empty());
    }
}
