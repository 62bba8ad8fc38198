"""ACM rules of the fidelity layer (motobed/acm.py), through boto3."""

import base64

import pytest
from botocore.exceptions import ClientError

from conftest import _CA_KEY, _CA_NAME, make_cert

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


# Re-import and the usages (motobed/acm.py, _check_usages): values may be added, not removed, save
# keyEncipherment on ECDSA and clientAuth. Each test ends on a refusal, which plain moto never gives.

def usage_cert(name, key, ku=(), eku=()):
    """(certificate PEM, key PEM) for `name` with Key Usage `ku` (cryptography's KeyUsage argument
    names; None: no extension) and Extended Key Usage `eku` (ExtendedKeyUsageOID names; None: none)."""
    import datetime as dt

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = dt.datetime.now(dt.timezone.utc) - dt.timedelta(hours=1)
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
        .issuer_name(_CA_NAME).public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now).not_valid_after(now + dt.timedelta(days=90))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
    )
    if ku is not None:
        bits = dict.fromkeys(("digital_signature", "content_commitment", "key_encipherment", "data_encipherment",
                              "key_agreement", "key_cert_sign", "crl_sign", "encipher_only", "decipher_only"), False)
        builder = builder.add_extension(x509.KeyUsage(**{**bits, **dict.fromkeys(ku, True)}), critical=True)
    if eku is not None:
        builder = builder.add_extension(x509.ExtendedKeyUsage([getattr(ExtendedKeyUsageOID, n) for n in eku]), critical=False)
    cert = builder.sign(_CA_KEY, hashes.SHA256())
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    return cert.public_bytes(serialization.Encoding.PEM), key_pem


def _rsa():
    from cryptography.hazmat.primitives.asymmetric import rsa

    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _ecdsa():
    from cryptography.hazmat.primitives.asymmetric import ec

    return ec.generate_private_key(ec.SECP256R1())


# What Let's Encrypt issues for an RSA key: `classic` and `tlsserver` (or `shortlived`).
CLASSIC_RSA = dict(ku=("digital_signature", "key_encipherment"), eku=("SERVER_AUTH", "CLIENT_AUTH"))
TLSSERVER = dict(ku=("digital_signature",), eku=("SERVER_AUTH",))
KU_MESSAGE = "New certificate is missing one or more Key Usages supported by the currently imported certificate"
EKU_MESSAGE = "New certificate is missing one or more Extended Key Usages supported by the currently imported certificate"


def _import(acm, body, key, arn=None):
    return acm.import_certificate(Certificate=body, PrivateKey=key, **({"CertificateArn": arn} if arn else {}))["CertificateArn"]


def _refused(acm, arn, body, key, message):
    with pytest.raises(ClientError) as e:
        _import(acm, body, key, arn)
    assert e.value.response["Error"]["Code"] == "ValidationException"
    assert e.value.response["Error"]["Message"] == message


def test_a_reimport_removing_key_encipherment_from_an_rsa_certificate_is_refused(clients):
    """An ACM target moved from Let's Encrypt's `classic` profile to `tlsserver` with an RSA key."""
    acm = clients("acm", "us-east-1")
    key = _rsa()
    body, key_pem = usage_cert("ku.example.com", key, **CLASSIC_RSA)
    arn = _import(acm, body, key_pem)
    _refused(acm, arn, *usage_cert("ku.example.com", key, **TLSSERVER), KU_MESSAGE)
    assert acm.get_certificate(CertificateArn=arn)["Certificate"].encode().strip() == body.strip(), "the refused re-import changed nothing"
    no_ku = dict(CLASSIC_RSA, ku=None)
    _refused(acm, arn, *usage_cert("ku.example.com", key, **no_ku), KU_MESSAGE)


def test_a_reimport_removing_an_extended_key_usage_is_refused_but_client_auth_may_go(clients):
    acm = clients("acm", "us-east-1")
    key = _ecdsa()
    both = dict(ku=("digital_signature",), eku=("SERVER_AUTH", "CLIENT_AUTH"))
    arn = _import(acm, *usage_cert("eku.example.com", key, **both))
    _refused(acm, arn, *usage_cert("eku.example.com", key, ku=("digital_signature",), eku=("CLIENT_AUTH",)), EKU_MESSAGE)
    _refused(acm, arn, *usage_cert("eku.example.com", key, ku=("digital_signature",), eku=None), EKU_MESSAGE)
    # The guide's exception: ClientAuth may be removed (an ECDSA `classic` to `tlsserver` move).
    body, key_pem = usage_cert("eku.example.com", key, **TLSSERVER)
    assert _import(acm, body, key_pem, arn) == arn
    assert acm.get_certificate(CertificateArn=arn)["Certificate"].encode().strip() == body.strip()
    _refused(acm, arn, *usage_cert("eku.example.com", key, ku=("digital_signature",), eku=("CODE_SIGNING",)), EKU_MESSAGE)


def test_an_ecdsa_certificate_may_drop_key_encipherment_and_nothing_else(clients):
    acm = clients("acm", "us-east-1")
    key = _ecdsa()
    arn = _import(acm, *usage_cert("ecku.example.com", key, ku=("digital_signature", "key_encipherment"), eku=("SERVER_AUTH",)))
    assert _import(acm, *usage_cert("ecku.example.com", key, **TLSSERVER), arn) == arn
    _refused(acm, arn, *usage_cert("ecku.example.com", key, ku=("key_agreement",), eku=("SERVER_AUTH",)), KU_MESSAGE)


def test_the_same_or_more_usages_are_accepted_and_added_values_then_stay(clients):
    acm = clients("acm", "us-east-1")
    key = _rsa()
    arn = _import(acm, *usage_cert("more.example.com", key, **TLSSERVER))
    assert _import(acm, *usage_cert("more.example.com", key, **TLSSERVER), arn) == arn, "the same usages"
    assert _import(acm, *usage_cert("more.example.com", key, **CLASSIC_RSA), arn) == arn, "added usages"
    assert _import(acm, *usage_cert("more.example.com", key, **CLASSIC_RSA), arn) == arn
    _refused(acm, arn, *usage_cert("more.example.com", key, **TLSSERVER), KU_MESSAGE)


def test_a_certificate_without_the_extensions_may_be_followed_by_any_but_they_then_stay(clients):
    acm = clients("acm", "us-east-1")
    key = _rsa()
    arn = _import(acm, *usage_cert("none.example.com", key, ku=None, eku=None))
    assert _import(acm, *usage_cert("none.example.com", key, **TLSSERVER), arn) == arn
    _refused(acm, arn, *usage_cert("none.example.com", key, ku=None, eku=None), KU_MESSAGE)
