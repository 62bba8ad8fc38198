//! The ACME account, kept in Secrets Manager.
//!
//! The first run creates the account at the CA and stores its credentials (instant-acme's
//! `AccountCredentials`: `{id, key_pkcs8, directory}`) as the secret; later runs load it. Two
//! first runs that meet both create an account, but only one secret is stored (CreateSecret fails
//! for the second), and the loser switches to the stored one. Credentials for another directory
//! (staging vs production) are refused rather than used against the wrong CA.

use instant_acme::{Account, AccountCredentials};

use crate::acme::{self, AcmeError};
use crate::aws::secrets::{Created, Secrets};
use crate::aws::AwsError;
use crate::config::AcmeConfig;

/// Why the account could not be had.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AccountError {
    /// Secrets Manager failed.
    #[error("reading or storing the ACME account in Secrets Manager: {0}")]
    Aws(#[from] AwsError),
    /// The CA failed.
    #[error(transparent)]
    Acme(#[from] AcmeError),
    /// The secret holds something else.
    #[error("secret {secret} does not hold ACME account credentials ({why}) — point CERT_ROTATOR_ACCOUNT_SECRET at another secret, or delete this one to create a new account")]
    Garbage {
        /// The secret.
        secret: String,
        /// What is wrong (never the value).
        why: String,
    },
    /// The secret is for another CA.
    #[error("secret {secret} holds an account at {stored}, but CERT_ROTATOR_ACME_DIRECTORY is {configured} — use a separate secret per CA")]
    OtherDirectory {
        /// The secret.
        secret: String,
        /// Its directory.
        stored: String,
        /// Ours.
        configured: String,
    },
}

/// Whether the account was created on this run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Origin {
    /// Loaded from the secret.
    Loaded,
    /// Created and stored now.
    Created,
}

fn credentials(
    secret: &str,
    text: &str,
    config: &AcmeConfig,
) -> Result<AccountCredentials, AccountError> {
    let garbage = |why: &str| AccountError::Garbage {
        secret: secret.to_owned(),
        why: why.to_owned(),
    };
    let value: serde_json::Value = serde_json::from_str(text).map_err(|_| garbage("not JSON"))?;
    let stored = value
        .get("directory")
        .and_then(|d| d.as_str())
        .ok_or_else(|| garbage("no \"directory\" field"))?;
    if stored != config.directory {
        return Err(AccountError::OtherDirectory {
            secret: secret.to_owned(),
            stored: stored.to_owned(),
            configured: config.directory.clone(),
        });
    }
    serde_json::from_value(value).map_err(|_| garbage("missing \"id\" or \"key_pkcs8\""))
}

/// Loads the account from `secret`, creating and storing it if there is none.
pub async fn load_or_create(
    secrets: &Secrets,
    secret: &str,
    config: &AcmeConfig,
) -> Result<(Account, Origin), AccountError> {
    if let Some(text) = secrets.get(secret).await? {
        let creds = credentials(secret, &text, config)?;
        return Ok((acme::load_account(config, creds).await?, Origin::Loaded));
    }
    if secret.starts_with("arn:") {
        // An ARN names a secret that exists; creating one under that name would be wrong.
        return Err(AccountError::Garbage { secret: secret.to_owned(), why: "no such secret (an ARN must name an existing secret; give a name to have it created)".into() });
    }
    let (account, creds) = acme::create_account(config).await?;
    let text = serde_json::to_string(&creds).map_err(|e| AccountError::Garbage {
        secret: secret.to_owned(),
        why: e.to_string(),
    })?;
    match secrets
        .create(secret, &text, "cert-rotator ACME account credentials")
        .await?
    {
        Created::Created => Ok((account, Origin::Created)),
        Created::AlreadyExists => {
            // Another run stored its account first: use that one, so every run shares one account.
            let text = secrets
                .get(secret)
                .await?
                .ok_or_else(|| AccountError::Garbage {
                    secret: secret.to_owned(),
                    why: "vanished after creation".into(),
                })?;
            Ok((
                acme::load_account(config, credentials(secret, &text, config)?).await?,
                Origin::Loaded,
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> AcmeConfig {
        AcmeConfig::from_lookup(|k| {
            (k == "CERT_ROTATOR_ACME_DIRECTORY").then(|| "https://ca.example/dir".to_owned())
        })
        .unwrap()
    }

    fn err(text: &str) -> String {
        match credentials("s", text, &config()) {
            Ok(_) => panic!("accepted {text}"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn garbage_and_other_directories_are_refused_without_echoing_the_value() {
        let e = err("hunter2");
        assert!(e.contains("not JSON") && !e.contains("hunter2"), "{e}");
        let e = err(r#"{"directory": "https://other/dir", "id": "x", "key_pkcs8": "secret"}"#);
        assert!(
            e.contains("https://other/dir") && !e.contains("secret\""),
            "{e}"
        );
        let e = err(r#"{"directory": "https://ca.example/dir"}"#);
        assert!(e.contains("missing"), "{e}");
    }
}
