"""What a request asks AWS to authorize: the IAM action(s), the resource ARN and the request's
condition keys, per service, for the operations cert-rotator calls (tests/policy.rs lists them
from src/aws/*.rs) and the few the tests' set-up makes. Reads moto's state for what a request
does not carry (an IAM certificate's path, an ACM certificate's tags, a secret's ARN, an S3
object's KMS key); decides nothing (policy.py does).

An operation not modelled here is authorized as `<service>:<Operation>` on resource `*`: a
statement naming it only with a resource ARN then denies it, which says so in the error.

- Actions, resource types and condition keys of each service, from the Service Authorization
  Reference: https://docs.aws.amazon.com/service-authorization/latest/reference/reference_policies_actions-resources-contextkeys.html
  (IAM server certificates: arn:${Partition}:iam::${Account}:server-certificate/${Path}${Name};
  CloudFront: arn:${Partition}:cloudfront::${Account}:distribution/${Id}; Route 53:
  arn:${Partition}:route53:::hostedzone/${Id} and change/${Id}; ACM:
  arn:${Partition}:acm:${Region}:${Account}:certificate/${Id}; Secrets Manager:
  arn:${Partition}:secretsmanager:${Region}:${Account}:secret:${Name}-${Suffix}; S3:
  arn:${Partition}:s3:::${Bucket} and /${Key}; Elastic Load Balancing Describe*: no resource-level
  permissions, "*").
- Route 53 ChangeResourceRecordSets condition keys (normalized names: lower case, no final dot,
  characters other than a-z 0-9 - _ . as \\ and three octal digits):
  https://docs.aws.amazon.com/Route53/latest/DeveloperGuide/specifying-rrset-conditions.html
- ACM: ImportCertificate's dependent action is AddTagsToCertificate when it carries tags; a new
  import has no certificate ARN yet and is authorized on arn:...:certificate/* with the request's
  tags (aws:RequestTag/*, aws:TagKeys) and no aws:ResourceTag; a re-import is authorized on the
  certificate's ARN with its tags (aws:ResourceTag/*).
  https://docs.aws.amazon.com/service-authorization/latest/reference/list_awscertificatemanager.html
  https://docs.aws.amazon.com/acm/latest/userguide/authen-apipermissions.html
  https://docs.aws.amazon.com/acm/latest/userguide/security_iam_troubleshoot.html
- S3 operations to actions (HeadObject is s3:GetObject, ListObjectsV2 s3:ListBucket):
  https://docs.aws.amazon.com/AmazonS3/latest/API/API_Operations_Amazon_Simple_Storage_Service.html
  https://docs.aws.amazon.com/AmazonS3/latest/userguide/using-with-s3-policy-actions.html
- STS: AssumeRole is sts:AssumeRole on the role's ARN, with sts:ExternalId (when the request
  has one) and sts:RoleSessionName; GetCallerIdentity needs no permission at all.
  https://docs.aws.amazon.com/service-authorization/latest/reference/list_awssecuritytokenservice.html
  https://docs.aws.amazon.com/STS/latest/APIReference/API_GetCallerIdentity.html
- SNS: Publish is sns:Publish on the topic (TopicArn, or TargetArn); AWS names the action
  SNS:Publish in its errors (authz.py).
  https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazonsns.html
- EventBridge: PutEvents is events:PutEvents on each entry's bus (EventBusName, a name or an ARN;
  none: the default bus, arn:${Partition}:events:${Region}:${Account}:event-bus/default), with
  the condition keys events:source and events:detail-type.
  https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazoneventbridge.html
  https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-use-conditions.html
- SQS: an operation on a queue (QueueUrl) is sqs:<Operation> on the queue's ARN.
- SSE-KMS: S3 calls kms:GenerateDataKey to write and kms:Decrypt to read an object encrypted with
  a KMS key, on the caller's behalf, with kms:ViaService s3.<region>.<DNS suffix>:
  https://docs.aws.amazon.com/AmazonS3/latest/userguide/UsingKMSEncryption.html
  https://docs.aws.amazon.com/kms/latest/developerguide/conditions-kms.html#conditions-kms-via-service
"""

import json
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from urllib.parse import parse_qs

from moto.acm.models import acm_backends
from moto.iam.models import iam_backends
from moto.kms.models import kms_backends
from moto.s3.models import s3_backends
from moto.secretsmanager.models import secretsmanager_backends

from . import state
from .policy import Authorization


@dataclass
class Call:
    """One signed request, as the bed's middleware saw it."""
    service: str
    operation: str
    region: str
    partition: str
    account: str  # the caller's account: where moto looks its resources up
    environ: dict
    body: bytes

    def form(self) -> dict[str, str]:
        """The Query protocol's parameters (IAM, ELB), first value of each."""
        return {k: v[0] for k, v in parse_qs(self.body.decode(errors="replace")).items()}

    def json(self) -> dict:
        try:
            return json.loads(self.body or b"{}")
        except ValueError:
            return {}

    def path(self) -> str:
        return self.environ.get("PATH_INFO", "").encode("latin-1").decode("utf-8", errors="replace")

    def query(self) -> dict[str, str]:
        return {k: v[0] for k, v in parse_qs(self.environ.get("QUERY_STRING", ""), keep_blank_values=True).items()}

    def header(self, name: str) -> str | None:
        return self.environ.get("HTTP_" + name.upper().replace("-", "_"))

    def arn(self, service: str, resource: str, region: str = "", account: str | None = None) -> str:
        return f"arn:{self.partition}:{service}:{region}:{self.account if account is None else account}:{resource}"


def _tag_keys(tags: dict[str, str], prefix: str) -> dict:
    """Condition keys for tags: `<prefix>/<key>` per tag (aws:RequestTag/..., aws:ResourceTag/...),
    and for request tags aws:TagKeys."""
    keys: dict = {f"{prefix}/{k}": v for k, v in tags.items()}
    if prefix == "aws:RequestTag":
        keys["aws:TagKeys"] = list(tags)
    return keys


# --- IAM ---------------------------------------------------------------------------------------

_IAM_CERT_OPS = {"GetServerCertificate", "DeleteServerCertificate", "TagServerCertificate", "UntagServerCertificate",
                 "ListServerCertificateTags", "UpdateServerCertificate", "UploadServerCertificate"}


def _query_tags(form: dict[str, str]) -> dict[str, str]:
    keys = {m.group(1): v for k, v in form.items() if (m := re.fullmatch(r"Tags\.member\.(\d+)\.Key", k))}
    return {key: form.get(f"Tags.member.{n}.Value", "") for n, key in keys.items()}


def _iam_certificate(call: Call, name: str):
    backend = iam_backends[call.account][call.partition]
    return next((c for c in backend.certificates.values() if c.cert_name == name), None)


def _iam(call: Call) -> list[Authorization]:
    op, form = call.operation, call.form()
    if op not in _IAM_CERT_OPS:
        return [Authorization(f"iam:{op}", "*")]
    name = form.get("ServerCertificateName", "")
    existing = _iam_certificate(call, name) if op != "UploadServerCertificate" else None
    path = form.get("Path", "/") if op == "UploadServerCertificate" else getattr(existing, "path", "/")
    context = _tag_keys(getattr(existing, "tags", {}) or {}, "aws:ResourceTag")
    if op in ("UploadServerCertificate", "TagServerCertificate"):
        context |= _tag_keys(_query_tags(form), "aws:RequestTag")
    if op == "UntagServerCertificate":
        context["aws:TagKeys"] = [v for k, v in form.items() if k.startswith("TagKeys.member.")]
    return [Authorization(f"iam:{op}", call.arn("iam", f"server-certificate{path}{name}"), context)]


# --- CloudFront, Route 53 (REST: the resource is in the path) --------------------------------------

def _cloudfront(call: Call) -> list[Authorization]:
    m = re.search(r"/distribution/([^/]+)", call.path())
    resource = call.arn("cloudfront", f"distribution/{m.group(1)}") if m else "*"
    return [Authorization(f"cloudfront:{call.operation}", resource)]


def normalized_record_name(name: str) -> str:
    """Route 53's normalized form of a record name (see the module's docstring)."""
    return state.route53_record_name(name)


def _change_batch_keys(body: bytes) -> dict:
    root = ET.fromstring(body)
    changes = [el for el in root.iter() if el.tag.endswith("}Change") or el.tag == "Change"]

    def text(change, tag):
        return next((el.text or "" for el in change.iter() if el.tag.split("}")[-1] == tag), "")

    return {
        "route53:ChangeResourceRecordSetsNormalizedRecordNames": [normalized_record_name(text(c, "Name")) for c in changes],
        "route53:ChangeResourceRecordSetsRecordTypes": [text(c, "Type") for c in changes],
        "route53:ChangeResourceRecordSetsActions": [text(c, "Action") for c in changes],
    }


def _route53(call: Call) -> list[Authorization]:
    m = re.search(r"/(hostedzone|change)/([^/]+)", call.path())
    resource = call.arn("route53", f"{m.group(1)}/{m.group(2)}", account="") if m else "*"
    context = _change_batch_keys(call.body) if call.operation == "ChangeResourceRecordSets" else {}
    return [Authorization(f"route53:{call.operation}", resource, context)]


# --- Secrets Manager, ACM, ELB (JSON / Query; the resource is a parameter) -------------------------

def _secretsmanager(call: Call) -> list[Authorization]:
    params = call.json()
    wanted = params.get("SecretId") or params.get("Name")
    if not wanted:
        return [Authorization(f"secretsmanager:{call.operation}", "*")]
    found = secretsmanager_backends[call.account][call.region].secrets.get(wanted)
    resource = found.arn if found else (wanted if wanted.startswith("arn:") else
                                        call.arn("secretsmanager", f"secret:{wanted}", call.region))
    return [Authorization(f"secretsmanager:{call.operation}", resource)]


def _acm_tags(call: Call, arn: str) -> dict[str, str] | None:
    bundle = acm_backends[call.account][call.region]._certificates.get(arn)
    return None if bundle is None else {k: v or "" for k, v in bundle.tags.items()}


def _acm(call: Call) -> list[Authorization]:
    op, params = call.operation, call.json()
    arn = params.get("CertificateArn")
    if op == "ListCertificates" or (op != "ImportCertificate" and not arn):
        return [Authorization(f"acm:{op}", "*")]
    request_tags = {t["Key"]: t.get("Value", "") for t in params.get("Tags") or []}
    context = _tag_keys(request_tags, "aws:RequestTag") if request_tags else {}
    if arn:
        context |= _tag_keys(_acm_tags(call, arn) or {}, "aws:ResourceTag")
    resource = arn or call.arn("acm", "certificate/*", call.region)  # a new import: no ARN yet
    authorizations = [Authorization(f"acm:{op}", resource, context)]
    if op == "ImportCertificate" and request_tags:
        authorizations.append(Authorization("acm:AddTagsToCertificate", resource, context))
    return authorizations


def _elasticloadbalancing(call: Call) -> list[Authorization]:
    return [Authorization(f"elasticloadbalancing:{call.operation}", "*")]


# --- S3 ----------------------------------------------------------------------------------------

# (method, sub-resource in the query) -> action, for a bucket and for an object.
_S3_BUCKET = {("GET", ""): "ListBucket", ("HEAD", ""): "ListBucket", ("GET", "versions"): "ListBucketVersions",
              ("PUT", ""): "CreateBucket", ("DELETE", ""): "DeleteBucket", ("PUT", "policy"): "PutBucketPolicy",
              ("GET", "policy"): "GetBucketPolicy", ("PUT", "encryption"): "PutEncryptionConfiguration",
              ("PUT", "versioning"): "PutBucketVersioning"}
_S3_OBJECT = {"GET": "GetObject", "HEAD": "GetObject", "PUT": "PutObject", "DELETE": "DeleteObject"}
_S3_SUBRESOURCES = ("versions", "policy", "encryption", "versioning", "tagging", "acl", "lifecycle", "uploads",
                    "delete", "location", "cors", "ownershipControls", "publicAccessBlock")


def s3_location(call: Call) -> tuple[str, str]:
    """(bucket, key) of an S3 request, path-style or virtual-hosted."""
    host = (call.header("Host") or "").split(":")[0]
    path = call.path().lstrip("/")
    if host.count(".") and not re.fullmatch(r"[\d.]+", host) and not host.startswith(("s3.", "localhost")):
        return host.split(".")[0], path
    bucket, _, key = path.partition("/")
    return bucket, key


def s3_object(call: Call, bucket: str, key: str):
    owner = s3_backends.bucket_accounts.get(bucket)
    found = s3_backends[owner[1]][owner[0]].buckets.get(bucket) if owner else None
    return (found, found.keys.get(key) if found and key else None)


def _kms_key_arn(call: Call, key_id: str) -> str:
    if key_id.startswith("arn:") and ":key/" in key_id:
        return key_id
    backend = kms_backends[call.account][call.region]
    if key_id.startswith(("alias/", "arn:")):
        key_id = backend.get_key_id_from_alias(key_id.split(":")[-1]) or key_id
    return call.arn("kms", f"key/{key_id}", call.region)


def _s3_kms(call: Call, action: str, bucket, obj) -> list[Authorization]:
    """The KMS authorization S3 makes for the caller when an object is (to be) SSE-KMS."""
    if action == "PutObject":
        default = ((getattr(bucket, "encryption", None) or {}).get("Rule") or {}).get("ApplyServerSideEncryptionByDefault") or {}
        algorithm = call.header("x-amz-server-side-encryption") or default.get("SSEAlgorithm")
        key = call.header("x-amz-server-side-encryption-aws-kms-key-id") or default.get("KMSMasterKeyID") or "alias/aws/s3"
        kms_action = "kms:GenerateDataKey"
    elif action == "GetObject" and obj is not None:
        algorithm, key, kms_action = obj.encryption, obj.kms_key_id or "alias/aws/s3", "kms:Decrypt"
    else:
        return []
    if algorithm != "aws:kms":
        return []
    suffix = "amazonaws.com.cn" if call.partition == "aws-cn" else "amazonaws.com"
    return [Authorization(kms_action, _kms_key_arn(call, key), {"kms:ViaService": f"s3.{call.region}.{suffix}"})]


def _s3(call: Call) -> list[Authorization]:
    bucket, key = s3_location(call)
    method = call.environ.get("REQUEST_METHOD", "")
    query = call.query()
    sub = next((s for s in _S3_SUBRESOURCES if s in query), "")
    if not bucket:
        return [Authorization("s3:ListAllMyBuckets", "*")]
    creating = method == "PUT" and not key and not sub
    if bucket not in s3_backends.bucket_accounts and not creating:
        return []  # a name no account owns: S3 answers 404 NoSuchBucket to anyone
    if key and not sub:
        action = _S3_OBJECT.get(method, f"{method}Object")
        if "versionId" in query and action in ("GetObject", "DeleteObject"):
            action += "Version"
        found_bucket, obj = s3_object(call, bucket, key)
        kms = _s3_kms(call, action, found_bucket, obj)
        return [Authorization(f"s3:{action}", call.arn("s3", f"{bucket}/{key}", account="")), *kms]
    action = _S3_BUCKET.get((method, sub), f"{method}Bucket{sub[:1].upper()}{sub[1:]}")
    return [Authorization(f"s3:{action}", call.arn("s3", bucket, account=""))]


# --- STS ---------------------------------------------------------------------------------------

def _sts(call: Call) -> list[Authorization]:
    form = call.form()
    if call.operation == "GetCallerIdentity":
        return []
    if call.operation != "AssumeRole":
        return [Authorization(f"sts:{call.operation}", "*")]
    context = {"sts:RoleSessionName": form.get("RoleSessionName", "")}
    if form.get("ExternalId"):
        context["sts:ExternalId"] = form["ExternalId"]
    return [Authorization("sts:AssumeRole", form.get("RoleArn", ""), context)]


# --- SNS, EventBridge, SQS ----------------------------------------------------------------------

def _sns(call: Call) -> list[Authorization]:
    """The topic (TopicArn, TargetArn) is the resource; CreateTopic's is the topic it names."""
    form = call.form()
    resource = form.get("TopicArn") or form.get("TargetArn") or form.get("ResourceArn")
    if not resource and call.operation == "CreateTopic" and form.get("Name"):
        resource = call.arn("sns", form["Name"], call.region)
    return [Authorization(f"sns:{call.operation}", resource or "*")]


def event_bus_arn(call: Call, bus: str | None) -> str:
    """A bus named by name or ARN (EventBusName), the default bus when none."""
    bus = bus or "default"
    return bus if bus.startswith("arn:") else call.arn("events", f"event-bus/{bus}", call.region)


def _events(call: Call) -> list[Authorization]:
    """PutEvents: one authorization per entry, on its bus, with events:source and
    events:detail-type (a denial answers for the whole request, as for a caller with no grant on
    the bus at all). Other operations: on resource "*"."""
    params = call.json()
    if call.operation != "PutEvents":
        return [Authorization(f"events:{call.operation}", "*")]
    authorizations: list[Authorization] = []
    for entry in params.get("Entries") or [{}]:
        entry = entry if isinstance(entry, dict) else {}
        context = {"events:source": entry.get("Source") or "", "events:detail-type": entry.get("DetailType") or ""}
        a = Authorization("events:PutEvents", event_bus_arn(call, entry.get("EventBusName")), context)
        if a not in authorizations:
            authorizations.append(a)
    return authorizations


def _sqs(call: Call) -> list[Authorization]:
    """The queue (QueueUrl: .../<account>/<name>) is the resource."""
    url = call.json().get("QueueUrl") or call.form().get("QueueUrl") or ""
    parts = url.rstrip("/").split("/")
    if len(parts) >= 2 and parts[-2].isdigit():
        return [Authorization(f"sqs:{call.operation}", call.arn("sqs", parts[-1], call.region, account=parts[-2]))]
    return [Authorization(f"sqs:{call.operation}", "*")]


_SERVICES = {"iam": _iam, "sts": _sts, "cloudfront": _cloudfront, "route53": _route53, "secretsmanager": _secretsmanager,
             "acm": _acm, "elasticloadbalancing": _elasticloadbalancing, "s3": _s3, "sns": _sns, "events": _events,
             "sqs": _sqs}


def authorizations(call: Call) -> list[Authorization]:
    """Every authorization `call` needs, in the order AWS would make them."""
    handler = _SERVICES.get(call.service)
    return handler(call) if handler else [Authorization(f"{call.service}:{call.operation}", "*")]
