"""The resolving listener: answers as a recursive resolver would, from the bed's zones (zones.py),
by asking the authoritative side (dns.lookup) name after name.

Who asks it (BED_DNS_RESOLVING: 127.0.53.54 port 53 when the bed can bind it):
- Pebble, through `-dnsserver`. Pebble 2.4's VA sends one TXT query there, fails on any rcode but
  NOERROR, and keeps every TXT of the answer section whatever its owner: it follows no CNAME itself
  (va.go getTXTEntry), so a challenge delegated by CNAME validates only through a resolver that
  answers the chain and the target's TXT, as a CA's own resolver does.
- The product, as CERT_ROTATOR_DNS_RESOLVER (an IP, port 53: set only when the bed has port 53):
  NS queries up a name's ancestors to find its zone cut, then the name servers' addresses.

What it does, for every query (RD or not): RA set, AA clear;
- follows CNAME chains across zones (Route 53's and the outside ones), at most dns.MAX_CHAIN
  CNAMEs; a loop or a longer chain is SERVFAIL; a CNAME a wildcard synthesized (zones.py, dns.py:
  owned by the name asked) is chased as any other;
- answers the chain, then the final target's records of the asked type (no chasing for CNAME and
  ANY queries); the rcode is the last name's (NXDOMAIN when the target does not exist, RFC 6604),
  with that zone's SOA in authority for NODATA and NXDOMAIN;
- a delegation to servers of a zone the bed does not serve (lame) is SERVFAIL;
- a name under no zone of the bed is NXDOMAIN with the root's SOA: the bed has no Internet, and a
  name it does not serve is answered as a made-up name would be.
Not emulated: caching (every answer reads the zones afresh; a real resolver keeps answers for their
TTL and negative answers for the SOA minimum, RFC 2308 — a test would have to wait them out),
DNSSEC validation, query minimisation, ECS, retries across name servers.
"""

from dnslib import QTYPE, RCODE
from dnslib.server import BaseResolver

from . import dns, state

ROOT_SOA = dns.rrs(".", "SOA", 86400, ["a.root-servers.net. nstld.verisign-grs.com. 2024010100 1800 900 604800 86400"])


def resolve(qname: str, qtype: str, ns_address: str) -> dns.Answer:
    out = dns.Answer(aa=False)
    name = qname
    while True:
        step = dns.lookup(name, qtype, ns_address)
        if step.rcode == RCODE.REFUSED:  # under no zone of the bed (the name asked, or a CNAME's target)
            return dns.Answer(rcode=RCODE.NXDOMAIN, aa=False, answer=out.answer, authority=list(ROOT_SOA))
        if step.referral:
            return dns.Answer(rcode=RCODE.SERVFAIL, aa=False)
        out.answer += step.answer
        if step.next is None:
            out.rcode, out.authority = step.rcode, step.authority
            return out
        owners = {state.normalize_dns_name(str(rr.rname)) for rr in out.answer if rr.rtype == QTYPE.CNAME}
        if step.next in owners or len(owners) > dns.MAX_CHAIN:
            return dns.Answer(rcode=RCODE.SERVFAIL, aa=False)
        name = step.next


class Recursive(BaseResolver):
    def __init__(self, ns_address: str):
        self.ns_address = ns_address  # where the bed's name servers are: the authoritative listener

    def resolve(self, request, handler):
        answer = resolve(str(request.q.qname), QTYPE[request.q.qtype], self.ns_address)
        return dns.reply_to(request, answer, recursive=True)
