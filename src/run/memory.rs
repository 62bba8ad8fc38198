//! What cert-rotator remembers between runs ([`Memory`]), kept in the archive bucket:
//!
//! - `memory/<names-hash>.json` (the hash the archive uses): a name set's issuances that failed
//!   in a row, the last error, when, and when it may be ordered again — the CA's `Retry-After`
//!   under a rate limit ([`Failures`]). Written when an issuance fails, deleted when one succeeds;
//!   deleting it by hand lets the next run order at once.
//! - `memory/renewal-info.json`: the renewal windows the CA gave, by ARI id, with when to ask
//!   again (RFC 9773 section 4.3); written once at the end of a run that asked.
//! - `memory/notified/<names-hash>.json`: what was last sent to people about a name set, and
//!   when: the same message is not sent again within a day.
//! - `memory/renewal-info-limit.json`: the CA's date after it answered a renewal-information
//!   request with 429: no run asks before it.
//!
//! An object that cannot be read as what it should be is ignored, with a warning: the memory
//! protects the CA's budget, and a bad copy of it must not stop renewals.

use async_trait::async_trait;
use tracing::warn;

use crate::aws::s3::{Condition, S3};
use crate::aws::AwsError;
use time::OffsetDateTime;

use crate::plan::backoff::{
    memory_key, notified_key, stale_memories, Failures, Windows, RENEWAL_INFO_LIMIT_KEY,
    WINDOWS_KEY,
};

/// The CA's date after a 429 on a renewal-information request.
#[derive(serde::Serialize, serde::Deserialize)]
struct Limit {
    #[serde(with = "time::serde::rfc3339")]
    until: OffsetDateTime,
}
use crate::ports::Memory;
use crate::report::notify::Notified;

/// The JSON at `key`, if there is an object and it reads as a `T`.
async fn read<T: serde::de::DeserializeOwned>(s3: &S3, key: &str) -> Result<Option<T>, AwsError> {
    let Some(object) = s3.get(key).await? else {
        return Ok(None);
    };
    match serde_json::from_slice(&object.body) {
        Ok(value) => Ok(Some(value)),
        Err(error) => {
            warn!(%key, %error, "ignoring an unreadable memory object");
            Ok(None)
        }
    }
}

async fn write<T: serde::Serialize>(s3: &S3, key: &str, value: &T) -> Result<(), AwsError> {
    let body = serde_json::to_vec_pretty(value)
        .map_err(|e| AwsError::invalid_request("s3", "PutObject", e))?;
    s3.put(key, body, "application/json", Condition::None)
        .await
        .map(drop)
}

/// Deletes the failure memories of name sets not in `listed` ([`stale_memories`]); returns the
/// keys deleted. For scheduled runs only: their event names every domain.
pub async fn prune_failures(
    s3: &S3,
    listed: &std::collections::HashSet<String>,
) -> Result<Vec<String>, AwsError> {
    let keys = s3.keys("memory/").await?;
    let mut deleted = Vec::new();
    for key in stale_memories(&keys, listed) {
        s3.delete(key).await?;
        deleted.push(key.to_owned());
    }
    Ok(deleted)
}

#[async_trait]
impl Memory for S3 {
    async fn failures(&self, names_hash: &str) -> Result<Option<Failures>, AwsError> {
        read(self, &memory_key(names_hash)).await
    }

    async fn remember_failures(
        &self,
        names_hash: &str,
        failures: &Failures,
    ) -> Result<(), AwsError> {
        write(self, &memory_key(names_hash), failures).await
    }

    async fn forget_failures(&self, names_hash: &str) -> Result<(), AwsError> {
        self.delete(&memory_key(names_hash)).await
    }

    async fn windows(&self) -> Result<Windows, AwsError> {
        Ok(read(self, WINDOWS_KEY).await?.unwrap_or_default())
    }

    async fn remember_windows(&self, windows: &Windows) -> Result<(), AwsError> {
        write(self, WINDOWS_KEY, windows).await
    }

    async fn renewal_info_limit(&self) -> Result<Option<OffsetDateTime>, AwsError> {
        Ok(read::<Limit>(self, RENEWAL_INFO_LIMIT_KEY)
            .await?
            .map(|l| l.until))
    }

    async fn remember_renewal_info_limit(&self, until: OffsetDateTime) -> Result<(), AwsError> {
        write(self, RENEWAL_INFO_LIMIT_KEY, &Limit { until }).await
    }

    async fn notified(&self, names_hash: &str) -> Result<Option<Notified>, AwsError> {
        read(self, &notified_key(names_hash)).await
    }

    async fn remember_notified(&self, names_hash: &str, sent: &Notified) -> Result<(), AwsError> {
        write(self, &notified_key(names_hash), sent).await
    }
}
