//! What a run lists once: IAM certificates under `/cloudfront/` and every distribution, the
//! certificate attached to each distribution serving a requested name (read once, with its
//! renewal window), cert-rotator's ACM certificates per region — and the inventory with days
//! left that every report carries.

use std::collections::HashMap;

use futures::stream::{self, StreamExt};
use time::OffsetDateTime;

use crate::aws::acm::AcmCert;
use crate::aws::cloudfront::ViewerCert;
use crate::aws::iam::CLOUDFRONT_PATH;
use crate::aws::{AwsError, Clients};
use crate::config::Config;
use crate::domain::{self, observe};
use crate::event::Request;
use crate::model::inventory::{self, Inventory, MANAGED_BY, TAG_MANAGED_BY, TAG_NAMES};
use crate::plan::Attached;
use crate::ports::Ports;
use crate::report::InventoryItem;

/// ACM listings per region, or why a region's listing failed.
pub type AcmListing = HashMap<String, Result<Vec<AcmCert>, String>>;

/// IAM certificates under `/cloudfront/` and every distribution, concurrently.
pub async fn list_inventory(clients: &Clients) -> Result<Inventory, AwsError> {
    let (certificates, distributions) =
        tokio::try_join!(clients.iam.list(CLOUDFRONT_PATH), clients.cloudfront.list())?;
    Ok(Inventory {
        certificates,
        distributions,
    })
}

/// The ACM regions a run lists: those its domains' targets name, and CERT_ROTATOR_ACM_REGIONS.
pub fn acm_regions(config: &Config, request: &Request) -> Vec<String> {
    let mut regions: Vec<String> = config.acm_regions.clone();
    for d in &request.domains {
        for r in d.targets.acm_regions() {
            if !regions.iter().any(|x| x == r) {
                regions.push(r.to_owned());
            }
        }
    }
    regions
}

/// cert-rotator's ACM certificates in each region, concurrently.
pub async fn list_acm(clients: &Clients, regions: &[String], at_once: usize) -> AcmListing {
    stream::iter(regions.iter().cloned())
        .map(|region| async move {
            let listed = clients
                .acm
                .list_tagged(&region, TAG_MANAGED_BY, MANAGED_BY)
                .await
                .map_err(|e| e.to_string());
            (region, listed)
        })
        .buffer_unordered(at_once.max(1))
        .collect()
        .await
}

/// Reads each distinct IAM certificate attached to a distribution serving a requested name, and
/// its renewal window: one GetServerCertificate and one renewalInfo GET each, concurrently.
pub async fn observe_attached(
    ports: Ports<'_>,
    inventory: &Inventory,
    request: &Request,
    (use_ari, at_once): (bool, usize),
) -> HashMap<String, Attached> {
    let mut ids: Vec<String> = Vec::new();
    for d in &request.domains {
        for s in inventory.serving(&d.names) {
            if let ViewerCert::Iam(id) = &s.distribution.viewer {
                if !ids.contains(id) {
                    ids.push(id.clone());
                }
            }
        }
    }
    stream::iter(ids)
        .map(|id| async move {
            let attached = observe::read_certificate(ports, inventory, &id, use_ari).await;
            (id, attached)
        })
        .buffer_unordered(at_once.max(4))
        .collect()
        .await
}

/// Every IAM certificate under `/cloudfront/` and cert-rotator's ACM certificates, soonest
/// expiry first.
pub fn inventory_items(
    iam: &Inventory,
    acm: &AcmListing,
    now: OffsetDateTime,
) -> Vec<InventoryItem> {
    let mut items: Vec<InventoryItem> = iam
        .certificates
        .iter()
        .map(|c| InventoryItem {
            account: None,
            store: "iam",
            region: None,
            id: c.name.clone(),
            names: None,
            not_after: c.expiration,
            days_left: c.expiration.map(|na| domain::days_left(na, now)),
            lifetime_days: None,
            managed: inventory::managed_hash(&c.name).is_some(),
            in_use: iam.is_referenced(&c.id),
        })
        .collect();
    for (region, listed) in acm {
        for c in listed.iter().flatten() {
            items.push(InventoryItem {
                account: None,
                store: "acm",
                region: Some(region.clone()),
                id: c.arn.clone(),
                names: c.tag(TAG_NAMES).map(str::to_owned),
                not_after: c.not_after,
                days_left: c.not_after.map(|na| domain::days_left(na, now)),
                lifetime_days: c
                    .not_before
                    .zip(c.not_after)
                    .map(|(nb, na)| crate::report::days(nb, na)),
                managed: true,
                in_use: !c.in_use_by.is_empty(),
            });
        }
    }
    soonest_first(&mut items);
    items
}

/// Sorts an inventory by expiry, soonest first (undated last), then by id.
pub fn soonest_first(items: &mut [InventoryItem]) {
    items.sort_by(|a, b| {
        a.days_left
            .unwrap_or(f64::MAX)
            .total_cmp(&b.days_left.unwrap_or(f64::MAX))
            .then_with(|| a.id.cmp(&b.id))
    });
}
