//! DNS-01 challenge records in Route 53 (RFC 8555 section 8.4).
//!
//! A [`Dns01Solver`] presents TXT values before the CA is told to validate and removes them
//! afterwards — after success and after failure. [`Route53Solver`] puts each value in the public
//! hosted zone that owns its record (longest match on label boundaries), merges values that share
//! a record (an apex and its wildcard), waits until Route 53 reports the change INSYNC, and on
//! cleanup removes only its own values, leaving anyone else's in place.
//!
//! By concern: the challenge and the solver's contract here; where each record goes
//! ([`placed`]: CNAMEs followed, the zone chosen, before anything is ordered); the Route 53
//! solver ([`route53`]: zones, present and cleanup); and its batching of concurrent orders'
//! writes into one change per zone ([`batch`]).

mod batch;
pub mod placed;
pub mod route53;

pub use placed::{locate, Placed};
pub use route53::Route53Solver;

use std::future::Future;

use crate::acme::delegation::DelegationError;
use crate::acme::propagation::PropagationError;
use crate::aws::route53::TxtRecordSet;
use crate::aws::AwsError;
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

#[cfg(test)]
mod tests;
