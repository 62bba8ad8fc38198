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
/// entries are left for a person (and reported), never guessed at.
pub async fn recover<S: Dns01Solver>(s3: &S3, solver: &S) -> Result<usize, SolverError> {
    let mut repaired = 0;
    for key in s3.keys(PREFIX).await.map_err(journal_error)? {
        let Some(entry) = s3.get(&key).await.map_err(journal_error)? else {
            continue;
        };
        let challenges: Vec<Challenge> = serde_json::from_slice(&entry.body).map_err(|e| {
            SolverError::Journal(format!(
                "s3://{}/{key} is not a challenge journal entry ({e}); delete it",
                s3.bucket()
            ))
        })?;
        solver.cleanup(&challenges).await?;
        s3.delete(&key).await.map_err(journal_error)?;
        repaired += 1;
    }
    Ok(repaired)
}
