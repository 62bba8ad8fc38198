//! The CA's renewal windows, remembered: a certificate's renewal information is asked for only
//! once its last answer's `Retry-After` has passed (RFC 9773 section 4.3: clients should not poll
//! sooner; Let's Encrypt answers with about 6 hours). Until then the remembered window decides
//! whether the certificate is due, exactly as a fresh answer would.
//!
//! [`RememberingCa`] wraps the run's CA: every renewal-information request goes through it (the
//! run's listing and the domains' own reads alike), orders pass straight through. The windows are
//! read from the [`Memory`] once per run and written back once, by [`RememberingCa::keep`], at the
//! end of a run that learnt any (not in a dry run, which changes nothing).
//!
//! A renewal-information request the CA answers with 429 is remembered like any rate limit: no
//! run asks for renewal information before the CA's date (at most a week, as for orders); the
//! remembered windows, else the lifetime rule, decide until then.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

use async_trait::async_trait;
use time::OffsetDateTime;
use tokio::sync::OnceCell;
use tracing::{info, warn};

use crate::acme::OrderOptions;
use crate::acme::{self, Issued};
use crate::aws::AwsError;
use crate::model::dns::DnsSettings;
use crate::model::names::DomainName;
use crate::plan::backoff::{self, RememberedWindow, Windows};
use crate::ports::{CertificateAuthority, IssueError, Memory, Placement, RenewalInfo};

/// A CA whose renewal windows are remembered between runs.
pub struct RememberingCa<'a> {
    ca: &'a dyn CertificateAuthority,
    memory: &'a dyn Memory,
    now: OffsetDateTime,
    windows: OnceCell<Mutex<Windows>>,
    learnt: AtomicBool,
    /// The CA's date after a 429 on renewal information: remembered, or met this run.
    limit: OnceCell<Mutex<Option<OffsetDateTime>>>,
    limited: AtomicBool,
}

impl<'a> RememberingCa<'a> {
    /// `ca`, remembering its windows in `memory`; `now` is the run's start.
    pub fn new(
        ca: &'a dyn CertificateAuthority,
        memory: &'a dyn Memory,
        now: OffsetDateTime,
    ) -> Self {
        Self {
            ca,
            memory,
            now,
            windows: OnceCell::new(),
            learnt: AtomicBool::new(false),
            limit: OnceCell::new(),
            limited: AtomicBool::new(false),
        }
    }

    /// The CA's date after a 429 on renewal information, remembered or met this run, while it
    /// holds.
    async fn limit(&self) -> Option<OffsetDateTime> {
        let cell = self
            .limit
            .get_or_init(|| async {
                let until = self
                    .memory
                    .renewal_info_limit()
                    .await
                    .unwrap_or_else(|error| {
                        warn!(%error, "cannot read the remembered renewal-information limit");
                        None
                    });
                Mutex::new(until)
            })
            .await;
        let until = *cell
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        until.filter(|u| *u > self.now)
    }

    /// Notes the CA's date after a 429 (bounded as an order's rate limit is).
    async fn note_limit(&self, until: OffsetDateTime) {
        self.limit().await;
        let until = until.clamp(self.now, self.now + backoff::MAX_RATE_LIMIT_WAIT);
        if let Some(cell) = self.limit.get() {
            *cell
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(until);
        }
        self.limited.store(true, Ordering::Relaxed);
    }

    /// The remembered windows, read once (an unreadable memory counts as empty).
    async fn windows(&self) -> &Mutex<Windows> {
        self.windows
            .get_or_init(|| async {
                let windows = self.memory.windows().await.unwrap_or_else(|error| {
                    warn!(%error, "cannot read the remembered renewal windows; asking the CA");
                    Windows::new()
                });
                Mutex::new(windows)
            })
            .await
    }

    /// Writes the windows back if this run learnt any, keeping only those not yet to be asked
    /// for again.
    pub async fn keep(&self) -> Result<(), AwsError> {
        if self.limited.load(Ordering::Relaxed) {
            if let Some(until) = self.limit().await {
                self.memory.remember_renewal_info_limit(until).await?;
            }
        }
        if !self.learnt.load(Ordering::Relaxed) {
            return Ok(());
        }
        let kept = match self.windows.get() {
            Some(windows) => backoff::still_waiting(&lock(windows), self.now),
            None => return Ok(()),
        };
        self.memory.remember_windows(&kept).await
    }
}

fn lock(windows: &Mutex<Windows>) -> std::sync::MutexGuard<'_, Windows> {
    windows
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

#[async_trait]
impl CertificateAuthority for RememberingCa<'_> {
    async fn renewal_info(&self, leaf_der: &[u8]) -> Option<RenewalInfo> {
        let Ok(id) = acme::certificate_id(leaf_der) else {
            return self.ca.renewal_info(leaf_der).await;
        };
        let windows = self.windows().await;
        let remembered = lock(windows).get(&id).copied();
        if let Some(window) = backoff::remembered_window(remembered.as_ref(), self.now) {
            info!(certificate = %id, "using the remembered renewal window (the CA asked not to be asked before its Retry-After)");
            return Some(RenewalInfo {
                window,
                ari_id: Some(id),
                ask_after: remembered.map(|r| r.ask_after),
            });
        }
        if let Some(until) = self.limit().await {
            info!(certificate = %id, %until, "not asking for renewal information: the CA limited those requests until then; using the lifetime rule");
            return None;
        }
        let Some(info) = self.ca.renewal_info(leaf_der).await else {
            if let Some(until) = self.ca.renewal_info_limited().await {
                warn!(%until, "the CA limits renewal-information requests: none is sent before then");
                self.note_limit(until).await;
            }
            return None;
        };
        if let Some(retry_after) = info.ask_after {
            let ask_after = backoff::ask_after(retry_after, self.now);
            let window = info.window;
            lock(windows).insert(id, RememberedWindow { window, ask_after });
            self.learnt.store(true, Ordering::Relaxed);
        }
        Some(info)
    }

    async fn renewal_info_limited(&self) -> Option<OffsetDateTime> {
        self.limit().await
    }

    async fn issue(
        &self,
        names: &[DomainName],
        settings: (&OrderOptions, &DnsSettings),
        replaces: Option<String>,
    ) -> Result<Issued, IssueError> {
        self.ca.issue(names, settings, replaces).await
    }

    async fn locate(
        &self,
        names: &[DomainName],
        settings: (&OrderOptions, &DnsSettings),
    ) -> Result<Vec<Placement>, IssueError> {
        self.ca.locate(names, settings).await
    }
}
