//! Route 53: the public hosted zones and the TXT record sets of DNS-01 challenges.
//!
//! Reads are paginated; writes return the change id to wait on; waiting polls GetChange every
//! 5 seconds (paced like every other call), bounded by the caller's time budget. Not the SDK's
//! `ResourceRecordSetsChanged` waiter: it sleeps at least 30 s after a PENDING answer, which
//! costs every issuance half a minute when Route 53 propagates in a few seconds, and its polls
//! would bypass the pace.
//!
//! Route 53 allows five API requests per second per account
//! (<https://docs.aws.amazon.com/Route53/latest/DeveloperGuide/DNSLimitations.html#limits-api-requests>):
//! every call here first takes a slot from a shared pace (4 per second by default, leaving room
//! for other tools), and `Throttling` / `PriorRequestNotComplete` that still happen are retried by
//! the SDK's standard strategy with exponential backoff, up to 8 attempts.
//! Merging and removing values is decided in [`crate::acme::dns01`]; this module only reads and writes.

use std::sync::Arc;
use std::time::Duration;

use aws_config::SdkConfig;
use aws_sdk_route53::config::retry::RetryConfig;
use aws_sdk_route53::types::{
    Change, ChangeAction, ChangeBatch, ChangeStatus, ResourceRecord, ResourceRecordSet, RrType,
};
use tokio::sync::Mutex;
use tokio::time::Instant;

use super::AwsError;
use crate::model::names::canonical;

/// A public hosted zone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostedZone {
    /// The zone id without its `/hostedzone/` prefix.
    pub id: String,
    /// The zone's name, canonical (no trailing dot).
    pub name: String,
}

/// A TXT record set: its TTL and its values, unquoted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TxtRecordSet {
    /// Seconds.
    pub ttl: i64,
    /// The strings of the record, without Route 53's quotes.
    pub values: Vec<String>,
}

/// Spaces calls evenly: at most `per_second` start in any second.
#[derive(Debug, Clone)]
struct Pace {
    interval: Duration,
    next: Arc<Mutex<Instant>>,
}

impl Pace {
    fn new(per_second: u32) -> Self {
        Self {
            interval: Duration::from_secs(1) / per_second.max(1),
            next: Arc::new(Mutex::new(Instant::now())),
        }
    }

    async fn slot(&self) {
        let at = {
            let mut next = self.next.lock().await;
            let at = (*next).max(Instant::now());
            *next = at + self.interval;
            at
        };
        tokio::time::sleep_until(at).await;
    }
}

/// The Route 53 adapter.
#[derive(Debug, Clone)]
pub struct Route53 {
    client: aws_sdk_route53::Client,
    pace: Pace,
}

impl Route53 {
    /// A client for `sdk`'s endpoint (Route 53 is global; the SDK signs for the partition), at
    /// most 4 requests per second.
    pub fn new(sdk: &SdkConfig) -> Self {
        Self::with_rate(sdk, 4)
    }

    /// A client making at most `per_second` requests per second.
    pub fn with_rate(sdk: &SdkConfig, per_second: u32) -> Self {
        let config = aws_sdk_route53::config::Builder::from(sdk)
            .retry_config(RetryConfig::standard().with_max_attempts(8))
            .build();
        Self {
            client: aws_sdk_route53::Client::from_conf(config),
            pace: Pace::new(per_second),
        }
    }

    /// Every public hosted zone of the account (private zones are invisible to a CA).
    pub async fn public_zones(&self) -> Result<Vec<HostedZone>, AwsError> {
        let mut zones = Vec::new();
        self.pace.slot().await;
        let mut pages = self.client.list_hosted_zones().into_paginator().send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| AwsError::from_sdk("route53", "ListHostedZones", e))?;
            self.pace.slot().await; // for the next page, if any
            for zone in page.hosted_zones() {
                if zone.config().is_some_and(|c| c.private_zone()) {
                    continue;
                }
                zones.push(HostedZone {
                    id: zone.id().trim_start_matches("/hostedzone/").to_owned(),
                    name: canonical(zone.name()),
                });
            }
        }
        Ok(zones)
    }

    /// The name servers the zone is delegated to (its delegation set).
    pub async fn name_servers(&self, zone_id: &str) -> Result<Vec<String>, AwsError> {
        self.pace.slot().await;
        let out = self
            .client
            .get_hosted_zone()
            .id(zone_id)
            .send()
            .await
            .map_err(|e| AwsError::from_sdk("route53", "GetHostedZone", e))?;
        Ok(out
            .delegation_set()
            .map(|d| d.name_servers().to_vec())
            .unwrap_or_default())
    }

    /// The TXT record set at `name` in the zone, if there is one.
    pub async fn txt(&self, zone_id: &str, name: &str) -> Result<Option<TxtRecordSet>, AwsError> {
        self.pace.slot().await;
        let out = self
            .client
            .list_resource_record_sets()
            .hosted_zone_id(zone_id)
            .start_record_name(name)
            .start_record_type(RrType::Txt)
            .max_items(1)
            .send()
            .await
            .map_err(|e| AwsError::from_sdk("route53", "ListResourceRecordSets", e))?;
        let wanted = canonical(name);
        Ok(out
            .resource_record_sets()
            .iter()
            .find(|r| {
                r.r#type() == &RrType::Txt
                    && canonical(r.name()) == wanted
                    && r.set_identifier().is_none()
            })
            .map(|r| TxtRecordSet {
                ttl: r.ttl().unwrap_or(0),
                values: r
                    .resource_records()
                    .iter()
                    .map(|v| unquote(v.value()))
                    .collect(),
            }))
    }

    /// Creates or replaces the TXT record set at `name`; returns the change id.
    pub async fn upsert_txt(
        &self,
        zone_id: &str,
        name: &str,
        set: &TxtRecordSet,
    ) -> Result<String, AwsError> {
        self.change_txt(zone_id, &[TxtChange::Upsert(name, set)])
            .await
    }

    /// Deletes the TXT record set at `name`, which must be given exactly as it is.
    pub async fn delete_txt(
        &self,
        zone_id: &str,
        name: &str,
        set: &TxtRecordSet,
    ) -> Result<String, AwsError> {
        self.change_txt(zone_id, &[TxtChange::Delete(name, set)])
            .await
    }

    /// Applies TXT changes to one zone as one batch — atomically, with one change id to wait on.
    pub async fn change_txt(
        &self,
        zone_id: &str,
        changes: &[TxtChange<'_>],
    ) -> Result<String, AwsError> {
        self.turn().await;
        self.change_txt_in_turn(zone_id, changes).await
    }

    /// Waits for the caller's turn under the pace: a caller can gather a batch meanwhile and
    /// send it with [`Route53::change_txt_in_turn`].
    pub async fn turn(&self) {
        self.pace.slot().await;
    }

    /// [`Route53::change_txt`] for a caller that has just had its [`Route53::turn`].
    pub async fn change_txt_in_turn(
        &self,
        zone_id: &str,
        changes: &[TxtChange<'_>],
    ) -> Result<String, AwsError> {
        let build = |e| AwsError::invalid_request("route53", "ChangeResourceRecordSets", e);
        let mut batch = ChangeBatch::builder().comment("cert-rotator DNS-01 challenge");
        for change in changes {
            let (action, name, set) = match change {
                TxtChange::Create(name, set) => (ChangeAction::Create, name, set),
                TxtChange::Upsert(name, set) => (ChangeAction::Upsert, name, set),
                TxtChange::Delete(name, set) => (ChangeAction::Delete, name, set),
            };
            let records = set
                .values
                .iter()
                .map(|v| {
                    ResourceRecord::builder()
                        .value(format!("\"{v}\""))
                        .build()
                        .map_err(build)
                })
                .collect::<Result<Vec<_>, _>>()?;
            let rrset = ResourceRecordSet::builder()
                .name(*name)
                .r#type(RrType::Txt)
                .ttl(set.ttl)
                .set_resource_records(Some(records))
                .build()
                .map_err(build)?;
            batch = batch.changes(
                Change::builder()
                    .action(action)
                    .resource_record_set(rrset)
                    .build()
                    .map_err(build)?,
            );
        }
        let batch = batch.build().map_err(build)?;
        let out = self
            .client
            .change_resource_record_sets()
            .hosted_zone_id(zone_id)
            .change_batch(batch)
            .send()
            .await
            .map_err(|e| AwsError::from_sdk("route53", "ChangeResourceRecordSets", e))?;
        Ok(out
            .change_info()
            .map(|c| c.id().to_owned())
            .unwrap_or_default())
    }

    /// Waits until the change is INSYNC on all Route 53 name servers, at most `max_wait`.
    pub async fn wait_in_sync(&self, change_id: &str, max_wait: Duration) -> Result<(), AwsError> {
        let deadline = tokio::time::Instant::now() + max_wait;
        loop {
            self.pace.slot().await;
            let out = self
                .client
                .get_change()
                .id(change_id)
                .send()
                .await
                .map_err(|e| AwsError::from_sdk("route53", "GetChange", e))?;
            if out.change_info().map(|c| c.status()) == Some(&ChangeStatus::Insync) {
                return Ok(());
            }
            if tokio::time::Instant::now() + CHANGE_POLL > deadline {
                return Err(AwsError {
                    service: "route53",
                    operation: "GetChange",
                    code: "Timeout".into(),
                    message: format!(
                        "change {change_id} still PENDING after {} s",
                        max_wait.as_secs()
                    ),
                    source: None,
                });
            }
            tokio::time::sleep(CHANGE_POLL).await;
        }
    }
}

/// How often a PENDING change is polled. Route 53 usually propagates within 60 seconds.
const CHANGE_POLL: Duration = Duration::from_secs(5);

/// One change of a TXT batch: the record name and the whole record set.
#[derive(Debug, Clone, Copy)]
pub enum TxtChange<'a> {
    /// Create the set; the batch fails (`InvalidChangeBatch`) if one exists.
    Create(&'a str, &'a TxtRecordSet),
    /// Create or replace the set.
    Upsert(&'a str, &'a TxtRecordSet),
    /// Delete the set, given exactly as it is.
    Delete(&'a str, &'a TxtRecordSet),
}

/// Route 53 returns TXT values as one or more quoted strings (`"a" "b"`); the value is their
/// concatenation (RFC 1035 section 3.3.14, RFC 8555 section 8.4 values are short enough for one).
fn unquote(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    let mut quoted = false;
    let mut escaped = false;
    for ch in value.chars() {
        match (quoted, escaped, ch) {
            (true, true, c) => {
                out.push(c);
                escaped = false;
            }
            (true, false, '\\') => escaped = true,
            (_, false, '"') => quoted = !quoted,
            (true, false, c) => out.push(c),
            (false, _, _) => {}
        }
    }
    if out.is_empty() && !value.contains('"') {
        return value.to_owned();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::unquote;

    #[test]
    fn unquotes_route53_txt_values() {
        assert_eq!(unquote("\"abc\""), "abc");
        assert_eq!(unquote("\"ab\" \"cd\""), "abcd");
        assert_eq!(unquote("\"a\\\"b\""), "a\"b");
        assert_eq!(unquote("bare"), "bare");
    }
}
