"""State shared by the fidelity rules: one lock, the bed's runtime settings, small helpers.

moto's server is threaded; rules that check-then-act (ETag compare-and-swap, duplicate names,
Route 53 batches) hold `LOCK` so that concurrent requests see AWS's atomicity.
"""

import datetime as dt
import re
import secrets
import string
import threading

LOCK = threading.RLock()

# Runtime knobs, changed through the control endpoint (POST /settings) by tests.
DEFAULTS = {
    # Seconds a distribution stays InProgress after a create or update before it is Deployed.
    # Real CloudFront takes minutes; a test sets what it needs.
    "cloudfront_deploy_seconds": 1.0,
    # The same per account, {account id: seconds}, over the setting above: a test gives its own
    # account two-minute deployments without slowing the tests running beside it (cloudfront.py).
    "cloudfront_deploy_seconds_by_account": {},
    # Seconds after UploadServerCertificate during which CloudFront does not see the new
    # certificate yet (IAM is eventually consistent): CreateDistribution/UpdateDistribution naming
    # it answer InvalidViewerCertificate (cloudfront.py). 0: visible at once.
    "iam_consistency_seconds": 0.0,
    # The same per account, {account id: seconds}, over the setting above.
    "iam_consistency_seconds_by_account": {},
    # How many GetChange polls answer PENDING before INSYNC (real Route 53: usually < 60 s).
    # 0 by default: the SDK's ResourceRecordSetsChanged waiter sleeps a fixed 30 s after a
    # PENDING answer, so tests that exercise PENDING set this themselves and pay for it.
    "route53_pending_polls": 0,
    # Seconds after submission a change stays PENDING, however often it is polled: how Route 53
    # behaves (the benchmark uses this, so a client that polls more often gains nothing).
    "route53_pending_seconds": 0.0,
    # Route 53 requests per second per account before Throttling; 0 disables the limit.
    # AWS: "five requests per second per AWS account" (Route 53 quotas, see faults.py).
    "route53_max_rps": 0,
    # IAM server certificates per account before UploadServerCertificate answers LimitExceeded,
    # also reported as GetAccountSummary's ServerCertificatesQuota (AWS default: 20, see
    # iam.py). 0 here: the bench and the volume tests hold hundreds; a test sets the quota it needs.
    "iam_server_certificates_quota": 0,
    # The same per account, {account id: quota}, over the setting above: a test sets its own
    # account's quota without touching the tests running beside it.
    "iam_server_certificates_quota_by_account": {},
    # Which of several public hosted zones with one name the parent delegates to, {zone name: zone
    # id, or "outside"}: the bed's DNS answers from that one (zones.py); without an entry, the
    # outside zone of that name if there is one, else the Route 53 zone created first.
    "route53_delegations": {},
    # Zones of a DNS provider outside AWS, served by the bed's DNS beside Route 53's, {zone name:
    # [{"name", "type", "value", "ttl"}, ...]} (zones.py); a POST replaces the zones it names.
    "outside_zones": {},
    # The AWS Organizations organization of an account, {account id: "o-..."}: the value of the
    # condition keys aws:ResourceOrgID / aws:PrincipalOrgID for that account (authz.py). Over moto's
    # own Organizations state (an organization created with CreateOrganization and its accounts,
    # whose ids moto chooses); an account in neither is in no organization.
    "organizations_by_account": {},
}
SETTINGS = dict(DEFAULTS)


def for_account(name: str, account: str):
    """A setting with a per-account override: `<name>_by_account`'s value for `account` if it has
    one, else `<name>`'s."""
    own = (SETTINGS.get(f"{name}_by_account") or {}).get(account)
    return SETTINGS[name] if own is None else own


def now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def iso(t: dt.datetime) -> str:
    return t.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond // 1000:03d}Z"


def random_id(prefix: str, length: int) -> str:
    alphabet = string.ascii_uppercase + string.digits
    return prefix + "".join(secrets.choice(alphabet) for _ in range(length))


def normalize_dns_name(name: str) -> str:
    """Route 53 and CloudFront compare names case-insensitively, with or without the final dot."""
    return name.strip().rstrip(".").lower()


def route53_record_name(name: str) -> str:
    """A record name as Route 53 stores and lists it: lower case, no final dot, and characters
    other than a-z 0-9 - _ . as \\ and three octal digits (`*.example.com` is `\\052.example.com`),
    whether written as characters or as escape codes; ChangeResourceRecordSets treats both
    spellings as one name, ListResourceRecordSets returns the escaped one.
    https://docs.aws.amazon.com/Route53/latest/DeveloperGuide/DomainNameFormat.html"""
    name = normalize_dns_name(name)
    out, i = [], 0
    while i < len(name):
        escaped = re.match(r"\\[0-7]{3}", name[i:])
        if escaped:  # already in Route 53's escaped form
            out.append(escaped.group(0))
            i += 4
            continue
        c = name[i]
        out.append(c if re.fullmatch(r"[a-z0-9_.-]", c) else f"\\{ord(c):03o}")
        i += 1
    return "".join(out)


def unescape_record_name(name: str) -> str:
    """A name as DNS carries it (normalized), from Route 53's escaped form: printable ASCII escape
    codes become their characters (`\\052` is `*`), so a wildcard's leftmost label is `*`; `.`,
    `\\` and bytes outside printable ASCII stay escaped."""
    def char(m):
        code = int(m.group(1), 8)
        return chr(code) if 0o41 <= code <= 0o176 and chr(code) not in ".\\" else m.group(0)
    return re.sub(r"\\([0-7]{3})", char, normalize_dns_name(name))


def name_matches(pattern: str, name: str) -> bool:
    """Does a certificate name (possibly `*.x`) cover `name`? A wildcard covers exactly one label
    (RFC 6125 section 6.4.3, as CloudFront applies it)."""
    pattern, name = normalize_dns_name(pattern), normalize_dns_name(name)
    if pattern == name:
        return True
    if pattern.startswith("*."):
        head, _, rest = name.partition(".")
        return bool(head) and head != "*" and rest == pattern[2:]
    return False
