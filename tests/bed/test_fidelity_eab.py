"""External Account Binding on the bed's second Pebble (BED_EAB_DIRECTORY, started by bed.py as
"pebble-eab"). RFC 8555 section 7.3.4: a CA may require that a newAccount request carry an
`externalAccountBinding`, a JWS signed with a MAC key the CA handed out beside a key identifier
(protected header {alg: HS256|HS384|HS512, kid: <key id>, url: <newAccount URL>}, no nonce; payload:
the account's JWK). A server that requires it says so in its directory
(`meta.externalAccountRequired`, section 7.1.1) and refuses a newAccount without one with
`urn:ietf:params:acme:error:externalAccountRequired`. ZeroSSL, Google Trust Services, Actalis,
Sectigo and TrustAsia (freessl.cn, a Chinese CA) require it (../shared/FACTS.md), so a rotator
pointed at one of them must send a binding, and must tell its operator what is wrong when the CA
refuses the one it was given.

What Debian's Pebble 2.4 answers (wfe.go verifyEAB; measured by these tests):
- no binding, binding required: 403 `urn:ietf:params:acme:error:externalAccountRequired`;
- a binding whose MAC does not verify (wrong HMAC key): 403 `urn:ietf:params:acme:error:unauthorized`,
  detail "external account binding JWS verification error: ...";
- a binding with a key id the CA does not know: 403 `urn:ietf:params:acme:error:unauthorized`, detail
  "the field 'kid' references a key that is not known to the ACME server".
So the two misconfigurations share one type and differ only in the detail. The binding is checked
after the account-key lookup and the terms-of-service agreement: an existing account's key is
answered 200 without a binding.

Fidelity: with `bed.py up --plain` the EAB Pebble runs with externalAccountBindingRequired false, as
plain Pebble does. Only the requirement is the bed's rule, so only the tests of the requirement are
marked `fidelity` (they fail on plain, which advertises false and creates the account). Pebble checks
any binding it is given whether or not it requires one, so the good, wrong-HMAC and unknown-key-id
cases behave the same on plain: they are bed self-tests, which say what the Rust side's EAB tests can
rely on (both bindings in the env work, and a key id binds any number of accounts on Pebble).
"""

import base64
import hashlib
import hmac
import json
import ssl
import urllib.error
import urllib.request

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

PROBLEM = "urn:ietf:params:acme:error:"


def b64u(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64u_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def b64_json(value) -> str:
    return b64u(json.dumps(value, separators=(",", ":")).encode())


class Acme:
    """Just enough of an ACME client to send newAccount to the EAB Pebble."""

    def __init__(self, bed: dict):
        self.ctx = ssl.create_default_context(cafile=bed["CERT_ROTATOR_ACME_CA_BUNDLE"])
        with urllib.request.urlopen(bed["BED_EAB_DIRECTORY"], context=self.ctx, timeout=10) as r:
            self.directory = json.loads(r.read())

    def nonce(self) -> str:
        req = urllib.request.Request(self.directory["newNonce"], method="HEAD")
        with urllib.request.urlopen(req, context=self.ctx, timeout=10) as r:
            return r.headers["Replay-Nonce"]

    def post(self, url: str, key: ec.EllipticCurvePrivateKey, payload: dict) -> tuple[int, dict, dict]:
        """(status, body, headers) of `payload` POSTed to `url`, signed ES256 with `key` (jwk in the
        header, as newAccount wants). A badNonce (PEBBLE_WFE_NONCEREJECT) is retried."""
        for _ in range(10):
            protected = {"alg": "ES256", "jwk": jwk(key), "nonce": self.nonce(), "url": url}
            signing_input = f"{b64_json(protected)}.{b64_json(payload)}"
            r, s = decode_dss_signature(key.sign(signing_input.encode(), ec.ECDSA(hashes.SHA256())))
            body = json.dumps({"protected": b64_json(protected), "payload": b64_json(payload),
                               "signature": b64u(r.to_bytes(32, "big") + s.to_bytes(32, "big"))}).encode()
            req = urllib.request.Request(url, data=body, method="POST", headers={"Content-Type": "application/jose+json"})
            try:
                with urllib.request.urlopen(req, context=self.ctx, timeout=10) as resp:
                    answer = resp.status, json.loads(resp.read() or b"{}"), dict(resp.headers)
            except urllib.error.HTTPError as e:
                answer = e.code, json.loads(e.read() or b"{}"), dict(e.headers)
            if answer[1].get("type") != PROBLEM + "badNonce":
                return answer
        raise AssertionError(f"ten badNonce answers in a row: {answer}")

    def new_account(self, key: ec.EllipticCurvePrivateKey, binding: dict | None = None, **extra) -> tuple[int, dict, dict]:
        payload = {"termsOfServiceAgreed": True, **extra}
        if binding is not None:
            payload["externalAccountBinding"] = binding
        return self.post(self.directory["newAccount"], key, payload)


def jwk(key: ec.EllipticCurvePrivateKey) -> dict:
    numbers = key.public_key().public_numbers()
    return {"crv": "P-256", "kty": "EC",
            "x": b64u(numbers.x.to_bytes(32, "big")), "y": b64u(numbers.y.to_bytes(32, "big"))}


def binding(key_id: str, hmac_key_b64u: str, account_key: ec.EllipticCurvePrivateKey, url: str) -> dict:
    """The externalAccountBinding JWS (RFC 8555 section 7.3.4): HS256 over the account's JWK."""
    protected = b64_json({"alg": "HS256", "kid": key_id, "url": url})
    payload = b64_json(jwk(account_key))
    mac = hmac.new(b64u_decode(hmac_key_b64u), f"{protected}.{payload}".encode(), hashlib.sha256).digest()
    return {"protected": protected, "payload": payload, "signature": b64u(mac)}


def new_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


@pytest.fixture
def acme(bed) -> Acme:
    return Acme(bed)


@pytest.mark.fidelity
def test_the_directory_says_an_external_account_is_required(acme):
    assert acme.directory["meta"]["externalAccountRequired"] is True


@pytest.mark.fidelity
def test_a_new_account_without_a_binding_is_refused_external_account_required(acme):
    status, problem, _ = acme.new_account(new_key(), contact=["mailto:ops@example.cn"])
    assert (status, problem.get("type")) == (403, PROBLEM + "externalAccountRequired"), problem
    assert "externalAccountBinding" in problem["detail"]


def test_a_good_binding_creates_the_account_with_either_key_and_a_key_id_binds_many(bed, acme):
    url = acme.directory["newAccount"]
    locations = []
    for key_id, hmac_key in ((bed["BED_EAB_KEY_ID"], bed["BED_EAB_HMAC_KEY"]),
                             (bed["BED_EAB_KEY_ID_2"], bed["BED_EAB_HMAC_KEY_2"]),
                             (bed["BED_EAB_KEY_ID"], bed["BED_EAB_HMAC_KEY"])):  # again: reuse is allowed
        key = new_key()
        status, account, headers = acme.new_account(key, binding(key_id, hmac_key, key, url))
        assert status == 201, account
        assert account["status"] == "valid"
        locations.append(headers["Location"])
        # The same key again, without a binding: the existing account (200), found before the binding is asked for.
        status, again, headers = acme.new_account(key, onlyReturnExisting=True)
        assert (status, headers["Location"]) == (200, locations[-1]), again
    assert len(set(locations)) == 3


def test_the_env_hmac_keys_are_base64url_without_padding(bed):
    for name in ("BED_EAB_HMAC_KEY", "BED_EAB_HMAC_KEY_2"):
        text = bed[name]
        assert "=" not in text and "+" not in text and "/" not in text, (name, text)
        assert len(b64u_decode(text)) >= 32
    assert bed["BED_EAB_KEY_ID"] != bed["BED_EAB_KEY_ID_2"]
    assert bed["BED_EAB_KEY_ID"].startswith("kid-")


def test_a_binding_with_a_wrong_hmac_key_is_refused_unauthorized(bed, acme):
    url = acme.directory["newAccount"]
    wrong = b64u(bytes(32))
    for key_id, hmac_key in ((bed["BED_EAB_KEY_ID"], wrong),
                             (bed["BED_EAB_KEY_ID"], bed["BED_EAB_HMAC_KEY_2"])):  # the other binding's key
        key = new_key()
        status, problem, _ = acme.new_account(key, binding(key_id, hmac_key, key, url))
        assert (status, problem.get("type")) == (403, PROBLEM + "unauthorized"), problem
        assert problem["detail"].startswith("external account binding JWS verification error"), problem


def test_a_binding_with_an_unknown_key_id_is_refused_unauthorized(bed, acme):
    key = new_key()
    status, problem, _ = acme.new_account(key, binding("kid-unknown", bed["BED_EAB_HMAC_KEY"], key, acme.directory["newAccount"]))
    assert (status, problem.get("type")) == (403, PROBLEM + "unauthorized"), problem
    assert problem["detail"] == "the field 'kid' references a key that is not known to the ACME server"
