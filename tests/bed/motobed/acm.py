"""ACM re-import as AWS does it.

Plain moto 5.2 replaces the whole certificate on re-import (same ARN), dropping its tags and
accepting new ones. AWS keeps the ARN, its tags and its service associations, and refuses tags
on re-import ("You cannot apply resource tags when reimporting a certificate"):
https://docs.aws.amazon.com/acm/latest/userguide/import-reimport.html
https://docs.aws.amazon.com/acm/latest/APIReference/API_ImportCertificate.html
"""

from moto.acm import models as acm_models
from moto.acm.exceptions import AWSValidationException

from . import state

_orig_import = acm_models.AWSCertificateManagerBackend.import_certificate


def import_certificate(self, certificate, private_key, chain, arn, tags):
    with state.LOCK:
        previous = self._certificates.get(arn) if arn else None
        if previous is not None and tags:
            raise AWSValidationException("Tagging is not permitted on re-import.")
        new_arn = _orig_import(self, certificate, private_key, chain, arn, tags)
        if previous is not None:
            bundle = self._certificates[new_arn]
            bundle.tags = previous.tags
            for attr in ("in_use_by",):
                if hasattr(previous, attr):
                    setattr(bundle, attr, getattr(previous, attr))
        return new_arn


def apply() -> None:
    acm_models.AWSCertificateManagerBackend.import_certificate = import_certificate
