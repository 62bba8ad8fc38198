"""template.yaml's two deployments, rendered as the bed renders them (motobed/cfn.py): the rotator
(Deploy=rotator: its policies, environment, schedule and alarms) and a member account's role
(Deploy=member). Not fidelity rules: the template
alone, checked the way CloudFormation would read it (cfn-lint validates the rest)."""

import re
from pathlib import Path

from motobed import cfn, policy

RESOURCES = cfn.template()["Resources"]
SHARED = "CertificateAccess"
CERTIFICATE_SERVICES = {"route53", "iam", "cloudfront", "acm", "elasticloadbalancing"}
TOPIC = "arn:aws-cn:sns:cn-north-1:111122223333:s-AlarmTopic-ABC"  # !Ref AlarmTopic, as CloudFormation names it


def stack(**parameters) -> cfn.Stack:
    return cfn.Stack(account="111122223333", region="cn-north-1", partition="aws-cn", name="s", parameters=parameters,
                     refs={"ArchiveBucket": "b", "AccountSecret": "arn:aws-cn:secretsmanager:cn-north-1:111122223333:secret:s",
                           "AlarmTopic": TOPIC},
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


# The CA's External Account Binding (EabSecret), the default profile, the schedule's interval
# (ScheduleHours) and the alarms that follow it and each certificate's lifetime (#21).

PARAMETERS = cfn.template()["Parameters"]
ROOT = Path(cfn.TEMPLATE).parent
EAB_NAME = "zerossl/eab"


def pattern(parameter: str) -> re.Pattern:
    """A parameter's AllowedPattern (CloudFormation matches the whole value; these patterns are
    anchored and use nothing Java's and Python's regexes read differently)."""
    return re.compile(PARAMETERS[parameter]["AllowedPattern"])


def function_documents(s: cfn.Stack) -> list[dict]:
    return s.policy_documents(RESOURCES["Rotator"]["Properties"]["Policies"])


def environment(s: cfn.Stack) -> dict:
    return s.render(RESOURCES["Rotator"]["Properties"]["Environment"]["Variables"])


def secret_statements(documents: list[dict]) -> list[dict]:
    return [s for d in documents for s in d["Statement"] if "secretsmanager:" in str(s["Action"])]


def in_partition(partition: str, region: str, **parameters) -> cfn.Stack:
    return cfn.Stack(account="111122223333", region=region, partition=partition, name="s", parameters=parameters,
                     refs={"ArchiveBucket": "b", "AccountSecret": f"arn:{partition}:secretsmanager:{region}:111122223333:secret:s/acme-account-AbCdEf",
                           "AlarmTopic": f"arn:{partition}:sns:{region}:111122223333:s-AlarmTopic-ABC"},
                     attributes={"ArchiveBucket.Arn": f"arn:{partition}:s3:::b", "RotatorRole.Arn": f"arn:{partition}:iam::111122223333:role/r"})


def test_the_eab_secret_is_granted_only_when_the_stack_names_one_and_only_to_be_read():
    without = stack()
    assert environment(without)["CERT_ROTATOR_EAB_SECRET"] == ""
    assert [s["Sid"] for s in secret_statements(function_documents(without))] == ["AccountSecret", "BringYourOwnSecrets"]
    with_eab = stack(EabSecret=EAB_NAME)
    assert environment(with_eab)["CERT_ROTATOR_EAB_SECRET"] == EAB_NAME
    statements = secret_statements(function_documents(with_eab))
    assert [s["Sid"] for s in statements] == ["AccountSecret", "EabSecret", "BringYourOwnSecrets"]
    [eab] = [s for s in statements if s["Sid"] == "EabSecret"]
    # Secrets Manager appends a hyphen and 6 random characters to the name in the ARN.
    assert eab == {"Sid": "EabSecret", "Effect": "Allow", "Action": "secretsmanager:GetSecretValue",
                   "Resource": f"arn:aws-cn:secretsmanager:cn-north-1:111122223333:secret:{EAB_NAME}-??????"}
    assert "Condition" not in eab
    # A member deployment has no function, hence no such grant.
    member = stack(Deploy="member", RotatorRoleArn="arn:aws-cn:iam::111122223333:role/r", EabSecret=EAB_NAME)
    assert "secretsmanager:" not in str(member.policy_documents(RESOURCES["MemberRole"]["Properties"]["ManagedPolicyArns"]))


def test_the_eab_grant_names_the_stacks_partition_region_and_account():
    for partition, region in (("aws-cn", "cn-northwest-1"), ("aws", "eu-west-1")):
        [eab] = [s for s in secret_statements(function_documents(in_partition(partition, region, EabSecret=EAB_NAME)))
                 if s["Sid"] == "EabSecret"]
        assert eab["Resource"] == f"arn:{partition}:secretsmanager:{region}:111122223333:secret:{EAB_NAME}-??????"


def test_the_eab_grant_reads_that_one_secret_and_nothing_else():
    """The rendered policy, evaluated as the bed evaluates every request of the function
    (motobed/policy.py): GetSecretValue on the named secret's ARN, whatever its 6 characters; not
    on a secret whose name merely starts with it, nor another action on it."""
    documents = function_documents(stack(EabSecret=EAB_NAME))
    arn = "arn:aws-cn:secretsmanager:cn-north-1:111122223333:secret:{}"

    def allowed(action: str, secret: str, docs=documents) -> bool:
        request = policy.Authorization(f"secretsmanager:{action}", arn.format(secret))
        return policy.decide(request, docs).effect == policy.ALLOW

    assert allowed("GetSecretValue", f"{EAB_NAME}-AbC123")
    assert allowed("GetSecretValue", f"{EAB_NAME}-zZ9y8X")
    for other in (f"{EAB_NAME}-other-AbC123", f"{EAB_NAME}x-AbC123", f"{EAB_NAME}-AbC12", f"x{EAB_NAME}-AbC123",
                  f"{EAB_NAME}/x-AbC123", "zerossl/other-AbC123"):
        assert not allowed("GetSecretValue", other), other
    for action in ("PutSecretValue", "DescribeSecret", "UpdateSecret", "DeleteSecret"):
        assert not allowed(action, f"{EAB_NAME}-AbC123"), action
    assert not allowed("GetSecretValue", f"{EAB_NAME}-AbC123", function_documents(stack())), "no EabSecret, no grant"


def test_an_eab_secret_given_as_its_arn_is_granted_as_given():
    given = f"arn:aws-cn:secretsmanager:cn-north-1:111122223333:secret:{EAB_NAME}-AbC123"
    s = stack(EabSecret=given)
    assert s.condition("EabSecretIsArn") and not stack(EabSecret=EAB_NAME).condition("EabSecretIsArn")
    [eab] = [x for x in secret_statements(function_documents(s)) if x["Sid"] == "EabSecret"]
    assert eab["Resource"] == given and eab["Action"] == "secretsmanager:GetSecretValue"
    assert environment(s)["CERT_ROTATOR_EAB_SECRET"] == given


def test_the_eab_secret_parameter_takes_a_name_or_a_complete_arn():
    allowed = pattern("EabSecret")
    for value in ("", EAB_NAME, "eab", "ca/zerossl_eab+1=a.b@c-d",
                  f"arn:aws-cn:secretsmanager:cn-north-1:111122223333:secret:{EAB_NAME}-AbC123",
                  f"arn:aws:secretsmanager:eu-west-1:111122223333:secret:{EAB_NAME}-AbC123"):
        assert allowed.fullmatch(value), value
    for value in ("has space", 'q"uote', "a:b", "x" * 513,
                  # a partial ARN (without the 6 characters) would be granted as such and match no secret
                  f"arn:aws-cn:secretsmanager:cn-north-1:111122223333:secret:{EAB_NAME}",
                  f"arn:aws-cn:s3:::{EAB_NAME}-AbC123"):
        assert not allowed.fullmatch(value), value


def test_the_profile_is_passed_on_and_is_a_profile_name_or_empty():
    assert environment(stack())["CERT_ROTATOR_PROFILE"] == ""
    assert environment(stack(Profile="shortlived"))["CERT_ROTATOR_PROFILE"] == "shortlived"
    allowed = pattern("Profile")
    for value in ("", "classic", "tlsserver", "shortlived", "x" * 64, "a.b-c_d~!#"):
        assert allowed.fullmatch(value), value
    # The code's is_profile_name: 1 to 64 visible ASCII characters, no `"` or backslash.
    for value in ("two words", " tlsserver", 'a"b', "a\\b", "x" * 65, "tls\tserver", "é"):
        assert not allowed.fullmatch(value), value


def schedule_hours() -> list[int]:
    return [int(v) for v in PARAMETERS["ScheduleHours"]["AllowedValues"]]


def test_schedule_hours_are_the_codes_choices_and_default_to_8():
    assert "Schedule" not in PARAMETERS, "ScheduleHours replaces the free schedule expression"
    assert str(PARAMETERS["ScheduleHours"]["Default"]) == "8"
    source = (ROOT / "src" / "plan" / "renewal.rs").read_text()
    [choices] = re.findall(r"pub const SCHEDULE_HOURS: \[u64; \d+\] = \[([^\]]*)\]", source)
    assert schedule_hours() == [int(h) for h in choices.split(",")] == [1, 2, 3, 4, 6, 8, 12, 24]
    assert environment(stack())["CERT_ROTATOR_RUN_INTERVAL_HOURS"] == "8"
    assert environment(stack(ScheduleHours="24"))["CERT_ROTATOR_RUN_INTERVAL_HOURS"] == "24"


def expression(**parameters) -> str:
    """The schedule's expression: the rule's (ScheduleKind's default) and the scheduler's are one."""
    rule = stack(**parameters).render(RESOURCES["ScheduleRule"]["Properties"]["ScheduleExpression"])
    scheduler = stack(**parameters).render(RESOURCES["RotatorDaily"]["Properties"]["ScheduleExpression"])
    assert rule == scheduler, parameters
    return rule


def hours_of(cron: str) -> list[int]:
    """The hours of day an EventBridge cron expression fires at minute 17, every day. Hours are
    0-23 (https://docs.aws.amazon.com/scheduler/latest/UserGuide/schedule-types.html, and a rule's:
    https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-scheduled-rule-pattern.html): an
    increment past 23 is not written."""
    m = re.fullmatch(r"cron\((\S+) (\S+) \* \* \? \*\)", cron)
    assert m and m.group(1) == "17", cron
    field = m.group(2)
    if field == "*":
        return list(range(24))
    if field.startswith("*/"):
        step = int(field[2:])
        assert 1 < step <= 23, cron
        return list(range(0, 24, step))
    assert 0 <= int(field) <= 23, cron
    return [int(field)]


def test_the_schedule_runs_every_schedule_hours_at_minute_17():
    assert expression() == "cron(17 */8 * * ? *)"
    assert expression(ScheduleHours="8") == "cron(17 */8 * * ? *)"
    assert expression(ScheduleHours="24") == "cron(17 0 * * ? *)"
    assert expression(ScheduleHours="1") == "cron(17 * * * ? *)"
    for hours in schedule_hours():
        fired = hours_of(expression(ScheduleHours=str(hours)))
        assert fired == list(range(0, 24, hours)), (hours, fired)  # evenly, across midnight too
        assert 24 % hours == 0


def alarm(name: str, **parameters) -> dict:
    resource = RESOURCES[name]
    assert resource["Type"] == "AWS::CloudWatch::Alarm" and resource["Condition"] == "IsRotator"
    s = cfn.Stack(account="111122223333", region="cn-north-1", partition="aws-cn", name="s", parameters=parameters,
                  refs={"AlarmTopic": "arn:aws-cn:sns:cn-north-1:111122223333:s-AlarmTopic"}, attributes={})
    rendered = s.render(resource["Properties"])
    assert rendered["AlarmActions"] == ["arn:aws-cn:sns:cn-north-1:111122223333:s-AlarmTopic"]
    return rendered


def emitted(metric: str) -> str:
    """The unit the code gives `metric` on its run's line (src/report/mod.rs), which carries no
    dimensions."""
    source = (ROOT / "src" / "report" / "mod.rs").read_text()
    units = set(re.findall(rf'\("{metric}", "(\w+)"\)', source))
    assert len(units) == 1, (metric, units)
    return units.pop()


def test_the_expiry_alarm_follows_each_certificates_lifetime():
    expiry = alarm("ExpiryAlarm")
    assert {k: expiry[k] for k in ("Namespace", "MetricName", "Statistic", "Period", "EvaluationPeriods", "Threshold",
                                   "ComparisonOperator", "TreatMissingData")} == {
        "Namespace": "CertRotator", "MetricName": "MinLifetimeLeftPercent", "Statistic": "Minimum", "Period": 86400,
        "EvaluationPeriods": 1, "Threshold": 15, "ComparisonOperator": "LessThanThreshold",
        "TreatMissingData": "notBreaching"}
    assert "Dimensions" not in expiry
    assert emitted("MinLifetimeLeftPercent") == "Percent"
    assert "13.5 days" in expiry["AlarmDescription"] and "22 hours" in expiry["AlarmDescription"]
    assert not [n for n, r in RESOURCES.items() if r["Type"] == "AWS::CloudWatch::Alarm"
                and r["Properties"].get("MetricName") == "MinDaysToExpiry"]


def test_the_overdue_alarm_looks_at_one_scheduled_interval():
    for hours in schedule_hours():
        overdue = alarm("OverdueAlarm", ScheduleHours=str(hours))
        assert overdue["Period"] == hours * 3600, hours
        assert {k: overdue[k] for k in ("Namespace", "MetricName", "Statistic", "EvaluationPeriods", "Threshold",
                                        "ComparisonOperator", "TreatMissingData")} == {
            "Namespace": "CertRotator", "MetricName": "Overdue", "Statistic": "Maximum", "EvaluationPeriods": 1,
            "Threshold": 0, "ComparisonOperator": "GreaterThanThreshold", "TreatMissingData": "notBreaching"}
        assert "Dimensions" not in overdue and "DatapointsToAlarm" not in overdue
    assert alarm("OverdueAlarm")["Period"] == 8 * 3600, "the default ScheduleHours"
    assert emitted("Overdue") == "Count"
    assert "overdue: true" in alarm("OverdueAlarm")["AlarmDescription"]


def test_the_waiting_alarm_needs_a_domain_waiting_at_three_scheduled_runs_in_a_row():
    """#22 part 5: a domain past its renewal point waiting on the CA (DomainsWaiting, the run's
    count of deferred domains with a not_before) at three runs in a row, whatever ScheduleHours."""
    for hours in schedule_hours():
        waiting = alarm("WaitingAlarm", ScheduleHours=str(hours))
        assert waiting["Period"] == hours * 3600, hours
        assert {k: waiting[k] for k in ("Namespace", "MetricName", "Statistic", "EvaluationPeriods",
                                        "DatapointsToAlarm", "Threshold", "ComparisonOperator",
                                        "TreatMissingData")} == {
            "Namespace": "CertRotator", "MetricName": "DomainsWaiting", "Statistic": "Minimum",
            "EvaluationPeriods": 3, "DatapointsToAlarm": 3, "Threshold": 0,
            "ComparisonOperator": "GreaterThanThreshold", "TreatMissingData": "notBreaching"}
    assert emitted("DomainsWaiting") == "Count"
    assert "not_before" in alarm("WaitingAlarm")["AlarmDescription"]


def test_the_run_alarms_fit_every_schedule():
    no_run = alarm("NoRunAlarm")
    window = no_run["Period"] * no_run["EvaluationPeriods"]
    assert no_run["DatapointsToAlarm"] == no_run["EvaluationPeriods"] and no_run["TreatMissingData"] == "breaching"
    # Longer than the longest interval, with room for a run that starts late: never one run missed alone.
    assert window >= max(schedule_hours()) * 3600 + 3600, window
    for hours in schedule_hours():
        skipped = alarm("SkippedRunsAlarm", ScheduleHours=str(hours))
        assert (skipped["Period"], skipped["EvaluationPeriods"], skipped["DatapointsToAlarm"]) == (hours * 3600, 2, 2)
        assert skipped["MetricName"] == "SkippedRun" and skipped["TreatMissingData"] == "notBreaching"


# #22 parts 1 and 2: a message per domain that needs a person (SNS, the stack's alarm topic) and
# events on EventBridge (EventBus, by default the default bus): the environment, the parameter and
# the two grants, each on its one resource.

def notify_statements(s: cfn.Stack) -> dict[str, dict]:
    return {st["Sid"]: st for d in function_documents(s) for st in d["Statement"]
            if str(st["Action"]).startswith(("sns:", "events:"))}


def bus_arn(name: str, partition: str = "aws-cn", region: str = "cn-north-1") -> str:
    return f"arn:{partition}:events:{region}:111122223333:event-bus/{name}"


def test_the_function_gets_the_alarm_topic_and_the_event_bus():
    env = environment(stack())
    assert env["CERT_ROTATOR_TOPIC_ARN"] == TOPIC
    assert env["CERT_ROTATOR_EVENT_BUS"] == "", "empty: the default bus"
    assert environment(stack(EventBus="ops"))["CERT_ROTATOR_EVENT_BUS"] == "ops"
    assert environment(stack(EventBus=bus_arn("ops")))["CERT_ROTATOR_EVENT_BUS"] == bus_arn("ops")
    variables = RESOURCES["Rotator"]["Properties"]["Environment"]["Variables"]
    assert variables["CERT_ROTATOR_TOPIC_ARN"] == {"Ref": "AlarmTopic"}
    assert variables["CERT_ROTATOR_EVENT_BUS"] == {"Ref": "EventBus"}
    # The topic exists whenever the function does; a member stack has neither.
    assert RESOURCES["AlarmTopic"]["Condition"] == RESOURCES["Rotator"]["Condition"] == "IsRotator"


def test_the_function_publishes_to_the_alarm_topic_only():
    statements = notify_statements(stack())
    assert statements["NotifyTheAlarmTopic"] == {"Sid": "NotifyTheAlarmTopic", "Effect": "Allow",
                                                 "Action": "sns:Publish", "Resource": TOPIC}
    documents = function_documents(stack())

    def allowed(action: str, resource: str) -> bool:
        return policy.decide(policy.Authorization(action, resource), documents).allowed

    assert allowed("sns:Publish", TOPIC)
    assert not allowed("sns:Publish", "arn:aws-cn:sns:cn-north-1:111122223333:s-AlarmTopic-ABC-other")
    assert not allowed("sns:Publish", "arn:aws-cn:sns:cn-north-1:111122223333:other")
    for action in ("sns:Subscribe", "sns:CreateTopic", "sns:SetTopicAttributes", "sns:PublishBatch"):
        assert not allowed(action, TOPIC), action
    raw = [st for st in RESOURCES["Rotator"]["Properties"]["Policies"][1]["Statement"]
           if isinstance(st, dict) and st.get("Sid") == "NotifyTheAlarmTopic"]
    assert raw[0]["Resource"] == {"Ref": "AlarmTopic"}


def test_the_function_puts_events_on_the_stacks_bus_only():
    for parameters, bus in (({}, bus_arn("default")), ({"EventBus": "ops"}, bus_arn("ops")),
                            ({"EventBus": bus_arn("ops.team_1-x")}, bus_arn("ops.team_1-x"))):
        s = stack(**parameters)
        statement = notify_statements(s)["PutEventsOnTheStacksBus"]
        assert statement == {"Sid": "PutEventsOnTheStacksBus", "Effect": "Allow", "Action": "events:PutEvents",
                             "Resource": bus}, parameters
        documents = function_documents(s)
        for action, resource, expected in (("events:PutEvents", bus, True),
                                           ("events:PutEvents", bus_arn("elsewhere"), False),
                                           ("events:PutRule", bus, False), ("events:PutTargets", bus, False)):
            assert policy.decide(policy.Authorization(action, resource), documents).allowed == expected, (parameters, action)
        if parameters:
            assert not policy.decide(policy.Authorization("events:PutEvents", bus_arn("default")), documents).allowed
    assert stack(EventBus=bus_arn("ops")).condition("EventBusIsArn") and not stack(EventBus="ops").condition("EventBusIsArn")
    assert not stack().condition("HasEventBus")
    for partition, region in (("aws-cn", "cn-northwest-1"), ("aws", "eu-west-1")):
        statements = notify_statements(in_partition(partition, region))
        assert statements["PutEventsOnTheStacksBus"]["Resource"] == bus_arn("default", partition, region)
        assert statements["NotifyTheAlarmTopic"]["Resource"] == f"arn:{partition}:sns:{region}:111122223333:s-AlarmTopic-ABC"


def test_the_event_bus_parameter_takes_a_name_or_an_arn():
    assert PARAMETERS["EventBus"]["Default"] == ""
    allowed = pattern("EventBus")
    for value in ("", "default", "ops", "ops.team_1-x", "x" * 256, bus_arn("ops"), bus_arn("ops", "aws", "eu-west-1"),
                  "arn:aws-cn:events:cn-northwest-1:111122223333:event-bus/default"):
        assert allowed.fullmatch(value), value
    for value in ("x" * 257, "has space", "a/b", "a:b", "é", 'q"uote',
                  "arn:aws-cn:events:cn-north-1:111122223333:rule/ops",  # a rule, not a bus
                  "arn:aws-cn:events:cn-north-1:1111:event-bus/ops", "arn:aws-cn:sns:cn-north-1:111122223333:ops"):
        assert not allowed.fullmatch(value), value


def test_a_member_stack_gets_neither_grant():
    member = stack(Deploy="member", RotatorRoleArn="arn:aws-cn:iam::111122223333:role/r")
    granted = str(member.policy_documents(RESOURCES["MemberRole"]["Properties"]["ManagedPolicyArns"]))
    assert "sns:" not in granted and "events:" not in granted
    assert not member.condition(RESOURCES["AlarmTopic"]["Condition"])
