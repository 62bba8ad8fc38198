//! Retirement at the end of a run: deletes the IAM certificates the rule in
//! [`crate::plan::retirement`] allows, from a listing taken after the swaps, and reports why each
//! of the others was kept.

use std::collections::{HashMap, HashSet};

use tracing::info;

use super::listing::list_inventory;
use crate::aws::iam::Deletion;
use crate::aws::Clients;
use crate::model::inventory::Inventory;
use crate::plan::retirement::{self, Verdict};
use crate::report::{Retirement, RetirementResult};

/// Retires what may be retired; returns what it did and the listing it judged by.
pub async fn retire(
    clients: &Clients,
    swapped_off: &HashMap<String, Vec<String>>,
    uploaded: &HashSet<String>,
) -> (Vec<Retirement>, Option<Inventory>) {
    let fresh = match list_inventory(clients).await {
        Ok(inventory) => inventory,
        Err(e) => {
            let failed = Retirement {
                name: "*".into(),
                result: RetirementResult::NotAttempted(e.to_string()),
            };
            return (vec![failed], None);
        }
    };
    let mut out = Vec::new();
    for cert in retirement::candidates(&fresh, uploaded) {
        let deploying = retirement::still_deploying(&fresh, swapped_off, &cert.id);
        let tags = match clients.iam.tags(&cert.name).await {
            Ok(tags) => tags,
            Err(e) => {
                out.push(Retirement {
                    name: cert.name.clone(),
                    result: RetirementResult::KeptUnknownTags(e.to_string()),
                });
                continue;
            }
        };
        let result = match retirement::verdict(&tags, deploying) {
            Verdict::LeaveAlone => continue, // never touch what we neither uploaded nor replaced
            Verdict::Wait { deploying } => RetirementResult::KeptDeploying(deploying),
            Verdict::Delete => match clients.iam.delete(&cert.name).await {
                Ok(Deletion::Deleted) => RetirementResult::Deleted,
                Ok(Deletion::Gone) => RetirementResult::AlreadyGone,
                Ok(Deletion::InUse(why)) => RetirementResult::KeptInUse(why),
                Err(e) => RetirementResult::KeptError(e.to_string()),
            },
        };
        info!(certificate = %cert.name, %result, "retire");
        out.push(Retirement {
            name: cert.name.clone(),
            result,
        });
    }
    (out, Some(fresh))
}
