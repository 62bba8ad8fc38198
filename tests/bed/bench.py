"""`make bench`: cert-rotator beside the seed's certbot loop, on one local bed, in one run.

Run inside the bed, whose Pebble sleeps before each validation as a real CA's does
(`PEBBLE_VA_NOSLEEP=0`, `PEBBLE_VA_SLEEPTIME`): `bed.py run -- python tests/bed/bench.py`.
Route 53 is made to behave as AWS does under load: every change stays PENDING for
`--pending-seconds` after submission however often it is polled, and more than 5 requests per
second per account are throttled.

1. Renewal wall time for N domains of 2 names each (one hosted zone and one distribution per
   domain, certificates 10 days from expiry): cert-rotator's release Lambda binary, driven through
   the Lambda runtime API by a small emulator here, against the seed's loop — certbot with the
   dns-route53 plugin, domain after domain, each followed by the seed's deploy hook (IAM upload as
   `<domain>-new`, distribution found by `Aliases.Items[0]`, config and ETag read apart, update,
   delete the old certificate, rename the new one).
2. A no-op daily run over 100 domains whose certificates cert-rotator issued (and whose
   predecessors it already retired): wall time and the AWS API calls by operation, counted at the
   bed.
3. Init time (process start to the first request for an event), peak RSS of each cert-rotator
   process, release binary sizes.

Prints a table and writes target/bench/bench.json.
"""

import argparse
import datetime as dt
import json
import os
import queue
import shutil
import subprocess
import sys
import threading
import time
import urllib.request
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import boto3

import stack
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "target" / "bench"
REGION = "cn-north-1"
BUCKET = "cert-rotator-bench"
STACK = "cert-rotator-bench"
SECRET = f"{STACK}/acme-account"
# moto's account for the bed's `testing` keys: the bench's set-up identity, and certbot's.
ACCOUNT = "123456789012"
# The function's credentials (stack.deploy in main): every cert-rotator run uses them.
FUNCTION_CREDENTIALS: dict[str, str] = {}


def client(service):
    return boto3.client(service, region_name=REGION, endpoint_url=os.environ["AWS_ENDPOINT_URL"])


def control(path, body=None):
    url = os.environ["BED_CONTROL_URL"] + path
    data = None if body is None else json.dumps(body).encode()
    with urllib.request.urlopen(urllib.request.Request(url, data=data, method="POST" if data else "GET")) as r:
        return json.loads(r.read() or b"{}")


# ---------------------------------------------------------------------------------------------
# The world: zones, expiring certificates from a legacy CA, distributions.

class Legacy:
    """A CA that issued today's certificates by hand, 80 days ago, for 90 days."""

    def __init__(self):
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Legacy CA (bench)")])
        self.key_pem = self.key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                              serialization.NoEncryption()).decode()

    def certificate(self, names):
        issued = dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=80)
        cert = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])]))
            .issuer_name(self.name).public_key(self.key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(issued).not_valid_after(issued + dt.timedelta(days=90))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(n) for n in names]), critical=False)
            .sign(self.key, hashes.SHA256())
        )
        return cert.public_bytes(serialization.Encoding.PEM).decode()


def distribution_config(ref, aliases, cert_id):
    return {
        "CallerReference": ref, "Comment": "bench", "Enabled": True,
        "Aliases": {"Quantity": len(aliases), "Items": aliases},
        "Origins": {"Quantity": 1, "Items": [{"Id": "o", "DomainName": "origin.example.cn",
                                              "CustomOriginConfig": {"HTTPPort": 80, "HTTPSPort": 443,
                                                                     "OriginProtocolPolicy": "https-only"}}]},
        "DefaultCacheBehavior": {"TargetOriginId": "o", "ViewerProtocolPolicy": "redirect-to-https",
                                 "CachePolicyId": "658327ea-f89d-4fab-a63d-7e88639e58f6"},
        "ViewerCertificate": {"IAMCertificateId": cert_id, "SSLSupportMethod": "sni-only",
                              "MinimumProtocolVersion": "TLSv1.2_2021"},
    }


def world(legacy, label, n):
    """N domains `dI.<label>.example.cn` + `www.` each, in their own zone, each served by one
    distribution (the domain as its first alias, as the seed's lookup needs) on a certificate
    10 days from expiry named after the domain (as the seed's hook expects)."""
    r53, iam, cf = client("route53"), client("iam"), client("cloudfront")
    zone = f"{label}.example.cn"
    r53.create_hosted_zone(Name=zone, CallerReference=f"bench-{label}")
    domains = []
    for i in range(n):
        base = f"d{i}.{zone}"
        names = [base, f"www.{base}"]
        meta = iam.upload_server_certificate(ServerCertificateName=base, Path="/cloudfront/",
                                             CertificateBody=legacy.certificate(names), PrivateKey=legacy.key_pem)
        cert_id = meta["ServerCertificateMetadata"]["ServerCertificateId"]
        cf.create_distribution(DistributionConfig=distribution_config(f"bench-{base}", names, cert_id))
        domains.append(names)
    return domains


def served_expiry(domains):
    """The not-after of the certificate each domain's distribution serves now."""
    iam, cf = client("iam"), client("cloudfront")
    certs = {}
    for page in iam.get_paginator("list_server_certificates").paginate(PathPrefix="/cloudfront/"):
        for m in page["ServerCertificateMetadataList"]:
            certs[m["ServerCertificateId"]] = m["Expiration"]
    wanted = {names[0] for names in domains}
    out = {}
    for page in cf.get_paginator("list_distributions").paginate():
        for d in page["DistributionList"].get("Items", []):
            first = (d["Aliases"].get("Items") or [None])[0]
            if first in wanted:
                out[first] = certs.get(d["ViewerCertificate"].get("IAMCertificateId"))
    return out


def renewed_count(domains):
    horizon = dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=60)
    return sum(1 for e in served_expiry(domains).values() if e and e > horizon)


# ---------------------------------------------------------------------------------------------
# cert-rotator: the release Lambda binary, under a minimal Lambda runtime API.

class RuntimeApi:
    """The Lambda runtime API (2018-06-01) for one function process: hands out queued events
    on /invocation/next and collects the response or error."""

    def __init__(self):
        self.events = queue.Queue()
        self.results = queue.Queue()
        self.first_next = None
        api = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def _reply(self, status, body=b"", headers=None):
                self.send_response(status)
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self):
                if self.path.endswith("/runtime/invocation/next"):
                    if api.first_next is None:
                        api.first_next = time.monotonic()
                    request_id, payload = api.events.get()
                    api.sent = time.monotonic()
                    deadline_ms = int((time.time() + 900) * 1000)
                    return self._reply(200, payload, {
                        "Content-Type": "application/json",
                        "Lambda-Runtime-Aws-Request-Id": request_id,
                        "Lambda-Runtime-Deadline-Ms": str(deadline_ms),
                        "Lambda-Runtime-Invoked-Function-Arn": f"arn:aws-cn:lambda:{REGION}:123456789012:function:bench",
                        "Lambda-Runtime-Trace-Id": f"Root=1-{uuid.uuid4().hex[:8]}-{uuid.uuid4().hex[:24]};Sampled=0",
                    })
                self._reply(404)

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                kind = "response" if self.path.endswith("/response") else "error"
                self._reply(202, b"{}", {"Content-Type": "application/json"})
                api.results.put((kind, time.monotonic(), body))

        class Server(ThreadingHTTPServer):
            def handle_error(self, request, client_address):
                pass  # the function process is killed after its answer; its open poll resets

        self.server = Server(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.address = f"127.0.0.1:{self.server.server_address[1]}"

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def run_lambda(binary, event, log_name):
    """Starts a fresh function process (a cold start), sends `event`, waits for the answer.

    Returns (init seconds, invocation seconds, peak RSS in MiB, outcome, report)."""
    api = RuntimeApi()
    env = {k: v for k, v in os.environ.items() if k.startswith(("AWS_", "CERT_ROTATOR_", "SSL_CERT_FILE"))}
    env.update({
        **FUNCTION_CREDENTIALS,
        "AWS_LAMBDA_RUNTIME_API": api.address,
        "AWS_LAMBDA_FUNCTION_NAME": "cert-rotator-bench",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "256",
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_LOG_FORMAT": "JSON",
        "CERT_ROTATOR_BUCKET": BUCKET,
        "CERT_ROTATOR_ACCOUNT_SECRET": SECRET,
        "RUST_LOG": "warn",
        "PATH": os.environ.get("PATH", ""),
    })
    api.events.put((str(uuid.uuid4()), json.dumps(event).encode()))
    log = open(OUT / log_name, "w")
    started = time.monotonic()
    proc = subprocess.Popen([str(binary)], env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        kind, answered, body = api.results.get(timeout=1200)
        # The process's high-water mark, read before it goes. (Not wait4's ru_maxrss: on Linux
        # that also counts the forked Python before exec, about 70 MiB.)
        rss_mib = vm_hwm_kib(proc.pid) / 1024
    finally:
        proc.kill()
        proc.wait()
        log.close()
        api.close()
    init = api.first_next - started
    invocation = answered - api.sent
    payload = json.loads(body)
    (OUT / log_name).with_suffix(".report.json").write_text(json.dumps(payload, indent=2))
    if kind == "response":
        return init, invocation, rss_mib, "ok", payload
    # RenewalFailed still carries the report in the logs; the error names the failed domains.
    return init, invocation, rss_mib, payload.get("errorType", "error"), payload


def vm_hwm_kib(pid):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmHWM for process {pid}")


def rotator_scenario(binary, legacy, n):
    domains = world(legacy, f"n{n}-rotator", n)
    event = {"domains": [{"names": names} for names in domains]}
    calls_before = control("/calls")
    init, seconds, rss, outcome, report = run_lambda(binary, event, f"rotator-n{n}.log")
    calls = diff_calls(calls_before, control("/calls"))
    renewed = renewed_count(domains)
    return {"n": n, "seconds": round(seconds, 2), "init_ms": round(init * 1000, 1), "peak_rss_mib": round(rss, 1),
            "renewed": renewed, "outcome": outcome, "route53_calls": sum(v for k, v in calls.items() if k.startswith("route53:")),
            "throttled": calls.get("route53:Throttled", 0)}, report


def diff_calls(before, after):
    return {k: after[k] - before.get(k, 0) for k in sorted(after) if after[k] - before.get(k, 0) > 0}


# ---------------------------------------------------------------------------------------------
# The seed's loop: certbot + dns-route53, then the seed's deploy hook, domain after domain.

def seed_deploy_hook(domain, live):
    """The seed document's renew.sh, step by step, with boto3 instead of the AWS CLI."""
    iam, cf = client("iam"), client("cloudfront")
    read = lambda name: (live / name).read_text()
    iam.upload_server_certificate(ServerCertificateName=f"{domain}-new", Path="/cloudfront/",
                                  CertificateBody=read("cert.pem"), PrivateKey=read("privkey.pem"),
                                  CertificateChain=read("chain.pem"))
    # The AWS CLI pages through listings by itself; so does this.
    items = [d for page in cf.get_paginator("list_distributions").paginate()
             for d in page["DistributionList"].get("Items", [])]
    distribution = next(d["Id"] for d in items if (d["Aliases"].get("Items") or [None])[0] == domain)
    config = cf.get_distribution_config(Id=distribution)["DistributionConfig"]
    certs = [c for page in iam.get_paginator("list_server_certificates").paginate()
             for c in page["ServerCertificateMetadataList"]]
    old = next(c["ServerCertificateId"] for c in certs if c["ServerCertificateName"] == domain)
    new = next(c["ServerCertificateId"] for c in certs if c["ServerCertificateName"] == f"{domain}-new")
    config = json.loads(json.dumps(config).replace(old, new))
    etag = cf.get_distribution_config(Id=distribution)["ETag"]
    cf.update_distribution(Id=distribution, IfMatch=etag, DistributionConfig=config)
    iam.delete_server_certificate(ServerCertificateName=domain)
    iam.update_server_certificate(ServerCertificateName=f"{domain}-new", NewServerCertificateName=domain)


def certbot_scenario(certbot, legacy, n, workdir):
    domains = world(legacy, f"n{n}-certbot", n)
    env = {**os.environ, "REQUESTS_CA_BUNDLE": os.environ["CERT_ROTATOR_ACME_CA_BUNDLE"]}
    failures = []
    started = time.monotonic()
    for names in domains:
        out = subprocess.run(
            [certbot, "certonly", "--non-interactive", "--agree-tos", "--register-unsafely-without-email",
             "--server", os.environ["CERT_ROTATOR_ACME_DIRECTORY"], "--config-dir", str(workdir / "config"),
             "--work-dir", str(workdir / "work"), "--logs-dir", str(workdir / "logs"),
             "--dns-route53", "--key-type", "rsa", "--rsa-key-size", "2048", "--cert-name", names[0],
             *[a for name in names for a in ("-d", name)]],
            env=env, capture_output=True, text=True)
        if out.returncode != 0:
            failures.append(f"{names[0]}: certbot: {out.stderr.strip().splitlines()[-1:]}")
            continue
        try:
            seed_deploy_hook(names[0], workdir / "config" / "live" / names[0])
        except Exception as e:  # the seed's `set -e` stops this domain here
            failures.append(f"{names[0]}: deploy hook: {type(e).__name__}: {e}")
    seconds = time.monotonic() - started
    return {"n": n, "seconds": round(seconds, 2), "renewed": renewed_count(domains), "failures": failures}


# ---------------------------------------------------------------------------------------------

def noop_scenario(binary, legacy, n):
    """Renews N domains, retires their old certificates, then measures the daily run with
    nothing to do."""
    domains = world(legacy, f"noop{n}", n)
    event = {"domains": [{"names": names} for names in domains]}
    _, renew_seconds, _, _, _ = run_lambda(binary, event, f"noop-renew.log")
    time.sleep(float(control("/settings").get("cloudfront_deploy_seconds", 1.0)) + 0.5)
    run_lambda(binary, event, f"noop-retire.log")
    before = control("/calls")
    init, seconds, rss, outcome, report = run_lambda(binary, event, f"noop.log")
    calls = diff_calls(before, control("/calls"))
    outcomes = {}
    for d in report.get("domains", []):
        outcomes[d["outcome"]] = outcomes.get(d["outcome"], 0) + 1
    return {"n": n, "seconds": round(seconds, 3), "init_ms": round(init * 1000, 1), "peak_rss_mib": round(rss, 1),
            "outcomes": outcomes, "calls": calls, "aws_calls": sum(calls.values()),
            "renewal_seconds": round(renew_seconds, 2)}


def sizes():
    out = {}
    for arch in ("x86_64", "arm64"):
        path = ROOT / "target" / "lambda" / arch / "cert-rotator-lambda" / "bootstrap"
        if path.exists():
            out[arch] = round(path.stat().st_size / 2**20, 2)
    return out


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--ns", default=os.environ.get("BENCH_NS", "1,5,20,50"))
    parser.add_argument("--certbot-ns", default=os.environ.get("BENCH_CERTBOT_NS", "1,5,20,50"))
    parser.add_argument("--noop", type=int, default=int(os.environ.get("BENCH_NOOP", "100")))
    parser.add_argument("--pending-seconds", type=float, default=float(os.environ.get("BENCH_PENDING_SECONDS", "10")))
    parser.add_argument("--binary", default=str(ROOT / "target/lambda/x86_64/cert-rotator-lambda/bootstrap"))
    parser.add_argument("--certbot", default=str(ROOT / "target/venv-certbot/bin/certbot"))
    args = parser.parse_args()
    ns = [int(x) for x in args.ns.split(",") if x]
    certbot_ns = [int(x) for x in args.certbot_ns.split(",") if x]
    binary = Path(args.binary)
    if not binary.exists():
        raise SystemExit(f"bench: no release binary at {binary} (make release-x86_64)")
    OUT.mkdir(parents=True, exist_ok=True)

    if os.environ.get("BED_PEBBLE_VA_NOSLEEP", "0") == "1":
        print("bench: warning: Pebble's validation sleep is off", file=sys.stderr)
    control("/settings", {"route53_pending_seconds": args.pending_seconds, "route53_max_rps": 5,
                          "cloudfront_deploy_seconds": 1.0})
    # The stack (tests/bed/stack.py): cert-rotator runs as its function's role, held to
    # template.yaml's policies by the bed. The certbot loop keeps the unrestricted set-up identity:
    # it is the seed's script, not the function.
    FUNCTION_CREDENTIALS.update(stack.deploy(os.environ["AWS_ENDPOINT_URL"], REGION, boto3.Session(region_name=REGION),
                                             ACCOUNT, stack=STACK, bucket=BUCKET))
    legacy = Legacy()
    settings = {"route53_pending_seconds": args.pending_seconds, "route53_max_rps": 5,
                "pebble_va_sleeptime_max_s": int(os.environ.get("PEBBLE_VA_SLEEPTIME", "0") or 0),
                "pebble_va_nosleep": os.environ.get("PEBBLE_VA_NOSLEEP", "1"),
                "concurrency": int(os.environ.get("CERT_ROTATOR_CONCURRENCY", "32")), "binary": str(binary),
                "cpus": os.cpu_count()}
    print(f"bench: settings {json.dumps(settings)}", flush=True)

    rotator, certbot = {}, {}
    for n in ns:
        result, _ = rotator_scenario(binary, legacy, n)
        rotator[n] = result
        print(f"bench: cert-rotator N={n}: {json.dumps(result)}", flush=True)
    workdir = OUT / "certbot"
    shutil.rmtree(workdir, ignore_errors=True)
    for n in certbot_ns:
        certbot[n] = certbot_scenario(args.certbot, legacy, n, workdir)
        print(f"bench: certbot loop N={n}: {json.dumps(certbot[n])}", flush=True)
    noop = noop_scenario(binary, legacy, args.noop) if args.noop else None
    if noop:
        print(f"bench: no-op N={args.noop}: {json.dumps(noop)}", flush=True)

    one = rotator.get(1, {}).get("seconds")
    results = {"settings": settings, "renewal": {"cert_rotator": rotator, "certbot_loop": certbot},
               "noop": noop, "binary_mib": sizes()}
    OUT.joinpath("bench.json").write_text(json.dumps(results, indent=2, default=str))

    print("\nRenewal wall time, N domains x 2 names "
          f"(Route 53 PENDING {args.pending_seconds:g} s per change, 5 req/s; Pebble validation sleep "
          f"0-{settings['pebble_va_sleeptime_max_s']} s)")
    print(f"  {'N':>3}  {'cert-rotator':>12}  {'vs N=1':>7}  {'certbot loop':>12}  {'certbot/ours':>12}  {'renewed':>9}  {'peak RSS':>8}  {'R53 calls':>9}")
    for n in sorted(set(ns) | set(certbot_ns)):
        r, c = rotator.get(n), certbot.get(n)
        ours = f"{r['seconds']:.1f} s" if r else "-"
        rel = f"{r['seconds'] / one:.2f}x" if r and one else "-"
        theirs = f"{c['seconds']:.1f} s" if c else "-"
        ratio = f"{c['seconds'] / r['seconds']:.1f}x" if r and c else "-"
        renewed = f"{r['renewed'] if r else '-'}/{c['renewed'] if c else '-'}"
        rss = f"{r['peak_rss_mib']:.0f} MiB" if r else "-"
        calls = r["route53_calls"] if r else "-"
        print(f"  {n:>3}  {ours:>12}  {rel:>7}  {theirs:>12}  {ratio:>12}  {renewed:>9}  {rss:>8}  {calls:>9}")
    if noop:
        print(f"\nNo-op daily run over {noop['n']} fresh domains: {noop['seconds'] * 1000:.0f} ms, "
              f"{noop['aws_calls']} AWS calls, outcomes {noop['outcomes']}")
        for op, count in noop["calls"].items():
            print(f"  {op:<44} {count:>5}")
    inits = [r["init_ms"] for r in rotator.values()] + ([noop["init_ms"]] if noop else [])
    rsss = [r["peak_rss_mib"] for r in rotator.values()] + ([noop["peak_rss_mib"]] if noop else [])
    print(f"\nInit (process start to first event request): median {sorted(inits)[len(inits) // 2]:.1f} ms, "
          f"max {max(inits):.1f} ms over {len(inits)} cold starts")
    print(f"Peak RSS: max {max(rsss):.1f} MiB")
    print(f"Release binary: {', '.join(f'{a} {s} MiB' for a, s in sizes().items()) or 'not built'}")
    print(f"\n{OUT / 'bench.json'}")


if __name__ == "__main__":
    main()
