"""The zones the bed's DNS serves (dns.py, resolver.py), read afresh for every query.

- Route 53's public hosted zones, from moto's state inside this process, so a record written by
  ChangeResourceRecordSets is answerable before that call returns. Private zones are not served
  (a CA cannot see them); alias records are not (they have no values of their own here).
- "Outside" zones: static zones a test sets, standing for a DNS provider outside AWS (DNSPod,
  Alibaba Cloud DNS) whose user delegates only `_acme-challenge.<name>` to a Route 53 zone with a
  CNAME, as lego, acme.sh --challenge-alias and cert-manager have them do. The setting
  `outside_zones` (POST /settings): {zone name: [{"name", "type", "value", "ttl"}, ...]}; a POST
  replaces the zones it names and keeps the others, `null` removes one. Types: A, AAAA, CAA
  (written as in Route 53, `0 issue "letsencrypt.org"`: dns.caa_rdata), CNAME, MX
  ("10 mail.example.com"), NS, TXT (one string, or Route 53's quoted strings); ttl defaults to
  300; names are absolute (the final dot optional) and inside the zone. A CNAME must be alone at
  its name and not at the apex (RFC 1034 section 3.6.2; providers refuse it as Route 53 does).
  Each zone gets an SOA and, unless its records set NS at the apex, the name servers
  OUTSIDE_NAME_SERVERS; NS records below the apex delegate (a referral). A wildcard `*.<name>` is
  written as in Route 53 (`*` or `\\052`); it cannot hold NS records (Route 53 refuses them; RFC
  4592 section 4.2).

Wildcards, as Route 53 answers them (as any authoritative server: RFC 4592, RFC 1034 section
4.3.3): https://docs.aws.amazon.com/Route53/latest/DeveloperGuide/DomainNameFormat.html#domain-name-format-asterisk
A record set at `*.<name>` (Route 53 keeps and lists it as `\\052.<name>`; either spelling reads as
`*` here, in Route 53's zones and the outside ones) answers for a name N of the zone that does not
exist (no record set at N, none below it) and whose closest encloser is `<name>`: the longest
ancestor of N that exists (holds records, or names below it do), the apex at least. So with
`*.example.com`, `a.example.com` and `a.b.example.com` are answered from it; an explicit name
(`_acme-challenge.example.com` with a TXT) is answered as itself, whatever type is asked; a name
below an existing one (`x.www.example.com` when `www.example.com` exists: its closest encloser is
www.example.com) is not matched, and a wildcard higher up never applies; a name that exists only
because names below it do (an empty non-terminal) is NODATA, not matched. dns.py answers with the
wildcard's record sets owned by the name asked (synthesis), a CNAME among them as any CNAME.

Every zone's name servers (Route 53's ns-*.awsdns-*, OUTSIDE_NAME_SERVERS, an outside zone's own
apex NS) resolve to the bed's authoritative listener: one address stands for all of them.

Which zone holds a name: the longest zone name that holds it (a server holding a parent and its
child answers from the child). Route 53 lets an account create several public zones with one name
(a migration, a test copy), each with its own name servers, and an outside zone may have the name
of a Route 53 zone the registrar does not point to: the parent delegates to one, and only that one
answers the world. The setting `route53_delegations` ({zone name: Route 53 zone id, or "outside"})
says which; without it, the outside zone if there is one, else the Route 53 zone created first.
https://docs.aws.amazon.com/Route53/latest/DeveloperGuide/hosted-zones-migrating.html
"""

from dataclasses import dataclass, field

from . import state

# Not under .invalid: resolvers answer NXDOMAIN for it without asking (RFC 6761 section 6.4;
# hickory-resolver does), so the product could never find the servers' addresses.
OUTSIDE_NAME_SERVERS = ("ns1.outside-dns.example", "ns2.outside-dns.example")
OUTSIDE_TYPES = ("A", "AAAA", "CAA", "CNAME", "MX", "NS", "TXT")


def holds(zone: str, name: str) -> bool:
    """Is `name` at or below `zone` (on label boundaries)? Both normalized."""
    return name == zone or name.endswith("." + zone)


@dataclass
class Zone:
    name: str  # normalized: lower case, no final dot
    ident: str  # the Route 53 zone id, or "outside"
    # owner -> type -> (ttl, [value, ...]); values as Route 53 writes them (TXT quoted or not)
    rrsets: dict[str, dict[str, tuple[int, list[str]]]] = field(default_factory=dict)

    def add(self, owner: str, rtype: str, ttl: int, values: list[str]) -> None:
        current = self.rrsets.setdefault(owner, {}).get(rtype)
        # Records with set identifiers (weighted, latency...) share a name and type: all answer.
        self.rrsets[owner][rtype] = (current[0] if current else ttl, (current[1] if current else []) + values)

    def at(self, owner: str) -> dict[str, tuple[int, list[str]]]:
        return self.rrsets.get(owner, {})

    def has_below(self, owner: str) -> bool:
        """An empty non-terminal (only names below it hold records) exists: NODATA, not NXDOMAIN."""
        return any(o.endswith("." + owner) for o in self.rrsets)

    def exists(self, owner: str) -> bool:
        """On the zone's tree: it holds records, or a name below it does (RFC 4592 section 2.2.2)."""
        return bool(self.at(owner)) or self.has_below(owner)

    def closest_encloser(self, owner: str) -> str:
        """The longest existing ancestor of `owner` (at or below the apex) (RFC 4592 section 3.3.1)."""
        while owner != self.name and not self.exists(owner):
            owner = owner.partition(".")[2]
        return owner

    def wildcard_for(self, owner: str) -> str | None:
        """The source of synthesis answering for `owner`: `*.<closest encloser>` when `owner` does
        not exist and that wildcard does (RFC 4592 sections 3.3.1, 4.1); None otherwise. A wildcard
        higher up never applies, nor one below the name asked."""
        if self.exists(owner):
            return None
        source = "*." + self.closest_encloser(owner.partition(".")[2])
        return source if self.exists(source) else None

    def cut(self, owner: str) -> str | None:
        """The delegation `owner` is at or below: the highest name strictly below the apex, at or
        above `owner`, that holds NS records."""
        labels = owner[: -len(self.name) - 1].split(".") if owner != self.name else []
        for i in range(len(labels) - 1, -1, -1):
            candidate = ".".join(labels[i:] + [self.name])
            if "NS" in self.at(candidate):
                return candidate
        return None

    def soa(self) -> tuple[int, str]:
        return self.at(self.name)["SOA"][0], self.at(self.name)["SOA"][1][0]


def _route53_public() -> list:
    from moto.route53.models import route53_backends

    zones = []
    for account in list(route53_backends.values()):
        for backend in list(account.values()):
            zones.extend(z for z in list(backend.zones.values()) if not z.private_zone)
    return zones


def _from_route53(z) -> Zone:
    zone = Zone(state.normalize_dns_name(z.name), z.id.split("/")[-1])
    for r in list(z.rrsets):
        values = [v["Value"] if isinstance(v, dict) else v for v in (r.records or [])]  # moto keeps its SOA as {"Value": ...}
        if values:
            zone.add(state.unescape_record_name(r.name), r.type, int(r.ttl or 300), values)
    return zone


def outside_zones() -> dict[str, list[dict]]:
    return {state.normalize_dns_name(k): v for k, v in (state.SETTINGS.get("outside_zones") or {}).items() if v is not None}


def _from_outside(name: str, records: list[dict]) -> Zone:
    zone = Zone(name, "outside")
    zone.add(name, "SOA", 900, [f"{OUTSIDE_NAME_SERVERS[0]}. hostmaster.{name}. 1 7200 900 1209600 300"])
    for r in records:
        zone.add(state.unescape_record_name(r["name"]), r["type"], int(r.get("ttl", 300)), [r["value"]])
    if "NS" not in zone.at(name):
        zone.add(name, "NS", 172800, [ns + "." for ns in OUTSIDE_NAME_SERVERS])
    return zone


def zone_for(name: str) -> Zone | None:
    """The zone that answers for `name` (normalized), or None if no zone of the bed holds it.
    Call with state.LOCK held."""
    route53 = [z for z in _route53_public() if holds(state.normalize_dns_name(z.name), name)]
    outside = {n: recs for n, recs in outside_zones().items() if holds(n, name)}
    names = [state.normalize_dns_name(z.name) for z in route53] + list(outside)
    if not names:
        return None
    longest = max(names, key=len)
    tied = [z for z in route53 if state.normalize_dns_name(z.name) == longest]
    chosen = (state.SETTINGS.get("route53_delegations") or {}).get(longest)
    picked = next((z for z in tied if z.id.split("/")[-1] == chosen), None)
    if picked is None and longest in outside:
        return _from_outside(longest, outside[longest])
    return _from_route53(picked or tied[0])


def name_servers() -> set[str]:
    """The host names of every zone's name servers (normalized). Call with state.LOCK held."""
    names = {state.normalize_dns_name(ns) for z in _route53_public() for ns in (z.delegation_set.name_servers if z.delegation_set else [])}
    names.update(OUTSIDE_NAME_SERVERS)
    for zone, records in outside_zones().items():
        names.update(state.normalize_dns_name(r["value"]) for r in records if r["type"] == "NS" and state.normalize_dns_name(r["name"]) == zone)
    return names


def check_outside_zones(value) -> None:
    """Refuse (ValueError) an `outside_zones` setting the DNS server could not serve."""
    if not isinstance(value, dict):
        raise ValueError("outside_zones is {zone name: [records] or null}")
    for zone_name, records in value.items():
        if records is None:
            continue
        zone = state.normalize_dns_name(zone_name)
        if not zone or not isinstance(records, list):
            raise ValueError(f"outside_zones[{zone_name!r}] must be a list of records or null")
        types: dict[str, set] = {}
        for r in records:
            if not isinstance(r, dict) or not isinstance(r.get("name"), str) or not isinstance(r.get("value"), str):
                raise ValueError(f"outside_zones[{zone_name!r}]: each record is {{name, type, value, ttl}}: {r!r}")
            name = state.unescape_record_name(r["name"])
            if r.get("type") not in OUTSIDE_TYPES:
                raise ValueError(f"outside_zones[{zone_name!r}]: type {r.get('type')!r} is not one of {OUTSIDE_TYPES}")
            if not holds(zone, name):
                raise ValueError(f"outside_zones[{zone_name!r}]: {r['name']} is not in the zone")
            if not isinstance(r.get("ttl", 300), int):
                raise ValueError(f"outside_zones[{zone_name!r}]: ttl must be an integer: {r!r}")
            if r["type"] == "CNAME" and name == zone:
                raise ValueError(f"outside_zones[{zone_name!r}]: a CNAME cannot be at the zone apex")
            if r["type"] == "CAA":
                from .dns import caa_rdata  # dns.py imports this module

                if caa_rdata(r["value"]) is None:
                    raise ValueError(f"outside_zones[{zone_name!r}]: {r['value']!r} is not a CAA value (flags tag \"value\")")
            if r["type"] == "NS" and name.startswith("*."):
                raise ValueError(f"outside_zones[{zone_name!r}]: a wildcard cannot have NS records")
            types.setdefault(name, []).append(r["type"])
        for name, kinds in types.items():
            if "CNAME" in kinds and len(kinds) > 1:
                raise ValueError(f"outside_zones[{zone_name!r}]: a CNAME at {name} must be its only record")
