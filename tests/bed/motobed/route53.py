"""Route 53 record changes as AWS applies them.

Plain moto 5.2 returns the same change id (`C2682N5HXP0BZ4`) for every change and answers INSYNC
to any id, lets DELETE remove a record set whose TTL or values differ, accepts CREATE over an
existing record set it has not journalled, accepts `notexample.com` in `example.com` (a plain
`endswith`), lets a CNAME share its name with other records, and lists names as written. These
rules copy:

- ChangeResourceRecordSets: the batch is validated whole and applied atomically; CREATE of an
  existing record set, DELETE of a missing one or one whose TTL/values differ, and names outside
  the zone (on label boundaries) are InvalidChangeBatch; every change gets its own id, PENDING at
  first. https://docs.aws.amazon.com/Route53/latest/APIReference/API_ChangeResourceRecordSets.html
- A CNAME is alone at its name and never at the zone apex: CREATE/UPSERT of a CNAME where other
  record sets exist, of another type where a CNAME exists, or of a CNAME at the apex, is
  InvalidChangeBatch with Route 53's messages (in brackets, as Route 53 lists a batch's errors:
  "[Tried to create resource record set ...]"; "RRSet of type TXT with DNS name x.example.com. is
  not permitted because a conflicting RRSet of type CNAME with the same DNS name already exists in
  zone example.com.", "RRSet of type CNAME with DNS name x.example.com. is not permitted as it
  conflicts with other records with the same DNS name in zone example.com.", "RRSet of type CNAME
  with DNS name example.com. is not permitted at apex in zone example.com."). Changes apply in
  order, so DELETE then CREATE in one batch changes a name's type.
  https://docs.aws.amazon.com/Route53/latest/DeveloperGuide/ResourceRecordTypes.html#CNAMEFormat
  https://docs.aws.amazon.com/Route53/latest/APIReference/API_ChangeResourceRecordSets.html#API_ChangeResourceRecordSets_Errors
- Record names are kept as Route 53 lists them: lower case, final dot, characters other than a-z
  0-9 - _ as escape codes (a wildcard `*.example.com` is `\\052.example.com.` in
  ListResourceRecordSets); `*` and `\\052` written in a change name the same record set. Plain moto
  keeps and lists a name as it was written, so the two spellings are two record sets there.
  https://docs.aws.amazon.com/Route53/latest/DeveloperGuide/DomainNameFormat.html
  https://docs.aws.amazon.com/Route53/latest/DeveloperGuide/DomainNameFormat.html#domain-name-format-asterisk
  (How the bed's DNS answers a wildcard: zones.py. Route 53's refusal of a wildcard NS record is
  not emulated.)
- GetChange: PENDING until the change has propagated (here: a configurable number of polls
  and/or seconds after submission — AWS propagates in time, usually within 60 s, whoever asks),
  then INSYNC; unknown ids are NoSuchChange.
  https://docs.aws.amazon.com/Route53/latest/APIReference/API_GetChange.html
"""

import copy

from moto.route53 import models as r53_models
from moto.route53.exceptions import Route53ClientError
from moto.route53.responses import Route53
from moto.core.responses import ActionResult

from . import state

# change id -> {"submitted": datetime, "polls_left": int}
CHANGES: dict[str, dict] = {}


class _Err(Route53ClientError):
    def __init__(self, code: str, message: str):
        super().__init__(code, message)


def _invalid_batch(message: str) -> _Err:
    # Route 53 lists a batch's errors in brackets: "[Tried to create resource record set ...]".
    err = _Err("InvalidChangeBatch", f"[{message}]")
    err.messages = [message]
    return err


def in_zone(name: str, zone: str) -> bool:
    name, zone = state.normalize_dns_name(name), state.normalize_dns_name(zone)
    return name == zone or name.endswith("." + zone)


def _key(rrset: dict) -> tuple:
    return (state.route53_record_name(rrset["Name"]), rrset["Type"], rrset.get("SetIdentifier"))


def _values(rrset: dict) -> list[str]:
    return sorted(r["Value"] if isinstance(r, dict) else r for r in rrset.get("ResourceRecords") or [])


def _existing(zone) -> dict[tuple, r53_models.RecordSet]:
    return {(state.route53_record_name(r.name), r.type, r.set_identifier): r for r in zone.rrsets}


def _check_cname(planned: dict, key: tuple, zone_name: str) -> None:
    """The CNAME rules (CNAMEFormat above), for `key` about to be written over `planned`."""
    name, rtype = key[0], key[1]
    zone = state.normalize_dns_name(zone_name)
    if rtype == "CNAME" and name == zone:
        raise _invalid_batch(f"RRSet of type CNAME with DNS name {name}. is not permitted at apex in zone {zone}.")
    beside = {k[1] for k in planned if k[0] == name and k != key}
    if rtype == "CNAME" and beside - {"CNAME"}:
        raise _invalid_batch(f"RRSet of type CNAME with DNS name {name}. is not permitted as it conflicts with other records with the same DNS name in zone {zone}.")
    if rtype != "CNAME" and "CNAME" in beside:
        raise _invalid_batch(f"RRSet of type {rtype} with DNS name {name}. is not permitted because a conflicting RRSet of type CNAME with the same DNS name already exists in zone {zone}.")


def change_resource_record_sets(self, zoneid: str, change_list: list[dict]) -> None:
    with state.LOCK:
        zone = self.get_hosted_zone(zoneid)
        existing = _existing(zone)
        planned = dict(existing)
        for change in change_list:
            action, rrset = change["Action"], change["ResourceRecordSet"]
            key = _key(rrset)
            label = f"[name='{key[0]}.', type='{key[1]}'" + (f", set-identifier='{key[2]}'" if key[2] else "") + "]"
            if not in_zone(rrset["Name"], zone.name):
                raise _invalid_batch(f"RRSet with DNS name {key[0]}. is not permitted in zone {zone.name}")
            if action == "CREATE":
                if key in planned:
                    raise _invalid_batch(f"Tried to create resource record set {label} but it already exists")
                _check_cname(planned, key, zone.name)
                planned[key] = rrset
            elif action == "UPSERT":
                _check_cname(planned, key, zone.name)
                planned[key] = rrset
            elif action == "DELETE":
                current = planned.get(key)
                if current is None:
                    raise _invalid_batch(f"Tried to delete resource record set {label} but it was not found")
                cur = current if isinstance(current, dict) else {
                    "Name": current.name, "TTL": current.ttl, "ResourceRecords": current.records
                }
                if str(cur.get("TTL")) != str(rrset.get("TTL")) or _values(cur) != _values(rrset):
                    raise _invalid_batch(f"Tried to delete resource record set {label} but the values provided do not match the current values")
                del planned[key]
            else:
                raise _invalid_batch(f"Invalid action {action}")
        # Valid as a whole: apply.
        for change in change_list:
            rrset = copy.deepcopy(change["ResourceRecordSet"])
            rrset["Name"] = state.route53_record_name(rrset["Name"]) + "."  # as ListResourceRecordSets returns it
            key = _key(rrset)
            zone.rrsets = [r for r in zone.rrsets if (state.route53_record_name(r.name), r.type, r.set_identifier) != key]
            if change["Action"] in ("CREATE", "UPSERT"):
                if "ResourceRecords" in rrset:
                    rrset["ResourceRecords"] = [r["Value"] for r in rrset["ResourceRecords"]]
                zone.rrsets.append(r53_models.RecordSet(rrset))
            zone.rr_changes.append(copy.deepcopy(change))


def _new_change() -> dict:
    change_id = state.random_id("C", 20)
    submitted = state.now()
    CHANGES[change_id] = {"submitted": submitted, "polls_left": int(state.SETTINGS["route53_pending_polls"])}
    pending = CHANGES[change_id]["polls_left"] > 0 or float(state.SETTINGS["route53_pending_seconds"]) > 0
    return {"Id": f"/change/{change_id}", "Status": "PENDING" if pending else "INSYNC", "SubmittedAt": submitted}


_orig_response_crrs = Route53.change_resource_record_sets


def response_change_resource_record_sets(self) -> ActionResult:
    result = _orig_response_crrs(self)  # validates quotas, applies via the backend (patched above)
    result._result["ChangeInfo"] = _new_change()
    return result


def response_get_change(self) -> ActionResult:
    change_id = (self._get_param("Id") or "").split("/")[-1]
    with state.LOCK:
        change = CHANGES.get(change_id)
        if change is None:
            raise _Err("NoSuchChange", f"A change with the specified change ID does not exist: {change_id}")
        age = (state.now() - change["submitted"]).total_seconds()
        if change["polls_left"] > 0 or age < float(state.SETTINGS["route53_pending_seconds"]):
            change["polls_left"] = max(0, change["polls_left"] - 1)
            status = "PENDING"
        else:
            status = "INSYNC"
    return ActionResult({"ChangeInfo": {"Id": f"/change/{change_id}", "Status": status, "SubmittedAt": change["submitted"]}})


def apply() -> None:
    r53_models.Route53Backend.change_resource_record_sets = change_resource_record_sets
    Route53.change_resource_record_sets = response_change_resource_record_sets
    Route53.get_change = response_get_change
