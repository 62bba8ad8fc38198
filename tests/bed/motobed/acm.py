"""ACM re-import and certificate details as AWS does them.

Plain moto 5.2 replaces the whole certificate on re-import (same ARN), dropping its tags and
accepting new ones, accepts a new key type on re-import, and reports Serial in decimal. These
rules copy:

- A re-import keeps the ARN, its tags and its service associations, and refuses tags ("You cannot
  apply resource tags when reimporting a certificate"); the key type and size cannot change.
  https://docs.aws.amazon.com/acm/latest/userguide/import-reimport.html
  https://docs.aws.amazon.com/acm/latest/APIReference/API_ImportCertificate.html
- A re-import cannot remove a Key Usage or Extended Key Usage value the certificate it replaces
  had (adding values is fine), save the two exceptions the guide names; see _check_usages.
  https://docs.aws.amazon.com/acm/latest/userguide/import-reimport.html
- DescribeCertificate's Serial is the serial number in colon-separated hex ("0d:7a:...").
  https://docs.aws.amazon.com/acm/latest/APIReference/API_CertificateDetail.html
"""

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, ExtensionOID
from moto.acm import models as acm_models
from moto.acm.exceptions import AWSValidationException

from . import state

_orig_import = acm_models.AWSCertificateManagerBackend.import_certificate
_orig_describe = acm_models.CertBundle.describe


def _key_kind(bundle) -> str:
    return bundle.describe()["Certificate"]["KeyAlgorithm"]


# Key Usage bits, by cryptography's attribute names (encipher_only and decipher_only are read only
# when key_agreement is set: RFC 5280 section 4.2.1.3 leaves them undefined otherwise).
_KU_BITS = ("digital_signature", "content_commitment", "key_encipherment", "data_encipherment",
            "key_agreement", "key_cert_sign", "crl_sign")


def _key_usages(cert: x509.Certificate) -> set[str] | None:
    """The Key Usage values of `cert`, or None if it has no Key Usage extension."""
    try:
        ku = cert.extensions.get_extension_for_oid(ExtensionOID.KEY_USAGE).value
    except x509.ExtensionNotFound:
        return None
    values = {bit for bit in _KU_BITS if getattr(ku, bit)}
    if ku.key_agreement:
        values |= {bit for bit in ("encipher_only", "decipher_only") if getattr(ku, bit)}
    return values


def _extended_key_usages(cert: x509.Certificate) -> set[str] | None:
    """The Extended Key Usage OIDs of `cert` (dotted), or None if it has no such extension."""
    try:
        eku = cert.extensions.get_extension_for_oid(ExtensionOID.EXTENDED_KEY_USAGE).value
    except x509.ExtensionNotFound:
        return None
    return {oid.dotted_string for oid in eku}


def _check_usages(before: x509.Certificate, after: x509.Certificate) -> None:
    """Refuse a re-import of `after` over `before` that removes a Key Usage or an Extended Key
    Usage value. The ACM User Guide, "Reimport a certificate" (import-reimport.html), lists among
    the conditions of a re-import:
      "If Key Usage extensions are present in the originally imported certificate, you can add new
      extension values, but you cannot remove existing values."
      "Exception: You can remove the keyEncipherment Key Usage from ECDSA certificates." (RFC 5480
      section 3 does not permit keyEncipherment for ECDSA keys.)
      "If Extended Key Usage extensions are present in the originally imported certificate, you can
      add new extension values, but you cannot remove existing values."
      "Exception: You can remove the Client Authentication Extended Key Usage." (CAs stopped
      putting ClientAuth in server certificates for Chrome's root program.)
    So a certificate without the extension can be followed by anything, and dropping the extension
    removes all its values. What it means for Let's Encrypt: `tlsserver` and `shortlived` leave out
    keyEncipherment for RSA keys, which `classic` has, so moving an RSA certificate in ACM from
    `classic` to those profiles is refused; their missing clientAuth is one of the exceptions, and
    their ECDSA certificates never had keyEncipherment.
    The messages are ACM's as people quote them: the Extended Key Usage one in
    https://github.com/hashicorp/terraform-provider-aws/issues/42779 (ValidationException), the
    Key Usage one in a public README for a re-import of a Let's Encrypt certificate into ACM."""
    kept_ku, new_ku = _key_usages(before), _key_usages(after)
    if kept_ku is not None:
        missing = kept_ku - (new_ku or set())
        if isinstance(after.public_key(), ec.EllipticCurvePublicKey):
            missing.discard("key_encipherment")
        if missing:
            raise AWSValidationException(
                "New certificate is missing one or more Key Usages supported by the currently imported certificate")
    kept_eku, new_eku = _extended_key_usages(before), _extended_key_usages(after)
    if kept_eku is not None:
        missing = kept_eku - (new_eku or set()) - {ExtendedKeyUsageOID.CLIENT_AUTH.dotted_string}
        if missing:
            raise AWSValidationException(
                "New certificate is missing one or more Extended Key Usages supported by the currently imported certificate")


def import_certificate(self, certificate, private_key, chain, arn, tags):
    with state.LOCK:
        previous = self._certificates.get(arn) if arn else None
        if previous is not None and tags:
            raise AWSValidationException("Tagging is not permitted on re-import.")
        before = _key_kind(previous) if previous is not None else None
        new_arn = _orig_import(self, certificate, private_key, chain, arn, tags)
        if previous is not None:
            bundle = self._certificates[new_arn]
            after = _key_kind(bundle)
            if after != before:
                self._certificates[new_arn] = previous
                raise AWSValidationException(
                    f"The certificate key algorithm ({after}) must match the existing certificate key algorithm ({before})."
                )
            try:
                _check_usages(previous._cert, bundle._cert)
            except AWSValidationException:
                self._certificates[new_arn] = previous
                raise
            bundle.tags = previous.tags
            for attr in ("in_use_by",):
                if hasattr(previous, attr):
                    setattr(bundle, attr, getattr(previous, attr))
        return new_arn


def describe(self):
    result = _orig_describe(self)
    hexed = format(self._cert.serial_number, "x")
    hexed = hexed if len(hexed) % 2 == 0 else "0" + hexed
    result["Certificate"]["Serial"] = ":".join(hexed[i:i + 2] for i in range(0, len(hexed), 2))
    return result


def apply() -> None:
    acm_models.AWSCertificateManagerBackend.import_certificate = import_certificate
    acm_models.CertBundle.describe = describe
