"""SNS Publish, and delivery to SQS subscriptions, as AWS does them (the product publishes one
message per domain that needs a person to the stack's topic, CERT_ROTATOR_TOPIC_ARN).

Publish (API reference: https://docs.aws.amazon.com/sns/latest/api/API_Publish.html):
- Subject: "Subjects must be UTF-8 text with no line breaks or control characters, and less than
  100 characters long." AWS accepts 100 characters and refuses 101 (the reference says less than
  100; https://github.com/getmoto/moto/issues/1503 reports what SNS answers), with
  `InvalidParameter` (HTTP 400) "Invalid parameter: Subject". Plain moto refuses only the length,
  with a message of its own ("Subject must be less than 100 characters"), and accepts line breaks
  and control characters.
- MessageStructure=json: the Message "must: be a syntactically valid JSON object; and contain at
  least a top-level JSON key of "default" with a value that is a string". SNS checks it when
  the message is published, whoever subscribes: `InvalidParameter` "Invalid parameter: Message
  Structure - JSON message body failed to parse" (not JSON, or not an object) and "Invalid
  parameter: Message Structure - No default entry in JSON message body" (no "default", or not a
  string, since "Non-string values will cause the key to be ignored"). Plain moto checks only
  while delivering to a subscription: with none it accepts anything, and its messages differ.

Delivery to a subscription (protocol sqs here; the same choice for every protocol):
- The message a subscription gets is its protocol's key ("sqs", "email", "lambda", ...) when that
  is a string, "" included ("Values have a minimum length of 0"), else "default": "Keys in the
  JSON object that correspond to supported transport protocols must have simple JSON string
  values ... Non-string values will cause the key to be ignored." Plain moto delivers a non-string
  value as it is (an object where the envelope's Message is a string) and replaces "" with
  "default".
- The SQS message is SNS's JSON envelope (Type, MessageId, TopicArn, Subject when published with
  one, Message, Timestamp, SignatureVersion, Signature, SigningCertURL, UnsubscribeURL), its
  UnsubscribeURL naming the subscription at the topic's regional endpoint:
  https://docs.aws.amazon.com/sns/latest/dg/sns-sqs-as-subscriber.html (the example:
  https://sns.us-west-2.amazonaws.com/?Action=Unsubscribe&SubscriptionArn=arn:aws:sns:us-west-2:123456789012:MyTopic:<id>;
  in China the endpoint's DNS suffix is amazonaws.com.cn:
  https://docs.amazonaws.cn/en_us/aws/latest/userguide/endpoints-Beijing.html). Plain moto writes
  one fixed us-east-1, aws-partition URL with a made-up subscription id.
- Only into a queue whose policy lets the topic send (sqs.py).
"""

import json
import unicodedata

from moto.sns.exceptions import SNSInvalidParameter
from moto.sns.models import SNSBackend, Subscription
from moto.sqs.models import sqs_backends
from moto.utilities.utils import get_partition

from . import sqs

SUBJECT = "Invalid parameter: Subject"
NOT_JSON = "Invalid parameter: Message Structure - JSON message body failed to parse"
NO_DEFAULT = "Invalid parameter: Message Structure - No default entry in JSON message body"
SUBJECT_MAX = 100

_orig_publish = SNSBackend.publish
_orig_deliver = Subscription.publish
_orig_post_data = Subscription.get_post_data


def check_subject(subject: str) -> None:
    """Line breaks (U+2028, U+2029 and the control characters CR, LF, NEL) and control
    characters (Unicode category Cc) are refused, as is a subject over 100 characters."""
    if len(subject) > SUBJECT_MAX or any(unicodedata.category(c) in ("Cc", "Zl", "Zp") for c in subject):
        raise SNSInvalidParameter(SUBJECT)


def check_structure(message: str) -> dict:
    try:
        document = json.loads(message)
    except ValueError:
        raise SNSInvalidParameter(NOT_JSON) from None
    if not isinstance(document, dict):
        raise SNSInvalidParameter(NOT_JSON)
    if not isinstance(document.get("default"), str):
        raise SNSInvalidParameter(NO_DEFAULT)
    return document


def publish(self, message, arn=None, phone_number=None, subject=None, message_attributes=None, group_id=None,
            deduplication_id=None, message_structure=None):
    if subject is not None:
        check_subject(subject)
    if message_structure == "json" and not phone_number and ":endpoint/" not in (arn or ""):
        check_structure(message)
    return _orig_publish(self, message, arn, phone_number=phone_number, subject=subject,
                         message_attributes=message_attributes, group_id=group_id,
                         deduplication_id=deduplication_id, message_structure=message_structure)


def parse_message_structure(self, message: str, protocol: str) -> str:
    document = check_structure(message)
    own = document.get(protocol)
    return own if isinstance(own, str) else document["default"]


def deliver(self, message, message_id, subject=None, message_attributes=None, group_id=None,
            deduplication_id=None, message_structure=None):
    if self.protocol == "sqs":
        matcher = self._filter_policy_matcher
        if matcher is not None and not matcher.matches(message_attributes, message):
            return None  # filtered out: moto delivers nothing either
        region, account = self.endpoint.split(":")[3], self.account_id
        queue = sqs_backends[account][region].queues.get(self.endpoint.split(":")[-1])
        if not sqs.allowed(queue, self.endpoint, "sns.amazonaws.com", self.topic.arn, self.topic.arn.split(":")[4]):
            return None
    return _orig_deliver(self, message, message_id, subject=subject, message_attributes=message_attributes,
                         group_id=group_id, deduplication_id=deduplication_id, message_structure=message_structure)


def get_post_data(self, message, message_id, subject, message_attributes=None):
    data = _orig_post_data(self, message, message_id, subject, message_attributes=message_attributes)
    region = self.topic.arn.split(":")[3]
    suffix = "amazonaws.com.cn" if get_partition(region) == "aws-cn" else "amazonaws.com"
    data["UnsubscribeURL"] = f"https://sns.{region}.{suffix}/?Action=Unsubscribe&SubscriptionArn={self.arn}"
    return data


def apply() -> None:
    SNSBackend.publish = publish
    Subscription._parse_message_structure = parse_message_structure
    Subscription.publish = deliver
    Subscription.get_post_data = get_post_data
