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

/// Who may be a member: the accounts this stack lets the function assume roles in
/// (`MemberAccounts`, `CERT_ROTATOR_MEMBER_ACCOUNTS`) and the organization whose accounts it may
/// (`OrganizationId`, `CERT_ROTATOR_ORGANIZATION_ID`). With neither, no role in another account
/// is assumed: the role ARN and external id come from the event, so without this list whoever
/// may invoke the function could have a certificate and its key delivered into an account of
/// their own.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Members {
    /// Account ids, 12 digits each.
    pub accounts: Vec<String>,
    /// An AWS Organizations id (`o-…`).
    pub organization: Option<String>,
}

/// Whether a role's account may be assumed ([`Members::admit`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// Listed in `MemberAccounts`.
    Listed,
    /// Not listed, but the stack names an organization: STS decides, under the policy's
    /// `aws:ResourceOrgID` condition (membership of an organization cannot be read without the
    /// management account's permissions).
    IfInOrganization,
    /// Not a member: refused before STS is asked.
    Refused,
}

impl Members {
    /// Whether a role in `account` may be assumed.
    pub fn admit(&self, account: &str) -> Admission {
        if self.accounts.iter().any(|a| a == account) {
            Admission::Listed
        } else if self.organization.is_some() {
            Admission::IfInOrganization
        } else {
            Admission::Refused
        }
    }

    /// What to do about a role refused in `account`, naming the settings.
    pub fn advice(&self, account: &str) -> String {
        if self.accounts.is_empty() {
            format!("this stack names no member accounts, so cert-rotator assumes no role outside its own account: set the stack's MemberAccounts to {account} (and any other member account ids, comma-separated; CERT_ROTATOR_MEMBER_ACCOUNTS) or OrganizationId to your organization's id (CERT_ROTATOR_ORGANIZATION_ID), and update the stack")
        } else {
            format!(
                "{account} is not in the stack's MemberAccounts ({}): add it there (CERT_ROTATOR_MEMBER_ACCOUNTS) and update the stack, or name a role in a member account",
                self.accounts.join(",")
            )
        }
    }

    /// Parses `CERT_ROTATOR_MEMBER_ACCOUNTS` (comma-separated 12-digit ids) and
    /// `CERT_ROTATOR_ORGANIZATION_ID`; errors are (variable, value, what is expected).
    pub fn parse(
        accounts: Option<&str>,
        organization: Option<&str>,
    ) -> Result<Self, (&'static str, String, &'static str)> {
        let mut out = Self::default();
        for id in accounts
            .into_iter()
            .flat_map(|v| v.split(','))
            .map(str::trim)
            .filter(|v| !v.is_empty())
        {
            if id.len() != 12 || !id.bytes().all(|b| b.is_ascii_digit()) {
                return Err((
                    "CERT_ROTATOR_MEMBER_ACCOUNTS",
                    id.to_owned(),
                    "12-digit account ids separated by commas, e.g. 111122223333,444455556666",
                ));
            }
            if !out.accounts.iter().any(|a| a == id) {
                out.accounts.push(id.to_owned());
            }
        }
        if let Some(org) = organization.map(str::trim).filter(|v| !v.is_empty()) {
            // Organizations' id pattern: ^o-[a-z0-9]{10,32}$.
            let rest = org.strip_prefix("o-").unwrap_or("");
            let shaped = (10..=32).contains(&rest.len())
                && rest
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
            if !shaped {
                return Err((
                    "CERT_ROTATOR_ORGANIZATION_ID",
                    org.to_owned(),
                    "an AWS Organizations id: o- and 10 to 32 lowercase letters or digits, e.g. o-a1b2c3d4e5",
                ));
            }
            out.organization = Some(org.to_owned());
        }
        Ok(out)
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

    #[test]
    fn only_listed_accounts_or_an_organization_admit_a_role() {
        let none = Members::default();
        assert_eq!(none.admit("111122223333"), Admission::Refused);
        assert!(none
            .advice("111122223333")
            .contains("MemberAccounts to 111122223333"));
        let listed = Members::parse(Some(" 111122223333,444455556666 ,"), None).unwrap();
        assert_eq!(listed.admit("444455556666"), Admission::Listed);
        assert_eq!(listed.admit("999999999999"), Admission::Refused);
        assert!(listed
            .advice("999999999999")
            .contains("not in the stack's MemberAccounts (111122223333,444455556666)"));
        let org = Members::parse(Some("111122223333"), Some("o-a1b2c3d4e5")).unwrap();
        assert_eq!(org.admit("111122223333"), Admission::Listed);
        assert_eq!(org.admit("999999999999"), Admission::IfInOrganization);
        for (accounts, organization, var) in [
            (Some("1111"), None, "CERT_ROTATOR_MEMBER_ACCOUNTS"),
            (Some("11112222333x"), None, "CERT_ROTATOR_MEMBER_ACCOUNTS"),
            (None, Some("org-1"), "CERT_ROTATOR_ORGANIZATION_ID"),
            (None, Some("o-ABCDEFGHIJ"), "CERT_ROTATOR_ORGANIZATION_ID"),
        ] {
            assert_eq!(Members::parse(accounts, organization).unwrap_err().0, var);
        }
    }
}
