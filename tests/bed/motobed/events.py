"""EventBridge PutEvents, and delivery to a rule's targets, as AWS does them (the product puts
its events — Certificate Renewed, Certificate Renewal Failed, Certificate Deferred, Certificate
Retired, source cert-rotator — on CERT_ROTATOR_EVENT_BUS, by default the default bus).

PutEvents (https://docs.aws.amazon.com/eventbridge/latest/APIReference/API_PutEvents.html):
- At most 10 entries (`ValidationException`, "Member must have length less than or equal to
  10"): plain moto does it.
- The entries' total size: "You can batch multiple event entries into one request for
  efficiency. However, the total entry size must be less than 1MB", 256 KB in the China regions
  (https://docs.amazonaws.cn/eventbridge/latest/userguide/eb-putevent-size.html; the size of an
  entry: 14 bytes for Time if given, the UTF-8 bytes of Source, DetailType, Detail and each of
  Resources, https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-putevent-size.html).
  The whole request is refused: `ValidationException` "Total size of the entries in the request
  is over the limit." (the error SDK users report:
  https://github.com/awslabs/aws-service-catalog-puppet/issues/563). Plain moto has no limit.
- Detail is "A valid JSON object"
  (https://docs.aws.amazon.com/eventbridge/latest/APIReference/API_PutEventsRequestEntry.html):
  valid JSON that is no object (an array, a string, a number) fails its entry with `ErrorCode`
  MalformedDetail, "Detail is malformed." ("The JSON provided is not valid",
  https://docs.aws.amazon.com/eventbridge/latest/APIReference/API_PutEventsResultEntry.html), as
  invalid JSON does. Plain moto accepts it with a warning, and delivers it to a rule's target
  (or, a string, fails the whole call with HTTP 500 rendering its template).
- Source, DetailType and Detail missing fail their entry (InvalidArgument): plain moto does it.

Delivery to a rule's targets (https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-events-structure.html):
- A target without an input transformer (nor Input, InputPath) gets the event itself: version,
  id, detail-type, source, account, time, region, resources, detail. Plain moto renders a
  template of its own instead, which drops "account" and replaces "<time>", "<id>", ... written
  inside the detail's strings (an error message quoting HTML, say) with the event's values.
  Targets with an input transformer keep moto's rendering.
- Only an enabled rule with an event pattern matches the events PutEvents puts
  (https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-rules.html: a rule matches events
  with its event pattern, or runs on a schedule; a disabled rule matches nothing). Plain moto
  sends every event to every rule of the bus, disabled and scheduled ones included.
- An SQS target gets the event only where the queue's policy lets the rule send (sqs.py).
"""

import copy
import json

from moto.events.exceptions import ValidationException
from moto.events.models import EventsBackend, Rule
from moto.sqs.models import sqs_backends
from moto.utilities.utils import get_partition

from . import sqs

TOO_LARGE = "Total size of the entries in the request is over the limit."
MALFORMED = {"ErrorCode": "MalformedDetail", "ErrorMessage": "Detail is malformed."}
# The entries' total size must be less than this many bytes.
SIZE_LIMIT = {"aws-cn": 256 * 1024, "aws": 1024 * 1024}
ENVELOPE = ("version", "id", "detail-type", "source", "account", "time", "region", "resources", "detail")

_orig_put_events = EventsBackend.put_events
_orig_send = Rule.send_to_targets
_orig_send_to_sqs = Rule._send_to_sqs_queue


def _text_bytes(value) -> int:
    return len(value.encode("utf-8")) if isinstance(value, str) else 0


def entry_size(entry: dict) -> int:
    """An entry's size as EventBridge calculates it (eb-putevent-size.html)."""
    size = 14 if entry.get("Time") is not None else 0
    size += sum(_text_bytes(entry.get(k)) for k in ("Source", "DetailType", "Detail"))
    return size + sum(_text_bytes(r) for r in entry.get("Resources") or [])


def _not_an_object(entry: dict) -> bool:
    """A complete entry whose Detail is valid JSON but no object."""
    if not (entry.get("Source") and entry.get("DetailType") and entry.get("Detail")):
        return False  # moto's own InvalidArgument
    try:
        return not isinstance(json.loads(entry["Detail"]), dict)
    except ValueError:
        return False  # moto's own MalformedDetail


def put_events(self, events):
    if len(events) > 10:
        return _orig_put_events(self, events)  # moto's ValidationException
    limit = SIZE_LIMIT.get(get_partition(self.region_name), SIZE_LIMIT["aws"])
    if sum(entry_size(e) for e in events) >= limit:
        raise ValidationException(TOO_LARGE)
    results = []
    for entry in events:
        results.extend([dict(MALFORMED)] if _not_an_object(entry) else _orig_put_events(self, [entry]))
    return results


def _transforms(target: dict) -> bool:
    return any(k in target for k in ("InputTransformer", "Input", "InputPath"))


def _with_targets(rule, targets):
    view = copy.copy(rule)  # the rule itself keeps all its targets
    view.targets = targets
    return view


def send_to_targets(self, original_event, transform_input: bool = True):
    if not str(self.state).startswith("ENABLED"):
        return
    if self.scheduled_expression and not self.event_pattern.get_pattern():
        return
    if not transform_input:
        return _orig_send(self, original_event, transform_input)
    plain = [t for t in self.targets if not _transforms(t)]
    if plain:
        event = {k: original_event[k] for k in ENVELOPE if k in original_event}
        _orig_send(_with_targets(self, plain), event, transform_input=False)
    transformed = [t for t in self.targets if _transforms(t)]
    if transformed:
        _orig_send(_with_targets(self, transformed), original_event, transform_input)


def send_to_sqs_queue(self, resource_id, event, group_id=None):
    queue = sqs_backends[self.account_id][self.region_name].queues.get(resource_id)
    queue_arn = f"arn:{get_partition(self.region_name)}:sqs:{self.region_name}:{self.account_id}:{resource_id}"
    target = next((t for t in self.targets if t["Arn"] == queue_arn), {})
    if queue is not None and target.get("RoleArn"):
        return _orig_send_to_sqs(self, resource_id, event, group_id)
    if not sqs.allowed(queue, queue_arn, "events.amazonaws.com", self.arn, self.account_id):
        return None
    return _orig_send_to_sqs(self, resource_id, event, group_id)


def apply() -> None:
    EventsBackend.put_events = put_events
    Rule.send_to_targets = send_to_targets
    Rule._send_to_sqs_queue = send_to_sqs_queue
