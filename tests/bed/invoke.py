"""`make invoke EVENT=events/….json`: the Lambda handler, run by cargo-lambda, on the local bed.

Sets up the demo's world (tests/bed/demo.py: a hosted zone, three distributions on certificates
10 days from expiry) and the stack as template.yaml creates it (tests/bed/stack.py: the archive,
the account secret holding the placeholder `{}`, the function's role), starts `cargo lambda
watch` on a free loopback port with the function's environment as the stack sets it (the role's
credentials: the bed holds them to the template's policies), sends EVENT with `cargo lambda invoke --data-file`, and prints the JSON report the
handler returns. Exits non-zero if the invocation failed. Run inside the bed:
`bed.py run -- python tests/bed/invoke.py EVENT`.
"""

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import demo

ROOT = demo.ROOT
FUNCTION = "cert-rotator-lambda"
# What the function's environment gets from the bed (and, deployed, from template.yaml).
PASSED = ("AWS_", "CERT_ROTATOR_", "SSL_CERT_FILE", "RUST_LOG")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def function_env(secret_arn, credentials):
    env = {k: v for k, v in os.environ.items() if k.startswith(PASSED)}
    env.update({
        **credentials,
        "CERT_ROTATOR_BUCKET": demo.BUCKET,
        "CERT_ROTATOR_ACCOUNT_SECRET": secret_arn,
        "AWS_REGION": demo.REGION,
        # The deadline cargo-lambda gives the handler, as the template's Timeout.
        "AWS_LAMBDA_FUNCTION_TIMEOUT": "900",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "256",
        "RUST_LOG": os.environ.get("RUST_LOG", "info"),
    })
    return env


def wait_for(port, watch, seconds):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if watch.poll() is not None:
            raise SystemExit(f"invoke: cargo lambda watch exited ({watch.returncode}); see target/bed/invoke-watch.log")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.2)
    raise SystemExit(f"invoke: cargo lambda watch did not listen on 127.0.0.1:{port} within {seconds} s")


def main():
    if len(sys.argv) != 2:
        raise SystemExit("usage: invoke.py EVENT.json (make invoke EVENT=events/manual.json)")
    event = Path(sys.argv[1]).resolve()
    if not event.is_file():
        raise SystemExit(f"invoke: EVENT={sys.argv[1]}: no such file (try events/manual.json)")

    credentials = demo.deploy_stack()
    demo.setup()
    secret_arn = demo.client("secretsmanager").describe_secret(SecretId=f"{demo.STACK}/acme-account")["ARN"]
    demo.show("Before")

    # Beside the bed's own files (CERT_ROTATOR_BED_DIR when a second bed runs).
    here = Path(os.environ.get("CERT_ROTATOR_BED_DIR") or ROOT / "target" / "bed")
    here.mkdir(parents=True, exist_ok=True)
    env_file = here / "invoke.env"
    # Single-quoted: literal to cargo-lambda's dotenv parser, whatever a session token holds
    # ('/', '+', '=').
    env = sorted(function_env(secret_arn, credentials).items())
    env_file.write_text("".join(f"{k}='{v}'\n" for k, v in env))
    port = free_port()
    features = os.environ.get("FEATURES", "").split()
    log = open(here / "invoke-watch.log", "w")
    watch = subprocess.Popen(
        ["cargo", "lambda", "watch", "--bin", FUNCTION, *features, "--ignore-changes",
         "--invoke-address", "127.0.0.1", "--invoke-port", str(port), "--env-file", str(env_file), "--timeout", "900"],
        cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )
    try:
        wait_for(port, watch, 600)
        print(f"\n$ cargo lambda invoke {FUNCTION} --data-file {os.path.relpath(event, ROOT)}")
        started = time.monotonic()
        out = subprocess.run(
            ["cargo", "lambda", "invoke", FUNCTION, "--data-file", str(event),
             "--invoke-address", "127.0.0.1", "--invoke-port", str(port), "--output-format", "json"],
            cwd=ROOT, capture_output=True, text=True,
        )
        elapsed = time.monotonic() - started
    finally:
        os.killpg(watch.pid, signal.SIGTERM)
        watch.wait(timeout=30)
        log.close()
    if out.returncode != 0:
        sys.stderr.write(out.stdout + out.stderr)
        raise SystemExit(f"invoke: the invocation failed (exit {out.returncode}); the function's log is target/bed/invoke-watch.log")
    report = json.loads(out.stdout)
    print(json.dumps(report, indent=2))
    print(f"({elapsed:.1f} s, the function's log: target/bed/invoke-watch.log)")
    demo.show("After")


if __name__ == "__main__":
    main()
