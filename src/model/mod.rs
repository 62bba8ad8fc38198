//! The domain's vocabulary, pure: names and zones, partitions, where certificates go, and what a
//! listing of IAM certificates and distributions says. No I/O, no clock.

pub mod dns;
pub mod inventory;
pub mod names;
pub mod partition;
pub mod role;
pub mod targets;
