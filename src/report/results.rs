//! The per-target results of a report — a distribution's swap, an ACM region's import, a
//! certificate's retirement — as enums whose JSON is the one string scripts and alarms match
//! (`updated`, `imported`, `deleted`, or the error).

use std::fmt;

/// Whether `value` is spelled `text` (compared as it is written, without allocating).
fn spelled(value: &dyn fmt::Display, text: &str) -> bool {
    struct Rest<'a>(Option<&'a str>);
    impl fmt::Write for Rest<'_> {
        fn write_str(&mut self, s: &str) -> fmt::Result {
            self.0 = self.0.and_then(|rest| rest.strip_prefix(s));
            self.0.map(drop).ok_or(fmt::Error)
        }
    }
    let mut rest = Rest(Some(text));
    fmt::write(&mut rest, format_args!("{value}")).is_ok() && rest.0 == Some("")
}

/// Results that the report's JSON spells as one string each (the strings alarms and scripts
/// already match): `Display` is the spelling, and a result compares equal to its spelling.
macro_rules! spelled_as_string {
    ($t:ty) => {
        impl serde::Serialize for $t {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_str(self)
            }
        }
        impl PartialEq<str> for $t {
            fn eq(&self, other: &str) -> bool {
                spelled(self, other)
            }
        }
        impl PartialEq<&str> for $t {
            fn eq(&self, other: &&str) -> bool {
                spelled(self, other)
            }
        }
    };
}

/// What pointing one distribution at a certificate came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SwapResult {
    /// It serves the certificate now (deploying).
    Updated,
    /// It served it already.
    Unchanged,
    /// It does not serve it; why, and what happens next.
    Failed(String),
}

impl SwapResult {
    /// Whether the distribution serves the certificate now.
    pub fn is_ok(&self) -> bool {
        !matches!(self, Self::Failed(_))
    }
}

impl fmt::Display for SwapResult {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Updated => f.write_str("updated"),
            Self::Unchanged => f.write_str("unchanged"),
            Self::Failed(why) => f.write_str(why),
        }
    }
}
spelled_as_string!(SwapResult);

/// What putting the certificate into one ACM region came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AcmResult {
    /// Imported: the region held no certificate for these names.
    Imported,
    /// Imported anew: the one it held was deleted by someone (its ARN is gone).
    ImportedAfterDeletion,
    /// Re-imported in place: same ARN, new certificate.
    Reimported,
    /// It held this certificate already.
    Unchanged,
    /// It does not hold it; the error.
    Failed(String),
}

impl AcmResult {
    /// Whether the region holds the certificate now.
    pub fn is_ok(&self) -> bool {
        !matches!(self, Self::Failed(_))
    }

    /// Whether the region holds a certificate it did not hold before.
    pub fn changed(&self) -> bool {
        self.is_ok() && *self != Self::Unchanged
    }
}

impl fmt::Display for AcmResult {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Imported => f.write_str("imported"),
            Self::ImportedAfterDeletion => f.write_str("imported (the previous one was deleted)"),
            Self::Reimported => f.write_str("reimported"),
            Self::Unchanged => f.write_str("unchanged"),
            Self::Failed(why) => f.write_str(why),
        }
    }
}
spelled_as_string!(AcmResult);

/// What retirement did with one certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RetirementResult {
    /// Deleted.
    Deleted,
    /// Someone deleted it first.
    AlreadyGone,
    /// Kept: distributions swapped away from it have not finished deploying.
    KeptDeploying(Vec<String>),
    /// Kept: IAM says it is still in use.
    KeptInUse(String),
    /// Kept: a load balancer listener serves it (`using`: "load balancer <name> listener
    /// <port or ARN>"). `foreign`: cert-rotator did not upload it, so it is left to its owner
    /// (its `replaced-by` tag removed) rather than retired once free.
    KeptByLoadBalancer {
        /// The listener that serves it.
        using: String,
        /// Not uploaded by cert-rotator.
        foreign: bool,
    },
    /// Kept: listing the load balancers failed, so whether one serves it is unknown.
    KeptLoadBalancersUnknown(String),
    /// Kept: cert-rotator did not upload it and retiring such certificates is not opted into.
    KeptForeign,
    /// Kept: its tags could not be read, so whether it is ours is unknown.
    KeptUnknownTags(String),
    /// Kept: the deletion failed.
    KeptError(String),
    /// No certificate was considered: the listing failed.
    NotAttempted(String),
    /// No certificate was considered, for this reason.
    Skipped(String),
}

impl RetirementResult {
    /// Whether the certificate no longer exists.
    pub fn gone(&self) -> bool {
        matches!(self, Self::Deleted | Self::AlreadyGone)
    }
}

impl fmt::Display for RetirementResult {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Deleted => f.write_str("deleted"),
            Self::AlreadyGone => f.write_str("already gone"),
            Self::KeptDeploying(d) => {
                write!(
                    f,
                    "kept until {d:?} finish deploying; retired on a later run"
                )
            }
            Self::KeptInUse(why) => write!(f, "kept: still in use ({why}); retried on a later run"),
            Self::KeptByLoadBalancer {
                using,
                foreign: false,
            } => write!(f, "kept: in use by {using}; retired once it is free"),
            Self::KeptByLoadBalancer {
                using,
                foreign: true,
            } => write!(
                f,
                "kept: in use by {using}; not uploaded by cert-rotator, so left to its owner (replaced-by tag removed)"
            ),
            Self::KeptLoadBalancersUnknown(e) => write!(
                f,
                "kept: cannot tell whether a load balancer uses it ({e}); retried on a later run"
            ),
            Self::KeptForeign => f.write_str(
                "kept: not uploaded by cert-rotator; set CERT_ROTATOR_RETIRE_FOREIGN=true (the stack's RetireForeign) and the next run retires it once nothing uses it",
            ),
            Self::KeptUnknownTags(e) => write!(f, "kept: cannot read its tags: {e}"),
            Self::KeptError(e) => write!(f, "kept: {e}"),
            Self::NotAttempted(e) => write!(f, "not attempted: listing failed: {e}"),
            Self::Skipped(why) => write!(f, "not attempted: {why}"),
        }
    }
}
spelled_as_string!(RetirementResult);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_serialise_and_compare_as_their_spelling() {
        let json =
            serde_json::to_value([SwapResult::Updated, SwapResult::Failed("412 twice".into())])
                .unwrap();
        assert_eq!(json, serde_json::json!(["updated", "412 twice"]));
        assert_eq!(
            serde_json::to_value(AcmResult::ImportedAfterDeletion).unwrap(),
            "imported (the previous one was deleted)"
        );
        assert!(RetirementResult::Deleted == "deleted");
        assert!(RetirementResult::Deleted != "delete" && RetirementResult::Deleted != "deleted!");
        let kept = RetirementResult::KeptDeploying(vec!["E1".into()]);
        assert!(kept == "kept until [\"E1\"] finish deploying; retired on a later run");
        assert!(AcmResult::Reimported.changed() && !AcmResult::Unchanged.changed());
        let by_alb = RetirementResult::KeptByLoadBalancer {
            using: "load balancer shop listener 443".into(),
            foreign: false,
        };
        assert!(
            by_alb == "kept: in use by load balancer shop listener 443; retired once it is free"
        );
        assert!(!by_alb.gone());
        assert!(!AcmResult::Failed("x".into()).is_ok());
    }
}
