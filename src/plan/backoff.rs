//! When cert-rotator may ask the CA again: a name set's next order after failed issuances, and a
//! certificate's next renewal-information request.
//!
//! - **Failed issuances** back off exponentially: 1 hour after the first failure, doubling, at
//!   most [`MAX_BACKOFF`] (23 hours). The daily schedule therefore still tries once a day (the
//!   next scheduled run starts 24 hours after the failing one, and `now` is a run's start), while
//!   manual re-runs and retries in between wait instead of ordering again: Let's Encrypt allows 5
//!   failed validations per hostname an hour and pauses a hostname after failures over days
//!   (<https://letsencrypt.org/docs/rate-limits/>). RFC 9773 section 4.2 asks exactly this of
//!   clients that run more often than daily: remember the failures of each set of identifiers
//!   and when the last one happened. A success forgets them.
//! - **The CA's rate limit** (`urn:ietf:params:acme:error:rateLimited`, HTTP 429, RFC 8555
//!   section 6.7) with a `Retry-After` is obeyed to the second, `force` included: the CA decides,
//!   and asking before then only earns another 429. At most [`MAX_RATE_LIMIT_WAIT`] (Let's
//!   Encrypt's longest window is 7 days), so a CA's bad date cannot block a domain for ever.
//! - **Never past expiry**: our own backoff is ignored, with a warning, while the deployed
//!   certificate has less than [`urgent_days`] left: [`URGENT_DAYS`], or a quarter of a shorter
//!   certificate's lifetime (1.5 days of a 6-day one, which renews with 3 left) — every run tries
//!   then (the overdue alarm has fired before). `force` by hand also overrides it.
//! - **Renewal information** (RFC 9773 section 4.3) is asked again only after its `Retry-After`,
//!   bounded as section 4.3.2 asks: under a minute counts as a minute, over a day as a day. Until
//!   then the remembered window decides.
//!
//! Pure: what is remembered, the policy's constants and `now` in; a decision out.

use std::collections::BTreeMap;

use time::{Duration, OffsetDateTime};

use crate::acme::RenewalWindow;

/// The wait after the first failed issuance; it doubles with each further one.
pub const FIRST_BACKOFF: Duration = Duration::hours(1);

/// The longest wait after failed issuances: under a day, so the daily run still tries.
pub const MAX_BACKOFF: Duration = Duration::hours(23);

/// The longest a CA's `Retry-After` is obeyed.
pub const MAX_RATE_LIMIT_WAIT: Duration = Duration::days(7);

/// Below this many days left on the deployed certificate, our own backoff is ignored (fewer for
/// short lifetimes: [`urgent_days`]).
pub const URGENT_DAYS: f64 = 7.0;

/// The deployed certificate an order is weighed against.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Expiry {
    /// Days it has left.
    pub days_left: f64,
    /// Its lifetime in days, where known.
    pub lifetime_days: Option<f64>,
}

/// Below how many days left our own backoff is ignored for a certificate of `lifetime_days`:
/// [`URGENT_DAYS`], or a quarter of the lifetime when that is less — a 6-day certificate, which
/// renews with 3 days left, would otherwise never wait at all.
pub fn urgent_days(lifetime_days: Option<f64>) -> f64 {
    lifetime_days.map_or(URGENT_DAYS, |l| (l / 4.0).min(URGENT_DAYS))
}

/// Where a name set's failed issuances are remembered in the archive bucket (the archive's hash),
/// and named in messages: deleting the object lets the next run order at once.
pub fn memory_key(names_hash: &str) -> String {
    format!("memory/{names_hash}.json")
}

/// The failure memories (and what was last sent to people) among `keys` (objects under
/// `memory/`) of name sets not in `listed`,
/// the names hashes of every domain of a scheduled run's event: domains taken out of the list
/// leave nothing behind. Only a scheduled run prunes, as only its event names every domain (a
/// manual run with one domain must not forget the others' failures).
pub fn stale_memories<'k>(
    keys: &'k [String],
    listed: &std::collections::HashSet<String>,
) -> Vec<&'k str> {
    keys.iter()
        .map(String::as_str)
        .filter(|k| *k != WINDOWS_KEY && *k != RENEWAL_INFO_LIMIT_KEY)
        .filter(|k| {
            let rest = k.strip_prefix("memory/");
            // A name set's failures, and what was last sent to people about it.
            let rest = rest.map(|r| r.strip_prefix("notified/").unwrap_or(r));
            rest.and_then(|r| r.strip_suffix(".json"))
                .is_some_and(|hash| !hash.contains('/') && !listed.contains(hash))
        })
        .collect()
}

/// Where the renewal windows are remembered in the archive bucket.
pub const WINDOWS_KEY: &str = "memory/renewal-info.json";

/// Where what was last sent to people about a name set is remembered.
pub fn notified_key(names_hash: &str) -> String {
    format!("memory/notified/{names_hash}.json")
}

/// Where the CA's date after a 429 on a renewal-information request is remembered.
pub const RENEWAL_INFO_LIMIT_KEY: &str = "memory/renewal-info-limit.json";

/// How many times, in words: `once`, `twice`, `3 times`.
pub fn times(n: u32) -> String {
    match n {
        1 => "once".into(),
        2 => "twice".into(),
        n => format!("{n} times"),
    }
}

/// A time in messages and reports: RFC 3339, UTC.
pub fn rfc3339(t: &OffsetDateTime) -> String {
    t.to_offset(time::UtcOffset::UTC)
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|_| t.to_string())
}

/// What is remembered of a name set's issuances that failed, in a row.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Failures {
    /// The names, for the person who reads the object.
    pub names: Vec<String>,
    /// Issuances that failed in a row.
    pub failures: u32,
    /// The last one's error.
    pub last_error: String,
    /// When it failed (the run's start).
    #[serde(with = "time::serde::rfc3339")]
    pub failed_at: OffsetDateTime,
    /// No order before this.
    #[serde(with = "time::serde::rfc3339")]
    pub not_before: OffsetDateTime,
    /// The CA's rate limit, when `not_before` is its `Retry-After` (then even `force` waits).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_limit: Option<String>,
}

/// How a failed issuance ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// An error (the CA refused, validation failed, DNS, a timeout...).
    Error(String),
    /// The CA's rate limit, with the time its `Retry-After` names, if it sent one.
    RateLimited {
        /// The CA's problem, as reported.
        limit: String,
        /// When the CA takes orders again.
        retry_after: Option<OffsetDateTime>,
    },
}

/// The wait after `failures` failed issuances in a row.
pub fn backoff(failures: u32) -> Duration {
    let doublings = failures.saturating_sub(1).min(10);
    (FIRST_BACKOFF * 2_i32.pow(doublings)).min(MAX_BACKOFF)
}

/// What to remember after an issuance failed at `now`, `previous` being what was remembered.
pub fn after_failure(
    previous: Option<&Failures>,
    names: Vec<String>,
    failure: Failure,
    now: OffsetDateTime,
) -> Failures {
    let failures = previous.map_or(0, |p| p.failures).saturating_add(1);
    let own = now + backoff(failures);
    let (last_error, not_before, rate_limit) = match failure {
        Failure::Error(error) => (error, own, None),
        Failure::RateLimited {
            limit,
            retry_after: Some(at),
        } => {
            let at = at.clamp(now, now + MAX_RATE_LIMIT_WAIT);
            (limit.clone(), at, Some(limit))
        }
        // No date from the CA: our own backoff, which a person may override.
        Failure::RateLimited {
            limit,
            retry_after: None,
        } => (limit, own, None),
    };
    Failures {
        names,
        failures,
        last_error,
        failed_at: now,
        not_before,
        rate_limit,
    }
}

/// Whether a name set may be ordered now.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    /// Nothing stands in the way.
    Order,
    /// Our backoff is not over, but the order goes ahead; the warning says why.
    OrderDespite(String),
    /// Not before `until`.
    Wait {
        /// When an order is allowed.
        until: OffsetDateTime,
        /// The CA's rate limit, when it is the CA's date (not ours).
        rate_limit: Option<String>,
    },
}

/// Whether to order now, given what is `remembered`, an explicit `force`, and the soonest-expiring
/// deployed certificate (`None`: nothing deployed).
pub fn may_order(
    remembered: Option<&Failures>,
    force: bool,
    expiry: Option<Expiry>,
    now: OffsetDateTime,
) -> Verdict {
    let Some(r) = remembered.filter(|r| r.not_before > now) else {
        return Verdict::Order;
    };
    if r.rate_limit.is_some() {
        return Verdict::Wait {
            until: r.not_before,
            rate_limit: r.rate_limit.clone(),
        };
    }
    if force {
        return Verdict::Order;
    }
    match expiry.map(|e| e.days_left) {
        Some(days) if days < urgent_days(expiry.and_then(|e| e.lifetime_days)) => Verdict::OrderDespite(format!(
            "ordering although these names failed to be issued {} in a row (waiting until {} otherwise): the deployed certificate expires in {days} days",
            times(r.failures),
            rfc3339(&r.not_before)
        )),
        _ => Verdict::Wait {
            until: r.not_before,
            rate_limit: None,
        },
    }
}

/// A renewal window the CA gave, and when to ask for it again.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RememberedWindow {
    /// The window.
    #[serde(flatten)]
    pub window: RenewalWindow,
    /// Not asked again before this.
    #[serde(with = "time::serde::rfc3339")]
    pub ask_after: OffsetDateTime,
}

/// Remembered windows by the certificate's ARI id (RFC 9773 section 4.1).
pub type Windows = BTreeMap<String, RememberedWindow>;

/// When to ask again for a window received at `now` whose answer said `retry_after`, bounded
/// to between a minute and a day from `now` (RFC 9773 section 4.3.2).
pub fn ask_after(retry_after: OffsetDateTime, now: OffsetDateTime) -> OffsetDateTime {
    retry_after.clamp(now + Duration::minutes(1), now + Duration::days(1))
}

/// The remembered window to use instead of asking, if it may not be asked for yet.
pub fn remembered_window(
    remembered: Option<&RememberedWindow>,
    now: OffsetDateTime,
) -> Option<RenewalWindow> {
    remembered.filter(|r| now < r.ask_after).map(|r| r.window)
}

/// The windows worth keeping: those that may not be asked for yet.
pub fn still_waiting(windows: &Windows, now: OffsetDateTime) -> Windows {
    windows
        .iter()
        .filter(|(_, r)| now < r.ask_after)
        .map(|(id, r)| (id.clone(), *r))
        .collect()
}

#[cfg(test)]
mod tests {
    use time::macros::datetime;

    use super::*;

    const NOW: OffsetDateTime = datetime!(2026-12-02 03:17 UTC);

    fn failed(n: u32, not_before: OffsetDateTime) -> Failures {
        Failures {
            names: vec!["cdn.example.cn".into()],
            failures: n,
            last_error: "the CA could not validate cdn.example.cn".into(),
            failed_at: NOW - Duration::hours(1),
            not_before,
            rate_limit: None,
        }
    }

    #[test]
    fn the_backoff_doubles_from_an_hour_and_stays_under_a_day() {
        let hours: Vec<i64> = (1..=8).map(|n| backoff(n).whole_hours()).collect();
        assert_eq!(hours, [1, 2, 4, 8, 16, 23, 23, 23]);
        assert_eq!(backoff(u32::MAX), MAX_BACKOFF, "no overflow");
        // The daily run, 24 hours after a failing one, is past any backoff.
        assert!(NOW + backoff(100) < NOW + Duration::days(1));
    }

    #[test]
    fn each_failure_counts_on_from_the_last_and_a_rate_limit_waits_for_the_cas_date() {
        let names = || vec!["cdn.example.cn".to_owned()];
        let first = after_failure(None, names(), Failure::Error("refused".into()), NOW);
        assert_eq!(
            (first.failures, first.not_before),
            (1, NOW + Duration::hours(1))
        );
        let third = after_failure(
            Some(&failed(2, NOW)),
            names(),
            Failure::Error("x".into()),
            NOW,
        );
        assert_eq!(
            (third.failures, third.not_before),
            (3, NOW + Duration::hours(4))
        );
        assert_eq!(third.failed_at, NOW);

        let limit = "too many certificates (5) already issued for this exact set of identifiers";
        let until = NOW + Duration::hours(30);
        let limited = after_failure(
            None,
            names(),
            Failure::RateLimited {
                limit: limit.into(),
                retry_after: Some(until),
            },
            NOW,
        );
        assert_eq!(limited.not_before, until, "the CA's date, not ours");
        assert_eq!(limited.rate_limit.as_deref(), Some(limit));
        let absurd = Failure::RateLimited {
            limit: limit.into(),
            retry_after: Some(NOW + Duration::days(400)),
        };
        assert_eq!(
            after_failure(None, names(), absurd, NOW).not_before,
            NOW + MAX_RATE_LIMIT_WAIT
        );
        let undated = Failure::RateLimited {
            limit: limit.into(),
            retry_after: None,
        };
        let undated = after_failure(None, names(), undated, NOW);
        assert_eq!(
            (undated.not_before, undated.rate_limit),
            (NOW + Duration::hours(1), None),
            "without a date, our own backoff"
        );
    }

    #[test]
    fn a_domain_waits_out_its_backoff_unless_forced_or_about_to_expire() {
        let until = NOW + Duration::hours(2);
        let r = failed(2, until);
        let wait = Verdict::Wait {
            until,
            rate_limit: None,
        };
        let days = |d: f64| {
            Some(Expiry {
                days_left: d,
                lifetime_days: Some(90.0),
            })
        };
        assert_eq!(may_order(None, false, days(40.0), NOW), Verdict::Order);
        assert_eq!(may_order(Some(&r), false, days(40.0), NOW), wait);
        assert_eq!(
            may_order(Some(&r), false, None, NOW),
            wait,
            "nothing deployed"
        );
        assert_eq!(may_order(Some(&r), true, days(40.0), NOW), Verdict::Order);
        assert_eq!(
            may_order(Some(&r), false, days(40.0), until),
            Verdict::Order,
            "over at not_before"
        );
        let Verdict::OrderDespite(why) = may_order(Some(&r), false, days(6.9), NOW) else {
            panic!("a certificate about to expire is ordered for");
        };
        assert!(
            why.contains("failed to be issued twice in a row") && why.contains("6.9 days"),
            "{why}"
        );
    }

    #[test]
    fn a_scheduled_run_forgets_the_failures_of_name_sets_no_longer_listed() {
        let keys: Vec<String> = [
            "memory/aaa.json",
            "memory/bbb.json",
            WINDOWS_KEY,
            "memory/other/ccc.json",
            "memory/notified/aaa.json",
            "memory/notified/eee.json",
            "memory/ddd.txt",
            RENEWAL_INFO_LIMIT_KEY,
        ]
        .iter()
        .map(|k| k.to_string())
        .collect();
        let listed = ["aaa".to_owned()].into_iter().collect();
        assert_eq!(
            stale_memories(&keys, &listed),
            ["memory/bbb.json", "memory/notified/eee.json"]
        );
        assert_eq!(
            memory_key("bbb"),
            "memory/bbb.json",
            "the key a failure is written at"
        );
    }

    #[test]
    fn the_urgent_point_scales_with_the_lifetime() {
        let r = failed(3, NOW + Duration::hours(4));
        let at = |days_left: f64, lifetime: f64| {
            may_order(
                Some(&r),
                false,
                Some(Expiry {
                    days_left,
                    lifetime_days: Some(lifetime),
                }),
                NOW,
            )
        };
        // 90, 64 and 45 days: a week before expiry, as before.
        for lifetime in [90.0, 64.0, 45.0] {
            assert!(
                matches!(at(7.5, lifetime), Verdict::Wait { .. }),
                "{lifetime}"
            );
            assert!(
                matches!(at(6.5, lifetime), Verdict::OrderDespite(_)),
                "{lifetime}"
            );
        }
        // 6 days: it renews with 3 left, and waits out its backoff until 1.5 are left.
        assert!(matches!(at(3.0, 6.0), Verdict::Wait { .. }));
        assert!(matches!(at(2.0, 6.0), Verdict::Wait { .. }));
        assert!(matches!(at(1.4, 6.0), Verdict::OrderDespite(_)));
        assert_eq!(urgent_days(None), URGENT_DAYS);
    }

    #[test]
    fn the_cas_rate_limit_holds_even_against_force_and_expiry() {
        let until = NOW + Duration::hours(30);
        let mut r = failed(1, until);
        r.rate_limit = Some("too many new orders".into());
        let wait = Verdict::Wait {
            until,
            rate_limit: r.rate_limit.clone(),
        };
        let close = Some(Expiry {
            days_left: 1.0,
            lifetime_days: Some(90.0),
        });
        assert_eq!(may_order(Some(&r), true, close, NOW), wait);
        assert_eq!(may_order(Some(&r), false, close, until), Verdict::Order);
    }

    #[test]
    fn a_window_is_asked_for_again_only_after_its_retry_after_within_a_minute_and_a_day() {
        assert_eq!(
            ask_after(NOW + Duration::hours(6), NOW),
            NOW + Duration::hours(6)
        );
        assert_eq!(ask_after(NOW, NOW), NOW + Duration::minutes(1));
        assert_eq!(
            ask_after(NOW + Duration::days(30), NOW),
            NOW + Duration::days(1)
        );
        let window = RenewalWindow {
            start: NOW + Duration::days(50),
            end: NOW + Duration::days(52),
        };
        let r = RememberedWindow {
            window,
            ask_after: NOW + Duration::hours(6),
        };
        assert_eq!(remembered_window(Some(&r), NOW), Some(window));
        assert_eq!(remembered_window(Some(&r), NOW + Duration::hours(6)), None);
        assert_eq!(remembered_window(None, NOW), None);
        let windows: Windows = [("a".to_owned(), r)].into();
        assert_eq!(still_waiting(&windows, NOW).len(), 1);
        assert!(still_waiting(&windows, NOW + Duration::hours(7)).is_empty());
    }

    #[test]
    fn the_memory_reads_back_what_it_wrote() {
        let mut r = failed(3, NOW + Duration::hours(4));
        let json = serde_json::to_value(&r).unwrap();
        assert_eq!(json["not_before"], "2026-12-02T07:17:00Z");
        assert!(json.get("rate_limit").is_none());
        assert_eq!(serde_json::from_value::<Failures>(json).unwrap(), r);
        r.rate_limit = Some("limit".into());
        let back = serde_json::from_slice(&serde_json::to_vec(&r).unwrap());
        assert_eq!(back.ok(), Some(r));
    }
}
