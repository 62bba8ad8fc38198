//! Where a domain's DNS-01 challenge records go: the event's `dns`, e.g.
//! `"dns": {"hosted_zone_id": "Z0123456789ABCDEFGHIJ", "role": "arn:aws-cn:iam::…:role/…",
//! "external_id": "…"}`.
//!
//! - `hosted_zone_id`: without it, the public hosted zone that owns each challenge record; with
//!   it, that zone — the way to choose between two public zones with one name (a migration, a
//!   test copy), of which the parent delegates to one.
//! - `role` (and `external_id`): the zone is in another account (a shared "DNS account"); every
//!   Route 53 call for the domain goes through `sts:AssumeRole` on that role.

use serde::Deserialize;

use crate::model::role::Role;

/// A domain's DNS settings.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DnsSettings {
    /// The Route 53 hosted zone the challenge records are written in (the id, without
    /// `/hostedzone/`).
    pub hosted_zone_id: Option<String>,
    /// The role to assume for Route 53 when the zone is in another account.
    pub role: Option<Role>,
}

/// The raw `dns` of an event's domain.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawDns {
    hosted_zone_id: Option<String>,
    role: Option<String>,
    external_id: Option<String>,
}

impl RawDns {
    /// Validates; errors are (field suffix, message).
    pub(crate) fn validate(self) -> Result<DnsSettings, (String, String)> {
        let hosted_zone_id = self
            .hosted_zone_id
            .map(|id| zone_id(&id).ok_or(id))
            .transpose()
            .map_err(|id| {
                (
                    "hosted_zone_id".to_owned(),
                    format!("{id:?} is not a Route 53 hosted zone id: write the id as the console or `aws route53 list-hosted-zones-by-name` shows it, e.g. \"Z0123456789ABCDEFGHIJ\""),
                )
            })?;
        let role = match (self.role, self.external_id) {
            (Some(arn), external_id) => Some(Role::parse(&arn, external_id)?),
            (None, Some(_)) => {
                return Err((
                    "external_id".to_owned(),
                    "is given without a role: add dns.role, the ARN of the role whose trust policy asks for this external id".to_owned(),
                ))
            }
            (None, None) => None,
        };
        Ok(DnsSettings {
            hosted_zone_id,
            role,
        })
    }
}

/// A hosted zone id, with or without its `/hostedzone/` prefix: upper-case letters and digits.
fn zone_id(text: &str) -> Option<String> {
    let id = text.trim().trim_start_matches("/hostedzone/");
    (!id.is_empty()
        && id.len() <= 32
        && id
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit()))
    .then(|| id.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(v: serde_json::Value) -> Result<DnsSettings, (String, String)> {
        serde_json::from_value::<RawDns>(v).unwrap().validate()
    }

    #[test]
    fn a_zone_id_is_taken_with_or_without_its_prefix() {
        for given in ["Z0123456789ABC", "/hostedzone/Z0123456789ABC"] {
            let dns = parse(serde_json::json!({"hosted_zone_id": given})).unwrap();
            assert_eq!(dns.hosted_zone_id.as_deref(), Some("Z0123456789ABC"));
        }
        assert_eq!(
            parse(serde_json::json!({})).unwrap(),
            DnsSettings::default()
        );
    }

    #[test]
    fn a_role_is_taken_with_its_external_id_and_an_external_id_alone_is_refused() {
        let dns = parse(serde_json::json!({
            "role": "arn:aws-cn:iam::111122223333:role/dns",
            "external_id": "ops-2026"
        }))
        .unwrap();
        let role = dns.role.unwrap();
        assert_eq!(role.account(), "111122223333");
        assert_eq!(role.external_id.as_deref(), Some("ops-2026"));
        let (field, message) = parse(serde_json::json!({"external_id": "ops-2026"})).unwrap_err();
        assert_eq!(field, "external_id");
        assert!(message.contains("without a role"), "{message}");
        let (field, _) = parse(serde_json::json!({"role": "dns"})).unwrap_err();
        assert_eq!(field, "role");
    }

    #[test]
    fn anything_else_is_refused_naming_the_field() {
        for bad in ["", "example.cn", "z0123", "Z012 345", &"Z".repeat(33)] {
            let (field, message) = parse(serde_json::json!({"hosted_zone_id": bad})).unwrap_err();
            assert_eq!(field, "hosted_zone_id");
            assert!(
                message.contains("not a Route 53 hosted zone id"),
                "{message}"
            );
        }
    }
}
