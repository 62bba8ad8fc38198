"""A cert-rotator stack on the bed, as template.yaml deploys one, for whatever runs the product
outside the Rust tests' World (demo.py, bench.py, invoke.py) and for the fidelity tests: the
archive bucket, the account secret `<stack>/acme-account` holding `{}`, the alarm topic
(`<stack>-AlarmTopic-<suffix>`, as CloudFormation names it; the function's
CERT_ROTATOR_TOPIC_ARN), and the function's role `cert-rotator-function` tagged with the stack's
values. The bed enforces the template's policies on that role's credentials (motobed/authz.py,
which documents the tags).

    creds = deploy(endpoint, "cn-north-1", setup_session, account, stack="cert-rotator", bucket="b")
    env = {**os.environ, **creds}   # the product now runs as the function, with its topic

A member account (template.yaml with Deploy=member): the role the rotator assumes there, whose
sessions the bed holds to the template's member policy (and whose trust policy, to AssumeRole):

    member = setup_session(endpoint, region, "210987654321")
    arn = deploy_member(endpoint, region, member, "210987654321", function_role_arn(region, account),
                        external_id="x")
    sts = boto3.Session(**function_credentials).client("sts", endpoint_url=endpoint)
    sts.assume_role(RoleArn=arn, RoleSessionName="run", ExternalId="x")

Every account exists as soon as it is named: `cert-rotator-e2e` (SETUP_ROLE) is there in each,
trusting the bed's static keys' account (motobed/sts.py).
"""

import json
import secrets
import string

import boto3
from botocore.exceptions import ClientError

FUNCTION_ROLE = "cert-rotator-function"
SETUP_ROLE = "cert-rotator-e2e"
MEMBER_ROLE = "cert-rotator-member"
# Lambda's trust policy, as SAM writes it for the function's role.
_TRUST = json.dumps({"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}]})


def partition(region: str) -> str:
    return "aws-cn" if region.startswith("cn-") else "aws"


def assume(endpoint: str, region: str, role_arn: str, session: str) -> dict:
    """boto3 credential arguments from STS AssumeRole on `role_arn`."""
    sts = boto3.client("sts", region_name=region, endpoint_url=endpoint,
                       aws_access_key_id="testing", aws_secret_access_key="testing")
    c = sts.assume_role(RoleArn=role_arn, RoleSessionName=session)["Credentials"]
    return {"aws_access_key_id": c["AccessKeyId"], "aws_secret_access_key": c["SecretAccessKey"],
            "aws_session_token": c["SessionToken"]}


def role_arn(region: str, account: str, name: str) -> str:
    return f"arn:{partition(region)}:iam::{account}:role/{name}"


def function_role_arn(region: str, account: str) -> str:
    """The ARN of the function's role of a stack `deploy` made in `account`."""
    return role_arn(region, account, FUNCTION_ROLE)


def setup_session(endpoint: str, region: str, account: str) -> boto3.Session:
    """The tests' unrestricted set-up role in `account` (the Rust tests' `sdk_config_for`)."""
    return boto3.Session(region_name=region, **assume(endpoint, region, role_arn(region, account, SETUP_ROLE), "e2e"))


def deploy(endpoint: str, region: str, setup: boto3.Session, account: str, *, stack: str, bucket: str,
           parameters: dict[str, str] | None = None) -> dict[str, str]:
    """Creates what the stack creates, with `setup`'s credentials in `account`; returns the
    function's credentials as environment variables, and CERT_ROTATOR_TOPIC_ARN (the alarm
    topic, which the template passes to the function)."""
    s3 = setup.client("s3", endpoint_url=endpoint)
    try:
        s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": region})
    except ClientError as e:
        if e.response["Error"]["Code"] != "BucketAlreadyOwnedByYou":
            raise
    setup.client("secretsmanager", endpoint_url=endpoint).create_secret(Name=f"{stack}/acme-account", SecretString="{}")
    suffix = "".join(secrets.choice(string.ascii_uppercase + string.digits) for _ in range(12))
    topic = setup.client("sns", endpoint_url=endpoint).create_topic(Name=f"{stack}-AlarmTopic-{suffix}")["TopicArn"]
    tags = {"StackName": stack, "Region": region, "ArchiveBucket": bucket, "AlarmTopic": topic, **(parameters or {})}
    setup.client("iam", endpoint_url=endpoint).create_role(
        RoleName=FUNCTION_ROLE, AssumeRolePolicyDocument=_TRUST, Tags=[{"Key": k, "Value": v} for k, v in tags.items()])
    creds = assume(endpoint, region, function_role_arn(region, account), stack)
    return {"AWS_ACCESS_KEY_ID": creds["aws_access_key_id"], "AWS_SECRET_ACCESS_KEY": creds["aws_secret_access_key"],
            "AWS_SESSION_TOKEN": creds["aws_session_token"], "CERT_ROTATOR_TOPIC_ARN": topic}


def deploy_member(endpoint: str, region: str, setup: boto3.Session, account: str, rotator_role_arn: str,
                  external_id: str | None = None, role_name: str = MEMBER_ROLE, stack: str = "cert-rotator-member") -> str:
    """Creates (or, deployed before, updates), with `setup`'s credentials in `account`, what
    template.yaml creates with Deploy=member: the role `role_name` with the template's trust policy (rendered for these
    parameters), tagged with the stack's values (`Deploy: member` marks it for motobed/authz.py,
    which holds its sessions to the template's member policy). Returns the role's ARN."""
    from motobed import cfn  # the template, rendered as the bed renders it

    parameters = {"Deploy": "member", "MemberRoleName": role_name, "RotatorRoleArn": rotator_role_arn,
                  "ExternalId": external_id or ""}
    rendered = cfn.Stack(account=account, region=region, partition=partition(region), name=stack,
                         parameters=parameters, refs={}, attributes={})
    role = cfn.template()["Resources"]["MemberRole"]["Properties"]
    tags = {"StackName": stack, "Region": region, "Deploy": "member", "MemberRoleName": role_name,
            "RotatorRoleArn": rotator_role_arn}
    iam = setup.client("iam", endpoint_url=endpoint)
    name, trust = rendered.render(role["RoleName"]), json.dumps(rendered.render(role["AssumeRolePolicyDocument"]))
    try:
        created = iam.create_role(
            RoleName=name, Description=rendered.render(role["Description"]), AssumeRolePolicyDocument=trust,
            Tags=[{"Key": k, "Value": v} for k, v in tags.items()])
    except iam.exceptions.EntityAlreadyExistsException:
        # The member stack updated with other parameters: CloudFormation updates the trust policy.
        iam.update_assume_role_policy(RoleName=name, PolicyDocument=trust)
        iam.tag_role(RoleName=name, Tags=[{"Key": k, "Value": v} for k, v in tags.items()])
        return iam.get_role(RoleName=name)["Role"]["Arn"]
    return created["Role"]["Arn"]
