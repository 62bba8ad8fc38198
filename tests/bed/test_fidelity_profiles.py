"""ACME profiles through the ARI proxy (ari_proxy.py) in front of Pebble 2.4, which has none.

The profiles extension (https://datatracker.ietf.org/doc/draft-aaron-acme-profiles/): the directory's
`meta.profiles` maps each profile's name to a description; a newOrder may carry `"profile": name`;
the order object echoes it; a name the server does not offer is refused with
`urn:ietf:params:acme:error:invalidProfile` (Boulder: HTTP 400, detail `profile name "<name>" not
recognized`, wfe2/wfe.go validateCertificateProfileName).

Let's Encrypt's profiles (https://letsencrypt.org/docs/profiles; Boulder issuance/cert.go and
test/config-next/ca.json), as the proxy issues them:

    profile     lifetime                      Common Name        Key Usage                       SKID
    classic     90 days (64 from 2027-02-10)  the first SAN      digitalSignature                yes
                                                                 (+ keyEncipherment, RSA keys)
    tlsserver   45 days                       none (empty DN)    digitalSignature                no
    shortlived  160 hours ("6ish days")       none (empty DN)    digitalSignature                no

Every profile: EKU serverAuth only (Let's Encrypt left clientAuth out of `classic` from 2026-02-11;
Boulder now always omits it), notAfter = notBefore + lifetime - 1 s (the last second counts).
Pebble's own certificate has a Common Name, digitalSignature + keyEncipherment whatever the key,
serverAuth + clientAuth and Pebble's configured lifetime, and no profile is echoed: on the plain bed
(`ari_proxy.py --plain`, Pebble's behaviour) every test marked fidelity here fails.

The issuances are real: a minimal ACME client (RFC 8555, ES256 JWS) answers DNS-01 with a TXT
record in the bed's Route 53, which the bed's DNS serves and Pebble queries.
"""

import base64
import datetime as dt
import hashlib
import json
import os
import ssl
import time
import urllib.error
import urllib.request

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from cryptography.x509.verification import PolicyBuilder, Store

from conftest import unique
from test_fidelity_route53 import change, txt, zone

fidelity = pytest.mark.fidelity

DAY = 86400
INVALID_PROFILE = "urn:ietf:params:acme:error:invalidProfile"
PEM_CHAIN = "application/pem-certificate-chain"


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class Acme:
    """An ACME account on the bed's directory (the ARI proxy): just enough to order and download."""

    def __init__(self, bed: dict):
        self.ctx = ssl.create_default_context(cafile=bed["CERT_ROTATOR_ACME_CA_BUNDLE"])
        with urllib.request.urlopen(bed["CERT_ROTATOR_ACME_DIRECTORY"], context=self.ctx, timeout=10) as r:
            self.directory = json.loads(r.read())
        self.key = ec.generate_private_key(ec.SECP256R1())
        numbers = self.key.public_key().public_numbers()
        self.jwk = {"crv": "P-256", "kty": "EC", "x": b64(numbers.x.to_bytes(32, "big")), "y": b64(numbers.y.to_bytes(32, "big"))}
        # RFC 7638: the required members, sorted, no white space.
        self.thumbprint = b64(hashlib.sha256(json.dumps(self.jwk, sort_keys=True, separators=(",", ":")).encode()).digest())
        self.nonce = None
        self.kid = None
        status, body, headers = self.post(self.directory["newAccount"], {"termsOfServiceAgreed": True})
        assert status in (200, 201), body
        self.kid, self.account = headers["Location"], json.loads(body)

    def post(self, url: str, payload, accept: str | None = None) -> tuple[int, bytes, dict]:
        """(status, body, headers) of a JWS POST (payload None: POST-as-GET), retried on badNonce."""
        for _ in range(5):
            if self.nonce is None:
                with urllib.request.urlopen(urllib.request.Request(self.directory["newNonce"], method="HEAD"), context=self.ctx, timeout=10) as r:
                    self.nonce = r.headers["Replay-Nonce"]
            protected = {"alg": "ES256", "nonce": self.nonce, "url": url, **({"kid": self.kid} if self.kid else {"jwk": self.jwk})}
            protected_b64 = b64(json.dumps(protected).encode())
            payload_b64 = "" if payload is None else b64(json.dumps(payload).encode())
            der = self.key.sign(f"{protected_b64}.{payload_b64}".encode(), ec.ECDSA(hashes.SHA256()))
            r_, s_ = decode_dss_signature(der)
            body = json.dumps({"protected": protected_b64, "payload": payload_b64,
                               "signature": b64(r_.to_bytes(32, "big") + s_.to_bytes(32, "big"))}).encode()
            headers = {"Content-Type": "application/jose+json", **({"Accept": accept} if accept else {})}
            request = urllib.request.Request(url, data=body, method="POST", headers=headers)
            try:
                with urllib.request.urlopen(request, context=self.ctx, timeout=30) as r:
                    status, data, answer = r.status, r.read(), r.headers
            except urllib.error.HTTPError as e:
                status, data, answer = e.code, e.read(), e.headers
            self.nonce = answer.get("Replay-Nonce")  # None when the proxy answered: fetch a fresh one
            if status == 400 and b"badNonce" in data:
                continue
            return status, data, dict(answer)
        raise AssertionError(f"{url}: badNonce five times")

    def get(self, url: str) -> dict:
        status, body, _ = self.post(url, None)
        assert status == 200, (url, status, body)
        return json.loads(body)


def dns01(acme: Acme, r53, zid: str, authz_url: str) -> None:
    """Answer an authorization's DNS-01 challenge with a TXT record in Route 53 and tell the CA."""
    authz = acme.get(authz_url)
    if authz["status"] == "valid":
        return
    challenge = next(c for c in authz["challenges"] if c["type"] == "dns-01")
    digest = b64(hashlib.sha256(f"{challenge['token']}.{acme.thumbprint}".encode()).digest())
    change(r53, zid, txt("UPSERT", f"_acme-challenge.{authz['identifier']['value']}", digest))
    status, body, _ = acme.post(challenge["url"], {})
    assert status == 200, body


def wait_for(acme: Acme, url: str, done: set, timeout: float = 30.0) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        thing = acme.get(url)
        if thing["status"] in done:
            return thing
        assert thing["status"] != "invalid", thing
        time.sleep(0.2)
    raise AssertionError(f"{url} not {done} after {timeout}s: {thing}")


def csr_for(names: list[str], key) -> str:
    csr = (x509.CertificateSigningRequestBuilder().subject_name(x509.Name([]))
           .add_extension(x509.SubjectAlternativeName([x509.DNSName(n) for n in names]), critical=False)
           .sign(key, hashes.SHA256()))
    return b64(csr.public_bytes(serialization.Encoding.DER))


class Issued:
    def __init__(self, created: dict, order_url: str, fetched: dict, valid: dict, chain: bytes, headers: dict):
        self.created, self.order_url, self.fetched, self.valid = created, order_url, fetched, valid
        self.chain_pem, self.headers = chain, headers
        self.chain = x509.load_pem_x509_certificates(chain)
        self.leaf = self.chain[0]


def issue(acme: Acme, r53, zid: str, names: list[str], key, profile: str | None = None, extra: dict | None = None) -> Issued:
    """A real issuance: newOrder (with `profile`), DNS-01 for each name, finalize, download."""
    payload = {"identifiers": [{"type": "dns", "value": n} for n in names], **({"profile": profile} if profile is not None else {}), **(extra or {})}
    status, body, headers = acme.post(acme.directory["newOrder"], payload)
    assert status == 201, (status, body)
    created, order_url = json.loads(body), headers["Location"]
    for authz_url in created["authorizations"]:
        dns01(acme, r53, zid, authz_url)
    for authz_url in created["authorizations"]:
        wait_for(acme, authz_url, {"valid"})
    fetched = wait_for(acme, order_url, {"ready"})
    status, body, _ = acme.post(created["finalize"], {"csr": csr_for(names, key)})
    assert status == 200, (status, body)
    valid = wait_for(acme, order_url, {"valid"})
    status, chain, headers = acme.post(valid["certificate"], None, accept=PEM_CHAIN)
    assert status == 200 and headers["Content-Type"].startswith(PEM_CHAIN), (status, chain)
    return Issued(created, order_url, fetched, valid, chain, headers)


def ari(bed: dict, method: str, path: str, body=None):
    req = urllib.request.Request(bed["BED_ARI_CONTROL_URL"] + path, method=method,
                                 data=json.dumps(body).encode() if body is not None else None)
    with urllib.request.urlopen(req, timeout=5) as r:
        return json.loads(r.read() or b"{}")


def management(bed: dict, path: str) -> bytes:
    ctx = ssl.create_default_context(cafile=bed["CERT_ROTATOR_ACME_CA_BUNDLE"])
    with urllib.request.urlopen(bed["BED_PEBBLE_MGMT_URL"] + path, context=ctx, timeout=10) as r:
        return r.read()


def verify_to_pebbles_root(bed: dict, issued: Issued, name: str) -> None:
    """The served chain verifies, as a TLS server certificate for `name`, up to Pebble's /roots/0."""
    root = x509.load_pem_x509_certificate(management(bed, "/roots/0"))
    verifier = (PolicyBuilder().store(Store([root])).time(dt.datetime.now(dt.timezone.utc))
                .build_server_verifier(x509.DNSName(name)))
    path = verifier.verify(issued.leaf, issued.chain[1:])
    assert path[-1] == root
    # The chain after the leaf is Pebble's: its intermediate signs the leaf.
    assert issued.chain[1] == x509.load_pem_x509_certificate(management(bed, "/intermediates/0"))
    issued.leaf.verify_directly_issued_by(issued.chain[1])


def cert_id(cert: x509.Certificate) -> str:
    aki = cert.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value.key_identifier
    serial = cert.serial_number.to_bytes((cert.serial_number.bit_length() + 8) // 8, "big")
    return f"{b64(aki)}.{b64(serial)}"


def lifetime(cert: x509.Certificate) -> dt.timedelta:
    """Validity as RFC 5280 counts it: both ends inclusive."""
    return cert.not_valid_after_utc - cert.not_valid_before_utc + dt.timedelta(seconds=1)


def usages(cert: x509.Certificate) -> tuple[set, list, bool]:
    """(key usages set, extended key usages, has a Subject Key Identifier)."""
    ku = cert.extensions.get_extension_for_class(x509.KeyUsage).value
    names = {n for n in ("digital_signature", "key_encipherment", "content_commitment", "data_encipherment", "key_agreement",
                         "key_cert_sign", "crl_sign") if getattr(ku, n)}
    eku = list(cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value)
    try:
        cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier)
        skid = True
    except x509.ExtensionNotFound:
        skid = False
    return names, eku, skid


def common_names(cert: x509.Certificate) -> list[str]:
    return [a.value for a in cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)]


@pytest.fixture(autouse=True)
def lets_encrypts_lifetimes(bed):
    """Every test starts and ends with Let's Encrypt's lifetimes (a test may change them)."""
    ari(bed, "DELETE", "/profiles")
    yield
    ari(bed, "DELETE", "/profiles")


@pytest.fixture
def site(clients):
    """A Route 53 zone the bed's DNS serves: (route53 client, zone id, zone name)."""
    r53 = clients("route53")
    zid, name = zone(r53, f"{unique('profiles')}.example.cn")
    return r53, zid, name


@fidelity
def test_the_directory_names_the_ca_for_caa_as_lets_encrypt_does(bed):
    """RFC 8555 section 7.1.1 `caaIdentities`: the issuer names CAA records use for this CA."""
    ctx = ssl.create_default_context(cafile=bed["CERT_ROTATOR_ACME_CA_BUNDLE"])
    with urllib.request.urlopen(bed["CERT_ROTATOR_ACME_DIRECTORY"], context=ctx, timeout=10) as r:
        directory = json.loads(r.read())
    assert directory.get("meta", {}).get("caaIdentities") == ["letsencrypt.org"], directory


@fidelity
def test_the_directory_advertises_lets_encrypts_three_profiles(bed):
    ctx = ssl.create_default_context(cafile=bed["CERT_ROTATOR_ACME_CA_BUNDLE"])
    with urllib.request.urlopen(bed["CERT_ROTATOR_ACME_DIRECTORY"], context=ctx, timeout=10) as r:
        directory = json.loads(r.read())
    profiles = directory.get("meta", {}).get("profiles")
    assert profiles == {
        "classic": "https://letsencrypt.org/docs/profiles#classic",
        "tlsserver": "https://letsencrypt.org/docs/profiles#tlsserver",
        "shortlived": "https://letsencrypt.org/docs/profiles#shortlived",
    }, directory


@fidelity
def test_an_unknown_profile_is_refused_invalid_profile_before_pebble_sees_it(bed):
    acme = Acme(bed)
    names = [f"{unique('unknown')}.example.cn"]
    status, body, _ = acme.post(acme.directory["newOrder"], {"identifiers": [{"type": "dns", "value": names[0]}], "profile": "longlived"})
    problem = json.loads(body)
    assert (status, problem.get("type"), problem.get("detail")) == (400, INVALID_PROFILE, 'profile name "longlived" not recognized'), problem
    # Pebble never saw it: the account has no order (Pebble would have made one and ignored the profile).
    assert acme.get(acme.account["orders"]).get("orders") in (None, []), "the order reached Pebble"
    # Profile names are case-sensitive, as Boulder's map lookup is.
    status, body, _ = acme.post(acme.directory["newOrder"], {"identifiers": [{"type": "dns", "value": names[0]}], "profile": "Classic"})
    assert (status, json.loads(body).get("type")) == (400, INVALID_PROFILE)


# (profile, CSR key, lifetime, Common Name, keyEncipherment, Subject Key ID)
CASES = [
    ("classic", "ec", 90 * DAY, True, False, True),
    ("classic", "rsa", 90 * DAY, True, True, True),
    ("tlsserver", "ec", 45 * DAY, False, False, False),
    ("tlsserver", "rsa", 45 * DAY, False, False, False),
    ("shortlived", "ec", 160 * 3600, False, False, False),
]


@fidelity
@pytest.mark.parametrize("profile,kind,seconds,has_cn,key_encipherment,skid", CASES, ids=[f"{c[0]}-{c[1]}" for c in CASES])
def test_each_profile_issues_lets_encrypts_certificate(bed, site, profile, kind, seconds, has_cn, key_encipherment, skid):
    r53, zid, name = site
    names = [f"www.{name}", name]
    key = ec.generate_private_key(ec.SECP256R1()) if kind == "ec" else rsa.generate_private_key(public_exponent=65537, key_size=2048)
    acme = Acme(bed)
    before = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
    issued = issue(acme, r53, zid, names, key, profile)
    after = dt.datetime.now(dt.timezone.utc)

    leaf = issued.leaf
    assert lifetime(leaf) == dt.timedelta(seconds=seconds), (leaf.not_valid_before_utc, leaf.not_valid_after_utc)
    assert before - dt.timedelta(minutes=2) <= leaf.not_valid_before_utc <= after, "notBefore is about now"
    assert common_names(leaf) == ([names[0]] if has_cn else [])
    if not has_cn:
        assert len(leaf.subject) == 0
        assert leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).critical, "RFC 5280: SAN critical with an empty subject"
    ku, eku, has_skid = usages(leaf)
    assert ku == ({"digital_signature", "key_encipherment"} if key_encipherment else {"digital_signature"})
    assert eku == [ExtendedKeyUsageOID.SERVER_AUTH]
    assert has_skid == skid
    assert leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value.get_values_for_type(x509.DNSName) == names
    assert leaf.public_key().public_numbers() == key.public_key().public_numbers()
    verify_to_pebbles_root(bed, issued, names[1])

    # The order echoes its profile: when made, when fetched, once valid.
    assert [issued.created.get("profile"), issued.fetched.get("profile"), issued.valid.get("profile")] == [profile] * 3

    # The same certificate at every download.
    status, again, _ = acme.post(issued.valid["certificate"], None, accept=PEM_CHAIN)
    assert status == 200 and again == issued.chain_pem


@fidelity
def test_classic_lasts_64_days_when_the_bed_is_told_so(bed, site):
    """Let's Encrypt's classic certificates last 64 days from 2027-02-10 (its 2025-12-02 post):
    `PUT /profiles/classic {"days": 64}` on the ARI control port; `DELETE /profiles` undoes it."""
    assert ari(bed, "PUT", "/profiles/classic", {"days": 64})["seconds"] == 64 * DAY
    r53, zid, name = site
    issued = issue(Acme(bed), r53, zid, [name], ec.generate_private_key(ec.SECP256R1()), "classic")
    assert issued.valid.get("profile") == "classic"
    assert lifetime(issued.leaf) == dt.timedelta(days=64)
    assert common_names(issued.leaf) == [name]
    assert ari(bed, "GET", "/profiles")["tlsserver"]["seconds"] == 45 * DAY, "one profile at a time"
    ari(bed, "DELETE", "/profiles")
    assert ari(bed, "GET", "/profiles")["classic"]["seconds"] == 90 * DAY


@fidelity
def test_ari_and_replaces_know_the_profiles_certificate_not_pebbles(bed, site):
    r53, zid, name = site
    names = [name]
    acme = Acme(bed)
    issued = issue(acme, r53, zid, names, ec.generate_private_key(ec.SECP256R1()), "shortlived")
    cid = cert_id(issued.leaf)

    # renewalInfo answers for the served certificate, its window from its own lifetime (2/3 to 3/4).
    ctx = ssl.create_default_context(cafile=bed["CERT_ROTATOR_ACME_CA_BUNDLE"])
    with urllib.request.urlopen(f"{acme.directory['renewalInfo']}/{cid}", context=ctx, timeout=10) as r:
        window = json.loads(r.read())["suggestedWindow"]
    nb, na = issued.leaf.not_valid_before_utc, issued.leaf.not_valid_after_utc
    start = dt.datetime.fromisoformat(window["start"].replace("Z", "+00:00"))
    assert abs(start - (nb + (na - nb) * 2 / 3)) < dt.timedelta(seconds=2), window
    seen = {c["id"]: c for c in ari(bed, "GET", "/certs")}
    assert seen[cid]["account"] == acme.kid and seen[cid]["names"] == names and seen[cid]["profile"] == "shortlived"

    # A renewal that replaces it, with the same profile: both echoed; a second replacement is refused.
    renewal = {"identifiers": [{"type": "dns", "value": name}], "profile": "shortlived", "replaces": cid}
    status, body, _ = acme.post(acme.directory["newOrder"], renewal)
    assert status == 201, body
    order = json.loads(body)
    assert (order.get("profile"), order.get("replaces")) == ("shortlived", cid)
    status, body, _ = acme.post(acme.directory["newOrder"], renewal)
    assert (status, json.loads(body).get("type")) == (409, "urn:ietf:params:acme:error:alreadyReplaced")


def test_an_order_without_a_profile_keeps_pebbles_certificate(bed, site):
    """Bed self-test: no profile, no echo, Pebble's own certificate (BED_CERT_VALIDITY_SECONDS)."""
    r53, zid, name = site
    issued = issue(Acme(bed), r53, zid, [name], ec.generate_private_key(ec.SECP256R1()))
    assert "profile" not in issued.created and "profile" not in issued.valid
    assert lifetime(issued.leaf) == dt.timedelta(seconds=int(os.environ.get("BED_CERT_VALIDITY_SECONDS", str(90 * DAY))))
    assert common_names(issued.leaf) == [name]
    ku, eku, skid = usages(issued.leaf)
    assert ku == {"digital_signature", "key_encipherment"} and eku == [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
    verify_to_pebbles_root(bed, issued, name)
