//! A role in another account that the function assumes (`sts:AssumeRole`) to act there: the
//! account holding a domain's hosted zone (`dns.role`), later the one holding its distributions.
//!
//! `{"role": "arn:aws-cn:iam::111122223333:role/cert-rotator-member", "external_id": "…"}`.
//! The ARN is checked here for its shape; whether its partition is the function's is checked
//! when the role is assumed ([`crate::aws::sts`]), where the function's partition is known.

use std::fmt;

/// A role to assume, with the external id its trust policy requires, if any.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
pub struct Role {
    /// `arn:<partition>:iam::<account>:role/<path/><name>`.
    pub arn: String,
    /// The `sts:ExternalId` the role's trust policy asks for. AWS does not treat it as a secret;
    /// it is kept out of logs all the same (it proves who may use the role).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_id: Option<String>,
}

impl fmt::Debug for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Role")
            .field("arn", &self.arn)
            .field("external_id", &self.external_id.as_ref().map(|_| "…"))
            .finish()
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.arn)
    }
}

/// The event's `{"role": "…", "external_id": "…"}` (a domain's `account`).
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawRole {
    role: Option<String>,
    external_id: Option<String>,
}

impl RawRole {
    /// Validates; errors are (field suffix, message).
    pub(crate) fn validate(self) -> Result<Role, (String, String)> {
        let arn = self.role.ok_or_else(|| {
            (
                "role".to_owned(),
                "is missing: give the ARN of the role cert-rotator assumes in that account (the member stack's output MemberRoleArn)".to_owned(),
            )
        })?;
        Role::parse(&arn, self.external_id)
    }
}

impl Role {
    /// A role from an event's `role` and `external_id`; errors are (field, message).
    pub fn parse(arn: &str, external_id: Option<String>) -> Result<Self, (String, String)> {
        let arn = arn.trim();
        if RoleArn::of(arn).is_none() {
            return Err((
                "role".to_owned(),
                format!("{arn:?} is not an IAM role ARN: write it as arn:<partition>:iam::<12-digit account>:role/<name>, e.g. \"arn:aws-cn:iam::111122223333:role/cert-rotator-member\" (the member stack's output MemberRoleArn)"),
            ));
        }
        if let Some(id) = &external_id {
            // sts:AssumeRole's ExternalId: 2 to 1224 characters of [\w+=,.@:/-].
            let allowed = |c: char| c.is_ascii_alphanumeric() || "_+=,.@:/-".contains(c);
            if !(2..=1224).contains(&id.len()) || !id.chars().all(allowed) {
                return Err((
                    "external_id".to_owned(),
                    "is not an external id STS accepts: 2 to 1224 letters, digits or _+=,.@:/- — write the ExternalId the member stack was deployed with".to_owned(),
                ));
            }
        }
        Ok(Self {
            arn: arn.to_owned(),
            external_id,
        })
    }

    /// The partition in the ARN (`aws`, `aws-cn`, ...).
    pub fn partition(&self) -> &str {
        RoleArn::of(&self.arn).map_or("", |a| a.partition)
    }

    /// The account the role is in.
    pub fn account(&self) -> &str {
        RoleArn::of(&self.arn).map_or("", |a| a.account)
    }
}

/// The parts of a role ARN.
struct RoleArn<'a> {
    partition: &'a str,
    account: &'a str,
}

impl<'a> RoleArn<'a> {
    fn of(arn: &'a str) -> Option<Self> {
        let mut parts = arn.splitn(6, ':');
        let (scheme, partition, service, region, account, resource) = (
            parts.next()?,
            parts.next()?,
            parts.next()?,
            parts.next()?,
            parts.next()?,
            parts.next()?,
        );
        let name = resource.strip_prefix("role/")?.rsplit('/').next()?;
        let name_ok = (1..=64).contains(&name.len())
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "_+=,.@-".contains(c));
        (scheme == "arn"
            && partition.starts_with("aws")
            && service == "iam"
            && region.is_empty()
            && account.len() == 12
            && account.bytes().all(|b| b.is_ascii_digit())
            && name_ok)
            .then_some(Self { partition, account })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_role_arn_gives_its_partition_and_account() {
        let role = Role::parse(
            " arn:aws-cn:iam::111122223333:role/teams/cert-rotator-member ",
            Some("ops-2026".into()),
        )
        .unwrap();
        assert_eq!(role.partition(), "aws-cn");
        assert_eq!(role.account(), "111122223333");
        assert_eq!(
            role.arn,
            "arn:aws-cn:iam::111122223333:role/teams/cert-rotator-member"
        );
        assert!(!format!("{role:?}").contains("ops-2026"), "{role:?}");
    }

    #[test]
    fn anything_but_a_role_arn_is_refused_naming_the_field() {
        for bad in [
            "",
            "cert-rotator-member",
            "arn:aws-cn:iam::1111:role/x",
            "arn:aws-cn:iam::111122223333:user/x",
            "arn:aws-cn:sts::111122223333:role/x",
            "arn:aws-cn:iam:cn-north-1:111122223333:role/x",
            "arn:aws-cn:iam::111122223333:role/",
            "arn:aws-cn:iam::111122223333:role/a b",
        ] {
            let (field, message) = Role::parse(bad, None).unwrap_err();
            assert_eq!(field, "role", "{bad}");
            assert!(message.contains("is not an IAM role ARN"), "{message}");
        }
    }

    #[test]
    fn an_external_id_sts_would_refuse_is_refused_here() {
        let arn = "arn:aws:iam::111122223333:role/x";
        for bad in ["x", "has space", &"a".repeat(1225)] {
            let (field, _) = Role::parse(arn, Some(bad.to_owned())).unwrap_err();
            assert_eq!(field, "external_id");
        }
        assert!(Role::parse(arn, Some("a1:b/c@d=e".into())).is_ok());
    }
}
