//! Secrets Manager: where the ACME account's credentials live.
//!
//! `ResourceNotFoundException` → `None`; `ResourceExistsException` on create →
//! [`Created::AlreadyExists`] (another run stored its account first). Secret values never appear
//! in errors or logs.

use aws_config::SdkConfig;
use aws_sdk_secretsmanager::operation::create_secret::CreateSecretError;
use aws_sdk_secretsmanager::operation::get_secret_value::GetSecretValueError;

use super::AwsError;

/// The outcome of creating a secret.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Created {
    /// Stored.
    Created,
    /// A secret of that name exists already.
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

    /// The current string value of `id` (name or ARN), or `None` if there is no such secret.
    pub async fn get(&self, id: &str) -> Result<Option<String>, AwsError> {
        match self.client.get_secret_value().secret_id(id).send().await {
            Ok(out) => Ok(out.secret_string().map(str::to_owned)),
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
}
