"""Fixtures for the bed's own tests: boto3 clients on the running bed, certificates made to order.

The bed must be up (`make bed-up`, or `make test`, which starts and stops it). With the bed
started as plain moto (`bed.py up --plain`), every test marked `fidelity` is expected to fail
(strict xfail): that is the proof that each rule is something plain moto does not do.
"""

import datetime as dt
import json
import os
import random
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import boto3
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

import stack as stack_module

BED_JSON = Path(os.environ.get("CERT_ROTATOR_BED_DIR") or Path(__file__).resolve().parents[2] / "target" / "bed") / "bed.json"


def pytest_configure(config):
    config.addinivalue_line("markers", "fidelity: a rule of the fidelity layer (fails on plain moto)")


def _bed() -> dict:
    if not BED_JSON.exists():
        pytest.exit("the test bed is not up: run `make bed-up` (or `make test`)", returncode=3)
    return json.loads(BED_JSON.read_text())


def pytest_collection_modifyitems(config, items):
    if _bed().get("BED_PLAIN_MOTO") != "1":
        return
    for item in items:
        if item.get_closest_marker("fidelity"):
            item.add_marker(pytest.mark.xfail(strict=True, reason="plain moto lacks this rule"))
        else:
            item.add_marker(pytest.mark.skip(reason="bed self-test; only fidelity rules run against plain moto"))


@pytest.fixture(scope="session")
def bed() -> dict:
    return _bed()


def control(bed: dict, path: str, body=None, method: str = "POST"):
    req = urllib.request.Request(bed["BED_CONTROL_URL"] + path, method=method,
                                 data=json.dumps(body).encode() if body is not None else None,
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=5) as r:
        return json.loads(r.read())


@pytest.fixture(autouse=True)
def fresh_settings(bed):
    """Every test starts from the bed's default settings and no fault rules."""
    if bed.get("BED_PLAIN_MOTO") != "1":
        control(bed, "/reset", {})
    yield


def make_client(bed: dict, service: str, region: str, **kw):
    return boto3.client(service, region_name=region, endpoint_url=bed["AWS_ENDPOINT_URL"],
                        aws_access_key_id="testing", aws_secret_access_key="testing", **kw)


@pytest.fixture
def clients(bed):
    """`clients("iam", "cn-north-1")` -> a boto3 client on the bed."""
    return lambda service, region="cn-north-1": make_client(bed, service, region)


_CA_KEY = ec.generate_private_key(ec.SECP256R1())
_CA_NAME = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "fidelity test CA")])


def make_cert(names, days_valid=90, not_before=None, key=None):
    """(cert PEM, key PEM, chain PEM) for `names`, issued by a test CA, valid from `not_before`."""
    key = key or ec.generate_private_key(ec.SECP256R1())
    nb = not_before or dt.datetime.now(dt.timezone.utc) - dt.timedelta(hours=1)
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])]))
        .issuer_name(_CA_NAME).public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(nb).not_valid_after(nb + dt.timedelta(days=days_valid))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(n) for n in names]), critical=False)
        .sign(_CA_KEY, hashes.SHA256())
    )
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()).decode()
    return cert.public_bytes(serialization.Encoding.PEM).decode(), key_pem, ""


_counter = [0]


def unique(prefix: str) -> str:
    _counter[0] += 1
    return f"{prefix}-{os.getpid()}-{_counter[0]}"


@dataclass
class Stack:
    """A cert-rotator stack (tests/bed/stack.py) in an account of its own: `setup` is the tests'
    unrestricted role there, `function` the function's role, which the bed holds to template.yaml;
    `topic` the stack's alarm topic (the function's CERT_ROTATOR_TOPIC_ARN)."""
    account: str
    region: str
    name: str
    bucket: str
    endpoint: str
    setup: boto3.Session
    function: boto3.Session
    topic: str = ""

    def client(self, who: str, service: str, region: str | None = None):
        """A client as `who` ("setup" or "function")."""
        session = self.setup if who == "setup" else self.function
        return session.client(service, region_name=region or self.region, endpoint_url=self.endpoint)


@pytest.fixture
def new_stack(bed):
    """`new_stack(parameters={...})` -> a Stack in a fresh account (cn-north-1 by default)."""
    def make(region: str = "cn-north-1", parameters: dict | None = None) -> Stack:
        account = f"{random.randrange(10**11, 10**12)}"
        endpoint = bed["AWS_ENDPOINT_URL"]
        setup = stack_module.setup_session(endpoint, region, account)
        name, bucket = unique("stack"), unique("archive")
        creds = stack_module.deploy(endpoint, region, setup, account, stack=name, bucket=bucket, parameters=parameters)
        function = boto3.Session(region_name=region, aws_access_key_id=creds["AWS_ACCESS_KEY_ID"],
                                 aws_secret_access_key=creds["AWS_SECRET_ACCESS_KEY"],
                                 aws_session_token=creds["AWS_SESSION_TOKEN"])
        return Stack(account, region, name, bucket, endpoint, setup, function, creds["CERT_ROTATOR_TOPIC_ARN"])
    return make
