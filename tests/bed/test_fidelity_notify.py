"""The message per domain (SNS Publish to the stack's alarm topic) and the events (EventBridge
PutEvents) on the bed, through boto3: motobed/sns.py, events.py and sqs.py, and the function's
grants for them (motobed/authz.py, template.yaml's NotifyTheAlarmTopic and
PutEventsOnTheStacksBus). Tests marked `fidelity` are rules (each fails on plain moto); the others
show what the Rust tests can rely on, the read-back recipe first:

Reading back what the function published or put (the setup role, in the stack's account):
    sqs.create_queue(QueueName=q) -> QueueUrl; sqs.get_queue_attributes(QueueUrl, ["QueueArn"])
    messages (SNS -> SQS):
        sqs.set_queue_attributes(QueueUrl, Attributes={"Policy": json.dumps(
            {"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
             "Principal": {"Service": "sns.amazonaws.com"}, "Action": "sqs:SendMessage",
             "Resource": <queue ARN>, "Condition": {"ArnEquals": {"aws:SourceArn": <topic ARN>}}}]})})
        sns.subscribe(TopicArn=<topic ARN>, Protocol="sqs", Endpoint=<queue ARN>)
        -> each message: a body that is SNS's envelope, JSON: {"Type": "Notification", "MessageId",
           "TopicArn", "Subject", "Message": <the "sqs" key, else "default">, "Timestamp",
           "SignatureVersion", "Signature", "SigningCertURL", "UnsubscribeURL"}
    events (EventBridge rule -> SQS):
        events.put_rule(Name=r, EventPattern='{"source": ["cert-rotator"]}', EventBusName=<bus or
                        omitted for the default>) -> RuleArn
        sqs.set_queue_attributes(... "Principal": {"Service": "events.amazonaws.com"},
                                 "Condition": {"ArnEquals": {"aws:SourceArn": <rule ARN>}} ...)
        events.put_targets(Rule=r, EventBusName=<as above>, Targets=[{"Id": "q", "Arn": <queue ARN>}])
        -> each message: a body that is the event, JSON: {"version": "0", "id", "detail-type",
           "source", "account", "time": "YYYY-MM-DDTHH:MM:SSZ", "region", "resources", "detail"}
    sqs.receive_message(QueueUrl, MaxNumberOfMessages=10, WaitTimeSeconds=1) (then delete_message)
AWS needs the queue policy too (motobed/sqs.py); without it nothing arrives and
`GET /deliveries` on the control port says why.
"""

import datetime as dt
import json
import random
import time
import urllib.request

import pytest
from botocore.exceptions import ClientError

import stack as stack_module
from conftest import control, make_client, unique

CN = "cn-north-1"
PATTERN = json.dumps({"source": ["cert-rotator"]})
DETAIL_TYPES = ("Certificate Renewed", "Certificate Renewal Failed", "Certificate Deferred", "Certificate Retired")


# --- helpers -------------------------------------------------------------------------------------

def account() -> str:
    return f"{random.randrange(10**11, 10**12)}"


def setup_clients(bed, region: str = CN, acct: str | None = None):
    """(sns, sqs, events) clients of the unrestricted set-up role in `acct` (default: a fresh account)."""
    session = stack_module.setup_session(bed["AWS_ENDPOINT_URL"], region, acct or account())
    return tuple(session.client(s, endpoint_url=bed["AWS_ENDPOINT_URL"]) for s in ("sns", "sqs", "events"))


def new_queue(sqs) -> tuple[str, str]:
    url = sqs.create_queue(QueueName=unique("q"))["QueueUrl"]
    return url, sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]


def allow(sqs, url: str, queue_arn: str, service: str, source_arn: str) -> None:
    """The queue policy AWS needs for `service` (sns.amazonaws.com, events.amazonaws.com) to
    deliver from `source_arn` (the topic, the rule)."""
    policy = {"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"Service": service}, "Action": "sqs:SendMessage", "Resource": queue_arn,
        "Condition": {"ArnEquals": {"aws:SourceArn": source_arn}}}]}
    sqs.set_queue_attributes(QueueUrl=url, Attributes={"Policy": json.dumps(policy)})


def subscribed_queue(sns, sqs, topic: str, policy: bool = True) -> tuple[str, str]:
    """A queue subscribed to `topic` (with the queue policy SNS needs); (queue URL, subscription ARN)."""
    url, arn = new_queue(sqs)
    if policy:
        allow(sqs, url, arn, "sns.amazonaws.com", topic)
    return url, sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn)["SubscriptionArn"]


def event_queue(events, sqs, bus: str | None = None, policy: bool = True, **rule) -> tuple[str, str]:
    """A queue that a rule on `bus` (default: the default bus) matching source cert-rotator
    targets; (queue URL, rule ARN)."""
    url, arn = new_queue(sqs)
    on_bus = {"EventBusName": bus} if bus else {}
    name = unique("rule")
    rule_arn = events.put_rule(Name=name, **{"EventPattern": PATTERN, **rule}, **on_bus)["RuleArn"]
    if policy:
        allow(sqs, url, arn, "events.amazonaws.com", rule_arn)
    events.put_targets(Rule=name, Targets=[{"Id": "q", "Arn": arn}], **on_bus)
    return url, rule_arn


def received(sqs, url: str, expected: int = 1, seconds: float = 3.0) -> list[dict]:
    """The queue's messages' bodies (JSON), deleted: waits for `expected`, then takes what is
    there (0 expected: whatever arrives within a second)."""
    bodies: list[dict] = []
    deadline = time.monotonic() + (seconds if expected else 1.0)
    while time.monotonic() < deadline and (len(bodies) < expected or not expected):
        for m in sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0).get("Messages", []):
            bodies.append(json.loads(m["Body"]))
            sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
        if len(bodies) < expected or not expected:
            time.sleep(0.1)
    return bodies


def error(call, **kwargs) -> tuple[str, str, int]:
    with pytest.raises(ClientError) as e:
        call(**kwargs)
    err = e.value.response["Error"]
    return err["Code"], err["Message"], e.value.response["ResponseMetadata"]["HTTPStatusCode"]


def json_message(default: str = "A domain needs you", **keys) -> str:
    return json.dumps({"default": default, "email": default, **keys})


def entry(detail_type: str = "Certificate Renewed", detail: dict | str | None = None, **more) -> dict:
    detail = json.dumps(detail if detail is not None else {"names": ["a.example.cn"]}) if not isinstance(detail, str) else detail
    return {"Source": "cert-rotator", "DetailType": detail_type, "Detail": detail, **more}


def deliveries(bed) -> list[dict]:
    with urllib.request.urlopen(bed["BED_CONTROL_URL"] + "/deliveries", timeout=5) as r:
        return json.loads(r.read())


# --- the recipe (what the Rust tests can do) -----------------------------------------------------

def test_the_functions_messages_and_events_are_read_back_through_queues(bed, new_stack):
    stack = new_stack()
    sns, sqs, events = (stack.client("setup", s) for s in ("sns", "sqs", "events"))
    messages, _ = subscribed_queue(sns, sqs, stack.topic)
    event_url, _ = event_queue(events, sqs)
    # As the function (held to template.yaml): one message, events in one call.
    machine = {"domain": "a.example.cn", "error": "CAA forbids the CA", "days_left": 12}
    stack.client("function", "sns").publish(
        TopicArn=stack.topic, Subject="cert-rotator: a.example.cn needs you", MessageStructure="json",
        Message=json_message("a.example.cn: CAA forbids the CA", sqs=json.dumps(machine), **{"lambda": json.dumps(machine)}))
    put = stack.client("function", "events").put_events(Entries=[entry(t, {"names": ["a.example.cn"], "n": i})
                                                                 for i, t in enumerate(DETAIL_TYPES)])
    assert put["FailedEntryCount"] == 0 and all("EventId" in e for e in put["Entries"])
    [note] = received(sqs, messages)
    assert note["Type"] == "Notification" and note["TopicArn"] == stack.topic
    assert note["Subject"] == "cert-rotator: a.example.cn needs you"
    assert json.loads(note["Message"]) == machine, "the sqs key"
    got = received(sqs, event_url, expected=4)
    assert sorted(e["detail-type"] for e in got) == sorted(DETAIL_TYPES)
    assert {e["source"] for e in got} == {"cert-rotator"} and {e["account"] for e in got} == {stack.account}
    assert sorted(e["detail"]["n"] for e in got) == [0, 1, 2, 3]
    assert {e["id"] for e in got} == {e["EventId"] for e in put["Entries"]}


def test_put_events_takes_at_most_10_entries(bed):
    """Plain moto does it (not a rule): the Rust side batches by 10."""
    _, _, events = setup_clients(bed)
    code, message, status = error(events.put_events, Entries=[entry()] * 11)
    assert (code, status) == ("ValidationException", 400)
    assert "Member must have length less than or equal to 10" in message
    assert events.put_events(Entries=[entry()] * 10)["FailedEntryCount"] == 0


def test_an_incomplete_entry_fails_alone(bed):
    """Plain moto does it too: Source, DetailType and Detail are required per entry."""
    _, _, events = setup_clients(bed)
    result = events.put_events(Entries=[entry(), {"DetailType": "Certificate Renewed", "Detail": "{}"}, entry(detail="not json")])
    assert result["FailedEntryCount"] == 2
    assert "EventId" in result["Entries"][0]
    assert result["Entries"][1]["ErrorCode"] == "InvalidArgument"
    assert result["Entries"][2] == {"ErrorCode": "MalformedDetail", "ErrorMessage": "Detail is malformed."}


# --- SNS Publish (motobed/sns.py) ------------------------------------------------------------------

@pytest.mark.fidelity
def test_a_subject_with_a_line_break_or_a_control_character_or_over_100_characters_is_refused(new_stack):
    stack = new_stack()
    sns = stack.client("function", "sns")
    for subject in ("x" * 100, "cert-rotator: 证书 cdn.example.cn needs you", "a subject, (with) punctuation!"):
        sns.publish(TopicArn=stack.topic, Message="m", Subject=subject)
    for subject in ("x" * 101, "two\nlines", "two\r\nlines", "tab\there", "bell\x07", "line\u2028separator", "nel\x85"):
        assert error(sns.publish, TopicArn=stack.topic, Message="m", Subject=subject) == (
            "InvalidParameter", "Invalid parameter: Subject", 400), repr(subject)


@pytest.mark.fidelity
def test_a_json_message_needs_an_object_with_a_string_default_whoever_subscribes(new_stack):
    stack = new_stack()  # its topic has no subscription
    sns = stack.client("function", "sns")
    no_default = ("InvalidParameter", "Invalid parameter: Message Structure - No default entry in JSON message body", 400)
    not_json = ("InvalidParameter", "Invalid parameter: Message Structure - JSON message body failed to parse", 400)
    for message, refused in (('{"email": "x", "sqs": "{}"}', no_default), ('{"default": {"text": "x"}}', no_default),
                             ('{"default": null}', no_default), ("not json", not_json), ('["default"]', not_json),
                             ('"default"', not_json), ('{"default": "x"', not_json)):
        assert error(sns.publish, TopicArn=stack.topic, Message=message, MessageStructure="json") == refused, message
    sns.publish(TopicArn=stack.topic, Message=json_message(sqs="{}"), MessageStructure="json")
    sns.publish(TopicArn=stack.topic, Message='{"default": ""}', MessageStructure="json")


@pytest.mark.fidelity
def test_a_subscription_gets_its_protocols_key_when_it_is_a_string_else_default(new_stack):
    stack = new_stack()
    sns, sqs = stack.client("setup", "sns"), stack.client("setup", "sqs")
    url, _ = subscribed_queue(sns, sqs, stack.topic)
    publish = stack.client("function", "sns").publish
    for keys, delivered in (({"sqs": '{"k": 1}'}, '{"k": 1}'), ({"sqs": {"k": 1}}, "readable"),
                            ({"sqs": ""}, ""), ({"sqs": 7}, "readable"), ({"email": "mail only"}, "readable")):
        publish(TopicArn=stack.topic, Subject="s", MessageStructure="json", Message=json.dumps({"default": "readable", **keys}))
        [body] = received(sqs, url)
        assert body["Message"] == delivered, keys
        assert body["Subject"] == "s"


@pytest.mark.fidelity
def test_the_envelope_names_the_subscription_at_the_topics_endpoint(bed):
    for region, suffix in ((CN, "amazonaws.com.cn"), ("eu-west-1", "amazonaws.com")):
        sns, sqs, _ = setup_clients(bed, region)
        topic = sns.create_topic(Name=unique("topic"))["TopicArn"]
        url, subscription = subscribed_queue(sns, sqs, topic)
        sns.publish(TopicArn=topic, Message="m")
        [body] = received(sqs, url)
        assert body["UnsubscribeURL"] == f"https://sns.{region}.{suffix}/?Action=Unsubscribe&SubscriptionArn={subscription}"
        assert "Subject" not in body, "published without one"
        assert {"Type", "MessageId", "TopicArn", "Message", "Timestamp", "SignatureVersion", "Signature",
                "SigningCertURL", "UnsubscribeURL"} == set(body)


@pytest.mark.fidelity
def test_sns_delivers_only_into_a_queue_whose_policy_lets_the_topic_send(bed):
    sns, sqs, _ = setup_clients(bed)
    topic, other = (sns.create_topic(Name=unique("topic"))["TopicArn"] for _ in range(2))
    without, _ = subscribed_queue(sns, sqs, topic, policy=False)
    elsewhere, _ = subscribed_queue(sns, sqs, topic, policy=False)
    allow(sqs, elsewhere, sqs.get_queue_attributes(QueueUrl=elsewhere, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"],
          "sns.amazonaws.com", other)
    allowed, _ = subscribed_queue(sns, sqs, topic)
    gone, _ = subscribed_queue(sns, sqs, topic)
    sqs.delete_queue(QueueUrl=gone)
    sns.publish(TopicArn=topic, Message="m")  # succeeds whatever the queues say
    assert [b["Message"] for b in received(sqs, allowed)] == ["m"]
    assert received(sqs, without, expected=0) == [] and received(sqs, elsewhere, expected=0) == []
    reasons = {d["queue"].split(":")[-1]: d["reason"] for d in deliveries(bed) if d["source"] == topic}
    assert set(reasons) == {u.split("/")[-1] for u in (without, elsewhere, gone)}
    assert reasons[gone.split("/")[-1]] == "no such queue"


# --- EventBridge PutEvents (motobed/events.py) -----------------------------------------------------

@pytest.mark.fidelity
def test_put_events_refuses_a_request_whose_entries_are_over_the_size_limit(bed):
    too_large = ("ValidationException", "Total size of the entries in the request is over the limit.", 400)
    for region, limit in ((CN, 256 * 1024), ("eu-west-1", 1024 * 1024)):
        _, _, events = setup_clients(bed, region)
        fixed = len("cert-rotator") + len("Certificate Renewed") + len('{"pad": ""}')

        def padded(size: int) -> dict:
            return entry(detail={"pad": "x" * (size - fixed)})

        assert events.put_events(Entries=[padded(limit - 1)])["FailedEntryCount"] == 0
        assert error(events.put_events, Entries=[padded(limit)]) == too_large, region
        # The limit is the request's: entries that fit one by one do not fit together.
        assert error(events.put_events, Entries=[padded(limit // 2 + 10), padded(limit // 2 + 10)]) == too_large
        # Time counts 14 bytes, each of Resources its length.
        assert error(events.put_events, Entries=[{**padded(limit - 14), "Time": dt.datetime.now(dt.timezone.utc)}]) == too_large
        assert error(events.put_events, Entries=[{**padded(limit - 2), "Resources": ["ab"]}]) == too_large


@pytest.mark.fidelity
def test_a_detail_that_is_no_json_object_is_malformed(bed):
    _, sqs, events = setup_clients(bed)
    url, _ = event_queue(events, sqs)
    result = events.put_events(Entries=[entry(detail="[1, 2]"), entry(detail='"text"'), entry(detail="12"),
                                        entry(detail={"ok": True}), entry(detail="null")])
    assert result["FailedEntryCount"] == 4
    malformed = {"ErrorCode": "MalformedDetail", "ErrorMessage": "Detail is malformed."}
    assert [result["Entries"][i] for i in (0, 1, 2, 4)] == [malformed] * 4
    assert [b["detail"] for b in received(sqs, url, expected=2)] == [{"ok": True}]


@pytest.mark.fidelity
def test_a_target_without_an_input_transformer_gets_the_whole_event(bed):
    acct = account()
    _, sqs, events = setup_clients(bed, acct=acct)
    events.create_event_bus(Name="ops")
    urls = [event_queue(events, sqs)[0], event_queue(events, sqs, bus="ops")[0]]
    detail = {"names": ["a.example.cn"], "error": "the CA said <html><title>503</title> at <time> for <account> <id>"}
    when = dt.datetime(2030, 1, 2, 3, 4, 5, tzinfo=dt.timezone.utc)
    resources = [f"arn:aws-cn:iam::{acct}:server-certificate/cloudfront/a.example.cn"]
    result = events.put_events(Entries=[entry("Certificate Renewal Failed", detail, Resources=resources, Time=when),
                                        entry("Certificate Renewal Failed", detail, Resources=resources, Time=when,
                                              EventBusName="ops")])
    for url, put in zip(urls, result["Entries"]):
        [event] = received(sqs, url)
        assert event == {"version": "0", "id": put["EventId"], "detail-type": "Certificate Renewal Failed",
                         "source": "cert-rotator", "account": acct, "time": "2030-01-02T03:04:05Z", "region": CN,
                         "resources": resources, "detail": detail}
    events.put_events(Entries=[entry()])
    [event] = received(sqs, urls[0])
    assert dt.datetime.strptime(event["time"], "%Y-%m-%dT%H:%M:%SZ"), event["time"]
    assert event["resources"] == []


@pytest.mark.fidelity
def test_only_an_enabled_rule_with_an_event_pattern_gets_put_events(bed):
    _, sqs, events = setup_clients(bed)
    enabled, _ = event_queue(events, sqs)
    disabled, _ = event_queue(events, sqs, State="DISABLED")
    url, arn = new_queue(sqs)
    rule = unique("scheduled")
    allow(sqs, url, arn, "events.amazonaws.com",
          events.put_rule(Name=rule, ScheduleExpression="cron(17 */8 * * ? *)")["RuleArn"])
    events.put_targets(Rule=rule, Targets=[{"Id": "q", "Arn": arn}])
    events.put_events(Entries=[entry()])
    assert len(received(sqs, enabled)) == 1
    assert received(sqs, disabled, expected=0) == [] and received(sqs, url, expected=0) == []


@pytest.mark.fidelity
def test_eventbridge_delivers_only_into_a_queue_whose_policy_lets_the_rule_send(bed):
    _, sqs, events = setup_clients(bed)
    without, _ = event_queue(events, sqs, policy=False)
    allowed, rule = event_queue(events, sqs)
    elsewhere, _ = event_queue(events, sqs, policy=False)
    allow(sqs, elsewhere, sqs.get_queue_attributes(QueueUrl=elsewhere, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"],
          "events.amazonaws.com", rule)  # another rule's permission
    gone, _ = event_queue(events, sqs)
    sqs.delete_queue(QueueUrl=gone)
    assert events.put_events(Entries=[entry()])["FailedEntryCount"] == 0  # whatever the queues say
    assert len(received(sqs, allowed)) == 1
    assert received(sqs, without, expected=0) == [] and received(sqs, elsewhere, expected=0) == []
    refused = {d["queue"].split(":")[-1] for d in deliveries(bed) if d["principal"] == "events.amazonaws.com"}
    assert {u.split("/")[-1] for u in (without, elsewhere, gone)} <= refused


# --- the function's grants (motobed/authz.py, template.yaml) ---------------------------------------

@pytest.mark.fidelity
def test_the_function_publishes_to_its_alarm_topic_and_nowhere_else(bed, new_stack):
    stack = new_stack()
    other = stack.client("setup", "sns").create_topic(Name=unique("other"))["TopicArn"]
    sns = stack.client("function", "sns")
    sns.publish(TopicArn=stack.topic, Message=json_message(sqs="{}"), MessageStructure="json", Subject="s")
    caller = f"arn:aws-cn:sts::{stack.account}:assumed-role/cert-rotator-function/{stack.name}"
    assert error(sns.publish, TopicArn=other, Message="m") == (
        "AuthorizationError", f"User: {caller} is not authorized to perform: SNS:Publish on resource: {other} "
        "because no identity-based policy allows the SNS:Publish action", 403)
    assert error(sns.create_topic, Name=unique("mine"))[0] == "AuthorizationError"
    assert error(sns.subscribe, TopicArn=stack.topic, Protocol="email", Endpoint="x@example.cn")[0] == "AuthorizationError"
    denied = [d["action"] for d in control(bed, f"/denials?account={stack.account}", method="GET")]
    assert denied == ["sns:Publish", "sns:CreateTopic", "sns:Subscribe"]


@pytest.mark.fidelity
def test_the_function_puts_events_on_the_stacks_bus_and_no_other(bed, new_stack):
    default = new_stack()
    events = default.client("function", "events")
    assert events.put_events(Entries=[entry()])["FailedEntryCount"] == 0
    caller = f"arn:aws-cn:sts::{default.account}:assumed-role/cert-rotator-function/{default.name}"
    default.client("setup", "events").create_event_bus(Name="ops")
    ops = f"arn:aws-cn:events:{CN}:{default.account}:event-bus/ops"
    assert error(events.put_events, Entries=[entry(EventBusName="ops")]) == (
        "AccessDeniedException", f"User: {caller} is not authorized to perform: events:PutEvents on resource: {ops} "
        "because no identity-based policy allows the events:PutEvents action", 400)
    # One entry on another bus refuses the request.
    assert error(events.put_events, Entries=[entry(), entry(EventBusName=ops)])[0] == "AccessDeniedException"
    assert error(events.put_rule, Name="mine", EventPattern=PATTERN)[0] == "AccessDeniedException"

    for given in ("ops", None):  # EventBus by name, by ARN (the stack's account is known only once deployed)
        stack = new_stack(parameters={"EventBus": given} if given else None)
        if given is None:
            bus_arn = f"arn:aws-cn:events:{CN}:{stack.account}:event-bus/ops"
            stack.client("setup", "iam").tag_role(RoleName=stack_module.FUNCTION_ROLE, Tags=[{"Key": "EventBus", "Value": bus_arn}])
        stack.client("setup", "events").create_event_bus(Name="ops")
        events = stack.client("function", "events")
        bus_arn = f"arn:aws-cn:events:{CN}:{stack.account}:event-bus/ops"
        assert events.put_events(Entries=[entry(EventBusName="ops"), entry(EventBusName=bus_arn)])["FailedEntryCount"] == 0
        assert error(events.put_events, Entries=[entry()])[0] == "AccessDeniedException", "not the default bus"
