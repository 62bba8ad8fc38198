"""Elastic Load Balancing on the bed (motobed/elb.py), through boto3: listeners serving IAM server
certificates, v1 and v2. The test marked `fidelity` is the rule (it fails on plain moto); the
others check what plain moto already does as AWS does, which cert-rotator relies on."""

import pytest

from conftest import make_cert, unique


def _iam_certificate(clients, name):
    body, key, _ = make_cert([f"{name}.example.cn"])
    meta = clients("iam").upload_server_certificate(
        ServerCertificateName=name, Path="/cloudfront/", CertificateBody=body, PrivateKey=key
    )["ServerCertificateMetadata"]
    return meta["Arn"]


def _alb(clients, region="cn-north-1"):
    ec2, v2 = clients("ec2", region), clients("elbv2", region)
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    subnets = [
        ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.0.{i}.0/24", AvailabilityZone=f"{region}{az}")["Subnet"]["SubnetId"]
        for i, az in ((1, "a"), (2, "b"))
    ]
    lb = v2.create_load_balancer(Name=unique("alb"), Subnets=subnets)["LoadBalancers"][0]["LoadBalancerArn"]
    tg = v2.create_target_group(Name=unique("tg"), Protocol="HTTP", Port=80, VpcId=vpc)["TargetGroups"][0]["TargetGroupArn"]
    return v2, lb, tg


@pytest.mark.fidelity
def test_describe_listeners_returns_only_the_default_certificate(clients):
    default, extra = _iam_certificate(clients, unique("default")), _iam_certificate(clients, unique("extra"))
    v2, lb, tg = _alb(clients)
    listener = v2.create_listener(LoadBalancerArn=lb, Protocol="HTTPS", Port=443,
                                  Certificates=[{"CertificateArn": default}],
                                  DefaultActions=[{"Type": "forward", "TargetGroupArn": tg}])["Listeners"][0]["ListenerArn"]
    v2.add_listener_certificates(ListenerArn=listener, Certificates=[{"CertificateArn": extra}])
    described = v2.describe_listeners(LoadBalancerArn=lb)["Listeners"][0]
    assert described["Certificates"] == [{"CertificateArn": default}]
    assert v2.describe_listeners(ListenerArns=[listener])["Listeners"][0]["Certificates"] == [{"CertificateArn": default}]
    full = v2.describe_listener_certificates(ListenerArn=listener)["Certificates"]
    assert {c["CertificateArn"] for c in full} == {default, extra}, "the full list is intact"


def test_a_classic_listener_keeps_its_iam_certificate(clients):
    arn = _iam_certificate(clients, unique("classic"))
    elb = clients("elb")
    name = unique("classic").replace("_", "-")[:32]
    elb.create_load_balancer(LoadBalancerName=name, AvailabilityZones=["cn-north-1a"], Listeners=[
        {"Protocol": "HTTPS", "LoadBalancerPort": 443, "InstanceProtocol": "HTTP", "InstancePort": 80, "SSLCertificateId": arn}])
    described = elb.describe_load_balancers(LoadBalancerNames=[name])["LoadBalancerDescriptions"][0]
    assert [d["Listener"]["SSLCertificateId"] for d in described["ListenerDescriptions"]] == [arn]


def test_v1_and_v2_share_the_endpoint_and_are_told_apart_by_version(clients):
    v2, lb, _ = _alb(clients, "cn-northwest-1")
    elb = clients("elb", "cn-northwest-1")
    name = unique("v1").replace("_", "-")[:32]
    elb.create_load_balancer(LoadBalancerName=name, AvailabilityZones=["cn-northwest-1a"], Listeners=[
        {"Protocol": "HTTP", "LoadBalancerPort": 80, "InstanceProtocol": "HTTP", "InstancePort": 80}])
    assert name in [d["LoadBalancerName"] for d in elb.describe_load_balancers()["LoadBalancerDescriptions"]]
    assert lb in [b["LoadBalancerArn"] for b in v2.describe_load_balancers()["LoadBalancers"]]
    assert name not in [b["LoadBalancerName"] for b in v2.describe_load_balancers()["LoadBalancers"]]
