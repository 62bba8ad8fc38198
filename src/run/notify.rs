//! Telling what the run did ([`crate::report::notify`] decides what): a message per domain that
//! needs a person to the stack's topic, unless the same was sent within a day; then the run's
//! events on the bus. Neither fails the run: what could not be sent is in the report and the log,
//! and the next run sends a message it could not (nothing is remembered as sent).

use time::OffsetDateTime;
use tracing::{info, warn};

use crate::aws::events::{Entry, MAX_ENTRIES};

/// The most bytes of entries one PutEvents call carries: the limit is 256 KiB a call in AWS
/// China (1 MiB elsewhere), counting each entry's source, detail type, detail and resources and
/// 14 bytes for its time (EventBridge User Guide, "Calculating PutEvents event entry size").
const MAX_CALL_BYTES: usize = 200 * 1024;

/// `entries` in calls of at most [`MAX_ENTRIES`] entries and [`MAX_CALL_BYTES`] bytes.
fn batches(entries: &[Entry]) -> Vec<&[Entry]> {
    let size = |e: &Entry| {
        14 + notify::SOURCE.len()
            + e.detail_type.len()
            + e.detail.len()
            + e.resources.iter().map(String::len).sum::<usize>()
    };
    let mut out = Vec::new();
    let (mut start, mut bytes) = (0, 0);
    for (i, e) in entries.iter().enumerate() {
        let n = size(e);
        if i > start && (i - start == MAX_ENTRIES || bytes + n > MAX_CALL_BYTES) {
            out.push(&entries[start..i]);
            (start, bytes) = (i, 0);
        }
        bytes += n;
    }
    if start < entries.len() {
        out.push(&entries[start..]);
    }
    out
}
use crate::aws::Clients;
use crate::config::NotifyConfig;
use crate::ports::Memory;
use crate::report::notify::{self, Notified};
use crate::report::{Notifications, Report};

/// Sends the report's messages and events; returns what was sent.
pub async fn tell(
    clients: &Clients,
    config: &NotifyConfig,
    report: &Report,
    now: OffsetDateTime,
) -> Notifications {
    let mut told = Notifications::default();
    if let Some(topic) = &config.topic_arn {
        for notice in notify::notices(report) {
            let memory: &dyn Memory = &clients.s3;
            let last = memory
                .notified(&notice.names_hash)
                .await
                .unwrap_or_else(|error| {
                    warn!(%error, "cannot read what was last sent; sending");
                    None
                });
            if !notify::should_send(last.as_ref(), &notice.fingerprint, now) {
                told.held += 1;
                continue;
            }
            match clients
                .sns
                .publish(topic, &notice.subject, &notice.message)
                .await
            {
                Ok(id) => {
                    info!(subject = %notice.subject, message = %id, "told the topic");
                    told.messages += 1;
                    let sent = Notified {
                        fingerprint: notice.fingerprint.clone(),
                        sent_at: now,
                    };
                    if let Err(error) = memory.remember_notified(&notice.names_hash, &sent).await {
                        warn!(%error, "cannot remember the message sent; the next run may send it again");
                    }
                }
                Err(error) => {
                    warn!(%error, subject = %notice.subject, "cannot publish to the topic");
                    told.errors
                        .push(format!("message \"{}\": {error}", notice.subject));
                }
            }
        }
    }
    let entries: Vec<Entry> = notify::events(report)
        .into_iter()
        .map(|e| Entry {
            detail_type: e.detail_type.to_owned(),
            detail: e.detail.to_string(),
            resources: e.resources,
        })
        .collect();
    let bus = config.event_bus.as_deref();
    for batch in batches(&entries) {
        match clients.events.put((notify::SOURCE, bus), batch).await {
            Ok(refused) => {
                told.events += batch.len() - refused.len();
                for (i, why) in refused {
                    warn!(detail_type = %batch[i].detail_type, %why, "the bus refused an event");
                    told.errors
                        .push(format!("event {}: {why}", batch[i].detail_type));
                }
            }
            Err(error) => {
                warn!(%error, "cannot put the run's events");
                told.errors.push(format!("events: {error}"));
            }
        }
    }
    told
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(detail_bytes: usize) -> Entry {
        Entry {
            detail_type: "Certificate Renewed".into(),
            detail: "x".repeat(detail_bytes),
            resources: vec![],
        }
    }

    #[test]
    fn calls_carry_ten_entries_and_under_the_size_limit_at_most() {
        let small: Vec<Entry> = (0..23).map(|_| entry(100)).collect();
        let sizes: Vec<usize> = batches(&small).iter().map(|b| b.len()).collect();
        assert_eq!(sizes, [10, 10, 3]);
        let big: Vec<Entry> = (0..3).map(|_| entry(90 * 1024)).collect();
        let sizes: Vec<usize> = batches(&big).iter().map(|b| b.len()).collect();
        assert_eq!(sizes, [2, 1], "two fit under 200 KiB, not three");
        assert!(batches(&[]).is_empty());
    }
}
