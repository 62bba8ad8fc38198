//! The archive: every issued certificate with its chain and private key, written to S3 (server-side
//! encrypted) *before* it is uploaded or attached, so the key of every deployed certificate stays
//! recoverable, and a run that dies after issuing does not issue again.
//!
//! One JSON object per certificate at `archive/<names-hash>/<iam-name>.json`; listing one prefix
//! finds every certificate of a name set.

use crate::acme::PrivateKeyPem;
use crate::aws::s3::{Condition, S3};
use crate::aws::AwsError;

/// A certificate as archived.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Bundle {
    /// Its names, as requested.
    pub names: Vec<String>,
    /// The IAM name it is (or will be) uploaded under.
    pub iam_name: String,
    /// The leaf, PEM.
    pub certificate: String,
    /// The intermediates, PEM, in issuing order.
    pub chain: String,
    /// The leaf's private key, PKCS#8 PEM.
    pub private_key: PrivateKeyPem,
}

/// Where a bundle is kept.
pub fn key(names_hash: &str, iam_name: &str) -> String {
    format!("archive/{names_hash}/{iam_name}.json")
}

/// Writes a bundle (before anything uses it).
pub async fn store(s3: &S3, names_hash: &str, bundle: &Bundle) -> Result<(), AwsError> {
    let body = serde_json::to_vec_pretty(bundle)
        .map_err(|e| AwsError::invalid_request("s3", "PutObject", e))?;
    s3.put(
        &key(names_hash, &bundle.iam_name),
        body,
        "application/json",
        Condition::None,
    )
    .await
    .map(drop)
}

/// Every readable bundle of a name set (unreadable objects are skipped: a person may have put
/// something there, and a bad archive entry must not stop renewals).
pub async fn find(s3: &S3, names_hash: &str) -> Result<Vec<Bundle>, AwsError> {
    let mut bundles = Vec::new();
    for k in s3.keys(&format!("archive/{names_hash}/")).await? {
        if let Some(object) = s3.get(&k).await? {
            if let Ok(bundle) = serde_json::from_slice::<Bundle>(&object.body) {
                bundles.push(bundle);
            }
        }
    }
    Ok(bundles)
}
