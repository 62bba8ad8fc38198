"""ACM rules of the fidelity layer (motobed/acm.py), through boto3."""

import base64

import pytest
from botocore.exceptions import ClientError

from conftest import make_cert

pytestmark = pytest.mark.fidelity


def test_tags_survive_reimport_and_cannot_be_set_on_it(clients):
    acm = clients("acm", "us-east-1")
    body, key, _ = make_cert(["acm.example.com"])
    arn = acm.import_certificate(Certificate=body.encode(), PrivateKey=key.encode(),
                                 Tags=[{"Key": "managed-by", "Value": "cert-rotator"}])["CertificateArn"]
    body2, key2, _ = make_cert(["acm.example.com"])
    assert acm.import_certificate(CertificateArn=arn, Certificate=body2.encode(), PrivateKey=key2.encode())["CertificateArn"] == arn
    assert acm.list_tags_for_certificate(CertificateArn=arn)["Tags"] == [{"Key": "managed-by", "Value": "cert-rotator"}]
    body3, key3, _ = make_cert(["acm.example.com"])
    with pytest.raises(ClientError) as e:
        acm.import_certificate(CertificateArn=arn, Certificate=body3.encode(), PrivateKey=key3.encode(), Tags=[{"Key": "k", "Value": "v"}])
    assert e.value.response["Error"]["Code"] == "ValidationException"


def test_the_key_type_cannot_change_on_reimport(clients):
    from cryptography.hazmat.primitives.asymmetric import rsa

    acm = clients("acm", "us-east-1")
    body, key, _ = make_cert(["keytype.example.com"])
    arn = acm.import_certificate(Certificate=body.encode(), PrivateKey=key.encode())["CertificateArn"]
    body2, key2, _ = make_cert(["keytype.example.com"], key=rsa.generate_private_key(public_exponent=65537, key_size=2048))
    with pytest.raises(ClientError) as e:
        acm.import_certificate(CertificateArn=arn, Certificate=body2.encode(), PrivateKey=key2.encode())
    assert e.value.response["Error"]["Code"] == "ValidationException"
    detail = acm.describe_certificate(CertificateArn=arn)["Certificate"]
    assert detail["KeyAlgorithm"] == "EC_prime256v1", "the refused re-import left the certificate as it was"


def test_serial_is_colon_separated_hex(clients):
    from cryptography import x509

    acm = clients("acm", "ap-northeast-1")
    body, key, _ = make_cert(["serial.example.com"])
    arn = acm.import_certificate(Certificate=body.encode(), PrivateKey=key.encode())["CertificateArn"]
    serial = acm.describe_certificate(CertificateArn=arn)["Certificate"]["Serial"]
    want = format(x509.load_pem_x509_certificate(body.encode()).serial_number, "x")
    assert serial.replace(":", "") == want.zfill(len(want) + len(want) % 2)
    assert all(len(part) == 2 for part in serial.split(":")), serial
