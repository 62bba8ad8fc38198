//! Step 1, observe: what serves the domain's names now — every distribution serving them and the
//! certificate it carries (read once per run, with the CA's renewal window), the renewal plan of
//! CloudFront through IAM, and cert-rotator's certificate for the names in each ACM region.

use tracing::{info, warn};

use super::{Context, DomainError, Listing};
use crate::aws::acm::AcmCert;
use crate::aws::cloudfront::ViewerCert;
use crate::aws::iam::CLOUDFRONT_PATH;
use crate::certs::certificate;
use crate::event::DomainRequest;
use crate::model::inventory::{Inventory, TAG_NAMES_HASH};
use crate::model::targets::CloudFrontVia;
use crate::plan::delivery::{AcmTarget, Held};
use crate::plan::{self, Action, Attached, Deployed, Observed, Plan};
use crate::ports::Ports;
use crate::report::{CertRef, DomainReport, Serving};

/// What serves one domain now.
#[derive(Debug, Clone)]
pub struct Seen {
    /// The distributions serving the names (when the domain has a CloudFront target).
    pub observed: Vec<Observed>,
    /// The renewal plan of CloudFront through IAM.
    pub renewal: Option<Plan>,
    /// Each ACM target and what its region holds.
    pub acm: Vec<AcmTarget>,
}

/// Reads the IAM certificate `id` and, with `use_ari`, its renewal window.
pub async fn read_certificate(
    ports: Ports<'_>,
    inventory: &Inventory,
    id: &str,
    use_ari: bool,
) -> Attached {
    let unreadable = |why: String| Attached::Unreadable {
        id: id.to_owned(),
        why,
    };
    let Some(meta) = inventory.certificate(id) else {
        return unreadable(format!(
            "IAM certificate {id} is not under {CLOUDFRONT_PATH} in this account"
        ));
    };
    let body = match ports.iam.get(&meta.name).await {
        Ok(Some(body)) => body,
        Ok(None) => return unreadable(format!("IAM certificate {} is gone", meta.name)),
        Err(e) => return unreadable(e.to_string()),
    };
    let leaf = match certificate::pem_chain(&body.body).and_then(|ders| certificate::info(&ders[0]))
    {
        Ok(leaf) => leaf,
        Err(e) => {
            return unreadable(format!(
                "IAM certificate {} cannot be parsed: {e}",
                meta.name
            ))
        }
    };
    let info = match use_ari {
        true => ports.ca.renewal_info(&leaf.der).await,
        false => None,
    };
    Attached::Cert(Deployed {
        id: id.to_owned(),
        name: meta.name.clone(),
        names: leaf.names,
        not_before: leaf.not_before,
        not_after: leaf.not_after,
        window: info.as_ref().map(|i| i.window),
        ari_id: info.and_then(|i| i.ari_id),
    })
}

/// The distributions serving `domain`'s names, each with the certificate read for it.
pub fn observed_for(listing: &Listing, domain: &DomainRequest) -> Vec<Observed> {
    listing
        .inventory
        .serving(&domain.names)
        .into_iter()
        .map(|s| Observed {
            distribution: s.distribution.id.clone(),
            attached: match &s.distribution.viewer {
                ViewerCert::Default => Attached::None,
                ViewerCert::Acm(arn) => Attached::Acm(arn.clone()),
                ViewerCert::Iam(id) => {
                    listing
                        .attached
                        .get(id)
                        .cloned()
                        .unwrap_or(Attached::Unreadable {
                            id: id.clone(),
                            why: "not read".into(),
                        })
                }
            },
            uncovered: s.uncovered.iter().map(|a| (*a).to_owned()).collect(),
        })
        .collect()
}

/// The renewal plan, reading the freshest certificate already uploaded for the names only when
/// the domain is due (a dead run may have uploaded it without attaching it everywhere).
pub async fn renewal_plan(cx: &Context<'_>, domain: &DomainRequest, observed: &[Observed]) -> Plan {
    let policy = &cx.config.policy;
    let first = plan::decide(&domain.names, domain.force, observed, None, policy, cx.now);
    if domain.force || !matches!(first.action, Action::Issue { .. }) {
        return first;
    }
    let inventory = &cx.listing.inventory;
    let Some(latest) = inventory
        .uploaded_for(&domain.names)
        .first()
        .map(|c| c.id.clone())
    else {
        return first;
    };
    match read_certificate(cx.ports, inventory, &latest, policy.use_ari).await {
        Attached::Cert(candidate) => plan::decide(
            &domain.names,
            false,
            observed,
            Some(&candidate),
            policy,
            cx.now,
        ),
        _ => first,
    }
}

/// The certificate cert-rotator imported for `hash` in a region's listing (the latest, if a
/// dead run left two).
pub fn acm_current<'a>(certs: &'a [AcmCert], hash: &str) -> Option<&'a AcmCert> {
    certs
        .iter()
        .filter(|c| c.tag(TAG_NAMES_HASH) == Some(hash))
        .max_by_key(|c| c.not_after)
}

/// What each of the domain's ACM regions holds for the names.
pub fn acm_targets(
    listing: &Listing,
    domain: &DomainRequest,
    hash: &str,
) -> Result<Vec<AcmTarget>, DomainError> {
    domain
        .targets
        .acm
        .iter()
        .map(|target| match listing.acm.get(&target.region) {
            Some(Ok(certs)) => Ok(AcmTarget {
                target: target.clone(),
                held: acm_current(certs, hash).map(|c| Held {
                    arn: c.arn.clone(),
                    serial: c.serial.clone(),
                    not_before: c.not_before,
                    not_after: c.not_after,
                }),
            }),
            Some(Err(message)) => Err(DomainError::AcmListing {
                region: target.region.clone(),
                message: message.clone(),
            }),
            None => Err(DomainError::AcmNotListed(target.region.clone())),
        })
        .collect()
}

/// Step 1 for `domain`.
pub async fn observe(
    cx: &Context<'_>,
    domain: &DomainRequest,
    hash: &str,
) -> Result<Seen, DomainError> {
    let acm = acm_targets(cx.listing, domain, hash)?;
    let observed = match domain.targets.cloudfront {
        Some(_) => observed_for(cx.listing, domain),
        None => vec![],
    };
    let renewal = match domain.targets.cloudfront {
        Some(CloudFrontVia::Iam) => Some(renewal_plan(cx, domain, &observed).await),
        _ => None,
    };
    Ok(Seen {
        observed,
        renewal,
        acm,
    })
}

/// What the report says of the observation: the oldest certificate serving the names and its
/// days left, the renewal plan, and the distributions left alone.
pub fn report(seen: &Seen, label: &str, cx: &Context<'_>, report: &mut DomainReport) {
    let oldest = seen
        .observed
        .iter()
        .filter_map(|o| match &o.attached {
            Attached::Cert(c) => Some(c),
            _ => None,
        })
        .min_by_key(|c| c.not_after);
    if let Some(oldest) = oldest {
        report.old_certificate = Some(CertRef {
            id: oldest.id.clone(),
            name: oldest.name.clone(),
            not_after: Some(oldest.not_after),
        });
    }
    let soonest = seen
        .acm
        .iter()
        .filter_map(|t| {
            let held = t.held.as_ref()?;
            Some(Serving {
                not_before: held.not_before,
                not_after: held.not_after?,
                window: None,
            })
        })
        .chain(oldest.map(|c| Serving {
            not_before: Some(c.not_before),
            not_after: c.not_after,
            window: c.window,
        }))
        .min_by_key(|s| s.not_after);
    if let Some(serving) = soonest {
        report.note_serving(serving, &cx.config.policy, cx.now);
    }
    if let Some(plan) = &seen.renewal {
        info!(domain = %label, plan = %serde_json::to_string(plan).unwrap_or_default(), "decided");
        for b in &plan.blocked {
            warn!(domain = %label, distribution = %b.distribution, why = %b.why, "left alone");
        }
        report.plan = Some(plan.clone());
    }
}
