//! The time an invocation has: every wait is bounded by it, and no renewal starts when too little
//! is left (Lambda stops a run at its deadline, with no report).

use std::time::Duration;

use tokio::time::Instant;

/// The deadline of one invocation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Budget {
    deadline: Instant,
}

impl Budget {
    /// A budget that ends at `deadline`.
    pub fn until(deadline: Instant) -> Self {
        Self { deadline }
    }

    /// When the invocation ends.
    pub fn deadline(&self) -> Instant {
        self.deadline
    }

    /// The time left less `margin`.
    pub fn left_before(&self, margin: Duration) -> Duration {
        self.remaining().saturating_sub(margin)
    }

    /// The time left.
    pub fn remaining(&self) -> Duration {
        self.deadline.saturating_duration_since(Instant::now())
    }

    /// Why no renewal may start now (less than `at_least` left), if so.
    pub fn deferral(&self, at_least: Duration) -> Option<String> {
        let left = self.remaining();
        (left < at_least).then(|| {
            format!(
                "deferred: {}s left in this invocation; the next run renews it",
                left.as_secs()
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_renewal_is_deferred_when_less_than_the_minimum_is_left() {
        let budget = Budget::until(Instant::now() + Duration::from_secs(200));
        assert_eq!(budget.deferral(Duration::from_secs(180)), None);
        let why = budget.deferral(Duration::from_secs(300)).unwrap();
        assert!(
            why.contains("199s left") && why.contains("the next run renews it"),
            "{why}"
        );
        let spent = Budget::until(Instant::now() - Duration::from_secs(1));
        assert_eq!(spent.remaining(), Duration::ZERO);
    }
}
