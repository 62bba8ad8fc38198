"""The bed itself: partitions, DNS answered from Route 53 state, the ARI proxy, the faults layer."""

import json
import random
import ssl
import urllib.error
import urllib.request

import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from dnslib import QTYPE, RCODE, DNSRecord

from conftest import control, make_client, make_cert, unique
from test_fidelity_route53 import change, txt, zone


def ask(bed, name, qtype="TXT"):
    host, port = bed["BED_DNS"].rsplit(":", 1)
    return DNSRecord.parse(DNSRecord.question(name, qtype).send(host, int(port), timeout=2))


def test_partitions_are_kept_apart_with_their_own_arns(clients):
    body, key, _ = make_cert(["p.example.cn"])
    cn = clients("iam", "cn-north-1").upload_server_certificate(ServerCertificateName=unique("p"), CertificateBody=body, PrivateKey=key, Path="/cloudfront/")
    assert cn["ServerCertificateMetadata"]["Arn"].startswith("arn:aws-cn:iam::")
    g = clients("iam", "us-east-1")
    assert g.upload_server_certificate(ServerCertificateName=unique("p"), CertificateBody=body, PrivateKey=key)["ServerCertificateMetadata"]["Arn"].startswith("arn:aws:iam::")
    with pytest.raises(ClientError):
        g.get_server_certificate(ServerCertificateName=cn["ServerCertificateMetadata"]["ServerCertificateName"])
    assert clients("sts", "cn-north-1").get_caller_identity()["Arn"].startswith("arn:aws-cn:")


def test_dns_answers_what_route53_holds_the_moment_the_call_returns(clients, bed):
    r53 = clients("route53")
    zid, name = zone(r53)
    rec = f"_acme-challenge.{name}"
    change(r53, zid, txt("CREATE", rec, "apex-token", "wildcard-token"))
    reply = ask(bed, rec)
    assert reply.header.rcode == RCODE.NOERROR and reply.header.aa == 1
    assert sorted(str(rr.rdata).strip('"') for rr in reply.rr) == ["apex-token", "wildcard-token"]
    change(r53, zid, txt("DELETE", rec, "apex-token", "wildcard-token"))
    gone = ask(bed, rec)
    assert gone.header.rcode == RCODE.NXDOMAIN and gone.auth[0].rtype == QTYPE.SOA


def test_dns_answers_ns_and_soa_and_the_name_servers_addresses(clients, bed):
    r53 = clients("route53")
    _, name = zone(r53)
    ns = ask(bed, name, "NS")
    assert ns.rr and all(rr.rtype == QTYPE.NS for rr in ns.rr)
    assert ask(bed, name, "SOA").rr[0].rtype == QTYPE.SOA
    a = ask(bed, str(ns.rr[0].rdata), "A")
    assert str(a.rr[0].rdata) == bed["BED_DNS"].rsplit(":", 1)[0], "name servers resolve to the bed's DNS"


def test_dns_refuses_names_outside_public_zones(clients, bed):
    r53 = clients("route53")
    private = f"{unique('private')}.example.cn"
    r53.create_hosted_zone(Name=private, CallerReference=unique("ref"), HostedZoneConfig={"PrivateZone": True},
                           VPC={"VPCRegion": "cn-north-1", "VPCId": "vpc-12345678"})
    assert ask(bed, f"x.{private}").header.rcode == RCODE.REFUSED
    assert ask(bed, "nowhere.invalid").header.rcode == RCODE.REFUSED


def _get(url, ca):
    ctx = ssl.create_default_context(cafile=ca)
    with urllib.request.urlopen(url, context=ctx, timeout=5) as r:
        return r.status, dict(r.headers), json.loads(r.read())


def test_ari_proxy_adds_renewal_info_and_answers_windows_a_test_sets(bed):
    ca = bed["CERT_ROTATOR_ACME_CA_BUNDLE"]
    _, _, directory = _get(bed["CERT_ROTATOR_ACME_DIRECTORY"], ca)
    assert directory["renewalInfo"].endswith("/renewalInfo") and directory["newOrder"].startswith(bed["CERT_ROTATOR_ACME_DIRECTORY"].rsplit("/", 1)[0])
    with pytest.raises(urllib.error.HTTPError) as e:
        _get(directory["renewalInfo"] + "/AAAA.BBBB", ca)
    assert e.value.code == 404
    window = {"start": "2030-01-01T00:00:00Z", "end": "2030-01-02T00:00:00Z"}
    req = urllib.request.Request(bed["BED_ARI_CONTROL_URL"] + "/windows/AAAA.BBBB", data=json.dumps(window).encode(), method="PUT")
    urllib.request.urlopen(req, timeout=5).read()
    status, headers, body = _get(directory["renewalInfo"] + "/AAAA.BBBB", ca)
    assert status == 200 and body["suggestedWindow"] == window and int(headers["Retry-After"]) > 0


def test_fault_rules_answer_the_nth_call_with_an_aws_error_and_calls_are_counted(bed):
    control(bed, "/calls/reset", {})
    control(bed, "/faults", {"service": "iam", "operation": "ListServerCertificates", "nth": 2, "code": "ServiceFailure", "status": 500})
    iam = make_client(bed, "iam", "cn-north-1", config=Config(retries={"mode": "standard", "total_max_attempts": 1}))
    iam.list_server_certificates()
    with pytest.raises(ClientError) as e:
        iam.list_server_certificates()
    assert e.value.response["Error"]["Code"] == "ServiceFailure"
    iam.list_server_certificates()
    assert control(bed, "/calls", method="GET")["iam:ListServerCertificates"] == 3


def test_concurrent_conditional_writes_to_one_key_let_exactly_one_win(clients):
    import concurrent.futures

    s3 = clients("s3")
    bucket = unique("race").lower()
    s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": "cn-north-1"})

    def attempt(i):
        try:
            s3.put_object(Bucket=bucket, Key="lock/run", Body=f"run {i}".encode(), IfNoneMatch="*")
            return "won"
        except ClientError as e:
            return e.response["Error"]["Code"]

    with concurrent.futures.ThreadPoolExecutor(16) as pool:
        results = list(pool.map(attempt, range(32)))
    assert results.count("won") == 1, results
    assert set(results) == {"won", "PreconditionFailed"}, results


def test_a_fault_rule_may_delay_a_call_and_then_answer_normally_or_with_its_error(bed):
    import time

    iam = make_client(bed, "iam", "cn-north-1", config=Config(retries={"mode": "standard", "total_max_attempts": 1}))
    control(bed, "/faults", {"service": "iam", "operation": "ListServerCertificates", "delay": 0.6, "times": 1})
    started = time.monotonic()
    iam.list_server_certificates()  # answered by moto, late
    assert time.monotonic() - started >= 0.6
    started = time.monotonic()
    iam.list_server_certificates()
    assert time.monotonic() - started < 0.5, "times: 1"
    control(bed, "/faults", {"service": "iam", "operation": "ListServerCertificates", "delay": 0.3, "code": "ServiceFailure",
                             "status": 500, "times": 1})
    started = time.monotonic()
    with pytest.raises(ClientError) as e:
        iam.list_server_certificates()
    assert e.value.response["Error"]["Code"] == "ServiceFailure" and time.monotonic() - started >= 0.3
    assert control(bed, "/calls", method="GET")["faults:delay"] == 2


def test_a_fault_rule_may_name_the_region_and_the_account(bed, new_stack):
    no_retries = Config(retries={"mode": "standard", "total_max_attempts": 1})
    control(bed, "/faults", {"service": "acm", "region": "cn-northwest-1", "code": "ThrottlingException"})
    make_client(bed, "acm", "cn-north-1", config=no_retries).list_certificates()
    with pytest.raises(ClientError) as e:
        make_client(bed, "acm", "cn-northwest-1", config=no_retries).list_certificates()
    assert e.value.response["Error"]["Code"] == "ThrottlingException"
    stack = new_stack()
    control(bed, "/faults", {"service": "route53", "account": stack.account, "code": "PriorRequestNotComplete"})
    make_client(bed, "route53", "cn-north-1", config=no_retries).list_hosted_zones()  # the static keys' account
    for who in ("setup", "function"):  # any caller acting in that account
        with pytest.raises(ClientError) as e:
            stack.client(who, "route53").list_hosted_zones()
        assert e.value.response["Error"]["Code"] == "PriorRequestNotComplete", who


def test_a_fault_rule_may_name_a_path(bed):
    no_retries = Config(retries={"mode": "standard", "total_max_attempts": 1})
    s3 = make_client(bed, "s3", "cn-north-1", config=no_retries)
    bucket = f"path-rule-{random.randrange(10**9)}"
    s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": "cn-north-1"})
    control(bed, "/faults", {"service": "s3", "operation": "PUT", "path": f"/{bucket}/lock/run",
                             "code": "ServiceUnavailable", "status": 503})
    s3.put_object(Bucket=bucket, Key="archive/x", Body=b"x")
    with pytest.raises(ClientError) as e:
        s3.put_object(Bucket=bucket, Key="lock/run", Body=b"x")
    assert e.value.response["Error"]["Code"] == "ServiceUnavailable"


def test_a_fault_rule_needs_a_code_or_a_delay(bed):
    for rule in ({"service": "iam"}, {"delay": -1}, {"delay": "soon"}):
        with pytest.raises(urllib.error.HTTPError) as e:
            control(bed, "/faults", rule)
        assert e.value.code == 400, rule
