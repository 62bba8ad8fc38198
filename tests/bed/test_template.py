"""template.yaml's two deployments, rendered as the bed renders them (motobed/cfn.py): the rotator
(Deploy=rotator) and a member account's role (Deploy=member). Not fidelity rules: the template
alone, checked the way CloudFormation would read it (cfn-lint validates the rest)."""

from motobed import cfn

RESOURCES = cfn.template()["Resources"]
SHARED = "CertificateAccess"
CERTIFICATE_SERVICES = {"route53", "iam", "cloudfront", "acm", "elasticloadbalancing"}


def stack(**parameters) -> cfn.Stack:
    return cfn.Stack(account="111122223333", region="cn-north-1", partition="aws-cn", name="s", parameters=parameters,
                     refs={"ArchiveBucket": "b", "AccountSecret": "arn:aws-cn:secretsmanager:cn-north-1:111122223333:secret:s"},
                     attributes={"ArchiveBucket.Arn": "arn:aws-cn:s3:::b", "RotatorRole.Arn": "arn:aws-cn:iam::111122223333:role/r"})


def actions(documents: list[dict]) -> set[str]:
    found = set()
    for document in documents:
        for statement in document["Statement"]:
            action = statement["Action"]
            found |= set(action if isinstance(action, list) else [action])
    return found


def test_a_member_deployment_creates_the_role_and_its_policy_only():
    member = stack(Deploy="member", RotatorRoleArn="arn:aws-cn:iam::111122223333:role/r")
    created = {name for name, r in RESOURCES.items() if "Condition" not in r or member.condition(r["Condition"])}
    assert created == {"MemberRole", SHARED}
    outputs = cfn.template()["Outputs"]
    assert {name for name, o in outputs.items() if member.condition(o["Condition"])} == {"MemberRoleArn"}
    rotator = stack()
    assert "MemberRole" not in {name for name, r in RESOURCES.items() if "Condition" not in r or rotator.condition(r["Condition"])}


def test_the_member_role_has_the_rotators_certificate_policy_and_nothing_else():
    member = stack(Deploy="member").policy_documents(RESOURCES["MemberRole"]["Properties"]["ManagedPolicyArns"])
    assert "Policies" not in RESOURCES["MemberRole"]["Properties"]
    rotator = stack().policy_documents(RESOURCES["Rotator"]["Properties"]["Policies"])
    assert member == [rotator[0]], "the rotator's first policy is the shared one"
    granted = actions(member)
    assert {a.split(":")[0] for a in granted} == CERTIFICATE_SERVICES
    assert granted == {a for a in actions(rotator) if a.split(":")[0] in CERTIFICATE_SERVICES}
    for statement in member[0]["Statement"]:
        resources = statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
        assert all(r == "*" or r.startswith("arn:aws-cn:") for r in resources), statement
        assert all(r == "*" or ":111122223333:" in r or ":::" in r for r in resources), statement


def test_the_rotator_may_assume_only_roles_named_member_role_name_in_member_accounts():
    def statements(**parameters):
        rotator = stack(MemberRoleName="dns-access", **parameters).policy_documents(RESOURCES["Rotator"]["Properties"]["Policies"])
        return [s for d in rotator for s in d["Statement"] if "sts:" in str(s["Action"])]

    assert statements() == [], "neither MemberAccounts nor OrganizationId: no other account's role"
    grant = {"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": "arn:aws-cn:iam::*:role/dns-access"}
    listed = statements(MemberAccounts="111111111111,222222222222")
    assert [{k: v for k, v in s.items() if k != "Sid"} for s in listed] == [
        {**grant, "Condition": {"StringEquals": {"aws:ResourceAccount": ["111111111111", "222222222222"]}}}]
    in_org = statements(OrganizationId="o-abcdefghij")
    assert [{k: v for k, v in s.items() if k != "Sid"} for s in in_org] == [
        {**grant, "Condition": {"StringEquals": {"aws:ResourceOrgID": "o-abcdefghij"}}}]
    assert len(statements(MemberAccounts="111111111111", OrganizationId="o-abcdefghij")) == 2


def test_the_member_role_trusts_the_rotators_role_with_the_external_id_if_any():
    rotator = "arn:aws-cn:iam::111122223333:role/s-RotatorRole-ABC"
    trust = RESOURCES["MemberRole"]["Properties"]["AssumeRolePolicyDocument"]
    without = stack(Deploy="member", RotatorRoleArn=rotator).render(trust)["Statement"]
    assert without == [{"Sid": "TheRotatorOnly", "Effect": "Allow", "Principal": {"AWS": rotator}, "Action": "sts:AssumeRole"}]
    with_id = stack(Deploy="member", RotatorRoleArn=rotator, ExternalId="ext-1234").render(trust)["Statement"][0]
    assert with_id["Condition"] == {"StringEquals": {"sts:ExternalId": "ext-1234"}}


def test_an_account_secret_policy_in_the_template_is_rendered_for_its_stack(monkeypatch):
    """motobed/authz.py's reading of an AWS::SecretsManager::ResourcePolicy on AccountSecret (the
    bed enforces it on the stack's secret), with such a resource added to the template in this
    process (in-process moto: no bed)."""
    import copy
    import os

    import boto3
    from moto import mock_aws

    from motobed import authz

    template = copy.deepcopy(cfn.template())
    template["Resources"]["AccountSecretPolicy"] = {
        "Type": "AWS::SecretsManager::ResourcePolicy", "Condition": "IsRotator",
        "Properties": {"SecretId": {"Ref": "AccountSecret"}, "BlockPublicPolicy": True, "ResourcePolicy": {
            "Version": "2012-10-17", "Statement": [{
                "Effect": "Deny", "Principal": "*", "Action": "secretsmanager:GetSecretValue", "Resource": "*",
                "Condition": {"StringNotEquals": {"aws:PrincipalArn": {"Fn::GetAtt": ["RotatorRole", "Arn"]}}}}]}}}
    monkeypatch.setattr(cfn, "template", lambda: template)
    for name in [n for n in os.environ if n.startswith("AWS_ENDPOINT_URL")]:
        monkeypatch.delenv(name)  # the bed's endpoint: boto3 would call it instead of moto in this process
    with mock_aws():
        kw = {"region_name": "cn-north-1", "aws_access_key_id": "testing", "aws_secret_access_key": "testing"}
        tags = [{"Key": "StackName", "Value": "s"}, {"Key": "Region", "Value": "cn-north-1"}, {"Key": "ArchiveBucket", "Value": "b"}]
        role = boto3.client("iam", **kw).create_role(RoleName="cert-rotator-function", AssumeRolePolicyDocument="{}", Tags=tags)["Role"]["Arn"]
        sm = boto3.client("secretsmanager", **kw)
        own, other = (sm.create_secret(Name=n, SecretString="{}")["ARN"] for n in ("s/acme-account", "s/other"))
        backend = authz.secretsmanager_backends["123456789012"]["cn-north-1"]
        policy = authz.stack_secret_policy(backend.secrets[own], "123456789012", "cn-north-1", "aws-cn")
        assert policy["Statement"][0]["Condition"] == {"StringNotEquals": {"aws:PrincipalArn": role}}
        assert authz.stack_secret_policy(backend.secrets[other], "123456789012", "cn-north-1", "aws-cn") is None
        assert authz.stack_secret_policy(backend.secrets[own], "123456789012", "cn-northwest-1", "aws-cn") is None


def test_only_the_function_reads_or_writes_the_account_key_and_the_secret_stays_administrable():
    resource = RESOURCES["AccountSecretPolicy"]
    assert resource["Type"] == "AWS::SecretsManager::ResourcePolicy"
    assert resource["Condition"] == "IsRotator"
    rotator = stack()
    properties = rotator.render(resource["Properties"])
    assert properties["SecretId"] == "arn:aws-cn:secretsmanager:cn-north-1:111122223333:secret:s"
    [statement] = properties["ResourcePolicy"]["Statement"]
    assert statement["Effect"] == "Deny" and statement["Principal"] == "*"
    # Only the value: describing, tagging and this policy itself stay with the administrators.
    assert sorted(statement["Action"]) == ["secretsmanager:GetSecretValue", "secretsmanager:PutSecretValue"]
    assert statement["Condition"] == {"ArnNotEquals": {"aws:PrincipalArn": "arn:aws-cn:iam::111122223333:role/r"}}
    member = stack(Deploy="member", RotatorRoleArn="arn:aws-cn:iam::111122223333:role/r")
    assert not member.condition(resource["Condition"])
