//! The Route 53 solver: the account's zones, the zone of each record, presenting and removing
//! values.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{oneshot, Mutex, OnceCell};

use super::placed::by_record;
use super::{Challenge, Dns01Solver, SolverError};
use crate::acme::propagation::Propagation;
use crate::aws::route53::{HostedZone, Route53, TxtRecordSet};
use crate::aws::AwsError;
use crate::model::names::{in_zone, owning_zones};
use crate::model::role::Role;

/// Challenge records with their values, grouped by the id of the zone that owns them.
pub(super) type ByZone<'c> = BTreeMap<String, Vec<(&'c str, Vec<&'c str>)>>;

/// One wait for a change to be INSYNC, shared by every order whose records it carries.
pub(super) type SharedWait = Arc<OnceCell<Result<(), AwsError>>>;

/// An order's records waiting to be sent in the next batch to their zone.
#[derive(Debug)]
pub(super) struct Waiting {
    pub(super) sets: Vec<(String, TxtRecordSet)>,
    pub(super) reply: oneshot::Sender<Result<Option<String>, AwsError>>,
}

/// DNS-01 through Route 53.
#[derive(Debug)]
pub struct Route53Solver {
    pub(super) route53: Route53,
    pub(super) zones: Vec<HostedZone>,
    /// Whose zones these are, for errors: "the function's account", or a role's.
    pub(super) account: String,
    pub(super) ttl: i64,
    pub(super) max_wait: Duration,
    /// Serializes read-modify-write of record sets within this run (two domains may share one).
    pub(super) write: Mutex<()>,
    /// Confirms values at the authoritative servers after INSYNC, if set.
    pub(super) propagation: Option<Propagation>,
    /// Each zone's name servers, read once per run.
    pub(super) name_servers: Mutex<HashMap<String, Arc<OnceCell<Vec<String>>>>>,
    /// Writes waiting for the next Route 53 turn, per (zone, delete?): sent as one batch.
    pub(super) gathering: Mutex<HashMap<(String, bool), Vec<Waiting>>>,
    /// Each change's wait for INSYNC, shared by the orders whose records it carries.
    pub(super) insync: Mutex<HashMap<String, SharedWait>>,
    /// The record sets this run created holding only its own values: cleanup deletes them
    /// without reading first (a DELETE must match exactly, so one changed since fails safely).
    pub(super) created: Mutex<HashMap<String, TxtRecordSet>>,
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
