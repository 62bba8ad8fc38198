//! Shared by the integration tests that run on the local bed (`make test` starts it; by hand:
//! `make bed-up`). The bed describes itself in target/bed/bed.json; tests build their SDK and
//! ACME configuration from it exactly as a user's environment would (endpoint URL, region,
//! credentials, ACME directory, CA bundle).
#![allow(dead_code, unreachable_pub, clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_route53::config::Credentials;
use cert_rotator::config::AcmeConfig;

pub fn bed() -> HashMap<String, String> {
    // CERT_ROTATOR_BED_DIR: a second bed beside the first (tests/bed/bed.py).
    let dir = std::env::var_os("CERT_ROTATOR_BED_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/bed"));
    let path = dir.join("bed.json");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|_| {
        panic!(
            "the test bed is not up ({} is missing): run `make test`, or `make bed-up` first",
            path.display()
        )
    });
    serde_json::from_str(&text).expect("bed.json is JSON")
}

pub async fn sdk_config(region: &str) -> SdkConfig {
    let bed = bed();
    aws_config::defaults(BehaviorVersion::latest())
        .region(Region::new(region.to_owned()))
        .endpoint_url(&bed["AWS_ENDPOINT_URL"])
        .credentials_provider(Credentials::new("testing", "testing", None, None, "bed"))
        .load()
        .await
}

/// An SDK configuration in AWS account `account` of its own, reached as a user would: by
/// assuming a role there with STS. Tests that retire "every unreferenced certificate of the
/// account" then cannot see each other's. The role, `cert-rotator-e2e`, is the tests' set-up
/// identity: the bed does not restrict it (it creates zones, distributions, buckets).
pub async fn sdk_config_for(region: &str, account: &str) -> (SdkConfig, Credentials) {
    let partition = cert_rotator::model::partition::Partition::of_region(region);
    assume_role(
        region,
        &partition.arn("iam", "", account, "role/cert-rotator-e2e"),
        "e2e",
    )
    .await
}

/// The role the stack's function runs as, as the bed knows it (tests/bed/motobed/authz.py): the
/// bed enforces template.yaml's policies, rendered with the role's `tags` (the stack's values:
/// `StackName`, `Region`, `ArchiveBucket`, template parameters by name), on every request made
/// with its credentials. Created in `setup`'s account; returns its SDK configuration.
pub async fn function_role(
    setup: &SdkConfig,
    account: &str,
    tags: &[(&str, &str)],
) -> (SdkConfig, Credentials) {
    let region = setup.region().expect("a region").to_string();
    let partition = cert_rotator::model::partition::Partition::of_region(&region);
    let trust = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"lambda.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#;
    let tags: Vec<_> = tags
        .iter()
        .map(|(k, v)| {
            aws_sdk_iam::types::Tag::builder()
                .key(*k)
                .value(*v)
                .build()
                .unwrap()
        })
        .collect();
    aws_sdk_iam::Client::new(setup)
        .create_role()
        .role_name(FUNCTION_ROLE)
        .assume_role_policy_document(trust)
        .set_tags(Some(tags))
        .send()
        .await
        .expect("create the function's role");
    let arn = partition.arn("iam", "", account, &format!("role/{FUNCTION_ROLE}"));
    assume_role(&region, &arn, "cert-rotator").await
}

/// The function's role name the bed enforces template.yaml on.
pub const FUNCTION_ROLE: &str = "cert-rotator-function";

/// Credentials from STS AssumeRole on `role_arn` (its account becomes the caller's), and an SDK
/// configuration using them.
async fn assume_role(region: &str, role_arn: &str, session: &str) -> (SdkConfig, Credentials) {
    let base = sdk_config(region).await;
    let assumed = aws_sdk_sts::Client::new(&base)
        .assume_role()
        .role_arn(role_arn)
        .role_session_name(session)
        .send()
        .await
        .expect("assume a role in the test account");
    let c = assumed.credentials().expect("credentials");
    let creds = Credentials::new(
        c.access_key_id(),
        c.secret_access_key(),
        Some(c.session_token().to_owned()),
        None,
        "bed-account",
    );
    let bed = bed();
    let sdk = aws_config::defaults(BehaviorVersion::latest())
        .region(Region::new(region.to_owned()))
        .endpoint_url(&bed["AWS_ENDPOINT_URL"])
        .credentials_provider(creds.clone())
        // Fault tests throttle this account; the tests' own checks retry through it too.
        .retry_config(aws_config::retry::RetryConfig::standard().with_max_attempts(10))
        .load()
        .await;
    (sdk, creds)
}

/// A fresh 12-digit account id.
pub fn account_id() -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!(
        "{:012}",
        (nanos / 1000 + u128::from(N.fetch_add(1, Ordering::Relaxed)) * 7919) % 1_000_000_000_000
    )
}

pub fn acme_config() -> AcmeConfig {
    let bed = bed();
    AcmeConfig::from_lookup(|k| bed.get(k).cloned()).expect("the bed's ACME settings are valid")
}

/// The run configuration the bed's env describes (with a placeholder bucket).
pub fn acme_run_config() -> cert_rotator::config::Config {
    let bed = bed();
    cert_rotator::config::Config::from_lookup(|k| {
        if k == "CERT_ROTATOR_BUCKET" {
            Some("unused".into())
        } else {
            bed.get(k).cloned()
        }
    })
    .expect("the bed's settings are valid")
}

/// A name no other test uses.
pub fn unique(prefix: &str) -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!(
        "{prefix}{}x{nanos:x}x{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// A plain HTTP request to one of the bed's control ports; returns (status, body).
pub fn http(method: &str, url: &str, body: &str) -> (u16, String) {
    let rest = url
        .strip_prefix("http://")
        .expect("control URLs are plain http");
    let (host, path) = rest
        .split_once('/')
        .map(|(h, p)| (h, format!("/{p}")))
        .unwrap_or((rest, "/".into()));
    let mut stream = TcpStream::connect(host).expect("control port answers");
    write!(stream, "{method} {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}", body.len()).unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let status = response
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    (status, body)
}

pub async fn create_zone(sdk: &SdkConfig, name: &str) -> String {
    let r53 = aws_sdk_route53::Client::new(sdk);
    let out = r53
        .create_hosted_zone()
        .name(name)
        .caller_reference(unique("ref"))
        .send()
        .await
        .expect("create hosted zone");
    out.hosted_zone()
        .unwrap()
        .id()
        .trim_start_matches("/hostedzone/")
        .to_owned()
}
pub mod accounts;
pub mod logs;
pub mod malformed;
pub mod pki;
pub mod world;
