//! EventBridge: an event per certificate renewed, failed, deferred or retired, on the bus
//! `CERT_ROTATOR_EVENT_BUS` (the default bus without it), for rules that feed chat, tickets or
//! other automation (<https://docs.aws.amazon.com/eventbridge/latest/APIReference/API_PutEvents.html>:
//! at most 10 entries a call; each entry succeeds or fails on its own).

use aws_config::SdkConfig;
use aws_sdk_eventbridge::types::PutEventsRequestEntry;

use super::AwsError;

/// The most entries one PutEvents call takes.
pub const MAX_ENTRIES: usize = 10;

/// One event to put.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// `detail-type`, e.g. `Certificate Renewed`.
    pub detail_type: String,
    /// `detail`, a JSON object.
    pub detail: String,
    /// `resources`: the ARNs the event is about.
    pub resources: Vec<String>,
}

/// The EventBridge adapter.
#[derive(Debug, Clone)]
pub struct Events {
    client: aws_sdk_eventbridge::Client,
}

impl Events {
    /// A client for `sdk`'s region.
    pub fn new(sdk: &SdkConfig) -> Self {
        Self {
            client: aws_sdk_eventbridge::Client::new(sdk),
        }
    }

    /// Puts `entries` (at most [`MAX_ENTRIES`]) from `source` on `bus` (the default bus when
    /// `None`); returns the entries the bus refused, by index, with its reason.
    pub async fn put(
        &self,
        (source, bus): (&str, Option<&str>),
        entries: &[Entry],
    ) -> Result<Vec<(usize, String)>, AwsError> {
        let built: Vec<PutEventsRequestEntry> = entries
            .iter()
            .map(|e| {
                PutEventsRequestEntry::builder()
                    .source(source)
                    .detail_type(&e.detail_type)
                    .detail(&e.detail)
                    .set_resources((!e.resources.is_empty()).then(|| e.resources.clone()))
                    .set_event_bus_name(bus.map(str::to_owned))
                    .build()
            })
            .collect();
        let out = self
            .client
            .put_events()
            .set_entries(Some(built))
            .send()
            .await
            .map_err(|e| AwsError::from_sdk("events", "PutEvents", e))?;
        Ok(out
            .entries()
            .iter()
            .enumerate()
            .filter_map(|(i, r)| {
                r.error_code().map(|code| {
                    (
                        i,
                        format!("{code}: {}", r.error_message().unwrap_or_default()),
                    )
                })
            })
            .collect())
    }
}
