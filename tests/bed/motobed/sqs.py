"""Deliveries into an SQS queue by SNS and EventBridge, as AWS permits them: only where the queue's
policy lets the service send (sns.py, events.py call `allowed` before moto delivers).

- SNS: the queue's access policy must allow SNS (principal sns.amazonaws.com, or "*") the
  SendMessage action for the topic (usually on the condition aws:SourceArn = the topic's ARN);
  the SQS console adds such a statement when it subscribes a queue, the Subscribe API does not.
  Without it the subscription is confirmed and no message arrives; Publish succeeds all the same.
  https://docs.aws.amazon.com/sns/latest/dg/sns-sqs-as-subscriber.html
  https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/sqs-configure-subscribe-queue-sns-topic.html
  https://repost.aws/knowledge-center/sns-sqs-subscriptions-notifications ("You didn't configure
  your SQS queue's access policy")
- EventBridge: an SQS target is sent to under the queue's resource-based policy (principal
  events.amazonaws.com, sqs:SendMessage, aws:SourceArn = the rule's ARN) unless the target
  names a role (RoleArn), whose own permissions the bed does not check; the event is not
  delivered otherwise, and PutEvents succeeds all the same.
  https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-use-resource-based.html#eb-sqs-permissions
- A queue that does not exist (deleted after the subscription or the target was made) receives
  nothing; the publisher is not told (plain moto fails the Publish or PutEvents call instead).

The request evaluated against the queue's policy (policy.py): sqs:SendMessage on the queue's ARN,
by the service principal, with aws:SourceArn (the topic or the rule) and aws:SourceAccount (its
account). Every delivery refused is kept for `GET /deliveries` on the control port (a test whose
queue stays empty can ask why), until `POST /reset`.
"""

import json
import threading

from .policy import Authorization, decide

_lock = threading.Lock()
REFUSED: list[dict] = []
_KEEP = 1000  # the most recent refusals


def allowed(queue, queue_arn: str, principal: str, source_arn: str, source_account: str) -> bool:
    """May `principal` (a service, for `source_arn`) send to `queue` (moto's Queue, or None when it
    does not exist)? Records a refusal."""
    reason = _refusal(queue, queue_arn, principal, source_arn, source_account)
    if reason is None:
        return True
    entry = {"queue": queue_arn, "principal": principal, "source": source_arn, "reason": reason}
    print(f"sqs: not delivered to {queue_arn} from {source_arn}: {reason}", flush=True)
    with _lock:
        REFUSED.append(entry)
        del REFUSED[:-_KEEP]
    return False


def _refusal(queue, queue_arn: str, principal: str, source_arn: str, source_account: str) -> str | None:
    if queue is None:
        return "no such queue"
    document = queue.policy
    if not document:
        return f"the queue has no policy (it must allow {principal} sqs:SendMessage)"
    try:
        document = json.loads(document) if isinstance(document, str) else document
        request = Authorization("sqs:SendMessage", queue_arn,
                                {"aws:SourceArn": source_arn, "aws:SourceAccount": source_account})
        decision = decide(request, [], document, [principal])
    except (ValueError, TypeError, AttributeError) as e:
        return f"the queue's policy cannot be evaluated: {e}"
    if decision.allowed:
        return None
    if decision.explicit:
        return "an explicit deny in the queue's policy"
    return f"the queue's policy does not allow {principal} sqs:SendMessage from {source_arn}"


def refused() -> list[dict]:
    with _lock:
        return list(REFUSED)


def reset() -> None:
    with _lock:
        REFUSED.clear()
