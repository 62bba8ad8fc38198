"""CAA records (RFC 8659) on the bed's DNS (motobed/dns.py, caa_rdata): Route 53's CAA record sets
answered by the authoritative listener and the resolving one, value for value, as a CA's resolver
reads them; NODATA where a name has none, so a CA climbs to the parent; CNAMEs followed.

Bed self-tests, not fidelity tests: the DNS is the bed's own stand-in for Route 53's name servers
and serves the same with `bed.py up --plain` (motobed/__main__.py), so these are skipped there.
"""

import urllib.error

import pytest
from dnslib import QTYPE, RCODE, DNSRecord

from conftest import control, unique
from test_bed_dns import a_record, ask, challenge_zone, outside  # noqa: F401 (a fixture)
from test_fidelity_route53 import change, cname

LISTENERS = ("BED_DNS", "BED_DNS_RESOLVING")

# Values as Route 53 takes them (ResourceRecordTypes.html#CAAFormat) and what a CA reads from the
# wire: (flags, tag, value without its quotes).
ACCOUNT = "https://acme-v02.api.letsencrypt.org/acme/acct/123456789"
VALUES = {
    '0 issue "letsencrypt.org"': (0, "issue", "letsencrypt.org"),
    f'0 issue "letsencrypt.org; accounturi={ACCOUNT}; validationmethods=dns-01"':
        (0, "issue", f"letsencrypt.org; accounturi={ACCOUNT}; validationmethods=dns-01"),
    '0 issuewild ";"': (0, "issuewild", ";"),
    '0 iodef "mailto:security@example.cn"': (0, "iodef", "mailto:security@example.cn"),
    '128 tbs "Unknown"': (128, "tbs", "Unknown"),
}


def caa(action, name, *values, ttl=3600):
    return {"Action": action, "ResourceRecordSet": {"Name": name, "Type": "CAA", "TTL": ttl,
                                                     "ResourceRecords": [{"Value": v} for v in values]}}


def caa_rrs(reply) -> list[tuple[str, int, str, str]]:
    """(owner, flags, tag, value) of the CAA records of an answer section."""
    return [(str(rr.rname).rstrip(".").lower(), rr.rdata.flags, rr.rdata.tag, rr.rdata.value)
            for rr in reply.rr if rr.rtype == QTYPE.CAA]


def types(reply) -> list[str]:
    return [QTYPE[rr.rtype] for rr in reply.rr]


def nodata(reply, zone) -> bool:
    return (reply.header.rcode == RCODE.NOERROR and not reply.rr and QTYPE[reply.auth[0].rtype] == "SOA"
            and str(reply.auth[0].rname).rstrip(".") == zone)


def relevant_caa(bed, listener, name):
    """RFC 8659 section 3: the CAA set of the name, else of its parent, and so on up the tree;
    (the name it was found at, its records) or (None, [])."""
    labels = name.split(".")
    for i in range(len(labels) - 1):
        here = ".".join(labels[i:])
        found = caa_rrs(ask(bed, listener, here, "CAA"))
        if found:
            return here, found
    return None, []


def test_a_caa_record_set_is_answered_value_for_value(bed, challenge_zone):
    r53, zid, zone = challenge_zone
    change(r53, zid, caa("CREATE", zone, *VALUES))
    listed = next(r for r in r53.list_resource_record_sets(HostedZoneId=zid)["ResourceRecordSets"] if r["Type"] == "CAA")
    assert sorted(r["Value"] for r in listed["ResourceRecords"]) == sorted(VALUES), "Route 53 (moto) keeps the values as written"
    want = sorted((zone, *wire) for wire in VALUES.values())
    for listener in LISTENERS:
        reply = ask(bed, listener, zone, "CAA")
        assert reply.header.rcode == RCODE.NOERROR and reply.header.aa == int(listener == "BED_DNS"), listener
        assert sorted(caa_rrs(reply)) == want, listener
        assert {rr.ttl for rr in reply.rr} == {3600}, listener
    # The RDATA on the wire (RFC 8659 section 4.1): flags octet, tag length, tag, value, no quotes.
    q = DNSRecord.question(zone, "CAA")
    host, port = bed["BED_DNS"].rsplit(":", 1)
    raw = q.send(host, int(port), timeout=2)
    value = f"letsencrypt.org; accounturi={ACCOUNT}; validationmethods=dns-01".encode()
    rdata = bytes([0, 5]) + b"issue" + value
    assert len(rdata).to_bytes(2, "big") + rdata in raw, "RDLENGTH then the RDATA, exactly"
    assert bytes([128, 3]) + b"tbs" + b"Unknown" in raw, "the issuer critical flag is 128"
    every = ask(bed, "BED_DNS", zone, "ANY")
    assert sorted(caa_rrs(every)) == want, "ANY includes them"


def test_a_name_without_caa_is_nodata_so_a_ca_climbs_to_the_parent(bed, challenge_zone):
    r53, zid, zone = challenge_zone
    change(r53, zid, caa("CREATE", zone, '0 issue "letsencrypt.org"'), a_record("CREATE", f"www.{zone}", "192.0.2.1"),
           caa("CREATE", f"locked.{zone}", '0 issue ";"'), a_record("CREATE", f"a.deep.{zone}", "192.0.2.2"))
    for listener in LISTENERS:
        assert nodata(ask(bed, listener, f"www.{zone}", "CAA"), zone), listener
        assert nodata(ask(bed, listener, f"deep.{zone}", "CAA"), zone), f"{listener}: an empty non-terminal"
        missing = ask(bed, listener, f"nothing.www.{zone}", "CAA")
        assert missing.header.rcode == RCODE.NXDOMAIN and not missing.rr, listener
        for name in (f"www.{zone}", f"nothing.www.{zone}", f"a.deep.{zone}", zone):
            assert relevant_caa(bed, listener, name) == (zone, [(zone, 0, "issue", "letsencrypt.org")]), (listener, name)
        # A set lower down is the relevant one for the names below it: the climb stops there.
        assert relevant_caa(bed, listener, f"x.locked.{zone}") == (f"locked.{zone}", [(f"locked.{zone}", 0, "issue", ";")]), listener
        assert ask(bed, listener, f"www.{zone}", "A").rr, listener
    # The other types are answered as before at a name holding CAA.
    assert nodata(ask(bed, "BED_DNS", f"locked.{zone}", "TXT"), zone)


def test_a_caa_lookup_follows_cnames_within_a_zone_and_across_zones(bed, challenge_zone):
    r53, zid, zone = challenge_zone
    target, plain = f"target.{zone}", f"plain.{zone}"
    change(r53, zid, caa("CREATE", target, '0 issue "letsencrypt.org"', '128 issuewild ";"'),
           a_record("CREATE", plain, "192.0.2.3"),
           cname("CREATE", f"alias.{zone}", target), cname("CREATE", f"to-plain.{zone}", plain))
    wire = [(target, 0, "issue", "letsencrypt.org"), (target, 128, "issuewild", ";")]
    for listener in LISTENERS:
        reply = ask(bed, listener, f"alias.{zone}", "CAA")
        assert types(reply) == ["CNAME", "CAA", "CAA"] and sorted(caa_rrs(reply)) == wire, listener
        assert str(reply.rr[0].rname).rstrip(".") == f"alias.{zone}" and str(reply.rr[0].rdata).rstrip(".") == target, listener
        # A CNAME to a name without CAA: the chain, then NODATA (the CA goes on to alias's parent).
        empty = ask(bed, listener, f"to-plain.{zone}", "CAA")
        assert empty.header.rcode == RCODE.NOERROR and types(empty) == ["CNAME"], listener
        assert QTYPE[empty.auth[0].rtype] == "SOA", listener

    # A site at an outside DNS provider pointing at a Route 53 name (a CDN set-up).
    site = f"{unique('outside')}.example.com"
    outside(bed, site, (f"www.{site}", "CNAME", target + "."), (site, "CAA", '0 issue "pki.goog"'))
    at_servers = ask(bed, "BED_DNS", f"www.{site}", "CAA", rd=False)
    assert types(at_servers) == ["CNAME"], "another zone's records are the resolver's to find"
    resolved = ask(bed, "BED_DNS_RESOLVING", f"www.{site}", "CAA")
    assert types(resolved) == ["CNAME", "CAA", "CAA"] and sorted(caa_rrs(resolved)) == wire
    assert caa_rrs(ask(bed, "BED_DNS_RESOLVING", site, "CAA")) == [(site, 0, "issue", "pki.goog")], "outside zones hold CAA too"


def test_outside_zones_refuse_what_is_not_a_caa_value(bed):
    site = f"{unique('outside')}.example.com"
    for bad in ("0 issue letsencrypt.org", '256 issue "x"', 'issue "x"', '0 issue "a"b"'):
        with pytest.raises(urllib.error.HTTPError) as e:
            control(bed, "/settings", {"outside_zones": {site: [{"name": site, "type": "CAA", "value": bad}]}})
        assert e.value.code == 400, bad
    outside(bed, site, (site, "CAA", r'0 issue "quoted \"inside\\"'))
    assert caa_rrs(ask(bed, "BED_DNS", site, "CAA")) == [(site, 0, "issue", 'quoted "inside\\')]


def test_a_route53_value_that_is_not_caa_is_not_answered(bed, challenge_zone):
    """moto stores any value; Route 53 would refuse these. The DNS answers the well-formed ones only."""
    r53, zid, zone = challenge_zone
    change(r53, zid, caa("CREATE", zone, '0 issue "letsencrypt.org"', "0 issue letsencrypt.org"))
    assert caa_rrs(ask(bed, "BED_DNS", zone, "CAA")) == [(zone, 0, "issue", "letsencrypt.org")]
