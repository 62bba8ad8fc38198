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
//! regional `.amazonaws.com.cn` endpoints (ELB included). STS is regional; a session assumed
//! through it (`cert_rotator::aws::sts::Sessions`: a DNS account's role, a CDN account's
//! `Clients::in_account`) resolves the same endpoints and signs with the session's keys.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::{Arc, Mutex};

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_iam::config::{Credentials, SharedCredentialsProvider};
use aws_smithy_async::rt::sleep::{SharedAsyncSleep, TokioSleep};
use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpClient,
    SharedHttpConnector,
};
use aws_smithy_runtime_api::client::orchestrator::{HttpRequest, HttpResponse};
use aws_smithy_runtime_api::client::result::ConnectorError;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::body::SdkBody;
use cert_rotator::aws::route53::Route53;
use cert_rotator::aws::sts::Sessions;
use cert_rotator::aws::{with_timeouts, Clients};
use cert_rotator::config::Limits;
use cert_rotator::model::partition::Partition;
use cert_rotator::model::role::{Members, Role};

/// One request as it would have left the machine.
#[derive(Debug, Clone)]
struct Sent {
    host: String,
    /// The access key that signed it.
    key: String,
    /// `<region>/<service>` of the SigV4 credential scope.
    scope: String,
}

/// STS's answer to AssumeRole (the shape of the API reference's example).
const ASSUMED: &str = r#"<AssumeRoleResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">
  <AssumeRoleResult>
    <AssumedRoleUser>
      <Arn>arn:aws-cn:sts::111122223333:assumed-role/dns/cert-rotator-r1</Arn>
      <AssumedRoleId>AROA3XFRBF535PLBIFPI4:cert-rotator-r1</AssumedRoleId>
    </AssumedRoleUser>
    <Credentials>
      <AccessKeyId>ASIASESSIONEXAMPLE</AccessKeyId>
      <SecretAccessKey>session-secret</SecretAccessKey>
      <SessionToken>session-token</SessionToken>
      <Expiration>2099-01-01T00:00:00Z</Expiration>
    </Credentials>
  </AssumeRoleResult>
  <ResponseMetadata><RequestId>c6104cbe-af31-11e0-8154-cbc7ccf896c7</RequestId></ResponseMetadata>
</AssumeRoleResponse>"#;

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
        let key = auth
            .split("Credential=")
            .nth(1)
            .and_then(|c| c.split('/').next())
            .unwrap_or_default()
            .to_owned();
        let sts = host.starts_with("sts.");
        self.0.lock().unwrap().push(Sent { host, scope, key });
        if sts {
            // STS answers AssumeRole, so that the session's own calls can be recorded.
            let body = SdkBody::from(ASSUMED);
            return HttpConnectorFuture::ready(Ok(HttpResponse::new(
                200.try_into().unwrap(),
                body,
            )));
        }
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

/// The one request each adapter's call made, by service, with the function's own clients.
async fn resolved(region: &str) -> Vec<(&'static str, Sent)> {
    let recorder = Recorder::default();
    let clients = Clients::new(&production_sdk(region, &recorder), "archive", None).unwrap();
    calls(&clients, region, &recorder).await
}

/// One call of each of `clients`' adapters, by service: the request `recorder` saw.
async fn calls(clients: &Clients, region: &str, recorder: &Recorder) -> Vec<(&'static str, Sent)> {
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
    assert!(clients.elb.iam_certificates_in_use(region).await.is_err());
    sent.push(("elb", last()));
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
    expect(
        &sent,
        "elb",
        "elasticloadbalancing.cn-north-1.amazonaws.com.cn",
        "cn-north-1/elasticloadbalancing",
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
    expect(
        &sent,
        "elb",
        "elasticloadbalancing.ap-northeast-1.amazonaws.com",
        "ap-northeast-1/elasticloadbalancing",
    );
}

/// STS in `region`, and Route 53 through the session it gives: (sts, route53 as the session).
async fn through_a_role(region: &str, role: &str) -> (Sent, Sent) {
    let recorder = Recorder::default();
    let sdk = production_sdk(region, &recorder);
    let role = Role::parse(role, Some("ops-2026".into())).unwrap();
    let members = Members::parse(Some(role.account()), None).unwrap();
    let sessions = Sessions::new(&sdk, Partition::of_region(region), "r1").trusting(&members);
    let assumed = sessions.config(&role).await.unwrap();
    let sts = recorder.0.lock().unwrap().last().cloned().unwrap();
    assert!(Route53::new(&assumed).public_zones().await.is_err());
    let route53 = recorder.0.lock().unwrap().last().cloned().unwrap();
    (sts, route53)
}

#[tokio::test]
async fn a_role_is_assumed_at_the_regional_sts_and_its_session_keeps_the_partitions_endpoints() {
    for (region, sts_host, route53_host, route53_scope) in [
        (
            "cn-north-1",
            "sts.cn-north-1.amazonaws.com.cn",
            "route53.amazonaws.com.cn",
            "cn-northwest-1/route53",
        ),
        (
            "cn-northwest-1",
            "sts.cn-northwest-1.amazonaws.com.cn",
            "route53.amazonaws.com.cn",
            "cn-northwest-1/route53",
        ),
        (
            "ap-northeast-1",
            "sts.ap-northeast-1.amazonaws.com",
            "route53.amazonaws.com",
            "us-east-1/route53",
        ),
    ] {
        let partition = Partition::of_region(region).as_str();
        let role = format!("arn:{partition}:iam::111122223333:role/dns");
        let (sts, route53) = through_a_role(region, &role).await;
        assert_eq!(
            (sts.host.as_str(), sts.scope.as_str(), sts.key.as_str()),
            (sts_host, format!("{region}/sts").as_str(), "AKIDEXAMPLE"),
            "{region}: STS, signed by the function"
        );
        assert_eq!(
            (
                route53.host.as_str(),
                route53.scope.as_str(),
                route53.key.as_str()
            ),
            (route53_host, route53_scope, "ASIASESSIONEXAMPLE"),
            "{region}: Route 53 as the session"
        );
    }
}

/// A CDN account's clients (`Clients::in_account`, a domain's `account`): IAM, CloudFront, ACM
/// and ELB act as the session, on the very endpoints and signing regions of the function's own;
/// the archive, the ACME account's secret and the DNS stay the function's.
#[tokio::test]
async fn a_cdn_accounts_clients_act_as_its_session_on_the_same_endpoints() {
    for region in ["cn-north-1", "cn-northwest-1", "ap-northeast-1"] {
        let recorder = Recorder::default();
        let sdk = production_sdk(region, &recorder);
        let own = Clients::new(&sdk, "archive", None).unwrap();
        let partition = Partition::of_region(region);
        let members = Members::parse(Some("444455556666"), None).unwrap();
        let sessions = Sessions::new(&sdk, partition, "r1").trusting(&members);
        let arn = format!("arn:{}:iam::444455556666:role/cdn", partition.as_str());
        let role = Role::parse(&arn, None).unwrap();
        let session = sessions.config(&role).await.unwrap();
        let theirs = own.in_account(&session, &role);
        let as_own = calls(&own, region, &recorder).await;
        let as_theirs = calls(&theirs, region, &recorder).await;
        for ((service, mine), (_, sent)) in as_own.iter().zip(&as_theirs) {
            assert_eq!(
                (&sent.host, &sent.scope),
                (&mine.host, &mine.scope),
                "{region}: {service}"
            );
            let signer = match *service {
                "iam" | "cloudfront" | "acm" | "elb" => "ASIASESSIONEXAMPLE",
                _ => "AKIDEXAMPLE",
            };
            assert_eq!(sent.key, signer, "{region}: {service}");
        }
    }
}
