"""STS AssumeRole as AWS decides it: which caller may assume which role, and for how long.

Plain moto 5.2 hands out credentials for any role ARN — a role that does not exist, a role of
another partition — to any caller, whatever the role's trust policy says (it does keep accounts
apart: the credentials act in the role's account). These rules copy AWS. `refusal` runs in the
bed's request middleware, through authz.py, which knows the caller and its identity-based
policies; `apply()` checks DurationSeconds in moto's AssumeRole.

- Every refusal is `AccessDenied` (HTTP 403) with the message "User: <caller ARN> is not
  authorized to perform: sts:AssumeRole on resource: <role ARN>", whatever the reason: STS does
  not say whether the role exists, is of another partition or does not trust the caller.
  https://docs.aws.amazon.com/STS/latest/APIReference/API_AssumeRole.html
  https://docs.aws.amazon.com/IAM/latest/UserGuide/troubleshoot_roles.html
  (a role that does not exist answers the same as one that does not trust the caller, as seen
  in https://github.com/HackTricks-wiki/hacktricks-cloud/blob/master/pentesting-cloud/aws-security/aws-unauthenticated-enum-access/aws-iam-and-sts-unauthenticated-enum.md;
  the 403 status as seen in https://github.com/cloud-toolkit/cloud-toolkit-aws/issues/31)
- A role of another partition than the STS endpoint's region: partitions are isolated IAM
  instances, "direct role assumption with the AssumeRole API doesn't work across partition
  boundaries"; AWS answers it with the AccessDenied above (arn:aws: role called on an aws-cn
  endpoint: https://github.com/corymhall/cdk-diff-action/issues/79).
  https://docs.aws.amazon.com/IAM/latest/UserGuide/id_roles_providers_outbound_cross_partition.html
- The role's trust policy (a resource-based policy, with no Resource element: the role is the
  resource) must allow the caller explicitly — role trust policies are the exception to "an
  allow in either the identity-based or the resource-based policy suffices". Its AWS principal
  is an account (a 12-digit id or arn:<p>:iam::<id>:root: every principal of that account), a
  role ARN (that role's sessions), a session ARN, a user ARN or "*"; a Service principal is an
  AWS service and never matches a user or a role session.
  https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic_policy-eval-denyallow.html
  https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_principal.html
- The caller's identity-based policies must allow sts:AssumeRole on the role too when the caller
  is of another account, and within one account when the trust policy names the account rather
  than the caller; an explicit deny in either wins.
  https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic-cross-account.html
- Conditions are evaluated by policy.py, with the request's keys: sts:ExternalId (absent when
  the request has none, so that StringEquals on it is false), sts:RoleSessionName,
  aws:PrincipalArn, aws:PrincipalAccount, aws:PrincipalOrgID, and — the role being the resource —
  aws:ResourceAccount (the role's account) and aws:ResourceOrgID (its account's organization,
  absent when it is in none), so that a caller's policy can allow sts:AssumeRole only on roles
  of chosen accounts or of its organization (authz.py says where organizations come from).
  https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_condition-keys.html#condition-keys-resourceaccount
  https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_condition-keys.html#condition-keys-resourceorgid
  https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_iam-condition-keys.html#ck_externalid
  https://docs.aws.amazon.com/IAM/latest/UserGuide/id_roles_common-scenarios_third-party.html
- DurationSeconds: from 900 to the role's MaxSessionDuration (3600 by default), and at most an
  hour when the caller is itself a role session (role chaining); otherwise `ValidationError`
  (HTTP 400): "The requested DurationSeconds exceeds the MaxSessionDuration set for this role." /
  "The requested DurationSeconds exceeds the 1 hour session limit for roles assumed by role
  chaining." https://docs.aws.amazon.com/STS/latest/APIReference/API_AssumeRole.html
  https://docs.aws.amazon.com/IAM/latest/UserGuide/id_roles_terms-and-concepts.html#iam-term-role-chaining

The bed's own principals, which the tests use in every fresh account:
- `cert-rotator-e2e`, the tests' unrestricted set-up role, exists in every account that has no
  role of that name: the bed's stand-in for OrganizationAccountAccessRole, which AWS
  Organizations creates in each member account trusting the management account (here the
  account of the bed's static `testing` keys, moto's default account) with administrator rights.
  https://docs.aws.amazon.com/organizations/latest/userguide/orgs_manage_accounts_access.html
- A role whose trust policy lets the Lambda service in (Principal {"Service":
  "lambda.amazonaws.com"}, as SAM writes it for a function's role) may be assumed with the bed's
  static keys, which stand for Lambda: that is how the tests run as the function. Only static
  keys (never a role session), only that service principal, only a statement whose conditions
  hold.
"""

import json
from dataclasses import dataclass

from moto.core import DEFAULT_ACCOUNT_ID
from moto.iam.models import get_account_id_from, iam_backends
from moto.sts.exceptions import STSValidationError
from moto.sts.models import sts_backends
from moto.sts.responses import TokenResponse
from moto.utilities.utils import get_partition

from .policy import ALLOW, DENY, Authorization, applicable, decide

SETUP_ROLE = "cert-rotator-e2e"
LAMBDA = "lambda.amazonaws.com"
MANAGEMENT_ACCOUNT = DEFAULT_ACCOUNT_ID  # the account of the bed's static keys
CHAINED_MAX_SECONDS = 3600


@dataclass(frozen=True)
class Role:
    """A role as STS sees it: its ARN, account, trust policy and longest session."""
    arn: str
    account: str
    trust: dict
    max_session_seconds: int


def assumed_session(key_id: str):
    """(account, moto AssumedRole) of temporary credentials moto's STS issued, or None."""
    if not key_id.startswith("ASIA"):
        return None
    account = get_account_id_from(key_id)
    for partition in ("aws-cn", "aws", "aws-us-gov"):
        assumed = sts_backends[account][partition].get_assumed_role_from_access_key(key_id)
        if assumed:
            return account, assumed
    return None


def _setup_role_trust(partition: str) -> dict:
    return {"Version": "2012-10-17", "Statement": [{
        "Effect": ALLOW, "Principal": {"AWS": f"arn:{partition}:iam::{MANAGEMENT_ACCOUNT}:root"},
        "Action": "sts:AssumeRole"}]}


def role(arn: str, partition: str) -> Role | None:
    """The role `arn` names, as an STS endpoint of `partition` finds it; None if there is none."""
    parts = arn.split(":", 5)
    if len(parts) != 6 or parts[0] != "arn" or parts[1] != partition or parts[2] != "iam":
        return None
    account, resource = parts[4], parts[5]
    if not (account.isdigit() and len(account) == 12 and resource.startswith("role/")):
        return None
    roles = list(iam_backends[account][partition].roles.values())
    found = next((r for r in roles if r.arn == arn), None)
    if found is not None:
        trust = found.assume_role_policy_document
        trust = json.loads(trust) if isinstance(trust, str) else trust
        return Role(arn, account, trust or {}, int(found.max_session_duration or 3600))
    if resource == f"role/{SETUP_ROLE}" and not any(r.name == SETUP_ROLE for r in roles):
        return Role(arn, account, _setup_role_trust(partition), 3600)
    return None


def _statements(trust: dict, role_arn: str) -> list[dict]:
    """The trust policy's statements, each with the role as its Resource."""
    statements = trust.get("Statement") or []
    statements = statements if isinstance(statements, list) else [statements]
    return [{**s, "Resource": role_arn} for s in statements]


def _lambda_trusted(statements: list[dict], request: Authorization) -> bool:
    for s in statements:
        principal = s.get("Principal")
        services = principal.get("Service") if isinstance(principal, dict) else None
        services = services if isinstance(services, list) else [services]
        if s.get("Effect") == ALLOW and LAMBDA in services and applicable(s, request):
            return True
    return False


def trusted(statements: list[dict], request: Authorization, caller, identity: list[dict] | None) -> bool:
    """Does the trust policy, with the caller's identity-based policies (None: unrestricted),
    let `caller` assume the role? (see the module's docstring)"""
    specific = [caller.arn, caller.principal_arn]
    account_wide = [caller.account, f"arn:{caller.partition}:iam::{caller.account}:root"]
    if any(s.get("Effect") == DENY and applicable(s, request, specific + account_wide) for s in statements):
        return False
    direct = any(s.get("Effect") == ALLOW and applicable(s, request, specific) for s in statements)
    via_account = any(s.get("Effect") == ALLOW and applicable(s, request, account_wide) for s in statements)
    if not (direct or via_account):
        return False
    own = decide(Authorization(request.action, request.resource, request.context), identity)
    if own.explicit:
        return False
    same_account = request.resource.split(":")[4] == caller.account
    return (same_account and direct) or own.allowed


def refusal(request: Authorization, caller, identity: list[dict] | None) -> str | None:
    """None if `caller` may assume the role `request.resource`, else STS's AccessDenied message.
    `caller` is authz.py's Caller; `request` carries the condition keys (authz adds the global
    ones)."""
    message = (f"User: {caller.arn} is not authorized to perform: sts:AssumeRole "
               f"on resource: {request.resource}")
    found = role(request.resource, caller.partition)
    if found is None:
        return message
    statements = _statements(found.trust, found.arn)
    if not caller.session and _lambda_trusted(statements, request):
        return None
    return None if trusted(statements, request, caller, identity) else message


_assume_role = TokenResponse.assume_role


def assume_role(self):
    """moto's AssumeRole, after AWS's DurationSeconds limits."""
    duration = self._get_int_param("DurationSeconds", 3600)
    if duration < 900 or duration > 43200:
        bound = "greater than or equal to 900" if duration < 900 else "less than or equal to 43200"
        raise STSValidationError(f"1 validation error detected: Value '{duration}' at 'durationSeconds' "
                                 f"failed to satisfy constraint: Member must have value {bound}")
    found = role(self._get_param("RoleArn") or "", get_partition(self.region))
    if assumed_session(self.get_access_key()) and duration > CHAINED_MAX_SECONDS:
        raise STSValidationError("The requested DurationSeconds exceeds the 1 hour session limit "
                                 "for roles assumed by role chaining.")
    if duration > (found.max_session_seconds if found else 3600):
        raise STSValidationError("The requested DurationSeconds exceeds the MaxSessionDuration set for this role.")
    return _assume_role(self)


def apply() -> None:
    TokenResponse.assume_role = assume_role
