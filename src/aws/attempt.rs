//! Something a run makes once and shares — a role's session, an account's zone listing — and
//! how long a failure to make it is believed.
//!
//! A lasting failure (STS refusing the role, a missing permission) is kept for the run: asking
//! again would only repeat it, once per domain. A passing one (throttling, a timeout, a service
//! error the SDK's own retries did not outlast) is kept for [`PAUSE`] only: the next caller after
//! that tries again, so one blip does not fail every domain of an account for the whole run, and
//! a throttled service is not asked once per waiting domain either. Callers at the same time
//! wait for one attempt.

use std::future::Future;
use std::time::Duration;

use tokio::sync::Mutex;
use tokio::time::Instant;

/// How long a passing failure is believed before the next caller tries again.
pub const PAUSE: Duration = Duration::from_secs(20);

/// A shared attempt at making a `T`.
#[derive(Debug)]
pub struct Attempt<T, E> {
    last: Mutex<Option<(Result<T, E>, Instant)>>,
    pause: Duration,
}

impl<T, E> Default for Attempt<T, E> {
    fn default() -> Self {
        Self::with_pause(PAUSE)
    }
}

impl<T, E> Attempt<T, E> {
    /// An attempt whose passing failures are believed for `pause` (tests use a short one).
    pub fn with_pause(pause: Duration) -> Self {
        Self {
            last: Mutex::new(None),
            pause,
        }
    }
}

impl<T: Clone, E: Clone> Attempt<T, E> {
    /// The value made before, the failure still believed, or a new attempt with `make`;
    /// `lasting` says which failures are kept for the run.
    pub async fn get<F, Fut>(&self, make: F, lasting: impl Fn(&E) -> bool) -> Result<T, E>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        let mut last = self.last.lock().await;
        if let Some((result, at)) = &*last {
            match result {
                Ok(value) => return Ok(value.clone()),
                Err(e) if lasting(e) || at.elapsed() < self.pause => return Err(e.clone()),
                Err(_) => {}
            }
        }
        let result = make().await;
        *last = Some((result.clone(), Instant::now()));
        result
    }
}

/// `call`, and once more after [`PAUSE`] if it failed in a way that may pass and `time_left` is
/// ample (six pauses): for a call everything else waits on, such as an account's session.
pub async fn once_more<T, E, F, Fut>(
    what: &str,
    time_left: Duration,
    mut call: F,
    lasting: impl Fn(&E) -> bool,
) -> Result<T, E>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
    E: std::fmt::Display,
{
    match call().await {
        Err(e) if !lasting(&e) && time_left > PAUSE * 6 => {
            tracing::warn!(error = %e, "{what} failed; once more after a pause");
            tokio::time::sleep(PAUSE).await;
            call().await
        }
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    use super::*;

    /// Fails with `errors` in turn, then succeeds; counts its calls.
    struct Maker {
        calls: AtomicUsize,
        errors: Vec<&'static str>,
    }

    impl Maker {
        fn failing(errors: &[&'static str]) -> Self {
            Self {
                calls: AtomicUsize::new(0),
                errors: errors.to_vec(),
            }
        }

        async fn make(&self) -> Result<u32, &'static str> {
            let n = self.calls.fetch_add(1, Ordering::SeqCst);
            tokio::time::sleep(Duration::from_millis(10)).await;
            self.errors.get(n).map_or(Ok(7), |e| Err(*e))
        }
    }

    const SHORT: Duration = Duration::from_millis(60);

    fn lasting(e: &&str) -> bool {
        *e == "AccessDenied"
    }

    #[tokio::test]
    async fn a_passing_failure_is_believed_for_the_pause_then_tried_again() {
        let maker = Maker::failing(&["Throttling"]);
        let attempt = Attempt::with_pause(SHORT);
        assert_eq!(
            attempt.get(|| maker.make(), lasting).await,
            Err("Throttling")
        );
        assert_eq!(
            attempt.get(|| maker.make(), lasting).await,
            Err("Throttling")
        );
        assert_eq!(
            maker.calls.load(Ordering::SeqCst),
            1,
            "not asked again at once"
        );
        tokio::time::sleep(SHORT).await;
        assert_eq!(attempt.get(|| maker.make(), lasting).await, Ok(7));
        assert_eq!(attempt.get(|| maker.make(), lasting).await, Ok(7));
        assert_eq!(maker.calls.load(Ordering::SeqCst), 2, "made once");
    }

    #[tokio::test]
    async fn a_lasting_failure_is_kept_for_the_run() {
        let maker = Maker::failing(&["AccessDenied"]);
        let attempt = Attempt::with_pause(SHORT);
        assert_eq!(
            attempt.get(|| maker.make(), lasting).await,
            Err("AccessDenied")
        );
        tokio::time::sleep(SHORT * 2).await;
        assert_eq!(
            attempt.get(|| maker.make(), lasting).await,
            Err("AccessDenied")
        );
        assert_eq!(maker.calls.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn callers_at_the_same_time_share_one_attempt() {
        let maker = Arc::new(Maker::failing(&[]));
        let attempt = Arc::new(Attempt::default());
        let all = (0..8).map(|_| {
            let (maker, attempt) = (maker.clone(), attempt.clone());
            tokio::spawn(async move { attempt.get(|| maker.make(), lasting).await })
        });
        for got in futures::future::join_all(all).await {
            assert_eq!(got.unwrap(), Ok(7));
        }
        assert_eq!(maker.calls.load(Ordering::SeqCst), 1);
    }
}
