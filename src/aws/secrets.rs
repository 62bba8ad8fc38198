//! Secrets Manager: where the ACME account's credentials live.
//!
//! `ResourceNotFoundException` → `None` (no such secret, or one created without a value);
//! `ResourceExistsException` on create, or on a put whose version token is taken →
//! [`Created::AlreadyExists`] (another run stored its account first). Secret values never appear
//! in errors or logs.

use aws_config::SdkConfig;
use aws_sdk_secretsmanager::operation::create_secret::CreateSecretError;
use aws_sdk_secretsmanager::operation::get_secret_value::GetSecretValueError;
use aws_sdk_secretsmanager::operation::put_secret_value::PutSecretValueError;

use zeroize::Zeroizing;

use super::AwsError;

/// A secret's current value and the id of its version. The value is zeroed when dropped; the
/// SDK's own copies (the response body, `GetSecretValueOutput`) are not.
#[derive(Clone)]
pub struct Stored {
    /// The string value (`None` for a binary secret).
    pub text: Option<Zeroizing<String>>,
    /// The binary value (`None` for a string secret).
    pub binary: Option<Zeroizing<Vec<u8>>>,
    /// The version id of that value.
    pub version: Option<String>,
}

impl std::fmt::Debug for Stored {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Stored")
            .field("text", &"<redacted>")
            .field("version", &self.version)
            .finish()
    }
}

/// The outcome of creating a secret or storing a version of one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Created {
    /// Stored.
    Created,
    /// A secret of that name, or a version with that token, exists already.
    AlreadyExists,
}

/// The Secrets Manager adapter.
#[derive(Debug, Clone)]
pub struct Secrets {
    client: aws_sdk_secretsmanager::Client,
}

impl Secrets {
    /// A client for `sdk`'s region.
    pub fn new(sdk: &SdkConfig) -> Self {
        Self {
            client: aws_sdk_secretsmanager::Client::new(sdk),
        }
    }

    /// The current value of `id` (name or ARN), or `None` if there is no such secret or it has
    /// no value yet.
    pub async fn get(&self, id: &str) -> Result<Option<Stored>, AwsError> {
        match self.client.get_secret_value().secret_id(id).send().await {
            Ok(out) => Ok(Some(Stored {
                text: out.secret_string().map(|t| Zeroizing::new(t.to_owned())),
                binary: out
                    .secret_binary()
                    .map(|b| Zeroizing::new(b.as_ref().to_vec())),
                version: out.version_id().map(str::to_owned),
            })),
            Err(e)
                if matches!(
                    e.as_service_error(),
                    Some(GetSecretValueError::ResourceNotFoundException(_))
                ) =>
            {
                Ok(None)
            }
            Err(e) => Err(AwsError::from_sdk("secretsmanager", "GetSecretValue", e)),
        }
    }

    /// Creates `name` holding `value`, unless it exists.
    pub async fn create(
        &self,
        name: &str,
        value: &str,
        description: &str,
    ) -> Result<Created, AwsError> {
        match self
            .client
            .create_secret()
            .name(name)
            .description(description)
            .secret_string(value)
            .send()
            .await
        {
            Ok(_) => Ok(Created::Created),
            Err(e)
                if matches!(
                    e.as_service_error(),
                    Some(CreateSecretError::ResourceExistsException(_))
                ) =>
            {
                Ok(Created::AlreadyExists)
            }
            Err(e) => Err(AwsError::from_sdk("secretsmanager", "CreateSecret", e)),
        }
    }

    /// Stores `value` as the new current version of the existing secret `id`, under the version
    /// token `token` (32–64 characters). A token already used for another value is
    /// [`Created::AlreadyExists`]: Secrets Manager never changes a version, so two runs that put
    /// under the same token store only the first value.
    pub async fn put(&self, id: &str, value: &str, token: &str) -> Result<Created, AwsError> {
        match self
            .client
            .put_secret_value()
            .secret_id(id)
            .secret_string(value)
            .client_request_token(token)
            .send()
            .await
        {
            Ok(_) => Ok(Created::Created),
            Err(e)
                if matches!(
                    e.as_service_error(),
                    Some(PutSecretValueError::ResourceExistsException(_))
                ) =>
            {
                Ok(Created::AlreadyExists)
            }
            Err(e) => Err(AwsError::from_sdk("secretsmanager", "PutSecretValue", e)),
        }
    }
}
