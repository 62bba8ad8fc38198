"""Bring the local test bed up or down.

    python tests/bed/bed.py up [--plain]     start moto (+ fidelity, DNS), Pebble, the ARI proxy, Pebble-EAB
    python tests/bed/bed.py down             stop every process it started (by PID)
    python tests/bed/bed.py status
    python tests/bed/bed.py run [--plain] -- CMD...   up, run CMD with the bed's env, down (always)

Everything but the DNS listens on 127.0.0.1 on free ports chosen at start-up. State lives in
target/bed/ (or CERT_ROTATOR_BED_DIR): pids, logs, the generated CA and listener certificate,
Pebble's config, and `env`: a shell-sourceable file with what a process needs to use the bed,
under the names the product reads (AWS_ENDPOINT_URL, AWS_REGION, credentials,
CERT_ROTATOR_ACME_DIRECTORY, CERT_ROTATOR_ACME_CA_BUNDLE, CERT_ROTATOR_DNS_RESOLVER,
CERT_ROTATOR_CHECK_AUTHORITATIVE) plus BED_* for tests.

DNS: an authoritative listener (BED_DNS, the zones' name servers: motobed/dns.py) and a resolving
one (BED_DNS_RESOLVING, Pebble's -dnsserver and CERT_ROTATOR_DNS_RESOLVER: motobed/resolver.py),
on port 53 of BED_DNS_HOST (default 127.0.53.53) and BED_DNS_RESOLVING_HOST (default: the next
address, 127.0.53.54) when the bed can bind both; otherwise on two high ports of 127.0.0.1, with
the product's authoritative check off (CERT_ROTATOR_DNS_RESOLVER is an IP: port 53 only).
BED_DNS_PORT53 in the env says which ("1" or "0").

A second Pebble ("pebble-eab", BED_EAB_DIRECTORY, reached directly, no ARI proxy) requires External
Account Binding (RFC 8555 section 7.3.4), as ZeroSSL, Google Trust Services or TrustAsia do. It has
two bindings of its own, made at every `up`: BED_EAB_KEY_ID / BED_EAB_HMAC_KEY and BED_EAB_KEY_ID_2 /
BED_EAB_HMAC_KEY_2 (key ids `kid-<hex>`; HMAC keys base64url without padding, the encoding Pebble
reads and those CAs hand out: 32 and 64 random bytes). With --plain it does not require a binding
(it still checks one it is given). It shares the first Pebble's listener certificate, resolving DNS
and knobs; its management API is BED_EAB_MGMT_URL.

Pebble knobs come from the environment at `up`: PEBBLE_VA_NOSLEEP (default 1),
PEBBLE_VA_SLEEPTIME, PEBBLE_WFE_NONCEREJECT (default 0), PEBBLE_AUTHZREUSE (default 0),
BED_CERT_VALIDITY_SECONDS (default 90 days). PEBBLE_VA_ALWAYS_VALID is refused: DNS-01 is
validated against Route 53 state.
"""

import base64
import datetime as dt
import json
import os
import secrets
import signal
import socket
import ssl
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
import ipaddress

ROOT = Path(__file__).resolve().parents[2]
# CERT_ROTATOR_BED_DIR lets a second bed run beside the first (its DNS then takes high ports,
# or port 53 of other addresses: BED_DNS_HOST).
BED = Path(os.environ.get("CERT_ROTATOR_BED_DIR") or ROOT / "target" / "bed")
HERE = Path(__file__).resolve().parent
PY = sys.executable


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# The bed's DNS takes port 53 on addresses of its own, as a zone's name servers and a resolver
# do, so the product's authoritative check queries it exactly as in AWS. Port 53 needs root (CI
# has it); without it the bed falls back to high ports and turns that check off in its env. A
# second bed beside the first picks other addresses (BED_DNS_HOST) or takes the fallback.
def dns_hosts() -> tuple[str, str]:
    host = os.environ.get("BED_DNS_HOST") or "127.0.53.53"
    try:
        resolving = os.environ.get("BED_DNS_RESOLVING_HOST") or str(ipaddress.IPv4Address(host) + 1)
        if not all(ipaddress.IPv4Address(h).is_loopback for h in (host, resolving)):
            raise ValueError
    except ValueError:
        raise SystemExit(f"bed: the DNS listens on IPv4 loopback addresses only (BED_DNS_HOST={host!r})") from None
    if host == resolving:
        raise SystemExit("bed: BED_DNS_HOST and BED_DNS_RESOLVING_HOST must differ (both use port 53)")
    return host, resolving


def dns_addresses() -> dict:
    """Where the authoritative and the resolving listeners go, and whether that is port 53."""
    host, resolving = dns_hosts()
    for h in (host, resolving):
        for kind in (socket.SOCK_DGRAM, socket.SOCK_STREAM):
            with socket.socket(socket.AF_INET, kind) as s:
                try:
                    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                    s.bind((h, 53))
                except OSError as e:
                    print(f"bed: cannot bind {h}:53 ({e}); DNS on high ports, authoritative check off")
                    return {"dns_host": "127.0.0.1", "dns": free_port(), "resolving_host": "127.0.0.1",
                            "resolving": free_port(), "port53": False}
    return {"dns_host": host, "dns": 53, "resolving_host": resolving, "resolving": 53, "port53": True}


def write_listener_certs() -> None:
    """A throwaway CA and a listener certificate for 127.0.0.1/localhost (Pebble and the proxy)."""
    now = dt.datetime.now(dt.timezone.utc)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "cert-rotator test bed CA")])
    ca = (
        x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name)
        .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1)).not_valid_after(now + dt.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    leaf = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
        .issuer_name(ca_name).public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1)).not_valid_after(now + dt.timedelta(days=30))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    (BED / "ca.pem").write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    (BED / "listener.pem").write_bytes(leaf.public_bytes(serialization.Encoding.PEM))
    (BED / "listener.key").write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))


def spawn(name: str, argv: list[str], env: dict | None = None) -> int:
    log = open(BED / f"{name}.log", "wb")
    full_env = {k: v for k, v in os.environ.items() if k != "PEBBLE_VA_ALWAYS_VALID"}  # never skip validation
    proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                            env={**full_env, **(env or {})}, start_new_session=True, cwd=BED)
    with open(BED / "pids", "a") as f:
        f.write(f"{name} {proc.pid}\n")
    return proc.pid


def wait_for(what: str, check, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except Exception as e:  # not up yet
            last = e
        time.sleep(0.1)
    raise SystemExit(f"bed: {what} did not come up within {timeout:.0f}s ({last}); see {BED}/*.log")


def http_ok(url: str, ctx=None) -> bool:
    with urllib.request.urlopen(url, timeout=2, context=ctx) as r:
        return r.status == 200


def dns_ok(host: str, port: int) -> bool:
    from dnslib import DNSRecord

    reply = DNSRecord.parse(DNSRecord.question("bed-probe.invalid", "TXT").send(host, port, timeout=1))
    return reply is not None


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
        return True
    except ProcessLookupError:
        return False


def read_pids() -> list[tuple[str, int]]:
    path = BED / "pids"
    if not path.exists():
        return []
    return [(n, int(p)) for n, p in (line.split() for line in path.read_text().splitlines() if line.strip())]


def down(quiet: bool = False) -> None:
    pids = read_pids()
    for _, pid in pids:
        try:
            os.killpg(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + 5
    while any(alive(p) for _, p in pids) and time.monotonic() < deadline:
        time.sleep(0.05)
    for name, pid in pids:
        if alive(pid):
            try:
                os.killpg(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
    (BED / "pids").unlink(missing_ok=True)
    if pids and not quiet:
        print("bed: stopped " + ", ".join(f"{n} ({p})" for n, p in pids))


def up(plain: bool) -> None:
    if os.environ.get("PEBBLE_VA_ALWAYS_VALID"):
        raise SystemExit("bed: PEBBLE_VA_ALWAYS_VALID is set; the bed validates DNS-01 for real — unset it")
    BED.mkdir(parents=True, exist_ok=True)
    down()
    write_listener_certs()
    ports = {k: free_port() for k in ("moto", "control", "pebble", "pebble_mgmt", "pebble_http", "pebble_tls", "ari", "ari_control",
                                        "eab", "eab_mgmt", "eab_http", "eab_tls")}
    ports.update(dns_addresses())
    try:
        start(ports, plain)
    except BaseException:
        down()
        raise


def start_eab_pebble(ports: dict, plain: bool, validity: int, pebble_env: dict) -> dict:
    """Spawn the Pebble that requires External Account Binding (not with --plain); its BED_EAB_* env."""
    bindings = {f"kid-{secrets.token_hex(8)}": base64.urlsafe_b64encode(secrets.token_bytes(n)).rstrip(b"=").decode()
                for n in (32, 64)}  # base64url without padding: Pebble decodes with RawURLEncoding
    config = {"pebble": {
        "listenAddress": f"127.0.0.1:{ports['eab']}",
        "managementListenAddress": f"127.0.0.1:{ports['eab_mgmt']}",
        "certificate": str(BED / "listener.pem"), "privateKey": str(BED / "listener.key"),
        "httpPort": ports["eab_http"], "tlsPort": ports["eab_tls"],
        "ocspResponderURL": "", "externalAccountBindingRequired": not plain,
        "externalAccountMACKeys": bindings,
        "certificateValidityPeriod": validity,
    }}
    (BED / "pebble-eab-config.json").write_text(json.dumps(config, indent=2))
    spawn("pebble-eab", ["pebble", "-config", str(BED / "pebble-eab-config.json"), "-dnsserver", f"{ports['resolving_host']}:{ports['resolving']}"], pebble_env)
    (kid1, key1), (kid2, key2) = bindings.items()
    return {
        "BED_EAB_DIRECTORY": f"https://127.0.0.1:{ports['eab']}/dir",
        "BED_EAB_MGMT_URL": f"https://127.0.0.1:{ports['eab_mgmt']}",
        "BED_EAB_KEY_ID": kid1, "BED_EAB_HMAC_KEY": key1,
        "BED_EAB_KEY_ID_2": kid2, "BED_EAB_HMAC_KEY_2": key2,
    }


def start(ports: dict, plain: bool) -> None:
    moto_argv = [PY, "-m", "motobed", "--port", str(ports["moto"]), "--control-port", str(ports["control"]),
                 "--dns-host", ports["dns_host"], "--dns-port", str(ports["dns"]),
                 "--dns-resolving-host", ports["resolving_host"], "--dns-resolving-port", str(ports["resolving"])]
    spawn("moto", moto_argv + (["--plain"] if plain else []), {"PYTHONPATH": str(HERE), "MOTO_ALLOW_NONEXISTENT_REGION": "false"})

    validity = int(os.environ.get("BED_CERT_VALIDITY_SECONDS", str(90 * 24 * 3600)))
    config = {"pebble": {
        "listenAddress": f"127.0.0.1:{ports['pebble']}",
        "managementListenAddress": f"127.0.0.1:{ports['pebble_mgmt']}",
        "certificate": str(BED / "listener.pem"), "privateKey": str(BED / "listener.key"),
        "httpPort": ports["pebble_http"], "tlsPort": ports["pebble_tls"],
        "ocspResponderURL": "", "externalAccountBindingRequired": False,
        "certificateValidityPeriod": validity,
    }}
    (BED / "pebble-config.json").write_text(json.dumps(config, indent=2))
    pebble_env = {
        "PEBBLE_VA_NOSLEEP": os.environ.get("PEBBLE_VA_NOSLEEP", "1"),
        "PEBBLE_WFE_NONCEREJECT": os.environ.get("PEBBLE_WFE_NONCEREJECT", "0"),
        "PEBBLE_AUTHZREUSE": os.environ.get("PEBBLE_AUTHZREUSE", "0"),
    }
    if os.environ.get("PEBBLE_VA_SLEEPTIME"):
        pebble_env["PEBBLE_VA_SLEEPTIME"] = os.environ["PEBBLE_VA_SLEEPTIME"]
    spawn("pebble", ["pebble", "-config", str(BED / "pebble-config.json"), "-dnsserver", f"{ports['resolving_host']}:{ports['resolving']}"], pebble_env)
    eab = start_eab_pebble(ports, plain, validity, pebble_env)
    spawn("ari", [PY, str(HERE / "ari_proxy.py"), "--listen", f"127.0.0.1:{ports['ari']}", "--control", f"127.0.0.1:{ports['ari_control']}",
                  "--upstream", f"127.0.0.1:{ports['pebble']}", "--cert", str(BED / "listener.pem"), "--key", str(BED / "listener.key"), "--ca", str(BED / "ca.pem"),
                  "--management", f"https://127.0.0.1:{ports['pebble_mgmt']}"]
                 + (["--plain"] if plain else []))

    tls = ssl.create_default_context(cafile=str(BED / "ca.pem"))
    wait_for("moto", lambda: http_ok(f"http://127.0.0.1:{ports['moto']}/moto-api/data.json"))
    wait_for("bed control", lambda: http_ok(f"http://127.0.0.1:{ports['control']}/health"))
    wait_for("DNS", lambda: dns_ok(ports["dns_host"], ports["dns"]))
    wait_for("resolving DNS", lambda: dns_ok(ports["resolving_host"], ports["resolving"]))
    wait_for("Pebble", lambda: http_ok(f"https://127.0.0.1:{ports['pebble']}/dir", tls))
    wait_for("ARI proxy", lambda: http_ok(f"https://127.0.0.1:{ports['ari']}/dir", tls))
    wait_for("Pebble (EAB)", lambda: http_ok(f"https://127.0.0.1:{ports['eab']}/dir", tls))

    env = {
        "AWS_ENDPOINT_URL": f"http://127.0.0.1:{ports['moto']}",
        "AWS_REGION": "cn-north-1",
        "AWS_DEFAULT_REGION": "cn-north-1",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_EC2_METADATA_DISABLED": "true",
        "CERT_ROTATOR_ACME_DIRECTORY": f"https://127.0.0.1:{ports['ari']}/dir",
        "CERT_ROTATOR_ACME_CA_BUNDLE": str(BED / "ca.pem"),
        "BED_DIR": str(BED),
        "BED_PLAIN_MOTO": "1" if plain else "0",
        "BED_PEBBLE_WFE_NONCEREJECT": pebble_env["PEBBLE_WFE_NONCEREJECT"],
        "BED_CONTROL_URL": f"http://127.0.0.1:{ports['control']}",
        "BED_DNS": f"{ports['dns_host']}:{ports['dns']}",
        "BED_DNS_RESOLVING": f"{ports['resolving_host']}:{ports['resolving']}",
        "BED_DNS_PORT53": "1" if ports["port53"] else "0",
        # An IP, asked on port 53: usable only when the bed has port 53 (else the check is off).
        "CERT_ROTATOR_DNS_RESOLVER": ports["resolving_host"],
        "CERT_ROTATOR_CHECK_AUTHORITATIVE": "true" if ports["port53"] else "false",
        "BED_PEBBLE_DIRECTORY": f"https://127.0.0.1:{ports['pebble']}/dir",
        "BED_PEBBLE_MGMT_URL": f"https://127.0.0.1:{ports['pebble_mgmt']}",
        "BED_ARI_CONTROL_URL": f"http://127.0.0.1:{ports['ari_control']}",
        **eab,
    }
    (BED / "env").write_text("".join(f"export {k}='{v}'\n" for k, v in env.items()))
    (BED / "bed.json").write_text(json.dumps(env, indent=2))
    print(f"bed: up{' (plain moto, no fidelity layer)' if plain else ''}")
    for label, key in (("AWS (moto)", "AWS_ENDPOINT_URL"), ("ACME directory (ARI proxy -> Pebble)", "CERT_ROTATOR_ACME_DIRECTORY"),
                       ("DNS, authoritative", "BED_DNS"), ("DNS, resolving (Pebble's)", "BED_DNS_RESOLVING"), ("bed control", "BED_CONTROL_URL"), ("ARI control", "BED_ARI_CONTROL_URL"),
                       ("Pebble management", "BED_PEBBLE_MGMT_URL"),
                       (f"ACME directory, EAB {'optional (plain)' if plain else 'required'}", "BED_EAB_DIRECTORY"),
                       ("EAB key id / HMAC key", "BED_EAB_KEY_ID"), ("EAB key id / HMAC key (2)", "BED_EAB_KEY_ID_2")):
        print(f"  {label:<38} {env[key]}" + (f" {env[key.replace('KEY_ID', 'HMAC_KEY')]}" if "KEY_ID" in key else ""))
    print(f"  source {BED / 'env'}")


def status() -> int:
    pids = read_pids()
    for name, pid in pids:
        print(f"{name:<10} {pid:<8} {'running' if alive(pid) else 'dead'}")
    return 0 if pids and all(alive(p) for _, p in pids) else 1


def run(argv: list[str], plain: bool) -> int:
    """Up, run `argv` with the bed's environment, and down again whatever happens."""
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    try:
        up(plain)
        env = {**os.environ, **json.loads((BED / "bed.json").read_text())}
        return subprocess.call(argv, env=env, cwd=ROOT)
    finally:
        down(quiet=True)  # the command's own closing lines stay last


def main() -> int:
    cmd = sys.argv[1] if len(sys.argv) > 1 else ""
    if cmd == "run":
        if "--" not in sys.argv:
            print("usage: bed.py run [--plain] -- CMD...")
            return 2
        split = sys.argv.index("--")
        return run(sys.argv[split + 1:], "--plain" in sys.argv[2:split])
    if cmd == "up":
        up("--plain" in sys.argv)
    elif cmd == "down":
        down()
    elif cmd == "status":
        return status()
    else:
        print(__doc__)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
