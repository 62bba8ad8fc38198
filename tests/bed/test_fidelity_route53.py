"""Route 53 rules of the fidelity layer (motobed/route53.py, motobed/faults.py), through boto3."""

import random
import time

import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

import stack as stack_module
from conftest import control, make_client, unique

pytestmark = pytest.mark.fidelity


def zone(r53, name=None):
    name = name or f"{unique('z')}.example.cn"
    zid = r53.create_hosted_zone(Name=name, CallerReference=unique("ref"))["HostedZone"]["Id"]
    return zid, name


def txt(action, name, *values, ttl=60):
    return {"Action": action, "ResourceRecordSet": {"Name": name, "Type": "TXT", "TTL": ttl,
                                                     "ResourceRecords": [{"Value": f'"{v}"'} for v in values]}}


def cname(action, name, target, ttl=300):
    return {"Action": action, "ResourceRecordSet": {"Name": name, "Type": "CNAME", "TTL": ttl,
                                                     "ResourceRecords": [{"Value": target}]}}


def change(r53, zid, *changes):
    return r53.change_resource_record_sets(HostedZoneId=zid, ChangeBatch={"Changes": list(changes)})["ChangeInfo"]


def code(e) -> str:
    return e.value.response["Error"]["Code"]


def test_each_change_has_its_own_id_pending_then_insync(clients, bed):
    control(bed, "/settings", {"route53_pending_polls": 2})
    r53 = clients("route53")
    zid, name = zone(r53)
    a = change(r53, zid, txt("CREATE", f"_acme-challenge.{name}", "one"))
    b = change(r53, zid, txt("UPSERT", f"_acme-challenge.{name}", "two"))
    assert a["Id"] != b["Id"] and a["Status"] == "PENDING"
    statuses = [r53.get_change(Id=a["Id"])["ChangeInfo"]["Status"] for _ in range(3)]
    assert statuses == ["PENDING", "PENDING", "INSYNC"]
    r53.get_waiter("resource_record_sets_changed").wait(Id=b["Id"], WaiterConfig={"Delay": 0, "MaxAttempts": 5})


def test_a_change_is_pending_for_its_propagation_time_however_often_it_is_polled(clients, bed):
    control(bed, "/settings", {"route53_pending_seconds": 1.0})
    r53 = clients("route53")
    zid, name = zone(r53)
    a = change(r53, zid, txt("CREATE", f"_acme-challenge.{name}", "one"))
    assert a["Status"] == "PENDING"
    statuses = [r53.get_change(Id=a["Id"])["ChangeInfo"]["Status"] for _ in range(5)]
    assert statuses == ["PENDING"] * 5
    time.sleep(1.1)
    assert r53.get_change(Id=a["Id"])["ChangeInfo"]["Status"] == "INSYNC"


def test_unknown_change_is_no_such_change(clients):
    with pytest.raises(ClientError) as e:
        clients("route53").get_change(Id="/change/CNOSUCHCHANGE")
    assert code(e) == "NoSuchChange"


def test_delete_must_match_exactly(clients):
    r53 = clients("route53")
    zid, name = zone(r53)
    rec = f"_acme-challenge.{name}"
    change(r53, zid, txt("CREATE", rec, "a", "b"))
    for wrong in (txt("DELETE", rec, "a"), txt("DELETE", rec, "a", "b", ttl=300), txt("DELETE", f"other.{name}", "a")):
        with pytest.raises(ClientError) as e:
            change(r53, zid, wrong)
        assert code(e) == "InvalidChangeBatch"
    change(r53, zid, txt("DELETE", rec, "b", "a"))


def test_create_over_an_existing_record_set_is_invalid(clients):
    r53 = clients("route53")
    zid, name = zone(r53)
    change(r53, zid, txt("UPSERT", f"x.{name}", "a"))
    with pytest.raises(ClientError) as e:
        change(r53, zid, txt("CREATE", f"X.{name}.", "b"))
    assert code(e) == "InvalidChangeBatch"


def test_names_must_be_inside_the_zone_on_label_boundaries(clients):
    r53 = clients("route53")
    zid, name = zone(r53)
    with pytest.raises(ClientError) as e:
        change(r53, zid, txt("UPSERT", f"not{name}", "a"))
    assert code(e) == "InvalidChangeBatch"


def test_a_wildcard_is_listed_escaped_and_either_spelling_names_it(clients):
    # DomainNameFormat.html: characters other than a-z, 0-9, - and _ come back as \ and three
    # octal digits, however they were written: `*.example.cn` is listed as `\052.example.cn.`.
    r53 = clients("route53")
    zid, name = zone(r53)
    change(r53, zid, cname("CREATE", f"*.{name}", "d111111abcdef8.cloudfront.cn"))
    listed = [(r["Name"], r["Type"]) for r in r53.list_resource_record_sets(HostedZoneId=zid)["ResourceRecordSets"]]
    assert (f"\\052.{name}.", "CNAME") in listed and (f"*.{name}.", "CNAME") not in listed, listed
    with pytest.raises(ClientError) as e:
        change(r53, zid, cname("CREATE", f"\\052.{name}", "d222222abcdef8.cloudfront.cn"))
    assert code(e) == "InvalidChangeBatch"
    change(r53, zid, cname("DELETE", f"\\052.{name}.", "d111111abcdef8.cloudfront.cn"))
    assert "CNAME" not in {r["Type"] for r in r53.list_resource_record_sets(HostedZoneId=zid)["ResourceRecordSets"]}


def test_a_batch_applies_whole_or_not_at_all(clients):
    r53 = clients("route53")
    zid, name = zone(r53)
    change(r53, zid, txt("UPSERT", f"taken.{name}", "a"))
    with pytest.raises(ClientError):
        change(r53, zid, txt("CREATE", f"ok.{name}", "a"), txt("CREATE", f"taken.{name}", "b"))
    names = [r["Name"] for r in r53.list_resource_record_sets(HostedZoneId=zid)["ResourceRecordSets"]]
    assert f"ok.{name}." not in names


def refused(r53, zid, *changes) -> str:
    with pytest.raises(ClientError) as e:
        change(r53, zid, *changes)
    assert code(e) == "InvalidChangeBatch"
    return e.value.response["Error"]["Message"]


def test_a_cname_is_alone_at_its_name_with_route53s_messages(clients):
    # ResourceRecordTypes.html#CNAMEFormat: "If you create a CNAME record for a subdomain, you
    # cannot create any other records for that subdomain."
    r53 = clients("route53")
    zid, name = zone(r53)
    alias, plain = f"_acme-challenge.www.{name}", f"_acme-challenge.api.{name}"
    change(r53, zid, cname("CREATE", alias, f"www.{name}.challenges.example.cn"), txt("CREATE", plain, "token"))
    for action in ("CREATE", "UPSERT"):
        assert refused(r53, zid, txt(action, alias, "token")) == (
            f"[RRSet of type TXT with DNS name {alias}. is not permitted because a conflicting RRSet of type CNAME "
            f"with the same DNS name already exists in zone {name}.]")
        assert refused(r53, zid, cname(action, plain, "elsewhere.example.cn")) == (
            f"[RRSet of type CNAME with DNS name {plain}. is not permitted as it conflicts with other records "
            f"with the same DNS name in zone {name}.]")
    # Changes apply in order: a name changes type by DELETE then CREATE in one batch, not the reverse.
    refused(r53, zid, cname("CREATE", plain, "elsewhere.example.cn"), txt("DELETE", plain, "token"))
    change(r53, zid, txt("DELETE", plain, "token"), cname("CREATE", plain, "elsewhere.example.cn"))
    change(r53, zid, cname("UPSERT", alias, f"www2.{name}.challenges.example.cn"))  # a CNAME over itself


def test_a_cname_is_not_permitted_at_the_zone_apex(clients):
    r53 = clients("route53")
    zid, name = zone(r53)
    assert refused(r53, zid, cname("UPSERT", f"{name}.", "www.example.cn")) == (
        f"[RRSet of type CNAME with DNS name {name}. is not permitted at apex in zone {name}.]")


def test_throttling_above_the_account_request_rate(bed):
    control(bed, "/settings", {"route53_max_rps": 5})
    r53 = make_client(bed, "route53", "cn-north-1", config=Config(retries={"mode": "standard", "total_max_attempts": 1}))
    # As many requests as fit in 0.9 s (however loaded the machine): at most 5 succeed.
    codes, started = [], time.monotonic()
    while time.monotonic() - started < 0.9:
        try:
            r53.list_hosted_zones()
            codes.append("ok")
        except ClientError as e:
            codes.append(e.response["Error"]["Code"])
    assert len(codes) > 5, f"only {len(codes)} requests in 0.9 s: too slow to test the limit"
    assert codes[:5] == ["ok"] * 5 and set(codes[5:]) == {"Throttling"}, codes
    time.sleep(1.1)
    r53.list_hosted_zones()


def test_throttling_counts_per_account_whatever_the_session(bed):
    """Two sessions of one account share the account's five requests per second; another
    account has five of its own."""
    control(bed, "/settings", {"route53_max_rps": 5})
    endpoint, config = bed["AWS_ENDPOINT_URL"], Config(retries={"mode": "standard", "total_max_attempts": 1})
    one, other = (f"{random.randrange(10**11, 10**12)}" for _ in range(2))
    sessions = [stack_module.setup_session(endpoint, "cn-north-1", one) for _ in range(2)]
    shared = [s.client("route53", endpoint_url=endpoint, config=config) for s in sessions]
    elsewhere = stack_module.setup_session(endpoint, "cn-north-1", other).client("route53", endpoint_url=endpoint, config=config)

    def call(r53) -> str:
        try:
            r53.list_hosted_zones()
            return "ok"
        except ClientError as e:
            return e.response["Error"]["Code"]

    codes, others, started = [], [], time.monotonic()
    while time.monotonic() - started < 0.9:
        codes.append(call(shared[len(codes) % 2]))
        if len(others) < 5:
            others.append(call(elsewhere))
    assert len(codes) > 5, f"only {len(codes)} requests in 0.9 s: too slow to test the limit"
    assert codes[:5] == ["ok"] * 5 and set(codes[5:]) == {"Throttling"}, codes
    assert others == ["ok"] * 5, others
