//! SNS: the message per domain that needs a person, to the stack's topic
//! (`CERT_ROTATOR_TOPIC_ARN`). `MessageStructure=json`: one body per protocol — readable text for
//! e-mail (`default`, `email`), a JSON document for machines (`sqs`, `lambda`)
//! (<https://docs.aws.amazon.com/sns/latest/api/API_Publish.html>).

use aws_config::SdkConfig;

use super::AwsError;

/// The SNS adapter.
#[derive(Debug, Clone)]
pub struct Sns {
    client: aws_sdk_sns::Client,
}

impl Sns {
    /// A client for `sdk`'s region.
    pub fn new(sdk: &SdkConfig) -> Self {
        Self {
            client: aws_sdk_sns::Client::new(sdk),
        }
    }

    /// Publishes `message` (a JSON object with a `default` key, one body per protocol) with
    /// `subject` to `topic`; returns the message id.
    pub async fn publish(
        &self,
        topic: &str,
        subject: &str,
        message: &str,
    ) -> Result<String, AwsError> {
        let out = self
            .client
            .publish()
            .topic_arn(topic)
            .subject(subject)
            .message_structure("json")
            .message(message)
            .send()
            .await
            .map_err(|e| AwsError::from_sdk("sns", "Publish", e))?;
        Ok(out.message_id().unwrap_or_default().to_owned())
    }
}
