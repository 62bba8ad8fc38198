//! CAA before ordering (RFC 8659, with RFC 8657's `accounturi` and `validationmethods`): the CA
//! checks the names' CAA records at issuance and refuses the order when they forbid it — after
//! the order was made, its challenges answered and a failed validation counted against the
//! hostname. cert-rotator looks first and fails the domain with the record quoted instead.
//!
//! The relevant record set of a name is the first non-empty CAA set found at the name, then its
//! parent, climbing to the top-level domain (RFC 8659 section 3); a CNAME is followed where it
//! is met. A wildcard name is checked at its base name, by its `issuewild` records where there
//! are any, else its `issue` records (section 4.3). Records are asked of each zone's
//! authoritative servers ([`relevant`]), so an edit just made is seen as the CA will see it; a
//! lookup that fails leaves the judgement to the CA.

use std::fmt;

use hickory_resolver::proto::rr::{RData, RecordType};
use hickory_resolver::TokioResolver;

use crate::acme::delegation::{Delegation, MAX_HOPS};
use crate::model::names::DomainName;

/// One CAA record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// The issuer-critical flag (128).
    pub critical: bool,
    /// The property tag, lower-cased.
    pub tag: String,
    /// The value.
    pub value: String,
}

impl fmt::Display for Record {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let flags = if self.critical { 128 } else { 0 };
        write!(f, "{flags} {} \"{}\"", self.tag, self.value)
    }
}

/// Who asks: the CA's CAA identities (its directory's `meta.caaIdentities`) and the account.
#[derive(Debug, Clone, Copy)]
pub struct Asker<'a> {
    /// The issuer domain names that stand for the CA.
    pub identities: &'a [String],
    /// The account's URI, where there is an account yet.
    pub account: Option<&'a str>,
}

/// The names' CAA records forbid the order.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("CAA forbids ordering {name}: the records at {owner} are {} — {why}; no order was sent. {}", quoted(.records), self.fix())]
pub struct CaaRefusal {
    /// The property that decides for this name: `issuewild` for a wildcard where there are
    /// any, else `issue`.
    pub kind: &'static str,
    /// The name ordered.
    pub name: String,
    /// Where its relevant records are.
    pub owner: String,
    /// Those records.
    pub records: Vec<Record>,
    /// Why they forbid it.
    pub why: String,
    /// The issuer a fix would name.
    pub example_issuer: String,
    /// The parameters a fix would carry (the account, DNS-01), if the records restrict them.
    pub example_params: String,
}

fn quoted(records: &[Record]) -> String {
    records
        .iter()
        .map(|r| format!("[{r}]"))
        .collect::<Vec<_>>()
        .join(" ")
}

impl CaaRefusal {
    /// What to change, at the records' owner.
    fn fix(&self) -> String {
        let owner = &self.owner;
        if let Some(r) = self
            .records
            .iter()
            .find(|r| r.critical && !KNOWN_TAGS.contains(&r.tag.as_str()))
        {
            return format!(
                "Remove the record [{r}] at {owner}, or its critical flag (128), or use a CA that knows the property {:?}",
                r.tag
            );
        }
        format!(
            "Add a record allowing this CA to {owner} (e.g. 0 {} \"{}{}\"), or use a CA the records allow",
            self.kind, self.example_issuer, self.example_params
        )
    }
}

/// The tags RFC 8659 and its extensions define; a critical record of another tag forbids all.
const KNOWN_TAGS: [&str; 5] = ["issue", "issuewild", "iodef", "issuemail", "issuevmc"];

/// Whether `records`, the relevant CAA set of `name` found at `owner`, let `asker` order it by
/// DNS-01: `Err` with the records and the reason when they do not.
pub fn judge(
    name: &DomainName,
    (owner, records): (&str, &[Record]),
    asker: Asker<'_>,
) -> Result<(), Box<CaaRefusal>> {
    let kind = if name.is_wildcard() && records.iter().any(|r| r.tag == "issuewild") {
        "issuewild"
    } else {
        "issue"
    };
    let refuse = |why: String, params: &str| {
        Box::new(CaaRefusal {
            kind,
            name: name.to_string(),
            owner: owner.to_owned(),
            records: records.to_vec(),
            why,
            example_issuer: asker
                .identities
                .first()
                .cloned()
                .unwrap_or_else(|| "<the CA's CAA identity>".into()),
            example_params: params.to_owned(),
        })
    };
    if let Some(r) = records
        .iter()
        .find(|r| r.critical && !KNOWN_TAGS.contains(&r.tag.as_str()))
    {
        return Err(refuse(
            format!(
                "the critical property {:?} is unknown, so no CA may issue",
                r.tag
            ),
            "",
        ));
    }
    let tagged = |tag: &str| -> Vec<&Record> { records.iter().filter(|r| r.tag == tag).collect() };
    let relevant = match (name.is_wildcard(), tagged("issuewild")) {
        (true, wild) if !wild.is_empty() => wild,
        _ => tagged("issue"),
    };
    if relevant.is_empty() {
        return Ok(());
    }
    let mut restricted = Vec::new();
    for record in &relevant {
        let (issuer, params) = parse_issue(&record.value);
        let Some(issuer) = issuer else { continue };
        if !asker.identities.is_empty()
            && !asker
                .identities
                .iter()
                .any(|i| i.trim_end_matches('.').eq_ignore_ascii_case(&issuer))
        {
            continue;
        }
        let account_ok = match (params.get("accounturi"), asker.account) {
            (Some(uri), Some(account)) => *uri == account,
            _ => true,
        };
        let method_ok = params
            .get("validationmethods")
            .is_none_or(|m| m.split(',').any(|m| m.trim() == "dns-01"));
        if account_ok && method_ok {
            return Ok(());
        }
        if !account_ok {
            restricted.push("another ACME account (accounturi)".to_owned());
        }
        if !method_ok {
            restricted.push("other validation methods than dns-01 (validationmethods)".to_owned());
        }
    }
    let params = match asker.account {
        Some(a) => format!("; accounturi={a}; validationmethods=dns-01"),
        None => "; validationmethods=dns-01".into(),
    };
    if !restricted.is_empty() {
        restricted.dedup();
        return Err(refuse(
            format!("they allow this CA only for {}", restricted.join(" and ")),
            &params,
        ));
    }
    if asker.identities.is_empty() {
        // The CA names no identity: only records that allow no CA at all are known to forbid.
        return Err(refuse(format!("their {kind} records allow no CA"), ""));
    }
    Err(refuse(
        format!(
            "their {kind} records do not name this CA ({})",
            asker.identities.join(", ")
        ),
        "",
    ))
}

/// An `issue` value's issuer domain name (`None`: no CA may issue) and parameters (RFC 8659
/// section 4.2: `issuer; key=value; key=value`).
fn parse_issue(value: &str) -> (Option<String>, std::collections::BTreeMap<String, String>) {
    let mut parts = value.split(';');
    let issuer = parts
        .next()
        .map(|i| i.trim().trim_end_matches('.').to_ascii_lowercase())
        .filter(|i| !i.is_empty());
    let params = parts
        .filter_map(|p| p.split_once('='))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    (issuer, params)
}

/// The relevant CAA records of `name` and where they are; `None` when no name up to the
/// top-level domain has any. Each name is asked of its zone's authoritative servers directly
/// ([`Delegation::authoritative`]), a CNAME followed there, so a record written a minute ago is
/// seen as the CA will see it; without the authoritative check
/// (`CERT_ROTATOR_CHECK_AUTHORITATIVE=false`) an uncached recursive resolver is asked instead.
/// An error leaves the judgement to the CA.
pub async fn relevant(
    dns: Lookup<'_>,
    name: &DomainName,
) -> Result<Option<(String, Vec<Record>)>, String> {
    let base = name.base().trim_end_matches('.').to_ascii_lowercase();
    let labels: Vec<&str> = base.split('.').collect();
    // The name and each parent up to the top-level domain (RFC 8659 section 3: up to, not
    // including, the root).
    for start in 0..labels.len() {
        let here = labels[start..].join(".");
        let mut at = here.clone();
        for _ in 0..=MAX_HOPS {
            let answers = dns.caa(&at).await?;
            let records: Vec<Record> = answers
                .iter()
                .filter_map(|r| match &r.data {
                    RData::CAA(caa) => Some(Record {
                        critical: caa.issuer_critical,
                        tag: caa.tag.to_ascii_lowercase(),
                        value: String::from_utf8_lossy(&caa.value).into_owned(),
                    }),
                    _ => None,
                })
                .collect();
            if !records.is_empty() {
                // Where they are: at the end of a CNAME, the target, where they are edited.
                return Ok(Some((at, records)));
            }
            // RFC 8659 section 3: a CNAME at the name is followed; its target's set counts.
            let next = answers.iter().find_map(|r| match &r.data {
                RData::CNAME(target) => Some(
                    target
                        .0
                        .to_ascii()
                        .trim_end_matches('.')
                        .to_ascii_lowercase(),
                ),
                _ => None,
            });
            match next {
                Some(target) if target != at => at = target,
                _ => break,
            }
        }
    }
    Ok(None)
}

/// Where CAA records are asked.
#[derive(Clone, Copy)]
pub enum Lookup<'a> {
    /// The zones' authoritative servers.
    Authoritative(&'a Delegation),
    /// An uncached recursive resolver.
    Recursive(&'a TokioResolver),
}

impl Lookup<'_> {
    async fn caa(self, name: &str) -> Result<Vec<hickory_resolver::proto::rr::Record>, String> {
        let fqdn = format!("{name}.");
        match self {
            // A top-level domain is in no zone a resolver gives NS records for here: asked
            // through the recursive resolver.
            Self::Authoritative(d) if !name.contains('.') => d
                .recursive(name, RecordType::CAA)
                .await
                .map_err(|e| format!("CAA lookup of {name}: {e}")),
            Self::Authoritative(d) => {
                let failed = |e| format!("CAA lookup of {name}: {e}");
                // A CNAME first: asked for CAA at an alias, the resolver would chase it at the
                // same server, which refuses names outside its zones.
                let cname = d
                    .authoritative(name, RecordType::CNAME)
                    .await
                    .map_err(failed)?;
                if cname.iter().any(|r| matches!(r.data, RData::CNAME(_))) {
                    return Ok(cname);
                }
                d.authoritative(name, RecordType::CAA).await.map_err(failed)
            }
            Self::Recursive(r) => match r.lookup(fqdn.as_str(), RecordType::CAA).await {
                Ok(lookup) => Ok(lookup.answers().to_vec()),
                Err(e) if e.is_no_records_found() || e.is_nx_domain() => Ok(vec![]),
                Err(e) => Err(format!("CAA lookup of {name}: {e}")),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(critical: bool, tag: &str, value: &str) -> Record {
        Record {
            critical,
            tag: tag.into(),
            value: value.into(),
        }
    }

    const ACCOUNT: &str = "https://acme-v02.api.letsencrypt.org/acme/acct/1";

    fn le() -> Vec<String> {
        vec!["letsencrypt.org".into()]
    }

    fn check(name: &str, records: &[Record]) -> Result<(), String> {
        let identities = le();
        let name: DomainName = name.parse().unwrap();
        judge(
            &name,
            ("example.cn", records),
            Asker {
                identities: &identities,
                account: Some(ACCOUNT),
            },
        )
        .map_err(|e| e.to_string())
    }

    #[test]
    fn no_records_or_no_issue_records_allow_every_ca() {
        assert!(check("cdn.example.cn", &[]).is_ok());
        assert!(check(
            "cdn.example.cn",
            &[rec(false, "iodef", "mailto:ops@example.cn")]
        )
        .is_ok());
    }

    #[test]
    fn an_issue_record_naming_another_ca_forbids_and_is_quoted() {
        let e = check("cdn.example.cn", &[rec(false, "issue", "pki.goog")]).unwrap_err();
        assert_eq!(
            e,
            "CAA forbids ordering cdn.example.cn: the records at example.cn are [0 issue \"pki.goog\"] — their issue records do not name this CA (letsencrypt.org); no order was sent. Add a record allowing this CA to example.cn (e.g. 0 issue \"letsencrypt.org\"), or use a CA the records allow"
        );
        assert!(check(
            "cdn.example.cn",
            &[
                rec(false, "issue", "pki.goog"),
                rec(false, "issue", "LetsEncrypt.org.")
            ]
        )
        .is_ok());
        let e = check("cdn.example.cn", &[rec(false, "issue", ";")]).unwrap_err();
        assert!(e.contains("[0 issue \";\"]"), "{e}");
    }

    #[test]
    fn accounturi_and_validationmethods_must_admit_this_account_and_dns_01() {
        let ours =
            format!("letsencrypt.org; accounturi={ACCOUNT}; validationmethods=dns-01,http-01");
        assert!(check("cdn.example.cn", &[rec(false, "issue", &ours)]).is_ok());
        let e = check(
            "cdn.example.cn",
            &[rec(
                false,
                "issue",
                "letsencrypt.org; accounturi=https://acme-v02.api.letsencrypt.org/acme/acct/2",
            )],
        )
        .unwrap_err();
        assert!(
            e.contains("another ACME account (accounturi)")
                && e.contains(&format!("accounturi={ACCOUNT}; validationmethods=dns-01")),
            "{e}"
        );
        let e = check(
            "cdn.example.cn",
            &[rec(
                false,
                "issue",
                "letsencrypt.org; validationmethods=http-01",
            )],
        )
        .unwrap_err();
        assert!(e.contains("other validation methods than dns-01"), "{e}");
    }

    #[test]
    fn a_wildcard_follows_issuewild_where_there_is_one() {
        let records = [
            rec(false, "issue", "letsencrypt.org"),
            rec(false, "issuewild", ";"),
        ];
        assert!(check("cdn.example.cn", &records).is_ok());
        let e = check("*.cdn.example.cn", &records).unwrap_err();
        assert!(
            e.contains("issuewild records allow no CA")
                || e.contains("issuewild records do not name"),
            "{e}"
        );
        assert!(
            check("*.cdn.example.cn", &records[..1]).is_ok(),
            "issue covers wildcards without issuewild"
        );
    }

    #[test]
    fn a_critical_unknown_property_forbids_every_ca() {
        let e = check(
            "cdn.example.cn",
            &[
                rec(false, "issue", "letsencrypt.org"),
                rec(true, "tbs", "x"),
            ],
        )
        .unwrap_err();
        assert!(e.contains("critical property \"tbs\""), "{e}");
        assert!(check(
            "cdn.example.cn",
            &[
                rec(false, "issue", "letsencrypt.org"),
                rec(false, "tbs", "x")
            ]
        )
        .is_ok());
    }

    #[test]
    fn a_ca_without_caa_identities_is_refused_only_by_records_allowing_none() {
        let name: DomainName = "cdn.example.cn".parse().unwrap();
        let asker = Asker {
            identities: &[],
            account: None,
        };
        let other = [rec(false, "issue", "pki.goog")];
        assert!(judge(&name, ("example.cn", &other), asker).is_ok());
        let none = [rec(false, "issue", ";")];
        assert!(judge(&name, ("example.cn", &none), asker).is_err());
    }
}
