"""The bed's DNS: an authoritative server answering from the bed's zones (zones.py: Route 53's
public hosted zones, read synchronously from moto's state, and the outside zones a test sets), and
the two listeners: this authoritative one and a resolving one (resolver.py).

Reading moto's state inside its process makes a record answerable before ChangeResourceRecordSets
returns (a mirror that polls Route 53 loses the race against a CA that validates at once).

The authoritative listener (BED_DNS: 127.0.53.53 port 53 when the bed can bind it) answers as a
zone's name servers do (RFC 1034 section 4.3.2), AA set and RA clear, like Route 53's:
- the records of the asked type at the name (ANY: all of them);
- at a name that does not exist, a wildcard's (zones.py: `*.<closest encloser>`, RFC 4592 section
  3.3.1) record sets as if they were the name's, owned by the name asked (AA set; a CNAME among
  them answered and followed as below); a wildcard without the asked type is NODATA, not NXDOMAIN;
- at a name holding a CNAME, any other type is answered with the CNAME, followed by the target's
  records when the target is in the same zone (chased within the zone, bounded, loop-safe); a
  target in another zone is left to the resolver, as a real authoritative server leaves it;
- NODATA (the name or a name below it exists) and NXDOMAIN carry the zone's SOA; at the end of a
  chain the rcode is the last name's (RFC 6604);
- at or below a delegation (NS below the apex to servers of a zone the bed does not serve): a
  referral, AA clear, the NS set in authority, the addresses of bed name servers as glue;
- names under no zone of the bed: REFUSED.
The zones' name servers (ns-*.awsdns-*, the outside zones' ones) resolve to this listener's
address (A; any other type is NODATA), so an authoritative-propagation check asks it exactly as it
would ask Route 53 or the outside provider.
CAA (RFC 8659) is answered like any other type, so a CAA query at a name holding a CNAME is answered
with the CNAME and followed as above (RFC 8659 section 3: a CAA lookup follows CNAMEs), and a name
without CAA is NODATA (NXDOMAIN if it does not exist) for a CA to climb to the parent: see caa_rdata.
The DNS is not part of the fidelity layer: it serves the same with `--plain` (motobed/__main__.py).
Not emulated: alias records, weighted/latency/geo routing (every value of a name and type answers
together), DNSSEC (so no NSEC proving a wildcard answer), EDNS (UDP answers over 512 bytes are
truncated by dnslib).
"""

import re
import sys
from dataclasses import dataclass, field

from dnslib import AAAA, CAA, CNAME, MX, NS, QTYPE, RCODE, RR, SOA, TXT, A, DNSLabel
from dnslib.server import BaseResolver, DNSServer

from . import state, zones

# CNAMEs followed within one answer (here within a zone; resolver.py across zones).
MAX_CHAIN = 8


@dataclass
class Answer:
    rcode: int = RCODE.NOERROR
    aa: bool = True
    answer: list = field(default_factory=list)
    authority: list = field(default_factory=list)
    additional: list = field(default_factory=list)
    referral: bool = False
    # The CNAME target this answer ends on and did not follow (another zone, or a loop).
    next: str | None = None


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


class _CaaRdata(CAA):
    r"""dnslib's CAA, with the value kept as bytes (a `\DDD` escape may stand for any octet) and
    packed as they are: RFC 8659 section 4.1, flags (1 octet), tag length (1 octet), tag, value
    (the rest of the RDATA, no length, no quotes)."""

    def pack(self, buffer):
        buffer.pack("!BB", self.flags, len(self.tag))
        buffer.append(self.tag.encode("ascii"))
        buffer.append(self.value)

    def __repr__(self):
        shown = "".join(chr(b) if 0x20 <= b < 0x7F and chr(b) not in '"\\' else f"\\{b:03d}" for b in self.value)
        return f'{self.flags} {self.tag} "{shown}"'


_CAA_VALUE = re.compile(r'\s*(\d{1,3}) +([A-Za-z0-9]{1,15}) +"(.*)"\s*', re.S)
_CAA_STRING = re.compile(r'(?:[^\\"]|\\(?:\d{3}|.))*', re.S)
_CAA_PIECE = re.compile(r'([^\\]+)|\\(\d{3}|.)', re.S)


def caa_rdata(value: str):
    r"""The CAA rdata of a Route 53 Value, or None if the value is not one (it is then not answered;
    Route 53 would have refused it, moto stores anything).

    Route 53 writes a CAA record as three fields separated by spaces, `flags tag "value"`, the value
    always in quotation marks; a CA's parameters go inside the quotes as name=value pairs after a
    semicolon (`0 issue "letsencrypt.org; accounturi=https://...; validationmethods=dns-01"`);
    flags 128 marks a property critical:
    https://docs.aws.amazon.com/Route53/latest/DeveloperGuide/ResourceRecordTypes.html#CAAFormat
    On the wire (RFC 8659 section 4.1): the flags octet, the tag's length (one octet), the tag as
    written (CAs match tags case-insensitively), then the value up to the end of the RDATA: the
    text between the quotes, without them, `\"` and `\\` read as `"` and `\`, `\DDD` as the octet
    DDD (zone-file character strings, RFC 1035 section 5.1)."""
    m = _CAA_VALUE.fullmatch(value)
    if m is None or int(m.group(1)) > 255:
        return None
    flags, tag, quoted = int(m.group(1)), m.group(2), m.group(3)
    if _CAA_STRING.fullmatch(quoted) is None:
        return None  # a quote inside the value that is not escaped, or a dangling backslash
    octets = bytearray()
    for plain, escaped in _CAA_PIECE.findall(quoted):
        if plain:
            octets += plain.encode()
        elif escaped.isdigit():
            if int(escaped) > 255:
                return None
            octets.append(int(escaped))
        else:
            octets += escaped.encode()
    return _CaaRdata(flags, tag, bytes(octets))


def _rdata(rtype: str, value: str):
    if rtype == "CAA":
        return caa_rdata(value)
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


def rrs(owner: str, rtype: str, ttl: int, values: list[str]) -> list[RR]:
    out = []
    for value in values:
        rdata = _rdata(rtype, value)
        if rdata is not None:
            out.append(RR(DNSLabel(owner), getattr(QTYPE, rtype), rdata=rdata, ttl=ttl))
    return out


def _soa(zone: zones.Zone) -> list[RR]:
    ttl, value = zone.soa()
    return rrs(zone.name + ".", "SOA", ttl, [value])


def lookup(qname: str, qtype: str, ns_address: str) -> Answer:
    """The authoritative answer for `qname` (as asked) and `qtype` (a QTYPE name); the bed's name
    servers resolve to `ns_address`."""
    name = state.normalize_dns_name(qname)
    with state.LOCK:
        if name in zones.name_servers():
            return Answer(answer=rrs(qname, "A", 60, [ns_address]) if qtype in ("A", "ANY") else [])
        zone = zones.zone_for(name)
        if zone is None:
            return Answer(rcode=RCODE.REFUSED, aa=False)
        return _from_zone(zone, qname, qtype, ns_address)


def _from_zone(zone: zones.Zone, qname: str, qtype: str, ns_address: str) -> Answer:
    out = Answer()
    owner, name, seen = qname, state.normalize_dns_name(qname), set()
    while True:
        cut = zone.cut(name)
        if cut is not None:  # RFC 1034 4.3.2 step 3b: a referral (AA stays for a CNAME already answered)
            ttl, servers = zone.at(cut)["NS"]
            out.authority += rrs(cut + ".", "NS", ttl, servers)
            bed_servers = zones.name_servers()
            for ns in servers:
                glue = [ns_address] if state.normalize_dns_name(ns) in bed_servers else zone.at(state.normalize_dns_name(ns)).get("A", (0, []))[1]
                out.additional += rrs(ns, "A", 60, glue)
            out.referral, out.aa = True, bool(out.answer)
            return out
        source = zone.wildcard_for(name)  # RFC 4592 section 3.3.1: synthesized, owned by the name asked
        here = zone.at(source if source is not None else name)
        matching = [t for t in here if t == qtype or qtype == "ANY"]
        for t in matching:
            out.answer += rrs(owner, t, *here[t])
        if matching:
            return out
        if "CNAME" in here:
            ttl, (target, *_) = here["CNAME"]
            out.answer += rrs(owner, "CNAME", ttl, [target])
            seen.add(name)
            owner, name = target, state.normalize_dns_name(target)
            if not zones.holds(zone.name, name) or name in seen or len(seen) > MAX_CHAIN:
                out.next = name
                return out
            continue
        if source is None and not zone.exists(name):
            out.rcode = RCODE.NXDOMAIN
        out.authority += _soa(zone)
        return out


def reply_to(request, answer: Answer, recursive: bool):
    reply = request.reply(ra=int(recursive), aa=int(answer.aa))
    reply.header.rcode = answer.rcode
    for rr in answer.answer:
        reply.add_answer(rr)
    for rr in answer.authority:
        reply.add_auth(rr)
    for rr in answer.additional:
        reply.add_ar(rr)
    return reply


class Authoritative(BaseResolver):
    def __init__(self, own_address: str):
        self.own_address = own_address

    def resolve(self, request, handler):
        answer = lookup(str(request.q.qname), QTYPE[request.q.qtype], self.own_address)
        return reply_to(request, answer, recursive=False)


def start(host: str, port: int, resolving_host: str, resolving_port: int) -> list[DNSServer]:
    """The authoritative listener on host:port, the resolving one on resolving_host:resolving_port."""
    from .resolver import Recursive

    servers = []
    for resolver, address, p in ((Authoritative(host), host, port), (Recursive(host), resolving_host, resolving_port)):
        servers += [DNSServer(resolver, port=p, address=address, tcp=tcp, logger=_QuietLogger()) for tcp in (False, True)]
    for s in servers:
        s.start_thread()
    return servers


class _QuietLogger:
    """dnslib logs every packet by default; keep only errors (to the moto log)."""

    def log_error(self, handler, e):
        print(f"dns: error answering {handler.client_address}: {e!r}", file=sys.stderr, flush=True)

    def __getattr__(self, _name):
        return lambda *a, **k: None
