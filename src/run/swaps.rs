//! The swaps a run made, kept where the next run sees them: `swaps/<account>/<certificate
//! id>/<distribution id>` in the archive bucket (`own` for the function's account), written
//! before CloudFront is asked to swap the distribution away from that IAM certificate.
//!
//! CloudFront's guide: "don't delete [the old certificate] until the distributions you updated
//! are Deployed" (<https://docs.aws.amazon.com/AmazonCloudFront/latest/DeveloperGuide/cnames-and-https-rotate-certificates.html>)
//! — some edges serve it until then. The run that swapped knows it; a run after a kill, a
//! timeout or a domain stopped at the deadline does not, hence these notes: retirement keeps a
//! certificate while any distribution noted as swapped away from it is not `Deployed`, and a
//! note goes once its distribution is `Deployed` (or gone) or its certificate is. IAM's tags
//! cannot hold them: a tag value is at most 256 characters.

use std::collections::HashMap;

use crate::aws::s3::{Condition, S3};
use crate::aws::AwsError;

/// Where the notes are.
pub const PREFIX: &str = "swaps/";

fn folder(account: Option<&str>) -> String {
    format!("{PREFIX}{}/", account.unwrap_or("own"))
}

fn key(account: Option<&str>, certificate: &str, distribution: &str) -> String {
    format!("{}{certificate}/{distribution}", folder(account))
}

/// Notes that `distribution` is about to be swapped away from IAM certificate `certificate`.
pub async fn note(
    s3: &S3,
    account: Option<&str>,
    (certificate, distribution): (&str, &str),
    to: &str,
) -> Result<(), AwsError> {
    let body = serde_json::json!({
        "to": to,
        "at": time::OffsetDateTime::now_utc()
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default(),
    });
    let key = key(account, certificate, distribution);
    s3.put(
        &key,
        body.to_string().into_bytes(),
        "application/json",
        Condition::None,
    )
    .await
    .map(drop)
}

/// The swaps noted in `account`: certificate id → distributions swapped away from it.
pub async fn noted(
    s3: &S3,
    account: Option<&str>,
) -> Result<HashMap<String, Vec<String>>, AwsError> {
    let folder = folder(account);
    let mut out: HashMap<String, Vec<String>> = HashMap::new();
    for key in s3.keys(&folder).await? {
        if let Some((certificate, distribution)) = key
            .strip_prefix(&folder)
            .and_then(|rest| rest.split_once('/'))
        {
            out.entry(certificate.to_owned())
                .or_default()
                .push(distribution.to_owned());
        }
    }
    Ok(out)
}

/// Forgets a note that no longer keeps anything.
pub async fn forget(
    s3: &S3,
    account: Option<&str>,
    (certificate, distribution): (&str, &str),
) -> Result<(), AwsError> {
    s3.delete(&key(account, certificate, distribution)).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notes_are_kept_per_account() {
        assert_eq!(key(None, "ASCA1", "E1"), "swaps/own/ASCA1/E1");
        assert_eq!(
            key(Some("111122223333"), "ASCA1", "E1"),
            "swaps/111122223333/ASCA1/E1"
        );
    }
}
