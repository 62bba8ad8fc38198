//! The ACME account, kept in Secrets Manager.
//!
//! The first run creates the account at the CA and stores its credentials (instant-acme's
//! `AccountCredentials`: `{id, key_pkcs8, directory}`) in the secret; later runs load it. The
//! secret is either created here (a name that does not exist yet) or made by the stack with the
//! placeholder value `{}`, which the first run replaces with PutSecretValue. Two first runs that
//! meet both create an account at the CA, but only one is stored: CreateSecret fails for the
//! second, and so does its PutSecretValue, whose version token is derived from the placeholder's
//! version; the loser switches to the stored account. Credentials for another directory (staging
//! vs production) are refused rather than used against the wrong CA.
//!
//! A CA that requires External Account Binding gets one from `CERT_ROTATOR_EAB_SECRET`
//! ([`super::eab`]) when the account is created; the stored credentials then carry its key id
//! (`eab_key_id`), and a secret holding an account of another binding is refused as one of
//! another directory is: never used, never overwritten.

use instant_acme::{Account, AccountCredentials};
use serde::Deserialize;
use zeroize::{Zeroize, Zeroizing};

use crate::acme::eab::{Binding, BindingError};
use crate::acme::{self, AcmeError};
use crate::aws::secrets::{Created, Secrets, Stored};
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
    #[error("secret {secret} does not hold ACME account credentials ({why}) — point CERT_ROTATOR_ACCOUNT_SECRET at another secret, or set this one's value to {{}} to create a new account")]
    Garbage {
        /// The secret.
        secret: String,
        /// What is wrong (never the value).
        why: String,
    },
    /// The CA did not answer in time.
    #[error("the ACME CA at {directory} did not answer within {seconds} s — check CERT_ROTATOR_ACME_DIRECTORY and that the CA is reachable from this network")]
    Unanswered {
        /// The directory URL.
        directory: String,
        /// How long it was given.
        seconds: u64,
    },
    /// A dry run found no account (it does not create one).
    #[error("no ACME account yet in {secret} (a dry run does not create one)")]
    NotYet {
        /// The secret.
        secret: String,
    },
    /// The External Account Binding could not be read.
    #[error(transparent)]
    Binding(#[from] BindingError),
    /// The secret holds an account of another External Account Binding.
    #[error("secret {secret} holds an account {}, but CERT_ROTATOR_EAB_SECRET's binding has key id {configured} — an account belongs to one binding, so nothing was ordered and the secret is left as it is: keep the account by putting its binding back (or clearing EabSecret: an account needs its binding only to be created), or start over with a new account under the new binding (README, \"Starting over with a new ACME account\"); a separate secret per CA and binding takes a second stack", .stored.as_ref().map_or_else(|| "created without External Account Binding".to_owned(), |k| format!("bound to key id {k}")))]
    OtherBinding {
        /// The secret.
        secret: String,
        /// The key id the stored account was bound to.
        stored: Option<String>,
        /// The configured binding's key id.
        configured: String,
    },
    /// The secret is for another CA.
    #[error("secret {secret} holds an account at {stored}, but CERT_ROTATOR_ACME_DIRECTORY is {configured} — an account belongs to one CA, so nothing was ordered and the secret is left as it is: put the directory back, or start over with a new account at this CA (README, \"Starting over with a new ACME account\"); use a separate secret per CA (a second stack) to keep both")]
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

/// What the secret holds.
enum Holding {
    /// No secret, or a secret without a value.
    Nothing,
    /// The stack's placeholder `{}` (or a blank value), at this version.
    Placeholder(Option<String>),
    /// An account.
    Account(Box<AccountCredentials>),
}

/// The version token for the value that replaces the placeholder at `version`: the same for
/// every run that saw that placeholder, so only one of them can store its account.
fn replacement_token(version: Option<&str>) -> String {
    // A version id is a UUID (36 characters); the token must be 32–64.
    let version = version.unwrap_or("00000000-0000-0000-0000-000000000000");
    let token = format!("cert-rotator-account-{version}");
    if (32..=64).contains(&token.len()) {
        token
    } else {
        format!("cert-rotator-account-{:016x}", fnv(version))
    }
}

fn fnv(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// The field of the stored credentials naming the External Account Binding's key id.
const EAB_KEY_ID: &str = "eab_key_id";

fn holding(
    secret: &str,
    stored: Option<Stored>,
    (config, bound): (&AcmeConfig, Option<&str>),
) -> Result<Holding, AccountError> {
    let Some(stored) = stored else {
        return Ok(Holding::Nothing);
    };
    let Some(text) = stored.text else {
        return Err(AccountError::Garbage {
            secret: secret.to_owned(),
            why: "a binary value".into(),
        });
    };
    let blank = text.trim();
    if blank.is_empty()
        || blank
            .chars()
            .filter(|c| !c.is_whitespace())
            .eq("{}".chars())
    {
        return Ok(Holding::Placeholder(stored.version));
    }
    credentials(secret, &text, (config, bound)).map(|c| Holding::Account(Box::new(c)))
}

fn credentials(
    secret: &str,
    text: &str,
    (config, bound): (&AcmeConfig, Option<&str>),
) -> Result<AccountCredentials, AccountError> {
    let garbage = |why: &str| AccountError::Garbage {
        secret: secret.to_owned(),
        why: why.to_owned(),
    };
    let mut value: serde_json::Value =
        serde_json::from_str(text).map_err(|_| garbage("not JSON"))?;
    let read = || {
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
        // Only a configured binding is checked: once created, an account needs none.
        let stored_key_id = value.get(EAB_KEY_ID).and_then(|k| k.as_str());
        if let Some(configured) = bound.filter(|b| stored_key_id != Some(*b)) {
            return Err(AccountError::OtherBinding {
                secret: secret.to_owned(),
                stored: stored_key_id.map(str::to_owned),
                configured: configured.to_owned(),
            });
        }
        AccountCredentials::deserialize(&value)
            .map_err(|_| garbage("missing \"id\" or \"key_pkcs8\""))
    };
    let credentials = read();
    // The parsed copy of the key (`key_pkcs8`) is zeroed; instant-acme's AccountCredentials
    // does not zero its own on drop.
    wipe(&mut value);
    credentials
}

/// Zeroes every string in `value`.
fn wipe(value: &mut serde_json::Value) {
    use serde_json::Value;
    match value {
        Value::String(s) => s.zeroize(),
        Value::Array(items) => items.iter_mut().for_each(wipe),
        Value::Object(fields) => fields.values_mut().for_each(wipe),
        Value::Null | Value::Bool(_) | Value::Number(_) => {}
    }
}

/// Loads the account from `secret`: `None` while the secret is missing or holds the placeholder.
pub async fn load(
    secrets: &Secrets,
    secret: &str,
    config: &AcmeConfig,
) -> Result<Option<Account>, AccountError> {
    let binding = binding(secrets, config).await?;
    let bound = binding.as_ref().map(|b| b.key_id.as_str());
    match holding(secret, secrets.get(secret).await?, (config, bound))? {
        Holding::Account(creds) => Ok(Some(acme::load_account(config, *creds).await?)),
        Holding::Nothing | Holding::Placeholder(_) => Ok(None),
    }
}

/// Loads the account from `secret`, creating and storing it if there is none.
pub async fn load_or_create(
    secrets: &Secrets,
    secret: &str,
    config: &AcmeConfig,
) -> Result<(Account, Origin), AccountError> {
    let binding = binding(secrets, config).await?;
    let bound = binding.as_ref().map(|b| b.key_id.as_str());
    let mut found = holding(secret, secrets.get(secret).await?, (config, bound))?;
    if let Holding::Account(creds) = found {
        return Ok((acme::load_account(config, *creds).await?, Origin::Loaded));
    }
    let (account, creds) = acme::create_account(config, binding.as_ref()).await?;
    let garbage = |why: String| AccountError::Garbage {
        secret: secret.to_owned(),
        why,
    };
    // The account key in its stored form, zeroed when dropped; with the binding's key id.
    let text = Zeroizing::new(stored_form(&creds, bound).map_err(garbage)?);
    // Twice at most: a name that exists without a value is created (AlreadyExists), then put.
    let mut exists = secret.starts_with("arn:");
    for _ in 0..2 {
        let stored = match found {
            // Another run stored its account first: use it, so every run shares one account.
            Holding::Account(creds) => {
                return Ok((acme::load_account(config, *creds).await?, Origin::Loaded))
            }
            Holding::Nothing if !exists => {
                exists = true;
                secrets
                    .create(secret, &text, "cert-rotator ACME account credentials")
                    .await?
            }
            Holding::Nothing => match secrets.put(secret, &text, &replacement_token(None)).await {
                Err(e) if e.code == "ResourceNotFoundException" => {
                    return Err(garbage(
                        "no such secret (an ARN must name an existing secret; give a name to have it created)".into(),
                    ))
                }
                other => other?,
            },
            Holding::Placeholder(version) => {
                secrets
                    .put(secret, &text, &replacement_token(version.as_deref()))
                    .await?
            }
        };
        if stored == Created::Created {
            return Ok((account, Origin::Created));
        }
        found = holding(secret, secrets.get(secret).await?, (config, bound))?;
    }
    if let Holding::Account(creds) = found {
        return Ok((acme::load_account(config, *creds).await?, Origin::Loaded));
    }
    Err(garbage(
        "it stays empty after storing the account — check the secret's resource policy".into(),
    ))
}

/// The configured External Account Binding, if any.
async fn binding(secrets: &Secrets, config: &AcmeConfig) -> Result<Option<Binding>, AccountError> {
    match &config.eab_secret {
        None => Ok(None),
        Some(name) => Ok(Some(Binding::read(secrets, name).await?)),
    }
}

/// The credentials as stored: instant-acme's form, plus the binding's key id.
fn stored_form(creds: &AccountCredentials, bound: Option<&str>) -> Result<String, String> {
    let mut value = serde_json::to_value(creds).map_err(|e| e.to_string())?;
    if let (Some(key_id), Some(fields)) = (bound, value.as_object_mut()) {
        fields.insert(EAB_KEY_ID.into(), key_id.into());
    }
    let text = serde_json::to_string(&value).map_err(|e| e.to_string());
    wipe(&mut value);
    text
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
        match credentials("s", text, (&config(), None)) {
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

    fn stored(text: &str) -> Option<Stored> {
        Some(Stored {
            text: Some(Zeroizing::new(text.into())),
            binary: None,
            version: Some("v1".into()),
        })
    }

    #[test]
    fn an_account_of_another_binding_is_refused_and_one_without_is_loaded_unbound() {
        let key = "MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgJVWC_QzOTCS5vtsJp2IG-UDc8cdDfeoKtxSZxaznM-mhRANCAAQenCPoGgPFTdPJ7VLLKt56RxPlYT1wNXnHc54PEyBg3LxKaH0-sJkX0mL8LyPEdsfL_Oz4TxHkWLJGrXVtNhfH";
        let bound = format!(
            r#"{{"directory": "https://ca.example/dir", "id": "x", "key_pkcs8": "{key}", "eab_key_id": "kid-1"}}"#
        );
        let unbound = format!(
            r#"{{"directory": "https://ca.example/dir", "id": "x", "key_pkcs8": "{key}"}}"#
        );
        let read = |text: &str, configured| credentials("s", text, (&config(), configured));
        assert!(read(&bound, Some("kid-1")).is_ok());
        assert!(
            read(&bound, None).is_ok(),
            "no binding configured: any account of the directory"
        );
        let e = read(&bound, Some("kid-2")).err().unwrap().to_string();
        assert!(
            e.contains("bound to key id kid-1")
                && e.contains("key id kid-2")
                && e.contains("separate secret per CA and binding"),
            "{e}"
        );
        let e = read(&unbound, Some("kid-2")).err().unwrap().to_string();
        assert!(
            e.contains("created without External Account Binding"),
            "{e}"
        );
        assert!(!e.contains(key), "{e}");
    }

    #[test]
    fn the_stored_form_carries_the_binding_key_id() {
        let key = "MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgJVWC_QzOTCS5vtsJp2IG-UDc8cdDfeoKtxSZxaznM-mhRANCAAQenCPoGgPFTdPJ7VLLKt56RxPlYT1wNXnHc54PEyBg3LxKaH0-sJkX0mL8LyPEdsfL_Oz4TxHkWLJGrXVtNhfH";
        let text = format!(
            r#"{{"directory": "https://ca.example/dir", "id": "x", "key_pkcs8": "{key}"}}"#
        );
        let creds = credentials("s", &text, (&config(), None)).unwrap();
        let stored = stored_form(&creds, Some("kid-1")).unwrap();
        assert!(credentials("s", &stored, (&config(), Some("kid-1"))).is_ok());
        let plain = stored_form(&creds, None).unwrap();
        assert!(!plain.contains("eab_key_id"));
    }

    #[test]
    fn the_placeholder_and_blank_values_mean_no_account_yet() {
        for text in ["{}", " { } ", "", "\n"] {
            assert!(
                matches!(holding("s", stored(text), (&config(), None)), Ok(Holding::Placeholder(Some(ref v))) if v == "v1"),
                "{text:?}"
            );
        }
        assert!(matches!(
            holding("s", None, (&config(), None)),
            Ok(Holding::Nothing)
        ));
        let binary = Some(Stored {
            text: None,
            binary: Some(Zeroizing::new(vec![1, 2])),
            version: None,
        });
        assert!(holding("s", binary, (&config(), None)).is_err());
        assert!(holding("s", stored("{\"a\": 1}"), (&config(), None)).is_err());
    }

    #[test]
    fn replacement_tokens_follow_the_placeholder_version_and_fit_secrets_manager() {
        let uuid = "6f1c2a3e-1b2c-4d5e-8f90-0123456789ab";
        let token = replacement_token(Some(uuid));
        assert_eq!(
            token,
            replacement_token(Some(uuid)),
            "the same for every run"
        );
        assert_ne!(
            token,
            replacement_token(Some("7f1c2a3e-1b2c-4d5e-8f90-0123456789ab"))
        );
        for version in [Some(uuid), None, Some("short"), Some(&*"x".repeat(100))] {
            let token = replacement_token(version);
            assert!((32..=64).contains(&token.len()), "{token}");
        }
    }
}
