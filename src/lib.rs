//! cert-rotator keeps TLS certificates renewed on CloudFront — first of all in AWS China, where
//! CloudFront serves only IAM server certificates — by ACME DNS-01 on Route 53.
//!
//! Map of the crate, top to bottom; each layer uses only those below it:
//! - [`handler`]: the entry both binaries share (event in, report out).
//! - [`run`]: one run — the lease ([`run::lock`]), the listings, the fan-out over domains,
//!   retirement, the report.
//! - [`domain`]: one domain's pipeline: observe → decide → obtain → deploy → conclude, with the
//!   memory of failed issuances around each order.
//! - [`deploy`]: putting a certificate on a target — IAM and the CloudFront swap, ACM per region.
//! - [`acme`]: the ACME account, orders and renewal information (instant-acme), DNS-01 on Route 53
//!   ([`acme::dns01`]), its journal and the propagation check.
//! - [`ports`]: the small traits the pipeline needs from the world; [`aws`] implements them and is
//!   the only place SDK types appear.
//!
//! Beside them, used by all and using none of the above:
//! - [`plan`]: the pure decisions (renewal, delivery, retirement, when the CA may be asked again).
//! - [`model`]: names and zones, partitions, targets, the listing of what is deployed.
//! - [`certs`]: certificates and bundles from any CA (pure), bring-your-own sources, the archive.
//! - [`config`], [`event`], [`report`]: what comes in and what goes out; [`failpoint`]: where crash
//!   tests kill a run; [`logging`]: the binaries' logs, with the SDK's wire logging capped.

// Tests may panic; the normal build is linted without this.
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))]

pub mod acme;
pub mod aws;
pub mod budget;
pub mod certs;
pub mod config;
pub mod deploy;
pub mod domain;
pub mod event;
pub mod failpoint;
pub mod handler;
pub mod logging;
pub mod model;
pub mod plan;
pub mod ports;
pub mod report;
pub mod run;
