"""ACME Renewal Information (RFC 9773) in front of Pebble 2.4, which has none.

A transparent HTTPS reverse proxy: every request goes to Pebble with its Host header unchanged,
so the URLs Pebble writes into its answers and checks in JWS `url` headers name this proxy, and the
ACME client never talks to Pebble directly. On top of that:

- GET /dir gains `"renewalInfo": "https://<host>/renewalInfo"` (RFC 9773 section 3).
- GET /renewalInfo/<certID> answers a suggested window with Retry-After (section 4.2), for
  certificates it saw issued (their window defaults to the span from 2/3 to 3/4 of their lifetime,
  about where Let's Encrypt puts it) or for any id a test set. Unknown ids: 404.
- POST /order-plz (newOrder) may carry `replaces` (RFC 9773 section 5); Pebble 2.4 drops it, so
  the proxy copies it into the order object it returns, and into later fetches of that order, as
  an ARI-capable CA does (clients check the echo).
- It refuses a `replaces` as Let's Encrypt does (RFC 9773 section 5 lets the server reject it;
  ../shared/FACTS.md, "Let's Encrypt and replaces"), in Boulder's order (wfe2/wfe.go,
  validateReplacementOrder then orderMatchesReplacement), before any rate limit is counted:
  409 `alreadyReplaced` when the certificate already has a replacement order that is pending,
  ready, processing or valid (a run that died after ordering); 403 `unauthorized` when the
  certificate was issued to another ACME account (a migration from another client, an account
  reset); 400 `malformed` "Could not validate ARI 'replaces' field :: identifiers in this order
  do not match any identifiers in the certificate being replaced" when no identifier of the new
  order matches the old certificate. Boulder matches each identifier with Go's
  `x509.Certificate.VerifyHostname` on the old certificate (`verify_hostname` here, a port of
  crypto/x509/verify.go): SAN names only (no Common Name), case-insensitive, a trailing dot
  ignored; a certificate's `*.example.com` covers `www.example.com` (exactly one label), but an
  identifier that is not a valid host name — `*.example.com` itself — matches only the same name
  literally; IP identifiers match IP SANs.
  https://github.com/letsencrypt/boulder/blob/main/wfe2/wfe.go (orderMatchesReplacement)
  https://github.com/letsencrypt/boulder/blob/main/web/probs.go (the "msg :: detail" form)
  https://github.com/golang/go/blob/master/src/crypto/x509/verify.go (VerifyHostname)
  The account of a certificate is the `kid` of the request that downloaded it, its names are its
  SANs. Not with `--plain` (Pebble's own behaviour: it ignores `replaces`), so the fidelity
  tests prove the rule.
- It enforces rate limits a test sets, as Let's Encrypt does (https://letsencrypt.org/docs/rate-limits/):
  a newOrder beyond a limit is answered 429 `urn:ietf:params:acme:error:rateLimited` with a
  `Retry-After` header (seconds until the oldest counted event leaves the window, when one more
  fits) and Let's Encrypt's detail ("too many new orders (N) from this account in the last 3h0m0s,
  retry after 2026-12-02 06:00:00 UTC: see https://letsencrypt.org/docs/rate-limits/#new-orders-per-account").
  Two kinds: "New Orders per Account" (orders the CA created for the account) and "New
  Certificates per Exact Set of Identifiers" (certificates issued for the same names, any
  account). Renewal exemptions are not modelled. Not with `--plain` (Pebble has no limits).
- The directory's `meta.caaIdentities` is Let's Encrypt's, `["letsencrypt.org"]` (RFC 8555 section
  7.1.1; Pebble 2.4 lists none), so a CAA record naming another CA forbids the bed's CA as it
  forbids Let's Encrypt. Not with `--plain`.
- ACME profiles (draft-aaron-acme-profiles), as Let's Encrypt serves them; Pebble 2.4 has none.
  The directory gains `meta.profiles` with Let's Encrypt's three names and its descriptions (links
  to https://letsencrypt.org/docs/profiles). A newOrder's `profile` outside them is refused 400
  `urn:ietf:params:acme:error:invalidProfile` "profile name \"<name>\" not recognized" (Boulder's
  wfe2/wfe.go validateCertificateProfileName, checked after `replaces` and before rate limits) and
  never reaches Pebble. An order made with a profile echoes it (`"profile"`) in the newOrder answer
  and every later fetch of the order (Boulder's orderJSON; an order without one has none). Its
  certificate is the proxy's own: when it is downloaded, the proxy issues the profile's leaf with
  the public key and SANs of Pebble's leaf, a fresh random serial, notBefore a minute ago,
  notAfter = notBefore + lifetime - 1 s (Boulder's GenerateValidity: the last second counts),
  signed with Pebble's intermediate key (management `/intermediate-keys/0`; issuer and AKI from
  `/intermediates/0`), so it verifies to `/roots/0` as Pebble's own does; it is served with
  Pebble's chain and Link headers, and the same leaf at every download. ARI and `replaces` know it
  (its id, window, account and names) and never Pebble's. Fields, per Let's Encrypt
  (https://letsencrypt.org/docs/profiles; Boulder issuance/cert.go, test/config-next/ca.json):
    classic     90 days (a test may set 64, Let's Encrypt's from 2027-02-10), Common Name = the
                first SAN (left out past 64 characters), KU digitalSignature (+ keyEncipherment
                for an RSA key), Subject Key ID
    tlsserver   45 days, no Common Name (empty subject, SAN critical), KU digitalSignature, no SKID
    shortlived  160 hours ("6ish days"), otherwise as tlsserver
  All: EKU serverAuth only (Let's Encrypt dropped clientAuth from classic on 2026-02-11; Boulder
  "always omit[s] the clientAuth EKU"), basicConstraints CA:FALSE, policy 2.23.140.1.2.1.
  Orders without a profile keep Pebble's certificate (CN, digitalSignature + keyEncipherment,
  serverAuth + clientAuth, BED_CERT_VALIDITY_SECONDS). Not with `--plain` (no meta.profiles, the
  profile goes to Pebble, which ignores it).
- The control port (plain HTTP, loopback) lets tests set windows:
    GET /certs                       the certificates seen: id, serial, not_before, not_after
    PUT /windows/<certID>            {"start": RFC 3339, "end": RFC 3339[, "explanationURL"]
                                     [, "retry_after": seconds (default 21600, Let's Encrypt's 6 h)]}
    PUT /windows/*                   the same for every certificate without its own window
                                     (a window's "rate_limited": N answers its requests 429
                                     rateLimited with Retry-After N instead: a test's fault)
    DELETE /windows                  back to lifetime-based windows
    POST /faults                     {"path": "/order-plz", "identifier": "x.example.cn",
                                     "status": 403, "type": "urn:ietf:params:acme:error:...",
                                     "detail": "...", "times": 1[, "retry_after": "3600"]}: answer
                                     that problem (with that Retry-After header) instead of
                                     forwarding a request whose JWS payload names the identifier
    POST /limits                     {"kind": "new-orders-per-account", "account": kid, "max": N,
                                     "window": seconds} or {"kind": "exact-set", "identifiers":
                                     [names], "max": N, "window": seconds}: a rate limit
    GET /requests                    how many renewalInfo requests were answered, by id
    GET /orders                      how many newOrder requests arrived, by their names joined
                                     with "," in sorted order (refused ones included)
    PUT /certs/<certID>              {"account": kid[, "names": [DNS SANs], "ips": [IP SANs]]}:
                                     a certificate issued to that account (for those names)
    PUT /replacements/<certID>       {"order": path, "status": "valid"}: it has a replacement order
    GET /profiles                    the profiles: description, seconds, days and fields of each
    PUT /profiles/<name>             {"days": N} (or {"hours": N}, {"seconds": N}; numbers > 0):
                                     the lifetime of that profile's next certificates, e.g.
                                     PUT /profiles/classic {"days": 64}; 404 for another name
    DELETE /profiles                 back to Let's Encrypt's lifetimes (90 d, 45 d, 160 h)

Usage: python ari_proxy.py --listen 127.0.0.1:P --control 127.0.0.1:C --upstream 127.0.0.1:U
       --cert listener.pem --key listener.key --ca ca.pem --management https://127.0.0.1:M
"""

import argparse
import base64
import collections
import copy
import datetime as dt
import http.client
import ipaddress
import json
import math
import ssl
import sys
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, ExtensionOID, NameOID

CERTS: dict[str, dict] = {}
ORDER_REPLACES: dict[str, str] = {}  # order URL path -> the certificate id it replaces
REPLACED_BY: dict[str, str] = {}  # certificate id -> the order path that replaces it
ORDER_STATUS: dict[str, str] = {}  # order path -> its last status seen
BLOCKING = {"pending", "ready", "processing", "valid"}
PLAIN = False
FAULTS: list[dict] = []
WINDOWS: dict[str, dict] = {}
REQUESTS: collections.Counter = collections.Counter()
ORDERS: collections.Counter = collections.Counter()  # newOrder requests by sorted names
LIMITS: list[dict] = []
ACCOUNT_ORDERS: dict[str, list[float]] = collections.defaultdict(list)  # kid -> times orders were created
ISSUED_SETS: dict[tuple, list[float]] = collections.defaultdict(list)  # sorted names -> times issued
RATE_LIMITED = "urn:ietf:params:acme:error:rateLimited"
INVALID_PROFILE = "urn:ietf:params:acme:error:invalidProfile"
DAY = 86400
# Let's Encrypt's profiles (https://letsencrypt.org/docs/profiles): what its directory says of each
# and what its certificates carry. The lifetime is the one a test may change (PUT /profiles/<name>).
DEFAULT_PROFILES: dict[str, dict] = {
    "classic": {"description": "https://letsencrypt.org/docs/profiles#classic", "seconds": 90 * DAY,
                "common_name": True, "key_encipherment_for_rsa": True, "subject_key_id": True},
    "tlsserver": {"description": "https://letsencrypt.org/docs/profiles#tlsserver", "seconds": 45 * DAY,
                  "common_name": False, "key_encipherment_for_rsa": False, "subject_key_id": False},
    "shortlived": {"description": "https://letsencrypt.org/docs/profiles#shortlived", "seconds": 160 * 3600,
                   "common_name": False, "key_encipherment_for_rsa": False, "subject_key_id": False},
}
PROFILES: dict[str, dict] = copy.deepcopy(DEFAULT_PROFILES)
ORDER_PROFILE: dict[str, str] = {}  # order path -> the profile it was made with
CERT_PROFILE: dict[str, str] = {}  # Pebble's certificate path (/certZ/<serial>) -> its order's profile
REISSUED: dict[str, bytes] = {}  # Pebble's certificate path -> the leaf (PEM) served in its place
MANAGEMENT = ""  # Pebble's management URL
ISSUER: list = []  # [intermediate certificate, its key], fetched once
ISSUE_LOCK = threading.Lock()
DOMAIN_VALIDATED = x509.ObjectIdentifier("2.23.140.1.2.1")  # Baseline Requirements 7.1.6.1
LOCK = threading.Lock()
HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade", "proxy-authorization", "proxy-authenticate"}


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def cert_id(cert: x509.Certificate) -> str:
    """RFC 9773 section 4.1: base64url(AKI keyIdentifier) "." base64url(serial DER content)."""
    aki = cert.extensions.get_extension_for_oid(ExtensionOID.AUTHORITY_KEY_IDENTIFIER).value.key_identifier
    serial = cert.serial_number
    serial_bytes = serial.to_bytes((serial.bit_length() + 8) // 8, "big")  # DER: leading 0 if high bit set
    return f"{b64url(aki)}.{b64url(serial_bytes)}"


def rfc3339(t: dt.datetime) -> str:
    return t.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def default_window(info: dict) -> dict:
    nb, na = info["not_before"], info["not_after"]
    life = na - nb
    return {"start": rfc3339(nb + life * 2 / 3), "end": rfc3339(nb + life * 3 / 4)}


def jws_payload(body: bytes | None) -> dict:
    """The JSON payload of a flattened JWS request body (RFC 7515 section 7.2.2), or {}."""
    try:
        payload = json.loads(body or b"{}").get("payload", "")
        return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)) or b"{}")
    except (ValueError, AttributeError):
        return {}


def jws_kid(body: bytes | None) -> str | None:
    """The account URL (`kid`) in a flattened JWS request's protected header (RFC 8555 6.2)."""
    try:
        protected = json.loads(body or b"{}").get("protected", "")
        return json.loads(base64.urlsafe_b64decode(protected + "=" * (-len(protected) % 4))).get("kid")
    except (ValueError, AttributeError):
        return None


def remember(pem: bytes, account: str | None, profile: str | None = None) -> None:
    try:
        leaf = x509.load_pem_x509_certificates(pem)[0]
        cid = cert_id(leaf)
        san = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        names = san.get_values_for_type(x509.DNSName)
        ips = [str(ip) for ip in san.get_values_for_type(x509.IPAddress)]
    except (ValueError, x509.ExtensionNotFound, IndexError):
        return
    with LOCK:
        if cid not in CERTS or "not_before" not in CERTS[cid]:
            ISSUED_SETS[tuple(sorted(names))].append(time.time())
        CERTS[cid] = {
            "id": cid,
            "serial": format(leaf.serial_number, "x"),
            "not_before": leaf.not_valid_before_utc,
            "not_after": leaf.not_valid_after_utc,
            "account": account,
            "names": names,
            "ips": ips,
            "profile": profile,
        }


def _lower_ascii(text: str) -> str:
    """Go's toLowerCaseASCII: A-Z only (RFC 6125 6.4.1)."""
    return "".join(chr(ord(c) + 32) if "A" <= c <= "Z" else c for c in text)


def _valid_hostname(host: str, is_pattern: bool) -> bool:
    """Go's validHostname (crypto/x509/verify.go)."""
    if not is_pattern:
        host = host.removesuffix(".")
    if not host or host == "*":
        return False
    for i, part in enumerate(host.split(".")):
        if not part:
            return False
        if is_pattern and i == 0 and part == "*":
            continue
        for j, c in enumerate(part):
            if "a" <= c <= "z" or "0" <= c <= "9" or "A" <= c <= "Z" or (c == "-" and j != 0) or c == "_":
                continue
            return False
    return True


def _match_hostnames(pattern: str, host: str) -> bool:
    """Go's matchHostnames: a leftmost `*` label stands for exactly one label."""
    pattern, host = _lower_ascii(pattern), _lower_ascii(host.removesuffix("."))
    if not pattern or not host:
        return False
    pattern_parts, host_parts = pattern.split("."), host.split(".")
    if len(pattern_parts) != len(host_parts):
        return False
    return all((i == 0 and p == "*") or p == h for i, (p, h) in enumerate(zip(pattern_parts, host_parts)))


def _match_exactly(a: str, b: str) -> bool:
    if a in ("", ".") or b in ("", "."):
        return False
    return _lower_ascii(a) == _lower_ascii(b)


def verify_hostname(names: list[str], ips: list[str], host: str) -> bool:
    """Go's x509.Certificate.VerifyHostname(host) == nil, for a certificate with these SANs."""
    candidate_ip = host[1:-1] if len(host) >= 3 and host[0] == "[" and host[-1] == "]" else host
    try:
        ip = ipaddress.ip_address(candidate_ip)
    except ValueError:
        ip = None
    if ip is not None:
        return any(ip == ipaddress.ip_address(other) for other in ips)
    candidate = _lower_ascii(host)
    valid_candidate = _valid_hostname(candidate, is_pattern=False)
    for match in names:
        if valid_candidate and _valid_hostname(match, is_pattern=True):
            if _match_hostnames(match, candidate):
                return True
        elif _match_exactly(match, candidate):
            return True
    return False


def refuse_replaces(sent: bytes | None) -> tuple[int, str, str] | None:
    """Let's Encrypt's answer to a newOrder whose `replaces` it refuses, or None (Boulder's checks
    in Boulder's order; see the module's docstring)."""
    payload = jws_payload(sent)
    replaces = payload.get("replaces")
    if PLAIN or not replaces:
        return None
    with LOCK:
        cert = dict(CERTS.get(replaces) or {})
        order = REPLACED_BY.get(replaces)
        status = ORDER_STATUS.get(order, "pending") if order else None
    if status in BLOCKING:
        return 409, "urn:ietf:params:acme:error:alreadyReplaced", f"cannot indicate an order replaces certificate {replaces}, which already has a replacement order ({status})"
    if cert.get("account") and cert["account"] != jws_kid(sent):
        return 403, "urn:ietf:params:acme:error:unauthorized", f"the certificate {replaces} named in replaces was not issued to this account"
    if cert.get("names") or cert.get("ips"):
        wanted = [i.get("value", "") for i in payload.get("identifiers", []) if isinstance(i, dict)]
        if not any(verify_hostname(cert.get("names") or [], cert.get("ips") or [], w) for w in wanted):
            return 400, "urn:ietf:params:acme:error:malformed", ("Could not validate ARI 'replaces' field :: identifiers in this "
                                                                 "order do not match any identifiers in the certificate being replaced")
    return None


def refuse_profile(sent: bytes | None) -> tuple[int, str, str] | None:
    """Let's Encrypt's answer to a newOrder naming a profile it does not offer, or None."""
    profile = jws_payload(sent).get("profile")
    if PLAIN or profile in (None, ""):  # Boulder: an empty name is no profile (the default)
        return None
    if not isinstance(profile, str):
        return 400, "urn:ietf:params:acme:error:malformed", "Unable to unmarshal NewOrder request body"
    with LOCK:
        if profile in PROFILES:
            return None
    # Go's %q for the name, as Boulder formats it.
    return 400, INVALID_PROFILE, f"profile name {json.dumps(profile, ensure_ascii=False)} not recognized"


def cert_base(path: str) -> str:
    """Pebble's certificate path without an alternate chain's number: /certZ/<serial>[/<n>]."""
    if not path.startswith("/certZ/"):
        return ""
    return "/certZ/" + path[len("/certZ/"):].split("/")[0]


def pebble_issuer() -> tuple[x509.Certificate, rsa.RSAPrivateKey]:
    """Pebble's leaf-signing intermediate (every chain's first) and its key, from the management port."""
    if not ISSUER:
        def get(path: str) -> bytes:
            with urllib.request.urlopen(MANAGEMENT + path, context=Proxy.upstream_ctx, timeout=10) as r:
                return r.read()
        cert = x509.load_pem_x509_certificate(get("/intermediates/0"))
        key = serialization.load_pem_private_key(get("/intermediate-keys/0"), password=None)
        if key.public_key().public_numbers() != cert.public_key().public_numbers():
            raise ValueError("Pebble's /intermediate-keys/0 is not the key of /intermediates/0")
        ISSUER[:] = [cert, key]
    return ISSUER[0], ISSUER[1]


def profile_leaf(pebble_leaf: x509.Certificate, name: str) -> x509.Certificate:
    """The certificate Let's Encrypt would issue under profile `name` for Pebble's leaf's key and names."""
    with LOCK:
        profile = dict(PROFILES[name])
    issuer, issuer_key = pebble_issuer()
    key = pebble_leaf.public_key()
    san = pebble_leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    subject = x509.Name([])
    if profile["common_name"]:
        pebble_cn = [a.value for a in pebble_leaf.subject.get_attributes_for_oid(NameOID.COMMON_NAME)]
        candidates = pebble_cn + san.get_values_for_type(x509.DNSName)  # Pebble's CN is the CSR's first name
        cn = next((c for c in candidates if isinstance(c, str) and 0 < len(c) <= 64), None)
        if cn:
            subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
    not_before = dt.datetime.now(dt.timezone.utc).replace(microsecond=0) - dt.timedelta(minutes=1)
    not_after = not_before + dt.timedelta(seconds=int(profile["seconds"])) - dt.timedelta(seconds=1)
    ski = issuer.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value.digest
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject).issuer_name(issuer.subject).public_key(key)
        .serial_number(x509.random_serial_number()).not_valid_before(not_before).not_valid_after(not_after)
        .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False,
                                     key_encipherment=isinstance(key, rsa.RSAPublicKey) and profile["key_encipherment_for_rsa"],
                                     data_encipherment=False, key_agreement=False, key_cert_sign=False, crl_sign=False,
                                     encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.AuthorityKeyIdentifier(ski, None, None), critical=False)
        # RFC 5280 4.2.1.6: with an empty subject the SAN extension is critical.
        .add_extension(san, critical=len(subject) == 0)
        .add_extension(x509.CertificatePolicies([x509.PolicyInformation(DOMAIN_VALIDATED, None)]), critical=False)
    )
    if profile["subject_key_id"]:
        builder = builder.add_extension(x509.SubjectKeyIdentifier.from_public_key(key), critical=False)
    return builder.sign(issuer_key, hashes.SHA256())


def profiled_chain(base: str, name: str, chain: bytes) -> bytes:
    """Pebble's chain with its leaf replaced by the profile's (issued once per Pebble certificate)."""
    with ISSUE_LOCK:
        leaf = REISSUED.get(base)
        if leaf is None:
            leaf = profile_leaf(x509.load_pem_x509_certificates(chain)[0], name).public_bytes(serialization.Encoding.PEM)
            REISSUED[base] = leaf
    marker = b"-----END CERTIFICATE-----"
    rest = chain[chain.index(marker) + len(marker):]
    return leaf.rstrip(b"\n") + rest


def go_duration(seconds: int) -> str:
    """A window as Let's Encrypt's messages spell it (Go's time.Duration: 3h0m0s)."""
    return f"{seconds // 3600}h{seconds % 3600 // 60}m{seconds % 60}s"


def rate_limited(sent: bytes | None) -> tuple[str, int] | None:
    """(detail, Retry-After seconds) when a newOrder exceeds a limit a test set, or None."""
    if PLAIN:
        return None
    payload = jws_payload(sent)
    names = tuple(sorted(i.get("value") for i in payload.get("identifiers", [])))
    kid = jws_kid(sent)
    now = time.time()
    with LOCK:
        for rule in LIMITS:
            window = int(rule.get("window", 10800))
            if rule.get("kind") == "new-orders-per-account" and rule.get("account") == kid:
                seen, what = ACCOUNT_ORDERS[kid], "new orders ({max}) from this account"
                anchor = "new-orders-per-account"
            elif rule.get("kind") == "exact-set" and tuple(sorted(rule.get("identifiers", []))) == names:
                seen, what = ISSUED_SETS[names], "certificates ({max}) already issued for this exact set of identifiers"
                anchor = "new-certificates-per-exact-set-of-identifiers"
            else:
                continue
            recent = sorted(t for t in seen if t > now - window)
            limit = int(rule.get("max", 0))
            if len(recent) < limit:
                continue
            # When one more fits: the oldest of the last `limit` leaves the window.
            free_at = recent[len(recent) - limit] + window if limit and recent else now + window
            wait = max(1, math.ceil(free_at - now))
            at = dt.datetime.fromtimestamp(now + wait, dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")
            detail = f"too many {what.format(max=limit)} in the last {go_duration(window)}, retry after {at}: see https://letsencrypt.org/docs/rate-limits/#{anchor}"
            return detail, wait
    return None


def order_path(request_path: str, headers: list[tuple[str, str]]) -> str:
    """The order's own path, from its Location header or the request path (Pebble's layout)."""
    location = next((v for k, v in headers if k.lower() == "location"), "")
    if location:
        return "/" + location.split("://", 1)[-1].partition("/")[2]
    return request_path.replace("/finalize-order/", "/my-order/", 1)


class Proxy(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    upstream: tuple[str, int]
    upstream_ctx: ssl.SSLContext

    def log_message(self, *args):
        pass

    def _send(self, status: int, headers: list[tuple[str, str]], body: bytes) -> None:
        self.send_response(status)
        for k, v in headers:
            if k.lower() not in HOP_BY_HOP and k.lower() != "content-length":
                self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _read_body(self) -> bytes:
        if self._buffered is None:
            length = int(self.headers.get("Content-Length") or 0)
            self._buffered = self.rfile.read(length) if length else b""
        return self._buffered

    def _fault(self, path: str):
        """A fault rule matching this request, consumed once per match."""
        if self.command != "POST" or not FAULTS:
            return None
        body = self._read_body()
        names = [i.get("value") for i in jws_payload(body).get("identifiers", [])]
        with LOCK:
            for rule in FAULTS:
                if rule.get("path", path) == path and rule.get("identifier") in names and int(rule.get("times", 1)) > 0:
                    rule["times"] = int(rule.get("times", 1)) - 1
                    return rule
        return None

    def _forward(self) -> tuple[int, list[tuple[str, str]], bytes, bytes | None]:
        body = getattr(self, "_buffered", None)
        if body is None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else None
        self._buffered = None
        conn = http.client.HTTPSConnection(*self.upstream, context=self.upstream_ctx, timeout=60)
        headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
        conn.request(self.command, self.path, body=body, headers=headers)
        resp = conn.getresponse()
        data = resp.read()
        conn.close()
        return resp.status, resp.getheaders(), data, body

    def _problem(self, status: int, kind: str, detail: str, retry_after=None) -> None:
        body = json.dumps({"type": kind, "detail": detail, "status": status}).encode()
        headers = [("Content-Type", "application/problem+json")]
        if retry_after is not None:
            headers.append(("Retry-After", str(retry_after)))
        self._send(status, headers, body)

    def _handle(self) -> None:
        path = self.path.split("?")[0]
        if self.command == "GET" and path.startswith("/renewalInfo/"):
            return self._renewal_info(path[len("/renewalInfo/"):])
        self._buffered = None
        if self.command == "POST" and path == "/order-plz":
            names = sorted(i.get("value") for i in jws_payload(self._read_body()).get("identifiers", []))
            with LOCK:
                ORDERS[",".join(names)] += 1
        fault = self._fault(path)
        if fault:
            self._buffered = None
            return self._problem(int(fault.get("status", 500)), fault.get("type", "urn:ietf:params:acme:error:serverInternal"), fault.get("detail", "injected by the test bed"), fault.get("retry_after"))
        if self.command == "POST" and path == "/order-plz":
            refused = refuse_replaces(self._read_body()) or refuse_profile(self._buffered)
            if refused:
                self._buffered = None
                return self._problem(*refused)
            limited = rate_limited(self._buffered)
            if limited:
                self._buffered = None
                return self._problem(429, RATE_LIMITED, limited[0], limited[1])
        status, headers, data, sent = self._forward()
        with LOCK:
            replaces = ORDER_REPLACES.get(path)
        if self.command == "POST" and path == "/order-plz" and status == 201:
            with LOCK:
                ACCOUNT_ORDERS[jws_kid(sent)].append(time.time())
            replaces = jws_payload(sent).get("replaces")
            profile = jws_payload(sent).get("profile")
            if profile and not PLAIN:
                with LOCK:
                    ORDER_PROFILE[order_path(path, headers)] = profile
            location = next((v for k, v in headers if k.lower() == "location"), "")
            if replaces:
                with LOCK:
                    ORDER_REPLACES["/" + location.split("://", 1)[-1].partition("/")[2]] = replaces
                    REPLACED_BY[replaces] = order_path(path, headers)
        if status in (200, 201) and any(k.lower() == "content-type" and "json" in v for k, v in headers):
            try:
                seen = json.loads(data)
            except ValueError:
                seen = None
            if isinstance(seen, dict) and "finalize" in seen and "status" in seen:
                with LOCK:
                    ORDER_STATUS[order_path(path, headers)] = seen["status"]
                    profile = ORDER_PROFILE.get(order_path(path, headers))
                    if profile and seen.get("certificate"):
                        CERT_PROFILE[cert_base("/" + seen["certificate"].split("://", 1)[-1].partition("/")[2])] = profile
                if profile:
                    seen["profile"] = profile
                    data = json.dumps(seen).encode()
        if replaces and status in (200, 201):
            order = json.loads(data)
            order["replaces"] = replaces
            data = json.dumps(order).encode()
        if self.command == "GET" and path == "/dir" and status == 200:
            directory = json.loads(data)
            directory["renewalInfo"] = f"https://{self.headers['Host']}/renewalInfo"
            if not PLAIN:
                with LOCK:
                    meta = directory.setdefault("meta", {})
                    meta["profiles"] = {n: p["description"] for n, p in PROFILES.items()}
                    # RFC 8555 section 7.1.1: the names CAA records know the CA by; the proxy
                    # stands in for Let's Encrypt, whose directory lists "letsencrypt.org".
                    meta["caaIdentities"] = ["letsencrypt.org"]
            data = json.dumps(directory, indent=2).encode()
        if any(k.lower() == "content-type" and v.startswith("application/pem-certificate-chain") for k, v in headers):
            with LOCK:
                profile = CERT_PROFILE.get(cert_base(path)) if status == 200 and not PLAIN else None
            if profile:
                try:
                    data = profiled_chain(cert_base(path), profile, data)
                except Exception as e:  # never hand out Pebble's certificate for a profile's
                    return self._problem(500, "urn:ietf:params:acme:error:serverInternal", f"the test bed could not issue the {profile} certificate: {e!r}")
            remember(data, jws_kid(sent), profile)
        self._send(status, headers, data)

    def _renewal_info(self, cid: str) -> None:
        with LOCK:
            REQUESTS[cid] += 1
            issued = "not_before" in CERTS.get(cid, {})
            window = WINDOWS.get(cid) or (WINDOWS.get("*") if issued else None)
            if window is None and issued:
                window = default_window(CERTS[cid])
        if window is None:
            body = json.dumps({"type": "urn:ietf:params:acme:error:malformed", "detail": f"no certificate with id {cid}"}).encode()
            return self._send(404, [("Content-Type", "application/problem+json")], body)
        if window.get("rate_limited"):
            # A test's fault: the request itself refused under a rate limit (RFC 8555 section
            # 6.6, 429 with Retry-After), as a CA may answer any request.
            return self._problem(429, "urn:ietf:params:acme:error:rateLimited",
                                 "too many renewalInfo requests", retry_after=int(window["rate_limited"]))
        payload = {"suggestedWindow": {"start": window["start"], "end": window["end"]}}
        if window.get("explanationURL"):
            payload["explanationURL"] = window["explanationURL"]
        retry_after = str(window.get("retry_after", 21600))
        self._send(200, [("Content-Type", "application/json"), ("Retry-After", retry_after)], json.dumps(payload).encode())

    do_GET = do_POST = do_HEAD = _handle


class Control(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def _reply(self, code: int, payload) -> None:
        body = json.dumps(payload, default=str).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        with LOCK:
            if self.path == "/certs":
                return self._reply(200, list(CERTS.values()))
            if self.path == "/requests":
                return self._reply(200, dict(REQUESTS))
            if self.path == "/orders":
                return self._reply(200, dict(ORDERS))
            if self.path == "/health":
                return self._reply(200, {"ok": True})
            if self.path == "/profiles":
                return self._reply(200, {n: {**p, "days": p["seconds"] / DAY} for n, p in PROFILES.items()})
        self._reply(404, {"error": f"no such control path {self.path}"})

    def do_PUT(self):
        if self.path.startswith(("/certs/", "/replacements/")):
            return self._seed()
        if self.path.startswith("/profiles/"):
            return self._profile(self.path[len("/profiles/"):])
        if not self.path.startswith("/windows/"):
            return self._reply(404, {"error": f"no such control path {self.path}"})
        length = int(self.headers.get("Content-Length") or 0)
        try:
            window = json.loads(self.rfile.read(length))
            for field in ("start", "end"):
                dt.datetime.fromisoformat(window[field].replace("Z", "+00:00"))
        except (ValueError, KeyError, TypeError, AttributeError) as e:
            return self._reply(400, {"error": f"a window needs RFC 3339 'start' and 'end': {e}"})
        with LOCK:
            WINDOWS[self.path[len("/windows/"):]] = window
        self._reply(200, window)

    def _profile(self, name: str):
        """PUT /profiles/<name> {"days"|"hours"|"seconds": N}: that profile's lifetime from now on."""
        length = int(self.headers.get("Content-Length") or 0)
        units = {"days": DAY, "hours": 3600, "seconds": 1}
        try:
            value = json.loads(self.rfile.read(length))
            given = [u for u in units if u in value]
            assert isinstance(value, dict) and len(given) == 1
            amount = value[given[0]]
            assert isinstance(amount, (int, float)) and not isinstance(amount, bool) and amount > 0
            seconds = int(round(amount * units[given[0]]))
            assert seconds >= 1
        except (ValueError, AssertionError, TypeError):
            return self._reply(400, {"error": 'a lifetime is {"days": N}, {"hours": N} or {"seconds": N}, N > 0'})
        with LOCK:
            if name not in PROFILES:
                return self._reply(404, {"error": f"no profile {name!r}; the bed offers {sorted(PROFILES)}"})
            PROFILES[name]["seconds"] = seconds
            profile = dict(PROFILES[name])
        self._reply(200, {**profile, "days": seconds / DAY})

    def _seed(self):
        length = int(self.headers.get("Content-Length") or 0)
        try:
            value = json.loads(self.rfile.read(length))
            assert isinstance(value, dict)
        except (ValueError, AssertionError):
            return self._reply(400, {"error": "a JSON object"})
        kind, _, cid = self.path[1:].partition("/")
        with LOCK:
            if kind == "certs":
                seeded = CERTS.setdefault(cid, {"id": cid})
                seeded["account"] = value.get("account")
                for field in ("names", "ips"):
                    if field in value:
                        seeded[field] = list(value[field] or [])
            else:
                REPLACED_BY[cid] = value["order"]
                ORDER_STATUS[value["order"]] = value.get("status", "pending")
        self._reply(200, value)

    def do_POST(self):
        if self.path == "/limits":
            return self._limit()
        if self.path != "/faults":
            return self._reply(404, {"error": f"no such control path {self.path}"})
        length = int(self.headers.get("Content-Length") or 0)
        try:
            rule = json.loads(self.rfile.read(length))
            assert isinstance(rule, dict) and rule.get("identifier")
        except (ValueError, AssertionError):
            return self._reply(400, {"error": "a fault rule is a JSON object with at least an identifier"})
        with LOCK:
            FAULTS.append(rule)
        self._reply(200, rule)

    def _limit(self):
        length = int(self.headers.get("Content-Length") or 0)
        try:
            rule = json.loads(self.rfile.read(length))
            assert isinstance(rule, dict)
            assert (rule.get("kind") == "new-orders-per-account" and rule.get("account")) or (rule.get("kind") == "exact-set" and rule.get("identifiers"))
            int(rule.get("max", 0)), int(rule.get("window", 10800))
        except (ValueError, AssertionError, TypeError):
            return self._reply(400, {"error": "a limit is {kind: new-orders-per-account, account} or {kind: exact-set, identifiers}, with max and window"})
        with LOCK:
            LIMITS.append(rule)
        self._reply(200, rule)

    def do_DELETE(self):
        if self.path == "/profiles":
            with LOCK:
                PROFILES.clear()
                PROFILES.update(copy.deepcopy(DEFAULT_PROFILES))
            return self._reply(200, {})
        if self.path != "/windows":
            return self._reply(404, {"error": f"no such control path {self.path}"})
        with LOCK:
            WINDOWS.clear()
        self._reply(200, {})


def hostport(s: str) -> tuple[str, int]:
    host, _, port = s.rpartition(":")
    return host, int(port)


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--listen", required=True)
    p.add_argument("--control", required=True)
    p.add_argument("--upstream", required=True)
    p.add_argument("--cert", required=True)
    p.add_argument("--key", required=True)
    p.add_argument("--ca", required=True)
    p.add_argument("--management", default="", help="Pebble's management URL (https://127.0.0.1:P): its intermediate signs profiles' certificates")
    p.add_argument("--plain", action="store_true", help="Pebble's own behaviour: replaces accepted, no profiles, no limits")
    args = p.parse_args()
    global PLAIN, MANAGEMENT
    PLAIN = args.plain
    MANAGEMENT = args.management.rstrip("/")
    Proxy.upstream = hostport(args.upstream)
    Proxy.upstream_ctx = ssl.create_default_context(cafile=args.ca)
    server = ThreadingHTTPServer(hostport(args.listen), Proxy)
    tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    tls.load_cert_chain(args.cert, args.key)
    server.socket = tls.wrap_socket(server.socket, server_side=True)
    control = ThreadingHTTPServer(hostport(args.control), Control)
    threading.Thread(target=control.serve_forever, daemon=True).start()
    print(f"ARI proxy on https://{args.listen} -> {args.upstream}, control on {args.control}", flush=True)
    server.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
