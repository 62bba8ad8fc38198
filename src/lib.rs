//! cert-rotator
pub mod partition;
