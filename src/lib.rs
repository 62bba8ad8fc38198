//! cert-rotator keeps TLS certificates renewed on CloudFront — first of all in AWS China, where
//! CloudFront serves only IAM server certificates — by ACME DNS-01 on Route 53.
//!
//! Map of the crate:
//! - [`partition`]: region → partition, and what differs between partitions (pure).
//! - [`names`]: domain names, zone ownership, wildcard coverage (pure).
//! - [`certificate`]: parsing certificates and checking bundles before use (pure); [`bundle`]:
//!   certificates from any CA in PEM, DER, PKCS#7 or PKCS#12, normalised and checked (pure).
//! - [`config`]: configuration from the environment.
//! - [`dns01`]: publishing and removing DNS-01 answers in Route 53; [`journal`] makes that
//!   survive a killed run; [`propagation`] checks the zone's name servers.
//! - [`acme`]: the ACME account, orders and renewal information (instant-acme); [`account`]
//!   keeps the account in Secrets Manager.
//! - [`targets`]: where a certificate goes (CloudFront through IAM, ACM per service and region);
//!   [`source`]: where a bring-your-own certificate's files are.
//! - [`event`]: the invocation event; [`inventory`]: what is deployed; [`plan`]: the decision.
//! - [`archive`], [`lock`]: the S3 archive of every key, and the run's lease.
//! - [`rotation`]: a run, start to end; [`delivery`]: one domain's certificate to ACM targets,
//!   from a bring-your-own source, or to CloudFront through ACM; [`report`]: its result;
//!   [`handler`]: the entry both binaries share; [`failpoint`]: where crash tests kill it.
//! - [`aws`]: the boundary to AWS, one adapter per service; the only place SDK types appear.

// Tests may panic; the normal build is linted without this.
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))]

pub mod account;
pub mod acme;
pub mod archive;
pub mod aws;
pub mod bundle;
pub mod certificate;
pub mod config;
pub mod delivery;
pub mod dns01;
pub mod event;
pub mod failpoint;
pub mod handler;
pub mod inventory;
pub mod journal;
pub mod lock;
pub mod names;
pub mod partition;
pub mod plan;
pub mod propagation;
pub mod report;
pub mod rotation;
pub mod source;
pub mod targets;
