//! The lease lock: one run at a time, even when EventBridge delivers an event twice.
//!
//! An S3 object (`lock/run`) created with `If-None-Match: *` holds the owner and how long it
//! lasts. A run that finds a live lease reports it and does nothing; an expired lease (its run
//! died) is taken over with `If-Match: <etag>`, so two runs racing for it cannot both win. The
//! holder renews it (`If-Match` again) while it works, so a run longer than the lease keeps it,
//! and releases it at the end with `If-Match` too, so a run never deletes a lease another run
//! took over.
//!
//! Expiry is judged by S3's clock — the object's `Last-Modified` plus the lease's seconds against
//! the `Date` S3 answers with — so runs whose clocks disagree by minutes still exclude each other
//! (only a lease written by an older version, without its seconds, falls back to the caller's
//! clock). A run that finds its own lease (a PUT whose answer was lost and was retried) holds it.
//!
//! A run's lease is held under a token of its own ([`token`]): the request id and a random part.
//! The request id alone is not unique — Lambda may deliver one asynchronous event twice
//! (<https://docs.aws.amazon.com/lambda/latest/dg/invocation-async.html>) — and two runs that
//! shared it would each take the other's lease for their own.
//!
//! A run that cannot renew its lease before it expires may have lost it to another run: its
//! [`Tenure`] then refuses every write still to come (uploads, swaps, imports, retirement), so
//! two runs never write at once; the next run finishes what it left.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use time::OffsetDateTime;
use tokio::time::Instant;

use crate::aws::s3::{Condition, Put, S3Clock, S3};
use crate::aws::AwsError;

/// The key of the lease object.
pub const LOCK_KEY: &str = "lock/run";

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
struct LeaseBody {
    owner: String,
    /// By the writer's clock (informational when `seconds` is present).
    #[serde(with = "time::serde::rfc3339")]
    expires_at: OffsetDateTime,
    /// How long the lease lasts from its last write, by S3's clock.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    seconds: Option<u64>,
}

/// What a lease found in S3 means for a run.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Found {
    /// The run's own (its earlier PUT succeeded though its answer was lost).
    Ours,
    /// Another run's, live until then (by S3's clock where known).
    Live(OffsetDateTime),
    /// Expired, or unreadable: its run died.
    Expired,
}

/// Judges the lease `held` (`None`: unreadable) found by `owner`, with S3's clock where it has
/// one and the caller's `now` otherwise.
fn judge(held: Option<&LeaseBody>, owner: &str, clock: S3Clock, now: OffsetDateTime) -> Found {
    let Some(held) = held else {
        return Found::Expired;
    };
    if held.owner == owner {
        return Found::Ours;
    }
    let by_s3 = match (held.seconds, clock.last_modified, clock.served_at) {
        (Some(seconds), Some(written), Some(s3_now)) => {
            let seconds = i64::try_from(seconds).unwrap_or(i64::MAX / 2);
            Some((written + time::Duration::seconds(seconds), s3_now))
        }
        _ => None,
    };
    let (expires_at, now) = by_s3.unwrap_or((held.expires_at, now));
    if expires_at > now {
        Found::Live(expires_at)
    } else {
        Found::Expired
    }
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

/// A lease token for the invocation `run_id`: `<run_id>#<16 random hex digits>`, so that two
/// runs of one request id (an event delivered twice) hold different leases.
pub fn token(run_id: &str) -> String {
    let mut random = [0u8; 8];
    if aws_lc_rs::rand::fill(&mut random).is_err() {
        // No randomness: the time's nanoseconds still tell two runs apart.
        let nanos = OffsetDateTime::now_utc().unix_timestamp_nanos();
        random = (nanos as u64).to_be_bytes();
    }
    let hex: String = random.iter().map(|b| format!("{b:02x}")).collect();
    format!("{run_id}#{hex}")
}

/// Why a write was not made: the lease may belong to another run now.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
#[error("not done: this run's lease ({LOCK_KEY} in the archive bucket) {why}, so another run may hold it now; the run stops before its next write and the next run finishes what it left")]
pub struct LeaseLost {
    why: &'static str,
}

/// Whether a run still holds its lease, as its writers see it: until the lease's seconds after
/// the last write of it that S3 accepted (counted from before that write was sent, so never later
/// than S3 counts), or not at all once another run took it over. A dry run, which takes no
/// lease, holds [`Tenure::unbounded`].
#[derive(Debug, Clone)]
pub struct Tenure(Arc<Mutex<Option<Instant>>>);

impl Tenure {
    /// Held for `seconds` from `written` (when the write that took it was sent).
    pub fn from(written: Instant, seconds: u64) -> Self {
        Self(Arc::new(Mutex::new(Some(
            written + Duration::from_secs(seconds),
        ))))
    }

    /// No lease to lose (a dry run).
    pub fn unbounded() -> Self {
        Self::from(Instant::now(), 100 * 365 * 24 * 3600)
    }

    /// A renewal sent at `written` was accepted.
    pub fn renewed(&self, written: Instant, seconds: u64) {
        if let Ok(mut until) = self.0.lock() {
            if until.is_some() {
                *until = Some(written + Duration::from_secs(seconds));
            }
        }
    }

    /// Another run took the lease over.
    pub fn lost(&self) {
        if let Ok(mut until) = self.0.lock() {
            *until = None;
        }
    }

    /// `Ok` while the lease is surely the run's; checked before every write.
    pub fn check(&self) -> Result<(), LeaseLost> {
        self.check_at(Instant::now())
    }

    fn check_at(&self, now: Instant) -> Result<(), LeaseLost> {
        let until = self.0.lock().map(|u| *u).unwrap_or(None);
        match until {
            None => Err(LeaseLost {
                why: "was taken over by another run",
            }),
            Some(until) if now >= until => Err(LeaseLost {
                why: "could not be renewed before it expired",
            }),
            Some(_) => Ok(()),
        }
    }
}

fn body(owner: &str, seconds: u64, now: OffsetDateTime) -> Vec<u8> {
    let expires_at = now + time::Duration::seconds(i64::try_from(seconds).unwrap_or(900));
    serde_json::to_vec(&LeaseBody {
        owner: owner.to_owned(),
        expires_at,
        seconds: Some(seconds),
    })
    .unwrap_or_default()
}

/// Takes the lease for `owner` for `seconds`, or reports who holds it.
pub async fn acquire(
    s3: &S3,
    owner: &str,
    seconds: u64,
    now: OffsetDateTime,
) -> Result<Acquire, AwsError> {
    let body = body(owner, seconds, now);
    let held = |etag: String| {
        Acquire::Held(Lease {
            etag,
            owner: owner.to_owned(),
        })
    };
    if let Put::Written(etag) = s3
        .put(LOCK_KEY, body.clone(), JSON, Condition::Absent)
        .await?
    {
        return Ok(held(etag));
    }
    // Taken: by a live run, by this run (a retried PUT), or by one that died (expired or
    // unreadable) — take that one over, only if it is still the object we read.
    let Some((current, clock)) = s3.get_timed(LOCK_KEY).await? else {
        // Released meanwhile.
        return Ok(
            match s3.put(LOCK_KEY, body, JSON, Condition::Absent).await? {
                Put::Written(etag) => held(etag),
                Put::PreconditionFailed => busy_now(seconds, now),
            },
        );
    };
    let lease = serde_json::from_slice::<LeaseBody>(&current.body).ok();
    match judge(lease.as_ref(), owner, clock, now) {
        Found::Ours => Ok(held(current.etag)),
        Found::Live(expires_at) => Ok(Acquire::Busy {
            owner: lease.map(|l| l.owner).unwrap_or_default(),
            expires_at,
        }),
        Found::Expired => Ok(
            match s3
                .put(LOCK_KEY, body, JSON, Condition::Matches(&current.etag))
                .await?
            {
                Put::Written(etag) => held(etag),
                Put::PreconditionFailed => busy_now(seconds, now),
            },
        ),
    }
}

/// Another run wrote first, just now: it holds the lease.
fn busy_now(seconds: u64, now: OffsetDateTime) -> Acquire {
    Acquire::Busy {
        owner: "another run".into(),
        expires_at: now + time::Duration::seconds(i64::try_from(seconds).unwrap_or(900)),
    }
}

/// Extends a lease we hold by `seconds` from now (S3's clock); `Ok(false)` when another run took
/// it over meanwhile (only possible after it expired: a run that stalled past its lease).
pub async fn renew(
    s3: &S3,
    lease: &mut Lease,
    seconds: u64,
    now: OffsetDateTime,
) -> Result<bool, AwsError> {
    let body = body(&lease.owner, seconds, now);
    match s3
        .put(LOCK_KEY, body, JSON, Condition::Matches(&lease.etag))
        .await?
    {
        Put::Written(etag) => {
            lease.etag = etag;
            Ok(true)
        }
        Put::PreconditionFailed => Ok(false),
    }
}

/// Releases a lease we hold (a no-op if another run took it over meanwhile). A renewal cut off
/// when the run's work ended may still have been written, under an ETag the run never saw: the
/// lease is then read again and released if it is still the run's own.
pub async fn release(s3: &S3, lease: &Lease) -> Result<(), AwsError> {
    if s3.delete_if(LOCK_KEY, &lease.etag).await? != Put::PreconditionFailed {
        return Ok(());
    }
    let Some(current) = s3.get(LOCK_KEY).await? else {
        return Ok(());
    };
    let ours = serde_json::from_slice::<LeaseBody>(&current.body)
        .is_ok_and(|body| body.owner == lease.owner);
    if ours {
        s3.delete_if(LOCK_KEY, &current.etag).await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use time::macros::datetime;

    use super::*;

    const NOW: OffsetDateTime = datetime!(2026-12-02 06:00 UTC);

    fn lease(owner: &str, expires_at: OffsetDateTime, seconds: Option<u64>) -> LeaseBody {
        LeaseBody {
            owner: owner.into(),
            expires_at,
            seconds,
        }
    }

    fn s3_clock(written: OffsetDateTime, served: OffsetDateTime) -> S3Clock {
        S3Clock {
            last_modified: Some(written),
            served_at: Some(served),
        }
    }

    #[test]
    fn two_runs_of_one_request_id_hold_different_tokens() {
        let (a, b) = (token("req-1"), token("req-1"));
        assert_ne!(a, b);
        assert!(
            a.starts_with("req-1#") && a.len() == "req-1#".len() + 16,
            "{a}"
        );
    }

    #[test]
    fn a_lease_not_renewed_before_it_expires_refuses_every_write() {
        let t0 = Instant::now();
        let at = |s: u64| t0 + Duration::from_secs(s);
        let tenure = Tenure::from(t0, 3);
        assert!(tenure.check_at(at(2)).is_ok());
        tenure.renewed(at(2), 3);
        assert!(tenure.check_at(at(4)).is_ok(), "renewed: 1 s left");
        let lost = tenure.check_at(at(5)).unwrap_err().to_string();
        assert!(
            lost.contains("could not be renewed before it expired"),
            "{lost}"
        );
        tenure.renewed(at(5), 3);
        assert!(
            tenure.check_at(at(6)).is_ok(),
            "a late renewal S3 accepted: held again"
        );
        tenure.lost();
        tenure.renewed(at(6), 3);
        let lost = tenure.check_at(at(6)).unwrap_err().to_string();
        assert!(lost.contains("taken over"), "{lost}");
    }

    #[test]
    fn a_run_that_finds_its_own_lease_holds_it() {
        let mine = lease("run-1", NOW + time::Duration::minutes(15), Some(900));
        assert_eq!(
            judge(Some(&mine), "run-1", S3Clock::default(), NOW),
            Found::Ours
        );
        assert_eq!(
            judge(Some(&mine), "run-2", S3Clock::default(), NOW),
            Found::Live(NOW + time::Duration::minutes(15))
        );
    }

    #[test]
    fn expiry_is_judged_by_s3s_clock_whatever_the_writers_and_readers_clocks_say() {
        // Written a minute ago by S3's clock, by a run whose clock was 20 minutes slow: its
        // expires_at is already past, but the lease has 14 minutes left.
        let skewed = lease("slow-clock", NOW - time::Duration::minutes(6), Some(900));
        let clock = s3_clock(NOW - time::Duration::minutes(1), NOW);
        assert_eq!(
            judge(Some(&skewed), "me", clock, NOW),
            Found::Live(NOW + time::Duration::minutes(14))
        );
        // A reader whose clock is 20 minutes fast changes nothing either.
        let fast = NOW + time::Duration::minutes(20);
        assert!(matches!(
            judge(Some(&skewed), "me", clock, fast),
            Found::Live(_)
        ));
        // Written 16 minutes ago by S3's clock: expired.
        let old = s3_clock(NOW - time::Duration::minutes(16), NOW);
        assert_eq!(judge(Some(&skewed), "me", old, NOW), Found::Expired);
    }

    #[test]
    fn an_old_lease_or_a_missing_date_falls_back_to_the_callers_clock() {
        let old_format = lease("dead", NOW - time::Duration::minutes(1), None);
        let clock = s3_clock(NOW - time::Duration::seconds(5), NOW);
        assert_eq!(judge(Some(&old_format), "me", clock, NOW), Found::Expired);
        let live = lease("other", NOW + time::Duration::minutes(1), Some(900));
        assert!(matches!(
            judge(Some(&live), "me", S3Clock::default(), NOW),
            Found::Live(_)
        ));
        assert_eq!(judge(None, "me", clock, NOW), Found::Expired, "unreadable");
    }
}
