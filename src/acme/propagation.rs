//! Has the record reached the zone's authoritative servers?
//!
//! Route 53's INSYNC says its own servers have the change; the CA asks the servers the zone is
//! delegated to. After INSYNC we query each authoritative name server of the zone directly (no
//! recursion, no cache) until every one answers every value, so a CA never validates too early —
//! and a broken delegation is reported as such instead of as a failed validation.

use std::net::IpAddr;
use std::time::Duration;

use hickory_resolver::config::{NameServerConfig, ResolverConfig, ResolverOpts};
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::proto::rr::RData;
use hickory_resolver::{Resolver, TokioResolver};
use tokio::time::Instant;

/// Why the values were not seen.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PropagationError {
    /// A name server's address could not be found.
    #[error("cannot resolve the name server {server}: {reason} — check CERT_ROTATOR_DNS_RESOLVER or the machine's DNS")]
    Resolve {
        /// Its name.
        server: String,
        /// The resolver's message.
        reason: String,
    },
    /// Not all servers answered all values in time.
    #[error("{record} did not reach every authoritative server of its zone within {waited:?} (missing at {missing}); check the zone's delegation")]
    Timeout {
        /// The record.
        record: String,
        /// How long we waited.
        waited: Duration,
        /// The servers still missing a value.
        missing: String,
    },
    /// The resolver could not be set up.
    #[error("DNS resolver: {0}")]
    Setup(String),
}

/// Checks records at authoritative servers.
#[derive(Debug, Clone)]
pub struct Propagation {
    /// Resolves the name servers' own names (recursive).
    resolver: TokioResolver,
    poll: Duration,
}

fn uncached() -> ResolverOpts {
    let mut opts = ResolverOpts::default();
    opts.cache_size = 0;
    opts.timeout = Duration::from_secs(2);
    opts.attempts = 2;
    opts
}

/// A recursive resolver without a cache: `resolver`'s address, or the system's.
pub(crate) fn recursive_resolver(
    resolver: Option<IpAddr>,
) -> Result<TokioResolver, PropagationError> {
    let builder = match resolver {
        Some(ip) => Resolver::builder_with_config(
            ResolverConfig::from_name_servers(vec![NameServerConfig::udp_and_tcp(ip)]),
            TokioRuntimeProvider::default(),
        ),
        None => {
            TokioResolver::builder_tokio().map_err(|e| PropagationError::Setup(e.to_string()))?
        }
    };
    builder
        .with_options(uncached())
        .build()
        .map_err(|e| PropagationError::Setup(e.to_string()))
}

/// Asks the server at `ip` itself: no recursion, no cache.
pub(crate) fn direct_resolver(ip: IpAddr) -> Result<TokioResolver, PropagationError> {
    let config = ResolverConfig::from_name_servers(vec![NameServerConfig::udp_and_tcp(ip)]);
    let mut opts = uncached();
    opts.recursion_desired = false;
    Resolver::builder_with_config(config, TokioRuntimeProvider::default())
        .with_options(opts)
        .build()
        .map_err(|e| PropagationError::Setup(e.to_string()))
}

impl Propagation {
    /// `resolver`: a recursive resolver's address to use instead of the system's
    /// (`CERT_ROTATOR_DNS_RESOLVER`).
    pub fn new(resolver: Option<IpAddr>) -> Result<Self, PropagationError> {
        Ok(Self {
            resolver: recursive_resolver(resolver)?,
            poll: Duration::from_secs(2),
        })
    }

    /// Waits until every server in `name_servers` answers every value in `values` for the TXT
    /// record `record`, at most `max_wait`.
    pub async fn confirm(
        &self,
        name_servers: &[String],
        record: &str,
        values: &[&str],
        max_wait: Duration,
    ) -> Result<(), PropagationError> {
        let mut servers = Vec::new();
        for ns in name_servers {
            let ips = self
                .resolver
                .lookup_ip(format!("{}.", ns.trim_end_matches('.')))
                .await
                .map_err(|e| PropagationError::Resolve {
                    server: ns.clone(),
                    reason: e.to_string(),
                })?;
            for ip in ips.iter() {
                servers.push((format!("{ns} ({ip})"), direct_resolver(ip)?));
            }
        }
        let fqdn = format!("{}.", record.trim_end_matches('.'));
        let started = Instant::now();
        loop {
            let mut missing = Vec::new();
            for (label, server) in &servers {
                let answered: Vec<String> = match server.txt_lookup(fqdn.as_str()).await {
                    Ok(lookup) => lookup
                        .answers()
                        .iter()
                        .filter_map(|r| match &r.data {
                            RData::TXT(txt) => Some(
                                txt.txt_data
                                    .iter()
                                    .map(|s| String::from_utf8_lossy(s).into_owned())
                                    .collect::<String>(),
                            ),
                            _ => None,
                        })
                        .collect(),
                    Err(_) => vec![],
                };
                if !values.iter().all(|v| answered.iter().any(|a| a == v)) {
                    missing.push(label.clone());
                }
            }
            if missing.is_empty() {
                return Ok(());
            }
            if started.elapsed() + self.poll > max_wait {
                return Err(PropagationError::Timeout {
                    record: record.to_owned(),
                    waited: started.elapsed(),
                    missing: missing.join(", "),
                });
            }
            tokio::time::sleep(self.poll).await;
        }
    }
}
