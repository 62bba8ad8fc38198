//! IAM's server-certificate quota: a ceiling every rotation meets in AWS China, where CloudFront
//! takes its certificates from IAM. The quota counts every server certificate of the account (20
//! by default, <https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_iam-quotas.html>), and
//! a rotation needs a free slot while the old certificate still serves. An upload beyond it fails
//! with `LimitExceeded` — after the CA has issued, spending the CA's weekly budget for the names
//! on a certificate that can never be deployed.
//!
//! So the run reads the account's use once (`GetAccountSummary`), retires what may be retired
//! when slots are short, and every domain takes a slot before it orders or uploads; a domain that
//! finds none fails before asking the CA, naming the quota and the count.
//!
//! The ledger is shared by the run's concurrent domains; it holds no I/O.

use std::sync::atomic::{AtomicI64, Ordering};

/// The run's view of the quota.
#[derive(Debug, Default)]
pub struct IamSlots {
    known: Option<Known>,
}

#[derive(Debug)]
struct Known {
    quota: i64,
    used: AtomicI64,
}

/// No slot is free: the quota and how many certificates the account holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Full {
    /// Server certificates the account holds, with those this run uploaded.
    pub used: i64,
    /// How many it may hold.
    pub quota: i64,
}

impl IamSlots {
    /// A ledger for an account holding `used` of `quota`.
    pub fn new(used: i64, quota: i64) -> Self {
        Self {
            known: Some(Known {
                quota,
                used: AtomicI64::new(used),
            }),
        }
    }

    /// A ledger that never refuses: the quota could not be read (the upload itself then says
    /// `LimitExceeded`), or a dry run.
    pub fn unknown() -> Self {
        Self::default()
    }

    /// Free slots, if known.
    pub fn free(&self) -> Option<i64> {
        self.known
            .as_ref()
            .map(|k| (k.quota - k.used.load(Ordering::SeqCst)).max(0))
    }

    /// Takes one slot for an upload, or says the quota is full.
    pub fn reserve(&self) -> Result<(), Full> {
        let Some(k) = &self.known else {
            return Ok(());
        };
        k.used
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |used| {
                (used < k.quota).then_some(used + 1)
            })
            .map(|_| ())
            .map_err(|used| Full {
                used,
                quota: k.quota,
            })
    }

    /// Gives `n` slots back (certificates deleted, or a reserved upload that did not happen).
    pub fn release(&self, n: i64) {
        if let Some(k) = &self.known {
            let _ = k
                .used
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |used| {
                    Some((used - n).max(0))
                });
        }
    }
}

/// Whether the run should retire before the domains start: fewer slots than domains that might
/// upload (`free` unknown: no).
pub fn retire_first(free: Option<i64>, domains: usize) -> bool {
    free.is_some_and(|free| free < i64::try_from(domains).unwrap_or(i64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_run_out_at_the_quota_and_come_back_when_released() {
        let slots = IamSlots::new(18, 20);
        assert_eq!(slots.free(), Some(2));
        assert_eq!(slots.reserve(), Ok(()));
        assert_eq!(slots.reserve(), Ok(()));
        assert_eq!(
            slots.reserve(),
            Err(Full {
                used: 20,
                quota: 20
            })
        );
        assert_eq!(slots.free(), Some(0));
        slots.release(1);
        assert_eq!(slots.reserve(), Ok(()));
    }

    #[test]
    fn an_account_over_its_quota_has_no_slot() {
        // A quota lowered below what the account holds.
        let slots = IamSlots::new(25, 20);
        assert_eq!(slots.free(), Some(0));
        assert_eq!(
            slots.reserve(),
            Err(Full {
                used: 25,
                quota: 20
            })
        );
    }

    #[test]
    fn an_unknown_quota_never_refuses() {
        let slots = IamSlots::unknown();
        assert_eq!(slots.free(), None);
        for _ in 0..100 {
            assert_eq!(slots.reserve(), Ok(()));
        }
    }

    #[test]
    fn the_run_retires_first_when_slots_are_fewer_than_domains() {
        assert!(retire_first(Some(0), 1));
        assert!(retire_first(Some(2), 3));
        assert!(!retire_first(Some(3), 3));
        assert!(!retire_first(None, 50));
    }

    #[test]
    fn concurrent_reservations_never_exceed_the_quota() {
        let slots = std::sync::Arc::new(IamSlots::new(0, 50));
        let threads: Vec<_> = (0..8)
            .map(|_| {
                let slots = slots.clone();
                std::thread::spawn(move || (0..20).filter(|_| slots.reserve().is_ok()).count())
            })
            .collect();
        let taken: usize = threads.into_iter().map(|t| t.join().unwrap()).sum();
        assert_eq!(taken, 50);
    }
}
