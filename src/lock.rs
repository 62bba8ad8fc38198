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
#[derive(Debug, Clone)]
pub struct Lease {
    etag: String,
    /// Who holds it (the run id).
    pub owner: String,
}

/// The outcome of trying to take the lease.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Acquire {
    /// Ours until the expiry.
    Held,
    /// Another run holds it.
    Busy {
        /// Its run id.
        owner: String,
        /// When its lease ends.
        expires_at: OffsetDateTime,
    },
}

/// Takes the lease for `owner` for `seconds`, or reports who holds it.
pub async fn acquire(
    s3: &S3,
    owner: &str,
    seconds: u64,
    now: OffsetDateTime,
) -> Result<(Acquire, Option<Lease>), AwsError> {
    let body = |expires_at| {
        serde_json::to_vec(&LeaseBody {
            owner: owner.to_owned(),
            expires_at,
        })
        .unwrap_or_default()
    };
    let expires_at = now + time::Duration::seconds(i64::try_from(seconds).unwrap_or(900));
    // Two attempts: create; if taken and expired, take over; if that race is lost, report.
    for _ in 0..2 {
        if let Put::Written(etag) = s3
            .put(
                LOCK_KEY,
                body(expires_at),
                "application/json",
                Condition::Absent,
            )
            .await?
        {
            return Ok((
                Acquire::Held,
                Some(Lease {
                    etag,
                    owner: owner.to_owned(),
                }),
            ));
        }
        let Some(current) = s3.get(LOCK_KEY).await? else {
            continue;
        };
        let held: Option<LeaseBody> = serde_json::from_slice(&current.body).ok();
        match held {
            Some(h) if h.expires_at > now => {
                return Ok((
                    Acquire::Busy {
                        owner: h.owner,
                        expires_at: h.expires_at,
                    },
                    None,
                ))
            }
            _ => {
                // Expired (or unreadable): take it over, unless someone else does first.
                if let Put::Written(etag) = s3
                    .put(
                        LOCK_KEY,
                        body(expires_at),
                        "application/json",
                        Condition::Matches(&current.etag),
                    )
                    .await?
                {
                    return Ok((
                        Acquire::Held,
                        Some(Lease {
                            etag,
                            owner: owner.to_owned(),
                        }),
                    ));
                }
            }
        }
    }
    match s3
        .get(LOCK_KEY)
        .await?
        .and_then(|o| serde_json::from_slice::<LeaseBody>(&o.body).ok())
    {
        Some(h) => Ok((
            Acquire::Busy {
                owner: h.owner,
                expires_at: h.expires_at,
            },
            None,
        )),
        None => Ok((
            Acquire::Busy {
                owner: "unknown".into(),
                expires_at: now,
            },
            None,
        )),
    }
}

/// Releases a lease we hold (a no-op if another run took it over meanwhile).
pub async fn release(s3: &S3, lease: &Lease) -> Result<(), AwsError> {
    s3.delete_if(LOCK_KEY, &lease.etag).await.map(drop)
}
