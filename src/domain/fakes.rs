//! In-memory fakes of the ports, for the pipeline's unit tests: an IAM, a CloudFront, an ACM, an
//! archive, a CA that signs with a test root, and bring-your-own files. Each keeps a log of the
//! writes it took, in one shared order, so a test can say what happened before what.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use async_trait::async_trait;
use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
use time::OffsetDateTime;
use tokio::time::Instant;

use super::{Context, Handled, Listing};
use crate::acme::dns01::{Placement, SolverError};
use crate::acme::http::RateLimit;
use crate::acme::OrderOptions;
use crate::acme::{AcmeError, Issued, PrivateKeyPem};
use crate::aws::acm::{AcmCert, Import, Reimport};
use crate::aws::cloudfront::{Distribution, Swap, ViewerCert};
use crate::aws::iam::{NewServerCert, ServerCert, ServerCertBody, Upload, CLOUDFRONT_PATH};
use crate::aws::AwsError;
use crate::budget::Budget;
use crate::certs::archive::Bundle;
use crate::certs::certificate;
use crate::certs::source::{Files, Location};
use crate::config::Config;
use crate::event::{self, Request};
use crate::model::dns::DnsSettings;
use crate::model::inventory::{self, Inventory, MANAGED_BY, TAG_MANAGED_BY, TAG_NAMES_HASH};
use crate::model::names::DomainName;
use crate::model::partition::Partition;
use crate::plan::backoff::{Failures, Windows};
use crate::plan::quota::IamSlots;
use crate::ports::{
    Archive, CertificateAuthority, CertificateManager, Distributions, IssueError, Memory, Ports,
    RenewalInfo, ServerCertificates,
};

type Log = Arc<Mutex<Vec<String>>>;

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn refused(service: &'static str, operation: &'static str, code: &str) -> AwsError {
    AwsError {
        service,
        operation,
        code: code.into(),
        message: "refused by the test".into(),
        source: None,
    }
}

/// A test root that signs leaves at exact dates.
pub(super) struct TestCa {
    key: KeyPair,
    params: CertificateParams,
    /// Its certificate, PEM.
    pub(super) pem: String,
}

impl TestCa {
    fn new() -> Self {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "fake CA");
        let pem = params.self_signed(&key).unwrap().pem();
        Self { key, params, pem }
    }

    /// A bundle for `names` valid from `from` for `days`.
    pub(super) fn bundle(&self, names: &[&str], from: OffsetDateTime, days: i64) -> Bundle {
        let key = KeyPair::generate().unwrap();
        let mut params =
            CertificateParams::new(names.iter().map(|s| s.to_string()).collect::<Vec<_>>())
                .unwrap();
        params.not_before = from;
        params.not_after = from + time::Duration::days(days);
        let issuer = Issuer::from_params(&self.params, &self.key);
        let pem = params.signed_by(&key, &issuer).unwrap().pem();
        let leaf = leaf_of(&pem);
        let parsed: Vec<DomainName> = names.iter().map(|n| n.parse().unwrap()).collect();
        Bundle {
            names: names.iter().map(|s| s.to_string()).collect(),
            iam_name: inventory::iam_name(&parsed, leaf.not_after, &leaf.serial),
            certificate: pem,
            chain: self.pem.clone(),
            private_key: PrivateKeyPem::new(key.serialize_pem()),
        }
    }
}

/// The leaf of a PEM certificate.
pub(super) fn leaf_of(pem: &str) -> certificate::CertificateInfo {
    certificate::info(&certificate::pem_chain(pem).unwrap()[0]).unwrap()
}

/// IAM server certificates.
#[derive(Default)]
pub(super) struct FakeIam {
    certs: Mutex<Vec<ServerCertBody>>,
    /// Refuse every upload.
    pub(super) refuse_uploads: Mutex<bool>,
    log: Log,
}

impl FakeIam {
    /// Puts `bundle` in IAM under `/cloudfront/` as cert-rotator would; returns its id.
    pub(super) fn put(&self, bundle: &Bundle, name: Option<&str>) -> String {
        let mut certs = lock(&self.certs);
        let id = format!("ASCA{:04}", certs.len() + 1);
        let name = name.unwrap_or(&bundle.iam_name).to_owned();
        certs.push(ServerCertBody {
            meta: ServerCert {
                id: id.clone(),
                arn: format!("arn:aws-cn:iam::111122223333:server-certificate/cloudfront/{name}"),
                name,
                path: CLOUDFRONT_PATH.into(),
                expiration: Some(leaf_of(&bundle.certificate).not_after),
            },
            body: bundle.certificate.clone(),
            chain: Some(bundle.chain.clone()),
            tags: vec![],
        });
        id
    }

    /// Every certificate, as listed.
    pub(super) fn listed(&self) -> Vec<ServerCert> {
        lock(&self.certs).iter().map(|c| c.meta.clone()).collect()
    }

    /// The tags of `name`.
    pub(super) fn tags(&self, name: &str) -> Vec<(String, String)> {
        lock(&self.certs)
            .iter()
            .find(|c| c.meta.name == name)
            .map(|c| c.tags.clone())
            .unwrap_or_default()
    }
}

#[async_trait]
impl ServerCertificates for FakeIam {
    async fn get(&self, name: &str) -> Result<Option<ServerCertBody>, AwsError> {
        Ok(lock(&self.certs)
            .iter()
            .find(|c| c.meta.name == name)
            .cloned())
    }

    async fn upload(&self, cert: &NewServerCert<'_>) -> Result<Upload, AwsError> {
        if *lock(&self.refuse_uploads) {
            return Err(refused("iam", "UploadServerCertificate", "LimitExceeded"));
        }
        if lock(&self.certs).iter().any(|c| c.meta.name == cert.name) {
            return Ok(Upload::AlreadyExists);
        }
        let bundle = Bundle {
            names: vec![],
            iam_name: cert.name.into(),
            certificate: cert.body.into(),
            chain: cert.chain.into(),
            private_key: PrivateKeyPem::new(cert.private_key.into()),
        };
        let id = self.put(&bundle, None);
        lock(&self.log).push(format!("iam upload {}", cert.name));
        let listed = self.listed();
        Ok(Upload::Created(
            listed.into_iter().find(|c| c.id == id).unwrap(),
        ))
    }

    async fn tag(&self, name: &str, tags: &[(String, String)]) -> Result<(), AwsError> {
        let mut certs = lock(&self.certs);
        let cert = certs.iter_mut().find(|c| c.meta.name == name);
        cert.ok_or_else(|| refused("iam", "TagServerCertificate", "NoSuchEntity"))?
            .tags
            .extend(tags.iter().cloned());
        Ok(())
    }
}

/// CloudFront: distributions and, per distribution, answers to give before the swap succeeds.
#[derive(Default)]
pub(super) struct FakeCloudFront {
    /// The distributions.
    pub(super) distributions: Mutex<Vec<Distribution>>,
    /// Answers to give first, per distribution (`None`: an error).
    pub(super) script: Mutex<HashMap<String, VecDeque<Option<Swap>>>>,
    /// Waits asked for.
    pub(super) waits: Mutex<Vec<String>>,
    log: Log,
}

impl FakeCloudFront {
    /// Adds a distribution serving `aliases` with `viewer`.
    pub(super) fn add(&self, id: &str, aliases: &[&str], viewer: ViewerCert) {
        lock(&self.distributions).push(Distribution {
            id: id.into(),
            domain_name: format!("{}.cloudfront.cn", id.to_lowercase()),
            aliases: aliases.iter().map(|a| a.to_string()).collect(),
            viewer,
            status: "Deployed".into(),
        });
    }

    /// What `id` serves.
    pub(super) fn viewer(&self, id: &str) -> ViewerCert {
        lock(&self.distributions)
            .iter()
            .find(|d| d.id == id)
            .map(|d| d.viewer.clone())
            .unwrap()
    }
}

#[async_trait]
impl Distributions for FakeCloudFront {
    async fn swap(&self, id: &str, target: &ViewerCert) -> Result<Swap, AwsError> {
        if let Some(answer) = lock(&self.script).get_mut(id).and_then(VecDeque::pop_front) {
            return answer
                .ok_or_else(|| refused("cloudfront", "UpdateDistribution", "AccessDenied"));
        }
        let mut all = lock(&self.distributions);
        let d = all.iter_mut().find(|d| d.id == id).unwrap();
        if &d.viewer == target {
            return Ok(Swap::Unchanged);
        }
        d.viewer = target.clone();
        d.status = "InProgress".into();
        lock(&self.log).push(format!("swap {id}"));
        Ok(Swap::Done)
    }

    async fn wait_deployed(&self, id: &str, _max_wait: Duration) -> Result<(), AwsError> {
        lock(&self.waits).push(id.into());
        Ok(())
    }
}

/// ACM in any region.
#[derive(Default)]
pub(super) struct FakeAcm {
    /// Certificates by ARN.
    pub(super) certs: Mutex<Vec<AcmCert>>,
    /// Regions that refuse imports.
    pub(super) refuse: Mutex<HashSet<String>>,
    log: Log,
}

impl FakeAcm {
    fn held(import: &Import<'_>) -> (String, OffsetDateTime, OffsetDateTime) {
        let leaf = leaf_of(import.certificate);
        (leaf.serial, leaf.not_before, leaf.not_after)
    }

    /// Imports `bundle` into `region` as cert-rotator would; returns its ARN.
    pub(super) fn put(&self, region: &str, bundle: &Bundle, names_hash: &str) -> String {
        let import = Import {
            certificate: &bundle.certificate,
            chain: &bundle.chain,
            private_key: bundle.private_key.expose(),
        };
        let tags = [
            (TAG_MANAGED_BY.to_owned(), MANAGED_BY.to_owned()),
            (TAG_NAMES_HASH.to_owned(), names_hash.to_owned()),
        ];
        self.insert(region, &import, &tags)
    }

    fn insert(&self, region: &str, import: &Import<'_>, tags: &[(String, String)]) -> String {
        let (serial, not_before, not_after) = Self::held(import);
        let mut certs = lock(&self.certs);
        let resource = format!("certificate/{}", certs.len() + 1);
        let arn = Partition::of_region(region).arn("acm", region, "111122223333", &resource);
        certs.push(AcmCert {
            arn: arn.clone(),
            region: region.into(),
            tags: tags.to_vec(),
            serial,
            not_after: Some(not_after),
            not_before: Some(not_before),
            in_use_by: vec![],
        });
        arn
    }

    /// cert-rotator's certificates per region, as the run lists them.
    pub(super) fn listing(
        &self,
        regions: &[&str],
    ) -> HashMap<String, Result<Vec<AcmCert>, String>> {
        let certs = lock(&self.certs);
        regions
            .iter()
            .map(|r| {
                let here = certs.iter().filter(|c| c.region == *r).cloned().collect();
                (r.to_string(), Ok(here))
            })
            .collect()
    }
}

#[async_trait]
impl CertificateManager for FakeAcm {
    async fn import(
        &self,
        region: &str,
        import: &Import<'_>,
        tags: &[(String, String)],
    ) -> Result<String, AwsError> {
        if lock(&self.refuse).contains(region) {
            return Err(refused(
                "acm",
                "ImportCertificate",
                "LimitExceededException",
            ));
        }
        lock(&self.log).push(format!("acm import {region}"));
        Ok(self.insert(region, import, tags))
    }

    async fn reimport(
        &self,
        region: &str,
        arn: &str,
        import: &Import<'_>,
    ) -> Result<Reimport, AwsError> {
        if lock(&self.refuse).contains(region) {
            return Err(refused(
                "acm",
                "ImportCertificate",
                "LimitExceededException",
            ));
        }
        let (serial, not_before, not_after) = Self::held(import);
        let mut certs = lock(&self.certs);
        let Some(c) = certs.iter_mut().find(|c| c.arn == arn) else {
            return Ok(Reimport::Gone);
        };
        (c.serial, c.not_before, c.not_after) = (serial, Some(not_before), Some(not_after));
        lock(&self.log).push(format!("acm reimport {region}"));
        Ok(Reimport::Done)
    }
}

/// The archive.
#[derive(Default)]
pub(super) struct FakeArchive {
    /// Bundles by names hash.
    pub(super) bundles: Mutex<HashMap<String, Vec<Bundle>>>,
    /// Refuse every write.
    pub(super) refuse_writes: Mutex<bool>,
    /// How many times it was read.
    pub(super) reads: Mutex<usize>,
    log: Log,
}

#[async_trait]
impl Archive for FakeArchive {
    async fn store(&self, names_hash: &str, bundle: &Bundle) -> Result<(), AwsError> {
        if *lock(&self.refuse_writes) {
            return Err(refused("s3", "PutObject", "AccessDenied"));
        }
        lock(&self.log).push(format!("archive {}", bundle.iam_name));
        let mut all = lock(&self.bundles);
        all.entry(names_hash.into())
            .or_default()
            .push(bundle.clone());
        Ok(())
    }

    async fn find(&self, names_hash: &str) -> Result<Vec<Bundle>, AwsError> {
        *lock(&self.reads) += 1;
        Ok(lock(&self.bundles)
            .get(names_hash)
            .cloned()
            .unwrap_or_default())
    }
}

/// What is remembered between runs.
#[derive(Default)]
pub(super) struct FakeMemory {
    /// Failed issuances by names hash.
    pub(super) failures: Mutex<HashMap<String, Failures>>,
    /// The renewal windows.
    pub(super) windows: Mutex<Windows>,
    /// How many times the windows were written.
    pub(super) windows_written: Mutex<usize>,
    /// The CA's date after a 429 on renewal information.
    pub(super) renewal_info_limit: Mutex<Option<OffsetDateTime>>,
}

#[async_trait]
impl Memory for FakeMemory {
    async fn failures(&self, names_hash: &str) -> Result<Option<Failures>, AwsError> {
        Ok(lock(&self.failures).get(names_hash).cloned())
    }
    async fn remember_failures(&self, hash: &str, failures: &Failures) -> Result<(), AwsError> {
        lock(&self.failures).insert(hash.into(), failures.clone());
        Ok(())
    }
    async fn forget_failures(&self, names_hash: &str) -> Result<(), AwsError> {
        lock(&self.failures).remove(names_hash);
        Ok(())
    }
    async fn windows(&self) -> Result<Windows, AwsError> {
        Ok(lock(&self.windows).clone())
    }
    async fn remember_windows(&self, windows: &Windows) -> Result<(), AwsError> {
        *lock(&self.windows_written) += 1;
        *lock(&self.windows) = windows.clone();
        Ok(())
    }
    async fn notified(
        &self,
        _names_hash: &str,
    ) -> Result<Option<crate::report::notify::Notified>, AwsError> {
        Ok(None)
    }
    async fn remember_notified(
        &self,
        _names_hash: &str,
        _sent: &crate::report::notify::Notified,
    ) -> Result<(), AwsError> {
        Ok(())
    }
    async fn renewal_info_limit(&self) -> Result<Option<OffsetDateTime>, AwsError> {
        Ok(*lock(&self.renewal_info_limit))
    }
    async fn remember_renewal_info_limit(&self, until: OffsetDateTime) -> Result<(), AwsError> {
        *lock(&self.renewal_info_limit) = Some(until);
        Ok(())
    }
}

/// A CA that issues at once from the test root, 90-day certificates.
pub(super) struct FakeCa {
    /// The root.
    pub(super) root: TestCa,
    /// The `replaces` of every order, in order.
    pub(super) orders: Mutex<Vec<Option<String>>>,
    /// The hosted zone each order's domain named, in order.
    pub(super) zones: Mutex<Vec<Option<String>>>,
    /// Refuse every order with this message.
    pub(super) refuse: Mutex<Option<String>>,
    /// Refuse every order under this rate limit.
    pub(super) rate_limit: Mutex<Option<RateLimit>>,
    /// How many renewal-information requests it answered.
    pub(super) asked: Mutex<usize>,
    /// Never answer an order.
    pub(super) hang: Mutex<bool>,
    /// Refuse every `replaces` (the order is then made without it).
    pub(super) refuse_replaces: Mutex<bool>,
    /// The window it suggests for every certificate.
    pub(super) window: Mutex<Option<RenewalInfo>>,
    /// No zone holds the challenge records: `locate` fails, and `issue` before ordering.
    pub(super) no_zone: Mutex<bool>,
    /// Renewal-information requests answered 429, with this date.
    pub(super) ari_limited: Mutex<Option<OffsetDateTime>>,
    /// The profiles the CA offers (`None`: any is accepted).
    pub(super) profiles: Mutex<Option<Vec<String>>>,
    /// The options of each order.
    pub(super) options: Mutex<Vec<OrderOptions>>,
    log: Log,
}

#[async_trait]
impl CertificateAuthority for FakeCa {
    async fn renewal_info(&self, _leaf_der: &[u8]) -> Option<RenewalInfo> {
        *lock(&self.asked) += 1;
        if lock(&self.ari_limited).is_some() {
            return None;
        }
        lock(&self.window).clone()
    }

    async fn renewal_info_limited(&self) -> Option<OffsetDateTime> {
        *lock(&self.ari_limited)
    }

    async fn issue(
        &self,
        names: &[DomainName],
        (options, dns): (&OrderOptions, &DnsSettings),
        replaces: Option<String>,
    ) -> Result<Issued, IssueError> {
        self.locate(names, (options, dns)).await?; // as the run's CA: before the order
        lock(&self.options).push(options.clone());
        lock(&self.orders).push(replaces.clone());
        lock(&self.zones).push(dns.hosted_zone_id.clone());
        if *lock(&self.hang) {
            std::future::pending::<()>().await;
        }
        if let Some(limit) = lock(&self.rate_limit).clone() {
            return Err(IssueError::Acme(AcmeError::RateLimited {
                names: names[0].to_string(),
                step: "new order",
                limit,
            }));
        }
        if let Some(why) = lock(&self.refuse).clone() {
            return Err(IssueError::Acme(AcmeError::Validation {
                name: names[0].to_string(),
                base: names[0].base().to_owned(),
                detail: why,
            }));
        }
        let names: Vec<&str> = names.iter().map(DomainName::as_str).collect();
        let b = self.root.bundle(
            &names,
            OffsetDateTime::now_utc() - time::Duration::hours(1),
            90,
        );
        lock(&self.log).push("ca issue".into());
        let dropped_replaces = replaces
            .filter(|_| *lock(&self.refuse_replaces))
            .map(|id| format!("the CA refused to mark the order as replacing {id} (409 alreadyReplaced); ordered without replaces"));
        Ok(Issued {
            chain_pem: format!("{}{}", b.certificate, b.chain),
            key: b.private_key,
            dropped_replaces,
        })
    }

    async fn locate(
        &self,
        names: &[DomainName],
        (options, dns): (&OrderOptions, &DnsSettings),
    ) -> Result<Vec<Placement>, IssueError> {
        if let (Some(profile), Some(offered)) = (&options.profile, &*lock(&self.profiles)) {
            if !offered.contains(&profile.name) {
                let refusal = crate::acme::ProfileRefusal {
                    profile: profile.clone(),
                    offered: offered.clone(),
                    directory: "https://ca.fake/dir".into(),
                };
                return Err(IssueError::NotOrdered(Box::new(AcmeError::Profile(
                    Box::new(refusal),
                ))));
            }
        }
        let record = names[0].challenge_record();
        if *lock(&self.no_zone) {
            return Err(IssueError::Dns(SolverError::NoZone {
                record,
                account: "the function's account".into(),
            }));
        }
        Ok(vec![Placement {
            record,
            delegated_to: None,
            zone: dns.hosted_zone_id.clone().unwrap_or_else(|| "ZFAKE".into()),
            zone_name: names[0].base().to_owned(),
            account: dns.role.as_ref().map(|r| r.account().to_owned()),
        }])
    }
}

/// Bring-your-own files by location.
#[derive(Default)]
pub(super) struct FakeFiles {
    /// Bytes by location (`s3://b/k`, `secretsmanager:id`).
    pub(super) files: Mutex<HashMap<String, Vec<u8>>>,
}

#[async_trait]
impl Files for FakeFiles {
    async fn read(&self, location: &Location) -> Result<Vec<u8>, String> {
        lock(&self.files)
            .get(&location.to_string())
            .cloned()
            .ok_or_else(|| {
                format!("{location} does not exist: upload the file, or fix the name in source")
            })
    }
}

/// A world of fakes and the run around one domain.
pub(super) struct World {
    pub(super) iam: FakeIam,
    pub(super) cloudfront: FakeCloudFront,
    pub(super) acm: FakeAcm,
    pub(super) archive: FakeArchive,
    pub(super) memory: FakeMemory,
    pub(super) ca: FakeCa,
    pub(super) files: FakeFiles,
    pub(super) config: Config,
    pub(super) partition: Partition,
    pub(super) now: OffsetDateTime,
    /// IAM's server-certificate quota (`None`: unknown, never refuses).
    pub(super) iam_quota: Option<i64>,
    /// Every write, in order.
    pub(super) log: Log,
}

impl World {
    /// An empty world in `partition`, at the real time (the fake CA issues at the real time).
    pub(super) fn new(partition: Partition) -> Self {
        let log: Log = Arc::default();
        let config =
            Config::from_lookup(|k| (k == "CERT_ROTATOR_BUCKET").then(|| "bucket".into())).unwrap();
        Self {
            iam: FakeIam {
                log: log.clone(),
                ..Default::default()
            },
            cloudfront: FakeCloudFront {
                log: log.clone(),
                ..Default::default()
            },
            acm: FakeAcm {
                log: log.clone(),
                ..Default::default()
            },
            archive: FakeArchive {
                log: log.clone(),
                ..Default::default()
            },
            memory: FakeMemory::default(),
            ca: FakeCa {
                root: TestCa::new(),
                orders: Mutex::default(),
                zones: Mutex::default(),
                refuse: Mutex::default(),
                rate_limit: Mutex::default(),
                asked: Mutex::default(),
                refuse_replaces: Mutex::default(),
                hang: Mutex::default(),
                window: Mutex::default(),
                no_zone: Mutex::default(),
                profiles: Mutex::default(),
                ari_limited: Mutex::default(),
                options: Mutex::default(),
                log: log.clone(),
            },
            files: FakeFiles::default(),
            config,
            partition,
            now: OffsetDateTime::now_utc(),
            iam_quota: None,
            log,
        }
    }

    /// The ports over the fakes.
    pub(super) fn ports(&self) -> Ports<'_> {
        Ports {
            iam: &self.iam,
            cloudfront: &self.cloudfront,
            acm: &self.acm,
            archive: &self.archive,
            memory: &self.memory,
            ca: &self.ca,
            files: &self.files,
        }
    }

    /// A bundle for `names`, `age` days old, lasting `days` days.
    pub(super) fn bundle(&self, names: &[&str], age: i64, days: i64) -> Bundle {
        self.ca
            .root
            .bundle(names, self.now - time::Duration::days(age), days)
    }

    /// The request `event` in this world's partition.
    pub(super) fn request(&self, event: serde_json::Value) -> Request {
        let region = match self.partition {
            Partition::AwsCn => "cn-north-1",
            _ => "us-east-1",
        };
        event::parse_for(&event, self.partition, region).unwrap()
    }

    /// What the run would list.
    pub(super) async fn listing(&self, request: &Request) -> Listing {
        let inventory = Inventory {
            certificates: self.iam.listed(),
            distributions: lock(&self.cloudfront.distributions).clone(),
        };
        let regions: Vec<&str> = request
            .domains
            .iter()
            .flat_map(|d| d.targets.acm_regions())
            .collect();
        let ari = (self.config.policy.use_ari, 4);
        let attached =
            crate::run::listing::observe_attached(self.ports(), &inventory, request, ari).await;
        let iam_slots = match self.iam_quota {
            Some(quota) => IamSlots::new(inventory.certificates.len() as i64, quota),
            None => IamSlots::unknown(),
        };
        Listing {
            inventory,
            attached,
            acm: self.acm.listing(&regions),
            iam_slots,
        }
    }

    /// The pipeline's context over `listing`, with `seconds` left in the invocation.
    pub(super) fn context<'a>(
        &'a self,
        listing: &'a Listing,
        seconds: u64,
        dry_run: bool,
    ) -> Context<'a> {
        Context {
            ports: self.ports(),
            listing,
            config: &self.config,
            partition: self.partition,
            now: self.now,
            budget: Budget::until(Instant::now() + Duration::from_secs(seconds)),
            dry_run,
        }
    }

    /// Runs the pipeline for the one domain of `event`, with `seconds` left in the invocation.
    pub(super) async fn handle_with(&self, event: serde_json::Value, seconds: u64) -> Handled {
        let request = self.request(event);
        let listing = self.listing(&request).await;
        let cx = self.context(&listing, seconds, request.dry_run);
        super::handle(&cx, &request.domains[0]).await
    }

    /// Runs the pipeline for the one domain of `event`, with 15 minutes left.
    pub(super) async fn handle(&self, event: serde_json::Value) -> Handled {
        self.handle_with(event, 900).await
    }

    /// The writes so far, in order.
    pub(super) fn writes(&self) -> Vec<String> {
        lock(&self.log).clone()
    }

    /// How many certificates the CA issued or was asked for.
    pub(super) fn orders(&self) -> usize {
        lock(&self.ca.orders).len()
    }
}
