"""Secrets Manager resource policies, enforced by the bed on every request to the secret, for
every caller (motobed/authz.py, secretsmanager.py): an explicit deny in a secret's policy denies
even the tests' unrestricted set-up role and the static `testing` keys, while what the policy does
not name (DescribeSecret, the policy operations themselves) stays possible. Plain moto keeps the
policy and enforces nothing, so every test here fails on it (marked `fidelity`).
https://docs.aws.amazon.com/secretsmanager/latest/userguide/auth-and-access_resource-policies.html"""

import json

import pytest
from botocore.exceptions import ClientError

import stack as stack_module
from conftest import make_client, unique
from motobed import cfn

pytestmark = pytest.mark.fidelity


def only_for(role_arn: str) -> str:
    """The policy template.yaml puts on the account secret: its value, read or written, by one role only."""
    return json.dumps({"Version": "2012-10-17", "Statement": [{
        "Effect": "Deny", "Principal": "*", "Action": ["secretsmanager:GetSecretValue", "secretsmanager:PutSecretValue"],
        "Resource": "*", "Condition": {"StringNotEquals": {"aws:PrincipalArn": role_arn}}}]})


def denied(call, **kwargs) -> tuple[str, str, int]:
    with pytest.raises(ClientError) as e:
        call(**kwargs)
    error = e.value.response["Error"]
    return error["Code"], error["Message"], e.value.response["ResponseMetadata"]["HTTPStatusCode"]


def test_a_deny_in_the_secrets_policy_holds_for_every_caller_but_administering_stays_possible(new_stack):
    stack = new_stack()
    secret = f"{stack.name}/acme-account"
    admin, function = stack.client("setup", "secretsmanager"), stack.client("function", "secretsmanager")
    admin.put_resource_policy(SecretId=secret, ResourcePolicy=only_for(stack_module.function_role_arn(stack.region, stack.account)))
    function.put_secret_value(SecretId=secret, SecretString='{"id": "acct"}')
    assert function.get_secret_value(SecretId=secret)["SecretString"] == '{"id": "acct"}'
    code, message, status = denied(admin.get_secret_value, SecretId=secret)
    arn = admin.describe_secret(SecretId=secret)["ARN"]
    assert (code, status) == ("AccessDeniedException", 400)
    assert message == (f"User: arn:aws-cn:sts::{stack.account}:assumed-role/cert-rotator-e2e/e2e is not authorized to perform: "
                       f"secretsmanager:GetSecretValue on resource: {arn} with an explicit deny in a resource-based policy")
    assert denied(admin.put_secret_value, SecretId=secret, SecretString="{}")[0] == "AccessDeniedException"
    # Administering: the policy names only the value's actions.
    assert json.loads(admin.get_resource_policy(SecretId=secret)["ResourcePolicy"])["Statement"][0]["Effect"] == "Deny"
    admin.put_resource_policy(SecretId=secret, ResourcePolicy=only_for(f"arn:aws-cn:iam::{stack.account}:role/someone"))
    assert denied(function.get_secret_value, SecretId=secret)[0] == "AccessDeniedException"
    admin.delete_resource_policy(SecretId=secret)
    assert admin.get_secret_value(SecretId=secret)["SecretString"] == '{"id": "acct"}'
    assert function.get_secret_value(SecretId=secret)["SecretString"] == '{"id": "acct"}'


def test_the_static_keys_are_held_to_a_secrets_policy_too(bed):
    sm = make_client(bed, "secretsmanager", "cn-north-1")
    arn = sm.create_secret(Name=unique("static"), SecretString="s")["ARN"]
    sm.put_resource_policy(SecretId=arn, ResourcePolicy=only_for("arn:aws-cn:iam::123456789012:role/someone"))
    assert denied(sm.get_secret_value, SecretId=arn)[0] == "AccessDeniedException"
    assert sm.describe_secret(SecretId=arn)["ARN"] == arn


_TEMPLATE_POLICIES = [r for r in cfn.template()["Resources"].values() if r.get("Type") == "AWS::SecretsManager::ResourcePolicy"]


@pytest.mark.skipif(not _TEMPLATE_POLICIES, reason="template.yaml has no AWS::SecretsManager::ResourcePolicy yet")
def test_the_stacks_account_secret_carries_the_templates_policy(new_stack):
    """The template's policy on the account secret (AccountSecretPolicy), rendered for the stack as
    CloudFormation puts it: in force without any PutResourcePolicy, until it is deleted."""
    stack = new_stack()
    secret = f"{stack.name}/acme-account"
    admin, function = stack.client("setup", "secretsmanager"), stack.client("function", "secretsmanager")
    arn = admin.describe_secret(SecretId=secret)["ARN"]
    role = stack_module.function_role_arn(stack.region, stack.account)
    rendered = cfn.Stack(account=stack.account, region=stack.region, partition="aws-cn", name=stack.name, parameters={},
                         refs={"ArchiveBucket": stack.bucket, "AccountSecret": arn},
                         attributes={"ArchiveBucket.Arn": f"arn:aws-cn:s3:::{stack.bucket}", "RotatorRole.Arn": role})
    expected = rendered.render(_TEMPLATE_POLICIES[0]["Properties"]["ResourcePolicy"])
    assert json.loads(admin.get_resource_policy(SecretId=secret)["ResourcePolicy"]) == expected
    function.put_secret_value(SecretId=secret, SecretString='{"id": "acct"}')
    assert function.get_secret_value(SecretId=secret)["SecretString"] == '{"id": "acct"}'
    assert denied(admin.get_secret_value, SecretId=secret)[0] == "AccessDeniedException"
    admin.delete_resource_policy(SecretId=secret)
    assert "ResourcePolicy" not in admin.get_resource_policy(SecretId=secret)
    assert admin.get_secret_value(SecretId=secret)["SecretString"] == '{"id": "acct"}'
