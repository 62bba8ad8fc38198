//! The lease lock: one run at a time, even when EventBridge delivers an event twice.
//!
//! An S3 object (`lock/run`) created with `If-None-Match: *` holds the owner and an expiry. A run
//! that finds a live lease reports it and does nothing; an expired lease (its run died) is taken
//! over with `If-Match: <etag>`, so two runs racing for it cannot both win. The lease is released
//! at the end with `If-Match` too, so a run never deletes a lease another run took over.

use time::OffsetDateTime;

use crate::aws::s3::{Condition, Put, S3};
use crate::aws::AwsError;

/// The key of the lease object.
pub const LOCK_KEY: &str = "lock/run";

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
struct LeaseBody {
    owner: String,
    #[serde(with = "time::serde::rfc3339")]
    expires_at: OffsetDateTime,
}

/// A lease we hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    etag: String,
    /// Who holds it (the run id).
    pub owner: String,
}

/// The outcome of trying to take the lease.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Acquire {
    /// Ours until the expiry.
    Held(Lease),
    /// Another run holds it.
    Busy {
        /// Its run id.
        owner: String,
        /// When its lease ends.
        expires_at: OffsetDateTime,
    },
}

const JSON: &str = "application/json";

/// Takes the lease for `owner` for `seconds`, or reports who holds it.
pub async fn acquire(
    s3: &S3,
    owner: &str,
    seconds: u64,
    now: OffsetDateTime,
) -> Result<Acquire, AwsError> {
    let expires_at = now + time::Duration::seconds(i64::try_from(seconds).unwrap_or(900));
    let body = serde_json::to_vec(&LeaseBody {
        owner: owner.to_owned(),
        expires_at,
    })
    .unwrap_or_default();
    let outcome = |put: Put| match put {
        Put::Written(etag) => Acquire::Held(Lease {
            etag,
            owner: owner.to_owned(),
        }),
        // Another run wrote first, just now: it holds the lease.
        Put::PreconditionFailed => Acquire::Busy {
            owner: "another run".into(),
            expires_at,
        },
    };
    if let Put::Written(etag) = s3
        .put(LOCK_KEY, body.clone(), JSON, Condition::Absent)
        .await?
    {
        return Ok(outcome(Put::Written(etag)));
    }
    // Taken: by a live run, or by one that died (expired or unreadable) — take that one over,
    // only if it is still the object we read.
    let current = s3.get(LOCK_KEY).await?;
    let lease = current
        .as_ref()
        .and_then(|o| serde_json::from_slice::<LeaseBody>(&o.body).ok());
    match (current, lease) {
        (_, Some(held)) if held.expires_at > now => Ok(Acquire::Busy {
            owner: held.owner,
            expires_at: held.expires_at,
        }),
        (Some(stale), _) => Ok(outcome(
            s3.put(LOCK_KEY, body, JSON, Condition::Matches(&stale.etag))
                .await?,
        )),
        (None, _) => Ok(outcome(
            s3.put(LOCK_KEY, body, JSON, Condition::Absent).await?,
        )), // released meanwhile
    }
}

/// Releases a lease we hold (a no-op if another run took it over meanwhile).
pub async fn release(s3: &S3, lease: &Lease) -> Result<(), AwsError> {
    s3.delete_if(LOCK_KEY, &lease.etag).await.map(drop)
}
