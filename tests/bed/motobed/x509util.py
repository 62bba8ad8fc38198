"""Parsing helpers for the certificates and keys the fidelity rules inspect (via `cryptography`)."""

from dataclasses import dataclass
import datetime as dt

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import ExtensionOID, NameOID


@dataclass
class ParsedCert:
    cert: x509.Certificate
    names: list[str]
    not_before: dt.datetime
    not_after: dt.datetime


def load_pem_certs(text: str) -> list[x509.Certificate]:
    """All certificates of a PEM text; ValueError if there are none or one is malformed."""
    data = text.encode() if isinstance(text, str) else text
    certs = x509.load_pem_x509_certificates(data)
    if not certs:
        raise ValueError("no certificate")
    return certs


def parse_cert(text: str) -> ParsedCert:
    certs = load_pem_certs(text)
    if len(certs) != 1:
        raise ValueError("the certificate body must hold exactly one certificate")
    cert = certs[0]
    return ParsedCert(cert, cert_names(cert), cert.not_valid_before_utc, cert.not_valid_after_utc)


def cert_names(cert: x509.Certificate) -> list[str]:
    try:
        san = cert.extensions.get_extension_for_oid(ExtensionOID.SUBJECT_ALTERNATIVE_NAME)
        return [n.lower() for n in san.value.get_values_for_type(x509.DNSName)]
    except x509.ExtensionNotFound:
        return [a.value.lower() for a in cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)]


def load_private_key(text: str):
    data = text.encode() if isinstance(text, str) else text
    return serialization.load_pem_private_key(data, password=None)


def public_key_der(key) -> bytes:
    return key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    ) if hasattr(key, "public_key") else key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def key_matches(cert: x509.Certificate, key) -> bool:
    return public_key_der(cert.public_key()) == public_key_der(key)
