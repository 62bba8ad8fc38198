//! A small AWS world on the bed for end-to-end tests: a hosted zone, certificates made to order
//! (by a test CA, at exact dates), distributions serving them, a bucket — and a watcher that
//! checks every 50 ms that no distribution points at a missing, expired or non-covering
//! certificate.
#![allow(dead_code, unreachable_pub, clippy::unwrap_used, clippy::expect_used)]

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_config::SdkConfig;
use aws_sdk_cloudfront::types::DistributionSummary;
use aws_sdk_cloudfront::types::{
    Aliases, CustomOriginConfig, DefaultCacheBehavior, DistributionConfig, Origin,
    OriginProtocolPolicy, Origins, ViewerCertificate, ViewerProtocolPolicy,
};
use aws_sdk_iam::types::ServerCertificateMetadata;
use cert_rotator::acme::journal;
use cert_rotator::aws::iam::CLOUDFRONT_PATH;
use cert_rotator::certs::archive::Bundle;
use cert_rotator::certs::certificate::{self, CertificateInfo};
use cert_rotator::config::Config;
use cert_rotator::handler::{self, App, InvocationError, Metrics};
use cert_rotator::report::Report;
use cert_rotator::run::lock::LOCK_KEY;
use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
use serde_json::Value;
use time::OffsetDateTime;

use super::{bed, logs, unique};

pub struct TestCa {
    key: KeyPair,
    params: CertificateParams,
    pub pem: String,
}

impl TestCa {
    pub fn new() -> Self {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "someone else's CA");
        let pem = params.self_signed(&key).unwrap().pem();
        Self { key, params, pem }
    }

    /// (leaf PEM, key PEM) for `names`, valid from `from` for `days`.
    pub fn issue(&self, names: &[&str], from: OffsetDateTime, days: i64) -> (String, String) {
        let key = KeyPair::generate().unwrap();
        let mut params =
            CertificateParams::new(names.iter().map(|s| s.to_string()).collect::<Vec<_>>())
                .unwrap();
        params.not_before = from;
        params.not_after = from + time::Duration::days(days);
        let issuer = Issuer::from_params(&self.params, &self.key);
        (
            params.signed_by(&key, &issuer).unwrap().pem(),
            key.serialize_pem(),
        )
    }
}

/// How [`World::run_with`] invokes the handler. By default: with the world's configuration, a
/// run id no other run has, five minutes to the deadline, no metrics, every log line captured.
#[derive(Clone, Copy)]
pub struct Invocation<'a> {
    app: AppFrom<'a>,
    run_id: Option<&'a str>,
    deadline: Duration,
    /// As Lambda invokes it: the context's `invoked_function_arn` names the function's account.
    as_lambda: bool,
}

#[derive(Clone, Copy)]
enum AppFrom<'a> {
    /// The world's configuration with these variables set otherwise.
    Config(&'a [(&'a str, &'a str)]),
    /// An app the test built (and reuses).
    App(&'a App),
}

impl Default for Invocation<'_> {
    fn default() -> Self {
        Self {
            app: AppFrom::Config(&[]),
            run_id: None,
            deadline: Duration::from_secs(300),
            as_lambda: false,
        }
    }
}

impl<'a> Invocation<'a> {
    /// With the world's configuration, these variables set otherwise.
    pub fn overrides(overrides: &'a [(&'a str, &'a str)]) -> Self {
        Self {
            app: AppFrom::Config(overrides),
            ..Self::default()
        }
    }

    /// With `app`.
    pub fn app(app: &'a App) -> Self {
        Self {
            app: AppFrom::App(app),
            ..Self::default()
        }
    }

    /// Under this run id.
    pub fn run_id(self, run_id: &'a str) -> Self {
        Self {
            run_id: Some(run_id),
            ..self
        }
    }

    /// With this much time to the deadline.
    pub fn deadline(self, deadline: Duration) -> Self {
        Self { deadline, ..self }
    }

    /// As Lambda invokes the function: its ARN, with the account, in the context (the CLI's
    /// way, the default, asks STS for the account when a domain names a role).
    pub fn as_lambda(self) -> Self {
        Self {
            as_lambda: true,
            ..self
        }
    }
}

pub struct World {
    /// The tests' own identity in the world's account, which the bed does not restrict: it sets
    /// the world up (zones, certificates, distributions) and looks at the result.
    pub sdk: SdkConfig,
    /// The tests' identity in the account the domains deploy in: the world's own, or a CDN
    /// account's ([`World::targeting`]). Distributions, IAM and ACM certificates are made and
    /// checked there.
    pub targets: SdkConfig,
    setup_credentials: aws_sdk_route53::config::Credentials,
    /// The function's role (`common::function_role`): every run of the product uses it, so the
    /// bed enforces template.yaml's policies on each of its requests.
    pub function: SdkConfig,
    /// The function's credentials (the binaries' environment; fault rules by access key).
    pub credentials: aws_sdk_route53::config::Credentials,
    pub account: String,
    pub zone: String,
    pub zone_id: String,
    /// The archive (the template's ArchiveBucket): its objects are the function's alone.
    pub bucket: String,
    /// The bucket of bring-your-own files (the template's SourceBucket parameter).
    pub source_bucket: String,
    /// The stack's name: its account secret is `<stack>/acme-account`, its bring-your-own
    /// secrets are under `<stack>/byo/`, as the template names them.
    pub stack: String,
    pub secret: String,
    pub ca: TestCa,
    /// Variables every run of this world gets (before a test's own overrides).
    pub settings: Vec<(String, String)>,
    /// Whether the test makes the function do what the template forbids (see `Drop`).
    denials_expected: bool,
    /// The stack's member accounts (`MemberAccounts`, `CERT_ROTATOR_MEMBER_ACCOUNTS`): every
    /// [`Member`](super::accounts::Member) made for this world but outsiders.
    members: std::sync::Mutex<Vec<String>>,
}

/// When a test's world ends, the bed must have denied the function nothing: a grant the template
/// lacks fails the test that needed it, even where the product tolerated the error.
impl Drop for World {
    fn drop(&mut self) {
        if !std::thread::panicking() && !self.denials_expected {
            self.assert_no_denials();
        }
    }
}

impl World {
    /// A world in its own account in cn-north-1, with a public hosted zone
    /// `<unique>.example.cn`, and what the stack creates: the archive bucket, the account secret
    /// holding the placeholder `{}`, the function's role.
    pub async fn new(prefix: &str) -> Self {
        Self::new_in(prefix, "cn-north-1").await
    }

    /// The same in `region` (its partition follows).
    pub async fn new_in(prefix: &str, region: &str) -> Self {
        let account = super::account_id();
        let (sdk, setup_credentials) = super::sdk_config_for(region, &account).await;
        let zone = format!("{}.example.cn", unique(prefix));
        let zone_id = super::create_zone(&sdk, &zone).await;
        let (bucket, source_bucket) = (
            new_bucket(&sdk, "bucket").await,
            new_bucket(&sdk, "src").await,
        );
        let stack = unique("stack");
        // As the template's AccountSecret: named after the stack, holding {} until the first run.
        let secret = format!("{stack}/acme-account");
        aws_sdk_secretsmanager::Client::new(&sdk)
            .create_secret()
            .name(&secret)
            .secret_string("{}")
            .send()
            .await
            .expect("create the account secret");
        let tags = [
            ("StackName", stack.as_str()),
            ("Region", region),
            ("ArchiveBucket", bucket.as_str()),
            ("SourceBucket", source_bucket.as_str()),
        ];
        let (function, credentials) = super::function_role(&sdk, &account, &tags).await;
        Self {
            targets: sdk.clone(),
            sdk,
            setup_credentials,
            function,
            credentials,
            account,
            zone,
            zone_id,
            bucket,
            source_bucket,
            stack,
            secret,
            ca: TestCa::new(),
            settings: vec![],
            denials_expected: false,
            members: std::sync::Mutex::default(),
        }
    }

    /// The account secret's value, read as the function: the secret's resource policy
    /// (template.yaml's AccountSecretPolicy) denies it to everyone else, administrators included.
    pub async fn account_secret_value(&self) -> Option<String> {
        aws_sdk_secretsmanager::Client::new(&self.function)
            .get_secret_value()
            .secret_id(&self.secret)
            .send()
            .await
            .ok()
            .and_then(|v| v.secret_string().map(str::to_owned))
    }

    /// Sets the account secret to `value` as the README's "Starting over with a new ACME
    /// account" says, as an administrator: remove the secret's resource policy, put the value,
    /// put the policy back (what `make deploy` does).
    pub async fn reset_account_secret(&self, value: &str) {
        let admin = aws_sdk_secretsmanager::Client::new(&self.sdk);
        let policy = admin
            .get_resource_policy()
            .secret_id(&self.secret)
            .send()
            .await
            .expect("read the secret's resource policy")
            .resource_policy()
            .map(str::to_owned);
        let denied = admin
            .put_secret_value()
            .secret_id(&self.secret)
            .secret_string(value)
            .send()
            .await;
        assert!(
            denied.is_err(),
            "the policy lets an administrator write the account key"
        );
        admin
            .delete_resource_policy()
            .secret_id(&self.secret)
            .send()
            .await
            .expect("delete-resource-policy");
        admin
            .put_secret_value()
            .secret_id(&self.secret)
            .secret_string(value)
            .send()
            .await
            .expect("put-secret-value after removing the policy");
        if let Some(policy) = policy {
            admin
                .put_resource_policy()
                .secret_id(&self.secret)
                .resource_policy(policy)
                .send()
                .await
                .expect("the policy put back");
        }
    }

    /// Makes `account` one of the stack's member accounts: the function's `MemberAccounts`
    /// parameter (which the bed renders its policy with) and `CERT_ROTATOR_MEMBER_ACCOUNTS`.
    pub async fn admit(&self, account: &str) {
        let list = {
            let mut members = self.members.lock().unwrap();
            members.push(account.to_owned());
            members.join(",")
        };
        self.set_stack_parameter("MemberAccounts", &list).await;
    }

    /// The stack's member accounts, comma-separated.
    pub fn member_accounts(&self) -> String {
        self.members.lock().unwrap().join(",")
    }

    /// The same world whose distributions and certificates are in `member`'s account (a CDN
    /// account): its domains name it as their `account`.
    pub fn targeting(mut self, member: &super::accounts::Member) -> Self {
        self.targets = member.sdk.clone();
        self
    }

    /// The world's region.
    pub fn region(&self) -> String {
        self.sdk.region().expect("a region").to_string()
    }

    /// The ARN of the function's role (the rotator stack's output `RotatorRoleArn`).
    pub fn function_role_arn(&self) -> String {
        let partition = cert_rotator::model::partition::Partition::of_region(&self.region());
        partition.arn(
            "iam",
            "",
            &self.account,
            &format!("role/{}", super::FUNCTION_ROLE),
        )
    }

    /// The same world, for a test whose point is that the bed denies the function something.
    pub fn expecting_denials(mut self) -> Self {
        self.denials_expected = true;
        self
    }

    /// Sets the stack's template parameter `name` to `value` (a tag on the function's role, which
    /// the bed renders the template's policies with).
    pub async fn set_stack_parameter(&self, name: &str, value: &str) {
        let tag = aws_sdk_iam::types::Tag::builder()
            .key(name)
            .value(value)
            .build()
            .unwrap();
        aws_sdk_iam::Client::new(&self.sdk)
            .tag_role()
            .role_name(super::FUNCTION_ROLE)
            .tags(tag)
            .send()
            .await
            .expect("tag the function's role");
    }

    /// An S3 client as the function: the archive's objects are the function's alone
    /// (template.yaml's ArchiveBucketPolicy), so the tests read and write them as the function.
    pub fn archive(&self) -> aws_sdk_s3::Client {
        aws_sdk_s3::Client::new(&self.function)
    }

    /// Asserts that the bed denied none of the function's requests in this world: a missing
    /// grant in the template fails here even where the product tolerates the error. (A test's
    /// own requests the archive's bucket policy denies are its business.)
    fn assert_no_denials(&self) {
        let url = format!(
            "{}/denials?account={}",
            bed()["BED_CONTROL_URL"],
            self.account
        );
        let (status, body) = super::http("GET", &url, "");
        assert_eq!(status, 200, "{body}");
        let denials: Vec<Value> = serde_json::from_str(&body).unwrap();
        let role = format!(":assumed-role/{}/", super::FUNCTION_ROLE);
        let function: Vec<&Value> = denials
            .iter()
            .filter(|d| d["caller"].as_str().unwrap_or_default().contains(&role))
            .collect();
        assert!(
            function.is_empty(),
            "the bed denied the function: {function:#?}"
        );
    }

    /// The same world whose runs get `var=value` (as the stack's parameter would set it).
    pub fn with_setting(mut self, var: &str, value: &str) -> Self {
        self.settings.push((var.into(), value.into()));
        self
    }

    /// The same world whose runs retire certificates cert-rotator did not upload once it has
    /// replaced them (`CERT_ROTATOR_RETIRE_FOREIGN=true`): for tests of foreign retirement.
    pub fn retiring_foreign(mut self) -> Self {
        self.settings
            .push(("CERT_ROTATOR_RETIRE_FOREIGN".into(), "true".into()));
        self
    }

    pub fn config(&self) -> Config {
        self.config_with(&[])
    }

    /// The world's configuration with some variables set otherwise.
    pub fn config_with(&self, overrides: &[(&str, &str)]) -> Config {
        let bed = bed();
        let (bucket, secret) = (self.bucket.clone(), self.secret.clone());
        let members = self.member_accounts();
        let overrides: Vec<(String, String)> = overrides
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .chain(self.settings.iter().cloned())
            .collect();
        Config::from_lookup(move |k| {
            if let Some((_, v)) = overrides.iter().find(|(o, _)| o == k) {
                return Some(v.clone());
            }
            match k {
                "CERT_ROTATOR_BUCKET" => Some(bucket.clone()),
                "CERT_ROTATOR_ACCOUNT_SECRET" => Some(secret.clone()),
                "CERT_ROTATOR_MIN_RENEWAL_SECONDS" => Some("5".into()),
                "CERT_ROTATOR_MEMBER_ACCOUNTS" => Some(members.clone()),
                _ => bed.get(k).cloned(),
            }
        })
        .unwrap()
    }

    pub fn app(&self) -> App {
        self.app_with(&[])
    }

    /// The handler's app as the function, with the world's configuration and `overrides`.
    pub fn app_with(&self, overrides: &[(&str, &str)]) -> App {
        App::new(&self.function, self.config_with(overrides)).unwrap()
    }

    /// One invocation of the handler with `event`, as [`Invocation::default`] describes it.
    pub async fn run(&self, event: &Value) -> Result<Report, InvocationError> {
        self.run_with(Invocation::default(), event).await
    }

    /// [`run`](Self::run), which must succeed.
    pub async fn run_ok(&self, event: &Value) -> Report {
        self.run(event)
            .await
            .unwrap_or_else(|e| panic!("the run failed: {e}"))
    }

    /// One invocation of the handler with `event`, made as `how` says.
    pub async fn run_with(
        &self,
        how: Invocation<'_>,
        event: &Value,
    ) -> Result<Report, InvocationError> {
        logs::capture();
        let built;
        let app = match how.app {
            AppFrom::Config(overrides) => {
                built = self.app_with(overrides);
                &built
            }
            AppFrom::App(app) => app,
        };
        let run_id = how.run_id.map_or_else(|| unique("run"), str::to_owned);
        let deadline = tokio::time::Instant::now() + how.deadline;
        let mut invocation = cert_rotator::run::Invocation::new(&run_id);
        if how.as_lambda {
            let partition = cert_rotator::model::partition::Partition::of_region(&self.region());
            let name = format!("function:{}-rotator", self.stack);
            let arn = partition.arn("lambda", &self.region(), &self.account, &name);
            invocation = invocation.of_function(&arn);
        }
        handler::handle(app, event, &invocation, deadline, Metrics::Off).await
    }

    /// The environment a user would set for this world (for running the binaries).
    pub fn env(&self) -> Vec<(String, String)> {
        let bed = bed();
        let mut env: Vec<(String, String)> =
            bed.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
        env.push((
            "AWS_ACCESS_KEY_ID".into(),
            self.credentials.access_key_id().to_owned(),
        ));
        env.push((
            "AWS_SECRET_ACCESS_KEY".into(),
            self.credentials.secret_access_key().to_owned(),
        ));
        env.push((
            "AWS_SESSION_TOKEN".into(),
            self.credentials
                .session_token()
                .unwrap_or_default()
                .to_owned(),
        ));
        env.push(("CERT_ROTATOR_BUCKET".into(), self.bucket.clone()));
        env.push(("CERT_ROTATOR_ACCOUNT_SECRET".into(), self.secret.clone()));
        env.push(("CERT_ROTATOR_MIN_RENEWAL_SECONDS".into(), "5".into()));
        env.push((
            "CERT_ROTATOR_MEMBER_ACCOUNTS".into(),
            self.member_accounts(),
        ));
        env.extend(self.settings.iter().cloned());
        env
    }

    pub fn name(&self, label: &str) -> String {
        if label.is_empty() {
            self.zone.clone()
        } else {
            format!("{label}.{}", self.zone)
        }
    }

    /// A distribution serving `aliases` with a certificate for `names` by someone else's CA, 80
    /// days into its 90 (due for renewal), uploaded as `cert_name`; returns (distribution, cert id).
    pub async fn due(&self, cert_name: &str, names: &[&str], aliases: &[&str]) -> (String, String) {
        let old = self
            .upload_foreign(
                cert_name,
                names,
                OffsetDateTime::now_utc() - time::Duration::days(80),
                90,
            )
            .await;
        (self.distribution(aliases, &old).await, old)
    }

    /// Uploads a certificate by someone else's CA under /cloudfront/ with `name`; returns its id.
    pub async fn upload_foreign(
        &self,
        name: &str,
        names: &[&str],
        from: OffsetDateTime,
        days: i64,
    ) -> String {
        let (cert, key) = self.ca.issue(names, from, days);
        let out = aws_sdk_iam::Client::new(&self.targets)
            .upload_server_certificate()
            .server_certificate_name(name)
            .path(CLOUDFRONT_PATH)
            .certificate_body(cert)
            .certificate_chain(&self.ca.pem)
            .private_key(key)
            .send()
            .await
            .expect("upload");
        out.server_certificate_metadata()
            .unwrap()
            .server_certificate_id()
            .to_owned()
    }

    /// Moves the CA's renewal window of the IAM certificate `cert_id` into the past (the ARI
    /// proxy's control port); returns the certificate's ARI id.
    pub async fn start_renewal_window(&self, cert_id: &str) -> String {
        let der = self.iam_leaf_der(cert_id).await;
        let id = cert_rotator::acme::certificate_id(&der).unwrap();
        let url = format!("{}/windows/{id}", super::bed()["BED_ARI_CONTROL_URL"]);
        let past = r#"{"start": "2020-01-01T00:00:00Z", "end": "2020-01-02T00:00:00Z"}"#;
        assert_eq!(super::http("PUT", &url, past).0, 200);
        id
    }

    /// A distribution with `aliases` serving the IAM certificate `cert_id`; returns its id.
    pub async fn distribution(&self, aliases: &[&str], cert_id: &str) -> String {
        let origin = Origin::builder()
            .id("origin")
            .domain_name("origin.example.cn")
            .custom_origin_config(
                CustomOriginConfig::builder()
                    .http_port(80)
                    .https_port(443)
                    .origin_protocol_policy(OriginProtocolPolicy::HttpsOnly)
                    .build()
                    .unwrap(),
            )
            .build()
            .unwrap();
        let config = DistributionConfig::builder()
            .caller_reference(unique("ref"))
            .comment("e2e")
            .enabled(true)
            .aliases(
                Aliases::builder()
                    .quantity(aliases.len() as i32)
                    .set_items(Some(aliases.iter().map(|a| a.to_string()).collect()))
                    .build()
                    .unwrap(),
            )
            .origins(
                Origins::builder()
                    .quantity(1)
                    .items(origin)
                    .build()
                    .unwrap(),
            )
            .default_cache_behavior(
                DefaultCacheBehavior::builder()
                    .target_origin_id("origin")
                    .viewer_protocol_policy(ViewerProtocolPolicy::RedirectToHttps)
                    .cache_policy_id("658327ea-f89d-4fab-a63d-7e88639e58f6")
                    .build()
                    .unwrap(),
            )
            .viewer_certificate(
                ViewerCertificate::builder()
                    .iam_certificate_id(cert_id)
                    .ssl_support_method(aws_sdk_cloudfront::types::SslSupportMethod::SniOnly)
                    .minimum_protocol_version(
                        aws_sdk_cloudfront::types::MinimumProtocolVersion::TlSv122021,
                    )
                    .build(),
            )
            .build()
            .unwrap();
        let out = aws_sdk_cloudfront::Client::new(&self.targets)
            .create_distribution()
            .distribution_config(config)
            .send()
            .await
            .expect("create distribution");
        out.distribution().unwrap().id().to_owned()
    }

    /// The IAM certificate id a distribution serves now.
    pub async fn served(&self, dist: &str) -> String {
        let out = aws_sdk_cloudfront::Client::new(&self.targets)
            .get_distribution_config()
            .id(dist)
            .send()
            .await
            .unwrap();
        let vc = out
            .distribution_config()
            .unwrap()
            .viewer_certificate()
            .unwrap();
        vc.iam_certificate_id()
            .filter(|id| !id.is_empty())
            .or(vc.acm_certificate_arn())
            .unwrap_or_default()
            .to_owned()
    }

    /// The leaf (DER) of the IAM certificate a distribution serves now.
    pub async fn served_der(&self, dist: &str) -> Vec<u8> {
        let id = self.served(dist).await;
        self.iam_leaf_der(&id).await
    }

    /// The leaf (DER) of the IAM certificate with id `cert_id`.
    pub async fn iam_leaf_der(&self, cert_id: &str) -> Vec<u8> {
        let iam = aws_sdk_iam::Client::new(&self.targets);
        let listed = iam.list_server_certificates().send().await.unwrap();
        let name = listed
            .server_certificate_metadata_list()
            .iter()
            .find(|m| m.server_certificate_id() == cert_id)
            .map(|m| m.server_certificate_name().to_owned())
            .expect("the certificate is in IAM");
        let body = iam
            .get_server_certificate()
            .server_certificate_name(name)
            .send()
            .await
            .unwrap();
        cert_rotator::certs::certificate::pem_chain(
            body.server_certificate().unwrap().certificate_body(),
        )
        .unwrap()
        .remove(0)
    }

    /// An ACM client of this world's account in `region`.
    pub fn acm(&self, region: &str) -> aws_sdk_acm::Client {
        aws_sdk_acm::Client::from_conf(
            aws_sdk_acm::config::Builder::from(&self.targets)
                .region(aws_sdk_acm::config::Region::new(region.to_owned()))
                .build(),
        )
    }

    /// The ARNs of the ACM certificates in `region`, every key type.
    pub async fn acm_arns(&self, region: &str) -> Vec<String> {
        use aws_sdk_acm::types::{Filters, KeyAlgorithm};
        let filters = Filters::builder()
            .key_types(KeyAlgorithm::EcPrime256v1)
            .key_types(KeyAlgorithm::Rsa2048)
            .build();
        let out = self
            .acm(region)
            .list_certificates()
            .includes(filters)
            .send()
            .await
            .unwrap();
        out.certificate_summary_list()
            .iter()
            .filter_map(|c| c.certificate_arn().map(str::to_owned))
            .collect()
    }

    /// The serial (hex, no colons) of the IAM server certificate `name`.
    pub async fn iam_serial(&self, name: &str) -> String {
        let out = aws_sdk_iam::Client::new(&self.targets)
            .get_server_certificate()
            .server_certificate_name(name)
            .send()
            .await
            .unwrap();
        leaf_of(out.server_certificate().unwrap().certificate_body()).serial
    }

    /// The serial (hex, no colons) the ACM certificate `arn` in `region` holds.
    pub async fn acm_serial(&self, region: &str, arn: &str) -> String {
        let out = self
            .acm(region)
            .get_certificate()
            .certificate_arn(arn)
            .send()
            .await
            .unwrap();
        leaf_of(out.certificate().unwrap()).serial
    }

    /// Puts `body` at `key` in the world's bucket of bring-your-own files; returns its `s3://`
    /// location.
    pub async fn put_file(&self, key: &str, body: Vec<u8>) -> String {
        let s3 = aws_sdk_s3::Client::new(&self.sdk);
        self.put_object(&s3, &self.source_bucket, key, body).await
    }

    /// Puts `body` at `key` in the archive bucket, as the function (its objects are the
    /// function's alone); returns its `s3://` location.
    pub async fn put_archived(&self, key: &str, body: Vec<u8>) -> String {
        self.put_object(&self.archive(), &self.bucket, key, body)
            .await
    }

    async fn put_object(
        &self,
        s3: &aws_sdk_s3::Client,
        bucket: &str,
        key: &str,
        body: Vec<u8>,
    ) -> String {
        s3.put_object()
            .bucket(bucket)
            .key(key)
            .body(body.into())
            .send()
            .await
            .unwrap();
        format!("s3://{bucket}/{key}")
    }

    /// Creates the bring-your-own secret `<stack>/byo/<name>` holding `text` (where the template
    /// lets the function read); returns its `secretsmanager:` location.
    pub async fn put_secret(&self, name: &str, text: &str) -> String {
        let name = format!("{}/byo/{name}", self.stack);
        aws_sdk_secretsmanager::Client::new(&self.sdk)
            .create_secret()
            .name(&name)
            .secret_string(text)
            .send()
            .await
            .unwrap();
        format!("secretsmanager:{name}")
    }

    /// Names of every IAM server certificate.
    pub async fn certificate_names(&self) -> Vec<String> {
        let out = aws_sdk_iam::Client::new(&self.targets)
            .list_server_certificates()
            .send()
            .await
            .unwrap();
        out.server_certificate_metadata_list()
            .iter()
            .map(|m| m.server_certificate_name().to_owned())
            .collect()
    }

    /// The ARN of the IAM certificate `name`.
    pub async fn iam_arn(&self, name: &str) -> String {
        let out = aws_sdk_iam::Client::new(&self.targets)
            .get_server_certificate()
            .server_certificate_name(name)
            .send()
            .await
            .unwrap();
        out.server_certificate()
            .unwrap()
            .server_certificate_metadata()
            .unwrap()
            .arn()
            .to_owned()
    }

    /// The tag keys of the IAM certificate `name`.
    pub async fn iam_tag_keys(&self, name: &str) -> Vec<String> {
        let out = aws_sdk_iam::Client::new(&self.targets)
            .list_server_certificate_tags()
            .server_certificate_name(name)
            .send()
            .await
            .unwrap();
        out.tags().iter().map(|t| t.key().to_owned()).collect()
    }

    /// This world's SDK configuration in `region`.
    pub fn in_region(&self, region: &str) -> SdkConfig {
        self.sdk
            .to_builder()
            .region(aws_config::Region::new(region.to_owned()))
            .build()
    }

    /// One EC2 Query call on the bed in this world's account (the tests have no EC2 SDK; the bed
    /// does not check signatures); returns the values of every `<tag>` in the answer.
    fn ec2(&self, region: &str, params: &str, tag: &str) -> Vec<String> {
        let bed = super::bed();
        let host = bed["AWS_ENDPOINT_URL"]
            .trim_start_matches("http://")
            .to_owned();
        let body = format!("{params}&Version=2016-11-15");
        let mut stream = std::net::TcpStream::connect(&host).expect("moto answers");
        use std::io::{Read, Write};
        write!(
            stream,
            "POST / HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/x-www-form-urlencoded\r\n\
             Authorization: AWS4-HMAC-SHA256 Credential=testing/20260101/{region}/ec2/aws4_request, SignedHeaders=host, Signature=0\r\n\
             x-moto-account-id: {}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            self.account,
            body.len()
        )
        .unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).unwrap();
        assert!(
            response.starts_with("HTTP/1.1 200"),
            "EC2 {params}: {response}"
        );
        let (open, close) = (format!("<{tag}>"), format!("</{tag}>"));
        response
            .split(&open)
            .skip(1)
            .filter_map(|rest| rest.split_once(&close).map(|(v, _)| v.to_owned()))
            .collect()
    }

    /// Two subnets of a new VPC in `region` (an Application Load Balancer needs two zones).
    pub fn subnets(&self, region: &str) -> Vec<String> {
        let vpc = self.ec2(region, "Action=CreateVpc&CidrBlock=10.0.0.0%2F16", "vpcId")[0].clone();
        ["a", "b"]
            .iter()
            .enumerate()
            .map(|(i, az)| {
                let params = format!(
                    "Action=CreateSubnet&VpcId={vpc}&CidrBlock=10.0.{}.0%2F24&AvailabilityZone={region}{az}",
                    i + 1
                );
                self.ec2(region, &params, "subnetId")[0].clone()
            })
            .collect()
    }

    /// An Application Load Balancer in `region` whose HTTPS listener serves the IAM certificate
    /// `cert_arn` as its default; returns (load balancer name, listener ARN).
    pub async fn alb_serving(&self, region: &str, cert_arn: &str) -> (String, String) {
        use aws_sdk_elasticloadbalancingv2::types::{
            Action, ActionTypeEnum, Certificate, FixedResponseActionConfig, ProtocolEnum,
        };
        let v2 = aws_sdk_elasticloadbalancingv2::Client::new(&self.in_region(region));
        let name = "shop-alb".to_owned();
        let lb = v2
            .create_load_balancer()
            .name(&name)
            .set_subnets(Some(self.subnets(region)))
            .send()
            .await
            .expect("create the ALB");
        let lb_arn = lb.load_balancers()[0]
            .load_balancer_arn()
            .unwrap()
            .to_owned();
        let listener = v2
            .create_listener()
            .load_balancer_arn(&lb_arn)
            .protocol(ProtocolEnum::Https)
            .port(443)
            .certificates(Certificate::builder().certificate_arn(cert_arn).build())
            .default_actions(
                Action::builder()
                    .r#type(ActionTypeEnum::FixedResponse)
                    .fixed_response_config(
                        FixedResponseActionConfig::builder()
                            .status_code("200")
                            .build(),
                    )
                    .build(),
            )
            .send()
            .await
            .expect("create the HTTPS listener");
        let listener_arn = listener.listeners()[0].listener_arn().unwrap().to_owned();
        (name, listener_arn)
    }

    /// A Classic Load Balancer in `region` whose HTTPS listener on 443 serves the IAM certificate
    /// `cert_arn`; returns its name.
    pub async fn classic_serving(&self, region: &str, cert_arn: &str) -> String {
        use aws_sdk_elasticloadbalancing::types::Listener;
        let name = "shop-classic".to_owned();
        aws_sdk_elasticloadbalancing::Client::new(&self.in_region(region))
            .create_load_balancer()
            .load_balancer_name(&name)
            .availability_zones(format!("{region}a"))
            .listeners(
                Listener::builder()
                    .protocol("HTTPS")
                    .load_balancer_port(443)
                    .instance_protocol("HTTP")
                    .instance_port(80)
                    .ssl_certificate_id(cert_arn)
                    .build()
                    .unwrap(),
            )
            .send()
            .await
            .expect("create the Classic Load Balancer");
        name
    }

    /// TXT record sets left in the zone.
    pub async fn txt_records(&self) -> Vec<String> {
        let out = aws_sdk_route53::Client::new(&self.sdk)
            .list_resource_record_sets()
            .hosted_zone_id(&self.zone_id)
            .send()
            .await
            .unwrap();
        out.resource_record_sets()
            .iter()
            .filter(|r| r.r#type().as_str() == "TXT")
            .map(|r| r.name().to_owned())
            .collect()
    }

    /// Starts the 50 ms watcher.
    pub fn watch(&self) -> Watcher {
        Watcher::start(&self.targets, self.acm("us-east-1"))
    }
}

/// How long a piece of a secret is: 144 bits of key, no false match.
const PIECE: usize = 24;

/// Pieces of a PEM private key that a log line could carry, from its secret part only: never
/// its first line (the PKCS#8 header there is the same in every key of a type — the first 40
/// characters of every P-256 key are) nor an RSA key's second (the public modulus, which the
/// certificate carries too). [`PIECE`] characters from the start of an EC key's second line (its
/// secret scalar) or an RSA key's middle line (its private exponent and primes), and from the
/// same place in the base64 of the whole PEM (ACM's `PrivateKey` blob); each spelled as
/// [`spellings`] says.
pub fn pem_key_pieces(what: &str, pem: &str) -> Vec<(String, String)> {
    let lines: Vec<&str> = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    assert!(lines.len() >= 3, "{what}: not a PEM key");
    // P-256 and P-384 keys take 3 and 4 lines; RSA-2048 takes 26.
    let line = if lines.len() <= 4 {
        lines[1]
    } else {
        lines[lines.len() / 2]
    };
    let mut pieces = spellings(what, &line[..PIECE]);
    // The blob encodes the PEM from its first byte: the piece at a multiple of 3 bytes into
    // the line's text is the same base64 wherever the PEM is encoded.
    let start = pem.find(line).unwrap().div_ceil(3) * 3;
    let blob = base64(pem.as_bytes());
    pieces.extend(spellings(
        &format!("{what} (in base64, ACM's blob)"),
        &blob[start / 3 * 4..start / 3 * 4 + PIECE],
    ));
    pieces
}

/// Pieces of the ACME account key as the account secret holds it (`key_pkcs8`: PKCS#8, base64url
/// on one line): [`PIECE`] characters from character 52 (for P-256, inside the secret scalar) and
/// from its middle, each spelled as [`spellings`] says.
pub fn account_key_pieces(key_pkcs8: &str) -> Vec<(String, String)> {
    assert!(
        key_pkcs8.len() >= 52 + PIECE,
        "a P-256 PKCS#8 key is longer"
    );
    let middle = key_pkcs8.len() / 2 - PIECE / 2;
    let mut pieces = spellings(
        "the ACME account key (its scalar)",
        &key_pkcs8[52..52 + PIECE],
    );
    pieces.extend(spellings(
        "the ACME account key (its middle)",
        &key_pkcs8[middle..middle + PIECE],
    ));
    pieces
}

/// `secret` in every spelling a log line could carry it: as it is, percent-encoded (a form body,
/// IAM's), and each of those as the list of its bytes in decimal (`[u8]`'s `Debug`, which is how
/// the SDK prints a body it signs).
pub fn spellings(what: &str, secret: &str) -> Vec<(String, String)> {
    let bytes = |text: &str| {
        text.bytes()
            .map(|b| b.to_string())
            .collect::<Vec<_>>()
            .join(", ")
    };
    let encoded = percent(secret);
    let mut all = vec![
        (what.to_owned(), secret.to_owned()),
        (format!("{what} (as bytes)"), bytes(secret)),
    ];
    if encoded != secret {
        all.push((format!("{what} (percent-encoded)"), encoded.clone()));
        all.push((
            format!("{what} (percent-encoded, as bytes)"),
            bytes(&encoded),
        ));
    }
    all
}

/// Base64's and a password's characters as a form body spells them (`+`, `/`, `=`, space).
fn percent(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            '+' => "%2B".to_owned(),
            '/' => "%2F".to_owned(),
            '=' => "%3D".to_owned(),
            ' ' => "%20".to_owned(),
            c => c.to_string(),
        })
        .collect()
}

/// Standard base64 with padding.
fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, &b)| n | u32::from(b) << (16 - 8 * i));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// The certificate a distribution serves.
struct Served {
    /// Its IAM id, or its ACM ARN.
    id: String,
    /// Its IAM name; `None` for an ACM certificate.
    iam_name: Option<String>,
    /// Its PEM (the leaf first).
    pem: String,
}

/// The certificate distribution `d` serves, if it exists, is valid now and covers every alias
/// of `d`; otherwise every way it falls short (serving neither an IAM nor an ACM certificate is
/// serving a missing one). An IAM certificate is looked up in `listed` (the account's IAM
/// listing); an ACM one, which CloudFront takes only from us-east-1, with `acm`.
async fn check_serving(
    iam: &aws_sdk_iam::Client,
    acm: &aws_sdk_acm::Client,
    listed: &[ServerCertificateMetadata],
    d: &DistributionSummary,
) -> Result<Served, Vec<String>> {
    let viewer = d.viewer_certificate();
    let served = if let Some(arn) = viewer
        .and_then(|v| v.acm_certificate_arn())
        .filter(|a| !a.is_empty())
    {
        let got = acm.get_certificate().certificate_arn(arn).send().await;
        let Some(pem) = got.ok().and_then(|o| o.certificate().map(str::to_owned)) else {
            return Err(vec![format!(
                "{} points at missing ACM certificate {arn}",
                d.id()
            )]);
        };
        Served {
            id: arn.to_owned(),
            iam_name: None,
            pem,
        }
    } else {
        let id = viewer
            .and_then(|v| v.iam_certificate_id())
            .unwrap_or_default();
        let Some(meta) = listed.iter().find(|m| m.server_certificate_id() == id) else {
            return Err(vec![format!(
                "{} points at missing certificate {id}",
                d.id()
            )]);
        };
        let name = meta.server_certificate_name();
        let got = iam
            .get_server_certificate()
            .server_certificate_name(name)
            .send()
            .await;
        let Ok(got) = got else {
            return Err(vec![format!(
                "{} points at unreadable certificate {id}",
                d.id()
            )]);
        };
        Served {
            id: id.to_owned(),
            iam_name: Some(name.to_owned()),
            pem: got
                .server_certificate()
                .unwrap()
                .certificate_body()
                .to_owned(),
        }
    };
    let leaf = leaf_of(&served.pem);
    let now = OffsetDateTime::now_utc();
    let mut problems = Vec::new();
    if now >= leaf.not_after || now < leaf.not_before {
        problems.push(format!(
            "{} serves expired certificate {}",
            d.id(),
            served.id
        ));
    }
    for alias in d.aliases().map(|a| a.items()).unwrap_or_default() {
        if !leaf.covers(alias) {
            problems.push(format!(
                "{} serves {}, which does not cover {alias}",
                d.id(),
                served.id
            ));
        }
    }
    if problems.is_empty() {
        Ok(served)
    } else {
        Err(problems)
    }
}

/// What the leaf (the first certificate) of `pem` says.
pub fn leaf_of(pem: &str) -> CertificateInfo {
    certificate::info(&certificate::pem_chain(pem).unwrap()[0]).unwrap()
}

/// Polls every 50 ms: every distribution must serve a certificate that exists, is valid now and
/// covers every alias ([`check_serving`]).
pub struct Watcher {
    stop: Arc<AtomicBool>,
    pub polls: Arc<AtomicUsize>,
    pub violations: Arc<Mutex<Vec<String>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Watcher {
    /// `acm`: an ACM client in us-east-1 (where CloudFront takes ACM certificates from).
    fn start(sdk: &SdkConfig, acm: aws_sdk_acm::Client) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let polls = Arc::new(AtomicUsize::new(0));
        let violations = Arc::new(Mutex::new(Vec::new()));
        let (s, p, v) = (stop.clone(), polls.clone(), violations.clone());
        let iam = aws_sdk_iam::Client::new(sdk);
        let cf = aws_sdk_cloudfront::Client::new(sdk);
        let task = tokio::spawn(async move {
            while !s.load(Ordering::Relaxed) {
                // Every page: IAM lists 100 certificates a page.
                let certs: Result<Vec<_>, _> = iam
                    .list_server_certificates()
                    .into_paginator()
                    .items()
                    .send()
                    .collect::<Vec<_>>()
                    .await
                    .into_iter()
                    .collect();
                let dists = cf.list_distributions().send().await;
                if let (Ok(certs), Ok(dists)) = (certs, dists) {
                    let listed = certs.as_slice();
                    for d in dists
                        .distribution_list()
                        .map(|l| l.items())
                        .unwrap_or_default()
                    {
                        // At every moment of a swap or an ACM re-import.
                        if let Err(problems) = check_serving(&iam, &acm, listed, d).await {
                            v.lock().unwrap().extend(problems);
                        }
                    }
                    p.fetch_add(1, Ordering::Relaxed);
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        });
        Self {
            stop,
            polls,
            violations,
            task,
        }
    }

    /// Stops and returns (polls, violations).
    pub async fn finish(self) -> (usize, Vec<String>) {
        self.stop.store(true, Ordering::Relaxed);
        let _ = self.task.await;
        (
            self.polls.load(Ordering::Relaxed),
            self.violations.lock().unwrap().clone(),
        )
    }
}

impl World {
    /// Every secret the runs in this world handled: the account key, every archived private key,
    /// the AWS credentials. For asserting that none of them reaches any output.
    pub async fn secrets(&self) -> Vec<(String, String)> {
        let mut secrets = vec![
            (
                "the AWS secret access key".to_owned(),
                self.credentials.secret_access_key().to_owned(),
            ),
            (
                "the set-up role's secret access key".to_owned(),
                self.setup_credentials.secret_access_key().to_owned(),
            ),
            (
                "the AWS session token".to_owned(),
                self.credentials
                    .session_token()
                    .unwrap_or_default()
                    .to_owned(),
            ),
        ];
        if let Some(account) = self.account_secret_value().await {
            let value: serde_json::Value = serde_json::from_str(&account).unwrap_or_default();
            if let Some(key) = value["key_pkcs8"].as_str() {
                secrets.extend(account_key_pieces(key));
            }
        }
        for bundle in self.archived().await {
            secrets.extend(pem_key_pieces(
                &format!("the private key of {}", bundle.iam_name),
                bundle.private_key.expose(),
            ));
        }
        secrets
    }

    /// Every bundle in the archive.
    pub async fn archived(&self) -> Vec<Bundle> {
        let s3 = self.archive();
        let mut bundles = Vec::new();
        // The crate names the archive's keys (`archive::key`), not their prefix.
        for key in self.bucket_keys("archive/").await {
            let got = s3
                .get_object()
                .bucket(&self.bucket)
                .key(key)
                .send()
                .await
                .unwrap();
            bundles.push(
                serde_json::from_slice(&got.body.collect().await.unwrap().into_bytes()).unwrap(),
            );
        }
        bundles
    }

    /// Asserts that no log line of this test process (see [`logs`]) holds a PEM key or any of
    /// this world's [`secrets`](Self::secrets).
    pub async fn assert_no_secrets_logged(&self) {
        Self::assert_no_secrets(&logs::text(), &self.secrets().await);
    }

    /// Asserts that `output` holds no PEM key and none of `secrets`; names every one it holds.
    pub fn assert_no_secrets(output: &str, secrets: &[(String, String)]) {
        let mut found: Vec<&str> = secrets
            .iter()
            .filter(|(_, secret)| !secret.is_empty() && output.contains(secret.as_str()))
            .map(|(what, _)| what.as_str())
            .collect();
        if output.contains("PRIVATE KEY") {
            found.insert(0, "a PEM private key");
        }
        assert!(found.is_empty(), "in the output: {}", found.join("; "));
    }

    /// Asserts the safety invariants: every distribution serves a valid certificate covering all
    /// its aliases ([`check_serving`]), whose private key is in the archive; no TXT record is
    /// left in the zone.
    pub async fn assert_converged(&self) {
        let cf = aws_sdk_cloudfront::Client::new(&self.targets);
        let iam = aws_sdk_iam::Client::new(&self.targets);
        let acm = self.acm("us-east-1");
        let archived = self.archived().await;
        let listed = cf.list_distributions().send().await.unwrap();
        let certs = iam.list_server_certificates().send().await.unwrap();
        for d in listed
            .distribution_list()
            .map(|l| l.items())
            .unwrap_or_default()
        {
            let served = check_serving(&iam, &acm, certs.server_certificate_metadata_list(), d)
                .await
                .unwrap_or_else(|problems| panic!("{}", problems.join("\n")));
            // An IAM certificate's bundle is archived under its IAM name; an ACM one's is found by
            // its certificate.
            let bundle = archived
                .iter()
                .find(|b| match &served.iam_name {
                    Some(name) => &b.iam_name == name,
                    None => b.certificate.trim() == served.pem.trim(),
                })
                .unwrap_or_else(|| {
                    panic!(
                        "the key of {} is not in the archive",
                        served.iam_name.as_deref().unwrap_or(&served.id)
                    )
                });
            assert_eq!(bundle.certificate.trim(), served.pem.trim());
            certificate::check_bundle(
                &format!("{}{}", bundle.certificate, bundle.chain),
                bundle.private_key.expose(),
                &[],
                OffsetDateTime::now_utc(),
            )
            .expect("the archived key is the certificate's");
        }
        assert!(
            self.txt_records().await.is_empty(),
            "TXT records left: {:?}",
            self.txt_records().await
        );
        assert!(
            self.journal_entries().await.is_empty(),
            "challenge journal entries left: {:?}",
            self.journal_entries().await
        );
    }

    /// Puts a run lease held by `owner` that ends `from_now` from now (negative: already over).
    pub async fn put_lease(&self, owner: &str, from_now: time::Duration) {
        self.put_lease_body(owner, from_now, None).await;
    }

    /// A lease as cert-rotator writes it: `seconds` from its write by S3's clock, with an
    /// `expires_at` `from_now` by the writer's clock (which may be skewed).
    pub async fn put_lease_body(
        &self,
        owner: &str,
        from_now: time::Duration,
        seconds: Option<u64>,
    ) {
        let until = (OffsetDateTime::now_utc() + from_now)
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap();
        let seconds = seconds
            .map(|s| format!(r#", "seconds": {s}"#))
            .unwrap_or_default();
        let body = format!(r#"{{"owner": "{owner}", "expires_at": "{until}"{seconds}}}"#);
        self.archive()
            .put_object()
            .bucket(&self.bucket)
            .key(LOCK_KEY)
            .body(body.into_bytes().into())
            .send()
            .await
            .unwrap();
    }

    /// Keys of the challenge journal.
    pub async fn journal_entries(&self) -> Vec<String> {
        self.bucket_keys(journal::PREFIX).await
    }

    /// Keys under `prefix` in the world's bucket.
    pub async fn bucket_keys(&self, prefix: &str) -> Vec<String> {
        let listed = self
            .archive()
            .list_objects_v2()
            .bucket(&self.bucket)
            .prefix(prefix)
            .send()
            .await
            .unwrap();
        listed
            .contents()
            .iter()
            .filter_map(|o| o.key().map(str::to_owned))
            .collect()
    }

    /// Names of IAM certificates no distribution references.
    pub async fn unreferenced_certificates(&self) -> Vec<String> {
        let cf = aws_sdk_cloudfront::Client::new(&self.targets);
        let listed = cf.list_distributions().send().await.unwrap();
        let used: Vec<String> = listed
            .distribution_list()
            .map(|l| l.items())
            .unwrap_or_default()
            .iter()
            .filter_map(|d| {
                d.viewer_certificate()
                    .and_then(|v| v.iam_certificate_id())
                    .map(str::to_owned)
            })
            .collect();
        let certs = aws_sdk_iam::Client::new(&self.targets)
            .list_server_certificates()
            .send()
            .await
            .unwrap();
        certs
            .server_certificate_metadata_list()
            .iter()
            .filter(|m| !used.iter().any(|u| u == m.server_certificate_id()))
            .map(|m| m.server_certificate_name().to_owned())
            .collect()
    }

    /// Runs the CLI with this world's environment plus `extra`; returns (exit code or -signal,
    /// stdout, stderr).
    pub fn cli(&self, args: &[&str], extra: &[(&str, &str)]) -> (i32, String, String) {
        use std::os::unix::process::ExitStatusExt;
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_cert-rotator"))
            .args(args)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .envs(self.env())
            .envs(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())))
            .output()
            .expect("run the CLI");
        let code = out
            .status
            .code()
            .unwrap_or_else(|| -out.status.signal().unwrap_or(0));
        (
            code,
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    /// Writes an event file for the CLI.
    pub fn event_file(&self, event: &serde_json::Value) -> std::path::PathBuf {
        let path = std::env::temp_dir().join(format!("{}.json", unique("event")));
        std::fs::write(&path, event.to_string()).unwrap();
        path
    }

    /// Runs the CLI on `event` (built with the `failpoints` feature) killed at failpoint `point`,
    /// with `extra` in its environment, and asserts it died there. Returns the run to repeat and
    /// the killed run's stdout and stderr.
    pub fn kill_at(
        &self,
        event: &serde_json::Value,
        point: &str,
        extra: &[(&str, &str)],
    ) -> (Rerun<'_>, String) {
        let run = Rerun {
            world: self,
            event: self.event_file(event),
        };
        let mut env = vec![Rerun::LEASE, ("CERT_ROTATOR_FAILPOINT", point)];
        env.extend_from_slice(extra);
        let (code, out, err) = self.cli(&run.args(), &env);
        assert!(
            code < 0 && err.contains(&format!("failpoint {point}: aborting")),
            "not killed at {point}: exit {code}\n{out}\n{err}"
        );
        (run, format!("{out}\n{err}"))
    }
}

/// The CLI run of one event that a test killed, to run again. Its lease is 2 s, so that the
/// killed run's lease has expired by [`Rerun::after_kill`].
pub struct Rerun<'w> {
    world: &'w World,
    event: std::path::PathBuf,
}

impl Rerun<'_> {
    const LEASE: (&'static str, &'static str) = ("CERT_ROTATOR_LOCK_SECONDS", "2");

    fn args(&self) -> [&str; 3] {
        ["run", "--event", self.event.to_str().unwrap()]
    }

    /// The next run, once the killed run's lease has expired: (exit code, stdout, stderr).
    pub async fn after_kill(&self, extra: &[(&str, &str)]) -> (i32, String, String) {
        tokio::time::sleep(std::time::Duration::from_millis(2200)).await;
        self.now(extra)
    }

    /// One more run at once (the previous one ended and released its lease).
    pub fn now(&self, extra: &[(&str, &str)]) -> (i32, String, String) {
        let mut env = vec![Self::LEASE];
        env.extend_from_slice(extra);
        self.world.cli(&self.args(), &env)
    }
}

/// A new bucket in `sdk`'s region.
async fn new_bucket(sdk: &SdkConfig, prefix: &str) -> String {
    let bucket = unique(prefix).to_lowercase().replace('x', "-");
    let region = sdk.region().expect("a region").to_string();
    let create = aws_sdk_s3::Client::new(sdk).create_bucket().bucket(&bucket);
    // us-east-1 takes no location constraint; every other region needs its own.
    let create = if region == "us-east-1" {
        create
    } else {
        create.create_bucket_configuration(
            aws_sdk_s3::types::CreateBucketConfiguration::builder()
                .location_constraint(aws_sdk_s3::types::BucketLocationConstraint::from(
                    region.as_str(),
                ))
                .build(),
        )
    };
    create.send().await.expect("create bucket");
    bucket
}
