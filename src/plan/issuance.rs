//! How often one name set may be issued. Let's Encrypt allows 5 certificates for the same names
//! per 7 days (<https://letsencrypt.org/docs/rate-limits/>, "New Certificates per Exact Set of
//! Identifiers"); a domain whose deployment keeps failing, a run retried by hand, or a re-import
//! that keeps failing must not spend that budget — or the account's — run after run. Below the
//! CA's limit cert-rotator keeps its own (default 3 a week), counted from the archive, which holds
//! every certificate it issued; an explicit `force` overrides it.
//!
//! Pure: the times the archive's certificates were issued, the cap and `now`.

use time::{Duration, OffsetDateTime};

/// The window the cap counts over.
pub const WINDOW: Duration = Duration::days(7);

/// The window the cap counts over for certificates renewed every `between_renewals`: a week, or
/// the time between two renewals when that is shorter (3 days for 6-day certificates renewed at
/// half their lifetime), but never under a day. A week's cap of 3 would otherwise be spent by
/// the renewals of a 6-day certificate alone, and one `force` would defer the next renewal past
/// its expiry.
pub fn window(between_renewals: Option<Duration>) -> Duration {
    between_renewals.map_or(WINDOW, |b| b.clamp(Duration::DAY, WINDOW))
}

/// `Ok(())` while fewer than `max` of `issued` fall in the last `window` (`max` 0: no cap);
/// otherwise `Err(until)`, when the oldest of them leaves the window and another issuance is
/// allowed.
pub fn allowed(
    issued: &[OffsetDateTime],
    (max, window): (u32, Duration),
    now: OffsetDateTime,
) -> Result<(), OffsetDateTime> {
    if max == 0 {
        return Ok(());
    }
    let mut recent: Vec<OffsetDateTime> = issued
        .iter()
        .copied()
        .filter(|t| *t > now - window && *t <= now + Duration::hours(1))
        .collect();
    let max = usize::try_from(max).unwrap_or(usize::MAX);
    if recent.len() < max {
        return Ok(());
    }
    recent.sort_unstable();
    // The `max`-th most recent must leave the window before one more fits.
    Err(recent[recent.len() - max] + window)
}

#[cfg(test)]
mod tests {
    use time::macros::datetime;

    use super::*;

    const NOW: OffsetDateTime = datetime!(2026-12-02 06:00 UTC);

    #[test]
    fn three_issuances_in_a_week_wait_until_the_oldest_leaves_it() {
        let days = |d: i64| NOW - Duration::days(d);
        assert_eq!(allowed(&[days(1), days(2)], (3, WINDOW), NOW), Ok(()));
        assert_eq!(
            allowed(&[days(1), days(2), days(6)], (3, WINDOW), NOW),
            Err(days(6) + WINDOW)
        );
        assert_eq!(
            allowed(&[days(1), days(2), days(3), days(6)], (3, WINDOW), NOW),
            Err(days(3) + WINDOW),
            "with four in the window, one more fits when the third newest leaves"
        );
        assert_eq!(
            allowed(&[days(1), days(2), days(8)], (3, WINDOW), NOW),
            Ok(()),
            "older than the window"
        );
        assert_eq!(
            allowed(&[days(1), days(2), days(3)], (0, WINDOW), NOW),
            Ok(()),
            "0: no cap"
        );
    }

    #[test]
    fn the_window_shrinks_to_the_time_between_renewals_of_short_certificates() {
        assert_eq!(window(None), WINDOW);
        assert_eq!(window(Some(Duration::days(60))), WINDOW, "90 days");
        assert_eq!(window(Some(Duration::days(3))), Duration::days(3), "6 days");
        assert_eq!(window(Some(Duration::hours(3))), Duration::DAY);
        // A 6-day certificate renewed every 3 days, once forced in between: the cap of 3 holds.
        let days = |d: i64| NOW - Duration::days(d);
        let issued = [days(3), days(1)];
        assert_eq!(
            allowed(&issued, (3, window(Some(Duration::days(3)))), NOW),
            Ok(())
        );
        assert!(allowed(&[days(6), days(4), days(3), days(1)], (3, WINDOW), NOW).is_err());
    }
}
