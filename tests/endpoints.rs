//! The endpoints production resolves, without the bed's `AWS_ENDPOINT_URL` (issue #14 part 5).
//!
//! Every run on the bed sets `AWS_ENDPOINT_URL`, so no bed test ever resolves a real endpoint. Here
//! the run's clients are built exactly as `Clients::new` builds them in production — from an
//! `SdkConfig` with a region and no endpoint override, with the run's timeouts — over an HTTP
//! client that records each request instead of sending it. Each adapter makes one call; the
//! recorded request shows the host the SDK resolved and the credential scope it signed
//! (`<date>/<region>/<service>/aws4_request`). In AWS China IAM, CloudFront and Route 53 are
//! partition-global services with endpoints and signing regions of their own
//! (<https://docs.amazonaws.cn/en_us/aws/latest/userguide/endpoints-arns.html>); the others are
//! regional `.amazonaws.com.cn` endpoints.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::{Arc, Mutex};

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_iam::config::{Credentials, SharedCredentialsProvider};
use aws_smithy_async::rt::sleep::{SharedAsyncSleep, TokioSleep};
use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpClient,
    SharedHttpConnector,
};
use aws_smithy_runtime_api::client::orchestrator::HttpRequest;
use aws_smithy_runtime_api::client::result::ConnectorError;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use cert_rotator::aws::{with_timeouts, Clients};
use cert_rotator::config::Limits;

/// One request as it would have left the machine.
#[derive(Debug, Clone)]
struct Sent {
    host: String,
    /// `<region>/<service>` of the SigV4 credential scope.
    scope: String,
}

/// An HTTP client that records requests and answers none (the call fails at once).
#[derive(Debug, Clone, Default)]
struct Recorder(Arc<Mutex<Vec<Sent>>>);

impl HttpConnector for Recorder {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        let uri = request.uri();
        let authority = uri.split("://").nth(1).unwrap_or(uri);
        let host = authority
            .split(['/', ':', '?'])
            .next()
            .unwrap_or_default()
            .to_owned();
        let auth = request.headers().get("authorization").unwrap_or_default();
        let scope = auth
            .split("Credential=")
            .nth(1)
            .and_then(|c| c.split(',').next())
            .map(|c| c.split('/').skip(2).take(2).collect::<Vec<_>>().join("/"))
            .unwrap_or_default();
        self.0.lock().unwrap().push(Sent { host, scope });
        HttpConnectorFuture::ready(Err(ConnectorError::other(
            "recorded, not sent".into(),
            None,
        )))
    }
}

impl HttpClient for Recorder {
    fn http_connector(
        &self,
        _: &HttpConnectorSettings,
        _: &RuntimeComponents,
    ) -> SharedHttpConnector {
        SharedHttpConnector::new(self.clone())
    }
}

/// What production's `aws_config::load_defaults` yields in `region` (no endpoint override), with
/// the run's timeouts, over `recorder`.
fn production_sdk(region: &str, recorder: &Recorder) -> SdkConfig {
    let sdk = SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(region.to_owned()))
        .credentials_provider(SharedCredentialsProvider::new(Credentials::new(
            "AKIDEXAMPLE",
            "secret",
            None,
            None,
            "test",
        )))
        .http_client(SharedHttpClient::new(recorder.clone()))
        .sleep_impl(SharedAsyncSleep::new(TokioSleep::new()))
        .retry_config(aws_config::retry::RetryConfig::disabled())
        .build();
    with_timeouts(&sdk, &Limits::default().aws_timeouts)
}

/// The one request each adapter's call made, by service.
async fn resolved(region: &str) -> Vec<(&'static str, Sent)> {
    let recorder = Recorder::default();
    let clients = Clients::new(&production_sdk(region, &recorder), "archive", None).unwrap();
    let last = || recorder.0.lock().unwrap().last().cloned().unwrap();
    let mut sent = Vec::new();
    assert!(clients.iam.list("/cloudfront/").await.is_err());
    sent.push(("iam", last()));
    assert!(clients.cloudfront.list().await.is_err());
    sent.push(("cloudfront", last()));
    assert!(clients.route53.public_zones().await.is_err());
    sent.push(("route53", last()));
    assert!(clients.s3.keys("archive/").await.is_err());
    sent.push(("s3", last()));
    assert!(clients
        .secrets
        .get("cert-rotator/acme-account")
        .await
        .is_err());
    sent.push(("secretsmanager", last()));
    assert!(clients.acm.list_tagged(region, "k", "v").await.is_err());
    sent.push(("acm", last()));
    sent
}

fn expect(sent: &[(&str, Sent)], service: &str, host: &str, scope: &str) {
    let (_, got) = sent.iter().find(|(s, _)| *s == service).unwrap();
    assert_eq!(
        (got.host.as_str(), got.scope.as_str()),
        (host, scope),
        "{service}"
    );
}

/// IAM, CloudFront and Route 53 are partition-global in AWS China, whatever the run's region.
fn expect_china_globals(sent: &[(&str, Sent)]) {
    expect(
        sent,
        "iam",
        "iam.cn-north-1.amazonaws.com.cn",
        "cn-north-1/iam",
    );
    expect(
        sent,
        "cloudfront",
        "cloudfront.cn-northwest-1.amazonaws.com.cn",
        "cn-northwest-1/cloudfront",
    );
    expect(
        sent,
        "route53",
        "route53.amazonaws.com.cn",
        "cn-northwest-1/route53",
    );
}

#[tokio::test]
async fn in_beijing_every_client_resolves_its_china_endpoint() {
    let sent = resolved("cn-north-1").await;
    expect_china_globals(&sent);
    expect(
        &sent,
        "s3",
        "archive.s3.cn-north-1.amazonaws.com.cn",
        "cn-north-1/s3",
    );
    expect(
        &sent,
        "secretsmanager",
        "secretsmanager.cn-north-1.amazonaws.com.cn",
        "cn-north-1/secretsmanager",
    );
    expect(
        &sent,
        "acm",
        "acm.cn-north-1.amazonaws.com.cn",
        "cn-north-1/acm",
    );
}

#[tokio::test]
async fn in_ningxia_the_global_services_keep_their_china_endpoints() {
    let sent = resolved("cn-northwest-1").await;
    expect_china_globals(&sent);
    expect(
        &sent,
        "s3",
        "archive.s3.cn-northwest-1.amazonaws.com.cn",
        "cn-northwest-1/s3",
    );
    expect(
        &sent,
        "acm",
        "acm.cn-northwest-1.amazonaws.com.cn",
        "cn-northwest-1/acm",
    );
}

#[tokio::test]
async fn in_a_global_region_the_global_services_sign_for_us_east_1() {
    let sent = resolved("ap-northeast-1").await;
    expect(&sent, "iam", "iam.amazonaws.com", "us-east-1/iam");
    expect(
        &sent,
        "cloudfront",
        "cloudfront.amazonaws.com",
        "us-east-1/cloudfront",
    );
    expect(
        &sent,
        "route53",
        "route53.amazonaws.com",
        "us-east-1/route53",
    );
    expect(
        &sent,
        "s3",
        "archive.s3.ap-northeast-1.amazonaws.com",
        "ap-northeast-1/s3",
    );
    expect(
        &sent,
        "secretsmanager",
        "secretsmanager.ap-northeast-1.amazonaws.com",
        "ap-northeast-1/secretsmanager",
    );
    expect(
        &sent,
        "acm",
        "acm.ap-northeast-1.amazonaws.com",
        "ap-northeast-1/acm",
    );
}
