"""ACME rules of the ARI proxy in front of Pebble (ari_proxy.py): `replaces` refused as Let's Encrypt
refuses it. RFC 9773 section 5 lets a CA reject an order's `replaces`; Let's Encrypt answers 403
`unauthorized` for a certificate issued to another account and 409 `alreadyReplaced` for one that
already has a replacement order (pending, ready or valid) — ../shared/FACTS.md, "Let's Encrypt and
replaces". Pebble 2.4 ignores `replaces`, so on the plain bed (`ari_proxy.py --plain`) these fail.

The proxy answers before Pebble checks the request's signature, so an unsigned order is enough to
see the rule; the end-to-end cases (a migrated account, a run killed after finalizing) are in
tests/ari_on_bed.rs.
"""

import base64
import json
import ssl
import urllib.error
import urllib.request

import pytest

from conftest import unique

pytestmark = pytest.mark.fidelity

ACCOUNT = "https://127.0.0.1/my-account/1"


def b64(value: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()


def post(bed: dict, url: str, body: bytes, content_type: str) -> tuple[int, dict]:
    ctx = ssl.create_default_context(cafile=bed["CERT_ROTATOR_ACME_CA_BUNDLE"])
    req = urllib.request.Request(url, data=body, method="POST", headers={"Content-Type": content_type})
    try:
        with urllib.request.urlopen(req, context=ctx, timeout=10) as r:
            return r.status, json.loads(r.read() or b"{}")
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"{}")


def new_order(bed: dict, kid: str, replaces: str) -> tuple[int, dict]:
    ctx = ssl.create_default_context(cafile=bed["CERT_ROTATOR_ACME_CA_BUNDLE"])
    with urllib.request.urlopen(bed["CERT_ROTATOR_ACME_DIRECTORY"], context=ctx, timeout=10) as r:
        url = json.loads(r.read())["newOrder"]
    protected = {"alg": "ES256", "kid": kid, "nonce": "unused", "url": url}
    payload = {"identifiers": [{"type": "dns", "value": "x.example.cn"}], "replaces": replaces}
    body = json.dumps({"protected": b64(protected), "payload": b64(payload), "signature": "AAAA"}).encode()
    return post(bed, url, body, "application/jose+json")


def seed(bed: dict, path: str, value: dict) -> None:
    req = urllib.request.Request(bed["BED_ARI_CONTROL_URL"] + path, data=json.dumps(value).encode(), method="PUT")
    urllib.request.urlopen(req, timeout=5).read()


def test_replacing_a_certificate_issued_to_another_account_is_refused_with_403(bed):
    cert = f"AAAA.{unique('other')}"
    seed(bed, f"/certs/{cert}", {"account": ACCOUNT})
    status, problem = new_order(bed, "https://127.0.0.1/my-account/2", cert)
    assert status == 403, problem
    assert problem["type"] == "urn:ietf:params:acme:error:unauthorized"
    assert cert in problem["detail"]


def test_a_certificate_with_a_live_replacement_order_cannot_be_replaced_again_409(bed):
    for status in ("pending", "ready", "valid"):
        cert = f"AAAA.{unique(status)}"
        seed(bed, f"/certs/{cert}", {"account": ACCOUNT})
        seed(bed, f"/replacements/{cert}", {"order": f"/my-order/{unique('o')}", "status": status})
        code, problem = new_order(bed, ACCOUNT, cert)
        assert code == 409, (status, problem)
        assert problem["type"] == "urn:ietf:params:acme:error:alreadyReplaced"
    # A replacement order that failed does not count: the order goes on to the CA (which then
    # refuses this unsigned request for its own reasons, but not for `replaces`).
    cert = f"AAAA.{unique('invalid')}"
    seed(bed, f"/replacements/{cert}", {"order": f"/my-order/{unique('o')}", "status": "invalid"})
    code, problem = new_order(bed, ACCOUNT, cert)
    assert code not in (403, 409), problem


# Rate limits (https://letsencrypt.org/docs/rate-limits/): beyond a limit, a newOrder is answered
# 429 `urn:ietf:params:acme:error:rateLimited` with a Retry-After header and a detail naming the
# limit. Pebble has none, so on the plain bed the order goes through to Pebble (which refuses this
# unsigned request for its own reasons, never with 429).

def new_order_answer(bed: dict, kid: str, names: list[str]) -> tuple[int, dict, dict]:
    """(status, problem, headers) of an unsigned newOrder from `kid` for `names`."""
    ctx = ssl.create_default_context(cafile=bed["CERT_ROTATOR_ACME_CA_BUNDLE"])
    with urllib.request.urlopen(bed["CERT_ROTATOR_ACME_DIRECTORY"], context=ctx, timeout=10) as r:
        url = json.loads(r.read())["newOrder"]
    protected = {"alg": "ES256", "kid": kid, "nonce": "unused", "url": url}
    payload = {"identifiers": [{"type": "dns", "value": n} for n in names]}
    body = json.dumps({"protected": b64(protected), "payload": b64(payload), "signature": "AAAA"}).encode()
    req = urllib.request.Request(url, data=body, method="POST", headers={"Content-Type": "application/jose+json"})
    try:
        with urllib.request.urlopen(req, context=ctx, timeout=10) as r:
            return r.status, json.loads(r.read() or b"{}"), dict(r.headers)
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"{}"), dict(e.headers)


def limit(bed: dict, rule: dict) -> None:
    req = urllib.request.Request(bed["BED_ARI_CONTROL_URL"] + "/limits", data=json.dumps(rule).encode(), method="POST")
    urllib.request.urlopen(req, timeout=5).read()


def test_an_account_over_its_new_orders_limit_gets_429_with_retry_after(bed):
    kid = f"https://127.0.0.1/my-account/{unique('limited')}"
    limit(bed, {"kind": "new-orders-per-account", "account": kid, "max": 0, "window": 10800})
    status, problem, headers = new_order_answer(bed, kid, [f"{unique('a')}.example.cn"])
    assert status == 429, problem
    assert problem["type"] == "urn:ietf:params:acme:error:rateLimited"
    assert problem["detail"].startswith("too many new orders (0) from this account in the last 3h0m0s, retry after ")
    assert problem["detail"].endswith("#new-orders-per-account")
    assert 0 < int(headers["Retry-After"]) <= 10800
    # Another account is not limited by it.
    status, problem, _ = new_order_answer(bed, f"{kid}-other", [f"{unique('b')}.example.cn"])
    assert status != 429, problem


def test_an_exact_set_issued_too_often_gets_429_naming_the_limit(bed):
    names = [f"{unique('set')}.example.cn", f"www.{unique('set')}.example.cn"]
    limit(bed, {"kind": "exact-set", "identifiers": names, "max": 0, "window": 604800})
    status, problem, headers = new_order_answer(bed, ACCOUNT, list(reversed(names)))
    assert status == 429, problem
    assert "already issued for this exact set of identifiers in the last 168h0m0s" in problem["detail"]
    assert int(headers["Retry-After"]) > 0
    status, problem, _ = new_order_answer(bed, ACCOUNT, names[:1])
    assert status != 429, "a subset is another set"


# Boulder's orderMatchesReplacement (wfe2/wfe.go): the new order must share an identifier with the
# certificate it replaces, as Go's x509 VerifyHostname matches it; else 400 malformed. Checked after
# alreadyReplaced (409) and the account (403), as Boulder does.

MISMATCH = ("Could not validate ARI 'replaces' field :: identifiers in this order do not match any identifiers "
            "in the certificate being replaced")


def replacing(bed: dict, cert_names: list[str], order_names: list[str]) -> tuple[int, dict]:
    """A newOrder for `order_names` replacing a certificate (seeded on the ARI control port) for
    `cert_names`, issued to the same account."""
    cert = f"AAAA.{unique('names')}"
    seed(bed, f"/certs/{cert}", {"account": ACCOUNT, "names": cert_names})
    ctx = ssl.create_default_context(cafile=bed["CERT_ROTATOR_ACME_CA_BUNDLE"])
    with urllib.request.urlopen(bed["CERT_ROTATOR_ACME_DIRECTORY"], context=ctx, timeout=10) as r:
        url = json.loads(r.read())["newOrder"]
    protected = {"alg": "ES256", "kid": ACCOUNT, "nonce": "unused", "url": url}
    payload = {"identifiers": [{"type": "dns", "value": n} for n in order_names], "replaces": cert}
    body = json.dumps({"protected": b64(protected), "payload": b64(payload), "signature": "AAAA"}).encode()
    return post(bed, url, body, "application/jose+json")


def test_replacing_a_certificate_that_shares_no_identifier_is_malformed(bed):
    base = f"{unique('rep')}.example.com"
    status, problem = replacing(bed, [f"a.{base}", f"b.{base}"], [f"*.{base}"])
    assert (status, problem.get("type"), problem.get("detail")) == (400, "urn:ietf:params:acme:error:malformed", MISMATCH)
    status, problem = replacing(bed, [f"a.{base}"], [f"c.{base}", f"a.{base}"])  # one shared identifier is enough
    assert problem.get("detail") != MISMATCH
    # An old wildcard covers a name one label below it, and a wildcard identifier only the same wildcard.
    for cert_names, order_names in (([f"*.{base}"], [f"*.{base}"]), ([f"*.{base}"], [f"www.{base}"]),
                                    ([f"WWW.{base}"], [f"www.{base}."])):
        status, problem = replacing(bed, cert_names, order_names)
        assert problem.get("detail") != MISMATCH, (cert_names, order_names)
    for cert_names, order_names in (([f"www.{base}"], [f"*.{base}"]), ([f"*.{base}"], [f"a.b.{base}"]), ([f"*.{base}"], [base])):
        status, problem = replacing(bed, cert_names, order_names)
        assert (status, problem.get("detail")) == (400, MISMATCH), (cert_names, order_names)


def test_replaces_is_checked_in_boulders_order(bed):
    """A certificate of another account that already has a replacement: 409 alreadyReplaced comes
    first; the account's 403 before the identifiers' 400."""
    cert = f"AAAA.{unique('order')}"
    seed(bed, f"/certs/{cert}", {"account": ACCOUNT, "names": ["only.example.cn"]})
    seed(bed, f"/replacements/{cert}", {"order": f"/my-order/{unique('o')}", "status": "ready"})
    status, problem = new_order(bed, "https://127.0.0.1/my-account/2", cert)
    assert (status, problem["type"]) == (409, "urn:ietf:params:acme:error:alreadyReplaced")
    other = f"AAAA.{unique('order')}"
    seed(bed, f"/certs/{other}", {"account": ACCOUNT, "names": ["only.example.cn"]})
    status, problem = new_order(bed, "https://127.0.0.1/my-account/2", other)  # for x.example.cn: no match either
    assert (status, problem["type"]) == (403, "urn:ietf:params:acme:error:unauthorized")
