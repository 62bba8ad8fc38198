"""Run the bed's moto server: moto + the fidelity layer + the Route 53 DNS server + a control port.

    python -m motobed --port 5000 --control-port 5001 --dns-host 127.0.53.53 --dns-port 53 \
        --dns-resolving-host 127.0.53.54 --dns-resolving-port 53 [--plain]

`--plain` runs moto as published (no fidelity rules, no faults layer), to show what the fidelity
tests would see without them. The DNS listeners (dns.py: authoritative; resolver.py: recursive)
run either way. The control port (plain HTTP, loopback) takes:
    GET/POST /settings   runtime knobs (state.DEFAULTS; a map setting merges what is posted by
                         key, a key posted as null is removed)
    GET /calls, POST /calls/reset          API calls counted by "service:Operation"
    GET /denials[?account=ID]              requests authz.py denied (the function's and member roles' policies, AssumeRole)
    GET /deliveries                        SNS messages and EventBridge events not delivered to an SQS
                                           queue, and why (sqs.py: the queue's policy, no such queue)
    POST /faults, DELETE /faults           fault rules (faults.py); DELETE /faults?access_key=K
                                           removes only that caller's
    POST /reset          settings, counters and fault rules back to their defaults
"""

import argparse
import json
import signal
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
from werkzeug.serving import make_server

from . import apply, authz, dns, faults, route53, sqs, state, zones

# Settings refused (400) unless they pass: a DNS zone the server could not serve.
CHECKS = {"outside_zones": zones.check_outside_zones}


class Control(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def _reply(self, code: int, payload) -> None:
        body = json.dumps(payload, default=str).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _body(self):
        length = int(self.headers.get("Content-Length") or 0)
        return json.loads(self.rfile.read(length) or b"{}")

    def do_GET(self):
        if self.path == "/health":
            return self._reply(200, {"ok": True})
        if self.path == "/settings":
            return self._reply(200, state.SETTINGS)
        if self.path == "/calls":
            with faults._lock:
                return self._reply(200, dict(faults.CALLS))
        if self.path.split("?")[0] == "/denials":
            account = parse_qs(urlparse(self.path).query).get("account", [None])[0]
            return self._reply(200, authz.denials(account))
        if self.path == "/deliveries":
            return self._reply(200, sqs.refused())
        return self._reply(404, {"error": f"no such control path {self.path}"})

    def do_POST(self):
        try:
            body = self._body()
        except json.JSONDecodeError as e:
            return self._reply(400, {"error": f"body is not JSON: {e}"})
        if self.path == "/settings":
            unknown = set(body) - set(state.DEFAULTS)
            if unknown:
                return self._reply(400, {"error": f"unknown settings {sorted(unknown)}; known: {sorted(state.DEFAULTS)}"})
            for key, value in body.items():
                try:
                    CHECKS.get(key, lambda v: None)(value)
                except ValueError as e:
                    return self._reply(400, {"error": str(e)})
            for key, value in body.items():
                # A map merges ({account: quota}): tests running side by side set their own keys.
                if isinstance(state.DEFAULTS[key], dict) and isinstance(value, dict):
                    value = {k: v for k, v in {**state.SETTINGS[key], **value}.items() if v is not None}
                state.SETTINGS[key] = value
            return self._reply(200, state.SETTINGS)
        if self.path == "/calls/reset":
            with faults._lock:
                faults.CALLS.clear()
            return self._reply(200, {})
        if self.path == "/faults":
            try:
                faults.check_rule(body)
            except ValueError as e:
                return self._reply(400, {"error": str(e)})
            with faults._lock:
                faults.FAULTS.append(body)
            return self._reply(200, faults.FAULTS)
        if self.path == "/reset":
            state.SETTINGS.clear()
            state.SETTINGS.update(state.DEFAULTS)
            with faults._lock:
                faults.CALLS.clear()
                faults._KEY_CALLS.clear()
                faults.FAULTS.clear()
                faults._r53_window.clear()
            authz.reset()
            sqs.reset()
            return self._reply(200, state.SETTINGS)
        return self._reply(404, {"error": f"no such control path {self.path}"})

    def do_DELETE(self):
        if self.path == "/faults":
            with faults._lock:
                faults.FAULTS.clear()
            return self._reply(200, [])
        if self.path.split("?")[0] == "/faults":
            # DELETE /faults?access_key=K: only that caller's rules (tests run side by side).
            key = parse_qs(urlparse(self.path).query).get("access_key", [None])[0]
            with faults._lock:
                faults.FAULTS[:] = [r for r in faults.FAULTS if r.get("access_key") != key]
                return self._reply(200, faults.FAULTS)
        return self._reply(404, {"error": f"no such control path {self.path}"})


def main() -> int:
    p = argparse.ArgumentParser(prog="motobed")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--control-port", type=int, required=True)
    p.add_argument("--dns-port", type=int, required=True)
    p.add_argument("--dns-host", default=None, help="loopback address of the authoritative DNS listener (default: --host)")
    p.add_argument("--dns-resolving-port", type=int, required=True)
    p.add_argument("--dns-resolving-host", default=None, help="loopback address of the resolving DNS listener (default: --host)")
    p.add_argument("--plain", action="store_true", help="moto as published: no fidelity layer")
    args = p.parse_args()
    if not args.host.startswith("127.") and args.host not in ("localhost", "::1"):
        sys.exit("the bed listens on loopback addresses only")

    app = DomainDispatcherApplication(create_backend_app)
    if not args.plain:
        apply()
        app = faults.Middleware(app)
    dns_host, resolving_host = args.dns_host or args.host, args.dns_resolving_host or args.host
    if not (dns_host.startswith("127.") and resolving_host.startswith("127.")):
        sys.exit("the bed's DNS listens on loopback addresses only")
    dns.start(dns_host, args.dns_port, resolving_host, args.dns_resolving_port)
    control = ThreadingHTTPServer((args.host, args.control_port), Control)
    threading.Thread(target=control.serve_forever, daemon=True).start()
    server = make_server(args.host, args.port, app, threaded=True, request_handler=MotoRequestHandler)
    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=server.shutdown).start())
    print(f"moto{' (plain)' if args.plain else ' + fidelity'} on http://{args.host}:{args.port}, "
          f"control on {args.control_port}, DNS on {dns_host}:{args.dns_port} (authoritative) "
          f"and {resolving_host}:{args.dns_resolving_port} (resolving)", flush=True)
    server.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
