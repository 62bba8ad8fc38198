"""The stack's CloudWatch dashboard (template.yaml `Dashboard`, #22 part 3), rendered as
CloudFormation would render it (motobed/cfn.py): its body is JSON once substituted, every metric it
shows is one the function emits (names, and the dimension sets of src/report/mod.rs's EMF lines),
its SEARCH expressions follow CloudWatch's syntax, and every ARN and region is the stack's own, in
aws-cn as elsewhere. The picture's script (tests/bed/dashboard.py) draws every widget of it.

- Body: https://docs.amazonaws.cn/en_us/AmazonCloudWatch/latest/APIReference/CloudWatch-Dashboard-Body-Structure.html
- SEARCH: https://docs.amazonaws.cn/en_us/AmazonCloudWatch/latest/monitoring/search-expression-syntax.html
  (`SEARCH(' {Namespace, DimensionName...} SearchTerm', 'Statistic')`; a schema matches the
  metrics with exactly those dimensions)
"""

import json
import re
from pathlib import Path

import pytest

import dashboard
from motobed import cfn

RESOURCES = cfn.template()["Resources"]
ROOT = Path(cfn.TEMPLATE).parent
ACCOUNT = "111122223333"
ALARMS = sorted(n for n, r in RESOURCES.items() if r["Type"] == "AWS::CloudWatch::Alarm")
STATISTICS = {"Minimum", "Maximum", "Sum", "Average", "SampleCount"}
# Where the stack can be: both China regions and a global one.
PLACES = (("aws-cn", "cn-north-1"), ("aws-cn", "cn-northwest-1"), ("aws", "eu-west-1"))


def stack(partition="aws-cn", region="cn-north-1", **parameters) -> cfn.Stack:
    # Ref of an alarm is its name, of the function its name (CloudFormation's return values).
    return cfn.Stack(account=ACCOUNT, region=region, partition=partition, name="s", parameters=parameters,
                     refs={"Rotator": "s-rotator", "AlarmTopic": f"arn:{partition}:sns:{region}:{ACCOUNT}:s-AlarmTopic-ABC",
                           **{a: f"s-{a}-ABC" for a in ALARMS}}, attributes={})


def body(s: cfn.Stack) -> dict:
    return json.loads(s.render(RESOURCES["Dashboard"]["Properties"]["DashboardBody"]))


def metric_widgets(b: dict) -> list[dict]:
    return [w["properties"] for w in b["widgets"] if w["type"] == "metric"]


def emitted() -> dict[str, set[tuple[str, ...]]]:
    """Each metric src/report/mod.rs writes, with the dimension sets it writes it with: every
    `emf(timestamp_ms, &[dimensions], &metrics, ...)` call, its metrics inline or the
    `let metrics` (and pushes) before it."""
    source = (ROOT / "src" / "report" / "mod.rs").read_text().split("#[cfg(test)]")[0]
    found: dict[str, set[tuple[str, ...]]] = {}
    calls = list(re.finditer(r"\bemf\(\s*timestamp_ms,\s*&\[([^\]]*)\],\s*&(metrics|\[[^\]]*\])", source))
    assert len(calls) >= 5, "the domain's, the stores' (2), the dry run's and the run's lines"
    for call in calls:
        dimensions = tuple(sorted(re.findall(r'"(\w+)"', call.group(1))))
        if call.group(2) == "metrics":
            before = source[:call.start()]
            start = max(before.rfind("let metrics"), before.rfind("let mut metrics"))
            assert start >= 0, call.group(0)
            text = before[start:]
        else:
            text = call.group(2)
        names = re.findall(r'\("(\w+)", "\w+"\)', text)
        assert names, call.group(0)
        for name in names:
            found.setdefault(name, set()).add(dimensions)
    return found


def shown(b: dict) -> list[tuple[str, str, tuple[str, ...], dict]]:
    """(namespace, metric, sorted dimension names, dimension values or {} for a search) of every
    metric and SEARCH expression of the body's metric widgets."""
    out = []
    for properties in metric_widgets(b):
        for entry in properties["metrics"]:
            if isinstance(entry[0], dict):
                expression = entry[0]["expression"]
                m = re.fullmatch(r"""SEARCH\('\{([^}'"]*)\} MetricName="(\w+)"', '(\w+)'\)""", expression)
                assert m, f"not a SEARCH of one metric in one schema: {expression}"
                namespace, *dimensions = [x.strip() for x in m.group(1).split(",")]
                assert m.group(3) in STATISTICS, expression
                out.append((namespace, m.group(2), tuple(sorted(dimensions)), {}))
                continue
            options = entry[-1] if isinstance(entry[-1], dict) else {}
            namespace, metric, *pairs = entry[:-1] if options else entry
            assert namespace != ".", "no shorthand: each metric spelled out"
            assert options.get("stat", properties.get("stat")) in STATISTICS, entry
            dimensions = dict(zip(pairs[::2], pairs[1::2]))
            out.append((namespace, metric, tuple(sorted(dimensions)), dimensions))
    return out


def test_the_dashboard_is_the_rotator_stacks_and_named_after_it():
    resource = RESOURCES["Dashboard"]
    assert resource["Type"] == "AWS::CloudWatch::Dashboard" and resource["Condition"] == "IsRotator"
    assert stack().render(resource["Properties"]["DashboardName"]) == "s-certificates"
    member = stack(Deploy="member", RotatorRoleArn=f"arn:aws-cn:iam::{ACCOUNT}:role/r")
    assert not member.condition(resource["Condition"])


@pytest.mark.parametrize("partition,region", PLACES)
def test_the_body_is_json_in_the_stacks_region(partition, region):
    b = body(stack(partition, region))
    assert b["widgets"] and b["periodOverride"] == "inherit"
    for properties in metric_widgets(b):
        assert properties["region"] == region, properties["title"]
    raw = RESOURCES["Dashboard"]["Properties"]["DashboardBody"]["Fn::Sub"][0]
    assert "us-east-1" not in raw and not re.search(r"\b(cn|us|eu|ap|sa|ca|me|af|il|mx)-[a-z]+-\d\b", raw), \
        "no region written in: ${AWS::Region}"


def test_each_point_is_one_schedule_interval():
    for hours in ("1", "8", "24"):
        for properties in metric_widgets(body(stack(ScheduleHours=hours))):
            assert properties["period"] == int(hours) * 3600, properties["title"]


@pytest.mark.parametrize("partition,region", PLACES)
def test_the_alarm_widget_lists_every_alarm_of_the_stack_by_its_arn_in_the_stacks_partition(partition, region):
    b = body(stack(partition, region))
    [alarms] = [w["properties"]["alarms"] for w in b["widgets"] if w["type"] == "alarm"]
    assert sorted(alarms) == sorted(f"arn:{partition}:cloudwatch:{region}:{ACCOUNT}:alarm:s-{a}-ABC" for a in ALARMS)
    arns = re.findall(r"arn:[^\"']*", json.dumps(b))
    assert arns and all(a.startswith(f"arn:{partition}:") for a in arns), arns
    raw = RESOURCES["Dashboard"]["Properties"]["DashboardBody"]["Fn::Sub"][0]
    written = "arn:${AWS::Partition}:cloudwatch:${AWS::Region}:${AWS::AccountId}:alarm:"
    assert raw.count("arn:") == raw.count(written) == len(ALARMS), "every ARN from the pseudo parameters"


def test_every_metric_shown_is_one_the_function_emits_with_those_dimensions():
    code = emitted()
    assert code["DaysToExpiry"] == {("Domain",)}
    assert code["StoreMinDaysToExpiry"] == {("Store",), ("Account", "Store")}
    seen = set()
    for namespace, metric, dimensions, values in shown(body(stack())):
        if namespace == "AWS/Lambda":
            assert (metric, values) == ("Duration", {"FunctionName": "s-rotator"}), "the stack's function's own"
        else:
            assert namespace == "CertRotator"
            assert dimensions in code.get(metric, set()), (metric, dimensions, code.get(metric))
        seen.add((metric, dimensions))
    # What #22 part 3 asks for: days per certificate and store, overdue and waiting, renewals and
    # failures, the lifetime share (ExpiryAlarm's metric), the run's duration.
    assert seen == {("DaysToExpiry", ("Domain",)), ("StoreMinDaysToExpiry", ("Store",)),
                    ("StoreMinDaysToExpiry", ("Account", "Store")), ("MinLifetimeLeftPercent", ()),
                    ("Overdue", ()), ("DomainsWaiting", ()), ("Renewals", ()), ("Failures", ()),
                    ("Duration", ("FunctionName",))}


def test_the_lifetime_widget_draws_the_expiry_alarms_threshold():
    s = stack()
    expiry = s.render(RESOURCES["ExpiryAlarm"]["Properties"])
    [widget] = [p for p in metric_widgets(body(s)) if any("MinLifetimeLeftPercent" in e for e in p["metrics"])]
    [line] = widget["annotations"]["horizontal"]
    assert line["value"] == expiry["Threshold"] == 15 and expiry["ComparisonOperator"] == "LessThanThreshold"
    assert line["fill"] == "below"


def test_the_widgets_fit_the_grid_without_overlapping():
    taken = set()
    for w in body(stack())["widgets"]:
        assert 0 <= w["x"] and w["x"] + w["width"] <= 24 and w["height"] > 0, w
        cells = {(x, y) for x in range(w["x"], w["x"] + w["width"]) for y in range(w["y"], w["y"] + w["height"])}
        assert not cells & taken, w["properties"]["title"]
        taken |= cells


def test_the_picture_script_draws_every_widget(tmp_path):
    """tests/bed/dashboard.py's evaluation of the body, on a made-up run: each SEARCH finds its
    series by exact dimensions, each alarm's state follows its template properties."""
    points = []

    def point(run, metric, value, namespace="CertRotator", **dimensions):
        points.append({"run": run, "namespace": namespace, "metric": metric, "unit": "None",
                       "dimensions": dimensions, "value": value})

    for run in (1, 2, 3):
        point(run, "DaysToExpiry", 10.0 * run, Domain="a.example.cn")
        point(run, "StoreMinDaysToExpiry", 5.0, Store="iam")
        point(run, "StoreMinDaysToExpiry", 7.0, Account="210987654321", Store="acm:cn-north-1")
        for metric, value in (("MinLifetimeLeftPercent", 11.0), ("Overdue", 1.0), ("DomainsWaiting", 1.0),
                              ("Renewals", 0.0), ("Failures", 0.0), ("SuccessfulRun", 1.0), ("SkippedRun", 0.0)):
            point(run, metric, value)
        point(run, "Duration", 300.0, namespace="AWS/Lambda", FunctionName="cert-rotator-rotator")
        point(run, "Errors", 0.0, namespace="AWS/Lambda", FunctionName="cert-rotator-rotator")
    data = {"region": "cn-north-1", "partition": "aws-cn", "account": "123456789012", "stack": "cert-rotator",
            "function": "cert-rotator-rotator", "topic": "arn:aws-cn:sns:cn-north-1:123456789012:t",
            "runs": [{"run": n, "label": "scheduled", "started": float(n)} for n in (1, 2, 3)], "points": points}
    b, alarms = dashboard.deployed(data)
    [days, stores] = [dashboard.series(p, points) for p in metric_widgets(b)[:2]]
    assert days == [("a.example.cn", {1: 10.0, 2: 20.0, 3: 30.0})]
    assert stores == [("iam", {1: 5.0, 2: 5.0, 3: 5.0}), ("210987654321 acm:cn-north-1", {1: 7.0, 2: 7.0, 3: 7.0})]
    states = {logical: dashboard.alarm_state(properties, points, 3) for logical, properties in alarms.values()}
    assert states == {"OverdueAlarm": "ALARM", "WaitingAlarm": "ALARM", "ExpiryAlarm": "ALARM", "ErrorsAlarm": "OK",
                      "NoRunAlarm": "OK", "SkippedRunsAlarm": "OK"}
    dashboard.render(data, tmp_path / "d.png")
    assert (tmp_path / "d.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
