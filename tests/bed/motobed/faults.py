"""A WSGI layer in front of moto: names each request's service and operation, counts calls, and
answers with AWS errors where AWS would (Route 53 throttling, a request the caller's IAM policies
do not allow: authz.py) or where a test asks (fault rules).

- Route 53 API quota: "All requests – Five requests per second per AWS account"; above it AWS
  answers `Throttling` (HTTP 400). Counted per account, not per access key: the sessions of
  every role of one account (the function's, the tests' set-up role's) share one budget, and
  another account has its own. https://docs.aws.amazon.com/Route53/latest/DeveloperGuide/DNSLimitations.html#limits-api-requests
- Fault rules (POST /faults on the control port): {"service", "operation", "code", "status",
  "message", "delay", "access_key", "region", "account", "nth" | "after" | "probability",
  "times"}: the bed answers that error instead of calling moto, e.g. to stop a run after its
  N-th UpdateDistribution. With "delay" (seconds) it first waits that long, then answers the
  error, or — without "code" — lets the request go on as usual (to the fidelity rules and
  moto): a slow endpoint. A rule needs a "code" or a "delay". Filters, all optional: "service",
  "operation", "access_key" (the request's access key id; the rule's call count is then that
  caller's), "region" (the region the request is signed for) and "account" (the account the
  request acts in: a role session's account, else the static keys' account), and "path" (a
  substring of the request's path, e.g. "/lock/run" for one S3 object).
"""

import collections
import io
import json
import random
import re
import threading
import time
from urllib.parse import parse_qs

import botocore.session

from . import authz, state

_CRED_RE = re.compile(r"Credential=([^/]+)/\d{8}/([^/]+)/([^/]+)/aws4_request")
_lock = threading.Lock()
CALLS: collections.Counter = collections.Counter()  # "service:Operation" -> count
FAULTS: list[dict] = []
_KEY_CALLS: collections.Counter = collections.Counter()  # (access key, service, operation) -> count
_r53_window: dict[str, collections.deque] = collections.defaultdict(collections.deque)  # account -> request times

_PROTOCOLS = {"iam": "query", "sts": "query", "route53": "rest-xml", "cloudfront": "rest-xml", "s3": "rest-xml",
              "secretsmanager": "json", "acm": "json", "elasticloadbalancing": "query", "kms": "json", "ec2": "query",
              "sns": "query", "events": "json", "sqs": "json"}


def _rest_routes(service: str) -> list[tuple[str, re.Pattern, str]]:
    """(method, path regex, operation) for a REST service, from botocore's model of it."""
    model = botocore.session.get_session().get_service_model(service)
    routes = []
    for name in model.operation_names:
        http = model.operation_model(name).http
        literal_parts = re.split(r"\{[^}]+\}", http["requestUri"].split("?")[0])
        pattern = "[^/]+".join(re.escape(p) for p in literal_parts).rstrip("/")
        routes.append((http["method"], re.compile("^" + pattern + "/?$"), name))
    return routes


_ROUTES = {s: _rest_routes(s) for s in ("route53", "cloudfront")}


def identify(environ: dict, body: bytes) -> tuple[str, str, str, str]:
    """(service, operation, access key id, region) of a signed request."""
    m = _CRED_RE.search(environ.get("HTTP_AUTHORIZATION", ""))
    if not m:
        return "", "", "", ""
    key_id, region, service = m.group(1), m.group(2), m.group(3)
    op = ""
    protocol = _PROTOCOLS.get(service)
    if protocol == "query":
        op = (parse_qs(body.decode(errors="replace")).get("Action") or [""])[0]
    elif protocol == "json":
        op = environ.get("HTTP_X_AMZ_TARGET", "").rpartition(".")[2]
        if not op:  # SQS also takes the Query protocol (older SDKs)
            op = (parse_qs(body.decode(errors="replace")).get("Action") or [""])[0]
    elif service in _ROUTES:
        path, method = environ.get("PATH_INFO", ""), environ.get("REQUEST_METHOD", "")
        op = next((name for m_, rx, name in _ROUTES[service] if m_ == method and rx.match(path)), "")
    else:
        op = environ.get("REQUEST_METHOD", "")
    return service, op, key_id, region


def _error(service: str, status: int, code: str, message: str):
    if _PROTOCOLS.get(service) == "json":
        body = json.dumps({"__type": code, "message": message}).encode()
        ctype = "application/x-amz-json-1.1"
    else:
        body = (
            "<ErrorResponse><Error><Type>Sender</Type>"
            f"<Code>{code}</Code><Message>{message}</Message></Error>"
            "<RequestId>00000000-0000-0000-0000-000000000000</RequestId></ErrorResponse>"
        ).encode()
        ctype = "text/xml"
    return status, [("Content-Type", ctype), ("Content-Length", str(len(body)))], body


def _route53_throttled(account: str) -> bool:
    limit = float(state.SETTINGS["route53_max_rps"] or 0)
    if limit <= 0:
        return False
    now = time.monotonic()
    window = _r53_window[account]
    while window and now - window[0] >= 1.0:
        window.popleft()
    if len(window) >= limit:
        return True
    window.append(now)
    return False


def check_rule(rule) -> None:
    """Raises ValueError when a fault rule posted to the control port cannot work."""
    if not isinstance(rule, dict):
        raise ValueError("a fault rule is a JSON object")
    if "code" not in rule and "delay" not in rule:
        raise ValueError("a fault rule needs a code, a delay, or both")
    if "delay" in rule:
        try:
            ok = float(rule["delay"]) >= 0
        except (TypeError, ValueError):
            ok = False
        if not ok:
            raise ValueError("a fault rule's delay is a number of seconds, 0 or more")


def _matching_fault(service: str, op: str, key_id: str, region: str, account: str, count: int, key_count: int,
                    path: str = ""):
    for rule in FAULTS:
        if rule.get("service") not in (None, service) or rule.get("operation") not in (None, op):
            continue
        if "path" in rule and rule["path"] not in path:
            continue
        if rule.get("access_key") not in (None, key_id) or rule.get("region") not in (None, region):
            continue
        if rule.get("account") not in (None, account):
            continue
        if rule.get("access_key"):
            count = key_count
        if "nth" in rule and count != int(rule["nth"]):
            continue
        if "after" in rule and count <= int(rule["after"]):
            continue
        if "probability" in rule and random.random() >= float(rule["probability"]):
            continue
        if rule.get("times") is not None:
            if int(rule["times"]) <= 0:
                continue
            rule["times"] = int(rule["times"]) - 1
        return rule
    return None


class Middleware:
    def __init__(self, app):
        self.app = app

    def __call__(self, environ, start_response):
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length else b""
        environ["wsgi.input"] = io.BytesIO(body)
        service, op, key_id, region = identify(environ, body)
        if service:
            with _lock:
                by_account = service == "route53" or any("account" in rule for rule in FAULTS)
            account = authz.account_of(key_id, environ) if by_account else ""
            with _lock:
                CALLS[f"{service}:{op}"] += 1
                count = CALLS[f"{service}:{op}"]
                _KEY_CALLS[(key_id, service, op)] += 1
                fault = _matching_fault(service, op, key_id, region, account, count, _KEY_CALLS[(key_id, service, op)],
                                        environ.get("PATH_INFO", ""))
                delayed = fault is not None and "delay" in fault
                throttled = not delayed and service == "route53" and _route53_throttled(account)
            if delayed:
                with _lock:
                    CALLS["faults:delay"] += 1
                time.sleep(float(fault["delay"]))
                if "code" not in fault:  # the request arrives now
                    with _lock:
                        throttled = service == "route53" and _route53_throttled(account)
            if fault and "code" in fault:
                with _lock:
                    CALLS[f"faults:{fault['code']}"] += 1
                return self._send(start_response, _error(service, int(fault.get("status", 400)), fault["code"], fault.get("message", "Injected by the test bed")))
            if throttled:
                with _lock:
                    CALLS["route53:Throttled"] += 1
                return self._send(start_response, _error(service, 400, "Throttling", "Rate exceeded"))
            denied = authz.check(service, op, key_id, region, environ, body)
            if denied:
                with _lock:
                    CALLS["authz:Denied"] += 1
                return self._send(start_response, denied)
        return self.app(environ, start_response)

    @staticmethod
    def _send(start_response, response):
        status, headers, body = response
        reason = {400: "Bad Request", 403: "Forbidden", 409: "Conflict", 412: "Precondition Failed", 500: "Internal Server Error", 503: "Service Unavailable"}.get(status, "Error")
        start_response(f"{status} {reason}", headers)
        return [body]
