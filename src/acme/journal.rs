//! The challenge journal: the TXT values a renewal is about to publish, written to S3 before the
//! first Route 53 write and deleted after the cleanup. A run killed in between leaves its entry
//! behind; the next run (holding the lock) removes exactly those values — nobody else's — and then
//! the entry.

use crate::acme::dns01::{Challenge, Dns01Solver, SolverError};
use crate::aws::s3::{Condition, S3};

/// Where entries live in the bucket.
pub const PREFIX: &str = "challenges/";

/// A solver that journals what it presents.
#[derive(Debug)]
pub struct Journaled<'a, S> {
    inner: &'a S,
    s3: &'a S3,
    key: String,
}

impl<'a, S: Dns01Solver> Journaled<'a, S> {
    /// Journals under `challenges/<entry>.json`.
    pub fn new(inner: &'a S, s3: &'a S3, entry: &str) -> Self {
        Self {
            inner,
            s3,
            key: format!("{PREFIX}{entry}.json"),
        }
    }
}

fn journal_error(e: impl std::fmt::Display) -> SolverError {
    SolverError::Journal(e.to_string())
}

impl<S: Dns01Solver> Dns01Solver for Journaled<'_, S> {
    async fn present(&self, challenges: &[Challenge]) -> Result<(), SolverError> {
        let body = serde_json::to_vec(challenges).map_err(journal_error)?;
        self.s3
            .put(&self.key, body, "application/json", Condition::None)
            .await
            .map_err(journal_error)?;
        self.inner.present(challenges).await
    }

    async fn cleanup(&self, challenges: &[Challenge]) -> Result<(), SolverError> {
        self.inner.cleanup(challenges).await?;
        self.s3.delete(&self.key).await.map_err(journal_error)
    }
}

/// Removes what runs that died left in DNS; returns how many entries were repaired. Unreadable
/// entries are left for a person (and reported), never guessed at. An entry that cannot be
/// repaired (its account's role gone, its zone deleted) does not hold up the others: each is
/// tried, and the first failure reported with its entry's name.
pub async fn recover<S: Dns01Solver>(s3: &S3, solver: &S) -> Result<usize, SolverError> {
    let mut repaired = 0;
    let mut first_error = None;
    for key in s3.keys(PREFIX).await.map_err(journal_error)? {
        match recover_entry(s3, solver, &key).await {
            Ok(true) => repaired += 1,
            Ok(false) => {}
            Err(e) => {
                tracing::warn!(entry = %key, error = %e, "cannot remove a killed run's challenge records");
                first_error.get_or_insert(e);
            }
        }
    }
    first_error.map_or(Ok(repaired), Err)
}

/// One journal entry's records removed, then the entry; `false` if it was gone already.
async fn recover_entry<S: Dns01Solver>(
    s3: &S3,
    solver: &S,
    key: &str,
) -> Result<bool, SolverError> {
    let where_ = || format!("s3://{}/{key}", s3.bucket());
    let Some(entry) = s3.get(key).await.map_err(journal_error)? else {
        return Ok(false);
    };
    let challenges: Vec<Challenge> = serde_json::from_slice(&entry.body).map_err(|e| {
        SolverError::Journal(format!(
            "{} is not a challenge journal entry ({e}); delete it",
            where_()
        ))
    })?;
    solver.cleanup(&challenges).await.map_err(|e| {
        SolverError::Journal(format!(
            "{}: {e} — remove its TXT values by hand (the entry lists them), then delete the entry",
            where_()
        ))
    })?;
    s3.delete(key).await.map_err(journal_error)?;
    Ok(true)
}
