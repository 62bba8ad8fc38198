"""Least privilege, exercised: the bed enforces the IAM policies of the function's role and of a
member account's role, read from template.yaml, on every request they make, the archive's bucket
policy on every request to the archive, and roles' trust policies on every AssumeRole (sts.py),
so a missing grant or an over-tight condition fails a test as it would fail in AWS.

moto's own enforcement cannot do it (Route 53 and CloudFront fail its signature check, the
resource is "*" for most services, it evaluates only StringEquals, it reads no bucket policy);
this rule runs in the bed's request middleware (faults.py), before moto answers.

Who is who — from the request's access key and moto's STS/IAM state:
- The function role is `role/cert-rotator-function`, one per account (a test's world has an
  account of its own). Credentials from AssumeRole on it are "the function": its identity-based
  policies are the template's `Rotator.Properties.Policies` (the managed policy
  CertificateAccess among them), rendered for its stack (cfn.py), plus any inline policy on the
  role in moto's IAM (AWS evaluates all of a role's policies; the fidelity tests add one to
  exercise a condition operator the template does not use).
- A member role is a role tagged `Deploy: member` (tests/bed/stack.py `deploy_member` creates it
  as the template does with Deploy=member): its sessions are held to the template's
  `MemberRole` policies (`ManagedPolicyArns`: CertificateAccess), plus its inline policies.
- Every other caller (the tests' set-up role `cert-rotator-e2e`, plain `testing` keys) is not
  restricted by identity policy — as an administrator's s3:* — but the archive's bucket policy
  and a secret's resource policy apply to it like to anyone: their explicit denies hold for every
  principal of the account.

Resource-based policies, evaluated with the identity-based ones (policy.py: an explicit deny in
either wins, for every caller):
- The archive's bucket policy: the template's `ArchiveBucketPolicy`, rendered for the stack whose
  function role names the bucket (tag `ArchiveBucket`).
- A secret's resource policy, on every Secrets Manager request naming the secret (SecretId),
  DescribeSecret and the policy operations included: Secrets Manager evaluates a secret's
  resource policy together with the caller's identity-based policies, and an explicit deny in
  either denies.
  https://docs.aws.amazon.com/secretsmanager/latest/userguide/auth-and-access_resource-policies.html
  https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic.html
  The policy is the one PutResourcePolicy put (moto keeps it on the secret), else — for the
  stack's account secret, until a PutResourcePolicy replaces it or a DeleteResourcePolicy
  removes it (secretsmanager.py) — the template's `AWS::SecretsManager::ResourcePolicy` whose
  SecretId is that secret, rendered for the stack, as CloudFormation puts it at deployment
  (none while the template has none).
  https://docs.aws.amazon.com/AWSCloudFormation/latest/TemplateReference/aws-resource-secretsmanager-resourcepolicy.html

Condition keys every authorization carries (besides the action's own, actions.py):
aws:PrincipalArn, aws:PrincipalAccount, aws:SecureTransport; aws:PrincipalOrgID when the caller's
account is in an organization; aws:ResourceAccount — the account that owns the resource, for a
resource ARN naming an account, an S3 bucket (its owner) or a Route 53 zone (the caller's: moto
keeps zones per account) — and aws:ResourceOrgID when that account is in an organization (absent
otherwise: "This key is included in the request context only if the account that owns the
resource is a member of an organization"). sts:AssumeRole's resource is the role, so
aws:ResourceAccount is the role's account. An account's organization: the setting
`organizations_by_account` ({account id: "o-..."}), else moto's Organizations state (the
management account of an organization made with CreateOrganization, and the accounts its
CreateAccount made).
https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_condition-keys.html#condition-keys-resourceaccount
https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_condition-keys.html#condition-keys-resourceorgid
https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_condition-keys.html#condition-keys-principalorgid

The stack's values are the role's tags, set by whoever creates the role (the tests' World,
tests/bed/stack.py for the demo, bench and invoke): `StackName` and `Region` (the pseudo
parameters), `ArchiveBucket` (the bucket resource's name; the function's role only),
`AlarmTopic` (the topic's ARN, `!Ref AlarmTopic`; without the tag every statement naming the
topic is void), and any template parameter by its name (`SourceBucket`, `ArchiveKmsKeyArn`,
`MemberRoleName`, `EventBus`, ...).
`!Ref AccountSecret` is the ARN of the secret named as the template names it
(`<StackName>/acme-account`) in moto, `!GetAtt RotatorRole.Arn` the function role's ARN.

Decisions follow policy.py; a denial answers AWS's error for the service — `AccessDenied` (HTTP
403) for Query, REST-XML and S3, `AuthorizationError` (HTTP 403) for SNS, `AccessDeniedException`
(HTTP 400) for JSON protocols (EventBridge's PutEvents included) — with
AWS's message: "User: <caller> is not authorized to perform: <action> on resource: <ARN> because
no identity-based policy allows the <action> action" / "with an explicit deny in a
resource-based policy"; an AssumeRole STS refuses (sts.py) answers `AccessDenied` (HTTP 403)
with STS's message, which gives no reason. Each denial is kept for `GET /denials` on the control
port.
https://docs.aws.amazon.com/IAM/latest/UserGuide/troubleshoot_access-denied.html
https://docs.aws.amazon.com/acm/latest/APIReference/CommonErrors.html
https://docs.aws.amazon.com/sns/latest/api/API_Publish.html (Errors: AuthorizationError, HTTP 403;
the message names the action SNS:Publish)
https://docs.aws.amazon.com/eventbridge/latest/APIReference/CommonErrors.html
The bed's endpoint is loopback HTTP: it counts as a secure transport (aws:SecureTransport true).
https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_condition-keys.html
"""

import html
import json
import threading
from dataclasses import dataclass

from moto.iam.models import get_account_id_from, iam_backends
from moto.organizations.models import organizations_backends
from moto.s3.models import s3_backends
from moto.secretsmanager.models import secretsmanager_backends
from moto.utilities.utils import get_partition

from . import actions, cfn, state, sts
from .actions import Call
from .policy import Authorization, Decision, decide

FUNCTION_ROLE = "cert-rotator-function"
MEMBER_TAG = ("Deploy", "member")  # the tag that marks a member stack's role
_REQUIRED_TAGS = {"function": ("StackName", "Region", "ArchiveBucket"), "member": ("StackName", "Region")}
_lock = threading.Lock()
DENIALS: list[dict] = []  # every denial since the last reset: GET /denials


@dataclass(frozen=True)
class Caller:
    account: str
    partition: str
    arn: str  # how AWS names the caller in an error: the assumed-role session's ARN
    principal_arn: str  # aws:PrincipalArn: for a role's session, the role's ARN
    role: object | None  # moto's Role when the caller is a role the bed restricts
    kind: str = ""  # "function", "member", or "" for a caller the bed does not restrict
    session: bool = False  # temporary credentials of a role session (else the bed's static keys)


def _function_role(account: str, partition: str):
    return next((r for r in iam_backends[account][partition].roles.values() if r.name == FUNCTION_ROLE), None)


def account_of(key_id: str, environ: dict) -> str:
    """The AWS account a request's access key acts in."""
    if key_id.startswith("ASIA"):
        return get_account_id_from(key_id)
    return environ.get("HTTP_X_MOTO_ACCOUNT_ID") or get_account_id_from(key_id)


def _restricted(account: str, partition: str, role_arn: str) -> tuple[object | None, str]:
    """(moto's Role, kind) of a role the bed holds to the template, else (None, "")."""
    if role_arn.split("/")[-1] == FUNCTION_ROLE:
        return _function_role(account, partition), "function"
    found = next((r for r in iam_backends[account][partition].roles.values() if r.arn == role_arn), None)
    if found is not None and _tags(found).get(MEMBER_TAG[0]) == MEMBER_TAG[1]:
        return found, "member"
    return None, ""


def caller_of(key_id: str, region: str, environ: dict) -> Caller:
    partition = get_partition(region)
    assumed = sts.assumed_session(key_id)
    if assumed is None:
        account = account_of(key_id, environ)
        arn = f"arn:{partition}:iam::{account}:user/moto"
        return Caller(account, partition, arn, arn, None)
    account, session = assumed
    role, kind = _restricted(account, partition, session.role_arn)
    return Caller(account, partition, session.arn, session.role_arn, role, kind if role else "", session=True)


def _tags(role) -> dict[str, str]:
    return {t["Key"]: t["Value"] for t in role.tags or []}


def _stack(role, account: str, partition: str, kind: str = "function") -> cfn.Stack:
    """The stack a restricted role belongs to, from its tags (see the module's docstring)."""
    tags = _tags(role)
    missing = [t for t in _REQUIRED_TAGS[kind] if t not in tags]
    if missing:
        raise LookupError(f"the bed's {kind} role {role.arn} lacks the tags {missing} (motobed/authz.py)")
    region, bucket = tags["Region"], tags.get("ArchiveBucket", "")
    stack = cfn.Stack(
        account=account, region=region, partition=partition, name=tags["StackName"],
        parameters={k: v for k, v in tags.items() if k in cfn.template().get("Parameters", {})},
        refs={"ArchiveBucket": bucket, "AccountSecret": lambda: _account_secret_arn(stack, account, region),
              "AlarmTopic": tags.get("AlarmTopic")},
        attributes={"ArchiveBucket.Arn": f"arn:{partition}:s3:::{bucket}",
                    ("RotatorRole.Arn" if kind == "function" else "MemberRole.Arn"): role.arn},
    )
    return stack


def _account_secret_arn(stack: cfn.Stack, account: str, region: str) -> str | None:
    name = stack.render(cfn.template()["Resources"]["AccountSecret"]["Properties"]["Name"])
    found = secretsmanager_backends[account][region].secrets.get(name)
    return found.arn if found else None  # no secret, no grant: every statement naming it is void


def identity_policies(caller: Caller) -> list[dict] | None:
    """A restricted role's policies (template + inline on the role); None for an unrestricted
    caller."""
    if caller.role is None:
        return None
    stack = _stack(caller.role, caller.account, caller.partition, caller.kind)
    resources = cfn.template()["Resources"]
    if caller.kind == "function":
        template = stack.policy_documents(resources["Rotator"]["Properties"]["Policies"])
    else:
        member = resources["MemberRole"]["Properties"]
        template = stack.policy_documents(member.get("ManagedPolicyArns", []))
        template += [p["PolicyDocument"] for p in stack.render(member.get("Policies", []))]
    inline = [json.loads(doc) if isinstance(doc, str) else doc for doc in caller.role.policies.values()]
    return template + inline


def bucket_policy(bucket: str) -> dict | None:
    """The template's ArchiveBucketPolicy if `bucket` is the archive of its account's stack."""
    if bucket not in s3_backends.bucket_accounts:
        return None
    partition, account = s3_backends.bucket_accounts[bucket]
    role = _function_role(account, partition)
    if role is None or _tags(role).get("ArchiveBucket") != bucket:
        return None
    stack = _stack(role, account, partition)
    return stack.render(cfn.template()["Resources"]["ArchiveBucketPolicy"]["Properties"]["PolicyDocument"])


SECRET_POLICY_TYPE = "AWS::SecretsManager::ResourcePolicy"


def stack_secret_policy(secret, account: str, region: str, partition: str) -> dict | None:
    """The template's resource policy for `secret` (moto's secret) if it is the account secret of
    its account's stack in this region, rendered for that stack; else None."""
    policies = [r for r in cfn.template().get("Resources", {}).values() if r.get("Type") == SECRET_POLICY_TYPE]
    role = _function_role(account, partition) if policies else None
    if role is None or _tags(role).get("Region") != region:
        return None
    try:
        stack = _stack(role, account, partition)
    except LookupError:  # a role the tests set up without the stack's tags: no stack, no policy
        return None
    for resource in policies:
        if "Condition" in resource and not stack.condition(resource["Condition"]):
            continue
        properties = resource.get("Properties", {})
        if stack.render(properties.get("SecretId")) not in (secret.arn, secret.name):
            continue
        policy = stack.render(properties.get("ResourcePolicy"))
        return json.loads(policy) if isinstance(policy, str) else policy
    return None


def secret_policy(call: Call) -> dict | None:
    """The resource policy of the secret a Secrets Manager request names (see the module's
    docstring), or None."""
    wanted = call.json().get("SecretId")
    secret = secretsmanager_backends[call.account][call.region].secrets.get(wanted) if isinstance(wanted, str) else None
    if secret is None:
        return None
    if secret.policy:
        try:
            put = json.loads(secret.policy)
        except ValueError:
            return None
        return put if isinstance(put, dict) else None
    if getattr(secret, "stack_policy_removed", False):
        return None
    return stack_secret_policy(secret, call.account, call.region, call.partition)


def organization_of(account: str, partition: str) -> str | None:
    """The id of the organization `account` is in (see the module's docstring), or None."""
    chosen = state.SETTINGS.get("organizations_by_account") or {}
    if account in chosen:
        return chosen[account] or None
    member_of = organizations_backends.master_accounts.get(account)
    management, org_partition = member_of or (account, partition)
    backends = dict.get(organizations_backends, management)  # no lazy creation of a backend
    backend = dict.get(backends, org_partition) if backends is not None else None
    org = getattr(backend, "org", None)
    return org.id if org is not None else None


def resource_account(resource: str, caller: Caller) -> str | None:
    """The account that owns the resource an ARN names (see the module's docstring), or None."""
    parts = resource.split(":", 5)
    if len(parts) != 6 or parts[0] != "arn":
        return None
    if parts[4].isdigit() and len(parts[4]) == 12:
        return parts[4]
    if parts[2] == "s3":
        owner = s3_backends.bucket_accounts.get(parts[5].split("/")[0])
        return owner[1] if owner else None
    if parts[2] == "route53" and parts[5].startswith("hostedzone/"):
        return caller.account
    return None


def _with_global_keys(a: Authorization, caller: Caller) -> Authorization:
    keys = {"aws:PrincipalArn": caller.principal_arn, "aws:PrincipalAccount": caller.account,
            "aws:SecureTransport": "true"}
    principal_org = organization_of(caller.account, caller.partition)
    if principal_org:
        keys["aws:PrincipalOrgID"] = principal_org
    owner = resource_account(a.resource, caller)
    if owner:
        keys["aws:ResourceAccount"] = owner
        resource_org = organization_of(owner, caller.partition)
        if resource_org:
            keys["aws:ResourceOrgID"] = resource_org
    return Authorization(a.action, a.resource, {**keys, **a.context})


def shown(action: str) -> str:
    """An action as the service names it in its errors: SNS writes its prefix in capitals
    ("not authorized to perform: SNS:Publish")."""
    service, _, name = action.partition(":")
    return f"SNS:{name}" if service == "sns" else action


def message(caller: Caller, a: Authorization, decision: Decision) -> str:
    on = f" on resource: {a.resource}" if a.resource != "*" else ""
    action = shown(a.action)
    if not decision.explicit:
        why = f"because no identity-based policy allows the {action} action"
    elif decision.policy_kind == "identity-based":
        why = "with an explicit deny in an identity-based policy"
    else:
        why = "with an explicit deny in a resource-based policy"
    return f"User: {caller.arn} is not authorized to perform: {action}{on} {why}"


def _missing_object_hidden(call: Call, a: Authorization, caller: Caller, identity) -> bool:
    """GetObject of a missing key: 404 NoSuchKey only to a caller allowed s3:ListBucket, else 403.
    https://docs.aws.amazon.com/AmazonS3/latest/API/API_GetObject.html (Permissions)"""
    if a.action != "s3:GetObject":
        return False
    bucket, key = actions.s3_location(call)
    found, obj = actions.s3_object(call, bucket, key)
    if found is None or obj is not None:
        return False
    listing = _with_global_keys(Authorization("s3:ListBucket", f"arn:{caller.partition}:s3:::{bucket}"), caller)
    return not decide(listing, identity, bucket_policy(bucket), _principals(caller)).allowed


def _principals(caller: Caller) -> list[str]:
    return [caller.arn, caller.principal_arn, caller.account, f"arn:{caller.partition}:iam::{caller.account}:root"]


def check(service: str, operation: str, key_id: str, region: str, environ: dict, body: bytes):
    """None if the request is allowed, else AWS's error response (status, headers, body)."""
    caller = caller_of(key_id, region, environ)
    call = Call(service, operation, region, caller.partition, caller.account, environ, body)
    try:
        return _check(call, caller)
    except LookupError as e:  # a restricted role the tests set up without the stack's tags
        return _deny(call, caller, Authorization(f"{service}:{operation}", "*"), str(e))


def _check(call: Call, caller: Caller):
    identity = identity_policies(caller)
    for a in actions.authorizations(call):
        a = _with_global_keys(a, caller)
        if a.action == "sts:AssumeRole":  # the role's trust policy, and the caller's own (sts.py)
            refused = sts.refusal(a, caller, identity)
            if refused:
                return _deny(call, caller, a, refused)
            continue
        resource_policy = None
        if a.action.startswith("s3:"):
            resource_policy = bucket_policy(actions.s3_location(call)[0])
        elif a.action.startswith("secretsmanager:"):
            resource_policy = secret_policy(call)
        decision = decide(a, identity, resource_policy, _principals(caller))
        if not decision.allowed:
            return _deny(call, caller, a, message(caller, a, decision))
        if _missing_object_hidden(call, a, caller, identity):
            return _deny(call, caller, a, "Access Denied")
    return None


def _deny(call: Call, caller: Caller, a: Authorization, text: str):
    with _lock:
        DENIALS.append({"account": caller.account, "caller": caller.arn, "action": a.action,
                        "resource": a.resource, "message": text})
    print(f"authz: denied {call.service}:{call.operation}: {text}", flush=True)
    return error_response(call.service, text)


def error_response(service: str, text: str):
    if service in ("acm", "secretsmanager", "kms", "events"):  # JSON protocols
        body = json.dumps({"__type": "AccessDeniedException", "Message": text}).encode()
        return 400, [("Content-Type", "application/x-amz-json-1.1"), ("Content-Length", str(len(body)))], body
    if service == "sqs":  # JSON 1.0, query-compatible
        body = json.dumps({"__type": "com.amazonaws.sqs#AccessDenied", "message": text}).encode()
        return 403, [("Content-Type", "application/x-amz-json-1.0"), ("x-amzn-query-error", "AccessDenied;Sender"),
                     ("Content-Length", str(len(body)))], body
    text = html.escape(text)
    if service == "sns":
        body = (f'<ErrorResponse xmlns="http://sns.amazonaws.com/doc/2010-03-31/"><Error><Type>Sender</Type>'
                f"<Code>AuthorizationError</Code><Message>{text}</Message></Error>"
                "<RequestId>00000000-0000-0000-0000-000000000000</RequestId></ErrorResponse>").encode()
        return 403, [("Content-Type", "text/xml"), ("Content-Length", str(len(body)))], body
    if service == "s3":
        body = (f'<?xml version="1.0" encoding="UTF-8"?><Error><Code>AccessDenied</Code><Message>{text}</Message>'
                "<RequestId>0000000000000000</RequestId><HostId>bed</HostId></Error>").encode()
    else:
        body = (f"<ErrorResponse><Error><Type>Sender</Type><Code>AccessDenied</Code><Message>{text}</Message>"
                "</Error><RequestId>00000000-0000-0000-0000-000000000000</RequestId></ErrorResponse>").encode()
    return 403, [("Content-Type", "text/xml"), ("Content-Length", str(len(body)))], body


def denials(account: str | None = None) -> list[dict]:
    with _lock:
        return [d for d in DENIALS if account in (None, d["account"])]


def reset() -> None:
    with _lock:
        DENIALS.clear()
