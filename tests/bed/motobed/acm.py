"""ACM re-import and certificate details as AWS does them.

Plain moto 5.2 replaces the whole certificate on re-import (same ARN), dropping its tags and
accepting new ones, accepts a new key type on re-import, and reports Serial in decimal. These
rules copy:

- A re-import keeps the ARN, its tags and its service associations, and refuses tags ("You cannot
  apply resource tags when reimporting a certificate"); the key type and size cannot change.
  https://docs.aws.amazon.com/acm/latest/userguide/import-reimport.html
  https://docs.aws.amazon.com/acm/latest/APIReference/API_ImportCertificate.html
- DescribeCertificate's Serial is the serial number in colon-separated hex ("0d:7a:...").
  https://docs.aws.amazon.com/acm/latest/APIReference/API_CertificateDetail.html
"""

from moto.acm import models as acm_models
from moto.acm.exceptions import AWSValidationException

from . import state

_orig_import = acm_models.AWSCertificateManagerBackend.import_certificate
_orig_describe = acm_models.CertBundle.describe


def _key_kind(bundle) -> str:
    return bundle.describe()["Certificate"]["KeyAlgorithm"]


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
