"""IAM server-certificate rules of the fidelity layer (motobed/iam.py), through boto3."""

import datetime as dt

import pytest
from botocore.exceptions import ClientError

from conftest import make_cert, unique
from test_fidelity_cloudfront import create_distribution

pytestmark = pytest.mark.fidelity


def upload(iam, names, path="/cloudfront/", name=None, **kw):
    body, key, _ = make_cert(names, **kw)
    name = name or unique("cert")
    meta = iam.upload_server_certificate(Path=path, ServerCertificateName=name, CertificateBody=body, PrivateKey=key)
    return meta["ServerCertificateMetadata"], body, key


def error_code(exc: pytest.ExceptionInfo) -> str:
    return exc.value.response["Error"]["Code"]


def test_each_upload_gets_its_own_id_upload_date_and_the_certificates_expiration(clients):
    iam = clients("iam")
    nb = dt.datetime.now(dt.timezone.utc).replace(microsecond=0) - dt.timedelta(days=10)
    a, _, _ = upload(iam, ["a.example.cn"], not_before=nb, days_valid=90)
    b, _, _ = upload(iam, ["b.example.cn"])
    assert a["ServerCertificateId"] != b["ServerCertificateId"]
    assert a["ServerCertificateId"].startswith("ASCA") and len(a["ServerCertificateId"]) == 21
    assert a["Expiration"] == nb + dt.timedelta(days=90)
    assert abs((dt.datetime.now(dt.timezone.utc) - a["UploadDate"]).total_seconds()) < 60


def test_duplicate_name_is_entity_already_exists(clients):
    iam = clients("iam")
    meta, _, _ = upload(iam, ["dup.example.cn"])
    with pytest.raises(ClientError) as e:
        upload(iam, ["dup.example.cn"], name=meta["ServerCertificateName"], path="/other/")
    assert error_code(e) == "EntityAlreadyExists"


def test_garbage_is_malformed_certificate(clients):
    _, key, _ = make_cert(["x.example.cn"])
    with pytest.raises(ClientError) as e:
        clients("iam").upload_server_certificate(ServerCertificateName=unique("bad"), CertificateBody="-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n", PrivateKey=key)
    assert error_code(e) == "MalformedCertificate"


def test_key_of_another_certificate_is_key_pair_mismatch(clients):
    body, _, _ = make_cert(["x.example.cn"])
    _, other_key, _ = make_cert(["y.example.cn"])
    with pytest.raises(ClientError) as e:
        clients("iam").upload_server_certificate(ServerCertificateName=unique("mismatch"), CertificateBody=body, PrivateKey=other_key)
    assert error_code(e) == "KeyPairMismatch"


def test_asterisk_in_a_name_is_refused(clients):
    with pytest.raises(ClientError) as e:
        upload(clients("iam"), ["w.example.cn"], name="*.example.cn")
    assert error_code(e) == "ValidationError"


def test_list_honours_path_prefix_and_pages(clients):
    iam = clients("iam")
    prefix = f"/{unique('p')}/"
    mine = {upload(iam, ["p.example.cn"], path=prefix)[0]["ServerCertificateName"] for _ in range(3)}
    upload(iam, ["q.example.cn"], path="/elsewhere/")
    seen, marker = [], None
    while True:
        kw = {"Marker": marker} if marker else {}
        page = iam.list_server_certificates(PathPrefix=prefix, MaxItems=2, **kw)
        seen += [m["ServerCertificateName"] for m in page["ServerCertificateMetadataList"]]
        if not page["IsTruncated"]:
            break
        marker = page["Marker"]
    assert set(seen) == mine and len(seen) == 3


def test_update_renames_and_moves(clients):
    iam = clients("iam")
    meta, _, _ = upload(iam, ["r.example.cn"], path="/staging/")
    new_name = unique("renamed")
    iam.update_server_certificate(ServerCertificateName=meta["ServerCertificateName"], NewServerCertificateName=new_name, NewPath="/cloudfront/")
    got = iam.get_server_certificate(ServerCertificateName=new_name)["ServerCertificate"]["ServerCertificateMetadata"]
    assert got["Path"] == "/cloudfront/" and got["ServerCertificateId"] == meta["ServerCertificateId"]
    with pytest.raises(ClientError) as e:
        iam.get_server_certificate(ServerCertificateName=meta["ServerCertificateName"])
    assert error_code(e) == "NoSuchEntity"


def test_tags_at_upload_and_tag_untag_list(clients):
    iam = clients("iam")
    body, key, _ = make_cert(["t.example.cn"])
    name = unique("tagged")
    iam.upload_server_certificate(ServerCertificateName=name, CertificateBody=body, PrivateKey=key, Path="/cloudfront/",
                                  Tags=[{"Key": "managed-by", "Value": "cert-rotator"}])
    iam.tag_server_certificate(ServerCertificateName=name, Tags=[{"Key": "names", "Value": "t.example.cn"}])
    iam.untag_server_certificate(ServerCertificateName=name, TagKeys=["managed-by"])
    assert iam.list_server_certificate_tags(ServerCertificateName=name)["Tags"] == [{"Key": "names", "Value": "t.example.cn"}]


def test_delete_while_a_distribution_uses_it_is_delete_conflict(clients):
    iam, cf = clients("iam"), clients("cloudfront")
    alias = f"{unique('inuse')}.example.cn"
    meta, _, _ = upload(iam, [alias])
    create_distribution(cf, [alias], meta["ServerCertificateId"])
    with pytest.raises(ClientError) as e:
        iam.delete_server_certificate(ServerCertificateName=meta["ServerCertificateName"])
    assert error_code(e) == "DeleteConflict"
    assert iam.get_server_certificate(ServerCertificateName=meta["ServerCertificateName"])


def test_uploads_beyond_the_server_certificate_quota_are_refused(bed, clients):
    from conftest import control

    iam = clients("iam")
    held = iam.get_account_summary()["SummaryMap"]["ServerCertificates"]
    control(bed, "/settings", {"iam_server_certificates_quota": held + 1})
    summary = iam.get_account_summary()["SummaryMap"]
    assert (summary["ServerCertificates"], summary["ServerCertificatesQuota"]) == (held, held + 1)
    body, key, _ = make_cert(["quota-1.example.cn"])
    iam.upload_server_certificate(ServerCertificateName=unique("quota"), Path="/cloudfront/",
                                  CertificateBody=body, PrivateKey=key)
    body, key, _ = make_cert(["quota-2.example.cn"])
    with pytest.raises(ClientError) as e:
        iam.upload_server_certificate(ServerCertificateName=unique("quota"), Path="/cloudfront/",
                                      CertificateBody=body, PrivateKey=key)
    assert e.value.response["Error"]["Code"] == "LimitExceeded"
    assert f"ServerCertificatesPerAccount: {held + 1}" in e.value.response["Error"]["Message"]
