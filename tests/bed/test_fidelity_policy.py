"""The function role's IAM policy, read from template.yaml, enforced by the bed (motobed/authz.py,
policy.py, actions.py), driven through boto3 as the function. Each test makes a call the template
allows and one it does not: plain moto allows both, so every test here fails on it (marked
`fidelity`).

Condition operators the template does not use are exercised through an inline policy on the
function's role, which AWS evaluates together with the template's (and so does the bed)."""

import json
import re

import pytest
from botocore.exceptions import ClientError

from conftest import make_cert, unique

pytestmark = pytest.mark.fidelity


def denied(call, *args, **kwargs) -> str:
    """The AccessDenied message of a call that must be refused."""
    with pytest.raises(ClientError) as e:
        call(*args, **kwargs)
    assert e.value.response["Error"]["Code"] in ("AccessDenied", "AccessDeniedException"), e.value.response
    return e.value.response["Error"]["Message"]


def zone(stack) -> tuple[str, str]:
    name = f"{unique('zone')}.example.cn"
    zone_id = stack.client("setup", "route53").create_hosted_zone(Name=name, CallerReference=unique("ref"))["HostedZone"]["Id"]
    return name, zone_id.split("/")[-1]


def txt_change(name: str, action: str = "UPSERT", kind: str = "TXT") -> dict:
    value = '"token"' if kind == "TXT" else "192.0.2.1"
    return {"Action": action, "ResourceRecordSet": {"Name": name, "Type": kind, "TTL": 60, "ResourceRecords": [{"Value": value}]}}


def test_a_call_outside_the_policy_is_denied_with_awss_message(new_stack):
    stack = new_stack()
    stack.client("function", "route53").list_hosted_zones()
    message = denied(stack.client("function", "iam").list_roles)
    session = f"arn:aws-cn:sts::{stack.account}:assumed-role/cert-rotator-function/{stack.name}"
    assert message == (f"User: {session} is not authorized to perform: iam:ListRoles "
                       "because no identity-based policy allows the iam:ListRoles action")


def test_iam_server_certificates_only_under_cloudfront(new_stack):
    stack = new_stack()
    iam = stack.client("function", "iam")
    body, key, _ = make_cert(["a.example.cn"])
    iam.upload_server_certificate(ServerCertificateName=unique("ok"), Path="/cloudfront/", CertificateBody=body, PrivateKey=key)
    name = unique("root-path")
    message = denied(iam.upload_server_certificate, ServerCertificateName=name, Path="/", CertificateBody=body, PrivateKey=key)
    assert f"iam:UploadServerCertificate on resource: arn:aws-cn:iam::{stack.account}:server-certificate/{name} " in message


def test_route53_changes_only_txt_records_under_the_acme_challenge_label(new_stack):
    stack = new_stack()
    name, zone_id = zone(stack)
    r53 = stack.client("function", "route53")

    def change(*changes):
        return r53.change_resource_record_sets(HostedZoneId=zone_id, ChangeBatch={"Changes": list(changes)})

    # Normalized: lower case, no final dot (route53:ChangeResourceRecordSetsNormalizedRecordNames).
    change(txt_change(f"_ACME-Challenge.CDN.{name}."))
    change(txt_change(f"_acme-challenge.cdn.{name}", "DELETE"))
    assert "route53:ChangeResourceRecordSets on resource: arn:aws-cn:route53:::hostedzone/" in denied(
        change, txt_change(f"www.{name}"))
    denied(change, txt_change(f"x._acme-challenge.{name}"))
    denied(change, txt_change(f"_acme-challenge.{name}", kind="A"))
    # ForAllValues: one forbidden change in the batch denies the batch.
    denied(change, txt_change(f"_acme-challenge.a.{name}"), txt_change(f"mail.{name}"))


def test_acm_imports_new_tagged_certificates_and_reimports_only_its_own(new_stack):
    stack = new_stack()
    acm, foreign_acm = stack.client("function", "acm"), stack.client("setup", "acm")
    body, key, _ = make_cert(["a.example.cn"])
    tagged = [{"Key": "managed-by", "Value": "cert-rotator"}]
    own = acm.import_certificate(Certificate=body, PrivateKey=key, Tags=tagged)["CertificateArn"]
    acm.import_certificate(CertificateArn=own, Certificate=body, PrivateKey=key)
    # A new import must carry the tag: authorized on the not-yet-created certificate/*.
    message = denied(acm.import_certificate, Certificate=body, PrivateKey=key)
    assert f"acm:ImportCertificate on resource: arn:aws-cn:acm:cn-north-1:{stack.account}:certificate/* " in message
    foreign = foreign_acm.import_certificate(Certificate=body, PrivateKey=key)["CertificateArn"]
    denied(acm.import_certificate, CertificateArn=foreign, Certificate=body, PrivateKey=key)
    # Tagging someone else's certificate, to re-import over it later, is refused too.
    message = denied(acm.add_tags_to_certificate, CertificateArn=foreign, Tags=tagged)
    assert f"acm:AddTagsToCertificate on resource: {foreign} " in message
    assert foreign_acm.list_tags_for_certificate(CertificateArn=foreign).get("Tags", []) == []


def test_secrets_the_account_secret_read_write_and_bring_your_own_read_only(new_stack):
    stack = new_stack()
    own = f"{stack.name}/acme-account"
    byo = stack.client("setup", "secretsmanager").create_secret(Name=f"{stack.name}/byo/key", SecretString="k")["ARN"]
    other = stack.client("setup", "secretsmanager").create_secret(Name=unique("other"), SecretString="x")["ARN"]
    sm = stack.client("function", "secretsmanager")
    sm.put_secret_value(SecretId=own, SecretString='{"id": "x"}')
    assert sm.get_secret_value(SecretId=own)["SecretString"] == '{"id": "x"}'
    assert sm.get_secret_value(SecretId=byo)["SecretString"] == "k"
    denied(sm.put_secret_value, SecretId=byo, SecretString="replaced")
    assert f"secretsmanager:GetSecretValue on resource: {other} " in denied(sm.get_secret_value, SecretId=other)
    denied(sm.create_secret, Name=f"{stack.name}/acme-account-2", SecretString="{}")


def test_the_archive_is_the_functions_alone(new_stack):
    stack = new_stack()
    archive = stack.client("function", "s3")
    archive.put_object(Bucket=stack.bucket, Key="archive/h/cert.json", Body=b"{}")
    assert archive.get_object(Bucket=stack.bucket, Key="archive/h/cert.json")["Body"].read() == b"{}"
    admin = stack.client("setup", "s3")
    message = denied(admin.get_object, Bucket=stack.bucket, Key="archive/h/cert.json")
    assert message.endswith(f"s3:GetObject on resource: arn:aws-cn:s3:::{stack.bucket}/archive/h/cert.json "
                            "with an explicit deny in a resource-based policy")
    denied(admin.put_object, Bucket=stack.bucket, Key="lock/run", Body=b"{}")
    denied(admin.delete_object, Bucket=stack.bucket, Key="archive/h/cert.json")
    assert [o["Key"] for o in admin.list_objects_v2(Bucket=stack.bucket)["Contents"]] == ["archive/h/cert.json"]


def test_a_missing_object_is_404_only_to_a_caller_allowed_to_list(new_stack):
    stack = new_stack()
    source, elsewhere = unique("byo-files"), unique("readable")
    for bucket in (source, elsewhere):
        stack.client("setup", "s3").create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": "cn-north-1"})
    stack.client("setup", "iam").tag_role(RoleName="cert-rotator-function", Tags=[{"Key": "SourceBucket", "Value": source}])
    # A bucket the function may read but not list.
    grant = {"Effect": "Allow", "Action": "s3:GetObject", "Resource": f"arn:aws-cn:s3:::{elsewhere}/*"}
    stack.client("setup", "iam").put_role_policy(RoleName="cert-rotator-function", PolicyName="read",
                                                 PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [grant]}))
    s3 = stack.client("function", "s3")
    for bucket, key in ((stack.bucket, "lock/run"), (source, "missing.pem")):
        with pytest.raises(ClientError) as e:
            s3.get_object(Bucket=bucket, Key=key)
        assert e.value.response["Error"]["Code"] == "NoSuchKey", bucket
    assert denied(s3.get_object, Bucket=elsewhere, Key="missing.pem") == "Access Denied"


def test_sse_kms_on_the_archive_needs_the_stacks_key(new_stack):
    key = "arn:aws-cn:kms:cn-north-1:{}:key/0f1e2d3c-0000-4000-8000-000000000001"
    stack = new_stack()
    other_key = key.format(stack.account).replace("0001", "0002")
    stack.client("setup", "iam").tag_role(RoleName="cert-rotator-function",
                                          Tags=[{"Key": "ArchiveKmsKeyArn", "Value": key.format(stack.account)}])
    s3 = stack.client("function", "s3")
    s3.put_object(Bucket=stack.bucket, Key="archive/k.json", Body=b"{}", ServerSideEncryption="aws:kms",
                  SSEKMSKeyId=key.format(stack.account))
    assert s3.get_object(Bucket=stack.bucket, Key="archive/k.json")["Body"].read() == b"{}"
    message = denied(s3.put_object, Bucket=stack.bucket, Key="archive/o.json", Body=b"{}", ServerSideEncryption="aws:kms",
                     SSEKMSKeyId=other_key)
    assert f"kms:GenerateDataKey on resource: {other_key} " in message


# Each operator, through an inline policy on the function's role: a statement denying an upload the
# template allows when its condition holds. (condition, whether it holds for the function's upload
# of a certificate tagged `forbidden` and `managed-by`)
_CONDITIONS = [
    ({"StringNotEquals": {"aws:PrincipalAccount": "000000000000"}}, True),
    ({"StringNotEquals": {"aws:PrincipalAccount": "${aws:PrincipalAccount}"}}, False),
    ({"StringNotLike": {"aws:PrincipalArn": "*:role/someone-else"}}, True),
    ({"StringNotLike": {"aws:PrincipalArn": "*:role/cert-rotator-*"}}, False),
    ({"ArnLike": {"aws:PrincipalArn": "arn:aws-cn:iam::*:role/cert-rotator-f*"}}, True),
    ({"ArnEquals": {"aws:PrincipalArn": "arn:aws-cn:iam::000000000000:role/cert-rotator-function"}}, False),
    ({"ArnNotLike": {"aws:PrincipalArn": "arn:aws:iam::*:*"}}, True),
    ({"Bool": {"aws:SecureTransport": "true"}}, True),
    ({"Bool": {"aws:SecureTransport": "false"}}, False),
    ({"Null": {"aws:RequestTag/owner": "true"}}, True),
    ({"Null": {"aws:PrincipalArn": "true"}}, False),
    ({"ForAnyValue:StringEquals": {"aws:TagKeys": ["forbidden"]}}, True),
    ({"ForAnyValue:StringEquals": {"aws:TagKeys": ["absent"]}}, False),
    ({"ForAllValues:StringLike": {"aws:TagKeys": ["forb*", "managed-by"]}}, True),
    ({"ForAllValues:StringEquals": {"aws:TagKeys": ["managed-by"]}}, False),
]


@pytest.mark.parametrize("condition,holds", _CONDITIONS, ids=[f"{next(iter(c))}-{h}" for c, h in _CONDITIONS])
def test_condition_operators(new_stack, condition, holds):
    stack = new_stack()
    statement = {"Effect": "Deny", "Action": "iam:UploadServerCertificate", "Resource": "*", "Condition": condition}
    stack.client("setup", "iam").put_role_policy(RoleName="cert-rotator-function", PolicyName="operator",
                                                 PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [statement]}))
    body, key, _ = make_cert(["a.example.cn"])
    upload = {"ServerCertificateName": unique("op"), "Path": "/cloudfront/", "CertificateBody": body, "PrivateKey": key,
              "Tags": [{"Key": "forbidden", "Value": "1"}, {"Key": "managed-by", "Value": "cert-rotator"}]}
    iam = stack.client("function", "iam")
    if holds:
        assert re.search(r"iam:UploadServerCertificate on resource: \S+ with an explicit deny in an identity-based policy$",
                         denied(iam.upload_server_certificate, **upload))
    else:
        iam.upload_server_certificate(**upload)
        # The call the template denies stays denied: plain moto allows it.
        denied(iam.list_roles)
