//! Domain names as cert-rotator accepts them, and the pure rules that relate names to each
//! other: which hosted zone owns a name, which certificate name covers which host name, where a
//! DNS-01 challenge record goes.
//!
//! No I/O here. Names are compared in their canonical form: lowercase ASCII (IDNs as punycode
//! A-labels), no trailing dot.

use std::fmt;
use std::str::FromStr;

/// A host name or a wildcard (`*.example.cn`) that a certificate may be issued for.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(transparent)]
pub struct DomainName(String);

/// Why a string is not an acceptable [`DomainName`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum NameError {
    /// The name is empty (or only a dot).
    #[error("{0:?} is empty: give a name like cdn.example.cn")]
    Empty(String),
    /// Longer than DNS allows.
    #[error("{0:?} is longer than 253 characters")]
    TooLong(String),
    /// A label is empty or longer than 63 characters.
    #[error("{0:?} has an empty label or one longer than 63 characters")]
    BadLabel(String),
    /// A character outside letters, digits and hyphens.
    #[error("{0:?} has characters other than letters, digits and hyphens; write internationalized names as punycode (xn--...)")]
    BadCharacter(String),
    /// A label starts or ends with a hyphen.
    #[error("{0:?} has a label that starts or ends with a hyphen")]
    Hyphen(String),
    /// An IP address: ACME DNS-01 and CloudFront aliases need names.
    #[error("{0:?} is an IP address; certificates here are issued for DNS names only")]
    IpAddress(String),
    /// A wildcard anywhere but as the whole first label.
    #[error("{0:?}: a wildcard must be the whole first label of a name with at least two more labels, like *.example.cn")]
    BadWildcard(String),
    /// The last label is all digits: no top-level domain is (RFC 3696 section 2).
    #[error("{0:?} ends in an all-numeric label: that is an IP address or no public name")]
    NumericTld(String),
    /// A single label (`localhost`, `cn`) is no public name.
    #[error("{0:?} is a single label; give a fully qualified name like cdn.example.cn")]
    SingleLabel(String),
}

impl FromStr for DomainName {
    type Err = NameError;

    /// Accepts one trailing dot and any letter case, and canonicalizes both away.
    fn from_str(input: &str) -> Result<Self, NameError> {
        let name = input
            .strip_suffix('.')
            .unwrap_or(input)
            .to_ascii_lowercase();
        if name.is_empty() {
            return Err(NameError::Empty(input.to_owned()));
        }
        if name.len() > 253 {
            return Err(NameError::TooLong(input.to_owned()));
        }
        if name.parse::<std::net::IpAddr>().is_ok() {
            return Err(NameError::IpAddress(input.to_owned()));
        }
        let (wildcard, rest) = match name.strip_prefix("*.") {
            Some(rest) => (true, rest),
            None => (false, name.as_str()),
        };
        if rest.contains('*') {
            return Err(NameError::BadWildcard(input.to_owned()));
        }
        let labels: Vec<&str> = rest.split('.').collect();
        if labels.len() < 2 || (wildcard && labels.len() < 2) {
            return Err(if wildcard {
                NameError::BadWildcard(input.to_owned())
            } else {
                NameError::SingleLabel(input.to_owned())
            });
        }
        if labels
            .last()
            .is_some_and(|tld| !tld.is_empty() && tld.bytes().all(|b| b.is_ascii_digit()))
        {
            return Err(NameError::NumericTld(input.to_owned()));
        }
        for label in &labels {
            if label.is_empty() || label.len() > 63 {
                return Err(NameError::BadLabel(input.to_owned()));
            }
            if !label
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-')
            {
                return Err(NameError::BadCharacter(input.to_owned()));
            }
            if label.starts_with('-') || label.ends_with('-') {
                return Err(NameError::Hyphen(input.to_owned()));
            }
        }
        Ok(Self(name))
    }
}

impl DomainName {
    /// The canonical text: lowercase, no trailing dot.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether this is a wildcard name (`*.example.cn`).
    pub fn is_wildcard(&self) -> bool {
        self.0.starts_with("*.")
    }

    /// The name without its wildcard label: `*.cdn.example.cn` → `cdn.example.cn`.
    pub fn base(&self) -> &str {
        self.0.strip_prefix("*.").unwrap_or(&self.0)
    }

    /// Where the DNS-01 TXT record for this name goes (RFC 8555 section 8.4): the same record
    /// for `example.cn` and `*.example.cn`, which is why values at one record are merged.
    pub fn challenge_record(&self) -> String {
        format!("_acme-challenge.{}", self.base())
    }

    /// Whether a certificate issued for this name is valid for `host` (RFC 6125 section 6.4.3):
    /// equal names, or a wildcard matching exactly one whole leftmost label.
    pub fn covers(&self, host: &str) -> bool {
        let host = canonical(host);
        match self.0.strip_prefix("*.") {
            None => self.0 == host,
            Some(suffix) => match host.split_once('.') {
                Some((first, rest)) => !first.is_empty() && first != "*" && rest == suffix,
                None => false,
            },
        }
    }
}

impl fmt::Display for DomainName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Lowercase, without a trailing dot: the form names are compared in.
pub fn canonical(name: &str) -> String {
    name.strip_suffix('.').unwrap_or(name).to_ascii_lowercase()
}

/// Whether `name` is `zone` or inside it, on label boundaries: `notexample.cn` is not inside
/// `example.cn`.
pub fn in_zone(name: &str, zone: &str) -> bool {
    let (name, zone) = (canonical(name), canonical(zone));
    name == zone
        || name
            .strip_suffix(&zone)
            .is_some_and(|head| head.ends_with('.'))
}

/// Every zone among `zones` that could own `name`: those of the longest name containing it on
/// label boundaries — more than one when an account holds several public zones with one name (a
/// migration, a test copy), of which the parent delegates to one only.
pub fn owning_zones<'z, Z>(
    name: &str,
    zones: &'z [Z],
    zone_name: impl Fn(&Z) -> &str,
) -> Vec<&'z Z> {
    let holding: Vec<&Z> = zones
        .iter()
        .filter(|z| in_zone(name, zone_name(z)))
        .collect();
    let longest = holding.iter().map(|z| canonical(zone_name(z)).len()).max();
    holding
        .into_iter()
        .filter(|z| Some(canonical(zone_name(z)).len()) == longest)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(s: &str) -> DomainName {
        s.parse().unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    #[test]
    fn canonicalizes_case_and_trailing_dot() {
        assert_eq!(name("CDN.Example.CN.").as_str(), "cdn.example.cn");
        assert_eq!(name("xn--fiqs8s.cn").as_str(), "xn--fiqs8s.cn");
    }

    #[test]
    fn refuses_what_no_ca_issues() {
        let cases = [
            ("", NameError::Empty(String::new())),
            (".", NameError::Empty(".".into())),
            ("127.0.0.1", NameError::IpAddress("127.0.0.1".into())),
            (
                "*.*.example.cn",
                NameError::BadWildcard("*.*.example.cn".into()),
            ),
            (
                "a.*.example.cn",
                NameError::BadWildcard("a.*.example.cn".into()),
            ),
            ("*.cn", NameError::BadWildcard("*.cn".into())),
            ("localhost", NameError::SingleLabel("localhost".into())),
            ("*.1.2.3.4", NameError::NumericTld("*.1.2.3.4".into())),
            ("a.123", NameError::NumericTld("a.123".into())),
            ("a..example.cn", NameError::BadLabel("a..example.cn".into())),
            ("-a.example.cn", NameError::Hyphen("-a.example.cn".into())),
            ("中国.cn", NameError::BadCharacter("中国.cn".into())),
            (
                "a_b.example.cn",
                NameError::BadCharacter("a_b.example.cn".into()),
            ),
        ];
        for (input, want) in cases {
            assert_eq!(input.parse::<DomainName>(), Err(want), "{input}");
        }
        assert!(matches!(
            format!("{}.cn", "a".repeat(64)).parse::<DomainName>(),
            Err(NameError::BadLabel(_))
        ));
        assert!(matches!(
            format!("{}cn", "abcdefghi.".repeat(26)).parse::<DomainName>(),
            Err(NameError::TooLong(_))
        ));
    }

    #[test]
    fn wildcard_covers_exactly_one_label() {
        let w = name("*.cdn.example.cn");
        assert!(w.covers("a.cdn.example.cn"));
        assert!(w.covers("A.CDN.example.cn."));
        assert!(!w.covers("cdn.example.cn"));
        assert!(!w.covers("a.b.cdn.example.cn"));
        assert!(!w.covers("acdn.example.cn"));
        assert!(name("cdn.example.cn").covers("cdn.example.cn"));
        assert!(!name("cdn.example.cn").covers("x.cdn.example.cn"));
    }

    #[test]
    fn apex_and_wildcard_share_a_challenge_record() {
        assert_eq!(
            name("*.example.cn").challenge_record(),
            "_acme-challenge.example.cn"
        );
        assert_eq!(
            name("example.cn").challenge_record(),
            "_acme-challenge.example.cn"
        );
    }

    #[test]
    fn zones_match_on_label_boundaries_and_the_longest_wins() {
        let zones = ["example.cn.", "cdn.example.cn", "notexample.cn"];
        let owner = |n: &str| owning_zones(n, &zones, |z| z).first().copied().copied();
        assert_eq!(
            owner("_acme-challenge.a.cdn.example.cn"),
            Some("cdn.example.cn")
        );
        assert_eq!(owner("_acme-challenge.example.cn"), Some("example.cn."));
        assert_eq!(owner("x.notexample.cn"), Some("notexample.cn"));
        assert_eq!(owner("xexample.cn"), None);
        assert!(!in_zone("notexample.cn", "example.cn"));
    }
}
