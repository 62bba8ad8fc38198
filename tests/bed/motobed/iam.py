"""IAM server certificates as AWS keeps them.

Plain moto 5.2 answers every upload with the same ServerCertificateId and a 2012 expiry, accepts
garbage, duplicate names and mismatched keys, ignores PathPrefix, 500s on UpdateServerCertificate,
has no server-certificate tags, and deletes certificates CloudFront still serves. These rules copy:

- UploadServerCertificate
  https://docs.aws.amazon.com/IAM/latest/APIReference/API_UploadServerCertificate.html
  (EntityAlreadyExists, MalformedCertificate, KeyPairMismatch, tags at upload); a new
  certificate stays invisible to CloudFront for `iam_consistency_seconds` (cloudfront.py)
- ListServerCertificates (PathPrefix, Marker/MaxItems)
  https://docs.aws.amazon.com/IAM/latest/APIReference/API_ListServerCertificates.html
- UpdateServerCertificate (rename, new path)
  https://docs.aws.amazon.com/IAM/latest/APIReference/API_UpdateServerCertificate.html
- DeleteServerCertificate (DeleteConflict while in use)
  https://docs.aws.amazon.com/IAM/latest/APIReference/API_DeleteServerCertificate.html
- Tag/Untag/ListServerCertificateTags
  https://docs.aws.amazon.com/IAM/latest/APIReference/API_TagServerCertificate.html
- Names and paths: https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_iam-quotas.html
- The server certificate quota (20 per account by default, adjustable): an upload beyond it is
  refused with LimitExceeded ("Cannot exceed quota for ServerCertificatesPerAccount: 20"), and
  GetAccountSummary reports `ServerCertificates` / `ServerCertificatesQuota`. The bed's quota is
  the setting `iam_server_certificates_quota` (0: not enforced), or per account
  `iam_server_certificates_quota_by_account` ({account id: quota}, so that parallel tests do not
  share one); plain moto reports a quota of 20 and never refuses an upload.
  https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_iam-quotas.html
  https://docs.aws.amazon.com/IAM/latest/APIReference/API_UploadServerCertificate.html
  https://docs.aws.amazon.com/IAM/latest/APIReference/API_GetAccountSummary.html
"""

import datetime as dt
import re

from moto.core.responses import ActionResult, EmptyResult
from moto.iam import models as iam_models
from moto.iam.exceptions import IAMException
from moto.iam.responses import IamResponse

from . import state, x509util

NAME_RE = re.compile(r"^[\w+=,.@-]{1,128}$")
PATH_RE = re.compile(r"^(/|/[\x21-\x7e]{0,510}/)$")
MAX_TAGS = 50


class _Err(IAMException):
    def __init__(self, code: str, message: str):
        self.code = code
        super().__init__(message)


class FidelityServerCertificate(iam_models.Certificate):
    """moto's Certificate plus what AWS keeps: an id, dates and tags."""

    def __init__(self, backend, name, body, key, chain, path, parsed, tags):
        super().__init__(backend.account_id, backend.region_name, name, body, key, chain, path)
        self.server_certificate_id = state.random_id("ASCA", 17)
        self.upload_date = state.now()
        # When CloudFront first sees it (IAM's eventual consistency: cloudfront.py).
        delay = float(state.for_account("iam_consistency_seconds", backend.account_id) or 0)
        self.visible_to_cloudfront_at = self.upload_date + dt.timedelta(seconds=delay)
        self.expiration = parsed.not_after
        self.names = parsed.names
        self.tags = {t["Key"]: t.get("Value", "") for t in tags or []}

    def metadata(self) -> dict:
        return {
            "Path": self.path,
            "ServerCertificateName": self.cert_name,
            "ServerCertificateId": self.server_certificate_id,
            "Arn": self.arn,
            "UploadDate": state.iso(self.upload_date),
            "Expiration": state.iso(self.expiration),
        }

    def tag_list(self) -> list[dict]:
        return [{"Key": k, "Value": v} for k, v in self.tags.items()]


def _find(backend, name: str) -> FidelityServerCertificate:
    for cert in backend.certificates.values():
        if cert.cert_name == name:
            return cert
    raise _Err("NoSuchEntity", f"The Server Certificate with name {name} cannot be found.")


def find_by_id(account_id: str, partition: str, cert_id: str):
    """The server certificate with this ServerCertificateId, or None (used by CloudFront rules)."""
    backend = iam_models.iam_backends[account_id][partition]
    return backend.certificates.get(cert_id)


def _validate_name(name: str, field: str = "serverCertificateName") -> None:
    if not name or not NAME_RE.match(name):
        raise _Err(
            "ValidationError",
            f"1 validation error detected: Value '{name}' at '{field}' failed to satisfy "
            "constraint: Member must satisfy regular expression pattern: [\\w+=,.@-]+",
        )


def _validate_path(path: str) -> None:
    if not PATH_RE.match(path):
        raise _Err(
            "ValidationError",
            f"1 validation error detected: Value '{path}' at 'path' failed to satisfy constraint: "
            "Member must satisfy regular expression pattern: (\\u002F)|(\\u002F[\\u0021-\\u007F]+\\u002F)",
        )


def _validate_tags(tags: dict) -> None:
    if len(tags) > MAX_TAGS:
        raise _Err("LimitExceeded", "The number of tags has reached the maximum limit.")
    for k, v in tags.items():
        if not 1 <= len(k) <= 128 or len(v) > 256:
            raise _Err("InvalidInput", f"Invalid tag key or value: {k!r}.")


def upload_server_certificate(self) -> ActionResult:
    name = self._get_param("ServerCertificateName")
    body = self._get_param("CertificateBody") or ""
    key = self._get_param("PrivateKey") or ""
    chain = self._get_param("CertificateChain")
    path = self._get_param("Path") or "/"
    tags = self._get_param("Tags", []) or []
    _validate_name(name)
    _validate_path(path)
    _validate_tags({t["Key"]: t.get("Value", "") for t in tags})
    try:
        parsed = x509util.parse_cert(body)
    except ValueError:
        raise _Err("MalformedCertificate", "Unable to parse certificate. Please ensure the certificate is in PEM format.")
    try:
        private_key = x509util.load_private_key(key)
    except (ValueError, TypeError):
        raise _Err("MalformedCertificate", "Unable to parse private key. Please ensure the key is an unencrypted PEM key.")
    if chain:
        try:
            x509util.load_pem_certs(chain)
        except ValueError:
            raise _Err("MalformedCertificate", "Unable to parse certificate chain. Please ensure the chain is in PEM format.")
    if not x509util.key_matches(parsed.cert, private_key):
        raise _Err("KeyPairMismatch", "The public key in the certificate does not match the private key.")
    with state.LOCK:
        if any(c.cert_name == name for c in self.backend.certificates.values()):
            raise _Err("EntityAlreadyExists", f"The Server Certificate with name {name} already exists.")
        quota = _quota(self.backend.account_id)
        if quota and len(self.backend.certificates) >= quota:
            raise _Err("LimitExceeded", f"Cannot exceed quota for ServerCertificatesPerAccount: {quota}")
        cert = FidelityServerCertificate(self.backend, name, body, key, chain, path, parsed, tags)
        self.backend.certificates[cert.server_certificate_id] = cert
    return ActionResult({"ServerCertificateMetadata": cert.metadata(), "Tags": cert.tag_list() or None})


def list_server_certificates(self) -> ActionResult:
    prefix = self._get_param("PathPrefix") or "/"
    marker = self._get_param("Marker")
    max_items = int(self._get_param("MaxItems") or 100)
    with state.LOCK:
        certs = sorted(
            (c for c in self.backend.certificates.values() if c.path.startswith(prefix)),
            key=lambda c: c.cert_name,
        )
    start = int(marker) if marker else 0
    page = certs[start : start + max_items]
    truncated = start + max_items < len(certs)
    result = {"ServerCertificateMetadataList": [c.metadata() for c in page], "IsTruncated": truncated}
    if truncated:
        result["Marker"] = str(start + max_items)
    return ActionResult(result)


def get_server_certificate(self) -> ActionResult:
    cert = _find(self.backend, self._get_param("ServerCertificateName"))
    body = {"ServerCertificateMetadata": cert.metadata(), "CertificateBody": cert.cert_body}
    if cert.cert_chain:
        body["CertificateChain"] = cert.cert_chain
    if cert.tags:
        body["Tags"] = cert.tag_list()
    return ActionResult({"ServerCertificate": body})


def _distributions_using(cert) -> list[str]:
    """Ids of the CloudFront distributions whose viewer certificate is this IAM certificate."""
    from moto.cloudfront.models import cloudfront_backends

    backend = cloudfront_backends[cert.account_id][cert.partition]
    return [
        d.distribution_id
        for d in list(backend.distributions.values())
        if d.distribution_config.ViewerCertificate.iam_certificate_id == cert.server_certificate_id
    ]


def delete_server_certificate(self) -> ActionResult:
    with state.LOCK:
        cert = _find(self.backend, self._get_param("ServerCertificateName"))
        if _distributions_using(cert):
            raise _Err(
                "DeleteConflict",
                f"Certificate: {cert.server_certificate_id} is currently in use by CloudFront.",
            )
        del self.backend.certificates[cert.server_certificate_id]
    return EmptyResult()


def update_server_certificate(self) -> ActionResult:
    name = self._get_param("ServerCertificateName")
    new_name = self._get_param("NewServerCertificateName")
    new_path = self._get_param("NewPath")
    with state.LOCK:
        cert = _find(self.backend, name)
        if new_name and new_name != name:
            _validate_name(new_name, "newServerCertificateName")
            if any(c.cert_name == new_name for c in self.backend.certificates.values()):
                raise _Err("EntityAlreadyExists", f"The Server Certificate with name {new_name} already exists.")
            cert.cert_name = new_name
        if new_path:
            _validate_path(new_path)
            cert.path = new_path
    return EmptyResult()


def tag_server_certificate(self) -> ActionResult:
    tags = {t["Key"]: t.get("Value", "") for t in self._get_param("Tags", []) or []}
    with state.LOCK:
        cert = _find(self.backend, self._get_param("ServerCertificateName"))
        merged = {**cert.tags, **tags}
        _validate_tags(merged)
        cert.tags = merged
    return EmptyResult()


def untag_server_certificate(self) -> ActionResult:
    keys = self._get_param("TagKeys", []) or []
    with state.LOCK:
        cert = _find(self.backend, self._get_param("ServerCertificateName"))
        cert.tags = {k: v for k, v in cert.tags.items() if k not in keys}
    return EmptyResult()


def list_server_certificate_tags(self) -> ActionResult:
    cert = _find(self.backend, self._get_param("ServerCertificateName"))
    return ActionResult({"Tags": cert.tag_list(), "IsTruncated": False})


def _quota(account_id: str) -> int:
    """The account's quota: its own setting, else the bed's (0: not enforced)."""
    by_account = state.SETTINGS.get("iam_server_certificates_quota_by_account") or {}
    return int(by_account.get(account_id) or state.SETTINGS.get("iam_server_certificates_quota") or 0)


# What GetAccountSummary reports as the quota where the bed enforces none: a ceiling no test or
# benchmark reaches, so that the product's own check never refuses there.
UNENFORCED_QUOTA = 100_000


def get_account_summary(self) -> ActionResult:
    summary = dict(self.backend.get_account_summary().summary_map)
    summary["ServerCertificatesQuota"] = _quota(self.backend.account_id) or UNENFORCED_QUOTA
    summary["ServerCertificates"] = len(self.backend.certificates)
    return ActionResult({"SummaryMap": summary})


def apply() -> None:
    IamResponse.get_account_summary = get_account_summary
    for fn in (
        upload_server_certificate,
        list_server_certificates,
        get_server_certificate,
        delete_server_certificate,
        update_server_certificate,
        tag_server_certificate,
        untag_server_certificate,
        list_server_certificate_tags,
    ):
        setattr(IamResponse, fn.__name__, fn)
