//! Configuration from the environment, read once at cold start.
//!
//! Every variable is documented here and in the README's configuration reference. Errors name the
//! variable and say what to put in it. The test bed is reached through the same variables a user
//! has (`AWS_ENDPOINT_URL` for the SDK, an ACME directory URL and an extra trusted root for the
//! ACME server's HTTPS); nothing else differs between the bed and AWS.

use std::path::PathBuf;
use std::time::Duration;

use crate::model::role::Members;

/// Let's Encrypt production: the default ACME directory.
pub const LETS_ENCRYPT: &str = "https://acme-v02.api.letsencrypt.org/directory";
/// Let's Encrypt staging: untrusted certificates, generous rate limits; use it to try things out.
pub const LETS_ENCRYPT_STAGING: &str = "https://acme-staging-v02.api.letsencrypt.org/directory";

/// The key type of the certificates cert-rotator requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum KeyType {
    /// RSA 2048: what CloudFront in China and every client accept (the default).
    #[serde(rename = "rsa-2048")]
    Rsa2048,
    /// ECDSA P-256: smaller and faster where all clients support it.
    EcdsaP256,
}

impl std::str::FromStr for KeyType {
    type Err = ConfigError;

    fn from_str(s: &str) -> Result<Self, ConfigError> {
        match s.to_ascii_lowercase().as_str() {
            "rsa-2048" | "rsa2048" | "rsa" => Ok(Self::Rsa2048),
            "ecdsa-p256" | "p256" | "ecdsa" | "ec" => Ok(Self::EcdsaP256),
            _ => Err(ConfigError::Invalid {
                var: "CERT_ROTATOR_KEY_TYPE",
                value: s.to_owned(),
                expected: "rsa-2048 (default) or ecdsa-p256",
            }),
        }
    }
}

/// Where the ACME CA is and how to reach it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AcmeConfig {
    /// `CERT_ROTATOR_ACCOUNT_SECRET`: the Secrets Manager secret holding the ACME account
    /// (default `cert-rotator/acme-account`; created on the first run).
    pub account_secret: String,
    /// `CERT_ROTATOR_ACME_DIRECTORY`: the CA's directory URL (default: Let's Encrypt production;
    /// staging is [`LETS_ENCRYPT_STAGING`]).
    pub directory: String,
    /// `CERT_ROTATOR_ACME_CA_BUNDLE`: a PEM root certificate to trust for the CA's HTTPS, for a
    /// private or test CA. Unset: the CA must present a publicly trusted certificate.
    pub ca_bundle: Option<PathBuf>,
    /// `CERT_ROTATOR_CONTACT_EMAIL`: the ACME account's contact, for the CA's notices about the
    /// account (Let's Encrypt sends no expiry e-mails since June 2025: the alarms do that).
    pub contact_email: Option<String>,
    /// `CERT_ROTATOR_KEY_TYPE`: `rsa-2048` (default) or `ecdsa-p256`.
    pub key_type: KeyType,
    /// `CERT_ROTATOR_EAB_SECRET`: the Secrets Manager secret holding the CA's External Account
    /// Binding, `{"key_id": "...", "hmac_key": "<base64url>"}` (ZeroSSL, Google Trust Services,
    /// TrustAsia and other CAs require one to create an account). Unset: no binding.
    pub eab_secret: Option<String>,
    /// `CERT_ROTATOR_PROFILE`: the CA's certificate profile for every domain without its own
    /// `profile` (the ACME profiles extension: Let's Encrypt's `classic`, `tlsserver`,
    /// `shortlived`). Unset: the CA's default.
    pub profile: Option<String>,
}

/// Whether `name` can be an ACME profile name: 1 to 64 visible ASCII characters, no quotes.
pub fn is_profile_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_graphic() && !matches!(b, b'"' | b'\\'))
}

/// When a deployed certificate is due for renewal.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RenewalPolicy {
    /// `CERT_ROTATOR_RENEW_REMAINING`: renew when less than this fraction of the certificate's
    /// lifetime is left (default 1/3: day 60 of a 90-day certificate, like certbot's 30 days).
    pub remaining_fraction: f64,
    /// `CERT_ROTATOR_USE_ARI`: follow the CA's ACME Renewal Information where it offers it
    /// (default true).
    pub use_ari: bool,
    /// `CERT_ROTATOR_RUN_INTERVAL_HOURS`: how often the schedule runs the function (default 8,
    /// the stack's `ScheduleHours`). A certificate past its renewal point by more than this is
    /// overdue, and a lifetime whose renewal point leaves fewer than two runs before expiry is
    /// reported.
    pub run_interval: Duration,
}

impl Default for RenewalPolicy {
    fn default() -> Self {
        Self {
            remaining_fraction: 1.0 / 3.0,
            use_ari: true,
            run_interval: Duration::from_secs(8 * 3600),
        }
    }
}

/// Retries, waits and timeouts: one value, built from the configuration, handed to the steps that
/// wait (tests pass small ones). Every wait is also bounded by the time the invocation has left.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// `CERT_ROTATOR_MIN_RENEWAL_SECONDS`: no renewal starts with less time left than this
    /// (default 180); the rest are reported as deferred.
    pub min_renewal: Duration,
    /// Attempts to point one distribution at a certificate (a stale ETag or a change still
    /// deploying each costs one).
    pub swap_attempts: u32,
    /// The longest wait for a distribution's previous change to deploy.
    pub swap_wait: Duration,
    /// A wait for a deploying distribution is not started with less than this left.
    pub swap_wait_at_least: Duration,
    /// Time kept back from a swap's wait for the rest of the run.
    pub swap_margin: Duration,
    /// The longest wait for Route 53 INSYNC and the authoritative servers, per run.
    pub dns_wait: Duration,
    /// Bounds of the ACME order polling timeout (it gets the time left less `acme_margin`).
    pub acme_timeout: (Duration, Duration),
    /// Time kept back from the ACME polling timeout for deploying.
    pub acme_margin: Duration,
    /// ACM regions listed, and ACM certificates described, at once.
    pub listing_concurrency: usize,
    /// Every AWS call: connecting, one attempt, and the whole operation with the SDK's retries.
    /// Without them a connection that hangs (plausible from China) holds the run until Lambda
    /// kills it, with no report.
    pub aws_timeouts: AwsTimeouts,
    /// One call to the CA outside an order: opening the account, a renewal-information lookup.
    pub acme_call: Duration,
    /// `CERT_ROTATOR_MAX_ISSUANCES_PER_WEEK`: certificates for the same names issued in 7 days
    /// before cert-rotator waits (default 3; Let's Encrypt allows 5; 0: no cap). `force` overrides.
    pub max_issuances_per_week: u32,
    /// `CERT_ROTATOR_ARCHIVE_KEEP_DAYS`: days after its expiry that an archived certificate and
    /// key are kept once IAM no longer holds it (default 30; 0: kept for ever). The bucket's
    /// lifecycle rule then removes the deleted object's old versions.
    pub archive_keep_days: u32,
    /// Time kept at the end of an invocation for retirement, the report and the metrics: domains
    /// still running then are stopped, and the next run finishes them.
    pub wrap_up: Duration,
    /// Of the wrap-up, what retirement, pruning and the last listings leave for releasing the
    /// lease and reporting: they stop that long before the deadline.
    pub release: Duration,
    /// The longest retirement before the domains run (to free IAM's quota), at most a quarter
    /// of the time left.
    pub pre_retirement: Duration,
    /// How long a swap keeps trying a certificate CloudFront does not know yet
    /// (`InvalidViewerCertificate` right after the upload: IAM is eventually consistent).
    pub iam_settle: Duration,
}

/// Timeouts of every AWS call ([`Limits::aws_timeouts`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AwsTimeouts {
    /// Establishing a connection.
    pub connect: Duration,
    /// One attempt of an operation.
    pub attempt: Duration,
    /// An operation, retries included.
    pub operation: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            min_renewal: Duration::from_secs(180),
            swap_attempts: 6,
            swap_wait: Duration::from_secs(900),
            swap_wait_at_least: Duration::from_secs(60),
            swap_margin: Duration::from_secs(30),
            dns_wait: Duration::from_secs(600),
            acme_timeout: (Duration::from_secs(10), Duration::from_secs(300)),
            acme_margin: Duration::from_secs(60),
            listing_concurrency: 8,
            aws_timeouts: AwsTimeouts {
                connect: Duration::from_secs(10),
                attempt: Duration::from_secs(30),
                operation: Duration::from_secs(120),
            },
            acme_call: Duration::from_secs(30),
            max_issuances_per_week: 3,
            archive_keep_days: 30,
            wrap_up: Duration::from_secs(20),
            release: Duration::from_secs(3),
            pre_retirement: Duration::from_secs(60),
            iam_settle: Duration::from_secs(60),
        }
    }
}

/// Everything a run needs, from the environment, grouped by concern: the CA, renewal timing,
/// the archive, DNS, retirement, limits. Each setting lives in the group it belongs to.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// The CA, the ACME account and what is ordered.
    pub acme: AcmeConfig,
    /// Renewal timing.
    pub policy: RenewalPolicy,
    /// Where every certificate and key is archived.
    pub archive: ArchiveConfig,
    /// Challenge records' checks.
    pub dns: DnsConfig,
    /// Retiring replaced IAM certificates.
    pub retirement: RetirementConfig,
    /// Telling people and other systems what happened.
    pub notify: NotifyConfig,
    /// How long steps may take and how often they are retried.
    pub limits: Limits,
    /// `CERT_ROTATOR_CONCURRENCY`: domains renewed at once (default 32). Issuance is waiting
    /// (propagation, the CA's validation), so more at once costs little; Route 53's 5 requests
    /// per second are shared through one pace whatever this is.
    pub concurrency: usize,
    /// `CERT_ROTATOR_LOCK_SECONDS`: how long a run's lease lasts before another run may take it
    /// over (default 900, the longest Lambda run).
    pub lock_seconds: u64,
    /// `CERT_ROTATOR_ACM_REGIONS`: regions whose ACM certificates every run lists in its
    /// inventory (comma-separated), besides those the domains' targets name; what an
    /// `{"inventory": true}` invocation reports.
    pub acm_regions: Vec<String>,
    /// `CERT_ROTATOR_MEMBER_ACCOUNTS` and `CERT_ROTATOR_ORGANIZATION_ID`: the accounts whose
    /// roles the function may assume ([`Members`]); neither set: none but its own.
    pub members: Members,
}

/// The archive of every issued certificate and key, and the run's lease lock beside it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArchiveConfig {
    /// `CERT_ROTATOR_BUCKET` (required): the S3 bucket for the archive of every issued
    /// certificate and key (`archive/`) and the run's lease lock (`lock/run`).
    pub bucket: String,
    /// `CERT_ROTATOR_KMS_KEY`: a KMS key id/ARN for the archive (default: SSE-S3).
    pub kms_key: Option<String>,
}

/// How challenge records are checked before the CA is told to look.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DnsConfig {
    /// `CERT_ROTATOR_CHECK_AUTHORITATIVE`: after Route 53 reports INSYNC, wait until the zone's
    /// authoritative servers answer the challenge (default true).
    pub check_authoritative: bool,
    /// `CERT_ROTATOR_DNS_RESOLVER`: the IP of a recursive resolver for looking up the name
    /// servers' addresses, CNAMEs and CAA records, instead of the system's.
    pub resolver: Option<std::net::IpAddr>,
}

/// Where a run tells what happened: a message per domain that needs a person, and events.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct NotifyConfig {
    /// `CERT_ROTATOR_TOPIC_ARN`: the SNS topic of the message per domain that needs a person (the
    /// stack's alarm topic). Unset: no message is sent.
    pub topic_arn: Option<String>,
    /// `CERT_ROTATOR_EVENT_BUS`: the EventBridge bus (a name or ARN) of the events a run puts
    /// (`Certificate Renewed`, `Certificate Renewal Failed`, `Certificate Deferred`,
    /// `Certificate Retired`). Unset: the default bus.
    pub event_bus: Option<String>,
}

/// Retiring the IAM certificates cert-rotator replaced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetirementConfig {
    /// `CERT_ROTATOR_ELB_REGIONS`: regions whose load balancer listeners (Classic, Application,
    /// Network) are checked before an IAM certificate is retired (comma-separated). Empty (the
    /// default): see [`Config::elb_regions_for`].
    pub elb_regions: Vec<String>,
    /// `CERT_ROTATOR_RETIRE_FOREIGN`: whether a certificate cert-rotator did not upload (it only
    /// carries the `replaced-by` tag cert-rotator added when swapping away from it) is deleted
    /// once nothing uses it (default false: it is kept, reported, and its tag removed).
    pub retire_foreign: bool,
}

fn number<T: std::str::FromStr>(
    get: &impl Fn(&str) -> Option<String>,
    var: &'static str,
    default: T,
    expected: &'static str,
) -> Result<T, ConfigError> {
    match get(var).filter(|v| !v.trim().is_empty()) {
        None => Ok(default),
        Some(v) => v.trim().parse().map_err(|_| ConfigError::Invalid {
            var,
            value: v,
            expected,
        }),
    }
}

impl Config {
    /// Reads the configuration from the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|k| std::env::var(k).ok())
    }

    /// Reads the configuration through `get`.
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let set = |var: &str| get(var).filter(|v| !v.trim().is_empty());
        let bucket = set("CERT_ROTATOR_BUCKET").ok_or(ConfigError::Missing {
            var: "CERT_ROTATOR_BUCKET",
            what: "the S3 bucket that archives every certificate and key and holds the run lock (the SAM stack creates one)",
        })?;
        let remaining_fraction = match set("CERT_ROTATOR_RENEW_REMAINING") {
            None => 1.0 / 3.0,
            Some(v) => parse_fraction(&v).ok_or(ConfigError::Invalid {
                var: "CERT_ROTATOR_RENEW_REMAINING",
                value: v,
                expected: "a fraction of the lifetime between 0 and 1, like 1/3 or 0.25",
            })?,
        };
        let use_ari = match set("CERT_ROTATOR_USE_ARI").map(|v| v.to_ascii_lowercase()) {
            None => true,
            Some(v) if matches!(v.as_str(), "true" | "1" | "yes") => true,
            Some(v) if matches!(v.as_str(), "false" | "0" | "no") => false,
            Some(v) => {
                return Err(ConfigError::Invalid {
                    var: "CERT_ROTATOR_USE_ARI",
                    value: v,
                    expected: "true or false",
                })
            }
        };
        let concurrency = number(
            &get,
            "CERT_ROTATOR_CONCURRENCY",
            32usize,
            "a whole number from 1 to 64",
        )?;
        if !(1..=64).contains(&concurrency) {
            return Err(ConfigError::Invalid {
                var: "CERT_ROTATOR_CONCURRENCY",
                value: concurrency.to_string(),
                expected: "a whole number from 1 to 64",
            });
        }
        Ok(Self {
            acme: AcmeConfig::from_lookup(&get)?,
            archive: ArchiveConfig {
                bucket,
                kms_key: set("CERT_ROTATOR_KMS_KEY"),
            },
            policy: RenewalPolicy {
                remaining_fraction,
                use_ari,
                run_interval: {
                    let hours: u64 = number(
                        &get,
                        "CERT_ROTATOR_RUN_INTERVAL_HOURS",
                        8,
                        "whole hours from 1 to 24, the schedule's interval (e.g. 8)",
                    )?;
                    if !(1..=24).contains(&hours) {
                        return Err(ConfigError::Invalid {
                            var: "CERT_ROTATOR_RUN_INTERVAL_HOURS",
                            value: hours.to_string(),
                            expected: "whole hours from 1 to 24, the schedule's interval (e.g. 8)",
                        });
                    }
                    Duration::from_secs(hours * 3600)
                },
            },
            concurrency,
            lock_seconds: number(&get, "CERT_ROTATOR_LOCK_SECONDS", 900, "seconds, e.g. 900")?,
            limits: Limits {
                min_renewal: Duration::from_secs(number(
                    &get,
                    "CERT_ROTATOR_MIN_RENEWAL_SECONDS",
                    180,
                    "seconds, e.g. 180",
                )?),
                max_issuances_per_week: number(
                    &get,
                    "CERT_ROTATOR_MAX_ISSUANCES_PER_WEEK",
                    3,
                    "a whole number, e.g. 3 (0: no cap)",
                )?,
                archive_keep_days: number(
                    &get,
                    "CERT_ROTATOR_ARCHIVE_KEEP_DAYS",
                    30,
                    "days, e.g. 30 (0: keep for ever)",
                )?,
                ..Limits::default()
            },
            acm_regions: regions("CERT_ROTATOR_ACM_REGIONS", set("CERT_ROTATOR_ACM_REGIONS"))?,
            notify: NotifyConfig {
                topic_arn: set("CERT_ROTATOR_TOPIC_ARN").map(|t| t.trim().to_owned()),
                event_bus: set("CERT_ROTATOR_EVENT_BUS").map(|b| b.trim().to_owned()),
            },
            retirement: RetirementConfig {
                elb_regions: regions("CERT_ROTATOR_ELB_REGIONS", set("CERT_ROTATOR_ELB_REGIONS"))?,
                retire_foreign: boolean(&get, "CERT_ROTATOR_RETIRE_FOREIGN", false)?,
            },
            members: Members::parse(
                set("CERT_ROTATOR_MEMBER_ACCOUNTS").as_deref(),
                set("CERT_ROTATOR_ORGANIZATION_ID").as_deref(),
            )
            .map_err(|(var, value, expected)| ConfigError::Invalid {
                var,
                value,
                expected,
            })?,
            dns: DnsConfig {
                check_authoritative: boolean(&get, "CERT_ROTATOR_CHECK_AUTHORITATIVE", true)?,
                resolver: match set("CERT_ROTATOR_DNS_RESOLVER") {
                    None => None,
                    Some(v) => Some(v.trim().parse().map_err(|_| ConfigError::Invalid {
                        var: "CERT_ROTATOR_DNS_RESOLVER",
                        value: v,
                        expected: "an IP address, e.g. 10.0.0.2",
                    })?),
                },
            },
        })
    }
}

impl Config {
    /// ARNs in the configuration must be of the run's partition (an `arn:aws:` secret cannot be
    /// read from cn-north-1).
    pub fn check_partition(
        &self,
        partition: crate::model::partition::Partition,
        region: &str,
    ) -> Result<(), ConfigError> {
        let vars = [
            (
                "CERT_ROTATOR_ACCOUNT_SECRET",
                Some(&self.acme.account_secret),
            ),
            ("CERT_ROTATOR_KMS_KEY", self.archive.kms_key.as_ref()),
            ("CERT_ROTATOR_EAB_SECRET", self.acme.eab_secret.as_ref()),
            ("CERT_ROTATOR_TOPIC_ARN", self.notify.topic_arn.as_ref()),
            ("CERT_ROTATOR_EVENT_BUS", self.notify.event_bus.as_ref()),
        ];
        for (var, list) in [
            ("CERT_ROTATOR_ACM_REGIONS", &self.acm_regions),
            ("CERT_ROTATOR_ELB_REGIONS", &self.retirement.elb_regions),
        ] {
            if let Some(other) = list
                .iter()
                .find(|r| crate::model::partition::Partition::of_region(r) != partition)
            {
                return Err(ConfigError::Invalid {
                    var,
                    value: other.clone(),
                    expected: "regions of the function's own partition (cn-north-1, cn-northwest-1 in AWS China): credentials of one partition cannot list another",
                });
            }
        }
        for (var, value) in vars {
            let Some(arn) = value.filter(|v| v.starts_with("arn:")) else {
                continue;
            };
            let arn_partition = arn.split(':').nth(1).unwrap_or_default();
            if arn_partition != partition.as_str() {
                return Err(ConfigError::WrongPartition {
                    var,
                    arn: arn.clone(),
                    partition: partition.to_string(),
                    region: region.to_owned(),
                });
            }
        }
        Ok(())
    }
}

impl Config {
    /// The regions whose load balancers retirement checks: `CERT_ROTATOR_ELB_REGIONS`, or by
    /// default both China regions in AWS China (a certificate in IAM is global to the partition,
    /// and China has only two regions). Elsewhere a partition has dozens of regions and an IAM
    /// certificate may serve a load balancer in any of them, so the regions must be named:
    /// `Err` says so, and no IAM certificate is retired until they are.
    pub fn elb_regions_for(
        &self,
        region: &str,
        partition: crate::model::partition::Partition,
    ) -> Result<Vec<String>, String> {
        if !self.retirement.elb_regions.is_empty() {
            return Ok(self.retirement.elb_regions.clone());
        }
        if partition == crate::model::partition::Partition::AwsCn {
            Ok(vec!["cn-north-1".into(), "cn-northwest-1".into()])
        } else {
            Err(format!("in the {partition} partition an IAM certificate is global, and a load balancer in any region may serve it: set ElbRegions (CERT_ROTATOR_ELB_REGIONS) to every region where this account has load balancers (e.g. {region}), and cert-rotator checks their listeners before retiring"))
        }
    }
}

fn regions(var: &'static str, value: Option<String>) -> Result<Vec<String>, ConfigError> {
    let mut out: Vec<String> = Vec::new();
    for r in value
        .iter()
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .filter(|r| !r.is_empty())
    {
        let shaped = crate::model::partition::Partition::is_region_name(r);
        if !shaped {
            return Err(ConfigError::Invalid {
                var,
                value: r.to_owned(),
                expected: "region names separated by commas, e.g. us-east-1,ap-northeast-1",
            });
        }
        if !out.iter().any(|x| x == r) {
            out.push(r.to_owned());
        }
    }
    Ok(out)
}

fn boolean(
    get: &impl Fn(&str) -> Option<String>,
    var: &'static str,
    default: bool,
) -> Result<bool, ConfigError> {
    match get(var)
        .map(|v| v.trim().to_ascii_lowercase())
        .filter(|v| !v.is_empty())
    {
        None => Ok(default),
        Some(v) if matches!(v.as_str(), "true" | "1" | "yes") => Ok(true),
        Some(v) if matches!(v.as_str(), "false" | "0" | "no") => Ok(false),
        Some(v) => Err(ConfigError::Invalid {
            var,
            value: v,
            expected: "true or false",
        }),
    }
}

fn parse_fraction(v: &str) -> Option<f64> {
    let value = match v.split_once('/') {
        Some((a, b)) => a.trim().parse::<f64>().ok()? / b.trim().parse::<f64>().ok()?,
        None => v.trim().parse::<f64>().ok()?,
    };
    (value > 0.0 && value < 1.0).then_some(value)
}

/// A variable that is set but unusable.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// A required variable is not set.
    #[error("{var} is not set: it names {what}")]
    Missing {
        /// The variable.
        var: &'static str,
        /// What it is for.
        what: &'static str,
    },
    /// An ARN of another partition than the run's region.
    #[error("{var}={arn} is in partition {}, but the region {region} is in {partition}: use the ARN from this partition (arn:{partition}:...)", arn.split(':').nth(1).unwrap_or_default())]
    WrongPartition {
        /// The variable.
        var: &'static str,
        /// Its value.
        arn: String,
        /// The run's partition.
        partition: String,
        /// The run's region.
        region: String,
    },
    /// The value is not one of the accepted forms.
    #[error("{var}={value:?} is not valid: expected {expected}")]
    Invalid {
        /// The variable.
        var: &'static str,
        /// What it holds.
        value: String,
        /// What it may hold.
        expected: &'static str,
    },
}

impl AcmeConfig {
    /// Reads the ACME variables through `get` (the process environment in production).
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let set = |var: &str| get(var).filter(|v| !v.trim().is_empty());
        let directory =
            set("CERT_ROTATOR_ACME_DIRECTORY").unwrap_or_else(|| LETS_ENCRYPT.to_owned());
        if !directory.starts_with("https://") {
            return Err(ConfigError::Invalid {
                var: "CERT_ROTATOR_ACME_DIRECTORY",
                value: directory,
                expected: "an https:// URL of an ACME directory, e.g. the Let's Encrypt one",
            });
        }
        let contact_email = set("CERT_ROTATOR_CONTACT_EMAIL");
        if let Some(email) = &contact_email {
            if !email.contains('@') || email.contains(char::is_whitespace) {
                return Err(ConfigError::Invalid {
                    var: "CERT_ROTATOR_CONTACT_EMAIL",
                    value: email.clone(),
                    expected: "an e-mail address like ops@example.cn",
                });
            }
        }
        let profile = set("CERT_ROTATOR_PROFILE").map(|p| p.trim().to_owned());
        if let Some(p) = profile.as_ref().filter(|p| !is_profile_name(p)) {
            return Err(ConfigError::Invalid {
                var: "CERT_ROTATOR_PROFILE",
                value: p.clone(),
                expected: "a profile name the CA's directory lists under meta.profiles, e.g. tlsserver or shortlived (Let's Encrypt)",
            });
        }
        Ok(Self {
            account_secret: set("CERT_ROTATOR_ACCOUNT_SECRET")
                .unwrap_or_else(|| "cert-rotator/acme-account".into()),
            directory,
            ca_bundle: set("CERT_ROTATOR_ACME_CA_BUNDLE").map(PathBuf::from),
            eab_secret: set("CERT_ROTATOR_EAB_SECRET").map(|s| s.trim().to_owned()),
            profile,
            contact_email,
            key_type: set("CERT_ROTATOR_KEY_TYPE")
                .map(|v| v.parse())
                .transpose()?
                .unwrap_or(KeyType::Rsa2048),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn lookup(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k| map.get(k).cloned()
    }

    #[test]
    fn defaults_to_lets_encrypt_and_rsa() {
        let c = AcmeConfig::from_lookup(lookup(&[])).unwrap();
        assert_eq!(c.directory, LETS_ENCRYPT);
        assert_eq!(c.key_type, KeyType::Rsa2048);
        assert_eq!(c.ca_bundle, None);
    }

    #[test]
    fn the_run_configuration_needs_a_bucket_and_checks_its_numbers() {
        let e = Config::from_lookup(lookup(&[])).unwrap_err();
        assert!(
            e.to_string().starts_with("CERT_ROTATOR_BUCKET is not set"),
            "{e}"
        );
        let c = Config::from_lookup(lookup(&[
            ("CERT_ROTATOR_BUCKET", "b"),
            ("CERT_ROTATOR_RENEW_REMAINING", "1/4"),
        ]))
        .unwrap();
        assert_eq!(c.policy.remaining_fraction, 0.25);
        assert_eq!(c.acme.account_secret, "cert-rotator/acme-account");
        for (var, value) in [
            ("CERT_ROTATOR_RENEW_REMAINING", "2"),
            ("CERT_ROTATOR_CONCURRENCY", "0"),
            ("CERT_ROTATOR_USE_ARI", "maybe"),
            ("CERT_ROTATOR_LOCK_SECONDS", "soon"),
        ] {
            let e = Config::from_lookup(lookup(&[("CERT_ROTATOR_BUCKET", "b"), (var, value)]))
                .unwrap_err();
            assert!(e.to_string().starts_with(var), "{e}");
        }
    }

    #[test]
    fn load_balancer_regions_default_to_the_partitions_and_foreign_retirement_is_opt_in() {
        use crate::model::partition::Partition;
        let c = Config::from_lookup(lookup(&[("CERT_ROTATOR_BUCKET", "b")])).unwrap();
        assert!(!c.retirement.retire_foreign);
        assert_eq!(
            c.elb_regions_for("cn-north-1", Partition::AwsCn).unwrap(),
            ["cn-north-1", "cn-northwest-1"]
        );
        let unset = c.elb_regions_for("eu-west-1", Partition::Aws).unwrap_err();
        assert!(
            unset.contains("set ElbRegions (CERT_ROTATOR_ELB_REGIONS)"),
            "{unset}"
        );
        let c = Config::from_lookup(lookup(&[
            ("CERT_ROTATOR_BUCKET", "b"),
            (
                "CERT_ROTATOR_ELB_REGIONS",
                " cn-northwest-1 ,cn-northwest-1",
            ),
            ("CERT_ROTATOR_RETIRE_FOREIGN", "true"),
        ]))
        .unwrap();
        assert!(c.retirement.retire_foreign);
        assert_eq!(
            c.elb_regions_for("cn-north-1", Partition::AwsCn).unwrap(),
            ["cn-northwest-1"]
        );
        assert!(c.check_partition(Partition::AwsCn, "cn-north-1").is_ok());
        let e = c.check_partition(Partition::Aws, "us-east-1").unwrap_err();
        assert!(e.to_string().starts_with("CERT_ROTATOR_ELB_REGIONS"), "{e}");
        for (var, value) in [
            ("CERT_ROTATOR_ELB_REGIONS", "beijing"),
            ("CERT_ROTATOR_RETIRE_FOREIGN", "sometimes"),
        ] {
            let e = Config::from_lookup(lookup(&[("CERT_ROTATOR_BUCKET", "b"), (var, value)]))
                .unwrap_err();
            assert!(e.to_string().starts_with(var), "{e}");
        }
    }

    #[test]
    fn errors_name_the_variable() {
        let e = AcmeConfig::from_lookup(lookup(&[("CERT_ROTATOR_KEY_TYPE", "dsa")])).unwrap_err();
        assert!(
            e.to_string()
                .starts_with("CERT_ROTATOR_KEY_TYPE=\"dsa\" is not valid"),
            "{e}"
        );
        let e =
            AcmeConfig::from_lookup(lookup(&[("CERT_ROTATOR_ACME_DIRECTORY", "http://ca/dir")]))
                .unwrap_err();
        assert!(e.to_string().contains("CERT_ROTATOR_ACME_DIRECTORY"), "{e}");
        let e = AcmeConfig::from_lookup(lookup(&[("CERT_ROTATOR_CONTACT_EMAIL", "nobody")]))
            .unwrap_err();
        assert!(e.to_string().contains("CERT_ROTATOR_CONTACT_EMAIL"), "{e}");
    }
}
