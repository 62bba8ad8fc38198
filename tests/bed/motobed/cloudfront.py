"""CloudFront distributions as AWS updates them.

Plain moto 5.2 ignores IfMatch, keeps one ETag for ever, accepts any IAMCertificateId (or none for
a distribution with aliases), reports CertificateSource "cloudfront" whatever the config says,
lets two distributions share an alias and names every distribution `*.cloudfront.net`. These rules
copy:

- UpdateDistribution: IfMatch must equal the current ETag, else 412 PreconditionFailed; a missing
  IfMatch is InvalidIfMatchVersion; every accepted update returns a new ETag and puts the
  distribution InProgress until it is Deployed; CallerReference cannot change (IllegalUpdate).
  https://docs.aws.amazon.com/cloudfront/latest/APIReference/API_UpdateDistribution.html
- While a viewer-certificate change is still InProgress, another one is refused (IllegalUpdate).
  https://docs.aws.amazon.com/AmazonCloudFront/latest/DeveloperGuide/HowToUpdateDistribution.html
- ViewerCertificate: one source of certificate; IAMCertificateId must name a server certificate of
  the same account and partition uploaded under /cloudfront/, currently valid, whose names cover
  every alias; ACMCertificateArn must be an ACM certificate in us-east-1 (not available to
  CloudFront in aws-cn); the deprecated Certificate/CertificateSource must agree with it; aliases
  need a custom certificate. Otherwise InvalidViewerCertificate.
  https://docs.aws.amazon.com/cloudfront/latest/APIReference/API_ViewerCertificate.html
  https://docs.aws.amazon.com/AmazonCloudFront/latest/DeveloperGuide/cnames-and-https-requirements.html
  https://docs.aws.amazon.com/AmazonCloudFront/latest/DeveloperGuide/CNAMEs.html
- An alias already used by another distribution: CNAMEAlreadyExists.
  https://docs.aws.amazon.com/AmazonCloudFront/latest/DeveloperGuide/CNAMEs.html
- In the China regions distribution domain names end in .cloudfront.cn.
  https://docs.amazonaws.cn/en_us/aws/latest/userguide/cloudfront.html
- A distribution stays InProgress `cloudfront_deploy_seconds` after a change (per account:
  `cloudfront_deploy_seconds_by_account`, {account id: seconds}); real CloudFront takes minutes.
- Right after UploadServerCertificate, CloudFront may not see the certificate yet: IAM is
  eventually consistent (the IAM guide's troubleshooting page: a change takes time to become
  visible from every endpoint, so check for it and retry), and CloudFront answers a certificate it cannot find InvalidViewerCertificate
  "The specified SSL certificate doesn't exist, isn't in us-east-1 region, isn't valid, or
  doesn't include a valid certificate chain." Terraform's AWS provider retries that error on
  create and update for this reason (hashicorp/terraform-provider-aws#4698, fixing #4687; the
  message as AWS answers it: hashicorp/terraform#21687, hashicorp/terraform-provider-aws#9062).
  The bed hides a server certificate from CloudFront for `iam_consistency_seconds` after its
  upload (per account: `iam_consistency_seconds_by_account`; both 0 by default), counted from
  the upload with the setting in force then.
  https://docs.aws.amazon.com/IAM/latest/UserGuide/troubleshoot_general.html#troubleshoot_general_eventual-consistency
  https://github.com/hashicorp/terraform-provider-aws/pull/4698
- Not modelled, for want of documentation: a rule that distributions sharing one certificate
  use the same HTTP versions, SSL support method or security policy. The Developer Guide's
  "Using the same certificate for multiple CloudFront distributions" (cnames-and-https-limits)
  names none (one certificate per distribution; each distribution needs an alias the certificate
  covers; dedicated IP and SNI may share one certificate).
"""

import datetime as dt

from moto.cloudfront import models as cf_models
from moto.cloudfront.exceptions import CloudFrontException

from . import iam, state

_orig_dist_init = cf_models.Distribution.__init__
_orig_create = cf_models.CloudFrontBackend.create_distribution_with_tags
_orig_viewer_init = cf_models.ViewerCertificate.__init__


NOT_FOUND = ("The specified SSL certificate doesn't exist, isn't in us-east-1 region, isn't valid, "
             "or doesn't include a valid certificate chain.")


class _Err(CloudFrontException):
    def __init__(self, code: str, message: str):
        super().__init__(code, message)


def _viewer_init(self, config: dict) -> None:
    _orig_viewer_init(self, config)
    if self.iam_certificate_id:
        self.certificate_source, self.certificate = "iam", self.iam_certificate_id
        self.cloud_front_default_certificate = False
    elif self.acm_certificate_arn:
        self.certificate_source, self.certificate = "acm", self.acm_certificate_arn
        self.cloud_front_default_certificate = False
    else:
        self.certificate_source, self.certificate = "cloudfront", ""


def _dist_init(self, account_id: str, region_name: str, config: dict) -> None:
    _orig_dist_init(self, account_id, region_name, config)
    self.account_id = account_id
    self.partition = state_partition(region_name)
    if self.partition == "aws-cn":
        self.domain_name = self.domain_name.replace(".cloudfront.net", ".cloudfront.cn")
    _start_deployment(self)


def state_partition(region_name: str) -> str:
    from moto.utilities.utils import get_partition

    return get_partition(region_name)


def _start_deployment(dist) -> None:
    t = state.now()
    dist.last_modified_time = state.iso(t)
    seconds = float(state.for_account("cloudfront_deploy_seconds", dist.account_id))
    dist._deployed_at = t + dt.timedelta(seconds=seconds)


def _status(self) -> str:
    return "InProgress" if state.now() < self._deployed_at else "Deployed"


def _status_setter(self, value) -> None:  # moto's ManagedState assigns; the clock decides here
    pass


def _truthy(v) -> bool:
    return v is True or str(v).lower() == "true"


def _aliases(config: dict) -> list[str]:
    return [state.normalize_dns_name(a) for a in (config.get("Aliases") or {}).get("Items") or []]


def _validate_viewer_certificate(backend, config: dict) -> None:
    vc = config.get("ViewerCertificate") or {}
    aliases = _aliases(config)
    iam_id = vc.get("IAMCertificateId")
    acm_arn = vc.get("ACMCertificateArn")
    default = _truthy(vc.get("CloudFrontDefaultCertificate")) or not (iam_id or acm_arn)
    sources = [s for s in (iam_id, acm_arn, _truthy(vc.get("CloudFrontDefaultCertificate"))) if s]
    if len(sources) > 1:
        raise _Err("InvalidViewerCertificate", "Specify only one of CloudFrontDefaultCertificate, IAMCertificateId and ACMCertificateArn.")
    expected_source = "iam" if iam_id else "acm" if acm_arn else "cloudfront"
    if vc.get("CertificateSource") and vc["CertificateSource"] != expected_source:
        raise _Err("InvalidViewerCertificate", f"CertificateSource {vc['CertificateSource']} does not agree with the certificate specified ({expected_source}).")
    if vc.get("Certificate") and vc["Certificate"] != (iam_id or acm_arn or vc["Certificate"]):
        raise _Err("InvalidViewerCertificate", "Certificate does not agree with IAMCertificateId/ACMCertificateArn.")
    if default:
        if aliases:
            raise _Err(
                "InvalidViewerCertificate",
                "To add an alternate domain name (CNAME) to a CloudFront distribution, you must attach a trusted certificate that validates your authorization to use the domain name.",
            )
        return
    if not vc.get("SSLSupportMethod"):
        raise _Err("InvalidViewerCertificate", "SSLSupportMethod is required when a custom certificate is specified.")
    if iam_id:
        cert = iam.find_by_id(backend.account_id, backend.partition, iam_id)
        if cert is not None and state.now() < getattr(cert, "visible_to_cloudfront_at", cert.upload_date):
            raise _Err("InvalidViewerCertificate", NOT_FOUND)  # not yet visible: IAM's eventual consistency
        if cert is None or not cert.path.startswith("/cloudfront/"):
            raise _Err("InvalidViewerCertificate", f"The specified SSL certificate {iam_id} doesn't exist or was not uploaded with a path under /cloudfront/.")
        names, not_before, not_after = cert.names, None, cert.expiration
        from . import x509util

        not_before = x509util.parse_cert(cert.cert_body).not_before
    else:
        names, not_before, not_after = _acm_certificate(backend, acm_arn)
    now = state.now()
    if not (not_before <= now < not_after):
        raise _Err("InvalidViewerCertificate", "The specified SSL certificate is expired or not yet valid.")
    uncovered = [a for a in aliases if not any(state.name_matches(n, a) for n in names)]
    if uncovered:
        raise _Err(
            "InvalidViewerCertificate",
            f"The certificate that is attached to your distribution doesn't cover the alternate domain name (CNAME) that you're trying to add: {', '.join(uncovered)}.",
        )


def _acm_certificate(backend, arn: str):
    from moto.acm.models import acm_backends

    from . import x509util

    if backend.partition == "aws-cn" or ":us-east-1:" not in arn:
        raise _Err("InvalidViewerCertificate", NOT_FOUND)
    bundle = acm_backends[backend.account_id]["us-east-1"]._certificates.get(arn)
    if bundle is None:
        raise _Err("InvalidViewerCertificate", NOT_FOUND)
    parsed = x509util.parse_cert(bundle.cert.decode() if isinstance(bundle.cert, bytes) else bundle.cert)
    return parsed.names, parsed.not_before, parsed.not_after


def _check_cnames(backend, config: dict, own_id: str | None) -> None:
    wanted = set(_aliases(config))
    for other in list(cf_models.cloudfront_backends[backend.account_id][backend.partition].distributions.values()):
        if other.distribution_id == own_id:
            continue
        taken = wanted & set(_aliases({"Aliases": other.distribution_config.Aliases}))
        if taken:
            raise _Err(
                "CNAMEAlreadyExists",
                f"One or more of the CNAMEs you provided are already associated with a different resource: {', '.join(sorted(taken))}.",
            )


def create_distribution_with_tags(self, distribution_config, tags):
    with state.LOCK:
        _validate_viewer_certificate(self, distribution_config)
        _check_cnames(self, distribution_config, None)
        return _orig_create(self, distribution_config, tags)


def _viewer_key(vc) -> tuple:
    return (vc.iam_certificate_id, vc.acm_certificate_arn, bool(vc.cloud_front_default_certificate))


def update_distribution(self, dist_config, _id, if_match):
    with state.LOCK:
        dist = self.distributions.get(_id or "")
        if dist is None:
            raise _Err("NoSuchDistribution", "The specified distribution does not exist.")
        if not if_match:
            raise _Err("InvalidIfMatchVersion", "The If-Match version is missing or not valid for the resource.")
        if if_match != dist.etag:
            raise _Err("PreconditionFailed", "The precondition given in one or more of the request header fields evaluated to false.")
        if dist_config.get("CallerReference") != dist.distribution_config.caller_reference:
            raise _Err("IllegalUpdate", "The CallerReference of a distribution cannot be changed.")
        _validate_viewer_certificate(self, dist_config)
        _check_cnames(self, dist_config, _id)
        new_config = cf_models.DistributionConfig(dist_config)
        changes_certificate = _viewer_key(new_config.ViewerCertificate) != _viewer_key(dist.distribution_config.ViewerCertificate)
        if changes_certificate and _status(dist) == "InProgress" and getattr(dist, "_certificate_change_pending", False):
            raise _Err(
                "IllegalUpdate",
                "A previous change to this distribution's viewer certificate is still in progress. Wait until the distribution is Deployed.",
            )
        dist.distribution_config = new_config
        dist._certificate_change_pending = changes_certificate
        dist.etag = cf_models.random_id()
        _start_deployment(dist)
        return dist, dist.location, dist.etag


def delete_distribution(self, distribution_id, if_match):
    with state.LOCK:
        dist = self.distributions.get(distribution_id)
        if dist is None:
            raise _Err("NoSuchDistribution", "The specified distribution does not exist.")
        if not if_match:
            raise _Err("InvalidIfMatchVersion", "The If-Match version is missing or not valid for the resource.")
        if if_match != dist.etag:
            raise _Err("PreconditionFailed", "The precondition given in one or more of the request header fields evaluated to false.")
        del self.distributions[distribution_id]


def apply() -> None:
    cf_models.ViewerCertificate.__init__ = _viewer_init
    cf_models.Distribution.__init__ = _dist_init
    cf_models.Distribution.status = property(_status, _status_setter)
    cf_models.CloudFrontBackend.create_distribution_with_tags = create_distribution_with_tags
    cf_models.CloudFrontBackend.update_distribution = update_distribution
    cf_models.CloudFrontBackend.delete_distribution = delete_distribution
