"""template.yaml's two schedules (ScheduleKind, #22 part 6): an EventBridge rule (the default) or an
EventBridge Scheduler schedule. For each, the input its target gets for a sample firing is rendered
as AWS documents the substitution, and read by the product's own event parser
(`cert-rotator check-event -`, which reads nothing from AWS): the scheduled-run mark is there, the
stack's domains come through (a `Domains` value, or the `DomainsKey` object the run reads), and a
`force` left in them is refused.

The rule's input transformer, as AWS documents it
(https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-transform-target-input.html,
https://docs.aws.amazon.com/eventbridge/latest/APIReference/API_InputTransformer.html):
`InputPathsMap` names values of the event by JSON path (keys `[A-Za-z0-9_-]+`, not starting with
"AWS"); `<name>` in `InputTemplate` is replaced by that value, or by a predefined variable
(`aws.events.rule-arn`, ...); inside a JSON string the value's text goes in unescaped, outside one
the value as JSON (a string quoted); `<` and `>` cannot be escaped; a template that is a JSON
object must be valid JSON and a placeholder is never a key; at most 8,192 characters.

Scheduler (https://docs.aws.amazon.com/scheduler/latest/UserGuide/managing-schedule-context-attributes.html)
replaces its four context attributes, `<aws.scheduler.schedule-arn>` and the rest, in the input.

The template is rendered as the bed renders it (motobed/cfn.py); no bed service is called.
"""

import copy
import json
import re
import subprocess
from pathlib import Path

import pytest

from motobed import cfn

TEMPLATE = cfn.template()
RESOURCES = TEMPLATE["Resources"]
PARAMETERS = TEMPLATE["Parameters"]
OUTPUTS = TEMPLATE["Outputs"]
ROOT = Path(cfn.TEMPLATE).parent
PRODUCT = ROOT / "target" / "debug" / "cert-rotator"

ACCOUNT, REGION, PARTITION = "123456789012", "cn-north-1", "aws-cn"
RULE_NAME = "s-ScheduleRule-1AB2CD3EF4GH5"  # as CloudFormation names a rule without a Name
RULE_ARN = f"arn:{PARTITION}:events:{REGION}:{ACCOUNT}:rule/{RULE_NAME}"
SCHEDULE_ARN = f"arn:{PARTITION}:scheduler:{REGION}:{ACCOUNT}:schedule/default/RotatorDaily"
FUNCTION = "s-rotator"
FUNCTION_ARN = f"arn:{PARTITION}:lambda:{REGION}:{ACCOUNT}:function:{FUNCTION}"
TIME = "2026-12-08T00:17:00Z"
BUCKET, KEY = "inputs", "cert-rotator/domains.json"

# The event a scheduled rule sends (https://docs.aws.amazon.com/lambda/latest/dg/with-scheduled-events.html).
SCHEDULED_EVENT = {
    "version": "0", "id": "89d1a02d-5ec7-412e-82f5-13505f849b41", "detail-type": "Scheduled Event",
    "source": "aws.events", "account": ACCOUNT, "time": TIME, "region": REGION,
    "resources": [RULE_ARN], "detail": {},
}
RULE_RESOURCES = {"ScheduleRule", "ScheduleRulePermission"}
SCHEDULER_RESOURCES = {"RotatorDaily", "RotatorDailyRole"}


def documented_domains() -> str:
    """The Domains parameter's documented example (as tests/events.rs reads it)."""
    return PARAMETERS["Domains"]["Description"].split("e.g.")[1].split()[0]


def with_force(domains: str) -> str:
    listed = json.loads(domains)
    listed[-1]["force"] = True
    return json.dumps(listed)


def stack(**parameters) -> cfn.Stack:
    return cfn.Stack(account=ACCOUNT, region=REGION, partition=PARTITION, name="s", parameters=parameters,
                     refs={"Rotator": FUNCTION, "ScheduleRule": RULE_NAME, "RotatorDaily": "RotatorDaily",
                           "ArchiveBucket": "b", "AccountSecret": "s/acme-account"},
                     attributes={"Rotator.Arn": FUNCTION_ARN, "ScheduleRule.Arn": RULE_ARN,
                                 "RotatorDaily.Arn": SCHEDULE_ARN,
                                 "RotatorDailyRole.Arn": f"arn:{PARTITION}:iam::{ACCOUNT}:role/s-RotatorDailyRole-X"})


def created(s: cfn.Stack) -> set[str]:
    return {name for name, r in RESOURCES.items() if "Condition" not in r or s.condition(r["Condition"])}


def domains_parameters(kind: str, source: str, domains: str | None = None) -> dict:
    """The stack's parameters for a list given inline (`Domains`) or in S3 (`DomainsKey`)."""
    if source == "Domains":
        return {"ScheduleKind": kind, "Domains": domains or documented_domains()}
    return {"ScheduleKind": kind, "SourceBucket": BUCKET, "DomainsKey": KEY}


# --- AWS's documented substitutions ---------------------------------------------------------------

class TransformError(ValueError):
    """What EventBridge would refuse (PutTargets) or could not substitute."""


_MISSING = object()


def json_path(event, path: str):
    """The value at a JSON path of the kinds EventBridge supports: dot notation, array indices."""
    step = r"\.([A-Za-z0-9_\-/]+)|\[(\d+)\]"
    if not path.startswith("$") or re.sub(step, "", path[1:]):
        raise TransformError(f"{path!r}: only dot notation and array indices")
    value = event
    for name, index in re.findall(step, path[1:]):
        if name:
            if not isinstance(value, dict) or name not in value:
                return _MISSING
            value = value[name]
        else:
            if not isinstance(value, list) or int(index) >= len(value):
                return _MISSING
            value = value[int(index)]
    return value


def transform(transformer: dict, event: dict, rule_arn: str) -> str:
    """The input EventBridge gives a rule's target with this InputTransformer for `event`."""
    template = transformer["InputTemplate"]
    if not 1 <= len(template) <= 8192:
        raise TransformError(f"InputTemplate is {len(template)} characters; 1 to 8,192")
    variables = {}
    for key, path in transformer.get("InputPathsMap", {}).items():
        if not re.fullmatch(r"[A-Za-z0-9_\-]+", key) or key.upper().startswith("AWS"):
            raise TransformError(f"InputPathsMap key {key!r}")
        value = json_path(event, path)
        if value is not _MISSING:  # a path the event lacks makes no variable
            variables[key] = value
    without_detail = {k: v for k, v in event.items() if k != "detail"}
    variables.update({"aws.events.rule-arn": rule_arn, "aws.events.rule-name": rule_arn.rsplit("/", 1)[1],
                      "aws.events.event.ingestion-time": event["time"], "aws.events.event": without_detail,
                      "aws.events.event.json": event})
    out, i = [], 0
    in_string = escaped = placeholder_in_string = False
    while i < len(template):
        c = template[i]
        if c in "<>":
            end = template.find(">", i)
            name = template[i + 1:end] if c == "<" and end > i else None
            if name not in variables:
                # < and > cannot be escaped: any of them is a placeholder, and this one names nothing.
                raise TransformError(f"{template[i:i + 40]!r}: < and > cannot be escaped, and this names no variable")
            value = variables[name]
            if in_string:
                placeholder_in_string = True
                out.append(value if isinstance(value, str) else json.dumps(value).replace('"', ""))
            else:
                out.append(json.dumps(value))
            i = end + 1
            continue
        out.append(c)
        if in_string:
            if escaped:
                escaped = False
            elif c == "\\":
                escaped = True
            elif c == '"':
                in_string = False
                if placeholder_in_string and template[i + 1:].lstrip().startswith(":"):
                    raise TransformError("a placeholder cannot be used as an object key")
        elif c == '"':
            in_string, placeholder_in_string = True, False
        i += 1
    text = "".join(out)
    if template.lstrip().startswith("{"):
        try:
            json.loads(text)
        except ValueError as e:
            raise TransformError(f"not valid JSON once substituted ({e}): {text[:200]}") from e
    return text


def scheduler_input(text: str, schedule_arn: str, time: str) -> str:
    """The input EventBridge Scheduler gives its target: its context attributes replaced."""
    for attribute, value in {"schedule-arn": schedule_arn, "scheduled-time": time,
                             "execution-id": "d32c5kddcf5bb8c3", "attempt-number": "1"}.items():
        text = text.replace(f"<aws.scheduler.{attribute}>", value)
    return text


def rule_target(s: cfn.Stack) -> dict:
    [target] = s.render(RESOURCES["ScheduleRule"]["Properties"])["Targets"]
    return target


def delivered(kind: str, parameters: dict) -> tuple[str, str]:
    """What the function receives when the stack's schedule fires at TIME, and the schedule's ARN."""
    s = stack(**parameters)
    assert s.condition("ScheduledByRule" if kind == "rule" else "ScheduledByScheduler")
    if kind == "rule":
        return transform(rule_target(s)["InputTransformer"], SCHEDULED_EVENT, RULE_ARN), RULE_ARN
    target = s.render(RESOURCES["RotatorDaily"]["Properties"])["Target"]
    return scheduler_input(target["Input"], SCHEDULE_ARN, TIME), SCHEDULE_ARN


# --- the product's parser -------------------------------------------------------------------------

@pytest.fixture(scope="module")
def check_event():
    """`cert-rotator check-event -`: (exit code, the JSON it prints, or its stderr)."""
    if not PRODUCT.exists():
        pytest.skip(f"{PRODUCT.relative_to(ROOT)} is not built (these tests use it, they do not build it: "
                    "`cargo build` first)")

    def run(event: str):
        p = subprocess.run([str(PRODUCT), "check-event", "-"], input=event, capture_output=True, text=True,
                           timeout=60)
        return p.returncode, (json.loads(p.stdout) if p.returncode == 0 else p.stderr)
    return run


KINDS = ["rule", "scheduler"]


# --- the resources --------------------------------------------------------------------------------

def test_the_default_kind_is_the_rule_the_design_names():
    assert PARAMETERS["ScheduleKind"]["Default"] == "rule"
    assert PARAMETERS["ScheduleKind"]["AllowedValues"] == ["rule", "scheduler"]
    default = stack()
    assert default.condition("ScheduledByRule") and not default.condition("ScheduledByScheduler")
    assert RULE_RESOURCES <= created(default) and not SCHEDULER_RESOURCES & created(default)


def test_each_kind_creates_its_schedule_and_not_the_other():
    rule, scheduler = created(stack(ScheduleKind="rule")), created(stack(ScheduleKind="scheduler"))
    assert RULE_RESOURCES <= rule and not SCHEDULER_RESOURCES & rule
    assert SCHEDULER_RESOURCES <= scheduler and not RULE_RESOURCES & scheduler
    assert rule - RULE_RESOURCES == scheduler - SCHEDULER_RESOURCES, "nothing else differs"
    assert RESOURCES["ScheduleRule"]["Type"] == "AWS::Events::Rule"
    assert RESOURCES["ScheduleRulePermission"]["Type"] == "AWS::Lambda::Permission"
    assert RESOURCES["RotatorDaily"]["Type"] == "AWS::Scheduler::Schedule"
    # SAM gives a function's event no Condition of its own: the scheduler's schedule is written out.
    assert "Events" not in RESOURCES["Rotator"]["Properties"]
    for kind in KINDS:
        member = stack(Deploy="member", RotatorRoleArn="arn:aws-cn:iam::111122223333:role/r", ScheduleKind=kind)
        assert not (RULE_RESOURCES | SCHEDULER_RESOURCES) & created(member)


def test_the_schedule_output_names_whichever_schedule_exists():
    output = OUTPUTS["Schedule"]
    assert stack(ScheduleKind="rule").render(output["Value"]) == RULE_ARN
    assert stack(ScheduleKind="scheduler").render(output["Value"]) == SCHEDULE_ARN
    member = stack(Deploy="member", RotatorRoleArn="arn:aws-cn:iam::111122223333:role/r")
    assert not member.condition(output["Condition"])


def test_only_the_rule_may_invoke_the_function_through_the_permission():
    s = stack(ScheduleKind="rule")
    permission = s.render(RESOURCES["ScheduleRulePermission"]["Properties"])
    assert permission == {"Action": "lambda:InvokeFunction", "FunctionName": FUNCTION,
                          "Principal": "events.amazonaws.com", "SourceArn": RULE_ARN}
    target = rule_target(s)
    assert target["Arn"] == FUNCTION_ARN and "RoleArn" not in target  # the permission, not a role
    # The scheduler's role may invoke the function, and nothing else.
    role = stack(ScheduleKind="scheduler").render(RESOURCES["RotatorDailyRole"]["Properties"])
    assert role["AssumeRolePolicyDocument"]["Statement"][0]["Principal"] == {"Service": ["scheduler.amazonaws.com"]}
    [policy] = role["Policies"]
    assert policy["PolicyDocument"]["Statement"] == [
        {"Effect": "Allow", "Action": "lambda:InvokeFunction", "Resource": FUNCTION_ARN}]


def test_both_kinds_fire_on_the_same_expression_and_retry_no_run():
    for hours in PARAMETERS["ScheduleHours"]["AllowedValues"]:
        rule = stack(ScheduleKind="rule", ScheduleHours=hours).render(RESOURCES["ScheduleRule"]["Properties"])
        schedule = stack(ScheduleKind="scheduler", ScheduleHours=hours).render(RESOURCES["RotatorDaily"]["Properties"])
        expected = TEMPLATE["Mappings"]["Schedule"][hours]["Expression"]
        assert rule["ScheduleExpression"] == schedule["ScheduleExpression"] == expected, hours
        assert rule["State"] == "ENABLED" and schedule["FlexibleTimeWindow"] == {"Mode": "OFF"}
    target = rule_target(stack(ScheduleKind="rule"))
    schedule_target = stack(ScheduleKind="scheduler").render(RESOURCES["RotatorDaily"]["Properties"])["Target"]
    assert target["RetryPolicy"] == schedule_target["RetryPolicy"] == {"MaximumRetryAttempts": 0}
    assert "DeadLetterConfig" not in target and "DeadLetterConfig" not in schedule_target
    assert RESOURCES["Rotator"]["Properties"]["EventInvokeConfig"] == {"MaximumRetryAttempts": 0}


# --- the input, rendered and parsed ---------------------------------------------------------------

def test_the_renderer_follows_awss_documented_examples():
    """The user guide's example event, InputPathsMap and templates, with its outputs."""
    event = {"version": "0", "id": "7bf73129-1428-4cd3-a780-95db273d1602",
             "detail-type": "EC2 Instance State-change Notification", "source": "aws.ec2", "account": ACCOUNT,
             "time": "2015-11-11T21:29:54Z", "region": "us-east-1",
             "resources": ["arn:aws:ec2:us-east-1:123456789012:instance/i-abcd1111"],
             "detail": {"instance-id": "i-0123456789", "state": "RUNNING"}}
    paths = {"timestamp": "$.time", "instance": "$.detail.instance-id", "state": "$.detail.state"}
    rule = "arn:aws:events:us-east-2:123456789012:rule/example"

    def out(template):
        return transform({"InputPathsMap": paths, "InputTemplate": template}, event, rule)
    assert out('"instance <instance> is in <state>"') == '"instance i-0123456789 is in RUNNING"'
    assert json.loads(out('{"instance" : <instance>, "state": <state>}')) == {"instance": "i-0123456789", "state": "RUNNING"}
    assert json.loads(out('{"instance" : <instance>, "state": "<state>", "instanceStatus": "instance \\"<instance>\\" is in <state>"}')) == {
        "instance": "i-0123456789", "state": "RUNNING", "instanceStatus": 'instance "i-0123456789" is in RUNNING'}
    assert json.loads(out('{"instance" : <instance>, "state": [ 9, <state>, true ], "Transformed" : "Yes"}')) == {
        "instance": "i-0123456789", "state": [9, "RUNNING", True], "Transformed": "Yes"}
    assert json.loads(out('{"ruleArn" : <aws.events.rule-arn>, "ruleName" : <aws.events.rule-name>}')) == {
        "ruleArn": rule, "ruleName": "example"}
    for bad in ('{"<instance>": 1}', '{"a": <nothing>}', '{"a": "x < y"}', '{"a": <instance>'):
        with pytest.raises(TransformError):
            out(bad)


@pytest.mark.parametrize("kind", KINDS)
def test_the_schedules_input_carries_the_mark_and_the_domains(kind, check_event):
    text, schedule_arn = delivered(kind, domains_parameters(kind, "Domains"))
    code, request = check_event(text)
    assert code == 0, request
    assert request["scheduled"] == {"arn": schedule_arn, "time": TIME}
    assert request["refused"] == []
    # The same domains as the Domains value invoked by hand, without the mark.
    code, by_hand = check_event(json.dumps({"domains": json.loads(documented_domains())}))
    assert code == 0 and by_hand["scheduled"] is None, by_hand
    assert request["domains"] == by_hand["domains"] and len(request["domains"]) == 2


@pytest.mark.parametrize("kind", KINDS)
def test_a_force_left_in_domains_is_refused_by_the_scheduled_run(kind, check_event):
    text, schedule_arn = delivered(kind, domains_parameters(kind, "Domains", with_force(documented_domains())))
    code, request = check_event(text)
    assert code == 0, request
    assert request["scheduled"]["arn"] == schedule_arn
    assert len(request["refused"]) == 1 and "force is refused in a scheduled run" in request["refused"][0]
    assert len(request["domains"]) == 1 and not request["domains"][0]["force"]
    # By hand, the same list forces that domain.
    code, by_hand = check_event(json.dumps({"domains": json.loads(with_force(documented_domains()))}))
    assert code == 0 and by_hand["refused"] == [] and by_hand["domains"][-1]["force"]


@pytest.mark.parametrize("kind", KINDS)
def test_with_domains_key_the_input_names_the_object_and_the_run_reads_it_as_scheduled(kind, check_event):
    text, schedule_arn = delivered(kind, domains_parameters(kind, "DomainsKey"))
    code, request = check_event(text)
    assert code == 0, request
    assert request["domains_from"] == f"s3://{BUCKET}/{KEY}"
    # The run puts the object's list in the reference's place (event::domain_list) and reads the
    # event as one: the mark still holds, so a force in the object is refused too.
    event = json.loads(text)
    assert set(event) == {"schedule", "domains"}
    for listed, refused in ((documented_domains(), 0), (with_force(documented_domains()), 1)):
        code, read = check_event(json.dumps({**event, "domains": json.loads(listed)}))
        assert code == 0, read
        assert read["scheduled"] == {"arn": schedule_arn, "time": TIME}
        assert len(read["refused"]) == refused and len(read["domains"]) == 2 - refused


def test_a_domains_value_embeds_validly_in_the_rules_input_template():
    """Domains is written into the template by CloudFormation: valid JSON stays valid, < and >
    (which the input transformer cannot escape) are refused by the parameter, and the largest
    value a parameter holds (4,096 bytes) fits the template's 8,192 characters."""
    domains = pattern("Domains")
    example = documented_domains()
    for value in ("", example, '[{"names":["a.example.cn"],"source":"s3://b/\\u003ck\\u003e"}]', " [ ] "):
        assert domains.fullmatch(value), value
    for value in ('[{"names":["<a>.example.cn"]}]', '[{"names":["a.example.cn"],"x":"<aws.events.rule-arn>"}]',
                  "[>]", "{}", "x"):
        assert not domains.fullmatch(value), value
    # Without the parameter's pattern, such a value would break the rule's input.
    unchecked = stack(ScheduleKind="rule", Domains='[{"names":["a.example.cn"],"note":"<x>"}]')
    with pytest.raises(TransformError):
        transform(rule_target(unchecked)["InputTransformer"], SCHEDULED_EVENT, RULE_ARN)
    # A value escaping < and > the JSON way comes through as those characters.
    escaped = '[{"names":["a.example.cn"],"source":"s3://b/\\u003ck\\u003e.pem"}]'
    text, _ = delivered("rule", {"ScheduleKind": "rule", "Domains": escaped})
    assert json.loads(text)["domains"][0]["source"] == "s3://b/<k>.pem"
    # The largest parameter value.
    one = '{"names":["x%04d.example.cn"]}'
    largest = "[" + ",".join(one % i for i in range(4096 // (len(one % 0) + 1))) + "]"
    assert len(largest.encode()) <= 4096 and domains.fullmatch(largest)
    template = rule_target(stack(ScheduleKind="rule", Domains=largest))["InputTransformer"]["InputTemplate"]
    assert len(template) <= 8192
    assert len(json.loads(transform({"InputPathsMap": {"arn": "$.resources[0]", "time": "$.time"},
                                     "InputTemplate": template}, SCHEDULED_EVENT, RULE_ARN))["domains"]) > 100


def test_a_domains_key_embeds_validly_in_both_inputs():
    key = pattern("DomainsKey")
    for value in ("", KEY, "a", "lists/2026 Q4/domains (all).json", "~user/#1;=?@[x]^_`{|}.json"):
        assert key.fullmatch(value), value
    for value in (" leading", 'q"uote', "back\\slash", "a<b", "a>b", "é", "tab\there"):
        assert not key.fullmatch(value), value
    odd = "lists/2026 Q4/#1;=?@[x]^_`{|}~.json"
    for kind in KINDS:
        text, _ = delivered(kind, {"ScheduleKind": kind, "SourceBucket": BUCKET, "DomainsKey": odd})
        assert json.loads(text)["domains"] == f"s3://{BUCKET}/{odd}"


def test_the_rule_reads_the_mark_from_the_event_not_from_the_template():
    """The mark's values come from the firing (resources[0], time): a rule renamed or an event
    at another time gives another mark, and an event without them gives none that parses."""
    s = stack(ScheduleKind="rule", Domains=documented_domains())
    transformer = rule_target(s)["InputTransformer"]
    assert transformer["InputPathsMap"] == {"arn": "$.resources[0]", "time": "$.time"}
    other = copy.deepcopy(SCHEDULED_EVENT)
    other["resources"], other["time"] = [RULE_ARN + "-2"], "2026-12-08T08:17:00Z"
    mark = json.loads(transform(transformer, other, RULE_ARN + "-2"))["schedule"]
    assert mark == {"arn": RULE_ARN + "-2", "time": "2026-12-08T08:17:00Z"}
    with pytest.raises(TransformError):  # no resources: no variable, and its placeholder names nothing
        transform(transformer, {k: v for k, v in SCHEDULED_EVENT.items() if k != "resources"}, RULE_ARN)


def pattern(parameter: str) -> re.Pattern:
    return re.compile(PARAMETERS[parameter]["AllowedPattern"])
