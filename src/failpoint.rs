//! Named points where the crash tests kill the process, to prove the next run repairs what a run
//! killed there left behind. Compiled in only with the `failpoints` feature (tests); in every
//! other build [`hit`] is an empty inline function.
//!
//! The points, in the order a renewal reaches them: `after-txt-write`, `after-authorization`,
//! `after-finalize`, `after-archive`, `after-upload`, `after-first-swap`, `before-retirement`.

/// Aborts the process if `CERT_ROTATOR_FAILPOINT` names this point (feature `failpoints` only).
#[inline]
pub fn hit(point: &'static str) {
    #[cfg(feature = "failpoints")]
    if std::env::var("CERT_ROTATOR_FAILPOINT").is_ok_and(|v| v == point) {
        eprintln!("failpoint {point}: aborting the process");
        std::process::abort();
    }
    #[cfg(not(feature = "failpoints"))]
    let _ = point;
}
