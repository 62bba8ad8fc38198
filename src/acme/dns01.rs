//! DNS-01 challenge records in Route 53 (RFC 8555 section 8.4).
//!
//! A [`Dns01Solver`] presents TXT values before the CA is told to validate and removes them
//! afterwards — after success and after failure. [`Route53Solver`] puts each value in the public
//! hosted zone that owns its record (longest match on label boundaries), merges values that share
//! a record (an apex and its wildcard), waits until Route 53 reports the change INSYNC, and on
//! cleanup removes only its own values, leaving anyone else's in place.

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{oneshot, Mutex, OnceCell};

use crate::acme::delegation::{Delegation, DelegationError};
use crate::acme::propagation::{Propagation, PropagationError};
use crate::aws::route53::{HostedZone, Route53, TxtChange, TxtRecordSet};
use crate::aws::AwsError;
use crate::model::dns::DnsSettings;
use crate::model::names::{in_zone, owning_zones};
use crate::model::role::Role;

/// One challenge response: a TXT value at a record name (`_acme-challenge.<name>`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Challenge {
    /// The record name, e.g. `_acme-challenge.cdn.example.cn`.
    pub record: String,
    /// The value, `base64url(SHA-256(key authorization))`.
    pub value: String,
    /// The hosted zone to write it in, when the domain names one (`dns.hosted_zone_id`); else
    /// the public zone of the account that owns the record. Journaled, so cleanup after a crash
    /// removes it from the same zone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub zone: Option<String>,
    /// The role whose account holds the zone (`dns.role`), when it is not the function's own.
    /// Journaled, so cleanup after a crash goes through the same role.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<Role>,
}

impl Challenge {
    /// A value at a record, placed nowhere yet (see [`Placed`]).
    pub fn new(record: impl Into<String>, value: impl Into<String>) -> Self {
        Self {
            record: record.into(),
            value: value.into(),
            zone: None,
            role: None,
        }
    }
}

/// Where a name's challenge record is written, found as an order finds it and written nowhere:
/// what a dry run reports of a domain's DNS settings.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Placement {
    /// The name's challenge record, `_acme-challenge.<name>`.
    pub record: String,
    /// Where its TXT values go instead: the end of the record's CNAME chain, when delegated.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delegated_to: Option<String>,
    /// The Route 53 hosted zone written in.
    pub zone: String,
    /// That zone's name.
    pub zone_name: String,
    /// The account holding the zone, when the domain names its role (`dns.role`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub account: Option<String>,
}

/// Why challenge records could not be written or removed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SolverError {
    /// No public hosted zone of the account contains the record.
    #[error("no public Route 53 hosted zone of {account} contains {record} — create a hosted zone for the domain there, name the account holding it with dns.role, or delegate _acme-challenge to one with a CNAME")]
    NoZone {
        /// The challenge record.
        record: String,
        /// Whose zones were searched.
        account: String,
    },
    /// Several public hosted zones of the account have the name that owns the record.
    #[error("{record}: {account} has {} public hosted zones named {name} ({}) — set the domain's dns.hosted_zone_id to the one the parent zone delegates to (its NS records)", zones.len(), zones.join(", "))]
    AmbiguousZone {
        /// The challenge record.
        record: String,
        /// Whose zones were searched.
        account: String,
        /// The zones' name.
        name: String,
        /// Their ids.
        zones: Vec<String>,
    },
    /// The zone the domain names cannot hold the record.
    #[error("hosted zone {zone} (dns.hosted_zone_id) is not a public hosted zone of {account} holding {record} — name the zone that holds it (the domain's names, or the target of their _acme-challenge CNAME; aws route53 list-hosted-zones-by-name), or the account's role in dns.role")]
    NamedZone {
        /// The zone id the domain named.
        zone: String,
        /// Whose zones were searched.
        account: String,
        /// The challenge record.
        record: String,
    },
    /// The CA asked for a challenge at a record that was not placed before the order.
    #[error("the CA asked for challenge records at {0}, not placed before the order (the order's names and the CA's differ): nothing was written — report this with the names of the domain")]
    Unplaced(String),
    /// Route 53 refused or failed.
    #[error(transparent)]
    Aws(#[from] AwsError),
    /// The solver for the account holding the records could not be made (its role could not be
    /// assumed, its zones not listed).
    #[error("{0}")]
    Setup(String),
    /// The challenge journal could not be written or read.
    #[error("challenge journal: {0}")]
    Journal(String),
    /// The challenge record's CNAME delegation could not be followed.
    #[error(transparent)]
    Delegation(#[from] DelegationError),
    /// The values did not reach the zone's authoritative servers.
    #[error(transparent)]
    Propagation(#[from] PropagationError),
}

/// Where DNS-01 answers are published. `present` returns once the CA can see them.
pub trait Dns01Solver: Sync {
    /// Publishes every challenge and waits until they are visible.
    fn present(
        &self,
        challenges: &[Challenge],
    ) -> impl Future<Output = Result<(), SolverError>> + Send;
    /// Removes exactly the values `present` added.
    fn cleanup(
        &self,
        challenges: &[Challenge],
    ) -> impl Future<Output = Result<(), SolverError>> + Send;
}

/// `current` plus `ours`, without duplicates, at `ttl` (Route 53 has one TTL per record set).
pub fn with_values(current: Option<&TxtRecordSet>, ours: &[&str], ttl: i64) -> TxtRecordSet {
    let mut values: Vec<String> = current.map(|c| c.values.clone()).unwrap_or_default();
    for v in ours {
        if !values.iter().any(|x| x == v) {
            values.push((*v).to_owned());
        }
    }
    TxtRecordSet {
        ttl: current.map_or(ttl, |c| c.ttl),
        values,
    }
}

/// `current` without `ours`; `None` when nothing is left (the record set is to be deleted).
pub fn without_values(current: &TxtRecordSet, ours: &[&str]) -> Option<TxtRecordSet> {
    let values: Vec<String> = current
        .values
        .iter()
        .filter(|v| !ours.contains(&v.as_str()))
        .cloned()
        .collect();
    (!values.is_empty()).then_some(TxtRecordSet {
        ttl: current.ttl,
        values,
    })
}

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
fn by_record(challenges: &[Challenge]) -> BTreeMap<&str, (Option<&str>, Vec<&str>)> {
    let mut map: BTreeMap<&str, (Option<&str>, Vec<&str>)> = BTreeMap::new();
    for c in challenges {
        let (zone, values) = map.entry(c.record.as_str()).or_default();
        *zone = zone.or(c.zone.as_deref());
        values.push(c.value.as_str());
    }
    map
}

/// DNS-01 through Route 53.
#[derive(Debug)]
pub struct Route53Solver {
    route53: Route53,
    zones: Vec<HostedZone>,
    /// Whose zones these are, for errors: "the function's account", or a role's.
    account: String,
    ttl: i64,
    max_wait: Duration,
    /// Serializes read-modify-write of record sets within this run (two domains may share one).
    write: Mutex<()>,
    /// Confirms values at the authoritative servers after INSYNC, if set.
    propagation: Option<Propagation>,
    /// Each zone's name servers, read once per run.
    name_servers: Mutex<HashMap<String, Arc<OnceCell<Vec<String>>>>>,
    /// Writes waiting for the next Route 53 turn, per (zone, delete?): sent as one batch.
    gathering: Mutex<HashMap<(String, bool), Vec<Waiting>>>,
    /// Each change's wait for INSYNC, shared by the orders whose records it carries.
    insync: Mutex<HashMap<String, SharedWait>>,
    /// The record sets this run created holding only its own values: cleanup deletes them
    /// without reading first (a DELETE must match exactly, so one changed since fails safely).
    created: Mutex<HashMap<String, TxtRecordSet>>,
}

impl Route53Solver {
    /// A solver over the account's public `zones` (listed once per run); `max_wait` bounds the
    /// wait for INSYNC.
    pub fn new(route53: Route53, zones: Vec<HostedZone>, max_wait: Duration) -> Self {
        Self {
            route53,
            zones,
            account: "the function's account".to_owned(),
            ttl: 60,
            max_wait,
            write: Mutex::new(()),
            propagation: None,
            name_servers: Mutex::new(HashMap::new()),
            gathering: Mutex::new(HashMap::new()),
            insync: Mutex::new(HashMap::new()),
            created: Mutex::new(HashMap::new()),
        }
    }

    /// The zones are those of `role`'s account (for errors naming where a record was looked for).
    pub fn in_account(mut self, role: Option<&Role>) -> Self {
        if let Some(role) = role {
            self.account = format!("account {} (role {role})", role.account());
        }
        self
    }

    /// Also confirm each record at the zone's authoritative servers after Route 53's INSYNC.
    pub fn with_propagation(mut self, propagation: Propagation) -> Self {
        self.propagation = Some(propagation);
        self
    }

    /// The zone to write `record` in: `named` (the domain's `dns.hosted_zone_id`), which must be
    /// a public zone of the account holding it, or else the one public zone owning it.
    pub fn zone_for(&self, record: &str, named: Option<&str>) -> Result<&HostedZone, SolverError> {
        if let Some(id) = named {
            return self
                .zones
                .iter()
                .find(|z| z.id == id && in_zone(record, &z.name))
                .ok_or_else(|| SolverError::NamedZone {
                    zone: id.to_owned(),
                    account: self.account.clone(),
                    record: record.to_owned(),
                });
        }
        match owning_zones(record, &self.zones, |z| z.name.as_str()).as_slice() {
            [] => Err(SolverError::NoZone {
                record: record.to_owned(),
                account: self.account.clone(),
            }),
            [zone] => Ok(zone),
            several => Err(SolverError::AmbiguousZone {
                record: record.to_owned(),
                account: self.account.clone(),
                name: several[0].name.clone(),
                zones: several.iter().map(|z| z.id.clone()).collect(),
            }),
        }
    }
}

impl Route53Solver {
    /// The challenges' records grouped by the zone that owns them. A record no zone owns is an
    /// error, or skipped with `skip_unowned` (cleanup: nothing can have been written there).
    fn by_zone<'c>(
        &self,
        challenges: &'c [Challenge],
        skip_unowned: bool,
    ) -> Result<ByZone<'c>, SolverError> {
        let mut zones: ByZone<'c> = BTreeMap::new();
        for (record, (named, values)) in by_record(challenges) {
            let zone = match self.zone_for(record, named) {
                Ok(zone) => zone,
                Err(_) if skip_unowned => continue,
                Err(e) => return Err(e),
            };
            zones
                .entry(zone.id.clone())
                .or_default()
                .push((record, values));
        }
        Ok(zones)
    }

    async fn zone_name_servers(&self, zone_id: &str) -> Result<Vec<String>, AwsError> {
        let cell = self
            .name_servers
            .lock()
            .await
            .entry(zone_id.to_owned())
            .or_default()
            .clone();
        cell.get_or_try_init(|| self.route53.name_servers(zone_id))
            .await
            .cloned()
    }

    /// Waits until `change` is INSYNC; orders whose records share a change share the polls.
    async fn wait_change(&self, change: &str) -> Result<(), AwsError> {
        let cell = self
            .insync
            .lock()
            .await
            .entry(change.to_owned())
            .or_default()
            .clone();
        cell.get_or_init(|| self.route53.wait_in_sync(change, self.max_wait))
            .await
            .as_ref()
            .map(|_| ())
            .map_err(AwsError::copied)
    }

    /// Sends `sets` to the zone as CREATEs (or, `delete`, as exact DELETEs) in one batch with
    /// whatever other orders send to that zone while this one waits for its Route 53 turn.
    ///
    /// `Ok(Some(change))` when applied; `Ok(None)` when Route 53 refused this order's part (a
    /// record exists, or changed since it was created): the caller reads and rewrites instead.
    async fn gathered(
        &self,
        zone_id: &str,
        delete: bool,
        sets: Vec<(String, TxtRecordSet)>,
    ) -> Result<Option<String>, AwsError> {
        let key = (zone_id.to_owned(), delete);
        let (reply, answer) = oneshot::channel();
        let leads = {
            let mut gathering = self.gathering.lock().await;
            let waiting = gathering.entry(key.clone()).or_default();
            waiting.push(Waiting { sets, reply });
            waiting.len() == 1
        };
        if leads {
            self.route53.turn().await;
            let batch = self.gathering.lock().await.remove(&key).unwrap_or_default();
            self.send(zone_id, delete, batch).await;
        }
        answer.await.unwrap_or_else(|_| {
            Err(AwsError {
                service: "route53",
                operation: "ChangeResourceRecordSets",
                code: "Lost".into(),
                message: "the batch this change was gathered into was abandoned".into(),
                source: None,
            })
        })
    }

    /// Sends a gathered batch (the caller has had its turn) and answers every waiter.
    async fn send(&self, zone_id: &str, delete: bool, batch: Vec<Waiting>) {
        // Two orders on one record cannot share a batch: the later one reads and merges.
        let mut seen = std::collections::HashSet::new();
        let mut members = Vec::new();
        for w in batch {
            if w.sets.iter().any(|(record, _)| seen.contains(record)) {
                let _ = w.reply.send(Ok(None));
            } else {
                seen.extend(w.sets.iter().map(|(record, _)| record.clone()));
                members.push(w);
            }
        }
        let all: Vec<(String, TxtRecordSet)> = members
            .iter()
            .flat_map(|w| w.sets.iter().cloned())
            .collect();
        let result = self
            .route53
            .change_txt_in_turn(zone_id, &txt_changes(&all, delete))
            .await;
        match result {
            Ok(change) => {
                for w in members {
                    let _ = w.reply.send(Ok(Some(change.clone())));
                }
            }
            Err(e) if refused(&e) && members.len() > 1 => {
                // Someone's record is in the way: each order alone finds out whose.
                for w in members {
                    let alone = self
                        .route53
                        .change_txt(zone_id, &txt_changes(&w.sets, delete))
                        .await;
                    let _ = w.reply.send(match alone {
                        Ok(change) => Ok(Some(change)),
                        Err(e) if refused(&e) => Ok(None),
                        Err(e) => Err(e),
                    });
                }
            }
            Err(e) if refused(&e) => {
                for w in members {
                    let _ = w.reply.send(Ok(None));
                }
            }
            Err(e) => {
                for w in members {
                    let _ = w.reply.send(Err(e.copied()));
                }
            }
        }
    }
}

/// One wait for a change to be INSYNC, shared by every order whose records it carries.
type SharedWait = Arc<OnceCell<Result<(), AwsError>>>;

/// Challenge records with their values, grouped by the id of the zone that owns them.
type ByZone<'c> = BTreeMap<String, Vec<(&'c str, Vec<&'c str>)>>;

/// An order's records waiting to be sent in the next batch to their zone.
#[derive(Debug)]
struct Waiting {
    sets: Vec<(String, TxtRecordSet)>,
    reply: oneshot::Sender<Result<Option<String>, AwsError>>,
}

/// CREATEs (or exact DELETEs) of `sets`.
fn txt_changes(sets: &[(String, TxtRecordSet)], delete: bool) -> Vec<TxtChange<'_>> {
    sets.iter()
        .map(|(record, set)| {
            if delete {
                TxtChange::Delete(record, set)
            } else {
                TxtChange::Create(record, set)
            }
        })
        .collect()
}

/// Whether Route 53 refused a batch as a whole (a CREATE over an existing set, a DELETE of a set
/// that is not exactly as given).
fn refused(e: &AwsError) -> bool {
    e.code == "InvalidChangeBatch"
}

impl Route53Solver {
    /// Adds our values to the zone's records in one batch; returns its change id, if any.
    ///
    /// Usually no `_acme-challenge` record exists: one CREATE batch, no reads (it fails whole if
    /// any exists). Otherwise read each record and merge our values in with UPSERT.
    async fn write_zone(
        &self,
        zone_id: &str,
        records: &[(&str, Vec<&str>)],
    ) -> Result<Option<String>, SolverError> {
        let fresh: Vec<(String, TxtRecordSet)> = records
            .iter()
            .map(|(record, values)| ((*record).to_owned(), with_values(None, values, self.ttl)))
            .collect();
        if let Some(change) = self.gathered(zone_id, false, fresh.clone()).await? {
            self.created.lock().await.extend(fresh);
            return Ok(Some(change));
        }
        // Some record exists: merge our values in, one order at a time.
        let _guard = self.write.lock().await;
        let mut sets = Vec::new();
        for (record, values) in records {
            let current = self.route53.txt(zone_id, record).await?;
            let wanted = with_values(current.as_ref(), values, self.ttl);
            if current.as_ref() != Some(&wanted) {
                sets.push((*record, wanted));
            }
        }
        if sets.is_empty() {
            return Ok(None);
        }
        let batch: Vec<TxtChange<'_>> = sets
            .iter()
            .map(|(record, set)| TxtChange::Upsert(record, set))
            .collect();
        Ok(Some(self.route53.change_txt(zone_id, &batch).await?))
    }

    /// Removes our values from the zone's records in one batch.
    ///
    /// Records this run created with only its own values are deleted as created, without reading;
    /// if any changed since (another order merged into it), the batch is refused whole and every
    /// record is read and rewritten without our values.
    async fn clean_zone(
        &self,
        zone_id: &str,
        records: &[(&str, Vec<&str>)],
    ) -> Result<(), SolverError> {
        let known: Vec<(String, TxtRecordSet)> = {
            let created = self.created.lock().await;
            records
                .iter()
                .filter_map(|(record, values)| {
                    let set = created.get(*record)?;
                    without_values(set, values)
                        .is_none()
                        .then(|| ((*record).to_owned(), set.clone()))
                })
                .collect()
        };
        if known.len() == records.len() && self.gathered(zone_id, true, known).await?.is_some() {
            let mut created = self.created.lock().await;
            for (record, _) in records {
                created.remove(*record);
            }
            return Ok(());
        }
        // Changed since (or not created by this run): read and rewrite, one order at a time.
        let _guard = self.write.lock().await;
        let mut sets = Vec::new();
        for (record, values) in records {
            self.created.lock().await.remove(*record);
            let Some(current) = self.route53.txt(zone_id, record).await? else {
                continue;
            };
            match without_values(&current, values) {
                Some(rest) if rest != current => sets.push((*record, Some(rest), current)),
                Some(_) => {}
                None => sets.push((*record, None, current)),
            }
        }
        if sets.is_empty() {
            return Ok(());
        }
        let batch: Vec<TxtChange<'_>> = sets
            .iter()
            .map(|(record, rest, current)| match rest {
                Some(rest) => TxtChange::Upsert(record, rest),
                None => TxtChange::Delete(record, current),
            })
            .collect();
        self.route53.change_txt(zone_id, &batch).await?;
        Ok(())
    }
}

impl Dns01Solver for Route53Solver {
    async fn present(&self, challenges: &[Challenge]) -> Result<(), SolverError> {
        // One batch per zone: one change to wait for, however many names the order has there.
        let zones = self.by_zone(challenges, false)?;
        let mut changes = Vec::new();
        for (zone_id, records) in &zones {
            changes.extend(self.write_zone(zone_id, records).await?);
        }
        crate::failpoint::hit("after-txt-write");
        // Route 53 propagates the changes in parallel; waiting in turn costs the slowest one.
        for change in changes {
            self.wait_change(&change).await?;
        }
        if let Some(propagation) = &self.propagation {
            for (zone_id, records) in zones {
                let servers = self.zone_name_servers(&zone_id).await?;
                for (record, values) in records {
                    propagation
                        .confirm(&servers, record, &values, self.max_wait)
                        .await?;
                }
            }
        }
        Ok(())
    }

    async fn cleanup(&self, challenges: &[Challenge]) -> Result<(), SolverError> {
        let mut first_error = None;
        for (zone_id, records) in self.by_zone(challenges, true)? {
            let result = self.clean_zone(&zone_id, &records).await;
            // Keep cleaning the other zones; report the first failure.
            if let Err(e) = result {
                first_error.get_or_insert(e);
            }
        }
        first_error.map_or(Ok(()), Err)
    }
}

#[cfg(test)]
#[path = "dns01_tests.rs"]
mod tests;
