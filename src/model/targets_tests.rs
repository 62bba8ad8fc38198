//! Unit tests of the parent module.
use super::*;
use serde_json::json;

fn ok(v: serde_json::Value, partition: Partition, region: &str) -> Targets {
    resolve(Some(&v), "targets", partition, region).unwrap()
}

fn fails(v: serde_json::Value, partition: Partition, region: &str) -> TargetError {
    resolve(Some(&v), "targets", partition, region).unwrap_err()
}

#[test]
fn every_service_of_the_table_lands_in_its_region() {
    for (service, key, _, _, placement) in TABLE {
        let t = ok(
            json!([{"type": "acm", "service": key, "region": if placement == Placement::Global { "us-east-1" } else { "ap-northeast-1" }}]),
            Partition::Aws,
            "eu-west-1",
        );
        let want = if placement == Placement::Global {
            "us-east-1"
        } else {
            "ap-northeast-1"
        };
        assert_eq!(
            t.acm,
            vec![AcmRegion {
                region: want.into(),
                services: vec![service]
            }],
            "{key}"
        );
        // Without a region: global services go to us-east-1, regional ones to the run's region.
        let t = ok(
            json!([{"type": "acm", "service": key}]),
            Partition::Aws,
            "eu-west-1",
        );
        let want = if placement == Placement::Global {
            "us-east-1"
        } else {
            "eu-west-1"
        };
        assert_eq!(t.acm[0].region, want, "{key}");
    }
}

#[test]
fn cloudfront_plus_an_alb_in_tokyo_is_two_regions() {
    let t = ok(
        json!([{"type": "acm", "service": "cloudfront"}, {"type": "acm", "service": "alb", "region": "ap-northeast-1"}, {"type": "acm", "service": "api-gateway-edge"}]),
        Partition::Aws,
        "us-east-1",
    );
    assert_eq!(t.cloudfront, Some(CloudFrontVia::Acm));
    assert_eq!(
        t.acm_regions().collect::<Vec<_>>(),
        ["us-east-1", "ap-northeast-1"]
    );
    assert_eq!(
        t.acm[0].services,
        [Service::Cloudfront, Service::ApiGatewayEdge]
    );
}

#[test]
fn a_cloudfront_certificate_outside_us_east_1_is_refused_with_the_reason() {
    let e = fails(
        json!([{"type": "acm", "service": "cloudfront", "region": "ap-northeast-1"}]),
        Partition::Aws,
        "ap-northeast-1",
    );
    assert_eq!(e.field, "targets[0].region");
    assert!(
        e.message.contains(
            "CloudFront must have its certificate in ACM in us-east-1, not ap-northeast-1"
        ),
        "{e}"
    );
    assert!(e.message.contains("control plane is in us-east-1"), "{e}");
    let e = fails(
        json!([{"type": "acm", "service": "api-gateway-edge", "region": "eu-west-1"}]),
        Partition::Aws,
        "eu-west-1",
    );
    assert!(
        e.message
            .contains("The certificate must be in us-east-1 Region")
            && e.message.contains("api-gateway-regional"),
        "{e}"
    );
}

#[test]
fn in_china_cloudfront_is_iam_and_acm_stays_in_china() {
    assert_eq!(ok(json!(["cloudfront-iam", {"type": "acm", "service": "alb", "region": "cn-northwest-1"}]), Partition::AwsCn, "cn-north-1").acm[0].region, "cn-northwest-1");
    let e = fails(
        json!([{"type": "acm", "service": "cloudfront"}]),
        Partition::AwsCn,
        "cn-north-1",
    );
    assert!(e.message.contains("use \"cloudfront-iam\""), "{e}");
    let e = fails(
        json!([{"type": "acm", "service": "amplify"}]),
        Partition::AwsCn,
        "cn-north-1",
    );
    assert!(e.message.contains("cn-north-1 or cn-northwest-1"), "{e}");
    let e = fails(
        json!([{"type": "acm", "service": "alb", "region": "ap-northeast-1"}]),
        Partition::AwsCn,
        "cn-north-1",
    );
    assert!(
        e.message.contains(
            "ap-northeast-1 is in partition aws, but this function runs in cn-north-1 (aws-cn)"
        ),
        "{e}"
    );
}

#[test]
fn bad_targets_name_their_field() {
    let cases = [
        (json!([]), "targets", "is empty"),
        (json!("cloudfront-iam"), "targets", "must be a list"),
        (
            json!([{"type": "s3"}]),
            "targets[0].type",
            "unknown target type",
        ),
        (json!([{"service": "alb"}]), "targets[0].type", "missing"),
        (
            json!([{"type": "acm", "service": "ec2"}]),
            "targets[0].service",
            "unknown service \"ec2\"",
        ),
        (
            json!([{"type": "acm", "service": "alb", "region": "Tokyo"}]),
            "targets[0].region",
            "not a region name",
        ),
        (
            json!([{"type": "acm"}]),
            "targets[0]",
            "names a \"service\"",
        ),
        (
            json!([{"type": "acm", "services": ["alb"]}]),
            "targets[0].services",
            "unknown field",
        ),
        (
            json!(["cloudfront-iam", {"type": "acm", "service": "cloudfront"}]),
            "targets[1]",
            "already served through IAM",
        ),
        (
            json!([{"type": "cloudfront-iam", "region": "us-east-1"}]),
            "targets[0]",
            "takes no service or region",
        ),
        (json!([7]), "targets[0]", "must be"),
    ];
    for (v, field, says) in cases {
        let e = fails(v.clone(), Partition::Aws, "us-east-1");
        assert_eq!(e.field, field, "{v}: {e}");
        assert!(e.message.contains(says), "{v}: {e}");
    }
}

#[test]
fn the_default_is_cloudfront_through_iam() {
    assert_eq!(
        resolve(None, "t", Partition::AwsCn, "cn-north-1").unwrap(),
        Targets::default()
    );
    assert_eq!(
        Service::parse("Application_Load_Balancer"),
        Some(Service::Alb)
    );
}
