"""CloudFront rules of the fidelity layer (motobed/cloudfront.py), through boto3."""

import time

import pytest
from botocore.exceptions import ClientError

from conftest import control, make_cert, unique

pytestmark = pytest.mark.fidelity


def distribution_config(aliases, cert_id=None, **viewer):
    vc = {"IAMCertificateId": cert_id, "SSLSupportMethod": "sni-only", "MinimumProtocolVersion": "TLSv1.2_2021"} if cert_id else {"CloudFrontDefaultCertificate": True}
    vc.update(viewer)
    return {
        "CallerReference": unique("ref"),
        "Aliases": {"Quantity": len(aliases), "Items": aliases},
        "Origins": {"Quantity": 1, "Items": [{"Id": "o1", "DomainName": "origin.example.cn", "CustomOriginConfig": {"HTTPPort": 80, "HTTPSPort": 443, "OriginProtocolPolicy": "https-only"}}]},
        "DefaultCacheBehavior": {"TargetOriginId": "o1", "ViewerProtocolPolicy": "redirect-to-https", "CachePolicyId": "658327ea-f89d-4fab-a63d-7e88639e58f6"},
        "Comment": "fidelity test",
        "Enabled": True,
        "ViewerCertificate": vc,
    }


def create_distribution(cf, aliases, cert_id=None, **viewer):
    return cf.create_distribution(DistributionConfig=distribution_config(aliases, cert_id, **viewer))["Distribution"]


def cloudfront_cert(iam, names, path="/cloudfront/", **kw):
    body, key, _ = make_cert(names, **kw)
    return iam.upload_server_certificate(Path=path, ServerCertificateName=unique("cf"), CertificateBody=body, PrivateKey=key)["ServerCertificateMetadata"]["ServerCertificateId"]


def code(e) -> str:
    return e.value.response["Error"]["Code"]


def status(e) -> int:
    return e.value.response["ResponseMetadata"]["HTTPStatusCode"]


def swap(cf, dist_id, cert_id, if_match=None):
    got = cf.get_distribution_config(Id=dist_id)
    config = got["DistributionConfig"]
    config["ViewerCertificate"].update({"IAMCertificateId": cert_id, "Certificate": cert_id, "CertificateSource": "iam"})
    return cf.update_distribution(Id=dist_id, IfMatch=if_match or got["ETag"], DistributionConfig=config)


@pytest.fixture
def cn(clients):
    return clients("iam"), clients("cloudfront")


def test_stale_if_match_is_412_precondition_failed(cn, bed):
    iam, cf = cn
    alias = f"{unique('etag')}.example.cn"
    dist = create_distribution(cf, [alias], cloudfront_cert(iam, [alias]))
    stale = cf.get_distribution_config(Id=dist["Id"])["ETag"]
    control(bed, "/settings", {"cloudfront_deploy_seconds": 0})
    swap(cf, dist["Id"], cloudfront_cert(iam, [alias]))
    with pytest.raises(ClientError) as e:
        swap(cf, dist["Id"], cloudfront_cert(iam, [alias]), if_match=stale)
    assert code(e) == "PreconditionFailed" and status(e) == 412


def test_each_update_issues_a_new_etag_and_deploys_after_a_delay(cn, bed):
    iam, cf = cn
    control(bed, "/settings", {"cloudfront_deploy_seconds": 0.5})
    alias = f"{unique('deploy')}.example.cn"
    dist = create_distribution(cf, [alias], cloudfront_cert(iam, [alias]))
    assert dist["Status"] == "InProgress"
    first = cf.get_distribution(Id=dist["Id"])["ETag"]
    time.sleep(0.6)
    assert cf.get_distribution(Id=dist["Id"])["Distribution"]["Status"] == "Deployed"
    updated = swap(cf, dist["Id"], cloudfront_cert(iam, [alias]))
    assert updated["ETag"] != first and updated["Distribution"]["Status"] == "InProgress"
    time.sleep(0.6)
    assert cf.get_distribution(Id=dist["Id"])["Distribution"]["Status"] == "Deployed"


def test_second_certificate_change_while_in_progress_is_illegal_update(cn, bed):
    iam, cf = cn
    control(bed, "/settings", {"cloudfront_deploy_seconds": 30})
    alias = f"{unique('busy')}.example.cn"
    dist = create_distribution(cf, [alias], cloudfront_cert(iam, [alias]))
    swap(cf, dist["Id"], cloudfront_cert(iam, [alias]))
    with pytest.raises(ClientError) as e:
        swap(cf, dist["Id"], cloudfront_cert(iam, [alias]))
    assert code(e) == "IllegalUpdate"


@pytest.mark.parametrize("case", ["unknown-id", "not-under-cloudfront-path", "does-not-cover-alias", "expired", "other-partition"])
def test_viewer_certificate_must_be_a_valid_covering_cloudfront_iam_certificate(clients, case):
    iam, cf = clients("iam"), clients("cloudfront")
    alias = f"{unique('vc')}.example.cn"
    cert_id = {
        "unknown-id": lambda: "ASCANOSUCHCERTIFICATE",
        "not-under-cloudfront-path": lambda: cloudfront_cert(iam, [alias], path="/"),
        "does-not-cover-alias": lambda: cloudfront_cert(iam, ["other.example.cn", "*.sub." + alias]),
        "expired": lambda: cloudfront_cert(iam, [alias], days_valid=1, not_before=__import__("datetime").datetime(2020, 1, 1, tzinfo=__import__("datetime").timezone.utc)),
        "other-partition": lambda: cloudfront_cert(clients("iam", "us-east-1"), [alias]),
    }[case]()
    with pytest.raises(ClientError) as e:
        create_distribution(cf, [alias], cert_id)
    assert code(e) == "InvalidViewerCertificate"


def test_wildcard_covers_exactly_one_label(cn):
    iam, cf = cn
    base = f"{unique('wild')}.example.cn"
    cert = cloudfront_cert(iam, ["*." + base])
    assert create_distribution(cf, ["a." + base], cert)["Id"]
    with pytest.raises(ClientError) as e:
        create_distribution(cf, ["a.b." + base], cert)
    assert code(e) == "InvalidViewerCertificate"


def test_certificate_source_agrees_with_the_iam_certificate(cn):
    iam, cf = cn
    alias = f"{unique('src')}.example.cn"
    cert = cloudfront_cert(iam, [alias])
    dist = create_distribution(cf, [alias], cert)
    vc = cf.get_distribution_config(Id=dist["Id"])["DistributionConfig"]["ViewerCertificate"]
    assert (vc["CertificateSource"], vc["Certificate"], vc["CloudFrontDefaultCertificate"]) == ("iam", cert, False)
    with pytest.raises(ClientError) as e:
        create_distribution(cf, [f"x.{alias}"], cloudfront_cert(iam, [f"x.{alias}"]), CertificateSource="acm")
    assert code(e) == "InvalidViewerCertificate"


def test_aliases_need_a_custom_certificate(cn):
    with pytest.raises(ClientError) as e:
        create_distribution(cn[1], [f"{unique('nocert')}.example.cn"])
    assert code(e) == "InvalidViewerCertificate"


def test_alias_of_another_distribution_is_cname_already_exists(cn):
    iam, cf = cn
    alias = f"{unique('cname')}.example.cn"
    create_distribution(cf, [alias], cloudfront_cert(iam, [alias]))
    with pytest.raises(ClientError) as e:
        create_distribution(cf, [alias], cloudfront_cert(iam, [alias]))
    assert code(e) == "CNAMEAlreadyExists"


def test_china_distributions_are_cloudfront_cn(cn, clients):
    iam, cf = cn
    alias = f"{unique('cn')}.example.cn"
    dist = create_distribution(cf, [alias], cloudfront_cert(iam, [alias]))
    assert dist["DomainName"].endswith(".cloudfront.cn") and dist["ARN"].startswith("arn:aws-cn:cloudfront::")
    g_iam, g_cf = clients("iam", "us-east-1"), clients("cloudfront", "us-east-1")
    alias = f"{unique('global')}.example.com"
    dist = create_distribution(g_cf, [alias], cloudfront_cert(g_iam, [alias]))
    assert dist["DomainName"].endswith(".cloudfront.net") and dist["ARN"].startswith("arn:aws:cloudfront::")


def _fresh_account(bed):
    """(account, iam, cloudfront) as the set-up role of a fresh account: settings by account stay
    this test's own."""
    import random

    import stack as stack_module

    acct = f"{random.randrange(10**11, 10**12)}"
    session = stack_module.setup_session(bed["AWS_ENDPOINT_URL"], "cn-north-1", acct)
    return acct, session.client("iam", endpoint_url=bed["AWS_ENDPOINT_URL"]), session.client("cloudfront", endpoint_url=bed["AWS_ENDPOINT_URL"])


NOT_FOUND = ("The specified SSL certificate doesn't exist, isn't in us-east-1 region, isn't valid, "
             "or doesn't include a valid certificate chain.")


def test_a_certificate_uploaded_moments_ago_is_not_yet_visible_to_cloudfront(bed):
    acct, iam, cf = _fresh_account(bed)
    control(bed, "/settings", {"iam_consistency_seconds_by_account": {acct: 1.5}, "cloudfront_deploy_seconds_by_account": {acct: 0}})
    alias = f"{unique('fresh')}.example.cn"
    first = cloudfront_cert(iam, [alias])
    with pytest.raises(ClientError) as e:
        create_distribution(cf, [alias], first)
    assert (code(e), status(e), e.value.response["Error"]["Message"]) == ("InvalidViewerCertificate", 400, NOT_FOUND)
    time.sleep(1.6)
    dist = create_distribution(cf, [alias], first)
    newer = cloudfront_cert(iam, [alias])
    with pytest.raises(ClientError) as e:
        swap(cf, dist["Id"], newer)
    assert (code(e), e.value.response["Error"]["Message"]) == ("InvalidViewerCertificate", NOT_FOUND)
    time.sleep(1.6)
    swap(cf, dist["Id"], newer)


def test_deployment_time_can_be_set_for_one_account(bed, cn):
    acct, iam, cf = _fresh_account(bed)
    control(bed, "/settings", {"cloudfront_deploy_seconds": 0.5, "cloudfront_deploy_seconds_by_account": {acct: 120}})
    slow_alias, quick_alias = f"{unique('slow')}.example.cn", f"{unique('quick')}.example.cn"
    slow = create_distribution(cf, [slow_alias], cloudfront_cert(iam, [slow_alias]))
    quick = create_distribution(cn[1], [quick_alias], cloudfront_cert(cn[0], [quick_alias]))
    time.sleep(0.7)
    assert cn[1].get_distribution(Id=quick["Id"])["Distribution"]["Status"] == "Deployed"
    for _ in range(2):
        assert cf.get_distribution(Id=slow["Id"])["Distribution"]["Status"] == "InProgress"
