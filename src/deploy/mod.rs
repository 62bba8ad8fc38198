//! Putting one certificate on a domain's targets: CloudFront through IAM ([`iam`]), ACM region by
//! region ([`acm`]), and distributions pointed at the us-east-1 ACM certificate ([`cloudfront`]).
//!
//! Each step takes the ports it writes through and the certificate, never the run: it reports
//! what it did into a [`Deployment`] and never stops at one target's failure. What to deploy where
//! is decided before, by [`crate::plan::delivery`].

pub mod acm;
pub mod cloudfront;
pub mod iam;

use time::OffsetDateTime;

use crate::aws::iam::ServerCert;
use crate::certs::archive::Bundle;
use crate::certs::certificate::CertificateInfo;

/// The certificate being deployed.
#[derive(Debug, Clone)]
pub enum Certificate {
    /// A bundle in hand (issued, archived or the user's), with its leaf.
    Bundle {
        /// Certificate, chain and key.
        bundle: Box<Bundle>,
        /// Its leaf, parsed.
        leaf: Box<CertificateInfo>,
    },
    /// A certificate a dead run uploaded to IAM (its bundle is in the archive).
    Uploaded(ServerCert),
}

impl Certificate {
    /// Its IAM name.
    pub fn iam_name(&self) -> &str {
        match self {
            Self::Bundle { bundle, .. } => &bundle.iam_name,
            Self::Uploaded(cert) => &cert.name,
        }
    }

    /// Its serial, canonical, where known.
    pub fn serial(&self) -> Option<&str> {
        match self {
            Self::Bundle { leaf, .. } => Some(&leaf.serial),
            Self::Uploaded(_) => None,
        }
    }

    /// When it became valid, where known (a dead run's upload is known by its expiry only).
    pub fn not_before(&self) -> Option<OffsetDateTime> {
        match self {
            Self::Bundle { leaf, .. } => Some(leaf.not_before),
            Self::Uploaded(_) => None,
        }
    }

    /// When it expires, where known.
    pub fn not_after(&self) -> Option<OffsetDateTime> {
        match self {
            Self::Bundle { leaf, .. } => Some(leaf.not_after),
            Self::Uploaded(cert) => cert.expiration,
        }
    }
}

/// A distribution swapped away from an IAM certificate: the certificate may be retired once the
/// distribution has deployed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SwappedOff {
    /// The IAM id of the certificate it served.
    pub certificate: String,
    /// The distribution.
    pub distribution: String,
}

/// One target that did not take the certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// The IAM upload failed, so no distribution could be swapped.
    Upload(String),
    /// A distribution was not swapped.
    Swap {
        /// The distribution.
        distribution: String,
        /// Why.
        why: String,
    },
    /// An ACM region does not hold the certificate.
    Acm {
        /// The region.
        region: String,
        /// Why.
        why: String,
    },
    /// CloudFront through ACM, but the global region does not hold the certificate.
    NoGlobalCertificate,
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Upload(why) => f.write_str(why),
            Self::Swap { distribution, why } => write!(f, "{distribution}: {why}"),
            Self::Acm { region, why } => write!(f, "ACM {region}: {why}"),
            Self::NoGlobalCertificate => {
                f.write_str("CloudFront: no ACM certificate in the global region to attach")
            }
        }
    }
}

/// What the deploy step did so far, across targets.
#[derive(Debug, Default)]
pub struct Deployment {
    /// The targets that did not take the certificate.
    pub failures: Vec<Failure>,
    /// Distributions swapped away from an IAM certificate.
    pub swapped_off: Vec<SwappedOff>,
    /// Whether anything serves a different certificate now.
    pub changed: bool,
    /// The IAM certificate uploaded (or found uploaded), if CloudFront through IAM took part.
    pub uploaded: Option<ServerCert>,
}
