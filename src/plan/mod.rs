//! Pure decisions: functions of (what is deployed, what is archived, now, policy) that return a
//! plan. No I/O, no clock reads: a dry run reports exactly what these return.
//!
//! - [`renewal`]: per domain, keep, deploy an uploaded certificate, or issue (the CloudFront view).
//! - [`backoff`]: when the CA may be asked again (failed issuances, its rate limits, ARI).

pub mod backoff;
pub mod delivery;
pub mod issuance;
pub mod pruning;
pub mod quota;
pub mod renewal;
pub mod retirement;

pub use renewal::*;
