"""An authoritative DNS server that answers from moto's Route 53 state, synchronously.

It reads the hosted zones of every account and partition inside the moto process, so a record
written by ChangeResourceRecordSets is answerable before that call returns (a mirror that polls
Route 53 loses the race against a CA that validates at once). Pebble's `-dnsserver` points here.

It answers public hosted zones only (a private zone is not visible to a CA), with AA set; NODATA
and NXDOMAIN carry the zone's SOA; names under no hosted zone are REFUSED. The zones' name servers
(ns-*.awsdns-*) resolve to the address this server listens on (127.0.53.53 port 53 when the bed
can bind it), so an authoritative-propagation check asks it exactly as it would ask Route 53.
Not emulated: alias records, wildcard records, weighted/latency routing, DNSSEC, CAA.
"""

import sys

from dnslib import AAAA, CNAME, MX, NS, QTYPE, RCODE, RR, SOA, TXT, A, DNSLabel
from dnslib.server import BaseResolver, DNSServer

from . import state


def _zones() -> list:
    from moto.route53.models import route53_backends

    zones = []
    for account in list(route53_backends.values()):
        for backend in list(account.values()):
            zones.extend(z for z in list(backend.zones.values()) if not z.private_zone)
    return zones


def _delegated(candidates: list):
    """The zone that answers: the longest one holding the name. Route 53 lets an account create
    several public zones with one name (a migration, a test copy), each with its own name servers;
    the parent zone delegates to one of them, and only that one answers the world. The bed's
    setting `route53_delegations` ({zone name: zone id}) says which; without it, the first created.
    https://docs.aws.amazon.com/Route53/latest/DeveloperGuide/hosted-zones-migrating.html"""
    longest = max(len(state.normalize_dns_name(z.name)) for z in candidates)
    tied = [z for z in candidates if len(state.normalize_dns_name(z.name)) == longest]
    chosen = (state.SETTINGS.get("route53_delegations") or {}).get(state.normalize_dns_name(tied[0].name))
    return next((z for z in tied if z.id.split("/")[-1] == chosen), tied[0])


def _txt_strings(value: str) -> list[bytes]:
    """Route 53 TXT values are one or more quoted strings: "a" "b"."""
    out, cur, quoted, escape = [], [], False, False
    for ch in value:
        if escape:
            cur.append(ch)
            escape = False
        elif ch == "\\":
            escape = True
        elif ch == '"':
            if quoted:
                out.append("".join(cur).encode())
                cur = []
            quoted = not quoted
        elif quoted:
            cur.append(ch)
    if not out and value and '"' not in value:
        out = [value.encode()]
    return out


def _rdata(rtype: str, value):
    if isinstance(value, dict):  # moto keeps the SOA it creates as {"Value": ...}
        value = value["Value"]
    if rtype == "TXT":
        return TXT(_txt_strings(value))
    if rtype == "A":
        return A(value)
    if rtype == "AAAA":
        return AAAA(value)
    if rtype == "NS":
        return NS(value)
    if rtype == "CNAME":
        return CNAME(value)
    if rtype == "MX":
        pref, _, host = value.partition(" ")
        return MX(host, int(pref))
    if rtype == "SOA":
        f = value.split()
        return SOA(f[0], f[1], tuple(int(x) for x in f[2:7]))
    return None


class Route53Resolver(BaseResolver):
    def __init__(self, own_address: str):
        self.own_address = own_address

    def resolve(self, request, handler):
        reply = request.reply()
        reply.header.aa = 1
        qname = str(request.q.qname)
        name = state.normalize_dns_name(qname)
        qtype = QTYPE[request.q.qtype]
        with state.LOCK:
            zones = _zones()
            nameservers = {state.normalize_dns_name(ns) for z in zones for ns in (z.delegation_set.name_servers if z.delegation_set else [])}
            if name in nameservers and qtype in ("A", "ANY"):
                reply.add_answer(RR(qname, QTYPE.A, rdata=A(self.own_address), ttl=60))
                return reply
            candidates = [z for z in zones if name == state.normalize_dns_name(z.name) or name.endswith("." + state.normalize_dns_name(z.name))]
            if not candidates:
                reply.header.rcode = RCODE.REFUSED
                reply.header.aa = 0
                return reply
            zone = _delegated(candidates)
            rrsets = [r for r in list(zone.rrsets) if state.normalize_dns_name(r.name) == name]
            soa = next((r for r in zone.rrsets if r.type == "SOA"), None)
        matching = [r for r in rrsets if r.type == qtype or (qtype == "ANY")] or [r for r in rrsets if r.type == "CNAME"]
        for rrset in matching:
            for value in rrset.records or []:
                rdata = _rdata(rrset.type, value)
                if rdata is not None:
                    reply.add_answer(RR(qname, getattr(QTYPE, rrset.type), rdata=rdata, ttl=int(rrset.ttl or 300)))
        if not matching:
            below = any(state.normalize_dns_name(r.name).endswith("." + name) for r in zone.rrsets)
            if not rrsets and not below:
                reply.header.rcode = RCODE.NXDOMAIN
            if soa is not None:
                reply.add_auth(RR(DNSLabel(soa.name), QTYPE.SOA, rdata=_rdata("SOA", soa.records[0]), ttl=int(soa.ttl or 900)))
        return reply


def start(host: str, port: int) -> list[DNSServer]:
    resolver = Route53Resolver(host)
    servers = [DNSServer(resolver, port=port, address=host, tcp=tcp, logger=_QuietLogger()) for tcp in (False, True)]
    for s in servers:
        s.start_thread()
    return servers


class _QuietLogger:
    """dnslib logs every packet by default; keep only errors (to the moto log)."""

    def log_error(self, handler, e):
        print(f"dns: error answering {handler.client_address}: {e!r}", file=sys.stderr, flush=True)

    def __getattr__(self, _name):
        return lambda *a, **k: None
