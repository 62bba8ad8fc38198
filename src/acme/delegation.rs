//! CNAME-delegated challenges: where `_acme-challenge.<name>` really lives.
//!
//! A name whose DNS is hosted outside AWS (DNSPod, Alibaba Cloud DNS, a registrar) can delegate
//! only its challenge record with a CNAME into a Route 53 zone made for challenges, as lego,
//! acme.sh's `--challenge-alias` and cert-manager's CNAME strategy do:
//!
//! ```text
//! _acme-challenge.www.example.cn.  CNAME  _acme-challenge.www.example.cn.challenges.example.net.
//! ```
//!
//! A CA validating `www.example.cn` follows the CNAME and reads the TXT at its target (RFC 8555
//! §8.4 and RFC 1034 §3.6.2: a resolver restarts the query at the canonical name). Before writing,
//! [`Delegation::target`] asks the record's *authoritative* servers — found by asking the
//! recursive resolver for the NS records of the record's closest enclosing zone, then asking those
//! servers directly, without recursion or caching, so a CNAME created a minute ago is seen — and
//! follows a chain of at most [`MAX_HOPS`] CNAMEs. The TXT is then written at the last name.

use std::net::IpAddr;

use hickory_resolver::proto::rr::{RData, RecordType};
use hickory_resolver::TokioResolver;

use crate::acme::propagation::{direct_resolver, recursive_resolver, PropagationError};

/// The longest CNAME chain followed (resolvers stop near 8–16; a longer one is a mistake).
pub const MAX_HOPS: usize = 8;

/// Why a challenge record's delegation could not be followed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DelegationError {
    /// The resolver failed while looking for the zone holding the record.
    #[error("cannot find the DNS zone holding {record}: the resolver failed ({reason}) — check CERT_ROTATOR_DNS_RESOLVER or the machine's DNS")]
    Resolver {
        /// The name looked up.
        record: String,
        /// The resolver's last answer.
        reason: String,
    },
    /// None of the zone's name servers answered.
    #[error("no authoritative server of {zone} answered for {record} ({reason}) — check the zone's name servers and that the function reaches them on port 53; only if every name is in Route 53 and none delegates its _acme-challenge, the authoritative check can be turned off (CERT_ROTATOR_CHECK_AUTHORITATIVE=false: TXT written at {record}, CNAMEs not followed)")]
    Unanswered {
        /// The name asked for.
        record: String,
        /// Its zone.
        zone: String,
        /// The last error.
        reason: String,
    },
    /// The chain is longer than [`MAX_HOPS`] or loops.
    #[error("the CNAME chain from {record} is a loop or longer than {MAX_HOPS} ({chain}) — point {record} with one CNAME straight at a name in a Route 53 zone that starts with _acme-challenge. (e.g. _acme-challenge.www.example.com.cn.challenges.example.net), where cert-rotator writes the TXT record")]
    Chain {
        /// The challenge record.
        record: String,
        /// The names followed.
        chain: String,
    },
    /// The chain ends at a name the function may not write: the template grants TXT records
    /// under an `_acme-challenge` label only.
    #[error("{record} is a CNAME to {target}, which does not start with _acme-challenge. — cert-rotator writes TXT records only under an _acme-challenge label (template.yaml's AcmeChallengeRecordsOnly): point the CNAME at _acme-challenge.<anything> in a Route 53 zone, e.g. _acme-challenge.www.example.com.cn.challenges.example.net")]
    Target {
        /// The challenge record.
        record: String,
        /// Where its chain ends.
        target: String,
    },
    /// The resolvers could not be made.
    #[error(transparent)]
    Setup(#[from] PropagationError),
}

/// Follows challenge records' CNAMEs at their authoritative servers.
#[derive(Debug, Clone)]
pub struct Delegation {
    /// Finds zones' name servers and their addresses (recursive, uncached).
    resolver: TokioResolver,
}

impl Delegation {
    /// `resolver`: a recursive resolver's address instead of the system's
    /// (`CERT_ROTATOR_DNS_RESOLVER`).
    pub fn new(resolver: Option<IpAddr>) -> Result<Self, DelegationError> {
        Ok(Self {
            resolver: recursive_resolver(resolver)?,
        })
    }

    /// The name whose TXT the CA will read for `record`: `record` itself, or the end of the
    /// CNAME chain that starts there.
    pub async fn target(&self, record: &str) -> Result<String, DelegationError> {
        let mut chain = vec![normal(record)];
        loop {
            let at = chain.last().cloned().unwrap_or_default();
            let Some(next) = self.cname_at(&at).await? else {
                return writable(&chain[0], at);
            };
            if chain.len() == 1 && self.wildcard(&at, &next).await? {
                // `*.example.cn CNAME d111.cloudfront.cn` answers for the challenge record too,
                // as long as no record exists there: not a delegation. A TXT written there
                // exists, and the wildcard stops answering for it (RFC 4592 §2.2.1).
                tracing::debug!(record = %at, target = %next, "a wildcard's CNAME, not a delegation");
                return Ok(at);
            }
            if chain.contains(&next) || chain.len() > MAX_HOPS {
                chain.push(next);
                return Err(DelegationError::Chain {
                    record: chain[0].clone(),
                    chain: chain.join(" → "),
                });
            }
            tracing::info!(from = %at, to = %next, "challenge record delegated by CNAME");
            chain.push(next);
        }
    }

    /// Whether the CNAME `name` → `target` is a wildcard's answer: a sibling name nobody wrote
    /// (a random first label) gets the same CNAME. A real `_acme-challenge` CNAME makes its parent
    /// exist, and the wildcard then answers for neither.
    async fn wildcard(&self, name: &str, target: &str) -> Result<bool, DelegationError> {
        let Some((_, parent)) = name.split_once('.') else {
            return Ok(false);
        };
        let sibling = format!("cert-rotator-probe-{}.{parent}", probe_label());
        Ok(self.cname_at(&sibling).await?.as_deref() == Some(target))
    }

    /// The CNAME at `name`, as its zone's authoritative servers answer. A name in no zone the
    /// resolver knows has none: whether Route 53 holds it is for the solver to say (a hosted zone
    /// not yet delegated, or none at all, each with its own error).
    async fn cname_at(&self, name: &str) -> Result<Option<String>, DelegationError> {
        let zone = match self.zone_of(name).await {
            Ok(zone) => zone,
            Err(failed @ DelegationError::Resolver { .. }) => {
                // A recursive resolver asked about a name that is a CNAME chases the chain, and
                // fails on a loop: ask the parent zone's servers for the name's CNAME directly,
                // so that the loop is found and named; failing that, the resolver's error.
                let Some((_, parent)) = name.split_once('.') else {
                    return Err(failed);
                };
                let Some((zone, servers)) = self.zone_of(parent).await? else {
                    return Err(failed);
                };
                return match self.cname_from(name, (zone, &servers)).await {
                    Ok(Some(target)) => Ok(Some(target)),
                    _ => Err(failed),
                };
            }
            Err(e) => return Err(e),
        };
        let Some((zone, servers)) = zone else {
            tracing::debug!(%name, "no DNS zone holds the name: not delegated");
            return Ok(None);
        };
        self.cname_from(name, (zone, &servers)).await
    }

    /// The CNAME at `name` as `zone`'s servers answer it.
    async fn cname_from(
        &self,
        name: &str,
        zone: (String, &[String]),
    ) -> Result<Option<String>, DelegationError> {
        let answers = self.ask(name, RecordType::CNAME, zone).await?;
        Ok(answers.iter().find_map(|r| match &r.data {
            RData::CNAME(target) if normal(&r.name.to_ascii()) == name => {
                Some(normal(&target.0.to_ascii()))
            }
            _ => None,
        }))
    }

    /// The answer for `kind` at `name` (a CNAME there included) as the authoritative servers of
    /// the name's zone give it, asked directly, without recursion or caching; empty when no zone
    /// holds the name or it has no such records.
    pub async fn authoritative(
        &self,
        name: &str,
        kind: RecordType,
    ) -> Result<Vec<hickory_resolver::proto::rr::Record>, DelegationError> {
        let name = normal(name);
        match self.zone_of(&name).await? {
            None => Ok(vec![]),
            Some((zone, servers)) => self.ask(&name, kind, (zone, &servers)).await,
        }
    }

    /// `kind` at `name` through the recursive resolver (uncached); empty when it has none.
    pub async fn recursive(
        &self,
        name: &str,
        kind: RecordType,
    ) -> Result<Vec<hickory_resolver::proto::rr::Record>, String> {
        match self.resolver.lookup(fqdn(name), kind).await {
            Ok(answer) => Ok(answer.answers().to_vec()),
            Err(e) if e.is_no_records_found() => Ok(vec![]),
            Err(e) => Err(e.to_string()),
        }
    }

    /// `kind` at `name`, asked of `zone`'s servers one after another until one answers.
    async fn ask(
        &self,
        name: &str,
        kind: RecordType,
        (zone, servers): (String, &[String]),
    ) -> Result<Vec<hickory_resolver::proto::rr::Record>, DelegationError> {
        let mut last_error = String::from("no addresses");
        for server in servers {
            let ips = match self.resolver.lookup_ip(fqdn(server)).await {
                Ok(ips) => ips,
                Err(e) => {
                    last_error = format!("{server}: {e}");
                    continue;
                }
            };
            for ip in ips.iter() {
                let direct = direct_resolver(ip)?;
                match direct.lookup(fqdn(name), kind).await {
                    Ok(answer) => return Ok(answer.answers().to_vec()),
                    Err(e) if e.is_no_records_found() => return Ok(vec![]),
                    Err(e) => last_error = format!("{server} ({ip}): {e}"),
                }
            }
        }
        Err(DelegationError::Unanswered {
            record: name.to_owned(),
            zone,
            reason: last_error,
        })
    }

    /// The closest zone enclosing `name` and its name servers: the first of `name` and its
    /// parents with NS records (never the root or a top-level domain); `None` when the resolver
    /// answered for each that it has none. A failure is an error at once: climbing past it could
    /// take a parent zone's referral for the name's own answer.
    async fn zone_of(&self, name: &str) -> Result<Option<(String, Vec<String>)>, DelegationError> {
        for candidate in ancestors(name) {
            match self.resolver.lookup(fqdn(candidate), RecordType::NS).await {
                Ok(answer) => {
                    let servers: Vec<String> = answer
                        .answers()
                        .iter()
                        .filter(|r| normal(&r.name.to_ascii()) == candidate)
                        .filter_map(|r| match &r.data {
                            RData::NS(ns) => Some(normal(&ns.0.to_ascii())),
                            _ => None,
                        })
                        .collect();
                    if !servers.is_empty() {
                        return Ok(Some((candidate.to_owned(), servers)));
                    }
                }
                Err(e) if e.is_no_records_found() => {}
                Err(e) => {
                    return Err(DelegationError::Resolver {
                        record: name.to_owned(),
                        reason: format!("{candidate}: {e}"),
                    })
                }
            }
        }
        Ok(None)
    }
}

/// A label no one wrote: 16 hex digits from the clock and a counter.
fn probe_label() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let mixed = (nanos as u64)
        ^ N.fetch_add(1, Ordering::Relaxed)
            .wrapping_mul(0x9e37_79b9_7f4a_7c15);
    format!("{mixed:016x}")
}

/// `target`, if the function may write TXT records there (the first label `_acme-challenge`).
fn writable(record: &str, target: String) -> Result<String, DelegationError> {
    if target.starts_with("_acme-challenge.") {
        Ok(target)
    } else {
        Err(DelegationError::Target {
            record: record.to_owned(),
            target,
        })
    }
}

/// `name` and its parents down to (not including) its top-level domain.
fn ancestors(name: &str) -> impl Iterator<Item = &str> {
    let labels = name.split('.').count();
    std::iter::successors(Some(name), |n| n.split_once('.').map(|(_, rest)| rest))
        .take(labels.saturating_sub(1))
}

/// Lower case, without the trailing dot.
fn normal(name: &str) -> String {
    name.trim_end_matches('.').to_ascii_lowercase()
}

/// With the trailing dot (no search domains).
fn fqdn(name: &str) -> String {
    format!("{}.", name.trim_end_matches('.'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_zone_is_looked_for_at_the_name_and_its_parents_but_never_a_top_level_domain() {
        let asked: Vec<&str> = ancestors("_acme-challenge.www.example.com.cn").collect();
        assert_eq!(
            asked,
            [
                "_acme-challenge.www.example.com.cn",
                "www.example.com.cn",
                "example.com.cn",
                "com.cn"
            ]
        );
        assert_eq!(ancestors("cn").count(), 0);
    }

    #[test]
    fn a_chain_must_end_under_an_acme_challenge_label() {
        let record = "_acme-challenge.www.example.cn";
        assert_eq!(writable(record, record.into()).unwrap(), record);
        let target = "_acme-challenge.www.example.cn.challenges.example.net";
        assert_eq!(writable(record, target.into()).unwrap(), target);
        let e = writable(record, "www.example.cn.challenges.example.net".into()).unwrap_err();
        assert!(
            e.to_string()
                .contains("does not start with _acme-challenge."),
            "{e}"
        );
    }

    #[test]
    fn names_compare_without_case_or_trailing_dot() {
        assert_eq!(normal("WWW.Example.CN."), "www.example.cn");
        assert_eq!(fqdn("www.example.cn"), "www.example.cn.");
        assert_eq!(fqdn("www.example.cn."), "www.example.cn.");
    }
}
