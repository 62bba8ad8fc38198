"""The bed's DNS (motobed/dns.py, resolver.py, zones.py): the authoritative listener (BED_DNS) and the
resolving one (BED_DNS_RESOLVING) over Route 53's zones and the outside zones a test sets, wildcard
records answered as Route 53 answers them, and Pebble validating a DNS-01 challenge delegated by
CNAME through the resolving one.

Bed self-tests (skipped on plain moto): the DNS serves the same either way.
"""

import base64
import hashlib
import json
import ssl
import time
import urllib.error
import urllib.request

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from dnslib import QTYPE, RCODE, DNSRecord

from conftest import control, unique
from test_fidelity_route53 import change, cname, txt, zone


def ask(bed, listener, name, qtype="TXT", rd=True, address=None):
    """`listener`: "BED_DNS" (authoritative) or "BED_DNS_RESOLVING"; or an `address` (host, port)."""
    host, port = address or bed[listener].rsplit(":", 1)
    q = DNSRecord.question(name, qtype)
    q.header.rd = int(rd)
    return DNSRecord.parse(q.send(host, int(port), timeout=2))


def chain(reply) -> list[tuple[str, str, str]]:
    return [(str(rr.rname).rstrip(".").lower(), QTYPE[rr.rtype], str(rr.rdata).strip('"').rstrip(".")) for rr in reply.rr]


def outside(bed, name, *records):
    """Set the outside zone `name` to `records` ((name, type, value), ...)."""
    control(bed, "/settings", {"outside_zones": {name: [{"name": n, "type": t, "value": v, "ttl": 300} for n, t, v in records]}})


@pytest.fixture
def challenge_zone(clients):
    """A Route 53 zone made for challenges: (client, zone id, name)."""
    r53 = clients("route53")
    zid, name = zone(r53, f"{unique('challenges')}.example.cn")
    return r53, zid, name


def test_a_delegated_challenge_is_the_cname_at_its_servers_and_the_cname_then_the_txt_at_a_resolver(bed, challenge_zone):
    r53, zid, challenges = challenge_zone
    site = f"{unique('outside')}.example.com"
    record, target = f"_acme-challenge.www.{site}", f"_acme-challenge.www.{site}.{challenges}"
    outside(bed, site, (record, "CNAME", target + "."))
    change(r53, zid, txt("CREATE", target, "token"))

    at_servers = ask(bed, "BED_DNS", record, rd=False)
    assert at_servers.header.rcode == RCODE.NOERROR and at_servers.header.aa == 1 and at_servers.header.ra == 0
    assert chain(at_servers) == [(record, "CNAME", target)], "another zone's records are the resolver's to find"
    assert chain(ask(bed, "BED_DNS", target)) == [(target, "TXT", "token")]

    resolved = ask(bed, "BED_DNS_RESOLVING", record)
    assert resolved.header.rcode == RCODE.NOERROR and resolved.header.aa == 0 and resolved.header.ra == 1
    assert chain(resolved) == [(record, "CNAME", target), (target, "TXT", "token")]


def test_chains_of_two_across_zones_and_within_one(bed, challenge_zone):
    r53, zid, challenges = challenge_zone
    first, second = f"{unique('first')}.example.com", f"{unique('second')}.example.com"
    a, b, c = f"_acme-challenge.{first}", f"_acme-challenge.{second}", f"_acme-challenge.x.{challenges}"
    outside(bed, first, (a, "CNAME", b))
    outside(bed, second, (b, "CNAME", c))
    change(r53, zid, txt("CREATE", c, "one", "two"))
    assert chain(ask(bed, "BED_DNS_RESOLVING", a)) == [(a, "CNAME", b), (b, "CNAME", c), (c, "TXT", "one"), (c, "TXT", "two")]

    # Within one zone the authoritative server follows the chain itself, as real ones do.
    inner = f"inner.{challenges}"
    change(r53, zid, cname("CREATE", inner, c))
    assert chain(ask(bed, "BED_DNS", inner)) == [(inner, "CNAME", c), (c, "TXT", "one"), (c, "TXT", "two")]
    assert chain(ask(bed, "BED_DNS", inner, "CNAME")) == [(inner, "CNAME", c)]


def test_the_resolver_answers_missing_targets_loops_and_unknown_names_as_a_resolver_does(bed, challenge_zone):
    r53, zid, challenges = challenge_zone
    site = f"{unique('outside')}.example.com"
    missing, nodata, loop, far = (f"{label}.{site}" for label in ("missing", "nodata", "loop", "far"))
    outside(bed, site,
            (missing, "CNAME", f"nothing.{challenges}"), (nodata, "CNAME", f"www.{challenges}"),
            (loop, "CNAME", f"loop.{challenges}"), (far, "CNAME", "nowhere.invalid"))
    change(r53, zid, {"Action": "CREATE", "ResourceRecordSet": {"Name": f"www.{challenges}", "Type": "A", "TTL": 60,
                                                                 "ResourceRecords": [{"Value": "192.0.2.1"}]}},
           cname("CREATE", f"loop.{challenges}", loop))

    gone = ask(bed, "BED_DNS_RESOLVING", missing)
    assert gone.header.rcode == RCODE.NXDOMAIN, "the rcode is the chain's last name's (RFC 6604)"
    assert chain(gone) == [(missing, "CNAME", f"nothing.{challenges}")]
    assert QTYPE[gone.auth[0].rtype] == "SOA" and str(gone.auth[0].rname).rstrip(".") == challenges

    empty = ask(bed, "BED_DNS_RESOLVING", nodata)
    assert empty.header.rcode == RCODE.NOERROR and chain(empty) == [(nodata, "CNAME", f"www.{challenges}")] and empty.auth
    assert chain(ask(bed, "BED_DNS_RESOLVING", nodata, "A"))[-1] == (f"www.{challenges}", "A", "192.0.2.1")

    assert ask(bed, "BED_DNS_RESOLVING", loop).header.rcode == RCODE.SERVFAIL
    assert ask(bed, "BED_DNS_RESOLVING", far).header.rcode == RCODE.NXDOMAIN, "the bed has no Internet"
    assert ask(bed, "BED_DNS_RESOLVING", "nowhere.invalid").header.rcode == RCODE.NXDOMAIN
    assert ask(bed, "BED_DNS", "nowhere.invalid").header.rcode == RCODE.REFUSED

    long_site = f"{unique('long')}.example.com"
    outside(bed, long_site, *[(f"c{i}.{long_site}", "CNAME", f"c{i + 1}.{long_site}") for i in range(9)],
            (f"c9.{long_site}", "TXT", "end"))
    assert ask(bed, "BED_DNS_RESOLVING", f"c1.{long_site}").rr[-1].rtype == QTYPE.TXT, "8 CNAMEs are followed"
    assert ask(bed, "BED_DNS_RESOLVING", f"c0.{long_site}").header.rcode == RCODE.SERVFAIL, "9 are not"


def test_ns_queries_find_the_zone_cut_and_the_name_servers_resolve_to_the_authoritative_listener(bed, challenge_zone):
    r53, zid, challenges = challenge_zone
    site = f"{unique('outside')}.example.com"
    outside(bed, site, (f"www.{site}", "A", "192.0.2.7"), (f"sub.{site}", "NS", "ns1.elsewhere.example.net."))
    change(r53, zid, {"Action": "CREATE", "ResourceRecordSet": {"Name": f"www.{challenges}", "Type": "A", "TTL": 60,
                                                                 "ResourceRecords": [{"Value": "192.0.2.8"}]}})
    authoritative_host = bed["BED_DNS"].rsplit(":", 1)[0]
    for listener in ("BED_DNS", "BED_DNS_RESOLVING"):
        for apex in (site, challenges):
            ns = ask(bed, listener, apex, "NS")
            assert ns.rr and all(rr.rtype == QTYPE.NS for rr in ns.rr), (listener, apex)
            for server in ns.rr:
                assert [str(rr.rdata) for rr in ask(bed, listener, str(server.rdata), "A").rr] == [authoritative_host]
                assert not ask(bed, listener, str(server.rdata), "AAAA").rr
            below = ask(bed, listener, f"www.{apex}", "NS")
            assert below.header.rcode == RCODE.NOERROR and not below.rr and QTYPE[below.auth[0].rtype] == "SOA"
            assert str(below.auth[0].rname).rstrip(".") == apex, "the SOA names the zone cut"
    # A delegation to servers outside the bed: a referral from its parent's servers; lame for a resolver.
    referral = ask(bed, "BED_DNS", f"_acme-challenge.sub.{site}", rd=False)
    assert referral.header.aa == 0 and not referral.rr and QTYPE[referral.auth[0].rtype] == "NS"
    assert ask(bed, "BED_DNS_RESOLVING", f"_acme-challenge.sub.{site}").header.rcode == RCODE.SERVFAIL


def test_outside_zones_merge_by_zone_and_null_removes_one(bed):
    one, two = f"{unique('one')}.example.com", f"{unique('two')}.example.com"
    outside(bed, one, (f"a.{one}", "TXT", "1"))
    outside(bed, two, (f"a.{two}", "TXT", "2"))
    outside(bed, one, (f"b.{one}", "TXT", "3"))
    assert chain(ask(bed, "BED_DNS", f"a.{two}")) == [(f"a.{two}", "TXT", "2")]
    assert ask(bed, "BED_DNS", f"a.{one}").header.rcode == RCODE.NXDOMAIN, "a POST replaces the zone"
    control(bed, "/settings", {"outside_zones": {one: None}})
    assert ask(bed, "BED_DNS", f"b.{one}").header.rcode == RCODE.REFUSED
    assert one not in control(bed, "/settings", method="GET")["outside_zones"]
    for bad in ([{"name": f"x.{two}", "type": "CNAME", "value": "y."}, {"name": f"x.{two}", "type": "TXT", "value": "z"}],
                [{"name": two, "type": "CNAME", "value": "y."}], [{"name": "x.elsewhere.example", "type": "TXT", "value": "z"}],
                [{"name": f"x.{two}", "type": "SRV", "value": "z"}]):
        with pytest.raises(urllib.error.HTTPError) as e:
            control(bed, "/settings", {"outside_zones": {two: bad}})
        assert e.value.code == 400
    assert chain(ask(bed, "BED_DNS", f"a.{two}")) == [(f"a.{two}", "TXT", "2")], "a refused POST changes nothing"


def test_the_delegated_one_of_same_name_zones_answers_on_both_listeners(bed, clients):
    r53 = clients("route53")
    name = f"{unique('twins')}.example.cn"
    (first, _), (second, _) = zone(r53, name), zone(r53, name)
    change(r53, first, txt("CREATE", f"_acme-challenge.{name}", "first"))
    change(r53, second, txt("CREATE", f"_acme-challenge.{name}", "second"))
    for listener in ("BED_DNS", "BED_DNS_RESOLVING"):
        assert chain(ask(bed, listener, f"_acme-challenge.{name}"))[0][2] == "first", listener
    control(bed, "/settings", {"route53_delegations": {name: second.split("/")[-1]}})
    outside(bed, name, (f"_acme-challenge.{name}", "TXT", "outside"))
    for listener in ("BED_DNS", "BED_DNS_RESOLVING"):
        assert chain(ask(bed, listener, f"_acme-challenge.{name}"))[0][2] == "second", listener
    control(bed, "/settings", {"route53_delegations": {name: "outside"}})
    for listener in ("BED_DNS", "BED_DNS_RESOLVING"):
        assert chain(ask(bed, listener, f"_acme-challenge.{name}"))[0][2] == "outside", listener


def test_the_products_path_on_port_53_resolver_then_the_zones_servers(bed, challenge_zone):
    """What the product does with CERT_ROTATOR_DNS_RESOLVER (an IP, port 53): NS up the name's
    ancestors to the zone cut, the servers' addresses, then the record at those servers, no recursion."""
    if bed.get("BED_DNS_PORT53") != "1":
        pytest.skip("the bed has no port 53 (CERT_ROTATOR_DNS_RESOLVER unusable, authoritative check off)")
    assert bed["CERT_ROTATOR_CHECK_AUTHORITATIVE"] == "true"
    r53, zid, challenges = challenge_zone
    site = f"{unique('outside')}.example.com"
    record, target = f"_acme-challenge.www.{site}", f"_acme-challenge.www.{site}.{challenges}"
    outside(bed, site, (record, "CNAME", target))
    change(r53, zid, txt("CREATE", target, "token"))
    resolver = (bed["CERT_ROTATOR_DNS_RESOLVER"], 53)
    for name, expected, apex in ((record, ("CNAME", target), site), (target, ("TXT", "token"), challenges)):
        labels = name.split(".")
        asked = (ask(bed, None, ".".join(labels[i:]), "NS", address=resolver) for i in range(len(labels)))
        servers = next(ns for ns in ([rr for rr in r.rr if rr.rtype == QTYPE.NS] for r in asked) if ns)
        assert str(servers[0].rname).rstrip(".") == apex
        for server in servers:
            (address,) = [str(rr.rdata) for rr in ask(bed, None, str(server.rdata), "A", address=resolver).rr]
            assert f"{address}:53" == bed["BED_DNS"]
            direct = ask(bed, None, name, rd=False, address=(address, 53))
            assert direct.header.aa == 1 and chain(direct) == [(name, *expected)]


# Wildcards, as Route 53 answers them (zones.py): `*.<closest encloser>` answers for names that do
# not exist, owned by the name asked.

def rcode(reply) -> str:
    return RCODE[reply.header.rcode]


def a_record(action, name, value, ttl=60):
    return {"Action": action, "ResourceRecordSet": {"Name": name, "Type": "A", "TTL": ttl, "ResourceRecords": [{"Value": value}]}}


def test_a_wildcard_cname_answers_for_missing_names_as_route53_does(bed, challenge_zone):
    """The CloudFront set-up: `*.example.cn CNAME dxxxx.cloudfront.cn` beside explicit names."""
    r53, zid, name = challenge_zone
    edge = f"d{unique('edge')}.cloudfront.cn"
    change(r53, zid, cname("CREATE", f"*.{name}", edge), txt("CREATE", f"_acme-challenge.{name}", "explicit"),
           a_record("CREATE", f"www.{name}", "192.0.2.1"))
    for missing in (f"foo.{name}", f"_acme-challenge.foo.{name}", f"a.b.{name}"):
        for qtype in ("TXT", "A", "NS", "CNAME"):
            reply = ask(bed, "BED_DNS", missing, qtype, rd=False)
            assert rcode(reply) == "NOERROR" and reply.header.aa == 1, (missing, qtype)
            assert chain(reply) == [(missing, "CNAME", edge)], (missing, qtype)
    assert chain(ask(bed, "BED_DNS", f"_acme-challenge.{name}")) == [(f"_acme-challenge.{name}", "TXT", "explicit")]
    explicit_a = ask(bed, "BED_DNS", f"_acme-challenge.{name}", "A")
    assert rcode(explicit_a) == "NOERROR" and not explicit_a.rr and QTYPE[explicit_a.auth[0].rtype] == "SOA", \
        "an explicit name is answered as itself, never from the wildcard"
    below = ask(bed, "BED_DNS", f"_acme-challenge.www.{name}")
    assert rcode(below) == "NXDOMAIN" and not below.rr, "its closest encloser is www: *.<zone> does not apply"
    assert chain(ask(bed, "BED_DNS", f"www.{name}", "A")) == [(f"www.{name}", "A", "192.0.2.1")]
    assert chain(ask(bed, "BED_DNS", f"*.{name}", "CNAME")) == [(f"*.{name}", "CNAME", edge)], "the wildcard itself"
    listed = {r["Name"] for r in r53.list_resource_record_sets(HostedZoneId=zid)["ResourceRecordSets"]}
    assert f"\\052.{name}." in listed, "Route 53 keeps it as \\052; the DNS reads it as *"


def test_a_random_sibling_tells_a_wildcard_from_a_delegation(bed, challenge_zone):
    """What the product relies on: a CNAME at `_acme-challenge.<name>` that a random sibling also
    gets, to the same target, is a wildcard's; a delegation's CNAME is the name's alone."""
    r53, zid, challenges = challenge_zone
    site = f"{unique('outside')}.example.com"
    edge = f"d{unique('edge')}.cloudfront.cn"
    delegated = f"_acme-challenge.api.{site}"
    outside(bed, site, (f"*.{site}", "CNAME", edge + "."), (delegated, "CNAME", f"{delegated}.{challenges}."))
    for listener in ("BED_DNS", "BED_DNS_RESOLVING"):
        real, sibling = ask(bed, listener, f"_acme-challenge.www.{site}"), ask(bed, listener, f"{unique('probe')}.www.{site}")
        assert chain(real)[0] == (f"_acme-challenge.www.{site}", "CNAME", edge), listener
        assert chain(sibling)[0][1:] == chain(real)[0][1:], listener
        real, sibling = ask(bed, listener, delegated), ask(bed, listener, f"{unique('probe')}.api.{site}")
        assert chain(real)[0] == (delegated, "CNAME", f"{delegated}.{challenges}"), listener
        assert rcode(sibling) == "NXDOMAIN" and not sibling.rr, f"{listener}: api.{site} exists, its closest encloser"


def test_a_wildcard_without_the_type_is_nodata_and_only_the_closest_enclosers_applies(bed):
    site = f"{unique('outside')}.example.com"
    outside(bed, site, (f"\\052.{site}", "TXT", "top"), (f"*.deep.{site}", "A", "192.0.2.9"),
            (f"*.deep.{site}", "AAAA", "2001:db8::9"))
    for listener in ("BED_DNS", "BED_DNS_RESOLVING"):
        assert chain(ask(bed, listener, f"x.{site}")) == [(f"x.{site}", "TXT", "top")], listener
        assert chain(ask(bed, listener, f"x.y.{site}")) == [(f"x.y.{site}", "TXT", "top")], listener
        for name, qtype in ((f"x.{site}", "A"), (f"y.deep.{site}", "TXT"), (f"deep.{site}", "TXT"), (f"deep.{site}", "A")):
            reply = ask(bed, listener, name, qtype)
            assert rcode(reply) == "NOERROR" and not reply.rr, (listener, name, qtype)
            assert QTYPE[reply.auth[0].rtype] == "SOA" and str(reply.auth[0].rname).rstrip(".") == site, (listener, name, qtype)
        assert chain(ask(bed, listener, f"z.y.deep.{site}", "A")) == [(f"z.y.deep.{site}", "A", "192.0.2.9")], listener
    every = ask(bed, "BED_DNS", f"y.deep.{site}", "ANY")
    assert sorted(chain(every)) == [(f"y.deep.{site}", "A", "192.0.2.9"), (f"y.deep.{site}", "AAAA", "2001:db8::9")]
    with pytest.raises(urllib.error.HTTPError) as e:
        control(bed, "/settings", {"outside_zones": {site: [{"name": f"*.{site}", "type": "NS", "value": "ns1.example.net."}]}})
    assert e.value.code == 400


def test_a_synthesized_cname_is_followed_within_its_zone_and_chased_by_the_resolver(bed, challenge_zone):
    r53, zid, challenges = challenge_zone
    site = f"{unique('outside')}.example.com"
    change(r53, zid, a_record("CREATE", f"edge.{challenges}", "192.0.2.5"), cname("CREATE", f"*.in.{challenges}", f"edge.{challenges}"),
           txt("CREATE", f"*.wild.{challenges}", "from-a-wildcard"))
    # Within its zone the authoritative server follows it itself.
    inner = f"x.in.{challenges}"
    assert chain(ask(bed, "BED_DNS", inner, "A")) == [(inner, "CNAME", f"edge.{challenges}"), (f"edge.{challenges}", "A", "192.0.2.5")]
    # Into another zone: the resolver chases it; and a CNAME may end on another zone's wildcard.
    record = f"_acme-challenge.www.{site}"
    outside(bed, site, (f"*.{site}", "CNAME", f"y.in.{challenges}."), (record, "CNAME", f"{record}.wild.{challenges}."))
    at_servers = ask(bed, "BED_DNS", f"shop.{site}", "A", rd=False)
    assert chain(at_servers) == [(f"shop.{site}", "CNAME", f"y.in.{challenges}")], "another zone's records are the resolver's to find"
    assert chain(ask(bed, "BED_DNS_RESOLVING", f"shop.{site}", "A")) == [
        (f"shop.{site}", "CNAME", f"y.in.{challenges}"), (f"y.in.{challenges}", "CNAME", f"edge.{challenges}"),
        (f"edge.{challenges}", "A", "192.0.2.5")]
    assert chain(ask(bed, "BED_DNS_RESOLVING", record)) == [
        (record, "CNAME", f"{record}.wild.{challenges}"), (f"{record}.wild.{challenges}", "TXT", "from-a-wildcard")]


# A minimal ACME client (RFC 8555) for Pebble: enough to have it validate a DNS-01 challenge.

def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class Acme:
    def __init__(self, bed):
        self.ctx = ssl.create_default_context(cafile=bed["CERT_ROTATOR_ACME_CA_BUNDLE"])
        with urllib.request.urlopen(bed["BED_PEBBLE_DIRECTORY"], context=self.ctx, timeout=10) as r:
            self.directory = json.loads(r.read())
        self.key = ec.generate_private_key(ec.SECP256R1())
        numbers = self.key.public_key().public_numbers()
        self.jwk = {"crv": "P-256", "kty": "EC", "x": _b64(numbers.x.to_bytes(32, "big")), "y": _b64(numbers.y.to_bytes(32, "big"))}
        self.thumbprint = _b64(hashlib.sha256(json.dumps(self.jwk, sort_keys=True, separators=(",", ":")).encode()).digest())
        self.kid = None
        self.nonce = None
        self.kid = self.post(self.directory["newAccount"], {"termsOfServiceAgreed": True})[1]["Location"]

    def post(self, url, payload):
        """(body, headers) of a signed POST (payload None: POST-as-GET), retried on badNonce."""
        for _ in range(5):
            if self.nonce is None:
                req = urllib.request.Request(self.directory["newNonce"], method="HEAD")
                with urllib.request.urlopen(req, context=self.ctx, timeout=10) as r:
                    self.nonce = r.headers["Replay-Nonce"]
            protected = {"alg": "ES256", "nonce": self.nonce, "url": url, **({"kid": self.kid} if self.kid else {"jwk": self.jwk})}
            signing_input = f"{_b64(json.dumps(protected).encode())}.{'' if payload is None else _b64(json.dumps(payload).encode())}"
            r_, s_ = decode_dss_signature(self.key.sign(signing_input.encode(), ec.ECDSA(hashes.SHA256())))
            protected_b64, payload_b64 = signing_input.split(".")
            body = json.dumps({"protected": protected_b64, "payload": payload_b64,
                               "signature": _b64(r_.to_bytes(32, "big") + s_.to_bytes(32, "big"))}).encode()
            req = urllib.request.Request(url, data=body, method="POST", headers={"Content-Type": "application/jose+json"})
            try:
                with urllib.request.urlopen(req, context=self.ctx, timeout=10) as r:
                    self.nonce = r.headers.get("Replay-Nonce")
                    return json.loads(r.read() or b"{}"), dict(r.headers)
            except urllib.error.HTTPError as e:
                self.nonce = e.headers.get("Replay-Nonce")
                problem = json.loads(e.read() or b"{}")
                if problem.get("type") != "urn:ietf:params:acme:error:badNonce":
                    raise AssertionError(f"{url}: {e.code} {problem}") from None
        raise AssertionError(f"{url}: badNonce five times")

    def dns01(self, authz_url):
        """(record value, challenge url) of an authorization's DNS-01 challenge."""
        authz = self.post(authz_url, None)[0]
        challenge = next(c for c in authz["challenges"] if c["type"] == "dns-01")
        key_authorization = f"{challenge['token']}.{self.thumbprint}"
        return _b64(hashlib.sha256(key_authorization.encode()).digest()), challenge["url"]

    def settle(self, authz_url, timeout=20.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            authz = self.post(authz_url, None)[0]
            if authz["status"] != "pending":
                return authz
            time.sleep(0.2)
        raise AssertionError(f"{authz_url} still pending after {timeout}s")


def test_pebble_validates_a_challenge_delegated_by_cname_through_the_resolving_listener(bed, challenge_zone):
    r53, zid, challenges = challenge_zone
    site = f"{unique('outside')}.example.com"
    good, bad = f"www.{site}", f"api.{site}"
    outside(bed, site, *[(f"_acme-challenge.{n}", "CNAME", f"_acme-challenge.{n}.{challenges}.") for n in (good, bad)])
    acme = Acme(bed)
    order = acme.post(acme.directory["newOrder"], {"identifiers": [{"type": "dns", "value": n} for n in (good, bad)]})[0]
    authzs = {acme.post(url, None)[0]["identifier"]["value"]: url for url in order["authorizations"]}
    (good_value, good_challenge), (_, bad_challenge) = acme.dns01(authzs[good]), acme.dns01(authzs[bad])
    change(r53, zid, txt("CREATE", f"_acme-challenge.{good}.{challenges}", good_value),
           txt("CREATE", f"_acme-challenge.{bad}.{challenges}", "not-the-key-authorization-digest"))
    acme.post(good_challenge, {})
    acme.post(bad_challenge, {})
    assert acme.settle(authzs[good])["status"] == "valid"
    failed = acme.settle(authzs[bad])
    assert failed["status"] == "invalid"
    assert "Correct value not found" in json.dumps(failed["challenges"]), failed
