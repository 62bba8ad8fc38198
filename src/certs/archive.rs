//! The archive: every issued certificate with its chain and private key, written to S3 (server-side
//! encrypted) *before* it is uploaded or attached, so the key of every deployed certificate stays
//! recoverable, and a run that dies after issuing does not issue again.
//!
//! One JSON object per certificate at `archive/<names-hash>/<iam-name>.json`; listing one prefix
//! finds every certificate of a name set. This module is the format; the run's
//! [`crate::ports::Archive`] reads and writes it.

use crate::acme::PrivateKeyPem;

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
    format!("{}{iam_name}.json", prefix(names_hash))
}

/// Where a bundle deployed in another account (`account`, its id) is kept: beside the function's
/// own, one folder down, so that each account's bundles are pruned against that account's IAM
/// only.
pub fn key_in(names_hash: &str, account: Option<&str>, iam_name: &str) -> String {
    match account {
        None => key(names_hash, iam_name),
        Some(account) => format!("{}{account}/{iam_name}.json", prefix(names_hash)),
    }
}

/// Where every bundle of a name set is kept (another account's one folder down).
pub fn prefix(names_hash: &str) -> String {
    format!("archive/{names_hash}/")
}

/// A bundle as stored.
pub fn to_json(bundle: &Bundle) -> Result<Vec<u8>, serde_json::Error> {
    serde_json::to_vec_pretty(bundle)
}

/// A stored bundle, if the object is one (a person may have put something else there, and a bad
/// archive entry must not stop renewals).
pub fn from_json(body: &[u8]) -> Option<Bundle> {
    serde_json::from_slice(body).ok()
}
