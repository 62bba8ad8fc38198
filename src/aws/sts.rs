//! STS: sessions in other accounts (`sts:AssumeRole`), one per role per run.
//!
//! A role of another partition is refused before STS is asked (a role can be assumed only from
//! its own partition: `aws-cn` credentials are unknown to `aws`'s STS and the other way round).
//! A session is asked for once per run and role and shared by every domain naming the role (a
//! refusal is kept for the run, throttling or an outage only for a pause: [`super::attempt`]); its
//! SDK configuration is the function's (region, timeouts, endpoint) with the session's
//! credentials, so a client built from it resolves the same endpoints.

use std::collections::HashMap;
use std::sync::Arc;

use aws_config::SdkConfig;
use aws_credential_types::provider::SharedCredentialsProvider;
use aws_credential_types::Credentials;
use tokio::sync::{Mutex, OnceCell};

use super::attempt::Attempt;
use super::AwsError;
use crate::model::partition::Partition;
use crate::model::role::{Admission, Members, Role};

/// Why a role could not be assumed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AssumeError {
    /// The role is in another partition than the function.
    #[error("role {role} is in partition {role_partition}, but this function runs in {partition}: a role can only be assumed from its own partition — name a role of an {partition} account")]
    OtherPartition {
        /// The role's ARN.
        role: String,
        /// Its partition.
        role_partition: String,
        /// The function's.
        partition: Partition,
    },
    /// The role's account is not one this stack names as a member: refused before STS is asked.
    #[error("role {role} is in account {account}, which this function may not act in: {advice}")]
    NotMember {
        /// The role's ARN.
        role: String,
        /// Its account.
        account: String,
        /// What to set ([`Members::advice`]).
        advice: String,
    },
    /// The function's own account could not be told, so a role that may be in it is not
    /// assumed (one account is never handled by two groups at once).
    #[error("cannot tell this function's own account ({reason}), so role {role} is not assumed: it may be in that account, which must not be handled twice at once — retry; if it persists, check that STS (GetCallerIdentity) is reachable")]
    OwnAccountUnknown {
        /// The role's ARN.
        role: String,
        /// Why GetCallerIdentity failed.
        reason: String,
    },
    /// STS refused or failed.
    #[error("assuming role {role}: {source} — {}", what_to_do(source, *external_id))]
    Refused {
        /// The role's ARN.
        role: String,
        /// Whether an external id was sent.
        external_id: bool,
        /// STS's error.
        #[source]
        source: AwsError,
    },
}

// The most likely cause first: STS's AccessDenied does not say whose policy refused, and with the
// rotator's policy deployed by its template (and the account a member: checked before STS is
// asked), it is the member's side — the role missing, or its trust policy.
fn what_to_do(error: &AwsError, external_id: bool) -> &'static str {
    match (error.code.as_str(), external_id) {
        ("AccessDenied", true) => "most likely the member's side: check that the role exists and that its trust policy trusts this function's role with this very external id (deploy the member stack with RotatorRoleArn = the rotator stack's output RotatorRoleArn and the same ExternalId); otherwise that the rotator stack's MemberRoleName is the role's name and, with OrganizationId, that the account is in that organization",
        ("AccessDenied", false) => "most likely the member's side: check that the role exists and that its trust policy trusts this function's role (deploy the member stack with RotatorRoleArn = the rotator stack's output RotatorRoleArn; if it was deployed with an ExternalId, set external_id beside the role); otherwise that the rotator stack's MemberRoleName is the role's name and, with OrganizationId, that the account is in that organization",
        ("RegionDisabledException", _) => "STS is not activated in this region for the role's account: activate it in IAM's account settings",
        _ => "retry later; if it persists, check STS in this region",
    }
}

impl AssumeError {
    /// Whether asking STS again would only repeat it (a refusal, another partition), as
    /// opposed to throttling or an outage, which may pass within the run.
    pub fn lasting(&self) -> bool {
        match self {
            Self::OtherPartition { .. } | Self::NotMember { .. } => true,
            Self::OwnAccountUnknown { .. } => false,
            Self::Refused { source, .. } => !source.may_pass(),
        }
    }
}

/// A role's session, assumed on first use, or why it could not be (a passing failure is tried
/// again after [`super::attempt::PAUSE`]).
type SessionCell = Arc<Attempt<SdkConfig, Arc<AssumeError>>>;

/// The function's sessions in other accounts, for one run.
#[derive(Debug)]
pub struct Sessions {
    base: SdkConfig,
    sts: aws_sdk_sts::Client,
    partition: Partition,
    name: String,
    by_role: Mutex<HashMap<Role, SessionCell>>,
    /// The function's own account id: from the Lambda context's function ARN, else
    /// `GetCallerIdentity` asked once when a role is named (`Err`: why it failed).
    own: OnceCell<Result<String, String>>,
    /// The accounts whose roles may be assumed.
    members: Members,
}

impl Sessions {
    /// Sessions assumed with `base`'s credentials, named `cert-rotator-<run>` (in CloudTrail and
    /// in the role's `aws:userid`).
    pub fn new(base: &SdkConfig, partition: Partition, run_id: &str) -> Self {
        let name: String = format!("cert-rotator-{run_id}")
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || "_+=,.@-".contains(c) {
                    c
                } else {
                    '-'
                }
            })
            .take(64)
            .collect();
        Self {
            base: base.clone(),
            sts: aws_sdk_sts::Client::new(base),
            partition,
            name,
            by_role: Mutex::new(HashMap::new()),
            own: OnceCell::new(),
            members: Members::default(),
        }
    }

    /// Roles may be assumed only in `members`' accounts (none by default).
    #[must_use]
    pub fn trusting(mut self, members: &Members) -> Self {
        self.members = members.clone();
        self
    }

    /// The function's own account, when the caller knows it without STS (the Lambda context's
    /// `invoked_function_arn`): `GetCallerIdentity` is then never asked.
    #[must_use]
    pub fn in_own_account(self, account: Option<&str>) -> Self {
        if let Some(account) = account {
            let _ = self.own.set(Ok(account.to_owned()));
        }
        self
    }

    /// `role`, unless it is in the function's own account: there the function acts as itself,
    /// so that one account is never handled twice at once (two listings and retirements of one
    /// IAM, two writers of one zone). The own account comes from the Lambda context, else
    /// `GetCallerIdentity` (which needs no permission); when neither can tell, the role is
    /// refused ([`AssumeError::OwnAccountUnknown`]) rather than risk a second group. A role of
    /// another partition is kept whatever its account id, for [`Sessions::config`] to refuse.
    pub async fn elsewhere<'r>(
        &self,
        role: Option<&'r Role>,
    ) -> Result<Option<&'r Role>, Arc<AssumeError>> {
        let Some(role) = role else {
            return Ok(None);
        };
        if role.partition() != self.partition.as_str() {
            return Ok(Some(role));
        }
        let own = self
            .own
            .get_or_init(|| async {
                match self.sts.get_caller_identity().send().await {
                    Ok(me) => me.account().map(str::to_owned).ok_or_else(|| "STS answered without an account".to_owned()),
                    Err(e) => {
                        let e = AwsError::from_sdk("sts", "GetCallerIdentity", e);
                        tracing::warn!(error = %e, "cannot tell the function's own account; roles are not assumed");
                        Err(e.to_string())
                    }
                }
            })
            .await;
        match own {
            Ok(own) if own == role.account() => Ok(None),
            Ok(_) => Ok(Some(role)),
            Err(reason) => Err(Arc::new(AssumeError::OwnAccountUnknown {
                role: role.arn.clone(),
                reason: reason.clone(),
            })),
        }
    }

    /// The SDK configuration acting as `role` (assumed on first use in the run; after a
    /// failure that may pass, assumed again once [`super::attempt::PAUSE`] is over).
    pub async fn config(&self, role: &Role) -> Result<SdkConfig, Arc<AssumeError>> {
        let cell = self
            .by_role
            .lock()
            .await
            .entry(role.clone())
            .or_default()
            .clone();
        cell.get(
            || async { self.assume(role).await.map_err(Arc::new) },
            |e| e.lasting(),
        )
        .await
    }

    async fn assume(&self, role: &Role) -> Result<SdkConfig, AssumeError> {
        if role.partition() != self.partition.as_str() {
            return Err(AssumeError::OtherPartition {
                role: role.arn.clone(),
                role_partition: role.partition().to_owned(),
                partition: self.partition,
            });
        }
        if self.members.admit(role.account()) == Admission::Refused {
            return Err(AssumeError::NotMember {
                role: role.arn.clone(),
                account: role.account().to_owned(),
                advice: self.members.advice(role.account()),
            });
        }
        let refused = |source| AssumeError::Refused {
            role: role.arn.clone(),
            external_id: role.external_id.is_some(),
            source,
        };
        let out = self
            .sts
            .assume_role()
            .role_arn(&role.arn)
            .role_session_name(&self.name)
            .set_external_id(role.external_id.clone())
            .send()
            .await
            .map_err(|e| refused(AwsError::from_sdk("sts", "AssumeRole", e)))?;
        let c = out.credentials().ok_or_else(|| {
            refused(AwsError {
                service: "sts",
                operation: "AssumeRole",
                code: "NoCredentials".into(),
                message: "STS answered without credentials".into(),
                source: None,
            })
        })?;
        let expiry = std::time::SystemTime::try_from(*c.expiration()).ok();
        let credentials = Credentials::new(
            c.access_key_id(),
            c.secret_access_key(),
            Some(c.session_token().to_owned()),
            expiry,
            "sts:AssumeRole",
        );
        tracing::info!(role = %role.arn, session = %self.name, "assumed role");
        Ok(self
            .base
            .to_builder()
            .credentials_provider(SharedCredentialsProvider::new(credentials))
            .build())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refusal_lasts_for_the_run_and_throttling_or_an_outage_may_pass() {
        let refused = |code: &str| AssumeError::Refused {
            role: "arn:aws-cn:iam::111122223333:role/dns".into(),
            external_id: true,
            source: AwsError {
                service: "sts",
                operation: "AssumeRole",
                code: code.into(),
                message: String::new(),
                source: None,
            },
        };
        for code in [
            "AccessDenied",
            "RegionDisabledException",
            "InvalidClientTokenId",
        ] {
            assert!(refused(code).lasting(), "{code}");
        }
        for code in [
            "Throttling",
            "dispatch",
            "ServiceUnavailable",
            "InternalFailure",
        ] {
            assert!(!refused(code).lasting(), "{code}");
        }
        let other = AssumeError::OtherPartition {
            role: "arn:aws:iam::111122223333:role/dns".into(),
            role_partition: "aws".into(),
            partition: Partition::AwsCn,
        };
        assert!(other.lasting());
    }

    #[tokio::test]
    async fn a_role_of_another_partition_is_refused_before_sts_is_asked() {
        // No endpoint and no credentials: reaching STS would fail differently.
        let sdk = SdkConfig::builder()
            .region(aws_config::Region::new("cn-north-1"))
            .behavior_version(aws_config::BehaviorVersion::latest())
            .build();
        let sessions = Sessions::new(&sdk, Partition::AwsCn, "r/1 2");
        assert_eq!(sessions.name, "cert-rotator-r-1-2");
        let role = Role::parse("arn:aws:iam::111122223333:role/dns", None).unwrap();
        assert_eq!(
            sessions.elsewhere(Some(&role)).await.ok(),
            Some(Some(&role)),
            "kept for config to refuse, whatever its account id"
        );
        let error = sessions.config(&role).await.unwrap_err();
        assert!(
            matches!(*error, AssumeError::OtherPartition { .. }),
            "{error}"
        );
        let message = error.to_string();
        assert!(
            message.contains("arn:aws:iam::111122223333:role/dns"),
            "{message}"
        );
        assert!(message.contains("runs in aws-cn"), "{message}");
    }

    #[tokio::test]
    async fn a_role_outside_the_member_accounts_is_refused_before_sts_is_asked() {
        // No endpoint and no credentials: reaching STS would fail differently.
        let sdk = SdkConfig::builder()
            .region(aws_config::Region::new("cn-north-1"))
            .behavior_version(aws_config::BehaviorVersion::latest())
            .build();
        let role = Role::parse(
            "arn:aws-cn:iam::999988887777:role/cert-rotator-member",
            None,
        )
        .unwrap();
        let members = Members::parse(Some("111122223333"), None).unwrap();
        let sessions = Sessions::new(&sdk, Partition::AwsCn, "r1")
            .trusting(&members)
            .in_own_account(Some("123456789012"));
        assert_eq!(
            sessions.elsewhere(Some(&role)).await.ok(),
            Some(Some(&role)),
            "the own account from the context: no GetCallerIdentity"
        );
        let error = sessions.config(&role).await.unwrap_err();
        assert!(matches!(*error, AssumeError::NotMember { .. }), "{error}");
        assert!(error.lasting());
        let message = error.to_string();
        assert!(
            message.contains("999988887777 is not in the stack's MemberAccounts (111122223333)"),
            "{message}"
        );
        let own = Role::parse(
            "arn:aws-cn:iam::123456789012:role/cert-rotator-member",
            None,
        )
        .unwrap();
        assert_eq!(sessions.elsewhere(Some(&own)).await.ok(), Some(None));
    }
}
