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
