//! The invocation event: which domains to look after, and how.
//!
//! Accepted as a manual invoke, as the `Input` of an EventBridge rule, or as an EventBridge event
//! with the request under `detail`:
//!
//! ```json
//! { "domains": [ { "names": ["cdn.example.cn", "*.cdn.example.cn"] },
//!                { "names": ["assets.example.cn"], "force": true, "key_type": "ecdsa-p256" },
//!                { "names": ["shop.example.cn"],
//!                  "source": { "certificate": "s3://certs/shop.pfx",
//!                              "password": "secretsmanager:stack/byo/shop-pfx" },
//!                  "targets": ["cloudfront-iam",
//!                              { "type": "acm", "service": "alb", "region": "cn-northwest-1" }] } ],
//!   "dry_run": false, "force": false }
//! ```
//!
//! or `{"inventory": true}` alone. `targets` are resolved for the run's partition by
//! [`parse_for`] ([`crate::model::targets`]); `source` by [`crate::certs::source`].
//!
//! Unknown fields are errors, and every error names the field (`domains[1].names[0]`) and what
//! to do. Parsing is pure: JSON in, a validated [`Request`] or an [`EventError`] out.
//!
//! The schedule's input carries `"schedule": {"arn": ..., "time": ...}`; `force` is refused in
//! such an event ([`schedule`]). `domains` may name an S3 object holding the list instead
//! ([`domain_list`]): the run reads it and validates it as if inline.

pub mod domain_list;
pub mod schedule;

use std::collections::HashMap;

use serde::Deserialize;

use crate::certs::source::{RawSource, Reserved, Source};
use crate::config::KeyType;
use crate::model::dns::{DnsSettings, RawDns};
use crate::model::names::DomainName;
use crate::model::partition::Partition;
use crate::model::role::{RawRole, Role};
use crate::model::targets::{self, Targets};

pub use self::schedule::{Refused, Schedule};

/// At most this many names in one certificate (Let's Encrypt's limit, and CloudFront's for
/// alternate domain names per distribution).
pub const MAX_NAMES: usize = 100;

/// At most this many domains in one event.
///
/// One run has at most 15 minutes (Lambda's limit) and renews 32 domains at a time
/// (`CERT_ROTATOR_CONCURRENCY`); against Let's Encrypt a round takes a minute or so (Route 53
/// propagation, the CA's validation), so 500 domains all due at once make 16 rounds, about what one
/// run can finish (a domain that would start too late is deferred to the next run, not cut off).
/// More would never all renew in one run, and every domain costs listing, memory and report
/// lines on every daily run: a larger fleet is split over several schedules, each with its event.
pub const MAX_DOMAINS: usize = 500;

/// The largest event file the CLI reads (`cert-rotator run --event`): 1 MiB. An event of
/// [`MAX_DOMAINS`] domains of a few names is about 50 KiB; a larger file is not an event, and
/// parsing it would cost memory (the function's payload is bounded by Lambda itself).
pub const MAX_EVENT_BYTES: u64 = 1024 * 1024;

/// A validated request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// The domains, each one certificate.
    pub domains: Vec<DomainRequest>,
    /// Plan only: decide and report, change nothing.
    pub dry_run: bool,
    /// Report the inventory of managed certificates only (`{"inventory": true}`): no lock, no
    /// renewal.
    pub inventory_only: bool,
    /// The schedule that sent the event, when it carries the schedule's mark.
    pub schedule: Option<Schedule>,
    /// Domains refused (a scheduled event's forced ones): reported failed, not handled.
    pub refused: Vec<Refused>,
    /// Other accounts an inventory also lists (`{"inventory": true, "accounts": [...]}`).
    pub accounts: Vec<Role>,
}

/// One certificate to look after.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DomainRequest {
    /// Its names, canonical, in the order given.
    pub names: Vec<DomainName>,
    /// Renew even if the deployed certificate is fresh.
    pub force: bool,
    /// Key type for this certificate; the configured default if `None`.
    pub key_type: Option<KeyType>,
    /// The CA's certificate profile for this certificate; the configured default if `None`.
    pub profile: Option<String>,
    /// Renew with the archived key instead of a new one (for clients that pin the key).
    pub reuse_key: bool,
    /// Where the certificate goes (CloudFront through IAM unless the event says otherwise);
    /// resolved for the run's partition by [`parse_for`].
    pub targets: Targets,
    /// Bring-your-own: the certificate's files. `None`: issued by ACME.
    pub source: Option<Source>,
    /// Where its challenge records go.
    pub dns: DnsSettings,
    /// The account its certificates are deployed in, through this role; the function's own
    /// account without one.
    pub account: Option<Role>,
    /// The event's `targets`, as given (resolved by [`Request::place`]).
    targets_spec: Option<serde_json::Value>,
    /// The event's field path of this domain, for messages.
    field: String,
}

impl DomainRequest {
    /// The event's field path of this domain (`domains[2]`), for messages.
    pub fn field(&self) -> &str {
        &self.field
    }

    /// The names joined for messages and reports.
    pub fn label(&self) -> String {
        self.names
            .iter()
            .map(DomainName::as_str)
            .collect::<Vec<_>>()
            .join(", ")
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRequest {
    domains: Option<Vec<RawDomain>>,
    #[serde(default)]
    dry_run: bool,
    #[serde(default)]
    force: bool,
    #[serde(default)]
    inventory: bool,
    accounts: Option<Vec<RawRole>>,
    schedule: Option<Schedule>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDomain {
    names: Option<Vec<String>>,
    #[serde(default)]
    force: bool,
    key_type: Option<KeyType>,
    profile: Option<String>,
    #[serde(default)]
    reuse_key: bool,
    targets: Option<serde_json::Value>,
    source: Option<RawSource>,
    dns: Option<RawDns>,
    account: Option<RawRole>,
}

/// Why an event is not a request we can act on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EventError {
    /// The JSON does not have the request's shape.
    #[error("event field {field}: {message}")]
    Shape {
        /// The path to the field, e.g. `domains[0].names`.
        field: String,
        /// What is wrong.
        message: String,
    },
    /// A field has a value we cannot accept.
    #[error("event field {field}: {message}")]
    Invalid {
        /// The path to the field.
        field: String,
        /// What is wrong and what to do.
        message: String,
    },
}

fn invalid(field: impl Into<String>, message: impl Into<String>) -> EventError {
    EventError::Invalid {
        field: field.into(),
        message: message.into(),
    }
}

/// The request in an event: the event itself, or the `detail` of an EventBridge envelope.
fn unwrap_envelope(event: &serde_json::Value) -> (&serde_json::Value, &'static str) {
    let is_envelope = event.get("detail-type").is_some() && event.get("source").is_some();
    match event.get("detail") {
        Some(detail) if is_envelope => (detail, "detail."),
        _ => (event, ""),
    }
}

/// Parses and validates an invocation event.
pub fn parse(event: &serde_json::Value) -> Result<Request, EventError> {
    let (body, prefix) = unwrap_envelope(event);
    check_shape(body, prefix)?;
    let raw = deserialize(body, prefix)?;
    if raw.inventory {
        return inventory_request(raw, prefix);
    }
    if raw.accounts.is_some() {
        return Err(invalid(
            format!("{prefix}accounts"),
            "names the accounts an inventory lists ({\"inventory\": true, \"accounts\": [...]}); a domain names its own with account",
        ));
    }
    if raw.schedule.is_some() && raw.force {
        return Err(schedule::force_all_refused(prefix));
    }
    let Some(raw_domains) = raw.domains else {
        return Err(invalid(
            format!("{prefix}domains"),
            "missing: name the certificates to look after, e.g. {\"domains\": [{\"names\": [\"cdn.example.cn\"]}]} (for a schedule, put it in the rule's Input)",
        ));
    };
    if raw_domains.is_empty() {
        return Err(invalid(
            format!("{prefix}domains"),
            "is empty: list at least one domain",
        ));
    }
    if raw_domains.len() > MAX_DOMAINS {
        return Err(invalid(
            format!("{prefix}domains"),
            format!("has {} domains; one run renews at most {MAX_DOMAINS} (32 at a time within Lambda's 15 minutes): split them over several schedules, each with its own event", raw_domains.len()),
        ));
    }
    let mut seen: HashMap<DomainName, String> = HashMap::new();
    let domains = raw_domains
        .into_iter()
        .enumerate()
        .map(|(i, d)| domain_request(d, &format!("{prefix}domains[{i}]"), raw.force, &mut seen))
        .collect::<Result<Vec<_>, _>>()?;
    one_role_per_account(&domains)?;
    let (domains, refused) = match raw.schedule {
        Some(_) => schedule::refuse_forced(domains),
        None => (domains, vec![]),
    };
    Ok(Request {
        domains,
        dry_run: raw.dry_run,
        inventory_only: false,
        schedule: raw.schedule,
        refused,
        accounts: vec![],
    })
}

/// The body is an object, and `domains` and each `names` are not null (null is told apart from
/// missing, so each gets its own message).
fn check_shape(body: &serde_json::Value, prefix: &str) -> Result<(), EventError> {
    if !body.is_object() {
        let got = match body {
            serde_json::Value::Null => "null",
            serde_json::Value::Bool(_) => "a boolean",
            serde_json::Value::Number(_) => "a number",
            serde_json::Value::String(_) => "a string",
            serde_json::Value::Array(_) => "an array",
            serde_json::Value::Object(_) => "an object",
        };
        return Err(EventError::Shape {
            field: if prefix.is_empty() { "(top level)".into() } else { "detail".into() },
            message: format!("expected a JSON object like {{\"domains\": [{{\"names\": [\"cdn.example.cn\"]}}]}}, got {got}"),
        });
    }
    if let Some(domains) = body.get("domains") {
        if domains.is_null() {
            return Err(invalid(
                format!("{prefix}domains"),
                "is null: give a list like [{\"names\": [\"cdn.example.cn\"]}]",
            ));
        }
        for (i, d) in domains.as_array().into_iter().flatten().enumerate() {
            if d.get("names").is_some_and(serde_json::Value::is_null) {
                return Err(invalid(
                    format!("{prefix}domains[{i}].names"),
                    "is null: give the names of this certificate as a list",
                ));
            }
        }
    }
    Ok(())
}

/// The body as the request's fields, with the path of the first field that does not fit.
fn deserialize(body: &serde_json::Value, prefix: &str) -> Result<RawRequest, EventError> {
    serde_path_to_error::deserialize(body).map_err(|e| {
        let path = e.path().to_string();
        EventError::Shape {
            field: format!(
                "{prefix}{}",
                if path == "." {
                    "(top level)".into()
                } else {
                    path
                }
            ),
            message: e.into_inner().to_string(),
        }
    })
}

/// `{"inventory": true}`, which must come alone (or with the schedule's mark, or the other
/// accounts to list: `"accounts": [{"role": …, "external_id": …}]`).
fn inventory_request(raw: RawRequest, prefix: &str) -> Result<Request, EventError> {
    if raw.domains.is_some() || raw.force || raw.dry_run {
        return Err(invalid(
            format!("{prefix}inventory"),
            "lists what is deployed and changes nothing: send {\"inventory\": true} alone",
        ));
    }
    let mut accounts: Vec<Role> = Vec::new();
    for (i, raw_role) in raw.accounts.unwrap_or_default().into_iter().enumerate() {
        let role = raw_role
            .validate()
            .map_err(|(f, m)| invalid(format!("{prefix}accounts[{i}].{f}"), m))?;
        if !accounts.contains(&role) {
            accounts.push(role);
        }
    }
    Ok(Request {
        domains: vec![],
        dry_run: true,
        inventory_only: true,
        schedule: raw.schedule,
        refused: vec![],
        accounts,
    })
}

/// Every role the domains name for one account (`dns.role`, `account.role`) is the same, with
/// the same external id: a run acts in each account once (one listing, one retirement, one writer
/// per zone), so two ways into one account would be a mistake or a conflict.
fn one_role_per_account(domains: &[DomainRequest]) -> Result<(), EventError> {
    let mut first: HashMap<&str, (&Role, String)> = HashMap::new();
    for d in domains {
        let named = [
            (d.dns.role.as_ref(), "dns.role"),
            (d.account.as_ref(), "account.role"),
        ];
        for (role, suffix) in named {
            let Some(role) = role else { continue };
            let field = format!("{}.{suffix}", d.field);
            match first.get(role.account()) {
                Some((seen, at)) if *seen != role => {
                    let what = if seen.arn == role.arn {
                        "with another external_id"
                    } else {
                        "as another role"
                    };
                    return Err(invalid(
                        field,
                        format!("reaches account {} {what} than {at} ({}): a run acts in each account through one role — name the same role and external_id in both", role.account(), seen.arn),
                    ));
                }
                Some(_) => {}
                None => {
                    first.insert(role.account(), (role, field));
                }
            }
        }
    }
    Ok(())
}

/// One domain of the event at `field`; `seen` holds every name of the domains before it.
fn domain_request(
    d: RawDomain,
    field: &str,
    force_all: bool,
    seen: &mut HashMap<DomainName, String>,
) -> Result<DomainRequest, EventError> {
    let names = parse_names(d.names, &format!("{field}.names"), seen)?;
    let source = match d.source {
        None => None,
        Some(raw_source) => Some(
            raw_source
                .validate()
                .map_err(|(f, m)| invalid(format!("{field}.source.{f}"), m))?,
        ),
    };
    let dns = match d.dns {
        None => DnsSettings::default(),
        Some(raw_dns) => raw_dns
            .validate()
            .map_err(|(f, m)| invalid(format!("{field}.dns.{f}"), m))?,
    };
    let account = d
        .account
        .map(|raw| {
            raw.validate()
                .map_err(|(f, m)| invalid(format!("{field}.account.{f}"), m))
        })
        .transpose()?;
    for (set, name) in [
        (d.key_type.is_some(), "key_type"),
        (d.profile.is_some(), "profile"),
        (d.reuse_key, "reuse_key"),
    ] {
        if source.is_some() && set {
            return Err(invalid(
                format!("{field}.{name}"),
                format!("applies to certificates cert-rotator requests from the CA; a bring-your-own certificate comes from its own CA with its key: remove {name}"),
            ));
        }
    }
    let profile = d.profile.map(|p| p.trim().to_owned());
    if let Some(p) = profile
        .as_ref()
        .filter(|p| !crate::config::is_profile_name(p))
    {
        return Err(invalid(
            format!("{field}.profile"),
            format!("{p:?} is not a profile name: use one the CA's directory lists under meta.profiles, e.g. \"tlsserver\" or \"shortlived\" (Let's Encrypt)"),
        ));
    }
    Ok(DomainRequest {
        names,
        force: d.force || force_all,
        key_type: d.key_type,
        profile,
        reuse_key: d.reuse_key,
        targets: Targets::default(),
        source,
        dns,
        account,
        targets_spec: d.targets,
        field: field.to_owned(),
    })
}

/// A domain's names at `field`: present, 1 to [`MAX_NAMES`], each valid and in no other domain.
fn parse_names(
    names: Option<Vec<String>>,
    field: &str,
    seen: &mut HashMap<DomainName, String>,
) -> Result<Vec<DomainName>, EventError> {
    let names =
        names.ok_or_else(|| invalid(field, "missing: give the names of this certificate"))?;
    if names.is_empty() {
        return Err(invalid(field, "is empty: give at least one name"));
    }
    if names.len() > MAX_NAMES {
        return Err(invalid(field, format!("has {} names; a certificate holds at most {MAX_NAMES}: split it into several domains", names.len())));
    }
    let mut parsed = Vec::with_capacity(names.len());
    for (j, text) in names.iter().enumerate() {
        let name: DomainName = text
            .parse()
            .map_err(|e| invalid(format!("{field}[{j}]"), format!("{e}")))?;
        if let Some(first) = seen.get(&name) {
            return Err(invalid(format!("{field}[{j}]"), format!("{name} is listed twice (first at {first}): each name belongs to one certificate")));
        }
        seen.insert(name.clone(), format!("{field}[{j}]"));
        parsed.push(name);
    }
    Ok(parsed)
}

/// Parses an event and resolves its targets and sources for a run in `region` ([`parse`], then
/// [`Request::place`]).
pub fn parse_for(
    event: &serde_json::Value,
    partition: Partition,
    region: &str,
) -> Result<Request, EventError> {
    let mut request = parse(event)?;
    request.place(partition, region)?;
    Ok(request)
}

impl Request {
    /// Resolves every domain's targets for `partition` and `region` (the service → region table,
    /// the China rules), and checks its source's ARNs are of the partition.
    pub fn place(&mut self, partition: Partition, region: &str) -> Result<(), EventError> {
        for d in &mut self.domains {
            let field = format!("{}.targets", d.field);
            d.targets = targets::resolve(d.targets_spec.as_ref(), &field, partition, region)
                .map_err(|e| invalid(e.field, e.message))?;
            if let Some(source) = &d.source {
                source
                    .check_partition(partition)
                    .map_err(|m| invalid(format!("{}.source", d.field), m))?;
            }
        }
        Ok(())
    }
}

impl Request {
    /// Refuses a domain whose source names cert-rotator's archive bucket or account secret.
    pub fn refuse_reserved(&self, reserved: Reserved<'_>) -> Result<(), EventError> {
        for d in &self.domains {
            if let Some(source) = &d.source {
                source
                    .check_reserved(reserved)
                    .map_err(|m| invalid(format!("{}.source", d.field), m))?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn err(v: serde_json::Value) -> String {
        parse(&v).unwrap_err().to_string()
    }

    #[test]
    fn one_account_is_reached_through_one_role() {
        let role = |arn: &str, id: Option<&str>| json!({"role": arn, "external_id": id});
        let (a, b) = (
            "arn:aws-cn:iam::111122223333:role/a",
            "arn:aws-cn:iam::111122223333:role/b",
        );
        // The same role for DNS and deployment, and in several domains: fine.
        let same = parse(&json!({"domains": [
            {"names": ["a.example.cn"], "dns": role(a, Some("x1")), "account": role(a, Some("x1"))},
            {"names": ["b.example.cn"], "account": role(a, Some("x1"))},
        ]}));
        assert!(same.is_ok(), "{same:?}");
        let e = err(json!({"domains": [
            {"names": ["a.example.cn"], "account": role(a, None)},
            {"names": ["b.example.cn"], "dns": role(b, None)},
        ]}));
        assert!(
            e.starts_with("event field domains[1].dns.role: reaches account 111122223333 as another role than domains[0].account.role"),
            "{e}"
        );
        let e = err(json!({"domains": [
            {"names": ["a.example.cn"], "account": role(a, Some("x1"))},
            {"names": ["b.example.cn"], "account": role(a, Some("x2"))},
        ]}));
        assert!(e.contains("with another external_id"), "{e}");
    }

    #[test]
    fn the_documented_example_parses() {
        let r = parse(&json!({"domains": [{"names": ["CDN.example.cn.", "*.cdn.example.cn"]}, {"names": ["assets.example.cn"], "force": true, "key_type": "ecdsa-p256"}], "dry_run": true})).unwrap();
        assert!(r.dry_run);
        assert_eq!(r.domains[0].label(), "cdn.example.cn, *.cdn.example.cn");
        assert!(!r.domains[0].force && r.domains[1].force);
        assert_eq!(r.domains[1].key_type, Some(KeyType::EcdsaP256));
    }

    #[test]
    fn an_eventbridge_envelope_carries_the_request_in_detail() {
        let r = parse(&json!({"version": "0", "id": "x", "detail-type": "Scheduled Event", "source": "aws.events", "detail": {"domains": [{"names": ["a.example.cn"]}], "force": true}})).unwrap();
        assert!(r.domains[0].force);
        assert!(err(
            json!({"detail-type": "Scheduled Event", "source": "aws.events", "detail": {}})
        )
        .starts_with("event field detail.domains: missing"));
    }

    #[test]
    fn every_error_names_its_field() {
        assert!(err(json!({"domains": [], "extra": 1})).contains("unknown field `extra`"));
        assert!(
            err(json!({"domains": [{"names": ["a.example.cn"], "nmes": []}]}))
                .starts_with("event field domains[0]")
        );
        assert!(err(json!({"domains": []})).starts_with("event field domains: is empty"));
        assert!(err(json!({"domains": [{"names": []}]}))
            .starts_with("event field domains[0].names: is empty"));
        assert!(
            err(json!({"domains": [{"names": ["ok.example.cn", "*.*.example.cn"]}]}))
                .starts_with("event field domains[0].names[1]:")
        );
        assert!(err(
            json!({"domains": [{"names": ["a.example.cn"]}, {"names": ["A.example.cn."]}]})
        )
        .contains("listed twice (first at domains[0].names[0])"));
        assert!(err(json!({"domains": [{"names": "a.example.cn"}]}))
            .starts_with("event field domains[0].names: invalid type"));
        assert!(
            err(json!({"domains": [{"names": ["a.example.cn"], "key_type": "dsa"}]}))
                .starts_with("event field domains[0].key_type")
        );
        assert!(
            err(json!({"dry_run": "yes", "domains": [{"names": ["a.example.cn"]}]}))
                .starts_with("event field dry_run")
        );
        let many: Vec<String> = (0..101).map(|i| format!("n{i}.example.cn")).collect();
        assert!(err(json!({"domains": [{"names": many}]})).contains("at most 100"));
        let fleet: Vec<serde_json::Value> = (0..=MAX_DOMAINS)
            .map(|i| json!({"names": [format!("d{i}.example.cn")]}))
            .collect();
        assert_eq!(
            err(json!({"domains": fleet})),
            "event field domains: has 501 domains; one run renews at most 500 (32 at a time within Lambda's 15 minutes): split them over several schedules, each with its own event"
        );
        assert_eq!(
            parse(&json!({"domains": fleet[..MAX_DOMAINS]}))
                .unwrap()
                .domains
                .len(),
            MAX_DOMAINS
        );
        assert!(err(json!([1, 2])).starts_with("event field (top level): expected a JSON object"));
    }
}
