//! Where each challenge record goes, found before anything is ordered or written, and a solver
//! that writes every record there.

use std::collections::{BTreeMap, HashMap};

use super::{Challenge, Dns01Solver, Placement, Route53Solver, SolverError};
use crate::acme::delegation::Delegation;
use crate::model::dns::DnsSettings;
use crate::model::role::Role;

/// Where the challenge records `records` of a domain go, found before anything is ordered or
/// written: each record's CNAME chain followed to its end ([`Delegation`], concurrently), the
/// hosted zone chosen there as the domain names it (`dns.hosted_zone_id`) or as the one public
/// zone of the account owning it ([`Route53Solver::zone_for`]), in the account of `dns.role`.
pub async fn locate(
    solver: &Route53Solver,
    dns: &DnsSettings,
    delegation: Option<&Delegation>,
    records: &[String],
) -> Result<Vec<Placement>, SolverError> {
    let targets = futures::future::try_join_all(records.iter().map(|record| async move {
        match delegation {
            Some(delegation) => delegation.target(record).await,
            None => Ok(record.clone()),
        }
    }))
    .await?;
    let account = dns.role.as_ref().map(|r| r.account().to_owned());
    records
        .iter()
        .zip(targets)
        .map(|(record, target)| {
            let zone = solver.zone_for(&target, dns.hosted_zone_id.as_deref())?;
            Ok(Placement {
                record: record.clone(),
                delegated_to: (target != *record).then_some(target),
                zone: zone.id.clone(),
                zone_name: zone.name.clone(),
                account: account.clone(),
            })
        })
        .collect()
}

/// A solver that writes every challenge where [`locate`] placed its record — at the end of its
/// CNAME chain, in the zone found there, in the account of `dns.role` — so that the journal,
/// wrapped inside, records the zone actually written and a later cleanup never looks it up again
/// (a second zone of the same name created since cannot make it ambiguous).
#[derive(Debug)]
pub struct Placed<'a, S> {
    inner: &'a S,
    role: Option<&'a Role>,
    /// Each challenge record's (target, zone id), by the record's canonical name.
    places: HashMap<String, (&'a str, &'a str)>,
}

impl<'a, S: Dns01Solver> Placed<'a, S> {
    /// `inner`, writing at `placements`, through `role`'s account.
    pub fn new(inner: &'a S, role: Option<&'a Role>, placements: &'a [Placement]) -> Self {
        let places = placements
            .iter()
            .map(|p| {
                let target = p.delegated_to.as_deref().unwrap_or(&p.record);
                (canonical(&p.record), (target, p.zone.as_str()))
            })
            .collect();
        Self {
            inner,
            role,
            places,
        }
    }

    /// The challenges placed, and the records of those that were not.
    fn placed<'c>(&self, challenges: &'c [Challenge]) -> (Vec<Challenge>, Vec<&'c str>) {
        let mut placed = Vec::with_capacity(challenges.len());
        let mut unplaced = Vec::new();
        for c in challenges {
            match self.places.get(&canonical(&c.record)) {
                Some((target, zone)) => placed.push(Challenge {
                    record: (*target).to_owned(),
                    zone: Some((*zone).to_owned()),
                    role: self.role.cloned(),
                    value: c.value.clone(),
                }),
                None => unplaced.push(c.record.as_str()),
            }
        }
        (placed, unplaced)
    }
}

/// A record name as compared: lowercase, without a trailing dot.
fn canonical(record: &str) -> String {
    record.trim_end_matches('.').to_ascii_lowercase()
}

impl<S: Dns01Solver> Dns01Solver for Placed<'_, S> {
    async fn present(&self, challenges: &[Challenge]) -> Result<(), SolverError> {
        match self.placed(challenges) {
            (placed, unplaced) if unplaced.is_empty() => self.inner.present(&placed).await,
            (_, unplaced) => Err(SolverError::Unplaced(unplaced.join(", "))),
        }
    }

    async fn cleanup(&self, challenges: &[Challenge]) -> Result<(), SolverError> {
        // Nothing was written for a challenge that was not placed (present refused them all).
        self.inner.cleanup(&self.placed(challenges).0).await
    }
}

/// Groups challenge values by record name, with the zone named for it (if any).
pub(super) fn by_record(challenges: &[Challenge]) -> BTreeMap<&str, (Option<&str>, Vec<&str>)> {
    let mut map: BTreeMap<&str, (Option<&str>, Vec<&str>)> = BTreeMap::new();
    for c in challenges {
        let (zone, values) = map.entry(c.record.as_str()).or_default();
        *zone = zone.or(c.zone.as_deref());
        values.push(c.value.as_str());
    }
    map
}
