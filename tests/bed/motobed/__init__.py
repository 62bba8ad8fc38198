"""The fidelity layer: patches loaded into the moto server process so that it behaves like AWS
where certificate rotations break (stale ETags, certificates in use, duplicate names, PENDING
changes, throttling, ...).

Each rule lives in the module of its service and cites the AWS documentation it copies; each has a
test in tests/bed/test_fidelity_*.py that drives it through boto3 and fails against plain moto.
`apply()` installs every rule; `python -m motobed --plain` runs moto without them (to prove that
the tests would fail there).
"""

from . import acm, cloudfront, elb, events, iam, route53, s3, secretsmanager, sns, sts


def apply() -> None:
    iam.apply()
    cloudfront.apply()
    route53.apply()
    acm.apply()
    s3.apply()
    elb.apply()
    secretsmanager.apply()
    sts.apply()
    sns.apply()
    events.apply()
