//! Batching: the writes of orders running at once go to each zone as one change, in one
//! Route 53 turn, and orders whose records share a change share its wait for INSYNC.

use tokio::sync::oneshot;

use super::route53::{Route53Solver, Waiting};
use super::{with_values, without_values, SolverError};
use crate::aws::route53::{TxtChange, TxtRecordSet};
use crate::aws::AwsError;

impl Route53Solver {
    /// Waits until `change` is INSYNC; orders whose records share a change share the polls.
    pub(super) async fn wait_change(&self, change: &str) -> Result<(), AwsError> {
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
    pub(super) async fn write_zone(
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
    pub(super) async fn clean_zone(
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
