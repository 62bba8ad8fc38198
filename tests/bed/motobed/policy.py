"""IAM policy evaluation, as AWS documents it, for the bed's authorization rule (authz.py).

Pure: a request (`Authorization`: action, resource ARN, condition keys) and policy documents in,
a `Decision` out. What a request's action, resource and keys are is authz.py's business.

- Evaluation: an explicit Deny in any applicable policy wins; otherwise an Allow in an
  identity-based policy or, within one account, in a resource-based policy naming the principal
  allows; otherwise the request is implicitly denied.
  https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic.html
- Action (case-insensitive) and Resource (case-sensitive) match with `*` and `?` wildcards.
  (NotAction, NotResource and NotPrincipal are not used by the template: a statement with one is
  refused as an error.)
  https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_action.html
  https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_resource.html
- `${*}`, `${?}` and `${$}` are a literal `*`, `?` and `$`; other `${key}` variables take the
  request's value of that key, and a statement whose variable has no value does not match.
  https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_variables.html
- Condition operators: StringEquals, StringNotEquals, StringLike, StringNotLike, ArnEquals,
  ArnLike, ArnNotEquals, ArnNotLike, Bool, Null; several operators, and several keys under one,
  are ANDed; several values of one key are ORed (NORed for a negated operator). A key absent from
  the request makes a condition false, except that a negated operator is then true and Null tests
  the absence itself. Condition key names are case-insensitive.
  https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_condition_operators.html
  https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_multi-value-conditions.html
- `ForAllValues:` is true when every value of a multivalued key matches — and when the key is
  absent or empty; `ForAnyValue:` when at least one does, false when absent.
  https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_condition-single-vs-multi-valued-context-keys.html
An operator this module does not know is an error (the template would be using a condition the
bed does not check), never silently true or false.
"""

import re
from dataclasses import dataclass, field
from typing import Iterable

ALLOW, DENY = "Allow", "Deny"
_SPECIAL = {"*": r"\*", "?": r"\?", "$": r"\$"}  # ${*}, ${?}, ${$}: literal characters
_WILDCARDS = {"*": ".*", "?": "."}


@dataclass(frozen=True)
class Authorization:
    """One authorization AWS makes for a request: an action on a resource, with the request's
    condition keys (name -> str, or list of str for a multivalued key)."""
    action: str
    resource: str
    context: dict = field(default_factory=dict)

    def key(self, name: str):
        """The value of condition key `name` (case-insensitive), or None when absent."""
        wanted = name.lower()
        return next((v for k, v in self.context.items() if k.lower() == wanted), None)


@dataclass(frozen=True)
class Decision:
    """`effect` is Allow, or Deny with `explicit` telling an explicit from an implicit deny;
    `policy_kind` says where an explicit deny came from ("identity-based" / "resource-based")."""
    effect: str
    explicit: bool = False
    policy_kind: str = ""

    @property
    def allowed(self) -> bool:
        return self.effect == ALLOW


def _as_list(value) -> list:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _pattern(text: str, request: Authorization, case_sensitive: bool = True) -> re.Pattern | None:
    """A regex for a policy string with `*`/`?` wildcards and policy variables; None when a
    variable has no value in the request (the statement then does not apply)."""
    out = []
    for part in re.split(r"(\$\{[^}]*\})", text):
        if part.startswith("${") and part.endswith("}"):
            inner = part[2:-1]
            if inner in _SPECIAL:
                out.append(_SPECIAL[inner])
                continue
            value = request.key(inner)
            if not isinstance(value, str):
                return None
            out.append(re.escape(value))
        else:
            out.append("".join(_WILDCARDS.get(c, re.escape(c)) for c in part))
    return re.compile("^" + "".join(out) + "$", re.DOTALL | (0 if case_sensitive else re.IGNORECASE))


def _like(policy_value: str, value: str, request: Authorization) -> bool:
    return _matches_any(policy_value, value, request)


def _arn_like(policy_value: str, value: str, request: Authorization) -> bool:
    """ArnLike/ArnEquals: each of the six colon-separated parts is matched on its own."""
    wanted, got = policy_value.split(":", 5), value.split(":", 5)
    return len(wanted) == len(got) == 6 and all(_like(w, g, request) for w, g in zip(wanted, got))


def _equals(policy_value: str, value: str, request: Authorization) -> bool:
    """Exact match; policy variables are resolved, `*` and `?` are plain characters."""
    resolved = []
    for part in re.split(r"(\$\{[^}]*\})", policy_value):
        inner = part[2:-1] if part.startswith("${") and part.endswith("}") else None
        if inner is None or inner in _SPECIAL:
            resolved.append(part if inner is None else inner)
            continue
        variable = request.key(inner)
        if not isinstance(variable, str):
            return False
        resolved.append(variable)
    return "".join(resolved) == value


def _bool(policy_value: str, value: str, _request: Authorization) -> bool:
    return str(policy_value).lower() == str(value).lower()


# operator -> (match one request value against one policy value, negated)
_OPERATORS = {
    "StringEquals": (_equals, False),
    "StringNotEquals": (_equals, True),
    "StringLike": (_like, False),
    "StringNotLike": (_like, True),
    "ArnEquals": (_arn_like, False),
    "ArnLike": (_arn_like, False),
    "ArnNotEquals": (_arn_like, True),
    "ArnNotLike": (_arn_like, True),
    "Bool": (_bool, False),
}


def _one_value(match, negated: bool, policy_values: list, value: str, request: Authorization) -> bool:
    hit = any(match(str(p), value, request) for p in policy_values)
    return not hit if negated else hit


def _condition(operator: str, key: str, policy_values, request: Authorization) -> bool:
    policy_values = _as_list(policy_values)
    present = request.key(key)
    if operator == "Null":
        absent = present is None or present == [] or present == ""
        return any(str(p).lower() == ("true" if absent else "false") for p in policy_values)
    qualifier, _, base = operator.rpartition(":")
    if base not in _OPERATORS or qualifier not in ("", "ForAllValues", "ForAnyValue"):
        raise ValueError(f"motobed/policy.py does not evaluate the condition operator {operator}")
    match, negated = _OPERATORS[base]
    values = _as_list(present)
    if qualifier == "ForAllValues":
        return all(_one_value(match, negated, policy_values, v, request) for v in values)
    if qualifier == "ForAnyValue":
        return any(_one_value(match, negated, policy_values, v, request) for v in values)
    if not values:
        return negated
    return any(_one_value(match, negated, policy_values, v, request) for v in values)


def _conditions_hold(conditions: dict, request: Authorization) -> bool:
    return all(_condition(op, key, values, request)
               for op, keys in (conditions or {}).items() for key, values in keys.items())


def _matches_any(patterns, value: str, request: Authorization, case_sensitive: bool = True) -> bool:
    compiled = (_pattern(p, request, case_sensitive) for p in _as_list(patterns))
    return any(p is not None and p.match(value) for p in compiled)


def _principal_matches(statement: dict, principals: Iterable[str]) -> bool:
    """A resource policy's Principal: "*" or {"AWS": "*" | ARN(s) | account id(s)}, or
    {"Service": service principal(s)} for a service acting on its own behalf (SNS or EventBridge
    delivering to a queue: sqs.py)."""
    wanted = statement.get("Principal")
    if wanted == "*":
        return True
    if not isinstance(wanted, dict):
        return False
    aws = _as_list(wanted.get("AWS"))
    services = _as_list(wanted.get("Service"))
    return any(p == "*" or p in principals for p in aws) or any(s in principals for s in services)


def applicable(statement: dict, request: Authorization, principals: Iterable[str] | None = None) -> bool:
    """Does `statement` apply to `request` (principal — for resource policies —, action,
    resource and conditions all match)?"""
    unsupported = {"NotAction", "NotResource", "NotPrincipal"} & set(statement)
    if unsupported:
        raise ValueError(f"motobed/policy.py does not evaluate {sorted(unsupported)}")
    if principals is not None and not _principal_matches(statement, principals):
        return False
    return (_matches_any(statement.get("Action"), request.action, request, case_sensitive=False)
            and _matches_any(statement.get("Resource"), request.resource, request)
            and _conditions_hold(statement.get("Condition"), request))


def _statements(document: dict) -> list[dict]:
    return _as_list(document.get("Statement"))


def decide(request: Authorization, identity: list[dict] | None, resource_policy: dict | None = None,
           principals: Iterable[str] = ()) -> Decision:
    """The decision for `request`. `identity`: the principal's identity-based policy documents,
    or None for a principal the bed does not restrict (it allows everything); `resource_policy`:
    the resource's policy, applied to `principals` (the caller's ARNs and account), same account."""
    principals = list(principals)
    resource_statements = _statements(resource_policy) if resource_policy else []
    identity_statements = [s for doc in identity or [] for s in _statements(doc)]
    for statements, kind, who in ((identity_statements, "identity-based", None),
                                  (resource_statements, "resource-based", principals)):
        if any(s.get("Effect") == DENY and applicable(s, request, who) for s in statements):
            return Decision(DENY, explicit=True, policy_kind=kind)
    if identity is None:
        return Decision(ALLOW)
    allowed = any(s.get("Effect") == ALLOW and applicable(s, request) for s in identity_statements) or any(
        s.get("Effect") == ALLOW and applicable(s, request, principals) for s in resource_statements)
    return Decision(ALLOW) if allowed else Decision(DENY)
