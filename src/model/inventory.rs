//! What is deployed now, and how cert-rotator recognizes its own certificates.
//!
//! The inventory is listed once per run (IAM server certificates under `/cloudfront/`, every
//! CloudFront distribution); everything here reads it without I/O: which distributions serve a
//! domain's names, which certificate each one carries, which uploaded certificates belong to a
//! name set.
//!
//! Certificates cert-rotator uploads are named `<first-name>-<names-hash>-<not-after>-<serial>`
//! (IAM allows `[\w+=,.@-]`, so `*` becomes `wildcard`): unique per issuance, the same on a rerun
//! (so a rerun finds what a dead run uploaded), and recognizable by name set without a call.

use time::OffsetDateTime;

use crate::aws::cloudfront::{Distribution, ViewerCert};
use crate::aws::iam::ServerCert;
use crate::model::names::DomainName;

/// Tag on every certificate cert-rotator uploads.
pub const TAG_MANAGED_BY: &str = "managed-by";
/// Its value.
pub const MANAGED_BY: &str = "cert-rotator";
/// Tag cert-rotator puts on a certificate it is about to replace (its own or anyone's), naming the
/// replacement: only certificates with one of these two tags are ever deleted.
pub const TAG_REPLACED_BY: &str = "cert-rotator:replaced-by";
/// Tag with the certificate's names (truncated to the 256 characters a tag value holds).
pub const TAG_NAMES: &str = "cert-rotator:names";
/// Tag with the hash of the certificate's name set ([`names_hash`]): how cert-rotator finds its
/// ACM certificates again, whose ARNs it does not name.
pub const TAG_NAMES_HASH: &str = "cert-rotator:names-hash";
/// Tag with the certificate's not-after (RFC 3339).
pub const TAG_NOT_AFTER: &str = "cert-rotator:not-after";

/// A short stable hash of a name set (order and case do not matter).
pub fn names_hash(names: &[DomainName]) -> String {
    let mut sorted: Vec<&str> = names.iter().map(DomainName::as_str).collect();
    sorted.sort_unstable();
    sorted.dedup();
    let digest =
        aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, sorted.join("\n").as_bytes());
    digest.as_ref()[..4]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The IAM name of a certificate for `names` expiring at `not_after` with serial `serial_hex`.
pub fn iam_name(names: &[DomainName], not_after: OffsetDateTime, serial_hex: &str) -> String {
    let first = names
        .first()
        .map(|n| n.as_str().replace('*', "wildcard"))
        .unwrap_or_default();
    let first: String = first.chars().take(80).collect();
    let serial: String = serial_hex
        .chars()
        .rev()
        .take(8)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    format!(
        "{first}-{}-{:04}{:02}{:02}{:02}{:02}-{serial:0>8}",
        names_hash(names),
        not_after.year(),
        u8::from(not_after.month()),
        not_after.day(),
        not_after.hour(),
        not_after.minute()
    )
}

/// The names hash in a name cert-rotator gave, or `None` for anyone else's certificate.
pub fn managed_hash(iam_name: &str) -> Option<&str> {
    let mut parts = iam_name.rsplitn(4, '-');
    let serial = parts.next()?;
    let date = parts.next()?;
    let hash = parts.next()?;
    parts.next()?;
    let hex = |s: &str, n: usize| s.len() == n && s.bytes().all(|b| b.is_ascii_hexdigit());
    (hex(serial, 8) && date.len() == 12 && date.bytes().all(|b| b.is_ascii_digit()) && hex(hash, 8))
        .then_some(hash)
}

/// The not-after in a name cert-rotator gave (to the minute), or `None` for anyone else's.
pub fn managed_not_after(iam_name: &str) -> Option<OffsetDateTime> {
    managed_hash(iam_name)?;
    let date = iam_name.rsplit('-').nth(1)?;
    let n = |range: std::ops::Range<usize>| date.get(range)?.parse::<u16>().ok();
    let month = time::Month::try_from(u8::try_from(n(4..6)?).ok()?).ok()?;
    let day =
        time::Date::from_calendar_date(i32::from(n(0..4)?), month, u8::try_from(n(6..8)?).ok()?)
            .ok()?;
    let at = time::Time::from_hms(
        u8::try_from(n(8..10)?).ok()?,
        u8::try_from(n(10..12)?).ok()?,
        0,
    )
    .ok()?;
    Some(day.with_time(at).assume_utc())
}

/// The account's certificates and distributions, as listed at one moment.
#[derive(Debug, Clone, Default)]
pub struct Inventory {
    /// IAM server certificates under `/cloudfront/`.
    pub certificates: Vec<ServerCert>,
    /// Every CloudFront distribution.
    pub distributions: Vec<Distribution>,
}

/// A distribution in scope for a domain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Serving<'a> {
    /// The distribution.
    pub distribution: &'a Distribution,
    /// Its aliases the domain's names do not cover: a certificate for the domain alone cannot be
    /// attached to it (CloudFront requires every alias covered).
    pub uncovered: Vec<&'a str>,
}

impl Inventory {
    /// The distributions with at least one alias served by `names` — in any alias position, a
    /// wildcard serving exactly one label.
    pub fn serving<'a>(&'a self, names: &[DomainName]) -> Vec<Serving<'a>> {
        self.distributions
            .iter()
            .filter(|d| d.aliases.iter().any(|a| names.iter().any(|n| n.covers(a))))
            .map(|d| Serving {
                distribution: d,
                uncovered: d
                    .aliases
                    .iter()
                    .filter(|a| !names.iter().any(|n| n.covers(a)))
                    .map(String::as_str)
                    .collect(),
            })
            .collect()
    }

    /// The IAM certificate with this `ServerCertificateId`.
    pub fn certificate(&self, id: &str) -> Option<&ServerCert> {
        self.certificates.iter().find(|c| c.id == id)
    }

    /// The IAM certificate with this name.
    pub fn certificate_named(&self, name: &str) -> Option<&ServerCert> {
        self.certificates.iter().find(|c| c.name == name)
    }

    /// cert-rotator's certificates for exactly this name set, latest expiry first.
    pub fn uploaded_for(&self, names: &[DomainName]) -> Vec<&ServerCert> {
        let hash = names_hash(names);
        let mut found: Vec<&ServerCert> = self
            .certificates
            .iter()
            .filter(|c| managed_hash(&c.name) == Some(hash.as_str()))
            .collect();
        found.sort_by_key(|c| std::cmp::Reverse(c.expiration));
        found
    }

    /// Whether any distribution serves the IAM certificate `id`.
    pub fn is_referenced(&self, id: &str) -> bool {
        self.distributions
            .iter()
            .any(|d| d.viewer == ViewerCert::Iam(id.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    fn names(ns: &[&str]) -> Vec<DomainName> {
        ns.iter().map(|n| n.parse().unwrap()).collect()
    }

    fn dist(id: &str, aliases: &[&str], cert: &str) -> Distribution {
        Distribution {
            id: id.into(),
            domain_name: format!("{id}.cloudfront.cn"),
            aliases: aliases.iter().map(|a| a.to_string()).collect(),
            viewer: ViewerCert::Iam(cert.into()),
            status: "Deployed".into(),
        }
    }

    #[test]
    fn names_are_iam_safe_unique_per_issuance_and_recognizable() {
        let ns = names(&["*.cdn.example.cn", "cdn.example.cn"]);
        let name = iam_name(&ns, datetime!(2027-02-21 12:00 UTC), "0a1b2c3d4e5f");
        assert_eq!(
            name,
            format!(
                "wildcard.cdn.example.cn-{}-202702211200-2c3d4e5f",
                names_hash(&ns)
            )
        );
        assert!(
            name.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"+=,.@-_".contains(&b))
                && name.len() <= 128
        );
        assert_eq!(managed_hash(&name), Some(names_hash(&ns).as_str()));
        assert_eq!(
            managed_not_after(&name),
            Some(datetime!(2027-02-21 12:00 UTC))
        );
        assert_eq!(
            names_hash(&names(&["CDN.example.cn", "*.cdn.example.cn"])),
            names_hash(&ns),
            "order and case do not matter"
        );
        for foreign in [
            "cdn.example.cn",
            "cdn.example.cn-new",
            "a-b-c-d",
            "x-zzzzzzzz-202702211200-2c3d4e5f",
        ] {
            assert_eq!(managed_hash(foreign), None, "{foreign}");
            assert_eq!(managed_not_after(foreign), None, "{foreign}");
        }
    }

    #[test]
    fn a_distribution_is_served_whatever_the_position_of_the_alias() {
        let inv = Inventory {
            certificates: vec![],
            distributions: vec![
                dist("E1", &["other.example.cn", "cdn.example.cn"], "A"),
                dist("E2", &["img.cdn.example.cn"], "A"),
                dist("E3", &["a.b.cdn.example.cn"], "B"),
                dist("E4", &["unrelated.example.cn"], "B"),
            ],
        };
        let serving = inv.serving(&names(&["cdn.example.cn", "*.cdn.example.cn"]));
        let ids: Vec<&str> = serving.iter().map(|s| s.distribution.id.as_str()).collect();
        assert_eq!(ids, ["E1", "E2"]);
        assert_eq!(serving[0].uncovered, ["other.example.cn"]);
        assert!(serving[1].uncovered.is_empty());
        assert!(inv.is_referenced("A") && !inv.is_referenced("C"));
    }
}
