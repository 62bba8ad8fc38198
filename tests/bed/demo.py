"""`make demo`: a real rotation on the local bed, in aws-cn.

Sets up what a team in AWS China typically has — a hosted zone `example.cn`, three CloudFront
distributions serving cdn.example.cn (as the second alias), *.cdn.example.cn and
assets.example.cn with certificates from another CA uploaded by hand to IAM under /cloudfront/,
10 days from expiry — and what the stack creates (tests/bed/stack.py: the archive bucket, the
account secret, the function's role), then runs the cert-rotator CLI (the Lambda handler's code)
as the function's role, which the bed holds to template.yaml's policies, on events/manual.json
and shows the distributions before and after; a second run rests and retires the replaced
certificates. Run inside the bed: `bed.py run -- python tests/bed/demo.py`.
"""

import datetime as dt
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import boto3
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

import stack

ROOT = Path(__file__).resolve().parents[2]
REGION = "cn-north-1"
BUCKET = "cert-rotator-demo"
# The stack's name: its account secret is cert-rotator/acme-account, the CLI's default.
STACK = "cert-rotator"
# moto's account for the bed's `testing` keys (the demo's set-up identity).
ACCOUNT = "123456789012"


def client(service):
    return boto3.client(service, region_name=REGION, endpoint_url=os.environ["AWS_ENDPOINT_URL"])


def legacy_certificate(names, issued, days):
    ca_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Legacy CA (uploaded by hand)")])
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    cert = (
        x509.CertificateBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])]))
        .issuer_name(ca_name).public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(issued).not_valid_after(issued + dt.timedelta(days=days))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(n) for n in names]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    pem = lambda o: o.public_bytes(serialization.Encoding.PEM).decode()
    return pem(cert), key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()).decode()


def distribution(cf, aliases, cert_id):
    config = {
        "CallerReference": f"demo-{aliases[0]}", "Comment": "demo", "Enabled": True,
        "Aliases": {"Quantity": len(aliases), "Items": aliases},
        "Origins": {"Quantity": 1, "Items": [{"Id": "o", "DomainName": "origin.example.cn", "CustomOriginConfig": {"HTTPPort": 80, "HTTPSPort": 443, "OriginProtocolPolicy": "https-only"}}]},
        "DefaultCacheBehavior": {"TargetOriginId": "o", "ViewerProtocolPolicy": "redirect-to-https", "CachePolicyId": "658327ea-f89d-4fab-a63d-7e88639e58f6"},
        "ViewerCertificate": {"IAMCertificateId": cert_id, "SSLSupportMethod": "sni-only", "MinimumProtocolVersion": "TLSv1.2_2021"},
    }
    return cf.create_distribution(DistributionConfig=config)["Distribution"]["Id"]


def deploy_stack():
    """What `make deploy` creates; returns the function's credentials (environment variables)."""
    return stack.deploy(os.environ["AWS_ENDPOINT_URL"], REGION, boto3.Session(region_name=REGION), ACCOUNT,
                        stack=STACK, bucket=BUCKET)


def setup():
    r53, iam, cf = client("route53"), client("iam"), client("cloudfront")
    r53.create_hosted_zone(Name="example.cn", CallerReference="demo")
    issued = dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=80)
    ids = {}
    for name, names in (("cdn.example.cn", ["cdn.example.cn", "*.cdn.example.cn"]), ("assets.example.cn", ["assets.example.cn"])):
        body, key = legacy_certificate(names, issued, 90)
        meta = iam.upload_server_certificate(ServerCertificateName=name, Path="/cloudfront/", CertificateBody=body, PrivateKey=key)
        ids[name] = meta["ServerCertificateMetadata"]["ServerCertificateId"]
    distribution(cf, ["img.cdn.example.cn", "cdn.example.cn"], ids["cdn.example.cn"])
    distribution(cf, ["static.cdn.example.cn"], ids["cdn.example.cn"])
    distribution(cf, ["assets.example.cn"], ids["assets.example.cn"])


def show(title):
    iam, cf = client("iam"), client("cloudfront")
    certs = {m["ServerCertificateId"]: m for m in iam.list_server_certificates(PathPrefix="/cloudfront/")["ServerCertificateMetadataList"]}
    print(f"\n{title}")
    print(f"  {'distribution':<16} {'status':<11} {'aliases':<44} {'certificate (IAM)':<58} not after")
    for d in cf.list_distributions()["DistributionList"].get("Items", []):
        cert = certs.get(d["ViewerCertificate"].get("IAMCertificateId"), {})
        expiry = cert.get("Expiration")
        print(f"  {d['Id']:<16} {d['Status']:<11} {', '.join(d['Aliases'].get('Items', [])):<44} {cert.get('ServerCertificateName', '?'):<58} {expiry:%Y-%m-%d %H:%M}" if expiry else "")
    print(f"  IAM certificates under /cloudfront/: {', '.join(sorted(m['ServerCertificateName'] for m in certs.values()))}")


def rotate(label, function):
    # The hand-uploaded certificates are the team's own, replaced for good: opt in to retiring
    # certificates cert-rotator did not upload (off by default).
    env = {**os.environ, **function, "CERT_ROTATOR_BUCKET": BUCKET, "CERT_ROTATOR_RETIRE_FOREIGN": "true",
           "RUST_LOG": os.environ.get("RUST_LOG", "warn")}
    cli = ROOT / "target" / "debug" / "cert-rotator"
    event = ROOT / "events" / "manual.json"
    print(f"\n$ cert-rotator run --event events/manual.json    # {label}")
    started = time.monotonic()
    out = subprocess.run([str(cli), "run", "--event", str(event)], env=env, capture_output=True, text=True)
    report = json.loads(out.stdout)
    for d in report["domains"]:
        reason = (d.get("plan") or {}).get("reason", {}).get("kind", "")
        print(f"  {', '.join(d['names']):<40} {d['outcome']:<10} {reason:<22} {d.get('error', '')}")
    for r in report.get("retired", []):
        print(f"  retired {r['name']}: {r['result']}")
    print(f"  ({time.monotonic() - started:.1f} s, account {report.get('account', 'loaded')}, lock {report['lock']['state']})")
    if out.returncode != 0:
        sys.stderr.write(out.stderr)
        raise SystemExit(f"demo: the rotation failed (exit {out.returncode})")


def main():
    function = deploy_stack()
    setup()
    show("Before: certificates from another CA, 10 days from expiry")
    rotate("first run: renews by DNS-01 (Route 53 -> Pebble), uploads to IAM, swaps every distribution", function)
    show("After the first run (distributions deploying the change)")
    time.sleep(1.5)
    rotate("second run: nothing due; the replaced certificates are retired", function)
    show("After the second run")


if __name__ == "__main__":
    main()
