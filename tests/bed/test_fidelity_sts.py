"""STS AssumeRole as AWS decides it (motobed/sts.py), and a member account's role held to
template.yaml's member policy (motobed/authz.py), through boto3. Plain moto assumes any role for
anyone and restricts no member session: every test here fails on it (marked `fidelity`).

Each test's accounts are fresh: `new_stack()` deploys the rotator in one, `member()` deploys the
member side (tests/bed/stack.py `deploy_member`) in another, both reached through the tests'
set-up role `cert-rotator-e2e` that the bed has in every account."""

import json
import random

import boto3
import pytest
from botocore.exceptions import ClientError

import stack as stack_module
from conftest import control, make_cert, make_client, unique
from test_fidelity_policy import txt_change, zone

pytestmark = pytest.mark.fidelity

CN = "cn-north-1"


def account() -> str:
    return f"{random.randrange(10**11, 10**12)}"


def refused(call, *args, **kwargs) -> dict:
    """The error of an AssumeRole that must be refused: its code, message and HTTP status."""
    with pytest.raises(ClientError) as e:
        call(*args, **kwargs)
    error = e.value.response["Error"]
    return {"code": error["Code"], "message": error["Message"], "status": e.value.response["ResponseMetadata"]["HTTPStatusCode"]}


def access_denied(caller: str, role: str) -> dict:
    return {"code": "AccessDenied", "status": 403,
            "message": f"User: {caller} is not authorized to perform: sts:AssumeRole on resource: {role}"}


def session(creds: dict, region: str = CN) -> boto3.Session:
    return boto3.Session(region_name=region, aws_access_key_id=creds["AccessKeyId"],
                         aws_secret_access_key=creds["SecretAccessKey"], aws_session_token=creds["SessionToken"])


@pytest.fixture
def member(bed):
    """`member(rotator_role_arn, external_id=None, role_name=..., acct=None)` -> (account, role ARN,
    set-up session there): template.yaml's member side in `acct` (default: a fresh account). The
    rotator's stack must list the account (MemberAccounts) to assume its role."""
    def make(rotator_role_arn: str, external_id: str | None = None, role_name: str = stack_module.MEMBER_ROLE,
             acct: str | None = None):
        acct = acct or account()
        setup = stack_module.setup_session(bed["AWS_ENDPOINT_URL"], CN, acct)
        arn = stack_module.deploy_member(bed["AWS_ENDPOINT_URL"], CN, setup, acct, rotator_role_arn,
                                         external_id=external_id, role_name=role_name)
        return acct, arn, setup
    return make


def static_sts(bed, region: str = CN):
    return make_client(bed, "sts", region)


def test_a_role_that_does_not_exist_is_access_denied(bed):
    role = f"arn:aws-cn:iam::{account()}:role/{unique('nobody')}"
    assert refused(static_sts(bed).assume_role, RoleArn=role, RoleSessionName="ss") == access_denied(
        "arn:aws-cn:iam::123456789012:user/moto", role)


def test_a_role_of_another_partition_is_access_denied(bed):
    acct = account()
    global_role = f"arn:aws:iam::{acct}:role/cert-rotator-e2e"
    assert refused(static_sts(bed, CN).assume_role, RoleArn=global_role, RoleSessionName="ss") == access_denied(
        "arn:aws-cn:iam::123456789012:user/moto", global_role)
    # The same role from its own partition's endpoint.
    static_sts(bed, "us-east-1").assume_role(RoleArn=global_role, RoleSessionName="ss")


def test_the_setup_role_trusts_only_the_management_account(bed, new_stack):
    stack = new_stack()
    other = f"arn:aws-cn:iam::{account()}:role/cert-rotator-e2e"
    # The set-up role's own session (an administrator, in a member account) is not trusted there.
    e2e = f"arn:aws-cn:sts::{stack.account}:assumed-role/cert-rotator-e2e/e2e"
    assert refused(stack.client("setup", "sts").assume_role, RoleArn=other, RoleSessionName="ss") == access_denied(e2e, other)
    function = f"arn:aws-cn:sts::{stack.account}:assumed-role/cert-rotator-function/{stack.name}"
    assert refused(stack.client("function", "sts").assume_role, RoleArn=other, RoleSessionName="ss") == access_denied(function, other)


def test_the_rotator_assumes_the_member_role_with_the_right_external_id(new_stack, member):
    listed = account()
    stack = new_stack(parameters={"MemberAccounts": listed})
    acct, role, _ = member(stack_module.function_role_arn(CN, stack.account), external_id="ext-1234", acct=listed)
    sts = stack.client("function", "sts")
    assumed = sts.assume_role(RoleArn=role, RoleSessionName="run", ExternalId="ext-1234")
    assert assumed["AssumedRoleUser"]["Arn"] == f"arn:aws-cn:sts::{acct}:assumed-role/cert-rotator-member/run"
    assert session(assumed["Credentials"]).client("sts", endpoint_url=stack.endpoint).get_caller_identity()["Account"] == acct
    caller = f"arn:aws-cn:sts::{stack.account}:assumed-role/cert-rotator-function/{stack.name}"
    for wrong in ({"ExternalId": "ext-0000"}, {}):
        assert refused(sts.assume_role, RoleArn=role, RoleSessionName="run", **wrong) == access_denied(caller, role)


def test_a_member_role_without_external_id_trusts_the_rotator_and_no_one_else(bed, new_stack, member):
    listed = account()  # both stacks may assume roles there: the role's trust policy decides
    stack, stranger = new_stack(parameters={"MemberAccounts": listed}), new_stack(parameters={"MemberAccounts": listed})
    _, role, member_setup = member(stack_module.function_role_arn(CN, stack.account), acct=listed)
    stack.client("function", "sts").assume_role(RoleArn=role, RoleSessionName="run")
    # Another stack's rotator, its administrator, the member account's own administrator: not named.
    for who, client in ((f"assumed-role/cert-rotator-function/{stranger.name}", stranger.client("function", "sts")),
                        ("assumed-role/cert-rotator-e2e/e2e", stranger.client("setup", "sts"))):
        caller = f"arn:aws-cn:sts::{stranger.account}:{who}"
        assert refused(client.assume_role, RoleArn=role, RoleSessionName="ss") == access_denied(caller, role)
    refused(member_setup.client("sts", endpoint_url=stack.endpoint).assume_role, RoleArn=role, RoleSessionName="ss")
    refused(static_sts(bed).assume_role, RoleArn=role, RoleSessionName="ss")


def test_cross_account_the_callers_own_policy_must_allow_too(new_stack, member):
    listed = account()
    stack = new_stack(parameters={"MemberAccounts": listed})
    # Trusted by the role, but the rotator's policy grants only roles named MemberRoleName.
    _, other, _ = member(stack_module.function_role_arn(CN, stack.account), role_name=unique("other-name"), acct=listed)
    caller = f"arn:aws-cn:sts::{stack.account}:assumed-role/cert-rotator-function/{stack.name}"
    assert refused(stack.client("function", "sts").assume_role, RoleArn=other, RoleSessionName="ss") == access_denied(caller, other)
    # With MemberRoleName naming it, the same call is allowed.
    elsewhere = account()
    renamed = new_stack(parameters={"MemberRoleName": other.split("/")[-1], "MemberAccounts": elsewhere})
    _, role, _ = member(stack_module.function_role_arn(CN, renamed.account), role_name=other.split("/")[-1], acct=elsewhere)
    renamed.client("function", "sts").assume_role(RoleArn=role, RoleSessionName="ss")


def test_an_account_principal_delegates_to_the_accounts_own_policies(new_stack):
    stack = new_stack()
    trust = {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"AWS": stack.account}, "Action": "sts:AssumeRole"}]}
    name = unique("account-trusted")
    role = stack.client("setup", "iam").create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]
    stack.client("setup", "sts").assume_role(RoleArn=role, RoleSessionName="admin")  # unrestricted
    caller = f"arn:aws-cn:sts::{stack.account}:assumed-role/cert-rotator-function/{stack.name}"
    assert refused(stack.client("function", "sts").assume_role, RoleArn=role, RoleSessionName="ss") == access_denied(caller, role)


def test_a_service_principal_is_no_user_and_lambda_is_the_beds_static_keys(bed, new_stack):
    stack = new_stack()
    iam = stack.client("setup", "iam")
    ec2 = {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}]}
    role = iam.create_role(RoleName=unique("ec2"), AssumeRolePolicyDocument=json.dumps(ec2))["Role"]["Arn"]
    assert refused(static_sts(bed).assume_role, RoleArn=role, RoleSessionName="ss")["code"] == "AccessDenied"
    # The function's role trusts lambda.amazonaws.com: the static keys (Lambda) may, a session may not.
    function = stack_module.function_role_arn(CN, stack.account)
    static_sts(bed).assume_role(RoleArn=function, RoleSessionName="lambda")
    e2e = f"arn:aws-cn:sts::{stack.account}:assumed-role/cert-rotator-e2e/e2e"
    assert refused(stack.client("setup", "sts").assume_role, RoleArn=function, RoleSessionName="ss") == access_denied(e2e, function)


def test_duration_seconds_within_the_roles_maximum_and_an_hour_when_chained(bed, new_stack):
    stack = new_stack()
    trust = {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"AWS": "arn:aws-cn:iam::123456789012:root"}, "Action": "sts:AssumeRole"},
        {"Effect": "Allow", "Principal": {"AWS": f"arn:aws-cn:iam::{stack.account}:role/cert-rotator-e2e"}, "Action": "sts:AssumeRole"}]}
    role = stack.client("setup", "iam").create_role(RoleName=unique("long"), AssumeRolePolicyDocument=json.dumps(trust),
                                                    MaxSessionDuration=7200)["Role"]["Arn"]
    sts = static_sts(bed)
    sts.assume_role(RoleArn=role, RoleSessionName="ss", DurationSeconds=7200)
    too_long = refused(sts.assume_role, RoleArn=role, RoleSessionName="ss", DurationSeconds=7201)
    assert too_long == {"code": "ValidationError", "status": 400,
                        "message": "The requested DurationSeconds exceeds the MaxSessionDuration set for this role."}
    chained = refused(stack.client("setup", "sts").assume_role, RoleArn=role, RoleSessionName="ss", DurationSeconds=3601)
    assert chained["message"] == "The requested DurationSeconds exceeds the 1 hour session limit for roles assumed by role chaining."
    stack.client("setup", "sts").assume_role(RoleArn=role, RoleSessionName="ss", DurationSeconds=3600)


def test_a_member_session_has_the_certificate_policy_and_nothing_else(bed, new_stack, member):
    listed = account()
    stack = new_stack(parameters={"MemberAccounts": listed})
    acct, role, member_setup = member(stack_module.function_role_arn(CN, stack.account), external_id="ext-1234", acct=listed)
    creds = stack.client("function", "sts").assume_role(RoleArn=role, RoleSessionName="run", ExternalId="ext-1234")["Credentials"]
    as_member = session(creds)

    def client(service):
        return as_member.client(service, endpoint_url=stack.endpoint)

    # The zone is the member account's (its set-up role creates it), the record the rotator's.
    name = f"{unique('zone')}.example.cn"
    zone_id = member_setup.client("route53", endpoint_url=stack.endpoint).create_hosted_zone(
        Name=name, CallerReference=unique("ref"))["HostedZone"]["Id"].split("/")[-1]
    r53 = client("route53")
    r53.change_resource_record_sets(HostedZoneId=zone_id, ChangeBatch={"Changes": [txt_change(f"_acme-challenge.{name}")]})
    with pytest.raises(ClientError):
        r53.change_resource_record_sets(HostedZoneId=zone_id, ChangeBatch={"Changes": [txt_change(f"www.{name}")]})
    body, key, _ = make_cert(["m.example.cn"])
    iam = client("iam")
    uploaded = iam.upload_server_certificate(ServerCertificateName=unique("m"), Path="/cloudfront/", CertificateBody=body,
                                             PrivateKey=key)["ServerCertificateMetadata"]["Arn"]
    assert uploaded.startswith(f"arn:aws-cn:iam::{acct}:server-certificate/cloudfront/")
    with pytest.raises(ClientError):
        iam.upload_server_certificate(ServerCertificateName=unique("m"), Path="/", CertificateBody=body, PrivateKey=key)
    bucket = unique("member-bucket")
    member_setup.client("s3", endpoint_url=stack.endpoint).create_bucket(
        Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": CN})
    secret = member_setup.client("secretsmanager", endpoint_url=stack.endpoint).create_secret(
        Name=unique("member-secret"), SecretString="x")["ARN"]
    for call in (lambda: client("s3").list_objects_v2(Bucket=bucket), lambda: client("s3").get_object(Bucket=bucket, Key="k"),
                 lambda: client("secretsmanager").get_secret_value(SecretId=secret),
                 lambda: client("sts").assume_role(RoleArn=role, RoleSessionName="again", ExternalId="ext-1234")):
        with pytest.raises(ClientError) as e:
            call()
        assert e.value.response["Error"]["Code"] in ("AccessDenied", "AccessDeniedException")
    denials = control(bed, f"/denials?account={acct}", method="GET")
    member_session = f"arn:aws-cn:sts::{acct}:assumed-role/cert-rotator-member/run"
    assert {d["caller"] for d in denials} == {member_session}
    assert {d["action"] for d in denials} == {"route53:ChangeResourceRecordSets", "iam:UploadServerCertificate",
                                              "s3:ListBucket", "s3:GetObject", "secretsmanager:GetSecretValue",
                                              "sts:AssumeRole"}



def test_the_rotator_assumes_member_roles_only_in_its_member_accounts_and_organization(bed, new_stack, member):
    """template.yaml's MemberAccounts and OrganizationId, through the bed's aws:ResourceAccount
    and aws:ResourceOrgID; an account's organization is the setting organizations_by_account."""
    listed, unlisted, in_org, org = account(), account(), account(), _org_id()
    control(bed, "/settings", {"organizations_by_account": {in_org: org}})
    stack = new_stack(parameters={"MemberAccounts": listed, "OrganizationId": org})
    function = stack_module.function_role_arn(CN, stack.account)
    roles = {acct: member(function, acct=acct)[1] for acct in (listed, unlisted, in_org)}
    sts = stack.client("function", "sts")
    sts.assume_role(RoleArn=roles[listed], RoleSessionName="run")
    sts.assume_role(RoleArn=roles[in_org], RoleSessionName="run")
    caller = f"arn:aws-cn:sts::{stack.account}:assumed-role/cert-rotator-function/{stack.name}"
    assert refused(sts.assume_role, RoleArn=roles[unlisted], RoleSessionName="run") == access_denied(caller, roles[unlisted])
    # With neither parameter, no other account's role at all, though its trust policy names the function.
    alone = new_stack()
    role = member(stack_module.function_role_arn(CN, alone.account), acct=account())[1]
    assert refused(alone.client("function", "sts").assume_role, RoleArn=role, RoleSessionName="run")["code"] == "AccessDenied"

# aws:ResourceAccount / aws:ResourceOrgID on sts:AssumeRole (motobed/authz.py, sts.py): the role is
# the resource, so a caller's policy can allow only roles of chosen accounts, or of its
# organization. The function's role gets an inline policy whose only grant of sts:AssumeRole is
# conditional; each target role trusts the function's role by name and is named outside the
# template's AssumeMemberRoles (so that only the inline statement can allow it).

def _org_id() -> str:
    return "o-" + "".join(random.choice("abcdefghijklmnopqrstuvwxyz0123456789") for _ in range(10))


def _target_role(bed, acct: str, name: str, trusted_arn: str) -> str:
    trust = {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"AWS": trusted_arn}, "Action": "sts:AssumeRole"}]}
    iam = stack_module.setup_session(bed["AWS_ENDPOINT_URL"], CN, acct).client("iam", endpoint_url=bed["AWS_ENDPOINT_URL"])
    return iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]


def _only_grant(stack, name: str, condition: dict) -> None:
    statement = {"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": f"arn:aws-cn:iam::*:role/{name}",
                 "Condition": condition}
    stack.client("setup", "iam").put_role_policy(RoleName=stack_module.FUNCTION_ROLE, PolicyName="assume",
                                                 PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [statement]}))


def test_resource_account_limits_assume_role_to_roles_of_the_named_accounts(bed, new_stack):
    stack = new_stack()
    name, inside, outside = unique("target"), account(), account()
    function = stack_module.function_role_arn(CN, stack.account)
    allowed, other = (_target_role(bed, a, name, function) for a in (inside, outside))
    _only_grant(stack, name, {"StringEquals": {"aws:ResourceAccount": [inside]}})
    sts = stack.client("function", "sts")
    caller = f"arn:aws-cn:sts::{stack.account}:assumed-role/cert-rotator-function/{stack.name}"
    assert refused(sts.assume_role, RoleArn=other, RoleSessionName="run") == access_denied(caller, other)
    assert sts.assume_role(RoleArn=allowed, RoleSessionName="run")["AssumedRoleUser"]["Arn"].startswith(
        f"arn:aws-cn:sts::{inside}:assumed-role/{name}/")


def test_resource_org_id_limits_assume_role_to_roles_of_the_organizations_accounts(bed, new_stack):
    stack = new_stack()
    org, elsewhere = _org_id(), _org_id()
    name, inside, other_org, no_org = unique("target"), account(), account(), account()
    control(bed, "/settings", {"organizations_by_account": {inside: org, other_org: elsewhere}})
    function = stack_module.function_role_arn(CN, stack.account)
    allowed, *refused_roles = (_target_role(bed, a, name, function) for a in (inside, other_org, no_org))
    _only_grant(stack, name, {"StringEquals": {"aws:ResourceOrgID": org}})
    sts = stack.client("function", "sts")
    for role in refused_roles:  # another organization's account; an account in none (the key is absent)
        assert refused(sts.assume_role, RoleArn=role, RoleSessionName="run")["code"] == "AccessDenied", role
    sts.assume_role(RoleArn=allowed, RoleSessionName="run")


def test_resource_org_id_follows_an_organization_made_in_moto(bed, new_stack):
    """The organization of an account also comes from Organizations itself: CreateOrganization in
    a management account, CreateAccount for a member (moto chooses its id)."""
    stack = new_stack()
    management = stack_module.setup_session(bed["AWS_ENDPOINT_URL"], CN, account())
    orgs = management.client("organizations", endpoint_url=bed["AWS_ENDPOINT_URL"])
    org = orgs.create_organization(FeatureSet="ALL")["Organization"]["Id"]
    member_account = orgs.create_account(Email=f"{unique('m')}@example.cn", AccountName=unique("member"))[
        "CreateAccountStatus"]["AccountId"]
    name, outside = unique("target"), account()
    function = stack_module.function_role_arn(CN, stack.account)
    member_role, other = (_target_role(bed, a, name, function) for a in (member_account, outside))
    _only_grant(stack, name, {"StringEquals": {"aws:ResourceOrgID": org}})
    sts = stack.client("function", "sts")
    assert refused(sts.assume_role, RoleArn=other, RoleSessionName="run")["code"] == "AccessDenied"
    sts.assume_role(RoleArn=member_role, RoleSessionName="run")
